"""NIR import: a NIR graph (a file or a ``nir.NIRGraph``) into a floating-point layer network
(:class:`FloatNetwork`), the step the quantiser (:mod:`spikefab.gen.quantise`) turns into a
:class:`~spikefab.gen.netdesc.Network` of integer ``cuba`` populations.

Contract (docs/nir.md has the reasoning and the tables):

* Nodes: ``Input``, ``Output``, ``Affine``, ``Linear``, ``Scale``, ``Flatten``, ``Conv2d`` and
  ``SumPool2d`` (expanded into dense weight matrices), and the spiking nodes ``LIF``,
  ``CubaLIF`` and ``IF``. Any other node, a recurrent loop, an edge to an unknown node, a shape
  that does not match, a non-finite value: :class:`NirImportError` naming the node, raised
  before anything is built ("fail closed").
* Every chain of linear nodes between two spiking nodes (or an input and a spiking node)
  becomes one dense float matrix (a *connection*); parallel chains into the same node add.
* The semantics NIR leaves open are explicit arguments, recorded in the report, never
  defaults: ``dt`` (always), ``reset`` (``"zero"`` or ``"subtract"``, needed as soon as the
  graph has a spiking node) and ``syn_input`` (``"euler"`` or ``"jump"``, needed as soon as it
  has a ``CubaLIF``).
* The discrete model each spiking node becomes (forward Euler with ``dt``; the cores' ``cuba``
  model has exactly this form)::

      I[t] = alpha * I[t-1] + sum_src W_eff[src] . s_src[t] + b_I
      v[t] = beta  * v[t-1] + I[t] + b_v
      s[t] = v[t] > v_th;   v[t] = 0 (reset "zero") or v[t] - v_th ("subtract") where s[t]

  ``LIF``: alpha = 0, beta = 1 - dt/tau, W_eff = (dt/tau) r W, b_v = (dt/tau) v_leak.
  ``IF``: alpha = 0, beta = 1, W_eff = dt r W. ``CubaLIF``: alpha = 1 - dt/tau_syn,
  beta = 1 - dt/tau_mem, W_eff = g_syn (dt/tau_mem) r W with g_syn = (dt/tau_syn) w_in for
  ``syn_input = "euler"`` (snnTorch's ``Synaptic``: with its export's w_in = tau_syn/dt and
  r = tau_mem/dt, g = 1) or g_syn = w_in for ``"jump"`` (the current jumps by w_in W per spike,
  Norse's convention).
* Timing: NIR's edges have no delay; on the array a hop costs one step. A spiking node at
  depth k (the longest chain of spiking nodes from an input, inputs at depth 0) is given
  every connection from a source at depth j with delay k - j, so a layer sees all its
  sources exactly as NIR's zero-delay graph would, k - 1 steps late: the output node of a
  layer at depth k shows the spikes of NIR step t at array step t + k - 1. The report states
  the shift and the steps to run.

A file written by :mod:`spikefab.gen.nir_export` carries the exact integer network in its
metadata (key ``"spikefab"``); :func:`import_nir` then rebuilds that network exactly
(:attr:`ImportResult.exact`), checking the floats against it.
"""

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

__all__ = ["NirImportError", "FloatLayer", "FloatNetwork", "ImportReport", "ImportResult",
           "read_graph", "import_nir", "SUPPORTED", "META_NS"]

#: node types the importer understands
SUPPORTED = ("Input", "Output", "Affine", "Linear", "Scale", "Flatten", "Conv2d", "SumPool2d",
             "LIF", "CubaLIF", "IF")
NEURON_TYPES = ("LIF", "CubaLIF", "IF")
LINEAR_TYPES = ("Affine", "Linear", "Scale", "Flatten", "Conv2d", "SumPool2d")
RESETS = ("zero", "subtract")
SYN_INPUTS = ("euler", "jump")
#: the namespaced metadata key of spikefab's own exports
META_NS = "spikefab"


class NirImportError(ValueError):
    """A NIR graph the importer refuses; the message names the node and what is wrong."""


