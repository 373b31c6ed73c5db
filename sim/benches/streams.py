"""One stream vocabulary for every cocotb bench: a source, a sink and a monitor, each built
from a port name prefix (cocotbext-axi's bus-from-prefix pattern: ``<prefix>__valid``,
``<prefix>__ready``, ``<prefix>__payload``) and optionally a decoder of the payload's layout.

Every stream a bench touches is guarded by :class:`StreamRules`: ``valid`` never falls and the
payload never changes before the transfer, and no ``valid``, ``ready`` or valid payload is X
or Z. The source obeys the rules by construction; the sink and the monitor check them on the
design's side, clock by clock.

No Amaranth import here: a bench starts faster without it (decoders come from the host side,
e.g. ``spikefab.rtl.layouts.word_decoder``).
"""

import collections

from cocotb.triggers import Event, ReadOnly, RisingEdge


__all__ = ["StreamError", "StreamRules", "StreamSource", "StreamSink", "StreamMonitor", "bit",
           "chance"]


def chance(p, rng):
    """An endless iterator of booleans, each true with probability ``p`` (a pause
    generator drawing ``rng.random()`` once per item); ``None`` for ``p = 0``."""
    if not p:
        return None

    def gen():
        r = rng.random
        while True:
            yield r() < p
    return gen()


class StreamError(AssertionError):
    """A stream broke the rules, or carried X or Z."""


def bit(handle, where=""):
    """A one-bit handle's value as a bool; X or Z raises :class:`StreamError`."""
    value = handle.value
    if value == 1:
        return True
    if value == 0:
        return False
    raise StreamError(f"{where}{handle._name} = {value} (X or Z)")


class StreamRules:
    """The stream rules of one stream, checked one settled clock at a time.

    :meth:`sample` takes ``valid`` and ``ready`` (bools) and the payload handle, and returns
    the payload word if a transfer happens in this clock, else None."""

    def __init__(self, name, decode=None):
        self.name, self.decode = name, decode or hex
        self.held = None

    def sample(self, valid, ready, payload, cycle=None):
        where = "" if cycle is None else f"clock {cycle}: "
        if not valid:
            if self.held is not None:
                raise StreamError(f"{where}{self.name}.valid fell before the transfer of "
                                  f"{self.decode(self.held)}")
            return None
        try:
            word = payload.value.to_unsigned()
        except ValueError:
            raise StreamError(f"{where}{self.name}.payload = {payload.value} (X or Z) while "
                              f"valid") from None
        if self.held is not None and word != self.held:
            raise StreamError(f"{where}{self.name}.payload changed from "
                              f"{self.decode(self.held)} to {self.decode(word)} before the "
                              f"transfer")
        self.held = None if ready else word
        return word if ready else None


class StreamSource:
    """Drives a stream into the design: ``await send(words)`` offers each word, holding
    ``valid`` and the payload until the transfer. ``pause`` is an iterator of booleans (any
    iterator, as cocotbext-axi's pause generators): a true value inserts an idle clock before
    the next word. With a ``clock`` (a callable returning the current clock number),
    :attr:`taken_at` holds the clock of each transfer, in order (``taken_at[k]`` is word ``k``
    counted by :attr:`sent`)."""

    def __init__(self, dut, prefix, clk, *, pause=None, clock=None):
        self.clk = clk
        self.valid = getattr(dut, f"{prefix}__valid")
        self.ready = getattr(dut, f"{prefix}__ready")
        self.payload = getattr(dut, f"{prefix}__payload")
        self.pause = pause
        self.clock = clock
        self.sent = 0
        self.taken_at = []

    def idle(self):
        self.valid.value = 0

    async def send(self, words):
        valid, ready, payload, clk = self.valid, self.ready, self.payload, self.clk
        rising, settled = RisingEdge(clk), ReadOnly()
        pause = self.pause
        for w in words:
            if pause is not None:
                while next(pause):
                    valid.value = 0
                    await rising
            valid.value = 1
            payload.value = w
            while True:
                await settled
                taken = ready.value == 1
                if taken and self.clock is not None:
                    self.taken_at.append(self.clock())
                await rising
                if taken:
                    break
            self.sent += 1
        valid.value = 0


