"""The golden model of on-chip STDP: SPEC §3.5 with explicit integer arithmetic (docs/stdp.md).

Written from the specification only. Every computation is on int64 arrays; every limit
(trace saturation, weight clamps) is an explicit ``min``/``max``. The largest intermediate is
``255 * (2**12 - 1)`` (an amplitude times a trace), far inside int64.

- :func:`tdec`: the trace decrement of SPEC §3.5.
- :func:`stdp_step`: one step of the learning rule, pure (never mutates its inputs).
- :func:`stdp_step_phases`: the same, also returning the weights after the LTD phase (the
  golden model sends a synapse object other than the digital memory the LTD and the LTP
  changes as separate requests, as an analog port does).
- :func:`stdp_window`: the Δw of one isolated pre/post pair as a function of
  Δt = t_post - t_pre, from the rule (by iterating the trace decay).
- :func:`check_stdp_regs`: validation of a register set.

The learning-enable decision (SPEC §3.5 leaves it open): with ``learn_en = 0`` the traces
still decay and take their impulses exactly as with ``learn_en = 1``; only the weights are
frozen (not even clamped). A host can therefore switch learning on with live traces.
"""

import numpy as np

from spikefab.rtl.params import STDP_REG_NAMES, stdp_register_ranges


__all__ = ["tdec", "stdp_step", "stdp_step_phases", "stdp_window", "check_stdp_regs"]


def _i64(name, x):
    a = np.asarray(x)
    if a.dtype.kind not in "iub":
        raise TypeError(f"{name} must hold integers, not {a.dtype}")
    return a.astype(np.int64, copy=False)


def _clamp(x, lo, hi):
    return np.minimum(np.maximum(x, np.int64(lo)), np.int64(hi))


def tdec(x, k):
    """SPEC §3.5 ``tdec(x, k) = max(1, x >> k) if x > 0 else 0`` (x >= 0, elementwise)."""
    x = _i64("x", x)
    return np.where(x > 0, np.maximum(x >> int(k), 1), 0)


def check_stdp_regs(regs, trace_max, weight_range):
    """Validate an STDP register set; return it as ``{name: int}`` in register order.

    Every register of :data:`~spikefab.rtl.params.STDP_REG_NAMES` must be present and in
    its range (:func:`~spikefab.rtl.params.stdp_register_ranges`), and ``w_min <= w_max``.
    With ``weight_range = None`` the bounds ``w_min``, ``w_max`` are neither required nor
    returned. Raises ``ValueError`` naming the register.
    """
    names = STDP_REG_NAMES
    if weight_range is None:
        names = tuple(k for k in names if k not in ("w_min", "w_max"))
        regs = {k: v for k, v in regs.items() if k not in ("w_min", "w_max")}
        weight_range = (0, 0)
    ranges = stdp_register_ranges(int(trace_max), tuple(int(w) for w in weight_range))
    ranges = {k: ranges[k] for k in names}
    missing = [k for k in names if k not in regs]
    if missing:
        raise ValueError(f"STDP register {missing[0]!r} is missing")
    unknown = sorted(set(regs) - set(ranges))
    if unknown:
        raise ValueError(f"STDP register {unknown[0]!r} does not exist: expected "
                         f"{', '.join(STDP_REG_NAMES)}")
    out = {}
    for name in names:
        v = regs[name]
        if isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, np.integer)):
            raise ValueError(f"STDP register {name} must be an integer, not {v!r}")
        v = int(v)
        lo, hi = ranges[name]
        if not lo <= v <= hi:
            raise ValueError(f"STDP register {name} = {v} is out of range: allowed {lo}..{hi}")
        out[name] = v
    if "w_min" in out and out["w_min"] > out["w_max"]:
        raise ValueError(f"STDP register w_min = {out['w_min']} is greater than w_max = "
                         f"{out['w_max']}: expected w_min <= w_max")
    return out


