"""The ``spikefab`` command line.

Every command checks its arguments before it writes anything; a bad flag is an argparse
error naming the flag, the value and the allowed range, and a damaged file or configuration
is one line ``spikefab: error: <file>: ...`` on stderr with exit status 2.
"""

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np


DESCRIPTION = """\
spikefab generates neuromorphic hardware (LIF neuron cores, a mesh of AER routers, on-chip
STDP) as Verilog from a TOML configuration, and runs it bit-exact against a Python golden
model on Verilator or Icarus.

A first run:
  spikefab generate examples/default.toml -o out --demo-image
  spikefab inputs out/image.npz --rate 0.08 --steps 200 -o in.npz
  spikefab simulate out/image.npz --inputs in.npz --sim golden -o ref.npz
  spikefab simulate out/image.npz --inputs in.npz --sim icarus -o rtl.npz
  spikefab compare ref.npz rtl.npz
  spikefab plot rtl.npz -o raster.png
"""

#: Output formats matplotlib writes (``plot -o``): any other name gets ``.png`` appended.
PLOT_SUFFIXES = (".png", ".pdf", ".svg", ".jpg", ".jpeg")


class CliError(ValueError):
    """A command cannot do what was asked (the message says why)."""


# --- argument types: range-checked, with messages naming the value and the range ----------

def _number(kind, lo=None, hi=None, hi_open=False):
    """An argparse ``type`` parsing ``kind`` (int or float) in ``lo..hi`` (``hi`` excluded
    with ``hi_open``); argparse prefixes the flag to the message."""
    def rng():
        left = "" if lo is None else f"{lo} <= "
        right = "" if hi is None else (f" < {hi}" if hi_open else f" <= {hi}")
        return f"{left}value{right}"

    def parse(text):
        try:
            v = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"{text!r} is not {'an integer' if kind is int else 'a number'}: expected "
                f"{rng()}") from None
        if kind is float and not np.isfinite(v):
            raise argparse.ArgumentTypeError(f"{text!r} is not finite: expected {rng()}")
        if (lo is not None and v < lo) or (hi is not None and (v >= hi if hi_open else v > hi)):
            raise argparse.ArgumentTypeError(f"{text} is out of range: expected {rng()}")
        return v
    parse.__name__ = kind.__name__
    return parse


STEPS = _number(int, 1, 1_000_000)
SEED = _number(int, 0, 2**32 - 1)
PROB = _number(float, 0.0, 1.0, hi_open=True)
RATE = _number(float, 0.0, 1.0)
CLOCK = _number(float, 1, 500)
TIMEOUT = _number(int, 10, 86_400)


def _npz_name(name):
    """The file an ``.npz`` output named ``name`` is written to (numpy appends ``.npz``)."""
    p = Path(name)
    return p if p.suffix == ".npz" else p.with_name(p.name + ".npz")


def _existing(name):
    """An input file: ``name`` as given, else ``name.npz`` if only that exists (what
    ``simulate -o name`` writes)."""
    p = Path(name)
    if not p.exists() and _npz_name(p).exists():
        return _npz_name(p)
    return p


def _say(*args):
    print(*args, flush=True)


# --- generate ------------------------------------------------------------------------------

