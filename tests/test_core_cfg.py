"""The configuration port in Amaranth's own simulator: out-of-range commands change nothing."""

import numpy as np
from amaranth.sim import Simulator

from spikefab.rtl import layouts
from spikefab.rtl.core import NeuronCore
from spikefab.rtl.image import CoreImage
from spikefab.rtl.layouts import Reg, Region
from spikefab.rtl.params import CoreParams


def test_out_of_range_commands_change_nothing():
    p = CoreParams(neurons=8, axons=16, lanes=4)          # SYN has 32 words, PARAM 8 rows
    img = CoreImage.random(p, np.random.default_rng(1))
    dut = NeuronCore(img)
    ib = layouts.cfg_index_bits(p)
    results = {}

    async def command(ctx, region, index, write, data=0):
        ctx.set(dut.cfg.payload.addr.region, region)
        ctx.set(dut.cfg.payload.addr.index, index)
        ctx.set(dut.cfg.payload.write, write)
        ctx.set(dut.cfg.payload.data, data)
        ctx.set(dut.cfg.valid, 1)
        await ctx.tick().until(dut.cfg.ready)
        ctx.set(dut.cfg.valid, 0)
        if not write:
            ctx.set(dut.cfg_rdata.ready, 1)
            (value,) = await ctx.tick().sample(dut.cfg_rdata.payload).until(dut.cfg_rdata.valid)
            ctx.set(dut.cfg_rdata.ready, 0)
            return value

    async def bench(ctx):
        assert 8 < (1 << ib)                                 # index 8 is encodable for PARAM
        await command(ctx, Region.PARAM, 8, 1, (1 << 40) - 1)   # one past the last row
        await command(ctx, Region.PIDX, 0, 1, 1)                # PIDX does not exist here
        results["status"] = await command(ctx, Region.REG, Reg.STATUS, 0)
        results["params"] = [await command(ctx, Region.PARAM, i, 0) for i in range(8)]
        results["oob_read"] = await command(ctx, Region.STATE, 8, 0)
        await command(ctx, Region.REG, Reg.STATUS, 1, 0)        # any write clears
        results["cleared"] = await command(ctx, Region.REG, Reg.STATUS, 0)

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()
    assert results["status"] == 4, f"STATUS = {results['status']}: expected bit 2 (bad address)"
    assert results["params"] == img.param_words(), "an out-of-range write changed a parameter"
    assert results["oob_read"] == 0
    assert results["cleared"] == 0
