"""A quantized network as an hls4ml model that computes exactly what numfmt computes.

:func:`convert` turns a :class:`numfmt.nn.QuantizedGraph` with integer or
fixed-point activations into an hls4ml ``ModelGraph`` (io_parallel, Latency
strategy, Vivado or Vitis back end). Every hls4ml precision comes from a numfmt
format through one typed mapping, :func:`precision`: the activation formats
themselves, and the formats :func:`plan` derives from the graph's integer
constants (weight grid, bias, accumulator, requantization scale). No precision
string is built or parsed. After ``model.compile()`` (g++, no vendor tools),
``model.predict(input_values(q, x))`` equals ``q.run(x)[q.output]`` bit for bit.

Each node of the graph becomes (see ``docs/hls4ml.md`` for why each cast is exact
or rounds once):

* ``QInput`` → ``InputLayer`` typed ``precision(F_in)``; the host divides by the
  input scale (:func:`input_values`, the float64 quotient numfmt rounds) and the
  bridge's ``ap_fixed(double)`` conversion rounds it once with ``F_in``'s modes.
* ``QLinear`` (Dense) → ``Dense`` with the exact element values as weights, the
  bias integers in accumulator units as bias, and an accumulator (and result)
  type that holds every partial sum exactly (or is the configured
  ``FixedAccumulator`` register), followed by ``ApplyAlpha`` ``<node>_rq``: the
  requantization ``R(K * m * 2**-c)`` as one exact product of the accumulator
  with the dyadic constant ``m * 2**-(c + Qp)``, cast once to the output type.
* ``QPassThrough`` ReLU → ``Activation('relu')`` in the same type (exact); ReLU6
  only when its clip value is 6.

Anything else (Conv2d, pooling, Add, floating-point or block activations, a
float accumulator, a rounding mode ``ap_fixed`` lacks) is refused with a
``ValueError`` naming the node.

>>> import numpy as np
>>> from numfmt import nn
>>> g = nn.Graph.sequential([nn.Dense(np.array([[0.5, -1.0], [1.0, 0.25]])), nn.ReLU()], input_shape=(2,))
>>> q = nn.quantize(g, nn.QConfig(weight="int8", act="int8"), np.array([[1.0, 0.5], [0.25, -1.0]]))
>>> for layer in plan(q):
...     print(layer.name, layer.kind, {k: str(v) for k, v in layer.types.items()})
input_ input {'result': 'int8'}
dense0 dense {'weight': 'int8', 'bias': 'ap_fixed<1,1>', 'accum': 'ap_fixed<16,16>', 'result': 'ap_fixed<16,16>'}
dense0_rq requant {'scale': 'ap_ufixed<32,-7>', 'bias': 'ap_ufixed<1,1>', 'result': 'int8'}
relu1 relu {'result': 'int8'}
"""

from __future__ import annotations

import dataclasses
import re
import types as _types

import numpy as np

from numfmt.arith import ExactAccumulator, FixedAccumulator
from numfmt.formats import FixedFormat, IntFormat
from numfmt.modes import Overflow, Rounding
from numfmt.nn import _datapath as dp
from numfmt.nn.graph import check_input
from numfmt.nn.layers import ReLU, ReLU6
from numfmt.nn.quantized import QInput, QLinear, QPassThrough, QuantizedGraph

__all__ = ["HlsLayer", "precision", "plan", "convert", "input_values"]

_ROUNDING = {   # numfmt rounding -> hls4ml RoundingMode name (the ap_fixed quantization modes)
    Rounding.FLOOR: "TRN", Rounding.TOWARD_ZERO: "TRN_ZERO", Rounding.NEAREST_UP: "RND",
    Rounding.NEAREST_ZERO: "RND_ZERO", Rounding.NEAREST_AWAY: "RND_INF",
    Rounding.NEAREST_DOWN: "RND_MIN_INF", Rounding.NEAREST_EVEN: "RND_CONV",
}
_OVERFLOW = {   # numfmt overflow -> hls4ml SaturationMode name (hls4ml has no AP_WRAP_SM)
    Overflow.WRAP: "WRAP", Overflow.SATURATE: "SAT", Overflow.SATURATE_ZERO: "SAT_ZERO",
    Overflow.SATURATE_SYMMETRIC: "SAT_SYM",
}
_BACKENDS = ("Vivado", "Vitis")
_MAX_WIDTH = 64          # FixedFormat's widest; every derived type here stays within it


