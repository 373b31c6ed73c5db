"""The ULX3S board (Radiona; Lattice ECP5 LFE5U-85F-6BG381C) for :class:`~.top.BoardTop`.

Pins (amaranth-boards ``ULX3S_85F_Platform``, from the ULX3S v3.0.x schematic): 25 MHz
oscillator on G2, the FTDI FT231X as UART (FPGA RX M1, TX L4), button FIRE1 on R1 (reset),
LEDs D0..D7 on B2 C2 C1 D2 D1 E2 E1 H3.
"""

from .pll import ecp5_pll
from .top import Board


__all__ = ["ULX3S_85F"]


def _platform():
    from amaranth_boards.ulx3s import ULX3S_85F_Platform
    return ULX3S_85F_Platform()


ULX3S_85F = Board(
    name="ulx3s-85f", title="ULX3S-85F (ECP5 LFE5U-85F)", family="ecp5",
    device="LFE5U-85F-6BG381C", osc_hz=25e6, pll=ecp5_pll, default_clk_hz=50_000_000,
    platform=_platform, clock=("clk25", 0), reset=("button_fire", 0),
    leds=(
        ("led", 0, 0),          # D0: heartbeat
        ("led", 1, 1),          # D1: running
        ("led", 2, 2),          # D2: link error
        ("led", 3, 3),          # D3: spike seen
        ("led", 7, "locked"),   # D7: PLL locked
    ),
    program="openFPGALoader --board ulx3s {bitstream}", bitstream_ext="bit",
)
