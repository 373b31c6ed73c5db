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

- :func:`synaptic_input` (SPEC §3.2, a thin call into
  :class:`~spikefab.sim.synapses.DigitalSynapses`)
- :func:`cuba_step` (SPEC §3.3 plus the refractory / subtractive-reset / v-floor extensions)
- :func:`shift_step` (SPEC §3.4)
- :func:`~spikefab.sim.stdp.stdp_step` and :func:`~spikefab.sim.stdp.stdp_window`
  (SPEC §3.5, defined in :mod:`spikefab.sim.stdp`)

and :class:`CoreModel`, one core run from a :class:`~spikefab.rtl.image.CoreImage`. The
synaptic input of a core is a pluggable object (:mod:`spikefab.sim.synapses`): the digital
synapse memory by default, any :class:`~spikefab.sim.synapses.Synapses` subclass otherwise.
The elementary integer operations live in :mod:`spikefab.sim.intops`.
"""

import numpy as np

from spikefab.rtl.image import CoreImage
from spikefab.rtl.params import V_MAX

from .intops import _i64, decay_shift, sat, sat16, trunc12, wrap24
from .stdp import stdp_step, stdp_step_phases, stdp_window, tdec
from .event_driven import Engine, engine_supports
from .synapses import DigitalSynapses, Synapses
from .trace import Trace


__all__ = [
    "trunc12", "wrap24", "sat", "sat16", "decay_shift",
    "synaptic_input", "cuba_step", "shift_step", "stdp_step", "stdp_window", "tdec",
    "CoreModel", "CUBA_DEFAULTS", "U_MIN", "U_MAX", "V_MAX",
]

U_MIN, U_MAX = -(1 << 23), (1 << 23) - 1
#: Defaults of the ``cuba`` extension parameters: each switches its extension off.
CUBA_DEFAULTS = {"refr": 0, "reset_sub": 0, "v_floor": -V_MAX}

# --- SPEC §3.2 -----------------------------------------------------------------------------

def synaptic_input(weights, w_exp, axon_events, acc_bits):
    """``a_in[n] = sat_acc(sum over events a of (w[a, n] << w_exp))``, saturated once: a thin
    call into :class:`~spikefab.sim.synapses.DigitalSynapses`, the one implementation.

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
    return DigitalSynapses(w, w_exp, acc_bits).a_in_ids(ev)


