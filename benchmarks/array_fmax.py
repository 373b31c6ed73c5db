"""Fmax of the array on ECP5-85F over several nextpnr seeds: the core alone and the arrays.

Designs (each inside ``spikefab.gen.synth``'s measurement harness, trace ports off):

* ``core-cuba256``: the ``cuba`` core alone, 256 neurons x 256 axons, 4-bit weights, lanes 4
  (the parameters of ``benchmarks/synth_core.py``);
* ``core-cuba256-stdp``: the same core with STDP (``learning = True``);
* ``2x2-cuba64`` and ``4x4-cuba64``: arrays of ``cuba`` cores of 64 neurons x 64 axons,
  4-bit weights, lanes 4, max_delay 4, 256 routing entries per core, router FIFOs 4 deep
  (the arrays of ``benchmarks/synth_mesh.py``).

Each design is synthesised once by Yosys (``synthesize(..., pnr=False)``), then placed and
routed by nextpnr-ecp5 once per seed from that same netlist, one run after another, with a
100 MHz constraint (``--timing-allow-fail``). Fmax is nextpnr's achieved frequency of the
harness clock; the table gives every seed, the median and the spread (max - min), and the
critical path of the median seed's run.

Writes ``benchmarks/results/array_fmax.json`` (merged: ``--only`` updates the designs it
runs) and ``array_fmax.md``; builds under ``build/array_fmax/<design>/`` (the netlist) and
``.../seed<N>/`` (nextpnr's log and report).

Usage: python benchmarks/array_fmax.py [--only NAME ...] [--seeds 1 2 3] [--build DIR]
       [--results DIR] [--timeout S] [--render-only]
"""

import argparse
import dataclasses
import json
import statistics
import sys
import time
from pathlib import Path

from spikefab.gen import synth
from spikefab.rtl.image import CoreImage
from spikefab.sim.runner import blank_network

ROOT = Path(__file__).resolve().parent
REPO = ROOT.parent
sys.path.insert(0, str(ROOT))
import synth_core as sc        # noqa: E402  (machine, tool versions, git, the core's params)
import synth_mesh as sm        # noqa: E402  (the arrays' params, source digest)

DEVICE = "ecp5-85f"
CLOCK_MHZ = 100.0

#: (name, core params, mesh params or None for the core alone)
DESIGNS = [
    ("core-cuba256", sc.CORE_256, None),
    ("core-cuba256-stdp", sc.CORE_256_STDP, None),
    ("2x2-cuba64", sm.CUBA_64, sm._mesh(2, 2)),
    ("4x4-cuba64", sm.CUBA_64, sm._mesh(4, 4)),
]


def _pnr(out, seed, timeout):
    """nextpnr-ecp5 on ``out/top.json`` with ``seed`` into ``out/seed<seed>/``: a dict."""
    dev = synth.DEVICES[DEVICE]
    run = out / f"seed{seed}"
    run.mkdir(exist_ok=True)
    (run / "report.json").unlink(missing_ok=True)
    lpf = synth._constraints(dev, out)[:2]            # ["--lpf", "top.lpf"]
    cmd = synth.find_tool(dev.nextpnr_env, dev.nextpnr_cmd) + list(dev.nextpnr_args) + [
        "--json", "top.json", "--freq", f"{CLOCK_MHZ:g}", "--seed", str(seed),
        "--timing-allow-fail", "--report", f"{run.name}/report.json",
        "--log", f"{run.name}/nextpnr.log", "-q", lpf[0], lpf[1]]
    seconds = synth._run("nextpnr", cmd, out, f"{run.name}/nextpnr.out", timeout)
    report = json.loads((run / "report.json").read_text())
    clock = synth._main_clock(report.get("fmax") or {})
    path = synth._critical_path(report, clock, synth._netlist_types(out / "top.json"))
    util = report.get("utilization") or {}
    return {"seed": seed, "fmax_mhz": round(float(report["fmax"][clock]["achieved"]), 2),
            "nextpnr_s": round(seconds, 1), "command": " ".join(cmd),
            "lut4": int(util.get("TRELLIS_COMB", {}).get("used", 0)),
            "ff": int(util.get("TRELLIS_FF", {}).get("used", 0)),
            "critical_path": {k: v for k, v in path.items() if k != "steps"}}


