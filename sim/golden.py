"""The golden model: SPEC §3.1-3.5 with explicit integer arithmetic (see docs/semantics.md
and, for STDP learning, docs/stdp.md).

Written from the specification only; it shares the parameter vocabulary of
:mod:`spikefab.rtl.params` and the image format of :mod:`spikefab.rtl.image` with the
hardware, but none of its computations.

Every computation converts its operands to int64 first, and every width limit (24-bit wrap,
24-bit and 16-bit saturation, accumulator saturation) is an explicit operation: no result
depends on a numpy dtype wrapping. The largest intermediate is about 2**36 (u * 4095), far
inside int64.

Pure per-step functions (usable on their own, never mutating their inputs):

- :func:`synaptic_input` (SPEC §3.2)
- :func:`cuba_step` (SPEC §3.3 plus the refractory / subtractive-reset / v-floor extensions)
- :func:`shift_step` (SPEC §3.4)
- :func:`~spikefab.sim.stdp.stdp_step` and :func:`~spikefab.sim.stdp.stdp_window`
  (SPEC §3.5, defined in :mod:`spikefab.sim.stdp`)

and :class:`CoreModel`, one core run from a :class:`~spikefab.rtl.image.CoreImage`.
"""

import numpy as np

from spikefab.rtl.image import CoreImage
from spikefab.rtl.params import V_MAX

from .stdp import stdp_step, stdp_window, tdec
from .trace import Trace


__all__ = [
    "trunc12", "wrap24", "sat", "sat16", "decay_shift",
    "synaptic_input", "cuba_step", "shift_step", "stdp_step", "stdp_window", "tdec",
    "CoreModel", "CUBA_DEFAULTS", "U_MIN", "U_MAX", "V_MAX",
]

U_MIN, U_MAX = -(1 << 23), (1 << 23) - 1
#: Defaults of the ``cuba`` extension parameters: each switches its extension off.
CUBA_DEFAULTS = {"refr": 0, "reset_sub": 0, "v_floor": -V_MAX}

_INT64_MAX = np.iinfo(np.int64).max


def _i64(name, x):
    """``x`` as int64 (array or 0-d), refusing anything that is not an integer type."""
    a = np.asarray(x)
    if a.dtype.kind not in "iub":
        raise TypeError(f"{name} must hold integers, not {a.dtype}")
    if a.dtype.kind == "u" and a.dtype.itemsize == 8 and a.size and a.max() > _INT64_MAX:
        raise ValueError(f"{name} holds values too large for int64")
    return a.astype(np.int64, copy=False)


# --- elementary operations (int64 in, int64 out) ------------------------------------------

def trunc12(x):
    """``sign(x) * (|x| >> 12)``: division by 4096 rounding toward zero (not floor)."""
    x = _i64("x", x)
    return np.where(x < 0, -((-x) >> 12), x >> 12)


def wrap24(x):
    """True 24-bit two's-complement wrap: ``((x + 2**23) mod 2**24) - 2**23``."""
    x = _i64("x", x)
    return np.mod(x + (1 << 23), 1 << 24) - (1 << 23)


def sat(x, lo, hi):
    """Clamp to ``lo..hi``."""
    return np.minimum(np.maximum(_i64("x", x), lo), hi)


def sat16(x):
    return sat(x, -32768, 32767)


def decay_shift(x, k):
    """SPEC §3.4 ``decay(x, k)``: ``x >> k`` (arithmetic, floor) unless that is 0, then
    ``sign(x)``. For negative x the floor shift is already <= -1."""
    x, k = _i64("x", x), _i64("k", k)
    d = x >> k
    return np.where(d != 0, d, np.sign(x))


# --- SPEC §3.2 -----------------------------------------------------------------------------

def synaptic_input(weights, w_exp, axon_events, acc_bits):
    """``a_in[n] = sat_acc(sum over events a of (w[a, n] << w_exp))``, saturated once.

    Parameters
    ----------
    weights : int array [A, N]
    w_exp : int, 0..7
    axon_events : sequence or int array of axon ids in ``0..A-1`` (a repeated id counts again)
    acc_bits : int; the exact sum is saturated to ``acc_bits`` signed

    Returns int64 array [N].
    """
    w = _i64("weights", weights)
    if w.ndim != 2:
        raise ValueError(f"weights must have shape [A, N], got {w.shape}")
    ev = _events("axon_events", axon_events)
    A = w.shape[0]
    if ev.size and (ev.min() < 0 or ev.max() >= A):
        bad = int(ev[(ev < 0) | (ev >= A)][0])
        raise ValueError(f"axon id {bad} is out of range: allowed 0..{A - 1}")
    return _sat_acc(_weighted_sum(w, ev), w_exp, acc_bits)


