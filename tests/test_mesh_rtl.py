# amaranth: UnusedElaboratable=no
"""The many-core array's generated Verilog on Verilator and Icarus against the golden
network model, at zero tolerance (SPEC §3.1, §3.6; checks in ``mesh_helpers``)."""

import numpy as np
import pytest

from spikefab.gen.network import Network
from spikefab.rtl.netimage import EXIT, NetworkImage, RouteTable
from spikefab.rtl.params import CoreParams, MeshParams
from spikefab.sim.fast import run_fast
from spikefab.sim.runner import Stimulus

from mesh_helpers import check_job, random_ext_inputs, random_network, run_and_compare
from rtl_helpers import SIMULATORS, lively_image, seed_for


#: A 2 x 2 array of small cuba cores with every extension, four delay slots.
MESH_2X2 = MeshParams(width=2, height=2, route_entries=40, fifo_depth=2)
CORE_2X2 = CoreParams(neurons=8, axons=8, lanes=2, weight_bits=5, acc_bits=12, max_delay=4,
                      refractory_bits=2, subtractive_reset=True, v_floor=True)
#: A 3 x 1 array (a side that is not a power of two) of shift cores, one lane.
MESH_3X1 = MeshParams(width=3, height=1, route_entries=24, fifo_depth=3)
CORE_3X1 = CoreParams(neurons=4, axons=6, lanes=1, model="shift", max_delay=3)


@pytest.mark.parametrize("simulator", SIMULATORS)
def test_random_networks_2x2(simulator):
    seed = seed_for(f"random 2x2 networks on {simulator}", 31)
    rng = np.random.default_rng(seed)
    jobs = []
    for k, (kind, fanout, bp) in enumerate([("recurrent", (0, 4), 0.0),
                                            ("feed-forward", (1, 5), 0.5),
                                            ("recurrent", (2, 5), 0.9)]):
        net = random_network(MESH_2X2, CORE_2X2, rng, fanout=fanout,
                             feedforward=kind == "feed-forward")
        inputs = random_ext_inputs(MESH_2X2, CORE_2X2, rng, 24, rate=3.0)
        print(f"job {k}: {kind}, fan-out {fanout}, back-pressure {bp}")
        jobs.append((net, inputs, 24, Stimulus(gap_prob=0.3, backpressure=bp, seed=seed + k)))
    traces = run_and_compare(jobs, simulator)
    assert sum(int(t.spikes.sum()) for t in traces) > 50, "the networks barely fired"
    assert sum(int(t.extra["ext_out"].sum()) for t in traces) > 5


@pytest.mark.parametrize("simulator", SIMULATORS)
def test_random_networks_3x1_shift(simulator):
    seed = seed_for(f"random 3x1 shift networks on {simulator}", 47)
    rng = np.random.default_rng(seed)
    jobs = []
    for k in range(2):
        net = random_network(MESH_3X1, CORE_3X1, rng, fanout=(0, 5), exit_prob=0.4)
        inputs = random_ext_inputs(MESH_3X1, CORE_3X1, rng, 20, rate=2.0)
        jobs.append((net, inputs, 20, Stimulus(gap_prob=0.2, backpressure=0.6, seed=seed + k)))
    traces = run_and_compare(jobs, simulator)
    assert sum(int(t.spikes.sum()) for t in traces) > 10, "the networks barely fired"


def _delay_line():
    """Core 0 neuron 0 fires every step (bias over threshold) and reaches axon 0 of core 3
    with delay 1, axon 1 with delay 2, axon 2 with delay 4, and axon 3 twice with delay 3;
    neuron 1 of core 0 is silent. Core 3's neuron n integrates weight 2**n of each axon."""
    mp, p = MESH_2X2, CORE_2X2
    cores = []
    for c in range(mp.cores):
        img = lively_image(p, np.random.default_rng(c))
        par = {"du": 4095, "dv": 4095, "vth": 100000,      # du: u = input of this step only
               "bias_mant": 0, "refr": 0, "reset_sub": 0, "v_floor": -(1 << 23) + 1}
        par = {k: np.full(p.param_rows, v, np.int64) for k, v in par.items()}
        w = np.zeros_like(img.weights)
        if c == 0:
            par["bias_mant"][0] = 1000
            par["vth"][0] = 10
        if c == 3:
            for a in range(4):
                w[a, a] = 1 << a
        img = img.replace(neuron_params=par, weights=w, w_exp=0,
                          state={k: np.zeros_like(v) for k, v in img.state.items()})
        cores.append(img)
    fan0 = [[(1, 1, 0, 1), (1, 1, 1, 2), (1, 1, 2, 4), (1, 1, 3, 3), (1, 1, 3, 3), EXIT]]
    fan0 += [[] for _ in range(p.neurons - 1)]
    routes = [RouteTable.from_fanout(mp, p, fan0)] + [RouteTable(mesh=mp, params=p)
                                                      for _ in range(3)]
    return NetworkImage(mesh=mp, cores=cores, routes=routes)


