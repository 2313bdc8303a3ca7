"""A QONNX model (e.g. a Brevitas export) as a :class:`~numfmt.nn.QuantizedGraph`, with its own formats.

:func:`from_qonnx` takes the formats and scales that the model's ``Quant`` nodes give
(:func:`numfmt.nn.onnx.load_onnx`) — nothing is calibrated or re-rounded — and derives the
integer datapath of ``docs/nn.md`` from them: weight codes, bias integers, requantization
multipliers and shifts. The result is the golden model that :mod:`numfmt.hw.accel` builds
and verifies. Where the integer datapath cannot reproduce the QONNX model for every input
(a non-dyadic ratio of scales, a bias off the accumulator's grid), the node is reported as a
:class:`Deviation` with the largest possible difference, or refused with ``exact=True``.
``docs/onnx.md`` (section *QONNX as a QuantizedGraph*) is the definition.

>>> import numpy as np, numfmt as nf
>>> from numfmt import nn
>>> from numfmt.nn.onnx import ImportedModel, TensorFormat
>>> g = nn.Graph.sequential([nn.Dense(np.array([[0.5, -0.25]]), np.array([0.125]))], input_shape=(2,))
>>> m = ImportedModel(g, {"input": TensorFormat(nf.IntFormat(8), 0.125, 0),
...                       "dense0.weight": TensorFormat(nf.IntFormat(4), 0.25, 0),
...                       "dense0": TensorFormat(nf.IntFormat(8), 0.0625, 0)})
>>> q = from_qonnx(m)
>>> x = np.array([[1.0, 0.5], [-2.0, 3.0]])
>>> q.trace(x)["dense0"].tolist(), m.forward(x).tolist()
([[8], [230]], [[0.5], [-1.625]])
>>> q.deviations
{}
"""

from __future__ import annotations

import dataclasses
import math
import warnings
from fractions import Fraction

import numpy as np

from ..arith import ExactAccumulator
from ..formats import IntFormat
from ..modes import Overflow, Rounding
from . import _datapath as dp
from .layers import Add, AvgPool2d, BatchNorm, Conv2d, Dense, Flatten, MaxPool2d, ReLU, ReLU6
from .onnx import ImportedModel, load_onnx
from .quantized import (QAdd, QConfig, QInput, QLinear, QPassThrough, QTensor, QuantizedGraph, _bound_bits,
                        _dyadic, _product_bits, _QNode, _quantize_add, _wide_shift)

__all__ = ["Deviation", "QAvgPoolRequant", "from_qonnx"]

_PASS = (ReLU, ReLU6, MaxPool2d, Flatten)


@dataclasses.dataclass(frozen=True)
class Deviation:
    """Where a node of :func:`from_qonnx`'s graph may differ from the QONNX model.

    Attributes
    ----------
    node : str
    bound : fractions.Fraction
        The largest ``|t − t'|`` over every input the node can receive, with ``t`` the
        exact argument of the QONNX quantizer's rounding (``x / scale``, in steps of the
        output's integer) and ``t'`` the datapath's (``K · multiplier · 2**-shift``).
    max_steps : int
        The largest difference of the two output integers: ``floor(bound) + 1``. Only
        inputs whose ``t`` lies within ``bound`` of a rounding boundary differ at all.
    step : float
        The real value of one output step (the output's scale): ``bound * step`` is the
        bound in the model's units.
    cause : str
        What is not exact (the requantization ratio, the bias, ...).

    The bound is per node, for the same input integers; a difference in one node's
    output changes the inputs of the next.
    """

    node: str
    bound: Fraction
    max_steps: int
    step: float
    cause: str

    def __str__(self):
        return (f"node {self.node!r}: {self.cause}; its output integers can differ from the QONNX model's by "
                f"up to {self.max_steps} (the rounding's argument by at most {float(self.bound):.3g} steps of "
                f"{self.step:.3g})")


