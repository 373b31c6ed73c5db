"""On-chip STDP learns a spike pattern hidden in random background activity (issue 4 b).

One learning core (``CoreParams(learning=True)``): 64 input axons firing as Poisson noise,
four independent ``cuba`` neurons (a single core has no recurrent connections, so there is
no lateral inhibition and no winner-take-all: every neuron learns on its own). A fixed
spatio-temporal pattern -- 15 of the axons, 5 firing at each step of a 3-step window -- is
inserted at random times (in 1 of 4 slots of 8 steps) while the background goes on (the
pattern axons' background is lowered so that every axon has the same mean rate). Three
phases, each a run of the golden model started from the state the previous one ended in:

1. ``before``: learning off (``stdp["learn_en"] = 0``, weights frozen), the learned pattern
   and a *novel* control pattern (same statistics, never shown during learning) each in
   1 of 4 slots: hit rates and false-alarm rates of the initial weights;
2. ``learn``: learning on, the pattern in 1 of 4 slots;
3. ``after``: as ``before``, with the learned weights frozen.

Hit rate: fraction of presentations during which a neuron fires (in the 3-step window or
the 2 steps after it). False alarms: spikes per step outside every response window, and the
fraction of pattern-free slots with a spike in their first 5 steps (comparable to a hit
rate). The learning phase (or all three) is then run on the generated Verilog (Verilator by
default) and compared with the golden model at zero tolerance: spikes, u, v, and every
weight and trace after every step.

Usage::

    .venv/bin/python examples/stdp_pattern.py [--steps N] [--seed S]
        [--sim verilator|icarus|golden-only] [--rtl-phases learn|all] [-o DIR]
    .venv/bin/python examples/stdp_pattern.py --robustness 50 --seed 100   # other seeds

Writes ``stdp_pattern_weights.png`` and ``stdp_pattern_raster.png`` to the output folder.
See docs/stdp_demos.md.
"""

import argparse
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from tqdm import tqdm

from spikefab.rtl.image import CoreImage
from spikefab.rtl.params import CoreParams
from spikefab.sim.golden import CoreModel
from spikefab.sim.trace import first_divergence


# --- the experiment ----------------------------------------------------------------------

@dataclass
class Setup:
    """Everything that defines one run of the demonstration (defaults: the documented run)."""
    axons: int = 64                 # A
    neurons: int = 4                # N, independent (no lateral inhibition on one core)
    lanes: int = 4
    weight_bits: int = 8            # weights used in 0..127 (w_min = 0: excitatory only)
    pattern_axons: int = 15         # K axons in the pattern, each firing once
    window: int = 3                 # W, steps the pattern lasts
    slot: int = 8                   # pattern onsets are on a grid of slots of this length
    p_pattern: float = 0.25         # probability that a slot carries a pattern
    rate: float = 0.05              # background: spike probability per axon per step
    slack: int = 2                  # a response counts up to this many steps after the window
    learn_steps: int = 2000
    measure_steps: int = 1600
    w_init: int = 40                # initial weights: uniform in w_init +- w_spread
    w_spread: int = 10
    neuron: dict = field(default_factory=lambda: dict(
        du=4095,                    # u = a_in << 6 exactly: no synaptic current memory
        dv=1024,                    # v keeps 3/4 of its value per step
        vth=1020))                  # fires when v > 1020 << 6: 5 inputs of 127, then 5
                                    # more a step later (1111) are enough, 9 at once too
    stdp: dict = field(default_factory=lambda: dict(
        k_pre=2, k_post=2,          # traces keep 3/4 per step
        imp_pre=128, imp_post=128,
        a_plus=16, a_minus=32,      # depression twice as strong as potentiation
        s_plus=8, s_minus=8,        # same-step pair: dw = +(16 * 128) >> 8 = +8
        w_min=0, w_max=127))

    def params(self):
        return CoreParams(neurons=self.neurons, axons=self.axons, lanes=self.lanes,
                          weight_bits=self.weight_bits, acc_bits=20, max_step_events=255,
                          learning=True, trace_bits=8)


