"""Minifloat multiplier: the product of two floating-point codes, rounded once to a float format.

``FloatMul(a_fmt, b_fmt, out_fmt)`` computes ``out_fmt.encode(a_fmt.decode(a) *
b_fmt.decode(b), rounding)``: the exact product (significands multiplied, exponents
added) rounded once by :func:`hw.rtl._float.round_pack`. Any exponent/mantissa/bias,
specials policy, overflow policy, subnormals on or off, unsigned formats.

NaN results (a NaN operand, or ``0 × inf``) carry the sign ``sign(a) XOR sign(b)``, so the
product of two codes has one defined answer even where the output format has two NaN
codes (``ieee``, ``fn``): the rule of :func:`numfmt.arith.multiply`, which
:meth:`FloatMul.model` calls before numfmt's encoder rounds the product.
"""

from __future__ import annotations

import numpy as np
from amaranth.hdl import Module, Signal

from numfmt import FloatFormat, Rounding
from numfmt.arith import multiply
from numfmt.modes import Specials

from ._float import exp_range, reach, round_pack, signed_bits, unpack
from ._unit import Cuts, Field, Unit, pipeline

__all__ = ["FloatMul", "GivenRandom"]


class GivenRandom(np.random.Generator):
    """A :class:`numpy.random.Generator` whose ``integers`` returns given values.

    It lets a model hand the hardware's random input field to numfmt's stochastic
    rounding, which draws one integer per element with ``rng.integers(0, 2**sr_bits,
    size=n)`` (``docs/formats.md``).

    >>> import numfmt as nf
    >>> nf.parse("e2m1fn").encode([0.25, 0.25], "stochastic", rng=GivenRandom([1, 2]), sr_bits=2).tolist()
    [1, 0]
    """

    def __init__(self, values):
        super().__init__(np.random.PCG64(0))
        self._values = np.asarray(values, dtype=np.int64).reshape(-1)

    def integers(self, low, high=None, size=None, dtype=np.int64, endpoint=False):
        n = int(np.prod(size)) if size is not None else 1
        if n != self._values.size:
            raise ValueError(f"GivenRandom holds {self._values.size} values, not {n}")
        return self._values.copy().reshape(() if size is None else size)


def check_stages(stages):
    if isinstance(stages, bool) or not isinstance(stages, int) or stages < 0:
        raise ValueError(f"stages must be an integer ≥ 0, not {stages!r}")
    return stages


def check_rounding(rounding, sr_bits):
    """The parsed rounding and the random-field width (0 unless stochastic)."""
    rounding = Rounding.parse(rounding, field="rounding")
    if rounding is not Rounding.STOCHASTIC:
        return rounding, 0
    if isinstance(sr_bits, bool) or not isinstance(sr_bits, int) or not 1 <= sr_bits <= 32:
        raise ValueError(f"sr_bits must be an integer in 1..32, not {sr_bits!r}")
    return rounding, sr_bits


def _check_float(name, fmt):
    if not isinstance(fmt, FloatFormat):
        raise TypeError(f"{name} must be a numfmt.FloatFormat, not {fmt!r}")
    return fmt


