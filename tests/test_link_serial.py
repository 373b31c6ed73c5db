# amaranth: UnusedElaboratable=no
"""The host link on its serial line, bit by bit in Amaranth's simulator: a host sends good and
malformed frames as 8N1 characters; the layer above echoes every good frame; what comes back
on ``tx`` is exactly the echoes and the reference's error replies."""

import random

from amaranth.sim import Simulator

from spikefab.firmware.link import (
    Frame, FrameDecoder, FrameError, LinkError, encode_frame, reply_to,
)
from spikefab.rtl.link_protocol import CMD_ERROR
from spikefab.rtl.serial_link import SerialFrameLink

from rtl_helpers import seed_for


CPB = 8
COMMANDS = (1, 2, 3)


def uart_levels(data, cpb, idle=0):
    """The line level in each clock for ``data`` sent as 8N1 characters."""
    levels = []
    for byte in data:
        for bit in [0] + [(byte >> i) & 1 for i in range(8)] + [1] + [1] * idle:
            levels += [bit] * cpb
    return levels


class LineReceiver:
    """Decodes 8N1 characters from a line sampled once per clock."""

    def __init__(self, cpb):
        self.cpb, self.data, self.t, self.prev = cpb, bytearray(), None, 1
        self._bits = [0] * 8

    def sample(self, level):
        if self.t is None:
            if self.prev and not level:
                self.t = 0
        else:
            self.t += 1
            if self.t == self.cpb * 10 - self.cpb // 2:         # middle of the stop bit
                assert level == 1, "stop bit low on tx"
                bits = [self._bits[i] for i in range(8)]
                self.data.append(sum(b << i for i, b in enumerate(bits)))
                self.t = None
            elif (self.t - self.cpb // 2) % self.cpb == 0 and self.t > self.cpb // 2:
                self._bits[(self.t - self.cpb // 2) // self.cpb - 1] = level
        self.prev = level


def run_serial(wire, *, cpb=CPB, drain_chars=80):
    dut = SerialFrameLink(clocks_per_bit=cpb, max_payload=32, commands=COMMANDS)
    line = LineReceiver(cpb)
    levels = uart_levels(wire, cpb)

    async def host(ctx):
        for level in levels + [1] * (drain_chars * 10 * cpb):
            ctx.set(dut.rx, level)
            await ctx.tick()
            line.sample(ctx.get(dut.tx))

    async def echo(ctx):
        """Takes each frame from rx_frame, then sends it back on tx_frame (one state machine
        over the clock, so that the process can be left running when the bench ends)."""
        payload, pending = bytearray(), []
        ctx.set(dut.rx_frame.ready, 1)
        async for _, _, valid, p, tx_ready in ctx.tick().sample(
                dut.rx_frame.valid, dut.rx_frame.payload, dut.tx_frame.ready):
            if pending and tx_ready:
                pending.pop(0)
            if valid and not pending:
                if p.length:
                    payload.append(p.data)
                if p.last:
                    data = bytes(payload) or b"\x00"
                    pending = [{"seq": p.seq, "cmd": p.cmd, "length": len(payload),
                                "data": byte, "first": i == 0, "last": i == len(data) - 1}
                               for i, byte in enumerate(data)]
                    payload = bytearray()
            ctx.set(dut.tx_frame.valid, bool(pending))
            if pending:
                ctx.set(dut.tx_frame.payload, pending[0])
            ctx.set(dut.rx_frame.ready, not pending)

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_process(echo)
    sim.add_testbench(host)
    sim.run()
    return bytes(line.data)


def test_serial_link_echo_and_errors():
    rng = random.Random(seed_for("serial link", 17))
    frames = [(1, 1, b"hello"), (2, 2, b""), (3, 3, bytes(32))]
    wire = bytearray(b"\x00")
    wire += encode_frame(*frames[0])
    wire += bytes([0x13, 0x37, 0x00])                                  # noise
    bad = bytearray(encode_frame(9, 1, b"crc"))
    bad[3] ^= 0x10
    wire += bad                                                         # bad CRC
    wire += encode_frame(*frames[1])
    wire += encode_frame(10, 7, b"?")                                   # unknown command
    wire += encode_frame(11, 2, bytes(rng.randrange(1, 256) for _ in range(40)))  # oversize
    wire += encode_frame(*frames[2])
    events = FrameDecoder(max_payload=32, commands=COMMANDS).feed(bytes(wire))
    assert [type(e) for e in events] == [Frame, FrameError, FrameError, Frame, FrameError,
                                         FrameError, Frame]
    assert [e.code for e in events if isinstance(e, FrameError)] == [
        LinkError.CUT_SHORT, LinkError.BAD_CRC, LinkError.UNKNOWN_COMMAND, LinkError.OVERSIZE]
    back = run_serial(bytes(wire))
    # each echo or error reply leaves in the order its frame arrived
    want = b"".join(encode_frame(*e) if isinstance(e, Frame) else reply_to(e) for e in events)
    assert back.hex() == want.hex()
    got = FrameDecoder(max_payload=32, commands=COMMANDS + (CMD_ERROR,)).feed(back)
    assert [e for e in got if e.cmd != CMD_ERROR] == [Frame(*f) for f in frames]


def test_serial_link_sends_at_line_rate():
    """Two 256-byte frames sent back to back at 4 clocks per bit leave with no idle time
    between characters (the transmit FIFO covers the COBS encoder's block gathering): the
    payload gets 512 / 528 = 97.0 % of the line rate."""
    cpb = 4
    dut = SerialFrameLink(clocks_per_bit=cpb, max_payload=256)
    rng = random.Random(seed_for("serial rate", 1))
    frames = [(i, 1, bytes(rng.randrange(256) for _ in range(256))) for i in range(2)]
    wire = b"".join(encode_frame(*f) for f in frames)
    line = LineReceiver(cpb)
    span = {}

    async def feed(ctx):
        for seq, cmd, payload in frames:
            for i, byte in enumerate(payload):
                ctx.set(dut.tx_frame.valid, 1)
                ctx.set(dut.tx_frame.payload, {"seq": seq, "cmd": cmd, "length": len(payload),
                                               "data": byte, "first": i == 0,
                                               "last": i == len(payload) - 1})
                await ctx.tick().until(dut.tx_frame.ready)
        ctx.set(dut.tx_frame.valid, 0)

    async def watch(ctx):
        n, first, last = 0, None, None
        while last is None or n - last < 20 * cpb:
            await ctx.tick()
            n += 1
            level = ctx.get(dut.tx)
            line.sample(level)
            if not level:
                first = n if first is None else first
                last = n
        span["clocks"] = last - first + 1

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(feed)
    sim.add_testbench(watch)
    sim.run()
    assert bytes(line.data) == wire
    # from the first start bit to the last low bit (bit 8 of the final 0x00 delimiter)
    assert span["clocks"] == (10 * len(wire) - 1) * cpb
