"""spikefab sweep: content-hashed job folders, sweep descriptions, and jobs run as Ray tasks on
a local Ray cluster (started once for the module, shut down after)."""

import argparse
import json
import subprocess
import sys
from pathlib import Path

import pytest

from spikefab.gen import sweep
from spikefab.gen.sweep import Job, job_dir, job_hash

TINY = {"neurons": 8, "axons": 8, "weight_bits": 4, "lanes": 4, "model": "cuba"}


def tiny_job(seed, **core):
    return Job("regression", {"core": dict(TINY, **core), "steps": 12, "rate": 0.3,
                              "simulators": ["golden"]}, seed, f"tiny seed={seed}")


def study(out_dir, seed, scale=1.0, fail_on=()):
    """A callable job: writes a file into its folder, fails for the seeds in ``fail_on``."""
    (out_dir / "study.txt").write_text(f"seed {seed}\n")
    if seed in fail_on:
        raise RuntimeError(f"study diverged at seed {seed}")
    return {"value": scale * seed}


# --- without Ray ----------------------------------------------------------------------------

def test_import_is_light():
    """Ray is imported only when a sweep runs."""
    code = ("import sys, spikefab.gen, spikefab.gen.sweep, spikefab.gen.cli; "
            "assert 'ray' not in sys.modules, 'ray imported'")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_job_hash_is_content_hash(tmp_path):
    a = Job("synth", {"device": "ecp5-85f", "core": {"lanes": 4, "neurons": 64}}, 1)
    same = Job("synth", {"core": {"neurons": 64, "lanes": 4}, "device": "ecp5-85f"}, 1,
               name="another label")
    assert job_hash(a) == job_hash(same)
    assert job_dir(a, tmp_path) == job_dir(same, tmp_path)
    others = [
        Job("synth", {"device": "ecp5-85f", "core": {"lanes": 8, "neurons": 64}}, 1),
        Job("synth", {"device": "ecp5-85f", "core": {"lanes": 4, "neurons": 64}}, 2),
        Job("synth", {"device": "ice40up5k", "core": {"lanes": 4, "neurons": 64}}, 1),
        Job("regression", {"device": "ecp5-85f", "core": {"lanes": 4, "neurons": 64}}, 1),
    ]
    dirs = {job_dir(j, tmp_path) for j in [a] + others}
    assert len(dirs) == 5
    assert all(d.parent == tmp_path for d in dirs)
    assert job_dir(a, tmp_path).name.startswith("synth-")


def test_expand_grid_seeds_and_flags(tmp_path):
    path = tmp_path / "s.toml"
    path.write_text('kind = "synth"\nseeds = [1, 2]\n[base]\ndevice = "ecp5-85f"\n'
                    'core = { axons = 256, model = "cuba" }\n'
                    '[grid]\n"core.lanes" = [2, 4, 8]\n"core.neurons" = [64, 256]\n')
    jobs = sweep.expand(sweep.load_spec(path))
    assert len(jobs) == 12
    assert len({job_hash(j) for j in jobs}) == 12
    assert jobs[0].params == {"device": "ecp5-85f",
                              "core": {"axons": 256, "model": "cuba", "lanes": 2,
                                       "neurons": 64}}
    assert [j.seed for j in jobs[:2]] == [1, 2]
    assert jobs[0].name == "lanes=2,neurons=64,seed=1"
    # flags over the file: one more fixed key, a grid replaced, other seeds
    ap = argparse.ArgumentParser()
    sweep.add_parser(ap.add_subparsers())
    args = ap.parse_args(["sweep", str(path), "--set", "core.weight_bits=8", "--grid",
                          "core.lanes=4,8", "--seeds", "3-5"])
    jobs = sweep.expand(sweep.spec_from_args(args))
    assert len(jobs) == 2 * 2 * 3
    assert {j.params["core"]["weight_bits"] for j in jobs} == {8}
    assert {j.seed for j in jobs} == {3, 4, 5}
    with pytest.raises(ValueError, match="kind"):
        sweep.expand({"kind": "nope"})
    with pytest.raises(ValueError, match="grid.core.lanes"):
        sweep.expand({"kind": "synth", "grid": {"core.lanes": 4}})
    with pytest.raises(ValueError, match="unknown keys"):
        sweep.expand({"kind": "synth", "grids": {}})


