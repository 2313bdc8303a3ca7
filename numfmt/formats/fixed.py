"""Fixed-point formats with the exact semantics of HLS ``ap_fixed`` / ``ap_ufixed``.

>>> from numfmt.formats.fixed import FixedFormat
>>> q = FixedFormat.from_string("ap_fixed<8,3,AP_RND_CONV,AP_SAT>")
>>> q.quantize([0.3, 100.0, -0.015625]).tolist()
[0.3125, 3.96875, 0.0]
>>> str(FixedFormat(8, 3, signed=False))
'ap_ufixed<8,3>'
"""

from __future__ import annotations

import dataclasses
import functools
import math
import re

import numpy as np

from .. import _threads
from .._kernels import fixed as _k
from .. import _inputs
from .._checks import check_bool as _check_bool
from ..modes import Overflow, Rounding
from ._base import Format

__all__ = ["FixedFormat"]

_MAX_FRAC_BITS = 1074   # the smallest step, 2**-1074, is float64's smallest subnormal
_MAX_INT_BITS = 1023    # every value stays a finite float64


def _check_int(name, value, lo, hi, what=None):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or not lo <= value <= hi:
        raise ValueError(f"{name} must be an integer in {lo}..{hi}{what or ''}, not {value!r}")
    return int(value)


def _check_overflow(value, signed):
    overflow = Overflow.parse(value, field="overflow")
    if overflow is Overflow.INFINITY:
        raise ValueError("overflow must be one of 'sat', 'sat_zero', 'sat_sym', 'wrap', 'wrap_sm' "
                         "for a fixed-point or integer format, not 'inf' (it has no infinity)")
    if overflow is Overflow.WRAP_SIGN_MAGNITUDE and not signed:
        raise ValueError("overflow='wrap_sm' needs signed=True (ap_ufixed rejects AP_WRAP_SM)")
    return overflow


def _check_own_rounding(value, *, ap_only):
    rounding = Rounding.parse(value, field="rounding")
    if rounding is Rounding.STOCHASTIC:
        raise ValueError("rounding must be a deterministic mode, not 'stochastic' "
                         "(pass rounding='stochastic' to encode() instead)")
    if ap_only and rounding.ap_name is None:
        accepted = ", ".join(repr(m.value) for m in Rounding if m.ap_name)
        raise ValueError(f"rounding must be an ap_fixed quantization mode ({accepted}), "
                         f"not {rounding.value!r}")
    return rounding


def _encode(bits, in_e, in_m, *, width, frac_bits, signed, rounding, overflow, sat_bits,
            rand, sr_bits, dtype):
    """Run the compiled ap_fixed conversion on flat input bits; codes of ``dtype``."""
    out = np.empty(bits.size, dtype=dtype)

    def chunk(a, b):
        r = rand[a:b] if rand.size == bits.size else rand      # one random number per element, or none
        _k.encode_fixed(bits[a:b], in_e, in_m, width, frac_bits, signed, rounding.code, overflow.code,
                        sat_bits, r, sr_bits, out[a:b])

    _threads.run(chunk, bits.size)
    return out


def _encode_ints(neg, mag, *, width, frac_bits, signed, rounding, overflow, sat_bits, rand, sr_bits, dtype):
    """Run the compiled conversion on exact integers ``±mag`` (flat bool, uint64); codes of ``dtype``
    (written as uint64 first: one compiled loop for every code width)."""
    out = np.empty(mag.size, dtype=np.uint64)
    _k.encode_ints(neg, mag, width, frac_bits, signed, rounding.code, overflow.code, sat_bits, rand, sr_bits, out)
    return out.astype(dtype, copy=False)


def _check_quantized(fmt, codes):
    """``ValueError`` unless every code's value ``k * 2**-frac_bits`` is exactly a float64.

    Only formats wider than 53 bits have values that float64 does not hold.
    """
    if fmt.width <= 53:
        return
    flat, _ = _inputs.as_codes(codes, fmt.width)
    value = _inputs.first_inexact(*_inputs.int_parts(_to_int(flat, fmt.width, fmt.signed)))
    if value is not None:
        raise ValueError(f"quantize: the result {value} * 2**{-fmt.frac_bits} of {fmt} is not a float64 "
                         "(it has more than 53 significant bits); use encode() and decode_int() for it")


