"""Tests of the golden model (sim/golden.py) and the trace format (sim/trace.py).

Directed cases carry their arithmetic in comments. An independent scalar reference, written
here with plain Python ints and loops (no numpy), is compared with the vectorised functions
on thousands of random states and parameters covering the full ranges.
"""

import os

import numpy as np
import pytest

from spikefab.rtl.image import CoreImage
from spikefab.rtl.params import CoreParams, V_MAX
from spikefab.sim.golden import CoreModel, cuba_step, shift_step, synaptic_input
from spikefab.sim.trace import Trace, assert_traces_equal, first_divergence


SEED = int(os.environ.get("SPIKEFAB_SEED", "20241122"))


@pytest.fixture
def rng():
    print(f"random seed: {SEED} (set SPIKEFAB_SEED to change)")
    return np.random.default_rng(SEED)


# =====================================================================================
# Independent scalar reference (plain Python ints)
# =====================================================================================

def r_trunc12(x):
    # toward zero; Python's >> is floor, so shift the magnitude
    return -((-x) >> 12) if x < 0 else x >> 12


def r_wrap24(x):
    return ((x + 2**23) % 2**24) - 2**23


def r_clamp(x, lo, hi):
    return lo if x < lo else hi if x > hi else x


def r_cuba(u, v, cnt, a_in, du, dv, vth, bias_mant, bias_exp, refr=0, reset_sub=0,
           v_floor=-(2**23 - 1)):
    """One neuron, one step; returns (u, v, cnt, spike)."""
    u = r_wrap24(r_trunc12(u * (4095 - du)) + a_in * 2**6)
    if cnt > 0:
        return u, 0, cnt - 1, False
    vp = r_trunc12(v * (4096 - dv)) + u + bias_mant * 2**bias_exp
    vp = r_clamp(vp, -(2**23 - 1), 2**23 - 1)
    if vp < v_floor:
        vp = v_floor
    thr = vth * 2**6
    if vp > thr:
        return u, (vp - thr if reset_sub else 0), refr, True
    return u, vp, cnt, False


def r_sat16(x):
    return r_clamp(x, -32768, 32767)


def r_decay(x, k):
    d = x >> k                      # Python >> on int is an arithmetic (floor) shift
    if d != 0:
        return d
    return (x > 0) - (x < 0)


def r_shift(i, v, a_in, dash_syn, dash_mem, th, bias):
    i = r_sat16(i + a_in)
    i = i - r_decay(i, dash_syn)
    dv = r_sat16(-r_decay(v, dash_mem) + i)
    dv = r_sat16(dv + bias)
    v = r_sat16(v + dv)
    if v >= th:
        return i, v - th, True
    return i, v, False


def r_synaptic_input(weights, w_exp, events, acc_bits):
    """weights: list of lists [A][N] of ints."""
    n = len(weights[0])
    total = [0] * n
    for a in events:
        for j in range(n):
            total[j] += weights[a][j] * 2**w_exp
    hi = 2**(acc_bits - 1) - 1
    return [r_clamp(t, -hi - 1, hi) for t in total]


# =====================================================================================
# Helpers
# =====================================================================================

CUBA_BASE = dict(du=0, dv=0, vth=131071, bias_mant=0, bias_exp=0)


def cuba1(u=0, v=0, a_in=0, refr_cnt=None, **kw):
    """Run cuba_step on one neuron; returns (u, v, refr_cnt or None, spike) as ints."""
    params = {k: np.array([x]) for k, x in {**CUBA_BASE, **kw}.items()}
    state = {"u": np.array([u]), "v": np.array([v])}
    if refr_cnt is not None:
        state["refr_cnt"] = np.array([refr_cnt])
    new, s = cuba_step(state, params, np.array([a_in]))
    cnt = int(new["refr_cnt"][0]) if "refr_cnt" in new else None
    return int(new["u"][0]), int(new["v"][0]), cnt, bool(s[0])


SHIFT_BASE = dict(dash_syn=15, dash_mem=15, th=32767, bias=0)


def shift1(i=0, v=0, a_in=0, **kw):
    params = {k: np.array([x]) for k, x in {**SHIFT_BASE, **kw}.items()}
    new, s = shift_step({"i": np.array([i]), "v": np.array([v])}, params, np.array([a_in]))
    return int(new["i"][0]), int(new["v"][0]), bool(s[0])


