"""numfmt.hw.hls.hls4ml_adapter: QuantizedGraph → hls4ml, equal bit for bit after g++ compile()/predict()."""
import shutil

import numpy as np
import pytest

import numfmt as nf
from numfmt import nn
from numfmt.arith import FixedAccumulator, FloatAccumulator
from numfmt.modes import Overflow, Rounding

hls4ml = pytest.importorskip("hls4ml")
from numfmt.hw.hls import hls4ml_adapter as ha  # noqa: E402

needs_gxx = pytest.mark.skipif(shutil.which("g++") is None,
                               reason="g++ not found: hls4ml's compile() builds the C simulation with it")

AP_ROUNDINGS = [r for r in Rounding if r.ap_name is not None]
HLS_OVERFLOWS = [Overflow.WRAP, Overflow.SATURATE, Overflow.SATURATE_ZERO, Overflow.SATURATE_SYMMETRIC]


def _hls4ml_parse(text):
    """hls4ml's own reading of a precision string: the oracle the typed mapping must agree with."""
    return hls4ml.backends.get_backend("Vivado").convert_precision_string(text)


# -- the typed mapping ----------------------------------------------------------------------------
@pytest.mark.parametrize("rounding", AP_ROUNDINGS, ids=str)
@pytest.mark.parametrize("overflow", HLS_OVERFLOWS, ids=str)
def test_precision_of_a_fixed_format_is_what_hls4ml_reads_from_its_name(rounding, overflow):
    for fmt in (nf.FixedFormat(8, 3, rounding=rounding, overflow=overflow, sat_bits=2),
                nf.FixedFormat(6, -2, signed=False, rounding=rounding, overflow=overflow),
                nf.FixedFormat(5, 9, rounding=rounding, overflow=overflow)):
        p = ha.precision(fmt)
        assert p == _hls4ml_parse(fmt.to_hls()), fmt
        assert (p.width, p.integer, p.signed, p.saturation_bits) == (fmt.width, fmt.int_bits, fmt.signed,
                                                                     fmt.sat_bits)


@pytest.mark.parametrize("rounding", AP_ROUNDINGS, ids=str)
def test_precision_of_an_int_format_is_an_ap_fixed_with_its_modes(rounding):
    fmt = nf.IntFormat(5, signed=False, rounding=rounding, overflow="wrap")
    p = ha.precision(fmt)
    assert p == _hls4ml_parse(f"ap_ufixed<5,5,{rounding.ap_name},AP_WRAP>")
    assert type(p).__name__ == "FixedPrecisionType"        # never IntegerPrecisionType (ternary product)


@pytest.mark.parametrize("fmt, message", [
    (nf.IntFormat(8, rounding="ceil"), r"fmt int8\(rounding=ceil\) rounds with 'ceil', which has no ap_fixed"),
    (nf.IntFormat(8, overflow="wrap_sm"), "overflows with 'wrap_sm', which hls4ml has no saturation mode"),
    (nf.FixedFormat(8, 3, overflow="wrap_sm"), "overflows with 'wrap_sm'"),
])
def test_precision_refuses_modes_hls4ml_lacks(fmt, message):
    with pytest.raises(ValueError, match=message):
        ha.precision(fmt)


def test_precision_refuses_other_formats():
    with pytest.raises(TypeError, match="fmt must be a numfmt IntFormat or FixedFormat, not FloatFormat"):
        ha.precision(nf.parse("e4m3fn"))


# -- the plan: types derived from the graph's integers ----------------------------------------------
def _mlp(cfg, sizes=(4, 6, 3), seed=0, n=200):
    rng = np.random.default_rng(seed)
    layers = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Dense(rng.standard_normal((b, a)), rng.standard_normal(b) * 0.3))
        if i < len(sizes) - 2:
            layers.append(nn.ReLU())
    g = nn.Graph.sequential(layers, input_shape=(sizes[0],))
    x = rng.standard_normal((n, sizes[0]))
    return nn.quantize(g, cfg, x), x


def test_plan_holds_the_graphs_integers_exactly():
    q, _ = _mlp(nn.QConfig(weight="int4", act="int8"))
    layers = {layer.name: layer for layer in ha.plan(q)}
    assert [layer.kind for layer in ha.plan(q)] == ["input", "dense", "requant", "relu", "dense", "requant"]
    for name in ("dense0", "dense2"):
        node, dense, rq = q.node(name), layers[name], layers[name + "_rq"]
        assert np.array_equal(dense.data["weight"], node.weight_values.T)
        assert dense.types["weight"] == node.weight_format                     # the format itself
        assert np.array_equal(dense.data["bias"], node.bias * 2.0 ** node.acc_exp)
        acc = dense.types["accum"]
        assert acc.width == node.acc_bits + 1 and acc.frac_bits == -int(node.acc_exp.min())
        assert dense.types["result"] == acc                                      # the Dense output is exact
        # the requantization scale is m * 2**-(c + Qp), exactly, on an unsigned grid that holds it
        for o, s in enumerate(rq.data["scale"]):
            m, c, qp = (int(v[o]) for v in (node.multiplier, node.shift, node.acc_exp))
            assert s == m * 2.0 ** -(c + qp)
            assert rq.types["scale"].quantize(s) == s
        assert not rq.types["scale"].signed and rq.types["result"] == node.out.format
        assert np.array_equal(dense.types["bias"].quantize(dense.data["bias"]), dense.data["bias"])


