"""cocotb bench of one XY mesh router (cocotb 2.x), and the host-side call that runs it.

:func:`run_router_rtl` emits the Verilog of one :class:`~spikefab.rtl.router.XYRouter`,
builds it for Verilator or Icarus (cached per design by
:func:`~spikefab.sim.runner.build_verilog`), writes ``design.json`` and ``jobs.json`` into a
fresh run folder, points ``SPIKEFAB_JOBS`` at it and runs this module's one cocotb test,
which runs every job in turn on the same simulator process and writes ``results.json``.

A job (a dict; ports are named ``"local"``, ``"east"``, ``"west"``, ``"north"``,
``"south"``)::

    {"name": "...",
     "sends": {"west": [[x, y, payload, exit], ...], ...},   # offered in order on each input
     "seed": 1,                 # the bench's own random choices (gaps, back-pressure)
     "gap": 0.3,                # probability of an idle clock before a packet (or per port)
     "backpressure": 0.4,       # probability that an output's ready is low (or per port)
     "timeout": 5000,           # clocks before the job counts as deadlocked (default: by size)
     "stall": 300,              # clocks without any transfer while a packet waits
     "drain": 30}               # clocks watched after the last packet left

Bench parts, all restarted for every job after a reset:

* a :class:`~.streams.StreamSource` per input with packets: idle gaps, then ``valid`` with
  the packet held until the transfer;
* a :class:`~.streams.StreamSink` per output driving only ``ready``: low with the job's
  back-pressure probability;
* :class:`RouterMonitor`: samples every port once per clock (after the values settle), checks
  the stream rules on all ten streams (``valid`` never falls and the payload never changes
  before the transfer; no ``valid``, ``ready`` or valid payload is X or Z), checks the
  sticky ``bad_dest`` flag clock by clock, and feeds
* :class:`Scoreboard`: every accepted packet is expected on the port that XY routing (with the
  exit / edge-port rule) chooses, in order per (input, output) pair; an output transfer that
  matches no expected packet (misrouted, duplicated, reordered or invented) fails the job, as
  does a job that does not finish (timeout or a stall with packets in flight: deadlock).

Results, one dict per job: ``cycles`` (clocks from the job's first clock to its last output
transfer, inclusive), ``sent`` / ``received`` (per-port transfer counts), ``pairs``
(``"west>east"`` counts), ``out`` (per output, every transfer as ``[src, k, in_cycle,
valid_cycle, out_cycle]``: input port index, index of the packet in ``sends[src]``, clock of
its input transfer, clock its ``valid`` rose on the output, clock of its output transfer),
``bad_dest`` (the flag at the end) and ``simulator``.

Under Icarus the router's Verilog needs the time-zero fix that
:func:`~spikefab.sim.runner.build_verilog` applies (``icarus_time_zero_fix``): without it
the round-robin grants stay X after reset, an output's ``valid`` goes X, and the monitor
stops the job at the first such clock.
"""

import collections
import functools
import json
import os
import random
import shutil
from pathlib import Path

import cocotb
from cocotb.clock import Clock
from cocotb.triggers import ClockCycles, Event, ReadOnly, RisingEdge

from .streams import StreamError, StreamRules, StreamSink, StreamSource, bit, chance


__all__ = ["TOPLEVEL", "BENCH_MODULE", "PORT_NAMES", "route", "emit_router_verilog",
           "run_router_rtl"]

TOPLEVEL = "spikefab_router"
BENCH_MODULE = "spikefab.sim.benches.router_bench"
#: Port names, indexed by the value of :class:`spikefab.rtl.router.Port` (checked on the
#: host side; the bench itself does not import Amaranth, to start faster).
PORT_NAMES = ("local", "east", "west", "north", "south")
LOCAL, EAST, WEST, NORTH, SOUTH = range(5)


def route(design, dx, dy, exit=0):
    """The index of the output port XY routing chooses at router ``design`` (a dict with
    ``x``, ``y``, ``width``, ``height`` and ``edge_port``, a port name or None) for a packet
    to ``(dx, dy)``: outside the mesh -> LOCAL; x first, then y; at the destination the edge
    port for an ``exit`` packet if the router has one, else LOCAL."""
    x, y, width, height = design["x"], design["y"], design["width"], design["height"]
    if dx >= width or dy >= height:
        return LOCAL
    if dx != x:
        return EAST if dx > x else WEST
    if dy != y:
        return NORTH if dy > y else SOUTH
    edge = design.get("edge_port")
    if exit and edge is not None:
        return PORT_NAMES.index(edge.lower())
    return LOCAL


