"""Tests of the golden network model (sim/network.py), written from the array semantics
(SPEC §3.1, §3.2, §3.6; docs/network_golden.md), not from the implementation.

Directed cases use neurons whose arithmetic is trivial to do by hand (``cuba``):

- listener: du = 4095, so ``u = trunc12(u * 0) + (a_in << 6) = 64 * a_in`` exactly: u shows
  this step's synaptic input and nothing else; vth = 131071 so it never fires;
- one-shot: du = dv = 4095, vth = 0: u = 64 * a_in, ``v' = trunc12(v * 1) + u`` = u (v stays
  0 when |v| < 4096), so it fires exactly at the steps where a_in > 0;
- driver: one-shot with bias_mant = 1: v' = 1 > 0 at every step: it fires at every step.

An independent reference (a per-event Python loop over a dict of scheduled deliveries, each
core a ``CoreModel`` fed with axon lists through ``CoreModel.step``, the fan-out read with
``RouteTable.targets``) is compared with ``NetworkModel`` on seeded random networks.
"""

import os
from collections import defaultdict

import numpy as np
import pytest

from spikefab.rtl.image import CoreImage
from spikefab.rtl.netimage import EXIT, NetworkImage, RouteTable
from spikefab.rtl.params import CoreParams, MeshParams
from spikefab.sim.golden import CoreModel
from spikefab.sim.network import (NetworkModel, NetworkRun, StepResult,
                                    decode_network_inputs, encode_network_inputs)
from spikefab.sim.trace import Trace, assert_traces_equal


SEED = int(os.environ.get("SPIKEFAB_SEED", "20241122"))

LISTENER = {"du": 4095, "dv": 4095, "vth": 131071, "bias_mant": 0, "bias_exp": 0}
ONESHOT = {"du": 4095, "dv": 4095, "vth": 0, "bias_mant": 0, "bias_exp": 0}
DRIVER = {"du": 4095, "dv": 4095, "vth": 0, "bias_mant": 1, "bias_exp": 0}


def params(**kw):
    d = dict(neurons=4, axons=4, lanes=1, max_delay=4, weight_bits=4)
    d.update(kw)
    return CoreParams(**d)


def core(p, kinds, w=None, w_exp=0):
    """A cuba core whose neuron n behaves as ``kinds[n]`` (a dict of parameters)."""
    npar = {k: np.array([kd[k] for kd in kinds]) for k in LISTENER}
    return CoreImage(p, weights=w, w_exp=w_exp, neuron_params=npar)


def eye(p, scale=1):
    """Weights w[a, n] = scale if a == n (axon a drives neuron a only)."""
    w = np.zeros((p.axons, p.neurons), np.int64)
    for i in range(min(p.axons, p.neurons)):
        w[i, i] = scale
    return w


def network(mesh, p, cores, fanouts):
    """A NetworkImage; ``fanouts[c]`` is core c's per-neuron fan-out list (or None)."""
    routes = [RouteTable.from_fanout(mesh, p, f) if f is not None else RouteTable(mesh=mesh, params=p)
              for f in fanouts]
    return NetworkImage(mesh, cores, routes)


def u_of(run, core_index, neuron, N):
    return run.trace.u[:, core_index * N + neuron]


# =====================================================================================
# Directed, hand-computed cases
# =====================================================================================

def test_delays_1_2_3_driver_every_step():
    # 2x1 mesh. Core 0: drivers 0, 1, 2 (fire at every step from step 0) routed to axons
    # 0, 1, 2 of core (1, 0) with delays 1, 2, 3. Core 1: listeners, w[a, a] = a + 1,
    # w_exp = 1. Listener n first sees its input at step n + 1 and then at every step:
    # u = 64 * ((n + 1) << 1).
    p = params()
    mesh = MeshParams(width=2, height=1, route_entries=8)
    c0 = core(p, [DRIVER, DRIVER, DRIVER, LISTENER])
    w1 = np.diag([1, 2, 3, 4])
    c1 = core(p, [LISTENER] * 4, w=w1, w_exp=1)
    fan0 = [[(1, 0, 0, 1)], [(1, 0, 1, 2)], [(1, 0, 2, 3)], []]
    run = NetworkModel(network(mesh, p, [c0, c1], [fan0, None])).run(steps=6)
    sp = run.trace.spikes
    assert sp[:, 0:3].all() and not sp[:, 3].any() and not sp[:, 4:].any()
    for n, d in enumerate((1, 2, 3)):
        expected = [0] * d + [64 * ((n + 1) << 1)] * (6 - d)
        assert u_of(run, 1, n, 4).tolist() == expected, n
    assert u_of(run, 1, 3, 4).tolist() == [0] * 6
    # events at core 1: step 0: none; 1: one (delay 1); 2: two; >= 3: three
    assert run.trace.extra["events"].tolist() == [[0, 0], [0, 1], [0, 2], [0, 3], [0, 3], [0, 3]]
    assert run.packets.tolist() == [3] * 6
    assert run.outputs == []


