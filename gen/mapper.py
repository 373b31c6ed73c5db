"""The mapper: a :class:`~spikefab.gen.netdesc.Network` placed and routed on a mesh of cores,
as a :class:`~spikefab.rtl.netimage.NetworkImage` (see docs/network.md).

:func:`map_network` runs five phases, each a function with explicit inputs and outputs:

1. :func:`check_tables`: neuron parameters and state of every population against the core's
   model -> ``(pop_params, pop_state)``;
2. :func:`check_projections`: delays and weights against the core's limits;
3. :func:`place`: populations onto cores -> :class:`Placement`;
4. :func:`connect`: synapses onto axon rows, routing entries and input targets ->
   :class:`Connectivity`;
5. :func:`build_image`: the image, with the placement and the input map in its ``meta``
   (entry :data:`META_KEY`, layout version :data:`FORMAT_VERSION`).

Mapping rules:

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
  delivered, by :meth:`~spikefab.gen.netrun.MappedNetwork.encode_inputs`, to its axon for
  step ``t + d - 1``: an input spike of step t acts as if a neuron had fired at step
  ``t - 1``, so that with the default delay 1 it is integrated at step t itself.
- **Capacity.** Every core must hold its axons (``axons``), its routing entries
  (``route_entries``) and its worst-case input events per step (each axon in use hit once,
  at most ``max_step_events``); parameters, weights and delays must be in range. Anything
  else is a :class:`MappingError` that says what does not fit, by how much and what to change.

The mapper reads a network through its public attributes only (``name``, ``populations``,
``inputs``, ``projections``; a projection's ``pre.kind`` is ``"input"`` or
``"population"``).
"""

from dataclasses import dataclass
import math

import numpy as np

from spikefab.rtl.image import CoreImage, ImageError
from spikefab.rtl.netimage import EXIT, NetworkImage, RouteTable
from spikefab.rtl.params import CoreParams, MeshParams


__all__ = ["MappingError", "META_KEY", "FORMAT_VERSION", "Placement", "Connectivity",
           "map_network", "check_tables", "check_projections", "place", "connect",
           "build_image"]

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


@dataclass
class Placement:
    """Where the populations sit (the output of :func:`place`).

    Attributes: ``chunks`` (population name -> ``[(core, first neuron, count), ...]``),
    ``core_wexp`` (core -> w_exp), ``core_sets`` (core -> the parameter tuples of its profile
    table, ``"profile"`` mode only), ``core_pops`` (core -> population names) and ``gpos``
    (population name -> int64 array of global neuron indices ``core * N + neuron``).
    """
    chunks: dict
    core_wexp: dict
    core_sets: dict
    core_pops: dict
    gpos: dict


@dataclass
class Connectivity:
    """Axon rows, routing and input targets (the output of :func:`connect`).

    A *source* is a global index: input channels first (``in_off[input] + channel``, ``n_in``
    of them), then neurons (``n_in + core * N + neuron``).

    Attributes: ``n_in``, ``in_off`` (input name -> its first source index); ``rows`` int64
    ``[R, 3]`` of unique ``(destination core, source, delay)`` in that order, with
    ``row_axon`` [R] (the axon of each row on its core), ``W`` [R, N] (its weights) and
    ``row_plastic`` [R] (0/1); ``axons_used`` [C]; ``fan`` (per core, per neuron, the
    fan-out list of ``(x, y, axon, delay)`` or ``EXIT``); ``input_targets`` (input name ->
    ``{"channel", "core", "axon", "delay"}`` lists).
    """
    n_in: int
    in_off: dict
    rows: np.ndarray
    row_axon: np.ndarray
    W: np.ndarray
    row_plastic: np.ndarray
    axons_used: np.ndarray
    fan: list
    input_targets: dict


