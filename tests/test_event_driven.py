"""The event-driven engine of the golden model (sim/event_driven.py) against the reference
path (``reference=True``: the straightforward numpy implementation of SPEC §3), on seeded
random cores and networks: every step, every state variable, every output, zero tolerance.

Cases: ``cuba`` (with the refractory, subtractive-reset, v-floor and profile extensions) and
``shift``; delays 1..5; repeated and external events; resting cores (zero bias, sparse input,
so that the engine's skip of resting cores is exercised, and a positive v_floor, where a
resting neuron does not stay at rest); weights beyond int16 and event counts beyond the int16
bound (the engine's wider sums); the step API; runs continued over several calls; errors at
the same step with the same state; STDP and ideal crossbar synapses (which the engine leaves
to the numpy path: the default model must still equal the reference there, and the ideal
crossbar network the engine's digital one).
"""

import os

import numpy as np
import pytest

from spikefab.rtl.image import CoreImage
from spikefab.rtl.params import CoreParams
from spikefab.sim.crossbar_synapses import crossbar_factory
from spikefab.sim.golden import CoreModel
from spikefab.sim.network import NetworkModel

from test_network_golden import random_network


SEED = int(os.environ.get("SPIKEFAB_SEED", "20241122"))


def assert_runs_equal(a, b, label):
    ta, tb = a.trace, b.trace
    for q in ("spikes", "u", "v"):
        assert getattr(ta, q).dtype == getattr(tb, q).dtype, (label, q)
        assert np.array_equal(getattr(ta, q), getattr(tb, q)), (label, q)
    assert ta.extra.keys() == tb.extra.keys(), label
    for k in ta.extra:
        assert np.array_equal(ta.extra[k], tb.extra[k]), (label, k)
    assert ta.meta == tb.meta, label
    assert a.outputs == b.outputs, label
    assert np.array_equal(a.packets, b.packets), label


def assert_traces_equal(a, b, label):
    for q in ("spikes", "u", "v"):
        assert np.array_equal(getattr(a, q), getattr(b, q)), (label, q)
    assert a.extra.keys() == b.extra.keys(), label
    for k in a.extra:
        assert np.array_equal(a.extra[k], b.extra[k]), (label, k)
    assert a.meta == b.meta, label


def quiet(image, rng, v_floor=None):
    """``image`` with every bias 0 (cores can rest), optionally a v_floor for every row."""
    from spikefab.rtl.netimage import NetworkImage
    cores = []
    for img in image.cores:
        npar = {k: v.copy() for k, v in img.neuron_params.items()}
        for k in ("bias_mant", "bias"):
            if k in npar:
                npar[k][:] = 0
        if v_floor is not None and "v_floor" in npar:
            npar["v_floor"][:] = v_floor
        st = {k: np.where(rng.random(v.shape) < 0.5, 0, v) for k, v in img.state.items()}
        cores.append(CoreImage(img.params, weights=img.weights, w_exp=img.w_exp,
                               neuron_params=npar, profile_index=img.profile_index, state=st))
    return NetworkImage(image.mesh, cores, image.routes)


NET_CASES = [(w, h, model) for (w, h) in [(1, 1), (2, 1), (2, 2), (3, 2)]
             for model in ("cuba", "shift")]


@pytest.mark.parametrize("width,height,model", NET_CASES)
def test_network_engine_equals_reference(width, height, model):
    seed = SEED + 7000 + 100 * width + 10 * height + (model == "shift")
    rng = np.random.default_rng(seed)
    fired = 0
    for rep in range(4):
        T = 30
        image, inputs = random_network(rng, width, height, model, False, T=T - 5,
                                       activity=[None, 0.02][rep % 2])
        if rep >= 2:
            image = quiet(image, rng)
        label = f"seed {seed} rep {rep} {width}x{height} {model}"
        m = NetworkModel(image)
        assert m._engine is not None, label
        ref = NetworkModel(image, reference=True)
        assert ref._engine is None
        a, b = m.run(inputs, steps=T), ref.run(inputs, steps=T)
        assert_runs_equal(a, b, label)
        fired += int(a.trace.spikes.sum())
        # continued over two more calls, with the counts form of the input
        C, A = image.mesh.cores, image.params.axons
        counts = rng.integers(0, 2, size=(7, C, A)) * (rng.random((7, C, A)) < 0.2)
        for x in (counts, None):
            assert_runs_equal(m.run(x, steps=9), ref.run(x, steps=9), label + " continued")
    assert fired, f"seed {seed}: nothing fired; the case tests little"


