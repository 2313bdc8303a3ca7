"""numfmt/accumulate.h, requant.h and mx.h against numfmt.arith and numfmt.quant, on seeded
random inputs: Kulisch and float-register MACs, dyadic requantization, MX encoding and the
MX block dot product. Every comparison is on codes (np.array_equal); the seed is in the
failure message. The default run keeps one case of each; the rest is ``-m exhaustive``."""

from __future__ import annotations

import numpy as np
import pytest

import numfmt as nf
from numfmt.arith import ExactAccumulator, FloatAccumulator, block_dot, dot
from numfmt.nn import _datapath as dp
from numfmt.quant import Requantizer, dyadic_approx


import numfmt_tests_hls_cpp_ops as ops  # noqa: E402  (registered by conftest.py)
pytestmark = pytest.mark.skipif(ops.why_unavailable() is not None, reason=str(ops.why_unavailable()))

F, B = nf.FLOATS, nf.BLOCKS
SEED = 20261205
ROWS = 300
KULISCH = [(F["e4m3fn"], F["e4m3fn"], F["fp32"], 64), (F["e5m2"], F["e5m2"], F["fp32"], 32),
           (F["e2m1fn"], F["e4m3fn"], F["bf16"], 48), (F["e4m3fnuz"], F["e3m2fn"], F["e4m3fn"], 17),
           (F["e5m2"], F["e4m3fn"], F["fp16"], 256)]
FLOAT_ACC = [(F["fp32"], "rne", F["e4m3fn"], F["e4m3fn"], 64), (F["bf16"], "rne", F["e4m3fn"], F["e4m3fn"], 64),
             (F["fp16"], "rtz", F["e5m2"], F["e2m1fn"], 40), (F["e5m2"], "rne", F["e4m3fn"], F["e4m3fn"], 16),
             (F["e4m3fn"], "rne", F["e4m3fn"], F["e4m3fn"], 16), (F["bf16"], "floor", F["e5m2"], F["e5m2"], 33),
             (F["e4m3fnuz"], "rna", F["e4m3fn"], F["e2m1fn"], 24)]
INT_OUT = [nf.IntFormat(8), nf.IntFormat(4, signed=False, overflow="wrap"), nf.IntFormat(16, overflow="wrap"),
           nf.IntFormat(8, signed=False)]
MODES = ["rne", "rna", "rnp", "rnm", "rnz", "floor", "ceil", "rtz", "rta"]
FLOAT_OUT = [F["e4m3fn"], F["e2m1fn"], F["bf16"], F["fp32"]]
BLOCK_DOT = [(B["mxfp4"], B["mxfp4"], 64), (B["mxfp8_e4m3"], B["mxfp6_e2m3"], 40),
             (B["mxfp8_e5m2"], B["mxfp8_e5m2"], 96),
             (B["mxfp6_e3m2"], B["mxfp4"], 7)]
MX_ENCODE = [(B["mxfp4"], 64), (B["mxfp8_e4m3"], 40), (B["mxfp6_e3m2"], 96), (B["mxfp8_e5m2"], 32),
             (B["mxfp6_e2m3"], 5)]


def _program(kulisch, float_acc, int_out, float_out, block_dot, mx_encode):
    """One program with the operations of these cases; returns ``run(key, inputs, dtypes)``."""
    names, index = [], {}
    for fa, fb, fo, n in kulisch:
        index["kulisch", fa, fb, fo, n] = len(names)
        names.append(f"numfmt_test::kulisch_rows<{ops.T(fa)}, {ops.T(fb)}, {ops.T(fo)}, {n}>")
    for f, r, fa, fb, n in float_acc:
        index["float_acc", f, r, fa, fb, n] = len(names)
        names.append(f"numfmt_test::float_acc_rows<{ops.T(f)}, numfmt::rounding::{r}, {ops.T(fa)}, {ops.T(fb)}, {n}>")
    for fmt in int_out:
        index["requant", fmt] = len(names)
        names.append(f"numfmt_test::requantize_all<{ops.cpp_int_type(fmt)} >")
    for fmt in float_out:
        index["requant_float", fmt] = len(names)
        names.append(f"numfmt_test::requantize_float_all<{ops.T(dp.converter(fmt))} >")
    for fa, fb, n in block_dot:
        index["block_dot", fa, fb, n] = len(names)
        names.append(f"numfmt_test::block_dot_rows<{ops.T(fa)}, {ops.T(fb)}, {n}, {ops.T(F['fp32'])} >")
    for fmt, n in mx_encode:
        index["mx_encode", fmt, n] = len(names)
        names.append(f"numfmt_test::mx_encode_rows<{ops.T(fmt)}, 8, 23, {n}>")
    program = ops.Program(names)
    return lambda key, inputs, dtypes: program.run(index[key], inputs, dtypes)


