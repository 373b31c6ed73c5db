"""The XY router's generated Verilog under Verilator and Icarus, through the cocotb bench
``spikefab.sim.benches.router_bench``.

The bench checks, inside the simulation, the stream rules on all ten streams, that every
packet leaves exactly once on the port XY routing (with the exit / edge-port rule) chooses,
in order per (input, output) pair, that nothing else leaves, that ``bad_dest`` follows the
packets addressed outside the mesh clock by clock, and that no job deadlocks. Here the
results are checked again against the plain reference of ``test_router.py``, and for
coverage (every reachable output from every input), latency and fairness.

Starting a simulator costs seconds, so each test runs one design on one simulator: all its
jobs (directions, latency, then the design's own subject: the edge port, contention and
random traffic, destinations outside the mesh) go into one run; one build per design and
simulator, cached in ``build/sim``.
"""

import random

import pytest

from spikefab.rtl.router import Port
from spikefab.sim.benches.router_bench import run_router_rtl

from rtl_helpers import SIMULATORS, seed_for
from test_router import reference_route, tag, untag


#: The designs of this file, as router keyword arguments: a 3 x 3 mesh's corner (which is
#: also the array's exit router, edge port WEST), an edge router, its centre, and a 1 x 1 mesh.
CORNER = dict(x=0, y=0, width=3, height=3, edge_port=Port.WEST)
EDGE = dict(x=1, y=2, width=3, height=3)
CENTRE = dict(x=1, y=1, width=3, height=3)
SINGLE = dict(x=0, y=0, width=1, height=1)


def ref(design, pkt):
    """The port ``pkt`` = ``(x, y, payload, exit)`` must leave on, by ``test_router``'s
    reference."""
    return reference_route(design["x"], design["y"], design["width"], design["height"],
                           pkt[0], pkt[1], pkt[3], design.get("edge_port"))


def outside(design, pkt):
    return pkt[0] >= design["width"] or pkt[1] >= design["height"]


def check_results(design, jobs, results, simulator):
    """Each job's results against the reference: all packets accepted and delivered exactly
    once, on the reference port, in order per (input, output) pair; ``bad_dest`` as
    expected. Returns, per job, ``{(src, out): [packet index, ...]}``."""
    assert len(results) == len(jobs)
    pairs_all = []
    for job, res in zip(jobs, results):
        name = f"{simulator}, job {job['name']!r}"
        assert res["simulator"].lower().startswith(simulator[:4]), res["simulator"]
        sends = {Port(p): pkts for p, pkts in job["sends"].items()}
        for p in Port:
            assert res["sent"][p.port_name] == len(sends.get(p, ())), f"{name}: input {p.name}"
        pairs = {}
        seen = set()
        for out in Port:
            for src, k, t_in, t_valid, t_out in res["out"][out.port_name]:
                pkt = sends[Port(src)][k]
                assert untag(pkt[2])[0] == Port(src), f"{name}: {pkt} attributed to {src}"
                assert ref(design, pkt) == out, \
                    f"{name}: packet {pkt} from {Port(src).name} left on {out.name}"
                assert (src, k) not in seen, f"{name}: packet {pkt} delivered twice"
                seen.add((src, k))
                assert t_in < t_valid <= t_out, f"{name}: clocks {t_in}, {t_valid}, {t_out}"
                pairs.setdefault((Port(src), out), []).append(k)
        assert len(seen) == sum(len(v) for v in sends.values()), f"{name}: packets missing"
        for key, ks in pairs.items():
            assert ks == sorted(ks), f"{name}: {key[0].name} -> {key[1].name} out of order"
        want_flag = any(outside(design, pkt) for v in sends.values() for pkt in v)
        assert res["bad_dest"] == want_flag, f"{name}: bad_dest = {res['bad_dest']}"
        pairs_all.append(pairs)
    return pairs_all


def run(design, jobs, simulator):
    results = run_router_rtl(design, jobs, simulator)
    return check_results(design, jobs, results, simulator), results


def every_destination(design, src, exits=(0, 1)):
    return [(dx, dy, tag(src, 2 * (design["width"] * dy + dx) + e), e)
            for dy in range(design["height"]) for dx in range(design["width"]) for e in exits]


