"""Crossbar circuit-solve time against array size, side by side with ngspice (issue 10).

For square arrays of n x n cells (G ~ U(1, 25) µS, 0.5 Ω wire segments, 10 Ω drivers and
sense, 50 % of the rows spiking at 0.2 V, idle rows grounded), measures:
* ngspice: wall time of ``ngspice -b`` on the netlist (``.op``; process start included);
* the nodal solver: a first solve (assembly + sparse LU factorisation + solve), and the
  median re-solve of a new input vector with the factorisation cached (the per-step cost of
  the model while the weights do not change);
and the agreement max|ΔI| / max|I| between the two.

Usage: python benchmarks/crossbar_solver.py [--spice-max N] [--sizes 16,32,...]
(writes benchmarks/results/crossbar_solver.{json,md}). ngspice takes ~2 min at 128 x 128;
``--spice-max`` bounds the sizes given to it (default 128: one such run).
"""

import argparse
import json
import shlex
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from spikefab.sim.crossbar import ArrayParams, NodalSolver, run_ngspice

import _provenance  # noqa: E402  (benchmarks/ is on sys.path)

ROOT = Path(__file__).resolve().parent
REPO = ROOT.parent
ARRAY = ArrayParams(r_row=0.5, r_col=0.5, r_driver=10.0, r_sense=10.0)


def _machine():
    return _provenance.machine()


def _ngspice_version():
    r = subprocess.run(["ngspice", "-v"], capture_output=True, text=True)
    for line in r.stdout.splitlines():
        if "ngspice-" in line:
            return line.strip(" *")
    return "unknown"


def measure(n, spice, rng, resolves=20):
    g = rng.uniform(1e-6, 25e-6, (n, n))
    on = rng.random(n) < 0.5
    v = np.where(on, 0.2, 0.0)
    t0 = time.perf_counter()
    solver = NodalSolver(g, ARRAY)
    ours, _ = solver.solve(v, on)
    first = time.perf_counter() - t0
    times = []
    for _ in range(resolves):
        on2 = rng.random(n) < 0.5
        t0 = time.perf_counter()
        solver.solve(np.where(on2, 0.2, 0.0), on2)
        times.append(time.perf_counter() - t0)
    row = {"n": n, "cells": n * n, "first_solve_s": first,
           "resolve_s": float(np.median(times)),
           "ideal_error": float(np.max(np.abs(v @ g - ours)) / np.max(np.abs(ours)))}
    if spice:
        t0 = time.perf_counter()
        ref = run_ngspice(g, v, on, ARRAY, timeout=3600)
        row["ngspice_s"] = time.perf_counter() - t0
        row["agreement"] = float(np.max(np.abs(ours - ref)) / np.max(np.abs(ref)))
        row["ratio_first"] = row["ngspice_s"] / first
        row["ratio_resolve"] = row["ngspice_s"] / row["resolve_s"]
    return row


def markdown(res):
    m = res["machine"]
    out = ["# Crossbar circuit solver against ngspice", "",
           f"Command: `{res['command']}` at commit {res['commit']} on {m['cpu']} "
           f"({m['machine']}, {m['nproc']} cores shared with other jobs: 1-min load average "
           f"{m['loadavg_1min']} at the end, so absolute times are inflated; "
           f"Python {m['python']}),"
           f" {res['ngspice']}.", "",
           "Arrays n x n, G ~ U(1, 25) µS, r_row = r_col = 0.5 Ω, r_driver = r_sense = 10 Ω, "
           "half the rows at 0.2 V, idle rows grounded. *first*: assembly + sparse LU + "
           "solve; *re-solve*: median over 20 new input vectors with the factorisation "
           "cached (the model's per-step cost while weights are unchanged). Agreement: "
           "max|ΔI| / max|I| of the column currents. IR loss: the same for the ideal GᵀV.", "",
           "| n x n | ngspice (s) | first solve (s) | re-solve (s) | ngspice / first | "
           "ngspice / re-solve | agreement | ideal GᵀV error |",
           "|---|---|---|---|---|---|---|---|"]
    for r in res["rows"]:
        sp = lambda k, f: (f.format(r[k]) if k in r else "—")  # noqa: E731
        out.append(f"| {r['n']} x {r['n']} | {sp('ngspice_s', '{:.3f}')} | "
                   f"{r['first_solve_s']:.4f} | {r['resolve_s']:.2e} | "
                   f"{sp('ratio_first', '{:,.0f}')} | {sp('ratio_resolve', '{:,.0f}')} | "
                   f"{sp('agreement', '{:.1e}')} | {r['ideal_error']:.2e} |")
    out.append("")
    return "\n".join(out)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", default="16,32,64,128,256")
    ap.add_argument("--spice-max", type=int, default=128)
    args = ap.parse_args()
    rng = np.random.default_rng(2026)
    rows = []
    for n in [int(s) for s in args.sizes.split(",")]:
        row = measure(n, n <= args.spice_max, rng)
        print(row, flush=True)
        rows.append(row)
    exe = Path(sys.executable)
    try:
        exe = exe.relative_to(Path.cwd())
    except ValueError:
        pass
    res = {"command": shlex.join([str(exe), "benchmarks/crossbar_solver.py"] + sys.argv[1:]),
           "commit": _provenance.commit_line(("sim",)),
           "machine": _machine(), "ngspice": _ngspice_version(), "rows": rows}
    out = ROOT / "results"
    (out / "crossbar_solver.json").write_text(json.dumps(res, indent=1) + "\n")
    (out / "crossbar_solver.md").write_text(markdown(res))
    print(markdown(res))


if __name__ == "__main__":
    main()
