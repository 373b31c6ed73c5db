"""Tiled Verilog of an array: one tile module, instantiated at every mesh position.

``generate`` of a ``[mesh]`` configuration elaborates the tile (core, fan-out unit and
routing table, :class:`~spikefab.rtl.mesh.Tile`) **once** and writes it as one Verilog module
``<name>_tile``; the array's top module ``<name>`` instantiates it at every position. Each
instance reads its memory contents from its own files with ``$readmemh``: instance (x, y)
has the parameter ``MEM = {`SPIKEFAB_MEM_DIR, "mem/tile_<x>_<y>."}`` and loads
``<MEM>syn.hex``, ``<MEM>param.hex``, ... (one word per line, the memory's width in hex
digits). The macro ``SPIKEFAB_MEM_DIR`` defaults to ``""``: the files are found relative to
the working folder of the tool (run the simulator or Yosys in the output folder, or define
the macro as the output folder with a trailing ``/``, e.g. ``-DSPIKEFAB_MEM_DIR=\"out/\"``).

Generation time and peak memory so grow with the number of cores only through the parts
that are per position anyway (routers, the array's control, the files), not through a full
elaboration of every core. See ``docs/generation.md`` for the measured figures.

How the tile is made position-free: :class:`PositionFreeTile` wraps the tile of position
(0, 0) and takes its position on inputs ``x``, ``y`` (constants at each instance, which
synthesis propagates): an incoming packet addressed to (x, y) is shown to the inner tile as
addressed to (0, 0), any other as addressed to (1, 0) (so the inner tile drops and flags it
exactly as the tile of (x, y) would); an exit packet leaving the inner tile gets its source
coordinates set to (x, y). Everything else passes through unchanged.

How the memory files are made: every memory of the tile that has initial contents is
matched, by its name in the flattened tile, to the image words it holds
(:func:`tile_memories`); the generator checks, for the tile it elaborated, that the contents
Yosys wrote equal those words (a memory it cannot match is an error, never a silent zero).
"""

import re
from pathlib import Path

from amaranth.back import rtlil
from amaranth.hdl import ClockSignal, Const, Instance, Module, Mux, ResetSignal
from amaranth.lib import wiring
from amaranth.lib.wiring import In

from ..rtl import layouts
from ..rtl.image import CoreImage
from ..rtl.mesh import Mesh, Tile
from ..rtl.netimage import NetworkImage, RouteTable
from ..rtl.router import XYRouter, mesh_coord_bits
from ..rtl.netnames import tool_safe_names, verilog_text


__all__ = ["PositionFreeTile", "tile_memories", "tile_key", "tiled_verilog", "MEM_PARAM", "MEM_DIR_MACRO"]

#: The tile module's parameter: the prefix of its memory files.
MEM_PARAM = "MEM"
#: The Verilog macro naming the folder (with a trailing ``/``) that holds ``mem/``.
MEM_DIR_MACRO = "SPIKEFAB_MEM_DIR"
#: Subfolder of the output folder holding the tiles' memory files.
MEM_FOLDER = "mem"


class GenerationError(RuntimeError):
    """The tiled generator met a design it cannot split into files (a bug, not a user error)."""


