"""NIR export: a mapped network (:class:`~spikefab.gen.netrun.MappedNetwork`, or a
:class:`~spikefab.gen.netdesc.Network` with the mesh and core parameters to map it on) as a
``nir.NIRGraph``, and the exact way back (:func:`exact_from_graph`, used by
:func:`spikefab.gen.nir_import.import_nir` when a graph carries spikefab's metadata).

What the graph holds (docs/nir.md):

* one ``Input`` node per input, one ``CubaLIF`` node per population and one ``Output`` node
  (``"<population>.out"``) per output population;
* one ``Linear`` node per (source, target, plastic) group of synapses, named
  ``"<source>-><target>"`` (``" plastic"`` appended for a plastic group beside a fixed one),
  with the weights as the cores see them: ``w << w_exp`` (units of ``a_in``);
* floats that are the exact fixed-point values, in units where one ``a_in`` unit is one unit
  of v (the cores' v divided by 64), with the time step ``dt``: ``v_threshold = vth``,
  ``tau_syn = 4096 dt / (du + 1)``, ``w_in = tau_syn / dt``, ``tau_mem = 4096 dt / dv``
  (``inf`` for dv = 0: no leak), ``r = tau_mem / dt``, ``v_leak`` = the per-step bias
  ``(bias_mant << bias_exp) / 64`` times ``tau_mem / dt`` (0 where dv = 0; the bias is in the
  metadata), ``v_reset = 0``;
* under the metadata key ``"spikefab"`` (a JSON string), on the graph: the format, ``dt``,
  the mesh, the core parameters (widths: ``weight_bits``, ``acc_bits``, ...; the reset
  hardware ``subtractive_reset``), the STDP registers; on each node: its creation order and
  the exact integers (a population's parameters and initial state per neuron, ``w_exp``, and
  again ``dt``, its reset mode and the widths; a connection's synapses ``pre_index``,
  ``post_index``, ``weight``, ``delay``, ``plastic``).

The synapses are read back from the image (routing tables and synapse rows): every synapse
with a non-zero weight, and for a routed row whose weights on a core are all zero, zero-weight
synapses to that core's first population, so that the row exists again. Mapping the exported
network with the same mesh and parameters gives back the same memories bit for bit (every
core's weights, parameters, state, STDP registers and routing table); the image's ``meta``
lists the projections as regrouped here.
"""

import json
import math
from pathlib import Path

import numpy as np

from spikefab.rtl.params import CoreParams, MeshParams

from .netdesc import Network
from .netrun import MappedNetwork

__all__ = ["export_nir", "write_nir", "exact_from_graph", "ExactNetwork", "FORMAT"]

FORMAT = 1
NS = "spikefab"


class ExactNetwork:
    """The integer network a spikefab export describes: ``network``, ``mesh``, ``params``,
    ``stdp`` (or None), ``dt``."""

    def __init__(self, network, mesh, params, stdp, dt):
        self.network, self.mesh, self.params, self.stdp, self.dt = (network, mesh, params,
                                                                    stdp, dt)

    def map(self, mesh=None, params=None):
        return self.network.map(mesh or self.mesh, params or self.params,
                                stdp=self.stdp if (params or self.params).learning else None)


def _population_tables(m):
    """{population: (params {name: [size]}, state {name: [size]})} from the core images."""
    out = {}
    for pop in m.populations:
        par, st = {}, {}
        for c, first, cnt in m.placement[pop]:
            img = m.image.cores[c]
            table = img.neuron_param_table()
            for k, v in table.items():
                par.setdefault(k, []).extend(int(x) for x in v[first:first + cnt])
            for k, v in img.state.items():
                st.setdefault(k, []).extend(int(x) for x in v[first:first + cnt])
        out[pop] = (par, st)
    return out


