"""Parsers for vendor tools' reports: Vivado utilization and timing summaries, HLS csynth.

A user who has the vendor tools brings their results to numfmt's cost tables with these:

* :func:`parse_vivado_utilization` → :class:`VivadoUtilization`: a ``report_utilization``
  text report (7-series "Slice Logic" or UltraScale "CLB Logic" naming; LUTs, flip-flops,
  DSPs, block-RAM tiles, URAM, carry cells, device).
* :func:`parse_vivado_timing` → :class:`VivadoTiming`: a ``report_timing_summary`` text
  report (WNS/TNS/WHS/THS, the clocks, whether the constraints are met, achieved Fmax).
* :func:`parse_hls_csynth` → :class:`CsynthReport`: a Vivado HLS or Vitis HLS C-synthesis
  report as hls4ml leaves it, ``<top>_csynth.xml`` or ``<top>_csynth.rpt`` (clock periods,
  latency, interval, estimated resources and the device's available resources).

Every record is frozen and keeps the report's name in ``source``. A report that is
truncated, garbled or of another kind raises :class:`ReportError`, whose message names the
file and what is missing or wrong. Text tables are read by their row and column names
(Vivado's ``|``-separated tables with ``+---`` rules; the timing summary's columns by the
dashes under their titles), never by position, so other column widths and extra columns
(Vivado 2020's ``Prohibited``) read the same. A table that ends without its closing rule,
or runs into the end of the file, is reported as truncated: any cut of a report either
raises or, if it comes after everything the parser reads, gives the whole record.

>>> parse_vivado_utilization("Yosys 0.70\\nNumber of cells: 12\\n", source="yosys.log")
Traceback (most recent call last):
...
numfmt.hw.cost.reports.ReportError: yosys.log: no 'Slice Logic' (or 'CLB Logic') table — truncated or not a Vivado utilization report?
"""

from __future__ import annotations

import dataclasses
import math
import os
import re
import xml.etree.ElementTree as ET
from pathlib import Path

from .reports import ReportError   # a truncated, garbled or foreign report, as for the open tools

__all__ = ["CsynthReport", "HlsResources", "ReportError", "VivadoClock", "VivadoTiming", "VivadoUtilization",
           "parse_hls_csynth", "parse_vivado_timing", "parse_vivado_utilization"]




# -- reading ---------------------------------------------------------------------------------
def _load(source, name: str | None) -> tuple[str, str]:
    """``(text, name)`` of a path (``os.PathLike``, or a ``str`` without a newline) or of a
    report's text (a ``str`` with newlines; named ``name`` or ``"<string>"``)."""
    if isinstance(source, os.PathLike) or (isinstance(source, str) and "\n" not in source):
        return _read(source, name)
    if isinstance(source, str):
        return source, name or "<string>"
    raise TypeError(f"the report must be a path or the report's text, not {type(source).__name__}")


def _read(path, name: str | None = None) -> tuple[str, str]:
    p = Path(os.fspath(path))
    label = name or str(p)
    try:
        return p.read_text(encoding="utf-8", errors="replace"), label
    except FileNotFoundError:
        raise ReportError(f"{label}: no such report file") from None
    except IsADirectoryError:
        raise ReportError(f"{label}: is a directory, not a report file") from None


_INT = re.compile(r"\d+")
_FLOAT = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)")


def _int(cell: str, what: str, name: str) -> int:
    if not _INT.fullmatch(cell):
        raise ReportError(f"{name}: {what} is {cell!r}, not a whole number — garbled report?")
    return int(cell)


def _float(cell: str, what: str, name: str, *, inf: bool = False) -> float:
    if _FLOAT.fullmatch(cell):
        return float(cell)
    if inf and cell in ("inf", "-inf"):
        return float(cell)
    raise ReportError(f"{name}: {what} is {cell!r}, not a number — garbled report?")


def _header_field(text: str, key: str) -> str | None:
    """The value of a Vivado header line ``| Key : value``."""
    m = re.search(rf"^\|\s*{re.escape(key)}\s*:\s*(.*?)\s*$", text, re.MULTILINE)
    return m.group(1) if m and m.group(1) else None


def _vivado_version(text: str) -> str | None:
    tool = _header_field(text, "Tool Version")
    if tool is None:
        return None
    m = re.search(r"v\.?(\d{4}\.\d+(?:\.\d+)?)", tool)
    return m.group(1) if m else tool


# -- '|' tables ------------------------------------------------------------------------------
_RULE = re.compile(r"^\s*\+(?:[-=]+\+)+\s*$")
_ROW = re.compile(r"^\s*\|(.*)\|\s*$")
_NUMBERED = re.compile(r"^\d+(?:\.\d+)*\.?\s+(\S.*?)\s*$")      # "1. Slice Logic" over dashes
_BANNER = re.compile(r"^==\s+(\S.*?)\s*$")                       # "== Utilization Estimates"


