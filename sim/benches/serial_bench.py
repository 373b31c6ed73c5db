"""cocotb bench of the board top-level (:class:`~spikefab.rtl.serial_top.SerialTop`) driven
only through its UART pins by the Python host driver (cocotb 2.x).

Run through :func:`spikefab.sim.serial_runner.run_serial`. The run folder holds ``job.json``
(``image``, ``inputs``, ``steps``, ``clocks_per_bit``, ``load``, ``state``, optional
``fuzz``: byte segments and the number of reply frames each must give). The bench resets the
design, starts a :class:`~.uart.UartChannel` on ``rx``/``tx``, opens a
:class:`~spikefab.firmware.link_transport.LinkTransport` (``IDENTIFY``, digest checked) and
uses :class:`~spikefab.firmware.host.Host` on it: loads the image (``load``), then for every
step injects the inputs, runs the step and records its spikes, and (``state``) reads every
core's state, and a learning core's weights and traces, back. It writes ``trace.npz`` in the
golden model's format (an array's ``spikes`` are those of its exit records: see
docs/host_link.md) and ``results.json`` (link statistics, clocks, fuzz replies, memories read
back after the fuzzing)."""

import json
import os
import time
from pathlib import Path

import cocotb
import numpy as np
from cocotb.clock import Clock
from cocotb.triggers import ClockCycles

from spikefab.firmware.host import Host
from spikefab.firmware.link_transport import LinkTransport
from spikefab.firmware.protocol import HostCodec
from spikefab.rtl.image import CoreImage
from spikefab.rtl.netimage import NetworkImage
from spikefab.sim.inputs import decode_inputs
from spikefab.sim.link_run import read_memories, run_trace

from .uart import UartChannel


__all__ = ["serial_job"]

PERIOD_NS = 10


def _load(job_dir, job):
    path = job_dir / job["image"]
    with np.load(path) as z:
        network = "mesh" in z.files or any(k.startswith("mesh") for k in z.files)
    image = NetworkImage.load(path) if network else CoreImage.load(path)
    with np.load(job_dir / job["inputs"]) as z:
        enc = {k: z[k] for k in z.files}
    if isinstance(image, NetworkImage):
        from spikefab.sim.network import decode_network_inputs
        inputs = decode_network_inputs(enc)
    else:
        inputs = decode_inputs(enc)
    return image, inputs


async def _fuzz(channel, transport, fuzz, clocks_per_bit):
    """Send each segment, wait for its reply frames; the bytes received per segment."""
    replies = []
    for seg, n_frames in zip(fuzz["segments"], fuzz["frames"]):
        await channel.write(bytes.fromhex(seg))
        got = bytearray()
        while got.count(0) < n_frames:
            got += await channel.read()
        replies.append(bytes(got).hex())
    transport._flushed = False          # the next request starts with a delimiter
    return replies


def _now():
    return cocotb.utils.get_sim_time("ns") / PERIOD_NS


async def _measure(host, transport, image, m):
    """Clocks and bytes of a bulk write of every synapse word (``m["bulk_repeats"]`` times)
    and of ``m["steps"]`` steps run by one ``STEP`` request (spikes streamed back)."""
    from spikefab.rtl.layouts import Region
    out = {}
    words = list(image.syn_words())
    s0, t0 = dict(transport.stats), _now()
    for _ in range(m.get("bulk_repeats", 1)):
        await host.write_words(0, Region.SYN, words)
    out["bulk"] = {"clocks": _now() - t0, "words": len(words) * m.get("bulk_repeats", 1),
                   "written": transport.stats["written"] - s0["written"],
                   "read": transport.stats["read"] - s0["read"],
                   "requests": transport.stats["requests"] - s0["requests"]}
    s0, t0 = dict(transport.stats), _now()
    res = await host.step(m["steps"])
    out["stream"] = {"clocks": _now() - t0, "steps": m["steps"],
                     "spikes": sum(len(r.spikes) for r in res),
                     "written": transport.stats["written"] - s0["written"],
                     "read": transport.stats["read"] - s0["read"],
                     "reply_frames": transport.stats["reply_frames"] - s0["reply_frames"]}
    return out


@cocotb.test()
async def serial_job(dut):
    job_dir = Path(os.environ["SPIKEFAB_JOBS"])
    job = json.loads((job_dir / "job.json").read_text())
    image, inputs = _load(job_dir, job)
    cocotb.start_soon(Clock(dut.clk, PERIOD_NS, unit="ns").start())
    dut.rx.value = 1
    dut.rst.value = 1
    await ClockCycles(dut.clk, 3)
    dut.rst.value = 0
    cpb = job["clocks_per_bit"]
    channel = UartChannel(dut, dut.clk, cpb, timeout=job.get("timeout", 20_000))
    channel.start()
    await ClockCycles(dut.clk, 2 * cpb)
    codec = HostCodec.for_image(image)
    transport = LinkTransport(channel, codec, max_payload=job["max_payload"])
    host = Host(transport, codec)
    results = {"identity": (await transport.open()).__dict__}
    wall = time.perf_counter()
    start = cocotb.utils.get_sim_time("ns") / PERIOD_NS
    if job.get("load", True):
        await host.load(image)
    results["load_clocks"] = cocotb.utils.get_sim_time("ns") / PERIOD_NS - start
    results["load_bytes"] = transport.stats["written"]
    if job.get("measure"):
        results["measure"] = await _measure(host, transport, image, job["measure"])
    if "fuzz" in job:
        results["fuzz_replies"] = await _fuzz(channel, transport, job["fuzz"], cpb)
        results["after_fuzz"] = await read_memories(host, image)
    if job["steps"]:
        start = cocotb.utils.get_sim_time("ns") / PERIOD_NS
        trace = await run_trace(host, image, inputs, job["steps"], state=job.get("state", True),
                                source=f"{cocotb.SIM_NAME} (serial link)")
        results["run_clocks"] = cocotb.utils.get_sim_time("ns") / PERIOD_NS - start
        trace.save(job_dir / "trace.npz")
    results["stats"] = transport.stats
    results["framing_errors"] = channel.framing_errors
    results["wall_s"] = time.perf_counter() - wall
    channel.stop()
    (job_dir / "results.json").write_text(json.dumps(results))