def test_pareto_front():
    # (cost, gain): LUT4, events per clock
    pts = [(100, 2), (150, 2), (200, 4), (180, 4), (400, 8), (500, 8), (90, 1)]
    assert sweep.pareto_front(pts) == [6, 0, 3, 4]


# --- on Ray ---------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def ray_cluster():
    ray = pytest.importorskip("ray")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False,
             configure_logging=False, object_store_memory=100 * 2**20)
    try:
        yield ray
    finally:
        ray.shutdown()


def test_sweep_on_ray_reports_failure_and_goes_on(ray_cluster, tmp_path):
    jobs = [tiny_job(s) for s in (1, 2, 3)]
    jobs.append(tiny_job(7, lanes=3))               # not a power of two: this job fails
    jobs.append(Job("callable", {"function": f"{__file__}:study",
                                 "kwargs": {"scale": 2.0, "fail_on": [5]}}, 4, "study"))
    jobs.append(Job("callable", {"function": f"{__file__}:study",
                                 "kwargs": {"scale": 2.0, "fail_on": [5]}}, 5, "study"))
    rows = sweep.run_sweep(jobs, root=tmp_path / "b", progress=False)
    assert ray_cluster.is_initialized()             # a running Ray is used, not shut down
    assert [r["ok"] for r in rows] == [True, True, True, False, True, False]
    assert [r["seed"] for r in rows] == [1, 2, 3, 7, 4, 5]
    assert len({r["dir"] for r in rows}) == 6
    for r, job in zip(rows, jobs):
        assert r["dir"] == str(job_dir(job, (tmp_path / "b").resolve()))
    # the golden jobs ran, on Ray workers, as they run in this process
    for r, job in zip(rows[:3], jobs[:3]):
        assert r["result"]["spikes"] > 0
        local = sweep.run_job(job, tmp_path / "local")
        assert local["result"]["digest"] == r["result"]["digest"]
    assert len({r["result"]["digest"] for r in rows[:3]}) == 3
    # failures: seed, one-line error, log with the traceback
    bad = rows[3]
    assert "lanes" in bad["error"] and "ParamError" in bad["error"]
    log = Path(bad["log"]).read_text()
    assert "Traceback" in log and "lanes = 3" in log
    assert rows[5]["error"] == "RuntimeError: study diverged at seed 5"
    assert "study diverged at seed 5" in Path(rows[5]["log"]).read_text()
    assert rows[4]["result"] == {"value": 8.0}
    assert (tmp_path / "b").resolve().joinpath(
        job_dir(jobs[4], ".").name, "study.txt").read_text() == "seed 4\n"

    # one table, JSON and Markdown
    doc = sweep.write_results(rows, tmp_path / "r.json", tmp_path / "r.md", title="T")
    back = json.loads((tmp_path / "r.json").read_text())
    assert back["jobs"] == json.loads(json.dumps(doc["jobs"]))
    assert back["commit"] and back["machine"]["nproc"] >= 1
    md = (tmp_path / "r.md").read_text()
    assert "6 jobs: 4 ok, 2 failed." in md
    table = [ln for ln in md.splitlines() if ln.startswith("|")]
    assert len(table) == 2 + 6
    # the columns: the parameters that differ between jobs, seed, status, results
    assert "| core.lanes | core.model |" in table[0] and "| function | kwargs.scale |" in table[0]
    assert "| kwargs.fail_on | seed | status | spikes | digest |" in table[0]
    assert "| value | seconds |" in table[0]
    assert sum("FAILED" in ln for ln in table) == 2
    assert f"(seed 7): {bad['error']}; log `{bad['log']}`" in md
    assert f"(seed 5): RuntimeError: study diverged at seed 5; log `{rows[5]['log']}`" in md

    # reuse: successful jobs are taken from their folders, failed ones run again
    again = sweep.run_sweep(jobs, root=tmp_path / "b", progress=False, reuse=True)
    assert [r.get("reused", False) for r in again] == [True, True, True, False, True, False]
    assert [r["ok"] for r in again] == [r["ok"] for r in rows]

    # the same job twice (another label) runs once, in one folder
    twice = [tiny_job(21), Job(**dict(tiny_job(21).to_dict(), name="again"))]
    both = sweep.run_sweep(twice, root=tmp_path / "c", progress=False)
    assert both[0]["dir"] == both[1]["dir"] and both[0]["pid"] == both[1]["pid"]
    assert both[0]["result"] == both[1]["result"] and both[1]["name"] == "again"
    assert len(list((tmp_path / "c").iterdir())) == 1