# --- host side -------------------------------------------------------------------------------

def _port_name(p):
    """A port's name from a :class:`Port`, its value or its name (any case)."""
    if isinstance(p, str):
        if p.lower() not in PORT_NAMES:
            raise ValueError(f"unknown port {p!r}: expected one of {', '.join(PORT_NAMES)}")
        return p.lower()
    return PORT_NAMES[int(p)]


def router_design(x, y, width, height, payload_bits=16, fifo_depth=4, edge_port=None):
    """The description of one router that the bench reads (``design.json``): its parameters
    and the packet layout's fields, ``name: [offset, width]``."""
    from spikefab.rtl.layouts import mesh_coord_bits, packet_layout
    from spikefab.rtl.router import Port
    assert PORT_NAMES == tuple(p.port_name for p in Port), "PORT_NAMES is out of date"
    layout = packet_layout(mesh_coord_bits(width), mesh_coord_bits(height), payload_bits)
    return {"x": x, "y": y, "width": width, "height": height, "payload_bits": payload_bits,
            "fifo_depth": fifo_depth,
            "edge_port": None if edge_port is None else _port_name(edge_port),
            "packet_bits": layout.size,
            "fields": {name: [layout[name].offset, layout[name].width]
                       for name in ("x", "y", "payload", "exit")}}


@functools.lru_cache(maxsize=16)
def _emit(x, y, width, height, payload_bits, fifo_depth, edge_port):
    from amaranth.back import verilog
    from amaranth.hdl import unsigned
    from spikefab.rtl.router import Port, XYRouter
    router = XYRouter(x=x, y=y, width=width, height=height,
                      payload_shape=unsigned(payload_bits), fifo_depth=fifo_depth,
                      edge_port=None if edge_port is None else Port[edge_port.upper()])
    return verilog.convert(router, name=TOPLEVEL, emit_src=False)


def emit_router_verilog(design):
    """The Verilog text (top module :data:`TOPLEVEL`) of the router ``design`` (from
    :func:`router_design`); kept for the life of the process."""
    return _emit(*(design[k] for k in ("x", "y", "width", "height", "payload_bits",
                                       "fifo_depth", "edge_port")))


def run_router_rtl(router, jobs, simulator, *, root="build/sim", waves=False, keep=False):
    """Run ``jobs`` (see the module docstring) on one router in one simulator process.

    ``router``: the router's keyword arguments ``x``, ``y``, ``width``, ``height`` and
    optionally ``payload_bits`` (16), ``fifo_depth`` (4) and ``edge_port`` (a :class:`Port`,
    its name, or None). Packets in ``sends`` may be ``(x, y, payload)`` (exit 0) or
    ``(x, y, payload, exit)``; ports may be :class:`Port` members, values or names. Returns
    one result dict per job; raises AssertionError, with the bench's error and the tail of
    the simulator log, when the bench finds an error. ``keep`` leaves the run folder (jobs,
    results, log) in place."""
    from spikefab.sim.runner import build_verilog, new_run_dir, run_cocotb
    design = router_design(**router)
    bdir = build_verilog(emit_router_verilog(design), simulator, toplevel=TOPLEVEL, root=root)
    run_dir = new_run_dir(bdir)
    norm = []
    for k, job in enumerate(jobs):
        job = dict(job)
        job.setdefault("name", f"job{k}")
        sends = {}
        for p, pkts in job.get("sends", {}).items():
            sends[_port_name(p)] = [[int(v) for v in pkt] + [0] * (4 - len(pkt))
                                    for pkt in pkts]
        job["sends"] = sends
        for key in ("gap", "backpressure"):
            val = job.get(key, 0.0)
            if isinstance(val, dict):
                val = {_port_name(p): float(v) for p, v in val.items()}
            job[key] = val
        norm.append(job)
    (run_dir / "design.json").write_text(json.dumps(design))
    (run_dir / "jobs.json").write_text(json.dumps(norm))
    try:
        run_cocotb(bdir, simulator, toplevel=TOPLEVEL, bench_module=BENCH_MODULE,
                   run_dir=run_dir, extra_env={"SPIKEFAB_JOBS": str(run_dir)}, waves=waves)
    except (SystemExit, AssertionError) as e:     # cocotb's runner exits on a failed test
        log = run_dir / "sim.log"
        text = log.read_text(errors="replace") if log.exists() else str(e)
        errors = [line.strip() for line in text.splitlines()
                  if "Error: " in line and "cocotb" not in line.split("Error: ")[0][-12:]]
        raise AssertionError(f"{simulator} router bench failed (log in {log}):\n"
                             + "\n".join(errors[-3:]) + "\n--- log tail ---\n"
                             + text[-3000:]) from None
    results = json.loads((run_dir / "results.json").read_text())
    if not keep:
        shutil.rmtree(run_dir, ignore_errors=True)
    return results