def run_design(name, params, mp, build, seeds, timeout, save, previous=None):
    """Yosys once, then nextpnr per seed; ``save(row)`` after each seed.

    ``previous`` (this design's row of an earlier run): when its netlist in ``build`` was
    made from the same RTL (``rtl/*.py`` digest), Yosys is skipped and the new seeds are
    added to its runs."""
    out = (build / name).resolve()
    img = CoreImage(params) if mp is None else blank_network(mp, params)
    source = dict(sm._source(), yosys_cmd=synth.DEVICES[DEVICE].yosys_cmd)
    t0 = time.monotonic()
    stamp = out / "netlist_source.json"
    if previous and stamp.exists() and json.loads(stamp.read_text()) == source \
            and (out / "top.json").exists():
        ys = synth.yosys_summary(DEVICE, out)            # the same RTL: reuse the netlist
        yosys_s, res = previous.get("yosys_s"), ys
    else:
        stamp.unlink(missing_ok=True)
        rep = synth.synthesize(img, DEVICE, out, clock_mhz=CLOCK_MHZ, timeout=timeout,
                               pnr=False)
        stamp.write_text(json.dumps(source) + "\n")
        yosys_s, res = round(time.monotonic() - t0, 1), rep.to_dict()
        previous = None
    row = {"name": name, "core": sm._core_text(params) + (", STDP" if params.learning else ""),
           "array": sm._array_text(mp), "params": params.to_dict(),
           "mesh": None if mp is None else mp.to_dict(), "source": source,
           "command": sc._command(), "yosys_s": yosys_s,
           "lut4_yosys": res["lut4_yosys"], "bram": res["bram"], "dsp": res["dsp"],
           "runs": [r for r in (previous or {}).get("runs", []) if r["seed"] not in seeds]}
    for seed in seeds:
        row["runs"].append(_pnr(out, seed, timeout))
        row["runs"].sort(key=lambda r: r["seed"])
        _summarise(row)
        save(row)
    return row


def _summarise(row):
    f = [r["fmax_mhz"] for r in row["runs"]]
    row["fmax_median"] = round(statistics.median(f), 2)
    row["fmax_min"], row["fmax_max"] = min(f), max(f)
    row["lut4"] = row["runs"][0]["lut4"]
    row["ff"] = row["runs"][0]["ff"]


