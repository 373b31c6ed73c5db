"""Packet, port and memory-word formats: each one ``amaranth.lib.data`` layout, defined once.

The RTL builds its ports and memories from these layouts; the image builder, the golden
model's tools, the test benches and the host driver pack and unpack words through the same
layouts with :func:`pack` and :func:`unpack`. Nothing here computes neuron dynamics.
"""

import enum

import numpy as np
from amaranth.hdl import Shape, signed, unsigned
from amaranth.lib import data

from .params import CoreParams, MeshParams, STDP_REG_NAMES, STEP_BITS, check_int, check_shape


__all__ = [
    "axon_event_layout", "spike_event_layout", "trace_layout",
    "param_layout", "state_layout", "syn_word_layout", "acc_word_layout",
    "cfg_command_layout", "Region", "Reg", "region_depths", "cfg_index_bits", "cfg_data_bits", "cfg_address",
    "xtrace_layout", "ytrace_layout", "BASE_REGS", "STDP_REGS", "core_regs", "reg_shape",
    "pack", "unpack", "field_specs", "leaf_specs", "word_decoder",
    "mesh_coord_bits", "packet_layout", "spike_payload_layout", "spike_packet_layout",
    "route_ptr_layout", "route_entry_layout", "ext_in_layout", "ext_out_layout",
    "mesh_region_depths", "mesh_cfg_index_bits", "mesh_cfg_data_bits", "mesh_cfg_layout",
    "REGION_BITS", "ADC_CODE_BITS", "row_input_layout", "adc_code_layout",
    "weight_update_layout",
]


def axon_event_layout(p: CoreParams):
    """An input event: ``axon`` is hit ``delay`` steps after the step about to be computed.

    ``delay = 0`` is integrated at the next step the core computes (an external input for
    that step); a routed spike with connection delay d >= 1 arrives with ``delay = d - 1``.
    """
    return data.StructLayout({
        "axon": unsigned(p.axon_bits),
        "delay": unsigned(p.delay_bits),
    })


def spike_event_layout(p: CoreParams):
    """An output event: ``neuron`` spiked at the step being computed."""
    return data.StructLayout({"neuron": unsigned(p.neuron_bits)})


def trace_layout(p: CoreParams):
    """Monitor record, one per neuron per step: state after the update, and the spike bit.

    For the ``shift`` model ``u`` carries the synaptic variable ``i``. ``refr_cnt`` is present
    when the core has refractory hardware.
    """
    fields = {
        "neuron": unsigned(p.neuron_bits),
        "u": signed(p.state_bits),
        "v": signed(p.state_bits),
        "spike": unsigned(1),
    }
    if p.refractory_bits:
        fields["refr_cnt"] = unsigned(p.refractory_bits)
    return data.StructLayout(fields)


def param_layout(p: CoreParams):
    """One row of the parameter memory (a neuron's, or a profile's, parameters)."""
    fields = {}
    for name, (lo, hi) in p.param_ranges().items():
        if lo < 0:
            fields[name] = signed(max((-lo - 1).bit_length(), hi.bit_length()) + 1)
        else:
            fields[name] = unsigned(max(1, hi.bit_length()))
    return data.StructLayout(fields)


def state_layout(p: CoreParams):
    """One row of the state memory: the neuron's dynamic variables."""
    sb = p.state_bits
    if p.model == "shift":
        return data.StructLayout({"i": signed(sb), "v": signed(sb)})
    fields = {"u": signed(sb), "v": signed(sb)}
    if p.refractory_bits:
        fields["refr_cnt"] = unsigned(p.refractory_bits)
    return data.StructLayout(fields)


def syn_word_layout(p: CoreParams):
    """One synapse-memory word: the weights of ``lanes`` consecutive neurons of one axon."""
    return data.ArrayLayout(signed(p.weight_bits), p.lanes)


def acc_word_layout(p: CoreParams):
    """One accumulator word: the exact input sums of ``lanes`` consecutive neurons."""
    return data.ArrayLayout(signed(p.acc_mem_bits), p.lanes)


# --- the analog synapse port of a crossbar core (SPEC §3.7, docs/crossbar.md) ---------------

#: Width of the ADC code port: the widest ADC the crossbar model offers (``AdcParams.bits``
#: <= 32). The core saturates each code once to ``acc_bits``.
ADC_CODE_BITS = 32


