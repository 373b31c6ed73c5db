"""The host link's command layer: checked frames to host commands and replies back (SPEC §3.8).

Between :class:`.frame_link.FrameLink` (frames received intact, frames to send) and a design's
:class:`.host.HostInterface`. The commands and codes are defined in :mod:`.link_protocol`;
docs/host_link.md §2 describes the protocol.
"""

import dataclasses
import json
import zlib

from amaranth.hdl import Array, Cat, Const, Module, Mux, Signal
from amaranth.lib import data, stream, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from .frame_link import frame_layout
from .host import HostInterface, Kind, Op, RUN_BITS, address_ok, host_command_layout
from .host import host_region_depths, host_reply_layout
from .link_protocol import (
    CMD_ERROR, Command, IDENTIFY_BYTES, IDENTIFY_FIELDS, LINK_VERSION, LinkError,
    MAX_PAYLOAD_DEFAULT, MORE_BIT, REPLY_BIT, word_bytes,
)
from .params import CoreParams, MeshParams, ParamError, check_int
from .pipeline import NO_RW_CHECK


__all__ = ["design_description", "design_digest", "identify_payload", "CommandLink"]


def design_description(mesh: MeshParams, params: CoreParams, *, routing, max_payload):
    """The canonical text the ``IDENTIFY`` digest is computed over: the link version, the
    array and core parameters, whether the design has routing tables, the largest payload
    and the widths of the host words (sorted JSON, no spaces)."""
    desc = {
        "link_version": LINK_VERSION,
        "mesh": dataclasses.asdict(mesh),
        "params": dataclasses.asdict(params),
        "routing": bool(routing),
        "max_payload": int(max_payload),
        "cmd_bits": host_command_layout(mesh, params).size,
        "reply_bits": host_reply_layout(mesh, params).size,
    }
    return json.dumps(desc, sort_keys=True, separators=(",", ":"))


def design_digest(mesh, params, *, routing, max_payload=MAX_PAYLOAD_DEFAULT):
    """CRC-32 (ISO-HDLC, zlib's) of :func:`design_description`: the ``digest`` field of the
    ``IDENTIFY`` reply, computed when the design is generated."""
    return zlib.crc32(design_description(mesh, params, routing=routing,
                                         max_payload=max_payload).encode())


def identify_payload(mesh, params, *, routing, max_payload=MAX_PAYLOAD_DEFAULT):
    """The bytes of the ``IDENTIFY`` reply payload (:data:`IDENTIFY_FIELDS`, little-endian)."""
    values = {
        "version": LINK_VERSION,
        "digest": design_digest(mesh, params, routing=routing, max_payload=max_payload),
        "cmd_bytes": word_bytes(host_command_layout(mesh, params).size),
        "reply_bytes": word_bytes(host_reply_layout(mesh, params).size),
        "max_payload": max_payload,
    }
    return b"".join(values[name].to_bytes(n, "little") for name, n in IDENTIFY_FIELDS)


