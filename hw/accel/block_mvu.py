"""MX (block-scaled minifloat) Dense layers in the streaming accelerator.

numfmt defines an MX network's datapath (``docs/nn.md``, *Block (MX) activations*) as an
OCP MX accelerator computes it: activations travel between layers in the **FP32 carrier**
(``numfmt.nn.quantized.MX_CARRIER``, per-tensor scale 1), and each Dense layer converts its
input row to MX blocks (``node.x.block``: shared scale per block, rounded elements) before
the block dot products; the exact sum of the scaled block results and the bias is rounded
once to FP32 (saturating; a zero is +0). The ReLU between two layers acts on FP32 values
*before* the next layer's block rounding (the MX encoding of ``relu(v)`` is not ``relu`` of
the encoding of ``v``), so the stream between stages carries FP32 codes, one field per
element, and the block encoding lives at the front of each matrix–vector stage:

* :class:`BlockQuantizer` — FP32 codes ``x0 … x{n-1}`` → the **block stream encoding**:
  element codes ``e0 … e{n-1}`` (the block format's element) then the shared scale codes
  ``s0 … s{nb-1}`` (block ``j`` covers elements ``j·block … (j+1)·block − 1``, a ragged last
  block is shorter). Its model is ``BlockFormat.encode`` (``docs/block_formats.md``).
* :class:`BlockMatrixVector` — a Dense node with block activations and block weights: the
  quantizer on the input handshake, a buffer of the block codes, per PE and cycle
  ``simd / k`` :class:`numfmt.hw.rtl.BlockDot` units of ``k = min(simd, block)`` elements
  (exact element dot product and the sum of the two shared exponents), each result shifted
  into an exact fixed-point (Kulisch) register that starts at the bias, and at the end of a
  row one rounding to FP32 (:func:`numfmt.hw.rtl._float.round_pack`). Folding, ROMs, stream
  and timing are :class:`~numfmt.hw.accel.MatrixVector`'s (``(out/pe)·(in/simd) + 3``
  cycles); ``simd`` must be a multiple or a divisor of the block size.

See ``docs/accel.md``, *MX / block-floating-point datapath*.

>>> import numpy as np
>>> from numfmt import nn
>>> x_train = nn.digits_data()[0]
>>> q = nn.quantize(nn.digits_mlp(), nn.QConfig(weight="mxfp4", act="mxfp4"), x_train)
>>> mvu = BlockMatrixVector(q.node("dense0"), pe=8, simd=32)
>>> mvu.cycles, mvu.latency, mvu.dots, mvu.k, str(mvu.in_fmt)
(16, 19, 1, 32, 'fp32')
"""

from __future__ import annotations

import dataclasses
import hashlib

import numpy as np
from amaranth.hdl import Cat, Const, Module, Mux, Signal, Value, signed

from numfmt.arith import ExactAccumulator
from numfmt.formats import FloatFormat
from numfmt.formats.block import BlockFormat, NanPolicy, ScaleRule
from numfmt.nn import _datapath as _dp
from numfmt.nn.quantized import QLinear

from ..rtl._float import clz, round_pack, signed_bits, unpack
from ..rtl._unit import Field, Unit, pipeline
from ..rtl.blockdot import BlockDot, _scale_range
from .float_mvu import round_activation
from .stages import (MVU_OVERHEAD, MatrixVector, _collect_outputs, _counter, _fold_control, _pack_words, _positive_divisor,
                     _rom, _select, constants_digest, decode_vector, vector_fields)

__all__ = ["BlockMatrixVector", "BlockQuantizer"]