# --- bench -----------------------------------------------------------------------------------

class PacketCodec:
    """Packs ``(x, y, payload, exit)`` into the router's packet word and back, by the field
    offsets of the packet layout (``design["fields"]``)."""

    NAMES = ("x", "y", "payload", "exit")

    def __init__(self, design):
        self.fields = [tuple(design["fields"][n]) for n in self.NAMES]
        self.width = design["packet_bits"]

    def encode(self, pkt):
        word = 0
        for name, value, (off, w) in zip(self.NAMES, pkt, self.fields):
            assert 0 <= value < (1 << w), f"{name} = {value} does not fit in {w} bits"
            word |= value << off
        return word

    def decode(self, word):
        return tuple((word >> off) & ((1 << w) - 1) for off, w in self.fields)


def _per_port(value, port):
    return float(value.get(port, 0.0)) if isinstance(value, dict) else float(value)


class BenchError(AssertionError):
    pass


class Scoreboard:
    """Expected packets per (input, output) pair, in order; matches output transfers."""

    def __init__(self, design, codec, sends):
        self.design, self.codec = design, codec
        self.sends = [sends.get(name, []) for name in PORT_NAMES]
        self.total = sum(len(s) for s in self.sends)
        self.accepted = [0] * len(PORT_NAMES)
        self.queues = {(s, o): [] for s in range(len(PORT_NAMES))
                       for o in range(len(PORT_NAMES))}
        self.out = {name: [] for name in PORT_NAMES}
        self.delivered = 0
        self.outside_delivered = False
        self.history = collections.deque(maxlen=16)     # last transfers, for error messages

    def recent(self):
        return "; last transfers: " + ", ".join(self.history)

    def accept(self, src, word, cycle):
        k = self.accepted[src]
        if k >= len(self.sends[src]):
            raise BenchError(f"clock {cycle}: input {PORT_NAMES[src]} accepted a packet "
                             f"{self.codec.decode(word)} beyond the {k} the job sends")
        pkt = self.sends[src][k]
        if self.codec.encode(pkt) != word:
            raise BenchError(f"clock {cycle}: input {PORT_NAMES[src]} transferred "
                             f"{self.codec.decode(word)}, the driver offered {pkt}")
        self.accepted[src] += 1
        out = route(self.design, pkt[0], pkt[1], pkt[3])
        self.queues[src, out].append((k, word, cycle))
        self.history.append(f"{cycle}: {pkt} in on {PORT_NAMES[src]} (for {PORT_NAMES[out]})")

    def deliver(self, out, word, cycle, valid_cycle):
        for src in range(len(PORT_NAMES)):
            q = self.queues[src, out]
            if q and q[0][1] == word:
                k, _, in_cycle = q.pop(0)
                self.history.append(f"{cycle}: {self.sends[src][k]} out on {PORT_NAMES[out]}")
                self.out[PORT_NAMES[out]].append([int(src), k, in_cycle, valid_cycle, cycle])
                self.delivered += 1
                pkt = self.sends[src][k]
                if out == LOCAL and (pkt[0] >= self.design["width"]
                                     or pkt[1] >= self.design["height"]):
                    self.outside_delivered = True
                return
        pkt = self.codec.decode(word)
        where = [f"{PORT_NAMES[s]}->{PORT_NAMES[o]} at position {i}"
                 for (s, o), q in self.queues.items() for i, e in enumerate(q) if e[1] == word]
        if where:
            raise BenchError(f"clock {cycle}: packet {pkt} left on {PORT_NAMES[out]}, but it is "
                             f"expected as {', '.join(where)} (misrouted or out of order)"
                             + self.recent())
        raise BenchError(f"clock {cycle}: packet {pkt} left on {PORT_NAMES[out]}, and no "
                         f"accepted packet is waiting for it (duplicated or invented)"
                         + self.recent())

    def in_flight(self):
        return {f"{PORT_NAMES[s]}->{PORT_NAMES[o]}": len(q)
                for (s, o), q in self.queues.items() if q}

    def complete(self):
        return self.delivered == self.total


