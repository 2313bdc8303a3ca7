"""The bit-serial and LUT-GEMM matrix–vector stages: timing model, models against the
QuantizedGraph, selection per layer, one small RTL run by default; under -m slow the
digits designs over the whole test split, narrow registers, lint."""

import math
from pathlib import Path

import numpy as np
import pytest

from numfmt import nn
from numfmt.arith import FixedAccumulator
from numfmt.flow.design import load, prepare
from numfmt.hw.accel import (MVU_OVERHEAD, VARIANTS, Accelerator, BitSerialMatrixVector, LutMatrixVector,
                             MatrixVector)
from numfmt.sim import check, lint

DESIGNS = Path(__file__).resolve().parents[3] / "designs"
FOLD = {"dense0": (16, 16), "dense2": (8, 16), "dense4": (5, 8)}
STAGES = {"bitserial": BitSerialMatrixVector, "lutgemm": LutMatrixVector}


def _codes(trace, name):
    c = trace[name].reshape(trace[name].shape[0], -1)
    return {f"x{k}": c[:, k].astype(np.uint64) for k in range(c.shape[1])}


def _expect_graph(q, x, out):
    assert np.array_equal(np.stack([out[f"y{k}"] for k in range(10)], axis=1), q.trace(x)[q.output])
    assert np.array_equal(out["label"], q.predict(x))


def _expect_timing(report, ii, latency):
    assert set(np.diff(report.out_cycles).tolist()) == {ii}
    assert report.latencies[0] == latency


# -- timing model ---------------------------------------------------------------------------------

