"""The interfaces that join the units of a neuron core (see :mod:`.core`).

Each interface is a :class:`wiring.PureInterface` with its :class:`wiring.Signature` nested in
it, written from the side of the unit that starts the exchange (the initiator); the other unit
takes it ``In(...)`` (flipped). Every one of them is point to point inside a core.

============================  =====================  ===================================
interface                     initiator              target
============================  =====================  ===================================
:class:`InputRead`            neuron-update unit     synaptic-input unit
:class:`StepControl`          step sequencer (core)  synaptic-input unit
:class:`UpdateControl`        step sequencer (core)  neuron-update unit
:class:`LearnControl`         step sequencer (core)  STDP engine
:class:`CoreActivity`         step sequencer (core)  register and configuration block
:class:`RegionAccess`         register block         the unit owning a memory region
:class:`RegisterAccess`       register block         STDP engine (its registers)
:class:`WeightRmw`            STDP engine            synaptic-input unit
:class:`Hit`                  synaptic-input unit    STDP engine
:class:`Fired`                neuron-update unit     STDP engine
:class:`CrossbarPort`         analog synaptic input  the crossbar outside the core
============================  =====================  ===================================
"""

from amaranth.hdl import signed
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from . import layouts
from .params import CoreParams


__all__ = ["InputRead", "StepControl", "UpdateControl", "LearnControl", "CoreActivity",
           "RegionAccess", "RegisterAccess", "WeightRmw", "Hit", "Fired", "CrossbarPort"]


class _Interface(wiring.PureInterface):
    """An interface object whose nested ``Signature`` creates it (amaranth-soc style)."""

    class _Signature(wiring.Signature):
        _interface = None

        def create(self, *, path=None, src_loc_at=0):
            return self._interface(self, path=path, src_loc_at=1 + src_loc_at)


class InputRead(_Interface):
    """The read port of the accumulated synaptic input (the seam between the neuron update
    and whatever produces its input: dense synapses today, an analog crossbar later).

    The initiator asks for neuron ``neuron`` with ``en``; ``LATENCY`` clocks later ``a_in``
    holds that neuron's input for the step being computed, saturated once to ``acc_bits``.
    Reading consumes the input: the target clears it, so the slot is empty when it comes
    round again. Neurons are read in increasing order, at most one per clock.

    Members (initiator's side)
    --------------------------
    en : Out(1)
    neuron : Out(neuron_bits)
    a_in : In(signed(acc_bits))
    """
    #: clocks from ``en`` to ``a_in``
    LATENCY = 4

    class Signature(_Interface._Signature):
        def __init__(self, params: CoreParams):
            super().__init__({"en": Out(1), "neuron": Out(params.neuron_bits),
                              "a_in": In(signed(params.acc_bits))})


class StepControl(_Interface):
    """The sequencer's control of the synaptic-input unit.

    Members (initiator's side)
    --------------------------
    slot : Out(range(max_delay))
        The delay slot of the step to be computed next (advances when a step is done).
    accept : Out(1)
        Input events may be taken this clock (the core is idle, or draining, and no
        configuration command is waiting or being answered).
    next_step : Out(1)
        The step in ``slot`` has been computed (only its spikes wait to leave): an event
        taken now belongs to the step after it.
    busy : In(1)
        An event's row is being integrated (the accumulator is in use).
    compute : Out(1)
        The sequencer waits to compute the step in ``slot`` (state ``START``); it starts the
        neuron update in the first clock with ``busy`` low. The digital unit has its input
        ready by then and ignores it; an analog unit reads its crossbar now and holds
        ``busy`` high (in the same clock) until the codes are in.
    busy : In(1)
        An event's row is being integrated (the accumulator is in use), or the step's input
        is being read.
    clearing : In(1)
        The accumulator is being swept to zero after reset.
    """

    class Signature(_Interface._Signature):
        def __init__(self, params: CoreParams):
            super().__init__({"slot": Out(range(params.max_delay)), "accept": Out(1),
                              "next_step": Out(1), "compute": Out(1), "busy": In(1),
                              "clearing": In(1)})


