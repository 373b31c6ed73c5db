"""Network images: the exact contents of every memory of a many-core array (SPEC §3.6, §4).

A :class:`NetworkImage` is a :class:`~spikefab.rtl.params.MeshParams`, one
:class:`~spikefab.rtl.image.CoreImage` per core and one :class:`RouteTable` per core. It is
what the array generator bakes into the memories, what the golden network model starts from,
and what ``spikefab simulate`` runs. Building one from populations and projections is the
job of :mod:`spikefab.gen.network`; this module only holds and checks the data.

Routing tables
--------------
Each neuron ``n`` of a core owns the entries ``base[n] .. base[n] + count[n] - 1`` of its
core's table. An entry sends one packet per spike: to ``axon`` of core ``(x, y)``, integrated
``delay`` steps later (1..max_delay), or, if ``exit``, one record (step, core, neuron) to the
array's external output. Exit entries hold ``x = y = axon = 0`` and ``delay = 1``.
"""

import dataclasses
from dataclasses import dataclass, field
import json
from types import MappingProxyType

import numpy as np

from . import layouts
from .files import check_entries, int_entry, json_entry, read_npz
from .image import CoreImage, ImageError, _as_int_array, _check_range, _entry_names, freeze_array
from .params import CoreParams, MeshParams, ParamError


__all__ = ["RouteTable", "NetworkImage", "ROUTE_FIELDS", "EXIT"]

#: Fields of a routing-table entry, in the order of :attr:`RouteTable.entries`.
ROUTE_FIELDS = ("exit", "x", "y", "axon", "delay")
#: Marker of an external-output target in :meth:`RouteTable.from_fanout` lists.
EXIT = "exit"


