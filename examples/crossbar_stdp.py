"""STDP through a memristor's non-linear update law against the ideal digital rule (issue 10,
item 5): the pattern-learning demonstration of examples/stdp_pattern.py run both ways.

The protocol, inputs and seed are those of ``stdp_pattern.py`` (64 axons, 4 independent
``cuba`` neurons, a hidden 15-axon pattern; phases ``before`` (learning off), ``learn`` and
``after`` (learning off)). One :class:`~spikefab.sim.golden.CoreModel` runs the three phases
in a row (the host switches ``learn_en`` between them), once with the digital synapse
memory and once per crossbar variant, with its synapses on
:class:`~spikefab.sim.crossbar_synapses.CrossbarCoreSynapses`:

- ``ideal``: every non-ideality off, 129 levels (bit-exact with the digital run: checked);
- ``non-linear law``: the NeuroSim-style exponential SET/RESET law of preset
  ``rram_neurosim`` (A/P_max 0.3 SET, 0.15 RESET, 10 % device-to-device spread of A), no
  update noise, 129 levels, reads ideal: only the programming differs;
- ``update noise``: the linear law with the preset's cycle-to-cycle update noise (3.5 % of
  the range times the square root of the pulse count);
- ``law + noise``: both;
- ``rram_neurosim``: the whole preset (97 levels, read noise 2.89 %, D2D 10 %, 1 Ω wires).

The golden model sends every step's LTD and LTP changes as separate requests
(docs/network_golden.md), the adapter turns them into pulses through the device law; the
STDP rule clamps against the digital view (the targets), the array holds what the devices
reached. Reported per variant: hit rate of the learned pattern and of a novel control
pattern after learning, false alarms, the number of selective neurons, and the mean
*device* weight of the pattern's axons and of the others.

Usage::

    .venv/bin/python examples/crossbar_stdp.py [-o out/crossbar_stdp] [--seed 1] [--quick]

Writes ``results.json`` and ``crossbar_stdp.png`` to the output folder. See
docs/crossbar_study.md.
"""

import argparse
import importlib.util
import json
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from spikefab.rtl.image import CoreImage
from spikefab.sim.crossbar import ArrayParams, DeviceParams, preset
from spikefab.sim.crossbar_synapses import CrossbarCoreSynapses
from spikefab.sim.golden import CoreModel


