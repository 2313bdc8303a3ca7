"""``sim.lint``: ``verilator --lint-only -Wall`` on a unit's generated Verilog.

Every warning Verilator prints is parsed; the ones matching a waiver in
:data:`WAIVERS` are returned, any other raises :class:`LintError` listing them.
The waivers cover artefacts of Amaranth's Verilog back end, not of the units:

* ``DECLFILENAME`` — Amaranth writes the whole hierarchy to one file and names
  submodules ``<top>.<instance>``, so module and file names differ by design.
* ``PROCASSINIT`` — Amaranth declares every register with its initial value
  (``reg x = 1'h0;``: the FPGA power-up value) *and* resets it in the clocked process.
* ``WIDTHEXPAND`` — Amaranth's back end writes each operand and constant at its own
  width (``$signed(acc) > $signed(12'h7ff)`` with an 18-bit ``acc``) and relies on
  Verilog's context-determined sign/zero extension, which is exactly Amaranth's
  arithmetic. (Amaranth truncates only through explicit slices, so ``WIDTHTRUNC`` is
  not waived.)
* ``UNUSEDSIGNAL`` on anything but a port of the top module — Amaranth keeps a wire for
  every named signal and for every field view of a struct payload (``i__payload.a``)
  for debugging; nothing reads them. Units in :class:`numfmt.hw.rtl.Lanes` also leave every
  lane's ``i__ready``/``o__valid`` but lane 0's unread (the lanes run in lockstep).
  A *top-level port* is never waived: a unit that never reads ``i__valid``, say, is
  reported. (Unused bits inside a payload are invisible to this check: Amaranth's field
  views read the whole port, and the unread view is the waived wire.)
"""

from __future__ import annotations

import dataclasses
import re
import subprocess
import tempfile
from pathlib import Path

from . import _runner

__all__ = ["LintError", "LintWarning", "WAIVERS", "lint"]

#: rule -> reason; see the module docstring for when each applies
WAIVERS = {
    "DECLFILENAME": "Amaranth emits the hierarchy into one file; submodules are named <top>.<instance>",
    "PROCASSINIT": "Amaranth declares registers with their init (power-up) value and also resets them",
    "WIDTHEXPAND": "Amaranth writes operands at their own widths ($signed(a) + $signed(12'h7ff)) and "
                   "relies on Verilog's context-determined extension, which is its own semantics",
    "UNUSEDSIGNAL": "Amaranth keeps debug wires for named signals and struct field views "
                    "(never waived for the top module's ports)",
}

_TOP_PORTS = {"clk", "rst", "i__valid", "i__ready", "i__payload", "o__valid", "o__ready", "o__payload"}

_WARNING = re.compile(r"^%Warning-([A-Z0-9_]+): (?:([^:\s]+):(\d+):(?:\d+): )?(.*)$")
_INSTANCE = re.compile(r"note: In instance '([^']*)'")
_SIGNAL = re.compile(r"'([^']*)'")


class LintError(AssertionError):
    """Verilator reported warnings that no waiver covers; :attr:`warnings` lists them."""

    def __init__(self, message: str, warnings: list):
        super().__init__(message)
        self.warnings = warnings


@dataclasses.dataclass(frozen=True)
class LintWarning:
    """One Verilator warning: its rule, message, line, the quoted signal and the instance."""
    rule: str
    message: str
    line: int | None
    signal: str | None
    instance: str | None

    def __str__(self) -> str:
        where = f"line {self.line}: " if self.line else ""
        inst = f" (in {self.instance})" if self.instance else ""
        return f"%Warning-{self.rule}: {where}{self.message}{inst}"


def _parse(text: str) -> list:
    out = []
    lines = text.splitlines()
    for k, line in enumerate(lines):
        m = _WARNING.match(line)
        if not m:
            continue
        rule, _file, lineno, message = m.groups()
        instance = None
        for follow in lines[k + 1:k + 3]:
            im = _INSTANCE.search(follow)
            if im:
                instance = im.group(1)
                break
        sm = _SIGNAL.search(message)
        out.append(LintWarning(rule, message.strip(), int(lineno) if lineno else None,
                               sm.group(1) if sm else None, instance))
    return out


def _waived(w: LintWarning, top: str, waivers: dict) -> bool:
    if w.rule not in waivers:
        return False
    if w.rule == "UNUSEDSIGNAL":
        # a top-level port (possibly with a bit range, e.g. 'i__payload'[3:0]) is never waived
        return not (w.instance in (None, top) and (w.signal or "").split("[")[0] in _TOP_PORTS)
    return True


def lint(unit, *, waivers: dict | None = None) -> list:
    """Run ``verilator --lint-only -Wall`` on ``unit`` 's Verilog.

    Parameters
    ----------
    unit : hw.rtl.Unit
    waivers : dict of str -> str, optional
        Rule -> reason; default :data:`WAIVERS`. ``{}`` waives nothing.

    Returns
    -------
    list of LintWarning
        The waived warnings.

    Raises
    ------
    LintError
        With every warning no waiver covers, one per line.
    sim.SimulationError
        Verilator itself failed (a syntax error, say).

    Examples
    --------
    >>> import numfmt as nf
    >>> from numfmt.hw.rtl import FloatMul
    >>> sorted({w.rule for w in lint(FloatMul(nf.parse("e2m1fn")))})   # all waived
    ['PROCASSINIT', 'UNUSEDSIGNAL', 'WIDTHEXPAND']
    """
    from numfmt.hw.emit import verilog

    waivers = WAIVERS if waivers is None else dict(waivers)
    if not all(isinstance(k, str) and isinstance(v, str) for k, v in waivers.items()):
        raise TypeError(f"waivers must map rule names to reasons (str -> str), not {waivers!r}")
    text = verilog(unit)
    top = unit.name
    with tempfile.TemporaryDirectory(prefix="numfmt-lint-") as tmp:
        path = Path(tmp) / f"{top}.v"
        path.write_text(text)
        with _runner.toolchain_env():
            proc = subprocess.run(["verilator", "--lint-only", "-Wall", "-Wno-fatal",
                                   "--top-module", top, str(path)],
                                  capture_output=True, text=True, cwd=tmp)
    output = proc.stderr + proc.stdout
    if proc.returncode != 0 or re.search(r"^%Error", output, re.M):
        raise _runner.SimulationError(f"verilator --lint-only failed on {top}:\n{output[-4000:]}")
    warnings = _parse(output)
    bad = [w for w in warnings if not _waived(w, top, waivers)]
    if bad:
        raise LintError(f"{top}: {len(bad)} Verilator lint warning(s) not waived:\n" +
                        "\n".join(f"  {w}" for w in bad), bad)
    return [w for w in warnings if _waived(w, top, waivers)]
