"""Resources and Fmax of the many-core array (``rtl/mesh.py``) on ECP5-85F and iCE40UP5K.

Runs, one after another, each through ``spikefab.gen.synth.synthesize_mesh`` (or
``synthesize`` for the core-alone reference) and its measurement harness:

* ECP5-85F: arrays of ``cuba`` cores, 64 neurons x 64 axons, 4-bit weights, lanes 4,
  max_delay 4; 256 routing entries per core, router FIFOs 4 deep: the core alone (the
  reference), a 1x1 array, a 2x2 array and a 4x4 array;
* iCE40UP5K: the largest array that fits, by trying a 1x1 array of a 64 x 64 ``shift``
  core, then 2x1 arrays (of 64 x 64 shift cores, of the smallest shift cores, of small
  cuba cores) and a 2x2 array of the smallest shift cores.

Every core's trace port is off. Writes ``benchmarks/results/synth_mesh.json`` and
``benchmarks/results/synth_mesh.md`` and keeps every netlist and log under
``build/synth_mesh/``. A run whose tools fail (a design that does not fit the device) is
recorded with the tool's message, nextpnr's utilisation table (when nextpnr got that far)
and Yosys's counts, and the benchmark goes on. ``--only NAME`` (repeatable) runs a subset
and merges it into an existing ``synth_mesh.json``; ``--render-only`` runs no tool and
writes ``synth_mesh.md`` again from ``synth_mesh.json`` (re-reading each run's memory
mapping from its build folder, when it is still there).

Usage: python benchmarks/synth_mesh.py [--build DIR] [--results DIR] [--seed N]
       [--timeout S] [--only NAME ...] [--render-only]
"""

import argparse
import collections
import hashlib
import json
import re
import sys
import time
from pathlib import Path

from tqdm import tqdm

from spikefab.gen import synth
from spikefab.rtl.image import CoreImage
from spikefab.rtl.params import CoreParams, MeshParams
from spikefab.sim.runner import blank_network

ROOT = Path(__file__).resolve().parent
REPO = ROOT.parent
sys.path.insert(0, str(ROOT))
import synth_core as sc       # noqa: E402  (machine, tool versions, git, DSP timing gaps)

CUBA_64 = CoreParams(neurons=64, axons=64, weight_bits=4, lanes=4, model="cuba", max_delay=4,
                     trace_port=False)
SHIFT_64 = CoreParams(neurons=64, axons=64, weight_bits=4, lanes=4, model="shift", max_delay=4,
                      trace_port=False)
SHIFT_8 = CoreParams(neurons=8, axons=8, weight_bits=4, lanes=1, model="shift", max_delay=4,
                     trace_port=False)
CUBA_8 = CoreParams(neurons=8, axons=8, weight_bits=4, lanes=1, model="cuba", max_delay=4,
                    trace_port=False)


def _mesh(w, h, entries=256):
    return MeshParams(width=w, height=h, route_entries=entries, fifo_depth=4)


#: (name, core params, mesh params or None for the core alone, device)
RUNS = [
    ("core-cuba64-ecp5", CUBA_64, None, "ecp5-85f"),
    ("1x1-cuba64-ecp5", CUBA_64, _mesh(1, 1), "ecp5-85f"),
    ("2x2-cuba64-ecp5", CUBA_64, _mesh(2, 2), "ecp5-85f"),
    ("1x1-shift64-ice40", SHIFT_64, _mesh(1, 1), "ice40up5k"),
    ("2x1-shift64-ice40", SHIFT_64, _mesh(2, 1), "ice40up5k"),
    ("2x1-shift8-ice40", SHIFT_8, _mesh(2, 1, 16), "ice40up5k"),
    ("2x1-cuba8-ice40", CUBA_8, _mesh(2, 1, 16), "ice40up5k"),
    ("2x2-shift8-ice40", SHIFT_8, _mesh(2, 2, 16), "ice40up5k"),
    ("4x4-cuba64-ecp5", CUBA_64, _mesh(4, 4), "ecp5-85f"),      # last: ~45 min
]

FMAX_TARGET = {"ecp5-85f": 100.0, "ice40up5k": 40.0}
#: nextpnr utilisation keys shown for a run that did not fit.
_UTIL_SHOWN = {"ice40up5k": ("ICESTORM_LC", "ICESTORM_RAM", "ICESTORM_DSP", "ICESTORM_SPRAM"),
               "ecp5-85f": ("TRELLIS_COMB", "TRELLIS_FF", "DP16KD", "MULT18X18D")}


