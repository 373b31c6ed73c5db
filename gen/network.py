"""Networks of populations and projections, and their automatic mapping onto a many-core array.

Build a :class:`Network` (populations of neurons, external inputs, projections with weights
and delays, output populations), then :meth:`Network.map` it onto a mesh of cores: the result,
a :class:`MappedNetwork`, holds the :class:`~spikefab.rtl.netimage.NetworkImage` (the exact
contents of every memory) with the placement stored in the image's ``meta``, a
:class:`MappingReport` of what each core uses, and the helpers that translate between
population-level spikes and the array's external ports::

    net = Network("demo")
    inp = net.input("in", 2)
    hid = net.population("hid", 4, params={"vth": 5, "du": 4095, "dv": 4095})
    net.project(inp, hid, np.full((2, 4), 7), delay=2)
    net.output(hid)
    m = net.map(MeshParams(width=2), CoreParams(neurons=4, axons=8, max_delay=2))
    print(m.report)
    r = m.run_golden({"in": [[0], [], [1]]}, steps=10)
    r.outputs["hid"]        # [(step, index), ...]

Mapping rules (see docs/network.md):

- **Placement.** Populations are placed in the order they were created, filling cores in
  index order (core ``(x, y)`` has index ``y * width + x``); a population may span cores.
  Two populations with different ``w_exp`` never share a core (``w_exp`` is per core), and in
  ``"profile"`` parameter mode a population that would overflow the profile table of a
  partly used core starts on the next core instead.
- **Axons.** On each destination core, one axon per distinct (source, delay) that reaches
  it, where a source is a neuron or an input channel. Its row holds the weights from that
  source, with that delay, to the core's neurons; two projections with the same source and
  delay onto the same core share the row and their weights add. Axons are numbered per core
  in the order: input channels first (inputs in creation order, channels ascending), then
  neurons by their position in the array (``core * N + neuron``), each with its delays
  ascending.
- **Routing.** One entry per (source neuron, destination core, delay), in destination core
  then delay order, then one exit entry for every neuron of an output population.
- **Input delays.** Inputs have no routing table: the host sends their spikes straight to
  the axons. A channel spike given for step t through a projection with delay d is
  delivered, by :meth:`MappedNetwork.encode_inputs`, to its axon for step ``t + d - 1``: an
  input spike of step t acts as if a neuron had fired at step ``t - 1``, so that with the
  default delay 1 it is integrated at step t itself.
- **Capacity.** Every core must hold its axons (``axons``), its routing entries
  (``route_entries``) and its worst-case input events per step (each axon in use hit once,
  at most ``max_step_events``); parameters, weights and delays must be in range. Anything
  else is a :class:`MappingError` that says what does not fit, by how much and what to change.
"""

from dataclasses import dataclass, field
import math

import numpy as np

from spikefab.rtl.image import CoreImage, ImageError
from spikefab.rtl.netimage import EXIT, NetworkImage, RouteTable
from spikefab.rtl.params import CoreParams, MeshParams, W_EXP_MAX


__all__ = ["Network", "Population", "InputSource", "Projection", "MappingError",
           "MappedNetwork", "MappingReport", "CoreUsage", "GoldenResult", "META_KEY",
           "FORMAT_VERSION"]

#: Key of the mapper's entry in :attr:`NetworkImage.meta`.
META_KEY = "network"
#: Version of the layout of that entry.
FORMAT_VERSION = 1

#: ``cuba`` extension parameters and the core parameter that enables each.
_EXTENSION_SWITCH = {"refr": "refractory_bits > 0", "reset_sub": "subtractive_reset = True",
                     "v_floor": "v_floor = True"}


class MappingError(ValueError):
    """A network does not fit the array it is mapped onto, or holds a value the hardware cannot
    represent. The message says what does not fit, by how much, and what to change."""


# --- helpers ---------------------------------------------------------------------------------

def _is_int_scalar(v):
    return isinstance(v, (int, np.integer)) and not isinstance(v, (bool, np.bool_))


def _int_values(what, value, length):
    """``value`` (an integer or a sequence of ``length`` integers) as an int64 array
    ``(length,)``; ValueError/TypeError naming ``what`` otherwise."""
    a = np.asarray(value)
    if a.dtype.kind not in "iu":
        raise TypeError(f"{what} must hold integers, not {a.dtype if a.size else 'nothing'}"
                        if a.dtype.kind != "O" else f"{what} must hold integers, not {value!r}")
    if a.ndim == 0:
        return np.full(length, int(a), np.int64)
    if a.shape != (length,):
        raise ValueError(f"{what} has shape {a.shape}, expected a single integer or "
                         f"{length} values (one per neuron)")
    return a.astype(np.int64)


def _check_name(name, what):
    if not isinstance(name, str) or not name:
        raise TypeError(f"the name of a {what} must be a non-empty string, not {name!r}")
    return name


