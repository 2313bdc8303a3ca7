"""Accumulator specifications: how a sum of products is formed, bit for bit.

A hardware multiply-accumulate and its emulation agree only if they agree on
the register that holds the running sum and on the order in which products
reach it. An accumulator spec states both:

* :class:`ExactAccumulator` — a Kulisch accumulator: the exact sum, converted
  once to the output format. :func:`kulisch_width` gives the register width
  that makes a two's-complement register exact.
* :class:`FixedAccumulator` — a ``width``-bit two's-complement register of
  multiples of ``2**-frac_bits``, wrapping or saturating after every addition.
* :class:`FloatAccumulator` — a register in a :class:`~numfmt.FloatFormat`,
  every addition rounded to it, in a stated :class:`Order`.

:class:`NonFinite` says what the exact and floating accumulators do with inf and
NaN operands: refuse them (the default) or continue as IEEE 754 hardware does.

The exact definitions are in ``docs/arithmetic.md``.

>>> import numfmt as nf
>>> from numfmt.arith import FloatAccumulator, kulisch_width
>>> e4m3 = nf.FLOATS["e4m3fn"]
>>> kulisch_width(e4m3, e4m3, 256)
45
>>> str(FloatAccumulator(nf.FLOATS["fp32"], order="chunked", chunk=16))
'FloatAccumulator(fp32, rounding=rne, order=chunked, chunk=16)'
"""

from __future__ import annotations

import dataclasses
import enum
from fractions import Fraction

import numpy as np

from ..formats import FixedFormat, FloatFormat, IntFormat, SignMagFormat
from ..modes import Overflow, Rounding, _ParsedEnum

__all__ = ["Order", "NonFinite", "ExactAccumulator", "FixedAccumulator", "FloatAccumulator",
           "kulisch_width", "product_range", "exact_fixed_accumulator"]


class Order(_ParsedEnum):
    """The order in which a :class:`FloatAccumulator` adds ``n`` products ``p[0..n-1]``.

    ``R(x)`` is rounding to the accumulator's format; ``init`` is the initial
    value (+0 unless given).

    * ``SEQUENTIAL``: ``s = init; s = R(s + p[k])`` for ``k = 0, 1, ..., n-1``.
    * ``PAIRWISE``: a balanced binary tree over the exact products. Each level
      replaces ``x[0], x[1], x[2], ...`` by ``R(x[0] + x[1]), R(x[2] + x[3]), ...``;
      an odd last element is carried up to the next level unchanged. The root
      ``T`` is then added to the initial value: the result is ``R(init + T)``.
    * ``CHUNKED``: the products are cut into consecutive chunks of ``chunk``
      (the last may be shorter); each chunk is summed ``SEQUENTIAL``-ly from
      +0, giving ``c[0], c[1], ...``; then ``s = init; s = R(s + c[i])`` in
      chunk order.
    """

    SEQUENTIAL = "sequential"
    PAIRWISE = "pairwise"
    CHUNKED = "chunked"

    @classmethod
    def _aliases(cls):
        return {"seq": cls.SEQUENTIAL, "tree": cls.PAIRWISE, "blocked": cls.CHUNKED}

    @property
    def code(self) -> int:
        """Small integer identifying the order inside compiled kernels."""
        return _ORDER_CODES[self]


_ORDER_CODES = {member: i for i, member in enumerate(Order)}


class NonFinite(_ParsedEnum):
    """What an :class:`ExactAccumulator` or :class:`FloatAccumulator` does with inf and NaN.

    * ``RAISE`` (default): an inf or NaN operand or initial value is an error
      (``ValueError`` naming the first one).
    * ``IEEE``: they are accepted and the sum continues as IEEE 754 hardware
      computes it: ``x·inf = ±inf`` (``x ≠ 0``), ``0·inf = NaN``, NaN operands give
      NaN products; ``inf + finite = inf``, ``inf + (−inf) = NaN``, NaN stays NaN.
      A NaN made by this arithmetic is the *positive* NaN; a NaN made by rounding
      an overflowing finite sum (``fn`` formats) keeps the sum's sign. See
      ``docs/arithmetic.md`` (*Non-finite values*).

    For finite operands both modes give the same result, bit for bit.
    """

    RAISE = "raise"
    IEEE = "ieee"


def _nonfinite_field(value):
    return NonFinite.parse(value, field="nonfinite")


