"""Demonstration experiments, shared by the examples, the command line and the tests."""

import numpy as np

from ..rtl.image import CoreImage
from ..rtl.params import CoreParams
from .golden import CoreModel
from .stdp import stdp_window
from .trace import first_divergence


__all__ = ["WINDOW_REGS", "window_job", "stdp_window_experiment"]

#: STDP registers of the window demo: |dw| <= (100 * 128) >> 7 = 100, inside 8-bit weights.
WINDOW_REGS = {"learn_en": 1, "a_plus": 100, "a_minus": 100, "s_plus": 7, "s_minus": 7,
               "k_pre": 3, "k_post": 3, "imp_pre": 128, "imp_post": 128,
               "w_min": -128, "w_max": 127}
WINDOW_PARAMS = CoreParams(neurons=4, axons=1, lanes=4, weight_bits=8, learning=True,
                           refractory_bits=8)


def window_job(dt, regs=WINDOW_REGS, t_pre=25, steps=50):
    """One pre spike (axon 0) at ``t_pre`` and one post spike (neuron 0) at ``t_pre + dt``.

    Neuron 0's bias raises v by 1 a step from ``64 - t_post``, so it crosses
    ``vth << 6 = 64`` exactly at ``t_post``; a refractory period of 255 steps prevents a
    second spike. The weight starts at 0 and enters nothing else (a_in of neuron 0 uses it
    only at ``t_pre``, before STDP changes it)."""
    p = WINDOW_PARAMS
    t_post = t_pre + dt
    if not 0 <= t_post < steps:
        raise ValueError(f"dt = {dt}: the post spike at {t_post} is outside 0..{steps - 1}")
    par = {k: np.full(p.neurons, d) for k, d in p.param_defaults().items()}
    par["vth"][:] = 131071
    par["refr"][:] = 255
    par["vth"][0], par["bias_mant"][0], par["bias_exp"][0] = 1, 1, 0
    state = {"u": 0, "v": np.array([64 - t_post, 0, 0, 0]), "refr_cnt": 0}
    img = CoreImage(params=p, weights=np.zeros((1, p.neurons), np.int64), neuron_params=par,
                    state=state, stdp={**p.stdp_defaults(), **regs},
                    plastic=np.ones(1, np.int64))
    inputs = [[0] if t == t_pre else [] for t in range(steps)]
    return img, inputs, steps


def stdp_window_experiment(dts, simulator="verilator", regs=WINDOW_REGS):
    """Measure dw(dt) on the RTL and in the golden model; returns ``(dts, rtl_dw, golden_dw,
    closed_form_dw)`` as int arrays. Raises AssertionError if the RTL and the golden model
    differ anywhere (spikes, states, weights, traces) or a post spike is not where planned."""
    from .runner import Stimulus, run_bench
    dts = [int(d) for d in dts]
    jobs, golden = [], []
    for dt in dts:
        img, inputs, steps = window_job(dt, regs)
        g = CoreModel(img).run(inputs, steps)
        fired = g.spikes[:, 0].nonzero()[0].tolist()
        assert fired == [25 + dt], f"dt = {dt}: neuron 0 fired at {fired}, planned {25 + dt}"
        golden.append(g)
        jobs.append((img, inputs, steps, Stimulus(readback=False)))
    rtl = run_bench(jobs, simulator)
    for dt, g, r in zip(dts, golden, rtl):
        div = first_divergence(g, r)
        assert div is None, f"dt = {dt}: {div}"
    closed = stdp_window({**WINDOW_PARAMS.stdp_defaults(), **regs}, WINDOW_PARAMS.trace_max, dts)
    return (np.array(dts), np.array([int(r.extra["weights"][-1, 0, 0]) for r in rtl]),
            np.array([int(g.extra["weights"][-1, 0, 0]) for g in golden]), np.asarray(closed))