# =====================================================================================
# cuba: directed cases
# =====================================================================================

def test_cuba_trunc_toward_zero_negative_u():
    # u = -4097, du = 0: u * 4095 = -16777215 = -(4096*4096 - 1)
    # toward zero: -(16777215 >> 12) = -4095;   floor (plain >> 12) would give -4096
    assert (-16777215) >> 12 == -4096
    u, v, _, s = cuba1(u=-4097, dv=4095)
    assert u == -4095
    # v: v*(4096-4095) = 0, + u = -4095
    assert (v, s) == (-4095, False)


def test_cuba_trunc_toward_zero_small_negative_u_decays_to_zero():
    # u = -1, du = 0: -1 * 4095 = -4095 -> toward zero 0 (floor would stick at -1 forever)
    assert (-4095) >> 12 == -1
    assert cuba1(u=-1)[0] == 0


def test_cuba_trunc_toward_zero_negative_v():
    # v = -4097, dv = 1: v * 4095 = -16777215 -> trunc12 = -4095 (floor: -4096); u stays 0
    u, v, _, s = cuba1(v=-4097, dv=1)
    assert (u, v, s) == (0, -4095, False)
    # v = -1, dv = 1: -4095 -> 0
    assert cuba1(v=-1, dv=1)[1] == 0


def test_cuba_du0_decays_u_dv0_keeps_v():
    # du = 0: u * 4095 / 4096: 4096 -> 4095 (factor 4095/4096)
    assert cuba1(u=4096)[0] == 4095
    # dv = 0: v * 4096 / 4096 = v exactly (u = 0, bias 0)
    assert cuba1(v=4096)[1] == 4096
    assert cuba1(v=-123457)[1] == -123457
    # du = 0 on the largest u: 8388607 * 4095 = 34351345665, >> 12 = 8386559
    assert cuba1(u=2**23 - 1, dv=4095)[0] == 8386559


def test_cuba_du_dv_4095():
    # du = 4095: u * 0 = 0, so u = a_in << 6 = 3 * 64 = 192
    # dv = 4095: v * 1 / 4096: trunc12(8191) = 1 -> v' = 1 + 192 = 193
    assert cuba1(u=1000, v=8191, a_in=3, du=4095, dv=4095)[:2] == (192, 193)
    # trunc12(-8191) = -1 -> v' = -1 + 192 = 191
    assert cuba1(u=-1000, v=-8191, a_in=3, du=4095, dv=4095)[:2] == (192, 191)


def test_cuba_threshold_strict():
    # vth = 10 -> threshold 10 << 6 = 640. u = 0, a_in = 1 -> u = 64
    # v = 576: v' = 576 + 64 = 640: not > 640, no spike
    assert cuba1(v=576, a_in=1, vth=10) == (64, 640, None, False)
    # v = 577: v' = 641 > 640: spike, v = 0, u is not reset
    assert cuba1(v=577, a_in=1, vth=10) == (64, 0, None, True)
    # vth = 0: any v' > 0 spikes, v' = 0 does not
    assert cuba1(v=0, vth=0)[3] is False
    assert cuba1(v=1, vth=0)[3] is True


def test_cuba_bias_extremes():
    # bias is bias_mant << bias_exp, NOT << 6: 4095 << 7 = 524160; -4096 << 7 = -524288
    assert cuba1(bias_mant=4095, bias_exp=7)[1] == 524160
    assert cuba1(bias_mant=-4096, bias_exp=7)[1] == -524288
    assert cuba1(bias_mant=-1, bias_exp=0)[1] == -1


def test_cuba_v_saturates():
    # v = V_MAX, + 524160 bias -> 8912767 clamps to 8388607; threshold 131071 << 6 = 8388544
    # reset by subtraction shows the clamped value: 8388607 - 8388544 = 63
    # (without the clamp it would be 8912767 - 8388544 = 524223)
    assert cuba1(v=V_MAX, bias_mant=4095, bias_exp=7, reset_sub=1) == (0, 63, None, True)
    # reset to zero
    assert cuba1(v=V_MAX, bias_mant=4095, bias_exp=7)[1:] == (0, None, True)
    # negative: -8388607 - 524288 clamps to -(2**23 - 1), not -2**23, and does not wrap
    assert cuba1(v=-V_MAX, bias_mant=-4096, bias_exp=7)[1] == -(2**23 - 1)
    # u large negative plus v large negative: -8388608 * 4095 >> 12 (toward zero) = -8386560
    # v' = -8388607 - 8386560 -> clamps to -8388607
    assert cuba1(u=-2**23, v=-V_MAX)[:2] == (-8386560, -V_MAX)


