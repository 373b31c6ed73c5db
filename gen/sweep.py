"""Sweeps: many independent jobs run as Ray tasks, their results collected into one table.

A *job* is one :class:`Job`: a ``kind`` (what to run), its ``params`` (a JSON-able mapping)
and a ``seed``. Kinds (:data:`KINDS`):

``regression``
    A random core (weights, thresholds and input spikes drawn from ``seed``) run on the
    golden model and on each RTL simulator in ``params["simulators"]`` (``"verilator"``,
    ``"icarus"``), every trace compared with the golden one at zero tolerance. With
    ``simulators = ["golden"]`` only the golden model runs (spike count and trace digest).
    A mismatch fails the job (its message is the first divergence).
``synth``
    One point of a synthesis design-space sweep: :func:`spikefab.gen.synth.synthesize` of
    ``CoreParams(**params["core"])`` on ``params["device"]`` with nextpnr seed ``seed``.
    Reports LUT4, FF, BRAM, DSP, Fmax and ``events_per_clock`` (synaptic events per clock
    while integrating = ``lanes``).
``callable``
    ``params["function"]`` (``"package.module:function"`` or ``"file.py:function"``) called as
    ``function(out_dir=Path, seed=int, **params["kwargs"])``; it returns a dict of results
    (numbers, strings). The hook for studies this module does not know (crossbar
    non-idealities, for one).

Every job builds in its own folder ``root/<kind>-<hash>``, where ``hash`` is the SHA-256 of the
job's full parameters (kind, params, seed; :func:`job_hash`): parallel jobs never collide, and
the same job always lands in the same folder. Each folder holds ``job.json`` (the job),
``job.log`` (the job's output and, on failure, its traceback) and ``result.json``.

:func:`run_sweep` runs a list of jobs as Ray tasks: on the cluster at ``address`` if given,
else on a local Ray started on the spot (and shut down at the end), or on an already
initialised Ray. Progress is a tqdm bar over completed tasks. A job that fails (an exception,
a mismatch, a crashed worker) becomes a row with ``ok = False``, its seed, error and log path;
the other jobs go on. :func:`write_results` writes the rows as one JSON file and one Markdown
table, with the command, commit and machine.

A sweep is described by a TOML or JSON file (:func:`load_spec`, :func:`expand`)::

    kind = "synth"
    seeds = [1]                       # job seeds (nextpnr seed for synth)
    [base]                            # parameters shared by every job
    device = "ecp5-85f"
    core = {axons = 256, weight_bits = 4, model = "cuba", trace_port = false}
    [grid]                            # Cartesian product, dotted keys into the parameters
    "core.lanes" = [2, 4, 8]
    "core.neurons" = [64, 256]

or by the same keys given as flags of ``spikefab sweep`` (``--kind``, ``--set``, ``--grid``,
``--seeds``). Ray is imported inside the functions that need it, so importing this module
(and ``spikefab.gen``) stays light; it is the ``sweep`` extra (``pip install -e '.[sweep]'``).
"""

import contextlib
import copy
import hashlib
import importlib
import itertools
import json
import os
import platform
import shlex
import subprocess
import sys
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path

try:
    import tomllib
except ModuleNotFoundError:             # Python 3.10
    import tomli as tomllib


__all__ = ["Job", "KINDS", "job_hash", "job_dir", "run_job", "run_sweep", "expand",
           "load_spec", "results_table", "markdown", "write_results", "pareto_front",
           "plot_pareto", "run_rtl", "add_parser"]

_REPO = Path(__file__).resolve().parent.parent
DEFAULT_ROOT = Path("build/sweep")


class JobFailed(RuntimeError):
    """A job ran but its result is wrong (for example, an RTL trace that differs from the
    golden model's)."""