@dataclasses.dataclass
class _Table:
    section: str                 # the heading the table is under
    header: list[list[str]]      # the rows between the first two rules
    rows: list[list[str]]        # the rows after them

    def column(self, title: str) -> int | None:
        for cells in reversed(self.header):
            if title in cells:
                return cells.index(title)
        return None

    def row(self, *names: str) -> list[str] | None:
        """The first row whose first cell (without Vivado's footnote ``*``) is one of ``names``."""
        for cells in self.rows:
            if cells[0].rstrip("*").strip() in names:
                return cells
        return None


def _cells(line: str) -> list[str]:
    return [c.strip() for c in _ROW.match(line).group(1).split("|")]


def _tables(text: str, name: str) -> list[_Table]:
    """Every ``|``/``+---`` table of a report with the section heading it is under (a
    numbered heading over dashes, ``1. Slice Logic``, or an HLS banner, ``== Utilization
    Estimates``). Raises ReportError for a table that does not end with a rule followed by
    a line that is not part of a table (the tools always leave a blank line or a note): a
    cut row or rule, or the end of the file, means a truncated report."""
    lines = text.splitlines()
    tables, section, i = [], "", 0
    while i < len(lines):
        line = lines[i]
        m = _NUMBERED.match(line)
        if m and i + 1 < len(lines) and re.fullmatch(r"-{3,}\s*", lines[i + 1]):
            section = m.group(1)
        elif m := _BANNER.match(line):
            section = m.group(1)
        if not (_RULE.match(line) or _ROW.match(line)):
            i += 1
            continue
        start, block = i, []
        while i < len(lines) and (_RULE.match(lines[i]) or _ROW.match(lines[i])):
            block.append(lines[i])
            i += 1
        rules = [k for k, b in enumerate(block) if _RULE.match(b)]
        where = f" in '{section}'" if section else ""
        if not (len(rules) >= 2 and rules[0] == 0 and rules[-1] == len(block) - 1):
            raise ReportError(f"{name}: the table at line {start + 1}{where} ends without its closing '+---' "
                              f"rule — truncated or garbled report?")
        if i == len(lines) or re.match(r"\s*[|+]", lines[i]):
            # the tools end every table with a blank line or a note; a cut row or rule looks like the end
            raise ReportError(f"{name}: the table at line {start + 1}{where} is followed by "
                              f"{'the end of the file' if i == len(lines) else f'a broken row at line {i + 1}'} "
                              f"— truncated or garbled report?")
        header = [_cells(b) for b in block[rules[0] + 1:rules[1]]]
        rows = [_cells(b) for b in block[rules[1] + 1:] if _ROW.match(b)]
        tables.append(_Table(section, header, rows))
    return tables


def _section_table(tables: list[_Table], sections: tuple[str, ...]) -> _Table | None:
    return next((t for t in tables if t.section in sections), None)


def _or(names: tuple[str, ...]) -> str:
    return " (or ".join(f"'{n}'" for n in names) + ")" * (len(names) - 1)


# -- Vivado report_utilization ---------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class VivadoUtilization:
    """Vivado ``report_utilization``: the design's used resources.

    ``luts`` is "Slice LUTs" (7-series) or "CLB LUTs" (UltraScale), of which
    ``luts_as_logic`` and ``luts_as_memory`` (distributed RAM and shift registers);
    ``registers`` is "Slice/CLB Registers", of which ``ffs`` are flip-flops (the rest
    latches). ``brams`` counts block-RAM tiles (a RAMB18 is half a tile, so 0.5 occurs);
    ``urams`` is ``None`` on devices without UltraRAM. ``carry`` counts carry cells,
    ``carry_cell`` names them (``"CARRY4"`` covers 4 bits on 7-series, ``"CARRY8"`` 8 bits
    on UltraScale; ``None`` when the design has none). ``design_state`` is Vivado's
    "Synthesized", "Placed" or "Routed" (synthesis counts are higher than routed ones).

    >>> u = VivadoUtilization(luts=87, luts_as_logic=87, luts_as_memory=0, registers=42, ffs=42,
    ...                       dsps=1, brams=0.5, urams=None, carry=6, carry_cell="CARRY4")
    >>> u.luts, u.brams, u.carry_bits
    (87, 0.5, 24)
    """
    luts: int
    luts_as_logic: int
    luts_as_memory: int
    registers: int
    ffs: int
    dsps: int
    brams: float
    urams: int | None
    carry: int
    carry_cell: str | None
    design: str | None = None
    device: str | None = None
    design_state: str | None = None
    tool_version: str | None = None
    source: str = dataclasses.field(default="<string>", compare=False)

    @property
    def carry_bits(self) -> int:
        """Carry-chain bits the carry cells provide (4 per CARRY4, 8 per CARRY8)."""
        width = int(self.carry_cell[len("CARRY"):]) if self.carry_cell else 0
        return self.carry * width


