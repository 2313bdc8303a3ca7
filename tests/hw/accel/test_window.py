"""Conv2d (sliding window on the matrix–vector unit), MaxPool, AvgPool and residual Add in the
accelerator: the model against the QuantizedGraph, the timing model, and the RTL (one tiny
build by default; the digits CNN over the whole test split under ``slow``)."""

import functools
from fractions import Fraction

import numpy as np
import pytest

import numfmt as nf
from numfmt import nn
from numfmt.hw.accel import FIFO_LATENCY, MVU_OVERHEAD, Accelerator
from numfmt.hw.accel.window import Add, AvgPool, Convolution, MaxPool, dense_view
from numfmt.nn import _datapath as _dp
from numfmt.nn.layers import im2col
from numfmt.sim import check, lint

#: the digits CNN's folding in these tests: conv1 8 outputs × 9 inputs, conv2/conv3 8 × 8, fc 2 × 8
CNN_FOLD = {"conv1": (8, 9), "conv2": (8, 8), "conv3": (8, 8), "fc": (2, 8)}


@pytest.fixture(scope="module")
def cnn(digits):
    """The digits CNN quantized to int8 weights and activations, and the test images (N, 1, 8, 8)."""
    q = nn.quantize(nn.digits_cnn(), nn.QConfig(weight="int8", act="int8"), digits[0].reshape(-1, 1, 8, 8))
    return q, digits[2].reshape(-1, 1, 8, 8)


def _conv(rng, oc, ic, k, **kw):
    """A Conv2d ``ic → oc``, ``k×k``, with normal weights and biases."""
    return nn.Conv2d(rng.normal(size=(oc, ic, k, k)), rng.normal(size=oc) * 0.3, **kw)


def _tiny_cnn(seed=5):
    """conv 3x3 (1→2, pad 1) → ReLU → conv 3x3 (2→2, pad 1) → ReLU → Add (identity skip) →
    MaxPool 2 (stride 1) → conv 2x2 (2→2) → ReLU → AvgPool 2 → Flatten → Dense (2→3) on a 1×4×4
    input, int8; ``(quantized graph, 200 inputs)``."""
    rng = np.random.default_rng(seed)
    conv = functools.partial(_conv, rng)
    nodes = [nn.Node("conv1", conv(2, 1, 3, padding=1), ("input",)), nn.Node("relu1", nn.ReLU(), ("conv1",)),
             nn.Node("conv2", conv(2, 2, 3, padding=1), ("relu1",)), nn.Node("relu2", nn.ReLU(), ("conv2",)),
             nn.Node("add", nn.Add(), ("relu1", "relu2")), nn.Node("maxpool", nn.MaxPool2d(2, stride=1), ("add",)),
             nn.Node("conv3", conv(2, 2, 2), ("maxpool",)), nn.Node("relu3", nn.ReLU(), ("conv3",)),
             nn.Node("avgpool", nn.AvgPool2d(2), ("relu3",)), nn.Node("flatten", nn.Flatten(), ("avgpool",)),
             nn.Node("fc", nn.Dense(rng.normal(size=(3, 2)), rng.normal(size=3)), ("flatten",))]
    x = rng.normal(size=(200, 1, 4, 4))
    return nn.quantize(nn.Graph(nodes, input_shape=(1, 4, 4)), nn.QConfig(weight="int8", act="int8"), x), x


TINY_FOLD = {"conv1": (2, 3), "conv2": (1, 6), "conv3": (2, 8)}


