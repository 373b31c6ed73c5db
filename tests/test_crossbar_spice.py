"""Crossbar circuit solver against ngspice (issue 10 (b)): 1e-9 relative on the column currents.

ngspice (Debian package, installed by ``make setup``) solves the netlist written by
:func:`~spikefab.sim.crossbar.spice.netlist` from the physical description; the nodal solver
uses its own node numbering. Arrays are kept at <= 32 x 32 (~0.1 s each in ngspice).
"""

import numpy as np
import pytest

from spikefab.sim.crossbar import ArrayParams, NodalSolver, have_ngspice, run_ngspice


@pytest.fixture(autouse=True)
def _need_ngspice():
    if not have_ngspice():
        pytest.fail("ngspice is not installed: run `make setup` (apt-get install ngspice)")


def _case(m, k, seed, activity=0.5):
    rng = np.random.default_rng(seed)
    g = rng.uniform(1e-6, 100e-6, (m, k))
    on = rng.random(m) < activity
    on[0] = True
    return g, np.where(on, 0.2, 0.0), on


def _rel(a, b):
    return np.max(np.abs(a - b)) / np.max(np.abs(b))


@pytest.mark.parametrize("m,k", [(16, 16), (32, 32), (12, 28), (30, 9)])
@pytest.mark.parametrize("idle", ["grounded", "floating"])
def test_linear_cells(m, k, idle):
    g, v, on = _case(m, k, seed=m * 100 + k)
    arr = ArrayParams(r_row=1.0, r_col=1.0, r_driver=20.0, r_sense=10.0, idle_rows=idle)
    ours, _ = NodalSolver(g, arr).solve(v, on)
    spice = run_ngspice(g, v, on, arr)
    assert _rel(ours, spice) <= 1e-9
    ideal = v @ g
    assert _rel(ideal, spice) > 1e-4            # the wires matter at this size


def test_direct_drivers_and_sense():
    """r_driver = r_sense = 0: the sources sit on the array's end nodes."""
    g, v, on = _case(16, 16, seed=7)
    arr = ArrayParams(r_row=2.0, r_col=0.5)
    assert _rel(NodalSolver(g, arr).solve(v, on)[0], run_ngspice(g, v, on, arr)) <= 1e-9


def test_floating_rows_sneak_paths():
    """Four rows driven, the others floating, resistive column loads (anchors note §7)."""
    g, v, on = _case(16, 16, seed=11, activity=0.0)
    on[:4] = True
    v = np.where(on, 0.2, 0.0)
    arr = ArrayParams(r_row=1.0, r_col=1.0, r_sense=1e4, idle_rows="floating")
    ours, _ = NodalSolver(g, arr).solve(v, on)
    assert _rel(ours, run_ngspice(g, v, on, arr)) <= 1e-9
    grounded = NodalSolver(g, ArrayParams(r_row=1.0, r_col=1.0, r_sense=1e4)).solve(v, on)[0]
    assert _rel(grounded, ours) > 0.1            # the idle-row convention changes the result


@pytest.mark.parametrize("idle", ["grounded", "floating"])
def test_sinh_cells(idle):
    """Non-linear cells I = (G/a) sinh(a V), Newton vs ngspice with tight options."""
    g, _, on = _case(16, 16, seed=13)
    v = np.where(on, 0.3, 0.0)
    arr = ArrayParams(r_row=1.0, r_col=1.0, r_driver=5.0, sinh_a=5.0, idle_rows=idle)
    ours, _ = NodalSolver(g, arr).solve(v, on)
    assert _rel(ours, run_ngspice(g, v, on, arr)) <= 1e-9
    linear = NodalSolver(g, ArrayParams(r_row=1.0, r_col=1.0, r_driver=5.0,
                                        idle_rows=idle)).solve(v, on)[0]
    assert _rel(linear, ours) > 0.05


@pytest.mark.parametrize("idle", ["grounded", "floating"])
def test_model_read_phases_against_ngspice(idle):
    """End to end: the model's column currents for a count vector (an axon hit twice is two
    read phases) equal the sum of the ngspice runs of each phase on the model's own
    conductances (D2D variation and wires on, read noise off)."""
    from spikefab.sim.crossbar import CrossbarSynapses, preset

    dev, arr = preset("rram_neurosim", read_noise=0.0, c2c_update=0.0, idle_rows=idle)
    rng = np.random.default_rng(21)
    xb = CrossbarSynapses(rng.integers(-8, 8, (16, 8)), 1, device=dev, array=arr,
                          weight_bits=4, seed=4)
    counts = rng.integers(0, 3, 16)
    counts[:2] = (1, 2)
    ours = xb.column_currents(0, counts)
    ref = sum(run_ngspice(xb.g_read, np.where(counts >= p, arr.v_read, 0.0), counts >= p,
                          arr) for p in (1, 2))
    assert _rel(ours, ref) <= 1e-9
