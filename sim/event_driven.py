"""The event-driven engine of the golden model: SPEC §3.1-3.4 and §3.6 for cores without
learning whose synapses are the digital synapse memory, compiled with numba.

Written from SPEC §3 only, never from the RTL. It computes exactly what the straightforward
numpy path of :class:`~spikefab.sim.golden.CoreModel` and
:class:`~spikefab.sim.network.NetworkModel` computes (their ``reference=True`` mode, which
the tests compare it with at every step and for every state variable); it only does less
work, in one compiled loop over the steps of a run instead of a sequence of numpy calls per
step:

- **Rows of the axons hit only.** At each step a core adds, for each of its axons that
  received k > 0 events, k times that axon's weight row: the exact integer sum of SPEC §3.2
  (no floating point), shifted by ``w_exp`` and saturated once to ``acc_bits``. The sum
  runs in int16 at the steps where ``events * max|w| < 2**15`` (a bound on every partial
  sum of that step), else in int32 when ``(max_step_events + 1) * max|w| < 2**31``, else
  in int64: exact in each case, and narrower integers are more per vector instruction.
  Idle axons cost a test each.
- **Resting cores are skipped, where that is exact.** A core all of whose state variables
  are 0, that receives no event at a step, and whose neurons cannot leave rest without
  input, keeps that state and emits no spike. "Cannot leave rest" is read off the
  arithmetic: for ``cuba`` (§3.3) with u = v = 0 and a_in = 0, u' = wrap24(trunc12(0) + 0)
  = 0 and v' = trunc12(0) + 0 + (bias_mant << bias_exp), so every neuron needs
  bias_mant = 0, a ``v_floor`` <= 0 (else v' = v_floor), and a refractory counter at 0
  (it is part of the state); v' = 0 is then no spike (vth >= 0, strict comparison). For
  ``shift`` (§3.4) with i = v = 0 and a_in = 0: i = sat16(0) = 0, decay(0, k) = sign(0) =
  0, dv = sat16(0 + bias), so every neuron needs bias = 0; v = 0 >= th is no spike since
  th >= 1. These conditions are checked per core when the engine is set up.
- **Only the fan-out of the neurons that fired** is walked (the routing table in CSR
  form); each entry adds one event to the ring buffer of pending counts at slot
  ``(t + d) mod S``.

The neuron arithmetic is int64, with the same explicit limits as the reference (24-bit wrap,
saturations), written per neuron without branches so that it vectorises: ``trunc12(x)`` as
``(x + ((x >> 63) & 4095)) >> 12`` (a negative x is biased by 4095 before the floor shift:
toward zero, SPEC §3.3's pitfall), the 24-bit wrap as ``((x + 2**23) & (2**24 - 1)) -
2**23`` (the two's-complement wrap of SPEC §3.3, exact on int64). The largest intermediate
is about 2**36. The compiled code is cached by numba in ``__pycache__`` (compiled once per
machine, about 10-20 s).

Entry point: :class:`Engine` (one :meth:`Engine.run` call runs T steps of C cores and writes
their trace); :func:`engine_supports` says whether a core set can use it.
"""

import numpy as np
from numba import njit


__all__ = ["Engine", "engine_supports"]

_W24 = (1 << 24) - 1
_H23 = 1 << 23
_VMAX = (1 << 23) - 1


