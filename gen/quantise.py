"""Post-training quantisation of a :class:`~spikefab.gen.nir_import.FloatNetwork` into a
:class:`~spikefab.gen.netdesc.Network` of integer ``cuba`` populations (SPEC §3.3).

Per layer (one spiking node; its incoming connections share the layer's scale):

* **scale** ``s`` (integer weight units per float unit) = ``qmax / clip``, ``qmax =
  2**(weight_bits-1) - 1`` (symmetric: the most negative code is unused), ``clip`` a
  percentile of the layer's |weights| (100 = the largest); weights beyond ``clip`` saturate
  at ±qmax. One float unit of v is ``64 * 2**w_exp * s`` units of the core's v.
* **threshold and w_exp** rescaled with it: ``vth = round(2**w_exp * s * v_th)``; ``w_exp``
  is the largest of 0..7 for which the threshold fits (≤ 131071) and the calibration's
  largest synaptic sum ``|sum w << w_exp|`` fits ``acc_bits`` (a larger w_exp gives the
  threshold, the bias and v finer steps).
* **decays** rounded to the 12-bit fields: ``du = round(4096 (1 - alpha)) - 1`` (alpha = 0
  gives du = 4095: u is this step's input, a LIF without synaptic current), ``dv =
  round(4096 (1 - beta))``.
* **bias** (Affine biases, v_leak) ``bias_mant << bias_exp = round(64 * 2**w_exp * s * b)``
  per step, with **bias tuning**: ``b`` also cancels the mean quantisation error of the
  layer's input, ``-sum_i (w_q[i]/s - w[i]) * rate[i] / (1 - alpha)`` with ``rate`` the mean
  spike rate of source i on the calibration set.
* **scale search**: layer by layer (in depth order), each candidate percentile is tried with
  the integer network run bit-exactly (:func:`simulate_network`) on the calibration set; the
  one with the best accuracy (labels given) or agreement with the float network's argmax
  (no labels) is kept (ties: the larger clip).

The report rows (:attr:`QuantResult.rows`): scale, bits, w_exp, vth, largest and mean
|quantisation error| of the weights (float units), decays, and what saturates (clipped
weights, a clamped threshold or bias, synaptic sums over ``acc_bits`` on the calibration set).
"""

from dataclasses import dataclass, field

import numpy as np

from spikefab.rtl.params import CUBA_PARAM_DEFAULTS, CUBA_PARAM_RANGES
from spikefab.sim.golden import cuba_step

from .netdesc import Network

__all__ = ["quantise", "QuantResult", "simulate_network", "readout", "PERCENTILES"]

PERCENTILES = (100.0, 99.9, 99.5, 99.0, 98.0, 96.0)
VTH_MAX = CUBA_PARAM_RANGES["vth"][1]


@dataclass
class QuantResult:
    network: Network
    rows: list                      # one dict per layer (see the module docstring)
    choice: dict                    # layer -> percentile kept
    acc_bits: int
    search: list = field(default_factory=list)   # (layer, percentile, score) tried


# --- the bit-exact batched simulation -----------------------------------------------------

def simulate_network(net, spikes, steps, *, acc_bits):
    """Run ``net`` (a :class:`Network` of ``cuba`` populations) on a batch, with SPEC §3.3's
    arithmetic (the golden model's ``cuba_step``), projection delays and input timing as
    the mapper lays them out (an input spike at step t through delay d is integrated at
    t + d - 1). ``spikes``: ``{input: 0/1 [B, T, size]}``. Returns ``(spikes, v)``:
    ``{population: bool [B, steps, size]}`` and the final v ``{population: [B, size]}``."""
    B = next(iter(spikes.values())).shape[0]
    lo, hi = -(1 << (acc_bits - 1)), (1 << (acc_bits - 1)) - 1
    rec = {}
    for name, s in spikes.items():
        s = np.asarray(s)
        pad = np.zeros((B, steps, s.shape[2]), np.float64)
        pad[:, :min(steps, s.shape[1])] = s[:, :steps]
        rec[name] = pad
    pops = net.populations
    for p in pops:
        rec[p.name] = np.zeros((B, steps, p.size), np.float64)
    in_names = {i.name for i in net.inputs}
    mats = {p.name: [] for p in pops}          # (source, delay, input?, W [pre, post] float)
    for pr in net.projections:
        for d in np.unique(pr.delay):
            k = pr.delay == d
            W = np.zeros((pr.pre.size, pr.post.size))
            np.add.at(W, (pr.pre_index[k], pr.post_index[k]),
                      pr.weight[k] * float(1 << pr.post.w_exp))
            mats[pr.post.name].append((pr.pre.name, int(d), pr.pre.name in in_names, W))
    params = {p.name: {k: np.asarray(p.params.get(k, CUBA_PARAM_DEFAULTS[k]), np.int64)
                       for k in ("du", "dv", "vth", "bias_mant", "bias_exp", "reset_sub")}
              for p in pops}
    state = {p.name: {"u": np.zeros((B, p.size), np.int64), "v": np.zeros((B, p.size), np.int64)}
             for p in pops}
    for t in range(steps):
        for p in pops:
            a = np.zeros((B, p.size))
            for src, d, is_in, W in mats[p.name]:
                ts = t - d + 1 if is_in else t - d
                if 0 <= ts < steps:
                    a += rec[src][:, ts] @ W
            a_in = np.clip(np.rint(a).astype(np.int64), lo, hi)
            state[p.name], s = cuba_step(state[p.name], params[p.name], a_in)
            rec[p.name][:, t] = s
    return ({p.name: rec[p.name].astype(bool) for p in pops},
            {p.name: state[p.name]["v"] for p in pops})


