"""Fixed-point building blocks shared by the RTL units: ``ap_fixed`` rounding and overflow.

The one home of the hardware for numfmt's conversion to an
:class:`~numfmt.IntFormat` / :class:`~numfmt.FixedFormat` (``fmt.encode``: the
``ap_fixed`` quantization modes and the overflow modes ``sat``, ``sat_zero``,
``sat_sym``, ``wrap`` with ``sat_bits`` and ``wrap_sm``; ``docs/formats.md``) and of a
:class:`~numfmt.arith.FixedAccumulator` register update:

* :func:`round_up_from_floor` — the rounding decision on a two's-complement value;
* :func:`round_shift` — ``k / 2**d`` rounded to an integer (``k`` two's complement);
* :func:`ap_overflow` — the code of a rounded integer under the format's overflow mode;
* :func:`cast_fixed` — a two's-complement integer (units ``2**-frac_bits``) to a code
  (:class:`hw.rtl.mac.FixedMac`);
* :func:`round_fixed` — a sign-magnitude value ``±sig·2**exp`` (or a float's NaN/inf)
  to a code, any rounding mode including stochastic (:class:`hw.rtl.convert.Convert`);
* :func:`wrap_or_saturate` — ``base + prod`` in a ``FixedAccumulator`` register
  (the MACs, :mod:`hw.accel.stages`).

Each adds combinational logic to a :class:`amaranth.hdl.Module` and returns a Value; the
units' tests check the results against numfmt code for code.

>>> import numfmt as nf
>>> from amaranth.hdl import Module, Signal, signed
>>> len(cast_fixed(Module(), Signal(signed(12)), 4, nf.parse("ap_fixed<6,3,AP_RND,AP_SAT>")))
6
"""

from __future__ import annotations

from amaranth.hdl import Cat, Const, Module, Mux, Signal, Value, signed

from numfmt import FixedFormat, IntFormat
from numfmt.arith import FixedAccumulator
from numfmt.modes import Overflow, Rounding

from ._float import round_up

__all__ = ["fixed_params", "round_up_from_floor", "round_shift", "ap_overflow", "cast_fixed", "round_fixed",
           "wrap_or_saturate"]


def fixed_params(fmt):
    """``(width, frac_bits, signed, overflow, sat_bits)`` of an IntFormat or FixedFormat.

    >>> import numfmt as nf
    >>> fixed_params(nf.parse("ap_ufixed<8,4>"))[:3], fixed_params(nf.IntFormat(5))[:3]
    ((8, 4, False), (5, 0, True))
    """
    if isinstance(fmt, FixedFormat):
        return fmt.width, fmt.frac_bits, fmt.signed, fmt.overflow, fmt.sat_bits
    if isinstance(fmt, IntFormat):
        return fmt.bits, 0, fmt.signed, fmt.overflow, 0
    raise TypeError(f"fmt must be a numfmt.IntFormat or FixedFormat, not {fmt!r}")


def round_up_from_floor(rounding: Rounding, neg, lsb, nonzero, above, at) -> Value:
    """1 if ``t = floor(x)`` rounds to ``t + 1`` under ``rounding`` (two's complement view).

    ``neg``: x < 0; ``lsb``: bit 0 of ``t``; ``nonzero``/``above``/``at``: the fraction
    ``x - t`` compared with 0 and with one half. The modes' tie rules are those of
    :class:`numfmt.Rounding` (``rnp``: ties toward +inf, ``rna``: away from zero, ...).
    (:func:`hw.rtl._float.round_up` decides the same on a sign and a magnitude.)

    >>> round_up_from_floor(Rounding.CEIL, 0, 0, 1, 0, 0).value
    1
    """
    rounding = Rounding.parse(rounding, field="rounding")
    neg, lsb, nonzero, above, at = (Value.cast(x) for x in (neg, lsb, nonzero, above, at))
    table = {
        Rounding.FLOOR: Const(0, 1),
        Rounding.TOWARD_ZERO: nonzero & neg,
        Rounding.CEIL: nonzero,
        Rounding.AWAY: nonzero & ~neg,
        Rounding.NEAREST_UP: above | at,
        Rounding.NEAREST_DOWN: above,
        Rounding.NEAREST_EVEN: above | (at & lsb),
        Rounding.NEAREST_AWAY: above | (at & ~neg),
        Rounding.NEAREST_ZERO: above | (at & neg),
    }
    if rounding not in table:
        raise ValueError(f"rounding must be a deterministic mode, not {str(rounding)!r}")
    return table[rounding]


