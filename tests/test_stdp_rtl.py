"""The STDP engine in the generated Verilog, on Verilator and Icarus, against the golden model.

After every step the bench reads every weight, pre trace and post trace back over the
configuration port; they, the spikes and the neuron states are compared at zero tolerance.
Directed cases assert that the golden trace really contains the situation they target.
"""

import dataclasses

import numpy as np
import pytest

from spikefab.rtl.image import CoreImage
from spikefab.rtl.params import CoreParams
from spikefab.sim.golden import CoreModel
from spikefab.sim.runner import Stimulus
from spikefab.sim.demos import stdp_window_experiment

from rtl_helpers import (SIMULATORS, assert_cases_reached, lively_image, random_inputs,
                         random_learning_params, run_and_compare, seed_for)


def learning_image(params, rng, **stdp):
    """A lively random image whose STDP registers make weights move every few steps."""
    img = lively_image(params, rng)
    lo, hi = params.weight_range
    w_min = int(rng.integers(lo, 1))
    w_max = int(rng.integers(max(w_min, 0), hi + 1))
    regs = {**img.stdp, "learn_en": 1, "w_min": w_min, "w_max": w_max,
            "a_plus": int(rng.integers(8, 256)), "a_minus": int(rng.integers(8, 256)),
            "s_plus": int(rng.integers(2, 9)), "s_minus": int(rng.integers(2, 9)), **stdp}
    plastic = (rng.random(params.axons) < 0.8).astype(np.int64)
    return CoreImage(params=params, weights=img.weights, w_exp=img.w_exp,
                     neuron_params=img.neuron_params, profile_index=img.profile_index,
                     state=img.state, stdp=regs, plastic=plastic, x=img.x, y=img.y)


STEPS = 130          # 2 designs x 2 jobs x 130 = 520 learning steps per simulator


@pytest.mark.parametrize("simulator", SIMULATORS)
@pytest.mark.parametrize("design", range(2))
def test_random_learning_cores(simulator, design):
    seed = seed_for(f"random learning design {design}", 500 + design)
    _random_learning_run(simulator, design, seed, "block", STEPS)


SPRAM_STEPS = 60     # lean: 2 designs x 2 jobs x 60 learning steps per simulator


@pytest.mark.parametrize("simulator", SIMULATORS)
@pytest.mark.parametrize("design", [0, pytest.param(1, marks=pytest.mark.slow)])  # time budget
def test_random_learning_cores_spram(simulator, design):
    """The same random learning cores with the weights in iCE40 SPRAM: the single-port
    memory makes the STDP read-modify-write run at half rate, with the same results."""
    seed = seed_for(f"random spram learning design {design}", 520 + design)
    _random_learning_run(simulator, design, seed, "ice40_spram", SPRAM_STEPS)


def _random_learning_run(simulator, design, seed, syn_memory, steps):
    rng = np.random.default_rng(seed)
    p = random_learning_params(rng, design, syn_memory)
    print(f"params: {p}")
    STEPS = steps
    jobs = [(learning_image(p, rng), random_inputs(p, rng, STEPS), STEPS,
             Stimulus(backpressure=float(rng.choice([0.0, 0.5])), seed=seed + k,
                      readback=False))
            for k in range(2)]
    traces = run_and_compare(jobs, simulator)
    moved = sum(int((t.extra["weights"][-1] != img.weights).sum())
                for t, (img, *_) in zip(traces, jobs))
    assert moved > 0, "no weight ever changed: weak test"


# --- directed cases ----------------------------------------------------------------------

DIRECTED = CoreParams(neurons=8, axons=6, lanes=4, weight_bits=6, learning=True, trace_bits=6)


