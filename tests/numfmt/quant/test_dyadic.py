"""Dyadic requantization against a Python-int reference written from the definition."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from rounding_reference import ref_round  # noqa: E402

import numfmt as nf  # noqa: E402
from numfmt.modes import Rounding
from numfmt.quant.dyadic import MAX_SHIFT, Requantizer, dyadic_approx

DETERMINISTIC = [r for r in Rounding if r is not Rounding.STOCHASTIC]
SEED = 20240531


# -- reference (Python ints and Fractions only) -----------------------------------
def ref_requantize(acc: int, b: int, c: int, mode: Rounding, zp: int, fmt) -> int:
    """y = out(round(acc * b * 2**-c) + zp): saturate, or wrap to the format's bits."""
    y = ref_round(Fraction(acc * b) / Fraction(2) ** c, mode) + zp
    if fmt.overflow is nf.Overflow.SATURATE:
        return min(max(y, fmt.min), fmt.max)
    y %= 1 << fmt.bits
    return y - (1 << fmt.bits) if fmt.signed and y >= 1 << (fmt.bits - 1) else y


def halfway_accs(b: int, c: int, lo=-(1 << 31), hi=(1 << 31) - 1):
    """Accumulators with acc * b exactly half-way between multiples of 2**c (if any fit)."""
    if c < 1:
        return []
    t = (b & -b).bit_length() - 1          # b = odd * 2**t
    if t > c - 1:
        return []
    mod = 1 << (c - t)
    a0 = ((1 << (c - 1 - t)) * pow(b >> t, -1, mod)) % mod
    out = [a for a in (a0, a0 + mod, a0 - mod, a0 - 2 * mod, -a0) if lo <= a <= hi]
    return [a for a in out if (a * b) % (1 << c) == 1 << (c - 1)]


def random_scales(rng, n, lo=1e-6, hi=1e3):
    return np.exp(rng.uniform(np.log(lo), np.log(hi), n))


# -- requantize == reference ---------------------------------------------------------
@pytest.mark.parametrize("mult_bits", [8, 16, 31, 32])
@pytest.mark.parametrize("mode", DETERMINISTIC, ids=str)
def test_requantize_matches_python_int_reference(mult_bits, mode):
    rng = np.random.default_rng([SEED, mult_bits, mode.code])
    scales = random_scales(rng, 12)
    fmt32 = nf.IntFormat(32)
    fmt8 = nf.IntFormat(8, signed=False)
    extremes = [-(1 << 31), (1 << 31) - 1, -(1 << 31) + 1, 0, 1, -1, 2, -2]
    n_ties = 0
    for s in scales:
        b, c = (int(v) for v in dyadic_approx(s, mult_bits))
        ties = halfway_accs(b, c)
        n_ties += len(ties)
        accs = extremes + ties + rng.integers(-(1 << 31), 1 << 31, 40).tolist() \
            + rng.integers(-1000, 1000, 20).tolist()
        acc = np.array(accs, dtype=np.int64)
        for fmt, zp in ((fmt32, 0), (fmt32, -7), (fmt8, 128), (nf.IntFormat(8, overflow="wrap"), 5)):
            r = Requantizer(b, c, fmt, rounding=mode, zero_point=zp)
            got = r.requantize(acc).tolist()
            want = [ref_requantize(a, b, c, mode, zp, fmt) for a in accs]
            assert got == want, (s, b, c, mode, fmt, zp)
    assert n_ties > 0


@pytest.mark.parametrize("mode", DETERMINISTIC, ids=str)
def test_small_multipliers_exhaustive_with_ties(mode):
    """Every acc in -200..200 for b in 1..16, c in -3..6: many exact ties for each mode."""
    acc = np.arange(-200, 201, dtype=np.int64)
    fmt = nf.IntFormat(16)
    for b in range(1, 17):
        for c in range(-3, 7):
            got = Requantizer(b, c, fmt, rounding=mode).requantize(acc).tolist()
            assert got == [ref_requantize(a, b, c, mode, 0, fmt) for a in acc.tolist()], (b, c)


def test_round_half_up_is_add_then_arithmetic_shift():
    rng = np.random.default_rng(SEED)
    acc = rng.integers(-(1 << 31), 1 << 31, 5000)
    b, c = (int(v) for v in dyadic_approx(0.00123, 31))
    got = Requantizer(b, c, nf.IntFormat(32)).requantize(acc)
    want = [(int(a) * b + (1 << (c - 1))) >> c for a in acc]   # hardware: add 2**(c-1), then >>
    assert got.tolist() == [min(max(w, -(1 << 31)), (1 << 31) - 1) for w in want]
    floor = Requantizer(b, c, nf.IntFormat(32), rounding="floor").requantize(acc)
    assert floor.tolist() == [max(int(a) * b >> c, -(1 << 31)) for a in acc]


