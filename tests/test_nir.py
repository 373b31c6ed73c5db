"""NIR import, quantisation, export and the command line (gen/nir_import.py, gen/quantise.py,
gen/nir_export.py, gen/nir_cli.py; docs/nir.md).

The fixtures are NIR graphs written with ``nir`` the way snnTorch and Norse write them
(per-neuron parameter arrays, LIF and CubaLIF), checked against a plain floating-point
reference simulation written here from the exporters' own update equations."""

import h5py
import nir
import numpy as np
import pytest

from spikefab.gen.cli import main
from spikefab.gen.mapper import MappingError
from spikefab.gen.netdesc import Network
from spikefab.gen.nir_export import export_nir, same_memories, write_nir
from spikefab.gen.nir_import import NirImportError, conv2d_matrix, import_nir, sumpool_matrix
from spikefab.gen.quantise import quantise, simulate_network
from spikefab.rtl.params import CoreParams, MeshParams

DT = 1e-3
T = 40


# --- fixtures written the way the exporters write them -------------------------------------

def snntorch_graph(rng, cuba=False, n_in=10, n_h=16, n_out=5):
    """snnTorch: Leaky -> LIF(tau = dt/(1-beta), r = tau/dt, v_leak = 0); Synaptic ->
    CubaLIF(tau_syn = dt/(1-alpha), w_in = tau_syn/dt, ...); per-neuron arrays."""
    beta_h = rng.uniform(0.8, 0.95, n_h)
    beta_o = rng.uniform(0.8, 0.95, n_out)
    alpha_o = rng.uniform(0.5, 0.8, n_out)
    W1 = rng.normal(0.25, 0.5, (n_h, n_in))
    W2 = rng.normal(0.3, 0.6, (n_out, n_h))
    th_h, th_o = rng.uniform(0.8, 1.2, n_h), rng.uniform(0.8, 1.2, n_out)
    tau_h, tau_o = DT / (1 - beta_h), DT / (1 - beta_o)
    if cuba:
        ts = DT / (1 - alpha_o)
        out = nir.CubaLIF(tau_syn=ts, tau_mem=tau_o, r=tau_o / DT, v_leak=np.zeros(n_out),
                          v_threshold=th_o, v_reset=np.zeros(n_out), w_in=ts / DT)
    else:
        out = nir.LIF(tau=tau_o, r=tau_o / DT, v_leak=np.zeros(n_out), v_threshold=th_o,
                      v_reset=np.zeros(n_out))
    g = nir.NIRGraph(nodes={
        "input": nir.Input(input_type={"input": np.array([n_in])}),
        "fc1": nir.Affine(weight=W1, bias=np.zeros(n_h)),
        "lif1": nir.LIF(tau=tau_h, r=tau_h / DT, v_leak=np.zeros(n_h), v_threshold=th_h,
                        v_reset=np.zeros(n_h)),
        "fc2": nir.Affine(weight=W2, bias=np.zeros(n_out)),
        "lif2": out,
        "output": nir.Output(output_type={"output": np.array([n_out])})},
        edges=[("input", "fc1"), ("fc1", "lif1"), ("lif1", "fc2"), ("fc2", "lif2"),
               ("lif2", "output")])
    ref = {"W1": W1, "W2": W2, "beta_h": beta_h, "beta_o": beta_o, "th_h": th_h, "th_o": th_o,
           "alpha_o": alpha_o if cuba else None}
    return g, ref


def snntorch_reference(ref, x, reset):
    """snnTorch's update with the reset applied in the step of the spike (NIR's semantics):
    syn = alpha syn + W s; mem = beta mem + syn (Synaptic) or mem = beta mem + W s (Leaky)."""
    B = x.shape[0]
    mem1 = np.zeros((B, len(ref["th_h"])))
    mem2 = np.zeros((B, len(ref["th_o"])))
    syn2 = np.zeros_like(mem2)
    c1, c2 = np.zeros_like(mem1), np.zeros_like(mem2)
    for t in range(x.shape[1]):
        mem1 = ref["beta_h"] * mem1 + x[:, t] @ ref["W1"].T
        s1 = mem1 > ref["th_h"]
        mem1 = np.where(s1, mem1 - ref["th_h"] if reset == "subtract" else 0, mem1)
        cur = s1 @ ref["W2"].T
        if ref["alpha_o"] is not None:
            syn2 = ref["alpha_o"] * syn2 + cur
            cur = syn2
        mem2 = ref["beta_o"] * mem2 + cur
        s2 = mem2 > ref["th_o"]
        mem2 = np.where(s2, mem2 - ref["th_o"] if reset == "subtract" else 0, mem2)
        c1 += s1
        c2 += s2
    return c1, c2


