# amaranth: UnusedElaboratable=no
"""The XY mesh router in Amaranth's simulator, against a tiny Python reference of XY routing.

One testbench drives every input and output of the router each clock, with seeded random
valid gaps and random back-pressure, checks the stream rules on every output (valid does not
depend on ready; a payload holds until its transfer) and returns what left on each port.
"""

import random
import re

import pytest
from amaranth.hdl import unsigned
from amaranth.lib import data
from amaranth.sim import Simulator

from spikefab.rtl.params import ParamError
from spikefab.rtl.router import Port, XYRouter, mesh_coord_bits, packet_layout

from rtl_helpers import seed_for


PAYLOAD_BITS = 16
SEQ_BITS = 12                       # payload = source port << SEQ_BITS | sequence number


def reference_route(x, y, width, height, dx, dy, exit=0, edge_port=None):
    """XY routing, written plainly: the port a packet for ``(dx, dy)`` leaves on. At its
    destination an ``exit`` packet leaves on the router's ``edge_port`` if it has one."""
    if dx >= width or dy >= height:
        return Port.LOCAL                       # outside the mesh: kept local, flagged
    if dx != x:
        return Port.EAST if dx > x else Port.WEST
    if dy != y:
        return Port.NORTH if dy > y else Port.SOUTH
    if exit and edge_port is not None:
        return Port(edge_port)                  # leaves the mesh
    return Port.LOCAL


def route_of(router, pkt):
    """The port ``router`` must send ``pkt`` (``(x, y, payload[, exit])``) on."""
    return reference_route(router.x, router.y, router.width, router.height, pkt[0], pkt[1],
                           pkt[3] if len(pkt) > 3 else 0, router.edge_port)


def full(pkt):
    """``(x, y, payload, exit)``: a packet with its exit bit (0 when left out)."""
    return tuple(pkt) + (0,) * (4 - len(pkt))


def tag(src, seq):
    return (int(src) << SEQ_BITS) | seq


def untag(payload):
    return Port(payload >> SEQ_BITS), payload & ((1 << SEQ_BITS) - 1)


def run_router(router, sends, *, seed=0, gap=0.0, backpressure=0.0, max_cycles=5000,
               drain=20):
    """Simulate ``router``: ``sends[port]`` is the list of ``(x, y, payload)`` or
    ``(x, y, payload, exit)`` offered on input ``port``, each held until accepted. Returns
    ``(received, info)``: ``received[port]`` lists the ``(x, y, payload, exit)`` transferred
    on output ``port`` in order; ``info`` holds the clock of every transfer and the final
    ``bad_dest``."""
    rng = random.Random(seed)
    received = {p: [] for p in Port}
    info = {"in_cycle": {p: [] for p in Port}, "out_cycle": {p: [] for p in Port}}
    total = sum(len(v) for v in sends.values())

    async def bench(ctx):
        nxt = {p: 0 for p in Port}
        idle = {p: 0 for p in Port}           # clocks of valid gap left before the next packet
        held = {}                             # output -> payload it must still hold
        cycle = after = 0
        while cycle < max_cycles:
            for p in Port:
                i = router.input(p)
                if nxt[p] < len(sends.get(p, ())) and idle[p] == 0:
                    px, py, pl, ex = full(sends[p][nxt[p]])
                    ctx.set(i.payload, {"x": px, "y": py, "exit": ex, "payload": pl})
                    ctx.set(i.valid, 1)
                else:
                    ctx.set(i.valid, 0)
            for p in Port:
                o = router.output(p)
                ctx.set(o.ready, 0)
                v0 = ctx.get(o.valid)
                ctx.set(o.ready, 1)
                v1 = ctx.get(o.valid)
                assert v0 == v1, f"cycle {cycle}: o_{p.port_name}.valid depends on ready"
                if p in held:
                    assert v1, f"cycle {cycle}: o_{p.port_name}.valid fell before the transfer"
                    got = ctx.get(o.payload.as_value())
                    assert got == held[p], (f"cycle {cycle}: o_{p.port_name}.payload changed "
                                            f"before the transfer")
                ctx.set(o.ready, int(rng.random() >= backpressure))
            for p in Port:
                i = router.input(p)
                if ctx.get(i.valid) and ctx.get(i.ready):
                    nxt[p] += 1
                    info["in_cycle"][p].append(cycle)
                    if gap and rng.random() < gap:
                        idle[p] = rng.randint(1, 4)
                elif idle[p]:
                    idle[p] -= 1
            for p in Port:
                o = router.output(p)
                held.pop(p, None)
                if ctx.get(o.valid):
                    if ctx.get(o.ready):
                        pkt = ctx.get(o.payload)
                        received[p].append((pkt.x, pkt.y, pkt.payload, pkt.exit))
                        info["out_cycle"][p].append(cycle)
                    else:
                        held[p] = ctx.get(o.payload.as_value())
            await ctx.tick()
            cycle += 1
            if sum(len(v) for v in received.values()) >= total:
                after += 1
                if after > drain:
                    break
        info["cycles"] = cycle
        info["sent"] = dict(nxt)
        info["bad_dest"] = ctx.get(router.bad_dest)

    sim = Simulator(router)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()
    return received, info


