"""The unit models' inf/NaN behaviour (now numfmt.arith's) against a Fraction reference.

``FloatMul.model``, ``FloatAccMac.model`` and ``BlockDot.model`` call
:func:`numfmt.arith.multiply`, ``matmul`` with ``nonfinite="ieee"`` and ``block_matmul``
with ``ExactAccumulator(nonfinite="ieee")`` instead of writing the IEEE rules themselves.
Here every pair of codes of ``e4m3`` (IEEE-like specials) × ``e5m2`` goes through the
models and is compared, code for code (NaN signs included), with the reference of
``tests/numfmt/arith/arith_reference.py``, written from the IEEE rules and
``docs/arithmetic.md`` (*Non-finite values*). The RTL tests check the models against the
hardware.
"""

from __future__ import annotations

import math
import os
import sys
from fractions import Fraction

import numpy as np
import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "numfmt", "arith"))
import arith_reference as R  # noqa: E402

import numfmt as nf  # noqa: E402
from numfmt.arith import FloatAccumulator  # noqa: E402
from numfmt.hw.rtl.blockdot import BlockDot  # noqa: E402
from numfmt.hw.rtl.fpmul import FloatMul  # noqa: E402
from numfmt.hw.rtl.mac import FloatAccMac  # noqa: E402
from numfmt.sim import vectors  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore::amaranth.hdl.UnusedElaboratable")

F = nf.FLOATS
E4M3, E5M2 = nf.parse("e4m3"), F["e5m2"]
E4M3FN_SAT = nf.FloatFormat(4, 3, bias=7, specials="fn", overflow="sat")
CODES = np.arange(256, dtype=np.uint64)
A_CODES, B_CODES = (c.reshape(-1) for c in np.meshgrid(CODES, CODES, indexing="ij"))
A_VALS, B_VALS = E4M3.decode(A_CODES), E5M2.decode(B_CODES)


def round_value(fmt, x: float, rounding) -> float:
    """A single value (exact float, inf or signed NaN) rounded to ``fmt``, by the reference."""
    if math.isnan(x):
        return x
    if math.isinf(x):
        return R.hold_inf(fmt, x < 0)
    if x == 0:
        return R.round_to_format(fmt, Fraction(0), rounding, math.copysign(1, x) < 0)
    v = R.round_to_format(fmt, Fraction(x), rounding)
    return math.copysign(math.nan, x) if math.isnan(v) else v


def code(fmt, v: float) -> int:
    return int(fmt.encode(np.array([v]))[0])


@pytest.mark.parametrize("out, rounding", [(E5M2, "rne"), (F["e4m3fn"], "floor"),
                                           pytest.param(E4M3, "rtz", marks=pytest.mark.slow),
                                           pytest.param(E4M3FN_SAT, "rna", marks=pytest.mark.slow),
                                           pytest.param(F["e4m3fnuz"], "ceil", marks=pytest.mark.slow)],
                         ids=lambda v: str(v))
def test_floatmul_model_every_pair(out, rounding):
    got = FloatMul(E4M3, E5M2, out, rounding=rounding).model({"a": A_CODES, "b": B_CODES})["p"]
    memo = {}
    want = []
    for x, y in zip(A_VALS.tolist(), B_VALS.tolist()):
        p = R.ref_product(x, y)
        key = (p.hex(), math.copysign(1, p))
        if key not in memo:
            memo[key] = round_value(out, p, rounding)
        want.append(memo[key])
    want = out.encode(np.array(want)).astype(np.uint64).tolist()   # exact values and signed NaNs
    bad = np.flatnonzero(got != np.array(want, dtype=np.uint64))
    assert not bad.size, (f"{A_VALS[bad[0]]!r} × {B_VALS[bad[0]]!r}: code {int(got[bad[0]]):#x}, "
                          f"expected {want[bad[0]]:#x}")


@pytest.mark.parametrize("reg, rounding", [(E5M2, "rne"), (F["e4m3fn"], "floor"),
                                           pytest.param(F["fp16"], "rne", marks=pytest.mark.slow),
                                           pytest.param(E4M3FN_SAT, "ceil", marks=pytest.mark.slow)],
                         ids=lambda v: str(v))
def test_floataccmac_model_every_pair(reg, rounding):
    """Every pair once, in sums of three products (random order), from +0 at every ``first``."""
    order = np.random.default_rng(reg.bits).permutation(A_CODES.size)
    first = (np.arange(order.size) % 3 == 0).astype(np.uint64)
    got = FloatAccMac(E4M3, E5M2, FloatAccumulator(reg, rounding=rounding)).model(
        {"a": A_CODES[order], "b": B_CODES[order], "first": first})["acc"]
    memo, want, r = {}, [], 0.0
    for t, (x, y) in enumerate(zip(A_VALS[order].tolist(), B_VALS[order].tolist())):
        if first[t]:
            r = 0.0
        p = R.ref_product(x, y)
        key = (r.hex(), math.copysign(1, r), p.hex())   # ieee_add reads no NaN sign
        if key not in memo:
            memo[key] = R.ieee_add(reg, rounding, r, p)
        r = memo[key]
        want.append(r)
    want = reg.encode(np.array(want)).astype(np.uint64).tolist()   # exact values and signed NaNs
    bad = np.flatnonzero(got != np.array(want, dtype=np.uint64))
    assert not bad.size, f"transaction {bad[0]}: code {int(got[bad[0]]):#x}, expected {want[bad[0]]:#x}"


@pytest.mark.parametrize("out_fmt", [None, F["e4m3fn"], F["fp16"]], ids=str)
def test_blockdot_model_ieee_elements(out_fmt):
    """Elements with inf/NaN codes (e3m2 ieee), E8M0 scales including NaN: corners and random."""
    fmt = nf.BlockFormat(nf.FloatFormat(3, 2), 2)
    unit = BlockDot(fmt, out_fmt=out_fmt)
    inputs = vectors.generate(unit.in_fields, n_random=3000, seed=21, max_cross=1 << 13)
    got = unit.model(inputs)
    el, sc = fmt.element, fmt.scale
    a = el.decode(np.stack([inputs["a0"], inputs["a1"]], axis=1))
    b = el.decode(np.stack([inputs["b0"], inputs["b1"]], axis=1))
    s = sc.decode(np.stack([inputs["sa"], inputs["sb"]], axis=1))
    seen = set()
    for t in range(a.shape[0]):
        value = R.exact_ieee_sum([R.ref_product(float(x), float(y)) for x, y in zip(a[t], b[t])])
        if not (np.isfinite(s[t]).all() and (s[t] > 0).all()):
            value = math.nan                               # a NaN scale
        elif math.isfinite(value):
            value = float(Fraction(value) * Fraction(float(s[t, 0])) * Fraction(float(s[t, 1])))
        kind = 1 if math.isnan(value) else 2 if value == math.inf else 3 if value == -math.inf else 0
        seen.add(kind)
        if out_fmt is not None:
            assert int(got["y"][t]) == code(out_fmt, round_value(out_fmt, value, "rne")), t
            continue
        assert int(got["special"][t]) == kind, t
        if kind == 0:
            y = unit.y_fmt.decode(got["y"][t:t + 1])[0]
            e = int(unit.e_fmt.decode_int(got["e"][t:t + 1])[0])
            assert Fraction(float(y)) * Fraction(2) ** e == Fraction(value), t
        else:
            assert int(got["y"][t]) == 0 and int(got["e"][t]) == 0
    assert seen == {0, 1, 2, 3}
