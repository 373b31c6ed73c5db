# amaranth: UnusedElaboratable=no
"""Array control in Amaranth's simulator: the free-running step timer, the step barrier's
counters and the configuration port's checks (the cocotb benches cover the data path)."""

import numpy as np
import pytest
from amaranth.sim import Simulator

from spikefab.rtl import layouts
from spikefab.rtl.image import CoreImage
from spikefab.rtl.layouts import Reg, Region
from spikefab.rtl.host import Error, Kind, Op, STATUS_COMMAND, host_command_layout
from spikefab.rtl.mesh import FanOut, Mesh, Tile
from spikefab.rtl.netimage import NetworkImage, RouteTable
from spikefab.rtl.params import CoreParams, MeshParams, ParamError


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


def test_sum_adds_counts_without_overflow():
    # the array adds one count per row of tiles: the sum's width covers every count at its
    # largest
    from amaranth.hdl import Module, Signal
    from spikefab.rtl.mesh import _sum
    m = Module()
    counts = [Signal(range(w + 1), name=f"c{k}") for k, w in enumerate([1, 3, 4, 4, 7])]
    total = _sum(m, counts, "total")
    sim = Simulator(m)

    async def bench(ctx):
        for v in ([0, 0, 0, 0, 0], [1, 3, 4, 4, 7], [1, 2, 0, 3, 5]):
            for c, x in zip(counts, v):
                ctx.set(c, x)
            assert ctx.get(total) == sum(v)
    sim.add_testbench(bench)
    sim.run()


def _done(ctx, dut):
    """The counters of a DONE record taken in this clock (reply ready is held high), else None."""
    if ctx.get(dut.host.reply.valid):
        rep = ctx.get(dut.host.reply.payload)
        if rep.kind == Kind.DONE:
            c = rep.body.counters
            return c.step, c.cycles, c.packets_in, c.packets_out
    return None


async def _command(ctx, dut, **fields):
    ctx.set(dut.host.cmd.payload, host_command_layout(MP, P).const(fields))
    ctx.set(dut.host.cmd.valid, 1)
    await ctx.tick().until(dut.host.cmd.ready)
    ctx.set(dut.host.cmd.valid, 0)


async def _reply(ctx, dut, within=20):
    ctx.set(dut.host.reply.ready, 1)
    for _ in range(within):
        if ctx.get(dut.host.reply.valid):
            rep = ctx.get(dut.host.reply.payload)
            await ctx.tick()
            return rep
        await ctx.tick()
    raise AssertionError(f"no reply within {within} clocks")


async def _counters(ctx, dut):
    await _command(ctx, dut, op=Op.COUNTERS)
    rep = await _reply(ctx, dut)
    assert rep.kind == Kind.COUNTERS
    return rep.body.counters


def test_free_running_timer_starts_a_step_every_period():
    dut = Mesh(_net())
    done_at = []

    async def bench(ctx):
        ctx.set(dut.host.reply.ready, 1)
        ctx.set(dut.period, 60)
        ctx.set(dut.free_run, 1)
        for clk in range(400):
            if _done(ctx, dut):
                done_at.append(clk)
            await ctx.tick()
        ctx.set(dut.free_run, 0)
        for _ in range(200):
            await ctx.tick()
        counters = await _counters(ctx, dut)
        assert counters.step == len(done_at), "steps ran without free_run"
        assert counters.cycles < 60

    _simulate(dut, bench)
    assert len(done_at) >= 6, f"only {len(done_at)} steps in 400 clocks with period 60"
    gaps = np.diff(done_at)
    assert (gaps == 60).all(), f"steps every {gaps.tolist()} clocks, expected 60"


def test_free_run_period_shorter_than_a_step_runs_back_to_back():
    dut = Mesh(_net(fire=True))
    done_at = []

    async def bench(ctx):
        ctx.set(dut.host.reply.ready, 1)
        ctx.set(dut.period, 0)
        ctx.set(dut.free_run, 1)
        for clk in range(600):
            rec = _done(ctx, dut)
            if rec:
                done_at.append((clk, *rec[1:]))
            await ctx.tick()

    _simulate(dut, bench)
    assert len(done_at) >= 5
    for (c0, *_), (c1, cycles, pin, pout) in zip(done_at, done_at[1:]):
        # back to back: the next step starts within 4 clocks of the barrier
        assert c1 - c0 <= cycles + 4, f"{c1 - c0} clocks between barriers, a step took {cycles}"
        assert pin == pout, f"barrier with {pin} packets in and {pout} out"
    # every neuron fires every step: 3 cores x 4 neurons x 2 entries per step
    assert done_at[-1][2] == 24 * len(done_at)


