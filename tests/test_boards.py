"""Board top-levels (docs/boards.md): PLL settings and their limits, the board top-level
simulated on Verilator and Icarus through its UART pins (the PLL replaced by the bench
clock), the ``build`` command's checks, and the iCEBreaker bitstream of the default
configuration (``test_icebreaker_bitstream``, slow: run by CI as its own step)."""

import json
import os

import pytest
from amaranth.back import verilog

from spikefab.boards import BOARDS, get_board
from spikefab.boards.pll import PllError, ecp5_pll, ice40_pll
from spikefab.boards.top import BoardTop, SerialTop
from spikefab.firmware.link import FrameDecoder, encode_frame, Frame
from spikefab.gen import board_build
from spikefab.gen.cli import main
from spikefab.rtl.link_protocol import REPLY_BIT, Command
from spikefab.rtl.image import CoreImage
from spikefab.rtl.params import CoreParams
from spikefab.sim.runner import build_verilog, new_run_dir, run_cocotb, sim_models

from rtl_helpers import SIMULATORS


# --- PLL settings --------------------------------------------------------------------------

@pytest.mark.parametrize("f_out, divs", [
    # what icepll -i 12 -o F prints (DIVR, DIVF, DIVQ, FILTER_RANGE)
    (42e6, (0, 55, 4, 1)), (36e6, (0, 47, 4, 1)), (48e6, (0, 63, 4, 1)),
])
def test_ice40_pll_matches_icepll(f_out, divs):
    s = ice40_pll(12e6, f_out)
    assert (s.params["DIVR"], s.params["DIVF"], s.params["DIVQ"],
            s.params["FILTER_RANGE"]) == divs
    assert s.f_out == f_out and 533e6 <= s.f_vco <= 1066e6


@pytest.mark.parametrize("f_out, divs", [
    # what ecppll -i 25 -o F prints (CLKI_DIV, CLKFB_DIV, CLKOP_DIV)
    (50e6, (1, 2, 12)), (100e6, (1, 4, 6)), (40e6, (5, 8, 15)), (75e6, (1, 3, 8)),
])
def test_ecp5_pll_matches_ecppll(f_out, divs):
    s = ecp5_pll(25e6, f_out)
    assert (s.params["CLKI_DIV"], s.params["CLKFB_DIV"], s.params["CLKOP_DIV"]) == divs
    assert s.f_out == f_out and 400e6 <= s.f_vco <= 800e6
    assert s.params["CLKOP_CPHASE"] == divs[2] - 1


@pytest.mark.parametrize("fn, f_in, f_out, message", [
    (ice40_pll, 12e6, 300e6, "clk_hz = 3e+08 (300 MHz) is not allowed for the iCE40 "
                             "SB_PLL40 PLL: expected 16..275 MHz"),
    (ice40_pll, 12e6, 10e6, "clk_hz = 1e+07 (10 MHz) is not allowed for the iCE40 "
                            "SB_PLL40 PLL: expected 16..275 MHz"),
    (ice40_pll, 12e6, 40e6, "clk_hz = 4e+07 (40 MHz) cannot be made by the iCE40 SB_PLL40 "
                            "PLL within 0.5%: the nearest is 39.75 MHz"),
    (ice40_pll, 5e6, 40e6, "input clock = 5e+06 (5 MHz) is not allowed for the iCE40 "
                           "SB_PLL40 PLL: expected 10..133 MHz"),
    (ecp5_pll, 25e6, 500e6, "clk_hz = 5e+08 (500 MHz) is not allowed for the ECP5 EHXPLLL "
                            "PLL: expected 10..400 MHz"),
])
def test_pll_limits_are_checked(fn, f_in, f_out, message):
    with pytest.raises(PllError) as info:
        fn(f_in, f_out)
    assert str(info.value) == message


def test_board_top_checks_its_clock():
    p = CoreParams(neurons=8, axons=8, trace_port=False)
    with pytest.raises(PllError) as info:
        BoardTop(get_board("icebreaker"), CoreImage(p), clk_hz=300e6)
    assert "expected 16..275 MHz" in str(info.value)
    top = BoardTop(get_board("ulx3s-85f"), CoreImage(p), clk_hz=62.5e6)
    assert top.clk_hz == 62_500_000 and top.pll.params["CLKOP_DIV"] == 10
    with pytest.raises(ValueError) as info:
        get_board("icestick")
    assert str(info.value) == ("board 'icestick' is not supported: expected one of "
                               "'icebreaker', 'ulx3s-85f'")
    assert BOARDS == ("icebreaker", "ulx3s-85f")


