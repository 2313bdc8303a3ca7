"""The quantized datapath against the slow scalar reference (nn_reference.py), bit for bit.

A small random graph holds every layer type (Conv2d with stride and padding,
ReLU, ReLU6, residual Add, MaxPool2d, AvgPool2d, Flatten, Dense); it is
quantized for each weight family (int, fixed, minifloat, MX) × activation
family (int, fixed, minifloat) and every node's output values must equal the
reference's exactly. Seeds are in the test ids.
"""

from __future__ import annotations

import json
import os
import sys
import zlib
from fractions import Fraction

import numpy as np
import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import nn_reference as R  # noqa: E402

import numfmt as nf  # noqa: E402
from numfmt import nn  # noqa: E402
from numfmt.arith import ExactAccumulator, FixedAccumulator, FloatAccumulator  # noqa: E402
from numfmt.nn import _datapath as dp  # noqa: E402
from numfmt.quant import Requantizer  # noqa: E402

WEIGHTS = ["int4", "int8", "ap_fixed<8,2,AP_RND_CONV,AP_SAT>", "e4m3fn", "e2m1fn", "mxint8(block=8)",
           "mxfp4(block=8)"]
ACTS = ["int8", "ap_fixed<10,4,AP_RND_CONV,AP_SAT>", "e4m3fn", "e2m1fn"]


def all_layers_graph(seed):
    rng = np.random.default_rng(seed)

    def conv(oc, ic, **kw):
        return nn.Conv2d(rng.standard_normal((oc, ic, 3, 3)) * 0.4, rng.standard_normal(oc) * 0.2, **kw)

    nodes = [
        nn.Node("conv1", conv(3, 2, padding=1), ("input",)),
        nn.Node("relu", nn.ReLU(), ("conv1",)),
        nn.Node("conv2", conv(3, 3, padding=1), ("relu",)),
        nn.Node("relu6", nn.ReLU6(), ("conv2",)),
        nn.Node("add", nn.Add(), ("relu", "relu6")),
        nn.Node("maxpool", nn.MaxPool2d(2), ("add",)),
        nn.Node("conv3", conv(4, 3, stride=2, padding=1), ("maxpool",)),
        nn.Node("avgpool", nn.AvgPool2d(2), ("conv3",)),
        nn.Node("flatten", nn.Flatten(), ("avgpool",)),
        nn.Node("fc", nn.Dense(rng.standard_normal((3, 4)), rng.standard_normal(3) * 0.1), ("flatten",)),
    ]
    return nn.Graph(nodes, input_shape=(2, 6, 6))


def check_against_reference(q, x, where=""):
    got = q.run(x)
    ref = R.ref_run(q, x)
    for node in q.nodes:
        want = R.as_float(ref[node.name])
        assert np.array_equal(got[node.name], want), f"{where}node {node.name!r} differs from the reference"
    codes = q.trace(x)
    for node in q.nodes:
        assert np.array_equal(codes[node.name], node.out.format.encode(R.as_float(ref[node.name]))), \
            f"{where}node {node.name!r}: codes differ from the reference's"


@pytest.mark.parametrize("act", ACTS)
@pytest.mark.parametrize("weight", WEIGHTS)
def test_every_layer_matches_reference(weight, act):
    seed = zlib.crc32(f"{weight} {act}".encode()) % 1000    # the same in every process
    g = all_layers_graph(seed)
    rng = np.random.default_rng(seed)
    calib = rng.standard_normal((16, 2, 6, 6))
    x = rng.standard_normal((2, 2, 6, 6)) * 1.5          # some values beyond the calibrated range
    q = nn.quantize(g, nn.QConfig(weight=weight, act=act), calib)
    check_against_reference(q, x, f"seed {seed}: ")


@pytest.mark.parametrize("acc, weight, act", [
    (FixedAccumulator(20, 0, overflow="wrap"), "int4", "int8"),
    (FixedAccumulator(16, 0, overflow="sat"), "int8", "int8"),
    (FixedAccumulator(40, 18, overflow="sat"), "e4m3fn", "e4m3fn"),
    (FloatAccumulator(nf.parse("bf16")), "e4m3fn", "e4m3fn"),
    (FloatAccumulator(nf.parse("fp16"), order="pairwise"), "int4", "int8"),
    (FloatAccumulator(nf.parse("bf16"), order="chunked", chunk=4), "mxfp4(block=8)", "e2m1fn"),
    (ExactAccumulator(), "ap_fixed<6,1,AP_RND_CONV,AP_SAT>", "ap_fixed<8,3,AP_TRN,AP_WRAP>"),
])
def test_accumulators_match_reference(acc, weight, act):
    g = all_layers_graph(7)
    rng = np.random.default_rng(7)
    q = nn.quantize(g, nn.QConfig(weight=weight, act=act, acc=acc), rng.standard_normal((16, 2, 6, 6)))
    check_against_reference(q, rng.standard_normal((2, 2, 6, 6)))