def test_per_channel_broadcast_along_axis():
    rng = np.random.default_rng(SEED + 1)
    scales = random_scales(rng, 5, 1e-4, 1.0)
    b, c = dyadic_approx(scales, 16)
    acc = rng.integers(-(1 << 20), 1 << 20, (3, 5, 4))
    fmt = nf.IntFormat(8)
    r = Requantizer.from_scale(scales, fmt, mult_bits=16, axis=1, zero_point=-3)
    got = r.requantize(acc)
    for i, j, k in np.ndindex(acc.shape):
        assert got[i, j, k] == ref_requantize(int(acc[i, j, k]), int(b[j]), int(c[j]),
                                              Rounding.NEAREST_UP, -3, fmt)
    last = Requantizer(b[:4], c[:4], fmt)          # axis=-1 (default)
    assert last.requantize(acc[:, 0, :]).tolist() == [
        [ref_requantize(int(acc[i, 0, k]), int(b[k]), int(c[k]), Rounding.NEAREST_UP, 0, fmt)
         for k in range(4)] for i in range(3)]


# -- dyadic_approx: optimal, normalised, error bound ------------------------------------
def _err(b, c, s):
    return abs(Fraction(b) / Fraction(2) ** c - Fraction(s))


@pytest.mark.parametrize("mult_bits", [1, 2, 3, 4, 5, 6])
def test_dyadic_approx_is_optimal_brute_force(mult_bits):
    rng = np.random.default_rng([SEED, mult_bits])
    scales = list(random_scales(rng, 60, 1e-6, 1e3))
    scales += [2.0 ** k for k in range(-10, 10)] + [(2 * k + 1) / 64 for k in range(40)]
    for s in scales:
        b, c = (int(v) for v in dyadic_approx(s, mult_bits))
        assert 1 << (mult_bits - 1) <= b < 1 << mult_bits
        best = _err(b, c, s)
        for cc in range(max(c - 12, -63), min(c + 12, MAX_SHIFT) + 1):
            for bb in range(1 << mult_bits):
                assert _err(bb, cc, s) >= best, (s, b, c, bb, cc)


def test_dyadic_approx_ties_and_carry():
    assert [int(v) for v in dyadic_approx(8.5 / 16, 4)] == [8, 4]      # tie 8.5 -> even 8
    assert [int(v) for v in dyadic_approx(9.5 / 16, 4)] == [10, 4]     # tie 9.5 -> even 10
    assert [int(v) for v in dyadic_approx(15.75 / 16, 4)] == [8, 3]    # 15.75 -> 16 = 8 * 2
    assert [int(v) for v in dyadic_approx(1.0, 1)] == [1, 0]
    assert [int(v) for v in dyadic_approx(1000.0, 8)] == [250, -2]
    b, c = dyadic_approx(1e-19, 32)                                    # below 2**(32-64): capped
    assert (int(b), int(c)) == (round(Fraction(1e-19) * 2 ** 63), 63)


@pytest.mark.parametrize("mult_bits", [1, 2, 4, 8, 12, 16, 24, 31, 32])
def test_dyadic_relative_error_bound(mult_bits):
    rng = np.random.default_rng([SEED, 99, mult_bits])
    scales = random_scales(rng, 400, 1e-12, 1e12)
    r = Requantizer.from_scale(scales, nf.IntFormat(32), mult_bits=mult_bits)
    err = r.error(scales)
    normal = scales >= 2.0 ** (mult_bits - 64)      # below: shift capped at 63, b denormalised
    print(f"mult_bits={mult_bits}: max relative error {err[normal].max():.3e} "
          f"(bound 2**-{mult_bits} = {2.0 ** -mult_bits:.3e})")
    assert err[normal].max() <= 2.0 ** -mult_bits
    assert (r.multiplier[normal] >= 1 << (mult_bits - 1)).all()
    assert (r.shift[~normal] == 63).all()
    assert (r.multiplier[~normal] < 1 << (mult_bits - 1)).all()
    exact = [float(_err(int(b), int(c), s) / Fraction(s))
             for b, c, s in zip(r.multiplier, r.shift, scales)]
    assert err.tolist() == exact


