"""The minifloat datapath of the accelerator: FloatMatrixVector (exact Kulisch register or a
FloatAccumulator register), ReLU/ReLU6/Argmax on minifloat codes, against the QuantizedGraph;
one tiny network in Verilator by default, more under -m slow; the e4m3fn design file over
the whole test split runs in tests/flow/test_build.py."""

import numpy as np
import pytest
from amaranth.hdl import Module, Signal, signed
from amaranth.sim import Simulator

import numfmt as nf
from numfmt import nn
from numfmt.arith import FixedAccumulator, FloatAccumulator
from numfmt.hw.accel import MVU_OVERHEAD, Accelerator, MatrixVector
from numfmt.hw.accel.float_mvu import FloatMatrixVector, is_float_node
from numfmt.hw.accel.stages import _code_key
from numfmt.sim import check, lint

FOLDED = {"dense0": (8, 8), "dense2": (8, 8), "dense4": (2, 8)}
BF16 = FloatAccumulator(nf.parse("bf16"))

#: QConfigs of the digits MLP: minifloat everywhere, minifloat with integer weights or
#: activations, and a bf16 float register
CONFIGS = {
    "e4m3": nn.QConfig(weight="e4m3fn", act="e4m3fn"),
    "w8_e4m3": nn.QConfig(weight="int8", act="e4m3fn"),
    "e4m3_a8": nn.QConfig(weight="e4m3fn", act="int8"),
    "e4m3_bf16": nn.QConfig(weight="e4m3fn", act="e4m3fn", acc=BF16),
    "e5m2": nn.QConfig(weight="e5m2", act="e5m2"),             # a 70-bit Kulisch register, wide requantizer
}


@pytest.fixture(scope="session")
def minifloat(digits):
    """``minifloat(name)``: the digits MLP quantized with ``CONFIGS[name]``, cached."""
    cache = {}

    def get(name):
        if name not in cache:
            cache[name] = nn.quantize(nn.digits_mlp(), CONFIGS[name], digits[0])
        return cache[name]
    return get


def _tiny(name):
    """Dense(6→4) → ReLU6 → Dense(4→3) quantized with ``CONFIGS[name]`` (power-of-two scales, so
    that ReLU6 clips inside the format's range); ``(graph, x)``."""
    rng = np.random.default_rng(3)
    g = nn.Graph.sequential([nn.Dense(rng.normal(size=(4, 6)), rng.normal(size=4)), nn.ReLU6(),
                             nn.Dense(rng.normal(size=(3, 4)), rng.normal(size=3))], input_shape=(6,))
    x = rng.normal(scale=4.0, size=(300, 6))
    cfg = CONFIGS[name]
    return nn.quantize(g, nn.QConfig(weight=cfg.weight, act=cfg.act, acc=cfg.acc, act_scale="pow2"), x), x


def _codes(trace, name):
    c = trace[name].reshape(trace[name].shape[0], -1)
    return {f"x{k}": c[:, k].astype(np.uint64) for k in range(c.shape[1])}


def _logits(out, n):
    return np.stack([out[f"y{k}"] for k in range(n)], axis=1)


def _graph_model(q, x):
    """A replacement model for :func:`numfmt.sim.check`: the QuantizedGraph's own output codes and
    labels for the images ``x`` (so that the RTL is compared with the graph, not the stages' models)."""
    codes, labels = q.trace(x)[q.output], q.predict(x)

    def model(inputs):
        assert len(inputs["x0"]) == len(x)
        out = {f"y{k}": codes[:, k].astype(np.uint64) for k in range(codes.shape[1])}
        out["label"] = labels.astype(np.uint64)
        return out
    return model


# -- construction --------------------------------------------------------------------------------

