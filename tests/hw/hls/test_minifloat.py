"""numfmt/minifloat.h and numfmt/ap_conv.h against numfmt: decode, encode, products, ap_fixed.

Exhaustive over every input space of at most 16 bits: every code's value, every
float16/bfloat16 bit pattern through every 8-bit format's encoder, every product of two
≤ 8-bit codes (numfmt's FloatMul semantics), every code to and from ap_fixed<16,8>.
The default run keeps one representative of each; the rest is ``-m exhaustive``.
"""

from __future__ import annotations

import ml_dtypes
import numpy as np
import pytest

import numfmt as nf
from numfmt import FloatFormat


import numfmt_tests_hls_cpp_ops as ops  # noqa: E402  (registered by conftest.py)
pytestmark = pytest.mark.skipif(ops.why_unavailable(ap=True) is not None,
                                reason=str(ops.why_unavailable(ap=True)))

F = nf.FLOATS
# catalogue formats and ones with other biases, specials, subnormals, overflow and sign
FORMATS_8 = [F[n] for n in ("e4m3fn", "e4m3fnuz", "e4m3b11fnuz", "e4m3", "e5m2", "e5m2fnuz", "e3m4",
                            "e8m0fnu", "e5m3fnu", "fp8_e7m0", "fp8_e1m6")] + [
    FloatFormat(4, 3, bias=5, specials="none"),
    FloatFormat(4, 3, specials="fn", subnormals=False),
    FloatFormat(5, 2, overflow="sat"),
    FloatFormat(4, 4, specials="fn", signed=False),
    FloatFormat(4, 3, bias=10, specials="fnuz", subnormals=False),
    FloatFormat(3, 4, bias=1, specials="ieee", subnormals=False, overflow="sat"),
]
FORMATS_SMALL = [F[n] for n in ("e3m2fn", "e2m3fn", "e2m1fn", "fp3_e1m1", "fp5_e4m0")] + [
    FloatFormat(2, 2, bias=0, specials="fn"), FloatFormat(3, 2, specials="ieee")]
FORMATS_16 = [F["fp16"], F["bf16"], FloatFormat(6, 9, bias=20, specials="fnuz"),
              FloatFormat(5, 10, specials="none", subnormals=False)]
ALL = FORMATS_8 + FORMATS_SMALL + FORMATS_16
MODES = ["rne", "rna", "rnp", "rnm", "rnz", "floor", "ceil", "rtz", "rta"]
AP_TYPES = {"ap_fixed<16,8>": "ap_fixed<16, 8>",
            "ap_fixed<12,3,AP_RND_CONV,AP_SAT>": "ap_fixed<12, 3, AP_RND_CONV, AP_SAT>",
            "ap_ufixed<10,6,AP_RND,AP_SAT_SYM>": "ap_ufixed<10, 6, AP_RND, AP_SAT_SYM>",
            "ap_fixed<14,-2,AP_RND_INF,AP_WRAP>": "ap_fixed<14, -2, AP_RND_INF, AP_WRAP>"}
MUL_CASES = [(F["e4m3fn"], F["e4m3fn"], F["e4m3fn"]), (F["e5m2"], F["e5m2"], F["e5m2"]),
             (F["e4m3fn"], F["e4m3fn"], F["bf16"]), (F["e5m2"], F["e4m3fn"], F["fp16"]),
             (F["e4m3fnuz"], F["e5m2fnuz"], F["e4m3fnuz"]), (F["e2m1fn"], F["e2m1fn"], F["e2m1fn"]),
             (F["e3m2fn"], F["e2m3fn"], F["e4m3fn"]), (F["e4m3"], F["e3m4"], F["e5m2"]),
             (FloatFormat(4, 3, bias=5, specials="none"), F["e4m3fn"], FloatFormat(5, 2, overflow="sat")),
             (F["e5m3fnu"], F["e5m3fnu"], F["e5m3fnu"]),
             (FloatFormat(4, 3, specials="fn", subnormals=False), F["e5m2"], F["e4m3fnuz"])]