def reachable(design):
    """Outputs some packet for a destination in the mesh can take from this router."""
    return {ref(design, pkt) for pkt in every_destination(design, Port.LOCAL)}


# --- every direction --------------------------------------------------------------------------

def direction_jobs(design):
    """From each input to every destination (each exit bit): all inputs at once, then with
    random gaps and back-pressure, then one input alone, one packet per clock (latency)."""
    sends = {p: every_destination(design, p) for p in Port}
    return [
        {"name": "all inputs, every destination", "sends": sends},
        {"name": "all inputs, gaps and back-pressure", "sends": sends, "seed": 11,
         "gap": 0.3, "backpressure": 0.3},
        {"name": "one input alone", "sends": {Port.SOUTH: every_destination(design, Port.SOUTH)}},
    ]


EXPECTED_OUTPUTS = {"corner_exit": {Port.LOCAL, Port.EAST, Port.NORTH, Port.WEST},
                    "edge": {Port.LOCAL, Port.EAST, Port.WEST, Port.SOUTH},
                    "centre": set(Port), "single": {Port.LOCAL}}


def check_directions(name, design, jobs, pairs, results):
    outs = reachable(design)
    assert outs == EXPECTED_OUTPUTS[name]
    for k in range(2):
        assert set(pairs[k]) == {(src, out) for src in Port for out in outs}, \
            f"{jobs[k]['name']}: (input, output) pairs exercised: {sorted(pairs[k])}"
        for out in set(Port) - outs:
            assert results[k]["received"][out.port_name] == 0
    # no contention: 3 clocks from the input transfer to valid on the output, which is taken
    # at once (ready high), and the one input sends one packet per clock
    lat = [(r[3] - r[2], r[4] - r[3]) for recs in results[2]["out"].values() for r in recs]
    assert lat and set(lat) == {(3, 0)}, f"(latency, wait) seen: {sorted(set(lat))}"
    ins = sorted(r[2] for recs in results[2]["out"].values() for r in recs)
    assert ins == list(range(len(jobs[2]["sends"][Port.SOUTH])))


# --- the edge port ------------------------------------------------------------------------------

def edge_exit_jobs(rng, seed):
    """For router (0, 0) with edge port WEST: exit packets from all inputs at once; exit and
    local packets mixed; random traffic with exit bits; exit packets outside the mesh."""
    n = 24
    return [
        {"name": "all inputs exit", "seed": seed,
         "sends": {p: [(0, 0, tag(p, k), 1) for k in range(n)] for p in Port}},
        {"name": "exit and local mixed", "seed": seed + 1, "gap": 0.2, "backpressure": 0.3,
         "sends": {p: [(0, 0, tag(p, k), rng.randrange(2)) for k in range(n)] for p in Port}},
        {"name": "random exit traffic", "seed": seed + 2,
         "gap": {p.port_name: rng.choice([0.0, 0.3, 0.6]) for p in Port},
         "backpressure": {p.port_name: rng.choice([0.0, 0.2, 0.5]) for p in Port},
         "sends": {p: [(rng.randrange(3), rng.randrange(3), tag(p, k), rng.randrange(2))
                       for k in range(rng.randrange(30, 60))] for p in Port}},
        {"name": "exit outside the mesh", "seed": seed + 3,
         "sends": {Port.EAST: [(0, 0, tag(Port.EAST, 0), 1), (3, 0, tag(Port.EAST, 1), 1),
                               (0, 3, tag(Port.EAST, 2), 1)]}},
    ]


def check_edge_exit(jobs, results):
    n = len(jobs[0]["sends"][Port.LOCAL])
    assert results[0]["received"]["west"] == 5 * n
    order = [Port(r[0]) for r in results[0]["out"]["west"]]
    check_fair(order, n)
    mixed = jobs[1]["sends"]
    assert results[1]["received"]["west"] == sum(pkt[3] for v in mixed.values() for pkt in v)
    assert results[1]["received"]["local"] == sum(1 - pkt[3] for v in mixed.values() for pkt in v)
    exits = [pkt for v in jobs[2]["sends"].values() for pkt in v if pkt[3] and pkt[:2] == (0, 0)]
    assert exits and results[2]["received"]["west"] == len(exits)
    assert results[3]["received"] == {"local": 2, "east": 0, "west": 1, "north": 0, "south": 0}
    assert results[3]["bad_dest"] == 1 and results[2]["bad_dest"] == 0


