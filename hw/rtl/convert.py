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
its code) is ``±3·2**1023``; see ``numfmt/formats/fixed.py``.
"""

from __future__ import annotations

import numpy as np
from amaranth.hdl import Cat, Const, Module, Mux, Signal, Value, signed

from numfmt import FixedFormat, FloatFormat, IntFormat
from numfmt.modes import Overflow, Rounding

from ._float import round_pack, round_up, unpack
from ._unit import Field, Unit, pipeline
from .fpmul import GivenRandom, check_rounding, check_stages

__all__ = ["Convert", "round_fixed"]

_SCALAR = (FloatFormat, IntFormat, FixedFormat)


def _frac_bits(fmt) -> int:
    return fmt.frac_bits if isinstance(fmt, FixedFormat) else 0


def _fixed_params(fmt):
    """(width, frac_bits, signed, overflow, sat_bits) of an IntFormat or FixedFormat."""
    if isinstance(fmt, FixedFormat):
        return fmt.width, fmt.frac_bits, fmt.signed, fmt.overflow, fmt.sat_bits
    return fmt.bits, 0, fmt.signed, fmt.overflow, 0


def round_fixed(m: Module, fmt, sign, sig, exp, *, rounding=None, rand=None, nan=0, inf=0) -> Signal:
    """The code of an :class:`~numfmt.IntFormat` / :class:`~numfmt.FixedFormat` for
    ``(-1)**sign · sig · 2**exp``, exactly as ``fmt.encode`` converts that value.

    ``sig`` is unsigned (any width), ``exp`` an integer or a signed value. ``nan`` /
    ``inf`` stand for the float64 NaN / inf of ``sign`` that numfmt's ``decode`` returns
    (read as ``±3·2**1023`` / ``±2**1024``, as ``ap_fixed(double)`` does). ``rounding``
    defaults to the format's own; ``"stochastic"`` takes ``rand`` as in
    :func:`hw.rtl._float.round_pack`. Adds combinational logic to ``m``.

    >>> import numfmt as nf
    >>> from amaranth.hdl import Module, Signal
    >>> len(round_fixed(Module(), nf.parse("int4"), Signal(), Signal(6), -2))
    4
    """
    if not isinstance(fmt, (IntFormat, FixedFormat)):
        raise TypeError(f"fmt must be a numfmt.IntFormat or FixedFormat, not {fmt!r}")
    rounding = fmt.default_rounding if rounding is None else Rounding.parse(rounding, field="rounding")
    W, F, is_signed, overflow, N = _fixed_params(fmt)
    if rounding is Rounding.STOCHASTIC:
        if rand is None:
            raise ValueError("rounding='stochastic' needs rand (a Value of sr_bits random bits)")
        rand = Value.cast(rand)
        k = len(rand)
    else:
        if rand is not None:
            raise ValueError(f"rand is only used by rounding='stochastic', not {rounding.value!r}")
        k = 0
    sign, nan, inf = Value.cast(sign), Value.cast(nan), Value.cast(inf)
    sig, exp = Value.cast(sig), Value.cast(exp)

    # the float64 that decode gives for NaN / inf, read as ap_fixed reads a double
    ws = max(len(sig), 2)
    s_sig = Signal(ws, name="rf_sig")
    s_exp = Signal(signed(max(len(exp) + 1, 12)), name="rf_exp")
    with m.If(nan):
        m.d.comb += [s_sig.eq(3), s_exp.eq(1023)]
    with m.Elif(inf):
        m.d.comb += [s_sig.eq(1), s_exp.eq(1024)]
    with m.Else():
        m.d.comb += [s_sig.eq(sig), s_exp.eq(exp)]

    # scale by 2**F: |x|·2**F = s_sig · 2**t; clamp t to [-c, W+1] (no change beyond)
    c = ws + 1 + k
    t = Signal(signed(len(s_exp) + 2 + max(W, abs(F)).bit_length() + 1), name="rf_t")
    m.d.comb += t.eq(s_exp + F)
    tc = Signal(range(-c, W + 2), name="rf_tclamp")
    with m.If(t < -c):
        m.d.comb += tc.eq(-c)
    with m.Elif(t > W + 1):
        m.d.comb += tc.eq(W + 1)
    with m.Else():
        m.d.comb += tc.eq(t)
    shift = Signal(range(W + 1 + c + 1), name="rf_shift")
    m.d.comb += shift.eq(W + 1 - tc)
    X = Cat(Const(0, c), s_sig)
    wide = Signal(c + ws + W + 1, name="rf_scaled")
    m.d.comb += wide.eq((X << (W + 1)) >> shift)
    q = wide[c:]                       # floor(|x|·2**F) (clamped), ws + W + 1 bits
    rem = wide[:c]
    nonzero = rem.any()
    half = 1 << (c - 1)
    up = round_up(rounding, sign, q[0], nonzero, rem > half, rem == half, rand,
                  rem[c - k:] if k else None)
    Q = Signal(len(q) + 1, name="rf_q")
    m.d.comb += Q.eq(q + up)

    mask = (1 << W) - 1
    v = Signal(W, name="rf_wrapped")
    m.d.comb += v.eq(Mux(sign, -Q, Q)[:W])
    q_neg = sign & Q.any()
    if is_signed:
        lim_pos, lim_neg = (1 << (W - 1)) - 1, 1 << (W - 1)
    else:
        lim_pos, lim_neg = mask, 0
    ovf = ~sign & (Q > lim_pos)
    unf = q_neg & (Q > lim_neg)
    if overflow is Overflow.SATURATE_SYMMETRIC and is_signed:
        unf = unf | (q_neg & (Q == lim_neg))

    out = Signal(W, name="rf_code")
    top = W - 1
    if overflow is Overflow.WRAP and N == 0:
        m.d.comb += out.eq(v)
        return out
    adj = Signal(W, name="rf_adjusted")
    if overflow is Overflow.WRAP:
        if is_signed:
            bits = [v[i] for i in range(W)]
            bits[top] = q_neg
            for i in range(W - N, top):
                bits[i] = ~q_neg
            m.d.comb += adj.eq(Cat(*bits))
        else:
            m.d.comb += adj.eq(v | (((1 << N) - 1) << (W - N)))
    elif overflow is Overflow.SATURATE_ZERO:
        m.d.comb += adj.eq(0)
    elif overflow is Overflow.WRAP_SIGN_MAGNITUDE:
        ro = v[top]
        inv = Signal(W, name="rf_inverted")
        m.d.comb += inv.eq(~v)
        if N == 0:
            # lD: bit W of floor(x·2**F) in two's complement (before rounding)
            ceil_mag = q + nonzero
            floor_val = Mux(sign, -ceil_mag, q)
            ld = Value.cast(floor_val)[W]
            flipped = Mux(ld != ro, inv, v)
            m.d.comb += adj.eq(Cat(flipped[:top], ld))
        elif N == 1:
            flipped = Mux(q_neg != ro, inv, v)
            m.d.comb += adj.eq(Cat(flipped[:top], q_neg))
        else:
            lno = v[W - N]
            flipped = Mux(lno == q_neg, inv, v)
            bits = [flipped[i] for i in range(W)]
            for i in range(W - N, top):
                bits[i] = ~q_neg
            bits[top] = q_neg
            m.d.comb += adj.eq(Cat(*bits))
    else:   # SAT, SAT_SYM
        if is_signed:
            neg_lim = lim_neg | (1 if overflow is Overflow.SATURATE_SYMMETRIC else 0)
            m.d.comb += adj.eq(Mux(ovf, lim_pos, neg_lim & mask))
        else:
            m.d.comb += adj.eq(Mux(ovf, mask, 0))
    m.d.comb += out.eq(Mux(ovf | unf, adj, v))
    return out


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
            W, F, is_signed, _, _ = _fixed_params(fin)
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
