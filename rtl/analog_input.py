"""The analog synaptic-input unit of a crossbar core: row inputs out, ADC codes in (SPEC §3.7)."""

from amaranth.hdl import Module, Mux, Signal, signed
from amaranth.lib import wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import Out

from . import layouts
from .core_interfaces import CrossbarPort
from .image import CoreImage
from .neuron import sat_signed
from .synapse_ram import SynapseRam
from .synaptic_input import input_members


__all__ = ["AnalogSynapticInput"]


class AnalogSynapticInput(wiring.Component):
    """Synapses on a crossbar outside the core: the unit that replaces
    :class:`~spikefab.rtl.synaptic_input.SynapticInput` when ``params.synapses`` is
    ``"crossbar"``, with the same ports towards the rest of the core plus ``xbar``.

    * Each input event the unit takes (one per clock; one per 3 clocks on learning cores,
      as the STDP engine's hit recording needs) leaves on ``xbar.rows`` as the crossbar's
      row input ``{axon, end=0}`` (an axon hit twice is sent twice). An event with a bad
      axon or delay is dropped (``accepted_good`` low), as in the digital unit.
    * When the sequencer starts a step (``step.compute``) the unit sends ``{end=1}``, then
      takes ``N`` ADC codes on ``xbar.codes`` (neuron order), saturates each once to
      ``acc_bits`` into its code memory and releases ``step.busy``. The neuron-update unit
      reads them through ``a_in``. Every step's codes overwrite the previous step's, so
      nothing needs clearing after reset (``step.clearing`` is low).
    * With ``learning`` the unit keeps the **target weights** (what the crossbar has been
      asked to hold: the image's weights plus every request since) in a synapse memory that
      the STDP engine reads and writes exactly as in the digital unit, so that its updates
      are clamped against them as SPEC §3.5 says (the golden model's
      :class:`~spikefab.sim.crossbar_synapses.CrossbarCoreSynapses` clamps against the same
      digital view). Every word the engine writes with a change leaves on ``xbar.updates``
      one clock later as ``{axon, neuron, delta[lanes]}`` (new minus old weight per lane).
      The host reads and writes this copy through region ``SYN``; a host write changes the
      target copy only, not the crossbar.
    * Without ``learning`` the core has no weight memory at all: region ``SYN`` reads 0 and
      writes are ignored (the crossbar is programmed from the image outside the core).

    Latency: an event taken in clock c is on ``rows`` from clock c + 1 (a one-word register;
    back-pressure on ``rows`` holds ``events``). ``end``: the first clock of
    ``step.compute`` in which that register is free. ``step.busy`` is high from the first
    clock of ``step.compute`` to the clock after the last code's transfer. ``a_in``:
    :attr:`InputRead.LATENCY` (4) clocks. ``cfg.r_data``: 2 clocks. ``updates``: 1 clock
    after the STDP engine's write.

    Parameters
    ----------
    image : CoreImage
        The core's image (``params.synapses == "crossbar"``; the weights initialise the
        target copy of learning cores).

    Members
    -------
    events : In(stream.Signature(axon_event_layout))
        Input events; ``ready`` only while ``step.accept`` and the row register is free.
    accepted : Out(1)
    accepted_good : Out(1)
    step : In(StepControl.Signature)
    w_exp : In(3)
        Register ``W_EXP``; the crossbar applies it in its ADC scaling, the unit ignores it.
    a_in : In(InputRead.Signature)
    cfg : In(RegionAccess.Signature)
        Region ``SYN``: the target weights (learning cores), else nothing.
    xbar : Out(CrossbarPort.Signature)
        The analog synapse port.
    rmw : In(WeightRmw.Signature)
        Only with ``learning``.
    hits : Out(Hit.Signature)
        Only with ``learning``: each good event, one clock after it was taken.
    """

    def __init__(self, image: CoreImage):
        if not isinstance(image, CoreImage):
            raise TypeError(f"image must be a CoreImage, not {type(image).__name__}")
        p = image.params
        if p.synapses != "crossbar":
            raise ValueError(f"AnalogSynapticInput needs params.synapses = 'crossbar', not "
                             f"{p.synapses!r}")
        self._image, self._p = image, p
        members = {**input_members(p), "xbar": Out(CrossbarPort.Signature(p))}
        super().__init__(members)

    def elaborate(self, platform):
        m = Module()
        self._rows_and_codes(m)
        self._read_port(m)
        if self._p.learning:
            self._targets(m)
        else:
            m.d.comb += self.cfg.r_data.eq(0)
        return m

    def _rows_and_codes(self, m):
        """Event intake into the row register, and the per-step read: ``end``, then N codes."""
        p = self._p
        rows, codes = self.xbar.rows, self.xbar.codes
        ev = self.events.payload
        r_valid = Signal()
        r_axon = Signal(p.axon_bits)
        r_end = Signal()
        m.d.comb += [rows.valid.eq(r_valid), rows.payload.axon.eq(r_axon),
                     rows.payload.end.eq(r_end)]
        free = ~r_valid | rows.ready
        with m.If(rows.valid & rows.ready):
            m.d.sync += r_valid.eq(0)

        cooldown = Signal(2)        # learning: clocks before the next event may be taken
        m.d.comb += self.events.ready.eq(self.step.accept & free & (cooldown == 0))
        take = self.events.valid & self.events.ready
        good = (ev.axon < p.axons) & (ev.delay < p.max_delay)
        m.d.comb += [self.accepted.eq(take), self.accepted_good.eq(take & good)]
        with m.If(take & good):
            m.d.sync += [r_valid.eq(1), r_axon.eq(ev.axon), r_end.eq(0)]
        if p.learning:
            with m.If(take & good):
                m.d.sync += cooldown.eq(2)
            with m.Elif(cooldown != 0):
                m.d.sync += cooldown.eq(cooldown - 1)
            m.d.sync += [self.hits.valid.eq(take & good), self.hits.axon.eq(ev.axon),
                         self.hits.slot.eq(0)]

        self._code_mem = mem = Memory(shape=signed(p.acc_bits), depth=p.neurons, init=[])
        m.submodules.code_mem = mem
        wr = mem.write_port()
        n = Signal(range(p.neurons))
        m.d.comb += [wr.addr.eq(n), wr.data.eq(sat_signed(codes.payload.code, p.acc_bits))]
        with m.FSM(name="read") as fsm:
            with m.State("IDLE"):
                # the step starts: send the end of its row inputs as soon as the register
                # is free (no event is taken meanwhile: step.accept is low)
                with m.If(self.step.compute & free):
                    m.d.sync += [r_valid.eq(1), r_end.eq(1), r_axon.eq(0), n.eq(0)]
                    m.next = "CODES"
            with m.State("CODES"):
                m.d.comb += codes.ready.eq(1)
                with m.If(codes.valid):
                    m.d.comb += wr.en.eq(1)
                    m.d.sync += n.eq(n + 1)
                    with m.If(n == p.neurons - 1):
                        m.next = "DONE"
            with m.State("DONE"):
                with m.If(~self.step.compute):
                    m.next = "IDLE"
        m.d.comb += [
            self.step.busy.eq((fsm.ongoing("IDLE") & self.step.compute) | fsm.ongoing("CODES")),
            self.step.clearing.eq(0),
        ]

    def _read_port(self, m):
        """``a_in``: code memory read (clock 1), then registers to clock 4."""
        p = self._p
        rd = self._code_mem.read_port()
        m.d.comb += rd.addr.eq(self.a_in.neuron)
        q2 = Signal(signed(p.acc_bits), reset_less=True)
        q3 = Signal(signed(p.acc_bits), reset_less=True)
        q4 = Signal(signed(p.acc_bits), reset_less=True)
        m.d.sync += [q2.eq(rd.data), q3.eq(q2), q4.eq(q3)]
        m.d.comb += self.a_in.a_in.eq(q4)

    def _targets(self, m):
        """The target-weight copy (STDP read-modify-write, configuration) and the update
        requests made from the engine's writes."""
        p, L, W = self._p, self._p.lanes, self._p.words_per_row
        m.submodules.syn_mem = syn_mem = SynapseRam(p, self._image.syn_words())
        syn_q = Signal(layouts.syn_word_layout(p), reset_less=True)
        m.d.sync += syn_q.eq(syn_mem.r_data)
        m.d.comb += [
            self.cfg.r_data.eq(syn_q),
            syn_mem.addr.eq(Mux(self.cfg.sel, self.cfg.index, 0)),
            syn_mem.w_addr.eq(self.cfg.index),
            syn_mem.w_data.eq(self.cfg.w_data),
            syn_mem.w_en.eq(self.cfg.w_en),
            self.rmw.rdata.eq(syn_mem.r_data),
        ]
        rmw = self.rmw
        with m.If(rmw.active):
            m.d.comb += [syn_mem.addr.eq(rmw.raddr), syn_mem.w_addr.eq(rmw.waddr),
                         syn_mem.w_data.eq(rmw.wdata), syn_mem.w_en.eq(rmw.we)]

        # the engine reads a word in clock c (on r_data in c + 1) and writes it back in
        # c + 3: the old word, two registers after r_data, meets the new one
        old2 = Signal(layouts.syn_word_layout(p), reset_less=True)
        m.d.sync += old2.eq(syn_q)
        upd = self.xbar.updates
        delta = Signal(layouts.weight_update_layout(p).members["delta"])
        changed = Signal()
        m.d.comb += changed.eq(0)
        for lane in range(L):
            m.d.comb += delta[lane].eq(rmw.wdata[lane] - old2[lane])
            with m.If(rmw.wdata[lane] != old2[lane]):
                m.d.comb += changed.eq(1)
        if W & (W - 1) == 0:
            wb = (W - 1).bit_length()
            axon, word = rmw.waddr >> wb, rmw.waddr[:wb] if wb else 0
        else:
            axon, word = rmw.waddr // W, rmw.waddr % W
        m.d.sync += [upd.valid.eq(rmw.active & rmw.we & changed),
                     upd.payload.axon.eq(axon),
                     upd.payload.neuron.eq(word * L),
                     upd.payload.delta.eq(delta)]
