"""Run the host link's frame and command layers with a design in Amaranth's simulator, and the
Python reference of what they answer (``firmware/link.py``, ``firmware/command.py``)."""

import numpy as np
from amaranth.hdl import Module
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out
from amaranth.sim import Simulator

from spikefab.firmware import link_vectors
from spikefab.firmware.command import CommandModel, IDENTIFY_REPLY, words_to_bytes
from spikefab.firmware.link import (Frame, FrameDecoder, cobs_decode, crc16, encode_frame,
                                    error_frame)
from spikefab.firmware.protocol import HostCodec
from spikefab.rtl import layouts
from spikefab.rtl.command_link import CommandLink
from spikefab.rtl.frame_link import FrameLink
from spikefab.rtl.host import Kind, host_reply_layout
from spikefab.rtl.layouts import Region
from spikefab.rtl.link_protocol import LinkError, command_bytes
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
                    ctx.set(dut.rx_bytes.valid, 0)
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




def _host_frame(bm, seq, words):
    return words_to_bytes(words, bm.model.cmd_bytes)


def fuzz_segments(rng, bm, n, *, readable=None):
    """``n`` random byte segments for the board model ``bm``: good ``READ`` and ``IDENTIFY``
    requests, and requests that must be refused (spoilt ``WRITE`` frames: bit flips, bytes
    dropped or inserted, cut short, noise; well-formed frames with a bad address, core,
    region, op, axon, delay, length, padding or command; oversize frames), some after noise.
    Each segment starts with a delimiter. ``readable``: ``{(core, region): depth}`` to read.
    Returns ``(segments, labels)``: per segment the error code its frame must be refused with
    (from the way it was made), ``"spoilt"`` (a spoilt frame: some error code), or None
    (a good request)."""
    codec, model = bm.codec, bm.model
    cb, C, p = model.cmd_bytes, codec.mesh.cores, codec.params
    cmd_bits = model.cmd_bits
    readable = readable or {(c, r): len(w) for (c, r), w in
                            image_words_from_memory(bm.memory).items()}
    keys = sorted(readable)
    segs, labels = [], []
    for k in range(n):
        seq = k & 0xFF
        kind = rng.randrange(14)
        if kind <= 2:                                   # good reads
            c, r = keys[rng.randrange(len(keys))]
            idx = [rng.randrange(readable[c, r]) for _ in range(rng.randrange(1, 5))]
            frame = encode_frame(seq, 2, _host_frame(bm, seq, codec.reads(c, r, idx)))
            label = None
        elif kind == 3:
            frame, label = encode_frame(seq, 1), None
        elif kind <= 7:                                 # spoilt writes (never accepted)
            c, r = keys[rng.randrange(len(keys))]
            start = rng.randrange(readable[c, r])
            words = [rng.randrange(1 << 20) for _ in range(rng.randrange(1, 4))]
            words = words[:readable[c, r] - start]
            good = encode_frame(seq, 2, _host_frame(bm, seq, codec.writes(c, r, words, start)))
            for _ in range(20):
                frame = link_vectors.corrupt(rng, good, commands=(1, 2),
                                             max_payload=model.max_payload)
                evs = FrameDecoder(max_payload=model.max_payload,
                                   commands=command_bytes()).feed(b"\x00" + frame)
                if not any(isinstance(e, Frame) and model.judge(e.cmd, e.payload) is None
                           for e in evs):
                    break
            else:
                frame = b"\x01\x00"
            label = "spoilt"
        elif kind == 13:
            frame = encode_frame(seq, rng.choice([0, 3, 0x7F, 0x81, 0xFE]),
                                 bytes(rng.randrange(4)))
            label = LinkError.UNKNOWN_COMMAND
        else:                                           # well formed, refused by content
            payload, label = _bad_payload(rng, bm, kind, keys, readable)
            frame = encode_frame(seq, 2, payload)
            if len(payload) > model.max_payload:
                label = LinkError.OVERSIZE
        noise = bytes(rng.randrange(1, 256) for _ in range(rng.randrange(6))) \
            if rng.random() < 0.2 else b""
        segs.append(noise + b"\x00" + frame)
        labels.append(label)
    return segs, labels


def _bad_payload(rng, bm, kind, keys, readable):
    codec, model = bm.codec, bm.model
    cb, mp, p = model.cmd_bytes, codec.mesh, codec.params
    fields = codec.command_fields()
    good_read = codec.reads(*keys[0], [0])[0]
    if kind == 8:                                   # index past the end of its region
        c, r = keys[rng.randrange(len(keys))]
        w = codec.reads(c, r, [0])[0]
        off = _offset(codec, "arg.cfg.addr.index")
        w |= readable[c, r] << off
        words, code = [w], LinkError.ADDRESS_OUT_OF_RANGE
    elif kind == 9:                                 # an op that is not an Op, or padding bits
        off = _offset(codec, "op")
        w = (good_read & ~(7 << off)) | (rng.randrange(5, 8) << off)
        if rng.random() < 0.5 and cb * 8 > model.cmd_bits:
            w = good_read | (1 << rng.randrange(model.cmd_bits, cb * 8))
        words, code = [w], LinkError.BAD_ARGUMENT
    elif kind == 10:                                # a bad axon or delay of an EVENT
        w0 = codec.events([(0, 0)])[0]
        bad = [(w0 | 7 << _offset(codec, "op"), LinkError.BAD_ARGUMENT)]
        if (1 << p.axon_bits) > p.axons:
            bad.append((w0 | rng.randrange(p.axons, 1 << p.axon_bits)
                        << _offset(codec, "arg.event.axon"), LinkError.ADDRESS_OUT_OF_RANGE))
        if (1 << p.delay_bits) > p.max_delay:
            bad.append((w0 | p.max_delay << _offset(codec, "arg.event.delay"),
                        LinkError.BAD_ARGUMENT))
        for axis, size, bits in (("x", mp.width, mp.x_bits), ("y", mp.height, mp.y_bits)):
            if (1 << bits) > size:
                bad.append((w0 | size << _offset(codec, f"core.{axis}"),
                            LinkError.ADDRESS_OUT_OF_RANGE))
        w, code = bad[rng.randrange(len(bad))]
        words = [w]
    elif kind == 11:                                # an absent region
        depths = codec.depths
        absent = [r for r in range(16) if not depths.get(r, 0)]
        off = _offset(codec, "arg.cfg.addr.region")
        w = (good_read & ~(15 << off)) | (rng.choice(absent) << off)
        words, code = [w], LinkError.ADDRESS_OUT_OF_RANGE
    else:                                           # a length that is not whole words
        data = words_to_bytes(codec.reads(*keys[0], [0, 0]), cb)
        return (data[:rng.choice([1, cb - 1, cb + 1])] if rng.random() < 0.8 else b"",
                LinkError.BAD_LENGTH)
    good = codec.reads(*keys[0], [0] * rng.randrange(3))
    words = good + words + good
    assert fields  # the command layout has fields
    return words_to_bytes(words, cb), code


def _offset(codec, name):
    return next(off for k, off, _, _ in layouts.leaf_specs(codec.cmd_layout) if k == name)


def image_words_from_memory(memory):
    out = {}
    for (c, r, i) in memory:
        out.setdefault((c, r), []).append(i)
    return out


def expected_frame_counts(bm_factory, segments):
    """The reply frames of each segment, by a fresh board model."""
    bm = bm_factory()
    return [bm.feed(s) for s in segments]
