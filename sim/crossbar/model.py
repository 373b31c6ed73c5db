"""``CrossbarSynapses``: the crossbar as the synaptic input of one core (SPEC §3.7, issue 10).

Contract, for a core of A axons and N neurons:

- construct from integer weights ``[A, N]``, ``w_exp``, device / array / ADC parameters and a
  seed: the weights are programmed once (programming noise, faults and device-to-device
  variation drawn then);
- ``a_in(step, axon_counts)``: the signed ADC code per neuron (int64 ``[N]``) for the count
  vector of the step (an axon hit twice is read in two read phases and counts twice); this
  is what the neuron receives as ``a_in`` (saturation to ``acc_bits`` is the core's);
- ``apply_updates(step, [(axon, neuron, delta), ...])``: the STDP requests of a step, as
  SET / RESET pulses through the device's update law; a pair met twice in one call is
  updated twice, in list order;
- ``weights()``: the effective integer weights the devices now hold.

Every random draw is a function of (seed, purpose, step, occurrence) and of the device's
place in the array (:mod:`.rng`), never of how many draws came before, so a bench may ask
for steps and updates in any order. With every non-ideality off and the matched ADC,
``a_in`` equals ``Σ c[a] (w[a, n] << w_exp)`` exactly and ``apply_updates`` gives
``clamp(w + Δ, w_min, w_max)`` exactly.

The write controller does what a digital engine without weight memory needs: it reads the
pair (``round((G+ - G-) / g_unit)``), clamps ``w + Δ`` to ``w_bounds``, and sends to each
device as many pulses as the nominal level grid says separate its level from the target
(SET up, RESET down); the device answers through its own update law.
"""

import numpy as np

from spikefab.rtl.params import ParamError, W_EXP_MAX

from . import device as dv
from .adc import Adc
from .mapping import WeightMapping
from .params import AdcParams, ArrayParams, DeviceParams
from .rng import Purpose, block_normal, block_uniform
from .solver import NodalSolver, ideal_currents


__all__ = ["CrossbarSynapses"]