def directed_job(syn_memory="block"):
    """Axon 0: plastic, fires with neuron 0 in the same step (pre and post together).
    Axon 1: plastic, hit every step: its pre trace saturates. Axon 2: non-plastic, hit often.
    Neurons 0..3 fire every step (bias), 4..7 never. Tight bounds make both clamps bite.
    ``syn_memory``: where the weights live (SPRAM: half-rate read-modify-write)."""
    p = dataclasses.replace(DIRECTED, syn_memory=syn_memory)
    N, A = p.neurons, p.axons
    par = {k: np.full(N, d) for k, d in p.param_defaults().items()}
    par["vth"][:] = 131071
    par["vth"][:4] = 0
    par["bias_mant"][:4] = 4095
    par["bias_exp"][:4] = 7
    w = np.zeros((A, N), np.int64)
    w[:, :] = np.arange(-24, 24, 1)[:A * N].reshape(A, N)
    regs = {**p.stdp_defaults(), "learn_en": 1, "w_min": -10, "w_max": 12,
            "a_plus": 40, "a_minus": 30, "s_plus": 3, "s_minus": 3, "k_pre": 3, "k_post": 2,
            "imp_pre": 40, "imp_post": 33}
    plastic = np.array([1, 1, 0, 1, 1, 1])
    img = CoreImage(params=p, weights=w, neuron_params=par, stdp=regs, plastic=plastic)
    steps = 24
    inputs = [[0, 1, 2] if t % 3 == 0 else [1, 2] for t in range(steps)]
    x_max = p.trace_max
    checks = {
        "pre and post in the same step: LTP sees the new pre impulse": lambda g: (
            g.extra["x"][0, 0] == 40 and g.extra["weights"][0, 0, 0] != w[0, 0]),
        "pre trace saturates": lambda g: (g.extra["x"][:, 1] == x_max).any(),
        "post trace saturates": lambda g: (g.extra["y"][:, 0] == x_max).any(),
        "clamp at w_max": lambda g: (g.extra["weights"][:, :, :4] == 12).any(),
        "clamp at w_min": lambda g: (g.extra["weights"][:, :, 4:] == -10).any(),
        "non-plastic axon untouched": lambda g: (g.extra["weights"][:, 2] == w[2]).all(),
        "non-plastic axon still gets pre impulses": lambda g: (g.extra["x"][:, 2] > 0).all(),
    }
    return img, inputs, steps, checks


@pytest.mark.parametrize("simulator", SIMULATORS)
@pytest.mark.parametrize("syn_memory", ["block", "ice40_spram"])
def test_directed_learning(simulator, syn_memory):
    img, inputs, steps, checks = directed_job(syn_memory)
    golden = CoreModel(img).run(inputs, steps)
    assert_cases_reached(checks, golden)
    off = CoreImage(params=img.params, weights=img.weights, neuron_params=img.neuron_params,
                    stdp={**img.stdp, "learn_en": 0}, plastic=img.plastic)
    (_, disabled) = run_and_compare([(img, inputs, steps, Stimulus(readback=False)),
                                     (off, inputs, steps, Stimulus(readback=False))],
                                    simulator)
    assert (disabled.extra["weights"] == img.weights).all(), \
        "learning disabled changed a weight"
    assert disabled.extra["x"].any() and disabled.extra["y"].any(), \
        "with learning disabled the traces must still evolve"


@pytest.mark.parametrize("simulator", SIMULATORS)
def test_stdp_window_on_the_rtl(simulator):
    """One pre spike at t_pre, one post spike at t_post, for dt = t_post - t_pre in
    -20..+20: the weight change measured on the RTL equals the golden model's (checked inside
    the experiment, with every other quantity) and the rule's closed form."""
    dts, rtl, golden, closed = stdp_window_experiment(range(-20, 21, 4), simulator)
    assert (rtl == closed).all(), f"RTL {rtl.tolist()} vs closed form {closed.tolist()}"
    assert (rtl == golden).all()
    assert rtl[dts == 4][0] > 0 > rtl[dts == -4][0], "potentiation for dt > 0, depression below"
    assert abs(rtl).max() <= 100, "the demo's window should stay clear of the weight clamps"


@pytest.mark.slow
@pytest.mark.parametrize("simulator", SIMULATORS)
def test_spram_learning_core_256(simulator):
    """A 256 x 256 ``cuba`` core with STDP, 8-bit weights in SPRAM (2 of the UP5K's 4),
    lanes 2: a few learning steps, bit-exact with the golden model (every weight and trace
    read back after every step)."""
    p = CoreParams(neurons=256, axons=256, model="cuba", weight_bits=8, lanes=2,
                   syn_memory="ice40_spram", learning=True)
    rng = np.random.default_rng(seed_for("spram learning core 256", 530))
    steps = 3
    img = learning_image(p, rng)
    inputs = [rng.integers(0, p.axons, 12).tolist() for _ in range(steps)]
    (trace,) = run_and_compare([(img, inputs, steps, Stimulus(seed=1, readback=False))],
                               simulator)
    assert trace.spikes.sum() > 0, "no neuron ever fired: weak test"
    assert (trace.extra["weights"][-1] != img.weights).any(), "no weight changed: weak test"