def row_input_layout(p: CoreParams):
    """One transfer of a crossbar core's row inputs (core to crossbar).

    ``end = 0``: axon ``axon`` is hit once at the step being gathered (an axon hit twice is
    sent twice). ``end = 1``: the step's inputs are complete, read the crossbar now
    (``axon`` is 0 and means nothing); exactly one per step, even with no input.
    """
    return data.StructLayout({"axon": unsigned(p.axon_bits), "end": unsigned(1)})


def adc_code_layout(p: CoreParams):
    """One ADC code (crossbar to core): the signed read-out of one neuron's column pair,
    ``N`` of them per step in neuron order."""
    return data.StructLayout({"code": signed(ADC_CODE_BITS)})


def weight_update_layout(p: CoreParams):
    """One weight-update request of a learning crossbar core (core to crossbar): add
    ``delta[l]`` to the weight of ``(axon, neuron + l)`` for each lane ``l`` of one synapse
    word (``neuron`` is a multiple of ``lanes``); a lane with ``delta = 0`` asks nothing.
    With ``lanes = 1`` it is exactly ``(axon, neuron, Δ)``. ``delta`` is the difference of
    two weights, so it takes ``weight_bits + 1`` signed bits."""
    return data.StructLayout({
        "axon": unsigned(p.axon_bits),
        "neuron": unsigned(p.neuron_bits),
        "delta": data.ArrayLayout(signed(p.weight_bits + 1), p.lanes),
    })


class Region(enum.IntEnum):
    """Address regions of the configuration and read-back port (the top address bits)."""
    REG = 0     #: core registers, see :class:`Reg`
    SYN = 1     #: synapse words, index ``axon * (N / lanes) + word``
    PARAM = 2   #: parameter rows, index neuron (``"neuron"`` mode) or profile
    PIDX = 3    #: profile index of each neuron (``"profile"`` mode only)
    STATE = 4   #: neuron state rows, index neuron
    XTRACE = 5  #: ``learning`` only: pre trace and plastic bit of each axon, see :func:`xtrace_layout`
    YTRACE = 6  #: ``learning`` only: post trace of each neuron, see :func:`ytrace_layout`
    ROUTE_PTR = 7   #: array only: fan-out list of each neuron, see :func:`route_ptr_layout`
    ROUTE = 8       #: array only: routing-table entries, see :func:`route_entry_layout`


#: Width of the region field of a configuration address.
REGION_BITS = 4


class Reg(enum.IntEnum):
    """Registers of :attr:`Region.REG`. ``rw`` unless marked read-only."""
    W_EXP = 0         #: weight exponent, 0..7
    STEP = 1          #: read-only: steps completed since reset
    STATUS = 2        #: sticky, any write clears: bit 0 event overflow, 1 bad event, 2 bad address
    LAST_CYCLES = 3   #: read-only: clocks from the step command to step done, last step
    LAST_EVENTS = 4   #: read-only: input events accepted for the last step
    LAST_SPIKES = 5   #: read-only: spikes emitted at the last step
    PENDING = 6       #: read-only: input events accepted for the step not yet computed
    # STDP registers (SPEC §3.5, docs/stdp.md), present only when ``learning``; unsigned
    # unless marked, each in the range of ``CoreParams.stdp_ranges()``.
    LEARN_EN = 7      #: learning enable, 0/1 (0: traces still evolve, weights frozen)
    K_PRE = 8         #: pre-trace decay shift, 0..7
    K_POST = 9        #: post-trace decay shift, 0..7
    IMP_PRE = 10      #: pre-trace impulse, 0..x_max
    IMP_POST = 11     #: post-trace impulse, 0..x_max
    A_PLUS = 12       #: LTP amplitude, 0..255
    A_MINUS = 13      #: LTD amplitude, 0..255
    S_PLUS = 14       #: LTP shift, 0..15
    S_MINUS = 15      #: LTD shift, 0..15
    W_MIN = 16        #: lower weight bound, two's complement in ``weight_bits``
    W_MAX = 17        #: upper weight bound, two's complement in ``weight_bits``


#: Registers every core has.
BASE_REGS = (Reg.W_EXP, Reg.STEP, Reg.STATUS, Reg.LAST_CYCLES, Reg.LAST_EVENTS,
             Reg.LAST_SPIKES, Reg.PENDING)
#: STDP registers by name of ``CoreImage.stdp`` / ``CoreParams.stdp_ranges()``.
STDP_REGS = {name: Reg[name.upper()] for name in STDP_REG_NAMES}


