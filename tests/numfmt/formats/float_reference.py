"""A slow, independent reference model of :class:`numfmt.FloatFormat`.

Written from the semantics in ``FloatFormat``'s docstring, not from the
kernels: values are computed with :class:`fractions.Fraction` from the
fields of each code, and an input is rounded by looking up its two
neighbours in the sorted list of the format's magnitudes.

Semantics implemented here (and therefore checked by the tests)
---------------------------------------------------------------
Decoding a code (sign bit ``s`` when signed, exponent field ``b``, fraction
field ``f``):

* ``ieee``: ``b`` all ones is ±inf (``f == 0``) or NaN; ``fn``: the all-ones
  magnitude is NaN; ``fnuz``: the code with only the sign bit set is NaN;
  ``none``: no specials.
* ``b == 0`` with ``has_zero``: ``f * 2**(1 - bias - man)`` (subnormal), or
  ±0 whatever ``f`` is when ``subnormals=False`` (flush to zero).
* otherwise ``(1 + f / 2**man) * 2**(b - bias)``; without zero the zero
  exponent field is such an ordinary binade.

Encoding a float ``x`` under a rounding mode:

* NaN: the format's NaN of ``x``'s sign (``ieee``: the quiet NaN
  ``b = all ones, f = 100..0``); without NaN, zero with the opposite sign bit
  (ml_dtypes); without NaN and without zero, the smallest magnitude of ``x``'s
  sign (the code's choice, see ``_special_codes``: there is no zero to flip).
* ±0: ±0 (``fnuz`` and unsigned formats have only +0); without zero, the NaN
  of the sign as above (or the smallest magnitude without NaN).
* ±inf: ±inf for ``ieee``; otherwise NaN when ``overflow='inf'``, ±max when
  ``overflow='sat'``.
* finite nonzero: with ``subnormals=False`` (and a zero), ``|x|`` below the
  smallest normal becomes ±0 *before* rounding. Otherwise ``|x|`` is rounded
  between its neighbours ``lo <= |x| < hi`` among the format's magnitudes,
  extended above :attr:`max` as if the exponent were unbounded: the next
  value above ``max`` is the value the next magnitude code would have if it
  were an ordinary finite number (``2**(emax+1)`` for ``ieee``/``fnuz``/
  ``none``; ``1.1..1 * 2**emax`` for ``fn``), and every value at or above it
  rounds to it or beyond, i.e. overflows. Modes (directed ones act on the
  signed value):

  - ``rne``/``rna``/``rnp``/``rnm``/``rnz``: the nearer neighbour; an exact
    tie goes to the even one / away from zero / toward +inf / toward -inf /
    toward zero. "Even" is the parity of the integer significand in units of
    the spacing ``hi - lo`` of ``x``'s binade: ``lo / (hi - lo)`` even keeps
    ``lo``. This is the parity of the code for every format with ``man >= 1``;
    with ``man == 0`` (E8M0) a tie between ``2**k`` and ``2**(k+1)`` goes up
    (``2**(k+1) = 2 * 2**k`` is even in ``x``'s binade), as MPFR at precision 1
    and ml_dtypes do (gfloat uses the code's parity instead).
  - ``floor``/``ceil``: toward -inf / +inf; ``rtz``: toward zero; ``rta``:
    away from zero.
  - ``stochastic`` with a random integer ``rnd`` in ``[0, 2**sr_bits)``: the
    magnitude rounds up iff ``rnd < floor((|x| - lo) / (hi - lo) * 2**sr_bits)``
    (the documented definition in ``Format.encode``).

  Then: a result of 0 gives ±0 (``fnuz``/unsigned: +0); without zero any
  ``|x|`` below the smallest value gives the smallest value, whatever the mode;
  a negative ``x`` that does not round to zero in an unsigned format gives NaN
  (code 0 when there is no NaN) — with ``negative_nan`` every negative nonzero
  ``x`` gives NaN, checked before any flushing or rounding; a rounded magnitude above ``max`` gives
  ``±max`` for ``overflow='sat'`` and for the modes that round toward zero
  for ``x``'s sign (``rtz``, ``floor`` of a positive, ``ceil`` of a negative,
  as IEEE 754), and otherwise ±inf (``ieee``) or NaN.
"""

from __future__ import annotations

import bisect
import functools
import math
from fractions import Fraction

import numpy as np

import numfmt as nf
from numfmt.modes import Overflow, Rounding, Specials

__all__ = ["Value", "code_values", "reference_decode", "reference_encode", "magnitudes",
           "gfloat_format", "special_codes"]

