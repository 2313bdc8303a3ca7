"""The integer building blocks of every kernel against pure-Python twins.

``round_shift`` is checked against a Fraction twin for every mode (directed,
nearest with five tie rules, stochastic) on random magnitudes, exact halves,
shifts beyond 63 and zero; ``unpack_float`` against ``math.frexp`` and
Fractions for float16/32/64 bit patterns; ``bit_length`` against
``int.bit_length``. The njit functions are called directly from Python.
"""

from __future__ import annotations

import math
import struct
from fractions import Fraction

import numpy as np
import pytest

from numfmt._kernels import _core
from numfmt.modes import Rounding


# -- twins ---------------------------------------------------------------------------
def round_shift_twin(mag: int, s: int, neg: bool, rounding: Rounding, rnd: int = 0, sr_bits: int = 32) -> int:
    """``mag / 2**s`` rounded to an integer (Fraction arithmetic; signs only steer directed modes)."""
    v = Fraction(mag, 1 << s)
    q = math.floor(v)
    rem = v - q
    if rem == 0:
        return q
    half = Fraction(1, 2)
    if rounding is Rounding.NEAREST_EVEN:
        up = rem > half or (rem == half and q % 2 == 1)
    elif rounding is Rounding.NEAREST_AWAY:
        up = rem >= half
    elif rounding is Rounding.NEAREST_UP:       # ties toward +inf: magnitude up iff positive
        up = rem > half or (rem == half and not neg)
    elif rounding is Rounding.NEAREST_DOWN:     # ties toward -inf: magnitude up iff negative
        up = rem > half or (rem == half and neg)
    elif rounding is Rounding.NEAREST_ZERO:
        up = rem > half
    elif rounding is Rounding.FLOOR:
        up = neg
    elif rounding is Rounding.CEIL:
        up = not neg
    elif rounding is Rounding.TOWARD_ZERO:
        up = False
    elif rounding is Rounding.AWAY:
        up = True
    else:  # stochastic: up iff rnd < the discarded fraction read to sr_bits bits (truncated)
        up = rnd < math.floor(rem * (1 << sr_bits))
    return q + 1 if up else q


def unpack_twin(x: float):
    """``(neg, cls, |x| as a Fraction or None)`` from the value itself."""
    neg = math.copysign(1.0, x) < 0
    if math.isnan(x):
        return neg, _core.NAN, None
    if math.isinf(x):
        return neg, _core.INF, None
    return neg, _core.FINITE, abs(Fraction(x))


LAYOUTS = {  # dtype -> (uint view, in_e, in_m)
    np.float16: (np.uint16, 5, 10),
    np.float32: (np.uint32, 8, 23),
    np.float64: (np.uint64, 11, 52),
}


# -- mode codes ---------------------------------------------------------------------------
def test_mode_codes_match_the_enum():
    expected = {
        "RNE": Rounding.NEAREST_EVEN, "RNA": Rounding.NEAREST_AWAY, "RNP": Rounding.NEAREST_UP,
        "RNM": Rounding.NEAREST_DOWN, "RNZ": Rounding.NEAREST_ZERO, "FLOOR": Rounding.FLOOR,
        "CEIL": Rounding.CEIL, "RTZ": Rounding.TOWARD_ZERO, "RTA": Rounding.AWAY,
        "STOCHASTIC": Rounding.STOCHASTIC,
    }
    for name, member in expected.items():
        assert getattr(_core, name) == member.code, name
    assert sorted(m.code for m in Rounding) == list(range(len(Rounding)))


# -- bit_length -----------------------------------------------------------------------------
def test_bit_length_matches_int_bit_length():
    rng = np.random.default_rng(1)
    vals = [0, 1, 2, 3, (1 << 63) - 1]
    for k in range(63):
        vals += [1 << k, (1 << k) - 1, (1 << k) + 1]
    widths = rng.integers(0, 64, 3000)
    vals += [int(rng.integers(0, 1 << 62)) >> (62 - int(w)) if w <= 62 else int(rng.integers(0, 1 << 62)) | (1 << 62)
             for w in widths]
    for v in vals:
        v = min(v, (1 << 63) - 1)
        assert _core.bit_length(np.int64(v)) == v.bit_length(), v


