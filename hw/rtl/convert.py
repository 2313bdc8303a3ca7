"""Format converter / quantizer: a code of one numfmt format to a code of another.

``Convert(in_fmt, out_fmt)`` computes ``out_fmt.encode(in_fmt.decode(x), rounding)`` for
any pair of :class:`~numfmt.FloatFormat`, :class:`~numfmt.IntFormat` and
:class:`~numfmt.FixedFormat` (``ap_fixed``): every rounding mode (stochastic with a
``rand`` input field), every overflow mode (float: saturate or inf/NaN; fixed/int: the
``ap_fixed`` modes ``sat``, ``sat_zero``, ``sat_sym``, ``wrap`` with saturation bits and
``wrap_sm``), flush-to-zero, every specials policy.

A float NaN or inf converted to a fixed-point or integer format is what numfmt's
``ap_fixed`` conversion reads from the float64 that ``decode`` returns (as the HLS
headers read a double): ±inf is ``±2**1024`` and a NaN (numpy's quiet NaN, the sign of
its code) is ``±3·2**1023``; see ``numfmt/formats/fixed.py``. The fixed-point rounding and
overflow hardware is :func:`hw.rtl._fixed.round_fixed` (re-exported here).
"""

from __future__ import annotations

import numpy as np
from amaranth.hdl import Const, Module, Mux, Signal

from numfmt import FixedFormat, FloatFormat, IntFormat

from ._fixed import fixed_params, round_fixed
from ._float import round_pack, unpack
from ._unit import Field, Unit, pipeline
from .fpmul import GivenRandom, check_rounding, check_stages

__all__ = ["Convert", "round_fixed"]

_SCALAR = (FloatFormat, IntFormat, FixedFormat)


class Convert(Unit):
    """``y = out_fmt.encode(in_fmt.decode(x), rounding)``, pipelined.

    Parameters
    ----------
    in_fmt : FloatFormat, IntFormat or FixedFormat
        Format of the input codes ``x`` (fixed point at most 53 bits, so that
        ``decode`` is exact).
    out_fmt : FloatFormat, IntFormat or FixedFormat
        Format of the output codes ``y``.
    rounding : Rounding or str, optional
        Any :class:`numfmt.Rounding` mode; default ``out_fmt``'s own (``rne`` for floats).
        ``"stochastic"`` adds an input field ``rand`` of ``sr_bits`` random bits; the
        value rounds up iff ``rand`` is below the discarded fraction read to ``sr_bits``
        bits, as ``out_fmt.encode(..., "stochastic", sr_bits=sr_bits)`` uses its random
        integers.
    sr_bits : int
        Width of ``rand`` (1..32).
    stages : int
        Pipeline registers; :attr:`latency` equals ``stages``.

    Examples
    --------
    >>> import numfmt as nf
    >>> q = Convert(nf.parse("fp16"), nf.parse("e4m3fn"))
    >>> q.model({"x": nf.parse("fp16").encode([1.0, 1000.0, 0.0])})["y"].tolist()
    [56, 127, 0]
    """

    def __init__(self, in_fmt, out_fmt, *, rounding=None, sr_bits: int = 8, stages: int = 1):
        for name, f in (("in_fmt", in_fmt), ("out_fmt", out_fmt)):
            if not isinstance(f, _SCALAR):
                raise TypeError(f"{name} must be a numfmt FloatFormat, IntFormat or FixedFormat, not {f!r}")
        if isinstance(in_fmt, FixedFormat) and in_fmt.width > 53:
            raise ValueError(f"in_fmt must be at most 53 bits wide (decode is exact), not {in_fmt.width}")
        self.in_fmt, self.out_fmt = in_fmt, out_fmt
        rounding = out_fmt.default_rounding if rounding is None else rounding
        self.rounding, self.sr_bits = check_rounding(rounding, sr_bits)
        self.stages = check_stages(stages)
        self.latency = self.stages
        inputs = {"x": Field.of(in_fmt)}
        if self.sr_bits:
            inputs["rand"] = Field(self.sr_bits)
        super().__init__(inputs, {"y": Field.of(out_fmt)})

    def parameters(self) -> dict:
        p = {"in": str(self.in_fmt), "out": str(self.out_fmt), "rounding": self.rounding.value,
             "stages": self.stages}
        if self.sr_bits:
            p["sr_bits"] = self.sr_bits
        return p

    def model(self, inputs: dict) -> dict:
        x = self.in_fmt.decode(np.asarray(inputs["x"]))
        rng = GivenRandom(inputs["rand"]) if self.sr_bits else None
        y = self.out_fmt.encode(x, self.rounding, rng=rng, sr_bits=self.sr_bits or 32)
        return {"y": y.astype(np.uint64)}

    def elaborate(self, platform):
        m = Module()
        x = self.i.payload.x
        fin = self.in_fmt
        if isinstance(fin, FloatFormat):
            u = unpack(fin, x)
            sign, sig, exp, nan, inf = u.sign, u.sig, u.exp, u.is_nan, u.is_inf
        else:
            W, F, is_signed, _, _ = fixed_params(fin)
            sign = x[W - 1] if is_signed else Const(0, 1)
            sig = Signal(W, name="cv_mag")
            m.d.comb += sig.eq(Mux(sign, -x, x))
            exp, nan, inf = -F, 0, 0
        rand = self.i.payload.rand if self.sr_bits else None
        if isinstance(self.out_fmt, FloatFormat):
            y = round_pack(m, self.out_fmt, sign, sig, exp, rounding=self.rounding, rand=rand,
                           nan=nan, inf=inf)
        else:
            y = round_fixed(m, self.out_fmt, sign, sig, exp, rounding=self.rounding, rand=rand,
                            nan=nan, inf=inf)
        pipeline(m, self.i, self.o, y, self.stages)
        return m
