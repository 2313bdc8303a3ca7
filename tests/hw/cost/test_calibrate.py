"""The calibration's LUT estimators (numfmt.hw.cost.calibrate): weighted least squares and
the mean absolute relative error plus λ × the worst, each family's choice, and what the
stored calibrations record of it."""

import json
import warnings

import numpy as np
import pytest

from numfmt.hw.cost import calibrate, model, products


def _objective(A, y, C, weight=0.3):
    """mean |r| + weight·max |r| of the coefficient rows of ``C`` (r the relative error)."""
    r = np.abs(np.atleast_2d(C) @ A.T - y) / np.maximum(y, 1.0)
    return r.mean(axis=-1) + weight * r.max(axis=-1)


def _grid_minimum(A, y, start, weight=0.3):
    """The objective's minimum over two coefficients by a zooming grid search from
    ``start`` (an independent check of the linear program; the objective is convex)."""
    c, half = np.asarray(start, dtype=np.float64), 5.0
    for _ in range(6):
        g = np.linspace(-half, half, 81)
        grid = np.stack(np.meshgrid(c[0] + g, c[1] + g), axis=-1).reshape(-1, 2)
        values = _objective(A, y, grid, weight)
        c, best, half = grid[values.argmin()], values.min(), half / 8
    return best


def _synthetic(seed):
    rng = np.random.default_rng(seed)
    A = np.stack([np.ones(8), rng.uniform(1, 10, 8)], axis=1)
    return A, np.round(A @ [2.0, 3.0] * rng.uniform(0.7, 1.3, 8))


@pytest.mark.parametrize("seed", range(6))
def test_l1_max_minimises_mean_plus_weight_times_max(seed):
    """On small noisy problems the coefficients reach the minimum of mean |r| + λ·max |r|
    (no point of a fine grid is lower; Σ |r| + λ·max |r| would miss it), and are at
    least as good as weighted least squares's by that measure."""
    A, y = _synthetic(seed)
    for weight in (0.1, 0.3, 5.0):
        best = _objective(A, y, calibrate.l1_max(A, y, weight), weight)[0]
        assert best <= _objective(A, y, calibrate._wls(A, y), weight)[0] + 1e-12
        assert best <= _grid_minimum(A, y, calibrate._wls(A, y), weight) + 1e-9


def test_l1_max_differs_from_least_squares_where_it_should():
    """Exact on an exact line; with one row off the line it fits the others exactly
    (objective 0.3/6 + 0.3·0.5) and beats least squares strictly; a negative weight is
    refused."""
    A = np.stack([np.ones(6), np.arange(1.0, 7.0)], axis=1)
    y = 3 * A[:, 1] + 2
    np.testing.assert_allclose(calibrate.l1_max(A, y), [2.0, 3.0], atol=1e-9)
    y[5] = 40.0                               # the line says 20
    coef, wls = calibrate.l1_max(A, y), calibrate._wls(A, y)
    np.testing.assert_allclose(coef, [2.0, 3.0], atol=1e-9)
    assert _objective(A, y, coef)[0] == pytest.approx(0.5 / 6 + 0.3 * 0.5)
    assert _objective(A, y, coef)[0] < _objective(A, y, wls)[0] - 0.02
    with pytest.raises(ValueError, match="weight must be ≥ 0, not -0.1"):
        calibrate.l1_max(A, y, -0.1)


def test_each_family_has_its_estimator():
    """On xilinx BlockDot's LUTs by mean + 0.3·max and IntMac's by mean + 2·max;
    everything else (ECP5, carry cells) by least squares; an unknown estimator or target is
    refused, naming it."""
    assert calibrate.estimator("BlockDot") == calibrate.estimator("BlockDot", "xilinx") == "l1_max"
    assert calibrate.estimators("BlockDot") == {"luts": "l1_max", "carry": "wls"}
    assert calibrate.estimators("IntMac") == {"luts": "l1_max_2", "carry": "wls"}
    for family in model.FAMILIES:
        assert calibrate.estimator(family, "ecp5") == "wls"
        if family not in ("BlockDot", "IntMac"):
            assert calibrate.estimator(family) == "wls"
    A = np.stack([np.ones(4), np.arange(1.0, 5.0)], axis=1)
    y = np.array([3.0, 5, 7, 30])
    np.testing.assert_allclose(calibrate.ESTIMATORS["l1_max_2"](A, y), calibrate.l1_max(A, y, 2.0))
    with pytest.raises(ValueError, match="estimator must be one of wls, l1_max, l1_max_2, not 'l2'"):
        calibrate.leave_one_out(A, A[:, 1], "l2")
    with pytest.raises(ValueError, match="target must be one of xilinx, ecp5, not 'ice40'"):
        calibrate.estimator("BlockDot", "ice40")


