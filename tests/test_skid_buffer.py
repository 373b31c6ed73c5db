# amaranth: UnusedElaboratable=no
"""The skid buffer in Amaranth's simulator: order kept, nothing lost or duplicated, one
transfer per clock when neither side stalls, and its outputs registered."""

import numpy as np
import pytest
from amaranth.sim import Simulator

from spikefab.rtl.skid_buffer import SkidBuffer


def _run(p_valid, p_ready, n=200, seed=0):
    """Send 0..n-1 with ``i.valid`` high with probability ``p_valid`` and ``o.ready`` with
    ``p_ready``; return the words received and the clocks it took."""
    rng = np.random.default_rng(seed)
    dut = SkidBuffer(16)
    got, clocks = [], [0]

    async def bench(ctx):
        sent = 0
        while len(got) < n:
            offer = sent < n and rng.random() < p_valid
            ctx.set(dut.i.valid, offer)
            ctx.set(dut.i.payload, sent)
            ctx.set(dut.o.ready, rng.random() < p_ready)
            # registered outputs: i.ready and o.valid are what the registers say, whatever
            # this clock's inputs are
            took_in = offer and ctx.get(dut.i.ready)
            if ctx.get(dut.o.valid) and ctx.get(dut.o.ready):
                got.append(ctx.get(dut.o.payload))
            await ctx.tick()
            clocks[0] += 1
            sent += took_in
            assert clocks[0] < 20 * n, "the buffer stopped moving"

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()
    return got, clocks[0]


@pytest.mark.parametrize("p_valid, p_ready", [(1.0, 1.0), (0.5, 0.5), (1.0, 0.3), (0.3, 1.0)])
def test_skid_buffer_keeps_order_and_loses_nothing(p_valid, p_ready):
    got, _ = _run(p_valid, p_ready, seed=int(p_valid * 10 + p_ready * 100))
    assert got == list(range(200))


def test_skid_buffer_moves_one_word_per_clock():
    _, clocks = _run(1.0, 1.0, n=100)
    assert clocks == 101          # one clock of latency, then one word per clock
