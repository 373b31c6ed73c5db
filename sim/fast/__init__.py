"""The fast RTL run: the generated Verilog of a core or an array run under Verilator or Icarus
with no per-clock work in Python, giving the same traces as the cocotb benches.

A generated harness (:mod:`.harness`) around the top of the image reads the command words
the host would send (:mod:`.plan`: load, per step the input events and ``STEP``, the reads
the benches make) from a file, presents them on the host command stream honouring
ready/valid, and writes every reply word and every trace-port beat to a file that Python
decodes through the same layouts (:mod:`spikefab.rtl.host`, :mod:`spikefab.rtl.layouts`)
into a :class:`~spikefab.sim.trace.Trace`: every spike, every u and v of every step, in the
benches' format (``extra`` and ``meta`` as :mod:`spikefab.sim.benches.core_bench` and
``mesh_bench`` write them). The cocotb benches (:func:`spikefab.sim.runner.run_bench`) stay
for per-clock control: idle gaps, back-pressure, protocol and fault checks.

Entry points:

* :func:`run_fast` ``(image, inputs, steps, simulator) -> Trace``: one run.
* :func:`run_fast_jobs` ``(jobs, simulator) -> [Trace]``: many jobs (``(image, inputs,
  steps)`` or the benches' ``(image, inputs, steps, Stimulus)``), one simulator process per
  build (or ``workers`` of them).
* :class:`FastDesign` ``(image, simulator)``: one build, then ``run(input_sets, steps)`` as
  often as wanted, every input set a job of the same image, all in one simulator process
  (or ``workers``): the way to run a test set.

Builds are cached under ``root`` (default ``build/sim``), keyed on the Verilog, the harness,
the simulation models and the flags; parallel workers wait for one build (a file lock).
``baked=False`` (default): one build of a blank image of the parameters serves every image,
and each job loads its image over the host interface (as ``run_bench``). ``baked=True``: the
image is built into the Verilog; the first job of a process runs without loading, later jobs
reload what a run changes (state, registers, and on a learning core the synapses and traces).
"""

import shutil
import subprocess
import threading
import time
import traceback
from pathlib import Path

import numpy as np

from ...rtl.layouts import Region
from ..runner import (BenchJobsError, SIMULATORS, blank_image, emit_verilog,
                      icarus_time_zero_fix, new_run_dir, sim_models, toplevel_for)
from .harness import (CHUNK, HARNESS, ICARUS_TOP, build_fast, harness_verilog,
                      icarus_clock_verilog, ports_for, record_layout, verilator_main_cpp)
from ...firmware.protocol import HostCodec
from .plan import (JobError, STATIC_REGIONS, decode_job, load_lines, load_words, parse_output,
                   plan_job, read_records)

__all__ = ["run_fast", "run_fast_jobs", "FastDesign", "design_sources"]

#: Clocks without any transfer (command, reply or trace beat) after which a run is stopped.
TIMEOUT = 200_000


#: Verilog of blank images already emitted in this process, by (kind, params, mesh):
#: emitting an array's Verilog takes seconds, and a loaded build's depends only on these.
_BLANK_VERILOG = {}


def design_sources(image, simulator, *, blank=False):
    """``(sources, top, main_cpp, defines)`` of the fast build of ``image``'s Verilog (as
    given; ``blank``: ``image`` is a blank image, whose Verilog is emitted once per process)."""
    top = toplevel_for(image)
    key = (top, image.params, getattr(image, "mesh", None))
    text = _BLANK_VERILOG.get(key) if blank else None
    if text is None:
        text = emit_verilog(image)
        if blank:
            _BLANK_VERILOG[key] = text
    if simulator == "icarus":
        text = icarus_time_zero_fix(text)
    models, defines = sim_models(image.params)
    sources = {"harness.v": harness_verilog(ports_for(image), top)}
    if simulator == "icarus":
        sources["clock.v"] = icarus_clock_verilog()
    sources[f"{top}.v"] = text
    for path in models:
        sources[Path(path).name] = Path(path).read_text()
    main = verilator_main_cpp() if simulator == "verilator" else None
    return sources, (HARNESS if simulator == "verilator" else ICARUS_TOP), main, defines