def _pattern_module():
    path = Path(__file__).resolve().parent / "stdp_pattern.py"
    spec = importlib.util.spec_from_file_location("stdp_pattern", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def variants():
    base = DeviceParams(levels=129)
    law = replace(base, nl_set=0.3, nl_reset=0.15, d2d_nl=0.1)
    dev, arr = preset("rram_neurosim")
    return {"ideal": (base, ArrayParams()),
            "non-linear law": (law, ArrayParams()),
            "update noise": (replace(base, c2c_update=0.035), ArrayParams()),
            "law + noise": (replace(law, c2c_update=0.035), ArrayParams()),
            "rram_neurosim": (dev, arr)}


def build(sp, s, seed):
    """The image (learning off) and the three phases' inputs, as stdp_pattern.py builds
    them for this seed."""
    rng = np.random.default_rng(seed)
    p = s.params()
    learned = sp.make_pattern(rng, s)
    novel = sp.make_pattern(rng, s)
    par = {k: np.full(s.neurons, d) for k, d in p.param_defaults().items()}
    for k, v in s.neuron.items():
        par[k][:] = v
    lo, hi = s.stdp["w_min"], s.stdp["w_max"]
    w0 = np.clip(s.w_init + rng.integers(-s.w_spread, s.w_spread + 1, (s.axons, s.neurons)),
                 lo, hi)
    regs = {**p.stdp_defaults(), **s.stdp}
    img = CoreImage(params=p, weights=w0, neuron_params=par, stdp={**regs, "learn_en": 0})
    q = s.p_pattern
    plan = [("before", 0, s.measure_steps, {"learned": (*learned, q), "novel": (*novel, q)}),
            ("learn", 1, s.learn_steps, {"learned": (*learned, q)}),
            ("after", 0, s.measure_steps, {"learned": (*learned, q), "novel": (*novel, q)})]
    phases = []
    for name, learn_en, steps, pats in plan:
        inputs, onsets = sp.phase_inputs(rng, s, steps, pats)
        phases.append((name, learn_en, inputs, onsets))
    return img, phases, learned[0]


def run_variant(sp, s, img, phases, synapses):
    m = CoreModel(img, synapses=synapses)
    out = {}
    for name, learn_en, inputs, onsets in phases:
        m.stdp["learn_en"] = learn_en
        tr = m.run(inputs)
        out[name] = (tr, sp.response_metrics(tr.spikes, onsets, s))
    return m, out


def run(out, seed=1, quick=False):
    t0 = time.time()
    sp = _pattern_module()
    s = sp.Setup()
    if quick:
        s = replace(s, learn_steps=400, measure_steps=320)
    img, phases, pat_axons = build(sp, s, seed)
    pat = np.zeros(s.axons, bool)
    pat[pat_axons] = True

    results = {"seed": seed, "learn_steps": s.learn_steps, "measure_steps": s.measure_steps,
               "variants": {}}
    digital_m, digital = run_variant(sp, s, img, phases, None)
    runs = {"digital": (digital_m, digital)}
    for name, (dev, arr) in variants().items():
        syn = CrossbarCoreSynapses.from_image(img, dev, arr, seed=seed)
        runs[name] = run_variant(sp, s, img, phases, syn)
    # the ideal crossbar is the digital core, bit for bit, learning included
    for ph in ("before", "learn", "after"):
        a, b = runs["digital"][1][ph][0], runs["ideal"][1][ph][0]
        assert np.array_equal(a.spikes, b.spikes) and np.array_equal(a.v, b.v), ph
        assert np.array_equal(a.extra["weights"], b.extra["weights"]), ph
    for name, (m, res) in runs.items():
        w_dev = (m.synapses.device_weights() if name != "digital" else m.weights)
        after = res["after"][1]
        sel = [bool(after["hit"]["learned"][n] - max(after["hit"]["novel"][n],
                                                    after["fa_window"][n]) >= 0.8)
               for n in range(s.neurons)]
        results["variants"][name] = {
            "hit_learned": after["hit"]["learned"].tolist(),
            "hit_novel": after["hit"]["novel"].tolist(),
            "fa_window": after["fa_window"].tolist(),
            "selective": int(sum(sel)),
            "w_pattern": float(w_dev[pat].mean()), "w_other": float(w_dev[~pat].mean()),
            "w_target_pattern": float(m.weights[pat].mean()),
            "w_target_other": float(m.weights[~pat].mean()),
            "weights": np.asarray(w_dev).tolist(),
        }
        v = results["variants"][name]
        print(f"{name:14s} hit learned {np.round(v['hit_learned'], 2)} novel "
              f"{np.round(v['hit_novel'], 2)} selective {v['selective']}/{s.neurons}  "
              f"w pattern {v['w_pattern']:.1f} other {v['w_other']:.1f}", flush=True)
    results["pattern_axons"] = np.flatnonzero(pat).tolist()
    results["seconds"] = round(time.time() - t0, 1)
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps(results, indent=1))
    plot(results, out)
    return results


def plot(results, out):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(results["variants"])
    fig, axs = plt.subplots(2, (len(names) + 2) // 2, figsize=(4.2 * ((len(names) + 2) // 2), 7.5))
    axs = axs.flat
    pat = np.zeros(len(results["variants"][names[0]]["weights"]), bool)
    pat[results["pattern_axons"]] = True
    order = np.concatenate([np.flatnonzero(pat), np.flatnonzero(~pat)])
    for ax, name in zip(axs, names):
        w = np.array(results["variants"][name]["weights"])[order]
        ax.imshow(w.T, aspect="auto", vmin=0, vmax=127, cmap="viridis",
                  interpolation="nearest")
        ax.axvline(pat.sum() - 0.5, color="w", lw=1)
        ax.set_title(f"{name}: weights after learning", fontsize=9)
        ax.set_xlabel("axon (pattern axons first)")
        ax.set_ylabel("neuron")
        ax.set_yticks(range(w.shape[1]))
    ax = axs[len(names)]
    for extra in axs[len(names) + 1:]:
        extra.axis("off")
    x = np.arange(len(names))
    hl = [np.mean(results["variants"][n]["hit_learned"]) for n in names]
    hn = [np.mean(results["variants"][n]["hit_novel"]) for n in names]
    fa = [np.mean(results["variants"][n]["fa_window"]) for n in names]
    ax.bar(x - 0.25, hl, 0.25, label="hit, learned pattern")
    ax.bar(x, hn, 0.25, label="hit, novel pattern")
    ax.bar(x + 0.25, fa, 0.25, label="false alarm (free slot)")
    ax.set_xticks(x)
    ax.set_xticklabels(names, rotation=20, fontsize=8)
    ax.set_ylim(0, 1.05)
    ax.set_title("after learning (mean of 4 neurons)", fontsize=9)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(out / "crossbar_stdp.png", dpi=100)
    plt.close(fig)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("-o", "--out", type=Path, default=Path("out/crossbar_stdp"))
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--quick", action="store_true", help="short phases (tests)")
    a = ap.parse_args(argv)
    r = run(a.out, seed=a.seed, quick=a.quick)
    print(f"({r['seconds']} s) -> {a.out}")


if __name__ == "__main__":
    main()