def core_regs(p: CoreParams):
    """The registers this core has, in address order: :data:`BASE_REGS`, then the STDP
    registers when ``p.learning``. The REG region's depth is their number, so a core without
    learning has exactly the register map it had before STDP existed."""
    return BASE_REGS + (tuple(STDP_REGS.values()) if p.learning else ())


def reg_shape(p: CoreParams, reg):
    """Shape of an STDP register's value in its (zero-extended) data word: ``W_MIN``/``W_MAX``
    are ``signed(weight_bits)`` (two's complement), the others unsigned, as wide as their
    largest value."""
    reg = Reg(reg)
    if reg in (Reg.W_MIN, Reg.W_MAX):
        return signed(p.weight_bits)
    names = {r: n for n, r in STDP_REGS.items()}
    if reg not in names:
        raise ValueError(f"register {reg.name} is not an STDP register")
    return unsigned(max(1, p.stdp_ranges()[names[reg]][1].bit_length()))


def xtrace_layout(p: CoreParams):
    """One word of :attr:`Region.XTRACE` (index axon): the pre trace ``x`` (unsigned
    ``trace_bits``) and, above it, the axon's ``plastic`` bit."""
    return data.StructLayout({"x": unsigned(p.trace_bits), "plastic": unsigned(1)})


def ytrace_layout(p: CoreParams):
    """One word of :attr:`Region.YTRACE` (index neuron): the post trace ``y`` (unsigned
    ``trace_bits``)."""
    return data.StructLayout({"y": unsigned(p.trace_bits)})


def region_depths(p: CoreParams):
    """The number of words of each :class:`Region` in this core (0: the region is absent)."""
    return {
        Region.REG: len(core_regs(p)),
        Region.SYN: p.axons * p.words_per_row,
        Region.PARAM: p.param_rows,
        Region.PIDX: p.neurons if p.param_mode == "profile" else 0,
        Region.STATE: p.neurons,
        Region.XTRACE: p.axons if p.learning else 0,
        Region.YTRACE: p.neurons if p.learning else 0,
    }


def cfg_index_bits(p: CoreParams):
    return max(1, max(d - 1 for d in region_depths(p).values()).bit_length())


def cfg_data_bits(p: CoreParams):
    sizes = [syn_word_layout(p).size, param_layout(p).size, state_layout(p).size]
    if p.learning:
        sizes += [xtrace_layout(p).size, ytrace_layout(p).size]
    return max(32, *sizes)


def cfg_command_layout(p: CoreParams):
    """A configuration command: write ``data`` to, or read from, ``addr``."""
    return data.StructLayout({
        "addr": data.StructLayout({
            "index": unsigned(cfg_index_bits(p)),
            "region": unsigned(REGION_BITS),
        }),
        "write": unsigned(1),
        "data": unsigned(cfg_data_bits(p)),
    })


def cfg_address(p: CoreParams, region, index):
    """The ``addr`` value of a command, checked against the region's depth."""
    depth = region_depths(p)[Region(region)]
    if not 0 <= index < depth:
        raise IndexError(f"index {index} is out of range for region {Region(region).name}: "
                         f"allowed 0..{depth - 1}")
    return (int(region) << cfg_index_bits(p)) | index


# --- the many-core array (SPEC §3.6) ---------------------------------------------------------

def mesh_coord_bits(size):
    """Width of one coordinate on a mesh side of ``size`` routers (at least 1 bit)."""
    return max(1, (size - 1).bit_length())


def packet_layout(x_bits, y_bits, payload_shape):
    """A mesh packet: destination router ``x``, ``y``, the ``exit`` bit and an opaque
    ``payload``.

    The router never looks at the payload. ``exit = 1`` asks the destination router to send
    the packet out of the mesh through its edge port instead of to its core (the external
    output of the array leaves this way, at router (0, 0)).
    """
    check_int("x_bits", x_bits, 1, 16)
    check_int("y_bits", y_bits, 1, 16)
    return data.StructLayout({
        "x": x_bits,
        "y": y_bits,
        "exit": 1,
        "payload": check_shape("payload_shape", payload_shape),
    })


def _core_xy(mp: MeshParams):
    return {"x": unsigned(mp.x_bits), "y": unsigned(mp.y_bits)}


def spike_payload_layout(mp: MeshParams, p: CoreParams):
    """Payload of a spike packet: ``event`` (destination axon and delay offset, for a core)
    or, on an ``exit`` packet, ``source`` (core ``x``, ``y`` and ``neuron`` that fired)."""
    return data.UnionLayout({
        "event": axon_event_layout(p),
        "source": data.StructLayout({**_core_xy(mp), "neuron": unsigned(p.neuron_bits)}),
    })


