"""Board builds: resources, Fmax (median over nextpnr seeds) and build time of each board's
bitstream of its default configuration (``spikefab build --board ...``).

For each board (iCEBreaker: one 256 x 256 ``cuba`` core with STDP, weights in SPRAM;
ULX3S-85F: a 2 x 2 array) it runs :func:`spikefab.gen.board_build.build_board` once (seed
1: Yosys, nextpnr, packing, timed), then nextpnr again on the same netlist for each further
seed (in parallel), and records the Fmax of the core clock per seed, its median and the
median margin over the PLL clock the board is built for. ``--reuse`` takes seed 1's build,
and each further seed's placement, from the build folder when they are of this very design.

Writes ``benchmarks/results/board_builds.json`` and ``benchmarks/results/board_builds.md``
(with the command, the commit and the machine); keeps the builds under ``build/boards/``.

With ``--config FILE`` (and ``--clock-mhz F``) one board is built for that configuration
instead of its default; the results go to ``board_builds_<board>_<config stem>.{json,md}``.

Usage: python benchmarks/board_builds.py [--seeds 1,2,3] [--board NAME ...] [--reuse]
       [--config FILE --clock-mhz F]
"""

import argparse
import json
import os
import statistics
from concurrent.futures import ThreadPoolExecutor
import sys
import time
from pathlib import Path

from spikefab.gen import board_build
from spikefab.gen.synth import SynthError, _run

sys.path.insert(0, str(Path(__file__).resolve().parent))
from synth_core import _command, _git, _machine, _tools  # noqa: E402

ROOT = Path(__file__).resolve().parent
REPO = ROOT.parent
BOARDS = ("icebreaker", "ulx3s-85f")


def _reseed(cmd, seed):
    """The nextpnr command line of the first build, for another seed and other outputs."""
    out, args = [], cmd.split()
    names = {"--seed": str(seed), "--report": f"report_s{seed}.json",
             "--log": f"nextpnr_s{seed}.log", "--asc": f"top_s{seed}.asc",
             "--textcfg": f"top_s{seed}.config"}
    for i, a in enumerate(args):
        out.append(names[args[i - 1]] if i and args[i - 1] in names else a)
    return out


def run_board(name, build, seeds, reuse=False, config=None, clk_mhz=None):
    out = build / (name if config is None else f"{name}_{Path(config).stem}")
    t0 = time.monotonic()
    try:
        rep = board_build.build_board(name, out, seed=seeds[0], reuse=reuse, config=config,
                                      clk_mhz=clk_mhz,
                                      say=lambda s: print(f"  {s}", flush=True))
    except (SynthError, ValueError) as e:
        return {"board": name, "ok": False, "error": str(e),
                "wall_s": round(time.monotonic() - t0, 1)}
    row = {"board": name, "ok": True, "device": rep.device, "clk_mhz": rep.clk_mhz,
           "pll": rep.pll, "utilization": rep.utilization, "seconds": rep.seconds,
           "config_digest": rep.config_digest, "fmax": {str(seeds[0]): rep.fmax_mhz},
           "fmax_bound": {str(seeds[0]): rep.fmax_bound_mhz}, "program": rep.program}
    pnr = rep.commands[1]

    def place(seed):
        """nextpnr for one more seed (in parallel with the others); None or the error."""
        done = out / f"report_s{seed}.json"
        if reuse and done.exists() and done.stat().st_mtime > (out / "top.json").stat().st_mtime:
            return None                 # this seed was placed on this netlist already
        try:
            _run("nextpnr", _reseed(pnr, seed), out, f"nextpnr_s{seed}.out", 7200)
        except SynthError as e:
            return str(e)
        return None

    print(f"  nextpnr seeds {seeds[1:]} (in parallel) ...", flush=True)
    with ThreadPoolExecutor(max_workers=max(1, len(seeds) - 1)) as pool:
        errors = dict(zip(seeds[1:], pool.map(place, seeds[1:])))
    for seed in seeds[1:]:
        if errors[seed]:
            row["fmax"][str(seed)] = None
            row.setdefault("errors", {})[str(seed)] = errors[seed]
            continue
        report = json.loads((out / f"report_s{seed}.json").read_text())
        fmax_all = report["fmax"]
        key = board_build._core_clock(fmax_all, rep.clk_mhz)
        row["fmax"][str(seed)] = round(float(fmax_all[key]["achieved"]), 2)
        bounds = [sp["fmax_bound_mhz"] for sp in board_build._split_paths(report, key)
                  if sp["fmax_bound_mhz"] is not None]
        row["fmax_bound"][str(seed)] = min(bounds) if bounds else None
        print(f"  seed {seed}: Fmax {row['fmax'][str(seed)]} MHz", flush=True)
    got = [f for f in row["fmax"].values() if f is not None]
    row["fmax_median"] = round(statistics.median(got), 2)
    row["margin_median_mhz"] = round(row["fmax_median"] - rep.clk_mhz, 2)
    row["timing_met_all_seeds"] = all(f >= rep.clk_mhz for f in got) and len(got) == len(seeds)
    row["wall_s"] = round(time.monotonic() - t0, 1)
    return row


