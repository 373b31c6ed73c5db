"""The many-core array: neuron cores on a 2-D mesh of XY routers (SPEC §3.1, §3.6).

Three components:

* :class:`FanOut` turns each spike of a core into one packet per entry of the neuron's
  routing-table list (destination core, axon, delay; or the external output).
* :class:`Tile` is one core with its fan-out unit and routing table: the part of the array at
  one mesh position (the router is instantiated by the mesh).
* :class:`Mesh` is the array: tiles, routers, the global step barrier, the external AER ports
  and the configuration port.

Step protocol (see ``docs/array.md``): a step starts in every core in the same clock; each
core integrates the input of the step, updates its neurons and queues its spikes; the fan-out
units turn them into packets, which the routers carry to the destination cores. A packet of
step t with connection delay d carries ``delay = d - 1`` and reaches its core after that core
has finished step t, so it lands in the accumulator slot of step t + d. The step ends (the
barrier) when every core is done, every fan-out unit is idle and no packet is in flight (a
counter of packets injected minus packets delivered). Only then may the next step start.

Deadlock freedom: a core never stalls its update on its output (its spike queue holds all N
neurons), so every core finishes its step and then accepts events again; XY routing has no
cyclic channel dependency; the external output is the only sink that may stall for long, and
it stalls only the packets waiting for it.
"""

from amaranth.hdl import Cat, Const, Module, Mux, Signal, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from . import layouts
from .core import NeuronCore
from .image import CoreImage
from .layouts import Region
from .netimage import NetworkImage, RouteTable
from .params import CoreParams, MeshParams, ParamError, STEP_BITS, check_int
from .host import (ERROR_BITS, Error, HostInterface, Kind, Op, OP_BITS, RUN_BITS, STATUS_BITS,
                   address_ok, counters_layout, host_command_layout, host_region_depths,
                   host_reply_layout)
from .reply_arbiter import ReplyArbiter
from .router import Port, XYRouter
from .skid_buffer import SkidBuffer


__all__ = ["FanOut", "Tile", "Mesh", "STATUS_BITS"]


def _check_tile_args(mesh, params, route, x, y):
    """The checks of :class:`FanOut` and :class:`Tile`, in the house style."""
    if not isinstance(mesh, MeshParams):
        raise ParamError(f"mesh must be a MeshParams, not {mesh!r}")
    if not isinstance(params, CoreParams):
        raise ParamError(f"params must be a CoreParams, not {params!r}")
    if not isinstance(route, RouteTable):
        raise ParamError(f"route must be a RouteTable, not {route!r}")
    if route.mesh != mesh or route.params != params:
        raise ParamError("route must be a RouteTable of the same mesh and core parameters, "
                         "not of another design")
    check_int("x", x, 0, mesh.width - 1)
    check_int("y", y, 0, mesh.height - 1)


def _table_cfg_signature(mp, p):
    return wiring.Signature({
        "en": Out(1),
        "write": Out(1),
        "ptr": Out(1),              # 1: ROUTE_PTR region, 0: ROUTE region
        "index": Out(max(mp.entry_bits, p.neuron_bits)),
        "wdata": Out(layouts.mesh_cfg_data_bits(mp, p)),
        "rdata": In(layouts.mesh_cfg_data_bits(mp, p)),
    })


