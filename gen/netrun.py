"""A mapped network at run time: :class:`MappedNetwork` (the
:class:`~spikefab.rtl.netimage.NetworkImage` and its placement, read from the image's
``meta``), the encoding of population-level input spikes into the array's external inputs,
the decoding of external-output records, and golden runs (:class:`GoldenResult`). See
docs/network.md.
"""

from dataclasses import dataclass, field

import numpy as np

from spikefab.rtl.netimage import NetworkImage

from .mapper import FORMAT_VERSION, META_KEY
from .netreport import mapping_report


__all__ = ["MappedNetwork", "GoldenResult"]


@dataclass
class GoldenResult:
    """What :meth:`MappedNetwork.run_golden` returns.

    Attributes: ``run`` (the :class:`~spikefab.sim.network.NetworkRun`), ``trace`` (its
    Trace), ``inputs`` (the encoded per-step ``(core, axon)`` lists), ``spikes`` (population
    name -> bool array ``[T, size]``, every population) and ``outputs`` (output population
    name -> ``[(step, index), ...]``, from the external-output records).
    """
    run: object
    trace: object
    inputs: list
    spikes: dict = field(default_factory=dict)
    outputs: dict = field(default_factory=dict)


class MappedNetwork:
    """A network placed and routed on an array: the :class:`NetworkImage` plus what is
    needed to talk to it in population terms. Everything is read from ``image.meta``, so a
    loaded image (:meth:`load`) works the same as a freshly mapped one.

    Attributes: ``image``, ``name``, ``placement`` (population name -> ``[(core, first
    neuron, count), ...]``), ``sizes`` (population or input name -> size), ``outputs_of``
    (names of the output populations), ``meta``, ``report``
    (:class:`~spikefab.gen.netreport.MappingReport`).
    """

    def __init__(self, image):
        if not isinstance(image, NetworkImage):
            raise TypeError(f"image must be a NetworkImage, not {type(image).__name__}")
        meta = image.meta.get(META_KEY) if isinstance(image.meta, dict) else None
        if not isinstance(meta, dict) or "populations" not in meta:
            raise ValueError(f"the network image has no {META_KEY!r} entry in its meta: it was "
                             f"not made by Network.map, so there is no placement to read")
        if meta.get("format") != FORMAT_VERSION:
            raise ValueError(f"the network image's meta has format {meta.get('format')!r}; "
                             f"this version reads format {FORMAT_VERSION}")
        self.image = image
        self.name = meta["name"]
        self._meta = meta
        N, C = image.params.neurons, image.mesh.cores
        self.placement = {d["name"]: [tuple(int(v) for v in ch) for ch in d["placement"]]
                          for d in meta["populations"]}
        self.sizes = {d["name"]: int(d["size"]) for d in meta["populations"]}
        self._pops = [d["name"] for d in meta["populations"]]
        self.outputs_of = [d["name"] for d in meta["populations"] if d["output"]]
        self._inputs = {d["name"]: d for d in meta["inputs"]}
        self.sizes.update({d["name"]: int(d["size"]) for d in meta["inputs"]})
        self._owner = np.full(C * N, -1, np.int64)
        self._local = np.full(C * N, -1, np.int64)
        self._gpos = {}
        for k, name in enumerate(self._pops):
            g = np.concatenate([c * N + f + np.arange(cnt) for c, f, cnt in self.placement[name]])
            self._gpos[name] = g
            self._owner[g] = k
            self._local[g] = np.arange(g.size)
        self._report = None

    @property
    def mesh(self):
        return self.image.mesh

    @property
    def params(self):
        return self.image.params

    @property
    def populations(self):
        """Names of the populations, in creation order."""
        return list(self._pops)

    @property
    def inputs(self):
        """Names of the inputs, in creation order."""
        return list(self._inputs)

    def neuron_index(self, name):
        """Global neuron index (``core * N + neuron``, the columns of a Trace) of each neuron
        of population ``name``, as an int64 array ``(size,)``."""
        self._check_pop(name)
        return self._gpos[name].copy()

    def population_of(self, g):
        """``(population name, index in it)`` of global neuron ``g`` (``core * N +
        neuron``), or None for a neuron no population uses."""
        k = int(self._owner[g])
        return None if k < 0 else (self._pops[k], int(self._local[g]))

    @property
    def meta(self):
        """The mapper's entry of ``image.meta`` (see :mod:`spikefab.gen.mapper`): ``name``,
        ``populations``, ``inputs`` (with their targets), ``projections``."""
        return self._meta

    def _check_pop(self, name):
        if name not in self._gpos:
            what = " (that is an input)" if name in self._inputs else ""
            raise KeyError(f"there is no population named {name!r}{what}: the populations are "
                           f"{', '.join(map(repr, self._pops))}")

    # --- report ---------------------------------------------------------------------------

    @property
    def report(self):
        """The :class:`~spikefab.gen.netreport.MappingReport` (made on first use)."""
        if self._report is None:
            self._report = mapping_report(self)
        return self._report

    # --- inputs and outputs ---------------------------------------------------------------

    def encode_inputs(self, spikes, steps=None):
        """External input spikes in array terms.

        ``spikes`` maps input names to their spikes: a list with one entry per step of
        channel indices (each channel at most once per step), or a 0/1 array ``[T, size]``.
        Returns a list of ``steps`` lists of ``(core, axon)``, the external inputs of each
        step (the ``inputs`` of the golden network model and the RTL benches). A channel
        spike of step t reaching a core through a projection with delay d is delivered at
        step ``t + d - 1`` (so with delay 1 it is integrated at step t); deliveries at or past
        ``steps`` fall after the run and are left out. ``steps`` defaults to the longest
        input; a shorter ``steps`` is a ValueError (spikes are never dropped silently).
        """
        if spikes is None:
            spikes = {}
        if not isinstance(spikes, dict):
            raise TypeError(f"spikes must be a dict of input name -> spikes, not "
                            f"{type(spikes).__name__}")
        per_input = {}
        for name, sp in spikes.items():
            if name not in self._inputs:
                what = " (that is a population, not an input)" if name in self._gpos else ""
                raise KeyError(f"there is no input named {name!r}{what}: the inputs are "
                               f"{', '.join(map(repr, self._inputs)) or 'none'}")
            size = self.sizes[name]
            lists = []
            if isinstance(sp, np.ndarray) and sp.ndim == 2:
                if sp.shape[1] != size:
                    raise ValueError(f"input {name!r} spikes have shape {sp.shape}, expected "
                                     f"[T, {size}]")
                if sp.dtype.kind not in "iub" or ((sp != 0) & (sp != 1)).any():
                    raise ValueError(f"input {name!r} spike array must hold 0 or 1")
                lists = [np.flatnonzero(row).tolist() for row in sp]
            else:
                if isinstance(sp, (str, bytes)) or not hasattr(sp, "__iter__"):
                    raise TypeError(f"input {name!r}: spikes must be a list (one entry per "
                                    f"step) of channel lists, or a 0/1 array [T, {size}]")
                for t, chans in enumerate(sp):
                    if isinstance(chans, (str, bytes)) or not hasattr(chans, "__len__"):
                        raise TypeError(f"input {name!r} step {t}: expected a list of channel "
                                        f"indices, not {chans!r}")
                    ch = np.asarray(chans, dtype=object if not len(chans) else None).reshape(-1)
                    if ch.size and ch.dtype.kind not in "iu":
                        raise TypeError(f"input {name!r} step {t}: channels must be integers, "
                                        f"not {list(chans)!r}")
                    ch = ch.astype(np.int64)
                    bad = ch[(ch < 0) | (ch >= size)]
                    if bad.size:
                        raise ValueError(f"input {name!r} step {t}: channel {int(bad[0])} is "
                                         f"out of range: {name!r} has {size} channels "
                                         f"(0..{size - 1})")
                    u, cnt = np.unique(ch, return_counts=True)
                    if (cnt > 1).any():
                        raise ValueError(f"input {name!r} step {t}: channel "
                                         f"{int(u[cnt > 1][0])} appears twice: a channel "
                                         f"spikes at most once per step")
                    lists.append(ch.tolist())
            per_input[name] = lists
        longest = max((len(v) for v in per_input.values()), default=0)
        T = longest if steps is None else steps
        if (not isinstance(T, (int, np.integer)) or isinstance(T, (bool, np.bool_))
                or T < 0):
            raise ValueError(f"steps = {steps!r} must be a non-negative integer")
        for name, lists in per_input.items():
            if len(lists) > T:
                raise ValueError(f"steps = {T} is less than the {len(lists)} steps of input "
                                 f"{name!r}")
        out = [[] for _ in range(T)]
        for name, lists in per_input.items():
            tg = self._inputs[name]["targets"]
            by_ch = {}
            for ch, c, a, d in zip(tg["channel"], tg["core"], tg["axon"], tg["delay"]):
                by_ch.setdefault(ch, []).append((c, a, d))
            for t, chans in enumerate(lists):
                for ch in chans:
                    for c, a, d in by_ch.get(ch, ()):
                        if t + d - 1 < T:
                            out[t + d - 1].append((c, a))
        return [sorted(step) for step in out]

    def decode_outputs(self, outputs):
        """The external-output records ``(step, x, y, neuron)`` (of the golden network model
        or the RTL) in population terms: ``{output population: [(step, index), ...]}``,
        sorted, with every output population present."""
        mesh, N = self.mesh, self.params.neurons
        res = {name: [] for name in self.outputs_of}
        outs = set(self.outputs_of)
        for rec in outputs:
            try:
                t, x, y, n = (int(v) for v in rec)
            except (TypeError, ValueError):
                raise ValueError(f"output record {rec!r} is not (step, x, y, neuron)") from None
            if not (0 <= x < mesh.width and 0 <= y < mesh.height and 0 <= n < N):
                raise ValueError(f"output record {rec!r} names neuron {n} of core ({x}, {y}), "
                                 f"which the {mesh.width}x{mesh.height} mesh of {N}-neuron "
                                 f"cores does not have")
            g = mesh.core_index(x, y) * N + n
            k = int(self._owner[g])
            if k < 0 or self._pops[k] not in outs:
                raise ValueError(f"output record {tuple(rec)!r} comes from neuron {n} of core "
                                 f"({x}, {y}), which is not in an output population")
            res[self._pops[k]].append((t, int(self._local[g])))
        return {k: sorted(v) for k, v in res.items()}

    def population_spikes(self, trace, name):
        """Spikes of population ``name`` in a Trace of the whole array (``[T, cores * N]``):
        a bool array ``[T, size]``."""
        self._check_pop(name)
        C, N = self.mesh.cores, self.params.neurons
        s = np.asarray(trace.spikes)
        if s.ndim != 2 or s.shape[1] != C * N:
            raise ValueError(f"the trace has {s.shape[1] if s.ndim == 2 else '?'} neurons, "
                             f"expected {C * N} ({C} cores of {N})")
        return s[:, self._gpos[name]].astype(bool)

    def run_golden(self, spikes=None, steps=None, progress=False):
        """Run the golden network model for ``steps`` steps with the input ``spikes`` (as for
        :meth:`encode_inputs`); returns a :class:`GoldenResult`."""
        from spikefab.sim.network import NetworkModel
        inputs = self.encode_inputs(spikes, steps)
        run = NetworkModel(self.image).run(inputs, len(inputs), progress=progress)
        trace = run.trace
        return GoldenResult(run=run, trace=trace, inputs=inputs,
                            spikes={n: self.population_spikes(trace, n) for n in self._pops},
                            outputs=self.decode_outputs(run.outputs))

    # --- files ------------------------------------------------------------------------------

    def save(self, path):
        """Write the network image (``.npz``, see :meth:`NetworkImage.save`); the placement
        and input map are in its ``meta``."""
        self.image.save(path)

    @classmethod
    def load(cls, path):
        """A mapped network from a file written by :meth:`save`."""
        return cls(NetworkImage.load(path))

    def __repr__(self):
        return (f"MappedNetwork({self.name!r}, {self.mesh.width}x{self.mesh.height} mesh, "
                f"populations {self._pops}, inputs {list(self._inputs)})")
