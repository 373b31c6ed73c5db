"""Tests of the STDP golden model (sim/stdp.py, CoreModel with learning) and of its vocabulary
(CoreParams.learning, CoreImage's STDP fields, the STDP registers and regions).

Directed cases carry their arithmetic in comments (SPEC §3.5, docs/stdp.md). An independent
scalar reference, written here with plain Python ints and loops (no numpy), is compared with
the vectorised ``stdp_step`` on thousands of random inputs covering the full ranges.
"""

import os

import numpy as np
import pytest

from spikefab.rtl import layouts
from spikefab.rtl.image import CoreImage, ImageError
from spikefab.rtl.layouts import Reg, Region
from spikefab.rtl.params import CoreParams, ParamError, STDP_REG_NAMES
from spikefab.sim.golden import CoreModel, cuba_step, stdp_step, stdp_window, tdec


SEED = int(os.environ.get("SPIKEFAB_SEED", "20241122"))


@pytest.fixture
def rng():
    print(f"random seed: {SEED} (set SPIKEFAB_SEED to change)")
    return np.random.default_rng(SEED)


# =====================================================================================
# Independent scalar reference (plain Python ints, SPEC §3.5 read line by line)
# =====================================================================================

def r_tdec(x, k):
    if x > 0:
        return max(1, x >> k)
    return 0


def r_clamp(v, lo, hi):
    return lo if v < lo else hi if v > hi else v


def r_stdp(w, x, y, pre, post, plastic, regs, x_max):
    """w: list of lists [A][N]; x [A], y [N]; pre, post, plastic: lists of 0/1. New lists."""
    A, N = len(x), len(y)
    w = [list(row) for row in w]
    x, y = list(x), list(y)
    learn = regs["learn_en"] == 1
    for a in range(A):                                   # 1. decay
        x[a] = x[a] - r_tdec(x[a], regs["k_pre"])
    for n in range(N):
        y[n] = y[n] - r_tdec(y[n], regs["k_post"])
    for a in range(A):                                   # 2. LTD
        if learn and plastic[a] and pre[a]:
            for n in range(N):
                d = (regs["a_minus"] * y[n]) >> regs["s_minus"]
                w[a][n] = r_clamp(w[a][n] - d, regs["w_min"], regs["w_max"])
    for a in range(A):                                   # 3. pre impulse
        if pre[a]:
            x[a] = min(x_max, x[a] + regs["imp_pre"])
    for n in range(N):                                   # 4. LTP
        if learn and post[n]:
            for a in range(A):
                if plastic[a]:
                    d = (regs["a_plus"] * x[a]) >> regs["s_plus"]
                    w[a][n] = r_clamp(w[a][n] + d, regs["w_min"], regs["w_max"])
    for n in range(N):                                   # 5. post impulse
        if post[n]:
            y[n] = min(x_max, y[n] + regs["imp_post"])
    return w, x, y


# =====================================================================================
# Helpers
# =====================================================================================

X_MAX = 255
WR = (-128, 127)                     # weight_bits = 8
BASE = dict(learn_en=1, k_pre=2, k_post=2, imp_pre=100, imp_post=100, a_plus=16, a_minus=16,
            s_plus=4, s_minus=4, w_min=-128, w_max=127)


def step1(w, x, y, pre, post, plastic=None, x_max=X_MAX, wr=WR, **kw):
    """stdp_step on small lists; returns (w as lists, x list, y list)."""
    regs = {**BASE, **kw}
    w = np.array(w, np.int64)
    plastic = [1] * w.shape[0] if plastic is None else plastic
    w2, x2, y2 = stdp_step(w, np.array(x), np.array(y), np.array(pre, bool),
                           np.array(post, bool), np.array(plastic), regs, x_max, wr)
    return w2.tolist(), x2.tolist(), y2.tolist()


# =====================================================================================
# Directed cases on stdp_step
# =====================================================================================

