"""Device physics of the crossbar: every function pure and vectorised over devices.

- :func:`pcm_prog_sigma`: the aihwkit PCM programming-noise σ(g_T)
  (``aihwkit.inference.noise.pcm.PCMLikeNoiseModel``; Nandakumar et al., ICECS 2019).
- :func:`pcm_drift_nu`: the aihwkit PCM drift-exponent mean and spread per target state.
- :func:`drift`: the power law ``G (t / t0)^(-ν)``.
- :func:`read`: multiplicative read noise ``G (1 + σ ξ)``.
- :func:`pulse_update`: the NeuroSim exponential update law per direction,
  ``G(P) = B (1 - e^(-P/A)) + G_min``, ``B = (G_max - G_min) / (1 - e^(-P_max/A))``
  (MLP_NeuroSim_V3.0 ``RealDevice``; Chen et al., IEEE TCAD 2018), SET along that curve from
  G_min, RESET along its mirror from G_max, so that the law is non-linear and asymmetric as
  in Prezioso et al., Nat. Commun. 9:5311 (2018) and the NeuroSim Ag:a-Si fit.

Equations re-implemented from the sources' documentation and the anchors note
(/work/shared/notes/crossbar-anchors.md §1, §3, §9); no code was copied.
"""

import numpy as np


__all__ = ["pcm_prog_sigma", "pcm_drift_nu", "drift", "read", "pulse_update",
           "set_curve", "reset_curve"]

_REF = 25e-6          # the aihwkit PCM fits are in µS at a 25 µS reference


def pcm_prog_sigma(g_target, g_max):
    """σ (S) of the programming noise around target ``g_target`` (S) for range ``g_max``.

    ``σ = max(0.26348 + 1.9650 g - 1.1731 g², 0) µS · g_max / 25 µS``, ``g = g_T / g_max``.
    """
    g = np.asarray(g_target, float) / g_max
    s_us = np.maximum(0.26348 + 1.9650 * g - 1.1731 * g * g, 0.0)
    return s_us * 1e-6 * (g_max / _REF)


def pcm_drift_nu(g_target, g_max):
    """aihwkit's ``(μ_ν, σ_ν)`` of the drift exponent at target ``g_target``.

    ``μ_ν = clip(-0.0155 ln(g) + 0.0244, 0.049, 0.1)``,
    ``σ_ν = clip(-0.0125 ln(g) - 0.0059, 0.008, 0.045)``, ``g = g_T / g_max`` (floored at
    1e-6 so that ln is finite).
    """
    lg = np.log(np.maximum(np.asarray(g_target, float) / g_max, 1e-6))
    mu = np.clip(-0.0155 * lg + 0.0244, 0.049, 0.1)
    sd = np.clip(-0.0125 * lg - 0.0059, 0.008, 0.045)
    return mu, sd


def drift(g, nu, t, t0):
    """``g (t / t0)^(-ν)`` (t >= t0 drifts down; aihwkit, MemTorch, Boybat et al. 2018)."""
    return np.asarray(g, float) * (float(t) / float(t0)) ** (-np.asarray(nu, float))


def read(g, sigma, xi):
    """``g (1 + σ ξ)`` clipped at >= 0, ``ξ`` standard normal (CrossSim Proportional,
    NeuroSim ``sigmaReadNoise``)."""
    return np.maximum(np.asarray(g, float) * (1.0 + sigma * np.asarray(xi, float)), 0.0)


def set_curve(p, g_min, g_max, a, p_max):
    """Conductance after ``p`` SET pulses from ``g_min`` (``a = None``: linear)."""
    p = np.asarray(p, float)
    if a is None:
        return g_min + (g_max - g_min) * (p / p_max)
    a = np.asarray(a, float)
    b = (g_max - g_min) / (1.0 - np.exp(-p_max / a))
    return g_min + b * (1.0 - np.exp(-p / a))


def reset_curve(q, g_min, g_max, a, p_max):
    """Conductance after ``q`` RESET pulses from ``g_max`` (``a = None``: linear)."""
    return g_min + g_max - set_curve(q, g_min, g_max, a, p_max)


def _set_state(g, g_min, g_max, a, p_max):
    """Inverse of :func:`set_curve`: the pulse count that reaches ``g`` from ``g_min``."""
    x = (g - g_min) / (g_max - g_min)
    if a is None:
        return x * p_max
    a = np.asarray(a, float)
    e = 1.0 - np.exp(-p_max / a)
    return -a * np.log1p(-x * e)


def pulse_update(g, n, g_min, g_max, a_set, a_reset, p_max):
    """Apply ``n`` pulses (``n > 0`` SET, ``n < 0`` RESET, elementwise) to devices at ``g``.

    The device's position on the curve of the pulse direction is found by inverting that
    curve, moved by ``|n|`` pulses, clipped to ``0..p_max`` and mapped back (the NeuroSim
    procedure). ``g_min``, ``g_max``, ``a_set``, ``a_reset`` broadcast per device; ``a`` is
    in pulses (``None`` = linear law).
    """
    g = np.asarray(g, float)
    n = np.asarray(n, float)
    g_min = np.broadcast_to(np.asarray(g_min, float), g.shape)
    g_max = np.broadcast_to(np.asarray(g_max, float), g.shape)
    gc = np.clip(g, g_min, g_max)
    out = g.copy()
    up = n > 0
    if up.any():
        a = None if a_set is None else np.broadcast_to(a_set, g.shape)[up]
        p = _set_state(gc[up], g_min[up], g_max[up], a, p_max)
        p = np.clip(p + n[up], 0.0, p_max)
        out[up] = set_curve(p, g_min[up], g_max[up], a, p_max)
    dn = n < 0
    if dn.any():
        a = None if a_reset is None else np.broadcast_to(a_reset, g.shape)[dn]
        mirror = g_min[dn] + g_max[dn] - gc[dn]
        q = _set_state(mirror, g_min[dn], g_max[dn], a, p_max)
        q = np.clip(q - n[dn], 0.0, p_max)
        out[dn] = reset_curve(q, g_min[dn], g_max[dn], a, p_max)
    return out
