"""Clocks per step of the many-core array: activity, mesh size, link throughput.

Measures on the generated Verilog of the array (Verilator, through the cocotb bench
``spikefab.sim.benches.mesh_bench``; no external input, no back-pressure), with networks
of controlled activity: in every core exactly ``k`` neurons fire at every step (a bias far
over threshold, non-negative weights into them) and the others never fire (threshold at its
maximum, no bias, non-positive weights into them); each firing neuron has a fan-out list of
``f`` packets (random axons, delays 1..max_delay, no external-output entries). So every
step carries the same traffic, ``C * k * f`` packets, and the events each core integrates,
the packets on each link, are known exactly from the routing tables. Destination patterns:

* ``local``: every packet goes back to its own core (it never leaves the router);
* ``uniform``: each packet to a core drawn uniformly (independently) from the whole array;
* ``balanced``: uniform random destinations, shuffled so that every core receives exactly
  ``k * f`` packets (no load imbalance: isolates the cost of hops and contention);
* ``neighbour``: every packet to the next core along x (``(x + 1) mod W``): one link each;
* ``bisection``: every packet to a uniform random core of the other half of the array
  (west half <-> east half): the bisection links carry twice an average core's load.

Parts:

(a) 2 x 2 array, N = 16 and N = 32, f = 4, k swept, patterns local / neighbour / uniform:
    clocks per step against the events of the busiest core; a least-absolute-deviation fit
    ``clocks = base + a*N + b*E_max*N/lanes + c*L_max`` (E_max: events taken by the
    busiest core, L_max: packets over the busiest router-to-router link; the ordinary
    least-squares one is given too) and the model ``clocks = T_empty + (E_max - 1)*N/lanes``
    (T_empty: the measured clocks of a step without spikes) against every measurement;
(b) 1 x 1 .. 4 x 4 arrays at fixed activity (k = 8 and 16 of N = 16, f = 4), patterns local,
    balanced and uniform: what the barrier and the hops cost on top of the model;
(c) the busiest link's packets per clock during a step, against the limit of one packet
    per clock (and the busiest core's input, against its limit of lanes / N events per
    clock), including the bisection pattern on 4 x 4;
(d) the steps that cost more than the model: the same 3 x 3 networks with router FIFOs of
    depth 16 instead of 4, and a probe (a cocotb test in this file, run by the simulator on
    the array's internal signals) of each core's event input: clocks in which the core
    could take an event and none was offered, within the span of its deliveries; then a
    few steps back to back (``start`` held high), barrier to barrier, against the clocks
    the array counts for them.

Every run is held against the golden network model (spikes, u, v, external output: bit-exact)
and the packets injected at each step against the routing tables. Measured figures only:
nothing here asserts a speed.

Usage: python benchmarks/mesh_cycles.py [--build-root DIR]   (from the repository root;
writes benchmarks/results/mesh_cycles.{json,md}; builds are cached in DIR, default build/sim)
"""

import json
import os
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np

from spikefab.rtl.image import CoreImage
from spikefab.rtl.neuron import DATAPATHS
from spikefab.rtl.netimage import NetworkImage, RouteTable
from spikefab.rtl.params import CoreParams, MeshParams

import _provenance  # noqa: E402  (benchmarks/ is on sys.path)

ROOT = Path(__file__).resolve().parent
SIMULATOR = "verilator"
SEED = 2026
STEPS = 3                   # every step of a job carries the same traffic
F = 4                       # fan-out of a firing neuron
CORE16 = CoreParams(neurons=16, axons=32, lanes=4, max_delay=2)
CORE32 = CoreParams(neurons=32, axons=32, lanes=4, max_delay=2)
K_SWEEP = [0, 1, 2, 4, 6, 8, 12, 16]
SIZES = [1, 2, 3, 4]
SIZE_K = [8, 16]
BACK_TO_BACK = 3          # steps run back to back at the end of each probe job


def mesh(side, fifo_depth=4):
    return MeshParams(width=side, height=side, route_entries=64, fifo_depth=fifo_depth)


# --- networks of controlled activity ----------------------------------------------------------