def _synapses(m):
    """{(source, target, plastic): {"pre_index", "post_index", "weight", "delay"}} read
    from the routing tables and synapse rows."""
    img, N = m.image, m.params.neurons
    on_core = {}                                   # core -> [(pop, first, cnt, offset)]
    for pop in m.populations:
        off = 0
        for c, first, cnt in m.placement[pop]:
            on_core.setdefault(c, []).append((pop, first, cnt, off))
            off += cnt
    groups = {}

    def add_row(src, i, c, axon, delay):
        w = img.cores[c].weights[axon]
        plastic = bool(img.cores[c].plastic[axon]) if m.params.learning else True
        hit = False
        for pop, first, cnt, off in on_core.get(c, []):
            js = np.flatnonzero(w[first:first + cnt])
            if js.size:
                hit = True
                g = groups.setdefault((src, pop, plastic), {k: [] for k in
                                                            ("pre_index", "post_index",
                                                             "weight", "delay")})
                g["pre_index"] += [i] * js.size
                g["post_index"] += [int(off + j) for j in js]
                g["weight"] += [int(w[first + j]) for j in js]
                g["delay"] += [int(delay)] * js.size
        if not hit and on_core.get(c):
            pop, first, cnt, off = on_core[c][0]
            g = groups.setdefault((src, pop, plastic), {k: [] for k in
                                                        ("pre_index", "post_index", "weight",
                                                         "delay")})
            g["pre_index"] += [i] * cnt
            g["post_index"] += list(range(off, off + cnt))
            g["weight"] += [0] * cnt
            g["delay"] += [int(delay)] * cnt

    for d in m.meta["inputs"]:
        t = d["targets"]
        for ch, c, a, dl in zip(t["channel"], t["core"], t["axon"], t["delay"]):
            add_row(d["name"], int(ch), int(c), int(a), int(dl))
    for pop in m.populations:
        i = 0
        for c, first, cnt in m.placement[pop]:
            rt = img.routes[c]
            for n in range(first, first + cnt):
                for tgt in rt.targets(n):
                    if tgt != "exit":
                        x, y, a, dl = tgt
                        add_row(pop, i, m.mesh.core_index(x, y), a, dl)
                i += 1
    return groups