def test_plan_refuses_what_hls4ml_cannot_compute_exactly():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((50, 4))
    dense = nn.Dense(rng.standard_normal((3, 4)))
    cases = [
        (nn.QConfig(weight="int8", act="e4m3fn"), "node 'input': its input format e4m3fn is not an integer"),
        (nn.QConfig(weight="int8", act="int8(rounding=ceil)"), "node 'input': fmt int8\\(rounding=ceil\\) rounds"),
        (nn.QConfig(weight="int8", act="int8", acc=FloatAccumulator(nf.parse("bf16"))),
         "node 'dense0': the accumulator .* rounds every addition"),
        (nn.QConfig(weight="mxint8", act="mxint8"), "node 'input': its input format fp32 is not"),
        (nn.QConfig(weight="int4", act="int8", acc=FixedAccumulator(10, 0, overflow="sat")),
         "node 'dense0': a single product can exceed the saturating register"),
    ]
    g = nn.Graph.sequential([dense], input_shape=(4,))
    for cfg, message in cases:
        with pytest.raises(ValueError, match=message):
            ha.plan(nn.quantize(g, cfg, x))
    img = rng.standard_normal((20, 1, 4, 4))
    conv = nn.Graph.sequential([nn.Conv2d(rng.standard_normal((2, 1, 3, 3))), nn.Flatten()], input_shape=(1, 4, 4))
    with pytest.raises(ValueError, match=r"node 'input': input shape \(1, 4, 4\) is not a vector"):
        ha.plan(nn.quantize(conv, nn.QConfig(weight="int8", act="int8"), img))
    r6 = nn.Graph.sequential([dense, nn.ReLU6()], input_shape=(4,))
    with pytest.raises(ValueError, match="node 'relu61': ReLU6 clips at 1.*hls4ml's relu6 clips at 6"):
        ha.plan(nn.quantize(r6, nn.QConfig(weight="int8", act="int8"), x))
    with pytest.raises(TypeError, match="qgraph must be a numfmt.nn.QuantizedGraph, not Graph"):
        ha.plan(g)


def test_convert_gives_every_hls4ml_variable_its_planned_type(tmp_path):
    q, _ = _mlp(nn.QConfig(weight="int4", act="ap_fixed<8,4,AP_RND_CONV,AP_SAT>", act_scale="pow2"))
    model = ha.convert(q, tmp_path / "prj")
    got = {layer.name: layer for layer in model.get_layers()}
    for layer in ha.plan(q):
        for var, fmt in layer.types.items():
            assert got[layer.name].types[var + "_t"].precision == ha.precision(fmt), (layer.name, var)
    assert model.config.get_config_value("IOType") == "io_parallel"


@pytest.mark.parametrize("kwargs, message", [
    ({"project_name": "my-net"}, "project_name must be a C identifier, not 'my-net'"),
    ({"backend": "Quartus"}, "backend must be one of 'Vivado', 'Vitis', not 'Quartus'"),
])
def test_convert_checks_its_arguments(tmp_path, kwargs, message):
    q, _ = _mlp(nn.QConfig(weight="int8", act="int8"))
    with pytest.raises(ValueError, match=message):
        ha.convert(q, tmp_path, **kwargs)


def test_input_values_checks_the_shape():
    q, _ = _mlp(nn.QConfig(weight="int8", act="int8"))
    with pytest.raises(ValueError, match=r"x must have shape \(N, 4\)"):
        ha.input_values(q, np.zeros((2, 5)))


# -- compile() and predict() against numfmt ----------------------------------------------------------
def _check_compiled(q, x, out_dir, **kwargs):
    model = ha.convert(q, out_dir, **kwargs)
    model.compile()
    y = model.predict(ha.input_values(q, x))
    want = q.run(x)[q.output]
    y = np.asarray(y).reshape(want.shape)
    bad = np.argwhere(y != want)
    assert bad.size == 0, (f"{len(bad)} outputs differ, first at {tuple(bad[0])}: hls4ml {y[tuple(bad[0])]}, "
                           f"numfmt {want[tuple(bad[0])]}")
    assert np.array_equal(np.argmax(y, axis=1), q.predict(x))
    return y


@pytest.fixture(scope="module")
def digits():
    x_train, y_train, x_test, y_test = nn.digits_data()
    return nn.digits_mlp(), x_train, x_test, y_test


