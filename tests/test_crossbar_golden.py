"""Crossbar cores in the golden model (sim/crossbar_synapses.py; SPEC §3.2, §3.5, §3.7).

- with every non-ideality off (preset ``ideal``, enough levels, matched ADC) a core and a
  network run with crossbar synapses equal the digital runs bit for bit (spikes, u, v,
  refractory counters, learned weights, traces), learning on and off, and the devices hold
  the learned weights;
- with noise on, two runs with one seed are identical and two seeds differ;
- the golden model sends a custom synapse object the LTD and the LTP changes of a step as
  two calls, LTD first, and a non-linear device answers them differently from one net
  request;
- ``a_in`` is saturated to ``acc_bits``; the adapter's draws follow the step number.
"""

import os

import numpy as np
import pytest

from spikefab.rtl.image import CoreImage
from spikefab.rtl.params import CoreParams
from spikefab.sim.crossbar import DeviceParams
from spikefab.sim.crossbar_synapses import CrossbarCoreSynapses, core_seed, crossbar_factory
from spikefab.sim.golden import CoreModel
from spikefab.sim.network import NetworkModel
from spikefab.sim.synapses import Synapses

from test_network_golden import random_network


SEED = int(os.environ.get("SPIKEFAB_SEED", "20241122"))


@pytest.fixture
def rng():
    print(f"random seed: {SEED} (set SPIKEFAB_SEED to change)")
    return np.random.default_rng(SEED)


def active_core(rng, model, learning, weight_bits):
    p = CoreParams(neurons=8, axons=8, lanes=1, model=model, weight_bits=weight_bits,
                   acc_bits=int(rng.integers(10, 17)), max_step_events=1000,
                   learning=learning)
    img = CoreImage.random(p, rng, density=0.8)
    if model == "cuba":                     # neurons that fire
        npar = {k: v.copy() for k, v in img.neuron_params.items()}
        npar["vth"][:] = rng.integers(0, 40, size=npar["vth"].shape)
        npar["bias_exp"][:] = 6
        npar["bias_mant"][:] = rng.integers(0, 300, size=npar["bias_mant"].shape)
        img = CoreImage(p, weights=img.weights, w_exp=img.w_exp, neuron_params=npar,
                        profile_index=img.profile_index, state=img.state, stdp=img.stdp,
                        plastic=img.plastic, x=img.x, y=img.y)
    if learning:
        img = img.replace(stdp={"learn_en": 1}, plastic=np.ones(p.axons, np.int64))
    return img


def assert_same_trace(got, ref, label):
    for q in ("spikes", "u", "v"):
        assert np.array_equal(getattr(got, q), getattr(ref, q)), (label, q)
    assert set(got.extra) == set(ref.extra), label
    for k in ref.extra:
        assert np.array_equal(got.extra[k], ref.extra[k]), (label, k)


@pytest.mark.parametrize("model", ["cuba", "shift"])
@pytest.mark.parametrize("learning", [False, True])
def test_ideal_crossbar_core_equals_digital(rng, model, learning):
    spikes = changed = 0
    for case in range(4):
        bits = [4, 8, 2, 6][case]
        img = active_core(rng, model, learning, bits)
        T = 40
        counts = rng.integers(0, 3, size=(T, 8)) * (rng.random((T, 8)) < 0.5)
        lists = [list(np.repeat(np.arange(8), c)) for c in counts]
        for inputs in (counts, lists):
            ref = CoreModel(img).run(inputs, T)
            syn = CrossbarCoreSynapses.from_image(img, "ideal", seed=case)
            assert syn.device.levels - 1 >= 1 << (bits - 1)
            m = CoreModel(img, synapses=syn)
            got = m.run(inputs, T)
            assert_same_trace(got, ref, (model, learning, case))
            assert np.array_equal(syn.device_weights(), m.weights)
            spikes += int(ref.spikes.sum())
            if learning:
                changed += int((ref.extra["weights"][-1] != img.weights).sum())
            m.reset()                                   # back to the programmed weights
            assert np.array_equal(syn.device_weights(), img.weights) and syn.step == 0
            assert_same_trace(m.run(inputs, T), ref, (model, learning, case, "again"))
    assert spikes > 0, "no neuron ever fired: the case tests nothing"
    assert changed > 0 or not learning, "no weight ever changed: the case tests nothing"