def precision(fmt):
    """The hls4ml precision of an integer or fixed-point format: ``ap_fixed``, modes included.

    ``IntFormat(bits)`` is ``ap_fixed<bits, bits, Q, O>`` (``ap_ufixed`` when
    unsigned) rather than ``ap_int``: it keeps the rounding and overflow modes,
    and hls4ml never takes its 2-bit-integer "ternary" product shortcut, which
    would read the weight −2 as +1.

    Parameters
    ----------
    fmt : IntFormat or FixedFormat

    Returns
    -------
    hls4ml.model.types.FixedPrecisionType

    Raises
    ------
    TypeError
        ``fmt`` is not an IntFormat or FixedFormat.
    ValueError
        A rounding mode with no ``ap_fixed`` equivalent (``ceil``, ``rta``,
        ``stochastic``) or the overflow ``wrap_sm`` (hls4ml has no AP_WRAP_SM).

    Examples
    --------
    >>> import numfmt as nf
    >>> str(precision(nf.IntFormat(8)))
    'fixed<8,8,RND_CONV,SAT,0>'
    >>> str(precision(nf.parse("ap_ufixed<6,2,AP_RND,AP_WRAP,0>")))
    'ufixed<6,2,RND,WRAP,0>'
    """
    from hls4ml.model.types import FixedPrecisionType, RoundingMode, SaturationMode

    if isinstance(fmt, IntFormat):
        width, int_bits, sat_bits = fmt.bits, fmt.bits, 0
    elif isinstance(fmt, FixedFormat):
        width, int_bits, sat_bits = fmt.width, fmt.int_bits, fmt.sat_bits
    else:
        raise TypeError(f"fmt must be a numfmt IntFormat or FixedFormat, not {fmt!r}")
    if fmt.rounding not in _ROUNDING:
        raise ValueError(f"fmt {fmt} rounds with {fmt.rounding.value!r}, which has no ap_fixed quantization "
                         f"mode (hls4ml has {', '.join(_ROUNDING.values())})")
    if fmt.overflow not in _OVERFLOW:
        raise ValueError(f"fmt {fmt} overflows with {fmt.overflow.value!r}, which hls4ml has no "
                         f"saturation mode for (it has {', '.join(_OVERFLOW.values())})")
    return FixedPrecisionType(width=width, integer=int_bits, signed=fmt.signed,
                              rounding_mode=RoundingMode[_ROUNDING[fmt.rounding]],
                              saturation_mode=SaturationMode[_OVERFLOW[fmt.overflow]],
                              saturation_bits=sat_bits)


@dataclasses.dataclass(frozen=True, eq=False)
class HlsLayer:
    """One hls4ml layer of :func:`plan`.

    Attributes
    ----------
    name : str
        The hls4ml layer name (a C identifier).
    node : str
        The QuantizedGraph node it implements (a Dense node gives two layers).
    kind : str
        ``"input"``, ``"dense"``, ``"requant"`` (ApplyAlpha), ``"relu"`` or ``"relu6"``.
    inputs : tuple of str
        hls4ml names of the layers it reads.
    types : mapping
        hls4ml variable (``"result"``, ``"weight"``, ``"bias"``, ``"accum"``,
        ``"scale"``) → the numfmt format its values live in.
    data : mapping
        ``"weight"`` ``(n_in, n_out)``, ``"bias"``, ``"scale"``: float64 arrays,
        every entry an exact value of its type.
    """

    name: str
    node: str
    kind: str
    inputs: tuple
    types: _types.MappingProxyType
    data: _types.MappingProxyType


def _layer(name, node, kind, inputs, types, data=None):
    return HlsLayer(name, node, kind, tuple(inputs), _types.MappingProxyType(dict(types)),
                    _types.MappingProxyType(dict(data or {})))


def _hls_name(name):
    """A C identifier for a node name; hls4ml reserves ``input``."""
    out = re.sub(r"\W", "_", name)
    if not out or out[0].isdigit() or out == "input":
        out = out + "_" if out == "input" else "n_" + out
    return out


def _signed_width(lo, hi):
    """Bits of the narrowest two's-complement integer holding every integer of ``[lo, hi]``."""
    return max(int(hi).bit_length(), int(-lo - 1).bit_length() if lo < 0 else 0) + 1