NAN = "nan"
INF = "inf"


class Value:
    """One decoded code: ``kind`` is "nan", "inf" or "num"; ``neg`` the sign; ``mag`` a Fraction."""

    __slots__ = ("kind", "neg", "mag")

    def __init__(self, kind, neg, mag=Fraction(0)):
        self.kind, self.neg, self.mag = kind, neg, mag

    def as_float(self) -> float:
        if self.kind == NAN:
            return math.nan
        v = math.inf if self.kind == INF else _exact_float(self.mag)
        return -v if self.neg else v


def _exact_float(q: Fraction) -> float:
    v = float(q)  # Fraction -> float is correctly rounded; check it was exact
    if Fraction(v) != q:
        raise AssertionError(f"{q} is not a float64")
    return v


# -- decoding -----------------------------------------------------------------------
def _layout(fmt):
    return fmt.exp, fmt.man, (1 << (fmt.exp + fmt.man)) if fmt.signed else 0


def decode_one(fmt, code: int) -> Value:
    """The value of one code, from the fields (see the module docstring)."""
    e, m, sign_bit = _layout(fmt)
    neg = bool(code & sign_bit)
    mag_code = code & ((1 << (e + m)) - 1)
    b, f = mag_code >> m, mag_code & ((1 << m) - 1)
    all_ones_exp = (1 << e) - 1
    if fmt.specials is Specials.IEEE and b == all_ones_exp:
        return Value(INF if f == 0 else NAN, neg)
    if fmt.specials is Specials.FN and mag_code == (1 << (e + m)) - 1:
        return Value(NAN, neg)
    if fmt.specials is Specials.FNUZ and code == sign_bit:
        return Value(NAN, True)
    return Value("num", neg, _magnitude(fmt, b, f))


def _magnitude(fmt, b: int, f: int) -> Fraction:
    m = fmt.man
    if b == 0 and fmt.has_zero:
        if not fmt.subnormals:
            return Fraction(0)
        return Fraction(f, 1 << m) * Fraction(2) ** (1 - fmt.bias)
    return (1 + Fraction(f, 1 << m)) * Fraction(2) ** (b - fmt.bias)


@functools.lru_cache(maxsize=256)
def code_values(fmt) -> tuple:
    """The :class:`Value` of every code, indexed by code (formats of ≤ 20 bits)."""
    if fmt.bits > 20:
        raise ValueError(f"the reference enumerates formats of at most 20 bits, not {fmt.bits}")
    return tuple(decode_one(fmt, c) for c in range(1 << fmt.bits))


def reference_decode(fmt) -> np.ndarray:
    """float64 value of every code (NaN for NaN codes, signed zeros kept)."""
    return np.array([v.as_float() for v in code_values(fmt)], dtype=np.float64)


# -- the magnitude grid ---------------------------------------------------------------
class _Grid:
    """Sorted distinct finite magnitudes with the code of each, plus the extension above max.

    Values are kept as Fractions and, for fast exact comparisons, as integers
    in units of ``2**-SCALE`` (every value here is a multiple of ``2**-1076``).
    """

    SCALE = 1100

    def __init__(self, fmt):
        e, m, sign_bit = _layout(fmt)
        best = {}
        for c, v in enumerate(code_values(fmt)):
            if v.kind != "num" or (c & sign_bit):
                continue
            # the smallest magnitude code of each value (FTZ makes many codes +0)
            best.setdefault(v.mag, c)
        mags = sorted(best)
        codes = [best[v] for v in mags]
        self.max_code = codes[-1]
        self.max = mags[-1]
        # extension: the next magnitude code as an ordinary finite number
        nxt = self.max_code + 1
        self.top = (1 + Fraction(nxt & ((1 << m) - 1), 1 << m)) * Fraction(2) ** ((nxt >> m) - fmt.bias)
        self.mags = mags + [self.top]
        self.codes = codes + [None]
        self.keys = [self.key(v) for v in self.mags]
        self.smallest = mags[1] if mags[0] == 0 else mags[0]

    @classmethod
    def key(cls, q: Fraction) -> int:
        n = q * (1 << cls.SCALE)
        if n.denominator != 1:
            raise AssertionError(f"{q} is finer than 2**-{cls.SCALE}")
        return n.numerator


@functools.lru_cache(maxsize=256)
def _grid(fmt) -> _Grid:
    return _Grid(fmt)


def magnitudes(fmt) -> list:
    """Sorted distinct finite magnitudes of ``fmt`` followed by the extension value above max."""
    return list(_grid(fmt).mags)