def make_pattern(rng, s: Setup):
    """A pattern: K distinct random axons (sorted) and the offset of each one's spike in
    0..W-1, the offsets spread evenly (K/W axons per step of the window, in random order)."""
    axons = np.sort(rng.choice(s.axons, s.pattern_axons, replace=False))
    return axons, rng.permutation(np.arange(s.pattern_axons) % s.window)


def phase_inputs(rng, s: Setup, steps, patterns):
    """Per-step hit counts [steps, A] (0/1) and the onsets of each pattern.

    ``patterns`` maps a name to ``(axons, offsets, probability per slot)``; at most one
    pattern per slot, starting at the slot's first step. The background never stops: every
    axon fires with probability ``rate`` per step, except that an axon of a pattern shown
    with probability p per slot has its background lowered by p / slot (once per pattern it
    belongs to), so that every axon has the same mean rate and the pattern axons cannot be
    told apart by how busy they are. A pattern spike on top of a background spike is one
    spike."""
    A = s.axons
    rate = np.full(A, s.rate)
    for axons, _, p in patterns.values():
        rate[axons] -= p / s.slot
    rate = np.clip(rate, 0.0, 1.0)
    hits = rng.random((steps, A)) < rate
    n_slots = steps // s.slot
    u = rng.random(n_slots)
    onsets = {}
    lo = 0.0
    for name, (axons, offsets, p) in patterns.items():
        starts = np.flatnonzero((u >= lo) & (u < lo + p)) * s.slot
        lo += p
        for t0 in starts:
            hits[t0 + offsets, axons] = True
        onsets[name] = starts
    return hits.astype(np.int64), onsets


def response_metrics(spikes, onsets, s: Setup):
    """Hit rate per pattern and neuron; false alarms per step and per pattern-free slot."""
    T, N = spikes.shape
    span = s.window + s.slack
    covered = np.zeros(T, bool)
    out = {"hit": {}, "presentations": {}}
    for name, starts in onsets.items():
        starts = starts[starts + span <= T]
        resp = np.array([spikes[t0:t0 + span].any(0) for t0 in starts]).reshape(-1, N)
        out["hit"][name] = resp.mean(0)
        out["presentations"][name] = len(starts)
        for t0 in starts:
            covered[t0:t0 + span] = True
    out["fa_step"] = spikes[~covered].mean(0)
    busy = set(int(t) for st in onsets.values() for t in st)
    free = [t0 for t0 in range(0, T - span + 1, s.slot) if t0 not in busy]
    out["fa_window"] = np.array([spikes[t0:t0 + span].any(0) for t0 in free]).reshape(-1, N).mean(0)
    out["free_windows"] = len(free)
    out["spikes_per_step"] = spikes.mean(0)
    return out


def next_image(img, trace, stdp):
    """The image of the state a run ended in (weights, traces, neuron state), with new STDP
    registers: how a host would switch learning on or off between phases."""
    state = {"u": trace.u[-1], "v": trace.v[-1]}
    if "refr_cnt" in trace.extra:
        state["refr_cnt"] = trace.extra["refr_cnt"][-1]
    return CoreImage(params=img.params, weights=trace.extra["weights"][-1], w_exp=img.w_exp,
                     neuron_params=img.neuron_params, profile_index=img.profile_index,
                     state=state, stdp=stdp, plastic=img.plastic,
                     x=trace.extra["x"][-1], y=trace.extra["y"][-1])


@dataclass
class Phase:
    name: str
    image: CoreImage                # the state the phase starts from, with its STDP registers
    inputs: np.ndarray              # [steps, A] hit counts
    onsets: dict
    trace: object = None            # golden Trace
    metrics: dict = None


