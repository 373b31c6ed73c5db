"""Golden network model against Brian2 (numpy target and C++ standalone) on the same network
(SPEC §6).

SPEC §6 asks the golden model to be at least 10x faster than a Brian2 (numpy code-generation
target) run of the same network. This benchmark builds network images of k x k meshes of
256-neuron x 256-axon ``cuba`` cores with random recurrent connectivity (fan-out 8..16 per
neuron, delays 1..4, a few exit entries) and Poisson external input, then, in one process,
runs

- the golden :class:`~spikefab.sim.network.NetworkModel` (integer, bit-exact semantics,
  recording the full trace: spikes, u, v, events, ext_out for every neuron and step);
- a Brian2 float model of the same network: the same neurons, one synapse per (routing entry,
  non-zero weight of the destination axon's row) with weight ``w * 2**w_exp``, the same
  delays, LIF with ``u <- u * (1 - du/4096) + 64 * a_in``, ``v <- v * (1 - dv/4096) + u``,
  spike when ``v > 64 * vth``, reset ``v = 0`` (SPEC §3.3 in floating point, without
  truncation, wrapping or saturation); it records spikes only (a SpikeMonitor); run on the
  numpy code-generation target, and built a second time on the ``cpp_standalone`` device
  (gcc, one thread), whose binary is run once per repeat.

Each is run ``--repeats`` times from the same initial state and the median wall time is
reported. Brian2's code generation and compilation are excluded: a warm-up run comes first,
and the Brian2 numpy figure is the time of its main simulation loop
(``device._last_run_time``), its per-run set-up (``before_run``) being reported separately;
the C++ figure is the main loop time the binary reports (``results/last_run_info.txt``),
the process's wall time (loading its arrays included) being reported separately. The golden figure is
``reset()`` plus ``run()`` (the routing compilation in the constructor is reported
separately). Spike counts are reported, not compared: float and fixed point differ.

Usage::

    .venv/bin/python benchmarks/golden_vs_brian2.py [--meshes 2 4] [--steps 1000]
        [--repeats 3] [--seed 1] [--out benchmarks/results/golden_vs_brian2]
"""

import argparse
import json
import os
import platform
import statistics
import sys
import time

import numpy as np

from spikefab.rtl.image import CoreImage
from spikefab.rtl.netimage import EXIT, NetworkImage, RouteTable
from spikefab.rtl.params import CoreParams, MeshParams
from spikefab.sim.network import NetworkModel


NEURONS = AXONS = 256
MAX_DELAY = 4
FANOUT = (8, 16)
EXITS_PER_CORE = 4          # neurons 0..3 of each core also route to the external output
EXT_AXONS = 32              # external Poisson input on axons 0..31 of every core
EXT_RATE = 0.1
#: The two weight settings benchmarked (the activity was tuned to a few % per step):
#: "dense", every weight drawn uniformly from the whole 4-bit range (the synapse memory full,
#: as in a crossbar core); "sparse", a quarter of the weights non-zero, drawn from -8..6.
NETWORKS = {
    "dense": {"density": 1.0, "w_range": (-8, 7), "w_exp": 1, "vth": 300},
    "sparse": {"density": 0.25, "w_range": (-8, 6), "w_exp": 3, "vth": 500},
}
NEURON = {"du": 1024, "dv": 256, "bias_mant": 0, "bias_exp": 0}


