"""Run the host link's frame and command layers with a design in Amaranth's simulator, and the
Python reference of what they answer (``firmware/link.py``, ``firmware/command.py``)."""

import numpy as np
from amaranth.hdl import Module
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out
from amaranth.sim import Simulator

from spikefab.firmware.command import CommandModel, IDENTIFY_REPLY
from spikefab.firmware.link import (Frame, FrameDecoder, cobs_decode, crc16, encode_frame,
                                    error_frame)
from spikefab.firmware.protocol import HostCodec
from spikefab.rtl import layouts
from spikefab.rtl.command_link import CommandLink
from spikefab.rtl.frame_link import FrameLink
from spikefab.rtl.host import Kind, host_reply_layout
from spikefab.rtl.layouts import Region
from spikefab.rtl.link_protocol import command_bytes
from spikefab.rtl.netimage import NetworkImage
from spikefab.rtl.top import top_for


class LinkedDesign(wiring.Component):
    """:class:`FrameLink`, :class:`CommandLink` and the design of ``image``: the board top
    without its UART (bytes in, bytes out)."""

    rx_bytes: In(stream.Signature(8))
    tx_bytes: Out(stream.Signature(8))

    def __init__(self, image, max_payload):
        self.image, self.codec = image, HostCodec.for_image(image)
        self.frame = FrameLink(max_payload=max_payload, commands=command_bytes())
        self.command = CommandLink(self.codec.mesh, image.params, routing=self.codec.routing,
                                   max_payload=max_payload)
        self.design = top_for(image)
        super().__init__()

    def elaborate(self, platform):
        m = Module()
        m.submodules.frame, m.submodules.command = self.frame, self.command
        m.submodules.design = self.design
        wiring.connect(m, rx=wiring.flipped(self.rx_bytes), frame=self.frame.rx_bytes)
        wiring.connect(m, frame=self.frame.tx_bytes, tx=wiring.flipped(self.tx_bytes))
        wiring.connect(m, frame=self.frame.rx_frame, command=self.command.rx_frame)
        wiring.connect(m, command=self.command.tx_frame, frame=self.frame.tx_frame)
        wiring.connect(m, command=self.command.host, design=self.design.host)
        if isinstance(self.image, NetworkImage):
            m.d.comb += [self.design.free_run.eq(0), self.design.period.eq(0)]
        return m


def split_replies(data):
    """Wire bytes into ``(seq, cmd, payload)`` frames (every one must be well formed)."""
    frames = []
    for raw in bytes(data).split(b"\x00")[:-1]:
        dec = cobs_decode(raw)
        assert len(dec) >= 6 and crc16(dec) == 0, f"a malformed reply frame: {raw.hex()}"
        length = dec[2] | dec[3] << 8
        assert length == len(dec) - 6, f"reply frame length {length}, payload {len(dec) - 6}"
        frames.append((dec[0], dec[1], bytes(dec[4:-2])))
    return frames


def image_words(image):
    """``{(core, region): words}`` of every memory of ``image`` the host can read."""
    imgs = image.cores if isinstance(image, NetworkImage) else [image]
    out = {}
    for c, img in enumerate(imgs):
        p = img.params
        out[c, Region.SYN] = list(img.syn_words())
        out[c, Region.PARAM] = list(img.param_words())
        out[c, Region.STATE] = list(img.state_words())
        if p.param_mode == "profile":
            out[c, Region.PIDX] = list(img.pidx_words())
        if isinstance(image, NetworkImage):
            out[c, Region.ROUTE_PTR] = list(image.routes[c].ptr_words())
            out[c, Region.ROUTE] = list(image.routes[c].entry_words())
    return out