@pytest.mark.parametrize("name, weight_bits", [("int8", 8), ("int4", 4)])
def test_timing_model(quantized, name, weight_bits):
    node = quantized(name).node("dense0")             # 64 -> 64, int8 activations
    for pe, simd in [(1, 1), (4, 16), (8, 8), (2, 2)]:
        folds = (64 // pe) * (64 // simd)
        bs = BitSerialMatrixVector(node, pe=pe, simd=simd)
        assert bs.passes == 8 * weight_bits                             # activation × weight bit planes
        lut = LutMatrixVector(node, pe=pe, simd=simd)
        assert lut.g == min(4, simd) and lut.passes == math.ceil(simd / lut.g) * weight_bits
        for s in (bs, lut):
            assert s.cycles == folds * s.passes
            assert s.latency == s.ii == s.cycles + MVU_OVERHEAD
    assert LutMatrixVector(node, pe=4, simd=16, g=2).passes == 8 * weight_bits
    assert LutMatrixVector(node, pe=4, simd=16, sign_symmetric=False).units[0].entries == 16


def test_accelerator_model(quantized):
    acc = Accelerator(quantized("int4"), FOLD, variants={"dense0": "bitserial", "dense4": "lutgemm"})
    assert [type(s).__name__ for s in acc.mvus] == ["BitSerialMatrixVector", "MatrixVector", "LutMatrixVector"]
    assert [s.cycles for s in acc.mvus] == [16 * 32, 16, 8 * 8]
    assert acc.ii == 16 * 32 + MVU_OVERHEAD and acc.fifo_before == {2, 4}
    assert acc.latency_cycles == sum(s.latency for s in acc.stages) + 2 * 2


def test_same_roms_as_the_mvu(quantized):
    node = quantized("int4").node("dense2")
    mvu = MatrixVector(node, pe=4, simd=8)
    for cls in STAGES.values():
        s = cls(node, pe=4, simd=8)
        assert s.weight_words() == mvu.weight_words() and s.bias_words() == mvu.bias_words()
        assert s.register_width == mvu.register_width


# -- models: the QuantizedGraph -------------------------------------------------------------------

@pytest.mark.parametrize("name", ["int8", "int4"])
@pytest.mark.parametrize("variant", ["bitserial", "lutgemm"])
def test_model_equals_the_graph(quantized, digits, name, variant):
    q, x = quantized(name), digits[2]
    acc = Accelerator(q, FOLD, variants=variant)
    assert {type(s) for s in acc.mvus} == {STAGES[variant]}
    _expect_graph(q, x, acc.model(acc.input_codes(x)))


def test_selection_and_names(quantized):
    q = quantized("int8")
    names = {v: Accelerator(q, FOLD, variants=v).name for v in VARIANTS}
    assert len(set(names.values())) == 3                    # the variant is part of the module name
    assert "16x16bitserial" in names["bitserial"] and "16x16lutgemm" in names["lutgemm"]
    assert "16x16_" in names["mvu"]
    same = Accelerator(q, FOLD, variants={"dense0": "mvu"})
    assert same.name == names["mvu"]


def test_errors(quantized, tiny_graph):
    q = quantized("int8")
    with pytest.raises(ValueError, match="node 'dense2': variant must be 'mvu', 'bitserial', 'lutgemm', "
                                         "not 'systolic'"):
        Accelerator(q, variants={"dense2": "systolic"})
    with pytest.raises(ValueError, match="node 'dense0': variant must be .*, not 'BISMO'"):
        Accelerator(q, variants="BISMO")
    with pytest.raises(ValueError, match=r"variants names 'relu1', which is not a Dense node of the graph "
                                         r"\(dense0, dense2, dense4\)"):
        Accelerator(q, variants={"relu1": "bitserial"})
    with pytest.raises(TypeError, match="variants must be a str or a dict"):
        Accelerator(q, variants=["bitserial"])
    with pytest.raises(ValueError, match="pe=3 must divide the output channels of 'dense4'"):
        LutMatrixVector(q.node("dense4"), pe=3)
    with pytest.raises(ValueError, match="g must be an integer in 1..8, not 9"):
        LutMatrixVector(q.node("dense4"), g=9)
    with pytest.raises(TypeError, match="sign_symmetric must be a bool, not 1"):
        LutMatrixVector(q.node("dense4"), sign_symmetric=1)
    sat, _ = tiny_graph(FixedAccumulator(12, overflow="sat"))
    for cls, name in ((BitSerialMatrixVector, "bitserial"), (LutMatrixVector, "lutgemm")):
        with pytest.raises(ValueError, match=f"node 'dense0': the {name} variant adds the simd=2 products of a "
                                             "cycle as one exact sum, not saturating after each"):
            cls(sat.node("dense0"), pe=2, simd=2)
        assert cls(sat.node("dense0"), pe=2, simd=1).register.width == 12   # one product per addition


@pytest.mark.parametrize("acc, simd", [(FixedAccumulator(12, overflow="wrap"), 3),
                                       (FixedAccumulator(12, overflow="sat"), 1),
                                       (FixedAccumulator(14, 2, overflow="wrap"), 6)])
def test_narrow_register_models(tiny_graph, acc, simd):
    """A register that overflows: the stage's model is the node's (the emulator's register)."""
    q, x = tiny_graph(acc)
    trace = q.trace(x)
    node = q.node("dense0")
    assert (node.accumulate(q.run(x)["input"]) != q.run(x)["input"] @ node.weight_values.T + node.bias).any()
    for cls in STAGES.values():
        out = cls(node, pe=2, simd=simd).model(_codes(trace, "input"))
        assert np.array_equal(np.stack([out[f"y{k}"] for k in range(4)], axis=1), trace["dense0"])


# -- RTL --------------------------------------------------------------------------------------------

@pytest.mark.slow
def test_rtl_tiny_both_variants(tiny_graph):
    """The default run's one build: a bit-serial layer, then a LUT-GEMM layer, with idle cycles
    and back-pressure, then at full rate with the model's II and latency."""
    q, x = tiny_graph()
    acc = Accelerator(q, {"dense0": (2, 3), "dense2": (1, 2)}, variants={"dense0": "bitserial", "dense2": "lutgemm"})
    assert [s.passes for s in acc.mvus] == [64, 8]
    vectors = acc.input_codes(x[:40])
    report = check(acc, vectors=vectors, idle=0.2, backpressure=0.2, stall_limit=3 * acc.latency_cycles)
    assert report.n_vectors == 40
    _expect_timing(check(acc, vectors=vectors, stall_limit=3 * acc.latency_cycles), acc.ii, acc.latency_cycles)


@pytest.mark.slow
def test_synth_tiny_both_variants_have_no_latches(tiny_graph, synthesizes_without_latches):
    """The bit-serial and LUT-GEMM matrix-vector units through ``synth_xilinx``."""
    q, _ = tiny_graph()
    synthesizes_without_latches(Accelerator(q, {"dense0": (2, 3), "dense2": (1, 2)},
                                            variants={"dense0": "bitserial", "dense2": "lutgemm"}))


@pytest.mark.slow
@pytest.mark.parametrize("variant", ["bitserial", "lutgemm"])
@pytest.mark.parametrize("acc, pe, simd", [(FixedAccumulator(12, overflow="wrap"), 2, 3),
                                           (FixedAccumulator(12, overflow="sat"), 4, 1),
                                           (FixedAccumulator(14, 2, overflow="wrap"), 1, 6),
                                           (None, 4, 6)])
def test_stage_rtl_narrow_registers(tiny_graph, variant, acc, pe, simd):
    """One stage alone, its register overflowing (wrapping, or saturating one product at a
    time; and exact in a single fold): equal to the node, under idle cycles and back-pressure;
    timing as the model."""
    q, x = tiny_graph(acc)
    stage = STAGES[variant](q.node("dense0"), pe=pe, simd=simd)
    vectors = _codes(q.trace(x), "input")
    assert check(stage, vectors=vectors, idle=0.3, backpressure=0.3, seed=5).n_vectors == len(x)
    _expect_timing(check(stage, vectors=vectors), stage.ii, stage.latency)


@pytest.mark.sweep        # two whole-split runs a design (CI: the stages alone and lint, under -m slow)
@pytest.mark.parametrize("design, variant", [("digits_mlp_int8_bitserial.toml", "bitserial"),
                                             ("digits_mlp_int8_lutgemm.toml", "lutgemm")])
def test_rtl_design_whole_split(design, variant):
    """The design over all 360 test images: every logit and label equal to the QuantizedGraph,
    one image every II cycles, the first after the model's latency; the plain MVU at the same
    folding gives the same outputs (both equal to the graph, code for code)."""
    p = prepare(load(DESIGNS / design))
    acc, q, x = p.accelerator, p.qgraph, p.x_test
    assert len(x) == 360 and {type(s) for s in acc.mvus} == {STAGES[variant]}
    vectors = acc.input_codes(x)
    _expect_graph(q, x, acc.model(vectors))
    _expect_timing(check(acc, vectors=vectors, stall_limit=3 * acc.latency_cycles), acc.ii, acc.latency_cycles)
    mvu = Accelerator(q, {s.node.name: (s.pe, s.simd) for s in acc.mvus})
    _expect_timing(check(mvu, vectors=vectors, stall_limit=3 * mvu.latency_cycles), mvu.ii, mvu.latency_cycles)


@pytest.mark.slow
@pytest.mark.parametrize("folding", [{"dense0": (2, 3), "dense2": (3, 2)},     # one neuron fold in dense2
                                     {"dense0": (4, 6), "dense2": (1, 4)}])    # one fold in all of dense0
def test_lint(tiny_graph, folding):
    q, _ = tiny_graph()
    acc = Accelerator(q, folding, variants={"dense0": "bitserial", "dense2": "lutgemm"})
    assert {w.rule for w in lint(acc)} <= {"DECLFILENAME", "PROCASSINIT", "UNUSEDSIGNAL", "WIDTHEXPAND"}
