"""The stages of a streaming accelerator: one :class:`~numfmt.hw.rtl.Unit` per layer.

Every stage takes one whole activation vector per input transaction (fields ``x0``,
``x1``, … in C order, each a code of the layer's input format) and answers with one
whole vector (fields ``y0``, ``y1``, …). Its :meth:`~numfmt.hw.rtl.Unit.model` is the
layer's node of the :class:`numfmt.nn.QuantizedGraph` (``node.run``), so a stage can be
checked on its own with :func:`numfmt.sim.check`, and :class:`~numfmt.hw.accel.Accelerator`
chains them. See ``docs/accel.md``.

* :class:`MatrixVector` — a quantized Dense layer: a matrix–vector unit folded by
  ``pe`` (output channels in parallel) and ``simd`` (inputs in parallel), weights and
  biases in ROMs, the layer's accumulator (exact or fixed-width) per PE and the
  :class:`numfmt.hw.rtl.Requantizer` per PE. ``(out/pe)·(in/simd) + 3`` cycles per vector.
* :class:`Activation` — ReLU, ReLU6 or Flatten on the codes (combinational).
* :class:`Argmax` — the output stage: the logits and the index of the largest (the lowest
  index on ties, as ``numpy.argmax``), one register.

>>> import numpy as np
>>> from numfmt import nn
>>> g = nn.Graph.sequential([nn.Dense(np.array([[0.5, -1.0], [1.0, 0.25]]))], input_shape=(2,))
>>> q = nn.quantize(g, nn.QConfig(weight="int8", act="int8"), np.array([[1.0, 0.5], [-1.0, 1.0]]))
>>> mvu = MatrixVector(q.node("dense0"), pe=1, simd=2)
>>> mvu.cycles, mvu.latency, list(mvu.in_fields), list(mvu.out_fields)
(2, 5, ['x0', 'x1'], ['y0', 'y1'])
"""

from __future__ import annotations

import hashlib

import numpy as np
from amaranth.hdl import Cat, Const, Module, Mux, Signal, signed, unsigned
from amaranth.lib.memory import Memory

from numfmt import quant as _quant
from numfmt.arith import ExactAccumulator, FixedAccumulator
from numfmt.formats import FixedFormat, FloatFormat, IntFormat
from numfmt.nn import _datapath as _dp
from numfmt.nn.layers import Flatten, ReLU, ReLU6
from numfmt.nn.quantized import QLinear, QPassThrough

from ..rtl._unit import Field, Unit, pipeline
from ..rtl._fixed import wrap_or_saturate
from ..rtl._float import unpack
from ..rtl.requant import Requantizer

__all__ = ["MatrixVector", "Activation", "Argmax", "MVU_OVERHEAD", "constants_digest", "decode_vector",
           "encode_vector", "vector_fields"]

#: Cycles a :class:`MatrixVector` adds to its ``(out/pe)·(in/simd)`` MAC cycles: the
#: synchronous ROM read, the accumulator register and the output register.
MVU_OVERHEAD = 3


def vector_fields(prefix: str, n: int, fmt) -> dict:
    """``{prefix0: Field.of(fmt), …}``: one field per element of an ``n``-vector.

    >>> import numfmt as nf
    >>> list(vector_fields("x", 3, nf.IntFormat(4)))
    ['x0', 'x1', 'x2']
    """
    return {f"{prefix}{k}": Field.of(fmt) for k in range(n)}


def decode_vector(inputs: dict, prefix: str, n: int, fmt) -> np.ndarray:
    """Values ``(transactions, n)`` of the fields ``prefix0 … prefix{n-1}`` (codes of ``fmt``)."""
    return np.stack([fmt.decode(np.asarray(inputs[f"{prefix}{k}"], dtype=np.uint64)) for k in range(n)],
                    axis=1)


def encode_vector(values: np.ndarray, prefix: str, fmt) -> dict:
    """The fields ``prefix<k>`` (uint64 codes of ``fmt``) of values ``(transactions, n)``."""
    values = values.reshape(values.shape[0], -1)
    return {f"{prefix}{k}": fmt.encode(values[:, k]).astype(np.uint64) for k in range(values.shape[1])}


