"""A design on a serial line: the top-level a board wraps (SPEC §3.8; docs/host_link.md)."""

from amaranth.hdl import Module, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from .command_link import CommandLink
from .host import core_mesh
from .image import CoreImage
from .link_protocol import MAX_PAYLOAD_DEFAULT, command_bytes
from .netimage import NetworkImage
from .params import ParamError, check_int
from .serial_link import SerialFrameLink
from .top import top_for


__all__ = ["SerialTop", "STATUS_ALIVE", "STATUS_RUNNING", "STATUS_LINK_ERROR",
           "STATUS_SPIKE", "clocks_per_bit"]


#: Bits of :attr:`SerialTop.status` (a board shows them on LEDs).
STATUS_ALIVE = 0        #: heartbeat: toggles every half second
STATUS_RUNNING = 1      #: a request is being carried out that owes replies (a step runs)
STATUS_LINK_ERROR = 2   #: a malformed frame or a refused request was seen (until a good one)
STATUS_SPIKE = 3        #: a spike was sent to the host in the last 1/20 s


def clocks_per_bit(clk_hz, baud):
    """Clocks per UART bit, ``round(clk_hz / baud)``; at least 4 and within 2 % of the
    requested baud rate, or :class:`~.params.ParamError`."""
    check_int("clk_hz", clk_hz, 1, 10**10)
    check_int("baud", baud, 1, 10**8)
    cpb = round(clk_hz / baud)
    if cpb < 4:
        raise ParamError(f"clk_hz / baud = {clk_hz} / {baud} is out of range: the UART needs "
                         f"at least 4 clocks per bit")
    if abs(clk_hz / cpb - baud) > 0.02 * baud:
        raise ParamError(f"baud = {baud} cannot be made from clk_hz = {clk_hz} within 2 % "
                         f"({clk_hz / cpb:.0f} with {cpb} clocks per bit)")
    return cpb


class SerialTop(wiring.Component):
    """The design of ``image`` (:func:`.top.top_for`: a core behind its host adapter, or an
    array) behind the host link on one 8N1 serial line: :class:`.serial_link.SerialFrameLink`
    and :class:`.command_link.CommandLink`. What a board top-level instantiates (it adds
    the PLL and ties the pins); everything runs in the ``sync`` domain.

    An array's free-running timer is tied off (``free_run`` low): steps run on request only.

    Latency: a request is carried out a few clocks after the stop bit of its delimiter (see
    the two components); replies leave at the line rate.

    Parameters
    ----------
    image : CoreImage or NetworkImage
        The design; its memories are initialised from it.
    clk_hz : int
        Frequency of the ``sync`` clock, in Hz.
    baud : int
        Line rate (default 115200); ``clk_hz / baud`` is rounded to whole clocks per bit
        (:func:`clocks_per_bit`: at least 4, within 2 %).
    max_payload : int
        Largest frame payload, in bytes (default 256).

    Members
    -------
    rx : In(1)
        Serial input (from the host), idle high.
    tx : Out(1)
        Serial output (to the host), idle high.
    status : Out(4)
        :data:`STATUS_ALIVE` (heartbeat), :data:`STATUS_RUNNING`, :data:`STATUS_LINK_ERROR`
        (sticky until the next good request), :data:`STATUS_SPIKE` (stretched to 1/20 s).
    """

    rx: In(1, init=1)
    tx: Out(1, init=1)
    status: Out(4)

    def __init__(self, image, *, clk_hz: int, baud: int = 115200,
                 max_payload: int = MAX_PAYLOAD_DEFAULT):
        if isinstance(image, NetworkImage):
            mesh, routing = image.mesh, True
        elif isinstance(image, CoreImage):
            mesh, routing = core_mesh(image.params), False
        else:
            raise TypeError(f"image must be a CoreImage or a NetworkImage, not "
                            f"{type(image).__name__}")
        self.clk_hz, self.baud = clk_hz, baud
        self.clocks_per_bit = clocks_per_bit(clk_hz, baud)
        self.image = image
        self._design = top_for(image)
        self._command = CommandLink(mesh, image.params, routing=routing,
                                    max_payload=max_payload)
        self._serial = SerialFrameLink(clocks_per_bit=self.clocks_per_bit,
                                       max_payload=max_payload, commands=command_bytes())
        super().__init__()

    @property
    def command_link(self):
        return self._command

    @property
    def design(self):
        return self._design

    def elaborate(self, platform):
        m = Module()
        m.submodules.serial = serial = self._serial
        m.submodules.command = cmd = self._command
        m.submodules.design = design = self._design
        m.d.comb += [serial.rx.eq(self.rx), self.tx.eq(serial.tx)]
        wiring.connect(m, serial=serial.rx_frame, command=cmd.rx_frame)
        wiring.connect(m, command=cmd.tx_frame, serial=serial.tx_frame)
        wiring.connect(m, command=cmd.host, design=design.host)
        if isinstance(self.image, NetworkImage):
            m.d.comb += [design.free_run.eq(0), design.period.eq(0)]

        half_second = max(1, self.clk_hz // 2)
        beat, alive = Signal(range(half_second + 1)), Signal()
        m.d.sync += beat.eq(beat + 1)
        with m.If(beat == half_second - 1):
            m.d.sync += [beat.eq(0), alive.eq(~alive)]
        link_error = Signal()
        with m.If(serial.frame_error | cmd.refused):
            m.d.sync += link_error.eq(1)
        with m.Elif(cmd.accepted):
            m.d.sync += link_error.eq(0)
        # the spike bit stays on for `stretch` clocks after the last spike: an up-counter
        # compared with a constant (a down-counter tested for zero made a 46 ns carry path)
        stretch = max(1, self.clk_hz // 20)
        spike_on, spike_age = Signal(), Signal(range(stretch))
        with m.If(cmd.spike):
            m.d.sync += [spike_on.eq(1), spike_age.eq(0)]
        with m.Elif(spike_on):
            m.d.sync += spike_age.eq(spike_age + 1)
            with m.If(spike_age == stretch - 1):
                m.d.sync += spike_on.eq(0)
        m.d.comb += self.status.eq(
            (alive << STATUS_ALIVE) | (cmd.running << STATUS_RUNNING)
            | (link_error << STATUS_LINK_ERROR) | (spike_on << STATUS_SPIKE))
        return m
