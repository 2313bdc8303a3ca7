"""L-Mul against its definition (Luo & Sun 2024, Eq. 3-4) written here with Fractions."""

from __future__ import annotations

import dataclasses
import functools
import math
import os
import sys
from fractions import Fraction

import numpy as np
import pytest

import numfmt as nf
from numfmt.units import lmul, lmul_dot, lmul_offset_exp

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "arith"))
import arith_reference as R  # noqa: E402


def _l(m):
    return {0: 0, 1: 1, 2: 2, 3: 3, 4: 3}.get(m, 4)


@functools.lru_cache(maxsize=None)
def _split(v: Fraction, fmt, flush):
    """(1 + frac, e) of |v| > 0: 2**e <= |v| < 2**(e+1); None for a flushed subnormal."""
    a = abs(v)
    if flush and a < Fraction(2) ** fmt.min_exp:
        return None
    e = 0
    while Fraction(2) ** e > a:
        e -= 1
    while Fraction(2) ** (e + 1) <= a:
        e += 1
    return a / Fraction(2) ** e - 1, e


def ref_lmul(x: float, y: float, fmt, flush=False, mode="formula"):
    if math.isnan(x) or math.isnan(y):
        return math.nan
    neg = math.copysign(1, x) != math.copysign(1, y)
    sx = None if x == 0 or math.isinf(x) else _split(Fraction(x), fmt, flush)
    sy = None if y == 0 or math.isinf(y) else _split(Fraction(y), fmt, flush)
    zero_x = x == 0 or (not math.isinf(x) and sx is None)
    zero_y = y == 0 or (not math.isinf(y) and sy is None)
    if math.isinf(x) or math.isinf(y):
        if zero_x or zero_y:
            return math.nan
        return -math.inf if neg else math.inf
    if zero_x or zero_y:
        return -0.0 if neg else 0.0
    (xm, xe), (ym, ye) = sx, sy
    s = xm + ym + Fraction(1, 2 ** _l(fmt.man))
    if mode == "formula":
        v = (1 + s) * Fraction(2) ** (xe + ye)
    else:                                   # integer adder: the carry of the fraction sum goes to the exponent
        c = int(s)
        v = (1 + s - c) * Fraction(2) ** (xe + ye + c)
    assert float(v) == v
    return -float(v) if neg else float(v)


@functools.lru_cache(maxsize=None)
def _round(out, v: float, rnd, sign):   # sign in the key: the cache equates 0.0 and -0.0
    return R.round_to_format(out, Fraction(v), rnd, sign < 0)


def _same(a, b):
    return (math.isnan(a) and math.isnan(b)) or (a == b and math.copysign(1, a) == math.copysign(1, b))


def _all_values(fmt):
    return fmt.decode(np.arange(2 ** fmt.bits))


EXHAUSTIVE = [nf.FLOATS["e2m1fn"], nf.FLOATS["e3m2fn"], nf.FLOATS["e4m3fn"], nf.FloatFormat(3, 2),
              nf.FloatFormat(3, 1, specials="fnuz", bias=4), nf.FloatFormat(2, 4, specials="none"),
              nf.FloatFormat(3, 3, specials="none", subnormals=False), nf.FloatFormat(2, 0, specials="none")]


@pytest.mark.parametrize("fmt", EXHAUSTIVE, ids=str)
@pytest.mark.parametrize("flush", [False, True], ids=["normalize", "flush"])
def test_definition_exhaustive(fmt, flush):
    v = _all_values(fmt)
    X, Y = np.meshgrid(v, v, indexing="ij")
    X, Y = X.ravel(), Y.ravel()
    got = lmul(X, Y, fmt, subnormals="flush" if flush else "normalize")
    exp = [ref_lmul(float(a), float(b), fmt, flush) for a, b in zip(X, Y)]
    bad = [i for i, (g_, e_) in enumerate(zip(got.tolist(), exp)) if not _same(g_, e_)]
    assert not bad, f"{fmt}: lmul({X[bad[0]]}, {Y[bad[0]]}) = {got[bad[0]]}, expected {exp[bad[0]]}"
    # rounded once to the operand format (and to bf16), against the reference rounding
    if fmt.specials is nf.Specials.NONE or fmt.specials is nf.Specials.FN:
        for out, rnd in ((fmt, "rne"), (nf.FLOATS["bf16"], "rtz")):
            r = lmul(X, Y, fmt, out, out_rounding=rnd, subnormals="flush" if flush else "normalize")
            ref = [e_ if math.isnan(e_) or math.isinf(e_) else _round(out, e_, rnd, math.copysign(1, e_)) for e_ in exp]
            ok = [_same(a, b) or (math.isnan(b) and not out.has_nan) for a, b in zip(r.tolist(), ref)]
            assert all(ok), f"{fmt} -> {out}"