@pytest.mark.parametrize("weight, act", [("int8", "int8"), ("e4m3fn", "e4m3fn"), ("mxfp4", "int8")])
def test_dense_mlp_matches_reference(weight, act):
    rng = np.random.default_rng(3)
    g = nn.Graph.sequential([nn.Dense(rng.standard_normal((40, 12)), rng.standard_normal(40)), nn.ReLU(),
                             nn.Dense(rng.standard_normal((5, 40)))], input_shape=(12,))
    q = nn.quantize(g, nn.QConfig(weight=weight, act=act), rng.standard_normal((64, 12)))
    check_against_reference(q, rng.standard_normal((4, 12)) * 2)


def test_parameters_follow_their_definitions():
    g = all_layers_graph(11)
    rng = np.random.default_rng(11)
    q = nn.quantize(g, nn.QConfig(weight="int8", act="e4m3fn"), rng.standard_normal((16, 2, 6, 6)))
    for node in q.nodes:
        if node.op != "linear":
            continue
        x, y = node.x, node.out
        for o in range(node.multiplier.shape[0]):
            unit = Fraction(x.scale) * Fraction(float(node.channel_scale[o])) * Fraction(2) ** int(node.acc_exp[o])
            real = Fraction(float(Fraction(x.scale * float(node.channel_scale[o])) * Fraction(2) ** int(node.acc_exp[o])
                                  / Fraction(y.scale)))
            b, c = R.ref_multiplier(Fraction(float(x.scale * node.channel_scale[o] * 2.0 ** int(node.acc_exp[o])
                                                    / y.scale)), node.mult_bits)
            assert (int(node.multiplier[o]), int(node.shift[o])) == (b, c)
            assert abs(Fraction(b, 1) / Fraction(2) ** c - real) <= real * Fraction(2) ** -node.mult_bits
            layer = q.float_graph.node(node.name).layer
            want = Fraction(float(layer.bias[o])) / unit
            assert abs(Fraction(int(node.bias[o])) - want) <= Fraction(1, 2)
        assert node.acc_bits + node.mult_bits <= 63
        # the real weights are the ptq grid values
        from numfmt import ptq
        layer = q.float_graph.node(node.name).layer
        W = layer.weight.reshape(layer.weight.shape[0], -1)
        grid = ptq.weight_grid(W, "int8")
        assert np.array_equal(node.real_weight.reshape(W.shape), grid.fake(W))


@pytest.mark.parametrize("fmt", ["mxfp4", "mxint8", "mxfp4(block=8)"])
def test_block_weights_are_block_format_codes(fmt):
    rng = np.random.default_rng(5)
    W = rng.standard_normal((6, 64)) * np.exp(rng.standard_normal((6, 1)))
    g = nn.Graph.sequential([nn.Dense(W)], input_shape=(64,))
    q = nn.quantize(g, nn.QConfig(weight=fmt, act="int8"), rng.standard_normal((32, 64)))
    node = q.node("dense0")
    bf = nf.parse(fmt)
    enc = bf.encode(W)
    # the same element values (ptq's grid encodes a zero element as +0, the format may give -0)
    assert np.array_equal(bf.element.decode(node.weight_codes), bf.element.decode(enc.elements))
    assert node.block_format == bf
    # element value * 2**weight_exp * channel_scale = the decoded block value, exactly
    assert np.array_equal(node.real_weight, bf.decode(enc))
    # one exponent per block
    e = node.weight_exp.reshape(6, -1, bf.block)
    assert (e == e[:, :, :1]).all()


@pytest.mark.parametrize("fmt", ["int8", "int4(rounding=rnp)", "int8(overflow=wrap)", "uint8"])
def test_requantizer_equals_the_converter(fmt):
    fmt = nf.parse(fmt)
    rng = np.random.default_rng(0)
    K = rng.integers(-2**30, 2**30, size=(50, 3))
    b = rng.integers(2**20, 2**21, size=3)
    c = rng.integers(18, 40, size=3)
    via_rq = dp.requantize(K, b, c, fmt, dp.make_requantizer(b, c, fmt))
    via_encode = dp.requantize(K, b, c, fmt)
    assert np.array_equal(via_rq, via_encode)
    assert isinstance(dp.make_requantizer(b, c, fmt), Requantizer)


