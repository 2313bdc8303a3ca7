"""Float layers and graphs: loops as references, validation errors, BatchNorm folding, training, digits."""

from __future__ import annotations

import numpy as np
import pytest

from numfmt import nn
from numfmt.nn import _train, digits


def conv_loops(x, w, b, stride, padding):
    n, c, h, wd = x.shape
    oc, _, kh, kw = w.shape
    (sh, sw), (ph, pw) = stride, padding
    xp = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    oh, ow = (h + 2 * ph - kh) // sh + 1, (wd + 2 * pw - kw) // sw + 1
    y = np.zeros((n, oc, oh, ow))
    for i in range(oh):
        for j in range(ow):
            patch = xp[:, :, i * sh:i * sh + kh, j * sw:j * sw + kw]
            y[:, :, i, j] = np.einsum("nchw,ochw->no", patch, w) + b
    return y


@pytest.mark.parametrize("stride, padding", [(1, 0), (1, 1), (2, 1), ((2, 1), (0, 2))])
def test_conv2d_matches_loops(stride, padding):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 3, 7, 6))
    layer = nn.Conv2d(rng.standard_normal((4, 3, 3, 2)), rng.standard_normal(4), stride=stride, padding=padding)
    want = conv_loops(x, layer.weight, layer.bias, layer.stride, layer.padding)
    np.testing.assert_allclose(layer.forward(x), want, rtol=1e-12, atol=1e-12)
    assert layer.out_shape((3, 7, 6)) == want.shape[1:]


def test_pools_match_loops():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((2, 3, 7, 7))
    for cls, red in ((nn.MaxPool2d, np.max), (nn.AvgPool2d, np.mean)):
        layer = cls(3, stride=2)
        y = layer.forward(x)
        assert y.shape == (2, 3, 3, 3)
        for i in range(3):
            for j in range(3):
                np.testing.assert_allclose(y[:, :, i, j], red(x[:, :, 2 * i:2 * i + 3, 2 * j:2 * j + 3], axis=(2, 3)),
                                           rtol=1e-12, atol=1e-15)
    assert np.array_equal(nn.ReLU6().forward(np.array([-1.0, 3.0, 9.0])), [0.0, 3.0, 6.0])


def test_graph_validation_errors():
    d = nn.Dense(np.ones((3, 4)))
    with pytest.raises(ValueError, match=r"node 'dense0': Dense with weight \(3, 4\) needs 4 input features, not 5"):
        nn.Graph.sequential([d], input_shape=(5,))
    with pytest.raises(ValueError, match=r"node 'b' reads 'c', which is not the input or an earlier node"):
        nn.Graph([nn.Node("b", nn.ReLU(), ("c",))], input_shape=(2,))
    with pytest.raises(ValueError, match=r"node name 'a' is used twice"):
        nn.Graph([nn.Node("a", nn.ReLU(), ("input",)), nn.Node("a", nn.ReLU(), ("input",))], input_shape=(2,))
    with pytest.raises(ValueError, match=r"node 'add': Add takes 2 input\(s\), not 1"):
        nn.Node("add", nn.Add(), ("input",))
    with pytest.raises(ValueError, match=r"Add needs two inputs of the same shape, not \(2,\) and \(3,\)"):
        nn.Graph([nn.Node("d", nn.Dense(np.ones((3, 2))), ("input",)),
                  nn.Node("add", nn.Add(), ("input", "d"))], input_shape=(2,))
    with pytest.raises(ValueError, match=r"Conv2d with weight \(2, 3, 3, 3\) needs 3 input channels, not 1"):
        nn.Graph.sequential([nn.Conv2d(np.ones((2, 3, 3, 3)))], input_shape=(1, 8, 8))
    with pytest.raises(ValueError, match=r"weight must be finite, not nan at index \(0, 1\)"):
        nn.Dense(np.array([[1.0, np.nan]]))
    with pytest.raises(ValueError, match=r"bias must have shape \(3,\), not \(2,\)"):
        nn.Dense(np.ones((3, 4)), np.ones(2))
    with pytest.raises(ValueError, match=r"stride must be ≥ 1, not \(0, 0\)"):
        nn.Conv2d(np.ones((1, 1, 1, 1)), stride=0)
    with pytest.raises(ValueError, match=r"output must name a node, not 'nope'"):
        nn.Graph([nn.Node("a", nn.ReLU(), ("input",))], (2,), output="nope")