def _grid(name, what, ints, q, signed=True):
    """FixedFormat holding the integers ``ints`` (Python ints) times ``2**q`` exactly."""
    lo, hi = min(ints), max(ints)
    width = _signed_width(lo, hi) if signed else max(int(hi).bit_length(), 1)
    if width > _MAX_WIDTH:
        raise ValueError(f"node {name!r}: the {what} needs {width} bits, more than {_MAX_WIDTH}")
    return FixedFormat(width, width + q, signed=signed)


def _act_format(name, fmt, what):
    if not isinstance(fmt, (IntFormat, FixedFormat)):
        raise ValueError(f"node {name!r}: its {what} format {fmt} is not an integer or fixed-point format; "
                         "the hls4ml adapter maps ap_fixed types only")
    try:
        precision(fmt)
    except ValueError as exc:
        raise ValueError(f"node {name!r}: {exc}") from None
    return fmt


def _to_ints(values, q):
    """Exact integers ``values * 2**-q`` as Python ints (values are exact multiples of ``2**q``)."""
    return [int(v) for v in np.ldexp(np.asarray(values, dtype=np.float64), -np.asarray(q)).ravel()]


def _dense_layers(n: QLinear, src: str):
    name = n.name
    if n.kind != "dense":
        raise ValueError(f"node {name!r}: Conv2d is not supported by the hls4ml adapter (Dense only)")
    if n.x.block is not None:
        raise ValueError(f"node {name!r}: block (MX) activations ({n.x.block}) have no hls4ml form")
    _act_format(name, n.x.format, "input")
    fy = _act_format(name, n.out.format, "output")
    acc = n.acc or ExactAccumulator()
    if not isinstance(acc, (ExactAccumulator, FixedAccumulator)):
        raise ValueError(f"node {name!r}: the accumulator {acc} rounds every addition; hls4ml's Dense "
                         "accumulates in ap_fixed (use an exact or fixed accumulator)")
    wv = n.weight_values.reshape(n.weight_codes.shape[0], -1)          # (out, in), exact values
    qp = [int(v) for v in n.acc_exp]
    qa = min(qp)
    # weights: the element format itself when it is Int/Fixed and unscaled, else the exact grid
    wf = n.weight_format
    if isinstance(wf, (IntFormat, FixedFormat)) and not n.weight_exp.any():
        wfmt = wf
    else:
        qw = dp.quantum_exp(wf) + int(n.weight_exp.min())
        wfmt = _grid(name, "weight grid", _to_ints(wv, qw), qw)
    # bias: bias[o] * 2**Qp[o], exact on the grid 2**Qa
    bints = [int(b) << (p - qa) for b, p in zip(n.bias.tolist(), qp)]
    bfmt = _grid(name, "bias", bints, qa)
    if isinstance(acc, ExactAccumulator):
        width = n.acc_bits + (max(qp) - qa) + 1        # |K| < 2**acc_bits in units of 2**Qp[o]
        if width > _MAX_WIDTH:
            raise ValueError(f"node {name!r}: the exact accumulator needs {width} bits, more than {_MAX_WIDTH}")
        afmt = FixedFormat(width, width + qa)
    else:
        if acc.overflow is Overflow.SATURATE:
            _check_products_fit(n, acc, wv)
        afmt = FixedFormat(acc.width, acc.width - acc.frac_bits, overflow=acc.overflow)
    # requantization: value = R(C * m * 2**-(c + Qp)), C = K * 2**Qp the Dense output
    exps = [-(int(c) + p) for c, p in zip(n.shift.tolist(), qp)]
    qs = min(exps)
    sints = [int(m) << (e - qs) for m, e in zip(n.multiplier.tolist(), exps)]
    sfmt = _grid(name, "requantization scale", sints, qs, signed=False)
    scale = np.ldexp(n.multiplier.astype(np.float64), np.array(exps))
    dense = _layer(_hls_name(name), name, "dense", [src],
                   {"weight": wfmt, "bias": bfmt, "accum": afmt, "result": afmt},
                   {"weight": np.ascontiguousarray(wv.T), "bias": np.ldexp(n.bias.astype(np.float64), n.acc_exp)})
    rq = _layer(_hls_name(name) + "_rq", name, "requant", [dense.name],
                {"scale": sfmt, "bias": FixedFormat(1, 1, signed=False), "result": fy},
                {"scale": scale, "bias": np.zeros(scale.shape)})
    return [dense, rq]


