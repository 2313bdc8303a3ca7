"""Sliding-window stages of a streaming accelerator: Conv2d on the matrix–vector unit, MaxPool, AvgPool, Add.

Like every stage of :mod:`numfmt.hw.accel.stages`, each takes one whole tensor per
input transaction (fields ``x0 …`` in C order, ``(C, H, W)``) and answers with one whole
tensor (``y0 …``, C order); its :meth:`~numfmt.hw.rtl.Unit.model` is its node's ``run``
in the :class:`numfmt.nn.QuantizedGraph`. See ``docs/accel.md``.

* :class:`Convolution` — a Conv2d ``QLinear``: the sliding-window (im2col) generator
  hands one window (``ic·kh·kw`` codes, zero padding included, the order of
  :func:`numfmt.nn.layers.im2col`) at a time to a :class:`~numfmt.hw.accel.MatrixVector`
  built from the node seen as a Dense layer of ``ic·kh·kw`` inputs (:func:`dense_view`),
  and a collector scatters each window's ``oc`` outputs into the output tensor.
  ``OH·OW·(T + 3) + 2`` cycles per tensor, ``T = (oc/pe)·(ic·kh·kw/simd)``.
* :class:`MaxPool` — the largest code of each window (compare chains), one register.
* :class:`AvgPool` — the exact window sums rounded once as :class:`numfmt.nn.QAvgPool`
  defines it (a :class:`numfmt.hw.rtl.Requantizer` for integers, one float rounding for
  minifloat and MX-carrier codes), ``lanes`` outputs per cycle.
* :class:`Add` — a residual Add, ``round((A·m_a + B·m_b)·2**-shift)`` as
  :class:`numfmt.nn.QAdd` defines it (likewise), ``lanes`` outputs per cycle; its input
  transaction carries both tensors (fields ``a0 …``, ``b0 …``).

>>> import numpy as np
>>> from numfmt import nn
>>> rng = np.random.default_rng(0)
>>> g = nn.Graph.sequential([nn.Conv2d(rng.normal(size=(2, 1, 3, 3)), padding=1)], input_shape=(1, 4, 4))
>>> q = nn.quantize(g, nn.QConfig(weight="int8", act="int8"), rng.normal(size=(20, 1, 4, 4)))
>>> conv = Convolution(q.node("conv2d0"), (1, 4, 4), pe=2, simd=3)
>>> conv.out_shape, conv.mvu.cycles, conv.latency
((2, 4, 4), 3, 98)
"""

from __future__ import annotations

import dataclasses

import numpy as np
from amaranth.hdl import Cat, Const, Module, Mux, Signal, signed

from numfmt.formats.floating import FloatFormat

from numfmt.nn import _datapath as _dp
from numfmt.nn.layers import AvgPool2d, Conv2d, MaxPool2d, im2col
from numfmt.nn.quantized import QAdd, QAvgPool, QLinear, QPassThrough

from ..rtl._unit import Unit, pipeline
from ..rtl.requant import Requantizer
from .float_mvu import aligned_operand, round_activation
from .stages import (MatrixVector, _act_format, _code_key, _positive_divisor,
                     constants_digest, decode_vector, encode_vector, vector_fields)

__all__ = ["Add", "AvgPool", "Convolution", "MaxPool", "dense_view"]


def dense_view(node):
    """A Conv2d ``QLinear`` as the Dense ``QLinear`` of one window: weights ``(oc, ic·kh·kw)``
    in :func:`~numfmt.nn.layers.im2col` 's column order, every other constant the node's.
    Its ``run`` on the im2col rows of an input is the conv's ``run`` before the reshape.

    >>> import numpy as np
    >>> from numfmt import nn
    >>> g = nn.Graph.sequential([nn.Conv2d(np.ones((4, 2, 3, 3)))], input_shape=(2, 5, 5))
    >>> q = nn.quantize(g, nn.QConfig(weight="int8", act="int8"), np.ones((2, 2, 5, 5)))
    >>> dense_view(q.node("conv2d0")).weight_codes.shape
    (4, 18)
    """
    if not isinstance(node, QLinear) or node.kind != "conv":
        raise TypeError(f"node must be a Conv2d QLinear node of a QuantizedGraph, not {node!r}")
    oc = node.weight_codes.shape[0]
    return dataclasses.replace(node, kind="dense", stride=(1, 1), padding=(0, 0),
                               weight_codes=node.weight_codes.reshape(oc, -1),
                               weight_exp=node.weight_exp.reshape(oc, -1))


