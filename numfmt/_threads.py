"""How many threads the heavy kernels use: ``set_threads``, ``threads``, ``get_threads``.

The element-wise and block-wise kernels (scalar encode and decode, MX
quantize) split their input into contiguous chunks and run one compiled call
per chunk on a shared thread pool; the compiled loops release the GIL
(``nogil=True``). Every element (or block) is computed by the same code
whichever chunk it falls in, so the result does not depend on the number of
threads: ``threads=1`` and ``threads=N`` give the same bits.

The default is the number of cores this process may run on
(``len(os.sched_getaffinity(0))``). ``set_threads(n)`` changes the default for
the whole process; ``with threads(n):`` changes it for the code inside the
block (in this thread or task only, as a :mod:`contextvars` variable).

>>> import numfmt as nf
>>> with nf.threads(1):
...     nf.get_threads()
1
"""

from __future__ import annotations

import contextlib
import contextvars
import os
import threading
from concurrent.futures import ThreadPoolExecutor

__all__ = ["available_cores", "get_threads", "set_threads", "threads"]

#: Inputs smaller than this many elements per extra thread run in the calling thread.
MIN_CHUNK = 1 << 16

_default: int | None = None
_scoped: contextvars.ContextVar[int | None] = contextvars.ContextVar("numfmt_threads", default=None)
_pool: ThreadPoolExecutor | None = None
_pool_size = 0
_pool_lock = threading.Lock()


def available_cores() -> int:
    """The number of cores this process may run on (its CPU affinity), at least 1."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:          # platforms without sched_getaffinity
        return max(1, os.cpu_count() or 1)


def _check(n, name="threads"):
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"{name} must be an integer ≥ 1, not {n!r}")
    return n


def get_threads() -> int:
    """The number of threads the kernels use here: the innermost ``threads(n)``, else the default."""
    n = _scoped.get()
    if n is not None:
        return n
    return _default if _default is not None else available_cores()


def set_threads(n: int | None) -> None:
    """Set the process-wide default number of threads; ``None`` restores the core count.

    >>> import numfmt as nf
    >>> nf.set_threads(1); nf.get_threads()
    1
    >>> nf.set_threads(None)
    """
    global _default
    _default = None if n is None else _check(n)


@contextlib.contextmanager
def threads(n: int):
    """Use ``n`` threads in the kernels called inside the ``with`` block.

    >>> import numpy as np, numfmt as nf
    >>> x = np.linspace(-500, 500, 1 << 17, dtype=np.float32)
    >>> with nf.threads(1):
    ...     one = nf.parse("e4m3fn").encode(x)
    >>> with nf.threads(4):
    ...     four = nf.parse("e4m3fn").encode(x)
    >>> bool(np.array_equal(one, four))
    True
    """
    token = _scoped.set(_check(n))
    try:
        yield n
    finally:
        _scoped.reset(token)


def _forget_pool():
    """In a forked child the pool's threads do not exist: start a new pool on first use."""
    global _pool, _pool_size, _pool_lock
    _pool, _pool_size, _pool_lock = None, 0, threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_pool)


def _executor(workers: int) -> ThreadPoolExecutor:
    global _pool, _pool_size
    with _pool_lock:
        if _pool is None or _pool_size < workers:
            old = _pool
            _pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="numfmt")
            _pool_size = workers
            if old is not None:
                old.shutdown(wait=False)
        return _pool


def chunks(total: int, min_chunk: int = MIN_CHUNK) -> list[tuple[int, int]]:
    """Split ``range(total)`` into at most :func:`get_threads` contiguous ``(start, stop)`` pieces.

    >>> with threads(3):
    ...     chunks(10, min_chunk=1)
    [(0, 3), (3, 6), (6, 10)]
    """
    parts = max(1, min(get_threads(), total // max(1, min_chunk)))
    bounds = [total * i // parts for i in range(parts + 1)]
    return [(bounds[i], bounds[i + 1]) for i in range(parts)]


def run(fn, total: int, min_chunk: int = MIN_CHUNK) -> list:
    """Call ``fn(start, stop)`` over :func:`chunks` of ``range(total)``; return the results in order.

    One chunk runs in the calling thread, the others on the shared pool. ``fn``
    must write disjoint parts of its outputs (and should release the GIL).
    """
    parts = chunks(total, min_chunk)
    if len(parts) == 1:
        return [fn(*parts[0])]
    pool = _executor(len(parts) - 1)
    futures = [pool.submit(fn, *p) for p in parts[1:]]
    first = fn(*parts[0])
    return [first] + [f.result() for f in futures]