def export_nir(obj, *, dt=1.0, mesh=None, params=None, stdp=None):
    """A ``nir.NIRGraph`` of ``obj``: a :class:`MappedNetwork`, or a :class:`Network` (then
    give ``mesh`` and ``params``, and ``stdp`` with learning; it is mapped first)."""
    import nir
    if isinstance(obj, Network):
        if mesh is None or params is None:
            raise ValueError("exporting a Network needs mesh and params (it is mapped first)")
        obj = obj.map(mesh, params, stdp=stdp)
    if not isinstance(obj, MappedNetwork):
        raise TypeError(f"export_nir takes a MappedNetwork or a Network, not "
                        f"{type(obj).__name__}")
    if not (isinstance(dt, (int, float)) and math.isfinite(dt) and dt > 0):
        raise ValueError(f"dt = {dt!r}: expected a positive number")
    m, p = obj, obj.params
    if p.model != "cuba":
        raise ValueError(f"export_nir writes cuba cores; this array has model {p.model!r}")
    meta_pops = {d["name"]: d for d in m.meta["populations"]}
    tables = _population_tables(m)
    nodes, edges = {}, []
    for k, d in enumerate(m.meta["inputs"]):
        nodes[d["name"]] = nir.Input(input_type={"input": np.array([d["size"]])},
                                     metadata={NS: json.dumps({"order": k})})
    for k, pop in enumerate(m.populations):
        par, st = tables[pop]
        n = meta_pops[pop]["size"]
        du, dv = np.asarray(par["du"], float), np.asarray(par["dv"], float)
        bias = np.asarray(par["bias_mant"], float) * 2.0 ** np.asarray(par["bias_exp"], float)
        tau_syn = 4096 * dt / (du + 1)
        with np.errstate(divide="ignore", invalid="ignore"):
            tau_mem = np.where(dv > 0, 4096 * dt / np.maximum(dv, 1), np.inf)
            v_leak = np.where(dv > 0, bias / 64 * tau_mem / dt, 0.0)
        rs = set(par.get("reset_sub", [0]))
        nm = {"order": k, "w_exp": meta_pops[pop]["w_exp"], "output": meta_pops[pop]["output"],
              "params": par, "state": st, "dt": dt, "model": "cuba",
              "reset": "subtract" if rs == {1} else "zero" if rs == {0} else "per neuron",
              "weight_bits": p.weight_bits, "acc_bits": p.acc_bits}
        nodes[pop] = nir.CubaLIF(tau_syn=tau_syn, tau_mem=tau_mem, r=tau_mem / dt,
                                 v_leak=v_leak, v_threshold=np.asarray(par["vth"], float),
                                 v_reset=np.zeros(n), w_in=tau_syn / dt,
                                 metadata={NS: json.dumps(nm)})
        if meta_pops[pop]["output"]:
            nodes[f"{pop}.out"] = nir.Output(output_type={"output": np.array([n])})
            edges.append((pop, f"{pop}.out"))
    sizes = m.sizes
    groups = _synapses(m)
    pairs = {}
    for (src, tgt, plastic) in groups:
        pairs.setdefault((src, tgt), []).append(plastic)
    for k, ((src, tgt, plastic), g) in enumerate(groups.items()):
        name = f"{src}->{tgt}" + (" plastic" if plastic and len(pairs[(src, tgt)]) > 1 else "")
        W = np.zeros((sizes[tgt], sizes[src]))
        e = meta_pops[tgt]["w_exp"]
        np.add.at(W, (np.asarray(g["post_index"]), np.asarray(g["pre_index"])),
                  np.asarray(g["weight"], float) * 2.0 ** e)
        nodes[name] = nir.Linear(weight=W, metadata={NS: json.dumps(
            {"order": k, "plastic": plastic, **g})})
        edges += [(src, name), (name, tgt)]
    gm = {"format": FORMAT, "dt": dt, "name": m.name, "mesh": m.mesh.to_dict(),
          "core": p.to_dict(), "stdp": dict(m.image.cores[0].stdp) if p.learning else None,
          "units": "weights w << w_exp; v in a_in units (core v / 64); time in dt"}
    return nir.NIRGraph(nodes=nodes, edges=edges, metadata={NS: json.dumps(gm)},
                        type_check=False)


def write_nir(obj, path, **kw):
    """Write :func:`export_nir` of ``obj`` to ``path`` with ``nir.write``."""
    import nir
    nir.write(Path(path), export_nir(obj, **kw))


# --- the way back -------------------------------------------------------------------------

def _load(node, what):
    from .nir_import import NirImportError
    raw = node.metadata.get(NS) if isinstance(node.metadata, dict) else None
    if raw is None:
        raise NirImportError(f"{what} lacks the {NS!r} metadata of a spikefab export")
    try:
        return json.loads(raw if isinstance(raw, str) else raw.decode())
    except (ValueError, AttributeError):
        raise NirImportError(f"{what}: its {NS!r} metadata is not valid JSON") from None


