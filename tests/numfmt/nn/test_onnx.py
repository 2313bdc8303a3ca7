"""ONNX / QONNX import (numfmt.nn.onnx) against an independent NumPy evaluation of the ONNX graph.

Models are built here with ``onnx.helper``. Their weights and inputs are small dyadic
rationals (k/8, k/4) and every BatchNorm has ``var + eps`` a power of four, so every
intermediate value is exactly representable in float64: any correct evaluation, in
any summation order, gives the same bits. ``np.array_equal`` is therefore the right
comparison between ``Graph.forward`` and ``_evaluate`` (the reference below), and
between ``_evaluate`` and ONNX's own ``onnx.reference.ReferenceEvaluator``.
``TensorFormat`` is checked against a ``fractions.Fraction`` reference.
"""

from __future__ import annotations

import math
import sys
from fractions import Fraction

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402
from onnx.reference import ReferenceEvaluator  # noqa: E402

import numfmt as nf  # noqa: E402
from numfmt import nn  # noqa: E402
from numfmt.modes import Rounding  # noqa: E402
from numfmt.nn.onnx import QONNX_ROUNDING, ImportedModel, TensorFormat, from_onnx, load_onnx  # noqa: E402

SEED = 20_240_4
QDOMAIN = "qonnx.custom_op.general"


# -- building models ------------------------------------------------------------------------
def _const(name, value):
    return numpy_helper.from_array(np.asarray(value, dtype=np.float64), name)


def _model(nodes, inits, in_shape, name="x", out="y", elem=TensorProto.DOUBLE, opset=17):
    graph = helper.make_graph(nodes, "test", [helper.make_tensor_value_info(name, elem, ["N", *in_shape])],
                              [helper.make_tensor_value_info(out, elem, ["N", "F"])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset),
                                                    helper.make_opsetid(QDOMAIN, 1)])
    onnx.checker.check_model(model)
    return model


def _dyadic(rng, shape, denom=8, k=8):
    """Random multiples of 1/denom in [-k/denom, k/denom]."""
    return rng.integers(-k, k + 1, size=shape) / denom


# -- an independent evaluation of an ONNX graph in NumPy ------------------------------------------
def _conv(x, w, b, strides, pads):
    n, c, h, wd = x.shape
    oc, _, kh, kw = w.shape
    xp = np.zeros((n, c, h + 2 * pads[0], wd + 2 * pads[1]))
    xp[:, :, pads[0]:pads[0] + h, pads[1]:pads[1] + wd] = x
    oh = (xp.shape[2] - kh) // strides[0] + 1
    ow = (xp.shape[3] - kw) // strides[1] + 1
    y = np.zeros((n, oc, oh, ow))
    for i in range(oh):
        for j in range(ow):
            patch = xp[:, :, i * strides[0]:i * strides[0] + kh, j * strides[1]:j * strides[1] + kw]
            for o in range(oc):
                y[:, o, i, j] = (patch * w[o]).sum(axis=(1, 2, 3)) + (b[o] if b is not None else 0.0)
    return y


def _pool(x, kernel, strides, reduce):
    n, c, h, w = x.shape
    oh, ow = (h - kernel[0]) // strides[0] + 1, (w - kernel[1]) // strides[1] + 1
    y = np.zeros((n, c, oh, ow))
    for i in range(oh):
        for j in range(ow):
            y[:, :, i, j] = reduce(x[:, :, i * strides[0]:i * strides[0] + kernel[0],
                                     j * strides[1]:j * strides[1] + kernel[1]], axis=(2, 3))
    return y


_QONNX_ROUND = {   # the QONNX operator's table, as NumPy functions
    "ROUND": np.round, "CEIL": np.ceil, "FLOOR": np.floor, "DOWN": np.trunc,
    "UP": lambda v: np.where(v >= 0, np.ceil(v), np.floor(v)),
    "HALF_UP": lambda v: np.where(v >= 0, np.floor(v + 0.5), np.ceil(v - 0.5)),
    "HALF_DOWN": lambda v: np.where(v >= 0, np.ceil(v - 0.5), np.floor(v + 0.5)),
}


def _qonnx_quant(x, scale, zp, bits, signed, narrow, mode):
    """The QONNX Quant operator's definition in float (exact on the dyadic test data)."""
    bits = int(bits)
    lo = (-(2 ** (bits - 1)) + narrow) if signed else 0
    hi = (2 ** (bits - 1) - 1) if signed else (2 ** bits - 1 - narrow)
    v = np.clip(x / scale + zp, lo, hi)
    return (_QONNX_ROUND[mode](v) - zp) * scale