def map_network(net, mesh, params, stdp=None):
    """Place and route ``net`` on a ``mesh`` of cores with ``params``; returns the
    :class:`NetworkImage`. ``stdp``: the STDP registers of every core (only with
    ``params.learning``). Raises :class:`MappingError` when something does not fit."""
    if not isinstance(mesh, MeshParams):
        raise TypeError(f"mesh must be a MeshParams, not {type(mesh).__name__}")
    if not isinstance(params, CoreParams):
        raise TypeError(f"params must be a CoreParams, not {type(params).__name__}")
    if not net.populations:
        raise MappingError(f"network {net.name!r} has no population: there is nothing to "
                           f"place on the cores")
    if stdp is not None and not params.learning:
        raise MappingError("stdp registers are given but params.learning is False: the "
                           "cores have no STDP engine; generate them with learning = True")
    pop_params, pop_state = check_tables(net, params)
    check_projections(net, params)
    placement = place(net, mesh, params, pop_params)
    conn = connect(net, mesh, params, placement)
    return build_image(net, mesh, params, stdp, pop_params, pop_state, placement, conn)


# 1. neuron parameters and state against the model
def check_tables(net, params):
    """Every population's parameters and initial state against the core's model, completed
    with the defaults (parameters) and 0 (state): returns ``(pop_params, pop_state)``, each
    population name -> ``{name: int64 array (size,)}``."""
    p = params
    pop_params, pop_state = {}, {}
    for what, ranges, defaults, attr, out in (
            ("parameter", p.param_ranges(), p.param_defaults(), "params", pop_params),
            ("state variable", p.state_ranges(), None, "state", pop_state)):
        for pop in net.populations:
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
    return pop_params, pop_state


# 2. delays and weights of each projection
def check_projections(net, params):
    """Every projection's delays (at most ``max_delay``) and weights (inside
    ``weight_range``); raises :class:`MappingError`."""
    p = params
    wlo, whi = p.weight_range
    for pr in net.projections:
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
def _param_keys(table, size):
    names = list(table)
    cols = np.stack([table[k] for k in names], axis=1) if names else np.zeros((size, 0))
    return [tuple(int(v) for v in row) for row in cols]


def place(net, mesh, params, pop_params):
    """The populations onto the cores, in creation order (see the module's placement rule);
    ``pop_params`` from :func:`check_tables`. Returns a :class:`Placement`."""
    p, N = params, params.neurons
    profile = p.param_mode == "profile"
    pl = Placement(chunks={}, core_wexp={}, core_sets={}, core_pops={}, gpos={})
    core, free = 0, 0
    for pop in net.populations:
        keys = _param_keys(pop_params[pop.name], pop.size) if profile else None
        c, f = core, free
        why = ""
        if f == N:
            c, f = c + 1, 0
        if f and pl.core_wexp[c] != pop.w_exp:
            why = (f" (it cannot share core {mesh.core_xy(c)}, whose w_exp is "
                   f"{pl.core_wexp[c]}, and w_exp = {pop.w_exp})")
            c, f = c + 1, 0
        if profile and f:
            first = set(keys[:min(pop.size, N - f)])
            if len(set(pl.core_sets[c]) | first) > p.profiles:
                why = (f" (its parameter sets do not fit in the profile table of core "
                       f"{mesh.core_xy(c)} beside those already there)")
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
            pl.core_wexp[c] = pop.w_exp
            pl.core_pops.setdefault(c, []).append(pop.name)
            if profile:
                sets = pl.core_sets.setdefault(c, [])
                for k in keys[done:done + cnt]:
                    if k not in sets:
                        sets.append(k)
                if len(sets) > p.profiles:
                    raise MappingError(
                        f"core {mesh.core_xy(c)} needs {len(sets)} parameter profiles for "
                        f"population {pop.name!r}, a core has profiles = {p.profiles}: "
                        f"raise profiles or give the population fewer distinct parameter "
                        f"sets")
            done += cnt
            f += cnt
            if f == N and done < pop.size:
                c, f = c + 1, 0
        pl.chunks[pop.name] = chunks
        pl.gpos[pop.name] = g
        core, free = c, f
    return pl