class PositionFreeTile(wiring.Component):
    """The :class:`~spikefab.rtl.mesh.Tile` of position (0, 0), with its position on ports.

    Members: those of the tile, plus ``x : In(x_bits)`` and ``y : In(y_bits)`` (the
    position; constant at each instance). Same behaviour and latency as the tile of (x, y).
    """

    def __init__(self, *, mesh, core_image, route):
        self._inner = Tile(mesh=mesh, core_image=core_image, route=route, x=0, y=0)
        members = dict(self._inner.signature.members)
        members["x"] = In(mesh.x_bits)
        members["y"] = In(mesh.y_bits)
        super().__init__(wiring.Signature(members))

    def elaborate(self, platform):
        m = Module()
        m.submodules.tile = t = self._inner
        inner = {path: v for path, _, v in t.signature.flatten(t)}
        for path, member, v in self.signature.flatten(self):
            if path in (("x",), ("y",)):
                continue
            if member.flow == In:
                m.d.comb += inner[path].eq(v)
            else:
                m.d.comb += v.eq(inner[path])
        # (later assignments of the same bits take precedence over the pass-through above)
        pk = self.i_pkt.payload
        here = (pk.x == self.x) & (pk.y == self.y)
        m.d.comb += [t.i_pkt.payload.x.eq(Mux(here, 0, 1)), t.i_pkt.payload.y.eq(0)]
        with m.If(t.o_pkt.payload.exit):
            m.d.comb += [self.o_pkt.payload.payload.source.x.eq(self.x),
                         self.o_pkt.payload.payload.source.y.eq(self.y)]
        return m


def _port_name(path):
    return "__".join(str(p) for p in path)


class _Instance(wiring.Component):
    """An instance of a generated module (the tile or the router): a component of the
    signature :class:`Mesh` expects, whose ports are those of the module, plus constant
    inputs ``extra`` (the position) and parameters ``params``."""

    def __init__(self, signature, module, extra, params):
        self._module, self._extra, self._params = module, extra, params
        super().__init__(signature)

    def elaborate(self, platform):
        m = Module()
        ports = {f"i_{k}": v for k, v in self._extra.items()}
        ports.update({f"p_{k}": v for k, v in self._params.items()})
        for path, member, v in self.signature.flatten(self):
            ports[("i_" if member.flow == In else "o_") + _port_name(path)] = v
        m.submodules.inst = Instance(self._module, i_clk=ClockSignal(), i_rst=ResetSignal(),
                                     **ports)
        return m


def _signature_of(component):
    """The signature of a component made only for it (never elaborated)."""
    component._MustUse__silence = True
    return component.signature


def tile_memories(core_image: CoreImage, route: RouteTable):
    """``{memory name in the flattened tile: (file suffix, words)}`` for every memory of a
    tile that has initial contents (the others start empty)."""
    p = core_image.params
    mems = {
        "tile.core.synaptic_input.syn_mem.mem": ("syn", core_image.syn_words),
        "tile.core.neuron_update.par_mem": ("param", core_image.param_words),
        "tile.core.neuron_update.st_mem": ("state", core_image.state_words),
        "tile.fanout.ptr_mem": ("route_ptr", route.ptr_words),
        "tile.fanout.ent_mem": ("route", route.entry_words),
    }
    if p.param_mode == "profile":
        mems["tile.core.neuron_update.pidx_mem"] = ("pidx", core_image.pidx_words)
    if p.learning:
        mems["tile.core.stdp.x_mem"] = ("xtrace", core_image.xtrace_words)
        mems["tile.core.stdp.y_mem"] = ("ytrace", lambda: _y_words(core_image))
    return mems


def _y_words(img):
    """The STDP engine's post-synaptic trace memory: a word per ``lanes`` neurons, each lane
    ``(y, dltd = 0)``."""
    p = img.params
    L = p.lanes
    elem = p.trace_bits + (8 + p.trace_bits)    # y, dltd (rtl/stdp.py; checked on generation)
    return [sum(int(img.y[j * L + l]) << (l * elem) for l in range(L))
            for j in range(p.words_per_row)]


# --- Verilog text ----------------------------------------------------------------------------

_MEM_DECL = re.compile(r"^\s*reg \[(\d+):0\] (\S+|\\\S+ ) \[(\d+):0\];$", re.M)


def _yosys_flat_verilog(il_text):
    """Verilog of RTLIL text with the hierarchy flattened into one module (as Amaranth's
    ``verilog.convert`` writes it otherwise)."""
    from amaranth._toolchain.yosys import find_yosys
    yosys = find_yosys(lambda ver: ver >= (0, 40))
    script = [f"read_rtlil <<rtlil\n{il_text}\nrtlil", "proc -nomux -norom", "flatten",
              "memory_collect", "opt_clean", "write_verilog -norename"]
    return yosys.run(["-q", "-"], "\n".join(script), ignore_warnings=True)


