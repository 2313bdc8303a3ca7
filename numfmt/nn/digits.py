"""The default workload: scikit-learn's bundled 8×8 digits, a small MLP and a small CNN.

Nothing is downloaded: ``sklearn.datasets.load_digits`` ships with
scikit-learn (the ``nn`` extra). The models are trained deterministically in
NumPy on first use (seeded initialisation and sample order, fixed epochs, Adam)
and cached as ``.npz`` under ``$NUMFMT_CACHE`` (default ``~/.cache/numfmt``),
keyed by a hash of the training recipe. See ``docs/nn.md`` for the accuracies.

>>> from numfmt import nn
>>> x_train, y_train, x_test, y_test = nn.digits_data()
>>> x_train.shape, x_test.shape, float(x_train.max())
((1437, 64), (360, 64), 1.0)
"""

from __future__ import annotations

import hashlib
import json
import os
import pathlib
import tempfile

import numpy as np

from .graph import Graph, Node
from .layers import Add, AvgPool2d, Conv2d, Dense, Flatten, MaxPool2d, ReLU

__all__ = ["digits_data", "digits_mlp", "digits_cnn", "cache_dir", "MLP_RECIPE", "CNN_RECIPE"]

_TEST_SAMPLES = 360
_TRAIN_SAMPLES = 1797 - _TEST_SAMPLES      # sklearn's digits: 1797 images
_SPLIT_SEED = 0

#: Training recipe of :func:`digits_mlp` (its hash names the cache file).
MLP_RECIPE = {"model": "mlp", "widths": [64, 64, 32, 10], "epochs": 40, "batch": 32, "lr": 3e-3,
              "decay": 0.95, "seed": 1, "split_seed": _SPLIT_SEED, "version": 1}
#: Training recipe of :func:`digits_cnn`.
CNN_RECIPE = {"model": "cnn", "channels": [8, 8, 16], "epochs": 30, "batch": 32, "lr": 3e-3,
              "decay": 0.93, "seed": 2, "split_seed": _SPLIT_SEED, "version": 1}


def cache_dir() -> pathlib.Path:
    """``$NUMFMT_CACHE`` if set, else ``~/.cache/numfmt``.

    >>> isinstance(cache_dir(), pathlib.Path)
    True
    """
    env = os.environ.get("NUMFMT_CACHE")
    return pathlib.Path(env) if env else pathlib.Path.home() / ".cache" / "numfmt"


def digits_data():
    """The digits dataset as ``(x_train, y_train, x_test, y_test)``.

    ``x`` is float64 in ``[0, 1]`` (pixel / 16) of shape ``(N, 64)``; ``y``
    holds int64 labels 0..9. The split is a fixed permutation (seed 0): 360
    test samples, 1437 training samples. Reshape ``x`` to ``(N, 1, 8, 8)`` for
    :func:`digits_cnn`.

    Raises
    ------
    ImportError
        scikit-learn is not installed (``pip install numfmt[nn]``).
    """
    try:
        from sklearn.datasets import load_digits
    except ImportError:
        raise ImportError("the digits workload needs scikit-learn, which ships the dataset: "
                          "pip install 'numfmt[nn]' (or pip install scikit-learn)") from None
    data = load_digits()
    x = np.asarray(data.data, dtype=np.float64) / 16.0
    y = np.asarray(data.target, dtype=np.int64)
    order = np.random.default_rng(_SPLIT_SEED).permutation(x.shape[0])
    test, train = order[:_TEST_SAMPLES], order[_TEST_SAMPLES:]
    return x[train], y[train], x[test], y[test]


def _he(rng, shape, fan_in):
    return rng.standard_normal(shape) * np.sqrt(2.0 / fan_in)


def _mlp_init(recipe):
    rng = np.random.default_rng(recipe["seed"])
    widths, layers = recipe["widths"], []
    for i, (a, b) in enumerate(zip(widths[:-1], widths[1:])):
        layers.append(Dense(_he(rng, (b, a), a), np.zeros(b)))
        if i < len(widths) - 2:
            layers.append(ReLU())
    return Graph.sequential(layers, input_shape=(widths[0],))


def _cnn_init(recipe):
    rng = np.random.default_rng(recipe["seed"])
    c1, c2, c3 = recipe["channels"]

    def conv(oc, ic):
        return Conv2d(_he(rng, (oc, ic, 3, 3), ic * 9), np.zeros(oc), padding=1)

    nodes = [
        Node("conv1", conv(c1, 1), ("input",)),
        Node("relu1", ReLU(), ("conv1",)),
        Node("conv2", conv(c2, c1), ("relu1",)),
        Node("relu2", ReLU(), ("conv2",)),
        Node("add", Add(), ("relu1", "relu2")),
        Node("maxpool", MaxPool2d(2), ("add",)),
        Node("conv3", conv(c3, c2), ("maxpool",)),
        Node("relu3", ReLU(), ("conv3",)),
        Node("avgpool", AvgPool2d(2), ("relu3",)),
        Node("flatten", Flatten(), ("avgpool",)),
        Node("fc", Dense(_he(rng, (10, c3 * 4), c3 * 4), np.zeros(10)), ("flatten",)),
    ]
    return Graph(nodes, input_shape=(1, 8, 8))


