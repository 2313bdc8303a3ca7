"""Block-scaled (OCP MX / BFP) dot-product unit: one block of each operand per transaction.

:class:`BlockDot` computes what :func:`numfmt.arith.block_dot` defines for one pair of
blocks: the exact dot product of the ``k`` element values (integers, fixed point or
minifloats or sign-magnitude integers as in classic BFP, no scale), then the scale apply ``2**(e_a + e_b)`` (``docs/arithmetic.md``,
*Block formats*; OCP MX v1.0 §6.2).

Datapath (combinational, then ``stages`` registers, :func:`hw.rtl.pipeline`):

1. each element code is split into a signed integer significand and a left shift
   (floats: :func:`hw.rtl._float.unpack`, ``value = ±sig · 2**exp``, shift
   ``exp − q`` with ``q = min_exp − man`` the format's lowest bit weight; integers and
   fixed point: the two's-complement integer, shift 0; sign-magnitude: sign bit and
   magnitude, shift 0);
2. ``D = Σ_k ±(sig_a·sig_b) << (shift_a + shift_b)``: an exact fixed-point (Kulisch) sum in
   units of ``2**(q_a + q_b)``, ``kulisch_width(element_a, element_b, k)`` bits wide;
3. the scale codes give ``e_a``, ``e_b`` (E8M0: the biased exponent field minus the bias;
   an ``IntFormat`` scale: its value) and ``e = e_a + e_b``.

Output, without ``out_fmt`` (exact): ``y`` = ``D`` (value ``D · 2**(q_a + q_b)``, a
``FixedFormat`` field), ``e`` = ``e_a + e_b`` and ``special`` (0 finite, 1 NaN, 2 +inf,
3 −inf; then ``y = e = 0``). The block's value is ``y · 2**e``. With ``out_fmt`` (a
FloatFormat), ``y`` is ``D · 2**(e + q_a + q_b)`` rounded once to ``out_fmt`` with
``rounding`` (:func:`hw.rtl._float.round_pack`), as ``block_dot(..., out_format=out_fmt)``.

Specials: a NaN scale (E8M0 0xFF; any non-positive or non-finite scale value) makes the
result NaN, as in numfmt. A NaN or infinite *element* code (which ``BlockFormat.encode``
never produces, but an input bus can carry) follows IEEE arithmetic: a NaN product
(NaN operand, ``0 × inf``) or infinities of both signs give NaN, else an infinity gives
±inf. A NaN result is the positive NaN. The model is :func:`numfmt.arith.block_matmul`
with ``ExactAccumulator(nonfinite="ieee")`` inside and across blocks, which defines
these rules (``docs/arithmetic.md``, *Non-finite values*).
"""

from __future__ import annotations

import dataclasses

import numpy as np
from amaranth.hdl import Cat, Const, Module, Mux, Signal

from numfmt.arith import ExactAccumulator, block_matmul
from numfmt.arith.accumulators import kulisch_width, product_range
from numfmt.formats import FixedFormat, FloatFormat, IntFormat, SignMagFormat
from numfmt.formats.block import BlockCodes, BlockFormat
from numfmt.modes import Rounding

from ._float import round_pack, unpack
from ._unit import Field, Unit, pipeline
from .bitserial import _CHUNK, extend, shift_left

__all__ = ["BlockDot"]

_SPECIAL = Field(2)            # 0 finite, 1 NaN, 2 +inf, 3 −inf
_IEEE_EXACT = ExactAccumulator(nonfinite="ieee")


def _check_block(name, fmt):
    if not isinstance(fmt, BlockFormat):
        raise TypeError(f"{name} must be a numfmt BlockFormat, not {fmt!r}")
    if not isinstance(fmt.element, (FloatFormat, IntFormat, FixedFormat, SignMagFormat)):
        raise ValueError(f"{name}.element must be a FloatFormat, IntFormat, FixedFormat or "
                         f"SignMagFormat, not {fmt.element!r}")
    s = fmt.scale
    if isinstance(s, FloatFormat) and s.man != 0:
        raise ValueError(f"{name}.scale must be an IntFormat or a FloatFormat with man=0 "
                         f"(powers of two only, as E8M0), not {s}")
    return fmt


