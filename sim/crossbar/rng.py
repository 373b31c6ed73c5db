"""Counter-based random draws: each draw is a function of (seed, purpose, step, index).

The RTL bench asks the model for reads and updates in its own order, so no draw may depend
on how many draws came before (SPEC §3.5's rule for stochastic rounding, applied to the
crossbar; issue 10). Every block of draws comes from a fresh ``numpy.random.Philox``
generator keyed by ``numpy.random.SeedSequence([seed, purpose, step, sub])`` and drawn for
the whole array in a fixed layout; a device's draw is its element of that block. The block
for (purpose, step, sub) is therefore the same whichever blocks were asked for before.
"""

import numpy as np


__all__ = ["Purpose", "block_normal", "block_uniform"]


class Purpose:
    """Purpose codes: one independent stream per kind of draw."""
    D2D_GMIN = 1
    D2D_GMAX = 2
    D2D_NL_SET = 3
    D2D_NL_RESET = 4
    FAULT = 5
    DRIFT_NU = 6
    PROGRAM = 7
    READ = 8
    UPDATE = 9


def _gen(seed, purpose, step, sub):
    if step < 0 or sub < 0:
        raise ValueError(f"step = {step} and sub = {sub} must not be negative")
    ss = np.random.SeedSequence([int(seed), int(purpose), int(step), int(sub)])
    return np.random.Generator(np.random.Philox(ss))


def block_normal(seed, purpose, step, shape, sub=0):
    """Standard normal draws of shape ``shape`` for (seed, purpose, step, sub)."""
    return _gen(seed, purpose, step, sub).standard_normal(shape)


def block_uniform(seed, purpose, step, shape, sub=0):
    """Uniform [0, 1) draws of shape ``shape`` for (seed, purpose, step, sub)."""
    return _gen(seed, purpose, step, sub).random(shape)
