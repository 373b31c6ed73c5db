"""Neuron update datapaths: one neuron per clock, fully pipelined, fixed latency.

Each datapath takes a neuron's state, its parameters and its saturated synaptic input, and
``LATENCY`` clocks later gives its new state and spike bit. There is no back-pressure: the
core that feeds a datapath never stalls it. ``tag`` (the neuron index) travels alongside.
"""

from amaranth.hdl import Module, Mux, Signal, signed, unsigned
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from .layouts import param_layout, state_layout
from .params import CoreParams, V_MAX
from .pipeline import delay_line


__all__ = ["CubaDatapath", "ShiftDatapath", "DATAPATHS", "datapath_for", "sat_signed"]


def sat_signed(x, width):
    """Saturate ``x`` to a signed ``width``-bit value.

    Overflow is found from the bits above the sign bit (all equal to it, or not): a few LUT
    levels, no carry chain.
    """
    x = x.as_signed()
    if len(x) <= width:
        return x
    top = x[width - 1:]
    fits = (top == 0) | (top == (1 << len(top)) - 1)
    lo, hi = -(1 << (width - 1)), (1 << (width - 1)) - 1
    return Mux(fits, x[:width].as_signed(), Mux(x[-1], lo, hi))


class _Datapath(wiring.Component):
    """Common ports of a neuron datapath.

    Members
    -------
    i_valid : In(1)
        ``i_*`` carry a neuron to update this clock.
    i_tag : In(neuron_bits)
    i_state : In(state_layout)
    i_params : In(param_layout)
    i_a_in : In(signed(acc_bits))
        The neuron's synaptic input for this step, already saturated to ``acc_bits``; given
        ``A_IN_STAGE`` clocks after ``i_valid``.
    o_valid : Out(1)
        ``LATENCY`` clocks after ``i_valid``: the updated neuron.
    o_tag : Out(neuron_bits)
    o_state : Out(state_layout)
    o_spike : Out(1)
    """
    LATENCY = None
    #: clock (after ``i_valid``) in which ``i_a_in`` is given
    A_IN_STAGE = 0

    def __init__(self, params: CoreParams):
        self._p = params
        super().__init__({
            "i_valid": In(1),
            "i_tag": In(params.neuron_bits),
            "i_state": In(state_layout(params)),
            "i_params": In(param_layout(params)),
            "i_a_in": In(signed(params.acc_bits)),
            "o_valid": Out(1),
            "o_tag": Out(params.neuron_bits),
            "o_state": Out(state_layout(params)),
            "o_spike": Out(1),
        })

    def _carry(self, m, stages):
        """Delay ``i_valid`` and ``i_tag`` by ``stages`` clocks onto the outputs."""
        valid, tag = delay_line(m, (self.i_valid, self.i_tag), stages, ("valid", "tag"))
        m.d.comb += [self.o_valid.eq(valid[-1]), self.o_tag.eq(tag[-1])]


class _Stages:
    """Helpers that add registered pipeline stages to a module."""

    def __init__(self, m):
        self.m = m

    def stage(self, name, shape, value):
        s = Signal(shape, name=name, reset_less=True)
        self.m.d.sync += s.eq(value)
        return s

    def delay(self, sig, n, name):
        return delay_line(self.m, (sig,), n, (f"{name}_d",), reset_less=True)[0][-1]


