"""The neuron-update unit of a core: state and parameter memories around the datapath."""

from amaranth.hdl import Module, Mux, Signal, unsigned
from amaranth.lib import stream, wiring
from amaranth.lib.fifo import SyncFIFOBuffered
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from . import layouts
from .core_interfaces import Fired, InputRead, RegionAccess, UpdateControl
from .image import CoreImage
from .neuron import datapath_for
from .pipeline import NO_RW_CHECK, delay_line


__all__ = ["NeuronUpdate"]


class NeuronUpdate(wiring.Component):
    """Updates the neurons of a core, one per clock (SPEC §3.3), and queues their spikes.

    For each neuron the sequencer issues (``ctrl.en``, ``ctrl.neuron``) the unit reads its
    state, its parameters (through its profile index, with ``param_mode = "profile"``) and
    its synaptic input (through ``a_in``), runs the datapath of the neuron model
    (:mod:`.neuron`), writes the new state back, queues the neuron on ``spikes`` if it fired
    and reports it on ``fired`` and ``trace``.

    Latency: a neuron issued in clock ``t`` is written back in clock ``t + 4 +
    datapath.LATENCY`` (one clock more with profiles), when ``fired`` and ``trace`` show it;
    ``ctrl.last`` marks the write-back of neuron N - 1. The ``cfg_*`` ports read with a
    latency of 2 clocks.

    Parameters
    ----------
    image : CoreImage
        The core's image (state, parameter and profile-index memory contents).

    Members
    -------
    ctrl : In(UpdateControl.Signature)
    a_in : Out(InputRead.Signature)
        Reads the synaptic input of each neuron issued.
    spikes : Out(stream.Signature(spike_event_layout))
        The queue of neurons that fired (as deep as the core has neurons).
    fired : Out(Fired.Signature)
    trace : Out(trace signature)
        Only with ``params.trace_port``: one record per neuron updated.
    cfg_param, cfg_state : In(RegionAccess.Signature)
        The register block's access to the ``PARAM`` and ``STATE`` regions.
    cfg_pidx : In(RegionAccess.Signature)
        Only with ``param_mode = "profile"``: the ``PIDX`` region.
    """

    def __init__(self, image: CoreImage):
        if not isinstance(image, CoreImage):
            raise TypeError(f"image must be a CoreImage, not {type(image).__name__}")
        self._image = image
        p = self._p = image.params
        members = {
            "ctrl": In(UpdateControl.Signature(p)),
            "a_in": Out(InputRead.Signature(p)),
            "spikes": Out(stream.Signature(layouts.spike_event_layout(p))),
            "fired": Out(Fired.Signature(p)),
            "cfg_param": In(RegionAccess.Signature(p, layouts.param_layout(p))),
            "cfg_state": In(RegionAccess.Signature(p, layouts.state_layout(p))),
        }
        if p.param_mode == "profile":
            members["cfg_pidx"] = In(RegionAccess.Signature(p, unsigned(p.profile_bits)))
        if p.trace_port:
            members["trace"] = Out(wiring.Signature({
                "valid": Out(1),
                "payload": Out(layouts.trace_layout(p)),
            }))
        super().__init__(members)

    def elaborate(self, platform):
        m = Module()
        p, img = self._p, self._image
        N = p.neurons
        par_lay, st_lay = layouts.param_layout(p), layouts.state_layout(p)
        m.submodules.par_mem = par_mem = Memory(
            shape=par_lay, depth=p.param_rows,
            init=[par_lay.from_bits(w) for w in img.param_words()], attrs=NO_RW_CHECK)
        m.submodules.st_mem = st_mem = Memory(
            shape=st_lay, depth=N, init=[st_lay.from_bits(w) for w in img.state_words()],
            attrs=NO_RW_CHECK)
        par_rd, par_wr = par_mem.read_port(), par_mem.write_port()
        st_rd, st_wr = st_mem.read_port(), st_mem.write_port()
        m.submodules.datapath = dp = datapath_for(p)

        # read stage: rv0 issues neuron n0 (clock 0); its state and parameters are read in
        # clock 2 and registered in clock 4, when the datapath takes them; its synaptic input
        # is asked for in clock dp.A_IN_STAGE, so that it comes (InputRead.LATENCY clocks
        # later) in the datapath's clock that uses it. Nothing waits in registers.
        rv0, n0 = Signal(), Signal(range(N))
        lat = InputRead.LATENCY
        valid, tag = delay_line(m, (rv0, n0), lat, ("r_valid", "r_tag"))
        assert 0 <= dp.A_IN_STAGE <= lat
        ask = [(rv0, n0)] + list(zip(valid, tag))
        m.d.comb += [self.a_in.en.eq(ask[dp.A_IN_STAGE][0]),
                     self.a_in.neuron.eq(ask[dp.A_IN_STAGE][1]), st_rd.addr.eq(tag[lat - 3])]
        profile = p.param_mode == "profile"
        if profile:
            # one more clock (the sequencer's neuron is registered first); the profile index
            # is read in clock lat - 3, ready for the parameter read
            m.submodules.pidx_mem = pidx_mem = Memory(shape=unsigned(p.profile_bits),
                                                      depth=N, init=img.pidx_words(),
                                                      attrs=NO_RW_CHECK)
            pidx_rd, pidx_wr = pidx_mem.read_port(), pidx_mem.write_port()
            m.d.sync += [rv0.eq(self.ctrl.en), n0.eq(self.ctrl.neuron)]
            m.d.comb += [pidx_rd.addr.eq(ask[lat - 3][1]), par_rd.addr.eq(pidx_rd.data)]
        else:
            m.d.comb += [rv0.eq(self.ctrl.en), n0.eq(self.ctrl.neuron),
                         par_rd.addr.eq(tag[lat - 3])]
        # the register block owns the address lines when it selects a region (the core is
        # idle then: nothing else reads)
        with m.If(self.cfg_state.sel):
            m.d.comb += [par_rd.addr.eq(self.cfg_param.index), st_rd.addr.eq(self.cfg_state.index)]
            if profile:
                m.d.comb += pidx_rd.addr.eq(self.cfg_pidx.index)
        m.d.comb += [par_wr.addr.eq(self.cfg_param.index), par_wr.data.eq(self.cfg_param.w_data),
                     par_wr.en.eq(self.cfg_param.w_en)]
        if profile:
            pidx_q = Signal.like(pidx_rd.data, reset_less=True)
            m.d.sync += pidx_q.eq(pidx_rd.data)
            m.d.comb += [pidx_wr.addr.eq(self.cfg_pidx.index),
                         pidx_wr.data.eq(self.cfg_pidx.w_data),
                         pidx_wr.en.eq(self.cfg_pidx.w_en), self.cfg_pidx.r_data.eq(pidx_q)]

        # the reads are registered once (the read-back's data, the datapath's input)
        state = Signal(st_lay, reset_less=True)
        params = Signal(par_lay, reset_less=True)
        m.d.sync += [state.eq(st_rd.data), params.eq(par_rd.data)]
        m.d.comb += [self.cfg_state.r_data.eq(state), self.cfg_param.r_data.eq(params)]
        m.d.comb += [dp.i_valid.eq(valid[-1]), dp.i_tag.eq(tag[-1]), dp.i_state.eq(state),
                     dp.i_params.eq(params), dp.i_a_in.eq(self.a_in.a_in)]

        # the neuron written back: the sequencer issues every neuron once per step, in order,
        # so a counter stands for the datapath's tag (no register chain along the pipeline)
        out_n = Signal(range(N))
        with m.If(dp.o_valid):
            m.d.sync += out_n.eq(Mux(out_n == N - 1, 0, out_n + 1))

        # write-back: the datapath's result, or a configuration write
        with m.If(dp.o_valid):
            m.d.comb += [st_wr.addr.eq(out_n), st_wr.data.eq(dp.o_state), st_wr.en.eq(1)]
        with m.Else():
            m.d.comb += [st_wr.addr.eq(self.cfg_state.index),
                         st_wr.data.eq(self.cfg_state.w_data),
                         st_wr.en.eq(self.cfg_state.w_en)]
        m.d.comb += [self.ctrl.last.eq(dp.o_valid & (out_n == N - 1)),
                     self.fired.valid.eq(dp.o_valid & dp.o_spike),
                     self.fired.neuron.eq(out_n)]

        m.submodules.spike_fifo = fifo = SyncFIFOBuffered(width=p.neuron_bits, depth=max(N, 2))
        m.d.comb += [
            fifo.w_data.eq(out_n),
            fifo.w_en.eq(dp.o_valid & dp.o_spike),
            self.spikes.valid.eq(fifo.r_rdy),
            self.spikes.payload.neuron.eq(fifo.r_data),
            fifo.r_en.eq(self.spikes.ready),
            self.ctrl.spikes_empty.eq(fifo.level == 0),
        ]
        if p.trace_port:
            m.d.comb += [
                self.trace.valid.eq(dp.o_valid),
                self.trace.payload.neuron.eq(out_n),
                self.trace.payload.u.eq(dp.o_state.u if p.model == "cuba" else dp.o_state.i),
                self.trace.payload.v.eq(dp.o_state.v),
                self.trace.payload.spike.eq(dp.o_spike),
            ]
            if p.refractory_bits:
                m.d.comb += self.trace.payload.refr_cnt.eq(dp.o_state.refr_cnt)
        return m
