"""A serial port as the host link's byte channel (pyserial, imported when a port is opened).

    channel = SerialChannel("/dev/ttyUSB1", baud=115200)
    transport = LinkTransport(channel, HostCodec.for_image(image))
    host = Host(transport, transport.codec)
"""

from .command import LinkProtocolError
from .link_transport import ByteChannel


__all__ = ["SerialChannel", "open_serial"]


def open_serial(port, baud, timeout):
    """A ``serial.Serial`` on ``port``; a clear error if pyserial is missing."""
    try:
        import serial
    except ImportError:
        raise RuntimeError("driving a board needs pyserial: pip install pyserial (or the "
                           "project's main dependencies)") from None
    try:
        return serial.Serial(port, baudrate=baud, bytesize=8, parity="N", stopbits=1,
                             timeout=timeout)
    except (serial.SerialException, OSError) as e:
        raise RuntimeError(f"cannot open serial port {port}: {e}") from None


class SerialChannel(ByteChannel):
    """``port`` at ``baud`` 8N1. ``read`` waits up to ``timeout`` seconds for a byte."""

    def __init__(self, port, baud=115200, *, timeout=2.0, serial_port=None):
        self.port = serial_port if serial_port is not None else open_serial(port, baud, 0.05)
        self.timeout = timeout

    async def write(self, data):
        self.port.write(data)
        self.port.flush()

    async def read(self):
        import time
        deadline = time.monotonic() + self.timeout
        while True:
            data = self.port.read(max(1, self.port.in_waiting))
            if data:
                return data
            if time.monotonic() > deadline:
                raise LinkProtocolError(f"no answer from the board within {self.timeout} s")

    def close(self):
        self.port.close()
