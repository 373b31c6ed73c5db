"""The memristor crossbar as a synapse object of the golden model (SPEC §3.2, §3.7; issue 10).

:class:`CrossbarCoreSynapses` wraps a :class:`~spikefab.sim.crossbar.CrossbarSynapses` (the
physics model) in the :class:`~spikefab.sim.synapses.Synapses` interface, so that a core or a
whole network runs with crossbar cores in the golden model alone::

    from spikefab.sim.crossbar_synapses import CrossbarCoreSynapses, crossbar_factory
    CoreModel(img, synapses=CrossbarCoreSynapses.from_image(img, "rram_neurosim", seed=3))
    NetworkModel(net, synapses=crossbar_factory("pcm_aihwkit", seed=3))

Contract and decisions:

- **Step numbering.** The physics model keys every random draw on the step number. The
  golden model calls ``a_in`` exactly once per step, from step 0 after ``reset()``
  (:class:`~spikefab.sim.synapses.Synapses`), so the adapter counts its ``a_in`` calls: the
  k-th call after ``reset()`` is step k, the number the RTL bench uses. Draws are therefore
  a function of (seed, step), never of the order in which a model asks.
- **Saturation.** ``a_in`` is the ADC code saturated once to the core's ``acc_bits`` signed
  range, as SPEC §3.2 requires of the core's accumulator.
- **Updates.** ``update`` requests (the golden model sends a step's LTD phase, then its LTP
  phase, as two calls) change the digital view :attr:`weights` at once (the integer targets,
  clamped nowhere: a request outside ``weight_range`` is a ``ValueError``, as for the digital
  memory) and are queued; the queue is applied to the devices as **one**
  ``apply_updates(step, requests)`` call, in arrival order, before the next read (``a_in``,
  :meth:`device_weights`, :meth:`conductances`). ``step`` is the step of the last read
  (0 before any), so the LTD and LTP requests of one synapse in one step are its occurrence
  0 and 1 (independent cycle-to-cycle draws) and a device law sees them as two pulse trains.
- **Weights.** :attr:`weights` is the digital view the STDP rule clamps against (the
  programming targets); :meth:`device_weights` is what the devices hold,
  ``round((G+ - G-) / g_unit)``. They are equal when every non-ideality is off.
- ``reset()`` rebuilds the physics model from the initial weights with the same seed: the
  same devices, the same programming noise, step 0.

With preset ``"ideal"``, ``levels - 1 >= 2^(weight_bits - 1)`` and the matched ADC (the
defaults of :meth:`from_image`), a run equals the digital core's bit for bit
(tests/test_crossbar_golden.py).
"""

from dataclasses import replace

import numpy as np

from .crossbar import AdcParams, ArrayParams, CrossbarSynapses, DeviceParams, preset
from .intops import _i64, sat
from .synapses import Synapses


__all__ = ["CrossbarCoreSynapses", "crossbar_factory", "core_seed"]


def core_seed(seed, core):
    """The seed of core ``core`` in a network run with seed ``seed``: distinct per core."""
    return int(np.random.SeedSequence([int(seed), int(core)]).generate_state(1)[0])


def _params(device, array):
    """``(DeviceParams, ArrayParams)`` from a preset name or the objects themselves."""
    if isinstance(device, str):
        dev, arr = preset(device)
        array = arr if array is None else array
        device = dev
    if device is None:
        device = DeviceParams()
    if array is None:
        array = ArrayParams()
    return device, array


