"""RTL simulation speed: the cocotb bench against the fast run mode, on Verilator and Icarus,
and the bare Verilated model driven by a C++ loop (the limit), side by side in one run.

Jobs: the 256 x 256 ``cuba`` core (4-bit weights, 4 lanes; 100 steps, 5 input events a step)
and a 2 x 2 array of 64 x 64 cores (100 steps, 5 external events a step), each loaded over the
host interface, no read-back. For every runner the same job runs once, its build made
beforehand (build and Verilog emission not timed; the fast build's time is reported apart). Clocks per second count the clocks of the
steps (from a step's first command to its ``DONE`` record, as the benches report them in
``meta["cycles"]``) over the wall time of the run (load included), the measure of issue 12.
The fast mode's and the bare loop's speed over all the clocks they simulate (load included) is
also given: the bare loop runs exactly as many clocks as the fast run, presenting the same
command words, with no output at all.

Usage: python benchmarks/rtl_speed.py [--quick]   (writes benchmarks/results/rtl_speed.{json,md};
``--quick``: 20 steps, for a smoke run)
"""

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from spikefab.rtl.image import CoreImage
from spikefab.rtl.netimage import NetworkImage, RouteTable
from spikefab.rtl.params import CoreParams, MeshParams
from spikefab.sim.fast import FastDesign
from spikefab.sim.fast.harness import bare_loop_cpp, build_fast, ports_for
from spikefab.sim.fast.plan import plan_job
from spikefab.sim.runner import (Stimulus, blank_image, build_blank, emit_verilog, run_bench,
                                 toplevel_for)

import _provenance  # noqa: E402  (benchmarks/ is on sys.path)

ROOT = Path(__file__).resolve().parent
CORE = CoreParams(neurons=256, axons=256, weight_bits=4, lanes=4)
ARRAY_CORE = CoreParams(neurons=64, axons=64, weight_bits=4, lanes=4, max_delay=2)
MESH = MeshParams(width=2, height=2, route_entries=128, fifo_depth=2)
EVENTS = 5


def core_job(rng, steps):
    img = CoreImage.random(CORE, rng)
    return img, [rng.integers(0, CORE.axons, EVENTS).tolist() for _ in range(steps)]


def array_job(rng, steps):
    cores = [CoreImage.random(ARRAY_CORE, rng) for _ in range(MESH.cores)]
    routes = []
    for c in range(MESH.cores):
        fan = [[(*MESH.core_xy(int(rng.integers(MESH.cores))), int(rng.integers(64)), 1)]
               if n % 2 == 0 else [] for n in range(ARRAY_CORE.neurons)]
        routes.append(RouteTable.from_fanout(MESH, ARRAY_CORE, fan))
    net = NetworkImage(mesh=MESH, cores=cores, routes=routes)
    inputs = [[(int(rng.integers(MESH.cores)), int(rng.integers(ARRAY_CORE.axons)))
               for _ in range(EVENTS)] for _ in range(steps)]
    return net, inputs


def time_cocotb(image, inputs, steps, sim):
    build_blank(image, sim)
    t0 = time.perf_counter()
    build_blank(image, sim)                 # the emission run_bench repeats: not timed
    emit = time.perf_counter() - t0
    t0 = time.perf_counter()
    (tr,) = run_bench([(image, inputs, steps, Stimulus(readback=False))], sim)
    return tr, time.perf_counter() - t0 - emit


def time_fast(image, inputs, steps, sim):
    """The first run of the image, and a second run of it with the same inputs (what a
    test set costs per run: the build is there and the image's load words are cached), with
    where the second run's time went (:attr:`FastDesign.timings`, and the CPU seconds of
    Python and of the simulator process). The build (cached beforehand) is timed apart."""
    t0 = time.perf_counter()
    design = FastDesign(image, sim)
    build = time.perf_counter() - t0
    built = (design.folder / "build.log").stat().st_mtime >= time.time() - build - 1
    t0 = time.perf_counter()
    (tr,) = design.run([inputs], steps)
    t1 = time.perf_counter()
    cpu0, child0 = time.process_time(), resource.getrusage(resource.RUSAGE_CHILDREN)
    t_again = time.perf_counter()
    (again,) = design.run([inputs], steps)
    t2 = time.perf_counter()
    child1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    parts = dict(design.timings, python_cpu=time.process_time() - cpu0,
                 simulator_cpu=(child1.ru_utime + child1.ru_stime
                                - child0.ru_utime - child0.ru_stime))
    assert again.meta["cycles"] == tr.meta["cycles"] and (again.v == tr.v).all()
    return tr, t1 - t0, t2 - t_again, design.clocks[0] + 4, parts, build, built


def time_bare(image, inputs, steps, clocks, folder):
    """Seconds of the bare C++ loop over ``clocks`` clocks of the Verilated top (the best
    of three runs: the limit)."""
    blank = blank_image(image)
    top = toplevel_for(image)
    argv = build_fast({f"{top}.v": emit_verilog(blank)}, "verilator", top=top,
                      main_cpp=bare_loop_cpp(ports_for(image), top))
    plan = plan_job(image, inputs, steps, readback=False)
    folder.mkdir(parents=True, exist_ok=True)
    cmds = folder / "bare_cmds.hex"
    cmds.write_text("\n".join(plan.lines(ports_for(image).cmd_width)) + "\n")
    return min(float(subprocess.run(argv + [str(cmds), str(clocks)], capture_output=True,
                                    text=True, check=True).stdout.split()[0])
               for _ in range(3))


