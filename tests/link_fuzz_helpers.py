"""Link fuzzing through a board top-level's UART pins in the fast UART harness
(``spikefab.sim.fast.uart_harness``): a seeded plan of random, spoilt, refused and good
requests, its script, and the check of every reply frame against the Python reference
(``firmware/link.py``, ``firmware/command.py`` through :class:`BoardModel`)."""

import subprocess
import time
from dataclasses import dataclass, field

from amaranth.back import verilog

from spikefab.boards import get_board
from spikefab.boards.top import BoardTop
from spikefab.firmware.command import HOST_REPLY, IDENTIFY_REPLY, words_to_bytes
from spikefab.firmware.link import encode_frame
from spikefab.rtl import layouts
from spikefab.rtl.layouts import Region
from spikefab.rtl.link_protocol import LinkError
from spikefab.rtl.netimage import NetworkImage
from spikefab.sim.fast.uart_harness import UartScript, build_uart_harness, parse_uart_output
from spikefab.sim.runner import simulator_env, sim_models

from command_link_helpers import BoardModel, fuzz_segments, memory_of, split_replies

BAUD = 115200
MAX_PAYLOAD = 256          # SerialTop's default, as on the boards
BOARD_TOP = "spikefab_board"


def board_harness(image, simulator, *, board="ulx3s-85f", clocks_per_bit=4):
    """The harness executable (argv prefix) around ``board``'s top-level (``BoardTop``, its
    PLL replaced by the harness clock) for ``image``, at ``clocks_per_bit``."""
    top = BoardTop(get_board(board), image, clk_hz=BAUD * clocks_per_bit, baud=BAUD,
                   pll=False)
    text = verilog.convert(top, name=BOARD_TOP, emit_src=False)
    paths, defines = sim_models(image.params)
    models = {p.split("/")[-1]: open(p).read() for p in map(str, paths)}
    return build_uart_harness(text, BOARD_TOP, simulator, clocks_per_bit=clocks_per_bit,
                              models=models, defines=defines, tie=".leds()")


def region_widths(image):
    """``{region: bits}`` of the words of each memory :func:`memory_of` covers."""
    p = image.params
    w = {Region.SYN: layouts.syn_word_layout(p).size, Region.PARAM: layouts.param_layout(p).size,
         Region.STATE: layouts.state_layout(p).size, Region.PIDX: p.profile_bits}
    if isinstance(image, NetworkImage):
        w[Region.ROUTE_PTR] = layouts.route_ptr_layout(image.mesh).size
        w[Region.ROUTE] = layouts.route_entry_layout(image.mesh, p).size
    return w


@dataclass
class FuzzPlan:
    """Segments of bytes for the line (``bad_stop``: indices sent with a low stop bit, which
    the UART drops), the reference's reply frames for each, how each was made, and the
    memory the design must hold at the end (the image's, changed by the good writes only)."""
    segments: list = field(default_factory=list)
    bad_stop: list = field(default_factory=list)
    splits: list = field(default_factory=list)
    kinds: list = field(default_factory=list)
    replies: list = field(default_factory=list)
    expected: dict = field(default_factory=dict)
    initial: dict = field(default_factory=dict)
    readback_from: int = 0
    readback_order: list = field(default_factory=list)
    codec: object = None
    reply_bytes: int = 0

    def script(self, rng_gaps=None):
        s, total = UartScript(), 0
        for seg, bad, split, rep in zip(self.segments, self.bad_stop, self.splits,
                                        self.replies):
            if split:
                cut, gap = split
                s.send(seg[:cut], [k for k in bad if k < cut])
                s.idle(gap)
                s.send(seg[cut:], [k - cut for k in bad if k >= cut])
            else:
                s.send(seg, bad)
            total += len(rep)
            s.wait(total)
        return s