class FanOut(wiring.Component):
    """Spikes in, packets out: one packet per entry of the spiking neuron's fan-out list.

    Holds the routing table (a pointer word per neuron and the entry memory). A spike costs
    ``count + 2`` clocks (pointer read, then one entry per clock); packets leave at one per
    clock while the router takes them.

    Members
    -------
    spikes : In(stream(spike_event_layout))
    packets : Out(stream(spike_packet_layout))
    busy : Out(1)
        A spike is being expanded or a packet waits to leave.
    table : In(table configuration signature)
        Reads and writes of the routing table; only while ``busy`` is low and no spike is
        offered. A read's ``rdata`` is valid the clock after ``en``.
    """

    def __init__(self, *, mesh, params, route, x, y):
        _check_tile_args(mesh, params, route, x, y)
        self._mp, self._p, self._route = mesh, params, route
        self._x, self._y = x, y
        super().__init__({
            "spikes": In(stream.Signature(layouts.spike_event_layout(params))),
            "packets": Out(stream.Signature(layouts.spike_packet_layout(mesh, params))),
            "busy": Out(1),
            "table": In(_table_cfg_signature(mesh, params)),
        })

    def elaborate(self, platform):
        m = Module()
        mp, p = self._mp, self._p
        ptr_lay = layouts.route_ptr_layout(mp)
        ent_lay = layouts.route_entry_layout(mp, p)
        m.submodules.ptr_mem = ptr_mem = Memory(
            shape=ptr_lay, depth=p.neurons,
            init=[ptr_lay.from_bits(w) for w in self._route.ptr_words()])
        m.submodules.ent_mem = ent_mem = Memory(
            shape=ent_lay, depth=mp.route_entries,
            init=[ent_lay.from_bits(w) for w in self._route.entry_words()])
        ptr_rd, ptr_wr = ptr_mem.read_port(), ptr_mem.write_port()
        ent_rd, ent_wr = ent_mem.read_port(), ent_mem.write_port()

        loading = Signal()                       # the pointer word is on ptr_rd.data
        addr = Signal(range(mp.route_entries))
        remaining = Signal(mp.count_bits)
        neuron = Signal(p.neuron_bits)           # neuron whose list is being expanded
        out_valid = Signal()                     # ent_rd.data holds an entry to send
        out_neuron = Signal(p.neuron_bits)       # the neuron of that entry

        tbl = self.table
        m.d.comb += [
            self.spikes.ready.eq(~loading & (remaining == 0) & ~tbl.en),
            ptr_rd.addr.eq(Mux(tbl.en, tbl.index, self.spikes.payload.neuron)),
        ]
        with m.If(self.spikes.valid & self.spikes.ready):
            m.d.sync += [loading.eq(1), neuron.eq(self.spikes.payload.neuron)]
        with m.If(loading):
            m.d.sync += [loading.eq(0), addr.eq(ptr_rd.data.base),
                         remaining.eq(ptr_rd.data.count)]

        advance = ~out_valid | self.packets.ready
        m.d.comb += [
            ent_rd.en.eq(advance | tbl.en),
            ent_rd.addr.eq(Mux(tbl.en, tbl.index, addr)),
        ]
        with m.If(advance):
            # (while the pointer word loads, ``remaining`` still belongs to the last list)
            with m.If(~loading & (remaining != 0)):
                m.d.sync += [addr.eq(addr + 1), remaining.eq(remaining - 1),
                             out_valid.eq(1), out_neuron.eq(neuron)]
            with m.Else():
                m.d.sync += out_valid.eq(0)

        ent = ent_rd.data
        pkt = self.packets.payload
        m.d.comb += [
            self.packets.valid.eq(out_valid),
            pkt.x.eq(ent.x), pkt.y.eq(ent.y), pkt.exit.eq(ent.exit),
            self.busy.eq(loading | (remaining != 0) | out_valid),
        ]
        with m.If(ent.exit):
            m.d.comb += [pkt.payload.source.x.eq(self._x), pkt.payload.source.y.eq(self._y),
                         pkt.payload.source.neuron.eq(out_neuron)]
        with m.Else():
            m.d.comb += [pkt.payload.event.axon.eq(ent.axon),
                         pkt.payload.event.delay.eq(ent.delay)]

        # --- configuration of the table ------------------------------------------------------
        m.d.comb += [
            ptr_wr.addr.eq(tbl.index), ptr_wr.data.eq(tbl.wdata),
            ptr_wr.en.eq(tbl.en & tbl.write & tbl.ptr),
            ent_wr.addr.eq(tbl.index), ent_wr.data.eq(tbl.wdata),
            ent_wr.en.eq(tbl.en & tbl.write & ~tbl.ptr),
        ]
        rd_ptr = Signal()
        m.d.sync += rd_ptr.eq(tbl.ptr)
        m.d.comb += tbl.rdata.eq(Mux(rd_ptr, ptr_rd.data.as_value(), ent_rd.data.as_value()))
        return m


def _tile_cfg_layout(mp, p):
    lay = layouts.mesh_cfg_layout(mp, p)
    return data.StructLayout({k: lay[k].shape for k in ("addr", "write", "data")})


