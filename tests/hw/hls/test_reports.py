"""numfmt.hw.hls.reports: finding and reading the csynth reports Vitis HLS leaves in a project
(the committed sample reports of tests/hw/cost placed where Vitis HLS / hls4ml write them),
and the digest that matches a report with its sources."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from numfmt import nn
from numfmt.hw.cost.reports import ReportError
from numfmt.hw.cost.vendor import parse_hls_csynth
from numfmt.hw.hls import (find_reports, generate_project, project_top, read_reports, sources_digest,
                           synthesis_sources)

SAMPLES = Path(__file__).resolve().parents[1] / "cost" / "fixtures" / "vendor"


def _place(project: Path, top: str, sample: str, suffix: str, solution: str = "solution1") -> Path:
    """Copy ``sample`` (.xml/.rpt) to ``<top>_prj/<solution>/syn/report/<top>_csynth<suffix>``."""
    dest = project / f"{top}_prj" / solution / "syn" / "report" / f"{top}_csynth{suffix}"
    dest.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(SAMPLES / f"{sample}{suffix}", dest)
    return dest


def _hls4ml_tcl(folder: Path, name: str, backend: str = "vivado") -> Path:
    """project.tcl as hls4ml 1.3 writes it (its writer's lines for name and back end)."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "project.tcl").write_text(f'variable project_name\nset project_name "{name}"\nvariable backend\n'
                                        f'set backend "{backend}"\nvariable part\nset part "xcvu9p"\n')
    return folder


@pytest.fixture(scope="module")
def tiny_graph():
    g = nn.Graph.sequential([nn.Dense(np.array([[0.5, -1.0], [1.0, 0.25]])), nn.ReLU()], input_shape=(2,))
    x = np.array([[1.0, 0.5], [0.25, -1.0], [-1.0, 1.0]])
    return nn.quantize(g, nn.QConfig(weight="e4m3fn", act="e4m3fn"), x), x


def test_no_report_before_synthesis(tmp_path):
    project = _hls4ml_tcl(tmp_path / "p", "myproject")
    assert project_top(project) == "myproject"
    assert find_reports(project) == {} and read_reports(project) is None
    (project / "myproject_prj" / "solution1").mkdir(parents=True)     # csim ran, synthesis did not
    assert read_reports(project) is None


@pytest.mark.parametrize("sample", ["myproject_csynth", "myproject_vitis_csynth"])
def test_hls4ml_layout_reads_the_xml_report(tmp_path, sample):
    project = _hls4ml_tcl(tmp_path / "p", "myproject")
    xml = _place(project, "myproject", sample, ".xml")
    _place(project, "myproject", sample, ".rpt")
    reports = read_reports(project)
    assert list(reports) == ["solution1"]
    assert reports["solution1"] == parse_hls_csynth(SAMPLES / f"{sample}.xml")      # the XML, not the text
    assert reports["solution1"].latency_average is not None
    assert reports["solution1"].source == str(xml)
    assert find_reports(project) == {"solution1": xml}


def test_text_report_alone_and_several_solutions(tmp_path):
    project = _hls4ml_tcl(tmp_path / "p", "net")
    _place(project, "net", "myproject_vitis_csynth", ".rpt", "solution1")
    _place(project, "net", "myproject_csynth", ".xml", "solution2")
    reports = read_reports(project)
    assert list(reports) == ["solution1", "solution2"]
    assert reports["solution1"] == parse_hls_csynth(SAMPLES / "myproject_vitis_csynth.rpt")
    assert reports["solution1"].latency_average is None and reports["solution1"].dsps == 7
    assert reports["solution2"].dsps == 18


def test_accelerator_backend_synthesizes_the_axi_wrapper(tmp_path):
    project = _hls4ml_tcl(tmp_path / "p", "net", backend="vivadoaccelerator")
    assert project_top(project) == "net_axi"
    _place(project, "net", "myproject_csynth", ".xml")         # the plain top's report is not the synthesized one
    assert read_reports(project) is None
    _place(project, "net_axi", "myproject_csynth", ".xml")
    assert read_reports(project)["solution1"].luts == 6742