@dataclass
class RouteTable:
    """The routing table of one core.

    Attributes
    ----------
    mesh : MeshParams
    params : CoreParams
    base, count : ndarray, shape (N,)
        Neuron ``n``'s fan-out list is entries ``base[n] .. base[n] + count[n] - 1``
        (``base[n]`` is ignored, and must be in range, when ``count[n] == 0``).
    entries : dict of ndarray, each of shape (route_entries,)
        ``exit`` (0/1), ``x``, ``y``, ``axon``, ``delay`` (the connection delay, 1..max_delay).
        Entries no list uses are still checked and must hold values in range.
    """
    mesh: MeshParams
    params: CoreParams
    base: np.ndarray = None
    count: np.ndarray = None
    entries: dict = field(default_factory=dict)

    def __post_init__(self):
        mp, p = self.mesh, self.params
        if not isinstance(mp, MeshParams):
            raise ImageError(f"mesh must be a MeshParams, not {type(mp).__name__}")
        if not isinstance(p, CoreParams):
            raise ImageError(f"params must be a CoreParams, not {type(p).__name__}")
        N, E = p.neurons, mp.route_entries
        self.base = _as_int_array("route base", np.zeros(N, np.int64)
                                  if self.base is None else self.base, (N,))
        self.count = _as_int_array("route count", np.zeros(N, np.int64)
                                   if self.count is None else self.count, (N,))
        _check_range("route base", self.base, 0, E - 1)
        _check_range("route count", self.count, 0, E)
        end = self.base + self.count
        over = np.flatnonzero(end > E)
        if over.size:
            n = int(over[0])
            raise ImageError(f"route list of neuron {n} (base {int(self.base[n])}, count "
                             f"{int(self.count[n])}) ends past the table's {E} entries")
        unknown = set(self.entries) - set(ROUTE_FIELDS)
        if unknown:
            raise ImageError(f"route entry field {sorted(unknown)[0]!r} does not exist: "
                             f"expected {', '.join(ROUTE_FIELDS)}")
        ranges = {"exit": (0, 1), "x": (0, mp.width - 1), "y": (0, mp.height - 1),
                  "axon": (0, p.axons - 1), "delay": (1, p.max_delay)}
        defaults = {"exit": 0, "x": 0, "y": 0, "axon": 0, "delay": 1}
        out = {}
        for name in ROUTE_FIELDS:
            v = self.entries.get(name, defaults[name])
            a = np.broadcast_to(np.asarray(v), (E,)) if np.ndim(v) == 0 else v
            a = _as_int_array(f"route entries[{name!r}]", a, (E,))
            _check_range(f"route entries[{name!r}]", a, *ranges[name])
            out[name] = a.copy()
        ex = np.flatnonzero(out["exit"] == 1)
        for name in ("x", "y", "axon"):
            bad = ex[out[name][ex] != 0]
            if bad.size:
                raise ImageError(f"route entries[{name!r}][{int(bad[0])}] = "
                                 f"{int(out[name][bad[0]])} on an exit entry: exit entries "
                                 f"hold x = y = axon = 0 and delay = 1")
        bad = ex[out["delay"][ex] != 1]
        if bad.size:
            raise ImageError(f"route entries['delay'][{int(bad[0])}] = "
                             f"{int(out['delay'][bad[0]])} on an exit entry: exit entries "
                             f"hold x = y = axon = 0 and delay = 1")
        self.entries = MappingProxyType({k: freeze_array(v) for k, v in out.items()})
        freeze_array(self.base)
        freeze_array(self.count)
        object.__setattr__(self, "_checked", True)

    def __setattr__(self, name, value):
        if self.__dict__.get("_checked"):
            raise AttributeError(f"RouteTable.{name} cannot be reassigned: a checked table is "
                                 f"read-only; make a changed copy with table.replace({name}=...)")
        object.__setattr__(self, name, value)

    def replace(self, **changes):
        """A new, checked table with the given fields changed (``entries`` may name only the
        fields that change)."""
        if changes.get("entries") is not None:
            changes["entries"] = {**self.entries, **changes["entries"]}
        return dataclasses.replace(self, **changes)

    @classmethod
    def from_fanout(cls, mesh, params, fanout):
        """A table from per-neuron lists: ``fanout[n]`` is a list of targets, each
        ``(x, y, axon, delay)`` or :data:`EXIT`; lists are stored one after another from
        entry 0. Too many entries in total is an :class:`ImageError`."""
        N, E = params.neurons, mesh.route_entries
        if len(fanout) != N:
            raise ImageError(f"fanout has {len(fanout)} lists, expected one per neuron ({N})")
        total = sum(len(f) for f in fanout)
        if total > E:
            raise ImageError(f"the fan-out lists need {total} routing entries, and a core has "
                             f"route_entries = {E}")
        base = np.zeros(N, np.int64)
        count = np.zeros(N, np.int64)
        cols = {k: np.zeros(E, np.int64) for k in ROUTE_FIELDS}
        cols["delay"][:] = 1
        k = 0
        for n, targets in enumerate(fanout):
            base[n] = min(k, E - 1)
            count[n] = len(targets)
            for t in targets:
                if isinstance(t, str) and t == EXIT:
                    cols["exit"][k] = 1
                else:
                    try:
                        x, y, a, d = (int(v) for v in t)
                    except (TypeError, ValueError):
                        raise ImageError(f"fanout[{n}] holds {t!r}: expected (x, y, axon, delay) "
                                         f"or {EXIT!r}") from None
                    cols["x"][k], cols["y"][k], cols["axon"][k], cols["delay"][k] = x, y, a, d
                k += 1
        return cls(mesh=mesh, params=params, base=base, count=count, entries=cols)

    def targets(self, n):
        """The fan-out list of neuron ``n``: ``[(x, y, axon, delay) or EXIT, ...]``."""
        b, c = int(self.base[n]), int(self.count[n])
        out = []
        for k in range(b, b + c):
            if self.entries["exit"][k]:
                out.append(EXIT)
            else:
                out.append(tuple(int(self.entries[f][k]) for f in ("x", "y", "axon", "delay")))
        return out

    @property
    def used(self):
        """Entries that some neuron's list uses."""
        mask = np.zeros(self.mesh.route_entries, bool)
        for b, c in zip(self.base, self.count):
            mask[b:b + c] = True
        return int(mask.sum())

    # --- memory words ----------------------------------------------------------------------

    def ptr_words(self):
        """Words of :attr:`~spikefab.rtl.layouts.Region.ROUTE_PTR`."""
        return layouts.pack(layouts.route_ptr_layout(self.mesh),
                            {"base": self.base, "count": self.count})

    def entry_words(self):
        """Words of :attr:`~spikefab.rtl.layouts.Region.ROUTE` (delay stored minus one)."""
        e = self.entries
        return layouts.pack(layouts.route_entry_layout(self.mesh, self.params),
                            {"axon": e["axon"], "delay": e["delay"] - 1, "x": e["x"],
                             "y": e["y"], "exit": e["exit"]})

    def to_arrays(self, prefix=""):
        arrays = {"route.base": self.base, "route.count": self.count}
        arrays.update({f"route.{k}": v for k, v in self.entries.items()})
        return {prefix + k: v for k, v in arrays.items()}

    @staticmethod
    def entry_names():
        """Names of the entries :meth:`to_arrays` writes."""
        return [f"route.{k}" for k in ("base", "count") + ROUTE_FIELDS]

    @classmethod
    def from_arrays(cls, mesh, params, z, prefix="", *, source="image"):
        """The table stored by :meth:`to_arrays` in ``z`` under ``prefix``; entries are
        checked as in :meth:`CoreImage.from_arrays`."""
        keys = [prefix + k for k in cls.entry_names()]
        check_entries(source, {k for k in keys if k in z}, keys, error=ImageError,
                      what="routing table")
        ent = lambda k: int_entry(source, prefix + k, z[prefix + k], ndim=1, error=ImageError)
        base, count = ent("route.base"), ent("route.count")
        entries = {k: ent(f"route.{k}") for k in ROUTE_FIELDS}
        try:
            return cls(mesh=mesh, params=params, base=base, count=count, entries=entries)
        except ImageError as e:
            msg = str(e).replace("route entries[", "route.").replace("route base", "route.base")
            msg = msg.replace("route count", "route.count")
            msg = msg.replace("'][", "[").replace("']", "").replace("route.'", "route.")
            raise ImageError(f"{source}: {_entry_names(msg, prefix)}") from None