@dataclasses.dataclass(frozen=True)
class ExactAccumulator:
    """The exact sum of the products (a Kulisch accumulator), rounded once at the end.

    The sum is formed without any rounding or overflow; the result is then
    converted once to the output format (with the output rounding). For
    operand formats ``fa``, ``fb`` and ``n`` products a two's-complement
    register of :func:`kulisch_width` ``(fa, fb, n)`` bits computes the same.

    Parameters
    ----------
    nonfinite : NonFinite or str
        ``"raise"`` (default) or ``"ieee"``: an output with an inf or NaN among
        its products or initial value is then the IEEE sum (+NaN if some product
        is NaN or infinities of both signs meet, else the infinity).

    >>> ExactAccumulator()
    ExactAccumulator()
    >>> ExactAccumulator(nonfinite="ieee")
    ExactAccumulator(nonfinite=ieee)
    """

    nonfinite: NonFinite = dataclasses.field(default=NonFinite.RAISE, kw_only=True)

    def __post_init__(self):
        object.__setattr__(self, "nonfinite", _nonfinite_field(self.nonfinite))

    def __str__(self) -> str:
        return "ExactAccumulator()" if self.nonfinite is NonFinite.RAISE else \
            f"ExactAccumulator(nonfinite={self.nonfinite})"

    __repr__ = __str__


_MAX_FIXED_WIDTH = 64


@dataclasses.dataclass(frozen=True)
class FixedAccumulator:
    """A ``width``-bit two's-complement register holding multiples of ``2**-frac_bits``.

    Parameters
    ----------
    width : int
        Register width in bits, 1..64 (1..63 with ``overflow="sat"``).
    frac_bits : int
        The register holds integers ``r`` standing for ``r * 2**-frac_bits``
        (may be negative). Every product must be an exact multiple of
        ``2**-frac_bits``; otherwise the operation raises ``ValueError``.
    overflow : Overflow or str
        ``"wrap"``: after every addition ``r`` is reduced to
        ``[-2**(width-1), 2**(width-1))`` modulo ``2**width``. ``"sat"``:
        after every addition ``r`` is clamped to that range. Additions are
        sequential from the initial value (0 unless given), so a saturating
        register keeps the effect of an intermediate overflow even when the
        final sum would fit. (Modular reduction commutes with addition, so
        for ``"wrap"`` the result equals the exact sum reduced once.)

    >>> FixedAccumulator(32, 16, overflow="sat")
    FixedAccumulator(width=32, frac_bits=16, overflow=<Overflow.SATURATE: 'sat'>)
    """

    width: int
    frac_bits: int = 0
    overflow: Overflow = dataclasses.field(default=Overflow.WRAP, kw_only=True)

    def __post_init__(self):
        overflow = Overflow.parse(self.overflow, field="overflow")
        if overflow not in (Overflow.WRAP, Overflow.SATURATE):
            raise ValueError(f"overflow must be 'wrap' or 'sat' for a FixedAccumulator, not {str(overflow)!r}")
        top = _MAX_FIXED_WIDTH - (overflow is Overflow.SATURATE)
        if isinstance(self.width, bool) or not isinstance(self.width, (int, np.integer)) or not 1 <= self.width <= top:
            raise ValueError(f"width must be an integer in 1..{top} for overflow={str(overflow)!r}, "
                             f"not {self.width!r}")
        if isinstance(self.frac_bits, bool) or not isinstance(self.frac_bits, (int, np.integer)) \
                or not -1074 <= self.frac_bits <= 1074:
            raise ValueError(f"frac_bits must be an integer in -1074..1074, not {self.frac_bits!r}")
        object.__setattr__(self, "width", int(self.width))
        object.__setattr__(self, "frac_bits", int(self.frac_bits))
        object.__setattr__(self, "overflow", overflow)

    @property
    def max_int(self) -> int:
        """Largest register integer, ``2**(width-1) - 1``."""
        return (1 << (self.width - 1)) - 1

    @property
    def min_int(self) -> int:
        """Smallest register integer, ``-2**(width-1)``."""
        return -(1 << (self.width - 1))

    def __str__(self) -> str:
        return f"FixedAccumulator(width={self.width}, frac_bits={self.frac_bits}, overflow={self.overflow})"