def _check_quantizable(what: str, in_fmt, block_fmt) -> None:
    """ValueError unless ``block_fmt`` is an MX format :class:`BlockQuantizer` can encode ``in_fmt`` into."""
    if not isinstance(in_fmt, FloatFormat):
        raise ValueError(f"{what}: the carrier must be a FloatFormat, not {in_fmt}")
    if not isinstance(block_fmt, BlockFormat):
        raise ValueError(f"{what}: the block format must be a BlockFormat, not {block_fmt!r}")
    if not isinstance(block_fmt.element, FloatFormat):
        raise ValueError(f"{what}: the block format {block_fmt} has {block_fmt.element} elements; the RTL block "
                         "quantizer rounds minifloat elements only (mxfp8, mxfp6, mxfp4)")
    s = block_fmt.scale
    if not isinstance(s, FloatFormat) or s.man != 0:
        raise ValueError(f"{what}: the block format {block_fmt} must have a power-of-two FloatFormat scale "
                         f"(man=0, as E8M0), not {s}")
    if block_fmt.rule is not ScaleRule.OCP or block_fmt.nan_policy is not NanPolicy.OCP:
        raise ValueError(f"{what}: the block format {block_fmt} must use rule='ocp' and nan_policy='ocp' "
                         f"(the RTL block quantizer's), not rule={block_fmt.rule}, "
                         f"nan_policy={block_fmt.nan_policy}")