def test_cuba_u_wraps():
    # u = 8388607, du = 0: trunc12(8388607 * 4095) = 8386559; + (100 << 6) = 6400
    # -> 8392959 > 2**23 - 1: wraps to 8392959 - 2**24 = -8384257
    u, v, _, s = cuba1(u=2**23 - 1, a_in=100)
    assert u == -8384257
    # v uses the new (wrapped) u: v' = 0 + (-8384257)
    assert (v, s) == (-8384257, False)
    # negative side: u = -2**23, du = 0: -8388608 * 4095 / 4096 = -8386560 exactly;
    # a_in = -2**17: << 6 = -8388608; sum -16775168 wraps to -16775168 + 2**24 = 2048
    assert cuba1(u=-2**23, a_in=-2**17)[0] == 2048
    # du = 4095 (decay term 0), a_in = -2**17 - 1: (-131073 << 6) = -8388672 wraps to 8388544
    assert cuba1(u=5, a_in=-2**17 - 1, du=4095)[0] == 8388544


def test_cuba_refractory_sequence():
    # vth = 0 (threshold 0), bias 1 each step, refr = 2: spike, then 2 refractory steps
    params = {k: np.array([x]) for k, x in {**CUBA_BASE, "vth": 0, "bias_mant": 1,
                                            "refr": 2}.items()}
    state = {"u": np.array([0]), "v": np.array([0]), "refr_cnt": np.array([0])}
    got = []
    for _ in range(7):
        state, s = cuba_step(state, params, np.array([0]))
        got.append((int(s[0]), int(state["v"][0]), int(state["refr_cnt"][0])))
    # step 0: v' = 1 > 0: spike, cnt = 2; steps 1, 2: refractory (cnt 1, 0), v = 0;
    # step 3: v' = 0 + 1 = 1: spike again
    assert got == [(1, 0, 2), (0, 0, 1), (0, 0, 0), (1, 0, 2), (0, 0, 1), (0, 0, 0), (1, 0, 2)]


def test_cuba_refractory_u_still_updates():
    # refr_cnt = 1: u = trunc12(4096 * 4095) + (2 << 6) = 4095 + 128 = 4223; v held at 0,
    # no spike although v' would be far above threshold 0
    assert cuba1(u=4096, v=5000, a_in=2, refr_cnt=1, vth=0, refr=5) == (4223, 0, 0, False)
    # refr = 0 (default): a spike leaves cnt at 0, nothing refractory
    assert cuba1(v=5000, vth=0, refr_cnt=0) == (0, 0, 0, True)


def test_cuba_subtractive_reset():
    # vth = 10 -> 640; v' = 1000 > 640: v = 1000 - 640 = 360
    assert cuba1(v=1000, vth=10, reset_sub=1) == (0, 360, None, True)
    assert cuba1(v=1000, vth=10, reset_sub=0) == (0, 0, None, True)


def test_cuba_v_floor():
    # v' = -4096 (bias), floor -100 -> -100
    assert cuba1(bias_mant=-4096, v_floor=-100)[1] == -100
    # default floor -(2**23 - 1): no effect
    assert cuba1(bias_mant=-4096)[1] == -4096
    # the floor applies before the threshold test: floor 641 > 640 spikes
    assert cuba1(v=-5000, vth=10, v_floor=641)[1:] == (0, None, True)


def test_cuba_no_int32_overflow_and_no_mutation():
    # int32 inputs must not overflow in u * 4095 (8388607 * 4095 > 2**31)
    u = np.array([2**23 - 1, -2**23], np.int32)
    v = np.array([V_MAX, -V_MAX], np.int32)
    state = {"u": u, "v": v}
    params = {k: np.int32(x) for k, x in CUBA_BASE.items()}
    params["dv"] = np.int32(4095)
    a_in = np.zeros(2, np.int16)
    new, s = cuba_step(state, params, a_in)
    assert new["u"].tolist() == [8386559, -8386560]
    assert u.tolist() == [2**23 - 1, -2**23] and v.tolist() == [V_MAX, -V_MAX]
    assert new["u"] is not u and new["v"] is not v


