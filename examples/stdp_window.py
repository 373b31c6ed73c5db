"""STDP window measured on the generated Verilog, beside the rule's closed form.

For each dt = t_post - t_pre in -20..+20 a fresh 1-axon core sees one pre spike and one post
spike; the weight change read back from the RTL is plotted against the closed form of the
rule (docs/stdp.md), and the RTL run is checked against the golden model on every quantity.

Usage: .venv/bin/python examples/stdp_window.py [--sim verilator|icarus] [-o DIR]
(the figure goes to examples_out/stdp_window/ unless -o is given; ``-o docs/img`` refreshes
the documentation's figure)
"""

import argparse
import time
from pathlib import Path


from spikefab.sim.demos import WINDOW_REGS, stdp_window_experiment


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sim", choices=["verilator", "icarus"], default="verilator")
    ap.add_argument("-o", "--output", type=Path, default=Path("examples_out") / "stdp_window",
                    help="folder for the figure (default examples_out/stdp_window; "
                         "docs/img refreshes the documentation's figure)")
    args = ap.parse_args()
    t0 = time.perf_counter()
    dts, rtl, golden, closed = stdp_window_experiment(range(-20, 21), args.sim)
    dt_s = time.perf_counter() - t0
    same = bool((rtl == closed).all())
    print(f"{args.sim}: 41 pairings in {dt_s:.1f} s; RTL identical to the golden model on "
          f"every spike, state, weight and trace; RTL dw equals the closed form: {same}")
    print("dt:", dts.tolist())
    print("dw:", rtl.tolist())
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(7, 4))
    ax.plot(dts, closed, "-", color="0.6", lw=1.5, label="closed form of the rule")
    ax.plot(dts, rtl, "o", ms=4, color="tab:red", label=f"measured on the RTL ({args.sim})")
    ax.axhline(0, color="k", lw=0.5)
    ax.axvline(0, color="k", lw=0.5)
    ax.set_xlabel("dt = t_post - t_pre (steps)")
    ax.set_ylabel("weight change dw")
    r = WINDOW_REGS
    ax.set_title(f"STDP window: a+={r['a_plus']}, a-={r['a_minus']}, s={r['s_plus']}, "
                 f"k={r['k_pre']}, impulses {r['imp_pre']}")
    ax.legend()
    fig.tight_layout()
    args.output.mkdir(parents=True, exist_ok=True)
    out = args.output / "stdp_window.png"
    fig.savefig(out, dpi=110)
    print(f"wrote {out}")
    return 0 if same else 1


if __name__ == "__main__":
    raise SystemExit(main())