def _to_int(codes, width, signed):
    """Codes (flat uint64) → their integer values: int64, or uint64 for 64-bit unsigned."""
    if width == 64:
        return codes.view(np.int64) if signed else codes
    ints = codes.astype(np.int64)
    if signed:
        ints -= (ints >> (width - 1)) << width     # subtract 2**W where the sign bit is set
    return ints


@functools.lru_cache(maxsize=64)
def _value_table(width, frac_bits, signed):
    """The value of every code of a ≤ 16-bit format (read-only float64 array)."""
    table = _decode(np.arange(1 << width, dtype=np.uint64), width, frac_bits, signed)
    table.flags.writeable = False
    return table


def _decode(codes, width, frac_bits, signed):
    """Codes (flat uint64) → float64 values ``k * 2**-frac_bits`` (exact when k fits 53 bits)."""
    if width <= 16 and codes.size > (1 << width):
        return _value_table(width, frac_bits, signed)[codes]
    # int → float64 rounds to nearest only when |k| ≥ 2**53; the power-of-two scale is exact
    return _to_int(codes, width, signed).astype(np.float64) * math.ldexp(1.0, -frac_bits)


_FIXED_RE = re.compile(r"\s*(ap_fixed|ap_ufixed|fixed|ufixed)\s*<(.*)>\s*", re.ASCII | re.DOTALL)
_INT_RE = re.compile(r"\s*([+-]?\d+)\s*", re.ASCII)


