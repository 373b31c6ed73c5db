"""Hardware configuration: a TOML file becomes a frozen, validated :class:`Config`.

A configuration has these tables, every key optional::

    [core]              # the neuron core: every field of rtl.params.CoreParams
                        # (synapses = "digital" | "crossbar" picks the synaptic input)
    [core.extensions]   # optional: refractory_bits, subtractive_reset, v_floor (cuba only)
    [build]             # name (Verilog top module), clock_mhz (synthesis target)
    [sim]               # simulator, steps, seed
    [mesh]              # optional: a many-core array (rtl.params.MeshParams)

A ``[board]`` table may be present only empty: boards come with the board top-levels (an
upcoming issue), and until then any key in it is an error rather than a promise.

``load_config(path)`` reads a file, ``loads_config(text)`` a string, and
``parse_config(mapping)`` an already parsed mapping (for example a manifest's ``to_dict()``).
Each returns a complete :class:`Config` or raises :class:`ConfigError`, whose message names
the source, the full dotted key, the offending value and what is allowed, for example::

    examples/x.toml: core.lanes = 3 is not allowed: expected a power of two (1, 2, 4, 8, 16 or 32)

The core's checks live in :class:`~spikefab.rtl.params.CoreParams` and are reused here, not
repeated. ``docs/configuration.md`` is the reference of every key.
"""

import hashlib
import json
import math
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, fields

try:
    import tomllib
except ModuleNotFoundError:             # Python 3.10
    import tomli as tomllib

from ..rtl.params import (CoreParams, MeshParams, ParamError, check_choice, check_int,
                          dataclass_from_table)


__all__ = [
    "ConfigError", "Config", "BuildConfig", "SimConfig",
    "load_config", "loads_config", "parse_config",
    "SIMULATORS", "EXTENSION_KEYS", "VERILOG_KEYWORDS",
]


class ConfigError(ValueError):
    """A hardware configuration is malformed.

    The message names the file (or source), the full dotted key, the offending value and what
    is allowed.
    """


#: Values of ``sim.simulator``.
SIMULATORS = ("golden", "verilator", "icarus")
#: Keys of the optional ``[core.extensions]`` table (fields of CoreParams).
EXTENSION_KEYS = ("refractory_bits", "subtractive_reset", "v_floor")

CLOCK_MHZ_RANGE = (1, 500)
#: Largest synapse memory of one core that the generator builds, in bits (axons x neurons x
#: weight_bits): 16 Mibit, 4 times the block RAM of the largest supported device (ECP5-85F:
#: 208 EBR of 18 Kibit, 3.7 Mibit); it generates in about 3 CPU minutes and 2.2 GB
#: (docs/generation.md). The
#: memory's initial contents go through Amaranth and Yosys in full: 128 Mibit (4096 x 4096 x 8)
#: ran for 25 minutes and reached 17 GB without finishing.
SYN_BITS_MAX = 1 << 24
STEPS_RANGE = (1, 1_000_000)
SEED_RANGE = (0, 2**32 - 1)
NAME_MAX_LEN = 128

_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")

#: Reserved words of Verilog (IEEE 1364-2005) and SystemVerilog (IEEE 1800-2017): not
#: usable as a module name, since Verilator reads its input as SystemVerilog.
VERILOG_KEYWORDS = frozenset("""
    always and assign automatic begin buf bufif0 bufif1 case casex casez cell cmos config
    deassign default defparam design disable edge else end endcase endconfig endfunction
    endgenerate endmodule endprimitive endspecify endtable endtask event for force forever fork
    function generate genvar highz0 highz1 if ifnone incdir include initial inout input
    instance integer join large liblist library localparam macromodule medium module nand
    negedge nmos nor noshowcancelled not notif0 notif1 or output parameter pmos posedge
    primitive pull0 pull1 pulldown pullup pulsestyle_ondetect pulsestyle_onevent rcmos real
    realtime reg release repeat rnmos rpmos rtran rtranif0 rtranif1 scalared showcancelled
    signed small specify specparam strong0 strong1 supply0 supply1 table task time tran
    tranif0 tranif1 tri tri0 tri1 triand trior trireg unsigned use uwire vectored wait wand
    weak0 weak1 while wire wor xnor xor
    accept_on alias always_comb always_ff always_latch assert assume before bind bins binsof
    bit break byte chandle checker class clocking const constraint context continue cover
    covergroup coverpoint cross dist do endchecker endclass endclocking endgroup endinterface
    endpackage endprogram endproperty endsequence enum eventually expect export extends extern
    final first_match foreach forkjoin global iff ignore_bins illegal_bins implements implies
    import inside int interconnect interface intersect join_any join_none let local logic
    longint matches modport nettype new nexttime null package packed priority program property
    protected pure rand randc randcase randsequence ref reject_on restrict return s_always
    s_eventually s_nexttime s_until s_until_with sequence shortint shortreal soft solve static
    string strong struct super sync_accept_on sync_reject_on tagged this throughout
    timeprecision timeunit type typedef union unique unique0 until until_with untyped var
    virtual void wait_order weak wildcard with within
""".split())


# --- checks in the house style of rtl.params (messages name key, value and range) ----------

def check_number(name, value, lo, hi):
    """Raise :class:`ParamError` unless ``value`` is a real number (int or float) in ``lo..hi``."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ParamError(f"{name} must be a number in {lo}..{hi}, not {value!r}")
    if not (math.isfinite(value) and lo <= value <= hi):
        raise ParamError(f"{name} = {value!r} is out of range: allowed {lo}..{hi}")
    return value


def check_identifier(name, value):
    """Raise :class:`ParamError` unless ``value`` can name a Verilog module (and its files)."""
    if not isinstance(value, str):
        raise ParamError(f"{name} must be a string (a Verilog identifier), not {value!r}")
    if not _IDENT.fullmatch(value) or len(value) > NAME_MAX_LEN:
        raise ParamError(f"{name} = {value!r} is not allowed: expected a Verilog identifier "
                         f"(a letter or _, then letters, digits or _; 1..{NAME_MAX_LEN} "
                         f"characters)")
    if value in VERILOG_KEYWORDS:
        raise ParamError(f"{name} = {value!r} is not allowed: it is a reserved word of "
                         f"Verilog/SystemVerilog")
    return value




# --- the tables ------------------------------------------------------------------------------

@dataclass(frozen=True)
class BuildConfig:
    """The ``[build]`` table.

    Parameters
    ----------
    name : str
        Name of the generated Verilog top module (and of its files): a Verilog identifier of
        letters, digits and ``_``, not starting with a digit, 1..128 characters, not a reserved
        word.
    clock_mhz : float
        Target clock frequency for synthesis constraints, 1..500 MHz (stored as a float).
    """
    name: str = "spikefab_core"
    clock_mhz: float = 50.0

    def __post_init__(self):
        check_identifier("name", self.name)
        check_number("clock_mhz", self.clock_mhz, *CLOCK_MHZ_RANGE)
        object.__setattr__(self, "clock_mhz", float(self.clock_mhz))

    def to_dict(self):
        return {f.name: getattr(self, f.name) for f in fields(self)}


@dataclass(frozen=True)
class SimConfig:
    """The ``[sim]`` table.

    Parameters
    ----------
    simulator : str
        ``"golden"`` (the Python golden model), ``"verilator"`` or ``"icarus"``.
    steps : int
        Timesteps to simulate, 1..1000000.
    seed : int
        Seed of the random input stimulus, 0..2**32-1.
    """
    simulator: str = "verilator"
    steps: int = 100
    seed: int = 1

    def __post_init__(self):
        check_choice("simulator", self.simulator, SIMULATORS)
        check_int("steps", self.steps, *STEPS_RANGE)
        check_int("seed", self.seed, *SEED_RANGE)

    def to_dict(self):
        return {f.name: getattr(self, f.name) for f in fields(self)}


_TABLES = {"core": CoreParams, "build": BuildConfig, "sim": SimConfig}
#: Optional tables: absent from ``to_dict`` (and the digest) when not given.
_OPTIONAL = {"mesh": MeshParams}


@dataclass(frozen=True)
class Config:
    """A complete, validated hardware configuration; ``Config()`` is the built-in default
    (identical to ``examples/default.toml``).
    """
    core: CoreParams = field(default_factory=CoreParams)
    build: BuildConfig = field(default_factory=BuildConfig)
    sim: SimConfig = field(default_factory=SimConfig)
    #: The many-core array (``[mesh]``: width, height, route_entries, fifo_depth); None for
    #: a single core (no ``[mesh]`` table).
    mesh: MeshParams = None

    def __post_init__(self):
        for name, cls in _TABLES.items():
            if not isinstance(getattr(self, name), cls):
                raise TypeError(f"Config.{name} must be a {cls.__name__}, "
                                f"not {getattr(self, name)!r}")
        if self.mesh is not None and not isinstance(self.mesh, MeshParams):
            raise TypeError(f"Config.mesh must be a MeshParams or None, not {self.mesh!r}")

    def to_dict(self):
        """Every key of every table, defaults filled in, as plain JSON-serialisable data.

        ``parse_config(cfg.to_dict()) == cfg``; the core's extensions appear flat in ``core``.
        """
        d = {name: getattr(self, name).to_dict() for name in _TABLES}
        if self.mesh is not None:
            d["mesh"] = self.mesh.to_dict()
        return d

    def to_json(self):
        """Canonical JSON of :meth:`to_dict`: sorted keys, no whitespace, ASCII only."""
        return json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"),
                          ensure_ascii=True, allow_nan=False)

    def digest(self):
        """Hex SHA-256 of :meth:`to_json`: identifies a build, equal for equal configurations."""
        return hashlib.sha256(self.to_json().encode("ascii")).hexdigest()


# --- reading ---------------------------------------------------------------------------------

def _core_from_table(table):
    """CoreParams from the ``[core]`` table, with its optional ``[core.extensions]`` sub-table."""
    flat = dict(table)
    ext_keys = ()
    if "extensions" in flat:
        ext = flat.pop("extensions")
        if not isinstance(ext, Mapping):
            raise ParamError(f"core.extensions must be a table (keys "
                             f"{', '.join(EXTENSION_KEYS)}), not {ext!r}")
        for key, value in ext.items():
            if key not in EXTENSION_KEYS:
                raise ParamError(f"core.extensions.{key} is not a known key: expected one of "
                                 f"{', '.join(EXTENSION_KEYS)}")
            if key in flat:
                raise ParamError(f"core.extensions.{key} = {value!r} is given twice: also as "
                                 f"core.{key} = {flat[key]!r}; give it in one place")
        flat.update(ext)
        ext_keys = tuple(ext)
    try:
        return CoreParams.from_dict(flat, where="core")
    except ParamError as e:
        msg = str(e)
        if " is not a known key: " in msg:
            msg += ", or the table core.extensions"
        for key in ext_keys:            # report a value from the sub-table where it was given
            if msg.startswith(f"core.{key} "):
                msg = f"core.extensions.{msg[len('core.'):]}"
        raise ParamError(msg) from None


def check_generation_limits(core):
    """Raise :class:`ParamError` for a core the generator does not build: a synapse memory
    past :data:`SYN_BITS_MAX` bits."""
    bits = core.axons * core.neurons * core.weight_bits
    if bits > SYN_BITS_MAX:
        raise ParamError(
            f"core.axons x core.neurons x core.weight_bits = {core.axons} x {core.neurons} x "
            f"{core.weight_bits} = {bits} synapse memory bits is past the generator's limit: "
            f"expected at most {SYN_BITS_MAX} bits (16 Mibit, 4 times the block RAM of the "
            f"largest supported device, ECP5-85F; see docs/generation.md)")


def parse_config(mapping, source="<string>"):
    """Validate a parsed configuration (a mapping of tables) into a :class:`Config`.

    Raises :class:`ConfigError` naming ``source``, the dotted key, the value and what is
    allowed. Nothing is half-applied: the result is complete or there is none.
    """
    if not isinstance(mapping, Mapping):
        raise ConfigError(f"{source}: a configuration must be a table of tables, "
                          f"not {mapping!r}")
    parts = {}
    try:
        for name, table in mapping.items():
            if name == "board" and isinstance(table, Mapping):
                for key, value in table.items():
                    raise ParamError(f"board.{key} = {value!r} is not supported yet: boards "
                                     f"come with the board top-levels (an upcoming issue); "
                                     f"remove the [board] table")
                continue
            if name not in _TABLES and name not in _OPTIONAL:
                raise ParamError(f"{name} is not a known table: expected one of "
                                 f"{', '.join(sorted({**_TABLES, **_OPTIONAL}))}")
            if not isinstance(table, Mapping):
                raise ParamError(f"{name} must be a table, not {table!r}")
            if name == "core":
                parts[name] = _core_from_table(table)
                check_generation_limits(parts[name])
            else:
                cls = _TABLES.get(name) or _OPTIONAL[name]
                parts[name] = dataclass_from_table(cls, table, name)
    except ParamError as e:
        raise ConfigError(f"{source}: {e}") from None
    return Config(**parts)


def loads_config(text, source="<string>"):
    """Parse TOML text into a :class:`Config` (see :func:`parse_config`)."""
    try:
        mapping = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{source}: not valid TOML: {e}") from None
    return parse_config(mapping, source)


def load_config(path):
    """Read a TOML configuration file into a :class:`Config`.

    Raises :class:`ConfigError`, naming the file, if it cannot be read, is not valid TOML
    (the message gives tomllib's line and column), or holds a key or value not allowed.
    """
    source = os.fspath(path)
    try:
        with open(path, "rb") as f:
            data = f.read()
    except FileNotFoundError:
        raise ConfigError(f"{source}: no such configuration file") from None
    except OSError as e:
        raise ConfigError(f"{source}: cannot read the configuration file: "
                          f"{e.strerror or e}") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        line = data.count(b"\n", 0, e.start) + 1
        raise ConfigError(f"{source}: not valid TOML: the file is not UTF-8 text "
                          f"(bad byte 0x{data[e.start]:02x} at line {line})") from None
    return loads_config(text, source)
