"""Compile and run C++ against the header library with g++, cached by source hash.

A build is keyed by the sources, the compiler's ``--version``, the flags and the include
directories (with a hash of the headers in them), and kept as one executable under
``numfmt._files.cache_dir("hls")``; a second build of the same program is a file lookup.

>>> FLAGS
('-std=c++14', '-Wall', '-Wextra', '-Werror', '-O2')
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from numfmt._files import cache_dir

__all__ = ["FLAGS", "GxxError", "ap_types_dir", "compile_program", "gxx", "include_dir", "run"]

FLAGS = ("-std=c++14", "-Wall", "-Wextra", "-Werror", "-O2")
_TAIL = 4000


class GxxError(RuntimeError):
    """g++ is missing, or a compilation or a run failed (the message holds its output's tail)."""


def include_dir() -> Path:
    """The directory to put on the include path: it holds ``numfmt/*.h``.

    >>> (include_dir() / "numfmt" / "minifloat.h").is_file()
    True
    """
    return Path(__file__).resolve().parent / "include"


def ap_types_dir() -> Path | None:
    """The ``ap_types`` headers (``ap_fixed.h``) shipped with the installed hls4ml, or None."""
    try:
        import hls4ml
    except Exception:  # hls4ml missing or broken: no ap_types
        return None
    d = Path(hls4ml.__file__).parent / "templates" / "vivado" / "ap_types"
    return d if (d / "ap_fixed.h").is_file() else None


def gxx() -> str:
    """The path of ``g++``; :class:`GxxError` naming it when it is not on PATH."""
    path = shutil.which("g++")
    if path is None:
        raise GxxError("g++ not found on PATH: the HLS C++ is compiled and checked with g++ "
                       "(on Debian/Ubuntu: apt-get install g++)")
    return path


def _tree_hash(directory: Path) -> str:
    h = hashlib.sha256()
    for p in sorted(directory.rglob("*.h")):
        h.update(str(p.relative_to(directory)).encode() + b"\0" + p.read_bytes())
    return h.hexdigest()


def compile_program(sources: dict, *, name: str = "prog", ap_types: bool = False,
                    extra_includes=(), library: bool = True) -> Path:
    """Build ``sources`` (``{file name: text}``; the ``.cpp`` files are compiled) into an executable.

    Flags are :data:`FLAGS`; the include path holds :func:`include_dir` (unless
    ``library=False``: a generated project brings its own copy), the directory of the sources
    and ``extra_includes``, and with ``ap_types=True`` hls4ml's ``ap_types`` as a system
    directory. Returns the cached executable's path.

    Raises
    ------
    GxxError
        g++ missing, ap_types missing, or a failed compilation (with the tail of its output).
    ValueError
        ``sources`` empty or without a ``.cpp`` file.
    """
    if not isinstance(sources, dict) or not any(str(k).endswith(".cpp") for k in sources):
        raise ValueError(f"sources must be a dict of file names to text with at least one .cpp file, "
                         f"not {sources!r:.200}")
    compiler = gxx()
    includes = ([include_dir()] if library else []) + [Path(d).resolve() for d in extra_includes]
    system = []
    if ap_types:
        ap = ap_types_dir()
        if ap is None:
            raise GxxError("hls4ml's ap_types headers (templates/vivado/ap_types/ap_fixed.h) not found: "
                           "install hls4ml (pip install 'numfmt-hw[hw]')")
        system.append(ap)
    version = subprocess.run([compiler, "--version"], capture_output=True, text=True).stdout
    key = hashlib.sha256("\0".join(
        [version, " ".join(FLAGS)] + [f"{k}\0{v}" for k, v in sorted(sources.items())]
        + [_tree_hash(d) for d in includes + system]).encode()).hexdigest()[:24]
    exe = cache_dir("hls") / key / name
    if exe.is_file():
        return exe
    exe.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=exe.parent) as tmp:
        tmp = Path(tmp)
        for fname, text in sources.items():
            (tmp / fname).write_text(text, encoding="utf-8")
        cmd = [compiler, *FLAGS, *(f"-I{d}" for d in includes), *(f"-isystem{d}" for d in system),
               *sorted(f for f in sources if f.endswith(".cpp")), "-o", name]
        res = subprocess.run(cmd, cwd=tmp, capture_output=True, text=True)
        if res.returncode:
            out = (res.stdout + res.stderr)[-_TAIL:]
            raise GxxError(f"g++ failed ({' '.join(cmd)}):\n{out}")
        os.replace(tmp / name, exe)     # atomic: parallel sessions may race
    return exe


def run(exe: Path, args=(), *, cwd=None) -> str:
    """Run a built program; its stdout, or :class:`GxxError` with the tail of its output."""
    res = subprocess.run([str(exe), *map(str, args)], capture_output=True, text=True, cwd=cwd)
    if res.returncode:
        raise GxxError(f"{exe.name} exited with {res.returncode}:\n{(res.stdout + res.stderr)[-_TAIL:]}")
    return res.stdout
