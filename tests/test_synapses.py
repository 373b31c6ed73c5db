"""The synaptic-input seam of the golden model (sim/synapses.py): the digital synapse memory
against SPEC §3.2 computed in plain Python, its weight-update requests, and custom synapse
objects plugged into CoreModel and NetworkModel."""

import os

import numpy as np
import pytest

from spikefab.rtl.image import CoreImage
from spikefab.rtl.netimage import NetworkImage
from spikefab.rtl.params import CoreParams, MeshParams
from spikefab.sim.golden import CoreModel, cuba_step
from spikefab.sim.network import NetworkModel
from spikefab.sim.synapses import DigitalSynapseArray, DigitalSynapses, Synapses

from test_network_golden import random_network


SEED = int(os.environ.get("SPIKEFAB_SEED", "20241122"))


@pytest.fixture
def rng():
    print(f"random seed: {SEED} (set SPIKEFAB_SEED to change)")
    return np.random.default_rng(SEED)


def r_a_in(w, w_exp, counts, acc_bits):
    """SPEC §3.2 in Python integers: exact sum of counts[a] * (w[a][n] << w_exp), saturated
    once to acc_bits signed."""
    hi = 2 ** (acc_bits - 1) - 1
    out = []
    for n in range(len(w[0])):
        s = sum(int(c) * int(w[a][n]) * 2 ** w_exp for a, c in enumerate(counts))
        out.append(min(max(s, -hi - 1), hi))
    return out


class PlainSynapses(Synapses):
    """An independent synapse object: SPEC §3.2 in Python integers, weights in a list of
    lists, every call recorded."""

    def __init__(self, image):
        p = image.params
        self.axons, self.neurons = p.axons, p.neurons
        self.w0 = image.weights.tolist()
        self.w_exp, self.acc_bits = int(image.w_exp), p.acc_bits
        self.calls, self.requests = [], []
        self.reset()

    def reset(self):
        self.w = [row[:] for row in self.w0]

    def a_in(self, counts):
        self.calls.append(counts.tolist())
        return np.array(r_a_in(self.w, self.w_exp, counts.tolist(), self.acc_bits), np.int64)

    @property
    def weights(self):
        return np.array(self.w, np.int64)

    def update(self, axon, neuron, delta):
        reqs = list(zip(np.asarray(axon).tolist(), np.asarray(neuron).tolist(),
                        np.asarray(delta).tolist()))
        self.requests.append(reqs)
        for a, n, d in reqs:
            self.w[a][n] += d


class RequestedDigital(DigitalSynapses):
    """The digital memory as a custom object: the model sends it requests (and checks its
    a_in) instead of taking the digital fast path."""


class ConstantSynapses(Synapses):
    """A synapse object whose a_in ignores the weights: ``scale`` times the number of events
    of the step, for every neuron (it proves that the model uses what the object returns)."""

    def __init__(self, axons, neurons, scale):
        self.axons, self.neurons, self.scale = axons, neurons, scale
        self._w = np.zeros((axons, neurons), np.int64)

    def a_in(self, counts):
        return np.full(self.neurons, self.scale * int(counts.sum()), np.int64)

    @property
    def weights(self):
        return self._w

    def update(self, axon, neuron, delta):
        raise AssertionError("no learning here")

    def reset(self):
        pass


# --- DigitalSynapses against SPEC §3.2 --------------------------------------------------------

def test_digital_a_in_random_cores_vs_python(rng):
    # random cores (weights of every width, w_exp, acc_bits) and counts from idle to large,
    # both entry points; the large counts cross 2**24 and 2**53 of the exactness bound
    for case in range(150):
        A, N = int(rng.integers(1, 40)), int(rng.integers(1, 20))
        bits = int(rng.integers(2, 9))
        w = rng.integers(-(1 << (bits - 1)), 1 << (bits - 1), size=(A, N))
        w_exp, acc_bits = int(rng.integers(0, 8)), int(rng.integers(2, 30))
        syn = DigitalSynapses(w, w_exp, acc_bits)
        scale = [0, 1, 3, 1 << 18, 1 << 30][case % 5]
        counts = rng.integers(0, scale + 1, size=A) * (rng.random(A) < 0.6)
        exp = r_a_in(w.tolist(), w_exp, counts.tolist(), acc_bits)
        got = syn.a_in(counts.astype(np.int64))
        assert got.dtype == np.int64 and got.tolist() == exp, case
        if scale <= 3:
            ids = np.repeat(np.arange(A), counts)
            rng.shuffle(ids)
            assert syn.a_in_ids(ids.astype(np.int64)).tolist() == exp, case