@pytest.mark.parametrize("delay", [1, 2, 3, 4])
def test_one_shot_arrives_exactly_delay_steps_later(delay):
    # External spike for step 2 on (core 0, axon 3): one-shot neuron 3 of core 0 fires at
    # step 2 only; it routes to axon 3 of core 1 with the given delay: listener 3 of core 1
    # has u = 64 * 5 (w = 5) at step 2 + delay and 0 at every other step.
    p = params()
    mesh = MeshParams(width=2, height=1, route_entries=8)
    c0 = core(p, [LISTENER, LISTENER, LISTENER, ONESHOT], w=eye(p))
    c1 = core(p, [LISTENER] * 4, w=eye(p, 5))
    fan0 = [[], [], [], [(1, 0, 3, delay)]]
    inputs = [[], [], [(0, 3)]]
    run = NetworkModel(network(mesh, p, [c0, c1], [fan0, None])).run(inputs, steps=8)
    assert np.flatnonzero(run.trace.spikes[:, 3]).tolist() == [2]
    assert u_of(run, 0, 3, 4).tolist() == [0, 0, 64, 0, 0, 0, 0, 0]   # ext input at step 2
    expected = [0] * 8
    expected[2 + delay] = 64 * 5
    assert u_of(run, 1, 3, 4).tolist() == expected
    assert run.packets.tolist() == [0, 0, 1, 0, 0, 0, 0, 0]


def test_fan_out_to_several_cores():
    # 2x2 mesh. Core (0, 0) neuron 0 (one-shot) fires at step 0 (external input) and routes to
    # axon 1 of (1, 0), axon 2 of (0, 1), axon 3 of (1, 1) and axon 0 of its own core, all
    # with delay 1. Every listener n of every core has w[n, n] = 2 + core index.
    p = params()
    mesh = MeshParams(width=2, height=2, route_entries=8)
    cores = []
    for c in range(4):
        kinds = [ONESHOT if c == 0 else LISTENER] + [LISTENER] * 3
        cores.append(core(p, kinds, w=eye(p, 2 + c)))
    fan0 = [[(1, 0, 1, 1), (0, 1, 2, 1), (1, 1, 3, 1), (0, 0, 0, 1)], [], [], []]
    run = NetworkModel(network(mesh, p, cores, [fan0, None, None, None])).run([[(0, 0)]], steps=3)
    # it feeds itself back (axon 0 of its own core): it fires again at every step
    assert np.flatnonzero(run.trace.spikes[:, 0]).tolist() == [0, 1, 2]
    assert run.packets.tolist() == [4, 4, 4]
    # step 1: core 1 (x=1, y=0) axon 1 -> neuron 1; core 2 (0, 1) axon 2; core 3 (1, 1) axon 3
    assert u_of(run, 1, 1, 4).tolist() == [0, 64 * 3, 64 * 3]
    assert u_of(run, 2, 2, 4).tolist() == [0, 64 * 4, 64 * 4]
    assert u_of(run, 3, 3, 4).tolist() == [0, 64 * 5, 64 * 5]
    assert u_of(run, 0, 0, 4).tolist() == [64 * 2, 64 * 2, 64 * 2]
    assert run.trace.extra["events"].tolist() == [[1, 0, 0, 0], [1, 1, 1, 1], [1, 1, 1, 1]]
    # nothing else moved
    others = [(1, 0), (1, 2), (1, 3), (2, 0), (2, 1), (2, 3), (3, 0), (3, 1), (3, 2)]
    for c, n in others:
        assert not u_of(run, c, n, 4).any(), (c, n)