def markdown(result):
    m = result["machine"]
    lines = [
        "# Fmax over nextpnr seeds: the core alone and the arrays (ECP5-85F)", "",
        f"Machine: {m.get('machine', m.get('uname_m'))}, {m['nproc']} CPUs ({m['cpu']}), Python {m['python']}  ",
        "Tools: " + ", ".join(f"{k} = {v}" for k, v in result["tools"].items()), "",
        "Each design is synthesised once (Yosys) and placed and routed once per seed "
        f"(nextpnr-ecp5, LFE5U-85F CABGA381 speed 6, {CLOCK_MHZ:g} MHz constraint). "
        "Spread = max - min over the seeds. Commit: HEAD when the run began, with the digest "
        "of `rtl/*.py` (equal digests, equal RTL). nextpnr's time is wall-clock on a shared, "
        "heavily loaded machine (2 CPUs, many jobs): read it as a rough cost only.", "",
        "| design | core | array | commit | LUT4 | FF | DP16KD | DSP | Fmax per seed (MHz) "
        "| median | spread | nextpnr (s) |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    rows = [result["designs"][n] for n, *_ in DESIGNS if n in result["designs"]]
    for r in rows:
        src = r["source"]
        commit = (src["commit"] + (" + uncommitted rtl/" if src.get("rtl_dirty") else "")
                  + f" (rtl/ {src['rtl_sha256']})"
                  + (", Yosys `-noabc9`" if "-noabc9" in src.get("yosys_cmd", "") else ""))
        per = ", ".join(f"{x['fmax_mhz']:.1f} (s{x['seed']})" for x in r["runs"])
        t = [x["nextpnr_s"] for x in r["runs"]]
        secs = f"{min(t):.0f}" if len(t) == 1 else f"{min(t):.0f}–{max(t):.0f}"
        lines.append(
            f"| {r['name']} | {r['core']} | {r['array']} | {commit} | {r['lut4']:,} | "
            f"{r['ff']:,} | {r['bram']} | {r['dsp']} | {per} | **{r['fmax_median']:.1f}** | "
            f"{r['fmax_max'] - r['fmax_min']:.1f} | {secs} |")
    lines += ["", "Commands (each design's last run; the netlist of an earlier run of the same "
              "`rtl/` is reused, `rtl` digest in the JSON):", ""]
    lines += [f"- {r['name']}: `{r['command']}` (rtl/ digest {r['source']['rtl_sha256']})"
              for r in rows]
    lines += ["", "## Critical paths (the median seed's run)", ""]
    for r in rows:
        runs = sorted(r["runs"], key=lambda x: x["fmax_mhz"])
        med = runs[(len(runs) - 1) // 2]
        cp = med["critical_path"]
        if not cp:
            continue
        lines += [f"**{r['name']}**, seed {med['seed']}: {cp['delay_ns']:.2f} ns "
                  f"({cp['logic_ns']:.2f} logic, {cp['routing_ns']:.2f} routing), from "
                  f"`{cp['from']}` to `{cp['to']}`.", "",
                  "| arrival (ns) | + ns | cell type | cell |", "|---|---|---|---|"]
        for h in cp["hops"]:
            kind = h["type"] + (f" carry ×{h['cells']}" if h["carry"] and h["cells"] > 1 else "")
            cell = h["cell"] if len(h["cell"]) <= 70 else h["cell"][:67] + "..."
            lines.append(f"| {h['at_ns']:.2f} | {h['delay_ns']:.2f} | {kind} | `{cell}` |")
        lines.append("")
    return "\n".join(lines)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--only", action="append", metavar="NAME",
                    help="run only this design (repeatable): " + ", ".join(d[0] for d in DESIGNS))
    ap.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    ap.add_argument("--build", type=Path, default=REPO / "build" / "array_fmax")
    ap.add_argument("--results", type=Path, default=ROOT / "results")
    ap.add_argument("--timeout", type=float, default=4 * 3600)
    ap.add_argument("--render-only", action="store_true")
    ap.add_argument("--noabc9", action="store_true",
                    help="synthesise with `synth_ecp5 -noabc9` (abc instead of abc9; the "
                         "board build's flow), for netlists abc9 breaks; noted in the table")
    args = ap.parse_args(argv)
    names = [d[0] for d in DESIGNS]
    for n in args.only or ():
        if n not in names:
            ap.error(f"--only {n!r}: no such design; expected one of {', '.join(names)}")
    js = args.results / "array_fmax.json"
    result = json.loads(js.read_text()) if js.exists() else {"designs": {}}
    result.setdefault("designs", {})

    def save(row=None):
        if row is not None:
            result["designs"][row["name"]] = row
        args.results.mkdir(parents=True, exist_ok=True)
        js.write_text(json.dumps(result, indent=2) + "\n")
        (args.results / "array_fmax.md").write_text(markdown(result) + "\n")

    if args.noabc9:
        dev = synth.DEVICES[DEVICE]
        synth.DEVICES[DEVICE] = dataclasses.replace(dev, yosys_cmd=dev.yosys_cmd + " -noabc9")
    if not args.render_only:
        result.update(command=sc._command(), machine=sc._machine(), tools=sc._tools())
        for name, params, mp in DESIGNS:
            if args.only and name not in args.only:
                continue
            run_design(name, params, mp, args.build, args.seeds, args.timeout, save,
                       result["designs"].get(name))
    save()
    return 0


if __name__ == "__main__":
    sys.exit(main())
