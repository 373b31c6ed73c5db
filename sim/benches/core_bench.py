"""cocotb bench of a generated core behind its host interface (cocotb 2.x).

Run through :func:`spikefab.sim.runner.run_bench`; the top is
:class:`~spikefab.rtl.core_host.CoreHost` (the core and its host adapter). The bench drives
the design only through the host API (:mod:`spikefab.firmware.host`) over the cocotb
transport. For each job (see :mod:`.jobs`) it resets the design, loads the image with
``WRITE`` commands (unless the job runs the Verilog with the image baked in), then for every
step injects that step's input spikes (``EVENT``, with optional idle gaps), runs the step
(``STEP``) and takes its ``SPIKE`` and ``DONE`` records (with optional back-pressure on the
reply stream, checked for the stream rules every clock), while a monitor records every
neuron's state from the core's trace port. It writes a trace in the golden model's format,
then reads the state and synapse memories back and checks them.

A crossbar core (``params.synapses == "crossbar"``) runs with its crossbar co-simulated
behind the ``xbar`` ports (:class:`.crossbar_port.CrossbarPort`, the job's
``stimulus["crossbar"]``); the bench then skips the synapse read-back of a core without
learning (it has no weight memory) and records the devices' final weights in
``meta["xbar_weights"]``.

``meta["cycles"]``: clocks from the transfer of a step's first command (its first input event, or
its ``STEP``) to the transfer of its
``DONE`` record; ``meta["status"]``: the core's ``STATUS`` register at the end.
"""

import numpy as np
import cocotb
from cocotb.triggers import RisingEdge

from spikefab.rtl import layouts
from spikefab.rtl.image import CoreImage
from spikefab.rtl.layouts import Reg, Region
from spikefab.sim.inputs import decode_inputs
from spikefab.sim.trace import Trace

from .crossbar_port import CrossbarPort
from .jobs import run_job_folder, within
from .streams import StreamMonitor


def load_job(job_dir, job):
    img = CoreImage.load(job_dir / job["image"])
    with np.load(job_dir / job["inputs"]) as z:
        inputs = decode_inputs({k: z[k] for k in z.files})
    return img, inputs


def _check_step(t, N, recs, spk):
    order = [r["neuron"] for r in recs]
    assert order == list(range(N)), \
        f"step {t}: trace records came for neurons {order[:8]}..., expected 0..{N - 1}"
    assert spk == sorted(set(spk)), f"step {t}: spikes out of order or repeated: {spk}"
    traced = [r["neuron"] for r in recs if r["spike"]]
    assert traced == spk, (f"step {t}: the spike output {spk} differs from the trace "
                           f"port's spike bits {traced}")


async def run_job(tb, img: CoreImage, inputs, steps, stim, baked):
    dut, p = tb.dut, img.params
    host = await tb.reset(img, stim)
    if not baked:
        await host.load(img)
    monitor = StreamMonitor(dut, ["trace"], dut.clk,
                            decode=layouts.word_decoder(layouts.trace_layout(p)))
    tb.transport.sink.monitors.append(monitor)     # sampled in the reply sink's clock loop
    port = None
    if p.synapses == "crossbar":
        port = CrossbarPort(dut, dut.clk, img, stim.get("crossbar"))
        port.start()
        tb.transport.sink.monitors.append(port)
    try:
        trace = await _steps(tb, host, monitor, img, inputs, steps, stim, port)
    finally:
        tb.transport.sink.monitors.remove(monitor)
        if port is not None:
            tb.transport.sink.monitors.remove(port)
    if port is not None:
        trace.meta["xbar_weights"] = port.device_weights().tolist()
        trace.meta["xbar_requests"] = port.requests
    return trace


async def _steps(tb, host, monitor, img, inputs, steps, stim, port=None):
    dut, p = tb.dut, img.params
    await RisingEdge(dut.clk)       # let the monitor start before the first step
    N = p.neurons
    spikes = np.zeros((steps, N), np.uint8)
    u = np.zeros((steps, N), np.int64)
    v = np.zeros((steps, N), np.int64)
    refr = np.zeros((steps, N), np.int64) if p.refractory_bits else None
    cycles, learned = [], []
    timeout = stim.get("timeout", 200_000)
    for t in range(steps):
        first = tb.transport.commands_sent     # the step's first command: an event or STEP
        await host.inject(inputs[t])
        (res,) = await within(host.step(1), timeout, f"step {t}")
        cycles.append(tb.transport.last_cycle - tb.transport.command_clock(first))
        assert monitor.error is None, f"step {t}: {monitor.error}"
        assert port is None or port.error is None, f"step {t}: crossbar port: {port.error!r}"
        recs = monitor.take()["trace"]
        spk = [s.neuron for s in res.spikes]
        assert all(s.step == t for s in res.spikes), \
            f"step {t}: spike records carry steps {[s.step for s in res.spikes]}"
        assert res.counters.step == t + 1, \
            f"step {t}: the DONE record counts {res.counters.step} steps, expected {t + 1}"
        _check_step(t, N, recs, spk)
        spikes[t, spk] = 1
        for r in recs:
            u[t, r["neuron"]] = r["u"]
            v[t, r["neuron"]] = r["v"]
            if refr is not None:
                refr[t, r["neuron"]] = r["refr_cnt"]
        if p.learning:
            learned.append(await host.read_learning(0))

    if stim["readback"] and steps:
        state = await host.read_state(0)
        first_var = "u" if p.model == "cuba" else "i"
        for n in range(N):
            got = {k: int(a[n]) for k, a in state.items()}
            want = {first_var: int(u[-1, n]), "v": int(v[-1, n])}
            if refr is not None:
                want["refr_cnt"] = int(refr[-1, n])
            assert got == want, f"read-back of neuron {n} state: expected {want}, got {got}"
        if not p.learning and p.synapses == "digital":
            # a learning core's weights change (they are read above); a crossbar core
            # without learning has no weight memory
            for i, (w, got) in enumerate(zip(img.syn_words(),
                                             await host.read_region(0, Region.SYN))):
                assert got == w, f"read-back of synapse word {i}: expected {w:#x}, got {got:#x}"
        step_reg = await host.read_register(0, Reg.STEP)
        assert step_reg == steps, f"STEP register: expected {steps}, got {step_reg}"
        ev_reg = await host.read_register(0, Reg.LAST_EVENTS)
        assert ev_reg == len(inputs[steps - 1]), \
            f"LAST_EVENTS register: expected {len(inputs[steps - 1])}, got {ev_reg}"

    status = await host.read_register(0, Reg.STATUS)
    extra = {"refr_cnt": refr} if refr is not None else {}
    meta = {"source": cocotb.SIM_NAME, "cycles": cycles, "status": status}
    if p.learning:
        extra["weights"] = np.stack([w for w, _, _ in learned])
        extra["x"] = np.stack([x for _, x, _ in learned])
        extra["y"] = np.stack([y for _, _, y in learned])
    return Trace(spikes=spikes, u=u, v=v, extra=extra, meta=meta)


@cocotb.test()
async def run_jobs(dut):
    """Run every job of the folder named by ``SPIKEFAB_JOBS``."""
    await run_job_folder(dut, load_job, run_job)