def _check_products_fit(n, acc, wv):
    """A saturating register: hls4ml casts each product to it before adding; refuse if one could clip."""
    xmax = dp.max_abs_int(n.x.format)                         # |x| <= xmax * 2**q_x
    wmax = max(_to_ints(np.abs(wv), -acc.frac_bits - n.x.quantum) or [0])   # |w| in units 2**(-F - q_x)
    if xmax * wmax > (1 << (acc.width - 1)) - 1:
        raise ValueError(f"node {n.name!r}: a single product can exceed the saturating register {acc}; hls4ml "
                         "saturates each product before adding it, numfmt only the sums")


def plan(qgraph):
    """The hls4ml layers of ``qgraph``, with their numfmt types and exact constants.

    Parameters
    ----------
    qgraph : numfmt.nn.QuantizedGraph
        Integer or fixed-point activations; Dense, ReLU (and ReLU6 clipping at 6).

    Returns
    -------
    tuple of HlsLayer
        In order, the last one producing the graph's output.

    Raises
    ------
    TypeError
        ``qgraph`` is not a QuantizedGraph.
    ValueError
        A node hls4ml cannot compute exactly; the message names it.

    Examples
    --------
    See the module docstring.
    """
    if not isinstance(qgraph, QuantizedGraph):
        raise TypeError(f"qgraph must be a numfmt.nn.QuantizedGraph, not {type(qgraph).__name__}")
    layers, last = [], {}
    for n in qgraph.nodes:
        srcs = [last[i] for i in n.inputs]
        if isinstance(n, QInput):
            if len(qgraph.input_shape) != 1:
                raise ValueError(f"node {n.name!r}: input shape {tuple(qgraph.input_shape)} is not a vector; "
                                 "the hls4ml adapter maps Dense networks")
            new = [_layer(_hls_name(n.name), n.name, "input", [],
                          {"result": _act_format(n.name, n.out.format, "input")})]
        elif isinstance(n, QLinear):
            new = _dense_layers(n, srcs[0])
        elif isinstance(n, QPassThrough) and type(n.layer) is ReLU:
            new = [_layer(_hls_name(n.name), n.name, "relu", srcs, {"result": n.out.format})]
        elif isinstance(n, QPassThrough) and type(n.layer) is ReLU6:
            if n.clip != 6.0:
                raise ValueError(f"node {n.name!r}: ReLU6 clips at {n.clip!r} in its format's units; hls4ml's "
                                 "relu6 clips at 6 (use act_scale='none' so that the clip is 6)")
            new = [_layer(_hls_name(n.name), n.name, "relu6", srcs, {"result": n.out.format})]
        else:
            what = type(getattr(n, "layer", n)).__name__
            raise ValueError(f"node {n.name!r}: {what} is not supported by the hls4ml adapter "
                             "(input, Dense, ReLU, ReLU6)")
        layers.extend(new)
        last[n.name] = new[-1].name
    names = [layer.name for layer in layers]
    if len(set(names)) != len(names):
        dup = next(nm for nm in names if names.count(nm) > 1)
        raise ValueError(f"two nodes map to the hls4ml layer name {dup!r}; rename one")
    out = last[qgraph.output]
    if out != layers[-1].name:
        raise ValueError(f"the output node {qgraph.output!r} is not the last node; the hls4ml adapter maps "
                         "a chain ending at the output")
    return tuple(layers)


def _layer_dict(layer, shape):
    d = {"name": layer.name, "inputs": list(layer.inputs)}
    if layer.kind == "input":
        d.update(class_name="InputLayer", input_shape=list(shape))
    elif layer.kind == "dense":
        n_in, n_out = layer.data["weight"].shape
        d.update(class_name="Dense", n_in=n_in, n_out=n_out, weight_data=layer.data["weight"],
                 bias_data=layer.data["bias"])
    elif layer.kind == "requant":
        d.update(class_name="ApplyAlpha", n_filt=-1, scale_data=layer.data["scale"],
                 bias_data=layer.data["bias"], scale_precision=precision(layer.types["scale"]),
                 bias_precision=precision(layer.types["bias"]))
    else:
        d.update(class_name="Activation", activation=layer.kind)
    return d