def test_exact_pow2_rounds_to_odd():
    P = np.array([2**60 + 1, -(2**60 + 2**7), 2**62 - 1, 12345, 0], dtype=np.int64)
    got = dp.exact_pow2(P, 3)
    for p, v in zip(P.tolist(), got.tolist()):
        exact = Fraction(p, 8)
        if abs(p) < 2**53:
            assert Fraction(v) == exact
        else:
            lo = Fraction(v)
            ulp = Fraction(2) ** (abs(p).bit_length() - 53 - 3)
            assert abs(lo - exact) < ulp
            assert (lo / ulp).numerator % 2 == 1 or lo == exact


def test_quantized_input_errors():
    g = all_layers_graph(1)
    rng = np.random.default_rng(1)
    q = nn.quantize(g, nn.QConfig(weight="int8", act="int8"), rng.standard_normal((8, 2, 6, 6)))
    with pytest.raises(ValueError, match=r"x must have shape \(N, 2, 6, 6\).*not \(3, 2, 6\)"):
        q.forward(np.zeros((3, 2, 6)))
    x = np.zeros((3, 2, 6, 6))
    x[1, 0, 4, 2] = np.nan
    with pytest.raises(ValueError, match=r"x contains NaN at index \(1, 0, 4, 2\) \(sample 1\)"):
        q.forward(x)
    with pytest.raises(ValueError, match=r"calib_x must have shape \(N, 2, 6, 6\)"):
        nn.quantize(g, nn.QConfig(), np.zeros((4, 72)))


def test_formats_that_cannot_hold_the_range():
    g = nn.Graph.sequential([nn.Dense(np.array([[10.0, 5.0]]))], input_shape=(2,))
    calib = np.array([[1.0, 1.0], [-1.0, 0.5]])
    with pytest.raises(ValueError, match=r"act format ap_fixed<8,3,AP_RND_CONV,AP_SAT> holds magnitudes up to "
                                         r"3.96875, but node 'dense0' reaches 15.0 .*act_scale='none'"):
        nn.quantize(g, nn.QConfig(weight="int8", act="ap_fixed<8,3,AP_RND_CONV,AP_SAT>", act_scale="none"), calib)
    with pytest.raises(ValueError, match=r"act format uint8 is unsigned, but node 'input' takes negative"):
        nn.quantize(g, nn.QConfig(weight="int8", act="uint8"), calib)
    g_neg = nn.Graph.sequential([nn.Dense(np.array([[10.0, -5.0]]))], input_shape=(2,))
    with pytest.raises(ValueError, match=r"act format uint8 is unsigned, but node 'dense0' takes negative "
                                         r"values \(down to -5.0\)"):
        nn.quantize(g_neg, nn.QConfig(weight="int8", act="uint8"), np.array([[1.0, 1.0], [0.0, 1.0]]))
    g2 = nn.Graph.sequential([nn.Dense(np.array([[1.0, 1.0]]), np.array([1e6]))], input_shape=(2,))
    with pytest.raises(ValueError, match=r"node 'dense0': bias\[0\] = 1000000.0 is \d+ accumulator units .* "
                                         r"beyond int16 \(bias_bits=16\)"):
        nn.quantize(g2, nn.QConfig(weight="int8", act="int8", bias_bits=16), calib)
    with pytest.raises(ValueError, match=r"node 'dense0': the requantization product needs \d+ bits, and the "
                                         r"output format ap_fixed<8,3,AP_RND,AP_WRAP_SM> .*wraps with its sign"):
        nn.quantize(g, nn.QConfig(weight="fp8_e7m0", act="ap_fixed<8,3,AP_RND,AP_WRAP_SM>"), calib)
    with pytest.raises(ValueError, match=r"not powers of two apart"):
        nn.quantize(nn.Graph.sequential([nn.Dense(np.array([[1.0, 3.0, 0.1, 7.0]]))], (4,)),
                    nn.QConfig(weight="int4", granularity=2), np.ones((2, 4)))
    with pytest.raises(ValueError, match=r"finer than the accumulator's quantum"):
        nn.quantize(g, nn.QConfig(weight="e4m3fn", act="int8", acc=FixedAccumulator(32, 0)), calib)
    with pytest.raises(ValueError, match=r"node .dense0.: the accumulator FloatAccumulator\(e4m3fn.*overflowed to nan \(row 0, channel 0\); use a wider accumulator"):
        q = nn.quantize(g, nn.QConfig(weight="int8", act="int8", acc=FloatAccumulator(nf.parse("e4m3fn"))), calib)
        q.forward(np.array([[1.0, 1.0]]))