@dataclass
class FloatLayer:
    """One spiking node as the discrete float model of the module docstring (arrays [size])."""
    name: str
    kind: str                  # "LIF", "CubaLIF" or "IF"
    size: int
    alpha: np.ndarray          # synaptic decay per step (0: no synaptic current)
    beta: np.ndarray           # membrane decay per step (1: no leak)
    v_th: np.ndarray
    b_i: np.ndarray            # constant input to I per step (Affine biases)
    b_v: np.ndarray            # constant input to v per step (v_leak)
    conns: list                # [(source name, W_eff [src size, size])]
    depth: int = 1
    output: bool = False
    model: str = ""            # how it maps onto cuba, for the report

    def delay_from(self, net, src):
        return self.depth - net.depth_of(src)


@dataclass
class FloatNetwork:
    """Inputs ``{name: size}`` and spiking layers in creation (topological) order."""
    inputs: dict
    layers: list
    reset: str
    name: str = "nir"

    def layer(self, name):
        return next(l for l in self.layers if l.name == name)

    def depth_of(self, name):
        return 0 if name in self.inputs else self.layer(name).depth

    @property
    def outputs(self):
        return [l.name for l in self.layers if l.output]

    @property
    def max_depth(self):
        return max(l.depth for l in self.layers)

    def run(self, spikes, steps=None):
        """The float reference: NIR's zero-delay graph under the discrete model. ``spikes``:
        ``{input name: 0/1 array [B, T, size]}``; returns ``{layer: bool [B, T, size]}``."""
        first = next(iter(spikes.values()))
        B, T = first.shape[0], steps or first.shape[1]
        state = {l.name: (np.zeros((B, l.size)), np.zeros((B, l.size))) for l in self.layers}
        rec = {l.name: np.zeros((B, T, l.size), bool) for l in self.layers}
        for t in range(T):
            cur = {n: (np.asarray(s[:, t], float) if t < s.shape[1] else
                       np.zeros((B, s.shape[2]))) for n, s in spikes.items()}
            for l in self.layers:          # topological: sources come first
                I, v = state[l.name]
                a = sum((cur[src] @ W for src, W in l.conns), np.zeros((B, l.size)))
                I = l.alpha * I + a + l.b_i
                v = l.beta * v + I + l.b_v
                s = v > l.v_th
                v = np.where(s, v - l.v_th if self.reset == "subtract" else 0.0, v)
                state[l.name] = (I, v)
                cur[l.name] = s.astype(float)
                rec[l.name][:, t] = s
        return rec


@dataclass
class ImportReport:
    """What the import decided: conventions, per-layer models, timing, flags (warnings), and
    (after quantisation) one row per layer."""
    conventions: dict = field(default_factory=dict)
    layers: list = field(default_factory=list)       # dicts: name, kind, size, depth, ...
    flags: list = field(default_factory=list)
    timing: dict = field(default_factory=dict)
    quant: list = field(default_factory=list)        # filled by the quantiser
    mapping: str = ""

    def to_dict(self):
        return {"conventions": self.conventions, "layers": self.layers, "flags": self.flags,
                "timing": self.timing, "quant": self.quant}

    def __str__(self):
        c = self.conventions
        lines = ["NIR import: " + ", ".join(f"{k} = {v}" for k, v in c.items())]
        for l in self.layers:
            lines.append(f"  layer {l['name']!r}: {l['kind']} x{l['size']} -> cuba "
                         f"({l['model']}), depth {l['depth']}, inputs from "
                         f"{', '.join(l['sources'])}")
        t = self.timing
        if t:
            lines.append(f"  timing: {t['rule']}")
        for q in self.quant:
            sat = "SATURATES: " + q["saturation"] if q["saturation"] else "no saturation"
            lines.append(f"  quant {q['name']!r}: scale {q['scale']:.6g} per unit, "
                         f"{q['bits']} bits, w_exp {q['w_exp']}, vth {q['vth']}, "
                         f"max |err| {q['max_err']:.4g}, mean |err| {q['mean_err']:.4g} "
                         f"(float units), du {q['du']}, dv {q['dv']}; {sat}")
        for f in self.flags:
            lines.append(f"  FLAG: {f}")
        if self.mapping:
            lines.append(self.mapping)
        return "\n".join(lines)


