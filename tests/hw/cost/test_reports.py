"""The Yosys ``stat -json`` and nextpnr ``--report`` parsers, on fixtures the real tools wrote
(``fixtures/make_fixtures.py``), and on truncated and incomplete copies of them."""

import copy
import json
import re
from pathlib import Path

import pytest

from numfmt.hw.cost import cells
from numfmt.hw.cost.reports import (CriticalPath, NextpnrReport, ReportError, YosysStat, parse_nextpnr_report,
                                    parse_yosys_stat, read_nextpnr_report, read_yosys_stat)

FIXTURES = Path(__file__).parent / "fixtures"
STAT_XILINX = FIXTURES / "yosys_stat_xilinx.json"
STAT_ECP5 = FIXTURES / "yosys_stat_ecp5.json"
PNR_ECP5 = FIXTURES / "nextpnr_report_ecp5.json"


# -- the fixtures read as the tools wrote them -------------------------------------------------
def test_yosys_stat_xilinx_fixture():
    # IntMac(int8, int8, 20-bit register), synth_xilinx -nodsp: 16 + 2 stage bits, 20 + 1 accumulator bits
    stat = read_yosys_stat(STAT_XILINX)
    assert isinstance(stat, YosysStat)
    assert stat.modules == ("intmac_int8_int8_20_wrap_1",)
    assert stat.creator.startswith("Yosys 0.")
    assert stat.cells_by_type == {"CARRY4": 9, "FDRE": 39, "LUT2": 35, "LUT3": 34, "LUT4": 22, "LUT5": 48, "LUT6": 17}
    assert stat.num_cells == sum(stat.cells_by_type.values())
    assert [c for c, _ in stat.cells] == sorted(stat.cells_by_type)
    counts = cells.classify("xilinx", stat.cells_by_type)
    assert (counts["lut"], counts["ff"], counts["carry"], counts["dsp"], counts["other"]) == (156, 39, 9, 0, {})


def test_yosys_stat_ecp5_fixture():
    # FloatMul(e2m1fn), synth_ecp5: a 4-bit output register and its valid bit
    stat = read_yosys_stat(STAT_ECP5)
    assert stat.modules == ("floatmul_e2m1fn_e2m1fn_e2m1fn_rne_1",)
    assert stat.num_cells == sum(stat.cells_by_type.values()) == 56
    counts = cells.classify("ecp5", stat.cells_by_type)
    assert (counts["lut"], counts["ff"], counts["dsp"], counts["carry"], counts["mux"]) == (37, 5, 1, 6, 7)
    assert counts["other"] == {}


def test_nextpnr_report_fixture():
    report = read_nextpnr_report(PNR_ECP5)
    assert isinstance(report, NextpnrReport)
    clk = report.clock("clk")
    assert clk.constraint_mhz == 200.0 and clk.achieved_mhz == pytest.approx(609.3845, abs=1e-3)
    assert report.clock("other") is None
    # the used cells are the netlist's: 5 flip-flops, the multiplier; TRELLIS_COMB = LUT4s + 2 per CCU2C (+ routing)
    assert report.used == {"MULT18X18D": 1, "TRELLIS_COMB": 63, "TRELLIS_FF": 5}
    ff = next(u for u in report.utilization if u.cell == "TRELLIS_FF")
    assert ff.available == 24288
    path = report.critical_path("clk")
    assert isinstance(path, CriticalPath)
    assert (path.from_clock, path.to_clock) == ("posedge clk", "posedge clk")
    # Fmax is the inverse of the worst register-to-register path
    assert path.delay_ns == pytest.approx(1000.0 / clk.achieved_mhz, rel=1e-6)
    assert [s.kind for s in path.steps] == ["clk-to-q", "routing", "logic", "routing", "setup"]
    assert path.logic_levels == 1
    assert (path.start, path.end) == ("o__valid_TRELLIS_FF_Q", "o__payload_TRELLIS_FF_Q_2")
    assert path.steps[1].net == "o__valid" and path.steps[2].net is None


def test_the_fixtures_carry_no_path_of_this_machine():
    for f in (STAT_XILINX, STAT_ECP5, PNR_ECP5):
        text = f.read_text()
        assert str(Path.home()) not in text and "/work/" not in text and "site-packages" not in text


