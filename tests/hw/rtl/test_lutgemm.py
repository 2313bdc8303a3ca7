"""LutDot (hw/rtl/lutgemm.py): RTL == numfmt model in Verilator, cycles == the model's.

The model (numfmt.units.lut_matmul, exact tables, batched) is checked against Python
integers; the RTL against the model with :func:`numfmt.sim.check` — exhaustively where the
input fields total ≤ 16 bits, else corners + ≥ 10^5 seeded random vectors — for plain
and sign-symmetric tables, and every latency (no back-pressure) equals ``G·b``.
"""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest

import numfmt as nf
from numfmt.units import lut_matmul
from numfmt.hw.rtl.lutgemm import LutDot
from numfmt.sim import WAIVERS, check, lint

pytestmark = pytest.mark.filterwarnings("ignore::amaranth.hdl.UnusedElaboratable")

I, U = nf.IntFormat, (lambda bits: nf.IntFormat(bits, signed=False))


@pytest.mark.parametrize("sym", [False, True])
@pytest.mark.parametrize("w, a, n, g, width", [
    (I(2), I(4), 2, 2, None), (U(2), I(3), 3, 2, None), (I(1), I(8), 5, 3, None),
    (I(4), U(8), 8, 4, None), (U(3), U(4), 5, 2, 6), (I(3), I(6), 9, 8, None),
])
def test_model_is_the_integer_dot_product(int_dot, w, a, n, g, width, sym):
    unit = LutDot(w, a, n, g, sign_symmetric=sym, acc_width=width)
    rng = np.random.default_rng(n + g)
    inputs = {name: rng.integers(0, 1 << f.width, 600, dtype=np.uint64) for name, f in unit.in_fields.items()}
    expect = int_dot(inputs, unit.w_fmt, "w", unit.a_fmt, "a", unit.n, unit.out_fmt.bits)
    assert np.array_equal(unit.model(inputs)["y"], expect)
    assert unit.cycles == unit.latency == math.ceil(n / g) * w.bits
    assert unit.entries == (1 << (g - 1) if sym else 1 << g)


EXHAUSTIVE = [(I(2), I(4), 2, 2), (U(2), I(3), 3, 2), (I(2), I(3), 3, 1), (I(1), U(3), 4, 2),
              (U(4), I(4), 2, 1)]


@pytest.mark.parametrize("sym", [False, pytest.param(True, marks=pytest.mark.slow)])
@pytest.mark.parametrize("w, a, n, g", [EXHAUSTIVE[0], pytest.param(*EXHAUSTIVE[1], marks=pytest.mark.slow)])
def test_rtl_exhaustive(w, a, n, g, sym):
    report = check(lambda: LutDot(w, a, n, g, sign_symmetric=sym), idle=0.2, seed=1)
    assert report.n_vectors == 1 << (n * (w.bits + a.bits))
    cycles = lut_matmul(np.zeros((1, n)), np.zeros((n, 1)), w, g=g, sign_symmetric=sym).cycles
    assert set(report.latencies.tolist()) == {cycles}


@pytest.mark.exhaustive
@pytest.mark.parametrize("sym", [False, True])
@pytest.mark.parametrize("w, a, n, g", EXHAUSTIVE[2:])
def test_rtl_exhaustive_more(w, a, n, g, sym):
    report = check(lambda: LutDot(w, a, n, g, sign_symmetric=sym), idle=0.2, backpressure=0.3, seed=2)
    assert report.n_vectors == 1 << (n * (w.bits + a.bits))


@pytest.mark.parametrize("w, a, n, g, sym", [
    pytest.param(I(4), I(8), 8, 4, True, marks=pytest.mark.slow),
    pytest.param(I(4), I(8), 8, 4, False, marks=pytest.mark.exhaustive),
    pytest.param(U(3), U(4), 5, 2, True, marks=pytest.mark.exhaustive),
    pytest.param(I(2), I(6), 7, 3, False, marks=pytest.mark.exhaustive),
])
def test_rtl_random(w, a, n, g, sym):
    make = lambda: LutDot(w, a, n, g, sign_symmetric=sym)
    report = check(make, n_random=100_000, seed=7, idle=0.05)
    assert report.n_vectors >= 100_000
    assert set(report.latencies.tolist()) == {make().cycles}


@pytest.mark.slow
def test_rtl_under_backpressure():
    report = check(lambda: LutDot(I(2), I(4), 2, 2, sign_symmetric=True), seed=3, idle=0.3, backpressure=0.5)
    assert report.latencies.min() == 2 and report.latencies.max() > 2


@pytest.mark.parametrize("sym", [False, True])
@pytest.mark.parametrize("w, a", [(I(4), I(8)), (U(3), U(4))])
def test_lint_clean(w, a, sym):
    unit = LutDot(w, a, 8, 4, sign_symmetric=sym)
    assert {w.rule for w in lint(unit)} <= set(WAIVERS)   # raises LintError on any other


