"""IntFormat: exhaustive against a spec-level reference, against ap_fixed<W,W>, names, errors."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from numfmt.formats.fixed import FixedFormat
from numfmt.formats.integer import IntFormat
from numfmt.modes import Overflow, Rounding

DETERMINISTIC = [r for r in Rounding if r is not Rounding.STOCHASTIC]
INT_OVERFLOWS = [o for o in Overflow if o is not Overflow.INFINITY]


def spec_codes(n8, bits, signed, rounding, overflow):
    """Codes of x = n8 / 8 (int64 array), written from the definitions.

    Round x to an integer q; in range, the code is q's two's-complement bits.
    Out of range: sat clamps; sat_zero gives 0; sat_sym clamps to ±max (and the
    minimum, too, saturates to -max; W=1 has no -max and keeps the minimum);
    wrap keeps the low bits; wrap_sm inverts the low bits when their top bit
    differs from bit W of floor(x), then puts that bit on top.
    """
    t, rem = n8 >> 3, n8 & 7            # x = t + rem/8 with 0 <= rem < 8
    frac, tie, above = rem > 0, rem == 4, rem > 4
    pos, neg = n8 > 0, n8 < 0
    up = {
        Rounding.NEAREST_EVEN: above | (tie & (t % 2 == 1)),
        Rounding.NEAREST_AWAY: above | (tie & pos),
        Rounding.NEAREST_UP: above | tie,
        Rounding.NEAREST_DOWN: above,
        Rounding.NEAREST_ZERO: above | (tie & neg),
        Rounding.FLOOR: np.zeros_like(frac),
        Rounding.CEIL: frac,
        Rounding.TOWARD_ZERO: frac & neg,
        Rounding.AWAY: frac & pos,
    }[rounding]
    q = t + up
    mask = (1 << bits) - 1
    lo, hi = (-(1 << (bits - 1)), (1 << (bits - 1)) - 1) if signed else (0, mask)
    out = (q < lo) | (q > hi)
    if overflow is Overflow.SATURATE:
        q = np.clip(q, lo, hi)
    elif overflow is Overflow.SATURATE_ZERO:
        q = np.where(out, 0, q)
    elif overflow is Overflow.SATURATE_SYMMETRIC:
        q = np.clip(q, -hi if signed and bits > 1 else lo, hi)
    elif overflow is Overflow.WRAP_SIGN_MAGNITUDE:
        v = q & mask
        ro, ld = v >> (bits - 1), (t >> bits) & 1
        flipped = ((~v) & (mask >> 1)) | (ld << (bits - 1))
        q = np.where(out & (ro != ld), flipped, v)
    return (q & mask).astype(np.uint64)


def _formats(bits_range):
    for bits in bits_range:
        for signed in (True, False):
            for o in INT_OVERFLOWS:
                if o is Overflow.WRAP_SIGN_MAGNITUDE and not signed:
                    continue
                yield IntFormat(bits, signed=signed, overflow=o)


@pytest.mark.parametrize("rounding", DETERMINISTIC, ids=str)
def test_exhaustive_small_widths(rounding):
    """Every eighth from 2**bits below the minimum to 2**bits above the maximum, 1..8 bits."""
    for fmt in _formats(range(1, 9)):
        fmt = IntFormat(fmt.bits, signed=fmt.signed, overflow=fmt.overflow, rounding=rounding)
        n8 = np.arange(8 * (fmt.min - 2**fmt.bits - 2), 8 * (fmt.max + 2**fmt.bits + 2) + 1, dtype=np.int64)
        x = n8 / 8
        want = spec_codes(n8, fmt.bits, fmt.signed, rounding, fmt.overflow)
        got = fmt.encode(x).astype(np.uint64)
        bad = np.nonzero(got != want)[0]
        assert bad.size == 0, f"{fmt}: " + ", ".join(
            f"x={x[i]} want {int(want[i])} got {int(got[i])}" for i in bad[:8])
        # the override gives the same as the format's own mode
        base = IntFormat(fmt.bits, signed=fmt.signed, overflow=fmt.overflow)
        assert np.array_equal(base.encode(x, rounding), got)


@pytest.mark.parametrize("bits", range(1, 9))
def test_every_code_decodes_and_encodes_back(bits):
    for fmt in _formats([bits]):
        codes = fmt.codes()
        values = fmt.decode(codes)
        ints = np.arange(1 << bits)
        if fmt.signed:
            ints = np.where(ints >= 1 << (bits - 1), ints - (1 << bits), ints)
        assert values.tolist() == ints.tolist() == fmt.decode_int(codes).tolist()
        assert (values.max(), values.min()) == (fmt.max, fmt.min)
        expected = codes.copy()
        if fmt.overflow is Overflow.SATURATE_SYMMETRIC and fmt.signed and bits > 1:
            expected[1 << (bits - 1)] += 1        # the minimum saturates to -max
        for rounding in DETERMINISTIC:
            assert np.array_equal(fmt.encode(values, rounding), expected), (fmt, rounding)


# -- against the ap_fixed headers, as ap_fixed<W,W> / ap_ufixed<W,W> --------------

def _load_harness():
    path = Path(__file__).with_name("ap_ref") / "harness.py"
    spec = importlib.util.spec_from_file_location("numfmt_tests_ap_ref_harness_int", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_matches_ap_fixed_headers_as_integers():
    harness = _load_harness()
    reason = harness.why_unavailable()
    if reason:
        pytest.skip(reason)
    formats = harness.default_formats()             # the same (cached) build as test_fixed.py
    ref = harness.ApRef(formats)
    rng = np.random.default_rng(99)
    jobs = [(k, harness.probe_inputs(f, rng)) for k, f in enumerate(formats)
            if f.int_bits == f.width and f.width <= 32 and f.sat_bits == 0]
    assert len(jobs) >= 80
    for (k, x), expected in zip(jobs, ref.run(jobs)):
        f = formats[k]
        ints = IntFormat(f.width, signed=f.signed, rounding=f.rounding, overflow=f.overflow)
        got = ints.encode(x).astype(np.uint64)
        bad = np.nonzero(got != expected)[0]
        assert bad.size == 0, f"{ints} vs {f}: " + ", ".join(
            f"x={x[i]!r} header {int(expected[i]):#x} got {int(got[i]):#x}" for i in bad[:8])


def test_same_codes_as_the_fixed_format():
    x = np.random.default_rng(5).normal(0, 40, 2000)
    for fmt in _formats([1, 5, 16, 32]):
        fixed = FixedFormat(fmt.bits, fmt.bits, signed=fmt.signed, rounding="rnd_conv", overflow=fmt.overflow)
        assert np.array_equal(fmt.encode(x).astype(np.uint64), fixed.encode(x).astype(np.uint64))


# -- behaviour ---------------------------------------------------------------------

def test_defaults_and_properties():
    i8 = IntFormat(8)
    assert (i8.bits, i8.signed, i8.rounding, i8.overflow) == (8, True, Rounding.NEAREST_EVEN, Overflow.SATURATE)
    assert (i8.max, i8.min, i8.code_dtype) == (127, -128, np.uint8)
    assert (IntFormat(32).max, IntFormat(32).min, IntFormat(32).code_dtype) == (2**31 - 1, -(2**31), np.uint32)
    assert (IntFormat(32, signed=False).max, IntFormat(1, signed=False).max, IntFormat(1).min) == (2**32 - 1, 1, -1)
    assert i8.default_rounding is Rounding.NEAREST_EVEN
    assert IntFormat(8).encode([0.5, 1.5, -0.5, 127.5, -1e9, np.nan]).tolist() == [0, 2, 0, 127, 128, 127]
    assert IntFormat(16, signed=False).decode(np.array([[65535]])).tolist() == [[65535.0]]


def test_stochastic_rounding_is_seeded():
    f = IntFormat(8)
    x = np.linspace(-3, 3, 1001)
    a = f.encode(x, "stochastic", rng=11)
    assert np.array_equal(a, f.encode(x, "stochastic", rng=np.random.default_rng(11)))
    v = f.decode(a)
    assert np.all((v == np.floor(x)) | (v == np.ceil(x)))
    assert abs((v - x).mean()) < 0.05
    assert np.array_equal(f.encode(x, "stochastic", rng=11, sr_bits=4), f.encode(x, "stochastic", rng=11, sr_bits=4))


def test_frozen_and_hashable():
    a, b = IntFormat(8, rounding="floor"), IntFormat(8, rounding=Rounding.FLOOR)
    assert a == b and hash(a) == hash(b) and a != IntFormat(8)
    with pytest.raises(AttributeError):
        a.bits = 4


@pytest.mark.parametrize("fmt, name", [
    (IntFormat(8), "int8"),
    (IntFormat(4, signed=False), "uint4"),
    (IntFormat(8, rounding="floor", overflow="wrap"), "int8(rounding=floor,overflow=wrap)"),
    (IntFormat(3, signed=False, overflow="sat_sym"), "uint3(overflow=sat_sym)"),
    (IntFormat(32, rounding="ceil"), "int32(rounding=ceil)"),
])
def test_str(fmt, name):
    assert str(fmt) == name
    assert IntFormat.from_string(name) == fmt


@pytest.mark.parametrize("text, fmt", [
    (" int8 ", IntFormat(8)),
    ("int8()", IntFormat(8)),
    ("int8( overflow = wrap , rounding = AP_TRN )", IntFormat(8, rounding="floor", overflow="wrap")),
    ("uint16(rounding=rne,overflow=sat)", IntFormat(16, signed=False)),
])
def test_from_string(text, fmt):
    assert IntFormat.from_string(text) == fmt


@pytest.mark.parametrize("kwargs, message", [
    (dict(bits=0), "bits must be an integer in 1..32, not 0"),
    (dict(bits=33), "bits must be an integer in 1..32, not 33"),
    (dict(bits=8.0), "bits must be an integer in 1..32, not 8.0"),
    (dict(bits="8"), "bits must be an integer in 1..32, not '8'"),
    (dict(bits=8, signed=1), "signed must be True or False, not 1"),
    (dict(bits=8, rounding="stochastic"), "rounding must be a deterministic mode, not 'stochastic'"),
    (dict(bits=8, rounding="nearest-ish"), "rounding must be one of .*, not 'nearest-ish'"),
    (dict(bits=8, overflow="inf"), "overflow must be one of .* not 'inf'"),
    (dict(bits=8, signed=False, overflow="wrap_sm"), "overflow='wrap_sm' needs signed=True"),
])
def test_constructor_errors(kwargs, message):
    with pytest.raises(ValueError, match=message):
        IntFormat(**kwargs)


@pytest.mark.parametrize("text, message", [
    ("int", "cannot parse 'int' as an integer format"),
    ("float8", "cannot parse 'float8' as an integer format"),
    ("int8(rounding=floor", "cannot parse 'int8\\(rounding=floor' as an integer format"),
    ("int8(foo=bar)", "expected rounding=... or overflow=..., not 'foo=bar'"),
    ("int8(floor)", "expected rounding=... or overflow=..., not 'floor'"),
    ("int8(rounding=floor,rounding=rne)", "rounding is given twice"),
    ("int0", "bits must be an integer in 1..32, not 0"),
    ("int8(overflow=inf)", "not 'inf'"),
    ("int8(rounding=)", "rounding must be one of"),
])
def test_from_string_errors(text, message):
    with pytest.raises(ValueError, match=message):
        IntFormat.from_string(text)


@st.composite
def int_formats(draw):
    signed = draw(st.booleans())
    return IntFormat(draw(st.integers(1, 32)), signed=signed, rounding=draw(st.sampled_from(DETERMINISTIC)),
                     overflow=draw(st.sampled_from([o for o in INT_OVERFLOWS
                                                    if signed or o is not Overflow.WRAP_SIGN_MAGNITUDE])))


@given(int_formats())
def test_str_round_trip(fmt):
    assert IntFormat.from_string(str(fmt)) == fmt


_anything = st.one_of(st.none(), st.booleans(), st.integers(-2**40, 2**40), st.floats(), st.text(max_size=10),
                      st.sampled_from(list(Rounding) + list(Overflow) + ["rne", "sat", "wrap_sm", "AP_RND"]))


@settings(max_examples=300)
@given(bits=st.one_of(st.integers(-2, 40), _anything), signed=_anything, rounding=_anything, overflow=_anything)
def test_constructor_fuzz(bits, signed, rounding, overflow):
    try:
        fmt = IntFormat(bits, signed=signed, rounding=rounding, overflow=overflow)
    except ValueError:
        return
    assert IntFormat.from_string(str(fmt)) == fmt


_pieces = st.sampled_from(["int", "uint", "8", "32", "0", "(", ")", "=", ",", " ", "rounding", "overflow",
                           "floor", "wrap", "sat", "rne", "٣", "\n", "x"])


@settings(max_examples=400)
@given(st.one_of(st.text(max_size=30), st.lists(_pieces, max_size=14).map("".join)))
def test_from_string_fuzz(text):
    try:
        fmt = IntFormat.from_string(text)
    except ValueError:
        return
    assert IntFormat.from_string(str(fmt)) == fmt
