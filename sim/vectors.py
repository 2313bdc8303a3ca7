"""Test vectors for a unit's input fields, made from the fields' Formats.

* **Exhaustive** when the input fields total at most 16 bits: every combination of
  codes, the first field varying fastest.
* Otherwise **corners crossed, then seeded random**: each field's corner codes
  (:func:`corners`) are crossed over the fields (a seeded sample of the cross product
  when it exceeds ``max_cross``), followed by ``n_random`` vectors of uniformly random
  codes drawn from ``numpy.random.default_rng(seed)``.

Corner codes are found by *encoding* interesting values with the field's own Format
(``fmt.encode``) — the format's meaning is never re-derived here — plus a few raw bit
patterns (0, 1, sign bit alone, all ones, all ones but the sign bit) that hit NaN
encodings and sign handling in any format.
"""

from __future__ import annotations

import itertools

import numpy as np

__all__ = ["EXHAUSTIVE_BITS", "corners", "exhaustive", "generate", "random"]

#: inputs of at most this many bits in total are checked exhaustively
EXHAUSTIVE_BITS = 16


def _field_width_format(field):
    width = getattr(field, "width", None)
    if isinstance(width, bool) or not isinstance(width, int) or width < 1:
        raise TypeError(f"field must be a hw.rtl.Field, not {field!r}")
    if width > 64:
        raise ValueError(f"field width must be at most 64 bits, not {width}")
    return width, getattr(field, "format", None)


def _check_fields(fields) -> dict:
    if not isinstance(fields, dict) or not fields:
        raise TypeError(f"fields must be a non-empty dict of name -> hw.rtl.Field, not {fields!r}")
    for f in fields.values():
        _field_width_format(f)
    return fields


def _interesting_values(fmt) -> list:
    """Values worth encoding for ``fmt``: zeros, the smallest and largest magnitudes,
    ±1, halves (ties of a following rounding), and the overflow boundary."""
    vals = [0.0, -0.0, 1.0, -1.0, 0.5, -0.5, 1.5, -1.5, 2.0, -2.0, 3.0, -3.0]
    for name in ("max", "min", "smallest_subnormal", "smallest_normal", "scale", "eps"):
        v = getattr(fmt, name, None)
        if isinstance(v, (int, float, np.integer, np.floating)) and np.isfinite(float(v)):
            v = float(v)
            vals += [v, -v]
    mx = getattr(fmt, "max", None)
    step = getattr(fmt, "scale", None)
    if isinstance(mx, (int, float)) and isinstance(step, (int, float)):
        vals += [mx - step, -(mx - step)]       # next to the overflow boundary (fixed point)
    if isinstance(mx, (int,)) and not isinstance(mx, bool):
        vals += [mx - 1, getattr(fmt, "min", 0) + 1]   # integers next to the ends
    if type(fmt).__name__ == "FloatFormat":
        vals += [float("nan"), float("inf"), float("-inf")]
        if isinstance(mx, float) and np.isfinite(mx):
            vals += [mx * 2, -mx * 2]            # beyond the overflow boundary
    return vals


def corners(field) -> np.ndarray:
    """Sorted, distinct corner codes (uint64) of one field.

    Parameters
    ----------
    field : hw.rtl.Field
        Its ``format`` (a numfmt Format, or ``None`` for raw control bits) and ``width``.

    Returns
    -------
    numpy.ndarray of uint64
        For a Format: the codes of ±0, ±1, ±0.5, ±1.5, ±2, ±3, ±max, min, the smallest
        subnormal and normal, the lsb of fixed point, the values next to the ends, and
        for floats NaN, ±Inf and ±2·max (the overflow codes), each encoded by the
        format itself; for every field: 0, 1, the sign bit alone, all ones and all
        ones but the sign bit.

    Examples
    --------
    >>> import numfmt as nf
    >>> from numfmt.hw.rtl import Field
    >>> c = corners(Field.of(nf.parse("e4m3fn")))
    >>> [int(x) for x in c if x in (0x00, 0x80, 0x01, 0x7e, 0x7f)]    # +0, -0, min subnormal, max, NaN
    [0, 1, 126, 127, 128]
    >>> corners(Field(1)).tolist()
    [0, 1]
    """
    width, fmt = _field_width_format(field)
    top = (1 << width) - 1
    raw = {0, 1, 1 << (width - 1), top, top >> 1}
    codes = set(raw)
    if fmt is not None:
        with np.errstate(all="ignore"):
            for v in _interesting_values(fmt):
                try:
                    c = fmt.encode(np.array([v], dtype=np.float64))
                except (ValueError, OverflowError, TypeError):
                    continue      # a value the format refuses (e.g. NaN to an integer)
                codes.add(int(c[0]))
    return np.array(sorted(c for c in codes if 0 <= c <= top), dtype=np.uint64)