def test_config_errors():
    with pytest.raises(ValueError, match=r"act mxfp4 is a block format: weight must be a block format with the "
                                         r"same block \(32\).*not int4"):
        nn.QConfig(act="mxfp4")
    with pytest.raises(ValueError, match=r"weight mxint8\(block=8\) must have the same block along axis -1, not "
                                         r"block=8, axis=-1"):
        nn.QConfig(weight="mxint8(block=8)", act="mxfp4(block=4)")
    with pytest.raises(ValueError, match=r"act mxfp4\(axis=0\) must be blocked along its last axis"):
        nn.QConfig(weight="mxfp4", act="mxfp4(axis=0)")
    with pytest.raises(ValueError, match=r"bias_bits must be None with block activations .*not 16"):
        nn.QConfig(weight="mxfp4", act="mxfp4", bias_bits=16)
    with pytest.raises(ValueError, match=r"method must be one of 'rtn', 'gptq', 'adaround', not 'best'"):
        nn.QConfig(method="best")
    with pytest.raises(ValueError, match=r"act_scale must be one of 'float', 'pow2', 'none', not 'auto'"):
        nn.QConfig(act_scale="auto")
    with pytest.raises(ValueError, match=r"mult_bits must be an integer in 1..32, not 40"):
        nn.QConfig(mult_bits=40)
    with pytest.raises(ValueError, match=r"weight: "):
        nn.QConfig(weight="int99x")
    bn = nn.Graph.sequential([nn.ReLU(), nn.BatchNorm([1.0], [0.0], [0.0], [1.0])], input_shape=(1,))
    with pytest.raises(ValueError, match=r"BatchNorm node 'batchnorm1' follows 'relu0'.*cannot be folded"):
        nn.quantize(bn, nn.QConfig(), np.ones((2, 1)))


@pytest.mark.parametrize("kw", [dict(act_scale="pow2"), dict(act_scale="none", act="e4m3fn"),
                                dict(method="gptq"), dict(method="adaround"), dict(equalize=True),
                                dict(smooth=0.5), dict(bias_correction=True), dict(granularity="tensor"),
                                dict(calib="mse"), dict(calib="percentile"), dict(mult_bits=12),
                                dict(act="int8(rounding=rnp)")])
def test_options_keep_the_datapath_exact(kw):
    rng = np.random.default_rng(9)
    g = nn.Graph.sequential([nn.Dense(rng.standard_normal((16, 8))), nn.ReLU(),
                             nn.Dense(rng.standard_normal((16, 16))), nn.ReLU(),
                             nn.Dense(rng.standard_normal((3, 16)))], input_shape=(8,))
    kw = {"weight": "int8", **kw}
    calib = rng.standard_normal((64, 8)) * 0.5
    q = nn.quantize(g, nn.QConfig(**kw), calib)
    if kw.get("act_scale") == "pow2":
        assert all(np.frexp(n.out.scale)[0] == 0.5 for n in q.nodes)
    if kw.get("act_scale") == "none":
        assert all(n.out.scale == 1.0 for n in q.nodes)
    check_against_reference(q, rng.standard_normal((3, 8)) * 0.5)
    # on the calibration data the quantized graph stays close to the float one
    ref = q.float_graph.forward(calib)
    assert np.abs(q.forward(calib) - ref).max() < 0.1 * np.abs(ref).max()


def test_equalize_and_smooth_keep_the_float_function():
    rng = np.random.default_rng(4)
    g = nn.Graph.sequential([nn.Dense(rng.standard_normal((16, 8)) * np.logspace(-2, 1, 16)[:, None]), nn.ReLU(),
                             nn.Dense(rng.standard_normal((3, 16)))], input_shape=(8,))
    x = rng.standard_normal((32, 8))
    for kw in (dict(equalize=True), dict(smooth=0.5)):
        q = nn.quantize(g, nn.QConfig(weight="int4", **kw), x)
        assert not np.array_equal(q.float_graph.nodes[0].layer.weight, g.nodes[0].layer.weight)
        np.testing.assert_allclose(q.float_graph.forward(x), g.forward(x), rtol=1e-12, atol=1e-12)


