"""Accuracy of a small spiking classifier on memristor crossbar cores (issue 10, item 5).

The task: scikit-learn's bundled 8x8 digits (1797 images, 10 classes, no download), a fixed
split (1437 train, 360 held out, of which the first 200 are the test set). A multinomial logistic regression (no intercept) is trained in
float with numpy on the pixel intensities / 16, its weights quantised to ``weight_bits``
signed integers and loaded into one ``cuba`` core of 64 axons (one per pixel) and 10
neurons (one per class). Each image is rate coded: pixel a spikes at each of T steps with
probability ``rate * x[a] / 16`` (one fixed Bernoulli draw per image, the same for every
configuration). The neurons integrate without leak (``du = 4095``: u is this step's input;
``dv = 0``), threshold ``vth`` chosen from the training set so that the winning class fires
about every 4 steps, reset to 0. The class is the neuron with the most spikes, ties broken
by the final membrane potential as a fraction of the threshold (``spikes + v / threshold``).

The core runs in the golden model (:class:`~spikefab.sim.golden.CoreModel`) with its
synapses on a crossbar (:class:`~spikefab.sim.crossbar_synapses.CrossbarCoreSynapses`),
one model per configuration, the neuron state cleared between images (the crossbar's step
counter runs on, so each image sees fresh read noise). Each non-ideality is swept alone from
the ideal crossbar: conductance levels, device-to-device variation of the conductance range,
read noise, wire segment resistance (rows and columns, grounded idle rows) and stuck-at rate
(half stuck at g_min, half at g_max), several seeds per point. With the ideal crossbar the
accuracy must equal the digital core's exactly (checked).

In-the-loop calibration (``--calibrate``, on by default; the BrainScaleS idea): for every
device-variation seed, each column's gain and offset are measured through the analog path
(the ADC codes of calibration inputs from the training set against the digital sums of the
programmed integer weights, a least-squares line per neuron), and folded into the neurons'
digital parameters: the threshold is scaled by the gain (``vth_n = vth * gain_n``) and the
offset per active axon is removed by a per-neuron bias (``bias_mant``, the mean offset of a
step). The accuracy with and without it is plotted.

Usage::

    .venv/bin/python examples/crossbar_study.py [-o out/crossbar_study] [--quick] [--seeds 2]

Writes ``results.json`` and ``crossbar_study.png`` (and ``crossbar_calibration.png``) to the
output folder (default ``out/crossbar_study/``). The docs' figures (docs/img/) are these
files from a full run. See docs/crossbar_study.md.
"""

import argparse
import json
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from spikefab.rtl.image import CoreImage
from spikefab.rtl.params import CoreParams
from spikefab.sim.crossbar import ArrayParams, DeviceParams
from spikefab.sim.crossbar_synapses import CrossbarCoreSynapses
from spikefab.sim.golden import CoreModel


WEIGHT_BITS = 6
ACC_BITS = 16
RATE = 0.5
TEST_IMAGES = 200          # of the 360 held out: keeps the full run to a few minutes

#: the sweeps: axis -> (label, values, how a value changes (DeviceParams, ArrayParams))
SWEEPS = {
    "levels": ("conductance levels per device", [2, 3, 5, 9, 17, 33, 65, 97],
               lambda d, a, v: (replace(d, levels=v), a)),
    "d2d": ("device-to-device variation σ of g_min, g_max (log-normal)",
            [0.0, 0.05, 0.1, 0.2, 0.3, 0.5],
            lambda d, a, v: (replace(d, d2d_range=v), a)),
    "read_noise": ("read noise σ (relative, per read)", [0.0, 0.01, 0.03, 0.1, 0.2, 0.3, 0.5],
                   lambda d, a, v: (replace(d, read_noise=v), a)),
    "wire": ("wire segment resistance (Ω, rows and columns)", [0.0, 1.0, 5.0, 20.0, 50.0,
                                                                100.0, 200.0, 500.0],
             lambda d, a, v: (d, replace(a, r_row=v, r_col=v))),
    "stuck": ("stuck-at rate (half at g_min, half at g_max)",
              [0.0, 0.001, 0.01, 0.03, 0.1, 0.2],
              lambda d, a, v: (replace(d, p_stuck_low=v / 2, p_stuck_high=v / 2), a)),
}
QUICK_VALUES = {"levels": [3, 65], "d2d": [0.0, 0.3], "read_noise": [0.0, 0.2],
                "wire": [0.0, 50.0], "stuck": [0.0, 0.1]}
