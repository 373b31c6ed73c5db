"""Helpers of the array test suites: random networks, and running the RTL beside the golden
network model with every check the array owes (SPEC §3.1, §3.6)."""

import numpy as np

from spikefab.rtl.netimage import EXIT, NetworkImage, RouteTable
from spikefab.sim.network import NetworkModel
from spikefab.sim.runner import run_bench
from spikefab.sim.trace import Trace, first_divergence

from rtl_helpers import lively_image


def random_network(mesh, params, rng, *, fanout=(0, 4), exit_prob=0.2, feedforward=False):
    """A random array image: lively cores, and for every neuron a random fan-out list of
    ``fanout`` (lo, hi) entries to random cores (recurrent, including its own) or, when
    ``feedforward``, only to cores of higher index; random axons (repeats allowed, so an
    axon may be hit twice), random delays 1..max_delay, exit entries with ``exit_prob``."""
    C, N = mesh.cores, params.neurons
    cores = [lively_image(params, rng) for _ in range(C)]
    budget = mesh.route_entries
    routes = []
    for c in range(C):
        fan, used = [], 0
        for n in range(N):
            k = int(rng.integers(fanout[0], fanout[1] + 1))
            targets = []
            for _ in range(k):
                lo = c + 1 if feedforward else 0
                if lo >= C:
                    break
                d = int(rng.integers(lo, C))
                x, y = mesh.core_xy(d)
                targets.append((x, y, int(rng.integers(params.axons)),
                                int(rng.integers(1, params.max_delay + 1))))
            if rng.random() < exit_prob:
                targets.insert(int(rng.integers(len(targets) + 1)), EXIT)
            if used + len(targets) > budget:
                targets = targets[:budget - used]
            used += len(targets)
            fan.append(targets)
        routes.append(RouteTable.from_fanout(mesh, params, fan))
    return NetworkImage(mesh=mesh, cores=cores, routes=routes)


def random_ext_inputs(mesh, params, rng, steps, rate=2.0):
    """Per step a Poisson number of external spikes to random (core, axon)."""
    counts = rng.poisson(rate, steps)
    counts[rng.random(steps) < 0.15] = 0
    return [[(int(rng.integers(mesh.cores)), int(rng.integers(params.axons)))
             for _ in range(k)] for k in counts]


def expected_packets(net, run, inputs, steps):
    """From the golden run: packets injected at each step (external inputs of the step, one
    per routing entry of every neuron that fired) and events accepted by each core between
    the start of step t - 1 and the start of step t (its LAST_EVENTS register at step t:
    routed spikes of step t - 1, any delay, plus the external inputs of step t)."""
    mp, N = net.mesh, net.params.neurons
    C = mp.cores
    spikes = run.trace.spikes.reshape(steps, C, N)
    injected = np.zeros(steps, np.int64)
    accepted = np.zeros((steps, C), np.int64)
    for t in range(steps):
        for c, _ in (inputs[t] if t < len(inputs) else ()):
            accepted[t, c] += 1
            injected[t] += 1
        for c in range(C):
            for n in np.flatnonzero(spikes[t, c]):
                for tgt in net.routes[c].targets(int(n)):
                    injected[t] += 1
                    if tgt != EXIT and t + 1 < steps:
                        accepted[t + 1, mp.core_index(tgt[0], tgt[1])] += 1
    return injected, accepted


def run_and_compare(jobs, simulator, *, baked=False):
    """Run array jobs on the RTL and hold each against the golden network model at zero
    tolerance: every spike, every state value of every neuron at every step, the external
    output records of every neuron at every step, the packets injected and delivered at
    every step (equal at every barrier, and equal to what the golden spikes imply, so no
    packet was lost or duplicated), and the events each core accepted per step."""
    traces = run_bench(jobs, simulator, baked=baked)
    return check_jobs_of(jobs, traces, simulator)


def check_jobs_of(jobs, traces, simulator):
    """:func:`check_job` of every job; every diverging job is reported, not only the
    first. Returns ``traces``."""
    failures = []
    for k, ((net, inputs, steps, _), got) in enumerate(zip(jobs, traces)):
        try:
            check_job(net, inputs, steps, got)
        except AssertionError as e:
            failures.append(f"{simulator}, job {k}: {e}")
    assert not failures, f"{len(failures)} of {len(jobs)} jobs diverged:\n" + "\n".join(failures)
    return traces


def check_job(net, inputs, steps, got):
    run = NetworkModel(net).run(inputs, steps)
    exp = run.trace
    # the golden "events" (events integrated at each step) has no RTL counterpart; the
    # RTL's per-step counts of events accepted are checked below instead
    exp_extra = {n: a for n, a in exp.extra.items() if n != "events"}
    accepted_rtl = np.asarray(got.meta["accepted"], np.int64).reshape(steps, -1)
    e = Trace(exp.spikes, exp.u, exp.v, extra=exp_extra, neurons_per_core=exp.neurons_per_core)
    g = Trace(got.spikes, got.u, got.v, extra=dict(got.extra),
              neurons_per_core=got.neurons_per_core)
    div = first_divergence(e, g)
    assert div is None, str(div)
    injected, accepted = expected_packets(net, run, inputs, steps)
    pin = np.diff(np.concatenate([[0], got.meta["packets_in"]]))
    pout = np.diff(np.concatenate([[0], got.meta["packets_out"]]))
    bad = np.flatnonzero((pin != injected) | (pout != injected))
    assert not bad.size, (f"step {bad[0]}: {injected[bad[0]]} packets expected, "
                          f"{pin[bad[0]]} injected and {pout[bad[0]]} delivered")
    diff = np.argwhere(accepted_rtl != accepted)
    assert not diff.size, (f"step {diff[0][0]}, core {diff[0][1]}: accepted "
                           f"{accepted_rtl[tuple(diff[0])]} events, expected "
                           f"{accepted[tuple(diff[0])]}")
    assert got.meta["status"] == 0, f"array status {got.meta['status']}"
    overflow = [s for s in got.meta["core_status"] if s]
    assert not overflow, f"core status {got.meta['core_status']}"


def run_generated(out_dir, jobs, simulator):
    """Run array jobs, with no load, on the tiled Verilog ``generate`` wrote into
    ``out_dir`` (top module ``spikefab_mesh``; the macro ``SPIKEFAB_MEM_DIR`` set to
    ``out_dir``, so the tiles read their memory files from there), and hold each against the golden network
    model as :func:`run_and_compare` does."""
    from pathlib import Path
    from spikefab.sim import runner
    out_dir = Path(out_dir).resolve()
    text = (out_dir / f"{runner.MESH_TOPLEVEL}.v").read_text()
    decl = '`define SPIKEFAB_MEM_DIR ""'
    assert text.count(decl) == 1, "the Verilog has no SPIKEFAB_MEM_DIR macro"
    text = text.replace(decl, f'`define SPIKEFAB_MEM_DIR "{out_dir}/"')
    model_paths, defines = runner.sim_models(jobs[0][0].params)
    bdir = runner.build_verilog(text, simulator, toplevel=runner.MESH_TOPLEVEL,
                                models=model_paths, defines=defines)
    traces, errors = runner._run_group(bdir, jobs, simulator, True, True, False)
    assert not errors, errors
    return check_jobs_of(jobs, traces, simulator)