def _squares():
    """Every ≤ 8-bit format times itself into itself, where FloatMul takes the triple."""
    from numfmt.hw.rtl.fpmul import FloatMul
    out = []
    for f in FORMATS_8 + FORMATS_SMALL:
        try:
            FloatMul(f, f, f)
        except ValueError:
            continue
        if (f, f, f) not in MUL_CASES:
            out.append((f, f, f))
    return out


MUL_CASES_ALL = MUL_CASES + _squares()


class Suite:
    """One program holding every operation a test list needs (compiled once, cached)."""

    def __init__(self, decode, encode, mul, ap):
        self.index, names = {}, []
        for fmt in decode:
            self.index["decode", fmt] = len(names)
            names.append(f"numfmt_test::decode_all<{ops.T(fmt)} >")
        for fmt, (ie, im) in encode:
            self.index["encode", fmt, ie, im] = len(names)
            names.append(f"numfmt_test::encode_bits<{ops.T(fmt)}, {ie}, {im}>")
        for fa, fb, fo in mul:
            self.index["mul", fa, fb, fo] = len(names)
            names.append(f"numfmt_test::mul_all<{ops.T(fa)}, {ops.T(fb)}, {ops.T(fo)} >")
        for fmt, ap in ap:
            self.index["to_ap", fmt, ap] = len(names)
            names.append(f"numfmt_test::to_ap_all<{ops.T(fmt)}, {AP_TYPES[ap]} >")
            self.index["from_ap", fmt, ap] = len(names)
            names.append(f"numfmt_test::from_ap_all<{ops.T(fmt)}, {AP_TYPES[ap]} >")
        self.program = ops.Program(names, ap=True)

    def run(self, key, inputs, dtypes):
        return self.program.run(self.index[key], inputs, dtypes)


DEFAULT = dict(decode=[F["e4m3fn"], F["e5m2"], F["e2m1fn"], F["fp16"]],
               encode=[(F["e4m3fn"], (5, 10)), (F["e5m2"], (8, 7))],
               mul=[MUL_CASES[0]], ap=[(F["e5m2"], "ap_fixed<16,8>")])
IN_16 = [(5, 10), (8, 7)]
EXHAUSTIVE = dict(decode=ALL,
                  encode=[(f, io) for f in FORMATS_8 + FORMATS_SMALL for io in IN_16],
                  mul=MUL_CASES_ALL,
                  ap=[(f, ap) for f in (F["e5m2"], F["e4m3fn"]) for ap in AP_TYPES]
                  + [(F["e2m1fn"], "ap_fixed<16,8>"), (F["e4m3fnuz"], "ap_fixed<12,3,AP_RND_CONV,AP_SAT>")])


@pytest.fixture(scope="module")
def default_suite():
    return Suite(**DEFAULT)


@pytest.fixture(scope="module")
def exhaustive_suite():
    return Suite(**EXHAUSTIVE)


def _bits16(ie):
    bits = np.arange(1 << 16, dtype=np.uint16)
    return bits.view(np.float16) if ie == 5 else bits.view(ml_dtypes.bfloat16)


# -- checks -------------------------------------------------------------------------------
def check_decode(suite, fmt):
    (got,) = suite.run(("decode", fmt), [], [np.float64])
    want = fmt.decode(np.arange(1 << fmt.bits, dtype=fmt.code_dtype))
    assert np.array_equal(got.view(np.uint64), want.view(np.uint64)), fmt


def check_encode(suite, fmt, ie, im, mode):
    x = _bits16(ie)
    (got,) = suite.run(("encode", fmt, ie, im), [ops.rounding_arg(mode), x.view(np.uint16).astype(np.uint64)],
                       [np.uint32])
    want = fmt.encode(x, mode).astype(np.uint32)
    bad = np.flatnonzero(got != want)
    assert bad.size == 0, (f"{fmt} {mode} from {x.dtype}: input bits {int(x.view(np.uint16)[bad[0]]):#06x} "
                           f"gives {int(got[bad[0]]):#x}, numfmt {int(want[bad[0]]):#x}")


