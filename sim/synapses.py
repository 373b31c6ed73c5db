"""The synaptic input of a core (SPEC §3.2): the seam between a step's axon events and the
neurons' ``a_in``.

A *synapse object* (a subclass of :class:`Synapses`) holds the synapses of one core. At each
step the golden model gives it the step's axon hits and takes back one signed integer
``a_in`` per neuron; with learning, the STDP rule reads its weights and sends it weight-update
requests ``(axon, neuron, signed delta)``. Everything the core and network models know of the
synapses goes through this interface, so a different synapse technology (the memristor
crossbar of SPEC §3.7) plugs in as another subclass::

    CoreModel(image, synapses=MySynapses(...))
    NetworkModel(image, synapses=[...one per core...])       # or a function (c, CoreImage)

- :class:`Synapses`: the interface (documented on the class).
- :class:`DigitalSynapses`: the digital synapse memory of SPEC §3.2, the default. The one
  implementation of the exact sum saturated once to ``acc_bits``; the pure function
  :func:`~spikefab.sim.golden.synaptic_input` is a thin call into it.
- :class:`DigitalSynapseArray`: the same computation for C digital cores at once (the
  batched path of :class:`~spikefab.sim.network.NetworkModel`), reading the cores' own
  :class:`DigitalSynapses`.

Written from SPEC §3.2 only, never from the RTL.
"""

import numpy as np

from .intops import _i64, sat


__all__ = ["Synapses", "DigitalSynapses", "DigitalSynapseArray"]

_F32_EXACT = 1 << 24
_F64_EXACT = 1 << 53


class Synapses:
    """The synaptic input of one core: the interface every synapse object implements.

    A core's model (:class:`~spikefab.sim.golden.CoreModel`) calls, at each step, exactly
    one of :meth:`a_in` or :meth:`a_in_ids`, then (with learning, after the neuron update)
    reads :attr:`weights` for the STDP rule and sends the resulting changes to
    :meth:`update`. :meth:`reset` is called by the model's ``reset()`` (and at the model's
    construction).

    Attributes
    ----------
    axons : int
        A, the number of axons (the crossbar's rows).
    neurons : int
        N, the number of neurons (the crossbar's columns).

    Contract
    --------
    ``a_in(counts)``
        ``counts``: int64 array [A], the number of events that reached each axon at this
        step (0 for an idle axon; an axon hit k times has count k, SPEC §3.2). The caller
        has checked it (shape, ``>= 0``, at most ``max_step_events`` in all) and may change
        it after the call: the object must not keep it. Returns an int64 array [N] (a new
        array, not kept by the object): one signed integer per neuron, inside the core's
        ``acc_bits`` signed range (the model checks the shape, the type and the range of what
        any object but a :class:`DigitalSynapses` proper returns, subclasses included, and
        raises ``ValueError`` naming the step and the neuron otherwise). May change the
        object's internal state (a read-noise generator, for example), never :attr:`weights`.
    ``a_in_ids(axon_ids)``
        The same from a list of axon ids (int64 [K], each in ``0..A-1``, checked by the
        caller; a repeated id counts again). The base class counts them and calls
        :meth:`a_in`; a subclass may do better.
    ``weights``
        int64 array [A, N], read only: the signed integer weights, inside the core's
        ``weight_range``. The STDP rule reads it to clamp its updates (SPEC §3.5), the host
        reads it as the learned weights, traces record it. For a crossbar it is the
        digital view of the programmed array (the targets of the programming requests), not
        the conductances.
    ``update(axon, neuron, delta)``
        Weight-update requests, three int64 arrays of one length: add ``delta[i]`` to the
        weight of ``(axon[i], neuron[i])``, in list order. After each step's STDP update the
        golden model sends the changes of the two phases of SPEC §3.5 separately, as the
        hardware's STDP engine makes them (two read-modify-writes; an analog port emits
        each as its own request): first one call with the LTD phase's changes (the rows of
        the plastic axons hit at the step), then one call with the LTP phase's changes (the
        columns of the neurons that spiked), each call in (axon, neuron) order, one request
        per synapse whose weight that phase changed (no zero ``delta``; no call for a phase
        that changed nothing). A synapse touched by both phases gets two requests, LTD
        first: a non-linear device law answers one net request differently from two. A
        request never takes a weight outside ``weight_range``. The object applies them (a
        crossbar turns them into programming pulses); afterwards :attr:`weights` shows them.
        (:class:`DigitalSynapses` itself is given the new weights directly, which is the
        same result; a subclass of it gets the requests.)
    ``reset()``
        Back to the initial weights (and any internal state to its initial value).
    """

    axons = 0
    neurons = 0

    def a_in(self, counts):
        raise NotImplementedError(f"{type(self).__name__} does not implement a_in(counts)")

    def a_in_ids(self, axon_ids):
        counts = np.bincount(axon_ids, minlength=self.axons).astype(np.int64, copy=False)
        return self.a_in(counts)

    @property
    def weights(self):
        raise NotImplementedError(f"{type(self).__name__} does not implement weights")

    def update(self, axon, neuron, delta):
        raise NotImplementedError(f"{type(self).__name__} does not implement "
                                  f"update(axon, neuron, delta)")

    def reset(self):
        raise NotImplementedError(f"{type(self).__name__} does not implement reset()")


