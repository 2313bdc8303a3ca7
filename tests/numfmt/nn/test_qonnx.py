"""QONNX models as QuantizedGraphs (numfmt.nn.from_qonnx) and the fake-quant forward, against Brevitas.

The files under qonnx/ were exported by Brevitas 0.13.4 (``qonnx/make_exports.py``, run by
hand) with what Brevitas computed on the digits test split at export time; they are the
independent reference here. Synthetic models check the deviation bound against an exact
``fractions.Fraction`` evaluation over every input.
"""

import itertools
import math
import pathlib
import re
import warnings
from fractions import Fraction

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

import numfmt as nf  # noqa: E402
from numfmt import nn  # noqa: E402
from numfmt.nn.onnx import ImportedModel, TensorFormat, load_onnx  # noqa: E402
from numfmt.nn.qonnx import Deviation, QAvgPoolRequant, from_qonnx  # noqa: E402

HERE = pathlib.Path(__file__).parent / "qonnx"
EXPORTS = ["mlp_int8_pow2", "mlp_w4a4_channel_pow2", "mlp_w4a8_channel_float", "cnn_int8_pow2",
           "cnn_truncavgpool_pow2"]
POW2 = ["mlp_int8_pow2", "mlp_w4a4_channel_pow2", "cnn_int8_pow2", "cnn_truncavgpool_pow2"]
QDOMAIN = "qonnx.custom_op.general"


@pytest.fixture(scope="module")
def digits():
    return nn.digits_data()


def _export(name, digits):
    m = load_onnx(HERE / f"{name}.onnx")
    rec = dict(np.load(HERE / f"{name}.npz"))
    x_test, y_test = digits[2], digits[3]
    assert np.array_equal(rec["y_test"], y_test)          # the script reproduced numfmt's split
    return m, rec, x_test.reshape((-1,) + m.graph.input_shape)


