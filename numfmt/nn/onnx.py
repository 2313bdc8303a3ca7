"""Import float ONNX models and QONNX quantization (Brevitas export) into :mod:`numfmt.nn`.

:func:`from_onnx` turns an ONNX model into a float :class:`~numfmt.nn.Graph`;
:func:`load_onnx` also returns the formats that QONNX ``Quant`` /
``BipolarQuant`` / ``Trunc`` nodes put on weights and activations, as
:class:`TensorFormat` values. See ``docs/onnx.md`` for the operator table and
the exact quantization semantics.

The ``onnx`` package is needed only when a model is read
(``pip install numfmt[nn]``).

>>> import numpy as np
>>> from onnx import TensorProto, helper, numpy_helper
>>> w = numpy_helper.from_array(np.array([[1.0, -2.0], [0.5, 4.0]]), "w")
>>> graph = helper.make_graph(
...     [helper.make_node("Gemm", ["x", "w"], ["h"], name="fc", transB=1),
...      helper.make_node("Relu", ["h"], ["y"], name="relu")],
...     "tiny", [helper.make_tensor_value_info("x", TensorProto.DOUBLE, ["N", 2])],
...     [helper.make_tensor_value_info("y", TensorProto.DOUBLE, ["N", 2])], [w])
>>> g = from_onnx(helper.make_model(graph))
>>> g.forward(np.array([[1.0, 1.0]])).tolist()
[[0.0, 4.5]]
"""

from __future__ import annotations

import dataclasses
import math
import os
from fractions import Fraction

import numpy as np

from ..formats.integer import IntFormat
from ..modes import Rounding
from .graph import Graph, Node
from .layers import Add, AvgPool2d, BatchNorm, Conv2d, Dense, Flatten, MaxPool2d, ReLU, ReLU6

__all__ = ["ImportedModel", "QONNX_ROUNDING", "TensorFormat", "from_onnx", "load_onnx"]

#: QONNX ``rounding_mode`` names (case-insensitive) and the numfmt rounding each means.
#: ``ROUND`` is NumPy's ``np.round`` (half to even); ``UP``/``DOWN`` round away from /
#: toward zero; ``HALF_UP``/``HALF_DOWN`` break ties away from / toward zero (the
#: QONNX operator table). ``ROUND_TO_ZERO`` is Brevitas' name for ``DOWN``.
QONNX_ROUNDING = {
    "ROUND": Rounding.NEAREST_EVEN,
    "HALF_EVEN": Rounding.NEAREST_EVEN,
    "CEIL": Rounding.CEIL,
    "FLOOR": Rounding.FLOOR,
    "UP": Rounding.AWAY,
    "DOWN": Rounding.TOWARD_ZERO,
    "ROUND_TO_ZERO": Rounding.TOWARD_ZERO,
    "HALF_UP": Rounding.NEAREST_AWAY,
    "HALF_DOWN": Rounding.NEAREST_ZERO,
}

_INT32 = IntFormat(32)
_UINT32 = IntFormat(32, signed=False)


def _onnx():
    """The ``onnx`` module, or an ImportError saying how to install it."""
    try:
        import onnx
        import onnx.numpy_helper  # noqa: F401  (makes onnx.numpy_helper available)
    except ImportError as exc:  # pragma: no cover - onnx is installed in the test environment
        raise ImportError("importing ONNX models needs the 'onnx' package: "
                          "pip install numfmt[nn]") from exc
    return onnx


def _readonly(a, dtype):
    a = np.array(a, dtype=dtype, copy=True)
    a.setflags(write=False)
    return a


# -- formats ------------------------------------------------------------------------
def _positive_scales(name: str, value) -> np.ndarray:
    """``value`` as a float64 array of positive finite scales, else an error naming ``name``."""
    arr = np.asarray(value)
    if arr.dtype.kind not in "iuf":
        raise TypeError(f"{name} must be a real array, not dtype {arr.dtype}")
    arr = arr.astype(np.float64)
    if not (np.isfinite(arr) & (arr > 0)).all():
        raise ValueError(f"{name} must be positive and finite, not {arr.tolist()!r}")
    return arr


