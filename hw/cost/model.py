"""Analytic resource models of :mod:`numfmt.hw.rtl` units, calibrated against Yosys.

:func:`estimate` prices one unit; :func:`estimate_features` prices arrays of
configurations at once (NumPy, no elaboration) for design-space sweeps. Both read the
fitted coefficients from ``hw/cost/calibration/<target>_<options>.json`` (data, refitted
by ``python -m numfmt.hw.cost.calibrate``), which also records the tool versions, the
date, every calibration configuration and the error on configurations held out from the
fit. See ``docs/cost_model.md`` for the model forms and the error tables.

Families and targets, each with ``options=("-nodsp",)`` (LUT-only): :data:`FAMILIES` on
``target="xilinx"`` (``synth_xilinx``, the default) and on ``target="ecp5"``
(``synth_ecp5``: LUT4s, ``CCU2C`` carry cells; the same terms, coefficients fitted on
ECP5). Anything else raises ``ValueError`` naming the parameter.

* **LUTs** and **carry** (``CARRY4`` on xilinx, ``CCU2C`` — two LUT4s and 2 adder bits,
  not counted among the LUTs — on ECP5) are linear in a few *terms* computed from the
  unit's formats and parameters (:data:`TERMS`), coefficients fitted on the fit set of the
  target (weighted least squares on relative error, or for some families' LUTs the mean
  absolute relative error plus λ × the worst, ``calibrate.estimator``). IntMac's terms read
  the target's table of synthesized integer products (:mod:`~numfmt.hw.cost.products`,
  stored with the coefficients), not a formula of the operand widths.
* **FFs** are counted, not fitted: the register bits the unit declares (the bits its
  Amaranth design assigns in the ``sync`` domain, :func:`declared_ffs`) less the bits
  Yosys provably removes (a product register's constant or duplicated sign bits, a
  Convert table's constant-0 and copied output bits, a requantizer's bits its range fixes;
  :func:`count_ffs`), one rule for both targets (checked on every calibration
  configuration).
* **DSPs** are 0 with ``-nodsp``.
* **Latency** (clock cycles from a transaction's inputs to its output) is exact, from the
  formats and parameters (:func:`latency`): the unit's ``stages``, one more for a MAC's
  accumulator register; a bit-serial PE's planes (or plane pairs), a LUT PE's tables ×
  weight bit planes.

>>> import numfmt as nf
>>> from numfmt.arith import FixedAccumulator
>>> from numfmt.hw.rtl import IntMac
>>> mac = IntMac(nf.IntFormat(8), nf.IntFormat(8), FixedAccumulator(20))
>>> e = estimate(mac)
>>> e.family, e.target, e.ffs, e.dsps, e.latency, e.luts > 0
('IntMac', 'xilinx', 39, 0, 2, True)
>>> e5 = estimate(mac, target="ecp5")
>>> e5.target, e5.ffs, e5.luts != e.luts
('ecp5', 39, True)
"""

from __future__ import annotations

import dataclasses
import functools
import json
from pathlib import Path

import numpy as np

from ..rtl import convert as rtl_convert
from .products import MAX_BITS as PRODUCT_MAX_BITS
from .products import table_array as _product_array

__all__ = ["Estimate", "FAMILIES", "FLAG_FEATURES", "RAW", "TERMS", "Calibration", "calibration", "count_ffs",
           "csd_digits", "declared_ffs", "estimate", "estimate_features", "is_flag", "latency", "raw_features",
           "scales_down", "term_names", "terms", "TARGET_TERMS"]

CALIBRATION_DIR = Path(__file__).resolve().parent / "calibration"

FAMILIES = ("IntMac", "FloatMul", "FloatKulischMac", "BlockDot", "Convert", "BitSerialDot", "LutDot",
            "Requantizer", "RequantizerPerChannel", "FloatAccMac")
"""The unit families with a model: class names of :mod:`numfmt.hw.rtl`, and
``RequantizerPerChannel`` (a :class:`~numfmt.hw.rtl.Requantizer` with per-channel
parameters: a variable multiply and shift, unlike the per-tensor one's constants)."""


def _float_raw(prefix: str) -> tuple[str, ...]:
    return tuple(f"{prefix}_{k}" for k in ("exp", "man", "sub", "fn", "ieee"))


def _element_raw(prefix: str) -> tuple[str, ...]:
    return _float_raw(prefix) + (f"{prefix}_int",)


RAW = {
    "IntMac": ("a_bits", "b_bits", "a_signed", "b_signed", "width", "sat", "stages"),
    "FloatMul": _float_raw("a") + _float_raw("b") + _float_raw("out") + ("stages", "underflows"),
    "FloatKulischMac": _float_raw("a") + _float_raw("b") + ("width", "stages"),
    "FloatAccMac": _float_raw("a") + _float_raw("b") + _float_raw("acc")
                   + ("exp_bits", "operand_exp_bits", "stages"),
    "BlockDot": _element_raw("a") + _element_raw("b") + ("block", "width", "stages"),
    "Convert": _float_raw("in") + _float_raw("out") + ("table_luts", "table_regs", "in_lz", "stages"),
    "BitSerialDot": ("a_bits", "b_bits", "a_signed", "b_signed", "n", "both", "width"),
    "LutDot": ("w_bits", "a_bits", "n", "g", "groups", "entries", "sym", "width"),
    "Requantizer": ("acc_bits", "multiplier", "shift", "out_bits", "out_signed", "sat", "nearest", "directed",
                    "sign", "zero_point", "stages", "sticky"),
    "RequantizerPerChannel": ("acc_bits", "mult_bits", "shift_min", "shift_max", "channels", "y_lo", "y_hi",
                              "out_bits", "out_signed", "sat", "nearest", "directed", "sign", "zero_point",
                              "stages"),
}
"""Columns of the feature array of each family (what :func:`raw_features` reads from a
unit): format fields (``exp``, ``man``; ``sub`` subnormals on; ``fn``/``ieee`` the
specials policy, both 0 for ``none``), integer widths and signedness, the accumulator
register ``width``, ``sat`` (saturating accumulator), ``stages``. BlockDot elements: an
integer element has ``int = 1``, ``exp = 0`` and ``man = bits − 1`` (its significand is the
whole code); ``block`` elements per operand, ``width`` the exact sum's bits. FloatMul:
``underflows`` (1 if a product can fall below the output's normal range:
:meth:`numfmt.hw.rtl.FloatMul.reach`).

FloatAccMac: the operand and register (``acc``) format fields, ``exp_bits`` the width of
its signed exponent signals (:attr:`numfmt.hw.rtl.FloatAccMac.exp_bits`),
``operand_exp_bits`` the wider of the operands' unpacked exponents
(:func:`numfmt.hw.rtl._float.unpack`'s ``exp``, as elaborated).

Convert (float to float, ``rne``): the input and output format fields, ``table_luts`` and
``table_regs`` (:func:`table_luts` and :func:`table_registers` of its truth table; 0 above
:data:`TABLE_BITS` input bits, where the unit is a datapath), ``in_lz`` (a datapath's
input significand bits below the leading one that the leading-zero count must search:
``in_man −`` :meth:`numfmt.hw.rtl.Convert.lead`; 0 for a table).

BitSerialDot: operand bits ``a_bits``, ``b_bits``, their signedness ``a_signed``,
``b_signed``, vector length ``n``, ``both`` (1 for
``serial="both"``, 0 for ``"a"``), ``width`` the accumulator (output) bits. LutDot: weight
bits ``w_bits``, activation bits ``a_bits``, ``n``, weight bits per lookup ``g``, the unit's
``groups`` (tables) and ``entries`` (stored entries per table), ``sym`` (sign-symmetric
tables), ``width`` the output bits. Neither unit has pipeline stages (one transaction
takes ``cycles`` clock cycles).

Requantizer (per tensor): ``acc_bits`` the signed accumulator, ``multiplier`` ``b`` and
``shift`` ``c`` (a negative ``c`` multiplies by ``2**-c``), the output's ``out_bits``,
``out_signed``, ``sat`` (1 saturating, 0 wrapping), the rounding mode as the signals
:func:`hw.rtl._fixed.round_up_from_floor` reads: ``nearest`` (a ``rn*`` mode: the
remainder's compares with one half), ``directed`` (``ceil``, ``rtz``, ``rta``: the
remainder's nonzero test), ``sign`` (``rna``, ``rnz``, ``rtz``, ``rta``: the product's
sign), all 0 for ``floor``; ``zero_point``; ``stages``; ``sticky`` (``rne``, ``rnm``,
``rna``, ``rnz``: a tie rule that reads the OR of the remainder bits below the half bit).

RequantizerPerChannel: ``acc_bits``; ``mult_bits`` the widest channel multiplier's bits;
``shift_min``, ``shift_max`` the channels' least and greatest right shift; ``channels``;
``y_lo``, ``y_hi`` the least and greatest rounded value over every accumulator and channel
(:meth:`numfmt.hw.rtl.Requantizer.spans`, zero point included: the RTL holds it in
exactly the bits these need); the output, rounding, zero point and stage columns as the
Requantizer's."""


# -- features of a unit ---------------------------------------------------------------------
def _family(unit) -> str:
    from numfmt.hw import rtl

    if type(unit) is rtl.Requantizer:
        return "RequantizerPerChannel" if unit.channels else "Requantizer"
    for name in FAMILIES:
        if hasattr(rtl, name) and type(unit) is getattr(rtl, name):
            return name
    raise ValueError(f"unit must be one of the modelled families ({', '.join(FAMILIES)}), "
                     f"not {type(unit).__name__}")


def _float_fields(fmt) -> list[float]:
    spec = str(fmt.specials)
    return [fmt.exp, fmt.man, float(bool(fmt.subnormals)), float(spec == "fn"), float(spec == "ieee")]


def _element_fields(fmt) -> list[float]:
    import numfmt as nf

    if isinstance(fmt, nf.IntFormat):
        return [0.0, fmt.bits - 1.0, 0.0, 0.0, 0.0, 1.0]
    return _float_fields(fmt) + [0.0]


def _block_features(unit) -> np.ndarray:
    import numfmt as nf

    e8m0 = nf.parse("e8m0fnu")
    for name in ("a_fmt", "b_fmt"):
        blk = getattr(unit, name)
        el = blk.element
        if blk.scale != e8m0:
            raise ValueError(f"unit.{name}.scale must be E8M0 (the BlockDot model's calibrated domain), "
                             f"not {blk.scale}")
        ok_float = isinstance(el, nf.FloatFormat) and el.signed and el.exp >= 2 and el.bits <= 8
        ok_int = isinstance(el, nf.IntFormat) and el.signed and 4 <= el.bits <= 8
        if not (ok_float or ok_int):
            raise ValueError(f"unit.{name}.element must be a signed float format of at most 8 bits with "
                             f"exp ≥ 2 or a signed integer of 4–8 bits (the BlockDot model's calibrated "
                             f"domain), not {el}")
    if unit.out_fmt is not None:
        raise ValueError(f"unit.out_fmt must be None (the exact result; the calibrated form), not {unit.out_fmt}")
    if unit.k > 32:
        raise ValueError(f"unit.k must be at most 32 (the BlockDot model's calibrated domain), not {unit.k}")
    return np.asarray(_element_fields(unit.a_fmt.element) + _element_fields(unit.b_fmt.element) +
                      [unit.k, unit.sum_width, unit.stages], dtype=np.float64)


