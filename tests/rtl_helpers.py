"""Shared helpers of the RTL test suites: seeds, random designs, running RTL beside the model."""

import os

import numpy as np

from spikefab.rtl.image import CoreImage
from spikefab.rtl.params import CoreParams
from spikefab.sim.golden import CoreModel
from spikefab.sim.runner import check_jobs, run_bench

SIMULATORS = ("verilator", "icarus")


def seed_for(name, default):
    """The seed of a random test: ``SPIKEFAB_SEED`` if set, else a fixed default.
    Printed, so a failure can be replayed."""
    seed = int(os.environ.get("SPIKEFAB_SEED", default))
    print(f"{name}: seed = {seed} (replay with SPIKEFAB_SEED={seed})")
    return seed


def random_params(rng, model, *, max_neurons=48, max_axons=32):
    lanes = int(rng.choice([1, 2, 4, 8]))
    neurons = lanes * int(rng.integers(1, max(1, max_neurons // lanes) + 1))
    weight_bits = int(rng.integers(1, 9))
    kw = dict(
        neurons=neurons, axons=int(rng.integers(1, max_axons + 1)), model=model,
        weight_bits=weight_bits, lanes=lanes, acc_bits=int(rng.integers(2, 25)),
        param_mode=str(rng.choice(["neuron", "profile"])), profiles=int(rng.integers(2, 9)),
    )
    if model == "cuba":
        kw.update(refractory_bits=int(rng.choice([0, 0, 1, 3, 8])),
                  subtractive_reset=bool(rng.integers(2)), v_floor=bool(rng.integers(2)))
    return CoreParams(**kw)


def random_core_design(model, design):
    """``(seed, rng, params)`` of random core design ``design`` of ``model`` (test_core_rtl;
    the synthesis suite builds the same parameters). ``rng`` goes on to draw the images."""
    seed = seed_for(f"random {model} design {design}", 1000 * design + (model == "shift"))
    rng = np.random.default_rng(seed)
    return seed, rng, random_params(rng, model)


def random_learning_params(rng, design, syn_memory):
    """Parameters of random learning design ``design`` (0: cuba, 1: shift), STDP on, the
    weights in ``syn_memory`` (test_stdp_rtl; the synthesis suite builds the same)."""
    lanes = int(rng.choice([1, 2, 4]))
    return CoreParams(neurons=lanes * int(rng.integers(2, 16 // lanes + 1)),
                      axons=int(rng.integers(2, 11)), lanes=lanes,
                      model=["cuba", "shift"][design], weight_bits=int(rng.integers(2, 9)),
                      learning=True, trace_bits=int(rng.integers(3, 13)),
                      syn_memory=syn_memory)


def lively_image(params, rng):
    """A random image over the full ranges, with about half the neurons given thresholds low
    enough to fire, so that spikes, resets and refractory periods all happen."""
    img = CoreImage.random(params, rng, density=float(rng.uniform(0.2, 1.0)))
    rows = params.param_rows
    low = rng.random(rows) < 0.5
    par = {k: v.copy() for k, v in img.neuron_params.items()}
    if params.model == "cuba":
        par["vth"][low] = rng.integers(0, 400, low.sum())
        par["dv"][low] = rng.integers(0, 1200, low.sum())
    else:
        par["th"][low] = rng.integers(1, 400, low.sum())
    return img.replace(neuron_params=par)


def random_inputs(params, rng, steps):
    rate = float(rng.uniform(0, 2.0 * params.axons))
    counts = rng.poisson(rate, steps)
    counts[rng.random(steps) < 0.15] = 0             # some empty steps
    return [rng.integers(0, params.axons, c).tolist() for c in counts]


def run_and_compare(jobs, simulator, *, baked=False, golden=None):
    """Run jobs on the RTL, compare each with the golden model at zero tolerance, every spike
    and state value of every neuron at every step; every job that diverged is reported, each
    with its first divergence. ``golden``: the images the model runs (default: the jobs'
    own). ``baked``: run the Verilog with each image baked in (no load). Returns the RTL
    traces."""
    traces = run_bench(jobs, simulator, baked=baked)
    images = golden or [img for img, *_ in jobs]
    expected = [CoreModel(g).run(inputs, steps)
                for g, (_, inputs, steps, _) in zip(images, jobs)]
    check_jobs(expected, traces, simulator)
    return traces


def assert_cases_reached(checks, golden):
    """Every directed case must really occur in the golden trace (``checks``: name ->
    predicate on the trace), so a directed test cannot pass by missing its edge case."""
    missed = [name for name, check in checks.items() if not check(golden)]
    assert not missed, f"directed cases not reached in the golden trace: {missed}"
