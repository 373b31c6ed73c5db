"""The neuron core: N neurons time-multiplexed over memories, A input axons, dense synapses."""

from amaranth.hdl import Array, Const, Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.fifo import SyncFIFOBuffered
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from . import layouts
from .image import CoreImage
from .params import ParamError
from .layouts import Reg, Region
from .neuron import datapath_for, sat_signed
from .stdp import StdpEngine
from .synapse_ram import SynapseRam


__all__ = ["NeuronCore"]


class NeuronCore(wiring.Component):
    """A core of leaky integrate-and-fire neurons (SPEC §3.2–3.4, §3.6).

    A step has two phases. While the core is idle it accepts input events; each event adds
    one axon's row of weights, ``lanes`` weights per clock, into the accumulator slot of the
    step it is addressed to (exact sums). On ``start`` it updates every neuron, one per clock,
    from the accumulator slot of the step (saturated once to ``acc_bits``), writes the new
    state back, and queues the index of every neuron that fired on ``spikes``. ``done`` pulses
    when every neuron is updated and every spike has left.

    After reset the core spends ``max_delay * N / lanes`` clocks clearing its accumulator
    (``idle`` is low meanwhile), so inputs pending before a reset never reach a later step.

    Cost: an input event takes N / lanes clocks (back to back, no gaps); the update takes
    N clocks plus the datapath latency; a step with no input costs only the update.

    Parameters
    ----------
    image : CoreImage
        Initial contents of every memory and register; ``image.params`` are the
        generation-time parameters.

    Members
    -------
    events : In(stream.Signature(axon_event_layout))
        Input events, accepted while idle, and also while a step's spikes wait to leave once
        its computation is over (so the core's input never waits on its output: in an array
        a spike may come back to the core that sent it). ``delay`` 0 is integrated at the
        next step the core computes.
    spikes : Out(stream.Signature(spike_event_layout))
        Neurons that fired at the step being computed, in increasing order.
    start : In(1)
        Compute the next step. Taken only in a clock where ``idle`` is high.
    idle : Out(1)
        The core waits for events, configuration commands or ``start``.
    done : Out(1)
        One-clock pulse: the step has finished and all its spikes have been taken.
    cfg : In(stream.Signature(cfg_command_layout))
        Configuration and read-back commands (see :class:`~spikefab.rtl.layouts.Region`);
        accepted while idle, when no event is in progress. A command whose index is out of
        its region's range sets ``STATUS`` bit 2 and changes nothing (a read returns 0).
    cfg_rdata : Out(stream.Signature(cfg_data_bits))
        One word per read command, in order. Read latency: 3 clocks.
    trace : Out(trace signature)
        ``trace.valid`` marks one record per neuron per step: its state after the update and
        its spike bit (only if ``params.trace_port``).
    """

    def __init__(self, image: CoreImage):
        if not isinstance(image, CoreImage):
            raise TypeError(f"image must be a CoreImage, not {type(image).__name__}")
        self._image = image
        p = self._p = image.params
        self.check_params(p)
        members = {
            "events": In(stream.Signature(layouts.axon_event_layout(p))),
            "spikes": Out(stream.Signature(layouts.spike_event_layout(p))),
            "start": In(1),
            "idle": Out(1),
            "done": Out(1),
            "cfg": In(stream.Signature(layouts.cfg_command_layout(p))),
            "cfg_rdata": Out(stream.Signature(unsigned(layouts.cfg_data_bits(p)))),
        }
        if p.trace_port:
            members["trace"] = Out(wiring.Signature({
                "valid": Out(1),
                "payload": Out(layouts.trace_layout(p)),
            }))
        super().__init__(members)

    @staticmethod
    def check_params(p):
        """Raise :class:`ParamError` for parameters the hardware does not implement."""
        if p.learning and p.max_delay > 1:
            # the core integrates a spike when it arrives; with STDP a delayed spike would
            # be weighed with the weights of its arrival step, not of its integration step
            raise ParamError(f"max_delay = {p.max_delay} is not allowed with learning = True in "
                             f"hardware: a delayed spike is integrated on arrival, before the "
                             f"weights of the steps in between are learned; use max_delay = 1 "
                             f"for learning cores (the golden model has no such limit)")

    @property
    def params(self):
        return self._p

    def elaborate(self, platform):
        m = Module()
        p, img = self._p, self._image
        N, A, W, L = p.neurons, p.axons, p.words_per_row, p.lanes
        lane_bits = (L - 1).bit_length()

        # --- memories ---------------------------------------------------------------------
        syn_lay = layouts.syn_word_layout(p)
        acc_lay = layouts.acc_word_layout(p)
        par_lay = layouts.param_layout(p)
        st_lay = layouts.state_layout(p)
        m.submodules.syn_mem = syn_mem = SynapseRam(p, img.syn_words())
        m.submodules.acc_mem = acc_mem = Memory(shape=acc_lay, depth=p.max_delay * W, init=[])
        m.submodules.par_mem = par_mem = Memory(shape=par_lay, depth=p.param_rows,
                                                init=[par_lay.from_bits(w) for w in img.param_words()])
        m.submodules.st_mem = st_mem = Memory(shape=st_lay, depth=N, init=[st_lay.from_bits(w) for w in img.state_words()])
        acc_wr = acc_mem.write_port()
        acc_rd = acc_mem.read_port()
        par_rd, par_wr = par_mem.read_port(), par_mem.write_port()
        st_rd, st_wr = st_mem.read_port(), st_mem.write_port()
        profile = p.param_mode == "profile"
        if profile:
            m.submodules.pidx_mem = pidx_mem = Memory(shape=unsigned(p.profile_bits), depth=N,
                                                      init=img.pidx_words())
            pidx_rd, pidx_wr = pidx_mem.read_port(), pidx_mem.write_port()

        # --- registers --------------------------------------------------------------------
        w_exp = Signal(3, init=img.w_exp)
        step_count = Signal(32)
        status = Signal(3)          # bit 0 event overflow, bit 1 bad event, bit 2 bad address
        last_cycles = Signal(32)
        last_events = Signal(32)
        last_spikes = Signal(32)
        pending = Signal(32)        # events accepted for the step not yet computed
        cycles = Signal(32)         # busy clocks of the step in progress
        spikes_now = Signal(32)
        cur_slot = Signal(range(p.max_delay), init=0)

        # --- control state ----------------------------------------------------------------
        start_pending = Signal()
        updating = Signal()         # issuing neuron reads
        finishing = Signal()        # waiting for the pipeline and the spike queue to empty
        ev_busy = Signal()          # an event's row is being streamed
        int_valid = Signal()        # integration write-back stage holds a word
        rd_pending = Signal()       # a configuration read is being answered
        int_busy = Signal()         # a word is in integration stages 1..3
        cooldown = Signal(2)        # clocks before the next event may start (N/lanes < 3)
        integrator_idle = ~ev_busy & ~int_busy & ~int_valid
        # after reset the accumulator (which a reset does not clear) is swept to zero, so no
        # input pending from before the reset survives it
        clearing = Signal(init=1)
        clr_ptr = Signal(range(p.max_delay * W))
        core_idle = ~start_pending & ~updating & ~finishing & ~clearing
        m.d.comb += self.idle.eq(core_idle & ~rd_pending)

        # --- configuration command decode -------------------------------------------------
        cmd = self.cfg.payload
        region, index = cmd.addr.region, cmd.addr.index
        in_range = Signal()
        with m.Switch(region):
            for r, depth in layouts.region_depths(p).items():
                if not depth:
                    continue
                with m.Case(r):
                    m.d.comb += in_range.eq(index < depth)
        m.d.comb += self.cfg.ready.eq(core_idle & integrator_idle & ~rd_pending)
        cfg_take = self.cfg.valid & self.cfg.ready
        cfg_wr = cfg_take & cmd.write & in_range
        cfg_rd = cfg_take & ~cmd.write

        # --- synaptic integration ---------------------------------------------------------
        ev = self.events.payload
        syn_ptr = Signal(range(A * W))
        acc_ptr = Signal(range(p.max_delay * W))
        word = Signal(range(W))
        last_word = word == W - 1
        # ``draining``: the step is computed and only its spikes wait to leave; events are
        # taken then too (for the step after), so a core's input never waits on its output
        draining = Signal()
        m.d.comb += self.events.ready.eq((core_idle | draining) & ~rd_pending & ~self.cfg.valid &
                                         (~ev_busy | last_word) & (cooldown == 0))
        ev_take = self.events.valid & self.events.ready
        ev_good = (ev.axon < A) & (ev.delay < p.max_delay)
        slot_sum = cur_slot + ev.delay + draining     # cur_slot advances when the step ends
        ev_slot = Mux(slot_sum >= p.max_delay, slot_sum - p.max_delay, slot_sum)

        with m.If(ev_busy):
            m.d.sync += [syn_ptr.eq(syn_ptr + 1), acc_ptr.eq(acc_ptr + 1), word.eq(word + 1)]
            with m.If(last_word):
                m.d.sync += ev_busy.eq(0)
        with m.If(ev_take):
            m.d.sync += pending.eq(pending + 1)
            with m.If(pending >= p.max_step_events):
                m.d.sync += status[0].eq(1)
            with m.If(ev_good):
                m.d.sync += [ev_busy.eq(1), word.eq(0),
                             syn_ptr.eq(ev.axon * W), acc_ptr.eq(ev_slot * W)]
            with m.Else():
                m.d.sync += status[1].eq(1)

        # integration pipeline, one accumulator word per clock:
        #   stage 0 reads the synapse word;       stage 1 registers it;
        #   stage 2 shifts it by w_exp and reads the accumulator word;
        #   stage 3 registers the accumulator word; stage 4 adds and writes it back.
        # A word is read in stage 2 and written in stage 4, so the next event may touch the
        # same word only 3 clocks after this one started: with N/lanes >= 3 that is always
        # so; smaller cores wait ``cooldown`` clocks between events.
        s_valid = [Signal(name=f"int_v{k}") for k in range(1, 5)]
        s_addr = [Signal.like(acc_ptr, name=f"int_addr{k}") for k in range(1, 5)]
        m.d.sync += [s_valid[0].eq(ev_busy), s_addr[0].eq(acc_ptr)]
        for k in range(1, 4):
            m.d.sync += [s_valid[k].eq(s_valid[k - 1]), s_addr[k].eq(s_addr[k - 1])]
        m.d.comb += [int_busy.eq(s_valid[0] | s_valid[1] | s_valid[2]),
                     int_valid.eq(s_valid[3])]
        int_read_addr, int_addr = s_addr[1], s_addr[3]
        if W < 3:
            with m.If(ev_take & ev_good):
                m.d.sync += cooldown.eq(2)      # next take 3 clocks after this one
            with m.Elif(cooldown != 0):
                m.d.sync += cooldown.eq(cooldown - 1)

        # --- neuron update: read stage ----------------------------------------------------
        n = Signal(range(N))
        slot_base = Signal(range(p.max_delay * W))
        m.d.comb += slot_base.eq(cur_slot * W)
        # rv0: reads of state / params / accumulator issued this clock for neuron n0
        rv0 = Signal()
        n0 = Signal.like(n)
        if profile:
            # one more clock to look up the profile index first
            m.d.sync += [rv0.eq(updating), n0.eq(n)]
            m.d.comb += pidx_rd.addr.eq(n)
        else:
            m.d.comb += [rv0.eq(updating), n0.eq(n)]
        rv1 = Signal()
        n1 = Signal.like(n)
        m.d.sync += [rv1.eq(rv0), n1.eq(n0)]

        # --- address and data multiplexing of the memory ports ----------------------------
        m.d.comb += [
            syn_mem.addr.eq(syn_ptr),
            acc_rd.addr.eq(Mux(rv0, slot_base + (n0 >> lane_bits), int_read_addr)),
            par_rd.addr.eq(n0 if not profile else pidx_rd.data),
            st_rd.addr.eq(n0),
        ]
        with m.If(self.cfg.valid & core_idle & integrator_idle):
            # the configuration port owns the address lines (nothing else runs when idle)
            m.d.comb += [syn_mem.addr.eq(index),
                         par_rd.addr.eq(index), st_rd.addr.eq(index)]
            if profile:
                m.d.comb += pidx_rd.addr.eq(index)
        m.d.comb += [
            syn_mem.w_data.eq(cmd.data), par_wr.data.eq(cmd.data),
            par_wr.addr.eq(index),
            syn_mem.w_en.eq(cfg_wr & (region == Region.SYN)),
            par_wr.en.eq(cfg_wr & (region == Region.PARAM)),
        ]
        if p.learning:
            m.submodules.stdp = eng = StdpEngine(img)
            m.d.comb += [syn_mem.w_addr.eq(index), eng.syn_rdata.eq(syn_mem.r_data)]
            with m.If(eng.syn_active):
                m.d.comb += [syn_mem.addr.eq(eng.syn_raddr), syn_mem.w_addr.eq(eng.syn_waddr),
                             syn_mem.w_data.eq(eng.syn_wdata), syn_mem.w_en.eq(eng.syn_we)]
            # hits reach the engine one clock after the event is taken (a register between
            # the input handshake and the hit memories); events are >= 3 clocks apart and
            # the trace pass starts >= 5 clocks after the last one
            m.d.sync += [eng.hit.eq(ev_take & ev_good), eng.hit_axon.eq(ev.axon),
                         eng.hit_slot.eq(ev_slot)]
            m.d.comb += [
                eng.slot.eq(cur_slot),
                eng.cfg_sel.eq(self.cfg.valid & core_idle & integrator_idle),
                eng.cfg_region.eq(region), eng.cfg_index.eq(index),
                eng.cfg_data.eq(cmd.data), eng.cfg_we.eq(cfg_wr),
            ]
        if profile:
            m.d.comb += [pidx_wr.addr.eq(index), pidx_wr.data.eq(cmd.data),
                         pidx_wr.en.eq(cfg_wr & (region == Region.PIDX))]

        # accumulator write: integration (add a row of weights) or update (clear after use)
        syn_q = Signal(syn_lay, reset_less=True)
        shifted = Signal(data.ArrayLayout(signed(p.weight_bits + 7), L), reset_less=True)
        shifted_q = Signal.like(shifted, reset_less=True)
        acc_q = Signal(acc_lay, reset_less=True)
        acc_sum = Signal(acc_lay)
        m.d.sync += [syn_q.eq(syn_mem.r_data), shifted_q.eq(shifted), acc_q.eq(acc_rd.data)]
        for lane in range(L):
            m.d.sync += shifted[lane].eq(syn_q[lane] << w_exp)
            m.d.comb += acc_sum[lane].eq(acc_q[lane] + shifted_q[lane])
        lane1 = n1[:lane_bits] if lane_bits else Const(0, 1)
        clear = rv1 & (lane1 == L - 1)
        with m.If(int_valid):
            m.d.comb += [acc_wr.addr.eq(int_addr), acc_wr.data.eq(acc_sum), acc_wr.en.eq(1)]
        with m.Elif(clear):
            m.d.comb += [acc_wr.addr.eq(slot_base + (n1 >> lane_bits)), acc_wr.data.eq(0),
                         acc_wr.en.eq(1)]
        with m.Elif(clearing):
            m.d.comb += [acc_wr.addr.eq(clr_ptr), acc_wr.data.eq(0), acc_wr.en.eq(1)]
            m.d.sync += clr_ptr.eq(clr_ptr + 1)
            with m.If(clr_ptr == p.max_delay * W - 1):
                m.d.sync += clearing.eq(0)

        # --- neuron update: datapath ------------------------------------------------------
        m.submodules.datapath = dp = datapath_for(p)
        # R0: memory outputs registered (the accumulator word is acc_q, shared with the
        # integration pipeline); R1: accumulator lane selected
        r0_valid, r0_tag = Signal(), Signal.like(n1)
        r0_state = Signal(st_lay, reset_less=True)
        r0_params = Signal(par_lay, reset_less=True)
        m.d.sync += [r0_valid.eq(rv1), r0_tag.eq(n1), r0_state.eq(st_rd.data),
                     r0_params.eq(par_rd.data)]
        acc_lanes = Array(acc_q[lane] for lane in range(L))
        lane0 = r0_tag[:lane_bits] if lane_bits else Const(0, 1)
        r1_valid, r1_tag = Signal(), Signal.like(n1)
        r1_state = Signal(st_lay, reset_less=True)
        r1_params = Signal(par_lay, reset_less=True)
        r1_acc = Signal(signed(p.acc_mem_bits), reset_less=True)
        m.d.sync += [r1_valid.eq(r0_valid), r1_tag.eq(r0_tag), r1_state.eq(r0_state),
                     r1_params.eq(r0_params), r1_acc.eq(acc_lanes[lane0])]
        # R2: the input sum saturated once to acc_bits
        r2_valid, r2_tag = Signal(), Signal.like(n1)
        r2_state = Signal(st_lay, reset_less=True)
        r2_params = Signal(par_lay, reset_less=True)
        r2_a_in = Signal(signed(p.acc_bits), reset_less=True)
        m.d.sync += [r2_valid.eq(r1_valid), r2_tag.eq(r1_tag), r2_state.eq(r1_state),
                     r2_params.eq(r1_params), r2_a_in.eq(sat_signed(r1_acc, p.acc_bits))]
        m.d.comb += [
            dp.i_valid.eq(r2_valid),
            dp.i_tag.eq(r2_tag),
            dp.i_state.eq(r2_state),
            dp.i_params.eq(r2_params),
            dp.i_a_in.eq(r2_a_in),
        ]

        # write-back: the datapath's result, or a configuration write
        with m.If(dp.o_valid):
            m.d.comb += [st_wr.addr.eq(dp.o_tag), st_wr.data.eq(dp.o_state), st_wr.en.eq(1)]
        with m.Else():
            m.d.comb += [st_wr.addr.eq(index), st_wr.data.eq(cmd.data),
                         st_wr.en.eq(cfg_wr & (region == Region.STATE))]

        m.submodules.spike_fifo = fifo = SyncFIFOBuffered(width=p.neuron_bits, depth=max(N, 2))
        m.d.comb += [
            fifo.w_data.eq(dp.o_tag),
            fifo.w_en.eq(dp.o_valid & dp.o_spike),
            self.spikes.valid.eq(fifo.r_rdy),
            self.spikes.payload.neuron.eq(fifo.r_data),
            fifo.r_en.eq(self.spikes.ready),
        ]
        with m.If(dp.o_valid & dp.o_spike):
            m.d.sync += spikes_now.eq(spikes_now + 1)
        if p.learning:
            m.d.comb += [eng.spike.eq(dp.o_valid & dp.o_spike), eng.spike_neuron.eq(dp.o_tag)]
        if p.trace_port:
            m.d.comb += [
                self.trace.valid.eq(dp.o_valid),
                self.trace.payload.neuron.eq(dp.o_tag),
                self.trace.payload.u.eq(dp.o_state.u if p.model == "cuba" else dp.o_state.i),
                self.trace.payload.v.eq(dp.o_state.v),
                self.trace.payload.spike.eq(dp.o_spike),
            ]
            if p.refractory_bits:
                m.d.comb += self.trace.payload.refr_cnt.eq(dp.o_state.refr_cnt)

        # --- step sequencing --------------------------------------------------------------
        last_out = Signal()
        m.d.comb += last_out.eq(dp.o_valid & (dp.o_tag == N - 1))
        busy = ev_busy | int_busy | int_valid | start_pending | updating | finishing
        with m.If(busy):
            m.d.sync += cycles.eq(cycles + 1)
        with m.If(self.start & self.idle):
            m.d.sync += start_pending.eq(1)
        if p.learning:
            learned = Signal()      # the STDP engine has finished this step
            m.d.comb += eng.begin.eq(start_pending & integrator_idle)
            m.d.sync += eng.learn.eq(last_out)
            with m.If(eng.done):
                m.d.sync += learned.eq(1)
        else:
            learned = Const(1)
        with m.If(start_pending & integrator_idle):
            m.d.sync += [start_pending.eq(0), updating.eq(1), n.eq(0),
                         last_events.eq(pending), pending.eq(0), spikes_now.eq(0)]
        with m.If(updating):
            m.d.sync += n.eq(n + 1)
            with m.If(n == N - 1):
                m.d.sync += [updating.eq(0), finishing.eq(1)]
        got_last = Signal()
        with m.If(last_out):
            m.d.sync += got_last.eq(1)
        m.d.comb += draining.eq(finishing & got_last & learned)
        with m.If(finishing & got_last & learned & (fifo.level == 0)):
            m.d.comb += self.done.eq(1)
            m.d.sync += [
                finishing.eq(0), got_last.eq(0),
                step_count.eq(step_count + 1),
                last_cycles.eq(cycles + 1), cycles.eq(0),
                last_spikes.eq(spikes_now),
                cur_slot.eq(Mux(cur_slot == p.max_delay - 1, 0, cur_slot + 1)),
            ]
            if p.learning:
                m.d.sync += learned.eq(0)

        # --- configuration: registers and read responses ----------------------------------
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
                    m.d.comb += reg_val.eq(eng.reg_rdata)
        rd_region = Signal(layouts.REGION_BITS)
        rd_ok = Signal()
        rd_reg = Signal(32)
        rd_fresh = Signal()         # clock 1 after a read command: the RAM output is valid
        rd_fresh2 = Signal()        # clock 2: its registered copy is valid
        resp = Signal(layouts.cfg_data_bits(p))
        resp_valid = Signal()
        if profile:
            pidx_q = Signal.like(pidx_rd.data, reset_less=True)
            m.d.sync += pidx_q.eq(pidx_rd.data)
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
                    with m.Case(Region.SYN):
                        m.d.sync += resp.eq(syn_q)
                    with m.Case(Region.PARAM):
                        m.d.sync += resp.eq(r0_params)
                    with m.Case(Region.STATE):
                        m.d.sync += resp.eq(r0_state)
                    if profile:
                        with m.Case(Region.PIDX):
                            m.d.sync += resp.eq(pidx_q)
                    if p.learning:
                        with m.Case(Region.XTRACE):
                            m.d.sync += resp.eq(eng.x_rdata)
                        with m.Case(Region.YTRACE):
                            m.d.sync += resp.eq(eng.y_rdata)
                    with m.Default():
                        m.d.sync += resp.eq(0)
        m.d.comb += [self.cfg_rdata.valid.eq(resp_valid), self.cfg_rdata.payload.eq(resp)]
        with m.If(resp_valid & self.cfg_rdata.ready):
            m.d.sync += [resp_valid.eq(0), rd_pending.eq(0)]
        return m