def _events(name, axon_events):
    ev = np.asarray(axon_events)
    if ev.size == 0:
        return np.zeros(0, np.int64)
    if ev.dtype.kind not in "iu":
        raise TypeError(f"{name} must be axon ids (integers), not {ev.dtype}")
    return ev.astype(np.int64, copy=False).reshape(-1)


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

    Parameters
    ----------
    image : CoreImage
    synapses : Synapses or None
        The core's synaptic input (SPEC §3.2), an object implementing
        :class:`~spikefab.sim.synapses.Synapses`; None (the default) is the image's digital
        synapse memory, ``DigitalSynapses.from_image(image)``. Its ``axons`` and ``neurons``
        must be those of ``image.params``. The model calls its ``a_in`` (or ``a_in_ids``) at
        each step, its ``update`` with the STDP changes, and its ``reset`` from
        :meth:`reset`.
    reference : bool
        False (the default): :meth:`run` of a core without learning whose synapses are
        exactly a :class:`~spikefab.sim.synapses.DigitalSynapses` runs on the event-driven
        engine (:mod:`~spikefab.sim.event_driven`: only the rows of the axons hit, no work
        for a core at rest, one compiled loop). True: always the straightforward numpy path
        below (the reference the engine is tested against). :meth:`step` and
        :meth:`step_counts` always take the numpy path. The results are the same.

    Attributes: ``params`` (CoreParams), ``synapses``, ``weights`` [A, N] (read only, the
    synapses' weights), ``w_exp``, ``neuron_params`` (resolved per neuron, ``{name: int64
    [N]}``), ``state`` (``{name: int64 [N]}``) and ``t``, the index of the next step to
    compute.

    With ``params.learning`` the core also has ``stdp`` (the STDP registers, a dict the host
    may change between steps), ``plastic`` [A] (0/1, likewise), and the traces ``x`` [A] and
    ``y`` [N]; after each step's neuron update :func:`stdp_step` runs with the axons hit at
    that step and the spikes, on the synapses' ``weights``, and the weights that changed are
    sent to ``synapses.update`` as requests ``(axon, neuron, delta)``: the LTD phase's
    changes in one call, then the LTP phase's in a second call (SPEC §3.5's order; see
    :class:`~spikefab.sim.synapses.Synapses`); ``weights`` are the learned weights (readable
    at any time).
    """

    def __init__(self, image, synapses=None, reference=False):
        if not isinstance(image, CoreImage):
            raise TypeError(f"image must be a CoreImage, not {type(image).__name__}")
        self.image = image
        self.params = image.params
        self.w_exp = int(image.w_exp)
        self.neuron_params = {k: _i64(k, v).copy() for k, v in image.neuron_param_table().items()}
        if synapses is None:
            synapses = DigitalSynapses.from_image(image)
        elif not isinstance(synapses, Synapses):
            raise TypeError(f"synapses must be a Synapses object (see spikefab.sim.synapses), "
                            f"not {type(synapses).__name__}")
        p = self.params
        if (synapses.axons, synapses.neurons) != (p.axons, p.neurons):
            raise ValueError(f"synapses has {synapses.axons} axons and {synapses.neurons} "
                             f"neurons, the core {p.axons} axons and {p.neurons} neurons")
        self.synapses = synapses
        # a synapse object other than the digital memory: what it returns is checked, and it
        # gets the STDP changes as requests (the digital memory stores the new weights, which
        # is the same and faster)
        self._custom = type(synapses) is not DigitalSynapses
        hi = (1 << (p.acc_bits - 1)) - 1
        self._acc_lo, self._acc_hi = -hi - 1, hi
        self.reference = bool(reference)
        self._engine = None
        self._engine_ok = not self.reference and engine_supports(p, [synapses])
        self.reset()

    def _get_engine(self):
        """The event-driven engine of this core, made again if ``neuron_params`` changed."""
        par = self.neuron_params
        if self._engine is None or par.keys() != self._engine_par.keys() or any(
                not np.array_equal(par[k], self._engine_par[k]) for k in par):
            N = self.params.neurons
            none = np.zeros(0, np.int64)
            self._engine_par = {k: np.array(v, np.int64) for k, v in par.items()}
            self._engine = Engine(self.params, [self._engine_par], [self.synapses],
                                  np.zeros(N + 1, np.int64), none, none,
                                  np.zeros(N, np.int64), 1)
        return self._engine

    @property
    def model(self):
        return self.params.model

    @property
    def weights(self):
        """The synapses' weights, int64 [A, N], read only."""
        return self.synapses.weights

    def reset(self):
        """Return to the image's initial state, weights (``synapses.reset()``), STDP
        registers and traces, and step 0."""
        self.synapses.reset()
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

    def _checked(self, a_in):
        """``a_in`` from a synapse object, checked: int64 [N] in the acc_bits range."""
        N = self.params.neurons
        a = np.asarray(a_in)
        if a.dtype.kind not in "iu" or a.shape != (N,):
            raise ValueError(f"step {self.t}: synapses.a_in returned {a.dtype} {a.shape}, "
                             f"expected integers of shape ({N},)")
        a = a.astype(np.int64, copy=False)
        bad = np.flatnonzero((a < self._acc_lo) | (a > self._acc_hi))
        if bad.size:
            n = int(bad[0])
            raise ValueError(f"step {self.t}: synapses.a_in[{n}] = {int(a[n])} is out of "
                             f"range: allowed {self._acc_lo}..{self._acc_hi} (acc_bits = "
                             f"{self.params.acc_bits})")
        return a

    def _a_in_counts(self, counts):
        """This step's synaptic input from per-axon counts (int64 [A], checked)."""
        a = self.synapses.a_in(counts)
        return self._checked(a) if self._custom else a

    def _advance(self, a_in, hit=None):
        """Update the neurons with ``a_in``, then (with learning) apply STDP with ``hit``
        (bool [A], the axons hit at this step); return spikes. Nothing changes if it
        raises."""
        p = self.params
        step = cuba_step if p.model == "cuba" else shift_step
        state, s = step(self.state, self.neuron_params, a_in)
        if p.learning:
            w = self.synapses.weights
            if self._custom:
                # LTD and LTP as separate requests, in SPEC §3.5's order: an analog port
                # does them as two read-modify-writes, and a non-linear device law answers
                # one net request differently from two (docs/network_golden.md)
                w_ltd, w_new, x, y = stdp_step_phases(w, self.x, self.y, hit, s,
                                                      self.plastic, self.stdp, p.trace_max,
                                                      p.weight_range)
                phases = [(w_ltd - w).reshape(-1), (w_new - w_ltd).reshape(-1)]
                for diff in phases:
                    k = np.flatnonzero(diff)
                    if k.size:               # requests in (axon, neuron) order
                        axon, neuron = np.divmod(k, p.neurons)
                        self.synapses.update(axon, neuron, diff[k])
            else:                            # the digital memory: the same, without requests
                w_new, x, y = stdp_step(w, self.x, self.y, hit, s, self.plastic, self.stdp,
                                        p.trace_max, p.weight_range)
                self.synapses._store(w_new)
            self.x, self.y = x, y
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
        a_in = self.synapses.a_in_ids(ev)
        if self._custom:
            a_in = self._checked(a_in)
        hit = None
        if self.params.learning:
            hit = np.zeros(A, bool)
            hit[ev] = True
        return self._advance(a_in, hit)

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
        return self._advance(self._a_in_counts(c), c > 0)

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
        if self._engine_ok:
            return self._run_engine(T, n_in, counts, inputs, progress)
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

    def _run_engine(self, T, n_in, counts, inputs, progress):
        """:meth:`run` on the event-driven engine (:mod:`~spikefab.sim.event_driven`): the
        same trace as the reference path. The steps before the first one whose input is
        wrong run; that step then raises through :meth:`step` or :meth:`step_counts` (the
        same error, at the same state, as the reference path)."""
        p = self.params
        N, A = p.neurons, p.axons
        ptr = np.zeros(T + 1, np.int64)
        good = T                                      # steps whose input is well formed
        if counts is not None:
            neg = np.flatnonzero((counts < 0).any(axis=1))
            good = int(neg[0]) if neg.size else T
            ok = counts[:good]
            ts, a = np.nonzero(ok)
            ids = np.repeat(a, ok[ts, a]).astype(np.int64)
            ptr[1:ok.shape[0] + 1] = np.cumsum(ok.sum(axis=1))
            ptr[ok.shape[0] + 1:] = ptr[ok.shape[0]]
        else:
            parts = []
            for t in range(n_in):
                try:
                    ev = _events("axon_events", inputs[t])
                except (TypeError, ValueError):
                    good = t
                    break
                if ev.size and (ev.min() < 0 or ev.max() >= A):
                    good = t
                    break
                parts.append(ev)
            ids = np.concatenate(parts) if parts else np.zeros(0, np.int64)
            ptr[1:len(parts) + 1] = np.cumsum([x.size for x in parts])
            ptr[len(parts) + 1:] = ptr[len(parts)]
        uname = "u" if p.model == "cuba" else "i"
        rec = "refr_cnt" in self.state
        eng = self._get_engine()
        out = eng.new_out(T, rec)
        st = (self.state[uname], self.state["v"],
              self.state["refr_cnt"] if rec else np.zeros(N, np.int64))
        stop = min(T, good)
        chunk = max(1, -(-stop // 100)) if progress else max(stop, 1)
        bar = None
        if progress:
            from tqdm import tqdm
            bar = tqdm(total=T, desc="golden", unit="step")
        t0, lo = self.t, 0
        pend = np.zeros((1, A), np.int64)
        try:
            while lo < stop:
                hi = min(stop, lo + chunk)
                done, _ = eng.run(t0, st, pend, ptr, ids, out, lo, hi)
                if done > lo:
                    st = (out["u"][done - 1], out["v"][done - 1],
                          out["cnt"][done - 1 if rec else 0])
                    self._set_state(uname, st, rec)
                    self.t = t0 + done
                if done < hi:
                    stop = done
                    break
                if bar is not None:
                    bar.update(hi - lo)
                lo = hi
            if stop < T:                              # raises: this step's input is wrong
                if counts is not None:
                    self.step_counts(counts[stop])
                else:
                    self.step(inputs[stop])
                raise AssertionError(f"step {t0 + stop}: the engine stopped, the reference "
                                     f"step did not raise")
        finally:
            if bar is not None:
                bar.close()
        extra = {"refr_cnt": out["cnt"]} if rec else {}
        meta = {"source": "golden", "model": p.model, "first_step": t0,
                "params": p.to_dict()}
        return Trace(out["spikes"], out["u"], out["v"], extra=extra, neurons_per_core=N,
                     meta=meta)

    def _set_state(self, uname, st, rec):
        new = {uname: st[0], "v": st[1]}
        if rec:
            new["refr_cnt"] = st[2]
        self.state = {k: np.array(new[k], np.int64) for k in self.state}