def table_luts(codes, in_bits: int, out_bits: int) -> int:
    """LUT6s a lookup table would take for a function of ``in_bits`` inputs whose output
    for input ``i`` is ``codes[i]``: per distinct output bit, by the input bits it depends on
    (its support ``k``): none 0, one input bit as is 0 (a wire), otherwise 1 up to six inputs
    and ``2**(k-6)`` above.

    >>> table_luts([0b00, 0b01, 0b01, 0b11], 2, 2)       # bit 0 = a|b, bit 1 = a&b
    2
    >>> table_luts([0b10, 0b11, 0b00, 0b01], 2, 2)       # bit 0 = a, bit 1 = ~b: one inverter
    1
    """
    codes = np.asarray(codes, dtype=np.uint64)
    idx = np.arange(1 << in_bits, dtype=np.uint64)
    inputs = [((idx >> np.uint64(j)) & np.uint64(1)).astype(np.uint8) for j in range(in_bits)]
    seen, total = set(), 0
    for k in range(out_bits):
        col = ((codes >> np.uint64(k)) & np.uint64(1)).astype(np.uint8)
        if col.tobytes() in seen:
            continue
        seen.add(col.tobytes())
        support = sum(bool(np.any(col != col[(idx ^ np.uint64(1 << j)).astype(np.int64)])) for j in range(in_bits))
        if support == 1 and any(np.array_equal(col, x) for x in inputs):
            continue
        total += 0 if support == 0 else 1 if support <= 6 else 2 ** (support - 6)
    return total


def table_registers(codes, out_bits: int) -> int:
    """Output register bits Yosys keeps behind a lookup table whose output for input ``i``
    is ``codes[i]``: one per distinct output bit, less a bit that is always 0 (its register
    holds its reset value). A bit that is always 1 is kept: it is 0 until the first load.

    >>> table_registers([0b010, 0b011, 0b010, 0b011], 3)   # bit 0 = a; bit 1 = 1; bit 2 = 0
    2
    >>> table_registers([0b00, 0b11, 0b11, 0b00], 2)       # the two bits are one register
    1
    """
    codes = np.asarray(codes, dtype=np.uint64)
    columns = {((codes >> np.uint64(k)) & np.uint64(1)).astype(np.uint8).tobytes() for k in range(out_bits)}
    return sum(1 for col in columns if any(col))


TABLE_BITS = rtl_convert.TABLE_BITS
"""Convert inputs up to this many bits are modelled from the unit's truth table (float
inputs this narrow are tables, ``impl="auto"`` of :class:`~numfmt.hw.rtl.Convert`)."""


def _check_float(fmt, name: str, family: str, max_bits: int) -> None:
    import numfmt as nf

    ok = (isinstance(fmt, nf.FloatFormat) and fmt.signed and fmt.exp >= 2 and fmt.bits <= max_bits
          and str(fmt.specials) in ("fn", "ieee", "none"))
    if not ok:
        raise ValueError(f"unit.{name} must be a signed float format of at most {max_bits} bits with exp ≥ 2 and "
                         f"specials fn, ieee or none (the {family} model's calibrated domain), not {fmt}")


def _convert_features(unit) -> np.ndarray:
    fin, fout = unit.in_fmt, unit.out_fmt
    _check_float(fin, "in_fmt", "Convert", 32)
    _check_float(fout, "out_fmt", "Convert", 16)
    if unit.rounding.value != "rne" or unit.sr_bits:
        raise ValueError(f"unit.rounding must be 'rne' for the Convert model (the calibrated mode), "
                         f"not {unit.rounding.value!r}")
    impl = "table" if fin.bits <= TABLE_BITS else "datapath"
    if unit.impl != impl:
        raise ValueError(f"unit.impl must be {impl!r} for an input of {fin.bits} bits (impl='auto', the calibrated "
                         f"form), not {unit.impl!r}")
    luts = regs = 0
    if impl == "table":             # every input code through the emulator: what the table stores
        codes = unit.truth_table()
        luts, regs = table_luts(codes, fin.bits, fout.bits), table_registers(codes, fout.bits)
    lz = fin.man - unit.lead() if impl == "datapath" else 0
    return np.asarray(_float_fields(fin) + _float_fields(fout) + [luts, regs, lz, unit.stages], dtype=np.float64)


SERIAL_MAX_N = 32
"""BitSerialDot and LutDot vectors of at most this many elements are modelled."""
LUT_MAX_G = 6
"""LutDot lookups of at most this many weight bits are modelled."""
LUT_TABLE_ENTRIES = 64
"""LutDot units storing at most this many table entries in all (``groups·entries``) are
modelled (the calibration skips larger draws: the tables are registers, and synthesis time
grows with them)."""


def _check_operand(unit, name: str, family: str) -> None:
    fmt = getattr(unit, name)
    if not 2 <= fmt.bits <= 8:
        raise ValueError(f"unit.{name} must be an integer format of 2–8 bits (the {family} model's calibrated "
                         f"domain), not {fmt}")


def _check_n(unit, family: str) -> None:
    if unit.n > SERIAL_MAX_N:
        raise ValueError(f"unit.n must be at most {SERIAL_MAX_N} (the {family} model's calibrated domain), "
                         f"not {unit.n}")


def _serial_features(unit) -> np.ndarray:
    for name in ("a_fmt", "b_fmt"):
        _check_operand(unit, name, "BitSerialDot")
    _check_n(unit, "BitSerialDot")
    return np.asarray([unit.a_fmt.bits, unit.b_fmt.bits, float(unit.a_fmt.signed), float(unit.b_fmt.signed),
                       unit.n, float(unit.serial == "both"), unit.out_fmt.bits], dtype=np.float64)


def _lut_features(unit) -> np.ndarray:
    for name in ("w_fmt", "a_fmt"):
        _check_operand(unit, name, "LutDot")
    _check_n(unit, "LutDot")
    if unit.table != "exact":
        raise ValueError(f"unit.table must be 'exact' (the LutDot model's calibrated domain; an int8-table "
                         f"unit's dividers were still in Yosys after 9 minutes at n=8), not {unit.table!r}")
    if unit.g > LUT_MAX_G:
        raise ValueError(f"unit.g must be at most {LUT_MAX_G} (the LutDot model's calibrated domain), not {unit.g}")
    if unit.groups * unit.entries > LUT_TABLE_ENTRIES:
        raise ValueError(f"unit.groups·unit.entries (the stored table entries) must be at most {LUT_TABLE_ENTRIES} "
                         f"(the LutDot model's calibrated domain), not {unit.groups * unit.entries} "
                         f"({unit.groups} groups × {unit.entries} entries)")
    return np.asarray([unit.w_fmt.bits, unit.a_fmt.bits, unit.n, unit.g, unit.groups, unit.entries,
                       float(unit.sign_symmetric), unit.out_fmt.bits], dtype=np.float64)


REQUANT_ACC_BITS = (8, 32)
"""Requantizer accumulators of this many bits (least, most) are modelled."""
REQUANT_MULT_BITS = 16
"""Requantizer constant multipliers of at most this many bits are modelled."""
REQUANT_OUT_BITS = (2, 16)
"""Requantizer outputs of this many bits (least, most) are modelled."""
_SIGN_MODES, _DIRECTED_MODES = ("rna", "rnz", "rtz", "rta"), ("ceil", "rtz", "rta")
_STICKY_MODES = ("rne", "rnm", "rna", "rnz")
"""Nearest modes whose tie rule reads the bits below the half bit (their OR, the sticky
bit); ``rnp`` (ties up) reads the half bit only, the directed modes every remainder bit."""


def scales_down(multiplier: int, shift: int) -> bool:
    """Whether a per-tensor requantizer's scale ``multiplier·2**-shift`` is below 1, the
    Requantizer model's domain (and its calibration sample's). Requantizers after a matrix
    product scale a wide accumulator down (gemmlowp reports those multipliers empirically in
    (0, 1)); above 1 every output step jumps several codes, a saturating output leaves a few
    accumulators unsaturated, and synthesis then folds 100-LUT datapaths into 3–10 LUTs or
    not (``docs/cost_model.md``).

    >>> scales_down(205, 11), scales_down(64, 6), scales_down(3, -1)
    (True, False, False)
    """
    return multiplier < 1 << max(shift, 0)


def _check_acc_bits(unit, bounds, family: str) -> None:
    lo, hi = bounds
    if not lo <= unit.acc_bits <= hi:
        raise ValueError(f"unit.acc_bits must be in {lo}..{hi} (the {family} model's calibrated domain), "
                         f"not {unit.acc_bits}")


def _requant_output_columns(unit, family: str) -> list[float]:
    """The output, rounding, zero-point and stage columns both Requantizer families share."""
    r, out = unit.requantizer, unit.requantizer.out_format
    lo, hi = REQUANT_OUT_BITS
    if not lo <= out.bits <= hi:
        raise ValueError(f"unit.out_fmt must be an integer format of {lo}–{hi} bits (the {family} model's "
                         f"calibrated domain), not {out}")
    mode = r.rounding.value
    return [out.bits, float(out.signed), float(str(out.overflow) == "sat"), float(mode.startswith("rn")),
            float(mode in _DIRECTED_MODES), float(mode in _SIGN_MODES), r.zero_point, unit.stages]


def _requant_features(unit) -> np.ndarray:
    r = unit.requantizer
    b, c = int(r.multiplier), int(r.shift)
    _check_acc_bits(unit, REQUANT_ACC_BITS, "Requantizer")
    if unit.multiply != "shift_add":
        raise ValueError(f"unit.multiply must be 'shift_add' (the Requantizer model's calibrated form), "
                         f"not {unit.multiply!r}")
    if unit.parameters().get("saturate", "result") != "result":
        raise ValueError(f"unit.saturate must be 'result' (the Requantizer model's calibrated form), "
                         f"not {unit.saturate!r}")
    if b >= 1 << REQUANT_MULT_BITS:
        raise ValueError(f"unit.requantizer.multiplier must be below 2**{REQUANT_MULT_BITS} (the Requantizer "
                         f"model's calibrated domain), not {b}")
    if c > unit.acc_bits + REQUANT_MULT_BITS:
        raise ValueError(f"unit.requantizer.shift must be at most {unit.acc_bits + REQUANT_MULT_BITS} (acc_bits + "
                         f"{REQUANT_MULT_BITS}; the Requantizer model's calibrated domain), not {c}")
    if not scales_down(b, c):
        raise ValueError(f"unit.requantizer's scale b·2**-c must be below 1 (a requantizer that scales the "
                         f"accumulator down: the Requantizer model's calibrated domain), not "
                         f"{b}·2**{-c} = {b * 2.0 ** -c:g}")
    return _requant_row(unit)


