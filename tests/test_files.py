"""Damaged files are refused: images, network images, traces and input files.

Directed cases reproduce every finding of issue 9 (each with the exact one-line message);
the fuzz tests extend tests/test_config.py's mutated-TOML idea to every ``.npz`` the
project reads: truncation, garbage, dropped and added entries, changed dtypes and shapes,
out-of-range values, broken JSON. Each mutated file must either be refused with a one-line
:class:`FormatError` whose message starts with the file's path, or load to exactly what the
file holds (re-encoding the loaded object gives the file's values back: nothing converted,
wrapped or filled in). Seeded: ``SPIKEFAB_SEED`` replays a run (the seed is printed).
"""

import json
import os

import numpy as np
import pytest

from spikefab.rtl.files import FormatError, read_npz
from spikefab.rtl.image import CoreImage, ImageError
from spikefab.rtl.netimage import NetworkImage, RouteTable
from spikefab.rtl.params import CoreParams, MeshParams
from spikefab.sim.golden import CoreModel
from spikefab.sim.inputs import (InputError, decode_inputs, encode_inputs, inputs_from_pairs,
                                 load_inputs, save_inputs)
from spikefab.sim.network import decode_network_inputs, encode_network_inputs
from spikefab.sim.trace import Trace, TraceError


SEED = int(os.environ.get("SPIKEFAB_SEED", "20241122"))
P = CoreParams(neurons=8, axons=6, lanes=4, weight_bits=4)
PL = CoreParams(neurons=8, axons=4, lanes=4, weight_bits=6, learning=True)
PP = CoreParams(neurons=8, axons=4, lanes=2, model="shift", param_mode="profile", profiles=4)
MP = MeshParams(width=2, height=2, route_entries=16)


@pytest.fixture
def seed():
    print(f"random seed: {SEED} (set SPIKEFAB_SEED to change)")
    return SEED


def _error(exc_type, fn, *args, **kw):
    with pytest.raises(exc_type) as info:
        fn(*args, **kw)
    msg = str(info.value)
    assert "\n" not in msg, f"message of more than one line: {msg!r}"
    return msg


def _core_arrays(params=P, seed=1):
    return CoreImage.random(params, np.random.default_rng(seed)).to_arrays()


def _save(path, arrays):
    np.savez(path, **arrays)
    return path


def _network(seed=2):
    rng = np.random.default_rng(seed)
    cores = [CoreImage.random(P, rng) for _ in range(MP.cores)]
    fan = [[(int(rng.integers(0, 2)), int(rng.integers(0, 2)), int(rng.integers(0, P.axons)),
             1)] if n % 2 else ["exit"] for n in range(P.neurons)]
    routes = [RouteTable.from_fanout(MP, P, fan) for _ in range(MP.cores)]
    return NetworkImage(mesh=MP, cores=cores, routes=routes, meta={"note": "test"})


# --- directed: every case of issue 9, finding 3 -----------------------------------------------

@pytest.mark.parametrize("entry", ["param.vth", "param.du", "state.v", "w_exp"])
def test_core_image_missing_entry(tmp_path, entry):
    a = _core_arrays()
    del a[entry]
    path = _save(tmp_path / "img.npz", a)
    assert _error(ImageError, CoreImage.load, path) == \
        f"{path}: the core image has no {entry!r} entry"


