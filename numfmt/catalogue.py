"""Named floating formats (data, not functions) and their canonical names.

The catalogue holds every float type of ml_dtypes (as of ml_dtypes 0.7) under
its ml_dtypes name without the ``float8_``/``float6_``/``float4_`` prefix, IEEE
``fp16``/``bf16``/``fp32``, and the FPGA minifloat family ``fp{N}_e{E}m{M}``
(saturating, no inf/NaN, with subnormals, default bias) for every split of 3 to
8 bits.

>>> FLOATS["e4m3fn"].max
448.0
>>> str(FLOATS["fp6_e3m2"])   # the same format as ml_dtypes' float6_e3m2fn
'e3m2fn'
>>> str(FloatFormat(3, 2, specials="fn"))
'e3m2(specials=fn)'
"""

from __future__ import annotations

import re

from .formats.floating import FloatFormat
from .modes import Overflow, Specials

__all__ = ["FLOATS", "ML_DTYPES_NAMES", "float_name", "parse_float"]

_F = FloatFormat
_SAT = dict(specials="none", overflow="sat")

FLOATS: dict[str, FloatFormat] = {
    # ml_dtypes (name without the float8_/float6_/float4_ prefix)
    "e4m3fn": _F(4, 3, specials="fn"),
    "e4m3fnuz": _F(4, 3, bias=8, specials="fnuz"),
    "e4m3b11fnuz": _F(4, 3, bias=11, specials="fnuz"),
    "e4m3": _F(4, 3),
    "e5m2": _F(5, 2),
    "e5m2fnuz": _F(5, 2, bias=16, specials="fnuz"),
    "e3m4": _F(3, 4),
    "e2m3fn": _F(2, 3, **_SAT),
    "e3m2fn": _F(3, 2, **_SAT),
    "e2m1fn": _F(2, 1, **_SAT),
    "e8m0fnu": _F(8, 0, specials="fn", signed=False, subnormals=False, has_zero=False),
    "e5m3fnu": _F(5, 3, specials="fn", signed=False, negative_nan=True),
    # IEEE 754 and brain float
    "fp16": _F(5, 10),
    "bf16": _F(8, 7),
    "fp32": _F(8, 23),
}
# FPGA minifloat family: saturating, no inf/NaN, subnormals, every split of 3..8 bits
for _n in range(3, 9):
    for _e in range(1, _n - 1 + 1):
        _m = _n - 1 - _e
        FLOATS.setdefault(f"fp{_n}_e{_e}m{_m}", _F(_e, _m, **_SAT))

#: catalogue name -> ml_dtypes attribute name (an older ml_dtypes may lack some:
#: float8_e5m3fnu is new in 0.7; :func:`numfmt.interop.ml_dtype` then gives None)
ML_DTYPES_NAMES = {
    "e4m3fn": "float8_e4m3fn", "e4m3fnuz": "float8_e4m3fnuz",
    "e4m3b11fnuz": "float8_e4m3b11fnuz", "e4m3": "float8_e4m3", "e5m2": "float8_e5m2",
    "e5m2fnuz": "float8_e5m2fnuz", "e3m4": "float8_e3m4", "e2m3fn": "float6_e2m3fn",
    "e3m2fn": "float6_e3m2fn", "e2m1fn": "float4_e2m1fn", "e8m0fnu": "float8_e8m0fnu",
    "e5m3fnu": "float8_e5m3fnu", "bf16": "bfloat16",
}

_OVERRIDABLE = ("bias", "specials", "subnormals", "overflow", "signed", "has_zero", "negative_nan")
_GENERIC = re.compile(r"e(\d+)m(\d+)\Z")
_WITH_OVERRIDES = re.compile(r"\s*([a-z0-9_]+)\s*(?:\((.*)\))?\s*\Z", re.DOTALL)
_BOOLS = {"true": True, "1": True, "yes": True, "false": False, "0": False, "no": False}


def _names_by_format() -> dict:
    names: dict = {}
    for name, fmt in FLOATS.items():
        names.setdefault(fmt, name)
    return names


_NAME_OF = _names_by_format()


def _format_value(value) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    return str(value)


def float_name(fmt: FloatFormat) -> str:
    """Canonical name: a catalogue name, or ``e{E}m{M}`` / a catalogue name with overrides.

    Among the catalogue entries of the same widths and the generic ``e{E}m{M}``,
    the base needing the fewest ``key=value`` overrides is used (generic on ties).
    """
    if fmt in _NAME_OF:
        return _NAME_OF[fmt]
    generic = f"e{fmt.exp}m{fmt.man}"
    best_name, best = generic, fmt.overrides(_GenericDefaults(fmt.exp))
    for name, other in FLOATS.items():
        if (other.exp, other.man) == (fmt.exp, fmt.man) and _NAME_OF[other] == name:
            diff = fmt.overrides(other)
            if len(diff) < len(best):
                best_name, best = name, diff
    if not best:
        return best_name
    args = ",".join(f"{k}={_format_value(v)}" for k, v in best.items())
    return f"{best_name}({args})"


class _GenericDefaults:
    """The fields ``FloatFormat(exp, man)`` has by default (also for man=0, where ieee is invalid)."""

    def __init__(self, exp: int):
        self.bias, self.specials, self.subnormals = (1 << (exp - 1)) - 1, Specials.IEEE, True
        self.overflow, self.signed, self.has_zero = Overflow.INFINITY, True, True
        self.negative_nan = False


def parse_float(text: str) -> FloatFormat:
    """Parse a float format name (see :func:`numfmt.parse`)."""
    if not isinstance(text, str):
        raise ValueError(f"format name must be a string, not {text!r}")
    m = _WITH_OVERRIDES.match(text.lower())
    if not m:
        raise ValueError(f"cannot parse float format name {text!r}")
    base, args = m.group(1), m.group(2)
    kwargs = {}
    if base in FLOATS:
        fmt = FLOATS[base]
        kwargs = {name: getattr(fmt, name) for name in _OVERRIDABLE}
        exp, man = fmt.exp, fmt.man
    else:
        g = _GENERIC.match(base)
        if not g:
            raise ValueError(f"unknown format name {text!r}")
        exp, man = int(g.group(1)), int(g.group(2))
        if man == 0:
            kwargs["specials"] = Specials.IEEE  # default; FloatFormat rejects ieee with man=0
    if args is not None:
        kwargs.update(_parse_overrides(args, text))
    return FloatFormat(exp, man, **kwargs)


def _parse_overrides(args: str, text: str) -> dict:
    out = {}
    for item in args.split(","):
        if not item.strip():
            raise ValueError(f"empty override in {text!r}")
        key, sep, value = (s.strip() for s in item.partition("="))
        if not sep or not value:
            raise ValueError(f"override {item.strip()!r} in {text!r} must be key=value")
        if key in out:
            raise ValueError(f"override {key!r} given twice in {text!r}")
        if key == "bias":
            try:
                out[key] = int(value)
            except ValueError:
                raise ValueError(f"bias must be an integer, not {value!r} (in {text!r})") from None
        elif key in ("subnormals", "signed", "has_zero", "negative_nan"):
            if value not in _BOOLS:
                raise ValueError(f"{key} must be true or false, not {value!r} (in {text!r})")
            out[key] = _BOOLS[value]
        elif key == "specials":
            out[key] = Specials.parse(value, field="specials")
        elif key == "overflow":
            out[key] = Overflow.parse(value, field="overflow")
        else:
            raise ValueError(f"unknown override {key!r} in {text!r}; expected one of "
                             "bias, specials, subnormals, overflow, signed, has_zero, negative_nan")
    return out
