"""cocotb bench of the generated neuron core (cocotb 2.x).

Run through :func:`spikefab.sim.runner.run_core_rtl`, which writes a folder of jobs and
points ``SPIKEFAB_JOBS`` at it. For each job the bench resets the core, loads the image
over the configuration port, drives the input spikes of every step (with optional idle gaps),
starts each step, drains the spike output (with optional back-pressure), records every
neuron's state from the trace port, and writes a trace in the golden model's format. It then
reads the state and synapse memories back over the configuration port and checks them.

Parts: :class:`CoreTB` (clock, reset, configuration driver), :class:`EventDriver`,
:class:`SpikeSink` (back-pressure), :class:`CoreMonitor` (trace port, spikes, step done).
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
from spikefab.rtl.image import CoreImage
from spikefab.rtl.layouts import Reg, Region
from spikefab.sim.inputs import decode_inputs
from spikefab.sim.trace import Trace


async def handshake(clk, ready):
    """Hold the caller's ``valid`` (and payload) until a clock edge at which ``ready`` was
    high: the transfer. Reads ``ready`` once the clock's values have settled."""
    while True:
        await ReadOnly()
        taken = ready.value == 1
        await RisingEdge(clk)
        if taken:
            return


def _uint(handle):
    """A handle's value as an unsigned int (one-bit handles carry a ``Logic``)."""
    value = handle.value
    return value.to_unsigned() if hasattr(value, "to_unsigned") else int(value)


def _decoder(layout):
    specs = layouts.field_specs(layout)

    def decode(word):
        out = {}
        for key, off, width, sgn in specs:
            v = (word >> off) & ((1 << width) - 1)
            if sgn and v >> (width - 1):
                v -= 1 << width
            out[key] = v
        return out
    return decode


async def read_learning(p, read):
    """Weights [A, N], pre traces [A] and post traces [N] of a learning core, through
    ``read(region, index)`` (a coroutine returning one configuration word)."""
    words = [await read(Region.SYN, i) for i in range(p.axons * p.words_per_row)]
    lanes = layouts.unpack(layouts.syn_word_layout(p), words)
    weights = np.stack([lanes[k] for k in range(p.lanes)], 1).reshape(p.axons, p.neurons)
    xs = layouts.unpack(layouts.xtrace_layout(p),
                        [await read(Region.XTRACE, a) for a in range(p.axons)])["x"]
    ys = layouts.unpack(layouts.ytrace_layout(p),
                        [await read(Region.YTRACE, n) for n in range(p.neurons)])["y"]
    return weights, xs, ys


class CoreMonitor:
    """Samples, every clock after it settles: trace records, spike transfers, ``done``."""

    def __init__(self, dut, params):
        self.dut, self.p = dut, params
        self.decode_trace = _decoder(layouts.trace_layout(params))
        self.decode_spike = _decoder(layouts.spike_event_layout(params))
        self.cycle = 0
        self.records = []       # trace records of the step in progress
        self.spikes = []        # spiking neurons of the step in progress, in output order
        self.done = Event()
        self.done_cycle = None

    async def run(self):
        dut = self.dut
        has_trace = self.p.trace_port
        while True:
            await RisingEdge(dut.clk)
            await ReadOnly()
            self.cycle += 1
            if has_trace and dut.trace__valid.value == 1:
                self.records.append(self.decode_trace(_uint(dut.trace__payload)))
            if dut.spikes__valid.value == 1 and dut.spikes__ready.value == 1:
                self.spikes.append(
                    self.decode_spike(_uint(dut.spikes__payload))["neuron"])
            if dut.done.value == 1:
                self.done_cycle = self.cycle
                self.done.set()

    def take_step(self):
        recs, spk = self.records, self.spikes
        self.records, self.spikes = [], []
        self.done.clear()
        return recs, spk


class SpikeSink:
    """Holds ``spikes.ready`` low with probability ``backpressure`` in each clock."""

    def __init__(self, dut, backpressure, rng):
        self.dut, self.bp, self.rng = dut, backpressure, rng

    async def run(self):
        dut = self.dut
        while True:
            dut.spikes__ready.value = int(self.rng.random() >= self.bp)
            await RisingEdge(dut.clk)


class EventDriver:
    """Drives the ``events`` stream; an idle clock precedes an event with probability
    ``gap_prob``. Valid never depends on ready, and the payload holds until the transfer."""

    def __init__(self, dut, params, gap_prob, rng):
        self.dut, self.gap, self.rng = dut, gap_prob, rng
        self.layout = layouts.axon_event_layout(params)

    async def send(self, axons, delay=0):
        dut = self.dut
        words = layouts.pack(self.layout, {"axon": np.asarray(axons, np.int64),
                                           "delay": delay}) if len(axons) else []
        for w in words:
            while self.gap and self.rng.random() < self.gap:
                dut.events__valid.value = 0
                await RisingEdge(dut.clk)
            dut.events__valid.value = 1
            dut.events__payload.value = w
            await handshake(dut.clk, dut.events__ready)
        dut.events__valid.value = 0


