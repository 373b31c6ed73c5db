"""UART transmitter, 8N1, for the host link (SPEC §3.8)."""

from amaranth.hdl import Module, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from .params import check_int
from .uart_rx import CLOCKS_PER_BIT_MAX, CLOCKS_PER_BIT_MIN


__all__ = ["UARTTransmitter"]


class UARTTransmitter(wiring.Component):
    """Sends each byte taken from ``bytes`` on ``tx`` as an 8N1 character (a start bit, 8 data
    bits LSB first, a stop bit), back to back with no idle time between characters.

    Latency: the start bit begins 1 clock after a transfer on ``bytes``; a character lasts
    ``10 * clocks_per_bit`` clocks, and the next byte is taken in the last clock of the stop
    bit, so a continuous stream runs at exactly the line rate.

    Parameters
    ----------
    clocks_per_bit : int
        Clock cycles per bit (4..2**20).

    Members
    -------
    bytes : In(stream.Signature(8))
        Bytes to send.
    tx : Out(1)
        The serial line, idle high.
    busy : Out(1)
        A character is being sent.
    """

    bytes: In(stream.Signature(8))
    tx: Out(1, init=1)
    busy: Out(1)

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
        timer = Signal(range(cpb))
        bits = Signal(range(11))            # bits left to send, the current one included
        shreg = Signal(10, init=0x3FF)      # stop, d7..d0, start: shifted out LSB first

        last_clock = Signal()
        m.d.comb += [
            last_clock.eq((bits <= 1) & (timer == 0)),
            self.bytes.ready.eq((bits == 0) | last_clock),
            self.tx.eq(shreg[0]),
            self.busy.eq(bits != 0),
        ]
        with m.If(self.bytes.valid & self.bytes.ready):
            m.d.sync += [shreg.eq((1 << 9) | (self.bytes.payload << 1)),
                         bits.eq(10), timer.eq(cpb - 1)]
        with m.Elif(bits != 0):
            m.d.sync += timer.eq(timer - 1)
            with m.If(timer == 0):
                m.d.sync += [shreg.eq((shreg >> 1) | (1 << 9)), bits.eq(bits - 1),
                             timer.eq(cpb - 1)]
        return m
