"""The board top-level: a network image behind the host link on a UART, a core clock from a
PLL, status on LEDs (SPEC §3.8, docs/boards.md).

:class:`BoardTop` is the whole design of a board but its pins: the clock generator
(:class:`~.pll.ClockGen`, with the board's PLL, or the bench clock when ``pll=False``) and the
serial top-level ``SerialTop`` (the one import below). The cocotb benches simulate exactly
this component with ``pll=False``; :class:`BoardPlatformTop` puts it on a board's pins
through its amaranth-boards platform (every pin requested with ``dir="-"`` behind a
``lib.io`` buffer).
"""

from dataclasses import dataclass
from typing import Callable

from amaranth.hdl import Cat, ClockDomain, Elaboratable, Module
from amaranth.lib import io, wiring
from amaranth.lib.wiring import In, Out

from .pll import PllError, PllSettings

# The serial top-level: the host command layer over the UART link.
from ..rtl.serial_top import SerialTop


__all__ = ["Board", "BoardTop", "BoardPlatformTop", "SerialTop", "STATUS_NAMES"]


#: The four status bits of ``SerialTop.status``, in order.
STATUS_NAMES = ("heartbeat", "running", "link error", "spike seen")


@dataclass(frozen=True)
class Board:
    """What a board top-level needs to know about a board.

    ``name`` (the ``--board`` value), ``title``, ``family`` (``"ice40"``/``"ecp5"``),
    ``device`` (for reports), ``osc_hz`` (the oscillator feeding the PLL), ``pll``
    (function ``(f_in, f_out) -> PllSettings``), ``default_clk_hz``, ``platform`` (a function
    returning the amaranth-boards platform, ready to request from), ``leds``: for each LED
    of ``BoardTop.leds``, ``(resource, number, source)`` with ``source`` a status bit index
    (see :data:`STATUS_NAMES`) or ``"locked"``; ``reset``: the ``(resource, number)`` of the
    reset button; ``clock``: the oscillator's resource; ``program``: the command that
    programs the bitstream (``{bitstream}`` stands for its path), printed, never run here.
    """
    name: str
    title: str
    family: str
    device: str
    osc_hz: float
    pll: Callable
    default_clk_hz: int
    platform: Callable
    clock: tuple
    reset: tuple
    leds: tuple
    program: str
    bitstream_ext: str

    def pll_settings(self, clk_hz):
        """The PLL settings for ``clk_hz`` (raises :class:`~.pll.PllError` naming the range)."""
        return self.pll(self.osc_hz, clk_hz)


class BoardTop(wiring.Component):
    """A board's design, its pins excepted: ``SerialTop(image)`` clocked by a PLL.

    The ``sync`` domain runs at the PLL's output (``pll=True``: the achieved frequency of
    :meth:`Board.pll_settings`, which ``SerialTop`` is told for its baud-rate divider), or at
    ``clk_in`` itself (``pll=False``, simulation: ``clk_in`` is then the bench clock and
    ``clk_hz`` its frequency). Reset: ``rst`` (a button) or the PLL not locked, released
    synchronously (:class:`~.pll.ClockGen`).

    Latency: as ``SerialTop``, once out of reset (``hold + 2`` clocks after lock).

    Parameters
    ----------
    board : Board
    image : CoreImage or NetworkImage
    clk_hz : int
        Core clock, in Hz (default: the board's); checked against the PLL's limits.
    baud : int
    pll : bool
        Build the PLL (hardware) or take ``clk_in`` as the clock (simulation).

    Members
    -------
    clk_in : In(1)
    rst : In(1)
    rx : In(1)
    tx : Out(1)
    leds : Out(len(board.leds))
        Each LED as ``board.leds`` says (a status bit, or PLL locked); active high.
    """

    def __init__(self, board: Board, image, *, clk_hz=None, baud=115200, pll=True):
        self._board = board
        clk_hz = board.default_clk_hz if clk_hz is None else clk_hz
        self._pll = board.pll_settings(clk_hz) if pll else None
        self._clk_hz = int(round(self._pll.f_out)) if pll else int(clk_hz)
        self._serial = SerialTop(image, clk_hz=self._clk_hz, baud=baud)
        #: iCE40 only: the oscillator's package pin (a raw I/O port) for an SB_PLL40_PAD;
        #: set by :class:`BoardPlatformTop`. ``None``: the PLL takes ``clk_in``.
        self.clock_pad = None
        super().__init__({"clk_in": In(1), "rst": In(1), "rx": In(1, init=1),
                          "tx": Out(1, init=1), "leds": Out(len(board.leds))})

    @property
    def board(self):
        return self._board

    @property
    def pll(self) -> PllSettings:
        """The PLL settings (``None`` with ``pll=False``)."""
        return self._pll

    @property
    def clk_hz(self):
        """The frequency of the ``sync`` domain, in Hz."""
        return self._clk_hz

    def elaborate(self, platform):
        from .pll import ClockGen
        m = Module()
        m.domains.sync = sync = ClockDomain("sync")
        m.submodules.clockgen = cg = ClockGen(self._pll, pad=self.clock_pad)
        m.d.comb += [sync.clk.eq(cg.clk_out), sync.rst.eq(cg.rst_out)]
        # no clock constraint here: nextpnr derives the PLL output's from the oscillator's
        m.submodules.serial = serial = self._serial
        m.d.comb += [cg.clk_in.eq(self.clk_in), cg.rst.eq(self.rst),
                     serial.rx.eq(self.rx), self.tx.eq(serial.tx)]
        bits = []
        for _, _, source in self._board.leds:
            bits.append(cg.locked if source == "locked" else serial.status[source])
        m.d.comb += self.leds.eq(Cat(*bits))
        return m


class BoardPlatformTop(Elaboratable):
    """:class:`BoardTop` on the pins of its board's platform: the oscillator, the reset
    button, the USB UART (FTDI) and the LEDs of ``board.leds``."""

    def __init__(self, top: BoardTop):
        self.top = top

    def elaborate(self, platform):
        m = Module()
        b = self.top.board
        m.submodules.top = top = self.top
        # every pin as a raw port (dir="-") behind an explicit lib.io buffer
        if b.family == "ice40":
            # the UP5K's PLL shares pin 35's I/O site: the PLL takes the pin itself
            top.clock_pad = platform.request(*b.clock, dir="-")
        else:
            m.submodules.clk_buf = clk = io.Buffer("i", platform.request(*b.clock, dir="-"))
            m.d.comb += top.clk_in.eq(clk.i)
        m.submodules.rst_buf = btn = io.Buffer("i", platform.request(*b.reset, dir="-"))
        uart = platform.request("uart", 0, dir="-")
        m.submodules.rx_buf = rx = io.Buffer("i", uart.rx)
        m.submodules.tx_buf = tx = io.Buffer("o", uart.tx)
        m.d.comb += [top.rst.eq(btn.i), top.rx.eq(rx.i), tx.o.eq(top.tx)]
        for k, (res, num, _) in enumerate(b.leds):
            m.submodules[f"led_buf_{k}"] = led = io.Buffer("o", platform.request(res, num,
                                                                                 dir="-"))
            m.d.comb += led.o.eq(top.leds[k])
        return m


def check_clock(board: Board, clk_hz):
    """``clk_hz`` checked for ``board`` (a :class:`~.pll.PllError` naming value and range)."""
    if not isinstance(clk_hz, (int, float)) or isinstance(clk_hz, bool):
        raise PllError(f"clk_hz = {clk_hz!r} is not allowed: expected a number of Hz")
    return board.pll_settings(clk_hz)