def norse_graph(rng, n_in=8, n_out=6):
    """Norse: LIFBoxCell/LIFCell -> CubaLIF(tau_syn = 1/tau_syn_inv, tau_mem =
    1/tau_mem_inv, r = 1, w_in = 1); the current jumps by W s (syn_input 'jump')."""
    tsi, tmi = rng.uniform(150, 250, n_out), rng.uniform(80, 120, n_out)
    W = rng.normal(0.3, 0.3, (n_out, n_in))
    th = rng.uniform(0.8, 1.0, n_out)
    g = nir.NIRGraph(nodes={
        "input": nir.Input(input_type={"input": np.array([n_in])}),
        "linear": nir.Linear(weight=W),
        "lif": nir.CubaLIF(tau_syn=1 / tsi, tau_mem=1 / tmi, r=np.ones(n_out),
                           v_leak=np.zeros(n_out), v_threshold=th, v_reset=np.zeros(n_out),
                           w_in=np.ones(n_out)),
        "output": nir.Output(output_type={"output": np.array([n_out])})},
        edges=[("input", "linear"), ("linear", "lif"), ("lif", "output")])
    return g, {"W": W, "tsi": tsi, "tmi": tmi, "th": th}


def norse_reference(ref, x):
    """Norse's LIF with its jump convention: i += W s; v += dt tau_mem_inv (-v + i)
    computed from the decayed current; i decays by dt tau_syn_inv."""
    B = x.shape[0]
    v = np.zeros((B, len(ref["th"])))
    i = np.zeros_like(v)
    c = np.zeros_like(v)
    for t in range(x.shape[1]):
        i = i * (1 - DT * ref["tsi"]) + x[:, t] @ ref["W"].T
        v = v * (1 - DT * ref["tmi"]) + DT * ref["tmi"] * i
        s = v > ref["th"]
        v = np.where(s, 0, v)
        c += s
    return c


def agreement(ref, got):
    """(fraction of neurons with equal spike counts, fraction of images with the same argmax,
    mean |count difference|)."""
    return (float(np.mean(ref == got)), float(np.mean(ref.argmax(1) == got.argmax(1))),
            float(np.mean(np.abs(ref - got))))


def inputs(rng, B, n, T=T, p=0.3):
    return (rng.random((B, T, n)) < p).astype(np.int64)


def golden_counts(q, x, pop, steps, shift, params):
    m = q.network.map(MeshParams(width=2, height=2), params)
    out = []
    for img in x:
        r = m.run_golden({"input": img}, steps=steps)
        out.append(r.spikes[pop][shift:shift + x.shape[1]].sum(axis=0))
    return np.array(out), m


# --- the fixtures against the reference ----------------------------------------------------