def test_pre_and_post_same_step_is_causal():
    # x = y = 40, w = 0, k = 2, imp 100, a 16, s 4; axon hit and neuron spikes at this step.
    # 1 decay:  x = 40 - max(1, 40 >> 2 = 10) = 30;  y = 30
    # 2 LTD:    uses the decayed, OLD y (no post impulse yet): w = 0 - ((16*30) >> 4) = -30
    # 3 pre:    x = min(255, 30 + 100) = 130
    # 4 LTP:    sees the NEW x: w = -30 + ((16*130) >> 4) = -30 + 130 = 100
    # 5 post:   y = 30 + 100 = 130
    assert step1([[0]], [40], [40], [1], [1]) == ([[100]], [130], [130])
    # only the pre spike: LTD -30, no LTP
    assert step1([[0]], [40], [40], [1], [0]) == ([[-30]], [130], [30])
    # only the post spike: LTP with the decayed x = 30 -> (16*30) >> 4 = 30
    assert step1([[0]], [40], [40], [0], [1]) == ([[30]], [30], [130])
    # neither: only decay
    assert step1([[0]], [40], [40], [0], [0]) == ([[0]], [30], [30])


def test_ltd_and_ltp_cover_every_neuron_and_every_plastic_axon():
    # 2 axons x 3 neurons, y = [0, 8, 40] -> decayed [0, 6, 30]; axon 0 hit, neuron 2 spikes.
    # LTD on row 0: d = (16*y) >> 4 = y -> w[0] = [10-0, 10-6, 10-30] = [10, 4, -20]
    # x = [0, 20] -> decayed [0, 15]; x[0] = 0 + 100 = 100
    # LTP on column 2: w[0][2] = -20 + 100 = 80; w[1][2] = 10 + 15 = 25
    w, x, y = step1([[10, 10, 10], [10, 10, 10]], [0, 20], [0, 8, 40], [1, 0], [0, 0, 1])
    assert w == [[10, 4, 80], [10, 10, 25]]
    assert x == [100, 15] and y == [0, 6, 130]


def test_trace_saturation():
    # x = 250: decay 250 - (250 >> 2 = 62) = 188; + 100 = 288 -> saturates at x_max = 255
    # y likewise with k_post = 3: 250 - 31 = 219; + 100 -> 255
    _, x, y = step1([[0]], [250], [250], [1], [1], k_post=3, learn_en=0)
    assert x == [255] and y == [255]
    # trace_bits = 4 (x_max = 15), imp = 15 every step: 15 - max(1, 15 >> 3 = 1) = 14, +15 -> 15
    _, x, y = step1([[0]], [15], [15], [1], [1], x_max=15, imp_pre=15, imp_post=15,
                    k_pre=3, k_post=3)
    assert x == [15] and y == [15]
    # in a core driven every step, the trace sits at x_max from the first step on
    p = CoreParams(neurons=4, axons=2, lanes=4, learning=True, trace_bits=3)
    img = CoreImage(p, stdp=dict(imp_pre=7, k_pre=1), neuron_params={"vth": 0, "bias_mant": 1})
    tr = CoreModel(img).run([[0]] * 6)
    # x[0]: 0 -> 7 (first hit), then 7 - (7 >> 1 = 3) = 4, + 7 -> 7 every step
    assert tr.extra["x"][:, 0].tolist() == [7] * 6
    # x[1] never hit stays 0; y: every neuron spikes every step (v' = 1 > 0), imp_post
    # default x_max // 2 + 1 = 4, k_post default 2: 0 + 4 = 4 -> 4 - max(1, 1) + 4 = 7
    # -> 7 - max(1, 7 >> 2 = 1) + 4 = 10, saturated to 7, and so on
    assert tr.extra["x"][:, 1].tolist() == [0] * 6
    assert tr.extra["y"][:, 0].tolist() == [4, 7, 7, 7, 7, 7]