RANDOM_AXES = {"d2d", "read_noise", "stuck"}         # the wire and levels axes draw nothing

#: public reference points on the x axes: the parameter values of published devices and
#: arrays (docs/crossbar_study.md cites each; /work/shared/notes/crossbar-anchors.md)
X_REFS = {
    "levels": [(64, "anchors-note default 64"), (97, "NeuroSim Ag:a-Si 97")],
    "d2d": [(0.1, "NeuroSim-like D2D 10 %"), (0.3, "aihwkit w_max_dtod 0.3 (pessimistic)")],
    "read_noise": [(0.01, "aihwkit ReRAM 1 %"), (0.0289, "NeuroSim measured 2.89 %")],
    "wire": [(0.15, "aihwkit IR-drop 0.15 Ω"), (1.0, "anchors note up to 1 Ω")],
    "stuck": [(0.02, "typical study range ≤ 2 %"),
              (0.1, "~10 % faulty in an HfO2 RRAM test chip")],
}
#: symlog thresholds of the x axes that start at 0
X_LIN = {"d2d": None, "read_noise": 0.01, "wire": 1.0, "stuck": 0.001}

#: public reference points: accuracy on the same dataset (sklearn 8x8 digits), digital
#: spiking hardware (SPEC §5's comparison table)
REFERENCES = [("Spiker-LL (2026), digital SNN, 8x8 digits", 0.93),
              ("NeuroCoreX (2025), digital STDP, 8x8 digits", 0.68)]


# --- the task -----------------------------------------------------------------------------

def load_task(quick):
    from sklearn.datasets import load_digits
    d = load_digits()
    X, y = d.data.astype(np.float64) / 16.0, d.target.astype(np.int64)
    perm = np.random.default_rng(0).permutation(len(y))
    tr, te = perm[:1437], perm[1437:]
    te = te[:40] if quick else te[:TEST_IMAGES]
    return X[tr], y[tr], X[te], y[te]


def train_softmax(X, y, epochs=400, lr=0.5, l2=1e-3):
    """Multinomial logistic regression without intercept, full-batch gradient descent."""
    W = np.zeros((X.shape[1], 10))
    Y = np.eye(10)[y]
    for _ in range(epochs):
        z = X @ W
        z -= z.max(axis=1, keepdims=True)
        p = np.exp(z)
        p /= p.sum(axis=1, keepdims=True)
        W -= lr * (X.T @ (p - Y) / len(y) + l2 * W)
    return W


def quantise(W, bits):
    hi = (1 << (bits - 1)) - 1
    return np.round(W / np.abs(W).max() * hi).astype(np.int64)


def encode(X, T, seed):
    """Bernoulli rate code: int64 [S, T, 64] spike counts (0/1)."""
    rng = np.random.default_rng(seed)
    return (rng.random((len(X), T, X.shape[1])) < RATE * X[:, None, :]).astype(np.int64)


def core_image(w_int, vth, bias=None):
    p = CoreParams(neurons=10, axons=64, lanes=1, model="cuba", weight_bits=WEIGHT_BITS,
                   acc_bits=ACC_BITS, max_step_events=64)
    npar = {"du": 4095, "dv": 0, "vth": np.asarray(vth, np.int64) * np.ones(10, np.int64),
            "bias_mant": np.zeros(10, np.int64) if bias is None else bias,
            "bias_exp": 0}
    return CoreImage(p, weights=w_int, w_exp=0, neuron_params=npar)


def classify(model, spikes_in):
    """Predicted class of every image (the model's state cleared before each)."""
    init = {k: v.copy() for k, v in model.image.state.items()}
    thr = np.maximum(model.neuron_params["vth"] * 64, 1).astype(float)
    out = np.empty(len(spikes_in), np.int64)
    for i, counts in enumerate(spikes_in):
        model.state = {k: v.copy() for k, v in init.items()}
        tr = model.run(counts)
        score = tr.spikes.sum(axis=0) + tr.v[-1] / thr
        out[i] = int(np.argmax(score))
    return out


# --- calibration --------------------------------------------------------------------------

