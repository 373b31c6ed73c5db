"""Throughput and latency of one XY router, measured on its generated Verilog (Verilator).

Runs the cocotb bench ``spikefab.sim.benches.router_bench`` (the same one the tests use:
every packet is checked against XY routing, in order, exactly once) with saturated inputs
(``valid`` always high, no gaps) and outputs always ready, and reports packets per clock per
link against the limit of one packet per clock:

(a) one input to one output: straight through, turning, injection, ejection, and out of the
    array through the edge port;
(b) four (and five) inputs to distinct outputs, a permutation: every output should carry 1.0;
(c) all five inputs to one output: that output 1.0, each input 0.2;
(d) uniform random traffic: each packet's output uniform over the five ports (ideal 1.0 per
    output; an input-queued switch with one FIFO per input is limited by head-of-line
    blocking, whose saturation throughput for 5 ports is 0.64, Karol, Hluchyj and Morgan,
    IEEE Trans. Commun. 35(12), 1987, and the Monte-Carlo model below), and destinations
    uniform over the 3 x 3 mesh (E and W carry a third of the packets each, so the ideal is
    0.6 per input, 1.0 on E and W);

and the latency, clocks from an input transfer to ``valid`` on the output, with no
contention. Rates are taken over the saturated window: from clock ``WARMUP`` to the clock at
which the first input of the case runs out of packets. Measured figures only: nothing here
asserts a speed.

Usage: python benchmarks/router_throughput.py
(writes benchmarks/results/router_throughput.{json,md})
"""

import json
import random
import sys
from pathlib import Path

from spikefab.rtl.router import Port
from spikefab.sim.benches.router_bench import run_router_rtl

import _provenance  # noqa: E402  (benchmarks/ is on sys.path)

ROOT = Path(__file__).resolve().parent
SIMULATOR = "verilator"
CENTRE = dict(x=1, y=1, width=3, height=3)
CORNER = dict(x=0, y=0, width=3, height=3, edge_port=Port.WEST)
N = 1000                 # packets per saturated input in (a) and (b); N // 2 in (c)
N_RANDOM = 4000          # packets per input in (d), for a longer window
WARMUP = 20              # clocks left out at the start of every window
SEED = 2026

L, E, W, NO, S = Port.LOCAL, Port.EAST, Port.WEST, Port.NORTH, Port.SOUTH
#: A destination (x, y) at the centre router (1, 1) for each output.
TO = {L: (1, 1), E: (2, 1), W: (0, 1), NO: (1, 2), S: (1, 0)}
#: Every destination of the 3 x 3 mesh that leaves the centre on each output.
ALL_TO = {p: [(x, y) for x in range(3) for y in range(3)
              if (x > 1 and p == E) or (x < 1 and p == W) or
              (x == 1 and ((y > 1 and p == NO) or (y < 1 and p == S) or (y == 1 and p == L)))]
          for p in Port}


def tag(src, k):
    return (int(src) << 12) | (k & 0xfff)


def stream(src, dest, n=N, exit=0):
    return [(*dest, tag(src, k), exit) for k in range(n)]


def hol_model(probs, slots=200_000, seed=1):
    """Saturation throughput per output of an ideal input-queued switch with one FIFO per
    input and round-robin arbitration per output (the router's), every input's head packet
    going to output ``o`` with probability ``probs[o]``: a Monte-Carlo estimate."""
    rng = random.Random(seed)
    n = len(probs)
    outs = list(range(n))
    head = rng.choices(outs, probs, k=n)
    last = [n - 1] * n
    served = [0] * n
    for _ in range(slots):
        for o in outs:
            want = [i for i in range(n) if head[i] == o]
            if want:
                i = min(want, key=lambda i: (i - last[o] - 1) % n)
                last[o] = i
                head[i] = -1
                served[o] += 1
        for i in range(n):
            if head[i] == -1:
                head[i] = rng.choices(outs, probs)[0]
    return [s / slots for s in served]