def run_protocol(s: Setup, seed, progress=True):
    """Build the core and the inputs, run the three phases on the golden model."""
    rng = np.random.default_rng(seed)
    p = s.params()
    learned = make_pattern(rng, s)
    novel = make_pattern(rng, s)
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
        inputs, onsets = phase_inputs(rng, s, steps, pats)
        if phases:
            img = next_image(img, phases[-1].trace, {**regs, "learn_en": learn_en})
        ph = Phase(name, img, inputs, onsets)
        model = CoreModel(img)
        ph.trace = (_run_with_bar(model, inputs, steps, f"golden {name:6}") if progress
                    else model.run(inputs, steps))
        ph.metrics = response_metrics(ph.trace.spikes, onsets, s)
        phases.append(ph)
    return {"setup": s, "seed": seed, "params": p, "learned": learned, "novel": novel,
            "phases": phases}


def _run_with_bar(model, inputs, steps, desc, chunk=100):
    """``model.run`` in chunks (it continues from its state), with a progress bar; the
    chunks are joined into one trace."""
    from spikefab.sim.trace import Trace
    parts = []
    with tqdm(total=steps, desc=desc, unit="step") as bar:
        for t0 in range(0, steps, chunk):
            t1 = min(steps, t0 + chunk)
            parts.append(model.run(inputs[t0:t1], t1 - t0))
            bar.update(t1 - t0)
    first = parts[0]
    extra = {k: np.concatenate([pt.extra[k] for pt in parts]) for k in first.extra}
    return Trace(np.concatenate([pt.spikes for pt in parts]),
                 np.concatenate([pt.u for pt in parts]), np.concatenate([pt.v for pt in parts]),
                 extra=extra, neurons_per_core=first.neurons_per_core, meta=first.meta)


# --- the RTL run -------------------------------------------------------------------------

def run_rtl(result, simulator, phases=("learn",), chunk=500):
    """Run the chosen phases on the generated Verilog and compare with the golden model.

    Each phase is cut into chunks of ``chunk`` steps (for the progress bar): a chunk starts
    from the image of the golden state at its first step, and its RTL trace must equal the
    golden trace of those steps exactly (spikes, u, v, weights, x, y after every step).
    A chunk boundary is where the golden model's phases are joined too: the next chunk
    starts from exactly the state the RTL ended in (that state is part of the compared
    trace). Returns ``(divergences, simulation seconds, build seconds, steps,
    {phase: clocks of each step})``."""
    from spikefab.sim.runner import Stimulus, build_blank, run_bench
    p = result["params"]
    t0 = time.time()
    print(f"building the core for {simulator} (cached after the first time) ...", flush=True)
    build_blank(CoreImage(p), simulator)
    t_build = time.time() - t0
    jobs = []
    for ph in result["phases"]:
        if ph.name not in phases:
            continue
        tr = ph.trace
        img = ph.image
        for a in range(0, len(ph.inputs), chunk):
            b = min(len(ph.inputs), a + chunk)
            if a:
                img = next_image(img, _slice(tr, a - 1, a), ph.image.stdp)
            jobs.append((ph.name, a, img, ph.inputs[a:b], _slice(tr, a, b)))
    steps = sum(len(j[3]) for j in jobs)
    divergences = []
    cycles = {}
    t1 = time.time()
    with tqdm(total=steps, desc=f"{simulator}", unit="step") as bar:
        for name, a, img, inputs, expected in jobs:
            got, = run_bench([(img, inputs, len(inputs), Stimulus(readback=False))],
                             simulator)
            div = first_divergence(expected, got)
            if div is not None:
                divergences.append(f"{name} phase, steps from {a}: {div}")
            cycles.setdefault(name, []).extend(got.meta["cycles"])
            bar.update(len(inputs))
    return divergences, time.time() - t1, t_build, steps, cycles


def _slice(trace, a, b):
    from spikefab.sim.trace import Trace
    return Trace(trace.spikes[a:b], trace.u[a:b], trace.v[a:b],
                 extra={k: v[a:b] for k, v in trace.extra.items()},
                 neurons_per_core=trace.neurons_per_core, meta=trace.meta)


# --- report ------------------------------------------------------------------------------