def fuzz_plan(rng, image, n, *, max_payload=MAX_PAYLOAD):
    """``n`` seeded requests, then a read-back of every memory and a final ``IDENTIFY``.

    The requests: :func:`command_link_helpers.fuzz_segments`' good reads and identifies,
    spoilt writes (bit flips, bytes dropped or inserted, cut short, noise) and frames refused
    for their content (address, core, region, op, axon, delay, padding, length, command), some
    after noise; and, mixed in, good writes of random words (12 %), oversize frames (a good
    CRC over too long a payload, or a run of non-zero bytes that decodes past ``max_payload + 6``; 4 %),
    good writes with one character sent with a bad stop bit (dropped by the UART; 5 %), line
    noise of bad-stop characters before a good read (3 %), noise alone (3 %). About 5 % of the
    segments pause mid-frame for up to 300 clocks."""
    mem0 = memory_of(image)
    bm = BoardModel(image, max_payload, dict(mem0))
    codec, model = bm.codec, bm.model
    readable = {}
    for c, r, i in mem0:
        readable[c, r] = max(readable.get((c, r), 0), i + 1)
    keys = sorted(readable)
    widths = region_widths(image)
    kinds = []
    for _ in range(n):
        u = rng.random()
        kinds.append("write" if u < 0.12 else "oversize" if u < 0.16 else
                     "dropped" if u < 0.21 else "line noise" if u < 0.24 else
                     "noise" if u < 0.27 else "fuzz")
    base, labels = fuzz_segments(rng, bm, kinds.count("fuzz"), readable=readable)
    base, labels = iter(base), iter(labels)
    plan = FuzzPlan(expected=dict(mem0), initial=dict(mem0), codec=codec,
                    reply_bytes=model.reply_bytes)

    def good_write(seq):
        c, r = keys[rng.randrange(len(keys))]
        start = rng.randrange(readable[c, r])
        vals = [rng.getrandbits(widths[r]) for _ in range(rng.randrange(1, 5))]
        vals = vals[:readable[c, r] - start]
        words = codec.writes(c, Region(r), vals, start)
        return encode_frame(seq, 2, words_to_bytes(words, model.cmd_bytes)), \
            {(c, r, start + k): v for k, v in enumerate(vals)}

    def good_read(seq):
        c, r = keys[rng.randrange(len(keys))]
        idx = [rng.randrange(readable[c, r]) for _ in range(rng.randrange(1, 4))]
        return encode_frame(seq, 2, words_to_bytes(codec.reads(c, Region(r), idx),
                                                   model.cmd_bytes))

    for k, kind in enumerate(kinds):
        seq, bad, label = k & 0xFF, (), kind
        if kind == "fuzz":
            seg, label = next(base), next(labels)
        elif kind == "write":
            frame, writes = good_write(seq)
            plan.expected.update(writes)
            seg = b"\x00" + frame
        elif kind == "oversize":
            if rng.random() < 0.5:
                payload = bytes(rng.randrange(256) for _ in
                                range(max_payload + rng.randrange(1, 40)))
                seg = b"\x00" + encode_frame(seq, 2, payload)
            else:
                seg = b"\x00" + bytes(rng.randrange(1, 256) for _ in
                                      range(max_payload + 12 + rng.randrange(60))) + b"\x00"
        elif kind == "dropped":
            frame, _ = good_write(seq)
            seg = b"\x00" + frame
            bad = (rng.randrange(1, len(seg) - 1),)
        elif kind == "line noise":
            noise = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 4)))
            seg = noise + b"\x00" + good_read(seq)
            bad = tuple(range(len(noise)))
        else:
            seg = bytes(rng.randrange(1, 256) for _ in range(rng.randrange(1, 20))) + b"\x00"
        _add(plan, bm, rng, seg, bad, label)
    plan.readback_from = len(plan.segments)
    seq = n & 0xFF
    for (c, r), depth in readable.items():
        for lo in range(0, depth, model.req_words):
            idx = range(lo, min(depth, lo + model.req_words))
            plan.readback_order += [(c, r, i) for i in idx]
            words = codec.reads(c, Region(r), idx)
            seg = b"\x00" + encode_frame(seq, 2, words_to_bytes(words, model.cmd_bytes))
            _add(plan, bm, rng, seg, (), "readback", split=False)
    _add(plan, bm, rng, b"\x00" + encode_frame(seq, 1), (), "identify", split=False)
    assert bm.memory == plan.expected, "the reference changed memory other than by good writes"
    return plan


