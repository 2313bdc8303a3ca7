"""Vendor report parsers (hw/cost/vendor.py) on fixture reports written for these tests.

The fixtures (tests/hw/cost/fixtures/vendor/) follow the layout of the real tools' reports
with small designs' numbers: Vivado 2019.1 on a 7-series part (``Slice LUTs``, ``CARRY4``),
Vivado 2022.2 on an UltraScale+ part (``CLB LUTs``, ``CARRY8``, ``Prohibited`` column,
MMCM clocks, failing timing), an unconstrained Vivado 2020.2 timing summary; Vivado HLS
2019.2 (``DSP48E``) and Vitis HLS 2022.2 (``DSP``) csynth reports, each as XML and as
text, of the same run. Each parses to exact numbers;
every truncation of a fixture either raises ReportError naming the file or gives the
full report's record (never silently different numbers); garbled and unrelated files
raise ReportError naming the file.
"""

from __future__ import annotations

import dataclasses
import math
import re
from pathlib import Path

import pytest

from numfmt.hw.cost.vendor import (CsynthReport, HlsResources, ReportError, VivadoClock, VivadoTiming,
                                   VivadoUtilization, parse_hls_csynth, parse_vivado_timing,
                                   parse_vivado_utilization)

FIXTURES = Path(__file__).parent / "fixtures" / "vendor"

UTIL_7SERIES = VivadoUtilization(
    luts=87, luts_as_logic=87, luts_as_memory=0, registers=42, ffs=42, dsps=1, brams=0.5, urams=None,
    carry=6, carry_cell="CARRY4", design="lutgemm_e2m1x4", device="7z020clg400-1", design_state="Synthesized",
    tool_version="2019.1")
UTIL_ULTRASCALE = VivadoUtilization(
    luts=214, luts_as_logic=198, luts_as_memory=16, registers=301, ffs=301, dsps=4, brams=1.5, urams=0,
    carry=9, carry_cell="CARRY8", design="blockdot_mxfp8_w16", device="xczu7ev-ffvc1156-2-e",
    design_state="Routed", tool_version="2022.2")
TIMING_MET = VivadoTiming(
    wns=2.137, tns=0.0, tns_failing=0, whs=0.122, ths=0.0, ths_failing=0, constraints_met=True,
    clocks=(VivadoClock("clk", 10.0, 100.0, wns=2.137, whs=0.122),), wpws=3.75, tpws=0.0,
    design="lutgemm_e2m1x4", device="7z020-clg400", tool_version="2019.1")
TIMING_FAILING = VivadoTiming(
    wns=-0.412, tns=-3.871, tns_failing=14, whs=0.018, ths=0.0, ths_failing=0, constraints_met=False,
    clocks=(VivadoClock("sys_clk", 10.0, 100.0),
            VivadoClock("clk_axi_mmcm", 10.0, 100.0, wns=5.873, whs=0.051),
            VivadoClock("clk_core_mmcm", 2.5, 400.0, wns=-0.412, whs=0.018),
            VivadoClock("clkfbout_mmcm", 10.0, 100.0)),
    wpws=0.725, tpws=0.0, design="blockdot_mxfp8_w16", device="xczu7ev-ffvc1156", tool_version="2022.2")
TIMING_UNCONSTRAINED = VivadoTiming(
    wns=math.inf, tns=0.0, tns_failing=0, whs=math.inf, ths=0.0, ths_failing=0, constraints_met=None, clocks=(),
    wpws=None, tpws=None, design="requant_int24_int8", device="7a35t-cpg236", tool_version="2020.2")
HLS_VIVADO = CsynthReport(
    target_period_ns=5.0, estimated_period_ns=4.37, uncertainty_ns=0.62, latency_best=11, latency_worst=11,
    latency_average=11, interval_min=1, interval_max=1,
    resources=HlsResources(bram_18k=2, dsp=18, ff=2131, lut=6742, uram=0),
    available=HlsResources(bram_18k=4320, dsp=6840, ff=2364480, lut=1182240, uram=960),
    top="myproject", part="xcvu9p-flga2577-2-e", version="2019.2")
HLS_VITIS = CsynthReport(
    target_period_ns=5.0, estimated_period_ns=3.648, uncertainty_ns=1.35, latency_best=6, latency_worst=6,
    latency_average=6, interval_min=1, interval_max=1,
    resources=HlsResources(bram_18k=0, dsp=7, ff=1052, lut=3390, uram=0),
    available=HlsResources(bram_18k=624, dsp=1728, ff=460800, lut=230400, uram=96),
    top="myproject", part="xczu7ev-ffvc1156-2-e", version="2022.2")


