"""The branch-free float64 fast path of the ap_fixed kernel equals the general loop."""

from __future__ import annotations

import numpy as np
import pytest

from numfmt._kernels import fixed as k
from numfmt.modes import Overflow, Rounding

DETERMINISTIC = [r for r in Rounding if r is not Rounding.STOCHASTIC]
FAST_OVERFLOWS = [Overflow.SATURATE, Overflow.SATURATE_ZERO, Overflow.SATURATE_SYMMETRIC, Overflow.WRAP]


def _inputs(rng, width, frac_bits, n=4000):
    """Grid points, ties and their neighbours, limits, random doubles, specials, subnormals."""
    top = 2.0 ** (width - frac_bits)
    grid = np.ldexp(rng.integers(-(2 << width), 2 << width, n).astype(np.float64), -frac_bits - 1)
    near = np.concatenate([np.nextafter(grid, np.inf), np.nextafter(grid, -np.inf)])
    mags = np.ldexp(rng.uniform(-2, 2, n), rng.integers(-1074, 1024, n))
    anywhere = rng.integers(0, 2**64, n, dtype=np.uint64).view(np.float64)
    special = np.array([0.0, -0.0, np.inf, -np.inf, np.nan, -np.nan, 5e-324, -5e-324, 2.2e-308,
                        1.7976931348623157e308, -1.7976931348623157e308, top, -top, top / 2, -top / 2])
    with np.errstate(over="ignore"):
        return np.concatenate([grid, near, mags, anywhere, special, top * 2.0 ** rng.integers(-3, 40, 50)])


def _general(bits, width, frac_bits, signed, rounding, overflow):
    out = np.empty(bits.size, np.uint64)
    k.encoder(11, 52)(bits, width, frac_bits, signed, rounding.code, overflow.code, 0,
                      np.zeros(1, np.int64), 32, out)
    return out


def _fast(bits, width, frac_bits, signed, rounding, overflow):
    assert k.fast_path_applies(11, width, rounding.code, overflow.code, 0)
    out = np.empty(bits.size, np.uint64)
    lo, hi = k.clamp_limits(width, signed, overflow.code)
    k.fast_encoder(rounding.code, overflow.code)(bits, width, frac_bits, lo, hi, out)
    return out


@pytest.mark.parametrize("rounding", DETERMINISTIC, ids=str)
@pytest.mark.parametrize("overflow", FAST_OVERFLOWS, ids=str)
def test_fast_path_equals_general_loop(rounding, overflow):
    rng = np.random.default_rng(7)
    formats = [(1, 0), (1, 1), (2, -1), (3, 2), (8, 5), (8, -3), (8, 12), (12, 3), (16, 8), (18, 9),
               (24, 30), (31, -5), (32, 16), (32, 1000), (32, -990), (5, 1074), (7, -1016)]
    for width, frac_bits in formats:
        for signed in (True, False):
            if overflow is Overflow.WRAP_SIGN_MAGNITUDE and not signed:
                continue
            x = _inputs(rng, width, frac_bits)
            bits = x.view(np.uint64)
            ref = _general(bits, width, frac_bits, signed, rounding, overflow)
            got = _fast(bits, width, frac_bits, signed, rounding, overflow)
            bad = np.flatnonzero(ref != got)
            assert bad.size == 0, (f"W={width} F={frac_bits} signed={signed} {rounding} {overflow}: "
                                   f"x={x[bad[0]]!r} general {int(ref[bad[0]]):#x} fast {int(got[bad[0]]):#x}")


def test_fast_path_scope():
    assert k.fast_path_applies(11, 32, Rounding.FLOOR.code, Overflow.WRAP.code, 0)
    assert not k.fast_path_applies(11, 33, Rounding.FLOOR.code, Overflow.WRAP.code, 0)
    assert not k.fast_path_applies(8, 8, Rounding.FLOOR.code, Overflow.WRAP.code, 0)         # float32 input
    assert not k.fast_path_applies(11, 8, Rounding.FLOOR.code, Overflow.WRAP.code, 1)        # N > 0
    assert not k.fast_path_applies(11, 8, Rounding.FLOOR.code, Overflow.WRAP_SIGN_MAGNITUDE.code, 0)
    assert not k.fast_path_applies(11, 8, Rounding.STOCHASTIC.code, Overflow.SATURATE.code, 0)
    assert k.clamp_limits(1, True, Overflow.SATURATE_SYMMETRIC.code) == (-1, 0)
    assert k.clamp_limits(4, True, Overflow.SATURATE_SYMMETRIC.code) == (-7, 7)
    assert k.clamp_limits(4, False, Overflow.SATURATE_SYMMETRIC.code) == (0, 15)
