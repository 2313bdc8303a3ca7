"""numfmt.hw.hls.project: the generated HLS C++ project of the digits MLP, compiled and run
with g++, gives numfmt's output codes over the whole test split (e4m3fn and mxfp4)."""

from __future__ import annotations

import re

import numpy as np
import pytest

import numfmt as nf
from numfmt import nn
from numfmt.hw.hls import CheckResult, GxxError, HlsProject, check_project, generate_project
from numfmt.hw.hls import _gxx

pytestmark = pytest.mark.skipif(__import__("shutil").which("g++") is None, reason="g++ not found on PATH")


@pytest.fixture(scope="module")
def digits():
    x_train, _, x_test, _ = nn.digits_data()
    return nn.digits_mlp(), x_train, x_test


def _project(digits, tmp_path, weight, act, name="digits_mlp"):
    model, x_train, x_test = digits
    q = nn.quantize(model, nn.QConfig(weight=weight, act=act), x_train)
    return q, generate_project(q, x_test, tmp_path / name, name=name)


@pytest.mark.parametrize("fmt", ["e4m3fn", "mxfp4"])
def test_digits_mlp_equals_numfmt_over_the_test_split(digits, tmp_path, fmt):
    q, project = _project(digits, tmp_path, fmt, fmt)
    x_test = digits[2]
    assert project.inputs.shape == (360, 64) and project.expected.shape == (360, 10)
    assert np.array_equal(project.expected, q.trace(x_test)[q.output])
    result = check_project(project)
    assert isinstance(result, CheckResult)
    assert result.mismatches == 0, result.report
    assert np.array_equal(result.outputs, project.expected)
    assert result.report == "360 samples x 10 outputs: 0 mismatches"
    # the outputs are the network's: the argmax of the decoded codes is numfmt's prediction
    values = q.node(q.output).out.format.decode(result.outputs)
    assert np.array_equal(values.argmax(axis=1), q.predict(x_test))


@pytest.mark.parametrize("register, rounding", [("bf16", "rne"), ("fp16", "rtz")])
def test_float_register_accumulators(digits, tmp_path, register, rounding):
    """A sequential FloatAccumulator (every addition rounded) in the generated layers."""
    model, x_train, x_test = digits
    acc = nf.arith.FloatAccumulator(nf.FLOATS[register], rounding=rounding)
    q = nn.quantize(model, nn.QConfig(weight="e4m3fn", act="e4m3fn", acc=acc), x_train)
    project = generate_project(q, x_test, tmp_path / "p", name="mlp_acc")
    assert "numfmt::dense_float_acc<" in (project.directory / "mlp_acc.cpp").read_text()
    exact = nn.quantize(model, nn.QConfig(weight="e4m3fn", act="e4m3fn"), x_train)
    assert not np.array_equal(project.expected, exact.trace(x_test)[exact.output])   # the register matters
    result = check_project(project)
    assert result.mismatches == 0, result.report
    assert np.array_equal(result.outputs, project.expected)


def test_a_changed_weight_is_caught_by_the_testbench(digits, tmp_path):
    _, project = _project(digits, tmp_path, "e4m3fn", "e4m3fn", name="mlp")
    weights = project.directory / "mlp_weights.h"
    text = weights.read_text()
    # flip one weight code of the last layer, whose row feeds one output directly
    head, row = text.split("static const numfmt::code_t n_dense4_w[10][32] = {\n    {", 1)
    first, rest = row.split(",", 1)
    weights.write_text(f"{head}static const numfmt::code_t n_dense4_w[10][32] = {{\n    {{{int(first) ^ 0x40},{rest}")
    result = check_project(project)
    assert result.mismatches > 0
    assert re.fullmatch(r"360 samples x 10 outputs: \d+ mismatches", result.report)