def test_the_formats_choose_the_stage(minifloat, quantized):
    acc = Accelerator(minifloat("e4m3"), FOLDED)
    assert [type(s).__name__ for s in acc.stages] == ["FloatMatrixVector", "Activation", "FloatMatrixVector",
                                                      "Activation", "FloatMatrixVector", "Argmax"]
    assert [(s.pe, s.simd, s.cycles, s.register_width) for s in acc.mvus] == [
        (8, 8, 64, 42), (8, 8, 32, 42), (2, 8, 20, 41)]      # node.acc_bits + 1: 41, 41, 40
    assert (acc.ii, acc.latency_cycles) == (64 + MVU_OVERHEAD, 64 + 32 + 20 + 3 * MVU_OVERHEAD + 1 + 2 * 2)
    assert all(isinstance(s, MatrixVector) for s in acc.mvus)       # the accelerator's rate/FIFO logic
    assert [type(s).__name__ for s in Accelerator(quantized("int8")).mvus] == ["MatrixVector"] * 3
    assert all(is_float_node(minifloat(n).node("dense0")) for n in ("e4m3", "w8_e4m3", "e4m3_a8"))
    assert not is_float_node(quantized("int8").node("dense0"))


@pytest.mark.parametrize("pe, simd", [(1, 1), (2, 8), (8, 4)])
def test_rom_holds_the_codes_and_the_register_start(minifloat, pe, simd):
    node = minifloat("e4m3").node("dense2")
    mvu = FloatMatrixVector(node, pe=pe, simd=simd)
    words = mvu.weight_words()
    assert len(words) == mvu.cycles
    for o, i in [(0, 0), (31, 63), (pe, simd), (5, 17)]:
        nf_, p, sf, s = o // pe, o % pe, i // simd, i % simd
        field = (words[nf_ * mvu.sf + sf] >> ((p * simd + s) * 8)) & 0xFF
        assert field == node.weight_codes[o, i]
    bias = mvu.bias_words()
    rw = mvu.register_width
    for o in (0, 7, 31):
        v = (bias[o // pe] >> ((o % pe) * rw)) & ((1 << rw) - 1)
        assert v - ((v >> (rw - 1)) << rw) == node.bias[o]          # two's complement
    reg = FloatMatrixVector(minifloat("e4m3_bf16").node("dense2"), pe=pe, simd=simd)
    fb = reg.bias_words()
    bf16 = nf.parse("bf16")
    start = [bf16.decode(np.array([(fb[o // pe] >> ((o % pe) * 16)) & 0xFFFF]))[0] for o in range(32)]
    assert np.array_equal(start, np.ldexp(reg.node.bias.astype(np.float64), reg.node.acc_exp))


def test_errors(minifloat, digits):
    node = minifloat("e4m3").node("dense0")
    with pytest.raises(TypeError, match="node must be a Dense QLinear node"):
        FloatMatrixVector(minifloat("e4m3").node("relu1"))
    with pytest.raises(ValueError, match=r"simd=5 must divide the inputs of 'dense0' \(64\)"):
        FloatMatrixVector(node, simd=5)
    x = digits[0][:200]
    refused = [
        (nn.QConfig(weight="e4m3fn", act="e4m3fn", acc=FloatAccumulator(nf.parse("bf16"), order="pairwise")),
         "node 'dense0': the FloatAccumulator's order must be 'sequential' in this stage .* not 'pairwise'"),
        (nn.QConfig(weight="int8", act="e4m3fn", acc=BF16),
         "node 'dense0': a FloatAccumulator register needs FloatFormat inputs and weights in this stage, "
         "not e4m3fn × int8"),
        (nn.QConfig(weight="e4m3fn", act="int8", acc=BF16),
         "a FloatAccumulator register needs FloatFormat inputs and weights"),
        (nn.QConfig(weight="e4m3fn", act="e4m3fn", acc=FixedAccumulator(48, frac_bits=18, overflow="sat")),
         r"node 'dense0': the accumulator FixedAccumulator\(.*\) is not supported by this stage"),
        (nn.QConfig(weight="mxfp4", act="e4m3fn"), r"node 'dense0': block \(MX\) formats"),
    ]
    for cfg, message in refused:
        q = nn.quantize(nn.digits_mlp(), cfg, x)
        with pytest.raises(ValueError, match=message):
            FloatMatrixVector(q.node("dense0"))


# -- the model is the QuantizedGraph ---------------------------------------------------------------

# e4m3_bf16: its bf16 register's kernels take 11 s to compile on a new machine, so under -m slow
@pytest.mark.parametrize("name", [pytest.param(n, marks=pytest.mark.slow) if n == "e4m3_bf16" else n
                                  for n in CONFIGS])
def test_model_equals_the_graph_on_the_test_split(minifloat, digits, name):
    q, x = minifloat(name), digits[2]
    trace = q.trace(x)
    for node in ("dense0", "dense2", "dense4"):                 # each stage alone
        inputs = {"dense0": q.input_name, "dense2": "relu1", "dense4": "relu3"}[node]
        mvu = FloatMatrixVector(q.node(node), pe=2, simd=4)
        assert np.array_equal(_logits(mvu.model(_codes(trace, inputs)), mvu.n_out), trace[node])
    acc = Accelerator(q, FOLDED)                                 # the chain
    out = acc.model(acc.input_codes(x))
    assert np.array_equal(_logits(out, 10), trace[q.output])
    assert np.array_equal(out["label"], q.predict(x))


@pytest.mark.parametrize("fmt", ["e4m3fn", "e5m2", "e4m3fnuz", "e2m1fn", "e3m2fn"])
def test_code_key_orders_codes_as_their_values(fmt):
    """The comparator of ReLU/ReLU6/Argmax on minifloat codes, over every code (Amaranth's simulator)."""
    fmt = nf.parse(fmt)
    m = Module()
    code, key = Signal(fmt.bits), Signal(signed(fmt.bits + 1))
    m.d.comb += key.eq(_code_key(code, fmt))
    keys = []

    async def bench(ctx):
        for c in range(1 << fmt.bits):
            ctx.set(code, c)
            keys.append(ctx.get(key))
    sim = Simulator(m)
    sim.add_testbench(bench)
    sim.run()
    values = fmt.decode(np.arange(1 << fmt.bits, dtype=np.uint64))
    keep = ~np.isnan(values)
    k, v = np.array(keys)[keep], values[keep]
    assert np.array_equal(k[:, None] < k[None, :], v[:, None] < v[None, :])      # ±inf included
    assert np.array_equal(k[:, None] == k[None, :], v[:, None] == v[None, :])    # ±0 alike


def test_relu6_and_argmax_on_minifloat_codes():
    """The tiny network's ReLU6 clips at a bound below e4m3fn's maximum, and some of its inputs are
    negative: both branches of the comparator are used (the RTL test below runs them)."""
    q, x = _tiny("e4m3")
    trace, fmt = q.trace(x), q.node("relu61").out.format
    before, after = fmt.decode(trace["dense0"]), fmt.decode(trace["relu61"])
    clip = q.node("relu61").clip
    assert clip < fmt.max and (after == clip).any() and (before > clip).any() and (before < 0).any()
    logits = fmt.decode(trace["dense2"])
    assert (logits < 0).any() and len(np.unique(q.predict(x))) > 1


# -- RTL -----------------------------------------------------------------------------------------

def _run(acc, q, x, **kwargs):
    return check(acc, vectors=acc.input_codes(x), model=_graph_model(q, x), stall_limit=3 * acc.latency_cycles,
                 **kwargs)


def _expect_timing(acc, report):
    assert set(np.diff(report.out_cycles).tolist()) == {acc.ii}
    assert report.latencies[0] == acc.latency_cycles


@pytest.mark.slow
def test_rtl_tiny_e4m3():
    """The default run's one build: the tiny e4m3fn network (Kulisch registers, ReLU6, Argmax),
    with idle cycles and back-pressure, then at full rate with the model's II and latency."""
    q, x = _tiny("e4m3")
    acc = Accelerator(q, {"dense0": (2, 3), "dense2": (3, 2)})
    assert _run(acc, q, x, idle=0.2, backpressure=0.2).n_vectors == len(x)
    _expect_timing(acc, _run(acc, q, x))


@pytest.mark.parametrize("name", ["e4m3", pytest.param("e4m3_bf16", marks=pytest.mark.slow)])
def test_lint_tiny(name):
    """``verilator --lint-only -Wall``: only the standing Amaranth waivers of ``sim.lint``."""
    q, _ = _tiny(name)       # dense2: pe = 3 outputs, a single neuron fold (its counters still have 1 bit)
    assert {w.rule for w in lint(Accelerator(q, {"dense0": (2, 3), "dense2": (3, 2)}))} <= {
        "DECLFILENAME", "PROCASSINIT", "UNUSEDSIGNAL", "WIDTHEXPAND"}


@pytest.mark.slow
@pytest.mark.parametrize("name", ["e4m3", pytest.param("e4m3_bf16", marks=pytest.mark.sweep)])   # bf16: 4 min
def test_synth_tiny_has_no_latches(name, synthesizes_without_latches):
    """The minifloat datapath (Kulisch registers; a bf16 register) through ``synth_xilinx``."""
    q, _ = _tiny(name)
    synthesizes_without_latches(Accelerator(q, {"dense0": (2, 3), "dense2": (3, 2)}))


@pytest.mark.slow
@pytest.mark.parametrize("name, folding", [
    ("e4m3_bf16", {"dense0": (2, 3), "dense2": (3, 2)}),     # a chain of 3 and 2 bf16 adders per cycle
    ("e4m3_bf16", {}),
    ("w8_e4m3", {"dense0": (4, 6)}),
    ("e4m3_a8", {"dense0": (2, 2), "dense2": (1, 4)}),        # minifloat weights, the integer requantizer
    ("e5m2", {"dense0": (2, 3)}),                             # 70-bit Kulisch register, 101-bit requantizer
])
def test_rtl_tiny_variants(name, folding):
    q, x = _tiny(name)
    acc = Accelerator(q, folding)
    assert _run(acc, q, x, idle=0.1, backpressure=0.1, seed=1).n_vectors == len(x)
    _expect_timing(acc, _run(acc, q, x))


@pytest.mark.sweep        # 5 min; two foldings are checked equal in CI on int8 (test_accelerator), e4m3 folded here by the design test
def test_rtl_digits_e4m3_two_foldings_whole_split(minifloat, digits):
    """The digits MLP in e4m3fn, fully serial and folded: every logit and label of the 360 test
    images equals the QuantizedGraph's, at the model's II and latency."""
    q, x = minifloat("e4m3"), digits[2]
    for folding in ({}, FOLDED):
        acc = Accelerator(q, folding)
        report = _run(acc, q, x)
        assert report.n_vectors == 360
        _expect_timing(acc, report)


@pytest.mark.sweep        # the Verilator build of 144 float adders: about 30 min of CPU here (-m sweep)
def test_rtl_digits_bf16_register_whole_split(minifloat, digits):
    """The float-register datapath at digits size (the tiny network checks it at two foldings
    under -m slow)."""
    q, x = minifloat("e4m3_bf16"), digits[2]
    acc = Accelerator(q, FOLDED)
    _expect_timing(acc, _run(acc, q, x))


@pytest.mark.slow
# e4m3_bf16 on the digits MLP under sweep (2+ min of Verilator lint); CI lints the same
# generator's bf16 adder chains on the tiny network (test_lint_tiny)
@pytest.mark.parametrize("name", ["e4m3", pytest.param("e4m3_bf16", marks=pytest.mark.sweep)])
def test_lint_digits(minifloat, name):
    lint(Accelerator(minifloat(name), FOLDED))

