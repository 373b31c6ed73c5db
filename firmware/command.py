"""The host link's command layer on the host side, sans-IO (docs/host_link.md §2).

Request frames carry a :class:`~spikefab.rtl.link_protocol.Command`: ``IDENTIFY`` (the design
answers with its version, configuration digest, word sizes and largest payload) or ``HOST``
(whole host command words, :mod:`spikefab.firmware.protocol`; answered by reply frames of host
reply words, the last one without ``MORE_BIT``). :class:`CommandModel` is the reference of
what the design does with a request: the RTL (``rtl/command_link.py``) is tested against it.
"""

from dataclasses import dataclass

from spikefab.rtl.command_link import design_digest
from spikefab.rtl.layouts import Region
from spikefab.rtl.host import Op, host_command_layout, host_reply_layout
from spikefab.rtl.link_protocol import (
    Command, IDENTIFY_BYTES, IDENTIFY_FIELDS, LINK_VERSION, LinkError,
    MAX_PAYLOAD_DEFAULT, MORE_BIT, REPLY_BIT, word_bytes,
)

from .protocol import HostCodec


__all__ = ["Identity", "parse_identify", "words_to_bytes", "bytes_to_words", "CommandModel",
           "LinkRefused", "LinkProtocolError", "HOST_REPLY", "HOST_REPLY_MORE",
           "IDENTIFY_REPLY"]


HOST_REPLY = Command.HOST | REPLY_BIT
HOST_REPLY_MORE = Command.HOST | REPLY_BIT | MORE_BIT
IDENTIFY_REPLY = Command.IDENTIFY | REPLY_BIT


class LinkRefused(RuntimeError):
    """The design answered a request with an error frame (``code``: a ``LinkError``)."""

    def __init__(self, code, cmd, seq):
        self.code, self.cmd, self.seq = code, cmd, seq
        try:
            name = LinkError(code).name
        except ValueError:
            name = f"code {code}"
        super().__init__(f"the design refused request seq {seq} (command {cmd:#04x}): {name}")


class LinkProtocolError(RuntimeError):
    """The design's answer is not what the protocol allows here (or no answer came)."""


@dataclass(frozen=True)
class Identity:
    """The ``IDENTIFY`` reply."""
    version: int
    digest: int
    cmd_bytes: int
    reply_bytes: int
    max_payload: int


def parse_identify(payload):
    """:class:`Identity` from an ``IDENTIFY`` reply payload."""
    if len(payload) != IDENTIFY_BYTES:
        raise LinkProtocolError(f"IDENTIFY reply of {len(payload)} bytes, expected "
                                f"{IDENTIFY_BYTES}")
    values, k = {}, 0
    for name, n in IDENTIFY_FIELDS:
        values[name] = int.from_bytes(payload[k:k + n], "little")
        k += n
    return Identity(**values)


def words_to_bytes(words, nbytes):
    """Words as ``nbytes`` little-endian bytes each."""
    return b"".join(int(w).to_bytes(nbytes, "little") for w in words)


def bytes_to_words(data, nbytes):
    if len(data) % nbytes:
        raise LinkProtocolError(f"a reply payload of {len(data)} bytes is not whole words of "
                                f"{nbytes} bytes")
    return [int.from_bytes(data[k:k + nbytes], "little") for k in range(0, len(data), nbytes)]


class CommandModel:
    """What the design's command layer does with a request frame that the frame layer passed
    (the reference of ``rtl/command_link.py``).

    Parameters
    ----------
    codec : HostCodec
        The design's formats.
    max_payload : int
    """

    def __init__(self, codec: HostCodec, *, max_payload=MAX_PAYLOAD_DEFAULT):
        self.codec, self.max_payload = codec, max_payload
        self.cmd_bits = host_command_layout(codec.mesh, codec.params).size
        self.reply_bits = host_reply_layout(codec.mesh, codec.params).size
        self.cmd_bytes = word_bytes(self.cmd_bits)
        self.reply_bytes = word_bytes(self.reply_bits)
        self.req_words = max_payload // self.cmd_bytes
        self.reply_words = max_payload // self.reply_bytes
        self.digest = design_digest(codec.mesh, codec.params, routing=codec.routing,
                                    max_payload=max_payload)
        self._fields = codec.command_fields()

    def identity(self):
        return Identity(LINK_VERSION, self.digest, self.cmd_bytes, self.reply_bytes,
                        self.max_payload)

    def identify_payload(self):
        i = self.identity()
        return b"".join(getattr(i, name).to_bytes(n, "little") for name, n in IDENTIFY_FIELDS)

    def check_word(self, word):
        """``(code, replies owed)``: the ``LinkError`` a command word is refused with (None if
        it is good) and the host replies it owes (``READ``, ``COUNTERS``: 1; ``STEP n``: n)."""
        if word >> self.cmd_bits:
            return LinkError.BAD_ARGUMENT, 0
        f = self._fields(word)
        mp, p = self.codec.mesh, self.codec.params
        core_ok = f["core.x"] < mp.width and f["core.y"] < mp.height
        op = f["op"]
        if op in (Op.WRITE, Op.READ):
            try:
                depth = self.codec.depths.get(Region(f["arg.cfg.addr.region"]), 0)
            except ValueError:
                depth = 0
            if not core_ok or f["arg.cfg.addr.index"] >= depth:
                return LinkError.ADDRESS_OUT_OF_RANGE, 0
            return None, int(op == Op.READ)
        if op == Op.EVENT:
            if not core_ok or f["arg.event.axon"] >= p.axons:
                return LinkError.ADDRESS_OUT_OF_RANGE, 0
            if f["arg.event.delay"] >= p.max_delay:
                return LinkError.BAD_ARGUMENT, 0
            return None, 0
        if op == Op.STEP:
            return None, f["arg.run.steps"]
        if op == Op.COUNTERS:
            return None, 1
        return LinkError.BAD_ARGUMENT, 0

    def judge(self, cmd, payload):
        """The ``LinkError`` a good frame's request is refused with, or None if it is
        carried out. (``cmd``: the frame's command byte, one the frame layer accepted.)"""
        if cmd == Command.IDENTIFY:
            return LinkError.BAD_LENGTH if payload else None
        if cmd != Command.HOST:
            return LinkError.UNKNOWN_COMMAND
        if not payload or len(payload) % self.cmd_bytes:
            return LinkError.BAD_LENGTH
        for w in bytes_to_words(payload, self.cmd_bytes):
            code, _ = self.check_word(w)
            if code is not None:
                return code
        return None

    def owed(self, payload):
        """Host replies the words of an accepted ``HOST`` payload owe."""
        return sum(self.check_word(w)[1] for w in bytes_to_words(payload, self.cmd_bytes))

    def reply_frames(self, replies):
        """``(cmd, payload)`` of the reply frames of an accepted ``HOST`` request whose host
        replies are ``replies`` (reply words): a frame closes when it holds ``reply_words``
        words and after each ``DONE`` record; the last frame is the final one (an empty final
        frame if there are no replies)."""
        frames, cur = [], []
        for w in replies:
            cur.append(w)
            if len(cur) == self.reply_words or self.codec.is_done(w):
                frames.append(cur)
                cur = []
        if cur or not frames:
            frames.append(cur)
        return [(HOST_REPLY if k == len(frames) - 1 else HOST_REPLY_MORE,
                 words_to_bytes(f, self.reply_bytes)) for k, f in enumerate(frames)]