# --- the board top-level in simulation -----------------------------------------------------

BAUD = 115200
CPB = 16                                     # clocks per bit: a lean bench
BENCH = CoreParams(neurons=8, axons=8, lanes=2, weight_bits=8, learning=True,
                   syn_memory="ice40_spram", trace_port=False)


@pytest.mark.parametrize("simulator", SIMULATORS)
def test_board_top_over_the_uart_pins(simulator):
    """The iCEBreaker top-level (its PLL replaced by the bench clock) answers frames sent
    bit by bit on its rx pin with good frames on its tx pin, and its LEDs show the PLL
    locked after reset and the link error after a frame damaged by a character with a bad
    stop bit."""
    board = get_board("icebreaker")
    top = BoardTop(board, CoreImage(BENCH), clk_hz=BAUD * CPB, baud=BAUD, pll=False)
    name = "spikefab_board_icebreaker"
    text = verilog.convert(top, name=name, emit_src=False)
    models, defines = sim_models(BENCH)
    bdir = build_verilog(text, simulator, toplevel=name, models=models, defines=defines)
    run_dir = new_run_dir(bdir)
    sent = [encode_frame(7, Command.IDENTIFY), encode_frame(8, Command.IDENTIFY)]
    job = {"clocks_per_bit": CPB, "frames": [f.hex() for f in sent],
           "bad_stop": encode_frame(9, Command.IDENTIFY).hex(),
           "listen": 40 * 10 * CPB}
    (run_dir / "job.json").write_text(json.dumps(job))
    run_cocotb(bdir, simulator, toplevel=name, bench_module="board_cocotb_bench",
               run_dir=run_dir, extra_env={"BOARD_RUN_DIR": str(run_dir)})
    res = json.loads((run_dir / "results.json").read_text())
    replies = FrameDecoder(commands=range(256)).feed(bytes.fromhex(res["rx"]))
    assert [type(r) for r in replies] == [Frame, Frame], replies
    assert [r.seq for r in replies] == [7, 8]
    assert all(r.cmd == Command.IDENTIFY | REPLY_BIT for r in replies), replies
    assert replies[0].payload == replies[1].payload and replies[0].payload
    led = {k: [src for _, _, src in board.leds].index(k) for k in ("locked", 2)}
    assert res["leds_reset"] >> led["locked"] & 1 == 1, "PLL-locked LED off"
    assert res["leds_reset"] >> led[2] & 1 == 0, "link-error LED on after reset"
    assert res["leds_frames"] >> led[2] & 1 == 0, "link-error LED on after good frames"
    assert res["leds_end"] >> led[2] & 1 == 1, "link-error LED off after a framing error"


# --- the build command ---------------------------------------------------------------------

def test_build_command_refuses_bad_input(tmp_path, capsys):
    assert main(["build", "--board", "icebreaker", "--clock-mhz", "300",
                 "-o", str(tmp_path)]) == 2
    assert "clk_hz = 3e+08 (300 MHz) is not allowed for the iCE40 SB_PLL40 PLL: expected " \
           "16..275 MHz" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["build", "--board", "icestick", "-o", str(tmp_path)])
    cfg = board_build.board_config("icebreaker")
    assert cfg.core.syn_memory == "ice40_spram" and cfg.core.model == "shift"
    assert (cfg.core.neurons, cfg.core.axons, cfg.core.trace_port) == (256, 256, False)
    assert board_build.board_config("ulx3s-85f").mesh.cores == 4


@pytest.mark.slow
def test_icebreaker_bitstream(tmp_path):
    """The iCEBreaker bitstream of the default configuration (CI runs this as its own step):
    it is written, fits the device, and meets timing at the PLL clock."""
    lines = []
    rep = board_build.build_board("icebreaker", tmp_path, say=lines.append)
    assert os.path.getsize(rep.bitstream) > 100_000
    assert rep.utilization["ICESTORM_SPRAM"]["used"] >= 1
    assert rep.utilization["ICESTORM_PLL"]["used"] == 1
    assert rep.clk_mhz == board_build.board_config("icebreaker").build.clock_mhz == 18.0
    assert rep.timing_met, rep.summary()
    assert any("nextpnr (place and route) done" in line for line in lines)
    print("\n".join(rep.summary()))
