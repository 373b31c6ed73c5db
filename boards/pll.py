"""Core clocks from the boards' oscillators: PLL settings computed and checked against each
device's PLL limits, and the clock-domain generators a board top-level uses.

* :func:`ice40_pll` — iCE40 ``SB_PLL40_CORE`` (iCE40UP5K; SIMPLE feedback), limits from
  Lattice TN1251 *iCE40 sysCLOCK PLL Design and Usage Guide*: reference 10..133 MHz,
  phase-detector input F_REF / (DIVR + 1) 10..133 MHz, VCO F_PFD * (DIVF + 1) 533..1066
  MHz, output F_VCO / 2**DIVQ 16..275 MHz, DIVR 0..15, DIVF 0..127, DIVQ 1..6; the loop
  filter range follows the phase-detector frequency as ``icepll`` chooses it.
* :func:`ecp5_pll` — ECP5 ``EHXPLLL`` (feedback from CLKOP), limits as in Trellis's
  ``ecppll``: input 8..400 MHz, phase detector 3.125..400 MHz, VCO 400..800 MHz, output
  3.125..400 MHz (10 MHz at the least here), CLKI_DIV 1..128, CLKFB_DIV 1..80, CLKOP_DIV
  1..128; F_OUT = F_IN * CLKFB_DIV / CLKI_DIV, F_VCO = F_OUT * CLKOP_DIV.

Both search every divider setting and return the one whose output is closest to the request
(ties: the VCO nearest the middle of its range). A request outside the output range, or one
no setting reaches within :data:`TOLERANCE`, raises :class:`PllError` naming the value and
the range (or the nearest frequency that can be built).

:class:`ClockGen` makes the ``sync`` domain of a board top-level either from the PLL or,
for simulation, straight from the input clock (the bench clock): the PLL is swappable.
"""

from dataclasses import dataclass

from amaranth.hdl import ClockDomain, Const, Instance, Module, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out


__all__ = ["PllError", "PllSettings", "ice40_pll", "ecp5_pll", "ClockGen", "TOLERANCE"]


#: Largest relative difference between the requested and the built clock.
TOLERANCE = 0.005


class PllError(ValueError):
    """A clock that the device's PLL cannot make; the message names the value and the range."""


@dataclass(frozen=True)
class PllSettings:
    """One PLL configuration: ``family`` (``"ice40"`` or ``"ecp5"``), the input and achieved
    output frequencies in Hz, the VCO and phase-detector frequencies, and ``params``: the
    primitive's parameters (names as in the primitive)."""
    family: str
    f_in: float
    f_out: float
    f_vco: float
    f_pfd: float
    params: dict

    def describe(self):
        """One line: frequencies and dividers, for reports and docs."""
        divs = ", ".join(f"{k} = {v}" for k, v in self.params.items()
                         if k.startswith(("DIV", "CLK", "FILTER")) and not k.endswith("PHASE"))
        return (f"{self.f_in / 1e6:g} MHz -> {self.f_out / 1e6:.4g} MHz (VCO "
                f"{self.f_vco / 1e6:.4g} MHz, PFD {self.f_pfd / 1e6:.4g} MHz; {divs})")


def _check_request(device, f_in, f_out, in_range, out_range):
    for name, value, (lo, hi) in (("input clock", f_in, in_range),
                                  ("clk_hz", f_out, out_range)):
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            raise PllError(f"{name} = {value!r} is not allowed: expected a number of Hz")
        if not lo <= value <= hi:
            raise PllError(f"{name} = {value:g} ({value / 1e6:g} MHz) is not allowed for "
                           f"the {device} PLL: expected {lo / 1e6:g}..{hi / 1e6:g} MHz")


def _pick(device, f_out, candidates, vco_mid):
    """The candidate closest to ``f_out`` (then VCO nearest ``vco_mid``), checked."""
    if not candidates:
        raise PllError(f"clk_hz = {f_out:g} ({f_out / 1e6:g} MHz) cannot be made by the "
                       f"{device} PLL: no "
                       f"divider setting keeps the VCO and phase detector in range")
    best = min(candidates, key=lambda c: (abs(c.f_out - f_out), abs(c.f_vco - vco_mid)))
    if abs(best.f_out - f_out) > TOLERANCE * f_out:
        raise PllError(f"clk_hz = {f_out:g} ({f_out / 1e6:g} MHz) cannot be made by the "
                       f"{device} PLL within {TOLERANCE:.1%}: the nearest is "
                       f"{best.f_out / 1e6:.6g} MHz")
    return best


