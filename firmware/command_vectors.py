"""Known-answer vectors of the host link's command layer, shared by the RTL, the Python driver
and the C driver: ``python -m spikefab.firmware.command_vectors`` rewrites
``firmware/vectors/command_vectors.json``; a test checks the committed file is up to date.

One design (a blank bare core, :data:`VECTOR_PARAMS`, ``max_payload`` 64) and a session of
exchanges from reset: each request's wire bytes, the reply wire bytes the design sends, the
result (0, or the error code of an error reply) and the reply words."""

import json
import sys
from pathlib import Path

from spikefab.rtl import layouts
from spikefab.rtl.host import Kind, core_mesh, host_reply_layout
from spikefab.rtl.layouts import Region
from spikefab.rtl.link_protocol import Command, LinkError
from spikefab.rtl.params import CoreParams

from .command import CommandModel, words_to_bytes
from .link import encode_frame, error_frame
from .protocol import HostCodec


__all__ = ["COMMAND_VECTORS_PATH", "VECTOR_PARAMS", "VECTOR_MAX_PAYLOAD", "make_vectors",
           "load_vectors"]


COMMAND_VECTORS_PATH = Path(__file__).parent / "vectors" / "command_vectors.json"
VECTOR_PARAMS = CoreParams(neurons=8, axons=8, lanes=2, trace_port=False)
VECTOR_MAX_PAYLOAD = 64


def make_vectors():
    p = VECTOR_PARAMS
    codec = HostCodec(core_mesh(p), p, routing=False)
    model = CommandModel(codec, max_payload=VECTOR_MAX_PAYLOAD)
    rl = host_reply_layout(core_mesh(p), p)

    def reply(kind, **body):
        return int(layouts.pack(rl, {"kind": kind, **body})[0])

    data = [1, 2, 3, 0x55]
    bad = codec.reads(0, Region.SYN, [0])[0] | (int(Region.ROUTE) << next(
        off for k, off, _, _ in layouts.leaf_specs(codec.cmd_layout)
        if k == "arg.cfg.addr.region"))
    session = [
        ("identify", Command.IDENTIFY, [], None, []),
        ("write 4 synapse words", Command.HOST, codec.writes(0, Region.SYN, data), None, []),
        ("read them back (two reply frames)", Command.HOST,
         codec.reads(0, Region.SYN, range(4)), None,
         [reply(Kind.DATA, **{"body.data": d}) for d in data]),
        ("counters at reset", Command.HOST, [codec.counters()], None,
         [reply(Kind.COUNTERS)]),
        ("a read of an absent region", Command.HOST, codec.reads(0, Region.SYN, [1]) + [bad],
         LinkError.ADDRESS_OUT_OF_RANGE, []),
    ]
    exchanges = []
    for seq, (name, cmd, words, error, replies) in enumerate(session, 1):
        payload = words_to_bytes(words, model.cmd_bytes)
        wire = encode_frame(seq, cmd, payload)
        if seq == 1:
            wire = b"\x00" + wire
        if error is not None:
            rwire = error_frame(error, seq, cmd)
        elif cmd == Command.IDENTIFY:
            rwire = encode_frame(seq, cmd | 0x80, model.identify_payload())
        else:
            rwire = b"".join(encode_frame(seq, c, pl) for c, pl in model.reply_frames(replies))
        exchanges.append({"name": name, "cmd": int(cmd), "words": [hex(w) for w in words],
                          "request_wire": wire.hex(), "reply_wire": rwire.hex(),
                          "result": int(error or 0), "replies": [hex(w) for w in replies]})
    return {
        "params": p.to_dict() if hasattr(p, "to_dict") else p.__dict__,
        "max_payload": VECTOR_MAX_PAYLOAD,
        "identity": model.identity().__dict__,
        "cmd_bytes": model.cmd_bytes, "reply_bytes": model.reply_bytes,
        "exchanges": exchanges,
    }


def load_vectors(path=COMMAND_VECTORS_PATH):
    return json.loads(Path(path).read_text())


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    path = Path(argv[0]) if argv else COMMAND_VECTORS_PATH
    path.write_text(json.dumps(make_vectors(), indent=1) + "\n")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