def _shape3(name: str, shape) -> tuple:
    shape = tuple(int(d) for d in shape)
    if len(shape) != 3 or min(shape) < 1:
        raise ValueError(f"{name} must be a (C, H, W) shape, not {shape!r}")
    return shape


class Convolution(Unit):
    """A quantized Conv2d layer: a sliding-window generator feeding a matrix–vector unit.

    Parameters
    ----------
    node : numfmt.nn.quantized.QLinear
        A Conv2d node (``kind="conv"``), with what :class:`~numfmt.hw.accel.MatrixVector`
        takes of a Dense node (IntFormat activations, one weight scale per channel, …).
    in_shape : tuple
        ``(ic, H, W)`` of its input.
    pe, simd : int
        The folding of the matrix–vector unit: ``pe`` divides ``oc``, ``simd`` divides ``ic·kh·kw``.
    matrix_vector : callable, optional
        ``(dense_node, pe, simd) -> stage`` building the matrix–vector unit (default
        :class:`~numfmt.hw.accel.MatrixVector`; the accelerator passes its ``dense_stage``).

    The input tensor is held in a register; window ``p = oh·OW + ow`` (input rows
    ``oh·sh - ph …``, columns ``ow·sw - pw …``, codes of 0 outside) is handed to the
    matrix–vector unit :attr:`mvu` as one vector, and its ``oc`` outputs go to elements
    ``(c, oh, ow)`` of the output register. Timing (``o`` ready): window 0 one cycle after
    the input handshake, one window every ``mvu.latency = T + 3`` cycles, the output one
    cycle after the last window's result: :attr:`latency` ``= OH·OW·(T + 3) + 2``. The
    stage takes its next tensor in the cycle its output is taken: :attr:`ii` ``= latency``.
    """

    def __init__(self, node, in_shape, *, pe: int = 1, simd: int = 1, matrix_vector=None):
        view = dense_view(node)
        oc, ic, kh, kw = (int(s) for s in node.weight_codes.shape)
        in_shape = _shape3("in_shape", in_shape)
        try:                                  # the float layer's shape rule (channels, the kernel fits)
            _, oh, ow = Conv2d(np.zeros(node.weight_codes.shape), stride=node.stride,
                               padding=node.padding).out_shape(in_shape)
        except ValueError as exc:
            raise ValueError(f"node {node.name!r}: {exc}") from None
        (sh, sw), (ph, pw) = node.stride, node.padding
        if matrix_vector is None:
            self.mvu = MatrixVector(view, pe=pe, simd=simd)
        else:
            self.mvu = matrix_vector(view, pe, simd)
        self.mvu._MustUse__silence = True        # elaborated as this stage's submodule
        self.node, self.in_shape, self.out_shape = node, in_shape, (oc, oh, ow)
        self.kernel, self.stride, self.padding = (kh, kw), (sh, sw), (ph, pw)
        self.in_fmt, self.out_fmt = self.mvu.in_fmt, self.mvu.out_fmt
        self.pe, self.simd = self.mvu.pe, self.mvu.simd
        self.windows = oh * ow
        self.n_in, self.n_out = int(np.prod(in_shape)), oc * oh * ow
        #: MAC cycles per tensor: ``OH·OW·T``
        self.cycles = self.windows * self.mvu.cycles
        self.latency = self.windows * self.mvu.latency + 2
        self.ii = self.latency
        super().__init__(vector_fields("x", self.n_in, self.in_fmt), vector_fields("y", self.n_out, self.out_fmt))

    def parameters(self) -> dict:
        return {"node": self.node.name, "in": "x".join(map(str, self.in_shape)), "pe": self.pe, "simd": self.simd,
                "constants": constants_digest([self.node])}

    def window_index(self) -> np.ndarray:
        """``(OH·OW, ic·kh·kw)``: the input element of each window position, −1 for padding
        (:func:`numfmt.nn.layers.im2col` of the element indices)."""
        ic, h, w = self.in_shape
        idx = np.arange(self.n_in, dtype=np.float64).reshape(1, ic, h, w) + 1.0     # 0 marks padding
        return im2col(idx, self.kernel, self.stride, self.padding).astype(np.int64) - 1

    def elaborate(self, platform):
        m = Module()
        i, o, mvu = self.i, self.o, self.mvu
        m.submodules.mvu = mvu
        bits, obits, P, oc = self.in_fmt.bits, self.out_fmt.bits, self.windows, self.out_shape[0]
        zero = Const(int(self.in_fmt.encode(np.array([0.0]))[0]), bits)

        busy = Signal()                                    # input handshake to output handshake
        x = Signal(self.n_in * bits, name="x_buffer")
        take_out = o.valid & o.ready
        m.d.comb += i.ready.eq(~busy | take_out)

        # the sliding window: window p of the held tensor, valid until the unit takes the last one
        wvalid = Signal(name="window_valid")
        p = Signal(range(max(P, 2)), name="window")             # ≥ 1 bit: no 0-bit vectors
        window = Signal(len(mvu.i.payload.as_value()), name="window_codes")
        table = self.window_index()
        with m.Switch(p):
            for k in range(P):
                with (m.Case(k) if k < P - 1 else m.Default()):
                    m.d.comb += window.eq(Cat(*(zero if e < 0 else x.word_select(int(e), bits) for e in table[k])))
        m.d.comb += [mvu.i.payload.as_value().eq(window), mvu.i.valid.eq(wvalid), mvu.o.ready.eq(1)]
        with m.If(mvu.i.valid & mvu.i.ready):
            with m.If(p == P - 1):
                m.d.sync += [wvalid.eq(0), p.eq(0)]
            with m.Else():
                m.d.sync += p.eq(p + 1)

        # the collector: window q's oc results to elements (c, q) of the output tensor
        q = Signal(range(max(P, 2)), name="result")
        out = o.payload.as_value()
        res = mvu.o.payload.as_value()
        with m.If(take_out):
            m.d.sync += [o.valid.eq(0), busy.eq(0)]
        with m.If(mvu.o.valid):
            with m.Switch(q):
                for k in range(P):
                    with (m.Case(k) if k < P - 1 else m.Default()):
                        m.d.sync += [out.word_select(c * P + k, obits).eq(res.word_select(c, obits))
                                     for c in range(oc)]
            with m.If(q == P - 1):
                m.d.sync += [o.valid.eq(1), q.eq(0)]
            with m.Else():
                m.d.sync += q.eq(q + 1)
        with m.If(i.valid & i.ready):
            m.d.sync += [x.eq(i.payload.as_value()), busy.eq(1), wvalid.eq(1), p.eq(0)]
        return m

    def model(self, inputs: dict) -> dict:
        xv = decode_vector(inputs, "x", self.n_in, self.in_fmt).reshape((-1,) + self.in_shape)
        return encode_vector(self.node.run(xv), "y", self.out_fmt)