class StreamSink:
    """Takes a stream out of the design, every clock: ``ready`` is low when the ``pause``
    iterator yields true (back-pressure), each transfer is checked by :class:`StreamRules`
    and queued with its clock; ``await recv()`` returns the next word. :attr:`cycle` counts
    clocks since :meth:`run` started. Monitors in :attr:`monitors` are sampled in the same
    settled phase of every clock (one coroutine wakes per clock for all of them)."""

    def __init__(self, dut, prefix, clk, *, pause=None, decode=None):
        self.clk = clk
        self.valid = getattr(dut, f"{prefix}__valid")
        self.ready = getattr(dut, f"{prefix}__ready")
        self.payload = getattr(dut, f"{prefix}__payload")
        self.pause = pause
        self.rules = StreamRules(prefix, decode)
        self.queue = collections.deque()
        self.cycle = 0
        self.error = None
        self.monitors = []
        self._got = Event()

    async def run(self):
        rising, settled = RisingEdge(self.clk), ReadOnly()
        valid, ready, payload, pause, rules = (self.valid, self.ready, self.payload,
                                               self.pause, self.rules)
        queue = self.queue
        try:
            while True:
                r = pause is None or not next(pause)
                ready.value = int(r)
                await settled
                v = valid.value
                word = None
                if v == 1:
                    word = rules.sample(True, r, payload, self.cycle)
                elif v == 0:
                    if rules.held is not None:
                        rules.sample(False, r, payload, self.cycle)
                else:
                    raise StreamError(f"clock {self.cycle}: {rules.name}.valid = {v} (X or Z)")
                for mon in self.monitors:
                    mon.sample()
                await rising
                self.cycle += 1
                if word is not None:
                    queue.append((word, self.cycle))
                    self._got.set()
        except StreamError as e:
            self.error = e
            self._got.set()

    async def drive_ready(self):
        """Only drive ``ready`` from the pause iterator, every clock, when another part of
        the bench (a monitor of several streams) observes and checks the transfers."""
        rising, ready, pause = RisingEdge(self.clk), self.ready, self.pause
        while True:
            ready.value = int(pause is None or not next(pause))
            await rising

    async def recv(self):
        """``(word, clock)`` of the next transfer (waits for it); re-raises a rule break."""
        while not self.queue:
            if self.error is not None:
                raise self.error
            self._got.clear()
            await self._got.wait()
        if self.error is not None and not self.queue:
            raise self.error
        return self.queue.popleft()


class StreamMonitor:
    """Watches streams without driving them: every clock, for each prefix, a transfer
    (``valid``, and ``ready`` if the port has one) is decoded and appended to
    ``records[prefix]``; ports with ``ready`` are checked by :class:`StreamRules`."""

    def __init__(self, dut, prefixes, clk, *, decode=None):
        self.clk, self.decode = clk, decode or (lambda w: w)
        self.ports = []
        for prefix in prefixes:
            ready = getattr(dut, f"{prefix}__ready", None)
            self.ports.append((prefix, getattr(dut, f"{prefix}__valid"), ready,
                               getattr(dut, f"{prefix}__payload"),
                               StreamRules(prefix) if ready is not None else None))
        self.records = {prefix: [] for prefix in prefixes}
        self.error = None

    def take(self):
        """The records since the last call, per prefix."""
        recs = self.records
        self.records = {prefix: [] for prefix in recs}
        return recs

    def sample(self):
        """Sample every port once; call in the settled (read-only) phase of a clock."""
        decode = self.decode
        try:
            for prefix, valid, ready, payload, rules in self.ports:
                if rules is None:
                    if valid.value == 1:
                        self.records[prefix].append(decode(payload.value.to_unsigned()))
                    continue
                word = rules.sample(bit(valid), bit(ready), payload)
                if word is not None:
                    self.records[prefix].append(decode(word))
        except (StreamError, ValueError) as e:
            if self.error is None:
                self.error = e

    async def run(self):
        """Sample every clock on its own (or add the monitor to a
        :attr:`StreamSink.monitors` to share the sink's clock loop)."""
        rising, settled = RisingEdge(self.clk), ReadOnly()
        while True:
            await settled
            self.sample()
            await rising