def selective(m, margin=0.8):
    """Neurons whose hit rate on the learned pattern exceeds both their hit rate on the
    novel pattern and their false-alarm rate per pattern-free slot by ``margin``."""
    other = np.maximum(m["hit"]["novel"], m["fa_window"])
    return m["hit"]["learned"] - other >= margin


def weight_summary(w, learned_axons):
    pat = np.zeros(len(w), bool)
    pat[learned_axons] = True
    return w[pat].mean(), w[~pat].mean()


def report(result):
    s, ph = result["setup"], {p.name: p for p in result["phases"]}
    before, after = ph["before"].metrics, ph["after"].metrics
    L, off = result["learned"]
    Nv, _ = result["novel"]
    N = s.neurons

    def row(label, key, sub=None, fmt="{:.2f}"):
        vals = []
        for m in (before, after):
            v = m[key][sub] if sub else m[key]
            vals.append(fmt.format(v.mean()) + "  [" + " ".join(fmt.format(x) for x in v) + "]")
        return f"  {label:34} {vals[0]:36} {vals[1]}"

    lines = [
        f"seed {result['seed']}: {s.axons} axons, {N} neurons; pattern of {s.pattern_axons} axons "
        f"in {s.window} steps, in 1 of {round(1 / s.p_pattern)} slots of {s.slot} steps; "
        f"background {s.rate} spikes/axon/step",
        f"  learned pattern axons {L.tolist()} (offsets {off.tolist()})",
        f"  novel (control) axons {Nv.tolist()}, {len(np.intersect1d(L, Nv))} shared",
        f"  {'':34} {'before learning (mean [per neuron])':36} after learning",
        row("hit rate, learned pattern", "hit", "learned"),
        row("hit rate, novel pattern", "hit", "novel"),
        row("false alarms per step", "fa_step", fmt="{:.3f}"),
        row("false alarms per free slot", "fa_window"),
        f"  presentations: learned {before['presentations']['learned']} / "
        f"{after['presentations']['learned']}, novel {before['presentations']['novel']} / "
        f"{after['presentations']['novel']}, pattern-free slots {before['free_windows']} / "
        f"{after['free_windows']}",
    ]
    w0 = ph["learn"].image.weights
    w1 = ph["learn"].trace.extra["weights"][-1]
    (a0, b0), (a1, b1) = weight_summary(w0, L), weight_summary(w1, L)
    lines.append(f"  mean weight, pattern axons {a0:.1f} -> {a1:.1f}; other axons {b0:.1f} -> {b1:.1f}")
    for k in range(s.window):
        sel = L[off == k]
        lines.append(f"    pattern axons at offset {k}: mean weight {w0[sel].mean():.1f} -> "
                     f"{w1[sel].mean():.1f}")
    sel = selective(after)
    lines.append(f"  selective neurons after learning: {int(sel.sum())} of {N} "
                 f"(before: {int(selective(before).sum())})")
    return "\n".join(lines)


# --- figures -----------------------------------------------------------------------------

OFFSET_COLORS = ("#d62728", "#ff7f0e", "#e377c2", "#8c564b", "#9467bd", "#17becf")


