"""The host link's frame layer: checked frames in and out over a byte stream (SPEC §3.8)."""

from amaranth.hdl import Module, Signal
from amaranth.lib import data, stream, wiring
from amaranth.lib.fifo import SyncFIFOBuffered
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from .cobs_decoder import CobsDecoder, CobsStatus
from .cobs_encoder import CobsEncoder
from .crc_append import CrcAppender, link_crc_parameters
from .link_protocol import (
    CMD_ERROR, CRC, CRC_BYTES, ERROR_PAYLOAD_BYTES, HEADER_BYTES, LinkError,
    MAX_PAYLOAD_DEFAULT, MAX_PAYLOAD_LIMIT, OVERHEAD_BYTES, default_commands,
)
from .params import ParamError, check_int


__all__ = ["frame_layout", "error_request_layout", "FrameLink", "ERROR_QUEUE_MAX"]


#: Largest depth of the queue of error replies.
ERROR_QUEUE_MAX = 256


#: One payload byte of a frame, with the frame's header: ``seq``, ``cmd`` and ``length`` hold
#: for the whole frame; ``first`` and ``last`` mark its first and last payload bytes. A frame
#: with an empty payload is one transfer with ``first = last = 1`` (its ``data`` ignored).
frame_layout = data.StructLayout({
    "seq": 8,
    "cmd": 8,
    "length": 16,
    "data": 8,
    "first": 1,
    "last": 1,
})


#: An error reply waiting to be sent: the code and the offending frame's seq and cmd.
error_request_layout = data.StructLayout({"code": 8, "seq": 8, "cmd": 8})


