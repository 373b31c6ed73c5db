"""The command stream of a fast run and the decoding of what the harness wrote.

:func:`plan_job` turns one job (image, inputs, steps) into the harness's command entries:
exactly the words :class:`~spikefab.firmware.host.Host` sends in the cocotb benches (the load
recorded from :meth:`Host.load`; events, ``STEP`` and reads from
:class:`~spikefab.firmware.protocol.HostCodec`), in the benches' order. :func:`decode_job`
turns the harness's output of that job back into a :class:`~spikefab.sim.trace.Trace` in the
benches' format (the same ``extra`` and ``meta``), checking what the benches check: trace
records for every neuron in order at every step, spike replies equal to the trace's spike
bits, one ``DONE`` per step counting the steps, packets equal at every barrier (arrays), and,
with ``readback``, every state word, synapse word (non-learning) and routing word read back.
"""

import re
from dataclasses import dataclass, field

import numpy as np

from ...firmware.host import Host
from ...firmware.protocol import Counters, Data, ErrorReply, HostCodec, Spike
from ...firmware.transport import Transport
from ...rtl import layouts
from ...rtl.layouts import Reg, Region
from ...rtl.netimage import NetworkImage
from ..trace import Trace
from .harness import (REC_END, REC_EOF, REC_MARK, REC_REPLY, REC_TIMEOUT, TAG_CMD, TAG_END,
                      TAG_MARK, TAG_RESET, record_layout)


__all__ = ["Plan", "plan_job", "decode_job", "read_records", "parse_output", "Records",
           "JobOutput", "STATIC_REGIONS"]

#: Regions a run never writes (on a core without learning also ``SYN``): a baked build keeps
#: them between jobs, so a job after the first reloads only the others.
STATIC_REGIONS = (Region.PARAM, Region.PIDX, Region.ROUTE_PTR, Region.ROUTE)


_CODECS = {}


def codec_for(image):
    """:meth:`HostCodec.for_image`, made once per kind of image, parameters and mesh."""
    key = (type(image), image.params, getattr(image, "mesh", None))
    codec = _CODECS.get(key)
    if codec is None:
        codec = _CODECS[key] = HostCodec.for_image(image)
    return codec


class _Recorder(Transport):
    """A transport that only records the command words sent."""

    def __init__(self):
        self.words = []

    async def send(self, words):
        self.words.extend(words)            # the codec's words: Python ints

    async def recv(self):
        raise RuntimeError("the recording transport has no replies")


def _sync(coro):
    """Run a coroutine that never waits (the host API over :class:`_Recorder`)."""
    try:
        coro.send(None)
    except StopIteration as stop:
        return stop.value
    raise RuntimeError("the host API waited for a reply while recording commands")


def load_words(image, codec, *, skip=()):
    """The command words of :meth:`Host.load` for ``image``, leaving out writes to the
    regions in ``skip``."""
    rec = _Recorder()
    _sync(Host(rec, codec).load(image))
    if not skip or not rec.words:
        return rec.words
    off, width = next((off, w) for k, off, w, _ in layouts.leaf_specs(codec.cmd_layout)
                      if k == "arg.cfg.addr.region")
    skip = {int(r) for r in skip}
    return [w for w in rec.words if (w >> off) & ((1 << width) - 1) not in skip]


@dataclass
class Plan:
    """One job's command entries and the reads among them, in order: ``load`` (the load's
    command words, sent first; ``load_lines``: their hex lines if already made, as the
    load is the same for every run of an image), ``entries`` (``(tag, word)``) and ``reads``
    of ``(key, count)``, each taking ``count`` ``DATA`` replies."""
    entries: list = field(default_factory=list)
    reads: list = field(default_factory=list)
    replies: int = 0            # replies other than SPIKE the job gets
    load: list = field(default_factory=list)
    load_lines: list = None

    def cmd(self, words):
        self.entries += [(TAG_CMD, int(w)) for w in words]

    def read(self, key, words):
        self.cmd(words)
        self.reads.append((key, len(words)))
        self.replies += len(words)

    def read_region(self, codec, key, core, region):
        self.read(key, codec.reads(core, region, range(codec.depths[Region(region)])))

    def lines(self, width):
        """The entries as the command file's hex lines, ``RESET`` first and ``END`` last."""
        out = [f"{TAG_RESET << width:x}"]
        out += self.load_lines if self.load_lines is not None else load_lines(self.load)
        out += [f"{(t << width) | w:x}" for t, w in self.entries]
        out.append(f"{(TAG_END << width) | self.replies:x}")
        return out