def check_delivery(router, sends, received, info):
    """Every packet sent arrives exactly once, on the port XY routing chooses, and the packets
    from one input to one output keep their order."""
    for p in Port:
        assert info["sent"][p] == len(sends.get(p, ())), \
            f"input {p.name}: only {info['sent'][p]} of {len(sends.get(p, ()))} accepted"
    expected = {(src, out): [] for src in Port for out in Port}
    for src, pkts in sends.items():
        for pkt in pkts:
            expected[src, route_of(router, pkt)].append(full(pkt))
    got = {(src, out): [] for src in Port for out in Port}
    for out, pkts in received.items():
        for pkt in pkts:
            src, _ = untag(pkt[2])
            got[src, out].append(pkt)
    for key in expected:
        src, out = key
        assert got[key] == expected[key], (
            f"{src.name} -> {out.name}: expected {len(expected[key])} packets, got "
            f"{len(got[key])}; first divergence at index "
            f"{next((k for k, (a, b) in enumerate(zip(expected[key], got[key])) if a != b), min(len(expected[key]), len(got[key])))}")


def router(**kw):
    args = dict(x=1, y=1, width=3, height=3, payload_shape=unsigned(PAYLOAD_BITS), fifo_depth=4)
    args.update(kw)
    return XYRouter(**args)


# --- routing -------------------------------------------------------------------------------

def test_every_direction():
    """From the middle of a 3 x 3 mesh, each of the 9 destinations leaves on the right port."""
    dut = router()
    cases = {
        (2, 1): Port.EAST, (0, 1): Port.WEST, (1, 2): Port.NORTH, (1, 0): Port.SOUTH,
        (2, 2): Port.EAST, (2, 0): Port.EAST, (0, 2): Port.WEST, (0, 0): Port.WEST,
        (1, 1): Port.LOCAL,
    }
    for (dx, dy), want in cases.items():
        assert reference_route(1, 1, 3, 3, dx, dy) == want
    for src in Port:
        sends = {src: [(dx, dy, tag(src, k)) for k, (dx, dy) in enumerate(cases)]}
        received, info = run_router(dut, sends)
        check_delivery(dut, sends, received, info)
        for out, pkts in received.items():
            for pkt in pkts:
                assert cases[pkt[:2]] == out, f"packet to {pkt[:2]} left on {out.name}"
        assert not info["bad_dest"]


def test_latency_and_throughput():
    """3 clocks from input transfer to output valid; back to back, one packet per clock."""
    dut = router()
    sends = {Port.WEST: [(2, 1, tag(Port.WEST, k)) for k in range(8)]}
    received, info = run_router(dut, sends)
    check_delivery(dut, sends, received, info)
    ins, outs = info["in_cycle"][Port.WEST], info["out_cycle"][Port.EAST]
    assert ins == list(range(8))
    # valid rises 3 clocks after the first input transfer; with ready high it transfers then
    assert outs == [c + 3 for c in ins]