def _evaluate(model, x):
    """Run the ONNX graph with plain NumPy, op by op, from the ONNX / QONNX operator definitions."""
    env = {t.name: numpy_helper.to_array(t).astype(np.float64) for t in model.graph.initializer}
    env[model.graph.input[0].name] = x
    for node in model.graph.node:
        a = {at.name: helper.get_attribute_value(at) for at in node.attribute}
        a = {k: v.decode() if isinstance(v, bytes) else v for k, v in a.items()}
        ins = [env[i] if i else None for i in node.input]
        op = node.op_type
        if op == "Gemm":
            A, B = ins[0], ins[1]
            B = B.T if a.get("transB", 0) else B
            y = a.get("alpha", 1.0) * (A @ B)
            if len(ins) > 2:
                y = y + a.get("beta", 1.0) * ins[2]
        elif op == "MatMul":
            y = ins[0] @ ins[1]
        elif op == "Add":
            y = ins[0] + ins[1]
        elif op == "Relu":
            y = np.maximum(ins[0], 0.0)
        elif op == "Clip":
            lo = ins[1] if len(ins) > 1 else a["min"]
            y = np.maximum(ins[0], lo)
            if len(ins) > 2 or "max" in a:
                y = np.minimum(y, ins[2] if len(ins) > 2 else a["max"])
        elif op == "Conv":
            pads = a.get("pads", [0, 0, 0, 0])
            y = _conv(ins[0], ins[1], ins[2] if len(ins) > 2 else None, a.get("strides", [1, 1]), pads[:2])
        elif op in ("MaxPool", "AveragePool"):
            y = _pool(ins[0], a["kernel_shape"], a.get("strides", [1, 1]),
                      np.max if op == "MaxPool" else np.mean)
        elif op in ("Flatten", "Reshape"):
            y = ins[0].reshape(ins[0].shape[0], -1)
        elif op == "BatchNormalization":
            xx, g, b, m, v = ins
            view = (1, -1) + (1,) * (xx.ndim - 2)
            y = (xx - m.reshape(view)) / np.sqrt(v.reshape(view) + a.get("epsilon", 1e-5)) \
                * g.reshape(view) + b.reshape(view)
        elif op == "Quant":
            y = _qonnx_quant(*ins, a.get("signed", 1), a.get("narrow", 0), a.get("rounding_mode", "ROUND"))
        elif op == "BipolarQuant":
            y = np.where(ins[0] >= 0, 1.0, -1.0) * ins[1]
        elif op == "Constant":
            y = numpy_helper.to_array(a["value"]).astype(np.float64)
        elif op == "Identity":
            y = ins[0]
        elif op == "Transpose":
            y = ins[0].transpose(a.get("perm"))
        else:  # pragma: no cover - the tests only build the ops above
            raise AssertionError(op)
        env[node.output[0]] = y
    return env[model.graph.output[0].name]


def _check(model, x):
    """Import ``model`` and compare its float graph with ``_evaluate`` and ONNX's evaluator."""
    g = from_onnx(model)
    want = _evaluate(model, x)
    assert np.array_equal(ReferenceEvaluator(model).run(None, {"x": x})[0], want)
    got = g.forward(x)
    assert got.dtype == np.float64 and got.shape == want.shape
    assert np.array_equal(got, want)
    return g


def _kinds(g):
    return [type(n.layer).__name__ for n in g.nodes]


# -- float models -------------------------------------------------------------------------------
def _mlp(rng):
    nodes = [
        helper.make_node("Gemm", ["x", "w1", "b1"], ["h1"], name="fc1", transB=1),
        helper.make_node("Relu", ["h1"], ["r1"], name="relu1"),
        helper.make_node("Gemm", ["r1", "w2", "b2"], ["h2"], name="fc2", alpha=0.5, beta=2.0),
        helper.make_node("Relu", ["h2"], ["r2"], name="relu2"),
        helper.make_node("Gemm", ["r2", "w3"], ["y"], name="fc3", transB=1),
    ]
    inits = [_const("w1", _dyadic(rng, (12, 6))), _const("b1", _dyadic(rng, (12,))),
             _const("w2", _dyadic(rng, (12, 8))), _const("b2", _dyadic(rng, (1, 8))),
             _const("w3", _dyadic(rng, (3, 8)))]
    return _model(nodes, inits, (6,))


def test_mlp_gemm_relu(tmp_path):
    rng = np.random.default_rng(SEED)
    model = _mlp(rng)
    x = _dyadic(rng, (20, 6), denom=4)
    g = _check(model, x)
    assert _kinds(g) == ["Dense", "ReLU", "Dense", "ReLU", "Dense"]
    assert [n.name for n in g.nodes] == ["fc1", "relu1", "fc2", "relu2", "fc3"]
    assert g.input_shape == (6,) and g.input_name == "x" and g.output == "fc3"
    w2 = numpy_helper.to_array(model.graph.initializer[2])
    assert np.array_equal(g.node("fc2").layer.weight, 0.5 * w2.T)       # alpha folded, B transposed
    assert np.array_equal(g.node("fc2").layer.bias, 2.0 * numpy_helper.to_array(model.graph.initializer[3])[0])
    # bytes, a path (str and PathLike) and the ModelProto all import to the same graph
    path = tmp_path / "mlp.onnx"
    onnx.save(model, path)
    for source in (model.SerializeToString(), path, str(path)):
        assert np.array_equal(from_onnx(source).forward(x), g.forward(x))


def test_mlp_random_float_weights_equal_the_same_expression():
    """Non-dyadic float32 weights: Gemm(transB=1) is ``x @ B.T + C`` exactly as Dense computes it."""
    rng = np.random.default_rng(SEED + 1)
    w = rng.standard_normal((5, 7)).astype(np.float32)
    b = rng.standard_normal(5).astype(np.float32)
    model = _model([helper.make_node("Gemm", ["x", "w", "b"], ["y"], name="fc", transB=1)],
                   [numpy_helper.from_array(w, "w"), numpy_helper.from_array(b, "b")], (7,),
                   elem=TensorProto.FLOAT)
    x = rng.standard_normal((9, 7))
    got = from_onnx(model).forward(x)
    assert np.array_equal(got, x @ w.astype(np.float64).T + b.astype(np.float64))