def _acc_range(acc_bits):
    acc_bits = int(acc_bits)
    if acc_bits < 1:
        raise ValueError(f"acc_bits = {acc_bits} must be at least 1")
    hi = (1 << (acc_bits - 1)) - 1
    return -hi - 1, hi


def _exact_sum(counts, w, wmax, cache, events=None):
    """Exact ``sum_a counts[..., a] * w[..., a, :]`` as int64 [..., N] (SPEC §3.2's sum
    before the shift and the saturation).

    ``counts`` int64 [A] or [C, A] (>= 0), ``w`` int64 [A, N] or [C, A, N], ``wmax`` =
    ``max |w|``; ``cache`` a dict for the float copies of ``w`` (made when first needed), or
    None for no float path; ``events``, if given, ``counts.sum(axis=-1)``. Every product
    and every partial sum of one output is an integer of magnitude at most
    ``sum(counts) * max|w|``: below 2**24 float32 represents all of them exactly, below
    2**53 float64 does, so the (BLAS) floating-point product is exact whatever its
    summation order. Otherwise the integer product is used.
    """
    one = counts.ndim == 1
    if cache is not None:
        if events is None:
            events = counts.sum(axis=-1)
        n = int(events) if one else int(events.max(initial=0))
        bound = n * wmax
        dtype = np.float32 if bound < _F32_EXACT else np.float64 if bound < _F64_EXACT else None
        if dtype is not None:
            wf = cache.get(dtype)
            if wf is None:
                wf = cache[dtype] = w.astype(dtype)
            cf = counts.astype(dtype)
            r = cf @ wf if one else np.matmul(cf[:, None, :], wf)[:, 0, :]
            return r.astype(np.int64)
    if one:
        nz = np.flatnonzero(counts)
        if nz.size == 0:
            return np.zeros(w.shape[-1], np.int64)
        return counts[nz] @ w[nz]                  # integer matmul: exact, no BLAS
    return np.matmul(counts[:, None, :], w)[:, 0, :]