def test_project_files_and_vitis_script(digits, tmp_path):
    _, project = _project(digits, tmp_path, "e4m3fn", "e4m3fn", name="net")
    names = sorted(p.name for p in project.files)
    assert names == ["README.md", "build.tcl", "net.cpp", "net.h", "net_tb.cpp", "net_tb_data.h", "net_weights.h"]
    assert (project.directory / "include" / "numfmt" / "minifloat.h").is_file()
    assert "void net(const in_t x[N_IN], out_t y[N_OUT]);" in (project.directory / "net.h").read_text()
    tcl = (project.directory / "build.tcl").read_text()
    for line in ("open_project -reset net_prj", "set_top net", 'add_files net.cpp -cflags "-std=c++14 -Iinclude"',
                 'add_files -tb net_tb.cpp -cflags "-std=c++14 -Iinclude"', "set_part {xcvu9p-flga2104-2-e}",
                 "create_clock -period 5 -name default", "csim_design", "csynth_design"):
        assert line in tcl.splitlines()
    weights = (project.directory / "net_weights.h").read_text()
    q_bias = int(re.search(r"n_dense0_bias\[64\] = \{(-?\d+)", weights).group(1))
    assert q_bias == nn.quantize(digits[0], nn.QConfig(weight="e4m3fn", act="e4m3fn"), digits[1]).node("dense0").bias[0]


def test_unsupported_graphs_are_named(digits, tmp_path):
    model, x_train, x_test = digits
    q = nn.quantize(model, nn.QConfig(weight="int8", act="int8"), x_train)
    with pytest.raises(ValueError, match="node 'dense0': activation format int8 is not a minifloat"):
        generate_project(q, x_test, tmp_path / "p")
    chunked = nf.arith.FloatAccumulator(nf.FLOATS["fp32"], order="chunked", chunk=8)
    q = nn.quantize(model, nn.QConfig(weight="e4m3fn", act="e4m3fn", acc=chunked), x_train)
    with pytest.raises(ValueError, match=r"node 'dense0': accumulator FloatAccumulator\(fp32, rounding=rne, "
                                         r"order=chunked, chunk=8\) \(the exact one or a sequential"):
        generate_project(q, x_test, tmp_path / "p")
    q = nn.quantize(model, nn.QConfig(weight="mxfp4", act="mxfp4", acc=nf.arith.FloatAccumulator(nf.FLOATS["fp32"])),
                    x_train)
    with pytest.raises(ValueError, match="node 'dense0': accumulator .* with MX activations"):
        generate_project(q, x_test, tmp_path / "p")
    rng = np.random.default_rng(0)
    conv = nn.Graph.sequential([nn.Conv2d(rng.standard_normal((2, 1, 3, 3)), np.zeros(2)), nn.ReLU()],
                               input_shape=(1, 8, 8))
    images = x_train[:50].reshape(-1, 1, 8, 8)
    cnn = nn.quantize(conv, nn.QConfig(weight="e4m3fn", act="e4m3fn"), images)
    with pytest.raises(ValueError, match=r"graph must take 1-D inputs \(an MLP\), not input_shape \(1, 8, 8\)"):
        generate_project(cnn, images, tmp_path / "p")
    with pytest.raises(TypeError, match="graph must be a numfmt.nn.QuantizedGraph, not Graph"):
        generate_project(model, x_test, tmp_path / "p")


def test_bad_arguments(digits, tmp_path):
    model, x_train, x_test = digits
    q = nn.quantize(model, nn.QConfig(weight="e4m3fn", act="e4m3fn"), x_train)
    with pytest.raises(ValueError, match="name must be a C identifier, not '2net'"):
        generate_project(q, x_test, tmp_path, name="2net")
    with pytest.raises(ValueError, match="clock_ns must be a positive number, not 0"):
        generate_project(q, x_test, tmp_path, clock_ns=0)
    with pytest.raises(ValueError, match=r"x must have shape \(N, 64\)"):
        generate_project(q, x_test[:, :10], tmp_path)
    with pytest.raises(TypeError, match="project must be an HlsProject"):
        check_project(tmp_path)


def test_a_compile_error_shows_the_compiler_output(digits, tmp_path):
    _, project = _project(digits, tmp_path, "e4m3fn", "e4m3fn", name="broken")
    (project.directory / "broken.cpp").write_text("int broken(void) { return undefined_name; }\n")
    with pytest.raises(GxxError, match="(?s)g\\+\\+ failed.*undefined_name"):
        check_project(project)


def test_project_dataclass_holds_the_testbench_data(digits, tmp_path):
    _, project = _project(digits, tmp_path, "e4m3fn", "e4m3fn", name="d")
    assert isinstance(project, HlsProject) and project.name == "d"
    assert project.inputs.dtype == np.uint32 and project.expected.dtype == np.uint32
    assert _gxx.include_dir().is_dir()