@dataclasses.dataclass(frozen=True, eq=False)
class TensorFormat:
    """The integer quantization of one tensor: a QONNX ``Quant``, ``BipolarQuant`` or ``Trunc``.

    ``Quant`` stands for ``q = clamp(R(x / scale + zero_point), qmin, qmax)`` and
    the float value ``y = (q - zero_point) * scale``; ``q`` is stored in
    :attr:`format`. ``Trunc`` (``in_scale`` given) first rounds ``x / in_scale``
    to an integer ``n`` (ties to even) and then cuts its ``T`` low bits:
    ``q = clamp(R(n * 2**-T), qmin, qmax)``, ``y = q * scale``, with
    ``T = round(log2(scale / in_scale))`` (:attr:`trunc_shift`).

    Parameters
    ----------
    format : IntFormat
        The storage format of ``q`` (``IntFormat(bitwidth, signed=signed)``);
        its own rounding and overflow are not used.
    scale : array_like of float
        Positive, finite scales, broadcastable to the tensor (0-d per tensor;
        e.g. shape ``(out, 1)`` per output channel of a ``(out, in)`` weight).
    zero_point : array_like of int
        Integer-valued zero points in ``[qmin, qmax]``, broadcastable to the tensor.
    narrow : bool
        Narrow range: ``qmin = -2**(bits-1) + 1`` when signed, ``qmax = 2**bits - 2``
        when unsigned (QONNX's definition).
    rounding : Rounding or str
        The rounding ``R`` of ``x / scale + zero_point``, a deterministic
        :class:`~numfmt.Rounding` (see :data:`QONNX_ROUNDING`).
    bipolar : bool
        ``BipolarQuant``: ``y = +scale`` where ``x >= 0``, else ``-scale``. Then
        ``format`` must be ``IntFormat(1, signed=False)`` (code 1 is +1, code 0
        is -1), ``zero_point`` 0 and ``narrow`` False.
    in_scale : array_like of float, optional
        A QONNX ``Trunc`` (v2): its ``scale`` input, the scale of the integers it
        truncates; ``scale`` is then its ``output_scale``. Positive and finite,
        broadcastable with ``scale``; ``|T| <= 64``; ``zero_point`` must be 0
        (Brevitas exports no other) and ``bipolar`` False.

    Examples
    --------
    >>> import numfmt as nf
    >>> tf = TensorFormat(nf.IntFormat(4), 0.5, 0, narrow=True)
    >>> tf.qmin, tf.qmax
    (-7, 7)
    >>> tf.to_int([0.74, 0.75, -9.0]).tolist(), tf.quantize([0.74, 0.75, -9.0]).tolist()
    ([1, 2, -7], [0.5, 1.0, -3.5])
    >>> tr = TensorFormat(nf.IntFormat(8, signed=False), 1.0, 0, rounding="floor", in_scale=0.25)  # sum of 4
    >>> int(tr.trunc_shift), tr.to_int([2.75, 3.0, 1000.0]).tolist()
    (2, [2, 3, 255])
    """

    format: IntFormat
    scale: np.ndarray
    zero_point: np.ndarray
    narrow: bool = dataclasses.field(default=False, kw_only=True)
    rounding: Rounding = dataclasses.field(default=Rounding.NEAREST_EVEN, kw_only=True)
    bipolar: bool = dataclasses.field(default=False, kw_only=True)
    in_scale: np.ndarray | None = dataclasses.field(default=None, kw_only=True)

    def __post_init__(self):
        if not isinstance(self.format, IntFormat):
            raise TypeError(f"format must be a numfmt.IntFormat, not {self.format!r}")
        for name in ("narrow", "bipolar"):
            if not isinstance(getattr(self, name), (bool, np.bool_)):
                raise ValueError(f"{name} must be True or False, not {getattr(self, name)!r}")
            object.__setattr__(self, name, bool(getattr(self, name)))
        rounding = Rounding.parse(self.rounding, field="rounding")
        if rounding is Rounding.STOCHASTIC:
            raise ValueError("rounding must be a deterministic mode, not 'stochastic'")
        scale = _positive_scales("scale", self.scale)
        zp = np.asarray(self.zero_point)
        if zp.dtype.kind not in "iuf":
            raise TypeError(f"zero_point must be a real array, not dtype {zp.dtype}")
        if zp.dtype.kind == "f" and not (np.isfinite(zp) & (zp == np.round(zp))).all():
            raise ValueError(f"zero_point must be integer-valued, not {zp.tolist()!r}")
        zp_int = zp.astype(np.int64)
        object.__setattr__(self, "rounding", rounding)
        object.__setattr__(self, "scale", _readonly(scale, np.float64))
        object.__setattr__(self, "zero_point", _readonly(zp_int, np.int64))
        object.__setattr__(self, "_shift", None)
        if self.in_scale is not None:
            self._init_trunc(zp_int)
        if self.bipolar:
            if self.format != IntFormat(1, signed=False) or self.narrow or (zp_int != 0).any():
                raise ValueError("a bipolar TensorFormat needs format=IntFormat(1, signed=False), "
                                 f"narrow=False and zero_point 0, not format={self.format}, "
                                 f"narrow={self.narrow}, zero_point={zp.tolist()!r}")
            return
        qmin, qmax = self.qmin, self.qmax
        if ((zp_int < qmin) | (zp_int > qmax)).any():
            raise ValueError(f"zero_point must be in {qmin}..{qmax} ({self.format}"
                             f"{', narrow' if self.narrow else ''}), not {zp.tolist()!r}")
        self._rounder()   # checks the reachable integer range

    def _init_trunc(self, zp_int):
        """Check ``in_scale`` and compute ``T = round(log2(scale / in_scale))`` exactly, per element."""
        s_in = _positive_scales("in_scale", self.in_scale)
        if self.bipolar or (zp_int != 0).any():
            raise ValueError(f"a Trunc TensorFormat (in_scale given) needs zero_point 0 and bipolar=False, not "
                             f"zero_point={zp_int.tolist()!r}, bipolar={self.bipolar}")
        try:
            shape = np.broadcast_shapes(self.scale.shape, s_in.shape)
        except ValueError:
            raise ValueError(f"in_scale of shape {s_in.shape} does not broadcast with scale of shape "
                             f"{self.scale.shape}") from None
        T = np.empty(shape, dtype=np.int64)
        for idx, so, si in zip(np.ndindex(shape), np.broadcast_to(self.scale, shape).flat,
                               np.broadcast_to(s_in, shape).flat):
            r = Fraction(float(so)) / Fraction(float(si))
            n = r.numerator.bit_length() - r.denominator.bit_length()     # 2**n <= r < 2**(n+1) after the fix
            if r < Fraction(2) ** n:
                n -= 1
            T[idx] = n + 1 if r * r > Fraction(2) ** (2 * n + 1) else n  # the nearer: r vs 2**(n + 1/2)
        if (np.abs(T) > 64).any():
            bad = T.reshape(-1)[np.argmax(np.abs(T).reshape(-1))]
            raise ValueError(f"log2(scale / in_scale) rounds to {int(bad)}: a Trunc shifts by at most 64 bits")
        object.__setattr__(self, "in_scale", _readonly(s_in, np.float64))
        object.__setattr__(self, "_shift", _readonly(T, np.int64))

    @property
    def trunc_shift(self):
        """``T = round(log2(scale / in_scale))`` of a ``Trunc`` (int64 array), else None.

        The QONNX reference's ``trunc_scale = 2**T``; Brevitas sets ``scale = in_scale * 2**T``
        with ``T = input_bit_width - output_bit_width``.
        """
        return self._shift

    # -- integer range ---------------------------------------------------------------
    @property
    def qmin(self) -> int:
        """Smallest integer ``q`` (``-1`` when bipolar)."""
        if self.bipolar:
            return -1
        return self.format.min + (1 if self.narrow and self.format.signed else 0)

    @property
    def qmax(self) -> int:
        """Largest integer ``q`` (``+1`` when bipolar)."""
        if self.bipolar:
            return 1
        return self.format.max - (1 if self.narrow and not self.format.signed else 0)

    def _rounder(self) -> IntFormat:
        """A 32-bit integer format whose range holds every ``q - zero_point``."""
        zp = self.zero_point if self.zero_point.size else np.zeros(1, dtype=np.int64)
        lo, hi = self.qmin - int(zp.max()), self.qmax - int(zp.min())
        for fmt in (_INT32, _UINT32):
            if fmt.min <= lo and hi <= fmt.max:
                return fmt
        raise ValueError(f"q - zero_point spans {lo}..{hi}, beyond 32 bits; "
                         f"a 32-bit format needs zero_point 0 (zero_point={self.zero_point.tolist()!r})")

    # -- conversion ------------------------------------------------------------------
    def to_int(self, x):
        """The integers ``q`` of ``x`` (int64; ``±1`` when bipolar).

        ``t = x / scale`` is one correctly rounded float64 division; then
        ``q = clamp(R(t + zero_point), qmin, qmax)`` with the sum and the
        rounding ``R`` exact (no float addition); for a ``Trunc``,
        ``t = RNE(x / in_scale) * 2**-T`` (one float64 division, then exact). ``R`` is assembled from
        numfmt's integer-domain rounding of ``t`` (floor, ceil, nearest with
        ties up / down), so the ties of ``t + zero_point`` are broken by its own
        parity and sign, as the QONNX definition says.

        >>> import numfmt as nf
        >>> TensorFormat(nf.IntFormat(8, signed=False), 0.25, 128).to_int([-0.125, 100.0]).tolist()
        [128, 255]
        >>> TensorFormat(nf.IntFormat(4), 1.0, -1).to_int([0.5, 1.5]).tolist()   # ties: -0.5 -> 0, 0.5 -> 0
        [0, 0]
        """
        x = np.asarray(x)
        if x.dtype.kind not in "iuf":
            raise TypeError(f"x must be a real array, not dtype {x.dtype}")
        x = x.astype(np.float64)
        if np.isnan(x).any():
            index = tuple(int(i) for i in np.argwhere(np.isnan(x))[0])
            raise ValueError(f"x must not be NaN (at index {index})")
        shape = np.broadcast_shapes(x.shape, self.scale.shape, self.zero_point.shape)
        if self.bipolar:
            return np.broadcast_to(np.where(x >= 0, 1, -1), shape).astype(np.int64)
        with np.errstate(over="ignore", under="ignore"):
            if self._shift is None:
                t = x / self.scale
            else:           # Trunc: n = RNE(x / in_scale), exact in float64; n * 2**-T is exact (|T| <= 64)
                t = np.ldexp(np.round(x / self.in_scale), -self._shift)
                shape = np.broadcast_shapes(shape, t.shape)
        zp = np.broadcast_to(self.zero_point, shape)
        lo = (self.qmin - zp).astype(np.float64)   # exact: |.| < 2**33
        hi = (self.qmax - zp).astype(np.float64)
        # R is monotone and maps integers to themselves, so clamping t to the integer
        # bounds first gives clamp(R(t + zp)); afterwards every t fits the 32-bit rounder.
        t = np.clip(t, lo, hi)
        return _round_shifted(t, zp, self.rounding, self._rounder()) + zp

    def quantize(self, x):
        """``(q - zero_point) * scale`` for ``q = to_int(x)``, as float64.

        The product is one float64 rounding (exact when ``|q - zero_point|``
        times the scale's significand fits in 53 bits, e.g. float32 scales and
        ``bits <= 29``).

        >>> import numfmt as nf
        >>> TensorFormat(nf.IntFormat(1, signed=False), 0.5, 0, bipolar=True).quantize([-2.0, 0.0, 3.0]).tolist()
        [-0.5, 0.5, 0.5]
        """
        q = self.to_int(x)
        return (q - self.zero_point).astype(np.float64) * self.scale

    def transpose(self, axes=None) -> "TensorFormat":
        """This format for the tensor ``x.transpose(axes)`` (scale and zero point permuted).

        >>> import numfmt as nf
        >>> TensorFormat(nf.IntFormat(4), [[0.5, 0.25]], 0).transpose().scale.shape
        (2, 1)
        """
        ndim = max(self.scale.ndim, self.zero_point.ndim, len(axes) if axes is not None else 0)

        def perm(a):
            if a.ndim == 0:
                return a
            return a.reshape((1,) * (ndim - a.ndim) + a.shape).transpose(axes)
        return dataclasses.replace(self, scale=perm(self.scale), zero_point=perm(self.zero_point),
                                   in_scale=None if self.in_scale is None else perm(self.in_scale))

    def _refit(self, shape_from, shape_to) -> "TensorFormat":
        """This format for ``x.reshape(shape_to)`` where ``x`` has ``shape_from``."""
        def fit(a):
            if a.size == 1:
                return a.reshape(())
            return np.broadcast_to(a, shape_from).reshape(shape_to)
        return dataclasses.replace(self, scale=fit(self.scale), zero_point=fit(self.zero_point),
                                   in_scale=None if self.in_scale is None else fit(self.in_scale))

    def __eq__(self, other):
        if not isinstance(other, TensorFormat):
            return NotImplemented
        return (self.format == other.format and self.narrow == other.narrow
                and self.rounding is other.rounding and self.bipolar == other.bipolar
                and self.scale.shape == other.scale.shape and np.array_equal(self.scale, other.scale)
                and self.zero_point.shape == other.zero_point.shape
                and np.array_equal(self.zero_point, other.zero_point)
                and (self.in_scale is None) == (other.in_scale is None)
                and (self.in_scale is None or (self.in_scale.shape == other.in_scale.shape
                                               and np.array_equal(self.in_scale, other.in_scale))))

    __hash__ = None

    def __repr__(self):
        def arr(a):
            return repr(a.item()) if a.ndim == 0 else f"array(shape={a.shape})"
        extra = "".join(f", {k}=True" for k in ("narrow", "bipolar") if getattr(self, k))
        trunc = "" if self.in_scale is None else f", in_scale={arr(self.in_scale)}"
        return (f"TensorFormat({self.format}, scale={arr(self.scale)}, "
                f"zero_point={arr(self.zero_point)}{extra}, rounding={self.rounding.value!r}{trunc})")