def _core_text(p):
    return f"{p.model} {p.neurons}×{p.axons}, w{p.weight_bits}, lanes {p.lanes}"


def _array_text(mp):
    if mp is None:
        return "core alone"
    return f"{mp.width}×{mp.height}, {mp.route_entries} entries, FIFO {mp.fifo_depth}"


# --- where the logic goes -------------------------------------------------------------------

_GROUP = [
    (re.compile(r"^mesh\.tile_\d+_\d+\.core\."), "cores"),
    (re.compile(r"^mesh\.tile_\d+_\d+\.fanout\."), "fan-out units"),
    (re.compile(r"^mesh\.tile_\d+_\d+\."), "tiles (glue)"),
    (re.compile(r"^mesh\.router_\d+_\d+\."), "routers"),
    (re.compile(r"^mesh\."), "array control"),
    (re.compile(r"^core\."), "core"),
]


def _group(name):
    for pat, group in _GROUP:
        if pat.search(name):
            return group
    return "harness, ports and unattributed"


def logic_breakdown(out_dir, family):
    """LUT4s and flip-flops of Yosys's netlist by part of the design, from cell names.

    Yosys names a mapped cell after the net it drives, which carries the hierarchy of the
    signal (``mesh.tile_0_0.core.r0_state...``), so this is a good approximation, not an
    exact account; cells named after a port of the harness are "harness, ports and
    unattributed". On ECP5 a ``CCU2C`` counts as two LUT4s. Returns ``{group: {"lut4",
    "ff"}}`` or ``{}`` without a netlist."""
    try:
        net = json.loads((Path(out_dir) / "top.json").read_text())
    except (OSError, ValueError):
        return {}
    ff_prefix = "SB_DFF" if family == "ice40" else "TRELLIS_FF"
    out = collections.defaultdict(lambda: {"lut4": 0, "ff": 0})
    for name, cell in ((net.get("modules", {}).get("top") or {}).get("cells") or {}).items():
        t = cell.get("type", "")
        g = _group(name.lstrip("\\"))
        if t in ("SB_LUT4", "LUT4"):
            out[g]["lut4"] += 1
        elif t == "CCU2C":
            out[g]["lut4"] += 2
        elif t.startswith(ff_prefix):
            out[g]["ff"] += 1
    return dict(out)


# --- one run --------------------------------------------------------------------------------

def _source():
    """The RTL a run elaborates: the commit, whether rtl/ differs from it, and a digest of
    the rtl/*.py files (runs of one benchmark must share it: others may commit meanwhile)."""
    h = hashlib.sha256()
    for f in sorted((REPO / "rtl").glob("*.py")):
        h.update(f.name.encode() + b"\0" + f.read_bytes() + b"\0")
    return dict(sc._git(), rtl_sha256=h.hexdigest()[:12])


def run_one(name, params, mp, device, build, seed, timeout):
    out_dir = build / name
    t0 = time.monotonic()
    row = {"name": name, "core": _core_text(params), "array": _array_text(mp),
           "device": device, "params": params.to_dict(),
           "mesh": None if mp is None else mp.to_dict(), "out_dir": str(out_dir),
           "source": _source(), "command": sc._command()}
    family = synth.DEVICES[device].family
    try:
        if mp is None:
            rep = synth.synthesize(CoreImage(params), device, out_dir, seed=seed,
                                   timeout=timeout)
        else:
            rep = synth.synthesize_mesh(blank_network(mp, params), device, out_dir, seed=seed,
                                        timeout=timeout)
    except synth.SynthError as e:
        row.update(ok=False, error=str(e), tool=e.tool, seconds=e.seconds,
                   wall_s=round(time.monotonic() - t0, 1),
                   nextpnr_utilization=synth.nextpnr_utilization(out_dir),
                   breakdown=logic_breakdown(out_dir, family))
        ys = synth.yosys_summary(device, out_dir)
        if ys:
            row["yosys"] = ys
        return row
    d = rep.to_dict()
    d.pop("utilization")
    row.update(ok=True, wall_s=round(time.monotonic() - t0, 1), **{
        k: d[k] for k in ("lut4", "lut4_yosys", "ff", "bram", "spram", "dsp", "fmax_mhz",
                          "clock_mhz", "timing_met", "fmax_bound_mhz", "warnings",
                          "split_paths", "lc_packing", "capacity", "harness", "memories",
                          "seconds", "yosys_cells")})
    row["critical_path"] = {k: v for k, v in d["critical_path"].items() if k != "steps"}
    row["dsp_timing_gaps"] = sc._dsp_timing_gaps(out_dir) if family == "ice40" else []
    row["breakdown"] = logic_breakdown(out_dir, family)
    return row


