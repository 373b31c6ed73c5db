"""A classifier through NIR onto the array: scikit-learn's 8x8 digits (issue 13, item 4).

The task and split are the crossbar study's (``examples/crossbar_study.py``, imported:
1437 training images, the first 200 held-out images as the test set). Steps:

1. **Train** (numpy, no PyTorch) a ReLU network 64 -> 64 -> 10 without biases (Adam,
   softmax cross-entropy), then **convert** it to a spiking network (ANN-to-SNN): IF neurons
   with reset by subtraction, thresholds from the 99.9th percentile of each layer's training
   activations (data-based normalisation), the second layer's weights multiplied by the
   first threshold (a spike of layer 1 stands for that much activation).
2. **Export** it to a NIR file the way an exporter writes it (``Input -> Affine -> IF ->
   Affine -> IF -> Output``, dt = 1 ms, r = 1/dt), then **import** it
   (:func:`spikefab.gen.nir_import.import_nir`, ``reset = "subtract"``).
3. **Inputs**: each pixel x/16 in [0, 1] as a regular spike train over T steps (a spike at
   step t when floor((t + 1) x) > floor(t x)): deterministic rate coding.
4. **Quantise** (:func:`spikefab.gen.quantise.quantise`) to 8, 6, 4 and 2-bit weights, with
   bias tuning and the per-layer scale search on 300 training images (calibration; 100
   with --quick), **map**
   onto a 2x1 array of 64-neuron, 64-axon cores (hidden layer on core (0, 0), output on
   (1, 0); reset by subtraction in hardware), and run the whole test split on the golden
   network model (every image also checked equal to the quantiser's batched simulation).
5. **Read out** the class as the output neuron with most spikes in the output window (NIR
   step t shows at array step t + 1: one hop), ties broken by v / threshold.
6. **RTL**: :func:`run_rtl` runs images on the generated array in the fast run mode
   (:class:`spikefab.sim.fast.FastDesign`: one build, every image a job) and every image's
   spikes, u and v at every step must equal the golden model's.

Reported: accuracy (float SNN, golden, RTL on the images run), synaptic events per image
(spikes times their synapses), axon events, latency per image in clocks (from the array's
clock model, docs/array_performance.md; the RTL's measured clocks beside it) and in µs at
the Fmax of the README's 2x2 ECP5 array build.

Usage::

    .venv/bin/python examples/nir_digits.py [-o out/nir_digits] [--quick] [--rtl N]
        [--simulator verilator|icarus] [--rtl-bits 8 4]

Writes ``digits.nir``, ``results.json`` and ``results.md`` into the output folder.
"""

import argparse
import importlib.util
import json
import platform
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from spikefab.gen.nir_import import import_nir
from spikefab.rtl.neuron import DATAPATHS
from spikefab.gen.quantise import quantise, readout, simulate_network
from spikefab.rtl.params import CoreParams, MeshParams

HIDDEN = 64
T_STEPS = 16
DT = 1e-3
BITS = (8, 6, 4, 2)
CALIB = 300
#: Fmax of the README's 2x2 ECP5-85F array build (not re-synthesised for these cores)
FMAX_MHZ = 76.5
LATENCY = DATAPATHS["cuba"].LATENCY     # the cuba datapath's latency in the clock model