# --- contention and fairness ---------------------------------------------------------------------

def check_fair(order, n):
    """While all five inputs still compete, no input is more than one grant ahead of another,
    and the grants rotate strictly."""
    counts = {p: 0 for p in Port}
    for k, src in enumerate(order):
        counts[src] += 1
        if all(counts[p] < n for p in Port):
            spread = max(counts.values()) - min(counts.values())
            assert spread <= 1, f"grant {k}: unfair, counts {counts}"
    assert order[:5 * (n - 2)] == [order[k % 5] for k in range(5 * (n - 2))], \
        f"grants do not rotate: {[p.name for p in order[:15]]}..."


CONTENTION = [("local", (1, 1), 0.0), ("north", (1, 2), 0.4), ("east", (2, 0), 0.0),
              ("west", (0, 2), 0.7)]


def contention_jobs(seed, n=40):
    """At the centre, all five inputs send to one output at once, without and with random
    back-pressure."""
    return [{"name": f"all to {out}, back-pressure {bp}", "seed": seed + k,
             "backpressure": {out: bp},
             "sends": {p: [(*dest, tag(p, j), 0) for j in range(n)] for p in Port}}
            for k, (out, dest, bp) in enumerate(CONTENTION)]


def check_contention(jobs, results):
    """Fair grants; without back-pressure the output carries a packet every clock while the
    inputs compete."""
    for (out, _, bp), job, res in zip(CONTENTION, jobs, results):
        n = len(job["sends"][Port.LOCAL])
        recs = res["out"][out]
        assert len(recs) == 5 * n
        check_fair([Port(r[0]) for r in recs], n)
        if bp == 0:
            t = [r[4] for r in recs]
            assert t == list(range(t[0], t[0] + 5 * n)), f"{out}: idle clocks while saturated"


# --- random traffic -----------------------------------------------------------------------------

def random_jobs(rng, seed, count=3):
    """Random destinations (a few outside the mesh in the last job), exit bits, valid gaps and
    back-pressure per port."""
    jobs = []
    for j in range(count):
        sends = {}
        for p in Port:
            pkts = []
            for k in range(rng.randrange(40, 100)):
                if j == count - 1 and rng.random() < 0.05:
                    dx, dy = rng.randrange(4), 3             # outside the 3 x 3 mesh
                else:
                    dx, dy = rng.randrange(3), rng.randrange(3)
                pkts.append((dx, dy, tag(p, k), rng.randrange(2)))
            sends[p] = pkts
        jobs.append({"name": f"random {j}", "seed": seed * 10 + j, "sends": sends,
                     "gap": {p.port_name: rng.choice([0.0, 0.2, 0.5, 0.8]) for p in Port},
                     "backpressure": {p.port_name: rng.choice([0.0, 0.1, 0.3, 0.6])
                                      for p in Port}})
    print("random jobs, gaps and back-pressure:",
          [(j["gap"], j["backpressure"]) for j in jobs])
    return jobs


def check_random(jobs, results):
    for res in results:
        assert sum(res["received"].values()) == res["total"]
    assert results[-1]["bad_dest"] == any(pkt[1] == 3 for v in jobs[-1]["sends"].values()
                                          for pkt in v)


# --- destinations outside the mesh ---------------------------------------------------------------

OUTSIDE = [(3, 0), (0, 3), (3, 3), (3, 2), (1, 3)]


def outside_jobs(seed):
    """On a 3 x 3 mesh (coordinates of 2 bits, so 3 is outside): good packets only; one bad
    packet among good ones; bad packets only, from every input, with gaps and back-pressure."""
    good = [(dx, dy) for dx in range(3) for dy in range(3)]
    return [
        {"name": "good only", "seed": seed,
         "sends": {p: [(*d, tag(p, k), 0) for k, d in enumerate(good)] for p in Port}},
        {"name": "one bad among good", "seed": seed + 1,
         "sends": {Port.WEST: [(*d, tag(Port.WEST, k), 0) for k, d in enumerate(good)]
                   + [(3, 1, tag(Port.WEST, 99), 0)]
                   + [(*d, tag(Port.WEST, 100 + k), 0) for k, d in enumerate(good)]}},
        {"name": "all bad, every input", "seed": seed + 2, "gap": 0.2, "backpressure": 0.3,
         "sends": {p: [(*d, tag(p, 2 * k + e), e) for k, d in enumerate(OUTSIDE)
                       for e in (0, 1)] for p in Port}},
    ]


