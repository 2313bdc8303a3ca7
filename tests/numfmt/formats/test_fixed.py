"""FixedFormat: bit-exact against the HLS ap_fixed headers, names, errors, introspection."""

from __future__ import annotations

import importlib.util
import os
import random
import re
import shutil
import subprocess
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from numfmt.formats.fixed import FixedFormat
from numfmt.modes import Overflow, Rounding


def _load_harness():
    path = Path(__file__).with_name("ap_ref") / "harness.py"
    spec = importlib.util.spec_from_file_location("numfmt_tests_ap_ref_harness", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


harness = _load_harness()
SEED = 20240611
AP_Q = harness.AP_ROUNDINGS
AP_O = harness.AP_OVERFLOWS


def assert_codes_equal(fmt, x, expected, got, what="ap_fixed headers"):
    """np.array_equal on codes; on failure list the first mismatching inputs."""
    expected = np.asarray(expected, dtype=np.uint64)
    got = np.asarray(got).astype(np.uint64)
    if np.array_equal(expected, got):
        return
    bad = np.nonzero(expected != got)[0]
    lines = [f"{fmt} (W,I,S,Q,O,N = {harness.template_args(fmt)}): {bad.size} of {x.size} "
             f"codes differ from the {what} (seed {SEED})"]
    for i in bad[:12]:
        xi = x[i]
        bits = int(np.asarray(xi).view(np.uint32 if x.dtype == np.float32 else np.uint64))
        lines.append(f"  x={float(xi)!r} (bits {bits:#x}): expected {int(expected[i]):#x}, got {int(got[i]):#x}")
    pytest.fail("\n".join(lines))


def _run_reference(formats, extra_jobs=()):
    reason = harness.why_unavailable()
    if reason:
        pytest.skip(reason)
    ref = harness.ApRef(formats, parts=max(2, os.cpu_count() or 2))
    rng = np.random.default_rng(SEED)
    inputs = [harness.probe_inputs(f, rng) for f in formats]
    jobs = list(enumerate(inputs)) + [(formats.index(f), x) for f, x in extra_jobs]
    codes = ref.run(jobs)
    return inputs, codes


# -- the differential test against the headers ---------------------------------

FLOAT32_FORMATS = [f for f in harness.default_formats() if f.width in (8, 64)][::5]


@pytest.fixture(scope="module")
def ap_results():
    formats = harness.default_formats()
    rng = np.random.default_rng(SEED + 1)
    extra = []
    for f in FLOAT32_FORMATS:
        x = harness.probe_inputs(f, rng)
        with np.errstate(over="ignore", under="ignore", invalid="ignore"):
            x32 = np.concatenate([x.astype(np.float32), np.array(
                [0x7F800001, 0xFFC00005, 0x00000001, 0x807FFFFF], np.uint32).view(np.float32)])
        extra.append((f, x32))
    with np.errstate(invalid="ignore"):   # widening a signalling NaN raises the invalid flag
        widened = [(f, x.astype(np.float64)) for f, x in extra]
    inputs, codes = _run_reference(formats, widened)
    n = len(formats)
    return {
        "main": {f: (x, c) for f, x, c in zip(formats, inputs, codes[:n])},
        "float32": [(f, x, c) for (f, x), c in zip(extra, codes[n:])],
    }


@pytest.mark.parametrize("overflow", AP_O, ids=str)
@pytest.mark.parametrize("rounding", AP_Q, ids=str)
def test_matches_ap_fixed_headers(ap_results, rounding, overflow):
    """encode(x) == ap_fixed_base<W,I,S,Q,O,N>(double x) bits, for ~1200 x per format."""
    tested = 0
    for fmt, (x, expected) in ap_results["main"].items():
        if fmt.rounding is rounding and fmt.overflow is overflow:
            assert_codes_equal(fmt, x, expected, fmt.encode(x))
            tested += 1
    assert tested >= 5


@pytest.mark.slow
def test_float32_inputs_match_headers(ap_results):
    """ap_fixed(float) widens to double first; so does the kernel (NaN payloads included)."""
    for fmt, x32, expected in ap_results["float32"]:
        assert x32.dtype == np.float32
        assert_codes_equal(fmt, x32, expected, fmt.encode(x32))


@pytest.mark.exhaustive
def test_matches_ap_fixed_headers_exhaustive():
    """1500 sampled formats (W 1..64, I from W-70 to W+20, all Q/O/N), ~1200 inputs each."""
    formats = harness.exhaustive_formats(seed=SEED)
    inputs, codes = _run_reference(formats)
    for fmt, x, expected in zip(formats, inputs, codes):
        assert_codes_equal(fmt, x, expected, fmt.encode(x))


# -- documented corner cases (each format is also in the differential test) ----

def test_wrap_sm_example_from_the_hls_guide():
    assert FixedFormat(4, 4, overflow="wrap_sm").encode(19.0) == 0b1100   # -4


def test_unsigned_wrap_with_sat_bits_sets_top_bits_even_below_zero():
    f = FixedFormat(8, 8, signed=False, sat_bits=1)
    assert f.encode([300.0, -1.0, -256.0]).tolist() == [0x80 | (300 & 0xFF), 0xFF, 0x80]


def test_sat_sym_one_bit_saturates_to_the_minimum():
    assert FixedFormat(1, 1, overflow="sat_sym").encode([-5.0, -1.0, 5.0]).tolist() == [1, 1, 0]
    assert FixedFormat(8, 8, overflow="sat_sym").encode([-128.0, -500.0]).tolist() == [0x81, 0x81]


def test_nan_and_inf_are_huge_numbers_as_in_the_headers():
    sat = FixedFormat(8, 3, overflow="sat")
    x = np.array([np.nan, -np.nan, np.inf, -np.inf])
    assert sat.encode(x).tolist() == [0x7F, 0x80, 0x7F, 0x80]
    assert FixedFormat(8, 3).encode(x).tolist() == [0, 0, 0, 0]


def test_float64_subnormals_keep_the_hidden_bit_as_in_the_headers():
    # 2**-1074 is read as (2**52 + 1) * 2**-1075; times 2**1064, floored: 2**41
    assert FixedFormat(64, -1000).encode(5e-324) == 2**41
    assert FixedFormat(8, 3, rounding="rnd_inf").encode([5e-324, -5e-324]).tolist() == [0, 0]
    assert FixedFormat(8, 3).encode(-5e-324) == 0xFF          # AP_TRN: floor


# -- encode/decode consistency --------------------------------------------------

SMALL = [FixedFormat(w, i, signed=s, rounding=q, overflow=o, sat_bits=n)
         for w, i, s, n in [(1, 1, True, 0), (1, -3, False, 0), (3, 5, True, 1), (6, 2, True, 0),
                            (6, 2, False, 3), (10, 0, True, 2)]
         for q in AP_Q for o in AP_O
         if s or o is not Overflow.WRAP_SIGN_MAGNITUDE]


@pytest.mark.parametrize("rounding", [r for r in Rounding if r is not Rounding.STOCHASTIC], ids=str)
def test_every_value_encodes_to_its_own_code(rounding):
    for fmt in SMALL:
        codes = fmt.codes()
        values = fmt.decode(codes)
        expected = codes.copy()
        if fmt.overflow is Overflow.SATURATE_SYMMETRIC and fmt.signed:
            expected[1 << (fmt.width - 1)] |= 1      # the minimum saturates to -max
        assert_codes_equal(fmt, values, expected, fmt.encode(values, rounding), "codes")


@pytest.mark.parametrize("fmt", SMALL[::7], ids=str)
def test_decode_is_exact(fmt):
    ints = fmt.decode_int(fmt.codes())
    assert [Fraction(v) for v in fmt.values()] == [Fraction(int(k)) * Fraction(2) ** -fmt.frac_bits for k in ints]
    k = np.arange(fmt.min_int, fmt.max_int + 1)
    assert sorted(ints.tolist()) == k.tolist()
    assert fmt.values().max() == fmt.max and fmt.values().min() == fmt.min


def test_decode_int_and_wide_formats():
    f = FixedFormat(64, 64)
    top = np.array([2**63 - 1, 2**63, 2**64 - 1], dtype=np.uint64)
    assert f.decode_int(top).dtype == np.int64
    assert f.decode_int(top).tolist() == [2**63 - 1, -(2**63), -1]
    assert f.decode(top).tolist() == [2.0**63, -(2.0**63), -1.0]   # float64 rounds 2**63 - 1
    u = FixedFormat(64, 0, signed=False)
    assert u.decode_int(top).dtype == np.uint64
    assert u.decode_int(top).tolist() == [2**63 - 1, 2**63, 2**64 - 1]
    assert u.code_dtype == np.uint64
    assert FixedFormat(53, 3).decode(np.uint64(2**52 + 1)).item() == -4 + 2.0**-50
    # encode is exact beyond 53 bits too: x = 2**60 + 2**8 fits ap_fixed<64,62>
    assert FixedFormat(64, 62).decode_int(FixedFormat(64, 62).encode(2.0**60 + 256)).item() == 4 * (2**60 + 256)


def test_shape_and_dtype():
    f = FixedFormat(12, 4)
    x = np.linspace(-3, 3, 24).reshape(2, 3, 4)
    codes = f.encode(x)
    assert codes.shape == (2, 3, 4) and codes.dtype == np.uint16
    assert f.decode(codes).shape == (2, 3, 4)
    assert FixedFormat(8, 3).encode(1.0).shape == ()
    assert FixedFormat(33, 3).code_dtype == np.uint64 and FixedFormat(32, 3).code_dtype == np.uint32


def test_rounding_override():
    f = FixedFormat(8, 8)                                   # AP_TRN by default
    x = [2.5, -2.5, 3.5, 2.25]
    assert f.decode(f.encode(x)).tolist() == [2, -3, 3, 2]
    assert f.decode(f.encode(x, "rnd_conv")).tolist() == [2, -2, 4, 2]
    assert f.decode(f.encode(x, Rounding.NEAREST_UP)).tolist() == [3, -2, 4, 2]
    assert f.decode(f.encode(x, "ceil")).tolist() == [3, -2, 4, 3]
    assert f.decode(f.encode(x, "rta")).tolist() == [3, -3, 4, 3]


def test_stochastic_rounding_is_seeded_and_unbiased():
    f = FixedFormat(8, 8, overflow="sat")
    x = np.full(20000, 0.3)
    a = f.encode(x, "stochastic", rng=7)
    assert np.array_equal(a, f.encode(x, "stochastic", rng=np.random.default_rng(7)))
    assert not np.array_equal(a, f.encode(x, "stochastic", rng=8))
    assert set(a.tolist()) == {0, 1}
    assert abs(a.mean() - 0.3) < 0.02
    neg = f.decode(f.encode(-x, "stochastic", rng=7))
    assert set(neg.tolist()) == {0.0, -1.0} and abs(neg.mean() + 0.3) < 0.02
    assert np.array_equal(f.encode([1.0, 2.0], "stochastic", rng=1), [1, 2])   # exact stays exact
    with pytest.raises(ValueError, match="needs rng"):
        f.encode(x, "stochastic")


# -- introspection ---------------------------------------------------------------

def test_properties():
    f = FixedFormat(8, 3)
    assert (f.bits, f.frac_bits, f.max, f.min, f.eps, f.resolution, f.scale) == (8, 5, 3.96875, -4.0, 2**-5, 2**-5, 2**-5)
    assert (f.max_int, f.min_int) == (127, -128)
    u = FixedFormat(8, 3, signed=False)
    assert (u.max, u.min) == (7.96875, 0.0)
    g = FixedFormat(8, 10)
    assert (g.frac_bits, g.eps, g.max, g.min) == (-2, 4.0, 508.0, -512.0)
    h = FixedFormat(4, -2, signed=False)
    assert (h.frac_bits, h.eps, h.max) == (6, 2**-6, 15 / 64)
    assert FixedFormat(8, 3).default_rounding is Rounding.FLOOR
    assert FixedFormat(64, 64, signed=False).max == 2.0**64


def test_frozen_hashable_equal():
    a = FixedFormat(8, 3, rounding="AP_RND_CONV", overflow="AP_SAT")
    b = FixedFormat(8, 3, rounding=Rounding.NEAREST_EVEN, overflow=Overflow.SATURATE)
    assert a == b and hash(a) == hash(b) and a.rounding is Rounding.NEAREST_EVEN
    assert a != FixedFormat(8, 3)
    with pytest.raises(AttributeError):
        a.width = 9


# -- names -----------------------------------------------------------------------

@pytest.mark.parametrize("fmt, name", [
    (FixedFormat(8, 3), "ap_fixed<8,3>"),
    (FixedFormat(8, 3, signed=False), "ap_ufixed<8,3>"),
    (FixedFormat(8, 3, rounding="rnd"), "ap_fixed<8,3,AP_RND>"),
    (FixedFormat(8, 3, overflow="sat"), "ap_fixed<8,3,AP_TRN,AP_SAT>"),
    (FixedFormat(8, 3, rounding="rnd_conv", overflow="sat"), "ap_fixed<8,3,AP_RND_CONV,AP_SAT>"),
    (FixedFormat(8, 3, sat_bits=2), "ap_fixed<8,3,AP_TRN,AP_WRAP,2>"),
    (FixedFormat(16, -4, rounding="trn_zero", overflow="wrap_sm", sat_bits=1),
     "ap_fixed<16,-4,AP_TRN_ZERO,AP_WRAP_SM,1>"),
    (FixedFormat(1, 70, signed=False, overflow="sat_sym"), "ap_ufixed<1,70,AP_TRN,AP_SAT_SYM>"),
])
def test_str(fmt, name):
    assert str(fmt) == name == fmt.to_hls()
    assert FixedFormat.from_string(name) == fmt


@pytest.mark.parametrize("text, fmt", [
    (" ap_fixed < 8 , 3 , AP_RND_CONV , AP_SAT > ", FixedFormat(8, 3, rounding="rne", overflow="sat")),
    ("fixed<8,3,RND_CONV,SAT>", FixedFormat(8, 3, rounding="rne", overflow="sat")),
    ("ufixed<6,0>", FixedFormat(6, 0, signed=False)),
    ("fixed<16,6,RND,SAT_SYM,0>", FixedFormat(16, 6, rounding="rnd", overflow="sat_sym")),
    ("ap_fixed<8,-2>", FixedFormat(8, -2)),
    ("ap_fixed<8,+3,ap_trn,ap_wrap,3>", FixedFormat(8, 3, sat_bits=3)),
    ("fixed<18,8,TRN_ZERO,WRAP_SM,1>", FixedFormat(18, 8, rounding="rtz", overflow="wrap_sm", sat_bits=1)),
])
def test_from_string(text, fmt):
    assert FixedFormat.from_string(text) == fmt


# -- errors ------------------------------------------------------------------------

@pytest.mark.parametrize("kwargs, message", [
    (dict(width=0, int_bits=3), "width must be an integer in 1..64, not 0"),
    (dict(width=65, int_bits=3), "width must be an integer in 1..64, not 65"),
    (dict(width=8.0, int_bits=3), "width must be an integer in 1..64, not 8.0"),
    (dict(width=True, int_bits=1), "width must be an integer in 1..64, not True"),
    (dict(width=8, int_bits="3"), "int_bits must be an integer in -1066..1023 for width=8, not '3'"),
    (dict(width=8, int_bits=1024), "int_bits must be an integer in -1066..1023 for width=8, not 1024"),
    (dict(width=8, int_bits=-1067), "int_bits must be an integer in -1066..1023 for width=8, not -1067"),
    (dict(width=8, int_bits=3, signed="yes"), "signed must be True or False, not 'yes'"),
    (dict(width=8, int_bits=3, rounding="ceil"), "rounding must be an ap_fixed quantization mode .*, not 'ceil'"),
    (dict(width=8, int_bits=3, rounding=Rounding.AWAY), "rounding must be an ap_fixed quantization mode .*, not 'rta'"),
    (dict(width=8, int_bits=3, rounding="stochastic"), "rounding must be a deterministic mode, not 'stochastic'"),
    (dict(width=8, int_bits=3, rounding="AP_FOO"), "rounding must be one of .*, not 'AP_FOO'"),
    (dict(width=8, int_bits=3, rounding=3), "rounding must be one of .*, not 3"),
    (dict(width=8, int_bits=3, overflow="inf"), "overflow must be one of .* not 'inf'"),
    (dict(width=8, int_bits=3, overflow="clip"), "overflow must be one of .*, not 'clip'"),
    (dict(width=8, int_bits=3, overflow="wrap_sm", signed=False), r"overflow='wrap_sm' needs signed=True"),
    (dict(width=8, int_bits=3, sat_bits=9), "sat_bits must be an integer in 0..8 for width=8, not 9"),
    (dict(width=8, int_bits=3, sat_bits=-1), "sat_bits must be an integer in 0..8 for width=8, not -1"),
])
def test_constructor_errors(kwargs, message):
    with pytest.raises(ValueError, match=message):
        FixedFormat(**kwargs)


@pytest.mark.parametrize("text, message", [
    ("ap_fixed<8>", "takes 2 to 5 arguments, not 1"),
    ("ap_fixed<8,3,AP_TRN,AP_WRAP,0,1>", "takes 2 to 5 arguments, not 6"),
    ("ap_fixed<8,x>", "int_bits must be an integer, not 'x'"),
    ("ap_fixed<8.0,3>", "width must be an integer, not '8.0'"),
    ("ap_fixed<8,3,AP_CEIL>", "rounding must be one of"),
    ("ap_fixed<8,3,AP_TRN,AP_SAT,n>", "sat_bits must be an integer, not 'n'"),
    ("ap_fixed<0,3>", "width must be an integer in 1..64, not 0"),
    ("ap_float<8,3>", "cannot parse 'ap_float<8,3>' as a fixed-point type"),
    ("ap_fixed<8,3", "cannot parse 'ap_fixed<8,3' as a fixed-point type"),
    ("", "cannot parse '' as a fixed-point type"),
])
def test_from_string_errors(text, message):
    with pytest.raises(ValueError, match=message) as info:
        FixedFormat.from_string(text)
    assert repr(text) in str(info.value)


def test_from_string_rejects_non_strings():
    with pytest.raises(ValueError, match="cannot parse 8"):
        FixedFormat.from_string(8)


# -- hypothesis fuzzing ------------------------------------------------------------

_mode_text = st.sampled_from([r.ap_name for r in AP_Q] + [r.ap_name[3:].lower() for r in AP_Q])
_overflow_text = st.sampled_from([o.ap_name for o in AP_O] + [o.value for o in AP_O])


@st.composite
def fixed_formats(draw):
    w = draw(st.integers(1, 64))
    signed = draw(st.booleans())
    o = draw(st.sampled_from([o for o in AP_O if signed or o is not Overflow.WRAP_SIGN_MAGNITUDE]))
    return FixedFormat(w, draw(st.integers(w - 1074, 1023)), signed=signed,
                       rounding=draw(st.sampled_from(AP_Q)), overflow=o,
                       sat_bits=draw(st.integers(0, w)))


@given(fixed_formats())
def test_str_round_trip(fmt):
    assert FixedFormat.from_string(str(fmt)) == fmt
    assert FixedFormat.from_string(re.sub(r"\b(ap|AP)_", "", str(fmt))) == fmt   # hls4ml spelling


_anything = st.one_of(st.none(), st.booleans(), st.integers(-2**70, 2**70), st.floats(),
                      st.text(max_size=12), _mode_text, _overflow_text)


@settings(max_examples=300)
@given(width=st.one_of(st.integers(-3, 70), _anything), int_bits=st.one_of(st.integers(-1100, 1100), _anything),
       signed=_anything, rounding=st.one_of(st.sampled_from(list(Rounding)), _anything),
       overflow=st.one_of(st.sampled_from(list(Overflow)), _anything), sat_bits=st.one_of(st.integers(-2, 70), _anything))
def test_constructor_fuzz(width, int_bits, signed, rounding, overflow, sat_bits):
    try:
        fmt = FixedFormat(width, int_bits, signed=signed, rounding=rounding, overflow=overflow, sat_bits=sat_bits)
    except ValueError:
        return
    assert FixedFormat.from_string(str(fmt)) == fmt
    assert isinstance(fmt.width, int) and isinstance(fmt.rounding, Rounding)


_alphabet = st.sampled_from(list("ap_fixedufx<>,0123456789-+ _RNDTWSAMCOVZIF") + ["AP_", "RND", "SAT", "٣", "\n"])


@settings(max_examples=400)
@given(st.one_of(st.text(max_size=40), st.lists(_alphabet, max_size=30).map("".join),
                 fixed_formats().map(str).flatmap(lambda s: st.integers(0, len(s)).map(lambda k: s[:k] + s[k + 1:]))))
def test_from_string_fuzz(text):
    try:
        fmt = FixedFormat.from_string(text)
    except ValueError:
        return
    assert FixedFormat.from_string(str(fmt)) == fmt


def test_math_of_eps_matches_values():
    f = FixedFormat(10, 4)
    v = f.values()
    assert np.all(np.diff(np.sort(v)) == f.eps)
    assert f.max - f.min + f.eps == 2.0**f.int_bits


def test_parses_hls4ml_precision_strings():
    types = pytest.importorskip("hls4ml.model.types")
    for q in types.RoundingMode:
        for o in types.SaturationMode:
            for signed in (True, False):
                hls = types.FixedPrecisionType(12, -3, signed=signed, rounding_mode=q, saturation_mode=o,
                                               saturation_bits=2 if o is types.SaturationMode.WRAP else None)
                fmt = FixedFormat.from_string(str(hls))
                assert (fmt.width, fmt.int_bits, fmt.signed, fmt.sat_bits) == (12, -3, signed, hls.saturation_bits)
                assert fmt.rounding.ap_name == "AP_" + q.name and fmt.overflow.ap_name == "AP_" + o.name


# --- int64/uint64 inputs: ap_fixed_base(long long) of the headers -------------------------------------

INT_SEED = 20261206


def _header_program(formats, signed_values, unsigned_values):
    """C++ printing, per format, the codes of ``ap_fixed_base<...>(long long / unsigned long long)``."""
    def literal(v):
        return "(-9223372036854775807LL - 1)" if v == -2**63 else f"{v}LL"
    return "\n".join([
        "#include <ap_fixed.h>", "#include <cstdio>", "#include <cstdint>",
        "const long long V[] = {" + ", ".join(map(literal, signed_values)) + "};",
        "const unsigned long long U[] = {" + ", ".join(f"{v}ULL" for v in unsigned_values) + "};",
        "template <int W, int I, bool S, ap_q_mode Q, ap_o_mode O, int N> void run() {",
        "  const uint64_t m = W == 64 ? ~0ULL : ((1ULL << W) - 1);",
        "  for (long long v : V) { ap_fixed_base<W, I, S, Q, O, N> f(v);"
        " printf(\"%llu \", (unsigned long long)(f.bits_to_uint64() & m)); }",
        "  for (unsigned long long v : U) { ap_fixed_base<W, I, S, Q, O, N> f(v);"
        " printf(\"%llu \", (unsigned long long)(f.bits_to_uint64() & m)); }",
        "  printf(\"\\n\");",
        "}",
        "int main() {",
        *[f"  run<{harness.template_args(f)}>();" for f in formats],
        "}",
    ])


@pytest.mark.slow
def test_matches_ap_fixed_headers_for_64_bit_integers(tmp_path):
    """int64/uint64 inputs == ``ap_fixed_base(long long)`` / ``(unsigned long long)`` of the HLS headers."""
    reason = harness.why_unavailable()
    if reason:
        pytest.skip(reason)
    rnd = random.Random(INT_SEED)
    formats = []
    for _ in range(60):
        width = rnd.choice([1, 3, 8, 16, 31, 32, 33, 53, 63, 64])
        signed = rnd.random() < 0.6
        overflow = rnd.choice([o for o in AP_O if signed or o is not Overflow.WRAP_SIGN_MAGNITUDE])
        formats.append(FixedFormat(width, width + rnd.randint(-4, 20), signed=signed, overflow=overflow,
                                   rounding=rnd.choice(AP_Q), sat_bits=rnd.randint(0, width)))
    signed_values = ([0, 1, -1, 5, -5, 2**63 - 1, -2**63, 2**53 + 1, -(2**53) - 1]
                     + [rnd.randint(-2**63, 2**63 - 1) for _ in range(40)]
                     + [rnd.randint(-2**20, 2**20) for _ in range(20)])
    unsigned_values = [2**64 - 1, 2**63, 2**63 + 12345] + [rnd.randint(0, 2**64 - 1) for _ in range(30)]
    (tmp_path / "t.cpp").write_text(_header_program(formats, signed_values, unsigned_values))
    subprocess.run([shutil.which("g++"), *harness.CXXFLAGS, "-I", str(harness.headers_dir()), "t.cpp", "-o", "t"],
                   cwd=tmp_path, check=True)
    lines = subprocess.run([str(tmp_path / "t")], capture_output=True, text=True, check=True).stdout.splitlines()
    assert len(lines) == len(formats)
    for fmt, line in zip(formats, lines):
        got = (fmt.encode(np.array(signed_values, dtype=np.int64)).tolist()
               + fmt.encode(np.array(unsigned_values, dtype=np.uint64)).tolist())
        want = [int(t) for t in line.split()]
        bad = [(v, g, w) for v, g, w in zip(signed_values + unsigned_values, got, want) if g != w]
        assert not bad, f"{fmt} (seed {INT_SEED}): (input, numfmt, headers) {bad[:8]}"
