"""pack / unpack: dense storage of b-bit codes, least significant bit first."""

from __future__ import annotations

import numpy as np
import pytest

import numfmt as nf


@pytest.mark.parametrize("bits", [1, 2, 3, 4, 5, 6, 7, 8, 9, 12, 16, 17, 31, 32, 33, 64])
def test_round_trip(bits):
    rng = np.random.default_rng(bits)
    for count in (0, 1, 7, 8, 9, 1001):
        if bits == 64:
            codes = rng.integers(0, 2**64 - 1, size=count, dtype=np.uint64, endpoint=True)
        else:
            codes = rng.integers(0, 1 << bits, size=count, dtype=np.uint64)
        data = nf.pack(codes, bits)
        assert data.dtype == np.uint8 and data.size == (count * bits + 7) // 8
        back = nf.unpack(data, bits, count)
        assert back.dtype.itemsize * 8 >= bits
        assert np.array_equal(back.astype(np.uint64), codes)


def test_layout_is_lsb_first():
    # two FP4 codes per byte, the first in the low nibble
    assert nf.pack(np.array([0x1, 0xF], np.uint8), 4).tolist() == [0xF1]
    # 3-bit codes 0b101, 0b011, 0b110 -> stream 101 110 011 (LSB first) = 0b10_011_101, 0b1
    assert nf.pack(np.array([0b101, 0b011, 0b110], np.uint8), 3).tolist() == [0b10011101, 0b1]


def test_format_gives_width():
    fmt = nf.FLOATS["e2m1fn"]
    codes = fmt.encode([0.5, -6.0, 3.0])
    assert np.array_equal(nf.unpack(nf.pack(codes, fmt), fmt, 3), codes)


def test_bad_input():
    with pytest.raises(ValueError, match=r"codes must fit in 4 bits, not 16"):
        nf.pack(np.array([16]), 4)
    with pytest.raises(ValueError, match=r"codes must be non-negative, not -1"):
        nf.pack(np.array([-1]), 4)
    with pytest.raises(ValueError, match=r"bits must be an integer in 1\.\.64 or a format, not 0"):
        nf.pack(np.array([0]), 0)
    with pytest.raises(ValueError, match=r"data holds 1 bytes; 3 codes of 4 bits need 2"):
        nf.unpack(np.zeros(1, np.uint8), 4, 3)
    with pytest.raises(ValueError, match=r"data must be a uint8 array, not dtype int64"):
        nf.unpack(np.zeros(2, np.int64), 4, 3)
    with pytest.raises(ValueError, match=r"count must be a non-negative integer, not -2"):
        nf.unpack(np.zeros(2, np.uint8), 4, -2)