def test_clamps_at_w_min_and_w_max():
    # LTD: y = 20 -> 15; d = (10*15) >> 4 = 9; w = -3 - 9 = -12 -> clamped to w_min = -5
    w, _, _ = step1([[-3]], [0], [20], [1], [0], a_minus=10, w_min=-5, w_max=6)
    assert w == [[-5]]
    # LTP: x = 0 -> 0 + 50 = 50; d = (8*50) >> 3 = 50; w = 4 + 50 = 54 -> clamped to w_max = 6
    w, _, _ = step1([[4]], [0], [0], [1], [1], a_plus=8, s_plus=3, imp_pre=50, w_min=-5,
                    w_max=6)
    assert w == [[6]]
    # at the ends of the weight range itself (weight_bits = 4: -8..7)
    w, _, _ = step1([[-8]], [0], [255], [1], [0], a_minus=255, s_minus=0, wr=(-8, 7),
                    w_min=-8, w_max=7)
    assert w == [[-8]]
    w, _, _ = step1([[7]], [255], [0], [0], [1], a_plus=255, s_plus=0, wr=(-8, 7),
                    w_min=-8, w_max=7)
    assert w == [[7]]
    # a touched weight is clamped even when its delta is 0 (SPEC: w = clamp(w - 0, ...)):
    # y = 0 -> LTD d = 0, w = clamp(-8, -5, 6) = -5; untouched weights keep their value
    w, _, _ = step1([[-8, -8], [-8, 7]], [0, 0], [0, 0], [1, 0], [0, 0], w_min=-5, w_max=6)
    assert w == [[-5, -5], [-8, 7]]
    # w_min = w_max pins every touched weight
    w, _, _ = step1([[1, -2]], [9], [9, 9], [1], [0, 1], w_min=3, w_max=3)
    assert w == [[3, 3]]


def test_non_plastic_axons_untouched_but_traced():
    # axon 1 non-plastic, both axons hit, both neurons spike: row 1 keeps its weights,
    # its trace still takes the impulse: x[1] = 10 - max(1, 10 >> 2) = 8, + 100 = 108.
    # Row 0: LTD d = (16*y') >> 4 = y' = 30 -> 0 - 30 = -30; LTP with x[0] = 0 + 100:
    # -30 + 100 = 70.
    w, x, y = step1([[0, 0], [5, -5]], [0, 10], [40, 40], [1, 1], [1, 1], plastic=[1, 0])
    assert w == [[70, 70], [5, -5]]
    assert x == [100, 108] and y == [130, 130]
    # all axons non-plastic: weights bit-identical whatever happens
    w, x, _ = step1([[0, 0], [5, -5]], [0, 10], [40, 40], [1, 1], [1, 1], plastic=[0, 0],
                    w_min=0, w_max=0)
    assert w == [[0, 0], [5, -5]] and x == [100, 108]


def test_tdec_minimum_decay_of_one():
    # tdec(x, k) = max(1, x >> k) for x > 0, else 0
    assert tdec(np.array([0, 1, 5, 100, 128, 255]), 7).tolist() == [0, 1, 1, 1, 1, 1]
    assert tdec(np.array([0, 1, 7, 8, 255]), 3).tolist() == [0, 1, 1, 1, 31]
    assert tdec(np.array([0, 1, 255, 4095]), 0).tolist() == [0, 1, 255, 4095]   # to 0 at once
    # k = 7 from 5: 5, 4, 3, 2, 1, 0, 0 (always at least 1 per step, never below 0)
    x, seq = [5], []
    for _ in range(6):
        _, x, _ = step1([[0]], x, [0], [0], [0], k_pre=7)
        seq += x
    assert seq == [4, 3, 2, 1, 0, 0]
    # k = 0: any trace is gone after one step
    assert step1([[0]], [255], [255], [0], [0], k_pre=0, k_post=0)[1:] == ([0], [0])


