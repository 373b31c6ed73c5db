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
from .harness import TAG_CMD, TAG_END, TAG_MARK, TAG_RESET


__all__ = ["Plan", "plan_job", "decode_job", "STATIC_REGIONS"]

#: Regions a run never writes (on a core without learning also ``SYN``): a baked build keeps
#: them between jobs, so a job after the first reloads only the others.
STATIC_REGIONS = (Region.PARAM, Region.PIDX, Region.ROUTE_PTR, Region.ROUTE)


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
    """One job's command entries (``(tag, word)``) and the reads among them, in order:
    ``reads`` of ``(key, count)``, each taking ``count`` ``DATA`` replies."""
    entries: list = field(default_factory=list)
    reads: list = field(default_factory=list)
    replies: int = 0            # replies other than SPIKE the job gets

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
        out += [f"{(t << width) | w:x}" for t, w in self.entries]
        out.append(f"{(TAG_END << width) | self.replies:x}")
        return out


def plan_job(image, inputs, steps, *, load=True, skip=(), readback=True):
    """The :class:`Plan` of one job: reset, load (unless ``load`` is false; a list: the load's
    words, as :func:`load_words` gives them; ``skip``: regions left out), then per step its
    input events and ``STEP`` (the first of them marked, to time the step) and the reads the
    benches make after it, then the final reads."""
    codec = HostCodec.for_image(image)
    network = isinstance(image, NetworkImage)
    p = image.params
    cores = image.mesh.cores if network else 1
    plan = Plan()
    if isinstance(load, list):
        plan.cmd(load)
    elif load:
        plan.cmd(load_words(image, codec, skip=skip))
    inputs = [] if inputs is None else inputs
    if len(inputs) > steps:
        raise ValueError(f"{len(inputs)} steps of inputs but steps = {steps}")
    per_step = [[(0, int(s)) if np.ndim(s) == 0 else (int(s[0]), int(s[1]))
                 for s in (inputs[t] if t < len(inputs) else [])] for t in range(steps)]
    events = codec.events([e for step in per_step for e in step])   # one pack for the run
    bounds = np.cumsum([0] + [len(step) for step in per_step])
    step_word = codec.step(1)
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
                plan.read(("events", t, c), [codec.read(c, Region.REG, Reg.LAST_EVENTS)])
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


def parse_output(text):
    """Split the harness's output into jobs: a list of ``(lines, stop, clocks)`` where
    ``stop`` is None for a job that ended (``clocks``: its clocks after reset) or the ``X``
    line that stopped the run."""
    jobs, start = [], 0
    for m in re.finditer(r"^([EX]) (.*)$", text, re.M):
        lines = text[start:m.start()].splitlines()
        start = m.end() + 1
        if m.group(1) == "X":
            jobs.append((lines, m.group(0), None))
            return jobs
        jobs.append((lines, None, int(m.group(2), 16)))
    rest = text[start:].splitlines()
    if rest:
        jobs.append((rest, "X the output ended inside a job", None))
    return jobs


def decode_job(image, inputs, steps, plan, lines, *, source, readback=True):
    """The :class:`Trace` of one job from the harness's output ``lines`` (see
    :func:`parse_output`); raises :class:`JobError` where a bench would fail."""
    codec = HostCodec.for_image(image)
    network = isinstance(image, NetworkImage)
    p = image.params
    C = image.mesh.cores if network else 1
    N = p.neurons
    marks, dones, data, step_spikes = [], [], [], [[] for _ in range(steps)]
    done_at = []                                # line index of each DONE record
    counters = None
    for i, line in enumerate(lines):
        tag = line[0]
        if tag == "T":
            continue
        elif tag == "R":
            clk, word = line[2:].split()
            reply = codec.decode(int(word, 16))
            if isinstance(reply, Spike):
                if len(dones) >= steps:
                    raise JobError(f"a spike record {reply} after the last step's DONE")
                step_spikes[len(dones)].append(reply)
            elif isinstance(reply, Counters) and reply.done:
                dones.append((int(clk, 16), reply))
                done_at.append(i)
            elif isinstance(reply, Counters):
                counters = reply
            elif isinstance(reply, Data):
                data.append(reply.value)
            elif isinstance(reply, ErrorReply):
                raise JobError(f"the design refused a command: {reply.code.name} "
                               f"(op {reply.op})")
        elif tag == "C":
            marks.append(int(line[2:], 16))
    if len(dones) != steps:
        raise JobError(f"{len(dones)} DONE records for {steps} steps")
    reads, pos = {}, 0
    for key, n in plan.reads:
        reads[key] = data[pos:pos + n]
        pos += n
    if pos != len(data):
        raise JobError(f"{len(data)} DATA replies for {pos} reads")
    beats, at_done = [], []       # per trace port: raw lines, and how many before each DONE
    for k in range(C):
        prefix = f"T{k} "
        where = ([i for i, line in enumerate(lines) if line[0] == "T"] if C == 1 else
                 [i for i, line in enumerate(lines) if line.startswith(prefix)])
        beats.append([lines[i] for i in where])
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
    """Spikes, u, v and refr_cnt [T, C*N] from each core's trace beats (raw output lines),
    every neuron of every step in order, each step's beats before its ``DONE`` record."""
    lay = layouts.trace_layout(p)
    C = len(beats)
    cols = {k: np.zeros((steps, C * N), np.int64) for k in ("u", "v", "spike", "refr_cnt")}
    want_n = np.tile(np.arange(N), steps)
    for c, got in enumerate(beats):
        start = got[0].index(" ") + 1 if got else 0
        f = _unpack(lay, [int(line[start:], 16) for line in got])
        counts = at_done[c]
        bad = next((t for t in range(steps) if counts[t] != (t + 1) * N), None)
        if bad is None and len(got) != steps * N:
            bad = steps - 1                 # records after the last step's DONE
        if bad is None and (f["neuron"] != want_n).any():
            bad = int(np.flatnonzero(f["neuron"] != want_n)[0]) // N
        if bad is not None:
            lo = counts[bad - 1] if bad else 0
            order = f["neuron"][lo:lo + 8].tolist()
            raise JobError(f"step {bad}, core {c}: trace records came for neurons "
                           f"{order}..., expected 0..{N - 1}")
        for k in cols:
            if k in f:
                cols[k][:, c * N:(c + 1) * N] = f[k].reshape(steps, N)
    refr = cols["refr_cnt"] if p.refractory_bits else None
    return cols["u"], cols["v"], cols["spike"].astype(np.uint8), refr


def _unpack(layout, words):
    """:func:`~spikefab.rtl.layouts.unpack` of the leaves of ``layout``, in numpy when the
    words fit 64 bits (the trace records of most cores), else through ``unpack`` itself."""
    specs = layouts.leaf_specs(layout)
    if max(off + w for _, off, w, _ in specs) > 64:
        return layouts.unpack(layout, words)
    a = np.array(words, dtype=np.uint64)
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
