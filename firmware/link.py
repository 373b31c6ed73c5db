"""The host link's byte layer in plain Python: CRC, COBS, frame build and parse, and a
streaming receiver that resynchronises at every delimiter (docs/host_link.md, SPEC §3.8).

This is the reference the RTL (``rtl/frame_link.py``) and the C driver (``firmware/c/``) are
tested against, through the known-answer vectors of ``firmware/vectors/link_vectors.json``.
It needs only the standard library (no Amaranth: host boards may be small ARM machines); its
constants come from :mod:`spikefab.rtl.link_protocol`, which imports nothing either.

Receiving, a frame between two delimiters is judged in this order, the first failing rule
giving the error reply (an empty frame, two delimiters in a row, is ignored silently):

1. more than ``max_payload + 6`` bytes after COBS decoding: ``OVERSIZE``;
2. a COBS block cut by the delimiter, or fewer than 6 decoded bytes: ``CUT_SHORT``;
3. the CRC does not match: ``BAD_CRC``;
4. the length field differs from the number of payload bytes: ``BAD_LENGTH``;
5. the command byte is not one the receiver knows: ``UNKNOWN_COMMAND``.

An error reply is a frame with ``cmd = CMD_ERROR``, the offending frame's ``seq`` (0 if it had
no byte) and the payload ``[code, offending cmd]`` (cmd 0 if it had fewer than 2 bytes).
"""

from typing import NamedTuple

from spikefab.rtl.link_protocol import (
    CMD_ERROR, COBS_BLOCK_MAX, CRC, CRC_BYTES, DELIMITER, HEADER_BYTES, LinkError,
    MAX_PAYLOAD_DEFAULT, MAX_PAYLOAD_LIMIT, OVERHEAD_BYTES, default_commands,
)


__all__ = [
    "crc16", "cobs_encode", "cobs_decode", "CobsError", "build_frame", "parse_frame",
    "encode_frame", "error_frame", "Frame", "FrameError", "FrameDecoder", "reply_to",
    "LinkError", "CMD_ERROR",
]


def _crc_table():
    table = []
    for byte in range(256):
        reg = byte << 8
        for _ in range(8):
            reg = ((reg << 1) ^ CRC.polynomial) if reg & 0x8000 else (reg << 1)
        table.append(reg & 0xFFFF)
    return table


_CRC_TABLE = _crc_table()


def crc16(data, crc=CRC.init):
    """CRC-16/IBM-3740 of ``data`` (bytes-like), continuing from register value ``crc``."""
    for byte in bytes(data):
        crc = ((crc << 8) & 0xFFFF) ^ _CRC_TABLE[(crc >> 8) ^ byte]
    return crc ^ CRC.xorout


class CobsError(ValueError):
    """A COBS-encoded frame is malformed (a zero byte inside, or a block cut short)."""


def cobs_encode(data):
    """COBS encoding of ``data`` in canonical form, without the trailing delimiter."""
    out = bytearray()
    block = bytearray()
    data = bytes(data)
    for i, byte in enumerate(data):
        last = i == len(data) - 1
        if byte:
            block.append(byte)
            if len(block) == COBS_BLOCK_MAX:
                out += bytes([COBS_BLOCK_MAX + 1]) + block
                block.clear()
                if last:
                    return bytes(out)
        else:
            out += bytes([len(block) + 1]) + block
            block.clear()
    out += bytes([len(block) + 1]) + block
    return bytes(out)


def cobs_decode(raw):
    """Decode one COBS-encoded frame (no delimiter); raises :class:`CobsError` if malformed."""
    out = bytearray()
    raw = bytes(raw)
    i = 0
    while i < len(raw):
        code = raw[i]
        if code == 0:
            raise CobsError("zero byte inside a COBS frame")
        block = raw[i + 1:i + code]
        if len(block) < code - 1:
            raise CobsError("COBS block cut short")
        if 0 in block:
            raise CobsError("zero byte inside a COBS frame")
        out += block
        i += code
        if code != COBS_BLOCK_MAX + 1 and i < len(raw):
            out.append(0)
    return bytes(out)


def build_frame(seq, cmd, payload=b""):
    """The frame before COBS: seq, cmd, length (LE), payload, CRC (MSB first)."""
    payload = bytes(payload)
    if not 0 <= seq <= 0xFF or not 0 <= cmd <= 0xFF:
        raise ValueError(f"seq and cmd must be bytes, not {seq!r} and {cmd!r}")
    if len(payload) > MAX_PAYLOAD_LIMIT:
        raise ValueError(f"payload of {len(payload)} bytes is too long: "
                         f"at most {MAX_PAYLOAD_LIMIT}")
    body = bytes([seq, cmd]) + len(payload).to_bytes(2, "little") + payload
    return body + crc16(body).to_bytes(CRC_BYTES, "big")