@pytest.mark.parametrize("x,y", [(0, 0), (2, 2), (0, 2)])
def test_corners_never_route_off_the_mesh(x, y):
    dut = router(x=x, y=y)
    sends = {p: [(dx, dy, tag(p, 3 * dy + dx)) for dx in range(3) for dy in range(3)]
             for p in Port}
    received, info = run_router(dut, sends, seed=1, backpressure=0.3, gap=0.3)
    check_delivery(dut, sends, received, info)
    if x == 0:
        assert not received[Port.WEST]
    if x == 2:
        assert not received[Port.EAST]
    if y == 0:
        assert not received[Port.SOUTH]
    if y == 2:
        assert not received[Port.NORTH]


def test_one_by_one_everything_local():
    dut = router(x=0, y=0, width=1, height=1)
    sends = {p: [(0, 0, tag(p, k)) for k in range(20)] for p in Port}
    received, info = run_router(dut, sends, seed=2, backpressure=0.5)
    check_delivery(dut, sends, received, info)
    assert len(received[Port.LOCAL]) == 100
    assert all(not received[p] for p in Port if p != Port.LOCAL)
    assert not info["bad_dest"]


def test_destination_outside_the_mesh_goes_local_with_flag():
    """Coordinates past the edge (3 on a side of 3) are kept on LOCAL and flag ``bad_dest``."""
    dut = router(x=2, y=0)
    sends = {Port.WEST: [(1, 0, tag(Port.WEST, 0)), (3, 0, tag(Port.WEST, 1)),
                         (0, 3, tag(Port.WEST, 2)), (2, 0, tag(Port.WEST, 3))]}
    received, info = run_router(dut, sends)
    check_delivery(dut, sends, received, info)
    assert [p[:2] for p in received[Port.LOCAL]] == [(3, 0), (0, 3), (2, 0)]
    assert [p[:2] for p in received[Port.WEST]] == [(1, 0)]
    assert info["bad_dest"]

    # a good packet alone does not set the flag
    received, info = run_router(router(x=2, y=0), {Port.WEST: [(2, 0, tag(Port.WEST, 0))]})
    assert not info["bad_dest"]


# --- contention and fairness -----------------------------------------------------------------

@pytest.mark.parametrize("target", [Port.LOCAL, Port.NORTH])
def test_contention_round_robin(target):
    """All 5 inputs send to one output at once, under random back-pressure: every packet
    arrives exactly once, and grants rotate so that no input gets ahead of another by more
    than one packet while all of them wait."""
    seed = seed_for(f"router contention {target.name}", 40 + target)
    dut = router()
    dest = {Port.LOCAL: (1, 1), Port.NORTH: (1, 2)}[target]
    n = 60
    sends = {p: [(*dest, tag(p, k)) for k in range(n)] for p in Port}
    received, info = run_router(dut, sends, seed=seed, backpressure=0.4)
    check_delivery(dut, sends, received, info)
    order = [untag(pkt[2])[0] for pkt in received[target]]
    assert len(order) == 5 * n
    counts = {p: 0 for p in Port}
    for k, src in enumerate(order):
        counts[src] += 1
        if all(counts[p] < n for p in Port):
            spread = max(counts.values()) - min(counts.values())
            assert spread <= 1, f"packet {k}: unfair grants, counts {counts}"
    # strictly rotating while everyone competes
    assert order[:5 * (n - 2)] == [order[k % 5] for k in range(5 * (n - 2))]


# --- random traffic against the reference ----------------------------------------------------