def _prepare_output(out, force):
    """Refuse a folder that is not empty unless ``force``; then remove exactly the files the
    previous ``generate`` listed in its manifest (nothing else)."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise CliError(f"{out}: exists and is not a folder")
    if not out.exists() or not any(out.iterdir()):
        return
    if not force:
        raise CliError(f"{out}/ is not empty: give another folder, or --force to replace "
                       f"what a previous generate wrote there")
    man = out / "manifest.json"
    if not man.exists():
        raise CliError(f"{out}/ is not empty and has no manifest.json of a previous generate: "
                       f"--force removes only files a generate wrote; give another folder")
    try:
        files = json.loads(man.read_text()).get("files")
    except (ValueError, AttributeError):
        files = None
    if not isinstance(files, list) or not all(isinstance(f, str) for f in files):
        raise CliError(f"{man}: no list of the files it wrote ('files'); remove them by hand "
                       f"or give another folder")
    folders = set()
    for name in files + ["manifest.json"]:
        target = out / name
        parts = Path(name).parts
        # only plain names inside the folder, or inside its mem/ folder (an array's tiles)
        if not (parts == (Path(name).name,) or (len(parts) == 2 and parts[0] == "mem"
                                                 and Path(parts[1]).name == parts[1])):
            raise CliError(f"{man}: files lists {name!r}, which is not a plain file name "
                           f"(or mem/<file name>)")
        if target.is_file():
            target.unlink()
        if len(parts) == 2:
            folders.add(out / parts[0])
    for folder in folders:
        if folder.is_dir() and not any(folder.iterdir()):
            folder.rmdir()


def _cmd_generate(args):
    from .config import load_config
    from .verilog import generate
    config = load_config(args.config)
    if args.image and args.demo_image:
        raise CliError("give --image or --demo-image, not both")
    image = _load_image(args.image) if args.image else None
    if args.demo_image:
        if config.mesh is not None:
            raise CliError("--demo-image makes a core image; the configuration has a [mesh] "
                           "table (build a network image with spikefab.gen.network)")
        image = demo_network(config.core, np.random.default_rng(args.seed))
    _prepare_output(args.output, args.force)
    what = (f"a {config.mesh.width} x {config.mesh.height} array of" if config.mesh else "a")
    _say(f"elaborating {what} {config.core.neurons}-neuron core"
         f"{'s' if config.mesh else ''} and writing Verilog ...")
    t0 = time.perf_counter()
    from .progress import Progress
    with Progress() as progress:
        paths = generate(config, args.output, image, progress=progress)
    n_files = len(paths) - 1 + sum(1 for _ in paths["memory"].iterdir()) if "memory" in paths \
        else len(paths)
    _say(f"wrote {n_files} files to {args.output}/ in {time.perf_counter() - t0:.1f} s "
         f"(digest {config.digest()[:16]})")
    for name, path in paths.items():
        _say(f"  {name:9s} {path}")
    return 0


def _load_image(path):
    """A core image or a network image (told apart by the file's ``kind`` entry)."""
    from ..rtl.files import read_npz
    from ..rtl.image import CoreImage, ImageError
    from ..rtl.netimage import NetworkImage
    z = read_npz(path, "core or network image", ImageError)
    if "kind" in z:
        return NetworkImage.from_arrays(z, source=str(path))
    return CoreImage.from_arrays(z, source=str(path))


def _run_image(image, inputs, steps, sim, *, backpressure=0.0, gaps=0.0, seed=0,
               progress=True, bench="cocotb"):
    """The trace of ``image`` on ``sim``; an RTL run goes through the cocotb bench or, with
    ``bench = "fast"``, the fast run mode (no gaps nor back-pressure; ``progress``, if a
    callable, is called as ``progress(steps_done, steps)``)."""
    from ..rtl.netimage import NetworkImage
    from ..sim.runner import Stimulus, build_blank, run_bench
    if sim != "golden" and bench == "fast":
        from ..sim.fast import run_fast
        if callable(progress):
            return run_fast(image, inputs, steps, sim, progress=progress)
        if not progress:
            return run_fast(image, inputs, steps, sim)
        from .progress import Progress
        with Progress() as bar:
            bar(f"build and run {steps} steps on {sim} (fast mode)")
            return run_fast(image, inputs, steps, sim,
                            progress=lambda done, total: bar(f"steps on {sim}", done, total))
    stim = Stimulus(gap_prob=gaps, backpressure=backpressure, seed=seed)
    if sim != "golden" and progress:
        from .progress import Progress
        with Progress() as bar:
            bar(f"build for {sim} (cached in build/sim)")
            build_blank(image, sim)          # what run_bench builds: then found in the cache
            bar(f"run {steps} steps on {sim}")
            return _run_image(image, inputs, steps, sim, backpressure=backpressure,
                              gaps=gaps, seed=seed, progress=False)
    if isinstance(image, NetworkImage):
        if sim == "golden":
            from ..sim.network import NetworkModel
            return NetworkModel(image).run(inputs, steps, progress=progress).trace
        (trace,) = run_bench([(image, inputs, steps, stim)], sim)
        return trace
    if sim == "golden":
        from ..sim.golden import CoreModel
        return CoreModel(image).run(inputs, steps, progress=progress)
    (trace,) = run_bench([(image, inputs, steps, stim)], sim)
    return trace


def _load_inputs(path, image):
    """The input file ``path`` for ``image``, checked against its cores and axons."""
    from ..rtl.files import read_npz
    from ..rtl.netimage import NetworkImage
    from ..sim.inputs import InputError, decode_inputs
    z = read_npz(path, "input spike file", InputError)
    if isinstance(image, NetworkImage):
        from ..sim.network import decode_network_inputs
        if "ptr" in z:
            raise InputError(f"{path}: an input file of one core (entry 'ptr'), but the image "
                             f"is a network image: make one with spikefab inputs <image>")
        return decode_network_inputs(z, source=str(path), cores=image.mesh.cores,
                                     axons=image.params.axons)
    if "step" in z and "ptr" not in z:
        raise InputError(f"{path}: a network input file (entry 'step'), but the image is a "
                         f"core image: make one with spikefab inputs <image>")
    return decode_inputs(z, source=str(path), axons=image.params.axons)


def _silent(image):
    """True if no input can make any neuron of ``image`` spike by its weights."""
    from ..rtl.netimage import NetworkImage
    cores = image.cores if isinstance(image, NetworkImage) else [image]
    return not any(c.weights.any() for c in cores)


# --- simulate, compare, plot -----------------------------------------------------------------

def _cmd_simulate(args):
    from ..rtl.netimage import NetworkImage
    image = _load_image(args.image)
    inputs = _load_inputs(args.inputs, image) if args.inputs else []
    steps = args.steps if args.steps is not None else len(inputs)
    if steps < 1:
        raise CliError(f"{args.inputs}: the input file holds 0 steps: give --steps (1 or "
                       f"more)" if args.inputs else "no --inputs: give --steps (1 or more)")
    if steps < len(inputs):
        raise CliError(f"--steps {steps} is less than the {len(inputs)} steps of "
                       f"{args.inputs}: inputs are never dropped")
    out = _npz_name(args.output)
    if _silent(image):
        _say(f"note: every weight of {args.image} is 0: inputs cannot cause spikes (bake "
             f"weights with generate --demo-image or --image)")
    bench = args.bench or ("cocotb" if args.backpressure or args.gaps else "fast")
    if bench == "fast" and (args.backpressure or args.gaps) and args.sim != "golden":
        raise CliError("--backpressure and --gaps need the cocotb bench: give --bench cocotb")
    if args.sim != "golden":
        _say(f"building (cached in build/sim) and running the Verilog on {args.sim} "
             f"({bench} bench): {steps} steps ...")
    t0 = time.perf_counter()
    trace = _run_image(image, inputs, steps, args.sim, backpressure=args.backpressure,
                       gaps=args.gaps, seed=args.seed, bench=bench)
    dt = time.perf_counter() - t0
    if args.sim == "golden" and isinstance(image, NetworkImage):
        trace.extra.pop("events", None)    # no RTL counterpart: keeps the traces comparable
    trace.save(out)
    _say(f"{args.sim}: {steps} steps, {int(trace.spikes.sum())} spikes, "
         f"{dt:.2f} s; trace written to {out}")
    return 0


def _cmd_compare(args):
    from ..sim.trace import Trace, first_divergence
    a, b = Trace.load(_existing(args.expected)), Trace.load(_existing(args.got))
    div = first_divergence(a, b)
    if div is None:
        T, N = a.spikes.shape
        _say(f"identical: {T} steps x {N} neurons, quantities {', '.join(a.quantities())}")
        return 0
    _say(div)
    return 1


def _cmd_plot(args):
    from ..sim.inputs import load_inputs
    from ..sim.plot import plot_trace
    from ..sim.trace import Trace
    trace = Trace.load(_existing(args.trace))
    inputs = load_inputs(_existing(args.inputs)) if args.inputs else None
    out = Path(args.output)
    if out.suffix.lower() not in PLOT_SUFFIXES:
        out = out.with_name(out.name + ".png")
    plot_trace(trace, out, inputs=inputs)
    _say(f"wrote {out}")
    return 0


# --- inputs --------------------------------------------------------------------------------

def _read_rows(path):
    """Integer rows from a ``.csv`` (comma-separated, ``#`` comments, an optional header
    line) or a ``.npy`` array."""
    from ..sim.inputs import InputError
    p = Path(path)
    if p.suffix == ".npy":
        try:
            return np.load(p, allow_pickle=False)
        except (ValueError, OSError, EOFError) as e:
            raise InputError(f"{p}: not a readable .npy array ({e})") from None
    try:
        lines = p.read_text().splitlines()
    except (OSError, UnicodeDecodeError) as e:
        raise InputError(f"{p}: cannot read the CSV file ({e})") from None
    rows, seen = [], False
    for i, line in enumerate(lines, 1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        first, seen = not seen, True
        cells = [c.strip() for c in line.split(",")]
        try:
            rows.append([int(c) for c in cells])
        except ValueError:
            if first:
                continue                      # a header line
            raise InputError(f"{p}: line {i}: {line!r} is not a row of integers") from None
        if len(rows[-1]) != len(rows[0]):
            raise InputError(f"{p}: line {i} has {len(rows[-1])} columns, the first row "
                             f"{len(rows[0])}")
    return np.asarray(rows, np.int64).reshape(-1, len(rows[0]) if rows else 2)


def _cmd_inputs(args):
    from ..rtl.netimage import NetworkImage
    from ..sim.inputs import InputError, inputs_from_pairs, poisson_inputs, save_inputs
    from ..sim.network import encode_network_inputs
    image = _load_image(args.image)
    network = isinstance(image, NetworkImage)
    A = image.params.axons
    if (args.rate is None) == (args.pairs is None):
        raise CliError("give one of --rate (Poisson input) or --from (a CSV or .npy file of "
                       "rows)")
    out = _npz_name(args.output)
    rng = np.random.default_rng(args.seed)
    if args.rate is not None:
        if args.steps is None:
            raise CliError("--rate needs --steps")
        C = image.mesh.cores if network else 1
        lists = [poisson_inputs(A, args.steps, args.rate, rng) for _ in range(C)]
        if network:
            inputs = [[(c, a) for c in range(C) for a in lists[c][t]]
                      for t in range(args.steps)]
        else:
            inputs = lists[0]
    else:
        rows = np.asarray(_read_rows(args.pairs))
        src = str(args.pairs)
        if rows.ndim != 2 or rows.dtype.kind not in "iu":
            raise InputError(f"{src}: expected integer rows, got a {rows.dtype} array of "
                             f"shape {rows.shape}")
        if network:
            mp = image.mesh
            if rows.shape[1] == 4:           # (step, x, y, axon)
                for col, name, n in ((1, "x", mp.width), (2, "y", mp.height)):
                    bad = np.flatnonzero((rows[:, col] < 0) | (rows[:, col] >= n))
                    if bad.size:
                        raise InputError(f"{src}: row {int(bad[0])}: {name} = "
                                         f"{int(rows[bad[0], col])} is out of range: allowed "
                                         f"0..{n - 1}")
                rows = np.stack([rows[:, 0], rows[:, 2] * mp.width + rows[:, 1], rows[:, 3]],
                                axis=1)
            if rows.shape[1] != 3:
                raise InputError(f"{src}: rows of {rows.shape[1]} columns: a network image "
                                 f"takes (step, core, axon) or (step, x, y, axon)")
            from ..rtl.files import int_entry
            st = int_entry(src, "step column", rows[:, 0], lo=0, error=InputError)
            co = int_entry(src, "core column", rows[:, 1], lo=0, hi=mp.cores - 1,
                           error=InputError)
            ax = int_entry(src, "axon column", rows[:, 2], lo=0, hi=A - 1, error=InputError)
            T = (int(st.max()) + 1 if st.size else 0) if args.steps is None else args.steps
            if st.size and st.max() >= T:
                raise InputError(f"{src}: step {int(st.max())} is out of range for a run of "
                                 f"{T} steps: allowed 0..{T - 1}")
            inputs = [[] for _ in range(T)]
            for t, c, a in zip(st.tolist(), co.tolist(), ax.tolist()):
                inputs[t].append((c, a))
        else:
            if rows.shape[1] != 2:
                raise InputError(f"{src}: rows of {rows.shape[1]} columns: a core image takes "
                                 f"(step, axon)")
            inputs = inputs_from_pairs(rows, args.steps, source=src, axons=A)
    steps = len(inputs) if args.steps is None else args.steps
    if steps < 1:
        raise CliError(f"{args.pairs}: no rows: give --steps (1 or more)")
    if network:
        np.savez(out, **encode_network_inputs(inputs, steps))
    else:
        save_inputs(out, inputs, steps)
    _say(f"wrote {out}: {steps} steps, {sum(len(x) for x in inputs)} input events for "
         f"{'the network image' if network else 'the core image'} {args.image}")
    return 0


# --- synth, demo ---------------------------------------------------------------------------

def _synth_image(config, path):
    """The design ``synth`` builds: a core image, or with a ``[mesh]`` table the network
    image of the array (blank unless ``path``), trace ports off (they are for simulation)."""
    import dataclasses
    from ..rtl.image import CoreImage
    from ..rtl.netimage import NetworkImage
    image = _load_image(path) if path else None
    if config.mesh is None:
        if isinstance(image, NetworkImage):
            raise CliError(f"{path}: a network image, but the configuration has no [mesh] "
                           f"table: give a core image, or a configuration with [mesh]")
        return image if image is not None else CoreImage(config.core)
    p = dataclasses.replace(config.core, trace_port=False)
    if image is None:
        return NetworkImage(mesh=config.mesh, cores=[CoreImage(p) for _ in
                                                     range(config.mesh.cores)])
    if not isinstance(image, NetworkImage):
        raise CliError(f"{path}: a core image, but the configuration has a [mesh] table: "
                       f"give a network image of that array")
    if image.mesh != config.mesh:
        raise CliError(f"{path}: the network image is of a {image.mesh.width} x "
                       f"{image.mesh.height} array; the configuration's [mesh] is "
                       f"{config.mesh.width} x {config.mesh.height}")
    q = dataclasses.replace(image.params, trace_port=False)
    return image.replace(cores=[c.replace(params=q) for c in image.cores],
                         routes=[r.replace(params=q) for r in image.routes])


def _cmd_synth(args):
    from .config import load_config
    from .progress import Progress
    from .synth import SynthError, synthesize
    config = load_config(args.config)
    image = _synth_image(config, args.image)
    clock = args.clock_mhz if args.clock_mhz is not None else config.build.clock_mhz
    what = (f"a {config.mesh.width} x {config.mesh.height} array" if config.mesh
            else "a core")
    _say(f"synthesising {what}, placing and routing for {args.device} at {clock:g} MHz with "
         f"Yosys and nextpnr (a minute or more) ...")
    t0 = time.perf_counter()
    try:
        with Progress() as progress:
            report = synthesize(image, args.device, args.output, clock_mhz=clock,
                                timeout=args.timeout, progress=progress)
    except SynthError as e:       # a tool failed or ran out of time: its log's last lines
        head, _, tail = str(e).partition("\n")
        print(f"spikefab: error: {head}", file=sys.stderr)
        if tail:
            print(tail, file=sys.stderr)
        return 1
    _say(f"done in {time.perf_counter() - t0:.0f} s; files in {args.output}/")
    for k, v in report.to_dict().items():
        if not isinstance(v, (dict, list)):
            _say(f"  {k:14s} {v}")
    return 0


def demo_network(params, rng):
    """The demo's network on one core: sparse random excitatory and inhibitory synapses from
    every input axon, leaky neurons with a range of thresholds."""
    from ..rtl.image import CoreImage
    A, N = params.axons, params.neurons
    lo, hi = params.weight_range
    w = rng.integers(1, hi + 1, size=(A, N))
    w[rng.random((A, N)) < 0.2] *= -1
    w = np.clip(w, lo, hi)
    w[rng.random((A, N)) > 0.3] = 0
    par = params.param_defaults()
    if params.model == "cuba":
        par.update(du=np.full(N, 1024), dv=np.full(N, 256),
                   vth=rng.integers(1000, 3000, N), bias_mant=np.zeros(N, np.int64))
    else:
        par.update(dash_syn=np.full(N, 2), dash_mem=np.full(N, 3),
                   th=rng.integers(100, 400, N))
    rows = params.param_rows
    par = {k: (np.asarray(v)[:rows] if np.ndim(v) else v) for k, v in par.items()}
    return CoreImage(params=params, weights=w, w_exp=4, neuron_params=par)


def _cmd_demo(args):
    from .config import Config, load_config
    from .verilog import generate
    from ..rtl.image import CoreImage
    from ..sim.golden import CoreModel
    from ..sim.inputs import poisson_inputs, save_inputs
    from ..sim.plot import plot_trace
    from ..sim.trace import first_divergence
    config = load_config(args.config) if args.config else Config()
    if config.mesh is not None:
        raise CliError(f"{args.config}: the demo runs one core; the configuration has a "
                       f"[mesh] table")
    p = config.core
    out = Path(args.output)
    rng = np.random.default_rng(args.seed)
    image = demo_network(p, rng)
    steps = args.steps
    inputs = poisson_inputs(p.axons, steps, 0.08, rng)
    out.mkdir(parents=True, exist_ok=True)
    _say(f"spikefab demo: {p.model} core, {p.neurons} neurons x {p.axons} axons, "
         f"{p.weight_bits}-bit weights, {p.lanes} lanes; {steps} steps of Poisson input "
         f"(seed {args.seed})")
    if p.syn_memory == "ice40_spram":
        # SPRAM has no initial contents: the Verilog carries no weights; the bench (like a
        # host) writes them through the configuration port
        paths = generate(config, out / "verilog", CoreImage(p))
        _say(f"  Verilog: {paths['verilog']} (weights in SPRAM: loaded over cfg at run time)")
    else:
        paths = generate(config, out / "verilog", image)
        _say(f"  Verilog: {paths['verilog']} (+ memory images and manifest.json)")
    save_inputs(out / "inputs.npz", inputs, steps)
    golden = CoreModel(image).run(inputs, steps, progress=True)
    golden.save(out / "golden.npz")
    _say(f"  running the generated Verilog on {args.sim} (build cached in build/sim) ...")
    t0 = time.perf_counter()
    rtl = _run_image(image, inputs, steps, args.sim)
    dt = time.perf_counter() - t0
    rtl.save(out / f"{args.sim}.npz")
    div = first_divergence(golden, rtl)
    cycles = np.asarray(rtl.meta["cycles"])
    events = np.array([len(e) for e in inputs])
    model = events * p.words_per_row + p.neurons
    _say(f"  steps: {steps}   input events: {events.sum()}   spikes: golden "
         f"{int(golden.spikes.sum())}, {args.sim} {int(rtl.spikes.sum())}")
    _say(f"  clocks per step: mean {cycles.mean():.1f}, min {cycles.min()}, max {cycles.max()}"
         f"  (cost model events*N/lanes + N: mean {model.mean():.1f}; "
         f"overhead {np.mean(cycles - model):.1f} clocks per step)")
    _say(f"  synaptic events per busy clock: "
         f"{(events.sum() * p.neurons) / max(1, cycles.sum()):.2f}")
    png = plot_trace(rtl, out / "raster.png", inputs=inputs,
                     title=f"{args.sim}: {int(rtl.spikes.sum())} spikes "
                           f"({'bit-exact with the golden model' if div is None else 'MISMATCH'})")
    _say(f"  raster: {png}   ({args.sim} run took {dt:.1f} s)")
    if div is None:
        _say(f"MATCH: {args.sim} and the golden model agree on every spike and every u and v "
             f"of every neuron at every step")
        return 0
    _say(f"MISMATCH: {div}")
    return 1


# --- the parser ----------------------------------------------------------------------------

def _version():
    try:
        from importlib.metadata import version
        return version("spikefab")
    except Exception:                      # not installed: the source tree's version
        return "unknown"


def build_parser():
    """The argument parser of ``spikefab`` (every option with its format and range)."""
    parser = argparse.ArgumentParser(prog="spikefab", description=DESCRIPTION,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"spikefab {_version()}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    g = sub.add_parser("generate", help="Verilog, memory images and manifest from a TOML config")
    g.add_argument("config", help="TOML configuration file (docs/configuration.md)")
    g.add_argument("-o", "--output", required=True, metavar="DIR",
                   help="output folder; must be empty or absent unless --force")
    g.add_argument("--image", metavar="IMAGE.npz",
                   help="core image, or network image with a [mesh] table, to bake into the "
                        "memories (default: all weights 0, default parameters)")
    g.add_argument("--demo-image", action="store_true",
                   help="bake the demo network instead (random sparse weights, thresholds "
                        "that fire; one core only)")
    g.add_argument("--seed", type=SEED, default=1,
                   help="seed of --demo-image, 0..2**32-1 (default 1)")
    g.add_argument("--force", action="store_true",
                   help="write into a used folder: first remove the files its manifest.json "
                        "lists (what the previous generate wrote), nothing else")
    g.set_defaults(func=_cmd_generate)

    s = sub.add_parser("simulate", help="run a core or network image on golden, verilator "
                                        "or icarus")
    s.add_argument("image", help="core or network image (.npz, e.g. out/image.npz)")
    s.add_argument("--inputs", metavar="IN.npz", help="input spike file (make one with "
                                                       "spikefab inputs)")
    s.add_argument("--steps", type=STEPS, help="steps to run, 1..1000000 (default: the input "
                                               "file's steps; more steps run without input)")
    s.add_argument("--sim", choices=["golden", "verilator", "icarus"], default="golden",
                   help="simulator (default golden)")
    s.add_argument("--backpressure", type=PROB, default=0.0, metavar="P",
                   help="RTL only: probability per clock that the spike output is not "
                        "ready, 0 <= p < 1 (default 0)")
    s.add_argument("--gaps", type=PROB, default=0.0, metavar="P",
                   help="RTL only: probability per clock of an idle cycle between input "
                        "events, 0 <= p < 1 (default 0)")
    s.add_argument("--seed", type=SEED, default=0,
                   help="seed of the backpressure and gap stimulus, 0..2**32-1 (default 0)")
    s.add_argument("--bench", choices=["fast", "cocotb"],
                   help="RTL only: fast (the command stream and the trace through files, no "
                        "per-clock Python; the default) or cocotb (per-clock bench; the "
                        "default with --backpressure or --gaps)")
    s.add_argument("-o", "--output", required=True, metavar="TRACE",
                   help="trace file to write (.npz is appended if missing)")
    s.set_defaults(func=_cmd_simulate)

    i = sub.add_parser("inputs", help="make an input spike file for an image (Poisson, or "
                                      "from rows in a CSV or .npy file)")
    i.add_argument("image", help="the core or network image the inputs are for (sets the "
                                 "format and the ranges of axon and core ids)")
    i.add_argument("--rate", type=RATE, help="Poisson input: probability that an axon is "
                                             "hit in a step, 0..1 (every axon of every core)")
    i.add_argument("--from", dest="pairs", metavar="ROWS.csv|.npy",
                   help="events as integer rows: (step, axon) for a core image; (step, core, "
                        "axon) or (step, x, y, axon) for a network image; CSV with an "
                        "optional header line")
    i.add_argument("--steps", type=STEPS,
                   help="run length, 1..1000000 (required with --rate; default with --from: "
                        "one past the last step given)")
    i.add_argument("--seed", type=SEED, default=1, help="seed of --rate, 0..2**32-1 "
                                                        "(default 1)")
    i.add_argument("-o", "--output", required=True, metavar="IN.npz",
                   help="input file to write (.npz is appended if missing)")
    i.set_defaults(func=_cmd_inputs)

    c = sub.add_parser("compare", help="first divergence between two traces")
    c.add_argument("expected", help="reference trace (.npz; the suffix may be left out)")
    c.add_argument("got", help="trace to check (.npz; the suffix may be left out)")
    c.set_defaults(func=_cmd_compare)

    p = sub.add_parser("plot", help="raster and state plot of a trace")
    p.add_argument("trace", help="trace file (.npz; the suffix may be left out)")
    p.add_argument("--inputs", metavar="IN.npz", help="input spike file of one core to draw "
                                                      "beside the raster")
    p.add_argument("-o", "--output", required=True, metavar="FILE",
                   help=f"image to write ({', '.join(PLOT_SUFFIXES)}; .png is appended "
                        f"otherwise)")
    p.set_defaults(func=_cmd_plot)

    y = sub.add_parser("synth", help="synthesise, place and route the core, or the array of "
                                     "a [mesh] table; report resources and Fmax")
    y.add_argument("config", help="TOML configuration file")
    y.add_argument("--device", required=True, choices=["ice40up5k", "ecp5-85f"],
                   help="target FPGA")
    y.add_argument("--image", metavar="IMAGE.npz",
                   help="image to bake in: a core image, or a network image when the "
                        "configuration has a [mesh] table (default: blank)")
    y.add_argument("--clock-mhz", type=CLOCK, metavar="MHZ",
                   help="clock constraint given to nextpnr and reported against, 1..500 MHz "
                        "(default: [build] clock_mhz of the configuration)")
    y.add_argument("-o", "--output", required=True, metavar="DIR",
                   help="folder for the netlist, logs and report")
    y.add_argument("--timeout", type=TIMEOUT, default=3600, metavar="S",
                   help="seconds each tool may run, 10..86400 (default 3600; an array's "
                        "place and route on a loaded machine can take longer)")
    y.set_defaults(func=_cmd_synth)

    d = sub.add_parser("demo", help="generate a default core and run it beside the golden model")
    d.add_argument("--config", help="TOML configuration of one core (default: the built-in "
                                    "default, examples/default.toml)")
    d.add_argument("--sim", choices=["verilator", "icarus"], default="verilator",
                   help="simulator (default verilator)")
    d.add_argument("--steps", type=STEPS, default=200, help="steps, 1..1000000 (default 200)")
    d.add_argument("--seed", type=SEED, default=1, help="seed, 0..2**32-1 (default 1)")
    d.add_argument("-o", "--output", default="demo_out", metavar="DIR",
                   help="output folder (default demo_out)")
    d.set_defaults(func=_cmd_demo)

    from . import sweep
    sweep.add_parser(sub)
    from . import nir_cli
    nir_cli.add_parser(sub)
    from . import run
    run.add_parser(sub)
    from . import board_build
    board_build.add_parser(sub)
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (ValueError, OSError) as e:      # ConfigError, FormatError (images, traces, inputs)
        print(f"spikefab: error: {' '.join(str(e).split())}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
