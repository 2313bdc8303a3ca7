"""Which primitive cells count as LUTs, flip-flops, DSPs, block RAMs, carry cells and muxes.

The tables are explicit per target and list the cell types the open tools emit (the
names were read from real ``synth_xilinx``, ``synth_ecp5`` and ``synth_ice40`` runs on
:mod:`numfmt.hw.rtl` units, Yosys 0.70). A cell type missing from a target's table is
not guessed into a class: :func:`classify` returns it under ``"other"``, so a new
primitive shows up instead of silently vanishing from a count.

* ``xilinx`` (7-series, ``synth_xilinx``): ``LUT1``–``LUT6`` and ``INV`` (an inverter
  Yosys leaves, a LUT1 in the device); ``FDRE``/``FDSE``/``FDCE``/``FDPE``; ``DSP48E1``;
  ``RAMB18E1``/``RAMB36E1``; ``CARRY4``; muxes ``MUXF7``/``MUXF8``.
* ``ecp5`` (``synth_ecp5``): ``LUT4``; ``TRELLIS_FF``; ``MULT18X18D``/``ALU54B``; ``DP16KD``;
  ``CCU2C`` (two LUT4s and their carry chain, counted once as a carry cell, not as LUTs);
  muxes ``PFUMX``/``L6MUX21`` (they join LUT4s into LUT5–LUT7s). After packing, nextpnr
  counts logic as ``TRELLIS_COMB`` (LUT4 halves of a slice, CCU2C halves included); that
  name is in the table too, as a LUT.
* ``ice40`` (``synth_ice40``): ``SB_LUT4``; the twenty ``SB_DFF*`` variants; ``SB_MAC16``;
  ``SB_RAM40_4K``/``SB_SPRAM256KA``; ``SB_CARRY``; no muxes.

A mux is a slice's wide-function multiplexer: it costs no LUT of its own.

>>> classify("ecp5", {"LUT4": 22, "CCU2C": 10, "TRELLIS_FF": 39, "MULT18X18D": 1})
{'lut': 22, 'ff': 39, 'dsp': 1, 'bram': 0, 'carry': 10, 'mux': 0, 'other': {}}
>>> classify("xilinx", {"LUT6": 2, "MUXF7": 1, "SRL16E": 1})["other"]
{'SRL16E': 1}
"""

from __future__ import annotations

from collections.abc import Mapping

__all__ = ["CELL_CLASSES", "CLASSES", "TARGETS", "check_target", "classify"]

TARGETS = ("xilinx", "ecp5", "ice40")
"""The synthesis targets, in the order the docs list them."""

CLASSES = ("lut", "ff", "dsp", "bram", "carry", "mux")
"""The resource classes every target maps its cells to."""

# ice40 flip-flops: SB_DFF[N][E][SR|R|SS|S] (negative edge, enable, sync/async reset/set)
_ICE40_FF = frozenset(f"SB_DFF{n}{e}{r}" for n in ("", "N") for e in ("", "E")
                      for r in ("", "SR", "R", "SS", "S"))

CELL_CLASSES: dict[str, dict[str, frozenset]] = {
    "xilinx": {
        "lut": frozenset({"LUT1", "LUT2", "LUT3", "LUT4", "LUT5", "LUT6", "INV"}),
        "ff": frozenset({"FDRE", "FDSE", "FDCE", "FDPE"}),
        "dsp": frozenset({"DSP48E1"}),
        "bram": frozenset({"RAMB18E1", "RAMB36E1"}),
        "carry": frozenset({"CARRY4"}),
        "mux": frozenset({"MUXF7", "MUXF8"}),
    },
    "ecp5": {
        "lut": frozenset({"LUT4", "TRELLIS_COMB"}),
        "ff": frozenset({"TRELLIS_FF"}),
        "dsp": frozenset({"MULT18X18D", "ALU54B"}),
        "bram": frozenset({"DP16KD"}),
        "carry": frozenset({"CCU2C"}),
        "mux": frozenset({"PFUMX", "L6MUX21"}),
    },
    "ice40": {
        "lut": frozenset({"SB_LUT4"}),
        "ff": _ICE40_FF,
        "dsp": frozenset({"SB_MAC16"}),
        "bram": frozenset({"SB_RAM40_4K", "SB_SPRAM256KA"}),
        "carry": frozenset({"SB_CARRY"}),
        "mux": frozenset(),
    },
}
"""``CELL_CLASSES[target][class]``: the cell types of ``target`` counted in ``class``."""


def check_target(target) -> str:
    """``target`` if it is one of :data:`TARGETS`, else ``ValueError`` naming it.

    >>> check_target("vivado")
    Traceback (most recent call last):
    ...
    ValueError: target must be one of 'xilinx', 'ecp5', 'ice40', not 'vivado'
    """
    if not isinstance(target, str) or target not in TARGETS:
        raise ValueError(f"target must be one of {', '.join(map(repr, TARGETS))}, not {target!r}")
    return target


def classify(target: str, cells: Mapping[str, int]) -> dict:
    """Sum ``cells`` (cell type → count) into the classes of :data:`CLASSES` for ``target``.

    Returns ``{"lut": n, "ff": n, "dsp": n, "bram": n, "carry": n, "mux": n, "other": {type: n}}``,
    where ``"other"`` holds the cell types the target's table does not list.
    """
    table = CELL_CLASSES[check_target(target)]
    out: dict = {c: 0 for c in CLASSES}
    other: dict[str, int] = {}
    for cell, n in cells.items():
        for c in CLASSES:
            if cell in table[c]:
                out[c] += int(n)
                break
        else:
            other[cell] = int(n)
    out["other"] = other
    return out