def check_outside(design, jobs, results):
    """Bad packets leave on LOCAL unchanged and set the sticky ``bad_dest``; good packets
    alone do not."""
    assert [r["bad_dest"] for r in results] == [0, 1, 1]
    here = (design["x"], design["y"])
    local = results[1]["out"]["local"]
    assert [jobs[1]["sends"][Port.WEST][r[1]][:2] for r in local] == [here, (3, 1), here]
    assert results[2]["received"]["local"] == 5 * 2 * len(OUTSIDE)
    assert sum(results[2]["received"].values()) == 5 * 2 * len(OUTSIDE)


# --- one test per design and simulator ------------------------------------------------------------

@pytest.mark.parametrize("simulator", SIMULATORS)
def test_corner_exit_router(simulator):
    """Corner (0, 0) of a 3 x 3 mesh with the edge port WEST: every direction, then exit
    packets (all inputs at once, mixed with local ones, random traffic, outside the mesh)."""
    seed = seed_for("router cocotb edge port", 21)
    design = CORNER
    jobs = direction_jobs(design) + edge_exit_jobs(random.Random(seed), seed)
    pairs, results = run(design, jobs, simulator)
    check_directions("corner_exit", design, jobs[:3], pairs[:3], results[:3])
    check_edge_exit(jobs[3:], results[3:])


@pytest.mark.parametrize("simulator", SIMULATORS)
def test_edge_router(simulator):
    """Router (1, 2) on the north edge of a 3 x 3 mesh: every direction, then destinations
    outside the mesh (``bad_dest``)."""
    seed = seed_for("router cocotb outside", 51)
    design = EDGE
    jobs = direction_jobs(design) + outside_jobs(seed)
    pairs, results = run(design, jobs, simulator)
    check_directions("edge", design, jobs[:3], pairs[:3], results[:3])
    check_outside(design, jobs[3:], results[3:])


@pytest.mark.parametrize("simulator", SIMULATORS)
def test_centre_router(simulator):
    """The centre of a 3 x 3 mesh: every direction; all inputs to one output (fairness, with
    and without back-pressure); seeded random traffic with random back-pressure."""
    seed = seed_for("router cocotb centre (contention, random traffic)", 41)
    design = CENTRE
    jobs = direction_jobs(design)
    n_dir = len(jobs)
    jobs += contention_jobs(seed)
    n_cont = len(jobs)
    jobs += random_jobs(random.Random(seed), seed)
    pairs, results = run(design, jobs, simulator)
    check_directions("centre", design, jobs[:n_dir], pairs[:n_dir], results[:n_dir])
    check_contention(jobs[n_dir:n_cont], results[n_dir:n_cont])
    check_random(jobs[n_cont:], results[n_cont:])


@pytest.mark.parametrize("simulator", SIMULATORS)
def test_single_router(simulator):
    """A 1 x 1 mesh: every packet is local (exit bits too, without an edge port), all five
    inputs compete for it; coordinates of 1 (1-bit fields) are outside the mesh."""
    seed = seed_for("router cocotb 1 x 1", 61)
    design = SINGLE
    n = 20
    jobs = direction_jobs(design) + [
        {"name": "all to local, back-pressure", "seed": seed, "backpressure": 0.5,
         "sends": {p: [(0, 0, tag(p, k), k % 2) for k in range(n)] for p in Port}},
        {"name": "outside", "seed": seed + 1,
         "sends": {Port.NORTH: [(0, 0, tag(Port.NORTH, 0), 0), (1, 0, tag(Port.NORTH, 1), 0),
                                (0, 1, tag(Port.NORTH, 2), 1), (1, 1, tag(Port.NORTH, 3), 0)]}},
    ]
    pairs, results = run(design, jobs, simulator)
    check_directions("single", design, jobs[:3], pairs[:3], results[:3])
    assert results[3]["received"]["local"] == 5 * n
    check_fair([Port(r[0]) for r in results[3]["out"]["local"]], n)
    assert results[4]["received"]["local"] == 4 and results[4]["bad_dest"] == 1