@dataclass
class NetworkImage:
    """Contents of a whole array.

    Attributes
    ----------
    mesh : MeshParams
    cores : list of CoreImage
        One per core, index ``y * width + x``; all with the same ``CoreParams``.
    routes : list of RouteTable
        One per core, same indexing.
    meta : dict
        Free JSON-serialisable data kept with the image (the mapper stores where each
        population lives here).
    """
    mesh: MeshParams
    cores: list
    routes: list = None
    meta: dict = field(default_factory=dict)

    def __post_init__(self):
        mp = self.mesh
        if not isinstance(mp, MeshParams):
            raise ImageError(f"mesh must be a MeshParams, not {type(mp).__name__}")
        self.cores = list(self.cores)
        if len(self.cores) != mp.cores:
            raise ImageError(f"cores has {len(self.cores)} images, expected {mp.cores} "
                             f"(a {mp.width} x {mp.height} mesh)")
        for c, img in enumerate(self.cores):
            if not isinstance(img, CoreImage):
                raise ImageError(f"cores[{c}] must be a CoreImage, not {type(img).__name__}")
            if img.params != self.cores[0].params:
                raise ImageError(f"cores[{c}] has different CoreParams from cores[0]: every "
                                 f"core of an array has the same parameters")
        p = self.params
        if self.routes is None:
            self.routes = [RouteTable(mesh=mp, params=p) for _ in range(mp.cores)]
        self.routes = list(self.routes)
        if len(self.routes) != mp.cores:
            raise ImageError(f"routes has {len(self.routes)} tables, expected {mp.cores}")
        for c, rt in enumerate(self.routes):
            if not isinstance(rt, RouteTable):
                raise ImageError(f"routes[{c}] must be a RouteTable, not {type(rt).__name__}")
            if rt.mesh != mp or rt.params != p:
                raise ImageError(f"routes[{c}] was built for other mesh or core parameters")
        try:
            meta = json.loads(json.dumps(self.meta))
        except (TypeError, ValueError) as e:
            raise ImageError(f"meta must be JSON-serialisable: {e}") from None
        if not isinstance(meta, dict):
            raise ImageError(f"meta must be a dict, not {type(self.meta).__name__}")
        self.meta = meta                # a fresh copy (gen/network.py reads it as a dict)
        self.cores, self.routes = tuple(self.cores), tuple(self.routes)
        object.__setattr__(self, "_checked", True)

    def __setattr__(self, name, value):
        if self.__dict__.get("_checked"):
            raise AttributeError(f"NetworkImage.{name} cannot be reassigned: a checked image "
                                 f"is read-only; make a changed copy with "
                                 f"image.replace({name}=...)")
        object.__setattr__(self, name, value)

    def replace(self, **changes):
        """A new, checked image with the given fields changed."""
        changes.setdefault("meta", dict(self.meta))
        return dataclasses.replace(self, **changes)

    @property
    def params(self):
        """The :class:`CoreParams` every core shares."""
        return self.cores[0].params

    def core(self, x, y):
        return self.cores[self.mesh.core_index(x, y)]

    def route(self, x, y):
        return self.routes[self.mesh.core_index(x, y)]

    # --- files -----------------------------------------------------------------------------

    def save(self, path):
        """Write the image as one ``.npz`` (see :meth:`to_arrays`)."""
        np.savez(path, **self.to_arrays())

    def to_arrays(self):
        """The entries of the image's ``.npz``: ``kind``, ``mesh`` and ``meta`` (JSON
        strings), then ``core<c>.<...>`` (see :meth:`CoreImage.to_arrays`) and
        ``core<c>.route.<...>`` per core."""
        arrays = {"kind": np.asarray("spikefab-network"),
                  "mesh": np.asarray(json.dumps(self.mesh.to_dict())),
                  "meta": np.asarray(json.dumps(dict(self.meta)))}
        for c, (img, rt) in enumerate(zip(self.cores, self.routes)):
            arrays.update(img.to_arrays(f"core{c}."))
            arrays.update(rt.to_arrays(f"core{c}."))
        return arrays

    @classmethod
    def load(cls, path):
        """Read a network image written by :meth:`save`; a damaged file is an
        :class:`ImageError` naming the file and the entry."""
        return cls.from_arrays(read_npz(path, "network image", ImageError), source=str(path))

    @classmethod
    def from_arrays(cls, z, *, source="image"):
        """The image stored by :meth:`save` in the mapping ``z`` (the entries of an
        ``.npz``). Every entry is checked (see :meth:`CoreImage.from_arrays`); the file must
        hold exactly the cores its ``mesh`` entry describes."""
        if "kind" not in z or np.asarray(z["kind"]).dtype.kind != "U" or \
                str(z["kind"]) != "spikefab-network":
            raise ImageError(f"{source}: not a network image (no kind = 'spikefab-network'"
                             f" entry; a core image is loaded with CoreImage.load)")
        for name in ("mesh", "meta"):
            if name not in z:
                raise ImageError(f"{source}: the network image has no {name!r} entry")
        md = json_entry(source, "mesh", z["mesh"], error=ImageError)
        try:
            mesh = MeshParams.from_dict(md, where="mesh")
        except ParamError as e:
            raise ImageError(f"{source}: {e}") from None
        meta = json_entry(source, "meta", z["meta"], error=ImageError)
        for name in sorted(z):
            if name in ("kind", "mesh", "meta"):
                continue
            head = name.split(".", 1)[0]
            c = head[4:]
            if not (head.startswith("core") and c.isdigit() and str(int(c)) == c
                    and int(c) < mesh.cores):
                what = f"entries '{head}.*' belong" if "." in name else f"entry {name!r} belongs"
                raise ImageError(f"{source}: {what} to no core: the mesh "
                                 f"entry says {mesh.width} x {mesh.height} = {mesh.cores} "
                                 f"cores (core0..core{mesh.cores - 1})")
        cores, routes = [], []
        for c in range(mesh.cores):
            prefix = f"core{c}."
            img = CoreImage.from_arrays(z, prefix, source=source, strict=False)
            allowed = set(CoreImage.entry_names(img.params)) | set(RouteTable.entry_names())
            for name in sorted(z):
                if name.startswith(prefix) and name[len(prefix):] not in allowed:
                    raise ImageError(f"{source}: entry {name!r} does not belong in a network "
                                     f"image")
            cores.append(img)
            routes.append(RouteTable.from_arrays(mesh, img.params, z, prefix, source=source))
        try:
            return cls(mesh=mesh, cores=cores, routes=routes, meta=meta)
        except ImageError as e:
            raise ImageError(f"{source}: {e}") from None