@njit(cache=True, nogil=True)
def _engine(model, T, t0, C, N, A, S, w, w16, wmax16, mul, acc_lo, acc_hi, lim,
            p0, p1, p2, p3, p4, p5, p6, quiet,
            u0, v0, c0, pend, ext_ptr, ext_ids, rptr, rdel, rax, n_exit,
            spk, uo, vo, co, events, packets, ext_out, at_rest):
    """T steps (see :meth:`Engine.run`). Returns ``(steps done, failing core or -1)``."""
    cur = np.zeros(C * A, np.int64)
    acc = np.zeros(N, np.int64)
    accw = np.zeros_like(w[0, 0])         # the weights' integer type (see Engine._weights)
    acc16 = np.zeros(N, np.int16)
    for i in range(T):
        t = t0 + i
        slot = t % S
        # this step's counts: pending routed events plus the external ones
        for g in range(C * A):
            cur[g] = pend[slot, g]
        for e in range(ext_ptr[i], ext_ptr[i + 1]):
            cur[ext_ids[e]] += 1
        bad = -1
        for c in range(C):
            n_ev = 0
            for a in range(A):
                n_ev += cur[c * A + a]
            events[i, c] = n_ev
            if n_ev > lim and bad < 0:
                bad = c
        if bad >= 0:
            return i, bad                 # nothing of step i is kept
        for g in range(C * A):
            pend[slot, g] = 0
        ci = i if co.shape[0] == T else 0          # one scratch row of counters, or all
        if i == 0:
            us, vs, cs = u0, v0, c0
        else:
            us, vs, cs = uo[i - 1], vo[i - 1], co[ci - 1 if ci else 0]
        uu, vv, cc = uo[i], vo[i], co[ci]
        n_pk = 0
        for c in range(C):
            if at_rest[c] and quiet[c] and events[i, c] == 0:
                continue                  # stays at rest, no spike (see module docstring)
            # SPEC §3.2: the rows of the axons hit, exact, shifted, saturated once
            if events[i, c] * wmax16 < 32768:
                # every partial sum is at most events * max|w| in size: int16 is exact
                _rows(cur[c * A:(c + 1) * A], w16[c], acc16)
                for n in range(N):
                    acc[n] = acc16[n]
            else:
                _rows(cur[c * A:(c + 1) * A], w[c], accw)
                for n in range(N):
                    acc[n] = accw[n]
            base = c * N
            lo_, hi_ = base, base + N
            if model == 0:
                nz = _cuba_core(acc, mul[c], acc_lo, acc_hi, us[lo_:hi_], vs[lo_:hi_],
                                p0[lo_:hi_], p1[lo_:hi_], p3[lo_:hi_], p5[lo_:hi_],
                                uu[lo_:hi_], vv[lo_:hi_])
            else:
                nz = _shift_core(acc, mul[c], acc_lo, acc_hi, us[lo_:hi_], vs[lo_:hi_],
                                 p0[lo_:hi_], p1[lo_:hi_], p3[lo_:hi_], uu[lo_:hi_],
                                 vv[lo_:hi_])
            # threshold, reset, refractory counter, spikes and their fan-out
            for n in range(N):
                g = base + n
                vp = vv[g]
                cnt = cs[g]
                if model == 0:
                    if cnt > 0:               # refractory: v held at 0, no spike
                        vv[g] = 0
                        cc[g] = cnt - 1
                        nz |= cnt - 1
                        continue
                    s = vp > p2[g]            # strictly greater
                    if s:
                        vn = vp - p2[g] if p4[g] != 0 else 0
                        vv[g] = vn
                        cc[g] = p6[g]
                        nz |= vn | p6[g]
                    else:
                        cc[g] = cnt
                        nz |= vp | cnt
                else:
                    s = vp >= p2[g]           # greater or equal, reset by subtraction
                    if s:
                        vv[g] = vp - p2[g]
                    nz |= vv[g]
                if s:
                    spk[i, g] = 1
                    ext_out[i, g] = n_exit[g]
                    for e in range(rptr[g], rptr[g + 1]):
                        pend[(t + rdel[e]) % S, rax[e]] += 1
                    n_pk += rptr[g + 1] - rptr[g]
            at_rest[c] = nz == 0
        packets[i] = n_pk
        # the state of a skipped core is 0, as the zero-filled outputs already hold
    return T, -1


@njit(cache=True, nogil=True)
def _rows(cur, w, acc):
    """``acc = sum over axons a of cur[a] * w[a]``: the rows of the axons hit only (SPEC
    §3.2's exact sum, in the integer type of ``w`` and ``acc``, which the caller has proven
    wide enough)."""
    N = acc.shape[0]
    for n in range(N):
        acc[n] = 0
    for a in range(cur.shape[0]):
        k = cur[a]
        if k == 1:
            row = w[a]
            for n in range(N):
                acc[n] += row[n]
        elif k != 0:
            row = w[a]
            for n in range(N):
                acc[n] += k * row[n]


@njit(cache=True, nogil=True)
def _cuba_core(acc, mul, acc_lo, acc_hi, u, v, du, dv, bias, v_floor, uo, vo):
    """SPEC §3.2's saturation and §3.3 up to the threshold, for the N neurons of one core:
    ``uo`` = the new u, ``vo`` = v' (saturated, floored). Returns the OR of every new u (a
    non-zero result means the core is not at rest). Branch-free, so that it vectorises:
    trunc12(x) = (x + ((x >> 63) & 4095)) >> 12 (toward zero: a negative x is biased by
    4095 before the floor shift, SPEC §3.3's pitfall)."""
    nz = 0
    for n in range(u.shape[0]):
        a_in = min(max(np.int64(acc[n]) * mul, acc_lo), acc_hi)
        x = u[n] * (4095 - du[n])
        un = ((x + ((x >> 63) & 4095)) >> 12) + a_in * 64
        un = ((un + _H23) & _W24) - _H23              # wrap24
        y = v[n] * (4096 - dv[n])
        vp = ((y + ((y >> 63) & 4095)) >> 12) + un + bias[n]
        vp = max(min(vp, _VMAX), -_VMAX)               # v saturates
        vo[n] = max(vp, v_floor[n])
        uo[n] = un
        nz |= un
    return nz