def test_stdp_step_does_not_mutate_and_validates():
    w, x, y = np.zeros((2, 3), np.int64), np.array([9, 9]), np.array([9, 9, 9])
    pre, post, pl = np.ones(2, bool), np.ones(3, bool), np.ones(2, np.int64)
    w2, x2, y2 = stdp_step(w, x, y, pre, post, pl, BASE, X_MAX, WR)
    assert w.tolist() == [[0] * 3] * 2 and x.tolist() == [9, 9] and y.tolist() == [9] * 3
    assert w2.dtype == x2.dtype == y2.dtype == np.int64
    bad = [
        (dict(regs={**BASE, "k_pre": 8}), "STDP register k_pre = 8 is out of range: allowed 0..7"),
        (dict(regs={**BASE, "w_min": 5, "w_max": 4}), "w_min = 5 is greater than w_max = 4"),
        (dict(regs={k: v for k, v in BASE.items() if k != "s_plus"}), "'s_plus' is missing"),
        (dict(regs={**BASE, "imp_pre": 256}), "imp_pre = 256 is out of range: allowed 0..255"),
        (dict(regs={**BASE, "w_max": 128}), "w_max = 128 is out of range: allowed -128..127"),
        (dict(x=np.array([9, 256])), r"x\[1\] = 256 is out of range: allowed 0..255"),
        (dict(y=np.array([9, 9])), r"y has shape \(2,\), expected \(3,\)"),
        (dict(w=np.full((2, 3), 128)), r"weights\[0, 0\] = 128 is out of range"),
        (dict(pl=np.array([0, 2])), r"plastic\[1\] = 2 is out of range: allowed 0..1"),
    ]
    for kw, msg in bad:
        args = dict(w=w, x=x, y=y, pre=pre, post=post, pl=pl, regs=BASE)
        args.update(kw)
        with pytest.raises(ValueError, match=msg):
            stdp_step(args["w"], args["x"], args["y"], args["pre"], args["post"], args["pl"],
                      args["regs"], X_MAX, WR)
    with pytest.raises(TypeError, match="float"):
        stdp_step(w.astype(float), x, y, pre, post, pl, BASE, X_MAX, WR)


# =====================================================================================
# Random inputs over the full ranges: vectorised vs scalar reference
# =====================================================================================

def _draw(rng, lo, hi):
    """Uniform in lo..hi, but an endpoint one time in four."""
    r = rng.random()
    if r < 0.125:
        return lo
    if r < 0.25:
        return hi
    return int(rng.integers(lo, hi + 1))


def test_stdp_step_random_vs_reference(rng):
    for trial in range(3000):
        wb, tb = int(rng.integers(1, 9)), int(rng.integers(1, 13))
        p = CoreParams(neurons=1, axons=1, lanes=1, weight_bits=wb, learning=True,
                       trace_bits=tb)
        x_max, wr = p.trace_max, p.weight_range
        regs = {k: _draw(rng, lo, hi) for k, (lo, hi) in p.stdp_ranges().items()}
        if regs["w_min"] > regs["w_max"]:
            regs["w_min"], regs["w_max"] = regs["w_max"], regs["w_min"]
        A, N = int(rng.integers(1, 6)), int(rng.integers(1, 6))
        w = [[_draw(rng, *wr) for _ in range(N)] for _ in range(A)]
        x = [_draw(rng, 0, x_max) for _ in range(A)]
        y = [_draw(rng, 0, x_max) for _ in range(N)]
        pre = [int(rng.integers(0, 2)) for _ in range(A)]
        post = [int(rng.integers(0, 2)) for _ in range(N)]
        plastic = [int(rng.integers(0, 2)) for _ in range(A)]
        got = stdp_step(np.array(w), np.array(x), np.array(y), np.array(pre, bool),
                        np.array(post, bool), np.array(plastic), regs, x_max, wr)
        exp = r_stdp(w, x, y, pre, post, plastic, regs, x_max)
        assert (got[0].tolist(), got[1].tolist(), got[2].tolist()) == exp, \
            f"trial {trial}: regs {regs}, w {w}, x {x}, y {y}, pre {pre}, post {post}"


# =====================================================================================
# The core: learning integrated after the neuron update
# =====================================================================================