@dataclasses.dataclass(frozen=True)
class FixedFormat(Format):
    """``ap_fixed<width, int_bits, Q, O, N>`` (or ``ap_ufixed``): a two's-complement fixed-point format.

    A code is the ``width``-bit pattern of an integer ``k``; its value is
    ``k * 2**-(width - int_bits)``. Conversion from floats is bit-exact with
    ``ap_fixed_base(double)`` of the HLS ``ap_types`` headers (as shipped with
    hls4ml), including their corner cases (see Notes).

    Parameters
    ----------
    width : int
        Total bits W, 1..64.
    int_bits : int
        Integer bits I, sign included: the binary point sits ``int_bits``
        bits below the top. May be negative or exceed ``width``; the values
        must be finite float64, so ``width - 1074 <= int_bits <= 1023``.
    signed : bool
        False gives ``ap_ufixed``.
    rounding : Rounding or str
        Quantization mode, one of the seven ap_fixed modes (AP_TRN = ``floor``
        by default). ``encode(x, rounding=...)`` may override it with any
        :class:`~numfmt.Rounding`, including ``"stochastic"``.
    overflow : Overflow or str
        AP_WRAP (``"wrap"``, default), AP_SAT (``"sat"``), AP_SAT_ZERO,
        AP_SAT_SYM or AP_WRAP_SM (signed only, as in the headers).
    sat_bits : int
        N, the number of saturated top bits in the wrap modes (0..width).

    Notes
    -----
    The value ``x * 2**frac_bits`` is rounded to an integer ``q`` (in the
    integer domain, from the input's bits). If ``q`` fits, the code is its low
    W bits. Otherwise, with ``sign = q < 0``:

    * ``wrap``: the low W bits of ``q``. With N > 0 (signed) the top bit
      becomes ``sign`` and the N−1 bits below it ``not sign``; unsigned, the
      top N bits become ones, for overflow *and* for negative inputs.
    * ``sat`` / ``sat_zero``: ±the nearest limit / 0. ``sat_sym``: also
      saturates ``q == min``, to ``-max`` (the code ``100…01``; for W = 1 that
      is the code 1).
    * ``wrap_sm`` with N = 0: if bit W−1 of the wrapped bits differs from
      ``lD`` (bit W of ``floor(x * 2**frac_bits)``, before rounding), all W bits
      are inverted and the top bit set to ``lD``: 19 in ``ap_fixed<4,4>``
      gives −4. With N = 1: bits inverted if their top bit differs from
      ``sign``, then the top bit set to ``sign``. With N > 1: bits inverted if
      bit W−N equals ``sign``, then bits W−N..W−2 set to ``not sign`` and the
      top bit to ``sign``.

    Inputs are read as the header reads a double: ±inf is ``±2**1024`` and a
    NaN is ``±(2**52 + payload) * 2**972`` (so ``sat`` gives ±max and ``wrap``
    usually 0); a float64 subnormal ``f * 2**-1074`` is read as
    ``(2**52 + f) * 2**-1075`` (the header keeps the hidden bit), which is
    visible only with more than about 1020 fraction bits. float32/float16
    inputs are widened to float64 first, as ``ap_fixed(float)`` does.

    int64/uint64 inputs are converted as the exact integers they are (not
    through float64), as ``ap_fixed`` converts a ``long long``.

    :meth:`decode` gives float64, exact for W ≤ 53 and rounded to nearest
    for wider formats; :meth:`decode_int` gives the integers ``k`` exactly.
    :meth:`quantize` never rounds: where a result has no exact float64 (W > 53),
    it raises ``ValueError``.

    Examples
    --------
    >>> q = FixedFormat(8, 3, rounding="rnd_conv", overflow="sat")
    >>> str(q), q.max, q.min, q.eps
    ('ap_fixed<8,3,AP_RND_CONV,AP_SAT>', 3.96875, -4.0, 0.03125)
    >>> q.encode([1.0, -1.0, 0.046875]).tolist()
    [32, 224, 2]
    >>> FixedFormat(4, 4, overflow="wrap_sm").quantize(19.0).item()
    -4.0
    """

    width: int
    int_bits: int
    signed: bool = dataclasses.field(default=True, kw_only=True)
    rounding: Rounding = dataclasses.field(default=Rounding.FLOOR, kw_only=True)
    overflow: Overflow = dataclasses.field(default=Overflow.WRAP, kw_only=True)
    sat_bits: int = dataclasses.field(default=0, kw_only=True)

    def __post_init__(self):
        width = _check_int("width", self.width, 1, 64)
        int_bits = _check_int("int_bits", self.int_bits, width - _MAX_FRAC_BITS, _MAX_INT_BITS,
                              f" for width={width}")
        signed = _check_bool("signed", self.signed)
        rounding = _check_own_rounding(self.rounding, ap_only=True)
        overflow = _check_overflow(self.overflow, signed)
        sat_bits = _check_int("sat_bits", self.sat_bits, 0, width, f" for width={width}")
        for name, value in (("width", width), ("int_bits", int_bits), ("signed", signed),
                            ("rounding", rounding), ("overflow", overflow), ("sat_bits", sat_bits)):
            object.__setattr__(self, name, value)

    # -- Format hooks ---------------------------------------------------------
    @property
    def bits(self) -> int:
        """Code width in bits (= :attr:`width`)."""
        return self.width

    @property
    def default_rounding(self) -> Rounding:
        """The format's own quantization mode, :attr:`rounding`."""
        return self.rounding

    def _encode_bits(self, bits, in_e, in_m, rounding, rand, sr_bits):
        return _encode(bits, in_e, in_m, width=self.width, frac_bits=self.frac_bits,
                       signed=self.signed, rounding=rounding, overflow=self.overflow,
                       sat_bits=self.sat_bits, rand=rand, sr_bits=sr_bits, dtype=self.code_dtype)

    _exact_ints = True

    def _encode_ints(self, neg, mag, rounding, rand, sr_bits):
        return _encode_ints(neg, mag, width=self.width, frac_bits=self.frac_bits, signed=self.signed,
                            rounding=rounding, overflow=self.overflow, sat_bits=self.sat_bits,
                            rand=rand, sr_bits=sr_bits, dtype=self.code_dtype)

    def _decode_codes(self, codes):
        return _decode(codes, self.width, self.frac_bits, self.signed)

    def quantize(self, x, rounding=None, *, rng=None, sr_bits: int = 32):
        """``decode(encode(x, ...))``, exactly: ``ValueError`` where float64 cannot hold a result.

        >>> FixedFormat(64, 64).quantize([2**53 + 2, -3]).tolist()
        [9007199254740994.0, -3.0]
        """
        codes = self.encode(x, rounding, rng=rng, sr_bits=sr_bits)
        _check_quantized(self, codes)
        return self.decode(codes)

    # -- introspection --------------------------------------------------------
    @property
    def frac_bits(self) -> int:
        """Fraction bits F = width − int_bits (negative when int_bits > width)."""
        return self.width - self.int_bits

    @property
    def scale(self) -> float:
        """The value of one unit in the last place, ``2**-frac_bits``."""
        return math.ldexp(1.0, -self.frac_bits)

    eps = resolution = scale

    @property
    def max_int(self) -> int:
        """Largest integer ``k`` (value ``k * scale``)."""
        return (1 << (self.width - self.signed)) - 1

    @property
    def min_int(self) -> int:
        """Smallest integer ``k``: ``-2**(width-1)``, or 0 when unsigned."""
        return -(1 << (self.width - 1)) if self.signed else 0

    @property
    def max(self) -> float:
        """Largest value (rounded to float64 when width > 53)."""
        return math.ldexp(float(self.max_int), -self.frac_bits)

    @property
    def min(self) -> float:
        """Smallest value (``-2**(int_bits-1)``, or 0 when unsigned)."""
        return math.ldexp(float(self.min_int), -self.frac_bits)

    def decode_int(self, codes):
        """The integer ``k`` of each code (value ``k * scale``), exactly.

        int64, except uint64 for 64-bit unsigned formats.

        >>> FixedFormat(8, 3).decode_int([0x20, 0xff]).tolist()
        [32, -1]
        """
        flat, shape = _inputs.as_codes(codes, self.width)
        return _to_int(flat, self.width, self.signed).reshape(shape)

    # -- names ----------------------------------------------------------------
    def __str__(self) -> str:
        args = [str(self.width), str(self.int_bits)]
        tail = [self.rounding.ap_name, self.overflow.ap_name, str(self.sat_bits)]
        defaults = [Rounding.FLOOR.ap_name, Overflow.WRAP.ap_name, "0"]
        while tail and tail[-1] == defaults[len(tail) - 1]:
            tail.pop()
        return f"ap_{'' if self.signed else 'u'}fixed<{','.join(args + tail)}>"

    def to_hls(self) -> str:
        """The C++ type, ``ap_fixed<...>`` or ``ap_ufixed<...>`` (same as ``str``)."""
        return str(self)

    @classmethod
    def from_string(cls, s: str) -> "FixedFormat":
        """Parse ``ap_fixed<W,I[,Q[,O[,N]]]>``, ``ap_ufixed<...>`` or hls4ml's ``fixed<...>`` / ``ufixed<...>``.

        Modes may be spelled ``AP_RND_CONV`` or ``RND_CONV`` (any case).

        >>> FixedFormat.from_string("fixed<8, 3, RND_CONV, SAT>")
        FixedFormat(width=8, int_bits=3, signed=True, rounding=<Rounding.NEAREST_EVEN: 'rne'>, overflow=<Overflow.SATURATE: 'sat'>, sat_bits=0)
        """
        m = _FIXED_RE.fullmatch(s) if isinstance(s, str) else None
        if m is None:
            raise ValueError(f"cannot parse {s!r} as a fixed-point type: expected "
                             "ap_fixed<W,I[,Q[,O[,N]]]>, ap_ufixed<...>, fixed<...> or ufixed<...>")
        args = m.group(2).split(",")
        if not 2 <= len(args) <= 5:
            raise ValueError(f"cannot parse {s!r}: {m.group(1)}<...> takes 2 to 5 arguments, "
                             f"not {len(args)}")
        ints = []
        for name, text in zip(("width", "int_bits"), args[:2]):
            im = _INT_RE.fullmatch(text)
            if im is None:
                raise ValueError(f"cannot parse {s!r}: {name} must be an integer, not {text.strip()!r}")
            ints.append(int(im.group(1)))
        kw = {"signed": not m.group(1).endswith("ufixed")}
        try:
            if len(args) > 2:
                kw["rounding"] = Rounding.parse(args[2], field="rounding")
            if len(args) > 3:
                kw["overflow"] = Overflow.parse(args[3], field="overflow")
            if len(args) > 4:
                im = _INT_RE.fullmatch(args[4])
                if im is None:
                    raise ValueError(f"sat_bits must be an integer, not {args[4].strip()!r}")
                kw["sat_bits"] = int(im.group(1))
            return cls(*ints, **kw)
        except ValueError as exc:
            raise ValueError(f"cannot parse {s!r}: {exc}") from None
