"""Clocks the STDP engine adds per pre spike and per post spike (issue 4).

On the generated Verilog (Verilator), for a learning core and the same core without
learning, measured side by side:
* pre spikes: steps with k input events on distinct plastic axons and no neuron firing;
  the slope of clocks per step against k, minus the same slope without learning, is the
  LTD cost per pre spike (model: N/lanes clocks to stream the row, plus a fixed overhead);
* post spikes: steps with no input and m neurons firing (thresholds 0, strong bias); the
  slope against m, minus the same without learning, is the LTP cost per post spike
  (model: A clocks to walk the column, plus the post impulse and overhead).

Usage: python benchmarks/stdp_cost.py   (writes benchmarks/results/stdp_cost.{json,md})
"""

import json
from pathlib import Path

import numpy as np
from tqdm import tqdm

import _provenance  # noqa: E402  (benchmarks/ is on sys.path)

from spikefab.rtl.image import CoreImage
from spikefab.rtl.params import CoreParams
from spikefab.sim.runner import Stimulus, run_bench

ROOT = Path(__file__).resolve().parent


def image(p, firing):
    par = p.param_defaults()
    par = {k: np.full(p.neurons, v) for k, v in par.items()}
    par["vth"][:] = 131071
    par["vth"][:firing] = 0
    par["bias_mant"][:firing] = 4095
    par["bias_exp"][:firing] = 7
    w = np.zeros((p.axons, p.neurons), np.int64)
    kw = {}
    if p.learning:
        kw = {"stdp": {**p.stdp_defaults(), "learn_en": 1}, "plastic": np.ones(p.axons, np.int64)}
    return CoreImage(params=p, weights=w, neuron_params=par, **kw)


def slope(xs, ys):
    return float(np.polyfit(np.asarray(xs, float), np.asarray(ys, float), 1)[0])


def measure(p):
    rng = np.random.default_rng(1)
    ks = [0, 1, 2, 4, 8]
    inputs = []
    for k in ks:
        inputs += [sorted(rng.choice(p.axons, k, replace=False).tolist()) for _ in range(3)]
    (pre,) = run_bench([(image(p, 0), inputs, len(inputs), Stimulus(readback=False))],
                          "verilator")
    pre_k = [len(e) for e in inputs]
    ms = [0, 1, 2, 4, 8]
    jobs = [(image(p, m), [[] for _ in range(3)], 3, Stimulus(readback=False)) for m in ms]
    posts = run_bench(jobs, "verilator")
    post_m = [m for m in ms for _ in range(3)]
    post_cycles = [c for tr in posts for c in tr.meta["cycles"]]
    # the first step of a post job has no post trace yet but costs the same; all included
    return slope(pre_k, pre.meta["cycles"]), slope(post_m, post_cycles)


def main():
    designs = [(64, 64, 4), (64, 128, 4), (128, 64, 8)]
    rows = []
    for N, A, L in tqdm(designs, desc="designs"):
        base = CoreParams(neurons=N, axons=A, lanes=L, weight_bits=4)
        learn = CoreParams(neurons=N, axons=A, lanes=L, weight_bits=4, learning=True)
        b_pre, b_post = measure(base)
        l_pre, l_post = measure(learn)
        rows.append({"design": f"N={N} A={A} lanes={L}", "N/lanes": N // L, "A": A,
                     "integration_per_event": b_pre,
                     "stdp_per_pre_spike": l_pre - b_pre,
                     "stdp_per_post_spike": l_post - b_post})
    machine = _provenance.machine_line()
    commit = _provenance.commit_line()
    out = ROOT / "results"
    out.mkdir(exist_ok=True)
    (out / "stdp_cost.json").write_text(json.dumps({"machine": machine, "commit": commit,
                                                         "command": _provenance.command(),
                                                         "rows": rows}, indent=2))
    md = ["# STDP engine cost", "",
          f"Command: `python benchmarks/stdp_cost.py` at commit {commit} on {machine} (Verilator; slopes of "
          "clocks per step, learning core minus the same core without learning).", "",
          "| design | N/lanes | integration clocks / input event | STDP clocks / pre spike "
          "| A | STDP clocks / post spike |", "|---|---|---|---|---|---|"]
    for r in rows:
        md.append(f"| {r['design']} | {r['N/lanes']} | {r['integration_per_event']:.2f} | "
                  f"{r['stdp_per_pre_spike']:.2f} | {r['A']} | {r['stdp_per_post_spike']:.2f} |")
    md += ["", "Model: LTD streams the row of a plastic pre-spike axon (N/lanes clocks) plus "
           "a fixed fetch/drain overhead; LTP walks the column of a post-spiking neuron "
           "(A clocks) plus the overhead and its post impulse. The pre- and post-trace decay "
           "passes run during the neuron update and cost nothing while A <= N."]
    (out / "stdp_cost.md").write_text("\n".join(md) + "\n")
    print("\n".join(md))


if __name__ == "__main__":
    main()