def _from_qonnx(m, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return from_qonnx(m, **kw)


# -- the committed Brevitas exports -------------------------------------------------------------
@pytest.mark.parametrize("name", EXPORTS)
def test_exports_are_small_and_batch_one(name):
    path = HERE / f"{name}.onnx"
    assert path.stat().st_size < 100_000 and (HERE / f"{name}.npz").stat().st_size < 100_000
    proto = onnx.load(path)
    dims = [d.dim_value for d in proto.graph.input[0].type.tensor_type.shape.dim]
    assert dims[0] == 1                                   # Brevitas' default export: batch 1, fixed


@pytest.mark.parametrize("name", EXPORTS)
def test_quantized_graph_predicts_as_brevitas(name, digits):
    m, rec, x = _export(name, digits)
    q = _from_qonnx(m)
    assert np.array_equal(q.predict(x), rec["pred"])


@pytest.mark.parametrize("name", POW2)
def test_pow2_integer_outputs_equal_brevitas(name, digits):
    m, rec, x = _export(name, digits)
    q = from_qonnx(m, exact=True)
    assert q.deviations == {}
    out = q.run(x)[q.output]
    assert np.array_equal(out, rec["out_int"].astype(np.float64))
    assert q.node(q.output).out.scale == float(rec["out_scale"])
    # every quantized tensor of the datapath is the fake-quant model's, exactly
    fq, vals = m.run(x), q.run(x)
    for key in m.formats:
        if key in vals:
            assert np.array_equal(vals[key] * q.node(key).out.scale, fq[key]), key


@pytest.mark.parametrize("name", POW2)
def test_fake_quant_forward_equals_brevitas_pow2(name, digits):
    m, rec, x = _export(name, digits)
    assert np.array_equal(m.forward(x), rec["logits"].astype(np.float64))     # every float32 step is exact
    assert np.array_equal(m.predict(x), rec["pred"])


def test_fake_quant_forward_float_scales_within_float32_rounding(digits):
    """Brevitas computes the last Gemm in float32: |error| ≤ γ_n · (Σ|x·w| + |b|) (Higham), n = in + 1."""
    m, rec, x = _export("mlp_w4a8_channel_float", digits)
    vals = m.run(x)
    y = m.forward(x)
    last = m.graph.node(m.graph.output)
    h = vals[last.inputs[0]]
    n = h.shape[1] + 1
    u = 2.0 ** -24
    bound = n * u / (1 - n * u) * (np.abs(h) @ np.abs(last.layer.weight).T + np.abs(last.layer.bias)) \
        + u * np.abs(y)                                    # and the float32 result's own rounding
    err = np.abs(y - rec["logits"].astype(np.float64))
    assert (err <= bound).all()
    assert err.max() > 0                                   # the two evaluations do differ: the check is real
    assert np.array_equal(m.predict(x), rec["pred"])


def test_float_scales_report_deviations(digits):
    m, rec, x = _export("mlp_w4a8_channel_float", digits)
    with pytest.warns(UserWarning, match=r"node 'node_linear': the bias is not an integer multiple of s_x·s_w"):
        q = from_qonnx(m)
    assert sorted(q.deviations) == ["node_linear", "node_linear_1"]
    dev = q.deviations["node_linear"]
    assert isinstance(dev, Deviation) and dev.max_steps == 1 and 0 < dev.bound < Fraction(1, 32)
    assert "is not a dyadic number of 32 bits" in dev.cause
    with pytest.raises(ValueError, match=r"^node 'node_linear': the bias is not an integer multiple .*\(exact=True\)$"):
        from_qonnx(m, exact=True)
    # the hidden layer sees the same input integers in both: its outputs differ by at most max_steps
    fq, vals = m.run(x), q.run(x)
    s = q.node("node_relu").out.scale
    diff = np.abs(vals["node_relu"] - fq["node_relu"] / s)
    assert diff.max() == dev.max_steps and np.count_nonzero(diff) < diff.size // 100
    # the unquantized output (int32): given the fake-quant hidden values, within the bound (+ its rounding)
    node = q.node("node_linear_1")
    hid = fq["node_relu"] / s
    out = node.run(hid)
    t = fq["node_linear_1"] / node.out.scale
    assert node.out.format == nf.IntFormat(32)
    dev1 = q.deviations["node_linear_1"]
    assert (np.abs(out - t) <= float(dev1.bound) + 0.5 + 1e-6 * np.abs(t)).all()


def test_batch_one_reshape_imports(digits):
    m, rec, x = _export("cnn_int8_pow2", digits)
    assert m.graph.input_shape == (1, 8, 8)
    assert [type(n.layer).__name__ for n in m.graph.nodes] == ["Conv2d", "ReLU", "MaxPool2d", "Flatten", "Dense"]
    assert m.forward(x).shape == (360, 10)                 # the batch-1 model runs on any batch


# -- synthetic models: the deviation bound, exhaustively ---------------------------------------
def _dense_model(s_in, s_w, s_y, w, b, b_scale=None):
    g = nn.Graph.sequential([nn.Dense(np.asarray(w, dtype=np.float64), np.asarray(b, dtype=np.float64))],
                            input_shape=(len(w[0]),))
    fmts = {"input": TensorFormat(nf.IntFormat(4), s_in, 0),
            "dense0.weight": TensorFormat(nf.IntFormat(4), np.reshape(s_w, (-1, 1)), 0, narrow=True),
            "dense0": TensorFormat(nf.IntFormat(8), s_y, 0)}
    if b_scale is not None:
        fmts["dense0.bias"] = TensorFormat(nf.IntFormat(16), b_scale, 0)
    w_q = fmts["dense0.weight"].quantize(g.nodes[0].layer.weight)
    b_q = fmts["dense0.bias"].quantize(np.asarray(b, dtype=np.float64)) if b_scale is not None else b
    g = nn.Graph.sequential([nn.Dense(w_q, np.asarray(b_q, dtype=np.float64))], input_shape=(len(w[0]),))
    return ImportedModel(g, fmts)


def _exact_outputs(m, X):
    """R(t) of every input integer pair, with t = (s_x·Σ X·W_q + b) / s_y in Fractions (ties to even)."""
    layer = m.graph.nodes[0].layer
    s_x = Fraction(float(m.formats["input"].scale))
    s_y = Fraction(float(m.formats["dense0"].scale))
    out = []
    for row in X:
        ys = []
        for o in range(layer.weight.shape[0]):
            t = (sum(s_x * int(xi) * Fraction(float(wi)) for xi, wi in zip(row, layer.weight[o]))
                 + Fraction(float(layer.bias[o]))) / s_y
            ys.append(min(max(round(t), -128), 127))        # Python's round: ties to even
        out.append(ys)
    return np.array(out, dtype=np.float64)


ALL_INT4_PAIRS = np.array(list(itertools.product(range(-8, 8), repeat=2)), dtype=np.float64)


def test_pow2_dense_is_exact_for_every_input():
    m = _dense_model(0.25, [0.5, 0.125], 0.0625, [[1.5, -2.0], [0.25, 0.875]], [0.75, -0.5],
                     b_scale=np.array([0.125, 0.03125]))
    q = from_qonnx(m, exact=True)
    X = ALL_INT4_PAIRS
    assert np.array_equal(q.run(X * 0.25)["dense0"], _exact_outputs(m, X))
    assert np.array_equal(q.forward(X * 0.25), m.forward(X * 0.25))


def test_non_dyadic_dense_stays_within_its_bound_for_every_input():
    m = _dense_model(0.3, [0.7, 0.45], 0.11, [[2.1, -3.0], [0.9, 1.35]], [0.123, -0.77])
    with pytest.warns(UserWarning, match="node 'dense0'"):
        q = from_qonnx(m, mult_bits=6)
    dev = q.deviations["dense0"]
    X = ALL_INT4_PAIRS
    xin = X * 0.3
    assert np.array_equal(q.run(xin)["input"], np.clip(np.round(xin / 0.3), -8, 7))
    diff = np.abs(q.run(xin)["dense0"] - _exact_outputs(m, X))
    assert diff.max() <= dev.max_steps
    assert diff.max() > 0                                  # with 6 multiplier bits some outputs do differ
    # the bound is the largest possible |t - t'|: met by some input only up to rounding of the grid
    node = q.node("dense0")
    K = node.accumulate(q.run(xin)["input"])
    t_dp = [[Fraction(int(k)) * int(node.multiplier[o]) / 2 ** int(node.shift[o]) for o, k in enumerate(r)]
            for r in K]
    s_x, s_y = Fraction(0.3), Fraction(0.11)
    layer = m.graph.nodes[0].layer
    worst = max(abs((s_x * sum(int(xi) * Fraction(float(wi)) for xi, wi in zip(row, layer.weight[o]))
                     + Fraction(float(layer.bias[o]))) / s_y - t_dp[i][o])
                for i, row in enumerate(X) for o in range(2))
    assert 0 < worst <= dev.bound


# -- the importer: 1-bit signed Quant, fixed-batch Reshape --------------------------------------
def _const(name, value):
    return numpy_helper.from_array(np.asarray(value, dtype=np.float32), name)


def _qmodel(nodes, inits, in_shape, batch="N"):
    graph = helper.make_graph(nodes, "t", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [batch, *in_shape])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [batch, "F"])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid(QDOMAIN, 1)])
    onnx.checker.check_model(model)
    return model