@pytest.fixture(scope="module")
def suite():
    """The default run's operations (a small program, quick to compile)."""
    return _program(KULISCH[:1], FLOAT_ACC[:1], INT_OUT[:1], FLOAT_OUT[:1], BLOCK_DOT[:1], MX_ENCODE[:1])


@pytest.fixture(scope="module")
def full_suite():
    return _program(KULISCH, FLOAT_ACC, INT_OUT, FLOAT_OUT, BLOCK_DOT, MX_ENCODE)


def _finite_codes(fmt, rng, size):
    """Random codes of finite values of ``fmt`` (with extra zeros, ±max and ±min subnormal)."""
    codes = np.arange(1 << fmt.bits, dtype=np.uint32)
    codes = codes[np.isfinite(fmt.decode(codes))]
    special = fmt.encode(np.array([0.0, fmt.max, -fmt.max, fmt.smallest_subnormal, -fmt.smallest_subnormal]))
    pool = np.concatenate([codes, special.astype(np.uint32)])
    return rng.choice(pool, size).astype(np.uint32)


def _rng(case):
    return np.random.default_rng([SEED, abs(hash(str(case))) % (1 << 32)])


def _first_bad(got, want, what):
    bad = np.flatnonzero(got != want)
    return "" if bad.size == 0 else (f"{what} (seed {SEED}): row {bad[0]} gives {int(got[bad[0]]):#x}, "
                                     f"numfmt {int(want[bad[0]]):#x}")


# -- checks -------------------------------------------------------------------------------
def check_kulisch(run, fa, fb, fo, n, mode="rne"):
    rng = _rng((fa, fb, n))
    a, b = _finite_codes(fa, rng, (ROWS, n)), _finite_codes(fb, rng, (ROWS, n))
    a[0, :2], b[0, :2] = fa.encode([fa.max, -fa.max]), fb.encode([fb.max, fb.max])   # exact cancellation
    for row, sign in ((1, 1.0), (2, -1.0)):        # a huge and a tiny product: the rounding needs a sticky bit
        a[row], b[row] = fa.encode(0.0), fb.encode(0.0)
        a[row, :2] = fa.encode([sign * fa.max, fa.smallest_subnormal])
        b[row, :2] = fb.encode([fb.max, fb.smallest_subnormal])
    (got,) = run(("kulisch", fa, fb, fo, n), [ops.rounding_arg(mode), a, b], [np.uint32])
    va, vb = fa.decode(a), fb.decode(b)
    want = np.array([fo.encode(dot(va[i], vb[i], ExactAccumulator(), out_format=fo, out_rounding=mode))
                     for i in range(ROWS)], dtype=np.uint32).ravel()
    msg = _first_bad(got, want, f"Kulisch {fa} x {fb} -> {fo}, n={n}, {mode}")
    assert not msg, msg


def check_float_acc(run, f, r, fa, fb, n):
    rng = _rng((f, r, fa, fb, n))
    a, b = _finite_codes(fa, rng, (ROWS, n)), _finite_codes(fb, rng, (ROWS, n))
    (got,) = run(("float_acc", f, r, fa, fb, n), [a, b], [np.uint32])
    va, vb = fa.decode(a), fb.decode(b)
    acc = FloatAccumulator(f, rounding=r)
    want = np.array([f.encode(dot(va[i], vb[i], acc)) for i in range(ROWS)], dtype=np.uint32).ravel()
    msg = _first_bad(got, want, f"{acc} of {fa} x {fb}, n={n}")
    assert not msg, msg


def check_requant(run, fmt, mode):
    rng = _rng((fmt, mode))
    acc = rng.integers(-(1 << 31), 1 << 31, 2000) >> rng.integers(0, 31, 2000)
    b, c = dyadic_approx(np.exp(rng.uniform(-12, 3, 2000)), int(rng.integers(4, 32)))
    c[:50] = rng.integers(-3, 0, 50)              # left shifts
    b[:50] = rng.integers(1, 1 << 20, 50)
    c[50:60] = 0
    zp = int(rng.integers(fmt.min, fmt.max + 1))
    (got,) = run(("requant", fmt), [ops.rounding_arg(mode), np.array([zp]), acc, b, c], [np.int64])
    want = np.array([Requantizer(int(b[i]), int(c[i]), fmt, rounding=mode, zero_point=zp).requantize(int(acc[i]))
                     for i in range(acc.size)], dtype=np.int64).ravel()
    msg = _first_bad(got, want, f"Requantizer to {fmt}, {mode}, zero_point={zp}")
    assert not msg, msg