class Tile(wiring.Component):
    """One core of the array with its fan-out unit and routing table.

    Members
    -------
    i_pkt : In(stream(spike_packet_layout))
        Packets for this core (from the router's local output). A packet not meant for this
        core (``exit`` set, or other coordinates: only a corrupt table can cause it) is taken,
        dropped and flagged on ``bad_packet``.
    o_pkt : Out(stream(spike_packet_layout))
        Packets from this core's spikes (to the router's local input).
    start : In(1)
        Compute the next step; registered here, so the core sees it one clock later. Give it
        only while ``idle`` has been high for 2 clocks and no command waits on ``cfg`` (a
        ``start`` while ``idle`` is low is ignored).
    idle, done, fanout_busy : Out(1)
        The core is idle (:class:`~spikefab.rtl.core.NeuronCore`) and no configuration command
        waits in this tile; the core's ``done`` pulse; the fan-out unit is busy. Each is
        registered: it describes the tile one clock earlier.
    injected, delivered : Out(1)
        A packet left on ``o_pkt`` / was taken from ``i_pkt`` one clock earlier (registered,
        with the same latency as ``fanout_busy``).
    cfg : In(stream(command)), cfg_rdata : Out(stream(data))
        The array's configuration commands for this core (``addr``, ``write``, ``data`` of
        :func:`~spikefab.rtl.layouts.mesh_cfg_layout`): core regions go to the core,
        ``ROUTE_PTR`` and ``ROUTE`` to the routing table. One read at a time. Both streams
        pass a :class:`~spikefab.rtl.skid_buffer.SkidBuffer` (one clock each way), so the
        array's command decode never reaches a core's memories in the same clock.
    bad_packet, bad_addr : Out(1)
        Sticky flags.
    trace : the core's trace port (when ``params.trace_port``).
    """

    def __init__(self, *, mesh, core_image, route, x, y):
        if not isinstance(core_image, CoreImage):
            raise ParamError(f"core_image must be a CoreImage, not {core_image!r}")
        _check_tile_args(mesh, core_image.params, route, x, y)
        self._mp, self._img, self._route = mesh, core_image, route
        self._x, self._y = x, y
        p = self._p = core_image.params
        pkt = layouts.spike_packet_layout(mesh, p)
        members = {
            "i_pkt": In(stream.Signature(pkt)),
            "o_pkt": Out(stream.Signature(pkt)),
            "start": In(1), "idle": Out(1), "done": Out(1),
            "fanout_busy": Out(1), "injected": Out(1), "delivered": Out(1),
            "cfg": In(stream.Signature(_tile_cfg_layout(mesh, p))),
            "cfg_rdata": Out(stream.Signature(unsigned(layouts.mesh_cfg_data_bits(mesh, p)))),
            "bad_packet": Out(1), "bad_addr": Out(1),
        }
        if p.trace_port:
            members["trace"] = Out(wiring.Signature({
                "valid": Out(1), "payload": Out(layouts.trace_layout(p))}))
        super().__init__(members)

    def elaborate(self, platform):
        m = Module()
        mp, p = self._mp, self._p
        m.submodules.core = core = NeuronCore(self._img)
        m.submodules.fanout = fan = FanOut(mesh=mp, params=p, route=self._route,
                                           x=self._x, y=self._y)

        # --- packets in: to the core's event input --------------------------------------------
        pk = self.i_pkt.payload
        good = ~pk.exit & (pk.x == self._x) & (pk.y == self._y)
        m.d.comb += [
            core.events.payload.eq(pk.payload.event),
            core.events.valid.eq(self.i_pkt.valid & good),
            self.i_pkt.ready.eq(Mux(good, core.events.ready, 1)),
        ]
        with m.If(self.i_pkt.valid & ~good):
            m.d.sync += self.bad_packet.eq(1)

        # --- spikes out: through the fan-out unit to the router ---------------------------------
        wiring.connect(m, core.spikes, fan.spikes)
        wiring.connect(m, fan.packets, wiring.flipped(self.o_pkt))

        # --- configuration commands in, read data out: a register stage each ------------------
        m.submodules.cfg_in = cfg_in = SkidBuffer(_tile_cfg_layout(mp, p))
        m.submodules.rdata_out = rd_out = SkidBuffer(self.cfg_rdata.payload.shape())
        wiring.connect(m, cfg_in.i, wiring.flipped(self.cfg))
        wiring.connect(m, rd_out.o, wiring.flipped(self.cfg_rdata))

        # --- step control and status: registered both ways (see docs/array.md) ----------------
        # ``start`` is taken only while this tile is idle (as the contract above requires and
        # the core checks again): the AND with the tile's own status makes this register this
        # tile's alone, so synthesis cannot merge the tiles' start registers into one whose
        # output would span the array
        start = Signal()
        m.d.sync += [
            start.eq(self.start & self.idle),
            self.injected.eq(self.o_pkt.valid & self.o_pkt.ready),
            self.delivered.eq(self.i_pkt.valid & self.i_pkt.ready),
            self.fanout_busy.eq(fan.busy),
            self.idle.eq(core.idle & cfg_in.empty),
            self.done.eq(core.done),
        ]
        m.d.comb += core.start.eq(start)
        if p.trace_port:
            m.d.comb += [self.trace.valid.eq(core.trace.valid),
                         self.trace.payload.eq(core.trace.payload)]

        # --- configuration -----------------------------------------------------------------------
        cmd = cfg_in.o.payload
        region, index = cmd.addr.region, cmd.addr.index
        core_bits = layouts.cfg_index_bits(p)
        is_table = (region == Region.ROUTE_PTR) | (region == Region.ROUTE)
        # a core-region index wider than the core's index field is out of range here
        core_fits = (index >> core_bits) == 0 if len(index) > core_bits else Const(1)
        table_depth = Mux(region == Region.ROUTE_PTR, p.neurons, mp.route_entries)
        table_ok = index < table_depth
        local_resp = Signal()           # this tile answers the read (table, or refused)
        local_data = Signal.like(rd_out.i.payload)
        rd_table = Signal()             # a table read's data arrives this clock

        to_core = ~is_table & core_fits
        m.d.comb += [
            core.cfg.payload.addr.index.eq(index),
            core.cfg.payload.addr.region.eq(region),
            core.cfg.payload.write.eq(cmd.write),
            core.cfg.payload.data.eq(cmd.data),
            core.cfg.valid.eq(cfg_in.o.valid & to_core),
        ]
        local_ready = ~local_resp & ~rd_table & ~fan.busy & ~core.spikes.valid
        m.d.comb += cfg_in.o.ready.eq(Mux(to_core, core.cfg.ready, local_ready))
        local_take = cfg_in.o.valid & ~to_core & local_ready
        m.d.comb += [
            fan.table.en.eq(local_take & is_table & table_ok),
            fan.table.write.eq(cmd.write),
            fan.table.ptr.eq(region == Region.ROUTE_PTR),
            fan.table.index.eq(index),
            fan.table.wdata.eq(cmd.data),
        ]
        with m.If(local_take & ~(is_table & table_ok)):
            m.d.sync += self.bad_addr.eq(1)
        with m.If(local_take & ~cmd.write):
            with m.If(is_table & table_ok):
                m.d.sync += rd_table.eq(1)
            with m.Else():
                m.d.sync += [local_resp.eq(1), local_data.eq(0)]
        with m.If(rd_table):
            m.d.sync += [rd_table.eq(0), local_resp.eq(1), local_data.eq(fan.table.rdata)]
        m.d.comb += [
            rd_out.i.valid.eq(core.cfg_rdata.valid | local_resp),
            rd_out.i.payload.eq(Mux(local_resp, local_data, core.cfg_rdata.payload)),
            core.cfg_rdata.ready.eq(rd_out.i.ready & ~local_resp),
        ]
        with m.If(local_resp & rd_out.i.ready):
            m.d.sync += local_resp.eq(0)
        return m


