"""A minifloat Dense layer as a folded matrix–vector stage (:class:`FloatMatrixVector`).

The stage of :mod:`numfmt.hw.accel.stages` for Dense nodes whose activations, weights or
outputs are :class:`~numfmt.FloatFormat` codes (e4m3fn, e5m2, fp16, …), with the same
streams, ROM layout, folding and timing as :class:`~numfmt.hw.accel.MatrixVector`, and the
datapath of ``docs/nn.md``:

* **exact** (``acc=None``, the default): every product ``x·w`` is formed exactly as an
  integer in the accumulator's units ``2**Qp`` — the operands split by
  :class:`~numfmt.hw.rtl.FloatKulischMac`'s aligner into a signed significand and a shift,
  multiplied and shifted — and added to a Kulisch register of ``node.acc_bits + 1`` bits
  (never overflows), which starts at the bias.
* **float register** (``acc=FloatAccumulator(fmt, order="sequential")``): the register
  holds a code of ``fmt``; each product is added and rounded once, in the order
  ``k = 0, 1, …`` of the inputs, by a chain of ``simd``
  :class:`~numfmt.hw.rtl.FloatAccMac` adders per cycle — the emulator's order at every
  folding. It starts at the bias code.
* **output**: ``R_F(K · m · 2**-c)`` with ``K`` the register's exact value in units of
  ``2**Qp``: the product ``|K|·(m << max(-c, 0))`` rounded once by
  :func:`numfmt.hw.rtl._float.round_pack` (the rounding of :class:`~numfmt.hw.rtl.Convert`)
  to the saturating output format (``_datapath.converter``), a zero as +0; an IntFormat
  output goes through :class:`~numfmt.hw.rtl.Requantizer`, as in ``MatrixVector``.

>>> import numpy as np
>>> from numfmt import nn
>>> g = nn.Graph.sequential([nn.Dense(np.array([[0.5, -1.0], [1.0, 0.25]]))], input_shape=(2,))
>>> q = nn.quantize(g, nn.QConfig(weight="e4m3fn", act="e4m3fn"), np.array([[1.0, 0.5], [-1.0, 1.0]]))
>>> mvu = FloatMatrixVector(q.node("dense0"), pe=2, simd=1)
>>> mvu.cycles, mvu.latency, mvu.register_width
(2, 5, 38)
"""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
from amaranth.hdl import Cat, Const, Mux, Signal, Value, signed

from numfmt import quant as _quant
from numfmt.arith import ExactAccumulator, FloatAccumulator
from numfmt.arith.accumulators import Order
from numfmt.formats import FixedFormat, FloatFormat, IntFormat
from numfmt.nn import _datapath as _dp
from numfmt.nn.quantized import QLinear

from ..rtl._float import bits_for, round_pack, signed_bits, special_codes, unpack
from ..rtl._unit import Unit
from ..rtl.mac import FloatAccMac, FloatKulischMac
from .stages import MVU_OVERHEAD, MatrixVector, _code_int, _is_last, _pack_words, _positive_divisor, vector_fields

__all__ = ["FloatMatrixVector", "aligned_operand", "is_float_node", "round_activation"]

_SCALAR = (IntFormat, FixedFormat, FloatFormat)


def is_float_node(node) -> bool:
    """Whether a Dense node needs :class:`FloatMatrixVector`: a FloatFormat input, weight or
    output, and no block (MX) format.

    >>> import numpy as np
    >>> from numfmt import nn
    >>> g = nn.Graph.sequential([nn.Dense(np.eye(2))], input_shape=(2,))
    >>> q = nn.quantize(g, nn.QConfig(weight="int8", act="e4m3fn"), np.eye(2))
    >>> is_float_node(q.node("dense0"))
    True
    """
    return (isinstance(node, QLinear) and node.block_format is None and node.x.block is None
            and any(isinstance(f, FloatFormat) for f in (node.x.format, node.weight_format, node.out.format)))


def _scalar(what: str, fmt):
    if not isinstance(fmt, _SCALAR):
        raise ValueError(f"{what} must be an IntFormat, FixedFormat or FloatFormat in this stage, not {fmt}")
    return fmt