# -- round_shift ------------------------------------------------------------------------------
def _round_shift_cases(seed=0, n=4000):
    """(mag, s, neg) triples: random widths and shifts, exact halves, ±1 around halves, zero, s ≥ 63."""
    rng = np.random.default_rng(seed)
    cases = []
    for _ in range(n):
        width = int(rng.integers(0, 63))  # mag < 2**62
        mag = int(rng.integers(0, 1 << 62)) >> (62 - width) if width else 0
        s = int(rng.integers(1, 80))
        cases.append((mag, s, bool(rng.integers(0, 2))))
    for s in list(range(1, 62)) + [62]:
        for q in (0, 1, 2, 3, 6, 7):
            for delta in (-1, 0, 1):
                mag = (q << s) + (1 << (s - 1)) + delta
                if 0 <= mag < (1 << 62):
                    cases += [(mag, s, False), (mag, s, True)]
        cases += [(0, s, False), (0, s, True), ((1 << 62) - 1, s, False), ((1 << 62) - 1, s, True)]
    for s in (63, 64, 65, 100, 200, 1000):
        for mag in (0, 1, (1 << 61), (1 << 62) - 1, 12345):
            cases += [(mag, s, False), (mag, s, True)]
    return cases


@pytest.mark.parametrize("rounding", [r for r in Rounding if r is not Rounding.STOCHASTIC], ids=str)
def test_round_shift_matches_fraction_twin(rounding):
    bad = []
    for mag, s, neg in _round_shift_cases():
        got = _core.round_shift(np.int64(mag), np.int64(s), neg, rounding.code, np.int64(0), np.int64(32))
        exp = round_shift_twin(mag, s, neg, rounding)
        if got != exp:
            bad.append((mag, s, neg, int(got), exp))
    assert not bad, f"{rounding}: {len(bad)} mismatches, first (mag, s, neg, got, expected): {bad[:5]}"


@pytest.mark.parametrize("rounding", [r for r in Rounding if r is not Rounding.STOCHASTIC], ids=str)
def test_round_up_by_table_matches_the_fraction_twin(rounding):
    """The run-time-mode rounding of the fixed-point fast loop, every magnitude below 2**9 at
    every shift 1-8, plus 62-bit magnitudes at shifts up to 63."""
    table = np.int64(_core.round_up_table(rounding.code))
    rng = np.random.default_rng(3)
    cases = [(m, s) for s in range(1, 9) for m in range(1 << 9)]
    cases += [(int(m), int(s)) for m, s in zip(rng.integers(0, 1 << 62, 2000), rng.integers(1, 64, 2000))]
    for neg in (False, True):
        for m, s in cases:
            got = (m >> s) + int(_core.round_up_by_table(np.int64(m), np.int64(s), neg, table))
            assert got == round_shift_twin(m, s, neg, rounding), (m, s, neg)


def test_round_up_table_refuses_stochastic():
    with pytest.raises(ValueError, match="mode must be a deterministic rounding code.*9"):
        _core.round_up_table(Rounding.STOCHASTIC.code)


@pytest.mark.parametrize("sr_bits", [1, 2, 5, 16, 31, 32])
def test_round_shift_stochastic_matches_fraction_twin(sr_bits):
    rng = np.random.default_rng(sr_bits)
    bad = []
    for mag, s, neg in _round_shift_cases(seed=sr_bits, n=1500):
        for rnd in (0, (1 << sr_bits) - 1, int(rng.integers(0, 1 << sr_bits))):
            got = _core.round_shift(np.int64(mag), np.int64(s), neg, Rounding.STOCHASTIC.code,
                                    np.int64(rnd), np.int64(sr_bits))
            exp = round_shift_twin(mag, s, neg, Rounding.STOCHASTIC, rnd, sr_bits)
            if got != exp:
                bad.append((mag, s, neg, rnd, int(got), exp))
    assert not bad, f"sr_bits={sr_bits}: {len(bad)} mismatches, first (mag, s, neg, rnd, got, exp): {bad[:5]}"