#: iCE40 SB_PLL40 limits (TN1251), Hz.
ICE40_LIMITS = {"ref": (10e6, 133e6), "pfd": (10e6, 133e6), "vco": (533e6, 1066e6),
                "out": (16e6, 275e6)}


def _ice40_filter_range(f_pfd):
    for limit, value in ((17e6, 1), (26e6, 2), (44e6, 3), (66e6, 4), (101e6, 5)):
        if f_pfd < limit:
            return value
    return 6


def ice40_pll(f_in, f_out):
    """:class:`PllSettings` of an iCE40 ``SB_PLL40_CORE`` making ``f_out`` from ``f_in``
    (Hz), SIMPLE feedback. Raises :class:`PllError`."""
    lim = ICE40_LIMITS
    _check_request("iCE40 SB_PLL40", f_in, f_out, lim["ref"], lim["out"])
    cands = []
    for divr in range(16):
        f_pfd = f_in / (divr + 1)
        if not lim["pfd"][0] <= f_pfd <= lim["pfd"][1]:
            continue
        for divf in range(128):
            f_vco = f_pfd * (divf + 1)
            if not lim["vco"][0] <= f_vco <= lim["vco"][1]:
                continue
            for divq in range(1, 7):
                out = f_vco / (1 << divq)
                if lim["out"][0] <= out <= lim["out"][1]:
                    cands.append(PllSettings(
                        "ice40", f_in, out, f_vco, f_pfd,
                        {"FEEDBACK_PATH": "SIMPLE", "DIVR": divr, "DIVF": divf, "DIVQ": divq,
                         "FILTER_RANGE": _ice40_filter_range(f_pfd)}))
    return _pick("iCE40 SB_PLL40", f_out, cands, sum(lim["vco"]) / 2)


#: ECP5 EHXPLLL limits (as in Trellis's ecppll), Hz.
ECP5_LIMITS = {"in": (8e6, 400e6), "pfd": (3.125e6, 400e6), "vco": (400e6, 800e6),
               "out": (10e6, 400e6)}


def ecp5_pll(f_in, f_out):
    """:class:`PllSettings` of an ECP5 ``EHXPLLL`` making ``f_out`` on CLKOP from ``f_in``
    (Hz), feedback from CLKOP. Raises :class:`PllError`."""
    lim = ECP5_LIMITS
    _check_request("ECP5 EHXPLLL", f_in, f_out, lim["in"], lim["out"])
    cands = []
    for clki in range(1, 129):
        f_pfd = f_in / clki
        if not lim["pfd"][0] <= f_pfd <= lim["pfd"][1]:
            continue
        for clkfb in range(1, 81):
            out = f_pfd * clkfb
            if not lim["out"][0] <= out <= lim["out"][1]:
                continue
            for clkop in range(1, 129):
                f_vco = out * clkop
                if lim["vco"][0] <= f_vco <= lim["vco"][1]:
                    cands.append(PllSettings(
                        "ecp5", f_in, out, f_vco, f_pfd,
                        {"CLKI_DIV": clki, "CLKFB_DIV": clkfb, "CLKOP_DIV": clkop,
                         # phase 0 on CLKOP, Lattice's convention: CPHASE = DIV - 1
                         "CLKOP_CPHASE": clkop - 1, "CLKOP_FPHASE": 0}))
    return _pick("ECP5 EHXPLLL", f_out, cands, sum(lim["vco"]) / 2)


def _ice40_instance(s, clk_in, clk_out, locked, pad=None):
    """``SB_PLL40_CORE`` fed from the fabric (``clk_in``), or ``SB_PLL40_PAD`` fed straight
    from the package pin ``pad`` (an I/O port): on the UP5K-SG48 the PLL sits at the I/O site
    of pin 35, so a clock on that pin can reach the PLL only through its pad input."""
    p = s.params
    common = dict(
        p_FEEDBACK_PATH=p["FEEDBACK_PATH"],
        p_DIVR=Const(p["DIVR"], 4), p_DIVF=Const(p["DIVF"], 7), p_DIVQ=Const(p["DIVQ"], 3),
        p_FILTER_RANGE=Const(p["FILTER_RANGE"], 3),
        i_RESETB=Const(1, 1), i_BYPASS=Const(0, 1),
        o_PLLOUTGLOBAL=clk_out, o_LOCK=locked)
    if pad is not None:
        return Instance("SB_PLL40_PAD", i_PACKAGEPIN=getattr(pad, "io", pad), **common)
    return Instance("SB_PLL40_CORE", i_REFERENCECLK=clk_in, **common)