def r_core_run(img, inputs):
    """Reference run: plain-Python synaptic sums and STDP, golden cuba_step for the neurons
    (checked on its own in test_golden.py). Returns per-step (spikes, w, x, y) as lists."""
    p = img.params
    w = img.weights.tolist()
    x, y = img.x.tolist(), img.y.tolist()
    state = {k: v.copy() for k, v in img.state.items()}
    par = img.neuron_param_table()
    hi = 2 ** (p.acc_bits - 1) - 1
    out = []
    for ev in inputs:
        total = [0] * p.neurons
        for a in ev:
            for n in range(p.neurons):
                total[n] += w[a][n] * 2 ** img.w_exp
        a_in = np.array([r_clamp(t, -hi - 1, hi) for t in total])
        state, s = cuba_step(state, par, a_in)
        pre = [1 if a in set(int(e) for e in ev) else 0 for a in range(p.axons)]
        post = [int(b) for b in s]
        w, x, y = r_stdp(w, x, y, pre, post, img.plastic.tolist(), img.stdp, p.trace_max)
        out.append((post, w, x, y))
    return out


def test_core_model_learning_vs_reference(rng):
    p = CoreParams(neurons=8, axons=6, lanes=4, weight_bits=6, learning=True, trace_bits=7,
                   acc_bits=12)
    img = CoreImage.random(p, rng, density=0.8)
    img = img.replace(neuron_params={"vth": rng.integers(0, 30, p.param_rows)},
                      stdp=dict(learn_en=1, a_plus=40, a_minus=40, s_plus=6, s_minus=6,
                                w_min=-20, w_max=20))
    T = 40
    inputs = [rng.integers(0, p.axons, int(rng.integers(0, 8))) for _ in range(T)]
    tr = CoreModel(img).run(inputs)
    ref = r_core_run(img, inputs)
    assert tr.spikes.tolist() == [r[0] for r in ref]
    assert tr.extra["weights"].tolist() == [r[1] for r in ref]
    assert tr.extra["x"].tolist() == [r[2] for r in ref]
    assert tr.extra["y"].tolist() == [r[3] for r in ref]
    assert tr.extra["weights"].shape == (T, 6, 8) and tr.extra["x"].shape == (T, 6)
    assert tr.spikes.any() and (tr.extra["weights"][-1] != img.weights).any(), \
        "the test network should spike and learn"
    # the same input as per-axon counts; step by step; reset returns to the image
    counts = np.zeros((T, p.axons), np.int64)
    for t, ev in enumerate(inputs):
        np.add.at(counts[t], ev, 1)
    m = CoreModel(img)
    tr2 = m.run(counts)
    assert np.array_equal(tr2.extra["weights"], tr.extra["weights"])
    assert np.array_equal(m.weights, tr.extra["weights"][-1])       # readable at any time
    m.reset()
    assert np.array_equal(m.weights, img.weights) and np.array_equal(m.x, img.x)
    for t in range(T):
        m.step(inputs[t])
        assert np.array_equal(m.weights, tr.extra["weights"][t])
        assert np.array_equal(m.y, tr.extra["y"][t])
    # the image is never mutated by a run
    assert np.array_equal(CoreModel(img).weights, img.weights)


def test_learning_disabled_leaves_weights_bit_identical(rng):
    p = CoreParams(neurons=16, axons=12, lanes=4, weight_bits=8, learning=True)
    img = CoreImage.random(p, rng, density=1.0)
    # tight bounds: with learning on, the first touch would clamp most weights
    img = img.replace(neuron_params={"vth": rng.integers(0, 20, p.param_rows)},
                      stdp=dict(learn_en=0, w_min=-2, w_max=2, a_plus=255, a_minus=255,
                                s_plus=0, s_minus=0),
                      plastic=1)
    T = 400
    inputs = [rng.integers(0, p.axons, int(rng.integers(0, 10))) for _ in range(T)]
    tr = CoreModel(img).run(inputs)
    assert tr.spikes.sum() > 50 and tr.extra["x"].any() and tr.extra["y"].any()
    assert (tr.extra["weights"] == img.weights[None]).all()
    # the traces evolved exactly as with learning on (scalar reference, this run's events)
    x, y, w = img.x.tolist(), img.y.tolist(), img.weights.tolist()
    for t, ev in enumerate(inputs):
        pre = [int(a in set(ev.tolist())) for a in range(p.axons)]
        w, x, y = r_stdp(w, x, y, pre, tr.spikes[t].tolist(), [1] * p.axons,
                         {**img.stdp, "learn_en": 1}, p.trace_max)
        assert tr.extra["x"][t].tolist() == x and tr.extra["y"][t].tolist() == y
    # switched on with live traces, the next step learns from them at once
    m = CoreModel(img)
    m.run(inputs[:100])
    assert np.array_equal(m.weights, img.weights)
    m.stdp["learn_en"] = 1
    x_before = m.x.copy()
    m.step([0])
    assert not np.array_equal(m.weights, img.weights)
    assert x_before.any()