def _events(name, axon_events):
    ev = np.asarray(axon_events)
    if ev.size == 0:
        return np.zeros(0, np.int64)
    if ev.dtype.kind not in "iu":
        raise TypeError(f"{name} must be axon ids (integers), not {ev.dtype}")
    return ev.astype(np.int64, copy=False).reshape(-1)


def _weighted_sum(w, ev, wf=None):
    """Exact ``sum_{a in ev} w[a, :]`` in int64 (w int64 [A, N], ev int64 ids in range)."""
    A, N = w.shape
    if ev.size == 0:
        return np.zeros(N, np.int64)
    if ev.size * 4 < A:
        return w[ev].sum(axis=0, dtype=np.int64)
    counts = np.bincount(ev, minlength=A).astype(np.int64)
    return _counts_sum(w, counts, wf)


_F64_EXACT = 1 << 53


def _counts_sum(w, counts, wf=None):
    """Exact ``sum_a counts[a] * w[a, :]`` (counts int64 >= 0).

    ``wf`` is an optional ``(w as float64, max |w|)`` pair. When
    ``sum(counts) * max|w| < 2**53``, every product and every partial sum of the dot product
    is an integer of magnitude below 2**53, which float64 represents exactly whatever the
    summation order, so the fast BLAS product is exact; otherwise the integer product is
    used.
    """
    if wf is not None:
        wfloat, wmax = wf
        if int(counts.sum()) * wmax < _F64_EXACT:
            return (counts.astype(np.float64) @ wfloat).astype(np.int64)
    nz = np.flatnonzero(counts)
    if nz.size == 0:
        return np.zeros(w.shape[1], np.int64)
    return counts[nz] @ w[nz]            # integer matmul: exact, no BLAS


def _sat_acc(total, w_exp, acc_bits):
    w_exp, acc_bits = int(w_exp), int(acc_bits)
    if w_exp < 0:
        raise ValueError(f"w_exp = {w_exp} must not be negative")
    if acc_bits < 1:
        raise ValueError(f"acc_bits = {acc_bits} must be at least 1")
    hi = (1 << (acc_bits - 1)) - 1
    return sat(total * (1 << w_exp), -hi - 1, hi)


def _fresh(x, shape):
    """``x`` (a result computed in this call, never an input) broadcast to ``shape``."""
    return x if x.shape == shape else np.broadcast_to(x, shape).copy()


# --- SPEC §3.3 -----------------------------------------------------------------------------

def cuba_step(state, params, a_in):
    """One step of the ``cuba`` model (SPEC §3.3 and extensions, docs/semantics.md).

    Parameters
    ----------
    state : dict with ``u``, ``v`` and optionally ``refr_cnt`` (int arrays [N])
    params : dict of int arrays [N] or scalars: ``du``, ``dv``, ``vth``, ``bias_mant``,
        ``bias_exp`` and optionally ``refr`` (default 0), ``reset_sub`` (0), ``v_floor``
        (``-V_MAX``)
    a_in : int array [N], this step's synaptic input

    Returns ``(new_state, spikes)``: new arrays (``refr_cnt`` is included when the input
    state has it or ``params`` has ``refr``) and a bool array [N].
    """
    u, v = _i64("u", state["u"]), _i64("v", state["v"])
    a_in = _i64("a_in", a_in)
    du, dv = _i64("du", params["du"]), _i64("dv", params["dv"])
    vth = _i64("vth", params["vth"])
    bias_mant, bias_exp = _i64("bias_mant", params["bias_mant"]), _i64("bias_exp", params["bias_exp"])
    has_refr = "refr_cnt" in state or "refr" in params
    refr = _i64("refr", params.get("refr", CUBA_DEFAULTS["refr"]))
    reset_sub = _i64("reset_sub", params.get("reset_sub", CUBA_DEFAULTS["reset_sub"]))
    v_floor = _i64("v_floor", params.get("v_floor", CUBA_DEFAULTS["v_floor"]))
    cnt = _i64("refr_cnt", state.get("refr_cnt", 0))

    # u = wrap24(trunc12(u * (4095 - du)) + (a_in << 6))
    u_new = wrap24(trunc12(u * (4095 - du)) + a_in * 64)
    # v' = trunc12(v * (4096 - dv)) + u + (bias_mant << bias_exp), then saturate, then floor
    v1 = trunc12(v * (4096 - dv)) + u_new + bias_mant * (np.int64(1) << bias_exp)
    v1 = sat(v1, -V_MAX, V_MAX)
    v1 = np.maximum(v1, v_floor)
    thr = vth * 64
    refractory = cnt > 0
    s = (v1 > thr) & ~refractory
    v_spk = np.where(reset_sub != 0, v1 - thr, 0)
    v_new = np.where(refractory, 0, np.where(s, v_spk, v1))
    shape = np.broadcast_shapes(u_new.shape, v_new.shape)
    new = {"u": _fresh(u_new, shape), "v": _fresh(v_new, shape)}
    if has_refr:
        cnt_new = np.where(refractory, cnt - 1, np.where(s, refr, cnt))
        new["refr_cnt"] = _fresh(cnt_new, shape)
    return new, _fresh(s, shape)


