"""Traces: what a run reports, step by step, in one format for the golden model and the RTL.

A :class:`Trace` holds, for every step t, the spikes of step t and the state *after* step t's
update. Global neuron index k belongs to core ``k // neurons_per_core``, neuron
``k % neurons_per_core``.

File format (``.npz``, written by :meth:`Trace.save`, read by :meth:`Trace.load`):

============================  ==========================================================
key                           content
============================  ==========================================================
``spikes``                    uint8 [T, N], 0 or 1
``u``                         int64 [T, N] (the ``shift`` model's ``i`` is stored here)
``v``                         int64 [T, N]
``extra.<name>``              int64 [T, ...], e.g. ``extra.refr_cnt``, ``extra.weights``
``neurons_per_core``          int64 scalar
``meta``                      JSON string (``source``: ``"golden"``, ``"verilator"``, ...)
============================  ==========================================================

:func:`first_divergence` compares two traces and names the earliest difference.
"""

from dataclasses import dataclass
import json

import os

import numpy as np

from ..rtl.files import FormatError, int_entry, json_entry, read_npz, scalar_int_entry


__all__ = ["Trace", "TraceError", "Divergence", "first_divergence", "assert_traces_equal"]


class TraceError(FormatError):
    """A trace is malformed (wrong shapes, non-integer data, not a trace file); for a file
    the message starts with its path and names the entry."""


def _int_array(name, a, dtype=np.int64):
    a = np.asarray(a)
    if a.dtype.kind not in "iub":
        raise TraceError(f"trace array {name!r} must hold integers, not {a.dtype}")
    if a.dtype.kind == "u" and a.dtype.itemsize == 8 and a.size and a.max() > np.iinfo(np.int64).max:
        raise TraceError(f"trace array {name!r} holds values too large for int64")
    return a.astype(dtype)