def _init_blocks(text):
    """``{memory name: (start, end, {address: word})}`` of each memory initialisation block
    Yosys wrote (``initial begin mem[a] = W'h...; ... end``)."""
    out = {}
    for blk in re.finditer(r"^  initial begin\n((?:    .*\n)+?)  end\n", text, re.M):
        lines = blk.group(1).splitlines()
        words, name = {}, None
        for ln in lines:
            mm = re.fullmatch(r"\s*(\\\S+ |\S+)\[(\d+)\] = (\d+)'h([0-9a-fA-Fx]+);", ln)
            if mm is None:
                break
            if name not in (None, mm.group(1)):
                break
            name = mm.group(1)
            words[int(mm.group(2))] = int(mm.group(4), 16)
        else:
            if name is not None:
                out[name.strip().lstrip("\\")] = (blk.start(), blk.end(), words)
    return out


def tile_module(mesh, params, core_image, route, name, check=True):
    """Verilog text of the tile module ``name`` (flattened), its memories loaded from
    ``{MEM}<suffix>.hex``; returns ``(text, {suffix: width})``.

    ``core_image`` and ``route`` are what the tile is elaborated with; with ``check``, the
    contents Yosys wrote for them are compared with :func:`tile_memories` (a mismatch or an
    initialised memory of unknown name is a :class:`GenerationError`)."""
    wrapper = PositionFreeTile(mesh=mesh, core_image=core_image, route=route)
    il_text = rtlil.convert(wrapper, name=name)
    text = _yosys_flat_verilog(tool_safe_names(il_text))
    decls = {mm.group(2).strip().lstrip("\\"): (int(mm.group(1)) + 1, int(mm.group(3)) + 1)
             for mm in _MEM_DECL.finditer(text)}
    mems = tile_memories(core_image, route)
    blocks = _init_blocks(text)
    # a memory of no image contents (FIFOs, accumulators) starts at zero: it stays as written
    unknown = sorted(k for k in set(blocks) - set(mems) if any(blocks[k][2].values()))
    blocks = {k: v for k, v in blocks.items() if k in mems}
    if unknown:
        raise GenerationError(f"the tile has initialised memories the generator cannot put "
                              f"in files: {', '.join(unknown)}")
    widths = {}
    pieces, pos = [], 0
    for mem_name, (start, end, words) in sorted(blocks.items(), key=lambda kv: kv[1][0]):
        suffix, get = mems[mem_name]
        width, depth = decls[mem_name]
        widths[suffix] = width
        if check:
            want = [int(w) for w in get()]
            got = [words.get(a, 0) for a in range(depth)]
            if got != want + [0] * (depth - len(want)):
                raise GenerationError(f"memory {mem_name}: the contents Yosys wrote differ "
                                      f"from the image's {suffix} words")
        esc = "\\" + mem_name + " "
        pieces.append(text[pos:start])
        pieces.append(f'  initial $readmemh({{{MEM_PARAM}, "{suffix}.hex"}}, {esc});\n')
        pos = end
    pieces.append(text[pos:])
    text = "".join(pieces)
    for mem_name, (suffix, _) in mems.items():
        if suffix not in widths and mem_name in decls:
            # initialised only by the file (its contents were all zero here)
            widths[suffix] = decls[mem_name][0]
            text = _add_readmem(text, mem_name, suffix)
    return _add_parameter(text, name, f'parameter {MEM_PARAM} = "";'), widths


def _add_readmem(text, mem_name, suffix):
    esc = "\\" + mem_name + " "
    decl = re.search(rf"^\s*reg \[\d+:0\] {re.escape(esc)}\[\d+:0\];\n", text, re.M)
    return (text[:decl.end()] + f'  initial $readmemh({{{MEM_PARAM}, "{suffix}.hex"}}, '
            f'{esc});\n' + text[decl.end():])