# --- report ---------------------------------------------------------------------------------

def _fmt(n):
    return "—" if n is None else f"{n:,}"


def _secs(r):
    s = r["seconds"]
    parts = [f"{s.get(k, 0):.0f}" for k in ("elaborate", "yosys", "nextpnr") if k in s]
    return " + ".join(parts)


def _first_error(r):
    why = r["error"].strip().splitlines()
    return next((ln for ln in why if "ERROR" in ln), why[0] if why else "").strip()


def _over_capacity(r):
    """A failed run that needs more of some resource than the device has (nextpnr's
    utilisation after packing), or that nextpnr could not place for want of room."""
    util = r.get("nextpnr_utilization") or {}
    if any(u["used"] > u["available"] for u in util.values()):
        return True
    return bool(re.search(r"no BELs remaining|Failed to expand region", r.get("error", "")))


def _util_text(r):
    util = r.get("nextpnr_utilization") or {}
    shown = [k for k in _UTIL_SHOWN[r["device"]] if k in util]
    return ", ".join(f"{k} {util[k]['used']:,} / {util[k]['available']:,} "
                     f"({100 * util[k]['used'] / util[k]['available']:.0f} %)" for k in shown)


def _commands_line(result):
    """``Command: ...`` (or, when the runs were made by several invocations, each with its
    runs)."""
    by_cmd = collections.OrderedDict()
    for r in result["runs"]:
        by_cmd.setdefault(r.get("command") or result["command"], []).append(r["name"])
    if len(by_cmd) <= 1:
        return f"Command: `{next(iter(by_cmd), result['command'])}`  "
    return "Commands: " + "; ".join(f"`{c}` ({', '.join(n)})" for c, n in by_cmd.items()) + "  "


def _source_lines(result):
    """Which rtl/ the runs elaborated, with a warning when they were not all the same."""
    digests = collections.OrderedDict()
    for r in result["runs"]:
        src = r.get("source") or result.get("git") or {}
        key = (src.get("commit"), src.get("rtl_dirty"), src.get("rtl_sha256"))
        digests.setdefault(key, []).append(r["name"])
    tail = (f"nextpnr seed {result['seed']}; per-tool timeout {result['timeout']:.0f} s; "
            "runs sequential.")
    if len(digests) == 1:
        (commit, dirty, sha), = digests
        return [f"Source: commit {commit}"
                + (" with uncommitted changes under rtl/" if dirty else "")
                + f" (every run elaborated the same rtl/, sha256 {sha}); " + tail, ""]
    return [f"Source: {tail}", "",
            "**Warning: the runs elaborated different rtl/ sources** (the tree changed "
            "during the benchmark): " + "; ".join(
                f"commit {c}{' + uncommitted rtl/' if d else ''} (rtl sha256 {h}): "
                + ", ".join(names) for (c, d, h), names in digests.items()), ""]