def _pool_windows(in_shape, layer) -> np.ndarray:
    """``(C·OH·OW, kh·kw)``: the input elements of each output element's window (C order), by
    the pooling ``layer``'s own ``windows``."""
    idx = np.arange(int(np.prod(in_shape)), dtype=np.float64).reshape((1,) + tuple(in_shape))
    win = layer.windows(idx)                                          # (1, C, OH, OW, kh, kw)
    return win.reshape(-1, win.shape[-2] * win.shape[-1]).astype(np.int64)


class MaxPool(Unit):
    """MaxPool2d of a :class:`~numfmt.nn.QuantizedGraph` (a ``QPassThrough``): the largest
    code of each window by value (compare chains on the integers, or on a minifloat code's
    magnitude negated when its sign is set), one output register; a zero maximum is the
    code of +0, as :class:`numfmt.nn.layers.MaxPool2d` gives.

    Parameters
    ----------
    node : numfmt.nn.quantized.QPassThrough
        A MaxPool2d node with an IntFormat or FloatFormat format.
    in_shape : tuple
        ``(C, H, W)`` of its input.

    Latency 1, II 1.
    """

    latency = 1

    def __init__(self, node, in_shape):
        if not isinstance(node, QPassThrough) or not isinstance(node.layer, MaxPool2d):
            raise TypeError(f"node must be a MaxPool2d node of a QuantizedGraph, not {node!r}")
        self.node, self.in_shape = node, _shape3("in_shape", in_shape)
        self.fmt = _act_format(f"node {node.name!r}: the format", node.out.format)
        try:
            self.out_shape = tuple(node.layer.out_shape(self.in_shape))
        except ValueError as exc:
            raise ValueError(f"node {node.name!r}: {exc}") from None
        self.n_in, self.n_out = int(np.prod(self.in_shape)), int(np.prod(self.out_shape))
        self.table = _pool_windows(self.in_shape, node.layer)
        self.ii = 1
        super().__init__(vector_fields("x", self.n_in, self.fmt), vector_fields("y", self.n_out, self.fmt))

    def parameters(self) -> dict:
        k, s = self.node.layer.kernel, self.node.layer.stride
        return {"node": self.node.name, "in": "x".join(map(str, self.in_shape)), "kernel": f"{k[0]}x{k[1]}",
                "stride": f"{s[0]}x{s[1]}", "format": str(self.fmt)}

    def elaborate(self, platform):
        m = Module()
        bits = self.fmt.bits
        x = self.i.payload.as_value()
        zero = Const(int(self.fmt.encode(np.array([0.0]))[0]), bits)
        ys = []
        for j, row in enumerate(self.table):
            best = x.word_select(int(row[0]), bits)
            for t, e in enumerate(row[1:]):
                code = x.word_select(int(e), bits)
                nxt = Signal(bits, name=f"max{j}_{t}")
                m.d.comb += nxt.eq(Mux(_code_key(code, self.fmt) > _code_key(best, self.fmt), code, best))
                best = nxt
            if isinstance(self.fmt, FloatFormat):                  # ±0: the code of +0
                best = Mux(_code_key(best, self.fmt) == 0, zero, best)
            ys.append(best)
        pipeline(m, self.i, self.o, Cat(*ys), 1)
        return m

    def model(self, inputs: dict) -> dict:
        xv = decode_vector(inputs, "x", self.n_in, self.fmt).reshape((-1,) + self.in_shape)
        return encode_vector(self.node.run(xv), "y", self.fmt)


