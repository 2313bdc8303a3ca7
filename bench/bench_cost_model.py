"""Throughput of the analytic cost model (numfmt.hw.cost.model.estimate_features).

Prints configurations per second for each family on random feature arrays (1e6 rows),
and the per-unit path (estimate(unit), which reads the unit object) for comparison.

    /work/venv/bin/python bench/bench_cost_model.py
"""

import time
import warnings

import numpy as np

import numfmt as nf
from numfmt.hw import rtl
from numfmt.hw.cost import model


def _rows(family, n, rng):
    cols = model.RAW[family]
    X = np.empty((n, len(cols)))
    for j, name in enumerate(cols):
        if model.is_flag(name):
            X[:, j] = rng.integers(0, 2, n)
        elif name.endswith("_bits"):
            X[:, j] = rng.integers(2, 9, n)
        elif name.endswith("_exp"):
            X[:, j] = rng.integers(2, 6, n)
        elif name.endswith("_man"):
            X[:, j] = rng.integers(0, 5, n)
        elif name == "width":
            X[:, j] = rng.integers(8, 54, n)
        elif name in ("y_lo", "y_hi"):                # a range: y_lo ≤ 0 < y_hi
            X[:, j] = rng.integers(-300, 1, n) if name == "y_lo" else rng.integers(1, 300, n)
        else:                                          # stages
            X[:, j] = rng.integers(1, 3, n)
    return X


def main():
    rng = np.random.default_rng(0)
    n = 1_000_000
    for family in model.FAMILIES:
        X = _rows(family, n, rng)
        model.estimate_features(family, X[:10])        # load the calibration
        best = min(_time(lambda: model.estimate_features(family, X)) for _ in range(3))
        print(f"estimate_features {family:16s} {n / best:12,.0f} configs/s")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        unit = rtl.FloatMul(nf.parse("e4m3fn"))
        k = 2000
        t = _time(lambda: [model.estimate(unit) for _ in range(k)])
    print(f"estimate(unit)    {'FloatMul':16s} {k / t:12,.0f} configs/s")


def _time(f):
    t0 = time.perf_counter()
    f()
    return time.perf_counter() - t0


if __name__ == "__main__":
    main()
