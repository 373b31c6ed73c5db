"""The golden model of a many-core array (SPEC §3.1, §3.2, §3.6; docs/network_golden.md).

:class:`NetworkModel` runs a :class:`~spikefab.rtl.netimage.NetworkImage`: one
:class:`~spikefab.sim.golden.CoreModel` per core, connected by the routing tables.

Semantics (steps t = 0, 1, 2, ...). At step t core c integrates, exactly as
``CoreModel.step`` at its own step t, the multiset of axon events made of

- every external input spike given for step t addressed to ``(c, axon)``;
- every routed spike: when neuron n of core c' fires at step s, each non-exit entry
  ``(x, y, axon, d)`` of n's fan-out list delivers one event to ``axon`` of core ``(x, y)`` at
  step ``s + d`` (an axon hit k times counts k times).

Each exit entry of a neuron that fires at step s gives one external-output record
``(s, x_src, y_src, n)``, ``(x_src, y_src)`` being the firing neuron's core (two exit entries,
two records). More than ``params.max_step_events`` events for one core at one step is a
``ValueError`` naming the step, the core and the count. Nothing depends on packet order: the
model keeps per-(step, core, axon) event counts.

Synaptic input. Each core's synaptic input is a synapse object
(:class:`~spikefab.sim.synapses.Synapses`; by default the core's digital synapse memory,
:class:`~spikefab.sim.synapses.DigitalSynapses`), the same object its
:class:`~spikefab.sim.golden.CoreModel` uses: ``NetworkModel(image, synapses=...)`` plugs in
other ones.

Implementation. The routing tables are compiled into one CSR table over global neurons
``k = core * N + n`` (``_rptr``, and per entry a key ``(delay - 1) * C * A + core * A + axon``);
events wait in a ring buffer of counts ``[max_delay + 1, C * A]``. Without learning, when
every core has the digital synapse memory (:class:`~spikefab.sim.synapses.DigitalSynapses`),
the run is the event-driven engine (:mod:`~spikefab.sim.event_driven`): one compiled loop
over the steps that adds only the synapse rows of the axons hit, skips the cores at rest
where that is exact, and walks only the fan-out of the neurons that fired. Otherwise, and
always with ``reference=True``, the straightforward numpy path runs: without learning the
cores are stepped together (the synaptic input of every core, one batched product of the
stacked digital weights, :class:`~spikefab.sim.synapses.DigitalSynapseArray`, when every
core has digital synapses, else each core's synapse object in turn; then the pure per-step
function of the golden model, :func:`~spikefab.sim.golden.cuba_step` or
:func:`~spikefab.sim.golden.shift_step`, on ``[C, N]`` arrays); with learning each core is
stepped by its own :meth:`CoreModel.step_counts` (the STDP update is per core). All paths
compute the same numbers: the test suite checks them against each other at every step and
against a per-event loop over :class:`CoreModel`.
"""

from dataclasses import dataclass, field

import numpy as np

from spikefab.rtl.netimage import NetworkImage

from .event_driven import Engine, engine_supports
from .golden import CoreModel, cuba_step, shift_step
from .synapses import DigitalSynapseArray, DigitalSynapses, Synapses
from .trace import Trace


__all__ = ["NetworkModel", "StepResult", "NetworkRun", "encode_network_inputs",
           "decode_network_inputs"]


@dataclass
class StepResult:
    """What one step of a :class:`NetworkModel` produced.

    Attributes
    ----------
    spikes : bool ndarray [C, N]
        The spikes of the step, per core (index ``y * width + x``) and neuron.
    outputs : list of (step, x, y, neuron)
        External-output records (one per exit entry of each neuron that fired), sorted by
        (core index, neuron).
    events : int64 ndarray [C]
        Input events each core integrated at this step (routed and external).
    packets : int
        Routed (non-exit) packets emitted at this step.
    """
    spikes: np.ndarray
    outputs: list
    events: np.ndarray
    packets: int