class CubaDatapath(_Datapath):
    """The ``cuba`` update of SPEC §3.3 with the refractory, subtractive-reset and v-floor
    extensions (each generated only when its ``CoreParams`` flag asks for it).

    Each 24 x 13-bit multiply is split into two 12 x 13-bit partial products (one DSP block
    each on iCE40 and ECP5), truncated and summed in the next stage. Latency: 6 clocks. The
    input is taken in clock 3, where it is used (``A_IN_STAGE``).
    """
    LATENCY = 6
    A_IN_STAGE = 3

    def elaborate(self, platform):
        m = Module()
        p = self._p
        st, pr = self.i_state, self.i_params
        self._carry(m, self.LATENCY)
        S = _Stages(m)
        stage, delay = S.stage, S.delay

        # stage 1: decay factors; operands registered for the DSPs
        fu1 = stage("fu1", unsigned(13), 4095 - pr.du)
        fv1 = stage("fv1", unsigned(13), 4096 - pr.dv)
        u1 = stage("u1", signed(24), st.u)
        v1 = stage("v1", signed(24), st.v)
        # stage 2: partial products x = xh * 2^12 + xl (xh signed, xl unsigned)
        puh2 = stage("puh2", signed(26), u1[12:].as_signed() * fu1)
        pul2 = stage("pul2", unsigned(25), u1[:12] * fu1)
        pvh2 = stage("pvh2", signed(26), v1[12:].as_signed() * fv1)
        pvl2 = stage("pvl2", unsigned(25), v1[:12] * fv1)

        # stage 3: truncation toward zero, (x + 4095) >> 12 for negative x: floor(x / 2^12) =
        # xh + (xl >> 12), plus 1 when x < 0 (exactly when xh < 0, as xl < 2^12 * factor)
        # and x is not a multiple of 2^12
        def trunc(h, l):
            return h + l[12:] + (h[-1] & (l[:12] != 0))
        tu3 = stage("tu3", signed(26), trunc(puh2, pul2))
        tv3 = stage("tv3", signed(26), trunc(pvh2, pvl2))
        # stage 4: new u (a 24-bit signal: the assignment wraps) with the scaled input (given
        # in this clock), partial v with the bias
        u4 = stage("u4", signed(24), tu3 + (self.i_a_in << 6))
        bias = delay(pr.bias_mant, 3, "bias_mant") << delay(pr.bias_exp, 3, "bias_exp")
        vb4 = stage("vb4", signed(27), tv3 + bias)
        # stage 5: v' = vb + u, clamped to +-V_MAX (24-bit saturation, then -2^23 -> -V_MAX),
        # optional floor
        vsat = sat_signed(vb4 + u4, 24)
        vc = Mux(vsat == -(1 << 23), -V_MAX, vsat)
        if p.v_floor:
            floor = delay(pr.v_floor, 4, "floor")
            vc = Mux(vc < floor, floor, vc)
        u5 = stage("u5", signed(24), u4)
        v5 = stage("v5", signed(25), vc)
        # stage 6: threshold, reset, refractory
        thr = delay(pr.vth, 5, "vth") << 6
        fire = v5 > thr
        if p.refractory_bits:
            cnt = delay(st.refr_cnt, 5, "refr_cnt")
            period = delay(pr.refr, 5, "refr")
            in_refr = cnt != 0
            fire = fire & ~in_refr
        if p.subtractive_reset:
            reset_v = Mux(delay(pr.reset_sub, 5, "reset_sub"), v5 - thr, 0)
        else:
            reset_v = 0
        v_next = Mux(fire, reset_v, v5)
        if p.refractory_bits:
            v_next = Mux(in_refr, 0, v_next)
            m.d.sync += self.o_state.refr_cnt.eq(Mux(in_refr, cnt - 1, Mux(fire, period, 0)))
        m.d.sync += [
            self.o_state.u.eq(u5),
            self.o_state.v.eq(v_next),
            self.o_spike.eq(fire),
        ]
        return m


class ShiftDatapath(_Datapath):
    """The multiplier-free ``shift`` update of SPEC §3.4.

    Barrel shifts, the decay's never-less-than-one fix-up, and each saturating add have a
    stage of their own. Latency: 7 clocks.
    """
    LATENCY = 7

    def elaborate(self, platform):
        m = Module()
        st, pr = self.i_state, self.i_params
        self._carry(m, self.LATENCY)
        S = _Stages(m)
        stage, delay = S.stage, S.delay

        def fix_decay(shifted, x):
            # decay(x, k) = x >> k, or sign(x) when that is 0
            return Mux(shifted != 0, shifted, Mux(x[-1], -1, Mux(x != 0, 1, 0)))

        # stage 1: this step's input first; shift of v for the membrane decay
        i1 = stage("i1", signed(16), sat_signed(st.i + self.i_a_in, 16))
        v1 = stage("v1", signed(16), st.v)
        vsh1 = stage("vsh1", signed(16), st.v >> pr.dash_mem)
        # stage 2: shift of i for the synaptic decay; membrane decay completed
        ish2 = stage("ish2", signed(16), i1 >> delay(pr.dash_syn, 1, "dash_syn"))
        i2 = stage("i2", signed(16), i1)
        dm2 = stage("dm2", signed(16), fix_decay(vsh1, v1))
        # stage 3: i = i - decay(i) (never leaves 16 bits)
        i3 = stage("i3", signed(16), i2 - fix_decay(ish2, i2))
        dm3 = stage("dm3", signed(16), dm2)
        # stage 4: dv = sat16(-decay(v) + i)
        dv4 = stage("dv4", signed(16), sat_signed(i3 - dm3, 16))
        i4 = stage("i4", signed(16), i3)
        # stage 5: dv = sat16(dv + bias)
        dv5 = stage("dv5", signed(16), sat_signed(dv4 + delay(pr.bias, 4, "bias"), 16))
        i5 = stage("i5", signed(16), i4)
        # stage 6: v = sat16(v + dv)
        v6 = stage("v6", signed(16), sat_signed(delay(v1, 4, "v") + dv5, 16))
        i6 = stage("i6", signed(16), i5)
        # stage 7: spike on v >= th, reset by subtraction
        th = delay(pr.th, 6, "th")
        fire = v6 >= th
        m.d.sync += [
            self.o_state.i.eq(i6),
            self.o_state.v.eq(Mux(fire, v6 - th, v6)),
            self.o_spike.eq(fire),
        ]
        return m


#: The datapath class of each neuron model.
DATAPATHS = {"cuba": CubaDatapath, "shift": ShiftDatapath}


def datapath_for(params: CoreParams):
    return DATAPATHS[params.model](params)
