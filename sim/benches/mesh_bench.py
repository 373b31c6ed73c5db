"""cocotb bench of a generated many-core array behind its host interface (cocotb 2.x).

Run through :func:`spikefab.sim.runner.run_bench`. The bench drives the array only through
the host API (:mod:`spikefab.firmware.host`) over the cocotb transport. For each job (see
:mod:`.jobs`) it resets the array, loads the network image with ``WRITE`` commands (every
core's memories and registers, every routing table; skipped when the image is baked into
the Verilog), then for every step injects that step's external input spikes (``EVENT``,
with optional idle gaps), runs the step (``STEP``) and takes its ``SPIKE`` records and its
``DONE`` record (with seeded random back-pressure on the reply stream, checked for the stream
rules every clock), while a monitor records every core's trace port.

Per step it checks: one ``DONE`` record, counting the steps so far; every ``SPIKE`` record
carries the step being computed and comes before the ``DONE`` record; packets injected and
delivered are equal at the barrier. Then it reads every core's ``LAST_EVENTS`` register (the
events the core accepted) and, on learning cores, the weights and traces. It writes a trace
in the golden network model's format (``spikes``/``u``/``v`` [T, C*N], ``extra.ext_out``
[T, C*N], ...), with in ``meta`` the clocks, the packet counters and the events each core
accepted of every step. (The golden trace's ``extra.events``, the events integrated at each
step, has no RTL counterpart: events of later steps arrive mixed with them.)
"""

import numpy as np
import cocotb
from cocotb.triggers import RisingEdge

from spikefab.rtl import layouts
from spikefab.rtl.layouts import Reg, Region
from spikefab.rtl.netimage import NetworkImage
from spikefab.sim.network import decode_network_inputs
from spikefab.sim.trace import Trace

from .jobs import run_job_folder, within
from .streams import StreamMonitor


def load_job(job_dir, job):
    net = NetworkImage.load(job_dir / job["image"])
    with np.load(job_dir / job["inputs"]) as z:
        inputs = decode_network_inputs({k: z[k] for k in z.files})
    return net, inputs


async def run_job(tb, net: NetworkImage, inputs, steps, stim, baked):
    dut, mp, p = tb.dut, net.mesh, net.params
    host = await tb.reset(net, stim)
    if not baked:
        await host.load(net)
    ports = [f"trace_{x}_{y}" for x, y in map(mp.core_xy, range(mp.cores))]
    monitor = StreamMonitor(dut, ports, dut.clk,
                            decode=layouts.word_decoder(layouts.trace_layout(p)))
    tb.transport.sink.monitors.append(monitor)     # sampled in the reply sink's clock loop
    try:
        return await _steps(tb, host, monitor, ports, net, inputs, steps, stim)
    finally:
        tb.transport.sink.monitors.remove(monitor)


async def _steps(tb, host, monitor, ports, net, inputs, steps, stim):
    dut, mp, p = tb.dut, net.mesh, net.params
    C, N = mp.cores, p.neurons
    await RisingEdge(dut.clk)
    spikes = np.zeros((steps, C * N), np.uint8)
    u = np.zeros((steps, C * N), np.int64)
    v = np.zeros((steps, C * N), np.int64)
    refr = np.zeros((steps, C * N), np.int64) if p.refractory_bits else None
    ext_out = np.zeros((steps, C * N), np.int64)
    events = np.zeros((steps, C), np.int64)
    cycles, pk_in, pk_out, learned = [], [], [], []
    timeout = stim.get("timeout", 200_000)
    for t in range(steps):
        await host.inject(inputs[t] if t < len(inputs) else [])
        (res,) = await within(host.step(1), timeout, f"step {t}: no barrier")
        cnt = res.counters
        cycles.append(cnt.cycles)
        pk_in.append(cnt.packets_in)
        pk_out.append(cnt.packets_out)
        assert cnt.packets_in == cnt.packets_out, (
            f"step {t}: at the barrier {cnt.packets_in} packets were injected and "
            f"{cnt.packets_out} delivered")
        assert cnt.step == t + 1, f"step {t}: step counter {cnt.step}"
        assert monitor.error is None, f"step {t}: {monitor.error}"
        recs = monitor.take()
        for c, port in enumerate(ports):
            order = [r["neuron"] for r in recs[port]]
            assert order == list(range(N)), (f"step {t}, core {c}: trace records for neurons "
                                             f"{order[:8]}..., expected 0..{N - 1}")
            for r in recs[port]:
                k = c * N + r["neuron"]
                spikes[t, k] = r["spike"]
                u[t, k] = r["u"]
                v[t, k] = r["v"]
                if refr is not None:
                    refr[t, k] = r["refr_cnt"]
        for rec in res.spikes:
            assert rec.step == t, (f"step {t}: an external output record {rec} carries "
                                   f"step {rec.step}")
            ext_out[t, mp.core_index(rec.x, rec.y) * N + rec.neuron] += 1
        for c in range(C):
            events[t, c] = await host.read_register(c, Reg.LAST_EVENTS)
        if p.learning:
            learned.append([await host.read_learning(c) for c in range(C)])

    status = (await host.counters()).status
    core_status = [await host.read_register(c, Reg.STATUS) for c in range(C)]
    if stim.get("readback", True) and steps:
        await _readback(host, net, u, v, refr)
    extra = {"ext_out": ext_out}
    if refr is not None:
        extra["refr_cnt"] = refr
    if p.learning:
        extra["weights"] = np.stack([np.stack([w for w, _, _ in step]) for step in learned])
        extra["x"] = np.stack([np.stack([x for _, x, _ in step]) for step in learned])
        extra["y"] = np.stack([np.concatenate([y for _, _, y in step]) for step in learned])
    meta = {"source": cocotb.SIM_NAME, "cycles": cycles, "accepted": events.tolist(),
            "packets_in": pk_in, "packets_out": pk_out, "status": status,
            "core_status": core_status}
    return Trace(spikes=spikes, u=u, v=v, extra=extra, neurons_per_core=N, meta=meta)


async def _readback(host, net, u, v, refr):
    """Every core's state against the trace's last step, every routing table against the
    image."""
    mp, p = net.mesh, net.params
    N = p.neurons
    first = "u" if p.model == "cuba" else "i"
    for c in range(mp.cores):
        state = await host.read_state(c)
        for n in range(N):
            got = {k: int(a[n]) for k, a in state.items()}
            want = {first: int(u[-1, c * N + n]), "v": int(v[-1, c * N + n])}
            if refr is not None:
                want["refr_cnt"] = int(refr[-1, c * N + n])
            assert got == want, f"read-back of core {c} neuron {n} state: expected " \
                                f"{want}, got {got}"
        rt = net.routes[c]
        ptr, ent = await host.read_routes(c)
        for name, gots, wants in (("ROUTE_PTR", ptr, rt.ptr_words()),
                                  ("ROUTE", ent, rt.entry_words())):
            for i, (g, w) in enumerate(zip(gots, wants)):
                assert g == w, f"read-back of core {c} {name}[{i}]: {g:#x} != {w:#x}"


@cocotb.test()
async def run_jobs(dut):
    """Run every job of the folder named by ``SPIKEFAB_JOBS``."""
    await run_job_folder(dut, load_job, run_job)
