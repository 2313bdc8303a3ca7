"""Floating-point formats: FP32 down to FP4 and any exponent/mantissa/bias.

>>> from numfmt import FloatFormat
>>> e4m3 = FloatFormat(4, 3, specials="fn")
>>> e4m3.max, e4m3.smallest_subnormal
(448.0, 0.001953125)
>>> int(e4m3.encode(1.0)), float(e4m3.decode(0x7e))
(56, 448.0)
"""

from __future__ import annotations

import dataclasses
import functools
import math

import numpy as np

from .. import _inputs, _threads
from .._kernels import floating as _k
from .._checks import check_bool as _check_bool
from .._checks import check_int as _check_int
from ..modes import Overflow, Rounding, Specials
from ._base import Format

__all__ = ["FloatFormat"]

# Inputs at least this long go through a cached lookup table (built by the
# exact kernel itself) when the result depends on few input bits.
_LUT_MIN_SIZE = 1 << 15
# Codes of ≤ 16-bit formats, at least this many, are decoded through a cached table
# of every code's value (built by the decode kernel itself).
_VALUE_TABLE_MIN_SIZE = 1 << 12

_FIELDS = ("bias", "specials", "subnormals", "overflow", "signed", "has_zero", "negative_nan")


@dataclasses.dataclass(frozen=True)
class FloatFormat(Format):
    """A binary floating-point format with ``exp`` exponent and ``man`` mantissa bits.

    Parameters
    ----------
    exp : int
        Exponent field width (≥ 1).
    man : int
        Mantissa (fraction) field width (≥ 0). Sign + exp + man ≤ 32 bits.
    bias : int, optional
        Exponent bias; default ``2**(exp-1) - 1``.
    specials : Specials or str
        ``"ieee"`` (inf and NaN at the all-ones exponent), ``"fn"`` (NaN only
        at the all-ones magnitude, no inf), ``"fnuz"`` (one NaN at the −0 code,
        no inf, no −0) or ``"none"`` (every code a finite number).
    subnormals : bool
        False flushes to zero: inputs below the smallest normal become ±0
        before rounding, and codes with a zero exponent field decode to ±0.
    overflow : Overflow or str, optional
        ``"inf"``: a rounded magnitude above :attr:`max` becomes inf, or NaN
        where the policy has NaN but no inf (the default when the policy has
        either). Rounding modes that round toward zero for the value's sign
        give ±max instead, as IEEE 754 does. ``"sat"``: ±max (the default
        and the only choice for ``specials="none"``); inf inputs too, where
        the format has no inf.
    signed : bool
        False drops the sign bit (e.g. the E8M0 scale of OCP MX).
    has_zero : bool
        False makes the zero exponent field an ordinary binade (E8M0): there
        is no zero, zero inputs give NaN, and tiny inputs give the smallest
        value. Needs ``subnormals=False``.
    negative_nan : bool
        True makes every negative input NaN, also one that rounds to zero
        (ml_dtypes' ``float8_e5m3fnu``); ``-0.0`` still gives +0. Needs
        ``signed=False``, a NaN and a zero (otherwise nothing changes).

    Notes
    -----
    NaN inputs give the format's NaN with the input's sign (a quiet NaN for
    ``ieee``). A format without NaN has no right answer; it gives zero with
    the opposite sign bit, as ml_dtypes does. Negative inputs to an unsigned
    format give NaN (or 0 without NaN) unless they round to zero (see
    ``negative_nan``).

    >>> e5m3fnu = FloatFormat(5, 3, specials="fn", signed=False, negative_nan=True)
    >>> e5m3fnu.encode([1.0, -1e-30, -0.0]).tolist()
    [120, 255, 0]
    """

    exp: int
    man: int
    bias: int | None = dataclasses.field(default=None, kw_only=True)
    specials: Specials = dataclasses.field(default=Specials.IEEE, kw_only=True)
    subnormals: bool = dataclasses.field(default=True, kw_only=True)
    overflow: Overflow | None = dataclasses.field(default=None, kw_only=True)
    signed: bool = dataclasses.field(default=True, kw_only=True)
    has_zero: bool = dataclasses.field(default=True, kw_only=True)
    negative_nan: bool = dataclasses.field(default=False, kw_only=True)

    def __post_init__(self):
        exp = _check_int("exp", self.exp, 1, 31)
        man = _check_int("man", self.man, 0, 31)
        signed = _check_bool("signed", self.signed)
        if signed + exp + man > 32:
            raise ValueError(f"sign + exp + man must be ≤ 32 bits, not {signed + exp + man} "
                             f"(exp={exp}, man={man}, signed={signed})")
        bias = (1 << (exp - 1)) - 1 if self.bias is None else _check_int("bias", self.bias)
        specials = Specials.parse(self.specials, field="specials")
        subnormals = _check_bool("subnormals", self.subnormals)
        has_zero = _check_bool("has_zero", self.has_zero)
        negative_nan = _check_bool("negative_nan", self.negative_nan)
        if self.overflow is None:
            overflow = Overflow.SATURATE if specials is Specials.NONE else Overflow.INFINITY
        else:
            overflow = Overflow.parse(self.overflow, field="overflow")
        set_ = object.__setattr__
        for name, value in (("exp", exp), ("man", man), ("bias", bias), ("specials", specials),
                            ("subnormals", subnormals), ("overflow", overflow),
                            ("signed", signed), ("has_zero", has_zero), ("negative_nan", negative_nan)):
            set_(self, name, value)
        if overflow not in (Overflow.SATURATE, Overflow.INFINITY):
            raise ValueError(f"overflow must be 'sat' or 'inf' for a float format, not {str(overflow)!r}")
        if overflow is Overflow.INFINITY and specials is Specials.NONE:
            raise ValueError("overflow='inf' needs a format with inf or NaN, not specials='none'")
        if specials is Specials.IEEE and man == 0:
            raise ValueError("specials='ieee' needs man ≥ 1 for its NaN codes, not man=0")
        if specials is Specials.FNUZ and not signed:
            raise ValueError("specials='fnuz' puts NaN at the −0 code and needs signed=True, not signed=False")
        if not has_zero and subnormals:
            raise ValueError("has_zero=False makes the zero exponent a normal binade and needs "
                             "subnormals=False, not subnormals=True")
        if negative_nan and signed:
            raise ValueError("negative_nan=True is for unsigned formats and needs signed=False, not signed=True")
        if negative_nan and specials is Specials.NONE:
            raise ValueError("negative_nan=True needs a format with NaN, not specials='none'")
        if negative_nan and not has_zero:
            raise ValueError("negative_nan=True changes nothing without a zero (no negative input rounds to "
                             "zero) and needs has_zero=True, not has_zero=False")
        if self._max_mag_code < self._min_mag_code:
            raise ValueError(f"{self!r} has no finite nonzero value")
        emax = (self._max_mag_code >> man) - bias
        if emax > 1023 or self.min_exp - man < -1074:
            raise ValueError(f"the values of exp={exp}, bias={bias} lie outside float64's range "
                             f"(largest exponent {emax}, smallest {self.min_exp - man})")

    # -- derived constants ------------------------------------------------------
    @property
    def bits(self) -> int:
        """Code width: sign (if any) + exp + man."""
        return int(self.signed) + self.exp + self.man

    @property
    def has_inf(self) -> bool:
        """True if ±inf are codes of this format."""
        return self.specials is Specials.IEEE

    @property
    def has_nan(self) -> bool:
        """True if NaN is a code of this format."""
        return self.specials is not Specials.NONE

    @property
    def min_exp(self) -> int:
        """Exponent of the smallest normal binade (``1 - bias``; ``-bias`` without zero)."""
        return 1 - self.bias if self.has_zero else -self.bias

    @property
    def _max_mag_code(self) -> int:
        e, m = self.exp, self.man
        if self.specials is Specials.IEEE:
            return (((1 << e) - 1) << m) - 1
        if self.specials is Specials.FN:
            return (1 << (e + m)) - 2
        return (1 << (e + m)) - 1

    @property
    def _min_mag_code(self) -> int:
        """Magnitude code of the smallest positive value."""
        if not self.has_zero:
            return 0
        return 1 if self.subnormals else 1 << self.man

    def _value_of_mag_code(self, c: int) -> float:
        b, f = c >> self.man, c & ((1 << self.man) - 1)
        if b == 0 and self.has_zero:
            return math.ldexp(f, 1 - self.bias - self.man)
        return math.ldexp(f | (1 << self.man), b - self.bias - self.man)

    @property
    def max(self) -> float:
        """Largest finite value."""
        return self._value_of_mag_code(self._max_mag_code)

    @property
    def min(self) -> float:
        """Smallest finite value (``-max``, or the smallest value when unsigned)."""
        if self.signed:
            return -self.max
        return 0.0 if self.has_zero else self._value_of_mag_code(0)

    @property
    def smallest_normal(self) -> float:
        """Smallest positive normal value (``np.finfo.smallest_normal``)."""
        return math.ldexp(1.0, self.min_exp)

    @property
    def smallest_subnormal(self) -> float:
        """Smallest positive value (the smallest normal when there are no subnormals)."""
        return self._value_of_mag_code(self._min_mag_code)

    @property
    def eps(self) -> float:
        """Distance from 1.0 to the next larger value of the form ``2**-man``."""
        return math.ldexp(1.0, -self.man)

    @property
    def max_exp(self) -> int:
        """Exponent of the largest finite value's binade."""
        return (self._max_mag_code >> self.man) - self.bias

    @property
    def _sign_bit(self) -> int:
        return 1 << (self.exp + self.man) if self.signed else 0

    @property
    def nan_code(self) -> int | None:
        """The code encode() gives for +NaN (a quiet NaN), or None without NaN."""
        return self._special_codes()[0] if self.has_nan else None

    def _special_codes(self):
        """(nan_pos, nan_neg, inf_pos, inf_neg, zero_neg, neg_unsigned) codes."""
        e, m, sb = self.exp, self.man, self._sign_bit
        max_pos = self._max_mag_code
        if self.specials is Specials.IEEE:
            nan = (((1 << e) - 1) << m) | (1 << (m - 1))
            nan_pos, nan_neg = nan, nan | sb
        elif self.specials is Specials.FN:
            nan_pos, nan_neg = (1 << (e + m)) - 1, ((1 << (e + m)) - 1) | sb
        elif self.specials is Specials.FNUZ:
            nan_pos = nan_neg = sb
        elif self.has_zero:  # no NaN: zero with the opposite sign bit, as ml_dtypes
            nan_pos, nan_neg = sb, 0
        else:  # no NaN and no zero: the smallest magnitude, same sign
            nan_pos, nan_neg = 0, sb
        if self.specials is Specials.IEEE:
            inf_pos, inf_neg = ((1 << e) - 1) << m, (((1 << e) - 1) << m) | sb
        elif self.overflow is Overflow.INFINITY:
            inf_pos, inf_neg = nan_pos, nan_neg
        else:
            inf_pos, inf_neg = max_pos, max_pos | sb
        zero_neg = sb if self.specials is not Specials.FNUZ else 0
        neg_unsigned = nan_pos if self.has_nan else 0
        return nan_pos, nan_neg, inf_pos, inf_neg, zero_neg, neg_unsigned

    def _kernel_params(self) -> tuple:
        p = [0] * _k.P_COUNT
        p[_k.P_EXP], p[_k.P_MAN], p[_k.P_BIAS] = self.exp, self.man, self.bias
        p[_k.P_SIGNED] = self.signed
        p[_k.P_FTZ] = self.has_zero and not self.subnormals
        p[_k.P_HAS_ZERO] = self.has_zero
        p[_k.P_EMIN] = self.min_exp
        p[_k.P_MAX_MAG] = self._max_mag_code
        p[_k.P_OVF_INF] = self.overflow is Overflow.INFINITY
        (p[_k.P_NAN_POS], p[_k.P_NAN_NEG], p[_k.P_INF_POS], p[_k.P_INF_NEG],
         p[_k.P_ZERO_NEG], p[_k.P_NEG_UNSIGNED]) = self._special_codes()
        p[_k.P_SPECIALS] = self.specials.code
        p[_k.P_NEG_NAN] = self.negative_nan
        return tuple(int(v) for v in p)

    # -- encode / decode -------------------------------------------------------------
    def encode(self, x, rounding=None, *, rng=None, sr_bits: int = 32, nan_payload: bool = False):
        """Round ``x`` to this format; return the codes (see :meth:`Format.encode`).

        ``nan_payload=True`` keeps the top bits of a NaN's payload in an
        ``ieee`` format (numpy's float16 cast does this); by default every NaN
        becomes the quiet NaN of its sign (ml_dtypes does this).

        >>> FloatFormat(5, 2).encode([1.0, -3.5]).tolist()
        [60, 195]
        """
        return self._encode_with(x, rounding, rng, sr_bits, nan_payload=_check_bool("nan_payload", nan_payload))

    def quantize(self, x, rounding=None, *, rng=None, sr_bits: int = 32, nan_payload: bool = False):
        """``decode(encode(x, ...))``: the nearest value of this format, as float64."""
        if self.bits <= 16 and isinstance(x, np.ndarray) and x.dtype in (np.float32, np.float64) \
                and x.size >= _LUT_MIN_SIZE:
            # one pass through the encode table of _encode_bits and the decode table of _decode_codes
            mode = self.default_rounding if rounding is None else Rounding.parse(rounding, field="rounding")
            bits, in_e, in_m, shape = _inputs.float_bits(x)
            if mode is not Rounding.STOCHASTIC and self._lut_exact(in_e, in_m):
                table = _lut(self, mode, in_e, in_m, _check_bool("nan_payload", nan_payload))
                values, low_bits = _value_table(self), in_e + in_m + 1 - 16
                out = np.empty(bits.size, dtype=np.float64)
                _threads.run(lambda a, b: _k.quantize_lut_hi16(bits[a:b], low_bits, table, values, out[a:b]),
                             bits.size)
                return out.reshape(shape)
        return self.decode(self.encode(x, rounding, rng=rng, sr_bits=sr_bits, nan_payload=nan_payload))

    def _encode_bits(self, bits, in_e, in_m, rounding: Rounding, rand, sr_bits, nan_payload=False):
        out = np.empty(bits.size, dtype=self.code_dtype)
        if rounding is Rounding.NEAREST_EVEN and (in_e, in_m) == (8, 23) and bits.size >= _LUT_MIN_SIZE \
                and _k.f32_nearest_ok(p := self._kernel_params()):
            _threads.run(lambda a, b: _k.encode_f32_nearest(bits[a:b], p, nan_payload, out[a:b]), bits.size)
            return out
        if rounding is not Rounding.STOCHASTIC and self.bits <= 16 and bits.size >= _LUT_MIN_SIZE:
            if bits.dtype == np.uint16:
                table = _lut(self, rounding, in_e, in_m, nan_payload)
                _threads.run(lambda a, b: _k.encode_lut16(bits[a:b], table, out[a:b]), bits.size)
                return out
            if self._lut_exact(in_e, in_m):
                low_bits = in_e + in_m + 1 - 16
                table = _lut(self, rounding, in_e, in_m, nan_payload)
                _threads.run(lambda a, b: _k.encode_lut_hi16(bits[a:b], low_bits, table, out[a:b]), bits.size)
                return out
        kernel, p = _k.encoder(in_e, in_m, rounding.code), self._kernel_params()
        if rand.size != bits.size:          # not stochastic: every chunk reads no random numbers
            _threads.run(lambda a, b: kernel(bits[a:b], p, rand, sr_bits, nan_payload, out[a:b]), bits.size)
        else:
            _threads.run(lambda a, b: kernel(bits[a:b], p, rand[a:b], sr_bits, nan_payload, out[a:b]),
                         bits.size)
        return out

    def _lut_exact(self, in_e: int, in_m: int) -> bool:
        """True if an input's bits below the top 16 matter only through being nonzero.

        With ``L`` low bits, that holds when every rounding discards more than
        ``L`` bits: for normal inputs ``in_m - man > L``; for subnormal inputs
        the unit in the last place of the result, ``2**(min_exp - man)``, is
        more than ``L`` bits above the input's quantum (which also puts the
        flush-to-zero threshold above every subnormal whose top bit is low).
        """
        low = in_e + in_m + 1 - 16
        in_quantum_exp = 2 - (1 << (in_e - 1)) - in_m
        return in_m - self.man > low and self.min_exp - self.man - in_quantum_exp > low

    def _decode_codes(self, codes):
        if self.bits <= 16 and codes.size >= _VALUE_TABLE_MIN_SIZE:
            return _value_table(self).take(codes)
        out = np.empty(codes.size, dtype=np.float64)
        p = self._kernel_params()
        _threads.run(lambda a, b: _k.decode_float(codes[a:b], p, out[a:b]), codes.size)
        return out

    # -- names ------------------------------------------------------------------------
    def __str__(self) -> str:
        from ..catalogue import float_name
        return float_name(self)

    def overrides(self, base: "FloatFormat") -> dict:
        """The keyword fields in which this format differs from ``base``."""
        return {name: getattr(self, name) for name in _FIELDS
                if getattr(self, name) != getattr(base, name)}

    @classmethod
    def from_string(cls, text: str) -> "FloatFormat":
        """Parse ``e4m3``, a catalogue name, or either with ``(key=value, ...)`` overrides.

        >>> FloatFormat.from_string("e5m2(overflow=sat)").overflow
        <Overflow.SATURATE: 'sat'>
        """
        from ..catalogue import parse_float
        return parse_float(text)



