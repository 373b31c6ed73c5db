"""Sans-IO encoding of host commands and decoding of replies (no transport, no waiting).

Every word goes through the layouts of :mod:`spikefab.rtl.host`, so the firmware and the
hardware read one definition of the formats.
"""

from dataclasses import dataclass

import numpy as np

from spikefab.rtl import layouts
from spikefab.rtl.host import (Error, Kind, Op, core_mesh, host_command_layout,
                               host_region_depths, host_reply_layout)
from spikefab.rtl.image import CoreImage
from spikefab.rtl.layouts import Region
from spikefab.rtl.netimage import NetworkImage


__all__ = ["Data", "Spike", "Counters", "ErrorReply", "HostError", "HostCodec"]


@dataclass(frozen=True)
class Data:
    """A ``DATA`` reply: one word read."""
    value: int


@dataclass(frozen=True)
class Spike:
    """A ``SPIKE`` reply: ``neuron`` of core (``x``, ``y``) fired at ``step``."""
    step: int
    x: int
    y: int
    neuron: int


@dataclass(frozen=True)
class Counters:
    """A ``DONE`` (``done`` true) or ``COUNTERS`` reply."""
    step: int
    cycles: int
    packets_in: int
    packets_out: int
    status: int
    done: bool = False


@dataclass(frozen=True)
class ErrorReply:
    """An ``ERROR`` reply: the command ``op`` was refused with ``code``."""
    code: Error
    op: int


class HostError(RuntimeError):
    """The design refused a command, or replied what the protocol does not allow there."""


class HostCodec:
    """Encoder and decoder of one design's host words.

    Parameters
    ----------
    mesh : MeshParams
        The array's parameters; for a bare core, ``core_mesh(params)``.
    params : CoreParams
    routing : bool
        The design has routing tables (an array); a bare core has not.
    """

    def __init__(self, mesh, params, *, routing=True):
        self.mesh, self.params, self.routing = mesh, params, routing
        self.cmd_layout = host_command_layout(mesh, params)
        self.reply_layout = host_reply_layout(mesh, params)
        self.depths = host_region_depths(mesh, params, routing=routing)
        specs = layouts.leaf_specs(self.reply_layout)
        kind = next(s for s in specs if s[0] == "kind")
        self._kind = (kind[1], (1 << kind[2]) - 1)
        self._fields = {}
        for member in ("data", "spike", "counters", "error"):
            self._fields[member] = [(k.rsplit(".", 1)[-1] if member != "data" else "value",
                                     off, (1 << w) - 1)
                                    for k, off, w, _ in specs
                                    if k == f"body.{member}" or k.startswith(f"body.{member}.")]

    @classmethod
    def for_image(cls, image):
        """The codec of the top of ``image`` (a :class:`CoreImage`: a bare core; a
        :class:`NetworkImage`: an array)."""
        if isinstance(image, NetworkImage):
            return cls(image.mesh, image.params, routing=True)
        if isinstance(image, CoreImage):
            return cls(core_mesh(image.params), image.params, routing=False)
        raise TypeError(f"image must be a CoreImage or a NetworkImage, not {type(image).__name__}")

    # --- commands -------------------------------------------------------------------------

    def _xy(self, core):
        if not 0 <= core < self.mesh.cores:
            raise IndexError(f"core {core} is out of range: allowed 0..{self.mesh.cores - 1}")
        return self.mesh.core_xy(core)

    def _indices(self, region, indices):
        region = Region(region)
        depth = self.depths.get(region, 0)
        idx = np.asarray(indices, np.int64).reshape(-1)
        if idx.size and (idx.min() < 0 or idx.max() >= depth):
            bad = int(idx[(idx < 0) | (idx >= depth)][0])
            raise IndexError(f"index {bad} is out of range for region {region.name}: "
                             + (f"allowed 0..{depth - 1}" if depth else "absent here"))
        return idx

    def writes(self, core, region, words, start=0):
        """Command words writing ``words`` to ``region`` indices ``start, start + 1, ...``."""
        x, y = self._xy(core)
        idx = self._indices(region, np.arange(start, start + len(words)))
        if not len(words):
            return []
        return layouts.pack(self.cmd_layout, {
            "op": Op.WRITE, "core": {"x": x, "y": y},
            "arg.cfg": {"addr": {"region": int(region), "index": idx},
                        "data": np.asarray([int(w) for w in words], dtype=object)}})

    def write(self, core, region, index, data):
        return self.writes(core, region, [data], index)[0]

    def reads(self, core, region, indices):
        """Command words reading ``region`` at each of ``indices``."""
        x, y = self._xy(core)
        idx = self._indices(region, indices)
        if not idx.size:
            return []
        return layouts.pack(self.cmd_layout, {
            "op": Op.READ, "core": {"x": x, "y": y},
            "arg.cfg": {"addr": {"region": int(region), "index": idx}, "data": 0}})

    def read(self, core, region, index):
        return self.reads(core, region, [index])[0]

    def events(self, spikes, delay=0):
        """Command words of input events; ``spikes``: ``(core, axon)`` pairs."""
        spikes = list(spikes)
        if not spikes:
            return []
        cores = np.array([int(c) for c, _ in spikes], np.int64)
        if cores.min() < 0 or cores.max() >= self.mesh.cores:
            raise IndexError(f"core {int(cores[(cores < 0) | (cores >= self.mesh.cores)][0])} "
                             f"is out of range: allowed 0..{self.mesh.cores - 1}")
        return layouts.pack(self.cmd_layout, {
            "op": Op.EVENT, "core": {"x": cores % self.mesh.width, "y": cores // self.mesh.width},
            "arg.event": {"axon": [int(a) for _, a in spikes], "delay": delay}})

    def step(self, steps=1):
        return layouts.pack(self.cmd_layout, {"op": Op.STEP, "core": {"x": 0, "y": 0},
                                              "arg.run.steps": steps})[0]

    def counters(self):
        return layouts.pack(self.cmd_layout, {"op": Op.COUNTERS, "core": {"x": 0, "y": 0}})[0]

    def command_fields(self):
        """A function: command word -> ``{dotted leaf name: value}`` (every leaf of the
        command layout, the union's members overlapping)."""
        specs = [(k, off, (1 << w) - 1) for k, off, w, _ in layouts.leaf_specs(self.cmd_layout)]
        return lambda word: {k: (word >> off) & mask for k, off, mask in specs}

    # --- replies --------------------------------------------------------------------------

    def is_done(self, word):
        """The reply word is a ``DONE`` record."""
        off, mask = self._kind
        return (word >> off) & mask == Kind.DONE

    def _get(self, member, word):
        return {name: (word >> off) & mask for name, off, mask in self._fields[member]}

    def decode(self, word):
        """A reply word as :class:`Data`, :class:`Spike`, :class:`Counters` or
        :class:`ErrorReply`; an unknown kind raises :class:`HostError`."""
        off, mask = self._kind
        kind = (word >> off) & mask
        if kind == Kind.DATA:
            return Data(**self._get("data", word))
        if kind == Kind.SPIKE:
            return Spike(**self._get("spike", word))
        if kind in (Kind.DONE, Kind.COUNTERS):
            return Counters(**self._get("counters", word), done=kind == Kind.DONE)
        if kind == Kind.ERROR:
            f = self._get("error", word)
            try:
                code = Error(f["code"])
            except ValueError:
                raise HostError(f"error reply with unknown code {f['code']}") from None
            return ErrorReply(code, f["op"])
        raise HostError(f"reply of unknown kind {kind} (word {word:#x})")
