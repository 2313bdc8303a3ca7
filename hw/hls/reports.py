"""The C-synthesis reports of an HLS project, where Vitis HLS (or Vivado HLS) leaves them.

A project written by :func:`numfmt.hw.hls.generate_project` (``build.tcl``: ``set_top
<top>``) or by hls4ml (``project.tcl``: ``set project_name "<top>"``) is synthesized into
``<top>_prj/<solution>/syn/report/<top>_csynth.xml`` (and ``.rpt``) — the paths both
``build.tcl`` and hls4ml's ``build_prj.tcl`` use, and where hls4ml's own report reader
looks. :func:`find_reports` lists them, :func:`read_reports` parses them with
:func:`numfmt.hw.cost.vendor.parse_hls_csynth`.

:func:`sources_digest` hashes the files synthesis reads (top function, weights, headers,
Tcl scripts; not the testbench or its data), so that a report can be matched with the
sources it was made from.

>>> import tempfile, pathlib
>>> with tempfile.TemporaryDirectory() as d:
...     _ = (pathlib.Path(d) / "build.tcl").write_text("open_project -reset net_prj\\nset_top net\\n")
...     print(project_top(d), read_reports(d))
net None
"""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path

__all__ = ["find_reports", "project_top", "read_reports", "sources_digest", "synthesis_sources"]

_SET_TOP = re.compile(r"^\s*set_top\s+([A-Za-z_]\w*)\s*$", re.M)
_PROJECT_NAME = re.compile(r'^\s*set\s+project_name\s+"([A-Za-z_]\w*)"\s*$', re.M)
_BACKEND = re.compile(r'^\s*set\s+backend\s+"([^"]*)"\s*$', re.M)


def _project_dir(project_dir) -> Path:
    d = Path(os.fspath(project_dir))
    if not d.is_dir():
        raise ValueError(f"project_dir must be an HLS project directory, not {str(project_dir)!r} "
                         "(no such directory)")
    return d


def _kind(d: Path) -> str:
    if (d / "build.tcl").is_file():
        return "numfmt"
    if (d / "project.tcl").is_file():
        return "hls4ml"
    raise ValueError(f"project_dir {str(d)!r} is not an HLS project: it has neither build.tcl "
                     "(numfmt.hw.hls.generate_project) nor project.tcl (hls4ml)")


def project_top(project_dir) -> str:
    """The top function's name, read from ``build.tcl`` (numfmt) or ``project.tcl`` (hls4ml).

    hls4ml's accelerator back ends synthesize ``<project>_axi``; the others ``<project>``.

    Raises
    ------
    ValueError
        Not a directory, no Tcl script, or the script names no top function.
    """
    d = _project_dir(project_dir)
    kind = _kind(d)
    script = d / ("build.tcl" if kind == "numfmt" else "project.tcl")
    text = script.read_text(encoding="utf-8", errors="replace")
    m = (_SET_TOP if kind == "numfmt" else _PROJECT_NAME).search(text)
    if m is None:
        what = "set_top <name>" if kind == "numfmt" else 'set project_name "<name>"'
        raise ValueError(f"{script}: no '{what}' line: cannot tell the top function")
    top = m.group(1)
    backend = _BACKEND.search(text) if kind == "hls4ml" else None
    if backend is not None and "accelerator" in backend.group(1).lower():
        top += "_axi"                       # as hls4ml's read_vivado_report does
    return top


def find_reports(project_dir) -> dict:
    """``{solution: path}`` of every csynth report of the project's top function.

    A solution is a folder of ``<top>_prj`` holding ``syn/report/<top>_csynth.xml`` (taken
    when present: it also has the average latency) or ``<top>_csynth.rpt``. Empty when
    synthesis has not run.

    Raises
    ------
    ValueError
        As :func:`project_top`.
    """
    d = _project_dir(project_dir)
    top = project_top(d)
    prj = d / f"{top}_prj"
    found = {}
    if prj.is_dir():
        for sol in sorted(p for p in prj.iterdir() if p.is_dir()):
            for suffix in (".xml", ".rpt"):
                path = sol / "syn" / "report" / f"{top}_csynth{suffix}"
                if path.is_file():
                    found[sol.name] = path
                    break
    return found


def read_reports(project_dir):
    """The parsed csynth reports of an HLS project: ``{solution: CsynthReport}``, or ``None``
    when there is none (synthesis has not run there).

    Parameters
    ----------
    project_dir : str or os.PathLike
        A project from :func:`numfmt.hw.hls.generate_project` or hls4ml (e.g. the ``hls/``
        folder of a ``numfmt build`` with ``backend = "hls"``).

    Returns
    -------
    dict or None
        Solution name (``"solution1"``) → :class:`numfmt.hw.cost.vendor.CsynthReport`, in
        name order; each record's ``source`` is the report's path.

    Raises
    ------
    ValueError
        ``project_dir`` is not an HLS project (no directory, no ``build.tcl`` or
        ``project.tcl``, no top function in it).
    numfmt.hw.cost.reports.ReportError
        A report is truncated or garbled (the message names it).

    Examples
    --------
    See the module docstring.
    """
    from numfmt.hw.cost.vendor import parse_hls_csynth

    found = find_reports(project_dir)
    if not found:
        return None
    return {sol: parse_hls_csynth(path) for sol, path in found.items()}


def synthesis_sources(project_dir) -> list:
    """The files HLS synthesis reads, relative to ``project_dir``, sorted.

    numfmt's project: ``build.tcl``, ``<top>.h``, ``<top>.cpp``, ``<top>_weights.h`` and
    ``include/**``. hls4ml's: ``project.tcl``, ``build_prj.tcl`` and ``firmware/**`` but the
    compiled ``*.so`` libraries. Testbenches, their data, logs and ``<top>_prj`` are left out.
    """
    d = _project_dir(project_dir)
    kind, top = _kind(d), project_top(d)
    if kind == "numfmt":
        files = [d / n for n in ("build.tcl", f"{top}.h", f"{top}.cpp", f"{top}_weights.h")]
        files += [p for p in (d / "include").rglob("*") if p.is_file()]
    else:
        files = [d / n for n in ("project.tcl", "build_prj.tcl")]
        files += [p for p in (d / "firmware").rglob("*") if p.is_file() and p.suffix != ".so"]
    return sorted(p.relative_to(d).as_posix() for p in files if p.is_file())


def sources_digest(project_dir) -> str:
    """SHA-256 (hex) over :func:`synthesis_sources`' names and contents: equal digests mean a
    csynth report of one project describes the other.

    >>> import tempfile, pathlib
    >>> with tempfile.TemporaryDirectory() as d:
    ...     _ = (pathlib.Path(d) / "build.tcl").write_text("set_top net\\n")
    ...     len(sources_digest(d))
    64
    """
    d = _project_dir(project_dir)
    h = hashlib.sha256()
    for name in synthesis_sources(d):
        data = (d / name).read_bytes()
        h.update(f"{name}\0{len(data)}\0".encode() + data)
    return h.hexdigest()
