"""A small directed acyclic graph of layers, run in float64.

>>> import numpy as np
>>> from numfmt.nn import Dense, Graph, ReLU
>>> g = Graph.sequential([Dense(np.array([[1.0, 1.0], [1.0, -1.0]])), ReLU()], input_shape=(2,))
>>> g.forward(np.array([[1.0, 2.0]])).tolist()
[[3.0, 0.0]]
>>> g.predict(np.array([[1.0, 2.0]])).tolist()
[0]
"""

from __future__ import annotations

import dataclasses

import numpy as np

from .layers import BatchNorm, Conv2d, Dense, Layer

__all__ = ["Node", "Graph", "fold_batchnorm", "accuracy", "check_input"]


@dataclasses.dataclass(frozen=True)
class Node:
    """One layer application: ``name = layer(*inputs)``.

    ``inputs`` names earlier nodes or the graph's input.

    >>> from numfmt.nn import ReLU
    >>> Node("r", ReLU(), ("input",)).inputs
    ('input',)
    """

    name: str
    layer: Layer
    inputs: tuple

    def __post_init__(self):
        if not isinstance(self.name, str) or not self.name:
            raise ValueError(f"name must be a non-empty string, not {self.name!r}")
        if not isinstance(self.layer, Layer):
            raise TypeError(f"layer of node {self.name!r} must be a numfmt.nn layer, not {self.layer!r}")
        inputs = (self.inputs,) if isinstance(self.inputs, str) else tuple(self.inputs)
        if not all(isinstance(i, str) for i in inputs):
            raise ValueError(f"inputs of node {self.name!r} must be node names, not {self.inputs!r}")
        if len(inputs) != self.layer.arity:
            raise ValueError(f"node {self.name!r}: {type(self.layer).__name__} takes {self.layer.arity} "
                             f"input(s), not {len(inputs)} ({inputs!r})")
        object.__setattr__(self, "inputs", inputs)


def check_input(x, input_shape, what="x"):
    """``x`` as a float64 array of shape ``(N,) + input_shape`` with no NaN/inf.

    Raises ``ValueError`` naming the expected shape, or the index of the first
    NaN/inf.

    >>> check_input([[1.0, 2.0]], (2,)).shape
    (1, 2)
    """
    try:
        arr = np.asarray(x, dtype=np.float64)
    except (TypeError, ValueError):
        raise TypeError(f"{what} must be a real array, not {type(x).__name__}") from None
    if arr.ndim != len(input_shape) + 1 or arr.shape[1:] != tuple(input_shape):
        expected = "(N, " + ", ".join(str(d) for d in input_shape) + ")"
        raise ValueError(f"{what} must have shape {expected} (a batch of inputs of shape "
                         f"{tuple(input_shape)}), not {arr.shape}")
    bad = ~np.isfinite(arr)
    if bad.any():
        index = tuple(int(i) for i in np.argwhere(bad)[0])
        kind = "NaN" if np.isnan(arr[index]) else "inf"
        raise ValueError(f"{what} contains {kind} at index {index} (sample {index[0]}); "
                         f"{bad.sum()} non-finite value(s) in all")
    return arr