# =====================================================================================
# The STDP window: a Δt sweep on a 1-axon, 1-neuron core
# =====================================================================================

SWEEP = dict(learn_en=1, k_pre=3, k_post=2, imp_pre=200, imp_post=150, a_plus=20, a_minus=24,
             s_plus=5, s_minus=5, w_min=-128, w_max=127)


def test_stdp_window_by_hand():
    w = dict(zip(range(-2, 3), stdp_window(SWEEP, 255, range(-2, 3)).tolist()))
    # Δt = 0: x = 200 (the impulse of this step), LTP (20*200) >> 5 = 4000 >> 5 = 125
    # Δt = 1: x = 200 - (200 >> 3 = 25) = 175, (20*175) >> 5 = 3500 >> 5 = 109
    # Δt = 2: x = 175 - 21 = 154, 3080 >> 5 = 96
    # Δt = -1: y = 150 - (150 >> 2 = 37) = 113, -((24*113) >> 5) = -(2712 >> 5) = -84
    # Δt = -2: y = 113 - 28 = 85, -((24*85) >> 5) = -(2040 >> 5) = -63
    assert w == {-2: -63, -1: -84, 0: 125, 1: 109, 2: 96}
    assert stdp_window({**SWEEP, "learn_en": 0}, 255, [-3, 0, 3]).tolist() == [0, 0, 0]
    # imp above x_max cannot happen in a register, but a tiny trace runs out: k = 0
    assert stdp_window({**SWEEP, "k_pre": 0}, 255, [0, 1, 5]).tolist() == [125, 0, 0]


def test_delta_t_sweep_matches_window():
    """One pre spike at t_pre, one post spike at t_post = t_pre + Δt, Δt = -20..20.

    The neuron is driven by its bias alone: du = 4095 makes u = a_in << 6 = 0 (the weight
    starts at 0 and changes only after the last spike that could use it), dv = 0, bias 64,
    so v after step t is 64 (t + 1) and it first exceeds vth << 6 = 64 t_post at t = t_post;
    refr = 255 keeps it silent for the rest of the run.
    """
    p = CoreParams(neurons=1, axons=1, lanes=1, weight_bits=8, refractory_bits=8,
                   learning=True)
    base, T = 25, 50
    dts = list(range(-20, 21))
    expected = stdp_window(SWEEP, p.trace_max, dts)
    got = []
    for dt in dts:
        t_pre, t_post = base + max(0, -dt), base + max(0, dt)
        img = CoreImage(p, neuron_params=dict(du=4095, dv=0, vth=t_post, bias_mant=64,
                                              refr=255), stdp=SWEEP)
        inputs = [[0] if t == t_pre else [] for t in range(T)]
        tr = CoreModel(img).run(inputs)
        assert np.flatnonzero(tr.spikes[:, 0]).tolist() == [t_post], f"Δt = {dt}"
        wt = tr.extra["weights"][:, 0, 0]
        last = max(t_pre, t_post)
        assert (wt[:last] == 0).all() and (wt[last:] == wt[-1]).all(), f"Δt = {dt}"
        got.append(int(wt[-1]))
    assert got == expected.tolist()
    assert all(g > 0 for g in got[20:]) and all(g <= 0 for g in got[:20])


# =====================================================================================
# Vocabulary: parameters, image, registers, regions, files
# =====================================================================================

@pytest.mark.parametrize("kw, message", [
    ({"learning": 1}, "learning must be true or false, not 1"),
    ({"learning": True, "trace_bits": 13}, "trace_bits = 13 is out of range: allowed 1..12"),
    ({"learning": True, "trace_bits": 0}, "trace_bits = 0 is out of range: allowed 1..12"),
    ({"trace_bits": 6}, "trace_bits = 6 is not allowed with learning = False"),
])
def test_param_errors(kw, message):
    with pytest.raises(ParamError) as e:
        CoreParams(**kw)
    assert message in str(e.value)