@pytest.mark.parametrize("name, mode", [(n, "formula") for n in ("e5m2", "e4m3", "e3m4", "e5m2fnuz")]
                         + [(n, "adder") for n in ("e5m2", "e4m3fn", "e3m2fn", "e2m1fn")])
def test_definition_specials_exhaustive(name, mode):
    fmt = nf.FLOATS[name]
    v = _all_values(fmt)
    X, Y = (a.ravel() for a in np.meshgrid(v, v, indexing="ij"))
    got = lmul(X, Y, fmt, mode=mode).tolist()
    exp = [ref_lmul(float(a), float(b), fmt, mode=mode) for a, b in zip(X, Y)]
    assert all(_same(a, b) for a, b in zip(got, exp))


def test_fp16_random():
    fmt = nf.FLOATS["fp16"]
    rng = np.random.default_rng(3)
    codes = rng.integers(0, 2 ** 16, size=(2, 4000))
    X, Y = fmt.decode(codes[0]), fmt.decode(codes[1])
    got = lmul(X, Y, fmt).tolist()
    assert all(_same(a, ref_lmul(float(x), float(y), fmt)) for a, x, y in zip(got, X, Y))


def test_offset_exp():
    assert [lmul_offset_exp(m) for m in range(8)] == [0, 1, 2, 3, 3, 4, 4, 4]
    e4m3 = nf.FLOATS["e4m3fn"]
    assert lmul([1.5], [1.5], e4m3, offset_exp=0).tolist() == [3.0]


def _errors(fmt):
    """Mean relative errors vs the exact product over all pairs of finite nonzero codes."""
    v = _all_values(fmt)
    v = v[np.isfinite(v) & (v != 0)]
    X, Y = (a.ravel() for a in np.meshgrid(v, v, indexing="ij"))
    exact = X * Y                                   # exact in float64
    sat = dataclasses.replace(fmt, overflow="sat")  # out-of-range L-Mul values saturate
    raw = lmul(X, Y, fmt)
    adder = lmul(X, Y, fmt, mode="adder")
    in_range = (np.abs(exact) >= fmt.smallest_normal) & (np.abs(exact) <= fmt.max)
    rel = lambda a: np.abs(a - exact) / np.abs(exact)   # noqa: E731
    return {
        "pairs": X.size,
        "lmul": float(rel(raw).mean()),
        "lmul_max": float(rel(raw).max()),
        "adder": float(rel(adder).mean()),
        "lmul_rounded_in_range": float(rel(sat.quantize(raw))[in_range].mean()),
        "exact_rounded_in_range": float(rel(sat.quantize(exact))[in_range].mean()),
        "in_range_pairs": int(in_range.sum()),
    }


def _reference_errors(fmt):
    """The same four means as :func:`_errors`, from the Fraction reference: each pair's relative
    error exact, rounded once to float, summed with ``math.fsum``."""
    v = [t for t in _all_values(fmt).tolist() if math.isfinite(t) and t != 0]
    sat = dataclasses.replace(fmt, overflow="sat")
    lo, hi = Fraction(fmt.smallest_normal), Fraction(fmt.max)
    terms = {"lmul": [], "adder": [], "lmul_rounded_in_range": [], "exact_rounded_in_range": []}
    for x in v:
        for y in v:
            exact = Fraction(x) * Fraction(y)
            rel = lambda a: float(abs(a - exact) / abs(exact))   # noqa: E731
            value = Fraction(ref_lmul(x, y, fmt))
            terms["lmul"].append(rel(value))
            terms["adder"].append(rel(Fraction(ref_lmul(x, y, fmt, mode="adder"))))
            if lo <= abs(exact) <= hi:
                terms["lmul_rounded_in_range"].append(rel(Fraction(R.round_to_format(sat, value, "rne"))))
                terms["exact_rounded_in_range"].append(rel(Fraction(R.round_to_format(sat, exact, "rne"))))
    return {k: math.fsum(t) / len(t) for k, t in terms.items()}


