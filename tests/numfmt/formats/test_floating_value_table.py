"""Table paths of ≤ 16-bit FloatFormats: decode by a table of every code's value; quantize in one pass.

The value table is built by the decode kernel itself; every code of each
format goes through the table path and the kernel, and the two must agree bit
for bit (NaN codes included). ``quantize`` of a large float32/float64 array
reads the encode table and the value table in one pass; it must equal
``decode(encode(x))`` bit for bit on inputs chosen to break the index
arithmetic (values, midpoints and their bit neighbours, random bit patterns).
"""

from __future__ import annotations

import numpy as np
import pytest

import numfmt as nf
from numfmt._kernels import floating as k
from numfmt.formats.floating import _LUT_MIN_SIZE, _VALUE_TABLE_MIN_SIZE

FORMATS = [nf.FLOATS[n] for n in ("e4m3fn", "e4m3fnuz", "e5m2", "e2m1fn", "e8m0fnu", "e5m3fnu", "bf16", "fp16")] + [
    nf.FloatFormat(4, 3, bias=3, subnormals=False),           # flush to zero
    nf.FloatFormat(3, 1, signed=False, specials="fn"),
    nf.FloatFormat(6, 9, specials="none"),                      # 16 bits, every code finite
]


def _kernel(fmt, codes):
    out = np.empty(codes.size, dtype=np.float64)
    k.decode_float(codes.astype(np.uint64), fmt._kernel_params(), out)
    return out


@pytest.mark.parametrize("fmt", FORMATS, ids=str)
def test_table_decode_equals_kernel_on_every_code(fmt):
    codes = fmt.codes()
    reps = max(1, -(-_VALUE_TABLE_MIN_SIZE // codes.size))
    many = np.tile(codes, reps)[::-1].reshape(-1, 2) if (codes.size * reps) % 2 == 0 else np.tile(codes, reps)
    assert many.size >= _VALUE_TABLE_MIN_SIZE
    got = fmt.decode(many)
    assert got.shape == many.shape and got.dtype == np.float64
    np.testing.assert_array_equal(got.reshape(-1).view(np.uint64), _kernel(fmt, many.reshape(-1)).view(np.uint64))


def test_small_inputs_still_take_the_kernel_and_bad_codes_still_raise():
    e4m3 = nf.FLOATS["e4m3fn"]
    np.testing.assert_array_equal(e4m3.decode(np.array([0x7E, 0xFE], np.uint8)), [448.0, -448.0])
    with pytest.raises(ValueError, match="codes must fit in 8 bits, not 256"):
        e4m3.decode(np.full(_VALUE_TABLE_MIN_SIZE, 256, dtype=np.uint16))


def _hard_inputs(fmt, dtype, seed=0):
    width = np.dtype(dtype).itemsize * 8
    utype = np.dtype(f"uint{width}")
    vals = fmt.values()
    vals = np.unique(vals[np.isfinite(vals)])
    with np.errstate(over="ignore"):
        centres = np.concatenate([vals, (vals[:-1] + vals[1:]) / 2, [fmt.max * 1.0625, fmt.max * 2]]).astype(dtype)
    cb = centres.view(utype).astype(np.uint64)
    offsets = np.array([0, 1, 2, (1 << 16) - 1, 1 << 16, (1 << 16) + 1], dtype=np.uint64)
    near = np.concatenate([cb[:, None] + offsets, cb[:, None] - offsets]).reshape(-1)
    rand = np.random.default_rng(seed).integers(0, np.iinfo(utype).max, size=_LUT_MIN_SIZE, dtype=utype,
                                                endpoint=True).astype(np.uint64)
    allb = np.concatenate([near, rand])
    if width < 64:
        allb &= np.uint64((1 << width) - 1)
    return allb.astype(utype).view(dtype)


@pytest.mark.parametrize("fmt", FORMATS[:3] + [pytest.param(f, marks=pytest.mark.slow) for f in FORMATS[3:]],
                         ids=str)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("roundings", [("rne",), pytest.param(("rtz", "rna", "ceil"), marks=pytest.mark.slow)])
def test_one_pass_quantize_equals_decode_of_encode(fmt, dtype, roundings):
    x = _hard_inputs(fmt, dtype).reshape(-1, 2)
    for rounding in roundings:
        for payload in (False, True):
            got = fmt.quantize(x, rounding, nan_payload=payload)
            want = fmt.decode(fmt.encode(x, rounding, nan_payload=payload))
            assert got.shape == x.shape
            np.testing.assert_array_equal(got.view(np.uint64), want.view(np.uint64),
                                          err_msg=f"{fmt} {rounding} payload={payload}")