def _no_average(r: CsynthReport) -> CsynthReport:
    """The text report has no average latency."""
    return dataclasses.replace(r, latency_average=None)


# (fixture, parser, expected record)
CASES = {
    "lutgemm_utilization_synth.rpt": (parse_vivado_utilization, UTIL_7SERIES),
    "blockdot_utilization_routed.rpt": (parse_vivado_utilization, UTIL_ULTRASCALE),
    "lutgemm_timing_summary_routed.rpt": (parse_vivado_timing, TIMING_MET),
    "blockdot_timing_summary_routed.rpt": (parse_vivado_timing, TIMING_FAILING),
    "requant_timing_summary_synth.rpt": (parse_vivado_timing, TIMING_UNCONSTRAINED),
    "myproject_csynth.xml": (parse_hls_csynth, HLS_VIVADO),
    "myproject_csynth.rpt": (parse_hls_csynth, _no_average(HLS_VIVADO)),
    "myproject_vitis_csynth.xml": (parse_hls_csynth, HLS_VITIS),
    "myproject_vitis_csynth.rpt": (parse_hls_csynth, _no_average(HLS_VITIS)),
}


def _text(fixture: str) -> str:
    return (FIXTURES / fixture).read_text(encoding="utf-8")


def _write(tmp_path: Path, fixture: str, text: str) -> Path:
    """``text`` as a file of the fixture's name, so that errors name it."""
    path = tmp_path / fixture
    path.write_text(text, encoding="utf-8")
    return path


def _raises_naming(parser, path: Path) -> str:
    with pytest.raises(ReportError) as info:
        parser(path)
    message = str(info.value)
    assert message.startswith(f"{path}: "), message
    return message


# -- round trips -----------------------------------------------------------------------------
@pytest.mark.parametrize("fixture", sorted(CASES))
def test_each_fixture_parses_to_its_exact_numbers(fixture):
    parser, expected = CASES[fixture]
    path = FIXTURES / fixture
    record = parser(path)
    assert record == expected
    assert record.source == str(path)
    assert parser(str(path)) == expected


@pytest.mark.parametrize("fixture", [f for f in sorted(CASES) if CASES[f][0] is not parse_hls_csynth])
def test_vivado_parsers_read_text_as_well_as_paths(fixture):
    parser, expected = CASES[fixture]
    record = parser(_text(fixture), source="pasted.rpt")
    assert record == expected and record.source == "pasted.rpt"
    assert parser(_text(fixture)).source == "<string>"


@pytest.mark.parametrize("fixture", sorted(CASES))
def test_windows_line_endings_read_the_same(fixture, tmp_path):
    parser, expected = CASES[fixture]
    path = tmp_path / fixture
    path.write_bytes(_text(fixture).replace("\n", "\r\n").encode())
    assert parser(path) == expected


def test_7series_and_ultrascale_utilization_give_the_same_fields():
    # Slice LUTs/Slice Registers/CARRY4 vs CLB LUTs/CLB Registers/CARRY8 and the 2020+ Prohibited column
    assert (UTIL_7SERIES.carry_cell, UTIL_7SERIES.carry_bits) == ("CARRY4", 24)
    assert (UTIL_ULTRASCALE.carry_cell, UTIL_ULTRASCALE.carry_bits) == ("CARRY8", 72)
    assert UTIL_7SERIES.urams is None and UTIL_ULTRASCALE.urams == 0


def test_ultrascale_carry_falls_back_to_the_clb_logic_row_without_primitives(tmp_path):
    text = _text("blockdot_utilization_routed.rpt")
    path = _write(tmp_path, "blockdot_utilization_routed.rpt", text[:text.index("9. Primitives\n---")])
    assert parse_vivado_utilization(path) == UTIL_ULTRASCALE


def test_7series_without_primitives_table_has_no_carry_count(tmp_path):
    text = _text("lutgemm_utilization_synth.rpt")
    path = _write(tmp_path, "lutgemm_utilization_synth.rpt", text[:text.index("7. Primitives\n---")])
    message = _raises_naming(parse_vivado_utilization, path)
    assert message == (f"{path}: no 'Primitives' table and no CARRY row in the 'Slice Logic' table — truncated or "
                       f"not a Vivado utilization report?")


