"""The configuration layer: TOML -> Config, its error messages, examples, to_dict and digest."""

import dataclasses
import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from spikefab.gen.config import (
    BuildConfig, Config, ConfigError, SimConfig, load_config, loads_config,
    parse_config,
)
from spikefab.rtl.params import CoreParams, ParamError


EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
EXAMPLE_FILES = sorted(EXAMPLES.glob("*.toml"))


def _error(text, source="x.toml"):
    with pytest.raises(ConfigError) as info:
        loads_config(text, source)
    return str(info.value)


# --- one case per message: (TOML text, the exact message after "x.toml: ") ------------------

ERRORS = {
    # core: CoreParams' own messages, prefixed with source and table
    "core-lanes-pow2": (
        "[core]\nlanes = 3",
        "core.lanes = 3 is not allowed: expected a power of two (1, 2, 4, 8, 16 or 32)"),
    "core-neurons-range": (
        "[core]\nneurons = 5000",
        "core.neurons = 5000 is out of range: allowed 1..4096"),
    "core-neurons-multiple": (
        "[core]\nneurons = 30\nlanes = 4",
        "core.neurons = 30 is not allowed with lanes = 4: expected a multiple of lanes"),
    "core-string-for-int": (
        "[core]\naxons = \"64\"",
        "core.axons must be an integer in 1..4096, not '64'"),
    "core-bool-for-int": (
        "[core]\nweight_bits = true",
        "core.weight_bits must be an integer in 1..8, not True"),
    "core-float-for-int": (
        "[core]\nacc_bits = 16.0",
        "core.acc_bits must be an integer in 2..24, not 16.0"),
    "core-model-choice": (
        "[core]\nmodel = \"izhikevich\"",
        "core.model = 'izhikevich' is not allowed: expected one of 'cuba', 'shift'"),
    "core-param-mode-choice": (
        "[core]\nparam_mode = \"shared\"",
        "core.param_mode = 'shared' is not allowed: expected one of 'neuron', 'profile'"),
    "core-int-for-bool": (
        "[core]\ntrace_port = 1",
        "core.trace_port must be true or false, not 1"),
    "core-unknown-key": (
        "[core]\nneuron = 64",
        "core.neuron is not a known key: expected one of acc_bits, axons, lanes, learning, "
        "max_delay, max_step_events, model, neurons, param_mode, profiles, refractory_bits, "
        "subtractive_reset, syn_memory, synapses, trace_bits, trace_port, v_floor, weight_bits, "
        "or the "
        "table core.extensions"),
    "core-shift-extension": (
        "[core]\nmodel = \"shift\"\nsubtractive_reset = true",
        "core.subtractive_reset = True is not allowed with model = 'shift': "
        "the extensions belong to model 'cuba'"),
    # core.extensions: keys reported under their own sub-table
    "ext-range": (
        "[core.extensions]\nrefractory_bits = 9",
        "core.extensions.refractory_bits = 9 is out of range: allowed 0..8"),
    "ext-type": (
        "[core.extensions]\nv_floor = \"yes\"",
        "core.extensions.v_floor must be true or false, not 'yes'"),
    "ext-shift": (
        "[core]\nmodel = \"shift\"\n[core.extensions]\nrefractory_bits = 2",
        "core.extensions.refractory_bits = 2 is not allowed with model = 'shift': "
        "the extensions belong to model 'cuba'"),
    "ext-unknown-key": (
        "[core.extensions]\nrefractory = 2",
        "core.extensions.refractory is not a known key: expected one of refractory_bits, "
        "subtractive_reset, v_floor"),
    "ext-twice": (
        "[core]\nv_floor = false\n[core.extensions]\nv_floor = true",
        "core.extensions.v_floor = True is given twice: also as core.v_floor = False; "
        "give it in one place"),
    "ext-not-table": (
        "[core]\nextensions = true",
        "core.extensions must be a table (keys refractory_bits, subtractive_reset, v_floor), "
        "not True"),
    # build
    "build-name-ident": (
        "[build]\nname = \"2core\"",
        "build.name = '2core' is not allowed: expected a Verilog identifier (a letter or _, "
        "then letters, digits or _; 1..128 characters)"),
    "build-name-dash": (
        "[build]\nname = \"my-core\"",
        "build.name = 'my-core' is not allowed: expected a Verilog identifier (a letter or _, "
        "then letters, digits or _; 1..128 characters)"),
    "build-name-keyword": (
        "[build]\nname = \"module\"",
        "build.name = 'module' is not allowed: it is a reserved word of Verilog/SystemVerilog"),
    "build-name-type": (
        "[build]\nname = 7",
        "build.name must be a string (a Verilog identifier), not 7"),
    "build-clock-range": (
        "[build]\nclock_mhz = 600",
        "build.clock_mhz = 600 is out of range: allowed 1..500"),
    "build-clock-nan": (
        "[build]\nclock_mhz = nan",
        "build.clock_mhz = nan is out of range: allowed 1..500"),
    "build-clock-type": (
        "[build]\nclock_mhz = \"50\"",
        "build.clock_mhz must be a number in 1..500, not '50'"),
    "build-clock-bool": (
        "[build]\nclock_mhz = true",
        "build.clock_mhz must be a number in 1..500, not True"),
    "build-unknown-key": (
        "[build]\ntop = \"x\"",
        "build.top is not a known key: expected one of clock_mhz, name"),
    # board: no key is supported until the board top-levels exist
    "board-name": (
        "[board]\nname = \"icebreaker\"",
        "board.name = 'icebreaker' is not supported yet: boards come with the board "
        "top-levels (an upcoming issue); remove the [board] table"),
    "board-unknown-key": (
        "[board]\nnmae = \"icebreaker\"",
        "board.nmae = 'icebreaker' is not supported yet: boards come with the board "
        "top-levels (an upcoming issue); remove the [board] table"),
    # sim
    "sim-choice": (
        "[sim]\nsimulator = \"questa\"",
        "sim.simulator = 'questa' is not allowed: expected one of 'golden', 'verilator', "
        "'icarus'"),
    "sim-steps-range": (
        "[sim]\nsteps = 0",
        "sim.steps = 0 is out of range: allowed 1..1000000"),
    "sim-seed-range": (
        "[sim]\nseed = 4294967296",
        "sim.seed = 4294967296 is out of range: allowed 0..4294967295"),
    "sim-seed-negative": (
        "[sim]\nseed = -1",
        "sim.seed = -1 is out of range: allowed 0..4294967295"),
    "sim-bool-for-int": (
        "[sim]\nsteps = false",
        "sim.steps must be an integer in 1..1000000, not False"),
    "sim-unknown-key": (
        "[sim]\ncycles = 10",
        "sim.cycles is not a known key: expected one of seed, simulator, steps"),
    # top level
    "unknown-table": (
        "[boards]\nname = \"icebreaker\"",
        "boards is not a known table: expected one of build, core, mesh, sim"),
    "mesh-key": (
        "[mesh]\nwidth = 2\ncores = 4",
        "mesh.cores is not a known key: expected one of fifo_depth, height, route_entries, width"),
    "mesh-range": (
        "[mesh]\nwidth = 65",
        "mesh.width = 65 is out of range: allowed 1..64"),
    "mesh-type": (
        "[mesh]\nroute_entries = \"many\"",
        "mesh.route_entries must be an integer in 1..65536, not 'many'"),
    "table-not-table": (
        "sim = 3",
        "sim must be a table, not 3"),
    "toml-syntax": (
        "[core]\nneurons = 64\nlanes 4\n",
        "not valid TOML: Expected '=' after a key in a key/value pair (at line 3, column 7)"),
    "toml-duplicate-key": (
        "[core]\nlanes = 4\nlanes = 8\n",
        "not valid TOML: Cannot overwrite a value (at line 3, column 10)"),
}