@dataclasses.dataclass(frozen=True, eq=False)
class QAvgPoolRequant(_QNode):
    """AvgPool2d whose window sum goes to another format: ``R(S · multiplier · 2**-shift)``.

    ``S`` is the exact sum of the ``kernel`` window's input integers (``x``'s format
    and scale); the product is rounded once to ``out.format`` (its rounding,
    saturating), as :func:`numfmt.nn._datapath.requantize` does. :func:`from_qonnx`
    makes it from an ``AveragePool`` (or a global ``ReduceMean``) followed by a QONNX
    ``Trunc`` — Brevitas' ``TruncAvgPool2d``: ``multiplier = 1``, ``shift = T``, the
    truncated bits — or by a ``Quant``. Unlike :class:`~numfmt.nn.QAvgPool`, the
    output's format and scale are not the input's.

    >>> import numpy as np, numfmt as nf
    >>> u8 = QTensor(nf.IntFormat(8, signed=False, rounding="floor"), 1.0)
    >>> node = QAvgPoolRequant("pool", ("x",), u8, kernel=(2, 2), stride=(2, 2), multiplier=1, shift=2, x=u8)
    >>> node.run(np.array([[[[1.0, 2.0], [3.0, 5.0]]]])).tolist()       # floor(11 / 4)
    [[[[2.0]]]]
    """

    kernel: tuple
    stride: tuple
    multiplier: int
    shift: int
    x: QTensor = None
    op = "avgpool_requant"

    def __post_init__(self):
        if not isinstance(self.x, QTensor) or self.x.block is not None or self.out.block is not None:
            raise ValueError(f"node {self.name!r}: x and out must be scalar QTensors, not x={self.x!r}")
        bits = _bound_bits(dp.max_abs_int(self.x.format) * self.kernel[0] * self.kernel[1])
        wide = _wide_shift(self.shift) or _product_bits(bits, [self.multiplier], [self.shift]) > 63
        object.__setattr__(self, "_wide", wide)
        object.__setattr__(self, "_rq", None if wide else dp.make_requantizer(self.multiplier, self.shift,
                                                                              self.out.format))

    def run(self, xv):
        win = AvgPool2d(self.kernel, self.stride).windows((dp.to_pyint if self._wide else dp.to_int)(
            xv, self.x.quantum))
        return dp.requantize(win.sum(axis=(4, 5)), self.multiplier, self.shift, self.out.format, self._rq)


def _deviation(node, bound, step, cause):
    bound = Fraction(bound)
    return Deviation(node, bound, math.floor(bound) + 1, float(step), cause) if bound else None


def _round_fraction(v: Fraction, rounding: Rounding) -> int:
    """``v`` rounded to an integer by a deterministic mode (exact)."""
    fl, ce = math.floor(v), math.ceil(v)
    if fl == ce:
        return fl
    if rounding is Rounding.FLOOR:
        return fl
    if rounding is Rounding.CEIL:
        return ce
    if rounding is Rounding.TOWARD_ZERO:
        return fl if v > 0 else ce
    if rounding is Rounding.AWAY:
        return ce if v > 0 else fl
    d = v - fl
    if d != Fraction(1, 2):
        return fl if d < Fraction(1, 2) else ce
    if rounding is Rounding.NEAREST_EVEN:
        return fl if fl % 2 == 0 else ce
    if rounding in (Rounding.NEAREST_AWAY, Rounding.NEAREST_ZERO):
        away = rounding is Rounding.NEAREST_AWAY
        return (ce if v > 0 else fl) if away else (fl if v > 0 else ce)
    if rounding is Rounding.NEAREST_UP:
        return ce
    if rounding is Rounding.NEAREST_DOWN:
        return fl
    raise ValueError(f"rounding must be a deterministic mode, not {rounding!r}")