@dataclasses.dataclass(frozen=True)
class FloatAccumulator:
    """A floating-point register: every addition is rounded to ``fmt``.

    Parameters
    ----------
    fmt : FloatFormat
        The register's format; it must be signed and have a zero.
    rounding : Rounding or str
        Rounding of every addition (a deterministic mode; default ``"rne"``).
    order : Order or str
        ``"sequential"`` (default), ``"pairwise"`` or ``"chunked"``; see
        :class:`Order` for the exact shapes.
    chunk : int, optional
        Chunk length for ``order="chunked"`` (required there, ≥ 1; not
        allowed otherwise).
    nonfinite : NonFinite or str
        ``"raise"`` (default): inf/NaN operands and initial values are errors.
        ``"ieee"``: they are accepted and the additions continue in IEEE
        arithmetic (see below and :class:`NonFinite`).

    Notes
    -----
    Each addition ``x + y`` of finite ``x``, ``y`` is computed exactly and
    rounded once to ``fmt`` as :meth:`FloatFormat.quantize` rounds: the result
    equals ``fmt.quantize(x + y, rounding)`` with ``x + y`` the exact real sum
    (overflow gives inf, ±max, or a NaN of the sum's sign, as ``fmt`` says). An
    exactly zero sum is ``-0`` if both addends are ``-0``, else ``+0`` (``-0``
    under ``"floor"`` when the addends differ), as in IEEE 754; ``fnuz`` formats
    have only +0. An addition with an inf or NaN addend follows IEEE 754: NaN if
    an addend is NaN or the two are infinities of opposite signs — always the
    positive NaN — else the infinity, which ``fmt`` then holds as
    ``fmt.quantize`` converts ±inf (inf, a NaN of its sign, or ±max).

    >>> import numfmt as nf
    >>> FloatAccumulator(nf.FLOATS["bf16"], order="pairwise").order
    <Order.PAIRWISE: 'pairwise'>
    >>> str(FloatAccumulator(nf.FLOATS["fp16"], nonfinite="ieee"))
    'FloatAccumulator(fp16, rounding=rne, order=sequential, nonfinite=ieee)'
    """

    fmt: FloatFormat
    rounding: Rounding = dataclasses.field(default=Rounding.NEAREST_EVEN, kw_only=True)
    order: Order = dataclasses.field(default=Order.SEQUENTIAL, kw_only=True)
    chunk: int | None = dataclasses.field(default=None, kw_only=True)
    nonfinite: NonFinite = dataclasses.field(default=NonFinite.RAISE, kw_only=True)

    def __post_init__(self):
        if not isinstance(self.fmt, FloatFormat):
            raise ValueError(f"fmt must be a FloatFormat, not {self.fmt!r}")
        if not self.fmt.signed or not self.fmt.has_zero:
            raise ValueError(f"fmt must be signed and have a zero to hold a running sum, not {self.fmt}")
        rounding = Rounding.parse(self.rounding, field="rounding")
        if rounding is Rounding.STOCHASTIC:
            raise ValueError("rounding must be a deterministic mode for a FloatAccumulator, not 'stochastic'")
        order = Order.parse(self.order, field="order")
        chunk = self.chunk
        if order is Order.CHUNKED:
            if isinstance(chunk, bool) or not isinstance(chunk, (int, np.integer)) or chunk < 1:
                raise ValueError(f"chunk must be an integer ≥ 1 for order='chunked', not {chunk!r}")
            chunk = int(chunk)
        elif chunk is not None:
            raise ValueError(f"chunk is only used with order='chunked', not order={str(order)!r} (chunk={chunk!r})")
        object.__setattr__(self, "rounding", rounding)
        object.__setattr__(self, "order", order)
        object.__setattr__(self, "chunk", chunk)
        object.__setattr__(self, "nonfinite", _nonfinite_field(self.nonfinite))

    def __str__(self) -> str:
        tail = f", chunk={self.chunk}" if self.order is Order.CHUNKED else ""
        if self.nonfinite is not NonFinite.RAISE:
            tail += f", nonfinite={self.nonfinite}"
        return f"FloatAccumulator({self.fmt}, rounding={self.rounding}, order={self.order}{tail})"


