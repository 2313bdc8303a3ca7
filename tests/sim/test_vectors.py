"""sim.vectors: exhaustive lists, format corners, seeded random vectors."""

import itertools

import numpy as np
import pytest

import numfmt as nf
from numfmt.hw.rtl import Field
from numfmt.sim import vectors


def codes(spec):
    return set(vectors.corners(Field.of(nf.parse(spec))).tolist())


def test_exhaustive_is_every_combination_first_field_fastest():
    fields = {"a": Field(3), "b": Field(2), "c": Field(1)}
    v = vectors.exhaustive(fields)
    got = list(zip(v["a"].tolist(), v["b"].tolist(), v["c"].tolist()))
    want = [(a, b, c) for c, b, a in itertools.product(range(2), range(4), range(8))]
    assert got == want


@pytest.mark.parametrize("widths,exhaustive", [((8, 8), True), ((4, 4, 8), True), ((16,), True),
                                               ((8, 9), False), ((17,), False)])
def test_generate_is_exhaustive_up_to_16_bits(widths, exhaustive):
    fields = {f"f{k}": Field(w) for k, w in enumerate(widths)}
    v = vectors.generate(fields, n_random=100, seed=0)
    n = len(v["f0"])
    if exhaustive:
        assert n == 2 ** sum(widths)
        assert len(set(zip(*[v[k].tolist() for k in fields]))) == n
    else:
        n_cross = np.prod([len(vectors.corners(f)) for f in fields.values()])
        assert n == n_cross + 100


def test_e4m3fn_corners():
    # OCP FP8 E4M3: ±0, ±min subnormal 2^-9, ±min normal 2^-6, ±448 (max), NaN S.1111.111
    assert {0x00, 0x80, 0x01, 0x81, 0x08, 0x88, 0x7E, 0xFE, 0x7F, 0xFF, 0x38, 0xB8} <= codes("e4m3fn")


def test_e5m2_corners_have_inf_and_overflow():
    c = codes("e5m2")
    # ±Inf 0x7c/0xfc (also what ±2·max rounds to), ±max 0x7b/0xfb, a NaN, ±min subnormal
    assert {0x7C, 0xFC, 0x7B, 0xFB, 0x01, 0x81, 0x00, 0x80} <= c
    assert any(x & 0x7C == 0x7C and x & 0x03 for x in c)


def test_fnuz_corners():
    c = codes("e4m3fnuz")
    assert {0x00, 0x80, 0x01, 0x81, 0x7F, 0xFF} <= c   # 0x80 is the NaN of fnuz


def test_int_corners_against_twos_complement():
    c = codes("int8")
    want = {v & 0xFF for v in (0, 1, -1, 2, -2, 127, -128, 126, -127)}
    assert want <= c
    assert {0, 1, 2, 14, 15} <= codes("uint4")


def test_fixed_corners_are_the_extremes_and_lsb():
    fmt = nf.parse("ap_fixed<8,3,AP_RND_CONV,AP_SAT>")
    c = codes(str(fmt))
    # max 0x7f = 3.96875, min 0x80 = -4, ±lsb 0x01/0xff, next to max 0x7e, zero
    assert {0x7F, 0x80, 0x01, 0xFF, 0x7E, 0x00} <= c
    assert fmt.decode(np.array([0x7F, 0x80])).tolist() == [fmt.max, fmt.min]


def test_control_field_corners():
    assert vectors.corners(Field(1)).tolist() == [0, 1]
    assert vectors.corners(Field(4)).tolist() == [0, 1, 7, 8, 15]


def test_corners_fit_the_field():
    for spec in ("e2m1", "e3m2", "e4m3fn", "e5m2", "int4", "uint8", "ap_ufixed<6,2>"):
        fmt = nf.parse(spec)
        c = vectors.corners(Field.of(fmt))
        assert c.dtype == np.uint64 and int(c.max()) < 2 ** fmt.bits
        assert np.array_equal(c, np.unique(c))


def test_random_is_seeded_and_in_range():
    fields = {"a": Field(5), "b": Field(64)}
    v1, v2 = vectors.random(fields, 1000, 7), vectors.random(fields, 1000, 7)
    assert all(np.array_equal(v1[k], v2[k]) for k in fields)
    assert not np.array_equal(v1["a"], vectors.random(fields, 1000, 8)["a"])
    assert int(v1["a"].max()) < 32 and len(set(v1["a"].tolist())) == 32
    assert int(v1["b"].max()) >= 2 ** 63    # the top bit of a 64-bit field is drawn too


def test_generate_reproducible_and_seed_dependent():
    fields = {"a": Field.of(nf.parse("e4m3fn")), "b": Field.of(nf.parse("e5m2")), "c": Field(1)}
    v1 = vectors.generate(fields, n_random=500, seed=3)
    v2 = vectors.generate(fields, n_random=500, seed=3)
    v3 = vectors.generate(fields, n_random=500, seed=4)
    assert all(np.array_equal(v1[k], v2[k]) for k in fields)
    assert not np.array_equal(v1["a"], v3["a"])
    # the corners come first, crossed: every triple of corner codes is present
    cs = [vectors.corners(f).tolist() for f in fields.values()]
    n = len(cs[0]) * len(cs[1]) * len(cs[2])
    assert len(v1["a"]) == n + 500
    got = set(zip(*[v1[k][:n].tolist() for k in fields]))
    assert got == set(itertools.product(*cs))


def test_cross_product_sampled_when_large():
    f = Field.of(nf.parse("e4m3fn"))
    fields = {"a": f, "b": f, "c": f, "d": f}      # 22^4 > max_cross
    v = vectors.generate(fields, n_random=0, seed=1, max_cross=1000)
    assert len(v["a"]) == 1000
    for k in fields:     # every corner of every field still appears
        assert set(v[k].tolist()) == set(vectors.corners(f).tolist())


@pytest.mark.parametrize("call,error,message", [
    (lambda: vectors.generate({"a": Field(20)}, n_random=-1), ValueError, "n_random must be an integer ≥ 0, not -1"),
    (lambda: vectors.generate({"a": Field(20)}, seed=-2), ValueError, "seed must be an integer ≥ 0, not -2"),
    (lambda: vectors.generate({"a": 8}), TypeError, "field must be a hw.rtl.Field, not 8"),
    (lambda: vectors.generate({}), TypeError, "fields must be a non-empty dict"),
    (lambda: vectors.exhaustive({"a": Field(25)}), ValueError, "fields must total at most 24 bits for an exhaustive list, not 25"),
    (lambda: vectors.corners(Field(65)), ValueError, "field width must be at most 64 bits, not 65"),
])
def test_errors(call, error, message):
    with pytest.raises(error, match=message):
        call()