class _Serial(Unit):
    """A stage that computes its ``n_out`` outputs ``lanes`` at a time from a held input vector:
    an exact integer ``K`` per output (its operands' codes as integers in units of their
    formats' quanta, :func:`~numfmt.hw.accel.float_mvu.aligned_operand`), then one rounding —
    a combinational :class:`numfmt.hw.rtl.Requantizer` for an IntFormat output,
    :func:`~numfmt.hw.accel.float_mvu.round_activation` of ``K · mult · 2**exp`` for a
    FloatFormat output.

    Subclasses set ``out_fmt``, ``acc_bits`` (``K``'s signed width), ``requantizer`` (a
    :class:`numfmt.quant.Requantizer`; None for a FloatFormat output, which sets
    ``out_scale = (mult, exp)``) and implement :meth:`_operands` (the fields output ``j``
    reads), :meth:`_operand_fmt` and :meth:`_acc` (``K`` from the operands' integers).
    Timing: step ``s`` (outputs ``s·lanes … s·lanes + lanes - 1``) in the ``s+1``-th cycle after
    the input handshake, the output register valid one cycle after the last step:
    :attr:`latency` ``= n_out/lanes + 1`` (``o`` ready); the next input is taken in the cycle
    the output is: :attr:`ii` ``= latency``.
    """

    def _setup(self, lanes, in_fields):
        self.lanes = _positive_divisor("lanes", lanes, self.n_out, f"outputs of {self.node.name!r}")
        self.steps = self.n_out // self.lanes
        self.latency = self.ii = self.steps + 1
        self._unit_args = None
        if self.requantizer is not None:
            try:
                self._unit_args = (self.requantizer, self.acc_bits)
                Requantizer(*self._unit_args, stages=0)._MustUse__silence = True
            except ValueError as exc:
                raise ValueError(f"node {self.node.name!r}: {exc}") from None
        super().__init__(in_fields, vector_fields("y", self.n_out, self.out_fmt))

    def elaborate(self, platform):
        m = Module()
        i, o = self.i, self.o
        busy, running = Signal(), Signal()
        x = Signal(len(i.payload.as_value()), name="x_buffer")
        s = Signal(range(max(self.steps, 2)), name="step")
        take_out = o.valid & o.ready
        m.d.comb += i.ready.eq(~busy | take_out)
        offsets = np.cumsum([0] + [f.width for f in self.in_fields.values()])
        widths = [f.width for f in self.in_fields.values()]
        n_ops = len(self._operands(0))
        ops = [[Signal(widths[e], name=f"lane{lane}_operand{t}") for t, e in enumerate(self._operands(lane))]
               for lane in range(self.lanes)]
        with m.Switch(s):
            for k in range(self.steps):
                with (m.Case(k) if k < self.steps - 1 else m.Default()):
                    for lane in range(self.lanes):
                        for t, e in enumerate(self._operands(k * self.lanes + lane)):
                            m.d.comb += ops[lane][t].eq(x[int(offsets[e]):int(offsets[e]) + widths[e]])
        qs = []
        for lane in range(self.lanes):
            ints = []
            for t in range(n_ops):
                v, h = aligned_operand(m, ops[lane][t], self._operand_fmt(t), f"lane{lane}_operand{t}")
                ints.append(v if h is None else v << h)
            acc = Signal(signed(self.acc_bits), name=f"lane{lane}_acc")
            m.d.comb += acc.eq(self._acc(ints))
            if self._unit_args is None:                   # a FloatFormat output: R_F(K · mult · 2**exp)
                mult, exp = self.out_scale
                mag = Signal(self.acc_bits - 1 + mult.bit_length(), name=f"lane{lane}_magnitude")
                m.d.comb += mag.eq(Mux(acc < 0, -acc, acc)[:self.acc_bits - 1] * mult)
                qs.append(round_activation(m, self.out_fmt, acc < 0, mag, exp))
                continue
            unit = m.submodules[f"requant{lane}"] = Requantizer(*self._unit_args, stages=0)
            m.d.comb += [unit.i.payload.acc.eq(acc), unit.i.valid.eq(running), unit.o.ready.eq(1)]
            qs.append(unit.o.payload.q)
        out = o.payload.as_value()
        w = self.lanes * self.out_fmt.bits
        with m.If(take_out):
            m.d.sync += [o.valid.eq(0), busy.eq(0)]
        with m.If(running):
            with m.Switch(s):
                for k in range(self.steps):
                    with (m.Case(k) if k < self.steps - 1 else m.Default()):
                        m.d.sync += out[k * w:(k + 1) * w].eq(Cat(*qs))
            with m.If(s == self.steps - 1):
                m.d.sync += [o.valid.eq(1), running.eq(0), s.eq(0)]
            with m.Else():
                m.d.sync += s.eq(s + 1)
        with m.If(i.valid & i.ready):
            m.d.sync += [x.eq(i.payload.as_value()), busy.eq(1), running.eq(1), s.eq(0)]
        return m