def test_cuba_rejects_float():
    with pytest.raises(TypeError):
        cuba_step({"u": np.zeros(2), "v": np.zeros(2, int)}, CUBA_BASE, np.zeros(2, int))


# =====================================================================================
# shift: directed cases
# =====================================================================================

def test_shift_input_first_then_decay():
    # i = sat16(0 + 160) = 160; decay(160, 4) = 10 -> i = 150; v = 0: dv = 150 -> v = 150
    assert shift1(a_in=160, dash_syn=4, dash_mem=4) == (150, 150, False)


def test_shift_saturates_i():
    # i = sat16(32767 + 10000) = 32767; 32767 >> 15 = 0 -> decay 1 -> 32766
    # (without saturation: 42767 - (42767 >> 15 = 1) = 42766)
    assert shift1(i=32767, a_in=10000)[0] == 32766
    # i = sat16(-32768 - 10000) = -32768; -32768 >> 15 = -1 -> -32767
    assert shift1(i=-32768, a_in=-10000)[0] == -32767


def test_shift_saturates_dv_and_v():
    # v = -32768, dash_mem = 0: decay = -32768, -decay = 32768; i = 10000 - 1 = 9999
    # dv = sat16(32768 + 9999) = 32767; dv = sat16(32767 - 32768) = -1
    # v = sat16(-32768 - 1) = -32768   (without the first sat16: v = -32768 + 9999 = -22769)
    assert shift1(i=10000, v=-32768, dash_mem=0, bias=-32768, th=1) == (9999, -32768, False)
    # v = 30000, i = 30000 -> 29999; dv = -1 + 29999 = 29998; v = sat16(59998) = 32767
    # spikes (>= 1000): v = 32767 - 1000 = 31767   (without saturation: 58998)
    assert shift1(i=30000, v=30000, th=1000) == (29999, 31767, True)
    # dv + bias saturates: dv = 29998 + 32767 -> 32767; v = sat16(0 + 32767) = 32767
    assert shift1(i=30000, v=0, bias=32767, th=32767) == (29999, 0, True)


def test_shift_minimum_decay():
    # 5 >> 4 = 0 -> decay = sign = 1: i = 4;  -5 >> 4 = -1 (floor) -> i = -4
    assert shift1(i=5, dash_syn=4)[0] == 4
    assert shift1(i=-5, dash_syn=4)[0] == -4
    # floor shift for larger negatives: -17 >> 4 = -2 -> i = -15 (toward zero would be -1)
    assert shift1(i=-17, dash_syn=4)[0] == -15
    # zero stays zero
    assert shift1(i=0, dash_syn=4)[0] == 0
    # v: 3 >> 4 = 0 -> decay 1 -> v = 2;  -3 >> 4 = -1 -> v = -3 + 1 = -2
    assert shift1(v=3, dash_mem=4)[1] == 2
    assert shift1(v=-3, dash_mem=4)[1] == -2
    # dash = 0: decay(x, 0) = x: i goes to 0
    assert shift1(i=-32768, dash_syn=0)[0] == 0


def test_shift_threshold_tie_and_subtraction():
    # v = 0 + 100 (bias) = 100 >= 100: spike, v = 0; 99: no spike
    assert shift1(bias=100, th=100) == (0, 0, True)
    assert shift1(bias=99, th=100) == (0, 99, False)
    # reset by subtraction, once per step: 250 -> 150
    assert shift1(bias=250, th=100) == (0, 150, True)


# =====================================================================================
# synaptic input
# =====================================================================================

def test_synaptic_input_saturates_once():
    w = np.array([[100], [100], [-100]])
    # exact sum 100 + 100 - 100 = 100 fits in 8 bits (-128..127): the answer is 100, not a
    # partially saturated (127 - 100 = 27)
    assert synaptic_input(w, 0, [0, 1, 2], 8).tolist() == [100]
    assert synaptic_input(w, 0, [2, 0, 1], 8).tolist() == [100]
    assert synaptic_input(w, 0, [0, 1], 8).tolist() == [127]
    assert synaptic_input(-w, 0, [0, 1], 8).tolist() == [-128]


