"""The digits classifier through NIR (examples/nir_digits.py, issue 13 item 4): a quick run
on the golden model, and a subset of the test split on the RTL of both simulators, equal to
the golden model on every image (spikes, u and v of every neuron at every step): one image
per simulator in ``make test``, five with ``-m slow``."""

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from spikefab.gen.nir_import import import_nir

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "nir_digits.py"


def _example():
    spec = importlib.util.spec_from_file_location("nir_digits", EXAMPLE)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="module")
def digits(tmp_path_factory):
    nd = _example()
    out = tmp_path_factory.mktemp("nir_digits")
    r = nd.run(out, quick=True, bits=(8, 4))
    return nd, out, r


def test_digits_quick_golden(digits):
    nd, out, r = digits
    assert (out / "digits.nir").exists() and (out / "results.md").exists()
    assert r["test_images"] == 40 and r["steps"] == r["T"] + 1
    for b in r["bits"]:
        # 40 images: one image is 2.5 points
        assert b["acc_golden"] >= 0.9, b["bits"]
        assert b["acc_golden"] >= r["acc_float_snn"] - 0.05
        assert b["syn_events"] > 0 and b["clocks_steps"] > 0 and b["clocks_inputs"] > 0
    assert "command" in (out / "results.md").read_text()


@pytest.mark.parametrize("simulator,images", [
    ("verilator", 1), ("icarus", 1),
    pytest.param("verilator", 5, marks=pytest.mark.slow),
    pytest.param("icarus", 5, marks=pytest.mark.slow)])
def test_digits_rtl_subset(digits, simulator, images):
    nd, out, r = digits
    Xtr, ytr, Xte, yte = nd.load_task(True)
    res = import_nir(out / "digits.nir", dt=nd.DT, reset="subtract")
    x = nd.encode(Xte[:images], r["T"])
    _, q, _ = nd.evaluate(res.float_net, 4, x, yte[:images], nd.encode(Xtr[:40], r["T"]),
                          ytr[:40], r["T"], r["steps"])
    m = q.network.map(nd.MESH, nd.core_params(4))
    got = nd.run_rtl(m, x, r["steps"], simulator)
    R = nd.route_matrix(m)
    for img, o in zip(x, got):
        g = m.run_golden({"input": img}, steps=r["steps"])
        for k in ("spikes", "u", "v"):
            assert np.array_equal(getattr(g.trace, k), getattr(o["trace"], k)), (simulator, k)
        # the clock model is exact but for a few clocks in steps with few spikes
        model, _ = nd.clocks(m, g.trace.spikes, g.inputs, R)
        assert model <= o["cycles"] <= model + 40, (o["cycles"], model)