def _act_tensor(tf, name, what, trunc=False):
    """The QTensor of an activation quantizer (a Trunc only with ``trunc``), or a ValueError naming the tensor."""
    if tf.in_scale is not None and not trunc:
        raise ValueError(f"{what} {name!r} is a QONNX Trunc: from_qonnx reads a Trunc only after an AvgPool2d "
                         "(Brevitas' TruncAvgPool2d)")
    if tf.bipolar:
        raise ValueError(f"{what} {name!r} is bipolar (BipolarQuant or a 1-bit signed Quant): the integer "
                         "datapath has no bipolar activations")
    if (tf.zero_point != 0).any():
        raise ValueError(f"{what} {name!r} has zero point {tf.zero_point.tolist()!r}: the integer datapath "
                         "needs symmetric quantization (zero point 0)")
    if tf.scale.size != 1 or (tf.in_scale is not None and tf.in_scale.size != 1):
        shape = tf.scale.shape if tf.scale.size != 1 else tf.in_scale.shape
        raise ValueError(f"{what} {name!r} has {math.prod(shape)} scales (shape {shape}): the integer "
                         "datapath needs one scale per activation tensor")
    fmt = tf.format
    if tf.narrow and not fmt.signed:
        raise ValueError(f"{what} {name!r} is an unsigned narrow-range quantizer (0..{tf.qmax}), which no "
                         "numfmt format expresses")
    overflow = Overflow.SATURATE_SYMMETRIC if tf.narrow else Overflow.SATURATE
    fmt = IntFormat(fmt.bits, signed=fmt.signed, rounding=tf.rounding, overflow=overflow)
    return QTensor(fmt, float(tf.scale.reshape(-1)[0]))


def _target(graph, formats, name):
    """``(format, owner)``: the quantizer on ``name``'s output, possibly after a chain of ReLU /
    ReLU6 / MaxPool2d / Flatten (which commute with it); ``(None, last)`` when the chain reaches
    the graph output unquantized."""
    cur = name
    while True:
        if cur in formats:
            return formats[cur], cur
        cons = graph.consumers(cur)
        if not cons and cur == graph.output:
            return None, cur
        if len(cons) != 1 or not isinstance(cons[0].layer, _PASS):
            used = ", ".join(repr(c.name) for c in cons)
            raise ValueError(f"node {name!r}: its output reaches {used} without a Quant; the integer datapath "
                             "needs every Dense/Conv2d/Add/AvgPool2d output quantized (a Quant (or a Trunc after "
                             "an AvgPool2d) after it, or after the ReLU/MaxPool/Flatten that follows it)")
        cur = cons[0].name


