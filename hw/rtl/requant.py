"""The dyadic requantizer: ``q = sat(round(acc * b / 2**c) + zero_point)`` in hardware.

:class:`Requantizer` is the RTL of :class:`numfmt.quant.Requantizer`: an integer
multiply by ``b`` (times ``2**-c`` when the shift ``c`` is negative), a rounding right
shift by ``c`` with the requantizer's rounding mode, the zero point, and saturation or
wrap to the output :class:`~numfmt.IntFormat`. Per-tensor or per-channel parameters
(then an input field ``channel`` selects them). A per-tensor ``b`` is a constant: the
multiply is shifted copies of ``acc`` added and subtracted over its canonical signed
digits (:func:`csd`), which Yosys builds in far fewer LUTs than its own constant
multiplier (``synth_xilinx -nodsp``, 16-bit ``acc``: ``b = 32767`` 30 LUTs against 293,
``b = 205`` 84 against 104). Stateless: ``stages`` registers
(:func:`~hw.rtl._unit.pipeline`), latency ``stages``. See ``docs/hw_mac.md``.

>>> import numpy as np, numfmt as nf
>>> from numfmt.quant import Requantizer as Rq
>>> unit = Requantizer(Rq.from_scale(0.0123, nf.IntFormat(8), mult_bits=16), acc_bits=24)
>>> out = unit.model({"acc": np.array([1000, 2**24 - 1000], dtype=np.uint64)})
>>> nf.IntFormat(8).decode(out["q"]).tolist()
[12.0, -12.0]
"""

from __future__ import annotations

import numpy as np
from amaranth.hdl import Const, Module, Signal, signed

from numfmt import quant as _quant
from numfmt.formats import FixedFormat, IntFormat
from numfmt.modes import Overflow, Rounding

from ._fixed import ap_overflow, round_up_from_floor
from ._float import signed_bits
from ._unit import Field, Unit, pipeline

__all__ = ["Requantizer", "csd", "MULTIPLY"]

_MAX_ACC_BITS = 63

MULTIPLY = ("shift_add", "operator")

SATURATE = ("result", "accumulator")


def csd(b: int) -> list[tuple[int, int]]:
    """The canonical signed digits of the integer ``b ≥ 0`` (the non-adjacent form), as
    ``(sign, position)`` pairs, lowest first: ``b = Σ sign·2**position``, no two positions
    adjacent, the fewest nonzero digits of any signed-binary form. Each step takes the lowest
    digit ``d = 2 − (b mod 4)`` when ``b`` is odd, then ``b ← (b − d)/2``.

    >>> csd(7), csd(0b1011), csd(0)          # 8 − 1; 16 − 4 − 1
    ([(-1, 0), (1, 3)], [(-1, 0), (-1, 2), (1, 4)], [])
    """
    if isinstance(b, bool) or not isinstance(b, (int, np.integer)) or b < 0:
        raise ValueError(f"b must be a non-negative integer, not {b!r}")
    b, k, out = int(b), 0, []
    while b:
        if b & 1:
            d = 2 - (b & 3)
            out.append((d, k))
            b -= d
        b >>= 1
        k += 1
    return out


def _shift_add(m: Module, acc, b: int):
    """``acc · b`` for a constant ``b ≥ 0``: shifted copies of ``acc`` added and subtracted over
    the canonical signed digits of ``b``'s odd part (the top digit first: it is +1), held in
    a signal of exactly the product's range, then shifted left by ``b``'s trailing zeros.
    Synthesis then sees the product's constant low bits and its sign-extension as such."""
    if b == 0:
        return Const(0, signed(1))
    zeros = (b & -b).bit_length() - 1
    odd = b >> zeros
    lo, hi = -(1 << (len(acc) - 1)) * odd, ((1 << (len(acc) - 1)) - 1) * odd
    bits = max((-lo - 1).bit_length(), hi.bit_length()) + 1
    digits = csd(odd)[::-1]
    total = acc << digits[0][1]
    for sign, k in digits[1:]:
        total = total + (acc << k) if sign > 0 else total - (acc << k)
    product = Signal(signed(bits), name="product_odd")
    m.d.comb += product.eq(total)
    return product << zeros


