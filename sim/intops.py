"""Elementary integer operations of SPEC §3 (int64 in, int64 out), shared by the golden model's
modules (:mod:`~spikefab.sim.golden`, :mod:`~spikefab.sim.synapses`).

Every width limit is an explicit operation: no result depends on a numpy dtype wrapping.
"""

import numpy as np


__all__ = ["trunc12", "wrap24", "sat", "sat16", "decay_shift"]

_INT64_MAX = np.iinfo(np.int64).max


def _i64(name, x):
    """``x`` as int64 (array or 0-d), refusing anything that is not an integer type."""
    a = np.asarray(x)
    if a.dtype.kind not in "iub":
        raise TypeError(f"{name} must hold integers, not {a.dtype}")
    if a.dtype.kind == "u" and a.dtype.itemsize == 8 and a.size and a.max() > _INT64_MAX:
        raise ValueError(f"{name} holds values too large for int64")
    return a.astype(np.int64, copy=False)


# --- elementary operations (int64 in, int64 out) ------------------------------------------

def trunc12(x):
    """``sign(x) * (|x| >> 12)``: division by 4096 rounding toward zero (not floor).

    Computed as ``(x + ((x >> 63) & 4095)) >> 12``: ``x >> 63`` is -1 for a negative x and
    0 otherwise, so a negative x is biased by 4095 before the floor shift, which turns the
    floor into a truncation toward zero (SPEC §3.3's pitfall); exact for |x| < 2**62."""
    x = _i64("x", x)
    return (x + ((x >> 63) & 4095)) >> 12


def wrap24(x):
    """True 24-bit two's-complement wrap: ``((x + 2**23) mod 2**24) - 2**23``, computed with
    the mask ``(x + 2**23) & (2**24 - 1)`` (the same as the mod on int64)."""
    x = _i64("x", x)
    return ((x + (1 << 23)) & ((1 << 24) - 1)) - (1 << 23)


def sat(x, lo, hi):
    """Clamp to ``lo..hi``."""
    return np.minimum(np.maximum(_i64("x", x), lo), hi)


def sat16(x):
    return sat(x, -32768, 32767)


def decay_shift(x, k):
    """SPEC §3.4 ``decay(x, k)``: ``x >> k`` (arithmetic, floor) unless that is 0, then
    ``sign(x)``. For negative x the floor shift is already <= -1."""
    x, k = _i64("x", x), _i64("k", k)
    d = x >> k
    return np.where(d != 0, d, np.sign(x))