# 4. synapses -> axons, rows, routes
class _Names:
    """Names of sources and neurons for messages."""

    def __init__(self, net, mesh, N, in_off, n_in, gpos):
        self.net, self.mesh, self.N = net, mesh, N
        self.in_off, self.n_in, self.gpos = in_off, n_in, gpos

    def source(self, s):
        if s < self.n_in:
            for src in self.net.inputs:
                o = self.in_off[src.name]
                if o <= s < o + src.size:
                    return f"input {src.name!r} channel {s - o}"
        return self.neuron(s - self.n_in)

    def neuron(self, g):
        for name, pos in self.gpos.items():
            hit = np.flatnonzero(pos == g)
            if hit.size:
                return f"{name!r}[{int(hit[0])}]"
        return f"neuron {g % self.N} of core {self.mesh.core_xy(g // self.N)}"  # pragma: no cover


def _synapse_table(net, placement, in_off, n_in):
    """Every synapse of every projection: ``(src, dst, w, d, pid)`` int64 arrays (source
    index, global destination neuron, weight, delay, projection index)."""
    projs = net.projections
    if not projs:
        z = np.zeros(0, np.int64)
        return z, z, z, z, z
    gpos = placement.gpos
    src = np.concatenate([
        (in_off[pr.pre.name] + pr.pre_index) if pr.pre.kind == "input"
        else n_in + gpos[pr.pre.name][pr.pre_index] for pr in projs])
    dst = np.concatenate([gpos[pr.post.name][pr.post_index] for pr in projs])
    w = np.concatenate([pr.weight for pr in projs])
    d = np.concatenate([pr.delay for pr in projs])
    pid = np.concatenate([np.full(pr.synapses, k, np.int64) for k, pr in enumerate(projs)])
    return src, dst, w, d, pid


def _check_axons(mesh, p, axons_used):
    for c in range(mesh.cores):
        a = int(axons_used[c])
        if a > p.axons:
            raise MappingError(
                f"core {mesh.core_xy(c)} needs {a} axons, a core has axons = {p.axons} (one "
                f"axon per distinct source neuron or input channel and delay reaching the "
                f"core): raise axons, or reduce the distinct (source, delay) pairs "
                f"projecting to the populations on this core")
    for c in range(mesh.cores):
        a = int(axons_used[c])
        if a > p.max_step_events:
            raise MappingError(
                f"core {mesh.core_xy(c)} can receive {a} input events in one step (one per "
                f"axon in use), max_step_events = {p.max_step_events}: raise "
                f"max_step_events by {a - p.max_step_events} or more")


def _row_weights(p, projs, rows, inv, dn, w, pid, names):
    """The weights of each row, summed over the synapses that share it: int64 [R, N]."""
    W = np.zeros((rows.shape[0], p.neurons), np.int64)
    np.add.at(W, (inv, dn), w)
    wlo, whi = p.weight_range
    bad = np.argwhere((W < wlo) | (W > whi))
    if bad.size:
        r, n = (int(v) for v in bad[0])
        hits = np.flatnonzero((inv == r) & (dn == n))
        labels = list(dict.fromkeys(projs[int(pid[k])].label for k in hits))
        rc, rs, rd = (int(v) for v in rows[r])
        raise MappingError(
            f"the weights from {names.source(rs)} to {names.neuron(rc * p.neurons + n)} "
            f"with delay {rd} (projection{'s' if len(labels) > 1 else ''} "
            f"{', '.join(labels)}) add to {int(W[r, n])}, outside the weight range "
            f"{wlo}..{whi} of weight_bits = {p.weight_bits}: synapses with the same "
            f"source, target and delay share one weight; lower them or use different "
            f"delays")
    return W


def _row_plastic(mesh, p, projs, rows, inv, pid, names):
    """The plastic bit of each row (0/1 int64 [R]); all 1 without learning."""
    R = rows.shape[0]
    if not (p.learning and R):
        return np.ones(R, np.int64)
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
            f"plastic) share the axon row of {names.source(rs)} with delay {rd} "
            f"on core {mesh.core_xy(rc)}: a row is plastic or not as a whole; give them the "
            f"same plastic flag or different delays")
    return yes.astype(np.int64)