class Graph:
    """Layers connected by name, in topological order.

    Parameters
    ----------
    nodes : list of Node
        In topological order: every input names an earlier node or ``input_name``.
    input_shape : tuple of int
        Shape of one input (no batch axis), e.g. ``(64,)`` or ``(1, 8, 8)``.
    input_name : str
        Name of the graph's input (default ``"input"``).
    output : str, optional
        The node whose value the graph returns; default the last node.

    Raises
    ------
    ValueError
        Duplicate or unknown names, and shape mismatches (naming the node).
    """

    def __init__(self, nodes, input_shape, input_name="input", output=None):
        nodes = list(nodes)
        if not nodes:
            raise ValueError("nodes must hold at least one Node, not an empty list")
        try:
            shape = tuple(int(d) for d in input_shape)
        except TypeError:
            raise ValueError(f"input_shape must be a tuple of ints, not {input_shape!r}") from None
        if not shape or min(shape) < 1:
            raise ValueError(f"input_shape must be a non-empty tuple of positive ints, not {input_shape!r}")
        shapes = {input_name: shape}
        for node in nodes:
            if not isinstance(node, Node):
                raise TypeError(f"nodes must be Node objects, not {node!r}")
            if node.name in shapes:
                raise ValueError(f"node name {node.name!r} is used twice")
            missing = [i for i in node.inputs if i not in shapes]
            if missing:
                raise ValueError(f"node {node.name!r} reads {missing[0]!r}, which is not the input or "
                                 "an earlier node")
            try:
                shapes[node.name] = tuple(node.layer.out_shape(*(shapes[i] for i in node.inputs)))
            except ValueError as exc:
                raise ValueError(f"node {node.name!r}: {exc}") from None
        output = nodes[-1].name if output is None else output
        if output not in shapes or output == input_name:
            raise ValueError(f"output must name a node, not {output!r}")
        self.nodes = nodes
        self.input_shape = shape
        self.input_name = input_name
        self.output = output
        self.shapes = shapes

    @classmethod
    def sequential(cls, layers, input_shape, input_name="input"):
        """A chain: layer ``i`` is node ``"<type><i>"`` fed by the previous one.

        >>> from numfmt.nn import ReLU, Flatten
        >>> [n.name for n in Graph.sequential([Flatten(), ReLU()], (2, 2)).nodes]
        ['flatten0', 'relu1']
        """
        nodes, prev = [], input_name
        for i, layer in enumerate(layers):
            name = f"{type(layer).__name__.lower()}{i}"
            nodes.append(Node(name, layer, (prev,)))
            prev = name
        return cls(nodes, input_shape, input_name)

    @property
    def output_shape(self):
        """Shape of the output (no batch axis)."""
        return self.shapes[self.output]

    def node(self, name):
        """The node called ``name`` (``KeyError`` if none)."""
        for n in self.nodes:
            if n.name == name:
                return n
        raise KeyError(f"no node named {name!r}")

    def consumers(self, name):
        """Nodes that read ``name``."""
        return [n for n in self.nodes if name in n.inputs]

    def run(self, x):
        """Every node's float64 output: ``{name: array}`` (the input under ``input_name``)."""
        vals = {self.input_name: check_input(x, self.input_shape)}
        for node in self.nodes:
            vals[node.name] = node.layer.forward(*(vals[i] for i in node.inputs))
        return vals

    def forward(self, x):
        """The output for a batch ``x`` of shape ``(N,) + input_shape`` (float64)."""
        return self.run(x)[self.output]

    def predict(self, x):
        """``argmax`` of the output over its last axis (int64 labels; ties: the lowest index)."""
        out = self.forward(x)
        return np.argmax(out.reshape(out.shape[0], -1), axis=1)

    def __repr__(self):
        body = ", ".join(f"{n.name}={type(n.layer).__name__}({', '.join(n.inputs)})" for n in self.nodes)
        return f"Graph(input{self.input_shape}: {body})"


def fold_batchnorm(graph):
    """Fold every BatchNorm that directly follows a Dense/Conv2d into it.

    The layer's weight rows (output channels) are multiplied by
    ``f = gamma / sqrt(var + eps)`` and its bias becomes
    ``(bias - mean) * f + beta``. A BatchNorm is folded only when its input
    layer feeds nothing else (and is not the output); the folded layer takes
    the BatchNorm's place under the layer's name. Other BatchNorms stay.

    >>> from numfmt.nn import BatchNorm, Dense
    >>> g = Graph.sequential([Dense(np.array([[2.0]])), BatchNorm([1.0], [0.5], [1.0], [1.0], eps=0.0)], (1,))
    >>> f = fold_batchnorm(g)
    >>> [type(n.layer).__name__ for n in f.nodes], f.forward(np.array([[3.0]])).tolist()
    (['Dense'], [[5.5]])
    """
    by_name = {n.name: n for n in graph.nodes}
    replace, drop = {}, {}
    for node in graph.nodes:
        if not isinstance(node.layer, BatchNorm):
            continue
        src = by_name.get(node.inputs[0])
        if src is None or not isinstance(src.layer, (Dense, Conv2d)) or src.name == graph.output \
                or len(graph.consumers(src.name)) != 1 or src.name in replace:
            continue
        bn, layer = node.layer, src.layer
        f = bn.factor
        view = (-1,) + (1,) * (layer.weight.ndim - 1)
        w = layer.weight * f.reshape(view)
        b = (layer.bias - bn.mean) * f + bn.beta
        replace[src.name] = dataclasses.replace(layer, weight=w, bias=b)
        drop[node.name] = src.name
    nodes = []
    for node in graph.nodes:
        if node.name in drop:
            continue
        layer = replace.get(node.name, node.layer)
        inputs = tuple(drop.get(i, i) for i in node.inputs)
        nodes.append(Node(node.name, layer, inputs))
    return Graph(nodes, graph.input_shape, graph.input_name, drop.get(graph.output, graph.output))


def accuracy(model, x, y):
    """Fraction of samples whose ``model.predict(x)`` equals the label ``y``.

    Works for :class:`Graph` and :class:`~numfmt.nn.QuantizedGraph`.

    >>> from numfmt.nn import Dense
    >>> g = Graph.sequential([Dense(np.array([[1.0], [-1.0]]))], (1,))
    >>> accuracy(g, np.array([[1.0], [-1.0], [2.0]]), np.array([0, 1, 1]))
    0.6666666666666666
    """
    y = np.asarray(y)
    pred = model.predict(x)
    if y.shape != pred.shape:
        raise ValueError(f"y must have shape {pred.shape} (one label per sample), not {y.shape}")
    return float(np.mean(pred == y)) if y.size else 0.0