@pytest.mark.parametrize("cuba,reset", [(False, "zero"), (True, "subtract")])
def test_snntorch_fixture(tmp_path, cuba, reset):
    rng = np.random.default_rng(1 + cuba)
    g, ref = snntorch_graph(rng, cuba=cuba)
    nir.write(tmp_path / "m.nir", g)
    res = import_nir(tmp_path / "m.nir", dt=DT, reset=reset,
                     syn_input="euler" if cuba else None)
    assert not res.report.flags, res.report.flags
    x = inputs(rng, 24, 10)
    c1, c2 = snntorch_reference(ref, x, reset)
    fl = res.float_net.run({"input": x})
    # the imported float network is the exporter's model: same spikes up to float rounding
    assert agreement(c2, fl["lif2"].sum(1))[0] >= 0.95
    q = quantise(res.float_net, 8, calib={"input": x[:12]})
    params = CoreParams(neurons=16, axons=16, weight_bits=8, max_delay=1,
                        subtractive_reset=reset == "subtract")
    got, m = golden_counts(q, x[12:], "lif2", T + 1, 1, params)
    cnt, amax, mad = agreement(c2[12:], got)
    print(f"snnTorch {'CubaLIF' if cuba else 'LIF'} reset {reset}: spike counts equal "
          f"{cnt:.0%}, argmax {amax:.0%}, mean |diff| {mad:.2f}")
    assert amax >= 0.9 and mad <= 1.0
    # the batched simulation of the quantiser is the golden model, bit for bit
    bs, _ = simulate_network(q.network, {"input": x[12:]}, T + 1, acc_bits=16)
    assert np.array_equal(bs["lif2"][:, 1:].sum(1), got)
    assert res.report.timing["shift"] == {"lif2": 1}


def test_norse_fixture(tmp_path):
    rng = np.random.default_rng(3)
    g, ref = norse_graph(rng)
    nir.write(tmp_path / "n.nir", g)
    res = import_nir(tmp_path / "n.nir", dt=DT, reset="zero", syn_input="jump")
    x = inputs(rng, 24, 8)
    c = norse_reference(ref, x)
    assert agreement(c, res.float_net.run({"input": x})["lif"].sum(1))[0] >= 0.95
    q = quantise(res.float_net, 8, calib={"input": x[:12]})
    got, _ = golden_counts(q, x[12:], "lif", T, 0, CoreParams(neurons=16, axons=16,
                                                               weight_bits=8))
    cnt, amax, mad = agreement(c[12:], got)
    print(f"Norse CubaLIF: spike counts equal {cnt:.0%}, argmax {amax:.0%}, mean |diff| "
          f"{mad:.2f}")
    assert amax >= 0.9 and mad <= 1.0


def test_wrong_dt_is_flagged(tmp_path):
    g, _ = snntorch_graph(np.random.default_rng(1))
    nir.write(tmp_path / "m.nir", g)
    res = import_nir(tmp_path / "m.nir", dt=2 * DT, reset="zero")
    assert any("wrong dt" in f and "'lif1'" in f for f in res.report.flags)
    assert "wrong dt" in str(res.report)


def test_missing_v_reset_is_flagged(tmp_path):
    g, _ = snntorch_graph(np.random.default_rng(1))
    nir.write(tmp_path / "m.nir", g)
    with h5py.File(tmp_path / "m.nir", "a") as f:
        for k in ("lif1", "lif2"):
            del f["node"]["nodes"][k]["v_reset"]
    res = import_nir(tmp_path / "m.nir", dt=DT, reset="zero")
    assert sum("NIR issue 142" in f for f in res.report.flags) == 2


def test_required_conventions(tmp_path):
    g, _ = snntorch_graph(np.random.default_rng(1), cuba=True)
    with pytest.raises(NirImportError, match="dt"):
        import_nir(g, dt=None, reset="zero")
    with pytest.raises(NirImportError, match="reset"):
        import_nir(g, dt=DT, syn_input="euler")
    with pytest.raises(NirImportError, match="syn_input.*'lif2'"):
        import_nir(g, dt=DT, reset="zero")
    g.nodes["lif1"].v_reset = np.full(16, 0.5)
    with pytest.raises(NirImportError, match="'lif1'.*v_reset"):
        import_nir(g, dt=DT, reset="zero", syn_input="euler")


# --- refusals ------------------------------------------------------------------------------

def _chain(*mid, n=4):
    nodes = {"input": nir.Input(input_type={"input": np.array([n])})}
    edges, prev = [], "input"
    for k, node in enumerate(mid):
        nodes[f"n{k}"] = node
        edges.append((prev, f"n{k}"))
        prev = f"n{k}"
    nodes["output"] = nir.Output(output_type={"output": np.array([n])})
    edges.append((prev, "output"))
    return nir.NIRGraph(nodes=nodes, edges=edges, type_check=False)


def _if(n=4):
    return nir.IF(r=np.ones(n), v_threshold=np.ones(n), v_reset=np.zeros(n))