def round_shift(m: Module, k, d: int, rounding: Rounding):
    """``(q, t)``: the signed Value ``k / 2**d`` rounded to an integer with ``rounding``,
    and ``t = floor(k / 2**d)``; ``d ≤ 0`` is an exact left shift."""
    k = Value.cast(k)
    if d <= 0:
        q = Signal(signed(len(k) - d + 1), name="cast_q")
        m.d.comb += q.eq(k << -d)
        return q, q
    t = Signal(signed(max(len(k) - d, 1) + 1), name="cast_floor")
    m.d.comb += t.eq(k >> d)
    k_ext = Signal(signed(max(len(k), d) + 1), name="cast_ext")
    m.d.comb += k_ext.eq(k)
    rem = k_ext.as_unsigned()[:d]                   # k - t * 2**d, in [0, 2**d)
    half = 1 << (d - 1)
    up = round_up_from_floor(rounding, k < 0, t[0], rem != 0, rem > half, rem == half)
    q = Signal(signed(len(t) + 1), name="cast_q")
    m.d.comb += q.eq(t + up)
    return q, t


def ap_overflow(m: Module, q, t, fmt, *, span: tuple[int, int] | None = None) -> Signal:
    """The code of the rounded integer ``q`` (signed Value, in units of the format's last
    place) after ``fmt``'s overflow mode: ``sat``, ``sat_zero``, ``sat_sym``, ``wrap``
    (with ``sat_bits``), ``wrap_sm``, as ``fmt.encode`` applies them. ``t`` is the value
    before rounding, floored (two's complement; only ``wrap_sm`` without ``sat_bits``
    reads it, for its ``lD`` bit). ``fmt``: an IntFormat or FixedFormat. ``span``: the
    least and greatest values ``q`` can take, when known; a bound ``q`` cannot pass gets no
    compare, with neither the code is ``q``'s low bits (those constant over the span, when
    ``q`` keeps its sign, stated as constants), and an unsigned ``sat`` code that
    ``q`` leaves below 0 only is ``q``'s bits up to ``span[1]``'s, the rest 0 (synthesis
    does not always prove a compare or those bits constant: a clamp it keeps holds every
    output bit apart)."""
    w, _, is_signed, ovm, n = fixed_params(fmt)
    q, t = Value.cast(q), Value.cast(t)
    if is_signed:
        lim_pos, lim_neg = (1 << (w - 1)) - 1, -(1 << (w - 1))
    else:
        lim_pos, lim_neg = (1 << w) - 1, 0
    sym = ovm is Overflow.SATURATE_SYMMETRIC and is_signed
    can_ovf = span is None or span[1] > lim_pos
    can_unf = span is None or span[0] < lim_neg or (sym and span[0] == lim_neg)
    low = Signal(w, name="cast_low")
    m.d.comb += low.eq(q.as_signed())                 # low w bits (sign-extended when q is narrower)
    if (ovm is Overflow.WRAP and n == 0) or not (can_ovf or can_unf):
        if span is not None and (span[0] < 0) == (span[1] < 0):
            # the code is q's low bits, and q keeps its sign over the span: the bits above the
            # highest that differs between the span's ends are theirs, stated as constants
            # (synthesis finds them only after mapping, too late to drop their registers)
            k = min((span[0] ^ span[1]).bit_length(), w)
            if k < w:
                high = Const((span[0] >> k) & ((1 << (w - k)) - 1), w - k)
                m.d.comb += low.eq(Cat(q[:k], high) if k else high)
        return low
    if ovm is Overflow.SATURATE and not is_signed and not can_ovf:
        # only below 0: the code is q's bits up to its greatest value's, or 0; the bits above
        # are constant 0 (which synthesis then sees, rather than a clamp of q's sign copies)
        out = Signal(w, name="cast_code")
        keep = min(max(span[1], 0).bit_length(), w)
        if keep:                                      # else every q ≤ 0 gives 0
            m.d.comb += out.eq(Mux(q < 0, 0, q[:keep]))
        return out
    ovf = q > lim_pos if can_ovf else Const(0, 1)
    unf = (q <= lim_neg if sym else q < lim_neg) if can_unf else Const(0, 1)
    sign = q < 0
    top = w - 1
    out = Signal(w, name="cast_code")
    m.d.comb += out.eq(low)

    def bits(lo, hi, value):                          # set bits lo..hi (inclusive) of out
        return out[lo:hi + 1].eq(Mux(value, (1 << (hi - lo + 1)) - 1, 0))

    with m.If(ovf | unf):
        if ovm is Overflow.WRAP:
            if is_signed:
                if n > 1:
                    m.d.comb += bits(w - n, top - 1, ~sign)
                m.d.comb += out[top].eq(sign)
            else:
                m.d.comb += bits(w - n, top, 1)
        elif ovm is Overflow.SATURATE_ZERO:
            m.d.comb += out.eq(0)
        elif ovm is Overflow.WRAP_SIGN_MAGNITUDE:
            ro = low[top]
            if n == 0:
                ld = t[min(w, len(t) - 1)]
                with m.If(ld != ro):
                    m.d.comb += [out.eq(~low), out[top].eq(ld)]
            else:
                if n == 1:
                    with m.If(sign != ro):
                        m.d.comb += out.eq(~low)
                else:
                    with m.If(low[w - n] == sign):
                        m.d.comb += out.eq(~low)
                    m.d.comb += bits(w - n, top - 1, ~sign)
                m.d.comb += out[top].eq(sign)
        else:                                          # SAT, SAT_SYM
            if is_signed:
                # the code of -2**(w-1), with bit 0 set for sat_sym: -2**(w-1) + 1, or -1 when
                # w = 1 (the ap_fixed headers' 1-bit AP_SAT_SYM, which numfmt follows)
                sat_neg = (1 << (w - 1)) | (ovm is Overflow.SATURATE_SYMMETRIC)
                m.d.comb += out.eq(Mux(ovf, lim_pos, sat_neg))
            else:
                m.d.comb += out.eq(Mux(ovf, lim_pos, 0))
    return out