#: the parameters of test_core_rtl's directed cuba core: its simulator builds are shared
RTL_CORE = {"neurons": 16, "axons": 8, "model": "cuba", "weight_bits": 8, "lanes": 4,
            "acc_bits": 12, "refractory_bits": 3, "subtractive_reset": True, "v_floor": True}


def test_regression_golden_vs_rtl_on_ray(ray_cluster, tmp_path):
    """Random cores on the golden model, Verilator and Icarus: every trace identical."""
    jobs = [Job("regression", {"core": RTL_CORE, "steps": 15, "rate": 0.4,
                               "simulators": ["golden", "verilator", "icarus"]}, seed)
            for seed in (11, 12)]
    rows = sweep.run_sweep(jobs, root=tmp_path, progress=False)
    for r in rows:
        assert r["ok"], (r["error"], Path(r["log"]).read_text())
        assert r["result"]["match"] == "verilator/icarus"
        assert r["result"]["spikes"] > 0
        assert "verilator: identical" in Path(r["log"]).read_text()


def test_cli_sweep_on_ray(ray_cluster, tmp_path, capsys):
    from spikefab.gen.cli import main
    out = tmp_path / "res" / "s.json"
    rc = main(["sweep", "--kind", "regression", "--set", "core.neurons=8",
               "--set", "core.axons=4", "--set", "core.lanes=2", "--set", "steps=5",
               "--grid", "core.weight_bits=2,4", "--seeds", "1-2", "--root",
               str(tmp_path / "b"), "-o", str(out)])
    assert rc == 0
    doc = json.loads(out.read_text())
    assert len(doc["jobs"]) == 4 and all(r["ok"] for r in doc["jobs"])
    assert doc["spec"]["grid"] == {"core.weight_bits": [2, 4]}
    md = out.with_suffix(".md").read_text()
    assert "4 jobs: 4 ok, 0 failed." in md and "| core.weight_bits | seed |" in md
    assert "results:" in capsys.readouterr().out


def test_cli_sweep_joins_cluster_by_address(ray_cluster, tmp_path):
    """A second driver (another process) joins the module's Ray with --address."""
    address = ray_cluster.get_runtime_context().gcs_address
    out = tmp_path / "s.json"
    proc = subprocess.run(
        [sys.executable, "-m", "spikefab.gen.cli", "sweep", "--address", address,
         "--kind", "regression", "--set", "core.neurons=4", "--set", "core.axons=4",
         "--seeds", "1,2", "--root", str(tmp_path / "b"), "-o", str(out)],
        capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    doc = json.loads(out.read_text())
    assert [r["ok"] for r in doc["jobs"]] == [True, True]
    assert ray_cluster.is_initialized()


def test_plot_pareto(tmp_path):
    rows = [{"ok": True, "params": {"core": {"neurons": n}}, "seed": 1,
             "result": {"lut4": l, "events_per_clock": e, "fmax_mhz": f}}
            for n, l, e, f in ((64, 900, 2, 110.0), (64, 1300, 4, 105.0),
                               (256, 1500, 4, 101.0), (64, 2100, 8, 98.0))]
    rows.append({"ok": False, "params": {}, "seed": 3, "error": "x", "log": "y"})
    png = sweep.plot_pareto(rows, tmp_path / "p.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


if __name__ == "__main__":
    sys.exit(pytest.main([__file__, "-v"]))
