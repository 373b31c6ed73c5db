"""The synaptic-input unit of a core: synapse memory, integration pipeline, accumulator."""

from amaranth.hdl import Array, Const, Module, Mux, Signal, signed
from amaranth.lib import data, stream, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from . import layouts
from .core_interfaces import Hit, InputRead, RegionAccess, StepControl, WeightRmw
from .image import CoreImage
from .neuron import sat_signed
from .pipeline import NO_RW_CHECK, delay_line
from .synapse_ram import SynapseRam


__all__ = ["SynapticInput"]


def input_members(p):
    """The members every synaptic-input unit has (this digital one and the crossbar's
    :class:`~.analog_input.AnalogSynapticInput`): events in, the step control, ``w_exp``,
    the ``a_in`` read port, the ``cfg`` port, and with learning the STDP ``rmw`` and ``hits``
    ports."""
    members = {
        "events": In(stream.Signature(layouts.axon_event_layout(p))),
        "accepted": Out(1),
        "accepted_good": Out(1),
        "step": In(StepControl.Signature(p)),
        "w_exp": In(3),
        "a_in": In(InputRead.Signature(p)),
        "cfg": In(RegionAccess.Signature(p, layouts.syn_word_layout(p))),
    }
    if p.learning:
        members["rmw"] = In(WeightRmw.Signature(p))
        members["hits"] = Out(Hit.Signature(p))
    return members