@pytest.mark.parametrize("case", range(4))
def test_random_traffic(case):
    seed = seed_for(f"router random traffic {case}", 100 + case)
    rng = random.Random(seed)
    width, height = rng.choice([(3, 3), (4, 2), (1, 5), (5, 1), (3, 5)])
    dut = router(x=rng.randrange(width), y=rng.randrange(height), width=width, height=height,
                 fifo_depth=rng.choice([2, 3, 4, 8]))
    print(f"mesh {width}x{height}, router ({dut.x}, {dut.y}), fifo_depth {dut.fifo_depth}")
    xmax, ymax = (1 << mesh_coord_bits(width)) - 1, (1 << mesh_coord_bits(height)) - 1
    sends = {}
    for p in Port:
        pkts = []
        for k in range(rng.randrange(40, 120)):
            if rng.random() < 0.03:                       # rarely, outside the mesh
                dx, dy = rng.randint(0, xmax), rng.randint(0, ymax)
            else:
                dx, dy = rng.randrange(width), rng.randrange(height)
            pkts.append((dx, dy, tag(p, k)))
        sends[p] = pkts
    received, info = run_router(dut, sends, seed=seed, gap=rng.choice([0.0, 0.3, 0.7]),
                                backpressure=rng.choice([0.0, 0.3, 0.6]))
    check_delivery(dut, sends, received, info)
    n_in = sum(len(v) for v in sends.values())
    n_out = sum(len(v) for v in received.values())
    assert n_in == n_out, f"{n_in} packets in, {n_out} out"
    outside = any(dx >= width or dy >= height for v in sends.values() for dx, dy, _ in v)
    assert info["bad_dest"] == outside


# --- the exit bit and the edge port ---------------------------------------------------------

def legal_edge_ports(x, y, width, height):
    """The ports of router ``(x, y)`` that face off the mesh edge."""
    return [p for p, ok in {Port.EAST: x == width - 1, Port.WEST: x == 0,
                            Port.NORTH: y == height - 1, Port.SOUTH: y == 0}.items() if ok]


def every_destination(width, height, src, exits=(0, 1)):
    """One packet from ``src`` to every router of the mesh, with each exit bit."""
    return [(dx, dy, tag(src, 2 * (width * dy + dx) + e), e)
            for dy in range(height) for dx in range(width) for e in exits]


@pytest.mark.parametrize("x,y,width,height,edge", [
    (0, 0, 3, 3, Port.WEST), (0, 0, 3, 3, Port.SOUTH), (2, 1, 3, 3, Port.EAST),
    (1, 2, 3, 3, Port.NORTH), (3, 1, 4, 2, Port.EAST), (0, 0, 1, 1, Port.WEST),
    (0, 0, 1, 1, Port.NORTH),
])
def test_exit_packets_leave_on_the_edge_port(x, y, width, height, edge):
    """At the router with an edge port, ``exit`` packets addressed to it leave on that port,
    unchanged; every other packet (``exit = 0``, or addressed elsewhere) routes as usual."""
    dut = router(x=x, y=y, width=width, height=height, edge_port=edge)
    assert dut.edge_port is edge
    sends = {p: every_destination(width, height, p) for p in Port}
    seed = seed_for(f"router edge port {x},{y} {width}x{height} {edge.name}", 7)
    received, info = run_router(dut, sends, seed=seed, gap=0.3, backpressure=0.3)
    check_delivery(dut, sends, received, info)
    mine = [full(pkt) for p in Port for pkt in sends[p] if pkt[:2] == (x, y)]
    assert sorted(received[edge]) == sorted(pkt for pkt in mine if pkt[3] == 1)
    assert sorted(received[Port.LOCAL]) == sorted(pkt for pkt in mine if pkt[3] == 0)
    # exit packets for other routers keep their exit bit and take their XY port
    for out in Port:
        if out not in (edge, Port.LOCAL):
            assert all(pkt[:2] != (x, y) for pkt in received[out])
    assert sum(pkt[3] for out in Port for pkt in received[out]) == 5 * width * height
    # nothing else leaves off the mesh
    for out in Port:
        if out != edge and out in legal_edge_ports(x, y, width, height):
            assert not received[out], f"{out.name} faces off the mesh"
    assert not info["bad_dest"]