def _residual_mlp():
    """Dense(16→8) → ReLU → Dense(8→8) → ReLU → Add (skip around the second Dense) → Dense(8→4)."""
    rng = np.random.default_rng(2)
    nodes = [nn.Node("d1", nn.Dense(rng.normal(size=(8, 16)), rng.normal(size=8)), ("input",)),
             nn.Node("r1", nn.ReLU(), ("d1",)),
             nn.Node("d2", nn.Dense(rng.normal(size=(8, 8)), rng.normal(size=8)), ("r1",)),
             nn.Node("r2", nn.ReLU(), ("d2",)), nn.Node("add", nn.Add(), ("r2", "r1")),
             nn.Node("out", nn.Dense(rng.normal(size=(4, 8))), ("add",))]
    x = rng.normal(size=(100, 16))
    return nn.quantize(nn.Graph(nodes, input_shape=(16,)), nn.QConfig(weight="int8", act="int8"), x), x


def _expect_graph(q, x, out):
    logits = q.trace(x)[q.output].reshape(len(x), -1)
    assert np.array_equal(np.stack([out[f"y{k}"] for k in range(logits.shape[1])], axis=1), logits)
    assert np.array_equal(out["label"], q.predict(x))


def _run(acc, x, **kwargs):
    return check(acc, vectors=acc.input_codes(x), stall_limit=3 * acc.latency_cycles, **kwargs)


def _expect_timing(acc, report):
    """``o`` always ready, no idle input: one image every ``ii`` cycles, the first in ``latency_cycles``."""
    assert set(np.diff(report.out_cycles).tolist()) == {acc.ii}
    assert report.latencies[0] == acc.latency_cycles


# -- construction and the timing model ---------------------------------------------------------------

def test_cnn_stages_fork_and_fifos(cnn):
    q, _ = cnn
    acc = Accelerator(q, CNN_FOLD)
    assert [type(s).__name__ for s in acc.stages] == [
        "Convolution", "Activation", "Convolution", "Activation", "Add", "MaxPool", "Convolution", "Activation",
        "AvgPool", "Activation", "MatrixVector", "Argmax"]
    assert acc.sources[4] == ("relu1", "relu2") and acc.skips == {"add": ("relu1", ["conv2", "relu2"])}
    assert [m.node.name for m in acc.mvus] == ["conv1", "conv2", "conv3", "fc"]
    assert [(m.n_in, m.n_out, m.cycles) for m in acc.mvus] == [(9, 8, 1), (72, 8, 9), (72, 16, 18), (64, 10, 40)]
    assert acc.fifo_before == {2, 6, 10}                   # conv2, conv3, fc: rates 258, 770, 338, 43
    # the skip FIFO holds what the branch can: conv2's rate FIFO (4) and conv2 itself, plus one
    assert acc.skip_depth == {"add": 4 + 1 + 1}
    conv1, conv2, conv3 = (acc.stages[k] for k in (0, 2, 6))
    assert (conv1.out_shape, conv2.out_shape, conv3.out_shape) == ((8, 8, 8), (8, 8, 8), (16, 4, 4))
    assert list(acc.in_fields) == [f"x{k}" for k in range(64)]