def test_timing_fmax_is_1000_over_period_minus_wns():
    assert TIMING_MET.fmax_mhz == pytest.approx(1000 / (10.0 - 2.137))
    assert TIMING_MET.clock("clk").fmax_mhz == pytest.approx(1000 / (10.0 - 2.137))
    core = TIMING_FAILING.clock("clk_core_mmcm")
    assert core.fmax_mhz == pytest.approx(1000 / 2.912) and core.fmax_mhz < core.frequency_mhz
    assert TIMING_FAILING.clock("sys_clk").fmax_mhz is None          # pulse-width checks only


def test_timing_fmax_needs_a_clock_name_when_several_clocks_have_paths():
    with pytest.raises(ValueError, match=r"2 clocks with setup paths \(clk_axi_mmcm, clk_core_mmcm\)"):
        TIMING_FAILING.fmax_mhz
    with pytest.raises(KeyError, match="clk_fast"):
        TIMING_FAILING.clock("clk_fast")
    # an MMCM with one timed output: that clock's Fmax
    one = dataclasses.replace(TIMING_FAILING, clocks=TIMING_FAILING.clocks[2:])
    assert one.fmax_mhz == pytest.approx(1000 / 2.912)


def test_timing_columns_follow_the_dashes_not_the_indentation(tmp_path):
    # a deeper generated clock: its name starts right of the "Clock" dashes; blank setup/hold
    text = _text("blockdot_timing_summary_routed.rpt")
    text = text.replace("\n  clkfbout_mmcm    {", "\n      clkfbout_mmcm  {")                     # Clock Summary
    text = text.replace("\n  clkfbout_mmcm        ", "\n      clkfbout_mmcm    ")                  # Intra Clock Table
    assert text.count("\n      clkfbout_mmcm ") == 2
    assert parse_vivado_timing(_write(tmp_path, "deep.rpt", text)) == TIMING_FAILING


def test_timing_without_constraints():
    t = TIMING_UNCONSTRAINED
    assert (t.constraints_met, t.wns, t.wpws, t.clocks, t.fmax_mhz) == (None, math.inf, None, (), None)


def test_hls_dsp48e_and_dsp_keys_both_read():
    assert "<DSP48E>18</DSP48E>" in _text("myproject_csynth.xml")
    assert "<DSP>7</DSP>" in _text("myproject_vitis_csynth.xml")
    assert re.search(r"\|\s*Name\s*\|\s*BRAM_18K\|\s*DSP48E\|", _text("myproject_csynth.rpt"))
    assert re.search(r"\|\s*Name\s*\|\s*BRAM_18K\|\s*DSP\s*\|", _text("myproject_vitis_csynth.rpt"))
    assert parse_hls_csynth(FIXTURES / "myproject_csynth.xml").dsps == 18
    assert parse_hls_csynth(FIXTURES / "myproject_csynth.rpt").dsps == 18
    assert parse_hls_csynth(FIXTURES / "myproject_vitis_csynth.xml").dsps == 7
    assert parse_hls_csynth(FIXTURES / "myproject_vitis_csynth.rpt").dsps == 7


@pytest.mark.parametrize("run", ["myproject_csynth", "myproject_vitis_csynth"])
def test_hls_xml_and_text_reports_of_one_run_agree(run):
    xml = parse_hls_csynth(FIXTURES / f"{run}.xml")
    rpt = parse_hls_csynth(FIXTURES / f"{run}.rpt")
    assert _no_average(xml) == rpt


def test_hls_record_views():
    assert (HLS_VIVADO.luts, HLS_VIVADO.ffs, HLS_VIVADO.dsps, HLS_VIVADO.brams) == (6742, 2131, 18, 1.0)
    assert HLS_VIVADO.estimated_fmax_mhz == pytest.approx(1000 / 4.37)


def test_hls_unbounded_latency_is_none(tmp_path):
    xml = _text("myproject_csynth.xml").replace("<Worst-caseLatency>11<", "<Worst-caseLatency>undef<")
    xml = xml.replace("<Interval-max>1<", "<Interval-max>undef<")
    r = parse_hls_csynth(_write(tmp_path, "myproject_csynth.xml", xml))
    assert (r.latency_best, r.latency_worst, r.interval_max) == (11, None, None)
    rpt = _text("myproject_csynth.rpt").replace(
        "|       11|       11| 55.000 ns | 55.000 ns |    1|    1| function |",
        "|       11|        ?| 55.000 ns |     ?     |    1|    ?| function |")
    r = parse_hls_csynth(_write(tmp_path, "myproject_csynth.rpt", rpt))
    assert (r.latency_best, r.latency_worst, r.interval_max) == (11, None, None)


