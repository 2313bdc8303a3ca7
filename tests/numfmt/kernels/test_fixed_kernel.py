"""The compiled ap_fixed kernel against its pure-Python twin, and its input handling."""

from __future__ import annotations

import math
from fractions import Fraction

import ml_dtypes
import numpy as np
import pytest

from numfmt._kernels import _core
from numfmt._kernels import fixed as kernel
from numfmt._kernels._reference_fixed import ap_double_value, encode_fixed, round_fraction
from numfmt.modes import Overflow, Rounding

SEED = 1234
FIXED_OVERFLOWS = [o for o in Overflow if o is not Overflow.INFINITY]


def run_kernel(x, width, frac_bits, signed, rounding, overflow, sat_bits, rand=None, sr_bits=32):
    from numfmt import _inputs
    bits, in_e, in_m, _ = _inputs.float_bits(x)
    rand = np.zeros(1, np.int64) if rand is None else rand
    out = np.empty(bits.size, np.uint64)
    kernel.encode_fixed(bits, in_e, in_m, width, frac_bits, signed, rounding.code, overflow.code,
                        sat_bits, rand, sr_bits, out)
    return out


def random_inputs(rng, width, frac_bits, n):
    """Ties, neighbours and limits of the grid, random magnitudes, specials (float64)."""
    k = rng.integers(-(2**min(width + 1, 60)), 2**min(width + 1, 60), n) * 8 + rng.integers(-8, 9, n)
    edges = np.array([8 * (2**(width - 1)) + j for j in (-5, -4, -3, 0, 4)]
                     + [-8 * (2**(width - 1)) + j for j in (-4, 0, 3, 4)]
                     + [8 * (2**width) + j for j in (-4, 0, 4)], dtype=np.float64)
    with np.errstate(over="ignore", under="ignore"):
        grid = np.ldexp(np.concatenate([k.astype(np.float64), edges]), -frac_bits - 3)
    e = rng.integers(max(-1074, -frac_bits - 10), min(1023, width - frac_bits + 10), n)
    near = np.ldexp(rng.uniform(-2, 2, n), e)
    anywhere = rng.integers(0, 2**64, n // 4, dtype=np.uint64).view(np.float64)
    special = np.array([0x0, 1 << 63, 1, 0x800FFFFFFFFFFFFF, 0x7FF0000000000000, 0xFFF0000000000000,
                        0x7FF8000000000000, 0xFFF0000000000007, 0x7FEFFFFFFFFFFFFF], np.uint64).view(np.float64)
    return np.concatenate([grid, near, anywhere, special])


def twin_codes(x, width, frac_bits, signed, rounding, overflow, sat_bits, rand=None, sr_bits=32):
    bits = x.view(np.uint64)
    return [encode_fixed(ap_double_value(int(b)), width, frac_bits, signed, rounding, overflow, sat_bits,
                         0 if rand is None else int(rand[i]), sr_bits)
            for i, b in enumerate(bits)]


def random_formats(rng, count):
    widths = [1, 2, 3, 5, 8, 12, 16, 18, 31, 32, 33, 48, 52, 53, 54, 62, 63, 64]
    for _ in range(count):
        w = int(rng.choice(widths))
        f = int(rng.integers(-20, w + 70)) if rng.random() < 0.8 else int(rng.integers(w - 1023, w + 1075))
        signed = bool(rng.random() < 0.7)
        overflow = FIXED_OVERFLOWS[rng.integers(len(FIXED_OVERFLOWS))]
        if overflow is Overflow.WRAP_SIGN_MAGNITUDE and not signed:
            signed = True
        n = int(rng.choice([0, 0, 1, 2, w, int(rng.integers(0, w + 1))]))
        yield w, f, signed, Rounding(list(Rounding)[rng.integers(len(Rounding))]), overflow, min(n, w)


@pytest.mark.parametrize("chunk", range(4))
def test_kernel_matches_twin(chunk):
    rng = np.random.default_rng([SEED, chunk])
    for w, f, signed, rounding, overflow, n in random_formats(rng, 60):
        x = random_inputs(rng, w, f, 40)
        rand, sr_bits = None, 32
        if rounding is Rounding.STOCHASTIC:
            sr_bits = int(rng.choice([1, 3, 16, 32]))
            rand = rng.integers(0, 2**sr_bits, x.size, dtype=np.int64)
        got = run_kernel(x, w, f, signed, rounding, overflow, n, rand, sr_bits)
        want = np.array(twin_codes(x, w, f, signed, rounding, overflow, n, rand, sr_bits), np.uint64)
        bad = np.nonzero(got != want)[0]
        assert bad.size == 0, (
            f"W={w} F={f} signed={signed} {rounding} {overflow} N={n} sr_bits={sr_bits} (seed {SEED}, chunk {chunk}): "
            + ", ".join(f"x={x[i]!r} twin {int(want[i]):#x} kernel {int(got[i]):#x}" for i in bad[:6]))


def test_all_rounding_modes_on_ties():
    """Every mode on exact ties and quarter points, both signs (W=8, F=2)."""
    x = np.array([k / 8 for k in range(-40, 41)])
    for rounding in Rounding:
        if rounding is Rounding.STOCHASTIC:
            continue
        got = run_kernel(x, 8, 0, True, rounding, Overflow.WRAP, 0)
        want = [round_fraction(Fraction(v), rounding) & 0xFF for v in x]
        assert got.tolist() == want, rounding


def test_round_fraction_modes():
    h = Fraction(5, 2)
    table = {Rounding.NEAREST_EVEN: (2, -2), Rounding.NEAREST_AWAY: (3, -3), Rounding.NEAREST_UP: (3, -2),
             Rounding.NEAREST_DOWN: (2, -3), Rounding.NEAREST_ZERO: (2, -2), Rounding.FLOOR: (2, -3),
             Rounding.CEIL: (3, -2), Rounding.TOWARD_ZERO: (2, -2), Rounding.AWAY: (3, -3)}
    for mode, (pos, neg) in table.items():
        assert (round_fraction(h, mode), round_fraction(-h, mode)) == (pos, neg), mode


def test_mode_codes_match_the_enums():
    assert [kernel.SAT, kernel.INFINITY, kernel.SAT_ZERO, kernel.SAT_SYM, kernel.WRAP, kernel.WRAP_SM] == [
        Overflow.SATURATE.code, Overflow.INFINITY.code, Overflow.SATURATE_ZERO.code,
        Overflow.SATURATE_SYMMETRIC.code, Overflow.WRAP.code, Overflow.WRAP_SIGN_MAGNITUDE.code]
    assert _core.RNE == Rounding.NEAREST_EVEN.code and _core.STOCHASTIC == Rounding.STOCHASTIC.code


FORMATS_FOR_WIDTHS = [(8, 5, True, Rounding.NEAREST_EVEN, Overflow.SATURATE, 0),
                      (16, 30, False, Rounding.NEAREST_UP, Overflow.WRAP, 3),
                      (64, 1000, True, Rounding.FLOOR, Overflow.WRAP, 0),      # NaN payload bits reach the code
                      (40, -900, True, Rounding.TOWARD_ZERO, Overflow.WRAP_SIGN_MAGNITUDE, 0),
                      (12, 20, True, Rounding.NEAREST_AWAY, Overflow.SATURATE_SYMMETRIC, 0)]


@pytest.mark.parametrize("fmt", FORMATS_FOR_WIDTHS, ids=str)
def test_narrow_inputs_are_widened_to_float64(fmt):
    """float32 (NaN payloads too), float16 and bfloat16 inputs act as their float64 values."""
    rng = np.random.default_rng(SEED)
    x32 = rng.integers(0, 2**32, 4000, dtype=np.uint64).astype(np.uint32).view(np.float32)
    x32 = np.concatenate([x32, np.array([0x7F800001, 0xFFC00000, 0x00000001, 0x80000000], np.uint32).view(np.float32)])
    with np.errstate(invalid="ignore"):
        x64 = x32.astype(np.float64)
    assert np.array_equal(run_kernel(x32, *fmt), run_kernel(x64, *fmt))
    x16 = np.arange(2**16, dtype=np.uint32).astype(np.uint16).view(np.float16)
    x16 = x16[~np.isnan(x16)]   # numpy widens float16 NaNs without quieting them
    assert np.array_equal(run_kernel(x16, *fmt), run_kernel(x16.astype(np.float64), *fmt))
    xb = np.arange(2**16, dtype=np.uint32).astype(np.uint16).view(ml_dtypes.bfloat16)
    with np.errstate(invalid="ignore"):
        assert np.array_equal(run_kernel(xb, *fmt), run_kernel(xb.astype(np.float64), *fmt))


@pytest.mark.parametrize("layout", [(5, 10), (8, 7), (8, 23)], ids=["float16", "bfloat16", "float32"])
def test_widened_bits_reads_every_narrow_pattern_as_the_header(layout):
    """Every float16/bfloat16 pattern (random float32 ones): a number is its float64 value
    exactly; a NaN keeps its sign, sets float64's quiet bit and keeps its payload at the top."""
    in_e, in_m = layout
    rng = np.random.default_rng(SEED)
    if in_m == 23:
        bits = rng.integers(0, 2**32, 200_000, dtype=np.uint64).astype(np.uint32)
        bits[:4] = [0x7F800001, 0xFFBFFFFF, 0x7FC00000, 0x00000001]
        narrow = bits.view(np.float32)
    else:
        bits = np.arange(2**16, dtype=np.uint32).astype(np.uint16)
        narrow = bits.view(np.float16 if in_m == 10 else ml_dtypes.bfloat16)
    wide = kernel.widened_bits(bits, in_e, in_m)
    nan = np.isnan(narrow.astype(np.float32))
    with np.errstate(invalid="ignore"):
        assert np.array_equal(wide[~nan].view(np.float64), narrow[~nan].astype(np.float64))
    b = bits[nan].astype(np.uint64)
    sign = (b >> np.uint64(in_e + in_m)) << np.uint64(63)
    payload = (b & np.uint64((1 << in_m) - 1)) << np.uint64(52 - in_m)
    assert nan.sum() > 0 and np.array_equal(wide[nan], sign | np.uint64(0x7FF8 << 48) | payload)
    with pytest.raises(ValueError, match=r"\(in_e, in_m\) must be a float16, bfloat16 or float32 layout .*, "
                                         r"not \(4, 3\)"):
        kernel.widened_bits(bits, 4, 3)


def test_huge_exponents_wrap_exactly():
    """Low W bits of values far beyond int64 (x * 2**F up to 2**2000)."""
    rng = np.random.default_rng(SEED)
    for w in (1, 7, 32, 63, 64):
        for f in (0, 40, 500, 1000):
            m = rng.integers(1, 2**53, 50).astype(np.float64) * rng.choice([-1, 1], 50)
            x = np.ldexp(m, rng.integers(max(-1022, -f - 60), 970, 50))
            got = run_kernel(x, w, f, True, Rounding.FLOOR, Overflow.WRAP, 0)
            want = [math.floor(Fraction(v) * 2**f) % (1 << w) for v in x]
            assert got.tolist() == want, (w, f)
