"""hw.rtl.lmul.LMul in Verilator against numfmt.units.lmul, code for code (sim.check, every code pair)."""

from __future__ import annotations

import pytest

import numfmt as nf
from numfmt import sim
from numfmt.hw.rtl.lmul import LMul

P = nf.parse
pytestmark = pytest.mark.filterwarnings("ignore::amaranth.hdl.UnusedElaboratable")

SAMPLE = [
    ("e4m3fn", None, None, "normalize", "formula"),
    ("e3m2", None, None, "flush", "adder"),
    ("e3m2(specials=fnuz,subnormals=false)", "e5m2", None, "normalize", "adder"),
]
EXHAUSTIVE = [
    ("e2m1fn", "bf16", "rtz", "normalize", "formula"),
    ("e5m2", None, None, "normalize", "formula"), ("e5m2", "e4m3", "floor", "flush", "adder"),
    ("e4m3fn", "fp16", None, "normalize", "adder"), ("e3m4", None, "rna", "normalize", "formula"),
    ("e2m0(specials=none)", "e4m3fn", None, "normalize", "formula"),
    ("e2m0(specials=none)", None, None, "normalize", "adder"), ("e2m4", "fp16", None, "normalize", "formula"),
    ("e5m2fnuz", None, None, "normalize", "formula"), ("e3m2fn", None, None, "flush", "adder"),
]


@pytest.mark.slow
@pytest.mark.parametrize("fmt,out,rounding,subnormals,mode", SAMPLE)
def test_sample_every_code_pair(fmt, out, rounding, subnormals, mode):
    f = P(fmt)
    report = sim.check(lambda: LMul(f, P(out) if out else None, out_rounding=rounding,
                                    subnormals=subnormals, mode=mode), lanes=4)
    assert report.n_vectors == 1 << (2 * f.bits)


@pytest.mark.slow
def test_offset_exp_and_parameters():
    assert LMul(P("e4m3fn"), offset_exp=1, stages=2).parameters() == {"fmt": "e4m3fn", "out": "e4m3fn", "rounding": "rne",
                              "subnormals": "normalize", "offset_exp": 1, "mode": "formula", "stages": 2}
    sim.check(lambda: LMul(P("e3m2fn"), offset_exp=0), lanes=4)


def test_errors():
    with pytest.raises(TypeError, match="fmt must be a numfmt.FloatFormat, not IntFormat"):
        LMul(nf.IntFormat(8))
    with pytest.raises(ValueError, match="out_rounding must be a deterministic mode"):
        LMul(P("e4m3fn"), out_rounding="stochastic")
    with pytest.raises(ValueError, match="subnormals must be one of"):
        LMul(P("e4m3fn"), subnormals="keep")
    with pytest.raises(ValueError, match="offset_exp"):
        LMul(P("e4m3fn"), offset_exp=9)


def test_lint_clean():
    from numfmt.sim._lint import WAIVERS
    waivers = dict(WAIVERS, WIDTHEXPAND="Amaranth's back end writes each operand at its own width "
                                        "and relies on Verilog's context-determined extension")
    sim.lint(LMul(P("e4m3fn"), mode="adder"), waivers=waivers)


@pytest.mark.exhaustive
@pytest.mark.parametrize("fmt,out,rounding,subnormals,mode", EXHAUSTIVE)
def test_every_code_pair(fmt, out, rounding, subnormals, mode):
    sim.check(lambda: LMul(P(fmt), P(out) if out else None, out_rounding=rounding,
                           subnormals=subnormals, mode=mode), lanes=8)