def load_lines(words):
    """The command file's lines of load words (``CMD`` entries: the tag is 0)."""
    assert TAG_CMD == 0
    return [f"{w:x}" for w in words]


def plan_job(image, inputs, steps, *, load=True, skip=(), readback=True, lines=None):
    """The :class:`Plan` of one job: reset, load (unless ``load`` is false; a list: the load's
    words, as :func:`load_words` gives them, and ``lines`` their :func:`load_lines` if made;
    ``skip``: regions left out), then per step its input events and ``STEP`` (the first of
    them marked, to time the step) and the reads the benches make after it, then the final
    reads."""
    codec = codec_for(image)
    network = isinstance(image, NetworkImage)
    p = image.params
    cores = image.mesh.cores if network else 1
    plan = Plan()
    if isinstance(load, list):
        plan.load, plan.load_lines = load, lines
    elif load:
        plan.load = load_words(image, codec, skip=skip)
    inputs = [] if inputs is None else inputs
    if len(inputs) > steps:
        raise ValueError(f"{len(inputs)} steps of inputs but steps = {steps}")
    per_step = [[(0, int(s)) if np.ndim(s) == 0 else (int(s[0]), int(s[1]))
                 for s in (inputs[t] if t < len(inputs) else [])] for t in range(steps)]
    events = codec.events([e for step in per_step for e in step])   # one pack for the run
    bounds = np.cumsum([0] + [len(step) for step in per_step])
    step_word = codec.step(1)
    last_events = [codec.read(c, Region.REG, Reg.LAST_EVENTS) for c in range(cores)]
    learn = {(c, r): codec.reads(c, r, range(codec.depths[r]))
             for c in range(cores) for r in (Region.SYN, Region.XTRACE, Region.YTRACE)
             } if p.learning else {}
    for t in range(steps):
        words = events[bounds[t]:bounds[t + 1]] + [step_word]
        plan.entries.append((TAG_MARK, words[0]))
        plan.cmd(words[1:])
        plan.replies += 1
        if network:
            for c in range(cores):
                plan.read(("events", t, c), [last_events[c]])
        for (c, region), words in learn.items():
            plan.read(("learn", t, c, region), words)
    if network:
        plan.cmd([codec.counters()])
        plan.replies += 1
        plan.read(("core_status",), [codec.read(c, Region.REG, Reg.STATUS)
                                     for c in range(cores)])
    if readback and steps:
        for c in range(cores):
            plan.read_region(codec, ("state", c), c, Region.STATE)
            if network:
                plan.read_region(codec, ("route_ptr", c), c, Region.ROUTE_PTR)
                plan.read_region(codec, ("route", c), c, Region.ROUTE)
            elif not p.learning:
                plan.read_region(codec, ("syn", c), c, Region.SYN)
        if not network:
            plan.read(("step_reg",), [codec.read(0, Region.REG, Reg.STEP)])
            plan.read(("events_reg",), [codec.read(0, Region.REG, Reg.LAST_EVENTS)])
    if not network:
        plan.read(("status",), [codec.read(0, Region.REG, Reg.STATUS)])
    return plan


class JobError(AssertionError):
    """A job's output broke what the benches check."""


class Records:
    """Output records of the harness (see :mod:`.harness`) of one width: each record in
    uint64 pieces, low 64 bits first."""

    def __init__(self, pieces, n):
        self.pieces, self.n = pieces, n

    def __len__(self):
        return self.n

    def __getitem__(self, sl):
        return Records([p[sl] for p in self.pieces], len(range(self.n)[sl]))

    def field(self, off, width):
        """Bits ``off`` .. ``off + width - 1`` (``width`` at most 64) of every record."""
        k, sh = divmod(off, 64)
        v = self.pieces[k] >> np.uint64(sh)
        if sh and sh + width > 64:
            v = v | (self.pieces[k + 1] << np.uint64(64 - sh))
        return v & np.uint64((1 << width) - 1) if width < 64 else v

    def ints(self, idx, width):
        """The low ``width`` bits of the records at ``idx`` as Python ints."""
        if width <= 64:
            return self.field(0, width)[idx].tolist()
        out = [0] * len(idx)
        for k in reversed(range(len(self.pieces))):
            out = [(h << 64) | lo for h, lo in zip(out, self.pieces[k][idx].tolist())]
        return [w & ((1 << width) - 1) for w in out]