def markdown(result):
    m = result["machine"]
    lines = [
        "# Synthesis: resources and Fmax of the many-core array", "",
        _commands_line(result),
        f"Machine: `uname -m` = {m['machine']}, `nproc` = {m['nproc']} ({m['cpu']}), "
        f"Python {m['python']}  ",
        "Tools: " + "; ".join(f"{k}: {v}" for k, v in result["tools"].items()) + "  ",
    ] + _source_lines(result) + [
        "Cores: `cuba` 64×64 = `CoreParams(neurons=64, axons=64, weight_bits=4, lanes=4, "
        "model=\"cuba\", max_delay=4, trace_port=False)`; `shift` 64×64 the same with "
        "`model=\"shift\"`; the smallest cores are 8×8 with lanes 1. Arrays: "
        "`MeshParams(width, height, route_entries=256, fifo_depth=4)` (16 entries for the "
        "8×8 cores). Every memory is initialised from a blank image "
        "(`sim.runner.blank_network`).", "",
        "| run | array | core | device | LUT4 | FF | BRAM | SPRAM | DSP | Fmax (MHz) "
        "| fits | time (s): elaborate + Yosys + nextpnr | wall (s) |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in result["runs"]:
        cap = synth.DEVICES[r["device"]].capacity
        target = FMAX_TARGET[r["device"]]
        if r["ok"]:
            fmax = f"{r['fmax_mhz']:.1f}"
            if r.get("fmax_bound_mhz"):
                fmax += f" (really < {r['fmax_bound_mhz']:.1f})"
            fmax += f" ({'≥' if r['timing_met'] else '**<**'} {target:g})"
            lines.append(
                f"| {r['name']} | {r['array']} | {r['core']} | {r['device']} "
                f"| {_fmt(r['lut4'])} / {_fmt(cap['lut4'])} | {_fmt(r['ff'])} "
                f"| {r['bram']} / {cap['bram']} | {r['spram']} / {cap['spram']} "
                f"| {r['dsp']} / {cap['dsp']} | {fmax} | yes | {_secs(r)} "
                f"| {r['wall_s']:.0f} |")
        else:
            ys = r.get("yosys") or {}
            lines.append(
                f"| {r['name']} | {r['array']} | {r['core']} | {r['device']} "
                f"| ({_fmt(ys.get('lut4_yosys'))}) | ({_fmt(ys.get('ff'))}) "
                f"| ({ys.get('bram', '—')}) / {cap['bram']} "
                f"| ({ys.get('spram', '—')}) / {cap['spram']} "
                f"| ({ys.get('dsp', '—')}) / {cap['dsp']} | — "
                f"| {'**no**' if _over_capacity(r) else '?'}: {r['tool']} failed "
                f"| {_secs(r)}, until the failure "
                f"| {r['wall_s']:.0f} |")
    lines += [
        "",
        "How to read it:",
        "- LUT4 is what nextpnr placed (`ICESTORM_LC` logic cells on iCE40, each one LUT4 + "
        "one FF; `TRELLIS_COMB` LUT4 slots on ECP5, carry and LUT-RAM included); FF is "
        "Yosys's flip-flop count on iCE40 and nextpnr's `TRELLIS_FF` on ECP5. BRAM is iCE40 "
        "EBR `SB_RAM40_4K` / ECP5 `DP16KD`, SPRAM `SB_SPRAM256KA`, DSP `SB_MAC16` / "
        "`MULT18X18D`. Numbers in parentheses are Yosys's counts (before packing) of a run "
        "nextpnr could not place.",
        "- Every number includes the measurement harness (a shift register driving every "
        "input bit of the array: `ext_in`, `cfg`, `cfg_rdata.ready`, `ext_out.ready`, "
        "`start`, `free_run`, `period`; a registered XOR tree over every output bit: "
        "`ext_out`, `cfg_rdata`, `idle`, `done`, `step`, `last_cycles`, `packets_in`, "
        "`packets_out`, `status`; 3 pins): "
        + "; ".join(f"{r['name']}: {r['harness']['ff']} FF + {r['harness']['lut4']} LUT4"
                    for r in result["runs"] if r["ok"]) + ".",
        "- Fmax is nextpnr's estimate for the one clock after routing, constrained at the "
        "SPEC §6 target (100 MHz on ECP5-85F, 40 MHz on iCE40UP5K).",
        "- time: the seconds of each step as `synthesize` measured them (elaborate = "
        "Amaranth elaboration and RTLIL conversion); wall: the whole run.",
    ]
    # per-tile cost from the ECP5 arrays
    ok = {r["name"]: r for r in result["runs"] if r["ok"]}
    if "2x2-cuba64-ecp5" in ok and "4x4-cuba64-ecp5" in ok:
        a, b = ok["2x2-cuba64-ecp5"], ok["4x4-cuba64-ecp5"]
        per = {k: (b[k] - a[k]) / 12 for k in ("lut4", "ff", "bram", "dsp")}
        lines.append(
            f"- From 2×2 to 4×4 (12 more tiles) on ECP5: {per['lut4']:,.0f} LUT4, "
            f"{per['ff']:,.0f} FF, {per['bram']:.1f} DP16KD and {per['dsp']:.1f} DSP per "
            "tile (core, fan-out unit, routing table and router).")
    if "core-cuba64-ecp5" in ok and "1x1-cuba64-ecp5" in ok:
        a, b = ok["core-cuba64-ecp5"], ok["1x1-cuba64-ecp5"]
        lines.append(
            f"- A 1×1 array costs {b['lut4'] - a['lut4']:+,} LUT4, {b['ff'] - a['ff']:+,} FF, "
            f"{b['bram'] - a['bram']:+} DP16KD over the core alone (fan-out unit, routing "
            "table, one router, step barrier, counters, configuration mux; harness "
            "differences included).")
    fails = [r for r in result["runs"] if not r["ok"]]
    if fails:
        lines += ["", "## Runs that failed", "",
                  "\"no\" in the table: the design needs more than the device has; \"?\": "
                  "a tool failed for another reason (the message says which).", ""]
        for r in fails:
            util = _util_text(r)
            lines.append(f"- **{r['name']}** ({r['array']}, {r['core']}, {r['device']}): "
                         f"{r['tool']}: `{_first_error(r)}`"
                         + (f"; nextpnr's utilisation after packing: {util}" if util else "")
                         + ".")
    # breakdown
    lines += ["", "## Where the logic goes (Yosys netlist, by cell name)", "",
              "LUT4 / FF of Yosys's netlist by part of the design, attributed by the "
              "hierarchical name Yosys gives each cell (the net it drives): an "
              "approximation. Per-tile parts are summed over all tiles.", ""]
    groups = ["cores", "fan-out units", "tiles (glue)", "routers", "array control", "core",
              "harness, ports and unattributed"]
    present = [g for g in groups if any(g in (r.get("breakdown") or {})
                                        for r in result["runs"])]
    lines += ["| run | " + " | ".join(present) + " |",
              "|---|" + "---|" * len(present)]
    for r in result["runs"]:
        bd = r.get("breakdown") or {}
        if not bd:
            continue
        cells = [f"{bd[g]['lut4']:,} / {bd[g]['ff']:,}" if g in bd else "—" for g in present]
        lines.append(f"| {r['name']} | " + " | ".join(cells) + " |")
    # memories of the biggest placed array per device, one row per memory kind
    lines += ["", "## Memories (Yosys `memory_libmap`)", "",
              "One row per kind of memory (the same memory of every tile and router is "
              "mapped the same way; `n` is how many there are).", "",
              "| run | memory | width × depth | mapped to | n |", "|---|---|---|---|---|"]
    for r in result["runs"]:
        mems = r.get("memories") if r["ok"] else (r.get("yosys") or {}).get("memories", [])
        kinds = collections.OrderedDict()
        for mem in mems or []:
            kind = re.sub(r"_\d+_\d+\b", "_X_Y", mem["memory"])
            key = (kind, mem.get("width"), mem.get("depth"), mem["mapped_to"])
            kinds[key] = kinds.get(key, 0) + 1
        for (kind, w, dpt, mapped), n in sorted(kinds.items(), key=lambda kv: kv[0][0]):
            shape = f"{w} × {dpt}" if w is not None else ""
            lines.append(f"| {r['name']} | `{kind}` | {shape} | `{mapped}` | {n} |")
    lines += ["", "## Critical paths (nextpnr)", "",
              "Each row is one cell where time is spent (routing into it included); a run of "
              "carry-chain cells is one row. Cell names are Yosys's, derived from the nets "
              "they drive, so read them as hints.", ""]
    for r in result["runs"]:
        if not r["ok"] or not r["critical_path"]:
            continue
        cp = r["critical_path"]
        lines += [f"**{r['name']}** ({r['device']}): {cp['delay_ns']:.2f} ns "
                  f"({cp['logic_ns']:.2f} logic, {cp['routing_ns']:.2f} routing), "
                  f"from `{cp['from']}` to `{cp['to']}`.", "",
                  "| arrival (ns) | + ns | cell type | cell | HDL |", "|---|---|---|---|---|"]
        for h in cp["hops"]:
            kind = h["type"] + (f" carry ×{h['cells']}" if h["carry"] else "")
            cell = h["cell"] if len(h["cell"]) <= 70 else h["cell"][:67] + "..."
            lines.append(f"| {h['at_ns']:.2f} | {h['delay_ns']:.2f} | {kind} | `{cell}` "
                         f"| {', '.join(h['sources'])} |")
        lines.append("")
    warns = [(r["name"], w) for r in result["runs"] if r["ok"] for w in r["warnings"]]
    for r in result["runs"]:
        gaps = r.get("dsp_timing_gaps") if r["ok"] else None
        if gaps:
            warns.append((r["name"], f"{len(gaps)} iCE40 DSP(s) with a clock but unregistered "
                          "inputs: paths through their multipliers are cut in two by nextpnr "
                          "(see docs/synthesis.md)"))
    if warns:
        lines += ["Warnings:"] + [f"- {name}: {w}" for name, w in warns] + [""]
    return "\n".join(lines).rstrip("\n") + "\n"


def _refresh_memories(row):
    """Re-read a run's memory mapping (and shapes) from its build folder, if it is there."""
    out = Path(row["out_dir"])
    if not (out / "yosys.log").exists() or not (out / "top.il").exists():
        return
    mems = synth._memory_mapping(out / "yosys.log")
    synth._add_shapes(mems, (out / "top.il").read_text())
    if row["ok"]:
        row["memories"] = mems
    elif row.get("yosys"):
        row["yosys"]["memories"] = mems


def render_only(results):
    json_path = results / "synth_mesh.json"
    result = json.loads(json_path.read_text())
    for row in result["runs"]:
        _refresh_memories(row)
    json_path.write_text(json.dumps(result, indent=2) + "\n")
    md = markdown(result)
    (results / "synth_mesh.md").write_text(md)
    print(md)
    return 0


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--build", type=Path, default=REPO / "build" / "synth_mesh",
                    help="where netlists and logs go (default build/synth_mesh)")
    ap.add_argument("--results", type=Path, default=ROOT / "results",
                    help="where synth_mesh.json and .md go (default benchmarks/results)")
    ap.add_argument("--seed", type=int, default=1, help="nextpnr placement seed")
    ap.add_argument("--timeout", type=float, default=7200,
                    help="seconds allowed for each tool of each run (default 7200)")
    ap.add_argument("--only", action="append", metavar="NAME",
                    help="run only this run (repeatable); results merge into the existing "
                         "synth_mesh.json")
    ap.add_argument("--render-only", action="store_true",
                    help="run no tool: write synth_mesh.md again from synth_mesh.json")
    args = ap.parse_args(argv)
    if args.render_only:
        return render_only(args.results)
    names = [r[0] for r in RUNS]
    for n in args.only or []:
        if n not in names:
            ap.error(f"--only {n!r}: no such run; expected one of {', '.join(names)}")
    runs = [r for r in RUNS if not args.only or r[0] in args.only]

    result = {"command": sc._command(), "machine": sc._machine(), "tools": sc._tools(),
              "git": sc._git(), "seed": args.seed, "timeout": args.timeout, "runs": []}
    json_path = args.results / "synth_mesh.json"
    old = {}
    if args.only and json_path.exists():
        old = {r["name"]: r for r in json.loads(json_path.read_text()).get("runs", [])}
    args.results.mkdir(parents=True, exist_ok=True)
    done = {}

    def write():
        result["runs"] = [done.get(n) or old.get(n) for n in names if done.get(n) or old.get(n)]
        json_path.write_text(json.dumps(result, indent=2) + "\n")
        md = markdown(result)
        (args.results / "synth_mesh.md").write_text(md)
        return md

    bar = tqdm(runs, desc="array synthesis", unit="run")
    for name, params, mp, device in bar:
        bar.set_postfix_str(f"{name}")
        done[name] = run_one(name, params, mp, device, args.build, args.seed, args.timeout)
        r = done[name]
        bar.write(f"{name}: " + (f"{r['lut4']:,} LUT4, {r['ff']:,} FF, {r['bram']} BRAM, "
                                 f"{r['dsp']} DSP, {r['fmax_mhz']:.1f} MHz"
                                 if r["ok"] else f"failed ({r['tool']})")
                  + f", {r['wall_s']:.0f} s")
        write()             # after every run: a stopped benchmark keeps what it measured
    bar.close()
    print(write())
    return 0


if __name__ == "__main__":
    sys.exit(main())
