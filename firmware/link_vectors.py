"""Known-answer vectors of the host link, generated from the Python reference
(:mod:`spikefab.firmware.link`) and shared by the RTL, Python and C tests.

``python -m spikefab.firmware.link_vectors`` rewrites ``firmware/vectors/link_vectors.json``;
a test checks that the committed file equals what this module generates.
"""

import json
import random
import sys
from pathlib import Path

from spikefab.rtl.link_protocol import CMD_ERROR, CRC, LinkError, OVERHEAD_BYTES

from .link import (
    Frame, FrameDecoder, build_frame, cobs_encode, crc16, encode_frame, reply_to,
)


__all__ = ["VECTORS_PATH", "VECTOR_MAX_PAYLOAD", "VECTOR_COMMANDS", "make_vectors",
           "load_vectors", "corrupt"]


VECTORS_PATH = Path(__file__).parent / "vectors" / "link_vectors.json"
#: The receiver parameters the stream vectors are judged with (small, so that oversize
#: frames stay short and the RTL buffer small).
VECTOR_MAX_PAYLOAD = 32
VECTOR_COMMANDS = tuple(range(0x01, 0x10))
SEED = 20261129


def corrupt(rng, wire, commands=VECTOR_COMMANDS, max_payload=VECTOR_MAX_PAYLOAD):
    """A random way of spoiling one encoded frame (``wire`` ends in its delimiter): flip a
    bit, drop or insert bytes, cut it short, or leave it alone. Returns the spoilt bytes."""
    body = bytearray(wire[:-1])
    kind = rng.randrange(6)
    if kind == 0 and body:                              # flip one bit (may make a 0x00)
        i = rng.randrange(len(body))
        body[i] ^= 1 << rng.randrange(8)
    elif kind == 1 and body:                            # drop a byte
        del body[rng.randrange(len(body))]
    elif kind == 2:                                     # insert a random byte
        body.insert(rng.randrange(len(body) + 1), rng.randrange(1, 256))
    elif kind == 3 and body:                            # cut short
        body = body[:rng.randrange(len(body))]
    elif kind == 4:                                     # noise of a few bytes
        body = bytearray(rng.randrange(256) for _ in range(rng.randrange(1, 12)))
    return bytes(body) + b"\x00"


def _stream(name, wire, max_payload=VECTOR_MAX_PAYLOAD, commands=VECTOR_COMMANDS):
    events = FrameDecoder(max_payload=max_payload, commands=commands).feed(wire)
    out = []
    for ev in events:
        if isinstance(ev, Frame):
            out.append({"kind": "frame", "seq": ev.seq, "cmd": ev.cmd,
                        "payload": ev.payload.hex()})
        else:
            out.append({"kind": "error", "code": int(ev.code), "seq": ev.seq, "cmd": ev.cmd})
    replies = b"".join(reply_to(ev) for ev in events)
    return {"name": name, "wire": bytes(wire).hex(), "events": out, "replies": replies.hex()}


def _raw_frame(seq, cmd, payload, *, length=None, crc_xor=0):
    """A frame with a chosen length field and a spoilt CRC, COBS-encoded with its delimiter."""
    length = len(payload) if length is None else length
    body = bytes([seq, cmd]) + length.to_bytes(2, "little") + bytes(payload)
    return cobs_encode(body + (crc16(body) ^ crc_xor).to_bytes(2, "big")) + b"\x00"