def test_synaptic_input_repeats_and_w_exp():
    w = np.array([[3, -3], [1, 0]])
    # axon 0 twice: 2 * 3 = 6; 2 * -3 = -6
    assert synaptic_input(w, 0, [0, 0], 16).tolist() == [6, -6]
    # w_exp 7: (3 << 7) = 384, (-3 << 7) = -384; plus axon 1: 128, 0
    assert synaptic_input(w, 7, [0, 1], 16).tolist() == [512, -384]
    assert synaptic_input(w, 0, [], 16).tolist() == [0, 0]


def test_synaptic_input_every_axon(rng):
    w = rng.integers(-8, 8, size=(64, 8))
    got = synaptic_input(w, 3, np.arange(64), 24)
    assert got.tolist() == (w.sum(axis=0) * 8).tolist()
    # dense and sparse paths agree
    ev = rng.integers(0, 64, 1000)
    assert synaptic_input(w, 2, ev, 24).tolist() == r_synaptic_input(w.tolist(), 2, ev.tolist(), 24)


def test_synaptic_input_bad_axon():
    with pytest.raises(ValueError, match="axon id 4"):
        synaptic_input(np.zeros((4, 2), int), 0, [1, 4], 8)
    with pytest.raises(ValueError, match="axon id -1"):
        synaptic_input(np.zeros((4, 2), int), 0, [-1], 8)


# =====================================================================================
# random comparison against the scalar reference
# =====================================================================================

def mixed(rng, lo, hi, n, edges=()):
    """n values in lo..hi: uniform, with 30% drawn from the edges (and lo, hi, 0, +-1)."""
    x = rng.integers(lo, hi + 1, size=n)
    cand = [e for e in (lo, hi, lo + 1, hi - 1, 0, 1, -1, *edges) if lo <= e <= hi]
    pick = rng.random(n) < 0.3
    x[pick] = rng.choice(cand, size=int(pick.sum()))
    return x


def test_cuba_random_vs_reference(rng):
    N, steps = 3000, 4
    VM = 2**23 - 1
    edge_uv = [4095, 4096, 4097, -4095, -4096, -4097, 2**22, -2**22]
    p = {
        "du": mixed(rng, 0, 4095, N, [4094]), "dv": mixed(rng, 0, 4095, N, [4094]),
        "vth": mixed(rng, 0, 131071, N), "bias_mant": mixed(rng, -4096, 4095, N),
        "bias_exp": mixed(rng, 0, 7, N), "refr": mixed(rng, 0, 255, N),
        "reset_sub": rng.integers(0, 2, N), "v_floor": mixed(rng, -VM, VM, N, [-VM]),
    }
    # v_floor: mostly the default (off), often a moderate value
    p["v_floor"][rng.random(N) < 0.5] = -VM
    moderate = rng.random(N) < 0.2
    p["v_floor"][moderate] = rng.integers(-10000, 1000, int(moderate.sum()))
    state = {"u": mixed(rng, -2**23, VM, N, edge_uv), "v": mixed(rng, -VM, VM, N, edge_uv),
             "refr_cnt": mixed(rng, 0, 255, N)}
    state["refr_cnt"][rng.random(N) < 0.6] = 0
    # put some v right at / next to the threshold
    near = rng.random(N) < 0.1
    state["v"][near] = p["vth"][near] * 64 + rng.integers(-2, 3, int(near.sum()))
    for with_ext in (True, False):
        st = {k: a.copy() for k, a in state.items()}
        pp = dict(p)
        if not with_ext:
            del st["refr_cnt"]
            for k in ("refr", "reset_sub", "v_floor"):
                del pp[k]
        for _ in range(steps):
            a_in = mixed(rng, -2**23, 2**23 - 1, N, [2**17, -2**17, 2**15 - 1, -2**15])
            small = rng.random(N) < 0.5
            a_in[small] = rng.integers(-300, 300, int(small.sum()))
            before = {k: a.copy() for k, a in st.items()}
            new, s = cuba_step(st, pp, a_in)
            for k in st:
                assert np.array_equal(st[k], before[k]), "cuba_step mutated its input"
            for n in range(N):
                kw = {k: int(pp[k][n]) for k in pp}
                cnt = int(st["refr_cnt"][n]) if with_ext else 0
                ru, rv, rc, rs = r_cuba(int(st["u"][n]), int(st["v"][n]), cnt, int(a_in[n]), **kw)
                got = (int(new["u"][n]), int(new["v"][n]),
                       int(new["refr_cnt"][n]) if with_ext else 0, bool(s[n]))
                assert got == (ru, rv, rc, rs), f"neuron {n}: state {st} params {kw}"
            assert ("refr_cnt" in new) == with_ext
            st = new