def test_digital_array_equals_each_core(rng):
    cores = [DigitalSynapses(rng.integers(-128, 128, (8, 5)), int(rng.integers(0, 8)), 20)
             for _ in range(6)]
    arr = DigitalSynapseArray(cores)
    for scale in (0, 2, 1 << 17, 1 << 40):
        counts = rng.integers(0, scale + 1, size=(6, 8))
        got = arr.a_in(counts)
        assert got.tolist() == [s.a_in(counts[c]).tolist() for c, s in enumerate(cores)]
    # an update of one core is seen by the next batched call
    cores[2].update([1], [3], [-5])
    counts = rng.integers(0, 4, size=(6, 8))
    assert arr.a_in(counts)[2].tolist() == r_a_in(cores[2].weights.tolist(), cores[2].w_exp,
                                                  counts[2].tolist(), 20)


def test_digital_update_requests_and_reset():
    w0 = np.array([[1, -2, 3], [0, 5, -6]])
    syn = DigitalSynapses(w0, 1, 16, weight_range=(-8, 7))
    syn.a_in(np.array([1, 1]))                          # makes the float copy
    syn.update([1, 0, 1], [2, 0, 2], [3, -4, 2])        # (1, 2) twice: the deltas add
    assert syn.weights.tolist() == [[-3, -2, 3], [0, 5, -1]]
    assert syn.a_in(np.array([2, 1])).tolist() == r_a_in(syn.weights.tolist(), 1, [2, 1], 16)
    with pytest.raises(ValueError, match=r"weight \(0, 2\) would become 8, outside the weight "
                                         r"range -8..7"):
        syn.update([0, 0], [0, 2], [1, 5])
    with pytest.raises(ValueError, match="axon 2 is out of range: allowed 0..1"):
        syn.update([2], [0], [1])
    with pytest.raises(ValueError, match="neuron -1 is out of range: allowed 0..2"):
        syn.update([0], [-1], [1])
    with pytest.raises(ValueError, match="1, 2 and 2 entries"):
        syn.update([0], [0, 1], [1, 1])
    assert syn.weights.tolist() == [[-3, -2, 3], [0, 5, -1]]   # refused: nothing changed
    with pytest.raises(ValueError):
        syn.weights[0, 0] = 1                               # read only: use update()
    syn.reset()
    assert syn.weights.tolist() == w0.tolist()
    assert syn.a_in(np.array([0, 1])).tolist() == [0, 10, -12]


def test_digital_constructor_checks():
    with pytest.raises(ValueError, match=r"weights must have shape \[A, N\]"):
        DigitalSynapses(np.zeros(3, int), 0, 8)
    with pytest.raises(ValueError, match="w_exp = -1 must not be negative"):
        DigitalSynapses(np.zeros((2, 2), int), -1, 8)
    with pytest.raises(ValueError, match="acc_bits = 0 must be at least 1"):
        DigitalSynapses(np.zeros((2, 2), int), 0, 0)
    with pytest.raises(TypeError, match="weights must hold integers"):
        DigitalSynapses(np.zeros((2, 2)), 0, 8)


# --- custom synapse objects in CoreModel ------------------------------------------------------

@pytest.mark.parametrize("model,learning", [("cuba", False), ("cuba", True), ("shift", False),
                                            ("shift", True)])
