"""The AER spike router: one node of the 2-D mesh that carries packets between cores (SPEC §3.6)."""

import enum

from amaranth.hdl import Module, Mux, Signal
from amaranth.lib import data, stream, wiring
from amaranth.lib.fifo import SyncFIFOBuffered
from amaranth.lib.wiring import In, Out

from .layouts import mesh_coord_bits, packet_layout
from .params import MESH_DIM_MAX, ParamError, check_int, check_shape


__all__ = ["Port", "packet_layout", "mesh_coord_bits", "XYRouter",
           "MESH_DIM_MAX", "FIFO_DEPTH_MAX"]


#: Largest mesh width or height: :data:`spikefab.rtl.params.MESH_DIM_MAX` (one definition).
#: Largest input FIFO depth of a router.
FIFO_DEPTH_MAX = 4096


class Port(enum.IntEnum):
    """The five ports of a mesh router; ``+x`` is east and ``+y`` is north."""
    LOCAL = 0
    EAST = 1        # towards x + 1
    WEST = 2        # towards x - 1
    NORTH = 3       # towards y + 1
    SOUTH = 4       # towards y - 1

    @property
    def port_name(self):
        """Suffix of this port's members: ``i_<port_name>`` and ``o_<port_name>``."""
        return self.name.lower()


