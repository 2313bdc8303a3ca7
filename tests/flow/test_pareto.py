"""Pareto fronts (numfmt.flow.pareto) against the definition, point by point."""

import numpy as np
import pytest

from numfmt.flow import pareto


def _dominated(c, s, i):
    """The definition: some point costs no more, scores no less, and differs in one."""
    return any(c[j] <= c[i] and s[j] >= s[i] and (c[j] < c[i] or s[j] > s[i])
               for j in range(len(c)) if not (np.isnan(c[j]) or np.isnan(s[j])))


@pytest.mark.parametrize("seed", range(20))
def test_front_is_the_set_of_undominated_points(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 40))
    c = rng.integers(0, 8, n).astype(float)          # small ranges: many ties
    s = rng.integers(0, 8, n).astype(float)
    c[rng.random(n) < 0.1] = np.nan
    s[rng.random(n) < 0.1] = np.nan
    got = pareto.front(c, s)
    want = [not (np.isnan(c[i]) or np.isnan(s[i])) and not _dominated(c, s, i) for i in range(n)]
    assert got.tolist() == want, f"seed {seed}: costs {c.tolist()} scores {s.tolist()}"


def test_front_rejects_mismatched_lengths():
    with pytest.raises(ValueError, match="costs and scores"):
        pareto.front([1, 2], [0.5])
    with pytest.raises(ValueError, match="costs must be one-dimensional"):
        pareto.front([[1]], [[0.5]])


def _rec(family, bits, luts, acc, label):
    return {"family": family, "bits": bits, "luts": luts, "accuracy": acc, "label": label}


def test_integer_finding_per_width():
    rs = [_rec("int", 4, 40, 0.95, "int4"), _rec("minifloat", 4, 70, 0.94, "e2m1"),
          _rec("int", 8, 90, 0.90, "int8"), _rec("minifloat", 8, 80, 0.97, "e4m3"),
          _rec("minifloat", 6, 50, 0.97, "e3m2"),                 # no integer at 6: skipped
          _rec("fixed", 4, 10, 0.99, "q4")]                        # other families ignored
    f4, f8 = pareto.integer_finding(rs)
    assert (f4.bits, f4.holds, f4.int_on_front, f4.float_on_front) == (4, True, ("int4",), ())
    assert "integers dominate" in f4.sentence()
    assert (f8.bits, f8.holds, f8.dominated_ints) == (8, False, (("int8", "e4m3"),))
    assert f8.sentence() == "8 bits: minifloats win — every integer point is dominated (int8 by e4m3)"


def test_integer_finding_skips_nan_points():
    rs = [_rec("int", 4, float("nan"), 0.95, "int4"), _rec("minifloat", 4, 70, 0.94, "e2m1")]
    assert pareto.integer_finding(rs) == []
