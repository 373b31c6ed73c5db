"""The host link's Python reference (firmware/link.py): known answers, the vector file, and
property-based fuzzing of the streaming decoder (more than 10,000 cases)."""

import re
import sys

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from spikefab.firmware import link_vectors
from spikefab.firmware.link import (
    CobsError, Frame, FrameDecoder, FrameError, build_frame, cobs_decode, cobs_encode, crc16,
    encode_frame, error_frame, parse_frame, reply_to,
)
from spikefab.rtl.link_protocol import CMD_ERROR, CRC, LinkError, OVERHEAD_BYTES


VECTORS = link_vectors.load_vectors()
MAXP = VECTORS["max_payload"]
COMMANDS = tuple(VECTORS["commands"])


def test_crc_is_ibm_3740():
    assert crc16(b"123456789") == CRC.check == 0x29B1
    assert CRC.name == "CRC-16/IBM-3740"
    # the same register value from a bit-by-bit MSB-first computation, written plainly
    reg = 0xFFFF
    for byte in b"123456789":
        for i in range(7, -1, -1):
            top = (reg >> 15) ^ ((byte >> i) & 1)
            reg = ((reg << 1) & 0xFFFF) ^ (0x1021 if top else 0)
    assert reg == 0x29B1
    frame = build_frame(1, 2, b"xyz")
    assert crc16(frame) == CRC.residue == 0


def test_amaranth_crc_agrees():
    from amaranth.lib import crc as acrc
    from spikefab.rtl.crc_append import link_crc_parameters
    params = link_crc_parameters()
    assert params.compute(b"123456789") == CRC.check
    assert params.residue() == CRC.residue
    assert acrc.catalog.CRC16_IBM_3740(8).compute(b"123456789") == CRC.check
    # Amaranth's "CRC16_CCITT" is a different (reflected, KERMIT) variant
    assert acrc.catalog.CRC16_CCITT(8).compute(b"123456789") != CRC.check


def test_link_module_needs_no_amaranth():
    code = ("import sys; import spikefab.firmware.link, spikefab.firmware.link_vectors; "
            "bad = [m for m in sys.modules if m.split('.')[0] in ('amaranth', 'cocotb')]; "
            "assert not bad, bad")
    import subprocess
    subprocess.run([sys.executable, "-c", code], check=True)


def test_vector_file_is_up_to_date():
    assert link_vectors.dumps(link_vectors.make_vectors()) == \
        link_vectors.VECTORS_PATH.read_text(), \
        "regenerate with: python -m spikefab.firmware.link_vectors"


def test_vectors_cover_every_link_error():
    codes = {e["code"] for s in VECTORS["streams"] for e in s["events"] if "code" in e}
    assert codes == {LinkError.BAD_CRC, LinkError.BAD_LENGTH, LinkError.CUT_SHORT,
                     LinkError.OVERSIZE, LinkError.UNKNOWN_COMMAND}
    assert any(e["kind"] == "frame" for s in VECTORS["streams"] for e in s["events"])


@pytest.mark.parametrize("case", VECTORS["cobs"], ids=lambda c: f"{len(c['data']) // 2}B")
def test_cobs_vectors(case):
    data, enc = bytes.fromhex(case["data"]), bytes.fromhex(case["encoded"])
    assert cobs_encode(data) == enc
    assert cobs_decode(enc) == data
    assert 0 not in enc


def test_cobs_known_answers():
    # the examples of Cheshire and Baker's paper, as listed on Wikipedia
    assert cobs_encode(b"\x11\x22\x00\x33") == b"\x03\x11\x22\x02\x33"
    assert cobs_encode(b"\x00\x00") == b"\x01\x01\x01"
    assert cobs_encode(bytes(range(1, 255))) == b"\xff" + bytes(range(1, 255))
    assert cobs_encode(bytes(range(1, 256))) == b"\xff" + bytes(range(1, 255)) + b"\x02\xff"
    with pytest.raises(CobsError):
        cobs_decode(b"\x05\x11")
    with pytest.raises(CobsError):
        cobs_decode(b"\x03\x11\x00")


def test_crc_and_frame_vectors():
    for case in VECTORS["crc"]:
        assert crc16(bytes.fromhex(case["data"])) == case["crc"]
    for case in VECTORS["frames"]:
        payload = bytes.fromhex(case["payload"])
        assert build_frame(case["seq"], case["cmd"], payload).hex() == case["frame"]
        assert encode_frame(case["seq"], case["cmd"], payload).hex() == case["wire"]
        assert parse_frame(bytes.fromhex(case["frame"]), max_payload=len(payload) or 1) == \
            Frame(case["seq"], case["cmd"], payload)


@pytest.mark.parametrize("case", VECTORS["streams"], ids=lambda c: c["name"])
def test_stream_vectors(case):
    dec = FrameDecoder(max_payload=MAXP, commands=COMMANDS)
    events = dec.feed(bytes.fromhex(case["wire"]))
    expected = [Frame(e["seq"], e["cmd"], bytes.fromhex(e["payload"])) if e["kind"] == "frame"
                else FrameError(LinkError(e["code"]), e["seq"], e["cmd"])
                for e in case["events"]]
    assert events == expected
    assert b"".join(reply_to(e) for e in events).hex() == case["replies"]


