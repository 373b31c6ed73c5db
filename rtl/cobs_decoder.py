"""COBS decoder of the host link: raw bytes in, decoded bytes and frame ends out (SPEC §3.8)."""


from amaranth.hdl import Module, Signal
from amaranth.lib import data, enum, stream, wiring
from amaranth.lib.wiring import In, Out

from .link_protocol import COBS_BLOCK_MAX, DELIMITER
from .params import check_int


__all__ = ["CobsStatus", "cobs_event_layout", "CobsDecoder"]


class CobsStatus(enum.Enum, shape=2):
    """How a frame ended, on the ``end`` event of :class:`CobsDecoder`."""
    OK = 0          # every COBS block complete
    CUT_SHORT = 1   # the delimiter came inside a block
    OVERSIZE = 2    # more than max_length decoded bytes (the rest were dropped)


#: One event out of the COBS decoder: a decoded byte (``end = 0``), or the end of a frame
#: (``end = 1``, with ``status``; ``data`` is then 0).
cobs_event_layout = data.StructLayout({
    "data": 8,
    "end": 1,
    "status": CobsStatus,
})


class CobsDecoder(wiring.Component):
    """Decodes COBS frames delimited by ``0x00``, resynchronising at every delimiter.

    Every ``0x00`` on ``i`` ends the current frame, whatever state the decoder is in, and the
    next byte starts a new one: there is no error state to leave and no reset or timeout is
    ever needed. For each frame with at least one byte the decoder emits its decoded bytes and
    then one ``end`` event whose ``status`` says whether the frame was whole (``OK``), had a
    block cut by the delimiter (``CUT_SHORT``), or decoded to more than ``max_length`` bytes
    (``OVERSIZE``: the bytes beyond ``max_length`` are dropped, not emitted; oversize wins over
    cut short). An empty frame (two delimiters in a row) emits nothing. Decoding follows
    ``firmware/link.py`` (``FrameDecoder``) byte for byte.

    Latency: 1 clock from a transfer on ``i`` to ``valid`` on ``o``; one byte per clock. Each
    input byte gives at most one event, so ``i.ready`` is high whenever ``o`` is empty or being
    taken.

    Parameters
    ----------
    max_length : int
        Largest decoded frame, in bytes (1..65541).

    Members
    -------
    i : In(stream.Signature(8))
        Raw bytes from the line.
    o : Out(stream.Signature(cobs_event_layout))
        Decoded bytes and frame ends; ``valid`` never depends on ``ready``.
    """

    def __init__(self, *, max_length):
        check_int("max_length", max_length, 1, (1 << 16) + 5)
        self._max_length = max_length
        super().__init__({
            "i": In(stream.Signature(8)),
            "o": Out(stream.Signature(cobs_event_layout)),
        })

    @property
    def max_length(self):
        return self._max_length

    def elaborate(self, platform):
        m = Module()
        in_frame = Signal()                             # a byte since the last delimiter
        remaining = Signal(8)                           # data bytes left in the block
        zero_next = Signal()                            # the block ends in an implicit zero
        count = Signal(range(self._max_length + 1))     # decoded bytes so far
        oversize = Signal()

        byte = self.i.payload
        m.d.comb += self.i.ready.eq(~self.o.valid | self.o.ready)
        with m.If(self.o.ready):
            m.d.sync += self.o.valid.eq(0)

        def emit(value):
            with m.If(count == self._max_length):
                m.d.sync += oversize.eq(1)
            with m.Elif(~oversize):
                m.d.sync += [self.o.payload.data.eq(value), self.o.payload.end.eq(0),
                             self.o.valid.eq(1), count.eq(count + 1)]

        with m.If(self.i.valid & self.i.ready):
            with m.If(byte == DELIMITER):
                with m.If(in_frame):
                    m.d.sync += [self.o.payload.data.eq(0), self.o.payload.end.eq(1),
                                 self.o.valid.eq(1)]
                    with m.If(oversize):
                        m.d.sync += self.o.payload.status.eq(CobsStatus.OVERSIZE)
                    with m.Elif(remaining != 0):
                        m.d.sync += self.o.payload.status.eq(CobsStatus.CUT_SHORT)
                    with m.Else():
                        m.d.sync += self.o.payload.status.eq(CobsStatus.OK)
                m.d.sync += [in_frame.eq(0), remaining.eq(0), zero_next.eq(0), count.eq(0),
                             oversize.eq(0)]
            with m.Elif(remaining == 0):                # a code byte
                with m.If(zero_next):
                    emit(0)
                m.d.sync += [in_frame.eq(1), remaining.eq(byte - 1),
                             zero_next.eq(byte != COBS_BLOCK_MAX + 1)]
            with m.Else():
                emit(byte)
                m.d.sync += remaining.eq(remaining - 1)
        return m