def midpoints(fmt) -> list:
    """Exact midpoints between neighbouring magnitudes (including max and the extension)."""
    mags = _grid(fmt).mags
    return [(a + b) / 2 for a, b in zip(mags, mags[1:])]


# -- special codes ---------------------------------------------------------------------
def special_codes(fmt) -> dict:
    """Codes of the special results, written from the docstring's policy."""
    e, m, sign_bit = _layout(fmt)
    sp = fmt.specials
    g = _grid(fmt)
    max_code = g.max_code
    if sp is Specials.IEEE:
        nan_pos = (((1 << e) - 1) << m) | (1 << (m - 1))
        nan_neg = nan_pos | sign_bit
    elif sp is Specials.FN:
        nan_pos = (1 << (e + m)) - 1
        nan_neg = nan_pos | sign_bit
    elif sp is Specials.FNUZ:
        nan_pos = nan_neg = sign_bit
    elif fmt.has_zero:  # no NaN: zero with the opposite sign bit
        nan_pos, nan_neg = sign_bit, 0
    else:  # no NaN, no zero: smallest magnitude of the same sign
        nan_pos, nan_neg = 0, sign_bit
    if sp is Specials.IEEE:
        inf_pos = ((1 << e) - 1) << m
        inf_neg = inf_pos | sign_bit
    elif fmt.overflow is Overflow.INFINITY:
        inf_pos, inf_neg = nan_pos, nan_neg
    else:
        inf_pos, inf_neg = max_code, max_code | sign_bit
    return dict(
        nan_pos=nan_pos, nan_neg=nan_neg, inf_pos=inf_pos, inf_neg=inf_neg,
        zero_pos=0, zero_neg=sign_bit if sp is not Specials.FNUZ else 0,
        max_pos=max_code, max_neg=max_code | sign_bit,
        neg_unsigned=nan_pos if fmt.has_nan else 0,
    )


# -- encoding --------------------------------------------------------------------------
_TIE_UP = {  # for an exact tie, does the magnitude go up? (neg -> bool); RNE handled apart
    Rounding.NEAREST_AWAY: lambda neg: True,
    Rounding.NEAREST_UP: lambda neg: not neg,
    Rounding.NEAREST_DOWN: lambda neg: neg,
    Rounding.NEAREST_ZERO: lambda neg: False,
}
_DIRECTED_UP = {  # for an inexact value, does the magnitude go up?
    Rounding.FLOOR: lambda neg: neg,
    Rounding.CEIL: lambda neg: not neg,
    Rounding.TOWARD_ZERO: lambda neg: False,
    Rounding.AWAY: lambda neg: True,
}


def _toward_zero(rounding, neg) -> bool:
    return (rounding is Rounding.TOWARD_ZERO or (rounding is Rounding.FLOOR and not neg)
            or (rounding is Rounding.CEIL and neg))


def round_magnitude(fmt, a: Fraction, neg: bool, rounding, rnd: int = 0, sr_bits: int = 32):
    """Round the magnitude ``a > 0`` onto the extended grid; return the index into :func:`magnitudes`."""
    g = _grid(fmt)
    k = g.key(a)
    i = bisect.bisect_right(g.keys, k) - 1  # g.mags[i] <= a < g.mags[i+1]
    if i < 0:
        raise AssertionError("below the smallest magnitude: handled by the caller")
    if g.keys[i] == k or i == len(g.keys) - 1:
        return i  # exact, or at/above the extension (which overflows anyway)
    lo, hi = g.mags[i], g.mags[i + 1]
    two_a, lo_hi = 2 * k, g.keys[i] + g.keys[i + 1]
    if rounding in _DIRECTED_UP:
        up = _DIRECTED_UP[rounding](neg)
    elif rounding is Rounding.STOCHASTIC:
        frac = (a - lo) / (hi - lo) * (1 << sr_bits)
        up = rnd < math.floor(frac)
    elif two_a != lo_hi:
        up = two_a > lo_hi
    elif rounding is Rounding.NEAREST_EVEN:
        up = (lo / (hi - lo)) % 2 == 1  # the significand of lo in units of the binade's spacing
    else:
        up = _TIE_UP[rounding](neg)
    return i + 1 if up else i