@dataclass
class ImportResult:
    """``float_net`` (None for an exact import), ``report``, and for files written by
    :mod:`~spikefab.gen.nir_export`: ``exact`` (the integer description, see
    :func:`spikefab.gen.nir_export.network_from_meta`)."""
    float_net: object
    report: ImportReport
    exact: object = None


# --- reading ------------------------------------------------------------------------------

def read_graph(source):
    """A ``nir.NIRGraph`` from a graph or a file path; the names of spiking nodes whose file
    entry lacks ``v_reset`` (files written before NIR added it, NIR issue 142) are returned
    as the second item. Any failure to read is a :class:`NirImportError`."""
    import nir
    if isinstance(source, nir.NIRGraph):
        return source, []
    path = Path(source)
    if not path.is_file():
        raise NirImportError(f"{path}: no such file")
    try:
        import h5py
        with h5py.File(path, "r") as f:
            nodes = f["node"]["nodes"]
            missing = sorted(k for k, n in nodes.items()
                             if n["type"][()] in (b"LIF", b"CubaLIF", b"IF")
                             and "v_reset" not in n)
        return nir.read(path, type_check=False), missing   # shapes: checked here, by name
    except NirImportError:
        raise
    except Exception as e:              # h5py, nir and its asserts raise many kinds
        raise NirImportError(f"{path}: not a readable NIR file ({type(e).__name__}: "
                             f"{str(e).splitlines()[0] if str(e) else 'no detail'})") from None


def _arr(node_name, what, value, size=None):
    a = np.asarray(value, dtype=float)
    if not np.all(np.isfinite(a)):
        bad = np.flatnonzero(~np.isfinite(a.reshape(-1)))[0]
        raise NirImportError(f"node {node_name!r}: {what} has a non-finite value "
                             f"({a.reshape(-1)[bad]} at flat index {bad})")
    if size is not None:
        if a.size == 1:
            a = np.full(size, float(a.reshape(-1)[0]))
        elif a.size != size:
            raise NirImportError(f"node {node_name!r}: {what} has {a.size} values, expected "
                                 f"{size} (one per neuron) or one")
    return a.reshape(-1) if size is not None else a


def _tuple2(v):
    a = np.asarray(v).reshape(-1)
    return (int(a[0]), int(a[0])) if a.size == 1 else (int(a[0]), int(a[1]))


def conv2d_matrix(name, node, in_shape):
    """The dense matrix [C*H*W, Co*Ho*Wo] of a ``Conv2d`` on a C-order flattened input."""
    w = _arr(name, "weight", node.weight)
    if w.ndim != 4:
        raise NirImportError(f"node {name!r} (Conv2d): weight has {w.ndim} dimensions, "
                             f"expected 4 [C_out, C_in/groups, kH, kW]")
    if len(in_shape) != 3:
        raise NirImportError(f"node {name!r} (Conv2d): input shape {tuple(in_shape)} is not "
                             f"(C, H, W)")
    C, H, W = in_shape
    Co, Cig, kh, kw = w.shape
    g = int(np.asarray(node.groups).reshape(-1)[0])
    if Cig * g != C or Co % g:
        raise NirImportError(f"node {name!r} (Conv2d): weight {w.shape} with groups = {g} "
                             f"does not match {C} input channels")
    sh, sw = _tuple2(node.stride)
    dh, dw = _tuple2(node.dilation)
    pad = node.padding
    if isinstance(pad, (str, bytes)):
        pad = pad.decode() if isinstance(pad, bytes) else pad
        if pad == "valid":
            ph = pw = 0
        elif pad == "same":
            ph, pw = dh * (kh - 1) // 2, dw * (kw - 1) // 2
        else:
            raise NirImportError(f"node {name!r} (Conv2d): padding {pad!r} is not supported")
    else:
        ph, pw = _tuple2(pad)
    Ho = (H + 2 * ph - dh * (kh - 1) - 1) // sh + 1
    Wo = (W + 2 * pw - dw * (kw - 1) - 1) // sw + 1
    if Ho < 1 or Wo < 1:
        raise NirImportError(f"node {name!r} (Conv2d): kernel larger than the padded input")
    M = np.zeros((C * H * W, Co * Ho * Wo))
    oh, ow = np.meshgrid(np.arange(Ho), np.arange(Wo), indexing="ij")
    for co in range(Co):
        grp = co // (Co // g)
        for ci in range(Cig):
            c_in = grp * Cig + ci
            for a in range(kh):
                for b in range(kw):
                    ih, iw = oh * sh + a * dh - ph, ow * sw + b * dw - pw
                    ok = (ih >= 0) & (ih < H) & (iw >= 0) & (iw < W)
                    rows = (c_in * H + ih[ok]) * W + iw[ok]
                    cols = (co * Ho + oh[ok]) * Wo + ow[ok]
                    M[rows, cols] += w[co, ci, a, b]
    bias = np.zeros(Co) if node.bias is None else _arr(name, "bias", node.bias)
    if bias.size == 1:
        bias = np.full(Co, float(bias.reshape(-1)[0]))
    if bias.size != Co:
        raise NirImportError(f"node {name!r} (Conv2d): bias has {bias.size} values, "
                             f"expected {Co}")
    return M, np.repeat(bias, Ho * Wo), (Co, Ho, Wo)


