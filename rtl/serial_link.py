"""The host link on a serial line: UART, receive FIFO and frame layer together (SPEC §3.8)."""

from amaranth.hdl import Module
from amaranth.lib import stream, wiring
from amaranth.lib.fifo import SyncFIFOBuffered
from amaranth.lib.wiring import In, Out

from .frame_link import FrameLink, frame_layout
from .link_protocol import MAX_PAYLOAD_DEFAULT
from .params import check_int
from .uart_rx import UARTReceiver
from .uart_tx import UARTTransmitter


__all__ = ["SerialFrameLink", "FIFO_MAX"]


#: Largest depth of the receive and transmit FIFOs.
FIFO_MAX = 4096


class SerialFrameLink(wiring.Component):
    """Checked frames over an 8N1 serial line: :class:`.uart_rx.UARTReceiver`, a byte FIFO of
    ``rx_fifo`` entries, :class:`.frame_link.FrameLink`, a byte FIFO of ``tx_fifo`` entries
    and :class:`.uart_tx.UARTTransmitter`: the link a board top-level puts on its USB UART.

    The FIFO lets the frame layer hand a frame up, or queue an error reply, while characters
    keep arriving: with the layer above taking ``rx_frame`` at once, a ``max_payload``-byte
    frame is handed over in ``max_payload + 3`` clocks, much less than one character time.
    A character that finds the FIFO full is dropped (``overrun``); the frame it belonged to
    is then answered as malformed, and the link recovers at the next delimiter.

    The transmit FIFO keeps the UART busy while the COBS encoder gathers its next block (up
    to 254 clocks): once it has filled, frames sent back to back leave at exactly the line
    rate for any ``clocks_per_bit`` (without it only from about 26 clocks per bit).

    Latency: a good frame is valid on ``rx_frame`` a few clocks (UART, FIFO and
    :class:`.frame_link.FrameLink`, each a clock or two) after the middle of the stop bit of
    its delimiter; a frame taken from ``tx_frame`` leaves at the line rate once its first
    COBS block is gathered.

    Parameters
    ----------
    clocks_per_bit : int
        Clock cycles per bit: the clock frequency divided by the baud rate, rounded.
    max_payload, commands, error_queue :
        As for :class:`.frame_link.FrameLink`.
    rx_fifo, tx_fifo : int
        Depths of the receive and transmit FIFOs, in bytes (2..4096 each).

    Members
    -------
    rx : In(1)
        Serial input, idle high.
    tx : Out(1)
        Serial output, idle high.
    rx_frame : Out(stream.Signature(frame_layout))
        Frames received intact.
    tx_frame : In(stream.Signature(frame_layout))
        Frames to send.
    framing_error, overrun : Out(1)
        Sticky flags of the UART receiver (see :class:`.uart_rx.UARTReceiver`).
    frame_error : Out(1)
        One-clock pulse per malformed frame (:class:`.frame_link.FrameLink` ``error``).
    """

    rx: In(1, init=1)
    tx: Out(1, init=1)
    rx_frame: Out(stream.Signature(frame_layout))
    tx_frame: In(stream.Signature(frame_layout))
    framing_error: Out(1)
    overrun: Out(1)
    frame_error: Out(1)

    def __init__(self, *, clocks_per_bit, max_payload=MAX_PAYLOAD_DEFAULT, commands=None,
                 error_queue=4, rx_fifo=32, tx_fifo=32):
        check_int("rx_fifo", rx_fifo, 2, FIFO_MAX)
        check_int("tx_fifo", tx_fifo, 2, FIFO_MAX)
        self._tx_fifo = tx_fifo
        self._uart_rx = UARTReceiver(clocks_per_bit=clocks_per_bit)
        self._uart_tx = UARTTransmitter(clocks_per_bit=clocks_per_bit)
        self._link = FrameLink(max_payload=max_payload, commands=commands,
                               error_queue=error_queue)
        self._rx_fifo = rx_fifo
        super().__init__()

    @property
    def frame_link(self):
        return self._link

    def elaborate(self, platform):
        m = Module()
        m.submodules.uart_rx = urx = self._uart_rx
        m.submodules.uart_tx = utx = self._uart_tx
        m.submodules.link = link = self._link
        m.submodules.rx_fifo = fifo = SyncFIFOBuffered(width=8, depth=self._rx_fifo)
        m.submodules.tx_fifo = tx_fifo = SyncFIFOBuffered(width=8, depth=self._tx_fifo)
        m.d.comb += [urx.rx.eq(self.rx), self.tx.eq(utx.tx),
                     self.framing_error.eq(urx.framing_error), self.overrun.eq(urx.overrun),
                     self.frame_error.eq(link.error)]
        wiring.connect(m, uart=urx.bytes, fifo=fifo.w_stream)
        wiring.connect(m, fifo=fifo.r_stream, link=link.rx_bytes)
        wiring.connect(m, link=link.tx_bytes, fifo=tx_fifo.w_stream)
        wiring.connect(m, fifo=tx_fifo.r_stream, uart=utx.bytes)
        wiring.connect(m, link=link.rx_frame, out=wiring.flipped(self.rx_frame))
        wiring.connect(m, inp=wiring.flipped(self.tx_frame), link=link.tx_frame)
        return m