def test_step_command_runs_n_steps_with_spikes_before_each_done():
    dut = Mesh(_net(fire=True))
    replies = []

    async def bench(ctx):
        await _command(ctx, dut, op=Op.STEP, arg={"run": {"steps": 3}})
        while len([r for r in replies if r[0] == Kind.DONE]) < 3:
            rep = await _reply(ctx, dut, within=300)
            body = rep.body.counters if rep.kind == Kind.DONE else rep.body.spike
            replies.append((rep.kind, body.step))

    _simulate(dut, bench)
    # every neuron of the 3 cores fires every step and has one exit entry: 12 spike records
    # of step t, then the DONE record counting t + 1 steps
    expected = []
    for t in range(3):
        expected += [(Kind.SPIKE, t)] * 12 + [(Kind.DONE, t + 1)]
    assert replies == expected


def test_refused_commands_change_nothing_and_give_one_error_each():
    dut = Mesh(_net())

    async def read(ctx, x, region, index):
        await _command(ctx, dut, op=Op.READ, core={"x": x, "y": 0},
                       arg={"cfg": {"addr": {"region": region, "index": index}}})
        return await _reply(ctx, dut)

    async def bench(ctx):
        for _ in range(10):
            await ctx.tick()
        assert (await _counters(ctx, dut)).status == 0
        rep = await read(ctx, 2, Region.ROUTE, 0)
        assert rep.kind == Kind.DATA and rep.body.data == RouteTable.from_fanout(
            MP, P, [[(2, 0, 1, 1), "exit"]] * P.neurons).entry_words()[0]
        assert (await read(ctx, 1, Region.REG, Reg.W_EXP)).body.data == 0
        await _command(ctx, dut, op=Op.WRITE, core={"x": 1, "y": 0},
                       arg={"cfg": {"addr": {"region": Region.REG, "index": Reg.W_EXP},
                                    "data": 5}})
        assert (await read(ctx, 1, Region.REG, Reg.W_EXP)).body.data == 5
        assert (await _counters(ctx, dut)).status == 0
        # past the 4 neurons: refused, one ERROR record, status bit 2
        await _command(ctx, dut, op=Op.WRITE, core={"x": 0, "y": 0},
                       arg={"cfg": {"addr": {"region": Region.ROUTE_PTR, "index": 5},
                                    "data": 1}})
        rep = await _reply(ctx, dut)
        assert (rep.kind, rep.body.error.code, rep.body.error.op) == \
            (Kind.ERROR, Error.BAD_ADDRESS, Op.WRITE)
        assert (await _counters(ctx, dut)).status == 1 << STATUS_COMMAND
        rep = await read(ctx, 3, Region.REG, Reg.W_EXP)           # x = 3: no such core
        assert (rep.kind, rep.body.error.code) == (Kind.ERROR, Error.BAD_CORE)
        await _command(ctx, dut, op=7)
        rep = await _reply(ctx, dut)
        assert (rep.kind, rep.body.error.code) == (Kind.ERROR, Error.UNKNOWN_OP)
        assert (await read(ctx, 0, Region.ROUTE_PTR, 0)).body.data == \
            RouteTable.from_fanout(MP, P, [[(2, 0, 1, 1), "exit"]] * P.neurons).ptr_words()[0]

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


def test_fanout_and_tile_check_their_parameters():
    route = RouteTable.from_fanout(MP, P, [[]] * P.neurons)
    with pytest.raises(ParamError, match=r"^x = 3 is out of range: allowed 0\.\.2$"):
        FanOut(mesh=MP, params=P, route=route, x=3, y=0)
    with pytest.raises(ParamError, match=r"^y must be an integer in 0\.\.0, not '0'$"):
        Tile(mesh=MP, core_image=CoreImage(P), route=route, x=0, y="0")
    with pytest.raises(ParamError, match=r"^mesh must be a MeshParams, not None$"):
        FanOut(mesh=None, params=P, route=route, x=0, y=0)
    other = RouteTable.from_fanout(MeshParams(width=2), P, [[]] * P.neurons)
    with pytest.raises(ParamError, match="^route must be a RouteTable of the same mesh"):
        Tile(mesh=MP, core_image=CoreImage(P), route=other, x=0, y=0)
    with pytest.raises(TypeError):
        FanOut(MP, P, route, 0, 0)          # keyword-only


@pytest.mark.parametrize("count", [1, 2, 3, 7, 1024, 4096])
def test_popcount_counts_any_number_of_bits(count):
    # the array's packet counters add one bit per tile; a linear adder chain overflowed
    # Python's recursion limit from 18 x 18 tiles on (issue: documented sizes crashed)
    from amaranth.hdl import Module, Signal
    from spikefab.rtl.mesh import _sum
    rng = np.random.default_rng(count)
    m = Module()
    bits = [Signal(name=f"b{k}") for k in range(count)]
    total = _sum(m, bits, "total")
    sim = Simulator(m)
    values = [rng.integers(0, 2, count) for _ in range(3)] + [np.ones(count, int)]

    async def bench(ctx):
        for v in values:
            for b, x in zip(bits, v):
                ctx.set(b, int(x))
            assert ctx.get(total) == int(v.sum())
    sim.add_testbench(bench)
    sim.run()
