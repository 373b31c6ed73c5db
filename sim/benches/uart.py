"""The host link's byte channel on a simulated board top-level: its UART pins driven and
sampled bit by bit in cocotb (:class:`~spikefab.rtl.serial_top.SerialTop` ``rx``/``tx``).

Implements :class:`spikefab.firmware.link_transport.ByteChannel`, so the same
:class:`~spikefab.firmware.link_transport.LinkTransport` and host API drive a board and its
simulation."""

import cocotb
from cocotb.triggers import ClockCycles, FallingEdge

from spikefab.firmware.command import LinkProtocolError
from spikefab.firmware.link_transport import ByteChannel


__all__ = ["UartChannel"]


class UartChannel(ByteChannel):
    """8N1 characters into ``dut.rx`` and out of ``dut.tx`` at ``clocks_per_bit`` clocks
    per bit. :meth:`start` the receiver first. ``timeout``: character times ``read`` waits
    for a byte before it fails (a hang). :attr:`cycles` counts clocks spent writing."""

    def __init__(self, dut, clk, clocks_per_bit, *, timeout=20_000):
        self.dut, self.clk, self.cpb = dut, clk, clocks_per_bit
        self.timeout = timeout
        self._rx = []
        self._task = None
        self.framing_errors = 0

    def start(self):
        self.dut.rx.value = 1
        self._task = cocotb.start_soon(self._receive())

    def stop(self):
        if self._task is not None:
            self._task.cancel()
            self._task = None

    async def _receive(self):
        cpb, tx = self.cpb, self.dut.tx
        while True:
            await FallingEdge(tx)
            await ClockCycles(self.clk, cpb // 2)
            if tx.value != 0:               # a glitch, not a start bit
                continue
            byte = 0
            for k in range(8):
                await ClockCycles(self.clk, cpb)
                byte |= int(tx.value) << k
            await ClockCycles(self.clk, cpb)
            if tx.value != 1:
                self.framing_errors += 1
            self._rx.append(byte)

    async def write(self, data):
        rx, clk, cpb = self.dut.rx, self.clk, self.cpb
        for byte in bytes(data):
            for bit in [0] + [(byte >> k) & 1 for k in range(8)] + [1]:
                rx.value = bit
                await ClockCycles(clk, cpb)

    async def read(self):
        waited = 0
        while not self._rx:
            await ClockCycles(self.clk, 10 * self.cpb)
            waited += 1
            if waited > self.timeout:
                raise LinkProtocolError(f"no byte from the design in {self.timeout} character "
                                        f"times (a hang)")
        data, self._rx = bytes(self._rx), []
        return data
