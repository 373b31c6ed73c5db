"""Core parameters and images: bad input gets a message naming what and where; nothing
half-applied."""

import numpy as np
import pytest

from spikefab.rtl import layouts
from spikefab.rtl.image import CoreImage, ImageError
from spikefab.rtl.params import CoreParams, ParamError


@pytest.mark.parametrize("kw, message", [
    ({"neurons": 0}, "neurons = 0 is out of range: allowed 1..4096"),
    ({"axons": 5000}, "axons = 5000 is out of range: allowed 1..4096"),
    ({"weight_bits": 9}, "weight_bits = 9 is out of range: allowed 1..8"),
    ({"lanes": 3}, "lanes = 3 is not allowed: expected a power of two"),
    ({"neurons": 6, "lanes": 4}, "neurons = 6 is not allowed with lanes = 4"),
    ({"model": "izh"}, "model = 'izh' is not allowed: expected one of 'cuba', 'shift'"),
    ({"acc_bits": 1}, "acc_bits = 1 is out of range: allowed 2..24"),
    ({"max_delay": 0}, "max_delay = 0 is out of range: allowed 1..64"),
    ({"neurons": "8"}, "neurons must be an integer in 1..4096, not '8'"),
    ({"model": "shift", "v_floor": True}, "v_floor = True is not allowed with model = 'shift'"),
    ({"refractory_bits": 9}, "refractory_bits = 9 is out of range: allowed 0..8"),
])
def test_param_errors(kw, message):
    with pytest.raises(ParamError) as e:
        CoreParams(**kw)
    assert message in str(e.value)


P = CoreParams(neurons=8, axons=4, lanes=4, param_mode="profile", profiles=4,
               refractory_bits=2)


@pytest.mark.parametrize("kw, message", [
    ({"weights": np.full((4, 8), 8)}, "weights[0, 0] = 8 is out of range: allowed -8..7"),
    ({"weights": np.zeros((8, 4), np.int64)}, "weights has shape (8, 4), expected (4, 8)"),
    ({"weights": np.zeros((4, 8))}, "weights must hold integers, not float64"),
    ({"w_exp": 8}, "w_exp = 8 is out of range: allowed 0..7"),
    ({"neuron_params": {"du": [0, 0, 4096, 0]}},
     "neuron_params['du'][2] = 4096 is out of range: allowed 0..4095"),
    ({"neuron_params": {"refr": 4}}, "neuron_params['refr'][0] = 4 is out of range: allowed 0..3"),
    ({"neuron_params": {"th": 5}}, "neuron parameter 'th' does not exist for this core"),
    ({"profile_index": [0, 1, 2, 3, 4, 0, 0, 0]},
     "profile_index[4] = 4 is out of range: allowed 0..3"),
    ({"state": {"v": np.full(8, 1 << 23)}}, "state['v'][0] = 8388608 is out of range"),
])
def test_image_errors(kw, message):
    with pytest.raises(ImageError) as e:
        CoreImage(params=P, **kw)
    assert message in str(e.value)


def test_image_round_trip_and_words(tmp_path):
    img = CoreImage.random(P, np.random.default_rng(2))
    img.save(tmp_path / "i.npz")
    back = CoreImage.load(tmp_path / "i.npz")
    assert back.params == img.params
    np.testing.assert_array_equal(back.weights, img.weights)
    for k in img.neuron_params:
        np.testing.assert_array_equal(back.neuron_params[k], img.neuron_params[k])
    fields = layouts.unpack(layouts.param_layout(P), img.param_words())
    for k, v in img.neuron_params.items():
        np.testing.assert_array_equal(fields[k], v)
    state = layouts.unpack(layouts.state_layout(P), img.state_words())
    np.testing.assert_array_equal(state["v"], img.state["v"])


def test_pack_rejects_out_of_range_fields():
    lay = layouts.axon_event_layout(P)
    with pytest.raises(ValueError, match="field 'axon' holds a value outside 0..3"):
        layouts.pack(lay, {"axon": [1, 4], "delay": 0})
    with pytest.raises(IndexError, match="index 8 is out of range for region STATE"):
        layouts.cfg_address(P, layouts.Region.STATE, 8)