def readout(spk, v, vth, shift, T):
    """Predicted class per image: the most spikes in the output window ``[shift, shift+T)``,
    ties broken by the final v as a fraction of the threshold."""
    counts = spk[:, shift:shift + T].sum(axis=1).astype(float)
    return np.argmax(counts + np.clip(v / np.maximum(vth, 1e-12), -0.99, 0.99) * 0.5, axis=1)


# --- quantising one layer -----------------------------------------------------------------

def _layer_ints(layer, bits, pct, rates, ain_max_fn, acc_bits, bias_tuning):
    """The integer parameters of one layer at clip percentile ``pct``; returns (ints, row)."""
    qmax = (1 << (bits - 1)) - 1
    allw = np.concatenate([np.abs(W[W != 0]) for _, W in layer.conns] or [np.zeros(1)])
    clip = float(np.percentile(allw, pct)) if allw.size and allw.max() > 0 else 1.0
    s = qmax / clip
    wq = {src: np.clip(np.rint(W * s), -qmax, qmax).astype(np.int64) for src, W in layer.conns}
    n_clipped = sum(int(np.sum(np.abs(W * s) > qmax + 0.5)) for _, W in layer.conns)
    err = np.concatenate([(wq[src] / s - W)[W != 0] for src, W in layer.conns]
                         or [np.zeros(1)])
    du = np.clip(np.rint(4096 * (1 - layer.alpha)) - 1, 0, 4095).astype(np.int64)
    dv = np.clip(np.rint(4096 * (1 - layer.beta)), 0, 4095).astype(np.int64)
    alpha_q = (4095 - du) / 4096
    bias_v = layer.b_v + layer.b_i / np.maximum(1 - layer.alpha, 1e-9)
    if bias_tuning and rates is not None:
        corr = sum(rates[src] @ (wq[src] / s - W) for src, W in layer.conns)
        bias_v = bias_v - corr / np.maximum(1 - alpha_q, 1e-9)
    ain = ain_max_fn(wq)                     # largest |sum w| over the calibration steps
    sat = []
    w_exp = 7
    while w_exp > 0 and (np.rint((1 << w_exp) * s * layer.v_th).max() > VTH_MAX or
                         ain * (1 << w_exp) > (1 << (acc_bits - 1)) - 1):
        w_exp -= 1
    vth = np.rint((1 << w_exp) * s * layer.v_th).astype(np.int64)
    if vth.max() > VTH_MAX:
        sat.append(f"vth clamped to {VTH_MAX} ({int(np.sum(vth > VTH_MAX))} neurons)")
        vth = np.minimum(vth, VTH_MAX)
    if ain * (1 << w_exp) > (1 << (acc_bits - 1)) - 1:
        sat.append(f"calibration synaptic sums reach {int(ain) << w_exp}, over acc_bits = "
                   f"{acc_bits}")
    b = np.rint(64 * (1 << w_exp) * s * bias_v).astype(np.int64)
    bexp = np.zeros(layer.size, np.int64)
    while np.any((np.abs(b) > 4095) & (bexp < 7)):
        big = (np.abs(b) > 4095) & (bexp < 7)
        bexp[big] += 1
        b[big] = np.rint(64 * (1 << w_exp) * s * bias_v[big] / (1 << bexp[big]))
    if np.any(np.abs(b) > 4095):
        sat.append(f"bias clamped ({int(np.sum(np.abs(b) > 4095))} neurons)")
    b = np.clip(b, -4096, 4095)
    if n_clipped:
        sat.append(f"{n_clipped} weights clipped at ±{qmax} ({pct:g}th percentile clip)")
    ints = {"wq": wq, "w_exp": w_exp, "params": {"du": du, "dv": dv, "vth": vth,
                                                 "bias_mant": b, "bias_exp": bexp}}
    row = {"name": layer.name, "scale": float(s * (1 << w_exp)), "weight_scale": float(s),
           "bits": bits, "percentile": pct, "clip": clip, "w_exp": w_exp,
           "vth": int(vth.max()) if np.all(vth == vth.max()) else f"{vth.min()}..{vth.max()}",
           "max_err": float(np.abs(err).max()), "mean_err": float(np.abs(err).mean()),
           "du": int(du[0]) if np.all(du == du[0]) else "per neuron",
           "dv": int(dv[0]) if np.all(dv == dv[0]) else "per neuron",
           "tau_err": float(np.max(np.abs((4096 - dv) / 4096 - layer.beta))),
           "saturation": "; ".join(sat)}
    return ints, row


