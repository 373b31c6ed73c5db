"""The ``spikefab`` command line."""

import argparse
import sys
import time
from pathlib import Path

import numpy as np


def _cmd_generate(args):
    from .config import load_config
    from .verilog import generate
    from ..rtl.image import CoreImage
    config = load_config(args.config)
    image = _load_image(args.image) if args.image else None
    paths = generate(config, args.output, image)
    print(f"wrote {len(paths)} files to {args.output}/ (digest {config.digest()[:16]})")
    for name, path in paths.items():
        print(f"  {name:9s} {path}")
    return 0


def _load_image(path):
    """A core image or a network image (told apart by the file's ``kind`` entry)."""
    from ..rtl.image import CoreImage
    from ..rtl.netimage import NetworkImage
    with np.load(path, allow_pickle=False) as z:
        is_network = "kind" in z.files
    return NetworkImage.load(path) if is_network else CoreImage.load(path)


def _run_image(image, inputs, steps, sim, *, backpressure=0.0, gaps=0.0, seed=0,
               progress=True):
    from ..rtl.netimage import NetworkImage
    from ..sim.runner import Stimulus, run_core_rtl, run_mesh_rtl
    stim = Stimulus(gap_prob=gaps, backpressure=backpressure, seed=seed)
    if isinstance(image, NetworkImage):
        if sim == "golden":
            from ..sim.network import NetworkModel
            return NetworkModel(image).run(inputs, steps, progress=progress).trace
        (trace,) = run_mesh_rtl([(image, inputs, steps, stim)], sim)
        return trace
    if sim == "golden":
        from ..sim.golden import CoreModel
        return CoreModel(image).run(inputs, steps, progress=progress)
    (trace,) = run_core_rtl([(image, inputs, steps, stim)], sim)
    return trace


def _load_inputs(path, image):
    from ..rtl.netimage import NetworkImage
    if isinstance(image, NetworkImage):
        from ..sim.network import decode_network_inputs
        with np.load(path, allow_pickle=False) as z:
            missing = {"step", "core", "axon"} - set(z.files)
            if missing:
                raise ValueError(f"{path}: not a network input file (missing "
                                 f"{', '.join(sorted(missing))}; write one with "
                                 f"spikefab.sim.network.encode_network_inputs)")
            return decode_network_inputs({k: z[k] for k in z.files})
    from ..sim.inputs import load_inputs
    return load_inputs(path)


def _cmd_simulate(args):
    from ..rtl.netimage import NetworkImage
    image = _load_image(args.image)
    inputs = _load_inputs(args.inputs, image) if args.inputs else []
    steps = args.steps if args.steps is not None else len(inputs)
    if steps < 1:
        raise ValueError("steps = 0: give --steps or an input file with at least one step")
    t0 = time.perf_counter()
    trace = _run_image(image, inputs, steps, args.sim, backpressure=args.backpressure,
                       gaps=args.gaps, seed=args.seed)
    dt = time.perf_counter() - t0
    if args.sim == "golden" and isinstance(image, NetworkImage):
        trace.extra.pop("events", None)    # no RTL counterpart: keeps the traces comparable
    trace.save(args.output)
    print(f"{args.sim}: {steps} steps, {int(trace.spikes.sum())} spikes, "
          f"{dt:.2f} s; trace written to {args.output}")
    return 0


def _cmd_compare(args):
    from ..sim.trace import Trace, first_divergence
    a, b = Trace.load(args.expected), Trace.load(args.got)
    div = first_divergence(a, b)
    if div is None:
        T, N = a.spikes.shape
        print(f"identical: {T} steps x {N} neurons, quantities {', '.join(a.quantities())}")
        return 0
    print(div)
    return 1


def _cmd_plot(args):
    from ..sim.inputs import load_inputs
    from ..sim.plot import plot_trace
    from ..sim.trace import Trace
    trace = Trace.load(args.trace)
    inputs = load_inputs(args.inputs) if args.inputs else None
    plot_trace(trace, args.output, inputs=inputs)
    print(f"wrote {args.output}")
    return 0