def from_qonnx(model, *, mult_bits: int = 32, exact: bool = False) -> QuantizedGraph:
    """The :class:`~numfmt.nn.QuantizedGraph` of a QONNX model, with the model's formats and scales.

    Parameters
    ----------
    model : ImportedModel, onnx.ModelProto, bytes or path
        A QONNX model (e.g. ``brevitas.export.export_qonnx``), or what
        :func:`~numfmt.nn.onnx.load_onnx` made of it.
    mult_bits : int
        Widest requantization multiplier (1..32), as :class:`~numfmt.nn.QConfig`'s.
    exact : bool
        Refuse (``ValueError`` naming the node) a node whose integer datapath can
        differ from the QONNX model; otherwise such nodes are listed in
        ``deviations`` and a ``UserWarning`` names them.

    Returns
    -------
    QuantizedGraph
        Its ``deviations`` maps each inexact node to a :class:`Deviation` (empty
        when the graph equals the QONNX model for every input, e.g. power-of-two
        scales with integer biases). ``config`` summarises the formats (the
        input's as ``act``, the first layer's weight format as ``weight``).

    Raises
    ------
    ValueError
        An unquantized graph input, weight or Dense/Conv2d/Add/AvgPool2d output
        (the output of a Dense/Conv2d may stay unquantized at the graph output: it
        then gets an int32 format, see ``docs/onnx.md``); a zero point ≠ 0;
        per-channel activation scales; bipolar activations; weight scales that vary
        within an output channel; a BatchNorm or a requantization between two
        quantizers of a ReLU/MaxPool/Flatten; a Trunc anywhere but after an
        AvgPool2d; with ``exact=True``, an inexact node. Messages name the node.

    An AvgPool2d followed by a QONNX ``Trunc`` (Brevitas' ``TruncAvgPool2d``) or a
    ``Quant`` becomes a :class:`QAvgPoolRequant`: the window sum, then one rounding
    (for a Trunc of the sum's scale, a right shift by its truncated bits).
    """
    if isinstance(mult_bits, bool) or not isinstance(mult_bits, int) or not 1 <= mult_bits <= 32:
        raise ValueError(f"mult_bits must be an integer in 1..32, not {mult_bits!r}")
    if not isinstance(exact, (bool, np.bool_)):
        raise ValueError(f"exact must be True or False, not {exact!r}")
    imported = model if isinstance(model, ImportedModel) else load_onnx(model)
    graph, formats = imported.graph, imported.formats
    cfg = QConfig(weight="int8", act="int8", mult_bits=mult_bits)      # only mult_bits is read below
    known = {graph.input_name} | {n.name for n in graph.nodes} | {
        f"{n.name}.{p}" for n in graph.nodes if isinstance(n.layer, (Dense, Conv2d)) for p in ("weight", "bias")}
    unknown = sorted(set(formats) - known)
    if unknown:
        raise ValueError(f"formats names {unknown[0]!r}, which is not the graph input, a node or a Dense/Conv2d "
                         "parameter ('<node>.weight', '<node>.bias') of the graph")
    if graph.input_name not in formats:
        raise ValueError(f"the graph input {graph.input_name!r} is not quantized: the integer datapath needs a "
                         "Quant on it (Brevitas: a QuantIdentity first)")
    spec = {graph.input_name: _act_tensor(formats[graph.input_name], graph.input_name, "the graph input")}
    source = {graph.input_name: formats[graph.input_name]}        # the TensorFormat behind each QTensor
    nodes = [QInput(graph.input_name, (), spec[graph.input_name])]
    deviations, absorbed, weights, per_channel = {}, set(), [], False
    for node in graph.nodes:
        layer, name = node.layer, node.name
        ins = [spec[i] for i in node.inputs]
        if isinstance(layer, (Dense, Conv2d, Add)):
            tf_y, owner = _target(graph, formats, name)
            absorbed.add(owner)
            if tf_y is None:
                yq = None
            else:
                yq = _act_tensor(tf_y, owner, "the quantizer on")
                source[name] = tf_y
            if isinstance(layer, Add):
                if yq is None:
                    raise ValueError(f"node {name!r}: an Add at the graph output needs a Quant after it")
                q = _quantize_add(node, ins[0], ins[1], yq, cfg)
                dev = _add_deviation(q, yq)
            else:
                q, dev, wf, chan = _linear(node, layer, ins[0], yq, formats, mult_bits)
                weights.append(wf)
                per_channel |= chan
        elif isinstance(layer, _PASS):
            xq = ins[0]
            own = formats.get(name)
            if own is not None and name not in absorbed:
                _check_same(name, layer, own, source[node.inputs[0]])
            if node.inputs[0] in source:
                source[name] = source[node.inputs[0]]
            clip, dev = None, None
            if isinstance(layer, ReLU6):
                clip, dev = _relu6_clip(name, xq)
            q = QPassThrough(name, node.inputs, xq, layer=layer, clip=clip)
        elif isinstance(layer, BatchNorm):
            raise ValueError(f"node {name!r}: a BatchNorm in a QONNX model acts on quantized values; folding it "
                             "would change the quantized weights (merge it before export, or quantize after)")
        elif isinstance(layer, AvgPool2d):
            tf_y, owner = _target(graph, formats, name)
            if tf_y is None:
                raise ValueError(f"node {name!r}: an AvgPool2d at the graph output needs a Trunc or Quant after it")
            absorbed.add(owner)
            source[name] = tf_y
            q, dev = _avgpool(node, layer, ins[0], tf_y, _act_tensor(tf_y, owner, "the quantizer on", trunc=True),
                              mult_bits)
        else:
            raise ValueError(f"node {name!r}: {type(layer).__name__} has no quantized form")
        if dev is not None:
            if exact:
                raise ValueError(f"{dev} (exact=True)")
            deviations[name] = dev
        spec[name] = q.out
        nodes.append(q)
    if not weights:
        raise ValueError("the model has no Dense or Conv2d layer")
    config = QConfig(weight=weights[0], act=spec[graph.input_name].format,
                     granularity="channel" if per_channel else "tensor", mult_bits=mult_bits)
    q = QuantizedGraph(nodes, graph, config)
    q.deviations = deviations
    if deviations:
        warnings.warn("the integer datapath is not exact for every input: "
                      + "; ".join(str(d) for d in deviations.values()), UserWarning, stacklevel=2)
    return q