def encode_frame(seq, cmd, payload=b""):
    """The bytes on the wire for one frame: COBS encoding, then the 0x00 delimiter."""
    return cobs_encode(build_frame(seq, cmd, payload)) + bytes([DELIMITER])


def error_frame(code, seq, cmd):
    """The wire bytes of the error reply ``code`` to a frame with ``seq`` and ``cmd``."""
    return encode_frame(seq, CMD_ERROR, bytes([int(code), cmd]))


class Frame(NamedTuple):
    """A frame received intact."""
    seq: int
    cmd: int
    payload: bytes


class FrameError(NamedTuple):
    """A malformed frame: the error code and the offending frame's seq and cmd (as received,
    0 where the frame was too short to have them)."""
    code: LinkError
    seq: int
    cmd: int


def _judge(decoded, oversize, cut, max_payload, commands):
    seq = decoded[0] if len(decoded) > 0 else 0
    cmd = decoded[1] if len(decoded) > 1 else 0
    if oversize:
        return FrameError(LinkError.OVERSIZE, seq, cmd)
    if cut or len(decoded) < OVERHEAD_BYTES:
        return FrameError(LinkError.CUT_SHORT, seq, cmd)
    if crc16(decoded) != CRC.residue:
        return FrameError(LinkError.BAD_CRC, seq, cmd)
    length = int.from_bytes(decoded[2:HEADER_BYTES], "little")
    if length != len(decoded) - OVERHEAD_BYTES:
        return FrameError(LinkError.BAD_LENGTH, seq, cmd)
    if cmd not in commands:
        return FrameError(LinkError.UNKNOWN_COMMAND, seq, cmd)
    return Frame(seq, cmd, bytes(decoded[HEADER_BYTES:-CRC_BYTES]))


def parse_frame(decoded, *, max_payload=MAX_PAYLOAD_DEFAULT, commands=None):
    """Judge one COBS-decoded frame: a :class:`Frame` or a :class:`FrameError`."""
    commands = default_commands() if commands is None else frozenset(commands)
    decoded = bytes(decoded)
    return _judge(decoded, len(decoded) > max_payload + OVERHEAD_BYTES, False, max_payload,
                  commands)


class FrameDecoder:
    """A streaming receiver: feed it bytes, get back the frames and errors they complete.

    It holds at most ``max_payload + 6`` decoded bytes and never waits for anything but the
    next delimiter: whatever came before, the bytes after a ``0x00`` start a new frame. Its
    behaviour is byte for byte that of the RTL ``FrameLink`` receiver.

    Parameters
    ----------
    max_payload : int
        Largest payload accepted (1..65535).
    commands : iterable of int, optional
        The command bytes accepted; by default every byte but ``CMD_ERROR``.
    """

    def __init__(self, *, max_payload=MAX_PAYLOAD_DEFAULT, commands=None):
        if isinstance(max_payload, bool) or not isinstance(max_payload, int) \
                or not 1 <= max_payload <= MAX_PAYLOAD_LIMIT:
            raise ValueError(f"max_payload must be an integer in 1..{MAX_PAYLOAD_LIMIT}, "
                             f"not {max_payload!r}")
        self.max_payload = max_payload
        self.commands = default_commands() if commands is None else frozenset(commands)
        self._reset()

    def _reset(self):
        self._buf = bytearray()
        self._raw = 0               # bytes seen since the last delimiter
        self._remaining = 0         # data bytes left in the current COBS block
        self._code = 0              # code byte of the current block (0: none yet)
        self._oversize = False

    def _put(self, byte):
        if len(self._buf) >= self.max_payload + OVERHEAD_BYTES:
            self._oversize = True
        elif not self._oversize:
            self._buf.append(byte)

    def feed_byte(self, byte):
        """Take one byte; return the :class:`Frame` or :class:`FrameError` it completes, or
        None."""
        if byte == DELIMITER:
            if self._raw == 0:
                return None
            event = _judge(bytes(self._buf), self._oversize, self._remaining != 0,
                           self.max_payload, self.commands)
            self._reset()
            return event
        self._raw += 1
        if self._remaining == 0:
            if self._code and self._code != COBS_BLOCK_MAX + 1:
                self._put(0)
            self._code = byte
            self._remaining = byte - 1
        else:
            self._put(byte)
            self._remaining -= 1
        return None

    def feed(self, data):
        """Take bytes; return the list of frames and errors they complete, in order."""
        events = []
        for byte in bytes(data):
            event = self.feed_byte(byte)
            if event is not None:
                events.append(event)
        return events


def reply_to(event):
    """The wire bytes the link layer sends back by itself for ``event``: the error reply to a
    :class:`FrameError`, nothing for a good :class:`Frame` (the layer above answers it)."""
    if isinstance(event, FrameError):
        return error_frame(event.code, event.seq, event.cmd)
    return b""
