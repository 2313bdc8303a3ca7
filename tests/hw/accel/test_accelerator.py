"""The streaming accelerator of the digits MLP: construction, its model against the
QuantizedGraph, its II/latency model, and its RTL in the simulator (one run by default)."""

import numpy as np
import pytest

from numfmt import nn
from numfmt.hw.accel import FIFO_LATENCY, MVU_OVERHEAD, Accelerator
from numfmt.sim import check, lint

#: the digits MLP's folding of the default run, and fully serial (pe = simd = 1)
FOLDED = {"dense0": (8, 8), "dense2": (8, 8), "dense4": (2, 8)}
SERIAL = {}


def _logits(out):
    return np.stack([out[f"y{k}"] for k in range(10)], axis=1)


def _expect_graph(acc, q, x, out):
    """``out`` (observed or modelled output fields) equals the QuantizedGraph on ``x``."""
    assert np.array_equal(_logits(out), q.trace(x)[q.output])
    assert np.array_equal(out["label"], q.predict(x))


# -- construction -------------------------------------------------------------------------------

def test_stages_and_fifos(quantized):
    acc = Accelerator(quantized("int8"), FOLDED)
    assert [type(s).__name__ for s in acc.stages] == ["MatrixVector", "Activation", "MatrixVector",
                                                      "Activation", "MatrixVector", "Argmax"]
    assert [(s.pe, s.simd, s.cycles) for s in acc.mvus] == [(8, 8, 64), (8, 8, 32), (2, 8, 20)]
    assert acc.fifo_before == {2, 4}                  # rates 67, 35, 23 cycles: all differ
    assert list(acc.in_fields) == [f"x{k}" for k in range(64)]
    assert list(acc.out_fields) == [f"y{k}" for k in range(10)] + ["label"]
    assert acc.out_fields["label"].width == 4