def test_forward_input_errors():
    g = nn.Graph.sequential([nn.Flatten()], input_shape=(1, 8, 8))
    with pytest.raises(ValueError, match=r"x must have shape \(N, 1, 8, 8\) .*not \(4, 64\)"):
        g.forward(np.zeros((4, 64)))
    x = np.zeros((2, 1, 8, 8))
    x[1, 0, 3, 3] = np.inf
    with pytest.raises(ValueError, match=r"x contains inf at index \(1, 0, 3, 3\)"):
        g.forward(x)


def test_predict_ties_take_the_lowest_index_and_accuracy():
    g = nn.Graph.sequential([nn.Dense(np.array([[1.0], [1.0], [0.0]]))], input_shape=(1,))
    assert g.predict(np.array([[2.0], [-1.0]])).tolist() == [0, 2]
    assert nn.accuracy(g, np.array([[2.0], [-1.0]]), np.array([0, 0])) == 0.5
    with pytest.raises(ValueError, match=r"y must have shape \(2,\)"):
        nn.accuracy(g, np.array([[2.0], [-1.0]]), np.array([0, 0, 1]))


def test_fold_batchnorm_keeps_the_function():
    rng = np.random.default_rng(2)
    bn = nn.BatchNorm(rng.uniform(0.5, 2, 4), rng.standard_normal(4), rng.standard_normal(4), rng.uniform(0.1, 2, 4))
    nodes = [nn.Node("conv", nn.Conv2d(rng.standard_normal((4, 2, 3, 3)), rng.standard_normal(4), padding=1), ("input",)),
             nn.Node("bn", bn, ("conv",)), nn.Node("relu", nn.ReLU(), ("bn",)),
             nn.Node("pool", nn.AvgPool2d(2), ("relu",)), nn.Node("flat", nn.Flatten(), ("pool",)),
             nn.Node("fc", nn.Dense(rng.standard_normal((5, 16))), ("flat",)),
             nn.Node("bn2", nn.BatchNorm(np.ones(5), np.zeros(5), rng.standard_normal(5), np.ones(5)), ("fc",))]
    g = nn.Graph(nodes, input_shape=(2, 4, 4))
    f = nn.fold_batchnorm(g)
    assert [n.name for n in f.nodes] == ["conv", "relu", "pool", "flat", "fc"]
    assert f.output == "fc" and f.node("relu").inputs == ("conv",)
    x = rng.standard_normal((3, 2, 4, 4))
    np.testing.assert_allclose(f.forward(x), g.forward(x), rtol=1e-12, atol=1e-12)
    # a BatchNorm after a ReLU stays
    g2 = nn.Graph.sequential([nn.ReLU(), nn.BatchNorm([1.0], [0.0], [0.0], [1.0])], input_shape=(1,))
    assert type(nn.fold_batchnorm(g2).nodes[1].layer) is nn.BatchNorm


def test_training_runs_blas_on_one_thread(monkeypatch):
    """Training limits BLAS to one thread (small batches; side by side, OpenBLAS's default of
    one thread per core was several times slower) and restores the limit afterwards."""
    threadpoolctl = pytest.importorskip("threadpoolctl")

    def blas_threads():
        return {p["num_threads"] for p in threadpoolctl.threadpool_info() if p["user_api"] == "blas"}

    seen, forward = [], _train._forward

    def spy(*args, **kwargs):
        seen.append(blas_threads())
        return forward(*args, **kwargs)

    monkeypatch.setattr(_train, "_forward", spy)
    g = nn.Graph.sequential([nn.Dense(np.ones((2, 3)) * 0.1, np.zeros(2))], input_shape=(3,))
    with threadpoolctl.threadpool_limits(limits=2, user_api="blas"):    # (test workers run on one)
        assert blas_threads() == {2}
        _train.train(g, np.ones((4, 3)), np.array([0, 1, 0, 1]), epochs=1, batch=2)
        assert blas_threads() == {2}
    assert seen and all(s == {1} for s in seen), seen