@pytest.mark.parametrize("learning", [False, True])
def test_ideal_crossbar_network_equals_digital(rng, learning):
    for case, (w, h) in enumerate([(1, 1), (2, 1), (2, 2)]):
        image, inputs = random_network(rng, w, h, "cuba", learning, T=30)
        ref = NetworkModel(image).run(inputs, 34)
        m = NetworkModel(image, synapses=crossbar_factory("ideal", seed=case))
        assert all(type(c.synapses) is CrossbarCoreSynapses for c in m.cores)
        got = m.run(inputs, 34)
        assert_same_trace(got.trace, ref.trace, (learning, case))
        assert got.outputs == ref.outputs
        for c in m.cores:
            assert np.array_equal(c.synapses.device_weights(), c.weights)
        assert ref.trace.spikes.sum() > 0


def noisy_run(image, inputs, seed, T=34):
    fac = crossbar_factory("rram_neurosim", seed=seed)
    return NetworkModel(image, synapses=fac).run(inputs, T)


@pytest.mark.parametrize("learning", [False, True])
def test_noisy_crossbar_network_seeded(rng, learning):
    image, inputs = random_network(rng, 2, 1, "cuba", learning, T=30, N=8, A=16,
                                   activity=0.3)
    a, b, c = (noisy_run(image, inputs, s) for s in (5, 5, 6))
    assert_same_trace(a.trace, b.trace, "same seed")
    assert a.outputs == b.outputs
    assert not np.array_equal(a.trace.u, c.trace.u), "two seeds gave the same run"
    ref = NetworkModel(image).run(inputs, 34)
    assert not np.array_equal(a.trace.u, ref.trace.u), "the noise changed nothing"


def test_core_seeds_differ_per_core_and_seed():
    seeds = {core_seed(s, c) for s in range(3) for c in range(4)}
    assert len(seeds) == 12


class Recorder(Synapses):
    """Integer weights; records every update call."""

    def __init__(self, image):
        self.axons, self.neurons = image.params.axons, image.params.neurons
        self.w0, self.calls = image.weights.copy(), []
        self.reset()

    def reset(self):
        self.w = self.w0.copy()

    def a_in(self, counts):
        return np.zeros(self.neurons, np.int64)

    @property
    def weights(self):
        return self.w.copy()

    def update(self, axon, neuron, delta):
        self.calls.append(list(zip(np.asarray(axon).tolist(), np.asarray(neuron).tolist(),
                                   np.asarray(delta).tolist())))
        for a, n, d in self.calls[-1]:
            self.w[a, n] += d


def pair_image():
    """1 axon, 1 driver neuron (fires every step), STDP with both phases at step 1."""
    p = CoreParams(neurons=1, axons=1, lanes=1, weight_bits=8, learning=True)
    img = CoreImage(p, weights=np.array([[0]]),
                    neuron_params={"du": 4095, "dv": 4095, "vth": 0, "bias_mant": 1,
                                   "bias_exp": 0})
    return img.replace(stdp=dict(learn_en=1, k_pre=1, k_post=1, imp_pre=64, imp_post=64,
                                 a_plus=1, a_minus=1, s_plus=2, s_minus=3, w_min=-128,
                                 w_max=127),
                       plastic=np.ones(p.axons, np.int64))      # checked images are read-only


def test_ltd_and_ltp_reach_the_object_as_two_calls():
    img = pair_image()
    rec = Recorder(img)
    m = CoreModel(img, synapses=rec)
    m.step([0])                # LTD sees y = 0: no change; LTP +((64) >> 2) = +16
    m.step([0])                # LTD -((1 * 32) >> 3) = -4, then LTP +((1 * (32 + 64)) >> 2)
    assert rec.calls == [[(0, 0, 16)], [(0, 0, -4)], [(0, 0, 24)]]
    ref = CoreModel(img)
    ref.step([0]), ref.step([0])
    assert rec.w.tolist() == ref.weights.tolist() == [[36]]


