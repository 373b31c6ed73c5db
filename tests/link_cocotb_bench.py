"""cocotb bench of the generated ``FrameLink`` Verilog (used by ``test_link_cocotb.py``).

Reads ``job.json`` from its run folder (``wire``: hex bytes into ``rx_bytes``; ``gap``,
``backpressure``, ``seed``), drives the byte stream with random idle clocks, holds both
outputs' ``ready`` low at random, and writes every ``rx_frame`` transfer (as a raw word) and
every byte of ``tx_bytes`` to ``results.json``. It imports no Amaranth, to start faster."""

import json
import os
import random
from pathlib import Path

import cocotb
from cocotb.clock import Clock
from cocotb.triggers import ClockCycles, ReadOnly, RisingEdge


@cocotb.test()
async def frame_link_job(dut):
    run_dir = Path(os.environ.get("LINK_RUN_DIR", "."))
    job = json.loads((run_dir / "job.json").read_text())
    rng = random.Random(job["seed"])
    wire = bytes.fromhex(job["wire"])
    cocotb.start_soon(Clock(dut.clk, 10, unit="ns").start())
    dut.rst.value = 1
    dut.rx_bytes__valid.value = 0
    dut.tx_frame__valid.value = 0
    dut.rx_frame__ready.value = 0
    dut.tx_bytes__ready.value = 0
    await ClockCycles(dut.clk, 3)
    dut.rst.value = 0
    frames, sent = [], []
    state = {"done": False, "cycle": 0}

    async def feed():
        for byte in wire:
            while rng.random() < job["gap"]:
                dut.rx_bytes__valid.value = 0
                await RisingEdge(dut.clk)
            dut.rx_bytes__valid.value = 1
            dut.rx_bytes__payload.value = byte
            while True:
                await ReadOnly()
                taken = dut.rx_bytes__ready.value == 1
                await RisingEdge(dut.clk)
                if taken:
                    break
        dut.rx_bytes__valid.value = 0
        state["done"] = True

    async def sinks():
        while True:
            dut.rx_frame__ready.value = int(rng.random() >= job["backpressure"])
            dut.tx_bytes__ready.value = int(rng.random() >= job["backpressure"])
            await ReadOnly()
            if dut.rx_frame__valid.value == 1 and dut.rx_frame__ready.value == 1:
                frames.append(dut.rx_frame__payload.value.to_unsigned())
            if dut.tx_bytes__valid.value == 1 and dut.tx_bytes__ready.value == 1:
                sent.append(dut.tx_bytes__payload.value.to_unsigned())
            await RisingEdge(dut.clk)
            state["cycle"] += 1

    cocotb.start_soon(sinks())
    await feed()
    await ClockCycles(dut.clk, job["drain"])
    (run_dir / "results.json").write_text(json.dumps(
        {"frames": frames, "sent": bytes(sent).hex(), "cycles": state["cycle"]}))