def sumpool_matrix(name, node, in_shape):
    if len(in_shape) != 3:
        raise NirImportError(f"node {name!r} (SumPool2d): input shape {tuple(in_shape)} is "
                             f"not (C, H, W)")
    C, H, W = in_shape
    kh, kw = _tuple2(node.kernel_size)
    sh, sw = _tuple2(node.stride)
    ph, pw = _tuple2(node.padding)
    Ho, Wo = (H + 2 * ph - kh) // sh + 1, (W + 2 * pw - kw) // sw + 1
    if Ho < 1 or Wo < 1:
        raise NirImportError(f"node {name!r} (SumPool2d): kernel larger than the input")
    M = np.zeros((C * H * W, C * Ho * Wo))
    oh, ow = np.meshgrid(np.arange(Ho), np.arange(Wo), indexing="ij")
    for c in range(C):
        for a in range(kh):
            for b in range(kw):
                ih, iw = oh * sh + a - ph, ow * sw + b - pw
                ok = (ih >= 0) & (ih < H) & (iw >= 0) & (iw < W)
                M[(c * H + ih[ok]) * W + iw[ok], (c * Ho + oh[ok]) * Wo + ow[ok]] += 1.0
    return M, np.zeros(C * Ho * Wo), (C, Ho, Wo)


# --- the graph walk -----------------------------------------------------------------------