def test_where_hls4ml_itself_looks(tmp_path):
    """hls4ml's own reader (hls4ml.report.parse_vivado_report) finds the same report in a
    project hls4ml wrote: the path convention is hls4ml's, not ours."""
    pytest.importorskip("hls4ml")
    from hls4ml.report import parse_vivado_report

    from numfmt.hw.hls import convert

    g = nn.Graph.sequential([nn.Dense(np.array([[0.5, -1.0], [1.0, 0.25]])), nn.ReLU()], input_shape=(2,))
    q = nn.quantize(g, nn.QConfig(weight="int8", act="int8"), np.array([[1.0, 0.5], [0.25, -1.0]]))
    folder = tmp_path / "h"
    convert(q, folder, project_name="tiny_net", backend="Vitis").write()
    assert project_top(folder) == "tiny_net"
    xml = _place(folder, "tiny_net", "myproject_vitis_csynth", ".xml")
    # Vitis HLS lists the solutions in <prj>/hls.app, which hls4ml's reader needs
    (folder / "tiny_net_prj" / "hls.app").write_text(
        '<project xmlns="com.autoesl.autopilot.project" name="tiny_net_prj" top="tiny_net">'
        '<solutions><solution name="solution1" status="active"/></solutions></project>')
    theirs = parse_vivado_report(str(folder))["CSynthesisReport"]
    ours = read_reports(folder)["solution1"]
    assert ours.source == str(xml)
    assert (int(theirs["LUT"]), int(theirs["FF"]), int(theirs["DSP"]), int(theirs["BRAM_18K"])) == \
        (ours.luts, ours.ffs, ours.dsps, ours.resources.bram_18k)
    assert int(theirs["BestLatency"]) == ours.latency_best and float(theirs["EstimatedClockPeriod"]) == \
        ours.estimated_period_ns


def test_generated_project_layout(tmp_path, tiny_graph):
    q, x = tiny_graph
    project = generate_project(q, x, tmp_path / "p", name="tiny")
    assert project_top(project.directory) == "tiny" and read_reports(project.directory) is None
    _place(project.directory, "tiny", "myproject_vitis_csynth", ".xml")
    assert read_reports(project.directory)["solution1"].luts == 3390


def test_a_garbled_report_is_an_error(tmp_path):
    project = _hls4ml_tcl(tmp_path / "p", "net")
    xml = _place(project, "net", "myproject_csynth", ".xml")
    xml.write_text(xml.read_text().replace("<LUT>6742</LUT>", "<LUT>67#2</LUT>"))
    with pytest.raises(ReportError, match=r"net_csynth\.xml: .*'67#2'"):
        read_reports(project)


def test_not_a_project(tmp_path):
    with pytest.raises(ValueError, match=r"^project_dir must be an HLS project directory, not '.*nothere' "):
        read_reports(tmp_path / "nothere")
    with pytest.raises(ValueError, match=r"is not an HLS project: it has neither build.tcl .* nor project.tcl"):
        read_reports(tmp_path)
    (tmp_path / "build.tcl").write_text("open_project -reset x_prj\n")
    with pytest.raises(ValueError, match=r"build.tcl: no 'set_top <name>' line"):
        read_reports(tmp_path)


def test_the_digest_covers_what_synthesis_reads(tmp_path, tiny_graph):
    q, x = tiny_graph
    a = generate_project(q, x, tmp_path / "a", name="tiny").directory
    b = generate_project(q, x[:2], tmp_path / "b", name="tiny").directory     # other testbench data only
    names = synthesis_sources(a)
    assert {"build.tcl", "tiny.h", "tiny.cpp", "tiny_weights.h", "include/numfmt/numfmt.h"} <= set(names)
    assert not any("_tb" in n or n == "README.md" for n in names)
    assert sources_digest(a) == sources_digest(b)
    _place(b, "tiny", "myproject_vitis_csynth", ".xml")                       # reports are not sources
    assert sources_digest(a) == sources_digest(b)
    w = b / "tiny_weights.h"
    w.write_text(w.read_text().replace("{", "{ ", 1))
    assert sources_digest(a) != sources_digest(b)
    c = generate_project(q, x, tmp_path / "c", name="tiny", clock_ns=4.0).directory   # build.tcl differs
    assert sources_digest(a) != sources_digest(c)


def test_the_hls4ml_digest_leaves_out_the_library(tmp_path):
    project = _hls4ml_tcl(tmp_path / "p", "net")
    (project / "firmware" / "weights").mkdir(parents=True)
    (project / "firmware" / "net.cpp").write_text("void net() {}\n")
    (project / "firmware" / "weights" / "w2.h").write_text("w2\n")
    (project / "net_test.cpp").write_text("int main() {}\n")
    before = sources_digest(project)
    assert synthesis_sources(project) == ["firmware/net.cpp", "firmware/weights/w2.h", "project.tcl"]
    (project / "firmware" / "net-1234.so").write_bytes(b"\x7fELF")
    (project / "net_test.cpp").write_text("int main() { return 1; }\n")
    assert sources_digest(project) == before
    (project / "firmware" / "weights" / "w2.h").write_text("w3\n")
    assert sources_digest(project) != before