def _round_shifted(t, zp, rounding, rounder):
    """``R(t + zp) - zp`` exactly, for float64 ``t`` and int64 ``zp`` (``rounder`` holds every result).

    Floor and ceil commute with integer shifts; the other modes look at the sign
    of ``t + zp`` (``t >= -zp``, an exact comparison) or, for ties to even, at
    the parity of ``n + zp``.
    """
    def r(mode):
        return rounder.decode_int(rounder.encode(t, mode))

    if rounding in (Rounding.FLOOR, Rounding.CEIL, Rounding.NEAREST_UP, Rounding.NEAREST_DOWN):
        return r(rounding)
    nonneg = t >= -zp.astype(np.float64)
    if rounding is Rounding.TOWARD_ZERO:
        return np.where(nonneg, r(Rounding.FLOOR), r(Rounding.CEIL))
    if rounding is Rounding.AWAY:
        return np.where(nonneg, r(Rounding.CEIL), r(Rounding.FLOOR))
    down, up = r(Rounding.NEAREST_DOWN), r(Rounding.NEAREST_UP)   # differ only at exact ties
    if rounding is Rounding.NEAREST_AWAY:
        return np.where(nonneg, up, down)
    if rounding is Rounding.NEAREST_ZERO:
        return np.where(nonneg, down, up)
    assert rounding is Rounding.NEAREST_EVEN
    return np.where((down + zp) % 2 == 0, down, up)


