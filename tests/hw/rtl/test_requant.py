"""The requantizer unit (hw/rtl/requant.py): RTL == numfmt.quant.Requantizer in Verilator,
and the model == a Python-integer reference.

Accumulators: the field's corner codes, exact ties of the rounding shift
(``acc * b ≡ 2**(c-1) mod 2**c``) and their neighbours, values around the output's
saturation boundaries, log-uniform magnitudes and uniform codes — ≥ 10^5 per scale.
"""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest

import numfmt as nf
from numfmt.quant import Requantizer as Rq
from numfmt.hw.rtl.requant import Requantizer, csd
from numfmt.sim import WAIVERS, check, check_many, lint, vectors

LANES = 8
# units built only for their model() are never elaborated
pytestmark = pytest.mark.filterwarnings("ignore::amaranth.hdl.UnusedElaboratable")


# -- reference -----------------------------------------------------------------------------
def _round(x: Fraction, mode: str) -> int:
    fl = math.floor(x)
    frac = x - fl
    half = Fraction(1, 2)
    if frac == 0:
        return fl
    if mode in ("floor",):
        return fl
    if mode == "ceil":
        return fl + 1
    if mode == "rtz":
        return fl + (x < 0)
    if mode == "rta":
        return fl + (x > 0)
    if frac != half:
        return fl + (frac > half)
    tie_up = {"rne": fl % 2 == 1, "rna": x > 0, "rnp": True, "rnm": False, "rnz": x < 0}[mode]
    return fl + tie_up


def ref_requant(unit, inputs):
    r, fmt = unit.requantizer, unit.out_fmt
    bits = unit.acc_bits
    chans = inputs.get("channel")
    out = []
    for j, code in enumerate(inputs["acc"].tolist()):
        acc = code - (1 << bits) if code >> (bits - 1) else code
        k = min(int(chans[j]), unit.channels - 1) if unit.channels else None
        b = int(r.multiplier[k] if k is not None else r.multiplier)
        c = int(r.shift[k] if k is not None else r.shift)
        y = _round(Fraction(acc * b) / Fraction(2) ** c, r.rounding.value) + r.zero_point
        if fmt.overflow is nf.Overflow.SATURATE:
            y = min(max(y, fmt.min), fmt.max)
        out.append(y % (1 << fmt.bits))
    return np.array(out, dtype=np.uint64)


