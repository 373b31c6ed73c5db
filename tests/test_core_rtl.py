"""The generated core's Verilog, on Verilator and on Icarus, against the golden model.

Zero tolerance: every spike and every state value of every neuron at every step. Random
cores are seeded (the seed is printed; replay with SPIKEFAB_SEED=...). Directed cases each
assert that the golden trace really contains the situation they target, so a directed test
cannot pass by never reaching its edge case.
"""

import numpy as np
import pytest

from spikefab.rtl.image import CoreImage
from spikefab.rtl.params import V_MAX, CoreParams
from spikefab.sim.golden import CoreModel
from spikefab.sim.runner import BenchJobsError, Stimulus, run_bench
from spikefab.sim.trace import first_divergence

from rtl_helpers import (SIMULATORS, assert_cases_reached, lively_image, random_core_design,
                         random_inputs, run_and_compare, seed_for)


# --- random cores: >= 1,000 steps per simulator per neuron model ------------------------------

RANDOM_STEPS = 170       # steps per job: 3 * 2 * 170 = 1,020 steps per simulator per model
# designs per model, each running two jobs; the second and third are `slow` (make
# test-slow) so that `make test` stays within its time budget with 340 random steps per
# simulator per model (the other random suites, learning, SPRAM, arrays, fast mode, add more)
RANDOM_DESIGNS = [0] + [pytest.param(d, marks=pytest.mark.slow) for d in (1, 2)]


@pytest.mark.parametrize("simulator", SIMULATORS)
@pytest.mark.parametrize("model", ["cuba", "shift"])
@pytest.mark.parametrize("design", RANDOM_DESIGNS)
def test_random_cores(simulator, model, design):
    seed, rng, params = random_core_design(model, design)
    print(f"params: {params}")
    jobs = []
    for k in range(2):
        img = lively_image(params, rng)
        stim = Stimulus(gap_prob=float(rng.choice([0.0, 0.3])),
                        backpressure=float(rng.choice([0.0, 0.5, 0.9])), seed=seed + k)
        jobs.append((img, random_inputs(params, rng, RANDOM_STEPS), RANDOM_STEPS, stim))
    traces = run_and_compare(jobs, simulator)
    assert sum(int(t.spikes.sum()) for t in traces) > 0, "no neuron ever fired: weak test"


# --- directed edge cases: cuba ------------------------------------------------------------

CUBA_DIRECTED = CoreParams(neurons=16, axons=8, model="cuba", weight_bits=8, lanes=4,
                           acc_bits=12, refractory_bits=3, subtractive_reset=True,
                           v_floor=True)


