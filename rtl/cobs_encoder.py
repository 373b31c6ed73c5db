"""COBS encoder of the host link: frame bytes in, raw bytes with delimiters out (SPEC §3.8)."""

from amaranth.hdl import Module, Signal
from amaranth.lib import data, stream, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from .link_protocol import COBS_BLOCK_MAX, DELIMITER


__all__ = ["byte_layout", "CobsEncoder"]


#: A byte of a frame, ``last`` on the frame's final byte.
byte_layout = data.StructLayout({"data": 8, "last": 1})


class CobsEncoder(wiring.Component):
    """COBS-encodes each frame (the bytes on ``i`` up to one with ``last``) in canonical form
    and follows it with one ``0x00`` delimiter; the output is byte for byte
    ``firmware.link.cobs_encode(frame) + b"\\x00"``.

    Non-zero bytes are held in a 254-byte buffer (one block RAM) until a zero byte, the 254th
    non-zero byte or the frame's last byte closes the block; the block's code byte and then
    its bytes are sent while ``i`` waits.

    Latency: the first output byte is valid 1 clock after the transfer that closes the first
    block; a block of ``n`` data bytes is gathered in ``n`` clocks and sent in ``n + 1`` (with
    ``o.ready`` high), so a frame passes at about 2 clocks per byte: far faster than a UART.

    Members
    -------
    i : In(stream.Signature(byte_layout))
        Frame bytes; a frame is at least one byte long.
    o : Out(stream.Signature(8))
        Encoded bytes and delimiters; ``valid`` never depends on ``ready``.
    """

    i: In(stream.Signature(byte_layout))
    o: Out(stream.Signature(8))

    def elaborate(self, platform):
        m = Module()
        m.submodules.buf = buf = Memory(shape=8, depth=COBS_BLOCK_MAX, init=[])
        wr = buf.write_port()
        rd = buf.read_port(transparent_for=())

        fill = Signal(range(COBS_BLOCK_MAX + 1))        # bytes in the buffer
        code = Signal(8)
        idx = Signal(range(COBS_BLOCK_MAX + 1))         # buffered byte on the output
        then_final = Signal()                           # after the block: code 0x01
        then_delim = Signal()                           # after the block: the delimiter

        byte, last = self.i.payload.data, self.i.payload.last
        m.d.comb += [wr.addr.eq(fill), wr.data.eq(byte), rd.addr.eq(idx)]

        with m.FSM():
            with m.State("FILL"):
                m.d.comb += self.i.ready.eq(1)
                with m.If(self.i.valid):
                    m.d.sync += idx.eq(0)
                    with m.If(byte != 0):
                        m.d.comb += wr.en.eq(1)
                        m.d.sync += fill.eq(fill + 1)
                        with m.If(fill == COBS_BLOCK_MAX - 1):
                            m.d.sync += [code.eq(COBS_BLOCK_MAX + 1), then_final.eq(0),
                                         then_delim.eq(last)]
                            m.next = "CODE"
                        with m.Elif(last):
                            m.d.sync += [code.eq(fill + 2), then_final.eq(0), then_delim.eq(1)]
                            m.next = "CODE"
                    with m.Else():
                        m.d.sync += [code.eq(fill + 1), then_final.eq(last), then_delim.eq(0)]
                        m.next = "CODE"
            with m.State("CODE"):
                m.d.comb += [self.o.valid.eq(1), self.o.payload.eq(code)]
                with m.If(self.o.ready):
                    m.d.sync += fill.eq(0)
                    with m.If(code != 1):
                        m.next = "DATA"
                    with m.Elif(then_final):
                        m.next = "FINAL"
                    with m.Elif(then_delim):
                        m.next = "DELIM"
                    with m.Else():
                        m.next = "FILL"
            with m.State("DATA"):
                m.d.comb += [self.o.valid.eq(1), self.o.payload.eq(rd.data)]
                with m.If(self.o.ready):
                    m.d.comb += rd.addr.eq(idx + 1)
                    m.d.sync += idx.eq(idx + 1)
                    with m.If(idx == code - 2):
                        with m.If(then_final):
                            m.next = "FINAL"
                        with m.Elif(then_delim):
                            m.next = "DELIM"
                        with m.Else():
                            m.next = "FILL"
            with m.State("FINAL"):
                m.d.comb += [self.o.valid.eq(1), self.o.payload.eq(1)]
                with m.If(self.o.ready):
                    m.next = "DELIM"
            with m.State("DELIM"):
                m.d.comb += [self.o.valid.eq(1), self.o.payload.eq(DELIMITER)]
                with m.If(self.o.ready):
                    m.next = "FILL"
        return m
