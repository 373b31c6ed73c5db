"""The command line talks: range-checked flags, --version, help for every option, output
names that are what the message says, the inputs command, generate --force, one-line
errors for damaged files, and the README walk-through (golden model) producing spikes."""

import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from spikefab.gen.cli import build_parser, main
from spikefab.rtl.image import CoreImage
from spikefab.rtl.netimage import NetworkImage, RouteTable
from spikefab.rtl.params import CoreParams, MeshParams
from spikefab.sim.inputs import load_inputs
from spikefab.sim.network import decode_network_inputs
from spikefab.sim.trace import Trace

ROOT = Path(__file__).resolve().parent.parent
DEFAULT = ROOT / "examples" / "default.toml"


def _usage_error(argv, capsys):
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 2
    return capsys.readouterr().err.strip().splitlines()[-1]


@pytest.mark.parametrize("argv, message", [
    (["simulate", "x.npz", "-o", "t", "--backpressure", "5"],
     "argument --backpressure: 5 is out of range: expected 0.0 <= value < 1.0"),
    (["simulate", "x.npz", "-o", "t", "--backpressure", "1"],
     "argument --backpressure: 1 is out of range: expected 0.0 <= value < 1.0"),
    (["simulate", "x.npz", "-o", "t", "--gaps", "-1"],
     "argument --gaps: -1 is out of range: expected 0.0 <= value < 1.0"),
    (["simulate", "x.npz", "-o", "t", "--gaps", "nan"],
     "argument --gaps: 'nan' is not finite: expected 0.0 <= value < 1.0"),
    (["simulate", "x.npz", "-o", "t", "--steps", "-5"],
     "argument --steps: -5 is out of range: expected 1 <= value <= 1000000"),
    (["simulate", "x.npz", "-o", "t", "--steps", "2.5"],
     "argument --steps: '2.5' is not an integer: expected 1 <= value <= 1000000"),
    (["simulate", "x.npz", "-o", "t", "--seed", "-1"],
     "argument --seed: -1 is out of range: expected 0 <= value <= 4294967295"),
    (["demo", "--steps", "0"], "argument --steps: 0 is out of range: expected 1 <= value <= 1000000"),
    (["synth", "c.toml", "--device", "ecp5-85f", "-o", "s", "--clock-mhz", "0"],
     "argument --clock-mhz: 0 is out of range: expected 1 <= value <= 500"),
    (["synth", "c.toml", "--device", "ecp5-85f", "-o", "s", "--timeout", "5"],
     "argument --timeout: 5 is out of range: expected 10 <= value <= 86400"),
    (["inputs", "i.npz", "-o", "x", "--rate", "1.5"],
     "argument --rate: 1.5 is out of range: expected 0.0 <= value <= 1.0"),
])
def test_flags_are_range_checked(argv, message, capsys):
    assert _usage_error(argv, capsys).endswith(f"error: {message}")


def test_demo_steps_zero_writes_nothing(tmp_path, capsys):
    _usage_error(["demo", "--steps", "0", "-o", str(tmp_path / "d")], capsys)
    assert not (tmp_path / "d").exists()


def test_version_and_help(capsys):
    with pytest.raises(SystemExit) as info:
        main(["--version"])
    assert info.value.code == 0
    assert re.fullmatch(r"spikefab \d+\.\d+\.\d+\S*\n", capsys.readouterr().out)
    parser = build_parser()
    assert "``" not in parser.description and ":class:" not in parser.description
    sub = next(a for a in parser._actions if a.dest == "command")
    for name, p in sub.choices.items():
        for action in p._actions:
            if action.dest != "help":
                assert action.help, f"spikefab {name}: {action.option_strings or action.dest} " \
                                    f"has no help text"


def test_command_line_entry_point_one_line_error(tmp_path):
    bad = tmp_path / "img.npz"
    bad.write_bytes(b"")
    r = subprocess.run([sys.executable, "-m", "spikefab.gen.cli", "simulate", str(bad), "-o",
                        str(tmp_path / "t")], capture_output=True, text=True)
    assert r.returncode == 2
    assert r.stderr == f"spikefab: error: {bad}: the file is empty (expected a core or " \
                       f"network image .npz)\n"
    assert not (tmp_path / "t.npz").exists()


@pytest.fixture
def walk(tmp_path, capsys):
    """generate --demo-image, inputs, simulate: the README's walk-through on golden."""
    out = tmp_path / "out"
    assert main(["generate", str(DEFAULT), "-o", str(out), "--demo-image"]) == 0
    assert main(["inputs", str(out / "image.npz"), "--rate", "0.08", "--steps", "200",
                 "-o", str(tmp_path / "in.npz")]) == 0
    capsys.readouterr()
    return tmp_path, out


