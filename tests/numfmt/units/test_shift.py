"""Zero-free power-of-two weights: quantizer against brute force, dot against exact sums."""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest

from numfmt.units import ShiftFormat, shift_dot, shift_matmul

FORMATS = [ShiftFormat(1), ShiftFormat(2), ShiftFormat(3), ShiftFormat(4, p_max=2), ShiftFormat(5, p_max=-3),
           ShiftFormat(8, p_max=60), ShiftFormat(3, p_max=-1070)]


def brute(fmt, x: float, rounding="log"):
    """Nearest ±2**p over every representable p, by exact comparisons of Fractions."""
    neg = math.copysign(1, x) < 0
    if math.isinf(x):
        return -2.0 ** fmt.p_max if neg else 2.0 ** fmt.p_max
    a = abs(Fraction(x))
    best, best_d = None, None
    for p in range(fmt.p_min, fmt.p_max + 1):
        w = Fraction(2) ** p
        if a == 0:
            d = w                                  # zero: the smallest magnitude wins
        elif rounding == "log":
            d = max(a / w, w / a)                  # log distance |log2 a - p| = log2 of this ratio
        else:
            d = abs(a - w)
        if best is None or d < best_d or (d == best_d and w > best):   # ties: larger magnitude
            best, best_d = w, d
    return float(-best if neg else best)