def _requant_row(unit) -> np.ndarray:
    """The per-tensor Requantizer's :data:`RAW` row without the model's domain checks (its
    FF rule, :func:`_removed`, holds for any scale; the tests check it on both sides)."""
    r = unit.requantizer
    sticky = float(r.rounding.value in _STICKY_MODES)
    return np.asarray([unit.acc_bits, int(r.multiplier), int(r.shift)] + _requant_output_columns(unit, "Requantizer")
                      + [sticky], dtype=np.float64)


REQUANT_CHANNEL_ACC_BITS = (8, 24)
"""Accumulator widths (least, most) of the modelled per-channel Requantizers."""
REQUANT_CHANNELS = (2, 64)
"""Channel counts (least, most) of the modelled per-channel Requantizers."""


def _requant_channel_features(unit) -> np.ndarray:
    family = "RequantizerPerChannel"
    r = unit.requantizer
    b, c = r.multiplier.astype(np.int64), r.shift.astype(np.int64)
    _check_acc_bits(unit, REQUANT_CHANNEL_ACC_BITS, family)
    lo, hi = REQUANT_CHANNELS
    if not lo <= unit.channels <= hi:
        raise ValueError(f"unit.channels must be in {lo}..{hi} (the {family} model's calibrated domain), "
                         f"not {unit.channels}")
    if int(b.max()) >= 1 << REQUANT_MULT_BITS:
        raise ValueError(f"unit.requantizer.multiplier must be below 2**{REQUANT_MULT_BITS} in every channel (the "
                         f"{family} model's calibrated domain), not {int(b.max())}")
    if int(c.min()) < 0:
        raise ValueError(f"unit.requantizer.shift must be ≥ 0 in every channel (right shifts: the {family} "
                         f"model's calibrated domain), not {int(c.min())}")
    _, (y_lo, y_hi) = unit.spans()
    return np.asarray([unit.acc_bits, int(b.max()).bit_length(), int(c.min()), int(c.max()), unit.channels,
                       y_lo, y_hi] + _requant_output_columns(unit, family), dtype=np.float64)


def _acc_mac_features(unit) -> np.ndarray:
    family = "FloatAccMac"
    for name in ("a_fmt", "b_fmt"):
        _check_float(getattr(unit, name), name, family, 8)
    _check_float(unit.acc.fmt, "acc.fmt", family, 32)
    if str(unit.acc.rounding) != "rne":
        raise ValueError(f"unit.acc.rounding must be 'rne' for the {family} model (the calibrated mode), "
                         f"not {str(unit.acc.rounding)!r}")
    if unit.stages != 1:
        raise ValueError(f"unit.stages must be 1 for the {family} model (the calibrated depth), not {unit.stages}")
    from amaranth.hdl import Signal

    from numfmt.hw.rtl._float import unpack

    operand = max(unpack(f, Signal(f.bits)).exp.shape().width for f in (unit.a_fmt, unit.b_fmt))
    return np.asarray(_float_fields(unit.a_fmt) + _float_fields(unit.b_fmt) + _float_fields(unit.acc.fmt)
                      + [unit.exp_bits, operand, unit.stages], dtype=np.float64)


def raw_features(unit) -> tuple[str, np.ndarray]:
    """``(family, row)``: the unit's :data:`RAW` features, read from its formats and
    parameters (``float64`` row)."""
    family = _family(unit)
    if family == "RequantizerPerChannel":
        return family, _requant_channel_features(unit)
    if family == "Requantizer":
        return family, _requant_features(unit)
    if family == "BitSerialDot":
        return family, _serial_features(unit)
    if family == "LutDot":
        return family, _lut_features(unit)
    if family == "BlockDot":
        return family, _block_features(unit)
    if family == "Convert":
        return family, _convert_features(unit)
    if family == "FloatAccMac":
        return family, _acc_mac_features(unit)
    if family == "IntMac":
        row = [unit.a_fmt.bits, unit.b_fmt.bits, float(unit.a_fmt.signed), float(unit.b_fmt.signed),
               unit.acc.width, float(str(unit.acc.overflow) != "wrap"), unit.stages]
    elif family == "FloatMul":
        if unit.rounding.value != "rne" or unit.sr_bits:
            raise ValueError(f"unit.rounding must be 'rne' for the FloatMul model (the calibrated mode), "
                             f"not {unit.rounding.value!r}")
        row = (_float_fields(unit.a_fmt) + _float_fields(unit.b_fmt) + _float_fields(unit.out_fmt)
               + [unit.stages, float(unit.reach()[0])])
    else:
        row = _float_fields(unit.a_fmt) + _float_fields(unit.b_fmt) + [unit.register.width, unit.stages]
    names = ("a_fmt", "b_fmt", "out_fmt") if family == "FloatMul" else ("a_fmt", "b_fmt")
    for name in names if family != "IntMac" else ():
        fmt = getattr(unit, name)
        if not fmt.signed or fmt.exp < 2 or fmt.bits > 8:
            raise ValueError(f"unit.{name} must be a signed float format of at most 8 bits with exp ≥ 2 "
                             f"(the {family} model's calibrated domain), not {fmt}")
    if family != "IntMac" and unit.stages >= 2:   # the registers inside the datapath depend on these
        for name in ("a_fmt", "b_fmt"):
            fmt = getattr(unit, name)
            if str(fmt.specials) not in ("fn", "ieee", "none"):
                raise ValueError(f"unit.{name} must have specials fn, ieee or none at stages ≥ 2 (the "
                                 f"features' specials), not {fmt}")
            default = (1 << (fmt.exp - 1)) - 1
            if family == "FloatMul" and fmt.bias != default:
                raise ValueError(f"unit.{name} must have the default bias {default} at stages ≥ 2 (the "
                                 f"exponent registers' width follows it), not {fmt.bias} ({fmt})")
    if family == "IntMac":
        for name in ("a_fmt", "b_fmt"):
            if getattr(unit, name).bits > 8:
                raise ValueError(f"unit.{name} must have at most 8 bits (the IntMac model's calibrated domain), "
                                 f"not {getattr(unit, name)}")
        p = unit.a_fmt.bits + unit.b_fmt.bits
        if unit.acc.width < p:          # a register narrower than the product was never sampled
            raise ValueError(f"unit.acc.width must be at least the product's {p} bits (the IntMac model's "
                             f"calibrated domain), not {unit.acc.width}")
    return family, np.asarray(row, dtype=np.float64)


def _cols(family: str, X: np.ndarray) -> dict[str, np.ndarray]:
    names = RAW[family]
    try:
        X = np.asarray(X, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"features must be a real array of shape (n, {len(names)}) for family {family!r}, "
                         f"not one numpy cannot read as float64 ({exc})") from None
    if X.ndim != 2 or X.shape[1] != len(names):
        raise ValueError(f"features must be an array of shape (n, {len(names)}) with columns "
                         f"{', '.join(names)} for family {family!r}, not shape {X.shape}")
    bad = ~np.isfinite(X)
    if bad.any():
        row, col = np.argwhere(bad)[0]
        raise ValueError(f"features must be finite, not {X[row, col]} (row {row}, column {names[col]!r})")
    _check_columns(names, X)
    return {n: X[:, i] for i, n in enumerate(names)}


FLAG_FEATURES = ("sub", "fn", "ieee", "int", "signed", "sat", "nearest", "directed", "sign", "sym", "both",
                 "underflows", "sticky")
"""Column names (or ``prefix_name`` endings) of the 0/1 features of :data:`RAW` (see
:func:`is_flag`)."""
_SIGNED_COLUMNS = ("shift", "zero_point", "y_lo", "y_hi")
"""Integer features of :data:`RAW` that may be negative (every other one is a count or width)."""


def is_flag(name: str) -> bool:
    """Whether the :data:`RAW` column ``name`` is a 0/1 feature.

    >>> is_flag("a_sub"), is_flag("out_signed"), is_flag("sat"), is_flag("a_bits")
    (True, True, True, False)
    """
    return name in FLAG_FEATURES or name.rsplit("_", 1)[-1] in FLAG_FEATURES


def _check_columns(names: tuple[str, ...], X: np.ndarray) -> None:
    """Every feature is an integer; a flag is 0 or 1; a width or count is not negative; a
    range's ``y_lo`` is at most its ``y_hi``. The message names the first offending row and
    column."""
    flag = np.array([is_flag(n) for n in names])
    signed = np.array([n in _SIGNED_COLUMNS for n in names])
    for bad, what in ((X != np.round(X), "integers"),
                      (flag & (X != 0) & (X != 1), "0 or 1 (a flag)"),
                      (~flag & ~signed & (X < 0), "≥ 0 (a width or count)")):
        if bad.any():
            row, col = np.argwhere(bad)[0]
            raise ValueError(f"features in column {names[col]!r} must be {what}, not {X[row, col]:g} (row {row})")
    if "y_lo" in names:                                 # a range: y_lo ≤ y_hi
        lo, hi = X[:, names.index("y_lo")], X[:, names.index("y_hi")]
        if (lo > hi).any():
            row = int(np.argmax(lo > hi))
            raise ValueError(f"features in column 'y_lo' must be at most 'y_hi', not {lo[row]:g} > {hi[row]:g} "
                             f"(row {row})")


def _sig(c, p):             # significand bits incl. the hidden bit
    return c[f"{p}_man"] + 1


def _shift_bits(c, p):      # width of the alignment shift of FloatKulischMac._aligned
    return np.maximum(c[f"{p}_exp"], 1) + 1


TERMS = {
    "IntMac": {
        "luts": ("one", "products", "product_sums", "a_plus_b", "width", "sat_width"),
        "carry": ("one", "ab", "a_plus_b", "width", "sat_width"),
    },
    "FloatMul": {
        "luts": ("one", "sig_product", "norm", "norm_top", "denorm", "round_width", "exp_width", "out_exp",
                 "out_man", "specials_in", "specials_out", "sub_in"),
        "carry": ("one", "sig_product", "round_width", "exp_width", "out_exp", "out_man"),
    },
    "FloatKulischMac": {
        "luts": ("one", "sig_product", "width", "width_shift", "sig_sum_shift", "specials_in", "sub_in"),
        "carry": ("one", "sig_product", "width", "sig_sum"),
    },
    "FloatAccMac": {
        "luts": ("one", "sig_product", "align", "round", "exp_bits", "acc_exp", "specials_in", "sub_in"),
        "carry": ("one", "sig_product", "adder", "exp_bits", "acc_exp"),
    },
    "BlockDot": {
        "luts": ("one", "lane_products", "lane_shifts", "lane_sums"),
        "carry": ("one", "lane_products", "lane_sums"),
    },
    "Convert": {
        "luts": ("narrow", "narrow_table", "wide", "denorm", "round_width", "in_exp", "out_exp", "out_man",
                 "specials_out", "lz_norm"),
        "carry": ("one", "carry_round_width", "carry_in_exp", "carry_out_exp", "carry_out_man"),
    },
    "BitSerialDot": {
        "luts": ("one", "both", "operands", "plane_dot", "popcount", "shift", "width", "subtract"),
        "carry": ("one", "plane_dot", "popcount", "width"),
    },
    "LutDot": {
        "luts": ("one", "tables", "table_adds", "lookup", "weights", "shift", "width", "sym_init"),
        "carry": ("one", "table_adds", "width", "sym_init"),
    },
    "Requantizer": {
        "luts": ("one", "mult_csd_tree", "mult_csd_final", "clamp", "zp_add", "sticky_bits"),
        "carry": ("one", "mult_final", "clamp", "zp_add"),
    },
    "RequantizerPerChannel": {
        "luts": ("one", "product_live", "fixed_shift", "clamp", "channels", "table_bits", "table_cases"),
        "carry": ("one", "ab", "width", "remainder", "clamp", "zp_add"),
    },
}
"""Names of the terms each fitted quantity is linear in (see :func:`terms`); a target may
replace a family's (:data:`TARGET_TERMS`)."""