def read_records(data, bits):
    """:class:`Records` of ``bits`` (a multiple of 8) from the concatenated output files
    ``data`` (bytes: hex lines)."""
    if b"/" in data:                    # Icarus starts each file with an address comment
        data = re.sub(rb"(?m)^//[^\n]*\n", b"", data)
    nb = bits // 8
    n, rest = divmod(len(data), 2 * nb + 1)
    try:
        if rest:
            raise ValueError
        raw = bytes.fromhex(data.decode("ascii"))
        if len(raw) != n * nb:
            raise ValueError
    except (ValueError, UnicodeDecodeError):
        bad = next((line for line in data.decode("ascii", "replace").splitlines()
                    if len(line) != 2 * nb or not re.fullmatch(r"[0-9a-fA-F]*", line)), "")
        raise JobError(f"the output holds a record that is not {2 * nb} hex digits "
                       f"(x or z?): {bad!r}") from None
    b = np.frombuffer(raw, np.uint8).reshape(n, nb)
    pieces = []
    for hi in range(nb, 0, -8):
        buf = np.zeros((n, 8), np.uint8)
        buf[:, 8 - (hi - max(0, hi - 8)):] = b[:, max(0, hi - 8):hi]
        pieces.append(buf.view(">u8").reshape(n).astype(np.uint64))
    return Records(pieces, n)


@dataclass
class JobOutput:
    """One job's part of the output: its events (``typ``, ``beats``: trace records before
    each, counted from the job's first, ``clock``, and ``events`` for the payloads) and its
    trace records (``port``, ``trace`` for the beats)."""
    typ: np.ndarray
    beats: np.ndarray
    clock: np.ndarray
    events: Records
    port: np.ndarray
    trace: Records


def parse_output(trace, events, ports, timeout):
    """Split the harness's records (:class:`Records` of trace and event records of the
    harness of ``ports``) into jobs: a list of ``(JobOutput, stop, clocks)`` where ``stop``
    is None for a job that ended (``clocks``: its clocks after reset) or why the run stopped
    inside it."""
    _, _, pb, rpw = record_layout(ports)
    typ = events.field(rpw + 80, 8).astype(np.int64)
    beats = events.field(rpw + 48, 32).astype(np.int64)
    clock = events.field(rpw, 48).astype(np.int64)
    port = trace.field(ports.trace_width, pb).astype(np.int64)
    jobs, start, b0 = [], 0, 0

    def part(stop_at, b1):
        return JobOutput(typ[start:stop_at], beats[start:stop_at] - b0, clock[start:stop_at],
                         events[start:stop_at], port[b0:b1], trace[b0:b1])

    for i in np.flatnonzero(typ >= REC_END).tolist():
        kind, clk = int(typ[i]), int(clock[i])
        if kind == REC_END:
            jobs.append((part(i, int(beats[i])), None, clk))
            start, b0 = i + 1, int(beats[i])
            continue
        why = (f"no transfer for {timeout} clocks (deadlock?)" if kind == REC_TIMEOUT else
               "the command file ended inside a job" if kind == REC_EOF else
               f"record type {kind}")
        jobs.append((part(i, len(trace)), f"the run stopped at clock {clk:x}: {why}", None))
        return jobs
    if start < len(events) or b0 < len(trace):
        jobs.append((part(len(events), len(trace)), "the output ended inside the job", None))
    return jobs