def _check_same(name, layer, own, prev):
    """A quantizer on a ReLU/ReLU6/MaxPool/Flatten output after an already quantized input: it must
    keep every value the input can take (same scale, wide enough), i.e. be the identity."""
    lo = max(prev.qmin, 0) if isinstance(layer, (ReLU, ReLU6)) else prev.qmin
    same = (own.scale.size == 1 and prev.scale.size == 1 and float(own.scale.reshape(-1)[0])
            == float(prev.scale.reshape(-1)[0]) and not own.bipolar and not prev.bipolar
            and not own.zero_point.any() and not prev.zero_point.any() and own.qmin <= lo
            and prev.qmax <= own.qmax and own.in_scale is None)
    if not same:
        raise ValueError(f"node {name!r}: its output is quantized again as {own!r} after its input's "
                         f"{prev!r}; the integer datapath has no requantizer there (only a quantizer that "
                         "keeps every value, same scale and a range as wide, is accepted)")


def _relu6_clip(name, xq):
    """ReLU6's bound ``R_F(fl(6 / s))`` (docs/nn.md), and a Deviation if it is not ``R_F(6 / s)``."""
    fmt, s = xq.format, xq.scale
    clip = float(dp.converter(fmt).quantize(6.0 / s))
    want = _round_fraction(Fraction(6) / Fraction(s), fmt.rounding)
    want = min(max(want, fmt.min), fmt.max)
    return clip, _deviation(name, abs(Fraction(clip) - want), s, f"ReLU6's bound 6 / {s!r} rounds to {clip} "
                                                              f"in float64 but to {want} exactly")