# -- vectors -------------------------------------------------------------------------------
def acc_vectors(unit, n_random, seed):
    """Corner, tie, boundary and random accumulator codes (+ channel indices)."""
    rng = np.random.default_rng(seed)
    r, bits = unit.requantizer, unit.acc_bits
    lo, hi = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
    vals = [int(v) for v in vectors.corners(unit.in_fields["acc"])]
    vals = [v - (1 << bits) if v > hi else v for v in vals]
    for b, c in zip(r.multiplier.reshape(-1).tolist(), r.shift.reshape(-1).tolist()):
        if c > 0:
            # ties: acc * b == 2**(c-1) (mod 2**c), with b = b_odd * 2**s
            s = (b & -b).bit_length() - 1
            if s < c:
                mod = 1 << (c - s)
                t = (pow(b >> s, -1, mod) << (c - 1 - s)) % mod if c - 1 - s >= 0 else 0
                ks = rng.integers(-(1 << 20), 1 << 20, 200)
                vals += [t + int(k) * mod + d for k in ks for d in (-1, 0, 1)]
        # around the output's ends: acc ≈ (limit - zp) * 2**c / b
        for limit in (unit.out_fmt.min, unit.out_fmt.max, 0):
            centre = int(Fraction(limit - r.zero_point) * Fraction(2) ** c / b)
            vals += list(range(centre - 3, centre + 4))
    mags = np.exp2(rng.uniform(0, bits - 1, n_random // 2)).astype(np.int64)
    signs = rng.choice([-1, 1], mags.size)
    vals = np.array(vals + (mags * signs).tolist(), dtype=object)
    vals = np.array([min(max(int(v), lo), hi) for v in vals], dtype=np.int64)
    codes = np.concatenate([vals.astype(np.uint64) & np.uint64((1 << bits) - 1),
                            rng.integers(0, 1 << bits, n_random - n_random // 2, dtype=np.uint64)])
    out = {"acc": codes}
    if unit.channels:
        out["channel"] = rng.integers(0, 1 << unit.channel_fmt.bits, codes.size).astype(np.uint64)
    return out


CASES = {
    "int8_rnp_scale0.0123": (lambda: Rq.from_scale(0.0123, nf.IntFormat(8), mult_bits=16), 24),
    "int8_rne_zp_scale2.7e-4": (lambda: Rq.from_scale(2.7e-4, nf.IntFormat(8), mult_bits=31, rounding="rne",
                                                      zero_point=-7), 32),
    "uint8_wrap_rna_zp": (lambda: Rq.from_scale(0.37, nf.IntFormat(8, signed=False, overflow="wrap"),
                                                mult_bits=12, rounding="rna", zero_point=100), 16),
    "int4_per_channel_floor": (lambda: Rq(np.array([3, 5, 7, 1 << 20, 9]), np.array([2, -1, 20, 40, 0]),
                                          nf.IntFormat(4), rounding="floor"), 12),
    "int16_per_channel_rnz": (lambda: Rq.from_scale([0.5, 1.5e-3, 3.0], nf.IntFormat(16), mult_bits=24,
                                                    rounding="rnz", zero_point=5), 40),
}


@pytest.mark.parametrize("case", list(CASES))
def test_model_matches_reference(case):
    make, bits = CASES[case]
    unit = Requantizer(make(), bits)
    vec = acc_vectors(unit, 4000, 1)
    assert np.array_equal(unit.model(vec)["q"], ref_requant(unit, vec))


@pytest.mark.parametrize("mode", ["rne", "rna", "rnp", "rnm", "rnz", "floor", "ceil", "rtz", "rta"])
def test_model_every_rounding_mode(mode):
    unit = Requantizer(Rq(np.array([3, 12, 1]), np.array([3, 4, 0]), nf.IntFormat(6), rounding=mode,
                          zero_point=2), 10)
    vec = {"acc": np.arange(1 << 10, dtype=np.uint64)}
    vec["channel"] = np.arange(1 << 10, dtype=np.uint64) % 4
    assert np.array_equal(unit.model(vec)["q"], ref_requant(unit, vec))


def test_csd_is_the_non_adjacent_form():
    """Every b < 2**14 and some up to 2**62: the digits sum to b, no two are adjacent, there
    are no more than b's binary 1s, and as many as the cost model's vectorised twin counts."""
    from numfmt.hw.cost.model import csd_digits

    bs = list(range(1 << 14)) + [(1 << 62) - 1, (1 << 60) + 1, 0b1011 << 40, 3 ** 38]
    for b in bs:
        d = csd(b)
        assert sum(s << k for s, k in d) == b and all(s in (-1, 1) for s, _ in d)
        assert all(k2 - k1 >= 2 for (_, k1), (_, k2) in zip(d, d[1:])) and len(d) <= bin(b).count("1")
    assert [len(csd(b)) for b in bs] == csd_digits(np.array(bs, dtype=np.int64)).tolist()
    with pytest.raises(ValueError, match="b must be a non-negative integer, not -3"):
        csd(-3)


SLOW = pytest.mark.slow


@pytest.mark.parametrize("case,stages,multiply", [("int8_rnp_scale0.0123", 1, "shift_add"),
                                                  pytest.param("uint8_wrap_rna_zp", 0, "shift_add", marks=SLOW),
                                                  pytest.param("int8_rnp_scale0.0123", 1, "operator", marks=SLOW),
                                                  pytest.param("int4_per_channel_floor", 2, "shift_add", marks=SLOW)])
def test_rtl(case, stages, multiply):
    make, bits = CASES[case]
    vec = acc_vectors(Requantizer(make(), bits), 100_000, 3)
    report = check(lambda: Requantizer(make(), bits, stages=stages, multiply=multiply), vectors=vec, lanes=LANES,
                   seed=3)
    assert report.n_vectors >= 100_000
    assert set(report.latencies.tolist()) == {stages}


@pytest.mark.exhaustive
@pytest.mark.parametrize("case", list(CASES))
def test_rtl_every_case_and_mode(case):
    """Every rounding mode of one case in one build (:func:`numfmt.sim.check_many`)."""
    make, bits = CASES[case]
    base = make()
    modes = ["rne", "rna", "rnp", "rnm", "rnz", "floor", "ceil", "rtz", "rta"]

    def build(mode):
        return Requantizer(Rq(base.multiplier, base.shift, base.out_format, rounding=mode,
                              zero_point=base.zero_point), bits, stages=1)
    vecs = [acc_vectors(build(mode), 100_000, 4) for mode in modes]
    reports = check_many([lambda md=md: build(md) for md in modes], vectors=vecs, seed=4, idle=0.05,
                         backpressure=0.05)
    assert all(r.n_vectors >= 100_000 for r in reports)


def test_interface():
    unit = Requantizer(Rq(np.array([3, 5, 7]), np.array([2, 1, 0]), nf.IntFormat(4)), 8, stages=2)
    assert unit.latency == 2
    assert [(k, f.width) for k, f in unit.in_fields.items()] == [("acc", 8), ("channel", 2)]
    assert unit.out_fields["q"].format == nf.IntFormat(4)
    wide = Requantizer(Rq(3, 2, nf.IntFormat(8)), 40)
    assert list(wide.in_fields) == ["acc"] and wide.in_fields["acc"].format == nf.FixedFormat(40, 40)
    # out-of-range channel indices take the last channel
    out = unit.model({"acc": np.array([9, 9], dtype=np.uint64), "channel": np.array([2, 3], dtype=np.uint64)})
    assert out["q"].tolist() == [7, 7]
    assert unit.parameters()["multiply"] == "operator"          # a variable multiplier
    assert Requantizer(Rq(3, 2, nf.IntFormat(8)), 8).parameters()["multiply"] == "shift_add"


def test_errors():
    r = Rq(3, 2, nf.IntFormat(8))
    with pytest.raises(TypeError, match=r"requantizer must be a numfmt.quant.Requantizer, not 3"):
        Requantizer(3, 8)
    with pytest.raises(ValueError, match=r"acc_bits must be an integer in 1..63, not 64"):
        Requantizer(r, 64)
    with pytest.raises(ValueError, match=r"stages must be an integer ≥ 0, not -2"):
        Requantizer(r, 8, stages=-2)
    with pytest.raises(ValueError, match=r"acc_bits=40 is too wide for this requantizer"):
        Requantizer(Rq((1 << 31) - 1, 2, nf.IntFormat(8)), 40)
    with pytest.raises(ValueError, match=r"multiply must be one of 'shift_add', 'operator', not 'dsp'"):
        Requantizer(r, 8, multiply="dsp")


# Amaranth 0.5's netlist narrows every sign/zero extension into the operand of the
# arithmetic cell ($add, $sub, $lt, $shl, ...), and Yosys writes `$signed(a) + $signed(b)`
# with `a`, `b` narrower than the result. Verilog extends them exactly as intended (IEEE
# 1364 §5.5), but Verilator's -Wall reports WIDTHEXPAND for every such operator.
EXTENSION_WAIVER = {"WIDTHEXPAND": "Amaranth/Yosys leave operand extension of arithmetic cells "
                                   "implicit; Verilog's rules extend them as intended"}


@pytest.mark.parametrize("case", ["int8_rnp_scale0.0123", "int4_per_channel_floor"])
def test_lint(case):
    make, bits = CASES[case]
    waived = lint(Requantizer(make(), bits), waivers={**WAIVERS, **EXTENSION_WAIVER})
    assert {w.rule for w in waived} <= set(WAIVERS) | set(EXTENSION_WAIVER)


# -- saturation decided on the accumulator --------------------------------------------------
MODES = ["rne", "rna", "rnp", "rnm", "rnz", "floor", "ceil", "rtz", "rta"]


def random_requantizers(n: int, seed: int, overflow=("sat", "wrap")):
    """``n`` per-tensor ``(Requantizer, acc_bits)`` draws with small accumulators (1–14
    bits): multipliers of 1–16 bits, right shifts up to ``acc + m`` and left shifts of
    1–3, 2–8-bit outputs of either signedness, every rounding mode, zero points."""
    rng = np.random.default_rng(seed)
    out = []
    while len(out) < n:
        acc, m = int(rng.integers(1, 15)), int(rng.integers(1, 17))
        b = int(rng.integers(1 << (m - 1), 1 << m))
        c = -int(rng.integers(1, 4)) if rng.random() < 0.15 else int(rng.integers(0, acc + m + 1))
        fmt = nf.IntFormat(int(rng.integers(2, 9)), signed=bool(rng.random() < 0.7),
                           overflow=str(rng.choice(overflow)))
        zp = 0 if rng.random() < 0.5 else int(rng.integers(fmt.min, fmt.max + 1))
        out.append((Rq(b, c, fmt, rounding=str(rng.choice(MODES)), zero_point=zp), acc))
    return out


def test_saturation_bounds_against_every_accumulator():
    """``saturation_bounds`` is the last accumulator at the output's least value and the
    first at its greatest, and ``middle_bits`` counts those between, on 300 draws checked
    over every accumulator value."""
    seen = {"none": 0, "both": 0, "adjacent": 0}
    for r, bits in random_requantizers(300, 11, overflow=("sat",)):
        unit = Requantizer(r, bits)
        lo, hi = unit.saturation_bounds()
        acc = np.arange(-(1 << (bits - 1)), 1 << (bits - 1), dtype=np.int64)
        q = r.requantize(acc)
        assert np.all(np.diff(q) >= 0)                              # monotone: what the bisection needs
        at_min, at_max = acc[q == r.out_format.min], acc[q == r.out_format.max]
        assert lo == (int(at_min.max()) if at_min.size else None)
        assert hi == (int(at_max.min()) if at_max.size else None)
        middle = int(np.count_nonzero((q > r.out_format.min) & (q < r.out_format.max)))
        assert unit.middle_bits() == middle.bit_length()
        seen["none"] += lo is None and hi is None
        seen["both"] += lo is not None and hi is not None
        seen["adjacent"] += lo is not None and hi == lo + 1          # no accumulator in the middle
    assert min(seen.values()) >= 5, seen                            # the draws reach every shape


def test_saturate_option():
    r = Rq(3, 2, nf.IntFormat(4, signed=False), rounding="floor")
    default, on_acc = Requantizer(r, 8), Requantizer(r, 8, saturate="accumulator")
    assert "saturate" not in default.parameters() and default.saturation_compares() == (0, 0)
    assert on_acc.parameters()["saturate"] == "accumulator" and on_acc.name != default.name
    assert on_acc.saturation_compares() == (7, 6)                  # acc >> 1 ≤ 0, acc >> 2 ≥ 5
    wrap = Requantizer(Rq(3, 2, nf.IntFormat(4, overflow="wrap")), 8, saturate="accumulator")
    assert "saturate" not in wrap.parameters() and wrap.saturation_compares() == (0, 0)
    with pytest.raises(ValueError, match="saturate must be one of 'result', 'accumulator', not 'acc'"):
        Requantizer(r, 8, saturate="acc")
    unit = Requantizer(Rq(np.array([3, 5]), np.array([2, 1]), nf.IntFormat(4)), 8, saturate="accumulator")
    assert unit.saturation_compares() == (0, 0)                     # per channel: clamped
    with pytest.raises(ValueError, match="saturation_bounds\\(\\) is per tensor; this requantizer has 2 channels"):
        unit.saturation_bounds()


def test_spans_hold_every_rounded_value():
    """``spans()`` bound the floor and the rounded value over every accumulator (the floor's
    ends exactly; the rounded value's are the floor's and the ceiling's, which a rounding
    may not reach: off by at most 1), on the draws :func:`test_rtl_every_accumulator` simulates; and those draws build
    each kind of saturating code (``hw.rtl._fixed.ap_overflow`` with ``span``) but the
    constant one (:func:`test_rtl_each_saturating_code`): no clamp (``y`` cannot leave the
    output's range), an unsigned one ``y`` leaves below 0 only, a clamp at either end; and
    codes that are ``y``'s low bits with constant high bits (``y`` keeps its sign)."""
    kinds = set()
    for seed in (100, 101):
        for r, bits in random_requantizers(60, seed):
            unit = Requantizer(r, bits)
            (t_lo, t_hi), (y_lo, y_hi) = unit.spans()
            acc = np.arange(-(1 << (bits - 1)), 1 << (bits - 1), dtype=np.int64)
            big, right = int(r.multiplier) << max(-int(r.shift), 0), max(int(r.shift), 0)
            t = (acc * big) >> right
            wide = Rq(r.multiplier, r.shift, nf.IntFormat(32, overflow="wrap"), rounding=r.rounding,
                      zero_point=r.zero_point)
            y = wide.requantize(acc)
            assert (t.min(), t.max()) == (t_lo, t_hi)
            assert y_lo <= y.min() <= y_lo + 1 and y.max() <= y_hi <= y.max() + 1
            out = r.out_format
            below, above = y_lo < out.min, y_hi > out.max
            plain = str(out.overflow) == "wrap" or not (below or above)
            if plain and (y_lo < 0) == (y_hi < 0) and (y_lo ^ y_hi).bit_length() < out.bits:
                kinds.add("constant high bits")
            if str(out.overflow) == "sat":
                kinds.add("none" if not (below or above) else
                          ("zero" if y_hi <= 0 else "below") if not out.signed and not above else "clamp")
    assert kinds == {"none", "below", "clamp", "constant high bits"}


@pytest.mark.exhaustive
def test_rtl_each_saturating_code():
    """Every accumulator of one unit per kind of saturating code: none (int16 wider than
    ``y ∈ [−20, 20]``), below 0 only (uint8, ``y ∈ [−20, 19]``: bits 5–7 constant 0), ``y ≤
    0`` (uint8, ``y ∈ [−1, 0]``: the code is 0), both ends (int4), per channel (uint6)."""
    units = [(Rq(5, 9, nf.IntFormat(16), rounding="rne"), 12),
             (Rq(5, 9, nf.IntFormat(8, signed=False), rounding="floor"), 12),
             (Rq(1, 20, nf.IntFormat(8, signed=False), rounding="floor"), 12),
             (Rq(5, 9, nf.IntFormat(4), rounding="rna", zero_point=-3), 12),
             (Rq(np.array([5, 3]), np.array([9, 8]), nf.IntFormat(6, signed=False), rounding="ceil"), 12)]
    kinds = [Requantizer(r, bits).spans()[1] for r, bits in units]
    assert kinds == [(-20, 20), (-20, 19), (-1, 0), (-23, 17), (-24, 24)]
    reports = check_many([lambda r=r, bits=bits: Requantizer(r, bits, stages=1) for r, bits in units], seed=5)
    assert [rep.n_vectors for rep in reports] == [1 << 12] * 4 + [1 << 13]       # acc, and the channel bit


@pytest.mark.exhaustive
@pytest.mark.parametrize("saturate", ["accumulator", "result"])
@pytest.mark.parametrize("seed", [0, 1])
def test_rtl_every_accumulator(seed, saturate):
    """60 per-tensor draws a seed, every accumulator code of each, in one build (with
    ``saturate="accumulator"`` the draws include outputs that saturate for every
    accumulator, where no multiply is built)."""
    draws = random_requantizers(60, 100 + seed)
    reports = check_many([lambda r=r, bits=bits: Requantizer(r, bits, stages=1, saturate=saturate)
                          for r, bits in draws], seed=seed)
    assert [rep.n_vectors for rep in reports] == [1 << bits for _, bits in draws]
    if saturate == "accumulator":
        units = [Requantizer(r, bits, saturate=saturate) for r, bits in draws]
        assert any(u.middle_bits() == 0 for u in units if "saturate" in u.parameters())