def spike_packet_layout(mp: MeshParams, p: CoreParams):
    """The packet every router link of the array carries."""
    return packet_layout(mp.x_bits, mp.y_bits, spike_payload_layout(mp, p))


def route_ptr_layout(mp: MeshParams):
    """One word of :attr:`Region.ROUTE_PTR` (index neuron): the neuron's fan-out list is
    entries ``base .. base + count - 1`` of the routing table."""
    return data.StructLayout({"base": unsigned(mp.entry_bits), "count": unsigned(mp.count_bits)})


def route_entry_layout(mp: MeshParams, p: CoreParams):
    """One routing-table entry (:attr:`Region.ROUTE`): a spike of the neuron becomes one packet
    to ``axon`` of core (``x``, ``y``), integrated ``delay + 1`` steps later (``delay`` holds
    the connection delay minus one); or, if ``exit``, one record on the external output (the
    other fields are then 0)."""
    return data.StructLayout({
        "axon": unsigned(p.axon_bits),
        "delay": unsigned(p.delay_bits),
        **_core_xy(mp),
        "exit": unsigned(1),
    })


def ext_in_layout(mp: MeshParams, p: CoreParams):
    """External AER input (an ``EVENT`` command, as the array's edge port takes it): ``event``
    (:func:`axon_event_layout`) for core (``x``, ``y``), integrated ``event.delay`` steps after
    the next step the array computes."""
    return data.StructLayout({**_core_xy(mp), "event": axon_event_layout(p)})


def ext_out_layout(mp: MeshParams, p: CoreParams):
    """External AER output: ``neuron`` of core (``x``, ``y``) fired at ``step``."""
    return data.StructLayout({"step": unsigned(STEP_BITS), **_core_xy(mp),
                              "neuron": unsigned(p.neuron_bits)})


def mesh_region_depths(mp: MeshParams, p: CoreParams):
    """Words of each :class:`Region` of one core of the array: the core's regions plus its
    routing table."""
    d = region_depths(p)
    d[Region.ROUTE_PTR] = p.neurons
    d[Region.ROUTE] = mp.route_entries
    return d


def mesh_cfg_index_bits(mp: MeshParams, p: CoreParams):
    return max(1, max(n - 1 for n in mesh_region_depths(mp, p).values()).bit_length())


def mesh_cfg_data_bits(mp: MeshParams, p: CoreParams):
    return max(cfg_data_bits(p), route_ptr_layout(mp).size, route_entry_layout(mp, p).size)


def mesh_cfg_layout(mp: MeshParams, p: CoreParams):
    """A configuration command of the array: ``cmd`` (as :func:`cfg_command_layout`, with
    the routing regions added) for core (``core.x``, ``core.y``)."""
    return data.StructLayout({
        "core": data.StructLayout(_core_xy(mp)),
        "addr": data.StructLayout({
            "index": unsigned(mesh_cfg_index_bits(mp, p)),
            "region": unsigned(REGION_BITS),
        }),
        "write": unsigned(1),
        "data": unsigned(mesh_cfg_data_bits(mp, p)),
    })


# --- packing, vectorised over numpy arrays, driven by the layouts' field offsets -----------

def field_specs(layout):
    """``[(key, offset, width, signed)]`` of a layout's top-level fields (nested layouts are
    treated as one unsigned field)."""
    specs = []
    for key, field in layout:
        shape = Shape.cast(field.shape)
        specs.append((key, field.offset, shape.width, shape.signed))
    return specs


def leaf_specs(layout, prefix="", base=0):
    """``[(key, offset, width, signed)]`` of every leaf field of a layout, nested struct and
    union layouts opened: a leaf of a nested layout is named by its dotted path
    (``"addr.region"``, ``"arg.event.axon"``); offsets count from bit 0 of the outer word.
    Each member of a union is listed (they overlap)."""
    specs = []
    for key, field in layout:
        name = f"{prefix}{key}"
        if isinstance(field.shape, (data.StructLayout, data.UnionLayout)):
            specs += leaf_specs(field.shape, f"{name}.", base + field.offset)
        else:
            shape = Shape.cast(field.shape)
            specs.append((name, base + field.offset, shape.width, shape.signed))
    return specs