class FloatMatrixVector(MatrixVector):
    """A Dense layer with minifloat activations, weights or outputs as a folded matrix–vector unit.

    Parameters
    ----------
    node : numfmt.nn.quantized.QLinear
        A Dense node: IntFormat, FixedFormat or FloatFormat input and weights (one scale
        per output channel), a FloatFormat output (or an IntFormat one with ``sat``/``wrap``
        overflow), and the exact accumulator (``acc=None``) or a sequential
        :class:`~numfmt.arith.FloatAccumulator` (FloatFormat input and weights).
    pe, simd : int
        As :class:`~numfmt.hw.accel.MatrixVector`: output channels in parallel (divides
        ``out``) and inputs per PE and cycle (divides ``in``).

    The weight ROM holds the weight *codes* (``weight_format.bits`` each; word
    ``nf·SF + sf``, weight ``(nf·pe + p, sf·simd + s)`` at field ``p·simd + s``;
    :attr:`weights` keeps the emulator's integers, as ``MatrixVector``'s); the bias
    ROM the register's start per channel: the integer ``node.bias`` (exact) or its code of
    the register's format (float register). Each operand is read as a signed integer
    significand and a left shift (0 for integer and fixed-point codes), so a product is
    ``(v_x·v_w) << (h_x + h_w)``: a ``(man+2)``-bit multiplier and a shifter per product.
    NaN and inf codes (which the QuantizedGraph never produces) count as 0.

    Timing is :class:`~numfmt.hw.accel.MatrixVector`'s: :attr:`cycles` ``= (out/pe)·(in/simd)``,
    :attr:`latency` ``= ii = cycles +`` :data:`~numfmt.hw.accel.MVU_OVERHEAD` (ROM read,
    register, output register; the output rounding is combinational between the last two).
    """

    def __init__(self, node, *, pe: int = 1, simd: int = 1):
        if not isinstance(node, QLinear) or node.kind != "dense":
            raise TypeError(f"node must be a Dense QLinear node of a QuantizedGraph, not {node!r}")
        if node.x.block is not None or node.block_format is not None:
            raise ValueError(f"node {node.name!r}: block (MX) formats ({node.x.block or node.block_format}) "
                             "are not supported by this stage")
        name = node.name
        self.in_fmt = _scalar(f"node {name!r}: the input format", node.x.format)
        wf = _scalar(f"node {name!r}: the weight format", node.weight_format)
        self.out_fmt = node.out.format
        if not isinstance(self.out_fmt, (FloatFormat, IntFormat)):
            raise ValueError(f"node {name!r}: the output format must be a FloatFormat or an IntFormat in this "
                             f"stage, not {self.out_fmt}")
        if np.any(node.weight_exp != 0):
            raise ValueError(f"node {name!r}: weight scales within an output channel differ "
                             "(group granularity); this stage needs one scale per channel")
        acc = node.acc
        if isinstance(acc, FloatAccumulator):
            if not (isinstance(self.in_fmt, FloatFormat) and isinstance(wf, FloatFormat)):
                raise ValueError(f"node {name!r}: a FloatAccumulator register needs FloatFormat inputs and "
                                 f"weights in this stage, not {self.in_fmt} × {wf}")
            if acc.order is not Order.SEQUENTIAL:
                raise ValueError(f"node {name!r}: the FloatAccumulator's order must be 'sequential' in this "
                                 f"stage (its chain of simd adders keeps that order at every folding), "
                                 f"not {str(acc.order)!r} ({acc})")
            if not isinstance(self.out_fmt, FloatFormat):
                raise ValueError(f"node {name!r}: a FloatAccumulator register needs a FloatFormat output in "
                                 f"this stage, not {self.out_fmt}")
            self.register = acc
            self._mac = FloatAccMac(self.in_fmt, wf, acc, stages=0)    # its adder, not the unit, is built
            self._mac._MustUse__silence = True
            self.register_width = acc.fmt.bits
        elif acc is None or isinstance(acc, ExactAccumulator):
            self.register, self._mac = None, None
            self.register_width = int(node.acc_bits) + 1          # |K| < 2**acc_bits: never overflows
        else:
            raise ValueError(f"node {name!r}: the accumulator {acc} is not supported by this stage "
                             "(the exact accumulator or a sequential FloatAccumulator)")
        self.requantizers = None
        if isinstance(self.out_fmt, IntFormat):
            rq = _dp.make_requantizer(node.multiplier, node.shift, self.out_fmt)
            if rq is None or node.requant_bits > 63:
                raise ValueError(f"node {name!r}: an IntFormat output needs the 64-bit integer requantizer "
                                 f"(overflow 'sat' or 'wrap', products ≤ 63 bits), not {self.out_fmt} with "
                                 f"{node.requant_bits}-bit products")
        self.node = node
        self.n_out, self.n_in = (int(s) for s in node.weight_codes.shape)
        self.pe = _positive_divisor("pe", pe, self.n_out, f"output channels of {name!r}")
        self.simd = _positive_divisor("simd", simd, self.n_in, f"inputs of {name!r}")
        self.nf, self.sf = self.n_out // self.pe, self.n_in // self.simd
        #: MAC cycles per vector, ``(out/pe)·(in/simd)``
        self.cycles = self.nf * self.sf
        self.latency = self.cycles + MVU_OVERHEAD
        #: cycles between accepted vectors when nothing downstream stalls
        self.ii = self.latency
        self.shift = 0
        self.acc_width = self.register_width
        self.weight_bits = int(wf.bits)
        self.weights = _dp.to_int(wf.decode(node.weight_codes), _dp.quantum_exp(wf))   # the emulator's integers
        if isinstance(self.out_fmt, IntFormat):
            self.requantizers = [_quant.Requantizer(rq.multiplier[p::self.pe], rq.shift[p::self.pe], rq.out_format,
                                                    rounding=rq.rounding, zero_point=rq.zero_point)
                                 for p in range(self.pe)]
        # not MatrixVector.__init__, which refuses minifloat formats: the checks above replace its own
        Unit.__init__(self, vector_fields("x", self.n_in, self.in_fmt), vector_fields("y", self.n_out, self.out_fmt))

    # -- ROM contents ----------------------------------------------------------------
    def weight_words(self) -> list:
        """ROM word ``nf·SF + sf``: the *code* of weight ``(nf·pe + p, sf·simd + s)`` at bits
        ``(p·simd + s)·weight_bits`` (for an IntFormat the code is the integer's two's complement)."""
        w = np.asarray(self.node.weight_codes, dtype=np.int64).reshape(self.nf, self.pe, self.sf, self.simd)
        return _pack_words(w.transpose(0, 2, 1, 3).reshape(self.cycles, self.pe * self.simd), self.weight_bits)

    def bias_words(self) -> list:
        """ROM word ``nf``: the register's start for channel ``nf·pe + p`` at bits ``p·register_width``
        (the bias integer, or its code of the float register's format)."""
        if self.register is None:
            return super().bias_words()
        fmt = self.register.fmt
        codes = fmt.encode(np.ldexp(np.asarray(self.node.bias, dtype=np.float64), self.node.acc_exp))
        return _pack_words(codes.astype(np.int64).reshape(self.nf, self.pe), self.register_width)

    # -- hardware -----------------------------------------------------------------------
    def _accumulate(self, m, wport, bport, xs, valid, first) -> list:
        """Stage 2 (see :meth:`MatrixVector._accumulate`): the exact register adds the cycle's
        exact products at once; a float register rounds after each, in numfmt's order."""
        pe, simd, ab, wb, rw = self.pe, self.simd, self.in_fmt.bits, self.weight_bits, self.register_width
        xcodes = [xs[s * ab:(s + 1) * ab] for s in range(simd)]
        xops = None if self.register is not None else [
            aligned_operand(m, c, self.in_fmt, f"x{s}") for s, c in enumerate(xcodes)]
        regs = []
        for p in range(pe):
            wcodes = [wport.data[(p * simd + s) * wb:(p * simd + s + 1) * wb] for s in range(simd)]
            bias = bport.data[p * rw:(p + 1) * rw]
            if self.register is None:
                reg = Signal(signed(rw), name=f"acc{p}")
                nxt = Mux(first, bias.as_signed(), reg) + self._dot(m, p, xops, wcodes)
            else:
                reg = Signal(rw, name=f"acc{p}")
                nxt = Mux(first, bias, reg)
                for s in range(simd):                      # R(R(r + p0) + p1) …: numfmt's sequential order
                    prod, _ = self._mac._product(m, SimpleNamespace(a=xcodes[s], b=wcodes[s]), None)
                    nxt = self._mac._next(m, nxt, prod)
            with m.If(valid):
                m.d.sync += reg.eq(nxt)
            regs.append(reg)
        return regs

    def _requantize(self, m, accs, valid, nf, busy) -> None:
        """The last stage: an IntFormat output is ``MatrixVector``'s (a ``Requantizer`` per PE);
        a FloatFormat output is each PE's :meth:`_round` of its register into neuron fold ``nf``
        of the output register; the last fold raises ``o.valid``, the output handshake lowers it
        and ``busy``."""
        if self.requantizers is not None:
            super()._requantize(m, accs, valid, nf, busy)
            return
        o = self.o
        qs = [self._round(m, p, reg, nf) for p, reg in enumerate(accs)]
        out = o.payload.as_value()
        slice_bits = self.pe * self.out_fmt.bits
        with m.If(o.valid & o.ready):
            m.d.sync += [o.valid.eq(0), busy.eq(0)]
        with m.If(valid):
            with m.Switch(nf):
                for k in range(self.nf):
                    with (m.Case(k) if k < self.nf - 1 else m.Default()):
                        m.d.sync += out[k * slice_bits:(k + 1) * slice_bits].eq(Cat(*qs))
            with m.If(_is_last(nf, self.nf)):
                m.d.sync += o.valid.eq(1)

    def _dot(self, m, p, xops, wcodes):
        """The exact sum of PE ``p``'s ``simd`` products, in units of ``2**Qp``."""
        pbits = bits_for(_dp.max_abs_int(self.in_fmt) * _dp.max_abs_int(self.node.weight_format)) + 1
        terms = []
        for s, ((xv, xh), wcode) in enumerate(zip(xops, wcodes)):
            wv, wh = aligned_operand(m, wcode, self.node.weight_format, f"w{p}_{s}")
            shifts = [h for h in (xh, wh) if h is not None]
            term = Signal(signed(pbits), name=f"product{p}_{s}")
            prod = xv * wv
            m.d.comb += term.eq(prod << sum(shifts) if shifts else prod)
            terms.append(term)
        dot = Signal(signed(self.register_width), name=f"dot{p}")
        m.d.comb += dot.eq(sum(terms))
        return dot

    def _round(self, m, p, reg, channel):
        """PE ``p``'s FloatFormat output code ``R_F(K·m·2**-c)`` for its register ``reg`` (channel
        ``channel·pe + p``): one rounding of the exact product."""
        node, ch = self.node, slice(p, None, self.pe)
        big = [int(b) << max(-int(c), 0) for b, c in zip(node.multiplier[ch], node.shift[ch])]
        right = [max(int(c), 0) for c in node.shift[ch]]
        if self.register is None:                          # value K · 2**0 in units of 2**Qp
            sign, sig, exp = reg < 0, Mux(reg < 0, -reg, reg)[:self.register_width - 1], 0
            drop = [-r for r in right]
        else:                                              # the register's code: sig · 2**exp
            u = unpack(self.register.fmt, reg)
            sign, sig, exp = u.sign, u.sig, u.exp
            drop = [-(r + int(q)) for r, q in zip(right, node.acc_exp[ch])]
        mult = _channel_constant(m, f"multiplier{p}", big, channel)
        shift = _channel_constant(m, f"exponent{p}", drop, channel, signed_shape=True)
        mag = Signal(len(Value.cast(sig)) + max(b.bit_length() for b in big), name=f"product{p}")
        m.d.comb += mag.eq(sig * mult)
        e = Signal(signed(max(len(Value.cast(exp)), len(shift)) + 1), name=f"product{p}_exp")
        m.d.comb += e.eq(exp + shift)
        return round_activation(m, self.out_fmt, sign, mag, e)

    def parameters(self) -> dict:
        return {**super().parameters(), "acc": "exact" if self.register is None else str(self.register.fmt)}