_LOGIC = ("Slice Logic", "CLB Logic")
_MEMORY = ("Memory", "BLOCKRAM")
_ARITH = ("DSP", "ARITHMETIC")
_NOT_UTIL = "truncated or not a Vivado utilization report?"


def parse_vivado_utilization(report, *, source: str | None = None) -> VivadoUtilization:
    """Parse a Vivado ``report_utilization`` text report (synthesized or implemented).

    Parameters
    ----------
    report : str or os.PathLike
        The report's path, or its text (a string with newlines).
    source : str, optional
        The name errors and the record give the report (default: the path, or
        ``"<string>"`` for text).

    Reads the "Used" column of the "Slice Logic" table (7-series; "CLB Logic" on
    UltraScale), the "Memory" ("BLOCKRAM") and "DSP" ("ARITHMETIC") tables, and the carry
    cells from the "Primitives" table (``CARRY4``/``CARRY8``; UltraScale's CLB Logic
    ``CARRY8`` row when there is no Primitives table). Device, design, design state and
    Vivado version come from the header block when present.

    Raises
    ------
    ReportError
        A table or row is missing, a cell read is not a number, or a table ends without its
        closing rule (truncated report).

    Examples
    --------
    >>> parse_vivado_utilization("not a report\\n", source="notes.txt")
    Traceback (most recent call last):
    ...
    numfmt.hw.cost.reports.ReportError: notes.txt: no 'Slice Logic' (or 'CLB Logic') table — ...
    """
    text, name = _load(report, source)
    tables = _tables(text, name)

    def table(sections):
        t = _section_table(tables, sections)
        if t is None:
            raise ReportError(f"{name}: no {_or(sections)} table — {_NOT_UTIL}")
        return t

    def used(t, *rows, value=_int):
        row = t.row(*rows)
        if row is None:
            raise ReportError(f"{name}: no {_or(rows)} row in the '{t.section}' table — {_NOT_UTIL}")
        col = t.column("Used")
        if col is None or col >= len(row):
            raise ReportError(f"{name}: the '{t.section}' table has no 'Used' column — {_NOT_UTIL}")
        return value(row[col], f"'{row[0].rstrip('*').strip()}' Used", name)

    logic = table(_LOGIC)
    memory = table(_MEMORY)
    arith = table(_ARITH)
    luts = used(logic, "Slice LUTs", "CLB LUTs")
    luts_as_logic = used(logic, "LUT as Logic")
    luts_as_memory = used(logic, "LUT as Memory")
    registers = used(logic, "Slice Registers", "CLB Registers")
    ffs = used(logic, "Register as Flip Flop")
    brams = used(memory, "Block RAM Tile", value=_float)
    urams = used(memory, "URAM") if memory.row("URAM") is not None else None
    dsps = used(arith, "DSPs")

    primitives = _section_table(tables, ("Primitives",))
    carry, carry_cell = 0, None
    if primitives is not None:
        if not primitives.rows:
            raise ReportError(f"{name}: the 'Primitives' table has no rows — {_NOT_UTIL}")
        for row in primitives.rows:
            if re.fullmatch(r"CARRY\d+", row[0]):
                carry += used(primitives, row[0])
                carry_cell = row[0]
    else:
        cell = next((c for c in ("CARRY8", "CARRY4") if logic.row(c) is not None), None)
        if cell is None:
            raise ReportError(f"{name}: no 'Primitives' table and no CARRY row in the '{logic.section}' table "
                              f"— {_NOT_UTIL}")
        carry, carry_cell = used(logic, cell), cell
    if carry_cell is None and logic.row("CARRY8") is not None:
        carry_cell = "CARRY8"
    return VivadoUtilization(
        luts=luts, luts_as_logic=luts_as_logic, luts_as_memory=luts_as_memory, registers=registers, ffs=ffs,
        dsps=dsps, brams=brams, urams=urams, carry=carry, carry_cell=carry_cell,
        design=_header_field(text, "Design"), device=_header_field(text, "Device"),
        design_state=_header_field(text, "Design State"), tool_version=_vivado_version(text), source=name)


# -- Vivado report_timing_summary ------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class VivadoClock:
    """A clock of the "Clock Summary" with its worst slacks from the "Intra Clock Table"
    (``None`` when the table has no row for it, e.g. a clock without paths).

    >>> round(VivadoClock("clk", period_ns=4.0, frequency_mhz=250.0, wns=-0.25).fmax_mhz, 2)
    235.29
    """
    name: str
    period_ns: float
    frequency_mhz: float
    wns: float | None = None
    whs: float | None = None

    @property
    def fmax_mhz(self) -> float | None:
        """Achieved Fmax ``1000 / (period_ns - wns)`` in MHz; ``None`` without a finite WNS."""
        if self.wns is None or not math.isfinite(self.wns):
            return None
        return 1000.0 / (self.period_ns - self.wns)


