"""cocotb bench of the generated many-core array (cocotb 2.x).

Run through :func:`spikefab.sim.runner.run_mesh_rtl`, which writes a folder of jobs and
points ``SPIKEFAB_JOBS`` at it. For each job the bench resets the array, loads the network
image over the configuration port (every core's memories and registers, every routing
table), then for every step drives that step's external input spikes into ``ext_in`` (with
optional idle gaps), starts the step and waits for the barrier, while:

* :class:`MeshMonitor` records every core's trace port (state after the update, spike bit)
  and checks the barrier (``done``) comes once per step;
* :class:`OutputSink` takes ``ext_out`` with seeded random back-pressure and checks each
  record carries the step being computed and arrives before that step's barrier.

After each step it reads every core's ``LAST_EVENTS`` register (the events the core
integrated) and, on learning cores, the weights and traces. It writes a trace in the golden
network model's format (``spikes``/``u``/``v`` [T, C*N], ``extra.ext_out`` [T, C*N], ...),
with in ``meta`` the clocks, the packet counters and the events each core accepted (its
``LAST_EVENTS``) of every step. (The golden trace's ``extra.events``, the events integrated
at each step, has no RTL counterpart: events of later steps arrive mixed with them.)
"""

import json
import os
import random
from pathlib import Path

import numpy as np
import cocotb
from cocotb.clock import Clock
from cocotb.triggers import ClockCycles, Event, ReadOnly, RisingEdge

from spikefab.rtl import layouts
from spikefab.rtl.layouts import Reg, Region
from spikefab.rtl.netimage import NetworkImage
from spikefab.sim.network import decode_network_inputs
from spikefab.sim.trace import Trace
from spikefab.sim.benches.core_bench import _decoder, _uint, handshake, read_learning


class MeshMonitor:
    """Samples every clock: the trace port of every core, and ``done``."""

    def __init__(self, dut, mesh, params):
        self.dut, self.mp, self.p = dut, mesh, params
        self.decode = _decoder(layouts.trace_layout(params))
        self.ports = []
        for c in range(mesh.cores):
            x, y = mesh.core_xy(c)
            self.ports.append((c, getattr(dut, f"trace_{x}_{y}__valid"),
                               getattr(dut, f"trace_{x}_{y}__payload")))
        self.cycle = 0
        self.records = [[] for _ in range(mesh.cores)]
        self.done = Event()
        self.done_count = 0
        self.done_cycle = None

    async def run(self):
        dut = self.dut
        while True:
            await RisingEdge(dut.clk)
            await ReadOnly()
            self.cycle += 1
            for c, valid, payload in self.ports:
                if valid.value == 1:
                    self.records[c].append(self.decode(_uint(payload)))
            if dut.done.value == 1:
                self.done_count += 1
                self.done_cycle = self.cycle
                self.done.set()

    def take_step(self):
        recs = self.records
        self.records = [[] for _ in range(self.mp.cores)]
        self.done.clear()
        return recs


class OutputSink:
    """Takes ``ext_out`` records, holding ``ready`` low with probability ``backpressure``."""

    def __init__(self, dut, mesh, params, backpressure, rng):
        self.dut, self.bp, self.rng = dut, backpressure, rng
        self.decode = _decoder(layouts.ext_out_layout(mesh, params))
        self.records = []

    async def run(self):
        dut = self.dut
        while True:
            ready = int(self.rng.random() >= self.bp)
            dut.ext_out__ready.value = ready
            await ReadOnly()
            if ready and dut.ext_out__valid.value == 1:
                self.records.append(self.decode(_uint(dut.ext_out__payload)))
            await RisingEdge(dut.clk)