def test_two_entries_to_the_same_axon_count_twice():
    # Neuron 0 of core 0 (one-shot, fires at step 0) has two entries to axon 2 of core 1 with
    # delay 1 and a third with delay 2. Listener 2 of core 1 (w = 3, w_exp = 2):
    # step 1: a_in = 2 * (3 << 2) = 24, u = 1536; step 2: a_in = 12, u = 768.
    p = params()
    mesh = MeshParams(width=2, height=1, route_entries=8)
    c0 = core(p, [ONESHOT] + [LISTENER] * 3, w=eye(p))
    c1 = core(p, [LISTENER] * 4, w=eye(p, 3), w_exp=2)
    fan0 = [[(1, 0, 2, 1), (1, 0, 2, 1), (1, 0, 2, 2)], [], [], []]
    run = NetworkModel(network(mesh, p, [c0, c1], [fan0, None])).run([[(0, 0)]], steps=4)
    assert u_of(run, 1, 2, 4).tolist() == [0, 1536, 768, 0]
    assert run.trace.extra["events"][:, 1].tolist() == [0, 2, 1, 0]
    assert run.packets.tolist() == [3, 0, 0, 0]


def test_external_input_repeats_and_routed_events_add_up():
    # Core 1 listener 1 (w = 1): an external pair given twice for step 3 counts twice, and a
    # routed event (one-shot neuron 0 of core 0 fired at step 1, delay 2) arrives at step 3
    # too: a_in = 3 at step 3, u = 192; the external pairs of step 5 alone: u = 64.
    p = params()
    mesh = MeshParams(width=2, height=1, route_entries=8)
    c0 = core(p, [ONESHOT] + [LISTENER] * 3, w=eye(p))
    c1 = core(p, [LISTENER] * 4, w=eye(p))
    fan0 = [[(1, 0, 1, 2)], [], [], []]
    inputs = [[], [(0, 0)], [], [(1, 1), (1, 1)], [], [(1, 1)]]
    run = NetworkModel(network(mesh, p, [c0, c1], [fan0, None])).run(inputs)
    assert u_of(run, 1, 1, 4).tolist() == [0, 0, 0, 192, 0, 64]
    assert run.trace.extra["events"][:, 1].tolist() == [0, 0, 0, 3, 0, 1]


def test_exit_records_with_repeats_and_source_coordinates():
    # 2x2 mesh; drivers: neuron 1 of core (1, 1) with two exit entries and one routed entry,
    # neuron 0 of core (1, 0) with one exit entry. Each step: 2 records (t, 1, 1, 1) and one
    # (t, 1, 0, 0); sorted by (step, core index, neuron): core 1 before core 3.
    p = params()
    mesh = MeshParams(width=2, height=2, route_entries=8)
    lis = core(p, [LISTENER] * 4)
    c1 = core(p, [DRIVER] + [LISTENER] * 3)
    c3 = core(p, [LISTENER, DRIVER, LISTENER, LISTENER])
    fan1 = [[EXIT], [], [], []]
    fan3 = [[], [EXIT, (0, 0, 0, 1), EXIT], [], []]
    run = NetworkModel(network(mesh, p, [lis, c1, lis, c3], [None, fan1, None, fan3])).run(steps=3)
    expected = []
    for t in range(3):
        expected += [(t, 1, 0, 0), (t, 1, 1, 1), (t, 1, 1, 1)]
    assert run.outputs == expected
    ext = run.trace.extra["ext_out"]
    assert ext.shape == (3, 16)
    assert ext[:, 1 * 4 + 0].tolist() == [1, 1, 1]
    assert ext[:, 3 * 4 + 1].tolist() == [2, 2, 2]
    assert int(ext.sum()) == 9
    assert run.packets.tolist() == [1, 1, 1]              # exits are not packets


def test_recurrent_loop_between_two_cores():
    # One-shot neuron 0 of core 0 -> axon 0 of core 1 (delay 2); one-shot neuron 0 of core 1
    # -> axon 0 of core 0 (delay 1). A kick at step 0: core 0 fires at 0, 3, 6, ...;
    # core 1 at 2, 5, 8, ...
    p = params(neurons=2, axons=2)
    mesh = MeshParams(width=2, height=1, route_entries=4)
    c0 = core(p, [ONESHOT, LISTENER], w=eye(p))
    c1 = core(p, [ONESHOT, LISTENER], w=eye(p))
    fans = [[[(1, 0, 0, 2)], []], [[(0, 0, 0, 1)], []]]
    run = NetworkModel(network(mesh, p, [c0, c1], fans)).run([[(0, 0)]], steps=12)
    assert np.flatnonzero(run.trace.spikes[:, 0]).tolist() == [0, 3, 6, 9]
    assert np.flatnonzero(run.trace.spikes[:, 2]).tolist() == [2, 5, 8, 11]
    assert run.packets.sum() == 8


