"""nn.quantize(..., memo=dict): rounded weights shared between calls, results unchanged."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from numfmt import nn, ptq
from numfmt.nn.quantized import QLinear


def _graph():
    rng = np.random.default_rng(3)
    g = nn.Graph.sequential([nn.Dense(rng.standard_normal((12, 16)), rng.standard_normal(12)), nn.ReLU(),
                             nn.Dense(rng.standard_normal((5, 12)), rng.standard_normal(5))], input_shape=(16,))
    return g, rng.standard_normal((64, 16))


def _same(a, b):
    """Every array and scalar of every QLinear equal (exactly), and the same outputs."""
    for na, nb in zip(a.nodes, b.nodes):
        assert type(na) is type(nb) and na.name == nb.name
        if isinstance(na, QLinear):
            for f in ("weight_codes", "weight_exp", "channel_scale", "acc_exp", "bias", "multiplier", "shift"):
                assert np.array_equal(getattr(na, f), getattr(nb, f)), f
            assert (na.acc_bits, na.mult_bits, na.weight_format) == (nb.acc_bits, nb.mult_bits, nb.weight_format)
        assert na.out.format == nb.out.format and np.array_equal(na.out.scale, nb.out.scale)


@pytest.mark.parametrize("method", ["rtn", "gptq", "adaround"])
def test_memo_reuses_the_rounding_across_modes_and_changes_nothing(method, monkeypatch):
    g, x = _graph()
    calls = []
    real = ptq.METHODS[method]
    monkeypatch.setitem(ptq.METHODS, method, lambda *a, **k: calls.append(1) or real(*a, **k))
    memo = {}
    cfgs = [nn.QConfig(weight="int4", act="int16", method=method), nn.QConfig(weight="int4", act="int4", method=method)]
    with_memo = [nn.quantize(g, c, x, memo=memo) for c in cfgs]
    assert len(calls) == 2 and len(memo) == 2          # two layers, rounded once for both modes
    without = [nn.quantize(g, c, x) for c in cfgs]
    assert len(calls) == 6                             # without it: each call rounds both layers
    for a, b in zip(with_memo, without):
        _same(a, b)
        ta, tb = a.trace(x), b.trace(x)
        assert ta.keys() == tb.keys() and all(np.array_equal(ta[k], tb[k]) for k in ta)


def test_memo_keys_tell_formats_methods_inputs_and_weights_apart():
    g, x = _graph()
    memo = {}
    nn.quantize(g, nn.QConfig(weight="int4", act="int8"), x, memo=memo)
    nn.quantize(g, nn.QConfig(weight="int5", act="int8"), x, memo=memo)
    nn.quantize(g, nn.QConfig(weight="int4", act="int8", method="gptq"), x, memo=memo)
    nn.quantize(g, nn.QConfig(weight="int4", act="int8", granularity="tensor"), x, memo=memo)
    assert len(memo) == 8
    nn.quantize(g, nn.QConfig(weight="int4", act="int8"), x[:32], memo=memo)       # other calibration inputs
    assert len(memo) == 10
    other = nn.Graph.sequential([dataclasses.replace(g.nodes[0].layer, weight=g.nodes[0].layer.weight * 2),
                                 nn.ReLU(), g.nodes[2].layer], input_shape=(16,))
    q = nn.quantize(other, nn.QConfig(weight="int4", act="int8"), x, memo=memo)
    assert len(memo) == 12
    _same(q, nn.quantize(other, nn.QConfig(weight="int4", act="int8"), x))


def test_memo_must_be_a_dict():
    g, x = _graph()
    with pytest.raises(TypeError, match="memo must be a dict or None, not list"):
        nn.quantize(g, nn.QConfig(weight="int4", act="int8"), x, memo=[])