def convert(qgraph, output_dir, *, project_name="numfmt_net", backend="Vivado", part=None, clock_period=5):
    """An hls4ml ``ModelGraph`` computing ``qgraph`` bit for bit (not yet compiled).

    Parameters
    ----------
    qgraph : numfmt.nn.QuantizedGraph
        See :func:`plan` for what it may contain.
    output_dir : str or os.PathLike
        Where hls4ml writes the project (``compile()`` builds it there).
    project_name : str
        The top function's name, a C identifier.
    backend : "Vivado" or "Vitis"
    part : str or None
        FPGA part (hls4ml's default when None); only synthesis reads it.
    clock_period : float
        Clock period in ns, for synthesis.

    Returns
    -------
    hls4ml.model.ModelGraph
        io_parallel, Latency strategy, reuse factor 1. After ``compile()``,
        ``predict(input_values(qgraph, x))`` gives the output node's values.

    Raises
    ------
    TypeError, ValueError
        As :func:`plan`; a bad ``project_name`` or ``backend``; ``RuntimeError``
        if hls4ml's own passes changed a layer or a type.
    """
    import hls4ml

    layers = plan(qgraph)
    if not isinstance(project_name, str) or not re.fullmatch(r"[A-Za-z_]\w*", project_name):
        raise ValueError(f"project_name must be a C identifier, not {project_name!r}")
    if backend not in _BACKENDS:
        raise ValueError(f"backend must be one of {', '.join(map(repr, _BACKENDS))}, not {backend!r}")
    layer_cfg = {}
    for layer in layers:
        prec = {k: precision(v) for k, v in layer.types.items() if not (layer.kind == "requant" and k != "result")}
        layer_cfg[layer.name] = {"Precision": prec, "ReuseFactor": 1}
    config = hls4ml.utils.config.create_config(output_dir=str(output_dir), project_name=project_name,
                                               backend=backend, part=part, clock_period=clock_period,
                                               io_type="io_parallel", write_weights_txt=True)
    # The model-wide default is never used: every variable of every layer has its type above
    # (checked below). 1-bit so that a variable that fell through would show at once.
    config["HLSConfig"] = {"Model": {"Precision": "ap_fixed<1,1>", "ReuseFactor": 1, "Strategy": "Latency"},
                           "LayerName": layer_cfg}
    dicts = [_layer_dict(layer, qgraph.input_shape) for layer in layers]
    model = hls4ml.model.ModelGraph.from_layer_list(config, dicts, inputs=[layers[0].name],
                                                    outputs=[layers[-1].name])
    _check_model(model, layers)
    return model


_CLASS = {"input": "Input", "dense": "Dense", "requant": "ApplyAlpha", "relu": "Activation",
          "relu6": "Activation"}


def _check_model(model, layers):
    """RuntimeError unless hls4ml kept every planned layer, in order, with its planned types."""
    got = [(g.name, g.class_name) for g in model.get_layers()]
    want = [(layer.name, _CLASS[layer.kind]) for layer in layers]
    if got != want:
        raise RuntimeError(f"hls4ml's passes changed the layers: planned {want}, got {got}")
    for g, layer in zip(model.get_layers(), layers):
        for var, fmt in layer.types.items():
            have = g.types[var + "_t"].precision
            if have != precision(fmt):
                raise RuntimeError(f"hls4ml gave layer {g.name!r} the {var} type {have}, not the planned "
                                   f"{precision(fmt)} ({fmt})")


def input_values(qgraph, x):
    """The float64 array to pass to the compiled model's ``predict``: ``x / s_in``, C-contiguous.

    This is the host's division numfmt's input node rounds (``fl(x / s)``);
    the hls4ml input type then rounds it once, as ``F_in.encode`` does.

    >>> import numpy as np
    >>> from numfmt import nn
    >>> g = nn.Graph.sequential([nn.Dense(np.array([[1.0, -0.5]]))], input_shape=(2,))
    >>> q = nn.quantize(g, nn.QConfig(weight="int8", act="int8"), np.array([[1.0, 2.0], [-1.5, 0.25]]))
    >>> v = input_values(q, [[1.0, 2.0]])            # the input scale is 2 / 127
    >>> v.round(9).tolist(), q.trace([[1.0, 2.0]])["input"].tolist()   # int8 codes: RNE of v
    ([[63.5, 127.0]], [[63, 127]])
    """
    if not isinstance(qgraph, QuantizedGraph):
        raise TypeError(f"qgraph must be a numfmt.nn.QuantizedGraph, not {type(qgraph).__name__}")
    x = check_input(x, qgraph.input_shape)
    return np.ascontiguousarray(x / qgraph.node(qgraph.input_name).out.scale)
