"""The fast RTL run mode (spikefab.sim.fast) on Verilator and Icarus: traces equal to the
golden model at zero tolerance (cuba, shift and learning cores, a 2 x 2 array), equal to the
cocotb bench's trace of the same job (meta included), several input sets on one build (the
baked design reloading what a run changes), and a deliberate divergence reported.

The parameters are those of the cocotb suites (test_core_rtl, test_stdp_rtl, test_mesh_rtl),
so the cocotb builds the comparison needs are shared with them.
"""

import numpy as np
import pytest

from spikefab.rtl.params import CoreParams
from spikefab.sim.fast import FastDesign, run_fast, run_fast_jobs
from spikefab.sim.golden import CoreModel
from spikefab.sim.runner import BenchJobsError, Stimulus, check_jobs, run_bench
from spikefab.sim.trace import Trace, first_divergence

from mesh_helpers import check_job, random_ext_inputs, random_network
from rtl_helpers import SIMULATORS, lively_image, random_inputs, seed_for
from test_core_rtl import CUBA_DIRECTED, SHIFT_DIRECTED
from test_mesh_rtl import CORE_2X2, MESH_2X2
from test_stdp_rtl import DIRECTED as LEARNING, learning_image

STEPS = 12
CORES = {"cuba": CUBA_DIRECTED, "shift": SHIFT_DIRECTED, "learning": LEARNING}


def _images(name, rng):
    p = CORES[name]
    return learning_image(p, rng) if p.learning else lively_image(p, rng)


def _slow_on_verilator(*names):
    """Parameters (simulator, name): the Verilator builds of ``names`` are marked slow (a
    Verilator build is most of a test's time; the cuba core and the array keep a Verilator
    run in ``make test``, sharing their builds with the cocotb comparison; every case keeps
    its Icarus run)."""
    return [pytest.param(sim, n, marks=[pytest.mark.slow] if sim == "verilator" and n in names
                         else []) for sim in SIMULATORS for n in sorted(CORES)]


@pytest.mark.parametrize("simulator, name", _slow_on_verilator("shift", "learning"))
def test_fast_core_equals_golden(simulator, name):
    """Two jobs (two images) in one simulator process, loaded over the host interface,
    each equal to the golden model: every spike, u, v (refr_cnt; learned weights and traces
    after every step) at every step; read-back checked."""
    rng = np.random.default_rng(seed_for(f"fast {name}", 31))
    p = CORES[name]
    jobs = [(_images(name, rng), random_inputs(p, rng, STEPS), STEPS) for _ in range(2)]
    traces = run_fast_jobs(jobs, simulator)
    check_jobs([CoreModel(img).run(inp, s) for img, inp, s in jobs], traces, simulator)
    assert sum(int(t.spikes.sum()) for t in traces) > 0, "no neuron ever fired: weak test"
    assert all(t.meta["source"] == simulator and len(t.meta["cycles"]) == STEPS
               for t in traces)
    if p.learning:
        assert any((t.extra["weights"][-1] != img.weights).any()
                   for t, (img, *_) in zip(traces, jobs)), "no weight moved: weak test"


@pytest.mark.parametrize("simulator", [pytest.param("verilator", marks=pytest.mark.slow),
                                       "icarus"])
def test_fast_learning_design_runs_input_sets(simulator):
    """One baked build of a learning core runs three input sets in one process (the first
    without loading, the others reloading state, synapses and traces): each equals a fresh
    golden run of the image."""
    rng = np.random.default_rng(seed_for("fast input sets", 32))
    img = learning_image(LEARNING, rng)
    sets = [random_inputs(LEARNING, rng, STEPS) for _ in range(3)]
    traces = FastDesign(img, simulator, baked=True).run(sets, STEPS, readback=True)
    check_jobs([CoreModel(img).run(s, STEPS) for s in sets], traces, simulator)


@pytest.mark.parametrize("simulator", SIMULATORS)
def test_fast_array_equals_golden(simulator):
    """A 2 x 2 array, two jobs split over two simulator processes: every spike and state,
    the external outputs, packets injected and delivered at every barrier, events accepted
    per core and step, status (the cocotb array suite's checks)."""
    rng = np.random.default_rng(seed_for("fast array", 33))
    jobs = [(random_network(MESH_2X2, CORE_2X2, rng, fanout=(1, 3)),
             random_ext_inputs(MESH_2X2, CORE_2X2, rng, STEPS, rate=3.0), STEPS)
            for _ in range(2)]
    traces = run_fast_jobs(jobs, simulator, workers=2)
    for (net, inputs, steps), got in zip(jobs, traces):
        check_job(net, inputs, steps, got)
    assert sum(int(t.spikes.sum()) for t in traces) > 0, "no neuron ever fired: weak test"


@pytest.mark.parametrize("simulator, design", [
    ("verilator", "core"), ("verilator", "array"), ("icarus", "core"),
    pytest.param("icarus", "array", marks=pytest.mark.slow)])   # cocotb on Icarus: slow