class MeshTB:
    """Clock, reset and the configuration port of the array."""

    def __init__(self, dut, mesh, params):
        self.dut, self.mp, self.p = dut, mesh, params
        self.cmd = layouts.mesh_cfg_layout(mesh, params)
        self.index_bits = layouts.mesh_cfg_index_bits(mesh, params)
        self.in_layout = layouts.ext_in_layout(mesh, params)
        cocotb.start_soon(Clock(dut.clk, 10, unit="ns").start())

    async def reset(self):
        dut = self.dut
        for name in ("ext_in__valid", "ext_in__payload", "start", "free_run", "period",
                     "cfg__valid", "cfg__payload", "cfg_rdata__ready"):
            getattr(dut, name).value = 0
        dut.ext_out__ready.value = 1
        dut.rst.value = 1
        await ClockCycles(dut.clk, 3)
        dut.rst.value = 0
        await RisingEdge(dut.clk)

    def _word(self, core, region, index, write, data):
        depth = layouts.mesh_region_depths(self.mp, self.p)[Region(region)]
        if not 0 <= index < depth:
            raise IndexError(f"index {index} out of range for region {Region(region).name}")
        x, y = self.mp.core_xy(core)
        return layouts.pack(self.cmd, {
            "core": x | (y << self.mp.x_bits),
            "addr": index | (int(region) << self.index_bits),
            "write": int(write), "data": int(data)})[0]

    async def _command(self, word):
        dut = self.dut
        dut.cfg__valid.value = 1
        dut.cfg__payload.value = word
        await handshake(dut.clk, dut.cfg__ready)
        dut.cfg__valid.value = 0

    async def write(self, core, region, index, data):
        await self._command(self._word(core, region, index, True, data))

    async def read(self, core, region, index):
        dut = self.dut
        await self._command(self._word(core, region, index, False, 0))
        dut.cfg_rdata__ready.value = 1
        while True:
            await ReadOnly()
            if dut.cfg_rdata__valid.value == 1:
                value = _uint(dut.cfg_rdata__payload)
                await RisingEdge(dut.clk)
                break
            await RisingEdge(dut.clk)
        dut.cfg_rdata__ready.value = 0
        return value

    async def load(self, net: NetworkImage):
        """Write every core's memories and registers and every routing table."""
        p = self.p
        for c, (img, rt) in enumerate(zip(net.cores, net.routes)):
            regions = [(Region.SYN, img.syn_words()), (Region.PARAM, img.param_words()),
                       (Region.STATE, img.state_words()),
                       (Region.ROUTE_PTR, rt.ptr_words()), (Region.ROUTE, rt.entry_words())]
            if p.param_mode == "profile":
                regions.append((Region.PIDX, img.pidx_words()))
            if p.learning:
                regions += [(Region.XTRACE, img.xtrace_words()),
                            (Region.YTRACE, img.ytrace_words())]
            for region, words in regions:
                for i, w in enumerate(words):
                    await self.write(c, region, i, w)
            await self.write(c, Region.REG, Reg.W_EXP, img.w_exp)
            for reg, w in img.stdp_reg_words().items():
                await self.write(c, Region.REG, reg, w)

    async def read_learning(self, c):
        return await read_learning(self.p, lambda region, index: self.read(c, region, index))

    async def send_inputs(self, spikes, gap_prob, rng):
        """Drive ``(core, axon)`` spikes into ``ext_in``, holding each until taken."""
        dut = self.dut
        for core, axon in spikes:
            x, y = self.mp.core_xy(int(core))
            while gap_prob and rng.random() < gap_prob:
                dut.ext_in__valid.value = 0
                await RisingEdge(dut.clk)
            dut.ext_in__valid.value = 1
            dut.ext_in__payload.value = layouts.pack(
                self.in_layout, {"x": x, "y": y, "axon": int(axon)})[0]
            await handshake(dut.clk, dut.ext_in__ready)
        dut.ext_in__valid.value = 0

    async def start_step(self):
        dut = self.dut
        dut.start.value = 1
        await RisingEdge(dut.clk)
        dut.start.value = 0