class CrossbarSynapses:
    """One core's synapses on a memristor crossbar of A rows and 2N columns.

    Parameters
    ----------
    weights : int array [A, N]
    w_exp : int, 0..7
    device, array, adc : DeviceParams, ArrayParams, AdcParams
    seed : int >= 0
    weight_bits : int, 1..16 (default 8): the signed weight range being mapped
    w_bounds : (int, int) or None: clamp bounds of updates (default the weight range)
    """

    def __init__(self, weights, w_exp, device=DeviceParams(), array=ArrayParams(),
                 adc=AdcParams(), seed=0, weight_bits=8, w_bounds=None):
        w = np.asarray(weights)
        if w.dtype.kind not in "iu" or w.ndim != 2:
            raise ParamError(f"weights must be an integer array [A, N], not {w.dtype} "
                             f"{w.shape}")
        if isinstance(w_exp, bool) or not isinstance(w_exp, (int, np.integer)) \
                or not 0 <= w_exp <= W_EXP_MAX:
            raise ParamError(f"w_exp = {w_exp!r} is out of range: allowed 0..{W_EXP_MAX}")
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
            raise ParamError(f"seed = {seed!r} is out of range: allowed an integer >= 0")
        for name, obj, cls in (("device", device, DeviceParams),
                               ("array", array, ArrayParams), ("adc", adc, AdcParams)):
            if not isinstance(obj, cls):
                raise ParamError(f"{name} must be a {cls.__name__}, not {obj!r}")
        self.map = WeightMapping(device, weight_bits)
        lo, hi = (self.map.w_lo, self.map.w_hi) if w_bounds is None else map(int, w_bounds)
        if not self.map.w_lo <= lo <= hi <= self.map.w_hi:
            raise ParamError(f"w_bounds = {w_bounds!r} is out of range: allowed "
                             f"{self.map.w_lo} <= w_min <= w_max <= {self.map.w_hi}")
        w = w.astype(np.int64)
        if w.size and (w.min() < self.map.w_lo or w.max() > self.map.w_hi):
            raise ParamError(f"weights must lie in {self.map.w_lo}..{self.map.w_hi} "
                             f"(weight_bits = {weight_bits})")
        self.w_bounds = (lo, hi)
        self.device, self.array, self.seed = device, array, int(seed)
        self.w_exp = int(w_exp)
        self.n_axons, self.n_neurons = w.shape
        self.adc = Adc(adc, array.v_read * self.map.g_unit / (1 << self.w_exp))
        self._draw_devices()
        self._program(w)

    # --- devices ----------------------------------------------------------------------------

    @property
    def shape(self):
        """The array's shape: (A rows, 2N columns)."""
        return (self.n_axons, 2 * self.n_neurons)

    def _draw_devices(self):
        d, s, shp = self.device, self.seed, self.shape
        self.g_lo = np.full(shp, d.g_min)
        self.g_hi = np.full(shp, d.g_max)
        if d.d2d_range:
            self.g_lo = d.g_min * np.exp(d.d2d_range * block_normal(s, Purpose.D2D_GMIN, 0, shp))
            self.g_hi = d.g_max * np.exp(d.d2d_range * block_normal(s, Purpose.D2D_GMAX, 0, shp))
            self.g_lo = np.minimum(self.g_lo, 0.5 * self.g_hi)
        p = self.map.p_max
        self.a_set = self.a_reset = None
        if d.nl_set is not None:
            self.a_set = d.nl_set * p * np.exp(
                d.d2d_nl * block_normal(s, Purpose.D2D_NL_SET, 0, shp))
        if d.nl_reset is not None:
            self.a_reset = d.nl_reset * p * np.exp(
                d.d2d_nl * block_normal(s, Purpose.D2D_NL_RESET, 0, shp))
        u = block_uniform(s, Purpose.FAULT, 0, shp)
        self.stuck_low = u < d.p_stuck_low
        self.stuck_high = (u >= d.p_stuck_low) & (u < d.p_stuck_low + d.p_stuck_high)
        self.stuck = self.stuck_low | self.stuck_high
        self._xi_nu = block_normal(s, Purpose.DRIFT_NU, 0, shp)

    def _level_g(self, level):
        return self.g_lo + level * (self.g_hi - self.g_lo) / self.map.p_max

    def _program(self, w):
        """Direct write of every device to the levels of ``w`` (programming noise on)."""
        lp, lm = self.map.levels(w)
        lv = np.empty(self.shape, np.int64)
        lv[:, 0::2], lv[:, 1::2] = lp, lm
        g = self._level_g(lv)
        if self.device.prog_noise:
            sig = self.device.prog_noise_scale * dv.pcm_prog_sigma(g, self.device.g_max)
            g = np.maximum(g + sig * block_normal(self.seed, Purpose.PROGRAM, 0, self.shape),
                           0.0)
        self.g = self._fix_stuck(g)
        self._set_nu(np.ones(self.shape, bool))
        self._changed()

    def _fix_stuck(self, g):
        return np.where(self.stuck_low, self.g_lo, np.where(self.stuck_high, self.g_hi, g))

    def _set_nu(self, where):
        if self.device.drift_t is None:
            return
        if not hasattr(self, "nu"):
            self.nu = np.zeros(self.shape)
        mu, sd = dv.pcm_drift_nu(self.g[where], self.device.g_max)
        self.nu[where] = np.abs(mu + sd * self._xi_nu[where])

    def _changed(self):
        self._solver = None
        g = self.g
        if self.device.drift_t is not None:
            g = np.where(self.stuck, g, dv.drift(g, self.nu, self.device.drift_t,
                                                  self.device.drift_t0))
        self.g_read = g

    def conductances(self):
        """``(G+, G-)``, each float [A, N] (S): what a read sees, before read noise."""
        return self.g_read[:, 0::2].copy(), self.g_read[:, 1::2].copy()

    def weights(self):
        """The effective integer weights [A, N]: ``round((G+ - G-) / g_unit)``."""
        gp, gm = self.conductances()
        return self.map.weight(gp, gm)

    # --- read ------------------------------------------------------------------------------

    def _counts(self, axon_counts):
        c = np.asarray(axon_counts)
        if c.dtype.kind not in "iu" or c.shape != (self.n_axons,):
            raise ParamError(f"axon_counts must be an integer array [{self.n_axons}], "
                             f"not {c.dtype} {c.shape}")
        if c.size and c.min() < 0:
            raise ParamError("axon_counts must not be negative")
        return c.astype(np.int64)

    def column_currents(self, step, axon_counts):
        """Charge-equivalent column currents [2N] (A) summed over the step's read phases."""
        c = self._counts(axon_counts)
        total = np.zeros(self.shape[1])
        n_phase = int(c.max()) if c.size else 0
        sig = self.device.read_noise
        for p in range(1, n_phase + 1):
            on = c >= p
            v = np.where(on, self.array.v_read, 0.0)
            if self.array.ideal_wires:
                i_col = ideal_currents(self.g_read, v)
                i_cell = v[:, None] * self.g_read if sig else None
            else:
                if self._solver is None:
                    self._solver = NodalSolver(self.g_read, self.array)
                i_col, v_cell = self._solver.solve(v, on, cell_voltages=bool(sig))
                if sig:
                    a = self.array.sinh_a
                    i_cell = (self.g_read * v_cell if a is None
                              else self.g_read / a * np.sinh(a * v_cell))
            if sig:
                # multiplicative G noise scales each cell's current; exact without wires,
                # first order in sigma with them (its effect on the IR drop is neglected)
                xi = block_normal(self.seed, Purpose.READ, step, self.shape, sub=p)
                i_col = i_col + sig * (xi * i_cell).sum(axis=0)
            total += i_col
        return total

    def a_in(self, step, axon_counts):
        """The signed ADC code per neuron (int64 [N]) for the axon count vector of ``step``."""
        i = self.column_currents(step, axon_counts)
        return self.adc.convert(i[0::2] - i[1::2])

    # --- write -----------------------------------------------------------------------------

    def apply_updates(self, step, updates):
        """Apply the STDP requests ``[(axon, neuron, delta), ...]`` of ``step``."""
        if len(updates) == 0:
            return
        u = np.asarray(updates, dtype=object)
        if u.ndim != 2 or u.shape[1] != 3:
            raise ParamError("updates must be a sequence of (axon, neuron, delta)")
        u = np.array([[int(x) for x in row] for row in updates], np.int64)
        ax, ne, de = u[:, 0], u[:, 1], u[:, 2]
        if ax.min() < 0 or ax.max() >= self.n_axons or ne.min() < 0 \
                or ne.max() >= self.n_neurons:
            raise ParamError(f"an update addresses a synapse outside "
                             f"{self.n_axons} axons x {self.n_neurons} neurons")
        key = ax * self.n_neurons + ne
        occ = np.zeros(len(key), np.int64)          # r-th request for the same pair
        seen = {}
        for i, k in enumerate(key.tolist()):
            occ[i] = seen.get(k, 0)
            seen[k] = occ[i] + 1
        for r in range(int(occ.max()) + 1):
            sel = occ == r
            self._update_round(step, r, ax[sel], ne[sel], de[sel])
            self._changed()        # the next round reads what this one wrote (drift too)

    def _update_round(self, step, r, ax, ne, de):
        """Updates of distinct pairs (vectorised)."""
        kp, km = 2 * ne, 2 * ne + 1
        w_now = self.map.weight(self.g_read[ax, kp], self.g_read[ax, km])
        w_new = np.clip(w_now + de, *self.w_bounds)
        lp0, lm0 = self.map.levels(w_now)
        lp1, lm1 = self.map.levels(w_new)
        rows = np.concatenate([ax, ax])
        cols = np.concatenate([kp, km])
        n = np.concatenate([lp1 - lp0, lm1 - lm0]).astype(float)
        move = (n != 0) & ~self.stuck[rows, cols]
        rows, cols, n = rows[move], cols[move], n[move]
        if rows.size == 0:
            return
        pick = (lambda a: None if a is None else a[rows, cols])
        g = dv.pulse_update(self.g[rows, cols], n, self.g_lo[rows, cols],
                            self.g_hi[rows, cols], pick(self.a_set), pick(self.a_reset),
                            self.map.p_max)
        c2c = self.device.c2c_update
        if c2c:
            xi = block_normal(self.seed, Purpose.UPDATE, step, self.shape, sub=r)[rows, cols]
            span = self.g_hi[rows, cols] - self.g_lo[rows, cols]
            g = np.clip(g + c2c * span * np.sqrt(np.abs(n)) * xi,
                        self.g_lo[rows, cols], self.g_hi[rows, cols])
        self.g[rows, cols] = g
        where = np.zeros(self.shape, bool)
        where[rows, cols] = True
        self._set_nu(where)