def _quant(inp, out, name, signed=1, narrow=0):
    return helper.make_node("Quant", [inp, "s", "z", "b"], [out], name=name, domain=QDOMAIN, signed=signed,
                            narrow=narrow, rounding_mode="ROUND")


@pytest.mark.parametrize("narrow", [0, 1])
def test_one_bit_signed_quant_is_bipolar_as_the_qonnx_reference(narrow):
    model = _qmodel([_quant("x", "xq", "q", narrow=narrow), helper.make_node("Relu", ["xq"], ["y"], name="r")],
                    [_const("s", 0.5), _const("z", 0.0), _const("b", 1.0)], (5,))
    m = load_onnx(model)
    tf = m.formats["x"]
    assert tf.bipolar and tf.qmin == -1 and tf.qmax == 1
    x = np.array([[-0.7, -0.0, 0.0, 0.2, 3.0]])
    ref = np.where(x.astype(np.float32) / np.float32(0.5) >= 0, 1.0, -1.0) * 0.5      # QONNX int_quant, 1-bit signed
    assert np.array_equal(tf.quantize(x), ref)
    assert m.forward(x).tolist() == [[0.0, 0.5, 0.5, 0.5, 0.5]]


def test_one_bit_signed_quant_needs_zero_point_zero():
    model = _qmodel([_quant("x", "y", "q")], [_const("s", 0.5), _const("z", -1.0), _const("b", 1.0)], (5,))
    with pytest.raises(ValueError, match=r"node 'q' \(Quant\): a 1-bit signed Quant is bipolar .*zeropt must be 0"):
        load_onnx(model)


def _reshape_model(target, batch):
    return _qmodel([helper.make_node("Reshape", ["x", "shape"], ["y"], name="rs", allowzero=1)],
                   [numpy_helper.from_array(np.array(target, dtype=np.int64), "shape")], (2, 3), batch=batch)


@pytest.mark.parametrize("target", [[1, -1], [1, 6], [-1, 6]])
def test_reshape_to_the_fixed_batch_is_a_flatten(target):
    g = load_onnx(_reshape_model(target, 1)).graph
    assert isinstance(g.nodes[0].layer, nn.Flatten)
    assert g.forward(np.arange(12.0).reshape(2, 2, 3)).tolist() == [list(range(6)), list(range(6, 12))]


@pytest.mark.parametrize("target,batch,match", [
    ([2, -1], 1, r"shape \[2, -1\] is not supported \(only a flatten to \(N, -1\): \[0, -1\], \[0, 6\], "
                 r"\[-1, 6\], \[1, -1\], \[1, 6\]\)"),
    ([1, -1], "N", r"shape \[1, -1\] is not supported \(only a flatten to \(N, -1\): \[0, -1\], \[0, 6\], \[-1, 6\]\)"),
    ([1, 3], 1, r"shape \[1, 3\] is not supported"),
])
def test_reshape_to_another_batch_is_refused(target, batch, match):
    with pytest.raises(ValueError, match=r"node 'rs' \(Reshape\): " + match):
        load_onnx(_reshape_model(target, batch))


# -- from_qonnx errors ---------------------------------------------------------------------------
def _imported(fmts, layers=None):
    layers = layers or [nn.Dense(np.array([[0.5, -0.25]])), nn.ReLU()]
    return ImportedModel(nn.Graph.sequential(layers, input_shape=(2,)), fmts)


I8 = TensorFormat(nf.IntFormat(8), 0.125, 0)
W4 = TensorFormat(nf.IntFormat(4), 0.25, 0)
U8 = TensorFormat(nf.IntFormat(8, signed=False), 0.0625, 0)


