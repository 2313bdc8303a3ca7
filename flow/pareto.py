"""Pareto fronts of accuracy against hardware cost, and the integer-vs-minifloat finding.

A point *dominates* another when it costs no more, is at least as accurate, and is
strictly better in one of the two. :func:`front` marks the points no other point
dominates (equal points are all kept). :func:`integer_finding` asks, width by width,
the question of the FPGA minifloat study: are integer points Pareto-optimal against the
minifloat points of the same width once the MAC's cost is counted?

>>> front([10, 20, 30, 15], [0.90, 0.95, 0.94, 0.90]).tolist()
[True, True, False, False]
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

__all__ = ["WidthFinding", "front", "integer_finding"]


def _vector(name, values) -> np.ndarray:
    a = np.asarray(values, dtype=np.float64)
    if a.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional, not of shape {a.shape}")
    return a


def front(costs, scores) -> np.ndarray:
    """Mask of the points on the Pareto front (lower cost, higher score is better).

    Points with a NaN cost or score are never on the front and never dominate.

    >>> front([1, 1, 2], [0.5, 0.5, 0.4]).tolist()          # duplicates both kept
    [True, True, False]
    >>> front([1, float("nan")], [0.5, 0.9]).tolist()
    [True, False]
    """
    c, s = _vector("costs", costs), _vector("scores", scores)
    if c.shape != s.shape:
        raise ValueError(f"costs and scores must have one length, not {c.size} and {s.size}")
    ok = ~(np.isnan(c) | np.isnan(s))
    on = np.zeros(c.size, dtype=bool)
    idx = np.flatnonzero(ok)
    order = idx[np.lexsort((-s[idx], c[idx]))]      # cost ascending, score descending
    best_score, best_cost = -math.inf, math.nan
    for i in order:
        if s[i] > best_score:
            best_score, best_cost = s[i], c[i]
            on[i] = True
        elif s[i] == best_score and c[i] == best_cost:
            on[i] = True
    return on


@dataclasses.dataclass(frozen=True)
class WidthFinding:
    """At one bit width: the integer and minifloat points, and who is on their joint front."""
    bits: int
    int_names: tuple           # integer points (labels) at this width
    float_names: tuple         # minifloat points (labels) at this width
    int_on_front: tuple        # the integer points on the joint front
    float_on_front: tuple      # the minifloat points on the joint front
    dominated_ints: tuple      # (int label, minifloat label that dominates it)

    @property
    def holds(self) -> bool:
        """True when some integer point is on the front of this width's points."""
        return bool(self.int_on_front)

    def sentence(self) -> str:
        """One line stating the result at this width."""
        if self.holds and not self.float_on_front:
            return (f"{self.bits} bits: integers dominate — {', '.join(self.int_on_front)} "
                    f"on the front, no minifloat is")
        if self.holds:
            return (f"{self.bits} bits: both on the front — integer {', '.join(self.int_on_front)}, "
                    f"minifloat {', '.join(self.float_on_front)} (more accurate at more cost)")
        pairs = "; ".join(f"{i} by {f}" for i, f in self.dominated_ints)
        return f"{self.bits} bits: minifloats win — every integer point is dominated ({pairs})"


def integer_finding(records, *, cost="luts", score="accuracy", label="label") -> list:
    """Per bit width, a :class:`WidthFinding` over the ``int`` and ``minifloat`` records.

    ``records`` are dicts with ``family``, ``bits``, ``cost``, ``score`` and ``label`` keys;
    records with a NaN cost or score are left out. Widths with no integer or no minifloat
    point are skipped.

    >>> rs = [{"family": "int", "bits": 4, "luts": 40, "accuracy": 0.95, "label": "int4"},
    ...       {"family": "minifloat", "bits": 4, "luts": 70, "accuracy": 0.96, "label": "e2m1"},
    ...       {"family": "minifloat", "bits": 4, "luts": 60, "accuracy": 0.90, "label": "e3m0"}]
    >>> [f.sentence() for f in integer_finding(rs)]
    ['4 bits: both on the front — integer int4, minifloat e2m1 (more accurate at more cost)']
    """
    by_bits = {}
    for r in records:
        if r["family"] in ("int", "minifloat") and not (
                math.isnan(float(r[cost])) or math.isnan(float(r[score]))):
            by_bits.setdefault(int(r["bits"]), []).append(r)
    out = []
    for bits in sorted(by_bits):
        rs = by_bits[bits]
        ints = [r for r in rs if r["family"] == "int"]
        floats = [r for r in rs if r["family"] == "minifloat"]
        if not ints or not floats:
            continue
        on = front([r[cost] for r in rs], [r[score] for r in rs])
        dominated = []
        for r, r_on in zip(rs, on):
            if r["family"] == "int" and not r_on:
                by = [f for f in floats if f[cost] <= r[cost] and f[score] >= r[score]]
                if by:
                    best = max(by, key=lambda f: (f[score], -f[cost]))
                    dominated.append((r[label], best[label]))
        out.append(WidthFinding(
            bits=bits,
            int_names=tuple(r[label] for r in ints),
            float_names=tuple(r[label] for r in floats),
            int_on_front=tuple(r[label] for r, o in zip(rs, on) if o and r["family"] == "int"),
            float_on_front=tuple(r[label] for r, o in zip(rs, on) if o and r["family"] == "minifloat"),
            dominated_ints=tuple(dominated)))
    return out
