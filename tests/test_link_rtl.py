# amaranth: UnusedElaboratable=no
"""The host link's RTL in Amaranth's simulator against the Python reference
(firmware/link.py) and the shared known-answer vectors: FrameLink, the COBS encoder, the
UART pair, and Hypothesis fuzzing of FrameLink under noise, corruption and back-pressure."""

import random
import re

import pytest
from amaranth.back import verilog
from amaranth.sim import Simulator
from hypothesis import HealthCheck, given, settings, strategies as st

from spikefab.firmware import link_vectors
from spikefab.firmware.link import Frame, FrameDecoder, encode_frame, reply_to
from spikefab.rtl.cobs_encoder import CobsEncoder
from spikefab.rtl.frame_link import FrameLink
from spikefab.rtl.link_protocol import CMD_ERROR
from spikefab.rtl.params import ParamError
from spikefab.rtl.uart_rx import UARTReceiver
from spikefab.rtl.uart_tx import UARTTransmitter

from link_rtl_helpers import run_frame_link
from rtl_helpers import seed_for


VECTORS = link_vectors.load_vectors()
MAXP = VECTORS["max_payload"]
COMMANDS = tuple(VECTORS["commands"])


def expected(wire, max_payload=MAXP, commands=COMMANDS):
    """The frames the layer above must get and the bytes the link must answer, by the
    reference."""
    events = FrameDecoder(max_payload=max_payload, commands=commands).feed(wire)
    return ([e for e in events if isinstance(e, Frame)],
            b"".join(reply_to(e) for e in events))


def check_link(wire, *, max_payload=MAXP, commands=COMMANDS, **kw):
    dut = FrameLink(max_payload=max_payload, commands=commands)
    frames, sent, _ = run_frame_link(dut, wire, **kw)
    want_frames, want_sent = expected(wire, max_payload, commands)
    assert frames == want_frames
    assert sent.hex() == want_sent.hex()
    return frames, sent


@pytest.mark.parametrize("gap,backpressure", [(0.0, 0.0), (0.3, 0.5)])
def test_frame_link_stream_vectors(gap, backpressure):
    """Every stream of the vector file, each after a delimiter (so each starts afresh), in one
    run: the frames handed up and the error replies sent are those of the file."""
    wire, frames, replies = bytearray(), [], bytearray()
    for case in VECTORS["streams"]:
        wire += b"\x00" + bytes.fromhex(case["wire"])
        frames += [Frame(e["seq"], e["cmd"], bytes.fromhex(e["payload"]))
                   for e in case["events"] if e["kind"] == "frame"]
        replies += bytes.fromhex(case["replies"])
    dut = FrameLink(max_payload=MAXP, commands=COMMANDS)
    got_frames, sent, _ = run_frame_link(dut, bytes(wire), seed=seed_for("link vectors", 1),
                                         gap=gap, backpressure=backpressure)
    assert got_frames == frames
    assert sent.hex() == bytes(replies).hex()


def test_frame_link_long_frames_both_ways():
    """Frames of the vector file with payloads beyond a COBS block (254 bytes) in and out."""
    cases = [(c["seq"], c["cmd"], bytes.fromhex(c["payload"])) for c in VECTORS["frames"]]
    wire = b"".join(bytes.fromhex(c["wire"]) for c in VECTORS["frames"])
    dut = FrameLink(max_payload=512)
    frames, sent, _ = run_frame_link(dut, wire, tx_frames=cases, backpressure=0.2, seed=3)
    assert frames == [Frame(*c) for c in cases]
    assert sent.hex() == wire.hex()


def test_frame_link_sends_frames():
    """Frames from tx_frame leave as the reference encodes them, under back-pressure."""
    rng = random.Random(seed_for("link tx", 5))
    cases = [(rng.randrange(256), rng.randrange(256),
              bytes(rng.choice([0, rng.randrange(256)]) for _ in range(rng.randrange(40))))
             for _ in range(12)] + [(1, 2, b"")]
    dut = FrameLink(max_payload=64)
    frames, sent, _ = run_frame_link(dut, b"", tx_frames=cases, backpressure=0.4, seed=2)
    assert frames == []
    assert sent.hex() == b"".join(encode_frame(*c) for c in cases).hex()


