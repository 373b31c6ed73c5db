"""The host API of a running design: load images, read and write, inject, step, read spikes.

Written against :class:`~spikefab.firmware.transport.Transport` (async ``send``/``recv`` of
words) and :class:`~spikefab.firmware.protocol.HostCodec` (the formats), so the same calls
drive a simulated design through cocotb and, with another transport, a board. Imports
``spikefab.rtl`` only (parameters, layouts, images).
"""

from dataclasses import dataclass, field

import numpy as np

from spikefab.rtl import layouts
from spikefab.rtl.image import CoreImage
from spikefab.rtl.layouts import Reg, Region
from spikefab.rtl.netimage import NetworkImage

from .protocol import Counters, Data, ErrorReply, HostCodec, HostError, Spike
from .transport import Transport


__all__ = ["Host", "StepResult"]


@dataclass
class StepResult:
    """What one step gave: its spike records, in arrival order, and its ``DONE`` counters."""
    spikes: list = field(default_factory=list)
    counters: Counters = None


class Host:
    """The host's view of one design (a bare core or an array).

    Parameters
    ----------
    transport : Transport
    codec : HostCodec
        The design's formats (``HostCodec.for_image(image)``).

    Cores are numbered as in :class:`~spikefab.rtl.params.MeshParams` (``y * width + x``); a
    bare core is core 0. Every method is a coroutine.
    """

    def __init__(self, transport: Transport, codec: HostCodec):
        if not isinstance(transport, Transport):
            raise TypeError(f"transport must be a Transport, not {type(transport).__name__}")
        self.transport, self.codec = transport, codec
        self.params, self.mesh = codec.params, codec.mesh

    @classmethod
    def for_image(cls, transport, image):
        return cls(transport, HostCodec.for_image(image))

    async def _reply(self):
        reply = self.codec.decode(await self.transport.recv())
        if isinstance(reply, ErrorReply):
            raise HostError(f"the design refused a command: {reply.code.name} (op {reply.op})")
        return reply

    # --- registers and memories ------------------------------------------------------------

    async def write(self, core, region, index, data):
        await self.transport.send([self.codec.write(core, region, index, data)])

    async def write_words(self, core, region, words, start=0):
        """Write ``words`` to consecutive indices of ``region`` from ``start``."""
        await self.transport.send(self.codec.writes(core, region, list(words), start))

    async def read(self, core, region, index):
        (value,) = await self.read_words(core, region, [index])
        return value

    async def read_words(self, core, region, indices):
        """Words of ``region`` at ``indices`` (the commands are sent back to back; the replies
        come in command order)."""
        words = self.codec.reads(core, region, indices)
        await self.transport.send(words)
        out = []
        for _ in words:
            reply = await self._reply()
            if not isinstance(reply, Data):
                raise HostError(f"expected a DATA reply, got {reply}")
            out.append(reply.value)
        return out

    async def read_region(self, core, region):
        return await self.read_words(core, region, range(self.codec.depths[Region(region)]))

    async def load(self, image):
        """Write every memory and register of ``image`` (a :class:`CoreImage` into core 0,
        or a :class:`NetworkImage` into every core and routing table)."""
        if isinstance(image, NetworkImage):
            for c, (img, rt) in enumerate(zip(image.cores, image.routes)):
                await self.load_core(img, c)
                await self.write_words(c, Region.ROUTE_PTR, rt.ptr_words())
                await self.write_words(c, Region.ROUTE, rt.entry_words())
        elif isinstance(image, CoreImage):
            await self.load_core(image, 0)
        else:
            raise TypeError(f"image must be a CoreImage or a NetworkImage, not "
                            f"{type(image).__name__}")

    async def load_core(self, img: CoreImage, core=0):
        """Write one core's synapses, parameters, profile indices, state, registers and (when
        learning) traces and STDP registers."""
        p = img.params
        await self.write_words(core, Region.SYN, img.syn_words())
        await self.write_words(core, Region.PARAM, img.param_words())
        if p.param_mode == "profile":
            await self.write_words(core, Region.PIDX, img.pidx_words())
        await self.write_words(core, Region.STATE, img.state_words())
        await self.write(core, Region.REG, Reg.W_EXP, img.w_exp)
        if p.learning:
            await self.write_words(core, Region.XTRACE, img.xtrace_words())
            await self.write_words(core, Region.YTRACE, img.ytrace_words())
            for reg, w in img.stdp_reg_words().items():
                await self.write(core, Region.REG, reg, w)

    async def read_state(self, core=0):
        """Every neuron's state row, ``{field: array [N]}``."""
        return layouts.unpack(layouts.state_layout(self.params),
                              await self.read_region(core, Region.STATE))

    async def read_weights(self, core=0):
        """The weights ``[A, N]``."""
        p = self.params
        lanes = layouts.unpack(layouts.syn_word_layout(p), await self.read_region(core, Region.SYN))
        return np.stack([lanes[k] for k in range(p.lanes)], 1).reshape(p.axons, p.neurons)

    async def read_learning(self, core=0):
        """Weights ``[A, N]``, pre traces ``[A]`` and post traces ``[N]`` of a learning core."""
        weights = await self.read_weights(core)
        xs = layouts.unpack(layouts.xtrace_layout(self.params),
                            await self.read_region(core, Region.XTRACE))["x"]
        ys = layouts.unpack(layouts.ytrace_layout(self.params),
                            await self.read_region(core, Region.YTRACE))["y"]
        return weights, xs, ys

    async def read_routes(self, core):
        """The routing table of an array core: ``(pointer words, entry words)``."""
        return (await self.read_region(core, Region.ROUTE_PTR),
                await self.read_region(core, Region.ROUTE))

    async def read_register(self, core, reg):
        return await self.read(core, Region.REG, Reg(reg))

    # --- running ---------------------------------------------------------------------------

    async def inject(self, spikes, delay=0):
        """Input spikes for the next step: ``(core, axon)`` pairs, or plain axon ids for core 0
        of a bare core."""
        pairs = [(0, int(s)) if np.ndim(s) == 0 else (int(s[0]), int(s[1])) for s in spikes]
        await self.transport.send(self.codec.events(pairs, delay))

    async def step(self, steps=1):
        """Compute ``steps`` steps; one :class:`StepResult` per step."""
        if steps == 0:
            return []
        await self.transport.send([self.codec.step(steps)])
        return [await self.collect_step() for _ in range(steps)]

    async def collect_step(self):
        """The replies of one step: spike records up to its ``DONE`` record (also for steps
        the design starts by itself, such as an array's free-running timer)."""
        result = StepResult()
        while True:
            reply = await self._reply()
            if isinstance(reply, Spike):
                result.spikes.append(reply)
            elif isinstance(reply, Counters) and reply.done:
                result.counters = reply
                return result
            else:
                raise HostError(f"expected a SPIKE or DONE reply during a step, got {reply}")

    async def counters(self):
        """The design's counters and status now (a ``COUNTERS`` reply)."""
        await self.transport.send([self.codec.counters()])
        reply = await self._reply()
        if not isinstance(reply, Counters) or reply.done:
            raise HostError(f"expected a COUNTERS reply, got {reply}")
        return reply

    async def command(self, word):
        """Send one raw command word and return its decoded reply, errors included (for
        tests of malformed commands)."""
        await self.transport.send([word])
        return self.codec.decode(await self.transport.recv())
