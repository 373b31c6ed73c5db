"""cocotb bench of a board top-level (``BoardTop`` with ``pll=False``; used by
``test_boards.py``): the bench clock drives ``clk_in``, bytes go in on the ``rx`` pin and come
out of the ``tx`` pin as 8N1 characters, bit by bit, at ``clocks_per_bit``.

Reads ``job.json`` from its run folder: ``clocks_per_bit``; ``frames``: hex byte strings
sent one after the other; ``bad_stop``: after them, a hex frame sent with the stop bit
of its second character low (a framing error: the receiver drops that character, so the
frame arrives damaged); ``listen``: clocks to keep listening after the last byte. Writes
``results.json``: every byte received on ``tx`` (hex), the LEDs after reset, after the
frames and at the end."""

import json
import os
from pathlib import Path

import cocotb
from cocotb.clock import Clock
from cocotb.triggers import ClockCycles, FallingEdge, ReadOnly, RisingEdge


async def send_byte(dut, byte, cpb, stop=1):
    for bit in [0] + [(byte >> i) & 1 for i in range(8)] + [stop]:
        dut.rx.value = bit
        await ClockCycles(dut.clk_in, cpb)
    dut.rx.value = 1
    await ClockCycles(dut.clk_in, cpb)      # a little idle between characters


async def receive(dut, cpb, out):
    """Sample ``tx``: a falling edge starts a character, bits read at their middles."""
    while True:
        await FallingEdge(dut.tx)
        await ClockCycles(dut.clk_in, cpb // 2)
        byte = 0
        for i in range(8):
            await ClockCycles(dut.clk_in, cpb)
            await ReadOnly()
            byte |= int(dut.tx.value) << i
        await ClockCycles(dut.clk_in, cpb)  # the stop bit
        out.append(byte)


@cocotb.test()
async def board_job(dut):
    run_dir = Path(os.environ.get("BOARD_RUN_DIR", "."))
    job = json.loads((run_dir / "job.json").read_text())
    cpb = job["clocks_per_bit"]
    cocotb.start_soon(Clock(dut.clk_in, 10, unit="ns").start())
    dut.rx.value = 1
    dut.rst.value = 1
    await ClockCycles(dut.clk_in, 5)
    dut.rst.value = 0
    await ClockCycles(dut.clk_in, 40)
    await ReadOnly()
    leds_reset = int(dut.leds.value)
    await RisingEdge(dut.clk_in)
    got = []
    cocotb.start_soon(receive(dut, cpb, got))
    for frame in job["frames"]:
        for byte in bytes.fromhex(frame):
            await send_byte(dut, byte, cpb)
    await ClockCycles(dut.clk_in, job["listen"])
    await ReadOnly()
    leds_frames = int(dut.leds.value)
    await RisingEdge(dut.clk_in)
    if job["bad_stop"]:
        for k, byte in enumerate(bytes.fromhex(job["bad_stop"])):
            await send_byte(dut, byte, cpb, stop=int(k != 1))
        await ClockCycles(dut.clk_in, 4 * cpb)
    await ReadOnly()
    leds_end = int(dut.leds.value)
    (run_dir / "results.json").write_text(json.dumps({
        "rx": bytes(got).hex(), "leds_reset": leds_reset, "leds_frames": leds_frames,
        "leds_end": leds_end}))