def test_readme_walkthrough_golden_has_spikes(walk, capsys):
    tmp_path, out = walk
    assert main(["simulate", str(out / "image.npz"), "--inputs", str(tmp_path / "in.npz"),
                 "--sim", "golden", "-o", str(tmp_path / "ref")]) == 0
    msg = capsys.readouterr().out
    assert f"trace written to {tmp_path / 'ref.npz'}" in msg
    tr = Trace.load(tmp_path / "ref.npz")
    assert tr.spikes.sum() > 100
    assert f"{int(tr.spikes.sum())} spikes" in msg
    # compare and plot accept the name as given to simulate -o
    assert main(["compare", str(tmp_path / "ref"), str(tmp_path / "ref.npz")]) == 0
    assert main(["plot", str(tmp_path / "ref"), "-o", str(tmp_path / "raster")]) == 0
    assert f"wrote {tmp_path / 'raster.png'}" in capsys.readouterr().out
    assert (tmp_path / "raster.png").stat().st_size > 10_000


def test_simulate_says_when_weights_are_all_zero(tmp_path, capsys):
    assert main(["generate", str(DEFAULT), "-o", str(tmp_path / "o")]) == 0
    assert main(["simulate", str(tmp_path / "o" / "image.npz"), "--steps", "3",
                 "-o", str(tmp_path / "t.npz")]) == 0
    assert "every weight of" in capsys.readouterr().out


