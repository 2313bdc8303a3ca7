"""MX / block-floating-point Dense layers in the accelerator (hw/accel/block_mvu.py): the
stage's model against the QuantizedGraph, its ROM layout, its errors, and its RTL in the
simulator (one small run by default; the digits MLP in mxfp4 and the Icarus runs are slow)."""

import json
from pathlib import Path

import numpy as np
import pytest

import numfmt as nf
from numfmt import nn
from numfmt.arith import FloatAccumulator
from numfmt.flow.build import build
from numfmt.hw.accel import Accelerator
from numfmt.hw.accel.block_mvu import BlockMatrixVector, BlockQuantizer
from numfmt.sim import check, lint
from numfmt.sim._runner import available

DESIGNS = Path(__file__).resolve().parents[3] / "designs"

#: foldings of the digits MLP: simd a divisor of the block (8 of 32), a multiple (64: two
#: BlockDots per PE) or equal to it, and fully serial (one-element BlockDots; a small build)
FOLDED = {"dense0": (8, 8), "dense2": (8, 8), "dense4": (2, 8)}
WIDE = {"dense0": (4, 64), "dense2": (2, 32), "dense4": (1, 32)}
SERIAL = {}

#: an E8M0-like scale with exponents −7 … 7: a narrow exact register for the small default build
E4M0 = nf.FloatFormat(exp=4, man=0, bias=7, specials="fn", subnormals=False, signed=False, has_zero=False)


@pytest.fixture(scope="module")
def mxfp4(digits):
    """The digits MLP quantized with mxfp4 weights and activations."""
    return nn.quantize(nn.digits_mlp(), nn.QConfig(weight="mxfp4", act="mxfp4"), digits[0])


def _tiny(scale=E4M0, block=4, layers=2):
    """Dense(8→4) → ReLU → Dense(4→3) (``layers=1``: Dense(8→3)) in mxfp4 with ``block`` and
    ``scale``, and 48 seeded inputs spanning 2**±12 (shared exponents clamped at both ends of
    E4M0), a zero row and a tiny row."""
    fmt = nf.BlockFormat(nf.FLOATS["e2m1fn"], block, scale=scale)
    rng = np.random.default_rng(3)
    if layers == 1:
        g = nn.Graph.sequential([nn.Dense(rng.normal(size=(3, 8)), rng.normal(size=3))], input_shape=(8,))
    else:
        g = nn.Graph.sequential([nn.Dense(rng.normal(size=(4, 8)), rng.normal(size=4)), nn.ReLU(),
                                 nn.Dense(rng.normal(size=(3, 4)), rng.normal(size=3))], input_shape=(8,))
    x = rng.normal(size=(48, 8)) * np.ldexp(1.0, rng.integers(-12, 12, size=(48, 8)))
    x[0] = 0.0
    x[1] = np.ldexp(rng.normal(size=8), -40)
    return nn.quantize(g, nn.QConfig(weight=fmt, act=fmt), x), x


def _logits(out, n=10):
    return np.stack([out[f"y{k}"] for k in range(n)], axis=1)


def _expect_graph(q, x, out, n=10):
    assert np.array_equal(_logits(out, n), q.trace(x)[q.output])
    assert np.array_equal(out["label"], q.predict(x))


def _expect_timing(acc, report):
    assert set(np.diff(report.out_cycles).tolist()) == {acc.ii}
    assert report.latencies[0] == acc.latency_cycles


# -- model ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("folding", [FOLDED, WIDE, SERIAL])
def test_model_equals_the_graph_on_the_test_split(mxfp4, digits, folding):
    x = digits[2]
    acc = Accelerator(mxfp4, folding)
    assert [type(s).__name__ for s in acc.stages] == ["BlockMatrixVector", "Activation", "BlockMatrixVector",
                                                      "Activation", "BlockMatrixVector", "Argmax"]
    _expect_graph(mxfp4, x, acc.model(acc.input_codes(x)))
    trace = mxfp4.trace(x)                           # each stage alone: FP32 codes in and out
    for mvu in acc.mvus:
        src = trace[mvu.node.inputs[0]]
        out = mvu.model({f"x{k}": src[:, k] for k in range(mvu.n_in)})
        assert np.array_equal(np.stack([out[f"y{k}"] for k in range(mvu.n_out)], axis=1), trace[mvu.node.name])