def _vector(name, v, n, lo, hi):
    a = _i64(name, v)
    if a.shape != (n,):
        raise ValueError(f"{name} has shape {a.shape}, expected ({n},)")
    if a.size and (a.min() < lo or a.max() > hi):
        i = int(np.flatnonzero((a < lo) | (a > hi))[0])
        raise ValueError(f"{name}[{i}] = {int(a[i])} is out of range: allowed {lo}..{hi}")
    return a


def stdp_step(weights, x, y, pre_hit, post_spike, plastic, regs, trace_max, weight_range):
    """One step of SPEC §3.5, at the end of the step, after the neuron update.

    Parameters
    ----------
    weights : int array [A, N], signed, inside ``weight_range``
    x : int array [A], pre traces, 0..trace_max
    y : int array [N], post traces, 0..trace_max
    pre_hit : bool (or 0/1) array [A]: the axon received at least one event at this step (an
        axon hit several times counts once)
    post_spike : bool (or 0/1) array [N]: the neuron spiked at this step
    plastic : bool (or 0/1) array [A]: the axon's synapses learn
    regs : dict of the STDP registers (``learn_en``, ``k_pre``, ``k_post``, ``imp_pre``,
        ``imp_post``, ``a_plus``, ``a_minus``, ``s_plus``, ``s_minus``, ``w_min``, ``w_max``)
    trace_max : int, ``2**trace_bits - 1`` (x_max = y_max)
    weight_range : (lo, hi), the signed weight range

    Returns new arrays ``(weights, x, y)``, in this order of operations::

        1. decay:    x[a] -= tdec(x[a], k_pre) for all a;  y[n] -= tdec(y[n], k_post) for all n
        2. LTD:      for each plastic axon a hit, every neuron n:
                       w[a,n] = clamp(w[a,n] - ((a_minus * y[n]) >> s_minus), w_min, w_max)
        3. pre imp:  for each axon a hit (plastic or not): x[a] = min(x_max, x[a] + imp_pre)
        4. LTP:      for each neuron n that spiked, every plastic axon a:
                       w[a,n] = clamp(w[a,n] + ((a_plus * x[a]) >> s_plus), w_min, w_max)
        5. post imp: for each neuron n that spiked: y[n] = min(y_max, y[n] + imp_post)

    Steps 2 and 4 are skipped when ``learn_en == 0`` (weights returned unchanged); the traces
    evolve the same either way. A weight touched by step 2 or 4 is clamped to
    ``w_min..w_max`` even when its Δ is 0; an untouched weight is never clamped.
    """
    _, w, x, y = _stdp(weights, x, y, pre_hit, post_spike, plastic, regs, trace_max,
                       weight_range, keep_ltd=False)
    return w, x, y


def stdp_step_phases(weights, x, y, pre_hit, post_spike, plastic, regs, trace_max,
                     weight_range):
    """:func:`stdp_step` (same parameters), returning ``(w_ltd, weights, x, y)``: also the
    weights after step 2 (the LTD phase), before step 4 (the LTP phase). ``w_ltd - weights
    in`` is the LTD phase's change, ``weights out - w_ltd`` the LTP phase's; their sum is the
    step's net change. New arrays.
    """
    return _stdp(weights, x, y, pre_hit, post_spike, plastic, regs, trace_max, weight_range,
                 keep_ltd=True)