def test_export_round_trip(tmp_path):
    g = all_layers_graph(2)
    rng = np.random.default_rng(2)
    q = nn.quantize(g, nn.QConfig(weight="mxfp4(block=8)", act="e4m3fn",
                                  acc=FixedAccumulator(48, 20, overflow="sat")), rng.standard_normal((8, 2, 6, 6)))
    npz, js = q.export(tmp_path / "model.npz")
    assert npz.name == "model.npz" and js.name == "model.json"
    meta = json.loads(js.read_text())
    arrays = np.load(npz)
    assert meta["input_shape"] == [2, 6, 6] and meta["output"] == "fc"
    assert meta["config"]["acc"] == {"type": "fixed", "width": 48, "frac_bits": 20, "overflow": "sat"}
    by_name = {n["name"]: n for n in meta["nodes"]}
    for node in q.nodes:
        entry = by_name[node.name]
        assert nf.parse(entry["out"]["format"]) == node.out.format
        assert entry["out"]["scale"] == node.out.scale
        if node.op == "linear":
            codes = arrays[entry["arrays"]["weight_codes"]["key"]]
            exp = arrays[entry["arrays"]["weight_exp"]["key"]]
            elem = nf.parse(entry["fields"]["weight_format"])
            assert entry["fields"]["block_format"] == "mxfp4(block=8)"
            assert np.array_equal(np.ldexp(elem.decode(codes), exp), node.weight_values)
            for f in ("bias", "multiplier", "shift", "acc_exp", "channel_scale"):
                assert np.array_equal(arrays[entry["arrays"][f]["key"]], getattr(node, f))
        if node.op == "add":
            assert tuple(entry["fields"]["multipliers"]) == node.multipliers


@pytest.mark.parametrize("model", ["mlp", "cnn"])
@pytest.mark.parametrize("fmt", ["int8", "e4m3fn"])
def test_digits_8bit_within_one_point(model, fmt):
    x_train, _, x_test, y_test = nn.digits_data()
    g = nn.digits_mlp() if model == "mlp" else nn.digits_cnn()
    if model == "cnn":
        x_train, x_test = x_train.reshape(-1, 1, 8, 8), x_test.reshape(-1, 1, 8, 8)
    q = nn.quantize(g, nn.QConfig(weight=fmt, act=fmt), x_train)
    float_acc = nn.accuracy(g, x_test, y_test)
    q_acc = nn.accuracy(q, x_test, y_test)
    assert float_acc > 0.97
    assert q_acc >= float_acc - 0.01, (float_acc, q_acc)


# -- block (MX) activations ---------------------------------------------------------------------
MX_ACTS = ["mxint8(block=4)", "mxfp8_e4m3(block=8)", "mxfp4(block=4)", "mxfp4(block=8)", "mxfp6_e2m3(block=8)"]


def conv_graph(seed):
    """Conv2d(3→4, 3x3: 27 contraction values, ragged for blocks of 4 and 8) → ReLU → MaxPool → Dense."""
    rng = np.random.default_rng(seed)
    nodes = [nn.Conv2d(rng.standard_normal((4, 3, 3, 3)) * 0.5, rng.standard_normal(4) * 0.2, padding=1),
             nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(rng.standard_normal((5, 4, 2, 2)) * 0.5, stride=1),
             nn.Flatten(), nn.Dense(rng.standard_normal((3, 20)) * 0.5, rng.standard_normal(3) * 0.1)]
    return nn.Graph.sequential(nodes, input_shape=(3, 6, 6))


def _mx_inputs(rng, shape):
    # spread over many binades, with exact zeros, so blocks get different shared exponents
    x = rng.standard_normal(shape) * np.exp2(rng.integers(-6, 6, size=shape))
    x[rng.random(shape) < 0.15] = 0.0
    return x


@pytest.mark.parametrize("fmt", MX_ACTS)
def test_block_activations_dense_match_reference(fmt):
    rng = np.random.default_rng(len(fmt))
    g = nn.Graph.sequential([nn.Dense(rng.standard_normal((10, 13)), rng.standard_normal(10)), nn.ReLU(),
                             nn.Dense(rng.standard_normal((4, 10)) * 3, rng.standard_normal(4))],
                            input_shape=(13,))                      # 13 and 10 features: ragged blocks
    q = nn.quantize(g, nn.QConfig(weight=fmt, act=fmt), _mx_inputs(rng, (32, 13)))
    assert q.node("dense0").x.block == nf.parse(fmt) and q.node("dense0").x.scale == 1.0
    check_against_reference(q, _mx_inputs(rng, (6, 13)))