@pytest.mark.parametrize("simulator", SIMULATORS)
def test_delays_directed(simulator):
    """Each delay lands exactly d steps after the spike; an axon hit twice counts twice."""
    net = _delay_line()
    (got,) = run_and_compare([(net, [], 8, Stimulus(backpressure=0.5, seed=5))], simulator)
    N = CORE_2X2.neurons
    u3 = got.u[:, 3 * N:3 * N + 4]
    fired = np.flatnonzero(got.spikes[:, 0])
    assert fired.tolist() == list(range(8)), f"core 0 neuron 0 fired at {fired.tolist()}"
    # the first spike (step 0) reaches axon a at step d(a); from then on every step
    first = [int(np.flatnonzero(u3[:, a])[0]) for a in range(4)]
    assert first == [1, 2, 4, 3], f"first input on axons 0..3 at steps {first}"
    # du = 4095 keeps only this step's input, which cuba scales by 2**6 (SPEC §3.3)
    want = [(1 << 6) * w for w in (1, 2, 4, 2 * 8)]
    assert u3[5].tolist() == want, f"u of core 3 at step 5: {u3[5].tolist()}, expected {want}"
    assert got.extra["ext_out"][:, 0].tolist() == [1] * 8


@pytest.mark.parametrize("simulator", SIMULATORS)
def test_single_core_mesh(simulator):
    """A 1 x 1 array: every packet is local; self-loops with delays and exits."""
    mp = MeshParams(width=1, height=1, route_entries=16, fifo_depth=2)
    p = CoreParams(neurons=4, axons=4, lanes=4, max_delay=2)
    seed = seed_for(f"1x1 array on {simulator}", 3)
    rng = np.random.default_rng(seed)
    net = random_network(mp, p, rng, fanout=(1, 4), exit_prob=0.5)
    inputs = random_ext_inputs(mp, p, rng, 16, rate=1.5)
    run_and_compare([(net, inputs, 16, Stimulus(gap_prob=0.5, backpressure=0.5, seed=seed))],
                    simulator)


def test_mapped_network_on_rtl():
    """A network built with the Python API, mapped automatically, runs bit-exact on the RTL."""
    net = Network("ff")
    rng = np.random.default_rng(11)
    inp = net.input("in", 6)
    hid = net.population("hid", 8, params={"du": 1024, "dv": 512, "vth": 60})
    out = net.population("out", 4, params={"du": 2048, "dv": 256, "vth": 40})
    net.project(inp, hid, rng.integers(-3, 8, (6, 8)), delay=1)
    net.project(hid, out, rng.integers(-4, 8, (8, 4)), delay=2)
    net.project(out, hid, rng.integers(-8, 8, (4, 8)), delay=2)
    net.output(out)
    # the README's array example's design: one fast-mode build for both
    mapped = net.map(MeshParams(width=2, height=2, route_entries=64, fifo_depth=2), CORE_4X4)
    print(mapped.report)
    spikes = {"in": [rng.choice(6, int(rng.integers(0, 5)), replace=False).tolist()
                     for _ in range(20)]}
    inputs = mapped.encode_inputs(spikes, 20)
    # the fast run mode: the stress test drives this design under back-pressure in cocotb
    got = run_fast(mapped.image, inputs, 20, "verilator")
    check_job(mapped.image, inputs, 20, got)       # the array suite's every-step checks
    assert mapped.population_spikes(got, "out").sum() > 0, "the output population never fired"


MESH_4X4 = MeshParams(width=4, height=4, route_entries=64, fifo_depth=2)
CORE_4X4 = CoreParams(neurons=8, axons=16, lanes=4, max_delay=2)


def _all_firing(rng):
    """Every neuron fires every step (a bias far over threshold) and has the largest fan-out
    the table allows: 7 packets to random axons of random cores (delays 1 and 2, many of
    them several hops away) and one external-output record."""
    mp, p = MESH_4X4, CORE_4X4
    per = mp.route_entries // p.neurons
    cores = []
    for c in range(mp.cores):
        img = lively_image(p, rng)
        img = img.replace(neuron_params={"bias_mant": 4095, "bias_exp": 7,
                                         "vth": rng.integers(0, 1000, p.neurons)},
                          weights=np.minimum(np.abs(img.weights), p.weight_range[1]),  # no input holds one back
                          state={k: np.zeros_like(v) for k, v in img.state.items()})
        cores.append(img)
    routes = []
    for c in range(mp.cores):
        fan = []
        for n in range(p.neurons):
            targets = []
            for _ in range(per - 1):
                x, y = mp.core_xy(int(rng.integers(mp.cores)))
                targets.append((x, y, int(rng.integers(p.axons)), int(rng.integers(1, 3))))
            targets.insert(int(rng.integers(per)), EXIT)
            fan.append(targets)
        routes.append(RouteTable.from_fanout(mp, p, fan))
    return NetworkImage(mesh=mp, cores=cores, routes=routes)