def test_frame_link_errors_while_sending():
    """Garbage arrives while the layer above sends frames under back-pressure: what leaves is
    the user's frames in order, interleaved whole with the error replies in order."""
    rng = random.Random(seed_for("link interleave", 9))
    user = [(i, 0x10 + i, bytes(rng.randrange(256) for _ in range(rng.randrange(30))))
            for i in range(10)]
    wire = b"".join(link_vectors.corrupt(rng, encode_frame(i, 1, b"abc")) for i in range(30))
    dut = FrameLink(max_payload=MAXP, commands=COMMANDS, error_queue=2)
    frames, sent, _ = run_frame_link(dut, wire, tx_frames=user, backpressure=0.6, seed=4)
    want_frames, want_replies = expected(wire)
    assert frames == want_frames
    pieces = [p + b"\x00" for p in sent.split(b"\x00")[:-1]]
    errors = {p for p in want_replies.split(b"\x00")}
    got_errors = b"".join(p for p in pieces if p[:-1] in errors)
    got_user = b"".join(p for p in pieces if p[:-1] not in errors)
    assert got_errors == want_replies
    assert got_user == b"".join(encode_frame(*f) for f in user)


def test_cobs_encoder_vectors():
    """The COBS encoder alone, on every COBS vector (blocks of 1..254 bytes, 0xFF codes)."""
    dut = CobsEncoder()
    cases = [bytes.fromhex(c["data"]) for c in VECTORS["cobs"]]
    out = bytearray()
    rng = random.Random(7)

    async def feed(ctx):
        for data in cases:
            for i, byte in enumerate(data):
                ctx.set(dut.i.valid, 1)
                ctx.set(dut.i.payload, {"data": byte, "last": i == len(data) - 1})
                await ctx.tick().until(dut.i.ready)
            ctx.set(dut.i.valid, 0)
        for _ in range(600):
            await ctx.tick()

    async def sink(ctx):
        async for _, _, valid, ready, byte in ctx.tick().sample(dut.o.valid, dut.o.ready,
                                                                 dut.o.payload):
            if valid and ready:
                out.append(byte)
            ctx.set(dut.o.ready, rng.random() < 0.7)

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_process(sink)
    sim.add_testbench(feed)
    sim.run()
    assert out.hex() == b"".join(bytes.fromhex(c["encoded"]) + b"\x00"
                                 for c in VECTORS["cobs"]).hex()


def test_frame_link_parameters_checked():
    with pytest.raises(ParamError, match=re.escape("max_payload = 0 is out of range: "
                                                   "allowed 1..65535")):
        FrameLink(max_payload=0)
    with pytest.raises(ParamError, match=re.escape("commands must hold integers in 0..254, "
                                                   "not 255")):
        FrameLink(commands=[1, CMD_ERROR])
    with pytest.raises(ParamError, match=re.escape("error_queue = 0 is out of range: "
                                                   "allowed 1..256")):
        FrameLink(error_queue=0)
    with pytest.raises(ParamError, match="commands must hold at least one command byte"):
        FrameLink(commands=[])
    with pytest.raises(ParamError, match=re.escape("clocks_per_bit = 3 is out of range")):
        UARTReceiver(clocks_per_bit=3)
    with pytest.raises(ParamError, match=re.escape("clocks_per_bit must be an integer")):
        UARTTransmitter(clocks_per_bit=8.5)


def test_frame_link_converts_to_verilog():
    text = verilog.convert(FrameLink(max_payload=256), name="frame_link", emit_src=False)
    assert "module frame_link" in text


# --- UART ---------------------------------------------------------------------------------

def run_uart_rx(clocks_per_bit, chars, *, baud_error=0.0, ready=True):
    """Drive ``rx`` with 8N1 characters ``(byte, stop_bit)`` at a baud rate off by
    ``baud_error``; return the bytes received and the framing and overrun flags."""
    dut = UARTReceiver(clocks_per_bit=clocks_per_bit)
    got = []
    bit_time = clocks_per_bit * (1 + baud_error)

    async def line(ctx):
        t = 0.0
        now = 0
        ctx.set(dut.bytes.ready, int(ready))
        for _ in range(5):
            await ctx.tick()
            now += 1
        for byte, stop in chars:
            bits = [0] + [(byte >> i) & 1 for i in range(8)] + [stop, 1]
            for b in bits:
                ctx.set(dut.rx, b)
                t += bit_time
                while now < round(t):
                    await ctx.tick()
                    now += 1
                    if ctx.get(dut.bytes.valid) and ready:
                        got.append(ctx.get(dut.bytes.payload))
        for _ in range(3 * clocks_per_bit):
            await ctx.tick()
            if ctx.get(dut.bytes.valid) and ready:
                got.append(ctx.get(dut.bytes.payload))
        return

    flags = {}

    async def bench(ctx):
        await line(ctx)
        flags["framing_error"] = ctx.get(dut.framing_error)
        flags["overrun"] = ctx.get(dut.overrun)
        flags["valid"] = ctx.get(dut.bytes.valid)

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()
    return got, flags


