"""The register and configuration block of a core: command decode, registers, read-back."""

from amaranth.hdl import Module, Signal, unsigned
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from . import layouts
from .core_interfaces import CoreActivity, RegionAccess, RegisterAccess
from .image import CoreImage
from .layouts import Reg, Region


__all__ = ["CoreConfig"]


class CoreConfig(wiring.Component):
    """Decodes the configuration command stream of a core (SPEC §4) and owns its registers.

    A command is taken while ``activity.cmd_ok`` (the core is idle and integrates nothing)
    and no read is being answered. A write goes to a register (``W_EXP``; any write to
    ``STATUS`` clears it) or, through a :class:`RegionAccess` port, to the memory of the
    unit that owns the region; a read returns one word on ``rdata``. A command whose index is
    out of its region's range sets ``STATUS`` bit 2 and changes nothing (a read returns 0).

    The registers: ``W_EXP``; ``STEP`` (steps done); ``STATUS`` (bit 0: more than
    ``max_step_events`` events for a step, bit 1: an event with its axon or delay out of
    range, bit 2: a command out of range); ``LAST_CYCLES``, ``LAST_EVENTS``, ``LAST_SPIKES``
    (busy clocks, events and spikes of the last step); ``PENDING`` (events taken for the step
    not yet computed). With learning, the STDP registers live in the engine
    (``stdp_regs``).

    Latency: a read's word is on ``rdata`` 3 clocks after the command is taken, and holds
    until taken; the next command is taken after that.

    Parameters
    ----------
    image : CoreImage
        The core's image (initial ``W_EXP``, parameters).

    Members
    -------
    cmd : In(stream.Signature(cfg_command_layout))
    rdata : Out(stream.Signature(cfg_data_bits))
    activity : In(CoreActivity.Signature)
    w_exp : Out(3)
        The ``W_EXP`` register.
    syn, param, state : Out(RegionAccess.Signature)
        The ``SYN``, ``PARAM`` and ``STATE`` regions.
    pidx : Out(RegionAccess.Signature)
        Only with ``param_mode = "profile"``: the ``PIDX`` region.
    xtrace, ytrace : Out(RegionAccess.Signature)
        Only with ``learning``: the ``XTRACE`` and ``YTRACE`` regions.
    stdp_regs : Out(RegisterAccess.Signature)
        Only with ``learning``: the STDP registers.
    """

    def __init__(self, image: CoreImage):
        if not isinstance(image, CoreImage):
            raise TypeError(f"image must be a CoreImage, not {type(image).__name__}")
        self._image = image
        p = self._p = image.params
        members = {
            "cmd": In(stream.Signature(layouts.cfg_command_layout(p))),
            "rdata": Out(stream.Signature(unsigned(layouts.cfg_data_bits(p)))),
            "activity": In(CoreActivity.Signature()),
            "w_exp": Out(3),
        }
        for name, shape in self._regions().items():
            members[name] = Out(RegionAccess.Signature(p, shape))
        if p.learning:
            members["stdp_regs"] = Out(RegisterAccess.Signature(p))
        super().__init__(members)

    def _regions(self):
        """The memory regions of the core's units: port name -> word shape."""
        p = self._p
        regions = {"syn": layouts.syn_word_layout(p), "param": layouts.param_layout(p),
                   "state": layouts.state_layout(p)}
        if p.param_mode == "profile":
            regions["pidx"] = unsigned(p.profile_bits)
        if p.learning:
            regions["xtrace"] = layouts.xtrace_layout(p)
            regions["ytrace"] = layouts.ytrace_layout(p)
        return regions

    def elaborate(self, platform):
        m = Module()
        p = self._p
        act = self.activity

        # --- command decode ---------------------------------------------------------------
        cmd = self.cmd.payload
        region, index = cmd.addr.region, cmd.addr.index
        in_range = Signal()
        with m.Switch(region):
            for r, depth in layouts.region_depths(p).items():
                if not depth:
                    continue
                with m.Case(r):
                    m.d.comb += in_range.eq(index < depth)
        rd_pending = Signal()       # a read is being answered
        m.d.comb += [self.cmd.ready.eq(act.cmd_ok & ~rd_pending),
                     act.cmd_valid.eq(self.cmd.valid), act.reading.eq(rd_pending)]
        cfg_take = self.cmd.valid & self.cmd.ready
        cfg_wr = cfg_take & cmd.write & in_range
        cfg_rd = cfg_take & ~cmd.write
        ports = {name: getattr(self, name) for name in self._regions()}
        for name, port in ports.items():
            m.d.comb += [port.sel.eq(self.cmd.valid & act.cmd_ok), port.index.eq(index),
                         port.w_data.eq(cmd.data),
                         port.w_en.eq(cfg_wr & (region == Region[name.upper()]))]
        if p.learning:
            m.d.comb += [self.stdp_regs.index.eq(index), self.stdp_regs.w_data.eq(cmd.data),
                         self.stdp_regs.w_en.eq(cfg_wr & (region == Region.REG))]

        # --- registers --------------------------------------------------------------------
        w_exp = Signal(3, init=self._image.w_exp)
        step_count = Signal(32)
        status = Signal(3)          # bit 0 event overflow, bit 1 bad event, bit 2 bad address
        last_cycles = Signal(32)
        last_events = Signal(32)
        last_spikes = Signal(32)
        pending = Signal(32)        # events accepted for the step not yet computed
        cycles = Signal(32)         # busy clocks of the step in progress
        spikes_now = Signal(32)
        m.d.comb += self.w_exp.eq(w_exp)
        with m.If(act.event):
            m.d.sync += pending.eq(pending + 1)
            with m.If(pending >= p.max_step_events):
                m.d.sync += status[0].eq(1)
            with m.If(~act.event_good):
                m.d.sync += status[1].eq(1)
        with m.If(act.busy):
            m.d.sync += cycles.eq(cycles + 1)
        with m.If(act.spike):
            m.d.sync += spikes_now.eq(spikes_now + 1)
        with m.If(act.begin):
            m.d.sync += [last_events.eq(pending), pending.eq(0), spikes_now.eq(0)]
        with m.If(act.done):
            m.d.sync += [step_count.eq(step_count + 1), last_cycles.eq(cycles + 1),
                         cycles.eq(0), last_spikes.eq(spikes_now)]
        with m.If(cfg_take & ~in_range):
            m.d.sync += status[2].eq(1)
        with m.If(cfg_wr & (region == Region.REG)):
            with m.Switch(index):
                with m.Case(Reg.W_EXP):
                    m.d.sync += w_exp.eq(cmd.data)
                with m.Case(Reg.STATUS):
                    m.d.sync += status.eq(0)
        reg_val = Signal(32)
        with m.Switch(index):
            for r, sig in ((Reg.W_EXP, w_exp), (Reg.STEP, step_count), (Reg.STATUS, status),
                           (Reg.LAST_CYCLES, last_cycles), (Reg.LAST_EVENTS, last_events),
                           (Reg.LAST_SPIKES, last_spikes), (Reg.PENDING, pending)):
                with m.Case(r):
                    m.d.comb += reg_val.eq(sig)
            if p.learning:
                with m.Case(*layouts.STDP_REGS.values()):
                    m.d.comb += reg_val.eq(self.stdp_regs.r_data)

        # --- read responses: command (clock 0), unit memories read (1), registered (2),
        # response registered (3) -------------------------------------------------------------
        rd_region = Signal(layouts.REGION_BITS)
        rd_ok = Signal()
        rd_reg = Signal(32)
        rd_fresh = Signal()
        rd_fresh2 = Signal()        # the units' r_data are valid
        resp = Signal(layouts.cfg_data_bits(p))
        resp_valid = Signal()
        with m.If(cfg_rd):
            m.d.sync += [rd_pending.eq(1), rd_fresh.eq(1), rd_region.eq(region),
                         rd_ok.eq(in_range), rd_reg.eq(reg_val)]
        m.d.sync += rd_fresh2.eq(rd_fresh)
        with m.If(rd_fresh):
            m.d.sync += rd_fresh.eq(0)
        with m.If(rd_fresh2):
            m.d.sync += resp_valid.eq(1)
            with m.If(~rd_ok):
                m.d.sync += resp.eq(0)
            with m.Else():
                with m.Switch(rd_region):
                    with m.Case(Region.REG):
                        m.d.sync += resp.eq(rd_reg)
                    for name, port in ports.items():
                        with m.Case(Region[name.upper()]):
                            m.d.sync += resp.eq(port.r_data)
                    with m.Default():
                        m.d.sync += resp.eq(0)
        m.d.comb += [self.rdata.valid.eq(resp_valid), self.rdata.payload.eq(resp)]
        with m.If(resp_valid & self.rdata.ready):
            m.d.sync += [resp_valid.eq(0), rd_pending.eq(0)]
        return m