def build_network(fnet, ints, reset):
    """The :class:`Network` of the integer layers ``ints`` (layer name -> dict)."""
    net = Network(fnet.name)
    for name, size in fnet.inputs.items():
        net.input(name, size)
    for l in fnet.layers:
        q = ints[l.name]
        params = dict(q["params"])
        if reset == "subtract":
            params["reset_sub"] = 1
        net.population(l.name, l.size, params=params, w_exp=q["w_exp"])
    for l in fnet.layers:
        for src, _ in l.conns:
            net.project(src, l.name, ints[l.name]["wq"][src], delay=l.delay_from(fnet, src))
        if l.output:
            net.output(l.name)
    return net


def quantise(fnet, weight_bits, *, calib=None, labels=None, acc_bits=16, search=True,
             bias_tuning=True, percentiles=PERCENTILES, T=None):
    """Quantise ``fnet`` to ``weight_bits``. ``calib``: ``{input: 0/1 [B, T, size]}``
    (needed for bias tuning, the sums' range and the search); ``labels`` [B] for the search's
    accuracy (else agreement with the float network). Returns a :class:`QuantResult`."""
    if not 2 <= weight_bits <= 8:
        raise ValueError(f"weight_bits = {weight_bits}: the quantiser takes 2..8 (a symmetric "
                         f"code needs at least -1..1)")
    rates, pre_spk, T = {}, {}, T
    if calib is not None:
        T = T or next(iter(calib.values())).shape[1]
        fl = fnet.run(calib, T)
        pre_spk = {**{k: np.asarray(v, float) for k, v in calib.items()},
                   **{k: v.astype(float) for k, v in fl.items()}}
        rates = {k: v.mean(axis=(0, 1)) for k, v in pre_spk.items()}
        out = fnet.outputs[0]
        lay = fnet.layer(out)
        fpred = np.argmax(fl[out].sum(axis=1), axis=1)
    target = None if calib is None else (labels if labels is not None else fpred)

    def ain_fn(layer):
        def f(wq):
            if calib is None:     # worst case: every source spikes in the same step
                return float(sum(np.abs(w).sum(axis=0) for w in wq.values()).max())
            a = sum(pre_spk[src] @ w for src, w in wq.items())
            return float(np.abs(a).max())
        return f

    choice = {l.name: percentiles[0] for l in fnet.layers}
    ints, rows = {}, {}
    for l in fnet.layers:
        ints[l.name], rows[l.name] = _layer_ints(l, weight_bits, choice[l.name],
                                                 rates or None, ain_fn(l), acc_bits,
                                                 bias_tuning)
    tried = []
    if search and calib is not None:
        L = fnet.max_depth
        for l in fnet.layers:
            best = None
            for pct in percentiles:
                cand, row = _layer_ints(l, weight_bits, pct, rates, ain_fn(l), acc_bits,
                                        bias_tuning)
                trial = dict(ints)
                trial[l.name] = cand
                net = build_network(fnet, trial, fnet.reset)
                spk, v = simulate_network(net, calib, T + L - 1, acc_bits=acc_bits)
                vth = trial[out]["params"]["vth"] * 64.0
                pred = readout(spk[out], v[out], vth, lay.depth - 1, T)
                score = float(np.mean(pred == target))
                tried.append((l.name, pct, score))
                if best is None or score > best[0] + 1e-12:
                    best = (score, pct, cand, row)
            choice[l.name] = best[1]
            ints[l.name], rows[l.name] = best[2], best[3]
    net = build_network(fnet, ints, fnet.reset)
    return QuantResult(network=net, rows=[rows[l.name] for l in fnet.layers], choice=choice,
                       acc_bits=acc_bits, search=tried)