def test_ii_and_latency_model(quantized):
    for folding in (SERIAL, FOLDED, {"dense0": (64, 64), "dense2": (32, 64), "dense4": (10, 32)}):
        acc = Accelerator(quantized("int8"), folding)
        mac = [(s.n_out // s.pe) * (s.n_in // s.simd) for s in acc.mvus]
        assert acc.ii == max(mac) + MVU_OVERHEAD
        assert acc.latency_cycles == sum(mac) + 3 * MVU_OVERHEAD + 1 + FIFO_LATENCY * len(acc.fifo_before)
        assert acc.latency is None
    same = Accelerator(quantized("int8"), {"dense0": (8, 8), "dense2": (8, 4), "dense4": (1, 32)})
    assert [s.ii for s in same.mvus] == [67, 67, 13] and same.fifo_before == {4}


def test_errors(quantized):
    q = quantized("int8")
    with pytest.raises(TypeError, match="graph must be a numfmt.nn.QuantizedGraph, not Graph"):
        Accelerator(nn.digits_mlp())
    with pytest.raises(ValueError, match=r"folding names 'relu1', which is not a Dense node of the graph "
                                         r"\(dense0, dense2, dense4\)"):
        Accelerator(q, {"relu1": (1, 1)})
    with pytest.raises(ValueError, match=r"folding\['dense0'\] must be a pair \(pe, simd\), not 8"):
        Accelerator(q, {"dense0": 8})
    with pytest.raises(TypeError, match="folding must be a dict"):
        Accelerator(q, [(1, 1)])
    with pytest.raises(ValueError, match="pe=3 must divide the output channels of 'dense4' \\(10\\)"):
        Accelerator(q, {"dense4": (3, 1)})
    with pytest.raises(ValueError, match="fifo_depth must be an integer ≥ 3, not 2"):
        Accelerator(q, fifo_depth=2)


def test_flatten_input(digits):
    """A Flatten in front of the first Dense is a wire: the image's codes in C order."""
    rng = np.random.default_rng(1)
    g = nn.Graph.sequential([nn.Flatten(), nn.Dense(rng.normal(size=(10, 64)), np.zeros(10))], input_shape=(1, 8, 8))
    x = digits[2][:50].reshape(-1, 1, 8, 8)
    q = nn.quantize(g, nn.QConfig(weight="int8", act="int8"), x)
    acc = Accelerator(q, {"dense1": (2, 16)})
    _expect_graph(acc, q, x, acc.model(acc.input_codes(x)))


# -- the model is the QuantizedGraph ----------------------------------------------------------------

@pytest.mark.parametrize("name", ["int8", "int4", "acc16sat"])
def test_model_equals_the_graph_on_the_test_split(quantized, digits, name):
    q, x = quantized(name), digits[2]
    acc = Accelerator(q, FOLDED)
    _expect_graph(acc, q, x, acc.model(acc.input_codes(x)))


# -- RTL ------------------------------------------------------------------------------------------

def _run(acc, x, **kwargs):
    return check(acc, vectors=acc.input_codes(x), stall_limit=3 * acc.latency_cycles, **kwargs)


def _expect_timing(acc, report):
    """With ``o`` always ready and no idle input: one image every ``ii`` cycles, the first
    through the empty pipeline in ``latency_cycles``."""
    assert set(np.diff(report.out_cycles).tolist()) == {acc.ii}
    assert report.latencies[0] == acc.latency_cycles


@pytest.mark.slow
def test_rtl_int8_subset(quantized, digits):
    """20 test images through the folded int8 MLP."""
    acc = Accelerator(quantized("int8"), FOLDED)
    report = _run(acc, digits[2][:20])        # the checker compares every logit and label with the model
    assert report.n_vectors == 20
    _expect_timing(acc, report)


@pytest.mark.slow
def test_rtl_two_foldings_whole_split(quantized, digits):
    """Fully serial and folded: exact on all 360 test images, each at the II of its model."""
    q, x = quantized("int8"), digits[2]
    for folding in (SERIAL, FOLDED):
        acc = Accelerator(q, folding)
        _expect_timing(acc, _run(acc, x))


@pytest.mark.slow
@pytest.mark.parametrize("name, folding", [("int4", FOLDED), ("acc16sat", {"dense0": (4, 16), "dense2": (2, 8)})])
def test_rtl_variants_whole_split(quantized, digits, name, folding):
    acc = Accelerator(quantized(name), folding)
    _expect_timing(acc, _run(acc, digits[2]))


@pytest.mark.slow
def test_rtl_idle_and_backpressure(quantized, digits):
    acc = Accelerator(quantized("int8"), FOLDED)
    for seed, (idle, bp) in enumerate([(0.5, 0.0), (0.0, 0.7), (0.3, 0.3)]):
        report = _run(acc, digits[2][:120], idle=idle, backpressure=bp, seed=seed)
        assert report.n_vectors == 120
        # stalls only delay: the first stage takes an image at most every ii cycles, and no
        # image passes faster than through the empty pipeline
        assert np.diff(report.in_cycles).min() >= acc.stages[0].ii
        assert report.latencies.min() >= acc.latency_cycles


def test_rtl_tiny_relu6(tiny_graph):
    """The default run's representative case (a small build): a Dense/ReLU6/Dense chain with
    idle cycles and back-pressure, then at full rate with the model's II and latency."""
    q, x = tiny_graph()
    acc = Accelerator(q, {"dense0": (2, 3), "dense2": (3, 2)})
    report = _run(acc, x, idle=0.2, backpressure=0.2)
    assert report.n_vectors == len(x)
    _expect_timing(acc, _run(acc, x))


def test_lint_tiny(tiny_graph):
    q, _ = tiny_graph()
    assert {w.rule for w in lint(Accelerator(q, {"dense0": (2, 3)}))} <= {
        "DECLFILENAME", "PROCASSINIT", "UNUSEDSIGNAL", "WIDTHEXPAND"}


@pytest.mark.slow
@pytest.mark.parametrize("folding", [SERIAL, FOLDED])
def test_lint_digits(quantized, folding):
    lint(Accelerator(quantized("int8"), folding))


@pytest.mark.slow
def test_synth_xilinx_has_no_latches(quantized, synthesizes_without_latches):
    synthesizes_without_latches(Accelerator(quantized("int8"), FOLDED))
