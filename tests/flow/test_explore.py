"""flow.explore and ``numfmt explore``: options, choices on validation, costs, the report,
resuming after SIGKILL, and the same records on a Dask cluster."""

from __future__ import annotations

import importlib
import json
import math
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

import numfmt as nf
from numfmt import nn
from numfmt.arith.accumulators import kulisch_width
from numfmt.flow import explore, results, sweep
from numfmt.flow.cli import main

pytest.importorskip("sklearn")

_SMALL = dict(families=("int", "minifloat"), bits=(4,), modes=("wa",), methods=("rtn",), synth=False,
              verify="none", workers=1)
_SMALL_ARGV = ["--families", "int,minifloat", "--bits", "4", "--modes", "wa", "--methods", "rtn", "--no-synth",
               "--verify", "none", "--workers", "1", "--quiet"]


def _same(a, b):
    """Records equal bit for bit, timings aside (NaN equals NaN)."""
    strip = lambda r: json.dumps({k: v for k, v in r.items() if k != "seconds"}, sort_keys=True)
    return sorted(map(strip, a)) == sorted(map(strip, b))


def _gemm_onnx(path, n_in):
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper, numpy_helper
    w = np.random.default_rng(0).standard_normal((10, n_in)).astype(np.float32)
    graph = helper.make_graph(
        [helper.make_node("Gemm", ["x", "w"], ["y"], transB=1)], "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, n_in])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 10])], [numpy_helper.from_array(w, "w")])
    onnx.save(helper.make_model(graph), path)


@pytest.mark.parametrize("argv, start", [
    (["--families", "int,posit"], "--families: families must be one of"),
    (["--methods", "rtn,optq"], "--methods: methods must be one of"),
    (["--granularity", "row"], "--granularity: granularity must be 'tensor', 'channel' or an integer group"),
    (["--bits", "8-3"], "--bits: bits range '8-3' is empty: give the low end first (3-8)"),
    (["--modes", "a"], "--modes: modes must be one of 'w', 'wa', not 'a'"),
    (["--verify", "full"], "--verify: verify 'full' (the whole accelerator) is not supported yet"),
    (["--verify", "all"], "--verify: verify must be one of 'unit', 'none', 'full', not 'all'"),
    (["--target", "ecp5"], "--target: target must be 'xilinx'"),
    (["--budget", "0"], "--budget: budget must be an integer ≥ 1, not 0"),
    (["--workers", "0"], "--workers: workers must be an integer ≥ 1, not 0"),
    (["--scheduler", "localhost:8786"], "--scheduler: scheduler must be a Dask scheduler address"),
    (["--data", "missing.npz"], "--data: data must be an .npz file, not 'missing.npz' (no such file)"),
])
def test_cli_bad_options_exit_2_with_one_line_naming_the_option(argv, start, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(explore, "_workload", lambda *a: pytest.fail("work started"))
    out = tmp_path / "out"
    assert main(["explore", "--out", str(out), "--quiet"] + argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("numfmt explore: " + start), err
    assert not out.exists()


def test_cli_model_and_data_that_do_not_fit_exit_2(tmp_path, capsys):
    onnx_path = str(tmp_path / "m13.onnx")
    _gemm_onnx(onnx_path, 13)
    assert main(["explore", "--out", str(tmp_path / "a"), "--model", onnx_path] + _SMALL_ARGV) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("numfmt explore: --model: model input shape (13,) does not fit "
                                                   "the digits data"), err
    x_train, y_train, x_test, y_test = nn.digits_data()
    bad = tmp_path / "bad.npz"
    np.savez(bad, x_calib=x_train[:, :13], y_calib=y_train, x_test=x_test, y_test=y_test)
    assert main(["explore", "--out", str(tmp_path / "b"), "--data", str(bad)] + _SMALL_ARGV) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("numfmt explore: --data: x_calib must have shape (N, 64)"), err
    unlabeled = tmp_path / "unlabeled.npz"
    np.savez(unlabeled, x_calib=x_train, x_test=x_test, y_test=y_test)
    assert main(["explore", "--out", str(tmp_path / "c"), "--data", str(unlabeled)] + _SMALL_ARGV) == 2
    assert capsys.readouterr().err == ("numfmt explore: --data: data needs a validation split: arrays x_val and "
                                       "y_val, or y_calib (labels of x_calib) to carve one from x_calib\n")
    assert sorted(os.listdir(tmp_path)) == ["bad.npz", "m13.onnx", "unlabeled.npz"]


def test_unit_of_prices_each_family_by_its_mac():
    u, lanes = explore.unit_of("int5", "wa", 64)
    assert type(u).__name__ == "IntMac" and lanes == 1
    assert u.register.width == kulisch_width(nf.IntFormat(5), nf.IntFormat(5), 64) == 16
    fixed, _ = explore.unit_of("ap_fixed<5,1,AP_RND_CONV,AP_SAT>", "wa", 64)
    assert fixed.name == u.name                        # a fixed-point MAC is the integer MAC of its codes
    w_only, _ = explore.unit_of("int5", "w", 64)
    assert w_only.register.width == kulisch_width(nf.IntFormat(5), nf.parse(sweep.W_ONLY_ACT), 64)
    f, _ = explore.unit_of("fp6_e3m2", "wa", 10)
    assert type(f).__name__ == "FloatKulischMac" and f.n_max == 10
    mx, lanes = explore.unit_of("mxfp4", "wa", 64)
    assert type(mx).__name__ == "BlockDot" and lanes == 32
    for name in ("mxfp4", "fp6_e3m2"):
        with pytest.raises(ValueError, match="no unit multiplies .* weights by int16 activations"):
            explore.unit_of(name, "w", 64)


def test_cost_task_without_synthesis_says_why_there_is_no_cost():
    rec = explore._cost_task("fp4_e1m2", "wa", 64, False)
    assert math.isnan(rec["luts"]) and rec["source"] is None
    assert rec["note"].startswith("outside the cost model (") and rec["note"].endswith("synthesis is off")
    rec = explore._cost_task("int4", "wa", 64, False)
    assert rec["source"] == "model" and rec["luts"] > 0


def test_small_exploration_end_to_end_chooses_on_validation_and_reports_test(tmp_path):
    opts = explore.Options(out=str(tmp_path / "out"), **{**_SMALL, "methods": ("rtn", "gptq")})
    res = explore.explore(opts)
    # one row per format (W=A), its method the best on validation (ties: the earlier method)
    assert [r["weight"] for r in res.records] == ["int4", "fp4_e1m2", "fp4_e2m1", "fp4_e3m0"]
    by_key = {(p["weight"], p["method"]): p for p in res.points}
    for r in res.records:
        rtn, gptq = by_key[(r["weight"], "rtn")], by_key[(r["weight"], "gptq")]
        assert r["method"] == ("gptq" if gptq["val_accuracy"] > rtn["val_accuracy"] else "rtn")
        assert r["accuracy"] == by_key[(r["weight"], r["method"])]["accuracy"]
    # the accuracies are the emulator's: quantized on the training data less the validation split
    x_train, y_train, x_test, y_test = nn.digits_data()
    x_fit, x_val, y_val = explore._carve(x_train, y_train, 0.2, 0)
    assert len(x_val) == round(0.2 * len(x_train)) and len(x_fit) + len(x_val) == len(x_train)
    fit, val = explore._split(len(x_train), 0.2, 0)
    net = nn.digits_mlp(exclude=val)                  # trained without the validation images
    assert not np.array_equal(net.nodes[0].layer.weight, nn.digits_mlp().nodes[0].layer.weight)
    q = nn.quantize(net, sweep.Point("int4", "int4").qconfig(), x_fit)
    assert by_key[("int4", "rtn")]["accuracy"] == nn.accuracy(q, x_test, y_test)
    assert by_key[("int4", "rtn")]["val_accuracy"] == nn.accuracy(q, x_val, y_val)
    # costs: model for int4, e2m1, e3m0; fp4_e1m2 is outside the model and synthesis is off
    costs = {r["weight"]: r for r in res.records}
    assert math.isnan(costs["fp4_e1m2"]["luts"]) and costs["fp4_e1m2"]["cost_source"] is None
    assert costs["int4"]["cost_source"] == "model" and costs["int4"]["luts"] < costs["fp4_e2m1"]["luts"]
    # the front is on validation accuracy
    from numfmt.flow import pareto
    want = pareto.front([r["luts"] for r in res.records], [r["val_accuracy"] for r in res.records])
    assert res.front.tolist() == want.tolist() and not res.front[1]
    assert all(s.startswith("W=A 4 bits: ") for s in res.finding) and len(res.finding) == 1
    out = tmp_path / "out"
    assert sorted(p.name for p in out.iterdir()) == ["index.html", "pareto.png", "points.json", "points.jsonl",
                                                     "summary.md"]
    summary = (out / "summary.md").read_text()
    assert res.finding[0] in summary and "validation accuracy against LUTs" in summary
    # the store holds one record per task: 4 costs and 8 points
    _, recs = results.read(out / explore.STORE)
    assert sorted(r["kind"] for r in recs) == ["cost"] * 4 + ["point"] * 8


def test_rerun_is_refused_resume_recomputes_nothing_and_a_foreign_store_is_refused(tmp_path, capsys, monkeypatch):
    out = str(tmp_path / "out")
    assert main(["explore", "--out", out] + _SMALL_ARGV) == 0
    first = capsys.readouterr().out
    assert main(["explore", "--out", out] + _SMALL_ARGV) == 2
    assert capsys.readouterr().err == (f"numfmt explore: {os.path.join(out, explore.STORE)} already holds 8 results "
                                       "of this exploration; --resume continues it, --overwrite discards them, or "
                                       "choose another --out\n")
    monkeypatch.setattr(explore, "_point_task", lambda *a: pytest.fail("recomputed"))
    monkeypatch.setattr(explore, "_cost_task", lambda *a: pytest.fail("recomputed"))
    assert main(["explore", "--out", out, "--resume"] + _SMALL_ARGV) == 0
    assert capsys.readouterr().out == first
    assert main(["explore", "--out", out, "--resume", "--budget", "40"] + _SMALL_ARGV) == 0     # only the front moves
    rows = json.loads((tmp_path / "out" / "points.json").read_text())
    assert [r["weight"] for r in rows if r["front"]] == ["int4"] and rows[0]["luts"] <= 40
    assert "at most 40 LUTs" in (tmp_path / "out" / "summary.md").read_text()
    argv = [a if a != "4" else "5" for a in _SMALL_ARGV]
    assert main(["explore", "--out", out, "--resume"] + argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("numfmt explore: ") and "holds results of a different exploration (different points)" in err


@pytest.mark.slow
def test_front_units_are_synthesized_emitted_and_verified(tmp_path):
    opts = explore.Options(out=str(tmp_path / "out"), families=("int", "minifloat"), bits=(4,), modes=("wa", "w"),
                           methods=("rtn",), workers=2, vectors=2000)
    res = explore.explore(opts)
    front = [r for r, f in zip(res.records, res.front) if f]
    assert front and all(r["verified"] == "yes" and r["synth_luts"] > 0 for r in front)
    for r in front:
        verilog = tmp_path / "out" / r["verilog"]
        unit, _ = explore.unit_of(r["weight"], "wa" if r["mode"] == "W=A" else "w", 64)
        assert verilog.read_text() == importlib.import_module("numfmt.hw.emit").verilog(unit)
        report = json.loads((tmp_path / "out" / r["verification"]).read_text())
        assert report["passed"] and report["unit"] == unit.name and report["vectors"] > 0
    html = (tmp_path / "out" / "index.html").read_text()
    assert all(r["verilog"] in html for r in front)
    # units outside the model are priced by Yosys, weight-only minifloats not at all
    rows = {(r["weight"], r["mode"]): r for r in res.records}
    assert rows[("fp4_e1m2", "W=A")]["cost_source"] == "yosys"
    assert math.isnan(rows[("fp4_e2m1", "W-only")]["luts"]) and "no unit multiplies" in \
        rows[("fp4_e2m1", "W-only")]["note"]


@pytest.mark.slow
def test_sigkill_mid_way_then_resume_equals_an_uninterrupted_run(tmp_path):
    argv = ["--families", "int,fixed", "--bits", "3-6", "--modes", "wa,w", "--methods", "rtn,gptq",
            "--no-synth", "--verify", "none", "--workers", "1", "--quiet"]
    killed = tmp_path / "killed"
    store = killed / explore.STORE
    cmd = [sys.executable, "-m", "numfmt.flow.cli", "explore", "--out", str(killed)] + argv
    total = 16 + 32                                   # 16 units (formats × modes) and 32 points
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        n = 0
        while proc.poll() is None:
            n = len(results.read(store)[1]) if store.exists() and store.stat().st_size else 0
            if n >= 20:
                proc.send_signal(signal.SIGKILL)
                break
            time.sleep(0.05)
        assert proc.wait() == -signal.SIGKILL, "the exploration finished before it could be killed"
    finally:
        if proc.poll() is None:
            proc.kill()
    kept = results.read(store)[1]
    assert 20 <= len(kept) < total
    assert subprocess.run(cmd + ["--resume"], stdout=subprocess.DEVNULL).returncode == 0
    resumed = results.read(store)[1]
    keys = [(r["kind"], json.dumps(r["key"])) for r in resumed]
    assert len(keys) == len(set(keys)) == total                  # no task computed twice
    assert resumed[:len(kept)] == kept
    whole = tmp_path / "whole"
    assert main(["explore", "--out", str(whole)] + argv) == 0
    assert _same(resumed, results.read(whole / explore.STORE)[1])
    assert (killed / "points.json").read_text() == (whole / "points.json").read_text()


@pytest.mark.slow
def test_dask_local_cluster_gives_the_records_of_the_local_run(tmp_path):
    distributed = pytest.importorskip("distributed")
    opts = dict(families=("int", "minifloat", "mx"), bits=(4,), modes=("wa", "w"), methods=("rtn", "gptq"),
                synth=False, verify="none")
    local = explore.explore(explore.Options(out=str(tmp_path / "local"), workers=2, **opts))
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as c:
        remote = explore.explore(explore.Options(out=str(tmp_path / "dask"), scheduler=c.scheduler_address, **opts))
    assert _same(local.points, remote.points)
    assert local.front.tolist() == remote.front.tolist()
    assert (tmp_path / "local" / "points.json").read_text() == (tmp_path / "dask" / "points.json").read_text()
    assert _same(results.read(tmp_path / "local" / explore.STORE)[1], results.read(tmp_path / "dask" / explore.STORE)[1])
