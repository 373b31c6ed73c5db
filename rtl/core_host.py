"""A bare neuron core behind the host interface (the top of a single-core design)."""

from amaranth.hdl import Module, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from . import layouts
from .core import NeuronCore
from .core_interfaces import CrossbarPort
from .host import (COUNTER_BITS, ERROR_BITS, Error, HostInterface, KIND_BITS, Kind, Op, OP_BITS,
                   STATUS_BITS, STATUS_COMMAND,
                   address_ok, core_mesh, host_region_depths, host_reply_layout)
from .image import CoreImage
from .params import STEP_BITS
from .reply_arbiter import ReplyArbiter


__all__ = ["CoreHost"]


class CoreHost(wiring.Component):
    """One :class:`~spikefab.rtl.core.NeuronCore` presented through the host interface, as
    the one core of a 1 x 1 array (:func:`~spikefab.rtl.host.core_mesh`).

    It builds only on the core's external ports (``events``, ``spikes``, ``start``, ``idle``,
    ``done``, ``cfg``, ``cfg_rdata``, ``trace``) and their timing.

    * ``WRITE``/``READ`` go to the core's configuration port (taken while the core is idle);
      a read's word comes back as a ``DATA`` reply. The routing regions do not exist here.
    * ``EVENT`` goes to the core's ``events`` port (``axon`` and ``delay`` as given; a bad
      axon is the core's business: it drops it and sets its ``STATUS`` bit 1).
    * ``STEP`` with ``steps = n`` starts n steps one after the other; each step's spikes leave
      as ``SPIKE`` records (``step`` = the step being computed, core (0, 0)) and its end as a
      ``DONE`` record. No other command is taken until the last ``DONE`` record has left.
    * ``COUNTERS``: ``step``, ``cycles`` (clocks from the start of the last step to its
      ``done``), ``packets_in`` (events taken), ``packets_out`` (spikes sent), ``status``.
    * A command with an unknown ``op``, a core other than (0, 0) (``WRITE``, ``READ``,
      ``EVENT``) or an address outside the core's regions gives one ``ERROR`` record and
      changes nothing.

    Latency: the reply stream has one register stage (:class:`ReplyArbiter`); an ``EVENT``
    passes straight to the core (one event per clock while the core takes them); a ``WRITE``
    or ``READ`` is offered to the core one clock after it comes (one every other clock at
    most).

    Parameters
    ----------
    image : CoreImage

    Members
    -------
    host : In(HostInterface.Signature(core_mesh(params), params))
    trace : Out(trace signature)
        The core's trace port (only with ``params.trace_port``), for monitors.
    xbar : Out(CrossbarPort.Signature)
        The core's analog synapse port, passed straight through (only with
        ``params.synapses == "crossbar"``; the crossbar sits outside, in the bench).
    """

    def __init__(self, image: CoreImage):
        if not isinstance(image, CoreImage):
            raise TypeError(f"image must be a CoreImage, not {type(image).__name__}")
        self._image = image
        p = self._p = image.params
        NeuronCore.check_params(p)
        members = {"host": In(HostInterface.Signature(core_mesh(p), p))}
        if p.trace_port:
            members["trace"] = Out(wiring.Signature({
                "valid": Out(1), "payload": Out(layouts.trace_layout(p))}))
        if p.synapses == "crossbar":
            members["xbar"] = Out(CrossbarPort.Signature(p))
        super().__init__(members)

    @property
    def image(self):
        return self._image

    def elaborate(self, platform):
        m = Module()
        p = self._p
        mp = core_mesh(p)
        m.submodules.core = core = NeuronCore(self._image)
        reply_lay = host_reply_layout(mp, p)
        m.submodules.arbiter = arb = ReplyArbiter(layout=reply_lay, sources=3)
        wiring.connect(m, arb.o, wiring.flipped(self.host.reply))
        if p.trace_port:
            m.d.comb += [self.trace.valid.eq(core.trace.valid),
                         self.trace.payload.eq(core.trace.payload)]
        if p.synapses == "crossbar":
            wiring.connect(m, core=core.xbar, xbar=wiring.flipped(self.xbar))

        # reply sources, by priority: 0 spikes (while a step runs), 1 read data, 2 one record
        # (DONE, COUNTERS or ERROR) held in registers
        spk, rd, rec = arb.i[0], arb.i[1], arb.i[2]
        step = Signal(STEP_BITS)
        cycles, last_cycles = Signal(COUNTER_BITS), Signal(COUNTER_BITS)
        n_events, n_spikes = Signal(COUNTER_BITS), Signal(COUNTER_BITS)
        status = Signal(STATUS_BITS)
        remaining = Signal.like(self.host.cmd.payload.arg.run.steps)
        m.d.comb += [
            spk.payload.kind.eq(Kind.SPIKE),
            spk.payload.body.spike.step.eq(step),
            spk.payload.body.spike.neuron.eq(core.spikes.payload.neuron),
            rd.payload.kind.eq(Kind.DATA),
            rd.payload.body.data.eq(core.cfg_rdata.payload),
            rd.valid.eq(core.cfg_rdata.valid),
            core.cfg_rdata.ready.eq(rd.ready),
        ]
        rec_kind = Signal(KIND_BITS)
        err_code, err_op = Signal(ERROR_BITS), Signal(OP_BITS)
        m.d.comb += rec.payload.kind.eq(rec_kind)
        with m.If(rec_kind == Kind.ERROR):
            m.d.comb += [rec.payload.body.error.code.eq(err_code),
                         rec.payload.body.error.op.eq(err_op)]
        with m.Else():
            counters = rec.payload.body.counters
            m.d.comb += [counters.step.eq(step), counters.cycles.eq(last_cycles),
                         counters.packets_in.eq(n_events), counters.packets_out.eq(n_spikes),
                         counters.status.eq(status)]
        with m.If(core.events.valid & core.events.ready):
            m.d.sync += n_events.eq(n_events + 1)
        with m.If(spk.valid & spk.ready):
            m.d.sync += n_spikes.eq(n_spikes + 1)

        cmd = self.host.cmd
        op = cmd.payload.op
        cfg = cmd.payload.arg.cfg
        # a WRITE / READ is offered to the core from the clock after it came (cfg_offer, a
        # register), and taken from the command stream only when the core takes it: the core's
        # configuration port starts from flip-flops, not from the command decode
        cfg_offer = Signal()
        m.d.comb += [
            core.cfg.valid.eq(cfg_offer),
            core.cfg.payload.addr.region.eq(cfg.addr.region),
            core.cfg.payload.addr.index.eq(cfg.addr.index),
            core.cfg.payload.write.eq(op == Op.WRITE),
            core.cfg.payload.data.eq(cfg.data),
            core.events.payload.eq(cmd.payload.arg.event),
        ]
        known = op <= max(Op)
        here = (cmd.payload.core.x == 0) & (cmd.payload.core.y == 0)
        is_cfg = (op == Op.WRITE) | (op == Op.READ)
        addr_ok = address_ok(cfg.addr.region, cfg.addr.index,
                             host_region_depths(mp, p, routing=False))
        error = Signal(ERROR_BITS)
        with m.If(~known):
            m.d.comb += error.eq(Error.UNKNOWN_OP)
        with m.Elif((is_cfg | (op == Op.EVENT)) & ~here):
            m.d.comb += error.eq(Error.BAD_CORE)
        with m.Elif(is_cfg & ~addr_ok):
            m.d.comb += error.eq(Error.BAD_ADDRESS)

        with m.FSM(name="host"):
            with m.State("COMMAND"):
                with m.If(error != 0):
                    m.d.comb += cmd.ready.eq(1)
                    with m.If(cmd.valid):
                        m.d.sync += [rec_kind.eq(Kind.ERROR), err_code.eq(error), err_op.eq(op),
                                     status[STATUS_COMMAND].eq(1)]
                        m.next = "RECORD"
                with m.Elif(is_cfg):
                    m.d.sync += cfg_offer.eq(cmd.valid)
                    with m.If(cfg_offer & core.cfg.ready):
                        m.d.comb += cmd.ready.eq(1)
                        m.d.sync += cfg_offer.eq(0)
                        with m.If(op == Op.READ):
                            m.next = "READ"
                with m.Elif(op == Op.EVENT):
                    m.d.comb += [core.events.valid.eq(cmd.valid),
                                 cmd.ready.eq(core.events.ready)]
                with m.Elif(op == Op.STEP):
                    m.d.comb += cmd.ready.eq(1)
                    with m.If(cmd.valid & (cmd.payload.arg.run.steps != 0)):
                        m.d.sync += remaining.eq(cmd.payload.arg.run.steps)
                        m.next = "START"
                with m.Else():                          # COUNTERS
                    m.d.comb += cmd.ready.eq(1)
                    with m.If(cmd.valid):
                        m.d.sync += rec_kind.eq(Kind.COUNTERS)
                        m.next = "RECORD"
            with m.State("READ"):
                with m.If(rd.valid & rd.ready):
                    m.next = "COMMAND"
            with m.State("START"):
                m.d.comb += core.start.eq(1)
                with m.If(core.idle):
                    m.d.sync += [cycles.eq(1), remaining.eq(remaining - 1)]
                    m.next = "RUN"
            with m.State("RUN"):
                m.d.sync += cycles.eq(cycles + 1)
                m.d.comb += [spk.valid.eq(core.spikes.valid),
                             core.spikes.ready.eq(spk.ready)]
                with m.If(core.done):
                    m.d.sync += [step.eq(step + 1), last_cycles.eq(cycles),
                                 rec_kind.eq(Kind.DONE)]
                    m.next = "DONE"
            with m.State("DONE"):
                m.d.comb += rec.valid.eq(1)
                with m.If(rec.ready):
                    with m.If(remaining != 0):
                        m.next = "START"
                    with m.Else():
                        m.next = "COMMAND"
            with m.State("RECORD"):
                m.d.comb += rec.valid.eq(1)
                with m.If(rec.ready):
                    m.next = "COMMAND"
        return m