# -- bad reports -----------------------------------------------------------------------------
# A cut in the middle of a table the parser reads: (fixture, text the cut comes just after)
CUTS = {
    "lutgemm_utilization_synth.rpt": "| Slice Registers         |   4",
    "blockdot_utilization_routed.rpt": "| CLB LUTs                   |  214 |",
    "lutgemm_timing_summary_routed.rpt": "clk    {0.000 5.",
    "blockdot_timing_summary_routed.rpt": "  clk_axi_mmcm           5.873        0.000",
    "requant_timing_summary_synth.rpt": "\n        inf        0.0",
    "myproject_csynth.xml": "      <DSP48E>18</DSP48E>\n      <FF>21",
    "myproject_csynth.rpt": "|Instance             |        2|",
    "myproject_vitis_csynth.xml": "<EstimatedClockPeriod>3.6",
    "myproject_vitis_csynth.rpt": "    |ap_clk  |  5.00 ns|  3.648 ns|",
}
# A number the parser reads, garbled: (fixture, original, garbled)
GARBLES = {
    "lutgemm_utilization_synth.rpt": ("| Slice LUTs*             |   87 |", "| Slice LUTs*             |   8? |"),
    "blockdot_utilization_routed.rpt": ("| Block RAM Tile    |  1.5 |", "| Block RAM Tile    |  1,5 |"),
    "lutgemm_timing_summary_routed.rpt": ("\n      2.137        0.000", "\n      2.1x7        0.000"),
    "blockdot_timing_summary_routed.rpt": ("2.500           400.000", "2.500           4OO.000"),
    "requant_timing_summary_synth.rpt": ("\n        inf        0.000", "\n        imf        0.000"),
    "myproject_csynth.xml": ("<LUT>6742</LUT>", "<LUT>67#2</LUT>"),
    "myproject_csynth.rpt": ("|Total                |        2|     18|",
                             "|Total                |        2|     1B|"),
    "myproject_vitis_csynth.xml": ("<Interval-min>1</Interval-min>", "<Interval-min>one</Interval-min>"),
    "myproject_vitis_csynth.rpt": ("|ap_clk  |  5.00 ns|  3.648 ns|", "|ap_clk  |  5.00 ns|  3.6?8 ns|"),
}
PINNED = {
    ("cut", "lutgemm_utilization_synth.rpt"):
        "the table at line 30 in 'Slice Logic' ends without its closing '+---' rule — truncated or garbled report?",
    ("cut", "lutgemm_timing_summary_routed.rpt"):
        "the 'Clock Summary' table runs to the end of the file without the blank line that ends it — truncated "
        "report?",
    ("cut", "myproject_csynth.xml"):
        "not well-formed XML at line 36, column 12 — truncated or not a Vivado/Vitis HLS csynth.xml?",
    ("garble", "lutgemm_utilization_synth.rpt"): "'Slice LUTs' Used is '8?', not a whole number — garbled report?",
    ("garble", "lutgemm_timing_summary_routed.rpt"): "WNS(ns) is '2.1x7', not a number — garbled report?",
    ("garble", "myproject_csynth.xml"): "Resources/LUT is '67#2', not a whole number — garbled report?",
    ("garble", "myproject_csynth.rpt"): "'Total' DSP48E is '1B', not a whole number — garbled report?",
}


@pytest.mark.parametrize("fixture", sorted(CASES))
def test_a_report_cut_in_the_middle_of_a_table_raises_naming_the_file(fixture, tmp_path):
    parser = CASES[fixture][0]
    text = _text(fixture)
    after = CUTS[fixture]
    assert text.count(after) == 1
    path = _write(tmp_path, fixture, text[:text.index(after) + len(after)])
    message = _raises_naming(parser, path)
    if ("cut", fixture) in PINNED:
        assert message == f"{path}: {PINNED['cut', fixture]}"
    assert re.search("truncated", message)


@pytest.mark.parametrize("fixture", sorted(CASES))
def test_a_non_numeric_cell_raises_naming_the_file_and_the_cell(fixture, tmp_path):
    parser = CASES[fixture][0]
    text = _text(fixture)
    original, garbled = GARBLES[fixture]
    assert text.count(original) == 1
    path = _write(tmp_path, fixture, text.replace(original, garbled))
    message = _raises_naming(parser, path)
    if ("garble", fixture) in PINNED:
        assert message == f"{path}: {PINNED['garble', fixture]}"
    assert "garbled" in message