def _check_size(name, size, what):
    if not _is_int_scalar(size) or size < 1:
        raise ValueError(f"{what} {name!r} has size {size!r}: expected a positive integer")
    return int(size)


# --- the network ------------------------------------------------------------------------------

class Population:
    """A group of ``size`` neurons with the same weight exponent (made by
    :meth:`Network.population`).

    Attributes: ``name``, ``size``, ``w_exp``, ``params`` and ``state`` (``{name: int64
    array (size,)}``, as given; checked against the core's model when mapping) and ``output``
    (True once :meth:`Network.output` was called on it).
    """

    kind = "population"

    def __init__(self, network, name, size, params, state, w_exp):
        self.network = network
        self.name = name
        self.size = size
        if not _is_int_scalar(w_exp) or not 0 <= w_exp <= W_EXP_MAX:
            raise ValueError(f"population {name!r} has w_exp = {w_exp!r}: allowed 0..{W_EXP_MAX}")
        self.w_exp = int(w_exp)
        self.params = self._table(params, "parameter")
        self.state = self._table(state, "state variable")
        self.output = False

    def _table(self, given, what):
        if given is None:
            return {}
        if not isinstance(given, dict):
            raise TypeError(f"population {self.name!r}: the {what}s must be a dict of "
                            f"name -> value, not {type(given).__name__}")
        out = {}
        for k, v in given.items():
            if not isinstance(k, str):
                raise TypeError(f"population {self.name!r}: {what} names must be strings, "
                                f"not {k!r}")
            out[k] = _int_values(f"population {self.name!r} {what} {k!r}", v, self.size)
        return out

    def __len__(self):
        return self.size

    def __repr__(self):
        return f"Population({self.name!r}, {self.size})"


class InputSource:
    """``size`` external spike channels (made by :meth:`Network.input`); the host delivers
    their spikes (see :meth:`MappedNetwork.encode_inputs`)."""

    kind = "input"

    def __init__(self, network, name, size):
        self.network = network
        self.name = name
        self.size = size

    def __len__(self):
        return self.size

    def __repr__(self):
        return f"InputSource({self.name!r}, {self.size})"


@dataclass(eq=False)
class Projection:
    """Synapses from ``pre`` (a :class:`Population` or :class:`InputSource`) to ``post`` (a
    :class:`Population`), made by :meth:`Network.project`.

    ``pre_index``, ``post_index``, ``weight`` and ``delay`` are int64 arrays with one entry
    per synapse; ``label`` names the projection in messages (``'in'->'hid'``).
    """
    pre: object
    post: Population
    pre_index: np.ndarray
    post_index: np.ndarray
    weight: np.ndarray
    delay: np.ndarray
    plastic: bool
    label: str

    @property
    def synapses(self):
        return int(self.weight.size)