@pytest.mark.parametrize("const_first", [False, True])
def test_matmul_add_folds_into_dense_bias(const_first):
    rng = np.random.default_rng(SEED + 2)
    adds = ["c", "m"] if const_first else ["m", "c"]
    nodes = [helper.make_node("MatMul", ["x", "w"], ["m"], name="mm"),
             helper.make_node("Add", adds, ["a"], name="bias"),
             helper.make_node("Relu", ["a"], ["y"], name="relu")]
    w, c = _dyadic(rng, (5, 4)), _dyadic(rng, (4,))
    model = _model(nodes, [_const("w", w), _const("c", c)], (5,))
    g = _check(model, _dyadic(rng, (7, 5), denom=4))
    assert _kinds(g) == ["Dense", "ReLU"]
    assert np.array_equal(g.node("mm").layer.weight, w.T) and np.array_equal(g.node("mm").layer.bias, c)
    assert g.node("relu").inputs == ("mm",)


def _cnn(rng, flatten="Flatten"):
    eps = 0.25
    var = np.array([0.75, 3.75, 0.0, 15.75])        # var + eps: 1, 4, 1/4, 16 (exact square roots)
    nodes = [
        helper.make_node("Conv", ["x", "cw1"], ["c1"], name="conv1", pads=[1, 1, 1, 1], kernel_shape=[3, 3]),
        helper.make_node("BatchNormalization", ["c1", "g", "be", "mu", "var"], ["n1"], name="bn1", epsilon=eps),
        helper.make_node("Relu", ["n1"], ["r1"], name="relu1"),
        helper.make_node("MaxPool", ["r1"], ["p1"], name="pool1", kernel_shape=[2, 2], strides=[2, 2]),
        helper.make_node("Conv", ["p1", "cw2", "cb2"], ["c2"], name="conv2", strides=[1, 2], pads=[1, 0, 1, 0]),
        helper.make_node("Clip", ["c2", "zero", "six"], ["r2"], name="relu6"),
        helper.make_node("AveragePool", ["r2"], ["p2"], name="pool2", kernel_shape=[2, 1], strides=[1, 1]),
    ]
    if flatten == "Flatten":
        nodes.append(helper.make_node("Flatten", ["p2"], ["f"], name="flat", axis=1))
    else:
        nodes.append(helper.make_node("Reshape", ["p2", "shape"], ["f"], name="flat"))
    nodes.append(helper.make_node("Gemm", ["f", "fw", "fb"], ["y"], name="fc", transB=1))
    inits = [_const("cw1", _dyadic(rng, (4, 1, 3, 3))), _const("g", _dyadic(rng, (4,))),
             _const("be", _dyadic(rng, (4,))), _const("mu", _dyadic(rng, (4,))), _const("var", var),
             _const("cw2", _dyadic(rng, (3, 4, 3, 2))), _const("cb2", _dyadic(rng, (3,))),
             _const("zero", 0.0), _const("six", 6.0),
             _const("fw", _dyadic(rng, (5, 3 * 3 * 2))), _const("fb", _dyadic(rng, (5,))),
             numpy_helper.from_array(np.array(flatten, dtype=np.int64), "shape")
             if flatten != "Flatten" else _const("unused", 0.0)]
    return _model(nodes, inits, (1, 8, 8))


@pytest.mark.parametrize("flatten", ["Flatten", [0, -1], [-1, 18], [0, 18]])
def test_cnn_conv_bn_relu_pools_flatten_gemm(flatten):
    rng = np.random.default_rng(SEED + 3)
    model = _cnn(rng, flatten)
    x = _dyadic(rng, (6, 1, 8, 8), denom=4)
    g = _check(model, x)
    assert _kinds(g) == ["Conv2d", "BatchNorm", "ReLU", "MaxPool2d", "Conv2d", "ReLU6", "AvgPool2d",
                         "Flatten", "Dense"]
    assert g.node("conv2").layer.stride == (1, 2) and g.node("conv2").layer.padding == (1, 0)
    assert g.node("pool2").layer.kernel == (2, 1) and g.node("pool2").layer.stride == (1, 1)
    assert g.node("bn1").layer.eps == 0.25
    # the BatchNorm folds into conv1 (exactly, on this data)
    folded = nn.fold_batchnorm(g)
    assert "BatchNorm" not in _kinds(folded)
    assert np.array_equal(folded.forward(x), g.forward(x))


def test_residual_add():
    rng = np.random.default_rng(SEED + 4)
    nodes = [helper.make_node("Gemm", ["x", "w1", "b1"], ["h1"], name="fc1", transB=1),
             helper.make_node("Relu", ["h1"], ["r1"], name="relu1"),
             helper.make_node("Gemm", ["r1", "w2", "b2"], ["h2"], name="fc2", transB=1),
             helper.make_node("Add", ["r1", "h2"], ["s"], name="res"),
             helper.make_node("Relu", ["s"], ["r2"], name="relu2"),
             helper.make_node("Gemm", ["r2", "w3"], ["y"], name="out", transB=1)]
    inits = [_const("w1", _dyadic(rng, (8, 4))), _const("b1", _dyadic(rng, (8,))),
             _const("w2", _dyadic(rng, (8, 8))), _const("b2", _dyadic(rng, (8,))),
             _const("w3", _dyadic(rng, (2, 8)))]
    g = _check(_model(nodes, inits, (4,)), _dyadic(rng, (10, 4), denom=4))
    assert g.node("res").inputs == ("relu1", "fc2")
    assert isinstance(g.node("res").layer, nn.Add)


