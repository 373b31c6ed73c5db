"""Core images: the exact contents of a core's memories and registers.

A :class:`CoreImage` is what the generator bakes into the memories' initial contents, what a
host writes over the configuration port, and what the golden model starts from. It is plain
data (integer numpy arrays) plus the :class:`~spikefab.rtl.params.CoreParams` it belongs to.
Packing into memory words goes through :mod:`spikefab.rtl.layouts`.
"""

from collections.abc import Mapping
import dataclasses
from dataclasses import dataclass, field
import re
from types import MappingProxyType

import numpy as np

from .params import CoreParams, ParamError, STDP_REG_NAMES, W_EXP_MAX, check_int
from .files import FormatError, check_entries, int_entry, json_entry, scalar_int_entry
from . import layouts


__all__ = ["CoreImage", "ImageError", "freeze_array"]


class ImageError(FormatError):
    """A core image is malformed: the message names the array, the place and the allowed range
    (and, for a file, starts with the file and names its entry)."""


def freeze_array(a):
    """``a`` made read-only (in place) and returned: a checked image stays valid."""
    a.setflags(write=False)
    return a


def _as_int_array(name, value, shape):
    a = np.asarray(value)
    if a.dtype.kind not in "iub":
        raise ImageError(f"{name} must hold integers, not {a.dtype}")
    if a.dtype.kind == "u" and a.dtype.itemsize == 8 and a.size and \
            a.max() > np.iinfo(np.int64).max:
        raise ImageError(f"{name} holds {int(a.max())}, which does not fit in int64")
    a = a.astype(np.int64)
    if a.shape != shape:
        raise ImageError(f"{name} has shape {a.shape}, expected {shape}")
    return a


def _check_range(name, a, lo, hi):
    bad = np.flatnonzero((a < lo) | (a > hi))
    if bad.size:
        idx = np.unravel_index(bad[0], a.shape)
        where = ", ".join(str(int(i)) for i in idx)
        raise ImageError(f"{name}[{where}] = {int(a[idx])} is out of range: allowed {lo}..{hi}")


_ENTRY_NAMES = [(re.compile(r"neuron_params\['(\w+)'\]"), r"param.\1"),
                 (re.compile(r"state\['(\w+)'\]"), r"state.\1"),
                 (re.compile(r"stdp\['(\w+)'\]"), r"stdp.\1"),
                 (re.compile(r"^(x|y)\b"), r"\1trace")]


def _entry_names(msg, prefix=""):
    """A constructor's message with the attribute named as the file's entry."""
    for rx, rep in _ENTRY_NAMES:
        msg = rx.sub(rep, msg)
    m = re.match(r"([A-Za-z_][\w.]*)(.*)$", msg)
    return f"entry '{prefix}{m[1]}'{m[2]}" if m else msg


def _table(attr, what, given, ranges, defaults, length):
    """Validate a dict of per-row integer arrays (``attr`` of the image): names from
    ``ranges`` only, each a scalar (broadcast) or an array of ``length`` values in range;
    missing names take ``defaults``. Returns fresh int64 arrays."""
    unknown = set(given) - set(ranges)
    if unknown:
        raise ImageError(f"{what} {sorted(unknown)[0]!r} does not exist for this core: "
                         f"expected {', '.join(ranges)}")
    out = {}
    for name, (lo, hi) in ranges.items():
        v = given.get(name, defaults[name])
        a = np.broadcast_to(np.asarray(v), (length,)) if np.ndim(v) == 0 else v
        a = _as_int_array(f"{attr}[{name!r}]", a, (length,))
        _check_range(f"{attr}[{name!r}]", a, lo, hi)
        out[name] = a.copy()
    return out