class FastDesign:
    """One fast build of an image's design, run as often as wanted.

    Parameters
    ----------
    image : CoreImage or NetworkImage
    simulator : ``"verilator"`` or ``"icarus"``
    baked : bool
        Build the image into the Verilog (one build per image; loads skipped) instead of a
        blank image of its parameters (one build per parameters; every job loads).
    root : build folder
    """

    def __init__(self, image, simulator="verilator", *, baked=False, root="build/sim"):
        if simulator not in SIMULATORS:
            raise ValueError(f"simulator = {simulator!r} is not allowed: expected one of "
                             f"{', '.join(SIMULATORS)}")
        self.image, self.simulator, self.baked = image, simulator, baked
        sources, top, main, defines = design_sources(image if baked else blank_image(image),
                                                     simulator, blank=not baked)
        self.argv = build_fast(sources, simulator, top=top, main_cpp=main, defines=defines,
                               root=root)
        self.folder = Path(self.argv[-1]).parent
        self._loads, self._lock = {}, threading.Lock()

    def run(self, input_sets, steps, *, readback=False, workers=1, progress=None,
            timeout=TIMEOUT, images=None):
        """Run one job per input set (each a per-step list as :func:`run_fast` takes) for
        ``steps`` steps (an int, or one per set); return their traces in order.

        ``images``: one image per set (default: the design's image for all; with a baked
        design only its own image is allowed). ``workers``: simulator processes run at once,
        each taking a contiguous share of the jobs. ``progress(done, total)`` is called as
        steps complete. After the call, :attr:`clocks` holds each job's clocks (from its
        reset to its last reply; None if it did not end) and :attr:`timings` the seconds
        spent (summed over workers) planning the commands, writing the command files (and
        removing the run's folder), in the simulator processes and reading and decoding
        their output. Raises :class:`~spikefab.sim.runner.BenchJobsError` naming every job
        that failed, after running them all."""
        n = len(input_sets)
        self.clocks = [None] * n
        self.timings = dict.fromkeys(("plan", "files", "simulator", "decode"), 0.0)
        steps = [int(steps)] * n if np.ndim(steps) == 0 else [int(s) for s in steps]
        images = [self.image] * n if images is None else list(images)
        if self.baked and any(img is not self.image for img in images):
            raise ValueError("a baked design runs only its own image")
        jobs = list(zip(images, input_sets, steps))
        workers = max(1, min(int(workers), n))
        bounds = np.linspace(0, n, workers + 1).astype(int)
        chunks = [list(range(a, b)) for a, b in zip(bounds[:-1], bounds[1:]) if b > a]
        counter = _Progress(progress, sum(steps))
        traces, errors = [None] * n, {}
        args = (jobs, readback, timeout, counter, traces, errors)
        if len(chunks) == 1:
            self._run_chunk(chunks[0], *args)
        else:
            threads = [threading.Thread(target=self._run_chunk, args=(ks, *args))
                       for ks in chunks]
            for th in threads:
                th.start()
            for th in threads:
                th.join()
        if errors:
            raise BenchJobsError(self.simulator, errors, traces)
        return traces

    def _load_words(self, image, static):
        """The load's command words for ``image`` (a baked design: without ``static``
        regions) and their command file lines, made once per image object."""
        with self._lock:
            hit = self._loads.get(id(image))
            if hit is None or hit[0] is not image:
                words = load_words(image, HostCodec.for_image(image),
                                   skip=static if self.baked else ())
                hit = self._loads[id(image)] = (image, words, load_lines(words))
                while len(self._loads) > 64:
                    self._loads.pop(next(iter(self._loads)))
            return hit[1:]

    def _run_chunk(self, ks, jobs, readback, timeout, counter, traces, errors):
        try:
            self._plan_and_run(jobs, ks, readback, timeout, counter, traces, errors)
        except Exception:                   # a thread's exception would be lost
            errors.update({k: traceback.format_exc() for k in ks if traces[k] is None})

    def _plan_and_run(self, jobs, ks, readback, timeout, counter, traces, errors):
        static = STATIC_REGIONS + (() if self.image.params.learning else (Region.SYN,))
        plans, t0 = [], time.perf_counter()
        try:
            for i, k in enumerate(ks):
                img, inputs, steps = jobs[k]
                load, lines = ((False, None) if self.baked and i == 0 else
                               self._load_words(img, static))
                plans.append(plan_job(img, inputs, steps, load=load, lines=lines,
                                      readback=readback))
        except (ValueError, IndexError) as e:
            errors.update({k: f"{e}" for k in ks})
            return
        self._time("plan", t0)
        run_dir = new_run_dir(self.folder)
        try:
            self._simulate(run_dir, jobs, ks, plans, readback, timeout, counter, traces,
                           errors)
        finally:
            t0 = time.perf_counter()
            shutil.rmtree(run_dir, ignore_errors=True)
            self._time("files", t0)

    def _simulate(self, run_dir, jobs, ks, plans, readback, timeout, counter, traces, errors):
        t0 = time.perf_counter()
        ports = ports_for(self.image)
        lines = [line for plan in plans for line in plan.lines(ports.cmd_width)]
        for c in range(0, len(lines), CHUNK):
            part = lines[c:c + CHUNK]
            (run_dir / f"cmds.{c // CHUNK}").write_text("\n".join(part) + "\n")
        argv = self.argv + [f"+cmds={run_dir / 'cmds'}", f"+ncmds={len(lines)}",
                            f"+out={run_dir / 'out'}", f"+timeout={timeout}"]
        argv += ["+progress"] if counter.on else []
        tail, t0 = [], self._time("files", t0)
        with subprocess.Popen(argv, cwd=run_dir, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True) as proc:
            for line in proc.stdout:
                if line.startswith("DONE"):
                    counter.add(1)
                else:
                    tail = (tail + [line])[-40:]
        t0 = self._time("simulator", t0)
        tbits, ebits, _, _ = record_layout(ports)
        try:
            done = parse_output(read_records(_read_series(run_dir, "out.t"), tbits),
                                read_records(_read_series(run_dir, "out.e"), ebits),
                                ports, timeout)
        except JobError as e:
            errors.update({k: str(e) for k in ks})
            return
        for i, k in enumerate(ks):
            img, inputs, steps = jobs[k]
            if i >= len(done):
                errors[k] = (f"not run: the {self.simulator} process ended (exit "
                             f"{proc.returncode}) before it:\n{''.join(tail)}")
                continue
            rec, stop, self.clocks[k] = done[i]
            if stop is not None:
                errors[k] = stop
                continue
            try:
                traces[k] = decode_job(img, inputs, steps, plans[i], rec, ports,
                                       source=self.simulator, readback=readback)
            except JobError as e:
                errors[k] = str(e)
        self._time("decode", t0)

    def _time(self, part, t0):
        """Add the seconds since ``t0`` to ``timings[part]``; return the time now."""
        now = time.perf_counter()
        with self._lock:
            self.timings[part] += now - t0
        return now