class RouterMonitor:
    """Samples all ten streams and ``bad_dest`` once per clock, after the values settle; the
    stream rules of each are :class:`~.streams.StreamRules`, as in every bench."""

    def __init__(self, dut, codec, scoreboard, timeout, stall):
        self.dut, self.codec, self.sb = dut, codec, scoreboard
        self.timeout, self.stall = timeout, stall
        self.streams = []       # (kind, port index, valid, ready, payload, rules)
        for kind in ("i", "o"):
            for p, pname in enumerate(PORT_NAMES):
                n = f"{kind}_{pname}"
                self.streams.append((kind, p, getattr(dut, f"{n}__valid"),
                                     getattr(dut, f"{n}__ready"),
                                     getattr(dut, f"{n}__payload"),
                                     StreamRules(n, codec.decode)))
        self.first_valid = [None] * len(self.streams)
        self.cycle = 0
        self.done_cycle = None
        self.last_progress = 0
        self.error = None
        self.finished = Event()

    async def run(self):
        try:
            while True:
                await ReadOnly()
                self._sample()
                await RisingEdge(self.dut.clk)
                self.cycle += 1
        except (BenchError, StreamError) as e:
            self.error = str(e)
            self.finished.set()

    def _sample(self):
        c, sb = self.cycle, self.sb
        flag = bit(self.dut.bad_dest, f"clock {c}: ")
        if flag != sb.outside_delivered:
            raise BenchError(f"clock {c}: bad_dest = {int(flag)}, expected "
                             f"{int(sb.outside_delivered)} (a packet addressed outside the "
                             f"mesh has {'' if sb.outside_delivered else 'not '}left on local)")
        offered = False
        for j, (kind, p, valid, ready, payload, rules) in enumerate(self.streams):
            v = bit(valid, f"clock {c}: ")
            r = bit(ready, f"clock {c}: ")
            offered |= v
            if v and rules.held is None:
                self.first_valid[j] = c
            word = rules.sample(v, r, payload, c)
            if word is not None:
                self.last_progress = c
                if kind == "i":
                    sb.accept(p, word, c)
                else:
                    sb.deliver(p, word, c, self.first_valid[j])
        if not offered and sb.delivered == sum(sb.accepted):
            self.last_progress = c          # idle between packets: nothing is waiting
        if self.done_cycle is None:
            if sb.complete():
                self.done_cycle = c
                self.finished.set()
            elif c >= self.timeout:
                raise BenchError(f"clock {c}: timeout, {sb.delivered} of {sb.total} packets "
                                 f"delivered; in flight: {sb.in_flight()}")
            elif c - self.last_progress > self.stall:
                raise BenchError(f"clock {c}: no transfer on any port for {self.stall} clocks "
                                 f"while packets wait, {sb.total - sb.delivered} not delivered "
                                 f"(deadlock); in flight: {sb.in_flight()}")


