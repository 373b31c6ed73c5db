"""The C99 driver (firmware/c/) built with the system gcc and run over the shared
known-answer vectors; and the generated protocol header kept up to date."""

import shutil
import subprocess
from pathlib import Path

import pytest

from spikefab.firmware import link_cgen, link_vectors


C_DIR = Path(link_cgen.__file__).parent / "c"
CFLAGS = ["-std=c99", "-Wall", "-Wextra", "-Werror", "-pedantic", "-O1"]


def test_protocol_header_is_up_to_date():
    assert link_cgen.HEADER_PATH.read_text() == link_cgen.make_header(), \
        "regenerate with: python -m spikefab.firmware.link_cgen"


def _bytes(name, data):
    data = bytes(data)
    body = ", ".join(str(b) for b in data) if data else "0"
    return f"static const uint8_t {name}[] = {{{body}}};\n", f"{name}, {len(data)}"


def vectors_inc(v):
    """The vector file as C arrays, for test_link.c."""
    out = [f"#define VECTOR_MAX_PAYLOAD {v['max_payload']}\n"]
    bitmap = bytearray(32)
    for c in v["commands"]:
        bitmap[c // 8] |= 1 << (c % 8)
    out.append(_bytes("vector_commands", bitmap)[0])
    rows = []
    for i, c in enumerate(v["crc"]):
        decl, ref = _bytes(f"crc_{i}", bytes.fromhex(c["data"]))
        out.append(decl)
        rows.append(f"{{{ref}, {c['crc']}}}")
    out.append("static const struct crc_case crc_cases[] = {" + ", ".join(rows) + "};\n")
    rows = []
    for i, c in enumerate(v["cobs"]):
        d1, r1 = _bytes(f"cobs_d{i}", bytes.fromhex(c["data"]))
        d2, r2 = _bytes(f"cobs_e{i}", bytes.fromhex(c["encoded"]))
        out += [d1, d2]
        rows.append(f"{{{r1}, {r2}}}")
    out.append("static const struct cobs_case cobs_cases[] = {" + ", ".join(rows) + "};\n")
    rows = []
    for i, c in enumerate(v["frames"]):
        refs = []
        for key in ("payload", "frame", "wire"):
            decl, ref = _bytes(f"frame_{key}{i}", bytes.fromhex(c[key]))
            out.append(decl)
            refs.append(ref)
        rows.append(f"{{{c['seq']}, {c['cmd']}, {', '.join(refs)}}}")
    out.append("static const struct frame_case frame_cases[] = {" + ", ".join(rows) + "};\n")
    rows = []
    for i, s in enumerate(v["streams"]):
        d1, r1 = _bytes(f"stream_w{i}", bytes.fromhex(s["wire"]))
        d2, r2 = _bytes(f"stream_r{i}", bytes.fromhex(s["replies"]))
        out += [d1, d2]
        ev_rows = []
        for k, e in enumerate(s["events"]):
            if e["kind"] == "frame":
                decl, ref = _bytes(f"stream_p{i}_{k}", bytes.fromhex(e["payload"]))
                out.append(decl)
                ev_rows.append(f"{{1, 0, {e['seq']}, {e['cmd']}, {ref}}}")
            else:
                ev_rows.append(f"{{2, {e['code']}, {e['seq']}, {e['cmd']}, NULL, 0}}")
        if ev_rows:
            out.append(f"static const struct event_case stream_e{i}[] = "
                       f"{{{', '.join(ev_rows)}}};\n")
            events = f"stream_e{i}, {len(ev_rows)}"
        else:
            events = "NULL, 0"
        name = s["name"].replace('"', "'")
        rows.append(f'{{"{name}", {r1}, {events}, {r2}}}')
    out.append("static const struct stream_case stream_cases[] = {"
               + ",\n".join(rows) + "};\n")
    return "".join(out)


@pytest.mark.skipif(shutil.which("gcc") is None, reason="no gcc on this machine")
def test_c_driver_against_vectors(tmp_path):
    v = link_vectors.load_vectors()
    (tmp_path / "vectors.inc").write_text(vectors_inc(v))
    exe = tmp_path / "test_link"
    build = subprocess.run(["gcc", *CFLAGS, f"-I{C_DIR}", f"-I{tmp_path}", "-o", str(exe),
                            str(C_DIR / "test_link.c"), str(C_DIR / "spikefab_link.c")],
                           capture_output=True, text=True)
    assert build.returncode == 0, build.stderr
    run = subprocess.run([str(exe)], capture_output=True, text=True, timeout=60)
    print(run.stdout)
    assert run.returncode == 0, run.stdout
    n_checks, n_fail = (int(w) for w in run.stdout.split()[-4::2])
    assert n_fail == 0 and n_checks > 300


def command_vectors_inc(v):
    """The command vectors as C arrays, for test_host.c."""
    from spikefab.firmware.command import words_to_bytes
    out, rows = [], []
    for i, e in enumerate(v["exchanges"]):
        refs = []
        for key, data in (("w", words_to_bytes([int(x, 16) for x in e["words"]],
                                               v["cmd_bytes"])),
                          ("q", bytes.fromhex(e["request_wire"])),
                          ("r", bytes.fromhex(e["reply_wire"]))):
            decl, ref = _bytes(f"ex_{key}{i}", data)
            out.append(decl)
            refs.append(ref if key != "w" else f"ex_w{i}, {len(e['words'])}")
        decl, _ = _bytes(f"ex_p{i}", words_to_bytes([int(x, 16) for x in e["replies"]],
                                                    v["reply_bytes"]))
        out.append(decl)
        name = e["name"].replace('"', "'")
        rows.append(f'{{"{name}", {e["cmd"]}, {", ".join(refs)}, {e["result"]}, ex_p{i}, '
                    f'{len(e["replies"])}}}')
    out.append("static const struct exchange exchanges[] = {" + ",\n".join(rows) + "};\n")
    return "".join(out)


@pytest.mark.skipif(shutil.which("gcc") is None, reason="no gcc on this machine")
def test_c_command_layer_against_vectors(tmp_path):
    """The C command layer (spikefab_host.c) on the shared command vectors: the same request
    bytes, the same reply words and results, the identity checked against a design header
    generated for the vectors' design, a word built from that header's offsets."""
    from spikefab.firmware import command_vectors
    from spikefab.rtl.host import core_mesh
    v = command_vectors.load_vectors()
    p = command_vectors.VECTOR_PARAMS
    (tmp_path / "design.h").write_text(link_cgen.make_design_header(
        core_mesh(p), p, routing=False, max_payload=v["max_payload"]))
    (tmp_path / "command_vectors.inc").write_text(command_vectors_inc(v))
    exe = tmp_path / "test_host"
    build = subprocess.run(["gcc", *CFLAGS, f"-I{C_DIR}", f"-I{tmp_path}", "-o", str(exe),
                            str(C_DIR / "test_host.c"), str(C_DIR / "spikefab_host.c"),
                            str(C_DIR / "spikefab_link.c")], capture_output=True, text=True)
    assert build.returncode == 0, build.stderr
    run = subprocess.run([str(exe)], capture_output=True, text=True, timeout=60)
    print(run.stdout)
    assert run.returncode == 0, run.stdout
    n_checks, n_fail = (int(w) for w in run.stdout.split()[-4::2])
    assert n_fail == 0 and n_checks >= 28