def _fit_set(doc, family):
    fit = [c for c in doc["configs"] if c["family"] == family and not c["held_out"]]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        X = np.stack([model.raw_features(calibrate.build_unit(family, c["spec"]))[1] for c in fit])
    table = products.table_array(doc["products"])
    return model.design_matrix(family, "luts", X, table), np.array([c["synth"]["luts"] for c in fit], dtype=np.float64)


def test_blockdot_is_fitted_and_scored_by_its_estimator():
    """The stored xilinx BlockDot LUT coefficients and fit-set leave-one-out error are
    those of mean + 0.3·max (5.4 % / 22.2 %), not of least squares (4.9 % / 25.5 %)."""
    doc = json.loads(calibrate.DATA.read_text(encoding="utf-8"))
    A, y = _fit_set(doc, "BlockDot")
    stored = doc["coefficients"]["BlockDot"]["luts"]
    np.testing.assert_allclose(list(stored.values()), calibrate.l1_max(A, y), rtol=1e-9, atol=1e-9)
    assert not np.allclose(list(stored.values()), calibrate._wls(A, y), rtol=1e-3)
    loo, wls = calibrate.leave_one_out(A, y, "l1_max"), calibrate.leave_one_out(A, y, "wls")
    assert (round(100 * np.median(loo), 1), round(100 * loo.max(), 1)) == (5.4, 22.2)
    assert (round(100 * np.median(wls), 1), round(100 * wls.max(), 1)) == (4.9, 25.5)
    assert doc["errors"]["BlockDot"]["luts_loo"]["worst"] == pytest.approx(loo.max(), abs=1e-9)


def test_intmac_is_fitted_and_scored_by_its_estimator():
    """The stored xilinx IntMac LUT coefficients and fit-set leave-one-out error are those
    of mean + 2·max over the product-table terms (4.3 % / 20.5 % on the 160 fit
    configurations, the lowest worst case of the λ grid), not of least squares (3.2 % /
    24.5 %)."""
    doc = json.loads(calibrate.DATA.read_text(encoding="utf-8"))
    A, y = _fit_set(doc, "IntMac")
    stored = doc["coefficients"]["IntMac"]["luts"]
    np.testing.assert_allclose(list(stored.values()), calibrate.l1_max(A, y, 2.0), rtol=1e-9, atol=1e-9)
    loo, wls = calibrate.leave_one_out(A, y, "l1_max_2"), calibrate.leave_one_out(A, y, "wls")
    assert (round(100 * np.median(loo), 1), round(100 * loo.max(), 1)) == (4.3, 20.5)
    assert (round(100 * np.median(wls), 1), round(100 * wls.max(), 1)) == (3.2, 24.5)
    assert doc["errors"]["IntMac"]["luts_loo"]["worst"] == pytest.approx(loo.max(), abs=1e-9)


def test_stored_calibrations_record_the_estimators():
    """The xilinx JSON names each family's estimators and what BlockDot's and IntMac's
    minimise, and the report says so; the ECP5 JSON (least squares throughout) is read as
    all "wls"."""
    doc = json.loads(calibrate.DATA.read_text(encoding="utf-8"))
    assert doc["estimators"] == {f: calibrate.estimators(f) for f in model.FAMILIES}
    assert doc["estimators"]["BlockDot"] == {"luts": "l1_max", "carry": "wls"}
    assert doc["estimators"]["IntMac"] == {"luts": "l1_max_2", "carry": "wls"}
    assert "l1_max: minimum of mean |r| + 0.3·max |r|" in doc["fit"]
    assert "l1_max_2: minimum of mean |r| + 2·max |r|" in doc["fit"]
    text = calibrate.report(doc)
    assert "| BlockDot | this model, mean + 0.3·max | 40 | 60 |" in text
    assert "* BlockDot `luts` (mean + 0.3·max): " in text and "* BlockDot `carry`: " in text
    assert text.count("mean + 0.3·max") == 2 and "| FloatMul | this model | 40 |" in text
    assert "| IntMac | this model, mean + 2·max | 40 | 160 |" in text and text.count("mean + 2·max") == 2
    ecp5 = json.loads(calibrate.data_path("ecp5").read_text(encoding="utf-8"))
    assert "mean + 0.3·max" not in calibrate.report(ecp5) and "mean + 2·max" not in calibrate.report(ecp5)