def test_constant_node_identity_transpose_and_unnamed_nodes():
    rng = np.random.default_rng(SEED + 5)
    w = _dyadic(rng, (3, 4))
    nodes = [helper.make_node("Constant", [], ["wc"], value=numpy_helper.from_array(w)),
             helper.make_node("Transpose", ["wc"], ["wt"], perm=[1, 0]),
             helper.make_node("Identity", ["x"], ["xi"]),
             helper.make_node("MatMul", ["xi", "wt"], ["m"]),
             helper.make_node("Clip", ["m"], ["y"], min=0.0)]
    g = _check(_model(nodes, [], (4,), opset=10), _dyadic(rng, (5, 4), denom=4))
    assert [n.name for n in g.nodes] == ["m", "y"]           # unnamed nodes take their output's name
    assert _kinds(g) == ["Dense", "ReLU"] and np.array_equal(g.node("m").layer.weight, w)


def test_float32_model_and_fixed_batch_dim():
    w = np.array([[0.5, -0.25]], dtype=np.float32)
    graph = helper.make_graph([helper.make_node("MatMul", ["x", "w"], ["y"], name="mm")], "g",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 2])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 1])],
                              [numpy_helper.from_array(w.T.copy(), "w")])
    g = from_onnx(helper.make_model(graph))
    assert g.input_shape == (2,)
    assert g.forward(np.array([[2.0, 4.0], [1.0, 0.0]])).tolist() == [[0.0], [0.5]]


# -- QONNX ------------------------------------------------------------------------------------
def _q(name, inputs, out, signed=1, narrow=0, mode="ROUND"):
    return helper.make_node("Quant", inputs, [out], name=name, domain=QDOMAIN, signed=signed,
                            narrow=narrow, rounding_mode=mode)


def _qonnx_model(rng):
    """A Brevitas-style 3-layer MLP: quantized input, weights, bias and activations."""
    w1 = _dyadic(rng, (8, 6))
    s1 = np.array([2.0 ** -k for k in rng.integers(1, 4, size=8)]).reshape(8, 1)   # per output channel
    w2 = _dyadic(rng, (8, 4))                                                      # MatMul layout (in, out)
    s2 = np.array([[0.25, 0.125, 0.5, 0.25]])                                      # per output column
    nodes = [
        _q("qin", ["x", "s_in", "zero", "b8"], "xq"),
        _q("qw1", ["w1", "s1", "zero", "b4"], "w1q", narrow=1),
        _q("qb1", ["b1", "s_b1", "zero", "b16"], "b1q"),
        helper.make_node("Gemm", ["xq", "w1q", "b1q"], ["h1"], name="fc1", transB=1),
        helper.make_node("Relu", ["h1"], ["r1"], name="relu1"),
        _q("qa1", ["r1", "s_a1", "zp_a1", "b4"], "r1q", signed=0, mode="FLOOR"),
        _q("qw2", ["w2", "s2", "zero", "b3"], "w2q", mode="HALF_UP"),
        helper.make_node("MatMul", ["r1q", "w2q"], ["m2"], name="fc2"),
        helper.make_node("Add", ["m2", "b2"], ["h2"], name="fc2_bias"),
        helper.make_node("BipolarQuant", ["w3", "s3"], ["w3q"], name="qw3", domain=QDOMAIN),
        helper.make_node("Gemm", ["h2", "w3q"], ["y"], name="fc3", transB=1),
    ]
    inits = [_const("s_in", 0.0625), _const("zero", 0.0), _const("b8", 8.0), _const("b4", 4.0),
             _const("b3", 3.0), _const("b16", 16.0),
             _const("w1", w1), _const("s1", s1), _const("b1", _dyadic(rng, (8,))),
             _const("s_b1", 2.0 ** -7), _const("s_a1", 0.25), _const("zp_a1", 1.0),
             _const("w2", w2), _const("s2", s2), _const("b2", _dyadic(rng, (4,))),
             _const("w3", _dyadic(rng, (2, 4))), _const("s3", 0.5)]
    return _model(nodes, inits, (6,)), dict(w1=w1, s1=s1, w2=w2, s2=s2)


def test_qonnx_formats():
    rng = np.random.default_rng(SEED + 6)
    model, p = _qonnx_model(rng)
    imported = load_onnx(model)
    assert isinstance(imported, ImportedModel)
    g, formats = imported.graph, imported.formats
    assert _kinds(g) == ["Dense", "ReLU", "Dense", "Dense"]
    assert [n.name for n in g.nodes] == ["fc1", "relu1", "fc2", "fc3"]
    assert formats == {
        "x": TensorFormat(nf.IntFormat(8), 0.0625, 0),
        "fc1.weight": TensorFormat(nf.IntFormat(4), p["s1"], 0, narrow=True),
        "fc1.bias": TensorFormat(nf.IntFormat(16), 2.0 ** -7, 0),
        "relu1": TensorFormat(nf.IntFormat(4, signed=False), 0.25, 1, rounding="floor"),
        "fc2.weight": TensorFormat(nf.IntFormat(3), p["s2"].T, 0, rounding=Rounding.NEAREST_AWAY),
        "fc3.weight": TensorFormat(nf.IntFormat(1, signed=False), 0.5, 0, bipolar=True),
    }
    assert formats["fc2.weight"].scale.shape == (4, 1)          # in the Dense (out, in) layout
    assert formats["relu1"].qmin == 0 and formats["relu1"].qmax == 15
    assert formats["fc1.weight"].qmin == -7
    # weights hold their quantized values: the QONNX definition, and a fixed point of the format
    w1q = _qonnx_quant(p["w1"], p["s1"], 0.0, 4, 1, 1, "ROUND")
    w2q = _qonnx_quant(p["w2"], p["s2"], 0.0, 3, 1, 0, "HALF_UP")
    assert np.array_equal(g.node("fc1").layer.weight, w1q)
    assert np.array_equal(g.node("fc2").layer.weight, w2q.T)
    assert not np.array_equal(w1q, p["w1"])                 # the quantization did something
    for key in ("fc1.weight", "fc2.weight", "fc3.weight"):
        layer = g.node(key.split(".")[0]).layer
        assert np.array_equal(formats[key].quantize(layer.weight), layer.weight)
    assert set(np.unique(g.node("fc3").layer.weight)) <= {-0.5, 0.5}