class CoreTB:
    """Clock, reset, configuration port, and the step loop of one core."""

    def __init__(self, dut, params):
        self.dut, self.p = dut, params
        self.cmd_layout = layouts.cfg_command_layout(params)
        cocotb.start_soon(Clock(dut.clk, 10, unit="ns").start())

    async def reset(self):
        dut = self.dut
        for name in ("events__valid", "start", "cfg__valid", "cfg_rdata__ready"):
            getattr(dut, name).value = 0
        dut.spikes__ready.value = 1
        dut.rst.value = 1
        await ClockCycles(dut.clk, 3)
        dut.rst.value = 0
        await RisingEdge(dut.clk)

    async def _command(self, region, index, write, data):
        dut = self.dut
        addr = layouts.cfg_address(self.p, region, index)
        word = layouts.pack(self.cmd_layout, {"addr": addr, "write": int(write),
                                              "data": int(data)})[0]
        dut.cfg__valid.value = 1
        dut.cfg__payload.value = word
        await handshake(dut.clk, dut.cfg__ready)
        dut.cfg__valid.value = 0

    async def write(self, region, index, data):
        await self._command(region, index, True, data)

    async def read(self, region, index):
        dut = self.dut
        await self._command(region, index, False, 0)
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

    async def load_image(self, img: CoreImage):
        for i, w in enumerate(img.syn_words()):
            await self.write(Region.SYN, i, w)
        for i, w in enumerate(img.param_words()):
            await self.write(Region.PARAM, i, w)
        if self.p.param_mode == "profile":
            for i, w in enumerate(img.pidx_words()):
                await self.write(Region.PIDX, i, w)
        for i, w in enumerate(img.state_words()):
            await self.write(Region.STATE, i, w)
        await self.write(Region.REG, Reg.W_EXP, img.w_exp)
        if self.p.learning:
            for i, w in enumerate(img.xtrace_words()):
                await self.write(Region.XTRACE, i, w)
            for i, w in enumerate(img.ytrace_words()):
                await self.write(Region.YTRACE, i, w)
            for reg, w in img.stdp_reg_words().items():
                await self.write(Region.REG, reg, w)

    async def read_learning(self):
        """Weights [A, N], pre traces [A] and post traces [N], read over the configuration
        port (learned weights are readable at any time between steps)."""
        return await read_learning(self.p, self.read)

    async def start_step(self):
        dut = self.dut
        dut.start.value = 1
        await handshake(dut.clk, dut.idle)
        dut.start.value = 0


async def run_job(tb: CoreTB, img: CoreImage, inputs, steps, stim):
    dut, p = tb.dut, img.params
    rng = random.Random(stim["seed"])
    await tb.reset()
    await tb.load_image(img)
    monitor = CoreMonitor(dut, p)
    mon_task = cocotb.start_soon(monitor.run())
    sink_task = cocotb.start_soon(SpikeSink(dut, stim["backpressure"], rng).run())
    driver = EventDriver(dut, p, stim["gap_prob"], rng)
    await RisingEdge(dut.clk)       # let the monitor start counting before the first step
    N = p.neurons
    spikes = np.zeros((steps, N), np.uint8)
    u = np.zeros((steps, N), np.int64)
    v = np.zeros((steps, N), np.int64)
    refr = np.zeros((steps, N), np.int64) if p.refractory_bits else None
    cycles = []
    learned = []
    for t in range(steps):
        begin = monitor.cycle
        await driver.send(inputs[t])
        await tb.start_step()
        await monitor.done.wait()
        cycles.append(monitor.done_cycle - begin)
        recs, spk = monitor.take_step()
        order = [r["neuron"] for r in recs]
        assert order == list(range(N)), \
            f"step {t}: trace records came for neurons {order[:8]}..., expected 0..{N - 1}"
        for r in recs:
            u[t, r["neuron"]] = r["u"]
            v[t, r["neuron"]] = r["v"]
            if refr is not None:
                refr[t, r["neuron"]] = r["refr_cnt"]
        assert spk == sorted(set(spk)), f"step {t}: spikes out of order or repeated: {spk}"
        spikes[t, spk] = 1
        traced = [r["neuron"] for r in recs if r["spike"]]
        assert traced == spk, (f"step {t}: the spike output {spk} differs from the trace "
                               f"port's spike bits {traced}")
        await RisingEdge(dut.clk)
        if p.learning:
            learned.append(await tb.read_learning())
    mon_task.cancel()
    sink_task.cancel()
    dut.spikes__ready.value = 1

    if stim["readback"] and steps:
        st_layout = layouts.state_layout(p)
        decode = _decoder(st_layout)
        first_var = "u" if p.model == "cuba" else "i"
        for n in range(N):
            got = decode(await tb.read(Region.STATE, n))
            want = {first_var: int(u[-1, n]), "v": int(v[-1, n])}
            if refr is not None:
                want["refr_cnt"] = int(refr[-1, n])
            assert got == want, f"read-back of neuron {n} state: expected {want}, got {got}"
        if not p.learning:      # a learning core's weights change; they are read above
            for i, w in enumerate(img.syn_words()):
                got = await tb.read(Region.SYN, i)
                assert got == w, f"read-back of synapse word {i}: expected {w:#x}, got {got:#x}"
        step_reg = await tb.read(Region.REG, Reg.STEP)
        assert step_reg == steps, f"STEP register: expected {steps}, got {step_reg}"
        ev_reg = await tb.read(Region.REG, Reg.LAST_EVENTS)
        assert ev_reg == len(inputs[steps - 1]), \
            f"LAST_EVENTS register: expected {len(inputs[steps - 1])}, got {ev_reg}"

    status = await tb.read(Region.REG, Reg.STATUS)
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
    job_dir = Path(os.environ["SPIKEFAB_JOBS"])
    jobs = json.loads((job_dir / "jobs.json").read_text())
    tb = None
    for job in jobs:
        img = CoreImage.load(job_dir / job["image"])
        with np.load(job_dir / job["inputs"]) as z:
            inputs = decode_inputs({k: z[k] for k in z.files})
        if tb is None:
            tb = CoreTB(dut, img.params)
        trace = await run_job(tb, img, inputs, job["steps"], job["stimulus"])
        trace.save(job_dir / job["trace"])