def calibrate(syn, w_int, cal_in):
    """Each column's gain and offset through the analog path: ADC codes of the calibration
    steps against the digital sums, a least-squares line per neuron in the number of active
    axons: ``code = gain * digital + offset_per_axon * active``. Returns (gain, offset)."""
    steps = cal_in.reshape(-1, cal_in.shape[-1])
    steps = steps[steps.sum(axis=1) > 0]
    codes = np.stack([syn.xbar.a_in(10**6 + k, c) for k, c in enumerate(steps)])  # [K, N]
    digital = steps @ w_int                                                          # [K, N]
    active = steps.sum(axis=1).astype(float)
    gain, off = np.empty(10), np.empty(10)
    for n in range(10):
        M = np.stack([digital[:, n], active], axis=1).astype(float)
        (gain[n], off[n]), *_ = np.linalg.lstsq(M, codes[:, n].astype(float), rcond=None)
    return gain, off


# --- the study ----------------------------------------------------------------------------

def run(out, quick=False, seeds=2, do_calibrate=True, T=None):
    t0 = time.time()
    T = T or (16 if quick else 24)
    seeds = 1 if quick else seeds
    Xtr, ytr, Xte, yte = load_task(quick)
    W = train_softmax(Xtr, ytr)
    acc_float = float(((Xte @ W).argmax(axis=1) == yte).mean())
    w_int = quantise(W, WEIGHT_BITS)
    acc_int = float(((Xte @ w_int).argmax(axis=1) == yte).mean())
    top = (RATE * Xtr @ w_int).max(axis=1).mean()                 # mean top a_in per step
    vth = int(round(4 * top))
    spikes_in = encode(Xte, T, seed=1)
    cal_in = encode(Xtr[:50 if quick else 200], 4, seed=2)

    digital = CoreModel(core_image(w_int, vth))
    pred_dig = classify(digital, spikes_in)
    acc_dig = float((pred_dig == yte).mean())

    def accuracy(dev, arr, seed, vth_n=None, bias=None):
        img = core_image(w_int, vth if vth_n is None else vth_n, bias)
        syn = CrossbarCoreSynapses(w_int, 0, ACC_BITS, WEIGHT_BITS, device=dev, array=arr,
                                   seed=seed)
        return float((classify(CoreModel(img, synapses=syn), spikes_in) == yte).mean()), syn

    base_dev = DeviceParams(levels=65)
    base_arr = ArrayParams()
    acc_ideal, _ = accuracy(base_dev, base_arr, 0)
    # the ideal crossbar is the digital core, bit for bit: same predictions
    ideal_pred = classify(CoreModel(core_image(w_int, vth), synapses=CrossbarCoreSynapses(
        w_int, 0, ACC_BITS, WEIGHT_BITS, device=base_dev, array=base_arr)), spikes_in)
    assert np.array_equal(ideal_pred, pred_dig), "ideal crossbar != digital core"

    results = {"T": T, "rate": RATE, "weight_bits": WEIGHT_BITS, "vth": vth,
               "test_images": int(len(yte)), "seeds": seeds, "acc_float": acc_float,
               "acc_int_float_input": acc_int, "acc_digital_snn": acc_dig,
               "acc_ideal_crossbar": acc_ideal, "sweeps": {}, "calibration": None}
    for axis, (label, values, change) in SWEEPS.items():
        vals = QUICK_VALUES[axis] if quick else values
        n_seed = seeds if axis in RANDOM_AXES else 1
        rows = []
        for v in vals:
            dev, arr = change(base_dev, base_arr, v)
            accs = [accuracy(dev, arr, s)[0] for s in range(n_seed)]
            rows.append({"value": v, "acc": accs, "mean": float(np.mean(accs))})
            print(f"{axis:10s} {v:>8}: {np.mean(accs):.3f}  {accs}", flush=True)
        results["sweeps"][axis] = {"label": label, "points": rows}

    if do_calibrate:
        vals = QUICK_VALUES["d2d"] if quick else [0.05, 0.1, 0.2, 0.3, 0.5]
        rows = []
        for v in vals:
            raw, cal = [], []
            for s in range(seeds):
                dev = replace(base_dev, d2d_range=v)
                a_raw, syn = accuracy(dev, base_arr, s)
                gain, off = calibrate(syn, w_int, cal_in)
                vth_n = np.clip(np.round(vth * gain), 0, 131071).astype(np.int64)
                # a step has on average `mean active` axons on: remove that offset
                mean_active = float(cal_in.sum(axis=-1).mean())
                bias = np.clip(np.round(-off * mean_active * 64), -4096, 4095).astype(np.int64)
                a_cal, _ = accuracy(dev, base_arr, s, vth_n=vth_n, bias=bias)
                raw.append(a_raw)
                cal.append(a_cal)
            rows.append({"value": v, "raw": raw, "calibrated": cal})
            print(f"calib d2d {v}: raw {np.mean(raw):.3f} calibrated {np.mean(cal):.3f}",
                  flush=True)
        results["calibration"] = rows
    results["seconds"] = round(time.time() - t0, 1)

    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps(results, indent=1))
    plot(results, out)
    return results