def test_qonnx_graph_with_formats_reproduces_the_qonnx_evaluation():
    """The float graph with each activation format applied at its node output == QONNX semantics."""
    rng = np.random.default_rng(SEED + 7)
    model, _ = _qonnx_model(rng)
    imported = load_onnx(model)
    g, formats = imported.graph, imported.formats
    x = rng.integers(-40, 41, size=(30, 6)) / 16          # some values saturate the int8 input
    vals = {g.input_name: formats[g.input_name].quantize(x)}
    for node in g.nodes:
        v = node.layer.forward(*(vals[i] for i in node.inputs))
        vals[node.name] = formats[node.name].quantize(v) if node.name in formats else v
    want = _evaluate(model, x)
    assert np.array_equal(vals[g.output], want)
    # without the activation quantizers, the float graph is the QONNX model minus those nodes
    assert not np.array_equal(g.forward(x), want)


def test_qonnx_weight_quant_through_transpose_and_gemm_without_transb():
    rng = np.random.default_rng(SEED + 8)
    w = _dyadic(rng, (3, 5))                                  # (out, in), quantized per row
    s = np.array([[0.25], [0.5], [0.125]])
    nodes = [_q("qw", ["w", "s", "zp", "b"], "wq", signed=0, narrow=1),
             helper.make_node("Transpose", ["wq"], ["wt"], perm=[1, 0]),
             helper.make_node("Gemm", ["x", "wt"], ["y"], name="fc")]
    zp = np.array([[3.0], [2.0], [5.0]])
    model = _model(nodes, [_const("w", w), _const("s", s), _const("zp", zp), _const("b", 4.0)], (5,))
    imported = load_onnx(model)
    tf = imported.formats["fc.weight"]
    assert tf == TensorFormat(nf.IntFormat(4, signed=False), s, zp.astype(int), narrow=True)
    assert tf.qmax == 14
    assert np.array_equal(imported.graph.node("fc").layer.weight, _qonnx_quant(w, s, zp, 4, 0, 1, "ROUND"))
    x = _dyadic(rng, (4, 5), denom=4)
    assert np.array_equal(imported.graph.forward(x), _evaluate(model, x))


def test_qonnx_conv_weight_and_bias():
    """Per-output-channel weight scales of shape (oc, 1, 1, 1) keep the Conv2d layout."""
    rng = np.random.default_rng(SEED + 9)
    w, b = _dyadic(rng, (3, 2, 3, 3)), _dyadic(rng, (3,))
    s = np.array([0.25, 0.125, 0.5]).reshape(3, 1, 1, 1)
    nodes = [_q("qw", ["w", "s", "zero", "b4"], "wq", narrow=1, mode="CEIL"),
             _q("qb", ["b", "sb", "zero", "b8"], "bq"),
             helper.make_node("Conv", ["x", "wq", "bq"], ["c"], name="conv", pads=[1, 1, 1, 1]),
             helper.make_node("Relu", ["c"], ["r"], name="relu"),
             helper.make_node("Flatten", ["r"], ["y"], name="flat")]
    model = _model(nodes, [_const("w", w), _const("s", s), _const("zero", 0.0), _const("b4", 4.0),
                           _const("b", b), _const("sb", 0.25), _const("b8", 8.0)], (2, 4, 4))
    imported = load_onnx(model)
    assert imported.formats == {
        "conv.weight": TensorFormat(nf.IntFormat(4), s, 0, narrow=True, rounding="ceil"),
        "conv.bias": TensorFormat(nf.IntFormat(8), 0.25, 0),
    }
    layer = imported.graph.node("conv").layer
    assert np.array_equal(layer.weight, _qonnx_quant(w, s, 0.0, 4, 1, 1, "CEIL"))
    assert np.array_equal(layer.bias, _qonnx_quant(b, 0.25, 0.0, 8, 1, 0, "ROUND"))
    x = _dyadic(rng, (3, 2, 4, 4), denom=4)
    assert np.array_equal(imported.graph.forward(x), _evaluate(model, x))


# -- TensorFormat against a Fraction reference --------------------------------------------------------
def _ref_round(v: Fraction, mode: str) -> int:
    """Round a rational to an integer, from the QONNX rounding-mode table's definitions."""
    fl = math.floor(v)
    frac = v - fl
    up = fl + (frac != 0)
    if mode == "FLOOR":
        return fl
    if mode == "CEIL":
        return up
    if mode in ("DOWN", "ROUND_TO_ZERO"):
        return fl if v >= 0 else up
    if mode == "UP":
        return up if v >= 0 else fl
    if frac != Fraction(1, 2):
        return fl + (frac > Fraction(1, 2))
    if mode in ("ROUND", "HALF_EVEN"):
        return fl + (fl % 2)
    if mode == "HALF_UP":                 # ties away from zero
        return up if v > 0 else fl
    assert mode == "HALF_DOWN"            # ties toward zero
    return fl if v > 0 else up