@pytest.mark.parametrize("baud_error", [-0.03, 0.0, 0.03])
def test_uart_rx_bytes(baud_error):
    """Random characters back to back, with the sender's baud rate off by up to 3 %."""
    rng = random.Random(seed_for("uart rx", 11))
    data = [rng.randrange(256) for _ in range(24)] + [0x00, 0xFF, 0x55]
    got, flags = run_uart_rx(16, [(b, 1) for b in data], baud_error=baud_error)
    assert got == data
    assert flags == {"framing_error": 0, "overrun": 0, "valid": 0}


def test_uart_rx_framing_error_and_overrun():
    got, flags = run_uart_rx(8, [(0x12, 1), (0x34, 0), (0x56, 1)])
    assert got == [0x12, 0x56] and flags["framing_error"] == 1
    got, flags = run_uart_rx(8, [(0x12, 1), (0x34, 1)], ready=False)
    assert flags["overrun"] == 1 and flags["valid"] == 1


def test_uart_loopback_at_line_rate():
    """Transmitter into receiver: every byte arrives, and a continuous stream takes exactly
    10 bit times per character."""
    cpb = 6
    tx, rx = UARTTransmitter(clocks_per_bit=cpb), UARTReceiver(clocks_per_bit=cpb)
    from amaranth.hdl import Module
    m = Module()
    m.submodules.tx, m.submodules.rx = tx, rx
    m.d.comb += rx.rx.eq(tx.tx)
    data = list(range(256))
    got, stamps = [], []

    async def feed(ctx):
        for byte in data:
            ctx.set(tx.bytes.valid, 1)
            ctx.set(tx.bytes.payload, byte)
            await ctx.tick().until(tx.bytes.ready)
            stamps.append(ctx.get(cycle))
        ctx.set(tx.bytes.valid, 0)
        for _ in range(12 * cpb):
            await ctx.tick()

    cycle = __import__("amaranth.hdl", fromlist=["Signal"]).Signal(32)
    m.d.sync += cycle.eq(cycle + 1)

    async def sink(ctx):
        ctx.set(rx.bytes.ready, 1)
        async for _, _, valid, byte in ctx.tick().sample(rx.bytes.valid, rx.bytes.payload):
            if valid:
                got.append(byte)

    sim = Simulator(m)
    sim.add_clock(1e-6)
    sim.add_process(sink)
    sim.add_testbench(feed)
    sim.run()
    assert got == data
    gaps = {b - a for a, b in zip(stamps, stamps[1:])}
    assert gaps == {10 * cpb}


# --- fuzzing ------------------------------------------------------------------------------

frames = st.tuples(st.integers(0, 255), st.sampled_from(COMMANDS + (0x00, 0x40, CMD_ERROR)),
                   st.binary(max_size=MAXP + 3))
junk = st.tuples(st.binary(max_size=10), frames, st.integers(0, 2**32 - 1))


def _fuzz_wire(spoilt, final):
    wire = bytearray()
    for noise, f, seed in spoilt:
        wire += noise + link_vectors.corrupt(random.Random(seed), encode_frame(*f))
    return bytes(wire) + b"\x00" + encode_frame(*final)


def _fuzz_check(spoilt, final, bp_seed):
    wire = _fuzz_wire(spoilt, final)
    rng = random.Random(bp_seed)
    frames_got, _ = check_link(wire, seed=bp_seed, gap=rng.choice([0.0, 0.3]),
                               backpressure=rng.choice([0.0, 0.5]))
    # the good frame after the garbage is received intact
    assert frames_got[-1:] == [Frame(*final)] or final[1] not in COMMANDS \
        or len(final[2]) > MAXP


RTL_FUZZ = dict(deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))


@settings(max_examples=20, **RTL_FUZZ)
@given(st.lists(junk, min_size=1, max_size=4), frames, st.integers(0, 1000))
def test_fuzz_frame_link(spoilt, final, bp_seed):
    """Noise, spoilt frames and a good frame: the RTL hands up exactly the reference's frames
    and sends exactly its error replies, never hangs, and recovers at the next delimiter."""
    _fuzz_check(spoilt, final, bp_seed)


@pytest.mark.slow
@settings(max_examples=400, **RTL_FUZZ)
@given(st.lists(junk, min_size=1, max_size=6), frames, st.integers(0, 1000))
def test_fuzz_frame_link_long(spoilt, final, bp_seed):
    _fuzz_check(spoilt, final, bp_seed)