@pytest.mark.parametrize("fixture", sorted(CASES))
def test_every_truncation_raises_or_gives_the_whole_record(fixture, tmp_path):
    """Cut after every line and in the middle of every line: never silently other numbers."""
    parser, expected = CASES[fixture]
    lines = _text(fixture).splitlines(keepends=True)
    path = tmp_path / fixture
    outcomes = set()
    for k in range(len(lines)):
        head = "".join(lines[:k])
        for cut in (head, head + lines[k][:len(lines[k]) // 2]):
            path.write_text(cut, encoding="utf-8")
            try:
                record = parser(path)
            except ReportError as e:
                assert str(e).startswith(f"{path}: "), str(e)
                outcomes.add("error")
            else:
                assert record == expected, f"cut at line {k + 1}"
                outcomes.add("whole")
    assert "error" in outcomes


UNRELATED = {
    "yosys.log": "\n/----------------------------------------------------------------------------\\\n"
                 " |  yosys -- Yosys Open SYnthesis Suite\n"
                 "\\----------------------------------------------------------------------------/\n"
                 " Yosys 0.40 (git sha1 a1bb0255d)\n\n=== design hierarchy ===\n\n   Number of cells:   38\n",
    "notes.rpt": "Meeting notes\n\n| item | owner |\n| LUT budget | A. |\n",
    "vivado_hls.app": '<?xml version="1.0" encoding="UTF-8"?>\n<project xmlns="com.autoesl.autopilot.project" '
                      'name="myproject_prj" top="myproject">\n  <solutions>\n    <solution name="solution1" '
                      'status="active"/>\n  </solutions>\n</project>\n',
}


@pytest.mark.parametrize("parser, other_fixture", [
    (parse_vivado_utilization, "lutgemm_timing_summary_routed.rpt"),
    (parse_vivado_utilization, "myproject_csynth.rpt"),
    (parse_vivado_timing, "blockdot_utilization_routed.rpt"),
    (parse_vivado_timing, "myproject_vitis_csynth.rpt"),
])
def test_another_tools_report_raises_naming_the_file(parser, other_fixture):
    path = FIXTURES / other_fixture
    message = _raises_naming(parser, path)
    assert "not a Vivado" in message


def test_a_vivado_report_given_to_the_hls_parser_raises(tmp_path):
    path = _write(tmp_path, "blockdot_csynth.rpt", _text("blockdot_utilization_routed.rpt"))
    assert _raises_naming(parse_hls_csynth, path) == (
        f"{path}: no timing table under 'Performance Estimates' — truncated or not a Vivado/Vitis HLS csynth.rpt?")


@pytest.mark.parametrize("name", sorted(UNRELATED))
def test_unrelated_files_raise_naming_the_file(name, tmp_path):
    path = _write(tmp_path, name, UNRELATED[name])
    _raises_naming(parse_vivado_utilization, path)
    _raises_naming(parse_vivado_timing, path)
    for suffix in (".rpt", ".xml"):
        _raises_naming(parse_hls_csynth, _write(tmp_path, name + suffix, UNRELATED[name]))


def test_an_hls_project_file_is_not_a_csynth_report(tmp_path):
    path = _write(tmp_path, "vivado_hls.xml", UNRELATED["vivado_hls.app"])
    assert _raises_naming(parse_hls_csynth, path) == (
        f"{path}: the root element is <{{com.autoesl.autopilot.project}}project>, not <profile> — truncated or not "
        f"a Vivado/Vitis HLS csynth.xml?")


def test_binary_and_empty_files_raise(tmp_path):
    blob = tmp_path / "bitstream.rpt"
    blob.write_bytes(bytes(range(256)) * 4)
    for parser in (parse_vivado_utilization, parse_vivado_timing, parse_hls_csynth):
        _raises_naming(parser, blob)
    empty = _write(tmp_path, "empty_csynth.xml", "")
    assert _raises_naming(parse_hls_csynth, empty) == f"{empty}: empty report"


def test_missing_files_and_wrong_suffixes(tmp_path):
    missing = tmp_path / "nowhere.rpt"
    for parser in (parse_vivado_utilization, parse_vivado_timing, parse_hls_csynth):
        assert _raises_naming(parser, missing) == f"{missing}: no such report file"
    with pytest.raises(ReportError, match=r"^myproject_csynth\.json: expected a csynth report ending in \.xml or "
                                          r"\.rpt$"):
        parse_hls_csynth("myproject_csynth.json")
    with pytest.raises(TypeError, match="path or the report's text, not bytes"):
        parse_vivado_utilization(b"| Slice LUTs |\n")


def test_records_are_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        UTIL_7SERIES.luts = 1
    with pytest.raises(dataclasses.FrozenInstanceError):
        HLS_VITIS.resources.lut = 1
