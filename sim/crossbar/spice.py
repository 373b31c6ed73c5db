"""The ngspice runner: the same array as a SPICE netlist, solved by ``ngspice -b`` (``.op``).

The netlist is written here from the physical description (named row, column, driver and
sense nodes, one resistor per wire segment and per cell), independently of the node
numbering of :mod:`.solver`, so that agreement checks both the topology and the numbers
(method of the anchors note §7). Column currents are the currents of the 0-V sources that
stand for the sense amplifiers' virtual ground, printed with 15 digits (``set numdgt=15``).
Requires the Debian package ``ngspice`` (``make setup`` installs it).
"""

import os
import shutil
import subprocess
import tempfile

import numpy as np

from .params import ArrayParams


__all__ = ["netlist", "run_ngspice", "have_ngspice"]


def have_ngspice():
    """True when an ``ngspice`` executable is on the PATH."""
    return shutil.which("ngspice") is not None


def _r(name, a, b, r):
    return f"{name} {a} {b} {float(r)!r}"


def netlist(g, v_rows, driven=None, array=ArrayParams(), title="crossbar"):
    """The SPICE netlist (str) of conductances ``g`` [M, K] driven at ``v_rows`` [M].

    Every resistance of ``array`` must be positive except ``r_driver`` and ``r_sense``
    (0 connects the source directly). Idle rows (``driven`` False) are driven at 0 V or
    left open according to ``array.idle_rows``. Sense sources are named ``vs<k>``.
    """
    g = np.asarray(g, float)
    m, k = g.shape
    if array.r_row <= 0 or array.r_col <= 0:
        raise ValueError("the ngspice runner needs r_row > 0 and r_col > 0")
    driven = np.ones(m, bool) if driven is None else np.asarray(driven, bool)
    if array.idle_rows == "grounded":
        driven = np.ones(m, bool)
    lines = [f"* {title}: {m} x {k} crossbar, idle rows {array.idle_rows}"]
    for a in range(m):
        if driven[a]:
            if array.r_driver > 0:
                lines.append(f"vd{a} d{a} 0 dc {float(v_rows[a])!r}")
                lines.append(_r(f"rd{a}", f"d{a}", f"r{a}_0", array.r_driver))
            else:
                lines.append(f"vd{a} r{a}_0 0 dc {float(v_rows[a])!r}")
        for n in range(k - 1):
            lines.append(_r(f"rr{a}_{n}", f"r{a}_{n}", f"r{a}_{n + 1}", array.r_row))
    for n in range(k):
        for a in range(m - 1):
            lines.append(_r(f"rc{a}_{n}", f"c{a}_{n}", f"c{a + 1}_{n}", array.r_col))
        bottom = f"c{m - 1}_{n}"
        if array.r_sense > 0:
            lines.append(_r(f"rs{n}", bottom, f"s{n}", array.r_sense))
            lines.append(f"vs{n} s{n} 0 dc 0")
        else:
            lines.append(f"vs{n} {bottom} 0 dc 0")
    for a in range(m):
        for n in range(k):
            if array.sinh_a is None:
                lines.append(_r(f"rx{a}_{n}", f"r{a}_{n}", f"c{a}_{n}", 1.0 / g[a, n]))
            else:
                ga, al = float(g[a, n]) / array.sinh_a, float(array.sinh_a)
                lines.append(f"bx{a}_{n} r{a}_{n} c{a}_{n} "
                             f"i = {ga!r} * sinh({al!r} * v(r{a}_{n}, c{a}_{n}))")
    lines += [".options reltol=1e-9 abstol=1e-18 vntol=1e-15 gmin=1e-30",
              ".control", "set numdgt=15", "op"]
    for n0 in range(0, k, 16):
        names = " ".join(f"i(vs{n})" for n in range(n0, min(k, n0 + 16)))
        lines.append(f"print {names}")
    lines += ["quit", ".endc", ".end"]
    return "\n".join(lines) + "\n"


def run_ngspice(g, v_rows, driven=None, array=ArrayParams(), timeout=600):
    """Column currents [K] (A, into the virtual ground) computed by ``ngspice -b``."""
    g = np.asarray(g, float)
    k = g.shape[1]
    text = netlist(g, v_rows, driven, array)
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "crossbar.cir")
        with open(path, "w") as f:
            f.write(text)
        res = subprocess.run(["ngspice", "-b", path], capture_output=True, text=True,
                             timeout=timeout, cwd=d)
    out = {}
    for line in res.stdout.splitlines():
        parts = line.replace("=", " ").split()
        if len(parts) == 2 and parts[0].startswith("i(vs"):
            out[int(parts[0][4:-1])] = float(parts[1])
    if len(out) != k:
        raise RuntimeError(f"ngspice returned {len(out)} of {k} column currents "
                           f"(exit {res.returncode}): {res.stderr[-2000:]}")
    # SPICE counts a source's current from + to - through the source: into the ground here
    return np.array([out[n] for n in range(k)])