class SynapticInput(wiring.Component):
    """Dense synapses: turns input events into the synaptic input of every neuron.

    Each accepted event adds its axon's row of weights (each shifted left by ``w_exp``),
    ``lanes`` weights per clock, into the accumulator slot of the step it is addressed to
    (``step.slot + delay``, one more while ``step.next_step``), with exact sums. The
    neuron-update unit reads the slot of the step through ``a_in`` and the read clears it.

    This unit is the seam a crossbar variant replaces: events in, ``a_in`` out, plus the
    weight-memory ports of the register block and the STDP engine.

    After reset the unit sweeps its accumulator to zero (``step.clearing``, ``max_delay *
    N / lanes`` clocks), so inputs pending before a reset never reach a later step.

    Latency and throughput: an event occupies the unit for N / lanes clocks, back to back;
    ``step.busy`` stays high 4 clocks more, while the last words are written back. With
    N / lanes < 3 the next event waits until 3 clocks after the previous one. ``a_in``:
    :attr:`InputRead.LATENCY` (4) clocks. ``cfg.r_data``: 2 clocks.

    Parameters
    ----------
    image : CoreImage
        The core's image (synapse memory contents and parameters).

    Members
    -------
    events : In(stream.Signature(axon_event_layout))
        Input events; ``ready`` only while ``step.accept``.
    accepted : Out(1)
        An event is taken this clock (``events.valid & events.ready``).
    accepted_good : Out(1)
        ... and its axon and delay are in range (otherwise it is dropped).
    step : In(StepControl.Signature)
    w_exp : In(3)
        The weight exponent (register ``W_EXP``).
    a_in : In(InputRead.Signature)
        The neuron-update unit's read port.
    cfg : In(RegionAccess.Signature)
        The register block's access to the synapse memory (region ``SYN``).
    rmw : In(WeightRmw.Signature)
        Only with ``learning``: the STDP engine's read-modify-write port.
    hits : Out(Hit.Signature)
        Only with ``learning``: each good event, one clock after it was taken.
    """

    def __init__(self, image: CoreImage):
        if not isinstance(image, CoreImage):
            raise TypeError(f"image must be a CoreImage, not {type(image).__name__}")
        self._image = image
        p = self._p = image.params
        members = input_members(p)
        super().__init__(members)

    def elaborate(self, platform):
        m = Module()
        p = self._p
        A, W = p.axons, p.words_per_row
        m.submodules.syn_mem = syn_mem = SynapseRam(p, self._image.syn_words())
        syn_q = Signal(layouts.syn_word_layout(p), reset_less=True)
        m.d.sync += syn_q.eq(syn_mem.r_data)
        m.d.comb += self.cfg.r_data.eq(syn_q)

        # --- event intake -----------------------------------------------------------------
        ev = self.events.payload
        ev_busy = Signal()          # an event's row is being streamed
        syn_ptr = Signal(range(A * W))
        acc_ptr = Signal(range(p.max_delay * W))
        word = Signal(range(W))
        last_word = word == W - 1
        cooldown = Signal(2)        # clocks before the next event may start (N/lanes < 3)
        m.d.comb += self.events.ready.eq(self.step.accept & (~ev_busy | last_word) &
                                         (cooldown == 0))
        ev_take = self.events.valid & self.events.ready
        ev_good = (ev.axon < A) & (ev.delay < p.max_delay)
        slot_sum = self.step.slot + ev.delay + self.step.next_step
        ev_slot = Mux(slot_sum >= p.max_delay, slot_sum - p.max_delay, slot_sum)
        m.d.comb += [self.accepted.eq(ev_take), self.accepted_good.eq(ev_take & ev_good)]
        with m.If(ev_busy):
            m.d.sync += [syn_ptr.eq(syn_ptr + 1), acc_ptr.eq(acc_ptr + 1), word.eq(word + 1)]
            with m.If(last_word):
                m.d.sync += ev_busy.eq(0)
        with m.If(ev_take & ev_good):
            m.d.sync += [ev_busy.eq(1), word.eq(0),
                         syn_ptr.eq(ev.axon * W), acc_ptr.eq(ev_slot * W)]
        if W < 3:
            with m.If(ev_take & ev_good):
                m.d.sync += cooldown.eq(2)      # next take 3 clocks after this one
            with m.Elif(cooldown != 0):
                m.d.sync += cooldown.eq(cooldown - 1)
        if p.learning:
            # a register between the input handshake and the STDP engine's hit memories
            m.d.sync += [self.hits.valid.eq(ev_take & ev_good), self.hits.axon.eq(ev.axon),
                         self.hits.slot.eq(ev_slot)]

        # --- synapse memory ports: integration, configuration, STDP -------------------------
        m.d.comb += [
            syn_mem.addr.eq(syn_ptr),
            syn_mem.w_data.eq(self.cfg.w_data),
            syn_mem.w_en.eq(self.cfg.w_en),
        ]
        with m.If(self.cfg.sel):
            m.d.comb += syn_mem.addr.eq(self.cfg.index)
        if p.learning:
            m.d.comb += [syn_mem.w_addr.eq(self.cfg.index), self.rmw.rdata.eq(syn_mem.r_data)]
            with m.If(self.rmw.active):
                m.d.comb += [syn_mem.addr.eq(self.rmw.raddr), syn_mem.w_addr.eq(self.rmw.waddr),
                             syn_mem.w_data.eq(self.rmw.wdata), syn_mem.w_en.eq(self.rmw.we)]

        self._accumulate(m, ev_busy, acc_ptr, syn_q)
        return m

    def _accumulate(self, m, ev_busy, acc_ptr, syn_q):
        """The integration pipeline, the accumulator, its read port and its sweep."""
        p = self._p
        W, L = p.words_per_row, p.lanes
        lane_bits = (L - 1).bit_length()
        acc_lay = layouts.acc_word_layout(p)
        # a word is never read in the clock it is written (see the integration pipeline)
        m.submodules.acc_mem = acc_mem = Memory(shape=acc_lay, depth=p.max_delay * W, init=[],
                                                attrs=NO_RW_CHECK)
        acc_wr, acc_rd = acc_mem.write_port(), acc_mem.read_port()

        # integration pipeline, one accumulator word per clock:
        #   stage 0 reads the synapse word;       stage 1 registers it;
        #   stage 2 shifts it by w_exp and reads the accumulator word;
        #   stage 3 registers the accumulator word; stage 4 adds and writes it back.
        # A word is read in stage 2 and written in stage 4, so the next event may touch the
        # same word only 3 clocks after this one started: with N/lanes >= 3 that is always
        # so; smaller cores wait ``cooldown`` clocks between events.
        s_valid, s_addr = delay_line(m, (ev_busy, acc_ptr), 4, ("int_v", "int_addr"))
        int_valid = s_valid[3]
        m.d.comb += self.step.busy.eq(ev_busy | s_valid[0] | s_valid[1] | s_valid[2] |
                                      int_valid)
        shifted = Signal(data.ArrayLayout(signed(p.weight_bits + 7), L), reset_less=True)
        shifted_q = Signal.like(shifted, reset_less=True)
        acc_q = Signal(acc_lay, reset_less=True)
        acc_sum = Signal(acc_lay)
        m.d.sync += [shifted_q.eq(shifted), acc_q.eq(acc_rd.data)]
        for lane in range(L):
            m.d.sync += shifted[lane].eq(syn_q[lane] << self.w_exp)
            m.d.comb += acc_sum[lane].eq(acc_q[lane] + shifted_q[lane])

        # the read port: request (clock 0) -> accumulator word read (1) -> registered, shared
        # with the integration pipeline (2) -> lane selected (3) -> saturated (4)
        rd = self.a_in
        slot_base = Signal(range(p.max_delay * W))
        m.d.comb += slot_base.eq(self.step.slot * W)
        m.d.comb += acc_rd.addr.eq(Mux(rd.en, slot_base + (rd.neuron >> lane_bits), s_addr[1]))
        rv1, n1 = Signal(), Signal.like(rd.neuron)
        n2 = Signal.like(rd.neuron)
        m.d.sync += [rv1.eq(rd.en), n1.eq(rd.neuron), n2.eq(n1)]
        acc_lanes = Array(acc_q[lane] for lane in range(L))
        lane2 = n2[:lane_bits] if lane_bits else Const(0, 1)
        acc3 = Signal(signed(p.acc_mem_bits), reset_less=True)
        a_in4 = Signal(signed(p.acc_bits), reset_less=True)
        m.d.sync += [acc3.eq(acc_lanes[lane2]), a_in4.eq(sat_signed(acc3, p.acc_bits))]
        m.d.comb += rd.a_in.eq(a_in4)

        # accumulator write: integration (add a row of weights), the read port (clear the
        # word after its last lane is read) or the sweep after reset
        clearing = Signal(init=1)
        clr_ptr = Signal(range(p.max_delay * W))
        m.d.comb += self.step.clearing.eq(clearing)
        lane1 = n1[:lane_bits] if lane_bits else Const(0, 1)
        with m.If(int_valid):
            m.d.comb += [acc_wr.addr.eq(s_addr[3]), acc_wr.data.eq(acc_sum), acc_wr.en.eq(1)]
        with m.Elif(rv1 & (lane1 == L - 1)):
            m.d.comb += [acc_wr.addr.eq(slot_base + (n1 >> lane_bits)), acc_wr.data.eq(0),
                         acc_wr.en.eq(1)]
        with m.Elif(clearing):
            m.d.comb += [acc_wr.addr.eq(clr_ptr), acc_wr.data.eq(0), acc_wr.en.eq(1)]
            m.d.sync += clr_ptr.eq(clr_ptr + 1)
            with m.If(clr_ptr == p.max_delay * W - 1):
                m.d.sync += clearing.eq(0)