@pytest.mark.parametrize("x,y", [(1, 1), (0, 0), (2, 2)])
def test_exit_packets_without_edge_port_go_local(x, y):
    """Without an edge port an ``exit`` packet is an ordinary packet: LOCAL at its
    destination, exit bit kept."""
    dut = router(x=x, y=y)
    assert dut.edge_port is None
    sends = {p: every_destination(3, 3, p) for p in Port}
    received, info = run_router(dut, sends, seed=5, gap=0.2, backpressure=0.2)
    check_delivery(dut, sends, received, info)
    assert sorted(received[Port.LOCAL]) == sorted(
        full(pkt) for p in Port for pkt in sends[p] if pkt[:2] == (x, y))
    assert {pkt[3] for pkt in received[Port.LOCAL]} == {0, 1}
    for out in legal_edge_ports(x, y, 3, 3):
        assert not received[out]


def test_exit_packet_outside_the_mesh_stays_local():
    """An ``exit`` packet addressed outside the mesh is not sent off through the edge port:
    it leaves on LOCAL and sets ``bad_dest`` like any other."""
    dut = router(x=0, y=0, edge_port=Port.WEST)
    sends = {Port.EAST: [(3, 0, tag(Port.EAST, 0), 1), (0, 3, tag(Port.EAST, 1), 1),
                         (0, 0, tag(Port.EAST, 2), 1), (0, 0, tag(Port.EAST, 3), 0)]}
    received, info = run_router(dut, sends)
    check_delivery(dut, sends, received, info)
    assert [p[:2] for p in received[Port.LOCAL]] == [(3, 0), (0, 3), (0, 0)]
    assert [p[:2] for p in received[Port.WEST]] == [(0, 0)]
    assert info["bad_dest"]

    received, info = run_router(router(x=0, y=0, edge_port=Port.WEST),
                                {Port.EAST: [(0, 0, tag(Port.EAST, 0), 1)]})
    assert len(received[Port.WEST]) == 1 and not info["bad_dest"]


def test_exit_and_local_share_nothing():
    """The edge port and LOCAL are separate outputs: a stream of exit packets and a stream
    of local packets for this router, from two inputs, both go at one packet per clock."""
    dut = router(x=0, y=0, edge_port=Port.SOUTH)
    n = 16
    sends = {Port.EAST: [(0, 0, tag(Port.EAST, k), 1) for k in range(n)],
             Port.NORTH: [(0, 0, tag(Port.NORTH, k), 0) for k in range(n)]}
    received, info = run_router(dut, sends)
    check_delivery(dut, sends, received, info)
    assert info["out_cycle"][Port.SOUTH] == [c + 3 for c in range(n)]
    assert info["out_cycle"][Port.LOCAL] == [c + 3 for c in range(n)]


@pytest.mark.parametrize("case", range(3))
def test_random_traffic_with_exit(case):
    """Random traffic with random exit bits at a router with a random legal edge port (or
    none), against the reference."""
    seed = seed_for(f"router random exit traffic {case}", 300 + case)
    rng = random.Random(seed)
    width, height = rng.choice([(3, 3), (4, 2), (1, 5), (2, 1), (1, 1)])
    x, y = rng.choice([(0, 0), (width - 1, height - 1), (rng.randrange(width), 0),
                       (0, rng.randrange(height))])
    edge = rng.choice(legal_edge_ports(x, y, width, height) + [None])
    dut = router(x=x, y=y, width=width, height=height, edge_port=edge,
                 fifo_depth=rng.choice([2, 4]))
    print(f"mesh {width}x{height}, router ({x}, {y}), edge port {edge}")
    sends = {}
    for p in Port:
        sends[p] = [(rng.randrange(width), rng.randrange(height), tag(p, k),
                     int(rng.random() < 0.4)) for k in range(rng.randrange(30, 90))]
    received, info = run_router(dut, sends, seed=seed, gap=rng.choice([0.0, 0.4]),
                                backpressure=rng.choice([0.0, 0.3, 0.6]))
    check_delivery(dut, sends, received, info)
    assert not info["bad_dest"]