# -- round trips ------------------------------------------------------------------------------
@pytest.mark.parametrize("path", [STAT_XILINX, STAT_ECP5], ids=["xilinx", "ecp5"])
def test_yosys_stat_round_trips(path):
    stat = read_yosys_stat(path)
    again = parse_yosys_stat(json.dumps(stat.to_json()))
    assert again == stat
    assert again.cells == stat.cells and again.creator == stat.creator


def test_nextpnr_report_round_trips():
    report = read_nextpnr_report(PNR_ECP5)
    again = parse_nextpnr_report(json.dumps(report.to_json()))
    assert again == report
    assert again.critical_path("clk").delay_ns == report.critical_path("clk").delay_ns


def test_yosys_stat_without_design_section_uses_its_only_module():
    doc = json.loads(STAT_ECP5.read_text())
    del doc["design"]
    stat = parse_yosys_stat(json.dumps(doc))
    assert stat == read_yosys_stat(STAT_ECP5)


def test_combinational_report_has_no_fmax():
    doc = json.loads(PNR_ECP5.read_text())
    doc["fmax"], doc["critical_paths"] = {}, []
    report = parse_nextpnr_report(json.dumps(doc))
    assert report.clock("clk") is None and report.critical_path("clk") is None


# -- bad reports ------------------------------------------------------------------------------
@pytest.mark.parametrize("path, reader", [(STAT_XILINX, read_yosys_stat), (STAT_ECP5, read_yosys_stat),
                                          (PNR_ECP5, read_nextpnr_report)], ids=["xilinx", "ecp5", "nextpnr"])
