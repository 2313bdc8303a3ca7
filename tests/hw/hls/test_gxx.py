"""numfmt.hw.hls._gxx: the g++ harness (flags, cache, errors) and the headers' warning-free build."""

from __future__ import annotations

import shutil

import pytest

import numfmt.hw.hls as hls
from numfmt.hw.hls import _gxx

needs_gxx = pytest.mark.skipif(shutil.which("g++") is None, reason="g++ not found on PATH")
HEADERS = sorted(p.name for p in (hls.include_dir() / "numfmt").glob("*.h"))


def test_the_library_ships_its_headers():
    assert HEADERS == ["accumulate.h", "ap_conv.h", "layers.h", "minifloat.h", "mx.h", "numfmt.h", "requant.h"]
    assert hls.FLAGS == ("-std=c++14", "-Wall", "-Wextra", "-Werror", "-O2")


@needs_gxx
@pytest.mark.parametrize("header", HEADERS)
def test_each_header_compiles_alone_without_warnings(header, tmp_path, monkeypatch):
    """Each header on its own (and twice: include guards), -std=c++14 -Wall -Wextra -Werror."""
    if header == "ap_conv.h" and hls.ap_types_dir() is None:
        pytest.skip("hls4ml's ap_types headers are not installed")
    monkeypatch.setenv("NUMFMT_CACHE", str(tmp_path))
    src = f"#include <numfmt/{header}>\n#include <numfmt/{header}>\nint main() {{ return 0; }}\n"
    exe = hls.compile_program({"main.cpp": src}, name="alone", ap_types=header == "ap_conv.h")
    assert exe.is_file() and exe.parent.parent == tmp_path / "hls"


@needs_gxx
def test_builds_are_cached_by_source(tmp_path, monkeypatch):
    monkeypatch.setenv("NUMFMT_CACHE", str(tmp_path))
    src = '#include <cstdio>\n#include <numfmt/minifloat.h>\nint main() { std::printf("%x\\n", ' \
          'numfmt::encode_double<numfmt::e4m3fn>(0.3)); return 0; }\n'
    exe = hls.compile_program({"main.cpp": src})
    assert _gxx.run(exe) == "2a\n"
    mtime = exe.stat().st_mtime_ns
    assert hls.compile_program({"main.cpp": src}) == exe and exe.stat().st_mtime_ns == mtime
    assert hls.compile_program({"main.cpp": src + "\n"}) != exe


@needs_gxx
def test_compiler_errors_show_their_tail(tmp_path, monkeypatch):
    monkeypatch.setenv("NUMFMT_CACHE", str(tmp_path))
    with pytest.raises(hls.GxxError, match="(?s)g\\+\\+ failed .*-Werror.*unused variable"):
        hls.compile_program({"main.cpp": "int main() { int unused = 0; return 0; }\n"})


def test_missing_gxx_is_named(monkeypatch):
    monkeypatch.setattr(_gxx.shutil, "which", lambda name: None)
    with pytest.raises(hls.GxxError, match="g\\+\\+ not found on PATH"):
        hls.compile_program({"main.cpp": "int main() { return 0; }\n"})


def test_sources_must_hold_a_cpp_file():
    with pytest.raises(ValueError, match="sources must be a dict of file names to text with at least one .cpp file"):
        hls.compile_program({"a.h": ""})


@needs_gxx
def test_a_failing_program_is_reported(tmp_path, monkeypatch):
    monkeypatch.setenv("NUMFMT_CACHE", str(tmp_path))
    exe = hls.compile_program({"main.cpp": '#include <cstdio>\nint main() { std::puts("bad"); return 3; }\n'})
    with pytest.raises(hls.GxxError, match="(?s)exited with 3.*bad"):
        _gxx.run(exe)
