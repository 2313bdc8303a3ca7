"""Quantized neural networks: a small float graph, its bit-exact quantized twin, the digits workload.

A :class:`Graph` of layers (Dense, Conv2d, ReLU, ReLU6, MaxPool2d, AvgPool2d,
Flatten, BatchNorm, Add) runs in float64. :func:`quantize` turns it into a
:class:`QuantizedGraph` whose weights, activations, biases, accumulators and
requantization are numfmt formats and whose arithmetic is exact integer
arithmetic in the order the hardware uses (``docs/nn.md``).

>>> import numpy as np
>>> from numfmt import nn
>>> g = nn.Graph.sequential([nn.Dense(np.array([[0.5, -1.0]])), nn.ReLU()], input_shape=(2,))
>>> g.forward(np.array([[4.0, 1.0]])).tolist()
[[1.0]]
"""

from .digits import cache_dir, digits_cnn, digits_data, digits_mlp
from .graph import Graph, Node, accuracy, fold_batchnorm
from .layers import Add, AvgPool2d, BatchNorm, Conv2d, Dense, Flatten, MaxPool2d, ReLU, ReLU6
from .quantized import QAdd, QAvgPool, QConfig, QInput, QLinear, QPassThrough, QTensor, QuantizedGraph, quantize

__all__ = ["Add", "AvgPool2d", "BatchNorm", "Conv2d", "Dense", "Flatten", "Graph", "MaxPool2d", "Node",
           "QAdd", "QAvgPool", "QConfig", "QInput", "QLinear", "QPassThrough", "QTensor", "QuantizedGraph",
           "ReLU", "ReLU6", "accuracy", "cache_dir", "digits_cnn", "digits_data", "digits_mlp",
           "fold_batchnorm", "quantize", "from_onnx", "load_onnx", "ImportedModel", "TensorFormat", "from_qonnx",
           "Deviation"]

_ONNX_NAMES = ("from_onnx", "load_onnx", "ImportedModel", "TensorFormat")
_QONNX_NAMES = ("from_qonnx", "Deviation")


def __getattr__(name):
    # the ONNX importer (numfmt/nn/onnx.py) is loaded on first use
    if name in _ONNX_NAMES:
        from . import onnx
        return getattr(onnx, name)
    if name in _QONNX_NAMES:      # numfmt/nn/qonnx.py: a QONNX model as a QuantizedGraph
        from . import qonnx
        return getattr(qonnx, name)
    raise AttributeError(f"module 'numfmt.nn' has no attribute {name!r}")
