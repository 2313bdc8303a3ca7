"""Shared test references for the integer dot-product units (bit-serial, LUT-GEMM)."""

import numpy as np
import pytest


def _int_dot(inputs, x_fmt, x, y_fmt, y, n, width):
    """``Σ_k x_k·y_k`` of the codes ``inputs["{x}k"]``, ``inputs["{y}k"]`` with Python ints,
    wrapped to ``width`` bits (two's complement), as uint64 codes."""
    out = []
    for t in range(len(inputs[f"{x}0"])):
        s = sum(int(x_fmt.decode_int([inputs[f"{x}{k}"][t]])[0]) *
                int(y_fmt.decode_int([inputs[f"{y}{k}"][t]])[0]) for k in range(n))
        out.append(s % (1 << width))
    return np.array(out, dtype=np.uint64)


@pytest.fixture
def int_dot():
    """The Python-int reference ``int_dot(inputs, x_fmt, "a", y_fmt, "b", n, width)``."""
    return _int_dot