def test_step_api_and_step_by_step_equals_run():
    p = params()
    mesh = MeshParams(width=2, height=1, route_entries=8)
    c0 = core(p, [ONESHOT, DRIVER, LISTENER, LISTENER], w=eye(p))
    c1 = core(p, [LISTENER] * 4, w=eye(p, 7), w_exp=3)
    fan0 = [[(1, 0, 0, 1), EXIT], [(1, 0, 1, 3), (1, 0, 1, 3)], [], []]
    img = network(mesh, p, [c0, c1], [fan0, None])
    inputs = [[(0, 0)], [], [(1, 2), (0, 0)], [], []]
    m = NetworkModel(img)
    results = [m.step(x) for x in inputs]
    assert m.t == 5
    r0 = results[0]
    assert isinstance(r0, StepResult)
    assert r0.spikes.dtype == bool and r0.spikes.shape == (2, 4)
    assert r0.spikes[0].tolist() == [True, True, False, False]
    assert r0.outputs == [(0, 0, 0, 0)]
    assert r0.events.dtype == np.int64 and r0.events.tolist() == [1, 0]
    assert r0.packets == 3
    assert results[2].outputs == [(2, 0, 0, 0)]
    # step 2: the external (1, 2) only (the step-0 spike of neuron 0 arrived at step 1)
    assert results[1].events.tolist() == [0, 1]
    assert results[2].events.tolist() == [1, 1]
    # step 3: neuron 0's step-2 spike (delay 1) + the driver's step-0 spike twice (delay 3)
    assert results[3].events.tolist() == [0, 3]
    run = NetworkModel(img).run(inputs)
    assert isinstance(run, NetworkRun)
    assert np.array_equal(run.trace.spikes.reshape(5, 2, 4), np.array([r.spikes for r in results]))
    assert run.outputs == [o for r in results for o in r.outputs]
    assert run.packets.tolist() == [r.packets for r in results]
    assert run.trace.extra["events"].tolist() == [r.events.tolist() for r in results]


def test_single_core_mesh_equals_core_model(rng):
    for model in ("cuba", "shift"):
        kw = {"refractory_bits": 3} if model == "cuba" else {}
        p = CoreParams(neurons=16, axons=12, lanes=4, model=model, max_step_events=64, **kw)
        img = CoreImage.random(p, rng)
        T = 25
        axon_lists = [rng.integers(0, 12, size=rng.integers(0, 6)).tolist() for _ in range(T)]
        ref = CoreModel(img).run(axon_lists)
        mesh = MeshParams(width=1, height=1, route_entries=4)
        # exit entries only: they do not feed the core back
        rt = RouteTable.from_fanout(mesh, p, [[EXIT] if n % 5 == 0 else [] for n in range(16)])
        run = NetworkModel(NetworkImage(mesh, [img], [rt])).run(
            [[(0, a) for a in x] for x in axon_lists])
        tr = run.trace
        assert tr.u.shape == (T, 16) and tr.neurons_per_core == 16
        for q in ("spikes", "u", "v"):
            assert np.array_equal(getattr(tr, q), getattr(ref, q)), (model, q)
        for k, a in ref.extra.items():
            assert np.array_equal(tr.extra[k], a), (model, k)
        assert tr.extra["events"][:, 0].tolist() == [len(x) for x in axon_lists]
        expect = [(t, 0, 0, n) for t, n in zip(*np.nonzero(ref.spikes)) if n % 5 == 0]
        assert run.outputs == [(int(t), 0, 0, int(n)) for t, _, _, n in expect]
        assert tr.meta["source"] == "golden" and tr.meta["model"] == model
        assert tr.meta["mesh"] == mesh.to_dict() and tr.meta["params"] == p.to_dict()
        assert tr.meta["first_step"] == 0