def _read_series(folder, prefix):
    """The bytes of files ``prefix.0``, ``prefix.1``, ... in ``folder``, concatenated."""
    data, n = [], 0
    while (folder / f"{prefix}.{n}").exists():
        data.append((folder / f"{prefix}.{n}").read_bytes())
        n += 1
    return b"".join(data)


class _Progress:
    """Counts steps done across worker threads and reports them to ``callback``."""

    def __init__(self, callback, total):
        self.callback, self.total, self.done = callback, total, 0
        self.on = callback is not None
        self._lock = threading.Lock()

    def add(self, n):
        with self._lock:
            self.done += n
            self.callback(self.done, self.total)


def _job(job):
    """``(image, inputs, steps, readback, timeout)`` of a job tuple: ``(image, inputs,
    steps)`` or the benches' ``(image, inputs, steps, Stimulus)`` (no gaps nor back-pressure:
    those need the cocotb bench)."""
    image, inputs, steps, *rest = job
    readback, timeout = True, TIMEOUT
    if rest:
        stim = rest[0]
        if stim.gap_prob or stim.backpressure:
            raise ValueError("idle gaps and back-pressure need the cocotb bench (run_bench): "
                             "the fast run presents commands back to back, replies always "
                             "ready")
        readback, timeout = stim.readback, stim.timeout
    return image, [] if inputs is None else inputs, int(steps), readback, timeout


def run_fast_jobs(jobs, simulator="verilator", *, baked=False, workers=1, progress=None,
                  root="build/sim"):
    """Run jobs as :func:`spikefab.sim.runner.run_bench` does, in the fast mode: same job
    tuples (a :class:`~spikefab.sim.runner.Stimulus` may give ``readback`` and ``timeout``;
    gaps and back-pressure are refused), same traces, same
    :class:`~spikefab.sim.runner.BenchJobsError`. Jobs are grouped by build; each group runs
    in ``workers`` simulator processes."""
    parsed = [_job(j) for j in jobs]
    groups = {}
    for k, (img, inputs, steps, readback, timeout) in enumerate(parsed):
        key = (id(img) if baked else (type(img), img.params,
                                       getattr(img, "mesh", None)), readback, timeout)
        groups.setdefault(key, []).append(k)
    traces, errors = [None] * len(jobs), {}
    for (_, readback, timeout), ks in groups.items():
        design = FastDesign(parsed[ks[0]][0], simulator, baked=baked, root=root)
        try:
            got = design.run([parsed[k][1] for k in ks], [parsed[k][2] for k in ks],
                             images=[parsed[k][0] for k in ks], readback=readback,
                             workers=workers, progress=progress, timeout=timeout)
        except BenchJobsError as e:
            got = e.traces
            errors.update({ks[i]: msg for i, msg in e.errors.items()})
        for k, tr in zip(ks, got):
            traces[k] = tr
    if errors:
        raise BenchJobsError(simulator, errors, traces)
    return traces


def run_fast(image, inputs, steps, simulator="verilator", *, baked=False, readback=True,
             progress=None, root="build/sim"):
    """Run one image for ``steps`` steps in the fast mode and return its
    :class:`~spikefab.sim.trace.Trace` (the benches' format). ``inputs``: per step, axon ids
    (a core) or ``(core, axon)`` pairs (an array). ``progress(done, total)``: called as steps
    complete."""
    design = FastDesign(image, simulator, baked=baked, root=root)
    (trace,) = design.run([inputs], steps, readback=readback, progress=progress)
    return trace
