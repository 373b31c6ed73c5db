"""Verilog generation, the manifest, and the command line."""

import json
from pathlib import Path

import numpy as np
import pytest

from spikefab.gen.cli import main
from spikefab.gen.config import ConfigError, loads_config
from spikefab.rtl.netnames import bracketed_names
from spikefab.gen.verilog import generate
from spikefab.rtl import layouts
from spikefab.rtl.image import CoreImage
from spikefab.rtl.params import CoreParams
from spikefab.sim.golden import CoreModel
from spikefab.sim.inputs import load_inputs, save_inputs
from spikefab.sim.trace import Trace

CONFIG = """
[core]
neurons = 16
axons = 8
lanes = 4
param_mode = "profile"
profiles = 4
[core.extensions]
refractory_bits = 2
[build]
name = "my_core"
"""


def test_generate_is_deterministic_and_complete(tmp_path):
    cfg = loads_config(CONFIG)
    img = CoreImage.random(cfg.core, np.random.default_rng(3))
    a = generate(cfg, tmp_path / "a", img)
    b = generate(cfg, tmp_path / "b", img)
    for key in ("verilog", "syn", "param", "pidx", "state", "manifest"):
        assert a[key].read_bytes() == b[key].read_bytes(), f"{key} differs between two runs"
    text = a["verilog"].read_text()
    assert "module my_core(" in text
    # no array-element alias wire `\\name[i]`: Yosys and nextpnr read it as bit i of `name`
    # (rtl/netnames.py); the core has such signals (lanes 4), renamed `\\name.i`
    assert bracketed_names(text) == [] and "syn__r_data.3" in text
    man = json.loads(a["manifest"].read_text())
    assert man["digest"] == cfg.digest()
    assert man["config"]["core"]["refractory_bits"] == 2
    assert man["derived"]["words_per_row"] == 4
    port_names = {p["name"] for p in man["ports"]}
    # the core behind its host adapter: the host interface, and the trace port for monitors
    assert {"host__cmd__payload", "host__cmd__valid", "host__cmd__ready", "host__reply__payload",
            "host__reply__valid", "host__reply__ready", "trace__payload"} <= port_names
    assert {"host_command", "host_reply", "host_codes"} <= set(man["layouts"])
    # every memory image holds exactly the image's words, in the layouts' packing
    syn = [int(line, 16) for line in a["syn"].read_text().split()]
    assert syn == img.syn_words()
    weights = layouts.unpack(layouts.syn_word_layout(cfg.core), syn)
    np.testing.assert_array_equal(np.stack([weights[i] for i in range(4)], 1).reshape(8, 16),
                                  img.weights)
    pidx = [int(line, 16) for line in a["pidx"].read_text().split()]
    assert pidx == img.profile_index.tolist()


def test_generate_changes_with_the_image(tmp_path):
    cfg = loads_config(CONFIG)
    a = generate(cfg, tmp_path / "a", CoreImage(cfg.core))
    img = CoreImage(cfg.core, weights=np.eye(8, 16, dtype=np.int64))
    b = generate(cfg, tmp_path / "b", img)
    assert a["verilog"].read_text() != b["verilog"].read_text()


def test_generate_rejects_an_image_of_another_core(tmp_path):
    cfg = loads_config(CONFIG)
    other = CoreImage(CoreParams(neurons=8, axons=8, lanes=4))
    with pytest.raises(ConfigError, match=r"neurons = 8 in the image, 16 in the configuration"):
        generate(cfg, tmp_path, other)


def test_cli_generate_simulate_compare(tmp_path, capsys):
    cfg_path = tmp_path / "core.toml"
    cfg_path.write_text(CONFIG)
    assert main(["generate", str(cfg_path), "-o", str(tmp_path / "out")]) == 0
    cfg = loads_config(CONFIG)
    rng = np.random.default_rng(8)
    img = CoreImage.random(cfg.core, rng)
    img.save(tmp_path / "img.npz")
    inputs = [rng.integers(0, 8, 3).tolist() for _ in range(20)]
    save_inputs(tmp_path / "in.npz", inputs)
    assert load_inputs(tmp_path / "in.npz") == inputs
    assert main(["simulate", str(tmp_path / "img.npz"), "--inputs", str(tmp_path / "in.npz"),
                 "-o", str(tmp_path / "g.npz")]) == 0
    got = Trace.load(tmp_path / "g.npz")
    ref = CoreModel(img).run(inputs, 20)
    np.testing.assert_array_equal(got.v, ref.v)
    assert main(["compare", str(tmp_path / "g.npz"), str(tmp_path / "g.npz")]) == 0
    assert "identical" in capsys.readouterr().out
    bad = Trace(spikes=ref.spikes, u=ref.u, v=ref.v.copy(), extra=ref.extra)
    bad.v[7, 5] += 1
    bad.save(tmp_path / "bad.npz")
    assert main(["compare", str(tmp_path / "g.npz"), str(tmp_path / "bad.npz")]) == 1
    out = capsys.readouterr().out
    assert "first divergence at step 7, core 0, neuron 5, v: expected" in out
    assert main(["plot", str(tmp_path / "g.npz"), "-o", str(tmp_path / "p.png")]) == 0
    assert (tmp_path / "p.png").stat().st_size > 10_000