def check_mul(suite, fa, fb, fo, mode="rne"):
    from numfmt.hw.rtl.fpmul import FloatMul
    (got,) = suite.run(("mul", fa, fb, fo), [ops.rounding_arg(mode)], [np.uint32])
    a, b = np.meshgrid(np.arange(1 << fa.bits), np.arange(1 << fb.bits), indexing="ij")
    want = FloatMul(fa, fb, fo, rounding=mode).model({"a": a.ravel(), "b": b.ravel()})["p"]
    bad = np.flatnonzero(got != want)
    assert bad.size == 0, (f"{fa} x {fb} -> {fo}: a={int(a.ravel()[bad[0]]):#x} b={int(b.ravel()[bad[0]]):#x} "
                           f"gives {int(got[bad[0]]):#x}, numfmt {int(want[bad[0]]):#x}")


def check_ap(suite, fmt, ap, modes=("rne",)):
    fixed = nf.parse(ap)
    (got,) = suite.run(("to_ap", fmt, ap), [], [np.uint64])
    with np.errstate(invalid="ignore"):
        want = fixed.encode(fmt.decode(np.arange(1 << fmt.bits, dtype=fmt.code_dtype))).astype(np.uint64)
    assert np.array_equal(got, want), f"{fmt} -> {ap}: codes {np.flatnonzero(got != want)[:5]}"
    raw = np.arange(1 << fixed.width, dtype=np.uint64)
    for mode in modes:
        (got,) = suite.run(("from_ap", fmt, ap), [ops.rounding_arg(mode)], [np.uint32])
        want = fmt.encode(fixed.decode(raw), mode).astype(np.uint32)
        bad = np.flatnonzero(got != want)
        assert bad.size == 0, (f"{ap} -> {fmt} ({mode}): raw {int(raw[bad[0]]):#x} gives {got[bad[0]]:#x}, "
                               f"numfmt {want[bad[0]]:#x}")


# -- default run: one representative of each ----------------------------------------------
@pytest.mark.parametrize("fmt", DEFAULT["decode"], ids=str)
def test_decode_every_code(default_suite, fmt):
    check_decode(default_suite, fmt)


@pytest.mark.parametrize("fmt, io", DEFAULT["encode"], ids=lambda v: str(v))
def test_encode_every_16_bit_input(default_suite, fmt, io):
    check_encode(default_suite, fmt, *io, "rne")


def test_every_e4m3fn_product(default_suite):
    check_mul(default_suite, *MUL_CASES[0])


def test_e5m2_to_and_from_ap_fixed_16_8(default_suite):
    check_ap(default_suite, F["e5m2"], "ap_fixed<16,8>")


# -- exhaustive -----------------------------------------------------------------------------
@pytest.mark.exhaustive
@pytest.mark.parametrize("fmt", EXHAUSTIVE["decode"], ids=str)
def test_decode_every_code_exhaustive(exhaustive_suite, fmt):
    check_decode(exhaustive_suite, fmt)


@pytest.mark.exhaustive
@pytest.mark.parametrize("fmt, io", EXHAUSTIVE["encode"], ids=lambda v: str(v))
def test_encode_every_16_bit_input_every_mode(exhaustive_suite, fmt, io):
    for mode in MODES:
        check_encode(exhaustive_suite, fmt, *io, mode)


@pytest.mark.exhaustive
@pytest.mark.parametrize("fa, fb, fo", MUL_CASES_ALL, ids=lambda v: str(v))
def test_every_product_exhaustive(exhaustive_suite, fa, fb, fo):
    for mode in ("rne", "rtz", "ceil", "rna"):
        check_mul(exhaustive_suite, fa, fb, fo, mode)


@pytest.mark.exhaustive
@pytest.mark.parametrize("fmt, ap", EXHAUSTIVE["ap"], ids=lambda v: str(v))
def test_ap_fixed_conversions_exhaustive(exhaustive_suite, fmt, ap):
    check_ap(exhaustive_suite, fmt, ap, modes=MODES)
