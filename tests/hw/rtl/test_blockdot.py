"""BlockDot (hw/rtl/blockdot.py): RTL == numfmt model in Verilator; model == block_dot == Fractions.

The model is checked against ``numfmt.arith.block_dot`` (the lead's definition, one call per
vector) and, in the exact mode, against a ``Fraction`` reference written here from the
decoded element and scale values; the RTL against the model with :func:`numfmt.sim.check` on
corner + ≥ 10^5 seeded random vectors (the scale and element corners include NaN
scales and NaN/inf element codes), exact output and output rounded to a float format.
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest

import numfmt as nf
from numfmt.arith import block_dot
from numfmt.hw.rtl.blockdot import BlockDot
from numfmt.sim import WAIVERS, check, lint, vectors

pytestmark = pytest.mark.filterwarnings("ignore::amaranth.hdl.UnusedElaboratable")

F = nf.FLOATS
MXFP4 = nf.BlockFormat(F["e2m1fn"], 4)
E4M3 = nf.BlockFormat(F["e4m3fn"], 8)
E3M2 = nf.BlockFormat(F["e3m2fn"], 4)
MXINT8 = nf.BlockFormat(nf.BLOCKS["mxint8"].element, 4)
INT4_SCALE = nf.BlockFormat(nf.IntFormat(4), 4, scale=nf.IntFormat(5), nan_policy="propagate-per-element")
IEEE = nf.BlockFormat(nf.FloatFormat(3, 2), 2)          # element with inf and NaN codes
BFP8 = nf.BlockFormat(nf.SignMagFormat(8), 8)            # classic BFP: sign-magnitude, E8M0 scale
BFP4 = nf.BlockFormat(nf.SignMagFormat(4), 4, scale=nf.IntFormat(6), nan_policy="propagate-per-element")


def random_vectors(unit, n, seed):
    return vectors.generate(unit.in_fields, n_random=n, seed=seed)


def element_values(unit, inputs, t):
    k = unit.k
    a = unit.a_fmt.element.decode(np.array([inputs[f"a{j}"][t] for j in range(k)], dtype=np.uint64))
    b = unit.b_fmt.element.decode(np.array([inputs[f"b{j}"][t] for j in range(k)], dtype=np.uint64))
    return a, b


@pytest.mark.parametrize("fmt, out_fmt", [(MXFP4, None), (E4M3, F["fp32"]), (E3M2, F["e4m3fn"]),
                                          (MXINT8, None), (INT4_SCALE, F["bf16"]), (BFP8, None),
                                          (BFP4, F["e4m3fn"])])
def test_model_agrees_with_block_dot(fmt, out_fmt):
    unit = BlockDot(fmt, out_fmt=out_fmt)
    inputs = random_vectors(unit, 150, seed=4)
    rows = np.arange(len(inputs["sa"]))[-150:]          # the random vectors (after the corners)
    got = unit.model({k: v[rows] for k, v in inputs.items()})
    for i, t in enumerate(rows):
        a, b = element_values(unit, inputs, t)
        if not (np.isfinite(a).all() and np.isfinite(b).all()):
            continue
        ref = block_dot(np.array([inputs[f"a{j}"][t] for j in range(unit.k)]), np.array([inputs["sa"][t]]),
                        np.array([inputs[f"b{j}"][t] for j in range(unit.k)]), np.array([inputs["sb"][t]]),
                        fmt, out_format=out_fmt)
        if out_fmt is None:
            special = int(got["special"][i])
            if np.isnan(ref):
                assert special == 1
                continue
            value = unit.y_fmt.decode(got["y"][i:i + 1])[0] * 2.0 ** int(unit.e_fmt.decode_int(got["e"][i:i + 1])[0])
            assert special == 0 and value == ref
        else:
            assert int(got["y"][i]) == int(out_fmt.encode(np.array([ref]))[0])


@pytest.mark.parametrize("fmt", [MXFP4, E4M3, MXINT8, IEEE, INT4_SCALE, BFP8, BFP4])
def test_exact_model_against_fractions(fmt):
    unit = BlockDot(fmt)
    inputs = random_vectors(unit, 300, seed=8)
    T = len(inputs["sa"])
    rows = np.concatenate([np.arange(min(T, 300)), np.arange(T)[-300:]])
    got = unit.model({k: v[rows] for k, v in inputs.items()})
    scale = fmt.scale
    for i, t in enumerate(rows):
        a, b = element_values(unit, inputs, t)
        sv = scale.decode(np.array([inputs["sa"][t], inputs["sb"][t]], dtype=np.uint64))
        if isinstance(scale, nf.IntFormat):
            ea, eb = (int(scale.decode_int(np.array([inputs[s][t]], dtype=np.uint64))[0]) for s in ("sa", "sb"))
            scale_nan = False
        else:
            scale_nan = not (np.isfinite(sv).all() and (sv > 0).all())
            ea, eb = (Fraction(float(v)).limit_denominator(1 << 300) for v in sv) if not scale_nan else (0, 0)
        with np.errstate(invalid="ignore"):
            products = [x * y for x, y in zip(a, b)]
        if scale_nan or any(np.isnan(p) for p in products) or (np.inf in products and -np.inf in products):
            expect = (0, 0, 1)
        elif np.inf in products or -np.inf in products:
            expect = (0, 0, 2 if np.inf in products else 3)
        else:
            dot = sum(Fraction(float(x)) * Fraction(float(y)) for x, y in zip(a, b))
            q = Fraction(2) ** unit.quantum_exp
            assert (dot / q).denominator == 1
            e = (ea + eb) if isinstance(scale, nf.IntFormat) else (ea * eb).numerator.bit_length() - 1 - \
                (ea * eb).denominator.bit_length() + 1
            expect = (int(dot / q) % (1 << unit.sum_width), e % (1 << unit.e_fmt.bits), 0)
        assert (int(got["y"][i]), int(got["e"][i]), int(got["special"][i])) == expect, (t, a, b, sv)


@pytest.mark.parametrize("fmt, kwargs", [
    pytest.param(MXFP4, {}, marks=pytest.mark.slow),
    pytest.param(INT4_SCALE, {"out_fmt": F["e5m2"], "stages": 0}, marks=pytest.mark.slow),
    pytest.param(BFP8, {}, marks=pytest.mark.slow),
    pytest.param(BFP8, {"out_fmt": F["bf16"], "stages": 2}, marks=pytest.mark.exhaustive),
    pytest.param(BFP4, {}, marks=pytest.mark.exhaustive),
    pytest.param(E4M3, {"out_fmt": F["fp32"]}, marks=pytest.mark.sweep),       # 9 min in CI's suite: -m sweep
    pytest.param(E4M3, {}, marks=pytest.mark.exhaustive),
    pytest.param(E3M2, {"out_fmt": F["e4m3fn"], "stages": 3}, marks=pytest.mark.exhaustive),
    pytest.param(E3M2, {"out_fmt": F["bf16"], "rounding": "rtz"}, marks=pytest.mark.exhaustive),
    pytest.param(MXINT8, {}, marks=pytest.mark.exhaustive),
    pytest.param(MXINT8, {"out_fmt": F["fp16"], "rounding": "floor"}, marks=pytest.mark.exhaustive),
    pytest.param(IEEE, {}, marks=pytest.mark.exhaustive),
    pytest.param(IEEE, {"out_fmt": F["fp16"]}, marks=pytest.mark.sweep),        # 5 min: -m sweep
    pytest.param(INT4_SCALE, {}, marks=pytest.mark.exhaustive),
])
def test_rtl_random(fmt, kwargs):
    make = lambda: BlockDot(fmt, **kwargs)
    report = check(make, n_random=100_000, seed=12, idle=0.05, backpressure=0.1, lanes=4)
    assert report.n_vectors >= 100_000
    assert report.latencies.min() == make().latency


@pytest.mark.parametrize("fmt, kwargs", [(E4M3, {}), (E3M2, {"out_fmt": F["fp32"]}), (MXINT8, {}), (BFP8, {})])
def test_lint_clean(fmt, kwargs):
    assert {w.rule for w in lint(BlockDot(fmt, **kwargs))} <= set(WAIVERS)   # raises LintError on any other


def test_bfp_fields():
    unit = BlockDot(BFP8)          # 8 products of two 7-bit magnitudes: |D| ≤ 8 · 127²
    assert unit.sum_width == 18 and unit.quantum_exp == 0 and list(unit.in_fields)[:3] == ["sa", "sb", "a0"]


def test_fields():
    unit = BlockDot(E4M3)
    assert unit.sum_width == 40 and unit.quantum_exp == -18 and unit.exp_range == (-254, 254)
    assert str(unit.y_fmt) == str(nf.FixedFormat(40, 22)) and unit.e_fmt == nf.IntFormat(9)
    assert list(BlockDot(MXFP4, out_fmt=F["fp32"]).out_fields) == ["y"]


@pytest.mark.parametrize("args, kwargs, exc, message", [
    (("mxfp4",), {}, TypeError, r"block_fmt must be a numfmt BlockFormat, not 'mxfp4'"),
    ((MXFP4, nf.BlockFormat(F["e2m1fn"], 8)), {}, ValueError, r"b_fmt.block must equal block_fmt.block \(4\), not 8"),
    ((MXFP4,), {"out_fmt": nf.IntFormat(8)}, TypeError, r"out_fmt must be a numfmt FloatFormat or None"),
    ((MXFP4,), {"stages": -1}, ValueError, r"stages must be an integer ≥ 0, not -1"),
    ((MXFP4,), {"rounding": "stochastic"}, ValueError, r"rounding must be a deterministic mode"),
    ((nf.BlockFormat(F["e5m2"], 32),), {}, ValueError, r"needs 70 bits; the model \(float64\) holds 53"),
])
def test_errors(args, kwargs, exc, message):
    with pytest.raises(exc, match=message):
        BlockDot(*args, **kwargs)