# -- widths --------------------------------------------------------------------------
def _range_in_quanta(fmt):
    """``(lo, hi, q)``: the format's values are integers in ``[lo, hi]`` times ``2**q``."""
    if isinstance(fmt, FloatFormat):
        q = fmt.min_exp - fmt.man                      # weight of the lowest significand bit
        hi = Fraction(fmt.max) / Fraction(2) ** q
        lo = -hi if fmt.signed else Fraction(fmt.min) / Fraction(2) ** q
        return int(lo), int(hi), q
    if isinstance(fmt, FixedFormat):
        return fmt.min_int, fmt.max_int, -fmt.frac_bits
    if isinstance(fmt, (IntFormat, SignMagFormat)):
        return fmt.min, fmt.max, 0
    raise ValueError(f"format must be a FloatFormat, FixedFormat, IntFormat or SignMagFormat, not {fmt!r}")


def product_range(fa, fb):
    """``(lo, hi, q)``: every product ``a*b`` is an integer in ``[lo, hi]`` times ``2**q``.

    ``q`` is the sum of the two formats' lowest bit weights; ``lo`` and ``hi``
    are the extreme products (attained).

    >>> product_range(IntFormat(8), IntFormat(8))
    (-16256, 16384, 0)
    """
    alo, ahi, qa = _range_in_quanta(fa)
    blo, bhi, qb = _range_in_quanta(fb)
    corners = [alo * blo, alo * bhi, ahi * blo, ahi * bhi]
    return min(corners), max(corners), qa + qb


def kulisch_width(fa, fb, n: int) -> int:
    """Bits of the smallest register that sums any ``n`` products of ``fa × fb`` exactly.

    The register holds integers in units of ``2**q``, the product of the two
    formats' lowest bit weights (``2**(min_exp - man)`` for a float,
    ``2**-frac_bits`` for fixed point, 1 for integers). With ``[lo, hi]`` the
    range of one product in those units (:func:`product_range`), any sum of
    ``n`` products lies in ``[n*lo, n*hi]`` and both ends are reached. The
    width is the smallest ``w`` with ``-2**(w-1) <= n*lo`` and
    ``n*hi <= 2**(w-1) - 1`` (two's complement), or, when no product is
    negative (both formats unsigned), the smallest ``w`` with
    ``n*hi <= 2**w - 1`` (an unsigned register). It is tight: some ``n``
    products overflow a register one bit narrower.

    For floats this is at most ``2**ea + ma + 2**eb + mb + ceil(log2 n) - 1``
    (``ea``/``ma``: exponent/mantissa bits), the classical Kulisch width of
    standard biased formats with subnormals; equal to it when ``n`` is a
    power of two and the top binade of both formats is finite (``fn``/
    ``none`` policies, e.g. ``e4m3fn``, the FPGA minifloats). An ``ieee``
    format gives its top binade to inf/NaN, which saves one bit per operand
    (``e5m2``: 2 bits fewer). For signed integers ``ra``, ``rb`` bits:
    ``ra + rb + floor(log2 n)``; unsigned × unsigned: ``bitlen(n*(2**ra-1)*(2**rb-1))``.

    >>> import numfmt as nf
    >>> e4m3, e5m2 = nf.FLOATS["e4m3fn"], nf.FLOATS["e5m2"]
    >>> kulisch_width(e4m3, e4m3, 1), kulisch_width(e5m2, e5m2, 1)
    (37, 65)
    >>> kulisch_width(nf.IntFormat(8), nf.IntFormat(8), 4)
    18
    """
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise ValueError(f"n must be an integer ≥ 1, not {n!r}")
    lo, hi, _ = product_range(fa, fb)
    lo, hi = int(n) * lo, int(n) * hi
    if lo >= 0:
        return max(hi.bit_length(), 1)
    return max(hi.bit_length(), (-lo - 1).bit_length()) + 1


def exact_fixed_accumulator(fa, fb, n: int) -> FixedAccumulator:
    """The :class:`FixedAccumulator` that sums ``n`` products of ``fa × fb`` exactly.

    Its width is :func:`kulisch_width` (as a two's-complement register, one
    bit more when both formats are unsigned) and its quantum the product of
    the formats' lowest bit weights; it never overflows, so its result equals
    :class:`ExactAccumulator`'s.

    >>> import numfmt as nf
    >>> exact_fixed_accumulator(nf.IntFormat(8), nf.IntFormat(8), 256)
    FixedAccumulator(width=24, frac_bits=0, overflow=<Overflow.WRAP: 'wrap'>)
    """
    lo, _, q = product_range(fa, fb)
    width = kulisch_width(fa, fb, n) + (lo >= 0)
    return FixedAccumulator(width, -q, overflow="wrap")