class DigitalSynapses(Synapses):
    """The digital synapse memory of one core (SPEC §3.2): signed integer weights
    ``w[a, n]`` and the core's shift ``w_exp``.

    ``a_in[n] = sat_acc(sum over the step's events a of (w[a, n] << w_exp))``: the sum is
    exact (wide enough never to overflow), then saturated once to ``acc_bits`` signed. See
    :class:`Synapses` for the interface.

    Parameters
    ----------
    weights : int array [A, N]
        The initial weights (copied).
    w_exp : int, >= 0
    acc_bits : int, >= 1
    weight_range : (lo, hi) or None
        The range a weight may take; :meth:`update` refuses to leave it. None: no limit.

    The sum runs in floating point when that is exact by a bound (see :func:`_exact_sum`;
    the float copy of the weights is made when first needed and dropped by :meth:`update`,
    after which the integer product is used until :meth:`reset`).
    """

    def __init__(self, weights, w_exp, acc_bits, weight_range=None):
        w = _i64("weights", weights)
        if w.ndim != 2:
            raise ValueError(f"weights must have shape [A, N], got {w.shape}")
        w_exp = int(w_exp)
        if w_exp < 0:
            raise ValueError(f"w_exp = {w_exp} must not be negative")
        self.w_exp = w_exp
        self.acc_bits = int(acc_bits)
        self._lo, self._hi = _acc_range(acc_bits)
        self.weight_range = None if weight_range is None else tuple(int(v) for v in weight_range)
        self.axons, self.neurons = w.shape
        self._w0 = w.copy()
        self.version = 0            # changes whenever the weights may have changed
        self.reset()

    @classmethod
    def from_image(cls, image):
        """The synapses of a :class:`~spikefab.rtl.image.CoreImage`: its weights and
        ``w_exp``, its parameters' ``acc_bits`` and ``weight_range``."""
        p = image.params
        return cls(image.weights, image.w_exp, p.acc_bits, p.weight_range)

    def reset(self):
        self._w = self._w0.copy()
        self._wmax = int(np.abs(self._w).max()) if self._w.size else 0
        self._cache = {}
        self.version += 1

    @property
    def weights(self):
        v = self._w.view()
        v.flags.writeable = False
        return v

    def _saturate(self, total):
        return sat(total * (1 << self.w_exp), self._lo, self._hi)

    def a_in(self, counts):
        return self._saturate(_exact_sum(counts, self._w, self._wmax, self._cache))

    def a_in_ids(self, axon_ids):
        ev = axon_ids
        if ev.size == 0:
            return np.zeros(self.neurons, np.int64)
        if ev.size * 4 < self.axons:          # few events: add their rows
            return self._saturate(self._w[ev].sum(axis=0, dtype=np.int64))
        return self.a_in(np.bincount(ev, minlength=self.axons).astype(np.int64, copy=False))

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
        keys = axon * N + neuron
        if keys.size > 1 and not (keys[1:] > keys[:-1]).all():
            # not in strictly increasing order: requests to one synapse may repeat, add them
            keys, inv = np.unique(keys, return_inverse=True)
            d = np.zeros(keys.size, np.int64)
            np.add.at(d, inv.reshape(-1), delta)
            delta = d
        flat = self._w.reshape(-1)
        new = flat[keys] + delta
        if self.weight_range is not None:
            lo, hi = self.weight_range
            if new.min() < lo or new.max() > hi:
                i = int(np.flatnonzero((new < lo) | (new > hi))[0])
                a, n = divmod(int(keys[i]), N)
                raise ValueError(f"update: weight ({a}, {n}) would become {int(new[i])}, "
                                 f"outside the weight range {lo}..{hi}")
        flat[keys] = new
        self._cache = None                    # integer product from now on (see class doc)
        self.version += 1


    def _store(self, weights):
        """Replace the weights by ``weights`` (int64 [A, N], inside ``weight_range``, not
        kept by the caller): what applying the requests of ``weights - self.weights`` with
        :meth:`update` does, without making them. The golden model's STDP path for this
        class (``stdp_step`` has checked the range)."""
        self._w = weights
        self._cache = None
        self.version += 1


class DigitalSynapseArray:
    """:meth:`DigitalSynapses.a_in` of C cores in one batched computation.

    Reads the cores' own :class:`DigitalSynapses` (``cores``, one per core, sharing
    ``acc_bits``): it stacks their weights into one [C, A, N] array, made again whenever a
    core's synapses change (their ``version``). ``a_in(counts, events=None)`` takes int64
    [C, A] (and, if the caller has them, the events per core ``counts.sum(axis=1)``) and
    returns int64 [C, N], equal row by row to ``cores[c].a_in(counts[c])``.
    """

    def __init__(self, cores):
        cores = list(cores)
        if not cores or any(type(s) is not DigitalSynapses for s in cores):
            raise TypeError("DigitalSynapseArray needs one or more DigitalSynapses")
        if len({s.acc_bits for s in cores}) != 1 or len({s._w.shape for s in cores}) != 1:
            raise ValueError("the cores of a DigitalSynapseArray must share acc_bits and the "
                             "shape of their weights")
        self.cores = cores
        self._lo, self._hi = cores[0]._lo, cores[0]._hi
        self._versions = None

    def _refresh(self):
        cores = self.cores
        self._w = np.stack([s._w for s in cores])
        self._wmax = max(s._wmax for s in cores)
        # float copies only while no core was updated (as DigitalSynapses does)
        self._cache = {} if all(s._cache is not None for s in cores) else None
        self._mul = np.array([1 << s.w_exp for s in cores], np.int64)[:, None]
        self._versions = [s.version for s in cores]

    def a_in(self, counts, events=None):
        if [s.version for s in self.cores] != self._versions:
            self._refresh()
        total = _exact_sum(counts, self._w, self._wmax, self._cache, events)
        return sat(total * self._mul, self._lo, self._hi)