def test_two_requests_differ_from_one_on_a_nonlinear_device():
    # the same LTD-then-LTP step through the adapter (two requests) and as one net request:
    # a non-linear device law ends in different states
    img = pair_image()
    dev = DeviceParams(levels=256, nl_set=0.2, nl_reset=0.2)
    syn = CrossbarCoreSynapses.from_image(img, dev)
    m = CoreModel(img, synapses=syn)
    m.step([0]), m.step([0])
    two = syn.conductances()
    net = CrossbarCoreSynapses.from_image(img, dev)
    net.a_in(np.array([1])), net.update([0], [0], [16])
    net.a_in(np.array([1])), net.update([0], [0], [20])
    one = net.conductances()
    assert syn.weights.tolist() == net.weights.tolist() == [[36]]
    assert not np.allclose(two[0], one[0], rtol=1e-6, atol=0)


def test_a_in_is_saturated_to_acc_bits():
    p = CoreParams(neurons=2, axons=3, lanes=1, weight_bits=8, acc_bits=8,
                   max_step_events=100)
    img = CoreImage(p, weights=np.array([[100, -100]] * 3), w_exp=0)
    syn = CrossbarCoreSynapses.from_image(img)
    assert syn.a_in(np.array([1, 1, 1])).tolist() == [127, -128]
    assert syn.a_in(np.array([1, 0, 0])).tolist() == [100, -100]
    assert syn.step == 2


def test_draws_follow_the_step_number():
    # read noise at step k is the physics model's draw for step k, whatever came before
    p = CoreParams(neurons=4, axons=6, lanes=1, weight_bits=6, acc_bits=16)
    img = CoreImage.random(p, np.random.default_rng(3), density=1.0)
    dev = DeviceParams(read_noise=0.05)
    counts = np.array([1, 2, 0, 1, 1, 3])
    syn = CrossbarCoreSynapses.from_image(img, dev, seed=9)
    got = [syn.a_in(counts).tolist() for _ in range(3)]
    direct = CrossbarCoreSynapses.from_image(img, dev, seed=9).xbar
    assert got == [direct.a_in(k, counts).tolist() for k in (0, 1, 2)]
    assert got[0] != got[1]


def test_update_refuses_to_leave_the_weight_range():
    img = pair_image()
    syn = CrossbarCoreSynapses.from_image(img)
    with pytest.raises(ValueError, match=r"weight \(0, 0\) would become 128, outside the "
                                         r"weight range -128..127"):
        syn.update([0], [0], [128])
    with pytest.raises(ValueError, match="axon 1 is out of range: allowed 0..0"):
        syn.update([1], [0], [1])
    assert syn.weights.tolist() == [[0]] and syn._pending == []


def test_stdp_step_phases_split_the_step(rng):
    # w_ltd is the step without post spikes (LTD alone); the final weights are stdp_step's
    from spikefab.sim.stdp import stdp_step, stdp_step_phases
    regs = dict(learn_en=1, k_pre=2, k_post=1, imp_pre=90, imp_post=70, a_plus=7,
                a_minus=9, s_plus=3, s_minus=2, w_min=-50, w_max=60)
    for _ in range(200):
        A, N = int(rng.integers(1, 9)), int(rng.integers(1, 9))
        w = rng.integers(-50, 61, (A, N))
        x, y = rng.integers(0, 256, A), rng.integers(0, 256, N)
        pre, post, pl = (rng.random(A) < 0.5), (rng.random(N) < 0.5), (rng.random(A) < 0.7)
        w_ltd, w2, x2, y2 = stdp_step_phases(w, x, y, pre, post, pl, regs, 255, (-128, 127))
        ref = stdp_step(w, x, y, pre, post, pl, regs, 255, (-128, 127))
        assert all(np.array_equal(a, b) for a, b in zip((w2, x2, y2), ref))
        ltd_only = stdp_step(w, x, y, pre, np.zeros(N, bool), pl, regs, 255, (-128, 127))[0]
        assert np.array_equal(w_ltd, ltd_only)