def markdown(result):
    m = result["machine"]
    lines = [
        "# Board builds: resources, Fmax and build time", "",
        f"Command: `{result['command']}`  ",
        f"Machine: `uname -m` = {m.get('uname_m', m.get('machine'))}, "
        f"`nproc` = {m['nproc']} ({m['cpu']}), "
        f"Python {m['python']}; load average at the end {m['load_avg'][0]} (1 min), "
        f"{m['load_avg'][2]} (15 min): build times grow with the load  ",
        f"Tools: " + "; ".join(f"{k}: {v}" for k, v in result["tools"].items()) + "  ",
        f"Commit: {result['git']['commit']}"
        f"{' (with uncommitted rtl/ changes)' if result['git']['rtl_dirty'] else ''}; "
        f"nextpnr seeds {', '.join(map(str, result['seeds']))}; "
        + (f"configuration {result['config']}." if result.get("config") else
           "each board's default configuration (examples/<board>.toml)."), "",
        "| board | core clock (PLL) | logic | FF | BRAM | SPRAM | DSP | Fmax per seed (MHz) "
        "| median Fmax | median margin | build time (s): total (elab + Yosys + nextpnr + pack) |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    keys = {"icebreaker": ("ICESTORM_LC", None, "ICESTORM_RAM", "ICESTORM_SPRAM",
                           "ICESTORM_DSP"),
            "ulx3s-85f": ("TRELLIS_COMB", "TRELLIS_FF", "DP16KD", None, "MULT18X18D")}
    for r in result["rows"]:
        if not r["ok"]:
            lines.append(f"| {r['board']} | failed: {r['error'].splitlines()[0]} "
                         f"| | | | | | | | | |")
            continue
        u = r["utilization"]

        def cell(k):
            return "—" if k is None or k not in u else \
                f"{u[k]['used']:,} / {u[k]['available']:,}"
        s = r["seconds"]
        per_seed = ", ".join(f"{v}" for v in r["fmax"].values())
        lines.append(
            f"| {r['board']} | {r['clk_mhz']:g} MHz | " +
            " | ".join(cell(k) for k in keys[r["board"]]) +
            f" | {per_seed} | {r['fmax_median']} | {r['margin_median_mhz']:+.2f} MHz"
            f"{'' if r['timing_met_all_seeds'] else ' (not met on every seed)'} | "
            f"{s['total']:.0f} ({s['elaborate']:.0f} + {s['yosys']:.0f} + "
            f"{s['nextpnr']:.0f} + {s['pack']:.0f}) |")
    lines += ["", "How to read it:",
              "- logic is nextpnr's `ICESTORM_LC` (iCE40: one LUT4 + one FF each) or "
              "`TRELLIS_COMB` (ECP5 LUT4 slots); FF on iCE40 is inside the LCs. The whole "
              "board design is counted: core(s), host link, PLL, reset, LEDs.",
              "- Fmax is nextpnr's figure for the PLL's output clock (the core clock), with "
              "the PLL clock as the constraint; the margin is median Fmax minus that clock.",
              "- build time is seed 1's full build; further seeds rerun nextpnr only.", ""]
    for r in result["rows"]:
        if r["ok"]:
            lines.append(f"- {r['board']}: PLL {r['pll']}; programmed with "
                         f"`{r['program'].split(' /')[0]} <bitstream>` (not run here).")
            if any(v is not None for v in r["fmax_bound"].values()):
                lines.append(f"- {r['board']}: nextpnr cut paths at a combinational DSP; "
                             f"bounds per seed: {r['fmax_bound']}.")
    return "\n".join(lines) + "\n"


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seeds", default="1,2,3", help="nextpnr seeds (default 1,2,3)")
    ap.add_argument("--board", action="append", choices=BOARDS,
                    help="only this board (repeatable; default both)")
    ap.add_argument("--build", type=Path, default=REPO / "build" / "boards")
    ap.add_argument("--results", type=Path, default=ROOT / "results")
    ap.add_argument("--reuse", action="store_true",
                    help="take seed 1's build from --build when it holds this very design "
                         "(its times are then those of that build)")
    ap.add_argument("--config", default=None,
                    help="a configuration file instead of the board's default (one --board)")
    ap.add_argument("--clock-mhz", type=float, default=None,
                    help="core clock (default: the board's)")
    args = ap.parse_args(argv)
    if args.config and len(args.board or ()) != 1:
        ap.error("--config needs exactly one --board")
    seeds = [int(s) for s in args.seeds.split(",")]
    rows = []
    for name in args.board or BOARDS:
        print(f"== {name}", flush=True)
        rows.append(run_board(name, args.build, seeds, reuse=args.reuse, config=args.config,
                              clk_mhz=args.clock_mhz))
    machine = dict(_machine(), load_avg=[round(x, 1) for x in os.getloadavg()])
    result = {"command": _command(), "machine": machine, "tools": _tools(),
              "git": _git(), "seeds": seeds, "rows": rows, "config": args.config}
    args.results.mkdir(parents=True, exist_ok=True)
    stem = "board_builds" if not args.board else "board_builds_" + "_".join(args.board)
    if args.config:
        stem += "_" + Path(args.config).stem
    (args.results / f"{stem}.json").write_text(json.dumps(result, indent=2) + "\n")
    (args.results / f"{stem}.md").write_text(markdown(result))
    print(markdown(result))
    return 0 if all(r["ok"] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