def _add(plan, bm, rng, seg, bad, label, split=True):
    line = bytes(b for k, b in enumerate(seg) if k not in set(bad))
    replies = bm.feed(line)
    _check_label(label, seg, replies)
    plan.segments.append(seg)
    plan.bad_stop.append(tuple(bad))
    plan.kinds.append(label)
    plan.replies.append(replies)
    plan.splits.append((rng.randrange(1, len(seg)), rng.randrange(1, 300))
                       if split and len(seg) > 2 and rng.random() < 0.05 else None)


def _check_label(label, seg, replies):
    """The reference's answer is what the segment was made to get (a check of the plan)."""
    errors = [f for f in replies if f[1] == 0xFF]
    if label in (None, "identify", "readback", "line noise"):
        assert replies and replies[-1][1] in (HOST_REPLY, IDENTIFY_REPLY), (label, seg.hex())
    elif label == "write":
        assert replies[-1][1:] == (HOST_REPLY, b"") and not errors, seg.hex()
    elif label in ("spoilt", "dropped", "noise"):
        assert errors == replies, (label, seg.hex())
    elif label == "oversize":
        assert replies[-1][1] == 0xFF and replies[-1][2][0] == LinkError.OVERSIZE, seg.hex()
    else:
        assert replies[-1][1] == 0xFF and replies[-1][2][0] == label, (label, seg.hex())


@dataclass
class FuzzRun:
    frames: list            # every reply frame received, (seq, cmd, payload)
    per_segment: list       # the reply frames received during each segment
    clocks: int
    seconds: float
    chars: list             # (clock, byte) of every character on tx


def run_plan(argv, plan, workdir, *, timeout=100_000):
    """Run ``plan``'s script through the harness ``argv``; check that it ended (no hang) and
    that ``tx`` carried only well-formed characters; return a :class:`FuzzRun`."""
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "script.hex").write_text(plan.script().text())
    t0 = time.monotonic()
    res = subprocess.run(argv + [f"+script={workdir / 'script.hex'}",
                                 f"+out={workdir / 'out.txt'}", f"+timeout={timeout}"],
                         cwd=workdir, env=simulator_env(), capture_output=True, text=True)
    seconds = time.monotonic() - t0
    assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-2000:]
    chars, waits, end, problems = parse_uart_output((workdir / "out.txt").read_text())
    assert not problems, problems[:5]
    assert end is not None, "the run did not reach the end of its script"
    assert len(waits) == len(plan.segments)
    data = bytes(b for _, b in chars)
    per_segment, k, start = [], 0, 0
    for clock, _ in waits:
        while k < len(chars) and chars[k][0] <= clock:
            k += 1
        per_segment.append(split_replies(data[start:k]))
        start = k
    return FuzzRun(split_replies(data), per_segment, end, seconds, chars)


def check_run(plan, run):
    """Every reply frame equals the reference's, segment by segment (so the right error reply
    every time and none missing or extra), and the read-back equals the expected memory."""
    assert sum(map(len, run.per_segment)) == len(run.frames)
    for k, (got, want) in enumerate(zip(run.per_segment, plan.replies)):
        assert got == want, (f"segment {k} ({plan.kinds[k]}): {plan.segments[k].hex()}: "
                             f"got {got}, expected {want}")
    assert run.per_segment[-1][-1][1] == IDENTIFY_REPLY, "no answer to the final IDENTIFY"
    # the read-back, decoded on its own: every word equals the image's or the last good write's
    codec, rb = plan.codec, plan.reply_bytes
    got = [codec.decode(int.from_bytes(p[i:i + rb], "little")).value
           for frames in run.per_segment[plan.readback_from:-1] for _, _, p in frames
           for i in range(0, len(p), rb)]
    assert got == [plan.expected[a] for a in plan.readback_order], "a memory changed"
    changed = sum(plan.expected[a] != plan.initial[a] for a in plan.expected)
    return changed