def _crossbar_study():
    path = Path(__file__).with_name("crossbar_study.py")
    spec = importlib.util.spec_from_file_location("crossbar_study", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def load_task(quick=False):
    """The crossbar study's split: (Xtr, ytr, Xte, yte), pixels / 16."""
    return _crossbar_study().load_task(quick)


def train_ann(X, y, hidden=HIDDEN, epochs=300, seed=1, lr=3e-3, l2=1e-4):
    """ReLU MLP without biases, Adam on softmax cross-entropy; returns (W1, W2)."""
    rng = np.random.default_rng(seed)
    Ws = [rng.normal(0, np.sqrt(2 / X.shape[1]), (X.shape[1], hidden)),
          rng.normal(0, np.sqrt(2 / hidden), (hidden, 10))]
    m1 = [np.zeros_like(w) for w in Ws]
    m2 = [np.zeros_like(w) for w in Ws]
    Y = np.eye(10)[y]
    k = 0
    for _ in range(epochs):
        idx = rng.permutation(len(y))
        for b in range(0, len(idx), 64):
            i = idx[b:b + 64]
            h = np.maximum(X[i] @ Ws[0], 0)
            z = h @ Ws[1]
            z -= z.max(axis=1, keepdims=True)
            p = np.exp(z)
            p /= p.sum(axis=1, keepdims=True)
            g = (p - Y[i]) / len(i)
            grads = [X[i].T @ (g @ Ws[1].T * (h > 0)) + l2 * Ws[0], h.T @ g + l2 * Ws[1]]
            k += 1
            for j, (w, gr) in enumerate(zip(Ws, grads)):
                m1[j] = 0.9 * m1[j] + 0.1 * gr
                m2[j] = 0.999 * m2[j] + 0.001 * gr * gr
                w -= lr * (m1[j] / (1 - 0.9 ** k)) / (np.sqrt(m2[j] / (1 - 0.999 ** k)) + 1e-8)
    return Ws


def encode(X, T):
    """Deterministic rate code: int64 0/1 [images, T, 64]."""
    t = np.arange(1, T + 1)[:, None]
    return (np.floor(t * X[:, None, :]) - np.floor((t - 1) * X[:, None, :])).astype(np.int64)


def nir_graph(W1, W2, X, dt=DT):
    """The converted SNN as a NIR graph (IF neurons, r = 1/dt so a weight is a jump of v)."""
    import nir
    h = np.maximum(X @ W1, 0)
    lam1 = float(np.percentile(h, 99.9))
    lam2 = float(np.percentile(h @ W2, 99.9))
    H = W1.shape[1]
    nodes = {
        "input": nir.Input(input_type={"input": np.array([W1.shape[0]])}),
        "fc1": nir.Affine(weight=W1.T.copy(), bias=np.zeros(H)),
        "hidden": nir.IF(r=np.full(H, 1 / dt), v_threshold=np.full(H, lam1),
                         v_reset=np.zeros(H)),
        "fc2": nir.Affine(weight=(W2 * lam1).T.copy(), bias=np.zeros(10)),
        "out": nir.IF(r=np.full(10, 1 / dt), v_threshold=np.full(10, lam2),
                      v_reset=np.zeros(10)),
        "output": nir.Output(output_type={"output": np.array([10])}),
    }
    edges = [("input", "fc1"), ("fc1", "hidden"), ("hidden", "fc2"), ("fc2", "out"),
             ("out", "output")]
    return nir.NIRGraph(nodes=nodes, edges=edges)


def core_params(bits):
    return CoreParams(neurons=64, axons=64, lanes=4, weight_bits=bits, acc_bits=16,
                      max_delay=1, subtractive_reset=True)


MESH = MeshParams(width=2, height=1)


def route_matrix(m):
    """[C*N, C]: routing entries from each neuron to each core (exit entries left out)."""
    C, N = m.mesh.cores, m.params.neurons
    R = np.zeros((C * N, C), np.int64)
    for c in range(C):
        for n in range(N):
            for tgt in m.image.routes[c].targets(n):
                if tgt != "exit":
                    R[c * N + n, m.mesh.core_index(tgt[0], tgt[1])] += 1
    return R


def clocks(m, spikes, inputs, R):
    """Clocks of one image: (steps, inputs). ``steps``: the array's clock model
    (docs/array_performance.md), per step N + latency + 13 + (E - 1) N/lanes with E the
    events routed to the busiest core in that step (a spike's packets are integrated in the
    step that emits them; the RTL's measured clocks are this to a few clocks per step).
    ``inputs``: N/lanes per external input event on the busiest core, the integration the
    host's input injection costs before each step (not counted by the step counter)."""
    N, lanes = m.params.neurons, m.params.lanes
    e = (np.asarray(spikes, np.int64) @ R).max(axis=1)
    # 13: the array's 7 clocks of step control plus 6 of its register stages (the start's way
    # to the cores, 3; the status's way back, 3 more than without pipelining)
    steps = int(np.sum(N + LATENCY + 13 + np.maximum(e - 1, 0) * (N // lanes)))
    ext = np.zeros((len(inputs), m.mesh.cores), np.int64)
    for t, evs in enumerate(inputs):
        for c, _ in evs:
            ext[t, c] += 1
    return steps, int(ext.max(axis=1).sum() * (N // lanes))


def run_golden(m, x, steps):
    """Golden runs of every image: (output spikes [B, steps, 10], v of 'out' at the end,
    axon events [B, steps, cores], clocks [(steps, inputs)] per image)."""
    R = route_matrix(m)
    spk, vs, ev, clk = [], [], [], []
    for img in x:
        r = m.run_golden({"input": img}, steps=steps)
        spk.append(r.spikes["out"])
        vs.append(r.trace.v[-1][m.neuron_index("out")])
        ev.append(np.asarray(r.trace.extra["events"]))
        clk.append(clocks(m, r.trace.spikes, r.inputs, R))
    return np.array(spk), np.array(vs), np.array(ev), clk


def run_rtl(m, x, steps, simulator="verilator", progress=None):
    """Run images ``x`` (0/1 [B, T, 64]) on the RTL of the mapped array ``m`` in the fast
    run mode (one build, every image a job of one simulator process); returns one dict per
    image: ``spikes`` ({population: bool [steps, size]}), ``cycles`` (clocks of the run, the
    sum of the harness's clocks per step) and ``trace``."""
    from spikefab.sim.fast import FastDesign
    design = FastDesign(m.image, simulator)
    sets = [m.encode_inputs({"input": img}, steps) for img in x]
    traces = design.run(sets, steps, readback=False, progress=progress)
    out = []
    for tr in traces:
        cyc = np.asarray(tr.meta["cycles"], np.int64)
        out.append({"spikes": {p: m.population_spikes(tr, p) for p in m.populations},
                    "cycles": int(cyc.sum()), "trace": tr})
    return out


def synaptic_events(qnet, spikes_in, spk_hidden):
    """Synapse updates per image: every input or hidden spike times its synapses."""
    fan = {pr.pre.name: np.bincount(pr.pre_index, minlength=pr.pre.size)
           for pr in qnet.projections}
    return (spikes_in.sum(axis=1) @ fan["input"] + spk_hidden.sum(axis=1) @ fan["hidden"])


def evaluate(fnet, bits, x_te, y_te, x_cal, y_cal, T, steps):
    q = quantise(fnet, bits, calib={"input": x_cal}, labels=y_cal, acc_bits=16)
    m = q.network.map(MESH, core_params(bits))
    spk, v, ev, clk = run_golden(m, x_te, steps)
    bspk, bv = simulate_network(q.network, {"input": x_te}, steps, acc_bits=16)
    assert np.array_equal(bspk["out"], spk), "golden != batched simulation"
    vth = q.network["out"].params["vth"] * 64.0
    pred = readout(spk, v, vth, 1, T)
    syn = synaptic_events(q.network, x_te, bspk["hidden"])
    step_clk = np.array([c[0] for c in clk], float)
    in_clk = np.array([c[1] for c in clk], float)
    return m, q, {"bits": bits, "acc_golden": float(np.mean(pred == y_te)),
                  "pred": pred.tolist(), "layers": q.rows, "choice": q.choice,
                  "syn_events": float(np.mean(syn)),
                  "axon_events": float(ev.sum(axis=(1, 2)).mean()),
                  "clocks_steps": float(step_clk.mean()), "clocks_inputs": float(in_clk.mean()),
                  "clocks_per_image": step_clk.astype(int).tolist(),
                  "us_at_fmax": float(step_clk.mean() + in_clk.mean()) / FMAX_MHZ}


def provenance():
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                                text=True, cwd=Path(__file__).parent).stdout.strip()
    except OSError:
        commit = "unknown"
    return {"command": "python " + " ".join(["examples/nir_digits.py"] + sys.argv[1:]),
            "commit": commit,
            "machine": f"{platform.node()} {platform.machine()} {platform.processor()}".strip()}


def run(out, quick=False, rtl=0, simulators=("verilator",), bits=BITS, T=T_STEPS,
        rtl_bits=None):
    t0 = time.time()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    Xtr, ytr, Xte, yte = load_task(quick)
    W1, W2 = train_ann(Xtr, ytr, epochs=60 if quick else 300)
    acc_ann = float(np.mean((np.maximum(Xte @ W1, 0) @ W2).argmax(axis=1) == yte))
    import nir
    nir.write(out / "digits.nir", nir_graph(W1, W2, Xtr))
    res = import_nir(out / "digits.nir", dt=DT, reset="subtract")
    fnet = res.float_net
    ncal = 100 if quick else CALIB
    x_te, x_cal = encode(Xte, T), encode(Xtr[:ncal], T)
    fl = fnet.run({"input": x_te})
    # float readout on the same window: NIR step t, no shift
    v_dummy = np.zeros((len(yte), 10))
    acc_float = float(np.mean(readout(fl["out"], v_dummy, np.ones(10), 0, T) == yte))
    steps = T + fnet.max_depth - 1
    results = {"T": T, "steps": steps, "dt": DT, "hidden": HIDDEN, "test_images": len(yte),
               "acc_ann": acc_ann, "acc_float_snn": acc_float, "fmax_mhz": FMAX_MHZ,
               "import_report": str(res.report), "bits": [], **provenance()}
    for b in bits:
        m, q, r = evaluate(fnet, b, x_te, yte, x_cal, ytr[:ncal], T, steps)
        r["rtl"] = {}
        for sim in simulators if rtl and (rtl_bits is None or b in rtl_bits) else ():
            got = run_rtl(m, x_te[:rtl], steps, sim)
            gold = [m.run_golden({"input": img}, steps=steps) for img in x_te[:rtl]]
            equal = all(np.array_equal(g.trace.spikes, o["trace"].spikes) and
                        np.array_equal(g.trace.u, o["trace"].u) and
                        np.array_equal(g.trace.v, o["trace"].v) for g, o in zip(gold, got))
            pred = [int(np.argmax(o["spikes"]["out"][1:1 + T].sum(axis=0) +
                                  np.clip(o["trace"].v[-1][m.neuron_index("out")] /
                                          (q.network["out"].params["vth"] * 64.0),
                                          -0.99, 0.99) * 0.5)) for o in got]
            r["rtl"][sim] = {"images": rtl, "equal_to_golden": bool(equal),
                             "acc": float(np.mean(np.array(pred) == yte[:rtl])),
                             "cycles": [o["cycles"] for o in got],
                             "cycles_model": r["clocks_per_image"][:rtl]}
        results["bits"].append(r)
        print(f"{b}-bit: golden {r['acc_golden']:.3f} (float SNN {acc_float:.3f}), "
              f"{r['syn_events']:.0f} synaptic events/image, {r['clocks_steps']:.0f} + "
              f"{r['clocks_inputs']:.0f} clocks = {r['us_at_fmax']:.1f} us" + "".join(
                  f"; {s}: {v['images']} images equal={v['equal_to_golden']} "
                  f"cycles {v['cycles']} (model {v['cycles_model']})"
                  for s, v in r["rtl"].items()), flush=True)
        (out / "results.json").write_text(json.dumps(results, indent=1))   # so far
    results["seconds"] = round(time.time() - t0, 1)
    (out / "results.json").write_text(json.dumps(results, indent=1))
    (out / "results.md").write_text(table(results))
    return results


def table(r):
    lines = [f"8x8 digits through NIR: ANN {r['acc_ann']:.1%}, float SNN {r['acc_float_snn']:.1%} "
             f"({r['test_images']} test images, T = {r['T']} steps, {r['steps']} array steps)",
             "", "| weights | float SNN | golden | RTL (first images of the test split) | "
             "synaptic events / image | clocks / image: steps + input injection | µs / image "
             f"at {r['fmax_mhz']} MHz |", "|---|---|---|---|---|---|---|"]
    for b in r["bits"]:
        rtl = "; ".join(f"{s}: {v['acc']:.0%} of {v['images']}, equal to golden on every "
                        f"image: {'yes' if v['equal_to_golden'] else 'NO'}, measured step "
                        f"clocks {np.mean(v['cycles']):.0f} (model "
                        f"{np.mean(v['cycles_model']):.0f})"
                        for s, v in b["rtl"].items()) or "—"
        lines.append(f"| {b['bits']}-bit | {r['acc_float_snn']:.1%} | {b['acc_golden']:.1%} | "
                     f"{rtl} | {b['syn_events']:.0f} | {b['clocks_steps']:.0f} + "
                     f"{b['clocks_inputs']:.0f} | {b['us_at_fmax']:.1f} |")
    lines += ["", f"command: `{r['command']}`; commit {r['commit']}; machine {r['machine']}; "
              f"{r['seconds']} s", ""]
    return "\n".join(lines)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("-o", "--out", type=Path, default=Path("out/nir_digits"))
    ap.add_argument("--quick", action="store_true", help="a small run (tests)")
    ap.add_argument("--rtl", type=int, default=0, metavar="N",
                    help="also run the first N test images on the RTL")
    ap.add_argument("--simulator", action="append", choices=("verilator", "icarus"),
                    help="RTL simulator (repeatable; default verilator)")
    ap.add_argument("--rtl-bits", type=int, nargs="+", metavar="BITS",
                    help="weight widths to run on the RTL (default: all)")
    a = ap.parse_args(argv)
    r = run(a.out, quick=a.quick, rtl=a.rtl, simulators=tuple(a.simulator or ["verilator"]),
            rtl_bits=a.rtl_bits)
    print(table(r))


if __name__ == "__main__":
    main()