def _add_parameter(text, module, decl):
    head = re.search(rf"^module {re.escape(module)}\(.*?\);\n", text, re.M | re.S)
    if head is None:
        raise GenerationError(f"no module {module} in the Verilog Yosys wrote")
    return text[:head.end()] + f"  {decl}\n" + text[head.end():]


def tile_key(core_image: CoreImage):
    """What a tile module is made for besides the parameters: the image's values that live
    in registers, not memories (``w_exp`` and, with learning, the STDP registers). Cores of
    equal keys share one tile module."""
    return (int(core_image.w_exp), tuple(sorted((int(r), int(v)) for r, v in
                                                core_image.stdp_reg_words().items())))


def tiled_verilog(image: NetworkImage, name, progress=None):
    """The tiled Verilog of the array of ``image``: ``(text, {suffix: width}, top)``; the
    text holds a tile module per distinct :func:`tile_key` (``<name>_tile``,
    ``<name>_tile_1``, ...), the router module ``<name>_router`` and the top module
    ``name``; ``top`` is the :class:`Mesh` it was converted from."""
    mp, p = image.mesh, image.params
    modules = {}                          # tile key -> (module name, first core of the key)
    for c, core in enumerate(image.cores):
        key = tile_key(core)
        if key not in modules:
            modules[key] = (f"{name}_tile" + (f"_{len(modules)}" if modules else ""), c)
    texts, widths = [], {}
    for k, (tile_name, c) in enumerate(modules.values()):
        text, w = tile_module(mp, p, image.cores[c], image.routes[c], tile_name)
        texts.append(text)
        widths.update(w)
        if progress:
            progress("tile modules", k + 1, len(modules))
    tile_sig = _signature_of(Tile(mesh=mp, core_image=image.cores[0], route=image.routes[0],
                                  x=0, y=0))

    def tile(*, mesh, core_image, route, x, y):
        if progress:
            progress("array", mp.core_index(x, y) + 1, mp.cores)
        return _Instance(tile_sig, modules[tile_key(core_image)][0],
                         {"x": Const(x, mp.x_bits), "y": Const(y, mp.y_bits)},
                         {MEM_PARAM: f"{MEM_FOLDER}/tile_{x}_{y}."})

    router_name = f"{name}_router"
    router_text, router_sig = None, None

    def router(*, x, y, width, height, payload_shape, fifo_depth, edge_port):
        nonlocal router_text, router_sig
        if edge_port is not None:          # the edge router (one per array): its own module
            return XYRouter(x=x, y=y, width=width, height=height, payload_shape=payload_shape,
                            fifo_depth=fifo_depth, edge_port=edge_port)
        args = dict(width=width, height=height, payload_shape=payload_shape,
                    fifo_depth=fifo_depth)
        if router_text is None:
            router_text = verilog_text(XYRouter(x=0, y=0, position_ports=True, **args),
                                       router_name)
            router_sig = _signature_of(XYRouter(x=0, y=0, **args))
        return _Instance(router_sig, router_name,
                         {"pos_x": Const(x, mesh_coord_bits(width)),
                          "pos_y": Const(y, mesh_coord_bits(height))}, {})

    top = Mesh(image, tile=tile, router=router)
    top_text = verilog_text(top, name)
    if progress:
        progress("array to Verilog", 1, 1)
    top_text = re.sub(rf'\.{MEM_PARAM}\("({MEM_FOLDER}/tile_\d+_\d+\.)"\)',
                      rf'.{MEM_PARAM}({{`{MEM_DIR_MACRO}, "\1"}})', top_text)
    top_text = (f"`ifndef {MEM_DIR_MACRO}\n`define {MEM_DIR_MACRO} \"\"\n`endif\n"
                + top_text)
    return "".join(texts) + (router_text or "") + top_text, widths, top
