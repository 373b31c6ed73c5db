"""Run the board top-level (:class:`~spikefab.rtl.serial_top.SerialTop`) under Verilator or
Icarus, driven through its UART pins by the Python host driver (bench:
:mod:`spikefab.sim.benches.serial_bench`)."""

import json
import shutil
from dataclasses import dataclass, field

import numpy as np

from ..rtl.netimage import NetworkImage
from .inputs import encode_inputs
from .runner import blank_image, build_verilog, new_run_dir, run_cocotb, sim_models
from .trace import Trace


__all__ = ["SERIAL_TOPLEVEL", "SIM_BAUD", "serial_verilog", "build_serial", "SerialRun",
           "run_serial"]


SERIAL_TOPLEVEL = "spikefab_serial"
#: Nominal line rate of the simulated board (the clock is ``clocks_per_bit`` times it).
SIM_BAUD = 1_000_000


def serial_verilog(image, clocks_per_bit, max_payload=256):
    from ..rtl.netnames import verilog_text
    from ..rtl.serial_top import SerialTop
    top = SerialTop(image, clk_hz=clocks_per_bit * SIM_BAUD, baud=SIM_BAUD,
                    max_payload=max_payload)
    return verilog_text(top, SERIAL_TOPLEVEL)


def build_serial(image, simulator, clocks_per_bit, *, max_payload=256, root="build/sim"):
    """Emit and compile :class:`SerialTop` of ``image`` (cached per design)."""
    models, defines = sim_models(image.params)
    return build_verilog(serial_verilog(image, clocks_per_bit, max_payload), simulator,
                         toplevel=SERIAL_TOPLEVEL, models=models, defines=defines, root=root)


@dataclass
class SerialRun:
    """What :func:`run_serial` gives: the trace (None without steps) and the bench's
    ``results.json`` (link statistics, clocks, fuzz replies, memories after the fuzzing)."""
    trace: Trace = None
    results: dict = field(default_factory=dict)


def run_serial(image, inputs, steps, simulator, *, clocks_per_bit=8, baked=False,
               state=True, fuzz=None, measure=None, max_payload=256, root="build/sim"):
    """Run ``image`` on the simulated board top-level through the serial link.

    ``baked``: the image is built into the Verilog and not loaded; otherwise one build of a
    blank image of the parameters serves and the driver loads the image over the link.
    ``fuzz``: ``(segments, frames)``, byte strings sent after the load and the number of reply
    frames each must give (their replies come back in ``results["fuzz_replies"]``).
    ``measure``: ``{"steps": n, "bulk_repeats": k}``, link throughput figures in
    ``results["measure"]`` (see the bench)."""
    built = image if baked else blank_image(image)
    bdir = build_serial(built, simulator, clocks_per_bit, max_payload=max_payload, root=root)
    run_dir = new_run_dir(bdir)
    inputs = [] if inputs is None else inputs
    image.save(run_dir / "image.npz")
    if isinstance(image, NetworkImage):
        from .network import encode_network_inputs as encode
    else:
        encode = encode_inputs
    np.savez(run_dir / "inputs.npz", **encode(inputs, max(steps, len(inputs))))
    job = {"image": "image.npz", "inputs": "inputs.npz", "steps": steps,
           "clocks_per_bit": clocks_per_bit, "load": not baked, "state": state,
           "max_payload": max_payload}
    if measure is not None:
        job["measure"] = measure
    if fuzz is not None:
        job["fuzz"] = {"segments": [bytes(s).hex() for s in fuzz[0]],
                       "frames": [int(n) for n in fuzz[1]]}
    (run_dir / "job.json").write_text(json.dumps(job))
    run_cocotb(bdir, simulator, toplevel=SERIAL_TOPLEVEL,
               bench_module="spikefab.sim.benches.serial_bench", run_dir=run_dir,
               extra_env={"SPIKEFAB_JOBS": str(run_dir)})
    out = SerialRun(results=json.loads((run_dir / "results.json").read_text()))
    if steps:
        out.trace = Trace.load(run_dir / "trace.npz")
    shutil.rmtree(run_dir, ignore_errors=True)
    return out