@dataclasses.dataclass(frozen=True)
class VivadoTiming:
    """Vivado ``report_timing_summary``: the "Design Timing Summary", the verdict and the clocks.

    Slacks are in ns, as Vivado prints them: ``wns``/``tns`` (setup), ``whs``/``ths``
    (hold), ``wpws``/``tpws`` (pulse width; ``None`` if not printed); the ``*_failing``
    fields count failing endpoints. ``wns`` is ``inf`` when no path is constrained.
    ``constraints_met`` is ``True`` for "All user specified timing constraints are met.",
    ``False`` for "Timing constraints are not met." and ``None`` for "There are no user
    specified timing constraints.".

    >>> t = VivadoTiming(wns=1.5, tns=0.0, tns_failing=0, whs=0.05, ths=0.0, ths_failing=0,
    ...                  constraints_met=True, clocks=(VivadoClock("clk", 10.0, 100.0, 1.5, 0.05),))
    >>> round(t.fmax_mhz, 3), t.clock("clk").period_ns
    (117.647, 10.0)
    """
    wns: float
    tns: float
    tns_failing: int
    whs: float
    ths: float
    ths_failing: int
    constraints_met: bool | None
    clocks: tuple[VivadoClock, ...]
    wpws: float | None = None
    tpws: float | None = None
    design: str | None = None
    device: str | None = None
    tool_version: str | None = None
    source: str = dataclasses.field(default="<string>", compare=False)

    def clock(self, name: str) -> VivadoClock:
        """The clock called ``name``; ``KeyError`` listing the clocks if there is none."""
        for c in self.clocks:
            if c.name == name:
                return c
        raise KeyError(f"no clock {name!r} in {self.source}; its clocks are {[c.name for c in self.clocks]}")

    @property
    def fmax_mhz(self) -> float | None:
        """Achieved Fmax in MHz of the design's clock: with one clock, ``1000 / (period -
        WNS)`` with the design's WNS; with several (an MMCM's input, outputs and feedback),
        that of the only clock with setup paths (a WNS in the Intra Clock Table). ``None``
        without a clock or a finite WNS; ``ValueError`` when several clocks have setup
        paths — then use ``clock(name).fmax_mhz``."""
        if len(self.clocks) == 1:
            return None if not math.isfinite(self.wns) else 1000.0 / (self.clocks[0].period_ns - self.wns)
        timed = [c for c in self.clocks if c.wns is not None]
        if len(timed) > 1:
            raise ValueError(f"{self.source} has {len(timed)} clocks with setup paths "
                             f"({', '.join(c.name for c in timed)}): use clock(name).fmax_mhz")
        return timed[0].fmax_mhz if timed else None


_NOT_TIMING = "truncated or not a Vivado timing summary?"
_VERDICTS = {"All user specified timing constraints are met.": True,
             "Timing constraints are not met.": False,
             "There are no user specified timing constraints.": None}
_SUMMARY_HEAD = re.compile(r"^\s*WNS\(ns\)\s+TNS\(ns\)")
_CLOCK_HEAD = re.compile(r"^\s*Clock\s+Waveform\(ns\)\s+Period\(ns\)\s+Frequency\(MHz\)\s*$")
_INTRA_HEAD = re.compile(r"^\s*Clock\s+WNS\(ns\)\s+TNS\(ns\)")
_CLOCK_ROW = re.compile(r"^\s*(\S+)\s+\{([^{}]*)\}\s+(\S+)\s+(\S+)\s*$")


def _whitespace_table(lines: list[str], head: re.Pattern, what: str, name: str):
    """``(titles, spans, data lines)`` of a Vivado whitespace table: the title line matching
    ``head`` over a line of dashes (one run per column, giving its span), then the lines up
    to the next blank one; ``None`` if there is no title line."""
    k = next((i for i, line in enumerate(lines) if head.match(line)), None)
    if k is None:
        return None
    if k + 1 >= len(lines) or not re.fullmatch(r"\s*-[-\s]*", lines[k + 1]):
        raise ReportError(f"{name}: the '{what}' table ends after its titles — {_NOT_TIMING}")
    spans = [m.span() for m in re.finditer(r"-+", lines[k + 1])]
    titles = [lines[k][a:b].strip() for a, b in spans]
    rows = []
    for line in lines[k + 2:]:
        if not line.strip():
            break
        rows.append(line)
    else:
        raise ReportError(f"{name}: the '{what}' table runs to the end of the file without the blank line "
                          f"that ends it — truncated report?")
    return titles, spans, rows