def _shared_exponents(m, in_fmt, block_fmt, codes: list) -> list:
    """Per block of ``codes`` (carrier codes, Amaranth values): ``(e, scale, special)`` — the
    shared exponent (signed), its scale code and whether the block holds a NaN or an inf —
    as ``BlockFormat.encode`` chooses them (``rule="ocp"``, ``nan_policy="ocp"``)."""
    bits = in_fmt.bits
    mag_bits = bits - 1 if in_fmt.signed else bits
    lo, hi = _scale_range(block_fmt.scale)
    emax, block = block_fmt.emax_elem, block_fmt.block
    e_shape = signed(signed_bits(min(lo, in_fmt.min_exp - in_fmt.man - emax - 1), max(hi, in_fmt.max_exp + 1)))
    out = []
    for j in range(-(-len(codes) // block)):
        mags = [c[:mag_bits] for c in codes[j * block:(j + 1) * block]]
        while len(mags) > 1:                           # a tree of unsigned maxima
            mags = [Mux(a > b, a, b) for a, b in zip(mags[::2], mags[1::2])] + mags[len(mags) & ~1:]
        amax = Signal(mag_bits, name=f"amax{j}")
        m.d.comb += amax.eq(mags[0])
        u = unpack(in_fmt, Cat(amax, Const(0, bits - mag_bits)))
        special = Signal(name=f"special{j}")
        top = Signal(e_shape, name=f"top_exp{j}")     # floor(log2(amax)), subnormals normalised
        e = Signal(e_shape, name=f"shared_exp{j}")
        raw = top - emax
        m.d.comb += [special.eq(u.is_nan | u.is_inf), top.eq(u.exp + in_fmt.man - clz(m, u.sig)),
                     e.eq(Mux(u.is_zero | (raw < lo), lo, Mux(raw > hi, hi, raw)))]
        out.append((e, round_pack(m, block_fmt.scale, Const(0, 1), Const(1, 1), e, nan=special), special))
    return out


def _element(m, in_fmt, block_fmt, code, e):
    """The element code of carrier code ``code`` in a block of shared exponent ``e``:
    ``V / 2**e`` rounded as ``BlockFormat.encode`` rounds it (its element encoder: the element
    format, overflow saturating, with its default rounding)."""
    enc = block_fmt._element_encoder
    u = unpack(in_fmt, code)
    return round_pack(m, enc, u.sign, u.sig, u.exp - e, rounding=enc.default_rounding)


class BlockQuantizer(Unit):
    """A vector of carrier codes (e.g. FP32) encoded into MX blocks, as ``BlockFormat.encode``.

    Parameters
    ----------
    in_fmt : FloatFormat
        The input codes' format (the MX carrier, FP32).
    block_fmt : BlockFormat
        Minifloat elements, a power-of-two scale (E8M0), ``rule="ocp"``, ``nan_policy="ocp"``;
        blocked along the vector (its ``axis`` is ignored).
    n : int
        Elements of the vector (a ragged last block is shorter).
    stages : int
        Pipeline registers (0: combinational).

    Per block (``docs/block_formats.md``, *Encoding one block*): the largest magnitude by
    unsigned comparison of the codes with the sign cleared; a NaN or inf in the block gives
    the NaN scale and element codes 0; else the shared exponent ``E − emax_elem`` (``E`` the
    largest magnitude's exponent, subnormals normalised; an all-zero block the smallest),
    clamped to the scale's exponents; the scale code is ``2**e`` packed by
    :func:`~numfmt.hw.rtl._float.round_pack`; each element is ``V / 2**e`` rounded by
    ``round_pack`` to the element format with overflow saturating (the encoder numfmt uses,
    with its default rounding). :class:`BlockMatrixVector` uses the same two steps
    (``_shared_exponents`` when a vector arrives, ``_element`` for the ``simd`` elements of
    each cycle).

    Output fields — the block encoding of a vector: ``e0 … e{n-1}`` (element codes) then
    ``s0 … s{nb-1}`` (scale codes).

    >>> import numpy as np, numfmt as nf
    >>> u = BlockQuantizer(nf.parse("fp32"), nf.BlockFormat(nf.FLOATS["e2m1fn"], 2), 3)
    >>> out = u.model({"x0": np.array([0x3FC00000]), "x1": np.array([0xC0C00000]), "x2": np.array([0])})
    >>> [int(out[f][0]) for f in ("e0", "e1", "e2", "s0", "s1")]          # 1.5, -6 | 0
    [3, 15, 0, 127, 0]
    """

    def __init__(self, in_fmt, block_fmt, n: int, *, stages: int = 0):
        _check_quantizable("BlockQuantizer", in_fmt, block_fmt)
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
            raise ValueError(f"n must be an integer ≥ 1, not {n!r}")
        if isinstance(stages, bool) or not isinstance(stages, int) or stages < 0:
            raise ValueError(f"stages must be an integer ≥ 0, not {stages!r}")
        self.in_fmt, self.n, self.stages = in_fmt, int(n), stages
        self.block_fmt = dataclasses.replace(block_fmt, axis=-1)
        self.latency = stages
        self.nb = -(-self.n // block_fmt.block)
        out = vector_fields("e", self.n, block_fmt.element)
        out.update({f"s{j}": Field.of(block_fmt.scale) for j in range(self.nb)})
        super().__init__(vector_fields("x", self.n, in_fmt), out)

    def parameters(self) -> dict:
        return {"in": str(self.in_fmt), "block": str(self.block_fmt), "n": self.n, "stages": self.stages}

    def model(self, inputs: dict) -> dict:
        x = decode_vector(inputs, "x", self.n, self.in_fmt)
        codes = self.block_fmt.encode(x)
        out = {f"e{k}": codes.elements[:, k].astype(np.uint64) for k in range(self.n)}
        out.update({f"s{j}": codes.scales[:, j].astype(np.uint64) for j in range(self.nb)})
        return out

    def elaborate(self, platform):
        m = Module()
        x = [Value.cast(getattr(self.i.payload, f"x{k}")) for k in range(self.n)]
        blocks = _shared_exponents(m, self.in_fmt, self.block_fmt, x)
        block = self.block_fmt.block
        elements = [Mux(blocks[k // block][2], 0, _element(m, self.in_fmt, self.block_fmt, c, blocks[k // block][0]))
                    for k, c in enumerate(x)]
        pipeline(m, self.i, self.o, Cat(*elements, *(s for _, s, _ in blocks)), self.stages)
        return m


class BlockMatrixVector(MatrixVector):
    """A Dense layer with MX activations and weights (minifloat elements) as a folded matrix–vector unit.

    Parameters
    ----------
    node : numfmt.nn.quantized.QLinear
        A Dense node whose input is a block format (``node.x.block``, e.g. ``QConfig(weight=
        "mxfp4", act="mxfp4")``): FP32-carrier codes in and out, block weights
        (``node.block_format``, the same block), the exact accumulator.
    pe : int
        Output channels in parallel; divides ``out``.
    simd : int
        Inputs per PE and cycle; divides ``in`` and is a multiple or a divisor of the block
        size: ``dots = simd / k`` :class:`~numfmt.hw.rtl.BlockDot` units of ``k = min(simd,
        block)`` elements per PE (a part of a block shares the block's scale; the exact
        register makes the sum of the parts the block's).

    The block encoding of :class:`BlockQuantizer` is split in time: when a vector is taken,
    each block's shared exponent and scale code are computed and buffered with the carrier
    codes; in the cycle the ROM is read, the ``simd`` elements of the synapse fold are
    rounded into their blocks (``simd`` element roundings per stage, not ``in``). ROM word
    ``nf·SF + sf`` holds the ``pe·simd`` weight element codes of neuron fold ``nf``, synapse
    fold ``sf`` (weight
    ``(nf·pe + p, sf·simd + s)`` at bits ``(p·simd + s)·weight_bits``) followed by the
    ``pe·dots`` weight scale codes (PE ``p``, dot ``t`` at ``pe·simd·weight_bits +
    (p·dots + t)·scale_bits``: the scale of block ``(sf·simd + t·k) // block`` of channel
    ``nf·pe + p``), all numfmt's codes (``node`` 's weight ``BlockCodes``). Each PE's signed
    register of :attr:`register_width` bits counts units of ``2**register_exp``; it starts
    at the bias (``node.bias · 2**node.acc_exp``, the FP32 value of ``docs/nn.md``) and adds
    ``D · 2**(e + quantum_exp)`` for each BlockDot (``D`` its exact element dot product,
    ``e`` the sum of the shared exponents) without overflow for any input (the scale's
    whole exponent range); the last sum is rounded once to the carrier, saturating, a zero
    as +0 — ``node.run``, which :meth:`model` is.
    """

    def __init__(self, node, *, pe: int = 1, simd: int = 1):
        if not isinstance(node, QLinear) or node.kind != "dense":
            raise TypeError(f"node must be a Dense QLinear node of a QuantizedGraph, not {node!r}")
        if node.x.block is None:
            raise ValueError(f"node {node.name!r}: its input {node.x.format} is not a block (MX) format; "
                             "MatrixVector builds scalar layers")
        what = f"node {node.name!r}"
        _check_quantizable(what, node.x.format, node.x.block)
        if not isinstance(node.out.format, FloatFormat):
            raise ValueError(f"{what}: the output carrier must be a FloatFormat, not {node.out.format}")
        if node.acc is not None and not isinstance(node.acc, ExactAccumulator):
            raise ValueError(f"{what}: the accumulator {node.acc} is not supported by the MX accelerator yet "
                             "(the exact accumulator only)")
        self.node, self.block_fmt = node, node.x.block
        self.in_fmt, self.out_fmt = node.x.format, node.out.format
        self.block = int(self.block_fmt.block)
        self.n_out, self.n_in = (int(s) for s in node.weight_codes.shape)
        self.pe = _positive_divisor("pe", pe, self.n_out, f"output channels of {node.name!r}")
        self.simd = _positive_divisor("simd", simd, self.n_in, f"inputs of {node.name!r}")
        if self.simd % self.block and self.block % self.simd:
            raise ValueError(f"simd={self.simd} must be a multiple or a divisor of the block size "
                             f"{self.block} of {node.name!r} ({self.block_fmt})")
        #: elements per BlockDot and BlockDots per PE
        self.k = min(self.simd, self.block)
        self.dots = self.simd // self.k
        self.nf, self.sf = self.n_out // self.pe, self.n_in // self.simd
        self.cycles = self.nf * self.sf
        self.latency = self.cycles + MVU_OVERHEAD
        self.ii = self.latency
        self.a_fmt = dataclasses.replace(self.block_fmt, block=self.k, axis=-1)
        self.b_fmt = dataclasses.replace(node.block_format, block=self.k, axis=-1)
        try:
            dot = BlockDot(self.a_fmt, self.b_fmt, stages=0)
        except ValueError as exc:
            raise ValueError(f"{what}: {exc}") from None
        dot._MustUse__silence = True                     # only asked for its widths
        self.quantum_exp, self.dot_width = dot.quantum_exp, dot.sum_width
        # the node's weight codes (BlockCodes blocked along the inputs): elements (in, out), scales (blocks, out)
        wcodes = node._blk["wcodes"]
        self.weight_scales = np.ascontiguousarray(wcodes.scales.T)                   # (out, blocks)
        scale_fmt = node.block_format.scale
        wexp = np.frexp(scale_fmt.decode(self.weight_scales))[1] - 1
        if not np.array_equal(np.ldexp(1.0, wexp), scale_fmt.decode(self.weight_scales)) \
                or not np.array_equal(wexp, node._blk["ew"]):
            raise ValueError(f"{what}: its weight block exponents {int(node._blk['ew'].min())}.."
                             f"{int(node._blk['ew'].max())} are not all held by the scale format {scale_fmt}")
        self.weight_bits, self.scale_bits = int(node.weight_format.bits), int(scale_fmt.bits)
        self.weights = _dp.to_int(node.weight_format.decode(node.weight_codes),
                                  _dp.quantum_exp(node.weight_format))               # element integers
        # the exact register: every term D·2**(ex + ew + q) and the bias on one grid
        (xlo, xhi), (wlo, whi) = _scale_range(self.block_fmt.scale), (int(wexp.min()), int(wexp.max()))
        bias = [int(b) for b in node.bias]
        bexp = [int(e) for b, e in zip(bias, node.acc_exp) if b]
        #: the register counts units of 2**register_exp
        self.register_exp = min([xlo + wlo + self.quantum_exp] + bexp)
        self.bias_start = [b << (int(e) - self.register_exp) if b else 0 for b, e in zip(bias, node.acc_exp)]
        #: left shift of a BlockDot's D is ``e − exp_offset`` (0 … max_shift)
        self.exp_offset = self.register_exp - self.quantum_exp
        self.max_shift = xhi + whi - self.exp_offset
        bound = (self.n_in // self.k) * (1 << (self.dot_width - 1 + self.max_shift)) + max(abs(b) for b in
                                                                                          self.bias_start)
        self.register_width = bound.bit_length() + 1
        self.register, self.shift = None, 0
        self.round_fmt = _dp.converter(self.out_fmt)        # the carrier, saturating (numfmt's rounding)
        Unit.__init__(self, vector_fields("x", self.n_in, self.in_fmt), vector_fields("y", self.n_out, self.out_fmt))

    def parameters(self) -> dict:
        scales = hashlib.sha1(np.ascontiguousarray(self.weight_scales, dtype=np.int64).tobytes()).hexdigest()[:8]
        return {"node": self.node.name, "in": self.n_in, "out": self.n_out, "pe": self.pe, "simd": self.simd,
                "constants": constants_digest([self.node]) + scales}

    # -- ROM contents ----------------------------------------------------------------
    def weight_words(self) -> list:
        """ROM word ``nf·SF + sf``: the ``pe·simd`` element codes, then the ``pe·dots`` scale codes."""
        c = self.node.weight_codes.astype(np.int64).reshape(self.nf, self.pe, self.sf, self.simd)
        elements = _pack_words(c.transpose(0, 2, 1, 3).reshape(self.cycles, -1), self.weight_bits)
        block = (np.arange(self.sf)[:, None] * self.simd + np.arange(self.dots)[None, :] * self.k) // self.block
        s = self.weight_scales.astype(np.int64).reshape(self.nf, self.pe, -1)[:, :, block]   # (nf, pe, sf, dots)
        scales = _pack_words(s.transpose(0, 2, 1, 3).reshape(self.cycles, -1), self.scale_bits)
        offset = self.pe * self.simd * self.weight_bits
        return [e | (s << offset) for e, s in zip(elements, scales)]

    def bias_words(self) -> list:
        """ROM word ``nf``: the register start (bias) of channel ``nf·pe + p`` at bits ``p·register_width``."""
        return _pack_words(np.array(self.bias_start, dtype=object).reshape(self.nf, self.pe), self.register_width)

    def rom_description(self, weights_file: str, biases_file: str) -> dict:
        """What ``numfmt build`` writes about this layer's constants beyond ``MatrixVector`` 's
        (``weights/<layer>.json``): the block scales, the FP32 bias, no requantizer, the ROMs."""
        node, scale = self.node, self.node.block_format.scale
        wwidth = self.pe * (self.simd * self.weight_bits + self.dots * self.scale_bits)
        return {
            "weight": f"element integers in units of the element format's quantum ({node.weight_format}), "
                      "weight[out][in]; the real weight is element value * weight block scale",
            "block_format": str(node.block_format),
            "weight_scale_codes": self.weight_scales.astype(np.int64).tolist(),
            "weight_scales": f"codes of {scale}, [out][block]: block j covers inputs j*{self.block} .. "
                             f"(j+1)*{self.block}-1",
            "acc_exp": np.asarray(node.acc_exp, dtype=np.int64).tolist(),
            "bias_units": "bias[o] * 2**acc_exp[o] is the FP32 bias of channel o",
            "requantizer": None,
            "output": f"the exact register rounded once to {self.round_fmt} (RNE, saturating; zero is +0)",
            "rom": {"weights": {"file": weights_file, "words": self.cycles, "width": wwidth,
                                "layout": "word nf*SF + sf holds the element code of weight (nf*pe + p, "
                                          "sf*simd + s) at bits (p*simd + s)*weight_bits, then the scale code "
                                          "of block (sf*simd + t*k) // block of channel nf*pe + p at bits "
                                          "pe*simd*weight_bits + (p*dots + t)*scale_bits "
                                          f"(k = {self.k}, dots = {self.dots})"},
                    "biases": {"file": biases_file, "words": self.nf, "width": self.pe * self.register_width,
                               "layout": "word nf holds the register start of channel nf*pe + p at bits "
                                         f"p*register_width, two's complement in units of 2**{self.register_exp}"}},
        }

    # -- hardware -----------------------------------------------------------------------
    def elaborate(self, platform):
        m = Module()
        i, o = self.i, self.o
        pe, simd, k, dots, rw = self.pe, self.simd, self.k, self.dots, self.register_width
        wb, sb = self.weight_bits, self.scale_bits
        xb, xsb = self.block_fmt.element.bits, self.block_fmt.scale.bits
        wport = _rom(m, "weights", pe * simd * wb + pe * dots * sb, self.weight_words())
        bport = _rom(m, "biases", pe * rw, self.bias_words())

        # the input vector (carrier codes) and, per block, its shared exponent and scale code
        cb = self.in_fmt.bits
        x = Signal(self.n_in * cb, name="x_buffer")
        payload = i.payload.as_value()
        blocks = _shared_exponents(m, self.in_fmt, self.block_fmt,
                                   [payload[k * cb:(k + 1) * cb] for k in range(self.n_in)])
        x_exp = [Signal(e.shape(), name=f"x_exp{j}") for j, (e, _, _) in enumerate(blocks)]
        x_scale = [Signal(xsb, name=f"x_scale{j}") for j in range(len(blocks))]

        busy, running, first, sf, _, v1, first1, last1, sf1, nf1 = _fold_control(m, self, wport, bport)

        # stage 1 also: the simd elements of synapse fold sf rounded into their blocks (as
        # BlockFormat.encode rounds them), with the scale of each dot's block
        xs = Signal(simd * cb, name="x_slice")
        _select(m, xs, x, sf, self.sf)
        el1 = Signal(simd * xb, name="mac_elements")
        sc1 = [Signal(xsb, name=f"mac_scale{t}") for t in range(dots)]
        for t in range(dots):
            e_t = Signal(x_exp[0].shape(), name=f"dot_exp{t}")
            index = (np.arange(self.sf) * simd + t * k) // self.block       # the block of dot t per fold
            if self.sf == 1:
                m.d.comb += e_t.eq(x_exp[index[0]])
                m.d.sync += sc1[t].eq(x_scale[index[0]])
            else:
                with m.Switch(sf):
                    for f, j in enumerate(index):
                        with (m.Case(f) if f < self.sf - 1 else m.Default()):
                            m.d.comb += e_t.eq(x_exp[j])
                            m.d.sync += sc1[t].eq(x_scale[j])
            for j in range(t * k, (t + 1) * k):
                m.d.sync += el1[j * xb:(j + 1) * xb].eq(_element(m, self.in_fmt, self.block_fmt,
                                                                   xs[j * cb:(j + 1) * cb], e_t))

        # stage 2: each PE adds its dots' D·2**(e + q) to its exact register (the bias starts a row)
        regs, nans = [], []
        wscale0 = pe * simd * wb
        for p in range(pe):
            terms, nan_terms = [], []
            for t in range(dots):
                dot = m.submodules[f"dot{p}_{t}"] = BlockDot(self.a_fmt, self.b_fmt, stages=0)
                d = dot.i.payload
                m.d.comb += [dot.i.valid.eq(1), dot.o.ready.eq(1), d.sa.eq(sc1[t]),
                             d.sb.eq(wport.data[wscale0 + (p * dots + t) * sb:wscale0 + (p * dots + t + 1) * sb])]
                for j in range(k):
                    s = t * k + j
                    m.d.comb += [getattr(d, f"a{j}").eq(el1[s * xb:(s + 1) * xb]),
                                 getattr(d, f"b{j}").eq(wport.data[(p * simd + s) * wb:(p * simd + s + 1) * wb])]
                y = dot.o.payload
                amount = Signal(range(self.max_shift + 1), name=f"shift{p}_{t}")
                m.d.comb += amount.eq(Value.cast(y.e).as_signed() - self.exp_offset)
                term = Signal(signed(rw), name=f"term{p}_{t}")
                # the signed dot shifted as it is (the register is wide enough for every term);
                # assigning it sign-extends: no rw-bit sign extension before a 2**len(amount)-bit-wider shift
                m.d.comb += term.eq(Value.cast(y.y).as_signed() << amount)
                terms.append(term)
                nan_terms.append(Value.cast(y.special) == 1)
            reg, nan = Signal(signed(rw), name=f"acc{p}"), Signal(name=f"nan{p}")
            base = Mux(first1, bport.data[p * rw:(p + 1) * rw].as_signed(), reg)
            with m.If(v1):
                m.d.sync += [reg.eq(base + sum(terms)), nan.eq((nan & ~first1) | Cat(*nan_terms).any())]
            regs.append(reg)
            nans.append(nan)
        v2, nf2 = Signal(name="sum_valid"), _counter(self.nf, "sum_nf")
        m.d.sync += [v2.eq(v1 & last1), nf2.eq(nf1)]

        # stage 3: round the pe registers of neuron fold nf2 once to the carrier (+0 for a zero);
        # the rounder's input is held at 0 except in the cycle its result is taken (operand
        # isolation: the wide normalising shifter stays still while the register accumulates,
        # which also keeps event-driven simulators such as Icarus fast)
        ys = []
        for p, reg in enumerate(regs):
            neg = reg[rw - 1] & v2
            mag = Signal(rw, name=f"mag{p}")
            m.d.comb += mag.eq(Mux(v2, Mux(neg, -reg, reg), 0))
            ys.append(round_activation(m, self.out_fmt, neg, mag, self.register_exp, nan=nans[p]))
        _collect_outputs(m, self, ys, v2, nf2, busy)
        with m.If(i.valid & i.ready):                   # last: a vector taken as the output goes wins
            m.d.sync += [x.eq(payload), busy.eq(1), running.eq(1), first.eq(1)]
            m.d.sync += [r.eq(e) for r, (e, _, _) in zip(x_exp, blocks)]
            m.d.sync += [r.eq(c) for r, (_, c, _) in zip(x_scale, blocks)]
        return m