def decode_job(image, inputs, steps, plan, out, ports, *, source, readback=True):
    """The :class:`Trace` of one job from its output ``out`` (a :class:`JobOutput`, see
    :func:`parse_output`) on the harness of ``ports``; raises :class:`JobError` where a
    bench would fail."""
    codec = codec_for(image)
    network = isinstance(image, NetworkImage)
    p = image.params
    C = image.mesh.cores if network else 1
    N = p.neurons
    marks, dones, data, step_spikes = [], [], [], [[] for _ in range(steps)]
    done_at = []                                # trace records before each DONE record
    counters = None
    at = np.flatnonzero(out.typ == REC_REPLY)
    for i, clk, word in zip(out.beats[at].tolist(), out.clock[at].tolist(),
                            out.events.ints(at, ports.reply_width)):
        reply = codec.decode(word)
        if isinstance(reply, Spike):
            if len(dones) >= steps:
                raise JobError(f"a spike record {reply} after the last step's DONE")
            step_spikes[len(dones)].append(reply)
        elif isinstance(reply, Counters) and reply.done:
            dones.append((clk, reply))
            done_at.append(i)
        elif isinstance(reply, Counters):
            counters = reply
        elif isinstance(reply, Data):
            data.append(reply.value)
        elif isinstance(reply, ErrorReply):
            raise JobError(f"the design refused a command: {reply.code.name} "
                           f"(op {reply.op})")
    marks = out.clock[out.typ == REC_MARK].tolist()
    if len(dones) != steps:
        raise JobError(f"{len(dones)} DONE records for {steps} steps")
    reads, pos = {}, 0
    for key, n in plan.reads:
        reads[key] = data[pos:pos + n]
        pos += n
    if pos != len(data):
        raise JobError(f"{len(data)} DATA replies for {pos} reads")
    beats, at_done = [], []       # per trace port: payloads, and how many before each DONE
    tw = ports.trace_width
    for k in range(C):
        where = np.flatnonzero(out.port == k) if C > 1 else np.arange(len(out.trace))
        beats.append(out.trace.field(0, tw)[where] if tw <= 64 else
                     out.trace.ints(where, tw))
        at_done.append(np.searchsorted(where, done_at).tolist())
    u, v, spikes, refr = _states(p, beats, at_done, steps, N)
    ext_out = np.zeros((steps, C * N), np.int64)
    for t, ((clk, cnt), recs) in enumerate(zip(dones, step_spikes)):
        if cnt.step != t + 1:
            raise JobError(f"step {t}: the DONE record counts {cnt.step} steps, expected "
                           f"{t + 1}")
        bad = [s for s in recs if s.step != t]
        if bad:
            raise JobError(f"step {t}: spike records carry steps {[s.step for s in bad]}")
        if network:
            if cnt.packets_in != cnt.packets_out:
                raise JobError(f"step {t}: at the barrier {cnt.packets_in} packets were "
                               f"injected and {cnt.packets_out} delivered")
            for s in recs:
                ext_out[t, image.mesh.core_index(s.x, s.y) * N + s.neuron] += 1
        else:
            spk = [s.neuron for s in recs]
            traced = np.flatnonzero(spikes[t]).tolist()
            if spk != sorted(set(spk)) or spk != traced:
                raise JobError(f"step {t}: the spike output {spk} differs from the trace "
                               f"port's spike bits {traced}")
    extra = {} if refr is None else {"refr_cnt": refr}
    if p.learning:
        _learning(extra, p, reads, steps, C, network)
    if network:
        extra["ext_out"] = ext_out
        meta = {"source": source, "cycles": [c.cycles for _, c in dones],
                "accepted": [[reads[("events", t, c)][0] for c in range(C)]
                             for t in range(steps)],
                "packets_in": [c.packets_in for _, c in dones],
                "packets_out": [c.packets_out for _, c in dones],
                "status": counters.status, "core_status": reads[("core_status",)]}
    else:
        meta = {"source": source, "cycles": [clk + 1 - m for (clk, _), m in zip(dones, marks)],
                "status": reads[("status",)][0]}
    trace = Trace(spikes=spikes, u=u, v=v, extra=extra, neurons_per_core=N, meta=meta)
    if readback and steps:
        _readback(image, inputs, steps, trace, reads)
    return trace


def _states(p, beats, at_done, steps, N):
    """Spikes, u, v and refr_cnt [T, C*N] from each core's trace beats (payloads), every
    neuron of every step in order, each step's beats before its ``DONE`` record."""
    lay = layouts.trace_layout(p)
    C = len(beats)
    cols = {k: np.zeros((steps, C * N), np.int64) for k in ("u", "v", "spike", "refr_cnt")}
    want_n = np.tile(np.arange(N), steps)
    for c, got in enumerate(beats):
        f = _unpack(lay, got)
        counts = at_done[c]
        bad = next((t for t in range(steps) if counts[t] != (t + 1) * N), None)
        if bad is None and len(got) != steps * N:
            bad = steps - 1                 # records after the last step's DONE
        if bad is None and (f["neuron"] != want_n).any():
            bad = int(np.flatnonzero(f["neuron"] != want_n)[0]) // N
        if bad is not None:
            lo = counts[bad - 1] if bad else 0
            order = np.asarray(f["neuron"])[lo:lo + 8].tolist()
            raise JobError(f"step {bad}, core {c}: trace records came for neurons "
                           f"{order}..., expected 0..{N - 1}")
        for k in cols:
            if k in f:
                cols[k][:, c * N:(c + 1) * N] = f[k].reshape(steps, N)
    refr = cols["refr_cnt"] if p.refractory_bits else None
    return cols["u"], cols["v"], cols["spike"].astype(np.uint8), refr


