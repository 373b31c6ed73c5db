"""Crossbar parameters (issue 10 (d)): bad values are refused with a message that names the
parameter, the value and what is allowed; the presets exist, cite a source and build."""

import numpy as np
import pytest

from spikefab.rtl.params import ParamError
from spikefab.sim.crossbar import (PRESETS, AdcParams, ArrayParams, CrossbarSynapses,
                                   DeviceParams, preset)


@pytest.mark.parametrize("cls,kw,msg", [
    (ArrayParams, {"r_row": -1.0}, r"r_row = -1.0 is out of range: allowed >= 0"),
    (ArrayParams, {"r_sense": -0.5}, r"r_sense = -0.5 is out of range: allowed >= 0"),
    (ArrayParams, {"r_col": float("nan")}, r"r_col must be a real number, not nan"),
    (ArrayParams, {"idle_rows": "open"},
     r"idle_rows = 'open' is not allowed: expected 'grounded' or 'floating'"),
    (ArrayParams, {"v_read": 0.0}, r"v_read = 0.0 is out of range: allowed > 0 and <= 10"),
    (ArrayParams, {"sinh_a": -2.0}, r"sinh_a = -2.0 is out of range: allowed > 0 and <= 100"),
    (DeviceParams, {"levels": 1}, r"levels = 1 is out of range: allowed 2..65536"),
    (DeviceParams, {"levels": 8.0}, r"levels must be an integer in 2..65536, not 8.0"),
    (DeviceParams, {"g_min": -1e-6}, r"g_min = -1e-06 is out of range: allowed >= 0"),
    (DeviceParams, {"g_min": 3e-5}, r"g_max = 2.5e-05 is out of range: allowed > g_min = 3e-05"),
    (DeviceParams, {"read_noise": 0.7},
     r"read_noise = 0.7 is out of range: allowed >= 0 and <= 0.5"),
    (DeviceParams, {"p_stuck_low": 0.6, "p_stuck_high": 0.6},
     r"p_stuck_low \+ p_stuck_high = 1.2 is out of range: allowed <= 1"),
    (DeviceParams, {"nl_set": 0.0}, r"nl_set = 0.0 is out of range: allowed > 0"),
    (DeviceParams, {"prog_noise": 1}, r"prog_noise must be True or False, not 1"),
    (DeviceParams, {"drift_t": -5.0}, r"drift_t = -5.0 is out of range: allowed > 0"),
    (AdcParams, {"bits": 1}, r"bits = 1 is out of range: allowed 2..32"),
    (AdcParams, {"bits": 33}, r"bits = 33 is out of range: allowed 2..32"),
    (AdcParams, {"full_scale": -1e-6}, r"full_scale = -1e-06 is out of range: allowed > 0"),
])
def test_bad_parameters(cls, kw, msg):
    with pytest.raises(ParamError, match=f"^{msg}$"):
        cls(**kw)


def test_unknown_preset():
    with pytest.raises(ParamError, match=r"^preset 'pcm_ibm' does not exist: expected one of "
                                         r"ideal, pcm_aihwkit, rram_neurosim$"):
        preset("pcm_ibm")
    with pytest.raises(ParamError, match=r"^levelz is not a known parameter: expected one of"):
        preset("ideal", levelz=3)


def test_bad_model_arguments():
    w = np.zeros((4, 3), int)
    with pytest.raises(ParamError, match=r"^w_exp = 8 is out of range: allowed 0..7$"):
        CrossbarSynapses(w, 8)
    with pytest.raises(ParamError, match=r"^weights must lie in -8..7 \(weight_bits = 4\)$"):
        CrossbarSynapses(w + 8, 0, weight_bits=4)
    with pytest.raises(ParamError, match=r"^weight_bits = 0 is out of range: allowed 1..16$"):
        CrossbarSynapses(w, 0, weight_bits=0)
    with pytest.raises(ParamError, match=r"^w_bounds = \(3, 2\) is out of range: allowed "
                                         r"-8 <= w_min <= w_max <= 7$"):
        CrossbarSynapses(w, 0, weight_bits=4, w_bounds=(3, 2))
    with pytest.raises(ParamError, match=r"^seed = -1 is out of range"):
        CrossbarSynapses(w, 0, seed=-1)
    m = CrossbarSynapses(w, 0)
    with pytest.raises(ParamError, match=r"^axon_counts must be an integer array \[4\]"):
        m.a_in(0, np.zeros(3, int))
    with pytest.raises(ParamError, match=r"^an update addresses a synapse outside 4 axons x "
                                         r"3 neurons$"):
        m.apply_updates(0, [(4, 0, 1)])


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_presets_cite_and_run(name):
    dev, arr, source = PRESETS[name]
    assert len(source) > 20
    d2, a2 = preset(name, levels=32, r_row=arr.r_row)
    assert d2.levels == 32 and a2 == arr
    rng = np.random.default_rng(0)
    w = rng.integers(-8, 8, (32, 8))
    m = CrossbarSynapses(w, 0, device=d2, array=a2, weight_bits=4, seed=1)
    c = rng.integers(0, 2, 32)
    code = m.a_in(0, c)
    ref = c @ w
    if name == "ideal":
        np.testing.assert_array_equal(code, ref)
    else:
        assert np.corrcoef(code, ref)[0, 1] > 0.5       # noisy but still the same product
    m.apply_updates(1, [(0, 0, 1), (1, 1, -1)])