@dataclasses.dataclass(frozen=True)
class ImportedModel:
    """What :func:`load_onnx` returns.

    Attributes
    ----------
    graph : numfmt.nn.Graph
        The float graph. Quantized weights hold their quantized float values;
        activation quantizers are *not* applied by ``graph.forward``.
    formats : dict[str, TensorFormat]
        ``"<node>.weight"`` / ``"<node>.bias"`` for quantized parameters of a
        Dense or Conv2d node (scales in the layer's layout: ``(out, in)``,
        ``(oc, ic, kh, kw)``, ``(out,)``); ``"<node>"`` for the quantized output
        of a node, and the graph's ``input_name`` for a quantized input.
    """

    graph: object
    formats: dict

    def run(self, x):
        """Every tensor of the QONNX model, fake-quantized: ``{name: float64 array}``.

        The float graph's layers in order, with each recorded activation format
        applied to its tensor: ``formats[input_name].quantize(x)`` (when the input
        is quantized), then each node's output through ``formats[node].quantize``
        when that node's output is quantized. Weights and biases already hold
        their quantized values. This is the evaluation of the QONNX graph in
        float64 with the exact quantizer semantics of ``docs/onnx.md`` (one
        correctly rounded division per quantizer); a float32 runtime (Brevitas,
        the QONNX executor) differs by its own roundings.

        Raises ``ValueError`` for a wrong input shape or a NaN/inf input.
        """
        from .graph import check_input
        g = self.graph

        def q(name, v):
            return self.formats[name].quantize(v) if name in self.formats else v
        vals = {g.input_name: q(g.input_name, check_input(x, g.input_shape))}
        for node in g.nodes:
            vals[node.name] = q(node.name, node.layer.forward(*(vals[i] for i in node.inputs)))
        return vals

    def forward(self, x):
        """The fake-quantized model's output (float64): :meth:`run`'s value at the graph output.

        >>> import numpy as np, numfmt as nf
        >>> from numfmt import nn
        >>> g = nn.Graph.sequential([nn.Dense(np.array([[0.5, -1.0]]))], input_shape=(2,))
        >>> m = ImportedModel(g, {"input": TensorFormat(nf.IntFormat(4), 0.25, 0),
        ...                       "dense0": TensorFormat(nf.IntFormat(4), 0.5, 0)})
        >>> m.forward(np.array([[0.3, 0.1]])).tolist(), g.forward(np.array([[0.3, 0.1]])).tolist()
        ([[0.0]], [[0.04999999999999999]])
        """
        return self.run(x)[self.graph.output]

    def predict(self, x):
        """``argmax`` of :meth:`forward` per sample (ties: the lowest index), int64 labels."""
        y = self.forward(x)
        return np.argmax(y.reshape(y.shape[0], -1), axis=1)


# -- reading a model ------------------------------------------------------------------
def _load_model(model):
    onnx = _onnx()
    if isinstance(model, onnx.ModelProto):
        return model
    if isinstance(model, (bytes, bytearray)):
        return onnx.load_model_from_string(bytes(model))
    if isinstance(model, (str, os.PathLike)):
        return onnx.load(os.fspath(model))
    raise TypeError(f"model must be an onnx.ModelProto, bytes or a path, not {type(model).__name__}")


def from_onnx(model):
    """Import a float ONNX model (or a QONNX model) as a float :class:`~numfmt.nn.Graph`.

    Parameters
    ----------
    model : onnx.ModelProto, bytes or path
        The model, its serialised bytes or a ``.onnx`` file.

    Returns
    -------
    numfmt.nn.Graph
        ``load_onnx(model).graph``: QONNX weight quantizers are folded into the
        weights, activation quantizers dropped (use :func:`load_onnx` to read them).

    Raises
    ------
    ValueError
        For an unsupported operator or attribute, naming the node and op type.

    Examples
    --------
    >>> import numpy as np
    >>> from onnx import TensorProto, helper
    >>> graph = helper.make_graph(
    ...     [helper.make_node("Flatten", ["x"], ["y"], name="flat")], "f",
    ...     [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 2, 2])],
    ...     [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 4])])
    >>> g = from_onnx(helper.make_model(graph))
    >>> g.input_shape, g.forward(np.zeros((3, 2, 2))).shape
    ((2, 2), (3, 4))
    """
    return load_onnx(model).graph


def load_onnx(model) -> ImportedModel:
    """Import an ONNX / QONNX model: the float graph and the formats of its quantizers.

    Parameters
    ----------
    model : onnx.ModelProto, bytes or path
        The model, its serialised bytes or a ``.onnx`` file.

    Returns
    -------
    ImportedModel
        ``graph`` (a float :class:`~numfmt.nn.Graph`) and ``formats`` (a dict
        of :class:`TensorFormat`, keyed as described there).

    Raises
    ------
    ValueError
        For an unsupported operator or attribute, naming the node and op type.

    Examples
    --------
    >>> import numpy as np
    >>> from onnx import TensorProto, helper, numpy_helper
    >>> c = lambda name, v: numpy_helper.from_array(np.array(v), name)
    >>> graph = helper.make_graph(
    ...     [helper.make_node("Quant", ["x", "s", "z", "b"], ["xq"], name="qin",
    ...                       domain="qonnx.custom_op.general", signed=0),
    ...      helper.make_node("Relu", ["xq"], ["y"], name="relu")], "q",
    ...     [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 4])],
    ...     [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 4])],
    ...     [c("s", 0.125), c("z", 0.0), c("b", 4.0)])
    >>> m = load_onnx(helper.make_model(graph))
    >>> m.formats
    {'x': TensorFormat(uint4, scale=0.125, zero_point=0, rounding='rne')}
    """
    proto = _load_model(model)
    return _Importer(proto).run()


# -- the importer -----------------------------------------------------------------------
_STANDARD = ("", "ai.onnx")


def _where(node) -> str:
    name = node.name or (node.output[0] if node.output else "")
    return f"node {name!r} ({node.op_type})"