@dataclass(frozen=True)
class Job:
    """One job of a sweep: ``kind`` (a key of :data:`KINDS`), ``params`` (JSON-able mapping),
    ``seed`` (int). ``name`` is a label for tables; it is not part of the job's identity."""
    kind: str
    params: dict = field(default_factory=dict)
    seed: int = 0
    name: str = ""

    def identity(self):
        """What the job's folder is a hash of: every input of the job, and nothing else."""
        return {"kind": self.kind, "params": self.params, "seed": self.seed}

    def to_dict(self):
        return dict(self.identity(), name=self.name)


def job_hash(job):
    """SHA-256 (hex) of the job's kind, params and seed, as canonical JSON (sorted keys):
    equal for equal jobs whatever the key order, different when any parameter differs."""
    text = json.dumps(job.identity(), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def job_dir(job, root=DEFAULT_ROOT):
    """The job's own build folder: ``root/<kind>-<first 16 hex digits of job_hash>``."""
    return Path(root) / f"{job.kind}-{job_hash(job)[:16]}"


# --- job kinds ----------------------------------------------------------------------------------

def run_rtl(image, inputs, steps, simulator, *, seed=0, root="build/sim"):
    """The one place where a sweep calls the RTL runner: returns the trace of ``image`` run
    for ``steps`` steps on ``simulator``. (Re-point here when the runner's entry changes.)"""
    from ..sim.runner import Stimulus, run_bench
    (trace,) = run_bench([(image, inputs, steps, Stimulus(seed=seed))], simulator, root=root)
    return trace


def random_image(params, rng):
    """A random core image of ``params`` (a CoreParams) drawn from ``rng``: every parameter
    and initial state over its whole range (:meth:`CoreImage.random`), then about half the
    neurons given thresholds low enough to fire, so spikes and resets happen."""
    import numpy as np
    from ..rtl.image import CoreImage
    img = CoreImage.random(params, rng, density=float(rng.uniform(0.2, 1.0)))
    low = rng.random(params.param_rows) < 0.5
    changed = {}
    if params.model == "cuba":
        changed["vth"] = np.array(img.neuron_params["vth"])
        changed["vth"][low] = rng.integers(0, 400, low.sum())
        changed["dv"] = np.array(img.neuron_params["dv"])
        changed["dv"][low] = rng.integers(0, 1200, low.sum())
    else:
        changed["th"] = np.array(img.neuron_params["th"])
        changed["th"][low] = rng.integers(1, 400, low.sum())
    return img.replace(neuron_params=changed)      # checked images are read-only


def _trace_digest(trace):
    h = hashlib.sha256()
    for q in trace.quantities():
        h.update(q.encode())
        h.update(getattr(trace, q).tobytes() if hasattr(trace, q) else b"")
    h.update(trace.spikes.tobytes())
    return h.hexdigest()[:16]


def _kind_regression(job, out_dir):
    """Golden model vs RTL simulators on a random core drawn from the job's seed."""
    import numpy as np
    from ..rtl.params import CoreParams
    from ..sim.golden import CoreModel
    from ..sim.inputs import poisson_inputs
    from ..sim.trace import first_divergence
    p = job.params
    params = CoreParams(**p.get("core", {}))
    steps, rate = int(p.get("steps", 20)), float(p.get("rate", 0.1))
    sims = list(p.get("simulators", ["golden"]))
    rng = np.random.default_rng(job.seed)
    image = random_image(params, rng)
    inputs = poisson_inputs(params.axons, steps, rate, rng)
    t0 = time.perf_counter()
    golden = CoreModel(image).run(inputs, steps)
    res = {"spikes": int(golden.spikes.sum()), "digest": _trace_digest(golden),
           "golden_s": round(time.perf_counter() - t0, 3)}
    print(f"golden: {steps} steps, {res['spikes']} spikes, digest {res['digest']}")
    for sim in sims:
        if sim == "golden":
            continue
        t0 = time.perf_counter()
        trace = run_rtl(image, inputs, steps, sim, seed=job.seed,
                        root=p.get("sim_root", "build/sim"))
        res[f"{sim}_s"] = round(time.perf_counter() - t0, 3)
        div = first_divergence(golden, trace)
        print(f"{sim}: {'identical' if div is None else div}")
        if div is not None:
            raise JobFailed(f"{sim} differs from the golden model: {div}")
    res["match"] = "/".join(s for s in sims if s != "golden") or "golden only"
    return res


def _kind_synth(job, out_dir):
    """One synthesis design point; the tool logs stay in ``out_dir``."""
    from ..rtl.image import CoreImage
    from ..rtl.params import CoreParams
    from .synth import synthesize
    p = job.params
    params = CoreParams(**p.get("core", {}))
    rep = synthesize(CoreImage(params), p["device"], out_dir, clock_mhz=p.get("clock_mhz"),
                     seed=job.seed, pnr=p.get("pnr", True))
    print(f"synth: {rep.lut4} LUT4, {rep.ff} FF, Fmax {rep.fmax_mhz} MHz")
    return {"lut4": rep.lut4, "ff": rep.ff, "bram": rep.bram, "dsp": rep.dsp,
            "fmax_mhz": rep.fmax_mhz, "timing_met": rep.timing_met,
            "events_per_clock": params.lanes,
            "seconds_tools": round(rep.seconds.get("total", 0.0), 1)}


def resolve_callable(ref):
    """``"package.module:function"`` or ``"path/to/file.py:function"`` (a path relative to
    the driver's directory) -> the function."""
    mod, sep, name = str(ref).rpartition(":")
    if not sep or not mod or not name:
        raise ValueError(f"function = {ref!r}: expected 'package.module:function' or "
                         f"'path/to/file.py:function'")
    if mod.endswith(".py"):
        import importlib.util
        path = Path(mod).resolve()
        key = f"_spikefab_sweep_{hashlib.sha256(str(path).encode()).hexdigest()[:12]}"
        obj = sys.modules.get(key)
        if obj is None:
            spec = importlib.util.spec_from_file_location(key, path)
            if spec is None or not path.is_file():
                raise ValueError(f"function = {ref!r}: no file {path}")
            obj = importlib.util.module_from_spec(spec)
            sys.modules[key] = obj
            spec.loader.exec_module(obj)
    else:
        obj = importlib.import_module(mod)
    for part in name.split("."):
        obj = getattr(obj, part)
    return obj


def _kind_callable(job, out_dir):
    """``function(out_dir=, seed=, **kwargs)``; its returned mapping is the result."""
    fn = resolve_callable(job.params["function"])
    res = fn(out_dir=out_dir, seed=job.seed, **dict(job.params.get("kwargs", {})))
    if not isinstance(res, dict):
        raise JobFailed(f"{job.params['function']} returned {type(res).__name__}, "
                        f"not a dict of results")
    return res


#: Job kinds: name -> function(job, out_dir) returning a dict of results.
KINDS = {"regression": _kind_regression, "synth": _kind_synth, "callable": _kind_callable}


def run_job(job, root=DEFAULT_ROOT):
    """Run one job in its folder (in this process); never raises for a failure of the job.

    Returns a row: the job (``kind``, ``params``, ``seed``, ``name``), ``hash``, ``dir``,
    ``log``, ``ok``, ``seconds``, ``result`` (the kind's dict) or ``error`` (one line) on
    failure. The job's printed output and any traceback go to ``dir/job.log``; the row is
    also written to ``dir/result.json``."""
    out = job_dir(job, root).resolve()
    out.mkdir(parents=True, exist_ok=True)
    (out / "job.json").write_text(json.dumps(job.to_dict(), indent=2, sort_keys=True) + "\n")
    log = out / "job.log"
    row = dict(job.to_dict(), hash=job_hash(job), dir=str(out), log=str(log),
               host=platform.node(), pid=os.getpid())
    t0 = time.perf_counter()
    with open(log, "w") as f, contextlib.redirect_stdout(f), contextlib.redirect_stderr(f):
        try:
            if job.kind not in KINDS:
                raise ValueError(f"kind = {job.kind!r}: expected one of {', '.join(KINDS)}")
            res = KINDS[job.kind](job, out)
            row.update(ok=True, result=res)
        except Exception as e:          # a failed job is a row, never the end of the sweep
            traceback.print_exc()
            msg = f"{type(e).__name__}: {e}".strip().splitlines()
            row.update(ok=False, error=msg[0] if msg else type(e).__name__)
            tool_log = getattr(e, "log", None)
            if tool_log:
                row["tool_log"] = str(tool_log)
    row["seconds"] = round(time.perf_counter() - t0, 3)
    (out / "result.json").write_text(json.dumps(row, indent=2, default=str) + "\n")
    return row


# --- the Ray driver -----------------------------------------------------------------------------

def _ray_task(job_dict, root, cwd):
    # relative paths of a job (sim_root, a callable's files) mean the driver's directory;
    # a worker runs one task at a time, so changing its directory is safe
    with contextlib.suppress(OSError):
        os.chdir(cwd)
    return run_job(Job(**job_dict), root)


@contextlib.contextmanager
def ray_session(address=None, num_cpus=None):
    """Ray for the sweep: the running one if Ray is initialised; else a connection to the
    cluster at ``address``; else a local Ray started here (``num_cpus`` of it), which is shut
    down on leaving."""
    import ray
    if ray.is_initialized():
        yield ray
        return
    if address:                         # a cluster's own settings; "ray://" takes few
        ray.init(address=address)
    else:
        ray.init(num_cpus=num_cpus, include_dashboard=False, log_to_driver=False,
                 configure_logging=False)
    try:
        yield ray
    finally:
        ray.shutdown()


def run_sweep(jobs, *, root=DEFAULT_ROOT, address=None, num_cpus=None, cpus_per_job=1,
              progress=True, reuse=False):
    """Run ``jobs`` as Ray tasks; return one row per job (see :func:`run_job`), in the order
    of ``jobs``.

    ``address``: a Ray cluster (``"auto"``, ``"ray://host:10001"``...); default a local Ray
    (``num_cpus``: how many CPUs it uses; default all). ``cpus_per_job``: Ray CPUs each task
    reserves. ``reuse``: take the row of a job whose folder already holds a successful
    ``result.json`` instead of running it again. A job given twice (same kind, params and
    seed) runs once; both rows are its row. A failed task is a row with ``ok = False``;
    the sweep goes on. ``root`` must be reachable from every worker (a shared file system on
    a cluster)."""
    from tqdm import tqdm
    root = Path(root).resolve()
    rows = [None] * len(jobs)
    todo, first, same = [], {}, {}
    for i, job in enumerate(jobs):
        h = job_hash(job)
        if h in first:                  # the same job twice: one folder, run once
            same[i] = first[h]
            continue
        first[h] = i
        done = job_dir(job, root) / "result.json"
        if reuse and done.exists():
            old = json.loads(done.read_text())
            if old.get("ok"):
                rows[i] = dict(old, reused=True)
                continue
        todo.append(i)
    bar = tqdm(total=len(first), initial=len(first) - len(todo), desc="sweep", unit="job",
               disable=not progress)
    failed = 0
    if todo:
        with ray_session(address, num_cpus) as ray:
            task = ray.remote(num_cpus=cpus_per_job, max_retries=0)(_ray_task)
            pending = {task.remote(jobs[i].to_dict(), str(root), os.getcwd()): i for i in todo}
            while pending:
                ready, _ = ray.wait(list(pending), num_returns=1)
                for ref in ready:
                    i = pending.pop(ref)
                    try:
                        rows[i] = ray.get(ref)
                    except Exception as e:  # the worker died: still a row
                        job = jobs[i]
                        d = job_dir(job, root)
                        rows[i] = dict(job.to_dict(), hash=job_hash(job), dir=str(d),
                                       log=str(d / "job.log"), ok=False,
                                       error=f"{type(e).__name__}: {e}".splitlines()[0])
                    if not rows[i]["ok"]:
                        failed += 1
                        bar.write(f"FAILED {jobs[i].name or jobs[i].kind} seed "
                                  f"{jobs[i].seed}: {rows[i]['error']} (log {rows[i]['log']})")
                    bar.update(1)
                    bar.set_postfix(failed=failed)
    bar.close()
    for i, j in same.items():
        rows[i] = dict(rows[j], name=jobs[i].name)
    return rows


# --- describing a sweep -------------------------------------------------------------------------

def _set_dotted(d, key, value):
    *path, last = key.split(".")
    for part in path:
        d = d.setdefault(part, {})
        if not isinstance(d, dict):
            raise ValueError(f"{key}: {part} is not a table")
    d[last] = value


def expand(spec):
    """The jobs of a sweep description (a mapping): ``kind``, ``base`` (params shared by
    every job), ``grid`` (dotted key -> list of values; the Cartesian product, in key order),
    ``jobs`` (a list of explicit param tables, each merged over ``base``; with ``grid``, the
    product of both), ``seeds`` (a list of ints, default ``[0]``; every point runs for
    every seed). Names read ``key=value,...`` over the grid keys, then ``seed``."""
    spec = dict(spec)
    kind = spec.pop("kind", None)
    if kind not in KINDS:
        raise ValueError(f"kind = {kind!r}: expected one of {', '.join(KINDS)}")
    base = spec.pop("base", {})
    grid = spec.pop("grid", {})
    explicit = spec.pop("jobs", None) or [{}]
    seeds = spec.pop("seeds", [0])
    spec.pop("root", None)
    if spec:
        raise ValueError(f"unknown keys of a sweep: {', '.join(sorted(spec))}; expected kind, "
                         f"base, grid, jobs, seeds, root")
    if isinstance(seeds, int) or not all(isinstance(s, int) for s in seeds):
        raise ValueError(f"seeds = {seeds!r}: expected a list of integers")
    for k, v in grid.items():
        if not isinstance(v, list) or not v:
            raise ValueError(f"grid.{k} = {v!r}: expected a non-empty list of values")
    jobs = []
    for extra in explicit:
        for values in itertools.product(*grid.values()):
            params = copy.deepcopy(base)
            for k, v in extra.items():
                _set_dotted(params, k, copy.deepcopy(v))
            for k, v in zip(grid, values):
                _set_dotted(params, k, v)
            label = ",".join(f"{k.split('.')[-1]}={v}" for k, v in zip(grid, values))
            if extra.get("name"):
                params.pop("name", None)
                label = ",".join(x for x in (str(extra["name"]), label) if x)
            for seed in seeds:
                jobs.append(Job(kind, params, seed, ",".join(x for x in (label, f"seed={seed}")
                                                             if x)))
    return jobs


def load_spec(path):
    """A sweep description from a ``.toml`` or ``.json`` file (see :func:`expand`)."""
    path = Path(path)
    text = path.read_text()
    try:
        return json.loads(text) if path.suffix == ".json" else tomllib.loads(text)
    except (ValueError, tomllib.TOMLDecodeError) as e:
        raise ValueError(f"{path}: {e}") from None


def _parse_value(text):
    """A flag's value: JSON if it parses (numbers, true, lists), else the string."""
    try:
        return json.loads(text)
    except ValueError:
        return text


def parse_seeds(text):
    """``"1,2,5"`` or ``"0-99"`` (inclusive) or a mix -> list of ints."""
    seeds = []
    for part in str(text).split(","):
        a, sep, b = part.strip().partition("-")
        seeds += list(range(int(a), int(b) + 1)) if sep else [int(a)]
    return seeds


# --- results ------------------------------------------------------------------------------------

def _flat(d, prefix=""):
    out = {}
    for k, v in d.items():
        if isinstance(v, dict):
            out.update(_flat(v, f"{prefix}{k}."))
        else:
            out[prefix + k] = v
    return out


def results_table(rows):
    """``(columns, records)``: the parameters that vary between jobs (dotted keys), ``seed``,
    then every scalar result key, in first-seen order; one record (dict) per row."""
    flats = [_flat(r["params"]) for r in rows]
    keys = list(dict.fromkeys(k for f in flats for k in f))
    varying = [k for k in keys
               if len({json.dumps(f.get(k), sort_keys=True) for f in flats}) > 1]
    res_keys = list(dict.fromkeys(k for r in rows for k, v in (r.get("result") or {}).items()
                                  if not isinstance(v, (dict, list))))
    cols = varying + ["seed", "status"] + res_keys + ["seconds"]
    records = []
    for r, f in zip(rows, flats):
        rec = {k: f.get(k) for k in varying}
        rec.update(seed=r["seed"], status="ok" if r["ok"] else "FAILED",
                   seconds=r.get("seconds"))
        rec.update({k: (r.get("result") or {}).get(k) for k in res_keys})
        records.append(rec)
    return cols, records


def _cell(v):
    if v is None:
        return "—"
    if isinstance(v, float):
        return f"{v:.1f}" if abs(v) >= 10 else f"{v:.3g}"
    if isinstance(v, int) and not isinstance(v, bool) and abs(v) >= 10000:
        return f"{v:,}"
    return str(v)


def provenance():
    """Command line, commit, machine and time of this run."""
    def git(*args):
        try:
            r = subprocess.run(["git", *args], cwd=_REPO, capture_output=True, text=True)
            return r.stdout.strip() if r.returncode == 0 else ""
        except OSError:
            return ""
    cpu = ""
    with contextlib.suppress(OSError):
        cpu = next((ln.split(":", 1)[1].strip() for ln in
                    Path("/proc/cpuinfo").read_text().splitlines()
                    if ln.startswith("model name")), "")
    argv = ["spikefab"] + sys.argv[1:] if Path(sys.argv[0]).name == "spikefab" else sys.argv
    return {"command": shlex.join(argv), "commit": git("rev-parse", "--short", "HEAD"),
            "dirty": bool(git("status", "--porcelain", "--untracked-files=no")),
            "machine": {"uname_m": platform.machine(), "nproc": os.cpu_count(), "cpu": cpu,
                        "python": platform.python_version()},
            "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}


def markdown(rows, prov=None, title="Sweep"):
    """The rows as a Markdown page: provenance, one table, then the failures (seed, error,
    log)."""
    cols, records = results_table(rows)
    lines = [f"# {title}", ""]
    if prov:
        m = prov["machine"]
        dirty = " (with uncommitted changes)" if prov["dirty"] else ""
        lines += [f"Command: `{prov['command']}`  ",
                  f"Commit: {prov['commit']}{dirty}; {prov['date']}"
                  + (f"; wall-clock {prov['wall_s']:.0f} s" if "wall_s" in prov else "")
                  + "  ",
                  f"Machine: {m['uname_m']}, {m['nproc']} CPUs ({m['cpu']}), "
                  f"Python {m['python']}", ""]
    n_ok = sum(r["ok"] for r in rows)
    lines += [f"{len(rows)} jobs: {n_ok} ok, {len(rows) - n_ok} failed.", "",
              "| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    lines += ["| " + " | ".join(_cell(rec.get(c)) for c in cols) + " |" for rec in records]
    fails = [r for r in rows if not r["ok"]]
    if fails:
        lines += ["", "Failures:", ""]
        lines += [f"- {r['name'] or r['kind']} (seed {r['seed']}): {r['error']}; "
                  f"log `{r['log']}`" for r in fails]
    return "\n".join(lines) + "\n"


def write_results(rows, json_path, md_path=None, prov=None, title="Sweep", spec=None):
    """Write the rows to ``json_path`` (with provenance and the sweep's description) and, if
    given, the Markdown table to ``md_path``. Returns the JSON document."""
    prov = prov or provenance()
    doc = dict(prov, spec=spec, jobs=rows)
    Path(json_path).parent.mkdir(parents=True, exist_ok=True)
    Path(json_path).write_text(json.dumps(doc, indent=2, default=str) + "\n")
    if md_path:
        Path(md_path).parent.mkdir(parents=True, exist_ok=True)
        Path(md_path).write_text(markdown(rows, prov, title))
    return doc


def pareto_front(points):
    """Indices of the points ``(cost, gain)`` that no other point beats: none has a cost
    ``<=`` and a gain ``>=`` with one of them strict. Sorted by cost."""
    front = []
    for i, (c, g) in enumerate(points):
        if not any((c2 <= c and g2 >= g) and (c2 < c or g2 > g) for c2, g2 in points):
            front.append(i)
    return sorted(front, key=lambda i: points[i])


def plot_pareto(rows, path, x="events_per_clock", y="lut4", colour="fmax_mhz", title=None):
    """Scatter of successful synth rows: ``y`` (LUT4) against ``x`` (synaptic events per
    clock), coloured and labelled with ``colour`` (Fmax), the Pareto front (fewest LUT4 for
    most events per clock) drawn as a line."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    ok = [r for r in rows if r["ok"]]
    xs = [r["result"][x] for r in ok]
    ys = [r["result"][y] for r in ok]
    cs = [r["result"][colour] for r in ok]
    fig, ax = plt.subplots(figsize=(7.2, 4.6))
    sc = ax.scatter(xs, ys, c=cs, cmap="viridis", s=60, zorder=3)
    fig.colorbar(sc, ax=ax, label="Fmax (MHz)")
    for r, xv, yv, cv in zip(ok, xs, ys, cs):
        core = r["params"].get("core", {})
        ax.annotate(f"N={core.get('neurons', '?')}, {cv:.0f} MHz, "
                    f"{r['result'].get('bram', '?')} BRAM", (xv, yv),
                    textcoords="offset points", xytext=(6, 4), fontsize=8)
    front = pareto_front([(yv, xv) for xv, yv in zip(xs, ys)])
    if front:
        ax.plot([xs[i] for i in front], [ys[i] for i in front], "--", color="grey",
                zorder=2, label="Pareto front")
        ax.legend(loc="upper left")
    ax.set_xscale("log", base=2)
    ax.set_xticks(sorted(set(xs)), [str(v) for v in sorted(set(xs))])
    if xs:                              # room for the labels right of the points
        ax.set_xlim(min(xs) / 1.3, max(xs) * 2.8)
        ax.margins(y=0.1)
    ax.set_xlabel("synaptic events per clock while integrating (= lanes)")
    ax.set_ylabel("LUT4 (placed, harness included)")
    ax.set_title(title or "Synthesis sweep")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


# --- the command line ---------------------------------------------------------------------------

def add_parser(sub):
    """Add the ``sweep`` subcommand to an argparse subparsers object."""
    s = sub.add_parser(
        "sweep", help="run many independent jobs (regression seeds, synthesis points, "
                      "callables) as Ray tasks and tabulate their results",
        description=__doc__.split("\n\n")[0])
    s.add_argument("spec", nargs="?",
                   help="sweep description, a .toml or .json file (kind, seeds, [base], "
                        "[grid], [[jobs]]); flags below add to or override it")
    s.add_argument("--kind", choices=sorted(KINDS),
                   help="job kind: regression (golden vs RTL on random cores), synth "
                        "(design points), callable ('module:function' with kwargs)")
    s.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="a parameter shared by every job, dotted key (core.neurons=64, "
                        "device=ecp5-85f); VALUE is read as JSON when it parses")
    s.add_argument("--grid", action="append", default=[], metavar="KEY=V1,V2,...",
                   help="a swept parameter: every listed value (each read as JSON) is "
                        "crossed with the other grid keys")
    s.add_argument("--seeds", metavar="LIST",
                   help="job seeds, e.g. 1,2,3 or 0-99 (regression: random network and "
                        "input; synth: nextpnr seed); default from the file, else 0")
    s.add_argument("--address",
                   help="Ray cluster to join (e.g. auto or ray://host:10001); default: "
                        "start a local Ray for this sweep, shut down at the end")
    s.add_argument("--num-cpus", type=int,
                   help="CPUs of the local Ray (default: all of this machine)")
    s.add_argument("--cpus-per-job", type=float, default=1,
                   help="Ray CPUs each job reserves (default 1)")
    s.add_argument("--root", type=Path,
                   help="where the jobs' content-hashed build folders go (default "
                        "build/sweep, or root in the file)")
    s.add_argument("--reuse", action="store_true",
                   help="take the result of a job whose folder holds a successful "
                        "result.json instead of running it again")
    s.add_argument("-o", "--output", type=Path, default=Path("sweep_out/sweep.json"),
                   help="results table as JSON (default sweep_out/sweep.json); the Markdown "
                        "table goes beside it with the suffix .md")
    s.add_argument("--title", default="Sweep", help="title of the Markdown table")
    s.add_argument("--plot", type=Path,
                   help="synth sweeps: write the Pareto plot (LUT4 vs synaptic events per "
                        "clock, Fmax as colour) to this PNG")
    s.add_argument("--dry-run", action="store_true",
                   help="list the jobs and their folders; run nothing")
    s.set_defaults(func=cmd_sweep)
    return s


def spec_from_args(args):
    """The sweep description of the command line: the file, then the flags over it."""
    spec = load_spec(args.spec) if args.spec else {}
    if args.kind:
        spec["kind"] = args.kind
    base = spec.setdefault("base", {})
    for item in args.set:
        key, sep, value = item.partition("=")
        if not sep:
            raise ValueError(f"--set {item!r}: expected KEY=VALUE")
        _set_dotted(base, key, _parse_value(value))
    grid = spec.setdefault("grid", {})
    for item in args.grid:
        key, sep, values = item.partition("=")
        if not sep:
            raise ValueError(f"--grid {item!r}: expected KEY=V1,V2,...")
        grid[key] = [_parse_value(v) for v in values.split(",")]
    if args.seeds:
        spec["seeds"] = parse_seeds(args.seeds)
    return spec


def cmd_sweep(args):
    spec = spec_from_args(args)
    root = args.root or Path(spec.get("root", DEFAULT_ROOT))
    jobs = expand(spec)
    if args.dry_run:
        for job in jobs:
            print(f"{job.name or job.kind:40s} {job_dir(job, root)}")
        return 0
    print(f"spikefab sweep: {len(jobs)} {spec['kind']} jobs, builds in {root}/")
    prov = provenance()                 # the commit the jobs start from
    t0 = time.perf_counter()
    rows = run_sweep(jobs, root=root, address=args.address, num_cpus=args.num_cpus,
                     cpus_per_job=args.cpus_per_job, reuse=args.reuse)
    prov["wall_s"] = round(time.perf_counter() - t0, 1)
    md_path = args.output.with_suffix(".md")
    write_results(rows, args.output, md_path, prov=prov, title=args.title, spec=spec)
    print(markdown(rows, title=args.title))
    print(f"results: {args.output}, {md_path}")
    if args.plot:
        print(f"plot: {plot_pareto(rows, args.plot, title=args.title)}")
    return 0 if all(r["ok"] for r in rows) else 1