def cast_fixed(m: Module, k, frac_bits: int, fmt) -> Signal:
    """The code of ``fmt.encode(k * 2**-frac_bits)`` for the exact signed integer Value ``k``
    (``fmt``'s own rounding and overflow modes)."""
    _, f, _, _, _ = fixed_params(fmt)
    q, t = round_shift(m, k, frac_bits - f, fmt.default_rounding)
    return ap_overflow(m, q, t, fmt)


def round_fixed(m: Module, fmt, sign, sig, exp, *, rounding=None, rand=None, nan=0, inf=0) -> Signal:
    """The code of an :class:`~numfmt.IntFormat` / :class:`~numfmt.FixedFormat` for
    ``(-1)**sign · sig · 2**exp``, exactly as ``fmt.encode`` converts that value.

    ``sig`` is unsigned (any width), ``exp`` an integer or a signed value. ``nan`` /
    ``inf`` stand for the float64 NaN / inf of ``sign`` that numfmt's ``decode`` returns
    (read as ``±3·2**1023`` / ``±2**1024``, as ``ap_fixed(double)`` does). ``rounding``
    defaults to the format's own; ``"stochastic"`` takes ``rand`` as in
    :func:`hw.rtl._float.round_pack`. The magnitude is rounded (:func:`hw.rtl._float.round_up`),
    then :func:`ap_overflow` applies the overflow mode.

    >>> import numfmt as nf
    >>> from amaranth.hdl import Module, Signal
    >>> len(round_fixed(Module(), nf.parse("int4"), Signal(), Signal(6), -2))
    4
    """
    if not isinstance(fmt, (IntFormat, FixedFormat)):
        raise TypeError(f"fmt must be a numfmt.IntFormat or FixedFormat, not {fmt!r}")
    rounding = fmt.default_rounding if rounding is None else Rounding.parse(rounding, field="rounding")
    W, F, _, _, _ = fixed_params(fmt)
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

    # two's complement: the rounded value and the floor of x·2**F (wrap_sm's lD bit)
    rounded = Signal(signed(len(Q) + 1), name="rf_rounded")
    m.d.comb += rounded.eq(Mux(sign, -Q, Q))
    floor = Signal(signed(len(q) + 2), name="rf_floor")
    m.d.comb += floor.eq(Mux(sign, -(q + nonzero), q))
    return ap_overflow(m, rounded, floor, fmt)


def wrap_or_saturate(m: Module, base, prod, acc: FixedAccumulator) -> Value:
    """``base + prod`` reduced to ``acc.width`` bits (modulo, ``wrap``) or clamped (``sat``):
    one update of a :class:`~numfmt.arith.FixedAccumulator` register (signed Values)."""
    w = acc.width
    prod = Value.cast(prod)
    total = Signal(signed(max(w, len(prod)) + 2), name="sum")
    m.d.comb += total.eq(base + prod)
    if acc.overflow is Overflow.WRAP:
        return total[:w].as_signed()
    return Mux(total > acc.max_int, acc.max_int, Mux(total < acc.min_int, acc.min_int, total))