def test_core_model_with_plain_synapses_equals_digital(rng, model, learning):
    # the default (DigitalSynapses) and an independent Python object give the same trace, bit
    # for bit, on random cores, both input forms; with learning the object receives the STDP
    # changes as (axon, neuron, delta) requests, and applying them reproduces the weights
    n_requests = 0
    for case in range(6):
        p = CoreParams(neurons=int(rng.choice([4, 8])), axons=int(rng.choice([3, 8])), lanes=1,
                       model=model, weight_bits=int(rng.integers(2, 9)),
                       acc_bits=int(rng.integers(6, 17)), max_step_events=1000,
                       learning=learning)
        img = CoreImage.random(p, rng, density=0.8)
        if learning:
            img = img.replace(stdp={"learn_en": 1}, plastic=np.ones(p.axons, np.int64))
        T = 25
        counts = rng.integers(0, 3, size=(T, p.axons)) * (rng.random((T, p.axons)) < 0.5)
        lists = [list(np.repeat(np.arange(p.axons), c)) for c in counts]
        for inputs in (counts, lists):
            ref = CoreModel(img).run(inputs, T)
            plain = PlainSynapses(img)
            m = CoreModel(img, synapses=plain)
            got = m.run(inputs, T)
            assert np.array_equal(got.spikes, ref.spikes) and np.array_equal(got.u, ref.u) \
                and np.array_equal(got.v, ref.v), (model, learning, case)
            assert set(got.extra) == set(ref.extra)
            for k in ref.extra:
                assert np.array_equal(got.extra[k], ref.extra[k]), (k, case)
            # one a_in call per step, with the step's per-axon counts
            assert plain.calls == counts.tolist()
            assert m.synapses is plain and np.array_equal(m.weights, plain.weights)
            if learning:
                n_requests += sum(len(r) for r in plain.requests)
                w = img.weights.copy()
                for reqs in plain.requests:
                    assert reqs == sorted(reqs) and all(d != 0 for _, _, d in reqs)
                    for a, n, d in reqs:
                        w[a, n] += d
                assert np.array_equal(w, ref.extra["weights"][-1])
            else:
                assert plain.requests == []
            m.reset()                                  # reset reaches the synapses
            assert plain.weights.tolist() == img.weights.tolist()
            # the digital memory fed with requests equals its fast path
            got = CoreModel(img, synapses=RequestedDigital.from_image(img)).run(inputs, T)
            assert np.array_equal(got.v, ref.v) and np.array_equal(got.spikes, ref.spikes)
            for k in ref.extra:
                assert np.array_equal(got.extra[k], ref.extra[k]), (k, case)
    assert n_requests > 0 or not learning, "no weight ever changed: the case tests nothing"


def test_core_model_uses_what_the_synapses_return():
    # listener cuba neurons (du = 4095: u = 64 * a_in): u shows exactly the object's a_in
    p = CoreParams(neurons=3, axons=4, lanes=1)
    img = CoreImage(p, weights=np.ones((4, 3), int),
                    neuron_params={"du": 4095, "dv": 4095, "vth": 131071})
    m = CoreModel(img, synapses=ConstantSynapses(4, 3, -7))
    tr = m.run([[0, 1, 1], [], [3]], 3)
    assert tr.u.tolist() == [[64 * -21] * 3, [0] * 3, [64 * -7] * 3]
    # and the same a_in through the pure step function
    st, _ = cuba_step({"u": np.zeros(3, int), "v": np.zeros(3, int)}, m.neuron_params,
                      np.full(3, -21))
    assert st["u"].tolist() == tr.u[0].tolist()


def test_core_model_checks_the_synapse_object():
    p = CoreParams(neurons=3, axons=4, lanes=1, acc_bits=8)
    img = CoreImage(p)
    with pytest.raises(TypeError, match="synapses must be a Synapses object"):
        CoreModel(img, synapses=np.zeros((4, 3)))
    with pytest.raises(ValueError, match="synapses has 4 axons and 2 neurons, the core 4 axons "
                                         "and 3 neurons"):
        CoreModel(img, synapses=ConstantSynapses(4, 2, 1))
    m = CoreModel(img, synapses=ConstantSynapses(4, 3, 100))
    m.step([0])
    with pytest.raises(ValueError, match=r"step 1: synapses.a_in\[0\] = 200 is out of range: "
                                         r"allowed -128..127 \(acc_bits = 8\)"):
        m.step([0, 1])
    assert m.t == 1                                    # the failed step changed nothing

    class Wrong(ConstantSynapses):
        def a_in(self, counts):
            return np.zeros(2, np.int64)
    with pytest.raises(ValueError, match=r"step 0: synapses.a_in returned int64 \(2,\), "
                                         r"expected integers of shape \(3,\)"):
        CoreModel(img, synapses=Wrong(4, 3, 0)).step_counts(np.zeros(4, int))