def test_stdp_ranges_and_defaults():
    p = CoreParams(weight_bits=4, learning=True)
    assert list(p.stdp_ranges()) == list(STDP_REG_NAMES)
    assert p.trace_max == 255
    assert p.stdp_ranges()["imp_pre"] == (0, 255) and p.stdp_ranges()["w_min"] == (-8, 7)
    assert p.stdp_defaults() == dict(learn_en=1, k_pre=2, k_post=2, imp_pre=128, imp_post=128,
                                     a_plus=16, a_minus=16, s_plus=6, s_minus=6, w_min=-8,
                                     w_max=7)
    assert CoreParams(learning=True, trace_bits=1).stdp_defaults()["imp_pre"] == 1
    assert CoreParams(learning=True, trace_bits=12).stdp_defaults()["imp_post"] == 2048


PL = CoreParams(neurons=8, axons=4, lanes=4, weight_bits=4, learning=True)
P0 = CoreParams(neurons=8, axons=4, lanes=4, weight_bits=4)


@pytest.mark.parametrize("params, kw, message", [
    (P0, {"stdp": {"a_plus": 1}}, "stdp = {'a_plus': 1} is given but params.learning is False"),
    (P0, {"plastic": np.ones(4, int)}, "plastic is given but params.learning is False"),
    (P0, {"x": np.zeros(4, int)}, "x is given but params.learning is False"),
    (PL, {"stdp": {"k_pre": 8}}, "stdp['k_pre'] = 8 is out of range: allowed 0..7"),
    (PL, {"stdp": {"imp_post": 256}}, "stdp['imp_post'] = 256 is out of range: allowed 0..255"),
    (PL, {"stdp": {"w_min": 9}}, "stdp['w_min'] = 9 is out of range: allowed -8..7"),
    (PL, {"stdp": {"w_min": 3, "w_max": 2}},
     "stdp['w_min'] = 3 is greater than stdp['w_max'] = 2: expected w_min <= w_max"),
    (PL, {"stdp": {"w_min": 3}}, None),   # fine: w_max defaults to 7
    (PL, {"stdp": {"w_max": -8, "w_min": -7}}, "stdp['w_min'] = -7 is greater than"),
    (PL, {"stdp": {"tau": 3}}, "STDP register 'tau' does not exist: expected learn_en, k_pre"),
    (PL, {"stdp": {"learn_en": True}}, "stdp['learn_en'] must be an integer in 0..1, not True"),
    (PL, {"plastic": [0, 2, 1, 1]}, "plastic[1] = 2 is out of range: allowed 0..1"),
    (PL, {"x": [0, 0, 0]}, "x has shape (3,), expected (4,)"),
    (PL, {"y": np.full(8, 256)}, "y[0] = 256 is out of range: allowed 0..255"),
    (PL, {"y": np.zeros(8)}, "y must hold integers, not float64"),
])
def test_image_stdp_errors(params, kw, message):
    if message is None:
        CoreImage(params=params, **kw)
        return
    with pytest.raises(ImageError) as e:
        CoreImage(params=params, **kw)
    assert message in str(e.value)


def test_image_stdp_defaults():
    img = CoreImage(PL, stdp={"a_plus": 3})
    assert img.stdp == {**PL.stdp_defaults(), "a_plus": 3}
    assert img.plastic.tolist() == [1] * 4 and img.x.tolist() == [0] * 4
    assert img.y.tolist() == [0] * 8
    img0 = CoreImage(P0)
    assert img0.stdp == {} and img0.plastic.shape == img0.x.shape == img0.y.shape == (0,)
    assert img0.stdp_reg_words() == {}