class _Walker:
    """Resolves every node into ``{source: matrix}`` + bias (linear nodes) or a source
    (Input and spiking nodes), with shapes; detects loops of linear nodes."""

    def __init__(self, graph):
        self.g = graph
        self.pred = {k: [] for k in graph.nodes}
        for a, b in graph.edges:
            for x in (a, b):
                if x not in graph.nodes:
                    raise NirImportError(f"edge ({a!r}, {b!r}) names node {x!r}, which the "
                                         f"graph does not have")
            self.pred[b].append(a)
        self.memo, self.busy = {}, set()

    def kind(self, name):
        return type(self.g.nodes[name]).__name__

    def shape(self, name):
        """Output shape of a source node (Input or spiking)."""
        node, k = self.g.nodes[name], self.kind(name)
        if k == "Input":
            s = node.input_type.get("input") if isinstance(node.input_type, dict) else None
            if s is None:
                raise NirImportError(f"node {name!r} (Input) has no shape")
            return tuple(int(v) for v in np.asarray(s).reshape(-1))
        return tuple(np.asarray(node.v_threshold).shape) or (1,)

    def expr(self, name):
        """(terms {source: M [src size, out size]}, bias [out size], out shape) of the sum
        flowing out of node ``name``."""
        k = self.kind(name)
        if k == "Input" or k in NEURON_TYPES:
            n = int(np.prod(self.shape(name)))
            return {name: np.eye(n)}, np.zeros(n), self.shape(name)
        if name in self.memo:
            return self.memo[name]
        if name in self.busy:
            raise NirImportError(f"node {name!r} ({k}) is on a loop of linear nodes")
        self.busy.add(name)
        terms, bias, shape = self.incoming(name)
        terms, bias, shape = self.apply(name, terms, bias, shape)
        self.busy.discard(name)
        self.memo[name] = (terms, bias, shape)
        return self.memo[name]

    def incoming(self, name):
        """The sum of everything flowing into node ``name``."""
        preds = self.pred[name]
        if not preds:
            raise NirImportError(f"node {name!r} ({self.kind(name)}) has no incoming edge")
        terms, bias, shape = {}, None, None
        for p in preds:
            if self.kind(p) == "Output":
                raise NirImportError(f"edge ({p!r}, {name!r}) leaves an Output node")
            t, b, s = self.expr(p)
            if shape is not None and int(np.prod(s)) != int(np.prod(shape)):
                raise NirImportError(f"node {name!r}: its inputs have different sizes "
                                     f"({tuple(shape)} and {tuple(s)} from {p!r})")
            shape = s
            bias = b if bias is None else bias + b
            for src, M in t.items():
                terms[src] = terms[src] + M if src in terms else M
        return terms, bias, shape

    def apply(self, name, terms, bias, shape):
        node, k = self.g.nodes[name], self.kind(name)
        n_in = int(np.prod(shape))

        def lin(M, b, out_shape):
            if M.shape[0] != n_in:
                raise NirImportError(f"node {name!r} ({k}) takes {M.shape[0]} inputs but "
                                     f"receives {n_in} (shape {tuple(shape)})")
            return ({s: T @ M for s, T in terms.items()}, bias @ M + b, tuple(out_shape))

        if k in ("Affine", "Linear"):
            w = _arr(name, "weight", node.weight)
            if w.ndim != 2:
                raise NirImportError(f"node {name!r} ({k}): weight has shape {w.shape}, "
                                     f"expected 2 dimensions [out, in]")
            b = np.zeros(w.shape[0]) if k == "Linear" else _arr(name, "bias", node.bias,
                                                                 w.shape[0])
            return lin(w.T, b, (w.shape[0],))
        if k == "Scale":
            sc = _arr(name, "scale", node.scale)
            sc = np.broadcast_to(sc.reshape(-1), (n_in,)) if sc.size in (1, n_in) else None
            if sc is None:
                raise NirImportError(f"node {name!r} (Scale): scale has "
                                     f"{np.asarray(node.scale).size} values, input has {n_in}")
            return lin(np.diag(sc), np.zeros(n_in), shape)
        if k == "Flatten":
            return terms, bias, (n_in,)
        if k == "Conv2d":
            ins = shape if len(shape) == 3 else None
            if ins is None and node.input_shape is not None:
                hw = tuple(int(v) for v in np.asarray(node.input_shape).reshape(-1))
                ins = (np.asarray(node.weight).shape[1] * int(np.asarray(node.groups)),) + hw
            M, b, out = conv2d_matrix(name, node, ins or shape)
            return lin(M, b, out)
        if k == "SumPool2d":
            M, b, out = sumpool_matrix(name, node, shape)
            return lin(M, b, out)
        raise NirImportError(f"node {name!r} has type {k}, which is not a linear node")


def _check_types(graph):
    for name, node in graph.nodes.items():
        k = type(node).__name__
        if k not in SUPPORTED:
            raise NirImportError(f"node {name!r} has type {k}, which the importer does not "
                                 f"support (supported: {', '.join(SUPPORTED)})")


