"""The host interface: one command stream in, one reply stream out, for a core and an array.

Every top-level design (a bare core through :class:`~spikefab.rtl.core_host.CoreHost`, an
array through :class:`~spikefab.rtl.mesh.Mesh`) presents the same :class:`HostInterface`;
a bare core is addressed as the one core of a 1 x 1 array (:func:`core_mesh`), so both use
the same format family: :func:`host_command_layout` and :func:`host_reply_layout`, functions
of ``(MeshParams, CoreParams)`` like every layout of :mod:`.layouts`. A transport (the cocotb
bench, later a UART link) only moves these words; ``firmware/`` encodes and decodes them.

Commands (:class:`Op`), each one word:

* ``WRITE`` core (x, y), ``arg.cfg`` (addr region and index, data): write one word.
* ``READ`` core (x, y), ``arg.cfg.addr``: read one word; one ``DATA`` reply.
* ``EVENT`` core (x, y), ``arg.event`` (axon, delay): an input spike for that core,
  integrated ``delay`` steps after the next step computed.
* ``STEP`` ``arg.run.steps``: compute that many steps (0: none); one ``DONE`` reply per step.
* ``COUNTERS``: one ``COUNTERS`` reply (the same record as ``DONE``).

Replies (:class:`Kind`): ``DATA`` (``body.data``), ``SPIKE`` (``body.spike``: step, core x/y,
neuron), ``DONE`` and ``COUNTERS`` (``body.counters``: steps completed, clocks of the last
step, packets in/out, status), ``ERROR`` (``body.error``: code and op of a refused command).

Ordering: commands take effect in order; replies come in command order, except that the
spikes of a step come between the ``STEP`` command and that step's ``DONE`` record; every
spike of step t precedes the ``DONE`` record of step t, which precedes every spike of step
t + 1. A command after a ``STEP`` waits until that run's last ``DONE`` record has left,
except ``COUNTERS``. A refused command (:class:`Error`) changes nothing, gives exactly one
``ERROR`` record in place of any reply it would have given, and sets status bit
:data:`STATUS_COMMAND`. See ``docs/host_interface.md``.
"""

import enum

from amaranth.hdl import Const, Mux, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from . import layouts
from .layouts import REGION_BITS, Region
from .params import CoreParams, MeshParams, STEP_BITS


__all__ = ["Op", "Kind", "Error", "OP_BITS", "KIND_BITS", "ERROR_BITS", "RUN_BITS",
           "STATUS_BITS", "STATUS_ROUTE", "STATUS_PACKET", "STATUS_COMMAND", "COUNTER_BITS",
           "core_mesh", "host_region_depths", "host_command_layout", "counters_layout",
           "host_reply_layout", "HostInterface", "address_ok"]


class Op(enum.IntEnum):
    """Command operations (:func:`host_command_layout` ``op``)."""
    WRITE = 0
    READ = 1
    EVENT = 2
    STEP = 3
    COUNTERS = 4


class Kind(enum.IntEnum):
    """Reply kinds (:func:`host_reply_layout` ``kind``)."""
    DATA = 0
    SPIKE = 1
    DONE = 2
    COUNTERS = 3
    ERROR = 4


class Error(enum.IntEnum):
    """Codes of an ``ERROR`` reply."""
    UNKNOWN_OP = 1      #: ``op`` is not an :class:`Op`
    BAD_CORE = 2        #: ``WRITE``/``READ``/``EVENT`` for a core outside the array
    BAD_ADDRESS = 3     #: ``WRITE``/``READ`` of a region absent here or an index past its end


OP_BITS = 3
KIND_BITS = 3
ERROR_BITS = 2
#: Width of ``arg.run.steps`` of a ``STEP`` command.
RUN_BITS = 16
#: Width of every counter of :func:`counters_layout` except ``status``.
COUNTER_BITS = 32

#: Status bits (``counters.status``), sticky since reset.
STATUS_ROUTE = 0        #: a router saw a destination outside the mesh
STATUS_PACKET = 1       #: a tile got a packet that was not for its core (dropped)
STATUS_COMMAND = 2      #: a command was refused (an ``ERROR`` record was sent)
STATUS_BITS = 3


def core_mesh(p: CoreParams):
    """The :class:`MeshParams` whose formats a bare core uses: a 1 x 1 array (with a one-entry
    routing table that the bare core does not have: its routing regions are refused)."""
    return MeshParams(width=1, height=1, route_entries=1)