def test_cnn_timing_model(cnn):
    q, _ = cnn
    for folding in ({}, CNN_FOLD):
        acc = Accelerator(q, folding)
        conv = [s for s in acc.stages if isinstance(s, Convolution)]
        for s in conv:                           # a window per OH·OW, each through the MVU, + 2 registers
            oc, oh, ow = s.out_shape
            t = (oc // s.pe) * (s.mvu.n_in // s.simd)
            assert s.latency == s.ii == oh * ow * (t + MVU_OVERHEAD) + 2
        add, pool = acc.stages[4], acc.stages[8]
        assert (add.lanes, add.latency, pool.lanes, pool.latency) == (8, 512 // 8 + 1, 16, 64 // 16 + 1)
        assert acc.stages[5].latency == 1                         # MaxPool: one register
        assert acc.ii == max(s.ii for s in acc.stages) == conv[1].ii
        # the branch (conv2, relu2) is longer than the skip FIFO: the latency is the sum along the
        # main path, with a FIFO's latency for each rate FIFO
        assert acc.latency_cycles == sum(s.latency for s in acc.stages) + FIFO_LATENCY * len(acc.fifo_before)


def test_window_order_is_im2col(cnn):
    """The window of output pixel p holds the input codes of im2col row p (codes of 0 as padding)."""
    q, x = cnn
    conv = Convolution(q.node("conv2"), (8, 8, 8), pe=8, simd=8)
    codes = q.trace(x[:3])["relu1"]
    table = conv.window_index()
    flat = codes.reshape(3, -1)
    windows = np.where(table[None] < 0, 0, flat[:, np.maximum(table, 0)])
    assert np.array_equal(windows.reshape(-1, 72), im2col(codes.astype(np.int64), (3, 3), (1, 1), (1, 1)))


# -- the model is the QuantizedGraph ------------------------------------------------------------------

def test_cnn_model_equals_the_graph_on_the_test_split(cnn):
    q, x = cnn
    acc = Accelerator(q, CNN_FOLD)
    _expect_graph(q, x, acc.model(acc.input_codes(x)))


def test_stages_alone_equal_their_nodes(cnn):
    """Each new stage's model is its node's run on the codes the graph gives it."""
    q, x = cnn
    x = x[:40]
    trace = q.trace(x)

    def fields(prefix, name):
        c = trace[name].reshape(len(x), -1)
        return {f"{prefix}{k}": c[:, k].astype(np.uint64) for k in range(c.shape[1])}

    stages = [(Convolution(q.node("conv3"), (8, 4, 4), pe=4, simd=9), fields("x", "maxpool"), "conv3"),
              (MaxPool(q.node("maxpool"), (8, 8, 8)), fields("x", "add"), "maxpool"),
              (AvgPool(q.node("avgpool"), (16, 4, 4), lanes=4), fields("x", "relu3"), "avgpool"),
              (Add(q.node("add"), 512, lanes=16), {**fields("a", "relu1"), **fields("b", "relu2")}, "add")]
    for stage, inputs, name in stages:
        out = stage.model(inputs)
        assert np.array_equal(np.stack([out[f"y{k}"] for k in range(stage.n_out)], axis=1),
                              trace[name].reshape(len(x), -1)), name


def test_residual_mlp_model():
    q, x = _residual_mlp()
    acc = Accelerator(q, {"d1": (2, 4)})
    assert acc.skips == {"add": ("r1", ["d2", "r2"])} and acc.sources[4] == ("r2", "r1")
    _expect_graph(q, x, acc.model(acc.input_codes(x)))


def test_errors(cnn):
    q, _ = cnn
    with pytest.raises(ValueError, match="pe=3 must divide the output channels of 'conv2' \\(8\\)"):
        Accelerator(q, {"conv2": (3, 1)})
    with pytest.raises(ValueError, match="simd=5 must divide the inputs of 'conv3' \\(72\\)"):
        Accelerator(q, {"conv3": (1, 5)})
    with pytest.raises(ValueError, match="lanes=3 must divide the outputs of 'add' \\(512\\)"):
        Add(q.node("add"), 512, lanes=3)
    with pytest.raises(ValueError, match="in_shape must be a \\(C, H, W\\) shape, not \\(8, 8\\)"):
        MaxPool(q.node("maxpool"), (8, 8))
    with pytest.raises(ValueError, match="node 'conv2': Conv2d with weight \\(8, 8, 3, 3\\) needs 8 input channels, "
                                         "not 4"):
        Convolution(q.node("conv2"), (4, 8, 8))
    with pytest.raises(TypeError, match="node must be a Conv2d QLinear node"):
        dense_view(q.node("fc"))
    rng = np.random.default_rng(0)
    # two branches from the input into one Add: no identity skip
    nodes = [nn.Node("a", nn.Dense(rng.normal(size=(4, 4))), ("input",)),
             nn.Node("b", nn.Dense(rng.normal(size=(4, 4))), ("input",)), nn.Node("add", nn.Add(), ("a", "b"))]
    x = rng.normal(size=(20, 4))
    two = nn.quantize(nn.Graph(nodes, input_shape=(4,)), nn.QConfig(weight="int8", act="int8"), x)
    with pytest.raises(ValueError, match="node 'add': the accelerator takes an Add only as an identity skip"):
        Accelerator(two)


# -- RTL --------------------------------------------------------------------------------------------

@pytest.mark.slow
def test_rtl_tiny_cnn():
    """The default run's one build: a tiny CNN with every new stage (a residual Add, MaxPool with
    stride 1, a 2x2 conv without padding, AvgPool), 8 inputs at full rate with the model's II and latency."""
    q, x = _tiny_cnn()
    acc = Accelerator(q, TINY_FOLD)
    _expect_graph(q, x, acc.model(acc.input_codes(x)))
    report = _run(acc, x[:8])
    assert report.n_vectors == 8
    _expect_timing(acc, report)


@pytest.mark.slow
def test_synth_tiny_cnn_has_no_latches(synthesizes_without_latches):
    """The window, pool and Add stages through ``synth_xilinx``."""
    q, _ = _tiny_cnn()
    synthesizes_without_latches(Accelerator(q, TINY_FOLD))


@pytest.mark.slow
def test_rtl_tiny_cnn_idle_and_backpressure():
    q, x = _tiny_cnn()
    acc = Accelerator(q, TINY_FOLD)
    report = _run(acc, x[:60], idle=0.3, backpressure=0.3, seed=4)
    assert report.n_vectors == 60
    assert report.latencies.min() >= acc.latency_cycles


@pytest.mark.sweep        # the digits CNN's build and 360 images (CI: the tiny CNN and the residual MLP, -m slow)
def test_rtl_digits_cnn_whole_split(cnn):
    """All 360 test images through the folded digits CNN: every logit and label equal to the
    QuantizedGraph, one image every ``ii`` cycles, the first in ``latency_cycles``."""
    q, x = cnn
    acc = Accelerator(q, CNN_FOLD)
    report = _run(acc, x)
    assert report.n_vectors == 360
    _expect_timing(acc, report)


@pytest.mark.slow
def test_rtl_residual_mlp():
    """A 1-d residual Add (one lane) around a Dense layer, with back-pressure, then at full rate."""
    q, x = _residual_mlp()
    acc = Accelerator(q, {"d1": (2, 4)})
    assert _run(acc, x, idle=0.2, backpressure=0.4, seed=1).n_vectors == len(x)
    _expect_timing(acc, _run(acc, x))


@pytest.mark.slow
def test_lint_digits_cnn(cnn):
    """Lint of the folded digits CNN (only the standing Amaranth waivers of ``sim.lint``)."""
    q, _ = cnn
    fold = {"conv1": (4, 3), "conv2": (4, 8), "conv3": (8, 8), "fc": (2, 8)}
    assert {w.rule for w in lint(Accelerator(q, fold))} <= {
        "DECLFILENAME", "PROCASSINIT", "UNUSEDSIGNAL", "WIDTHEXPAND"}


# -- minifloat and MX convolutions ----------------------------------------------------------------

#: the tiny float CNNs' QConfigs: e4m3fn (Kulisch registers) and MX e2m1fn blocks of 8 (one
#: conv window of 2·2·2 inputs is one block)
FLOAT_CNN = {"e4m3fn": nn.QConfig(weight="e4m3fn", act="e4m3fn"),
             "mx8": nn.QConfig(weight=nf.BlockFormat(nf.FLOATS["e2m1fn"], 8), act=nf.BlockFormat(nf.FLOATS["e2m1fn"], 8))}


def _float_cnn(name, seed=5):
    """conv 2x2 (2→2, pad 1) → MaxPool 2 (stride 1) → ReLU → conv 2x2 (2→2) → ReLU → Flatten →
    Dense (8→3) on a 2×4×4 input, quantized with ``FLOAT_CNN[name]``; ``(graph, 120 inputs)``."""
    return _float_net(name, seed, lambda rng, conv: [
        nn.Node("conv1", conv(2, 2, 2, padding=1), ("input",)),
        nn.Node("maxpool", nn.MaxPool2d(2, stride=1), ("conv1",)), nn.Node("relu1", nn.ReLU(), ("maxpool",)),
        nn.Node("conv2", conv(2, 2, 2), ("relu1",)), nn.Node("relu2", nn.ReLU(), ("conv2",)),
        nn.Node("flatten", nn.Flatten(), ("relu2",)),
        nn.Node("fc", nn.Dense(rng.normal(size=(3, 18)), rng.normal(size=3)), ("flatten",))])


def _float_net(name, seed, layers):
    """The nodes ``layers(rng, conv)`` on a 2×4×4 input quantized with ``FLOAT_CNN[name]``;
    ``(graph, 120 normal inputs, the first all zero)``."""
    rng = np.random.default_rng(seed)
    nodes = layers(rng, functools.partial(_conv, rng))
    x = rng.normal(size=(120, 2, 4, 4))
    x[0] = 0.0
    return nn.quantize(nn.Graph(nodes, input_shape=(2, 4, 4)), FLOAT_CNN[name], x), x


FLOAT_FOLD = {"conv1": (2, 4), "conv2": (1, 8), "fc": (3, 2)}


@pytest.mark.parametrize("name", list(FLOAT_CNN))
def test_float_cnn_model_equals_the_graph(name):
    """Minifloat and MX convolutions (FloatMatrixVector / BlockMatrixVector behind the window
    generator) and a MaxPool on minifloat or FP32-carrier codes: every logit and label equal."""
    q, x = _float_cnn(name)
    acc = Accelerator(q, FLOAT_FOLD)
    kind = {"e4m3fn": "FloatMatrixVector", "mx8": "BlockMatrixVector"}[name]
    assert [type(s).__name__ for s in acc.mvus] == [kind] * 3
    _expect_graph(q, x, acc.model(acc.input_codes(x)))


def test_minifloat_maxpool_gives_positive_zero():
    """``MaxPool2d`` takes +0 as the maximum of a window of zeros of either sign (NumPy's ``max``
    alone returns either, by its reduction order), and the stage's model follows it."""
    q, _ = _float_cnn("e4m3fn")
    stage = MaxPool(q.node("maxpool"), (2, 5, 5))
    codes = np.zeros((3, 50), dtype=np.uint64)
    codes[0] = 0x80                                      # every input -0
    codes[1, ::2] = 0x80                                 # -0 and +0 alternating
    codes[2] = np.where(np.arange(50) % 3, 0x80, 0xB8)   # -0 and -1.0
    out = stage.model({f"x{k}": codes[:, k] for k in range(50)})
    assert all(out[f"y{k}"].tolist() == [0, 0, 0] for k in range(stage.n_out))


@pytest.mark.slow
@pytest.mark.parametrize("net", ["cnn", "residual"])
@pytest.mark.parametrize("name", ["e4m3fn", pytest.param("mx8", marks=pytest.mark.sweep)])   # mx8: 1.5-2 min
def test_rtl_float_cnn(net, name):
    """The e4m3fn and MX tiny CNNs in Verilator — convolutions and MaxPool (``cnn``), the residual
    Add and AvgPool (``residual``) —: 30 inputs with idle cycles and back-pressure, then 8 at full
    rate with the model's II and latency."""
    make, fold = {"cnn": (_float_cnn, FLOAT_FOLD), "residual": (_float_residual, RESIDUAL_FOLD)}[net]
    q, x = make(name)
    acc = Accelerator(q, fold)
    assert _run(acc, x[:30], idle=0.2, backpressure=0.2, seed=2).n_vectors == 30
    _expect_timing(acc, _run(acc, x[:8]))


@pytest.mark.slow
def test_rtl_minifloat_maxpool_signed_zeros():
    """The MaxPool stage alone on e4m3fn codes with -0, +0, ties and negatives: the RTL's
    compare chains (by value, +0 for a zero maximum) equal its model."""
    q, _ = _float_cnn("e4m3fn")
    stage = MaxPool(q.node("maxpool"), (2, 5, 5))
    rng = np.random.default_rng(7)
    pool = np.array([0x00, 0x80, 0x38, 0xB8, 0x01, 0x81, 0x7E, 0xFE, 0x40, 0xC0], dtype=np.uint64)
    codes = pool[rng.integers(0, pool.size, size=(200, 50))]
    codes[0], codes[1, ::2], codes[1, 1::2] = 0x80, 0x80, 0x00
    report = check(stage, vectors={f"x{k}": codes[:, k] for k in range(50)})
    assert report.n_vectors == 200


# -- AvgPool and residual Add on minifloat and MX activations ----------------------------------------

def _float_residual(name, seed=3):
    """conv 2x2 (2→2, pad 1) → ReLU → conv 1x1 (2→2) → ReLU → Add (identity skip) → AvgPool 2 →
    Flatten → Dense (8→3) on a 2×4×4 input, quantized with ``FLOAT_CNN[name]``; ``(graph, 120 inputs)``."""
    return _float_net(name, seed, lambda rng, conv: [
        nn.Node("conv1", conv(2, 2, 2, padding=1), ("input",)), nn.Node("relu1", nn.ReLU(), ("conv1",)),
        nn.Node("conv2", conv(2, 2, 1), ("relu1",)), nn.Node("relu2", nn.ReLU(), ("conv2",)),
        nn.Node("add", nn.Add(), ("relu1", "relu2")), nn.Node("avgpool", nn.AvgPool2d(2), ("add",)),
        nn.Node("flatten", nn.Flatten(), ("avgpool",)),
        nn.Node("fc", nn.Dense(rng.normal(size=(3, 8)), rng.normal(size=3)), ("flatten",))])


RESIDUAL_FOLD = {"conv1": (2, 4), "conv2": (2, 2), "fc": (3, 2)}


def _floor_log2(v: Fraction) -> int:
    e = v.numerator.bit_length() - v.denominator.bit_length()
    return e if Fraction(2) ** e <= v else e - 1


def _nearest(fmt, v: Fraction) -> float:
    """The value of FloatFormat ``fmt`` nearest to ``v`` (ties to the even significand), saturating
    at ``±max``, a zero as +0: ``numfmt.nn``'s activation rounding, written from its definition."""
    if v == 0:
        return 0.0
    ulp = Fraction(2) ** (max(_floor_log2(abs(v)), fmt.min_exp) - fmt.man)
    n, r = divmod(abs(v), ulp)
    n = int(n) + (r > ulp / 2 or (r == ulp / 2 and int(n) % 2 == 1))
    mag = min(n * ulp, Fraction(fmt.max))
    return float(mag if v > 0 else -mag) + 0.0


def _codes_of(fmt, values) -> np.ndarray:
    return fmt.encode(np.asarray(values, dtype=np.float64)).astype(np.uint64)


@pytest.mark.parametrize("name", list(FLOAT_CNN))
def test_float_residual_model_equals_the_graph(name):
    """A residual Add and an AvgPool on e4m3fn codes and on MX networks' FP32 carrier codes:
    every logit and label of the accelerator's model equal to the QuantizedGraph."""
    q, x = _float_residual(name)
    acc = Accelerator(q, RESIDUAL_FOLD)
    assert [type(s).__name__ for s in acc.stages[4:6]] == ["Add", "AvgPool"]
    assert all(s.requantizer is None for s in acc.stages[4:6])
    _expect_graph(q, x, acc.model(acc.input_codes(x)))


def _add_every_pair(fmt):
    """``(a codes, b codes)``: every pair of the format's non-NaN codes, as ``(254, 254)`` vectors."""
    codes = np.array([c for c in range(1 << fmt.bits) if not np.isnan(fmt.decode(np.array([c]))[0])],
                     dtype=np.uint64)
    return np.repeat(codes[:, None], codes.size, axis=1), np.repeat(codes[None, :], codes.size, axis=0)


def _add_expected(node, a, b):
    """``R((A·m_a + B·m_b)·2**-shift)`` in Fractions, ``A``, ``B`` the codes' values in quanta
    (block activations: ``R(A·q + B·q)``, the exact sum of the carrier values)."""
    fmt = node.out.format
    (qa, va), (qb, vb) = ((Fraction(2) ** _dp.quantum_exp(t.format), t.format.decode(c))
                          for t, c in ((node.xa, a), (node.xb, b)))
    ma, mb = node.multipliers
    unit = qa if node.out.block is not None else 1
    return _codes_of(fmt, [[_nearest(fmt, (Fraction(x) / qa * ma + Fraction(y) / qb * mb) * unit / (1 << node.shift))
                            for x, y in zip(ra, rb)] for ra, rb in zip(va.tolist(), vb.tolist())])


def _add_model(stage, a, b):
    out = stage.model({**{f"a{k}": a[:, k] for k in range(stage.size)}, **{f"b{k}": b[:, k] for k in range(stage.size)}})
    return np.stack([out[f"y{k}"] for k in range(stage.size)], axis=1)


def test_minifloat_add_every_code_pair_against_fractions():
    """The e4m3fn residual Add's model on every pair of non-NaN codes equals
    ``R((A·m_a + B·m_b)·2**-shift)`` computed in Fractions (``_nearest``): its dyadic
    multipliers, one rounding, saturation, ±0 → +0."""
    q, _ = _float_residual("e4m3fn")
    a, b = _add_every_pair(q.node("add").out.format)
    stage = Add(q.node("add"), a.shape[1], lanes=2)
    assert np.array_equal(_add_model(stage, a, b), _add_expected(stage.node, a, b))


def _carrier_pairs(rng, n=120, size=64):
    """FP32 carrier code pairs: random codes over the whole exponent range, and pairs of the
    format's edges (±0, subnormals, ±max — whose sum saturates —, x and −x, which cancel to +0)."""
    a = ((rng.integers(0, 0xFF, size=(n, size)) << 23) | rng.integers(0, 1 << 23, size=(n, size))
         | (rng.integers(0, 2, size=(n, size)) << 31))
    b = ((rng.integers(0, 0xFF, size=(n, size)) << 23) | rng.integers(0, 1 << 23, size=(n, size))
         | (rng.integers(0, 2, size=(n, size)) << 31))
    edges = np.array([0, 1 << 31, 1, 0x007FFFFF, 0x00800000, 0x7F7FFFFF, 0xFF7FFFFF, 0x3F800000, 0xBF800000,
                      0x33800000, 0x4B800000])
    half = n // 2
    a[:half] = edges[rng.integers(0, edges.size, size=(half, size))]
    b[:half] = edges[rng.integers(0, edges.size, size=(half, size))]
    b[half:half + 10] = a[half:half + 10] ^ (1 << 31)                     # x + (−x)
    b[half + 10:half + 20] = (a[half + 10:half + 20] & ~0x7FFFFFFF) | 0x7F7FFFFF   # near the saturation
    return a.astype(np.uint64), b.astype(np.uint64)


def test_carrier_add_against_fractions():
    """The residual Add of an MX network (FP32 carrier codes, the exact sum rounded once)."""
    q, _ = _float_residual("mx8")
    a, b = _carrier_pairs(np.random.default_rng(12))
    stage = Add(q.node("add"), a.shape[1], lanes=8)
    assert np.array_equal(_add_model(stage, a, b), _add_expected(stage.node, a, b))


def _avgpool_stage(name, width, lanes=8):
    """The AvgPool node of ``_float_residual(name)`` as a stage over a ``(1, 2, width)`` input:
    ``width/2`` windows of 2×2."""
    q, _ = _float_residual(name)
    return AvgPool(q.node("avgpool"), (1, 2, width), lanes=lanes)


def _avgpool_expected(stage, codes):
    """``R(S · multiplier · 2**-shift)`` in Fractions for the stage's windows (``S`` the window sum
    in quanta; for FP32-carrier codes the exact window sum times ``2**-shift``)."""
    node, fmt = stage.node, stage.fmt
    quantum = Fraction(2) ** _dp.quantum_exp(fmt)
    mult = quantum if node.out.block is not None else Fraction(node.multiplier)
    values = fmt.decode(codes)
    return _codes_of(fmt, [[_nearest(fmt, sum(Fraction(row[e]) / quantum for e in win) * mult / (1 << node.shift))
                            for win in stage.table] for row in values])


def test_avgpool_on_minifloat_and_carrier_codes_against_fractions():
    """AvgPool 2x2 of e4m3fn codes (random windows and every code at the format's edges: ±max,
    subnormals, ±0) and of FP32 carrier codes (exponents over the whole range, cancellations to
    zero, sums over max): the model equals the Fraction rounding."""
    rng = np.random.default_rng(11)
    for name, edges in (("e4m3fn", [0x00, 0x80, 0x01, 0x81, 0x07, 0x08, 0x7E, 0xFE, 0x38, 0xB8]),
                        ("mx8", [0, 1 << 31, 1, 0x007FFFFF, 0x00800000, 0x7F7FFFFF, 0xFF7FFFFF, 0x3F800000,
                                 0xBF800000, 0x0D000000, 0x72000000])):
        stage = _avgpool_stage(name, 64)
        fmt = stage.fmt
        if name == "e4m3fn":
            codes = rng.integers(0, 0x7F, size=(120, 128)) | (rng.integers(0, 2, size=(120, 128)) << 7)
        else:
            codes = (rng.integers(0, 0xFF, size=(120, 128)) << 23) | rng.integers(0, 1 << 23, size=(120, 128))
            codes |= rng.integers(0, 2, size=(120, 128)) << 31
        codes[:60] = np.asarray(edges)[rng.integers(0, len(edges), size=(60, 128))]
        codes = codes.astype(np.uint64)
        out = stage.model({f"x{k}": codes[:, k] for k in range(128)})
        got = np.stack([out[f"y{k}"] for k in range(stage.n_out)], axis=1)
        assert np.array_equal(got, _avgpool_expected(stage, codes)), name


@pytest.mark.slow
def test_rtl_minifloat_add_every_code_pair():
    """The e4m3fn Add stage's RTL on every pair of non-NaN codes equals its model (which
    ``test_minifloat_add_every_code_pair_against_fractions`` checks against Fractions)."""
    q, _ = _float_residual("e4m3fn")
    a, b = _add_every_pair(q.node("add").out.format)
    stage = Add(q.node("add"), a.shape[1], lanes=2)
    vectors = {**{f"a{k}": a[:, k] for k in range(stage.size)}, **{f"b{k}": b[:, k] for k in range(stage.size)}}
    assert check(stage, vectors=vectors).n_vectors == a.shape[0]


@pytest.mark.slow
def test_rtl_carrier_add_and_avgpool():
    """The MX network's Add and AvgPool stages alone on FP32 carrier codes (the edges of
    ``_carrier_pairs``: cancellation, saturation, subnormals) equal their models."""
    q, _ = _float_residual("mx8")
    a, b = _carrier_pairs(np.random.default_rng(13), n=60, size=8)
    add = Add(q.node("add"), 8, lanes=2)
    vectors = {**{f"a{k}": a[:, k] for k in range(8)}, **{f"b{k}": b[:, k] for k in range(8)}}
    assert check(add, vectors=vectors).n_vectors == 60
    pool = _avgpool_stage("mx8", 8, lanes=2)
    codes = np.concatenate([a, b], axis=1)
    assert check(pool, vectors={f"x{k}": codes[:, k] for k in range(16)}).n_vectors == 60
