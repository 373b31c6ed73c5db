"""The iCEBreaker board (1BitSquared; Lattice iCE40UP5K-SG48) for :class:`~.top.BoardTop`.

Pins (amaranth-boards ``ICEBreakerPlatform``, from the iCEBreaker v1.0 schematic): 12 MHz
oscillator on pin 35 (a global-buffer pin), the FTDI FT2232H's second channel as UART (FPGA
RX pin 6, TX pin 9), user button pin 10 (reset), red LED pin 11 and green LED pin 37 on the
main board, and the five LEDs of the snap-off section on PMOD2 (amaranth-boards' ``led`` 2..6:
the centre red one on pin 26, green ones on pins 27, 25, 23, 21).
"""

from .pll import ice40_pll
from .top import Board


__all__ = ["ICEBREAKER"]


def _platform():
    from amaranth_boards.icebreaker import ICEBreakerPlatform
    plat = ICEBreakerPlatform()
    plat.add_resources(plat.break_off_pmod)
    return plat


ICEBREAKER = Board(
    name="icebreaker", title="iCEBreaker (iCE40UP5K-SG48)", family="ice40",
    device="iCE40UP5K-SG48", osc_hz=12e6, pll=ice40_pll, default_clk_hz=18_000_000,
    platform=_platform, clock=("clk12", 0), reset=("button", 0),
    leds=(
        ("led", 1, 0),          # green LED (pin 37): heartbeat
        ("led", 0, 2),          # red LED (pin 11): link error
        ("led", 3, 0),          # snap-off green LEDs (pins 27, 25, 23, 21): the status bits
        ("led", 4, 1),
        ("led", 5, 2),
        ("led", 6, 3),
        ("led", 2, "locked"),   # snap-off centre red LED (pin 26): PLL locked
    ),
    program="iceprog {bitstream}", bitstream_ext="bin",
)