def _unpack(layout, words):
    """:func:`~spikefab.rtl.layouts.unpack` of the leaves of ``layout`` from ``words`` (a
    uint64 array, or Python ints when the records are wider), in numpy when the words fit
    64 bits (the trace records of most cores), else through ``unpack`` itself."""
    specs = layouts.leaf_specs(layout)
    if max(off + w for _, off, w, _ in specs) > 64 or not isinstance(words, np.ndarray):
        words = words.tolist() if isinstance(words, np.ndarray) else list(words)
        return {k: np.asarray(v) for k, v in layouts.unpack(layout, words).items()}
    a = np.asarray(words, dtype=np.uint64)
    out = {}
    for key, off, width, signed in specs:
        v = ((a >> np.uint64(off)) & np.uint64((1 << width) - 1)).astype(np.int64)
        if signed:
            v = np.where(v >> (width - 1), v - (1 << width), v)
        out[key] = v
    return out


def _learning(extra, p, reads, steps, C, network):
    """``extra`` weights [T, A, N] (cores stacked as the benches: [T, C, A, N] for an
    array), x and y, from the reads after every step."""
    syn, xl, yl = layouts.syn_word_layout(p), layouts.xtrace_layout(p), layouts.ytrace_layout(p)
    ws, xs, ys = [], [], []
    for t in range(steps):
        w_t, x_t, y_t = [], [], []
        for c in range(C):
            lanes = layouts.unpack(syn, reads[("learn", t, c, Region.SYN)])
            w_t.append(np.stack([lanes[k] for k in range(p.lanes)], 1)
                       .reshape(p.axons, p.neurons))
            x_t.append(layouts.unpack(xl, reads[("learn", t, c, Region.XTRACE)])["x"])
            y_t.append(layouts.unpack(yl, reads[("learn", t, c, Region.YTRACE)])["y"])
        ws.append(np.stack(w_t) if network else w_t[0])
        xs.append(np.stack(x_t) if network else x_t[0])
        ys.append(np.concatenate(y_t))
    extra.update(weights=np.stack(ws), x=np.stack(xs), y=np.stack(ys))


def _readback(image, inputs, steps, trace, reads):
    """The benches' read-back checks: state against the last step, synapses (non-learning
    core) and routing tables against the image, the core's STEP and LAST_EVENTS registers."""
    network = isinstance(image, NetworkImage)
    p = image.params
    N = p.neurons
    first = "u" if p.model == "cuba" else "i"
    for c in range(image.mesh.cores if network else 1):
        state = layouts.unpack(layouts.state_layout(p), reads[("state", c)])
        want = {first: trace.u[-1, c * N:(c + 1) * N], "v": trace.v[-1, c * N:(c + 1) * N]}
        if p.refractory_bits:
            want["refr_cnt"] = trace.extra["refr_cnt"][-1, c * N:(c + 1) * N]
        for k, a in want.items():
            bad = np.flatnonzero(state[k] != a)
            if bad.size:
                n = int(bad[0])
                raise JobError(f"read-back of core {c} neuron {n} state: {k} expected "
                               f"{int(a[n])}, got {int(state[k][n])}")
        if network:
            rt = image.routes[c]
            for name, want_w in (("route_ptr", rt.ptr_words()), ("route", rt.entry_words())):
                got = reads[(name, c)]
                for i, (g, w) in enumerate(zip(got, want_w)):
                    if g != w:
                        raise JobError(f"read-back of core {c} {name.upper()}[{i}]: "
                                       f"{g:#x} != {w:#x}")
        elif not p.learning:
            for i, (w, g) in enumerate(zip(image.syn_words(), reads[("syn", c)])):
                if g != w:
                    raise JobError(f"read-back of synapse word {i}: expected {w:#x}, got {g:#x}")
    if not network:
        if reads[("step_reg",)][0] != steps:
            raise JobError(f"STEP register: expected {steps}, got {reads[('step_reg',)][0]}")
        last = len(inputs[steps - 1]) if len(inputs) >= steps else 0
        if reads[("events_reg",)][0] != last:
            raise JobError(f"LAST_EVENTS register: expected {last}, got "
                           f"{reads[('events_reg',)][0]}")
