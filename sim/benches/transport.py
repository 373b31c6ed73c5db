"""The cocotb transport of the host API: the design's ``host`` streams driven by
:class:`~spikefab.sim.benches.streams.StreamSource` and
:class:`~spikefab.sim.benches.streams.StreamSink`.

Import direction: ``spikefab.firmware`` builds on ``spikefab.rtl`` only and defines the
transport interface; ``spikefab.sim`` imports ``spikefab.firmware`` to implement it (both sit
on ``rtl``; neither is above the other, and the firmware never imports ``sim``).
"""

import random

import cocotb

from spikefab.firmware.transport import Transport

from .streams import StreamSink, StreamSource, chance


__all__ = ["CocotbTransport"]


class CocotbTransport(Transport):
    """Commands into ``<prefix>__cmd``, replies from ``<prefix>__reply`` of a simulated
    design. ``gap_prob``: probability of an idle clock before each command; ``backpressure``:
    probability that the reply sink holds ``ready`` low in a clock. :attr:`last_cycle` is the
    clock (counted from :meth:`start`) of the last reply taken; :meth:`command_clock` gives
    the clock of each command's transfer on the same count."""

    def __init__(self, dut, clk, *, prefix="host", gap_prob=0.0, backpressure=0.0, seed=0):
        rng = random.Random(seed)
        self.sink = StreamSink(dut, f"{prefix}__reply", clk, pause=chance(backpressure, rng))
        self.source = StreamSource(dut, f"{prefix}__cmd", clk, pause=chance(gap_prob, rng),
                                   clock=lambda: self.sink.cycle)
        self.last_cycle = 0
        self._task = None

    def start(self):
        self.source.idle()
        self._task = cocotb.start_soon(self.sink.run())

    def stop(self):
        if self._task is not None:
            self._task.cancel()
            self._task = None

    @property
    def cycle(self):
        return self.sink.cycle

    @property
    def commands_sent(self):
        """Commands transferred so far (an index into :meth:`command_clock`)."""
        return self.source.sent

    def command_clock(self, k):
        """The clock (as :attr:`cycle` counts) at which command ``k`` was transferred."""
        return self.source.taken_at[k]

    async def send(self, words):
        if self.sink.error is not None:
            raise self.sink.error
        await self.source.send(words)

    async def recv(self):
        word, self.last_cycle = await self.sink.recv()
        return word