@functools.lru_cache(maxsize=64)
def _lut(fmt: FloatFormat, rounding: Rounding, in_e: int, in_m: int, nan_payload: bool):
    """The codes of every 16-bit input, or of every (hi16, low != 0) class of wider inputs."""
    width = in_e + in_m + 1
    if width == 16:
        reps = np.arange(1 << 16, dtype=np.uint16)
    else:
        utype = np.dtype(f"uint{width}").type
        hi = np.arange(1 << 16, dtype=utype) << utype(width - 16)
        reps = np.stack([hi, hi | utype(1)], axis=1).reshape(-1)
    table = np.empty(reps.size, dtype=fmt.code_dtype)
    _k.encoder(in_e, in_m, rounding.code)(reps, fmt._kernel_params(), np.zeros(1, dtype=np.int64),
                                          32, nan_payload, table)
    table.setflags(write=False)
    return table


@functools.lru_cache(maxsize=64)
def _value_table(fmt: FloatFormat):
    """The value of every code of a ≤ 16-bit format, by the decode kernel (read-only float64)."""
    codes = np.arange(1 << fmt.bits, dtype=np.uint64)
    table = np.empty(codes.size, dtype=np.float64)
    _k.decode_float(codes, fmt._kernel_params(), table)
    table.setflags(write=False)
    return table