def check_requant_float(run, fmt):
    rng = _rng(fmt)
    K = rng.integers(-(1 << 30), 1 << 30, 3000) >> rng.integers(0, 30, 3000)
    b, c = dyadic_approx(np.exp(rng.uniform(-20, 5, 3000)), 32)
    K[:20] = 0
    b[20:400], c[20:400] = 1 << 20, rng.integers(16, 44, 380)     # a power-of-two scale: many ties
    (got,) = run(("requant_float", fmt), [K, b, c], [np.uint32])
    want = dp.converter(fmt).encode(dp.requantize(K, b, c, fmt)).astype(np.uint32)
    msg = _first_bad(got, want, f"requantization to {fmt}")
    assert not msg, msg


def _mx_rows(rng, rows, n):
    """float32 rows with blocks of very different magnitudes, zero blocks and subnormals."""
    x = rng.standard_normal((rows, n)) * np.exp2(rng.integers(-30, 30, (rows, 1)))
    x[rng.random((rows, n)) < 0.1] = 0.0
    x[0] = 0.0
    x[1, : n // 2] *= 2.0 ** -110                    # FP32 subnormals
    x[2] = 2.0 ** 126 * np.sign(x[2] + 0.5)
    return x.astype(np.float32)


def check_block_dot(run, fa, fb, n):
    rng = _rng((fa, fb, n))
    A, Bm = fa.encode(_mx_rows(rng, ROWS, n)), fb.encode(_mx_rows(rng, ROWS, n))
    arrays = [a.astype(np.uint32) for a in (A.elements, A.scales, Bm.elements, Bm.scales)]
    (got,) = run(("block_dot", fa, fb, n), arrays,
                 [np.uint32])
    fp32 = F["fp32"]
    want = []
    for i in range(ROWS):
        with np.errstate(over="ignore"):
            v = block_dot(A.elements[i], A.scales[i], Bm.elements[i], Bm.scales[i], fa, b_format=fb,
                          out_format=fp32)
        want.append(fp32.encode(v))
    msg = _first_bad(got, np.array(want, dtype=np.uint32).ravel(), f"block_dot {fa} x {fb}, n={n}")
    assert not msg, msg


def check_mx_encode(run, fmt, n):
    rng = _rng((fmt, n))
    x = _mx_rows(rng, ROWS, n)
    x[3, 0], x[4, -1], x[5, 1] = np.nan, np.inf, -np.inf
    el, sc = run(("mx_encode", fmt, n), [x.view(np.uint32).astype(np.uint64)], [np.uint32, np.uint32])
    want = fmt.encode(x)
    msg = _first_bad(el, want.elements.astype(np.uint32).ravel(), f"{fmt} elements, n={n}") or \
        _first_bad(sc, want.scales.astype(np.uint32).ravel(), f"{fmt} scales, n={n}")
    assert not msg, msg


# -- default run -----------------------------------------------------------------------------
def test_kulisch_e4m3fn_products_to_fp32(suite):
    check_kulisch(suite, *KULISCH[0])


def test_fp32_register_mac_of_e4m3fn(suite):
    check_float_acc(suite, *FLOAT_ACC[0])


def test_requantizer_int8(suite):
    check_requant(suite, INT_OUT[0], "rnp")


def test_requantize_to_e4m3fn(suite):
    check_requant_float(suite, F["e4m3fn"])


def test_mxfp4_block_dot(suite):
    check_block_dot(suite, *BLOCK_DOT[0])


def test_mxfp4_encode(suite):
    check_mx_encode(suite, *MX_ENCODE[0])


# -- the rest -------------------------------------------------------------------------------
RANDOMIZED = ([(check_kulisch, case + (mode,)) for case in KULISCH for mode in ("rne", "rtz", "floor", "ceil", "rna")]
              + [(check_float_acc, case) for case in FLOAT_ACC]
              + [(check_requant, (fmt, mode)) for fmt in INT_OUT for mode in MODES]
              + [(check_requant_float, (fmt,)) for fmt in FLOAT_OUT]
              + [(check_block_dot, case) for case in BLOCK_DOT]
              + [(check_mx_encode, case) for case in MX_ENCODE])


@pytest.mark.exhaustive
@pytest.mark.parametrize("check, case", RANDOMIZED,
                         ids=lambda v: v.__name__ if callable(v) else "-".join(str(x) for x in v))
def test_randomized(full_suite, check, case):
    check(full_suite, *case)