def _fields(line: str, titles: list[str], spans: list[tuple[int, int]], what: str, name: str) -> dict[str, str]:
    """``{title: value}`` of a row of a whitespace table: each value goes to the column its
    text overlaps most, or else the nearest (Vivado right-aligns numbers under their titles
    and indents generated clocks' names); blank cells are absent. Two values in one column
    raise ReportError."""
    out: dict[str, str] = {}
    for m in re.finditer(r"\S+", line):
        a, b = m.span()
        overlap = [min(b, e) - max(a, s) for s, e in spans]      # negative: the gap's width
        j = max(range(len(spans)), key=overlap.__getitem__)
        if titles[j] in out:
            raise ReportError(f"{name}: {what} row {line.strip()!r} does not line up with its columns — "
                              f"truncated or garbled report?")
        out[titles[j]] = m.group()
    return out


def parse_vivado_timing(report, *, source: str | None = None) -> VivadoTiming:
    """Parse a Vivado ``report_timing_summary`` text report.

    Parameters
    ----------
    report : str or os.PathLike
        The report's path, or its text (a string with newlines).
    source : str, optional
        The name errors and the record give the report.

    Reads the "Design Timing Summary" (WNS, TNS, WHS, THS, WPWS, TPWS and failing
    endpoints), the verdict line, the "Clock Summary" (name, period, frequency; generated
    clocks included) and each clock's WNS/WHS from the "Intra Clock Table" (blank for a
    clock without setup or hold paths, such as an MMCM's input). Columns are found from
    the dashes under their titles, so other widths read the same.

    Raises
    ------
    ReportError
        A table, its values or the verdict line is missing, or a value is not a number.

    Examples
    --------
    >>> t = parse_vivado_timing('''
    ...     WNS(ns)      TNS(ns)  TNS Failing Endpoints      WHS(ns)      THS(ns)  THS Failing Endpoints
    ...     -------      -------  ---------------------      -------      -------  ---------------------
    ...      -0.250       -1.000                      8        0.060        0.000                      0
    ...
    ... Timing constraints are not met.
    ...
    ... Clock  Waveform(ns)       Period(ns)      Frequency(MHz)
    ... -----  ------------       ----------      --------------
    ... clk    {0.000 2.000}      4.000           250.000
    ...
    ... Clock        WNS(ns)      TNS(ns)  TNS Failing Endpoints      WHS(ns)      THS(ns)  THS Failing Endpoints
    ... -----        -------      -------  ---------------------      -------      -------  ---------------------
    ... clk           -0.250       -1.000                      8        0.060        0.000                      0
    ...
    ... ''')
    >>> t.constraints_met, t.wns, t.clocks[0].period_ns, round(t.fmax_mhz, 2)
    (False, -0.25, 4.0, 235.29)
    """
    text, name = _load(report, source)
    lines = text.splitlines()

    found = _whitespace_table(lines, _SUMMARY_HEAD, "Design Timing Summary", name)
    if found is None:
        raise ReportError(f"{name}: no 'Design Timing Summary' table (WNS/TNS/WHS) — {_NOT_TIMING}")
    titles, spans, rows = found
    if not rows:
        raise ReportError(f"{name}: the 'Design Timing Summary' has no values row — {_NOT_TIMING}")
    summary = _fields(rows[0], titles, spans, "Design Timing Summary", name)
    if missing := [t for t in titles if t not in summary]:
        raise ReportError(f"{name}: the 'Design Timing Summary' has no {missing[0]} value — truncated or garbled "
                          f"report?")

    def slack(key, *, required=True):
        if key not in summary:
            if key not in titles and not required:
                return None
            raise ReportError(f"{name}: no {key} value in the 'Design Timing Summary' — {_NOT_TIMING}")
        if not required and summary[key] == "NA":      # pulse width without constraints
            return None
        return _float(summary[key], key, name, inf=True)

    def count(key):
        if key not in summary:
            raise ReportError(f"{name}: no '{key}' value in the 'Design Timing Summary' — {_NOT_TIMING}")
        return _int(summary[key], key, name)

    verdicts = [v for line in lines if (v := line.strip()) in _VERDICTS]
    if not verdicts:
        raise ReportError(f"{name}: no verdict line ('All user specified timing constraints are met.' or "
                          f"'Timing constraints are not met.') — {_NOT_TIMING}")
    met = _VERDICTS[verdicts[0]]

    clocks: list[VivadoClock] = []
    found = _whitespace_table(lines, _CLOCK_HEAD, "Clock Summary", name)
    if found is None and met is not None:
        raise ReportError(f"{name}: no 'Clock Summary' table — {_NOT_TIMING}")
    for line in found[2] if found else ():
        m = _CLOCK_ROW.match(line)
        if m is None:
            raise ReportError(f"{name}: Clock Summary row {line.strip()!r} is not 'name {{waveform}} period "
                              f"frequency' — truncated or garbled report?")
        clock = m.group(1)
        clocks.append(VivadoClock(clock, _float(m.group(3), f"clock {clock} Period(ns)", name),
                                  _float(m.group(4), f"clock {clock} Frequency(MHz)", name)))
    if met is not None and not clocks:
        raise ReportError(f"{name}: the 'Clock Summary' lists no clock — {_NOT_TIMING}")

    if clocks:
        found = _whitespace_table(lines, _INTRA_HEAD, "Intra Clock Table", name)
        if found is None:
            raise ReportError(f"{name}: no 'Intra Clock Table' — {_NOT_TIMING}")
        titles, spans, rows = found
        if not rows:
            raise ReportError(f"{name}: the 'Intra Clock Table' lists no clock — {_NOT_TIMING}")
        slacks = {}
        for line in rows:
            row = _fields(line, titles, spans, "Intra Clock Table", name)
            clock = row.get("Clock")
            if clock is None or titles[-1] not in row:
                raise ReportError(f"{name}: Intra Clock Table row {line.strip()!r} lacks its clock name or its "
                                  f"last column — truncated or garbled report?")
            slacks[clock] = tuple(_float(row[k], f"clock {clock} {k}", name, inf=True) if k in row else None
                                  for k in ("WNS(ns)", "WHS(ns)"))
        clocks = [dataclasses.replace(c, wns=slacks[c.name][0], whs=slacks[c.name][1]) if c.name in slacks else c
                  for c in clocks]

    return VivadoTiming(
        wns=slack("WNS(ns)"), tns=slack("TNS(ns)"), tns_failing=count("TNS Failing Endpoints"),
        whs=slack("WHS(ns)"), ths=slack("THS(ns)"), ths_failing=count("THS Failing Endpoints"),
        constraints_met=met, clocks=tuple(clocks), wpws=slack("WPWS(ns)", required=False),
        tpws=slack("TPWS(ns)", required=False), design=_header_field(text, "Design"),
        device=_header_field(text, "Device"), tool_version=_vivado_version(text), source=name)