class Network:
    """A spiking network: populations, external inputs, projections and output populations.

    Names are unique over populations and inputs. Nothing is checked against hardware limits
    until :meth:`map`.
    """

    def __init__(self, name="net"):
        self.name = _check_name(name, "network")
        self._nodes = {}            # name -> Population or InputSource, in creation order
        self.projections = []

    @property
    def populations(self):
        """The populations, in creation order."""
        return [n for n in self._nodes.values() if isinstance(n, Population)]

    @property
    def inputs(self):
        """The inputs, in creation order."""
        return [n for n in self._nodes.values() if isinstance(n, InputSource)]

    def __getitem__(self, name):
        return self._nodes[name]

    def _add(self, node):
        if node.name in self._nodes:
            raise ValueError(f"the name {node.name!r} is already used by the "
                             f"{self._nodes[node.name].kind} {node.name!r}: names of "
                             f"populations and inputs are unique")
        self._nodes[node.name] = node
        return node

    def population(self, name, size, *, params=None, state=None, w_exp=0):
        """A new population of ``size`` neurons.

        ``params``: neuron parameters of the core's model (for ``cuba``: ``du``, ``dv``,
        ``vth``, ``bias_mant``, ``bias_exp``, and the enabled extensions ``refr``,
        ``reset_sub``, ``v_floor``; for ``shift``: ``dash_syn``, ``dash_mem``, ``th``,
        ``bias``), each an integer or an array of ``size`` integers; missing ones take the
        core's defaults (``CoreParams.param_defaults``). ``state``: initial state (``u``/``v``
        or ``i``/``v``), likewise; default 0. ``w_exp``: the weight exponent of the cores the
        population sits on (0..7). Names and ranges are checked by :meth:`map`.
        """
        _check_name(name, "population")
        size = _check_size(name, size, "population")
        return self._add(Population(self, name, size, params, state, w_exp))

    def input(self, name, size):
        """``size`` new external spike channels."""
        _check_name(name, "input")
        size = _check_size(name, size, "input")
        return self._add(InputSource(self, name, size))

    def _node(self, x, role, kinds):
        if isinstance(x, str):
            if x not in self._nodes:
                raise ValueError(f"{role}: there is no population or input named {x!r}")
            x = self._nodes[x]
        if not isinstance(x, kinds):
            allowed = " or ".join(k.__name__ for k in kinds)
            raise TypeError(f"{role} must be a {allowed} (or its name), not {x!r}")
        if x.network is not self or self._nodes.get(x.name) is not x:
            raise ValueError(f"{role} {x.name!r} belongs to another network")
        return x

    def project(self, pre, post, weights=None, *, delay=1, synapses=None, plastic=True):
        """Connect ``pre`` (a population or input, or its name) to the population ``post``.

        Give either ``weights``, a dense integer array ``[pre.size, post.size]`` in which 0
        means no synapse, or ``synapses = (pre_index, post_index, weight)``, three integer
        sequences of the same length with one entry per synapse (a weight of 0 is then a
        real synapse: it takes an axon and a routing entry, and can learn). ``delay`` (steps,
        1..max_delay) is one integer, or an array of the shape of ``weights`` (or one entry
        per synapse). ``plastic``: whether the synapses learn on cores with ``learning``
        (an axon row is plastic as a whole). Returns the :class:`Projection`.
        """
        pre = self._node(pre, "pre", (Population, InputSource))
        post = self._node(post, "post", (Population,))
        label = f"{pre.name!r}->{post.name!r}"
        same = sum(1 for p in self.projections if p.pre is pre and p.post is post)
        if same:
            label += f" #{same + 1}"
        if (weights is None) == (synapses is None):
            raise TypeError(f"projection {label}: give either weights (a dense array) or "
                            f"synapses = (pre_index, post_index, weight), not "
                            f"{'both' if weights is not None else 'neither'}")
        if weights is not None:
            w = np.asarray(weights)
            if w.dtype.kind not in "iu":
                raise TypeError(f"projection {label}: weights must hold integers, not "
                                f"{w.dtype}")
            shape = (pre.size, post.size)
            if w.shape != shape:
                raise ValueError(f"projection {label}: weights has shape {w.shape}, "
                                 f"expected {shape} ([pre.size, post.size])")
            d = np.asarray(delay)
            if d.dtype.kind not in "iu":
                raise TypeError(f"projection {label}: delay must hold integers, not {d.dtype}")
            if d.ndim and d.shape != shape:
                raise ValueError(f"projection {label}: delay has shape {d.shape}, expected "
                                 f"a single integer or the shape of weights {shape}")
            d = np.broadcast_to(d, shape)
            i, j = np.nonzero(w)
            w, d = w[i, j], d[i, j]
        else:
            try:
                i, j, w = (np.asarray(a) for a in synapses)
            except (TypeError, ValueError):
                raise TypeError(f"projection {label}: synapses must be three sequences "
                                f"(pre_index, post_index, weight)") from None
            for nm, a in (("pre_index", i), ("post_index", j), ("weight", w)):
                if a.ndim != 1 or (a.size and a.dtype.kind not in "iu"):
                    raise TypeError(f"projection {label}: synapses {nm} must be a 1-D "
                                    f"sequence of integers")
            if not i.size == j.size == w.size:
                raise ValueError(f"projection {label}: synapses has {i.size} pre_index, "
                                 f"{j.size} post_index and {w.size} weight values: expected "
                                 f"the same number of each")
            for nm, a, n, who in (("pre_index", i, pre.size, pre.name),
                                  ("post_index", j, post.size, post.name)):
                bad = np.flatnonzero((a < 0) | (a >= n))
                if bad.size:
                    raise ValueError(f"projection {label}: synapses {nm}[{bad[0]}] = "
                                     f"{int(a[bad[0]])} is out of range: {who!r} has "
                                     f"{n} neurons (0..{n - 1})")
            d = np.asarray(delay)
            if d.dtype.kind not in "iu":
                raise TypeError(f"projection {label}: delay must hold integers, not {d.dtype}")
            if d.ndim and d.shape != (w.size,):
                raise ValueError(f"projection {label}: delay has shape {d.shape}, expected "
                                 f"a single integer or one per synapse ({w.size},)")
            d = np.broadcast_to(d, (w.size,))
        d = d.astype(np.int64)
        if d.size and d.min() < 1:
            raise ValueError(f"projection {label} has delay {int(d.min())}: a delay is at "
                             f"least 1 step")
        if not isinstance(plastic, bool):
            raise TypeError(f"projection {label}: plastic must be True or False, not "
                            f"{plastic!r}")
        proj = Projection(pre=pre, post=post, pre_index=i.astype(np.int64),
                          post_index=j.astype(np.int64), weight=w.astype(np.int64),
                          delay=d.copy(), plastic=plastic, label=label)
        self.projections.append(proj)
        return proj

    def output(self, pop):
        """Send every spike of population ``pop`` (or its name) to the array's external
        output as well (one exit routing entry per neuron). Returns the population."""
        pop = self._node(pop, "output", (Population,))
        pop.output = True
        return pop

    # --- mapping ----------------------------------------------------------------------------

    def map(self, mesh, params, *, stdp=None):
        """Place and route the network on a ``mesh`` of cores with ``params``; returns a
        :class:`MappedNetwork`. ``stdp``: the STDP registers of every core (only with
        ``params.learning``; missing ones take ``CoreParams.stdp_defaults``).
        Raises :class:`MappingError` when something does not fit."""
        return _Mapper(self, mesh, params, stdp).run()