def _inputs(fmt, rng):
    xs = [0.0, -0.0, math.inf, -math.inf, 5e-324, -5e-324, 2.2250738585072014e-308, 1.7976931348623157e308]
    step = max(1, (fmt.p_max - fmt.p_min) // 12)       # wide formats: every boundary near the ends, some inside
    ps = sorted(set(range(fmt.p_min - 3, fmt.p_min + 3)) | set(range(fmt.p_max - 2, fmt.p_max + 4))
                | set(range(fmt.p_min, fmt.p_max, step)))
    for p in ps:
        for base in (1.0, math.sqrt(2), 1.5, 0.75):
            v = math.ldexp(base, p) if -1074 <= p + 1 <= 1023 else 0.0
            xs += [v, math.nextafter(v, 0), math.nextafter(v, math.inf), -v]
    xs += list(rng.standard_normal(200) * 2.0 ** rng.integers(fmt.p_min - 3, fmt.p_max + 4, 200))
    return np.array(xs)


@pytest.mark.parametrize("fmt", FORMATS, ids=str)
@pytest.mark.parametrize("rounding", ["log", "linear"])
def test_quantizer_is_nearest(fmt, rounding):
    xs = _inputs(fmt, np.random.default_rng(fmt.bits))
    got = fmt.quantize(xs, rounding).tolist()
    exp = [brute(fmt, float(x), rounding) for x in xs]
    bad = [i for i in range(len(xs)) if got[i] != exp[i]]
    assert not bad, f"{fmt}: x = {xs[bad[0]]!r}: got {got[bad[0]]}, expected {exp[bad[0]]}"


def test_float32_input_and_sqrt2_boundary():
    f = ShiftFormat(4)
    s = np.float32(np.sqrt(2) / 2)                     # float32 just below √2/2 rounds down
    assert Fraction(float(s)) ** 2 < Fraction(1, 2)
    assert f.quantize(np.array([s, np.nextafter(s, np.float32(1))])).tolist() == [0.5, 1.0]
    assert f.quantize([1.5], "linear").tolist() == [2.0 if f.p_max >= 1 else 1.0]


def _brute_int(fmt, x: int, rounding):
    """:func:`brute` for a Python integer (exact, no float64 on the way)."""
    a, best, best_d = Fraction(abs(x)), None, None
    for p in range(fmt.p_min, fmt.p_max + 1):
        w = Fraction(2) ** p
        d = w if a == 0 else (max(a / w, w / a) if rounding == "log" else abs(a - w))
        if best is None or d < best_d or (d == best_d and w > best):
            best, best_d = w, d
    return float(-best if x < 0 else best)


@pytest.mark.parametrize("rounding", ["log", "linear"])
def test_64_bit_integers_are_read_exactly(rounding):
    fmt = ShiftFormat(8, p_max=70)
    sqrt2 = [math.isqrt(1 << (2 * e + 1)) + d for e in (52, 53, 60, 62) for d in (0, 1)]   # around √2·2**e
    ints = [2 ** 53 + 1, 2 ** 53 - 1, 3 * 2 ** 53 - 1, 3 * 2 ** 53, 3 * 2 ** 53 + 1, 2 ** 63 - 1, -2 ** 63,
            -2 ** 63 + 1, 0, 1, 2, 3, -3, 5, -6, *sqrt2, *(-v for v in sqrt2)]
    got = fmt.quantize(np.array(ints, dtype=np.int64), rounding).tolist()
    assert got == [_brute_int(fmt, v, rounding) for v in ints]
    uints = [2 ** 64 - 1, 2 ** 63, 3 * 2 ** 62 - 1, 3 * 2 ** 62, 2 ** 53 + 1, 0]
    got = fmt.quantize(np.array(uints, dtype=np.uint64), rounding).tolist()
    assert got == [_brute_int(fmt, v, rounding) for v in uints]
    # through float64 some of these would round to the other power of two
    via_float = fmt.quantize(np.array(ints, dtype=np.float64), rounding).tolist()
    assert via_float != [_brute_int(fmt, v, rounding) for v in ints]
    # small integer dtypes and bools agree with their float64 values (exact there)
    small = np.arange(-300, 300, dtype=np.int16)
    assert np.array_equal(fmt.encode(small, rounding), fmt.encode(small.astype(np.float64), rounding))
    assert fmt.encode(np.array([True, False]), rounding).tolist() == fmt.encode([1.0, 0.0], rounding).tolist()


def test_matmul_refuses_int64_min_instead_of_overflowing():
    f = ShiftFormat(3)
    with pytest.raises(ValueError, match="they must fit int64"):
        shift_matmul(np.array([[-2 ** 63]], dtype=np.int64), f.encode([[1.0]]), f)


def test_codes_roundtrip_and_values():
    for fmt in FORMATS[:6]:
        codes = np.arange(2 ** fmt.bits)
        v = fmt.decode(codes)
        assert np.array_equal(fmt.encode(v), codes)
        assert len(set(v.tolist())) == 2 ** fmt.bits and 0.0 not in v
        assert sorted(v.tolist()) == fmt.values().tolist()
        mags = sorted(set(np.abs(v).tolist()))
        assert mags == [2.0 ** p for p in range(fmt.p_min, fmt.p_max + 1)]
    f = ShiftFormat(3)
    assert f.encode([1.0, 0.125, -1.0, -0.125]).tolist() == [3, 0, 7, 4]


@pytest.mark.parametrize("fmt", FORMATS[:5], ids=str)
def test_dot_is_exact(fmt):
    rng = np.random.default_rng(11 + fmt.bits)
    M, K, N = 4, 17, 3
    A = rng.integers(-128, 128, size=(M, K))
    C = rng.integers(0, 2 ** fmt.bits, size=(K, N))
    r = shift_matmul(A, C, fmt)
    W = fmt.decode(C)
    exact = [[sum(Fraction(int(A[m, k])) * Fraction(W[k, n]) for k in range(K)) for n in range(N)] for m in range(M)]
    assert [[Fraction(v) for v in row] for row in r.values.tolist()] == exact
    assert r.cycles == K and dict(r.ops) == {"shifts": M * N * K, "add_subs": M * N * K}
    d = shift_dot(A[0], C[:, 0], fmt)
    assert Fraction(float(d.values)) == exact[0][0] and d.cycles == K


def test_errors():
    with pytest.raises(ValueError, match=r"^bits must be in 1..16, not 0$"):
        ShiftFormat(0)
    with pytest.raises(ValueError, match=r"^p_max must be in -1074..1023, not 2000$"):
        ShiftFormat(3, p_max=2000)
    with pytest.raises(ValueError,
                       match=r"^p_min = p_max - 2\*\*\(bits-1\) \+ 1 must be ≥ -1074 .*, not -1075; raise p_max$"):
        ShiftFormat(3, p_max=-1072)
    with pytest.raises(ValueError, match=r"^x\[1\] is NaN, which has no power-of-two weight$"):
        ShiftFormat(3).encode([1.0, math.nan])
    with pytest.raises(ValueError, match=r"^rounding must be one of 'log', 'linear', not 'rne'$"):
        ShiftFormat(3).encode([1.0], "rne")
    with pytest.raises(ValueError, match=r"^codes\[0\] = 8 is not a 3-bit code of shift3$"):
        ShiftFormat(3).decode([8])
    with pytest.raises(ValueError, match=r"^w_format must be a ShiftFormat, not 'shift3'$"):
        shift_matmul([[1]], [[0]], "shift3")
    with pytest.raises(ValueError, match=r"^A and W_codes must agree on K"):
        shift_matmul([[1, 2]], [[0]], ShiftFormat(3))
    with pytest.raises(ValueError, match=r"^the shifted sums need \d+ bits; they must fit int64"):
        shift_matmul([[1]], [[255]], ShiftFormat(8, p_max=100))
