"""AffineQuantizer against a Fraction-based reference written from docs/quantization.md."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from rounding_reference import ref_round  # noqa: E402

import numfmt as nf  # noqa: E402
from numfmt.modes import Rounding
from numfmt.quant.affine import AffineQuantizer, scale_zero_point

SEED = 7_2018
FORMATS = [nf.IntFormat(b, signed=s) for b in range(2, 9) for s in (True, False)]


# -- reference --------------------------------------------------------------------------
def ref_params(lo: float, hi: float, fmt, symmetric: bool):
    qmin, qmax = fmt.min, fmt.max
    if symmetric:
        m = max(abs(lo), abs(hi))
        return (1.0 if m == 0 else float(Fraction(m) / qmax)), 0
    lo, hi = min(lo, 0.0), max(hi, 0.0)
    d = float(Fraction(hi) - Fraction(lo))                 # fl(hi - lo)
    scale = 1.0 if d == 0 else float(Fraction(d) / (qmax - qmin))
    zp = qmin + round(-Fraction(lo) / Fraction(scale))     # exact quotient, ties to even
    return scale, min(max(zp, qmin), qmax)


def ref_quantize(x: float, scale: float, zp: int, fmt, mode: Rounding) -> int:
    t = float(Fraction(x) / Fraction(scale))              # the one rounded float64 division
    return min(max(ref_round(Fraction(t), mode) + zp, fmt.min), fmt.max)


def slice_ids(shape, granularity, axis, group_size):
    """For every element index, the index of its parameter (reference layout)."""
    out = {}
    for idx in np.ndindex(shape):
        if granularity == "tensor":
            out[idx] = ()
        elif granularity == "channel":
            out[idx] = (idx[axis],)
        else:
            out[idx] = idx[:axis] + (idx[axis] // group_size,) + idx[axis + 1:]
    return out


def sample(rng, shape):
    """Rows of very different ranges, offsets, some exact ties and zeros."""
    x = rng.standard_normal(shape) * np.exp(rng.uniform(-6, 4, shape[:1] + (1,) * (len(shape) - 1)))
    x += rng.uniform(-1, 1, shape[:1] + (1,) * (len(shape) - 1)) * np.abs(x).max()
    x.flat[::7] = 0.0
    return x


CASES = [("tensor", None, None, "error"), ("channel", 0, None, "error"), ("channel", 1, None, "error"),
         ("group", 1, 4, "error"), ("group", 0, 2, "error"), ("group", 1, 3, "allow")]


@pytest.mark.parametrize("fmt", FORMATS, ids=str)
@pytest.mark.parametrize("symmetric", [False, True])
@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{c[0]}-{c[1]}-{c[2]}")
def test_calibrate_and_quantize_match_reference(fmt, symmetric, case):
    granularity, axis, group_size, ragged = case
    rng = np.random.default_rng([SEED, fmt.bits, fmt.signed, symmetric, CASES.index(case)])
    x = sample(rng, (4, 8))
    q = AffineQuantizer.calibrate(x, fmt, symmetric=symmetric, granularity=granularity, axis=axis,
                                  group_size=group_size, ragged=ragged)
    ids = slice_ids(x.shape, granularity, axis, group_size)
    members = {}
    for idx, pid in ids.items():
        members.setdefault(pid, []).append(float(x[idx]))
    for pid, vals in members.items():
        scale, zp = ref_params(min(vals), max(vals), fmt, symmetric)
        assert float(q.scale[pid]) == scale and int(q.zero_point[pid]) == zp, pid
        assert fmt.min <= zp <= fmt.max and fmt.decode_int(fmt.encode(float(zp))) == zp
    # inputs: the calibration data, points outside the range, offset points
    for probe in (x, 3 * x, x + 0.5 * np.where(x > 0, 1, -1)):
        for mode in (fmt.rounding, Rounding.FLOOR, Rounding.NEAREST_AWAY):
            got = q.quantize(probe) if mode is fmt.rounding else q.quantize(probe, mode)
            assert got.dtype == np.int64
            for idx in np.ndindex(probe.shape):
                pid = ids[idx]
                want = ref_quantize(float(probe[idx]), float(q.scale[pid]), int(q.zero_point[pid]),
                                    fmt, mode)
                assert got[idx] == want, (idx, mode)
    # exact ties of x / scale, per parameter
    ties = np.array([[(k + 0.5) * float(q.scale[ids[(i, j)]]) for j in range(8)]
                     for i, k in zip(range(4), (-2, -1, 0, 1))])
    for idx in np.ndindex(ties.shape):
        pid = ids[idx]
        assert q.quantize(ties)[idx] == ref_quantize(float(ties[idx]), float(q.scale[pid]),
                                                      int(q.zero_point[pid]), fmt, fmt.rounding)


@pytest.mark.parametrize("fmt", FORMATS, ids=str)
@pytest.mark.parametrize("symmetric", [False, True])
def test_round_trip_within_half_a_step_and_zero_is_exact(fmt, symmetric):
    rng = np.random.default_rng([SEED, 1, fmt.bits, fmt.signed, symmetric])
    x = sample(rng, (6, 16))
    q = AffineQuantizer.calibrate(x, fmt, symmetric=symmetric, granularity="channel", axis=0)
    scale = q.scale[:, None]
    inside = x >= 0 if (symmetric and not fmt.signed) else np.ones(x.shape, bool)
    err = np.abs(q.fake_quantize(x) - x)
    assert (err[inside] <= (scale / 2 * (1 + 1e-12) + 0 * x)[inside]).all()
    zeros = np.zeros_like(x)
    assert np.array_equal(q.quantize(zeros), np.broadcast_to(q.zero_point[:, None], x.shape))
    assert not q.fake_quantize(zeros).any()


@pytest.mark.parametrize("bits, signed", [(16, True), (16, False), (24, True), (32, True), (32, False)])
def test_wide_formats(bits, signed):
    fmt = nf.IntFormat(bits, signed=signed)
    rng = np.random.default_rng([SEED, 2, bits])
    x = sample(rng, (3, 50))
    for symmetric in (False, True):
        q = AffineQuantizer.calibrate(x, fmt, symmetric=symmetric, granularity="channel", axis=0)
        probe = np.concatenate([x, 5 * x], axis=1)
        got = q.quantize(probe)
        for i, j in np.ndindex(probe.shape):
            assert got[i, j] == ref_quantize(float(probe[i, j]), float(q.scale[i]), int(q.zero_point[i]),
                                             fmt, fmt.rounding)


def test_power_of_two_scales_make_the_division_exact():
    rng = np.random.default_rng(SEED + 3)
    x = sample(rng, (5, 12))
    fmt = nf.IntFormat(6)
    plain = AffineQuantizer.calibrate(x, fmt, granularity="channel", axis=0)
    q = AffineQuantizer.calibrate(x, fmt, granularity="channel", axis=0, power_of_two=True)
    mant, _ = np.frexp(q.scale)
    assert (mant == 0.5).all() and (q.scale >= plain.scale).all() and (q.scale < 2 * plain.scale).all()
    for i, j in np.ndindex(x.shape):
        t = Fraction(float(x[i, j])) / Fraction(float(q.scale[i]))       # exact, no float division
        want = min(max(ref_round(t, Rounding.NEAREST_EVEN) + int(q.zero_point[i]), fmt.min), fmt.max)
        assert q.quantize(x)[i, j] == want
    s, z = scale_zero_point(0.0, 1.0, fmt, power_of_two=True)
    assert (float(s), int(z)) == (2.0 ** -5, -32)


def test_stochastic_rounding_is_seeded_and_brackets():
    x = np.linspace(-1, 1, 101)
    q = AffineQuantizer.calibrate(x, nf.IntFormat(4))
    a = q.quantize(x, "stochastic", rng=3)
    assert np.array_equal(a, q.quantize(x, "stochastic", rng=np.random.default_rng(3)))
    lo, hi = q.quantize(x, "floor"), q.quantize(x, "ceil")
    assert ((a == lo) | (a == hi)).all() and (a != lo).any() and (a != hi).any()


# -- calibration edge cases ----------------------------------------------------------------
def test_constant_and_zero_tensors():
    u8, i8 = nf.IntFormat(8, signed=False), nf.IntFormat(8)
    q = AffineQuantizer.calibrate(np.full(5, 3.0), u8)
    assert (float(q.scale), int(q.zero_point)) == (3.0 / 255, 0)      # range widened to [0, 3]
    assert q.quantize([3.0, 0.0]).tolist() == [255, 0]
    q = AffineQuantizer.calibrate(np.full(5, -2.0), i8)
    assert (float(q.scale), int(q.zero_point)) == (2.0 / 255, 127)    # range widened to [-2, 0]
    assert q.quantize([-2.0, 0.0]).tolist() == [-128, 127]
    q = AffineQuantizer.calibrate(np.full(5, -2.0), i8, symmetric=True)
    assert (float(q.scale), int(q.zero_point)) == (2.0 / 127, 0)
    for fmt, sym, zp in ((i8, False, -128), (u8, False, 0), (i8, True, 0), (u8, True, 0)):
        q = AffineQuantizer.calibrate(np.zeros((2, 3)), fmt, symmetric=sym)
        assert (float(q.scale), int(q.zero_point)) == (1.0, zp)        # all zeros: scale 1
        assert not q.fake_quantize(np.zeros(3)).any()
    x = np.array([[0.0, 0.0], [1.0, -1.0]])
    q = AffineQuantizer.calibrate(x, i8, granularity="channel", axis=0)
    assert q.scale.tolist() == [1.0, 2.0 / 255] and q.zero_point.tolist() == [-128, 0]
    q = AffineQuantizer.calibrate([0.7], i8)                             # one element
    assert q.quantize([0.7]).tolist() == [127]


@pytest.mark.parametrize("bad, index", [(np.nan, (1, 2)), (np.inf, (0, 0)), (-np.inf, (2, 3))])
def test_non_finite_input_names_the_index(bad, index):
    x = np.ones((3, 4))
    x[index] = bad
    with pytest.raises(ValueError, match=rf"^x must be finite, not {bad!r} at index \({index[0]}, {index[1]}\)$"):
        AffineQuantizer.calibrate(x, nf.IntFormat(8))
    q = AffineQuantizer.calibrate(np.ones((3, 4)), nf.IntFormat(8))
    with pytest.raises(ValueError, match=rf"x must be finite, not {bad!r} at index"):
        q.quantize(x)


def test_bad_arguments():
    x = np.ones((3, 4))
    i8 = nf.IntFormat(8)
    cases = [
        (dict(granularity="channel", axis=2), r"^axis must be an integer in -2..1 for a 2-d input, not 2$"),
        (dict(granularity="channel", axis=-3), r"^axis must be an integer in -2..1 for a 2-d input, not -3$"),
        (dict(granularity="channel"), r"^granularity='channel' needs axis$"),
        (dict(granularity="group", axis=1, group_size=3),
         r"^group_size=3 must divide x.shape\[1\] = 4 \(or pass ragged='allow'\)$"),
        (dict(granularity="group", axis=1, group_size=0), r"^group_size must be an integer in 1..\d+, not 0$"),
        (dict(granularity="group", axis=1, group_size=2, ragged="maybe"),
         r"^ragged must be one of 'error', 'allow', not 'maybe'$"),
        (dict(granularity="block"), r"^granularity must be one of 'tensor', 'channel', 'group', not 'block'$"),
        (dict(granularity="tensor", axis=0), r"^granularity='tensor' takes no axis or group_size$"),
        (dict(granularity="channel", axis=0, group_size=2), r"^granularity='channel' takes no group_size$"),
        (dict(method="percentile"), r"^method must be one of 'minmax', not 'percentile'$"),
    ]
    for kw, msg in cases:
        with pytest.raises(ValueError, match=msg):
            AffineQuantizer.calibrate(x, i8, **kw)
    with pytest.raises(ValueError, match=r"^symmetric quantization needs fmt.max ≥ 1, not 0 \(int1\)$"):
        AffineQuantizer.calibrate(x, nf.IntFormat(1), symmetric=True)
    with pytest.raises(TypeError, match="^fmt must be a numfmt.IntFormat"):
        AffineQuantizer.calibrate(x, nf.FixedFormat(8, 3))
    with pytest.raises(ValueError, match=r"^x must not be empty, not shape \(0,\)$"):
        AffineQuantizer.calibrate([], i8)
    with pytest.raises(ValueError, match=r"^the range \[-1e\+308, 1e\+308\] gives scale inf"):
        AffineQuantizer.calibrate([-1e308, 1e308], i8)
    with pytest.raises(ValueError, match=r"^the range \[0.0, 5e-324\] gives scale 0.0"):
        AffineQuantizer.calibrate([0.0, 5e-324], i8)
    with pytest.raises(ValueError, match=r"^min must be ≤ max, not min=2.0 > max=1.0$"):
        scale_zero_point(2.0, 1.0, i8)
    # constructor checks
    with pytest.raises(ValueError, match=r"^scale must be positive and finite, not -1.0$"):
        AffineQuantizer(i8, symmetric=False, granularity="tensor", axis=None, group_size=None,
                        scale=-1.0, zero_point=0)
    with pytest.raises(ValueError, match=r"^zero_point must be in -128..127 \(int8\), not 300$"):
        AffineQuantizer(i8, symmetric=False, granularity="tensor", axis=None, group_size=None,
                        scale=1.0, zero_point=300)
    with pytest.raises(ValueError, match=r"^zero_point must be 0 when symmetric=True$"):
        AffineQuantizer(i8, symmetric=True, granularity="tensor", axis=None, group_size=None,
                        scale=1.0, zero_point=3)
    # shape mismatches at quantize time
    q = AffineQuantizer.calibrate(x, i8, granularity="channel", axis=1)
    with pytest.raises(ValueError, match=r"^x.shape\[1\] must be 4 \(the number of channels\), not 5$"):
        q.quantize(np.ones((3, 5)))
    with pytest.raises(ValueError, match=r"^the quantizer's axis 1 is out of range for an input of shape \(4,\)$"):
        q.quantize(np.ones(4))
    g = AffineQuantizer.calibrate(x, i8, granularity="group", axis=1, group_size=2)
    with pytest.raises(ValueError, match="does not match groups of 2 along axis 1"):
        g.quantize(np.ones((3, 6)))
    with pytest.raises(TypeError, match="^q must be an integer array, not dtype float64$"):
        g.dequantize(np.ones((3, 4)))


def test_ragged_groups_and_value_semantics():
    x = np.arange(10.0).reshape(1, 10) - 3
    q = AffineQuantizer.calibrate(x, nf.IntFormat(4), symmetric=True, granularity="group", axis=1,
                                  group_size=4, ragged="allow")
    assert q.scale.shape == (1, 3)
    assert q.scale.tolist() == [[3 / 7, 4 / 7, 6 / 7]]                # groups [-3..0], [1..4], [5, 6]
    assert q == AffineQuantizer.calibrate(x, nf.IntFormat(4), symmetric=True, granularity="group",
                                          axis=-1, group_size=4, ragged="allow")
    with pytest.raises(ValueError):
        q.scale[0, 0] = 2.0
    with pytest.raises(AttributeError):
        q.symmetric = False