@pytest.mark.parametrize("fmts,match", [
    ({"dense0.weight": W4, "relu1": U8}, r"^the graph input 'input' is not quantized"),
    ({"input": I8, "relu1": U8}, r"^node 'dense0': its weight is not quantized"),
    ({"input": TensorFormat(nf.IntFormat(8), 0.125, 3), "dense0.weight": W4, "relu1": U8},
     r"^the graph input 'input' has zero point 3: the integer datapath needs symmetric quantization"),
    ({"input": I8, "dense0.weight": TensorFormat(nf.IntFormat(4), 0.25, 1), "relu1": U8},
     r"^node 'dense0': its weight has zero point 1"),
    ({"input": TensorFormat(nf.IntFormat(8), [[0.125, 0.25]], 0), "dense0.weight": W4, "relu1": U8},
     r"^the graph input 'input' has 2 scales \(shape \(1, 2\)\): the integer datapath needs one scale"),
    ({"input": I8, "dense0.weight": TensorFormat(nf.IntFormat(4), [[0.25, 0.5]], 0), "relu1": U8},
     r"^node 'dense0': the weight scales of output channel 0 differ \(0.25 … 0.5\)"),
    ({"input": I8, "dense0.weight": W4, "relu1": TensorFormat(nf.IntFormat(8, signed=False), 0.0625, 0,
                                                              narrow=True)},
     r"^the quantizer on 'relu1' is an unsigned narrow-range quantizer \(0..254\)"),
    ({"input": I8, "dense0.weight": W4, "relu1": TensorFormat(nf.IntFormat(1, signed=False), 0.5, 0, bipolar=True)},
     r"^the quantizer on 'relu1' is bipolar"),
    ({"input": I8, "dense0.weight": W4, "dense0": I8, "relu1": U8},
     r"^node 'relu1': its output is quantized again as .* after its input's .*; the integer datapath has no "
     r"requantizer there"),
])
def test_from_qonnx_refuses_naming_the_tensor(fmts, match):
    with pytest.raises(ValueError, match=match):
        _from_qonnx(_imported(fmts))


def test_from_qonnx_refusals_of_layers_and_arguments():
    fm = {"input": I8, "dense0.weight": W4}
    mid = _imported(fm, [nn.Dense(np.array([[0.5, -0.25]])), nn.Dense(np.array([[1.0]]))])
    with pytest.raises(ValueError, match=r"^node 'dense0': its output reaches 'dense1' without a Quant"):
        _from_qonnx(mid)
    with pytest.raises(ValueError, match=r"^mult_bits must be an integer in 1..32, not 0$"):
        from_qonnx(_imported({**fm, "relu1": U8}), mult_bits=0)
    with pytest.raises(ValueError, match=r"^exact must be True or False, not 'yes'$"):
        from_qonnx(_imported({**fm, "relu1": U8}), exact="yes")


def test_same_quantizer_after_relu_is_accepted():
    # Dense → Quant(int8, s) → ReLU → Quant(uint8, s): the second keeps every value, no requantizer needed
    m = _imported({"input": I8, "dense0.weight": W4, "dense0": I8,
                   "relu1": TensorFormat(nf.IntFormat(8, signed=False), 0.125, 0)})
    q = from_qonnx(m, exact=True)
    x = np.array([[1.0, -2.0], [-1.0, 3.0]])
    assert np.array_equal(q.forward(x), m.forward(x))


def test_unquantized_output_gets_int32():
    m = _imported({"input": I8, "dense0.weight": W4}, [nn.Dense(np.array([[0.5, -0.25], [1.0, 0.75]]))])
    q = from_qonnx(m, exact=True)            # one weight scale, no bias: exact
    out = q.node("dense0").out
    assert out.format == nf.IntFormat(32) and out.scale == 0.125 * 0.25 * 2.0 ** -g(q)
    x = np.array([[1.0, -2.0], [-16.0, 15.875]])
    assert np.array_equal(q.forward(x), m.forward(x))


def g(q):
    """The guard bits of the int32 output: 30 - acc_bits - 1."""
    return 30 - q.node("dense0").acc_bits - 1


def test_config_summarises_the_formats():
    q = from_qonnx(_imported({"input": I8, "dense0.weight": W4, "relu1": U8}))
    assert str(q.config.weight) == "int4" and str(q.config.act) == "int8" and q.config.granularity == "tensor"
    assert re.search(r"dense0:linear\[uint8\]", repr(q))


# -- residual Add and ReLU6 ------------------------------------------------------------------
def _residual(s_in, s_d, s_y):
    """input (int4, s_in) → dense0 (int8, s_d) ; add1 = input + dense0 → int8 (s_y)."""
    nodes = [nn.Node("dense0", nn.Dense(np.array([[0.75, -0.5], [0.25, 1.0]]), np.array([0.5, -0.25])), ("input",)),
             nn.Node("add1", nn.Add(), ("input", "dense0"))]
    g = nn.Graph(nodes, (2,))
    return ImportedModel(g, {"input": TensorFormat(nf.IntFormat(4), s_in, 0),
                             "dense0.weight": TensorFormat(nf.IntFormat(4), 0.25, 0),
                             "dense0.bias": TensorFormat(nf.IntFormat(16), s_in * 0.25, 0),
                             "dense0": TensorFormat(nf.IntFormat(8), s_d, 0),
                             "add1": TensorFormat(nf.IntFormat(8), s_y, 0)})


