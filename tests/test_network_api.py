"""The network API and its automatic mapping (gen/network.py): placements, axons, rows and
routing entries checked by hand, every MappingError message, the report, files, input and
output translation, and end-to-end runs on the golden network model whose spikes are
predicted by hand."""

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from spikefab.gen.network import (MappedNetwork, MappingError, Network, Population)
from spikefab.rtl.image import CoreImage
from spikefab.rtl.netimage import EXIT, NetworkImage
from spikefab.rtl.params import CoreParams, MeshParams


#: du = dv = 4095: u is this step's input << 6 and v (below 4096) forgets itself, so with
#: vth = 1 a neuron fires exactly at the steps where its weighted input is >= 2.
FAST = {"du": 4095, "dv": 4095, "vth": 1}


def P(**kw):
    base = dict(neurons=4, axons=8, lanes=1, max_delay=3)
    base.update(kw)
    return CoreParams(**base)


def targets(m, core):
    rt = m.image.routes[core]
    return [rt.targets(n) for n in range(m.params.neurons)]


# --- a small feed-forward network, every memory checked by hand ------------------------------

def feedforward():
    net = Network("ff")
    inp = net.input("in", 3)
    hid = net.population("hid", 4, params={"vth": [1, 2, 3, 4]})
    out = net.population("out", 2, w_exp=1)
    net.project(inp, hid, [[1, 0, 2, 0],
                           [0, 0, 0, 0],          # channel 1 reaches nothing
                           [0, 3, 0, -4]])
    net.project(hid, out, [[5, 0],
                           [0, 0],
                           [-1, 2],
                           [0, 0]], delay=2)
    net.output(out)
    return net


def test_feedforward_by_hand():
    m = feedforward().map(MeshParams(width=2, height=1, route_entries=16), P())
    assert m.placement == {"hid": [(0, 0, 4)], "out": [(1, 0, 2)]}
    c0, c1 = m.image.cores
    # core 0: axon 0 = channel 0, axon 1 = channel 2 (inputs first, channel order)
    w0 = np.zeros((8, 4), int)
    w0[0] = [1, 0, 2, 0]
    w0[1] = [0, 3, 0, -4]
    np.testing.assert_array_equal(c0.weights, w0)
    # core 1: axon 0 = hid[0] (delay 2), axon 1 = hid[2] (delay 2)
    w1 = np.zeros((8, 4), int)
    w1[0, :2] = [5, 0]
    w1[1, :2] = [-1, 2]
    np.testing.assert_array_equal(c1.weights, w1)
    assert (c0.w_exp, c1.w_exp) == (0, 1)
    np.testing.assert_array_equal(c0.neuron_params["vth"], [1, 2, 3, 4])
    np.testing.assert_array_equal(c1.neuron_params["vth"], [100] * 4)     # defaults
    assert targets(m, 0) == [[(1, 0, 0, 2)], [], [(1, 0, 1, 2)], []]
    assert targets(m, 1) == [[EXIT], [EXIT], [], []]
    assert m.encode_inputs({"in": [[0, 1, 2], [1]]}) == [[(0, 0), (0, 1)], []]
    r = m.report
    assert [(c.neurons, c.axons, c.route_entries, c.events) for c in r.cores] == \
        [(4, 2, 2, 2), (2, 2, 2, 2)]
    assert r.synapses == 4 + 3
    assert r.max_fanout == 1 and r.max_fanout_neuron == ("hid", 0)


def test_output_population_exit_entries_come_last():
    net = feedforward()
    net.output("hid")
    m = net.map(MeshParams(width=2, height=1, route_entries=16), P())
    assert targets(m, 0) == [[(1, 0, 0, 2), EXIT], [EXIT], [(1, 0, 1, 2), EXIT], [EXIT]]
    assert m.outputs_of == ["hid", "out"]
    assert m.report.cores[0].route_entries == 6
    assert m.report.cores[0].events == 2          # exit entries deliver no event


# --- placement -------------------------------------------------------------------------------