@pytest.mark.parametrize("model", ["cuba", "shift"])
def test_network_step_api_equals_reference(model):
    rng = np.random.default_rng(SEED + 7100 + (model == "shift"))
    image, inputs = random_network(rng, 2, 2, model, False, T=25)
    m, ref = NetworkModel(image), NetworkModel(image, reference=True)
    for t in range(30):
        x = inputs[t] if t < len(inputs) else []
        a, b = m.step(x), ref.step(x)
        assert np.array_equal(a.spikes, b.spikes) and a.spikes.dtype == b.spikes.dtype, t
        assert a.outputs == b.outputs and a.packets == b.packets, t
        assert np.array_equal(a.events, b.events), t
        for c in range(image.mesh.cores):
            for k, v in ref.cores[c].state.items():
                assert np.array_equal(m.cores[c].state[k], v), (t, c, k)
    # a state edited between steps counts on both paths
    for mm in (m, ref):
        mm.cores[1].state["v"][0] = 12345
    assert_runs_equal(m.run(None, steps=5), ref.run(None, steps=5), "after an edit")


def test_resting_cores_with_a_positive_v_floor_leave_rest():
    """With v_floor > 0 a neuron at u = v = 0 without input goes to v_floor: the engine must
    not skip such a core."""
    rng = np.random.default_rng(SEED + 7200)
    p = CoreParams(neurons=8, axons=8, lanes=1, v_floor=True, max_delay=3)
    from spikefab.rtl.netimage import NetworkImage, RouteTable
    from spikefab.rtl.params import MeshParams
    mesh = MeshParams(width=2, height=1, route_entries=8)
    cores = [CoreImage(p, weights=rng.integers(-8, 8, (8, 8)), neuron_params={
        "du": 100, "dv": 100, "vth": 1000, "bias_mant": 0, "bias_exp": 0, "v_floor": 5})
             for _ in range(2)]
    image = NetworkImage(mesh, cores, [RouteTable(mesh=mesh, params=p)] * 2)
    a = NetworkModel(image).run(None, steps=4)
    b = NetworkModel(image, reference=True).run(None, steps=4)
    assert_runs_equal(a, b, "v_floor")
    assert (a.trace.v == 5).all()


def test_wide_weights_and_many_events_use_wider_sums():
    """Event counts past the engine's int16 bound (int32 sums), and a synapse memory of
    weights so large that only int64 sums are exact."""
    from spikefab.sim.synapses import DigitalSynapses
    rng = np.random.default_rng(SEED + 7300)
    for wmax, n_ev in [(128, 3), (128, 9000), (1 << 20, 4000)]:
        p = CoreParams(neurons=8, axons=4, lanes=1, weight_bits=8, acc_bits=24,
                       max_step_events=100000)
        img = CoreImage.random(p, rng, density=1.0)
        w = rng.integers(-wmax, wmax, size=(4, 8))
        counts = np.zeros((3, 4), np.int64)
        counts[1] = n_ev // 4
        counts[2, 0] = n_ev
        a = CoreModel(img, synapses=DigitalSynapses(w, img.w_exp, p.acc_bits))
        b = CoreModel(img, synapses=DigitalSynapses(w, img.w_exp, p.acc_bits), reference=True)
        assert a._engine_ok
        assert_traces_equal(a.run(counts, steps=5), b.run(counts, steps=5), (wmax, n_ev))
        assert a._engine._w.dtype == (np.int64 if wmax > 128 else np.int32)


CORE_CASES = [("cuba", {}), ("cuba", {"refractory_bits": 3}),
              ("cuba", {"subtractive_reset": True, "v_floor": True}),
              ("cuba", {"param_mode": "profile", "refractory_bits": 2}), ("shift", {})]


@pytest.mark.parametrize("model,kw", CORE_CASES)
def test_core_engine_equals_reference(model, kw):
    rng = np.random.default_rng(SEED + 7400 + 10 * CORE_CASES.index((model, kw)))
    for rep in range(6):
        N, A = int(rng.choice([4, 8, 16])), int(rng.choice([3, 8, 16]))
        p = CoreParams(neurons=N, axons=A, lanes=1, model=model,
                       weight_bits=int(rng.integers(2, 9)), acc_bits=int(rng.integers(8, 17)),
                       max_step_events=1000, **kw)
        img = CoreImage.random(p, rng, density=float(rng.uniform(0.2, 1)))
        m, ref = CoreModel(img), CoreModel(img, reference=True)
        assert m._engine_ok and not ref._engine_ok
        rate = [0.3, 0.02][rep % 2]
        inputs = [list(np.flatnonzero(rng.random(A) < rate)) * int(rng.integers(1, 3))
                  for _ in range(20)]
        label = f"{model} {kw} rep {rep}"
        assert_traces_equal(m.run(inputs, steps=25), ref.run(inputs, steps=25), label)
        counts = rng.integers(0, 3, size=(6, A))
        assert_traces_equal(m.run(counts), ref.run(counts), label + " counts")
        for k, v in ref.state.items():
            assert np.array_equal(m.state[k], v), (label, k)
        assert m.t == ref.t