def _avgpool(node, layer, xq, tf, yq, mult_bits):
    """QAvgPoolRequant of an AvgPool2d whose output ``tf`` quantizes (a Trunc or a Quant), and its Deviation.

    With ``S`` the window sum of the input integers, ``k`` the window size and ``s_x`` the input's
    scale, the model's rounding argument is ``S·s_x / (k·s_y)`` after a Quant, and
    ``RNE(S·ρ)·2**-T`` after a Trunc (``ρ = s_x / (k·in_scale)``). The Trunc is a plain right shift
    (``multiplier = 1``, ``shift = T``) when ``RNE(S·ρ) = S`` for every reachable ``S``
    (``S_max·|ρ − 1| < 1/2``: Brevitas' ``in_scale = fl32(s_x / k)``); otherwise the datapath
    multiplies by ``m·2**-c ≈ ρ·2**-T`` and the Trunc's first rounding adds half a step of ``2**-T``
    to the bound.
    """
    name = node.name
    kh, kw = layer.kernel
    k = kh * kw
    s_max = k * dp.max_abs_int(xq.format)                 # |S| over every window the node can receive
    bits = _bound_bits(s_max)
    wide = bits > 61
    mb = mult_bits if wide else min(mult_bits, 63 - bits)
    s_x = Fraction(xq.scale)

    def scaled(ratio):                                    # (m, c, m·2**-c)
        if ratio.numerator == 1 and ratio.denominator & (ratio.denominator - 1) == 0:
            m, c = 1, ratio.denominator.bit_length() - 1  # a right shift by c
        else:
            try:
                m, c = (int(v[0]) for v in _dyadic(np.array([float(ratio)]), mb, wide))
            except ValueError as exc:
                raise ValueError(f"node {name!r}: requantization scale: {exc}") from None
        return m, c, Fraction(m) * Fraction(2) ** -c

    causes = []
    if tf.in_scale is not None:                           # a Trunc: first n = RNE(S·ρ), then R(n·2**-T)
        T = int(tf.trunc_shift.reshape(-1)[0])
        rho = s_x / (k * Fraction(float(tf.in_scale.reshape(-1)[0])))
        clean = s_max * abs(rho - 1) < Fraction(1, 2)     # n = S for every S
        r = Fraction(2) ** -T if clean else rho * Fraction(2) ** -T
        if not clean:
            causes.append(f"the Trunc's scale is not the window sum's s_x / k (x / scale = S·{float(rho)!r}): its "
                          "rounding of x / scale is a second rounding, which the datapath does not make")
    else:                                                 # a Quant: R(S·s_x / (k·s_y))
        clean, r = True, s_x / (k * Fraction(yq.scale))
    m, c, mu = scaled(r)
    bound = s_max * abs(r - mu) + (0 if clean else Fraction(1, 2) * Fraction(2) ** -T)
    if mu != r:
        causes.append(f"the ratio of the window sum to the output, {float(r)!r}, is not a dyadic number of {mb} bits")
    q = QAvgPoolRequant(name, node.inputs, yq, kernel=layer.kernel, stride=layer.stride, multiplier=m, shift=c,
                        x=xq)
    return q, _deviation(name, bound, yq.scale, "; ".join(causes))


def _add_deviation(q: QAdd, yq: QTensor):
    """Bound of ``|(A·s_a + B·s_b) / s_y − (A·M_a + B·M_b)·2**-c|`` over the inputs' ranges."""
    bound = Fraction(0)
    for t, m in ((q.xa, q.multipliers[0]), (q.xb, q.multipliers[1])):
        r = Fraction(t.scale) * Fraction(2) ** t.quantum / Fraction(yq.scale)
        bound += dp.max_abs_int(t.format) * abs(r - int(m) * Fraction(2) ** -int(q.shift))
    return _deviation(q.name, bound, yq.scale, "the ratios of its input scales to its output scale are not dyadic "
                                     "within the multiplier's bits")


