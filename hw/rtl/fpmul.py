"""Minifloat multiplier: the product of two floating-point codes, rounded once to a float format.

``FloatMul(a_fmt, b_fmt, out_fmt)`` computes ``out_fmt.encode(a_fmt.decode(a) *
b_fmt.decode(b), rounding)``: the exact product (significands multiplied, exponents
added) rounded once by :func:`hw.rtl._float.round_pack`. Any exponent/mantissa/bias,
specials policy, overflow policy, subnormals on or off, unsigned formats.

NaN results (a NaN operand, or ``0 × inf``) carry the sign ``sign(a) XOR sign(b)``, so the
product of two codes has one defined answer even where the output format has two NaN
codes (``ieee``, ``fn``); :meth:`FloatMul.model` gives numfmt's encoder that signed NaN.
"""

from __future__ import annotations

import numpy as np
from amaranth.hdl import Module

from numfmt import FloatFormat, Rounding

from ._float import round_pack, unpack
from ._unit import Field, Unit, pipeline

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
        Pipeline registers; :attr:`latency` equals ``stages``.

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

    def parameters(self) -> dict:
        p = {"a": str(self.a_fmt), "b": str(self.b_fmt), "out": str(self.out_fmt),
             "rounding": self.rounding.value, "stages": self.stages}
        if self.sr_bits:
            p["sr_bits"] = self.sr_bits
        return p

    def model(self, inputs: dict) -> dict:
        x = self.a_fmt.decode(np.asarray(inputs["a"]))
        y = self.b_fmt.decode(np.asarray(inputs["b"]))
        with np.errstate(invalid="ignore"):          # inf · 0 is NaN
            prod = x * y                               # exact (checked in __init__)
        nan_sign = np.where(np.signbit(x) ^ np.signbit(y), -1.0, 1.0)
        prod = np.where(np.isnan(prod), np.copysign(np.nan, nan_sign), prod)
        rng = GivenRandom(inputs["rand"]) if self.sr_bits else None
        codes = self.out_fmt.encode(prod, self.rounding, rng=rng, sr_bits=self.sr_bits or 32)
        return {"p": codes.astype(np.uint64)}

    def elaborate(self, platform):
        m = Module()
        ua = unpack(self.a_fmt, self.i.payload.a)
        ub = unpack(self.b_fmt, self.i.payload.b)
        nan = ua.is_nan | ub.is_nan | (ua.is_inf & ub.is_zero) | (ua.is_zero & ub.is_inf)
        inf = ua.is_inf | ub.is_inf
        code = round_pack(m, self.out_fmt, ua.sign ^ ub.sign, ua.sig * ub.sig, ua.exp + ub.exp,
                          rounding=self.rounding,
                          rand=self.i.payload.rand if self.sr_bits else None,
                          nan=nan, inf=inf)
        pipeline(m, self.i, self.o, code, self.stages)
        return m
