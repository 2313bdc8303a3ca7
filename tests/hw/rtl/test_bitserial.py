"""BitSerialDot (hw/rtl/bitserial.py): RTL == numfmt model in Verilator, cycles == the model's.

The model (numfmt.units.bitserial_matmul, batched) is checked against Python integers;
the RTL against the model with :func:`numfmt.sim.check` — exhaustively where the input fields
total ≤ 16 bits, else corners + ≥ 10^5 seeded random vectors — and every transaction's
latency (idle cycles on the input, no back-pressure) equals ``bitserial_dot(...).cycles``.
"""

from __future__ import annotations

import numpy as np
import pytest

import numfmt as nf
from numfmt.units import bitserial_dot
from numfmt.hw.rtl.bitserial import BitSerialDot
from numfmt.sim import WAIVERS, MismatchError, check, lint

pytestmark = pytest.mark.filterwarnings("ignore::amaranth.hdl.UnusedElaboratable")

I, U = nf.IntFormat, (lambda bits: nf.IntFormat(bits, signed=False))


def random_codes(unit, T, seed):
    rng = np.random.default_rng(seed)
    return {name: rng.integers(0, 1 << f.width, T, dtype=np.uint64) for name, f in unit.in_fields.items()}


@pytest.mark.parametrize("a, b, n, serial, width", [
    (I(4), I(4), 2, "a", None), (I(4), I(4), 2, "both", None), (U(3), I(5), 3, "both", None),
    (I(1), U(1), 5, "both", None), (U(8), U(8), 4, "a", None), (I(8), I(2), 7, "both", 6),
    (I(6), U(7), 3, "a", 5),
])
def test_model_is_the_integer_dot_product(int_dot, a, b, n, serial, width):
    unit = BitSerialDot(a, b, n, serial, acc_width=width)
    inputs = random_codes(unit, 700, seed=n)
    expect = int_dot(inputs, unit.a_fmt, "a", unit.b_fmt, "b", unit.n, unit.out_fmt.bits)
    assert np.array_equal(unit.model(inputs)["y"], expect)
    assert unit.cycles == unit.latency == (a.bits if serial == "a" else a.bits * b.bits)
    if width is None:
        lo = n * min(x * y for x in (a.min, a.max) for y in (b.min, b.max))
        hi = n * max(x * y for x in (a.min, a.max) for y in (b.min, b.max))
        assert unit.out_fmt.min <= lo and hi <= unit.out_fmt.max       # exact width


# every configuration whose input fields total ≤ 16 bits is checked on every input
EXHAUSTIVE = [(I(4), I(4), 2, "a"), (I(4), I(4), 2, "both"), (U(3), I(5), 2, "both"),
              (I(1), U(1), 3, "both"), (U(3), U(3), 2, "a"), (I(1), I(8), 1, "a"),
              (I(2), I(2), 4, "both"), (U(2), I(2), 4, "a")]


@pytest.mark.parametrize("a, b, n, serial", [EXHAUSTIVE[0], pytest.param(*EXHAUSTIVE[1], marks=pytest.mark.slow)])
def test_rtl_exhaustive(a, b, n, serial):
    make = lambda: BitSerialDot(a, b, n, serial)
    report = check(make, idle=0.2, seed=3)
    assert report.n_vectors == 1 << (n * (a.bits + b.bits))
    cycles = bitserial_dot(np.zeros(n), np.zeros(n), a, b, mode=f"serial_{serial}").cycles
    assert set(report.latencies.tolist()) == {cycles}


@pytest.mark.exhaustive
@pytest.mark.parametrize("a, b, n, serial", EXHAUSTIVE[2:])
def test_rtl_exhaustive_more(a, b, n, serial):
    report = check(lambda: BitSerialDot(a, b, n, serial), idle=0.2, backpressure=0.3, seed=4)
    assert report.n_vectors == 1 << (n * (a.bits + b.bits))


@pytest.mark.parametrize("a, b, n, serial, width", [
    pytest.param(I(8), I(8), 4, "both", None, marks=pytest.mark.slow),
    pytest.param(U(5), I(7), 6, "a", 12, marks=pytest.mark.exhaustive)])
def test_rtl_random(a, b, n, serial, width):
    make = lambda: BitSerialDot(a, b, n, serial, acc_width=width)
    report = check(make, n_random=100_000, seed=11, idle=0.05)
    assert report.n_vectors >= 100_000
    assert set(report.latencies.tolist()) == {make().cycles}


@pytest.mark.slow
def test_rtl_under_backpressure():
    report = check(lambda: BitSerialDot(I(4), I(4), 2, "a"), seed=5, idle=0.3, backpressure=0.5)
    assert report.latencies.min() == 4 and report.latencies.max() > 4


@pytest.mark.slow
def test_checker_reports_a_wrong_model():
    unit = BitSerialDot(I(2), I(2), 2, "a")

    def off_by_one(inputs):
        y = unit.model(inputs)["y"]
        y[7] ^= np.uint64(1)
        return {"y": y}

    with pytest.raises(MismatchError, match=r"(?s)vector 7.*a0=.*expected.*seed=9"):
        check(unit, model=off_by_one, seed=9)


@pytest.mark.parametrize("args", [(I(4), I(4), 3, "a"), (U(3), I(5), 2, "both"), (I(8), U(8), 16, "both")])
def test_lint_clean(args):
    assert {w.rule for w in lint(BitSerialDot(*args))} <= set(WAIVERS)   # raises LintError on any other


def test_fields_and_parameters():
    unit = BitSerialDot(I(3), U(2), 2, "both", acc_width=9)
    assert list(unit.in_fields) == ["a0", "a1", "b0", "b1"]
    assert unit.out_fields["y"].format == I(9, overflow="wrap")
    assert unit.parameters() == {"a_fmt": "int3", "b_fmt": "uint2", "n": 2, "serial": "both", "width": 9}


@pytest.mark.parametrize("kwargs, exc, message", [
    ({"a_fmt": nf.FLOATS["e4m3fn"]}, TypeError, r"a_fmt must be a numfmt IntFormat, not FloatFormat"),
    ({"b_fmt": "int4"}, TypeError, r"b_fmt must be a numfmt IntFormat, not 'int4'"),
    ({"n": 0}, ValueError, r"n must be an integer ≥ 1, not 0"),
    ({"serial": "b"}, ValueError, r"serial must be 'a' or 'both', not 'b'"),
    ({"acc_width": 33}, ValueError, r"acc_width must be an integer in 1..32 or None, not 33"),
    ({"a_fmt": I(16), "b_fmt": I(16), "n": 8}, ValueError, r"needs 35 bits, more than an IntFormat holds"),
])
def test_errors(kwargs, exc, message):
    args = {"a_fmt": I(4), "b_fmt": I(4), "n": 2, "serial": "a"} | kwargs
    with pytest.raises(exc, match=message):
        BitSerialDot(**args)