# the values docs/units.md prints (5 digits): mean relative error of the L-Mul value (Eq. 3), of
# the adder datapath, of the L-Mul value rounded to the format (RNE, saturating), and of the
# exact product rounded to the format; the last two over pairs whose exact product is in
# [smallest_normal, max]. Checked against the Fraction reference, not against the emulator.
DOCUMENTED = {"e4m3fn": (0.06903, 0.05327, 0.07240, 0.01857), "e5m2": (0.11295, 0.14774, 0.12104, 0.03509),
              "e3m2fn": (0.11855, 0.15079, 0.12490, 0.03255), "e2m1fn": (0.34694, 0.38776, 0.29885, 0.01149)}


@pytest.mark.parametrize("name", [pytest.param(n, marks=pytest.mark.slow) if nf.FLOATS[n].bits == 8 else n
                                  for n in DOCUMENTED])     # the 8-bit references take ~15 s each
def test_mean_relative_error(name):
    fmt = nf.FLOATS[name]
    e = _errors(fmt)
    ref = _reference_errors(fmt)
    for k, documented in zip(("lmul", "adder", "lmul_rounded_in_range", "exact_rounded_in_range"), DOCUMENTED[name]):
        assert e[k] == pytest.approx(ref[k], rel=1e-12), (name, k)       # float64 mean vs fsum: last bits
        assert round(ref[k], 5) == documented, (name, k, ref[k])
    # the relative error of Eq. (3) is |x_m·y_m − 2**-l| / ((1 + x_m)(1 + y_m)): its maximum over the grid
    m = fmt.man
    fr = [Fraction(f, 2 ** m) for f in range(2 ** m)]
    worst = max(abs(a * b - Fraction(1, 2 ** _l(m))) / ((1 + a) * (1 + b)) for a in fr for b in fr)
    assert e["lmul_max"] == pytest.approx(float(worst), rel=1e-12)


def test_lmul_dot():
    rng = np.random.default_rng(5)
    e4m3 = nf.FLOATS["e4m3fn"]
    x = e4m3.quantize(rng.standard_normal(64)); y = e4m3.quantize(rng.standard_normal(64))
    p = lmul(x, y, e4m3)
    r = lmul_dot(x, y, e4m3)
    assert Fraction(float(r.values)) == sum(Fraction(float(v)) for v in p)
    assert r.cycles == 64 and dict(r.ops) == {"exponent_adds": 64, "mantissa_adds": 64, "sign_xors": 64,
                                              "accumulations": 64}
    bf16 = nf.FLOATS["bf16"]
    r2 = lmul_dot(x, y, e4m3, nf.FloatAccumulator(bf16, order="sequential"), product_format=bf16)
    assert float(r2.values) == float(nf.dot(bf16.quantize(p), np.ones(64), nf.FloatAccumulator(bf16)))


def test_errors():
    e4m3 = nf.FLOATS["e4m3fn"]
    with pytest.raises(ValueError, match=r"^x\[1\] = 0.3 is not a value of fmt e4m3fn$"):
        lmul([1.0, 0.3], [1.0, 1.0], e4m3)
    with pytest.raises(ValueError, match=r"^fmt must be a FloatFormat, not IntFormat"):
        lmul([1.0], [1.0], nf.IntFormat(8))
    with pytest.raises(ValueError, match=r"^subnormals must be one of 'normalize', 'flush', not 'daz'$"):
        lmul([1.0], [1.0], e4m3, subnormals="daz")
    with pytest.raises(ValueError, match=r"^offset_exp must be in 0..3, not 4$"):
        lmul([1.0], [1.0], e4m3, offset_exp=4)
    with pytest.raises(ValueError, match=r"^L-Mul results of e11m4 leave float64's range$"):
        lmul([1.0], [1.0], nf.FloatFormat(11, 4))
    with pytest.raises(ValueError, match=r"^the L-Mul product of x\[0\] = nan and y\[0\] = 1.0 is nan"):
        lmul_dot([math.nan], [1.0], e4m3)
    with pytest.raises(ValueError, match=r"^x and y must be 1-D of the same length"):
        lmul_dot([1.0], [1.0, 2.0], e4m3)
