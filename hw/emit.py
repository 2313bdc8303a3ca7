"""Write a unit's Verilog and its JSON manifest to a directory.

The Verilog text comes only from Amaranth's back end
(``amaranth.back.verilog.convert(unit, name=unit.name, emit_src=False)``: without
``src`` attributes, which would carry this machine's absolute paths, so the same unit
gives the same text, build key and synthesis cache key everywhere); the manifest is
:meth:`numfmt.hw.rtl.Unit.manifest` (formats, ports, latency). Both files are written
atomically: they are generated in memory first, written to temporary files in the
output directory and renamed into place, so an error never leaves a partial file. The
files get the permissions of any new file (``0o666`` less the umask: ``0644`` under the
usual umask), and the manifest lists only the ports the Verilog module has
(:func:`verilog_ports`: a combinational unit has no ``clk``/``rst``).

``emit(unit, outdir, field_ports=True)`` writes a wrapper instead (:func:`with_field_ports`,
top module ``<name>_fields``) with one port per payload field (``i_<field>``,
``o_<field>``) beside ``i_valid``/``i_ready``/``o_valid``/``o_ready``, for an integrator
who prefers named ports to one packed bus.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

from numfmt._files import write_atomic

__all__ = ["emit", "verilog", "verilog_ports", "with_field_ports"]


def with_field_ports(unit):
    """A wrapper of ``unit`` with one port per payload field: ``i_<field>`` inputs,
    ``o_<field>`` outputs, and the handshakes ``i_valid``, ``i_ready``, ``o_valid``,
    ``o_ready``; its module name is ``<unit.name>_fields``. The unit inside is unchanged.

    ``emit(unit, outdir, field_ports=True)`` writes it with its manifest:

    >>> import json, tempfile
    >>> import numfmt as nf
    >>> from numfmt.hw.rtl import FloatMul
    >>> paths = emit(FloatMul(nf.parse("e2m1fn")), tempfile.mkdtemp(), field_ports=True)
    >>> paths["verilog"].name
    'floatmul_e2m1fn_e2m1fn_e2m1fn_rne_1_fields.v'
    >>> [f["port"] for f in json.loads(paths["manifest"].read_text())["ports"]["i"]["fields"]]
    ['i_a', 'i_b']
    """
    from amaranth.hdl import Module
    from amaranth.lib import wiring

    _check_unit(unit)
    In, Out = wiring.In, wiring.Out

    class _FieldPorts(wiring.Component):
        def __init__(self):
            members = {"i_valid": In(1), "i_ready": Out(1), "o_valid": Out(1), "o_ready": In(1)}
            members.update({f"i_{n}": In(f.width) for n, f in unit.in_fields.items()})
            members.update({f"o_{n}": Out(f.width) for n, f in unit.out_fields.items()})
            super().__init__(members)
            self.unit, self.name = unit, f"{unit.name}_fields"

        def elaborate(self, platform):
            m = Module()
            m.submodules.unit = u = self.unit
            m.d.comb += [u.i.valid.eq(self.i_valid), self.i_ready.eq(u.i.ready),
                         self.o_valid.eq(u.o.valid), u.o.ready.eq(self.o_ready)]
            m.d.comb += [u.i.payload[n].eq(getattr(self, f"i_{n}")) for n in unit.in_fields]
            m.d.comb += [getattr(self, f"o_{n}").eq(u.o.payload[n]) for n in unit.out_fields]
            return m

    return _FieldPorts()


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


_PORT = re.compile(r"^\s*(input|output|inout)\s+(?:wire\s+|reg\s+)?(?:signed\s+)?"
                   r"(?:\[(\d+):(\d+)\]\s*)?\\?([A-Za-z_][A-Za-z0-9_$]*)\s*;", re.MULTILINE)


def verilog_ports(text: str, module: str) -> dict:
    """The ports of ``module`` in Verilog ``text`` as Amaranth writes it:
    ``{name: {"direction": "input" | "output" | "inout", "width": bits}}``, in order.

    >>> import numfmt as nf
    >>> from numfmt.hw.rtl import FloatMul
    >>> unit = FloatMul(nf.parse("e2m1fn"), stages=0)        # combinational: no clock
    >>> verilog_ports(verilog(unit), unit.name)
    {'i__valid': {'direction': 'input', 'width': 1}, 'o__ready': {'direction': 'input', 'width': 1}, \
'i__ready': {'direction': 'output', 'width': 1}, 'o__payload': {'direction': 'output', 'width': 4}, \
'o__valid': {'direction': 'output', 'width': 1}, 'i__payload': {'direction': 'input', 'width': 8}}
    """
    head = re.search(rf"(?m)^\s*module\s+\\?{re.escape(module)}\s*\(([^)]*)\)\s*;", text)
    if head is None:
        raise ValueError(f"the Verilog text has no module {module!r}")
    end = text.find("endmodule", head.end())
    body = text[head.end():None if end < 0 else end]
    names = [n.strip().lstrip("\\").strip() for n in head.group(1).split(",") if n.strip()]
    found = {m.group(4): {"direction": m.group(1),
                          "width": 1 if m.group(2) is None else abs(int(m.group(2)) - int(m.group(3))) + 1}
             for m in _PORT.finditer(body)}
    return {n: found[n] for n in names if n in found}


def _umask() -> int:
    """The process's umask (read without changing it where the system says it)."""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except OSError:
        pass
    mask = os.umask(0o022)          # no other portable way to read it
    os.umask(mask)
    return mask


