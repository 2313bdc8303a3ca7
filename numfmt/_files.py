"""Where numfmt keeps its caches, and writing a file so a reader never sees half of it.

>>> cache_dir("sim").name
'sim'
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

__all__ = ["cache_dir", "write_atomic"]


def cache_dir(kind: str) -> Path:
    """``$NUMFMT_CACHE/<kind>``, else ``~/.cache/numfmt/<kind>`` (``kind``: ``"sim"`` for
    simulator builds, ``"cost"`` for synthesis results)."""
    env = os.environ.get("NUMFMT_CACHE")
    return (Path(env) if env else Path.home() / ".cache" / "numfmt") / kind


def write_atomic(path: Path, text: str) -> None:
    """Write ``text`` to a temporary file beside ``path`` and rename it into place: an
    interruption leaves the old file or the new one, never a part."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