def _exact_add(m, xin):
    """R((a + b) / s_y) in Fractions (ties to even), a and b the fake-quant values of the Add's inputs."""
    vals = m.run(xin)
    s_y = Fraction(float(m.formats["add1"].scale))
    a, b = vals["input"], vals["dense0"]
    return np.array([[min(max(round((Fraction(float(a[i, k])) + Fraction(float(b[i, k]))) / s_y), -128), 127)
                      for k in range(2)] for i in range(len(a))], dtype=np.float64)


def test_residual_add_pow2_is_exact_for_every_input():
    m = _residual(0.25, 0.125, 0.5)
    q = from_qonnx(m, exact=True)
    xin = ALL_INT4_PAIRS * 0.25
    assert q.node("add1").op == "add"
    assert np.array_equal(q.run(xin)["add1"], _exact_add(m, xin))
    assert np.array_equal(q.forward(xin), m.forward(xin))


def test_residual_add_with_float_scales_stays_within_its_bound():
    m = _residual(0.25, 0.125, 0.3)
    with pytest.warns(UserWarning, match="node 'add1': the ratios of its input scales"):
        q = from_qonnx(m, mult_bits=4)
    assert list(q.deviations) == ["add1"]
    xin = ALL_INT4_PAIRS * 0.25
    diff = np.abs(q.run(xin)["add1"] - _exact_add(m, xin))
    assert 0 < diff.max() <= q.deviations["add1"].max_steps


def test_relu6_after_dense_equals_the_model_for_every_input():
    g = nn.Graph.sequential([nn.Dense(np.array([[2.0, -1.5], [0.5, 3.0]])), nn.ReLU6()], input_shape=(2,))
    m = ImportedModel(g, {"input": TensorFormat(nf.IntFormat(4), 0.5, 0),
                          "dense0.weight": TensorFormat(nf.IntFormat(4), 0.5, 0),
                          "relu61": TensorFormat(nf.IntFormat(6, signed=False), 0.125, 0)})
    q = from_qonnx(m, exact=True)
    assert q.node("relu61").clip == 48.0
    xin = ALL_INT4_PAIRS * 0.5
    assert np.array_equal(q.forward(xin), m.forward(xin))
    assert q.forward(xin).max() == 6.0


def test_format_keys_must_name_the_graph():
    with pytest.raises(ValueError, match=r"^formats names 'relu6_1', which is not the graph input, a node"):
        from_qonnx(_imported({"input": I8, "dense0.weight": W4, "relu1": U8, "relu6_1": U8}))



# -- Trunc: Brevitas' TruncAvgPool2d ----------------------------------------------------------
def _qonnx_round(v: Fraction, mode: str) -> int:
    """The QONNX rounding_mode table, in exact arithmetic (np.round, ceil, floor, sign·ceil|v|, np.fix,
    sign·floor(|v| + 1/2), sign·ceil(|v| − 1/2))."""
    sign = -1 if v < 0 else 1
    return {"ROUND": lambda: round(v), "FLOOR": lambda: math.floor(v), "CEIL": lambda: math.ceil(v),
            "UP": lambda: sign * math.ceil(abs(v)), "DOWN": lambda: sign * math.floor(abs(v)),
            "HALF_UP": lambda: sign * math.floor(abs(v) + Fraction(1, 2)),
            "HALF_DOWN": lambda: sign * math.ceil(abs(v) - Fraction(1, 2))}[mode]()


def _trunc_ref(S, k, s_in, in_scale, T, mode, qmin, qmax):
    """QONNX Trunc v2 of an average pool's output, exactly: n = RNE(mean / in_scale), q = clamp(R(n·2**-T))."""
    n = round(Fraction(S) * Fraction(s_in) / (k * Fraction(in_scale)))
    return min(max(_qonnx_round(n * Fraction(2) ** -T, mode), qmin), qmax)


def test_truncavgpool_export_is_a_shift_of_the_window_sum(digits):
    m, rec, x = _export("cnn_truncavgpool_pow2", digits)
    assert [type(n.layer).__name__ for n in m.graph.nodes] == ["Conv2d", "ReLU", "AvgPool2d", "Flatten", "Dense"]
    tf, relu = m.formats["node_avg_pool2d"], m.formats["node_relu"]
    # Brevitas: the Trunc's scale is the window sum's (s / 4), its output the input's scale, 10 -> 8 bits
    assert float(tf.in_scale) == float(relu.scale) / 4 and float(tf.scale) == float(relu.scale)
    assert int(tf.trunc_shift) == 2 and str(tf.format) == "uint8" and tf.rounding is nf.Rounding.NEAREST_EVEN
    q = from_qonnx(m, exact=True)
    pool = q.node("node_avg_pool2d")
    assert isinstance(pool, QAvgPoolRequant) and (pool.multiplier, pool.shift) == (1, 2)
    assert pool.x == q.node("node_relu").out and pool.out.scale == float(tf.scale)
    # against the exact Trunc of every window sum; ties are frequent, so the tie rule is checked
    vals = q.run(x)
    S = nn.AvgPool2d(2).windows(vals["node_relu"]).sum(axis=(4, 5)).astype(np.int64)
    assert np.count_nonzero(S % 8 == 2) > 1000 and np.count_nonzero(S % 8 == 6) > 1000
    s = float(relu.scale)
    ref = np.vectorize(lambda v: _trunc_ref(int(v), 4, s, s / 4, 2, "ROUND", 0, 255))(S)
    assert np.array_equal(vals["node_avg_pool2d"], ref.astype(np.float64))
    assert "avgpool_requant" in repr(q)


