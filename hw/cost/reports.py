r"""Parsers for the open tools' reports: Yosys ``stat -json`` and nextpnr ``--report``.

Each parser takes the report's text (``parse_*``) or its path (``read_*``) and returns a
frozen record of plain typed fields; each record's ``to_json()`` gives back a document of
the tool's own shape that the parser reads to an equal record. A report that is not
JSON (truncated, garbled) or lacks a field the record needs raises :class:`ReportError`,
whose message names the file and what is missing or wrong.

* :func:`parse_yosys_stat` → :class:`YosysStat`: cell counts by type (the design's
  totals), the modules, the Yosys version (``creator``).
* :func:`parse_nextpnr_report` → :class:`NextpnrReport`: achieved and constrained Fmax per
  clock, cell utilization (used/available), and the critical paths step by step.

>>> stat = parse_yosys_stat('''{"creator": "Yosys 0.70", "modules": {"\\\\top": {}},
...     "design": {"num_cells": 3, "num_cells_by_type": {"SB_LUT4": 2, "SB_DFF": 1}}}''')
>>> stat.cells_by_type, stat.modules
({'SB_DFF': 1, 'SB_LUT4': 2}, ('top',))
>>> parse_yosys_stat('{"creator": "Yosys 0.70", "modules": {', source="stat.json")
Traceback (most recent call last):
...
numfmt.hw.cost.reports.ReportError: stat.json: not valid JSON (truncated or garbled): Expecting property name enclosed in double quotes at line 1, column 39
"""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path

__all__ = ["ClockFmax", "CriticalPath", "NextpnrReport", "PathStep", "ReportError", "Utilization", "YosysStat",
           "parse_nextpnr_report", "parse_yosys_stat", "read_nextpnr_report", "read_yosys_stat"]


class ReportError(ValueError):
    """A report is truncated, garbled or of another kind (not valid JSON, a missing field or
    table row, a non-numeric cell): the message names the file and what is missing or wrong."""


# -- helpers ---------------------------------------------------------------------------------
def _load(text, source: str) -> object:
    if isinstance(text, bytes):
        text = text.decode("utf-8", errors="replace")
    if not isinstance(text, str):
        raise TypeError(f"text must be a str, not {type(text).__name__}")
    if not text.strip():
        raise ReportError(f"{source}: empty report")
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise ReportError(f"{source}: not valid JSON (truncated or garbled): {e.msg} at line {e.lineno}, "
                          f"column {e.colno}") from None
    except (RecursionError, ValueError) as e:     # nested too deep; an integer of too many digits
        raise ReportError(f"{source}: not a tool's report (JSON nested too deeply or a number too long: "
                          f"{type(e).__name__})") from None


def _get(obj, key: str, types, where: str, source: str):
    """``obj[key]`` checked to be of ``types``; ReportError naming ``where.key`` otherwise."""
    name = f"{where}.{key}" if where else key
    if not isinstance(obj, dict):
        raise ReportError(f"{source}: {where or 'the report'} must be a JSON object, not {type(obj).__name__}")
    if key not in obj:
        raise ReportError(f"{source}: missing key {name!r}")
    value = obj[key]
    if not isinstance(value, types) or isinstance(value, bool):
        want = types.__name__ if isinstance(types, type) else " or ".join(t.__name__ for t in types)
        raise ReportError(f"{source}: {name} must be {want}, not {value!r:.60}")
    return value


def _amount(obj, key: str, types, where: str, source: str):
    """:func:`_get` of a count, delay or frequency: also finite and ≥ 0."""
    value = _get(obj, key, types, where, source)
    if not 0 <= value < float("inf"):
        raise ReportError(f"{source}: {where}.{key} must be a finite number ≥ 0, not {value!r}")
    return value


def _read(path) -> tuple[str, str]:
    p = Path(os.fspath(path))
    try:
        return p.read_text(encoding="utf-8", errors="replace"), str(p)
    except FileNotFoundError:
        raise ReportError(f"{p}: no such report file") from None


_NUMBER = (int, float)


# -- Yosys stat -json ------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class YosysStat:
    """Yosys ``stat -json``: the design's cells by type.

    ``cells`` holds ``(type, count)`` pairs sorted by type (a dict is
    :attr:`cells_by_type`); ``num_cells`` is Yosys' total; ``modules`` the module
    names without Yosys' leading backslash; ``creator`` the Yosys version line.
    """
    creator: str
    modules: tuple[str, ...]
    num_cells: int
    cells: tuple[tuple[str, int], ...]
    source: str = dataclasses.field(default="<string>", compare=False)

    @property
    def cells_by_type(self) -> dict[str, int]:
        """``{cell type: count}``."""
        return dict(self.cells)

    def to_json(self) -> dict:
        """A ``stat -json`` document (design totals, module names) that parses to ``self``."""
        design = {"num_cells": self.num_cells, "num_cells_by_type": dict(self.cells)}
        return {"creator": self.creator, "modules": {"\\" + m: {} for m in self.modules}, "design": design}