def _linear(node, layer, xq, yq, formats, mult_bits):
    """QLinear of a Dense/Conv2d from its QONNX weight (and bias) quantizers; ``(q, deviation, weight
    format, per_channel)``."""
    name = node.name
    w_tf = formats.get(f"{name}.weight")
    if w_tf is None:
        raise ValueError(f"node {name!r}: its weight is not quantized (no Quant on it)")
    if (w_tf.zero_point != 0).any():
        raise ValueError(f"node {name!r}: its weight has zero point {w_tf.zero_point.tolist()!r}; the integer "
                         "datapath needs symmetric weights (zero point 0)")
    W4 = layer.weight
    out = W4.shape[0]
    S = np.broadcast_to(w_tf.scale, W4.shape).reshape(out, -1)
    if (S != S[:, :1]).any():
        o = int(np.argwhere((S != S[:, :1]).any(axis=1))[0, 0])
        raise ValueError(f"node {name!r}: the weight scales of output channel {o} differ "
                         f"({float(S[o].min())!r} … {float(S[o].max())!r}); the integer datapath needs one "
                         "scale per output channel")
    sigma = S[:, 0].astype(np.float64).copy()
    W_int = w_tf.to_int(W4)                               # the weight holds w_tf.quantize(original) exactly
    wf = IntFormat(2) if w_tf.bipolar else IntFormat(w_tf.format.bits, signed=w_tf.format.signed)
    codes = wf.encode(W_int.astype(np.float64))
    # exact rationals: u = s_x·σ (the accumulator's unit), β the real bias
    s_x = Fraction(xq.scale)
    u = [s_x * Fraction(float(v)) for v in sigma]
    b_tf = formats.get(f"{name}.bias")
    if b_tf is not None:
        qb = b_tf.to_int(layer.bias)
        sb = np.broadcast_to(b_tf.scale, (out,))
        zb = np.broadcast_to(b_tf.zero_point, (out,))
        beta = [(int(qb[o]) - int(zb[o])) * Fraction(float(sb[o])) for o in range(out)]
    else:
        beta = [Fraction(float(v)) for v in layer.bias]
    B = [_round_fraction(b / uo, Rounding.NEAREST_EVEN) for b, uo in zip(beta, u)]
    xmax = dp.max_abs_int(xq.format)
    row = np.abs(W_int.reshape(out, -1)).sum(axis=1)
    s_max = [int(r) * xmax for r in row]
    bounds = [s + abs(b) for s, b in zip(s_max, B)]
    acc_bits = max(_bound_bits(b) for b in bounds)
    if yq is None:                                        # an unquantized graph output: int32, fine scale
        yq = _output_tensor(sigma, xq, u, acc_bits)
    mb = min(mult_bits, 63 - acc_bits) if acc_bits <= 61 else mult_bits
    real = xq.scale * sigma / yq.scale
    try:
        m, c = _dyadic(real, mb, wide=acc_bits > 61)
    except ValueError as exc:
        raise ValueError(f"node {name!r}: requantization scale: {exc}") from None
    s_y = Fraction(yq.scale)
    bound, causes = Fraction(0), {}
    for o in range(out):
        rho = u[o] / s_y
        mu = Fraction(int(m[o])) * Fraction(2) ** -int(c[o])
        d_r = s_max[o] * abs(rho - mu)
        d_b = abs(beta[o] / s_y - B[o] * mu)
        if d_r:
            causes.setdefault("ratio", f"the ratio s_x·s_w / s_y is not a dyadic number of {mb} bits "
                                       f"(e.g. channel {o}: {float(rho)!r})")
        if beta[o] / u[o] != B[o]:
            causes.setdefault("bias", f"the bias is not an integer multiple of s_x·s_w (e.g. channel {o}: "
                                      f"{float(beta[o] / u[o])!r} units)")
        bound = max(bound, d_r + d_b)
    bint = np.array(B, dtype=np.int64) if max(abs(b) for b in B) < 2 ** 63 else np.array(B, dtype=object)
    kind = "conv" if isinstance(layer, Conv2d) else "dense"
    q = QLinear(name, node.inputs, yq, kind=kind, stride=getattr(layer, "stride", (1, 1)),
                padding=getattr(layer, "padding", (0, 0)), weight_codes=codes, weight_format=wf,
                block_format=None, weight_exp=np.zeros(W4.shape, dtype=np.int64), channel_scale=sigma,
                acc_exp=np.zeros(out, dtype=np.int64), bias=bint, acc=ExactAccumulator(), acc_bits=acc_bits,
                multiplier=m, shift=c, mult_bits=mb, x=xq)
    dev = _deviation(name, bound, yq.scale, "; ".join(causes[k] for k in sorted(causes))) if bound else None
    return q, dev, wf, bool((sigma != sigma[0]).any())


def _output_tensor(sigma, xq, u, acc_bits):
    """The format of an unquantized graph output: int32 (saturating, ties to even) with scale
    ``s_x·min(σ) · 2**-g``, ``g`` the guard bits that int32 leaves above the accumulator's range."""
    ratio = max(u) / min(u)
    spread = _bound_bits(math.ceil(ratio))
    g = max(0, 30 - acc_bits - spread)
    scale = math.ldexp(xq.scale * float(sigma.min()), -g)
    return QTensor(IntFormat(32), scale)