def _named_streams():
    good = encode_frame(0x11, 0x02, b"\x00\x01\x02hello\x00")
    big = bytes(range(1, VECTOR_MAX_PAYLOAD + 1))
    return [
        ("good", good),
        ("good empty payload", encode_frame(0x00, 0x01, b"")),
        ("good max payload", encode_frame(0x7E, 0x0F, big)),
        ("good zero payload", encode_frame(0x00, 0x03, bytes(VECTOR_MAX_PAYLOAD))),
        ("empty frames ignored", b"\x00\x00" + good + b"\x00"),
        ("bad crc", _raw_frame(5, 2, b"abc", crc_xor=0x0100)),
        ("bad length", _raw_frame(6, 2, b"abcd", length=3)),
        ("bad length beyond max", _raw_frame(6, 2, b"", length=0xFFFF)),
        ("cut short: 5 bytes", cobs_encode(build_frame(7, 2)[:5]) + b"\x00"),
        ("cut short: one byte", b"\x02\x09\x00"),
        ("cut short: code byte only", b"\x01\x00"),
        ("cut short: COBS block", good[:4] + b"\x00"),
        ("cut short: noise", b"\x40\x41\x42\x00"),
        ("oversize by one", encode_frame(8, 2, big + b"\x01")),
        ("oversize long", encode_frame(9, 3, bytes(200))),
        ("unknown command", encode_frame(10, 0x20, b"x")),
        ("error command from host", encode_frame(11, CMD_ERROR, b"\x01\x02")),
        ("noise then good", bytes([0x55, 0xAA, 0x13]) + b"\x00" + good),
        ("garbage without delimiter then good", bytes([0x03, 0x44]) + good),
        ("cut then good", good[:7] + good),
        ("two good", good + encode_frame(0x12, 0x03, b"")),
    ]


def make_vectors():
    """The vectors as a JSON-ready dict."""
    rng = random.Random(SEED)
    crc = [{"data": d.hex(), "crc": crc16(d)} for d in
           (b"123456789", b"", b"\x00", b"\xff" * 4, bytes(range(256)))]
    cobs_cases = [b"", b"\x00", b"\x00\x00", b"\x00\x11\x00", b"\x11\x22\x00\x33",
                  b"\x11\x22\x33\x44", b"\x11\x00\x00\x00", bytes(range(1, 255)),
                  bytes(range(0, 255)), bytes(range(1, 256)), bytes(range(2, 256)) + b"\x00",
                  bytes(range(3, 256)) + b"\x00\x01", b"\x01" * 253, b"\x01" * 508,
                  b"\x01" * 509, b"\x01" * 254 + b"\x00"]
    cobs_cases += [bytes(rng.choice([0, 0, rng.randrange(1, 256)]) for _ in range(n))
                   for n in (1, 7, 60, 300)]
    cobs = [{"data": d.hex(), "encoded": cobs_encode(d).hex()} for d in cobs_cases if d]
    frames = []
    for seq, cmd, payload in [(0, 1, b""), (0xFF, 0xFE, b"\x00"), (1, 2, b"123456789"),
                              (3, 4, bytes(300)), (5, 6, bytes(range(256)) * 2)]:
        frames.append({"seq": seq, "cmd": cmd, "payload": payload.hex(),
                       "frame": build_frame(seq, cmd, payload).hex(),
                       "wire": encode_frame(seq, cmd, payload).hex()})
    streams = [_stream(name, wire) for name, wire in _named_streams()]
    for i in range(40):
        wire = bytearray()
        for _ in range(rng.randrange(1, 5)):
            payload = bytes(rng.randrange(256) if rng.random() < 0.7 else 0
                            for _ in range(rng.randrange(VECTOR_MAX_PAYLOAD + 3)))
            cmd = rng.choice(VECTOR_COMMANDS + (0x00, 0x42))
            wire += corrupt(rng, encode_frame(rng.randrange(256), cmd, payload))
        streams.append(_stream(f"random {i}", bytes(wire)))
    return {
        "description": "Known-answer vectors of the spikefab host link (docs/host_link.md); "
                       "generated by python -m spikefab.firmware.link_vectors, do not edit",
        "crc_name": CRC.name,
        "crc_check": CRC.check,
        "overhead_bytes": OVERHEAD_BYTES,
        "max_payload": VECTOR_MAX_PAYLOAD,
        "commands": list(VECTOR_COMMANDS),
        "error_codes": {e.name: int(e) for e in LinkError},
        "crc": crc,
        "cobs": cobs,
        "frames": frames,
        "streams": streams,
    }


def dumps(vectors):
    return json.dumps(vectors, indent=1) + "\n"


def load_vectors(path=VECTORS_PATH):
    """The committed vectors."""
    return json.loads(Path(path).read_text())


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    path = Path(argv[0]) if argv else VECTORS_PATH
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(dumps(make_vectors()))
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