def cuba_directed_job():
    """One neuron per edge case; returns (image, inputs, steps, checks). ``checks`` are
    predicates on the golden trace proving each case happened."""
    p = CUBA_DIRECTED
    N = p.neurons
    par = {k: np.full(N, d) for k, d in p.param_defaults().items()}
    st = {"u": np.zeros(N, np.int64), "v": np.zeros(N, np.int64), "refr_cnt": np.zeros(N, np.int64)}
    w = np.zeros((p.axons, N), np.int64)
    par["vth"][:] = 131071           # most neurons never fire unless the case wants it
    # n0: du = dv = 0: u decays by 4095/4096, v does not decay
    st["u"][0], st["v"][0] = 4096 * 100, -1000
    # n1: du = dv = 4095: u and v collapse to (nearly) nothing
    par["du"][1], par["dv"][1] = 4095, 4095
    st["u"][1], st["v"][1] = 8_000_000, -8_000_000
    # n2: v exactly at the threshold (no spike), n3 one above (spike); u = 0, dv = 0, no input
    par["vth"][2] = par["vth"][3] = 1000
    st["v"][2], st["v"][3] = 1000 << 6, (1000 << 6) + 1
    # n4: odd negative u and v: truncation toward zero
    par["du"][4], par["dv"][4] = 1, 7
    st["u"][4], st["v"][4] = -4097 * 3 - 1, -12345
    # n5, n6: bias_exp 7 with the extreme mantissas, v saturates at +-(2^23 - 1)
    par["bias_exp"][5] = par["bias_exp"][6] = 7
    par["bias_mant"][5], par["bias_mant"][6] = 4095, -4096
    # n7: u wraps past 2^23 - 1 under a strong input (axon 0, weight 127, exp 7 set below)
    st["u"][7] = (1 << 23) - 10
    w[0, 7] = 127
    # n8: refractory period 5 with subtractive reset, constant drive
    par["refr"][8], par["reset_sub"][8], par["vth"][8] = 5, 1, 10
    par["bias_mant"][8], par["bias_exp"][8] = 4095, 3
    # n9: v floor at -5000 under strong inhibition (axon 1, weight -128)
    par["v_floor"][9] = -5000
    w[1, 9] = -128
    # n10: input accumulator saturation: axon 2 hit many times with weight 127 -> acc_bits
    w[2, 10] = 127
    # n11: the same with negative weights
    w[2, 11] = -128
    # n12..15: every axon hits them; mixed signs
    w[:, 12:16] = np.arange(-64, 64, 4)[:p.axons * 4].reshape(p.axons, 4)
    par["vth"][12:16] = 5
    img = CoreImage(params=p, weights=w, w_exp=7, neuron_params=par, state=st)
    steps = 24
    inputs = []
    for t in range(steps):
        ev = []
        if t in (1, 2):
            ev += [0] * 3                       # drive n7 over the top
        if t % 3 == 0:
            ev += [1] * 2                       # inhibit n9
        if t in (4, 5):
            ev += [2] * 40                      # saturate n10, n11 (40 * 127 * 128 >> 2047)
        if t in (6, 7, 20):
            ev += list(range(p.axons))          # every axon once
        if t in (9, 10, 11):
            ev = []                             # empty steps
        inputs.append(ev)
    hi = (1 << (p.acc_bits - 1)) - 1
    checks = {
        "u decays with du=0": lambda g: g.u[0, 0] == 4096 * 100 - 100,
        "v holds with dv=0": lambda g: g.v[0, 0] == -1000 + g.u[0, 0],
        "tie at threshold does not fire": lambda g: g.spikes[0, 2] == 0,
        "one above the threshold fires": lambda g: g.spikes[0, 3] == 1,
        "negative values round toward zero": lambda g: g.u[0, 4] == -((12292 * 4094) >> 12)
            and (-12292 * 4094) >> 12 != g.u[0, 4],      # a floor shift would differ
        "v saturates high": lambda g: (g.v[:, 5] == V_MAX).any() or (g.spikes[:, 5] == 1).any(),
        "v saturates low": lambda g: (g.v[:, 6] == -V_MAX).any(),
        "u wraps to negative": lambda g: (np.diff(np.sign(g.u[:4, 7])) < 0).any(),
        "refractory: v held at 0 after a spike": lambda g: (
            (g.spikes[:-5, 8] == 1).any() and (g.extra["refr_cnt"][:, 8] == 5).any()),
        "subtractive reset leaves a remainder": lambda g: any(
            g.spikes[t, 8] and g.v[t, 8] != 0 for t in range(steps)),
        "v floor holds": lambda g: (g.v[:, 9] == -5000).any(),
        "accumulator saturates": lambda g: g.u[4, 10] - (g.u[3, 10] * 4095 // 4096) in
            (hi << 6, (hi << 6) - 1, (hi << 6) + 1),
    }
    return img, inputs, steps, checks


@pytest.mark.parametrize("simulator", SIMULATORS)
def test_cuba_directed(simulator):
    img, inputs, steps, checks = cuba_directed_job()
    golden = CoreModel(img).run(inputs, steps)
    assert_cases_reached(checks, golden)
    jobs = [(img, inputs, steps, Stimulus()),
            (img, inputs, steps, Stimulus(gap_prob=0.5, backpressure=0.95, seed=3))]
    run_and_compare(jobs, simulator)


# --- directed edge cases: shift -----------------------------------------------------------

SHIFT_DIRECTED = CoreParams(neurons=8, axons=4, model="shift", weight_bits=8, lanes=2,
                            acc_bits=24)


def shift_directed_job():
    p = SHIFT_DIRECTED
    N = p.neurons
    par = {k: np.full(N, d) for k, d in p.param_defaults().items()}
    st = {"i": np.zeros(N, np.int64), "v": np.zeros(N, np.int64)}
    w = np.zeros((p.axons, N), np.int64)
    par["th"][:] = 32767
    # n0 / n1: i and v saturate at 32767 / -32768 under strong input
    w[0, 0], w[0, 1] = 127, -128
    par["dash_syn"][0:2] = 15
    par["dash_mem"][0:2] = 15
    # n2 / n3: minimum decay of 1 for small positive / negative values (dash 15)
    st["i"][2], st["v"][2] = 5, 7
    st["i"][3], st["v"][3] = -5, -7
    par["dash_syn"][2:4] = par["dash_mem"][2:4] = 15
    # n4: tie v == th fires, reset by subtraction: v = 50 - decay(50, 15) + bias 51 = 100
    par["th"][4], par["bias"][4], par["dash_mem"][4], par["dash_syn"][4] = 100, 51, 15, 0
    st["v"][4] = 50
    # n5: extreme bias and dash 0
    par["bias"][5], par["dash_mem"][5], par["dash_syn"][5] = -32768, 0, 0
    st["v"][5] = -32768
    # n6, n7: every axon hits, mixed weights
    w[:, 6], w[:, 7] = [100, -50, 25, 7], [-1, 2, -3, 4]
    par["th"][6:8] = 60
    img = CoreImage(params=p, weights=w, w_exp=7, neuron_params=par, state=st)
    steps = 20
    inputs = [([0] * 5 if t < 6 else []) + (list(range(4)) if t % 2 else []) for t in range(steps)]
    checks = {
        "i saturates high": lambda g: (g.u[:, 0] == 32767 - (32767 >> 15)).any() or
            (g.u[:, 0] >= 32766).any(),
        # step 0: i = 32766 and v = 32766; step 1: v + dv = 32766 + 32765 saturates to 32767,
        # which fires at th = 32767 and resets to exactly 0 (unsaturated it would leave 32764)
        "v saturates high": lambda g: g.spikes[1, 0] == 1 and g.v[1, 0] == 0,
        "v saturates low": lambda g: (g.v[:, 1] == -32768).any(),
        "minimum decay of +1": lambda g: g.u[0, 2] == 4,
        "minimum decay of -1": lambda g: g.u[0, 3] == -4,
        "tie v == th fires": lambda g: g.spikes[0, 4] == 1 and g.v[0, 4] == 0,
    }
    return img, inputs, steps, checks


@pytest.mark.parametrize("simulator", SIMULATORS)
def test_shift_directed(simulator):
    img, inputs, steps, checks = shift_directed_job()
    golden = CoreModel(img).run(inputs, steps)
    assert_cases_reached(checks, golden)
    run_and_compare([(img, inputs, steps, Stimulus(backpressure=0.5, seed=2))], simulator)


# --- every neuron fires every step under full back-pressure -------------------------------

@pytest.mark.parametrize("simulator", SIMULATORS)
def test_all_fire_under_backpressure(simulator):
    p = CoreParams(neurons=32, axons=4, model="cuba", lanes=8)
    img = CoreImage(params=p, neuron_params={"vth": 0, "bias_mant": 4095, "bias_exp": 7})
    steps = 12
    inputs = [[] for _ in range(steps)]
    (trace,) = run_and_compare([(img, inputs, steps, Stimulus(backpressure=0.97, seed=9))],
                               simulator)
    assert trace.spikes[1:].all(), "expected every neuron to fire at every step after the first"


# --- event limits and malformed events: sticky status bits, nothing half-applied -----------

@pytest.mark.parametrize("simulator", SIMULATORS)
def test_status_flags(simulator):
    p = CoreParams(neurons=8, axons=5, lanes=4, max_step_events=6)
    rng = np.random.default_rng(4)
    img = lively_image(p, rng)
    good = [[1, 2], [0, 0, 4, 4, 3], [2]]          # 5 + 1 bad event = 6, within the limit
    # over the limit: the golden model refuses; the hardware sets STATUS bit 0
    with pytest.raises(ValueError, match="max_step_events"):
        CoreModel(img).run([[1] * 7], 1)
    # an axon id >= A: the golden model refuses; the hardware drops it and sets STATUS bit 1
    with pytest.raises(ValueError, match="out of range"):
        CoreModel(img).run([[7]], 1)
    over = run_bench([(img, [[1] * 7], 1, Stimulus(readback=False))], simulator)[0]
    assert over.meta["status"] & 1, f"STATUS = {over.meta['status']}: overflow bit not set"
    bad_inputs = [good[0], good[1] + [7], good[2]]
    bad = run_bench([(img, bad_inputs, 3, Stimulus(readback=False))], simulator)[0]
    assert bad.meta["status"] == 2, f"STATUS = {bad.meta['status']}: expected bad-event bit only"
    expected = CoreModel(img).run(good, 3)      # the bad event changed nothing
    assert first_divergence(expected, bad) is None
    ok = run_bench([(img, good, 3, Stimulus(readback=False))], simulator)[0]
    assert ok.meta["status"] == 0


# --- the comparison catches a planted fault -----------------------------------------------

def test_planted_fault_is_caught():
    """Perturb one parameter of the golden model's image by one unit and expect the RTL
    comparison to report a divergence naming the step, the neuron and the quantity."""
    img, inputs, steps, _ = cuba_directed_job()
    (rtl,) = run_bench([(img, inputs, steps, Stimulus(readback=False))], "verilator")
    assert first_divergence(CoreModel(img).run(inputs, steps), rtl) is None
    planted = CoreImage(params=img.params, weights=img.weights, w_exp=img.w_exp,
                        neuron_params={**img.neuron_params,
                                       "dv": np.where(np.arange(16) == 4, 8, img.neuron_params["dv"])},
                        state=img.state)
    div = first_divergence(CoreModel(planted).run(inputs, steps), rtl)
    assert div is not None, "a planted fault in the model went unnoticed"
    assert (div.step, div.core, div.neuron, div.quantity) == (0, 0, 4, "v"), str(div)
    assert str(div).startswith("first divergence at step 0, core 0, neuron 4, v: expected")


def test_every_diverging_job_is_reported():
    """A run of several jobs reports every job that diverged, each with its first divergence:
    the same planted fault in jobs 0 and 2 (not in job 1) is reported twice."""
    img, inputs, steps, _ = cuba_directed_job()
    planted = CoreImage(params=img.params, weights=img.weights, w_exp=img.w_exp,
                        neuron_params={**img.neuron_params,
                                       "dv": np.where(np.arange(16) == 4, 8, img.neuron_params["dv"])},
                        state=img.state)
    jobs = [(img, inputs, steps, Stimulus(readback=False, seed=k)) for k in range(3)]
    with pytest.raises(AssertionError) as err:
        run_and_compare(jobs, "verilator", golden=[planted, img, planted])
    msg = str(err.value)
    assert msg.startswith("2 of 3 jobs diverged:"), msg
    for k in (0, 2):
        assert (f"verilator, job {k}: first divergence at step 0, core 0, neuron 4, v: "
                f"expected") in msg, msg
    assert "job 1" not in msg


def test_every_job_failing_in_the_bench_is_reported():
    """Jobs that fail inside the bench (here: a step timeout of one clock) are all reported,
    and the others still run."""
    img, inputs, steps, _ = cuba_directed_job()
    jobs = [(img, inputs, steps, Stimulus(readback=False, timeout=t)) for t in (1, 200_000, 1)]
    with pytest.raises(BenchJobsError) as err:
        run_bench(jobs, "verilator")
    assert sorted(err.value.errors) == [0, 2]
    assert "verilator, job 0: step 0: nothing after 1 clocks" in str(err.value)
    assert "verilator, job 2: step 0: nothing after 1 clocks" in str(err.value)
    good = err.value.traces[1]
    assert first_divergence(CoreModel(img).run(inputs, steps), good) is None


# --- tiny cores: N/lanes of 1 and 2, back-to-back events on the same accumulator words -----

@pytest.mark.parametrize("simulator", SIMULATORS)
@pytest.mark.parametrize("words", [1, 2, 3])
def test_back_to_back_events_on_few_words(simulator, words):
    """With N/lanes < 3 an event would read a word before the previous event's write-back;
    the core must space events, and the sums must stay exact."""
    seed = seed_for(f"back-to-back, {words} words per row", 77 + words)
    rng = np.random.default_rng(seed)
    p = CoreParams(neurons=4 * words, axons=3, lanes=4, weight_bits=8, acc_bits=24)
    img = lively_image(p, rng)
    steps = 30
    inputs = [rng.integers(0, 3, rng.integers(0, 12)).tolist() for _ in range(steps)]
    silent = CoreImage(params=p, weights=img.weights, w_exp=img.w_exp,
                       neuron_params={**img.neuron_params, "vth": 131071}, state={})
    _, quiet = run_and_compare([(img, inputs, steps, Stimulus()),
                                (silent, inputs, steps, Stimulus())], simulator)
    # with no spikes to drain, a step with input costs exactly max(N/lanes, 3) clocks per
    # event plus a constant (update + integration pipeline drain); an empty step costs less
    assert not quiet.spikes.any()
    events = np.array([len(e) for e in inputs])
    cost = np.asarray(quiet.meta["cycles"]) - max(words, 3) * events
    busy = cost[events > 0]
    assert (busy == busy[0]).all(), f"clocks per step minus the event cost: {cost.tolist()}"
    assert (cost[events == 0] < busy[0]).all(), f"empty steps: {cost[events == 0].tolist()}"