class Mesh(wiring.Component):
    """The array: ``width`` x ``height`` tiles on a mesh of XY routers, behind the host
    interface (:mod:`~spikefab.rtl.host`).

    The external AER ports sit at the west side of router (0, 0): ``EVENT`` commands enter
    its west input, and packets whose routing entry is an exit leave through its west output
    as ``SPIKE`` records.

    Host commands (see ``docs/host_interface.md``):

    * ``WRITE``/``READ``: every core's memories and registers and its routing table (regions
      of :func:`~spikefab.rtl.layouts.mesh_region_depths`), one read at a time;
    * ``EVENT``: an external spike to ``axon`` of core (x, y), integrated ``delay`` steps
      after the next step the array computes (the benches use ``delay = 0``);
    * ``STEP``: ``steps`` steps, each started when the last one's barrier is reached and its
      ``DONE`` record has entered the reply stream; ``SPIKE`` records ``(step, x, y,
      neuron)``, one per exit entry of a neuron that fired, all before the step's ``DONE``;
    * ``COUNTERS``: steps completed, clocks of the last step (start to barrier), packets
      injected (fan-out units and events) and delivered (to cores and to the reply stream)
      since reset, and the sticky status bits (:data:`~spikefab.rtl.host.STATUS_ROUTE`,
      :data:`~spikefab.rtl.host.STATUS_PACKET`, :data:`~spikefab.rtl.host.STATUS_COMMAND`).

    Commands other than ``COUNTERS`` are taken only while no step runs, waits to start or
    waits for its ``DONE`` record to leave: a ``STEP`` command's run ends before the next
    command takes effect. A refused command (unknown op, a core outside the mesh, an address
    past its region) gives one ``ERROR`` record and changes nothing.

    Parameters
    ----------
    image : NetworkImage
        Initial contents of every memory (cores and routing tables) and the parameters.
    tile : callable, optional
        Makes the tile of each position, called as :class:`Tile` is (``mesh``,
        ``core_image``, ``route``, ``x``, ``y`` as keywords); it must return a component of
        the signature of that :class:`Tile`. Default :class:`Tile`.
    router : callable, optional
        Makes the router of each position, called as :class:`~.router.XYRouter` is; it must
        return a component of that router's signature. Default :class:`~.router.XYRouter`.
        (The generator passes factories of instances of one tile module and one router
        module, see ``spikefab.gen.tiled``.)

    Members
    -------
    host : In(HostInterface.Signature(mesh, params))
    free_run : In(1), period : In(32)
        The free-running timer: while ``free_run`` is high, a step is requested every
        ``period`` clocks (measured from the previous step's start; a step longer than the
        period starts the next one at once). Each step gives its ``DONE`` record as if
        started by a ``STEP`` command; commands other than ``COUNTERS`` are taken between
        steps.
    trace_<x>_<y> : Out(trace signature)
        Each core's trace port (only with ``params.trace_port``).
    """

    def __init__(self, image: NetworkImage, *, tile=None, router=None):
        if not isinstance(image, NetworkImage):
            raise TypeError(f"image must be a NetworkImage, not {type(image).__name__}")
        self._image = image
        self._tile = Tile if tile is None else tile
        self._router = XYRouter if router is None else router
        mp, p = self._mp, self._p = image.mesh, image.params
        NeuronCore.check_params(p)
        if p.synapses != "digital":
            raise ParamError(f"synapses = {p.synapses!r} is not allowed in a mesh yet: the "
                             f"array's cores have no analog synapse port at its boundary; "
                             f"use synapses = 'digital' (or a single core)")
        members = {
            "host": In(HostInterface.Signature(mp, p)),
            "free_run": In(1), "period": In(32),
        }
        if p.trace_port:
            for y in range(mp.height):
                for x in range(mp.width):
                    members[f"trace_{x}_{y}"] = Out(wiring.Signature({
                        "valid": Out(1), "payload": Out(layouts.trace_layout(p))}))
        super().__init__(members)

    @property
    def image(self):
        return self._image

    def elaborate(self, platform):
        m = Module()
        mp, p, img = self._mp, self._p, self._image
        W, H = mp.width, mp.height
        payload = layouts.spike_payload_layout(mp, p)

        tiles, routers = {}, {}
        for y in range(H):
            for x in range(W):
                c = mp.core_index(x, y)
                t = tiles[x, y] = self._tile(mesh=mp, core_image=img.cores[c],
                                             route=img.routes[c], x=x, y=y)
                r = routers[x, y] = self._router(
                    x=x, y=y, width=W, height=H, payload_shape=payload,
                    fifo_depth=mp.fifo_depth, edge_port=Port.WEST if (x, y) == (0, 0) else None)
                m.submodules[f"tile_{x}_{y}"] = t
                m.submodules[f"router_{x}_{y}"] = r
                wiring.connect(m, t.o_pkt, r.i_local)
                wiring.connect(m, r.o_local, t.i_pkt)
                if p.trace_port:
                    m.d.comb += [getattr(self, f"trace_{x}_{y}").valid.eq(t.trace.valid),
                                 getattr(self, f"trace_{x}_{y}").payload.eq(t.trace.payload)]
        for y in range(H):
            for x in range(W):
                r = routers[x, y]
                if x + 1 < W:
                    wiring.connect(m, r.o_east, routers[x + 1, y].i_west)
                    wiring.connect(m, routers[x + 1, y].o_west, r.i_east)
                if y + 1 < H:
                    wiring.connect(m, r.o_north, routers[x, y + 1].i_south)
                    wiring.connect(m, routers[x, y + 1].o_south, r.i_north)
        tile_list = [tiles[mp.core_xy(c)] for c in range(mp.cores)]

        m.submodules.arbiter = arb = ReplyArbiter(layout=host_reply_layout(mp, p), sources=4)
        wiring.connect(m, arb.o, wiring.flipped(self.host.reply))
        # reply sources, by priority: 0 the DONE record, 1 spikes, 2 read data, 3 COUNTERS
        # or ERROR records
        ctl = _Control(m, mp, p, tile_list, routers, arb)
        self._barrier(m, mp, tile_list, routers, ctl)
        self._commands(m, mp, p, tile_list, ctl)
        return m

    def _barrier(self, m, mp, tile_list, routers, ctl):
        """The step barrier, the packet counters, the timer and the external ports.

        Pipelined so that no path crosses the array. Status, tiles to control: every tile
        registers its ``idle``, ``done``, ``fanout_busy``, ``injected``, ``delivered`` (stage
        1); each reduction over one row of tiles is registered (stage 2), then each reduction
        over the rows (stage 3); the packet counters add the stage-3 counts (stage 4), and the
        zero test of the in-flight count is registered with the count. The stages are aligned
        so that the barrier sees the same relation as without them: the fan-out units'
        idleness one clock after the cores' ``done``, and every packet those units injected
        already counted.

        Start, control to tiles: the launch condition is made of registers only; ``launch``
        is registered once (``launch_r``), then once per row (``start_row<y>``), then in each
        tile: every core starts 3 clocks after the launch, all in the same clock. A row's and
        a tile's register are gated with that row's or tile's registered ``idle`` (always high
        there: nothing reaches a tile between the launch condition and its start), so that no
        two of them compute the same function and synthesis keeps one register per row and
        per tile instead of merging them into one that spans the array.
        """
        edge = routers[0, 0]
        running, start_req, done_wait = ctl.running, ctl.start_req, ctl.done_wait
        done_seen = Signal(mp.cores)
        inflight = Signal(32)
        cycles = Signal(32)
        timer = Signal(32)

        # --- external ports ---------------------------------------------------------------------
        ei, spk = ctl.ext_in, ctl.arb.i[1]
        m.d.comb += [
            edge.i_west.payload.x.eq(ei.payload.x), edge.i_west.payload.y.eq(ei.payload.y),
            edge.i_west.payload.exit.eq(0),
            edge.i_west.payload.payload.event.eq(ei.payload.event),
            edge.i_west.valid.eq(ei.valid),
            ei.ready.eq(edge.i_west.ready),
        ]
        src = edge.o_west.payload.payload.source
        m.d.comb += [
            spk.valid.eq(edge.o_west.valid),
            spk.payload.kind.eq(Kind.SPIKE),
            spk.payload.body.spike.step.eq(ctl.step),
            spk.payload.body.spike.x.eq(src.x), spk.payload.body.spike.y.eq(src.y),
            spk.payload.body.spike.neuron.eq(src.neuron),
            edge.o_west.ready.eq(spk.ready),
        ]

        # --- stage 2: the tiles' registered status, reduced over each row and registered ------
        W, H = mp.width, mp.height
        rows = [[tile_list[mp.core_index(x, y)] for x in range(W)] for y in range(H)]
        ext_in_take, ext_out_take = Signal(), Signal()        # stage 1 of the edge port
        ext_in_2, ext_out_2 = Signal(), Signal()              # stage 2 of the edge port
        m.d.sync += [ext_in_take.eq(ei.valid & ei.ready), ext_out_take.eq(spk.valid & spk.ready),
                     ext_in_2.eq(ext_in_take), ext_out_2.eq(ext_out_take)]
        row_idle, row_busy = Signal(H), Signal(H)
        row_done, row_inj, row_del = [], [], []
        for y, row in enumerate(rows):
            done_y = Signal(W, name=f"done_row{y}")
            inj = _sum(m, [t.injected for t in row], f"n_injected_row{y}")
            dlv = _sum(m, [t.delivered for t in row], f"n_delivered_row{y}")
            inj_r = Signal.like(inj, name=f"n_injected_row{y}_r")
            del_r = Signal.like(dlv, name=f"n_delivered_row{y}_r")
            m.d.sync += [
                row_idle[y].eq(Cat(t.idle for t in row).all()),
                row_busy[y].eq(Cat(t.fanout_busy for t in row).any()),
                done_y.eq(Cat(t.done for t in row)),
                inj_r.eq(inj), del_r.eq(dlv),
            ]
            row_done.append(done_y)
            row_inj.append(inj_r)
            row_del.append(del_r)

        # --- stage 3: the rows' reductions, reduced and registered --------------------------------
        all_idle, fanouts_idle = Signal(), Signal()
        done_any = Signal(mp.cores)       # one stage more: done leads fanout_busy by one clock
        n_inj = _sum(m, row_inj + [ext_in_2], "n_injected")
        n_del = _sum(m, row_del + [ext_out_2], "n_delivered")
        n_inj_r = Signal.like(n_inj, name="n_injected_r")
        n_del_r = Signal.like(n_del, name="n_delivered_r")
        m.d.sync += [
            all_idle.eq(row_idle.all()),
            fanouts_idle.eq(~row_busy.any()),
            done_any.eq(Cat(row_done)),
            n_inj_r.eq(n_inj), n_del_r.eq(n_del),
        ]

        # --- stage 4: packet accounting; the zero test registered with the count -----------------
        inflight_next = Signal(32)
        inflight_zero = Signal(init=1)    # ``inflight == 0``, as a register
        m.d.comb += inflight_next.eq(inflight + n_inj_r - n_del_r)
        m.d.sync += [
            inflight.eq(inflight_next),
            inflight_zero.eq(inflight_next == 0),
            ctl.packets_in.eq(ctl.packets_in + n_inj_r),
            ctl.packets_out.eq(ctl.packets_out + n_del_r),
        ]

        # --- step control -----------------------------------------------------------------------
        with m.If(timer != (1 << 32) - 1):
            m.d.sync += timer.eq(timer + 1)
        # the request is registered and the launch follows it: asking 2 clocks ahead puts
        # launches exactly ``period`` clocks apart
        with m.If(~start_req):
            with m.If(self.free_run & (timer + 2 >= self.period)):
                m.d.sync += start_req.eq(1)
            with m.Elif(ctl.remaining != 0):
                m.d.sync += [start_req.eq(1), ctl.remaining.eq(ctl.remaining - 1)]
        # ``settle`` covers the pipeline's latency after a command that reaches the tiles: the
        # stage-3 ``all_idle`` and the stage-4 ``inflight`` see a configuration command or an
        # EVENT 4 clocks after it is taken
        launch = Signal()
        m.d.comb += launch.eq(start_req & ~running & ~done_wait & all_idle & inflight_zero
                              & ~ctl.cfg_busy & (ctl.settle == 0))
        # the start's way to the tiles: a register here, one per row, one in each tile
        launch_r = Signal()
        m.d.sync += launch_r.eq(launch)
        for y, row in enumerate(rows):
            start_row = Signal(name=f"start_row{y}")
            m.d.sync += start_row.eq(launch_r & row_idle[y])
            for t in row:
                m.d.comb += t.start.eq(start_row)
        with m.If(launch):
            m.d.sync += [start_req.eq(0), running.eq(1), done_seen.eq(0), cycles.eq(0),
                         timer.eq(0)]
        done = ctl.arb.i[0]
        m.d.comb += [done.valid.eq(done_wait), done.payload.kind.eq(Kind.DONE),
                     done.payload.body.counters.eq(ctl.counters)]
        with m.If(done.valid & done.ready):
            m.d.sync += done_wait.eq(0)
        with m.If(running):
            m.d.sync += [cycles.eq(cycles + 1), done_seen.eq(done_seen | done_any)]
            with m.If(done_seen.all() & fanouts_idle & inflight_zero):
                m.d.sync += [running.eq(0), ctl.step.eq(ctl.step + 1),
                             ctl.last_cycles.eq(cycles + 1), done_wait.eq(1)]

        m.d.sync += ctl.status.eq(Cat(
            Cat(r.bad_dest for r in routers.values()).any(),
            Cat(t.bad_packet for t in tile_list).any(),
            ctl.bad_cmd | Cat(t.bad_addr for t in tile_list).any()))

    def _commands(self, m, mp, p, tile_list, ctl):
        """The command decoder and the configuration path to the tiles.

        Commands pass a :class:`~spikefab.rtl.skid_buffer.SkidBuffer` (one clock), which also
        holds their decode (the error code and the target tile, one bit per tile), so the
        decode of a command is done before it is acted on.
        """
        W, H = mp.width, mp.height
        host_cmd = self.host.cmd
        dec_layout = data.StructLayout({
            "cmd": host_command_layout(mp, p), "error": unsigned(ERROR_BITS),
            "sel": unsigned(mp.cores)})
        m.submodules.cmd_in = cmd_in = SkidBuffer(dec_layout)
        hc = host_cmd.payload
        h_inside = (hc.core.x < W) & (hc.core.y < H)
        h_is_cfg = (hc.op == Op.WRITE) | (hc.op == Op.READ)
        h_addr_ok = address_ok(hc.arg.cfg.addr.region, hc.arg.cfg.addr.index,
                               host_region_depths(mp, p))
        h_error = cmd_in.i.payload.error
        with m.If(hc.op > max(Op)):
            m.d.comb += h_error.eq(Error.UNKNOWN_OP)
        with m.Elif((h_is_cfg | (hc.op == Op.EVENT)) & ~h_inside):
            m.d.comb += h_error.eq(Error.BAD_CORE)
        with m.Elif(h_is_cfg & ~h_addr_ok):
            m.d.comb += h_error.eq(Error.BAD_ADDRESS)
        m.d.comb += [
            cmd_in.i.payload.cmd.eq(hc),
            cmd_in.i.payload.sel.eq(Cat((hc.core.x == x) & (hc.core.y == y)
                                        for x, y in map(mp.core_xy, range(mp.cores)))),
            cmd_in.i.valid.eq(host_cmd.valid),
            host_cmd.ready.eq(cmd_in.i.ready),
        ]

        cmd = cmd_in.o
        op, core, arg = cmd.payload.cmd.op, cmd.payload.cmd.core, cmd.payload.cmd.arg
        error, sel = cmd.payload.error, cmd.payload.sel
        is_cfg = (op == Op.WRITE) | (op == Op.READ)

        rd_busy = Signal()               # a read was sent; its answer has not left yet
        rd_sel = Signal(mp.cores)        # the tile it was sent to
        m.d.comb += ctl.cfg_busy.eq(rd_busy)
        idle = ~ctl.running & ~ctl.start_req & ~ctl.done_wait & (ctl.remaining == 0)
        rec = ctl.arb.i[3]
        open_ = idle & ~rd_busy & ~rec.valid     # commands other than COUNTERS may be taken
        tile_ready = Signal()
        cfg_go = open_ & (error == 0) & is_cfg
        for c, t in enumerate(tile_list):
            m.d.comb += [
                t.cfg.payload.addr.eq(arg.cfg.addr), t.cfg.payload.write.eq(op == Op.WRITE),
                t.cfg.payload.data.eq(arg.cfg.data),
                t.cfg.valid.eq(cmd.valid & cfg_go & sel[c]),
            ]
        m.d.comb += tile_ready.eq((sel & Cat(t.cfg.ready for t in tile_list)).any())
        ei = ctl.ext_in
        m.d.comb += [ei.payload.x.eq(core.x), ei.payload.y.eq(core.y),
                     ei.payload.event.eq(arg.event)]
        with m.If(error != 0):
            m.d.comb += cmd.ready.eq(open_)
        with m.Elif(is_cfg):
            m.d.comb += cmd.ready.eq(cfg_go & tile_ready)
        with m.Elif(op == Op.EVENT):
            m.d.comb += [ei.valid.eq(cmd.valid & open_), cmd.ready.eq(open_ & ei.ready)]
        with m.Elif(op == Op.STEP):
            m.d.comb += cmd.ready.eq(open_)
            with m.If(cmd.valid & open_):
                m.d.sync += ctl.remaining.eq(arg.run.steps)
        with m.Else():                                  # COUNTERS
            m.d.comb += cmd.ready.eq(~rec.valid)
        take = cmd.valid & cmd.ready
        # a command reaching the tiles holds the next launch for the pipeline's latency
        with m.If(take & (error == 0) & (is_cfg | (op == Op.EVENT))):
            m.d.sync += ctl.settle.eq(SETTLE_CLOCKS)
        with m.Elif(ctl.settle != 0):
            m.d.sync += ctl.settle.eq(ctl.settle - 1)

        # one record at a time: COUNTERS (live counters) or ERROR
        rec_error = Signal()
        err_code, err_op = Signal(ERROR_BITS), Signal(OP_BITS)
        with m.If(take & ((error != 0) | (op == Op.COUNTERS))):
            m.d.sync += [rec.valid.eq(1), rec_error.eq(error != 0), err_code.eq(error),
                         err_op.eq(op)]
        with m.If(take & (error != 0)):
            m.d.sync += ctl.bad_cmd.eq(1)
        with m.If(rec.valid & rec.ready):
            m.d.sync += rec.valid.eq(0)
        with m.If(rec_error):
            m.d.comb += [rec.payload.kind.eq(Kind.ERROR), rec.payload.body.error.code.eq(err_code),
                         rec.payload.body.error.op.eq(err_op)]
        with m.Else():
            m.d.comb += [rec.payload.kind.eq(Kind.COUNTERS),
                         rec.payload.body.counters.eq(ctl.counters)]

        # read data
        with m.If(take & is_cfg & (error == 0) & (op == Op.READ)):
            m.d.sync += [rd_busy.eq(1), rd_sel.eq(sel)]
        rd = ctl.arb.i[2]
        m.d.comb += rd.payload.kind.eq(Kind.DATA)
        for c, t in enumerate(tile_list):
            active = rd_busy & rd_sel[c]
            m.d.comb += t.cfg_rdata.ready.eq(active & rd.ready)
            with m.If(active):
                m.d.comb += [rd.valid.eq(t.cfg_rdata.valid),
                             rd.payload.body.data.eq(t.cfg_rdata.payload)]
        with m.If(rd.valid & rd.ready):
            m.d.sync += rd_busy.eq(0)