class RouterTB:
    """Clock, reset and the job loop of one router."""

    def __init__(self, dut, design):
        self.dut, self.design = dut, design
        self.codec = PacketCodec(design)
        got = len(dut.i_local__payload)
        assert got == self.codec.width, \
            f"the design's packet is {got} bits, the job's layout {self.codec.width}"
        Clock(dut.clk, 10, unit="ns").start()

    def _idle_inputs(self):
        for p in PORT_NAMES:
            getattr(self.dut, f"i_{p}__valid").value = 0
            getattr(self.dut, f"i_{p}__payload").value = 0

    async def reset(self):
        dut = self.dut
        self._idle_inputs()
        for p in PORT_NAMES:
            getattr(dut, f"o_{p}__ready").value = 0
        dut.rst.value = 1
        await ClockCycles(dut.clk, 3)
        dut.rst.value = 0
        await RisingEdge(dut.clk)

    async def run_job(self, job):
        dut, codec = self.dut, self.codec
        sends = job["sends"]
        total = sum(len(v) for v in sends.values())
        gap, bp = job.get("gap", 0.0), job.get("backpressure", 0.0)
        worst = max([_per_port(bp, p) for p in PORT_NAMES] + [0.0])
        slow = 1.0 / max(1e-3, 1.0 - worst)
        offer = max([len(v) / max(1e-3, 1.0 - _per_port(gap, p)) for p, v in sends.items()]
                    + [0.0])                # expected clocks to offer the longest input
        timeout = job.get("timeout") or int(200 + 4 * offer + 12 * slow * total)
        stall = job.get("stall") or int(100 + 40 * slow)
        seed = int(job.get("seed", 0))
        await self.reset()
        sb = Scoreboard(self.design, codec, sends)
        monitor = RouterMonitor(dut, codec, sb, timeout, stall)
        tasks = []
        for j, p in enumerate(PORT_NAMES):
            b = _per_port(bp, p)
            if b > 0:
                sink = StreamSink(dut, f"o_{p}", dut.clk,
                                  pause=chance(b, random.Random(seed * 64 + 2 * j + 1)))
                tasks.append(cocotb.start_soon(sink.drive_ready()))
            else:
                getattr(dut, f"o_{p}__ready").value = 1
        for j, p in enumerate(PORT_NAMES):
            if sends.get(p):
                src = StreamSource(dut, f"i_{p}", dut.clk, pause=chance(
                    _per_port(gap, p), random.Random(seed * 64 + 2 * j)))
                tasks.append(cocotb.start_soon(src.send([codec.encode(t) for t in sends[p]])))
        mon = cocotb.start_soon(monitor.run())
        await monitor.finished.wait()           # (in the read-only phase: no writes here)
        if monitor.error is None:
            await ClockCycles(dut.clk, int(job.get("drain", 30)))     # nothing more may leave
        mon.cancel()
        for t in tasks:
            t.cancel()
        if monitor.error is not None:
            raise AssertionError(f"job {job['name']!r}: {monitor.error}")
        self._idle_inputs()
        await ReadOnly()
        late = [p for p in PORT_NAMES if getattr(dut, f"o_{p}__valid").value == 1]
        assert not late, f"job {job['name']!r}: valid still high on {late} after the drain"
        bad_dest = int(dut.bad_dest.value == 1)
        await RisingEdge(dut.clk)
        last = max((r[4] for recs in sb.out.values() for r in recs), default=-1)
        return {
            "name": job["name"],
            "simulator": cocotb.SIM_NAME,
            "cycles": last + 1,
            "done_cycle": monitor.done_cycle,
            "sent": {p: sb.accepted[j] for j, p in enumerate(PORT_NAMES)},
            "received": {p: len(sb.out[p]) for p in PORT_NAMES},
            "pairs": {f"{PORT_NAMES[s]}>{PORT_NAMES[o]}":
                      sum(1 for r in sb.out[PORT_NAMES[o]] if r[0] == s)
                      for s in range(len(PORT_NAMES)) for o in range(len(PORT_NAMES))},
            "out": sb.out,
            "bad_dest": bad_dest,
            "total": total,
        }


@cocotb.test()
async def run_jobs(dut):
    """Run every job of the folder named by ``SPIKEFAB_JOBS``; write ``results.json``."""
    job_dir = Path(os.environ["SPIKEFAB_JOBS"])
    design = json.loads((job_dir / "design.json").read_text())
    jobs = json.loads((job_dir / "jobs.json").read_text())
    tb = RouterTB(dut, design)
    results = []
    for job in jobs:
        results.append(await tb.run_job(job))
        (job_dir / "results.json").write_text(json.dumps(results))
