"""Plots of traces: spike raster, and membrane and synaptic state of chosen neurons."""

import numpy as np


__all__ = ["plot_trace"]


def plot_trace(trace, path, *, neurons=None, title=None, inputs=None):
    """Write a PNG: a spike raster (with the input events above it, if given) and the
    ``v`` and ``u`` traces of a few neurons (by default the three that fire most)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    T, N = trace.spikes.shape
    if neurons is None:
        neurons = np.argsort(-trace.spikes.sum(axis=0).astype(np.int64), kind="stable")[:3].tolist()
    rows = 3 if inputs is not None else 2
    fig, axes = plt.subplots(rows + 1, 1, figsize=(9, 2.2 * (rows + 1)), sharex=True,
                             gridspec_kw={"height_ratios": [2] * rows + [2]})
    ax = iter(axes)
    if inputs is not None:
        a = next(ax)
        ts = [t for t, ev in enumerate(inputs) for _ in ev]
        ids = [x for ev in inputs for x in ev]
        a.scatter(ts, ids, s=2, c="tab:gray", marker="|")
        a.set_ylabel("input axon")
    a = next(ax)
    t_idx, n_idx = np.nonzero(trace.spikes)
    a.scatter(t_idx, n_idx, s=4, c="k", marker="|")
    a.set_ylabel("neuron")
    a.set_ylim(-0.5, N - 0.5)
    a.set_title(title or f"{int(trace.spikes.sum())} spikes, {N} neurons, {T} steps")
    a = next(ax)
    for n in neurons:
        a.plot(trace.v[:, n], lw=0.8, label=f"v[{n}]")
    a.set_ylabel("v")
    a.legend(loc="upper right", fontsize=7)
    a = next(ax)
    for n in neurons:
        a.plot(trace.u[:, n], lw=0.8, label=f"u[{n}]")
    a.set_ylabel("u (i)")
    a.set_xlabel("step")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
