"""The resources a mapped network uses: :class:`MappingReport` (one :class:`CoreUsage` per
core), made by :func:`mapping_report` from a :class:`~spikefab.gen.netrun.MappedNetwork`
(see docs/network.md)."""

from dataclasses import dataclass

import numpy as np

from spikefab.rtl.params import CoreParams, MeshParams


__all__ = ["CoreUsage", "MappingReport", "mapping_report"]


@dataclass
class CoreUsage:
    """What one core uses: ``neurons`` placed, ``axons`` in use, ``route_entries`` in its
    routing table, worst-case input ``events`` in one step (every source reaching it firing
    once), and the ``populations`` it hosts."""
    core: int
    x: int
    y: int
    neurons: int
    axons: int
    route_entries: int
    events: int
    populations: tuple = ()

    def to_dict(self):
        return {"core": self.core, "x": self.x, "y": self.y, "neurons": self.neurons,
                "axons": self.axons, "route_entries": self.route_entries,
                "events": self.events, "populations": list(self.populations)}


@dataclass
class MappingReport:
    """Resources a mapped network uses.

    Attributes: ``name``; ``mesh`` and ``params`` (the capacities: ``params.neurons``,
    ``params.axons``, ``mesh.route_entries``, ``params.max_step_events`` per core);
    ``cores`` (a :class:`CoreUsage` per core of the mesh, index order); ``synapses`` (over
    all projections); ``max_fanout`` (the most routing entries one neuron has, i.e. packets
    per spike) and ``max_fanout_neuron`` (``(population, index)`` of the first such neuron,
    or None).
    """
    name: str
    mesh: MeshParams
    params: CoreParams
    cores: list
    synapses: int
    max_fanout: int
    max_fanout_neuron: tuple = None

    @property
    def cores_used(self):
        """Cores that host at least one neuron."""
        return sum(1 for c in self.cores if c.neurons)

    def totals(self):
        """Sums over all cores: ``neurons``, ``axons``, ``route_entries``, ``events``."""
        return {k: sum(getattr(c, k) for c in self.cores)
                for k in ("neurons", "axons", "route_entries", "events")}

    def to_dict(self):
        return {"name": self.name, "mesh": self.mesh.to_dict(),
                "capacity": {"neurons": self.params.neurons, "axons": self.params.axons,
                             "route_entries": self.mesh.route_entries,
                             "max_step_events": self.params.max_step_events},
                "cores": [c.to_dict() for c in self.cores],
                "cores_used": self.cores_used, "totals": self.totals(),
                "synapses": self.synapses, "max_fanout": self.max_fanout,
                "max_fanout_neuron": (list(self.max_fanout_neuron)
                                      if self.max_fanout_neuron else None)}

    def __str__(self):
        p, m = self.params, self.mesh
        cap = {"neurons": p.neurons, "axons": p.axons, "route_entries": m.route_entries,
               "events": p.max_step_events}

        def cell(v, k):
            return f"{v}/{cap[k]} ({100 * v / cap[k]:.0f}%)"

        head = ("core", "(x, y)", "neurons", "axons", "route entries", "events/step",
                "populations")
        rows = [(str(c.core), f"({c.x}, {c.y})", cell(c.neurons, "neurons"),
                 cell(c.axons, "axons"), cell(c.route_entries, "route_entries"),
                 cell(c.events, "events"), " ".join(c.populations))
                for c in self.cores if c.neurons or c.axons or c.route_entries]
        t = self.totals()
        n = len(self.cores)
        rows.append(("total", "", f"{t['neurons']}/{p.neurons * n}",
                     f"{t['axons']}/{p.axons * n}",
                     f"{t['route_entries']}/{m.route_entries * n}", f"{t['events']}", ""))
        widths = [max(len(r[i]) for r in rows + [head]) for i in range(len(head))]
        fmt = lambda r: "  ".join(s.ljust(w) for s, w in zip(r, widths)).rstrip()
        lines = [f"network {self.name!r} on a {m.width}x{m.height} mesh: {self.cores_used} of "
                 f"{n} cores used; a core has {p.neurons} neurons, {p.axons} axons, "
                 f"{m.route_entries} routing entries, max_step_events = {p.max_step_events}",
                 fmt(head), fmt(["-" * w for w in widths])]
        lines += [fmt(r) for r in rows[:-1]]
        lines.append(fmt(["-" * w for w in widths]))
        lines.append(fmt(rows[-1]))
        unused = sum(1 for c in self.cores if not (c.neurons or c.axons or c.route_entries))
        if unused:
            lines.append(f"({unused} unused core{'s' if unused > 1 else ''} not shown)")
        who = (f" ({self.max_fanout_neuron[0]!r}[{self.max_fanout_neuron[1]}])"
               if self.max_fanout_neuron else "")
        plural = "entry" if self.max_fanout == 1 else "entries"
        lines.append(f"synapses: {self.synapses}; max fan-out: {self.max_fanout} routing "
                     f"{plural} per spike{who}")
        return "\n".join(lines)


def mapping_report(mapped):
    """The :class:`MappingReport` of a :class:`~spikefab.gen.netrun.MappedNetwork`, read from
    its image (routing tables), its ``placement`` and its ``meta`` (input targets,
    projections)."""
    img, mesh, p = mapped.image, mapped.mesh, mapped.params
    C = mesh.cores
    neurons = np.zeros(C, np.int64)
    pops = [[] for _ in range(C)]
    for name in mapped.populations:
        for c, f, cnt in mapped.placement[name]:
            neurons[c] += cnt
            pops[c].append(name)
    entries = np.array([int(rt.count.sum()) for rt in img.routes], np.int64)
    counts = np.concatenate([rt.count for rt in img.routes]).astype(np.int64)
    best = int(counts.max()) if counts.size else 0
    best_g = int(np.argmax(counts)) if best else None
    # every routed entry in use delivers at most one event per step to its axon
    dst, ax = [], []
    for rt in img.routes:
        cnt = rt.count.astype(np.int64)
        total = int(cnt.sum())
        if not total:
            continue
        idx = np.repeat(rt.base.astype(np.int64) - (np.cumsum(cnt) - cnt), cnt) + \
            np.arange(total)
        e = rt.entries
        idx = idx[e["exit"][idx] == 0]
        dst.append(e["y"][idx] * mesh.width + e["x"][idx])
        ax.append(e["axon"][idx])
    for d in mapped.meta["inputs"]:
        dst.append(np.asarray(d["targets"]["core"], np.int64))
        ax.append(np.asarray(d["targets"]["axon"], np.int64))
    dst = np.concatenate(dst).astype(np.int64) if dst else np.zeros(0, np.int64)
    ax = np.concatenate(ax).astype(np.int64) if ax else np.zeros(0, np.int64)
    events = np.bincount(dst, minlength=C)
    axons = np.bincount(np.unique(dst * p.axons + ax) // p.axons, minlength=C)
    cores = []
    for c in range(C):
        x, y = mesh.core_xy(c)
        cores.append(CoreUsage(core=c, x=x, y=y, neurons=int(neurons[c]),
                               axons=int(axons[c]), route_entries=int(entries[c]),
                               events=int(events[c]), populations=tuple(pops[c])))
    who = None
    if best_g is not None:
        who = mapped.population_of(best_g)
    return MappingReport(name=mapped.name, mesh=mesh, params=p, cores=cores,
                         synapses=sum(int(d["synapses"]) for d in mapped.meta["projections"]),
                         max_fanout=best, max_fanout_neuron=who)