def test_max_step_events_overflow_names_step_and_core():
    p = params(max_step_events=3)
    mesh = MeshParams(width=2, height=2, route_entries=8)
    lis = core(p, [LISTENER] * 4)
    m = NetworkModel(NetworkImage(mesh, [lis] * 4))
    m.run([[(3, 0)] * 3])                              # 3 events: allowed
    with pytest.raises(ValueError, match=r"step 1: core \(1, 1\) .*\b4\b.*max_step_events = 3"):
        m.step([(3, 0), (3, 1), (3, 2), (3, 3)])
    assert m.t == 1                                    # nothing happened
    m.step([(2, 0)] * 3)
    # routed overflow: one driver with 4 entries to core (0, 1) arrives at step 1
    drv = core(p, [DRIVER] + [LISTENER] * 3)
    img = network(mesh, p, [drv, lis, lis, lis],
                  [[[(0, 1, a, 1) for a in range(4)], [], [], []], None, None, None])
    m = NetworkModel(img)
    m.step()
    with pytest.raises(ValueError, match=r"step 1: core \(0, 1\) \(index 2\).* 4 input events"):
        m.step()
    # external + routed together exceed the limit at step 1 in run(); the error names step 1
    img = network(mesh, p, [drv, lis, lis, lis],
                  [[[(0, 1, a, 1) for a in range(3)], [], [], []], None, None, None])
    with pytest.raises(ValueError, match=r"step 1: core \(0, 1\)"):
        NetworkModel(img).run([[], [(2, 3)]])


def test_bad_inputs_are_value_errors_naming_step_value_and_range():
    p = params()
    mesh = MeshParams(width=2, height=1, route_entries=8)
    m = NetworkModel(NetworkImage(mesh, [core(p, [LISTENER] * 4)] * 2))
    with pytest.raises(ValueError, match=r"step 1: core index 2 is out of range: allowed 0\.\.1"):
        m.run([[], [(2, 0)]])
    with pytest.raises(ValueError, match=r"step 2: axon 4 \(core 1\) is out of range: allowed 0\.\.3"):
        m.run([[], [], [(1, 4)]])
    with pytest.raises(ValueError, match=r"step 0: core index -1"):
        m.run([[(-1, 0)]])
    with pytest.raises(ValueError, match=r"step 0: .*pairs.*shape \(1, 3\)"):
        m.run([[(0, 1, 2)]])
    with pytest.raises(ValueError, match=r"step 0: core and axon must be integers"):
        m.run([[(0.0, 1.5)]])
    with pytest.raises(ValueError, match=r"steps = 1 is less than the 2 steps of inputs"):
        m.run([[], []], steps=1)
    with pytest.raises(ValueError, match=r"steps = -1"):
        m.run(steps=-1)
    with pytest.raises(ValueError, match=r"expected \[T, 2, 4\]"):
        m.run(np.zeros((3, 2, 5), np.int64))
    with pytest.raises(ValueError, match=r"step 0: core index 9"):
        m.step([(9, 0)])
    assert m.t == 0                                    # no bad call ran a step
    with pytest.raises(TypeError, match="NetworkImage"):
        NetworkModel(core(p, [LISTENER] * 4))


def test_run_continues_over_two_calls(rng):
    img, inputs = random_network(rng, 2, 2, "cuba", learning=False, T=30)
    whole = NetworkModel(img).run(inputs)
    m = NetworkModel(img)
    a = m.run(inputs[:13])
    b = m.run(inputs[13:], steps=30 - 13)
    assert b.trace.meta["first_step"] == 13 and m.t == 30
    for q in ("spikes", "u", "v"):
        assert np.array_equal(np.concatenate([getattr(a.trace, q), getattr(b.trace, q)]),
                              getattr(whole.trace, q)), q
    for k in whole.trace.extra:
        assert np.array_equal(np.concatenate([a.trace.extra[k], b.trace.extra[k]]),
                              whole.trace.extra[k]), k
    assert a.outputs + b.outputs == whole.outputs
    assert np.array_equal(np.concatenate([a.packets, b.packets]), whole.packets)
    # reset starts again from step 0
    m.reset()
    again = m.run(inputs)
    assert_traces_equal(whole.trace, again.trace)


def test_counts_array_input_equals_pair_lists(rng):
    img, inputs = random_network(rng, 2, 1, "shift", learning=False, T=20)
    C, A = img.mesh.cores, img.params.axons
    counts = np.zeros((20, C, A), np.int64)
    for t, pairs in enumerate(inputs):
        for c, a in pairs:
            counts[t, c, a] += 1
    r1 = NetworkModel(img).run(inputs, steps=25)
    r2 = NetworkModel(img).run(counts, steps=25)
    assert_traces_equal(r1.trace, r2.trace)
    assert r1.outputs == r2.outputs