def test_population_spans_cores_and_w_exp_splits():
    net = Network()
    a = net.population("a", 10)
    net.population("b", 1)
    c = net.population("c", 1, w_exp=2)
    net.project(a, c, np.ones((10, 1), int))
    m = net.map(MeshParams(width=2, height=2), P(axons=16))
    assert m.placement == {"a": [(0, 0, 4), (1, 0, 4), (2, 0, 2)], "b": [(2, 2, 1)],
                           "c": [(3, 0, 1)]}
    assert [img.w_exp for img in m.image.cores] == [0, 0, 0, 2]
    np.testing.assert_array_equal(m.neuron_index("a"), np.arange(10))
    np.testing.assert_array_equal(m.neuron_index("b"), [10])
    # core 3 is (1, 1): axon k holds a[k] (neurons in array order)
    for k in range(10):
        assert targets(m, k // 4)[k % 4] == [(1, 1, k, 1)]
    np.testing.assert_array_equal(m.image.cores[3].weights[:10, 0], np.ones(10))
    assert m.report.cores[3].axons == 10
    assert m.report.cores_used == 4


def test_recurrent_ring_across_cores_runs_as_predicted():
    net = Network()
    kick = net.input("kick", 1)
    ring = net.population("ring", 6, params=FAST)
    net.project(kick, ring, [[7, 0, 0, 0, 0, 0]])
    net.project(ring, ring, np.roll(np.eye(6, dtype=int), 1, axis=1) * 7)   # i -> i + 1
    net.output(ring)
    m = net.map(MeshParams(width=2, height=1), P())
    assert m.placement == {"ring": [(0, 0, 4), (1, 0, 2)]}
    # core 0 receives kick (axon 0), then r0, r1, r2 (axons 1..3), then r5 (axon 4)
    assert [r[0] for r in targets(m, 0)] == [(0, 0, 1, 1), (0, 0, 2, 1), (0, 0, 3, 1),
                                             (1, 0, 0, 1)]
    assert targets(m, 1)[:2] == [[(1, 0, 1, 1), EXIT], [(0, 0, 4, 1), EXIT]]
    w0 = m.image.cores[0].weights
    assert w0[0, 0] == 7 and w0[1, 1] == 7 and w0[2, 2] == 7 and w0[3, 3] == 7
    assert w0[4, 0] == 7 and np.count_nonzero(w0) == 5
    r = m.run_golden({"kick": [[0]]}, steps=14)
    s = r.spikes["ring"]
    expected = np.zeros((14, 6), bool)
    expected[np.arange(14), np.arange(14) % 6] = True
    np.testing.assert_array_equal(s, expected)
    assert r.outputs["ring"] == [(t, t % 6) for t in range(14)]


# --- axons: delays and shared rows -----------------------------------------------------------

def test_mixed_delays_make_separate_axons():
    net = Network()
    s = net.population("s", 2)
    d = net.population("d", 2)
    e = net.population("e", 1, w_exp=1)            # on core (1, 0)
    net.project(s, d, [[1, 2], [3, 0]], delay=[[1, 3], [1, 1]])
    net.project(s, e, [[1], [0]], delay=2)
    m = net.map(MeshParams(width=2), P())
    w = m.image.cores[0].weights
    np.testing.assert_array_equal(w[:3], [[0, 0, 1, 0],        # s0, delay 1
                                          [0, 0, 0, 2],        # s0, delay 3
                                          [0, 0, 3, 0]])       # s1, delay 1
    assert not w[3:].any()
    # entries in destination core, then delay order
    assert targets(m, 0)[:2] == [[(0, 0, 0, 1), (0, 0, 1, 3), (1, 0, 0, 2)], [(0, 0, 2, 1)]]
    assert m.report.cores[0].axons == 3
    assert m.report.max_fanout == 3


def test_same_source_and_delay_share_a_row_and_add():
    net = Network()
    s = net.population("s", 2)
    d = net.population("d", 2)
    net.project(s, d, [[1, 0], [0, 0]])
    net.project(s, d, [[2, 3], [0, 0]])
    net.project(s, d, [[0, 0], [0, 4]], delay=2)
    net.project(s, d, synapses=([1], [1], [-1]), delay=2)
    m = net.map(MeshParams(), P())
    w = m.image.cores[0].weights
    np.testing.assert_array_equal(w[:2], [[0, 0, 3, 3], [0, 0, 0, 3]])
    assert targets(m, 0)[:2] == [[(0, 0, 0, 1)], [(0, 0, 1, 2)]]


def test_input_projections_with_two_delays():
    net = Network()
    inp = net.input("in", 2)
    a = net.population("a", 1)
    net.project(inp, a, [[1], [0]], delay=1)
    net.project(inp, a, [[2], [3]], delay=3)
    m = net.map(MeshParams(), P())
    # axons: (ch0, d1), (ch0, d3), (ch1, d3)
    np.testing.assert_array_equal(m.image.cores[0].weights[:3, 0], [1, 2, 3])
    enc = m.encode_inputs({"in": [[0], [1]]}, steps=5)
    assert enc == [[(0, 0)], [], [(0, 1)], [(0, 2)], []]
    # deliveries past the run are left out; a shorter run than the input is an error
    assert m.encode_inputs({"in": [[0], [1]]}, steps=2) == [[(0, 0)], []]
    with pytest.raises(ValueError, match="steps = 1 is less than the 2 steps of input 'in'"):
        m.encode_inputs({"in": [[0], [1]]}, steps=1)


def test_sparse_synapses_keep_explicit_zero_weights():
    net = Network()
    a = net.population("a", 3)
    net.project(a, a, synapses=([0, 2], [1, 1], [0, 5]))
    m = net.map(MeshParams(), P())
    assert targets(m, 0)[:3] == [[(0, 0, 0, 1)], [], [(0, 0, 1, 1)]]
    np.testing.assert_array_equal(m.image.cores[0].weights[:2, 1], [0, 5])
    assert m.report.synapses == 2


# --- parameter modes and models --------------------------------------------------------------

def test_profile_mode_builds_tables_and_moves_populations():
    p = P(param_mode="profile", profiles=2)
    net = Network()
    net.population("a", 3, params={"vth": [10, 20, 10]})
    net.population("b", 1, params={"vth": 30})        # a third set: starts on core 1
    net.population("c", 2, params={"vth": 30, "du": 7})
    m = net.map(MeshParams(width=3), p)
    assert m.placement == {"a": [(0, 0, 3)], "b": [(1, 0, 1)], "c": [(1, 1, 2)]}
    c0, c1, c2 = m.image.cores
    np.testing.assert_array_equal(c0.neuron_params["vth"], [10, 20])
    np.testing.assert_array_equal(c0.profile_index, [0, 1, 0, 0])   # table full: unused -> 0
    np.testing.assert_array_equal(c1.neuron_params["vth"], [30, 30])
    np.testing.assert_array_equal(c1.neuron_params["du"], [0, 7])
    np.testing.assert_array_equal(c1.profile_index, [0, 1, 1, 0])
    # an empty core: default table; a core with a free row keeps its unused neurons silent
    np.testing.assert_array_equal(c2.neuron_params["vth"], [100, 100])
    net2 = Network()
    net2.population("a", 1, params={"vth": 5})
    m2 = net2.map(MeshParams(), p)
    np.testing.assert_array_equal(m2.image.cores[0].neuron_params["vth"], [5, 100])
    np.testing.assert_array_equal(m2.image.cores[0].profile_index, [0, 1, 1, 1])
    assert m2.image.cores[0].neuron_param_table()["vth"].tolist() == [5, 100, 100, 100]


def test_shift_model_parameters_and_state():
    p = P(model="shift")
    net = Network()
    net.population("a", 2, params={"th": [7, 9], "dash_mem": 2}, state={"i": 3, "v": [1, 2]})
    m = net.map(MeshParams(), p)
    img = m.image.cores[0]
    np.testing.assert_array_equal(img.neuron_params["th"], [7, 9, 1000, 1000])
    np.testing.assert_array_equal(img.neuron_params["dash_mem"], [2, 2, 4, 4])
    np.testing.assert_array_equal(img.state["i"], [3, 3, 0, 0])
    np.testing.assert_array_equal(img.state["v"], [1, 2, 0, 0])


def test_learning_plastic_rows_and_registers():
    p = P(learning=True)
    net = Network()
    inp = net.input("in", 2)
    a = net.population("a", 2)
    net.project(inp, a, [[1, 1], [0, 0]], plastic=False)
    net.project(inp, a, [[0, 0], [2, 2]])
    m = net.map(MeshParams(), p, stdp={"a_plus": 3})
    img = m.image.cores[0]
    np.testing.assert_array_equal(img.plastic, [0, 1, 0, 0, 0, 0, 0, 0])
    assert img.stdp["a_plus"] == 3 and img.stdp["a_minus"] == p.stdp_defaults()["a_minus"]
    net.project(inp, a, [[1, 0], [0, 0]])          # shares the non-plastic row of channel 0
    with pytest.raises(MappingError) as e:
        net.map(MeshParams(), p)
    assert str(e.value) == (
        "projection 'in'->'a' #3 (plastic) and projection 'in'->'a' (not plastic) share the "
        "axon row of input 'in' channel 0 with delay 1 on core (0, 0): a row is plastic or "
        "not as a whole; give them the same plastic flag or different delays")


# --- every MappingError ----------------------------------------------------------------------

def _net_cores():
    net = Network()
    net.population("hid", 9)
    return net, MeshParams(width=2), P()


def _net_axons():
    net = Network()
    net.population("a", 4)
    b = net.population("b", 1)
    net.project(net.input("in", 5), b, np.ones((5, 1), int))
    return net, MeshParams(width=2), P(axons=4)


def _net_routes():
    net = Network()
    a = net.population("a", 2)
    b = net.population("b", 8, w_exp=1)
    net.project(a, b, np.ones((2, 8), int))
    net.output(a)
    return net, MeshParams(width=3, route_entries=4), P()


def _net_delay():
    net = Network()
    net.project(net.input("in", 2), net.population("hid", 2), np.ones((2, 2), int),
                delay=[[1, 5], [2, 1]])
    return net, MeshParams(), P(max_delay=4)


def _net_weight():
    net = Network()
    w = np.zeros((2, 3), int)
    w[1, 2] = 9
    net.project(net.input("in", 2), net.population("hid", 3), w)
    return net, MeshParams(), P()


def _net_sum():
    net = Network()
    s = net.population("s", 2)
    d = net.population("d", 2)
    for w in (1, 2, 5):
        net.project(s, d, [[w, 0], [0, 0]])
    net.project(s, d, [[0, 7], [0, 0]])
    return net, MeshParams(), P()


def _net_param(params, p=None):
    def make():
        net = Network()
        net.population("hid", 2, params=params)
        return net, MeshParams(), p or P()
    return make


def _net_state():
    net = Network()
    net.population("hid", 2, state={"v": [0, 1 << 23]})
    return net, MeshParams(), P()


def _net_state_name():
    net = Network()
    net.population("hid", 2, state={"w": 1})
    return net, MeshParams(), P()


def _net_events():
    net = Network()
    net.project(net.input("in", 4), net.population("a", 1), np.ones((4, 1), int))
    return net, MeshParams(), P(max_step_events=3)


def _net_profiles():
    net = Network()
    net.population("c", 5, params={"vth": [1, 2, 3, 4, 5]})
    return net, MeshParams(width=2), P(param_mode="profile", profiles=2)


def _net_stdp():
    net = Network()
    net.population("a", 1)
    return net, MeshParams(), P(), {"a_plus": 1}


def _net_empty():
    net = Network("empty")
    net.input("in", 1)
    return net, MeshParams(), P()


ERRORS = {
    "cores": (_net_cores,
              "population 'hid' needs 3 cores of 4 neurons but the 2x1 mesh has 2 cores left: "
              "use a larger mesh or more neurons per core"),
    "axons": (_net_axons,
              "core (1, 0) needs 5 axons, a core has axons = 4 (one axon per distinct source "
              "neuron or input channel and delay reaching the core): raise axons, or reduce "
              "the distinct (source, delay) pairs projecting to the populations on this core"),
    "routes": (_net_routes,
               "core (0, 0) needs 6 routing entries, a core has route_entries = 4: raise "
               "route_entries by 2 or more, or reduce the fan-out of its neurons (each "
               "distinct destination core and delay of a neuron takes one entry, an output "
               "neuron one more)"),
    "delay": (_net_delay,
              "projection 'in'->'hid' has delay 5, max_delay = 4: shorten the delay or "
              "generate the cores with a larger max_delay"),
    "weight": (_net_weight,
               "projection 'in'->'hid' weight[1, 2] = 9 is out of range: weight_bits = 4 "
               "allows -8..7; scale the weights (and use w_exp) or raise weight_bits"),
    "sum": (_net_sum,
            "the weights from 's'[0] to 'd'[0] with delay 1 (projections 's'->'d', 's'->'d' "
            "#2, 's'->'d' #3) add to 8, outside the weight range -8..7 of weight_bits = 4: "
            "synapses with the same source, target and delay share one weight; lower them or "
            "use different delays"),
    "unknown param": (_net_param({"tau": 3}),
                      "population 'hid' has parameter 'tau', which the cores (model 'cuba') "
                      "do not have: expected one of du, dv, vth, bias_mant, bias_exp"),
    "extension param": (_net_param({"refr": 3}),
                        "population 'hid' has parameter 'refr', which the cores (model "
                        "'cuba') do not have ('refr' needs refractory_bits > 0): expected one "
                        "of du, dv, vth, bias_mant, bias_exp"),
    "shift param": (_net_param({"vth": 3}, P(model="shift")),
                    "population 'hid' has parameter 'vth', which the cores (model 'shift') do "
                    "not have: expected one of dash_syn, dash_mem, th, bias"),
    "param range": (_net_param({"vth": [5, 200000]}),
                    "population 'hid' parameter 'vth' = 200000 (neuron 1) is out of range: "
                    "allowed 0..131071"),
    "refr range": (_net_param({"refr": 4}, P(refractory_bits=2)),
                   "population 'hid' parameter 'refr' = 4 (neuron 0) is out of range: "
                   "allowed 0..3"),
    "state range": (_net_state,
                    "population 'hid' state variable 'v' = 8388608 (neuron 1) is out of "
                    "range: allowed -8388607..8388607"),
    "state name": (_net_state_name,
                   "population 'hid' has state variable 'w', which the cores (model 'cuba') "
                   "do not have: expected one of u, v"),
    "events": (_net_events,
               "core (0, 0) can receive 4 input events in one step (one per axon in use), "
               "max_step_events = 3: raise max_step_events by 1 or more"),
    "profiles": (_net_profiles,
                 "core (0, 0) needs 4 parameter profiles for population 'c', a core has "
                 "profiles = 2: raise profiles or give the population fewer distinct "
                 "parameter sets"),
    "stdp": (_net_stdp,
             "stdp registers are given but params.learning is False: the cores have no STDP "
             "engine; generate them with learning = True"),
    "empty": (_net_empty,
              "network 'empty' has no population: there is nothing to place on the cores"),
}


@pytest.mark.parametrize("case", list(ERRORS))
def test_mapping_error_messages(case):
    make, message = ERRORS[case]
    net, mesh, p, *stdp = make()
    with pytest.raises(MappingError) as e:
        net.map(mesh, p, stdp=stdp[0] if stdp else None)
    assert str(e.value) == message
    assert isinstance(e.value, ValueError)


def test_mesh_fits_exactly_and_w_exp_costs_a_core():
    net = Network()
    net.population("a", 5)
    net.population("b", 3)
    assert net.map(MeshParams(width=2), P()).placement["b"] == [(1, 1, 3)]
    net2 = Network()
    net2.population("a", 5)
    net2.population("b", 3, w_exp=3)
    with pytest.raises(MappingError) as e:
        net2.map(MeshParams(width=2), P())
    assert str(e.value) == (
        "population 'b' needs 1 core of 4 neurons but the 2x1 mesh has 0 cores left (it "
        "cannot share core (1, 0), whose w_exp is 0, and w_exp = 3): use a larger mesh or "
        "more neurons per core")
    net3 = Network()
    net3.population("a", 3, params={"vth": [1, 2, 1]})
    net3.population("b", 1, params={"vth": 3})
    with pytest.raises(MappingError) as e:
        net3.map(MeshParams(), P(param_mode="profile", profiles=2))
    assert str(e.value) == (
        "population 'b' needs 1 core of 4 neurons but the 1x1 mesh has 0 cores left (its "
        "parameter sets do not fit in the profile table of core (0, 0) beside those already "
        "there): use a larger mesh or more neurons per core")


# --- errors while building -------------------------------------------------------------------

def test_building_errors():
    net = Network()
    inp = net.input("in", 2)
    a = net.population("a", 3)
    with pytest.raises(ValueError, match="the name 'a' is already used by the population 'a'"):
        net.input("a", 1)
    with pytest.raises(ValueError, match="population 'z' has size 0: expected a positive"):
        net.population("z", 0)
    with pytest.raises(TypeError, match="the name of a population must be a non-empty string"):
        net.population("", 2)
    with pytest.raises(ValueError, match="population 'z' has w_exp = 8: allowed 0..7"):
        net.population("z", 2, w_exp=8)
    with pytest.raises(ValueError, match=r"population 'z' parameter 'vth' has shape \(3,\), "
                                         r"expected a single integer or 2 values"):
        net.population("z", 2, params={"vth": [1, 2, 3]})
    with pytest.raises(TypeError, match="population 'z' parameter 'vth' must hold integers, "
                                        "not float64"):
        net.population("z", 2, params={"vth": 1.5})
    with pytest.raises(ValueError, match=r"projection 'in'->'a': weights has shape \(3, 2\), "
                                         r"expected \(2, 3\)"):
        net.project(inp, a, np.ones((3, 2), int))
    with pytest.raises(TypeError, match="projection 'in'->'a': weights must hold integers, "
                                        "not float64"):
        net.project(inp, a, np.ones((2, 3)))
    with pytest.raises(ValueError, match="projection 'in'->'a' has delay 0: a delay is at "
                                         "least 1 step"):
        net.project(inp, a, np.ones((2, 3), int), delay=0)
    with pytest.raises(ValueError, match=r"delay has shape \(2,\), expected a single integer "
                                         r"or the shape of weights \(2, 3\)"):
        net.project(inp, a, np.ones((2, 3), int), delay=[1, 2])
    with pytest.raises(TypeError, match="post must be a Population"):
        net.project(a, inp, np.ones((3, 2), int))
    with pytest.raises(ValueError, match="pre: there is no population or input named 'q'"):
        net.project("q", a, np.ones((2, 3), int))
    other = Network().population("x", 2)
    with pytest.raises(ValueError, match="pre 'x' belongs to another network"):
        net.project(other, a, np.ones((2, 3), int))
    with pytest.raises(TypeError, match="give either weights"):
        net.project(inp, a)
    with pytest.raises(ValueError, match=r"synapses post_index\[1\] = 3 is out of range: "
                                         r"'a' has 3 neurons \(0..2\)"):
        net.project(inp, a, synapses=([0, 1], [0, 3], [1, 1]))
    with pytest.raises(TypeError, match="output must be a Population"):
        net.output(inp)
    assert net.projections == []          # nothing half-added
    assert isinstance(net["a"], Population) and net.populations == [a] and net.inputs == [inp]


# --- report ----------------------------------------------------------------------------------

def test_report_numbers_and_text():
    net = feedforward()
    net.output("hid")
    m = net.map(MeshParams(width=2, height=2, route_entries=16), P())
    r = m.report
    d = r.to_dict()
    assert d["capacity"] == {"neurons": 4, "axons": 8, "route_entries": 16,
                             "max_step_events": 4095}
    assert d["cores_used"] == 2 and len(d["cores"]) == 4
    assert d["totals"] == {"neurons": 6, "axons": 4, "route_entries": 8, "events": 4}
    assert d["cores"][1] == {"core": 1, "x": 1, "y": 0, "neurons": 2, "axons": 2,
                             "route_entries": 2, "events": 2, "populations": ["out"]}
    assert d["synapses"] == 7 and d["max_fanout"] == 2 and d["max_fanout_neuron"] == ["hid", 0]
    text = str(r).splitlines()
    assert text[0] == ("network 'ff' on a 2x2 mesh: 2 of 4 cores used; a core has 4 neurons, "
                       "8 axons, 16 routing entries, max_step_events = 4095")
    assert text[3].split() == ["0", "(0,", "0)", "4/4", "(100%)", "2/8", "(25%)", "6/16",
                               "(38%)", "2/4095", "(0%)", "hid"]
    assert text[6].split() == ["total", "6/16", "4/32", "8/64", "4"]
    assert text[7] == "(2 unused cores not shown)"
    assert text[8] == "synapses: 7; max fan-out: 2 routing entries per spike ('hid'[0])"


# --- files -----------------------------------------------------------------------------------

def test_save_load_round_trip(tmp_path):
    net = feedforward()
    net.output("hid")
    m = net.map(MeshParams(width=2, height=1, route_entries=16), P())
    m.save(tmp_path / "ff.npz")
    back = MappedNetwork.load(tmp_path / "ff.npz")
    assert back.placement == m.placement and back.name == "ff"
    assert back.populations == ["hid", "out"] and back.inputs == ["in"]
    assert back.report.to_dict() == m.report.to_dict()
    assert str(back.report) == str(m.report)
    for a, b in zip(m.image.cores, back.image.cores):
        np.testing.assert_array_equal(a.weights, b.weights)
        assert a.w_exp == b.w_exp
    for c in range(2):
        assert targets(back, c) == targets(m, c)
    spikes = {"in": [[0, 2], [], [2]]}
    assert back.encode_inputs(spikes, 6) == m.encode_inputs(spikes, 6)
    rec = [(5, 1, 0, 1), (3, 0, 0, 2)]
    assert back.decode_outputs(rec) == m.decode_outputs(rec)
    # an image the mapper did not make has no placement
    plain = NetworkImage(mesh=MeshParams(), cores=[CoreImage(params=P())])
    with pytest.raises(ValueError, match="the network image has no 'network' entry in its "
                                         "meta"):
        MappedNetwork(plain)


# --- inputs and outputs ----------------------------------------------------------------------

def test_encode_inputs_forms_and_errors():
    m = feedforward().map(MeshParams(width=2, height=1, route_entries=16), P())
    lists = m.encode_inputs({"in": [[2], [], [0, 2]]})
    assert lists == [[(0, 1)], [], [(0, 0), (0, 1)]]
    raster = np.array([[0, 0, 1], [0, 0, 0], [1, 0, 1]], np.uint8)
    assert m.encode_inputs({"in": raster}) == lists
    assert m.encode_inputs({}, 2) == [[], []]
    assert m.encode_inputs(None, 1) == [[]]
    with pytest.raises(KeyError, match="there is no input named 'hid' \\(that is a "
                                       "population, not an input\\)"):
        m.encode_inputs({"hid": [[0]]})
    with pytest.raises(ValueError, match="input 'in' step 1: channel 3 is out of range: 'in' "
                                         "has 3 channels"):
        m.encode_inputs({"in": [[0], [3]]})
    with pytest.raises(ValueError, match="input 'in' step 0: channel 1 appears twice"):
        m.encode_inputs({"in": [[1, 1]]})
    with pytest.raises(TypeError, match="input 'in' step 1: expected a list of channel "
                                        "indices, not 2"):
        m.encode_inputs({"in": [[0], 2]})
    with pytest.raises(ValueError, match=r"input 'in' spikes have shape \(2, 2\), expected "
                                         r"\[T, 3\]"):
        m.encode_inputs({"in": np.zeros((2, 2), int)})


def test_decode_outputs_and_population_spikes():
    net = feedforward()
    net.output("hid")
    m = net.map(MeshParams(width=2, height=1, route_entries=16), P())
    got = m.decode_outputs([(4, 1, 0, 1), (2, 0, 0, 3), (1, 1, 0, 0), (2, 0, 0, 0)])
    assert got == {"hid": [(2, 0), (2, 3)], "out": [(1, 0), (4, 1)]}
    assert m.decode_outputs([]) == {"hid": [], "out": []}
    with pytest.raises(ValueError, match=r"output record \(0, 1, 0, 2\) comes from neuron 2 "
                                         r"of core \(1, 0\), which is not in an output "
                                         r"population"):
        m.decode_outputs([(0, 1, 0, 2)])

    class T:
        spikes = np.zeros((3, 8), np.uint8)
    T.spikes[1, 5] = 1                    # core 1, neuron 1 = out[1]
    T.spikes[2, 2] = 1                    # core 0, neuron 2 = hid[2]
    np.testing.assert_array_equal(m.population_spikes(T, "out"),
                                  [[0, 0], [0, 1], [0, 0]])
    np.testing.assert_array_equal(m.population_spikes(T, "hid")[2], [0, 0, 1, 0])
    with pytest.raises(KeyError, match="there is no population named 'in' \\(that is an "
                                       "input\\)"):
        m.population_spikes(T, "in")


# --- end to end on the golden network model --------------------------------------------------

def test_end_to_end_delays_predicted_by_hand():
    """in -(delay 2)-> a -(delay 2)-> b, on two cores: a channel spike of step 3 reaches a at
    3 + 2 - 1 = 4 (a fires at 4), b integrates a's spike at 4 + 2 = 6 and fires at 6."""
    net = Network("chain")
    inp = net.input("in", 1)
    a = net.population("a", 1, params=FAST)
    b = net.population("b", 1, params=FAST, w_exp=1)
    net.project(inp, a, [[7]], delay=2)
    net.project(a, b, [[4]], delay=2)
    net.output(b)
    m = net.map(MeshParams(width=2), P(neurons=1, axons=2, max_delay=2))
    assert m.placement == {"a": [(0, 0, 1)], "b": [(1, 0, 1)]}
    r = m.run_golden({"in": [[], [], [], [0]]}, steps=10)
    assert r.inputs[4] == [(0, 0)] and sum(map(len, r.inputs)) == 1
    assert np.flatnonzero(r.spikes["a"][:, 0]).tolist() == [4]
    assert np.flatnonzero(r.spikes["b"][:, 0]).tolist() == [6]
    assert r.outputs == {"b": [(6, 0)]}
    assert r.run.outputs == [(6, 1, 0, 0)]
    # a's spike is integrated by b at step 6 only: u there is (4 << 1) << 6
    assert r.trace.u[:, 1].tolist() == [0] * 6 + [512] + [0] * 3


def test_end_to_end_fan_in_and_inhibition():
    """Two inputs onto one neuron (threshold between one and two inputs), an inhibitory
    projection of a second population with delay 3: the output fires only where predicted."""
    net = Network()
    inp = net.input("in", 2)
    gate = net.population("gate", 1, params={"du": 4095, "dv": 4095, "vth": 5})
    inh = net.population("inh", 1, params=FAST)
    net.project(inp, gate, [[4], [4]])          # one input: 256 <= 320; two: 512 > 320
    net.project(inp, inh, [[0], [7]])           # channel 1 also drives inh
    net.project(inh, gate, [[-8]], delay=3)     # and inh vetoes gate three steps later
    net.output(gate)
    m = net.map(MeshParams(), P(max_delay=3))
    spikes = [[0], [0, 1], [], [], [0, 1], []]
    r = m.run_golden({"in": spikes}, steps=8)
    # gate: two inputs at steps 1 and 4; at step 4 inh (fired at 1) subtracts 8: no spike
    assert r.outputs == {"gate": [(1, 0)]}
    assert np.flatnonzero(r.spikes["inh"][:, 0]).tolist() == [1, 4]


def test_xor_example_reproduces_the_truth_table(tmp_path, capsys, monkeypatch):
    path = Path(__file__).resolve().parent.parent / "examples" / "network_xor.py"
    spec = importlib.util.spec_from_file_location("network_xor", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    monkeypatch.setattr("sys.argv", ["network_xor.py", "-o", str(tmp_path / "xor.npz")])
    assert mod.main() == 0
    out = capsys.readouterr().out
    assert "XOR truth table reproduced" in out
    assert "decoded outputs: {'hidden': [(3, 0), (6, 0), (9, 0), (9, 1)], " \
           "'xor': [(4, 0), (7, 0)]}" in out
