"""The generated Verilog of ``FrameLink`` under Verilator and Icarus (cocotb bench
``link_cocotb_bench.py``), on every stream of the shared vector file at once, with random
gaps and back-pressure: the frames handed up and the bytes answered are the reference's."""

import json
import pytest
from amaranth.back import verilog

from spikefab.firmware import link_vectors
from spikefab.rtl.frame_link import FrameLink, frame_layout
from spikefab.sim.runner import build_verilog, new_run_dir, run_cocotb

from link_rtl_helpers import frames_from_transfers
from rtl_helpers import SIMULATORS, seed_for


TOPLEVEL = "spikefab_frame_link"


def _unpack(word):
    """A raw ``rx_frame`` payload word as a dict of the fields of ``frame_layout``."""
    return {name: (word >> field.offset) & ((1 << field.width) - 1)
            for name, field in frame_layout}


@pytest.mark.parametrize("simulator", SIMULATORS)
def test_frame_link_cocotb_vectors(simulator, tmp_path):
    v = link_vectors.load_vectors()
    wire, frames, replies = bytearray(), [], bytearray()
    for case in v["streams"]:
        wire += b"\x00" + bytes.fromhex(case["wire"])
        frames += [(e["seq"], e["cmd"], bytes.fromhex(e["payload"]))
                   for e in case["events"] if e["kind"] == "frame"]
        replies += bytes.fromhex(case["replies"])
    text = verilog.convert(FrameLink(max_payload=v["max_payload"], commands=v["commands"]),
                           name=TOPLEVEL, emit_src=False)
    bdir = build_verilog(text, simulator, toplevel=TOPLEVEL)
    run_dir = new_run_dir(bdir)
    job = {"wire": bytes(wire).hex(), "gap": 0.2, "backpressure": 0.3,
           "seed": seed_for("link cocotb", 3), "drain": 400}
    (run_dir / "job.json").write_text(json.dumps(job))
    run_cocotb(bdir, simulator, toplevel=TOPLEVEL, bench_module="link_cocotb_bench",
               run_dir=run_dir, extra_env={"LINK_RUN_DIR": str(run_dir)})
    res = json.loads((run_dir / "results.json").read_text())
    got = frames_from_transfers([_unpack(w) for w in res["frames"]])
    assert [tuple(f) for f in got] == frames
    assert res["sent"] == bytes(replies).hex()