class CrossbarCoreSynapses(Synapses):
    """One core's synapses on a memristor crossbar, as a golden-model synapse object.

    Parameters
    ----------
    weights : int array [A, N], inside ``weight_range``
    w_exp : int, 0..7
    acc_bits : int: ``a_in`` is saturated to this signed width
    weight_bits : int, 1..16: the signed weight range mapped onto the devices
    device : DeviceParams, or a preset name (then ``array`` defaults to the preset's)
    array : ArrayParams or None
    adc : AdcParams (default: 24 bits, matched scaling)
    seed : int >= 0
    weight_range : (lo, hi) or None: the range :meth:`update` refuses to leave (default the
        ``weight_bits`` range)
    """

    def __init__(self, weights, w_exp, acc_bits, weight_bits, device=None, array=None,
                 adc=None, seed=0, weight_range=None):
        w = _i64("weights", weights)
        if w.ndim != 2:
            raise ValueError(f"weights must have shape [A, N], got {w.shape}")
        acc_bits = int(acc_bits)
        if acc_bits < 1:
            raise ValueError(f"acc_bits = {acc_bits} must be at least 1")
        self.device, self.array = _params(device, array)
        self.adc = AdcParams() if adc is None else adc
        self.seed, self.w_exp, self.weight_bits = int(seed), int(w_exp), int(weight_bits)
        self.acc_bits = acc_bits
        hi = (1 << (acc_bits - 1)) - 1
        self._lo, self._hi = -hi - 1, hi
        full = (-(1 << (self.weight_bits - 1)), (1 << (self.weight_bits - 1)) - 1)
        self.weight_range = full if weight_range is None else tuple(int(v) for v in
                                                                    weight_range)
        self.axons, self.neurons = w.shape
        self._w0 = w.copy()
        self.reset()

    @classmethod
    def from_image(cls, image, device="ideal", array=None, adc=None, seed=0):
        """The synapses of a :class:`~spikefab.rtl.image.CoreImage` on a crossbar: its
        weights, ``w_exp``, ``acc_bits``, ``weight_bits`` and ``weight_range``. With the
        default ``device="ideal"`` the level count is raised to ``2^(weight_bits-1) + 1``
        when the preset's is too small, so the mapping is exact."""
        p = image.params
        dev, arr = _params(device, array)
        if device == "ideal" and dev.levels - 1 < (1 << (p.weight_bits - 1)):
            dev = replace(dev, levels=(1 << (p.weight_bits - 1)) + 1)
        return cls(image.weights, image.w_exp, p.acc_bits, p.weight_bits, device=dev,
                   array=arr, adc=adc, seed=seed, weight_range=p.weight_range)

    def reset(self):
        self.xbar = CrossbarSynapses(self._w0, self.w_exp, device=self.device,
                                     array=self.array, adc=self.adc, seed=self.seed,
                                     weight_bits=self.weight_bits,
                                     w_bounds=self.weight_range)
        self._w = self._w0.copy()
        self._pending = []
        self.step = 0                  # the step of the next a_in call

    # --- the Synapses interface -------------------------------------------------------------

    @property
    def weights(self):
        v = self._w.view()
        v.flags.writeable = False
        return v

    def a_in(self, counts):
        self._flush()
        code = self.xbar.a_in(self.step, counts)
        self.step += 1
        return sat(code.astype(np.int64), self._lo, self._hi)

    def update(self, axon, neuron, delta):
        axon, neuron, delta = (_i64(k, v).reshape(-1) for k, v in
                               (("axon", axon), ("neuron", neuron), ("delta", delta)))
        if not axon.size == neuron.size == delta.size:
            raise ValueError(f"update: axon, neuron and delta have {axon.size}, {neuron.size} "
                             f"and {delta.size} entries: expected the same number")
        if not axon.size:
            return
        A, N = self._w.shape
        for name, a, n in (("axon", axon, A), ("neuron", neuron, N)):
            if a.min() < 0 or a.max() >= n:
                bad = int(a[(a < 0) | (a >= n)][0])
                raise ValueError(f"update: {name} {bad} is out of range: allowed 0..{n - 1}")
        w = self._w.copy()
        lo, hi = self.weight_range
        for a, n, d in zip(axon.tolist(), neuron.tolist(), delta.tolist()):
            w[a, n] += d
            if not lo <= w[a, n] <= hi:
                raise ValueError(f"update: weight ({a}, {n}) would become {int(w[a, n])}, "
                                 f"outside the weight range {lo}..{hi}")
        self._w = w
        self._pending.extend(zip(axon.tolist(), neuron.tolist(), delta.tolist()))

    # --- the devices -----------------------------------------------------------------------

    def _flush(self):
        if self._pending:
            self.xbar.apply_updates(max(self.step - 1, 0), self._pending)
            self._pending = []

    def device_weights(self):
        """The integer weights the devices hold now (int64 [A, N], pending requests
        applied)."""
        self._flush()
        return self.xbar.weights()

    def conductances(self):
        """``(G+, G-)`` of the devices now (float [A, N] each, S)."""
        self._flush()
        return self.xbar.conductances()


def crossbar_factory(device="ideal", array=None, adc=None, seed=0):
    """A ``synapses=`` argument of :class:`~spikefab.sim.network.NetworkModel`: a function
    ``(core index, CoreImage) -> CrossbarCoreSynapses`` giving every core a crossbar of the
    same parameters and its own seed :func:`core_seed` ``(seed, core)``."""
    def make(c, image):
        return CrossbarCoreSynapses.from_image(image, device=device, array=array, adc=adc,
                                               seed=core_seed(seed, c))
    return make