def test_training_gradients_match_finite_differences():
    rng = np.random.default_rng(3)
    g = digits._cnn_init({"seed": 0, "channels": [2, 2, 3]})
    x = rng.standard_normal((2, 1, 8, 8))
    y = np.array([1, 7])
    params = {n.name: [n.layer.weight.copy(), n.layer.bias.copy()] for n in g.nodes
              if isinstance(n.layer, (nn.Dense, nn.Conv2d))}

    def loss():
        vals, _ = _train._forward(g, params, x)
        z = vals[g.output]
        z = z - z.max(axis=1, keepdims=True)
        return float(np.mean(np.log(np.exp(z).sum(axis=1)) - z[np.arange(2), y]))

    vals, cache = _train._forward(g, params, x)
    z = vals[g.output]
    p = np.exp(z - z.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    p[np.arange(2), y] -= 1
    grads = _train._backward(g, params, vals, cache, p / 2)
    for name in ("conv1", "conv2", "conv3", "fc"):
        for k in (0, 1):
            arr = params[name][k]
            idx = tuple(int(rng.integers(0, s)) for s in arr.shape)
            old = arr[idx]
            arr[idx] = old + 1e-6
            up = loss()
            arr[idx] = old - 1e-6
            down = loss()
            arr[idx] = old
            assert abs((up - down) / 2e-6 - grads[name][k][idx]) < 1e-6, (name, k, idx)


def test_digits_data_is_deterministic():
    a = nn.digits_data()
    b = nn.digits_data()
    assert all(np.array_equal(u, v) for u, v in zip(a, b))
    x_train, y_train, x_test, y_test = a
    assert x_train.shape == (1437, 64) and x_test.shape == (360, 64)
    assert x_train.min() == 0.0 and x_train.max() == 1.0
    assert sorted(set(y_test.tolist())) == list(range(10))


def test_cache_is_written_atomically_and_reused(tmp_path, monkeypatch):
    recipe = dict(digits.MLP_RECIPE, epochs=1, widths=[64, 8, 10])
    g1 = digits._trained(recipe, digits._mlp_init, lambda x: x, tmp_path)
    files = list(tmp_path.iterdir())
    assert len(files) == 1 and files[0].suffix == ".npz" and "digits_mlp_" in files[0].name

    def fail(*a, **k):
        raise AssertionError("trained again instead of reading the cache")

    monkeypatch.setattr(_train, "train", fail)
    g2 = digits._trained(recipe, digits._mlp_init, lambda x: x, tmp_path)
    for n1, n2 in zip(g1.nodes, g2.nodes):
        if isinstance(n1.layer, nn.Dense):
            assert np.array_equal(n1.layer.weight, n2.layer.weight)
    # a different recipe is a different file
    monkeypatch.undo()
    digits._trained(dict(recipe, seed=5), digits._mlp_init, lambda x: x, tmp_path)
    assert len(list(tmp_path.iterdir())) == 2


def test_training_without_some_images(tmp_path, monkeypatch):
    """``exclude``: the network never sees those training images; another cache file."""
    recipe = dict(digits.MLP_RECIPE, epochs=1, widths=[64, 8, 10])
    seen = []
    real = _train.train
    monkeypatch.setattr(_train, "train", lambda g, x, y, **k: seen.append(len(x)) or real(g, x, y, **k))
    digits._trained(recipe, digits._mlp_init, lambda x: x, tmp_path)
    digits._trained(recipe, digits._mlp_init, lambda x: x, tmp_path, exclude=np.arange(0, 1437, 5))
    assert seen == [1437, 1437 - 288] and len(list(tmp_path.iterdir())) == 2
    for bad in ([1437], [-1], [0.5], np.arange(1437)):
        with pytest.raises(ValueError, match="exclude must"):
            digits._trained(recipe, digits._mlp_init, lambda x: x, tmp_path, exclude=bad)


def test_cache_dir_follows_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("NUMFMT_CACHE", str(tmp_path))
    assert digits.cache_dir() == tmp_path


def test_digits_models_reach_their_accuracy():
    _, _, x_test, y_test = nn.digits_data()
    assert nn.accuracy(nn.digits_mlp(), x_test, y_test) > 0.97
    assert nn.accuracy(nn.digits_cnn(), x_test.reshape(-1, 1, 8, 8), y_test) > 0.97
    assert nn.digits_cnn().input_shape == (1, 8, 8)


def test_digits_without_scikit_learn_says_what_to_install(monkeypatch):
    import sys
    monkeypatch.setitem(sys.modules, "sklearn", None)
    monkeypatch.setitem(sys.modules, "sklearn.datasets", None)
    with pytest.raises(ImportError, match=r"the digits workload needs scikit-learn.*pip install 'numfmt\[nn\]'"):
        nn.digits_data()