def plot_weights(result, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D

    s, ph = result["setup"], {p.name: p for p in result["phases"]}
    L, off = result["learned"]
    Nv, _ = result["novel"]
    w0 = ph["learn"].image.weights
    wt = ph["learn"].trace.extra["weights"]
    w1 = wt[-1]
    lo, hi = s.stdp["w_min"], s.stdp["w_max"]
    fig = plt.figure(figsize=(12.5, 6.4))
    gs = fig.add_gridspec(2, 5, width_ratios=[1, 1, 0.07, 0.55, 2.6], height_ratios=[1, 1],
                          wspace=0.3, hspace=0.5)
    for col, (w, title) in enumerate(((w0, "weights before"), (w1, "after learning"))):
        ax = fig.add_subplot(gs[:, col])
        im = ax.imshow(w, aspect="auto", cmap="viridis", vmin=lo, vmax=hi,
                       interpolation="nearest")
        ax.set_title(title, fontsize=10)
        ax.set_xticks(range(s.neurons))
        ax.set_xlabel("neuron")
        if col == 0:
            ax.set_ylabel("axon")
        for a, o in zip(L, off):
            ax.plot(-0.78, a, marker=">", color=OFFSET_COLORS[o % len(OFFSET_COLORS)],
                    ms=6, clip_on=False)
        if col == 1:
            for a in Nv:
                ax.plot(s.neurons - 0.22, a, marker="<", color="0.35", ms=4, clip_on=False,
                        mfc="none")
        ax.set_xlim(-0.5, s.neurons - 0.5)
    cax = fig.add_subplot(gs[:, 2])
    fig.colorbar(im, cax=cax, label="weight")
    handles = [Line2D([], [], marker=">", ls="", color=OFFSET_COLORS[k],
                      label=f"pattern axon, spike at offset {k}") for k in range(s.window)]
    handles.append(Line2D([], [], color="0.4", label="other axons (line: mean)"))
    handles.append(Line2D([], [], marker="<", ls="", color="0.35", mfc="none",
                          label="axon of the novel control pattern"))
    # weight evolution during learning
    ax = fig.add_subplot(gs[0, 4])
    t = np.arange(1, len(wt) + 1)
    other = np.setdiff1d(np.arange(s.axons), L)
    for k in range(s.window):
        m = wt[:, L[off == k], :].mean(1)
        for n in range(s.neurons):
            ax.plot(t, m[:, n], color=OFFSET_COLORS[k], lw=0.9, alpha=0.8)
    m = wt[:, other, :].mean(1)
    for n in range(s.neurons):
        ax.plot(t, m[:, n], color="0.4", lw=0.9, alpha=0.8)
    ax.set_xlim(0, len(wt))
    ax.set_ylim(lo - 3, hi + 3)
    ax.set_xlabel("learning step")
    ax.set_ylabel("mean weight")
    ax.set_title("during learning: mean weight of the pattern axons by spike offset, and of "
                 "the others\n(one line per neuron)", fontsize=9)
    ax.legend(handles=handles, fontsize=7, loc="center right", framealpha=0.95)
    # hit / false alarm bars
    ax = fig.add_subplot(gs[1, 4])
    before, after = ph["before"].metrics, ph["after"].metrics
    labels = ["hit rate,\nlearned pattern", "hit rate,\nnovel pattern",
              "false alarms\nper free slot", "false alarms\nper step"]
    vals = [(m["hit"]["learned"], m["hit"]["novel"], m["fa_window"], m["fa_step"])
            for m in (before, after)]
    x = np.arange(len(labels))
    for j, (name, color) in enumerate((("before learning", "0.6"), ("after learning", "#2166ac"))):
        means = [v.mean() for v in vals[j]]
        xs = x + (j - 0.5) * 0.36
        bars = ax.bar(xs, means, 0.34, color=color, label=name)
        for xi, v in zip(xs, vals[j]):
            ax.plot(np.full(len(v), xi), v, "k.", ms=3)
        for k, (b, mval) in enumerate(zip(bars, means)):
            fmt = "{:.3f}" if k == 3 else "{:.2f}"
            ax.text(b.get_x() + b.get_width() / 2, mval + 0.03, fmt.format(mval),
                    ha="center", fontsize=7)
    ax.set_xticks(x, labels, fontsize=8)
    ax.set_ylim(0, 1.15)
    ax.set_ylabel("bars: mean, dots: neurons", fontsize=8)
    ax.legend(fontsize=8, loc="upper right")
    ax.set_title(f"measured with learning off: {before['presentations']['learned']} / "
                 f"{after['presentations']['learned']} presentations of each pattern, "
                 f"{before['free_windows']} / {after['free_windows']} free slots",
                 fontsize=9)
    fig.suptitle(f"On-chip STDP learns a hidden spike pattern: {s.axons} axons x "
                 f"{s.neurons} independent cuba neurons, seed {result['seed']}", fontsize=11)
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)
    return path