def _pool_model(pool, tail, *, in_shape=(1, 2, 2), in_bits=4, in_signed=1, s_in=0.25):
    """x → Quant(int, s_in) → ``pool`` → ``tail`` (a Trunc or Quant into "t") → Flatten → Gemm (identity
    weight) → Quant(int16)."""
    feats = in_shape[0]
    nodes = [_quant_node("x", "xq", "qin", "s_in", "b_in", signed=in_signed), *pool, *tail,
             helper.make_node("Flatten", ["t"], ["f"], name="flat"),
             _quant_node("w0", "w", "qw", "s_w", "b_w"),
             helper.make_node("Gemm", ["f", "w"], ["g"], name="fc", transB=1),
             _quant_node("g", "y", "qout", "s_out", "b_out")]
    inits = [_const("s_in", s_in), _const("b_in", in_bits), _const("z", 0.0), _const("w0", np.eye(feats)),
             _const("s_w", 1.0), _const("b_w", 2.0), _const("s_out", 2.0 ** -12), _const("b_out", 16.0)]
    return nodes, inits


def _quant_node(inp, out, name, scale, bits, signed=1, narrow=0, mode="ROUND"):
    return helper.make_node("Quant", [inp, scale, "z", bits], [out], name=name, domain=QDOMAIN, signed=signed,
                            narrow=narrow, rounding_mode=mode)


def _trunc_node(inp="p", *, mode="ROUND", signed=1, narrow=0, extra=()):
    return helper.make_node("Trunc", [inp, "t_in", "z", "t_ib", "t_out", "t_ob", *extra], ["t"], name="trunc",
                            domain=QDOMAIN, rounding_mode=mode, signed=signed, narrow=narrow)


def _trunc_inits(in_scale, out_scale, out_bits, in_bits=8):
    return [_const("t_in", in_scale), _const("t_out", out_scale), _const("t_ib", in_bits), _const("t_ob", out_bits)]


def _build(nodes, inits, in_shape, out_features):
    graph = helper.make_graph(nodes, "t", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, *in_shape])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, out_features])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18), helper.make_opsetid(QDOMAIN, 2)])
    onnx.checker.check_model(model)
    return model


AVGPOOL = [helper.make_node("AveragePool", ["xq"], ["p"], name="pool", kernel_shape=[2, 2], strides=[2, 2])]
ALL_INT4_WINDOWS = np.array(list(itertools.product(range(-8, 8), repeat=4)), dtype=np.float64).reshape(-1, 1, 2, 2)


@pytest.mark.parametrize("mode", ["ROUND", "FLOOR", "CEIL", "UP", "DOWN", "HALF_UP", "HALF_DOWN"])
@pytest.mark.parametrize("T,narrow", [(2, 0), (1, 1)])         # T = 1 clamps to int4 (narrow: -7..7)
def test_trunc_after_avgpool_equals_qonnx_for_every_int4_window(mode, T, narrow):
    s_in = 0.25
    nodes, inits = _pool_model(AVGPOOL, [_trunc_node(mode=mode, narrow=narrow)])
    m = load_onnx(_build(nodes, inits + _trunc_inits(s_in / 4, s_in / 4 * 2 ** T, 4), (1, 2, 2), 1))
    assert int(m.formats["pool"].trunc_shift) == T
    q = from_qonnx(m, exact=True)
    assert (q.node("pool").multiplier, q.node("pool").shift) == (1, T)
    S = ALL_INT4_WINDOWS.sum(axis=(1, 2, 3)).astype(np.int64)
    qmin = -7 if narrow else -8
    table = {v: _trunc_ref(v, 4, s_in, s_in / 4, T, mode, qmin, 7) for v in range(-32, 29)}
    ref = np.array([table[v] for v in S], dtype=np.float64)
    xin = ALL_INT4_WINDOWS * s_in
    assert np.array_equal(q.run(xin)["pool"].reshape(-1), ref)                     # the integer datapath
    assert np.array_equal(m.run(xin)["pool"].reshape(-1), ref * (s_in / 4 * 2 ** T))  # the fake-quant forward
    assert np.array_equal(q.forward(xin), m.forward(xin))


def test_trunc_off_the_window_sum_scale_is_reported_within_its_bound():
    # the Trunc's scale is s_in / 3 on a 2x2 pool: x / scale = S·3/4 is rounded first, a second rounding
    s_in = 0.25
    nodes, inits = _pool_model(AVGPOOL, [_trunc_node(mode="FLOOR")])
    m = load_onnx(_build(nodes, inits + _trunc_inits(s_in / 3, s_in / 3 * 4, 4), (1, 2, 2), 1))
    with pytest.raises(ValueError, match=r"^node 'pool': the Trunc's scale is not the window sum's s_x / k .*"
                                         r"\(exact=True\)$"):
        from_qonnx(m, exact=True)
    with pytest.warns(UserWarning, match="node 'pool'"):
        q = from_qonnx(m, mult_bits=8)
    dev = q.deviations["pool"]
    S = ALL_INT4_WINDOWS.sum(axis=(1, 2, 3)).astype(np.int64)
    ref = np.array([_trunc_ref(int(v), 4, s_in, float(np.float64(s_in / 3)), 2, "FLOOR", -8, 7) for v in S])
    diff = np.abs(q.run(ALL_INT4_WINDOWS * s_in)["pool"].reshape(-1) - ref)
    assert 0 < diff.max() <= dev.max_steps