def test_rounding_modes_match_the_qonnx_table():
    """The table of the QONNX Quant operator documentation, row by row."""
    xs = [5.5, 2.5, 1.6, 1.1, 1.0, -1.0, -1.1, -1.6, -2.5, -5.5]
    table = {
        "ROUND": [6, 2, 2, 1, 1, -1, -1, -2, -2, -6],
        "CEIL": [6, 3, 2, 2, 1, -1, -1, -1, -2, -5],
        "FLOOR": [5, 2, 1, 1, 1, -1, -2, -2, -3, -6],
        "UP": [6, 3, 2, 2, 1, -1, -2, -2, -3, -6],
        "DOWN": [5, 2, 1, 1, 1, -1, -1, -1, -2, -5],
        "HALF_UP": [6, 3, 2, 1, 1, -1, -1, -2, -3, -6],
        "HALF_DOWN": [5, 2, 2, 1, 1, -1, -1, -2, -2, -5],
    }
    for mode, want in table.items():
        tf = TensorFormat(nf.IntFormat(8), 1.0, 0, rounding=QONNX_ROUNDING[mode])
        assert tf.to_int(xs).tolist() == want, mode
        assert [_ref_round(Fraction(v), mode) for v in xs] == want, mode


@pytest.mark.parametrize("mode", sorted(QONNX_ROUNDING))
@pytest.mark.parametrize("bits,signed,narrow", [(2, True, False), (4, True, True), (4, False, False),
                                                (8, False, True), (8, True, False), (32, True, False)])
def test_to_int_and_quantize_against_fractions(mode, bits, signed, narrow):
    rng = np.random.default_rng([SEED, bits, signed, narrow, len(mode)])
    fmt = nf.IntFormat(bits, signed=signed)
    qmin = fmt.min + (narrow and signed)
    qmax = fmt.max - (narrow and not signed)
    # per-channel scales: float32 values (general) and powers of two (x / scale exact, ties reachable)
    scale = np.concatenate([rng.uniform(0.01, 2.0, 3).astype(np.float32).astype(np.float64),
                            2.0 ** rng.integers(-6, 3, 3).astype(np.float64)]).reshape(6, 1)
    zp = np.zeros((6, 1)) if bits == 32 else rng.integers(qmin, qmax + 1, size=(6, 1)).astype(np.float64)
    span = min(2.0 ** bits, 2.0 ** 12)
    k = rng.integers(-2 * span, 2 * span, size=(6, 40)) / 2        # integers and exact ties (halves)
    x = np.concatenate([k * scale, rng.uniform(-span, span, (6, 40)) * scale,
                        np.full((6, 1), 1e300), np.full((6, 1), -np.inf)], axis=1)
    tf = TensorFormat(fmt, scale, zp, narrow=narrow, rounding=QONNX_ROUNDING[mode])
    assert tf.qmin == qmin and tf.qmax == qmax
    q, y = tf.to_int(x), tf.quantize(x)
    assert q.dtype == np.int64 and y.dtype == np.float64 and q.shape == x.shape
    t = x / scale                                    # the one float64 operation of the definition
    for (i, j), xv in np.ndenumerate(x):
        ref = min(max(_ref_round(Fraction(float(t[i, j])) + int(zp[i, 0]), mode) if np.isfinite(xv)
                      else (qmax if xv > 0 else qmin), qmin), qmax)
        assert q[i, j] == ref, (xv, scale[i, 0], zp[i, 0])
        assert y[i, j] == float((ref - int(zp[i, 0])) * Fraction(float(scale[i, 0]))), (xv, ref)


def test_bipolar_and_unsigned_32_bit():
    tf = TensorFormat(nf.IntFormat(1, signed=False), [[0.5], [2.0]], 0, bipolar=True)
    x = np.array([[-0.0, 0.0, -1e-300], [3.0, -7.0, 0.25]])
    assert tf.to_int(x).tolist() == [[1, 1, -1], [1, -1, 1]]
    assert tf.quantize(x).tolist() == [[0.5, 0.5, -0.5], [2.0, -2.0, 2.0]]
    assert (tf.qmin, tf.qmax) == (-1, 1)
    u32 = TensorFormat(nf.IntFormat(32, signed=False), 1.0, 0)
    assert u32.to_int([-3.0, 2.0 ** 32 - 1.5, 1e20]).tolist() == [0, 2 ** 32 - 2, 2 ** 32 - 1]
    assert TensorFormat(nf.IntFormat(32), 1.0, 0).to_int([-1e20, 1e20]).tolist() == [-2 ** 31, 2 ** 31 - 1]


def test_transpose_and_repr():
    tf = TensorFormat(nf.IntFormat(4), [[0.5, 0.25, 1.0]], [[0, 1, -1]], narrow=True)
    tt = tf.transpose()
    assert tt.scale.shape == (3, 1) and tt.zero_point.tolist() == [[0], [1], [-1]]
    assert repr(tf) == "TensorFormat(int4, scale=array(shape=(1, 3)), zero_point=array(shape=(1, 3)), " \
                       "narrow=True, rounding='rne')"
    assert tf != tt and tf == TensorFormat(nf.IntFormat(4), [[0.5, 0.25, 1.0]], [[0, 1, -1]], narrow=True)
    with pytest.raises(TypeError):
        hash(tf)
    assert not tf.scale.flags.writeable


