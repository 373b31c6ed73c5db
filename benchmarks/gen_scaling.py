"""Generation time and peak memory against array size and core size (measured).

Each case runs ``spikefab generate <config> -o <folder>`` as its own process (the command
line users run, progress bars off: stderr is not a terminal) and measures its wall time and
its peak resident memory (``ru_maxrss`` of ``resource.getrusage(RUSAGE_CHILDREN)``, which
covers the process and the Yosys it runs, the largest of them). Parts:

(a) arrays of the default core (N = A = 64, lanes 4, weight_bits 4) from 1 x 1 to 32 x 32
    (``--max-side`` lowers the largest);
(b) one core (no ``[mesh]``) of N = A = 64 .. 1024 neurons and axons (lanes 16,
    weight_bits 8), and 2 x 2 arrays of the same cores.

Usage: python benchmarks/gen_scaling.py [--max-side N] [--quick]   (from the repository
root; writes benchmarks/results/gen_scaling.{json,md}; ``--quick``: arrays up to 4 x 4 and
cores up to 256, a check that it runs)
"""

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import _provenance  # noqa: E402  (benchmarks/ is on sys.path)

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent


def machine():
    import amaranth
    mem = "unknown"
    try:
        kb = int(Path("/proc/meminfo").read_text().split()[1])
        mem = f"{kb / 2**20:.0f} GiB"
    except (OSError, ValueError, IndexError):
        pass
    return _provenance.machine(memory=mem, amaranth=amaranth.__version__)


def commit():
    return _provenance.git()["commit"]


def measure(toml, label):
    """Run ``spikefab generate`` on ``toml`` in a child process: (wall seconds, (peak
    RSS MiB of the Python process, of the largest Yosys it ran), Verilog bytes, files
    written, CPU seconds of the process and its children)."""
    work = Path(tempfile.mkdtemp(prefix="gen_scaling_"))
    try:
        cfg = work / "c.toml"
        cfg.write_text(toml)
        code = ("import resource, sys, time\n"
                "from spikefab.gen.cli import main\n"
                "t0 = time.perf_counter()\n"
                f"rc = main(['generate', {str(cfg)!r}, '-o', {str(work / 'out')!r}])\n"
                "dt = time.perf_counter() - t0\n"
                "s = resource.getrusage(resource.RUSAGE_SELF)\n"
                "c = resource.getrusage(resource.RUSAGE_CHILDREN)\n"
                "cpu = s.ru_utime + s.ru_stime + c.ru_utime + c.ru_stime\n"
                "print('RESULT', rc, dt, s.ru_maxrss, c.ru_maxrss, cpu, file=sys.stderr)\n")
        proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                              cwd=ROOT)
        line = [ln for ln in proc.stderr.splitlines() if ln.startswith("RESULT")]
        if proc.returncode or not line or line[0].split()[1] != "0":
            raise RuntimeError(f"{label}: generate failed:\n{proc.stdout}\n{proc.stderr}")
        _, _, dt, py, ys, cpu = line[0].split()
        out = work / "out"
        vbytes = sum(f.stat().st_size for f in out.glob("*.v"))
        files = sum(1 for f in out.rglob("*") if f.is_file())
        return float(dt), (int(py) / 1024, int(ys) / 1024), vbytes, files, float(cpu)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def array_toml(side):
    return f"[mesh]\nwidth = {side}\nheight = {side}\n[build]\nname = \"arr\"\n"