@pytest.mark.parametrize("s_y,exact", [(0.125, True), (0.3, False)])
def test_quant_after_avgpool(s_y, exact):
    s_in = 0.25
    tail = [_quant_node("p", "t", "qp", "s_p", "b_p")]
    nodes, inits = _pool_model(AVGPOOL, tail)
    m = load_onnx(_build(nodes, inits + [_const("s_p", s_y), _const("b_p", 4.0)], (1, 2, 2), 1))
    with warnings.catch_warnings():
        warnings.simplefilter("error" if exact else "ignore", UserWarning)
        q = from_qonnx(m, exact=exact, mult_bits=8)
    S = ALL_INT4_WINDOWS.sum(axis=(1, 2, 3)).astype(np.int64)
    ref = np.array([min(max(round(Fraction(int(v)) * Fraction(s_in) / (4 * Fraction(s_y))), -8), 7) for v in S])
    diff = np.abs(q.run(ALL_INT4_WINDOWS * s_in)["pool"].reshape(-1) - ref)
    if exact:
        assert q.deviations == {} and diff.max() == 0
    else:
        assert 0 < diff.max() <= q.deviations["pool"].max_steps
        assert "is not a dyadic number of 8 bits" in q.deviations["pool"].cause


@pytest.mark.parametrize("axes", [[2, 3], [-1, -2]])
def test_global_pool_reducemean_trunc_as_brevitas(axes):
    """Brevitas' TruncAdaptiveAvgPool2d((1, 1)) over 3x3: ReduceMean, then Trunc with scale fl32(s / 9) and
    output scale 16·fl32(s / 9) (uint4 in, 8-bit sum, 4 bits out): exact, though s / 9 is not dyadic."""
    s_in = 0.125
    t_in = float(np.float32(s_in / 9))
    pool = [helper.make_node("ReduceMean", ["xq", "axes"], ["p"], name="pool", keepdims=1)]
    nodes, inits = _pool_model(pool, [_trunc_node(mode="ROUND", signed=0)], in_shape=(2, 3, 3), in_signed=0,
                               s_in=s_in)
    inits += _trunc_inits(t_in, t_in * 16, 4) + [numpy_helper.from_array(np.array(axes, dtype=np.int64), "axes")]
    m = load_onnx(_build(nodes, inits, (2, 3, 3), 2))
    assert m.graph.node("pool").layer.kernel == (3, 3)
    q = from_qonnx(m, exact=True)
    assert (q.node("pool").multiplier, q.node("pool").shift) == (1, 4)
    rng = np.random.default_rng(5)
    X = np.concatenate([rng.integers(0, 16, size=(4000, 2, 3, 3)), np.zeros((1, 2, 3, 3)),
                        np.full((1, 2, 3, 3), 15)]).astype(np.float64)
    S = X.sum(axis=(2, 3)).astype(np.int64)
    ref = np.vectorize(lambda v: _trunc_ref(int(v), 9, s_in, t_in, 4, "ROUND", 0, 15))(S).astype(np.float64)
    assert np.array_equal(q.run(X * s_in)["pool"].reshape(-1, 2), ref)
    assert np.array_equal(m.run(X * s_in)["pool"].reshape(-1, 2), ref * (t_in * 16))
    assert ref[-1].tolist() == [8, 8] and ref[-2].tolist() == [0, 0]          # 9·15 = 135 → RNE(135 / 16)


def _pool_error_model(pool=AVGPOOL, trunc=None, inits=None, in_shape=(1, 2, 2)):
    nodes, base = _pool_model(pool, [trunc if trunc is not None else _trunc_node()], in_shape=in_shape)
    return _build(nodes, base + (inits if inits is not None else _trunc_inits(1 / 16, 0.25, 4)), in_shape,
                  in_shape[0])