def _fanout(net, mesh, N, placement, rows, axon, n_in):
    """Per core, per neuron, the fan-out list: entries in (destination core, delay) order,
    then EXIT for an output neuron."""
    out_g = np.concatenate([placement.gpos[pop.name] for pop in net.populations if pop.output]
                           or [np.zeros(0, np.int64)])
    nsrc = rows[:, 1] >= n_in
    order = np.lexsort((rows[:, 2], rows[:, 0], rows[:, 1]))
    order = order[nsrc[order]]
    fan = [[[] for _ in range(N)] for _ in range(mesh.cores)]
    for r in order:
        g = int(rows[r, 1]) - n_in
        x, y = mesh.core_xy(int(rows[r, 0]))
        fan[g // N][g % N].append((x, y, int(axon[r]), int(rows[r, 2])))
    for g in out_g:
        fan[int(g) // N][int(g) % N].append(EXIT)
    for c in range(mesh.cores):
        e = sum(len(f) for f in fan[c])
        if e > mesh.route_entries:
            raise MappingError(
                f"core {mesh.core_xy(c)} needs {e} routing entries, a core has route_entries = "
                f"{mesh.route_entries}: raise route_entries by {e - mesh.route_entries} or "
                f"more, or reduce the fan-out of its neurons (each distinct destination "
                f"core and delay of a neuron takes one entry, an output neuron one more)")
    return fan


def _input_targets(net, rows, axon, in_off, n_in):
    """Input name -> ``{"channel", "core", "axon", "delay"}``: where each channel's spikes go."""
    isrc = np.flatnonzero(rows[:, 1] < n_in)
    targets = {}
    for s in net.inputs:
        sel = isrc[(rows[isrc, 1] >= in_off[s.name]) &
                   (rows[isrc, 1] < in_off[s.name] + s.size)]
        sel = sel[np.lexsort((rows[sel, 2], rows[sel, 0], rows[sel, 1]))]
        targets[s.name] = {
            "channel": [int(v) - in_off[s.name] for v in rows[sel, 1]],
            "core": [int(v) for v in rows[sel, 0]],
            "axon": [int(v) for v in axon[sel]],
            "delay": [int(v) for v in rows[sel, 2]]}
    return targets


def connect(net, mesh, params, placement):
    """The synapses onto axon rows (one per distinct (destination core, source, delay)),
    the routing entries and the input targets (see the module's rules); ``placement`` from
    :func:`place`. Returns a :class:`Connectivity`."""
    p, N = params, params.neurons
    in_off, n_in = {}, 0
    for src in net.inputs:
        in_off[src.name] = n_in
        n_in += src.size
    names = _Names(net, mesh, N, in_off, n_in, placement.gpos)
    projs = net.projections
    src, dst, w, d, pid = _synapse_table(net, placement, in_off, n_in)
    dcore, dn = dst // N, dst % N
    # rows: unique (destination core, source, delay), sorted in that order
    keys = np.stack([dcore, src, d], axis=1)
    rows, inv = np.unique(keys, axis=0, return_inverse=True)
    inv = np.asarray(inv).reshape(-1)
    R = rows.shape[0]
    rcore = rows[:, 0]
    first_of_core = np.searchsorted(rcore, np.arange(mesh.cores))
    axon = np.arange(R) - first_of_core[rcore] if R else np.zeros(0, np.int64)
    axons_used = np.bincount(rcore, minlength=mesh.cores)
    _check_axons(mesh, p, axons_used)
    W = _row_weights(p, projs, rows, inv, dn, w, pid, names)
    plastic = _row_plastic(mesh, p, projs, rows, inv, pid, names)
    fan = _fanout(net, mesh, N, placement, rows, axon, n_in)
    return Connectivity(n_in=n_in, in_off=in_off, rows=rows, row_axon=axon, W=W,
                        row_plastic=plastic, axons_used=axons_used, fan=fan,
                        input_targets=_input_targets(net, rows, axon, in_off, n_in))


# 5. the image
def _core_tables(net, p, c, pop_params, pop_state, placement):
    """Per-neuron parameters and initial state of core ``c`` (defaults and 0 where no
    population sits), and the mask of the neurons in use."""
    N = p.neurons
    defaults = p.param_defaults()
    per_neuron = {k: np.full(N, defaults[k], np.int64) for k in p.param_ranges()}
    state = {k: np.zeros(N, np.int64) for k in p.state_ranges()}
    used = np.zeros(N, bool)
    for pop in net.populations:
        done = 0
        for cc, first, cnt in placement.chunks[pop.name]:
            if cc == c:
                for k in per_neuron:
                    per_neuron[k][first:first + cnt] = pop_params[pop.name][k][done:done + cnt]
                for k in state:
                    state[k][first:first + cnt] = pop_state[pop.name][k][done:done + cnt]
                used[first:first + cnt] = True
            done += cnt
    return per_neuron, state, used


def _profile_table(p, sets, per_neuron, used):
    """``"profile"`` mode: the core's profile table and each neuron's profile index. Neurons
    no population uses take the defaults' profile (added if there is room), else profile 0."""
    pnames = list(p.param_ranges())
    defaults = p.param_defaults()
    sets = list(sets)
    silent = tuple(defaults[k] for k in pnames)
    if not used.all() and silent not in sets and len(sets) < p.profiles:
        sets.append(silent)     # neurons no population uses stay silent
    cols = np.stack([per_neuron[k] for k in pnames], axis=1)
    pidx = np.zeros(p.neurons, np.int64)
    for n in range(p.neurons):
        key = tuple(int(v) for v in cols[n])
        if used[n]:
            pidx[n] = sets.index(key)
        else:
            pidx[n] = sets.index(silent) if silent in sets else 0
    table = {k: np.full(p.profiles, defaults[k], np.int64) for k in pnames}
    for r, key in enumerate(sets):
        for k, v in zip(pnames, key):
            table[k][r] = v
    return table, pidx


def _meta(net, placement, conn):
    return {META_KEY: {
        "format": FORMAT_VERSION,
        "name": net.name,
        "populations": [{"name": pop.name, "size": pop.size, "w_exp": pop.w_exp,
                         "output": pop.output,
                         "placement": [list(ch) for ch in placement.chunks[pop.name]]}
                        for pop in net.populations],
        "inputs": [{"name": s.name, "size": s.size, "targets": conn.input_targets[s.name]}
                   for s in net.inputs],
        "projections": [{"label": pr.label, "pre": pr.pre.name, "post": pr.post.name,
                         "synapses": pr.synapses, "plastic": pr.plastic,
                         "delays": sorted(int(v) for v in np.unique(pr.delay))}
                        for pr in net.projections],
    }}


def build_image(net, mesh, params, stdp, pop_params, pop_state, placement, conn):
    """The :class:`NetworkImage`: one :class:`CoreImage` and one :class:`RouteTable` per
    core from the outputs of the phases before, and the mapper's entry in ``meta``."""
    p, N = params, params.neurons
    cores, routes = [], []
    for c in range(mesh.cores):
        weights = np.zeros((p.axons, N), np.int64)
        sel = np.flatnonzero(conn.rows[:, 0] == c) if conn.rows.size else np.zeros(0, int)
        weights[conn.row_axon[sel]] = conn.W[sel]
        per_neuron, state, used = _core_tables(net, p, c, pop_params, pop_state, placement)
        pidx = None
        if p.param_mode == "profile":
            per_neuron, pidx = _profile_table(p, placement.core_sets.get(c, []), per_neuron,
                                              used)
        kw = {}
        if p.learning:
            plastic = np.zeros(p.axons, np.int64)
            plastic[conn.row_axon[sel]] = conn.row_plastic[sel]
            kw = {"stdp": dict(stdp or {}), "plastic": plastic}
        try:
            cores.append(CoreImage(params=p, weights=weights,
                                   w_exp=placement.core_wexp.get(c, 0), neuron_params=per_neuron,
                                   profile_index=pidx, state=state, **kw))
        except ImageError as e:
            raise MappingError(f"core {mesh.core_xy(c)}: {e}") from None
        routes.append(RouteTable.from_fanout(mesh, p, conn.fan[c]))
    return NetworkImage(mesh=mesh, cores=cores, routes=routes, meta=_meta(net, placement, conn))