def _stdp(weights, x, y, pre_hit, post_spike, plastic, regs, trace_max, weight_range,
          keep_ltd):
    """The rule (see :func:`stdp_step`); ``w_ltd`` is None unless ``keep_ltd``."""
    trace_max = int(trace_max)
    wlo, whi = (int(v) for v in weight_range)
    r = check_stdp_regs(regs, trace_max, (wlo, whi))
    w = _i64("weights", weights)
    if w.ndim != 2:
        raise ValueError(f"weights must have shape [A, N], got {w.shape}")
    A, N = w.shape
    if w.size and (w.min() < wlo or w.max() > whi):
        a, n = np.argwhere((w < wlo) | (w > whi))[0]
        raise ValueError(f"weights[{a}, {n}] = {int(w[a, n])} is out of range: "
                         f"allowed {wlo}..{whi}")
    x = _vector("x", x, A, 0, trace_max)
    y = _vector("y", y, N, 0, trace_max)
    pre = _vector("pre_hit", pre_hit, A, 0, 1).astype(bool)
    post = _vector("post_spike", post_spike, N, 0, 1).astype(bool)
    pl = _vector("plastic", plastic, A, 0, 1).astype(bool)
    learn = r["learn_en"] == 1
    w_min, w_max = r["w_min"], r["w_max"]

    # 1. decay
    x = x - tdec(x, r["k_pre"])
    y = y - tdec(y, r["k_post"])
    w = w.copy()
    # 2. LTD: rows of the plastic axons hit at this step, with the decayed y
    rows = pre & pl
    if learn and rows.any():
        dep = (np.int64(r["a_minus"]) * y) >> r["s_minus"]                 # [N]
        w[rows] = _clamp(w[rows] - dep[None, :], w_min, w_max)
    w_ltd = w.copy() if keep_ltd else None
    # 3. pre impulse, every axon hit
    x = np.where(pre, np.minimum(x + r["imp_pre"], trace_max), x)
    # 4. LTP: columns of the neurons that spiked, over the plastic axons, with the new x
    if learn and post.any() and pl.any():
        pot = (np.int64(r["a_plus"]) * x[pl]) >> r["s_plus"]               # [plastic A]
        idx = np.ix_(pl, post)
        w[idx] = _clamp(w[idx] + pot[:, None], w_min, w_max)
    # 5. post impulse
    y = np.where(post, np.minimum(y + r["imp_post"], trace_max), y)
    return w_ltd, w, x, y


def stdp_window(regs, trace_max, dt_range):
    """Δw of one isolated pre/post pair, for each Δt = t_post - t_pre in ``dt_range``.

    Both traces start at 0, the synapse's axon is plastic, the axon is hit only at t_pre and
    the neuron spikes only at t_post; weight clamps are ignored (choose the initial weight
    and bounds so that none applies). From the rule:

    - Δt >= 0 (causal, Δt = 0 included, SPEC §3.5): the pre impulse gives
      ``x = min(x_max, imp_pre)`` at t_pre; after ``Δt`` decays (``x -= tdec(x, k_pre)``,
      one per later step), LTP at t_post adds ``(a_plus * x) >> s_plus``. The LTD at t_pre
      saw ``y = 0``: Δ 0.
    - Δt < 0: ``y = min(y_max, imp_post)`` at t_post; after ``|Δt|`` decays, LTD at t_pre
      subtracts ``(a_minus * y) >> s_minus``. The LTP at t_post saw ``x = 0``: Δ 0.

    With ``learn_en = 0`` every Δw is 0. Returns an int64 array, one Δw per entry of
    ``dt_range``.
    """
    r = check_stdp_regs(regs, int(trace_max), None)      # w_min, w_max: not used
    trace_max = int(trace_max)
    dts = [int(d) for d in dt_range]
    if r["learn_en"] == 0:
        return np.zeros(len(dts), np.int64)

    def decayed(v0, k, steps):
        v = v0
        for _ in range(steps):
            v -= max(1, v >> k) if v > 0 else 0
        return v

    out = []
    for dt in dts:
        if dt >= 0:
            x = decayed(min(trace_max, r["imp_pre"]), r["k_pre"], dt)
            out.append((r["a_plus"] * x) >> r["s_plus"])
        else:
            y = decayed(min(trace_max, r["imp_post"]), r["k_post"], -dt)
            out.append(-((r["a_minus"] * y) >> r["s_minus"]))
    return np.array(out, np.int64)