@pytest.mark.parametrize("make,match", [
    (lambda: _pool_error_model(trunc=helper.make_node("Trunc", ["p", "t_in", "z", "t_ib", "t_ob"], ["t"],
                                                      name="trunc", domain=QDOMAIN, rounding_mode="FLOOR")),
     r"node 'trunc' \(Trunc\): a 5-input Trunc \(QONNX Trunc v1"),
    (lambda: _pool_error_model(inits=_trunc_inits(1 / 16, 0.25, 4)[:-1] + [_const("t_ob", 40.0)]),
     r"node 'trunc' \(Trunc\): output_bit_width must be one integer in 1..32, not 40.0"),
    (lambda: _pool_error_model(trunc=_trunc_node(mode="STOCHASTIC")),
     r"node 'trunc' \(Trunc\): attribute rounding_mode='STOCHASTIC' is not supported"),
    (lambda: _pool_error_model(inits=_trunc_inits(1 / 16, 2.0 ** 70, 4)),
     r"node 'trunc' \(Trunc\): log2\(scale / in_scale\) rounds to 74: a Trunc shifts by at most 64 bits"),
    (lambda: _pool_error_model(pool=[helper.make_node("ReduceMean", ["xq", "ax"], ["p"], name="pool", keepdims=0)],
                               inits=_trunc_inits(1 / 16, 0.25, 4)
                               + [numpy_helper.from_array(np.array([2, 3], dtype=np.int64), "ax")]),
     r"node 'pool' \(ReduceMean\): attribute keepdims=0 is not supported \(only 1: the output is \(N, C, 1, 1\)\)"),
    (lambda: _pool_error_model(pool=[helper.make_node("ReduceMean", ["xq", "ax"], ["p"], name="pool")],
                               inits=_trunc_inits(1 / 16, 0.25, 4)
                               + [numpy_helper.from_array(np.array([1, 2, 3], dtype=np.int64), "ax")]),
     r"node 'pool' \(ReduceMean\): only a mean over the two spatial axes .* not axes \[1, 2, 3\] of a tensor "
     r"of shape \(N, 1, 2, 2\)"),
])
def test_trunc_and_reducemean_import_errors(make, match):
    with pytest.raises(ValueError, match=match):
        load_onnx(make())


def test_trunc_needs_zero_point_zero():
    nodes, inits = _pool_model(AVGPOOL, [helper.make_node("Trunc", ["p", "t_in", "zt", "t_ib", "t_out", "t_ob"],
                                                          ["t"], name="trunc", domain=QDOMAIN)])
    with pytest.raises(ValueError, match=r"node 'trunc' \(Trunc\): zeropt must be 0 \(Brevitas exports no other\)"):
        load_onnx(_build(nodes, inits + _trunc_inits(1 / 16, 0.25, 4) + [_const("zt", 1.0)], (1, 2, 2), 1))


def test_trunc_elsewhere_and_unquantized_pool_are_refused():
    # a Trunc on the Gemm's output (not after an AvgPool2d)
    nodes = [_quant_node("x", "xq", "qin", "s_in", "b_in"), helper.make_node("Flatten", ["xq"], ["f"], name="flat"),
             _quant_node("w0", "w", "qw", "s_w", "b_w"), helper.make_node("Gemm", ["f", "w"], ["p"], name="fc",
                                                                          transB=1),
             _trunc_node(), helper.make_node("Relu", ["t"], ["y"], name="relu")]
    inits = [_const("s_in", 0.25), _const("b_in", 4.0), _const("z", 0.0), _const("w0", np.eye(4)),
             _const("s_w", 1.0), _const("b_w", 2.0)] + _trunc_inits(1 / 16, 0.25, 4)
    m = load_onnx(_build(nodes, inits, (1, 2, 2), 4))
    assert m.formats["fc"].in_scale is not None
    with pytest.raises(ValueError, match=r"^the quantizer on 'fc' is a QONNX Trunc: from_qonnx reads a Trunc only "
                                         r"after an AvgPool2d"):
        from_qonnx(m)
    # an AvgPool2d without a quantizer after it
    g = nn.Graph.sequential([nn.Conv2d(np.ones((1, 1, 1, 1))), nn.AvgPool2d(2)], input_shape=(1, 2, 2))
    fmts = {"input": I8, "conv2d0.weight": W4, "conv2d0": I8}
    with pytest.raises(ValueError, match=r"^node 'avgpool2d1': an AvgPool2d at the graph output needs a Trunc or "
                                         r"Quant after it$"):
        from_qonnx(ImportedModel(g, fmts))


def test_trunc_tensor_format():
    u8 = nf.IntFormat(8, signed=False)
    tf = TensorFormat(u8, 1.0, 0, in_scale=0.25)
    assert repr(tf) == "TensorFormat(uint8, scale=1.0, zero_point=0, rounding='rne', in_scale=0.25)"
    assert tf != TensorFormat(u8, 1.0, 0) and tf == TensorFormat(u8, 1.0, 0, in_scale=np.float32(0.25))
    # T is the nearest integer to log2(scale / in_scale): 2**2.5 ≈ 5.657 is the boundary
    assert int(TensorFormat(u8, 5.65, 0, in_scale=1.0).trunc_shift) == 2
    assert int(TensorFormat(u8, 5.66, 0, in_scale=1.0).trunc_shift) == 3
    assert int(TensorFormat(u8, 0.5, 0, in_scale=1.0).trunc_shift) == -1
    assert TensorFormat(u8, 1.0, 0).trunc_shift is None
    with pytest.raises(ValueError, match=r"^in_scale must be positive and finite, not -0.5$"):
        TensorFormat(u8, 1.0, 0, in_scale=-0.5)
    with pytest.raises(ValueError, match=r"^a Trunc TensorFormat \(in_scale given\) needs zero_point 0"):
        TensorFormat(u8, 1.0, 3, in_scale=0.25)