def _scale_range(s):
    """Smallest and largest exponent a scale code can carry."""
    if isinstance(s, IntFormat):
        return s.min, s.max
    return s.min_exp, s.max_exp


def _signed_width(lo, hi):
    return max((hi).bit_length(), (-lo - 1).bit_length() if lo < 0 else 0) + 1


class BlockDot(Unit):
    """Dot product of one block of each of two block-scaled operands.

    Parameters
    ----------
    block_fmt : BlockFormat
        Format of ``a`` (and of ``b`` unless ``b_fmt`` is given); ``k = block_fmt.block``
        elements per transaction. Elements: FloatFormat, IntFormat, FixedFormat or
        SignMagFormat (BFP, e.g. ``nf.BLOCKS["bfp8"]``); scale:
        E8M0-like (FloatFormat with ``man=0``) or IntFormat.
    b_fmt : BlockFormat, optional
        Format of ``b`` (same ``block``).
    out_fmt : FloatFormat, optional
        Round the scaled result to this format (else the exact ``y``, ``e``, ``special``).
    rounding : Rounding or str
        Rounding to ``out_fmt`` (deterministic modes).
    stages : int
        Pipeline registers (latency), ≥ 0.

    Ports: inputs ``sa``, ``sb`` (scale codes), ``a0 … a{k-1}``, ``b0 … b{k-1}`` (element
    codes); outputs as the module docstring says.

    Examples
    --------
    >>> import numpy as np, numfmt as nf
    >>> fmt = nf.BlockFormat(nf.FLOATS["e2m1fn"], 2)
    >>> u = BlockDot(fmt)
    >>> list(u.in_fields), list(u.out_fields), u.quantum_exp
    (['sa', 'sb', 'a0', 'a1', 'b0', 'b1'], ['y', 'e', 'special'], -2)
    >>> x = fmt.encode(np.array([1.5, -6.0]))               # scale 2**0, codes 0x3, 0xf
    >>> out = u.model({"sa": x.scales, "sb": x.scales, "a0": x.elements[:1], "a1": x.elements[1:],
    ...                "b0": x.elements[:1], "b1": x.elements[1:]})
    >>> int(u.y_fmt.decode(out["y"])[0] * 4), int(out["e"][0]), int(out["special"][0])   # 2.25 + 36
    (153, 0, 0)
    """

    def __init__(self, block_fmt: BlockFormat, b_fmt: BlockFormat | None = None, *, out_fmt=None,
                 rounding="rne", stages: int = 1):
        self.a_fmt = _check_block("block_fmt", block_fmt)
        self.b_fmt = _check_block("b_fmt", block_fmt if b_fmt is None else b_fmt)
        if self.b_fmt.block != self.a_fmt.block:
            raise ValueError(f"b_fmt.block must equal block_fmt.block ({self.a_fmt.block}), "
                             f"not {self.b_fmt.block}")
        if out_fmt is not None and not isinstance(out_fmt, FloatFormat):
            raise TypeError(f"out_fmt must be a numfmt FloatFormat or None, not {out_fmt!r}")
        self.out_fmt = out_fmt
        self.rounding = Rounding.parse(rounding, field="rounding")
        if self.rounding is Rounding.STOCHASTIC:
            raise ValueError("rounding must be a deterministic mode, not 'stochastic'")
        if isinstance(stages, bool) or not isinstance(stages, int) or stages < 0:
            raise ValueError(f"stages must be an integer ≥ 0, not {stages!r}")
        self.stages = self.latency = stages
        self.k = k = self.a_fmt.block
        ea, eb = self.a_fmt.element, self.b_fmt.element
        #: width of the exact element dot product D
        self.sum_width = kulisch_width(ea, eb, k)
        #: D is in units of 2**quantum_exp
        self.quantum_exp = product_range(ea, eb)[2]
        if self.sum_width > 53:
            raise ValueError(f"the exact sum of {k} products of {ea} × {eb} needs {self.sum_width} bits; "
                             "the model (float64) holds 53: use a smaller block or narrower elements")
        (la, ha), (lb, hb) = _scale_range(self.a_fmt.scale), _scale_range(self.b_fmt.scale)
        self.exp_range = (la + lb, ha + hb)
        self.e_fmt = IntFormat(_signed_width(*self.exp_range))
        self.y_fmt = FixedFormat(self.sum_width, self.sum_width + self.quantum_exp)
        fields = {"sa": Field.of(self.a_fmt.scale), "sb": Field.of(self.b_fmt.scale)}
        fields.update({f"a{j}": Field.of(ea) for j in range(k)})
        fields.update({f"b{j}": Field.of(eb) for j in range(k)})
        if out_fmt is None:
            out = {"y": Field.of(self.y_fmt), "e": Field.of(self.e_fmt), "special": _SPECIAL}
        else:
            out = {"y": Field.of(out_fmt)}
        super().__init__(fields, out)

    def parameters(self) -> dict:
        return {"a": str(self.a_fmt), "b": str(self.b_fmt),
                "out": "exact" if self.out_fmt is None else f"{self.out_fmt}_{self.rounding.value}",
                "stages": self.stages}

    # -- model ------------------------------------------------------------------------
    def model(self, inputs: dict) -> dict:
        k = self.k
        ea_codes = np.stack([np.asarray(inputs[f"a{j}"], dtype=np.uint64) for j in range(k)], axis=1)
        eb_codes = np.stack([np.asarray(inputs[f"b{j}"], dtype=np.uint64) for j in range(k)], axis=1)
        sa = np.asarray(inputs["sa"], dtype=np.uint64)[:, None]
        sb = np.asarray(inputs["sb"], dtype=np.uint64)[None, :]
        A = BlockCodes(sa, ea_codes, dataclasses.replace(self.a_fmt, axis=1))
        B = BlockCodes(sb, eb_codes.T, dataclasses.replace(self.b_fmt, axis=0))
        e = A.factors()[1][:, 0] + B.factors()[1][0, :]
        # one block per transaction: the block_dot of transaction t is entry [t, t] of the
        # product of the transactions' rows and columns (chunks of rows, each chunk's diagonal)
        values = np.empty(e.size)
        for c in range(0, e.size, _CHUNK):
            r = slice(c, c + _CHUNK)
            values[r] = np.diagonal(block_matmul(BlockCodes(A.scales[r], A.elements[r], A.format),
                                                 BlockCodes(B.scales[:, r], B.elements[:, r], B.format),
                                                 _IEEE_EXACT, block_acc=_IEEE_EXACT))
        if self.out_fmt is not None:
            return {"y": self.out_fmt.encode(values, self.rounding).astype(np.uint64)}
        special = np.select([np.isnan(values), values == np.inf, values == -np.inf], [1, 2, 3], 0)
        fin = special == 0
        y = np.ldexp(np.where(fin, values, 0.0), np.where(fin, -e, 0).astype(np.int32))   # exact: D·2**q
        return {"y": self.y_fmt.encode(y).astype(np.uint64),
                "e": self.e_fmt.encode(np.where(fin, e, 0).astype(np.float64)).astype(np.uint64),
                "special": special.astype(np.uint64)}

    # -- RTL ----------------------------------------------------------------------------
    def _element(self, m, fmt, code, name):
        """``(sig, shift, sign, nan, inf, zero)`` of one element code (sig unsigned)."""
        if isinstance(fmt, FloatFormat):
            u = unpack(fmt, code)
            q = fmt.min_exp - fmt.man
            span = (fmt.max_exp - fmt.man) - q
            shift = Signal(range(span + 1), name=f"{name}_shift")
            m.d.comb += shift.eq((u.exp - q)[:len(shift)])
            return u.sig, shift, span, u.sign, u.is_nan, u.is_inf, u.is_zero
        w = len(code)
        if isinstance(fmt, SignMagFormat):           # sign bit over magnitude; −0 is a zero
            mag = code[:w - 1]
            return mag, Const(0, 1), 0, code[w - 1], Const(0, 1), Const(0, 1), ~mag.any()
        signed = fmt.signed
        mag = Signal(w, name=f"{name}_mag")
        sign = code[w - 1] if signed else Const(0, 1)
        m.d.comb += mag.eq(Mux(sign, (~code + 1)[:w], code))
        return mag, Const(0, 1), 0, sign, Const(0, 1), Const(0, 1), ~code.any()

    def _scale(self, fmt, code):
        """``(e, nan)``: the shared exponent (signed Value) and the NaN-scale flag."""
        if isinstance(fmt, IntFormat):
            return (code.as_signed() if fmt.signed else code.as_unsigned()), Const(0, 1)
        u = unpack(fmt, code)
        return u.exp, u.is_nan | u.is_inf | u.is_zero | u.sign

    def elaborate(self, platform):
        m = Module()
        p = self.i.payload
        k, KW = self.k, self.sum_width
        fa, fb = self.a_fmt.element, self.b_fmt.element
        any_nan, pos_inf, neg_inf = [], [], []
        total = None
        for j in range(k):
            sa_, sha, spa, sga, na, ia, za = self._element(m, fa, getattr(p, f"a{j}"), f"a{j}")
            sb_, shb, spb, sgb, nb, ib, zb = self._element(m, fb, getattr(p, f"b{j}"), f"b{j}")
            prod = Signal(len(sa_) + len(sb_), name=f"prod{j}")
            m.d.comb += prod.eq(sa_ * sb_)
            neg = sga ^ sgb
            if spa + spb:
                amount = Signal(range(spa + spb + 1), name=f"shift{j}")
                m.d.comb += amount.eq(sha + shb)
                mag = shift_left(m, extend(prod, KW, False), amount, spa + spb, KW, f"mag{j}")
            else:                                    # integer / fixed-point elements
                mag = extend(prod, KW, False)
            term = Mux(neg, (~mag + 1)[:KW], mag)
            total = term if total is None else (total + term)[:KW]
            pnan = na | nb | (ia & zb) | (za & ib)
            pinf = (ia | ib) & ~pnan
            any_nan.append(pnan)
            pos_inf.append(pinf & ~neg)
            neg_inf.append(pinf & neg)
        D = Signal(KW, name="element_dot")
        m.d.comb += D.eq(total)
        ea, nan_sa = self._scale(self.a_fmt.scale, p.sa)
        eb, nan_sb = self._scale(self.b_fmt.scale, p.sb)
        e = Signal(self.e_fmt.bits, name="scale_exp")
        m.d.comb += e.eq(ea + eb)
        pinf, ninf = Cat(*pos_inf).any(), Cat(*neg_inf).any()
        nan = Signal(name="nan")
        m.d.comb += nan.eq(nan_sa | nan_sb | Cat(*any_nan).any() | (pinf & ninf))
        inf = ~nan & (pinf | ninf)

        result = Signal(len(self.o.payload.as_value()), name="result")
        if self.out_fmt is None:
            special = Mux(nan, 1, Mux(inf, Mux(ninf, 3, 2), 0))
            fin = ~(nan | inf)
            m.d.comb += result.eq(Cat(Mux(fin, D, 0), Mux(fin, e, 0), special[:2]))
        else:
            neg_d = D[KW - 1]
            absd = Signal(KW, name="abs_dot")
            m.d.comb += absd.eq(Mux(neg_d, (~D + 1)[:KW], D))
            ew = max(len(e), abs(self.quantum_exp).bit_length()) + 2
            exp = Signal(range(-(1 << ew), 1 << ew), name="result_exp")
            m.d.comb += exp.eq(e.as_signed() + self.quantum_exp)
            sign = Mux(nan, 0, Mux(inf, ninf, neg_d))
            code = round_pack(m, self.out_fmt, sign, absd, exp, rounding=self.rounding, nan=nan, inf=inf)
            m.d.comb += result.eq(code)
        pipeline(m, self.i, self.o, result, self.stages)
        return m