def plot_raster(result, path, span=96):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    s, ph = result["setup"], {p.name: p for p in result["phases"]}
    L, off = result["learned"]
    Nv, noff = result["novel"]
    vth = s.neuron["vth"]
    span = min(span, s.measure_steps)
    fig, axes = plt.subplots(3, 2, figsize=(12, 7.5), sharex="col",
                             gridspec_kw={"height_ratios": [3, 0.8, 1.2], "hspace": 0.08,
                                          "wspace": 0.12})
    for col, (name, a) in enumerate((("before", 0),
                                     ("after", s.measure_steps - span))):
        phase = ph[name]
        b = a + span
        inp = phase.inputs[a:b]
        tr = phase.trace
        m = phase.metrics
        ax_in, ax_out, ax_v = axes[:, col]
        pat_mask = np.zeros_like(inp, bool)
        for pname, (axons, offsets), color in (("learned", (L, off), "#d6604d"),
                                               ("novel", (Nv, noff), "#4393c3")):
            for t0 in phase.onsets[pname]:
                if a <= t0 < b:
                    for ax in (ax_in, ax_out, ax_v):
                        ax.axvspan(t0 - a - 0.5, t0 - a + s.window - 0.5, color=color,
                                   alpha=0.15, lw=0)
                    pat_mask[t0 - a + offsets, axons] = True
                    ax_in.scatter(t0 - a + offsets, axons, s=9, color=color, zorder=3)
        tt, aa = np.nonzero(inp & ~pat_mask)
        ax_in.scatter(tt, aa, s=3, color="0.35", zorder=2)
        for ax_ in (ax_in,):
            for ax0 in L:
                ax_.plot(-2.2, ax0, marker=">", color="#d6604d", ms=3, clip_on=False)
        ax_in.set_ylim(-1, s.axons)
        ax_in.set_xlim(-0.5, span - 0.5)
        t_sp, n_sp = np.nonzero(tr.spikes[a:b])
        ax_out.scatter(t_sp, n_sp, marker="|", s=80, color="k")
        ax_out.set_ylim(-0.7, s.neurons - 0.3)
        ax_out.set_yticks(range(s.neurons))
        ax_v.plot(np.arange(span), tr.v[a:b, 0] / 64, color="k", lw=0.9)
        ax_v.axhline(vth, color="#b2182b", ls="--", lw=0.8)
        ax_v.text(span - 1, vth, "threshold", color="#b2182b", fontsize=7, ha="right",
                  va="bottom")
        spk = np.flatnonzero(tr.spikes[a:b, 0])
        ax_v.plot(spk, np.full(len(spk), vth), "v", color="k", ms=5)
        ax_v.set_xlabel(f"step of the '{name}' phase, from {a}")
        ttl = (f"{name} learning: hit rate {m['hit']['learned'].mean():.2f} learned, "
               f"{m['hit']['novel'].mean():.2f} novel; false alarms "
               f"{m['fa_step'].mean():.3f}/step")
        ax_in.set_title(ttl, fontsize=9)
        if col == 0:
            ax_in.set_ylabel("input axon")
            ax_out.set_ylabel("neuron")
            ax_v.set_ylabel("v / 64 of neuron 0\n(0 after a spike, \u25bc)", fontsize=8)
    fig.suptitle("Input spikes (red: learned pattern, blue: novel control pattern, grey: "
                 "background; \u25b8 pattern axons) and output spikes, learning off", fontsize=10)
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)
    return path


# --- command line ------------------------------------------------------------------------

