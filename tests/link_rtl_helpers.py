"""Run the host link's RTL in Amaranth's simulator and return plain Python data, to compare
with the reference in ``firmware/link.py``."""

import random

from amaranth.sim import Simulator

from spikefab.firmware.link import Frame


def frames_from_transfers(transfers):
    """Group ``rx_frame`` transfers (dicts of the frame layout) into :class:`Frame` tuples,
    checking that the header holds over each frame and the length matches the payload."""
    frames, cur = [], None
    for t in transfers:
        if cur is None:
            assert t["first"], f"a frame starts without first: {t}"
            cur = (t["seq"], t["cmd"], t["length"], bytearray())
        else:
            assert not t["first"], f"first inside a frame: {t}"
            assert (t["seq"], t["cmd"], t["length"]) == cur[:3], f"header changed: {t}"
        if cur[2]:
            cur[3].append(t["data"])
        else:
            assert t["data"] == 0 and t["last"], f"an empty frame is one transfer: {t}"
        if t["last"]:
            assert len(cur[3]) == cur[2], f"length {cur[2]}, got {len(cur[3])} bytes"
            frames.append(Frame(cur[0], cur[1], bytes(cur[3])))
            cur = None
    assert cur is None, "a frame was left unfinished"
    return frames


def _unpack(payload):
    return {name: int(getattr(payload, name)) for name in
            ("seq", "cmd", "length", "data", "first", "last")}


def run_frame_link(dut, wire, *, tx_frames=(), seed=0, gap=0.0, backpressure=0.0,
                   drain=300, max_cycles=200_000):
    """Feed ``wire`` into ``dut.rx_bytes`` and ``tx_frames`` (``(seq, cmd, payload)``) into
    ``dut.tx_frame``; return ``(frames received, bytes sent, cycles)``.

    ``gap`` is the chance of an idle clock before each input byte, ``backpressure`` the chance
    that an output's ready is low in a clock. The run ends ``drain`` clocks after the last
    input, or fails after ``max_cycles`` (a hang)."""
    rng = random.Random(seed)
    transfers, sent = [], bytearray()
    cycles = [0]
    done = [False, False]

    async def feed_bytes(ctx):
        for byte in wire:
            while rng.random() < gap:
                await ctx.tick()
            ctx.set(dut.rx_bytes.valid, 1)
            ctx.set(dut.rx_bytes.payload, byte)
            await ctx.tick().until(dut.rx_bytes.ready)
            ctx.set(dut.rx_bytes.valid, 0)
        done[0] = True

    async def feed_frames(ctx):
        for seq, cmd, payload in tx_frames:
            n = len(payload)
            payload = bytes(payload) or b"\x00"        # an empty payload: one transfer
            for i, byte in enumerate(payload):
                ctx.set(dut.tx_frame.valid, 1)
                ctx.set(dut.tx_frame.payload, {
                    "seq": seq, "cmd": cmd, "length": n, "data": byte,
                    "first": i == 0, "last": i == len(payload) - 1})
                await ctx.tick().until(dut.tx_frame.ready)
            ctx.set(dut.tx_frame.valid, 0)
        done[1] = True

    async def sink(ctx, port, record):
        ctx.set(port.ready, 1)
        async for _, _, valid, ready, payload in ctx.tick().sample(
                port.valid, port.ready, port.payload):
            if valid and ready:
                record(payload)
            ctx.set(port.ready, rng.random() >= backpressure)

    async def bench(ctx):
        idle = 0
        while idle < drain:
            await ctx.tick()
            cycles[0] += 1
            assert cycles[0] < max_cycles, "the link hung"
            idle = idle + 1 if all(done) else 0

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_process(feed_bytes)
    sim.add_process(feed_frames)

    async def sink_frames(ctx):
        await sink(ctx, dut.rx_frame, lambda p: transfers.append(_unpack(p)))

    async def sink_bytes(ctx):
        await sink(ctx, dut.tx_bytes, lambda p: sent.append(int(p)))

    sim.add_process(sink_frames)
    sim.add_process(sink_bytes)
    sim.add_testbench(bench)
    sim.run()
    return frames_from_transfers(transfers), bytes(sent), cycles[0]