def parse_yosys_stat(text, *, source: str = "<string>") -> YosysStat:
    """Parse the text of Yosys ``stat -json`` (``tee -q -o stat.json stat -json``).

    The counts are the ``design`` section's (the whole hierarchy); a report without one
    (older Yosys, a single module) uses its only module.

    Raises
    ------
    ReportError
        The text is not JSON, or ``modules``, the counts or the cell table are missing.
    """
    doc = _load(text, source)
    if not isinstance(doc, dict):
        raise ReportError(f"{source}: the report must be a JSON object, not {type(doc).__name__}")
    creator = doc.get("creator", "")
    if not isinstance(creator, str):
        raise ReportError(f"{source}: creator must be str, not {creator!r:.60}")
    modules = _get(doc, "modules", dict, "", source)
    if "design" in doc:
        section, where = doc["design"], "design"
    elif len(modules) == 1:
        (name, section), = modules.items()
        where = f"modules.{name}"
    else:
        raise ReportError(f"{source}: missing key 'design' (the totals), and {len(modules)} modules instead of one")
    num_cells = _get(section, "num_cells", int, where, source)
    table = _get(section, "num_cells_by_type", dict, where, source)
    cells = []
    for cell, n in sorted(table.items()):
        if not isinstance(n, int) or isinstance(n, bool) or n < 0:
            raise ReportError(f"{source}: {where}.num_cells_by_type.{cell} must be a count ≥ 0, not {n!r:.60}")
        cells.append((cell, n))
    names = tuple(m[1:] if m.startswith("\\") else m for m in modules)
    return YosysStat(creator=creator, modules=names, num_cells=num_cells, cells=tuple(cells), source=source)


def read_yosys_stat(path) -> YosysStat:
    """:func:`parse_yosys_stat` of the file ``path`` (errors name the file)."""
    text, source = _read(path)
    return parse_yosys_stat(text, source=source)


# -- nextpnr --report ------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class ClockFmax:
    """A clock's achieved Fmax and its constraint (MHz; ``None`` when unconstrained)."""
    clock: str
    achieved_mhz: float
    constraint_mhz: float | None = None


@dataclasses.dataclass(frozen=True)
class Utilization:
    """Cells of one type: ``used`` of ``available`` on the device."""
    cell: str
    used: int
    available: int


@dataclasses.dataclass(frozen=True)
class PathStep:
    """One step of a timing path: ``kind`` is nextpnr's ``clk-to-q``, ``routing``,
    ``logic`` or ``setup``; ``net`` is the routed net (routing steps only)."""
    kind: str
    from_cell: str
    from_port: str
    to_cell: str
    to_port: str
    delay_ns: float
    net: str | None = None


@dataclasses.dataclass(frozen=True)
class CriticalPath:
    """The worst path between two clock edges (``"posedge clk"``; ``"<async>"`` for ports)."""
    from_clock: str
    to_clock: str
    steps: tuple[PathStep, ...]

    @property
    def delay_ns(self) -> float:
        """Total delay: the sum of the steps' delays."""
        return sum(s.delay_ns for s in self.steps)

    @property
    def logic_levels(self) -> int:
        """Number of ``logic`` steps (cells passed through)."""
        return sum(s.kind == "logic" for s in self.steps)

    @property
    def start(self) -> str:
        """The cell the path starts at."""
        return self.steps[0].from_cell if self.steps else ""

    @property
    def end(self) -> str:
        """The cell the path ends at."""
        return self.steps[-1].to_cell if self.steps else ""


@dataclasses.dataclass(frozen=True)
class NextpnrReport:
    """nextpnr ``--report``: Fmax per clock, utilization, critical paths."""
    fmax: tuple[ClockFmax, ...]
    utilization: tuple[Utilization, ...]
    critical_paths: tuple[CriticalPath, ...]
    source: str = dataclasses.field(default="<string>", compare=False)

    def clock(self, name: str) -> ClockFmax | None:
        """The Fmax entry of clock ``name`` (``None`` if the report has none: no register
        paths on it)."""
        return next((c for c in self.fmax if c.clock == name), None)

    def critical_path(self, clock: str) -> CriticalPath | None:
        """The worst register-to-register path of ``clock`` (either edge), or ``None``."""
        ends = {f"posedge {clock}", f"negedge {clock}"}
        return next((p for p in self.critical_paths if p.from_clock in ends and p.to_clock in ends), None)

    @property
    def used(self) -> dict[str, int]:
        """``{cell type: used}`` for the types with at least one cell used."""
        return {u.cell: u.used for u in self.utilization if u.used}

    def to_json(self) -> dict:
        """A ``--report`` document that parses to ``self`` (cell locations and net sources
        are not kept)."""
        def end(cell, port):
            return {"cell": cell, "port": port}

        def step(s):
            d = {"type": s.kind, "delay": s.delay_ns, "from": end(s.from_cell, s.from_port),
                 "to": end(s.to_cell, s.to_port)}
            if s.net is not None:
                d["net"] = s.net
            return d

        return {
            "fmax": {c.clock: ({"achieved": c.achieved_mhz} if c.constraint_mhz is None else
                               {"achieved": c.achieved_mhz, "constraint": c.constraint_mhz}) for c in self.fmax},
            "utilization": {u.cell: {"used": u.used, "available": u.available} for u in self.utilization},
            "critical_paths": [{"from": p.from_clock, "to": p.to_clock, "path": [step(s) for s in p.steps]}
                               for p in self.critical_paths],
        }