@pytest.mark.parametrize("fmt", ["mxfp8_e5m2(block=8)", "mxfp8_e5m2(block=4)"])
def test_block_activations_wide_block_dot_matches_reference(fmt):
    """Element dot products beyond 62 bits (e5m2 × e5m2: about 70) summed exactly in Python ints."""
    rng = np.random.default_rng(12)
    g = conv_graph(12)
    q = nn.quantize(g, nn.QConfig(weight=fmt, act=fmt), _mx_inputs(rng, (8, 3, 6, 6)))
    assert q.node("conv2d0")._partial_bits > 62
    check_against_reference(q, _mx_inputs(rng, (1, 3, 6, 6)))


@pytest.mark.parametrize("fmt", MX_ACTS)
def test_block_activations_conv_match_reference(fmt):
    g = conv_graph(3)
    rng = np.random.default_rng(3)
    q = nn.quantize(g, nn.QConfig(weight=fmt, act=fmt), _mx_inputs(rng, (8, 3, 6, 6)))
    check_against_reference(q, _mx_inputs(rng, (2, 3, 6, 6)))


@pytest.mark.parametrize("fmt", ["mxint8(block=8)", "mxfp4(block=4)"])
def test_block_activations_every_layer_match_reference(fmt):
    g = all_layers_graph(5)                                  # Add, AvgPool, ReLU6 on the FP32 carrier too
    rng = np.random.default_rng(5)
    q = nn.quantize(g, nn.QConfig(weight=fmt, act=fmt), rng.standard_normal((8, 2, 6, 6)))
    check_against_reference(q, rng.standard_normal((2, 2, 6, 6)) * 1.5)


@pytest.mark.parametrize("acc", [FloatAccumulator(nf.parse("fp32")), FloatAccumulator(nf.parse("bf16")),
                                 FixedAccumulator(48, 30, overflow="sat")])
def test_block_activations_accumulators_match_reference(acc):
    g = conv_graph(4)
    rng = np.random.default_rng(4)
    q = nn.quantize(g, nn.QConfig(weight="mxfp4(block=8)", act="mxfp4(block=8)", acc=acc),
                    rng.standard_normal((8, 3, 6, 6)))
    check_against_reference(q, rng.standard_normal((2, 3, 6, 6)))


def test_block_activations_are_block_codes_of_the_input_rows():
    g = conv_graph(6)
    rng = np.random.default_rng(6)
    fmt = nf.parse("mxfp4(block=8)")
    q = nn.quantize(g, nn.QConfig(weight=fmt, act=fmt), rng.standard_normal((8, 3, 6, 6)))
    x = rng.standard_normal((2, 3, 6, 6))
    vals = q.run(x)
    node = q.node("conv2d0")
    codes = node.input_codes(vals["input"])
    rows = nn.layers.im2col(vals["input"], (3, 3), (1, 1), (1, 1))        # (c, kh, kw), kw fastest
    assert codes.elements.shape == (2 * 36, 27) and codes.scales.shape == (2 * 36, 4)
    for r in range(0, rows.shape[0], 7):
        ref = R.mx_encode_row([Fraction(float(v)) for v in rows[r]], fmt)
        assert [e for _, e in ref] == (codes.scales[r].astype(np.int64) - 127).tolist()
        assert [float(v) for blk, _ in ref for v in blk] == fmt.element.decode(codes.elements[r]).tolist()
    # the weights are blocked along the same axis: block j of a weight row covers the same 8 columns
    e = node.weight_exp.reshape(4, -1)
    assert all((e[:, j:j + 8] == e[:, j:j + 1]).all() for j in range(0, 27, 8))
    assert q.node("dense5").x.block == fmt and q.node("dense5").out.format == nn.quantized.MX_CARRIER


def test_block_activation_errors():
    g = nn.Graph.sequential([nn.Dense(np.ones((2, 4)))], input_shape=(4,))
    pool = nn.Graph.sequential([nn.AvgPool2d(3)], input_shape=(1, 6, 6))
    with pytest.raises(ValueError, match=r"node 'avgpool2d0': AvgPool2d over 3x3 = 9 values \(not a power of "
                                         r"two\) has no exact divider on block activations"):
        nn.quantize(pool, nn.QConfig(weight="mxfp4", act="mxfp4"), np.ones((2, 1, 6, 6)))
    q = nn.quantize(g, nn.QConfig(weight="int8", act="int8"), np.ones((2, 4)))
    with pytest.raises(ValueError, match=r"node 'dense0': input_codes needs block activations, not int8"):
        q.node("dense0").input_codes(np.ones((1, 4)))