@pytest.mark.slow          # 1.5-2.5 min per simulator: make test-slow (the time budget)
@pytest.mark.parametrize("simulator", SIMULATORS)
def test_stress_4x4_all_firing(simulator):
    """Every neuron of a 4 x 4 array fires every step with the largest fan-out, under random
    back-pressure on the external output: no deadlock (each step must reach its barrier),
    no packet lost or duplicated (counted in and out at every step against the golden
    spikes), and still bit-exact."""
    seed = seed_for(f"4x4 stress on {simulator}", 2024)
    rng = np.random.default_rng(seed)
    net = _all_firing(rng)
    steps = 6
    inputs = random_ext_inputs(MESH_4X4, CORE_4X4, rng, steps, rate=8.0)
    (got,) = run_and_compare([(net, inputs, steps, Stimulus(gap_prob=0.2, backpressure=0.7,
                                                             seed=seed))], simulator)
    assert got.spikes.all(), "not every neuron fired at every step"
    per_step = np.diff(np.concatenate([[0], got.meta["packets_in"]]))
    print(f"packets per step: {per_step.tolist()}, clocks per step: {got.meta['cycles']}")
    assert (per_step >= MESH_4X4.cores * CORE_4X4.neurons * 8).all()


@pytest.mark.parametrize("simulator", SIMULATORS)
def test_cli_simulates_network_images(tmp_path, capsys, simulator):
    """``spikefab simulate`` runs a network image on golden and on a simulator; ``compare``
    finds the traces identical, and names the first divergence of a tampered one."""
    from spikefab.gen.cli import main
    from spikefab.sim.network import encode_network_inputs
    from spikefab.sim.trace import Trace
    rng = np.random.default_rng(8)
    net = random_network(MESH_2X2, CORE_2X2, rng, fanout=(1, 3))
    net.save(tmp_path / "net.npz")
    inputs = random_ext_inputs(MESH_2X2, CORE_2X2, rng, 10, rate=3.0)
    np.savez(tmp_path / "in.npz", **encode_network_inputs(inputs, 10))
    for sim in ("golden", simulator):
        assert main(["simulate", str(tmp_path / "net.npz"), "--inputs", str(tmp_path / "in.npz"),
                     "--sim", sim, "--backpressure", "0.5", "-o", str(tmp_path / f"{sim}.npz")]) == 0
    assert main(["compare", str(tmp_path / "golden.npz"), str(tmp_path / f"{simulator}.npz")]) == 0
    assert "identical: 10 steps x 32 neurons" in capsys.readouterr().out
    bad = Trace.load(tmp_path / f"{simulator}.npz")
    bad.v[4, 2 * 8 + 5] += 1
    bad.save(tmp_path / "bad.npz")
    assert main(["compare", str(tmp_path / "golden.npz"), str(tmp_path / "bad.npz")]) == 1
    assert "step 4, core 2, neuron 5, v" in capsys.readouterr().out


@pytest.mark.parametrize("simulator", SIMULATORS)
def test_learning_array(simulator):
    """STDP cores in an array: weights and traces of every core, read back after every
    step, equal the golden network model's, while spikes travel between the cores."""
    mp = MeshParams(width=2, height=1, route_entries=16, fifo_depth=2)
    p = CoreParams(neurons=4, axons=6, lanes=2, max_delay=1, learning=True, trace_bits=6)
    seed = seed_for(f"learning 2x1 array on {simulator}", 77)
    rng = np.random.default_rng(seed)
    net = random_network(mp, p, rng, fanout=(1, 3))
    inputs = random_ext_inputs(mp, p, rng, 12, rate=3.0)
    (got,) = run_and_compare([(net, inputs, 12, Stimulus(backpressure=0.3, seed=seed))],
                             simulator)
    assert (got.extra["weights"][-1] != np.stack([c.weights for c in net.cores])).any(), \
        "no weight changed: the test did not exercise learning"


def test_learning_cores_refuse_delays():
    from spikefab.rtl.image import CoreImage
    from spikefab.rtl.mesh import Mesh
    from spikefab.rtl.params import ParamError
    from spikefab.sim.runner import blank_network
    p = CoreParams(neurons=4, axons=4, lanes=1, max_delay=2, learning=True)
    with pytest.raises(ParamError, match=r"^max_delay = 2 is not allowed with learning = True "
                                         r"in hardware: a delayed spike is integrated on "
                                         r"arrival"):
        Mesh(blank_network(MeshParams(width=2), p))
