"""The transport interface of the host API: how command and reply words move.

A transport moves whole words of the host interface's formats
(:func:`spikefab.rtl.host.host_command_layout`, :func:`~spikefab.rtl.host.host_reply_layout`)
between the host and a design; it knows nothing of their meaning. The cocotb transport
(``spikefab.sim.benches.transport``) drives the simulated design's ``host`` streams; a UART
transport frames the same words into bytes.
"""

import abc
from collections.abc import Sequence


__all__ = ["Transport"]


class Transport(abc.ABC):
    """Moves command words to the design and reply words back, in order, losing none."""

    @abc.abstractmethod
    async def send(self, words: Sequence[int]) -> None:
        """Deliver command words, in order. May return before the design has acted on them,
        but never reorders them."""

    @abc.abstractmethod
    async def recv(self) -> int:
        """The next reply word (waits for it)."""
