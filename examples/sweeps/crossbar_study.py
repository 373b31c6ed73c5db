"""A crossbar non-ideality study as a sweep job (kind ``callable``).

``study(out_dir, seed, preset=..., ...)`` maps random signed weights onto a crossbar with the
device preset ``preset`` (``spikefab.sim.crossbar.preset``), drives it with random axon
counts for ``steps`` steps and compares each step's synaptic input codes with the same
crossbar built from the ``ideal`` preset (whose codes equal the digital sum bit for bit).
Returns the fraction of codes that are exact and the mean and largest absolute error.

Run a sweep of it: ``spikefab sweep examples/sweeps/crossbar.toml``.
"""

import json

import numpy as np

from spikefab.sim.crossbar import AdcParams, CrossbarSynapses, preset as device_preset


def study(out_dir, seed, preset="rram_neurosim", axons=64, neurons=32, weight_bits=4,
          adc_bits=16, steps=20, rate=0.2):
    rng = np.random.default_rng(seed)
    lo, hi = -(1 << (weight_bits - 1)), (1 << (weight_bits - 1)) - 1
    w = rng.integers(lo, hi + 1, (axons, neurons))

    def crossbar(name):
        dev, arr = device_preset(name)
        return CrossbarSynapses(w, w_exp=2, device=dev, array=arr, adc=AdcParams(bits=adc_bits),
                                weight_bits=weight_bits, seed=seed)

    real, ideal = crossbar(preset), crossbar("ideal")
    errors = []
    for step in range(steps):
        counts = rng.binomial(2, rate, axons).astype(np.int64)
        errors.append(real.a_in(step, counts) - ideal.a_in(step, counts))
    err = np.abs(np.concatenate(errors))
    res = {"exact": float(np.mean(err == 0)), "mean_abs_err": float(err.mean()),
           "max_abs_err": int(err.max())}
    (out_dir / "errors.json").write_text(json.dumps(res) + "\n")
    return res
