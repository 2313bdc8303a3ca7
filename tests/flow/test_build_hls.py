"""flow.build with ``backend = "hls"``: an HLS C++ project verified by g++ C simulation, and
the csynth reports of a synthesized project carried into the manifest and README."""

import json
import shutil
import stat
from pathlib import Path

import numpy as np
import pytest

from numfmt.flow import build as build_mod
from numfmt.flow.build import BuildError, build
from numfmt.flow.cli import main
from numfmt.flow.design import load, prepare
from numfmt.hw.cost.vendor import parse_hls_csynth
from numfmt.hw.hls import read_reports, sources_digest

DESIGNS = Path(__file__).resolve().parents[2] / "designs"
SAMPLES = Path(__file__).resolve().parents[1] / "hw" / "cost" / "fixtures" / "vendor"

pytestmark = pytest.mark.skipif(shutil.which("g++") is None, reason="g++ not found on PATH")


def _design(folder: Path, fmt: str, images: int = 4, name: str = "mlp_hls", extra: str = "") -> Path:
    path = folder / f"{name}.toml"
    path.write_text(f'description = "digits MLP in {fmt}, HLS"\nbackend = "hls"\n'
                    f'[network]\nmodel = "mlp"\n[quant]\nweight = "{fmt}"\nact = "{fmt}"\n{extra}'
                    f'[verify]\nimages = {images}\n')
    return path


def _place_sample(project: Path, top: str, sample: str = "myproject_vitis_csynth") -> Path:
    """The committed sample report where Vitis HLS writes it for build.tcl / build_prj.tcl."""
    report = project / f"{top}_prj" / "solution1" / "syn" / "report"
    report.mkdir(parents=True)
    for suffix in (".xml", ".rpt"):
        shutil.copyfile(SAMPLES / f"{sample}{suffix}", report / f"{top}_csynth{suffix}")
    return report / f"{top}_csynth.xml"


def test_minifloat_build(tmp_path, capsys):
    """e4m3fn through the generated HLS C++ project: 4 images, the testbench run under g++."""
    design = _design(tmp_path, "e4m3fn")
    out = tmp_path / "out" / "mlp"
    assert main(["build", str(design), "--out", str(out), "--quiet"]) == 0
    assert capsys.readouterr().out.strip() == str(out)
    assert sorted(p.name for p in out.iterdir()) == ["README.md", "design.toml", "hls", "manifest.json",
                                                     "verification.json", "verification.md"]
    m = json.loads((out / "manifest.json").read_text())
    assert (m["backend"], m["generator"], m["top"], m["tool"]) == ("hls", "numfmt", "mlp_hls", "vitis")
    assert m["input"]["format"] == m["output"]["format"] == "e4m3fn" and m["output"]["shape"] == [10]
    assert [lay["node"] for lay in m["layers"]] == ["dense0", "relu1", "dense2", "relu3", "dense4"]
    assert m["csynth"] is None and m["synthesis_sources_sha256"] == sources_digest(out / "hls")
    assert m["csynth_report"] == "hls/mlp_hls_prj/solution1/syn/report/mlp_hls_csynth.xml"
    assert "set_top mlp_hls" in (out / "hls" / "build.tcl").read_text()
    v = json.loads((out / "verification.json").read_text())
    assert (v["images"], v["outputs_checked"], v["mismatches"]) == (4, 40, 0)
    # the testbench holds the four images' codes and numfmt's outputs for them
    q = prepare(load(design)).qgraph
    x = q.trace(prepare(load(design)).x_test[:4])
    data = (out / "hls" / "mlp_hls_tb_data.h").read_text()
    assert ", ".join(str(int(c)) for c in x[q.output][3]) in data
    readme = (out / "README.md").read_text()
    assert "vitis_hls -f build.tcl" in readme and "Nothing here ran a vendor tool" in readme
    assert "C-synthesis estimate" not in readme and "4 test images" in readme
    for path in out.rglob("*"):
        assert stat.S_IMODE(path.stat().st_mode) & 0o044 == 0o044, path   # readable by others (umask 022)