#: Clocks a launch waits after a command that reaches the tiles (configuration, EVENT): the
#: latency of the tile and mesh status registers (see :meth:`Mesh._barrier`).
SETTLE_CLOCKS = 4


class _Control:
    """The registers shared by the parts of :class:`Mesh`'s elaboration."""

    def __init__(self, m, mp, p, tile_list, routers, arb):
        self.arb = arb
        self.running = Signal()
        self.start_req = Signal()
        self.done_wait = Signal()           # the DONE record waits to enter the reply stream
        self.cfg_busy = Signal()
        self.settle = Signal(range(SETTLE_CLOCKS + 1))  # clocks until a launch may follow
        self.remaining = Signal(RUN_BITS)   # steps of a STEP command not yet requested
        self.step = Signal(STEP_BITS)
        self.last_cycles = Signal(32)
        self.packets_in = Signal(32)
        self.packets_out = Signal(32)
        self.status = Signal(STATUS_BITS)
        self.bad_cmd = Signal()
        self.ext_in = stream.Signature(layouts.ext_in_layout(mp, p)).flip().create()
        self.counters = Signal(counters_layout())
        m.d.comb += [self.counters.step.eq(self.step),
                     self.counters.cycles.eq(self.last_cycles),
                     self.counters.packets_in.eq(self.packets_in),
                     self.counters.packets_out.eq(self.packets_out),
                     self.counters.status.eq(self.status)]


def _sum(m, values, name):
    """A signal holding the sum of ``values`` (unsigned: single bits, or counts): a balanced
    adder tree (depth log2 of the count), so the expression stays shallow for any mesh size."""
    terms = [v.as_unsigned() if hasattr(v, "as_unsigned") else v for v in values]
    total = Signal(range(sum((1 << len(t)) - 1 for t in terms) + 1), name=name)
    while len(terms) > 1:
        pairs = [terms[k] + terms[k + 1] for k in range(0, len(terms) - 1, 2)]
        terms = pairs + ([terms[-1]] if len(terms) % 2 else [])
    m.d.comb += total.eq(terms[0])
    return total
