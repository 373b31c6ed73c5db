"""Runs over the host link, the same on a board and on its simulation: a trace from the host
API (:class:`~spikefab.firmware.host.Host` on a
:class:`~spikefab.firmware.link_transport.LinkTransport`), in the golden model's format.

Without a trace port, the spikes of a bare core come from its ``SPIKE`` records (one per
spike) and its state from ``READ``s of its ``STATE`` region after every step; an array's
``spikes`` are those of its exit records (the neurons with an exit entry in their routing
list; ``extra.ext_out`` counts the records), since spikes that stay inside the array never
reach the host."""

import numpy as np

from ..rtl.layouts import Region
from ..rtl.netimage import NetworkImage
from .trace import Trace


__all__ = ["run_trace", "read_memories"]


async def run_trace(host, image, inputs, steps, *, state=True, source="serial link"):
    """Run ``steps`` steps through ``host``; a :class:`Trace` of spikes and (``state``) the
    state, weights and traces read back after every step."""
    network = isinstance(image, NetworkImage)
    p = image.params
    C = image.mesh.cores if network else 1
    N = p.neurons
    width = image.mesh.width if network else 1
    spikes = np.zeros((steps, C * N), np.uint8)
    u = np.zeros((steps, C * N), np.int64)
    v = np.zeros((steps, C * N), np.int64)
    refr = np.zeros((steps, C * N), np.int64) if p.refractory_bits else None
    ext_out = np.zeros((steps, C * N), np.int64)
    learned, done = [], []
    first = "u" if p.model == "cuba" else "i"
    for t in range(steps):
        await host.inject(inputs[t] if t < len(inputs) else [])
        (res,) = await host.step(1)
        done.append(res.counters.cycles)
        for rec in res.spikes:
            k = (rec.y * width + rec.x) * N + rec.neuron
            spikes[t, k] = 1
            ext_out[t, k] += 1
        if state:
            for c in range(C):
                st = await host.read_state(c)
                u[t, c * N:(c + 1) * N] = st[first]
                v[t, c * N:(c + 1) * N] = st["v"]
                if refr is not None:
                    refr[t, c * N:(c + 1) * N] = st["refr_cnt"]
            if p.learning:
                learned.append([await host.read_learning(c) for c in range(C)])
    extra = {"ext_out": ext_out} if network else {}
    if refr is not None:
        extra["refr_cnt"] = refr
    if p.learning and state:
        if network:
            extra["weights"] = np.stack([np.stack([w for w, _, _ in s]) for s in learned])
            extra["x"] = np.stack([np.stack([x for _, x, _ in s]) for s in learned])
            extra["y"] = np.stack([np.concatenate([y for _, _, y in s]) for s in learned])
        else:
            extra["weights"] = np.stack([s[0][0] for s in learned])
            extra["x"] = np.stack([s[0][1] for s in learned])
            extra["y"] = np.stack([s[0][2] for s in learned])
    meta = {"source": source, "cycles": done}
    return Trace(spikes=spikes, u=u, v=v, extra=extra, neurons_per_core=N, meta=meta)


async def read_memories(host, image):
    """Every region of every core (and routing table) as ``{"core/REGION": [words]}``."""
    C = image.mesh.cores if isinstance(image, NetworkImage) else 1
    out = {}
    for c in range(C):
        for region, depth in host.codec.depths.items():
            if depth:
                out[f"{c}/{Region(region).name}"] = await host.read_region(c, region)
    return out