def exhaustive(fields: dict) -> dict:
    """Every combination of codes of ``fields`` (first field varying fastest).

    >>> from numfmt.hw.rtl import Field
    >>> v = exhaustive({"a": Field(2), "b": Field(1)})
    >>> v["a"].tolist(), v["b"].tolist()
    ([0, 1, 2, 3, 0, 1, 2, 3], [0, 0, 0, 0, 1, 1, 1, 1])
    """
    _check_fields(fields)
    total = sum(f.width for f in fields.values())
    if total > 24:
        raise ValueError(f"fields must total at most 24 bits for an exhaustive list, not {total}")
    idx = np.arange(1 << total, dtype=np.uint64)
    out, shift = {}, 0
    for name, f in fields.items():
        out[name] = (idx >> np.uint64(shift)) & np.uint64((1 << f.width) - 1)
        shift += f.width
    return out


def random(fields: dict, n: int, rng) -> dict:
    """``n`` vectors of uniformly random codes from ``rng`` (a Generator or int seed).

    >>> from numfmt.hw.rtl import Field
    >>> v = random({"a": Field(8)}, 5, 1)
    >>> bool((v["a"] < 256).all()), len(v["a"])
    (True, 5)
    """
    _check_fields(fields)
    _check_count(n, "n")
    rng = np.random.default_rng(rng)
    return {name: rng.integers(0, 1 << f.width, size=n, dtype=np.uint64, endpoint=False)
            if f.width < 64 else rng.integers(0, 2**64, size=n, dtype=np.uint64)
            for name, f in fields.items()}


def _check_count(n, name):
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 0:
        raise ValueError(f"{name} must be an integer ≥ 0, not {n!r}")


def _crossed(fields: dict, max_cross: int, rng) -> dict:
    sets = [corners(f) for f in fields.values()]
    sizes = [len(s) for s in sets]
    total = int(np.prod(sizes, dtype=object))
    if total <= max_cross:
        grid = np.array(list(itertools.product(*[range(s) for s in sizes])), dtype=np.int64)
        grid = grid.reshape(total, len(sets))
    else:   # a seeded sample of the cross product (with every corner of every field present)
        grid = np.stack([rng.integers(0, s, size=max_cross) for s in sizes], axis=1)
        for j, s in enumerate(sizes):
            grid[:s, j] = np.arange(s)
    return {name: sets[j][grid[:, j]] for j, name in enumerate(fields)}


def generate(fields: dict, *, n_random: int = 100_000, seed: int = 0,
             max_cross: int = 1 << 16) -> dict:
    """Vectors for ``fields``: exhaustive at ≤ 16 bits, else corners crossed + random.

    Parameters
    ----------
    fields : dict of str -> hw.rtl.Field
        A unit's ``in_fields``.
    n_random : int
        Random vectors after the corners (ignored when exhaustive).
    seed : int
        Seed of the random vectors and of the corner sample.
    max_cross : int
        Largest number of crossed corner vectors.

    Returns
    -------
    dict of str -> numpy.ndarray of uint64
        One array per field, all of one length.

    Examples
    --------
    >>> import numfmt as nf
    >>> from numfmt.hw.rtl import Field
    >>> f8 = Field.of(nf.IntFormat(8))
    >>> len(generate({"a": f8, "b": f8})["a"])          # 16 bits: exhaustive
    65536
    >>> v = generate({"a": f8, "b": f8, "c": f8}, n_random=1000, seed=3)
    >>> len(v["a"]) == len(corners(f8)) ** 3 + 1000
    True
    """
    _check_fields(fields)
    _check_count(n_random, "n_random")
    _check_count(max_cross, "max_cross")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be an integer ≥ 0, not {seed!r}")
    total = sum(f.width for f in fields.values())
    if total <= EXHAUSTIVE_BITS:
        return exhaustive(fields)
    rng = np.random.default_rng(int(seed))
    cross = _crossed(fields, max_cross, rng)
    rand = random(fields, n_random, rng)
    return {name: np.concatenate([cross[name], rand[name]]) for name in fields}
