"""UART receiver, 8N1, for the host link (SPEC §3.8)."""

from amaranth.hdl import Module, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.cdc import FFSynchronizer
from amaranth.lib.wiring import In, Out

from .params import check_int


__all__ = ["UARTReceiver", "CLOCKS_PER_BIT_MIN", "CLOCKS_PER_BIT_MAX"]


#: Smallest and largest ``clocks_per_bit`` of the UART components.
CLOCKS_PER_BIT_MIN = 4
CLOCKS_PER_BIT_MAX = 1 << 20
_EDGE_DELAY = 3


class UARTReceiver(wiring.Component):
    """Receives 8N1 characters (one start bit, 8 data bits LSB first, one stop bit) on ``rx``.

    ``rx`` passes through a two-flop synchroniser; a start bit is a falling edge on the
    synchronised line, confirmed half a bit later, and each data bit and the stop bit are
    sampled in the middle of their bit time. A character whose stop bit reads 0 is dropped and
    sets ``framing_error`` (a break, or a receiver out of step); the receiver then waits for
    the line to return high before looking for the next start bit. A character completed while
    the previous one is still waiting on ``bytes`` (``ready`` low) is dropped and sets
    ``overrun``. A dropped character corrupts the frame it belonged to, which the frame layer
    above detects and answers.

    Latency: ``bytes.valid`` rises 1 clock after the middle of the stop bit, that is about 9.5
    bit times after the start bit's falling edge (the sampling points are advanced by the
    synchroniser's 3 clocks, so they fall in the middle of each bit). A sender's baud rate may
    be off by about +-3 % at 16 clocks per bit (tested), more with more clocks per bit.

    Parameters
    ----------
    clocks_per_bit : int
        Clock cycles per bit (4..2**20): the clock frequency divided by the baud rate, rounded.

    Members
    -------
    rx : In(1)
        The serial line, idle high (asynchronous to the clock).
    bytes : Out(stream.Signature(8))
        Characters received. ``valid`` never depends on ``ready``.
    framing_error : Out(1)
        Sticky: a character had a bad stop bit.
    overrun : Out(1)
        Sticky: a character was dropped because ``bytes`` was not taken in time.
    """

    rx: In(1, init=1)
    bytes: Out(stream.Signature(8))
    framing_error: Out(1)
    overrun: Out(1)

    def __init__(self, *, clocks_per_bit):
        check_int("clocks_per_bit", clocks_per_bit, CLOCKS_PER_BIT_MIN, CLOCKS_PER_BIT_MAX)
        self._clocks_per_bit = clocks_per_bit
        super().__init__()

    @property
    def clocks_per_bit(self):
        return self._clocks_per_bit

    def elaborate(self, platform):
        m = Module()
        cpb = self._clocks_per_bit
        rx = Signal(init=1)
        m.submodules.sync_rx = FFSynchronizer(self.rx, rx, init=1)

        timer = Signal(range(cpb))
        bit = Signal(range(8))
        shreg = Signal(8)

        with m.If(self.bytes.ready):
            m.d.sync += self.bytes.valid.eq(0)

        with m.FSM():
            with m.State("IDLE"):
                with m.If(~rx):
                    # the synchroniser and this state delay the edge by 3 clocks
                    m.d.sync += timer.eq(max(cpb // 2 - 1 - _EDGE_DELAY, 0))
                    m.next = "START"
            with m.State("START"):
                m.d.sync += timer.eq(timer - 1)
                with m.If(timer == 0):
                    with m.If(rx):
                        m.next = "IDLE"             # a glitch, not a start bit
                    with m.Else():
                        m.d.sync += [timer.eq(cpb - 1), bit.eq(0)]
                        m.next = "DATA"
            with m.State("DATA"):
                m.d.sync += timer.eq(timer - 1)
                with m.If(timer == 0):
                    m.d.sync += [shreg.eq((shreg >> 1) | (rx << 7)), timer.eq(cpb - 1),
                                 bit.eq(bit + 1)]
                    with m.If(bit == 7):
                        m.next = "STOP"
            with m.State("STOP"):
                m.d.sync += timer.eq(timer - 1)
                with m.If(timer == 0):
                    with m.If(~rx):
                        m.d.sync += self.framing_error.eq(1)
                        m.next = "BREAK"
                    with m.Else():
                        with m.If(self.bytes.valid & ~self.bytes.ready):
                            m.d.sync += self.overrun.eq(1)
                        with m.Else():
                            m.d.sync += [self.bytes.payload.eq(shreg), self.bytes.valid.eq(1)]
                        m.next = "IDLE"
            with m.State("BREAK"):
                with m.If(rx):
                    m.next = "IDLE"
        return m
