"""The on-chip STDP engine of a core (SPEC §3.5), driven by the core's step sequence."""

from types import SimpleNamespace

from amaranth.hdl import Array, Const, Module, Mux, Signal, unsigned
from amaranth.lib import data, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from . import layouts
from .image import CoreImage
from .core_interfaces import Fired, Hit, LearnControl, RegionAccess, RegisterAccess, WeightRmw
from .pipeline import NO_RW_CHECK, delay_line


__all__ = ["StdpEngine"]


def _tdec(x, k):
    """tdec(x, k) = max(1, x >> k) if x > 0 else 0 (x unsigned)."""
    sh = x >> k
    return Mux(x == 0, 0, Mux(sh == 0, 1, sh))


class StdpEngine(wiring.Component):
    """Pre and post traces, LTD on pre spikes and LTP on post spikes, for one core.

    The core tells the engine what happens in a step; the engine owns the trace memories,
    the per-slot lists of hit axons, the list of neurons that fired, and the STDP registers.

    * While the core integrates, ``hits`` marks each accepted event (its axon and the slot
      it is integrated into); at most one per 3 clocks. Each axon is listed once per slot.
    * ``ctrl.begin`` (the neuron update of the step in ``ctrl.slot`` starts): the engine
      decays every pre trace (and adds the pre impulse to the axons hit in the slot), one
      axon per clock, and every post trace, one neuron per clock, concurrently with the
      update. Each pass also stores the step's per-axon LTP increment
      ``(a_plus * x) >> s_plus`` and per-neuron LTD decrement ``(a_minus * y) >> s_minus``,
      so LTD and LTP need no multiplier.
    * While the update runs, ``fired`` marks each neuron that fired.
    * ``ctrl.learn`` (the update is over): LTD over the row of every plastic hit axon
      (N/lanes clocks each), then, for every neuron that fired, LTP over its column of plastic
      axons (A clocks) and its post impulse. ``ctrl.done`` pulses at the end. With
      ``learn_en`` low the weights are left alone, and the traces still evolve.

    While ``syn.active`` is high the engine owns the synapse memory through its
    read-modify-write port. On a single-port synapse memory (``syn_memory =
    "ice40_spram"``) the row and column streams issue a read every other clock, and every
    write falls in a clock between two reads (half rate); on block RAM, one read per clock.

    Latency: ``ctrl.done`` comes after both trace passes (max(A, N) + 5 clocks from
    ``ctrl.begin``) and, from ``ctrl.learn``, a few clocks plus N/lanes + 3 per plastic hit
    axon and A + 7 per neuron that fired (fewer with ``learn_en`` low); with SPRAM,
    2 N/lanes + 4 per plastic hit axon and 2 A + 8 per neuron that fired. Register reads are
    combinational; ``xtrace`` / ``ytrace`` reads take 2 clocks.

    Parameters
    ----------
    image : CoreImage
        The core's image: initial traces, plastic bits and STDP registers.

    Members
    -------
    hits : In(Hit.Signature)
    fired : In(Fired.Signature)
    ctrl : In(LearnControl.Signature)
    syn : Out(WeightRmw.Signature)
        The read-modify-write port into the synapse memory.
    regs : In(RegisterAccess.Signature)
        The STDP registers (``Reg.LEARN_EN`` .. ``Reg.W_MAX``).
    xtrace, ytrace : In(RegionAccess.Signature)
        The ``XTRACE`` and ``YTRACE`` regions. While ``sel`` is high the register block owns
        the trace memories' addresses.
    """

    def __init__(self, image: CoreImage):
        p = self._p = image.params
        if not p.learning:
            raise ValueError("StdpEngine needs a core with params.learning")
        self._image = image
        # a single-port synapse memory: read-modify-write at half rate (see _issue_slots)
        self._half_rate = p.syn_memory == "ice40_spram"
        super().__init__({
            "hits": In(Hit.Signature(p)),
            "fired": In(Fired.Signature(p)),
            "ctrl": In(LearnControl.Signature(p)),
            "syn": Out(WeightRmw.Signature(p)),
            "regs": In(RegisterAccess.Signature(p)),
            "xtrace": In(RegionAccess.Signature(p, layouts.xtrace_layout(p))),
            "ytrace": In(RegionAccess.Signature(p, layouts.ytrace_layout(p))),
        })

    def elaborate(self, platform):
        m = Module()
        p = self._p
        # the engine's signals, shared by the parts below; the parts are elaborated in this
        # order (a later assignment to a signal takes priority over an earlier one)
        s = SimpleNamespace(lb=(p.lanes - 1).bit_length(), db=8 + p.trace_bits,
                            S=p.max_delay)
        s.lane_of = (lambda n: n[:s.lb]) if s.lb else (lambda n: Const(0, 1))
        s.regs = self._registers(m)
        self._memories(m, s)
        self._recording(m, s)
        self._trace_passes(m, s)
        self._rmw_pipeline(m, s)
        self._learn_fsm(m, s)
        self._trace_writes(m, s)
        self._config_reads(m, s)
        return m

    def _registers(self, m):
        """The STDP registers, written and read through ``regs``."""
        p, img = self._p, self._image
        regs = {}
        for name, reg in layouts.STDP_REGS.items():
            shape = layouts.reg_shape(p, reg)
            regs[name] = Signal(shape, name=f"r_{name}", init=int(img.stdp[name]))
        with m.If(self.regs.w_en):
            with m.Switch(self.regs.index):
                for name, reg in layouts.STDP_REGS.items():
                    with m.Case(reg):
                        m.d.sync += regs[name].eq(self.regs.w_data)
        with m.Switch(self.regs.index):
            for name, reg in layouts.STDP_REGS.items():
                with m.Case(reg):
                    m.d.comb += self.regs.r_data.eq(regs[name].as_unsigned()
                                                  if regs[name].shape().signed else regs[name])
        return regs

    def _memories(self, m, s):
        """The trace memories (with each step's LTP / LTD deltas), the per-slot hit bits and
        hit lists, the list of neurons that fired."""
        p, img = self._p, self._image
        A, N, W, L, S = p.axons, p.neurons, p.words_per_row, p.lanes, s.S
        tb, db = p.trace_bits, s.db
        s.x_lay = x_lay = data.StructLayout({"x": unsigned(tb), "plastic": unsigned(1),
                                             "dltp": unsigned(db)})
        s.y_elem = y_elem = data.StructLayout({"y": unsigned(tb), "dltd": unsigned(db)})
        s.y_lay = y_lay = data.ArrayLayout(y_elem, L)
        x_init = [x_lay.const({"x": int(x), "plastic": int(pl), "dltp": 0})
                  for x, pl in zip(img.x, img.plastic)]
        y_words = []
        for j in range(W):
            y_words.append(y_lay.const([{"y": int(img.y[j * L + l]), "dltd": 0}
                                        for l in range(L)]))
        # no memory is read in a clock that writes the same word, or the word read then is
        # not used (each pass reads a word before it writes it back, 2 to 5 clocks later)
        kw = {"attrs": NO_RW_CHECK}
        m.submodules.x_mem = x_mem = Memory(shape=x_lay, depth=A, init=x_init, **kw)
        m.submodules.y_mem = y_mem = Memory(shape=y_lay, depth=W, init=y_words, **kw)
        m.submodules.hit_bits = hit_bits = Memory(shape=1, depth=S * A, init=[], **kw)
        m.submodules.hit_list = hit_list = Memory(shape=unsigned(p.axon_bits), depth=S * A,
                                                  init=[], **kw)
        m.submodules.spike_list = spike_list = Memory(shape=unsigned(p.neuron_bits), depth=N,
                                                      init=[], **kw)
        s.x_rd, s.x_wr = x_mem.read_port(), x_mem.write_port()
        s.y_rd, s.y_wr = y_mem.read_port(), y_mem.write_port(granularity=1)
        s.hb_rd, s.hb_wr = hit_bits.read_port(), hit_bits.write_port()
        s.hl_rd, s.hl_wr = hit_list.read_port(), hit_list.write_port()
        s.sl_rd, s.sl_wr = spike_list.read_port(), spike_list.write_port()

    def _recording(self, m, s):
        """Recording hits (during integration) and spikes (during the update)."""
        p = self._p
        A, N = p.axons, p.neurons
        s.hit_count = Array(Signal(range(A + 1), name=f"hit_count_{i}") for i in range(s.S))
        s.h_pend = h_pend = Signal()
        s.h_axon = h_axon = Signal.like(self.hits.axon)
        s.h_slot = h_slot = Signal.like(self.hits.slot)
        s.h_base = Signal(range(s.S * A))
        m.d.comb += s.h_base.eq(self.hits.slot * A)
        with m.If(self.hits.valid):
            m.d.sync += [h_pend.eq(1), h_axon.eq(self.hits.axon), h_slot.eq(self.hits.slot)]
        with m.Else():
            m.d.sync += h_pend.eq(0)
        s.spike_count = spike_count = Signal(range(N + 1))
        with m.If(self.fired.valid):
            m.d.comb += [s.sl_wr.addr.eq(spike_count), s.sl_wr.data.eq(self.fired.neuron),
                         s.sl_wr.en.eq(1)]
            m.d.sync += spike_count.eq(spike_count + 1)

    def _trace_passes(self, m, s):
        """The pre-trace pass (one axon per clock) and the post-trace pass (one neuron per
        clock), started together by ``ctrl.begin``: each decays its traces and computes the
        step's LTP / LTD deltas (written back by :meth:`_trace_writes`)."""
        p, regs = self._p, s.regs
        A, N, L = p.axons, p.neurons, p.lanes
        tb, tmax = p.trace_bits, p.trace_max
        s.xp_run = xp_run = Signal()            # pre-trace pass issuing reads
        s.yp_run = yp_run = Signal()            # post-trace pass issuing reads
        s.xa = xa = Signal(range(A))
        s.yn = yn = Signal(range(N))
        s.cur_base = Signal(range(s.S * A))
        m.d.comb += s.cur_base.eq(self.ctrl.slot * A)
        with m.If(self.ctrl.begin):
            m.d.sync += [xp_run.eq(1), yp_run.eq(1), xa.eq(0), yn.eq(0)]
        with m.If(xp_run):
            m.d.sync += xa.eq(xa + 1)
            with m.If(xa == A - 1):
                m.d.sync += xp_run.eq(0)
        with m.If(yp_run):
            m.d.sync += yn.eq(yn + 1)
            with m.If(yn == N - 1):
                m.d.sync += yp_run.eq(0)

        # pre-trace pass pipeline: read (0) -> registered (1) -> decay+impulse (2)
        #                          -> product (3) -> write (4)
        s.xv, s.xaddr = xv, _ = delay_line(m, (xp_run, xa), 4, ("xv", "xaddr"))
        x_q = Signal(s.x_lay, reset_less=True)
        h_q = Signal(reset_less=True)
        m.d.sync += [x_q.eq(s.x_rd.data), h_q.eq(s.hb_rd.data)]
        x2 = Signal(unsigned(tb), reset_less=True)
        pl2 = Signal(reset_less=True)
        decayed = Signal(unsigned(tb + 1))
        m.d.comb += decayed.eq(x_q.x - _tdec(x_q.x, regs["k_pre"]))
        bumped = decayed + Mux(h_q, regs["imp_pre"], 0)
        m.d.sync += [x2.eq(Mux(bumped > tmax, tmax, bumped)), pl2.eq(x_q.plastic)]
        s.x3 = x3 = Signal(unsigned(tb), reset_less=True)
        s.pl3 = pl3 = Signal(reset_less=True)
        s.prod3 = prod3 = Signal(unsigned(8 + tb), reset_less=True)
        m.d.sync += [x3.eq(x2), pl3.eq(pl2), prod3.eq(regs["a_plus"] * x2)]

        # post-trace pass pipeline: read word (0) -> lane registered (1) -> decay (2)
        #                           -> product (3) -> write lane (4)
        s.yv, s.ytag = yv, ytag = delay_line(m, (yp_run, yn), 5, ("yv", "ytag"))
        # every RAM output is registered before use: the synapse word, the y word (LTD,
        # post pass, post impulse, read-back) and the x word (LTP)
        s.w_q = w_q = Signal(layouts.syn_word_layout(p), reset_less=True)
        s.yw_q = yw_q = Signal(s.y_lay, reset_less=True)
        s.xw_q = xw_q = Signal(s.x_lay, reset_less=True)
        m.d.sync += [w_q.eq(self.syn.rdata), yw_q.eq(s.y_rd.data), xw_q.eq(s.x_rd.data)]
        y_q = Signal(s.y_elem, reset_less=True)
        s.yw_lanes = yw_lanes = Array(yw_q[l] for l in range(L))  # lanes of the registered y word
        m.d.sync += y_q.eq(yw_lanes[s.lane_of(ytag[1])])
        y2 = Signal(unsigned(tb), reset_less=True)
        m.d.sync += y2.eq(y_q.y - _tdec(y_q.y, regs["k_post"]))
        s.y3 = y3 = Signal(unsigned(tb), reset_less=True)
        s.prod_y3 = prod_y3 = Signal(unsigned(8 + tb), reset_less=True)
        m.d.sync += [y3.eq(y2), prod_y3.eq(regs["a_minus"] * y2)]
        s.passes_busy = xp_run | yp_run | xv[0] | xv[1] | xv[2] | xv[3] | \
            yv[0] | yv[1] | yv[2] | yv[3] | yv[4]

    def _rmw_pipeline(self, m, s):
        """The synapse read-modify-write pipeline of LTD (rows) and LTP (columns).

        A read issued in clock c (``issue``, ``raddr``); RAM data registered (c+1, stage 0);
        new word computed from the registered words (c+2, stage 1); written (c+3, stage 2).
        """
        p, regs = self._p, s.regs
        L = p.lanes
        wmin, wmax = regs["w_min"], regs["w_max"]
        s.issue = issue = Signal()              # a synapse read is issued this clock
        s.issue_ltp = issue_ltp = Signal()
        s.raddr = raddr = Signal.like(self.syn.raddr)
        sv, sad = delay_line(m, (issue, raddr), 3, ("sv", "sad"))
        sltp, = delay_line(m, (issue_ltp,), 2, ("sltp",))     # LTP (not LTD), to stage 1
        s.rmw_busy = sv[0] | sv[1] | sv[2]
        new_w = Signal(layouts.syn_word_layout(p), reset_less=True)
        s.ltp_lane = ltp_lane = Signal(range(L), reset_less=True)
        for l in range(L):
            w = s.w_q[l]
            dec = w - s.yw_q[l].dltd
            inc = w + s.xw_q.dltp
            mine = ltp_lane == l
            sel = Mux(sltp[1], inc, dec)
            clamp = Mux(sel < wmin, wmin, Mux(sel > wmax, wmax, sel))
            touched = Mux(sltp[1], s.xw_q.plastic & mine, 1)
            m.d.sync += new_w[l].eq(Mux(touched, clamp, w))
        m.d.comb += [self.syn.waddr.eq(sad[2]), self.syn.wdata.eq(new_w),
                     self.syn.we.eq(sv[2]), self.syn.raddr.eq(raddr)]

        s.post_n = Signal(range(p.neurons))         # post impulse: neuron, pipeline
        s.pi_v0 = Signal(name="pi_v0")
        s.pi_v = [s.pi_v0] + delay_line(m, (s.pi_v0,), 3, ("pi_v",))[0]
        s.pi_q = Signal(s.y_elem, reset_less=True)
        m.d.sync += s.pi_q.eq(s.yw_lanes[s.lane_of(s.post_n)])

    def _learn_fsm(self, m, s):
        """The LTD / LTP sequencer: after ``ctrl.learn``, LTD over the row of each plastic hit
        axon, then LTP over the column of each neuron that fired and its post impulse."""
        p, regs = self._p, s.regs
        A, N, W, lb = p.axons, p.neurons, p.words_per_row, s.lb
        x_rd, y_rd, hl_rd, sl_rd = s.x_rd, s.y_rd, s.hl_rd, s.sl_rd
        issue, raddr, pi_v, post_n = s.issue, s.raddr, s.pi_v, s.post_n
        k = Signal(range(max(A, N) + 1))       # list position
        a_cur = Signal(range(A))
        n_cur = Signal(range(N))
        j = Signal(range(max(A, W)))           # word (LTD) or axon (LTP) counter
        go = self._issue_slots(m)
        with m.FSM(name="stdp") as fsm:
            with m.State("IDLE"):
                with m.If(self.ctrl.learn):
                    m.d.sync += k.eq(0)
                    m.next = "WAIT_PASSES"
            with m.State("WAIT_PASSES"):
                with m.If(~s.passes_busy):
                    m.next = "LTD_FETCH"
            # LTD: for each hit axon of the slot, if plastic (and learning), stream its row
            with m.State("LTD_FETCH"):
                with m.If((k == s.hit_count[self.ctrl.slot]) | ~regs["learn_en"]):
                    m.d.sync += k.eq(0)
                    m.next = "LTP_FETCH"
                with m.Else():
                    m.d.comb += hl_rd.addr.eq(s.cur_base + k)
                    m.next = "LTD_AXON"
            with m.State("LTD_AXON"):
                m.d.sync += a_cur.eq(hl_rd.data)
                m.next = "LTD_XREAD"
            with m.State("LTD_XREAD"):
                m.d.comb += x_rd.addr.eq(a_cur)
                m.next = "LTD_CHECK"
            with m.State("LTD_CHECK"):
                m.d.sync += [k.eq(k + 1), j.eq(0)]
                with m.If(x_rd.data.plastic):
                    m.next = "LTD_ROW"
                with m.Else():
                    m.next = "LTD_FETCH"
            with m.State("LTD_ROW"):
                with m.If(go):
                    m.d.comb += [issue.eq(1), raddr.eq(a_cur * W + j), y_rd.addr.eq(j)]
                    m.d.sync += j.eq(j + 1)
                    with m.If(j == W - 1):
                        m.next = "LTD_DRAIN"
            with m.State("LTD_DRAIN"):
                with m.If(~s.rmw_busy):
                    m.next = "LTD_FETCH"
            # LTP and post impulse: for each neuron that fired
            with m.State("LTP_FETCH"):
                with m.If(k == s.spike_count):
                    m.next = "FINISH"
                with m.Else():
                    m.d.comb += sl_rd.addr.eq(k)
                    m.next = "LTP_NEURON"
            with m.State("LTP_NEURON"):
                m.d.sync += [n_cur.eq(sl_rd.data), post_n.eq(sl_rd.data), j.eq(0),
                             k.eq(k + 1)]
                with m.If(regs["learn_en"]):
                    m.next = "LTP_COL"
                with m.Else():
                    m.next = "POST_READ"
            with m.State("LTP_COL"):
                with m.If(go):
                    m.d.comb += [issue.eq(1), s.issue_ltp.eq(1),
                                 raddr.eq(j * W + (n_cur >> lb)), x_rd.addr.eq(j)]
                    m.d.sync += j.eq(j + 1)
                    with m.If(j == A - 1):
                        m.next = "LTP_DRAIN"
            with m.State("LTP_DRAIN"):
                with m.If(~s.rmw_busy):
                    m.next = "POST_READ"
            with m.State("POST_READ"):
                m.d.comb += y_rd.addr.eq(post_n >> lb)
                m.d.sync += pi_v[0].eq(1)
                m.next = "POST_WAIT"
            with m.State("POST_WAIT"):
                m.d.sync += pi_v[0].eq(0)
                with m.If(pi_v[3]):
                    m.next = "LTP_FETCH"
            with m.State("FINISH"):
                m.d.comb += self.ctrl.done.eq(1)
                m.d.sync += [s.spike_count.eq(0), s.hit_count[self.ctrl.slot].eq(0)]
                m.next = "IDLE"
        m.d.comb += self.syn.active.eq(issue | s.rmw_busy)
        if self._half_rate:
            streaming = fsm.ongoing("LTD_ROW") | fsm.ongoing("LTP_COL")
            m.d.sync += go.eq(streaming & ~go)
        # LTP lane of the neuron, aligned with the pipeline's compute stage
        m.d.sync += s.ltp_lane.eq(s.lane_of(n_cur))

    def _issue_slots(self, m):
        """The clocks in which a row or column may issue a synapse read: every clock on a
        two-port memory (a constant 1); every other clock on a single-port SPRAM, so that
        each write (3 clocks after its read) falls in a clock without a read.

        The returned signal is low in the first clock of ``LTD_ROW`` / ``LTP_COL`` and then
        toggles (driven by :meth:`_learn_fsm`): reads in odd clocks of the state, writes in
        even ones."""
        if not self._half_rate:
            return Const(1, 1)
        return Signal(name="rmw_go")

    def _trace_writes(self, m, s):
        """The memory ports shared by the passes, the recording, the sequencer and the
        configuration port: x reads and writes, hit bits and lists, y reads and writes."""
        p, regs = self._p, s.regs
        A, L, tb, tmax = p.axons, p.lanes, p.trace_bits, p.trace_max
        x_rd, x_wr, hb_rd, hb_wr, hl_wr = s.x_rd, s.x_wr, s.hb_rd, s.hb_wr, s.hl_wr
        y_rd, y_wr, lane_of = s.y_rd, s.y_wr, s.lane_of
        xp_run, xa, xv, xaddr, cur_base = s.xp_run, s.xa, s.xv, s.xaddr, s.cur_base
        h_slot, hit_count, lb = s.h_slot, s.hit_count, s.lb
        # x_mem read: pre pass, LTD plastic check, LTP column, configuration
        with m.If(xp_run):
            m.d.comb += x_rd.addr.eq(xa)
        # hit bits: pre pass reads the slot's bits; recording reads then sets them
        with m.If(xp_run):
            m.d.comb += hb_rd.addr.eq(cur_base + xa)
        with m.Elif(self.hits.valid):
            m.d.comb += hb_rd.addr.eq(s.h_base + self.hits.axon)
        h_addr_q = Signal(range(s.S * A))
        m.d.sync += h_addr_q.eq(Mux(self.hits.valid, s.h_base + self.hits.axon, h_addr_q))
        with m.If(xv[3]):
            # write back the decayed trace; clear the slot's hit bit
            m.d.comb += [x_wr.addr.eq(xaddr[3]), x_wr.en.eq(1),
                         x_wr.data.x.eq(s.x3), x_wr.data.plastic.eq(s.pl3),
                         x_wr.data.dltp.eq(s.prod3 >> regs["s_plus"])]
        with m.Elif(self.xtrace.w_en):
            m.d.comb += [x_wr.addr.eq(self.xtrace.index), x_wr.en.eq(1),
                         x_wr.data.x.eq(self.xtrace.w_data[:tb]),
                         x_wr.data.plastic.eq(self.xtrace.w_data[tb])]
        with m.If(xv[1]):
            m.d.comb += [hb_wr.addr.eq(cur_base + xaddr[1]), hb_wr.data.eq(0), hb_wr.en.eq(1)]
        with m.Elif(s.h_pend & ~hb_rd.data):
            m.d.comb += [hb_wr.addr.eq(h_addr_q), hb_wr.data.eq(1), hb_wr.en.eq(1),
                         hl_wr.addr.eq(h_slot * A + hit_count[h_slot]),
                         hl_wr.data.eq(s.h_axon), hl_wr.en.eq(1)]
            m.d.sync += hit_count[h_slot].eq(hit_count[h_slot] + 1)

        # y_mem read: post pass, LTD row, post impulse, configuration
        with m.If(s.yp_run):
            m.d.comb += y_rd.addr.eq(s.yn >> lb)
        with m.If(s.yv[4]):
            m.d.comb += [y_wr.addr.eq(s.ytag[4] >> lb), y_wr.en.eq(1 << lane_of(s.ytag[4]))]
            for l in range(L):
                m.d.comb += [y_wr.data[l].y.eq(s.y3),
                             y_wr.data[l].dltd.eq(s.prod_y3 >> regs["s_minus"])]
        with m.Elif(s.pi_v[2]):
            bumped_y = s.pi_q.y + regs["imp_post"]
            for l in range(L):
                m.d.comb += [y_wr.data[l].y.eq(Mux(bumped_y > tmax, tmax, bumped_y)),
                             y_wr.data[l].dltd.eq(s.pi_q.dltd)]
            m.d.comb += [y_wr.addr.eq(s.post_n >> lb), y_wr.en.eq(1 << lane_of(s.post_n))]
        with m.Elif(self.ytrace.w_en):
            for l in range(L):
                m.d.comb += [y_wr.data[l].y.eq(self.ytrace.w_data[:tb]),
                             y_wr.data[l].dltd.eq(0)]
            m.d.comb += [y_wr.addr.eq(self.ytrace.index >> lb),
                         y_wr.en.eq(1 << lane_of(self.ytrace.index))]

    def _config_reads(self, m, s):
        """Configuration reads of ``xtrace`` / ``ytrace``: while ``sel`` is high the address
        lines belong to the configuration port; data 2 clocks later."""
        p, L, lb = self._p, self._p.lanes, s.lb
        cfg_lane = Signal(range(L))
        cfg_lane_q = Signal(range(L))
        m.d.comb += cfg_lane.eq(s.lane_of(self.ytrace.index))
        with m.If(self.xtrace.sel):
            m.d.comb += s.x_rd.addr.eq(self.xtrace.index)
        with m.If(self.ytrace.sel):
            m.d.comb += s.y_rd.addr.eq(self.ytrace.index >> lb)
        cfg_lane_q2 = Signal(range(L))
        m.d.sync += [cfg_lane_q.eq(cfg_lane), cfg_lane_q2.eq(cfg_lane_q)]
        xr = Signal(layouts.xtrace_layout(p), reset_less=True)
        m.d.sync += [xr.x.eq(s.x_rd.data.x), xr.plastic.eq(s.x_rd.data.plastic)]
        m.d.comb += [self.xtrace.r_data.eq(xr),
                     self.ytrace.r_data.y.eq(s.yw_lanes[cfg_lane_q2].y)]