class _Importer:
    """Walks the ONNX graph once, in its (topological) node order."""

    def __init__(self, proto):
        self.proto = proto
        self.onnx = _onnx()
        self.consts = {}        # tensor -> float64 array
        self.const_fmt = {}     # tensor -> TensorFormat of a quantized constant
        self.producer = {}      # activation tensor -> nn node name (or the input name)
        self.shapes = {}        # activation tensor -> per-sample shape
        self.nodes = []         # [name, layer, inputs] in order
        self.index = {}         # nn node name -> position in self.nodes
        self.formats = {}
        self.uses = {}          # tensor -> number of consumers (+1 per graph output)
        self.names = set()
        self.biasless = set()   # Dense/Conv2d nodes imported without a bias (a later Add may give one)
        self.out_tensor = {}    # nn node name -> the ONNX tensor its node wrote

    # -- helpers -----------------------------------------------------------------------
    def _array(self, tensor):
        arr = self.onnx.numpy_helper.to_array(tensor)
        if arr.dtype.kind not in "biuf":
            raise ValueError(f"tensor {tensor.name!r} has dtype {arr.dtype}; only numeric tensors are supported")
        return arr.astype(np.float64) if arr.dtype.kind == "f" else arr

    def _attrs(self, node):
        helper = self.onnx.helper
        return {a.name: helper.get_attribute_value(a) for a in node.attribute}

    def _const(self, node, i, what):
        name = node.input[i] if i < len(node.input) else ""
        if name not in self.consts:
            raise ValueError(f"{_where(node)}: input {what} ({name!r}) must be a constant "
                             "(an initializer or a Constant node)")
        return self.consts[name]

    def _act(self, node, i, what="X"):
        name = node.input[i]
        if name in self.consts:
            raise ValueError(f"{_where(node)}: input {what} ({name!r}) must be computed from the "
                             "graph input, not a constant")
        if name not in self.producer:
            raise ValueError(f"{_where(node)}: input {name!r} is not the graph input or the output of "
                             "an earlier node")
        return name

    def _bad_attr(self, node, attr, value, allowed):
        raise ValueError(f"{_where(node)}: attribute {attr}={value!r} is not supported ({allowed})")

    def _check_attrs(self, node, attrs, known):
        for key in attrs:
            if key not in known:
                raise ValueError(f"{_where(node)}: attribute {key!r} is not supported")

    def _single_output(self, node):
        extra = [o for o in node.output[1:] if o]
        if extra:
            raise ValueError(f"{_where(node)}: only the first output is supported, not {list(node.output)!r}")
        return node.output[0]

    def _node_name(self, node):
        for candidate in (node.name, node.output[0]):
            if candidate and candidate not in self.names:
                return candidate
        k = 1
        while f"{node.output[0]}_{k}" in self.names:
            k += 1
        return f"{node.output[0]}_{k}"

    def _add(self, node, make_layer, inputs):
        """Append the nn node ``make_layer()`` fed by the activation tensors ``inputs``."""
        try:
            layer = make_layer()
            shape = layer.out_shape(*(self.shapes[i] for i in inputs))
        except ValueError as exc:
            raise ValueError(f"{_where(node)}: {exc}") from None
        name = self._node_name(node)
        self.names.add(name)
        self.index[name] = len(self.nodes)
        self.nodes.append([name, layer, tuple(self.producer[i] for i in inputs)])
        out = self._single_output(node)
        self.producer[out] = name
        self.shapes[out] = tuple(shape)
        self.out_tensor[name] = out
        return name

    def _alias(self, out, src):
        self.producer[out] = self.producer[src]
        self.shapes[out] = self.shapes[src]

    # -- the walk -------------------------------------------------------------------------
    def run(self):
        g = self.proto.graph
        for t in g.initializer:
            self.consts[t.name] = self._array(t)
        for node in g.node:
            for name in node.input:
                self.uses[name] = self.uses.get(name, 0) + 1
        for out in g.output:
            self.uses[out.name] = self.uses.get(out.name, 0) + 1

        inputs = [v for v in g.input if v.name not in self.consts]
        if len(inputs) != 1:
            raise ValueError(f"the model must have exactly one graph input (besides initializers), "
                             f"not {[v.name for v in inputs]!r}")
        self.input_name = inputs[0].name
        self.names.add(self.input_name)
        self.input_shape = self._input_shape(inputs[0])
        self.producer[self.input_name] = self.input_name
        self.shapes[self.input_name] = self.input_shape

        for node in g.node:
            self._visit(node)

        if len(g.output) != 1:
            raise ValueError(f"the model must have exactly one graph output, not {[v.name for v in g.output]!r}")
        out = g.output[0].name
        if out not in self.producer:
            raise ValueError(f"the graph output {out!r} is a constant or is not computed by any node")
        output = self.producer[out]
        if output == self.input_name:
            raise ValueError(f"the graph output {out!r} is the graph input: the model has no layer")
        nodes = [Node(name, layer, inputs) for name, layer, inputs in self.nodes]
        graph = Graph(nodes, self.input_shape, input_name=self.input_name, output=output)
        return ImportedModel(graph, dict(self.formats))

    def _input_shape(self, value):
        tt = value.type.tensor_type
        if not value.type.HasField("tensor_type") or not tt.HasField("shape"):
            raise ValueError(f"graph input {value.name!r} must be a tensor of known rank")
        dims = list(tt.shape.dim)
        if len(dims) < 2:
            raise ValueError(f"graph input {value.name!r} must have a batch dimension and at least one "
                             f"more, not {len(dims)} dimension(s)")
        shape = []
        for k, d in enumerate(dims[1:], start=1):
            if not d.HasField("dim_value") or d.dim_value < 1:
                raise ValueError(f"graph input {value.name!r}: dimension {k} must be a fixed size, "
                                 f"not {d.dim_param or d.dim_value!r}")
            shape.append(int(d.dim_value))
        d0 = dims[0]
        #: the fixed batch size of the graph input (Brevitas exports batch 1), or None when symbolic
        self.input_batch = int(d0.dim_value) if d0.HasField("dim_value") and d0.dim_value >= 1 else None
        return tuple(shape)

    def _visit(self, node):
        op = node.op_type
        if op in _QUANT_OPS:
            return self._quant(node)
        if op == "Trunc" and node.domain not in _STANDARD:
            return self._trunc(node)
        handler = _HANDLERS.get(op) if node.domain in _STANDARD else None
        if handler is None:
            supported = ", ".join(sorted([*_HANDLERS, *_QUANT_OPS, "Trunc"]))
            domain = f" in domain {node.domain!r}" if node.domain not in _STANDARD else ""
            raise ValueError(f"{_where(node)}: op type {op!r}{domain} is not supported "
                             f"(supported: {supported})")
        handler(self, node)

    # -- constants -----------------------------------------------------------------------
    def _constant(self, node):
        attrs = self._attrs(node)
        out = self._single_output(node)
        if "value" in attrs:
            value = self._array(attrs["value"])
        elif "value_float" in attrs or "value_int" in attrs:
            value = np.array(attrs.get("value_float", attrs.get("value_int")))
        elif "value_floats" in attrs or "value_ints" in attrs:
            value = np.array(attrs.get("value_floats", attrs.get("value_ints")))
        else:
            raise ValueError(f"{_where(node)}: attribute {sorted(attrs)[0] if attrs else None!r} "
                             "is not supported (value, value_float(s), value_int(s))")
        self.consts[out] = value.astype(np.float64) if value.dtype.kind == "f" else value

    def _identity(self, node):
        src, out = node.input[0], self._single_output(node)
        if src in self.consts:
            self.consts[out] = self.consts[src]
            if src in self.const_fmt:
                self.const_fmt[out] = self.const_fmt[src]
        else:
            self._alias(out, self._act(node, 0, "input"))

    def _transpose(self, node):
        src, out = node.input[0], self._single_output(node)
        if src not in self.consts:
            raise ValueError(f"{_where(node)}: Transpose is supported only on constants (weights), "
                             f"not on {src!r}")
        perm = self._attrs(node).get("perm")
        value = self.consts[src]
        self.consts[out] = np.ascontiguousarray(value.transpose(perm))
        if src in self.const_fmt:
            axes = tuple(perm) if perm is not None else tuple(reversed(range(value.ndim)))
            self.const_fmt[out] = self.const_fmt[src].transpose(axes)

    # -- QONNX ---------------------------------------------------------------------------
    def _quant(self, node):
        attrs = self._attrs(node)
        bipolar = node.op_type == "BipolarQuant"
        n_in = 2 if bipolar else 4
        if len(node.input) != n_in:
            raise ValueError(f"{_where(node)}: expected {n_in} inputs, not {len(node.input)}")
        scale = self._const(node, 1, "scale")
        if bipolar:
            self._check_attrs(node, attrs, ())
            tf = TensorFormat(IntFormat(1, signed=False), scale, 0, bipolar=True)
        else:
            self._check_attrs(node, attrs, ("signed", "narrow", "rounding_mode"))
            zp = self._const(node, 2, "zeropt")
            bits = self._const(node, 3, "bitwidth")
            if bits.size != 1 or float(bits.reshape(-1)[0]) != int(bits.reshape(-1)[0]) \
                    or not 1 <= int(bits.reshape(-1)[0]) <= 32:
                raise ValueError(f"{_where(node)}: bitwidth must be one integer in 1..32, not {bits.tolist()!r}")
            signed = attrs.get("signed", 1)
            narrow = attrs.get("narrow", 0)
            for key, value in (("signed", signed), ("narrow", narrow)):
                if value not in (0, 1):
                    self._bad_attr(node, key, value, "0 or 1")
            if int(bits.reshape(-1)[0]) == 1 and signed:
                # the QONNX reference (int_quant) makes a 1-bit signed Quant bipolar: q = +1 where
                # x / scale + zeropt >= 0, else -1, whatever narrow says; y = (q - zeropt) * scale
                if (zp != 0).any():
                    raise ValueError(f"{_where(node)}: a 1-bit signed Quant is bipolar (±1, the QONNX "
                                     f"reference); zeropt must be 0, not {zp.tolist()!r}")
                try:
                    tf = TensorFormat(IntFormat(1, signed=False), scale, 0, bipolar=True)
                except (TypeError, ValueError) as exc:
                    raise ValueError(f"{_where(node)}: {exc}") from None
                return self._place_format(node, tf)
            mode = attrs.get("rounding_mode", "ROUND")
            mode = mode.decode() if isinstance(mode, bytes) else mode
            rounding = QONNX_ROUNDING.get(mode.upper())
            if rounding is None:
                self._bad_attr(node, "rounding_mode", mode, "one of " + ", ".join(QONNX_ROUNDING))
            try:
                tf = TensorFormat(IntFormat(int(bits.reshape(-1)[0]), signed=bool(signed)), scale, zp,
                                  narrow=bool(narrow), rounding=rounding)
            except (TypeError, ValueError) as exc:
                raise ValueError(f"{_where(node)}: {exc}") from None
        self._place_format(node, tf)

    def _trunc(self, node):
        """QONNX ``Trunc`` v2 (Brevitas' ``TruncAvgPool2d`` / ``TruncAdaptiveAvgPool2d`` output): a format
        on a computed tensor with ``in_scale`` = its ``scale`` input (``TensorFormat``)."""
        if len(node.input) == 5:
            raise ValueError(f"{_where(node)}: a 5-input Trunc (QONNX Trunc v1: the result stays on the input's "
                             "scale, no clamp) is not supported; only Trunc v2 (x, scale, zeropt, input_bit_width, "
                             "output_scale, output_bit_width), which Brevitas 0.13 exports")
        if len(node.input) != 6:
            raise ValueError(f"{_where(node)}: expected 6 inputs, not {len(node.input)}")
        attrs = self._attrs(node)
        self._check_attrs(node, attrs, ("signed", "narrow", "rounding_mode"))
        self._act(node, 0)
        scale = self._const(node, 1, "scale")
        zp = self._const(node, 2, "zeropt")
        self._const(node, 3, "input_bit_width")      # not used by the v2 definition (T comes from the scales)
        out_scale = self._const(node, 4, "output_scale")
        bits = self._const(node, 5, "output_bit_width")
        if (zp != 0).any():
            raise ValueError(f"{_where(node)}: zeropt must be 0 (Brevitas exports no other), not {zp.tolist()!r}")
        if bits.size != 1 or float(bits.reshape(-1)[0]) != int(bits.reshape(-1)[0]) \
                or not 1 <= int(bits.reshape(-1)[0]) <= 32:
            raise ValueError(f"{_where(node)}: output_bit_width must be one integer in 1..32, not {bits.tolist()!r}")
        signed, narrow = attrs.get("signed", 1), attrs.get("narrow", 0)
        for key, value in (("signed", signed), ("narrow", narrow)):
            if value not in (0, 1):
                self._bad_attr(node, key, value, "0 or 1")
        mode = attrs.get("rounding_mode", "FLOOR")
        mode = mode.decode() if isinstance(mode, bytes) else mode
        rounding = QONNX_ROUNDING.get(mode.upper())
        if rounding is None:
            self._bad_attr(node, "rounding_mode", mode, "one of " + ", ".join(QONNX_ROUNDING))
        try:
            tf = TensorFormat(IntFormat(int(bits.reshape(-1)[0]), signed=bool(signed)), out_scale, 0,
                              narrow=bool(narrow), rounding=rounding, in_scale=scale)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"{_where(node)}: {exc}") from None
        self._place_format(node, tf)

    def _place_format(self, node, tf):
        """A quantized constant, or the recorded format of the quantized activation tensor."""
        src, out = node.input[0], self._single_output(node)
        if src in self.consts:
            self.consts[out] = tf.quantize(self.consts[src])
            self.const_fmt[out] = tf
            return
        src = self._act(node, 0)
        if self.uses.get(src, 0) != 1:
            raise ValueError(f"{_where(node)}: the quantized tensor {src!r} is also used unquantized "
                             "elsewhere; the float graph cannot say which use is quantized")
        key = self.producer[src]
        if key in self.formats and self.formats[key] != tf:
            raise ValueError(f"{_where(node)}: the output of {key!r} is already quantized as "
                             f"{self.formats[key]!r}, not {tf!r}")
        self.formats[key] = tf
        self._alias(out, src)

    # -- layers --------------------------------------------------------------------------
    def _param_format(self, name, what, tf):
        if tf is not None:
            self.formats[f"{name}.{what}"] = tf

    def _dense(self, node, x, weight, bias, w_fmt, b_fmt):
        name = self._add(node, lambda: Dense(weight, bias), [x])
        if bias is None:
            self.biasless.add(name)
        self._param_format(name, "weight", w_fmt)
        self._param_format(name, "bias", b_fmt)

    def _gemm(self, node):
        attrs = self._attrs(node)
        self._check_attrs(node, attrs, ("alpha", "beta", "transA", "transB"))
        if attrs.get("transA", 0) != 0:
            self._bad_attr(node, "transA", attrs["transA"], "only 0")
        trans_b = attrs.get("transB", 0)
        if trans_b not in (0, 1):
            self._bad_attr(node, "transB", trans_b, "0 or 1")
        alpha, beta = float(attrs.get("alpha", 1.0)), float(attrs.get("beta", 1.0))
        x = self._act(node, 0, "A")
        b = self._const(node, 1, "B")
        if b.ndim != 2:
            raise ValueError(f"{_where(node)}: input B must be 2-D, not shape {b.shape}")
        w = b if trans_b else b.T
        w_fmt = self.const_fmt.get(node.input[1])
        if w_fmt is not None and not trans_b:
            w_fmt = w_fmt.transpose((1, 0))
        if alpha != 1.0:
            if w_fmt is not None:
                self._bad_attr(node, "alpha", alpha, "only 1 with a quantized B")
            w = alpha * w
        n_out = w.shape[0]
        bias = b_fmt = None
        if len(node.input) > 2 and node.input[2]:
            c = self._const(node, 2, "C")
            if c.shape not in ((), (1,), (1, 1), (n_out,), (1, n_out)):
                raise ValueError(f"{_where(node)}: input C must have shape ({n_out},) or (1, {n_out}) "
                                 f"(or be a scalar), not {c.shape}")
            b_fmt = self.const_fmt.get(node.input[2])
            if beta != 1.0:
                if b_fmt is not None:
                    self._bad_attr(node, "beta", beta, "only 1 with a quantized C")
                c = beta * c
            if b_fmt is not None:
                b_fmt = b_fmt._refit(c.shape, (n_out,))
            bias = np.broadcast_to(c.reshape(-1) if c.size == n_out else c.reshape(()), (n_out,))
        self._dense(node, x, w, bias, w_fmt, b_fmt)

    def _matmul(self, node):
        x = self._act(node, 0, "A")
        b = self._const(node, 1, "B")
        if b.ndim != 2:
            raise ValueError(f"{_where(node)}: input B must be 2-D, not shape {b.shape}")
        w_fmt = self.const_fmt.get(node.input[1])
        self._dense(node, x, b.T, None, None if w_fmt is None else w_fmt.transpose((1, 0)), None)

    def _conv(self, node):
        attrs = self._attrs(node)
        self._check_attrs(node, attrs, ("auto_pad", "dilations", "group", "kernel_shape", "pads", "strides"))
        x = self._act(node, 0)
        w = self._const(node, 1, "W")
        if w.ndim != 4:
            raise ValueError(f"{_where(node)}: only 2-D convolutions are supported (4-D W), not W of "
                             f"shape {w.shape}")
        self._no_auto_pad(node, attrs)
        if attrs.get("group", 1) != 1:
            self._bad_attr(node, "group", attrs["group"], "only 1")
        if list(attrs.get("dilations", [1, 1])) != [1, 1]:
            self._bad_attr(node, "dilations", list(attrs["dilations"]), "only [1, 1]")
        if "kernel_shape" in attrs and list(attrs["kernel_shape"]) != list(w.shape[2:]):
            self._bad_attr(node, "kernel_shape", list(attrs["kernel_shape"]),
                           f"W has kernel {list(w.shape[2:])}")
        pads = list(attrs.get("pads", [0, 0, 0, 0]))
        if len(pads) != 4 or pads[:2] != pads[2:]:
            self._bad_attr(node, "pads", pads, "only symmetric [top, left, bottom, right] with "
                           "top = bottom and left = right")
        strides = self._strides(node, attrs)
        bias = None
        if len(node.input) > 2 and node.input[2]:
            bias = self._const(node, 2, "B")
        name = self._add(node, lambda: Conv2d(w, bias, stride=strides, padding=tuple(pads[:2])), [x])
        if bias is None:
            self.biasless.add(name)
        self._param_format(name, "weight", self.const_fmt.get(node.input[1]))
        if bias is not None:
            self._param_format(name, "bias", self.const_fmt.get(node.input[2]))

    def _no_auto_pad(self, node, attrs):
        auto_pad = attrs.get("auto_pad", "NOTSET")
        auto_pad = auto_pad.decode() if isinstance(auto_pad, bytes) else auto_pad
        if auto_pad != "NOTSET":
            self._bad_attr(node, "auto_pad", auto_pad, "only NOTSET; give pads explicitly")

    def _strides(self, node, attrs):
        strides = list(attrs.get("strides", [1, 1]))
        if len(strides) != 2 or min(strides) < 1:
            self._bad_attr(node, "strides", strides, "two positive integers")
        return tuple(strides)

    def _relu(self, node):
        self._add(node, ReLU, [self._act(node, 0)])

    def _clip(self, node):
        attrs = self._attrs(node)
        self._check_attrs(node, attrs, ("min", "max"))
        bounds = {"min": attrs.get("min"), "max": attrs.get("max")}
        for i, key in ((1, "min"), (2, "max")):
            if len(node.input) > i and node.input[i]:
                v = self._const(node, i, key)
                if v.size != 1:
                    raise ValueError(f"{_where(node)}: input {key} must be a scalar, not shape {v.shape}")
                bounds[key] = float(v.reshape(-1)[0])
        x = self._act(node, 0, "input")
        lo, hi = bounds["min"], bounds["max"]
        if lo == 0 and (hi is None or hi == math.inf):
            layer = ReLU
        elif lo == 0 and hi == 6:
            layer = ReLU6
        else:
            raise ValueError(f"{_where(node)}: Clip(min={lo}, max={hi}) is not supported "
                             "(only min=0 with max=6 (ReLU6) or no max (ReLU))")
        self._add(node, layer, [x])

    def _pool(self, node):
        attrs = self._attrs(node)
        is_max = node.op_type == "MaxPool"
        known = ("auto_pad", "ceil_mode", "dilations", "kernel_shape", "pads", "strides")
        self._check_attrs(node, attrs, known + (("storage_order",) if is_max else ("count_include_pad",)))
        self._no_auto_pad(node, attrs)
        kernel = list(attrs.get("kernel_shape", []))
        if len(kernel) != 2:
            self._bad_attr(node, "kernel_shape", kernel, "two integers")
        strides = self._strides(node, attrs)
        if any(attrs.get("pads", [0, 0, 0, 0])):
            self._bad_attr(node, "pads", list(attrs["pads"]), "only no padding")
        if list(attrs.get("dilations", [1, 1])) != [1, 1]:
            self._bad_attr(node, "dilations", list(attrs["dilations"]), "only [1, 1]")
        if attrs.get("ceil_mode", 0) != 0:
            self._bad_attr(node, "ceil_mode", attrs["ceil_mode"], "only 0")
        if attrs.get("storage_order", 0) != 0:
            self._bad_attr(node, "storage_order", attrs["storage_order"], "only 0")
        cls = MaxPool2d if is_max else AvgPool2d
        self._add(node, lambda: cls(tuple(kernel), strides), [self._act(node, 0)])

    def _reduce_mean(self, node):
        """``ReduceMean`` over the two spatial axes with ``keepdims = 1``: global average pooling (how
        Brevitas exports ``AdaptiveAvgPool2d((1, 1))``), an ``AvgPool2d`` over the whole ``H x W``."""
        attrs = self._attrs(node)
        self._check_attrs(node, attrs, ("axes", "keepdims", "noop_with_empty_axes"))
        x = self._act(node, 0, "data")
        if "axes" in attrs:
            axes = [int(a) for a in attrs["axes"]]
        elif len(node.input) > 1 and node.input[1]:
            axes = [int(a) for a in self._const(node, 1, "axes").reshape(-1)]
        else:
            axes = []
        shape = self.shapes[x]
        if len(shape) != 3 or sorted(a % 4 if -4 <= a < 4 else a for a in axes) != [2, 3]:
            raise ValueError(f"{_where(node)}: only a mean over the two spatial axes of an (N, C, H, W) tensor "
                             f"(global average pooling, axes [2, 3] or [-2, -1]) is supported, not axes {axes} of "
                             f"a tensor of shape (N, {', '.join(map(str, shape))})")
        if attrs.get("keepdims", 1) != 1:
            self._bad_attr(node, "keepdims", attrs["keepdims"], "only 1: the output is (N, C, 1, 1)")
        self._add(node, lambda: AvgPool2d(tuple(shape[1:])), [x])

    def _flatten(self, node):
        attrs = self._attrs(node)
        self._check_attrs(node, attrs, ("axis",))
        if attrs.get("axis", 1) != 1:
            self._bad_attr(node, "axis", attrs["axis"], "only 1")
        self._add(node, Flatten, [self._act(node, 0, "input")])

    def _reshape(self, node):
        attrs = self._attrs(node)
        self._check_attrs(node, attrs, ("allowzero",))
        x = self._act(node, 0, "data")
        target = [int(v) for v in self._const(node, 1, "shape").reshape(-1)]
        n = math.prod(self.shapes[x])
        # the batch: copied (0), inferred (-1), or the graph input's fixed batch size (a batch-1 export)
        batch = (0, -1) if self.input_batch is None else (0, -1, self.input_batch)
        ok = (len(target) == 2 and target[0] in batch and target[1] in (-1, n)
              and target != [-1, -1] and not (target[0] == 0 and attrs.get("allowzero", 0)))
        if not ok:
            fixed = "" if self.input_batch is None else f", [{self.input_batch}, -1], [{self.input_batch}, {n}]"
            raise ValueError(f"{_where(node)}: shape {target} is not supported (only a flatten to "
                             f"(N, -1): [0, -1], [0, {n}], [-1, {n}]{fixed})")
        self._add(node, Flatten, [x])

    def _add_op(self, node):
        a_const, b_const = (node.input[i] in self.consts for i in (0, 1))
        if a_const and b_const:
            raise ValueError(f"{_where(node)}: both inputs are constants")
        if a_const or b_const:
            return self._fold_bias(node, 1 if a_const else 0, 0 if a_const else 1)
        a, b = self._act(node, 0, "A"), self._act(node, 1, "B")
        self._add(node, Add, [a, b])

    def _fold_bias(self, node, i_act, i_const):
        x = self._act(node, i_act, "AB"[i_act])
        c = self.consts[node.input[i_const]]
        owner = self.producer[x]
        if owner not in self.biasless or self.out_tensor[owner] != x or self.uses.get(x, 0) != 1:
            raise ValueError(f"{_where(node)}: adding a constant is supported only as the bias of a "
                             f"bias-free MatMul, Gemm or Conv whose output feeds only this Add directly "
                             f"({x!r} comes from {owner!r})")
        pos = self.index[owner]
        layer = self.nodes[pos][1]
        n_out = layer.weight.shape[0]
        ok_shapes = ((n_out,), (1, n_out)) if isinstance(layer, Dense) else ((n_out, 1, 1), (1, n_out, 1, 1))
        if c.shape not in ok_shapes:
            raise ValueError(f"{_where(node)}: the constant {node.input[i_const]!r} has shape {c.shape}; "
                             f"as a bias it must have shape {' or '.join(map(str, ok_shapes))}")
        self.nodes[pos][1] = dataclasses.replace(layer, bias=c.reshape(n_out))
        self.biasless.discard(owner)
        tf = self.const_fmt.get(node.input[i_const])
        self._param_format(owner, "bias", None if tf is None else tf._refit(c.shape, (n_out,)))
        self._alias(self._single_output(node), x)

    def _batchnorm(self, node):
        attrs = self._attrs(node)
        self._check_attrs(node, attrs, ("epsilon", "momentum", "spatial", "training_mode"))
        if attrs.get("training_mode", 0) != 0:
            self._bad_attr(node, "training_mode", attrs["training_mode"], "only 0 (inference)")
        if attrs.get("spatial", 1) != 1:
            self._bad_attr(node, "spatial", attrs["spatial"], "only 1")
        x = self._act(node, 0)
        params = [self._const(node, i, k) for i, k in
                  ((1, "scale"), (2, "B"), (3, "input_mean"), (4, "input_var"))]
        eps = float(attrs.get("epsilon", 1e-5))
        self._add(node, lambda: BatchNorm(*params, eps=eps), [x])


_QUANT_OPS = ("Quant", "IntQuant", "BipolarQuant")
_HANDLERS = {
    "Add": _Importer._add_op,
    "AveragePool": _Importer._pool,
    "BatchNormalization": _Importer._batchnorm,
    "Clip": _Importer._clip,
    "Constant": _Importer._constant,
    "Conv": _Importer._conv,
    "Flatten": _Importer._flatten,
    "Gemm": _Importer._gemm,
    "Identity": _Importer._identity,
    "MatMul": _Importer._matmul,
    "MaxPool": _Importer._pool,
    "Relu": _Importer._relu,
    "ReduceMean": _Importer._reduce_mean,
    "Reshape": _Importer._reshape,
    "Transpose": _Importer._transpose,
}