class Trace:
    """Per-step spikes and state of N neurons (possibly of several cores) over T steps.

    Parameters
    ----------
    spikes : array [T, N] of 0/1 (any integer or bool type; stored as uint8)
    u, v : array [T, N] of integers (stored as int64)
    extra : dict of name -> array [T, ...] of integers, optional
    neurons_per_core : int, optional (default N)
    meta : dict, optional; must be JSON-serialisable
    """

    def __init__(self, spikes, u, v, extra=None, neurons_per_core=None, meta=None):
        s = np.asarray(spikes)
        if s.ndim != 2:
            raise TraceError(f"spikes must have shape [T, N], got {s.shape}")
        if s.dtype.kind not in "iub":
            raise TraceError(f"trace array 'spikes' must hold integers or booleans, not {s.dtype}")
        if s.size and ((s != 0) & (s != 1)).any():
            raise TraceError("spikes must hold only 0 and 1")
        self.spikes = s.astype(np.uint8)
        self.u = _int_array("u", u)
        self.v = _int_array("v", v)
        for name in ("u", "v"):
            if getattr(self, name).shape != s.shape:
                raise TraceError(f"{name} has shape {getattr(self, name).shape}, "
                                 f"expected {s.shape} like spikes")
        T, N = s.shape
        self.extra = {}
        for name, a in (extra or {}).items():
            if not isinstance(name, str) or not name:
                raise TraceError(f"extra names must be non-empty strings, not {name!r}")
            a = _int_array(f"extra.{name}", a)
            if a.ndim < 1 or a.shape[0] != T:
                raise TraceError(f"extra.{name} has shape {a.shape}, expected [T={T}, ...]")
            self.extra[name] = a
        npc = N if neurons_per_core is None else int(neurons_per_core)
        if npc < 1:
            raise TraceError(f"neurons_per_core = {npc} must be at least 1")
        self.neurons_per_core = npc
        self.meta = dict(meta or {})
        try:
            json.dumps(self.meta)
        except (TypeError, ValueError) as e:
            raise TraceError(f"meta must be JSON-serialisable: {e}") from None

    # --- shape --------------------------------------------------------------------------

    @property
    def steps(self):
        """T, the number of steps."""
        return self.spikes.shape[0]

    @property
    def neurons(self):
        """N, the number of (global) neurons."""
        return self.spikes.shape[1]

    def locate(self, k):
        """(core, neuron) of global neuron index ``k``."""
        return divmod(int(k), self.neurons_per_core)

    def quantities(self):
        """Names of every compared quantity, in comparison order."""
        return ["spikes", "u", "v"] + [f"extra.{k}" for k in sorted(self.extra)]

    def get(self, quantity):
        """The array of a quantity named as in :meth:`quantities` (``"extra.<name>"`` or
        just ``<name>`` for an extra)."""
        if quantity in ("spikes", "u", "v"):
            return getattr(self, quantity)
        name = quantity[6:] if quantity.startswith("extra.") else quantity
        return self.extra[name]

    def __repr__(self):
        ex = "".join(f", {k}{list(a.shape)}" for k, a in sorted(self.extra.items()))
        return (f"Trace(T={self.steps}, N={self.neurons}, neurons_per_core="
                f"{self.neurons_per_core}{ex}, meta={self.meta!r})")

    # --- files --------------------------------------------------------------------------

    def save(self, path):
        """Write the trace as ``.npz`` (see the module docstring for the keys)."""
        arrays = {"spikes": self.spikes, "u": self.u, "v": self.v,
                  "neurons_per_core": np.int64(self.neurons_per_core)}
        arrays.update({f"extra.{k}": a for k, a in self.extra.items()})
        np.savez(path, meta=np.asarray(json.dumps(self.meta)), **arrays)

    @classmethod
    def load(cls, path):
        """Read a trace written by :meth:`save`. Every entry is checked: ``spikes``, ``u``,
        ``v`` integer [T, N] (spikes 0/1), ``extra.<name>`` integer [T, ...],
        ``neurons_per_core`` an integer that divides N, ``meta`` a JSON object (each of
        these present); nothing else. A damaged file is a :class:`TraceError` naming the file and the entry."""
        src = os.fspath(path)
        z = read_npz(path, "trace", TraceError)
        missing = [k for k in ("spikes", "u", "v", "neurons_per_core", "meta") if k not in z]
        if missing:
            raise TraceError(f"{src}: not a trace file (no {missing[0]!r} entry)")
        for k in sorted(z):
            if k not in ("spikes", "u", "v", "meta", "neurons_per_core") and not (
                    k.startswith("extra.") and len(k) > 6):
                raise TraceError(f"{src}: entry {k!r} does not belong in a trace")
        spikes = int_entry(src, "spikes", z["spikes"], ndim=2, lo=0, hi=1, error=TraceError)
        T, N = spikes.shape
        u, v = (int_entry(src, k, z[k], shape=(T, N), error=TraceError) for k in ("u", "v"))
        extra = {}
        for k in sorted(z):
            if k.startswith("extra."):
                a = int_entry(src, k, z[k], error=TraceError)
                if a.ndim < 1 or a.shape[0] != T:
                    raise TraceError(f"{src}: entry {k!r} has shape {a.shape}: expected "
                                     f"[T={T}, ...]")
                extra[k[6:]] = a
        meta = json_entry(src, "meta", z["meta"], error=TraceError)
        npc = scalar_int_entry(src, "neurons_per_core", z["neurons_per_core"], lo=1,
                               error=TraceError)
        if N % npc:
            raise TraceError(f"{src}: entry 'neurons_per_core' = {npc} does not divide the "
                             f"{N} neurons of the trace")
        try:
            return cls(spikes, u, v, extra=extra, neurons_per_core=npc, meta=meta)
        except TraceError as e:
            raise TraceError(f"{src}: {e}") from None