def cases(rng):
    """(group, name, design, sends, ideal per-output rates {port: rate}, ideal per-input rate,
    model per-output rates or None)."""
    out = []

    def add(group, name, design, sends, ideal_out, ideal_in, model=None):
        out.append((group, name, design, sends, ideal_out, ideal_in, model))

    add("a", "straight W -> E", CENTRE, {W: stream(W, TO[E])}, {E: 1.0}, 1.0)
    add("a", "turning W -> N", CENTRE, {W: stream(W, TO[NO])}, {NO: 1.0}, 1.0)
    add("a", "injection L -> E", CENTRE, {L: stream(L, TO[E])}, {E: 1.0}, 1.0)
    add("a", "ejection E -> L", CENTRE, {E: stream(E, TO[L])}, {L: 1.0}, 1.0)
    add("a", "exit L -> W edge port at (0, 0)", CORNER, {L: stream(L, (0, 0), exit=1)},
        {W: 1.0}, 1.0)
    perm4 = {W: E, E: W, S: NO, NO: S}
    add("b", "4 straight: W->E E->W S->N N->S", CENTRE,
        {s: stream(s, TO[d]) for s, d in perm4.items()}, {d: 1.0 for d in perm4.values()}, 1.0)
    perm4b = {L: E, W: L, S: NO, NO: W}
    add("b", "4 mixed: L->E W->L S->N N->W", CENTRE,
        {s: stream(s, TO[d]) for s, d in perm4b.items()}, {d: 1.0 for d in perm4b.values()},
        1.0)
    perm5 = {L: S, W: E, E: W, S: NO, NO: L}
    add("b", "5: L->S W->E E->W S->N N->L", CENTRE,
        {s: stream(s, TO[d]) for s, d in perm5.items()}, {d: 1.0 for d in perm5.values()}, 1.0)
    for target in (L, E):
        add("c", f"all 5 -> {target.name}", CENTRE,
            {s: stream(s, TO[target], n=N // 2) for s in Port}, {target: 1.0}, 0.2)
    uni = {s: [(*rng.choice(ALL_TO[rng.choice(list(Port))]), tag(s, k), 0)
               for k in range(N_RANDOM)] for s in Port}
    add("d", "uniform over the 5 outputs", CENTRE, uni, {p: 1.0 for p in Port}, 1.0,
        dict(zip(Port, hol_model([0.2] * 5))))
    mesh = {s: [(rng.randrange(3), rng.randrange(3), tag(s, k), 0) for k in range(N_RANDOM)]
            for s in Port}
    probs = [len(ALL_TO[p]) / 9 for p in Port]
    add("d", "uniform over the 9 routers", CENTRE, mesh,
        {p: min(1.0, 5 * 0.6 * probs[p]) for p in Port}, 0.6,
        dict(zip(Port, hol_model(probs))))
    return out


def window_rates(res, sends):
    """Per-output and per-input packets per clock in the saturated window."""
    ins = {Port(s): [] for s in range(5)}
    for recs in res["out"].values():
        for src, k, t_in, t_valid, t_out in recs:
            ins[Port(src)].append(t_in)
    active = [p for p in Port if sends.get(p)]
    t0 = WARMUP
    t1 = min(max(ins[p]) for p in active)           # the first input to run dry
    length = t1 - t0
    out_rate = {p: sum(t0 <= r[4] < t1 for r in res["out"][p.port_name]) / length for p in Port}
    in_rate = {p: sum(t0 <= t < t1 for t in ins[p]) / length for p in active}
    return out_rate, in_rate, length


def latency_jobs():
    """No contention: from each input to each output of the centre router, one packet at a
    time (long gaps), and one back-to-back stream per (input, output) pair."""
    single, burst = {}, []
    for src in Port:
        single[src] = [(*TO[d], tag(src, 8 * k + int(d)), 0) for k in range(4) for d in Port]
    jobs = []
    # one input at a time, so that no two packets ever meet at an output
    for src in Port:
        jobs.append({"name": f"latency, one at a time from {src.name}", "seed": SEED,
                     "gap": 0.95, "sends": {src: single[src]}})
    for src in Port:
        burst.append({"name": f"latency, back to back from {src.name}",
                      "sends": {src: [(*TO[d], tag(src, 32 * int(d) + k), 0)
                                      for d in Port for k in range(16)]}})
    return jobs + burst


def machine():
    return _provenance.machine(**_provenance.simulator_versions())


def main():
    rng = random.Random(SEED)
    rows = []
    all_cases = cases(rng)
    by_design = {}
    for case in all_cases:
        by_design.setdefault(id(case[2]), []).append(case)
    results = {}
    for group in by_design.values():
        design = group[0][2]
        jobs = [{"name": name, "sends": sends, "seed": SEED} for _, name, _, sends, *_ in group]
        for case, res in zip(group, run_router_rtl(design, jobs, SIMULATOR)):
            results[case[1]] = res
    for group, name, design, sends, ideal_out, ideal_in, model in all_cases:
        res = results[name]
        out_rate, in_rate, length = window_rates(res, sends)
        used = [p for p in Port if ideal_out.get(p) or out_rate[p] > 0]
        rows.append({
            "group": group, "case": name, "window_clocks": length,
            "total_packets": res["total"], "total_clocks": res["cycles"],
            "outputs": {p.name: {"measured": round(out_rate[p], 4),
                                 "ideal": ideal_out.get(p, 0.0),
                                 **({"hol_model": round(model[p], 4)} if model else {})}
                        for p in used},
            "inputs": {p.name: {"measured": round(r, 4), "ideal": ideal_in}
                       for p, r in in_rate.items()},
        })
    lat_jobs = latency_jobs()
    lat_res = run_router_rtl(CENTRE, lat_jobs, SIMULATOR)
    lat_rows = []
    for job, res in zip(lat_jobs, lat_res):
        lats = [r[3] - r[2] for recs in res["out"].values() for r in recs]
        waits = [r[4] - r[3] for recs in res["out"].values() for r in recs]
        lat_rows.append({"case": job["name"], "packets": len(lats), "min": min(lats),
                         "mean": round(sum(lats) / len(lats), 3), "max": max(lats),
                         "max_wait_after_valid": max(waits),
                         "outputs": sorted(p for p, v in res["received"].items() if v)})
    mach = machine()
    command = ".venv/bin/python benchmarks/router_throughput.py"
    result = {"command": command, "machine": mach, "simulator": SIMULATOR,
              "packets_per_input": N, "warmup_clocks": WARMUP, "seed": SEED,
              "throughput": rows, "latency": lat_rows}
    out = ROOT / "results"
    out.mkdir(exist_ok=True)
    (out / "router_throughput.json").write_text(json.dumps(result, indent=2) + "\n")

    md = ["# Router throughput and latency (measured)", "",
          f"Command: `{command}` (from the repository root).", "",
          f"Machine: {mach['nproc']} cores ({mach['cpu']}, {mach['machine']}), "
          f"Python {mach['python']}, {mach['simulator']}, cocotb {mach['cocotb']}, "
          f"Amaranth {mach['amaranth']}.", "",
          f"One `XYRouter` (16-bit payload, FIFO depth 4) on Verilator through the cocotb bench "
          f"`spikefab.sim.benches.router_bench`, which checks every packet against XY routing. "
          f"Inputs saturated ({N} packets each, {N // 2} in (c), {N_RANDOM} in (d); valid always "
          f"high), outputs "
          f"always ready. Rates are packets per clock per link over the saturated window "
          f"(clock {WARMUP} to the clock the first input runs dry); the limit of a link is 1. "
          f"The figures are cycle counts of the RTL, independent of the host's speed.", "",
          "| group | case | output | measured | ideal | HOL model | each input: measured "
          "(ideal) | window (clocks) |",
          "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        ins = ", ".join(f"{p} {v['measured']:.3f}" for p, v in r["inputs"].items())
        ideal_in = next(iter(r["inputs"].values()))["ideal"]
        for k, (p, v) in enumerate(r["outputs"].items()):
            model = f"{v['hol_model']:.3f}" if "hol_model" in v else "—"
            head = (f"| {r['group']} | {r['case']} |" if k == 0 else "| | |")
            tail = (f"{ins} ({ideal_in:.3g}) | {r['window_clocks']} |" if k == 0 else " | |")
            md.append(f"{head} {p} | {v['measured']:.3f} | {v['ideal']:.3g} | {model} | {tail}")
    md += ["",
           "HOL model: saturation throughput per output of an ideal input-queued switch with "
           "one FIFO per input and the router's round-robin arbitration, by Monte Carlo "
           "(200 000 slots) for the same output probabilities; for five uniform outputs it is "
           "the head-of-line blocking limit 0.64 (Karol, Hluchyj and Morgan 1987). For "
           "destinations uniform over the 9 routers the ideal counts 3/9 of the packets on "
           "E and W each, so those links bound every input to 0.6.", "",
           "Latency with no contention (clocks from the input transfer to `valid` on the "
           "output; the output is always ready, so the transfer happens in that clock):", "",
           "| case | packets | outputs | min | mean | max |", "|---|---|---|---|---|---|"]
    for r in lat_rows:
        md.append(f"| {r['case']} | {r['packets']} | {', '.join(r['outputs'])} | {r['min']} "
                  f"| {r['mean']:.2f} | {r['max']} |")
    (out / "router_throughput.md").write_text("\n".join(md) + "\n")
    print("\n".join(md))


if __name__ == "__main__":
    sys.exit(main())
