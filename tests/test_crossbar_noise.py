"""Crossbar non-idealities (issue 10 (c)): each noise source's statistics match its definition.

N ~ 10^4 seeded draws; a mean must lie within 4 σ/√N of its definition and a standard
deviation within 4 σ/√(2N) (the standard error of a normal sample's σ). Each test switches one
effect on and keeps the others off. Also: the update law's closed form and the stuck-at rates.
"""

import math

import numpy as np
import pytest

from spikefab.sim.crossbar import ArrayParams, CrossbarSynapses, DeviceParams
from spikefab.sim.crossbar import device as dv


def _check_normal(x, mu, sigma):
    n = x.size
    assert abs(x.mean() - mu) <= 4 * sigma / math.sqrt(n), (x.mean(), mu, sigma)
    assert abs(x.std() - sigma) <= 4 * sigma / math.sqrt(2 * n), (x.std(), sigma)


def test_programming_noise_pcm_polynomial():
    dev = DeviceParams(prog_noise=True)
    for wval in (0, 3, 7):
        w = np.full((100, 100), wval)
        m = CrossbarSynapses(w, 0, device=dev, weight_bits=4, seed=1 + wval)
        gp, _ = m.conductances()
        target = dev.g_min + wval * m.map.g_unit
        g = target / dev.g_max
        sigma = (0.26348 + 1.9650 * g - 1.1731 * g * g) * 1e-6
        assert sigma == pytest.approx(dv.pcm_prog_sigma(target, dev.g_max))
        _check_normal(gp.ravel(), target, sigma)


def test_read_noise_relative_and_fresh_per_step():
    sig = 0.02
    m = CrossbarSynapses(np.full((1, 10000), 5), 0, device=DeviceParams(read_noise=sig),
                         weight_bits=4, seed=2)
    g = m.g_read[0]
    i0 = m.column_currents(0, np.array([1]))
    i1 = m.column_currents(1, np.array([1]))
    x0, x1 = i0 / (0.2 * g) - 1.0, i1 / (0.2 * g) - 1.0
    _check_normal(x0, 0.0, sig)
    _check_normal(x1, 0.0, sig)
    corr = np.corrcoef(x0, x1)[0, 1]
    assert abs(corr) <= 4 / math.sqrt(x0.size)
    np.testing.assert_array_equal(i0, m.column_currents(0, np.array([1])))  # same step, same draw


def test_read_noise_per_read_phase():
    """An axon hit twice is two reads: two independent draws, variance doubles."""
    sig = 0.03
    m = CrossbarSynapses(np.full((1, 10000), 7), 0, device=DeviceParams(read_noise=sig),
                         weight_bits=4, seed=3)
    x = m.column_currents(4, np.array([2])) / (0.2 * m.g_read[0]) - 2.0
    _check_normal(x, 0.0, sig * math.sqrt(2))


def test_d2d_range_lognormal():
    s = 0.1
    m = CrossbarSynapses(np.zeros((100, 50), int), 0, device=DeviceParams(d2d_range=s),
                         weight_bits=4, seed=4)
    _check_normal(np.log(m.g_hi / 25e-6).ravel(), 0.0, s)
    _check_normal(np.log(m.g_lo / 1e-6).ravel(), 0.0, s)


def test_d2d_nonlinearity_lognormal():
    s = 0.1
    dev = DeviceParams(nl_set=0.5, nl_reset=0.25, d2d_nl=s)
    m = CrossbarSynapses(np.zeros((100, 50), int), 0, device=dev, weight_bits=4, seed=5)
    _check_normal(np.log(m.a_set / (0.5 * 63)).ravel(), 0.0, s)
    _check_normal(np.log(m.a_reset / (0.25 * 63)).ravel(), 0.0, s)


def test_c2c_update_noise():
    c2c = 0.01
    m = CrossbarSynapses(np.zeros((100, 100), int), 0, device=DeviceParams(c2c_update=c2c),
                         weight_bits=4, seed=6)
    m.apply_updates(3, [(a, n, 3) for a in range(100) for n in range(100)])
    gp, gm = m.conductances()
    pulses = 3 * m.map.q
    target = 1e-6 + pulses * m.map.dg
    _check_normal(gp.ravel(), target, c2c * 24e-6 * math.sqrt(pulses))
    assert (gm == 1e-6).all()                     # untouched devices get no noise