@pytest.mark.parametrize("kw,message", [
    (dict(x=1, y=1, edge_port=Port.WEST),
     "edge_port = WEST is not allowed for router (1, 1) of a 3 x 3 mesh: the port must face "
     "off the mesh edge"),
    (dict(x=0, y=0, edge_port=Port.EAST),
     "edge_port = EAST is not allowed for router (0, 0) of a 3 x 3 mesh: the port must face "
     "off the mesh edge"),
    (dict(x=0, y=0, edge_port=Port.NORTH),
     "edge_port = NORTH is not allowed for router (0, 0) of a 3 x 3 mesh: the port must face "
     "off the mesh edge"),
    (dict(x=2, y=1, width=3, height=2, edge_port=Port.SOUTH),
     "edge_port = SOUTH is not allowed for router (2, 1) of a 3 x 2 mesh: the port must face "
     "off the mesh edge"),
    (dict(x=0, y=0, edge_port=Port.LOCAL),
     "edge_port = LOCAL is not allowed for router (0, 0) of a 3 x 3 mesh: the port must face "
     "off the mesh edge"),
    (dict(x=0, y=0, width=1, height=1, edge_port=0),
     "edge_port must be a Port (EAST, WEST, NORTH or SOUTH) or None, not 0"),
    (dict(x=0, y=0, edge_port="west"),
     "edge_port must be a Port (EAST, WEST, NORTH or SOUTH) or None, not 'west'"),
    (dict(x=0, y=0, edge_port=True),
     "edge_port must be a Port (EAST, WEST, NORTH or SOUTH) or None, not True"),
])
def test_edge_port_errors(kw, message):
    with pytest.raises(ParamError, match=f"^{re.escape(message)}$"):
        router(**kw)


def test_edge_port_accepts_port_values():
    """``edge_port`` takes a :class:`Port` (a bare int is refused, see above)."""
    for p in (Port.EAST, Port.WEST, Port.NORTH, Port.SOUTH):
        assert router(x=0, y=0, width=1, height=1, edge_port=p).edge_port is p


# --- layout and parameters -------------------------------------------------------------------

def test_packet_layout():
    axon = data.StructLayout({"axon": 6, "delay": 2})
    lay = packet_layout(2, 3, axon)
    assert list(lay.members) == ["x", "y", "exit", "payload"]
    assert lay.size == 2 + 3 + 1 + 8
    raw = lay.const({"x": 3, "y": 5, "exit": 1, "payload": {"axon": 17, "delay": 1}}).as_bits()
    back = lay.from_bits(raw)
    assert (back.x, back.y, back.exit, back.payload.axon, back.payload.delay) == (3, 5, 1, 17, 1)
    dut = XYRouter(x=0, y=0, width=4, height=8, payload_shape=axon)
    assert dut.layout == lay
    assert dut.i_east.payload.shape() == lay


@pytest.mark.parametrize("kw,message", [
    (dict(width=0), "width = 0 is out of range: allowed 1..64"),
    (dict(height=65), "height = 65 is out of range: allowed 1..64"),
    (dict(width=2.0), "width must be an integer in 1..64, not 2.0"),
    (dict(x=3), "x = 3 is out of range: allowed 0..2"),
    (dict(y=-1), "y = -1 is out of range: allowed 0..2"),
    (dict(x=True), "x must be an integer in 0..2, not True"),
    (dict(fifo_depth=1), "fifo_depth = 1 is out of range: allowed 2..4096"),
    (dict(fifo_depth=None), "fifo_depth must be an integer in 2..4096, not None"),
    (dict(payload_shape="axon"), "payload_shape must be an Amaranth shape (for example "
                                 "unsigned(8) or a data layout), not 'axon'"),
])
def test_parameter_errors(kw, message):
    with pytest.raises(ParamError, match=f"^{re.escape(message)}$"):
        router(**kw)


def test_packet_layout_errors():
    with pytest.raises(ParamError, match=r"^x_bits = 0 is out of range: allowed 1\.\.16$"):
        packet_layout(0, 1, 8)
    with pytest.raises(ParamError, match=r"^payload_shape must be an Amaranth shape"):
        packet_layout(1, 1, object())