class XYRouter(wiring.Component):
    """A mesh router with dimension-ordered (XY) routing and ready/valid back-pressure.

    A packet is routed first along x until its column is reached (``EAST`` if the destination
    ``x`` is larger than this router's, ``WEST`` if smaller), then along y (``NORTH`` if the
    destination ``y`` is larger, ``SOUTH`` if smaller), and leaves on ``LOCAL`` at its
    destination. Each input has a FIFO of ``fifo_depth`` packets; each output takes at most one
    packet per clock, granted round-robin among the inputs whose head packet wants it, so no
    input is starved while the output keeps taking packets. No packet is ever dropped: an
    input is only ready while its FIFO has room.

    Dimension-ordered routing on a mesh is deadlock-free: a packet never turns from the y
    dimension back to x, so the channel dependency graph has no cycle (Dally and Seitz), and
    with every router draining its ``LOCAL`` output every packet eventually arrives under
    any load. Packets never leave on a port that falls off the mesh edge (those members exist,
    and are left unconnected; their ``valid`` stays low), except for the ``edge_port`` of the
    router that has one: ``exit`` packets addressed to that router leave there.

    A packet whose destination lies outside the mesh (``x >= width`` or ``y >= height``,
    possible when a side is not a power of two) is not forwarded: it leaves on ``o_local``
    unchanged, so the receiving core can recognise it by coordinates that differ from
    ``(x, y)``, and the sticky ``bad_dest`` flag is set when it is transferred. It is never
    dropped and never sent off the mesh.

    Latency: 3 clocks from a transfer on an input to ``valid`` on the chosen output with no
    contention (2 in the input FIFO, 1 in the output register); throughput: one packet per
    clock per output.

    Parameters
    ----------
    x, y : int
        This router's coordinates, in ``0..width - 1`` and ``0..height - 1``.
    width, height : int
        Mesh size in routers (1..256 each; 1 x 1 is a single router whose every packet is
        local).
    payload_shape : shape-castable
        Shape of the packet's ``payload``.
    fifo_depth : int
        Depth of each input FIFO (2..4096).
    edge_port : Port or None
        The port, facing off the mesh edge, through which packets addressed to this router
        with ``exit = 1`` leave the mesh (the array's external output). Without an edge port
        (the default) such packets go to ``LOCAL`` like any other.
    position_ports : bool
        ``True``: the router's position is not built in but read from the inputs ``pos_x``,
        ``pos_y`` (to be held constant; ``x`` and ``y`` are then only checked), so one
        module serves every position (the generator's tiled Verilog). Not with
        ``edge_port``. Default ``False``.

    Members
    -------
    i_local, i_east, i_west, i_north, i_south : In(stream.Signature(packet layout))
        Packets entering from the local core and from the neighbour on each side.
    o_local, o_east, o_west, o_north, o_south : Out(stream.Signature(packet layout))
        Packets leaving to the local core and to the neighbour on each side. ``valid`` is a
        register and never depends on ``ready``; the payload holds until the transfer.
    bad_dest : Out(1)
        Sticky: a packet with a destination outside the mesh has left on ``o_local``.
    pos_x, pos_y : In(coordinate bits)
        The router's position (only with ``position_ports``).
    """

    def __init__(self, *, x, y, width, height, payload_shape, fifo_depth=4, edge_port=None,
                 position_ports=False):
        check_int("width", width, 1, MESH_DIM_MAX)
        check_int("height", height, 1, MESH_DIM_MAX)
        check_int("x", x, 0, width - 1)
        check_int("y", y, 0, height - 1)
        check_shape("payload_shape", payload_shape)
        check_int("fifo_depth", fifo_depth, 2, FIFO_DEPTH_MAX)
        if edge_port is not None:
            if not isinstance(edge_port, Port):
                raise ParamError(f"edge_port must be a Port (EAST, WEST, NORTH or SOUTH) or "
                                 f"None, not {edge_port!r}")
            on_edge = {Port.WEST: x == 0, Port.EAST: x == width - 1,
                       Port.SOUTH: y == 0, Port.NORTH: y == height - 1}.get(edge_port, False)
            if not on_edge:
                raise ParamError(f"edge_port = {edge_port.name} is not allowed for router "
                                 f"({x}, {y}) of a {width} x {height} mesh: the port must "
                                 f"face off the mesh edge")
        if position_ports and edge_port is not None:
            raise ParamError("position_ports = True is not allowed with an edge_port")
        self._edge_port = edge_port
        self._position_ports = bool(position_ports)
        self._x, self._y = x, y
        self._width, self._height = width, height
        self._payload_shape = payload_shape
        self._fifo_depth = fifo_depth
        self._layout = packet_layout(mesh_coord_bits(width), mesh_coord_bits(height),
                                     payload_shape)
        members = {}
        for port in Port:
            members[f"i_{port.port_name}"] = In(stream.Signature(self._layout))
        for port in Port:
            members[f"o_{port.port_name}"] = Out(stream.Signature(self._layout))
        members["bad_dest"] = Out(1)
        if position_ports:
            members["pos_x"] = In(mesh_coord_bits(width))
            members["pos_y"] = In(mesh_coord_bits(height))
        super().__init__(members)

    x = property(lambda self: self._x)
    y = property(lambda self: self._y)
    width = property(lambda self: self._width)
    height = property(lambda self: self._height)
    payload_shape = property(lambda self: self._payload_shape)
    fifo_depth = property(lambda self: self._fifo_depth)
    edge_port = property(lambda self: self._edge_port)
    #: The packet layout of every port.
    layout = property(lambda self: self._layout)

    def input(self, port):
        """The input stream of ``port`` (a :class:`Port`)."""
        return getattr(self, f"i_{Port(port).port_name}")

    def output(self, port):
        """The output stream of ``port`` (a :class:`Port`)."""
        return getattr(self, f"o_{Port(port).port_name}")

    def _outside(self, pkt):
        return (pkt.x >= self._width) | (pkt.y >= self._height)

    def elaborate(self, platform):
        m = Module()
        ports = list(Port)
        n = len(ports)
        px, py = ((self.pos_x, self.pos_y) if self._position_ports else (self._x, self._y))

        # --- input FIFOs and the route of each head packet --------------------------------
        heads, head_valid, head_take, want = [], [], [], []
        for port in ports:
            fifo = SyncFIFOBuffered(width=self._layout.size, depth=self._fifo_depth)
            m.submodules[f"fifo_{port.port_name}"] = fifo
            i = self.input(port)
            m.d.comb += [fifo.w_data.eq(i.payload), fifo.w_en.eq(i.valid),
                         i.ready.eq(fifo.w_rdy)]
            head = self._layout(fifo.r_data)
            take = Signal(name=f"take_{port.port_name}")
            m.d.comb += fifo.r_en.eq(take)
            route = Signal(range(n), name=f"route_{port.port_name}")
            with m.If(self._outside(head)):
                m.d.comb += route.eq(Port.LOCAL)
            with m.Elif(head.x > px):
                m.d.comb += route.eq(Port.EAST)
            with m.Elif(head.x < px):
                m.d.comb += route.eq(Port.WEST)
            with m.Elif(head.y > py):
                m.d.comb += route.eq(Port.NORTH)
            with m.Elif(head.y < py):
                m.d.comb += route.eq(Port.SOUTH)
            with m.Else():
                if self._edge_port is None:
                    m.d.comb += route.eq(Port.LOCAL)
                else:
                    m.d.comb += route.eq(Mux(head.exit, self._edge_port, Port.LOCAL))
            heads.append(head)
            head_valid.append(fifo.r_rdy)
            head_take.append(take)
            want.append([Signal(name=f"want_{port.port_name}_{o.port_name}") for o in ports])
            for o in ports:
                m.d.comb += want[-1][o].eq(fifo.r_rdy & (route == o))

        # --- one round-robin arbiter and output register per output -----------------------
        takes = [[] for _ in ports]         # takes[input]: grant signals of every output
        for out in ports:
            o = self.output(out)
            last = Signal(range(n), init=n - 1, name=f"last_{out.port_name}")
            grant = [Signal(name=f"grant_{out.port_name}_{i.port_name}") for i in ports]
            load = Signal(name=f"load_{out.port_name}")
            m.d.comb += load.eq(~o.valid | o.ready)
            with m.Switch(last):
                for prev in range(n):
                    with m.Case(prev):
                        order = [(prev + 1 + k) % n for k in range(n)]
                        for k, src in enumerate(order):
                            cond = want[src][out]
                            with (m.If(cond) if k == 0 else m.Elif(cond)):
                                m.d.comb += grant[src].eq(load)
            for src in ports:
                takes[src].append(grant[src])
                with m.If(grant[src]):
                    m.d.sync += [o.payload.eq(heads[src]), last.eq(src)]
            with m.If(load):
                m.d.sync += o.valid.eq(_any(grant))
        for src in ports:
            m.d.comb += head_take[src].eq(_any(takes[src]))

        # --- packets addressed outside the mesh -------------------------------------------
        with m.If(self.o_local.valid & self.o_local.ready & self._outside(self.o_local.payload)):
            m.d.sync += self.bad_dest.eq(1)
        return m


def _any(signals):
    result = signals[0]
    for s in signals[1:]:
        result = result | s
    return result