def aligned_operand(m, code, fmt, name: str):
    """``(v, h)``: the value of ``code`` (a code of ``fmt``) is ``v · 2**(h + q)``, ``q`` the
    format's quantum (:func:`numfmt.nn._datapath.quantum_exp`), ``v`` signed; ``h`` is None for
    integer and fixed-point codes. NaN/inf give ``v = 0`` (the QuantizedGraph never carries them)."""
    if not isinstance(fmt, FloatFormat):
        return _code_int(code, fmt), None
    sign, sig, shift, special = FloatKulischMac._aligned(code, fmt)
    v = Signal(signed(len(sig) + 1), name=f"{name}_significand")
    m.d.comb += v.eq(Mux(special, 0, Mux(sign, -sig, sig)))
    return v, shift


def round_activation(m, fmt, sign, mag, exp, *, nan=0):
    """The code of FloatFormat ``fmt`` an activation ``(-1)**sign · mag · 2**exp`` gets in a
    :class:`~numfmt.nn.QuantizedGraph`: rounded once by ``_datapath.converter(fmt)`` (``fmt``
    with overflow saturating, its default rounding), a zero as +0 (``docs/nn.md``).
    ``mag`` unsigned, ``exp`` an int or a signed value; ``nan`` 1 gives NaN."""
    conv = _dp.converter(fmt)
    code = round_pack(m, conv, sign, mag, exp, rounding=conv.default_rounding, nan=nan)
    pos, neg = special_codes(conv)["zero"]
    return code if pos == neg else Mux(code == neg, pos, code)


def _channel_constant(m, name: str, values: list, index, *, signed_shape: bool = False):
    """A signal holding ``values[index]`` (one constant per channel of a PE), a Const when all agree."""
    lo, hi = min(values), max(values)
    shape = signed(signed_bits(lo, hi)) if signed_shape else max(hi.bit_length(), 1)
    if lo == hi:
        return Const(values[0], shape)
    sig = Signal(shape, name=name)
    with m.Switch(index):
        for k, v in enumerate(values):
            with (m.Case(k) if k < len(values) - 1 else m.Default()):
                m.d.comb += sig.eq(v)
    return sig
