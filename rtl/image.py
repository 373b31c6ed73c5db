"""Core images: the exact contents of a core's memories and registers.

A :class:`CoreImage` is what the generator bakes into the memories' initial contents, what a
host writes over the configuration port, and what the golden model starts from. It is plain
data (integer numpy arrays) plus the :class:`~spikefab.rtl.params.CoreParams` it belongs to.
Packing into memory words goes through :mod:`spikefab.rtl.layouts`.
"""

from dataclasses import dataclass, field

import numpy as np

from .params import CoreParams, ParamError, STDP_REG_NAMES, W_EXP_MAX, check_int
from . import layouts


__all__ = ["CoreImage", "ImageError"]


class ImageError(ValueError):
    """A core image is malformed: the message names the array, the place and the allowed range."""


def _as_int_array(name, value, shape):
    a = np.asarray(value)
    if a.dtype.kind not in "iub":
        raise ImageError(f"{name} must hold integers, not {a.dtype}")
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
        if not isinstance(self.stdp, dict):
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
    def from_arrays(cls, z, prefix="", *, source="image"):
        """The image stored by :meth:`to_arrays` in the mapping ``z`` (for example an open
        ``.npz``) under ``prefix``."""
        import json
        files = [k[len(prefix):] for k in z if k.startswith(prefix)] if prefix else list(z)
        if "params" not in files:
            raise ImageError(f"{source}: not a core image (no '{prefix}params' entry)")
        try:
            params = CoreParams.from_dict(json.loads(str(z[prefix + "params"])))
        except ParamError as e:
            raise ImageError(f"{source}: {e}") from None
        missing = [k for k in ("weights", "w_exp", "profile_index") if k not in files]
        if missing:
            raise ImageError(f"{source}: the core image has no '{prefix}{missing[0]}' entry")
        get = lambda k: z[prefix + k]
        return cls(
            params=params,
            weights=get("weights"),
            w_exp=int(get("w_exp")),
            neuron_params={k[6:]: get(k) for k in files if k.startswith("param.")},
            profile_index=get("profile_index"),
            state={k[6:]: get(k) for k in files if k.startswith("state.")},
            stdp={k[5:]: int(get(k)) for k in files if k.startswith("stdp.")},
            plastic=get("plastic") if "plastic" in files else None,
            x=get("xtrace") if "xtrace" in files else None,
            y=get("ytrace") if "ytrace" in files else None,
        )

    def save(self, path):
        """Write the image as ``.npz`` (params as a JSON string, arrays as int64)."""
        np.savez(path, **self.to_arrays())

    @classmethod
    def load(cls, path):
        with np.load(path, allow_pickle=False) as z:
            return cls.from_arrays({k: z[k] for k in z.files}, source=str(path))

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