def test_network_image_save_load_round_trip(rng, tmp_path):
    img, inputs = random_network(rng, 2, 2, "cuba", learning=True, T=15)
    path = tmp_path / "net.npz"
    img.save(path)
    back = NetworkImage.load(path)
    r1 = NetworkModel(img).run(inputs)
    r2 = NetworkModel(back).run(inputs)
    assert_traces_equal(r1.trace, r2.trace)
    assert r1.outputs == r2.outputs
    # the trace itself survives a file round trip
    r1.trace.save(tmp_path / "tr.npz")
    assert_traces_equal(r1.trace, Trace.load(tmp_path / "tr.npz"))


def test_encode_decode_network_inputs(tmp_path):
    inputs = [[(0, 1), (1, 2)], [], [(1, 3), (1, 3)]]
    enc = encode_network_inputs(inputs, 5)
    assert set(enc) >= {"step", "core", "axon"}
    assert enc["step"].tolist() == [0, 0, 2, 2]
    assert enc["core"].tolist() == [0, 1, 1, 1]
    assert enc["axon"].tolist() == [1, 2, 3, 3]
    assert all(enc[k].dtype == np.int64 for k in ("step", "core", "axon"))
    np.savez(tmp_path / "in.npz", **enc)
    with np.load(tmp_path / "in.npz") as z:
        dec = decode_network_inputs(z)
    assert dec == [[(0, 1), (1, 2)], [], [(1, 3), (1, 3)], [], []]
    # without the optional run length: up to the last step with input
    assert decode_network_inputs({k: enc[k] for k in ("step", "core", "axon")}) == dec[:3]
    with pytest.raises(ValueError, match="3 steps of input given for a run of 2 steps"):
        encode_network_inputs(inputs, 2)
    with pytest.raises(ValueError, match="no 'axon' entry"):
        decode_network_inputs({"step": enc["step"], "core": enc["core"]})
    assert decode_network_inputs(encode_network_inputs(None, 2)) == [[], []]


def test_cores_follow_the_array_and_state_edits_count():
    p = params()
    mesh = MeshParams(width=2, height=1, route_entries=8)
    c0 = core(p, [ONESHOT] + [LISTENER] * 3, w=eye(p))
    c1 = core(p, [LISTENER] * 4, w=eye(p))
    img = network(mesh, p, [c0, c1], [[[(1, 0, 2, 1)], [], [], []], None])
    m = NetworkModel(img)
    run = m.run([[(0, 0)]], steps=2)
    assert [c.t for c in m.cores] == [2, 2]
    assert m.cores[1].state["u"].tolist() == run.trace.u[-1, 4:].tolist()
    assert u_of(run, 1, 2, 4).tolist() == [0, 64]
    # a neuron's v set through cores[]: the one-shot neuron fires at the next step
    st = dict(m.cores[0].state)
    st["v"] = np.array([5000, 0, 0, 0])              # trunc12(5000 * 1) = 1 > 0
    m.cores[0].state = st
    r = m.step()
    assert r.spikes[0, 0] and r.packets == 1
    r = m.step()
    assert m.cores[1].state["u"][2] == 64             # its packet arrived


# =====================================================================================
# Independent reference: per-event loop over CoreModel.step
# =====================================================================================

def reference_run(image, inputs, T, rng):
    """Slow but obvious: a dict of scheduled deliveries {(step, core): [axon, ...]}, each
    core a CoreModel stepped with its (shuffled) axon list, fan-out from RouteTable.targets.
    Returns (spikes, u, v, extras, events, ext_out, packets, outputs)."""
    mp, p = image.mesh, image.params
    C, N = mp.cores, p.neurons
    cores = [CoreModel(img) for img in image.cores]
    sched = defaultdict(list)
    for t, pairs in enumerate(inputs):
        for c, a in pairs:
            sched[(t, c)].append(a)
    uname = "u" if p.model == "cuba" else "i"
    rec = defaultdict(list)
    outputs, packets, events = [], [], []
    for t in range(T):
        spikes = []
        ev = []
        for c, m in enumerate(cores):
            axons = sched.pop((t, c), [])
            rng.shuffle(axons)                          # order must not matter
            ev.append(len(axons))
            spikes.append(m.step(axons))
        events.append(ev)
        n_packets = 0
        ext_out = np.zeros(C * N, np.int64)
        for c in range(C):
            x_src, y_src = c % mp.width, c // mp.width
            for n in np.flatnonzero(spikes[c]):
                for tg in image.routes[c].targets(int(n)):
                    if tg == EXIT:
                        outputs.append((t, x_src, y_src, int(n)))
                        ext_out[c * N + n] += 1
                    else:
                        x, y, a, d = tg
                        sched[(t + d, y * mp.width + x)].append(a)
                        n_packets += 1
        packets.append(n_packets)
        rec["spikes"].append(np.concatenate(spikes).astype(np.uint8))
        for k in cores[0].state:
            rec[k].append(np.concatenate([m.state[k] for m in cores]))
        rec["ext_out"].append(ext_out)
        if p.learning:
            rec["weights"].append(np.stack([m.weights for m in cores]))
            rec["x"].append(np.stack([m.x for m in cores]))
            rec["y"].append(np.concatenate([m.y for m in cores]))
    arr = {k: np.array(v) for k, v in rec.items()}
    arr["events"] = np.array(events, np.int64).reshape(T, C)
    arr["u"] = arr.pop(uname)
    return arr, np.array(packets, np.int64), outputs