TARGET_TERMS = {
    "ecp5": {"Requantizer": {"luts": ("one", "mult_csd_tree", "mult_csd_final", "clamp", "zp_add")}},
}
"""Per target, the families whose terms differ from :data:`TERMS` (chosen by fit-set
leave-one-out on that target: the Requantizer's ``sticky_bits`` lowered the xilinx error and
doubled the ECP5 worst case, ``docs/cost_model.md``)."""


def term_names(family: str, quantity: str, target: str = "xilinx") -> tuple[str, ...]:
    """The terms ``family``'s ``quantity`` is linear in on ``target``.

    >>> term_names("Requantizer", "luts")[-1], term_names("Requantizer", "luts", "ecp5")[-1]
    ('sticky_bits', 'zp_add')
    """
    return TARGET_TERMS.get(target, {}).get(family, {}).get(quantity, TERMS[family][quantity])


def terms(family: str, X, products: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """Every term of :data:`TERMS` for the rows of ``X`` (columns :data:`RAW` ``[family]``).

    IntMac (``a``, ``b`` operand bits, ``W`` register width) reads ``products``, the
    target's table of synthesized products (:meth:`Calibration.product_table`, indexed
    ``[a_bits, a_signed, b_bits, b_signed]``): ``products`` = the table's LUTs of the
    product ``a × b``, or at ``stages ≥ 2`` the sum of its LUTs of the partial products
    the RTL splits it into (:func:`int_mac_chunks`), ``product_sums`` the adder bits
    summing those partial products, ``a_plus_b`` (the product's width), ``width = W``
    (the accumulator adder and its ``first`` mux), ``sat_width = sat·W`` (the clamp's
    comparators and mux). Carry: ``ab = a·b`` (the array multiplier's partial-product
    bits), ``a_plus_b``, ``width``, ``sat_width``.

    FloatMul (``sa = a.man+1``, ``sb`` significand bits, ``S = sa+sb``; ``R = max(S,
    out.man+2)`` the width :func:`hw.rtl._float.round_pack` normalises): ``sig_product =
    sa·sb``, ``norm = R·⌈log2(T+1)⌉`` and ``norm_top = T`` (the left shift and the leading-zero
    count over the ``T = S − lead`` top bits of the product that can hold its leading one:
    ``lead`` = the operands' mantissa bits, each counted when it has no subnormals), ``denorm =
    underflows·out.sub·(R + out.man + 2)·⌈log2(out.man + 3)⌉`` (the right shift into the
    subnormal binade, absent when the output flushes to zero or no product can fall below
    its normal range), ``round_width = R`` (the rounding
    compares), ``exp_width = max(a.exp, b.exp)``, ``out_exp``, ``out_man`` (exponent
    clamp, rounding increment, packing), ``specials_in``/``specials_out``: number of
    operand / output formats with ``fn`` or ``ieee`` specials, ``sub_in = a.sub·sa +
    b.sub·sb`` (subnormal operands: their significands' leading zeros).

    FloatAccMac (``w0 = max(S, acc.man+1)`` the normalised addends' bits, ``c = w0 + 2`` the
    alignment window, ``w = c + 3`` the adder; :class:`numfmt.hw.rtl.FloatAccMac`):
    ``sig_product``, ``align = c·⌈log2(c+1)⌉`` (the right shift of the smaller addend, with
    its sticky OR), ``round = w·⌈log2 w⌉`` (the add/subtract, the magnitude and
    :func:`hw.rtl._float.round_pack`'s normalising shift), ``exp_bits`` (the exponent
    compares, the alignment shift amount, the normalisations' exponent updates), ``acc_exp``
    (the register's rebias and clamp), ``specials_in``, ``sub_in``. Also computed:
    ``normalise = w0·⌈log2(w0+1)⌉`` (the two addends' leading-zero normalisations),
    ``adder = w``, ``acc_man``, ``specials_acc``, ``sub_acc`` (not in :data:`TERMS`; chosen
    by fit-set leave-one-out, ``docs/cost_model.md``). Carry: ``sig_product``, ``adder``,
    ``exp_bits``, ``acc_exp``.

    FloatKulischMac (``W`` register width, ``h = max(exp,1)+1`` shift bits):
    ``sig_product``, ``width = W`` (negation and accumulation), ``width_shift =
    W·(max(h_a, h_b)+1)`` (the barrel shifter), ``sig_sum_shift = S·(h_a+h_b)``,
    ``specials_in``, ``sub_in`` (subnormal operands' hidden-bit logic).

    BlockDot (``k`` elements per block, ``W`` the exact sum's width, ``s`` significand bits,
    integer elements' whole code): ``lane_products = k·s_a·s_b`` (the element multipliers),
    ``lane_shifts = k·W·⌈log2(S+1)⌉`` with ``S = Σ (2^exp − 2)`` over the float operands (the
    alignment shifters; 0 for integer × integer), ``lane_sums = k·W`` (the adder tree).

    Convert, two regimes. Inputs of at most :data:`TABLE_BITS` bits (``narrow = 1``): the
    unit is a function of few inputs, ``narrow_table`` = its :func:`table_luts` (from the
    emulator's truth table). Wider inputs (``wide = 1``; the calibration's are FP16, BF16 and
    FP32), each term times ``wide``: ``round_width = R = max(in.man+1, out.man+2)``, the width
    :func:`hw.rtl._float.round_pack` normalises and rounds (with the sticky OR of the bits
    rounded away), ``denorm`` as FloatMul's (the shift into the output's subnormals),
    ``in_exp``, ``out_exp``, ``out_man`` (rebias, clamp, packing), ``specials_out`` (1 if
    the output has NaN/inf codes), ``lz_norm = L·⌈log2(L+1)⌉`` with ``L`` = ``in_lz`` (the
    leading-zero count and normalising shift of subnormal inputs the output tells apart;
    0 when they are all alike or the input has none). Carry: ``R``, the exponents and
    ``out_man`` over both regimes.

    BitSerialDot (``a``, ``b`` operand bits, ``n`` elements, ``W`` accumulator bits; ``S``
    shift amounts, ``a`` or, with ``both``, ``a+b−1``): ``both`` (the second plane counter
    and the pair control), ``operands = n·(a+b)`` (the operand registers' load muxes),
    ``plane_dot`` (``serial="a"`` only: the chain of ``n−1`` adders summing the ``n`` gated
    ``b`` operands, :func:`_plane_dot_bits`: a signed ``b`` is sign-extended, so every adder
    is ``W`` bits; an unsigned ``b`` is zero-extended and the ``j``-th partial sum needs
    only ``b + ⌈log2 j⌉`` bits, at most ``W``), ``popcount = both·n·bits(n)`` (AND and
    popcount tree), ``shift`` = :func:`_shift_mux` ``(W, S)`` (the term shifted by the
    plane index), ``width = W`` (the accumulator's add), ``subtract = neg·W`` with ``neg``
    = 1 when some plane is negated (a signed ``a``, or with ``both`` a signed ``b``: its
    MSB plane), the subtractor and the add/subtract mux.

    LutDot (``G`` tables of ``E`` entries of ``T`` bits — :func:`_lut_entry_bits` —, ``b``
    weight bits, ``g`` per lookup, ``A`` accumulator bits): ``tables = G·E·T`` (the table
    registers' load/rotate muxes), ``table_adds = G·T·adds`` (building the tables:
    symmetric ``E+g−1`` adds a table, plain ``E−1−g``), ``lookup = E·T`` (the front table's
    read mux), ``weights = G·g·b`` (the weight registers' muxes), ``shift`` =
    :func:`_shift_mux` ``(A, b)``, ``width = A``, ``sym_init = sym·G·A`` (the symmetric
    accumulator's start value, a sum over the tables' entry 0).

    Requantizer (per tensor; widths of :func:`_requant_widths`: ``big = b·2**max(−c, 0)``,
    the live product columns, ``Y`` the rounded value's bits). The RTL multiplies by the
    constant ``big`` with shifted copies of ``acc`` added and subtracted over its canonical
    signed digits (``multiply="shift_add"``, :func:`numfmt.hw.rtl.requant.csd`), and Yosys
    sums those copies as a carry-save tree and one carry-propagate adder: of ``mult_csd``,
    the output bits of ``digits − 1`` adders over the live columns (copy ``m`` at bit
    ``i_m`` spans ``i_m … live−1``; :func:`_adder_columns`), ``mult_csd_final`` are the
    columns the final adder spans (two or more copies meet) and ``mult_csd_tree`` the rest,
    the tree's compressors (on ECP5 the final adder is ``CCU2C`` carry cells, the tree
    LUT4s); ``clamp = clamped·Y``
    (the saturation compares of the rounded value, built only when it can leave the
    output's range); ``zp_add`` = the zero point's adder, ``Y`` bits when clamped, at most
    ``out_bits`` otherwise, 0 without a zero point; ``sticky_bits`` the remainder bits the
    rounding ORs (``R`` = the live remainder bits, the right shift's less ``big``'s trailing
    zeros: ``R − 1`` for ``sticky``, ``R`` for ``directed``, 0 for ``floor`` and ``rnp``).
    Carry: ``mult_final`` (the columns where two or more copies meet, ``h_j ≥ 2``, over the binary
    digits), ``clamp``, ``zp_add``. Also computed, not in :data:`TERMS`: ``mult`` and
    ``mult_runs``, the same adder count over ``big``'s binary 1s and over the first 1 of
    each run of 1s (the terms of Yosys's own constant multiplier, ``maccmap``'s carry-save
    tree, which the RTL used before; ``docs/cost_model.md``).

    RequantizerPerChannel (``a`` accumulator bits, ``m`` multiplier bits, ``w = a+m+1``,
    ``C`` channels; chosen by fit-set leave-one-out, ``docs/cost_model.md``):
    ``product_live`` = the partial-product bits of the variable ``a × m`` multiply in the
    columns an unclamped output reads (below ``shift_max + out_bits + 1``; all ``w`` when
    clamped), ``fixed_shift`` (one shift for every channel: a constant, no barrel
    shifter), ``clamp = clamped·Y`` (``Y`` the rounded value's bits, from ``y_lo``,
    ``y_hi``; as the Requantizer's), ``channels``, ``table_bits = (m + bits(shift_max))·
    bits(C−1)`` and ``table_cases = (m + bits(shift_max))·C/64`` (the channel table). Carry:
    ``ab = a·m``, ``width = w``, ``remainder`` (the rounding compares over ``shift_max``
    bits), ``clamp``, ``zp_add`` (the zero point's adder, as the Requantizer's).
    """
    c = _cols(family, X)
    one = np.ones_like(next(iter(c.values())))
    if family == "Requantizer":
        return _requant_terms(c, one)
    if family == "RequantizerPerChannel":
        return _requant_channel_terms(c, one)
    if family == "BitSerialDot":
        a, b, n, both, w = c["a_bits"], c["b_bits"], c["n"], c["both"], c["width"]
        negated = np.maximum(c["a_signed"], both * c["b_signed"])
        return {"one": one, "both": both, "operands": n * (a + b),
                "plane_dot": (1 - both) * _plane_dot_bits(b, c["b_signed"], n, w),
                "popcount": both * n * _bits(n), "shift": _shift_mux(w, np.where(both > 0, a + b - 1, a)),
                "width": w, "subtract": negated * w}
    if family == "LutDot":
        acc = _lut_acc_bits(c)
        tw = _lut_entry_bits(c)
        e, g, sym = c["entries"], c["g"], c["sym"]
        # adds building one table: symmetric, the group sum (g − 1), its negation and every
        # entry after the first (E − 1); plain, every entry but 0 and the g single activations
        adds = np.maximum(sym * (e + g - 1) + (1 - sym) * (e - 1 - g), 0)
        return {"one": one, "tables": c["groups"] * e * tw, "table_adds": c["groups"] * adds * tw,
                "lookup": e * tw,
                "weights": c["groups"] * c["g"] * c["w_bits"], "shift": _shift_mux(acc, c["w_bits"]),
                "width": acc, "sym_init": c["sym"] * c["groups"] * acc}
    if family == "BlockDot":
        k, w = c["block"], c["width"]
        smax = sum((2.0 ** c[f"{p}_exp"] - 2) * (1 - c[f"{p}_int"]) for p in ("a", "b"))
        return {"one": one, "lane_products": k * _sig(c, "a") * _sig(c, "b"),
                "lane_shifts": k * w * _magnitude_bits(np.maximum(smax, 0)), "lane_sums": k * w}
    if family == "Convert":
        s_in = _sig(c, "in")
        r = np.maximum(s_in, c["out_man"] + 2)
        narrow = (1 + c["in_exp"] + c["in_man"] <= TABLE_BITS).astype(np.float64)
        wide = 1 - narrow
        t = {"denorm": c["out_sub"] * (r + c["out_man"] + 2) * np.ceil(np.log2(c["out_man"] + 3)),
             "in_exp": c["in_exp"], "out_exp": c["out_exp"], "out_man": c["out_man"],
             "specials_out": c["out_fn"] + c["out_ieee"]}
        # carry's terms over both regimes, the LUTs' datapath terms for wide inputs only
        lz = c["in_lz"]                 # 0 for a table
        return {"one": one, "narrow": narrow, "narrow_table": narrow * c["table_luts"], "wide": wide,
                "lz_norm": lz * _magnitude_bits(lz),
                "round_width": wide * r, "carry_round_width": r, **{k: wide * v for k, v in t.items()},
                **{f"carry_{k}": t[k] for k in ("in_exp", "out_exp", "out_man")}}
    if family == "IntMac":
        a, b, w = c["a_bits"], c["b_bits"], c["width"]
        prods, sums = _int_mac_products(c, products)
        return {"one": one, "products": prods, "product_sums": sums, "ab": a * b, "a_plus_b": a + b,
                "width": w, "sat_width": c["sat"] * w}
    sa, sb = _sig(c, "a"), _sig(c, "b")
    s = sa + sb
    spec_in = c["a_fn"] + c["a_ieee"] + c["b_fn"] + c["b_ieee"]
    if family == "FloatMul":
        r = np.maximum(s, c["out_man"] + 2)
        # S − lead, lead the operands' Unpacked.lead (man without subnormals) from the format
        # columns; test_floatmul_norm_top_is_the_hardwares_leading_one_span checks the twin
        top = s - c["a_man"] * (1 - c["a_sub"]) - c["b_man"] * (1 - c["b_sub"])
        return {"one": one, "sig_product": sa * sb, "norm": r * np.ceil(np.log2(top + 1)), "norm_top": top,
                "denorm": c["underflows"] * c["out_sub"] * (r + c["out_man"] + 2) * np.ceil(np.log2(c["out_man"] + 3)),
                "round_width": r, "exp_width": np.maximum(c["a_exp"], c["b_exp"]),
                "out_exp": c["out_exp"], "out_man": c["out_man"],
                "specials_in": spec_in, "specials_out": c["out_fn"] + c["out_ieee"],
                "sub_in": c["a_sub"] * sa + c["b_sub"] * sb}
    if family == "FloatAccMac":
        w0, cap, w = _acc_mac_widths(c)               # ⌈log2(n+1)⌉ = n's bits, exactly
        return {"one": one, "sig_product": sa * sb, "normalise": w0 * _magnitude_bits(w0),
                "align": cap * _magnitude_bits(cap), "adder": w, "round": w * _magnitude_bits(w - 1),
                "exp_bits": c["exp_bits"], "acc_exp": c["acc_exp"], "acc_man": c["acc_man"],
                "specials_in": spec_in, "specials_acc": c["acc_fn"] + c["acc_ieee"],
                "sub_in": c["a_sub"] * sa + c["b_sub"] * sb, "sub_acc": c["acc_sub"] * w}
    if family == "FloatKulischMac":
        ha, hb = _shift_bits(c, "a"), _shift_bits(c, "b")
        w = c["width"]
        return {"one": one, "sig_product": sa * sb, "width": w, "width_shift": w * (np.maximum(ha, hb) + 1),
                "sig_sum": s, "sig_sum_shift": s * (ha + hb), "specials_in": spec_in,
                "sub_in": c["a_sub"] + c["b_sub"]}
    raise ValueError(f"family must be one of {', '.join(FAMILIES)}, not {family!r}")


def _acc_mac_widths(c) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """FloatAccMac's ``(w0, window, adder)`` widths from the features: the normalised
    addends' bits ``max(sa + sb, acc.man + 1)``, the alignment window (2 guard bits) and the
    adder (sticky, carry, sign); the twin of ``FloatAccMac.adder_width``, which a test
    compares on every calibration configuration."""
    w0 = np.maximum(_sig(c, "a") + _sig(c, "b"), c["acc_man"] + 1)
    return w0, w0 + 2, w0 + 5


def _shift_mux(w, s):
    """Data inputs of the muxes of ``hw.rtl.bitserial.shift_left`` (a ``w``-bit result, shift
    amounts ``0 … s−1``): output bit ``k`` chooses among ``min(k+1, s)`` bits of ``x``,
    Σ_k min(k+1, s) = s·w − s·(s−1)/2 for ``s ≤ w``."""
    s = np.minimum(s, w)
    return s * w - s * (s - 1) / 2


def _plane_dot_bits(b, b_signed, n, w):
    """Output bits of the ``n − 1`` adders of BitSerialDot's plane dot (``serial="a"``:
    ``pd = (pd + gated)[:W]`` over the ``n`` gated ``b`` operands). A signed ``b`` is
    sign-extended to ``W``: every adder is ``W`` bits. An unsigned ``b`` is zero-extended:
    the ``j``-th partial sum (``j = 2 … n`` operands) holds ``b + ⌈log2 j⌉`` live bits, at
    most ``W``. Summed by ``L = ⌈log2 j⌉``: ``j`` runs over ``2^(L−1)+1 … min(2^L, n)``.

    >>> int(_plane_dot_bits(np.array([4.0]), np.array([0.0]), np.array([4.0]), np.array([20.0]))[0])  # 5+6+6
    17
    """
    b, b_signed, n, w = (np.asarray(v, dtype=np.float64) for v in (b, b_signed, n, w))
    unsigned = np.zeros_like(n)
    levels = int(_magnitude_bits(np.max(np.maximum(n - 1, 0), initial=0)))       # ⌈log2 n⌉ of the largest n
    for lv in range(1, levels + 1):
        count = np.clip(np.minimum(2.0 ** lv, n) - 2.0 ** (lv - 1), 0, None)
        unsigned += count * np.minimum(b + lv, w)
    return b_signed * np.maximum(n - 1, 0) * w + (1 - b_signed) * unsigned


def _lut_acc_bits(c):       # LutDot's accumulator: the output, plus a bit when symmetric (it holds 2·y)
    return c["width"] + c["sym"]


def _lut_entry_bits(c):     # LutDot's table entry: sums of g activations (twice them when symmetric)
    a = c["a_bits"]
    return np.maximum(np.minimum(_lut_acc_bits(c), a + 1 + _magnitude_bits(c["g"]) + c["sym"]), a + 1)


_DIGITS = 64


def _int64(x) -> np.ndarray:
    """``x`` as int64 without a float detour for integer input; float input (feature columns)
    must hold integers below ``2**53``, which float64 represents exactly."""
    x = np.asarray(x)
    if x.dtype.kind in "iub":
        return x.astype(np.int64)
    x = x.astype(np.float64)
    bad = (x != np.floor(x)) | (np.abs(x) >= 2.0 ** 53)
    if np.any(bad):
        raise ValueError(f"x must hold integers (below 2**53 when given as floats), not {float(x[bad][0])!r}")
    return x.astype(np.int64)


def _binary_digits(x) -> np.ndarray:
    """``(n, 64)`` binary digits (0/1) of the non-negative integers ``x`` (below ``2**62``), bit 0 first."""
    x = _int64(x)
    return ((x[:, None] >> np.arange(_DIGITS, dtype=np.int64)) & 1).astype(np.int8)


def _csd(x) -> np.ndarray:
    """``(n, 64)`` canonical signed digits (−1, 0, 1; the non-adjacent form) of the non-negative
    integers ``x`` (below ``2**62``), digit 0 first: ``x = Σ d_j·2**j`` with no two adjacent
    nonzero digits, the fewest nonzero digits of any signed-binary form. Each step takes
    the lowest digit ``d = 2 − (x mod 4)`` when ``x`` is odd, else 0, then ``x ← (x − d)/2``."""
    x = _int64(x)
    if np.any(x < 0) or np.any(x >= 1 << 62):
        bad = x[(x < 0) | (x >= 1 << 62)][0]
        raise ValueError(f"x must be integers in 0..2**62-1, not {int(bad)}")
    out = np.zeros((x.size, _DIGITS), dtype=np.int8)
    for j in range(_DIGITS):
        d = np.where(x & 1, 2 - (x & 3), 0)
        out[:, j] = d
        x = (x - d) >> 1
    return out


def csd_digits(x) -> np.ndarray:
    """Nonzero digits of each non-negative integer ``x`` (below ``2**62``) in canonical
    signed-digit form (CSD, the non-adjacent form): the fewest signed powers of two that sum
    to ``x``, so the fewest adders and subtractors of a shift-and-add constant multiplier
    (one fewer than the digits), as :class:`numfmt.hw.rtl.Requantizer` builds it (the
    vectorised twin of :func:`numfmt.hw.rtl.requant.csd`, for feature arrays). ``int64``
    counts.

    >>> csd_digits([0, 1, 3, 7, 0b1010101, 0b1111111, 0b1011]).tolist()   # 127 = 2**7 − 1; 11 = 8+4−1
    [0, 1, 2, 2, 4, 2, 3]
    """
    x = np.atleast_1d(np.asarray(x))
    return np.count_nonzero(_csd(x.ravel()), axis=1).reshape(x.shape).astype(np.int64)


def _adder_columns(digits: np.ndarray, live) -> tuple[np.ndarray, np.ndarray]:
    """For shifted copies of an operand at the nonzero ``digits`` (``(n, 64)``, digit ``i``:
    the copy shifted by ``i``, sign-extended to the top of the product), ``h_j`` copies reach
    column ``j``. Over the ``live`` columns ``j < live``: ``(Σ max(h_j − 1, 0), Σ [h_j ≥ 2])``
    — the output bits of a chain of ``digits − 1`` adders (adder ``m`` spans columns
    ``i_m … live−1``), and the columns a final adder spans."""
    live = np.asarray(live, dtype=np.float64)
    h = np.zeros(len(live))
    chain, final = np.zeros(len(live)), np.zeros(len(live))
    for j in range(2 * _DIGITS):                    # product columns up to 128 (O(n) memory)
        if j < _DIGITS:
            h = h + (digits[:, j] != 0)
        on = j < live
        chain += on * np.maximum(h - 1, 0)
        final += on * (h >= 2)
    return chain, final


def _clamped(c, y_lo, y_hi) -> np.ndarray:
    """1 where a requantizer builds a clamp: a saturating output that the rounded value's
    range ``[y_lo, y_hi]`` can leave (``hw.rtl._fixed.ap_overflow``'s ``span``), else 0."""
    n = c["out_bits"]
    lim_lo = np.where(c["out_signed"] > 0, -(2.0 ** (n - 1)), 0)
    lim_hi = np.where(c["out_signed"] > 0, 2.0 ** (n - 1) - 1, 2.0 ** n - 1)
    return c["sat"] * ((y_lo < lim_lo) | (y_hi > lim_hi))


def _above_rounded(c, y_lo, y_hi) -> tuple[np.ndarray, np.ndarray]:
    """``(removed, ones)``: output register bits of a requantizer above the varying bits of
    its rounded value ``y`` (``y_lo .. y_hi``) that Yosys removes, per stage, and the
    registers among them that hold a constant 1 (all such registers of a unit merge into
    one, which the caller counts). Without a clamp the code is ``y``'s low bits: when ``y``
    changes sign the bits above ``y``'s own copy its sign bit and all but one merge; when it
    does not, the bits above the highest that differs between ``y_lo`` and ``y_hi`` are
    constants the RTL states (``hw.rtl._fixed.ap_overflow``): the 0s are removed, the 1s
    merge. With a clamp only an unsigned output that ``y`` leaves below 0 alone has such
    bits: its code is ``y``'s bits up to ``y_hi``'s, the bits above constant 0."""
    n = c["out_bits"]
    clamped = _clamped(c, y_lo, y_hi)
    below_only = clamped * (1 - c["out_signed"]) * (y_hi <= 2.0 ** n - 1)
    zeros = np.maximum(n - _magnitude_bits(np.maximum(y_hi, 0)), 0)
    copies = np.maximum(n - _signed_bits(y_lo, y_hi), 0)
    lo, hi = y_lo.astype(np.int64), y_hi.astype(np.int64)
    k = np.minimum(_magnitude_bits(np.bitwise_xor(lo, hi)), n)          # y keeps its sign: lo ^ hi ≥ 0
    const = np.bitwise_and(np.right_shift(lo, k.astype(np.int64)), (1 << (n - k).astype(np.int64)) - 1)
    ones = sum(np.bitwise_and(np.right_shift(const, j), 1) for j in range(REQUANT_OUT_BITS[1])).astype(np.float64)
    keeps_sign = (y_lo < 0) == (y_hi < 0)
    removed = np.where(below_only > 0, zeros,
                       (1 - clamped) * np.where(keeps_sign, n - k - ones, copies))
    return removed, (1 - clamped) * keeps_sign * ones


def _requant_widths(c) -> dict[str, np.ndarray]:
    """The widths of ``hw.rtl.requant.Requantizer``'s datapath, from the features (as
    ``Requantizer.spans`` finds them on the unit).

    ``big = b·2**max(−c, 0)`` (``z`` trailing zeros), the right shift ``r = max(c, 0)``;
    the product ``p = acc·big`` is ``w = A+B+1`` bits (``B`` = ``big``'s bits); the floor
    ``t = ⌊p/2**r⌋`` and the rounded value ``y = t + up + zp`` are held in exactly the bits
    their ranges need (``y`` reaches ``⌈most·big/2**r⌉ + zp`` when the rounding is not
    ``floor``): ``y_struct`` bits. ``clamped``: a saturating output whose range ``y`` can
    leave (only then is a clamp built). Live product columns: all ``w`` when clamped (the
    clamp compares the whole rounded value), else only the ``r + out_bits`` below the kept
    bits (synthesis removes the rest; the rounding's sign test reads the accumulator's sign);
    ``y_live``: the rounded value's bits the output reads."""
    a, shift = c["acc_bits"], c["shift"]
    big = c["multiplier"] * 2.0 ** np.maximum(-shift, 0)
    r = np.maximum(shift, 0)
    bbits = _magnitude_bits(big)
    low_one = big - np.bitwise_and(big.astype(np.int64), big.astype(np.int64) - 1)
    w = a + bbits + 1
    # float64 is exact here: in the model's domain |acc·big| < 2**31·2**16 (a right shift's
    # big is b < 2**16), and floor/ceil of a product times a power of two are exact below 2**53
    least, most = -(2.0 ** (a - 1)), 2.0 ** (a - 1) - 1
    t_lo, t_hi = np.floor(least * big * 2.0 ** -r), np.floor(most * big * 2.0 ** -r)
    rounds = c["nearest"] + c["directed"] > 0
    y_lo = t_lo + c["zero_point"]
    y_hi = np.where(rounds, np.ceil(most * big * 2.0 ** -r), t_hi) + c["zero_point"]
    n = c["out_bits"]
    clamped = _clamped(c, y_lo, y_hi)
    y_struct = _signed_bits(y_lo, y_hi)
    zeros = _magnitude_bits(low_one) - 1
    return {"big": big, "r": r, "zeros": zeros, "rem_live": np.maximum(np.minimum(r, w) - zeros, 0),
            "y_lo": y_lo, "y_hi": y_hi,
            "y_struct": y_struct, "clamped": clamped, "live": np.where(clamped > 0, w, np.minimum(w, r + n)),
            "y_live": np.where(clamped > 0, y_struct, np.minimum(y_struct, n))}


def _requant_terms(c, one) -> dict[str, np.ndarray]:
    v = _requant_widths(c)
    binary = _binary_digits(v["big"])
    chain, final = _adder_columns(binary, v["live"])
    starts = binary * (1 - np.concatenate([np.zeros((binary.shape[0], 1), np.int8), binary[:, :-1]], axis=1))
    runs, _ = _adder_columns(starts, v["live"])
    csd_chain, csd_final = _adder_columns(_csd(v["big"]), v["live"])
    return {"one": one, "mult": chain, "mult_runs": runs, "mult_final": final, "mult_csd": csd_chain,
            "mult_csd_tree": csd_chain - csd_final, "mult_csd_final": csd_final,
            "clamp": v["clamped"] * v["y_struct"], "zp_add": (c["zero_point"] != 0) * v["y_live"],
            "sticky_bits": c["sticky"] * np.maximum(v["rem_live"] - 1, 0) + c["directed"] * v["rem_live"]}


def _requant_channel_terms(c, one) -> dict[str, np.ndarray]:
    a, m = c["acc_bits"], c["mult_bits"]
    w = a + m + 1                                     # the product: a variable signed × unsigned multiply
    shift_bits = _bits(c["shift_max"])
    fixed = (c["shift_min"] == c["shift_max"]).astype(np.float64)
    clamped = _clamped(c, c["y_lo"], c["y_hi"])
    y_struct = _signed_bits(c["y_lo"], c["y_hi"])
    # without a clamp only the product's columns below shift + out_bits (+1) are read
    live = np.where(clamped > 0, w, np.minimum(w, c["shift_max"] + c["out_bits"] + 1))
    product_live = sum(np.minimum(a, np.maximum(live - j, 0)) * (j < m) for j in range(REQUANT_MULT_BITS))
    rounds = ((c["nearest"] + c["directed"]) > 0).astype(np.float64)
    return {"one": one, "ab": a * m, "width": w, "product_live": product_live, "fixed_shift": fixed,
            "clamp": clamped * y_struct, "channels": c["channels"],
            "table_bits": (m + shift_bits) * _bits(c["channels"] - 1),
            "table_cases": (m + shift_bits) * c["channels"] / 64,
            "remainder": rounds * c["shift_max"],
            "zp_add": (c["zero_point"] != 0) * np.where(clamped > 0, y_struct, np.minimum(y_struct, c["out_bits"]))}


MAX_CHUNKS = 4
"""Chunks an IntMac operand of at most 8 bits is split into (of at least 2 bits)."""


def int_mac_chunks(a_bits, b_bits, stages) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(split_a, n, widths)`` of IntMac rows: whether ``a`` (else ``b``) is the operand
    split, into ``n`` chunks, and each chunk's bits (``widths[:, j]``, 0 for ``j ≥ n``), as
    :func:`numfmt.hw.rtl.mac.product_chunks` gives them (read once per distinct row).

    >>> [w.tolist() for w in int_mac_chunks(np.array([3.]), np.array([7.]), np.array([2.]))]
    [[False], [2.0], [[3.0, 4.0, 0.0, 0.0]]]
    """
    from ..rtl.mac import product_chunks

    rows = np.stack([np.asarray(v, dtype=np.float64) for v in (a_bits, b_bits, stages)], axis=1)
    keys, inverse = np.unique(rows, axis=0, return_inverse=True)
    split = np.zeros(len(keys), dtype=bool)
    table = np.zeros((len(keys), MAX_CHUNKS))
    for k, (a, b, st) in enumerate(keys.astype(int).tolist()):
        name, widths = product_chunks(a, b, st)
        split[k], table[k, :len(widths)] = name == "a", widths
    inverse = inverse.reshape(-1)
    widths = table[inverse]
    return split[inverse], (widths > 0).sum(axis=1).astype(np.float64), widths


def _int_mac_products(c, products) -> tuple[np.ndarray, np.ndarray]:
    """IntMac's ``products`` and ``product_sums`` terms (see :func:`terms`)."""
    if products is None:
        raise ValueError("products must be the target's product table (Calibration.product_table()) for the "
                         "IntMac terms, not None")
    for name in ("a_bits", "b_bits"):
        bad = (c[name] < 2) | (c[name] > PRODUCT_MAX_BITS)
        if bad.any():
            raise ValueError(f"features column {name!r} must be in 2..{PRODUCT_MAX_BITS} for IntMac (the product "
                             f"table's operands), not {c[name][bad][0]:g}")
    split_a, n, widths = int_mac_chunks(c["a_bits"], c["b_bits"], c["stages"])
    x_bits = np.where(split_a, c["b_bits"], c["a_bits"]).astype(np.int64)
    x_signed = np.where(split_a, c["b_signed"], c["a_signed"]).astype(np.int64)
    y_signed = np.where(split_a, c["a_signed"], c["b_signed"]).astype(np.int64)
    prods = np.zeros(len(n))
    for j in range(MAX_CHUNKS):
        live = widths[:, j] > 0
        top = (j == n - 1).astype(np.int64)              # the top chunk keeps the split operand's sign
        lut = products[x_bits, x_signed, widths[:, j].astype(np.int64), y_signed * top]
        prods += np.where(live, lut, 0.0)
    # the adder tree: level l has n / 2**l adders of x bits plus the chunks' bits (all: w)
    y_bits = np.maximum(c["a_bits"], c["b_bits"])
    levels = np.log2(n)
    sums = levels * y_bits + x_bits * (n - 1)             # Σ_l (x·n/2**l + w), l = 1..log2 n
    return prods, sums


def design_matrix(family: str, quantity: str, X, products: np.ndarray | None = None,
                  target: str = "xilinx") -> np.ndarray:
    """The ``(n, len(term_names(family, quantity, target)))`` matrix the coefficients
    multiply (``products``: the product table, for IntMac; see :func:`terms`)."""
    t = terms(family, X, products)
    return np.stack([t[name] for name in term_names(family, quantity, target)], axis=1)


# -- flip-flops ---------------------------------------------------------------------------------
def _magnitude_bits(n):     # bits of the non-negative integers n (0 for 0)
    return np.frexp(np.asarray(n, dtype=np.float64))[1].astype(np.float64)   # exact: the binary exponent


def _bits(n):               # hw.rtl._float.bits_for: at least 1
    return np.maximum(_magnitude_bits(n), 1)


def _signed_bits(lo, hi):   # two's-complement bits holding [lo, hi] (hw.rtl._float.signed_bits)
    lo, hi = np.asarray(lo, dtype=np.float64), np.asarray(hi, dtype=np.float64)
    return np.maximum(_magnitude_bits(np.maximum(-lo - 1, 0)), _magnitude_bits(np.maximum(hi, 0))) + 1


def _product_bits(sa, sb):  # bits of the product of sa- and sb-bit unsigned integers (hw.rtl.fpmul.product_bits)
    return sa + sb - (np.minimum(sa, sb) == 1)


def _may_nan(c):            # 1 when an operand has NaN codes (specials fn or ieee): a NaN flag that can be set
    return np.minimum(c["a_fn"] + c["a_ieee"] + c["b_fn"] + c["b_ieee"], 1)


def _may_inf(c):            # 1 when an operand has infinities (specials ieee): an inf flag that can be set
    return np.maximum(c["a_ieee"], c["b_ieee"])


def _exp_range(c, p):       # hw.rtl._float.exp_range of a signed format with the default bias
    base = 2.0 ** (c[f"{p}_exp"] - 1) - 1 + c[f"{p}_man"]
    return 1 - base, 2.0 ** c[f"{p}_exp"] - 1 - base


def _declared(family: str, c) -> np.ndarray:
    """Register bits the unit declares (its ``sync``-domain signals), from the features.

    ``stages`` ≤ 1 registers the output (FloatMul) or the product (the MACs) once; each
    further stage fills a cut point inside the datapath (``docs/hw_units.md``), whose
    registers hold exactly the bits that can change, then registers the output or the
    product again. BitSerialDot and LutDot (no stages): the operand or table registers,
    the accumulator, the plane (and group) counters, ``busy`` and ``done``."""
    if family == "BitSerialDot":
        # busy, done, the accumulator, the a-plane counter (range(a+b): the plane sum i+j
        # fits), the b-plane counter when both are serial, the operand registers
        a, b = c["a_bits"], c["b_bits"]
        counter = _bits(a + b - 1)
        return 2 + c["width"] + counter * (1 + c["both"]) + c["n"] * (a + b)
    if family == "LutDot":
        # busy, done, the accumulator, the plane counter (range(max(b, 2))), the group counter
        # (range(max(G, 2))), G tables of E entries, G groups of g weights
        return (2 + _lut_acc_bits(c) + _bits(np.maximum(c["w_bits"], 2) - 1) + _bits(np.maximum(c["groups"], 2) - 1)
                + c["groups"] * c["entries"] * _lut_entry_bits(c) + c["groups"] * c["g"] * c["w_bits"])
    st = c["stages"]
    if family in ("Requantizer", "RequantizerPerChannel"):  # output registers (hw.rtl.pipeline): q and valid
        return st * (c["out_bits"] + 1)
    if family == "Convert":         # output registers (hw.rtl.pipeline), per stage: y and valid
        return st * (1 + c["out_exp"] + c["out_man"] + 1)
    if family == "BlockDot":
        # registers after the datapath (hw.rtl.pipeline), per stage: y (W bits), the exponent
        # sum of two E8M0 scales (9 bits), the 2-bit special code, valid
        return st * (c["width"] + 9 + 2 + 1)
    if family == "FloatAccMac":
        # per stage: the product (significand product, exponent, sign, NaN, inf), first,
        # valid; then the register (a code of acc) and its valid bit
        acc_bits = 1 + c["acc_exp"] + c["acc_man"]
        return st * (_sig(c, "a") + _sig(c, "b") + c["exp_bits"] + 5) + acc_bits + 1
    deep = st >= 2
    if family == "IntMac":
        a, b = c["a_bits"], c["b_bits"]
        lo, hi = np.minimum(a, b), np.maximum(a, b)
        k = np.minimum(np.maximum(st - 1, 0), _magnitude_bits(np.maximum(hi // 2, 1)) - 1)
        n = 2.0 ** k
        # stages ≤ 1, per stage: product (a+b+1), first, valid. Deeper: per cut, the
        # partial products of the tree level (one operand's bits, the other operand per
        # node), first and valid; per product register a+b, first, valid. Then the
        # register and its valid bit.
        shallow = st * (a + b + 3)
        tree = lo * (2 * n - 2) + k * hi + 2 * k + (st - k) * (a + b + 2)
        return np.where(deep, tree, shallow) + c["width"] + 1
    sa, sb = _sig(c, "a"), _sig(c, "b")
    sp = _product_bits(sa, sb)
    nan = _may_nan(c)
    if family == "FloatMul":
        out_bits = 1 + c["out_exp"] + c["out_man"]
        inf = _may_inf(c)
        (alo, ahi), (blo, bhi) = _exp_range(c, "a"), _exp_range(c, "b")
        ex = _signed_bits(alo + blo - 1, ahi + bhi + sp - 1)
        k = np.minimum(np.maximum(st - 1, 0), 3)
        # per cut: valid, sign, the NaN/inf flags that can be set, and: normalised — the
        # significand, the exponent, zero; rounded — out.man + 2 rounded bits, the
        # exponent, zero; product — the significand product and the exponent sum
        cuts = ((k >= 1) * (sp + ex + 1) + (k >= 2) * (c["out_man"] + 2 + ex + 1) +
                (k >= 3) * (sp + _signed_bits(alo + blo, ahi + bhi)) + k * (2 + nan + inf))
        return cuts + (st - k) * (out_bits + 1)
    # FloatKulischMac, per product stage: product (W+1), first, valid, invalid; then the
    # register, valid, invalid. Deeper: per cut valid, first, sign, the invalid flag if
    # an operand has NaN or inf codes, and: significand — the significand product and the
    # shift; aligned — the shifted magnitude
    w = c["width"]
    shift = 2.0 ** c["a_exp"] + 2.0 ** c["b_exp"] - 4
    k = np.minimum(np.maximum(st - 1, 0), 2)
    cuts = (k >= 1) * (sp + _bits(shift)) + (k >= 2) * (sp + shift) + k * (3 + nan)
    return cuts + (st - k) * (w + 4) + w + 2


def _removed(family: str, c) -> np.ndarray:
    """Register bits Yosys removes: constant or duplicate bits of the product register.
    BitSerialDot with ``serial="a"``: the top bit of each ``a`` shift register (it shifts a
    0 in every cycle), and the bits of each ``b`` register above the accumulator's width
    (the plane dot truncates ``b`` to ``W`` bits: they drive nothing). LutDot: the bits of
    every table entry above the accumulator's width (the looked-up entry is truncated to
    it), when a narrowed accumulator is narrower than an entry."""
    if family == "BitSerialDot":
        return (1 - c["both"]) * c["n"] * (1 + np.maximum(c["b_bits"] - c["width"], 0))
    if family == "LutDot":
        return c["groups"] * c["entries"] * np.maximum(_lut_entry_bits(c) - _lut_acc_bits(c), 0)
    st = c["stages"]
    if family == "Requantizer":
        # an unclamped output's low bits below the product's trailing zeros (``p >> r`` ends in
        # ``z − r`` zeros and nothing is rounded) are the zero point's bits: Yosys removes the
        # registers of those that are 0 (their reset value), and those that are 1 merge with
        # the constant 1s above; a clamp drives every bit
        v = _requant_widths(c)
        low = np.clip(np.minimum(v["zeros"] - v["r"], c["out_bits"]), 0, None)
        code = np.mod(c["zero_point"], 2.0 ** c["out_bits"])
        zero_bits = sum((k < low) * (np.mod(np.floor(code / 2.0 ** k), 2) == 0) for k in range(REQUANT_OUT_BITS[1]))
        one_bits = sum((k < low) * (np.mod(np.floor(code / 2.0 ** k), 2) == 1) for k in range(REQUANT_OUT_BITS[1]))
        removed, ones = _above_rounded(c, v["y_lo"], v["y_hi"])
        ones = ones + (1 - v["clamped"]) * one_bits
        return st * ((1 - v["clamped"]) * zero_bits + removed + np.maximum(ones - 1, 0))
    if family == "RequantizerPerChannel":
        removed, ones = _above_rounded(c, c["y_lo"], c["y_hi"])
        return st * (removed + np.maximum(ones - 1, 0))
    if family == "Convert":
        # a table's output bits that are always 0, or copies of another, have no register
        # (table_registers); the datapath keeps every output register bit
        narrow = 1 + c["in_exp"] + c["in_man"] <= TABLE_BITS
        return st * narrow * (1 + c["out_exp"] + c["out_man"] - c["table_regs"])
    if family == "BlockDot":
        # without an IEEE element (no infinity codes) the special code is 0 or 1 (NaN from a
        # scale): its high bit is constant
        return st * (1 - _may_inf(c))
    if family == "IntMac":
        # the (a+b+1)-bit product of stages=1: its top bit repeats bit a+b (a+b bits
        # hold any product); deeper pipelines hold a+b bits
        return (st == 1) * 1.0
    if family == "FloatMul":
        return np.zeros_like(st)
    if family == "FloatAccMac":
        # per product register: the inf flag without IEEE operands, the NaN flag without
        # operands with NaN codes (constant 0), the significand product's top bit when an
        # operand's significand is 1 bit (a product that fits one bit fewer), and the
        # exponent bits above the wider operand exponent's width: Yosys keeps that many of
        # the sum's, the rest copies of its sign bit (read from the netlists; exact on the
        # 100 calibration configurations of both targets)
        sa, sb = _sig(c, "a"), _sig(c, "b")
        narrow = sa + sb - _product_bits(sa, sb)
        return st * ((1 - _may_nan(c)) + (1 - _may_inf(c)) + narrow
                     + c["exp_bits"] - np.minimum(c["operand_exp_bits"], c["exp_bits"]))
    # one product bit per product stage; and when neither format has NaN or inf codes
    # (specials "none") the ``invalid`` flag is constant 0: one more bit
    any_special = _may_nan(c)
    k = np.minimum(np.maximum(st - 1, 0), 2)
    return (st - k) * 1.0 + (1 - any_special)


def _ffs(family: str, c) -> np.ndarray:
    return _declared(family, c) - _removed(family, c)


def latency(family: str, X) -> np.ndarray:
    """Clock cycles from a transaction's inputs to its output (``unit.latency``) of every
    row of ``X`` (columns :data:`RAW` ``[family]``), int64: ``stages`` (FloatMul, BlockDot,
    Convert, Requantizer), ``stages + 1`` (IntMac, FloatKulischMac: the accumulator
    register), ``a_bits`` or, with ``both``, ``a_bits · b_bits`` (BitSerialDot: one plane or
    plane pair per cycle) and ``groups · w_bits`` (LutDot: one table and weight bit plane per
    cycle), as :func:`numfmt.units.bitserial_dot` and :func:`numfmt.units.lut_matmul` count
    their cycles.

    >>> latency("BitSerialDot", [[4, 3, 1, 1, 2, 1, 8]]).tolist()    # int4 × int3, serial="both"
    [12]
    """
    if family not in FAMILIES:
        raise ValueError(f"family must be one of {', '.join(FAMILIES)}, not {family!r}")
    c = _cols(family, X)
    if family in ("IntMac", "FloatKulischMac", "FloatAccMac"):
        cycles = c["stages"] + 1
    elif family == "BitSerialDot":
        cycles = np.where(c["both"] == 1, c["a_bits"] * c["b_bits"], c["a_bits"])
    elif family == "LutDot":
        cycles = c["groups"] * c["w_bits"]
    else:
        cycles = c["stages"]
    return cycles.astype(np.int64)


def declared_ffs(unit) -> int:
    """The register bits ``unit``'s Amaranth design assigns in clocked domains, counted on
    the elaborated design (every signal on the left of a ``sync`` statement, each once)."""
    import warnings

    from amaranth.hdl import Fragment

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        frag = Fragment.get(unit, None)
    seen = {}

    def walk(f):
        for domain, stmts in f.statements.items():
            if domain == "comb":
                continue
            for st in stmts:
                for s in st._lhs_signals():
                    seen[id(s)] = len(s)
        for sub, *_ in f.subfragments:
            walk(sub)

    walk(frag)
    return sum(seen.values())


def count_ffs(unit, target: str = "xilinx") -> int:
    """FFs after ``target``'s Yosys synthesis (``synth_xilinx`` or ``synth_ecp5``):
    :func:`declared_ffs` less the bits Yosys removes (one rule, checked on both targets).

    >>> import numfmt as nf
    >>> from numfmt.hw import rtl
    >>> unit = rtl.Requantizer(nf.quant.Requantizer(9, 8, nf.IntFormat(12, signed=False)), 10)
    >>> count_ffs(unit), count_ffs(unit, "ecp5"), declared_ffs(unit)   # bits 5–11 are always 0
    (6, 6, 13)
    """
    _check_ff_target(target)
    family, row = raw_features(unit)
    c = _cols(family, row[None, :])
    return int(declared_ffs(unit) - _removed(family, c)[0])


FF_TARGETS = ("xilinx", "ecp5")
"""Targets whose FF rule (:func:`_removed`) was checked against Yosys."""


def _check_ff_target(target) -> None:
    if target not in FF_TARGETS:
        raise ValueError(f"target must be one of {', '.join(FF_TARGETS)} (an FF rule checked against Yosys), "
                         f"not {target!r}")


# -- calibration data -------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class Calibration:
    """The stored calibration of one target and option set (the JSON file as a record)."""
    path: Path
    target: str
    options: tuple[str, ...]
    tool_versions: dict
    date: str
    coefficients: dict      # family → quantity → {term: coefficient}
    errors: dict            # family → {"luts"/"ffs"/"carry"/"baseline_luts": {median, worst, n}}
    configs: list           # every configuration: family, spec, held_out, synthesized and predicted counts
    products: dict          # LUTs of each integer product, {"int3*uint5": 14, ...} (hw.cost.products)

    @functools.cached_property
    def _product_table(self) -> np.ndarray:
        if not self.products:
            raise ValueError(f"{self.path} has no product table (the IntMac terms read it); rerun python -m "
                             f"numfmt.hw.cost.calibrate --refit")
        return _product_array(self.products)

    def product_table(self) -> np.ndarray:
        """:attr:`products` as the array :func:`terms` reads (``[a_bits, a_signed, b_bits, b_signed]``)."""
        return self._product_table

    def coef(self, family: str, quantity: str) -> np.ndarray:
        if quantity not in self.coefficients.get(family, {}):
            raise ValueError(f"{self.path} has no {family} {quantity} coefficients (calibrated: "
                             f"{', '.join(self.coefficients)}); rerun python -m numfmt.hw.cost.calibrate")
        table = self.coefficients[family][quantity]
        names = term_names(family, quantity, self.target)
        if tuple(table) != names:
            raise ValueError(f"{self.path}: the {family} {quantity} coefficients are for terms {tuple(table)}, "
                             f"the model's are {names}; rerun python -m numfmt.hw.cost.calibrate")
        return np.array([table[n] for n in names], dtype=np.float64)


def _file_name(target: str, options) -> str:
    return f"{target}{''.join('_' + o.lstrip('-') for o in sorted(options))}.json"


def _check(target, options) -> tuple[str, tuple[str, ...]]:
    if isinstance(options, str) or not isinstance(options, (list, tuple, set, frozenset)):
        raise ValueError(f"options must be a sequence of flags such as ('-nodsp',), not {options!r}")
    for flag in options:
        if not isinstance(flag, str) or not flag.startswith("-") or flag.startswith("--"):
            raise ValueError(f"options must be Yosys flags such as '-nodsp', not {flag!r}")
    options = tuple(sorted(set(options)))
    targets = sorted({p.stem.split("_")[0] for p in CALIBRATION_DIR.glob("*.json")})     # <target>_<options>
    if target not in targets:
        raise ValueError(f"target must be one of the calibrated targets ({', '.join(targets) or 'none'}), "
                         f"not {target!r}")
    if not (CALIBRATION_DIR / _file_name(target, options)).exists():
        have = sorted(p.stem for p in CALIBRATION_DIR.glob("*.json"))
        raise ValueError(f"target and options must have a calibration (have: {', '.join(have) or 'none'}), "
                         f"not target={target!r}, options={options!r}")
    return target, options


@functools.lru_cache(maxsize=None)
def _load(path: Path) -> Calibration:
    doc = json.loads(path.read_text(encoding="utf-8"))
    return Calibration(path, doc["target"], tuple(doc["options"]), doc["tool_versions"], doc["date"],
                       doc["coefficients"], doc["errors"], doc["configs"], doc.get("products", {}))


def calibration(target: str = "xilinx", options=("-nodsp",)) -> Calibration:
    """The stored :class:`Calibration` of ``target`` and ``options``."""
    target, options = _check(target, options)
    return _load(CALIBRATION_DIR / _file_name(target, options))


# -- estimates --------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class Estimate:
    """A model estimate of one unit. ``luts`` and ``carry`` are fitted (rounded to whole
    cells, at least 0); ``ffs`` counted; ``dsps`` 0 with ``-nodsp``; ``latency`` in clock
    cycles, exact (:func:`latency`). ``luts_error_median``
    and ``luts_error_worst``: the model's absolute relative LUT error on the held-out
    configurations of this family (from the calibration data)."""
    luts: int
    ffs: int
    dsps: int
    carry: int
    latency: int
    family: str
    target: str
    options: tuple[str, ...]
    luts_error_median: float
    luts_error_worst: float


def estimate_features(family: str, X, target: str = "xilinx", options=("-nodsp",)) -> dict[str, np.ndarray]:
    """Estimates for every row of ``X`` (columns :data:`RAW` ``[family]``), vectorised:
    ``{"luts", "carry"}`` (float, unrounded), ``{"ffs", "dsps", "latency"}`` (int64)."""
    if family not in FAMILIES:
        raise ValueError(f"family must be one of {', '.join(FAMILIES)}, not {family!r}")
    cal = calibration(target, options)
    if family not in cal.coefficients:
        raise ValueError(f"family must be one of the families calibrated for target {target!r} "
                         f"({', '.join(cal.coefficients)}), not {family!r}")
    c = _cols(family, X)
    t = terms(family, X, cal.product_table() if family == "IntMac" else None)
    out = {}
    for q in ("luts", "carry"):
        names = term_names(family, q, target)
        coef = cal.coef(family, q)
        acc = np.zeros(len(t["one"]))
        for k, name in enumerate(names):
            acc += coef[k] * t[name]
        out[q] = np.maximum(acc, 0.0)
    out["ffs"] = _ffs(family, c).astype(np.int64)
    out["dsps"] = np.zeros(len(t["one"]), dtype=np.int64)
    out["latency"] = latency(family, X)
    return out


def estimate(unit, target: str = "xilinx", options=("-nodsp",)) -> Estimate:
    """The model's :class:`Estimate` of ``unit`` (a :mod:`numfmt.hw.rtl` unit of a family
    in :data:`FAMILIES`, and on ``target="ecp5"`` one of the families its calibration
    covers) on ``target`` with synthesis ``options``."""
    target, options = _check(target, options)
    family, row = raw_features(unit)
    have = calibration(target, options).coefficients
    if family not in have:
        raise ValueError(f"unit must be of a family calibrated for target {target!r} ({', '.join(have)}), "
                         f"not {family}")
    e = estimate_features(family, row[None, :], target, options)
    err = calibration(target, options).errors[family]["luts"]
    return Estimate(luts=int(round(e["luts"][0])), ffs=int(e["ffs"][0]), dsps=int(e["dsps"][0]),
                    carry=int(round(e["carry"][0])), latency=int(e["latency"][0]), family=family, target=target,
                    options=options, luts_error_median=float(err["median"]), luts_error_worst=float(err["worst"]))