def test_unsupported_node_named():
    g = _chain(nir.Linear(weight=np.eye(4)), nir.LI(tau=np.ones(4), r=np.ones(4),
                                                      v_leak=np.zeros(4)))
    with pytest.raises(NirImportError, match="node 'n1' has type LI"):
        import_nir(g, dt=DT, reset="zero")


def test_shape_mismatch_and_nonfinite():
    g = _chain(nir.Linear(weight=np.ones((4, 3))), _if())
    with pytest.raises(NirImportError, match="'n0'.*takes 3 inputs but receives 4"):
        import_nir(g, dt=DT, reset="zero")
    w = np.eye(4)
    w[1, 2] = np.nan
    with pytest.raises(NirImportError, match="'n0'.*non-finite"):
        import_nir(_chain(nir.Linear(weight=w), _if()), dt=DT, reset="zero")
    bad = _if()
    bad.v_threshold = np.array([1, np.inf, 1, 1.0])
    with pytest.raises(NirImportError, match="'n1'.*v_threshold.*non-finite"):
        import_nir(_chain(nir.Linear(weight=np.eye(4)), bad), dt=DT, reset="zero")


def test_recurrence_refused():
    g = nir.NIRGraph(nodes={"input": nir.Input(input_type={"input": np.array([4])}),
                            "a": nir.Linear(weight=np.eye(4)), "lif": _if(),
                            "rec": nir.Linear(weight=np.eye(4)),
                            "output": nir.Output(output_type={"output": np.array([4])})},
                     edges=[("input", "a"), ("a", "lif"), ("lif", "rec"), ("rec", "lif"),
                            ("lif", "output")], type_check=False)
    with pytest.raises(NirImportError, match="'lif' is on a recurrent loop"):
        import_nir(g, dt=DT, reset="zero")


def test_conv_and_pool_expansion():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(2, 5, 6))
    w = rng.normal(size=(3, 2, 3, 3))
    conv = nir.Conv2d(input_shape=(5, 6), weight=w, stride=1, padding=1, dilation=1,
                      groups=1, bias=np.arange(3.0))
    M, b, shape = conv2d_matrix("c", conv, (2, 5, 6))
    got = (x.reshape(-1) @ M + b).reshape(shape)
    xp = np.pad(x, ((0, 0), (1, 1), (1, 1)))
    ref = np.array([[[np.sum(xp[:, i:i + 3, j:j + 3] * w[o]) + o for j in range(6)]
                     for i in range(5)] for o in range(3)])
    assert shape == (3, 5, 6) and np.allclose(got, ref)
    pool = nir.SumPool2d(kernel_size=np.array([2, 2]), stride=np.array([2, 2]),
                         padding=np.array([0, 0]))
    M, _, shape = sumpool_matrix("p", pool, (3, 4, 6))
    y = rng.normal(size=(3, 4, 6))
    assert shape == (3, 2, 3)
    assert np.allclose((y.reshape(-1) @ M).reshape(shape),
                       y.reshape(3, 2, 2, 3, 2).sum(axis=(2, 4)))
    # a conv net imports: Input (1, 4, 4) -> Conv2d -> SumPool2d -> Flatten -> IF
    g = nir.NIRGraph(nodes={
        "input": nir.Input(input_type={"input": np.array([1, 4, 4])}),
        "conv": nir.Conv2d(input_shape=(4, 4), weight=np.ones((2, 1, 3, 3)), stride=1,
                           padding=1, dilation=1, groups=1, bias=np.zeros(2)),
        "pool": nir.SumPool2d(kernel_size=np.array([2, 2]), stride=np.array([2, 2]),
                              padding=np.array([0, 0])),
        "flat": nir.Flatten(input_type={"input": np.array([2, 2, 2])}, start_dim=0),
        "if": _if(8), "output": nir.Output(output_type={"output": np.array([8])})},
        edges=[("input", "conv"), ("conv", "pool"), ("pool", "flat"), ("flat", "if"),
               ("if", "output")], type_check=False)
    res = import_nir(g, dt=1.0, reset="zero")
    (src, W), = res.float_net.layers[0].conns
    assert src == "input" and W.shape == (16, 8) and W[0, 0] == 4   # corner pixel: 2x2 window