def exact_from_graph(graph, raw, *, dt, reset=None):
    """The :class:`~spikefab.gen.nir_import.ImportResult` of a spikefab export: the integer
    network rebuilt from the metadata, every float checked against it."""
    from .nir_import import ImportReport, ImportResult, NirImportError
    gm = _load(graph, "the graph")
    if gm.get("format") != FORMAT:
        raise NirImportError(f"the graph's spikefab metadata has format {gm.get('format')!r}; "
                             f"this version reads {FORMAT}")
    try:
        mesh, params = MeshParams.from_dict(gm["mesh"]), CoreParams.from_dict(gm["core"])
    except (KeyError, ValueError, TypeError) as e:
        raise NirImportError(f"the graph's spikefab metadata: {e}") from None
    report = ImportReport()
    report.conventions = {"dt": dt, "mode": "exact (spikefab export)",
                          "file dt": gm["dt"], "weight_bits": params.weight_bits,
                          "acc_bits": params.acc_bits}
    if not math.isclose(dt, gm["dt"], rel_tol=1e-9):
        report.flags.append(f"dt = {dt:g} was given but the file was exported with dt = "
                            f"{gm['dt']:g}: the integer network is the same, its float times "
                            f"are in the file's dt")
    kinds = {k: type(n).__name__ for k, n in graph.nodes.items()}
    items = {k: _load(n, f"node {k!r}") for k, n in graph.nodes.items() if kinds[k] != "Output"}
    net = Network(gm["name"])
    for k in sorted((k for k in items if kinds[k] == "Input"), key=lambda k: items[k]["order"]):
        net.input(k, int(np.prod(graph.nodes[k].input_type["input"])))
    pops = sorted((k for k in items if kinds[k] == "CubaLIF"), key=lambda k: items[k]["order"])
    subs = set()
    for k in pops:
        d = items[k]
        node = graph.nodes[k]
        if not np.array_equal(np.asarray(node.v_threshold, float).reshape(-1),
                              np.asarray(d["params"]["vth"], float)):
            raise NirImportError(f"node {k!r}: v_threshold does not match its exact metadata")
        subs.update(d["params"].get("reset_sub", [0]))
        net.population(k, int(np.asarray(node.v_threshold).size),
                       params={n: np.asarray(v, np.int64) for n, v in d["params"].items()},
                       state={n: np.asarray(v, np.int64) for n, v in d["state"].items()},
                       w_exp=int(d["w_exp"]))
    file_reset = "subtract" if subs == {1} else "zero" if subs <= {0} else "per neuron"
    if reset is not None and reset != file_reset:
        raise NirImportError(f"reset = {reset!r} was given but the file's neurons reset "
                             f"{file_reset!r} (reset_sub in their parameters)")
    report.conventions["reset"] = file_reset
    for k in sorted((k for k in items if kinds[k] == "Linear"), key=lambda k: items[k]["order"]):
        d = items[k]
        (src,) = [a for a, b in graph.edges if b == k]
        (tgt,) = [b for a, b in graph.edges if a == k]
        W = np.zeros(np.asarray(graph.nodes[k].weight).shape)
        np.add.at(W, (np.asarray(d["post_index"], np.int64), np.asarray(d["pre_index"],
                                                                        np.int64)),
                  np.asarray(d["weight"], float) * 2.0 ** net[tgt].w_exp)
        if not np.array_equal(W, np.asarray(graph.nodes[k].weight, float)):
            raise NirImportError(f"node {k!r}: its weights do not match its exact metadata")
        net.project(src, tgt, synapses=(np.asarray(d["pre_index"], np.int64),
                                        np.asarray(d["post_index"], np.int64),
                                        np.asarray(d["weight"], np.int64)),
                    delay=np.asarray(d["delay"], np.int64), plastic=bool(d["plastic"]))
    for k in pops:
        if items[k]["output"]:
            net.output(k)
    for l in net.populations:
        report.layers.append({"name": l.name, "kind": "CubaLIF", "size": l.size, "depth": 0,
                              "model": "exact", "sources": sorted({p.pre.name for p in
                                                                   net.projections
                                                                   if p.post is l})})
    exact = ExactNetwork(net, mesh, params, gm.get("stdp"), gm["dt"])
    return ImportResult(float_net=None, report=report, exact=exact)


def image_memories(image):
    """The image's arrays without its ``meta``: every memory of every core and routing
    table (what round trips compare bit for bit)."""
    return {k: v for k, v in image.to_arrays().items() if k != "meta"}


def same_memories(a, b):
    x, y = image_memories(a), image_memories(b)
    return x.keys() == y.keys() and all(np.array_equal(x[k], y[k]) for k in x)

