"""Run every benchmark of this folder in turn; each rewrites its results file(s) in
``benchmarks/results/``.

Usage: python benchmarks/run_all.py [--quick] [--only NAME ...] [--list]

Each benchmark runs as its own process with this interpreter (so a failure in one does not
stop the others); its output is shown as it runs, and a bar counts the benchmarks done. The
exit status is non-zero if any benchmark failed, and the failed ones are named at the end.

``--quick`` leaves out the long ones: the synthesis sweeps (``synth_core``, ``synth_mesh``,
``array_fmax``, hours with Yosys and nextpnr) and the Brian2 comparison (``golden_vs_brian2``,
``board_builds``: an hour or more with Yosys and nextpnr) and the Brian2 comparison
(``golden_vs_brian2``,
which needs the ``bench`` extra); what remains are the cycle and throughput measurements
on Verilator (minutes). ``make bench`` runs everything.
"""

import argparse
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent

#: Every benchmark, in the order run: (name, results it rewrites, long).
BENCHMARKS = [
    ("core_cycles", "results/core_cycles.{json,md}", False),
    ("router_throughput", "results/router_throughput.{json,md}", False),
    ("stdp_cost", "results/stdp_cost.{json,md}", False),
    ("mesh_cycles", "results/mesh_cycles.{json,md}", False),
    ("link_throughput", "results/link_throughput.{json,md}", False),
    ("rtl_speed", "results/rtl_speed.{json,md}", False),
    ("golden_vs_brian2", "results/golden_vs_brian2.{json,md}", True),
    ("synth_core", "results/synth.{json,md}", True),
    ("synth_mesh", "results/synth_mesh.{json,md}", True),
    ("array_fmax", "results/array_fmax.{json,md}", True),
    ("crossbar_solver", "results/crossbar_solver.{json,md}", True),
    ("gen_scaling", "results/gen_scaling.{json,md}", True),
    ("board_builds", "results/board_builds.{json,md}", True),
    ("cosim_speed", "results/cosim_speed.{json,md}", False),
]


def selected(only, quick):
    """The benchmarks to run, in order; an unknown name is an error naming the choices."""
    names = [b[0] for b in BENCHMARKS]
    for name in only or ():
        if name not in names:
            raise SystemExit(f"run_all.py: error: --only {name!r}: no such benchmark; "
                             f"expected one of {', '.join(names)}")
    return [b for b in BENCHMARKS
            if (not only or b[0] in only) and not (quick and b[2] and not only)]


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true",
                    help="leave out the synthesis sweeps and the Brian2 comparison")
    ap.add_argument("--only", action="append", metavar="NAME",
                    help="run only this benchmark (repeatable): " +
                         ", ".join(b[0] for b in BENCHMARKS))
    ap.add_argument("--list", action="store_true", help="list the benchmarks and exit")
    args = ap.parse_args(argv)
    todo = selected(args.only, args.quick)
    if args.list:
        for name, results, long in BENCHMARKS:
            print(f"{name:18s} rewrites benchmarks/{results}{'  (long)' if long else ''}")
        return 0
    from tqdm import tqdm
    failed = []
    bar = tqdm(todo, desc="benchmarks", unit="benchmark", file=sys.stderr)
    for name, results, _ in bar:
        bar.set_postfix_str(name)
        tqdm.write(f"== {name} (rewrites benchmarks/{results})", file=sys.stderr)
        t0 = time.perf_counter()
        rc = subprocess.call([sys.executable, str(HERE / f"{name}.py")], cwd=HERE.parent)
        dt = time.perf_counter() - t0
        tqdm.write(f"== {name}: {'done' if rc == 0 else f'FAILED (exit {rc})'} in {dt:.0f} s",
                   file=sys.stderr)
        if rc:
            failed.append(name)
    bar.close()
    if failed:
        print(f"run_all.py: {len(failed)} of {len(todo)} benchmarks failed: "
              f"{', '.join(failed)}", file=sys.stderr)
        return 1
    print(f"run_all.py: {len(todo)} benchmarks done", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
