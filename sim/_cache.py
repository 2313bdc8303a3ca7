"""The on-disk build cache of ``sim``: its size, its bound and its cleaning.

The cache root (:func:`sim.cache_root`: ``$NUMFMT_CACHE/sim``, default
``~/.cache/numfmt/sim``) holds

* ``<key>/`` — a finished build (``done`` marks it complete; its modification time is
  the build's last use, renewed by :func:`touch` on every cache hit);
* ``.tmp-…/`` — a build in progress (renamed to ``<key>`` when complete), or a tree
  being deleted;
* ``run-…/`` — the run directory of a failed ``sim.check``, kept for inspection;
* ``objects/`` — the compiled Verilator runtime shared by all builds (``sim._objcache``;
  an object's modification time is its last use).

:func:`sim.build` slims each new build to what a cache hit needs (:func:`slim`) and then
calls :func:`prune`, which keeps the total under ``$NUMFMT_CACHE_MAX_MB`` megabytes
(:func:`max_bytes`, default 500) by deleting the least recently used builds, run
directories and objects. Several processes (pytest-xdist workers) may share a cache:
nothing used within the last ``min_age`` seconds is deleted, so the bound may be
exceeded for a while by builds in use; a tree is renamed away before it is deleted,
so no process ever sees half of one.

Examples
--------
>>> import tempfile
>>> root = tempfile.mkdtemp()
>>> usage(root)
0
>>> prune(root, limit=0)
[]
"""

from __future__ import annotations

import math
import os
import re
import shutil
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

__all__ = ["DEFAULT_MAX_MB", "MB", "MIN_AGE", "STALE", "clear", "max_bytes", "prune", "slim", "touch",
           "usage"]

MB = 1_000_000
DEFAULT_MAX_MB = 500
MIN_AGE = 600.0   # s: an entry used more recently may be in use by another process; never deleted
STALE = 3600.0    # s: a temporary or partial tree this old was left by a killed process

_KEY = re.compile(r"[0-9a-f]{40}")


def max_bytes() -> int:
    """The cache bound in bytes: ``$NUMFMT_CACHE_MAX_MB`` megabytes (10**6 bytes), default 500.

    >>> from unittest import mock
    >>> with mock.patch.dict(os.environ, {"NUMFMT_CACHE_MAX_MB": "1.5"}):
    ...     max_bytes()
    1500000
    """
    text = os.environ.get("NUMFMT_CACHE_MAX_MB", "").strip()
    if not text:
        return DEFAULT_MAX_MB * MB
    try:
        mb = float(text)
    except ValueError:
        mb = math.nan
    if not (math.isfinite(mb) and mb >= 0):
        raise ValueError(f"NUMFMT_CACHE_MAX_MB must be a number of megabytes ≥ 0, not {text!r}")
    return int(mb * MB)


def _root(root) -> Path:
    if root is None:
        from ._runner import cache_root

        return cache_root()
    return Path(root)


def _size(path: Path) -> int:
    """Bytes of the files in ``path`` (a file or a tree); what vanishes meanwhile counts 0."""
    try:
        st = path.lstat()
    except FileNotFoundError:
        return 0
    if not path.is_dir() or path.is_symlink():
        return st.st_size
    total = 0
    for top, _dirs, files in os.walk(path):
        for name in files:
            try:
                total += os.lstat(os.path.join(top, name)).st_size
            except FileNotFoundError:
                pass
    return total


def _newest(path: Path) -> float:
    """The latest modification time of ``path`` and its direct children (0 if gone)."""
    try:
        newest = path.stat().st_mtime
        if path.is_dir():
            with os.scandir(path) as it:
                for entry in it:
                    try:
                        newest = max(newest, entry.stat(follow_symlinks=False).st_mtime)
                    except FileNotFoundError:
                        pass
    except FileNotFoundError:
        return 0.0
    return newest


def usage(root=None) -> int:
    """Bytes used by the cache at ``root`` (default :func:`sim.cache_root`).

    >>> import tempfile
    >>> usage(tempfile.mkdtemp())
    0
    """
    return _size(_root(root))


def touch(build) -> bool:
    """Mark the finished build ``build`` as used now; ``False`` when it is not (or no longer) there.

    >>> import tempfile
    >>> touch(tempfile.mkdtemp())
    False
    """
    done = Path(build) / "done"
    try:
        os.utime(done)
    except FileNotFoundError:
        return False
    except OSError:          # a read-only cache: usable, just not marked
        return done.exists()
    return True


def slim(build, keep) -> int:
    """Delete everything in the directory ``build`` except the names in ``keep``; return
    the bytes freed. :func:`sim.build` keeps what a cache hit reads: ``done``, the simulator
    executable, and the Verilog and build log for a reader.

    >>> import tempfile
    >>> d = Path(tempfile.mkdtemp())
    >>> _ = (d / "top").write_text("exe"), (d / "Vtop__pch.h.fast.gch").write_bytes(bytes(1000))
    >>> slim(d, {"top"}), sorted(p.name for p in d.iterdir())
    (1000, ['top'])
    """
    build = Path(build)
    keep = set(keep)
    freed = 0
    for path in list(build.iterdir()):
        if path.name in keep:
            continue
        freed += _size(path)
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)
    return freed