def _endpoint(obj, key, where, source) -> tuple[str, str]:
    e = _get(obj, key, dict, where, source)
    return (_get(e, "cell", str, f"{where}.{key}", source), _get(e, "port", str, f"{where}.{key}", source))


def _step(obj, where, source) -> PathStep:
    from_cell, from_port = _endpoint(obj, "from", where, source)
    to_cell, to_port = _endpoint(obj, "to", where, source)
    net = obj.get("net")
    if net is not None and not isinstance(net, str):
        raise ReportError(f"{source}: {where}.net must be str, not {net!r:.60}")
    return PathStep(kind=_get(obj, "type", str, where, source), from_cell=from_cell, from_port=from_port,
                    to_cell=to_cell, to_port=to_port, delay_ns=float(_amount(obj, "delay", _NUMBER, where, source)),
                    net=net)


def parse_nextpnr_report(text, *, source: str = "<string>") -> NextpnrReport:
    """Parse the text of nextpnr's ``--report`` JSON.

    Needs ``fmax`` (``{clock: {"achieved": MHz, "constraint": MHz}}``; empty for a design
    without register paths), ``utilization`` (``{cell: {"used", "available"}}``) and
    ``critical_paths`` (``[{"from", "to", "path": [step, …]}]``).

    Raises
    ------
    ReportError
        The text is not JSON, or one of those keys (or a field of an entry) is missing.

    Examples
    --------
    >>> r = parse_nextpnr_report('{"fmax": {"clk": {"achieved": 243.0, "constraint": 200}},'
    ...                          ' "utilization": {"TRELLIS_FF": {"used": 39, "available": 24288}},'
    ...                          ' "critical_paths": []}')
    >>> r.clock("clk").achieved_mhz, r.used
    (243.0, {'TRELLIS_FF': 39})
    >>> parse_nextpnr_report('{"fmax": {}, "utilization": {}}', source="r.json")
    Traceback (most recent call last):
    ...
    numfmt.hw.cost.reports.ReportError: r.json: missing key 'critical_paths'
    """
    doc = _load(text, source)
    if not isinstance(doc, dict):
        raise ReportError(f"{source}: the report must be a JSON object, not {type(doc).__name__}")
    fmax = []
    for clock, entry in _get(doc, "fmax", dict, "", source).items():
        where = f"fmax.{clock}"
        achieved = float(_amount(entry, "achieved", _NUMBER, where, source))
        constraint = entry.get("constraint") if isinstance(entry, dict) else None
        if constraint is not None and (not isinstance(constraint, _NUMBER) or isinstance(constraint, bool)
                                       or not 0 <= constraint < float("inf")):
            raise ReportError(f"{source}: {where}.constraint must be a finite number ≥ 0, not {constraint!r:.60}")
        fmax.append(ClockFmax(clock, achieved, None if constraint is None else float(constraint)))
    util = []
    for cell, entry in _get(doc, "utilization", dict, "", source).items():
        where = f"utilization.{cell}"
        util.append(Utilization(cell, _amount(entry, "used", int, where, source),
                                _amount(entry, "available", int, where, source)))
    paths = []
    for k, entry in enumerate(_get(doc, "critical_paths", list, "", source)):
        where = f"critical_paths[{k}]"
        steps = _get(entry, "path", list, where, source)
        paths.append(CriticalPath(from_clock=_get(entry, "from", str, where, source),
                                  to_clock=_get(entry, "to", str, where, source),
                                  steps=tuple(_step(s, f"{where}.path[{j}]", source) for j, s in enumerate(steps))))
    return NextpnrReport(fmax=tuple(fmax), utilization=tuple(util), critical_paths=tuple(paths), source=source)


def read_nextpnr_report(path) -> NextpnrReport:
    """:func:`parse_nextpnr_report` of the file ``path`` (errors name the file)."""
    text, source = _read(path)
    return parse_nextpnr_report(text, source=source)