@pytest.mark.slow
def test_int8_build_through_hls4ml(tmp_path):
    """int8 through the hls4ml adapter: compile()/predict() over 5 images (about 10 s of g++)."""
    out = build(_design(tmp_path, "int8", images=5), tmp_path / "out", progress=False)
    m = json.loads((out / "manifest.json").read_text())
    assert (m["generator"], m["tool"]) == ("hls4ml", "vitis")
    assert [lay["kind"] for lay in m["layers"]][:3] == ["input", "dense", "requant"]
    hls = out / "hls"
    assert 'set project_name "mlp_hls"' in (hls / "project.tcl").read_text()
    assert not list(hls.rglob("*.so"))                               # this host's library is not handed off
    assert f"OutputDir: {out.resolve() / 'hls'}\n" in (hls / "hls4ml_config.yml").read_text()
    assert "csim 1" in (hls / "build_opt.tcl").read_text()
    # the testbench data: the input values and numfmt's outputs, as hls4ml's testbench reads them
    p = prepare(load(out / "design.toml"))
    values = p.qgraph.run(p.x_test[:5])
    assert np.array_equal(np.loadtxt(hls / "tb_data" / "tb_input_features.dat"), values["input"])
    assert np.array_equal(np.loadtxt(hls / "tb_data" / "tb_output_predictions.dat"), values[p.qgraph.output])
    v = json.loads((out / "verification.json").read_text())
    assert (v["images"], v["outputs_checked"], v["mismatches"]) == (5, 50, 0)
    assert "vitis-run --mode hls --tcl build_prj.tcl" in (out / "README.md").read_text()
    for path in out.rglob("*"):
        assert stat.S_IMODE(path.stat().st_mode) & 0o044 == 0o044, path