def test_generate_refuses_used_folder_unless_force(tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["generate", str(DEFAULT), "-o", str(out)]) == 0
    written = sorted(p.name for p in out.iterdir())
    (out / "stale.hex").write_text("0\n")        # not written by generate: left alone
    (out / "keep.txt").write_text("mine")
    capsys.readouterr()
    assert main(["generate", str(DEFAULT), "-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert err == f"spikefab: error: {out}/ is not empty: give another folder, or --force to " \
                  f"replace what a previous generate wrote there\n"
    # --force removes what the manifest lists, then writes again
    small = tmp_path / "small.toml"
    small.write_text("[core]\nneurons = 16\naxons = 8\nlanes = 4\n[build]\nname = \"other\"\n")
    assert main(["generate", str(small), "-o", str(out), "--force"]) == 0
    now = sorted(p.name for p in out.iterdir())
    assert "spikefab_core.v" in written and "spikefab_core.v" not in now
    assert "other.v" in now and "keep.txt" in now and "stale.hex" in now
    # a used folder without a manifest is never cleared
    other = tmp_path / "other"
    other.mkdir()
    (other / "x").write_text("x")
    assert main(["generate", str(DEFAULT), "-o", str(other), "--force"]) == 2
    assert "no manifest.json of a previous generate" in capsys.readouterr().err


def test_inputs_from_csv_and_npy(tmp_path, capsys):
    img = CoreImage(CoreParams(neurons=8, axons=6, lanes=4))
    img.save(tmp_path / "img.npz")
    csv = tmp_path / "ev.csv"
    csv.write_text("step,axon\n0,1\n2,5  # comment\n0,3\n\n")
    assert main(["inputs", str(tmp_path / "img.npz"), "--from", str(csv), "-o",
                 str(tmp_path / "a")]) == 0
    assert load_inputs(tmp_path / "a.npz") == [[1, 3], [], [5]]
    np.save(tmp_path / "ev.npy", np.array([[1, 0], [1, 2]]))
    assert main(["inputs", str(tmp_path / "img.npz"), "--from", str(tmp_path / "ev.npy"),
                 "--steps", "4", "-o", str(tmp_path / "b.npz")]) == 0
    assert load_inputs(tmp_path / "b.npz") == [[], [0, 2], [], []]
    csv.write_text("0,6\n")
    capsys.readouterr()
    assert main(["inputs", str(tmp_path / "img.npz"), "--from", str(csv), "-o",
                 str(tmp_path / "c")]) == 2
    assert capsys.readouterr().err == \
        f"spikefab: error: {csv}: entry 'axon column'[0] = 6 is out of range: allowed 0..5\n"
    assert not (tmp_path / "c.npz").exists()
    # an input file with an axon beyond the image is refused by simulate
    from spikefab.sim.inputs import save_inputs
    save_inputs(tmp_path / "far.npz", [[7]])
    assert main(["simulate", str(tmp_path / "img.npz"), "--inputs", str(tmp_path / "far.npz"),
                 "-o", str(tmp_path / "t")]) == 2
    assert "entry 'axon'[0] = 7 is out of range: allowed 0..5" in capsys.readouterr().err


def test_inputs_for_a_network_image(tmp_path, capsys):
    mp = MeshParams(width=2, height=2, route_entries=16)
    p = CoreParams(neurons=8, axons=6, lanes=4)
    net = NetworkImage(mesh=mp, cores=[CoreImage(p)] * 4)
    net.save(tmp_path / "net.npz")
    np.save(tmp_path / "xy.npy", np.array([[0, 1, 1, 5], [2, 0, 0, 0]]))   # (step, x, y, axon)
    assert main(["inputs", str(tmp_path / "net.npz"), "--from", str(tmp_path / "xy.npy"),
                 "-o", str(tmp_path / "n")]) == 0
    z = dict(np.load(tmp_path / "n.npz"))
    assert decode_network_inputs(z) == [[(3, 5)], [], [(0, 0)]]
    assert main(["inputs", str(tmp_path / "net.npz"), "--rate", "0.5", "--steps", "3",
                 "-o", str(tmp_path / "p")]) == 0
    z = dict(np.load(tmp_path / "p.npz"))
    assert len(decode_network_inputs(z)) == 3 and len(z["core"]) > 0
    assert main(["simulate", str(tmp_path / "net.npz"), "--inputs", str(tmp_path / "p.npz"),
                 "-o", str(tmp_path / "t")]) == 0
    np.save(tmp_path / "bad.npy", np.array([[0, 2, 0, 0]]))
    capsys.readouterr()
    assert main(["inputs", str(tmp_path / "net.npz"), "--from", str(tmp_path / "bad.npy"),
                 "-o", str(tmp_path / "q")]) == 2
    assert "row 0: x = 2 is out of range: allowed 0..1" in capsys.readouterr().err


def test_simulate_refuses_rewritten_mesh_in_one_line(tmp_path, capsys):
    import json
    mp = MeshParams(width=2, height=2, route_entries=16)
    p = CoreParams(neurons=8, axons=6, lanes=4)
    a = NetworkImage(mesh=mp, cores=[CoreImage(p)] * 4).to_arrays()
    a["mesh"] = np.asarray(json.dumps({**mp.to_dict(), "width": 1}))
    np.savez(tmp_path / "net.npz", **a)
    assert main(["simulate", str(tmp_path / "net.npz"), "--steps", "2", "-o",
                 str(tmp_path / "t")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "belong to no core" in err
    assert not (tmp_path / "t.npz").exists()


def test_board_name_is_refused(tmp_path, capsys):
    cfg = tmp_path / "b.toml"
    cfg.write_text("[board]\nname = \"icebreaker\"\n")
    assert main(["generate", str(cfg), "-o", str(tmp_path / "o")]) == 2
    assert "boards come with the board top-levels" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_run_all_benchmarks_lists_every_benchmark():
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        import run_all
    finally:
        sys.path.pop(0)
    scripts = {p.stem for p in (ROOT / "benchmarks").glob("*.py") if not p.stem.startswith("_")} - {"run_all"}
    assert {b[0] for b in run_all.BENCHMARKS} == scripts
    quick = [b[0] for b in run_all.selected(None, True)]
    assert "synth_core" not in quick and "core_cycles" in quick
    assert [b[0] for b in run_all.selected(["stdp_cost"], True)] == ["stdp_cost"]
    with pytest.raises(SystemExit, match="no such benchmark"):
        run_all.selected(["nope"], False)


def test_makefile_phony_targets_exist():
    text = (ROOT / "Makefile").read_text()
    phony = re.search(r"^\.PHONY:(.*)$", text, re.M)[1].split()
    targets = set(re.findall(r"^([A-Za-z][\w-]*):", text, re.M))
    assert set(phony) <= targets, f"phony targets without a rule: {set(phony) - targets}"
    for script in re.findall(r"\$\(PY\) (\S+\.py)", text):
        assert (ROOT / script).exists(), f"the Makefile runs {script}, which does not exist"


def test_examples_do_not_write_into_tracked_folders():
    for path in (ROOT / "examples").glob("*.py"):
        text = path.read_text()
        assert "default=root / \"docs\"" not in text and "Path(\"docs/img\"))" not in text, \
            f"{path.name} writes into docs/ by default"


@pytest.mark.slow
def test_readme_walkthrough_on_icarus_matches(walk, capsys):
    """The README's walk-through as written (Icarus beside the golden model): spikes and a
    match (about 40 s)."""
    tmp_path, out = walk
    for sim in ("icarus", "golden"):
        assert main(["simulate", str(out / "image.npz"), "--inputs", str(tmp_path / "in.npz"),
                     "--sim", sim, "-o", str(tmp_path / f"{sim}.npz")]) == 0
    assert main(["compare", str(tmp_path / "golden.npz"), str(tmp_path / "icarus.npz")]) == 0
    assert "identical: 200 steps x 64 neurons" in capsys.readouterr().out
    assert Trace.load(tmp_path / "icarus.npz").spikes.sum() > 100