@needs_gxx
@pytest.mark.slow
def test_digits_mlp_int8_equals_numfmt_over_the_test_split(digits, tmp_path):
    mlp, x_train, x_test, y_test = digits
    q = nn.quantize(mlp, nn.QConfig(weight="int8", act="int8"), x_train)
    y = _check_compiled(q, x_test, tmp_path / "int8")
    assert y.shape == (360, 10)
    assert np.mean(np.argmax(y, axis=1) == y_test) == nn.accuracy(q, x_test, y_test)


@needs_gxx
@pytest.mark.slow
def test_digits_mlp_int4_weights_int8_acts_equals_numfmt_over_the_test_split(digits, tmp_path):
    mlp, x_train, x_test, _ = digits
    q = nn.quantize(mlp, nn.QConfig(weight="int4", act="int8"), x_train)
    assert _check_compiled(q, x_test, tmp_path / "int4").shape == (360, 10)


@pytest.mark.slow
@needs_gxx
def test_requantization_ties_and_saturation_round_as_numfmt(tmp_path):
    # 3-bit multipliers make ties frequent; inputs 4x the calibration range saturate the input and
    # the requantizers; int2 weights would take hls4ml's ternary shortcut (-2 read as +1) if typed ap_int<2>
    q, x = _mlp(nn.QConfig(weight="int2", act="int8(rounding=rnp)", mult_bits=3, calib="mse"))
    x = np.concatenate([x, 4 * x])
    vals = q.run(x)
    node = q.node("dense0")
    assert (node.weight_codes == 2).any()                                   # the code of -2
    K = node.accumulate(vals["input"])
    half = np.left_shift(1, node.shift - 1)
    assert ((K * node.multiplier) % (2 * half) == half).any()               # exact ties reach the rounding
    assert (np.abs(vals["input"]) == 128).any() or (vals["input"] == 127).any()   # saturated inputs
    _check_compiled(q, x, tmp_path / "ties")


CASES = {   # configurations of the small MLP, each compiled and run on 400 inputs
    "fixed_acts_fixed_weights": nn.QConfig(weight="ap_fixed<6,2,AP_RND,AP_SAT>",
                                           act="ap_fixed<14,8,AP_RND_CONV,AP_SAT>", act_scale="none"),
    "int_wrap_floor": nn.QConfig(weight="int4", act="int8(rounding=floor,overflow=wrap)", mult_bits=4),
    "int_rtz_sat_sym": nn.QConfig(weight="int4", act="int8(rounding=rtz,overflow=sat_sym)", mult_bits=4),
    "int_rna_sat_zero": nn.QConfig(weight="int4", act="int6(rounding=rna,overflow=sat_zero)", mult_bits=4),
    "int_rnm": nn.QConfig(weight="int3", act="int8(rounding=rnm)", mult_bits=4),
    "int_rnz": nn.QConfig(weight="int8", act="int8(rounding=rnz)", mult_bits=5),
    # registers that wrap / saturate on these inputs (checked against the exact accumulator below)
    "fixed_acc_wrap": nn.QConfig(weight="int4", act="int8", acc=FixedAccumulator(9, 0, overflow="wrap")),
    "fixed_acc_sat": nn.QConfig(weight="int4", act="int8", acc=FixedAccumulator(11, 0, overflow="sat")),
    "mxint8_block4_weights": nn.QConfig(weight="mxint8(block=4)", act="int8"),    # 2**E inside rows
    "e4m3fn_weights": nn.QConfig(weight="e4m3fn", act="int8"),
    "pow2_scales": nn.QConfig(weight="int8", act="ap_fixed<10,3,AP_RND_INF,AP_SAT>", act_scale="pow2"),
}


@needs_gxx
@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(CASES))
def test_small_mlp_equals_numfmt(name, tmp_path):
    q, x = _mlp(CASES[name], sizes=(8, 12, 6, 4), seed=3)
    x = np.concatenate([x, 3 * x])
    if name == "mxint8_block4_weights":       # block exponents below the row scale: the weight grid path
        assert q.node("dense0").weight_exp.any()
    if name.startswith("fixed_acc"):          # the register does overflow somewhere
        exact, _ = _mlp(nn.QConfig(weight="int4", act="int8"), sizes=(8, 12, 6, 4), seed=3)
        xin = q.run(x)["input"]
        assert (q.node("dense0").accumulate(xin) != exact.node("dense0").accumulate(xin)).any()
    _check_compiled(q, x, tmp_path / name)


@needs_gxx
@pytest.mark.slow
def test_vitis_backend_equals_numfmt(tmp_path):
    q, x = _mlp(nn.QConfig(weight="int4", act="int8", mult_bits=4))
    _check_compiled(q, np.concatenate([x, 4 * x]), tmp_path / "vitis", backend="Vitis")
