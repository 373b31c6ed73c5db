"""Clocks per step against input activity, synaptic throughput, and simulator speed.

Measures on the generated Verilog (Verilator), with no idle gaps and no back-pressure:
* clocks per step for k input events per step, k swept; a least-squares fit
  ``clocks = a*k + b`` is compared with the event-driven cost model of SPEC §3.6
  (a = N/lanes clocks per event, b = N clocks of neuron update plus a fixed latency);
* synaptic events per clock while integrating (N/a) against the synapse memory's bandwidth
  limit (``lanes`` weights per read);
* the same job on Verilator and on Icarus, and in the golden model, timed side by side.

Usage: python benchmarks/core_cycles.py   (writes benchmarks/results/core_cycles.{json,md}
and docs/img/cycles_vs_events.png)
"""

import json
import sys
import time
from pathlib import Path

import numpy as np
from tqdm import tqdm

import _provenance  # noqa: E402  (benchmarks/ is on sys.path)

from spikefab.rtl.image import CoreImage
from spikefab.rtl.neuron import DATAPATHS
from spikefab.rtl.params import CoreParams
from spikefab.sim.golden import CoreModel
from spikefab.sim.runner import Stimulus, build_blank, run_bench

ROOT = Path(__file__).resolve().parent
SWEEP = [0, 1, 2, 4, 8, 16, 32]
STEPS_PER_POINT = 4


def sweep(params, rng):
    img = CoreImage.random(params, rng)
    inputs = []
    for k in SWEEP:
        inputs += [rng.integers(0, params.axons, k).tolist() for _ in range(STEPS_PER_POINT)]
    (trace,) = run_bench([(img, inputs, len(inputs), Stimulus(readback=False))], "verilator")
    cycles = np.asarray(trace.meta["cycles"], dtype=float)
    events = np.array([len(e) for e in inputs], dtype=float)
    a, b = np.polyfit(events, cycles, 1)
    resid = cycles - (a * events + b)
    return events, cycles, float(a), float(b), float(np.abs(resid).max())


def sim_speed(params, rng, steps):
    img = CoreImage.random(params, rng)
    inputs = [rng.integers(0, params.axons, rng.poisson(4)).tolist() for _ in range(steps)]
    out = {}
    for sim in ("verilator", "icarus"):
        build_blank(CoreImage(params), sim)                     # builds are not timed
        t0 = time.perf_counter()
        (tr,) = run_bench([(img, inputs, steps, Stimulus(readback=False))], sim)
        out[sim] = {"seconds": time.perf_counter() - t0, "clocks": int(sum(tr.meta["cycles"]))}
    t0 = time.perf_counter()
    reps = 20
    for _ in range(reps):
        CoreModel(img).run(inputs, steps)
    out["golden"] = {"seconds": (time.perf_counter() - t0) / reps}
    return out


def main():
    rng = np.random.default_rng(2026)
    designs = [
        CoreParams(neurons=64, axons=64, weight_bits=4, lanes=4),
        CoreParams(neurons=256, axons=256, weight_bits=4, lanes=4),
        CoreParams(neurons=256, axons=256, weight_bits=4, lanes=8),
        CoreParams(neurons=256, axons=64, weight_bits=4, lanes=16, model="shift"),
    ]
    rows = []
    curves = []
    for p in tqdm(designs, desc="cycle sweeps"):
        events, cycles, a, b, resid = sweep(p, rng)
        lat = DATAPATHS[p.model].LATENCY
        rows.append({
            "design": f"{p.model} N={p.neurons} A={p.axons} w{p.weight_bits} lanes={p.lanes}",
            "clocks_per_event": a, "model_clocks_per_event": p.words_per_row,
            "fixed_clocks": b, "model_fixed_clocks": p.neurons + lat,
            "max_residual": resid,
            "syn_events_per_clock": p.neurons / a,
            "bandwidth_limit": p.lanes,
            "ratio_to_limit": (p.neurons / a) / p.lanes,
            "empty_step_clocks": float(cycles[events == 0].mean()),
        })
        curves.append((rows[-1]["design"], events, cycles))
    speed_params = CoreParams(neurons=64, axons=64, weight_bits=4, lanes=4)
    speed = sim_speed(speed_params, rng, steps=300)
    machine = _provenance.machine_line()
    commit = _provenance.commit_line()
    result = {"machine": machine, "commit": commit, "command": _provenance.command(),
              "sweep": rows, "simulator_speed": speed}
    out = ROOT / "results"
    out.mkdir(exist_ok=True)
    (out / "core_cycles.json").write_text(json.dumps(result, indent=2) + "\n")

    md = ["# Clocks per step, synaptic throughput, simulator speed", "",
          f"Command: `{result['command']}` at commit {commit} on {machine}.", "",
          "| design | clocks/event (fit) | model N/lanes | fixed clocks (fit) | model N+latency "
          "| max residual | syn. events/clock | limit (lanes) | ratio | empty step |",
          "|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        md.append(f"| {r['design']} | {r['clocks_per_event']:.3f} | {r['model_clocks_per_event']} "
                  f"| {r['fixed_clocks']:.1f} | {r['model_fixed_clocks']} | "
                  f"{r['max_residual']:.2f} | {r['syn_events_per_clock']:.2f} | "
                  f"{r['bandwidth_limit']} | {r['ratio_to_limit']:.3f} | "
                  f"{r['empty_step_clocks']:.0f} |")
    v, i, g = speed["verilator"], speed["icarus"], speed["golden"]
    md += ["", f"Simulator speed, same 300-step job on a 64x64 cuba core ({v['clocks']} clocks), "
           "measured side by side in one run (build time excluded):", "",
           "| runner | seconds | clocks/s | relative |", "|---|---|---|---|",
           f"| Verilator | {v['seconds']:.2f} | {v['clocks'] / v['seconds']:.0f} | 1 |",
           f"| Icarus | {i['seconds']:.2f} | {i['clocks'] / i['seconds']:.0f} | "
           f"{i['seconds'] / v['seconds']:.2f}x slower |",
           f"| golden model | {g['seconds']:.4f} | — | {v['seconds'] / g['seconds']:.0f}x faster |",
           "", "Verilator and Icarus times include cocotb's per-clock Python overhead, which "
           "dominates at this size."]
    (out / "core_cycles.md").write_text("\n".join(md) + "\n")

    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(7, 4))
    for (name, ev, cy), r in zip(curves, rows):
        line, = ax.plot(ev, cy, "o", ms=4, label=name)
        xs = np.array([0, max(SWEEP)])
        ax.plot(xs, r["model_clocks_per_event"] * xs + r["model_fixed_clocks"], "-",
                color=line.get_color(), lw=0.8)
    ax.set_xlabel("input events in the step")
    ax.set_ylabel("clocks per step")
    ax.set_title("measured (dots) vs cost model events*N/lanes + N + latency (lines)")
    ax.legend(fontsize=7)
    fig.tight_layout()
    img = ROOT.parent / "docs" / "img"
    img.mkdir(parents=True, exist_ok=True)
    fig.savefig(img / "cycles_vs_events.png", dpi=110)
    print("\n".join(md))


if __name__ == "__main__":
    sys.exit(main())