def test_core_errors_at_the_same_step_with_the_same_state():
    rng = np.random.default_rng(SEED + 7500)
    p = CoreParams(neurons=8, axons=8, lanes=1, max_step_events=10)
    img = CoreImage.random(p, rng)
    for bad, exc in [([9], ValueError), ([0] * 11, ValueError), ([0.5], TypeError)]:
        inputs = [[1, 2], [3], bad, [4]]
        errs = []
        models = [CoreModel(img), CoreModel(img, reference=True)]
        for m in models:
            with pytest.raises(exc) as e:
                m.run(inputs)
            errs.append(str(e.value))
        assert errs[0] == errs[1], errs
        assert models[0].t == models[1].t == 2
        for k, v in models[1].state.items():
            assert np.array_equal(models[0].state[k], v), k


def test_network_overflow_error_at_the_same_step_with_the_same_state():
    rng = np.random.default_rng(SEED + 7600)
    image, inputs = random_network(rng, 2, 1, "cuba", False, T=12)
    lim = image.params.max_step_events
    inputs[8] = [(1, 0)] * (lim + 1)
    errs, models = [], [NetworkModel(image), NetworkModel(image, reference=True)]
    for m in models:
        with pytest.raises(ValueError) as e:
            m.run(inputs)
        errs.append(str(e.value))
    assert errs[0] == errs[1] and "step 8" in errs[0], errs
    assert models[0].t == models[1].t == 8
    assert_runs_equal(models[0].run(None, steps=6), models[1].run(None, steps=6), "after")


@pytest.mark.parametrize("model", ["cuba", "shift"])
def test_learning_networks_still_equal_the_reference(model):
    """STDP is left to the numpy path (per core): the default model equals the reference."""
    rng = np.random.default_rng(SEED + 7700 + (model == "shift"))
    image, inputs = random_network(rng, 2, 1, model, True, T=20)
    m = NetworkModel(image)
    assert m._engine is None
    assert_runs_equal(m.run(inputs, steps=24),
                      NetworkModel(image, reference=True).run(inputs, steps=24), model)


def test_ideal_crossbar_network_equals_the_engine():
    """The ideal crossbar (numpy path, through the synapse interface) equals the engine's
    digital network bit for bit."""
    rng = np.random.default_rng(SEED + 7800)
    image, inputs = random_network(rng, 2, 1, "cuba", False, T=20, N=8, A=8)
    xb = NetworkModel(image, synapses=crossbar_factory("ideal", seed=3))
    assert xb._engine is None
    eng = NetworkModel(image)
    assert eng._engine is not None
    assert_runs_equal(eng.run(inputs, steps=24), xb.run(inputs, steps=24), "crossbar ideal")


def test_bit_trick_trunc12_and_wrap24_equal_the_spec_formulas():
    """``intops.trunc12`` and ``wrap24`` (bit tricks) against SPEC §3.3's definitions in
    Python integers, on edge values and random values over the whole range they are used in
    (|x| up to 2**37: u * 4095 and v * 4096 of 24-bit states, plus a_in << 6)."""
    from spikefab.sim.intops import trunc12, wrap24
    rng = np.random.default_rng(SEED + 7900)
    edge = [0, 1, -1, 4095, -4095, 4096, -4096, 4097, -4097, 8191, -8191, 8192, -8192,
            (1 << 23) - 1, -(1 << 23), 1 << 23, -(1 << 23) - 1, (1 << 24) - 1, -(1 << 24),
            (1 << 36), -(1 << 36), (1 << 37) - 1, -(1 << 37), (1 << 61), -(1 << 61)]
    xs = np.concatenate([np.array(edge, np.int64),
                         rng.integers(-(1 << 37), 1 << 37, size=20000),
                         rng.integers(-(1 << 14), 1 << 14, size=20000)])
    t, w = trunc12(xs), wrap24(xs)
    for x, a, b in zip(xs.tolist(), t.tolist(), w.tolist()):
        assert a == (-((-x) >> 12) if x < 0 else x >> 12), x
        assert b == ((x + (1 << 23)) % (1 << 24)) - (1 << 23), x


def test_zero_steps_progress_bars_and_parameter_edits():
    rng = np.random.default_rng(SEED + 8000)
    image, inputs = random_network(rng, 2, 1, "cuba", False, T=10)
    m, ref = NetworkModel(image), NetworkModel(image, reference=True)
    assert_runs_equal(m.run(None, steps=0), ref.run(None, steps=0), "zero steps")
    assert_runs_equal(m.run(inputs, steps=12, progress=True),
                      ref.run(inputs, steps=12, progress=True), "progress")
    img = image.cores[0]
    a, b = CoreModel(img), CoreModel(img, reference=True)
    assert_traces_equal(a.run(None, steps=0), b.run(None, steps=0), "core, zero steps")
    ins = [[0, 1], [], [2, 2]]
    assert_traces_equal(a.run(ins, steps=5, progress=True), b.run(ins, steps=5, progress=True),
                        "core, progress")
    for x in (a, b):                   # a parameter changed between runs counts
        x.neuron_params["vth"][:] = 0
    assert_traces_equal(a.run(ins, steps=5), b.run(ins, steps=5), "core, new vth")
