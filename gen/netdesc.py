"""The description of a spiking network: populations, external inputs, projections and
output populations (see docs/network.md).

Build a :class:`Network`, then :meth:`Network.map` it onto a mesh of cores (the mapper,
:mod:`spikefab.gen.mapper`); the result is a :class:`~spikefab.gen.netrun.MappedNetwork`::

    net = Network("demo")
    inp = net.input("in", 2)
    hid = net.population("hid", 4, params={"vth": 5, "du": 4095, "dv": 4095})
    net.project(inp, hid, np.full((2, 4), 7), delay=2)
    net.output(hid)
    m = net.map(MeshParams(width=2), CoreParams(neurons=4, axons=8, max_delay=2))

Nothing here is checked against hardware limits: the mapper does that.
"""

from dataclasses import dataclass

import numpy as np

from spikefab.rtl.params import W_EXP_MAX

from .mapper import map_network
from .netrun import MappedNetwork


__all__ = ["Network", "Population", "InputSource", "Projection"]


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
        :class:`~spikefab.gen.netrun.MappedNetwork`. ``stdp``: the STDP registers of every
        core (only with ``params.learning``; missing ones take ``CoreParams.stdp_defaults``).
        Raises :class:`~spikefab.gen.mapper.MappingError` when something does not fit (see
        :func:`~spikefab.gen.mapper.map_network`)."""
        return MappedNetwork(map_network(self, mesh, params, stdp=stdp))
