"""numfmt._kernels.floating: the general encoder's uint64 loop and the narrowing around it.

The loop writes uint64 codes whatever the format's code width (one compilation per input
type and mode); :func:`encoder` narrows them through a buffer of ``ENCODE_BLOCK``, and the
float32 round-to-nearest loop redoes its exceptional blocks through the same uint64 loop.
Each path is compared with the loop run straight into uint64 and with ``encode_one``'s
plain-Python twin.
"""

from __future__ import annotations

import numpy as np
import pytest

import numfmt as nf
from numfmt._kernels import floating as fk
from numfmt.modes import Rounding

RNE, RTZ, STOCHASTIC = Rounding.NEAREST_EVEN.code, Rounding.TOWARD_ZERO.code, Rounding.STOCHASTIC.code


def _bits32(n, seed):
    """float32 bit patterns: every exponent, the specials, both signs."""
    return np.random.default_rng(seed).integers(0, 1 << 32, size=n, dtype=np.uint64).astype(np.uint32)


def _direct(bits, p, mode, rand, sr_bits=32):
    """The loop run straight into uint64 codes, with no buffer."""
    out = np.empty(bits.size, dtype=np.uint64)
    fk.encoder(8, 23, mode)(bits, p, rand, sr_bits, False, out)
    return out


@pytest.mark.parametrize("name", ["e4m3fn", "e5m2", "fp16", "bf16"])
@pytest.mark.parametrize("mode", [RNE, RTZ])
def test_narrowed_codes_equal_the_uint64_loop_across_buffer_ends(name, mode):
    fmt = nf.parse(name)
    p = fmt._kernel_params()
    n = 2 * fk.ENCODE_BLOCK + 77                       # two whole buffers and a ragged end
    bits, rand = _bits32(n, 1), np.zeros(1, dtype=np.int64)
    out = np.empty(n, dtype=fmt.code_dtype)
    fk.encoder(8, 23, mode)(bits, p, rand, 32, False, out)
    want = _direct(bits, p, mode, rand)
    assert out.dtype != np.uint64 and np.array_equal(out, want.astype(fmt.code_dtype))
    assert int(want.max()) < 1 << fmt.bits            # nothing lost in the narrowing
    for i in (0, fk.ENCODE_BLOCK - 1, fk.ENCODE_BLOCK, n - 1):
        assert int(out[i]) == fk.encode_one.py_func(int(bits[i]), 8, 23, p, mode, 0, 32, False)


def test_stochastic_draws_stay_with_their_elements_across_buffers():
    fmt = nf.parse("e4m3fn")
    p = fmt._kernel_params()
    n = fk.ENCODE_BLOCK + 1000
    bits = _bits32(n, 2)
    rand = np.random.default_rng(3).integers(0, 1 << 32, size=n, dtype=np.int64)
    out = np.empty(n, dtype=fmt.code_dtype)
    fk.encoder(8, 23, STOCHASTIC)(bits, p, rand, 32, False, out)
    assert np.array_equal(out, _direct(bits, p, STOCHASTIC, rand).astype(fmt.code_dtype))
    i = fk.ENCODE_BLOCK + 5                             # a draw past the first buffer
    assert int(out[i]) == fk.encode_one.py_func(int(bits[i]), 8, 23, p, STOCHASTIC, int(rand[i]), 32, False)


def test_f32_nearest_redoes_exceptional_blocks_through_the_uint64_loop():
    fmt = nf.parse("e4m3fn")
    p = fmt._kernel_params()
    assert fk.f32_nearest_ok(p)
    x = np.random.default_rng(4).normal(scale=100.0, size=3 * fk.F32_BLOCK).astype(np.float32)
    x[fk.F32_BLOCK + 3] = np.inf                        # the second block overflows: redone
    x[2 * fk.F32_BLOCK + 9] = 1e6
    bits = x.view(np.uint32)
    out = np.empty(bits.size, dtype=fmt.code_dtype)
    fk.encode_f32_nearest(bits, p, False, out)
    assert np.array_equal(out, _direct(bits, p, RNE, np.zeros(1, dtype=np.int64)).astype(fmt.code_dtype))
    assert int(out[fk.F32_BLOCK + 3]) == fk.encode_one.py_func(int(bits[fk.F32_BLOCK + 3]), 8, 23, p, RNE,
                                                               0, 32, False)