class FrameLink(wiring.Component):
    """Frames over a byte stream: COBS with ``0x00`` delimiters, a header and a CRC-16/IBM-3740
    (docs/host_link.md; the protocol is defined in :mod:`.link_protocol`).

    Receiving, each frame is decoded into a buffer of ``max_payload + 6`` bytes and judged when
    its delimiter arrives, exactly as ``firmware.link.FrameDecoder`` does: a good frame is then
    handed out on ``rx_frame``, payload byte by payload byte; a bad one (oversize, cut short,
    bad CRC, bad length, unknown command) is answered on ``tx_bytes`` with an error reply and
    never reaches ``rx_frame``. Nothing of a frame is handed out before its CRC is checked, so
    malformed input changes nothing above. Every ``0x00`` starts a new frame: the link
    recovers at the next delimiter, with no timeout and no reset. Empty frames (two delimiters
    in a row) are ignored, so a host may send a ``0x00`` first to flush a partial frame.

    Sending, each frame taken from ``tx_frame`` is given its header and CRC, COBS-encoded and
    followed by a delimiter. Error replies wait in a queue of ``error_queue`` entries and take
    precedence over ``tx_frame`` between frames.

    While a frame waits on ``rx_frame``, or an error reply waits for room in the queue,
    ``rx_bytes`` is not ready: put a FIFO before it if its source cannot wait (a UART receiver
    cannot; :class:`.serial_link.SerialFrameLink` has one). A host that waits for each reply
    before sending its next frame never fills the queue; a flood of malformed frames faster
    than their replies can leave is answered until the queue and that FIFO are full, after
    which the flood itself is lost (never any state: nothing malformed reaches ``rx_frame``).

    Latency: ``rx_frame.valid`` rises 1 clock after the clock edge that takes a good frame's
    delimiter from ``rx_bytes``, and its payload bytes follow one per clock; the first byte of
    an error reply is valid on ``tx_bytes`` 8 clocks after that edge when the transmitter is
    idle (the COBS encoder first gathers a block). Sending takes about 2 clocks per frame byte
    when ``tx_bytes`` is always ready. ``rx_bytes`` takes one byte per
    clock while the receiver is gathering a frame.

    Parameters
    ----------
    max_payload : int
        Largest payload accepted, in bytes (1..65535); longer frames get ``OVERSIZE``.
    commands : iterable of int, optional
        Command bytes accepted (each 0..254); others get ``UNKNOWN_COMMAND``. By default every
        byte but ``CMD_ERROR`` (0xFF).
    error_queue : int
        Error replies that can wait to be sent (1..256).

    Members
    -------
    rx_bytes : In(stream.Signature(8))
        Bytes from the line.
    tx_bytes : Out(stream.Signature(8))
        Bytes to the line; ``valid`` never depends on ``ready``.
    rx_frame : Out(stream.Signature(frame_layout))
        Frames received intact.
    tx_frame : In(stream.Signature(frame_layout))
        Frames to send; ``seq``, ``cmd`` and ``length`` must hold for the whole frame and
        ``length`` must equal the number of payload bytes (1 transfer if 0).
    error : Out(1)
        A one-clock pulse for every malformed frame (when its error reply is queued).
    """

    def __init__(self, *, max_payload=MAX_PAYLOAD_DEFAULT, commands=None, error_queue=4):
        check_int("max_payload", max_payload, 1, MAX_PAYLOAD_LIMIT)
        check_int("error_queue", error_queue, 1, ERROR_QUEUE_MAX)
        self._error_queue = error_queue
        commands = default_commands() if commands is None else commands
        try:
            commands = frozenset(commands)
        except TypeError:
            raise ParamError(f"commands must be an iterable of command bytes, not "
                             f"{commands!r}") from None
        for c in commands:
            if isinstance(c, bool) or not isinstance(c, int) or not 0 <= c < CMD_ERROR:
                raise ParamError(f"commands must hold integers in 0..{CMD_ERROR - 1}, "
                                 f"not {c!r}")
        if not commands:
            raise ParamError("commands must hold at least one command byte, not none")
        self._max_payload = max_payload
        self._commands = commands
        super().__init__({
            "rx_bytes": In(stream.Signature(8)),
            "tx_bytes": Out(stream.Signature(8)),
            "rx_frame": Out(stream.Signature(frame_layout)),
            "tx_frame": In(stream.Signature(frame_layout)),
            "error": Out(1),
        })

    @property
    def max_payload(self):
        return self._max_payload

    @property
    def commands(self):
        return self._commands

    @property
    def error_queue(self):
        return self._error_queue

    def elaborate(self, platform):
        m = Module()
        m.submodules.err_queue = err = SyncFIFOBuffered(
            width=error_request_layout.size, depth=self._error_queue)
        self._elaborate_rx(m, err)
        self._elaborate_tx(m, err)
        return m

    def _elaborate_rx(self, m, err):
        max_length = self._max_payload + OVERHEAD_BYTES
        m.submodules.cobs_dec = dec = CobsDecoder(max_length=max_length)
        m.submodules.rx_crc = proc = link_crc_parameters().create()
        m.submodules.rx_buf = buf = Memory(shape=8, depth=max_length, init=[])
        wr = buf.write_port()
        rd = buf.read_port(transparent_for=())
        wiring.connect(m, rx=wiring.flipped(self.rx_bytes), dec=dec.i)

        count = Signal(range(max_length + 1))
        seq, cmd, length = Signal(8), Signal(8), Signal(16)
        idx = Signal(range(max_length + 1))             # buffered byte on rx_frame
        ev = dec.o.payload
        m.d.comb += [wr.addr.eq(count), wr.data.eq(ev.data), proc.data.eq(ev.data),
                     rd.addr.eq(idx)]

        code = Signal(8)
        err_code = Signal(8)
        w = error_request_layout(err.w_data)
        m.d.comb += [w.code.eq(err_code), w.seq.eq(seq), w.cmd.eq(cmd)]
        with m.If(ev.status == CobsStatus.OVERSIZE):
            m.d.comb += code.eq(LinkError.OVERSIZE)
        with m.Elif((ev.status == CobsStatus.CUT_SHORT) | (count < OVERHEAD_BYTES)):
            m.d.comb += code.eq(LinkError.CUT_SHORT)
        with m.Elif(~proc.match_detected):
            m.d.comb += code.eq(LinkError.BAD_CRC)
        with m.Elif(length != count - OVERHEAD_BYTES):
            m.d.comb += code.eq(LinkError.BAD_LENGTH)
        with m.Elif(~cmd.matches(*sorted(self._commands))):
            m.d.comb += code.eq(LinkError.UNKNOWN_COMMAND)

        with m.FSM():
            with m.State("RECV"):
                m.d.comb += [dec.o.ready.eq(1), rd.addr.eq(HEADER_BYTES)]
                with m.If(dec.o.valid & ~ev.end):
                    m.d.comb += [wr.en.eq(1), proc.valid.eq(1), proc.start.eq(count == 0)]
                    m.d.sync += count.eq(count + 1)
                    with m.Switch(count):
                        with m.Case(0):
                            m.d.sync += seq.eq(ev.data)
                        with m.Case(1):
                            m.d.sync += cmd.eq(ev.data)
                        with m.Case(2):
                            m.d.sync += length[:8].eq(ev.data)
                        with m.Case(3):
                            m.d.sync += length[8:].eq(ev.data)
                with m.If(dec.o.valid & ev.end):
                    m.d.sync += [idx.eq(HEADER_BYTES), err_code.eq(code)]
                    with m.If(code == 0):
                        m.next = "DELIVER"
                    with m.Else():
                        m.next = "REPORT"
            with m.State("DELIVER"):
                empty = length == 0
                last = empty | (idx == count - CRC_BYTES - 1)
                m.d.comb += [
                    self.rx_frame.valid.eq(1),
                    self.rx_frame.payload.seq.eq(seq),
                    self.rx_frame.payload.cmd.eq(cmd),
                    self.rx_frame.payload.length.eq(length),
                    self.rx_frame.payload.data.eq(rd.data & ~empty.replicate(8)),
                    self.rx_frame.payload.first.eq(idx == HEADER_BYTES),
                    self.rx_frame.payload.last.eq(last),
                ]
                with m.If(self.rx_frame.ready):
                    m.d.comb += rd.addr.eq(idx + 1)
                    m.d.sync += idx.eq(idx + 1)
                    with m.If(last):
                        m.d.sync += [count.eq(0), seq.eq(0), cmd.eq(0), length.eq(0)]
                        m.next = "RECV"
            with m.State("REPORT"):
                m.d.comb += [err.w_en.eq(1), self.error.eq(err.w_rdy)]
                with m.If(err.w_rdy):
                    m.d.sync += [count.eq(0), seq.eq(0), cmd.eq(0), length.eq(0)]
                    m.next = "RECV"

    def _elaborate_tx(self, m, err):
        m.submodules.crc_app = app = CrcAppender()
        m.submodules.cobs_enc = enc = CobsEncoder()
        wiring.connect(m, app=app.o, enc=enc.i)
        wiring.connect(m, enc=enc.o, tx=wiring.flipped(self.tx_bytes))

        t_seq, t_cmd, t_len = Signal(8), Signal(8), Signal(16)
        t_code, t_ecmd = Signal(8), Signal(8)
        s = app.i
        user = self.tx_frame
        req = error_request_layout(err.r_data)
        with m.FSM():
            with m.State("IDLE"):
                with m.If(err.r_rdy):
                    m.d.comb += err.r_en.eq(1)
                    m.d.sync += [t_seq.eq(req.seq), t_cmd.eq(CMD_ERROR),
                                 t_len.eq(ERROR_PAYLOAD_BYTES), t_code.eq(req.code),
                                 t_ecmd.eq(req.cmd)]
                    m.next = "ERR_HDR_SEQ"
                with m.Elif(user.valid):
                    m.d.sync += [t_seq.eq(user.payload.seq), t_cmd.eq(user.payload.cmd),
                                 t_len.eq(user.payload.length)]
                    m.next = "USER_HDR_SEQ"
            for src in ("ERR", "USER"):
                header = [("SEQ", t_seq), ("CMD", t_cmd), ("LEN_LO", t_len[:8]),
                          ("LEN_HI", t_len[8:])]
                for k, (name, value) in enumerate(header):
                    with m.State(f"{src}_HDR_{name}"):
                        m.d.comb += [s.valid.eq(1), s.payload.data.eq(value)]
                        if name == "LEN_HI" and src == "USER":
                            m.d.comb += s.payload.last.eq(t_len == 0)
                            # an empty payload is one transfer of tx_frame, consumed here
                            m.d.comb += user.ready.eq(s.ready & (t_len == 0))
                        with m.If(s.ready):
                            if name != "LEN_HI":
                                m.next = f"{src}_HDR_{header[k + 1][0]}"
                            elif src == "ERR":
                                m.next = "ERR_BODY_CODE"
                            else:
                                with m.If(t_len == 0):
                                    m.next = "IDLE"
                                with m.Else():
                                    m.next = "USER_BODY"
            with m.State("ERR_BODY_CODE"):
                m.d.comb += [s.valid.eq(1), s.payload.data.eq(t_code)]
                with m.If(s.ready):
                    m.next = "ERR_BODY_CMD"
            with m.State("ERR_BODY_CMD"):
                m.d.comb += [s.valid.eq(1), s.payload.data.eq(t_ecmd), s.payload.last.eq(1)]
                with m.If(s.ready):
                    m.next = "IDLE"
            with m.State("USER_BODY"):
                m.d.comb += [s.valid.eq(user.valid), s.payload.data.eq(user.payload.data),
                             s.payload.last.eq(user.payload.last), user.ready.eq(s.ready)]
                with m.If(user.valid & s.ready & user.payload.last):
                    m.next = "IDLE"