# --- export and the round trip -------------------------------------------------------------

def _rich_network():
    """Delays, a sparse zero-weight synapse, initial state, two inputs, learning."""
    net = Network("rt")
    a = net.input("a", 3)
    b = net.input("b", 2)
    h = net.population("h", 5, params={"du": [4095, 100, 0, 7, 4095], "dv": 300,
                                       "vth": [10, 11, 12, 13, 14], "bias_mant": [0, 1, -2, 0, 3],
                                       "bias_exp": 2},
                       state={"v": [0, 5, -3, 0, 1]}, w_exp=1)
    o = net.population("o", 3, params={"dv": 0, "vth": 20})
    net.project(a, h, np.array([[1, 0, -2, 3, 0], [0, 4, 0, 0, -1], [2, 2, 2, 2, 2]]))
    net.project(b, h, synapses=([0, 1], [3, 4], [0, -3]), delay=[2, 1], plastic=False)
    net.project(h, o, np.arange(15).reshape(5, 3) % 7 - 3, delay=2)
    net.project(h, h, synapses=([0], [1], [5]))
    net.output(o)
    net.output(h)
    return net


def test_round_trip_bit_for_bit(tmp_path):
    mesh = MeshParams(width=2, height=2)
    params = CoreParams(neurons=4, axons=16, weight_bits=4, max_delay=2, learning=True)
    stdp = {"A_plus": 3, "A_minus": 2, "k_pre": 2, "learn": 1}
    m = _rich_network().map(mesh, params, stdp={k: v for k, v in stdp.items()
                                                if k in params.stdp_defaults()})
    write_nir(m, tmp_path / "rt.nir", dt=0.5)
    g = nir.read(tmp_path / "rt.nir")
    assert "spikefab" in g.metadata and "spikefab" in g.nodes["h"].metadata
    assert np.array_equal(np.asarray(g.nodes["h"].v_threshold), [10, 11, 12, 13, 14])
    res = import_nir(tmp_path / "rt.nir", dt=0.5)
    m2 = res.exact.map()
    assert same_memories(m.image, m2.image)
    assert m2.placement == m.placement and m2.meta["inputs"] == m.meta["inputs"]
    res = import_nir(tmp_path / "rt.nir", dt=1.0)
    assert any("exported with dt = 0.5" in f for f in res.report.flags)
    # the export of the re-import is the same graph again
    g2 = export_nir(m2, dt=0.5)
    assert g2.metadata == export_nir(m, dt=0.5).metadata


def test_round_trip_quantised_import(tmp_path):
    g, _ = snntorch_graph(np.random.default_rng(5), cuba=True)
    res = import_nir(g, dt=DT, reset="subtract", syn_input="euler")
    q = quantise(res.float_net, 6)
    m = q.network.map(MeshParams(width=2, height=1),
                      CoreParams(neurons=16, axons=16, weight_bits=6, subtractive_reset=True))
    write_nir(m, tmp_path / "q.nir", dt=DT)
    direct = export_nir(q.network, dt=DT, mesh=m.mesh, params=m.params)
    assert direct.metadata == export_nir(m, dt=DT).metadata
    assert '"reset": "subtract"' in direct.nodes["lif1"].metadata["spikefab"]
    m2 = import_nir(tmp_path / "q.nir", dt=DT, reset="subtract").exact.map()
    assert same_memories(m.image, m2.image) and m2.meta == m.meta
    with pytest.raises(NirImportError, match="reset = 'zero'"):
        import_nir(tmp_path / "q.nir", dt=DT, reset="zero")


def test_quantiser_report_and_saturation():
    g, _ = snntorch_graph(np.random.default_rng(1))
    res = import_nir(g, dt=DT, reset="zero")
    x = inputs(np.random.default_rng(2), 10, 10)
    q = quantise(res.float_net, 4, calib={"input": x})
    for row in q.rows:
        assert row["bits"] == 4 and row["scale"] > 0 and 0 <= row["mean_err"] <= row["max_err"]
        assert 0 <= row["w_exp"] <= 7 and isinstance(row["saturation"], str)
    assert len(q.search) == len(q.rows) * 6
    q = quantise(res.float_net, 8, calib={"input": x}, acc_bits=4, search=False)
    assert any("acc_bits = 4" in row["saturation"] for row in q.rows)
    res.report.quant = q.rows
    assert "SATURATES" in str(res.report)