def test_stuck_at_fractions_and_stuck_devices_ignore_writes():
    lo, hi = 0.05, 0.02
    m = CrossbarSynapses(np.full((100, 100), 3), 0,
                         device=DeviceParams(p_stuck_low=lo, p_stuck_high=hi),
                         weight_bits=4, seed=7)
    n = m.stuck.size
    for p, mask in ((lo, m.stuck_low), (hi, m.stuck_high)):
        assert abs(mask.sum() - p * n) <= 4 * math.sqrt(n * p * (1 - p))
    assert not (m.stuck_low & m.stuck_high).any()
    assert (m.g_read[m.stuck_low] == 1e-6).all() and (m.g_read[m.stuck_high] == 25e-6).all()
    before = m.g.copy()
    m.apply_updates(0, [(a, k, 2) for a in range(100) for k in range(100)])
    np.testing.assert_array_equal(m.g[m.stuck], before[m.stuck])
    assert (m.g[~m.stuck & (m.g != before)]).size > 0


def test_drift_power_law_and_exponent():
    t, t0 = 3600.0, 20.0
    m = CrossbarSynapses(np.full((100, 50), 7), 0, device=DeviceParams(drift_t=t),
                         weight_bits=4, seed=8)
    np.testing.assert_allclose(m.g_read, m.g * (t / t0) ** (-m.nu), rtol=1e-15)
    gp = m.g[:, 0::2].ravel()                      # one target: the top level of w = 7
    mu, sd = dv.pcm_drift_nu(gp[0], 25e-6)
    _check_normal(m.nu[:, 0::2].ravel(), mu, sd)   # |N(mu, sd)|, mu >= 6 sd: folding negligible
    assert mu == pytest.approx(np.clip(-0.0155 * math.log(gp[0] / 25e-6) + 0.0244, 0.049, 0.1))


def test_update_law_closed_form():
    p_max, g0, g1 = 63, 1e-6, 25e-6
    for a in (None, 0.2 * p_max, 1.0 * p_max):
        g = np.full(p_max + 1, g0)
        n = np.arange(p_max + 1, dtype=float)
        got = dv.pulse_update(g, n, g0, g1, a, a, p_max)
        if a is None:
            ref = g0 + (g1 - g0) * n / p_max
        else:
            b = (g1 - g0) / (1 - math.exp(-p_max / a))
            ref = g0 + b * (1 - np.exp(-n / a))
        np.testing.assert_allclose(got, ref, rtol=0, atol=1e-12 * g1)
        assert got[-1] == pytest.approx(g1, abs=1e-12 * g1)     # P_max pulses: g_min -> g_max
        down = dv.pulse_update(np.full(p_max + 1, g1), -n, g0, g1, a, a, p_max)
        np.testing.assert_allclose(down, g0 + g1 - ref, rtol=0, atol=1e-12 * g1)
        # pulse by pulse equals all at once (the state is found by inverting the curve)
        x = np.array([g0])
        for _ in range(10):
            x = dv.pulse_update(x, np.array([1.0]), g0, g1, a, a, p_max)
        assert x[0] == pytest.approx(ref[10], abs=1e-12 * g1)


def test_update_law_nonlinear_and_asymmetric():
    p_max, g0, g1 = 63, 1e-6, 25e-6
    a_set, a_reset = 0.3 * p_max, 0.15 * p_max
    steps = np.diff(dv.set_curve(np.arange(p_max + 1), g0, g1, a_set, p_max))
    assert (np.diff(steps) < 0).all()                 # SET steps shrink as G rises
    mid = dv.set_curve(20, g0, g1, a_set, p_max)
    up = dv.pulse_update(np.array([mid]), np.array([5.0]), g0, g1, a_set, a_reset, p_max)
    back = dv.pulse_update(up, np.array([-5.0]), g0, g1, a_set, a_reset, p_max)
    assert back[0] < mid                              # RESET steps larger there: asymmetry