# --- SPEC §3.4 -----------------------------------------------------------------------------

def shift_step(state, params, a_in):
    """One step of the ``shift`` model (SPEC §3.4).

    ``state``: dict with ``i``, ``v`` (int arrays [N]); ``params``: ``dash_syn``,
    ``dash_mem``, ``th``, ``bias`` (arrays [N] or scalars); ``a_in``: int array [N].
    Returns ``(new_state, spikes)``.
    """
    i, v = _i64("i", state["i"]), _i64("v", state["v"])
    a_in = _i64("a_in", a_in)
    ks, km = _i64("dash_syn", params["dash_syn"]), _i64("dash_mem", params["dash_mem"])
    th, bias = _i64("th", params["th"]), _i64("bias", params["bias"])

    i = sat16(i + a_in)                       # this step's input first
    i = i - decay_shift(i, ks)                # stays inside 16 bits: no saturation needed
    dv = sat16(-decay_shift(v, km) + i)
    dv = sat16(dv + bias)
    v = sat16(v + dv)
    s = v >= th
    v = np.where(s, v - th, v)
    shape = np.broadcast_shapes(i.shape, v.shape)
    return {"i": _fresh(i, shape), "v": _fresh(v, shape)}, _fresh(s, shape)


# --- one core ------------------------------------------------------------------------------