# -- Vivado / Vitis HLS csynth ---------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class HlsResources:
    """HLS resource counts: 18 Kb block RAMs, DSP slices, flip-flops, LUTs and UltraRAMs
    (``uram`` is ``None`` when the report has no URAM column).

    >>> HlsResources(bram_18k=3, dsp=18, ff=2131, lut=6742).bram_tiles
    1.5
    """
    bram_18k: int
    dsp: int
    ff: int
    lut: int
    uram: int | None = None

    @property
    def bram_tiles(self) -> float:
        """Block-RAM tiles (two BRAM_18K per tile), as Vivado's utilization report counts them."""
        return self.bram_18k / 2


@dataclasses.dataclass(frozen=True)
class CsynthReport:
    """A Vivado HLS / Vitis HLS C-synthesis report of the top function.

    Periods are in ns. Latencies and intervals are in clock cycles, ``None`` where HLS could
    not bound them (``undef`` in the XML, ``?`` in the text report); ``latency_average`` is
    only in the XML. ``resources`` are the estimates (the "Total" row of the text report),
    ``available`` the device's. ``version`` is the tool's.

    >>> r = CsynthReport(target_period_ns=5.0, estimated_period_ns=4.37, uncertainty_ns=0.62,
    ...                  latency_best=11, latency_worst=11, latency_average=11, interval_min=1,
    ...                  interval_max=1, resources=HlsResources(2, 18, 2131, 6742, 0),
    ...                  available=HlsResources(4320, 6840, 2364480, 1182240, 960))
    >>> r.luts, r.dsps, r.brams, round(r.estimated_fmax_mhz, 1)
    (6742, 18, 1.0, 228.8)
    """
    target_period_ns: float
    estimated_period_ns: float
    uncertainty_ns: float | None
    latency_best: int | None
    latency_worst: int | None
    latency_average: int | None
    interval_min: int | None
    interval_max: int | None
    resources: HlsResources
    available: HlsResources
    top: str | None = None
    part: str | None = None
    version: str | None = None
    source: str = dataclasses.field(default="<string>", compare=False)

    @property
    def luts(self) -> int:
        """Estimated LUTs."""
        return self.resources.lut

    @property
    def ffs(self) -> int:
        """Estimated flip-flops."""
        return self.resources.ff

    @property
    def dsps(self) -> int:
        """Estimated DSP slices."""
        return self.resources.dsp

    @property
    def brams(self) -> float:
        """Estimated block-RAM tiles (BRAM_18K / 2), as :class:`VivadoUtilization` counts them."""
        return self.resources.bram_tiles

    @property
    def estimated_fmax_mhz(self) -> float:
        """``1000 / estimated_period_ns``: HLS's own clock estimate, not a placed-and-routed one."""
        return 1000.0 / self.estimated_period_ns


