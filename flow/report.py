"""The accuracy × cost report: a Pareto plot (PNG), an HTML page and a Markdown summary.

:func:`write` takes one record per design point — a dict with at least ``label``,
``family``, ``bits``, ``accuracy`` (test accuracy, 0–1) and ``luts`` — and writes, into a
directory:

* ``pareto.png`` — accuracy against LUTs, one marker per family, the front drawn;
* ``index.html`` — the plot, the finding, a sortable table of the front (links to each
  point's files when the records carry ``verilog`` / ``verification`` paths relative to
  the directory) and of every point (Jinja2 template ``templates/report.html.j2``);
* ``summary.md`` — the same finding and front table in Markdown.

Optional record keys shown when present: ``mode``, ``method``, ``val_accuracy``, ``ffs``,
``acc_luts``, ``synth_luts``, ``verified``, ``accel_verified`` (and links ``accel_verilog``,
``accel_verification``). Every file is written atomically.

>>> import tempfile, pathlib
>>> recs = [{"label": "int4", "family": "int", "bits": 4, "accuracy": 0.95, "luts": 40},
...         {"label": "e2m1", "family": "minifloat", "bits": 4, "accuracy": 0.96, "luts": 70}]
>>> with tempfile.TemporaryDirectory() as d:
...     paths = write(d, recs, title="digits MLP")
...     sorted(p.name for p in paths.values())
['index.html', 'pareto.png', 'summary.md']
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np

from numfmt._files import write_atomic

from . import pareto

__all__ = ["COLUMNS", "write"]

#: (record key, heading, is text) of the table columns, in order; absent keys are left out
COLUMNS = (("label", "point", True), ("family", "family", True), ("bits", "bits", False),
           ("mode", "mode", True), ("method", "method", True),
           ("val_accuracy", "validation acc. %", False), ("accuracy", "test acc. %", False),
           ("luts", "LUTs (model)", False), ("ffs", "FFs (model)", False),
           ("acc_luts", "LUTs (accel.)", False), ("synth_luts", "LUTs (Yosys)", False),
           ("verified", "verified", True), ("verilog", "Verilog", True), ("verification", "verification", True),
           ("accel_verified", "accelerator", True), ("accel_verilog", "accel. Verilog", True),
           ("accel_verification", "accel. verification", True))
_PERCENT = ("val_accuracy", "accuracy")
_LINKS = ("verilog", "verification", "accel_verilog", "accel_verification")
_MARKERS = {"int": "o", "minifloat": "^", "fixed": "s", "mx": "D"}
_REQUIRED = ("label", "family", "bits", "accuracy", "luts")


def _number(v) -> float:
    try:
        return float(v)
    except (TypeError, ValueError):
        return math.nan


def _check(records) -> list[dict]:
    records = list(records)
    if not records:
        raise ValueError("records is empty: nothing to report")
    for i, r in enumerate(records):
        missing = [k for k in _REQUIRED if k not in r]
        if missing:
            raise ValueError(f"records[{i}] lacks {', '.join(missing)} (has {', '.join(sorted(r))})")
    return records


def _cell(key, value) -> dict:
    if key in _LINKS:
        return {"text": "open" if value else "", "href": value or None, "sort": value or ""}
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return {"text": "n/a", "href": None, "sort": ""}
    if key in _PERCENT:
        return {"text": f"{100 * float(value):.2f}", "href": None, "sort": f"{float(value):.6f}"}
    if isinstance(value, (float, np.floating)) and float(value).is_integer():
        value = int(value)
    if isinstance(value, float):
        return {"text": f"{value:.1f}", "href": None, "sort": f"{value}"}
    return {"text": str(value), "href": None, "sort": str(value)}


def _table(heading, table_id, records, on_front) -> dict:
    cols = [(k, h, t) for k, h, t in COLUMNS if any(k in r for r in records)]
    rows = [{"front": bool(f), "cells": [_cell(k, r.get(k)) for k, _, _ in cols]}
            for r, f in zip(records, on_front)]
    return {"heading": heading, "id": table_id,
            "columns": [{"label": h, "text": t} for _, h, t in cols], "rows": rows}


def _plot(records, on_front, path: Path, title: str, xlabel: str) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7.5, 4.8), dpi=120)
    families = sorted({r["family"] for r in records})
    for fam in families:
        rs = [r for r in records if r["family"] == fam]
        ax.scatter([_number(r["luts"]) for r in rs], [100 * _number(r["accuracy"]) for r in rs],
                   marker=_MARKERS.get(fam, "x"), label=fam, alpha=0.75)
    front = sorted((r for r, f in zip(records, on_front) if f), key=lambda r: _number(r["luts"]))
    if front:
        ax.step([_number(r["luts"]) for r in front], [100 * _number(r["accuracy"]) for r in front],
                where="post", color="k", linewidth=1, label="Pareto front")
    ax.set_xscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel("test accuracy (%)")
    ax.set_title(title)
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8)
    fig.tight_layout()
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}.png")
    fig.savefig(tmp)
    plt.close(fig)
    os.replace(tmp, path)


def _markdown(title, meta, finding, records, on_front) -> str:
    cols = [(k, h) for k, h, _ in COLUMNS if k not in _LINKS and any(k in r for r in records)]
    lines = [f"# {title}", ""]
    lines += [f"- {k}: {v}" for k, v in meta.items()]
    lines += ["", "![accuracy against LUTs](pareto.png)", "", "## Finding", ""]
    lines += [f"- {s}" for s in finding] or ["- no width has both integer and minifloat points"]
    lines += ["", "## Pareto front", "", "| " + " | ".join(h for _, h in cols) + " |",
              "|" + "---|" * len(cols)]
    for r, f in zip(records, on_front):
        if f:
            lines.append("| " + " | ".join(_cell(k, r.get(k))["text"] for k, _ in cols) + " |")
    return "\n".join(lines) + "\n"


def write(directory, records, *, title: str, meta: dict | None = None, front=None, finding=None,
          xlabel: str = "LUTs (cost model)") -> dict:
    """Write ``pareto.png``, ``index.html`` and ``summary.md`` into ``directory``.

    ``front``: a boolean mask of the records on the front (default: :func:`pareto.front`
    of ``luts`` against ``accuracy``) — pass the front chosen on validation accuracy when
    the records carry test accuracy. ``finding``: the sentences to state (default: those of
    :func:`pareto.integer_finding` over all records). ``xlabel``: the plot's cost axis.
    Returns ``{"plot", "html", "markdown"}`` paths.
    """
    import jinja2

    records = _check(records)
    meta = dict(meta or {})
    if front is None:
        front = pareto.front([_number(r["luts"]) for r in records], [_number(r["accuracy"]) for r in records])
    front = np.asarray(front, dtype=bool)
    if front.shape != (len(records),):
        raise ValueError(f"front must be a mask of {len(records)} booleans, not of shape {front.shape}")
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    if finding is None:
        finding = [f.sentence() for f in pareto.integer_finding(
            [dict(r, luts=_number(r["luts"]), accuracy=_number(r["accuracy"])) for r in records])]
    finding = [str(s) for s in finding]
    paths = {"plot": directory / "pareto.png", "html": directory / "index.html",
             "markdown": directory / "summary.md"}
    _plot(records, front, paths["plot"], title, xlabel)
    env = jinja2.Environment(loader=jinja2.PackageLoader("numfmt.flow", "templates"),
                             autoescape=jinja2.select_autoescape(["html", "j2"]))
    order = sorted(range(len(records)), key=lambda i: (_number(records[i]["luts"]), records[i]["label"]))
    front_recs = [records[i] for i in order if front[i]]
    tables = [_table("Pareto front", "front", front_recs, [True] * len(front_recs)),
              _table("All points", "points", [records[i] for i in order], [front[i] for i in order])]
    html = env.get_template("report.html.j2").render(
        title=title, meta=meta, plot=paths["plot"].name, finding=finding, tables=tables)
    write_atomic(paths["html"], html)
    write_atomic(paths["markdown"], _markdown(title, meta, finding, records, front))
    return paths