def build_network(k, seed, kind="dense"):
    """The network image of a k x k mesh, with the weights of ``NETWORKS[kind]`` (its
    external input is made by :func:`external_inputs`)."""
    net = NETWORKS[kind]
    rng = np.random.default_rng(seed)
    p = CoreParams(neurons=NEURONS, axons=AXONS, model="cuba", weight_bits=4, lanes=4,
                   acc_bits=16, max_step_events=4095, max_delay=MAX_DELAY)
    C = k * k
    mp = MeshParams(width=k, height=k, route_entries=NEURONS * (FANOUT[1] + 1))
    cores, routes = [], []
    for c in range(C):
        w = rng.integers(net["w_range"][0], net["w_range"][1] + 1, size=(AXONS, NEURONS))
        if net["density"] < 1:
            w[rng.random(w.shape) >= net["density"]] = 0
        cores.append(CoreImage(p, weights=w, w_exp=net["w_exp"],
                               neuron_params=dict(NEURON, vth=net["vth"])))
        fan = []
        for n in range(NEURONS):
            m = int(rng.integers(FANOUT[0], FANOUT[1] + 1))
            dst = rng.integers(0, C, size=m)
            tg = [(int(d % k), int(d // k), int(a), int(dl)) for d, a, dl in
                  zip(dst, rng.integers(0, AXONS, size=m), rng.integers(1, MAX_DELAY + 1, size=m))]
            if n < EXITS_PER_CORE:
                tg.append(EXIT)
            fan.append(tg)
        routes.append(RouteTable.from_fanout(mp, p, fan))
    return NetworkImage(mp, cores, routes, meta={"benchmark": "golden_vs_brian2", "seed": seed,
                                               "network": kind})


def external_inputs(image, steps, seed):
    """Poisson input on axons 0..EXT_AXONS-1 of every core; none at step 0 (the Brian2
    model delivers input one step after it is emitted, so step 0 cannot have any)."""
    rng = np.random.default_rng(seed + 1)
    C = image.mesh.cores
    out = [[]]
    for t in range(1, steps):
        hits = np.argwhere(rng.random((C, EXT_AXONS)) < EXT_RATE)
        out.append([(int(c), int(a)) for c, a in hits])
    return out


# --- Brian2 ------------------------------------------------------------------------------

def build_brian2(image, inputs, standalone=False):
    """The Brian2 network (see the module docstring) for the numpy target, or, with
    ``standalone``, on the ``cpp_standalone`` device (which the caller has set)."""
    import brian2 as b2
    if not standalone:
        b2.prefs.codegen.target = "numpy"
    b2.start_scope()
    b2.defaultclock.dt = 1 * b2.ms
    dt = b2.defaultclock.dt
    mp, p = image.mesh, image.params
    C, N, A = mp.cores, p.neurons, p.axons
    G = b2.NeuronGroup(C * N, """
        u : 1
        v : 1
        ain : 1
        ku : 1 (constant)
        kv : 1 (constant)
        bias : 1 (constant)
        thr : 1 (constant)
        """, threshold="v > thr", reset="v = 0", name="neurons")
    # one step, before threshold: u = u*ku + 64*a_in; v = v*kv + u + bias
    G.run_regularly("u = u * ku + 64 * ain\nain = 0\nv = v * kv + u + bias", when="start")
    par = {k: np.concatenate([img.neuron_param_table()[k] for img in image.cores])
           for k in ("du", "dv", "vth", "bias_mant", "bias_exp")}
    G.ku = 1 - par["du"] / 4096.0
    G.kv = 1 - par["dv"] / 4096.0
    G.bias = par["bias_mant"] * 2.0 ** par["bias_exp"]
    G.thr = 64.0 * par["vth"]
    G.u = np.concatenate([img.state["u"] for img in image.cores]).astype(float)
    G.v = np.concatenate([img.state["v"] for img in image.cores]).astype(float)

    # synapses: for each routing entry (src neuron -> core c, axon a, delay d), one synapse to
    # each neuron n of core c with a non-zero w[c][a, n]
    rows = [[np.flatnonzero(img.weights[a]) for a in range(A)] for img in image.cores]
    src, dst, wv, dl = [], [], [], []
    for c, rt in enumerate(image.routes):
        for n in range(N):
            for tg in rt.targets(n):
                if tg == EXIT:
                    continue
                x, y, a, d = tg
                cd = mp.core_index(x, y)
                js = rows[cd][a]
                src.append(np.full(js.size, c * N + n))
                dst.append(cd * N + js)
                wv.append(image.cores[cd].weights[a, js] * 2.0 ** image.cores[cd].w_exp)
                dl.append(np.full(js.size, d - 1))      # delivered before step s + d's update
    S = b2.Synapses(G, G, "w : 1 (constant)", on_pre="ain_post += w", name="recurrent")
    S.connect(i=np.concatenate(src), j=np.concatenate(dst))
    S.w = np.concatenate(wv)
    S.delay = np.concatenate(dl) * dt

    # external input: one generator channel per (core, axon), spike at step t - 1
    idx, tt = [], []
    for t, pairs in enumerate(inputs):
        for c, a in pairs:
            idx.append(c * A + a)
            tt.append(t - 1)
    gen = b2.SpikeGeneratorGroup(C * A, np.array(idx, int), np.array(tt, float) * dt,
                                 name="external")
    esrc, edst, ew = [], [], []
    for c, img in enumerate(image.cores):
        for a in range(A):
            js = rows[c][a]
            esrc.append(np.full(js.size, c * A + a))
            edst.append(c * N + js)
            ew.append(img.weights[a, js] * 2.0 ** img.w_exp)
    E = b2.Synapses(gen, G, "w : 1 (constant)", on_pre="ain_post += w", name="ext_syn")
    E.connect(i=np.concatenate(esrc), j=np.concatenate(edst))
    E.w = np.concatenate(ew)
    mon = b2.SpikeMonitor(G, name="spikes")
    net = b2.Network(G, S, gen, E, mon)
    return net, mon, int(len(S)) + int(len(E))


def build_standalone(image, inputs, steps, workdir):
    """Brian2's C++ standalone version of the same network, built (compiled, and run once:
    the warm-up) in ``workdir``; returns ``(binary directory, spikes, synapses, build s)``.
    The device is back to ``runtime`` afterwards."""
    import brian2 as b2
    b2.set_device("cpp_standalone", directory=workdir, build_on_run=False)
    b2.prefs.devices.cpp_standalone.openmp_threads = 0        # one thread, as the others
    try:
        net, mon, n_syn = build_brian2(image, inputs, standalone=True)
        net.run(steps * b2.defaultclock.dt)
        t0 = time.perf_counter()
        b2.device.build(directory=workdir, compile=True, run=True, with_output=False)
        build_s = time.perf_counter() - t0
        spikes = int(mon.num_spikes)
    finally:
        b2.device.reinit()
        b2.set_device("runtime")
    return workdir, spikes, n_syn, build_s


def run_standalone(workdir):
    """Run the built standalone binary once; returns (main loop s, process wall s)."""
    import subprocess
    t0 = time.perf_counter()
    subprocess.run([os.path.join(workdir, "main")], cwd=workdir, check=True,
                   stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - t0
    with open(os.path.join(workdir, "results", "last_run_info.txt")) as f:
        loop = float(f.read().split()[0])
    return loop, wall


def bench_one(kind, k, steps, repeats, seed, workdir):
    """Golden, Brian2 numpy and Brian2 C++ standalone on one network, repeats interleaved
    (golden, numpy, C++, golden, ...) so that a change of machine load touches all three."""
    import brian2 as b2
    image = build_network(k, seed, kind)
    inputs = external_inputs(image, steps, seed)
    C = image.mesh.cores

    t0 = time.perf_counter()
    model = NetworkModel(image)
    golden_setup = time.perf_counter() - t0
    model.run(inputs[:20], steps=20)                               # warm-up

    cpp_dir, cpp_spikes, cpp_syn, cpp_build = build_standalone(
        image, inputs, steps, os.path.join(workdir, f"{kind}_{k}x{k}"))

    t0 = time.perf_counter()
    net, mon, n_syn = build_brian2(image, inputs)
    brian_build = time.perf_counter() - t0
    net.store("initial")
    t0 = time.perf_counter()
    net.run(20 * b2.defaultclock.dt)                               # warm-up: code generation
    brian_warmup = time.perf_counter() - t0

    g_times, b_loop, b_wall, c_loop, c_wall = [], [], [], [], []
    for _ in range(repeats):
        t0 = time.perf_counter()
        model.reset()
        r = model.run(inputs, steps=steps)
        g_times.append(time.perf_counter() - t0)
        golden = {"spikes": int(r.trace.spikes.sum()), "packets": int(r.packets.sum()),
                  "events": int(r.trace.extra["events"].sum()), "outputs": len(r.outputs)}
        del r
        net.restore("initial")
        t0 = time.perf_counter()
        net.run(steps * b2.defaultclock.dt)
        b_wall.append(time.perf_counter() - t0)
        b_loop.append(float(b2.get_device()._last_run_time))
        brian_spikes = int(mon.num_spikes)
        lp, wl = run_standalone(cpp_dir)
        c_loop.append(lp)
        c_wall.append(wl)

    g, bl, bw, cl, cw = (statistics.median(x) for x in (g_times, b_loop, b_wall, c_loop, c_wall))
    return {
        "network": kind, **NETWORKS[kind], "mesh": f"{k}x{k}", "cores": C,
        "neurons": C * NEURONS, "steps": steps, "repeats": repeats, "seed": seed,
        "routing_entries": int(sum(int(rt.count.sum()) for rt in image.routes)),
        "synapses_brian2": n_syn,
        "golden_s": g, "golden_steps_per_s": steps / g, "golden_times_s": g_times,
        "golden_setup_s": golden_setup,
        "brian2_loop_s": bl, "brian2_steps_per_s": steps / bl, "brian2_loop_times_s": b_loop,
        "brian2_wall_s": bw, "brian2_wall_times_s": b_wall,
        "brian2_build_s": brian_build, "brian2_warmup_s": brian_warmup,
        "speedup": bl / g, "speedup_wall": bw / g,
        "cpp_loop_s": cl, "cpp_steps_per_s": steps / cl, "cpp_loop_times_s": c_loop,
        "cpp_wall_s": cw, "cpp_wall_times_s": c_wall, "cpp_build_s": cpp_build,
        "speedup_cpp": cl / g, "speedup_cpp_wall": cw / g,
        "golden_spikes": golden["spikes"], "golden_packets": golden["packets"],
        "golden_events": golden["events"], "golden_outputs": golden["outputs"],
        "brian2_spikes": brian_spikes, "cpp_spikes": cpp_spikes,
        "golden_rate": golden["spikes"] / (steps * C * NEURONS),
        "brian2_rate": brian_spikes / (steps * C * NEURONS),
    }


def commit():
    """The commit of the working tree (with ``-dirty`` when it has uncommitted changes)."""
    import subprocess
    here = os.path.dirname(os.path.abspath(__file__))
    try:
        h = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=here, check=True,
                           capture_output=True, text=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"],
                               cwd=here, capture_output=True, text=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return h + ("-dirty" if dirty else "")


def machine():
    cpu = "unknown"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    import subprocess
    import brian2
    import numba
    try:
        gcc = subprocess.run(["g++", "--version"], capture_output=True,
                             text=True).stdout.splitlines()[0]
    except (OSError, IndexError):
        gcc = "unknown"
    return {"nproc": os.cpu_count(), "cpu": cpu, "python": platform.python_version(),
            "numpy": np.__version__, "numba": numba.__version__, "brian2": brian2.__version__,
            "gcc": gcc, "platform": platform.platform()}


def _met(results, key):
    yes = [f"{r['network']} {r['mesh']}" for r in results if r[key] >= 10]
    no = [f"{r['network']} {r['mesh']}" for r in results if r[key] < 10]
    return ("met on every network" if not no else
            ("met on " + ", ".join(yes) + " and not on " if yes else "not met on ")
            + ", ".join(no))


def write_md(path, results, mach, command, load, rev):
    lines = [
        "# Golden network model vs Brian2 (numpy target and C++ standalone)",
        "",
        "Produced by `benchmarks/golden_vs_brian2.py` (its docstring describes the network and "
        "the models). SPEC §6 target: the golden model at least 10x faster than a Brian2 "
        "(numpy code-generation target) run of the same network; the C++ standalone "
        "column is the comparison with Brian2's fastest single-thread target.",
        "",
        f"Command: `{command}`, run from the repository root at commit `{rev}` in a virtual "
        "environment holding the project and its `bench` extra (`pip install -e '.[bench]'`).",
        "",
        f"Machine: {mach['nproc']} CPUs (`nproc`), CPU model \"{mach['cpu']}\" "
        f"(/proc/cpuinfo); Python {mach['python']}, numpy {mach['numpy']}, numba "
        f"{mach['numba']}, brian2 {mach['brian2']}, {mach['gcc']}; {mach['platform']}. Load "
        f"average (1 min) {load[0]:.2f} before, {load[1]:.2f} after the run (other jobs share "
        "the machine).",
        "",
        f"Networks: k x k meshes of `cuba` cores of {NEURONS} neurons x {AXONS} axons, "
        f"4-bit weights, du = {NEURON['du']}, dv = {NEURON['dv']}; each neuron routes to "
        f"{FANOUT[0]}..{FANOUT[1]} random (core, axon) targets with delays 1..{MAX_DELAY}; "
        f"{EXITS_PER_CORE} exit entries per core; Poisson external input (probability "
        f"{EXT_RATE} per step on {EXT_AXONS} axons per core). `dense`: every weight drawn "
        "uniformly from -8..7 (w_exp 1, vth 300); `sparse`: a quarter of the weights "
        "non-zero, from -8..6 (w_exp 3, vth 500). Brian2 gets one synapse per (routing "
        "entry, non-zero weight of the target axon's row).",
        "",
        "Timing: median of the repeats (golden, Brian2 numpy and Brian2 C++ runs "
        "interleaved). Golden: `reset()` + `run()` of the default model (the event-driven "
        "engine, `spikefab.sim.event_driven`) from the per-step lists of (core, axon) input "
        "pairs, recording the full trace (spikes, u, v, events, ext_out of every neuron and "
        "step) and the output records. Brian2 numpy: its main simulation loop "
        "(`device._last_run_time`), after a warm-up run that does the code generation, "
        "recording spikes only; 'wall' adds the per-run `before_run` set-up. Brian2 C++: "
        "the `cpp_standalone` device (one thread, gcc `-O3 -march=native`), built and run "
        "once as the warm-up; then its binary is run once per repeat: the main loop time "
        "it reports (`results/last_run_info.txt`), and 'wall', the whole process (loading "
        "its arrays included). Spike counts differ by design (float vs fixed point): "
        "reported, not compared.",
        "",
        "| network | mesh | neurons | steps | Brian2 synapses | golden s | golden steps/s "
        "| Brian2 numpy s | **vs numpy** | numpy wall s | vs numpy wall "
        "| Brian2 C++ s | **vs C++** | C++ wall s | vs C++ wall "
        "| golden spikes | numpy spikes | C++ spikes |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        lines.append(
            f"| {r['network']} | {r['mesh']} | {r['neurons']} | {r['steps']} "
            f"| {r['synapses_brian2']:,} | {r['golden_s']:.3f} | {r['golden_steps_per_s']:.0f} "
            f"| {r['brian2_loop_s']:.3f} | **{r['speedup']:.1f}x** | {r['brian2_wall_s']:.3f} "
            f"| {r['speedup_wall']:.1f}x "
            f"| {r['cpp_loop_s']:.3f} | **{r['speedup_cpp']:.1f}x** | {r['cpp_wall_s']:.3f} "
            f"| {r['speedup_cpp_wall']:.1f}x "
            f"| {r['golden_spikes']:,} ({100 * r['golden_rate']:.2f} %/step) "
            f"| {r['brian2_spikes']:,} ({100 * r['brian2_rate']:.2f} %/step) "
            f"| {r['cpp_spikes']:,} |")
    lines += [
        "",
        "One-time set-up, not in the figures above (seconds): "
        + "; ".join(f"{r['network']} {r['mesh']}: golden `NetworkModel(image)` "
                    f"{r['golden_setup_s']:.2f}, Brian2 numpy construction "
                    f"{r['brian2_build_s']:.1f} and warm-up run (code generation) "
                    f"{r['brian2_warmup_s']:.1f}, Brian2 C++ code generation, compilation "
                    f"and first run {r['cpp_build_s']:.1f}"
                    for r in results) + ". The golden engine is compiled by numba once "
        "per machine (cached in `__pycache__`), before these runs.",
        "",
        "## Reading the figures",
        "",
        "The golden model runs on its event-driven engine (docs/network_golden.md): one "
        "compiled loop over the steps that adds only the synapse rows of the axons hit "
        "(exact integer sums), updates the neurons of the cores that are not at rest and "
        "walks the fan-out of the neurons that fired. SPEC §6's 10x over Brian2's numpy "
        f"target is {_met(results, 'speedup')}. Against Brian2's C++ standalone target "
        "(compiled, single-thread, its construction and compilation excluded) the golden "
        "model is "
        + ", ".join(f"{r['speedup_cpp']:.1f}x ({r['network']} {r['mesh']})" for r in results)
        + " as fast, while it also records every u and v of every step, which the Brian2 "
        "runs do not.",
        "",
    ]
    with open(path, "w") as f:
        f.write("\n".join(lines))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--networks", nargs="+", default=list(NETWORKS), choices=list(NETWORKS))
    ap.add_argument("--meshes", type=int, nargs="+", default=[2, 4],
                    help="mesh sides k (k x k cores)")
    ap.add_argument("--steps", type=int, default=1000)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--out", default=os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                                  "results", "golden_vs_brian2"),
                    help="output path without extension (.md and .json are written)")
    args = ap.parse_args(argv)
    try:
        import brian2  # noqa: F401
    except (ImportError, AttributeError) as e:
        sys.exit(f"brian2 is not usable here ({type(e).__name__}: {e}); install the bench "
                 f"extra: pip install -e '.[bench]' (brian2 2.9.0 needs numpy < 2.4)")
    import tempfile
    mach = machine()
    rev = commit()
    command = " ".join(["python", "benchmarks/golden_vs_brian2.py"]
                       + (argv if argv is not None else sys.argv[1:]))
    load0 = os.getloadavg()[0]
    results = []
    with tempfile.TemporaryDirectory(prefix="golden_vs_brian2_") as workdir:
        for kind in args.networks:
            for k in args.meshes:
                r = bench_one(kind, k, args.steps, args.repeats, args.seed, workdir)
                print(f"{kind} {r['mesh']}: golden {r['golden_s']:.3f} s "
                      f"({r['golden_steps_per_s']:.0f} steps/s), Brian2 numpy "
                      f"{r['brian2_loop_s']:.3f} s: {r['speedup']:.1f}x, Brian2 C++ "
                      f"{r['cpp_loop_s']:.3f} s: {r['speedup_cpp']:.1f}x; spikes golden "
                      f"{r['golden_spikes']}, numpy {r['brian2_spikes']}, C++ "
                      f"{r['cpp_spikes']}", flush=True)
                results.append(r)
    load = (load0, os.getloadavg()[0])
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out + ".json", "w") as f:
        json.dump({"machine": mach, "command": command, "commit": rev, "load_avg_1min": load,
                   "results": results}, f, indent=2)
    write_md(args.out + ".md", results, mach, command, load, rev)
    print(f"wrote {args.out}.md and {args.out}.json")


if __name__ == "__main__":
    main()