def destinations(mp, k, f, pattern, rng):
    """Per core, the destination core of each of its ``k * f`` packets (in fan-out order)."""
    C, W = mp.cores, mp.width
    P = k * f
    if pattern == "local":
        return [[c] * P for c in range(C)]
    if pattern == "uniform":
        return [rng.integers(0, C, P).tolist() for _ in range(C)]
    if pattern == "balanced":
        pool = np.repeat(np.arange(C), P)
        rng.shuffle(pool)
        return [pool[c * P:(c + 1) * P].tolist() for c in range(C)]
    if pattern == "neighbour":
        return [[mp.core_index((mp.core_xy(c)[0] + 1) % W, mp.core_xy(c)[1])] * P
                for c in range(C)]
    if pattern == "bisection":
        west = [c for c in range(C) if mp.core_xy(c)[0] < W // 2]
        east = [c for c in range(C) if mp.core_xy(c)[0] >= W // 2]
        return [rng.choice(east if c in west else west, P).tolist() for c in range(C)]
    raise ValueError(pattern)


def controlled_network(mp, p, k, f, pattern, seed):
    """A network in which exactly ``k`` neurons of every core fire at every step, each
    sending ``f`` packets to the cores of ``pattern``. Returns (image, destinations)."""
    rng = np.random.default_rng(seed)
    C, N = mp.cores, p.neurons
    lo, hi = p.weight_range
    cores, firing = [], []
    for _ in range(C):
        img = CoreImage.random(p, rng, density=0.5)
        fire = np.zeros(N, bool)
        fire[rng.choice(N, k, replace=False)] = True
        par = {"bias_mant": np.where(fire, 4095, 0), "bias_exp": np.where(fire, 7, 0),
               "vth": np.where(fire, rng.integers(0, 1000, N), 131071)}
        w = np.abs(img.weights)
        img = img.replace(neuron_params=par,
                          weights=np.where(fire[None, :], np.minimum(w, hi), -np.minimum(w, -lo)),
                          state={name: np.zeros_like(a) for name, a in img.state.items()})
        cores.append(img)
        firing.append(fire)
    dest = destinations(mp, k, f, pattern, rng)
    routes = []
    for c in range(C):
        it = iter(dest[c])
        fan = []
        for n in range(N):
            targets = []
            if firing[c][n]:
                for _ in range(f):
                    x, y = mp.core_xy(int(next(it)))
                    targets.append((x, y, int(rng.integers(p.axons)),
                                    int(rng.integers(1, p.max_delay + 1))))
            fan.append(targets)
        routes.append(RouteTable.from_fanout(mp, p, fan))
    return NetworkImage(mesh=mp, cores=cores, routes=routes), dest


def traffic(mp, dest):
    """Per step: events into each core, packets over each directed router-to-router link
    (XY routing: along x first, then y)."""
    events = np.zeros(mp.cores, np.int64)
    links = Counter()
    for c, ds in enumerate(dest):
        sx, sy = mp.core_xy(c)
        for d in ds:
            dx, dy = mp.core_xy(d)
            x, y = sx, sy
            while x != dx:
                nx = x + (1 if dx > x else -1)
                links[(x, y), (nx, y)] += 1
                x = nx
            while y != dy:
                ny = y + (1 if dy > y else -1)
                links[(x, y), (x, ny)] += 1
                y = ny
            events[d] += 1
    if links:
        (a, b), lmax = links.most_common(1)[0]
        busiest = f"({a[0]},{a[1]})->({b[0]},{b[1]})"
    else:
        lmax, busiest = 0, "—"
    return {"events": events.tolist(), "e_max": int(events.max()), "e_mean": float(events.mean()),
            "l_max": int(lmax), "busiest_link": busiest,
            "inj_max": int(max(len(ds) for ds in dest))}


# --- running ----------------------------------------------------------------------------------

def check_against_golden(net, steps, got, per_step_packets):
    """The RTL run must be bit-exact with the golden network model (spikes, u, v, every
    extra but the golden-only ``events``), and inject the packets the tables imply."""
    from spikefab.sim.network import NetworkModel
    from spikefab.sim.trace import Trace, first_divergence
    exp = NetworkModel(net).run([], steps).trace
    common = (set(exp.extra) & set(got.extra)) - {"events"}
    e = Trace(exp.spikes, exp.u, exp.v, extra={n: exp.extra[n] for n in common},
              neurons_per_core=exp.neurons_per_core)
    g = Trace(got.spikes, got.u, got.v, extra={n: got.extra[n] for n in common},
              neurons_per_core=got.neurons_per_core)
    div = first_divergence(e, g)
    if div is not None:
        raise AssertionError(f"RTL and golden model differ: {div}")
    pin = np.diff(np.concatenate([[0], got.meta["packets_in"]]))
    if not (pin == per_step_packets).all():
        raise AssertionError(f"packets injected per step {pin.tolist()}, expected "
                             f"{per_step_packets} (from the routing tables)")


BUILDS = {}                 # design -> seconds of build_mesh (emit + compile, or emit only)
BUILD_ROOT = "build/sim"    # --build-root: another folder times the builds from cold


def timed_build(mp, p):
    """Build (or find in the cache) the design of ``mp``, ``p``, timing it the first time."""
    from spikefab.sim.runner import blank_network, build_blank
    key = (f"{mp.width}×{mp.height} N={p.neurons} FIFO {mp.fifo_depth}")
    t0 = time.perf_counter()
    bdir = build_blank(blank_network(mp, p), SIMULATOR, root=BUILD_ROOT)
    BUILDS.setdefault(key, time.perf_counter() - t0)
    return bdir


def run_cases(cases, bar):
    """Run cases (dicts with mesh, params, k, f, pattern, seed) of one design in one
    simulator process; fill in the measured clocks and the traffic."""
    from spikefab.sim.runner import Stimulus, run_bench
    timed_build(cases[0]["mesh"], cases[0]["params"])
    jobs = []
    for case in cases:
        net, dest = controlled_network(case["mesh"], case["params"], case["k"], case["f"],
                                       case["pattern"], case["seed"])
        case.update(traffic(case["mesh"], dest))
        case["_net"] = net
        jobs.append((net, [], STEPS, Stimulus(readback=False)))
    traces = run_bench(jobs, SIMULATOR, root=BUILD_ROOT)
    for case, (net, *_), got in zip(cases, jobs, traces):
        mp, p, k = case["mesh"], case["params"], case["k"]
        spk = got.spikes.reshape(STEPS, mp.cores, p.neurons).sum(2)
        if not (spk == k).all():
            raise AssertionError(f"{describe(case)}: spikes per core per step {spk.tolist()}, "
                                 f"expected {k} everywhere")
        check_against_golden(net, STEPS, got, mp.cores * k * case["f"])
        accepted = got.meta.get("accepted")     # LAST_EVENTS: the events of the step before
        if accepted is not None and STEPS > 1:
            acc = np.asarray(accepted)[1:]
            if not (acc == np.asarray(case["events"])[None, :]).all():
                raise AssertionError(f"{describe(case)}: events taken per core "
                                     f"{acc.tolist()}, expected {case['events']}")
        cyc = np.asarray(got.meta["cycles"], float)
        case["cycles_all"] = cyc.astype(int).tolist()
        case["cycles"] = float(cyc.mean())
        del case["_net"]
    bar.update(1)
    return cases


def describe(case):
    mp, p = case["mesh"], case["params"]
    return (f"{mp.width}x{mp.height} N={p.neurons} fifo={mp.fifo_depth} {case['pattern']} "
            f"k={case['k']} f={case['f']}")


def structural(case, empty):
    """The model: ``empty + (E_max - 1) * N / lanes`` for a step in which the busiest core
    takes E_max > 0 events, ``empty`` (the measured clocks of a step without spikes) for one
    without. The first event is taken while the core's own step finishes (it overlaps the
    clocks of the empty step); each further one waits for the one before (N / lanes
    clocks); the barrier comes when the last one is taken."""
    p = case["params"]
    return empty + max(0, case["e_max"] - 1) * p.words_per_row


def lad_fit(X, y, iters=500):
    """Least-absolute-deviation fit (iteratively reweighted least squares): robust to the
    few steps that contention makes longer, which then stand out in the residuals."""
    beta = np.linalg.lstsq(X, y, rcond=None)[0]
    for _ in range(iters):
        w = 1.0 / np.sqrt(np.maximum(np.abs(y - X @ beta), 1e-6))
        beta = np.linalg.lstsq(X * w[:, None], y * w, rcond=None)[0]
    return beta


# --- the probe of (d): a cocotb test run by the simulator on this very file -------------------

try:
    import cocotb
except ImportError:           # the probe needs cocotb; the benchmark runs it through the runner
    cocotb = None

if cocotb is not None:
    @cocotb.test()
    async def probe_jobs(dut):
        """The mesh bench's jobs, with a sampler of every tile's event input while a step
        runs: per clock, packet offered (``i_pkt.valid``), core ready for an event
        (``core.events.ready``), packet delivered."""
        from cocotb.triggers import ReadOnly, RisingEdge
        from spikefab.firmware.host import Host
        from spikefab.sim.benches import mesh_bench as mb
        from spikefab.sim.benches.jobs import BenchTB

        async def sample(mp, log):
            tiles = []
            for c in range(mp.cores):
                x, y = mp.core_xy(c)
                t = getattr(dut, f"tile_{x}_{y}")
                tiles.append((t.i_pkt__valid, t.core.events__ready, t.delivered))
            while True:
                await RisingEdge(dut.clk)
                await ReadOnly()
                if dut.running.value == 1 or dut.start_req.value == 1:
                    log.append([int(s.value) for tile in tiles for s in tile])

        job_dir = Path(os.environ["SPIKEFAB_JOBS"])
        jobs = json.loads((job_dir / "jobs.json").read_text())
        tb = BenchTB(dut)
        for j, job in enumerate(jobs):
            net, inputs = mb.load_job(job_dir, job)
            log = []
            task = cocotb.start_soon(sample(net.mesh, log))
            trace = await mb.run_job(tb, net, inputs, job["steps"], job["stimulus"], False)
            task.cancel()
            trace.save(job_dir / job["trace"])
            np.save(job_dir / f"probe{j}.npy", np.array(log, np.int8).reshape(len(log), -1))
            # then steps back to back: one STEP command of several steps, so each step starts
            # as soon as the last one has reached its barrier; clocks from DONE record to
            # DONE record, and the clocks the array counted for each of those steps
            host = Host.for_image(tb.transport, net)
            await tb.transport.send([host.codec.step(BACK_TO_BACK + 1)])
            dones, counted = [], []
            for _ in range(BACK_TO_BACK + 1):
                res = await host.collect_step()
                dones.append(tb.transport.last_cycle)
                counted.append(res.counters.cycles)
            (job_dir / f"b2b{j}.json").write_text(json.dumps(
                {"periods": np.diff(dones).tolist(), "counted": counted[1:]}))


def probe(cases, bar):
    """Run one-step jobs under :func:`probe_jobs`; per case and core, the clocks within the
    span of the core's deliveries in which it was ready for an event and none was offered."""
    import shutil
    from spikefab.sim.network import encode_network_inputs
    from spikefab.sim.runner import Stimulus, new_run_dir, run_cocotb, MESH_TOPLEVEL
    mp, p = cases[0]["mesh"], cases[0]["params"]
    bdir = timed_build(mp, p)
    run_dir = new_run_dir(bdir)
    manifest = []
    for j, case in enumerate(cases):
        net, dest = controlled_network(mp, p, case["k"], case["f"], case["pattern"], case["seed"])
        case.update(traffic(mp, dest))
        net.save(run_dir / f"image{j}.npz")
        np.savez(run_dir / f"inputs{j}.npz", **encode_network_inputs([], 1))
        manifest.append({"image": f"image{j}.npz", "inputs": f"inputs{j}.npz", "steps": 1,
                         "trace": f"trace{j}.npz",
                         "stimulus": Stimulus(readback=False).__dict__})
    (run_dir / "jobs.json").write_text(json.dumps(manifest))
    path = os.pathsep.join([str(ROOT)] + [q for q in [os.environ.get("PYTHONPATH")] if q])
    run_cocotb(bdir, SIMULATOR, toplevel=MESH_TOPLEVEL, bench_module=Path(__file__).stem,
               run_dir=run_dir, extra_env={"SPIKEFAB_JOBS": str(run_dir), "PYTHONPATH": path})
    from spikefab.sim.trace import Trace
    for j, case in enumerate(cases):
        net = NetworkImage.load(run_dir / f"image{j}.npz")
        check_against_golden(net, 1, Trace.load(run_dir / f"trace{j}.npz"),
                             mp.cores * case["k"] * case["f"])
        log = np.load(run_dir / f"probe{j}.npy").astype(int).reshape(-1, mp.cores, 3)
        offered, ready, delivered = log[..., 0], log[..., 1], log[..., 2]
        starved, last = [], []
        for c in range(mp.cores):
            d = np.flatnonzero(delivered[:, c])
            if not d.size:
                starved.append(0)
                last.append(-1)
                continue
            span = slice(d[0], d[-1] + 1)
            starved.append(int(((ready[span, c] == 1) & (offered[span, c] == 0)).sum()))
            last.append(int(d[-1]))
        case["probe_clocks"] = int(len(log))
        case["starved"] = starved
        crit = int(np.argmax(last))            # the core whose last event came last
        case["critical_core"] = crit
        case["critical_events"] = int(case["events"][crit])
        case["critical_starved"] = starved[crit]
        b2b = json.loads((run_dir / f"b2b{j}.json").read_text())
        case["b2b_periods"] = b2b["periods"]
        case["b2b_counted"] = b2b["counted"]
    shutil.rmtree(run_dir, ignore_errors=True)
    bar.update(1)
    return cases


# --- report -----------------------------------------------------------------------------------

def machine():
    return _provenance.machine(**_provenance.simulator_versions())


def public(case):
    out = {k: v for k, v in case.items() if k not in ("mesh", "params")}
    out["mesh"] = case["mesh"].to_dict()
    out["neurons"], out["lanes"] = case["params"].neurons, case["params"].lanes
    return out


def main():
    import argparse
    from tqdm import tqdm
    global BUILD_ROOT
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build-root", default=BUILD_ROOT,
                    help="folder of the Verilator builds (default %(default)s; an empty one "
                         "times the builds from cold)")
    BUILD_ROOT = ap.parse_args().build_root
    t_start = time.perf_counter()
    seeds = iter(range(SEED, SEED + 10_000))

    def case(side, p, k, pattern, fifo_depth=4):
        return {"mesh": mesh(side, fifo_depth), "params": p, "k": k, "f": F,
                "pattern": pattern, "seed": next(seeds)}

    runs = []          # (part, cases, how): one simulator process each
    for p in (CORE16, CORE32):
        for pattern in ("local", "neighbour", "uniform"):
            runs.append(("a", [case(2, p, k, pattern) for k in K_SWEEP], run_cases))
    for side in SIZES:
        cs = [case(side, CORE16, k, pattern) for k in SIZE_K
              for pattern in ("local", "balanced", "uniform")]
        if side == 4:
            cs += [case(side, CORE16, k, "bisection") for k in SIZE_K]
        runs.append(("b", cs, run_cases))
    planned = {part: [c for q, cs, _ in runs if q == part for c in cs] for part in "ab"}

    def pick(part, side, p, k, patterns):
        """Copies of planned cases (same seeds: the same networks)."""
        return [dict(c) for c in planned[part] if c["mesh"].width == side
                and c["params"] == p and c["k"] in k and c["pattern"] in patterns]

    three = pick("b", 3, CORE16, [16], ("balanced", "uniform"))
    runs.append(("d", [dict(c, mesh=mesh(3, 16)) for c in three], run_cases))
    runs.append(("probe", pick("a", 2, CORE16, [4, 16], ("local",))
                 + pick("a", 2, CORE16, [16], ("uniform",)), probe))
    runs.append(("probe", pick("a", 2, CORE32, [16], ("local",)), probe))
    runs.append(("probe", three, probe))
    runs.append(("probe", pick("b", 4, CORE16, [16], ("balanced", "uniform")), probe))

    results = {}
    with tqdm(total=len(runs), desc="mesh runs (one simulator process each)") as bar:
        for part, cs, how in runs:
            t0 = time.perf_counter()
            how(cs, bar)
            for c in cs:
                c["run_seconds"] = time.perf_counter() - t0
            results.setdefault(part, []).extend(cs)
    a, b, d, pr = results["a"], results["b"], results["d"], results["probe"]
    measured = {c["seed"]: c for c in a + b}

    # --- the model and the fit -------------------------------------------------------------
    lat = DATAPATHS[CORE16.model].LATENCY
    empty = {p.neurons: [c["cycles"] for c in a if c["e_max"] == 0 and c["params"] == p]
             for p in (CORE16, CORE32)}
    t_empty = {n: float(np.mean(v)) for n, v in empty.items()}
    for c in a + b + d + pr:
        p = c["params"]
        c["model"] = structural(c, t_empty[p.neurons])
        if "cycles" in c:
            c["excess"] = c["cycles"] - c["model"]
            upd = p.neurons + DATAPATHS[p.model].LATENCY
            c["link_per_clock"] = c["l_max"] / c["cycles"]
            c["link_per_clock_after_update"] = c["l_max"] / max(1.0, c["cycles"] - upd)
            c["input_per_clock"] = c["e_max"] / c["cycles"]
            c["input_limit"] = p.lanes / p.neurons
    busy = [c for c in a if c["e_max"] > 0]

    def row(c):
        return [1.0, c["params"].neurons, c["e_max"] * c["params"].words_per_row, c["l_max"]]

    X = np.array([row(c) for c in busy])
    y = np.array([c["cycles"] for c in busy])
    coef = lad_fit(X, y)
    ols = np.linalg.lstsq(X, y, rcond=None)[0]
    for c in busy:
        c["fit"] = float(np.array(row(c)) @ coef)
    fit_resid = y - X @ coef
    model_resid = np.array([c["excess"] for c in a + b])

    mach = machine()
    wall = time.perf_counter() - t_start
    cmd = " ".join([".venv/bin/python", "benchmarks/mesh_cycles.py"] + sys.argv[1:])
    result = {
        "command": cmd, "machine": mach, "wall_seconds": wall, "steps_per_job": STEPS,
        "build_seconds": BUILDS,
        "core_params": {str(p.neurons): {"neurons": p.neurons, "axons": p.axons,
                                          "lanes": p.lanes, "max_delay": p.max_delay,
                                          "model": p.model, "latency": lat}
                        for p in (CORE16, CORE32)},
        "empty_step_clocks": {str(n): v for n, v in empty.items()},
        "model": "clocks = empty step + (E_max - 1) * N / lanes",
        "fit_lad": {"base": coef[0], "a_per_neuron": coef[1], "b_per_event_word": coef[2],
                    "c_per_link_packet": coef[3], "points": len(busy),
                    "median_abs_residual": float(np.median(np.abs(fit_resid))),
                    "max_abs_residual": float(np.abs(fit_resid).max())},
        "fit_least_squares": {"base": ols[0], "a_per_neuron": ols[1],
                              "b_per_event_word": ols[2], "c_per_link_packet": ols[3]},
        "a": [public(c) for c in a], "b": [public(c) for c in b],
        "d_fifo16": [public(c) for c in d], "probe": [public(c) for c in pr],
    }
    out = ROOT / "results"
    out.mkdir(exist_ok=True)
    (out / "mesh_cycles.json").write_text(json.dumps(result, indent=1, default=float) + "\n")

    # --- markdown ---------------------------------------------------------------------------
    p16 = CORE16
    exact = int((np.abs(model_resid) < 0.5).sum())
    md = ["# Clocks per step of the array: activity, mesh size, link throughput (measured)", "",
          f"Command: `{cmd}` (from the repository root): {wall / 60:.1f} minutes wall time. "
          f"Verilator builds (one per design, cached in {BUILD_ROOT} by a hash of the "
          "Verilog; the time of a cached one is the Verilog emission only): "
          + ", ".join(f"{k} {v:.0f} s" for k, v in BUILDS.items()) + ".", "",
          f"Machine: {mach['nproc']} cores ({mach['cpu']}, {mach['machine']}), Python "
          f"{mach['python']}, {mach['simulator']}, cocotb {mach['cocotb']}, Amaranth "
          f"{mach['amaranth']}.", "",
          f"Cores: cuba, N = 16 or 32 neurons, A = {p16.axons} axons, lanes = {p16.lanes}, "
          f"max_delay = {p16.max_delay} (datapath latency {lat}); routing tables of 64 "
          "entries; router FIFOs of depth 4 unless said. In every core exactly k neurons fire "
          f"at every step, each with a fan-out of f = {F} packets (random axons, delays 1..2); "
          f"no external input or output, no back-pressure. {STEPS} steps per network, all "
          "with the same traffic: their clocks were equal in every run unless a range is "
          "shown. Every run was bit-exact with the golden network model (spikes, u, v, "
          "external output), fired exactly k neurons per core per step and injected exactly "
          "C·k·f packets per step. Clocks: `meta[\"cycles\"]`, from a step's start to its "
          "barrier, as the array counts them (`last_cycles`). Cycle counts of the RTL, "
          "independent of the host's speed.", "",
          "E_max: events taken by the busiest core in the step; L_max: packets over the "
          "busiest router-to-router link (XY routes of the tables' packets).", "",
          "Model: **clocks = T_empty + (E_max − 1) · N/lanes**, with T_empty the measured "
          f"clocks of a step without spikes: {_fmt_set(empty[16])} at N = 16, "
          f"{_fmt_set(empty[32])} at N = 32, i.e. N + latency + "
          f"{_fmt_set([e - 16 - lat for e in empty[16]])}. It is exact (±0) for "
          f"{exact} of the {len(model_resid)} configurations of (a) and (b).", "",
          "## (a) 2 × 2 array: clocks per step against activity", "",
          f"Least-absolute-deviation fit over the {len(busy)} configurations with spikes, in "
          f"the form base + a·N + b·E_max·N/lanes + c·L_max: base = {coef[0]:.2f}, "
          f"a = {coef[1]:.3f}, b = {coef[2]:.3f}, c = {coef[3]:.4f} (median |residual| "
          f"{np.median(np.abs(fit_resid)):.2f}, max {np.abs(fit_resid).max():.1f} clocks). "
          f"Ordinary least squares, pulled by the contended steps: base = {ols[0]:.2f}, "
          f"a = {ols[1]:.3f}, b = {ols[2]:.3f}, c = {ols[3]:.4f}.", "",
          "| N | pattern | k | spikes/step | packets/step | E_max | L_max | clocks | model | "
          "measured − model | fit |", "|---|---|---|---|---|---|---|---|---|---|---|"]
    for c in a:
        md.append(f"| {c['params'].neurons} | {c['pattern']} | {c['k']} | "
                  f"{c['mesh'].cores * c['k']} | {c['mesh'].cores * c['k'] * c['f']} | "
                  f"{c['e_max']} | {c['l_max']} | {_cyc(c)} | {_opt(c['model'])} | "
                  f"{_opt(c['excess'], sign=True)} | {_opt(c.get('fit'), 1)} |")
    md += ["", "## (b) clocks per step against mesh size (N = 16, f = 4)", "",
           "Same per-core activity at every size. `local`: every packet to its own core; "
           "`balanced`: uniform random destinations, every core receiving exactly k·f "
           "events; `uniform`: independent uniform destinations (the busiest core gets more "
           "than k·f); `bisection` (4 × 4): to a random core of the other half (x < 2 <-> "
           "x >= 2). On a 1 × 1 array every pattern is local.", "",
           "| mesh | pattern | k | packets/step | E_max | E_mean | L_max | busiest link | "
           "clocks | model | measured − model |",
           "|---|---|---|---|---|---|---|---|---|---|---|"]
    for c in sorted(b, key=lambda c: (c["k"], c["pattern"], c["mesh"].width)):
        md.append(f"| {c['mesh'].width}×{c['mesh'].height} | {c['pattern']} | {c['k']} | "
                  f"{c['mesh'].cores * c['k'] * c['f']} | {c['e_max']} | {c['e_mean']:.1f} | "
                  f"{c['l_max']} | {c['busiest_link']} | {_cyc(c)} | {_opt(c['model'])} | "
                  f"{_opt(c['excess'], sign=True)} |")
    md += ["", "## (c) the busiest link and the busiest core's input, per clock", "",
           "Packets over the busiest router-to-router link per clock of the step, and per "
           "clock after the update (clocks − N − latency, the part of the step in which cores "
           "take events); the limit of a link is 1 packet per clock. The busiest core's input "
           f"in events per clock of the step, against its limit lanes/N = "
           f"{p16.lanes / p16.neurons:g} (one event per N/lanes clocks). L_max/E_max: a link "
           "would limit the step only if this exceeded N/lanes (here 4). N = 16, f = 4, "
           "k = 16.", "",
           "| mesh | pattern | L_max | E_max | L_max/E_max | clocks | link pkt/clock (step) | "
           "link pkt/clock (after update) | link limit | core events/clock | core limit |",
           "|---|---|---|---|---|---|---|---|---|---|---|"]
    for c in sorted([c for c in b if c["k"] == 16 and c["l_max"] > 0] +
                    [c for c in a if c["k"] == 16 and c["params"] == CORE16
                     and c["pattern"] == "neighbour"],
                    key=lambda c: (c["mesh"].width, c["pattern"])):
        md.append(f"| {c['mesh'].width}×{c['mesh'].height} | {c['pattern']} | {c['l_max']} | "
                  f"{c['e_max']} | {c['l_max'] / c['e_max']:.2f} | {_cyc(c)} | "
                  f"{c['link_per_clock']:.3f} | {c['link_per_clock_after_update']:.3f} | 1 | "
                  f"{c['input_per_clock']:.3f} | {c['input_limit']:g} |")
    md += ["", "## (d) steps above the model", "",
           "The 3 × 3 networks of (b) with k = 16, rebuilt with router FIFOs of depth 16 "
           "instead of 4 (same seeds, same tables):", "",
           "| mesh | pattern | k | E_max | clocks, FIFO 4 | clocks, FIFO 16 | model |",
           "|---|---|---|---|---|---|---|"]
    for c in d:
        md.append(f"| 3×3 | {c['pattern']} | {c['k']} | {c['e_max']} | "
                  f"{_cyc(measured[c['seed']])} | {_cyc(c)} | {_opt(c['model'])} |")
    md += ["", "Probe: the same networks (FIFO depth 4) run again under a cocotb test of this "
           "file that samples every tile's event input each clock of one step. *Idle*: clocks "
           "between a core's first and last event in which it was ready for an event and no "
           "packet was offered; given for the core whose last event came last (the one that "
           "sets the barrier). Then "
           f"{BACK_TO_BACK} steps back to back (`start` held high): clocks from barrier to "
           "barrier, against the clocks the array counted for those steps.", "",
           "| mesh | N | pattern | k | E_max | clocks (a/b) | measured − model | last core (its "
           "E) | its idle clocks | idle clocks, every core | back to back: clocks per step | "
           "counted by the array |", "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for c in pr:
        m = measured[c["seed"]]
        md.append(f"| {c['mesh'].width}×{c['mesh'].height} | {c['params'].neurons} | "
                  f"{c['pattern']} | {c['k']} | {c['e_max']} | {_cyc(m)} | "
                  f"{_opt(m['excess'], sign=True)} | {c['critical_core']} "
                  f"({c['critical_events']}) | {c['critical_starved']} | "
                  f"{', '.join(map(str, c['starved']))} | "
                  f"{_fmt_set(c['b2b_periods'])} | {_fmt_set(c['b2b_counted'])} |")
    md += ["", "Back to back the array counts, for each step, the clocks from its start to its "
           "barrier as above; a step that follows a step with events starts with the "
           "integration of that step's last event, which the bench's pause between steps "
           "otherwise absorbs.", "",
           "See docs/array_performance.md for what the numbers mean."]
    (out / "mesh_cycles.md").write_text("\n".join(md) + "\n")
    print("\n".join(md))


def _fmt_set(values):
    vals = sorted(set(int(round(v)) for v in values))
    return "/".join(map(str, vals)) if vals else "—"


def _cyc(c):
    lo, hi = min(c["cycles_all"]), max(c["cycles_all"])
    return f"{lo}" if lo == hi else f"{c['cycles']:.1f} ({lo}..{hi})"


def _opt(v, digits=0, sign=False):
    if v is None:
        return "—"
    return f"{v:+.{digits}f}" if sign else f"{v:.{digits}f}"

if __name__ == "__main__":
    sys.exit(main())