def test_truncated_reports_name_the_file(tmp_path, path, reader):
    text = path.read_text()
    for cut in sorted({1, 10, len(text) // 3, len(text) // 2, len(text) - 3}):
        bad = tmp_path / f"cut{cut}_{path.name}"
        bad.write_text(text[:cut])
        with pytest.raises(ReportError, match=r"not valid JSON \(truncated or garbled\)") as e:
            reader(bad)
        assert str(e.value).startswith(f"{bad}: ")


@pytest.mark.parametrize("reader", [read_yosys_stat, read_nextpnr_report])
def test_empty_garbled_and_missing_files(tmp_path, reader):
    empty = tmp_path / "empty.json"
    empty.write_text("  \n")
    with pytest.raises(ReportError, match=f"^{re.escape(str(empty))}: empty report$"):
        reader(empty)
    garbled = tmp_path / "garbled.json"
    garbled.write_bytes(b"\x00\xff{\"fmax\"")
    with pytest.raises(ReportError, match=f"^{re.escape(str(garbled))}: not valid JSON"):
        reader(garbled)
    listing = tmp_path / "list.json"
    listing.write_text("[1, 2]")
    with pytest.raises(ReportError, match=f"^{re.escape(str(listing))}: the report must be a JSON object, not list$"):
        reader(listing)
    with pytest.raises(ReportError, match="no such report file"):
        reader(tmp_path / "absent.json")


def _without(doc, *keys):
    doc = copy.deepcopy(doc)
    obj = doc
    for k in keys[:-1]:
        obj = obj[k]
    del obj[keys[-1]]
    return doc


@pytest.mark.parametrize("keys, missing", [
    (("modules",), "'modules'"),
    (("design", "num_cells_by_type"), "'design.num_cells_by_type'"),
    (("design", "num_cells"), "'design.num_cells'"),
])
def test_yosys_stat_missing_keys(tmp_path, keys, missing):
    bad = tmp_path / "stat.json"
    bad.write_text(json.dumps(_without(json.loads(STAT_ECP5.read_text()), *keys)))
    with pytest.raises(ReportError, match=f"^{re.escape(str(bad))}: missing key {missing}$"):
        read_yosys_stat(bad)


def test_yosys_stat_without_totals_and_with_two_modules():
    doc = json.loads(STAT_ECP5.read_text())
    del doc["design"]
    doc["modules"]["\\other"] = {}
    with pytest.raises(ReportError, match=r"^s\.json: missing key 'design' \(the totals\), and 2 modules"):
        parse_yosys_stat(json.dumps(doc), source="s.json")


def test_yosys_stat_wrong_types():
    doc = json.loads(STAT_ECP5.read_text())
    doc["design"]["num_cells"] = "56"
    with pytest.raises(ReportError, match=r"^s\.json: design\.num_cells must be int, not '56'$"):
        parse_yosys_stat(json.dumps(doc), source="s.json")
    doc = json.loads(STAT_ECP5.read_text())
    doc["design"]["num_cells_by_type"]["LUT4"] = -1
    with pytest.raises(ReportError, match=r"design\.num_cells_by_type\.LUT4 must be a count ≥ 0, not -1$"):
        parse_yosys_stat(json.dumps(doc), source="s.json")


@pytest.mark.parametrize("keys, missing", [
    (("fmax",), "'fmax'"),
    (("utilization",), "'utilization'"),
    (("critical_paths",), "'critical_paths'"),
    (("fmax", "clk", "achieved"), "'fmax.clk.achieved'"),
    (("utilization", "TRELLIS_FF", "used"), "'utilization.TRELLIS_FF.used'"),
    (("critical_paths", 0, "path"), r"'critical_paths\[0\]\.path'"),
    (("critical_paths", 0, "path", 2, "delay"), r"'critical_paths\[0\]\.path\[2\]\.delay'"),
    (("critical_paths", 0, "path", 1, "to", "cell"), r"'critical_paths\[0\]\.path\[1\]\.to\.cell'"),
])
def test_nextpnr_report_missing_keys(tmp_path, keys, missing):
    bad = tmp_path / "report.json"
    bad.write_text(json.dumps(_without(json.loads(PNR_ECP5.read_text()), *keys)))
    with pytest.raises(ReportError, match=f"^{re.escape(str(bad))}: missing key {missing}$"):
        read_nextpnr_report(bad)


def test_nextpnr_report_wrong_types():
    doc = json.loads(PNR_ECP5.read_text())
    doc["fmax"]["clk"]["achieved"] = "fast"
    with pytest.raises(ReportError, match=r"^r\.json: fmax\.clk\.achieved must be int or float, not 'fast'$"):
        parse_nextpnr_report(json.dumps(doc), source="r.json")
    doc = json.loads(PNR_ECP5.read_text())
    doc["critical_paths"] = {"from": "posedge clk"}
    with pytest.raises(ReportError, match=r"^r\.json: critical_paths must be list, not \{"):
        parse_nextpnr_report(json.dumps(doc), source="r.json")
    doc = json.loads(PNR_ECP5.read_text())
    doc["utilization"]["TRELLIS_FF"] = 5
    with pytest.raises(ReportError, match=r"^r\.json: utilization\.TRELLIS_FF must be a JSON object, not int$"):
        parse_nextpnr_report(json.dumps(doc), source="r.json")


@pytest.mark.parametrize("parse", [parse_yosys_stat, parse_nextpnr_report])
def test_json_too_deep_or_a_number_too_long_is_a_report_error(parse):
    """A 5000-deep nesting or an integer of 5000 digits is refused as a ReportError naming the
    source, not a RecursionError or Python's digit-limit ValueError."""
    for text in ("[" * 5000 + "]" * 5000, '{"modules": {"top": {"num_cells": ' + "9" * 5000 + "}}}"):
        with pytest.raises(ReportError, match=r"^report\.json: not a tool's report \(JSON nested too deeply or a "
                                              r"number too long"):
            parse(text, source="report.json")


@pytest.mark.parametrize("path, value", [
    (("fmax", "clk", "achieved"), -5.0), (("fmax", "clk", "achieved"), float("nan")),
    (("fmax", "clk", "constraint"), float("inf")), (("utilization", "TRELLIS_FF", "used"), -1),
    (("critical_paths", 0, "path", 0, "delay"), -0.5),
])
def test_nextpnr_amounts_must_be_finite_and_not_negative(path, value):
    """A negative, NaN or infinite Fmax, constraint, count or delay is a ReportError naming it."""
    doc = json.loads(PNR_ECP5.read_text())
    node = doc
    for key in path[:-1]:
        node = node[key] if not isinstance(node, dict) or key in node else next(iter(node.values()))
    node[path[-1]] = value
    with pytest.raises(ReportError, match=rf"\.{path[-1]} must be a finite number ≥ 0, not "):
        parse_nextpnr_report(json.dumps(doc), source="r.json")