def _flatten(fields, prefix=""):
    """``{"a": {"b": 1}}`` -> ``{"a.b": 1}`` (nested dicts of values to dotted keys)."""
    flat = {}
    for key, value in fields.items():
        if isinstance(value, dict):
            flat.update(_flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}" if prefix or not isinstance(key, int) else key] = value
    return flat


def _column(key, value, width, is_signed, count):
    if np.ndim(value) == 0:
        vals = [int(value)]
    else:
        vals = [int(x) for x in np.asarray(value).reshape(-1).tolist()]
        if count != 1 and len(vals) not in (1, count):
            raise ValueError(f"field {key!r} has {len(vals)} values, expected {count}")
    lo = -(1 << (width - 1)) if is_signed else 0
    hi = (1 << (width - 1)) - 1 if is_signed else (1 << width) - 1
    if vals and (min(vals) < lo or max(vals) > hi):
        raise ValueError(f"field {key!r} holds a value outside {lo}..{hi}")
    return vals


def _pack_columns(layout, fields, prefix, base, columns):
    """Collect ``(values, offset, mask)`` columns of ``layout``'s fields from flat ``fields``
    (dotted keys). A nested field may be given whole (one unsigned value) or leaf by leaf;
    of a union, only the members given are packed (none given: 0)."""
    union = isinstance(layout, data.UnionLayout)
    for key, field in layout:
        name = f"{prefix}{key}" if prefix or not isinstance(key, int) else key
        nested = isinstance(field.shape, (data.StructLayout, data.UnionLayout))
        if name in fields:
            shape = Shape.cast(field.shape)
            columns.append((name, fields[name], base + field.offset, shape.width, shape.signed))
        elif nested and any(isinstance(k, str) and k.startswith(f"{name}.") for k in fields):
            _pack_columns(field.shape, fields, f"{name}.", base + field.offset, columns)
        elif union or (nested and isinstance(field.shape, data.UnionLayout)):
            continue                # a union member (or a whole union) not given: 0
        else:
            raise KeyError(f"field {name!r} of the layout is missing")


def pack(layout, fields):
    """Pack fields into integer words through ``layout``.

    ``fields`` maps each field name (or array index) of the layout to an integer or a
    sequence/array of integers (one per word; a scalar applies to every word); signed fields
    take negative values. A nested layout's field is given whole (one unsigned value), as a
    nested dict, or leaf by leaf with dotted keys (``{"addr.region": 1, "addr.index": 5}``);
    of a union only the member given is packed. Returns a list of Python ``int`` words
    (words may be wider than 64 bits). A value outside its field's range raises
    ``ValueError``, a missing field ``KeyError``.
    """
    flat = _flatten(fields)
    raw = []
    _pack_columns(layout, flat, "", 0, raw)
    columns = []
    count = 1
    for key, value, offset, width, is_signed in raw:
        vals = _column(key, value, width, is_signed, count)
        if len(vals) != 1:
            count = max(count, len(vals))
        columns.append((vals, offset, (1 << width) - 1))
    words = [0] * count
    for vals, offset, mask in columns:
        if len(vals) == 1:
            bits = (vals[0] & mask) << offset
            words = [w | bits for w in words]
        else:
            words = [w | ((x & mask) << offset) for w, x in zip(words, vals)]
    return words


def unpack(layout, words):
    """Unpack integer words into ``{field: np.ndarray of int64}`` through ``layout``: every
    top-level field (a nested one as one unsigned value) and, for nested layouts, every leaf
    under its dotted name (see :func:`leaf_specs`)."""
    words = [int(w) for w in np.asarray(words, dtype=object).reshape(-1)]
    out = {}
    specs = field_specs(layout)
    specs += [s for s in leaf_specs(layout) if s[0] not in {k for k, *_ in specs}]
    for key, offset, width, is_signed in specs:
        mask = (1 << width) - 1
        vals = [(w >> offset) & mask for w in words]
        if is_signed:
            vals = [v - (1 << width) if v >> (width - 1) else v for v in vals]
        out[key] = np.array(vals, dtype=np.int64)
    return out


def word_decoder(layout):
    """A fast function ``word -> {leaf: int}`` for one word at a time (every leaf of
    :func:`leaf_specs`, dotted names for nested fields): what a bench calls per clock."""
    specs = [(k, off, (1 << w) - 1, (1 << (w - 1)) if s else 0, 1 << w)
             for k, off, w, s in leaf_specs(layout)]

    def decode(word):
        out = {}
        for key, off, mask, sign, span in specs:
            v = (word >> off) & mask
            if sign and v & sign:
                v -= span
            out[key] = v
        return out
    return decode