def _cmd_synth(args):
    from .config import load_config
    from .synth import synthesize
    from ..rtl.image import CoreImage
    config = load_config(args.config)
    image = CoreImage.load(args.image) if args.image else CoreImage(config.core)
    report = synthesize(image, args.device, args.output, clock_mhz=args.clock_mhz)
    for k, v in report.to_dict().items():
        if not isinstance(v, (dict, list)):
            print(f"  {k:14s} {v}")
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
    p = config.core
    out = Path(args.output)
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(args.seed)
    image = demo_network(p, rng)
    steps = args.steps
    inputs = poisson_inputs(p.axons, steps, 0.08, rng)
    print(f"spikefab demo: {p.model} core, {p.neurons} neurons x {p.axons} axons, "
          f"{p.weight_bits}-bit weights, {p.lanes} lanes; {steps} steps of Poisson input "
          f"(seed {args.seed})")
    if p.syn_memory == "ice40_spram":
        # SPRAM has no initial contents: the Verilog carries no weights; the bench (like a
        # host) writes them through the configuration port
        paths = generate(config, out / "verilog", CoreImage(p))
        print(f"  Verilog: {paths['verilog']} (weights in SPRAM: loaded over cfg at run time)")
    else:
        paths = generate(config, out / "verilog", image)
        print(f"  Verilog: {paths['verilog']} (+ memory images and manifest.json)")
    save_inputs(out / "inputs.npz", inputs, steps)
    golden = CoreModel(image).run(inputs, steps, progress=True)
    golden.save(out / "golden.npz")
    print(f"  running the generated Verilog on {args.sim} (build cached in build/sim) ...")
    t0 = time.perf_counter()
    rtl = _run_image(image, inputs, steps, args.sim)
    dt = time.perf_counter() - t0
    rtl.save(out / f"{args.sim}.npz")
    div = first_divergence(golden, rtl)
    cycles = np.asarray(rtl.meta["cycles"])
    events = np.array([len(e) for e in inputs])
    model = events * p.words_per_row + p.neurons
    print(f"  steps: {steps}   input events: {events.sum()}   spikes: golden "
          f"{int(golden.spikes.sum())}, {args.sim} {int(rtl.spikes.sum())}")
    print(f"  clocks per step: mean {cycles.mean():.1f}, min {cycles.min()}, max {cycles.max()}"
          f"  (cost model events*N/lanes + N: mean {model.mean():.1f}; "
          f"overhead {np.mean(cycles - model):.1f} clocks per step)")
    print(f"  synaptic events per busy clock: "
          f"{(events.sum() * p.neurons) / max(1, cycles.sum()):.2f}")
    png = plot_trace(rtl, out / "raster.png", inputs=inputs,
                     title=f"{args.sim}: {int(rtl.spikes.sum())} spikes "
                           f"({'bit-exact with the golden model' if div is None else 'MISMATCH'})")
    print(f"  raster: {png}   ({args.sim} run took {dt:.1f} s)")
    if div is None:
        print(f"MATCH: {args.sim} and the golden model agree on every spike and every u and v "
              f"of every neuron at every step")
        return 0
    print(f"MISMATCH: {div}")
    return 1


def main(argv=None):
    parser = argparse.ArgumentParser(prog="spikefab", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    g = sub.add_parser("generate", help="Verilog, memory images and manifest from a TOML config")
    g.add_argument("config")
    g.add_argument("-o", "--output", required=True)
    g.add_argument("--image", help="core image, or network image with a [mesh] table (.npz), "
                                   "to bake into the memories")
    g.set_defaults(func=_cmd_generate)

    s = sub.add_parser("simulate", help="run a core or network image on golden, verilator "
                                        "or icarus")
    s.add_argument("image")
    s.add_argument("--inputs", help="input spike file (.npz)")
    s.add_argument("--steps", type=int)
    s.add_argument("--sim", choices=["golden", "verilator", "icarus"], default="golden")
    s.add_argument("--backpressure", type=float, default=0.0)
    s.add_argument("--gaps", type=float, default=0.0)
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("-o", "--output", required=True)
    s.set_defaults(func=_cmd_simulate)

    c = sub.add_parser("compare", help="first divergence between two traces")
    c.add_argument("expected")
    c.add_argument("got")
    c.set_defaults(func=_cmd_compare)

    p = sub.add_parser("plot", help="raster and state plot of a trace")
    p.add_argument("trace")
    p.add_argument("--inputs")
    p.add_argument("-o", "--output", required=True)
    p.set_defaults(func=_cmd_plot)

    y = sub.add_parser("synth", help="synthesise, place and route; report resources and Fmax")
    y.add_argument("config")
    y.add_argument("--device", required=True, choices=["ice40up5k", "ecp5-85f"])
    y.add_argument("--image")
    y.add_argument("--clock-mhz", type=float)
    y.add_argument("-o", "--output", required=True)
    y.set_defaults(func=_cmd_synth)

    d = sub.add_parser("demo", help="generate a default core and run it beside the golden model")
    d.add_argument("--config")
    d.add_argument("--sim", choices=["verilator", "icarus"], default="verilator")
    d.add_argument("--steps", type=int, default=200)
    d.add_argument("--seed", type=int, default=1)
    d.add_argument("-o", "--output", default="demo_out")
    d.set_defaults(func=_cmd_demo)

    from . import sweep
    sweep.add_parser(sub)

    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except (ValueError, OSError) as e:      # ConfigError, ParamError, ImageError are ValueErrors
        print(f"spikefab: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