def constants_digest(nodes) -> str:
    """A short hash of the nodes' formats and integer constants (weights, biases, requantizer
    multipliers and shifts, accumulators, ReLU6 bounds): module names then tell designs apart.

    >>> import numfmt as nf
    >>> from numfmt.nn.layers import ReLU
    >>> from numfmt.nn.quantized import QPassThrough, QTensor
    >>> len(constants_digest([QPassThrough("relu", ("x",), QTensor(nf.IntFormat(4), 1.0), layer=ReLU())]))
    8
    """
    h = hashlib.sha1()
    for node in nodes:
        h.update(f"{node.name}|{node.out.format}|{getattr(node, 'acc', None)}|{getattr(node, 'clip', None)}".encode())
        for field in ("weight_codes", "bias", "multiplier", "shift"):
            if hasattr(node, field):
                h.update(np.ascontiguousarray(getattr(node, field), dtype=np.int64).tobytes())
    return h.hexdigest()[:8]


def _int_format(what: str, fmt) -> IntFormat:
    if not isinstance(fmt, IntFormat):
        raise ValueError(f"{what} must be an IntFormat in this accelerator (integer activations), not {fmt}")
    return fmt


def _positive_divisor(name: str, value, total: int, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be an integer ≥ 1, not {value!r}")
    if total % int(value):
        raise ValueError(f"{name}={value} must divide the {what} ({total})")
    return int(value)


def _code_int(code, fmt):
    """A code of an integer/fixed-point format as the integer it holds (``fmt``'s signedness)."""
    return code.as_signed() if fmt.min < 0 else code.as_unsigned()


def _act_format(what: str, fmt):
    if not isinstance(fmt, (IntFormat, FloatFormat)):
        raise ValueError(f"{what} must be an IntFormat or a FloatFormat in this accelerator, not {fmt}")
    return fmt


def _code_key(code, fmt):
    """A signed integer that orders codes of ``fmt`` as their values: an integer code's integer; a
    FloatFormat code's magnitude bits, negated when its sign is set (±0 give 0). For the codes
    ``fmt.encode`` gives (NaN aside, which the QuantizedGraph never carries)."""
    if not isinstance(fmt, FloatFormat):
        return _code_int(code, fmt)
    mag = code[:fmt.exp + fmt.man].as_unsigned()
    return Mux(unpack(fmt, code).sign, -mag, mag)


class MatrixVector(Unit):
    """A quantized Dense layer as a folded matrix–vector unit (FINN's MVU).

    Parameters
    ----------
    node : numfmt.nn.quantized.QLinear
        A Dense node of a :class:`~numfmt.nn.QuantizedGraph`: IntFormat activations in
        and out, IntFormat or FixedFormat weights with one scale per output channel
        (``weight_exp`` all 0), the exact accumulator (``acc=None``) or a
        :class:`~numfmt.arith.FixedAccumulator`.
    pe : int
        Output channels computed in parallel; divides ``out``.
    simd : int
        Inputs multiplied per PE and cycle; divides ``in``.

    The weights are the node's integers (``weight_codes`` decoded by numfmt), one ROM
    word of ``pe·simd`` weights per (neuron fold, synapse fold); the biases (``node.bias``,
    accumulator units) one word of ``pe`` per neuron fold. Channel ``o`` is computed by
    PE ``o % pe`` in neuron fold ``o // pe``. Each PE adds its ``simd`` products to a
    signed register of ``node.acc_bits + 1`` bits (exact: ``acc_bits`` bounds the
    accumulator, so it never overflows), or to the ``FixedAccumulator`` 's register one
    product at a time (wrap or saturate after each, in the order of the inputs, as numfmt
    defines it), and hands the sum to its :class:`~numfmt.hw.rtl.Requantizer`
    (``node.multiplier``/``node.shift`` of its channels; the rounding and output format of
    :func:`numfmt.nn._datapath.make_requantizer`, the emulator's own).

    Timing: :attr:`cycles` ``= (out/pe)·(in/simd)`` MAC cycles; the result is ready
    :data:`MVU_OVERHEAD` cycles later (:attr:`latency` from input to output handshake
    when ``o`` is ready). The stage takes its next vector in the cycle its output is
    taken, so it accepts one vector every :attr:`ii` ``= latency`` cycles.
    """

    def __init__(self, node, *, pe: int = 1, simd: int = 1):
        if not isinstance(node, QLinear) or node.kind != "dense":
            raise TypeError(f"node must be a Dense QLinear node of a QuantizedGraph, not {node!r}")
        if node.x.block is not None:
            raise ValueError(f"node {node.name!r}: block (MX) activations ({node.x.block}) are not supported "
                             "by this accelerator yet")
        self.in_fmt = _int_format(f"node {node.name!r}: the input format", node.x.format)
        self.out_fmt = _int_format(f"node {node.name!r}: the output format", node.out.format)
        wf = node.weight_format
        if node.block_format is not None or not isinstance(wf, (IntFormat, FixedFormat)):
            raise ValueError(f"node {node.name!r}: weights must be an IntFormat or FixedFormat in this "
                             f"accelerator, not {node.block_format or wf}")
        if np.any(node.weight_exp != 0):
            raise ValueError(f"node {node.name!r}: weight scales within an output channel differ "
                             "(group granularity); this accelerator needs one scale per channel")
        if node.acc is not None and not isinstance(node.acc, (ExactAccumulator, FixedAccumulator)):
            raise ValueError(f"node {node.name!r}: the accumulator {node.acc} is not supported by this "
                             "accelerator yet (the exact accumulator or a FixedAccumulator)")
        if node.requant_bits > 63:
            raise ValueError(f"node {node.name!r}: the requantization needs {node.requant_bits}-bit "
                             "products (a wide requantizer); this accelerator has the 64-bit one")
        rq = _dp.make_requantizer(node.multiplier, node.shift, self.out_fmt)
        if rq is None:
            raise ValueError(f"node {node.name!r}: the output format {self.out_fmt} has no integer "
                             "requantizer (overflow must be 'sat' or 'wrap')")
        self.node = node
        self.n_out, self.n_in = (int(s) for s in node.weight_codes.shape)
        self.pe = _positive_divisor("pe", pe, self.n_out, f"output channels of {node.name!r}")
        self.simd = _positive_divisor("simd", simd, self.n_in, f"inputs of {node.name!r}")
        self.nf, self.sf = self.n_out // self.pe, self.n_in // self.simd
        #: MAC cycles per vector, ``(out/pe)·(in/simd)``
        self.cycles = self.nf * self.sf
        self.latency = self.cycles + MVU_OVERHEAD
        #: cycles between accepted vectors when nothing downstream stalls
        self.ii = self.latency
        if isinstance(node.acc, FixedAccumulator):
            #: the FixedAccumulator register (None: exact), its width, and the left shift of a
            #: product (accumulator units 2**acc_exp) onto its grid (2**-frac_bits)
            self.register = node.acc
            shifts = np.unique(node.acc_exp + node.acc.frac_bits)
            if shifts.size != 1 or not 0 <= int(shifts[0]) < node.acc.width:
                raise ValueError(f"node {node.name!r}: products land on the register's grid shifted by "
                                 f"{shifts.tolist()} bits; this accelerator needs one shift in 0..width-1 "
                                 f"({node.acc})")
            self.shift = int(shifts[0])
            self.register_width = node.acc.width
            # the requantizer takes the whole register (shift c + self.shift): exact also when a
            # saturated register ends off the 2**Qp grid (docs/nn.md: its exact value is requantized)
            self.acc_width = self.register_width
        else:
            self.register, self.shift = None, 0
            self.register_width = self.acc_width = int(node.acc_bits) + 1   # |K| < 2**acc_bits: no overflow
        self.weight_bits = int(wf.bits)
        self.weights = _dp.to_int(wf.decode(node.weight_codes), _dp.quantum_exp(wf))   # the emulator's integers
        self.requantizers = [_quant.Requantizer(rq.multiplier[p::self.pe], rq.shift[p::self.pe] + self.shift,
                                                rq.out_format,
                                                rounding=rq.rounding, zero_point=rq.zero_point)
                             for p in range(self.pe)]
        super().__init__(vector_fields("x", self.n_in, self.in_fmt), vector_fields("y", self.n_out, self.out_fmt))

    def parameters(self) -> dict:
        return {"node": self.node.name, "in": self.n_in, "out": self.n_out, "pe": self.pe, "simd": self.simd,
                "constants": constants_digest([self.node])}

    # -- ROM contents ----------------------------------------------------------------
    def weight_words(self) -> list:
        """ROM word ``nf·SF + sf``: weight ``(nf·pe + p, sf·simd + s)`` at bits ``(p·simd + s)·wbits``."""
        w = self.weights.reshape(self.nf, self.pe, self.sf, self.simd).transpose(0, 2, 1, 3)
        return _pack_words(w.reshape(self.nf * self.sf, self.pe * self.simd), self.weight_bits)

    def bias_words(self) -> list:
        """ROM word ``nf``: the register's start (bias) of channel ``nf·pe + p`` at bits ``p·register_width``."""
        start = [int(b) << self.shift for b in self.node.bias]
        return _pack_words(np.array(start, dtype=object).reshape(self.nf, self.pe), self.register_width)

    # -- hardware -----------------------------------------------------------------------
    def elaborate(self, platform):
        m = Module()
        i = self.i
        ab = self.in_fmt.bits
        wport = _rom(m, "weights", self.pe * self.simd * self.weight_bits, self.weight_words())
        bport = _rom(m, "biases", self.pe * self.register_width, self.bias_words())

        x = Signal(self.n_in * ab, name="x_buffer")
        busy, running, first, _, _, v1, first1, last1, sf1, nf1 = _fold_control(m, self, wport, bport)

        # stage 2: each PE adds its simd products to its register (the bias starts a sum)
        xs = Signal(self.simd * ab, name="x_slice")
        _select(m, xs, x, sf1, self.sf)
        accs = self._accumulate(m, wport, bport, xs, v1, first1)
        v2, nf2 = Signal(name="sum_valid"), _counter(self.nf, "sum_nf")
        m.d.sync += [v2.eq(v1 & last1), nf2.eq(nf1)]

        # stage 3: requantize the pe sums of neuron fold nf2 into the output register
        self._requantize(m, accs, v2, nf2, busy)
        with m.If(i.valid & i.ready):
            m.d.sync += [x.eq(i.payload.as_value()), busy.eq(1), running.eq(1), first.eq(1)]
        return m

    def _accumulate(self, m, wport, bport, xs, valid, first) -> list:
        """Stage 2, per PE: its register after the ``simd`` products of the cycle (the ROM words
        ``wport``/``bport``, the input slice ``xs``), started at the bias when ``first``, updated
        when ``valid``; returns what each PE hands to stage 3. Subclasses change the datapath here."""
        pe, simd, ab, wb, rw = self.pe, self.simd, self.in_fmt.bits, self.weight_bits, self.register_width
        accs = []
        for p in range(pe):
            reg = Signal(signed(rw), name=f"acc{p}")
            terms = [_code_int(wport.data[(p * simd + s) * wb:(p * simd + s + 1) * wb], self.node.weight_format)
                     * _code_int(xs[s * ab:(s + 1) * ab], self.in_fmt) for s in range(simd)]
            base = Mux(first, bport.data[p * rw:(p + 1) * rw].as_signed(), reg)
            with m.If(valid):
                m.d.sync += reg.eq(self._add(m, p, base, terms))
            accs.append(self._register_int(m, p, reg))
        return accs

    def _requantize(self, m, accs, valid, nf, busy) -> None:
        """The last stage: each PE's :class:`~numfmt.hw.rtl.Requantizer` takes its register
        ``accs[p]`` when ``valid`` and writes neuron fold ``nf`` of the output register; the
        last fold raises ``o.valid``, and the output handshake lowers it and ``busy``."""
        qs = []
        for p, r in enumerate(self.requantizers):
            unit = m.submodules[f"requant{p}"] = Requantizer(r, self.acc_width, stages=0)
            m.d.comb += [unit.i.payload.acc.eq(accs[p]), unit.i.valid.eq(valid), unit.o.ready.eq(1)]
            if unit.channels:
                m.d.comb += unit.i.payload.channel.eq(nf)
            qs.append(unit.o.payload.q)
        _collect_outputs(m, self, qs, valid, nf, busy)

    def _add(self, m, p, base, terms):
        """The register after adding the products ``terms`` (in the order k = sf·simd + s)."""
        if self.register is None:                     # exact: one sum (it never overflows)
            dot = Signal(signed(self.register_width), name=f"dot{p}")
            m.d.comb += dot.eq(sum(terms))
            return base + dot
        reg = base                                    # numfmt's FixedAccumulator: wrap or saturate
        for s, t in enumerate(terms):                 # after every addition, one product at a time
            step = Signal(signed(self.register_width), name=f"acc{p}_step{s}")
            m.d.comb += step.eq(wrap_or_saturate(m, reg, t << self.shift, self.register))
            reg = step
        return reg

    def _register_int(self, m, p, reg):
        """What the requantizer takes: the whole register (its shift includes ``self.shift``, so
        ``reg · m · 2**-(c + shift)`` is the emulator's ``K · m · 2**-c`` of the register's exact
        value, on or off the ``2**Qp`` grid)."""
        return reg

    # -- model ----------------------------------------------------------------------------
    def model(self, inputs: dict) -> dict:
        xv = decode_vector(inputs, "x", self.n_in, self.in_fmt)
        return encode_vector(self.node.run(xv), "y", self.out_fmt)


class _Rom:
    """A ROM's read port: ``addr`` (``None`` for one word) and ``data`` (one cycle after ``addr``)."""

    def __init__(self, addr, data):
        self.addr, self.data = addr, data


def _rom(m, name: str, width: int, words: list) -> _Rom:
    """A synchronous-read ROM of ``words`` (an ``amaranth.lib.memory.Memory``, which
    synthesis maps to block or distributed RAM); a single word is a constant."""
    if len(words) == 1:
        return _Rom(None, Const(words[0], width))
    m.submodules[name] = mem = Memory(shape=unsigned(width), depth=len(words), init=words)
    port = mem.read_port()
    return _Rom(port.addr, port.data)


def _fold_control(m, stage, wport, bport) -> tuple:
    """The fold counters of a folded matrix–vector stage (``MatrixVector`` and the stages built
    like it): ``i.ready`` (idle, or the output being taken), the ROM addresses — weight word
    ``nf·SF + sf`` and bias word ``nf`` — issued while ``running``, and the stage-1 registers
    that arrive with the ROM words. The caller sets ``busy``, ``running`` and ``first`` on the
    input handshake (after its output handshake, which clears ``busy``).

    Returns ``(busy, running, first, sf, nf, v1, first1, last1, sf1, nf1)``: the counters
    ``sf``, ``nf`` of the ROM read being issued, and ``v1`` (a ROM word is valid), ``first1``
    (its ``sf`` is 0), ``last1`` (its ``sf`` is the last), ``sf1``, ``nf1`` one cycle later.
    """
    i, o = stage.i, stage.o
    busy = Signal(name="busy")                            # from input handshake to output handshake
    running = Signal(name="running")                      # issuing ROM addresses
    addr = _counter(stage.nf * stage.sf, "addr")
    sf = _counter(stage.sf, "sf")
    nf = _counter(stage.nf, "nf")
    first = Signal(name="first")                          # sf == 0
    m.d.comb += i.ready.eq(~busy | (o.valid & o.ready))
    if wport.addr is not None:
        m.d.comb += wport.addr.eq(addr)
    if bport.addr is not None:
        m.d.comb += bport.addr.eq(nf)
    # stage 1: the ROM words of (nf, sf) arrive
    v1, first1, last1 = Signal(name="mac_valid"), Signal(name="mac_first"), Signal(name="mac_last")
    sf1, nf1 = _counter(stage.sf, "mac_sf"), _counter(stage.nf, "mac_nf")
    last_sf = _is_last(sf, stage.sf)
    m.d.sync += [v1.eq(running), first1.eq(first), last1.eq(last_sf), sf1.eq(sf), nf1.eq(nf)]
    with m.If(running):
        m.d.sync += [addr.eq(addr + 1), sf.eq(Mux(last_sf, 0, sf + 1)), first.eq(last_sf)]
        with m.If(last_sf):
            m.d.sync += nf.eq(nf + 1)
            with m.If(_is_last(nf, stage.nf)):
                m.d.sync += [running.eq(0), addr.eq(0), nf.eq(0)]
    return busy, running, first, sf, nf, v1, first1, last1, sf1, nf1


def _collect_outputs(m, stage, qs: list, valid, nf, busy) -> None:
    """The output register of a folded matrix–vector stage: when ``valid``, the ``pe`` output
    codes ``qs`` fill neuron fold ``nf`` of ``o.payload`` and the last fold raises ``o.valid``;
    the output handshake lowers it and ``busy``."""
    o = stage.o
    out = o.payload.as_value()
    slice_bits = stage.pe * stage.out_fmt.bits
    with m.If(o.valid & o.ready):
        m.d.sync += [o.valid.eq(0), busy.eq(0)]
    with m.If(valid):
        with m.Switch(nf):
            for k in range(stage.nf):
                with (m.Case(k) if k < stage.nf - 1 else m.Default()):
                    m.d.sync += out[k * slice_bits:(k + 1) * slice_bits].eq(Cat(*qs))
        with m.If(_is_last(nf, stage.nf)):
            m.d.sync += o.valid.eq(1)


def _counter(size: int, name: str) -> Signal:
    """A counter of ``0 … size-1``, at least one bit wide (a constant-0 register when ``size``
    is 1: a 0-bit vector is ``[-1:0]`` in the Verilog, which ``verilator -Wall`` reports as
    ASCRANGE)."""
    return Signal(range(max(size, 2)), name=name)


def _is_last(counter, size: int):
    """``counter == size - 1`` (constant 1 when ``size`` is 1: the counter has no bits)."""
    return Const(1) if size == 1 else counter == size - 1


def _select(m, dst, src, index, n: int) -> None:
    """``dst`` = word ``index`` of ``src`` (``n`` words of ``len(dst)`` bits), as a case per word."""
    w = len(dst)
    if n == 1:
        m.d.comb += dst.eq(src[:w])
        return
    with m.Switch(index):
        for k in range(n):
            with (m.Case(k) if k < n - 1 else m.Default()):
                m.d.comb += dst.eq(src[k * w:(k + 1) * w])


def _pack_words(rows: np.ndarray, bits: int) -> list:
    """Each row of integers as one word, element ``k`` in two's complement at bits ``k·bits``."""
    mask = (1 << bits) - 1
    return [sum((int(v) & mask) << (k * bits) for k, v in enumerate(row)) for row in rows]


class Activation(Unit):
    """ReLU, ReLU6 or Flatten of a :class:`~numfmt.nn.QuantizedGraph` on a vector of codes.

    Parameters
    ----------
    node : numfmt.nn.quantized.QPassThrough
        A ReLU, ReLU6 or Flatten node with an IntFormat or FloatFormat format.
    size : int
        Elements of the vector (Flatten keeps C order: it is a wire).

    ReLU keeps positive codes and gives the code of 0 otherwise; ReLU6 also clamps to
    the code of ``node.clip``. A minifloat code is compared by its value: its magnitude
    bits, negated when the sign is set (``_code_key``). Combinational: latency 0.

    >>> import numfmt as nf
    >>> from numfmt.nn.layers import ReLU
    >>> from numfmt.nn.quantized import QPassThrough, QTensor
    >>> unit = Activation(QPassThrough("relu", ("x",), QTensor(nf.IntFormat(4), 1.0), layer=ReLU()), 2)
    >>> unit.model({"x0": np.array([3, 13], np.uint64), "x1": np.array([15, 0], np.uint64)})["y0"].tolist()
    [3, 0]
    """

    latency = 0

    def __init__(self, node, size: int):
        if not isinstance(node, QPassThrough) or not isinstance(node.layer, (ReLU, ReLU6, Flatten)):
            raise TypeError(f"node must be a ReLU, ReLU6 or Flatten node of a QuantizedGraph, not {node!r}")
        if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or size < 1:
            raise ValueError(f"size must be an integer ≥ 1, not {size!r}")
        self.node, self.size = node, int(size)
        self.n_in = self.n_out = self.size
        self.fmt = _act_format(f"node {node.name!r}: the format", node.out.format)
        self.ii = 1
        fields = vector_fields("x", self.size, self.fmt)
        super().__init__(fields, vector_fields("y", self.size, self.fmt))

    def parameters(self) -> dict:
        return {"node": self.node.name, "op": type(self.node.layer).__name__.lower(), "size": self.size}

    def elaborate(self, platform):
        m = Module()
        bits = self.fmt.bits
        x = self.i.payload.as_value()
        layer = self.node.layer
        if isinstance(layer, Flatten):
            result = x
        else:
            zero = int(self.fmt.encode(np.array([0.0]))[0])
            clip = None
            if self.node.clip is not None:
                clip = Const(int(self.fmt.encode(np.array([self.node.clip]))[0]), bits)
            ys = []
            for k in range(self.size):
                code = x.word_select(k, bits)
                v = _code_key(code, self.fmt)
                y = Mux(v > 0, code, Const(zero, bits))
                if clip is not None:
                    y = Mux(v > _code_key(clip, self.fmt), clip, y)
                ys.append(y)
            result = Cat(*ys)
        pipeline(m, self.i, self.o, result, 0)
        return m

    def model(self, inputs: dict) -> dict:
        xv = decode_vector(inputs, "x", self.size, self.fmt)
        return encode_vector(self.node.run(xv), "y", self.fmt)


class Argmax(Unit):
    """The last stage: the logits (``y<k>``, passed through) and ``label``, the index of the
    largest value (the lowest index on ties, as :meth:`numfmt.nn.QuantizedGraph.predict`).

    Parameters
    ----------
    fmt : IntFormat or FloatFormat
        The logits' format (minifloat codes are compared by value, as in :class:`Activation`).
    size : int
        Number of logits (≥ 1).

    One register: latency 1. ``label`` is an unsigned ``max(1, bitlen(size-1))``-bit code.

    >>> import numfmt as nf
    >>> unit = Argmax(nf.IntFormat(8), 3)
    >>> out = unit.model({"x0": np.array([5], np.uint64), "x1": np.array([200], np.uint64),
    ...                   "x2": np.array([5], np.uint64)})
    >>> int(out["label"][0]), unit.out_fields["label"].width
    (0, 2)
    """

    latency = 1

    def __init__(self, fmt, size: int):
        self.fmt = _act_format("fmt", fmt)
        if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or size < 1:
            raise ValueError(f"size must be an integer ≥ 1, not {size!r}")
        self.size = self.n_in = self.n_out = int(size)
        self.ii = 1
        self.label_fmt = IntFormat(max(1, (self.size - 1).bit_length()), signed=False)
        out = vector_fields("y", self.size, self.fmt)
        out["label"] = Field.of(self.label_fmt)
        super().__init__(vector_fields("x", self.size, self.fmt), out)

    def parameters(self) -> dict:
        return {"format": str(self.fmt), "size": self.size}

    def elaborate(self, platform):
        m = Module()
        bits = self.fmt.bits
        x = self.i.payload.as_value()
        best_v = _code_key(x.word_select(0, bits), self.fmt)
        best_k = Const(0, self.label_fmt.bits)
        for k in range(1, self.size):
            v = _code_key(x.word_select(k, bits), self.fmt)
            better = Signal(name=f"better{k}")
            m.d.comb += better.eq(v > best_v)            # strictly: ties keep the lower index
            bv = Signal(signed(bits + 1), name=f"best_value{k}")
            bk = Signal(self.label_fmt.bits, name=f"best_index{k}")
            m.d.comb += [bv.eq(Mux(better, v, best_v)), bk.eq(Mux(better, k, best_k))]
            best_v, best_k = bv, bk
        result = Signal(self.out_layout, name="result")
        m.d.comb += [result.as_value()[:self.size * bits].eq(x), result.label.eq(best_k)]
        pipeline(m, self.i, self.o, result, 1)
        return m

    def model(self, inputs: dict) -> dict:
        v = decode_vector(inputs, "x", self.size, self.fmt)
        out = encode_vector(v, "y", self.fmt)
        out["label"] = np.argmax(v, axis=1).astype(np.uint64)
        return out