# -- errors ------------------------------------------------------------------------------
@pytest.mark.parametrize("mult_bits, msg", [
    (0, "mult_bits must be an integer in 1..32, not 0"),
    (33, "mult_bits must be an integer in 1..32, not 33"),
    (True, "mult_bits must be an integer in 1..32, not True"),
    (8.0, "mult_bits must be an integer in 1..32, not 8.0"),
])
def test_bad_mult_bits(mult_bits, msg):
    with pytest.raises(ValueError, match=f"^{msg}$"):
        dyadic_approx(0.5, mult_bits)


@pytest.mark.parametrize("scale, msg", [
    (0.0, r"real_scale must be positive and finite, not 0\.0"),
    (-0.5, r"real_scale must be positive and finite, not -0\.5"),
    (float("nan"), "real_scale must be positive and finite, not nan"),
    ([0.5, 0.25, float("inf")], r"real_scale must be positive and finite, not inf at index \(2,\)"),
    (1e-30, r"real_scale must be ≥ 2\*\*-64 .* not 1e-30"),
    (2.0 ** -70, r"real_scale must be ≥ 2\*\*-64"),
    ([1.0, 1e30], r"real_scale is too large for mult_bits=8: 1e\+30 at index \(1,\)"),
])
def test_bad_scales(scale, msg):
    with pytest.raises(ValueError, match=msg):
        dyadic_approx(scale, 8)


def test_requantizer_errors():
    i8 = nf.IntFormat(8)
    with pytest.raises(ValueError, match="^multiplier must be an integer in 1..2\\*\\*63-1, not 0$"):
        Requantizer(0, 3, i8)
    with pytest.raises(ValueError, match="^shift must be an integer in -63..63, not 64$"):
        Requantizer(1, 64, i8)
    with pytest.raises(ValueError, match="multiplier << -shift must fit in int64, not 3 << 62"):
        Requantizer(3, -62, i8)
    with pytest.raises(ValueError, match="zero_point must be an integer in -128..127 \\(int8\\), not 128"):
        Requantizer(1, 1, i8, zero_point=128)
    with pytest.raises(ValueError, match="out_format's overflow must be 'sat' or 'wrap', not 'sat_sym'"):
        Requantizer(1, 1, nf.IntFormat(8, overflow="sat_sym"))
    with pytest.raises(ValueError, match="rounding must be a deterministic mode"):
        Requantizer(1, 1, i8, rounding="stochastic")
    with pytest.raises(ValueError, match="multiplier and shift must broadcast together"):
        Requantizer([1, 2], [1, 2, 3], i8)
    with pytest.raises(TypeError, match="multiplier must be an integer or integer array, not dtype float64"):
        Requantizer(1.5, 1, i8)
    r = Requantizer(1 << 40, 3, i8)
    assert int(r.max_abs_acc) == ((1 << 63) - 1) >> 40
    with pytest.raises(ValueError, match=r"^\|acc\| must be ≤ 8388607 so that acc \* multiplier fits "
                                         r"in int64, not -8388608 at index \(1,\)$"):
        r.requantize([5, -(1 << 23)])
    with pytest.raises(TypeError, match="acc must be an integer array, not dtype float64"):
        r.requantize([1.0])
    per_channel = Requantizer([1, 2, 3], [1, 1, 1], i8)
    with pytest.raises(ValueError, match=r"acc.shape\[-1\] must be 3 \(the number of channels\), not 4"):
        per_channel.requantize(np.zeros((2, 4), dtype=np.int32))
    with pytest.raises(ValueError, match="acc must have an axis for per-channel parameters"):
        per_channel.requantize(5)


def test_int32_accumulators_always_fit_for_32_bit_multipliers():
    r = Requantizer((1 << 32) - 1, 0, nf.IntFormat(32, signed=True))
    assert int(r.max_abs_acc) >= 1 << 31
    assert r.requantize([-(1 << 31), (1 << 31) - 1]).tolist() == [-(1 << 31), (1 << 31) - 1]


def test_requantizer_is_a_frozen_value():
    a = Requantizer.from_scale([0.1, 0.2], nf.IntFormat(8), mult_bits=16)
    b = Requantizer.from_scale([0.1, 0.2], nf.IntFormat(8), mult_bits=16)
    assert a == b and a != Requantizer.from_scale([0.1, 0.2], nf.IntFormat(8), mult_bits=15)
    with pytest.raises(ValueError):
        a.multiplier[0] = 3
    np.testing.assert_array_equal(a.scale, [int(m) / 2.0 ** int(s) for m, s in zip(a.multiplier, a.shift)])
