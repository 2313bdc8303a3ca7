"""The ``numfmt`` command: ``numfmt info FORMAT``, ``numfmt cache``."""

from __future__ import annotations

import subprocess
import sys

import pytest

from numfmt.flow.cli import main


def test_info_small_float_prints_every_code(capsys):
    assert main(["info", "e2m1fn"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("e2m1fn: FloatFormat, 4 bits")
    assert "max                  6.0" in out
    assert "0x07 0111          6.0" in out and "0x09 1001         -0.5" in out
    assert out.count("0x") == 16


def test_info_wide_format_has_no_table(capsys):
    assert main(["info", "fp16"]) == 0
    out = capsys.readouterr().out
    assert "max                  65504.0" in out and "codes" not in out


def test_info_nan_codes_show_nan(capsys):
    assert main(["info", "e4m3fn"]) == 0
    out = capsys.readouterr().out
    assert "0x7f 01111111          nan" in out and "0x7e 01111110        448.0" in out


def test_bad_format_name_is_a_clear_error(capsys):
    assert main(["info", "e4m3xyz"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("numfmt info: ") and "e4m3xyz" in err


def test_console_script_runs():
    out = subprocess.run([sys.executable, "-m", "numfmt.flow.cli", "info", "fp4_e2m1", "--no-table"],
                         capture_output=True, text=True, check=True).stdout
    assert out.startswith("e2m1fn: FloatFormat, 4 bits") and "codes" not in out


@pytest.mark.parametrize("argv", [[], ["info"], ["bogus"]])
def test_usage_errors_exit_2(argv):
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2


def test_info_block_format_describes_its_element(capsys):
    assert main(["info", "mxfp4"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("mxfp4: BlockFormat, 4.25 bits per element")
    assert "element e2m1fn: FloatFormat, 4 bits" in out and "0x07 0111          6.0" in out


def _fake_build(root, size):
    build = root / "sim" / ("a" * 40)
    build.mkdir(parents=True)
    (build / "top").write_bytes(bytes(size))
    (build / "done").write_text("key\n")


def test_cache_prints_location_size_and_limit(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("NUMFMT_CACHE", str(tmp_path))
    monkeypatch.setenv("NUMFMT_CACHE_MAX_MB", "250")
    _fake_build(tmp_path, 2_000_000)
    assert main(["cache"]) == 0
    assert capsys.readouterr().out.splitlines() == [
        f"location  {tmp_path / 'sim'}", "size      2.0 MB",
        "limit     250.0 MB ($NUMFMT_CACHE_MAX_MB, default 500)"]


def test_cache_clear_empties_it(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("NUMFMT_CACHE", str(tmp_path))
    _fake_build(tmp_path, 3_000_000)
    assert main(["cache", "--clear"]) == 0
    assert capsys.readouterr().out == f"cleared {tmp_path / 'sim'}: 3.0 MB freed\n"
    assert list((tmp_path / "sim").iterdir()) == []
    assert main(["cache"]) == 0
    assert "size      0.0 MB" in capsys.readouterr().out


def test_cache_bad_limit_is_a_clear_error(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("NUMFMT_CACHE", str(tmp_path))
    monkeypatch.setenv("NUMFMT_CACHE_MAX_MB", "-5")
    assert main(["cache"]) == 2
    assert capsys.readouterr().err == ("numfmt cache: NUMFMT_CACHE_MAX_MB must be a number of megabytes ≥ 0, "
                                       "not '-5'\n")