def random_network(rng, width, height, model, learning, T, N=None, A=None, max_delay=None,
                   max_fanout=None, activity=None):
    N = N or int(rng.choice([4, 8, 12]))
    A = A or int(rng.choice([3, 8, 16]))
    max_delay = max_delay or int(rng.integers(1, 6))
    max_fanout = max_fanout if max_fanout is not None else int(rng.integers(1, 6))
    kw = {}
    if model == "cuba":
        kw = {"refractory_bits": int(rng.integers(0, 3)),
              "subtractive_reset": bool(rng.integers(0, 2)),
              "param_mode": str(rng.choice(["neuron", "profile"]))}
    p = CoreParams(neurons=N, axons=A, lanes=int(rng.choice([1, 2, 4])) if N % 4 == 0 else 1,
                   model=model, weight_bits=int(rng.integers(2, 9)),
                   acc_bits=int(rng.integers(8, 17)), max_step_events=100000,
                   max_delay=max_delay, learning=learning, **kw)
    C = width * height
    mesh = MeshParams(width=width, height=height, route_entries=N * (max_fanout + 1) + 1)
    cores, routes = [], []
    for c in range(C):
        img = CoreImage.random(p, rng, density=float(rng.uniform(0.3, 1.0)))
        if model == "cuba":
            # a share of neurons that fire often, so that routing is exercised
            npar = {k: v.copy() for k, v in img.neuron_params.items()}
            rows = rng.random(p.param_rows) < 0.5
            npar["vth"][rows] = rng.integers(0, 50, size=int(rows.sum()))
            npar["bias_exp"][rows] = 7
            npar["bias_mant"][rows] = rng.integers(0, 400, size=int(rows.sum()))
            img = CoreImage(p, weights=img.weights, w_exp=img.w_exp, neuron_params=npar,
                            profile_index=img.profile_index, state=img.state, stdp=img.stdp,
                            plastic=img.plastic, x=img.x, y=img.y)
        cores.append(img)
        fan = []
        for n in range(N):
            k = int(rng.integers(0, max_fanout + 1))
            tg = []
            for _ in range(k):
                if rng.random() < 0.15:
                    tg.append(EXIT)
                else:
                    tg.append((int(rng.integers(0, width)), int(rng.integers(0, height)),
                               int(rng.integers(0, A)), int(rng.integers(1, max_delay + 1))))
            fan.append(tg)
        routes.append(RouteTable.from_fanout(mesh, p, fan))
    image = NetworkImage(mesh, cores, routes)
    rate = activity if activity is not None else float(rng.uniform(0, 0.4))
    inputs = []
    for t in range(T):
        hits = np.argwhere(rng.random((C, A)) < rate)
        pairs = [(int(c), int(a)) for c, a in hits]
        pairs += pairs[:int(rng.integers(0, 3))]         # a few repeated pairs
        rng.shuffle(pairs)
        inputs.append(pairs)
    return image, inputs


def compare_with_reference(image, inputs, T, rng, label):
    ref, ref_packets, ref_outputs = reference_run(image, inputs, T, rng)
    run = NetworkModel(image).run(inputs, steps=T)
    tr = run.trace
    C, N = image.mesh.cores, image.params.neurons
    assert tr.spikes.shape == (T, C * N), label
    for q in ("spikes", "u", "v"):
        assert np.array_equal(getattr(tr, q), ref[q]), (label, q)
    expected_extras = set(ref) - {"spikes", "u", "v"}
    assert set(tr.extra) == expected_extras, label
    for k in expected_extras:
        assert tr.extra[k].shape == ref[k].shape, (label, k)
        assert np.array_equal(tr.extra[k], ref[k]), (label, k)
    assert np.array_equal(run.packets, ref_packets), label
    assert run.outputs == sorted(ref_outputs, key=lambda o: (o[0], o[2] * image.mesh.width + o[1],
                                                               o[3])), label
    return run


