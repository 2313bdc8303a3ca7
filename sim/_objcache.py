"""A compiler wrapper that caches the object files of Verilator's runtime across builds.

Every Verilator build compiles the same runtime sources (``verilated.cpp``,
``verilated_vpi.cpp``, …, and cocotb's ``verilator.cpp``) with the same flags, and
that is most of a build's time. Verilator's makefile runs each compile as
``$(OBJCACHE) $(CXX) …``; :func:`sim.build` sets ``OBJCACHE`` to this script (run
by file path, importing nothing from ``sim``). A compile of one absolute-path ``.cpp``
from outside the build directory into ``-o X.o`` is looked up in
``$NUMFMT_OBJCACHE_DIR`` by a key over the full command line (minus the output name),
the source's size and modification time and the compiler's; a hit copies the object
(and its ``.d`` dependency file), a miss compiles and stores. Anything else (the
design's own C++) is passed to the compiler unchanged. A hit renews the object's
modification time, which :func:`sim._cache.prune` reads as its last use.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys

__all__: list = []


def _stat(path: str) -> str:
    st = os.stat(path)
    return f"{path}:{st.st_size}:{st.st_mtime_ns}"


def _key(argv: list, out: str, source: str) -> str | None:
    compiler = shutil.which(argv[0])
    if compiler is None:
        return None
    words = [a for a in argv if a != out] + [_stat(source), _stat(compiler)]
    return hashlib.sha256("\0".join(words).encode()).hexdigest()[:40]


def _cacheable(argv: list):
    """(output, source) when ``argv`` compiles one outside source to ``-o X.o``."""
    if "-c" not in argv or "-o" not in argv:
        return None
    k = argv.index("-o")
    if k + 1 >= len(argv) or not argv[k + 1].endswith(".o"):
        return None
    sources = [a for a in argv[1:] if a.endswith((".cpp", ".cc", ".c"))]
    if len(sources) != 1 or not os.path.isabs(sources[0]):
        return None
    here = os.path.realpath(os.getcwd())
    if os.path.realpath(sources[0]).startswith(here + os.sep):
        return None
    return argv[k + 1], sources[0]


def _copy_in(src: str, dst: str) -> None:
    tmp = f"{dst}.{os.getpid()}.tmp"
    shutil.copyfile(src, tmp)
    os.replace(tmp, dst)


def main(argv: list) -> int:
    if not argv:
        print("usage: _objcache.py COMPILER ARGS...", file=sys.stderr)
        return 2
    cache = os.environ.get("NUMFMT_OBJCACHE_DIR")
    target = _cacheable(argv) if cache else None
    key = _key(argv, *target) if target else None
    if key is None:
        return subprocess.call(argv)
    out, _source = target
    dep = out[:-2] + ".d"
    cached_o = os.path.join(cache, key + ".o")
    cached_d = os.path.join(cache, key + ".d")
    try:
        _copy_in(cached_o, out)
        if os.path.exists(cached_d):
            _copy_in(cached_d, dep)
    except FileNotFoundError:         # not cached, or pruned meanwhile: compile
        pass
    else:
        try:
            os.utime(cached_o)        # its last use, for sim._cache.prune
        except OSError:
            pass
        return 0
    code = subprocess.call(argv)
    if code == 0 and os.path.exists(out):
        os.makedirs(cache, exist_ok=True)
        if os.path.exists(dep):
            _copy_in(dep, cached_d)
        _copy_in(out, cached_o)       # the object last: its presence means both are there
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
