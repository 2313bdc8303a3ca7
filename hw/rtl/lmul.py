"""L-Mul: floating-point multiplication by additions (Luo & Sun 2024), as :func:`numfmt.units.lmul`.

``LMul(fmt, out_fmt)`` computes, for two codes of ``fmt``, the code of
``numfmt.units.lmul(x, y, fmt, out_fmt, ...)``: the significand product ``(1 + x_m)(1 + y_m)``
is replaced by ``1 + x_m + y_m + 2**-l`` — one ``m``-bit add and an exponent add — and
the result is rounded once to ``out_fmt`` by :func:`hw.rtl._float.round_pack`. Subnormal
operands are normalised exactly (``subnormals="normalize"``) or read as ±0 (``"flush"``);
``mode="adder"`` lets the mantissa carry spill into the exponent as in the paper's Fig. 2.
``docs/units.md`` gives the definition.
"""

from __future__ import annotations

import numpy as np
from amaranth.hdl import Const, Module, Mux, Signal, signed

from numfmt import FloatFormat, Rounding
from numfmt.units import lmul, lmul_offset_exp

from ._float import clz, round_pack, unpack
from ._unit import Field, Unit, pipeline
from .fpmul import check_stages

__all__ = ["LMul"]


class LMul(Unit):
    """``p``: the code of ``lmul(decode(a), decode(b), fmt, out_fmt, ...)``, pipelined.

    Parameters
    ----------
    fmt : FloatFormat
        Format of both operands ``a`` and ``b``.
    out_fmt : FloatFormat, optional
        Format of the result ``p`` (default ``fmt``).
    out_rounding : Rounding or str, optional
        Deterministic rounding to ``out_fmt`` (default its own, ``rne``).
    subnormals : {"normalize", "flush"}
        Subnormal operands normalised exactly, or read as ±0.
    offset_exp : int, optional
        ``l`` of the offset ``2**-l`` (default ``lmul_offset_exp(fmt.man)``).
    mode : {"formula", "adder"}
        The real value of Eq. (3), or the integer-adder datapath (mantissa carry into the
        exponent).
    stages : int
        Pipeline registers; :attr:`latency` equals ``stages``.

    NaN results carry the sign ``sign(a) XOR sign(b)``, as in ``numfmt.units.lmul``.

    Examples
    --------
    >>> import numfmt as nf
    >>> e4m3 = nf.parse("e4m3fn")
    >>> u = LMul(e4m3)
    >>> codes = u.model({"a": e4m3.encode([1.5]), "b": e4m3.encode([1.5])})["p"]
    >>> e4m3.decode(codes).tolist()      # 1 + .5 + .5 + 2**-3 = 2.125, rounded to e4m3fn
    [2.0]
    """

    def __init__(self, fmt, out_fmt=None, *, out_rounding=None, subnormals="normalize",
                 offset_exp=None, mode="formula", stages: int = 1):
        if not isinstance(fmt, FloatFormat):
            raise TypeError(f"fmt must be a numfmt.FloatFormat, not {fmt!r}")
        out_fmt = fmt if out_fmt is None else out_fmt
        if not isinstance(out_fmt, FloatFormat):
            raise TypeError(f"out_fmt must be a numfmt.FloatFormat, not {out_fmt!r}")
        rounding = Rounding.parse(out_fmt.default_rounding if out_rounding is None else out_rounding,
                                  field="out_rounding")
        if rounding is Rounding.STOCHASTIC:
            raise ValueError("out_rounding must be a deterministic mode, not 'stochastic' "
                             "(numfmt.units.lmul rounds without random bits)")
        self.fmt, self.out_fmt, self.out_rounding = fmt, out_fmt, rounding
        self.subnormals, self.mode = subnormals, mode
        self.offset_exp = lmul_offset_exp(fmt.man) if offset_exp is None else offset_exp
        # numfmt checks every other parameter (formats' range, offset_exp, subnormals, mode)
        lmul(np.zeros(0), np.zeros(0), fmt, out_fmt, out_rounding=rounding, subnormals=subnormals,
             offset_exp=self.offset_exp, mode=mode)
        self.stages = check_stages(stages)
        self.latency = self.stages
        super().__init__({"a": Field.of(fmt), "b": Field.of(fmt)}, {"p": Field.of(out_fmt)})

    def parameters(self) -> dict:
        return {"fmt": str(self.fmt), "out": str(self.out_fmt), "rounding": self.out_rounding.value,
                "subnormals": self.subnormals, "offset_exp": self.offset_exp, "mode": self.mode,
                "stages": self.stages}

    def model(self, inputs: dict) -> dict:
        x = self.fmt.decode(np.asarray(inputs["a"]))
        y = self.fmt.decode(np.asarray(inputs["b"]))
        v = lmul(x, y, self.fmt, self.out_fmt, out_rounding=self.out_rounding,
                 subnormals=self.subnormals, offset_exp=self.offset_exp, mode=self.mode)
        # v is a value of out_fmt (or NaN of the product's sign): its code
        return {"p": self.out_fmt.encode(v, self.out_rounding).astype(np.uint64)}

    def _operand(self, m, code, name):
        """(sign, m-bit fraction, exponent of the normalised value, zero, nan, inf)."""
        fmt = self.fmt
        man = fmt.man
        u = unpack(fmt, code)
        lz = clz(m, u.sig)                      # 0 for a normal code
        norm = Signal(man + 1, name=f"{name}_norm")
        m.d.comb += norm.eq((u.sig << lz)[:man + 1])
        e = Signal.like(u.exp, name=f"{name}_exp")
        m.d.comb += e.eq(u.exp + man - lz)        # value = (1 + frac/2**m) · 2**e
        frac = norm[:man] if man else Const(0, 1)
        zero = u.is_zero | (u.is_subnormal if self.subnormals == "flush" else 0)
        return u.sign, frac, e, zero, u.is_nan, u.is_inf

    def elaborate(self, platform):
        m = Module()
        man, l = self.fmt.man, self.offset_exp
        sx, fx, ex, zx, nx, ix = self._operand(m, self.i.payload.a, "a")
        sy, fy, ey, zy, ny, iy = self._operand(m, self.i.payload.b, "b")
        S = Signal(man + 2, name="lmul_sum")
        m.d.comb += S.eq(fx + fy + (1 << (man - l)))
        sig = Signal(man + 3, name="lmul_sig")
        exp = Signal(signed(len(ex) + 3), name="lmul_exp")
        if self.mode == "formula":
            m.d.comb += [sig.eq((1 << man) + S), exp.eq(ex + ey - man)]
        else:
            carry = S[man:]
            low = S[:man] if man else Const(0, 1)
            m.d.comb += [sig.eq((1 << man) + low), exp.eq(ex + ey + carry - man)]
        zero = zx | zy
        nan = nx | ny | (zero & (ix | iy))
        inf = ix | iy
        code = round_pack(m, self.out_fmt, sx ^ sy, Mux(zero, 0, sig), exp,
                          rounding=self.out_rounding, nan=nan, inf=inf)
        pipeline(m, self.i, self.o, code, self.stages)
        return m