def plot(results, out):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    axes_names = list(results["sweeps"])
    fig, axs = plt.subplots(2, 3, figsize=(15, 8.5))
    for ax, axis in zip(axs.flat, axes_names):
        sw = results["sweeps"][axis]
        x = np.array([p["value"] for p in sw["points"]], float)
        xs = x
        for p, xi in zip(sw["points"], xs):
            ax.plot([xi] * len(p["acc"]), p["acc"], ".", color="tab:blue", alpha=0.4)
        ax.plot(xs, [p["mean"] for p in sw["points"]], "o-", color="tab:blue",
                label="crossbar core (golden model)")
        ax.axhline(results["acc_digital_snn"], color="k", ls="--",
                   label="digital core (same SNN)")
        ax.axhline(results["acc_float"], color="tab:green", ls=":", label="float readout")
        for (name, acc), c in zip(REFERENCES, ("tab:red", "tab:purple")):
            ax.axhline(acc, color=c, ls="-.", lw=1, label=name)
        if axis == "levels":
            ax.set_xscale("log", base=2)
            ax.axvline(2 ** (results["weight_bits"] - 1) + 1, color="gray", lw=0.8)
        elif X_LIN[axis] is not None:
            ax.set_xscale("symlog", linthresh=X_LIN[axis])
            ax.set_xlim(0, x.max() * 1.3)
        for (xv, name), c in zip(X_REFS[axis], ("tab:orange", "tab:brown")):
            ax.axvline(xv, color=c, lw=1.2, alpha=0.8)
            ax.text(xv, 0.03, " " + name, rotation=90, fontsize=7, color=c, va="bottom")
        ax.set_xlabel(sw["label"])
        ax.set_ylabel("test accuracy")
        ax.set_ylim(0, 1.02)
        ax.grid(alpha=0.3)
    axs.flat[axes_names.index("stuck")].legend(fontsize=7, loc="lower left")
    last = axs.flat[len(axes_names)]
    cal = results["calibration"]
    if cal:
        x = np.arange(len(cal))
        last.plot(x, [np.mean(r["raw"]) for r in cal], "o-", label="device variation, raw")
        last.plot(x, [np.mean(r["calibrated"]) for r in cal], "s-",
                  label="after in-the-loop calibration")
        last.axhline(results["acc_digital_snn"], color="k", ls="--", label="digital core")
        last.set_xticks(x)
        last.set_xticklabels([f"{r['value']:g}" for r in cal])
        last.set_xlabel("device-to-device variation σ")
        last.set_ylabel("test accuracy")
        last.set_ylim(0, 1.02)
        last.legend(fontsize=7, loc="lower left")
        last.grid(alpha=0.3)
    else:
        last.axis("off")
    fig.suptitle(f"8x8 digits on one crossbar core: 64 axons x 10 neurons, "
                 f"{results['weight_bits']}-bit weights, T = {results['T']} steps, "
                 f"{results['test_images']} test images")
    fig.tight_layout()
    fig.savefig(out / "crossbar_study.png", dpi=100)
    plt.close(fig)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("-o", "--out", type=Path, default=Path("out/crossbar_study"))
    ap.add_argument("--quick", action="store_true", help="a small run (tests)")
    ap.add_argument("--seeds", type=int, default=2)
    ap.add_argument("--no-calibrate", action="store_true")
    a = ap.parse_args(argv)
    r = run(a.out, quick=a.quick, seeds=a.seeds, do_calibrate=not a.no_calibrate)
    print(f"float {r['acc_float']:.3f}  digital SNN {r['acc_digital_snn']:.3f}  ideal crossbar "
          f"{r['acc_ideal_crossbar']:.3f}  ({r['seconds']} s) -> {a.out}")


if __name__ == "__main__":
    main()