def test_cli_reports_bad_config(tmp_path, capsys):
    cfg_path = tmp_path / "bad.toml"
    cfg_path.write_text("[core]\nlanes = 3\n")
    assert main(["generate", str(cfg_path), "-o", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert "core.lanes = 3 is not allowed" in err
    assert not (tmp_path / "out").exists(), "a failed generate left files behind"


def test_demo_runs_and_matches(tmp_path, capsys):
    assert main(["demo", "--steps", "40", "-o", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "MATCH:" in out
    assert (tmp_path / "raster.png").exists()
    assert (tmp_path / "verilog" / "spikefab_core.v").exists()


def test_generate_array(tmp_path):
    """A [mesh] table generates the array: deterministic Verilog with the image baked in,
    the network image and a manifest with the array's formats; a wrong image is refused."""
    import numpy as np
    from spikefab.gen.config import load_config, ConfigError
    from spikefab.gen.verilog import generate
    from spikefab.rtl.netimage import NetworkImage, RouteTable
    from spikefab.rtl.image import CoreImage
    from spikefab.rtl.params import MeshParams
    cfg = load_config(Path(__file__).resolve().parents[1] / "examples" / "array_2x2.toml")
    assert cfg.mesh == MeshParams(width=2, height=2, route_entries=256, fifo_depth=4)
    a = generate(cfg, tmp_path / "a")
    b = generate(cfg, tmp_path / "b")
    assert a["verilog"].read_bytes() == b["verilog"].read_bytes()
    text = a["verilog"].read_text()
    assert "module spikefab_array(" in text and "host__reply__payload" in text
    verilog = sorted((tmp_path / "a").rglob("*.v"))
    assert verilog and all(bracketed_names(v.read_text()) == [] for v in verilog)
    man = json.loads(a["manifest"].read_text())
    assert man["derived"]["cores"] == 4 and "route_entry" in man["layouts"]
    assert man["address_map"]["regions"]["ROUTE"] == 8
    assert NetworkImage.load(a["image"]).mesh == cfg.mesh
    rng = np.random.default_rng(0)
    cores = [CoreImage.random(cfg.core, rng) for _ in range(4)]
    routes = [RouteTable.from_fanout(cfg.mesh, cfg.core, [[(1, 1, 3, 2)]] + [[]] * 63)
              for _ in range(4)]
    c = generate(cfg, tmp_path / "c", NetworkImage(mesh=cfg.mesh, cores=cores, routes=routes))
    assert c["verilog"].read_bytes() != a["verilog"].read_bytes()
    with pytest.raises(ConfigError, match="the image must be a network image"):
        generate(cfg, tmp_path / "d", cores[0])
    other = NetworkImage(mesh=MeshParams(width=2, height=2, fifo_depth=8), cores=cores)
    with pytest.raises(ConfigError, match=r"^the network image does not fit the configuration: "
                                          r"mesh\.fifo_depth = 8 in the image, 4 in the "
                                          r"configuration$"):
        generate(cfg, tmp_path / "e", other)


# --- the image generate bakes into the Verilog runs as generated (no load) --------------------

BAKED_CORE = """
[core]
neurons = 8
axons = 6
lanes = 4
[build]
name = "baked_core"
"""


@pytest.mark.parametrize("simulator", ["verilator", "icarus"])
def test_baked_core_image_matches_the_golden_model(tmp_path, simulator):
    """The Verilog ``generate`` writes, with a random image baked into its memories, runs
    with no load over the host interface and matches the golden model."""
    from rtl_helpers import lively_image, random_inputs, run_and_compare
    from spikefab.sim.runner import Stimulus, emit_verilog
    cfg = loads_config(BAKED_CORE)
    rng = np.random.default_rng(21)
    img = lively_image(cfg.core, rng)
    paths = generate(cfg, tmp_path, img)
    # the bench builds exactly the text generate wrote (the module name aside)
    assert emit_verilog(img, name="baked_core") == paths["verilog"].read_text()
    inputs = random_inputs(cfg.core, rng, 30)
    (got,) = run_and_compare([(img, inputs, 30, Stimulus(backpressure=0.3, seed=2))],
                             simulator, baked=True)
    assert got.spikes.any(), "no neuron fired: weak test"
    # and the baked image really is the one that ran: a blank build diverges from it
    blank = CoreImage(cfg.core)
    with pytest.raises(AssertionError, match="first divergence"):
        run_and_compare([(blank, inputs, 30, Stimulus())], simulator, baked=True,
                        golden=[img])


@pytest.mark.parametrize("simulator", ["verilator", "icarus"])
def test_baked_array_image_matches_the_golden_model(tmp_path, simulator):
    """An array generated with a random network image baked in (the tiled Verilog: one tile
    module reading each position's memory files) runs, as written, with no load and
    matches the golden network model (spikes, state, external output, packets)."""
    from mesh_helpers import random_ext_inputs, random_network, run_generated
    from spikefab.gen.config import loads_config as load
    from spikefab.sim.runner import Stimulus
    cfg = load("""
[core]
neurons = 4
axons = 4
lanes = 4
max_delay = 2
[mesh]
width = 2
height = 1
route_entries = 16
fifo_depth = 2
[build]
name = "spikefab_mesh"
""")
    rng = np.random.default_rng(22)
    net = random_network(cfg.mesh, cfg.core, rng, fanout=(0, 3))
    paths = generate(cfg, tmp_path, net)
    assert paths["verilog"].read_text().count("module spikefab_mesh_tile(") == 1
    inputs = random_ext_inputs(cfg.mesh, cfg.core, rng, 16)
    (got,) = run_generated(tmp_path, [(net, inputs, 16, Stimulus(gap_prob=0.2, backpressure=0.3,
                                                                  seed=3))], simulator)
    assert got.spikes.any(), "no neuron fired: weak test"
