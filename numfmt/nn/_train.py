"""Deterministic float64 training of small graphs in NumPy (backprop + Adam).

Supports the layers the digits models use: Dense, Conv2d, ReLU, MaxPool2d and
AvgPool2d (stride = kernel), Flatten and Add. Same seed, same data, same
machine: same parameters.

The batches are small (32 samples), so BLAS runs on one thread during training
(``threadpoolctl``, installed with scikit-learn): measured on a 2-core machine, the
digits CNN trains in 7.5 s on one thread and 8.7 s on OpenBLAS's default two, and two
trainings side by side (e.g. two test workers) took 38 s each with the default and 8-9 s
with one thread.
"""

from __future__ import annotations

import contextlib
import dataclasses

import numpy as np

from .graph import Graph, Node
from .layers import Add, AvgPool2d, Conv2d, Dense, Flatten, MaxPool2d, ReLU, im2col

__all__ = ["train"]


def _col2im(gcols, x_shape, kernel, stride, padding):
    n, c, h, w = x_shape
    (kh, kw), (sh, sw), (ph, pw) = kernel, stride, padding
    oh, ow = (h + 2 * ph - kh) // sh + 1, (w + 2 * pw - kw) // sw + 1
    g = gcols.reshape(n, oh, ow, c, kh, kw)
    gx = np.zeros((n, c, h + 2 * ph, w + 2 * pw))
    for i in range(kh):
        for j in range(kw):
            gx[:, :, i:i + sh * oh:sh, j:j + sw * ow:sw] += g[:, :, :, :, i, j].transpose(0, 3, 1, 2)
    return gx[:, :, ph:ph + h, pw:pw + w]


def _forward(graph, params, x):
    vals, cache = {graph.input_name: x}, {}
    for node in graph.nodes:
        layer, xs = node.layer, [vals[i] for i in node.inputs]
        if isinstance(layer, Dense):
            w, b = params[node.name]
            y = xs[0] @ w.T + b
        elif isinstance(layer, Conv2d):
            w, b = params[node.name]
            cols = im2col(xs[0], layer.kernel, layer.stride, layer.padding)
            cache[node.name] = cols
            oc, oh, ow = layer.out_shape(xs[0].shape[1:])
            y = (cols @ w.reshape(oc, -1).T + b).reshape(x.shape[0], oh, ow, oc).transpose(0, 3, 1, 2)
        else:
            y = layer.forward(*xs)
        vals[node.name] = y
    return vals, cache