def test_shift_random_vs_reference(rng):
    N, steps = 4000, 4
    edge = [32766, -32767, 16, -16, 15, -15, 17, -17]
    p = {"dash_syn": mixed(rng, 0, 15, N), "dash_mem": mixed(rng, 0, 15, N),
         "th": mixed(rng, 1, 32767, N, [2, 100]), "bias": mixed(rng, -32768, 32767, N, edge)}
    small = rng.random(N) < 0.5
    p["bias"][small] = rng.integers(-50, 50, int(small.sum()))
    st = {"i": mixed(rng, -32768, 32767, N, edge), "v": mixed(rng, -32768, 32767, N, edge)}
    for _ in range(steps):
        a_in = mixed(rng, -2**23, 2**23 - 1, N, [32767, -32768, 65535, -65536])
        small = rng.random(N) < 0.6
        a_in[small] = rng.integers(-200, 200, int(small.sum()))
        new, s = shift_step(st, p, a_in)
        for n in range(N):
            kw = {k: int(p[k][n]) for k in p}
            ref = r_shift(int(st["i"][n]), int(st["v"][n]), int(a_in[n]), **kw)
            assert (int(new["i"][n]), int(new["v"][n]), bool(s[n])) == ref, f"neuron {n}: {kw}"
        st = new


def test_synaptic_input_random_vs_reference(rng):
    for _ in range(40):
        A, N = int(rng.integers(1, 40)), int(rng.integers(1, 12))
        wb = int(rng.integers(1, 9))
        w = rng.integers(-2**(wb - 1), 2**(wb - 1), size=(A, N))
        ev = rng.integers(0, A, int(rng.integers(0, 3 * A + 2)))
        w_exp, acc_bits = int(rng.integers(0, 8)), int(rng.integers(2, 25))
        got = synaptic_input(w, w_exp, ev, acc_bits)
        assert got.tolist() == r_synaptic_input(w.tolist(), w_exp, ev.tolist(), acc_bits)


# =====================================================================================
# CoreModel
# =====================================================================================

def ref_core_run(img, inputs):
    """The whole core with the scalar reference: returns lists of per-step (spikes, u, v, cnt)."""
    p = img.params
    tab = {k: [int(x) for x in a] for k, a in img.neuron_param_table().items()}
    st = {k: [int(x) for x in a] for k, a in img.state.items()}
    w = img.weights.tolist()
    out = []
    for ev in inputs:
        a_in = r_synaptic_input(w, img.w_exp, list(ev), p.acc_bits)
        spikes = []
        for n in range(p.neurons):
            kw = {k: tab[k][n] for k in tab}
            if p.model == "cuba":
                cnt = st["refr_cnt"][n] if "refr_cnt" in st else 0
                u, v, c, s = r_cuba(st["u"][n], st["v"][n], cnt, a_in[n], **kw)
                st["u"][n], st["v"][n] = u, v
                if "refr_cnt" in st:
                    st["refr_cnt"][n] = c
            else:
                i, v, s = r_shift(st["i"][n], st["v"][n], a_in[n], **kw)
                st["i"][n], st["v"][n] = i, v
            spikes.append(int(s))
        out.append((spikes, list(st["u" if p.model == "cuba" else "i"]), list(st["v"]),
                    list(st.get("refr_cnt", []))))
    return out


CORE_CONFIGS = [
    dict(model="cuba"),
    dict(model="cuba", param_mode="profile", profiles=4, refractory_bits=3,
         subtractive_reset=True, v_floor=True, acc_bits=12, weight_bits=8),
    dict(model="cuba", refractory_bits=8, acc_bits=24, weight_bits=1),
    dict(model="shift", acc_bits=20, weight_bits=8),
    dict(model="shift", param_mode="profile", profiles=2, acc_bits=2),
]