@dataclass
class CoreImage:
    """Contents of one core.

    Attributes
    ----------
    params : CoreParams
    weights : ndarray, shape (A, N)
        Signed weights ``w[axon, neuron]``.
    w_exp : int
        Weight exponent, 0..7.
    neuron_params : dict of ndarray, each of shape (param_rows,)
        One array per parameter of the model (see ``CoreParams.param_ranges``); rows are
        neurons in ``"neuron"`` mode, profiles in ``"profile"`` mode.
    profile_index : ndarray, shape (N,)
        The profile of each neuron (``"profile"`` mode; all zero otherwise).
    state : dict of ndarray, each of shape (N,)
        Initial state (see ``CoreParams.state_ranges``).
    stdp : dict of int
        ``learning`` only: the per-core STDP registers (``CoreParams.stdp_ranges``; a missing
        one takes its ``CoreParams.stdp_defaults`` value; ``w_min <= w_max``). Empty without
        ``learning``.
    plastic : ndarray, shape (A,)
        ``learning`` only: 1 if the axon's synapses learn, else 0 (default all 1).
    x : ndarray, shape (A,)
        ``learning`` only: initial pre-synaptic trace of each axon, 0..x_max (default 0).
    y : ndarray, shape (N,)
        ``learning`` only: initial post-synaptic trace of each neuron, 0..x_max (default 0).

    Without ``learning`` ``stdp`` is ``{}`` and ``plastic``, ``x``, ``y`` are empty arrays;
    giving any of them a value is an :class:`ImageError`.

    A checked image is read-only: its arrays are fresh int64 copies with ``write=False``, its
    dicts are read-only mappings and its attributes cannot be reassigned. Make a changed
    image with :meth:`replace` (which checks it again).
    """
    params: CoreParams
    weights: np.ndarray = None
    w_exp: int = 0
    neuron_params: dict = field(default_factory=dict)
    profile_index: np.ndarray = None
    state: dict = field(default_factory=dict)
    stdp: dict = field(default_factory=dict)
    plastic: np.ndarray = None
    x: np.ndarray = None
    y: np.ndarray = None

    def __post_init__(self):
        p = self.params
        if not isinstance(p, CoreParams):
            raise ImageError(f"params must be a CoreParams, not {type(p).__name__}")
        A, N = p.axons, p.neurons
        self.weights = _as_int_array("weights", np.zeros((A, N), np.int64)
                                     if self.weights is None else self.weights, (A, N))
        _check_range("weights", self.weights, *p.weight_range)
        try:
            check_int("w_exp", self.w_exp, 0, W_EXP_MAX)
        except ParamError as e:
            raise ImageError(str(e)) from None
        self.neuron_params = _table("neuron_params", "neuron parameter", self.neuron_params,
                                    p.param_ranges(), p.param_defaults(), p.param_rows)
        if self.profile_index is None:
            self.profile_index = np.zeros(N, np.int64)
        self.profile_index = _as_int_array("profile_index", self.profile_index, (N,))
        if p.param_mode == "profile":
            _check_range("profile_index", self.profile_index, 0, p.profiles - 1)
        else:
            _check_range("profile_index", self.profile_index, 0, 0)
        sranges = p.state_ranges()
        self.state = _table("state", "state variable", self.state, sranges,
                            dict.fromkeys(sranges, 0), N)
        self._check_stdp()
        self.w_exp = int(self.w_exp)
        for name in ("weights", "profile_index", "plastic", "x", "y"):
            freeze_array(getattr(self, name))
        for name in ("neuron_params", "state"):
            setattr(self, name, MappingProxyType({k: freeze_array(v)
                                                  for k, v in getattr(self, name).items()}))
        self.stdp = MappingProxyType(dict(self.stdp))
        object.__setattr__(self, "_checked", True)

    def __setattr__(self, name, value):
        if self.__dict__.get("_checked"):
            raise AttributeError(f"CoreImage.{name} cannot be reassigned: a checked image is "
                                 f"read-only; make a changed copy with image.replace({name}=...)")
        object.__setattr__(self, name, value)

    def replace(self, **changes):
        """A new, checked image with the given fields changed (``neuron_params``, ``state``
        and ``stdp`` may name only the entries that change)."""
        for name in ("neuron_params", "state", "stdp"):
            if name in changes and changes[name] is not None:
                changes[name] = {**getattr(self, name), **changes[name]}
        return dataclasses.replace(self, **changes)

    def _check_stdp(self):
        p = self.params
        A, N = p.axons, p.neurons
        if not p.learning:
            if self.stdp is None:
                self.stdp = {}
            if self.stdp:
                raise ImageError(f"stdp = {dict(self.stdp)!r} is given but params.learning is "
                                 f"False: the core has no STDP engine")
            for name in ("plastic", "x", "y"):
                v = getattr(self, name)
                if v is not None and np.size(v):
                    raise ImageError(f"{name} is given but params.learning is False: the core "
                                     f"has no STDP engine")
                setattr(self, name, np.zeros(0, np.int64))
            return
        if not isinstance(self.stdp, Mapping):
            raise ImageError(f"stdp must be a dict of register values, not "
                             f"{type(self.stdp).__name__}")
        ranges = p.stdp_ranges()
        unknown = set(self.stdp) - set(ranges)
        if unknown:
            raise ImageError(f"STDP register {sorted(unknown)[0]!r} does not exist: expected "
                             f"{', '.join(ranges)}")
        regs = {**p.stdp_defaults(), **self.stdp}
        for name in STDP_REG_NAMES:
            v = regs[name]
            if isinstance(v, np.integer):
                v = int(v)
            try:
                regs[name] = check_int(f"stdp[{name!r}]", v, *ranges[name])
            except ParamError as e:
                raise ImageError(str(e)) from None
        if regs["w_min"] > regs["w_max"]:
            raise ImageError(f"stdp['w_min'] = {regs['w_min']} is greater than stdp['w_max'] = "
                             f"{regs['w_max']}: expected w_min <= w_max")
        self.stdp = regs
        x_max = p.trace_max
        for name, n, default, hi in (("plastic", A, 1, 1), ("x", A, 0, x_max),
                                     ("y", N, 0, x_max)):
            v = getattr(self, name)
            v = default if v is None else v
            a = np.broadcast_to(np.asarray(v), (n,)) if np.ndim(v) == 0 else v
            a = _as_int_array(name, a, (n,))
            _check_range(name, a, 0, hi)
            setattr(self, name, a.copy())

    # --- per-neuron view ------------------------------------------------------------------

    def neuron_param_table(self):
        """Parameters resolved per neuron: ``{name: ndarray (N,)}`` (profiles looked up)."""
        if self.params.param_mode == "profile":
            return {k: v[self.profile_index] for k, v in self.neuron_params.items()}
        return {k: v.copy() for k, v in self.neuron_params.items()}

    # --- memory words ----------------------------------------------------------------------

    def syn_words(self):
        p = self.params
        lanes = self.weights.reshape(p.axons * p.words_per_row, p.lanes)
        return layouts.pack(layouts.syn_word_layout(p), {i: lanes[:, i] for i in range(p.lanes)})

    def param_words(self):
        return layouts.pack(layouts.param_layout(self.params), self.neuron_params)

    def pidx_words(self):
        return [int(x) for x in self.profile_index]

    def state_words(self):
        return layouts.pack(layouts.state_layout(self.params), self.state)

    def xtrace_words(self):
        """Words of :attr:`~spikefab.rtl.layouts.Region.XTRACE` (``learning`` only)."""
        return layouts.pack(layouts.xtrace_layout(self.params), {"x": self.x, "plastic": self.plastic})

    def ytrace_words(self):
        """Words of :attr:`~spikefab.rtl.layouts.Region.YTRACE` (``learning`` only)."""
        return layouts.pack(layouts.ytrace_layout(self.params), {"y": self.y})

    def stdp_reg_words(self):
        """``{Reg: data word}`` of the STDP registers (``learning`` only; empty otherwise):
        values as in :attr:`stdp`, ``W_MIN``/``W_MAX`` in two's complement of ``weight_bits``."""
        out = {}
        for name, reg in layouts.STDP_REGS.items():
            if name not in self.stdp:
                continue
            out[reg] = int(self.stdp[name]) & ((1 << layouts.reg_shape(self.params, reg).width) - 1)
        return out

    # --- files -----------------------------------------------------------------------------

    def to_arrays(self, prefix=""):
        """``{name: array}`` of every part of the image (params as a JSON string), the
        contents of an ``.npz`` file; ``prefix`` is put before every name."""
        import json
        arrays = {"params": np.asarray(json.dumps(self.params.to_dict())),
                  "weights": self.weights, "profile_index": self.profile_index,
                  "w_exp": np.int64(self.w_exp)}
        arrays.update({f"param.{k}": v for k, v in self.neuron_params.items()})
        arrays.update({f"state.{k}": v for k, v in self.state.items()})
        arrays.update({f"stdp.{k}": np.int64(v) for k, v in self.stdp.items()})
        arrays.update({"plastic": self.plastic, "xtrace": self.x, "ytrace": self.y})
        return {prefix + k: v for k, v in arrays.items()}

    @classmethod
    def from_arrays(cls, z, prefix="", *, source="image", strict=True):
        """The image stored by :meth:`to_arrays` in the mapping ``z`` (for example the
        entries of an ``.npz``) under ``prefix``.

        Every entry :meth:`to_arrays` writes must be present, hold integers (not booleans,
        not floats, nothing beyond int64) of the right shape and range, and ``params`` must
        be a JSON object of :class:`CoreParams` fields; with ``strict`` an entry under
        ``prefix`` that :meth:`to_arrays` would not write is refused too. Raises
        :class:`ImageError` whose message starts with ``source`` and names the entry.
        """
        files = {k[len(prefix):] for k in z if k.startswith(prefix)}
        if "params" not in files:
            raise ImageError(f"{source}: not a core image (no '{prefix}params' entry)")
        pd = json_entry(source, prefix + "params", z[prefix + "params"], error=ImageError)
        try:
            params = CoreParams.from_dict(pd, where=f"{prefix}params")
        except ParamError as e:
            raise ImageError(f"{source}: {e}") from None
        required = cls.entry_names(params)
        check_entries(source, {prefix + k for k in files} if strict else
                      {prefix + k for k in files if k in required},
                      [prefix + k for k in required], error=ImageError, what="core image")
        A, N, L = params.axons, params.neurons, 1 if params.learning else 0
        shapes = {"weights": (A, N), "profile_index": (N,), "plastic": (A * L,),
                  "xtrace": (A * L,), "ytrace": (N * L,)}
        ent = lambda k: int_entry(source, prefix + k, z[prefix + k], error=ImageError,
                                  shape=shapes.get(k, (params.param_rows,)
                                                   if k.startswith("param.") else (N,)))
        scalar = lambda k: scalar_int_entry(source, prefix + k, z[prefix + k], error=ImageError)
        kw = dict(
            params=params,
            weights=ent("weights"),
            w_exp=scalar("w_exp"),
            neuron_params={k[6:]: ent(k) for k in required if k.startswith("param.")},
            profile_index=ent("profile_index"),
            state={k[6:]: ent(k) for k in required if k.startswith("state.")},
            stdp={k[5:]: scalar(k) for k in required if k.startswith("stdp.")},
            plastic=ent("plastic"), x=ent("xtrace"), y=ent("ytrace"))
        if not params.learning:                 # the entries are empty (shapes checked)
            kw.update(plastic=None, x=None, y=None)
        try:
            return cls(**kw)
        except ImageError as e:
            raise ImageError(f"{source}: {_entry_names(str(e), prefix)}") from None

    @staticmethod
    def entry_names(params):
        """Names of the entries :meth:`to_arrays` writes for a core of ``params``."""
        names = ["params", "weights", "w_exp", "profile_index"]
        names += [f"param.{k}" for k in params.param_ranges()]
        names += [f"state.{k}" for k in params.state_ranges()]
        if params.learning:
            names += [f"stdp.{k}" for k in params.stdp_ranges()]
        return names + ["plastic", "xtrace", "ytrace"]

    def save(self, path):
        """Write the image as ``.npz`` (params as a JSON string, arrays as int64)."""
        np.savez(path, **self.to_arrays())

    @classmethod
    def load(cls, path):
        """Read a core image written by :meth:`save`; a damaged file is an
        :class:`ImageError` naming the file and the entry."""
        from .files import read_npz
        return cls.from_arrays(read_npz(path, "core image", ImageError), source=str(path))

    @classmethod
    def random(cls, params, rng, *, density=0.5):
        """A random image with every parameter drawn from its whole range (for tests)."""
        p = params
        lo, hi = p.weight_range
        w = rng.integers(lo, hi + 1, size=(p.axons, p.neurons))
        w[rng.random(w.shape) > density] = 0
        npar = {k: rng.integers(a, b + 1, size=p.param_rows)
                for k, (a, b) in p.param_ranges().items()}
        st = {k: rng.integers(a, b + 1, size=p.neurons) for k, (a, b) in p.state_ranges().items()}
        pidx = rng.integers(0, p.profiles, size=p.neurons) if p.param_mode == "profile" else None
        w_exp = int(rng.integers(0, W_EXP_MAX + 1))
        stdp, plastic, x, y = {}, None, None, None
        if p.learning:                     # drawn last: images without learning are unchanged
            stdp = {k: int(rng.integers(a, b + 1)) for k, (a, b) in p.stdp_ranges().items()}
            if stdp["w_min"] > stdp["w_max"]:
                stdp["w_min"], stdp["w_max"] = stdp["w_max"], stdp["w_min"]
            plastic = rng.integers(0, 2, size=p.axons)
            x = rng.integers(0, p.trace_max + 1, size=p.axons)
            y = rng.integers(0, p.trace_max + 1, size=p.neurons)
        return cls(params=p, weights=w, w_exp=w_exp, neuron_params=npar, profile_index=pidx,
                   state=st, stdp=stdp, plastic=plastic, x=x, y=y)
