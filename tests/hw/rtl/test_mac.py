"""The MAC units (hw/rtl/mac.py): RTL == numfmt model in Verilator, models == Python ints.

The models are checked against slow references written here with Python integers and
``fractions.Fraction`` (wrap = reduce modulo ``2**width``, sat = clamp, after every
addition); the RTL is checked against the models with :func:`numfmt.sim.check`, on every
(a, b) code pair (random ``first`` flags and long sums) plus runs of the extreme
products that overflow the register. Several units share one simulation as lanes.
"""

from __future__ import annotations

import itertools
import math
from fractions import Fraction

import numpy as np
import pytest

import numfmt as nf
from numfmt.arith import FixedAccumulator, FloatAccumulator, exact_fixed_accumulator
from numfmt.hw.rtl.mac import (MAX_REGISTER_BITS, FixedMac, FloatAccMac, FloatKulischMac, IntMac, float_running_codes,
                       running_sums)
from numfmt.sim import WAIVERS, MismatchError, check, check_many, lint

LANES = 8
# units built only for their model() are never elaborated
pytestmark = pytest.mark.filterwarnings("ignore::amaranth.hdl.UnusedElaboratable")


# -- vectors ------------------------------------------------------------------------------
def _all_pairs(a_bits, b_bits, rng):
    a, b = np.meshgrid(np.arange(1 << a_bits, dtype=np.uint64), np.arange(1 << b_bits, dtype=np.uint64))
    order = rng.permutation(a.size)
    return a.reshape(-1)[order], b.reshape(-1)[order]


def mac_vectors(a_bits, b_bits, seed, *, extremes=(), repeat=1):
    """Every code pair twice — with random ``first`` flags (p = 1/8) and as long sums
    (p = 1/256) — then runs of 300 copies of each ``extremes`` pair. Each vector is
    repeated ``repeat`` times in a row, so that each of ``repeat`` lanes sees all."""
    rng = np.random.default_rng(seed)
    parts = []
    for p in (1 / 8, 1 / 256):
        a, b = _all_pairs(a_bits, b_bits, rng)
        parts.append((a, b, (rng.random(a.size) < p).astype(np.uint64)))
    for ea, eb in extremes:
        first = np.zeros(300, dtype=np.uint64)
        first[0] = 1
        parts.append((np.full(300, ea, dtype=np.uint64), np.full(300, eb, dtype=np.uint64), first))
    a, b, first = (np.concatenate(x) for x in zip(*parts))
    return {"a": np.repeat(a, repeat), "b": np.repeat(b, repeat), "first": np.repeat(first, repeat)}


def cycling(*factories):
    """Factory whose k-th call builds ``factories[k % len]``: lane k of hw.rtl.Lanes."""
    it = itertools.cycle(factories)
    return lambda: next(it)()


def int_extremes(fa, fb):
    """Code pairs of the largest positive and the most negative products."""
    def code(fmt, v):
        return int(fmt.encode(float(v)))
    cands = [(x, y) for x in (fa.min, fa.max) for y in (fb.min, fb.max)]
    prods = [x * y for x, y in cands]
    hi, lo = cands[int(np.argmax(prods))], cands[int(np.argmin(prods))]
    return [(code(fa, hi[0]), code(fb, hi[1])), (code(fa, lo[0]), code(fb, lo[1]))]


# -- independent references --------------------------------------------------------------------
def _int(code, bits, signed):
    code = int(code)
    return code - (1 << bits) if signed and code >> (bits - 1) else code


def _reduce(r, width, sat):
    lo, hi = -(1 << (width - 1)), (1 << (width - 1)) - 1
    if sat:
        return min(max(r, lo), hi)
    return (r - lo) % (1 << width) + lo


def ref_registers(prods, first, width, sat):
    """Register integers after each product (Python ints, reduced after every addition)."""
    out, r = [], 0
    for p, f in zip(prods, first):
        r = _reduce((0 if f else r) + p, width, sat)
        out.append(r)
    return out


def ref_int_mac(unit, inputs):
    fa, fb, acc = unit.a_fmt, unit.b_fmt, unit.acc
    prods = [_int(a, fa.bits, fa.signed) * _int(b, fb.bits, fb.signed)
             for a, b in zip(inputs["a"], inputs["b"])]
    regs = ref_registers(prods, inputs["first"], acc.width, acc.overflow is nf.Overflow.SATURATE)
    return np.array([r % (1 << acc.width) for r in regs], dtype=np.uint64)


