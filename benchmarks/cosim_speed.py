"""Co-simulation speed: a crossbar core with its crossbar model in the cocotb bench, against
the digital core, side by side in one run on Verilator.

The same image (weights, neuron parameters) and the same input spikes run on three designs
of the same size: the digital core; the crossbar core with the ``ideal`` crossbar (the
model's fast path: GᵀV, no noise); the crossbar core with ``rram_neurosim`` (1 Ω wires solved
by the sparse nodal solver, read noise, D2D variation; with STDP, the non-linear update law
and a re-factorisation per step that changes weights). Builds are made first and not timed;
each run's wall time covers loading the image over the host interface and the steps.
Reported: steps/s and clocks/s of the simulated design (clocks from each step's first command
to its ``DONE``) per second of CPU time of the simulator process (user + sys, from
``getrusage``; on the shared, loaded machine wall time varies with the load, CPU time much
less; the wall time is recorded too), and the crossbar model's own share, timed by replaying
the steps through the golden adapter.

Usage: python benchmarks/cosim_speed.py   (writes benchmarks/results/cosim_speed.{json,md})
"""

import json
import resource
import sys
import time
from pathlib import Path

import numpy as np

from spikefab.rtl.image import CoreImage
from spikefab.rtl.params import CoreParams
from spikefab.sim.benches.crossbar_port import crossbar_for
from spikefab.sim.golden import CoreModel
from spikefab.sim.runner import Stimulus, build_blank, run_bench

import _provenance  # noqa: E402  (benchmarks/ is on sys.path)

ROOT = Path(__file__).resolve().parent
STEPS = 100
SIZE = dict(neurons=32, axons=32, lanes=4, weight_bits=4, acc_bits=16)


def _commit():
    return _provenance.git()["commit"]


def _image(p, rng):
    img = CoreImage.random(p, rng, density=0.5)
    par = {k: v.copy() for k, v in img.neuron_params.items()}
    par["vth"][:] = rng.integers(20, 200, p.param_rows)
    img = img.replace(neuron_params=par)
    if p.learning:
        lo, hi = p.weight_range
        img = img.replace(stdp={"learn_en": 1, "w_min": lo, "w_max": hi, "a_plus": 64,
                                "a_minus": 64, "s_plus": 4, "s_minus": 4},
                          plastic=np.ones(p.axons, np.int64))
    return img


def _run(img, inputs, spec):
    build_blank(img, "verilator")                    # not timed
    stim = Stimulus(readback=False, crossbar=spec)
    c0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    (tr,) = run_bench([(img, inputs, STEPS, stim)], "verilator")
    wall = time.perf_counter() - t0
    c1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (c1.ru_utime - c0.ru_utime) + (c1.ru_stime - c0.ru_stime)
    clocks = int(sum(tr.meta["cycles"]))
    return {"wall_seconds": wall, "seconds": cpu, "steps_per_s": STEPS / cpu,
            "clocks": clocks, "clocks_per_s": clocks / cpu, "clocks_per_step": clocks / STEPS,
            "spikes": int(tr.spikes.sum())}


def _model_share(img, inputs, spec):
    """Seconds the golden model with this crossbar takes for the run (the crossbar's cost
    with the neurons' in software, an upper bound of the bench's model time)."""
    t0 = time.process_time()
    CoreModel(img, synapses=crossbar_for(img, spec)).run(inputs, STEPS)
    return time.process_time() - t0


def main():
    rng = np.random.default_rng(2026)
    rows = []
    for learning in (False, True):
        dig = CoreParams(**SIZE, learning=learning)
        xb = CoreParams(**SIZE, learning=learning, synapses="crossbar")
        img = _image(xb, rng)
        inputs = [rng.integers(0, xb.axons, rng.poisson(6)).tolist() for _ in range(STEPS)]
        dimg = img.replace(params=dig)
        for name, image, spec in (("digital", dimg, None),
                                  ("crossbar, ideal", img, {"device": "ideal"}),
                                  ("crossbar, rram_neurosim", img,
                                   {"device": "rram_neurosim", "seed": 1})):
            r = _run(image, inputs, spec)
            r.update(design=name, learning=learning,
                     model_seconds=None if spec is None else _model_share(img, inputs, spec))
            rows.append(r)
            print(r, flush=True)
    machine = _provenance.machine_line()
    commit = _commit()
    command = "python benchmarks/cosim_speed.py"
    result = {"command": command, "commit": commit, "machine": machine, "steps": STEPS,
              "size": SIZE, "rows": rows}
    out = ROOT / "results"
    out.mkdir(exist_ok=True)
    (out / "cosim_speed.json").write_text(json.dumps(result, indent=2) + "\n")
    md = ["# Co-simulation speed: crossbar core + crossbar model vs digital core (Verilator)",
          "", f"Command: `{command}` at commit {commit} on {machine}.", "",
          f"{SIZE['neurons']} neurons x {SIZE['axons']} axons, lanes {SIZE['lanes']}, "
          f"{STEPS} steps of about 6 input events, the same image and inputs on every row; "
          "builds excluded.", "",
          "| design | STDP | CPU s (wall s) | steps/s | clocks/step | clocks/s | CPU vs digital | "
          "crossbar model alone, CPU s |", "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        base = next(b for b in rows if b["learning"] == r["learning"]
                    and b["design"] == "digital")
        ms = "—" if r["model_seconds"] is None else f"{r['model_seconds']:.2f}"
        md.append(f"| {r['design']} | {'on' if r['learning'] else 'off'} | {r['seconds']:.1f} "
                  f"({r['wall_seconds']:.0f}) | "
                  f"{r['steps_per_s']:.1f} | {r['clocks_per_step']:.0f} | "
                  f"{r['clocks_per_s']:.0f} | {r['seconds'] / base['seconds']:.2f}x | "
                  f"{ms} |")
    (out / "cosim_speed.md").write_text("\n".join(md) + "\n")
    print("\n".join(md))


if __name__ == "__main__":
    sys.exit(main())