def _trailing(k: int, bits: int) -> int:
    """Trailing zero bits of ``k`` (two's complement), at most ``bits − 1``."""
    return min(((k & -k).bit_length() - 1) if k else bits, bits - 1)


def _acc_format(bits: int):
    return IntFormat(bits, overflow="wrap") if bits <= 32 else FixedFormat(bits, bits)


class Requantizer(Unit):
    """RTL of a :class:`numfmt.quant.Requantizer` (per-tensor or per-channel).

    Parameters
    ----------
    requantizer : numfmt.quant.Requantizer
        Multiplier ``b``, shift ``c`` (scalars, or 1-d per channel), output
        :class:`~numfmt.IntFormat` (overflow ``"sat"`` or ``"wrap"``), rounding mode
        and zero point. Its ``axis`` is not used: the channel is an input field.
    acc_bits : int
        Width of the signed input accumulator, 1..63. Every accumulator must be in
        the requantizer's range (``max_abs_acc ≥ 2**(acc_bits-1)``), so that
        ``acc * b`` is exact in numfmt's int64 model.
    stages : int
        Pipeline registers (≥ 0; 0 is combinational). Latency ``stages``.
    multiply : {"shift_add", "operator"}
        How a per-tensor (constant) ``b`` is multiplied: ``"shift_add"`` (default) adds and
        subtracts shifted copies of ``acc`` over its canonical signed digits (:func:`csd`);
        ``"operator"`` writes ``acc * b`` and leaves it to synthesis (a DSP block where the
        target has them and the tool uses them). Per-channel parameters always use the
        operator (``b`` is a variable).
    saturate : {"result", "accumulator"}
        Where a per-tensor saturating output is saturated. ``"result"`` (default) clamps
        the rounded value ``y``, so the whole product is built. ``"accumulator"`` compares
        ``acc`` with the constant bounds beyond which the output saturates
        (:meth:`saturation_bounds`) and otherwise keeps the low ``out_bits`` of ``y``, as a
        wrapping output does: the product's columns above ``c + out_bits`` are not built
        (``synth_xilinx -nodsp``, the 60 fit configurations of the cost calibration: 3511 →
        2552 LUTs, ``docs/hw_mac.md``). Wrapping outputs and per-channel parameters ignore
        it. The cost model does not cover it yet.

    Fields: in ``acc`` (two's complement, ``IntFormat(acc_bits)``; above 32 bits
    ``FixedFormat(acc_bits, acc_bits)``) and, with per-channel parameters, ``channel``
    (unsigned, ``max(1, bitlen(C-1))`` bits; an index ≥ ``C`` uses channel ``C - 1``);
    out ``q`` (a code of ``out_format``).

    >>> import numfmt as nf
    >>> from numfmt.quant import Requantizer as Rq
    >>> unit = Requantizer(Rq([3, 5, 7], [2, 1, 0], nf.IntFormat(4), rounding="rne"), acc_bits=8)
    >>> sorted(unit.in_fields), unit.in_fields["channel"].width, unit.latency
    (['acc', 'channel'], 2, 1)
    """

    def __init__(self, requantizer, acc_bits: int, *, stages: int = 1, multiply: str = "shift_add",
                 saturate: str = "result"):
        if not isinstance(requantizer, _quant.Requantizer):
            raise TypeError(f"requantizer must be a numfmt.quant.Requantizer, not {requantizer!r}")
        if isinstance(acc_bits, bool) or not isinstance(acc_bits, (int, np.integer)) \
                or not 1 <= acc_bits <= _MAX_ACC_BITS:
            raise ValueError(f"acc_bits must be an integer in 1..{_MAX_ACC_BITS}, not {acc_bits!r}")
        if isinstance(stages, bool) or not isinstance(stages, (int, np.integer)) or stages < 0:
            raise ValueError(f"stages must be an integer ≥ 0, not {stages!r}")
        if multiply not in MULTIPLY:
            raise ValueError(f"multiply must be one of {', '.join(map(repr, MULTIPLY))}, not {multiply!r}")
        if saturate not in SATURATE:
            raise ValueError(f"saturate must be one of {', '.join(map(repr, SATURATE))}, not {saturate!r}")
        self.multiply = multiply
        self.saturate = saturate
        self.requantizer = requantizer
        self.acc_bits = int(acc_bits)
        self.stages = int(stages)
        self.latency = self.stages
        bound = int(np.min(requantizer.max_abs_acc))
        if bound < 1 << (self.acc_bits - 1):
            raise ValueError(f"acc_bits={self.acc_bits} is too wide for this requantizer: |acc| up to "
                             f"2**{self.acc_bits - 1} but acc * multiplier fits int64 only for "
                             f"|acc| ≤ {bound}")
        self.acc_fmt = _acc_format(self.acc_bits)
        self.out_fmt = requantizer.out_format
        self.channels = int(requantizer.multiplier.shape[0]) if requantizer.multiplier.ndim else 0
        in_fields = {"acc": Field.of(self.acc_fmt)}
        if self.channels:
            self.channel_fmt = IntFormat(max(1, (self.channels - 1).bit_length()), signed=False)
            in_fields["channel"] = Field.of(self.channel_fmt)
        super().__init__(in_fields, {"q": Field.of(self.out_fmt)})

    def parameters(self) -> dict:
        r = self.requantizer
        out = {"acc_bits": self.acc_bits, "out": str(self.out_fmt),
                "multiplier": r.multiplier.tolist(), "shift": r.shift.tolist(),
                "rounding": str(r.rounding), "zero_point": r.zero_point, "stages": self.stages,
                "multiply": "operator" if self.channels else self.multiply}
        if self._saturate() == "accumulator":          # named only then: the default's name is unchanged
            out["saturate"] = "accumulator"
        return out

    # -- hardware -------------------------------------------------------------------
    def elaborate(self, platform):
        m = Module()
        r = self.requantizer
        big, right = self._constants()
        acc = self.i.payload.acc.as_signed()
        if self.channels:
            bbits, cmax = max(v.bit_length() for v in big), max(right)
            b = Signal(bbits, name="multiplier")
            c = Signal(max(cmax.bit_length(), 1), name="shift")
            with m.Switch(self.i.payload.channel):       # an index ≥ C - 1 takes channel C - 1
                for k in range(self.channels - 1):
                    with m.Case(k):
                        m.d.comb += [b.eq(big[k]), c.eq(right[k])]
                with m.Default():
                    m.d.comb += [b.eq(big[-1]), c.eq(right[-1])]
        else:
            b, c = big[0], right[0]
            bbits, cmax = big[0].bit_length(), right[0]
        p = Signal(signed(self.acc_bits + bbits + 1), name="product")
        if self.channels or self.multiply == "operator":
            m.d.comb += p.eq(acc * b)
        else:
            m.d.comb += p.eq(_shift_add(m, acc, big[0]))
        w = len(p)
        (t_lo, t_hi), (y_lo, y_hi) = self.spans()
        t = Signal(signed(signed_bits(t_lo, t_hi)), name="floor")
        m.d.comb += t.eq(p >> c)                                   # arithmetic: floor(p / 2**c)
        p_ext = Signal(signed(max(w, cmax) + 1), name="product_ext")
        m.d.comb += p_ext.eq(p)
        rem = Signal(max(cmax, 1), name="remainder")               # p - t * 2**c
        m.d.comb += rem.eq(p_ext.as_unsigned() & ((Const(1, len(p_ext) + 1) << c) - 1))
        half = Signal(max(cmax, 1), name="half")
        m.d.comb += half.eq((Const(1, max(cmax, 1) + 1) << c) >> 1)
        nonzero = rem != 0
        on_acc = self._saturate() == "accumulator"
        neg = acc < 0 if on_acc else p < 0                         # b ≥ 1: p's sign is acc's
        up = round_up_from_floor(r.rounding, neg, t[0], nonzero, rem > half, (rem == half) & (half != 0))
        y = Signal(signed(signed_bits(y_lo, y_hi)), name="rounded")
        m.d.comb += y.eq(t + up + r.zero_point)
        if on_acc:
            code = self._saturate_on_acc(m, acc, y)
        else:                                                      # sat: clamp y; wrap: the low bits
            code = ap_overflow(m, y, y, self.out_fmt, span=(y_lo, y_hi))
        result = Signal(self.out_layout, name="result")
        m.d.comb += result.q.eq(code)
        pipeline(m, self.i, self.o, result, self.stages)
        return m

    def _constants(self) -> tuple[list[int], list[int]]:
        """``(big, right)`` per channel (one each per tensor), Python ints: the multiplier
        ``b·2**max(−c, 0)`` and the right shift ``max(c, 0)``."""
        r = self.requantizer
        big = (r.multiplier << np.maximum(-r.shift, 0)).reshape(-1).tolist()
        return big, np.maximum(r.shift, 0).reshape(-1).tolist()

    def spans(self) -> tuple[tuple[int, int], tuple[int, int]]:
        """``((t_lo, t_hi), (y_lo, y_hi))``: the least and greatest floor ``t = ⌊acc·b/2**c⌋``
        over every accumulator of ``acc_bits`` bits and every channel (``b ≥ 0``, so the ends
        are at the accumulator's ends), and bounds ``y_lo ≤ y ≤ y_hi`` on the rounded value
        ``y = t + up + zero_point``: the least floor and, for a rounding other than
        ``floor``, the greatest ceiling ``⌈acc·b/2**c⌉``, each plus the zero point (within 1
        of what the rounding reaches). The RTL holds ``t`` and ``y`` in exactly as many bits
        as these need, and builds only the clamps ``y`` can reach.

        >>> import numfmt as nf
        >>> from numfmt.quant import Requantizer as Rq
        >>> Requantizer(Rq(3, 2, nf.IntFormat(4), zero_point=1), acc_bits=8).spans()
        ((-96, 95), (-95, 97))
        """
        r = self.requantizer
        least, most = -(1 << (self.acc_bits - 1)), (1 << (self.acc_bits - 1)) - 1
        big, right = self._constants()
        ceil = Rounding.parse(r.rounding) is not Rounding.FLOOR
        t_lo = min((least * b) >> c for b, c in zip(big, right))
        t_hi = max((most * b) >> c for b, c in zip(big, right))
        y_hi = max(-((-most * b) >> c) if ceil else (most * b) >> c for b, c in zip(big, right))
        zp = int(r.zero_point)
        return (t_lo, t_hi), (t_lo + zp, y_hi + zp)

    def saturation_bounds(self) -> tuple[int | None, int | None]:
        """``(lo, hi)``: every accumulator ``≤ lo`` requantizes to the output's least value,
        every one ``≥ hi`` to its greatest, and those between to neither (``None``: no
        accumulator of ``acc_bits`` bits does). Found by bisection on
        :meth:`numfmt.quant.Requantizer.requantize`, which is monotone in ``acc`` (``b ≥ 1``
        and every deterministic rounding is monotone). Per-tensor only.

        >>> import numfmt as nf
        >>> from numfmt.quant import Requantizer as Rq
        >>> Requantizer(Rq(3, 2, nf.IntFormat(4), rounding="floor"), acc_bits=8).saturation_bounds()
        (-10, 10)
        """
        if self.channels:
            raise ValueError("saturation_bounds() is per tensor; this requantizer has "
                             f"{self.channels} channels")
        r, out = self.requantizer, self.out_fmt
        least, most = -(1 << (self.acc_bits - 1)), (1 << (self.acc_bits - 1)) - 1

        def q(a: int) -> int:
            return int(r.requantize(np.int64(a)))

        lo = hi = None
        if q(least) == out.min:                  # the last acc giving out.min
            a, b = least, most
            while a < b:
                mid = (a + b + 1) // 2
                a, b = (mid, b) if q(mid) == out.min else (a, mid - 1)
            lo = a
        if q(most) == out.max:                   # the first acc giving out.max
            a, b = least, most
            while a < b:
                mid = (a + b) // 2
                a, b = (a, mid) if q(mid) == out.max else (mid + 1, b)
            hi = a
        return lo, hi

    def saturation_compares(self) -> tuple[int, int]:
        """Accumulator bits read by the compares that saturate the output, ``(≤ lo, ≥ hi)``
        (:meth:`saturation_bounds`; 0: no compare): ``acc ≤ 2**t·L + 2**t − 1`` is
        ``acc >> t ≤ L``, ``acc ≥ 2**t·H`` is ``acc >> t ≥ H``, so a compare reads only the
        bits above its bound's trailing ones (``≤``) or zeros (``≥``). ``(0, 0)`` unless
        ``saturate="accumulator"`` is in effect (a per-tensor saturating output).

        >>> import numfmt as nf
        >>> from numfmt.quant import Requantizer as Rq
        >>> unit = Requantizer(Rq(3, 2, nf.IntFormat(4, signed=False), rounding="floor"), acc_bits=8,
        ...                    saturate="accumulator")
        >>> unit.saturation_compares()
        (7, 6)
        """
        return tuple(self.acc_bits - t if t is not None else 0 for t, _ in self._compares())

    def middle_bits(self) -> int:
        """Bits of the count of accumulators that saturate to neither end (those between
        :meth:`saturation_bounds`; all ``2**acc_bits`` for a wrapping output or per-channel
        parameters); 0 when every accumulator saturates, and with
        ``saturate="accumulator"`` the unit then builds no multiply.

        >>> import numfmt as nf
        >>> from numfmt.quant import Requantizer as Rq
        >>> [Requantizer(Rq(b, 0, nf.IntFormat(4, signed=False)), acc_bits=8).middle_bits() for b in (1, 8, 16)]
        [4, 1, 0]
        """
        if self.channels or self.out_fmt.overflow is not Overflow.SATURATE:
            return self.acc_bits + 1
        lo, hi = self.saturation_bounds()
        lo = -(1 << (self.acc_bits - 1)) - 1 if lo is None else lo
        hi = 1 << (self.acc_bits - 1) if hi is None else hi
        return (hi - lo - 1).bit_length()

    def _saturate(self) -> str:
        """The ``saturate`` in effect: ``"accumulator"`` only for a per-tensor saturating output."""
        if self.channels or self.out_fmt.overflow is not Overflow.SATURATE:
            return "result"
        return self.saturate

    def _compares(self):
        """``((t, L), (t, H))``: the shifts and bounds of the saturating compares
        (``(None, None)`` for one not built)."""
        if self._saturate() != "accumulator":
            return (None, None), (None, None)
        lo, hi = self.saturation_bounds()
        if lo is None:
            low = (None, None)
        else:
            t = _trailing(~lo, self.acc_bits)             # trailing ones of lo
            low = (t, lo >> t)
        if hi is None:
            high = (None, None)
        else:
            t = _trailing(hi, self.acc_bits)              # trailing zeros of hi
            high = (t, hi >> t)
        return low, high

    def _saturate_on_acc(self, m: Module, acc, y):
        """The saturating output decided on the accumulator: ``acc ≤ lo`` gives the least
        code, ``acc ≥ hi`` the greatest (:meth:`saturation_compares`), and between them
        ``y`` is in range, so its low bits are the code (as a wrapping output's)."""
        out = self.out_fmt
        (t_lo, low), (t_hi, high) = self._compares()
        code = Signal(out.bits, name="sat_code")
        if self.middle_bits() == 0:                # every accumulator saturates: y is not read
            m.d.comb += code.eq(int(out.encode(out.max)))
        else:
            m.d.comb += code.eq(y)                 # the low bits (y sign-extended if narrower)
        if t_lo is not None:
            with m.If(acc[t_lo:].as_signed() <= low):
                m.d.comb += code.eq(int(out.encode(out.min)))
        if t_hi is not None:
            with m.If(acc[t_hi:].as_signed() >= high):
                m.d.comb += code.eq(int(out.encode(out.max)))
        return code

    # -- model ----------------------------------------------------------------------
    def model(self, inputs: dict) -> dict:
        r = self.requantizer
        acc = self.acc_fmt.decode_int(np.asarray(inputs["acc"], dtype=np.uint64))
        if not self.channels:
            q = r.requantize(acc)
        else:
            ch = np.minimum(np.asarray(inputs["channel"], dtype=np.uint64), self.channels - 1)
            q = np.empty(acc.shape, dtype=np.int64)
            for k in range(self.channels):
                sel = ch == k
                if sel.any():
                    one = _quant.Requantizer(r.multiplier[k], r.shift[k], r.out_format,
                                             rounding=r.rounding, zero_point=r.zero_point)
                    q[sel] = one.requantize(acc[sel])
        return {"q": self.out_fmt.encode(q.astype(np.float64)).astype(np.uint64)}