@dataclass
class Divergence:
    """The first place where two traces differ.

    For a value difference: ``step``, ``core``, ``neuron`` (within the core), ``quantity``
    (``"spikes"``, ``"u"``, ``"v"`` or an extra's name), ``expected`` and ``got``. For an
    extra whose per-step shape is not [N], ``core``/``neuron`` are None and ``index`` holds
    the element's index within the step. For a difference of shape or of the set of
    quantities, ``step`` is None and ``message`` says what differs.
    """
    step: int = None
    core: int = None
    neuron: int = None
    quantity: str = None
    expected: object = None
    got: object = None
    index: tuple = None
    message: str = None

    def __str__(self):
        if self.step is None:
            return f"traces are not comparable: {self.message}"
        if self.index is not None:
            where = f"{self.quantity}[{', '.join(str(i) for i in self.index)}]"
            return (f"first divergence at step {self.step}, {where}: "
                    f"expected {self.expected}, got {self.got}")
        return (f"first divergence at step {self.step}, core {self.core}, neuron {self.neuron}, "
                f"{self.quantity}: expected {self.expected}, got {self.got}")


def first_divergence(expected, got):
    """Compare two :class:`Trace` s; return the first :class:`Divergence`, or None if equal.

    Shapes and the set of extras are compared first. Then every quantity (spikes, u, v, then
    the extras in sorted order) at every step: the earliest step with any difference wins;
    within that step the lowest global neuron index (ties broken by the order of
    quantities). Extras whose per-step shape is not [N] rank after the [N] quantities within
    a step, by name then by flat index. Core and neuron come from ``expected``'s
    ``neurons_per_core``.
    """
    if set(expected.extra) != set(got.extra):
        only_e = sorted(set(expected.extra) - set(got.extra))
        only_g = sorted(set(got.extra) - set(expected.extra))
        parts = []
        if only_e:
            parts.append(f"extras only in expected: {', '.join(only_e)}")
        if only_g:
            parts.append(f"extras only in got: {', '.join(only_g)}")
        return Divergence(message="; ".join(parts))
    quantities = expected.quantities()
    for q in quantities:
        se, sg = expected.get(q).shape, got.get(q).shape
        if se != sg:
            what = "steps x neurons" if q in ("spikes", "u", "v") else "shape"
            return Divergence(quantity=q, message=f"{q} has {what} {_fmt_shape(se)} in expected, "
                                                  f"{_fmt_shape(sg)} in got")
    T, N = expected.spikes.shape
    best = None   # (step, rank-within-step, Divergence)
    for qi, q in enumerate(quantities):
        e, g = expected.get(q), got.get(q)
        if T == 0:
            break
        diff = (e != g).reshape(T, -1)
        rows = np.flatnonzero(diff.any(axis=1))
        if rows.size == 0:
            continue
        t = int(rows[0])
        flat = int(np.flatnonzero(diff[t])[0])
        per_neuron = e.shape[1:] == (N,)
        name = q[6:] if q.startswith("extra.") else q
        idx = np.unravel_index(flat, e.shape[1:])
        ev, gv = int(e[t][idx]), int(g[t][idx])
        if per_neuron:
            core, neuron = expected.locate(flat)
            rank = (0, flat, qi)
            d = Divergence(step=t, core=core, neuron=neuron, quantity=name, expected=ev, got=gv)
        else:
            rank = (1, qi, flat)
            d = Divergence(step=t, quantity=name, expected=ev, got=gv,
                           index=tuple(int(i) for i in idx))
        key = (t, rank)
        if best is None or key < best[0]:
            best = (key, d)
    return None if best is None else best[1]


def _fmt_shape(s):
    return "[" + ", ".join(str(x) for x in s) + "]"


def assert_traces_equal(expected, got):
    """Raise AssertionError naming the first divergence unless the traces are equal."""
    d = first_divergence(expected, got)
    if d is not None:
        raise AssertionError(str(d))