def _check_unit(unit) -> None:
    from numfmt.hw.rtl import Unit

    if not isinstance(unit, Unit):
        raise TypeError(f"unit must be a hw.rtl.Unit, not {unit!r}")


def emit(unit, outdir, *, field_ports: bool = False) -> dict:
    """Write ``<name>.v`` and ``<name>.json`` for ``unit`` into ``outdir``.

    Parameters
    ----------
    unit : hw.rtl.Unit
        The unit to generate.
    outdir : str or os.PathLike
        The output directory (created if missing).
    field_ports : bool
        Write the :func:`with_field_ports` wrapper (``<name>_fields.v``): one port per payload
        field instead of the packed ``i__payload``/``o__payload`` buses.

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
    if not isinstance(field_ports, bool):
        raise TypeError(f"field_ports must be True or False, not {field_ports!r}")
    text = verilog(unit)
    manifest = dict(unit.manifest())
    json.dumps(manifest)                # a manifest that is not JSON fails before anything else
    name = manifest["module"]
    if field_ports:
        from amaranth.back import verilog as _verilog
        top = with_field_ports(unit)
        name = top.name
        text = _verilog.convert(top, name=name, emit_src=False)
        manifest = _field_manifest(manifest, name)
    ports = verilog_ports(text, name)
    manifest["ports"] = {k: v for k, v in manifest["ports"].items() if not isinstance(v, str) or v in ports}
    manifest["verilog"] = f"{name}.v"
    manifest_text = json.dumps(manifest, indent=2, sort_keys=False) + "\n"
    out = Path(outdir)
    out.mkdir(parents=True, exist_ok=True)
    vpath, jpath = out / f"{name}.v", out / f"{name}.json"
    mode = 0o666 & ~_umask()
    for path, body in ((vpath, text), (jpath, manifest_text)):
        write_atomic(path, body)
        os.chmod(path, mode)        # write_atomic's temporary file was private (0600)
    return {"verilog": vpath, "manifest": jpath}


def _field_manifest(manifest: dict, name: str) -> dict:
    """The unit's manifest for its :func:`with_field_ports` wrapper: one port per field."""
    ports = dict(manifest["ports"])
    for side in ("i", "o"):
        ports[side] = {"valid": f"{side}_valid", "ready": f"{side}_ready",
                       "fields": [{**f, "port": f"{side}_{f['name']}"} for f in ports[side]["fields"]]}
    return {**manifest, "module": name, "wraps": manifest["module"], "ports": ports,
            "field_order": "one port per field"}
