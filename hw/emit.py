"""Write a unit's Verilog and its JSON manifest to a directory.

The Verilog text comes only from Amaranth's back end
(``amaranth.back.verilog.convert(unit, name=unit.name, emit_src=False)``: without
``src`` attributes, which would carry this machine's absolute paths, so the same unit
gives the same text, build key and synthesis cache key everywhere); the manifest is
:meth:`numfmt.hw.rtl.Unit.manifest` (formats, ports, latency). Both files are written
atomically: they are generated in memory first, written to temporary files in the
output directory and renamed into place, so an error never leaves a partial file.
"""

from __future__ import annotations

import json
from pathlib import Path

from numfmt._files import write_atomic

__all__ = ["emit", "verilog"]


def verilog(unit) -> str:
    """The Verilog text of ``unit`` (a :class:`numfmt.hw.rtl.Unit`), top module ``unit.name``.

    Examples
    --------
    >>> import numfmt as nf
    >>> from numfmt.hw.rtl import FloatMul
    >>> unit = FloatMul(nf.parse("e2m1fn"))
    >>> f"module {unit.name}(" in verilog(unit)
    True
    """
    from amaranth.back import verilog as _verilog

    _check_unit(unit)
    return _verilog.convert(unit, name=unit.name, emit_src=False)


def _check_unit(unit) -> None:
    from numfmt.hw.rtl import Unit

    if not isinstance(unit, Unit):
        raise TypeError(f"unit must be a hw.rtl.Unit, not {unit!r}")


def emit(unit, outdir) -> dict:
    """Write ``<name>.v`` and ``<name>.json`` for ``unit`` into ``outdir``.

    Parameters
    ----------
    unit : hw.rtl.Unit
        The unit to generate.
    outdir : str or os.PathLike
        The output directory (created if missing).

    Returns
    -------
    dict
        ``{"verilog": Path, "manifest": Path}``.

    Notes
    -----
    The manifest is ``unit.manifest()`` plus ``"verilog"`` (the file name). Nothing is
    written unless both texts could be generated; each file is renamed into place from
    a temporary file in ``outdir``, so readers never see a partial file.

    Examples
    --------
    >>> import json, tempfile
    >>> import numfmt as nf
    >>> from numfmt.hw.rtl import FloatMul
    >>> paths = emit(FloatMul(nf.parse("e2m1fn")), tempfile.mkdtemp())
    >>> json.loads(paths["manifest"].read_text())["latency"]
    1
    """
    text = verilog(unit)
    manifest = dict(unit.manifest())
    manifest["verilog"] = f"{unit.name}.v"
    manifest_text = json.dumps(manifest, indent=2, sort_keys=False) + "\n"
    out = Path(outdir)
    out.mkdir(parents=True, exist_ok=True)
    vpath, jpath = out / f"{unit.name}.v", out / f"{unit.name}.json"
    write_atomic(vpath, text)
    write_atomic(jpath, manifest_text)
    return {"verilog": vpath, "manifest": jpath}