class FloatMul(Unit):
    """``p = out_fmt.encode(a_fmt.decode(a) * b_fmt.decode(b), rounding)``, pipelined.

    Parameters
    ----------
    a_fmt : FloatFormat
        Format of operand ``a``.
    b_fmt : FloatFormat, optional
        Format of operand ``b`` (default ``a_fmt``).
    out_fmt : FloatFormat, optional
        Format of the product ``p`` (default ``a_fmt``).
    rounding : Rounding or str
        Any :class:`numfmt.Rounding` mode (default ``"rne"``). ``"stochastic"`` adds an
        input field ``rand`` of ``sr_bits`` uniform random bits (see
        :func:`hw.rtl._float.round_pack`).
    sr_bits : int
        Random bits per product for stochastic rounding (1..32).
    stages : int
        Pipeline registers; :attr:`latency` equals ``stages``. ``0``: combinational;
        ``1``: the output code is registered. Each further stage places a register
        inside the datapath, at the cut points of :attr:`CUTS` in turn: ``2`` adds
        one after normalisation (the product's leading-zero count and left shift,
        before the subnormal shift and rounding); ``3`` also one after rounding
        (before the exponent, overflow and special cases are packed); ``4`` also one
        after unpacking, the significand multiply and the exponent add. Stages beyond
        ``4`` register the output code again (they add latency, not speed).

    Fields: in ``a``, ``b`` (``rand``); out ``p``.

    Examples
    --------
    >>> import numfmt as nf
    >>> mul = FloatMul(nf.parse("e4m3fn"))
    >>> mul.latency, list(mul.in_fields), list(mul.out_fields)
    (1, ['a', 'b'], ['p'])
    >>> e4m3 = nf.parse("e4m3fn")
    >>> mul.model({"a": e4m3.encode([1.5, 448.0]), "b": e4m3.encode([1.25, 2.0])})["p"].tolist()  # 1.875, NaN
    [63, 127]
    """

    def __init__(self, a_fmt, b_fmt=None, out_fmt=None, *, rounding="rne", sr_bits: int = 8,
                 stages: int = 1):
        self.a_fmt = _check_float("a_fmt", a_fmt)
        self.b_fmt = _check_float("b_fmt", a_fmt if b_fmt is None else b_fmt)
        self.out_fmt = _check_float("out_fmt", a_fmt if out_fmt is None else out_fmt)
        self.rounding, self.sr_bits = check_rounding(rounding, sr_bits)
        self.stages = check_stages(stages)
        a, b = self.a_fmt, self.b_fmt
        # the model multiplies float64 values: the products must be exact there
        if a.man + b.man + 2 > 53 or a.max_exp + b.max_exp + 2 > 1023 or \
                (a.min_exp - a.man) + (b.min_exp - b.man) < -1074:
            raise ValueError(f"products of {a} and {b} are not exact in float64")
        self.latency = self.stages
        inputs = {"a": Field.of(a), "b": Field.of(b)}
        if self.sr_bits:
            inputs["rand"] = Field(self.sr_bits)
        super().__init__(inputs, {"p": Field.of(self.out_fmt)})

    def reach(self) -> tuple[bool, bool]:
        """``(underflows, overflows)``: whether a product of the operands' codes can fall
        below the output's normal range, and round above its largest magnitude
        (:func:`hw.rtl._float.reach`); the datapath leaves out the logic for a case that
        cannot happen.

        >>> import numfmt as nf
        >>> FloatMul(nf.parse("e2m1"), nf.parse("e2m1"), nf.parse("e4m3")).reach()   # exact
        (False, False)
        """
        return reach(self.out_fmt, *self._product_shape())

    def _product_shape(self) -> tuple[tuple[int, int], int, int]:
        """``(exp_range, width, lead)`` of the exact product the datapath rounds: the
        operands' summed exponent ranges, the significand product's bits, and the sum of
        their :attr:`~hw.rtl._float.Unpacked.lead` (the product is 0 or at least
        ``2**lead``)."""
        (alo, ahi), (blo, bhi) = exp_range(self.a_fmt), exp_range(self.b_fmt)
        ua, ub = unpack(self.a_fmt, Signal(self.a_fmt.bits)), unpack(self.b_fmt, Signal(self.b_fmt.bits))
        return (alo + blo, ahi + bhi), len(ua.sig) + len(ub.sig), ua.lead + ub.lead

    def parameters(self) -> dict:
        p = {"a": str(self.a_fmt), "b": str(self.b_fmt), "out": str(self.out_fmt),
             "rounding": self.rounding.value, "stages": self.stages}
        if self.sr_bits:
            p["sr_bits"] = self.sr_bits
        return p

    def model(self, inputs: dict) -> dict:
        x = self.a_fmt.decode(np.asarray(inputs["a"]))
        y = self.b_fmt.decode(np.asarray(inputs["b"]))
        prod = multiply(x, y)                          # exact; IEEE specials, NaN sign a XOR b
        rng = GivenRandom(inputs["rand"]) if self.sr_bits else None
        codes = self.out_fmt.encode(prod, self.rounding, rng=rng, sr_bits=self.sr_bits or 32)
        return {"p": codes.astype(np.uint64)}

    #: the datapath's cut points, in the order :attr:`stages` fills them (see the class docstring)
    CUTS = ("normalised", "rounded", "product")

    def elaborate(self, platform):
        m = Module()
        ua = unpack(self.a_fmt, self.i.payload.a)
        ub = unpack(self.b_fmt, self.i.payload.b)
        nan = ua.is_nan | ub.is_nan | (ua.is_inf & ub.is_zero) | (ua.is_zero & ub.is_inf)
        inf = ua.is_inf | ub.is_inf
        rand = self.i.payload.rand if self.sr_bits else None
        sign, sig, exp = ua.sign ^ ub.sign, ua.sig * ub.sig, ua.exp + ub.exp
        span, _, lead = self._product_shape()          # sig is 0 or at least 2**lead
        if self.stages < 2:
            code = round_pack(m, self.out_fmt, sign, sig, exp, rounding=self.rounding, rand=rand, nan=nan, inf=inf,
                              exp_range=span, lead=lead)
            pipeline(m, self.i, self.o, code, self.stages)
            return m
        cuts = Cuts(m, self.i, self.o, self.CUTS, active=min(self.stages - 1, len(self.CUTS)))
        fa, fb = self.a_fmt, self.b_fmt
        # flags that no code of the operands can raise are left out (no constant registers)
        has_nan = fa.specials is not Specials.NONE or fb.specials is not Specials.NONE
        has_inf = Specials.IEEE in (fa.specials, fb.specials)
        p = cuts.cut("product", {"sign": sign, "sig": sig[:product_bits(len(ua.sig), len(ub.sig))],
                                 "exp": exp[:signed_bits(*span)].as_signed(), "rand": rand,
                                 "nan": nan if has_nan else 0, "inf": inf if has_inf else 0})
        code = round_pack(m, self.out_fmt, p["sign"], p["sig"], p["exp"], rounding=self.rounding, rand=p["rand"],
                          nan=p["nan"], inf=p["inf"], cut=cuts.cut, exp_range=span, lead=lead)
        pipeline(m, self.i, self.o, code, self.stages, cuts)
        return m


def product_bits(a: int, b: int) -> int:
    """Bits of the product of an ``a``-bit and a ``b``-bit unsigned integer (every bit used).

    >>> product_bits(4, 4), product_bits(1, 4)
    (8, 4)
    """
    return a + b - 1 if min(a, b) == 1 else a + b
