"""What every host-interface bench shares: the clock and reset, the job loop, the host API
over the cocotb transport, and per-job error reporting.

A run folder (written by :func:`spikefab.sim.runner.run_bench`) holds ``jobs.json``; for
each job the bench writes ``trace<k>.npz`` or, when the job failed, ``error<k>.txt`` with
its error, and goes on with the next job (after a reset), so one failing job hides no other.
"""

import json
import os
import traceback
from pathlib import Path

import cocotb
from cocotb.clock import Clock
from cocotb.triggers import ClockCycles, RisingEdge, SimTimeoutError, with_timeout

from spikefab.firmware.host import Host

from .transport import CocotbTransport


__all__ = ["BenchTB", "run_job_folder", "within"]

#: Clock period of every bench, in ns.
PERIOD_NS = 10


class BenchTB:
    """Clock, reset and the host API of a design that presents the host interface."""

    def __init__(self, dut):
        self.dut = dut
        cocotb.start_soon(Clock(dut.clk, PERIOD_NS, unit="ns").start())
        self.transport = None

    async def reset(self, image, stim):
        """Reset the design and return a :class:`Host` on a fresh transport with the job's
        stimulus (idle gaps before commands, back-pressure on replies)."""
        dut = self.dut
        if self.transport is not None:
            self.transport.stop()
        self.transport = CocotbTransport(dut, dut.clk, gap_prob=stim.get("gap_prob", 0.0),
                                         backpressure=stim.get("backpressure", 0.0),
                                         seed=stim.get("seed", 0))
        self.transport.source.idle()
        dut.host__reply__ready.value = 0
        for name in ("free_run", "period"):
            if hasattr(dut, name):
                getattr(dut, name).value = 0
        dut.rst.value = 1
        await ClockCycles(dut.clk, 3)
        dut.rst.value = 0
        await RisingEdge(dut.clk)
        self.transport.start()
        return Host.for_image(self.transport, image)


async def within(coro, clocks, what):
    """Await ``coro``, failing with ``what`` if it takes more than ``clocks`` clocks."""
    try:
        return await with_timeout(coro, clocks * PERIOD_NS, "ns")
    except SimTimeoutError:
        raise AssertionError(f"{what}: nothing after {clocks} clocks (deadlock?)") from None


async def run_job_folder(dut, load_job, run_job):
    """Run every job of the folder named by ``SPIKEFAB_JOBS``: ``load_job(job_dir, job)``
    returns ``(image, inputs)``; ``run_job(tb, image, inputs, steps, stim, baked)`` returns
    a Trace. A job that raises is recorded in ``error<k>.txt`` and the run goes on."""
    job_dir = Path(os.environ["SPIKEFAB_JOBS"])
    jobs = json.loads((job_dir / "jobs.json").read_text())
    tb = BenchTB(dut)
    for k, job in enumerate(jobs):
        image, inputs = load_job(job_dir, job)
        try:
            trace = await run_job(tb, image, inputs, job["steps"], job["stimulus"],
                                  job.get("baked", False))
        except AssertionError as e:
            (job_dir / f"error{k}.txt").write_text(f"{e}\n")
            continue
        except Exception:
            (job_dir / f"error{k}.txt").write_text(traceback.format_exc())
            continue
        trace.save(job_dir / job["trace"])
    if tb.transport is not None:
        tb.transport.stop()