def host_region_depths(mp: MeshParams, p: CoreParams, *, routing=True):
    """Words of each :class:`~.layouts.Region` reachable through the host interface: an
    array's (``routing``) or a bare core's (no routing table)."""
    return layouts.mesh_region_depths(mp, p) if routing else layouts.region_depths(p)


def host_command_layout(mp: MeshParams, p: CoreParams):
    """One host command: ``op`` (:class:`Op`), ``core`` (x, y) and ``arg``, a union of
    ``cfg`` (``addr`` region/index and ``data``), ``event`` (:func:`~.layouts.axon_event_layout`)
    and ``run`` (``steps``)."""
    return data.StructLayout({
        "op": unsigned(OP_BITS),
        "core": data.StructLayout({"x": unsigned(mp.x_bits), "y": unsigned(mp.y_bits)}),
        "arg": data.UnionLayout({
            "cfg": data.StructLayout({
                "addr": data.StructLayout({
                    "index": unsigned(layouts.mesh_cfg_index_bits(mp, p)),
                    "region": unsigned(REGION_BITS),
                }),
                "data": unsigned(layouts.mesh_cfg_data_bits(mp, p)),
            }),
            "event": layouts.axon_event_layout(p),
            "run": data.StructLayout({"steps": unsigned(RUN_BITS)}),
        }),
    })


def counters_layout():
    """Body of ``DONE`` and ``COUNTERS`` replies: ``step`` (steps completed since reset),
    ``cycles`` (clocks of the last step, from its start to its end), ``packets_in`` and
    ``packets_out`` (an array: packets injected and delivered since reset, equal whenever it
    is idle; a bare core: input events taken and spikes sent since reset), ``status``
    (sticky bits :data:`STATUS_ROUTE`, :data:`STATUS_PACKET`, :data:`STATUS_COMMAND`)."""
    return data.StructLayout({
        "step": unsigned(STEP_BITS),
        "cycles": unsigned(COUNTER_BITS),
        "packets_in": unsigned(COUNTER_BITS),
        "packets_out": unsigned(COUNTER_BITS),
        "status": unsigned(STATUS_BITS),
    })


def host_reply_layout(mp: MeshParams, p: CoreParams):
    """One reply: ``kind`` (:class:`Kind`) and ``body``, a union of ``data`` (a read word),
    ``spike`` (:func:`~.layouts.ext_out_layout`: step, x, y, neuron), ``counters``
    (:func:`counters_layout`) and ``error`` (``code``, ``op``)."""
    return data.StructLayout({
        "kind": unsigned(KIND_BITS),
        "body": data.UnionLayout({
            "data": unsigned(layouts.mesh_cfg_data_bits(mp, p)),
            "spike": layouts.ext_out_layout(mp, p),
            "counters": counters_layout(),
            "error": data.StructLayout({"code": unsigned(ERROR_BITS),
                                        "op": unsigned(OP_BITS)}),
        }),
    })


class HostInterface(wiring.PureInterface):
    """The host's link to a design: ``cmd`` (commands, host to design) and ``reply`` (replies,
    design to host), both :mod:`amaranth.lib.stream` streams.

    Defined from the host's side: the host drives ``cmd`` and takes ``reply``. A design
    presents ``host: In(HostInterface.Signature(mesh, params))``.
    """

    class Signature(wiring.Signature):
        """Signature of :class:`HostInterface` for an array ``mesh`` of cores ``params`` (a bare
        core: ``core_mesh(params)``)."""

        def __init__(self, mesh: MeshParams, params: CoreParams):
            self._mesh, self._params = mesh, params
            super().__init__({
                "cmd": Out(stream.Signature(host_command_layout(mesh, params))),
                "reply": In(stream.Signature(host_reply_layout(mesh, params))),
            })

        mesh = property(lambda self: self._mesh)
        params = property(lambda self: self._params)

        def __eq__(self, other):
            return (type(other) is type(self) and other._mesh == self._mesh
                    and other._params == self._params)

        def __hash__(self):
            return hash((self._mesh, self._params))

        def create(self, *, path=None, src_loc_at=0):
            return HostInterface(self, path=path, src_loc_at=1 + src_loc_at)


def address_ok(region, index, depths):
    """An Amaranth expression: ``index`` is inside ``region``, which has ``depths[region]``
    words here (absent regions and unknown region values: false)."""
    ok = Const(0)
    for r, depth in depths.items():
        if depth:
            ok = Mux(region == int(r), index < depth, ok)
    return ok