# --- the command line ----------------------------------------------------------------------

def test_cli_import_export(tmp_path, capsys):
    g, _ = snntorch_graph(np.random.default_rng(1), cuba=True)
    nir.write(tmp_path / "m.nir", g)
    np.savez(tmp_path / "cal.npz", input=inputs(np.random.default_rng(2), 8, 10))
    out = tmp_path / "net.npz"
    assert main(["import", str(tmp_path / "m.nir"), "--dt", "0.001", "--reset", "zero",
                 "--syn-input", "euler", "--neurons", "16", "--axons", "16",
                 "--calib", str(tmp_path / "cal.npz"), "-o", str(out)]) == 0
    text = capsys.readouterr().out
    assert "quant 'lif1'" in text and "timing:" in text and "core " in text and out.exists()
    assert main(["export", str(out), "--dt", "0.001", "-o", str(tmp_path / "b.nir")]) == 0
    assert main(["import", str(tmp_path / "b.nir"), "--dt", "0.001", "-o",
                 str(tmp_path / "net2.npz")]) == 0
    from spikefab.rtl.netimage import NetworkImage
    assert same_memories(NetworkImage.load(out), NetworkImage.load(tmp_path / "net2.npz"))


@pytest.mark.parametrize("case,match", [
    ("garbage", "not a readable NIR file"),
    ("missing", "no such file"),
    ("unsupported", "node 'n1' has type LI"),
    ("shape", "takes 3 inputs but receives 4"),
    ("nonfinite", "non-finite"),
    ("nofit", "needs"),
])
def test_cli_errors_write_nothing(tmp_path, capsys, case, match):
    path = tmp_path / "m.nir"
    if case == "garbage":
        path.write_bytes(b"\x89HDF not really" * 10)
    elif case == "unsupported":
        nir.write(path, _chain(nir.Linear(weight=np.eye(4)),
                               nir.LI(tau=np.ones(4), r=np.ones(4), v_leak=np.zeros(4))))
    elif case == "shape":
        nir.write(path, _chain(nir.Linear(weight=np.ones((4, 3))), _if()))
    elif case == "nonfinite":
        w = np.eye(4)
        w[0, 0] = np.inf
        nir.write(path, _chain(nir.Linear(weight=w), _if()))
    elif case == "nofit":
        nir.write(path, snntorch_graph(np.random.default_rng(1))[0])
    out = tmp_path / "net.npz"
    rc = main(["import", str(path), "--dt", "0.001", "--reset", "zero", "--neurons", "4",
               "--mesh", "1x1", "-o", str(out)])
    err = capsys.readouterr().err
    assert rc == 2 and match in err and len(err.strip().splitlines()) == 1, err
    assert not out.exists() and sorted(p.name for p in tmp_path.iterdir()) == (
        [] if case == "missing" else ["m.nir"])


def test_cli_export_bad_image(tmp_path, capsys):
    (tmp_path / "x.npz").write_bytes(b"nope")
    assert main(["export", str(tmp_path / "x.npz"), "-o", str(tmp_path / "x.nir")]) == 2
    assert "error" in capsys.readouterr().err and not (tmp_path / "x.nir").exists()


def test_mapping_error_is_value_error():
    assert issubclass(MappingError, ValueError) and issubclass(NirImportError, ValueError)


@pytest.mark.parametrize("argv,message", [
    (["import", "m.nir", "--dt", "nan", "-o", "x.npz"], "argument --dt: 'nan' is not finite"),
    (["import", "m.nir", "--dt", "0.001", "--weight-bits", "9", "-o", "x.npz"],
     "argument --weight-bits: 9 is out of range"),
    (["import", "m.nir", "-o", "x.npz"], "the following arguments are required: --dt"),
])
def test_cli_flags_checked(argv, message, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 2 and message in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []
