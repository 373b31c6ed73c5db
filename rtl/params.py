"""Design parameters of a neuron core: the shared vocabulary of hardware, golden model and tools.

Everything here is a definition (names, ranges, widths), never a computation of the neuron
dynamics. The golden model (:mod:`spikefab.sim.golden`) and the RTL
(:mod:`spikefab.rtl.core`) both read these objects, and each implements SPEC §3 on its own.
"""

from dataclasses import dataclass, fields


__all__ = [
    "ParamError", "CoreParams", "check_int", "check_choice",
    "CUBA_PARAM_RANGES", "SHIFT_PARAM_RANGES", "NEURON_MODELS", "PARAM_MODES",
    "W_EXP_MAX", "V_MAX", "SYN_MEMORIES", "SPRAM_WORDS", "SPRAM_BITS", "SPRAM_COUNT",
    "STDP_REG_NAMES", "TRACE_BITS_MAX", "stdp_register_ranges", "check_shape",
    "MeshParams", "MESH_DIM_MAX", "ROUTE_ENTRIES_MAX", "STEP_BITS", "SYNAPSE_KINDS",
]


class ParamError(ValueError):
    """A parameter has a value outside what is allowed.

    The message always names the parameter, the value, and what is allowed.
    """


def check_int(name, value, lo, hi):
    """Raise :class:`ParamError` unless ``value`` is an integer in ``lo..hi`` (inclusive)."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise ParamError(f"{name} must be an integer in {lo}..{hi}, not {value!r}")
    if not lo <= value <= hi:
        raise ParamError(f"{name} = {value} is out of range: allowed {lo}..{hi}")
    return value


def dataclass_from_table(cls, d, where):
    """Build the validated dataclass ``cls`` from a mapping; unknown keys and bad values raise
    :class:`ParamError` naming the dotted key (``where.key``)."""
    known = {f.name for f in fields(cls)}
    for key in d:
        if key not in known:
            raise ParamError(f"{where}.{key} is not a known key: expected one of "
                             f"{', '.join(sorted(known))}")
    try:
        return cls(**d)
    except ParamError as e:
        raise ParamError(f"{where}.{e}") from None


def check_shape(name, value):
    """Raise :class:`ParamError` unless ``value`` is an Amaranth shape-castable."""
    from amaranth.hdl import Shape
    try:
        Shape.cast(value)
    except (TypeError, ValueError):
        raise ParamError(f"{name} must be an Amaranth shape (for example unsigned(8) or a "
                         f"data layout), not {value!r}") from None
    return value


def check_choice(name, value, choices):
    if value not in choices:
        allowed = ", ".join(repr(c) for c in choices)
        raise ParamError(f"{name} = {value!r} is not allowed: expected one of {allowed}")
    return value


def check_bool(name, value):
    if not isinstance(value, bool):
        raise ParamError(f"{name} must be true or false, not {value!r}")
    return value


NEURON_MODELS = ("cuba", "shift")
PARAM_MODES = ("neuron", "profile")
#: Implementations of the synapse memory (see :class:`~spikefab.rtl.synapse_ram.SynapseRam`).
SYN_MEMORIES = ("block", "ice40_spram")
#: What produces a core's synaptic input: the digital synapse memory
#: (:class:`~spikefab.rtl.synaptic_input.SynapticInput`) or an analog crossbar outside the
#: core (:class:`~spikefab.rtl.analog_input.AnalogSynapticInput`, SPEC §3.7).
SYNAPSE_KINDS = ("digital", "crossbar")
#: One iCE40UP5K single-port RAM (``SB_SPRAM256KA``): words and bits per word; and how
#: many the part has.
SPRAM_WORDS, SPRAM_BITS, SPRAM_COUNT = 16384, 16, 4

#: Largest per-core weight exponent: a weight enters the sum as ``w << w_exp``.
W_EXP_MAX = 7
#: Saturation bound of the ``cuba`` membrane: v is clamped to ``-V_MAX..V_MAX``.
V_MAX = (1 << 23) - 1

#: Neuron parameters of the ``cuba`` model (SPEC §3.3) and their allowed ranges.
#: ``refr``, ``reset_sub`` and ``v_floor`` are the extensions; their defaults switch them off.
CUBA_PARAM_RANGES = {
    "du":        (0, 4095),
    "dv":        (0, 4095),
    "vth":       (0, 131071),
    "bias_mant": (-4096, 4095),
    "bias_exp":  (0, 7),
    "refr":      (0, 255),          # narrowed to refractory_bits by CoreParams
    "reset_sub": (0, 1),
    "v_floor":   (-V_MAX, V_MAX),
}
CUBA_PARAM_DEFAULTS = {
    "du": 0, "dv": 0, "vth": 100, "bias_mant": 0, "bias_exp": 0,
    "refr": 0, "reset_sub": 0, "v_floor": -V_MAX,
}

#: Neuron parameters of the ``shift`` model (SPEC §3.4) and their allowed ranges.
SHIFT_PARAM_RANGES = {
    "dash_syn": (0, 15),
    "dash_mem": (0, 15),
    "th":       (1, 32767),
    "bias":     (-32768, 32767),
}
SHIFT_PARAM_DEFAULTS = {"dash_syn": 4, "dash_mem": 4, "th": 1000, "bias": 0}

#: Widest STDP trace (``trace_bits``); traces are unsigned and saturate at 2**trace_bits - 1.
TRACE_BITS_MAX = 12
#: Per-core STDP registers (SPEC §3.5), in register-map order (see docs/stdp.md).
STDP_REG_NAMES = ("learn_en", "k_pre", "k_post", "imp_pre", "imp_post", "a_plus", "a_minus",
                  "s_plus", "s_minus", "w_min", "w_max")


def stdp_register_ranges(trace_max, weight_range):
    """Allowed range of every STDP register, ``{name: (lo, hi)}``, for traces saturating at
    ``trace_max`` and weights in ``weight_range = (lo, hi)``. (``w_min <= w_max`` is a further
    condition between two registers, checked by the users.)"""
    wlo, whi = weight_range
    return {
        "learn_en": (0, 1),
        "k_pre": (0, 7), "k_post": (0, 7),
        "imp_pre": (0, trace_max), "imp_post": (0, trace_max),
        "a_plus": (0, 255), "a_minus": (0, 255),
        "s_plus": (0, 15), "s_minus": (0, 15),
        "w_min": (wlo, whi), "w_max": (wlo, whi),
    }


@dataclass(frozen=True)
class CoreParams:
    """Generation-time parameters of one neuron core.

    Parameters
    ----------
    neurons : int
        N, neurons per core (1..4096, a multiple of ``lanes``).
    axons : int
        A, input axons per core (1..4096).
    model : str
        ``"cuba"`` (SPEC §3.3) or ``"shift"`` (SPEC §3.4).
    weight_bits : int
        Signed synaptic weight width, 1..8.
    lanes : int
        Synapses integrated per clock (a power of two, 1..32, dividing ``neurons``).
    acc_bits : int
        Width the synaptic input sum is saturated to, once per step (2..24).
    max_step_events : int
        Input events one core may receive for one step while the sum stays exact
        (1..1048575); sets the width of the accumulator memory.
    max_delay : int
        Largest connection delay in steps (1..64); the core keeps that many accumulator slots.
    param_mode : str
        ``"neuron"``: every neuron has its own parameters; ``"profile"``: a neuron stores an
        index into a table of ``profiles`` parameter sets.
    profiles : int
        Size of the profile table (2..64); used in ``"profile"`` mode.
    refractory_bits : int
        ``cuba`` extension: width of the refractory counter (0 = no refractory hardware, 1..8).
    subtractive_reset : bool
        ``cuba`` extension: allow a per-neuron reset by subtraction of the threshold.
    v_floor : bool
        ``cuba`` extension: allow a per-neuron programmable lower bound on v.
    trace_port : bool
        Generate the ``trace`` monitor port (per-neuron state after each update) used by the
        test benches.
    syn_memory : str
        Implementation of the synapse memory: ``"block"`` (a memory Yosys maps to block RAM,
        initialised from the image) or ``"ice40_spram"`` (iCE40UP5K ``SB_SPRAM256KA``
        instances, at most 4 of 16 bits x 16,384 words; they cannot be initialised, so the
        weights are written through the configuration port).
    learning : bool
        Generate the on-chip STDP engine (SPEC §3.5, docs/stdp.md): a trace per axon and per
        neuron, per-core learning registers and a plastic bit per axon.
    trace_bits : int
        Width of the unsigned, saturating STDP traces (1..12); only with ``learning``.
    synapses : str
        ``"digital"`` (the synapse memory and its integration pipeline) or ``"crossbar"``
        (the analog synapse port of SPEC §3.7: the core emits each step's active axons,
        takes one ADC code per neuron as ``a_in`` and, with ``learning``, emits weight-update
        requests; see docs/crossbar.md). ``"crossbar"`` needs ``max_delay = 1`` and
        ``syn_memory = "block"``.
    """
    neurons: int = 64
    axons: int = 64
    model: str = "cuba"
    weight_bits: int = 4
    lanes: int = 4
    acc_bits: int = 16
    max_step_events: int = 4095
    max_delay: int = 1
    param_mode: str = "neuron"
    profiles: int = 4
    refractory_bits: int = 0
    subtractive_reset: bool = False
    v_floor: bool = False
    trace_port: bool = True
    syn_memory: str = "block"
    learning: bool = False
    trace_bits: int = 8
    synapses: str = "digital"

    def __post_init__(self):
        check_int("neurons", self.neurons, 1, 4096)
        check_int("axons", self.axons, 1, 4096)
        check_choice("model", self.model, NEURON_MODELS)
        check_int("weight_bits", self.weight_bits, 1, 8)
        check_int("lanes", self.lanes, 1, 32)
        if self.lanes & (self.lanes - 1):
            raise ParamError(f"lanes = {self.lanes} is not allowed: expected a power of two "
                             f"(1, 2, 4, 8, 16 or 32)")
        if self.neurons % self.lanes:
            raise ParamError(f"neurons = {self.neurons} is not allowed with lanes = {self.lanes}: "
                             f"expected a multiple of lanes")
        check_int("acc_bits", self.acc_bits, 2, 24)
        check_int("max_step_events", self.max_step_events, 1, (1 << 20) - 1)
        check_int("max_delay", self.max_delay, 1, 64)
        check_choice("param_mode", self.param_mode, PARAM_MODES)
        check_int("profiles", self.profiles, 2, 64)
        check_int("refractory_bits", self.refractory_bits, 0, 8)
        check_bool("subtractive_reset", self.subtractive_reset)
        check_bool("v_floor", self.v_floor)
        check_bool("trace_port", self.trace_port)
        check_choice("syn_memory", self.syn_memory, SYN_MEMORIES)
        if self.syn_memory == "ice40_spram":
            width = self.lanes * self.weight_bits
            depth = self.axons * (self.neurons // self.lanes)
            cols, rows = -(-width // SPRAM_BITS), -(-depth // SPRAM_WORDS)
            if cols * rows > SPRAM_COUNT:
                raise ParamError(
                    f"syn_memory = 'ice40_spram' is not allowed for a synapse memory of "
                    f"{width} bits x {depth} words: it takes {cols} x {rows} = {cols * rows} "
                    f"SPRAMs of {SPRAM_BITS} bits x {SPRAM_WORDS} words, and the iCE40UP5K "
                    f"has {SPRAM_COUNT}")
        check_bool("learning", self.learning)
        check_int("trace_bits", self.trace_bits, 1, TRACE_BITS_MAX)
        if not self.learning and self.trace_bits != 8:
            raise ParamError(f"trace_bits = {self.trace_bits} is not allowed with learning = "
                             f"False: the traces belong to the STDP engine")
        check_choice("synapses", self.synapses, SYNAPSE_KINDS)
        if self.synapses == "crossbar":
            if self.max_delay != 1:
                raise ParamError(f"max_delay = {self.max_delay} is not allowed with synapses = "
                                 f"'crossbar': the crossbar's row drivers hold one step's "
                                 f"inputs; use max_delay = 1")
            if self.syn_memory != "block":
                raise ParamError(f"syn_memory = {self.syn_memory!r} is not allowed with "
                                 f"synapses = 'crossbar': a crossbar core keeps at most a "
                                 f"block-RAM copy of its target weights; use syn_memory = "
                                 f"'block'")
        if self.model == "shift":
            for name, default in (("refractory_bits", 0), ("subtractive_reset", False),
                                  ("v_floor", False)):
                if getattr(self, name) != default:
                    raise ParamError(f"{name} = {getattr(self, name)!r} is not allowed with "
                                     f"model = 'shift': the extensions belong to model 'cuba'")

    @classmethod
    def from_dict(cls, d, *, where="core"):
        """Build from a mapping (for example a TOML table), rejecting unknown keys by name."""
        return dataclass_from_table(cls, d, where)

    def to_dict(self):
        return {f.name: getattr(self, f.name) for f in fields(self)}

    # --- derived widths (definitions shared by every user of the core) -------------------

    @property
    def words_per_row(self):
        """Synapse-memory words per axon row (and accumulator words per slot): N / lanes."""
        return self.neurons // self.lanes

    @property
    def neuron_bits(self):
        return max(1, (self.neurons - 1).bit_length())

    @property
    def axon_bits(self):
        return max(1, (self.axons - 1).bit_length())

    @property
    def delay_bits(self):
        """Width of an input event's delay offset (0 = the step about to be computed)."""
        return max(1, (self.max_delay - 1).bit_length())

    @property
    def acc_mem_bits(self):
        """Width of one accumulator entry: exact for ``max_step_events`` extreme weights."""
        bound = self.max_step_events << (self.weight_bits - 1 + W_EXP_MAX)
        return bound.bit_length() + 1

    @property
    def state_bits(self):
        """Width of the state variables u (or i) and v."""
        return 24 if self.model == "cuba" else 16

    @property
    def param_rows(self):
        """Rows of the parameter memory: one per neuron, or one per profile."""
        return self.neurons if self.param_mode == "neuron" else self.profiles

    @property
    def profile_bits(self):
        return max(1, (self.profiles - 1).bit_length())

    def param_ranges(self):
        """Allowed range of every neuron parameter of this core's model, as ``{name: (lo, hi)}``."""
        if self.model == "shift":
            return dict(SHIFT_PARAM_RANGES)
        r = {k: CUBA_PARAM_RANGES[k] for k in ("du", "dv", "vth", "bias_mant", "bias_exp")}
        if self.refractory_bits:
            r["refr"] = (0, (1 << self.refractory_bits) - 1)
        if self.subtractive_reset:
            r["reset_sub"] = CUBA_PARAM_RANGES["reset_sub"]
        if self.v_floor:
            r["v_floor"] = CUBA_PARAM_RANGES["v_floor"]
        return r

    def param_defaults(self):
        src = SHIFT_PARAM_DEFAULTS if self.model == "shift" else CUBA_PARAM_DEFAULTS
        return {k: src[k] for k in self.param_ranges()}

    def state_ranges(self):
        """Allowed range of every per-neuron state variable, as ``{name: (lo, hi)}``."""
        if self.model == "shift":
            return {"i": (-32768, 32767), "v": (-32768, 32767)}
        r = {"u": (-(1 << 23), (1 << 23) - 1), "v": (-V_MAX, V_MAX)}
        if self.refractory_bits:
            r["refr_cnt"] = (0, (1 << self.refractory_bits) - 1)
        return r

    @property
    def weight_range(self):
        return (-(1 << (self.weight_bits - 1)), (1 << (self.weight_bits - 1)) - 1)

    # --- STDP (SPEC §3.5; used when ``learning``) -------------------------------------------

    @property
    def trace_max(self):
        """Saturation value of the STDP traces, ``x_max = y_max = 2**trace_bits - 1``."""
        return (1 << self.trace_bits) - 1

    def stdp_ranges(self):
        """Allowed range of every per-core STDP register, as ``{name: (lo, hi)}``."""
        return stdp_register_ranges(self.trace_max, self.weight_range)

    def stdp_defaults(self):
        """Default STDP register values: learning on, a symmetric window, the full weight range."""
        x_max = self.trace_max
        imp = min(x_max, x_max // 2 + 1)
        wlo, whi = self.weight_range
        return {"learn_en": 1, "k_pre": 2, "k_post": 2, "imp_pre": imp, "imp_post": imp,
                "a_plus": 16, "a_minus": 16, "s_plus": 6, "s_minus": 6,
                "w_min": wlo, "w_max": whi}


# --- the many-core array (SPEC §3.6) --------------------------------------------------------

#: Largest mesh side (routers per row or column).
MESH_DIM_MAX = 64
#: Largest number of routing-table entries per core.
ROUTE_ENTRIES_MAX = 65536
#: Width of the step number on the external output port.
STEP_BITS = 32


@dataclass(frozen=True)
class MeshParams:
    """Generation-time parameters of the many-core array (every core has the same
    :class:`CoreParams`).

    Parameters
    ----------
    width, height : int
        Cores along x and y (1..64 each). Core ``(x, y)`` has index ``y * width + x``.
    route_entries : int
        Routing-table entries per core (1..65536): the sum over the core's neurons of their
        fan-out (one entry per destination axon, or per copy to the external output).
    fifo_depth : int
        Depth of each router input FIFO (2..4096).
    """
    width: int = 1
    height: int = 1
    route_entries: int = 256
    fifo_depth: int = 4

    def __post_init__(self):
        check_int("width", self.width, 1, MESH_DIM_MAX)
        check_int("height", self.height, 1, MESH_DIM_MAX)
        check_int("route_entries", self.route_entries, 1, ROUTE_ENTRIES_MAX)
        check_int("fifo_depth", self.fifo_depth, 2, 4096)

    @classmethod
    def from_dict(cls, d, *, where="mesh"):
        return dataclass_from_table(cls, d, where)

    def to_dict(self):
        return {f.name: getattr(self, f.name) for f in fields(self)}

    @property
    def cores(self):
        """Number of cores, ``width * height``."""
        return self.width * self.height

    @property
    def x_bits(self):
        return max(1, (self.width - 1).bit_length())

    @property
    def y_bits(self):
        return max(1, (self.height - 1).bit_length())

    @property
    def entry_bits(self):
        """Width of a routing-table entry index."""
        return max(1, (self.route_entries - 1).bit_length())

    @property
    def count_bits(self):
        """Width of a neuron's fan-out count (0..route_entries)."""
        return self.route_entries.bit_length()

    def core_index(self, x, y):
        """Index of core ``(x, y)``: ``y * width + x``."""
        return y * self.width + x

    def core_xy(self, index):
        """Coordinates ``(x, y)`` of core ``index``."""
        y, x = divmod(index, self.width)
        return x, y