# --- custom synapse objects in NetworkModel ---------------------------------------------------

@pytest.mark.parametrize("learning", [False, True])
def test_network_model_with_plain_synapses_equals_digital(rng, learning):
    for case, (w, h) in enumerate([(1, 1), (2, 1), (2, 2)]):
        image, inputs = random_network(rng, w, h, "cuba", learning, T=30)
        ref = NetworkModel(image).run(inputs, 34)
        objs = [PlainSynapses(img) for img in image.cores]
        for synapses in (objs, lambda c, img: PlainSynapses(img)):
            m = NetworkModel(image, synapses=synapses)
            if synapses is objs:
                assert all(m.cores[c].synapses is objs[c] for c in range(len(objs)))
            got = m.run(inputs, 34)
            for q in ("spikes", "u", "v"):
                assert np.array_equal(getattr(got.trace, q), getattr(ref.trace, q)), (case, q)
            for k in ref.trace.extra:
                assert np.array_equal(got.trace.extra[k], ref.trace.extra[k]), (case, k)
            assert got.outputs == ref.outputs
            assert all(type(c.synapses) is PlainSynapses for c in m.cores)
        assert all(len(o.calls) == 34 for o in objs)      # every core, every step


def test_network_model_uses_what_the_synapses_return():
    # 2 cores of listeners: core 1's object returns 5 * (events), core 0 the digital memory
    p = CoreParams(neurons=2, axons=2, lanes=1)
    lis = {"du": 4095, "dv": 4095, "vth": 131071}
    cores = [CoreImage(p, weights=np.array([[1, 2], [3, 4]]), neuron_params=lis)
             for _ in range(2)]
    image = NetworkImage(MeshParams(width=2, height=1, route_entries=1), cores)
    syn = lambda c, img: ConstantSynapses(2, 2, 5) if c == 1 else DigitalSynapses.from_image(img)
    run = NetworkModel(image, synapses=syn).run([[(0, 1), (1, 0), (1, 1), (1, 1)]])
    assert run.trace.u.tolist() == [[64 * 3, 64 * 4, 64 * 15, 64 * 15]]


def test_network_sees_host_weight_updates_without_learning():
    p = CoreParams(neurons=2, axons=2, lanes=1)
    lis = {"du": 4095, "dv": 4095, "vth": 131071}
    cores = [CoreImage(p, weights=np.array([[1, 2], [3, 4]]), neuron_params=lis)
             for _ in range(2)]
    m = NetworkModel(NetworkImage(MeshParams(width=2, height=1, route_entries=1), cores))
    assert m.step([(1, 0)]).spikes.shape == (2, 2)
    m.cores[1].synapses.update([0], [1], [3])          # the host writes w[0, 1] of core 1
    m.run([[(1, 0)]])
    u = m.cores[1].state["u"]
    assert u.tolist() == [64 * 1, 64 * 5]
    m.reset()
    assert m.cores[1].weights.tolist() == [[1, 2], [3, 4]]


def test_network_model_checks_the_synapse_objects():
    p = CoreParams(neurons=2, axons=2, lanes=1)
    image = NetworkImage(MeshParams(width=2, height=1, route_entries=1),
                         [CoreImage(p), CoreImage(p)])
    one = ConstantSynapses(2, 2, 1)
    with pytest.raises(ValueError, match="synapses has 1 objects, the mesh 2 cores"):
        NetworkModel(image, synapses=[one])
    with pytest.raises(ValueError, match="the same object is given for two cores"):
        NetworkModel(image, synapses=[one, one])
    with pytest.raises(TypeError, match="synapses of core 1 must be a Synapses object"):
        NetworkModel(image, synapses=[one, "x"])
    with pytest.raises(TypeError, match="synapses must be a list of Synapses objects"):
        NetworkModel(image, synapses=one)
