"""Signed integer weights to a differential pair of conductance levels, and back.

A weight ``w`` of a ``weight_bits`` signed range is stored on two devices, G+ on even column
``2n`` and G- on odd column ``2n + 1`` of the array: ``w >= 0`` puts G+ at level ``L(w)`` and
G- at level 0, ``w < 0`` the reverse (aihwkit ``SinglePairConductanceConverter``). Level ``l``
of a device is ``g_min + l (g_max - g_min) / (levels - 1)``.

With ``W = 2^(weight_bits-1)`` (the largest |w|) and ``levels - 1 >= W``, every weight unit is
``q = (levels - 1) // W`` whole levels, so ``L(w) = q |w|`` is exact and
``G+ - G- = w · g_unit`` with ``g_unit = q (g_max - g_min) / (levels - 1)``: the analog sum is
the digital one scaled by ``g_unit``. With fewer levels, ``L(w) = round(|w| (levels-1) / W)``
and the finite number of levels is a quantisation error (SPEC §3.7).
"""

import numpy as np

from spikefab.rtl.params import ParamError


__all__ = ["WeightMapping"]


class WeightMapping:
    """The level grid of one device type for one weight range.

    Parameters
    ----------
    device : DeviceParams
    weight_bits : int, 1..16
    """

    def __init__(self, device, weight_bits):
        if isinstance(weight_bits, bool) or not isinstance(weight_bits, int) \
                or not 1 <= weight_bits <= 16:
            raise ParamError(f"weight_bits = {weight_bits!r} is out of range: allowed 1..16")
        self.device = device
        self.weight_bits = weight_bits
        self.w_lo, self.w_hi = -(1 << (weight_bits - 1)), (1 << (weight_bits - 1)) - 1
        self.w_abs = 1 << (weight_bits - 1)
        self.p_max = device.levels - 1
        self.dg = (device.g_max - device.g_min) / self.p_max
        self.q = self.p_max // self.w_abs
        self.exact = self.q >= 1
        self.g_unit = self.q * self.dg if self.exact else (device.g_max - device.g_min) / self.w_abs

    def level(self, w):
        """Level of the device holding ``|w|`` (int64, elementwise)."""
        a = np.abs(np.asarray(w, np.int64))
        if self.exact:
            return a * self.q
        return np.floor(a * (self.p_max / self.w_abs) + 0.5).astype(np.int64)

    def levels(self, w):
        """``(level of G+, level of G-)`` for weights ``w``."""
        w = np.asarray(w, np.int64)
        lv = self.level(w)
        return np.where(w >= 0, lv, 0), np.where(w < 0, lv, 0)

    def weight(self, g_plus, g_minus):
        """The integer weight a reader infers from a pair: ``round((G+ - G-) / g_unit)``,
        clamped to the weight range."""
        x = (np.asarray(g_plus, float) - np.asarray(g_minus, float)) / self.g_unit
        return np.clip(np.floor(x + 0.5), self.w_lo, self.w_hi).astype(np.int64)