def test_error_reply_format():
    assert error_frame(LinkError.BAD_CRC, 7, 3) == encode_frame(7, CMD_ERROR, b"\x01\x03")
    # CMD_ERROR is not a request command: a receiver with the default commands refuses it
    assert FrameDecoder().feed(error_frame(LinkError.OVERSIZE, 1, 2)) == \
        [FrameError(LinkError.UNKNOWN_COMMAND, 1, CMD_ERROR)]
    assert FrameDecoder(commands=[CMD_ERROR]).feed(error_frame(LinkError.OVERSIZE, 1, 2)) == \
        [Frame(1, CMD_ERROR, bytes([LinkError.OVERSIZE, 2]))]


def test_decoder_parameters_checked():
    with pytest.raises(ValueError, match=re.escape("max_payload must be an integer in "
                                                   "1..65535, not 0")):
        FrameDecoder(max_payload=0)
    with pytest.raises(ValueError, match="payload of 65536 bytes is too long"):
        build_frame(0, 0, bytes(65536))


# --- fuzzing --------------------------------------------------------------------------------

payloads = st.binary(max_size=MAXP + 4)
frames = st.tuples(st.integers(0, 255), st.sampled_from(COMMANDS + (0x00, 0x40, CMD_ERROR)),
                   payloads)
# a spoilt frame: the corruption is chosen by a seeded generator inside the test
spoils = st.tuples(frames, st.integers(0, 2**32 - 1))
noise = st.binary(max_size=12)


def _reference_events(frame_tuples):
    """What each frame alone decodes to (judged without the decoder's streaming)."""
    return [parse_frame(build_frame(*f), max_payload=MAXP, commands=COMMANDS)
            for f in frame_tuples]


FAST = settings(max_examples=2500, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.too_slow])


@FAST
@given(st.lists(frames, max_size=6))
def test_fuzz_good_frames_roundtrip(frame_tuples):
    """Good frames back to back come out as judged one by one, in order."""
    wire = b"".join(encode_frame(*f) for f in frame_tuples)
    assert FrameDecoder(max_payload=MAXP, commands=COMMANDS).feed(wire) == \
        _reference_events(frame_tuples)


@FAST
@given(st.lists(st.tuples(noise, spoils), max_size=5), frames)
def test_fuzz_recovers_after_garbage(spoilt, final):
    """Noise and spoilt frames, then a delimiter and a good frame: every frame before gets
    exactly one event, the decoder never raises, and the good frame is received intact."""
    import random
    wire = bytearray()
    for junk, (f, seed) in spoilt:
        wire += junk + link_vectors.corrupt(random.Random(seed), encode_frame(*f))
    dec = FrameDecoder(max_payload=MAXP, commands=COMMANDS)
    before = dec.feed(bytes(wire) + b"\x00")
    assert len(before) <= wire.count(0) + 1
    for ev in before:
        if isinstance(ev, FrameError):
            assert ev.code in (LinkError.BAD_CRC, LinkError.BAD_LENGTH, LinkError.CUT_SHORT,
                               LinkError.OVERSIZE, LinkError.UNKNOWN_COMMAND)
    assert dec.feed(encode_frame(*final)) == _reference_events([final])


@FAST
@given(st.binary(max_size=200))
def test_fuzz_noise_never_breaks_the_decoder(junk):
    """Any bytes at all: one event per non-empty delimited frame, each error the one
    ``parse_frame`` gives for the frame's COBS decoding, and a good frame after them."""
    dec = FrameDecoder(max_payload=MAXP, commands=COMMANDS)
    events = dec.feed(junk + b"\x00")
    pieces = [p for p in (junk + b"\x00").split(b"\x00")[:-1] if p]
    assert len(events) == len(pieces)
    for piece, ev in zip(pieces, events):
        try:
            decoded = cobs_decode(piece)
        except CobsError:
            decoded = None
        if decoded is not None:
            assert ev == parse_frame(decoded, max_payload=MAXP, commands=COMMANDS)
        else:
            assert isinstance(ev, FrameError) and ev.code in (LinkError.CUT_SHORT, LinkError.OVERSIZE), (piece, ev)
    good = (3, COMMANDS[0], b"ok")
    assert dec.feed(encode_frame(*good)) == [Frame(*good)]


@FAST
@given(frames, st.integers(0, 10_000))
def test_fuzz_single_corruption_is_answered(frame, where):
    """One corrupted, cut or extended good frame: one event, never a wrong frame accepted
    (CRC-16 detects every error of up to 3 bits and every burst up to 16 bits)."""
    wire = encode_frame(*frame)
    body = bytearray(wire[:-1])
    kind = where % 3
    i = (where // 3) % len(body)
    if kind == 0:
        body[i] ^= 1 << (where % 8) or 1
    elif kind == 1:
        del body[i:]
    else:
        body.insert(i, 0x5A)
    events = FrameDecoder(max_payload=MAXP, commands=COMMANDS).feed(bytes(body) + b"\x00")
    ref = _reference_events([frame])[0]
    if bytes(body) == wire[:-1]:
        assert events == [ref]
        return
    assert all(e != ref or not isinstance(e, Frame) for e in events)
    assert all(isinstance(e, FrameError) for e in events)