@pytest.mark.parametrize("change, message", [
    (lambda a: a.update(w_exp=np.float64(2.7)),
     "entry 'w_exp' holds float64 values: expected integers"),
    (lambda a: a.update(w_exp=np.int64(8)),
     "entry 'w_exp' = 8 is out of range: allowed 0..7"),
    (lambda a: a.update(weights=np.full((6, 8), 2**64 - 1, np.uint64)),
     "entry 'weights'[0, 0] = 18446744073709551615 does not fit in int64"),
    (lambda a: a.update(weights=np.ones((6, 8), bool)),
     "entry 'weights' holds booleans: expected integers"),
    (lambda a: a.update(weights=np.full((6, 8), 8)),
     "entry 'weights'[0, 0] = 8 is out of range: allowed -8..7"),
    (lambda a: a.update(weights=np.zeros((8, 6), np.int64)),
     "entry 'weights' has shape (8, 6), expected (6, 8)"),
    (lambda a: a.update(params=np.asarray("null")),
     "entry 'params' holds JSON null: expected an object"),
    (lambda a: a.update(params=np.asarray("{\"neurons\": 8,")),
     "entry 'params' is not valid JSON (Expecting property name enclosed in double quotes: "
     "line 1 column 15 (char 14))"),
    (lambda a: a.update(params=np.int64(3)),
     "entry 'params' must be a JSON string, not a int64 array of shape ()"),
    (lambda a: a.update({"param.vth": np.full(8, -1)}),
     "entry 'param.vth'[0] = -1 is out of range: allowed 0..131071"),
    (lambda a: a.update({"param.vth": np.full(8, 1.0)}),
     "entry 'param.vth' holds float64 values: expected integers"),
    (lambda a: a.update(extra=np.int64(1)),
     "entry 'extra' does not belong in a core image"),
    (lambda a: a.update(plastic=np.ones(6, np.int64)),
     "entry 'plastic' has shape (6,), expected (0,)"),
])
def test_core_image_damaged_entry(tmp_path, change, message):
    a = _core_arrays()
    change(a)
    path = _save(tmp_path / "img.npz", a)
    assert _error(ImageError, CoreImage.load, path) == f"{path}: {message}"


def test_core_image_bad_params_value(tmp_path):
    a = _core_arrays()
    d = json.loads(str(a["params"]))
    d["lanes"] = 3
    a["params"] = np.asarray(json.dumps(d))
    path = _save(tmp_path / "img.npz", a)
    msg = _error(ImageError, CoreImage.load, path)
    assert msg.startswith(f"{path}: params.lanes = 3 is not allowed")


def test_learning_image_stdp_entries(tmp_path):
    a = _core_arrays(PL)
    a["stdp.a_plus"] = np.float64(3.5)
    path = _save(tmp_path / "img.npz", a)
    assert _error(ImageError, CoreImage.load, path) == \
        f"{path}: entry 'stdp.a_plus' holds float64 values: expected integers"
    a = _core_arrays(PL)
    del a["stdp.w_max"]
    path = _save(tmp_path / "img2.npz", a)
    assert _error(ImageError, CoreImage.load, path) == \
        f"{path}: the core image has no 'stdp.w_max' entry"


@pytest.mark.parametrize("content, message", [
    (b"", "the file is empty (expected a core image .npz)"),
    (b"PK\x03\x04 not really", "not a readable .npz archive"),
    (b"hello", "not a readable .npz archive"),
])
def test_unreadable_files(tmp_path, content, message):
    path = tmp_path / "img.npz"
    path.write_bytes(content)
    assert _error(ImageError, CoreImage.load, path).startswith(f"{path}: {message}")