def reference_encode(fmt, x: float, rounding=Rounding.NEAREST_EVEN, *, rnd: int = 0, sr_bits: int = 32) -> int:
    """The code of the float ``x`` rounded to ``fmt`` (see the module docstring)."""
    rounding = Rounding.parse(rounding)
    x = float(x)
    sc = special_codes(fmt)
    g = _grid(fmt)
    neg = math.copysign(1.0, x) < 0
    if math.isnan(x):
        return sc["nan_neg"] if neg else sc["nan_pos"]
    if math.isinf(x):
        if neg and not fmt.signed:
            return sc["neg_unsigned"]
        return sc["inf_neg"] if neg else sc["inf_pos"]
    if x == 0:
        if not fmt.has_zero:
            return sc["nan_neg"] if neg else sc["nan_pos"]
        return sc["zero_neg"] if neg else 0
    if neg and fmt.negative_nan:
        return sc["neg_unsigned"]
    a = abs(Fraction(x))
    sign_bit = (1 << (fmt.exp + fmt.man)) if fmt.signed else 0
    if fmt.has_zero and not fmt.subnormals and a < fmt_smallest_normal(fmt):
        return sc["zero_neg"] if neg else 0  # flush to zero before rounding
    if not fmt.has_zero and a < g.smallest:
        idx = 0  # no zero: tiny values give the smallest value
    else:
        idx = round_magnitude(fmt, a, neg, rounding, rnd, sr_bits)
    mag = g.mags[idx]
    if mag == 0:
        return sc["zero_neg"] if neg else 0
    if neg and not fmt.signed:
        return sc["neg_unsigned"]
    if mag > g.max:
        if fmt.overflow is Overflow.SATURATE or _toward_zero(rounding, neg):
            return sc["max_neg"] if neg else sc["max_pos"]
        return sc["inf_neg"] if neg else sc["inf_pos"]
    return g.codes[idx] | (sign_bit if neg else 0)


def fmt_smallest_normal(fmt) -> Fraction:
    """Smallest positive normal: ``2**(1 - bias)`` (``2**-bias`` without zero)."""
    return Fraction(2) ** ((1 if fmt.has_zero else 0) - fmt.bias)


def reference_encode_array(fmt, xs, rounding, *, rnd=None, sr_bits: int = 32) -> np.ndarray:
    """:func:`reference_encode` over a 1-D array of floats (``rnd`` per element for stochastic)."""
    xs = np.asarray(xs).reshape(-1)
    out = np.empty(xs.size, dtype=fmt.code_dtype)
    for i, x in enumerate(xs.tolist()):
        out[i] = reference_encode(fmt, x, rounding, rnd=0 if rnd is None else int(rnd[i]), sr_bits=sr_bits)
    return out


# -- gfloat --------------------------------------------------------------------------
def gfloat_format(fmt):
    """The gfloat ``FormatInfo`` of ``fmt``, or None where gfloat cannot express it.

    gfloat decodes a zero exponent field with a nonzero fraction as a normal
    number when ``has_subnormals=False``, so FTZ formats with ``man >= 1``
    are not expressible; gfloat has no zero only for ``precision == 1``
    without subnormals; its NaN at the −0 code requires a zero.
    """
    from gfloat import Domain, FormatInfo

    man = fmt.man
    if fmt.has_zero and not fmt.subnormals and man > 0:
        return None
    if not fmt.has_zero and (man > 0 or fmt.specials is Specials.FNUZ):
        return None
    sp = fmt.specials
    high_nans = {Specials.IEEE: (1 << man) - 1, Specials.FN: 1}.get(sp, 0)
    return FormatInfo(
        str(fmt), fmt.bits, man + 1, bias=fmt.bias, is_signed=fmt.signed,
        domain=Domain.Extended if sp is Specials.IEEE else Domain.Finite,
        has_nz=fmt.signed and sp is not Specials.FNUZ, num_high_nans=high_nans,
        has_subnormals=fmt.has_zero, is_twos_complement=False)


def all_formats_small(max_exp=8, max_man=7):
    """Every (exp, man, options) in the test matrix, valid or not, as kwargs dicts."""
    out = []
    for e in range(1, max_exp + 1):
        for m in range(0, max_man + 1):
            for specials in ("ieee", "fn", "fnuz", "none"):
                for subnormals, has_zero in ((True, True), (False, True), (False, False)):
                    for overflow in ("sat", "inf"):
                        for signed in (True, False):
                            out.append(dict(exp=e, man=m, specials=specials, subnormals=subnormals,
                                            overflow=overflow, signed=signed, has_zero=has_zero))
    return out


def make_format(kw):
    """``FloatFormat(**kw)`` or None if it raises ValueError."""
    kw = dict(kw)
    e, m = kw.pop("exp"), kw.pop("man")
    try:
        return nf.FloatFormat(e, m, **kw)
    except ValueError:
        return None