@dataclass
class NetworkRun:
    """The result of :meth:`NetworkModel.run`.

    Attributes
    ----------
    trace : Trace
        ``spikes``, ``u`` (``i`` for ``shift``), ``v`` of shape [T, C * N] (global neuron
        ``k = core * N + neuron``), and the extras (see :meth:`NetworkModel.run`).
    outputs : list of (step, x, y, neuron)
        External-output records, sorted by (step, core index, neuron), one per exit entry.
    packets : int64 ndarray [T]
        Routed (non-exit) packets emitted at each step.
    """
    trace: Trace
    outputs: list = field(default_factory=list)
    packets: np.ndarray = None


def _as_pairs(where, value, C, A):
    """``value`` (an iterable of (core, axon)) as an int64 array [K, 2], validated."""
    if isinstance(value, np.ndarray):
        a = value
    else:
        try:
            items = list(value)
        except TypeError:
            raise ValueError(f"{where}: inputs must be a sequence of (core, axon) pairs, "
                             f"not {value!r}") from None
        if not items:
            return np.zeros((0, 2), np.int64)
        try:
            a = np.asarray(items)
        except ValueError:
            raise ValueError(f"{where}: inputs must be (core, axon) pairs, got "
                             f"{items!r}") from None
    if a.size == 0:
        return np.zeros((0, 2), np.int64)
    if a.ndim != 2 or a.shape[1] != 2:
        raise ValueError(f"{where}: inputs must be (core, axon) pairs (shape [K, 2]), got "
                         f"shape {a.shape}")
    if a.dtype.kind not in "iu":
        raise ValueError(f"{where}: core and axon must be integers, not {a.dtype} "
                         f"({a[0].tolist()!r})")
    a = a.astype(np.int64)
    core, axon = a[:, 0], a[:, 1]
    bad = np.flatnonzero((core < 0) | (core >= C))
    if bad.size:
        raise ValueError(f"{where}: core index {int(core[bad[0]])} is out of range: allowed "
                         f"0..{C - 1}")
    bad = np.flatnonzero((axon < 0) | (axon >= A))
    if bad.size:
        i = bad[0]
        raise ValueError(f"{where}: axon {int(axon[i])} (core {int(core[i])}) is out of range: "
                         f"allowed 0..{A - 1}")
    return a