def test_image_round_trip_with_learning(tmp_path, rng):
    p = CoreParams(neurons=8, axons=4, lanes=4, weight_bits=5, learning=True, trace_bits=10,
                   model="shift")
    img = CoreImage.random(p, rng)
    assert img.stdp["w_min"] <= img.stdp["w_max"] and img.x.max() <= 1023
    img.save(tmp_path / "i.npz")
    back = CoreImage.load(tmp_path / "i.npz")
    assert back.params == p and back.stdp == img.stdp
    for k in ("weights", "plastic", "x", "y"):
        np.testing.assert_array_equal(getattr(back, k), getattr(img, k))
    # a core without learning round-trips with its empty STDP fields
    img0 = CoreImage.random(P0, rng)
    img0.save(tmp_path / "j.npz")
    back0 = CoreImage.load(tmp_path / "j.npz")
    assert back0.stdp == {} and back0.x.shape == (0,)
    # CoreImage.random without learning draws exactly what it drew before STDP existed
    a = CoreImage.random(P0, np.random.default_rng(5))
    b = CoreImage.random(CoreParams(neurons=8, axons=4, lanes=4, weight_bits=4,
                                    learning=True), np.random.default_rng(5))
    np.testing.assert_array_equal(a.weights, b.weights)
    assert a.w_exp == b.w_exp


def test_registers_and_regions():
    # existing entries keep their values; STDP registers follow
    assert [int(r) for r in layouts.BASE_REGS] == list(range(7))
    assert [(r.name, int(r)) for r in layouts.STDP_REGS.values()] == [
        ("LEARN_EN", 7), ("K_PRE", 8), ("K_POST", 9), ("IMP_PRE", 10), ("IMP_POST", 11),
        ("A_PLUS", 12), ("A_MINUS", 13), ("S_PLUS", 14), ("S_MINUS", 15), ("W_MIN", 16),
        ("W_MAX", 17)]
    assert (Region.XTRACE, Region.YTRACE) == (5, 6)
    depths = layouts.region_depths(PL)
    assert depths[Region.REG] == 18 and depths[Region.XTRACE] == 4 and depths[Region.YTRACE] == 8
    depths0 = layouts.region_depths(P0)
    assert depths0[Region.REG] == 7 and depths0[Region.XTRACE] == depths0[Region.YTRACE] == 0
    with pytest.raises(IndexError, match="region XTRACE: allowed 0..-1"):
        layouts.cfg_address(P0, Region.XTRACE, 0)
    with pytest.raises(IndexError, match="index 4 is out of range for region XTRACE"):
        layouts.cfg_address(PL, Region.XTRACE, 4)
    # a tiny core without learning keeps its configuration address width
    tiny = CoreParams(neurons=4, axons=1, lanes=4)
    assert layouts.cfg_index_bits(tiny) == 3
    # word layouts: XTRACE = {x: trace_bits, plastic: 1}, YTRACE = {y: trace_bits}
    p = CoreParams(neurons=8, axons=4, lanes=4, weight_bits=4, learning=True, trace_bits=6)
    img = CoreImage(p, plastic=[1, 0, 1, 0], x=[0, 63, 5, 1], y=np.arange(8) * 9,
                    stdp={"w_min": -5, "w_max": 3, "k_pre": 7})
    assert img.xtrace_words() == [64 | 0, 63, 64 | 5, 1]
    assert img.ytrace_words() == [i * 9 for i in range(8)]
    back = layouts.unpack(layouts.xtrace_layout(p), img.xtrace_words())
    assert back["x"].tolist() == [0, 63, 5, 1] and back["plastic"].tolist() == [1, 0, 1, 0]
    words = img.stdp_reg_words()
    assert list(words) == list(layouts.STDP_REGS.values())
    assert words[Reg.W_MIN] == 0b1011 and words[Reg.W_MAX] == 3 and words[Reg.K_PRE] == 7
    assert layouts.reg_shape(p, Reg.IMP_PRE).width == 6
    assert layouts.reg_shape(p, Reg.W_MIN).signed and layouts.reg_shape(p, Reg.W_MIN).width == 4
    assert layouts.cfg_data_bits(p) == layouts.cfg_data_bits(
        CoreParams(neurons=8, axons=4, lanes=4, weight_bits=4))
