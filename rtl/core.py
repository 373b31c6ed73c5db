"""The neuron core: N neurons time-multiplexed over memories, A input axons, dense synapses."""

from amaranth.hdl import Module, Mux, Signal, unsigned
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from . import layouts
from .analog_input import AnalogSynapticInput
from .core_config import CoreConfig
from .core_interfaces import CrossbarPort
from .image import CoreImage
from .neuron_update import NeuronUpdate
from .params import ParamError
from .stdp import StdpEngine
from .synaptic_input import SynapticInput


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

    The core is a composition of units joined by the interfaces of
    :mod:`~spikefab.rtl.core_interfaces`: :class:`~.synaptic_input.SynapticInput` (synapse
    memory, integration, accumulator), :class:`~.neuron_update.NeuronUpdate` (state and
    parameter memories, datapath, spike queue), :class:`~.core_config.CoreConfig` (command
    decode, registers, read-back) and, with ``learning``, :class:`~.stdp.StdpEngine`; the
    core itself runs the step sequence (an FSM, see docs/architecture.md).

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
    xbar : Out(CrossbarPort.Signature)
        Only with ``params.synapses == "crossbar"``: the analog synapse port (SPEC §3.7,
        :class:`~.core_interfaces.CrossbarPort`). Such a core has
        :class:`~.analog_input.AnalogSynapticInput` in place of the digital unit; the other
        units are the same.
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
        if p.synapses == "crossbar":
            members["xbar"] = Out(CrossbarPort.Signature(p))
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
        if p.synapses == "crossbar":
            m.submodules.synaptic_input = syn = AnalogSynapticInput(img)
            wiring.connect(m, synaptic_input=syn.xbar, xbar=wiring.flipped(self.xbar))
        else:
            m.submodules.synaptic_input = syn = SynapticInput(img)
        m.submodules.neuron_update = upd = NeuronUpdate(img)
        m.submodules.config = cfg = CoreConfig(img)

        # --- data paths between the units ----------------------------------------------------
        wiring.connect(m, events=wiring.flipped(self.events), synaptic_input=syn.events)
        wiring.connect(m, neuron_update=upd.spikes, spikes=wiring.flipped(self.spikes))
        wiring.connect(m, cmd=wiring.flipped(self.cfg), config=cfg.cmd)
        wiring.connect(m, config=cfg.rdata, cfg_rdata=wiring.flipped(self.cfg_rdata))
        wiring.connect(m, reader=upd.a_in, synaptic_input=syn.a_in)
        wiring.connect(m, config=cfg.syn, synaptic_input=syn.cfg)
        wiring.connect(m, config=cfg.param, neuron_update=upd.cfg_param)
        wiring.connect(m, config=cfg.state, neuron_update=upd.cfg_state)
        if p.param_mode == "profile":
            wiring.connect(m, config=cfg.pidx, neuron_update=upd.cfg_pidx)
        m.d.comb += syn.w_exp.eq(cfg.w_exp)
        if p.trace_port:
            wiring.connect(m, neuron_update=upd.trace, trace=wiring.flipped(self.trace))
        learn = None
        if p.learning:
            m.submodules.stdp = eng = StdpEngine(img)
            wiring.connect(m, stdp=eng.syn, synaptic_input=syn.rmw)
            wiring.connect(m, synaptic_input=syn.hits, stdp=eng.hits)
            wiring.connect(m, neuron_update=upd.fired, stdp=eng.fired)
            wiring.connect(m, config=cfg.stdp_regs, stdp=eng.regs)
            wiring.connect(m, config=cfg.xtrace, stdp=eng.xtrace)
            wiring.connect(m, config=cfg.ytrace, stdp=eng.ytrace)
            learn = eng.ctrl

        self._sequence(m, syn.step, upd.ctrl, learn, cfg.activity)
        m.d.comb += [cfg.activity.event.eq(syn.accepted),
                     cfg.activity.event_good.eq(syn.accepted_good),
                     cfg.activity.spike.eq(upd.fired.valid)]
        return m

    def _sequence(self, m, step, update, learn, activity):
        """The step sequencer: an FSM over the phases of a step, driving the units.

        ``step``, ``update``, ``learn`` (``None`` without learning) and ``activity`` are the
        target sides of the units' :class:`StepControl`, :class:`UpdateControl`,
        :class:`LearnControl` and :class:`CoreActivity` interfaces.
        """
        p = self._p
        N = p.neurons
        slot = Signal(range(p.max_delay))       # the delay slot of the next step
        n = Signal(range(N))                    # the neuron issued in UPDATE
        integrator_idle = ~step.busy
        core_idle = Signal()                    # nothing to compute: events, commands, start
        draining = Signal()                     # only the step's spikes wait to leave
        m.d.comb += [
            self.idle.eq(core_idle & ~activity.reading),
            step.slot.eq(slot),
            step.next_step.eq(draining),
            step.accept.eq((core_idle | draining) & ~activity.reading & ~activity.cmd_valid),
            activity.cmd_ok.eq(core_idle & integrator_idle),
            update.neuron.eq(n),
        ]
        if learn is not None:
            m.d.comb += learn.slot.eq(slot)
            m.d.sync += learn.learn.eq(update.last)

        with m.FSM(name="step") as fsm:
            with m.State("CLEAR"):
                # after reset the accumulator (which a reset does not clear) is swept to zero,
                # so no input pending from before the reset survives it; the core is idle in
                # the sweep's last clock
                with m.If(~step.clearing):
                    m.d.comb += core_idle.eq(1)
                    with m.If(self.start & self.idle):
                        m.next = "START"
                    with m.Else():
                        m.next = "IDLE"
            with m.State("IDLE"):
                m.d.comb += core_idle.eq(1)
                with m.If(self.start & self.idle):
                    m.next = "START"
            with m.State("START"):
                # wait for the last event's row to be integrated (a crossbar core: for the
                # step's codes to come in)
                m.d.comb += step.compute.eq(1)
                with m.If(integrator_idle):
                    m.d.comb += activity.begin.eq(1)
                    if learn is not None:
                        m.d.comb += learn.begin.eq(1)
                    m.d.sync += n.eq(0)
                    m.next = "UPDATE"
            with m.State("UPDATE"):
                m.d.comb += update.en.eq(1)
                m.d.sync += n.eq(n + 1)
                with m.If(n == N - 1):
                    m.next = "FINISH"
            with m.State("FINISH"):
                # the datapath empties; with learning, the STDP engine then learns
                with m.If(update.last):
                    m.next = "LEARN" if learn is not None else "DRAIN"
            if learn is not None:
                with m.State("LEARN"):
                    with m.If(learn.done):
                        m.next = "DRAIN"
            with m.State("DRAIN"):
                # input events are taken again (for the step after); the spikes leave
                m.d.comb += draining.eq(1)
                with m.If(update.spikes_empty):
                    m.d.comb += [self.done.eq(1), activity.done.eq(1)]
                    m.d.sync += slot.eq(Mux(slot == p.max_delay - 1, 0, slot + 1))
                    m.next = "IDLE"
        m.d.comb += activity.busy.eq(step.busy | ~(fsm.ongoing("IDLE") | fsm.ongoing("CLEAR")))