def test_fast_equals_cocotb_bench(simulator, design):
    """The same job through the cocotb bench and the fast mode: identical traces and
    identical meta (clocks of every step, counters, events accepted, status), source aside."""
    rng = np.random.default_rng(seed_for(f"fast vs cocotb {design}", 34))
    if design == "core":
        job = (lively_image(CUBA_DIRECTED, rng), random_inputs(CUBA_DIRECTED, rng, 8), 8,
               Stimulus())
    else:
        job = (random_network(MESH_2X2, CORE_2X2, rng, fanout=(1, 3)),
               random_ext_inputs(MESH_2X2, CORE_2X2, rng, 6, rate=3.0), 6, Stimulus())
    (slow,) = run_bench([job], simulator)
    (fast,) = run_fast_jobs([job], simulator)
    assert first_divergence(slow, fast) is None, str(first_divergence(slow, fast))
    assert {k: v for k, v in fast.meta.items() if k != "source"} == \
           {k: v for k, v in slow.meta.items() if k != "source"}
    assert slow.spikes.sum() > 0, "no neuron ever fired: weak test"


def test_fast_divergence_is_reported():
    """A trace altered after a fast run is reported at its first divergence (step, core,
    neuron, quantity, both values)."""
    rng = np.random.default_rng(seed_for("fast divergence", 35))
    img = lively_image(CUBA_DIRECTED, rng)
    inputs = random_inputs(CUBA_DIRECTED, rng, 6)
    got = run_fast(img, inputs, 6, "icarus")
    gold = CoreModel(img).run(inputs, 6)
    check_jobs([gold], [got], "icarus")
    bad = Trace(got.spikes, got.u, got.v.copy(), extra=got.extra, meta=got.meta)
    bad.v[3, 5] += 1
    with pytest.raises(AssertionError, match=(
            rf"icarus, job 0: first divergence at step 3, core 0, neuron 5, v: expected "
            rf"{gold.v[3, 5]}, got {gold.v[3, 5] + 1}")):
        check_jobs([gold], [bad], "icarus")


def test_fast_refuses_what_needs_the_bench():
    """Gaps and back-pressure need per-clock control: the fast mode refuses them."""
    img = lively_image(CUBA_DIRECTED, np.random.default_rng(0))
    with pytest.raises(ValueError, match="cocotb bench"):
        run_fast_jobs([(img, [], 2, Stimulus(backpressure=0.5))], "icarus")


def test_fast_reports_a_stopped_run():
    """A run that stops (here: a timeout shorter than a step) fails its job with the clock,
    and the jobs after it are reported as not run."""
    img = lively_image(CUBA_DIRECTED, np.random.default_rng(1))
    with pytest.raises(BenchJobsError) as e:
        FastDesign(img, "icarus").run([[[0, 1]] * 3] * 2, 3, timeout=5)
    assert set(e.value.errors) == {0, 1}
    assert "no transfer for 5 clocks" in e.value.errors[0]
    assert "not run" in e.value.errors[1]


def test_cli_simulate_uses_the_fast_mode(tmp_path, capsys):
    """``spikefab simulate`` on a simulator runs the fast mode by default, the cocotb bench
    with ``--bench cocotb`` (and by default with back-pressure); both traces equal golden;
    ``--bench fast`` with back-pressure is refused."""
    from spikefab.gen.cli import main
    from spikefab.sim.inputs import save_inputs
    rng = np.random.default_rng(36)
    img = lively_image(CUBA_DIRECTED, rng)
    img.save(tmp_path / "img.npz")
    save_inputs(tmp_path / "in.npz", random_inputs(CUBA_DIRECTED, rng, 5), 5)
    base = ["simulate", str(tmp_path / "img.npz"), "--inputs", str(tmp_path / "in.npz")]
    for name, extra in (("golden", ["--sim", "golden"]), ("fast", ["--sim", "icarus"]),
                        ("cocotb", ["--sim", "icarus", "--bench", "cocotb"])):
        assert main(base + extra + ["-o", str(tmp_path / name)]) == 0
        cap = capsys.readouterr()
        said = cap.err + cap.out
        if name != "golden":
            assert f"({name} bench)" in said
    gold = Trace.load(tmp_path / "golden.npz")
    for name in ("fast", "cocotb"):
        got = Trace.load(tmp_path / f"{name}.npz")
        assert first_divergence(gold, got) is None, f"{name}: {first_divergence(gold, got)}"
    assert main(base + ["--sim", "icarus", "--bench", "fast", "--backpressure", "0.5",
                        "-o", str(tmp_path / "bp")]) != 0
    cap = capsys.readouterr()
    assert "--bench cocotb" in cap.err + cap.out


def test_fast_records_parse():
    """The output records' parser (no simulator): fields across the 64-bit pieces of a
    wide record, Icarus's address comments skipped, an x digit reported."""
    from spikefab.sim.fast.plan import JobError, read_records
    rng = np.random.default_rng(37)
    bits = 224                                   # an event record: 8 + 32 + 48 + 136
    words = [int.from_bytes(rng.bytes(bits // 8), "big") for _ in range(5)]
    text = "// 0x00000000\n" + "".join(f"{w:0{bits // 4}x}\n" for w in words)
    rec = read_records(text.encode(), bits)
    assert len(rec) == 5 and len(rec[1:3]) == 2
    for off, width in ((0, 64), (60, 8), (136, 48), (184, 32), (216, 8)):
        assert rec.field(off, width).tolist() == [(w >> off) & ((1 << width) - 1)
                                                  for w in words]
    assert rec.ints([0, 4], 134) == [words[0] & ((1 << 134) - 1), words[4] & ((1 << 134) - 1)]
    lines = text.splitlines(keepends=True)
    with pytest.raises(JobError, match="x or z"):
        read_records("".join(lines[:2] + ["x" + lines[2][1:]] + lines[3:]).encode(), bits)
