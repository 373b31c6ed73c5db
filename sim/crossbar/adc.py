"""Read-out: the ADC of one column pair, differential current to a signed integer code.

``code = clip(round(I / lsb), -2^(bits-1), 2^(bits-1) - 1)`` with rounding half up. In the
matched scaling (``AdcParams.full_scale = None``) one LSB is the current of one weight unit
shifted by ``w_exp``: ``lsb = v_read · g_unit / 2^w_exp``, so an ideal crossbar read with an
axon count vector ``c`` gives ``code[n] = Σ_a c[a] (w[a, n] << w_exp)`` exactly, the digital
synaptic input of SPEC §3.2 before its saturation to ``acc_bits``. The ADC is linear, as in
NeuroSim's ``LinearQuantizeOut`` and CrossSim's ideal ADC.
"""

import numpy as np


__all__ = ["Adc"]


class Adc:
    """A ``bits``-bit signed ADC with step ``lsb`` (A).

    Parameters
    ----------
    params : AdcParams
    matched_lsb : float
        The LSB of the matched scaling, used when ``params.full_scale`` is ``None``.
    """

    def __init__(self, params, matched_lsb):
        self.params = params
        if params.full_scale is None:
            self.lsb = float(matched_lsb)
        else:
            self.lsb = params.full_scale / (1 << (params.bits - 1))
        self.lo = -(1 << (params.bits - 1))
        self.hi = (1 << (params.bits - 1)) - 1

    def convert(self, current):
        """Codes (int64) of the differential currents ``current`` (A)."""
        x = np.floor(np.asarray(current, float) / self.lsb + 0.5)
        if not self.params.clip:
            bad = (x < self.lo) | (x > self.hi)
            if bad.any():
                i = int(np.flatnonzero(bad)[0])
                raise OverflowError(f"ADC code {int(x.ravel()[i])} of column pair {i} is "
                                    f"outside {self.lo}..{self.hi}")
        return np.clip(x, self.lo, self.hi).astype(np.int64)