def _backward(graph, params, vals, cache, gout):
    grads = {graph.output: gout}
    pgrads = {}
    for node in reversed(graph.nodes):
        gy = grads.pop(node.name, None)
        if gy is None:
            continue
        layer, xs = node.layer, [vals[i] for i in node.inputs]
        if isinstance(layer, Dense):
            w, _ = params[node.name]
            pgrads[node.name] = (gy.T @ xs[0], gy.sum(axis=0))
            gxs = [gy @ w]
        elif isinstance(layer, Conv2d):
            w, _ = params[node.name]
            oc = w.shape[0]
            g2 = gy.transpose(0, 2, 3, 1).reshape(-1, oc)
            pgrads[node.name] = ((g2.T @ cache[node.name]).reshape(w.shape), g2.sum(axis=0))
            gxs = [_col2im(g2 @ w.reshape(oc, -1), xs[0].shape, layer.kernel, layer.stride, layer.padding)]
        elif isinstance(layer, ReLU):
            gxs = [gy * (xs[0] > 0)]
        elif isinstance(layer, (MaxPool2d, AvgPool2d)):
            (kh, kw), x = layer.kernel, xs[0]
            if layer.stride != layer.kernel or x.shape[2] % kh or x.shape[3] % kw:
                raise ValueError("training supports pools with stride = kernel dividing the input")
            up = np.repeat(np.repeat(gy, kh, axis=2), kw, axis=3)
            if isinstance(layer, AvgPool2d):
                gxs = [up / (kh * kw)]
            else:
                y = np.repeat(np.repeat(vals[node.name], kh, axis=2), kw, axis=3)
                mask = x == y
                n, c, h, w = x.shape       # the first maximum of each window takes the gradient
                blocks = mask.reshape(n, c, h // kh, kh, w // kw, kw).transpose(0, 1, 2, 4, 3, 5)
                blocks = blocks.reshape(n, c, h // kh, w // kw, kh * kw)
                first = np.zeros_like(blocks)
                np.put_along_axis(first, blocks.argmax(axis=-1)[..., None], True, axis=-1)
                first = first.reshape(n, c, h // kh, w // kw, kh, kw).transpose(0, 1, 2, 4, 3, 5)
                gxs = [up * first.reshape(x.shape)]
        elif isinstance(layer, Flatten):
            gxs = [gy.reshape(xs[0].shape)]
        elif isinstance(layer, Add):
            gxs = [gy, gy]
        else:
            raise ValueError(f"training does not support {type(layer).__name__} (node {node.name!r})")
        for name, g in zip(node.inputs, gxs):
            grads[name] = grads[name] + g if name in grads else g
    return pgrads


def _build(graph, params):
    nodes = []
    for node in graph.nodes:
        layer = node.layer
        if node.name in params:
            w, b = params[node.name]
            layer = dataclasses.replace(layer, weight=w.copy(), bias=b.copy())
        nodes.append(Node(node.name, layer, node.inputs))
    return Graph(nodes, graph.input_shape, graph.input_name, graph.output)


def train(graph, x, y, *, epochs, batch=32, lr=3e-3, seed=0, decay=1.0):
    """Train ``graph`` (softmax cross-entropy, Adam) from its current parameters; return a new Graph.

    The order of the samples in each epoch is a permutation from
    ``numpy.random.default_rng(seed)``; the learning rate is multiplied by
    ``decay`` after every epoch.
    """
    with _one_blas_thread():
        return _train(graph, x, y, epochs=epochs, batch=batch, lr=lr, seed=seed, decay=decay)


def _one_blas_thread():
    """A context limiting BLAS to one thread (module docstring), or doing nothing without
    ``threadpoolctl``."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:      # pragma: no cover - scikit-learn (the nn extra) installs it
        return contextlib.nullcontext()
    return threadpool_limits(limits=1, user_api="blas")


def _train(graph, x, y, *, epochs, batch, lr, seed, decay):
    rng = np.random.default_rng(seed)
    params = {n.name: [n.layer.weight.copy(), n.layer.bias.copy()] for n in graph.nodes
              if isinstance(n.layer, (Dense, Conv2d))}
    m = {k: [np.zeros_like(p) for p in v] for k, v in params.items()}
    v2 = {k: [np.zeros_like(p) for p in v] for k, v in params.items()}
    b1, b2, eps, t = 0.9, 0.999, 1e-8, 0
    n = x.shape[0]
    for _ in range(epochs):
        order = rng.permutation(n)
        for start in range(0, n, batch):
            idx = order[start:start + batch]
            vals, cache = _forward(graph, params, x[idx])
            logits = vals[graph.output]
            z = logits - logits.max(axis=1, keepdims=True)
            p = np.exp(z)
            p /= p.sum(axis=1, keepdims=True)
            p[np.arange(idx.size), y[idx]] -= 1.0
            grads = _backward(graph, params, vals, cache, p / idx.size)
            t += 1
            for k, gs in grads.items():
                for i, g in enumerate(gs):
                    m[k][i] = b1 * m[k][i] + (1 - b1) * g
                    v2[k][i] = b2 * v2[k][i] + (1 - b2) * g * g
                    mh = m[k][i] / (1 - b1 ** t)
                    vh = v2[k][i] / (1 - b2 ** t)
                    params[k][i] -= lr * mh / (np.sqrt(vh) + eps)
        lr *= decay
    return _build(graph, params)
