"""The byte-level host link protocol, defined once (SPEC §3.8; docs/host_link.md).

Plain Python with no Amaranth import: the RTL (:mod:`.frame_link`), the Python driver
(``firmware/link.py``), the generated C header (``firmware/c/spikefab_link_protocol.h``) and
the known-answer vectors all read their numbers from here.

A frame, before byte stuffing, is::

    seq (1) | cmd (1) | length (2, little-endian) | payload (length bytes) | crc (2, big-endian)

The CRC is CRC-16/IBM-3740 (also called CRC-16/CCITT-FALSE, AUTOSAR): polynomial 0x1021,
initial value 0xFFFF, no input or output reflection, no final XOR, check value 0x29B1 over the
ASCII bytes ``123456789``. It covers seq, cmd, length and payload. Sent most significant byte
first, a correct frame leaves the CRC register at the residue 0x0000.

The frame is then COBS-encoded (Cheshire and Baker, canonical form: a final block of 254
non-zero bytes is not followed by an extra ``0x01`` code) and followed by one ``0x00``
delimiter, which never occurs inside an encoded frame.
"""

import enum


__all__ = [
    "DELIMITER", "SEQ_BYTES", "CMD_BYTES", "LENGTH_BYTES", "HEADER_BYTES", "CRC_BYTES",
    "OVERHEAD_BYTES", "COBS_BLOCK_MAX", "MAX_PAYLOAD_DEFAULT", "MAX_PAYLOAD_LIMIT",
    "CMD_ERROR", "ERROR_PAYLOAD_BYTES", "LinkError", "CRC", "CRC_NAME", "default_commands",
    "Command", "REPLY_BIT", "MORE_BIT", "LINK_VERSION", "IDENTIFY_FIELDS", "IDENTIFY_BYTES",
    "word_bytes", "command_bytes",
]


#: Frame delimiter on the wire; never occurs inside a COBS-encoded frame.
DELIMITER = 0x00
#: Field sizes of the frame header, in bytes (seq, cmd, length).
SEQ_BYTES = 1
CMD_BYTES = 1
LENGTH_BYTES = 2
HEADER_BYTES = SEQ_BYTES + CMD_BYTES + LENGTH_BYTES
#: Size of the CRC trailer, in bytes.
CRC_BYTES = 2
#: Bytes of a frame besides its payload (header and CRC), before COBS.
OVERHEAD_BYTES = HEADER_BYTES + CRC_BYTES
#: Longest run of data bytes in one COBS block (the code byte 0xFF).
COBS_BLOCK_MAX = 254
#: Default largest payload of a frame, in bytes (a parameter of every receiver).
MAX_PAYLOAD_DEFAULT = 256
#: Largest value the ``max_payload`` parameter may take (the length field is 16 bits).
MAX_PAYLOAD_LIMIT = (1 << (8 * LENGTH_BYTES)) - 1

#: Command byte of an error reply; never a valid command of a request.
CMD_ERROR = 0xFF
#: Payload of an error reply: the error code, then the command byte of the offending frame.
ERROR_PAYLOAD_BYTES = 2


class LinkError(enum.IntEnum):
    """Error codes of an error reply (the first payload byte of a ``CMD_ERROR`` frame).

    The link layer answers the first five itself; ``ADDRESS_OUT_OF_RANGE`` and ``BAD_ARGUMENT``
    are reserved for the command layer above it, which uses the same reply format.
    """
    BAD_CRC = 0x01               # the CRC does not match
    BAD_LENGTH = 0x02            # the length field differs from the payload received
    CUT_SHORT = 0x03             # shorter than header + CRC, or a COBS block cut by a delimiter
    OVERSIZE = 0x04              # longer than header + max_payload + CRC
    UNKNOWN_COMMAND = 0x05       # a command byte the receiver does not know
    ADDRESS_OUT_OF_RANGE = 0x06  # reserved for the command layer
    BAD_ARGUMENT = 0x07          # reserved for the command layer


class _Crc:
    """The parameters of the frame CRC, named as in the CRC catalogue of Greg Cook
    (reveng.sourceforge.io/crc-catalogue)."""
    name = "CRC-16/IBM-3740"
    aliases = ("CRC-16/CCITT-FALSE", "CRC-16/AUTOSAR")
    width = 16
    polynomial = 0x1021
    init = 0xFFFF
    reflect_input = False
    reflect_output = False
    xorout = 0x0000
    check = 0x29B1          # CRC of b"123456789"
    residue = 0x0000        # register value after a frame with its CRC appended


#: The frame CRC's parameters.
CRC = _Crc
CRC_NAME = CRC.name


def default_commands():
    """The command bytes a receiver accepts when given none: every byte but ``CMD_ERROR``."""
    return frozenset(range(256)) - {CMD_ERROR}


# --- the command layer (docs/host_link.md §2) -------------------------------------------------

class Command(enum.IntEnum):
    """Command bytes of request frames (the command layer, :mod:`.command_link`).

    ``IDENTIFY``: empty payload; answered by one ``IDENTIFY | REPLY_BIT`` frame whose payload
    is :data:`IDENTIFY_FIELDS`. ``HOST``: the payload is whole host command words
    (:func:`spikefab.rtl.host.host_command_layout`, each :func:`word_bytes` bytes,
    little-endian), checked all together before any is carried out; answered by zero or more
    ``HOST | REPLY_BIT | MORE_BIT`` frames and one final ``HOST | REPLY_BIT`` frame, whose
    payloads are the host reply words the commands gave, in order.
    """
    IDENTIFY = 0x01
    HOST = 0x02


#: Set in the command byte of every reply frame of the command layer (not of error replies).
REPLY_BIT = 0x80
#: Set in the command byte of a reply frame that more reply frames of the same request follow.
MORE_BIT = 0x40
#: Version of the command layer, the first byte of an ``IDENTIFY`` reply.
LINK_VERSION = 1
#: Fields of the ``IDENTIFY`` reply payload, in order: (name, bytes), little-endian.
#: ``digest``: CRC-32 (ISO-HDLC, as zlib's) of the design's canonical description
#: (:func:`spikefab.rtl.command_link.design_description`), computed at generation time.
IDENTIFY_FIELDS = (("version", 1), ("digest", 4), ("cmd_bytes", 1), ("reply_bytes", 1),
                   ("max_payload", 2))
IDENTIFY_BYTES = sum(n for _, n in IDENTIFY_FIELDS)


def word_bytes(bits):
    """Bytes one host word of ``bits`` bits takes in a frame (little-endian, zero-padded)."""
    return (bits + 7) // 8


def command_bytes():
    """The request command bytes the command layer accepts (``FrameLink(commands=...)``)."""
    return frozenset(int(c) for c in Command)