@pytest.mark.parametrize("cfg", CORE_CONFIGS)
def test_core_model_vs_reference(rng, cfg):
    p = CoreParams(neurons=16, axons=24, lanes=4, **cfg)
    img = CoreImage.random(p, rng, density=0.7)
    T = 25
    # small thresholds so that neurons actually spike
    if p.model == "cuba":
        key, hi = "vth", 40
    else:
        key, hi = "th", 200
    img = img.replace(neuron_params={key: rng.integers(1 if key == "th" else 0, hi,
                                                       p.param_rows)})
    inputs = [rng.integers(0, p.axons, int(rng.integers(0, 40))) for _ in range(T)]
    tr = CoreModel(img).run(inputs)
    ref = ref_core_run(img, inputs)
    assert tr.spikes.tolist() == [r[0] for r in ref]
    assert tr.u.tolist() == [r[1] for r in ref]
    assert tr.v.tolist() == [r[2] for r in ref]
    if p.refractory_bits:
        assert tr.extra["refr_cnt"].tolist() == [r[3] for r in ref]
    else:
        assert tr.extra == {}
    assert tr.spikes.any(), "test network should spike"


def test_core_model_event_limit():
    p = CoreParams(neurons=8, axons=8, lanes=4, max_step_events=4)
    m = CoreModel(CoreImage(p))
    m.step([0, 1, 2, 3])                               # exactly the limit: fine
    with pytest.raises(ValueError, match=r"step 1: 5 input events exceed max_step_events = 4"):
        m.step([0, 0, 0, 0, 0])
    m2 = CoreModel(CoreImage(p))
    counts = np.zeros((3, 8), int)
    counts[2, 3] = 5
    with pytest.raises(ValueError, match=r"step 2: 5 .* max_step_events = 4"):
        m2.run(counts)


def test_core_model_axon_range():
    p = CoreParams(neurons=8, axons=8, lanes=4)
    m = CoreModel(CoreImage(p))
    with pytest.raises(ValueError, match=r"step 0: axon id 8 is out of range: allowed 0..7"):
        m.step([1, 8])
    with pytest.raises(ValueError, match="axon id -2"):
        m.step([-2])
    with pytest.raises(ValueError, match="negative"):
        m.run(np.full((1, 8), -1))
    with pytest.raises(ValueError, match="expected"):
        m.run(np.zeros((2, 7), int))


def test_core_model_run_shapes_and_equivalences(rng):
    p = CoreParams(neurons=32, axons=16, lanes=4, refractory_bits=2)
    img = CoreImage.random(p, rng)
    img = img.replace(neuron_params={"vth": 5})
    inputs = [rng.integers(0, 16, int(rng.integers(0, 30))) for _ in range(12)]
    tr = CoreModel(img).run(inputs, steps=15)          # 3 silent steps at the end
    assert tr.spikes.shape == tr.u.shape == tr.v.shape == (15, 32)
    assert tr.spikes.dtype == np.uint8 and tr.u.dtype == tr.v.dtype == np.int64
    assert tr.extra["refr_cnt"].shape == (15, 32)
    assert tr.neurons_per_core == 32 and tr.meta["source"] == "golden"
    # the same input as per-axon counts
    counts = np.zeros((15, 16), np.int64)
    for t, ev in enumerate(inputs):
        np.add.at(counts[t], ev, 1)
    assert first_divergence(tr, CoreModel(img).run(counts)) is None
    # step by step, and in two runs that continue each other
    m = CoreModel(img)
    for t in range(15):
        s = m.step(inputs[t] if t < 12 else [])
        assert s.tolist() == tr.spikes[t].astype(bool).tolist()
        assert m.state["v"].tolist() == tr.v[t].tolist()
    m = CoreModel(img)
    a, b = m.run(inputs[:5]), m.run(inputs[5:], steps=10, progress=True)
    assert b.meta["first_step"] == 5
    assert np.array_equal(np.vstack([a.v, b.v]), tr.v)
    with pytest.raises(ValueError, match="less than"):
        CoreModel(img).run(inputs, steps=3)
    assert CoreModel(img).run(None, steps=4).spikes.shape == (4, 32)


# =====================================================================================
# traces
# =====================================================================================