def test_truncated_npz_and_npy(tmp_path):
    good = _save(tmp_path / "good.npz", _core_arrays())
    data = good.read_bytes()
    for cut in (10, len(data) // 2, len(data) - 10):
        path = tmp_path / f"cut{cut}.npz"
        path.write_bytes(data[:cut])
        assert _error(ImageError, CoreImage.load, path).startswith(f"{path}: ")
    path = tmp_path / "arr.npz"
    with open(path, "wb") as f:
        np.save(f, np.zeros(3))
    assert _error(ImageError, CoreImage.load, path) == \
        (f"{path}: holds a single .npy array, not an .npz archive of named entries "
         f"(expected a core image)")
    assert _error(ImageError, CoreImage.load, tmp_path / "none.npz") == \
        f"{tmp_path / 'none.npz'}: no such file (expected a core image .npz)"


def test_network_image_mesh_rewritten(tmp_path):
    net = _network()
    a = net.to_arrays()
    a["mesh"] = np.asarray(json.dumps({**MP.to_dict(), "width": 1, "height": 1}))
    path = _save(tmp_path / "net.npz", a)
    assert _error(ImageError, NetworkImage.load, path) == \
        (f"{path}: entries 'core1.*' belong to no core: the mesh entry says 1 x 1 = 1 "
         f"cores (core0..core0)")
    a["mesh"] = np.asarray(json.dumps({**MP.to_dict(), "width": 4, "height": 4}))
    path = _save(tmp_path / "net2.npz", a)
    assert _error(ImageError, NetworkImage.load, path) == \
        f"{path}: not a core image (no 'core4.params' entry)"


@pytest.mark.parametrize("change, message", [
    (lambda a: a.pop("mesh"), "the network image has no 'mesh' entry"),
    (lambda a: a.pop("meta"), "the network image has no 'meta' entry"),
    (lambda a: a.update(meta=np.asarray("[1, 2]")),
     "entry 'meta' holds JSON [1, 2]: expected an object"),
    (lambda a: a.update(mesh=np.asarray("null")), "entry 'mesh' holds JSON null: expected an object"),
    (lambda a: a.update({"core1.params": np.asarray("null")}),
     "entry 'core1.params' holds JSON null: expected an object"),
    (lambda a: a.update({"core2.route.axon": a["core2.route.axon"].astype(float)}),
     "entry 'core2.route.axon' holds float64 values: expected integers"),
    (lambda a: a.update({"core3.route.axon": np.full(16, 6)}),
     "entry 'core3.route.axon'[0] = 6 is out of range: allowed 0..5"),
    (lambda a: a.update({"core0.route.delay": np.full(16, 0)}),
     "entry 'core0.route.delay'[0] = 0 is out of range: allowed 1..1"),
    (lambda a: a.pop("core1.route.count"), "the routing table has no 'core1.route.count' entry"),
    (lambda a: a.update({"core1.junk": np.int64(0)}),
     "entry 'core1.junk' does not belong in a network image"),
    (lambda a: a.update({"core1.weights": a["core1.weights"] != 0}),
     "entry 'core1.weights' holds booleans: expected integers"),
])
def test_network_image_damaged(tmp_path, change, message):
    a = _network().to_arrays()
    change(a)
    path = _save(tmp_path / "net.npz", a)
    assert _error(ImageError, NetworkImage.load, path) == f"{path}: {message}"


@pytest.mark.parametrize("change, message", [
    (lambda e: e.update(ptr=np.array([0, 2, 1, 4])),
     "entry 'ptr'[2] = 1 is less than ptr[1] = 2: offsets must not decrease"),
    (lambda e: e.update(ptr=np.array([-1, 2, 3, 4])), "entry 'ptr'[0] = -1: expected 0"),
    (lambda e: e.update(ptr=np.array([0, 2, 3, 9])),
     "entry 'ptr'[3] = 9: expected 4, the number of events in 'axon'"),
    (lambda e: e.update(delay=np.array([0, 5, 0, 0])),
     "entry 'delay'[1] = 5 is out of range: allowed 0..0"),
    (lambda e: e.update(delay=np.array([0, 0])),
     "entry 'delay' has shape (2,), expected (4,)"),
    (lambda e: e.update(axon=np.array([0.0, 1.0, 2.0, 3.0])),
     "entry 'axon' holds float64 values: expected integers"),
    (lambda e: e.update(axon=np.array([0, -1, 2, 3])),
     "entry 'axon'[1] = -1 is out of range: allowed >= 0"),
    (lambda e: e.pop("ptr"), "the input spike file has no 'ptr' entry"),
    (lambda e: e.update(other=np.int64(1)), "entry 'other' does not belong in a input spike file"),
])
def test_input_file_damaged(tmp_path, change, message):
    enc = encode_inputs([[0, 1], [2], [3]], 3)
    change(enc)
    path = _save(tmp_path / "in.npz", enc)
    assert _error(InputError, load_inputs, path) == f"{path}: {message}"


def test_input_file_axon_range(tmp_path):
    path = tmp_path / "in.npz"
    save_inputs(path, [[0, 5], [6]])
    assert load_inputs(path) == [[0, 5], [6]]
    assert _error(InputError, load_inputs, path, axons=6) == \
        f"{path}: entry 'axon'[2] = 6 is out of range: allowed 0..5"
    enc = encode_inputs([[0, 5], [6]], 2)
    del enc["delay"]                                    # optional: always 0
    assert decode_inputs(enc) == [[0, 5], [6]]


@pytest.mark.parametrize("change, message", [
    (lambda e: e.update(step=np.array([0, 2, 1])),
     "entry 'step'[2] = 1 is less than step[1] = 2: events are stored in step order"),
    (lambda e: e.update(step=np.array([0, 1, 5])),
     "entry 'step'[2] = 5 is out of range: allowed 0..3 (steps = 4)"),
    (lambda e: e.update(axon=np.array([0.5, 1, 1])),
     "entry 'axon' holds float64 values: expected integers"),
    (lambda e: e.update(core=np.array([0, 4, 1])),
     "entry 'core'[1] = 4 is out of range: allowed 0..3"),
    (lambda e: e.update(steps=np.float64(4)),
     "entry 'steps' holds float64 values: expected integers"),
    (lambda e: e.update(steps=np.int64(-1)),
     "entry 'steps' = -1 is out of range: allowed 0..1000000"),
    (lambda e: e.update(steps=np.int64(2**40)),
     "entry 'steps' = 1099511627776 is out of range: allowed 0..1000000"),
    (lambda e: e.update(core=np.array([0, 1])),
     "entries 'step', 'core', 'axon' have different lengths (3, 2, 3): expected one row per "
     "event"),
])
def test_network_input_file_damaged(tmp_path, change, message):
    enc = encode_network_inputs([[(0, 1), (3, 2)], [(1, 1)]], 4)
    change(enc)
    path = _save(tmp_path / "in.npz", enc)
    z = read_npz(path, "network input file", InputError)
    assert _error(InputError, decode_network_inputs, z, source=str(path), cores=4, axons=6) == \
        f"{path}: {message}"


def test_inputs_from_pairs():
    assert inputs_from_pairs(np.array([[2, 1], [0, 3], [2, 0]])) == [[3], [], [1, 0]]
    assert inputs_from_pairs(np.zeros((0, 2), int), 2) == [[], []]
    assert _error(InputError, inputs_from_pairs, np.array([[0, 1, 2]])) == \
        "pairs: shape (1, 3): expected rows of (step, axon), shape [K, 2]"
    assert _error(InputError, inputs_from_pairs, np.array([[3, 1]]), 2) == \
        "pairs: step 3 is out of range for a run of 2 steps: allowed 0..1"


def _trace_arrays():
    img = CoreImage.random(P, np.random.default_rng(3))
    tr = CoreModel(img).run([[0, 1, 2]] * 6)
    return {"spikes": tr.spikes, "u": tr.u, "v": tr.v, "neurons_per_core": np.int64(8),
            "meta": np.asarray(json.dumps(tr.meta)),
            **{f"extra.{k}": a for k, a in tr.extra.items()}}


@pytest.mark.parametrize("change, message", [
    (lambda a: a.update(spikes=a["spikes"].astype(float)),
     "entry 'spikes' holds float64 values: expected integers"),
    (lambda a: a.update(spikes=np.full((6, 8), 2)),
     "entry 'spikes'[0, 0] = 2 is out of range: allowed 0..1"),
    (lambda a: a.update(u=a["u"][:, :4]), "entry 'u' has shape (6, 4), expected (6, 8)"),
    (lambda a: a.update(neurons_per_core=np.int64(3)),
     "entry 'neurons_per_core' = 3 does not divide the 8 neurons of the trace"),
    (lambda a: a.update(neurons_per_core=np.float64(8)),
     "entry 'neurons_per_core' holds float64 values: expected integers"),
    (lambda a: a.update(meta=np.asarray("{")),
     "entry 'meta' is not valid JSON (Expecting property name enclosed in double quotes: line 1 "
     "column 2 (char 1))"),
    (lambda a: a.pop("v"), "not a trace file (no 'v' entry)"),
    (lambda a: a.update({"extra.x": np.zeros((5, 8), np.int64)}),
     "entry 'extra.x' has shape (5, 8): expected [T=6, ...]"),
    (lambda a: a.update(bogus=np.int64(0)), "entry 'bogus' does not belong in a trace"),
])
def test_trace_damaged(tmp_path, change, message):
    a = _trace_arrays()
    change(a)
    path = _save(tmp_path / "tr.npz", a)
    assert _error(TraceError, Trace.load, path) == f"{path}: {message}"


# --- read-only images --------------------------------------------------------------------------

def test_checked_images_are_read_only():
    img = CoreImage.random(PL, np.random.default_rng(4))
    for a in (img.weights, img.profile_index, img.plastic, img.x, img.y,
              *img.neuron_params.values(), *img.state.values()):
        with pytest.raises(ValueError, match="read-only"):
            a[...] = 0
    with pytest.raises(AttributeError, match="image.replace"):
        img.weights = np.zeros_like(img.weights)
    with pytest.raises(TypeError):
        img.neuron_params["vth"] = np.zeros(8, np.int64)
    with pytest.raises(TypeError):
        img.stdp["learn_en"] = 0
    # a changed copy is checked again; the original is untouched
    vth = img.neuron_params["vth"].copy()
    new = img.replace(neuron_params={"vth": 5}, stdp={"learn_en": 0})
    assert (new.neuron_params["vth"] == 5).all() and new.stdp["learn_en"] == 0
    assert (img.neuron_params["vth"] == vth).all()
    with pytest.raises(ImageError, match="out of range"):
        img.replace(weights=np.full_like(img.weights, 1000))
    # the caller's arrays stay writable and are not shared
    w = np.zeros((PL.axons, PL.neurons), np.int64)
    img2 = CoreImage(PL, weights=w)
    w[0, 0] = 1
    assert img2.weights[0, 0] == 0
    net = _network()
    with pytest.raises(ValueError, match="read-only"):
        net.routes[0].base[0] = 1
    with pytest.raises(AttributeError):
        net.cores = []
    with pytest.raises(TypeError):
        net.cores[0] = net.cores[1]


# --- fuzzing -------------------------------------------------------------------------------

def _reencode_core(path):
    return CoreImage.load(path).to_arrays()


def _reencode_network(path):
    return NetworkImage.load(path).to_arrays()


def _reencode_trace(path):
    tr = Trace.load(path)
    out = {"spikes": tr.spikes, "u": tr.u, "v": tr.v,
           "neurons_per_core": np.int64(tr.neurons_per_core),
           "meta": np.asarray(json.dumps(tr.meta))}
    out.update({f"extra.{k}": a for k, a in tr.extra.items()})
    return out


def _reencode_inputs(path):
    lists = load_inputs(path, axons=P.axons)
    return encode_inputs(lists, len(lists))


def _reencode_net_inputs(path):
    z = read_npz(path, "network input file", InputError)
    lists = decode_network_inputs(z, source=str(path), cores=MP.cores, axons=P.axons)
    return encode_network_inputs(lists, len(lists))


def _bases():
    """(name, entries, re-encoder, entries a loader may fill in when absent)."""
    net_in = encode_network_inputs([[(0, 1), (3, 2)], [], [(1, 5), (1, 5), (2, 0)]], 5)
    return [
        ("core", _core_arrays(P, 5), _reencode_core, ()),
        ("core-learning", _core_arrays(PL, 6), _reencode_core, ()),
        ("core-profile", _core_arrays(PP, 7), _reencode_core, ()),
        ("network", _network(8).to_arrays(), _reencode_network, ()),
        ("trace", _trace_arrays(), _reencode_trace, ()),
        ("inputs", encode_inputs([[0, 1], [], [5, 5, 2], [3]], 4), _reencode_inputs,
         ("delay",)),
        ("network-inputs", net_in, _reencode_net_inputs, ("steps",)),
    ]


_DTYPES = [np.float64, np.float32, np.bool_, np.uint64, np.uint8, np.int8, np.int32, np.int16,
           np.uint32, "U8", np.complex128]
_JSON_TEXTS = ["null", "[]", "{", "5", "\"x\"", "{}", "{\"neurons\": 8.5}", "{\"width\": -1}",
               "{\"bogus\": 1}", "NaN"]


def _mutate(entries, rng):
    """One random mutation of an entry dict: (description, entries or None, raw bytes or
    None). Raw bytes replace the whole file (truncation, garbage)."""
    names = sorted(entries)
    kind = rng.choice(["drop", "add", "dtype", "shape", "value", "value", "json", "rename"])
    e = dict(entries)
    name = names[int(rng.integers(len(names)))]
    a = np.asarray(e[name])
    if kind == "drop":
        del e[name]
        return f"drop {name}", e
    if kind == "add":
        new = rng.choice(["junk", "core9.weights", "param.bogus", "extra.", "route.base",
                          "stdp.learn_en", "kind", "steps", "delay"])
        e[str(new)] = np.int64(int(rng.integers(-3, 3)))
        return f"add {new}", e
    if kind == "rename":
        del e[name]
        e[name + "x"] = a
        return f"rename {name}", e
    if kind == "json" or a.dtype.kind == "U":
        e[name] = np.asarray(str(rng.choice(_JSON_TEXTS)))
        return f"json {name} = {str(e[name])}", e
    if kind == "dtype":
        dt = _DTYPES[int(rng.integers(len(_DTYPES)))]
        with np.errstate(all="ignore"):
            e[name] = a.astype(dt) if dt != np.float64 or not a.size else a + 0.5
        return f"dtype {name} -> {np.dtype(dt)}", e
    if kind == "shape":
        how = int(rng.integers(5))
        if how == 0:
            e[name] = a.reshape(-1)[:-1] if a.size else np.zeros(1, np.int64)
        elif how == 1:
            e[name] = np.concatenate([a.reshape(-1), [0]])
        elif how == 2:
            e[name] = a[None]
        elif how == 3:
            e[name] = a.T if a.ndim == 2 and a.shape[0] != a.shape[1] else np.zeros((2, 3))
        else:
            e[name] = np.int64(0) if a.ndim else np.zeros(2, np.int64)
        return f"shape {name} {a.shape} -> {np.shape(e[name])}", e
    # value: one element set to an extreme or a neighbour of a limit
    if a.dtype.kind not in "iub" or a.size == 0:
        e[name] = np.int64(int(rng.integers(-5, 5)))
        return f"value {name} replaced by a scalar", e
    b = a.astype(np.int64).copy()
    flat = b.reshape(-1)
    k = int(rng.integers(flat.size))
    flat[k] = int(rng.choice([-1, 1, 2, 5, -2**40, 2**40, int(flat[k]) + 1, int(flat[k]) - 1,
                              2**62]))
    e[name] = b
    return f"value {name}.flat[{k}] = {int(flat[k])}", e


def _same_values(a, b):
    a, b = np.asarray(a), np.asarray(b)
    if a.dtype.kind == "U" or b.dtype.kind == "U":
        if a.shape == b.shape == () and str(a) == str(b):
            return True
        try:
            return json.loads(str(a)) == json.loads(str(b))
        except ValueError:
            return False
    return a.shape == b.shape and a.tolist() == b.tolist()


def test_fuzz_damaged_files(tmp_path, seed):
    """At least a few hundred mutated files of every kind: each refused in one line naming
    the file, or loaded exactly as written."""
    rng = np.random.default_rng(seed)
    bases = _bases()
    refused = accepted = 0
    failures = []
    n = 0
    for name, entries, reencode, optional in bases:
        good = _save(tmp_path / f"{name}-good.npz", entries)
        data = good.read_bytes()
        assert all(_same_values(v, entries[k]) for k, v in reencode(good).items())
        for i in range(80):
            n += 1
            path = tmp_path / f"{name}-{i}.npz"
            r = rng.random()
            if r < 0.12:
                cut = int(rng.integers(0, len(data)))
                path.write_bytes(data[:cut])
                what, mutated = f"truncated to {cut} bytes", None
            elif r < 0.15:
                raw = bytearray(data)
                for _ in range(8):
                    raw[int(rng.integers(len(raw)))] = int(rng.integers(256))
                path.write_bytes(bytes(raw))
                what, mutated = "8 random bytes changed", None
            else:
                what, mutated = _mutate(entries, rng)
                _save(path, mutated)
            try:
                back = reencode(path)
            except FormatError as e:
                msg = str(e)
                if "\n" in msg or not msg.startswith(f"{path}: "):
                    failures.append(f"{name} {what}: message {msg!r}")
                refused += 1
                continue
            except Exception as e:                  # a traceback: the finding itself
                failures.append(f"{name} {what}: {type(e).__name__}: {e}")
                continue
            accepted += 1
            if mutated is None:
                mutated = read_npz(path, "file")
            for k, v in mutated.items():
                if k not in back or not _same_values(back[k], v):
                    failures.append(f"{name} {what}: accepted, but entry {k!r} reads back as "
                                    f"{np.asarray(back.get(k))!r:.60}")
                    break
            else:
                extra = set(back) - set(mutated) - set(optional)
                if extra:
                    failures.append(f"{name} {what}: accepted without {sorted(extra)}")
    print(f"{n} mutated files: {refused} refused, {accepted} loaded exactly as written")
    assert n >= 500 and refused > 400
    assert not failures, f"{len(failures)} of {n} (seed {seed}):\n" + "\n".join(failures[:15])