def robustness(setup, seeds):
    """Golden model only: the whole protocol for each seed (new pattern, control, initial
    weights and inputs); per seed the mean rates after learning and the selective neurons."""
    rows = []
    for seed in tqdm(seeds, desc="seeds", unit="seed"):
        r = run_protocol(setup, seed, progress=False)
        b, a = r["phases"][0].metrics, r["phases"][2].metrics
        rows.append((seed, b["hit"]["learned"].mean(), a["hit"]["learned"].mean(),
                     a["hit"]["novel"].mean(), a["fa_step"].mean(), a["fa_window"].mean(),
                     int(selective(a).sum())))
    print(f"{'seed':>5} {'hit before':>10} {'hit after':>9} {'novel after':>11} "
          f"{'FA/step after':>13} {'FA/slot after':>13} {'selective':>9}")
    for seed, hb, ha, hn, fs, fw, sel in rows:
        print(f"{seed:5d} {hb:10.2f} {ha:9.2f} {hn:11.2f} {fs:13.3f} {fw:13.2f} "
              f"{sel:6d}/{setup.neurons}")
    arr = np.array([r[1:] for r in rows])
    n_sel = int(arr[:, 5].sum())
    print(f"mean over {len(rows)} seeds: hit {arr[:, 0].mean():.2f} -> {arr[:, 1].mean():.2f}, "
          f"novel after {arr[:, 2].mean():.2f}, FA/step after {arr[:, 3].mean():.4f}; "
          f"selective neurons {n_sel} of {len(rows) * setup.neurons}")
    return rows


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=Setup.learn_steps,
                    help="steps of the learning phase (default %(default)s)")
    ap.add_argument("--measure-steps", type=int, default=Setup.measure_steps,
                    help="steps of each measurement phase (default %(default)s)")
    ap.add_argument("--seed", type=int, default=1, help="random seed (default %(default)s)")
    ap.add_argument("--sim", choices=("verilator", "icarus", "golden-only"),
                    default="verilator", help="RTL simulator for the identity check")
    ap.add_argument("--rtl-phases", choices=("learn", "all"), default="learn",
                    help="phases run on the RTL: the learning phase (default, about 2 "
                         "minutes on Verilator) or all three (about 4.5 minutes)")
    ap.add_argument("-o", "--out", type=Path, default=Path("examples_out") / "stdp_pattern",
                    help="folder for the figures (default examples_out/stdp_pattern; "
                         "docs/img refreshes the documentation's figures)")
    ap.add_argument("--robustness", type=int, default=0, metavar="K",
                    help="instead: golden model only, seeds SEED..SEED+K-1, a table of the "
                         "rates after learning and of the selective neurons")
    args = ap.parse_args(argv)
    if args.steps < 1:
        ap.error(f"--steps {args.steps}: the learning phase needs at least 1 step")
    if args.measure_steps < Setup.slot:
        ap.error(f"--measure-steps {args.measure_steps}: a measurement phase needs at least "
                 f"one slot of {Setup.slot} steps")
    setup = Setup(learn_steps=args.steps, measure_steps=args.measure_steps)
    if args.robustness:
        robustness(setup, range(args.seed, args.seed + args.robustness))
        return 0

    t0 = time.time()
    result = run_protocol(setup, args.seed)
    t_golden = time.time() - t0
    print(report(result))
    print(f"golden model: {sum(len(p.inputs) for p in result['phases'])} steps in "
          f"{t_golden:.1f} s")
    args.out.mkdir(parents=True, exist_ok=True)
    for f in (plot_weights(result, args.out / "stdp_pattern_weights.png"),
              plot_raster(result, args.out / "stdp_pattern_raster.png")):
        print(f"wrote {f}")
    if args.sim == "golden-only":
        return 0
    phases = ("learn",) if args.rtl_phases == "learn" else ("before", "learn", "after")
    divergences, seconds, t_build, steps, cycles = run_rtl(result, args.sim, phases)
    if divergences:
        print(f"RTL ({args.sim}) DIFFERS from the golden model:")
        for d in divergences:
            print(f"  {d}")
        return 1
    print(f"RTL ({args.sim}): {steps} steps of the {' + '.join(phases)} phase"
          f"{'s' if len(phases) > 1 else ''} identical to the golden model (spikes, u, v, "
          f"every weight and trace after every step); {seconds:.0f} s of simulation "
          f"({steps / seconds:.1f} steps/s), {t_build:.0f} s to build or find the build")
    for name, c in cycles.items():
        print(f"  clocks per step of the core ({name}, events in to step done, without the "
              f"bench's read-back): mean {np.mean(c):.1f}, max {max(c)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