def _neuron_model(name, node, dt, syn_input, size):
    """(alpha, beta, gain, v_th, b_v, v_reset, describing dict) of a spiking node."""
    k = type(node).__name__
    vth = _arr(name, "v_threshold", node.v_threshold, size)
    v_reset = _arr(name, "v_reset", getattr(node, "v_reset", 0.0), size)
    r = _arr(name, "r", node.r, size)
    if k == "IF":
        one = np.ones(size)
        return 0 * one, one, dt * r, vth, 0 * one, v_reset, {"model": "IF: du = 4095, dv = 0"}
    tau = _arr(name, "tau" if k == "LIF" else "tau_mem", node.tau if k == "LIF" else
               node.tau_mem, size)
    if np.any(tau < dt):
        i = int(np.flatnonzero(tau < dt)[0])
        raise NirImportError(f"node {name!r}: tau_mem = {tau[i]:g} (neuron {i}) is shorter "
                             f"than dt = {dt:g}: forward Euler would overshoot; check dt")
    v_leak = _arr(name, "v_leak", node.v_leak, size)
    beta = 1.0 - dt / tau
    gain = dt / tau * r
    b_v = dt / tau * v_leak
    if k == "LIF":
        return np.zeros(size), beta, gain, vth, b_v, v_reset, {"model": "LIF: du = 4095"}
    tau_syn = _arr(name, "tau_syn", node.tau_syn, size)
    if np.any(tau_syn < dt):
        i = int(np.flatnonzero(tau_syn < dt)[0])
        raise NirImportError(f"node {name!r}: tau_syn = {tau_syn[i]:g} (neuron {i}) is "
                             f"shorter than dt = {dt:g}: check dt")
    w_in = _arr(name, "w_in", node.w_in, size)
    alpha = 1.0 - dt / tau_syn
    g_syn = dt / tau_syn * w_in if syn_input == "euler" else w_in
    return alpha, beta, gain * g_syn, vth, b_v, v_reset, {"model": f"CubaLIF ({syn_input})"}


def _dt_flags(name, node, dt):
    """Checks of the exporters' conventions that reveal a wrong dt (snnTorch writes
    r = tau/dt and w_in = tau_syn/dt) or Norse's tau scaling (norse issue 411)."""
    flags = []
    k = type(node).__name__
    if k == "IF":
        return flags
    tau = np.asarray(node.tau if k == "LIF" else node.tau_mem, float).reshape(-1)
    r = np.asarray(node.r, float).reshape(-1)
    ratio = tau / np.where(r == 0, np.nan, r)
    if np.all(np.isfinite(ratio)) and np.allclose(ratio, ratio[0], rtol=1e-6) \
            and not np.all(r == 1.0) and not math.isclose(ratio[0], dt, rel_tol=1e-6):
        flags.append(f"node {name!r}: r = tau/{ratio[0]:g} in every neuron, the snnTorch "
                     f"convention r = tau/dt for dt = {ratio[0]:g}, but dt = {dt:g} was given: "
                     f"the file was probably exported with dt = {ratio[0]:g} (wrong dt?)")
    if k == "CubaLIF":
        ts = np.asarray(node.tau_syn, float).reshape(-1)
        wi = np.asarray(node.w_in, float).reshape(-1)
        q = ts / np.where(wi == 0, np.nan, wi)
        if np.all(np.isfinite(q)) and not np.all(wi == 1.0) and \
                np.allclose(q, q[0], rtol=1e-6) and not math.isclose(q[0], dt, rel_tol=1e-6):
            flags.append(f"node {name!r}: w_in = tau_syn/{q[0]:g} in every neuron (snnTorch's "
                         f"w_in = tau_syn/dt for dt = {q[0]:g}), but dt = {dt:g} was given "
                         f"(wrong dt?)")
    if np.any(tau < 2 * dt):
        flags.append(f"node {name!r}: tau = {tau.min():g} is under 2 dt: the membrane loses "
                     f"over half of v per step; Norse's to_nir has been reported to scale tau "
                     f"by dt wrongly (norse issue 411): check the exporter")
    return flags