_NOT_XML = "truncated or not a Vivado/Vitis HLS csynth.xml?"
_NOT_RPT = "truncated or not a Vivado/Vitis HLS csynth.rpt?"
_DSP_KEYS = ("DSP", "DSP48E")        # Vitis HLS, Vivado HLS


def parse_hls_csynth(path, *, source: str | None = None) -> CsynthReport:
    """Parse a Vivado HLS / Vitis HLS C-synthesis report, ``.xml`` or ``.rpt`` by suffix.

    Parameters
    ----------
    path : str or os.PathLike
        ``<top>_csynth.xml`` or ``<top>_csynth.rpt`` (hls4ml's
        ``<project>_prj/solution1/syn/report/``).
    source : str, optional
        The name errors and the record give the report (default: the path).

    From the XML: ``UserAssignments`` (part, top, ``TargetClockPeriod``, uncertainty),
    ``PerformanceEstimates`` (``EstimatedClockPeriod``; Best/Average/Worst-caseLatency and
    Interval-min/max of ``SummaryOfOverallLatency``) and ``AreaEstimates`` (``Resources``
    and ``AvailableResources``: BRAM_18K, ``DSP48E`` (Vivado HLS) or ``DSP`` (Vitis HLS),
    FF, LUT, URAM). From the text: the "Performance Estimates" timing and latency summaries
    and the "Utilization Estimates" summary's "Total" and "Available" rows.

    Raises
    ------
    ReportError
        Not a ``.xml``/``.rpt`` file, not well-formed XML, an element, table, row or column
        is missing, or a value is not a number.

    Examples
    --------
    >>> parse_hls_csynth("myproject_csynth.json")
    Traceback (most recent call last):
    ...
    numfmt.hw.cost.reports.ReportError: myproject_csynth.json: expected a csynth report ending in .xml or .rpt
    """
    suffix = Path(os.fspath(path)).suffix.lower()
    if suffix not in (".xml", ".rpt"):
        raise ReportError(f"{source or os.fspath(path)}: expected a csynth report ending in .xml or .rpt")
    text, name = _read(path, source)
    return _csynth_xml(text, name) if suffix == ".xml" else _csynth_rpt(text, name)


def _latency(cell: str, what: str, name: str) -> int | None:
    return None if cell in ("undef", "?") else _int(cell, what, name)


def _csynth_xml(text: str, name: str) -> CsynthReport:
    if not text.strip():
        raise ReportError(f"{name}: empty report")
    try:
        root = ET.fromstring(text)
    except ET.ParseError as e:
        line, col = e.position
        raise ReportError(f"{name}: not well-formed XML at line {line}, column {col} — {_NOT_XML}") from None
    if root.tag != "profile":
        raise ReportError(f"{name}: the root element is <{root.tag}>, not <profile> — {_NOT_XML}")

    def element(parent, *paths):
        for p in paths:
            e = parent.find(p)
            if e is not None:
                return e
        return None

    def need(parent, where, *paths):
        e = element(parent, *paths)
        if e is None:
            raise ReportError(f"{name}: no <{paths[0]}> in <{where}> — {_NOT_XML}")
        return e

    def value(e):
        return (e.text or "").strip()

    def optional(path):
        e = root.find(path)
        return None if e is None else (value(e) or None)

    perf = need(root, "profile", "PerformanceEstimates")
    target = element(root, "UserAssignments/TargetClockPeriod", ".//TargetClockPeriod")
    if target is None:
        raise ReportError(f"{name}: no <TargetClockPeriod> in <UserAssignments> — {_NOT_XML}")
    estimated = need(perf, "PerformanceEstimates", "SummaryOfTimingAnalysis/EstimatedClockPeriod",
                     ".//EstimatedClockPeriod")
    uncertainty = root.find("UserAssignments/ClockUncertainty")
    lat = need(perf, "PerformanceEstimates", "SummaryOfOverallLatency")
    latency = {key: _latency(value(need(lat, "SummaryOfOverallLatency", key)), key, name)
               for key in ("Best-caseLatency", "Average-caseLatency", "Worst-caseLatency",
                           "Interval-min", "Interval-max")}
    area = need(root, "profile", "AreaEstimates")

    def resources(where):
        node = area.find(where)
        if node is None:
            raise ReportError(f"{name}: no <{where}> in <AreaEstimates> — {_NOT_XML}")

        def count(*keys):
            e = element(node, *keys)
            if e is None:
                raise ReportError(f"{name}: no <{keys[0]}> in <{where}> — {_NOT_XML}")
            return _int(value(e), f"{where}/{e.tag}", name)

        return HlsResources(bram_18k=count("BRAM_18K"), dsp=count(*_DSP_KEYS), ff=count("FF"), lut=count("LUT"),
                            uram=count("URAM") if node.find("URAM") is not None else None)

    return CsynthReport(
        target_period_ns=_float(value(target), "TargetClockPeriod", name),
        estimated_period_ns=_float(value(estimated), "EstimatedClockPeriod", name),
        uncertainty_ns=_float(value(uncertainty), "ClockUncertainty", name) if uncertainty is not None else None,
        latency_best=latency["Best-caseLatency"], latency_worst=latency["Worst-caseLatency"],
        latency_average=latency["Average-caseLatency"], interval_min=latency["Interval-min"],
        interval_max=latency["Interval-max"], resources=resources("Resources"),
        available=resources("AvailableResources"), top=optional("UserAssignments/TopModelName"),
        part=optional("UserAssignments/Part"), version=optional("ReportVersion/Version"), source=name)


