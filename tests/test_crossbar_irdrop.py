"""Crossbar IR drop physics: the solver's current loss follows the anchors note's rules of
thumb (§7) in the small-loss regime, to ±25 %, and grows with wire resistance and size."""

import numpy as np
import pytest

from spikefab.sim.crossbar import ArrayParams, NodalSolver


def _loss(n, r, idle, seed):
    rng = np.random.default_rng(seed)
    g = rng.uniform(1e-6, 100e-6, (n, n))
    on = rng.random(n) < 0.5
    v = np.where(on, 0.2, 0.0)
    i, _ = NodalSolver(g, ArrayParams(r_row=r, r_col=r, idle_rows=idle)).solve(v, on)
    return np.mean(1 - i / (v @ g)), g.mean(), on.mean()


@pytest.mark.parametrize("n", [16, 32])
def test_rule_of_thumb(n):
    loss, gbar, a = _loss(n, 1.0, "grounded", n)
    assert loss == pytest.approx(2 / 3 * gbar * n * n, rel=0.25)      # ≈ (2/3) r Ḡ N²
    loss, gbar, a = _loss(n, 1.0, "floating", n)
    assert loss == pytest.approx(gbar / 3 * (n * n + a * n * n), rel=0.25)  # (rḠ/3)(M²+aN²)


def test_loss_grows_with_r_and_n():
    l = [_loss(n, r, "grounded", 1)[0] for n, r in ((16, 0.5), (16, 1.0), (32, 1.0))]
    assert 0 < l[0] < l[1] < l[2]