class CoreModel:
    """One neuron core run from a :class:`CoreImage` (SPEC §3.1-3.5).

    Attributes: ``params`` (CoreParams), ``weights`` [A, N], ``w_exp``, ``neuron_params``
    (resolved per neuron, ``{name: int64 [N]}``), ``state`` (``{name: int64 [N]}``) and
    ``t``, the index of the next step to compute.

    With ``params.learning`` the core also has ``stdp`` (the STDP registers, a dict the host
    may change between steps), ``plastic`` [A] (0/1, likewise), and the traces ``x`` [A] and
    ``y`` [N]; after each step's neuron update :func:`stdp_step` runs with the axons hit at
    that step and the spikes, and ``weights`` are the learned weights (readable at any time).
    """

    def __init__(self, image):
        if not isinstance(image, CoreImage):
            raise TypeError(f"image must be a CoreImage, not {type(image).__name__}")
        self.image = image
        self.params = image.params
        self.w_exp = int(image.w_exp)
        self.neuron_params = {k: _i64(k, v).copy() for k, v in image.neuron_param_table().items()}
        self.reset()

    @property
    def model(self):
        return self.params.model

    def reset(self):
        """Return to the image's initial state, weights (and STDP registers and traces) and
        step 0."""
        self.weights = _i64("weights", self.image.weights).copy()
        # float64 copy for the exact-by-bound fast path of the weighted sum (see _counts_sum);
        # with learning the weights change every step and the integer path is used instead
        self._wf = None if self.params.learning else (
            self.weights.astype(np.float64),
            int(np.abs(self.weights).max()) if self.weights.size else 0)
        self.state = {k: _i64(k, v).copy() for k, v in self.image.state.items()}
        if self.params.learning:
            self.stdp = dict(self.image.stdp)
            self.plastic = _i64("plastic", self.image.plastic).copy()
            self.x = _i64("x", self.image.x).copy()
            self.y = _i64("y", self.image.y).copy()
        self.t = 0

    def _check_count(self, n):
        lim = self.params.max_step_events
        if n > lim:
            raise ValueError(f"step {self.t}: {n} input events exceed max_step_events = {lim} "
                             f"(the hardware accumulator is exact only up to that many)")

    def _advance(self, total, hit=None):
        """Saturate the exact weighted sum, update the neurons, then (with learning) apply
        STDP with ``hit`` (bool [A], the axons hit at this step); return spikes."""
        p = self.params
        a_in = _sat_acc(total, self.w_exp, p.acc_bits)
        step = cuba_step if p.model == "cuba" else shift_step
        state, s = step(self.state, self.neuron_params, a_in)
        if p.learning:
            self.weights, self.x, self.y = stdp_step(
                self.weights, self.x, self.y, hit, s, self.plastic, self.stdp,
                p.trace_max, p.weight_range)
        self.state = state
        self.t += 1
        return s

    def step(self, axon_events=()):
        """Advance one step; ``axon_events`` are the axon ids hit at this step (integrated
        at this step). Returns the spikes (bool [N])."""
        ev = _events("axon_events", axon_events)
        self._check_count(ev.size)
        A = self.params.axons
        if ev.size and (ev.min() < 0 or ev.max() >= A):
            bad = int(ev[(ev < 0) | (ev >= A)][0])
            raise ValueError(f"step {self.t}: axon id {bad} is out of range: allowed 0..{A - 1}")
        hit = None
        if self.params.learning:
            hit = np.zeros(A, bool)
            hit[ev] = True
        return self._advance(_weighted_sum(self.weights, ev, self._wf), hit)

    def step_counts(self, counts):
        """Advance one step from per-axon hit counts (int [A]). Returns the spikes."""
        c = _i64("counts", counts)
        A = self.params.axons
        if c.shape != (A,):
            raise ValueError(f"step {self.t}: counts has shape {c.shape}, expected ({A},)")
        if (c < 0).any():
            a = int(np.flatnonzero(c < 0)[0])
            raise ValueError(f"step {self.t}: counts[{a}] = {int(c[a])} is negative")
        self._check_count(int(c.sum()))
        return self._advance(_counts_sum(self.weights, c, self._wf), c > 0)

    def run(self, inputs=None, steps=None, progress=False):
        """Run ``steps`` steps and return a :class:`Trace` of them.

        ``inputs`` is a list (one entry per step) of sequences of axon ids, or an int array
        [T, A] of per-axon hit counts, or None (no input). ``steps`` defaults to the number
        of input steps; if larger, the missing steps get no input; if smaller, ValueError
        (inputs are never dropped silently). The trace records, for each step, the spikes
        and the state after that step's update: ``u`` (``i`` for ``shift``), ``v``, and
        ``extra["refr_cnt"]`` when the core has refractory hardware. With learning it also
        records, after each step's STDP update, ``extra["weights"]`` [T, A, N] (the learned
        weights), ``extra["x"]`` [T, A] and ``extra["y"]`` [T, N] (the traces). Consecutive
        calls continue from the current state.
        """
        counts = None
        if inputs is None:
            n_in = 0
        elif isinstance(inputs, np.ndarray) and inputs.ndim == 2:
            counts = _i64("inputs", inputs)
            A = self.params.axons
            if counts.shape[1] != A:
                raise ValueError(f"inputs has shape {counts.shape}, expected [T, {A}] "
                                 f"(per-axon hit counts)")
            n_in = counts.shape[0]
        else:
            inputs = list(inputs)
            n_in = len(inputs)
        T = n_in if steps is None else int(steps)
        if T < 0:
            raise ValueError(f"steps = {T} must not be negative")
        if T < n_in:
            raise ValueError(f"steps = {T} is less than the {n_in} steps of inputs")
        N = self.params.neurons
        spikes = np.zeros((T, N), np.uint8)
        u = np.zeros((T, N), np.int64)
        v = np.zeros((T, N), np.int64)
        uname = "u" if self.params.model == "cuba" else "i"
        extra_names = [k for k in self.state if k not in (uname, "v")]
        extra = {k: np.zeros((T, N), np.int64) for k in extra_names}
        learning = self.params.learning
        if learning:
            A = self.params.axons
            extra.update(weights=np.zeros((T, A, N), np.int64), x=np.zeros((T, A), np.int64),
                         y=np.zeros((T, N), np.int64))
        t0 = self.t
        it = range(T)
        if progress:
            from tqdm import tqdm
            it = tqdm(it, desc="golden", unit="step")
        for t in it:
            if t >= n_in:
                s = self.step(())
            elif counts is not None:
                s = self.step_counts(counts[t])
            else:
                s = self.step(inputs[t])
            spikes[t] = s
            u[t] = self.state[uname]
            v[t] = self.state["v"]
            for k in extra_names:
                extra[k][t] = self.state[k]
            if learning:
                extra["weights"][t] = self.weights
                extra["x"][t] = self.x
                extra["y"][t] = self.y
        meta = {"source": "golden", "model": self.params.model, "first_step": t0,
                "params": self.params.to_dict()}
        return Trace(spikes, u, v, extra=extra, neurons_per_core=N, meta=meta)