class UpdateControl(_Interface):
    """The sequencer's control of the neuron-update unit.

    Members (initiator's side)
    --------------------------
    en : Out(1)
        Update neuron ``neuron`` (issued in increasing order, one per clock).
    neuron : Out(neuron_bits)
    last : In(1)
        The last neuron's new state is written back this clock.
    spikes_empty : In(1)
        No spike waits in the spike queue.
    """

    class Signature(_Interface._Signature):
        def __init__(self, params: CoreParams):
            super().__init__({"en": Out(1), "neuron": Out(params.neuron_bits),
                              "last": In(1), "spikes_empty": In(1)})


class LearnControl(_Interface):
    """The sequencer's control of the STDP engine (see :class:`~.stdp.StdpEngine`).

    Members (initiator's side)
    --------------------------
    slot : Out(range(max_delay))
        The slot of the step being computed.
    begin : Out(1)
        The update of the step starts: run the trace passes.
    learn : Out(1)
        The update is over: apply LTD and LTP.
    done : In(1)
        One-clock pulse: learning for this step is over.
    """

    class Signature(_Interface._Signature):
        def __init__(self, params: CoreParams):
            super().__init__({"slot": Out(range(params.max_delay)), "begin": Out(1),
                              "learn": Out(1), "done": In(1)})


class CoreActivity(_Interface):
    """What the register block counts and when it may take commands.

    Members (initiator's side)
    --------------------------
    cmd_ok : Out(1)
        The core is idle and no event is being integrated: a command may be taken.
    busy : Out(1)
        Count this clock in the step's busy clocks.
    begin : Out(1)
        The update of a step starts (PENDING moves to LAST_EVENTS).
    done : Out(1)
        The step is finished (STEP, LAST_CYCLES, LAST_SPIKES are updated).
    event : Out(1)
        An input event is taken this clock.
    event_good : Out(1)
        ... and its axon and delay are in range.
    spike : Out(1)
        A neuron fired this clock.
    cmd_valid : In(1)
        A command waits on the configuration port (events are held off).
    reading : In(1)
        A read command is being answered (the core is not idle).
    """

    class Signature(_Interface._Signature):
        def __init__(self):
            super().__init__({"cmd_ok": Out(1), "busy": Out(1), "begin": Out(1),
                              "done": Out(1), "event": Out(1), "event_good": Out(1),
                              "spike": Out(1), "cmd_valid": In(1), "reading": In(1)})


class RegionAccess(_Interface):
    """The register block's access to one memory region (SPEC §4) of a unit.

    In a clock with ``sel`` high the register block owns the region's address lines: the
    word at ``index`` is read and, with ``w_en`` (an in-range write to this region), written
    with ``w_data``. The word read is on ``r_data`` 2 clocks later (registered by the unit).

    Members (initiator's side)
    --------------------------
    sel : Out(1)
    index : Out(cfg_index_bits)
    w_en : Out(1)
    w_data : Out(cfg_data_bits)
    r_data : In(word_shape)
    """
    #: clocks from ``sel`` to ``r_data``
    LATENCY = 2

    class Signature(_Interface._Signature):
        def __init__(self, params: CoreParams, word_shape):
            super().__init__({"sel": Out(1), "index": Out(layouts.cfg_index_bits(params)),
                              "w_en": Out(1), "w_data": Out(layouts.cfg_data_bits(params)),
                              "r_data": In(word_shape)})


class RegisterAccess(_Interface):
    """The register block's access to another unit's registers (index in ``Region.REG``).

    ``w_en`` writes ``w_data`` to register ``index`` (a register the unit does not own
    ignores it); ``r_data`` is register ``index`` in the same clock (0 if not owned).

    Members (initiator's side)
    --------------------------
    index : Out(cfg_index_bits)
    w_en : Out(1)
    w_data : Out(cfg_data_bits)
    r_data : In(32)
    """

    class Signature(_Interface._Signature):
        def __init__(self, params: CoreParams):
            super().__init__({"index": Out(layouts.cfg_index_bits(params)), "w_en": Out(1),
                              "w_data": Out(layouts.cfg_data_bits(params)),
                              "r_data": In(32)})