def _recipe_key(recipe) -> str:
    text = json.dumps(recipe, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _load(path, graph):
    import dataclasses
    with np.load(path) as f:
        nodes = []
        for node in graph.nodes:
            layer = node.layer
            if isinstance(layer, (Dense, Conv2d)):
                w, b = f[f"{node.name}.weight"], f[f"{node.name}.bias"]
                if w.shape != layer.weight.shape or b.shape != layer.bias.shape:
                    raise ValueError(f"cached parameters of {node.name!r} have the wrong shape")
                layer = dataclasses.replace(layer, weight=w, bias=b)
            nodes.append(Node(node.name, layer, node.inputs))
    return Graph(nodes, graph.input_shape, graph.input_name, graph.output)


def _save(path, graph):
    arrays = {}
    for node in graph.nodes:
        if isinstance(node.layer, (Dense, Conv2d)):
            arrays[f"{node.name}.weight"] = node.layer.weight
            arrays[f"{node.name}.bias"] = node.layer.bias
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=path.stem, suffix=".tmp.npz", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            np.savez(fh, **arrays)
        os.replace(tmp, path)          # atomic: readers see the old file or the whole new one
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _exclude(exclude) -> np.ndarray | None:
    if exclude is None:
        return None
    idx = np.unique(np.asarray(exclude))
    if idx.ndim != 1 or (idx.size and (not np.issubdtype(idx.dtype, np.integer) or idx[0] < 0
                                       or idx[-1] >= _TRAIN_SAMPLES)):
        raise ValueError(f"exclude must be indices of training images (integers in 0..{_TRAIN_SAMPLES - 1}), "
                         f"not {exclude!r}")
    if idx.size >= _TRAIN_SAMPLES:
        raise ValueError("exclude must leave some training images")
    return idx


def _trained(recipe, init, reshape, directory=None, cache=True, exclude=None):
    from ._train import train
    graph = init(recipe)
    exclude = _exclude(exclude)
    if exclude is not None:            # another training set: another recipe, another cache file
        recipe = dict(recipe, exclude=hashlib.sha256(exclude.astype(np.int64).tobytes()).hexdigest()[:16])
    path = pathlib.Path(directory or cache_dir()) / f"digits_{recipe['model']}_{_recipe_key(recipe)}.npz"
    if cache and path.exists():
        try:
            return _load(path, graph)
        except (OSError, ValueError, KeyError):
            pass                       # unreadable or stale: train again and overwrite
    x_train, y_train, _, _ = digits_data()
    if exclude is not None:
        keep = np.setdiff1d(np.arange(len(x_train)), exclude)
        x_train, y_train = x_train[keep], y_train[keep]
    graph = train(graph, reshape(x_train), y_train, epochs=recipe["epochs"], batch=recipe["batch"],
                  lr=recipe["lr"], seed=recipe["seed"], decay=recipe["decay"])
    if cache:
        _save(path, graph)
    return graph


def digits_mlp(*, cache=True, directory=None, exclude=None):
    """The trained 64-64-32-10 ReLU MLP (float :class:`~numfmt.nn.Graph`, input shape ``(64,)``).

    Trained on first use (a few seconds; recipe :data:`MLP_RECIPE`) and cached
    under ``directory`` (default :func:`cache_dir`) unless ``cache=False``.
    ``exclude``: indices of training images to train without (a validation split the
    network never sees); the model is then trained and cached separately.

    >>> from numfmt import nn
    >>> g = nn.digits_mlp()
    >>> _, _, x_test, y_test = nn.digits_data()
    >>> nn.accuracy(g, x_test, y_test) > 0.95
    True
    """
    return _trained(MLP_RECIPE, _mlp_init, lambda x: x, directory, cache, exclude)


def digits_cnn(*, cache=True, directory=None, exclude=None):
    """The trained small CNN (float :class:`~numfmt.nn.Graph`, input shape ``(1, 8, 8)``).

    conv3×3(1→8) → ReLU → conv3×3(8→8) → ReLU → residual Add → MaxPool 2 →
    conv3×3(8→16) → ReLU → AvgPool 2 → Flatten → Dense(64→10); recipe
    :data:`CNN_RECIPE`, cached like :func:`digits_mlp` (``exclude`` as there).

    >>> from numfmt import nn
    >>> g = nn.digits_cnn()
    >>> _, _, x_test, y_test = nn.digits_data()
    >>> nn.accuracy(g, x_test.reshape(-1, 1, 8, 8), y_test) > 0.95
    True
    """
    return _trained(CNN_RECIPE, _cnn_init, lambda x: x.reshape(-1, 1, 8, 8), directory, cache, exclude)