def test_round_shift_stochastic_probability_is_the_truncated_fraction():
    """For each rnd in [0, 2**sr_bits), up iff rnd < floor(frac * 2**sr_bits): exactly that many ups."""
    for sr_bits in (1, 2, 3, 4):
        for s in (1, 2, 3, 5, 8):
            for rem in range(1, 1 << s):
                mag = (5 << s) | rem
                ups = sum(int(_core.round_shift(np.int64(mag), np.int64(s), False, Rounding.STOCHASTIC.code,
                                                np.int64(r), np.int64(sr_bits))) - 5
                          for r in range(1 << sr_bits))
                assert ups == math.floor(Fraction(rem, 1 << s) * (1 << sr_bits)), (sr_bits, s, rem)


# -- unpack_float -------------------------------------------------------------------------------
def _check_unpack(values, dtype):
    view, in_e, in_m = LAYOUTS[dtype]
    arr = np.asarray(values, dtype=dtype)
    bits = arr.view(view)
    bias = (1 << (in_e - 1)) - 1
    bad = []
    for x, b in zip(arr.tolist(), bits.tolist()):
        neg, cls, mag, e = _core.unpack_float(view(b), in_e, in_m)
        t_neg, t_cls, t_abs = unpack_twin(x)
        ok = bool(neg) == t_neg and cls == t_cls
        if ok and cls == _core.FINITE:
            ok = Fraction(int(mag)) * Fraction(2) ** int(e) == t_abs
            if ok and t_abs != 0:
                m, fe = math.frexp(float(t_abs))
                if int(mag) >> in_m:  # normal: the hidden bit is set and the exponent is frexp's
                    ok = int(mag).bit_length() == in_m + 1 and int(e) == fe - in_m - 1
                else:               # subnormal: the fixed quantum of the format
                    ok = int(e) == 1 - bias - in_m
        elif ok and cls == _core.NAN:
            ok = int(mag) == (b & ((1 << in_m) - 1)) and int(e) == 0 and mag != 0
        elif ok:
            ok = int(mag) == 0 and int(e) == 0
        if not ok:
            bad.append((hex(b), x, (bool(neg), int(cls), int(mag), int(e))))
    assert not bad, f"{np.dtype(dtype).name}: {len(bad)} mismatches, first: {bad[:5]}"


def test_unpack_float16_every_bit_pattern():
    _check_unpack(np.arange(1 << 16, dtype=np.uint16).view(np.float16), np.float16)


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
def test_unpack_float_random_and_corner_patterns(dtype):
    view, in_e, in_m = LAYOUTS[dtype]
    width = 1 + in_e + in_m
    rng = np.random.default_rng(width)
    rand = rng.integers(0, 1 << 63, 6000, dtype=np.int64).astype(np.uint64)
    if width == 32:
        rand = (rand >> np.uint64(31)).astype(np.uint32)
    else:
        rand = rand | (rng.integers(0, 2, rand.size).astype(np.uint64) << np.uint64(63))
    exp_ones = ((1 << in_e) - 1) << in_m
    corners = []
    for sign in (0, 1 << (width - 1)):
        corners += [sign, sign | 1, sign | ((1 << in_m) - 1), sign | (1 << in_m), sign | exp_ones,
                    sign | exp_ones | 1, sign | exp_ones | (1 << (in_m - 1)), sign | (exp_ones - 1),
                    sign | (exp_ones - (1 << in_m)), sign | (((1 << in_e) - 2) << in_m) | ((1 << in_m) - 1)]
    bits = np.concatenate([rand.astype(view), np.array(corners, dtype=view)])
    _check_unpack(bits.view(dtype), dtype)
