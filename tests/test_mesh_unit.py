# amaranth: UnusedElaboratable=no
"""Array control in Amaranth's simulator: the free-running step timer, the step barrier's
counters and the configuration port's checks (the cocotb benches cover the data path)."""

import numpy as np
import pytest
from amaranth.sim import Simulator

from spikefab.rtl import layouts
from spikefab.rtl.image import CoreImage
from spikefab.rtl.layouts import Reg, Region
from spikefab.rtl.mesh import Mesh
from spikefab.rtl.netimage import NetworkImage, RouteTable
from spikefab.rtl.params import CoreParams, MeshParams


MP = MeshParams(width=3, height=1, route_entries=8, fifo_depth=2)
P = CoreParams(neurons=4, axons=4, lanes=4, trace_port=False)


def _net(fire=False):
    cores = []
    for c in range(MP.cores):
        img = CoreImage(P)
        if fire:
            img = img.replace(neuron_params={"bias_mant": 4095, "bias_exp": 7, "vth": 0})
        cores.append(img)
    routes = [RouteTable.from_fanout(MP, P, [[(2, 0, 1, 1), "exit"]] * P.neurons)
              for _ in range(MP.cores)]
    return NetworkImage(mesh=MP, cores=cores, routes=routes)


def _simulate(dut, bench):
    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()


def test_free_running_timer_starts_a_step_every_period():
    dut = Mesh(_net())
    done_at = []

    async def bench(ctx):
        ctx.set(dut.ext_out.ready, 1)
        ctx.set(dut.period, 60)
        ctx.set(dut.free_run, 1)
        for clk in range(400):
            await ctx.tick()
            if ctx.get(dut.done):
                done_at.append(clk)
        ctx.set(dut.free_run, 0)
        for _ in range(200):
            await ctx.tick()
        assert ctx.get(dut.step) == len(done_at), "steps ran without free_run"
        assert ctx.get(dut.last_cycles) < 60

    _simulate(dut, bench)
    assert len(done_at) >= 6, f"only {len(done_at)} steps in 400 clocks with period 60"
    gaps = np.diff(done_at)
    assert (gaps == 60).all(), f"steps every {gaps.tolist()} clocks, expected 60"


def test_free_run_period_shorter_than_a_step_runs_back_to_back():
    dut = Mesh(_net(fire=True))
    done_at = []

    async def bench(ctx):
        ctx.set(dut.ext_out.ready, 1)
        ctx.set(dut.period, 0)
        ctx.set(dut.free_run, 1)
        for clk in range(600):
            await ctx.tick()
            if ctx.get(dut.done):
                done_at.append((clk, ctx.get(dut.last_cycles), ctx.get(dut.packets_in),
                                ctx.get(dut.packets_out)))

    _simulate(dut, bench)
    assert len(done_at) >= 5
    for (c0, *_), (c1, cycles, pin, pout) in zip(done_at, done_at[1:]):
        # back to back: the next step starts within 4 clocks of the barrier
        assert c1 - c0 <= cycles + 4, f"{c1 - c0} clocks between barriers, a step took {cycles}"
        assert pin == pout, f"barrier with {pin} packets in and {pout} out"
    # every neuron fires every step: 3 cores x 4 neurons x 2 entries per step
    assert done_at[-1][2] == 24 * len(done_at)


def test_cfg_outside_the_mesh_sets_status_and_reads_zero():
    dut = Mesh(_net())
    lay = layouts.mesh_cfg_layout(MP, P)
    ib = layouts.mesh_cfg_index_bits(MP, P)

    async def command(ctx, x, region, index, write, data=0):
        ctx.set(dut.cfg.payload, lay.const({"core": {"x": x, "y": 0},
                                            "addr": {"index": index, "region": region},
                                            "write": write, "data": data}))
        ctx.set(dut.cfg.valid, 1)
        await ctx.tick().until(dut.cfg.ready)
        ctx.set(dut.cfg.valid, 0)

    async def read(ctx, x, region, index):
        await command(ctx, x, region, index, 0)
        ctx.set(dut.cfg_rdata.ready, 1)
        for _ in range(20):
            if ctx.get(dut.cfg_rdata.valid):
                value = ctx.get(dut.cfg_rdata.payload)
                await ctx.tick()
                ctx.set(dut.cfg_rdata.ready, 0)
                return value
            await ctx.tick()
        raise AssertionError("no read data within 20 clocks")

    async def bench(ctx):
        for _ in range(10):
            await ctx.tick()
        assert ctx.get(dut.status) == 0
        assert await read(ctx, 2, Region.ROUTE, 0) == RouteTable.from_fanout(
            MP, P, [[(2, 0, 1, 1), "exit"]] * P.neurons).entry_words()[0]
        assert await read(ctx, 1, Region.REG, Reg.W_EXP) == 0
        await command(ctx, 1, Region.REG, Reg.W_EXP, 1, 5)
        assert await read(ctx, 1, Region.REG, Reg.W_EXP) == 5
        assert ctx.get(dut.status) == 0
        await command(ctx, 0, Region.ROUTE_PTR, 5, 1, 1)           # past the 4 neurons
        await ctx.tick()
        assert ctx.get(dut.status) == 0b100
        assert await read(ctx, 3, Region.REG, Reg.W_EXP) == 0      # x = 3: no such core

    _simulate(dut, bench)


@pytest.mark.slow
def test_an_8x8_array_generates():
    """Sizes beyond the tested 4 x 4 generate: an 8 x 8 array of small cores elaborates to
    RTLIL with 64 tiles and 64 routers (about 3.5 minutes on the 2-core machine)."""
    from amaranth.back import rtlil
    from spikefab.sim.runner import blank_network
    mp = MeshParams(width=8, height=8, route_entries=16)
    text = rtlil.convert(Mesh(blank_network(mp, P)), name="array_8x8")
    for x, y in ((0, 0), (7, 7), (3, 5)):
        assert f"tile_{x}_{y}" in text and f"router_{x}_{y}" in text
