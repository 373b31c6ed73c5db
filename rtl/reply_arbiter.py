"""The output stage of a host interface: replies from several sources onto one stream."""

from amaranth.hdl import Module, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from .params import check_int


__all__ = ["ReplyArbiter"]


class ReplyArbiter(wiring.Component):
    """Merges ``sources`` reply streams onto one registered reply stream, by fixed priority.

    Whenever the output register is empty or being taken, it loads the payload of the
    lowest-numbered source whose ``valid`` is high (that source's transfer). The output's
    ``valid`` is a register and its payload holds until the transfer, whatever the sources
    do. Latency: one clock; throughput: one reply per clock.

    Ordering is the sources' business: a reply offered while a higher-priority source is
    valid waits. The host tops use it so that at most the sources whose order does not
    matter compete (see :mod:`~spikefab.rtl.host`).

    Parameters
    ----------
    layout : Layout
        The reply layout (:func:`~spikefab.rtl.host.host_reply_layout`).
    sources : int
        Number of inputs (1..16).

    Members
    -------
    i : In(stream.Signature(layout)).array(sources)
    o : Out(stream.Signature(layout))
    """

    def __init__(self, *, layout, sources):
        check_int("sources", sources, 1, 16)
        self._n = sources
        super().__init__({
            "i": In(stream.Signature(layout)).array(sources),
            "o": Out(stream.Signature(layout)),
        })

    def elaborate(self, platform):
        m = Module()
        load = Signal()
        m.d.comb += load.eq(~self.o.valid | self.o.ready)
        taken = Signal()
        for k in range(self._n):
            src = self.i[k]
            grant = load & src.valid & ~taken
            m.d.comb += src.ready.eq(grant)
            with m.If(grant):
                m.d.sync += [self.o.payload.eq(src.payload), self.o.valid.eq(1)]
            taken_next = Signal(name=f"taken_{k}")
            m.d.comb += taken_next.eq(taken | src.valid)
            taken = taken_next
        with m.If(load & ~taken):
            m.d.sync += self.o.valid.eq(0)
        return m