class NetworkModel:
    """A many-core array run from a :class:`NetworkImage` (SPEC §3.1, §3.2, §3.6).

    Parameters
    ----------
    image : NetworkImage
    synapses : None, list or callable
        The synaptic input of each core (:class:`~spikefab.sim.synapses.Synapses`): None
        (the default) for every core's digital synapse memory; a list of one object per core
        (index ``y * width + x``, a distinct object each); or a function ``(core index,
        CoreImage) -> Synapses`` called once per core. See :class:`CoreModel`.
    reference : bool
        False (the default): runs without learning on digital synapses use the event-driven
        engine (:mod:`~spikefab.sim.event_driven`). True: always the straightforward numpy
        path (the reference the engine is tested against; same results, slower).

    Attributes
    ----------
    image : NetworkImage
    mesh : MeshParams
    params : CoreParams
        Shared by every core.
    cores : list of CoreModel
        One per core, index ``y * width + x``; their ``state``, ``t``, ``synapses`` (and,
        with learning, traces) follow the array's. A change made to a core's ``state``
        between steps is taken into account, and so is a weight update sent to a core's
        ``synapses`` (``cores[c].synapses.update(...)``).
    t : int
        The index of the next step.
    """

    def __init__(self, image, synapses=None, reference=False):
        if not isinstance(image, NetworkImage):
            raise TypeError(f"image must be a NetworkImage, not {type(image).__name__}")
        self.image = image
        self.mesh = image.mesh
        self.params = image.params
        self.reference = bool(reference)
        self._cores = [CoreModel(img, synapses=s, reference=reference)
                       for img, s in zip(image.cores, self._synapse_objects(synapses))]
        self._batched = not self.params.learning
        self._compile_routes()
        if self._batched:
            self._compile_cores()
        self._engine = None
        if not self.reference and engine_supports(self.params,
                                                  [m.synapses for m in self._cores]):
            CA = self.mesh.cores * self.params.axons
            self._engine = Engine(self.params, [m.neuron_params for m in self._cores],
                                  [m.synapses for m in self._cores], self._rptr,
                                  self._rkey // CA + 1, self._rkey % CA, self._n_exit,
                                  self._slots)
        self.reset()

    @property
    def model(self):
        return self.params.model

    # --- set-up ----------------------------------------------------------------------------

    def _compile_routes(self):
        mp, p = self.mesh, self.params
        C, N, A, D = mp.cores, p.neurons, p.axons, p.max_delay
        CA = C * A
        owners, keys, n_exit = [], [], np.zeros(C * N, np.int64)
        for c, rt in enumerate(self.image.routes):
            cnt = rt.count.astype(np.int64)
            total = int(cnt.sum())
            if total == 0:
                continue
            offs = np.cumsum(cnt) - cnt
            idx = np.repeat(rt.base.astype(np.int64) - offs, cnt) + np.arange(total)
            owner = np.repeat(np.arange(N, dtype=np.int64), cnt) + c * N
            e = rt.entries
            ex = e["exit"][idx] != 0
            n_exit += np.bincount(owner[ex], minlength=C * N)
            keep = ~ex
            idx = idx[keep]
            dst = e["y"][idx] * mp.width + e["x"][idx]
            keys.append((e["delay"][idx] - 1) * CA + dst * A + e["axon"][idx])
            owners.append(owner[keep])
        owner = np.concatenate(owners) if owners else np.zeros(0, np.int64)
        key = np.concatenate(keys) if keys else np.zeros(0, np.int64)
        # owners are non-decreasing already (cores in order, neurons in order within a core)
        self._rcount = np.bincount(owner, minlength=C * N).astype(np.int64)
        self._rptr = np.zeros(C * N + 1, np.int64)
        np.cumsum(self._rcount, out=self._rptr[1:])
        self._rkey = key
        self._n_exit = n_exit
        self._slots = D + 1                      # ring: step t reads slot t % (D + 1)

    def _synapse_objects(self, synapses):
        """One synapse object (or None: the core's digital memory) per core."""
        C = self.mesh.cores
        if synapses is None:
            return [None] * C
        if callable(synapses):
            objs = [synapses(c, img) for c, img in enumerate(self.image.cores)]
        elif isinstance(synapses, (list, tuple)):
            objs = list(synapses)
        else:
            raise TypeError(f"synapses must be a list of Synapses objects (one per core) or a "
                            f"function (core index, CoreImage) -> Synapses, not "
                            f"{type(synapses).__name__}")
        if len(objs) != C:
            raise ValueError(f"synapses has {len(objs)} objects, the mesh {C} cores: expected "
                             f"one per core")
        for c, s in enumerate(objs):
            if not isinstance(s, Synapses):
                raise TypeError(f"synapses of core {c} must be a Synapses object (see "
                                f"spikefab.sim.synapses), not {type(s).__name__}")
        if len({id(s) for s in objs}) != C:
            raise ValueError("synapses: the same object is given for two cores: each core "
                             "needs its own")
        return objs

    def _compile_cores(self):
        """Stacked per-core data for the batched path (no learning)."""
        cores = self._cores
        self._params = {k: np.stack([m.neuron_params[k] for m in cores])
                        for k in cores[0].neuron_params}
        # the cores' digital synapses in one batched product; other synapse objects are
        # asked core by core
        digital = all(type(m.synapses) is DigitalSynapses for m in cores)
        self._syn_array = DigitalSynapseArray([m.synapses for m in cores]) if digital else None

    def reset(self):
        """Every core back to its image's initial state (and weights, traces), no event
        pending, step 0."""
        for m in self._cores:
            m.reset()
        C, A = self.mesh.cores, self.params.axons
        self._pend = np.zeros((self._slots, C * A), np.int64)
        self.t = 0
        if self._batched:
            self._state = {k: np.stack([m.state[k] for m in self._cores])
                           for k in self._cores[0].state}
            self._views = None
        self._cores_live = True
        self._sync_out()

    # --- cores: views of the batched state -------------------------------------------------

    @property
    def cores(self):
        if self._batched and not self._cores_live:
            self._sync_out()
            self._cores_live = True
        return self._cores

    def _sync_out(self):
        if not self._batched:
            return
        views = []
        for c, m in enumerate(self._cores):
            st = {k: v[c] for k, v in self._state.items()}
            m.state = st
            m.t = self.t
            views.append((st, dict(st)))
        self._views = views

    def _sync_in(self):
        """Take a change a user made to a core's state (through :attr:`cores`) into
        account."""
        if not self._cores_live:
            return
        for m, (st, arrays) in zip(self._cores, self._views):
            if m.state is not st or any(st.get(k) is not a for k, a in arrays.items()) \
                    or len(st) != len(arrays):
                break
        else:
            self._cores_live = False         # only in-place changes: the views share memory
            return
        names = list(self._state)
        for c, m in enumerate(self._cores):
            if set(m.state) != set(names):
                raise ValueError(f"core {c}: state has variables {sorted(m.state)}, expected "
                                 f"{sorted(names)}")
        self._state = {k: np.stack([np.asarray(m.state[k], np.int64) for m in self._cores])
                       for k in names}
        self._cores_live = False

    # --- one step --------------------------------------------------------------------------

    def _check_events(self, events):
        lim = self.params.max_step_events
        if events.size and events.max() > lim:
            c = int(np.flatnonzero(events > lim)[0])
            x, y = self.mesh.core_xy(c)
            raise ValueError(f"step {self.t}: core ({x}, {y}) (index {c}) would integrate "
                             f"{int(events[c])} input events, more than max_step_events = "
                             f"{lim} (the hardware accumulator is exact only up to that many)")

    def _synaptic_inputs(self, counts, events):
        """This step's ``a_in`` of every core, int64 [C, N], from the counts [C, A] (and
        ``events``, their sums per core)."""
        if self._syn_array is not None:
            return self._syn_array.a_in(counts, events)
        return np.stack([m._a_in_counts(counts[c]) for c, m in enumerate(self._cores)])

    def _step(self, ext_ids=None, ext_counts=None):
        """One step with external input given as global axon ids ``core * A + axon``
        (int64, repeats count again) or as int64 [C * A] counts (or neither). Returns
        ``(spikes bool [C, N], events int64 [C], fired global indices, packets)``; nothing
        changes if it raises."""
        mp, p = self.mesh, self.params
        C, A = mp.cores, p.axons
        t = self.t
        slot = t % self._slots
        counts = self._pend[slot]
        if ext_counts is not None:
            counts = counts + ext_counts
        elif ext_ids is not None and ext_ids.size:
            counts = counts.copy()
            np.add.at(counts, ext_ids, 1)
        counts = counts.reshape(C, A)
        events = counts.sum(axis=1)
        self._check_events(events)
        if self._batched:
            self._sync_in()
            a_in = self._synaptic_inputs(counts, events)
            stepf = cuba_step if p.model == "cuba" else shift_step
            self._state, s = stepf(self._state, self._params, a_in)
        else:
            s = np.stack([m.step_counts(counts[c]) for c, m in enumerate(self._cores)])
        self._pend[slot] = 0
        fired = np.flatnonzero(s.reshape(-1))
        packets = 0
        if fired.size:
            lens = self._rcount[fired]
            packets = int(lens.sum())
            if packets:
                starts = self._rptr[fired]
                offs = np.cumsum(lens) - lens
                idx = np.repeat(starts - offs, lens) + np.arange(packets)
                D = p.max_delay
                inc = np.bincount(self._rkey[idx], minlength=D * C * A).reshape(D, C * A)
                self._pend[(t + 1 + np.arange(D)) % self._slots] += inc
        self.t = t + 1
        if self._batched:
            self._cores_live = False
        return s, events, fired, packets

    def _engine_run(self, T, ext_ptr, ext_ids, progress=False):
        """T steps on the event-driven engine (:mod:`~spikefab.sim.event_driven`); returns
        its output arrays (:meth:`Engine.run`). A step that would exceed
        ``max_step_events`` raises as :meth:`_step` does, every step before it done."""
        self._sync_in()
        p, C, N = self.params, self.mesh.cores, self.params.neurons
        uname = "u" if p.model == "cuba" else "i"
        rec = "refr_cnt" in self._state
        eng = self._engine
        out = eng.new_out(T, rec)
        st = (self._state[uname], self._state["v"],
              self._state["refr_cnt"] if rec else np.zeros(C * N, np.int64))
        chunk = max(1, -(-T // 100)) if progress else max(T, 1)
        bar = None
        if progress:
            from tqdm import tqdm
            bar = tqdm(total=T, desc="golden network", unit="step")
        t0, lo = self.t, 0
        try:
            while lo < T:
                hi = min(T, lo + chunk)
                done, bad = eng.run(t0, st, self._pend, ext_ptr, ext_ids, out, lo, hi)
                if done > lo:
                    st = (out["u"][done - 1], out["v"][done - 1],
                          out["cnt"][done - 1 if rec else 0])
                if done < hi:
                    self._set_state(uname, st, rec)
                    self.t = t0 + done
                    self._check_events(out["events"][done])
                if bar is not None:
                    bar.update(hi - lo)
                lo = hi
        finally:
            if bar is not None:
                bar.close()
        self._set_state(uname, st, rec)
        self.t = t0 + T
        return out

    def _set_state(self, uname, st, rec):
        C, N = self.mesh.cores, self.params.neurons
        new = {uname: st[0], "v": st[1]}
        if rec:
            new["refr_cnt"] = st[2]
        self._state = {k: np.array(new[k], np.int64).reshape(C, N) for k in self._state}
        self._cores_live = False

    def _records(self, t, fired):
        if not fired.size:
            return []
        nx = self._n_exit[fired]
        ks = np.repeat(fired, nx)
        if not ks.size:
            return []
        N, W = self.params.neurons, self.mesh.width
        c, n = np.divmod(ks, N)
        y, x = np.divmod(c, W)
        return [(t, int(a), int(b), int(k)) for a, b, k in zip(x, y, n)]

    def _ext_ids(self, where, pairs):
        """Validated global axon ids ``core * A + axon`` of one step's external input."""
        a = _as_pairs(where, pairs, self.mesh.cores, self.params.axons)
        return a[:, 0] * self.params.axons + a[:, 1]

    def _ext_ids_all(self, inputs):
        """:meth:`_ext_ids` of every step of ``inputs`` (a list), converted in one go when
        the whole input is well formed, else step by step (for the error message)."""
        C, A = self.mesh.cores, self.params.axons
        steps = [x if hasattr(x, "__len__") else list(x) for x in inputs]
        try:
            lens = [len(x) for x in steps]
            rows = [r for x in steps for r in x]
            flat = np.array(rows) if rows else np.zeros((0, 2), np.int64)
        except (TypeError, ValueError):
            flat = None
        if (flat is not None and flat.ndim == 2 and flat.shape[1] == 2
                and flat.dtype.kind in "iu"):
            flat = flat.astype(np.int64)
            c, a = flat[:, 0], flat[:, 1]
            if not ((c < 0) | (c >= C) | (a < 0) | (a >= A)).any():
                g = c * A + a
                ptr = np.zeros(len(lens) + 1, np.int64)
                np.cumsum(lens, out=ptr[1:])
                return [g[ptr[t]:ptr[t + 1]] for t in range(len(lens))]
        return [self._ext_ids(f"step {self.t + t}", x) for t, x in enumerate(steps)]

    def step(self, ext_inputs=()):
        """Advance one step. ``ext_inputs``: the external input spikes of this step, an
        iterable of ``(core_index, axon)`` (a pair given k times counts k times). Returns a
        :class:`StepResult`."""
        t = self.t
        ext = self._ext_ids(f"step {t}", ext_inputs)
        if self._engine is not None:
            out = self._engine_run(1, np.array([0, ext.size], np.int64), ext)
            s, events, packets = out["spikes"][0], out["events"][0], int(out["packets"][0])
            fired = np.flatnonzero(s)
        else:
            s, events, fired, packets = self._step(ext_ids=ext)
        return StepResult(spikes=s.astype(bool).reshape(self.mesh.cores, self.params.neurons),
                          outputs=self._records(t, fired), events=events.astype(np.int64),
                          packets=packets)

    # --- runs ------------------------------------------------------------------------------

    def run(self, inputs=None, steps=None, progress=False):
        """Run ``steps`` steps and return a :class:`NetworkRun`.

        ``inputs``: None, a list (one entry per step) of sequences of ``(core_index, axon)``,
        or an int array [T, C, A] of per-(core, axon) hit counts. ``steps`` defaults to the
        number of input steps; more steps get no input; fewer is a ``ValueError`` (inputs are
        never dropped). Consecutive calls continue from the current state.

        The trace holds, for each step, the spikes and the state after the step's update, for
        global neuron ``k = core * N + neuron``: ``spikes``, ``u`` (``i`` for ``shift``) and
        ``v`` [T, C * N]; extras: every other state variable (``refr_cnt``) [T, C * N];
        ``ext_out`` [T, C * N], the external-output records of each neuron; ``events``
        [T, C], the input events each core integrated; with learning, after each step's STDP
        update, ``weights`` [T, C, A, N], ``x`` [T, C, A] and ``y`` [T, C * N].
        """
        mp, p = self.mesh, self.params
        C, N, A = mp.cores, p.neurons, p.axons
        counts = None
        if inputs is None:
            n_in = 0
        elif isinstance(inputs, np.ndarray) and inputs.ndim == 3:
            if inputs.dtype.kind not in "iu":
                raise ValueError(f"inputs must hold integer hit counts, not {inputs.dtype}")
            if inputs.shape[1:] != (C, A):
                raise ValueError(f"inputs has shape {inputs.shape}, expected [T, {C}, {A}] "
                                 f"(per-(core, axon) hit counts)")
            counts = inputs.astype(np.int64)
            if counts.size and counts.min() < 0:
                t, c, a = (int(i) for i in np.argwhere(counts < 0)[0])
                raise ValueError(f"step {self.t + t}: inputs[{t}, {c}, {a}] = "
                                 f"{int(counts[t, c, a])} is negative: allowed 0 or more")
            n_in = counts.shape[0]
        else:
            if isinstance(inputs, (str, bytes)) or not hasattr(inputs, "__iter__"):
                raise ValueError(f"inputs must be a list (one entry per step) of (core, axon) "
                                 f"pairs, not {inputs!r}")
            inputs = list(inputs)
            n_in = len(inputs)
        T = n_in if steps is None else steps
        if isinstance(T, bool) or not isinstance(T, (int, np.integer)):
            raise ValueError(f"steps must be an integer, not {steps!r}")
        T = int(T)
        if T < 0:
            raise ValueError(f"steps = {T} must not be negative")
        if T < n_in:
            raise ValueError(f"steps = {T} is less than the {n_in} steps of inputs: inputs "
                             f"are never dropped")
        # validate every step's input before running any step
        ext_ids = ext_counts = None
        if counts is not None:
            ext_counts = counts.reshape(n_in, C * A)
        elif n_in:
            ext_ids = self._ext_ids_all(inputs)
        if self._engine is not None:
            return self._run_engine(T, n_in, ext_counts, ext_ids, progress)

        spikes = np.zeros((T, C * N), np.uint8)
        uname = "u" if p.model == "cuba" else "i"
        names = list(self._state if self._batched else self._cores[0].state)
        extra_names = [k for k in names if k not in (uname, "v")]
        state = {k: np.zeros((T, C * N), np.int64) for k in names}
        extra = {k: state[k] for k in extra_names}
        ext_out = np.zeros((T, C * N), np.int64)
        events = np.zeros((T, C), np.int64)
        packets = np.zeros(T, np.int64)
        learning = p.learning
        if learning:
            wtr = np.zeros((T, C, A, N), np.int64)
            xtr = np.zeros((T, C, A), np.int64)
            ytr = np.zeros((T, C * N), np.int64)
            extra.update(weights=wtr, x=xtr, y=ytr)
        extra.update(ext_out=ext_out, events=events)
        t0 = self.t
        it = range(T)
        if progress:
            from tqdm import tqdm
            it = tqdm(it, desc="golden network", unit="step")
        n_exit = self._n_exit
        has_exit = n_exit > 0
        rows = [(state[k], k) for k in names]
        for t in it:
            if t >= n_in:
                s, ev, fired, pk = self._step()
            elif ext_counts is not None:
                s, ev, fired, pk = self._step(ext_counts=ext_counts[t])
            else:
                s, ev, fired, pk = self._step(ext_ids=ext_ids[t])
            spikes[t] = s.reshape(-1)
            if self._batched:
                for arr, k in rows:
                    arr[t] = self._state[k].reshape(-1)
            else:
                for arr, k in rows:
                    arr[t] = np.concatenate([m.state[k] for m in self._cores])
            events[t] = ev
            packets[t] = pk
            if fired.size:
                fx = fired[has_exit[fired]]
                if fx.size:
                    ext_out[t, fx] = n_exit[fx]
            if learning:
                for c, m in enumerate(self._cores):
                    wtr[t, c] = m.weights
                    xtr[t, c] = m.x
                    ytr[t, c * N:(c + 1) * N] = m.y
        # the output records, from ext_out: nonzero() is in (step, global neuron) order
        ts, ks = np.nonzero(ext_out)
        return self._finish(t0, spikes, state, uname, extra, ext_out, ts, ks, packets)

    def _run_engine(self, T, n_in, ext_counts, ext_ids, progress):
        """:meth:`run` on the event-driven engine (the same result as the reference path)."""
        p = self.params
        # the external events as one CSR table over the steps (global axon ids)
        ptr = np.zeros(T + 1, np.int64)
        if ext_counts is not None:
            ts, gs = np.nonzero(ext_counts)
            reps = ext_counts[ts, gs]
            ids = np.repeat(gs, reps).astype(np.int64)
            ptr[1:n_in + 1] = np.cumsum(np.bincount(ts, weights=reps, minlength=n_in)
                                        .astype(np.int64))
        elif ext_ids is not None:
            ids = np.concatenate(ext_ids).astype(np.int64) if ext_ids else np.zeros(0, np.int64)
            ptr[1:n_in + 1] = np.cumsum([x.size for x in ext_ids])
        else:
            ids = np.zeros(0, np.int64)
        ptr[n_in + 1:] = ptr[n_in]
        t0 = self.t
        out = self._engine_run(T, ptr, ids, progress)
        uname = "u" if p.model == "cuba" else "i"
        state = {uname: out["u"], "v": out["v"]}
        if "refr_cnt" in self._state:
            state["refr_cnt"] = out["cnt"]
        extra = {k: state[k] for k in self._state if k not in (uname, "v")}
        ext_out = out["ext_out"]
        extra.update(ext_out=ext_out, events=out["events"])
        cols = np.flatnonzero(self._n_exit)          # only neurons with exit entries
        ts, j = np.nonzero(ext_out[:, cols])         # (step, neuron) order
        return self._finish(t0, out["spikes"], state, uname, extra, ext_out, ts, cols[j],
                            out["packets"])

    def _finish(self, t0, spikes, state, uname, extra, ext_out, ts, ks, packets):
        """The :class:`NetworkRun` of a run from its arrays; ``(ts, ks)``: the (step, global
        neuron) pairs with output records, in that order."""
        mp, N = self.mesh, self.params.neurons
        reps = ext_out[ts, ks]
        ts, ks = np.repeat(ts + t0, reps), np.repeat(ks, reps)
        cs, ns = np.divmod(ks, N)
        ys, xs = np.divmod(cs, mp.width)
        outputs = list(zip(ts.tolist(), xs.tolist(), ys.tolist(), ns.tolist()))
        meta = {"source": "golden", "model": self.params.model, "first_step": t0,
                "mesh": mp.to_dict(), "params": self.params.to_dict()}
        trace = _make_trace(spikes, state[uname], state["v"], extra, N, meta)
        return NetworkRun(trace=trace, outputs=outputs, packets=packets)


def _make_trace(spikes, u, v, extra, neurons_per_core, meta):
    """``Trace(spikes, u, v, extra, neurons_per_core, meta)`` without the copy of every array
    that ``Trace.__init__`` makes (``astype``): the constructor checks the same arrays with no
    step (shapes, dtypes, names, meta), then the full arrays, made here with the final
    dtypes and shapes (uint8 spikes of 0/1, int64 elsewhere), take their place. On a long
    run the copies cost as much as a fifth of the run time."""
    for a in (u, v, *extra.values()):
        assert a.dtype == np.int64
    assert spikes.dtype == np.uint8
    tr = Trace(spikes[:0], u[:0], v[:0], extra={k: a[:0] for k, a in extra.items()},
               neurons_per_core=neurons_per_core, meta=meta)
    tr.spikes, tr.u, tr.v = spikes, u, v
    tr.extra = dict(extra)
    return tr


# --- input files ---------------------------------------------------------------------------

def encode_network_inputs(inputs, steps):
    """Flatten per-step external inputs for an ``.npz``: ``inputs`` is a list (one entry per
    step) of sequences of ``(core, axon)``, or None; steps beyond ``len(inputs)`` have none.
    Returns ``{"step", "core", "axon"}`` (int64, one row per spike, in step order and, within
    a step, in the given order) and ``"steps"`` (int64 scalar, the run length). Negative
    ids are an :class:`~spikefab.sim.inputs.InputError`."""
    from .inputs import InputError
    steps = int(steps)
    if steps < 0:
        raise InputError(f"steps = {steps} must not be negative")
    inputs = [] if inputs is None else list(inputs)
    if len(inputs) > steps:
        raise InputError(f"{len(inputs)} steps of input given for a run of {steps} steps")
    st, co, ax = [], [], []
    for t, pairs in enumerate(inputs):
        try:
            a = _as_pairs(f"step {t}", pairs, 1 << 62, 1 << 62)
        except InputError:
            raise
        except ValueError as e:
            raise InputError(str(e)) from None
        st.append(np.full(a.shape[0], t, np.int64))
        co.append(a[:, 0])
        ax.append(a[:, 1])
    cat = lambda parts: np.concatenate(parts) if parts else np.zeros(0, np.int64)
    return {"step": cat(st), "core": cat(co), "axon": cat(ax), "steps": np.int64(steps)}


def decode_network_inputs(z, *, source="inputs", cores=None, axons=None):
    """The per-step lists ``[[(core, axon), ...], ...]`` stored by
    :func:`encode_network_inputs` in the mapping ``z`` (for example an open ``.npz``). The
    number of steps is ``z["steps"]`` if present, else one past the last step with input.

    Every entry is checked: integer 1-D arrays of one length, ``step`` non-decreasing and
    below ``steps``, ids not negative (and below ``cores`` / ``axons`` when given), no
    other entry. A damaged file is an :class:`~spikefab.sim.inputs.InputError` whose
    message starts with ``source`` and names the entry, the value and what is allowed."""
    from ..rtl.files import check_entries, int_entry, scalar_int_entry
    from .inputs import InputError, STEPS_MAX
    check_entries(source, set(z), ["step", "core", "axon"], ["steps"], error=InputError,
                  what="network input file")
    his = {"step": STEPS_MAX - 1, "core": None if cores is None else int(cores) - 1,
           "axon": None if axons is None else int(axons) - 1}
    step, core, axon = (int_entry(source, k, z[k], ndim=1, lo=0, hi=his[k], error=InputError)
                        for k in ("step", "core", "axon"))
    if not step.shape == core.shape == axon.shape:
        raise InputError(f"{source}: entries 'step', 'core', 'axon' have different lengths "
                         f"({step.size}, {core.size}, {axon.size}): expected one row per "
                         f"event")
    dec = np.flatnonzero(np.diff(step) < 0)
    if dec.size:
        k = int(dec[0]) + 1
        raise InputError(f"{source}: entry 'step'[{k}] = {int(step[k])} is less than "
                         f"step[{k - 1}] = {int(step[k - 1])}: events are stored in step "
                         f"order")
    if "steps" in z:
        T = scalar_int_entry(source, "steps", z["steps"], lo=0, hi=STEPS_MAX, error=InputError)
    else:
        T = int(step.max()) + 1 if step.size else 0
    if step.size and step.max() >= T:
        k = int(np.flatnonzero(step >= T)[0])
        raise InputError(f"{source}: entry 'step'[{k}] = {int(step[k])} is out of range: "
                         f"allowed 0..{T - 1} (steps = {T})")
    out = [[] for _ in range(T)]
    for s, c, a in zip(step.tolist(), core.tolist(), axon.tolist()):
        out[s].append((c, a))
    return out