@pytest.mark.parametrize("text, message", ERRORS.values(), ids=ERRORS.keys())
def test_error_message(text, message):
    assert _error(text) == f"x.toml: {message}"


def test_error_is_value_error():
    assert issubclass(ConfigError, ValueError)


def test_missing_file(tmp_path):
    path = tmp_path / "nope.toml"
    with pytest.raises(ConfigError, match=r"nope\.toml: no such configuration file$") as info:
        load_config(path)
    assert str(info.value).startswith(str(path))


def test_unreadable_file_is_a_directory(tmp_path):
    with pytest.raises(ConfigError, match=r": cannot read the configuration file: "):
        load_config(tmp_path)


def test_not_utf8(tmp_path):
    path = tmp_path / "latin1.toml"
    path.write_bytes(b"[build]\nname = \"caf\xe9\"\n")
    with pytest.raises(ConfigError, match=r"latin1\.toml: not valid TOML: the file is not "
                                          r"UTF-8 text \(bad byte 0xe9 at line 2\)"):
        load_config(path)


def test_file_errors_name_the_path_as_given(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    Path("bad.toml").write_text("[core]\nlanes = 3\n")
    with pytest.raises(ConfigError) as info:
        load_config("bad.toml")
    assert str(info.value) == ("bad.toml: core.lanes = 3 is not allowed: expected a power of "
                               "two (1, 2, 4, 8, 16 or 32)")


def test_syntax_error_names_file_and_line(tmp_path):
    path = tmp_path / "syntax.toml"
    path.write_text("[board]\nname = \"icebreaker\"\n\n[sim]\nsteps = = 3\n")
    with pytest.raises(ConfigError, match=r"syntax\.toml: not valid TOML: .*\(at line 5, "):
        load_config(path)


@pytest.mark.parametrize("mapping, message", [
    ([1, 2], "<string>: a configuration must be a table of tables, not [1, 2]"),
    ({"core": None}, "<string>: core must be a table, not None"),
    ({"core": {"extensions": [1]}},
     "<string>: core.extensions must be a table (keys refractory_bits, subtractive_reset, "
     "v_floor), not [1]"),
], ids=["not-mapping", "core-none", "ext-list"])
def test_parse_config_messages(mapping, message):
    with pytest.raises(ConfigError) as info:
        parse_config(mapping)
    assert str(info.value) == message


def test_nothing_half_applied():
    # a good [core] before a bad [sim]: no Config at all, and the input is left untouched
    mapping = {"core": {"neurons": 32, "extensions": {"refractory_bits": 2}},
               "sim": {"steps": 0}}
    before = json.dumps(mapping, sort_keys=True)
    with pytest.raises(ConfigError, match=r"sim\.steps = 0"):
        parse_config(mapping)
    assert json.dumps(mapping, sort_keys=True) == before


# --- the data classes themselves -------------------------------------------------------------

def test_tables_are_frozen_and_validated():
    cfg = Config()
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.sim = SimConfig()
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.build.name = "x"
    with pytest.raises(ParamError, match=r"^steps = 0 is out of range: allowed 1\.\.1000000$"):
        SimConfig(steps=0)
    with pytest.raises(ConfigError, match=r"board.name = 'none' is not supported yet"):
        loads_config("[board]\nname = \"none\"")
    with pytest.raises(TypeError, match=r"Config\.core must be a CoreParams"):
        Config(core={"neurons": 64})


def test_clock_is_normalised_to_float():
    assert BuildConfig(clock_mhz=12).clock_mhz == 12.0
    assert isinstance(BuildConfig(clock_mhz=12).clock_mhz, float)
    assert loads_config("[build]\nclock_mhz = 12").digest() == \
        loads_config("[build]\nclock_mhz = 12.0").digest()


def test_name_length_limit():
    assert BuildConfig(name="a" * 128).name == "a" * 128
    with pytest.raises(ParamError, match=r"1\.\.128 characters"):
        BuildConfig(name="a" * 129)
    with pytest.raises(ParamError):
        BuildConfig(name="")
    with pytest.raises(ParamError):
        BuildConfig(name="caf\u00e9")      # non-ASCII letters are not Verilog identifiers


# --- defaults, to_dict, round trips ----------------------------------------------------------

def test_empty_file_is_the_default(tmp_path):
    path = tmp_path / "empty.toml"
    path.write_text("")
    assert load_config(path) == Config()
    assert loads_config("[core]\n[build]\n[board]\n[sim]\n") == Config()


def test_defaults_resolved_in_to_dict():
    d = loads_config("[core]\nneurons = 32").to_dict()
    assert d == {
        "core": {**CoreParams().to_dict(), "neurons": 32},
        "build": {"name": "spikefab_core", "clock_mhz": 50.0},
        "sim": {"simulator": "verilator", "steps": 100, "seed": 1},
    }
    assert set(d["core"]) == {f.name for f in dataclasses.fields(CoreParams)}
    json.dumps(d, allow_nan=False)          # plain JSON data


def test_extensions_table_and_flat_keys_are_equivalent():
    a = loads_config("[core.extensions]\nrefractory_bits = 3\nv_floor = true")
    b = loads_config("[core]\nrefractory_bits = 3\nv_floor = true")
    assert a == b and a.digest() == b.digest()
    assert a.core.refractory_bits == 3 and a.core.v_floor and not a.core.subtractive_reset


def test_examples_present():
    names = {p.name for p in EXAMPLE_FILES}
    assert {"default.toml", "small_shift.toml", "profiles.toml"} <= names


@pytest.mark.parametrize("path", EXAMPLE_FILES, ids=lambda p: p.name)
def test_example_round_trip(path):
    cfg = load_config(path)
    d = cfg.to_dict()
    again = parse_config(json.loads(json.dumps(d)), source="manifest")
    assert again == cfg
    assert again.to_dict() == d
    assert again.digest() == cfg.digest()


def test_default_example_is_the_builtin_default():
    assert load_config(EXAMPLES / "default.toml") == Config()


def test_small_shift_example():
    c = load_config(EXAMPLES / "small_shift.toml").core
    assert (c.model, c.neurons) == ("shift", 32)


def test_profiles_example():
    c = load_config(EXAMPLES / "profiles.toml").core
    assert (c.model, c.param_mode, c.profiles) == ("cuba", "profile", 4)
    assert (c.refractory_bits, c.subtractive_reset, c.v_floor) == (4, True, True)


# --- digest -----------------------------------------------------------------------------------

def test_digest_is_sha256_of_canonical_json():
    cfg = load_config(EXAMPLES / "profiles.toml")
    canonical = json.dumps(cfg.to_dict(), sort_keys=True, separators=(",", ":"))
    assert cfg.to_json() == canonical
    assert cfg.digest() == hashlib.sha256(canonical.encode()).hexdigest()
    assert len(cfg.digest()) == 64 and int(cfg.digest(), 16) >= 0


def test_digest_independent_of_key_order_and_spelling():
    a = loads_config("[sim]\nseed = 5\nsteps = 10\n[core]\nlanes = 8\nneurons = 64")
    b = loads_config("core.neurons = 64\ncore.lanes = 8\n[sim]\nsteps = 10\nseed = 5")
    assert a.digest() == b.digest()
    # writing a default out does not change the build
    assert loads_config("[core]\nneurons = 64").digest() == Config().digest()


def test_digest_stable_across_processes():
    code = ("from spikefab.gen.config import load_config; import sys; "
            "print(load_config(sys.argv[1]).digest())")
    path = EXAMPLES / "small_shift.toml"
    out = subprocess.run([sys.executable, "-c", code, str(path)], check=True,
                         capture_output=True, text=True,
                         env={**os.environ, "PYTHONHASHSEED": "12345"}).stdout.strip()
    assert out == load_config(path).digest()


@pytest.mark.parametrize("table, key, value", [
    ("core", "neurons", 128), ("core", "model", "shift"), ("core", "trace_port", False),
    ("core", "refractory_bits", 1), ("build", "name", "other"), ("build", "clock_mhz", 50.5),
    ("sim", "simulator", "icarus"), ("sim", "steps", 101),
    ("sim", "seed", 2),
])
def test_digest_changes_with_any_value(table, key, value):
    base = Config()
    d = base.to_dict()
    d[table][key] = value
    changed = parse_config(d)
    assert changed != base
    assert changed.digest() != base.digest()
