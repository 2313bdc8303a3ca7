"""Quantized inference: a float :class:`~numfmt.nn.Graph` turned into its bit-exact hardware twin.

:func:`quantize` calibrates a float graph, rounds its weights with
:mod:`numfmt.ptq` and fixes every integer constant of the datapath (weight
codes, bias integers, requantization multipliers and shifts). The resulting
:class:`QuantizedGraph` computes in the exact integer domain, in the order the
hardware does; ``docs/nn.md`` is the definition.

>>> import numpy as np
>>> from numfmt import nn
>>> g = nn.Graph.sequential([nn.Dense(np.array([[0.5, -1.0], [1.0, 0.25]])), nn.ReLU()], input_shape=(2,))
>>> x = np.array([[1.0, 0.5], [0.25, -1.0], [-1.0, 1.0]])
>>> q = nn.quantize(g, nn.QConfig(weight="int8", act="int8"), x)
>>> q.trace(x)["relu1"].tolist()               # int8 codes
[[0, 127], [127, 0], [0, 0]]
>>> q.forward(x).round(3).tolist(), g.forward(x).tolist()
([[0.0, 1.125], [1.125, 0.0], [0.0, 0.0]], [[0.0, 1.125], [1.125, 0.0], [0.0, 0.0]])
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import pathlib

import numpy as np

from ..arith import ExactAccumulator, FixedAccumulator, FloatAccumulator, block_matmul, matmul
from ..formats import BlockFormat, FixedFormat, FloatFormat, IntFormat, SignMagFormat
from ..formats.block import BlockCodes
from ..quant import dyadic_approx
from . import _datapath as dp
from .graph import Graph, check_input, fold_batchnorm
from .layers import Add, AvgPool2d, BatchNorm, Conv2d, Dense, Flatten, MaxPool2d, ReLU, ReLU6, im2col

__all__ = ["QConfig", "QTensor", "QInput", "QLinear", "QPassThrough", "QAvgPool", "QAdd", "QuantizedGraph",
           "quantize"]

_ACT_SCALES = ("float", "pow2", "none")
_METHODS = ("rtn", "gptq", "adaround")
_ACT_TYPES = (IntFormat, FixedFormat, FloatFormat)
_WEIGHT_TYPES = (IntFormat, FixedFormat, FloatFormat, SignMagFormat, BlockFormat)
#: The scalar format that carries block-format (MX) activation tensors between layers
#: (OCP MX: vector operations in FP32, MX conversion at the input of a matrix product).
MX_CARRIER = FloatFormat(8, 23)


def _fmt(name, value, types, what):
    if isinstance(value, str):
        from ..parse import parse
        try:
            value = parse(value)
        except ValueError as exc:
            raise ValueError(f"{name}: {exc}") from None
    if not isinstance(value, types):
        raise ValueError(f"{name} must be {what}, not {value!r}")
    return value


@dataclasses.dataclass(frozen=True)
class QConfig:
    """How :func:`quantize` quantizes a graph.

    Parameters
    ----------
    weight : Format or str
        Weight format: IntFormat, FixedFormat, FloatFormat, SignMagFormat or a
        BlockFormat (MX/BFP). Default ``"int4"``.
    act : Format or str
        Activation format: IntFormat, FixedFormat (≤ 32 bits), FloatFormat, or
        a BlockFormat (MX) blocked along its last axis; block activations need
        a block ``weight`` format with the same ``block`` (see ``docs/nn.md``,
        *Block (MX) activations*). Default ``"int8"``.
    acc : ExactAccumulator, FixedAccumulator, FloatAccumulator or None
        The accumulator of Dense/Conv2d; ``None`` is exact (Kulisch).
    granularity : "tensor", "channel" or int
        Weight scale granularity (:func:`numfmt.ptq.weight_grid`).
    calib : "minmax", "percentile" or "mse"
        Calibration of weight and activation scales.
    method : "rtn", "gptq" or "adaround"
        Weight rounding (:data:`numfmt.ptq.METHODS`).
    bias_correction : bool
        Add :func:`numfmt.ptq.bias_correction` to each bias before it is quantized.
    equalize : bool
        Cross-layer equalization of Dense→ReLU→Dense and Conv→ReLU→Conv pairs.
    smooth : float or None
        SmoothQuant migration strength ``alpha`` for the same pairs.
    seed : int
        Seed of the randomised methods (AdaRound).
    act_scale : "float", "pow2" or "none"
        Per-tensor activation scales: calibrated float64 (default), rounded up
        to a power of two, or 1 (the format must then hold the calibrated
        range, else ``ValueError``).
    mult_bits : int
        Widest requantization multiplier (1..32); a layer uses fewer bits
        when its accumulator is wide, so that ``acc * multiplier`` fits 63 bits,
        unless fewer than 2 would be left: then the full width and a wide
        requantizer (``docs/nn.md``).
    bias_bits : int or None
        Bias integers are signed ``bias_bits``-bit (``ValueError`` if one does
        not fit); ``None``: as wide as needed (wider than 63 bits: Python ints).
    percentile : float
        For ``calib="percentile"``.

    >>> QConfig(weight="e4m3fn", act="e4m3fn").act.max
    448.0
    """

    weight: object = "int4"
    act: object = "int8"
    acc: object = None
    granularity: object = "channel"
    calib: str = "minmax"
    method: str = "rtn"
    bias_correction: bool = False
    equalize: bool = False
    smooth: float | None = None
    seed: int = 0
    act_scale: str = dataclasses.field(default="float", kw_only=True)
    mult_bits: int = dataclasses.field(default=32, kw_only=True)
    bias_bits: int | None = dataclasses.field(default=None, kw_only=True)
    percentile: float = dataclasses.field(default=99.99, kw_only=True)

    def __post_init__(self):
        set_ = object.__setattr__
        set_(self, "weight", _fmt("weight", self.weight, _WEIGHT_TYPES,
                                   "an Int/Fixed/Float/SignMag/Block format or its name"))
        act = _fmt("act", self.act, _ACT_TYPES + (BlockFormat,), "an Int/Fixed/Float/Block format or its name")
        if isinstance(act, BlockFormat):
            _check_block_act(act, self.weight, self.bias_bits)
        elif act.bits > 32:
            raise ValueError(f"act must have at most 32 bits, not {act.bits} ({act})")
        set_(self, "act", act)
        if self.acc is not None and not isinstance(self.acc, (ExactAccumulator, FixedAccumulator,
                                                               FloatAccumulator)):
            raise ValueError(f"acc must be None or a numfmt.arith accumulator, not {self.acc!r}")
        if self.calib not in ("minmax", "percentile", "mse"):
            raise ValueError(f"calib must be 'minmax', 'percentile' or 'mse', not {self.calib!r}")
        if self.method not in _METHODS:
            raise ValueError(f"method must be one of {', '.join(map(repr, _METHODS))}, not {self.method!r}")
        if self.act_scale not in _ACT_SCALES:
            raise ValueError(f"act_scale must be one of {', '.join(map(repr, _ACT_SCALES))}, "
                             f"not {self.act_scale!r}")
        if isinstance(self.mult_bits, bool) or not isinstance(self.mult_bits, int) or not 1 <= self.mult_bits <= 32:
            raise ValueError(f"mult_bits must be an integer in 1..32, not {self.mult_bits!r}")
        if self.bias_bits is not None and (isinstance(self.bias_bits, bool) or not isinstance(self.bias_bits, int)
                                           or not 2 <= self.bias_bits <= 53):
            raise ValueError(f"bias_bits must be None or an integer in 2..53, not {self.bias_bits!r}")
        if self.smooth is not None and (isinstance(self.smooth, bool) or not isinstance(self.smooth, (int, float))
                                        or not 0 <= self.smooth <= 1):
            raise ValueError(f"smooth must be None or an alpha in [0, 1], not {self.smooth!r}")
        for name in ("bias_correction", "equalize"):
            if not isinstance(getattr(self, name), (bool, np.bool_)):
                raise ValueError(f"{name} must be True or False, not {getattr(self, name)!r}")

    def to_dict(self):
        """JSON-ready description (formats by name)."""
        return {"weight": str(self.weight), "act": str(self.act), "acc": _acc_dict(self.acc),
                "granularity": self.granularity, "calib": self.calib, "method": self.method,
                "bias_correction": bool(self.bias_correction), "equalize": bool(self.equalize),
                "smooth": self.smooth, "seed": self.seed, "act_scale": self.act_scale,
                "mult_bits": self.mult_bits, "bias_bits": self.bias_bits, "percentile": self.percentile}


def _check_block_act(act, weight, bias_bits):
    if act.axis not in (-1,):
        raise ValueError(f"act {act} must be blocked along its last axis (axis=-1: the input features of a "
                         f"Dense, the im2col contraction axis of a Conv2d), not axis={act.axis}")
    if not isinstance(weight, BlockFormat):
        raise ValueError(f"act {act} is a block format: weight must be a block format with the same block "
                         f"({act.block}) so that block j of the activations meets block j of the weights, "
                         f"not {weight}")
    if weight.axis not in (-1, 1) or weight.block != act.block:
        raise ValueError(f"act {act} has block={act.block} along the contraction axis; weight {weight} must "
                         f"have the same block along axis -1, not block={weight.block}, axis={weight.axis}")
    if bias_bits is not None:
        raise ValueError(f"bias_bits must be None with block activations (act {act}): the bias is an FP32 "
                         f"value, not {bias_bits!r}")


def _acc_dict(acc):
    if acc is None or isinstance(acc, ExactAccumulator):
        return {"type": "exact"}
    if isinstance(acc, FixedAccumulator):
        return {"type": "fixed", "width": acc.width, "frac_bits": acc.frac_bits, "overflow": str(acc.overflow)}
    return {"type": "float", "format": str(acc.fmt), "rounding": str(acc.rounding), "order": str(acc.order),
            "chunk": acc.chunk}


@dataclasses.dataclass(frozen=True)
class QTensor:
    """An activation tensor's format and per-tensor scale: real value = ``scale * value(code)``.

    ``block`` is None for scalar activations. For block (MX) activations it is
    the BlockFormat the consuming Dense/Conv2d encodes its input rows with;
    ``format`` is then the FP32 carrier (:data:`MX_CARRIER`) and ``scale`` 1.

    >>> import numfmt as nf
    >>> QTensor(nf.IntFormat(8), 0.5).quantum
    0
    """

    format: object
    scale: float
    block: object = None

    @property
    def quantum(self) -> int:
        """``q``: values are integers times ``2**q``."""
        return dp.quantum_exp(self.format)

    def to_dict(self):
        """``{"format": name, "scale": float}`` (and ``"block": name`` for block activations)."""
        d = {"format": str(self.format), "scale": float(self.scale)}
        if self.block is not None:
            d["block"] = str(self.block)
        return d


@dataclasses.dataclass(frozen=True, eq=False)
class _QNode:
    name: str
    inputs: tuple
    out: QTensor


@dataclasses.dataclass(frozen=True, eq=False)
class QInput(_QNode):
    """The graph input: ``value = encode(fl(x / scale))`` in the activation format (saturating)."""

    op = "input"

    def run(self, x):
        return dp.converter(self.out.format).quantize(x / self.out.scale) + 0.0


def _check_no_overflow(name, acc, C):
    """ValueError naming the first output a float accumulator overflowed (inf/NaN) to."""
    if not np.isfinite(C).all():
        idx = tuple(int(i) for i in np.argwhere(~np.isfinite(C))[0])
        raise ValueError(f"node {name!r}: the accumulator {acc} overflowed to {C[idx]} "
                         f"(row {idx[0]}, channel {idx[1]}); use a wider accumulator")


@dataclasses.dataclass(frozen=True, eq=False)
class QLinear(_QNode):
    """A quantized Dense (``kind="dense"``) or Conv2d (``kind="conv"``) layer.

    Attributes
    ----------
    weight_codes : numpy.ndarray
        Element codes of ``weight_format``, the layer's weight shape.
    weight_format : Format
        The element format (a BlockFormat's element for MX/BFP weights).
    block_format : BlockFormat or None
    weight_exp : numpy.ndarray of int64
        Per element: the power of two multiplying the element value inside its
        row (the block scale relative to ``channel_scale``; 0 for scalar formats).
    channel_scale : numpy.ndarray of float64, (out,)
        Real weight = ``channel_scale[o] * element_value * 2**weight_exp``.
    acc_exp : numpy.ndarray of int64, (out,)
        ``Qp[o]``: the accumulator counts units of ``2**Qp[o]`` (value units,
        i.e. ``s_x * channel_scale[o] * 2**Qp[o]`` in real terms).
    bias : numpy.ndarray of int64, (out,)
        Initial accumulator value in those units (an object array of Python
        ints when one needs more than 63 bits).
    acc : accumulator
    acc_bits : int
        Bits of the largest accumulator magnitude (a static bound).
    multiplier, shift : numpy.ndarray of int64, (out,)
        Requantization: output value ``= round(K * multiplier * 2**-shift)``.
    mult_bits : int
    x : QTensor
        The input tensor's format and scale.

    With block (MX) activations (``x.block`` set) the input rows are encoded
    block-wise at run time and the fields read differently: the real bias of
    channel ``o`` is the FP32 value ``bias[o] * 2**acc_exp[o]``, ``multiplier``
    is 1, ``shift`` 0 and ``acc_bits``/``mult_bits`` 0 (no requantizer: the
    sum is rounded once to the FP32 carrier; see ``docs/nn.md``).
    """

    kind: str
    stride: tuple
    padding: tuple
    weight_codes: np.ndarray
    weight_format: object
    block_format: object
    weight_exp: np.ndarray
    channel_scale: np.ndarray
    acc_exp: np.ndarray
    bias: np.ndarray
    acc: object
    acc_bits: int
    multiplier: np.ndarray
    shift: np.ndarray
    mult_bits: int
    x: QTensor
    op = "linear"

    def __post_init__(self):
        wv = np.ldexp(self.weight_format.decode(self.weight_codes), self.weight_exp)
        wm = np.ascontiguousarray(wv.reshape(wv.shape[0], -1))
        wm.setflags(write=False)
        object.__setattr__(self, "_wm", wm)
        wide = self.x.block is None and (self.requant_bits > 63 or _wide_shift(self.shift))
        object.__setattr__(self, "_wide", bool(wide))
        object.__setattr__(self, "_rq", None if wide else dp.make_requantizer(self.multiplier, self.shift,
                                                                              self.out.format))
        if self.x.block is not None:
            self._init_block()

    @property
    def requant_bits(self) -> int:
        """Bits of the requantization product ``K * (multiplier << max(-shift, 0))`` (a static bound).

        At most 63 (and ``|shift| ≤ 63``): the 64-bit requantizer; more: the
        wide requantizer (``docs/nn.md``). 0 for block (MX) activations, which
        have no requantizer.
        """
        if self.x.block is not None:
            return 0
        return _product_bits(self.acc_bits, self.multiplier, self.shift)

    def _init_block(self):
        """Weight factors for block inputs: element values, absolute block exponents, BlockCodes (K, out)."""
        bf, block = self.block_format, self.x.block.block
        out = self.weight_codes.shape[0]
        codes = self.weight_codes.reshape(out, -1)
        m, e = np.frexp(self.channel_scale)
        ew = self.weight_exp.reshape(out, -1)[:, ::block] + (e - 1)[:, None]       # (out, nb)
        vals = self.weight_format.decode(codes)
        qw = dp.quantum_exp(self.weight_format)
        if isinstance(bf.scale, IntFormat):
            scales = bf.scale.encode(ew.astype(np.float64))
        else:
            scales = bf.scale.encode(np.ldexp(1.0, ew))
        wcodes = BlockCodes(scales=np.ascontiguousarray(scales.T), elements=np.ascontiguousarray(codes.T),
                            format=dataclasses.replace(bf, axis=0))
        wi = dp.to_int(vals, qw).T.copy()                                               # (K, out)
        object.__setattr__(self, "_blk", {"ew": ew, "wi": wi, "wif": wi.astype(np.float64), "qw": qw,
                                          "wcodes": wcodes})

    def input_codes(self, xv):
        """The block (MX) codes of this layer's input rows (Dense: ``x``; Conv2d: im2col rows).

        Only for block activations; a :class:`~numfmt.BlockCodes` of shape
        ``(rows, in)`` blocked along axis −1 (``in`` = ``ic·kh·kw`` for a conv).
        """
        if self.x.block is None:
            raise ValueError(f"node {self.name!r}: input_codes needs block activations, not {self.x.format}")
        cols = im2col(xv, self.weight_codes.shape[2:], self.stride, self.padding) if self.kind == "conv" else xv
        return self.x.block.encode(cols)

    def _run_block(self, xv):
        """Output values for block inputs: Σ_j 2**(e_x + e_w) · (element dot of block j), + bias, one rounding."""
        A = self.input_codes(xv)
        va, ea, _ = A.factors()
        blk, block = self._blk, self.x.block.block
        acc = self.acc or ExactAccumulator()
        bias = np.ldexp(self.bias.astype(np.float64), self.acc_exp)
        if not isinstance(acc, ExactAccumulator):
            try:
                C = block_matmul(A, blk["wcodes"], acc)
                C = matmul(np.stack([C.ravel(), np.broadcast_to(bias, C.shape).ravel()], axis=1),
                           np.ones((2, 1)), acc).reshape(C.shape)
            except ValueError as exc:
                raise ValueError(f"node {self.name!r}: {exc}") from None
            _check_no_overflow(self.name, acc, C)
            return dp.converter(self.out.format).quantize(C) + 0.0
        qx = dp.quantum_exp(self.x.block.element)
        if self._partial_bits > 62:
            return self._run_block_wide(va, ea, qx)
        xi = dp.to_int(va, qx)
        n, K = xi.shape
        out, nb = blk["ew"].shape
        S = np.empty((n, out, nb + 1), dtype=np.int64)
        exact_f64 = self._partial_bits <= 53
        for j in range(nb):
            k = slice(j * block, min((j + 1) * block, K))
            if exact_f64:
                S[:, :, j] = (xi[:, k].astype(np.float64) @ blk["wif"][k]).astype(np.int64)
            else:
                S[:, :, j] = xi[:, k] @ blk["wi"][k]
        Fx = np.empty((n, out, nb + 1), dtype=np.int64)
        Fx[:, :, :nb] = ea[:, None, :] + blk["ew"][None, :, :] + (qx + blk["qw"])
        S[:, :, nb] = self.bias[None, :]
        Fx[:, :, nb] = self.acc_exp[None, :]
        return dp.round_dyadic_sum(S, Fx, self.out.format)

    def _requantize_register(self, mask, C):
        """``R_F(C * m * 2**-c / 2**Qp)`` of the exact register values ``C[mask]`` (off the ``2**Qp`` grid)."""
        F = self.acc.frac_bits
        ch = np.nonzero(mask)[1]
        R = dp.to_pyint(C[mask], -F)                                  # the register's integers
        c = self.shift[ch]
        B = np.array([int(b) << max(-int(ci), 0) for b, ci in zip(self.multiplier[ch], c)], dtype=object)
        try:
            return dp.round_pyint(R * B, np.maximum(c, 0) + self.acc_exp[ch] + F, self.out.format)
        except ValueError as exc:
            raise ValueError(f"node {self.name!r}: the saturated register {self.acc} is off the 2**acc_exp "
                             f"grid: {exc}") from None

    def _run_block_wide(self, va, ea, qx):
        """:meth:`_run_block`'s exact sum when a block's element dot product exceeds 62 bits: Python ints."""
        blk, block = self._blk, self.x.block.block
        K = va.shape[1]
        out, nb = blk["ew"].shape
        F = [ea[:, None, j] + blk["ew"][None, :, j] + (qx + blk["qw"]) for j in range(nb)]
        G = int(min(min(int(f.min()) for f in F), int(self.acc_exp.min())))
        total = dp._shift(np.asarray(self.bias, dtype=object)[None, :], self.acc_exp[None, :] - G)
        for j in range(nb):
            k = slice(j * block, min((j + 1) * block, K))
            S = dp.exact_matmul(va[:, k], qx, blk["wif"][k], np.zeros(out, dtype=np.int64))
            total = total + dp._shift(S, F[j] - G)
        return dp.round_pyint(total, np.full(total.shape, -G, dtype=np.int64), self.out.format)

    @property
    def _partial_bits(self):
        """Bits of the largest element dot product of one block (a static bound)."""
        xb = dp.max_abs_int(self.x.block.element)
        wb = dp.max_abs_int(self.weight_format)
        return _bound_bits(xb * wb * self.x.block.block)

    @property
    def weight_values(self):
        """Element values times ``2**weight_exp`` (float64, exact), the weight's shape."""
        return self._wm.reshape(self.weight_codes.shape)

    @property
    def real_weight(self):
        """``channel_scale[o] * weight_values`` (float64, rounded)."""
        view = (-1,) + (1,) * (self.weight_codes.ndim - 1)
        return self.weight_values * self.channel_scale.reshape(view)

    def accumulate(self, xv):
        """Integer accumulators ``K`` (``(rows, out)``) for input values ``xv`` (scalar activations).

        int64, or an object array of Python ints when ``acc_bits > 63`` (or a
        float register's value exceeds 62 bits in units of ``2**acc_exp``).
        ``K = C / 2**acc_exp`` for the register value ``C``; a saturated fixed
        register off that grid (``docs/nn.md``) gives ``K`` rounded toward zero
        here, while :meth:`run` requantizes the register's exact value.
        """
        return self._accumulate(xv)[0]

    def _accumulate(self, xv):
        """``(K, off)``: :meth:`accumulate`, and ``(mask, C)`` for fixed-register values off the grid, else None."""
        if self.x.block is not None:
            raise ValueError(f"node {self.name!r}: block activations ({self.x.block}) have no static "
                             "accumulator units; use run()")
        if self.kind == "conv":
            cols = im2col(xv, self.weight_codes.shape[2:], self.stride, self.padding)
        else:
            cols = xv
        acc = self.acc or ExactAccumulator()
        if isinstance(acc, ExactAccumulator) and self.acc_bits > 63:     # multi-word: Python ints
            K = dp.exact_matmul(cols, self.x.quantum, self._wm.T, self.acc_exp - self.x.quantum)
            return K + np.asarray(self.bias, dtype=object)[None, :], None
        if isinstance(acc, ExactAccumulator) and self.acc_bits > 53:
            xi = dp.to_int(cols, self.x.quantum)
            wi = dp.to_int(self._wm, (self.acc_exp - self.x.quantum)[:, None])
            return xi @ wi.T + self.bias[None, :], None
        init = np.ldexp(self.bias.astype(np.float64), self.acc_exp)[None, :]
        try:
            C = matmul(cols, self._wm.T, acc, init=init)
        except ValueError as exc:
            raise ValueError(f"node {self.name!r}: {exc}") from None
        _check_no_overflow(self.name, acc, C)
        off = None
        if isinstance(acc, FixedAccumulator) and (self.acc_exp + acc.frac_bits > 0).any():
            scaled = np.ldexp(C, -self.acc_exp[None, :])
            mask = scaled != np.trunc(scaled)
            off = (mask, C) if mask.any() else None
        to_int = dp.to_int if self.acc_bits <= 62 else dp.to_int_wide       # |K| < 2**acc_bits
        return to_int(C, self.acc_exp[None, :]), off

    def run(self, xv):
        if self.x.block is not None:
            y = self._run_block(xv)
        else:
            K, off = self._accumulate(xv)
            if self._wide and K.dtype != object:
                K = K.astype(object)
            y = dp.requantize(K, self.multiplier, self.shift, self.out.format, self._rq)
            if off is not None:
                y[off[0]] = self._requantize_register(*off)
        if self.kind == "conv":
            n, (oc, _, kh, kw) = xv.shape[0], self.weight_codes.shape
            (sh, sw), (ph, pw) = self.stride, self.padding
            oh, ow = (xv.shape[2] + 2 * ph - kh) // sh + 1, (xv.shape[3] + 2 * pw - kw) // sw + 1
            y = y.reshape(n, oh, ow, oc).transpose(0, 3, 1, 2)
        return np.ascontiguousarray(y)


@dataclasses.dataclass(frozen=True, eq=False)
class QPassThrough(_QNode):
    """ReLU, ReLU6, MaxPool2d, Flatten: act on values, keep the input's format and scale.

    ``clip`` is ReLU6's upper bound as a value of the format (the format's
    value nearest to ``6 / scale``).
    """

    layer: object
    clip: float | None = None
    op = "passthrough"

    def run(self, xv):
        layer = self.layer
        if isinstance(layer, (ReLU, ReLU6)):
            y = np.where(xv > 0, xv, 0.0)
            return np.minimum(y, self.clip) if self.clip is not None else y
        return layer.forward(xv)          # MaxPool2d, Flatten: exact on values


@dataclasses.dataclass(frozen=True, eq=False)
class QAvgPool(_QNode):
    """AvgPool2d: exact integer window sums, then ``round(sum * multiplier * 2**-shift)`` (same format and scale)."""

    kernel: tuple
    stride: tuple
    multiplier: int
    shift: int
    op = "avgpool"

    def __post_init__(self):
        wide = self.out.block is None and (_wide_shift(self.shift) or _product_bits(
            _bound_bits(dp.max_abs_int(self.out.format) * self.kernel[0] * self.kernel[1]),
            [self.multiplier], [self.shift]) > 63)
        object.__setattr__(self, "_wide", wide)
        object.__setattr__(self, "_rq", None if wide else dp.make_requantizer(self.multiplier, self.shift,
                                                                              self.out.format))

    def run(self, xv):
        layer = AvgPool2d(self.kernel, self.stride)
        if self.out.block is not None:          # FP32 carrier: exact window sum * 2**-shift, one rounding
            S, F = dp.split_pow2(layer.windows(xv))
            sh = S.shape[:4] + (-1,)
            return dp.round_dyadic_sum(S.reshape(sh), F.reshape(sh) - self.shift, self.out.format)
        win = layer.windows((dp.to_pyint if self._wide else dp.to_int)(xv, self.out.quantum))
        S = win.sum(axis=(4, 5))
        return dp.requantize(S, self.multiplier, self.shift, self.out.format, self._rq)


@dataclasses.dataclass(frozen=True, eq=False)
class QAdd(_QNode):
    """Residual Add: ``round((A * m_a + B * m_b) * 2**-shift)``, ``A``, ``B`` the inputs' integers."""

    multipliers: tuple
    shift: int
    op = "add"
    xa: QTensor = None
    xb: QTensor = None

    def __post_init__(self):
        wide = self.out.block is None and (_wide_shift(self.shift) or max(
            _bound_bits(dp.max_abs_int(t.format)) for t in (self.xa, self.xb)) + max(
            _bound_bits(m) for m in self.multipliers) > 61)
        object.__setattr__(self, "_wide", wide)
        object.__setattr__(self, "_rq", None if wide else dp.make_requantizer(1, self.shift, self.out.format))

    def run(self, av, bv):
        if self.out.block is not None:          # FP32 carrier, scales 1: the exact sum, one rounding
            S, F = dp.split_pow2(np.stack([av, bv], axis=-1))
            return dp.round_dyadic_sum(S, F, self.out.format)
        if self._wide:                          # the wide adder: Python ints
            P = (dp.to_pyint(av, self.xa.quantum) * int(self.multipliers[0])
                 + dp.to_pyint(bv, self.xb.quantum) * int(self.multipliers[1]))
            return dp.requantize(P, 1, self.shift, self.out.format)
        A = dp.to_int(av, self.xa.quantum)
        B = dp.to_int(bv, self.xb.quantum)
        P = A * np.int64(self.multipliers[0]) + B * np.int64(self.multipliers[1])
        return dp.requantize(P, 1, self.shift, self.out.format, self._rq)


class QuantizedGraph:
    """The quantized twin of a float graph (built by :func:`quantize`).

    Attributes
    ----------
    nodes : list
        :class:`QInput` followed by the quantized nodes in order.
    float_graph : Graph
        The float graph it was built from (BatchNorm folded; equalized/smoothed if asked).
    config : QConfig
    input_shape, output : as in :class:`Graph`
    deviations : dict
        For a graph made from a QONNX model (:func:`numfmt.nn.qonnx.from_qonnx`): node name →
        :class:`~numfmt.nn.qonnx.Deviation` for each node whose datapath may differ from the
        model's; empty otherwise.
    """

    def __init__(self, nodes, float_graph, config):
        self.nodes = list(nodes)
        self.float_graph = float_graph
        self.config = config
        self.deviations = {}
        self.input_shape = float_graph.input_shape
        self.input_name = float_graph.input_name
        self.output = float_graph.output
        self._by_name = {n.name: n for n in self.nodes}

    def node(self, name):
        """The quantized node called ``name``."""
        return self._by_name[name]

    def run(self, x):
        """Every node's output values (float64, exact values of its format), ``{name: array}``.

        Raises ``ValueError`` for a wrong input shape (naming the expected one)
        or a NaN/inf input (naming its index).
        """
        x = check_input(x, self.input_shape)
        vals = {}
        for node in self.nodes:
            if isinstance(node, QInput):
                vals[node.name] = node.run(x)
            else:
                vals[node.name] = node.run(*(vals[i] for i in node.inputs))
        return vals

    def trace(self, x):
        """Every node's output codes (unsigned ints of its format), ``{name: array}``."""
        return {name: self._by_name[name].out.format.encode(v) for name, v in self.run(x).items()}

    def forward(self, x):
        """Dequantized outputs ``scale * value`` (float64) of the bit-exact datapath."""
        out = self._by_name[self.output].out
        return self.run(x)[self.output] * out.scale

    def predict(self, x):
        """``argmax`` of the output values (ties: the lowest index), int64 labels."""
        v = self.run(x)[self.output]
        return np.argmax(v.reshape(v.shape[0], -1), axis=1)

    def export(self, path):
        """Write ``<path>.npz`` (codes, integers, scales) and ``<path>.json`` (formats, shapes, graph).

        ``path`` may end in ``.npz`` or ``.json`` (either is replaced). Array
        ``"<node>/<field>"`` of the ``.npz`` is the node's field; the JSON lists
        each node's op, inputs, output format and scale, scalar fields, and the
        names, shapes and dtypes of its arrays. Returns the two paths. A bias
        wider than 64 bits (a wide accumulator) is stored as decimal strings
        (``int(s)`` gives it back), so ``numpy.load`` needs no pickle.
        """
        path = pathlib.Path(path)
        if path.suffix in (".npz", ".json"):
            path = path.with_suffix("")
        arrays, nodes = {}, []
        for node in self.nodes:
            entry = {"name": node.name, "op": node.op, "inputs": list(node.inputs), "out": node.out.to_dict()}
            fields, arr_meta = {}, {}
            for f in dataclasses.fields(node):
                if f.name in ("name", "inputs", "out"):
                    continue
                v = getattr(node, f.name)
                if isinstance(v, np.ndarray):
                    key = f"{node.name}/{f.name}"
                    if v.dtype == object:          # integers wider than 64 bits: decimal strings
                        v = v.astype(str)
                    arrays[key] = v
                    arr_meta[f.name] = {"key": key, "shape": list(v.shape), "dtype": str(v.dtype)}
                elif isinstance(v, QTensor):
                    fields[f.name] = v.to_dict()
                elif f.name == "acc":
                    fields[f.name] = _acc_dict(v)
                elif f.name == "layer":
                    fields[f.name] = type(v).__name__
                    if isinstance(v, (MaxPool2d, AvgPool2d)):
                        fields["kernel"], fields["stride"] = list(v.kernel), list(v.stride)
                elif isinstance(v, (IntFormat, FixedFormat, FloatFormat, SignMagFormat, BlockFormat)):
                    fields[f.name] = str(v)
                elif isinstance(v, tuple):
                    fields[f.name] = [int(t) for t in v]
                elif isinstance(v, (np.integer, int)) and not isinstance(v, bool):
                    fields[f.name] = int(v)
                else:
                    fields[f.name] = v if v is None or isinstance(v, (str, float)) else float(v)
            entry["fields"], entry["arrays"] = fields, arr_meta
            nodes.append(entry)
        meta = {"format": "numfmt.nn.QuantizedGraph", "version": 1, "input_name": self.input_name,
                "input_shape": list(self.input_shape), "output": self.output,
                "config": self.config.to_dict(), "nodes": nodes}
        npz, js = path.with_suffix(".npz"), path.with_suffix(".json")
        path.parent.mkdir(parents=True, exist_ok=True)
        np.savez(npz, **arrays)
        js.write_text(json.dumps(meta, indent=1))
        return npz, js

    def __repr__(self):
        body = ", ".join(f"{n.name}:{n.op}[{n.out.format}]" for n in self.nodes)
        return f"QuantizedGraph({body})"


# -- building -------------------------------------------------------------------------------------
def _calib_values(graph, y, name):
    """The values of ``name``'s output that its consumers use (ReLU consumers clip negatives)."""
    cons = graph.consumers(name)
    if cons and name != graph.output and all(isinstance(c.layer, ReLU) for c in cons):
        return np.maximum(y, 0.0)
    if cons and name != graph.output and all(isinstance(c.layer, ReLU6) for c in cons):
        return np.clip(y, 0.0, 6.0)
    return y


def _act_tensor(cfg, values, name):
    from .. import ptq
    fmt = cfg.act
    if isinstance(fmt, BlockFormat):            # the block scales carry the range: scale 1, FP32 carrier
        return QTensor(MX_CARRIER, 1.0, block=fmt)
    lo = float(values.min()) if values.size else 0.0
    if lo < 0 and fmt.min >= 0:
        raise ValueError(f"act format {fmt} is unsigned, but node {name!r} takes negative values "
                         f"(down to {lo!r}) on the calibration data")
    amax = float(np.abs(values).max()) if values.size else 0.0
    if cfg.act_scale == "none":
        if amax > max(abs(fmt.max), abs(fmt.min)):
            raise ValueError(f"act format {fmt} holds magnitudes up to {fmt.max}, but node {name!r} "
                             f"reaches {amax!r} on the calibration data (act_scale='none'); use "
                             "act_scale='float' or 'pow2', or a wider format")
        return QTensor(fmt, 1.0)
    s = ptq.activation_scale(values, fmt, calib=cfg.calib, percentile=cfg.percentile)
    if cfg.act_scale == "pow2":
        m, e = math.frexp(s)
        s = math.ldexp(1.0, e - 1 if m == 0.5 else e)
    return QTensor(fmt, float(s))


def _layer_inputs(layer, x):
    """Layer inputs as rows (n, in): im2col patches for a conv."""
    if isinstance(layer, Conv2d):
        return im2col(x, layer.kernel, layer.stride, layer.padding)
    return x


def _split_scale(S, name):
    """``S`` (out, in) = ``sigma[o] * 2**e[o, i]`` with e ≤ 0; ValueError if not powers of two apart."""
    if (S <= 0).any() or not np.isfinite(S).all():
        raise ValueError(f"node {name!r}: weight scales must be positive and finite")
    sigma = S.max(axis=1)
    m, e = np.frexp(S / sigma[:, None])
    bad = m != 0.5
    if bad.any():
        o, i = (int(t) for t in np.argwhere(bad)[0])
        raise ValueError(f"node {name!r}: the weight scales of output channel {o} ({float(S[o, 0])!r}, "
                         f"{float(S[o, i])!r}, ...) are not powers of two apart; the integer datapath needs one "
                         "real scale per output channel with power-of-two group/block factors: use "
                         "granularity='channel' or 'tensor', or a block format (e.g. mxint8)")
    return sigma, (e - 1).astype(np.int64)


def _bound_bits(bound: int) -> int:
    return max(int(bound).bit_length(), 1)


def _dyadic(real, mult_bits, wide):
    """:func:`dyadic_approx`; for a wide requantizer (``wide``) with the shift not capped at ±63."""
    if not wide:
        return dyadic_approx(real, mult_bits)
    real = np.asarray(real, dtype=np.float64)
    m, e = np.frexp(real)
    b, c = dyadic_approx(np.where(np.isfinite(real) & (real > 0), m, real), mult_bits)
    return b, c - e.astype(np.int64)


def _wide_shift(shift) -> bool:
    return bool((np.abs(np.asarray(shift)) > 63).any())


def _product_bits(acc_bits, b, c) -> int:
    """Bits of the requantization product ``K * (b << max(-c, 0))`` for ``|K|`` of ``acc_bits`` bits."""
    return acc_bits + max(_bound_bits(int(bi) << max(-int(ci), 0)) for bi, ci in zip(b, c))


def _digest(a) -> str:
    a = np.ascontiguousarray(a)
    return hashlib.sha256(f"{a.dtype.str}{a.shape}".encode() + a.tobytes()).hexdigest()


def _quantize_linear(node, layer, x_float, xq: QTensor, yq: QTensor, cfg, memo=None):
    from .. import ptq
    name = node.name
    W4 = layer.weight
    W = W4.reshape(W4.shape[0], -1)
    X = _layer_inputs(layer, x_float)
    grid = ptq.weight_grid(W, cfg.weight, granularity=cfg.granularity, calib=cfg.calib,
                           percentile=cfg.percentile)
    kwargs = {"seed": cfg.seed} if cfg.method == "adaround" else {}
    key = None
    if memo is not None:        # the rounding depends only on W, X, the grid's definition and the method
        key = (str(cfg.weight), cfg.granularity, cfg.calib, cfg.percentile, cfg.method, tuple(kwargs.items()),
               _digest(W), _digest(X))
    W_hat = memo.get(key) if memo is not None else None
    if W_hat is None:
        W_hat = ptq.METHODS[cfg.method](W, X, grid, **kwargs)
        if memo is not None:
            memo[key] = W_hat
    codes = grid.encode(W_hat)
    elem = grid.element
    sigma, wexp = _split_scale(np.broadcast_to(grid.scale, W.shape).astype(np.float64), name)
    bias = layer.bias.copy()
    if cfg.bias_correction:
        real = elem.decode(codes) * np.broadcast_to(grid.scale, W.shape)
        bias = bias + ptq.bias_correction(W, real, X.mean(axis=0))
    if xq.block is not None:
        return _linear_block(node, layer, codes.reshape(W4.shape), elem, wexp.reshape(W4.shape), sigma, bias,
                             xq, yq, cfg)
    acc = cfg.acc or ExactAccumulator()
    qx = xq.quantum
    qw = dp.quantum_exp(elem)
    acc_exp = (qx + qw + wexp.min(axis=1)).astype(np.int64)
    # bias in accumulator units: RNE of b / (s_x * sigma * 2**Qp)
    unit = xq.scale * sigma * np.ldexp(1.0, acc_exp)
    with np.errstate(over="ignore", divide="ignore"):
        braw = bias / unit
    if not np.isfinite(braw).all():
        o = int(np.argmax(~np.isfinite(braw)))
        raise ValueError(f"node {name!r}: bias[{o}] = {float(bias[o])!r} in the accumulator's units "
                         f"({float(unit[o])!r}) is beyond float64")
    bint = np.round(braw)                              # numpy rounds half to even
    # int64; an exact Python int (object array) when a bias needs more than 63 bits (a wide accumulator)
    bint = bint.astype(np.int64) if (np.abs(bint) < 2.0 ** 63).all() else np.array([int(v) for v in bint],
                                                                                    dtype=object)
    if cfg.bias_bits is not None:
        lim = (1 << (cfg.bias_bits - 1)) - 1
        over = np.abs(bint) > lim
        if over.any():
            o = int(np.argmax(over))
            raise ValueError(f"node {name!r}: bias[{o}] = {float(bias[o])!r} is {int(bint[o])} accumulator units "
                             f"({float(unit[o])!r} each), beyond int{cfg.bias_bits} (bias_bits={cfg.bias_bits})")
    if isinstance(acc, FloatAccumulator):
        init = acc.fmt.quantize(np.ldexp(bint.astype(np.float64), acc_exp), acc.rounding)
        if not np.isfinite(init).all():
            o = int(np.argmax(~np.isfinite(init)))
            raise ValueError(f"node {name!r}: bias[{o}] = {float(bias[o])!r} overflows the accumulator {acc}")
        bint = dp.to_int_wide(init, acc_exp)
    if isinstance(acc, FixedAccumulator):
        F = acc.frac_bits
        if (acc_exp + F < 0).any():
            o = int(np.argmax(acc_exp + F < 0))
            raise ValueError(f"node {name!r}: products of channel {o} are multiples of 2**{int(acc_exp[o])}, "
                             f"finer than the accumulator's quantum 2**{-F} ({acc})")
        regs = [int(b) << int(a + F) for b, a in zip(bint, acc_exp)]
        bad = [o for o, r in enumerate(regs) if not acc.min_int <= r <= acc.max_int]
        if bad:
            o = bad[0]
            raise ValueError(f"node {name!r}: bias[{o}] = {float(bias[o])!r} does not fit the accumulator {acc}")
        bounds = [(1 << (acc.width - 1)) >> int(a + F) if a + F <= acc.width else 1 for a in acc_exp]
    else:
        wi = dp.to_int_wide(np.abs(elem.decode(codes)), qw - (wexp - wexp.min(axis=1)[:, None]))
        xmax = dp.max_abs_int(xq.format)
        bounds = []
        for o in range(W.shape[0]):
            row = int(sum(int(v) for v in wi[o]))
            b = row * xmax + abs(int(bint[o]))
            if isinstance(acc, FloatAccumulator):      # each rounding grows by at most a factor 1 + 2**-man
                n = W.shape[1]
                b = int(b * (1 + 2.0 ** -acc.fmt.man) ** (n + 1)) + 1 + n
            bounds.append(b)
    acc_bits = max(_bound_bits(b) for b in bounds)
    # a 64-bit requantizer when at least 2 multiplier bits fit beside the accumulator, else a wide one
    mult_bits = min(cfg.mult_bits, 63 - acc_bits) if acc_bits <= 61 else cfg.mult_bits
    real = xq.scale * sigma * np.ldexp(1.0, acc_exp) / yq.scale
    try:
        b, c = _dyadic(real, mult_bits, wide=acc_bits > 61)
    except ValueError as exc:
        raise ValueError(f"node {name!r}: requantization scale: {exc}") from None
    if _product_bits(acc_bits, b, c) > 63 and not dp.wide_reducible(yq.format):
        raise ValueError(f"node {name!r}: the requantization product needs {_product_bits(acc_bits, b, c)} "
                         f"bits, and the output format {yq.format} (overflow {yq.format.overflow}) wraps with "
                         "its sign, which a wide requantizer cannot reduce; use a saturating or plain 'wrap' "
                         "output format, or narrower formats")
    return QLinear(name, node.inputs, yq, kind="conv" if isinstance(layer, Conv2d) else "dense",
                   stride=getattr(layer, "stride", (1, 1)), padding=getattr(layer, "padding", (0, 0)),
                   weight_codes=codes.reshape(W4.shape), weight_format=elem,
                   block_format=cfg.weight if isinstance(cfg.weight, BlockFormat) else None,
                   weight_exp=wexp.reshape(W4.shape), channel_scale=sigma, acc_exp=acc_exp, bias=bint,
                   acc=acc, acc_bits=acc_bits, multiplier=b, shift=c, mult_bits=mult_bits, x=xq)


def _linear_block(node, layer, codes, elem, wexp, sigma, bias, xq, yq, cfg):
    """QLinear for block (MX) inputs: bias as an FP32 value ``bias * 2**acc_exp``, no requantizer."""
    name, acc = node.name, cfg.acc or ExactAccumulator()
    with np.errstate(over="ignore"):
        B = dp.converter(MX_CARRIER).quantize(bias)
    if isinstance(acc, FixedAccumulator):             # then onto the register's grid (RNE)
        B = np.ldexp(np.round(np.ldexp(B, acc.frac_bits)), -acc.frac_bits)
        R = np.ldexp(B, acc.frac_bits)
        bad = (R < acc.min_int) | (R > acc.max_int)
        if bad.any():
            o = int(np.argmax(bad))
            raise ValueError(f"node {name!r}: bias[{o}] = {float(bias[o])!r} does not fit the accumulator {acc}")
    m, e = np.frexp(B)
    bint = np.ldexp(m, 53).astype(np.int64)
    bexp = (e - 53).astype(np.int64)
    # strip trailing zero bits: bias = bint * 2**bexp with bint odd (or 0, exponent 0)
    while True:
        even = (bint != 0) & (bint % 2 == 0)
        if not even.any():
            break
        bint, bexp = np.where(even, bint // 2, bint), np.where(even, bexp + 1, bexp)
    bexp = np.where(bint == 0, 0, bexp)
    n = sigma.shape[0]
    q = QLinear(name, node.inputs, yq, kind="conv" if isinstance(layer, Conv2d) else "dense",
                stride=getattr(layer, "stride", (1, 1)), padding=getattr(layer, "padding", (0, 0)),
                weight_codes=codes, weight_format=elem, block_format=cfg.weight, weight_exp=wexp,
                channel_scale=sigma, acc_exp=bexp, bias=bint, acc=acc, acc_bits=0,
                multiplier=np.ones(n, dtype=np.int64), shift=np.zeros(n, dtype=np.int64), mult_bits=0, x=xq)
    return q


def _quantize_add(node, xa: QTensor, xb: QTensor, yq: QTensor, cfg):
    if yq.block is not None:
        return QAdd(node.name, node.inputs, yq, multipliers=(1, 1), shift=0, xa=xa, xb=xb)
    bits = max(_bound_bits(dp.max_abs_int(t.format)) for t in (xa, xb))
    mb = min(cfg.mult_bits, 61 - bits)
    ra = xa.scale * math.ldexp(1.0, xa.quantum) / yq.scale
    rb = xb.scale * math.ldexp(1.0, xb.quantum) / yq.scale
    wide = False
    while True:          # common shift c; the products A*ma, B*mb and their sum must fit 62 bits
        if mb < 2:       # else the wide adder (Python ints) with the full multiplier
            wide, mb = True, cfg.mult_bits
        try:
            (ba, ca), (bb, cb) = (tuple(int(v) for v in _dyadic(r, mb, wide)) for r in (ra, rb))
        except ValueError as exc:
            raise ValueError(f"node {node.name!r}: requantization scale: {exc}") from None
        c = max(ca, cb)
        ma, mbb = ba << (c - ca), bb << (c - cb)
        excess = max(_bound_bits(ma), _bound_bits(mbb)) + bits - 61
        if excess <= 0 or wide:
            break
        mb -= excess
    if wide and not dp.wide_reducible(yq.format):
        raise ValueError(f"node {node.name!r}: the residual sum needs more than 62 bits, and the output format "
                         f"{yq.format} (overflow {yq.format.overflow}) wraps with its sign, which a wide adder "
                         "cannot reduce; use a saturating or plain 'wrap' output format")
    return QAdd(node.name, node.inputs, yq, multipliers=(ma, mbb), shift=c, xa=xa, xb=xb)


def _quantize_avgpool(node, layer, xq: QTensor, cfg):
    kh, kw = layer.kernel
    if xq.block is not None:
        k = kh * kw
        if k & (k - 1):
            raise ValueError(f"node {node.name!r}: AvgPool2d over {kh}x{kw} = {k} values (not a power of two) "
                             f"has no exact divider on block activations ({xq.block})")
        return QAvgPool(node.name, node.inputs, xq, kernel=layer.kernel, stride=layer.stride,
                        multiplier=1, shift=k.bit_length() - 1)
    bits = _bound_bits(dp.max_abs_int(xq.format) * kh * kw)
    wide = bits > 61                  # a wide requantizer beyond 64 bits, as in Dense/Conv2d
    b, c = _dyadic(math.ldexp(1.0, xq.quantum) / (kh * kw), cfg.mult_bits if wide else
                   min(cfg.mult_bits, 63 - bits), wide)
    return QAvgPool(node.name, node.inputs, xq, kernel=layer.kernel, stride=layer.stride,
                    multiplier=int(b), shift=int(c))


def _pairs(graph):
    """``(A, R, B)`` names: Dense→ReLU→Dense or Conv2d→ReLU→Conv2d with single consumers."""
    out = []
    for a in graph.nodes:
        if not isinstance(a.layer, (Dense, Conv2d)) or a.name == graph.output:
            continue
        ca = graph.consumers(a.name)
        if len(ca) != 1 or type(ca[0].layer) is not ReLU or ca[0].name == graph.output:
            continue
        cr = graph.consumers(ca[0].name)
        if len(cr) == 1 and type(cr[0].layer) is type(a.layer):
            out.append((a.name, ca[0].name, cr[0].name))
    return out


def _as_rows(layer):
    """The consumer's weight as (rows, in_channels)."""
    w = layer.weight
    return w if w.ndim == 2 else w.transpose(0, 2, 3, 1).reshape(-1, w.shape[1])


def _from_rows(layer, rows):
    w = layer.weight
    if w.ndim == 2:
        return rows
    oc, ic, kh, kw = w.shape
    return rows.reshape(oc, kh, kw, ic).transpose(0, 3, 1, 2)


def _rescale_pairs(graph, cfg, calib_x):
    from .. import ptq
    if not (cfg.equalize or cfg.smooth is not None):
        return graph
    for a_name, r_name, b_name in _pairs(graph):
        nodes = {n.name: n for n in graph.nodes}
        la, lb = nodes[a_name].layer, nodes[b_name].layer
        W1 = la.weight.reshape(la.weight.shape[0], -1)
        b1, W2 = la.bias, _as_rows(lb)
        if cfg.equalize:
            W1, b1, W2 = ptq.equalize_pair(W1, b1, W2)
        if cfg.smooth is not None:
            act = graph.run(calib_x)[r_name]
            axes = (0,) if act.ndim == 2 else (0, 2, 3)
            absmax = np.abs(act).max(axis=axes)
            s = ptq.smooth_factors(absmax, W2, alpha=cfg.smooth)
            W1, b1, W2 = W1 / s[:, None], b1 / s, W2 * s[None, :]
        new_a = dataclasses.replace(la, weight=W1.reshape(la.weight.shape), bias=b1)
        new_b = dataclasses.replace(lb, weight=_from_rows(lb, W2))
        graph = Graph([type(n)(n.name, new_a if n.name == a_name else new_b if n.name == b_name else n.layer,
                               n.inputs) for n in graph.nodes],
                      graph.input_shape, graph.input_name, graph.output)
    return graph


def quantize(model, config, calib_x, *, memo=None):
    """Quantize a float graph for the bit-exact integer datapath of ``docs/nn.md``.

    Parameters
    ----------
    model : Graph
        Float graph; its BatchNorms are folded (:func:`fold_batchnorm`) first.
    config : QConfig
    calib_x : array_like
        Calibration inputs ``(N,) + model.input_shape``, run through the float graph.
    memo : dict, optional
        A dict shared by calls that may round the same weights the same way (e.g. one
        format and PTQ method, weight-only and with quantized activations): each layer's
        rounded weights are stored under a key of the weight format, granularity,
        calibration, method (and seed) and digests of the layer's float weights and
        calibration inputs, and reused when that key comes again. The result is the same
        as without it.

    Returns
    -------
    QuantizedGraph

    Raises
    ------
    ValueError
        A BatchNorm that cannot be folded; calibration inputs of the wrong
        shape or with NaN; an activation format that cannot hold the
        calibrated range with ``act_scale="none"`` (or an unsigned format for
        negative values); a bias beyond ``bias_bits``; weight scales that are
        not powers of two apart within a row; a sign-dependent wrapping output
        format (``wrap_sm``) after a requantizer wider than 64 bits. Messages
        name the node.

    Examples
    --------
    >>> import numpy as np
    >>> from numfmt import nn
    >>> g = nn.Graph.sequential([nn.Dense(np.array([[1.0, -0.5]]))], input_shape=(2,))
    >>> q = nn.quantize(g, nn.QConfig(weight="int8", act="ap_fixed<8,3,AP_RND_CONV,AP_SAT>",
    ...                               act_scale="none"), np.array([[1.0, 2.0], [-1.5, 0.25]]))
    >>> q.trace(np.array([[1.0, 2.0]]))["dense0"].tolist()      # 0.0 in ap_fixed<8,3>
    [[0]]
    """
    if memo is not None and not isinstance(memo, dict):
        raise TypeError(f"memo must be a dict or None, not {type(memo).__name__}")
    if not isinstance(model, Graph):
        raise TypeError(f"model must be a numfmt.nn.Graph, not {type(model).__name__}")
    if not isinstance(config, QConfig):
        raise TypeError(f"config must be a numfmt.nn.QConfig, not {type(config).__name__}")
    calib_x = check_input(calib_x, model.input_shape, "calib_x")
    graph = fold_batchnorm(model)
    for node in graph.nodes:
        if isinstance(node.layer, BatchNorm):
            raise ValueError(f"BatchNorm node {node.name!r} follows {node.inputs[0]!r}, which is not a Dense/"
                             "Conv2d feeding only it; it cannot be folded for quantized inference")
    graph = _rescale_pairs(graph, config, calib_x)
    vals = graph.run(calib_x)
    specs = {}
    nodes = []
    xin = _act_tensor(config, _calib_values(graph, vals[graph.input_name], graph.input_name), graph.input_name)
    specs[graph.input_name] = xin
    nodes.append(QInput(graph.input_name, (), xin))
    for node in graph.nodes:
        layer = node.layer
        ins = [specs[i] for i in node.inputs]
        if isinstance(layer, (Dense, Conv2d)):
            yq = _act_tensor(config, _calib_values(graph, vals[node.name], node.name), node.name)
            q = _quantize_linear(node, layer, vals[node.inputs[0]], ins[0], yq, config, memo)
        elif isinstance(layer, Add):
            yq = _act_tensor(config, _calib_values(graph, vals[node.name], node.name), node.name)
            q = _quantize_add(node, ins[0], ins[1], yq, config)
        elif isinstance(layer, AvgPool2d):
            q = _quantize_avgpool(node, layer, ins[0], config)
        elif isinstance(layer, ReLU6):
            clip = float(dp.converter(ins[0].format).quantize(6.0 / ins[0].scale))
            q = QPassThrough(node.name, node.inputs, ins[0], layer=layer, clip=clip)
        elif isinstance(layer, (ReLU, MaxPool2d, Flatten)):
            q = QPassThrough(node.name, node.inputs, ins[0], layer=layer)
        else:
            raise ValueError(f"node {node.name!r}: {type(layer).__name__} has no quantized form")
        specs[node.name] = q.out
        nodes.append(q)
    return QuantizedGraph(nodes, graph, config)