def small_trace(rng, T=10, N=8, npc=4):
    return Trace(rng.integers(0, 2, (T, N)), rng.integers(-100, 100, (T, N)),
                 rng.integers(-100, 100, (T, N)),
                 extra={"refr_cnt": rng.integers(0, 3, (T, N)),
                        "weights": rng.integers(-8, 8, (T, 3, N))},
                 neurons_per_core=npc, meta={"source": "golden", "note": [1, 2]})


def copy_trace(tr):
    return Trace(tr.spikes.copy(), tr.u.copy(), tr.v.copy(),
                 extra={k: a.copy() for k, a in tr.extra.items()},
                 neurons_per_core=tr.neurons_per_core, meta=tr.meta)


def test_trace_save_load_roundtrip(rng, tmp_path):
    tr = small_trace(rng)
    path = tmp_path / "t.npz"
    tr.save(path)
    back = Trace.load(path)
    assert first_divergence(tr, back) is None
    assert back.meta == tr.meta and back.neurons_per_core == 4
    assert back.spikes.dtype == np.uint8 and back.v.dtype == np.int64
    assert sorted(back.extra) == ["refr_cnt", "weights"]
    with np.load(path, allow_pickle=False) as z:
        assert {"spikes", "u", "v", "meta", "extra.refr_cnt", "extra.weights"} <= set(z.files)


def test_golden_trace_roundtrip(rng, tmp_path):
    p = CoreParams(neurons=8, axons=8, lanes=4, refractory_bits=1)
    tr = CoreModel(CoreImage.random(p, rng)).run([[0, 1]] * 5)
    tr.save(tmp_path / "g.npz")
    assert_traces_equal(tr, Trace.load(tmp_path / "g.npz"))


def test_first_divergence_planted(rng):
    tr = small_trace(rng)
    got = copy_trace(tr)
    assert first_divergence(tr, got) is None
    assert_traces_equal(tr, got)
    # plant: v at step 3 global neuron 5 (core 1, neuron 1); u at step 3 neuron 7;
    # spikes at step 4 neuron 0; refr_cnt at step 3 neuron 6: the earliest step wins, then
    # the lowest global neuron index
    got.v[3, 5] = tr.v[3, 5] - 1
    got.u[3, 7] += 1
    got.spikes[4, 0] ^= 1
    got.extra["refr_cnt"][3, 6] += 1
    d = first_divergence(tr, got)
    assert (d.step, d.core, d.neuron, d.quantity) == (3, 1, 1, "v")
    assert (d.expected, d.got) == (int(tr.v[3, 5]), int(tr.v[3, 5]) - 1)
    msg = f"first divergence at step 3, core 1, neuron 1, v: expected {tr.v[3, 5]}, got {tr.v[3, 5] - 1}"
    assert str(d) == msg
    with pytest.raises(AssertionError) as e:
        assert_traces_equal(tr, got)
    assert str(e.value) == msg
    # same neuron, two quantities: spikes comes before u and v
    got2 = copy_trace(tr)
    got2.v[2, 2] += 1
    got2.spikes[2, 2] ^= 1
    d = first_divergence(tr, got2)
    assert (d.step, d.core, d.neuron, d.quantity) == (2, 0, 2, "spikes")
    # an extra with more dimensions
    got3 = copy_trace(tr)
    got3.extra["weights"][1, 2, 0] += 1
    d = first_divergence(tr, got3)
    assert (d.step, d.quantity, d.index) == (1, "weights", (2, 0))
    assert str(d).startswith("first divergence at step 1, weights[2, 0]: expected")


def test_first_divergence_shapes(rng):
    tr = small_trace(rng)
    short = Trace(tr.spikes[:9], tr.u[:9], tr.v[:9],
                  extra={k: a[:9] for k, a in tr.extra.items()}, neurons_per_core=4)
    d = first_divergence(tr, short)
    assert d.step is None
    assert str(d) == ("traces are not comparable: spikes has steps x neurons [10, 8] in "
                      "expected, [9, 8] in got")
    fewer = Trace(tr.spikes, tr.u, tr.v, extra={"refr_cnt": tr.extra["refr_cnt"]})
    assert "extras only in expected: weights" in str(first_divergence(tr, fewer))
    with pytest.raises(AssertionError, match="not comparable"):
        assert_traces_equal(tr, short)