@pytest.mark.parametrize("kwargs,exc,match", [
    (dict(format=nf.parse("e4m3fn")), TypeError, r"format must be a numfmt.IntFormat, not"),
    (dict(scale=0.0), ValueError, r"scale must be positive and finite, not 0.0"),
    (dict(scale=[1.0, np.inf]), ValueError, r"scale must be positive and finite, not \[1.0, inf\]"),
    (dict(zero_point=0.5), ValueError, r"zero_point must be integer-valued, not 0.5"),
    (dict(zero_point=8), ValueError, r"zero_point must be in -8..7 \(int4\), not 8"),
    (dict(narrow="yes"), ValueError, r"narrow must be True or False, not 'yes'"),
    (dict(rounding="stochastic"), ValueError, r"rounding must be a deterministic mode, not 'stochastic'"),
    (dict(rounding="sideways"), ValueError, r"rounding must be one of .*, not 'sideways'"),
    (dict(bipolar=True), ValueError, r"a bipolar TensorFormat needs format=IntFormat\(1, signed=False\)"),
    (dict(format=nf.IntFormat(32), zero_point=1), ValueError,
     r"q - zero_point spans -2147483649..2147483646, beyond 32 bits; a 32-bit format needs zero_point 0"),
])
def test_tensor_format_errors(kwargs, exc, match):
    args = dict(format=nf.IntFormat(4), scale=1.0, zero_point=0)
    args.update(kwargs)
    with pytest.raises(exc, match=match):
        TensorFormat(args.pop("format"), args.pop("scale"), args.pop("zero_point"), **args)


def test_to_int_rejects_nan():
    with pytest.raises(ValueError, match=r"x must not be NaN \(at index \(1,\)\)"):
        TensorFormat(nf.IntFormat(4), 1.0, 0).to_int([1.0, np.nan])


# -- errors ---------------------------------------------------------------------------------------
def _one(node, inits=(), in_shape=(4,), opset=17):
    return _model([node], list(inits), in_shape, opset=opset)


W44 = _const("w", np.eye(4))
CW = _const("w", np.ones((2, 2, 3, 3)))