def import_nir(source, *, dt, reset=None, syn_input=None, name=None):
    """Read a NIR graph (file path or ``nir.NIRGraph``) into an :class:`ImportResult`.

    ``dt`` (seconds per step, required), ``reset`` (``"zero"`` or ``"subtract"``) and
    ``syn_input`` (``"euler"`` or ``"jump"``) as in the module docstring. Raises
    :class:`NirImportError` on anything it cannot import faithfully.
    """
    if isinstance(dt, bool) or not isinstance(dt, (int, float)) or not math.isfinite(dt) \
            or dt <= 0:
        raise NirImportError(f"dt = {dt!r}: give the time step the file was exported with, a "
                             f"positive number (NIR graphs of snnTorch and Norse are only "
                             f"meaningful with it)")
    dt = float(dt)
    if reset is not None and reset not in RESETS:
        raise NirImportError(f"reset = {reset!r}: expected one of {', '.join(RESETS)}")
    if syn_input is not None and syn_input not in SYN_INPUTS:
        raise NirImportError(f"syn_input = {syn_input!r}: expected one of "
                             f"{', '.join(SYN_INPUTS)}")
    graph, missing_reset = read_graph(source)
    _check_types(graph)
    meta = graph.metadata.get(META_NS) if isinstance(graph.metadata, dict) else None
    if meta is not None:
        from .nir_export import exact_from_graph
        return exact_from_graph(graph, meta, dt=dt, reset=reset)
    return _import_float(graph, missing_reset, dt, reset, syn_input,
                         name or (Path(source).stem if not hasattr(source, "nodes") else "nir"))