@pytest.mark.parametrize("kwargs, exc, message", [
    ({"w_fmt": nf.FLOATS["e2m1fn"]}, TypeError, r"w_fmt must be a numfmt IntFormat"),
    ({"a_fmt": None}, TypeError, r"a_fmt must be a numfmt IntFormat, not None"),
    ({"n": -1}, ValueError, r"n must be an integer ≥ 1, not -1"),
    ({"g": 9}, ValueError, r"g must be an integer in 1..8, not 9"),
    ({"sign_symmetric": 1}, TypeError, r"sign_symmetric must be a bool, not 1"),
    ({"acc_width": 0}, ValueError, r"acc_width must be an integer in 1..32 or None, not 0"),
    ({"table": "int4"}, ValueError, r"table must be 'exact' or 'int8', not 'int4'"),
    ({"table": "int8", "acc_width": 12}, ValueError, r"acc_width applies to table='exact' only, not 12"),
    ({"table": "int8", "w_fmt": I(8), "a_fmt": I(16), "n": 64}, ValueError,
     r"int8-table result of 64 products of int8 × int16 needs 3\d bits"),
])
def test_errors(kwargs, exc, message):
    args = {"w_fmt": I(2), "a_fmt": I(4), "n": 4, "g": 2} | kwargs
    with pytest.raises(exc, match=message):
        LutDot(**args)


# -- int8 tables (T-MAC) -------------------------------------------------------------------------

def _int8_reference(unit, inputs, t):
    """T-MAC's int8 tables with Python ints and Fractions: the numerator N of N / denominator."""
    w = [int(unit.w_fmt.decode_int([inputs[f"w{k}"][t]])[0]) for k in range(unit.n)]
    a = [int(unit.a_fmt.decode_int([inputs[f"a{k}"][t]])[0]) for k in range(unit.n)]
    g, G, b = unit.g, unit.groups, unit.w_fmt.bits
    w += [0] * (G * g - unit.n)
    a += [0] * (G * g - unit.n)
    sym = unit.sign_symmetric
    patterns = range(1 << (g - 1)) if sym else range(1 << g)
    total = 0
    for j in range(G):
        ag = a[j * g:(j + 1) * g]
        table = {p: sum((2 * (p >> k & 1) - 1 if sym else p >> k & 1) * ag[k] for k in range(g)) for p in patterns}
        scale = max(abs(v) for v in table.values())
        q = {p: round(Fraction(127 * v, scale)) if scale else 0 for p, v in table.items()}   # ties to even
        if sym:
            q.update({p ^ ((1 << g) - 1): -v for p, v in list(q.items())})
        for i in range(b):
            weight = -(1 << i) if (unit.w_fmt.signed and i == b - 1) else 1 << i
            bits = [(w[j * g + k] >> i) & 1 for k in range(g)]        # two's complement bits of w
            pattern = sum(bit << k for k, bit in enumerate(bits))
            total += weight * scale * q[pattern]
    if sym:
        sum_w = -1 if unit.w_fmt.signed else (1 << b) - 1
        total += 127 * sum(a) * sum_w
    return total


@pytest.mark.parametrize("sym", [False, True])
@pytest.mark.parametrize("w, a, n, g", [(I(2), I(4), 2, 2), (U(2), I(3), 3, 2), (I(1), I(8), 5, 3),
                                        (I(4), U(8), 8, 4), (U(3), U(4), 5, 2), (I(3), I(6), 9, 8)])
def test_int8_model_against_python(w, a, n, g, sym):
    unit = LutDot(w, a, n, g, sign_symmetric=sym, table="int8")
    rng = np.random.default_rng(n * g + sym)
    inputs = {name: rng.integers(0, 1 << f.width, 300, dtype=np.uint64) for name, f in unit.in_fields.items()}
    got = unit.out_fmt.decode_int(unit.model(inputs)["y"])
    assert got.tolist() == [_int8_reference(unit, inputs, t) for t in range(300)]
    assert unit.denominator == (254 if sym else 127) and unit.latency == unit.cycles


@pytest.mark.parametrize("w, a, n, g, sym", [pytest.param(I(2), I(4), 2, 2, False, marks=pytest.mark.slow),
                                             pytest.param(I(2), I(4), 2, 2, True, marks=pytest.mark.slow),
                                             *(pytest.param(*c, sym, marks=pytest.mark.exhaustive)
                                               for c in [(U(2), I(3), 3, 2), (I(1), U(3), 4, 2)]
                                               for sym in (False, True))])
def test_int8_rtl_exhaustive(w, a, n, g, sym):
    report = check(lambda: LutDot(w, a, n, g, sign_symmetric=sym, table="int8"), idle=0.1, backpressure=0.2,
                   seed=4)
    assert report.n_vectors == 1 << (n * (w.bits + a.bits))


@pytest.mark.parametrize("w, a, n, g, sym", [      # (a divider per table entry: large builds)
    pytest.param(I(3), I(4), 6, 2, True, marks=pytest.mark.slow),
    pytest.param(I(4), I(6), 6, 3, False, marks=pytest.mark.exhaustive),
    pytest.param(U(3), U(4), 5, 2, True, marks=pytest.mark.exhaustive),
    pytest.param(I(2), I(6), 5, 3, False, marks=pytest.mark.exhaustive),
])
def test_int8_rtl_random(w, a, n, g, sym):
    make = lambda: LutDot(w, a, n, g, sign_symmetric=sym, table="int8")  # noqa: E731
    report = check(make, n_random=100_000, seed=8, idle=0.05)
    assert report.n_vectors >= 100_000 and set(report.latencies.tolist()) == {make().cycles}


@pytest.mark.parametrize("sym", [False, True])
def test_int8_lint_clean(sym):
    assert {w.rule for w in lint(LutDot(I(3), I(4), 6, 2, sign_symmetric=sym, table="int8"))} <= set(WAIVERS)
