"""The accelerator's stages: construction, ROM layout, models against the QuantizedGraph,
and (under -m slow) each stage's RTL alone in the simulator."""

import numpy as np
import pytest

import numfmt as nf
from numfmt import nn
from numfmt.arith import FixedAccumulator, FloatAccumulator
from numfmt.hw.accel import MVU_OVERHEAD, Activation, Argmax, MatrixVector
from numfmt.nn.layers import ReLU
from numfmt.nn.quantized import QPassThrough, QTensor
from numfmt.sim import check


def _codes(trace, name):
    """The node's codes as the fields ``x<k>`` of a stage's input."""
    c = trace[name].reshape(trace[name].shape[0], -1)
    return {f"x{k}": c[:, k].astype(np.uint64) for k in range(c.shape[1])}


def _vector(out, prefix="y"):
    keys = sorted((k for k in out if k.startswith(prefix) and k[len(prefix):].isdigit()),
                  key=lambda k: int(k[len(prefix):]))
    return np.stack([out[k] for k in keys], axis=1)


# -- MatrixVector -----------------------------------------------------------------------------

def test_folding_gives_cycles_and_latency(quantized):
    node = quantized("int8").node("dense0")          # 64 -> 64
    for pe, simd in [(1, 1), (8, 8), (64, 64), (4, 16)]:
        mvu = MatrixVector(node, pe=pe, simd=simd)
        assert mvu.cycles == (64 // pe) * (64 // simd)
        assert mvu.latency == mvu.ii == mvu.cycles + MVU_OVERHEAD


@pytest.mark.parametrize("kwargs, message", [
    ({"pe": 3}, "pe=3 must divide the output channels of 'dense0' (64)"),
    ({"simd": 5}, "simd=5 must divide the inputs of 'dense0' (64)"),
    ({"pe": 0}, "pe must be an integer ≥ 1, not 0"),
    ({"simd": True}, "simd must be an integer ≥ 1, not True"),
    ({"simd": 2.0}, "simd must be an integer ≥ 1, not 2.0"),
])
def test_folding_errors(quantized, kwargs, message):
    with pytest.raises(ValueError) as e:
        MatrixVector(quantized("int8").node("dense0"), **kwargs)
    assert str(e.value) == message


def test_rejects_other_nodes_and_formats(quantized, digits):
    with pytest.raises(TypeError, match="node must be a Dense QLinear node"):
        MatrixVector(quantized("int8").node("relu1"))
    x = digits[0][:200]
    unsupported = [
        (nn.QConfig(weight="e4m3fn", act="e4m3fn"), "the input format must be an IntFormat"),
        (nn.QConfig(weight="mxint8", act="int8"), "weights must be an IntFormat or FixedFormat"),
        (nn.QConfig(weight="int8", act="int8", acc=FloatAccumulator(nf.parse("fp16"))),
         "is not supported by this accelerator yet"),
    ]
    for cfg, message in unsupported:
        q = nn.quantize(nn.digits_mlp(), cfg, x)
        with pytest.raises(ValueError, match=message):
            MatrixVector(q.node("dense0"))


def test_rejects_conv():
    g = nn.Graph.sequential([nn.Conv2d(np.ones((2, 1, 3, 3)), np.zeros(2))], input_shape=(1, 4, 4))
    q = nn.quantize(g, nn.QConfig(weight="int8", act="int8"), np.random.default_rng(0).normal(size=(8, 1, 4, 4)))
    with pytest.raises(TypeError, match="Dense QLinear"):
        MatrixVector(q.node("conv2d0"))


@pytest.mark.parametrize("pe, simd", [(1, 1), (2, 8), (8, 4)])
def test_rom_layout(quantized, pe, simd):
    """Word nf·SF + sf holds weight (nf·pe + p, sf·simd + s) at field p·simd + s; the bias
    ROM holds channel nf·pe + p at field p: unpacking the words gives the node's integers."""
    node = quantized("int4").node("dense2")          # 64 -> 32, int4 weights
    mvu = MatrixVector(node, pe=pe, simd=simd)
    wb, rw = mvu.weight_bits, mvu.register_width
    W = np.empty((mvu.n_out, mvu.n_in), dtype=np.int64)
    for a, word in enumerate(mvu.weight_words()):
        f, s_fold = divmod(a, mvu.sf)
        for p in range(pe):
            for s in range(simd):
                v = (word >> ((p * simd + s) * wb)) & ((1 << wb) - 1)
                W[f * pe + p, s_fold * simd + s] = v - (1 << wb) if v >> (wb - 1) else v
    assert np.array_equal(W, node.weight_format.decode(node.weight_codes).astype(np.int64))
    bias = [(word >> (p * rw)) & ((1 << rw) - 1) for word in mvu.bias_words() for p in range(pe)]
    bias = [b - (1 << rw) if b >> (rw - 1) else b for b in bias]
    assert bias == node.bias.tolist()


def test_fixed_accumulator_register(quantized, tiny_graph):
    mvu = MatrixVector(quantized("acc16sat").node("dense0"), pe=4, simd=8)
    assert (mvu.register_width, mvu.shift, mvu.acc_width) == (16, 0, 16)
    q, _ = tiny_graph(FixedAccumulator(16, 3, overflow="sat"))
    mvu = MatrixVector(q.node("dense0"))
    assert (mvu.register_width, mvu.shift, mvu.acc_width) == (16, 3, 16)    # the whole register
    node = q.node("dense0")
    assert [r.shift.tolist() for r in mvu.requantizers] == [(node.shift + 3).tolist()]   # its fraction too


def test_models_equal_the_graph(quantized, digits):
    """Every stage's model, fed the graph's codes of its input node, gives the codes of its node."""
    x = digits[2]
    for name in ("int8", "int4", "acc16sat"):
        q = quantized(name)
        trace = q.trace(x)
        for prev, node in zip(q.nodes[:-1], q.nodes[1:]):
            size = trace[prev.name].shape[1]
            stage = MatrixVector(node, pe=2, simd=4) if node.op == "linear" else Activation(node, size)
            assert np.array_equal(_vector(stage.model(_codes(trace, prev.name))), trace[node.name]), (name, node.name)


# -- Activation, Argmax -------------------------------------------------------------------------

def test_activation_relu6_clips_to_the_graphs_bound(tiny_graph):
    q, x = tiny_graph()
    node = q.node("relu61")
    unit = Activation(node, 4)
    trace = q.trace(x)
    got = _vector(unit.model(_codes(trace, "dense0")))
    assert np.array_equal(got, trace["relu61"])
    assert (nf.IntFormat(8).decode(got) == node.clip).any() and node.clip < 127


def test_activation_errors():
    node = QPassThrough("relu", ("x",), QTensor(nf.IntFormat(4), 1.0), layer=ReLU())
    with pytest.raises(ValueError, match="size must be an integer ≥ 1, not 0"):
        Activation(node, 0)
    with pytest.raises(TypeError, match="node must be a ReLU, ReLU6 or Flatten node"):
        Activation("relu", 2)
    fixed = QPassThrough("relu", ("x",), QTensor(nf.parse("ap_fixed<8,3>"), 1.0), layer=ReLU())
    with pytest.raises(ValueError, match="node 'relu': the format must be an IntFormat or a FloatFormat"):
        Activation(fixed, 2)


def test_argmax_ties_take_the_lowest_index():
    unit = Argmax(nf.IntFormat(4), 4)
    rng = np.random.default_rng(0)
    codes = rng.integers(0, 16, size=(500, 4)).astype(np.uint64)
    out = unit.model({f"x{k}": codes[:, k] for k in range(4)})
    assert np.array_equal(out["label"], np.argmax(nf.IntFormat(4).decode(codes), axis=1))
    assert np.array_equal(_vector(out), codes)
    tie = unit.model({"x0": np.array([9], np.uint64), "x1": np.array([3], np.uint64),
                      "x2": np.array([3], np.uint64), "x3": np.array([0], np.uint64)})   # -7, 3, 3, 0
    assert int(tie["label"][0]) == 1


def test_argmax_errors():
    with pytest.raises(ValueError, match="fmt must be an IntFormat or a FloatFormat"):
        Argmax(nf.parse("ap_fixed<8,3>"), 3)
    with pytest.raises(ValueError, match="size must be an integer ≥ 1, not 0"):
        Argmax(nf.IntFormat(8), 0)


# -- RTL of single stages (each a separate build) --------------------------------------------------

@pytest.mark.slow
@pytest.mark.parametrize("acc, pe, simd", [(None, 2, 3), (FixedAccumulator(12, overflow="sat"), 4, 6),
                                           (FixedAccumulator(14, 2, overflow="sat"), 1, 2),
                                           (FixedAccumulator(12, overflow="wrap"), 2, 6)])
def test_matrix_vector_rtl(tiny_graph, acc, pe, simd):
    """One folded Dense stage against the graph's node, with idle cycles and back-pressure; the
    narrow registers overflow (saturating in the order of the inputs, or wrapping)."""
    q, x = tiny_graph(acc)
    node = q.node("dense0")
    if acc is not None:            # the register does overflow on these inputs
        K = node.accumulate(q.run(x)["input"])
        exact = q.run(x)["input"] @ node.weight_values.T + node.bias
        assert (K != exact).any()
    mvu = MatrixVector(node, pe=pe, simd=simd)
    trace = q.trace(x)
    report = check(mvu, vectors=_codes(trace, "input"), idle=0.3, backpressure=0.3, seed=5)
    assert report.n_vectors == len(x)
    quiet = check(mvu, vectors=_codes(trace, "input"))
    assert set(quiet.latencies.tolist()) == {mvu.latency}
    assert set(np.diff(quiet.out_cycles).tolist()) == {mvu.ii}


@pytest.mark.slow
def test_activation_and_argmax_rtl(tiny_graph):
    q, x = tiny_graph()
    trace = q.trace(x)
    check(Activation(q.node("relu61"), 4), vectors=_codes(trace, "dense0"), idle=0.2, backpressure=0.2)
    report = check(Argmax(nf.IntFormat(8), 3), vectors=_codes(trace, "dense2"), idle=0.2, backpressure=0.2)
    assert report.n_vectors == len(x)