def _star_field(text: str, key: str) -> str | None:
    """The value of an HLS header line ``* Key: value``."""
    m = re.search(rf"^\s*\*\s*{re.escape(key)}:\s*(.*?)\s*$", text, re.MULTILINE)
    return m.group(1) if m and m.group(1) else None


def _csynth_rpt(text: str, name: str) -> CsynthReport:
    tables = _tables(text, name)

    def table(section, test, what):
        t = next((t for t in tables if t.section == section and test(t)), None)
        if t is None:
            raise ReportError(f"{name}: no {what} table under '{section}' — {_NOT_RPT}")
        if not t.rows:
            raise ReportError(f"{name}: the {what} table under '{section}' has no rows — {_NOT_RPT}")
        return t

    def column(t, what, *titles):
        for title in titles:
            if (k := t.column(title)) is not None:
                return k
        raise ReportError(f"{name}: no {_or(titles)} column in the {what} table — {_NOT_RPT}")

    def cell(row, k, what):
        if k >= len(row):
            raise ReportError(f"{name}: {what} is missing — truncated or garbled report?")
        return row[k]

    def ns(c):
        return c[:-2].strip() if c.endswith("ns") else c

    perf = "Performance Estimates"
    timing = table(perf, lambda t: t.column("Clock") is not None and t.column("Target") is not None, "timing")
    clock = timing.rows[0]
    period = {title: _float(ns(cell(clock, column(timing, "timing", title), f"timing {title}")),
                            f"timing {title}", name)
              for title in ("Target", "Estimated", "Uncertainty")}

    latency = table(perf, lambda t: any("Latency (cycles)" in cells for cells in t.header), "latency summary")
    # two title rows: "Latency (cycles) | Latency (absolute) | Interval | Pipeline" over
    # "min | max | min | max | min | max | Type": cycles in columns 0-1, interval in 4-5
    if len(latency.header) < 2 or latency.header[-1][:2] != ["min", "max"]:
        raise ReportError(f"{name}: the latency summary table's titles are not 'min | max | …' — {_NOT_RPT}")
    first = latency.rows[0]
    cycles = [_latency(cell(first, k, f"latency summary {what}"), f"latency summary {what}", name)
              for k, what in ((0, "latency min"), (1, "latency max"), (4, "interval min"), (5, "interval max"))]

    summary = table("Utilization Estimates", lambda t: t.header and t.header[0][0] == "Name", "utilization summary")
    keys = {"bram_18k": ("BRAM_18K",), "dsp": _DSP_KEYS, "ff": ("FF",), "lut": ("LUT",)}
    cols = {field: column(summary, "utilization summary", *titles) for field, titles in keys.items()}
    uram = summary.column("URAM")

    def resources(row_name):
        row = summary.row(row_name)
        if row is None:
            raise ReportError(f"{name}: no '{row_name}' row in the utilization summary — {_NOT_RPT}")

        def count(k):
            what = f"'{row_name}' {summary.header[-1][k]}"
            return _int(cell(row, k, what), what, name)

        return HlsResources(**{f: count(k) for f, k in cols.items()}, uram=count(uram) if uram is not None else None)

    version = _star_field(text, "Version")
    return CsynthReport(
        target_period_ns=period["Target"], estimated_period_ns=period["Estimated"],
        uncertainty_ns=period["Uncertainty"], latency_best=cycles[0], latency_worst=cycles[1], latency_average=None,
        interval_min=cycles[2], interval_max=cycles[3], resources=resources("Total"),
        available=resources("Available"),
        top=(m.group(1) if (m := re.search(r"^== \w+ HLS Report for '([^']+)'", text, re.MULTILINE)) else None),
        part=_star_field(text, "Target device"), version=version.split()[0] if version else None, source=name)
