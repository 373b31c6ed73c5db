"""The host interface's formats and the firmware's sans-IO codec (no simulator): nested
layouts pack and unpack by dotted keys, commands encode into the layouts' fields, replies
decode, and bad addresses are refused before anything is sent."""

import pytest

from spikefab.firmware.protocol import Counters, Data, ErrorReply, HostCodec, Spike
from spikefab.rtl import layouts
from spikefab.rtl.host import (Error, Kind, Op, core_mesh, host_command_layout,
                               host_reply_layout)
from spikefab.rtl.image import CoreImage
from spikefab.rtl.layouts import Reg, Region
from spikefab.rtl.netimage import NetworkImage
from spikefab.rtl.params import CoreParams, MeshParams

P = CoreParams(neurons=8, axons=6, lanes=4)
MP = MeshParams(width=3, height=2, route_entries=16)


def test_nested_layouts_pack_by_dotted_keys_and_nested_dicts():
    lay = layouts.mesh_cfg_layout(MP, P)
    a = layouts.pack(lay, {"core": {"x": 2, "y": 1}, "addr.region": Region.ROUTE,
                           "addr.index": 5, "write": 1, "data": 77})
    b = layouts.pack(lay, {"core.x": 2, "core.y": 1,
                           "addr": {"region": Region.ROUTE, "index": 5}, "write": 1, "data": 77})
    ib = layouts.mesh_cfg_index_bits(MP, P)
    whole = layouts.pack(lay, {"core": 2 | (1 << MP.x_bits), "addr": 5 | (Region.ROUTE << ib),
                               "write": 1, "data": 77})
    assert a == b == whole
    got = layouts.word_decoder(lay)(a[0])
    assert got == {"core.x": 2, "core.y": 1, "addr.index": 5, "addr.region": Region.ROUTE,
                   "write": 1, "data": 77}
    un = layouts.unpack(lay, a)
    assert (un["core.x"][0], un["addr.region"][0]) == (2, Region.ROUTE)
    with pytest.raises(KeyError, match="'write'"):
        layouts.pack(lay, {"core": {"x": 0, "y": 0}, "addr": 0, "data": 0})
    with pytest.raises(ValueError, match="'core.x' holds a value outside 0..3"):
        layouts.pack(lay, {"core": {"x": 4, "y": 0}, "addr": 0, "write": 0, "data": 0})


def test_commands_encode_through_the_layout():
    codec = HostCodec(MP, P)
    lay = host_command_layout(MP, P)
    dec = layouts.word_decoder(lay)
    w = dec(codec.write(4, Region.ROUTE, 3, 0x1234))
    assert (w["op"], w["core.x"], w["core.y"]) == (Op.WRITE, 1, 1)
    assert (w["arg.cfg.addr.region"], w["arg.cfg.addr.index"], w["arg.cfg.data"]) == \
        (Region.ROUTE, 3, 0x1234)
    words = codec.events([(5, 2), (0, 4)], delay=0)
    assert [(dec(x)["op"], dec(x)["core.x"], dec(x)["core.y"], dec(x)["arg.event.axon"])
            for x in words] == [(Op.EVENT, 2, 1, 2), (Op.EVENT, 0, 0, 4)]
    assert dec(codec.step(7))["arg.run.steps"] == 7 and dec(codec.step(7))["op"] == Op.STEP
    assert dec(codec.counters())["op"] == Op.COUNTERS
    reads = codec.reads(1, Region.STATE, range(3))
    assert [dec(x)["arg.cfg.addr.index"] for x in reads] == [0, 1, 2]


def test_bad_addresses_are_refused_before_sending():
    arr = HostCodec(MP, P)
    core = HostCodec.for_image(CoreImage(P))
    assert core.mesh == core_mesh(P) and not core.routing
    with pytest.raises(IndexError, match=r"^index 8 is out of range for region STATE: "
                                         r"allowed 0\.\.7$"):
        arr.read(0, Region.STATE, 8)
    with pytest.raises(IndexError, match="region ROUTE: absent here"):
        core.read(0, Region.ROUTE, 0)
    with pytest.raises(IndexError, match=r"^core 6 is out of range: allowed 0\.\.5$"):
        arr.write(6, Region.REG, Reg.W_EXP, 1)
    with pytest.raises(IndexError, match="core 1 is out of range"):
        core.events([(1, 0)])
    assert HostCodec.for_image(NetworkImage(mesh=MP, cores=[CoreImage(P)] * 6)).routing


def test_replies_decode():
    codec = HostCodec(MP, P)
    lay = host_reply_layout(MP, P)
    assert codec.decode(layouts.pack(lay, {"kind": Kind.DATA, "body.data": 99})[0]) == Data(99)
    spike = layouts.pack(lay, {"kind": Kind.SPIKE, "body.spike": {"step": 12, "x": 2, "y": 1,
                                                                  "neuron": 7}})[0]
    assert codec.decode(spike) == Spike(12, 2, 1, 7)
    cnt = {"step": 3, "cycles": 40, "packets_in": 9, "packets_out": 9, "status": 4}
    done = layouts.pack(lay, {"kind": Kind.DONE, "body.counters": cnt})[0]
    assert codec.decode(done) == Counters(**cnt, done=True)
    now = layouts.pack(lay, {"kind": Kind.COUNTERS, "body.counters": cnt})[0]
    assert codec.decode(now) == Counters(**cnt, done=False)
    err = layouts.pack(lay, {"kind": Kind.ERROR, "body.error": {"code": Error.BAD_CORE,
                                                                "op": Op.READ}})[0]
    assert codec.decode(err) == ErrorReply(Error.BAD_CORE, Op.READ)