def test_round_dyadic_sum_is_one_rounding():
    rng = np.random.default_rng(0)
    fp32 = nf.parse("fp32")
    for spread in (4, 40, 300):               # int64 path, then the Python-integer fallback
        S = rng.integers(-2**20, 2**20, size=(200, 5))
        F = rng.integers(-spread, spread, size=(200, 5))
        S[:, 1] = S[:, 0] << 30               # near-cancellations and ties
        got = dp.round_dyadic_sum(S, F, fp32)
        for i in range(S.shape[0]):
            exact = sum((Fraction(int(s)) * Fraction(2) ** int(f) for s, f in zip(S[i], F[i])), Fraction(0))
            assert Fraction(float(got[i])) == R.round_act(fp32, exact), (spread, i)


@pytest.mark.parametrize("fmt", ["mxint8", "mxfp8_e4m3"])
def test_digits_mx_within_one_and_a_half_points(fmt):
    x_train, _, x_test, y_test = nn.digits_data()
    g = nn.digits_mlp()
    q = nn.quantize(g, nn.QConfig(weight=fmt, act=fmt), x_train)
    assert q.node("dense0").x.block == nf.parse(fmt)
    assert nn.accuracy(q, x_test, y_test) >= nn.accuracy(g, x_test, y_test) - 0.015


# -- wide accumulators: beyond the 64-bit requantizer and the 53-bit bias ----------------------
WIDE = [("fp8_e5m2", "fp8_e5m2"), ("fp7_e6m0", "int16"), ("fp8_e7m0", "fp8_e7m0"),
        ("fp8_e7m0", "int8(overflow=wrap)"), ("fp8_e6m1", "ap_fixed<10,4,AP_RND_CONV,AP_SAT>")]


@pytest.mark.parametrize("weight, act", WIDE)
def test_wide_accumulators_match_reference(weight, act):
    """Every layer type (wide Conv2d, Dense, Add and AvgPool) against the Fraction reference."""
    seed = zlib.crc32(f"{weight} {act}".encode()) % 1000
    g = all_layers_graph(seed)
    rng = np.random.default_rng(seed)
    q = nn.quantize(g, nn.QConfig(weight=weight, act=act), rng.standard_normal((16, 2, 6, 6)))
    linear = [n for n in q.nodes if n.op == "linear"]
    assert all(n.requant_bits > 63 and n.mult_bits == 32 for n in linear)
    for n in linear:                     # the full multiplier, the shift not capped at 63
        for o in range(n.multiplier.shape[0]):
            real = float(n.x.scale * n.channel_scale[o] * 2.0 ** int(n.acc_exp[o]) / n.out.scale)
            assert (int(n.multiplier[o]), int(n.shift[o])) == R.ref_multiplier(Fraction(real), 32)
    if weight == "fp8_e7m0":
        assert any(n.bias.dtype == object and max(abs(int(b)) for b in n.bias) >= 2 ** 63 for n in linear)
    check_against_reference(q, rng.standard_normal((1, 2, 6, 6)) * 1.5, f"seed {seed}: ")


@pytest.mark.parametrize("acc", [FloatAccumulator(nf.parse("fp32")), FloatAccumulator(nf.parse("bf16"))])
def test_wide_float_register_matches_reference(acc):
    """e5m2 × e5m2 into a float register (as FP8 hardware accumulates): K beyond int64, exact requantizer."""
    g = all_layers_graph(8)
    rng = np.random.default_rng(8)
    q = nn.quantize(g, nn.QConfig(weight="fp8_e5m2", act="fp8_e5m2", acc=acc), rng.standard_normal((16, 2, 6, 6)))
    assert all(n.requant_bits > 63 for n in q.nodes if n.op == "linear")
    check_against_reference(q, rng.standard_normal((2, 2, 6, 6)))