def _import_float(graph, missing_reset, dt, reset, syn_input, name):
    w = _Walker(graph)
    kinds = {k: type(n).__name__ for k, n in graph.nodes.items()}
    neurons = [k for k, t in kinds.items() if t in NEURON_TYPES]
    inputs = [k for k, t in kinds.items() if t == "Input"]
    outputs = [k for k, t in kinds.items() if t == "Output"]
    if not inputs or not neurons or not outputs:
        raise NirImportError(f"the graph needs at least one Input, one spiking node "
                             f"({', '.join(NEURON_TYPES)}) and one Output; it has "
                             f"{len(inputs)}, {len(neurons)} and {len(outputs)}")
    if reset is None:
        raise NirImportError(f"reset: the graph has spiking node {neurons[0]!r}; give the reset "
                             f"mode its training used, 'zero' (snnTorch reset_mechanism='zero', "
                             f"Norse) or 'subtract' (snnTorch's default)")
    cuba = [k for k in neurons if kinds[k] == "CubaLIF"]
    if cuba and syn_input is None:
        raise NirImportError(f"syn_input: the graph has CubaLIF node {cuba[0]!r}; give how a "
                             f"spike enters its current, 'euler' (I += dt/tau_syn (w_in W s - "
                             f"I), snnTorch's Synaptic) or 'jump' (I jumps by w_in W s, Norse)")
    report = ImportReport()
    report.conventions = {"dt": dt, "reset": reset, "syn_input": syn_input or "n/a (no CubaLIF)",
                          "discretisation": "forward Euler", "r": "membrane gain (dt/tau) r",
                          "w_in": ("current gain (dt/tau_syn) w_in" if syn_input == "euler"
                                   else "current jump w_in" if syn_input else "n/a")}
    layers = {}
    for k in neurons:
        node = graph.nodes[k]
        size = int(np.prod(w.shape(k)))
        alpha, beta, gain, vth, b_v, v_reset, desc = _neuron_model(k, node, dt, syn_input, size)
        if np.any(vth <= 0):
            raise NirImportError(f"node {k!r}: v_threshold must be positive (neuron "
                                 f"{int(np.flatnonzero(vth <= 0)[0])} has {vth.min():g})")
        if np.any(v_reset != 0):
            i = int(np.flatnonzero(v_reset != 0)[0])
            if reset == "zero":
                raise NirImportError(f"node {k!r}: v_reset = {v_reset[i]:g} (neuron {i}): the "
                                     f"cores reset v to 0 or subtract the threshold, not to "
                                     f"another value")
            report.flags.append(f"node {k!r}: v_reset = {v_reset[i]:g} (neuron {i}) is ignored: "
                                f"reset by subtraction was chosen")
        if k in missing_reset:
            report.flags.append(f"node {k!r}: the file has no v_reset (written before NIR added "
                                f"it, NIR issue 142); reset = {reset!r} as given")
        report.flags.extend(_dt_flags(k, node, dt))
        terms, bias, shape = w.incoming(k)
        if int(np.prod(shape)) != size:
            raise NirImportError(f"node {k!r} ({kinds[k]}) has {size} neurons but receives "
                                 f"{int(np.prod(shape))} inputs (shape {tuple(shape)})")
        conns = [(src, M * gain) for src, M in terms.items()]
        b_i = bias * gain
        layers[k] = FloatLayer(name=k, kind=kinds[k], size=size, alpha=alpha, beta=beta,
                               v_th=vth, b_i=b_i, b_v=b_v, conns=conns, model=desc["model"])
    for o in outputs:
        terms, bias, shape = w.incoming(o)
        src = next(iter(terms))
        if len(terms) != 1 or kinds[src] not in NEURON_TYPES or np.any(bias) or \
                terms[src].shape[0] != terms[src].shape[1] or \
                not np.array_equal(terms[src], np.eye(terms[src].shape[0])):
            raise NirImportError(f"node {o!r} (Output) must be fed by one spiking node directly "
                                 f"(the array outputs spikes); it receives "
                                 f"{', '.join(repr(s) for s in terms)} through linear nodes")
        ot = graph.nodes[o].output_type.get("output")
        if ot is not None and int(np.prod(ot)) != layers[src].size:
            raise NirImportError(f"node {o!r} (Output) has shape {tuple(np.asarray(ot))} but "
                                 f"{src!r} has {layers[src].size} neurons")
        layers[src].output = True
    order = _depths(layers, inputs)
    net = FloatNetwork(inputs={k: int(np.prod(w.shape(k))) for k in inputs},
                       layers=[layers[k] for k in order], reset=reset, name=name)
    for l in net.layers:
        report.layers.append({"name": l.name, "kind": l.kind, "size": l.size, "depth": l.depth,
                              "model": l.model, "sources": [s for s, _ in l.conns],
                              "delays": {s: l.delay_from(net, s) for s, _ in l.conns}})
        if l.kind == "CubaLIF" and np.any(l.b_i):
            report.flags.append(f"node {l.name!r}: a bias into the synaptic current becomes a "
                                f"constant input to v of b/(1 - alpha) (its steady state); the "
                                f"first steps differ")
    L = net.max_depth
    report.timing = {"shift": {o: net.layer(o).depth - 1 for o in net.outputs},
                     "rule": f"a hop costs one step: layer at depth k gets its sources at depth j "
                             f"with delay k - j; output of depth k shows NIR step t at array "
                             f"step t + k - 1 (outputs: "
                             + ", ".join(f"{o!r} +{net.layer(o).depth - 1}" for o in net.outputs)
                             + f"); run T + {L - 1} steps for T steps of input"}
    if any(np.any(l.b_i) or np.any(l.b_v) for l in net.layers if l.depth > 1):
        report.flags.append("layers beyond depth 1 have a constant input (bias or v_leak): on "
                            "the array they integrate it during the k - 1 steps before their "
                            "first input arrives too")
    return ImportResult(float_net=net, report=report)


def _depths(layers, inputs):
    """Depth of each spiking node (longest chain from an input); refuses recurrence.
    Returns the names in topological order (by depth, then graph order)."""
    depth, busy = {}, set()

    def d(n):
        if n in inputs:
            return 0
        if n in depth:
            return depth[n]
        if n in busy:
            raise NirImportError(f"node {n!r} is on a recurrent loop: the importer takes "
                                 f"feed-forward graphs only")
        busy.add(n)
        srcs = [s for s, _ in layers[n].conns]
        depth[n] = 1 + max(d(s) for s in srcs)
        busy.discard(n)
        return depth[n]

    for n in layers:
        layers[n].depth = d(n)
    return sorted(layers, key=lambda n: (depth[n], list(layers).index(n)))