def test_a_mismatch_names_the_first_image(tmp_path, monkeypatch):
    real = build_mod._numfmt_project

    def off_by_one(q, x, folder, top, opts):
        outputs = real(q, x, folder, top, opts).copy()
        outputs[2, 7] ^= 1
        return outputs
    monkeypatch.setattr(build_mod, "_numfmt_project", off_by_one)
    with pytest.raises(BuildError, match=r"^verification failed: test image 2: the HLS C simulation gives codes "
                                         r"\[.*\] where numfmt gives \[.*\] \(1 of 4 images differ\)$"):
        build(_design(tmp_path, "e4m3fn"), tmp_path / "out", progress=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mlp_hls.toml"]        # nothing left behind


def _fast(monkeypatch):
    """The generated project without its g++ run (the tests below are about the reports)."""
    from numfmt.hw.hls import generate_project

    def write_only(q, x, folder, top, opts):
        return generate_project(q, x, folder, name=top, part=opts.part, clock_ns=opts.clock_ns).expected
    monkeypatch.setattr(build_mod, "_numfmt_project", write_only)


def test_csynth_report_is_carried_over_on_a_rebuild(tmp_path, monkeypatch):
    _fast(monkeypatch)
    design = _design(tmp_path, "e4m3fn")
    out = build(design, tmp_path / "out", progress=False)
    xml = _place_sample(out / "hls", "mlp_hls")                   # the user ran Vitis HLS there
    assert read_reports(out / "hls")["solution1"] == parse_hls_csynth(SAMPLES / "myproject_vitis_csynth.xml")
    design.write_text(design.read_text().replace("images = 4", "images = 3"))    # testbench data only
    build(design, out, force=True, progress=False)
    assert xml.is_file() and xml.with_suffix(".rpt").is_file()
    m = json.loads((out / "manifest.json").read_text())
    (c,) = m["csynth"]
    assert c["report"] == "hls/mlp_hls_prj/solution1/syn/report/mlp_hls_csynth.xml"
    assert c["resources"] == {"bram_18k": 0, "dsp": 7, "ff": 1052, "lut": 3390, "uram": 0}
    assert (c["latency_cycles"], c["interval_cycles"]) == ({"best": 6, "average": 6, "worst": 6},
                                                            {"min": 1, "max": 1})
    assert c["clock_ns"] == {"target": 5.0, "estimated": 3.648, "uncertainty": 1.35}
    assert c["tool_version"] == "2022.2" and m["csynth_from"] == str(out / "hls")
    readme = (out / "README.md").read_text()
    assert "| solution1 | 3390 | 1052 | 7 | 0 | 0 | 6 | 1 | 5 / 3.648 |" in readme

    # other sources (another clock in build.tcl): the old report does not describe them
    design.write_text(design.read_text().replace("[verify]", "[hls]\nclock_ns = 4\n[verify]"))
    build(design, out, force=True, progress=False)
    assert not (out / "hls" / "mlp_hls_prj").exists()
    assert json.loads((out / "manifest.json").read_text())["csynth"] is None


def test_csynth_report_of_a_passed_project(tmp_path, monkeypatch, capsys):
    _fast(monkeypatch)
    design = _design(tmp_path, "e4m3fn")
    first = build(design, tmp_path / "first", progress=False)
    _place_sample(first / "hls", "mlp_hls", "myproject_csynth")       # Vivado HLS's report, DSP48E
    out = tmp_path / "second"
    assert main(["build", str(design), "--out", str(out), "--quiet", "--hls-project", str(first / "hls")]) == 0
    capsys.readouterr()
    (c,) = json.loads((out / "manifest.json").read_text())["csynth"]
    assert (c["resources"]["dsp"], c["resources"]["lut"], c["latency_cycles"]["worst"]) == (18, 6742, 11)
    assert (out / "hls" / "mlp_hls_prj" / "solution1" / "syn" / "report" / "mlp_hls_csynth.rpt").is_file()

    # a passed project that cannot serve is an error, and nothing is written
    assert main(["build", str(design), "--out", str(tmp_path / "x"), "--quiet", "--hls-project",
                 str(out / "hls" / "mlp_hls_prj")]) == 2
    assert "is not an HLS project" in capsys.readouterr().err
    other = _design(tmp_path, "e4m3fn", name="other")
    first2 = build(other, tmp_path / "o1", progress=False)
    with pytest.raises(ValueError, match=r"holds no csynth report .*: run Vitis HLS there first"):
        build(other, tmp_path / "x", hls_project=first2 / "hls", progress=False)
    _place_sample(first2 / "hls", "other")
    changed = _design(tmp_path, "e4m3fn", name="other", extra="[hls]\nclock_ns = 4\n")
    with pytest.raises(ValueError, match=r"^hls_project: the csynth report in .* was made from other sources"):
        build(changed, tmp_path / "x", hls_project=first2 / "hls", progress=False)
    assert not (tmp_path / "x").exists()
    with pytest.raises(ValueError, match=r'^hls_project=.*: applies to backend = "hls" designs; .*digits_mlp_int8.toml builds the RTL'):
        build(DESIGNS / "digits_mlp_int8.toml", tmp_path / "x", hls_project=first2 / "hls", progress=False)


def test_a_replaced_rtl_build_is_not_a_project(tmp_path, monkeypatch):
    """--force over a directory without an HLS project (an RTL build) carries nothing."""
    _fast(monkeypatch)
    out = tmp_path / "out"
    (out / "hls").mkdir(parents=True)
    (out / "hls" / "notes.txt").write_text("not a project")
    build(_design(tmp_path, "e4m3fn"), out, force=True, progress=False)
    assert json.loads((out / "manifest.json").read_text())["csynth"] is None


@pytest.mark.slow
@pytest.mark.parametrize("name", ["digits_mlp_e4m3_hls", "digits_mlp_int8_hls"])
def test_shipped_hls_designs_over_the_test_split(name, tmp_path):
    """Each example HLS design over the whole test split: every output equals numfmt's."""
    out = build(DESIGNS / f"{name}.toml", tmp_path / name, progress=False)
    v = json.loads((out / "verification.json").read_text())
    assert (v["images"], v["outputs_checked"], v["mismatches"]) == (360, 3600, 0)
    assert v["accuracy"]["hls"] > 0.9
