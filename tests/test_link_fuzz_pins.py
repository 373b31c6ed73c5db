"""Link fuzzing of the exact board top-level through its UART pins, under Verilator and
Icarus, with no Python per clock (docs/host_link.md §11): the ULX3S top-level (``BoardTop``,
its PLL replaced by the harness clock) with a 2 x 1 array (weights, parameters, state,
routing tables), at 4 clocks per bit, in the fast UART harness. Seeded random requests:
good reads, identifies and writes, spoilt frames (bit flips, bytes dropped or inserted, cut
short, noise), characters dropped by the UART (bad stop bits) inside frames and as line
noise between them, oversize frames, frames refused for their length, command, address,
core, region, op, axon, delay or padding bits, pauses mid-frame. Every reply frame equals the
Python reference's (the right error reply every time, none missing, none extra), the run
never hangs (each request's replies within 100,000 clocks; a final ``IDENTIFY`` answers), and
the read-back of every memory at the end equals the image's changed by the good writes only.
"""

import random

import numpy as np
import pytest

from spikefab.rtl.params import CoreParams, MeshParams

from link_fuzz_helpers import board_harness, check_run, fuzz_plan, run_plan
from mesh_helpers import random_network
from rtl_helpers import SIMULATORS, lively_image, seed_for


CORE = CoreParams(neurons=8, axons=6, lanes=2, max_delay=2, refractory_bits=2,
                  trace_port=False)
MESH = MeshParams(width=2, height=1, route_entries=32)


def _fuzz(simulator, n, name, default_seed, tmp_path, array=True):
    seed = seed_for(name, default_seed)
    rng = np.random.default_rng(seed)
    net = (random_network(MESH, CORE, rng, exit_prob=0.5, fanout=(0, 2)) if array
           else lively_image(CORE, rng))
    plan = fuzz_plan(random.Random(seed), net, n)
    argv = board_harness(net, simulator)
    run = run_plan(argv, plan, tmp_path / simulator)
    changed = check_run(plan, run)
    kinds = {k if isinstance(k, str) or k is None else "refused" for k in plan.kinds}
    if n >= 1000:
        assert {None, "write", "oversize", "dropped", "line noise", "spoilt", "refused",
                "readback", "identify"} <= kinds
    assert changed > 0, "no good write changed a word: weak test"
    print(f"{simulator}: {n} fuzz requests + {len(plan.segments) - n} read-back/identify, "
          f"{len(run.frames)} reply frames, {run.clocks} clocks in {run.seconds:.1f} s "
          f"({run.clocks / run.seconds:,.0f} clocks/s); {changed} words written")
    return run


@pytest.mark.parametrize("simulator", ["verilator",
                                       pytest.param("icarus", marks=pytest.mark.slow)])
def test_link_fuzz_pins(simulator, tmp_path):
    """1,000 seeded requests through the pins (Verilator about 10 s; Icarus, at about 7,000
    clocks/s, 6 minutes of CPU: make test-slow)."""
    _fuzz(simulator, 1_000, "link fuzz pins", 51, tmp_path)


def test_link_fuzz_pins_icarus_lean(tmp_path):
    """Icarus in the default suite: the board top-level with a bare core (no routing tables:
    a shorter read-back), 20 seeded requests and the full read-back."""
    _fuzz("icarus", 20, "link fuzz pins lean", 53, tmp_path, array=False)


@pytest.mark.slow
@pytest.mark.parametrize("simulator", SIMULATORS)
def test_link_fuzz_pins_10k(simulator, tmp_path):
    """The same with 10,000 requests (slow; times in docs/host_link.md §11)."""
    _fuzz(simulator, 10_000, "link fuzz pins 10k", 52, tmp_path)