def core_toml(n, mesh=None):
    t = (f"[core]\nneurons = {n}\naxons = {n}\nlanes = 16\nweight_bits = 8\n"
         f"trace_port = false\n")
    if mesh:
        t += f"[mesh]\nwidth = {mesh}\nheight = {mesh}\n"
    return t


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--max-side", type=int, default=32, help="largest array side (32)")
    ap.add_argument("--quick", action="store_true", help="small cases only")
    args = ap.parse_args(argv)
    sides = [s for s in (1, 2, 4, 8, 16, 32) if s <= (4 if args.quick else args.max_side)]
    sizes = [n for n in (64, 128, 256, 512, 1024) if n <= (256 if args.quick else 1024)]
    t_start = time.perf_counter()
    rev = commit()              # before the run: each case imports the package afresh
    rows = {"arrays": [], "cores": []}
    for side in sides:
        dt, rss, vb, nf, cpu = measure(array_toml(side), f"{side} x {side}")
        rows["arrays"].append({"side": side, "cores": side * side, "seconds": round(dt, 1),
                               "cpu_seconds": round(cpu, 1),
                               "peak_rss_mib": [round(x) for x in rss], "verilog_bytes": vb,
                               "files": nf})
        print(f"array {side} x {side}: {dt:.1f} s, {rss[0]:.0f} / {rss[1]:.0f} MiB", flush=True)
    for n in sizes:
        for mesh in (None, 2):
            dt, rss, vb, nf, cpu = measure(core_toml(n, mesh), f"N = {n}")
            rows["cores"].append({"neurons": n, "axons": n, "mesh": f"{mesh} x {mesh}" if mesh
                                  else "one core", "seconds": round(dt, 1),
                                  "cpu_seconds": round(cpu, 1),
                                  "peak_rss_mib": [round(x) for x in rss], "verilog_bytes": vb})
            print(f"core N = A = {n}, {mesh or 1} x {mesh or 1}: {dt:.1f} s, {rss[0]:.0f} / "
                  f"{rss[1]:.0f} MiB", flush=True)
    wall = time.perf_counter() - t_start
    cmd = "python benchmarks/gen_scaling.py" + " ".join([""] + (argv or sys.argv[1:]))
    mach = machine()
    result = {"command": cmd, "commit": rev, "machine": mach, "wall_s": round(wall), **rows}
    out = HERE / "results"
    out.mkdir(exist_ok=True)
    (out / "gen_scaling.json").write_text(json.dumps(result, indent=1) + "\n")
    md = ["# Generation time and peak memory (measured)", "",
          f"Command: `{cmd}` (from the repository root), commit {result['commit']}, "
          f"{wall / 60:.1f} minutes wall time in all.", "",
          f"Machine: {mach['nproc']} cores ({mach['cpu']}, {mach['machine']}), "
          f"{mach['memory']}, Python {mach['python']}, Amaranth {mach['amaranth']}; shared "
          f"with other jobs, so wall times are upper bounds: the CPU time (of the process and "
          f"its Yosys children) is the figure that does not depend on the load.", "",
          "Each case is `spikefab generate` in its own process; peak memory (`ru_maxrss`) is "
          "given for that Python process and for the largest Yosys (WebAssembly, a child "
          "process) it ran: the machine needs the larger of the two, not their sum (they do "
          "not overlap in time). The children's figure includes the pages a child inherits "
          "when forked from the Python process, so it is at least the Python process's size "
          "at that moment.", "",
          "## Arrays of the default core (N = A = 64, lanes 4, weight_bits 4)", "",
          "| array | cores | wall (s) | CPU (s) | CPU s per core | peak RSS Python / Yosys "
          "(MiB) | Verilog (MB) | files |",
          "|---|---|---|---|---|---|---|---|"]
    for r in rows["arrays"]:
        md.append(f"| {r['side']} x {r['side']} | {r['cores']} | {r['seconds']} | "
                  f"{r['cpu_seconds']} | {r['cpu_seconds'] / r['cores']:.2f} | "
                  f"{r['peak_rss_mib'][0]} / {r['peak_rss_mib'][1]} | "
                  f"{r['verilog_bytes'] / 1e6:.1f} | {r['files']} |")
    md += ["", "## Core size (lanes 16, weight_bits 8, trace port off)", "",
           "| neurons = axons | design | wall (s) | CPU (s) | peak RSS Python / Yosys (MiB) | "
           "Verilog (MB) |",
           "|---|---|---|---|---|---|"]
    for r in rows["cores"]:
        md.append(f"| {r['neurons']} | {r['mesh']} | {r['seconds']} | {r['cpu_seconds']} | "
                  f"{r['peak_rss_mib'][0]} / {r['peak_rss_mib'][1]} | "
                  f"{r['verilog_bytes'] / 1e6:.1f} |")
    (out / "gen_scaling.md").write_text("\n".join(md) + "\n")
    print("\n".join(md))


if __name__ == "__main__":
    main()