@pytest.fixture
def rng():
    print(f"random seed: {SEED} (set SPIKEFAB_SEED to change)")
    return np.random.default_rng(SEED)


CASES = [(w, h, model, learning)
         for (w, h) in [(1, 1), (2, 1), (1, 3), (2, 2), (3, 2), (3, 3)]
         for model in ("cuba", "shift")
         for learning in (False, True)]


@pytest.mark.parametrize("width,height,model,learning", CASES)
def test_random_networks_match_reference(width, height, model, learning):
    seed = SEED + 1000 * width + 100 * height + 10 * (model == "shift") + learning
    print(f"random seed: {seed}")
    rng = np.random.default_rng(seed)
    for rep in range(3):
        T = 40
        image, inputs = random_network(rng, width, height, model, learning, T=T - 4)
        run = compare_with_reference(image, inputs, T, rng,
                                     f"seed {seed} rep {rep} {width}x{height} {model} "
                                     f"learning={learning}")
        if rep == 0 and run.trace.spikes.sum() == 0:
            pytest.fail(f"seed {seed}: the random network never fired; the case tests nothing")


def test_large_event_counts_use_the_exact_path():
    # 8-bit weights of -128/127 and w_exp 7, up to 300000 events per step: sums reach about
    # 2**25 * 2**7, beyond float32's exact range; the result must still be exact (acc_bits
    # 24 saturates once, after the sum).
    rng = np.random.default_rng(SEED + 7)
    p = CoreParams(neurons=8, axons=4, lanes=1, weight_bits=8, acc_bits=24,
                   max_step_events=(1 << 20) - 1)
    mesh = MeshParams(width=2, height=1, route_entries=4)
    cores = []
    for c in range(2):
        w = rng.choice([-128, 127, 1, -1, 0], size=(4, 8))
        cores.append(CoreImage(p, weights=w, w_exp=int(rng.integers(0, 8)),
                               neuron_params={"du": 4095, "dv": 4095, "vth": 131071}))
    image = NetworkImage(mesh, cores)
    inputs = []
    for t in range(3):
        pairs = [(int(c), int(a)) for c, a in zip(rng.integers(0, 2, 300000),
                                                  rng.integers(0, 4, 300000))]
        inputs.append(pairs)
    compare_with_reference(image, inputs, 3, rng, "large counts")


def test_exact_sum_with_cancellation_beyond_float32():
    # Partial sums pass 2**24 and cancel: 144375*127 - 230536*128 + 4*1 + 100438*127
    # = 1582647 (exact), a value a float32 dot product gets wrong (1582646). acc_bits 24
    # keeps it unsaturated; listener: u = wrap24(64 * a_in).
    p = CoreParams(neurons=1, axons=4, lanes=1, weight_bits=8, acc_bits=24,
                   max_step_events=(1 << 20) - 1)
    w = np.array([[127], [-128], [1], [127]])
    img = CoreImage(p, weights=w, neuron_params={"du": 4095, "dv": 4095, "vth": 131071})
    counts = np.array([[[144375, 230536, 4, 100438]]])
    a_in = 144375 * 127 - 230536 * 128 + 4 * 1 + 100438 * 127
    assert a_in == 1582647
    u = ((a_in * 64 + 2**23) % 2**24) - 2**23
    run = NetworkModel(NetworkImage(MeshParams(width=1, height=1, route_entries=1), [img])
                       ).run(counts)
    assert run.trace.u.tolist() == [[u]]
    assert run.trace.extra["events"].tolist() == [[475353]]


def test_learning_trace_shapes():
    rng = np.random.default_rng(SEED + 3)
    image, inputs = random_network(rng, 2, 1, "cuba", learning=True, T=5, N=4, A=3)
    tr = NetworkModel(image).run(inputs).trace
    assert tr.extra["weights"].shape == (5, 2, 3, 4)
    assert tr.extra["x"].shape == (5, 2, 3)
    assert tr.extra["y"].shape == (5, 8)
    assert tr.extra["events"].shape == (5, 2)
    assert tr.extra["ext_out"].shape == (5, 8)
