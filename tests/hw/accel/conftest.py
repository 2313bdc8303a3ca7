"""Quantized networks for the accelerator tests: the digits MLP and a tiny Dense/ReLU6 chain."""

import numpy as np
import pytest

from numfmt import nn
from numfmt.arith import FixedAccumulator


@pytest.fixture(scope="session")
def digits():
    """``(x_train, y_train, x_test, y_test)`` of the digits data set."""
    return nn.digits_data()


@pytest.fixture(scope="session")
def quantized(digits):
    """``quantized(name)``: the digits MLP quantized as ``"int8"`` (int8 weights and
    activations), ``"int4"`` (int4 weights) or ``"acc16sat"`` (int8, a 16-bit saturating
    accumulator), cached for the session."""
    cache = {}
    configs = {"int8": nn.QConfig(weight="int8", act="int8"),
               "int4": nn.QConfig(weight="int4", act="int8"),
               "acc16sat": nn.QConfig(weight="int8", act="int8", acc=FixedAccumulator(16, overflow="sat"))}

    def get(name):
        if name not in cache:
            cache[name] = nn.quantize(nn.digits_mlp(), configs[name], digits[0])
        return cache[name]
    return get


def _tiny_graph(acc=None):
    """Dense(6→4) → ReLU6 → Dense(4→3), int8, calibrated on seeded data, with power-of-two
    activation scales so that ReLU6 clips below the format's maximum; ``(graph, x)``."""
    rng = np.random.default_rng(3)
    g = nn.Graph.sequential([nn.Dense(rng.normal(size=(4, 6)), rng.normal(size=4)), nn.ReLU6(),
                             nn.Dense(rng.normal(size=(3, 4)), rng.normal(size=3))], input_shape=(6,))
    x = rng.normal(scale=4.0, size=(300, 6))
    return nn.quantize(g, nn.QConfig(weight="int8", act="int8", acc=acc, act_scale="pow2"), x), x


@pytest.fixture(scope="session")
def tiny_graph():
    """``tiny_graph(acc=None)``: a small Dense → ReLU6 → Dense network and its 300 inputs."""
    return _tiny_graph


@pytest.fixture(scope="session")
def synthesizes_without_latches():
    """``check(acc)``: Yosys ``synth_xilinx`` of the accelerator (default options) maps it with
    no latch cell, and into LUTs and flip-flops; returns the synthesis result."""
    from numfmt.hw.cost import synthesize

    def check(acc):
        result = synthesize(acc, target="xilinx")
        assert not result.latches, result.cells
        assert result.ffs > 0 and result.luts > 0
        return result
    return check