def measure(name, image, inputs, steps):
    row = {"design": name, "steps": steps}
    for sim in ("verilator", "icarus"):
        slow, t_slow = time_cocotb(image, inputs, steps, sim)
        fast, t_fast, t_again, clocks, parts, build, built = time_fast(image, inputs, steps,
                                                                       sim)
        assert slow.meta["cycles"] == fast.meta["cycles"], "the two modes ran different clocks"
        assert (slow.spikes == fast.spikes).all() and (slow.v == fast.v).all()
        step_clocks = int(sum(fast.meta["cycles"]))
        row[sim] = {"step_clocks": step_clocks, "total_clocks": clocks,
                    "cocotb_s": t_slow, "fast_s": t_fast,
                    "cocotb_cps": step_clocks / t_slow, "fast_cps": step_clocks / t_fast,
                    "fast_total_cps": clocks / t_fast, "ratio": t_slow / t_fast,
                    "repeat_s": t_again, "repeat_cps": step_clocks / t_again,
                    "repeat_ratio": t_slow / t_again, "repeat_parts": parts,
                    "build_s": build, "built": built}
        if sim == "verilator":
            t_bare = time_bare(image, inputs, steps, clocks, ROOT.parent / "build" / "sim")
            row[sim].update(bare_s=t_bare, bare_cps=clocks / t_bare,
                            fast_to_bare=t_bare / t_fast, repeat_to_bare=t_bare / t_again)
        print(name, sim, json.dumps(row[sim]), flush=True)
    return row


def commit():
    return _provenance.git()["commit"]


def table(rows, machine, command, rev):
    md = ["# RTL simulation speed: cocotb bench, fast run mode, bare C++ loop", "",
          f"Command: `{command}` at commit {rev} on {machine}. Builds made before the timed "
          "runs (the fast build's time is in the last table). Clocks/s: clocks of the steps over the run's wall time (loading the "
          "image over the host interface included), as issue 12 measured them.", "",
          "| design | simulator | step clocks | cocotb s | cocotb clocks/s | fast s | "
          "fast clocks/s | fast / cocotb | repeat run s | repeat clocks/s | repeat / cocotb |",
          "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        for sim in ("verilator", "icarus"):
            s = r[sim]
            md.append(f"| {r['design']} | {sim} | {s['step_clocks']} | {s['cocotb_s']:.2f} | "
                      f"{s['cocotb_cps']:,.0f} | {s['fast_s']:.3f} | {s['fast_cps']:,.0f} | "
                      f"{s['ratio']:.0f}x | {s['repeat_s']:.3f} | {s['repeat_cps']:,.0f} | "
                      f"{s['repeat_ratio']:.0f}x |")
    md += ["", "Fast: the first run of the image on a built design (planning the command words, "
           "the load's included). Repeat run: the same image run again on the same "
           "`FastDesign` (its load words cached), the cost per run of a test set."]
    md += ["", "The limit: the same Verilated model (same flags) driven by a bare C++ loop over "
           "exactly the clocks of the fast run (load and steps), the same command words, no "
           "output (best of three runs); against the fast run over the same clocks (its "
           "process start, command files, output and decoding in Python included):", "",
           "| design | clocks | bare loop s | bare clocks/s | fast clocks/s | fast / bare | "
           "repeat clocks/s | repeat / bare |",
           "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        s = r["verilator"]
        md.append(f"| {r['design']} | {s['total_clocks']} | {s['bare_s']:.3f} | "
                  f"{s['bare_cps']:,.0f} | {s['fast_total_cps']:,.0f} | "
                  f"{s['fast_to_bare']:.2f} | {s['total_clocks'] / s['repeat_s']:,.0f} | "
                  f"{s['repeat_to_bare']:.2f} |")
    md += ["", "Where the repeat run's time went (seconds of wall time: planning the commands, "
           "writing the command files and removing the run folder, the simulator process, "
           "reading and decoding its output; and CPU seconds of Python and of the simulator "
           "process), and the build of the fast design (timed apart; cached when not "
           "marked built):", "",
           "| design | simulator | repeat run s | plan | files | simulator | decode | "
           "Python CPU | simulator CPU | build s |",
           "|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        for sim in ("verilator", "icarus"):
            s = r[sim]
            p = s["repeat_parts"]
            md.append(f"| {r['design']} | {sim} | {s['repeat_s']:.3f} | {p['plan']:.3f} | "
                      f"{p['files']:.3f} | {p['simulator']:.3f} | {p['decode']:.3f} | "
                      f"{p['python_cpu']:.3f} | {p['simulator_cpu']:.3f} | "
                      f"{s['build_s']:.1f}{' (built)' if s['built'] else ''} |")
    return md


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="20 steps instead of 100")
    args = ap.parse_args(argv)
    steps = 20 if args.quick else 100
    rng = np.random.default_rng(2026)
    rows = [measure(f"cuba core {CORE.neurons}x{CORE.axons}", *core_job(rng, steps), steps),
            measure(f"2x2 array of {ARRAY_CORE.neurons}x{ARRAY_CORE.axons} cores",
                    *array_job(rng, steps), steps)]
    machine = _provenance.machine_line()
    command = "python benchmarks/rtl_speed.py" + (" --quick" if args.quick else "")
    rev = commit()
    out = ROOT / "results"
    out.mkdir(exist_ok=True)
    (out / "rtl_speed.json").write_text(json.dumps(
        {"machine": machine, "command": command, "commit": rev, "rows": rows}, indent=2) + "\n")
    md = table(rows, machine, command, rev)
    (out / "rtl_speed.md").write_text("\n".join(md) + "\n")
    print("\n".join(md))
    return 0


if __name__ == "__main__":
    sys.exit(main())