@pytest.mark.parametrize("model,match", [
    (lambda: _one(helper.make_node("Softmax", ["x"], ["y"], name="sm")),
     r"node 'sm' \(Softmax\): op type 'Softmax' is not supported \(supported: Add, AveragePool, "),
    (lambda: _one(helper.make_node("LSTM", ["x", "w", "r"], ["y"], name="lstm", hidden_size=2),
                  [_const("w", np.ones((1, 8, 4))), _const("r", np.ones((1, 8, 2)))], in_shape=(1, 4)),
     r"node 'lstm' \(LSTM\): op type 'LSTM' is not supported"),
    (lambda: _one(helper.make_node("MultiThreshold", ["x", "t"], ["y"], name="mt", domain=QDOMAIN),
                  [_const("t", np.ones((4, 3)))]),
     r"node 'mt' \(MultiThreshold\): op type 'MultiThreshold' in domain 'qonnx.custom_op.general' "
     r"is not supported"),
    (lambda: _one(helper.make_node("Conv", ["x", "w"], ["y"], name="conv", group=2), [CW], in_shape=(4, 5, 5)),
     r"node 'conv' \(Conv\): attribute group=2 is not supported \(only 1\)"),
    (lambda: _one(helper.make_node("Gemm", ["x", "w"], ["y"], name="fc", transA=1), [W44]),
     r"node 'fc' \(Gemm\): attribute transA=1 is not supported \(only 0\)"),
    (lambda: _one(helper.make_node("Conv", ["x", "w"], ["y"], name="conv", pads=[1, 1, 0, 0]), [CW],
                  in_shape=(2, 5, 5)),
     r"node 'conv' \(Conv\): attribute pads=\[1, 1, 0, 0\] is not supported \(only symmetric"),
    (lambda: _one(helper.make_node("Conv", ["x", "w"], ["y"], name="conv", auto_pad="SAME_UPPER"), [CW],
                  in_shape=(2, 5, 5)),
     r"node 'conv' \(Conv\): attribute auto_pad='SAME_UPPER' is not supported \(only NOTSET"),
    (lambda: _one(helper.make_node("Conv", ["x", "w"], ["y"], name="conv", dilations=[2, 2]), [CW],
                  in_shape=(2, 5, 5)),
     r"node 'conv' \(Conv\): attribute dilations=\[2, 2\] is not supported \(only \[1, 1\]\)"),
    (lambda: _one(helper.make_node("Conv", ["x", "w"], ["y"], name="conv"), [CW], in_shape=(3, 5, 5)),
     r"node 'conv' \(Conv\): Conv2d with weight \(2, 2, 3, 3\) needs 2 input channels, not 3"),
    (lambda: _one(helper.make_node("MaxPool", ["x"], ["y"], name="pool", kernel_shape=[2, 2],
                                   pads=[1, 1, 1, 1]), in_shape=(1, 4, 4)),
     r"node 'pool' \(MaxPool\): attribute pads=\[1, 1, 1, 1\] is not supported \(only no padding\)"),
    (lambda: _one(helper.make_node("AveragePool", ["x"], ["y"], name="pool", kernel_shape=[2, 2],
                                   ceil_mode=1), in_shape=(1, 5, 5)),
     r"node 'pool' \(AveragePool\): attribute ceil_mode=1 is not supported \(only 0\)"),
    (lambda: _one(helper.make_node("MaxPool", ["x"], ["y", "idx"], name="pool", kernel_shape=[2, 2]),
                  in_shape=(1, 4, 4)),
     r"node 'pool' \(MaxPool\): only the first output is supported"),
    (lambda: _one(helper.make_node("Clip", ["x", "lo", "hi"], ["y"], name="clip"),
                  [_const("lo", -1.0), _const("hi", 1.0)]),
     r"node 'clip' \(Clip\): Clip\(min=-1.0, max=1.0\) is not supported"),
    (lambda: _one(helper.make_node("Flatten", ["x"], ["y"], name="flat", axis=2), in_shape=(2, 2)),
     r"node 'flat' \(Flatten\): attribute axis=2 is not supported \(only 1\)"),
    (lambda: _one(helper.make_node("Reshape", ["x", "s"], ["y"], name="rs"),
                  [numpy_helper.from_array(np.array([0, 2, -1]), "s")], in_shape=(2, 2)),
     r"node 'rs' \(Reshape\): shape \[0, 2, -1\] is not supported \(only a flatten to \(N, -1\)"),
    (lambda: _one(helper.make_node("MatMul", ["x", "x"], ["y"], name="mm"), in_shape=(4,)),
     r"node 'mm' \(MatMul\): input B \('x'\) must be a constant \(an initializer or a Constant node\)"),
    (lambda: _one(helper.make_node("Gemm", ["x", "w"], ["y"], name="fc"), [W44], in_shape=(2, 2)),
     r"node 'fc' \(Gemm\): Dense needs a 1-d \(features\) input"),
    (lambda: _model([helper.make_node("Relu", ["x"], ["r"], name="relu"),
                     helper.make_node("Add", ["r", "c"], ["y"], name="add")], [_const("c", np.ones(4))], (4,)),
     r"node 'add' \(Add\): adding a constant is supported only as the bias of a bias-free MatMul, Gemm or "
     r"Conv whose output feeds only this Add directly \('r' comes from 'relu'\)"),
    (lambda: _model([helper.make_node("Gemm", ["x", "w", "b"], ["h"], name="fc"),
                     helper.make_node("Add", ["h", "c"], ["y"], name="add")],
                    [W44, _const("b", np.ones(4)), _const("c", np.ones(4))], (4,)),
     r"node 'add' \(Add\): adding a constant is supported only as the bias"),
    (lambda: _one(_q("q", ["x", "s", "z", "b"], "y"), [_const("s", 1.0), _const("z", 0.0), _const("b", 2.5)]),
     r"node 'q' \(Quant\): bitwidth must be one integer in 1..32, not 2.5"),
    (lambda: _one(_q("q", ["x", "s", "z", "b"], "y", mode="STOCHASTIC"),
                  [_const("s", 1.0), _const("z", 0.0), _const("b", 4.0)]),
     r"node 'q' \(Quant\): attribute rounding_mode='STOCHASTIC' is not supported \(one of ROUND, "),
    (lambda: _one(_q("q", ["x", "s", "z", "b"], "y"), [_const("s", -1.0), _const("z", 0.0), _const("b", 4.0)]),
     r"node 'q' \(Quant\): scale must be positive and finite, not -1.0"),
    (lambda: _model([_q("q", ["x", "s", "z", "b"], "xq"), helper.make_node("Add", ["x", "xq"], ["y"], name="a")],
                    [_const("s", 1.0), _const("z", 0.0), _const("b", 4.0)], (4,)),
     r"node 'q' \(Quant\): the quantized tensor 'x' is also used unquantized elsewhere"),
    (lambda: _model([helper.make_node("MatMul", ["x", "w"], ["m"], name="mm"),
                     _q("q", ["m", "s", "z", "b"], "mq"),
                     helper.make_node("Add", ["mq", "c"], ["y"], name="add")],
                    [W44, _const("s", 1.0), _const("z", 0.0), _const("b", 4.0), _const("c", np.ones(4))], (4,)),
     r"node 'add' \(Add\): adding a constant is supported only as the bias .* \('mq' comes from 'mm'\)"),
    (lambda: _model([_q("q", ["w", "s", "z", "b"], "wq"),
                     helper.make_node("Gemm", ["x", "wq"], ["y"], name="fc", alpha=0.5)],
                    [W44, _const("s", 1.0), _const("z", 0.0), _const("b", 4.0)], (4,)),
     r"node 'fc' \(Gemm\): attribute alpha=0.5 is not supported \(only 1 with a quantized B\)"),
])
def test_import_errors(model, match):
    with pytest.raises(ValueError, match=match):
        from_onnx(model())


def test_model_level_errors():
    two_inputs = helper.make_model(helper.make_graph(
        [helper.make_node("Add", ["a", "b"], ["y"])], "g",
        [helper.make_tensor_value_info(n, TensorProto.DOUBLE, ["N", 2]) for n in "ab"],
        [helper.make_tensor_value_info("y", TensorProto.DOUBLE, ["N", 2])]))
    with pytest.raises(ValueError, match=r"the model must have exactly one graph input \(besides "
                                         r"initializers\), not \['a', 'b'\]"):
        from_onnx(two_inputs)
    dynamic = helper.make_model(helper.make_graph(
        [helper.make_node("Relu", ["x"], ["y"])], "g",
        [helper.make_tensor_value_info("x", TensorProto.DOUBLE, ["N", "F"])],
        [helper.make_tensor_value_info("y", TensorProto.DOUBLE, ["N", 2])]))
    with pytest.raises(ValueError, match=r"graph input 'x': dimension 1 must be a fixed size, not 'F'"):
        from_onnx(dynamic)
    with pytest.raises(TypeError, match=r"model must be an onnx.ModelProto, bytes or a path, not int"):
        from_onnx(3)


def test_missing_onnx_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "onnx", None)
    with pytest.raises(ImportError, match=r"pip install numfmt\[nn\]"):
        from_onnx(b"")