@dataclass
class _Entry:
    path: Path
    kind: str           # "build", "run", "object", "garbage"
    last_used: float
    size: int


def _entries(root: Path) -> list:
    out = []
    try:
        children = list(root.iterdir())
    except FileNotFoundError:
        return out
    for path in children:
        name = path.name
        if name == "objects" and path.is_dir():
            out.extend(_object_entries(path))
        elif name.startswith(".tmp-"):
            out.append(_Entry(path, "garbage", _newest(path), _size(path)))
        elif name.startswith("run-") and path.is_dir():
            out.append(_Entry(path, "run", _newest(path), _size(path)))
        elif _KEY.fullmatch(name) and path.is_dir():
            try:
                out.append(_Entry(path, "build", (path / "done").stat().st_mtime, _size(path)))
            except FileNotFoundError:     # no `done`: a partial tree (or being renamed away)
                out.append(_Entry(path, "garbage", _newest(path), _size(path)))
    return out


def _object_entries(objects: Path) -> list:
    out = []
    for path in list(objects.iterdir()):
        try:
            st = path.stat()
        except FileNotFoundError:
            continue
        if path.suffix == ".o" and _KEY.fullmatch(path.stem):
            dep = path.with_suffix(".d")
            out.append(_Entry(path, "object", st.st_mtime, st.st_size + _size(dep)))
        elif path.suffix == ".d" and _KEY.fullmatch(path.stem):
            if not path.with_suffix(".o").exists():     # half stored, or half deleted
                out.append(_Entry(path, "garbage", st.st_mtime, st.st_size))
        elif path.name.endswith(".tmp"):                 # _objcache's copy in progress
            out.append(_Entry(path, "garbage", st.st_mtime, st.st_size))
    return out


def _remove(entry: _Entry, min_age: float) -> bool:
    """Delete ``entry``; ``False`` if it vanished or was used meanwhile (then it stays)."""
    path = entry.path
    if entry.kind == "object" or not path.is_dir():
        try:
            path.unlink()             # the object first: _objcache takes its presence as a hit
        except FileNotFoundError:
            return False
        if entry.kind == "object":
            path.with_suffix(".d").unlink(missing_ok=True)
        return True
    trash = path.parent / f".tmp-del-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    try:
        os.rename(path, trash)        # atomic: other processes see the tree whole or not at all
    except FileNotFoundError:
        return False
    if entry.kind == "build":
        try:
            used = (trash / "done").stat().st_mtime
        except FileNotFoundError:
            used = 0.0
        if time.time() - used < min_age:   # hit by another process between the scan and the rename
            try:
                os.rename(trash, path)
                return False
            except OSError:                 # rebuilt meanwhile: the copy in place serves
                pass
    shutil.rmtree(trash, ignore_errors=True)
    return True


def prune(root=None, *, limit: int | None = None, min_age: float = MIN_AGE,
          stale: float = STALE) -> list:
    """Bound the cache at ``root`` (default :func:`sim.cache_root`); return the deleted paths.

    First deletes temporary and partial trees older than ``stale`` seconds (left by killed
    processes); then, while the cache is larger than ``limit`` bytes (default
    :func:`max_bytes`), the least recently used builds not used for ``min_age`` seconds
    and failed-run directories untouched for ``stale`` seconds, and last the runtime
    objects not used for ``min_age`` seconds.
    Recently used entries are never deleted (another process may be using them), so the
    cache can stay above ``limit`` while they are.

    >>> import tempfile
    >>> root = Path(tempfile.mkdtemp())
    >>> build = root / ("0" * 40)
    >>> build.mkdir(); _ = (build / "done").write_text("key")
    >>> prune(root, limit=0), prune(root, limit=0, min_age=0) == [build]
    ([], True)
    """
    root = _root(root)
    limit = max_bytes() if limit is None else limit
    now = time.time()
    entries = _entries(root)
    total = usage(root)
    removed = []
    for e in entries:
        if e.kind == "garbage" and now - e.last_used > stale and _remove(e, min_age):
            removed.append(e.path)
            total -= e.size
    old = {"build": min_age, "object": min_age, "run": stale}
    # runtime objects last: small, shared by every build, and each saves a compile
    candidates = sorted((e for e in entries if e.kind in old and now - e.last_used > old[e.kind]),
                        key=lambda e: (e.kind == "object", e.last_used))
    for e in candidates:
        if total <= limit:
            break
        if _remove(e, min_age):
            removed.append(e.path)
            total -= e.size
    return removed


def clear(root=None) -> int:
    """Delete every build, run directory, temporary tree and runtime object of the cache at
    ``root`` (default :func:`sim.cache_root`); return the bytes freed. Other files are
    left alone. Builds in use by another process break: clear when no simulation runs.

    >>> import tempfile
    >>> root = Path(tempfile.mkdtemp())
    >>> (root / "objects").mkdir(); _ = (root / "objects" / ("1" * 40 + ".o")).write_bytes(bytes(7))
    >>> clear(root), usage(root)
    (7, 0)
    """
    root = _root(root)
    freed = 0
    for e in _entries(root):
        if _remove(e, 0.0):
            freed += e.size
    objects = root / "objects"
    for path in list(objects.iterdir()) if objects.is_dir() else []:   # copies cut short, orphans
        if not path.is_dir():
            freed += _size(path)
            path.unlink(missing_ok=True)
    return freed