class BoardModel:
    """The reference answer of the frame and command layers to a byte stream, for requests
    whose replies are predictable: ``IDENTIFY`` and ``HOST`` frames of ``READ``s of a known
    memory (``memory``: ``{(core, region, index): word}``) and ``WRITE``s (which update it)."""

    def __init__(self, image, max_payload, memory):
        self.codec = HostCodec.for_image(image)
        self.model = CommandModel(self.codec, max_payload=max_payload)
        self.decoder = FrameDecoder(max_payload=max_payload, commands=command_bytes())
        self.fields = self.codec.command_fields()
        self.reply_layout = host_reply_layout(self.codec.mesh, self.codec.params)
        self.memory = memory

    def data_word(self, value):
        return int(layouts.pack(self.reply_layout, {"kind": Kind.DATA, "body.data": value})[0])

    def answer(self, event):
        """The reply frames ``(seq, cmd, payload)`` of one decoder event."""
        if not isinstance(event, Frame):
            return [(event.seq, 0xFF, bytes([event.code, event.cmd]))]
        code = self.model.judge(event.cmd, event.payload)
        if code is not None:
            return [(event.seq, 0xFF, bytes([code, event.cmd]))]
        if event.cmd == IDENTIFY_REPLY & 0x7F:
            return [(event.seq, IDENTIFY_REPLY, self.model.identify_payload())]
        replies = []
        for w in self.words(event.payload):
            f = self.fields(w)
            core = self.codec.mesh.core_index(f["core.x"], f["core.y"])
            key = (core, f["arg.cfg.addr.region"], f["arg.cfg.addr.index"])
            if f["op"] == 1:
                replies.append(self.data_word(self.memory[key]))
            elif f["op"] == 0:
                self.memory[key] = f["arg.cfg.data"]
            else:
                raise AssertionError("the board model answers READ and WRITE only")
        return [(event.seq, cmd, payload) for cmd, payload in self.model.reply_frames(replies)]

    def words(self, payload):
        n = self.model.cmd_bytes
        return [int.from_bytes(payload[k:k + n], "little") for k in range(0, len(payload), n)]

    def feed(self, segment):
        out = []
        for ev in self.decoder.feed(segment):
            out += self.answer(ev)
        return out


def memory_of(image):
    return {(c, int(r), i): w for (c, r), words in image_words(image).items()
            for i, w in enumerate(words)}


def run_segments(dut, segments, expect, *, max_cycles_per_segment=20_000, gap_rng=None):
    """Feed each byte segment into ``dut.rx_bytes``, then wait until the reply frames the
    reference gives for it (``expect(segment)``) have come out of ``dut.tx_bytes``; return
    ``(every reply frame received, every reply frame expected, cycles)``. A segment whose
    replies do not all come within ``max_cycles_per_segment`` clocks fails (a hang)."""
    got_bytes, state = bytearray(), {"cycles": 0}
    wanted = []

    async def sink(ctx):
        ctx.set(dut.tx_bytes.ready, 1)
        async for _, _, valid, payload in ctx.tick().sample(dut.tx_bytes.valid,
                                                            dut.tx_bytes.payload):
            if valid:
                got_bytes.append(int(payload))

    async def bench(ctx):
        for seg in segments:
            want = expect(seg)
            wanted.extend(want)
            for byte in seg:
                if gap_rng is not None and gap_rng.random() < 0.2:
                    await ctx.tick()
                ctx.set(dut.rx_bytes.valid, 1)
                ctx.set(dut.rx_bytes.payload, byte)
                await ctx.tick().until(dut.rx_bytes.ready)
                state["cycles"] += 1
            ctx.set(dut.rx_bytes.valid, 0)
            waited = 0
            while got_bytes.count(0) < len(wanted):
                await ctx.tick()
                waited += 1
                assert waited < max_cycles_per_segment, (
                    f"no reply within {max_cycles_per_segment} clocks (a hang) after "
                    f"{bytes(seg).hex()}")
            state["cycles"] += waited
        for _ in range(50):
            await ctx.tick()

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_process(sink)
    sim.add_testbench(bench)
    sim.run()
    return split_replies(got_bytes), wanted, state["cycles"]


def request(seq, cmd, payload=b""):
    return b"\x00" + encode_frame(seq, cmd, payload)


__all__ = ["LinkedDesign", "split_replies", "image_words", "BoardModel", "memory_of",
           "run_segments", "request", "error_frame", "np"]
