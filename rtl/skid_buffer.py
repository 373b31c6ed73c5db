"""A register stage for a stream that keeps full throughput: a two-entry skid buffer."""

from amaranth.hdl import Module, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out


__all__ = ["SkidBuffer"]


class SkidBuffer(wiring.Component):
    """One register stage on a stream, with every output of the stage a register.

    ``o.valid``, ``o.payload`` and ``i.ready`` are registers, so neither side's logic runs
    through the buffer into the other's: a long combinational path (a fan-out across a chip,
    a decode) ends here. Transfers keep their order and nothing is dropped or duplicated.

    Latency: a transfer on ``i`` is offered on ``o`` the next clock. Throughput: one
    transfer per clock (when ``o`` stalls, the second entry takes the transfer that was
    already accepted, and ``i.ready`` falls the clock after).

    Parameters
    ----------
    shape : ShapeLike
        The payload shape (a layout, or an unsigned width).

    Members
    -------
    i : In(stream.Signature(shape))
    o : Out(stream.Signature(shape))
    empty : Out(1)
        No transfer is held (combinational from the buffer's registers).
    """

    def __init__(self, shape):
        self._shape = shape
        super().__init__({
            "i": In(stream.Signature(shape)),
            "o": Out(stream.Signature(shape)),
            "empty": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        skid_valid = Signal()
        skid = Signal(self._shape)
        m.d.comb += [self.i.ready.eq(~skid_valid), self.empty.eq(~self.o.valid)]
        with m.If(~self.o.valid | self.o.ready):
            # the output register is free (or being taken): refill it, the skid entry first
            with m.If(skid_valid):
                m.d.sync += [self.o.payload.eq(skid), skid_valid.eq(0)]
            with m.Else():
                m.d.sync += [self.o.payload.eq(self.i.payload), self.o.valid.eq(self.i.valid)]
        with m.Elif(self.i.valid & ~skid_valid):
            # the output stalls: park the transfer accepted in this clock
            m.d.sync += [skid.eq(self.i.payload), skid_valid.eq(1)]
        return m