# -- running_sums (the models' core) ------------------------------------------------------------
@pytest.mark.parametrize("width,overflow", [(8, "sat"), (8, "wrap"), (3, "sat"), (20, "wrap")])
def test_running_sums_matches_python_reference(width, overflow):
    rng = np.random.default_rng(width)
    n = 5000
    prods = rng.integers(-300, 301, n)
    # segment lengths from 1 to ~300 (several 32-product blocks)
    first = np.zeros(n, dtype=bool)
    starts = np.cumsum(rng.integers(1, 300, n // 10))
    first[starts[starts < n]] = True
    first[:3] = [False, True, True]             # a sum before the first flag starts at 0
    got = running_sums(prods.astype(np.float64), first, FixedAccumulator(width, overflow=overflow))
    want = ref_registers(prods.tolist(), first.tolist(), width, overflow == "sat")
    assert np.array_equal(got, np.array(want, dtype=np.float64))


def test_running_sums_rejects_mismatched_first():
    with pytest.raises(ValueError, match=r"first must have the shape of products, \(3,\), not \(2,\)"):
        running_sums([1.0, 2.0, 3.0], [1, 0], FixedAccumulator(8))


# -- IntMac --------------------------------------------------------------------------------------
INT_CASES = [  # a, b, width
    (nf.IntFormat(8), nf.IntFormat(8), 16),
    (nf.IntFormat(3, signed=False), nf.IntFormat(5), 6),
    (nf.IntFormat(4, signed=False), nf.IntFormat(4, signed=False), 9),
    (nf.IntFormat(2), nf.IntFormat(7), 4),
]


@pytest.mark.parametrize("fa,fb,width", INT_CASES, ids=lambda v: str(v))
@pytest.mark.parametrize("overflow", ["wrap", "sat"])
def test_int_mac_model_matches_reference(fa, fb, width, overflow):
    unit = IntMac(fa, fb, FixedAccumulator(width, overflow=overflow))
    vec = mac_vectors(fa.bits, fb.bits, 1, extremes=int_extremes(fa, fb))
    assert np.array_equal(unit.model(vec)["acc"], ref_int_mac(unit, vec))


def _check_int_mac(fa, fb, width, stages, seed, **kw):
    """Even lanes wrap, odd lanes saturate; every vector goes to one lane of each kind."""
    def make(overflow):
        return lambda: IntMac(fa, fb, FixedAccumulator(width, overflow=overflow), stages=stages)
    vec = mac_vectors(fa.bits, fb.bits, seed, extremes=int_extremes(fa, fb), repeat=2)
    return check(cycling(make("wrap"), make("sat")), vectors=vec, lanes=LANES, seed=seed, **kw)


@pytest.mark.parametrize("fa,fb,width,stages,stall", [
    (nf.IntFormat(8), nf.IntFormat(8), 16, 2, 0.0),
    pytest.param(nf.IntFormat(3, signed=False), nf.IntFormat(5), 6, 0, 0.25, marks=pytest.mark.slow),
    pytest.param(nf.IntFormat(8), nf.IntFormat(8), 16, 1, 0.0, marks=pytest.mark.slow),
    pytest.param(nf.IntFormat(8), nf.IntFormat(8), 16, 3, 0.25, marks=pytest.mark.slow),
    pytest.param(nf.IntFormat(3), nf.IntFormat(8, signed=False), 12, 3, 0.0, marks=pytest.mark.slow),
    pytest.param(nf.IntFormat(7, signed=False), nf.IntFormat(5), 13, 2, 0.25, marks=pytest.mark.slow),
    pytest.param(nf.IntFormat(2), nf.IntFormat(3, signed=False), 6, 3, 0.0, marks=pytest.mark.slow),
], ids=["int8xint8_acc16", "uint3xint5_acc6_stalls", "int8xint8_1", "int8xint8_3_stalls", "int3xuint8_3",
        "uint7xint5_2_stalls", "int2xuint3_3"])
def test_int_mac_rtl(fa, fb, width, stages, stall):
    report = _check_int_mac(fa, fb, width, stages, seed=5, idle=stall, backpressure=stall)
    assert report.n_vectors == 2 * 2 * (1 << (fa.bits + fb.bits)) + 2 * 600
    if stall == 0.0:
        assert set(report.latencies.tolist()) == {stages + 1}


@pytest.mark.exhaustive
@pytest.mark.parametrize("a_bits", range(2, 9))
def test_int_mac_rtl_exhaustive(a_bits):
    """Every int MAC of ``a_bits`` × 2..8 bits, signed × signed, unsigned × unsigned and
    unsigned × signed, wrapping and saturating: one build (:func:`numfmt.sim.check_many`), each
    member two lanes (wrap, sat) that both see every vector."""
    factories, vecs = [], []
    for b_bits in range(2, 9):
        for signs in [(True, True), (False, False), (True, False)]:
            fa, fb = nf.IntFormat(a_bits, signed=signs[0]), nf.IntFormat(b_bits, signed=signs[1])
            width = a_bits + b_bits      # overflows on long sums and on runs of extreme products
            factories.append(cycling(*[lambda fa=fa, fb=fb, width=width, ov=ov: IntMac(
                fa, fb, FixedAccumulator(width, overflow=ov), stages=1) for ov in ("wrap", "sat")]))
            vecs.append(mac_vectors(a_bits, b_bits, a_bits * 16 + b_bits, extremes=int_extremes(fa, fb),
                                    repeat=2))
    reports = check_many(factories, vectors=vecs, lanes=2, seed=a_bits, idle=0.05, backpressure=0.05)
    assert [r.n_vectors for r in reports] == [len(v["a"]) for v in vecs] and len(reports) == 21


@pytest.mark.slow
def test_checker_reports_a_wrong_model():
    fa = nf.IntFormat(3, signed=False)
    fb = nf.IntFormat(5)
    wrong = IntMac(fa, fb, FixedAccumulator(6, overflow="wrap"), stages=0)   # the RTL saturates
    with pytest.raises(MismatchError, match=r"seed"):
        check(lambda: IntMac(fa, fb, FixedAccumulator(6, overflow="sat"), stages=0),
              vectors=mac_vectors(3, 5, 5, extremes=int_extremes(fa, fb)), lanes=LANES, seed=5,
              model=wrong.model, waves=False)


def test_int_mac_errors():
    i8 = nf.IntFormat(8)
    with pytest.raises(TypeError, match=r"a_fmt must be a numfmt.IntFormat, not"):
        IntMac(nf.parse("e4m3fn"), i8, FixedAccumulator(16))
    with pytest.raises(TypeError, match=r"acc must be a numfmt.FixedAccumulator, not 16"):
        IntMac(i8, i8, 16)
    with pytest.raises(ValueError, match=r"acc.frac_bits must be 0 for integer operands, not 2"):
        IntMac(i8, i8, FixedAccumulator(16, 2))
    with pytest.raises(ValueError, match=r"at most 53 bits wide .* not 60"):
        IntMac(i8, i8, FixedAccumulator(60))
    with pytest.raises(ValueError, match=r"stages must be an integer ≥ 0, not -1"):
        IntMac(i8, i8, FixedAccumulator(16), stages=-1)
    assert MAX_REGISTER_BITS == 53


def test_int_mac_interface():
    unit = IntMac(nf.IntFormat(8), nf.IntFormat(4, signed=False), FixedAccumulator(40, overflow="sat"),
                  stages=3)
    assert unit.latency == 4
    assert [(k, f.width) for k, f in unit.in_fields.items()] == [("a", 8), ("b", 4), ("first", 1)]
    assert unit.out_fields["acc"].width == 40
    assert unit.out_fields["acc"].format == nf.FixedFormat(40, 40)     # IntFormat stops at 32 bits
    assert unit.name == "intmac_int8_uint4_40_sat_3"


# -- FixedMac ------------------------------------------------------------------------------------
def ref_fixed_mac(unit, inputs):
    """Exact register integers (wrap at the register width), then out_fmt.encode of the value."""
    fa, fb, reg = unit.a_fmt, unit.b_fmt, unit.register
    prods = [_int(a, fa.width, fa.signed) * _int(b, fb.width, fb.signed)
             for a, b in zip(inputs["a"], inputs["b"])]
    regs = ref_registers(prods, inputs["first"], reg.width, False)
    vals = np.array([float(Fraction(r, 2 ** reg.frac_bits)) for r in regs])
    return unit.out_fmt.encode(vals).astype(np.uint64)


ROUNDINGS = ["AP_TRN", "AP_TRN_ZERO", "AP_RND", "AP_RND_ZERO", "AP_RND_MIN_INF", "AP_RND_INF", "AP_RND_CONV"]
OVERFLOWS = ["AP_WRAP", "AP_SAT", "AP_SAT_ZERO", "AP_SAT_SYM", "AP_WRAP_SM", "AP_WRAP,2", "AP_WRAP_SM,1",
             "AP_WRAP_SM,3"]


def _out_formats(kind, width, int_bits):
    """The 56 (rounding, overflow) outputs of one shape (ap_ufixed: no AP_WRAP_SM)."""
    out = []
    for r in ROUNDINGS:
        for o in OVERFLOWS:
            if kind == "ap_ufixed" and "SM" in o:
                continue
            out.append(nf.parse(f"{kind}<{width},{int_bits},{r},{o}>"))
    return out


def _check_fixed_mac(fa, fb, outs, n_max, seed, **kw):
    """One simulation, 8 lanes, lane k casting to outs[k] (len(outs) == 8)."""
    assert len(outs) == LANES
    factories = [lambda o=o: FixedMac(fa, fb, o, n_max, stages=1, out_stages=1) for o in outs]
    ext = int_extremes(nf.IntFormat(fa.width, signed=fa.signed), nf.IntFormat(fb.width, signed=fb.signed))
    vec = mac_vectors(fa.width, fb.width, seed, extremes=ext, repeat=LANES)
    return check(cycling(*factories), vectors=vec, lanes=LANES, seed=seed, **kw)


FIXED_SHAPES = [  # a, b, n_max, output shapes (kind, width, int_bits)
    ("ap_fixed<6,2>", "ap_ufixed<5,3>", 8, [("ap_fixed", 7, 4), ("ap_ufixed", 6, 2), ("ap_fixed", 6, -1),
                                            ("ap_fixed", 12, 9)]),
    ("ap_fixed<8,3>", "ap_fixed<7,0>", 4, [("ap_fixed", 8, 2), ("ap_fixed", 5, 6)]),
]


@pytest.mark.parametrize("fa,fb,n_max,shapes", [pytest.param(*FIXED_SHAPES[0], marks=pytest.mark.slow),
                                               FIXED_SHAPES[1]], ids=["fx6x5", "fx8x7"])
def test_fixed_mac_model_matches_reference(fa, fb, n_max, shapes):
    fa, fb = nf.parse(fa), nf.parse(fb)
    full = mac_vectors(fa.width, fb.width, 2)
    pick = np.random.default_rng(2).choice(len(full["a"]), 3000, replace=False)
    pick.sort()
    vec = {k: v[pick] for k, v in full.items()}
    for kind, w, i in shapes:
        for out in _out_formats(kind, w, i):
            unit = FixedMac(fa, fb, out, n_max)
            assert np.array_equal(unit.model(vec)["acc"], ref_fixed_mac(unit, vec)), str(out)


@pytest.mark.parametrize("lanes_outs", [
    ["ap_fixed<7,4,AP_TRN,AP_SAT>", "ap_fixed<7,4,AP_RND_CONV,AP_WRAP>", "ap_fixed<7,4,AP_RND,AP_SAT_SYM>",
     "ap_fixed<7,4,AP_RND_ZERO,AP_SAT_ZERO>", "ap_fixed<7,4,AP_RND_INF,AP_WRAP_SM>",
     "ap_fixed<7,4,AP_RND_MIN_INF,AP_WRAP,2>", "ap_fixed<7,4,AP_TRN_ZERO,AP_WRAP_SM,1>",
     "ap_fixed<7,4,AP_RND_CONV,AP_WRAP_SM,3>"],
], ids=["ap_fixed<7,4>_modes"])
def test_fixed_mac_rtl(lanes_outs):
    fa, fb = nf.parse("ap_fixed<6,2>"), nf.parse("ap_ufixed<5,3>")
    report = _check_fixed_mac(fa, fb, [nf.parse(o) for o in lanes_outs], 8, seed=3)
    assert set(report.latencies.tolist()) == {3}


@pytest.mark.exhaustive
@pytest.mark.parametrize("fa,fb,n_max,shapes", [FIXED_SHAPES[0],     # every mode, in CI
                                               pytest.param(*FIXED_SHAPES[1], marks=pytest.mark.sweep)],
                         ids=["fx6x5", "fx8x7"])                    # fx8x7: 160 s, CI's budget
def test_fixed_mac_rtl_every_mode(fa, fb, n_max, shapes):
    fa, fb = nf.parse(fa), nf.parse(fb)
    outs = [o for kind, w, i in shapes for o in _out_formats(kind, w, i)]
    groups = {}
    for o in outs:     # a simulation's lanes share the output width
        groups.setdefault(o.width, []).append(o)
    for width, group in groups.items():
        for k in range(0, len(group), LANES):
            chunk = group[k:k + LANES]
            chunk += group[:LANES - len(chunk)]
            _check_fixed_mac(fa, fb, chunk, n_max, seed=width + k, idle=0.05, backpressure=0.05)


def test_fixed_mac_errors():
    q = nf.parse("ap_fixed<8,3>")
    with pytest.raises(TypeError, match=r"out_fmt must be a numfmt.FixedFormat, not"):
        FixedMac(q, q, nf.IntFormat(8), 4)
    with pytest.raises(ValueError, match=r"n_max must be an integer ≥ 1, not 0"):
        FixedMac(q, q, q, 0)
    with pytest.raises(ValueError, match=r"out_stages must be an integer ≥ 0, not 1.5"):
        FixedMac(q, q, q, 4, out_stages=1.5)
    with pytest.raises(ValueError, match=r"at most 53 bits wide"):
        FixedMac(nf.parse("ap_fixed<30,3>"), nf.parse("ap_fixed<30,3>"), q, 4)


def test_fixed_mac_register_is_exact():
    q = nf.parse("ap_fixed<8,3>")
    unit = FixedMac(q, q, nf.parse("ap_fixed<10,5,AP_RND_CONV,AP_SAT>"), 16, stages=2, out_stages=1)
    assert unit.register == exact_fixed_accumulator(q, q, 16)
    assert unit.latency == 4


# -- FloatKulischMac -------------------------------------------------------------------------------
def ref_kulisch(unit, inputs):
    """Exact Fraction sums of the finite products (wrapped at the register width); the sticky
    invalid flag; the register code."""
    fa, fb, reg = unit.a_fmt, unit.b_fmt, unit.register
    va, vb = fa.decode(inputs["a"]), fb.decode(inputs["b"])
    acc, inv, codes, flags = Fraction(0), False, [], []
    mod = 1 << reg.width
    for x, y, f in zip(va.tolist(), vb.tolist(), inputs["first"].tolist()):
        if f:
            acc, inv = Fraction(0), False
        if np.isfinite(x) and np.isfinite(y):
            acc += Fraction(x) * Fraction(y)
        else:
            inv = True
        k = acc * 2 ** reg.frac_bits
        assert k.denominator == 1
        codes.append(int(k) % mod)
        flags.append(int(inv))
    return np.array(codes, dtype=np.uint64), np.array(flags, dtype=np.uint64)


KULISCH_CASES = [  # a, b, n_max
    ("e4m3fn", "e4m3fn", 16),
    ("fp4_e2m1", "e3m2fn", 4),
    ("e4m3", "fp4_e2m1", 8),           # ieee: inf and NaN operands
    ("e4m3fnuz", "fp6_e2m3", 2),
]


@pytest.mark.parametrize("fa,fb,n_max", KULISCH_CASES, ids=lambda v: str(v))
def test_kulisch_model_matches_reference(fa, fb, n_max):
    fa, fb = nf.FLOATS[fa], nf.FLOATS[fb]
    unit = FloatKulischMac(fa, fb, n_max)
    vec = mac_vectors(fa.bits, fb.bits, 4)
    out = unit.model(vec)
    codes, flags = ref_kulisch(unit, vec)
    assert np.array_equal(out["acc"], codes)
    assert np.array_equal(out["invalid"], flags)


def _kulisch_extremes(fa, fb):
    big = [(int(fa.encode(fa.max)), int(fb.encode(fb.max))),
           (int(fa.encode(fa.max)), int(fb.encode(-fb.max)))]
    return big


def _check_kulisch(fa, fb, n_max, seed, stages=1, **kw):
    vec = mac_vectors(fa.bits, fb.bits, seed, extremes=_kulisch_extremes(fa, fb))
    return check(lambda: FloatKulischMac(fa, fb, n_max, stages=stages), vectors=vec, lanes=LANES, seed=seed, **kw)


@pytest.mark.parametrize("fa,fb,n_max,stages", [
    ("e4m3fn", "e4m3fn", 16, 3),
    *(pytest.param("e4m3fn", "e4m3fn", 16, s, marks=pytest.mark.slow) for s in (0, 1, 2)),
    *(pytest.param("e4m3", "fp4_e2m1", 8, s, marks=pytest.mark.slow) for s in (1, 2, 3)),
    pytest.param("fp6_e3m2", "fp5_e2m2", 4, 3, marks=pytest.mark.slow),
], ids=lambda v: str(v))
def test_kulisch_rtl(fa, fb, n_max, stages):
    """Every code pair (long sums, random ``first``) at each depth: the cut points after the
    significand multiply and after the alignment shift keep the sums exact."""
    fa, fb = nf.FLOATS[fa], nf.FLOATS[fb]
    report = _check_kulisch(fa, fb, n_max, seed=7, stages=stages, idle=0.1, backpressure=0.1)
    assert report.n_vectors == 2 * (1 << (fa.bits + fb.bits)) + 2 * 300
    assert report.latencies.min() == stages + 1


def test_mac_depth_rule():
    """Stages beyond the first fill the product path's cut points, then register the
    product again; the latency stays ``stages + 1``."""
    e4m3, i8 = nf.FLOATS["e4m3fn"], nf.IntFormat(8)
    assert FloatKulischMac(e4m3, e4m3, 16)._cuts() == ("significand", "aligned")
    assert [IntMac(i8, i8, FixedAccumulator(24), stages=s)._cuts() for s in range(5)] == \
        [(), (), ("partial",), ("partial", "sum2"), ("partial", "sum2")]
    assert IntMac(nf.IntFormat(3), nf.IntFormat(2), FixedAccumulator(8), stages=3)._cuts() == ()
    assert IntMac(nf.IntFormat(16), nf.IntFormat(2), FixedAccumulator(24), stages=4)._split() == ("a", 8)
    for s in range(5):
        assert IntMac(i8, i8, FixedAccumulator(24), stages=s).manifest()["latency"] == s + 1


KULISCH_FORMATS = ["e4m3fn", "e4m3fnuz", "e4m3", "e3m4", "e2m3fn", "e3m2fn", "e2m1fn", "fp4_e2m1",
                   "fp5_e2m2", "fp6_e3m2", "fp3_e1m1", "fp8_e3m4"]


@pytest.mark.exhaustive
@pytest.mark.parametrize("fb", ["e4m3fn", "e4m3", "fp4_e2m1", "e3m2fn"])
def test_kulisch_rtl_exhaustive(fb):
    """Every format of KULISCH_FORMATS × ``fb``: one build (:func:`numfmt.sim.check_many`)."""
    fb = nf.FLOATS[fb]
    fas = [nf.FLOATS[fa] for fa in KULISCH_FORMATS]
    vecs = [mac_vectors(fa.bits, fb.bits, fa.bits * 16 + fb.bits, extremes=_kulisch_extremes(fa, fb))
            for fa in fas]
    reports = check_many([lambda fa=fa: FloatKulischMac(fa, fb, 8, stages=1) for fa in fas], vectors=vecs,
                         seed=fb.bits, idle=0.05, backpressure=0.05)
    assert [r.n_vectors for r in reports] == [len(v["a"]) for v in vecs]


def test_kulisch_interface_and_errors():
    e4m3 = nf.FLOATS["e4m3fn"]
    unit = FloatKulischMac(e4m3, e4m3, 256, stages=0)
    assert unit.register.width == 45 and unit.latency == 1
    assert unit.out_fmt == nf.FixedFormat(45, 45 - unit.register.frac_bits)
    assert list(unit.out_fields) == ["acc", "invalid"]
    with pytest.raises(ValueError, match=r"at most 53 bits wide .* not 65 \(kulisch_width\(e5m2, e5m2, 1\)\)"):
        FloatKulischMac(nf.FLOATS["e5m2"], nf.FLOATS["e5m2"], 1)
    with pytest.raises(TypeError, match=r"b_fmt must be a numfmt.FloatFormat, not"):
        FloatKulischMac(e4m3, nf.IntFormat(8), 4)
    with pytest.raises(ValueError, match=r"n_max must be an integer ≥ 1, not True"):
        FloatKulischMac(e4m3, e4m3, True)


# -- lint ------------------------------------------------------------------------------------------
# Amaranth 0.5's netlist narrows every sign/zero extension into the operand of the
# arithmetic cell ($add, $sub, $lt, $shl, ...), and Yosys writes `$signed(a) + $signed(b)`
# with `a`, `b` narrower than the result. Verilog extends them exactly as intended (IEEE
# 1364 §5.5), but Verilator's -Wall reports WIDTHEXPAND for every such operator.
EXTENSION_WAIVER = {"WIDTHEXPAND": "Amaranth/Yosys leave operand extension of arithmetic cells "
                                   "implicit; Verilog's rules extend them as intended"}

LINT_UNITS = {
    "int_sat": lambda: IntMac(nf.IntFormat(8), nf.IntFormat(8), FixedAccumulator(16, overflow="sat"), stages=2),
    "int_wrap_comb": lambda: IntMac(nf.IntFormat(3, signed=False), nf.IntFormat(5), FixedAccumulator(6), stages=0),
    "fixed_wrap_sm": lambda: FixedMac(nf.parse("ap_fixed<6,2>"), nf.parse("ap_ufixed<5,3>"),
                                      nf.parse("ap_fixed<7,4,AP_RND_CONV,AP_WRAP_SM>"), 8, out_stages=1),
    "fixed_sat_sym": lambda: FixedMac(nf.parse("ap_fixed<6,2>"), nf.parse("ap_fixed<6,2>"),
                                      nf.parse("ap_fixed<7,4,AP_RND,AP_SAT_SYM>"), 8),
    "kulisch_e4m3fn": lambda: FloatKulischMac(nf.FLOATS["e4m3fn"], nf.FLOATS["e4m3fn"], 16),
    "kulisch_ieee": lambda: FloatKulischMac(nf.FLOATS["e4m3"], nf.FLOATS["fp4_e2m1"], 8, stages=0),
    "float_acc_fp16": lambda: FloatAccMac(nf.FLOATS["e4m3fn"], nf.FLOATS["e4m3fn"],
                                          FloatAccumulator(nf.FLOATS["fp16"])),
    "float_acc_ieee_floor": lambda: FloatAccMac(nf.FLOATS["e5m2"], nf.FLOATS["e5m2"],
                                                FloatAccumulator(nf.FLOATS["bf16"], rounding="floor"), stages=0),
}


@pytest.mark.parametrize("name", list(LINT_UNITS))
def test_lint(name):
    waived = lint(LINT_UNITS[name](), waivers={**WAIVERS, **EXTENSION_WAIVER})
    assert {w.rule for w in waived} <= set(WAIVERS) | set(EXTENSION_WAIVER)


# -- FloatAccMac -----------------------------------------------------------------------------------
def _round_odd(S: Fraction) -> float:
    """The float64 nearest ``S`` toward zero with its last bit set if inexact (round to odd:
    a later rounding to ≤ 51 bits then rounds as ``S`` would in every mode)."""
    f = float(S)
    if Fraction(f) == S:
        return f
    if abs(Fraction(f)) > abs(S):
        f = math.nextafter(f, 0.0)
    if not int(np.float64(f).view(np.uint64)) & 1:
        f = math.nextafter(f, math.copysign(math.inf, f))
    return f


def ref_float_acc(unit, inputs):
    """Sequential register with Python Fractions: exact sum, IEEE signed zeros and specials,
    NaN results as +NaN; ``acc.fmt.encode`` rounds (the definition of R)."""
    fmt, rnd = unit.acc.fmt, unit.acc.rounding
    floor = rnd is nf.Rounding.FLOOR
    va, vb = unit.a_fmt.decode(inputs["a"]).tolist(), unit.b_fmt.decode(inputs["b"]).tolist()
    r, codes = 0.0, []
    for x, y, f in zip(va, vb, inputs["first"].tolist()):
        if f:
            r = 0.0
        sp = (math.copysign(1, x) < 0) != (math.copysign(1, y) < 0)
        if math.isnan(x) or math.isnan(y) or (math.isinf(x) and y == 0) or (x == 0 and math.isinf(y)):
            p = math.nan
        elif math.isinf(x) or math.isinf(y):
            p = -math.inf if sp else math.inf
        else:
            p = None
        sr = math.copysign(1, r) < 0
        if math.isnan(r) or (p is not None and math.isnan(p)):
            v = math.nan
        elif math.isinf(r) and p is not None:
            v = r if r == p else math.nan
        elif math.isinf(r) or p is not None:
            v = r if math.isinf(r) else p
        else:
            S = Fraction(r) + Fraction(x) * Fraction(y)
            if S == 0:
                v = -0.0 if ((sr or sp) if floor else (sr and sp)) else 0.0
            else:
                v = _round_odd(S)
        code = fmt.encode(np.array([v]), rnd)
        r = float(fmt.decode(code)[0])
        codes.append(int(code[0]))
    return np.array(codes, dtype=np.uint64)


def _wild_codes(fmt):
    """Codes of the extremes: ±max, ±min subnormal, ±1, ±0 and the inf/NaN codes."""
    vals = [fmt.max, -fmt.max, fmt.smallest_subnormal, -fmt.smallest_subnormal, 1.0, -1.0, 0.0, -0.0,
            math.inf, -math.inf, math.nan]
    return np.unique(fmt.encode(np.array(vals))).astype(np.uint64)


def float_acc_vectors(fa, fb, seed, *, copies=1, runs=16, repeat=1):
    """Every code pair ``copies`` times with random ``first`` (p = 1/8) and as long sums
    (p = 1/256), then ``runs`` sums of 300 random extreme products (overflow, inf − inf,
    cancellation of huge products, tiny ones lost or kept); each vector ``repeat`` times."""
    rng = np.random.default_rng(seed)
    parts = []
    for _ in range(copies):
        for p in (1 / 8, 1 / 256):
            a, b = _all_pairs(fa.bits, fb.bits, rng)
            parts.append((a, b, (rng.random(a.size) < p).astype(np.uint64)))
    wa, wb = _wild_codes(fa), _wild_codes(fb)
    for _ in range(runs):
        first = np.zeros(300, dtype=np.uint64)
        first[0] = 1
        parts.append((rng.choice(wa, 300), rng.choice(wb, 300), first))
    a, b, first = (np.concatenate(x) for x in zip(*parts))
    return {"a": np.repeat(a, repeat), "b": np.repeat(b, repeat), "first": np.repeat(first, repeat)}


MODES = ["rne", "rna", "rnp", "rnm", "rnz", "floor", "ceil", "rtz", "rta"]
E4M3FN_SAT = nf.FloatFormat(4, 3, bias=7, specials="fn", overflow="sat")
FLOAT_ACC_CASES = [  # a, b, register
    ("e4m3fn", "e4m3fn", "fp16"),
    ("e4m3fn", "e4m3fn", "bf16"),
    ("fp4_e2m1", "fp4_e2m1", "e4m3"),
    ("fp4_e2m1", "fp4_e2m1", "e4m3fn"),
    ("e5m2", "e5m2", "fp16"),
    ("e5m2", "e4m3fn", "e5m2"),
]


def _flt(name):
    return E4M3FN_SAT if name == "e4m3fn_sat" else nf.FLOATS[name]


@pytest.mark.slow
@pytest.mark.parametrize("fa,fb,reg", FLOAT_ACC_CASES + [("fp4_e2m1", "fp4_e2m1", "e4m3fn_sat")],
                         ids=lambda v: str(v))
def test_float_acc_model_matches_reference(fa, fb, reg):
    fa, fb, reg = _flt(fa), _flt(fb), _flt(reg)
    full = float_acc_vectors(fa, fb, 11, runs=8)
    rng = np.random.default_rng(11)
    pick = np.sort(rng.choice(len(full["a"]) - 2400, min(1500, len(full["a"]) - 2400), replace=False))
    pick = np.concatenate([pick, np.arange(len(full["a"]) - 2400, len(full["a"]))])   # + the runs
    vec = {k: v[pick] for k, v in full.items()}
    for mode in MODES:
        unit = FloatAccMac(fa, fb, FloatAccumulator(reg, rounding=mode))
        assert np.array_equal(unit.model(vec)["acc"], ref_float_acc(unit, vec)), mode


def _check_float_acc(fa, fb, regs_modes, seed, copies=1, every_lane=False, **kw):
    """One simulation, lane k = FloatAccMac(fa, fb, FloatAccumulator(*regs_modes[k])). Each
    lane sees every vector (``every_lane``) or its share (vectors k, k+8, ...: random pairs,
    sums across the extreme runs), ≥ 10^5 vectors in all."""
    assert len(regs_modes) == LANES
    factories = [lambda r=r, md=md: FloatAccMac(fa, fb, FloatAccumulator(r, rounding=md), stages=1)
                 for r, md in regs_modes]
    vec = float_acc_vectors(fa, fb, seed, copies=copies, repeat=LANES if every_lane else 1)
    report = check(cycling(*factories), vectors=vec, lanes=LANES, seed=seed, **kw)
    assert report.n_vectors == len(vec["a"]) >= 10**5
    return report


@pytest.mark.parametrize("fa,fb,reg", [pytest.param("e4m3fn", "e4m3fn", "fp16", marks=pytest.mark.slow),
                                       pytest.param("e4m3fn", "e4m3fn", "bf16", marks=pytest.mark.slow)],
                         ids=["e4m3fn_fp16", "e4m3fn_bf16"])
def test_float_acc_rtl(fa, fb, reg):
    reg = nf.FLOATS[reg]
    report = _check_float_acc(nf.FLOATS[fa], nf.FLOATS[fb], [(reg, md) for md in MODES[:LANES]], seed=13)
    assert set(report.latencies.tolist()) == {2}


MINI_LANES = [(nf.FLOATS["e4m3"], "rne"), (nf.FLOATS["e4m3fn"], "rne"), (E4M3FN_SAT, "rne"),
              (nf.FLOATS["e4m3"], "rta"), (nf.FLOATS["e4m3fn"], "floor"), (E4M3FN_SAT, "ceil"),
              (nf.FLOATS["e4m3"], "rtz"), (nf.FLOATS["e4m3fn"], "rnz")]


@pytest.mark.slow
def test_float_acc_rtl_minifloat_registers():
    """e2m1 × e2m1 into e4m3 (ieee: overflow to inf), e4m3fn (to NaN) and a saturating e4m3fn."""
    _check_float_acc(nf.FLOATS["fp4_e2m1"], nf.FLOATS["fp4_e2m1"], MINI_LANES, seed=17, copies=200)


@pytest.mark.slow
def test_float_acc_rtl_ieee_operands_with_stalls():
    """e5m2 × e5m2 (inf and NaN codes) into fp16, with idle cycles and back-pressure."""
    e5m2, fp16 = nf.FLOATS["e5m2"], nf.FLOATS["fp16"]
    report = _check_float_acc(e5m2, e5m2, [(fp16, md) for md in ["rne", "rta", "floor", "ceil", "rtz", "rnp",
                                                                   "rnm", "rne"]],
                              seed=19, idle=0.2, backpressure=0.2)
    assert min(report.latencies.tolist()) == 2


@pytest.mark.exhaustive
@pytest.mark.parametrize("fa,fb,reg", FLOAT_ACC_CASES, ids=lambda v: str(v))
@pytest.mark.parametrize("modes", [MODES[:LANES], MODES[LANES:] + MODES[:LANES - 1]], ids=["modes0", "modes1"])
def test_float_acc_rtl_exhaustive(fa, fb, reg, modes):
    fa, fb, reg = nf.FLOATS[fa], nf.FLOATS[fb], nf.FLOATS[reg]
    copies = max(1, 10**5 // (2 << (fa.bits + fb.bits)) + 1)
    _check_float_acc(fa, fb, [(reg, md) for md in modes], seed=fa.bits + reg.bits, copies=copies,
                     every_lane=True, idle=0.05, backpressure=0.05)


@pytest.mark.slow
def test_float_acc_checker_reports_a_wrong_model():
    e2m1 = nf.FLOATS["fp4_e2m1"]
    wrong = FloatAccMac(e2m1, e2m1, FloatAccumulator(nf.FLOATS["e4m3"], rounding="rtz"))   # lane 0 rounds rne
    factories = [lambda r=r, md=md: FloatAccMac(e2m1, e2m1, FloatAccumulator(r, rounding=md), stages=1)
                 for r, md in MINI_LANES]                  # the build of test_float_acc_rtl_minifloat_registers
    with pytest.raises(MismatchError, match=r"seed"):
        check(cycling(*factories), vectors=float_acc_vectors(e2m1, e2m1, 5), lanes=LANES, seed=5,
              model=wrong.model, waves=False)


def test_float_acc_interface_and_errors():
    e4m3, fp16 = nf.FLOATS["e4m3fn"], nf.FLOATS["fp16"]
    unit = FloatAccMac(e4m3, e4m3, FloatAccumulator(fp16, rounding="floor"), stages=3)
    assert unit.latency == 4 and unit.adder_width == 16
    assert [(k, f.width) for k, f in unit.in_fields.items()] == [("a", 8), ("b", 8), ("first", 1)]
    assert unit.out_fields["acc"].format == fp16
    assert unit.name == "floataccmac_e4m3fn_e4m3fn_fp16_floor_3"
    assert FloatAccMac(e4m3, e4m3, FloatAccumulator(nf.FLOATS["fp32"])).adder_width == 29
    with pytest.raises(ValueError, match=r"acc.order must be 'sequential' for a MAC register, not 'pairwise'"):
        FloatAccMac(e4m3, e4m3, FloatAccumulator(fp16, order="pairwise"))
    with pytest.raises(ValueError, match=r"product significand must be at most 53 bits wide .* not 54 "
                                         r"\(e2m26 × e2m26\)"):
        wide = nf.FloatFormat(2, 26)
        FloatAccMac(wide, wide, FloatAccumulator(fp16))
    with pytest.raises(TypeError, match=r"acc must be a numfmt.FloatAccumulator, not"):
        FloatAccMac(e4m3, e4m3, FixedAccumulator(16))
    with pytest.raises(ValueError, match=r"stages must be an integer ≥ 0, not -2"):
        FloatAccMac(e4m3, e4m3, FloatAccumulator(fp16), stages=-2)


def test_float_running_codes_edges():
    fp16 = nf.FLOATS["fp16"]
    acc = FloatAccumulator(fp16)
    # underflow to -0; -0 + -0 = -0; -0 + +0 = +0; overflow; inf - inf = NaN; NaN stays; first restarts
    prods = [-2.0 ** -30, -0.0, 0.0, 2.0 ** 20, -math.inf, 1.0, 2.0]
    first = [1, 0, 0, 0, 0, 0, 1]
    got = float_running_codes(prods, first, acc)
    nan, inf = int(fp16.encode(np.nan)), int(fp16.encode(np.inf))
    assert got.tolist() == [0x8000, 0x8000, 0, inf, nan, nan, int(fp16.encode(2.0))]
    floor = float_running_codes([-0.0, 0.0, 1.0, -1.0], [1, 1, 1, 0], FloatAccumulator(fp16, rounding="floor"))
    assert floor.tolist() == [0x8000, 0, int(fp16.encode(1.0)), 0x8000]