def _ecp5_instance(s, clk_in, clk_out, locked, pad=None):
    p = s.params
    return Instance(
        "EHXPLLL",
        a_FREQUENCY_PIN_CLKI=f"{s.f_in / 1e6:g}", a_FREQUENCY_PIN_CLKOP=f"{s.f_out / 1e6:g}",
        p_PLLRST_ENA="DISABLED", p_INTFB_WAKE="DISABLED", p_STDBY_ENABLE="DISABLED",
        p_DPHASE_SOURCE="DISABLED", p_OUTDIVIDER_MUXA="DIVA", p_CLKOP_ENABLE="ENABLED",
        p_FEEDBK_PATH="CLKOP", p_CLKI_DIV=p["CLKI_DIV"], p_CLKFB_DIV=p["CLKFB_DIV"],
        p_CLKOP_DIV=p["CLKOP_DIV"], p_CLKOP_CPHASE=p["CLKOP_CPHASE"],
        p_CLKOP_FPHASE=p["CLKOP_FPHASE"],
        i_RST=Const(0, 1), i_STDBY=Const(0, 1), i_CLKI=clk_in, i_CLKFB=clk_out,
        i_PHASESEL0=Const(0, 1), i_PHASESEL1=Const(0, 1), i_PHASEDIR=Const(1, 1),
        i_PHASESTEP=Const(1, 1), i_PHASELOADREG=Const(1, 1), i_PLLWAKESYNC=Const(0, 1),
        i_ENCLKOP=Const(0, 1),
        o_CLKOP=clk_out, o_LOCK=locked)


class ClockGen(wiring.Component):
    """Makes the clock and synchronous reset of a board top-level's ``sync`` domain.

    ``pll``: a :class:`PllSettings` (``clk_out`` is the PLL's output) or ``None``
    (``clk_out`` is ``clk_in`` itself: the bench clock in simulation). ``rst_out`` is held
    while ``rst`` is high or the PLL is not locked, and released synchronously, after
    ``hold`` clocks of ``clk_out``, by a counter in a local reset-less domain.

    Latency: ``rst_out`` falls ``hold + 2`` clocks after lock (and ``rst`` low).

    ``pad``: on iCE40, the oscillator's package pin as a raw I/O port (then ``clk_in`` is
    unused and the PLL is an ``SB_PLL40_PAD``).

    Members
    -------
    clk_in : In(1)
        The oscillator (or bench) clock.
    rst : In(1)
        Asynchronous reset request, active high (a button; tie to 0 if none).
    locked : Out(1)
        The PLL is locked (always 1 without a PLL).
    clk_out : Out(1)
        The core clock.
    rst_out : Out(1)
        The core's synchronous reset, active high.
    """

    clk_in: In(1)
    rst: In(1)
    locked: Out(1)
    clk_out: Out(1)
    rst_out: Out(1, init=1)

    def __init__(self, pll=None, *, hold=16, pad=None):
        if pll is not None and not isinstance(pll, PllSettings):
            raise TypeError(f"pll must be a PllSettings or None, not {type(pll).__name__}")
        self._pll = pll
        self._hold = hold
        self._pad = pad
        super().__init__()

    @property
    def pll(self):
        return self._pll

    def elaborate(self, platform):
        m = Module()
        m.domains.por = por = ClockDomain("por", reset_less=True, local=True)
        if self._pll is None:
            m.d.comb += [self.clk_out.eq(self.clk_in), self.locked.eq(1)]
        else:
            make = {"ice40": _ice40_instance, "ecp5": _ecp5_instance}[self._pll.family]
            m.submodules.pll = make(self._pll, self.clk_in, self.clk_out, self.locked,
                                    pad=self._pad)
        m.d.comb += por.clk.eq(self.clk_out)
        # two flip-flops take in the asynchronous request, then a counter holds the reset
        req = Signal(2, init=0b11)
        count = Signal(range(self._hold + 1), init=self._hold)
        m.d.por += req.eq((req << 1) | (self.rst | ~self.locked))
        with m.If(req[1]):
            m.d.por += count.eq(self._hold)
        with m.Elif(count != 0):
            m.d.por += count.eq(count - 1)
        m.d.comb += self.rst_out.eq(count != 0)
        return m