@njit(cache=True, nogil=True)
def _decay(x, k):
    """SPEC §3.4 ``decay(x, k)``: x >> k (arithmetic), or sign(x) when that is 0."""
    d = x >> k
    sg = (x > 0) - (x < 0)
    return d if d != 0 else sg


@njit(cache=True, nogil=True)
def _shift_core(acc, mul, acc_lo, acc_hi, i, v, ks, km, bias, io, vo):
    """SPEC §3.2's saturation and §3.4 up to the threshold, for the N neurons of one core:
    ``io`` = the new i, ``vo`` = the new v before the threshold. Returns the OR of every
    new i."""
    nz = 0
    for n in range(i.shape[0]):
        a_in = min(max(np.int64(acc[n]) * mul, acc_lo), acc_hi)
        x = min(max(i[n] + a_in, -32768), 32767)
        x = x - _decay(x, ks[n])
        d = min(max(-_decay(v[n], km[n]) + x, -32768), 32767)
        d = min(max(d + bias[n], -32768), 32767)
        vo[n] = min(max(v[n] + d, -32768), 32767)
        io[n] = x
        nz |= x
    return nz

def engine_supports(params, synapses):
    """Whether cores of these :class:`~spikefab.rtl.params.CoreParams` with these synapse
    objects can run on the engine: no learning, a ``cuba`` or ``shift`` model, and every
    synapse object exactly a :class:`~spikefab.sim.synapses.DigitalSynapses`."""
    from .synapses import DigitalSynapses
    return (not params.learning and params.model in ("cuba", "shift")
            and all(type(s) is DigitalSynapses for s in synapses))


