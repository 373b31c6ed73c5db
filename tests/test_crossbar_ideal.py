"""Crossbar model, ideal limit: with every non-ideality off the analog path is the digital one.

(a) of issue 10: ADC code == Σ c[a] (w[a, n] << w_exp) bit for bit (an axon hit twice counts
twice), programmed weight == clamp(w + Δ); the circuit solver's r -> 0 limit is Gᵀ V.
"""

import numpy as np
import pytest

from spikefab.sim.crossbar import (AdcParams, ArrayParams, CrossbarSynapses, DeviceParams,
                                   NodalSolver, ideal_currents)


def _digital(w, counts, w_exp):
    return (counts.astype(np.int64) @ w.astype(np.int64)) << w_exp


@pytest.mark.parametrize("weight_bits,levels,shape", [
    (4, 64, (64, 16)), (6, 64, (32, 40)), (8, 129, (100, 30)), (8, 256, (17, 5)),
    (1, 2, (8, 8))])
def test_adc_code_equals_digital_sum(weight_bits, levels, shape):
    rng = np.random.default_rng(weight_bits * 1000 + levels)
    lo, hi = -(1 << (weight_bits - 1)), (1 << (weight_bits - 1)) - 1
    w = rng.integers(lo, hi + 1, shape)
    for w_exp in (0, 3, 7):
        m = CrossbarSynapses(w, w_exp, device=DeviceParams(levels=levels),
                             weight_bits=weight_bits, seed=5)
        np.testing.assert_array_equal(m.weights(), w)
        for step in range(6):
            counts = rng.integers(0, 4, shape[0]) * (rng.random(shape[0]) < 0.5)
            np.testing.assert_array_equal(m.a_in(step, counts), _digital(w, counts, w_exp))


def test_axon_hit_twice_counts_twice():
    w = np.array([[3, -2], [1, 1]])
    m = CrossbarSynapses(w, 2, weight_bits=4)
    np.testing.assert_array_equal(m.a_in(0, np.array([2, 0])), [24, -16])
    np.testing.assert_array_equal(m.a_in(0, np.array([0, 0])), [0, 0])


def test_ideal_with_floating_idle_rows_and_extreme_weights():
    w = np.array([[-8, 7, 0], [7, -8, -1], [0, 0, 7]])
    m = CrossbarSynapses(w, 7, array=ArrayParams(idle_rows="floating"), weight_bits=4)
    for c in ([1, 0, 0], [0, 3, 1], [5, 5, 5]):
        c = np.array(c)
        np.testing.assert_array_equal(m.a_in(0, c), _digital(w, c, 7))


def test_adc_clips_at_its_range():
    w = np.full((4, 2), 7)
    m = CrossbarSynapses(w, 0, adc=AdcParams(bits=5), weight_bits=4)
    np.testing.assert_array_equal(m.a_in(0, np.array([1, 1, 0, 0])), [14, 14])
    np.testing.assert_array_equal(m.a_in(0, np.array([1, 1, 1, 1])), [15, 15])
    m = CrossbarSynapses(-w, 0, adc=AdcParams(bits=5), weight_bits=4)
    np.testing.assert_array_equal(m.a_in(0, np.array([2, 2, 2, 2])), [-16, -16])
    m = CrossbarSynapses(w, 0, adc=AdcParams(bits=5, clip=False), weight_bits=4)
    with pytest.raises(OverflowError, match="ADC code 28 of column pair 0 is outside -16..15"):
        m.a_in(0, np.array([1, 1, 1, 1]))


@pytest.mark.parametrize("weight_bits,levels,bounds", [
    (4, 64, None), (4, 16, (-5, 6)), (8, 256, None), (8, 129, (0, 100))])
def test_updates_equal_digital_clamp(weight_bits, levels, bounds):
    rng = np.random.default_rng(levels)
    lo, hi = -(1 << (weight_bits - 1)), (1 << (weight_bits - 1)) - 1
    blo, bhi = (lo, hi) if bounds is None else bounds
    w = rng.integers(blo, bhi + 1, (24, 10))
    m = CrossbarSynapses(w, 1, device=DeviceParams(levels=levels), weight_bits=weight_bits,
                         w_bounds=bounds, seed=9)
    ref = w.copy()
    for step in range(20):
        ups = [(int(rng.integers(24)), int(rng.integers(10)), int(rng.integers(-9, 10)))
               for _ in range(40)]
        for a, n, d in ups:                 # a pair met twice is updated twice, in order
            ref[a, n] = min(max(ref[a, n] + d, blo), bhi)
        m.apply_updates(step, ups)
        np.testing.assert_array_equal(m.weights(), ref)
        c = rng.integers(0, 2, 24)
        np.testing.assert_array_equal(m.a_in(step, c), _digital(ref, c, 1))


def test_few_levels_quantise():
    """With fewer levels than weights the mapping is lossy (a non-ideality, not a bug)."""
    w = np.arange(-128, 128).reshape(16, 16)
    m = CrossbarSynapses(w, 0, device=DeviceParams(levels=64), weight_bits=8)
    err = m.weights() - w
    assert np.abs(err).max() == 1 and (err != 0).any()


@pytest.mark.parametrize("idle", ["grounded", "floating"])
def test_solver_zero_resistance_limit(idle):
    rng = np.random.default_rng(3)
    g = rng.uniform(1e-6, 25e-6, (20, 13))
    v = 0.2 * (rng.random(20) < 0.5)
    for r in (1e-9, 0.0):
        arr = ArrayParams(r_row=r, r_col=r, r_driver=r, r_sense=r, idle_rows=idle)
        i, vc = NodalSolver(g, arr).solve(v, v > 0)
        ref = ideal_currents(g, v)
        assert np.max(np.abs(i - ref)) <= 1e-9 * np.max(np.abs(ref))
        np.testing.assert_allclose(vc, np.broadcast_to(v[:, None], g.shape), atol=1e-9)