@pytest.mark.parametrize("acc, weight, act", [
    (FixedAccumulator(16, 4, overflow="sat"), "int8", "int8"),
    (FixedAccumulator(24, 12, overflow="sat"), "int4", "e4m3fn"),
])
def test_saturated_fixed_register_off_the_grid(acc, weight, act):
    """A register that saturated at max_int·2**-F leaves the 2**Qp grid (and stays off it as products are
    added): the requantizer takes its exact value."""
    g = all_layers_graph(9)
    rng = np.random.default_rng(9)
    q = nn.quantize(g, nn.QConfig(weight=weight, act=act, acc=acc), rng.standard_normal((16, 2, 6, 6)))
    x = rng.standard_normal((3, 2, 6, 6)) * 4
    node = q.node("conv1")
    C = np.ldexp(node.accumulate(q.run(x)["input"]).astype(np.float64), node.acc_exp)
    _, off = node._accumulate(q.run(x)["input"])
    assert off is not None and off[0].any()                  # the case occurs here
    reg = off[1][off[0]]
    assert (np.ldexp(reg, acc.frac_bits) % 1 == 0).all()     # register values, off the 2**Qp grid
    assert (np.ldexp(reg, -node.acc_exp[np.nonzero(off[0])[1]]) % 1 != 0).all()
    assert (np.abs(C[off[0]]) < np.abs(reg)).all()           # accumulate() rounds them toward zero
    check_against_reference(q, x)


def test_digits_fp8_e5m2_wa_equals_reference():
    """The standard FP8 activation format, W=A on the digits MLP: its accuracy and the Fraction reference."""
    x_train, _, x_test, y_test = nn.digits_data()
    q = nn.quantize(nn.digits_mlp(), nn.QConfig(weight="fp8_e5m2", act="fp8_e5m2"), x_train)
    assert all(n.requant_bits > 63 for n in q.nodes if n.op == "linear")
    assert nn.accuracy(q, x_test, y_test) >= 0.95
    check_against_reference(q, x_test[:2])


def test_wide_export_stores_decimal_integers(tmp_path):
    g = all_layers_graph(4)
    q = nn.quantize(g, nn.QConfig(weight="fp8_e7m0", act="int16"), np.random.default_rng(4).standard_normal(
        (8, 2, 6, 6)))
    npz, js = q.export(tmp_path / "wide")
    meta = {n["name"]: n for n in json.loads(js.read_text())["nodes"]}
    with np.load(npz) as arrays:                            # no pickle needed
        for node in q.nodes:
            if node.op == "linear":
                stored = arrays[meta[node.name]["arrays"]["bias"]["key"]]
                assert [int(v) for v in stored] == [int(v) for v in node.bias]


def test_round_pyint_is_one_rounding():
    rng = np.random.default_rng(1)
    fmts = ["e4m3fn", "fp8_e5m2", "fp32", "int8", "int8(overflow=wrap)", "uint8(overflow=wrap)",
            "int4(rounding=rnp)", "ap_fixed<10,4,AP_RND_CONV,AP_SAT>", "ap_ufixed<6,2,AP_TRN,AP_WRAP>",
            "ap_fixed<8,-2,AP_RND,AP_SAT>"]
    for name in fmts:
        fmt = nf.parse(name)
        P = np.array([int(rng.integers(-2**62, 2**62)) * (1 << int(rng.integers(0, 120))) + int(rng.integers(-3, 4))
                      for _ in range(60)] + [0, 1, -1], dtype=object)
        c = rng.integers(-5, 200, size=P.shape)
        got = dp.round_pyint(P, c, fmt)
        for p, ci, v in zip(P, c, got):
            assert Fraction(float(v)) == R.round_act(fmt, Fraction(int(p)) / Fraction(2) ** int(ci)), (name, p, ci)
    with pytest.raises(ValueError, match=r"wraps with its sign"):
        dp.round_pyint(np.array([1], dtype=object), np.array([0]), nf.parse("ap_fixed<8,3,AP_RND,AP_WRAP_SM>"))


def test_exact_matmul_and_to_pyint_are_exact():
    rng = np.random.default_rng(2)
    e7m0 = nf.parse("fp8_e7m0")
    X = e7m0.quantize(rng.standard_normal((5, 37)) * np.exp2(rng.integers(-60, 60, size=(5, 37))))
    W = e7m0.quantize(rng.standard_normal((37, 3)) * np.exp2(rng.integers(-60, 60, size=(37, 3))))
    q = dp.quantum_exp(e7m0)
    K = dp.exact_matmul(X, q, W, np.array([q, q - 1, q - 3]))
    xi, wi = dp.to_pyint(X, q), dp.to_pyint(W, np.array([q, q - 1, q - 3])[None, :])
    for i in range(5):
        for o in range(3):
            assert Fraction(int(xi[i, 0])) == Fraction(float(X[i, 0])) / Fraction(2) ** q
            assert K[i, o] == sum(int(xi[i, k]) * int(wi[k, o]) for k in range(37))
    assert dp.to_pyint(np.array([3.0]), 0).dtype == object
