"""Neuron update datapaths: one neuron per clock, fully pipelined, fixed latency.

Each datapath takes a neuron's state, its parameters and its saturated synaptic input, and
``LATENCY`` clocks later gives its new state and spike bit. There is no back-pressure: the
core that feeds a datapath never stalls it. ``tag`` (the neuron index) travels alongside.
"""

from amaranth.hdl import Module, Mux, Signal, signed
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from .layouts import param_layout, state_layout
from .params import CoreParams, V_MAX


__all__ = ["CubaDatapath", "ShiftDatapath", "DATAPATHS", "datapath_for"]


def _sat(x, lo, hi):
    return Mux(x > hi, hi, Mux(x < lo, lo, x))


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
        The neuron's synaptic input for this step, already saturated to ``acc_bits``.
    o_valid : Out(1)
        ``LATENCY`` clocks after ``i_valid``: the updated neuron.
    o_tag : Out(neuron_bits)
    o_state : Out(state_layout)
    o_spike : Out(1)
    """
    LATENCY = None

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
        valid, tag = self.i_valid, self.i_tag
        for k in range(stages):
            v, t = Signal(name=f"valid_{k}"), Signal.like(self.i_tag, name=f"tag_{k}")
            m.d.sync += [v.eq(valid), t.eq(tag)]
            valid, tag = v, t
        m.d.comb += [self.o_valid.eq(valid), self.o_tag.eq(tag)]


class CubaDatapath(_Datapath):
    """The ``cuba`` update of SPEC §3.3 with the refractory, subtractive-reset and v-floor
    extensions (each generated only when its ``CoreParams`` flag asks for it).

    Latency: 7 clocks.
    """
    LATENCY = 7

    def elaborate(self, platform):
        m = Module()
        p = self._p
        st, pr = self.i_state, self.i_params
        self._carry(m, self.LATENCY)

        def stage(name, shape, value, domain="sync"):
            s = Signal(shape, name=name)
            m.d.sync += s.eq(value)
            return s

        def delay(sig, n, name):
            for k in range(n):
                sig = stage(f"{name}_d{k}", sig.shape(), sig)
            return sig

        # stage 1: multiplies (DSP friendly: registered operands, registered product)
        pu1 = stage("pu1", signed(38), st.u * (4095 - pr.du))
        pv1 = stage("pv1", signed(38), st.v * (4096 - pr.dv))
        bias1 = stage("bias1", signed(21), pr.bias_mant << pr.bias_exp)
        ain1 = stage("ain1", signed(p.acc_bits + 6), self.i_a_in << 6)
        # stage 2: products registered again (partial-product adders get a whole clock)
        pu2 = stage("pu2", signed(38), pu1)
        pv2 = stage("pv2", signed(38), pv1)
        bias2 = stage("bias2", signed(21), bias1)
        ain2 = stage("ain2", signed(p.acc_bits + 6), ain1)
        # stage 3: truncation toward zero: (x + 4095) >> 12 for negative x
        tu3 = stage("tu3", signed(26), (pu2 + Mux(pu2 < 0, 4095, 0)) >> 12)
        tv3 = stage("tv3", signed(26), (pv2 + Mux(pv2 < 0, 4095, 0)) >> 12)
        bias3 = stage("bias3", signed(21), bias2)
        ain3 = stage("ain3", signed(p.acc_bits + 6), ain2)
        # stage 4: new u (a 24-bit signal: assignment wraps), partial v
        u4 = stage("u4", signed(24), tu3 + ain3)
        vb4 = stage("vb4", signed(27), tv3 + bias3)
        # stage 5: v' before clamping
        u5 = stage("u5", signed(24), u4)
        vs5 = stage("vs5", signed(28), vb4 + u4)
        # stage 6: clamp to +-V_MAX, then the optional floor
        vc = _sat(vs5, -V_MAX, V_MAX)
        if p.v_floor:
            floor = delay(pr.v_floor, 5, "floor")
            vc = Mux(vc < floor, floor, vc)
        u6 = stage("u6", signed(24), u5)
        v6 = stage("v6", signed(25), vc)
        # stage 7: threshold, reset, refractory
        thr = delay(pr.vth, 6, "vth") << 6
        fire = v6 > thr
        if p.refractory_bits:
            cnt = delay(st.refr_cnt, 6, "refr_cnt")
            period = delay(pr.refr, 6, "refr")
            in_refr = cnt != 0
            fire = fire & ~in_refr
        if p.subtractive_reset:
            reset_v = Mux(delay(pr.reset_sub, 6, "reset_sub"), v6 - thr, 0)
        else:
            reset_v = 0
        v_next = Mux(fire, reset_v, v6)
        if p.refractory_bits:
            v_next = Mux(in_refr, 0, v_next)
            m.d.sync += self.o_state.refr_cnt.eq(Mux(in_refr, cnt - 1, Mux(fire, period, 0)))
        m.d.sync += [
            self.o_state.u.eq(u6),
            self.o_state.v.eq(v_next),
            self.o_spike.eq(fire),
        ]
        return m


class ShiftDatapath(_Datapath):
    """The multiplier-free ``shift`` update of SPEC §3.4.

    Latency: 6 clocks.
    """
    LATENCY = 6

    def elaborate(self, platform):
        m = Module()
        st, pr = self.i_state, self.i_params
        self._carry(m, self.LATENCY)

        def stage(name, shape, value):
            s = Signal(shape, name=name)
            m.d.sync += s.eq(value)
            return s

        def delay(sig, n, name):
            for k in range(n):
                sig = stage(f"{name}_d{k}", sig.shape(), sig)
            return sig

        def decay(x, k):
            sh = x >> k
            return Mux(sh != 0, sh, Mux(x < 0, -1, Mux(x > 0, 1, 0)))

        lo, hi = -32768, 32767
        # stage 1: this step's input first; the membrane's decay does not depend on it
        i1 = stage("i1", signed(16), _sat(st.i + self.i_a_in, lo, hi))
        dm1 = stage("dm1", signed(16), decay(st.v, pr.dash_mem))
        # stage 2: synaptic decay
        i2 = stage("i2", signed(17), i1 - decay(i1, delay(pr.dash_syn, 1, "dash_syn")))
        dm2 = stage("dm2", signed(16), dm1)
        # stage 3: dv = sat16(-decay(v) + i)
        dv3 = stage("dv3", signed(16), _sat(i2 - dm2, lo, hi))
        i3 = stage("i3", signed(16), i2)
        # stage 4: dv = sat16(dv + bias)
        dv4 = stage("dv4", signed(16), _sat(dv3 + delay(pr.bias, 3, "bias"), lo, hi))
        i4 = stage("i4", signed(16), i3)
        # stage 5: v = sat16(v + dv)
        v5 = stage("v5", signed(16), _sat(delay(st.v, 4, "v") + dv4, lo, hi))
        i5 = stage("i5", signed(16), i4)
        # stage 6: spike on v >= th, reset by subtraction
        th = delay(pr.th, 5, "th")
        fire = v5 >= th
        m.d.sync += [
            self.o_state.i.eq(i5),
            self.o_state.v.eq(Mux(fire, v5 - th, v5)),
            self.o_spike.eq(fire),
        ]
        return m


#: The datapath class of each neuron model.
DATAPATHS = {"cuba": CubaDatapath, "shift": ShiftDatapath}


def datapath_for(params: CoreParams):
    return DATAPATHS[params.model](params)