class Engine:
    """C cores of one :class:`~spikefab.rtl.params.CoreParams` (no learning, digital
    synapses), with a routing table in CSR form, run by the compiled loop.

    Parameters
    ----------
    params : CoreParams
    neuron_params : list of ``{name: int64 [N]}``, one per core (resolved per neuron)
    synapses : list of DigitalSynapses, one per core (read at each :meth:`run`: a weight
        change made between runs, seen by its ``version``, is taken into account)
    rptr, rdel, rax : int64 arrays, the routes: the entries of global neuron ``k = c * N +
        n`` are ``rptr[k] .. rptr[k + 1] - 1``, each delivering one event to global axon
        ``rax[e]`` (``core * A + axon``) ``rdel[e]`` (1..S-1) steps later
    n_exit : int64 [C * N], the exit entries of each neuron
    slots : int, S, the length of the ring of pending counts (> max delay)
    """

    def __init__(self, params, neuron_params, synapses, rptr, rdel, rax, n_exit, slots):
        p = params
        self.model = p.model
        self.C, self.N, self.A, self.S = len(synapses), p.neurons, p.axons, int(slots)
        hi = (1 << (p.acc_bits - 1)) - 1
        self.acc_lo, self.acc_hi = -hi - 1, hi
        self.lim = int(p.max_step_events)
        self.synapses = list(synapses)
        self._versions = None
        cat = lambda k: np.ascontiguousarray(
            np.concatenate([np.asarray(q[k], np.int64).reshape(-1) for q in neuron_params]))
        CN = self.C * self.N
        z = np.zeros(CN, np.int64)
        if p.model == "cuba":
            thr = cat("vth") * 64
            bias = cat("bias_mant") * (np.int64(1) << cat("bias_exp"))
            get = lambda k, d: cat(k) if k in neuron_params[0] else np.full(CN, d, np.int64)
            reset_sub = get("reset_sub", 0)
            v_floor = get("v_floor", -_VMAX)
            refr = get("refr", 0)
            self.p = (cat("du"), cat("dv"), thr, bias, reset_sub, v_floor, refr)
            ok = (bias == 0) & (v_floor <= 0)
        else:
            bias = cat("bias")
            th = cat("th")
            self.p = (cat("dash_syn"), cat("dash_mem"), th, bias, z, z, z)
            ok = (bias == 0) & (th >= 1)
        self.quiet = np.ascontiguousarray(ok.reshape(self.C, self.N).all(axis=1))
        self.rptr = np.ascontiguousarray(rptr, np.int64)
        self.rdel = np.ascontiguousarray(rdel, np.int64)
        self.rax = np.ascontiguousarray(rax, np.int64)
        self.n_exit = np.ascontiguousarray(n_exit, np.int64)

    def _weights(self):
        vs = [s.version for s in self.synapses]
        if vs != self._versions:
            w = np.stack([s._w for s in self.synapses])
            # int32 weights and sums where a bound proves every partial sum of a step fits
            # (at most max_step_events rows of |w| <= wmax each): faster, and exact
            wmax = int(np.abs(w).max()) if w.size else 0
            small = (self.lim + 1) * wmax < (1 << 31)
            self._w = np.ascontiguousarray(w, np.int32 if small else np.int64)
            # and an int16 copy, used at the steps where events * wmax < 2**15
            if wmax < (1 << 15):
                self._w16, self._wmax16 = np.ascontiguousarray(w, np.int16), max(wmax, 1)
            else:
                self._w16, self._wmax16 = np.zeros((len(vs), 1, 1), np.int16), 1 << 15
            self._mul = np.array([1 << s.w_exp for s in self.synapses], np.int64)
            self._versions = vs
        return self._w, self._w16, self._wmax16, self._mul

    def new_out(self, T, record_cnt):
        """Zero-filled output arrays for T steps (see :meth:`run`)."""
        C, CN = self.C, self.C * self.N
        return {"spikes": np.zeros((T, CN), np.uint8), "u": np.zeros((T, CN), np.int64),
                "v": np.zeros((T, CN), np.int64),
                "cnt": np.zeros((T if record_cnt else 1, CN), np.int64),
                "events": np.zeros((T, C), np.int64), "packets": np.zeros(T, np.int64),
                "ext_out": np.zeros((T, CN), np.int64)}

    def run(self, t0, state, pend, ext_ptr, ext_ids, out, lo=0, hi=None):
        """Run the steps ``lo .. hi - 1`` of ``out`` (global steps ``t0 + lo`` ...).

        ``state``: ``(u, v, cnt)`` int64 [C * N] before step ``lo`` (u is ``i`` for
        ``shift``; cnt the refractory counters, zeros without refractory hardware), not
        changed. ``pend``: int64 [S, C * A], the ring of pending counts (global step t reads
        slot t mod S), updated in place. ``ext_ptr`` int64 [T + 1] and ``ext_ids`` int64:
        the external events of step ``t0 + i`` are the global axon ids (``core * A +
        axon``) ``ext_ids[ext_ptr[i]:ext_ptr[i + 1]]`` (a repeat counts again; the caller
        has checked them). ``out``: from :meth:`new_out` (zero-filled; the rows of a resting
        core are left as they are), rows ``lo .. hi - 1`` written: ``spikes`` uint8 [T, C *
        N], ``u``, ``v``, ``cnt`` (one scratch row when made without ``record_cnt``), int64
        [T, C * N], ``events`` int64 [T, C], ``packets`` int64 [T], ``ext_out`` int64 [T, C *
        N] (the exit entries of each neuron that fired).

        Returns ``(done, bad_core)``: the steps ``lo .. done - 1`` were run; ``done < hi``
        when step ``done`` would make core ``bad_core`` integrate more than
        ``max_step_events`` events (that step is not run, nothing of it is kept; ``pend`` is
        as before it).
        """
        C, N, A = self.C, self.N, self.A
        T = out["u"].shape[0]
        hi = T if hi is None else hi
        w, w16, wmax16, mul = self._weights()
        u0, v0, c0 = (np.ascontiguousarray(x, np.int64).reshape(-1) for x in state)
        at_rest = np.array([not (u0[c * N:(c + 1) * N].any() or v0[c * N:(c + 1) * N].any()
                                 or c0[c * N:(c + 1) * N].any()) for c in range(C)])
        sl = slice(lo, hi)
        cnt = out["cnt"][sl] if out["cnt"].shape[0] == T else out["cnt"]
        if cnt.shape[0] != hi - lo:
            cnt = out["cnt"][:1]
        done, bad = _engine(0 if self.model == "cuba" else 1, hi - lo, int(t0) + lo, C, N, A,
                            self.S, w, w16, wmax16, mul, self.acc_lo, self.acc_hi, self.lim, *self.p,
                            self.quiet, u0, v0, c0, pend, ext_ptr[lo:hi + 1], ext_ids,
                            self.rptr, self.rdel, self.rax, self.n_exit, out["spikes"][sl],
                            out["u"][sl], out["v"][sl], cnt, out["events"][sl],
                            out["packets"][sl], out["ext_out"][sl], at_rest)
        return lo + int(done), int(bad)
