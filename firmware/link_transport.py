"""The host API over the serial link: host words in frames, over any byte channel.

:class:`LinkTransport` is a :class:`~spikefab.firmware.transport.Transport`, so
``Host(LinkTransport(channel, codec), codec)`` offers the whole host API (load, read, write,
inject, step, counters, ...) on a board (:mod:`.serial_transport`) or on the simulated board
top-level (``spikefab.sim.benches.uart``). Needs the standard library and numpy only (through
:mod:`.protocol`).

Protocol (docs/host_link.md §2): request/response. Each ``send`` cuts the command words into
``HOST`` frames of at most ``max_payload // cmd_bytes`` words; after each frame it reads the
reply frames up to the final one and queues their reply words, which ``recv`` hands out.
"""

import abc

from spikefab.rtl.link_protocol import CMD_ERROR, Command, MAX_PAYLOAD_DEFAULT

from .command import (HOST_REPLY, HOST_REPLY_MORE, IDENTIFY_REPLY, CommandModel, Identity,
                      LinkProtocolError, LinkRefused, bytes_to_words, parse_identify,
                      words_to_bytes)
from .link import Frame, FrameDecoder, encode_frame
from .protocol import HostCodec
from .transport import Transport


__all__ = ["ByteChannel", "LinkTransport", "LinkRefused", "LinkProtocolError"]


class ByteChannel(abc.ABC):
    """Bytes to and from the board."""

    @abc.abstractmethod
    async def write(self, data: bytes) -> None:
        """Send ``data``."""

    @abc.abstractmethod
    async def read(self) -> bytes:
        """At least one byte received (waits); raises :class:`LinkProtocolError` when nothing
        comes within the channel's timeout."""


class LinkTransport(Transport):
    """Host words over the link's frames.

    Parameters
    ----------
    channel : ByteChannel
    codec : HostCodec
        The design's formats (``HostCodec.for_image(image)``).
    max_payload : int
        The design's largest frame payload (``SerialTop(max_payload=...)``, default 256).

    :attr:`stats` counts requests, bytes written and read, and reply frames.
    """

    def __init__(self, channel: ByteChannel, codec: HostCodec, *,
                 max_payload=MAX_PAYLOAD_DEFAULT):
        self.channel, self.codec = channel, codec
        self.model = CommandModel(codec, max_payload=max_payload)
        self.max_payload = max_payload
        self._decoder = FrameDecoder(max_payload=max(max_payload, 64),
                                     commands=range(256))
        self._events, self._queue = [], []
        self._seq = 0
        self._flushed = False
        self.stats = {"requests": 0, "written": 0, "read": 0, "reply_frames": 0}

    # --- requests ----------------------------------------------------------------------------

    async def _event(self):
        while not self._events:
            data = await self.channel.read()
            self.stats["read"] += len(data)
            self._events += self._decoder.feed(data)
        return self._events.pop(0)

    async def request(self, cmd, payload=b""):
        """Send one request frame; return the payloads of its reply frames, in order. An error
        frame raises :class:`LinkRefused`; anything else unexpected, :class:`LinkProtocolError`."""
        self._seq = (self._seq + 1) & 0xFF
        seq = self._seq
        wire = encode_frame(seq, cmd, payload)
        if not self._flushed:                   # end whatever partial frame the board holds
            wire, self._flushed = b"\x00" + wire, True
        await self.channel.write(wire)
        self.stats["requests"] += 1
        self.stats["written"] += len(wire)
        final = {Command.IDENTIFY: IDENTIFY_REPLY, Command.HOST: HOST_REPLY}[cmd]
        payloads = []
        while True:
            ev = await self._event()
            if not isinstance(ev, Frame):
                raise LinkProtocolError(f"a malformed reply frame ({ev.code.name}) to request "
                                        f"seq {seq}")
            if ev.cmd == CMD_ERROR and len(ev.payload) == 2:
                raise LinkRefused(ev.payload[0], ev.payload[1], ev.seq)
            if ev.seq != seq or ev.cmd not in (final, HOST_REPLY_MORE):
                raise LinkProtocolError(f"unexpected reply frame seq {ev.seq} command "
                                        f"{ev.cmd:#04x} to request seq {seq}")
            self.stats["reply_frames"] += 1
            payloads.append(ev.payload)
            if ev.cmd == final:
                return payloads

    async def identify(self) -> Identity:
        """The design's :class:`~.command.Identity` (``IDENTIFY``)."""
        (payload,) = await self.request(Command.IDENTIFY)
        return parse_identify(payload)

    async def open(self):
        """``IDENTIFY`` the design and check that it is the one ``codec`` describes (same
        digest, word sizes and largest payload); return its identity."""
        got = await self.identify()
        want = self.model.identity()
        if got != want:
            raise LinkProtocolError(
                f"the design on the link is not the one expected: it reports {got}, the "
                f"image's parameters give {want} (generated from another configuration?)")
        return got

    # --- Transport -----------------------------------------------------------------------------

    async def send(self, words):
        words = [int(w) for w in words]
        per = self.model.req_words
        for k in range(0, len(words), per):
            payloads = await self.request(
                Command.HOST, words_to_bytes(words[k:k + per], self.model.cmd_bytes))
            for p in payloads:
                self._queue += bytes_to_words(p, self.model.reply_bytes)

    async def recv(self):
        if not self._queue:
            raise LinkProtocolError("no reply is pending: every request's replies have been "
                                    "taken")
        return self._queue.pop(0)
