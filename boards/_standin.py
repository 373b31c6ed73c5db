"""STAND-IN for ``rtl/serial_top.py`` (``SerialTop``), built by another branch: remove this
file when the real one lands (the switch is the one import in :mod:`.top`).

It has the contract's constructor and signature, and resources close to the real thing (the
design of ``top_for(image)`` beside a :class:`~spikefab.rtl.serial_link.SerialFrameLink`), but
it does **not** implement the host commands: every good frame is echoed back unchanged, and
its payload bytes are shifted into the host interface's command word (the last byte making it
valid), so that no part of the design is optimised away. It is for board builds and board
benches until the real ``SerialTop`` is merged, nothing else.
"""

from amaranth.hdl import Cat, Module, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from ..rtl.image import CoreImage
from ..rtl.serial_link import SerialFrameLink
from ..rtl.top import top_for


__all__ = ["SerialTop"]


class SerialTop(wiring.Component):
    """Stand-in of the serial top-level: the design of ``image`` behind a serial line.

    Latency: a good frame is echoed at the line rate a few clocks after its delimiter.

    Parameters
    ----------
    image : CoreImage or NetworkImage
    clk_hz : int
        Frequency of the ``sync`` domain, in Hz.
    baud : int
        Line rate.

    Members
    -------
    rx : In(1)
    tx : Out(1)
    status : Out(4)
        Bit 0 heartbeat (toggles every ``clk_hz / 4`` clocks), bit 1 running (a command is
        pending; here: the stand-in's command word is valid), bit 2 link error (a framing
        error or an overrun, sticky), bit 3 a spike seen (a ``SPIKE`` reply, sticky; here the
        XOR of every reply word too).
    """

    rx: In(1, init=1)
    tx: Out(1, init=1)
    status: Out(4)

    def __init__(self, image, *, clk_hz: int, baud: int = 115200):
        self._image = image
        self._clk_hz = int(clk_hz)
        self._baud = int(baud)
        if isinstance(image, CoreImage) and image.params.trace_port:
            raise ValueError("a board top-level needs an image with trace_port = False")
        super().__init__()

    def elaborate(self, platform):
        m = Module()
        m.submodules.link = link = SerialFrameLink(
            clocks_per_bit=round(self._clk_hz / self._baud))
        m.submodules.design = design = top_for(self._image)
        m.d.comb += [link.rx.eq(self.rx), self.tx.eq(link.tx)]
        # echo every good frame
        wiring.connect(m, link.rx_frame, link.tx_frame)

        host = design.host
        cmd_bits = Signal(len(host.cmd.payload.as_value()))
        taken = link.rx_frame.valid & link.rx_frame.ready
        with m.If(taken):
            m.d.sync += cmd_bits.eq(Cat(cmd_bits[8:], link.rx_frame.payload.data))
        with m.If(taken & link.rx_frame.payload.last):
            m.d.sync += host.cmd.valid.eq(1)
        with m.Elif(host.cmd.ready):
            m.d.sync += host.cmd.valid.eq(0)
        m.d.comb += [host.cmd.payload.eq(cmd_bits), host.reply.ready.eq(1)]

        seen = Signal()
        with m.If(host.reply.valid):
            m.d.sync += seen.eq(seen | (host.reply.payload.kind == 1) |
                                host.reply.payload.as_value().xor())
        link_error = Signal()
        m.d.sync += link_error.eq(link_error | link.framing_error | link.overrun)
        beat = Signal()
        count = Signal(range(max(2, self._clk_hz // 4)))
        m.d.sync += count.eq(count + 1)
        with m.If(count == max(1, self._clk_hz // 4) - 1):
            m.d.sync += [count.eq(0), beat.eq(~beat)]
        m.d.comb += self.status.eq(Cat(beat, host.cmd.valid, link_error, seen))
        return m