class CommandLink(wiring.Component):
    """Request frames in, host commands out; host replies in, reply frames out.

    A request frame (``rx_frame``, from :class:`.frame_link.FrameLink`, so its CRC, length and
    command byte are already checked) is one of :class:`.link_protocol.Command`:

    * ``IDENTIFY`` (empty payload): answered by one ``IDENTIFY | REPLY_BIT`` frame carrying
      :func:`identify_payload`.
    * ``HOST``: the payload is whole host command words (``cmd_bytes`` each, little-endian).
      The frame is buffered and every word checked before any is carried out: ``op`` an
      :class:`.host.Op`, the core inside the array, a ``WRITE``/``READ`` address inside its
      region, an ``EVENT``'s axon below ``axons`` and its delay below ``max_delay``, the padding
      bits above the word zero. Then the words go to ``host.cmd`` in order, and the reply
      words coming back on ``host.reply`` are sent in ``HOST | REPLY_BIT | MORE_BIT`` frames
      (a frame closes when the reply buffer is full and after each ``DONE`` record, so spikes
      stream out step by step), the frame holding the last reply being the final
      ``HOST | REPLY_BIT`` frame, sent once every command is taken and every reply the
      commands owe has come (one per ``READ`` and ``COUNTERS``, one ``DONE``
      per step of a ``STEP``); a frame of ``WRITE``s and ``EVENT``s is answered by an empty
      final frame.

    A refused request changes nothing and is answered by one error frame (``cmd`` =
    ``CMD_ERROR``, payload ``[code, cmd]``, the request's ``seq``): ``BAD_LENGTH`` (an
    ``IDENTIFY`` with a payload; a ``HOST`` payload that is empty or not whole words),
    ``ADDRESS_OUT_OF_RANGE`` (a core or address outside the design, an axon past ``axons``),
    ``BAD_ARGUMENT`` (an unknown ``op``, a delay past ``max_delay``, padding bits set). The
    first problem of the frame, in word order, gives the code. Requests are taken one at a
    time: the next is read once the last one's final frame has been handed to ``tx_frame``.

    Both buffers are byte-wide (one block RAM each on iCE40 and ECP5, whatever the word
    widths). Latency: a ``HOST`` frame's first command is valid on ``host.cmd``
    ``cmd_bytes + 2`` clocks after its last payload byte is taken, each next one
    ``cmd_bytes + 1`` clocks after the previous one was taken (its bytes are read back one per
    clock). A reply word is taken ``reply_bytes`` clocks after it is offered (written one byte
    per clock). A reply frame starts on ``tx_frame`` 1 clock after its condition holds and
    sends one byte per clock while ``tx_frame`` is ready.

    Parameters
    ----------
    mesh, params :
        The design's formats (a bare core: ``core_mesh(params)``).
    routing : bool
        The design has routing tables (an array).
    max_payload : int
        The frame layer's largest payload (at least one command word and one reply word).

    Members
    -------
    rx_frame : In(stream.Signature(frame_layout))
    tx_frame : Out(stream.Signature(frame_layout))
    host : Out(HostInterface.Signature(mesh, params))
        Drives the design's ``host`` port.
    running : Out(1)
        A ``HOST`` request is being carried out and owes ``DONE`` records (a step runs).
    accepted, refused, spike : Out(1)
        One-clock pulses: a request was accepted; a request was refused; a ``SPIKE`` reply
        was taken.
    """

    def __init__(self, mesh: MeshParams, params: CoreParams, *, routing,
                 max_payload=MAX_PAYLOAD_DEFAULT):
        self._mesh, self._params, self._routing = mesh, params, bool(routing)
        self._cmd_layout = host_command_layout(mesh, params)
        self._reply_layout = host_reply_layout(mesh, params)
        self.cmd_bytes = word_bytes(self._cmd_layout.size)
        self.reply_bytes = word_bytes(self._reply_layout.size)
        check_int("max_payload", max_payload, max(self.cmd_bytes, self.reply_bytes,
                                                  IDENTIFY_BYTES), 65535)
        self._max_payload = max_payload
        self.req_words = max_payload // self.cmd_bytes
        self.reply_words = max_payload // self.reply_bytes
        if self.req_words * RUN_BITS > 1 << 16:
            raise ParamError(f"max_payload = {max_payload} is too large for the command layer")
        self.identify = identify_payload(mesh, params, routing=routing, max_payload=max_payload)
        super().__init__({
            "rx_frame": In(stream.Signature(frame_layout)),
            "tx_frame": Out(stream.Signature(frame_layout)),
            "host": Out(HostInterface.Signature(mesh, params)),
            "running": Out(1),
            "accepted": Out(1),
            "refused": Out(1),
            "spike": Out(1),
        })

    def _check_word(self, m, word):
        """The error code of command word ``word`` (0 if it is good) and the replies it owes."""
        mp, p = self._mesh, self._params
        w = data.View(self._cmd_layout, word[:self._cmd_layout.size])
        depths = host_region_depths(mp, p, routing=self._routing)
        code, owes = Signal(8), Signal(RUN_BITS + 1)
        core_ok = (w.core.x < mp.width) & (w.core.y < mp.height)
        cfg_ok = address_ok(w.arg.cfg.addr.region, w.arg.cfg.addr.index, depths)
        with m.If(word[self._cmd_layout.size:] != 0):
            m.d.comb += code.eq(LinkError.BAD_ARGUMENT)
        with m.Else():
            with m.Switch(w.op):
                with m.Case(Op.WRITE, Op.READ):
                    with m.If(~core_ok | ~cfg_ok):
                        m.d.comb += code.eq(LinkError.ADDRESS_OUT_OF_RANGE)
                    m.d.comb += owes.eq(w.op == Op.READ)
                with m.Case(Op.EVENT):
                    with m.If(~core_ok | (w.arg.event.axon >= p.axons)):
                        m.d.comb += code.eq(LinkError.ADDRESS_OUT_OF_RANGE)
                    with m.Elif(w.arg.event.delay >= p.max_delay):
                        m.d.comb += code.eq(LinkError.BAD_ARGUMENT)
                with m.Case(Op.STEP):
                    m.d.comb += owes.eq(w.arg.run.steps)
                with m.Case(Op.COUNTERS):
                    m.d.comb += owes.eq(1)
                with m.Default():
                    m.d.comb += code.eq(LinkError.BAD_ARGUMENT)
        return code, owes

    def elaborate(self, platform):
        m = Module()
        cb, rb = self.cmd_bytes, self.reply_bytes
        # byte-wide buffers (one block RAM each, whatever the word widths): a request word is
        # read back into ``asm`` a byte per clock, a reply word written a byte per clock
        # (a buffer is never read while it is written: frames in and out take turns)
        m.submodules.req = req = Memory(shape=8, depth=self.req_words * cb, init=[],
                                        attrs=NO_RW_CHECK)
        m.submodules.rep = rep = Memory(shape=8, depth=self.reply_words * rb, init=[],
                                        attrs=NO_RW_CHECK)
        req_wr, req_rd = req.write_port(), req.read_port()
        rep_wr, rep_rd = rep.write_port(), rep.read_port()

        seq, cmd = Signal(8), Signal(8)
        err = Signal(8)                                  # first problem of the request
        owed = Signal(range(self.req_words * ((1 << RUN_BITS) - 1) + 2))
        n_words = Signal(range(self.req_words + 1))     # words of the request
        issued = Signal(range(self.req_words + 1))
        # what the sender is asked to send: set by the request FSM, cleared by the sender
        send_err, send_ident, exec_done = Signal(), Signal(), Signal()
        final_sent = Signal()
        self._elaborate_request(m, req_wr, req_rd, seq, cmd, err, owed, n_words, issued,
                                send_err, send_ident, exec_done, final_sent)
        self._elaborate_replies(m, rep_wr, rep_rd, seq, cmd, err, owed, send_err, send_ident,
                                exec_done, final_sent)
        m.d.comb += self.running.eq(owed != 0)
        return m

    def _elaborate_request(self, m, wr, rd, seq, cmd, err, owed, n_words, issued,
                           send_err, send_ident, exec_done, final_sent):
        cb = self.cmd_bytes
        f = self.rx_frame.payload
        asm = Signal(cb * 8)                       # bytes of the word being assembled
        nbyte = Signal(range(cb))
        word = Cat(asm[8:], f.data)
        code, owes = self._check_word(m, word)
        wptr = Signal(range(self.req_words * cb + 1))  # next byte written into the buffer
        rptr = Signal(range(self.req_words * cb + 1))  # next byte read back from it
        fetched = Signal(range(cb + 1))                # bytes of the next word read
        have = Signal()                                # rd.data holds the byte read last clock
        m.d.comb += [wr.data.eq(f.data), rd.addr.eq(rptr)]

        with m.FSM():
            with m.State("RECV"):
                m.d.comb += self.rx_frame.ready.eq(1)
                with m.If(self.rx_frame.valid):
                    pos = Mux(f.first, 0, nbyte)            # byte of the word being assembled
                    m.d.sync += [asm.eq(word), nbyte.eq(Mux(pos == cb - 1, 0, pos + 1))]
                    first_err = Signal(8)
                    with m.If(f.first):
                        m.d.sync += [seq.eq(f.seq), cmd.eq(f.cmd), n_words.eq(0), owed.eq(0)]
                        with m.If(f.cmd == Command.IDENTIFY):
                            with m.If(f.length != 0):
                                m.d.comb += first_err.eq(LinkError.BAD_LENGTH)
                        with m.Elif(f.cmd == Command.HOST):
                            # (a length that is not whole words is found at the last byte)
                            with m.If(f.length == 0):
                                m.d.comb += first_err.eq(LinkError.BAD_LENGTH)
                        with m.Else():
                            m.d.comb += first_err.eq(LinkError.UNKNOWN_COMMAND)
                    with m.Else():
                        m.d.comb += first_err.eq(err)
                    m.d.sync += err.eq(first_err)
                    with m.If((first_err == 0) & (f.cmd == Command.HOST)):
                        waddr = Mux(f.first, 0, wptr)
                        m.d.comb += [wr.addr.eq(waddr), wr.en.eq(waddr < self.req_words * cb)]
                        m.d.sync += wptr.eq(waddr + 1)
                        with m.If(pos == cb - 1):
                            m.d.sync += [n_words.eq(n_words + 1), owed.eq(owed + owes)]
                            with m.If(code != 0):
                                m.d.sync += err.eq(code)
                    with m.If(f.last):
                        m.d.sync += [issued.eq(0), rptr.eq(0), fetched.eq(0)]
                        with m.If((Mux(f.first, f.cmd, cmd) == Command.HOST) & (pos != cb - 1)):
                            # not whole words: the length is the first problem of the frame
                            # (checked here, not by a divider on the length field)
                            m.d.sync += err.eq(LinkError.BAD_LENGTH)
                        m.next = "DECIDE"
            with m.State("DECIDE"):
                with m.If(err != 0):
                    m.d.comb += self.refused.eq(1)
                    m.d.sync += [send_err.eq(1), owed.eq(0)]
                    m.next = "WAIT"
                with m.Elif(cmd == Command.IDENTIFY):
                    m.d.comb += self.accepted.eq(1)
                    m.d.sync += send_ident.eq(1)
                    m.next = "WAIT"
                with m.Else():
                    m.d.comb += self.accepted.eq(1)
                    m.next = "EXEC"
            with m.State("EXEC"):
                # the next word, read back a byte per clock into asm (its bytes arrive one
                # clock after they are read)
                m.d.sync += have.eq(fetched != cb)
                with m.If(fetched != cb):
                    m.d.sync += [rptr.eq(rptr + 1), fetched.eq(fetched + 1)]
                with m.If(have):
                    m.d.sync += asm.eq(Cat(asm[8:], rd.data))
                    with m.If(fetched == cb):
                        m.next = "ISSUE"
            with m.State("ISSUE"):
                m.d.comb += [self.host.cmd.valid.eq(1), self.host.cmd.payload.eq(asm)]
                with m.If(self.host.cmd.ready):
                    m.d.sync += [issued.eq(issued + 1), fetched.eq(0)]
                    with m.If(issued + 1 == n_words):
                        m.d.sync += exec_done.eq(1)
                        m.next = "WAIT"
                    with m.Else():
                        m.next = "EXEC"
            with m.State("WAIT"):
                with m.If(final_sent):
                    m.d.sync += exec_done.eq(0)
                    m.next = "RECV"

    def _elaborate_replies(self, m, wr, rd, seq, cmd, err, owed, send_err, send_ident,
                           exec_done, final_sent):
        rb = self.reply_bytes
        reply = self.host.reply
        kind = reply.payload.kind
        count = Signal(range(self.reply_words + 1))     # words in the reply buffer
        flush = Signal()                                # a MORE frame is due
        final = Signal()                                # the frame being sent is the last
        tw = Signal(range(self.reply_words + 1))        # word and byte being sent
        tb = Signal(range(max(rb, IDENTIFY_BYTES, 2)))
        ident = Array(Const(b, 8) for b in self.identify)
        tx, tp = self.tx_frame, self.tx_frame.payload
        wb = Signal(range(rb))                          # byte of the reply word being written
        wptr = Signal(range(self.reply_words * rb + 1))  # byte written next, byte sent next
        tptr = Signal(range(self.reply_words * rb + 1))
        reply_bits = Signal(rb * 8)
        m.d.comb += [reply_bits.eq(reply.payload), wr.addr.eq(wptr),
                     wr.data.eq(reply_bits.word_select(wb, 8)), rd.addr.eq(tptr),
                     tp.seq.eq(seq)]
        done_now = exec_done & (owed == 0)

        def take_reply():
            # a reply word goes into the buffer a byte per clock, taken with its last byte
            with m.If(reply.valid & (count != self.reply_words)):
                m.d.comb += wr.en.eq(1)
                m.d.sync += [wptr.eq(wptr + 1), wb.eq(wb + 1)]
                with m.If(wb == rb - 1):
                    m.d.comb += reply.ready.eq(1)
                    m.d.sync += [wb.eq(0), count.eq(count + 1)]
                    terminal = kind.matches(Kind.DATA, Kind.DONE, Kind.COUNTERS, Kind.ERROR)
                    with m.If(terminal & (owed != 0)):
                        m.d.sync += owed.eq(owed - 1)
                    with m.If((kind == Kind.DONE) | (count + 1 == self.reply_words)):
                        m.d.sync += flush.eq(1)
                    m.d.comb += self.spike.eq(kind == Kind.SPIKE)

        with m.FSM():
            with m.State("COLLECT"):
                with m.If(wb != 0):
                    take_reply()                        # a word is half written: finish it
                with m.Elif(send_err):
                    m.next = "ERROR"
                with m.Elif(send_ident):
                    m.next = "IDENTIFY"
                with m.Elif(done_now):
                    m.d.sync += final.eq(1)
                    m.next = "SEND"
                with m.Elif(flush):
                    # a frame closed by its last owed reply waits to go as the final one
                    with m.If(owed != 0):
                        m.d.sync += final.eq(0)
                        m.next = "SEND"
                with m.Else():
                    take_reply()
            with m.State("SEND"):
                empty = count == 0
                last = empty | ((tw == count - 1) & (tb == rb - 1))
                m.d.comb += [
                    tx.valid.eq(1),
                    tp.cmd.eq(Mux(final, Command.HOST | REPLY_BIT,
                                  Command.HOST | REPLY_BIT | MORE_BIT)),
                    tp.length.eq(count * rb),
                    tp.data.eq(rd.data),
                    tp.first.eq((tw == 0) & (tb == 0)),
                    tp.last.eq(last),
                ]
                with m.If(tx.ready):
                    m.d.comb += rd.addr.eq(tptr + 1)
                    m.d.sync += tptr.eq(tptr + 1)
                    with m.If(tb == rb - 1):
                        m.d.sync += [tw.eq(tw + 1), tb.eq(0)]
                    with m.Else():
                        m.d.sync += tb.eq(tb + 1)
                    with m.If(last):
                        m.d.comb += rd.addr.eq(0)
                        m.d.sync += [count.eq(0), tw.eq(0), tb.eq(0), flush.eq(0), tptr.eq(0),
                                     wptr.eq(0)]
                        m.d.comb += final_sent.eq(final)
                        m.next = "COLLECT"
            for state, length, command, byte in (
                    ("ERROR", 2, CMD_ERROR, Mux(tb == 0, err, cmd)),
                    ("IDENTIFY", IDENTIFY_BYTES, Command.IDENTIFY | REPLY_BIT, ident[tb])):
                with m.State(state):
                    m.d.comb += [tx.valid.eq(1), tp.cmd.eq(command), tp.length.eq(length),
                                 tp.data.eq(byte), tp.first.eq(tb == 0),
                                 tp.last.eq(tb == length - 1)]
                    with m.If(tx.ready):
                        m.d.sync += tb.eq(tb + 1)
                        with m.If(tb == length - 1):
                            m.d.sync += [tb.eq(0), send_err.eq(0), send_ident.eq(0)]
                            m.d.comb += final_sent.eq(1)
                            m.next = "COLLECT"