def _bound_bits(bound: int) -> int:
    """Bits of a signed register holding every integer of magnitude ≤ ``bound``."""
    return int(bound).bit_length() + 1


def _positive_multiplier(node, multiplier) -> int:
    if int(multiplier) < 1:
        raise ValueError(f"node {node.name!r}: the multiplier must be ≥ 1 for a FloatFormat output, "
                         f"not {multiplier!r}")
    return int(multiplier)


class AvgPool(_Serial):
    """AvgPool2d as :class:`numfmt.nn.QAvgPool` defines it: the exact sum ``S`` of each window,
    then one rounding into the format.

    * IntFormat (sat or wrap): ``round(S · multiplier · 2**-shift)`` by a
      :class:`numfmt.hw.rtl.Requantizer` (the node's multiplier, shift and the format's
      rounding and overflow, :func:`numfmt.nn._datapath.make_requantizer`).
    * FloatFormat (minifloat codes): ``S`` counts the format's quantum ``2**q``, and the
      node's multiplier and shift carry it: ``R_F(S · multiplier · 2**-shift)``.
    * Block (MX) activations, on FP32 carrier codes: ``R_F(S · 2**(q - shift))``, the exact
      window sum over the power-of-two window size.

    Parameters
    ----------
    node : numfmt.nn.quantized.QAvgPool
        With an IntFormat (sat or wrap) or a FloatFormat format.
    in_shape : tuple
        ``(C, H, W)`` of its input.
    lanes : int, optional
        Outputs computed per cycle (one requantizer or rounder each); divides ``C·OH·OW``.
        Default ``C``.

    Latency and II ``C·OH·OW/lanes + 1`` (:class:`_Serial`).
    """

    def __init__(self, node, in_shape, *, lanes: int | None = None):
        if not isinstance(node, QAvgPool):
            raise TypeError(f"node must be an AvgPool2d (QAvgPool) node of a QuantizedGraph, not {node!r}")
        self.node, self.in_shape = node, _shape3("in_shape", in_shape)
        self.fmt = self.out_fmt = _act_format(f"node {node.name!r}: the format", node.out.format)
        self.table = _pool_windows(self.in_shape, AvgPool2d(node.kernel, node.stride))
        self.n_in, self.n_out = int(np.prod(self.in_shape)), len(self.table)
        c = self.in_shape[0]
        (kh, kw), (sh, sw) = node.kernel, node.stride
        self.out_shape = (c, (self.in_shape[1] - kh) // sh + 1, (self.in_shape[2] - kw) // sw + 1)
        self.acc_bits = _bound_bits(_dp.max_abs_int(self.fmt) * self.table.shape[1])
        self.requantizer = None
        if isinstance(self.fmt, FloatFormat):
            if node.out.block is not None:         # the carrier's values: the window sum · 2**-shift
                self.out_scale = (1, _dp.quantum_exp(self.fmt) - int(node.shift))
            else:
                self.out_scale = (_positive_multiplier(node, node.multiplier), -int(node.shift))
        else:
            self.requantizer = _dp.make_requantizer(node.multiplier, node.shift, self.fmt)
            if self.requantizer is None:
                raise ValueError(f"node {node.name!r}: the format {self.fmt} has no integer requantizer "
                                 "(overflow must be 'sat' or 'wrap')")
        self._setup(c if lanes is None else lanes, vector_fields("x", self.n_in, self.fmt))

    def parameters(self) -> dict:
        return {"node": self.node.name, "in": "x".join(map(str, self.in_shape)), "lanes": self.lanes,
                "constants": constants_digest([self.node])}

    def _operands(self, j):
        return [int(e) for e in self.table[j]]

    def _operand_fmt(self, t):
        return self.fmt

    def _acc(self, ints):
        return sum(ints)

    def model(self, inputs: dict) -> dict:
        xv = decode_vector(inputs, "x", self.n_in, self.fmt).reshape((-1,) + self.in_shape)
        return encode_vector(self.node.run(xv), "y", self.fmt)


class Add(_Serial):
    """A residual Add as :class:`numfmt.nn.QAdd` defines it: ``K = A·m_a + B·m_b``, ``A``, ``B``
    the inputs' integers (in units of their formats' quanta), rounded once into the output
    format: ``round(K · 2**-shift)`` by a :class:`numfmt.hw.rtl.Requantizer` (multiplier 1,
    the node's shift, the format's rounding and overflow) for an IntFormat, ``R_F(K · 2**-shift)``
    for a FloatFormat (minifloat codes), ``R_F(K · 2**q)`` — the exact sum — for block (MX)
    activations on FP32 carrier codes (``m_a = m_b = 1``).

    Parameters
    ----------
    node : numfmt.nn.quantized.QAdd
        IntFormat or FloatFormat inputs and output; an IntFormat output saturates or wraps and
        its sum fits 63 bits.
    size : int
        Elements of each input tensor.
    lanes : int, optional
        Outputs per cycle (one requantizer or rounder each); divides ``size``. Default 1.

    Fields: ``a0 …`` (the first input, ``node.inputs[0]``), then ``b0 …`` (the second);
    out ``y0 …``. Latency and II ``size/lanes + 1`` (:class:`_Serial`).
    """

    def __init__(self, node, size: int, *, lanes: int = 1):
        if not isinstance(node, QAdd):
            raise TypeError(f"node must be an Add (QAdd) node of a QuantizedGraph, not {node!r}")
        if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or size < 1:
            raise ValueError(f"size must be an integer ≥ 1, not {size!r}")
        self.node, self.size = node, int(size)
        self.n_in = self.n_out = self.size
        self.a_fmt = _act_format(f"node {node.name!r}: the format of input {node.inputs[0]!r}", node.xa.format)
        self.b_fmt = _act_format(f"node {node.name!r}: the format of input {node.inputs[1]!r}", node.xb.format)
        self.fmt = self.out_fmt = _act_format(f"node {node.name!r}: the output format", node.out.format)
        self.multipliers = tuple(int(v) for v in node.multipliers)
        bound = sum(_dp.max_abs_int(f) * abs(mv) for f, mv in zip((self.a_fmt, self.b_fmt), self.multipliers))
        self.acc_bits = _bound_bits(bound)
        self.requantizer = None
        if isinstance(self.fmt, FloatFormat):
            if node.out.block is not None:         # the carrier's values, multipliers 1: the exact sum
                qa, qb = _dp.quantum_exp(self.a_fmt), _dp.quantum_exp(self.b_fmt)
                if qa != qb or self.multipliers != (1, 1):
                    raise ValueError(f"node {node.name!r}: a block (MX) Add needs both inputs in one carrier "
                                     f"format and multipliers (1, 1), not {self.a_fmt}, {self.b_fmt} and "
                                     f"{self.multipliers}")
                self.out_scale = (1, qa - int(node.shift))
            else:
                self.out_scale = (1, -int(node.shift))
        else:
            if self.acc_bits > 63:
                raise ValueError(f"node {node.name!r}: the residual sum needs {self.acc_bits} bits (a wide "
                                 "adder); this accelerator has the 64-bit requantizer")
            self.requantizer = _dp.make_requantizer(1, node.shift, self.fmt)
            if self.requantizer is None:
                raise ValueError(f"node {node.name!r}: the output format {self.fmt} has no integer requantizer "
                                 "(overflow must be 'sat' or 'wrap')")
        fields = {**vector_fields("a", self.size, self.a_fmt), **vector_fields("b", self.size, self.b_fmt)}
        self._setup(lanes, fields)

    def parameters(self) -> dict:
        return {"node": self.node.name, "size": self.size, "lanes": self.lanes,
                "constants": constants_digest([self.node]) + "_" + "_".join(map(str, self.multipliers))}

    def _operands(self, j):
        return [j, self.size + j]

    def _operand_fmt(self, t):
        return (self.a_fmt, self.b_fmt)[t]

    def _acc(self, ints):
        return ints[0] * self.multipliers[0] + ints[1] * self.multipliers[1]

    def model(self, inputs: dict) -> dict:
        av = decode_vector(inputs, "a", self.size, self.a_fmt)
        bv = decode_vector(inputs, "b", self.size, self.b_fmt)
        return encode_vector(self.node.run(av, bv), "y", self.fmt)