async def run_job(tb: MeshTB, net: NetworkImage, inputs, steps, stim):
    dut, mp, p = tb.dut, net.mesh, net.params
    C, N = mp.cores, p.neurons
    rng = random.Random(stim["seed"])
    await tb.reset()
    await tb.load(net)
    monitor = MeshMonitor(dut, mp, p)
    sink = OutputSink(dut, mp, p, stim["backpressure"], rng)
    tasks = [cocotb.start_soon(monitor.run()), cocotb.start_soon(sink.run())]
    await RisingEdge(dut.clk)
    spikes = np.zeros((steps, C * N), np.uint8)
    u = np.zeros((steps, C * N), np.int64)
    v = np.zeros((steps, C * N), np.int64)
    refr = np.zeros((steps, C * N), np.int64) if p.refractory_bits else None
    ext_out = np.zeros((steps, C * N), np.int64)
    events = np.zeros((steps, C), np.int64)
    cycles, pk_in, pk_out = [], [], []
    learned = []
    timeout = stim.get("timeout", 200_000)
    for t in range(steps):
        await tb.send_inputs(inputs[t], stim["gap_prob"], rng)
        await tb.start_step()
        begin = monitor.cycle
        while not monitor.done.is_set():
            await RisingEdge(dut.clk)
            if monitor.cycle - begin > timeout:
                raise AssertionError(f"step {t}: no barrier after {timeout} clocks (deadlock?): "
                                     f"packets in {_uint(dut.packets_in)}, out "
                                     f"{_uint(dut.packets_out)}")
        assert monitor.done_count == t + 1, \
            f"step {t}: {monitor.done_count} barriers seen, expected {t + 1}"
        await RisingEdge(dut.clk)
        cycles.append(_uint(dut.last_cycles))
        pk_in.append(_uint(dut.packets_in))
        pk_out.append(_uint(dut.packets_out))
        assert pk_in[-1] == pk_out[-1], (f"step {t}: at the barrier {pk_in[-1]} packets were "
                                         f"injected and {pk_out[-1]} delivered")
        assert _uint(dut.step) == t + 1, f"step {t}: step counter {_uint(dut.step)}"
        recs = monitor.take_step()
        for c in range(C):
            order = [r["neuron"] for r in recs[c]]
            assert order == list(range(N)), (f"step {t}, core {c}: trace records for neurons "
                                             f"{order[:8]}..., expected 0..{N - 1}")
            for r in recs[c]:
                k = c * N + r["neuron"]
                spikes[t, k] = r["spike"]
                u[t, k] = r["u"]
                v[t, k] = r["v"]
                if refr is not None:
                    refr[t, k] = r["refr_cnt"]
        for rec in sink.records:
            assert rec["step"] == t, (f"step {t}: an external output record {rec} carries "
                                      f"step {rec['step']}")
            ext_out[t, mp.core_index(rec["x"], rec["y"]) * N + rec["neuron"]] += 1
        sink.records = []
        for c in range(C):
            events[t, c] = await tb.read(c, Region.REG, Reg.LAST_EVENTS)
        if p.learning:
            learned.append([await tb.read_learning(c) for c in range(C)])
    for task in tasks:
        task.cancel()
    dut.ext_out__ready.value = 1

    status = _uint(dut.status)
    core_status = [await tb.read(c, Region.REG, Reg.STATUS) for c in range(C)]
    if stim.get("readback", True) and steps:
        decode = _decoder(layouts.state_layout(p))
        first = "u" if p.model == "cuba" else "i"
        for c in range(C):
            for n in range(N):
                got = decode(await tb.read(c, Region.STATE, n))
                want = {first: int(u[-1, c * N + n]), "v": int(v[-1, c * N + n])}
                if refr is not None:
                    want["refr_cnt"] = int(refr[-1, c * N + n])
                assert got == want, f"read-back of core {c} neuron {n} state: expected " \
                                    f"{want}, got {got}"
            rt = net.routes[c]
            for i, w in enumerate(rt.ptr_words()):
                got = await tb.read(c, Region.ROUTE_PTR, i)
                assert got == w, f"read-back of core {c} ROUTE_PTR[{i}]: {got:#x} != {w:#x}"
            for i, w in enumerate(rt.entry_words()):
                got = await tb.read(c, Region.ROUTE, i)
                assert got == w, f"read-back of core {c} ROUTE[{i}]: {got:#x} != {w:#x}"
    extra = {"ext_out": ext_out}
    if refr is not None:
        extra["refr_cnt"] = refr
    if p.learning:
        extra["weights"] = np.stack([np.stack([w for w, _, _ in step]) for step in learned])
        extra["x"] = np.stack([np.stack([x for _, x, _ in step]) for step in learned])
        extra["y"] = np.stack([np.concatenate([y for _, _, y in step]) for step in learned])
    meta = {"source": cocotb.SIM_NAME, "cycles": cycles, "accepted": events.tolist(),
            "packets_in": pk_in,
            "packets_out": pk_out, "status": status, "core_status": core_status}
    return Trace(spikes=spikes, u=u, v=v, extra=extra, neurons_per_core=N, meta=meta)


@cocotb.test()
async def run_jobs(dut):
    """Run every job of the folder named by ``SPIKEFAB_JOBS``."""
    job_dir = Path(os.environ["SPIKEFAB_JOBS"])
    jobs = json.loads((job_dir / "jobs.json").read_text())
    tb = None
    for job in jobs:
        net = NetworkImage.load(job_dir / job["image"])
        with np.load(job_dir / job["inputs"]) as z:
            inputs = decode_network_inputs({k: z[k] for k in z.files})
        if tb is None:
            tb = MeshTB(dut, net.mesh, net.params)
        trace = await run_job(tb, net, inputs, job["steps"], job["stimulus"])
        trace.save(job_dir / job["trace"])