# --- the mapper -------------------------------------------------------------------------------

class _Mapper:
    def __init__(self, net, mesh, params, stdp):
        if not isinstance(mesh, MeshParams):
            raise TypeError(f"mesh must be a MeshParams, not {type(mesh).__name__}")
        if not isinstance(params, CoreParams):
            raise TypeError(f"params must be a CoreParams, not {type(params).__name__}")
        self.net, self.mesh, self.p, self.stdp = net, mesh, params, stdp
        self.N = params.neurons

    def xy(self, c):
        return self.mesh.core_xy(c)

    def run(self):
        net, p = self.net, self.p
        if not net.populations:
            raise MappingError(f"network {net.name!r} has no population: there is nothing to "
                               f"place on the cores")
        if self.stdp is not None and not p.learning:
            raise MappingError("stdp registers are given but params.learning is False: the "
                               "cores have no STDP engine; generate them with learning = True")
        self.check_tables()
        self.check_projections()
        self.place()
        self.connect()
        return MappedNetwork(self.build_image())

    # 1. neuron parameters and state against the model
    def check_tables(self):
        p = self.p
        self.pop_params, self.pop_state = {}, {}
        for what, ranges, defaults, attr, out in (
                ("parameter", p.param_ranges(), p.param_defaults(), "params", self.pop_params),
                ("state variable", p.state_ranges(), None, "state", self.pop_state)):
            for pop in self.net.populations:
                given = getattr(pop, attr)
                for k in given:
                    if k not in ranges:
                        hint = ""
                        if what == "parameter" and p.model == "cuba" and k in _EXTENSION_SWITCH:
                            hint = f" ({k!r} needs {_EXTENSION_SWITCH[k]})"
                        raise MappingError(
                            f"population {pop.name!r} has {what} {k!r}, which the cores "
                            f"(model {p.model!r}) do not have{hint}: expected one of "
                            f"{', '.join(ranges)}")
                table = {}
                for k, (lo, hi) in ranges.items():
                    if k in given:
                        a = given[k]
                        bad = np.flatnonzero((a < lo) | (a > hi))
                        if bad.size:
                            n = int(bad[0])
                            raise MappingError(
                                f"population {pop.name!r} {what} {k!r} = {int(a[n])} (neuron "
                                f"{n}) is out of range: allowed {lo}..{hi}")
                        table[k] = a
                    else:
                        table[k] = np.full(pop.size, defaults[k] if defaults else 0, np.int64)
                out[pop.name] = table

    # 2. delays and weights of each projection
    def check_projections(self):
        p = self.p
        wlo, whi = p.weight_range
        for pr in self.net.projections:
            if pr.delay.size and pr.delay.max() > p.max_delay:
                raise MappingError(f"projection {pr.label} has delay {int(pr.delay.max())}, "
                                   f"max_delay = {p.max_delay}: shorten the delay or generate "
                                   f"the cores with a larger max_delay")
            bad = np.flatnonzero((pr.weight < wlo) | (pr.weight > whi))
            if bad.size:
                k = int(bad[0])
                raise MappingError(
                    f"projection {pr.label} weight[{pr.pre_index[k]}, {pr.post_index[k]}] = "
                    f"{int(pr.weight[k])} is out of range: weight_bits = {p.weight_bits} allows "
                    f"{wlo}..{whi}; scale the weights (and use w_exp) or raise weight_bits")

    # 3. placement
    def param_keys(self, pop):
        t = self.pop_params[pop.name]
        names = list(t)
        cols = np.stack([t[k] for k in names], axis=1) if names else np.zeros((pop.size, 0))
        return [tuple(int(v) for v in row) for row in cols]

    def place(self):
        mesh, p, N = self.mesh, self.p, self.N
        profile = p.param_mode == "profile"
        self.placement = {}                 # name -> [(core, first, count)]
        self.core_wexp = {}                 # core -> w_exp
        self.core_sets = {}                 # core -> list of parameter tuples (profile table)
        self.core_pops = {}                 # core -> [names]
        self.gpos = {}                      # name -> int64 array of core * N + n
        core, free = 0, 0
        for pop in self.net.populations:
            keys = self.param_keys(pop) if profile else None
            c, f = core, free
            why = ""
            if f == N:
                c, f = c + 1, 0
            if f and self.core_wexp[c] != pop.w_exp:
                why = (f" (it cannot share core {self.xy(c)}, whose w_exp is "
                       f"{self.core_wexp[c]}, and w_exp = {pop.w_exp})")
                c, f = c + 1, 0
            if profile and f:
                first = set(keys[:min(pop.size, N - f)])
                if len(set(self.core_sets[c]) | first) > p.profiles:
                    why = (f" (its parameter sets do not fit in the profile table of core "
                           f"{self.xy(c)} beside those already there)")
                    c, f = c + 1, 0
            need = math.ceil((f + pop.size) / N)
            left = mesh.cores - c
            if need > left:
                raise MappingError(
                    f"population {pop.name!r} needs {need} core{'s' * (need != 1)} of {N} "
                    f"neurons but the {mesh.width}x{mesh.height} mesh has {left} "
                    f"core{'s' * (left != 1)} left{why}: use a larger mesh or more neurons "
                    f"per core")
            chunks, done = [], 0
            g = np.zeros(pop.size, np.int64)
            while done < pop.size:
                cnt = min(pop.size - done, N - f)
                chunks.append((c, f, cnt))
                g[done:done + cnt] = c * N + f + np.arange(cnt)
                self.core_wexp[c] = pop.w_exp
                self.core_pops.setdefault(c, []).append(pop.name)
                if profile:
                    sets = self.core_sets.setdefault(c, [])
                    for k in keys[done:done + cnt]:
                        if k not in sets:
                            sets.append(k)
                    if len(sets) > p.profiles:
                        raise MappingError(
                            f"core {self.xy(c)} needs {len(sets)} parameter profiles for "
                            f"population {pop.name!r}, a core has profiles = {p.profiles}: "
                            f"raise profiles or give the population fewer distinct parameter "
                            f"sets")
                done += cnt
                f += cnt
                if f == N and done < pop.size:
                    c, f = c + 1, 0
            self.placement[pop.name] = chunks
            self.gpos[pop.name] = g
            core, free = c, f

    # 4. synapses -> axons, rows, routes
    def connect(self):
        mesh, p, N, net = self.mesh, self.p, self.N, self.net
        in_off, n_in = {}, 0
        for src in net.inputs:
            in_off[src.name] = n_in
            n_in += src.size
        self.n_in = n_in
        self.in_off = in_off
        projs = net.projections
        if projs:
            src = np.concatenate([
                (in_off[pr.pre.name] + pr.pre_index) if isinstance(pr.pre, InputSource)
                else n_in + self.gpos[pr.pre.name][pr.pre_index] for pr in projs])
            dst = np.concatenate([self.gpos[pr.post.name][pr.post_index] for pr in projs])
            w = np.concatenate([pr.weight for pr in projs])
            d = np.concatenate([pr.delay for pr in projs])
            pid = np.concatenate([np.full(pr.synapses, k, np.int64)
                                  for k, pr in enumerate(projs)])
        else:
            src = dst = w = d = pid = np.zeros(0, np.int64)
        dcore, dn = dst // N, dst % N
        # rows: unique (destination core, source, delay), sorted in that order
        keys = np.stack([dcore, src, d], axis=1)
        rows, inv = np.unique(keys, axis=0, return_inverse=True)
        inv = np.asarray(inv).reshape(-1)
        R = rows.shape[0]
        rcore = rows[:, 0]
        first_of_core = np.searchsorted(rcore, np.arange(mesh.cores))
        axon = np.arange(R) - first_of_core[rcore] if R else np.zeros(0, np.int64)
        self.axons_used = np.bincount(rcore, minlength=mesh.cores)
        for c in range(mesh.cores):
            a = int(self.axons_used[c])
            if a > p.axons:
                raise MappingError(
                    f"core {self.xy(c)} needs {a} axons, a core has axons = {p.axons} (one "
                    f"axon per distinct source neuron or input channel and delay reaching the "
                    f"core): raise axons, or reduce the distinct (source, delay) pairs "
                    f"projecting to the populations on this core")
        for c in range(mesh.cores):
            a = int(self.axons_used[c])
            if a > p.max_step_events:
                raise MappingError(
                    f"core {self.xy(c)} can receive {a} input events in one step (one per "
                    f"axon in use), max_step_events = {p.max_step_events}: raise "
                    f"max_step_events by {a - p.max_step_events} or more")
        # weights: sum per (row, neuron)
        W = np.zeros((R, N), np.int64)
        np.add.at(W, (inv, dn), w)
        wlo, whi = p.weight_range
        bad = np.argwhere((W < wlo) | (W > whi))
        if bad.size:
            r, n = (int(v) for v in bad[0])
            hits = np.flatnonzero((inv == r) & (dn == n))
            labels = list(dict.fromkeys(projs[int(pid[k])].label for k in hits))
            rc, rs, rd = (int(v) for v in rows[r])
            raise MappingError(
                f"the weights from {self.source_name(rs)} to {self.neuron_name(rc * N + n)} "
                f"with delay {rd} (projection{'s' if len(labels) > 1 else ''} "
                f"{', '.join(labels)}) add to {int(W[r, n])}, outside the weight range "
                f"{wlo}..{whi} of weight_bits = {p.weight_bits}: synapses with the same "
                f"source, target and delay share one weight; lower them or use different "
                f"delays")
        # plastic bit per row
        plastic = np.ones(R, np.int64)
        if p.learning and R:
            pl = np.array([pr.plastic for pr in projs], bool)[pid]
            yes = np.zeros(R, bool)
            no = np.zeros(R, bool)
            yes[inv[pl]] = True
            no[inv[~pl]] = True
            mixed = np.flatnonzero(yes & no)
            if mixed.size:
                r = int(mixed[0])
                hits = np.flatnonzero(inv == r)
                lab = {True: [], False: []}
                for k in hits:
                    pr = projs[int(pid[k])]
                    if pr.label not in lab[pr.plastic]:
                        lab[pr.plastic].append(pr.label)
                rc, rs, rd = (int(v) for v in rows[r])
                raise MappingError(
                    f"projection {lab[True][0]} (plastic) and projection {lab[False][0]} (not "
                    f"plastic) share the axon row of {self.source_name(rs)} with delay {rd} "
                    f"on core {self.xy(rc)}: a row is plastic or not as a whole; give them the "
                    f"same plastic flag or different delays")
            plastic = yes.astype(np.int64)
        self.rows, self.row_axon, self.W, self.row_plastic = rows, axon, W, plastic
        # routing: per source neuron, entries in (destination core, delay) order
        out_g = np.concatenate([self.gpos[pop.name] for pop in net.populations if pop.output]
                               or [np.zeros(0, np.int64)])
        nsrc = rows[:, 1] >= n_in
        order = np.lexsort((rows[:, 2], rows[:, 0], rows[:, 1]))
        order = order[nsrc[order]]
        fan = [[[] for _ in range(N)] for _ in range(mesh.cores)]
        for r in order:
            g = int(rows[r, 1]) - n_in
            x, y = self.xy(int(rows[r, 0]))
            fan[g // N][g % N].append((x, y, int(axon[r]), int(rows[r, 2])))
        for g in out_g:
            fan[int(g) // N][int(g) % N].append(EXIT)
        for c in range(mesh.cores):
            e = sum(len(f) for f in fan[c])
            if e > mesh.route_entries:
                raise MappingError(
                    f"core {self.xy(c)} needs {e} routing entries, a core has route_entries = "
                    f"{mesh.route_entries}: raise route_entries by {e - mesh.route_entries} or "
                    f"more, or reduce the fan-out of its neurons (each distinct destination "
                    f"core and delay of a neuron takes one entry, an output neuron one more)")
        self.fan = fan
        # input channels: channel -> (core, axon, delay)
        isrc = np.flatnonzero(~nsrc)
        self.input_targets = {}
        for s in net.inputs:
            sel = isrc[(rows[isrc, 1] >= in_off[s.name]) &
                       (rows[isrc, 1] < in_off[s.name] + s.size)]
            sel = sel[np.lexsort((rows[sel, 2], rows[sel, 0], rows[sel, 1]))]
            self.input_targets[s.name] = {
                "channel": [int(v) - in_off[s.name] for v in rows[sel, 1]],
                "core": [int(v) for v in rows[sel, 0]],
                "axon": [int(v) for v in axon[sel]],
                "delay": [int(v) for v in rows[sel, 2]]}

    def source_name(self, s):
        if s < self.n_in:
            for src in self.net.inputs:
                o = self.in_off[src.name]
                if o <= s < o + src.size:
                    return f"input {src.name!r} channel {s - o}"
        return self.neuron_name(s - self.n_in)

    def neuron_name(self, g):
        for name, pos in self.gpos.items():
            hit = np.flatnonzero(pos == g)
            if hit.size:
                return f"{name!r}[{int(hit[0])}]"
        return f"neuron {g % self.N} of core {self.xy(g // self.N)}"   # pragma: no cover

    # 5. the image
    def build_image(self):
        mesh, p, N, net = self.mesh, self.p, self.N, self.net
        profile = p.param_mode == "profile"
        pnames = list(p.param_ranges())
        defaults = p.param_defaults()
        cores, routes = [], []
        for c in range(mesh.cores):
            weights = np.zeros((p.axons, N), np.int64)
            sel = np.flatnonzero(self.rows[:, 0] == c) if self.rows.size else np.zeros(0, int)
            weights[self.row_axon[sel]] = self.W[sel]
            per_neuron = {k: np.full(N, defaults[k], np.int64) for k in pnames}
            state = {k: np.zeros(N, np.int64) for k in p.state_ranges()}
            for pop in net.populations:
                done = 0
                for cc, first, cnt in self.placement[pop.name]:
                    if cc == c:
                        for k in pnames:
                            per_neuron[k][first:first + cnt] = \
                                self.pop_params[pop.name][k][done:done + cnt]
                        for k in state:
                            state[k][first:first + cnt] = \
                                self.pop_state[pop.name][k][done:done + cnt]
                    done += cnt
            pidx = None
            if profile:
                sets = list(self.core_sets.get(c, []))
                used = np.zeros(N, bool)
                for pop in net.populations:
                    for cc, first, cnt in self.placement[pop.name]:
                        if cc == c:
                            used[first:first + cnt] = True
                silent = tuple(defaults[k] for k in pnames)
                if not used.all() and silent not in sets and len(sets) < p.profiles:
                    sets.append(silent)     # neurons no population uses stay silent
                cols = np.stack([per_neuron[k] for k in pnames], axis=1)
                pidx = np.zeros(N, np.int64)
                for n in range(N):
                    key = tuple(int(v) for v in cols[n])
                    if used[n]:
                        pidx[n] = sets.index(key)
                    else:
                        pidx[n] = sets.index(silent) if silent in sets else 0
                table = {k: np.full(p.profiles, defaults[k], np.int64) for k in pnames}
                for r, key in enumerate(sets):
                    for k, v in zip(pnames, key):
                        table[k][r] = v
                per_neuron = table
            kw = {}
            if p.learning:
                plastic = np.zeros(p.axons, np.int64)
                plastic[self.row_axon[sel]] = self.row_plastic[sel]
                kw = {"stdp": dict(self.stdp or {}), "plastic": plastic}
            try:
                cores.append(CoreImage(params=p, weights=weights,
                                       w_exp=self.core_wexp.get(c, 0), neuron_params=per_neuron,
                                       profile_index=pidx, state=state, **kw))
            except ImageError as e:
                raise MappingError(f"core {self.xy(c)}: {e}") from None
            routes.append(RouteTable.from_fanout(mesh, p, self.fan[c]))
        meta = {META_KEY: {
            "format": FORMAT_VERSION,
            "name": net.name,
            "populations": [{"name": pop.name, "size": pop.size, "w_exp": pop.w_exp,
                             "output": pop.output,
                             "placement": [list(ch) for ch in self.placement[pop.name]]}
                            for pop in net.populations],
            "inputs": [{"name": s.name, "size": s.size, "targets": self.input_targets[s.name]}
                       for s in net.inputs],
            "projections": [{"label": pr.label, "pre": pr.pre.name, "post": pr.post.name,
                             "synapses": pr.synapses, "plastic": pr.plastic,
                             "delays": sorted(int(v) for v in np.unique(pr.delay))}
                            for pr in net.projections],
        }}
        return NetworkImage(mesh=mesh, cores=cores, routes=routes, meta=meta)


# --- the mapped network -----------------------------------------------------------------------

@dataclass
class CoreUsage:
    """What one core uses: ``neurons`` placed, ``axons`` in use, ``route_entries`` in its
    routing table, worst-case input ``events`` in one step (every source reaching it firing
    once), and the ``populations`` it hosts."""
    core: int
    x: int
    y: int
    neurons: int
    axons: int
    route_entries: int
    events: int
    populations: tuple = ()

    def to_dict(self):
        return {"core": self.core, "x": self.x, "y": self.y, "neurons": self.neurons,
                "axons": self.axons, "route_entries": self.route_entries,
                "events": self.events, "populations": list(self.populations)}


@dataclass
class MappingReport:
    """Resources a mapped network uses.

    Attributes: ``name``; ``mesh`` and ``params`` (the capacities: ``params.neurons``,
    ``params.axons``, ``mesh.route_entries``, ``params.max_step_events`` per core);
    ``cores`` (a :class:`CoreUsage` per core of the mesh, index order); ``synapses`` (over
    all projections); ``max_fanout`` (the most routing entries one neuron has, i.e. packets
    per spike) and ``max_fanout_neuron`` (``(population, index)`` of the first such neuron,
    or None).
    """
    name: str
    mesh: MeshParams
    params: CoreParams
    cores: list
    synapses: int
    max_fanout: int
    max_fanout_neuron: tuple = None

    @property
    def cores_used(self):
        """Cores that host at least one neuron."""
        return sum(1 for c in self.cores if c.neurons)

    def totals(self):
        """Sums over all cores: ``neurons``, ``axons``, ``route_entries``, ``events``."""
        return {k: sum(getattr(c, k) for c in self.cores)
                for k in ("neurons", "axons", "route_entries", "events")}

    def to_dict(self):
        return {"name": self.name, "mesh": self.mesh.to_dict(),
                "capacity": {"neurons": self.params.neurons, "axons": self.params.axons,
                             "route_entries": self.mesh.route_entries,
                             "max_step_events": self.params.max_step_events},
                "cores": [c.to_dict() for c in self.cores],
                "cores_used": self.cores_used, "totals": self.totals(),
                "synapses": self.synapses, "max_fanout": self.max_fanout,
                "max_fanout_neuron": (list(self.max_fanout_neuron)
                                      if self.max_fanout_neuron else None)}

    def __str__(self):
        p, m = self.params, self.mesh
        cap = {"neurons": p.neurons, "axons": p.axons, "route_entries": m.route_entries,
               "events": p.max_step_events}

        def cell(v, k):
            return f"{v}/{cap[k]} ({100 * v / cap[k]:.0f}%)"

        head = ("core", "(x, y)", "neurons", "axons", "route entries", "events/step",
                "populations")
        rows = [(str(c.core), f"({c.x}, {c.y})", cell(c.neurons, "neurons"),
                 cell(c.axons, "axons"), cell(c.route_entries, "route_entries"),
                 cell(c.events, "events"), " ".join(c.populations))
                for c in self.cores if c.neurons or c.axons or c.route_entries]
        t = self.totals()
        n = len(self.cores)
        rows.append(("total", "", f"{t['neurons']}/{p.neurons * n}",
                     f"{t['axons']}/{p.axons * n}",
                     f"{t['route_entries']}/{m.route_entries * n}", f"{t['events']}", ""))
        widths = [max(len(r[i]) for r in rows + [head]) for i in range(len(head))]
        fmt = lambda r: "  ".join(s.ljust(w) for s, w in zip(r, widths)).rstrip()
        lines = [f"network {self.name!r} on a {m.width}x{m.height} mesh: {self.cores_used} of "
                 f"{n} cores used; a core has {p.neurons} neurons, {p.axons} axons, "
                 f"{m.route_entries} routing entries, max_step_events = {p.max_step_events}",
                 fmt(head), fmt(["-" * w for w in widths])]
        lines += [fmt(r) for r in rows[:-1]]
        lines.append(fmt(["-" * w for w in widths]))
        lines.append(fmt(rows[-1]))
        unused = sum(1 for c in self.cores if not (c.neurons or c.axons or c.route_entries))
        if unused:
            lines.append(f"({unused} unused core{'s' if unused > 1 else ''} not shown)")
        who = (f" ({self.max_fanout_neuron[0]!r}[{self.max_fanout_neuron[1]}])"
               if self.max_fanout_neuron else "")
        plural = "entry" if self.max_fanout == 1 else "entries"
        lines.append(f"synapses: {self.synapses}; max fan-out: {self.max_fanout} routing "
                     f"{plural} per spike{who}")
        return "\n".join(lines)


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
    (names of the output populations), ``report`` (:class:`MappingReport`).
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

    def _check_pop(self, name):
        if name not in self._gpos:
            what = " (that is an input)" if name in self._inputs else ""
            raise KeyError(f"there is no population named {name!r}{what}: the populations are "
                           f"{', '.join(map(repr, self._pops))}")

    # --- report ---------------------------------------------------------------------------

    @property
    def report(self):
        if self._report is None:
            self._report = self._make_report()
        return self._report

    def _make_report(self):
        img, mesh, p = self.image, self.mesh, self.params
        C = mesh.cores
        neurons = np.zeros(C, np.int64)
        pops = [[] for _ in range(C)]
        for name in self._pops:
            for c, f, cnt in self.placement[name]:
                neurons[c] += cnt
                pops[c].append(name)
        entries = np.array([int(rt.count.sum()) for rt in img.routes], np.int64)
        counts = np.concatenate([rt.count for rt in img.routes]).astype(np.int64)
        best = int(counts.max()) if counts.size else 0
        best_g = int(np.argmax(counts)) if best else None
        # every routed entry in use delivers at most one event per step to its axon
        dst, ax = [], []
        for rt in img.routes:
            cnt = rt.count.astype(np.int64)
            total = int(cnt.sum())
            if not total:
                continue
            idx = np.repeat(rt.base.astype(np.int64) - (np.cumsum(cnt) - cnt), cnt) + \
                np.arange(total)
            e = rt.entries
            idx = idx[e["exit"][idx] == 0]
            dst.append(e["y"][idx] * mesh.width + e["x"][idx])
            ax.append(e["axon"][idx])
        for d in self._inputs.values():
            dst.append(np.asarray(d["targets"]["core"], np.int64))
            ax.append(np.asarray(d["targets"]["axon"], np.int64))
        dst = np.concatenate(dst).astype(np.int64) if dst else np.zeros(0, np.int64)
        ax = np.concatenate(ax).astype(np.int64) if ax else np.zeros(0, np.int64)
        events = np.bincount(dst, minlength=C)
        axons = np.bincount(np.unique(dst * p.axons + ax) // p.axons, minlength=C)
        cores = []
        for c in range(C):
            x, y = mesh.core_xy(c)
            cores.append(CoreUsage(core=c, x=x, y=y, neurons=int(neurons[c]),
                                   axons=int(axons[c]), route_entries=int(entries[c]),
                                   events=int(events[c]), populations=tuple(pops[c])))
        who = None
        if best_g is not None and self._owner[best_g] >= 0:
            who = (self._pops[self._owner[best_g]], int(self._local[best_g]))
        return MappingReport(name=self.name, mesh=mesh, params=p, cores=cores,
                             synapses=sum(int(d["synapses"]) for d in self._meta["projections"]),
                             max_fanout=best, max_fanout_neuron=who)

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
        if not _is_int_scalar(T) or T < 0:
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