class WeightRmw(_Interface):
    """The STDP engine's read-modify-write port into the synapse memory.

    While ``active`` is high the initiator owns the synapse memory: ``raddr`` is read (the
    word is on ``rdata`` one clock later) and, with ``we``, ``wdata`` is written to
    ``waddr`` in the same clock.

    Members (initiator's side)
    --------------------------
    active : Out(1)
    raddr, waddr : Out(range(axons * words_per_row))
    wdata : Out(syn_word_layout)
    we : Out(1)
    rdata : In(syn_word_layout)
    """

    class Signature(_Interface._Signature):
        def __init__(self, params: CoreParams):
            depth = params.axons * params.words_per_row
            word = layouts.syn_word_layout(params)
            super().__init__({"active": Out(1), "raddr": Out(range(depth)),
                              "waddr": Out(range(depth)), "wdata": Out(word), "we": Out(1),
                              "rdata": In(word)})


class Hit(_Interface):
    """An input event accepted for integration (one clock after it was taken).

    Members (initiator's side)
    --------------------------
    valid : Out(1)
    axon : Out(axon_bits)
    slot : Out(range(max_delay))
        The delay slot it is integrated into.
    """

    class Signature(_Interface._Signature):
        def __init__(self, params: CoreParams):
            super().__init__({"valid": Out(1), "axon": Out(params.axon_bits),
                              "slot": Out(range(params.max_delay))})


class Fired(_Interface):
    """A neuron that fired, in the clock its new state is written back.

    Members (initiator's side)
    --------------------------
    valid : Out(1)
    neuron : Out(neuron_bits)
    """

    class Signature(_Interface._Signature):
        def __init__(self, params: CoreParams):
            super().__init__({"valid": Out(1), "neuron": Out(params.neuron_bits)})


class CrossbarPort(_Interface):
    """The analog synapse port of a crossbar core (SPEC §3.7): the core is the initiator.

    Per step, in this order:

    1. ``rows``: every input event the core takes (good axon, the step being gathered) is
       sent as one transfer ``{axon, end=0}``, in the order taken (an axon hit twice is sent
       twice); when the sequencer starts the step (``StepControl.compute``) the core sends
       ``{end=1}``: read the crossbar now. Exactly one ``end`` per step, steps numbered from
       0 after reset. Back-pressure holds the core's event input. Latency: an event taken in
       clock c is offered in clock c + 1; ``end`` in the first clock of ``compute`` in which
       the row register is free.
    2. ``codes``: the crossbar answers with ``N`` ADC codes, neuron 0 first, one per
       transfer (``ready`` is high while the core waits for them, one per clock). The core
       saturates each to ``acc_bits`` and starts the neuron update 2 clocks after the last
       code's transfer; the update reads them through :class:`InputRead` (latency 4).
    3. ``updates`` (learning cores only, no ``ready``: the receiver takes one per clock):
       after the neuron update the STDP engine's LTD phase, then its LTP phase (SPEC §3.5),
       one transfer per synapse word it changes, one clock after the write, with the
       clamped change of each lane (:func:`~spikefab.rtl.layouts.weight_update_layout`;
       lanes with ``delta = 0`` ask nothing). All of a step's requests come before the next
       step's ``end``.

    Members (initiator's side)
    --------------------------
    rows : Out(stream.Signature(row_input_layout))
    codes : In(stream.Signature(adc_code_layout))
    updates : Out(Signature({valid: Out(1), payload: Out(weight_update_layout)}))
        Only with ``learning``.
    """

    class Signature(_Interface._Signature):
        def __init__(self, params: CoreParams):
            members = {"rows": Out(stream.Signature(layouts.row_input_layout(params))),
                       "codes": In(stream.Signature(layouts.adc_code_layout(params)))}
            if params.learning:
                members["updates"] = Out(wiring.Signature({
                    "valid": Out(1), "payload": Out(layouts.weight_update_layout(params))}))
            super().__init__(members)


for _cls in (InputRead, StepControl, UpdateControl, LearnControl, CoreActivity, RegionAccess,
             RegisterAccess, WeightRmw, Hit, Fired, CrossbarPort):
    _cls.Signature._interface = _cls
del _cls
