"""CRC generator of the host link: appends the frame CRC to a stream of frame bytes."""

from amaranth.hdl import Module, Signal
from amaranth.lib import crc, stream, wiring
from amaranth.lib.wiring import In, Out

from .cobs_encoder import byte_layout
from .link_protocol import CRC


__all__ = ["link_crc_parameters", "CrcAppender"]


def link_crc_parameters():
    """The frame CRC (CRC-16/IBM-3740, :data:`.link_protocol.CRC`) as ``amaranth.lib.crc``
    parameters for one byte per clock, built from the exact parameters rather than from a
    catalogue name (Amaranth's ``CRC16_CCITT`` is the reflected KERMIT variant)."""
    return crc.Algorithm(crc_width=CRC.width, polynomial=CRC.polynomial,
                         initial_crc=CRC.init, reflect_input=CRC.reflect_input,
                         reflect_output=CRC.reflect_output, xor_output=CRC.xorout)(data_width=8)


class CrcAppender(wiring.Component):
    """Passes each frame from ``i`` to ``o`` and appends its CRC, most significant byte first:
    the byte that had ``last`` on ``i`` leaves without it, followed by the two CRC bytes, the
    second with ``last``.

    Latency: combinational for the frame's bytes (``o`` mirrors ``i``); the CRC bytes follow
    in the next two transfers of ``o``, while ``i`` waits.

    Members
    -------
    i : In(stream.Signature(byte_layout))
        Frame bytes.
    o : Out(stream.Signature(byte_layout))
        The same bytes and the CRC.
    """

    i: In(stream.Signature(byte_layout))
    o: Out(stream.Signature(byte_layout))

    def elaborate(self, platform):
        m = Module()
        m.submodules.crc = proc = link_crc_parameters().create()
        first = Signal(init=1)
        m.d.comb += proc.data.eq(self.i.payload.data)

        with m.FSM():
            with m.State("PASS"):
                m.d.comb += [
                    self.o.valid.eq(self.i.valid),
                    self.o.payload.data.eq(self.i.payload.data),
                    self.i.ready.eq(self.o.ready),
                    proc.valid.eq(self.i.valid & self.o.ready),
                    proc.start.eq(first),
                ]
                with m.If(self.i.valid & self.o.ready):
                    m.d.sync += first.eq(self.i.payload.last)
                    with m.If(self.i.payload.last):
                        m.next = "CRC_HI"
            with m.State("CRC_HI"):
                m.d.comb += [self.o.valid.eq(1), self.o.payload.data.eq(proc.crc[8:])]
                with m.If(self.o.ready):
                    m.next = "CRC_LO"
            with m.State("CRC_LO"):
                m.d.comb += [self.o.valid.eq(1), self.o.payload.data.eq(proc.crc[:8]),
                             self.o.payload.last.eq(1)]
                with m.If(self.o.ready):
                    m.next = "PASS"
        return m
