"""sim.lint: generated Verilog is clean under verilator --lint-only -Wall, with listed waivers."""

import pytest
from amaranth.hdl import Module, Mux

import numfmt as nf
from numfmt import sim
from numfmt.hw.rtl import Field, Lanes, Unit, pipeline


@pytest.mark.parametrize("make", [
    lambda u: u["Mul8"](0), lambda u: u["Mul8"](1), lambda u: u["Mul8"](3),
    lambda u: u["Acc8"](), lambda u: Lanes(lambda: u["Mul8"](2), 4), lambda u: Lanes(u["Acc8"], 3),
], ids=["mul-s0", "mul-s1", "mul-s3", "acc", "mul-lanes", "acc-lanes"])
def test_units_lint_clean(units, make):
    waived = sim.lint(make(units))
    assert {w.rule for w in waived} <= set(sim.WAIVERS)
    for w in waived:     # a port of the top module is never waived
        if w.rule == "UNUSEDSIGNAL" and w.instance is None:
            assert w.signal not in ("i__payload", "o__payload", "i__valid", "o__ready")


class SatAdd(Unit):
    """Signed saturating adder: Amaranth's signed compares give WIDTHEXPAND (waived)."""

    def __init__(self):
        fmt = nf.IntFormat(6)
        super().__init__({"a": Field.of(fmt), "b": Field.of(fmt)}, {"y": Field.of(fmt)})
        self.latency = 1

    def elaborate(self, platform):
        m = Module()
        s = self.i.payload.a.as_signed() + self.i.payload.b.as_signed()
        y = Mux(s > 31, 31, Mux(s < -32, -32, s))
        pipeline(m, self.i, self.o, y[:6], 1)
        return m


def test_signed_arithmetic_lints_clean_with_waivers():
    waived = sim.lint(SatAdd())
    assert "WIDTHEXPAND" in {w.rule for w in waived}
    with pytest.raises(sim.LintError, match="WIDTHEXPAND"):
        sim.lint(SatAdd(), waivers={k: v for k, v in sim.WAIVERS.items() if k != "WIDTHEXPAND"})


class IgnoresValid(Unit):
    """Combinational, always valid: never reads ``i__valid``, which Verilator reports."""

    def __init__(self):
        fmt = nf.IntFormat(8, signed=False)
        super().__init__({"a": Field.of(fmt)}, {"y": Field.of(fmt)})
        self.latency = 0

    def elaborate(self, platform):
        m = Module()
        m.d.comb += [self.o.payload.y.eq(self.i.payload.a), self.o.valid.eq(1),
                     self.i.ready.eq(self.o.ready)]
        return m


def test_unused_top_port_is_reported():
    # (unused bits *inside* a payload are not caught: Amaranth's field views read the
    # whole port; the waived UNUSEDSIGNAL lands on the view)
    with pytest.raises(sim.LintError, match=r"1 Verilator lint warning\(s\) not waived:\n"
                                            r".*%Warning-UNUSEDSIGNAL: .*'i__valid'") as info:
        sim.lint(IgnoresValid())
    assert [(w.rule, w.signal) for w in info.value.warnings] == [("UNUSEDSIGNAL", "i__valid")]


def test_no_waivers_reports_the_amaranth_artefacts(units):
    with pytest.raises(sim.LintError, match="PROCASSINIT") as info:
        sim.lint(units["Mul8"](1), waivers={})
    assert {w.rule for w in info.value.warnings} == {"PROCASSINIT", "UNUSEDSIGNAL"}


def test_every_waiver_has_a_reason():
    assert sim.WAIVERS and all(isinstance(r, str) and len(r) > 20 for r in sim.WAIVERS.values())


def test_lint_argument_errors(units):
    with pytest.raises(TypeError, match="unit must be a hw.rtl.Unit, not 3"):
        sim.lint(3)
    with pytest.raises(TypeError, match="waivers must map rule names to reasons"):
        sim.lint(None, waivers={"UNUSEDSIGNAL": 1})