def test_timing_model(mxfp4):
    acc = Accelerator(mxfp4, FOLDED)
    assert [(s.cycles, s.k, s.dots) for s in acc.mvus] == [(64, 8, 1), (32, 8, 1), (20, 8, 1)]
    assert (acc.ii, acc.latency_cycles) == (67, 130)          # as the int8 MatrixVector at this folding
    wide = Accelerator(mxfp4, WIDE)
    assert [(s.cycles, s.k, s.dots) for s in wide.mvus] == [(16, 32, 2), (32, 32, 1), (10, 32, 1)]


def test_rom_layout_holds_the_nodes_codes(mxfp4):
    """Unpacking the ROM words gives back the node's weight element codes, its block scale
    codes (one per dot and PE) and the FP32 bias on the register's grid."""
    for fold in ((8, 8), (4, 64), (2, 16)):
        mvu = BlockMatrixVector(mxfp4.node("dense0"), pe=fold[0], simd=fold[1])
        node, wb, sb = mvu.node, mvu.weight_bits, mvu.scale_bits
        words = mvu.weight_words()
        scales = mvu.node._blk["wcodes"].scales.T                   # (out, blocks)
        for nf_ in range(mvu.nf):
            for sf in range(mvu.sf):
                word = words[nf_ * mvu.sf + sf]
                for p in range(mvu.pe):
                    o = nf_ * mvu.pe + p
                    for s in range(mvu.simd):
                        assert (word >> ((p * mvu.simd + s) * wb)) & ((1 << wb) - 1) == \
                            node.weight_codes[o, sf * mvu.simd + s]
                    for t in range(mvu.dots):
                        shift = mvu.pe * mvu.simd * wb + (p * mvu.dots + t) * sb
                        assert (word >> shift) & ((1 << sb) - 1) == scales[o, (sf * mvu.simd + t * mvu.k) // 32]
        rw = mvu.register_width
        for nf_, word in enumerate(mvu.bias_words()):
            for p in range(mvu.pe):
                o = nf_ * mvu.pe + p
                reg = (word >> (p * rw)) & ((1 << rw) - 1)
                reg -= (reg >> (rw - 1)) << rw
                assert np.ldexp(float(reg), mvu.register_exp) == np.ldexp(float(node.bias[o]), int(node.acc_exp[o]))


def test_errors(mxfp4, digits):
    node = mxfp4.node("dense0")
    rng = np.random.default_rng(0)
    g48 = nn.Graph.sequential([nn.Dense(rng.normal(size=(2, 48)))], input_shape=(48,))
    q48 = nn.quantize(g48, nn.QConfig(weight="mxfp4", act="mxfp4"), rng.normal(size=(20, 48)))
    with pytest.raises(ValueError, match=r"simd=48 must be a multiple or a divisor of the block size 32 of "
                                         r"'dense0' \(mxfp4\)"):
        BlockMatrixVector(q48.node("dense0"), pe=1, simd=48)
    BlockMatrixVector(q48.node("dense0"), pe=1, simd=16)      # a ragged last block of 16: fine
    with pytest.raises(ValueError, match="simd=3 must divide the inputs of 'dense0' \\(64\\)"):
        BlockMatrixVector(node, pe=1, simd=3)
    with pytest.raises(ValueError, match="pe=3 must divide the output channels of 'dense0' \\(64\\)"):
        BlockMatrixVector(node, pe=3, simd=8)
    with pytest.raises(TypeError, match="node must be a Dense QLinear node"):
        BlockMatrixVector(mxfp4.node("relu1"))
    x = digits[0]
    int8 = nn.quantize(nn.digits_mlp(), nn.QConfig(weight="int8", act="int8"), x)
    with pytest.raises(ValueError, match="node 'dense0': its input int8 is not a block"):
        BlockMatrixVector(int8.node("dense0"))
    fp32acc = nn.quantize(nn.digits_mlp(), nn.QConfig(weight="mxfp4", act="mxfp4",
                                                      acc=FloatAccumulator(nf.parse("fp32"))), x)
    with pytest.raises(ValueError, match="node 'dense0': the accumulator .* is not supported by the MX "
                                         "accelerator yet"):
        Accelerator(fp32acc)
    mxint8 = nn.quantize(nn.digits_mlp(), nn.QConfig(weight="mxint8", act="mxint8"), x)
    with pytest.raises(ValueError, match=r"node 'dense0': the block format mxint8 has ap_fixed<8,2.*> elements; "
                                         r"the RTL block quantizer rounds minifloat elements only"):
        Accelerator(mxint8)
    with pytest.raises(ValueError, match="n must be an integer ≥ 1, not 0"):
        BlockQuantizer(nf.parse("fp32"), nf.parse("mxfp4"), 0)
    with pytest.raises(ValueError, match="rule='ocp'"):
        BlockQuantizer(nf.parse("fp32"), nf.BlockFormat(nf.FLOATS["e2m1fn"], 4, rule="ceil"), 4)


# -- RTL -----------------------------------------------------------------------------------------

def _run(acc, x, **kwargs):
    return check(acc, vectors=acc.input_codes(x), stall_limit=3 * acc.latency_cycles + 10, **kwargs)


@pytest.mark.slow
def test_rtl_one_layer():
    """The default run's one build, kept small: one MX Dense layer (block 4 split in two
    BlockDot halves, an E4M0 scale, clamped shared exponents, a zero row) and the FP32 argmax,
    with idle cycles and back-pressure, then at full rate."""
    q, x = _tiny(layers=1)
    acc = Accelerator(q, {"dense0": (1, 2)})
    assert [(s.k, s.dots, s.register_width) for s in acc.mvus] == [(2, 1, 41)]
    report = _run(acc, x, idle=0.2, backpressure=0.2)
    assert report.n_vectors == len(x)
    _expect_timing(acc, _run(acc, x))


@pytest.mark.slow
def test_synth_tiny_has_no_latches(synthesizes_without_latches):
    """The MX datapath (BlockDots, the block quantizer between layers, the FP32 argmax) through
    ``synth_xilinx``."""
    q, _ = _tiny()
    synthesizes_without_latches(Accelerator(q, {"dense0": (2, 2), "dense2": (3, 4)}))


@pytest.mark.slow
def test_rtl_tiny_relu():
    """Two MX layers with ReLU (on FP32 codes) between them and a FIFO, idle cycles and back-pressure."""
    q, x = _tiny()
    acc = Accelerator(q, {"dense0": (2, 2), "dense2": (3, 4)})
    assert [(s.k, s.dots) for s in acc.mvus] == [(2, 1), (4, 1)]
    report = _run(acc, x, idle=0.2, backpressure=0.2)
    assert report.n_vectors == len(x)
    _expect_timing(acc, _run(acc, x))


@pytest.mark.slow
def test_rtl_tiny_two_dots_and_e8m0():
    """simd a multiple of the block (two BlockDots per PE), and the E8M0 scale's full register."""
    q, x = _tiny(scale=nf.parse("e8m0fnu"), block=2)
    acc = Accelerator(q, {"dense0": (2, 4), "dense2": (1, 2)})
    assert [(s.k, s.dots) for s in acc.mvus] == [(2, 2), (2, 1)]
    _expect_timing(acc, _run(acc, x))


@pytest.mark.slow
def test_block_quantizer_corners():
    """The block encoding alone against BlockFormat.encode: zeros, ±0, subnormal and huge FP32
    values (shared exponents clamped), ties of e2m1, saturating maxima, NaN and inf blocks."""
    fp32 = nf.parse("fp32")
    fmt = nf.BlockFormat(nf.FLOATS["e2m1fn"], 4)
    rng = np.random.default_rng(11)
    corners = [0.0, -0.0, 1.0, -1.0, 1.25, 1.75, 2.5, 3.5, 5.0, 6.0, 7.0, -7.5, 2.0 ** -149, 2.0 ** -126,
               3.0 * 2.0 ** 125, -fp32.max, np.inf, -np.inf, np.nan, 0.75, 0.25]
    rows = [rng.choice(corners, size=8) for _ in range(300)]
    rows += [rng.normal(size=8) * np.ldexp(1.0, rng.integers(-140, 120, size=8)) for _ in range(300)]
    x = np.array(rows)
    vectors = {f"x{k}": fp32.encode(x[:, k]).astype(np.uint64) for k in range(8)}
    report = check(BlockQuantizer(fp32, fmt, 8, stages=1), vectors=vectors)
    assert report.n_vectors == len(x)


@pytest.mark.sweep        # a 15-minute Verilator build of ~155k lines of Verilog, then 95 s for 360 images
def test_rtl_digits_mxfp4_folded_whole_split(mxfp4, digits):
    """The digits MLP in mxfp4, folded: every logit and label of the 360 test images equal to
    the QuantizedGraph, one image every ii cycles, the first in latency_cycles."""
    acc = Accelerator(mxfp4, FOLDED)
    report = _run(acc, digits[2])
    assert report.n_vectors == 360
    _expect_timing(acc, report)


@pytest.mark.slow
def test_lint():
    q, _ = _tiny()
    # dense2 folded to a single ROM word: its fold counters still have 1 bit (no [-1:0] ranges)
    assert {w.rule for w in lint(Accelerator(q, {"dense0": (2, 2), "dense2": (3, 4)}))} <= {
        "DECLFILENAME", "PROCASSINIT", "UNUSEDSIGNAL", "WIDTHEXPAND", "WIDTHTRUNC"}


# -- Icarus (issue 13: the int8 and mxfp4 designs end to end under a second simulator) ----------

@pytest.mark.skipif(not available("icarus"), reason="Icarus Verilog (iverilog, vvp) is not installed")
@pytest.mark.parametrize("name, images", [pytest.param("digits_mlp_int8", 360, marks=pytest.mark.slow),
                                          pytest.param("digits_mlp_mxfp4", 8, marks=pytest.mark.slow),
                                          pytest.param("digits_mlp_mxfp4", 360, marks=pytest.mark.sweep)])
def test_design_under_icarus(name, images, tmp_path):
    """The design file with ``[verify] simulator = "icarus"`` through ``numfmt build`` (no
    synthesis): the 360 test images (mxfp4: 4099 cycles an image, about 10 minutes in vvp, under
    ``-m sweep``; its first 8 under ``-m slow``), every logit and label exact, II as the model."""
    text = (DESIGNS / f"{name}.toml").read_text()
    assert 'simulator = "verilator"' in text and 'images = "all"' in text
    text = text.replace('simulator = "verilator"', 'simulator = "icarus"')
    if images != 360:
        text = text.replace('images = "all"', f"images = {images}")
    path = tmp_path / f"{name}.toml"
    path.write_text(text)
    out = build(path, tmp_path / "out", synth=False, progress=False)
    m = json.loads((out / "manifest.json").read_text())
    v = json.loads((out / "verification.json").read_text())
    assert v["simulator"] == "icarus"
    assert v["images"] == images and v["mismatches"] == 0
    assert v["cycles_per_image"]["measured"] == [m["ii_cycles"]]
