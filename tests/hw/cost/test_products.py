"""The product table the IntMac cost terms read (numfmt.hw.cost.products)."""

import itertools
import warnings

import numpy as np
import pytest
from amaranth.sim import Simulator

import numfmt as nf
from numfmt.arith import FixedAccumulator
from numfmt.hw import rtl
from numfmt.hw.cost import calibrate, model, products


def _simulate(probe, a_codes, b_codes):
    got = []

    async def bench(ctx):
        for a, b in zip(a_codes, b_codes):
            ctx.set(probe.a, int(a))
            ctx.set(probe.b, int(b))
            await ctx.tick()
            got.append(ctx.get(probe.y))

    sim = Simulator(probe)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()
    return np.array(got, dtype=np.int64)


@pytest.mark.parametrize("a, b", [("int2", "int2"), ("uint3", "int4"), ("int5", "uint5"), ("uint4", "uint6")])
def test_probe_registers_the_exact_product_of_every_code_pair(a, b):
    fa, fb = nf.parse(a), nf.parse(b)
    probe = products.ProductProbe(fa, fb)
    ca, cb = (np.array(v).ravel() for v in np.meshgrid(np.arange(1 << fa.bits), np.arange(1 << fb.bits)))
    want = (fa.decode(ca) * fb.decode(cb)).astype(np.int64)
    assert np.array_equal(_simulate(probe, ca, cb), want)


def test_keys_are_order_free_and_cover_every_pair():
    assert products.key(nf.parse("uint5"), nf.parse("int3")) == products.key(nf.parse("int3"), nf.parse("uint5"))
    keys = {products.key(nf.parse(a), nf.parse(b)) for a, b in products.pairs()}
    assert len(keys) == len(products.pairs()) == 14 * 15 // 2
    assert all(products.key(nf.parse(a), nf.parse(b)) in keys
               for a, b in itertools.product(products.OPERANDS, repeat=2))


@pytest.mark.parametrize("fmt", [nf.parse("int9"), nf.parse("e2m1fn"), "int4"])
def test_probe_refuses_formats_outside_the_table(fmt):
    with pytest.raises(ValueError, match="b_fmt must be an integer format of 2–8 bits"):
        products.ProductProbe(nf.parse("int4"), fmt)


def test_probe_verilog_is_machine_free():
    text = products.ProductProbe(nf.parse("int3"), nf.parse("uint5")).verilog()
    assert "module product_int3_uint5(" in text and "src =" not in text


def test_table_array_is_symmetric_and_refuses_a_missing_pair():
    table = {products.key(nf.parse(a), nf.parse(b)): 10 * nf.parse(a).bits + nf.parse(b).bits
             for a, b in products.pairs()}
    T = products.table_array(table)
    assert T[3, 1, 5, 0] == T[5, 0, 3, 1] == table["int3*uint5"]
    del table["int3*uint5"]
    with pytest.raises(ValueError, match="the product table must hold every pair .* it lacks int3\\*uint5"):
        products.table_array(table)


@pytest.mark.parametrize("target", ["xilinx", "ecp5"])
def test_each_calibration_stores_the_whole_table(target):
    cal = model.calibration(target)
    assert sorted(cal.products) == sorted(products.key(nf.parse(a), nf.parse(b)) for a, b in products.pairs())
    assert all(isinstance(v, int) and v > 0 for v in cal.products.values())
    assert cal.product_table().shape == (9, 2, 9, 2)


def test_int_mac_chunks_are_the_rtls():
    """The model's chunks of IntMac's pipelined product are those the RTL splits it into."""
    names = [f"{s}int{b}" for b in range(2, 9) for s in ("", "u")]
    rows, want = [], []
    for a, b in itertools.product(names, repeat=2):
        for stages in (1, 2, 3):
            fa, fb = nf.parse(a), nf.parse(b)
            unit = rtl.IntMac(fa, fb, FixedAccumulator(fa.bits + fb.bits + 2), stages=stages)
            name, n = unit._split()
            w = max(fa.bits, fb.bits)
            rows.append((fa.bits, fb.bits, stages))
            want.append((name == "a", n, w))
    split_a, n, widths = model.int_mac_chunks(*np.array(rows, dtype=np.float64).T)
    for k, (sa, nn, w) in enumerate(want):
        live = widths[k][widths[k] > 0]
        assert (bool(split_a[k]), int(n[k])) == (sa, nn)
        assert len(live) == nn and live.sum() == w and live.min() >= 2 and live.max() - live.min() <= 1
        assert list(live) == sorted(live)            # the wider chunks on top, as the RTL cuts them


def test_intmac_terms_need_the_table_and_its_operands():
    X = np.array([[4, 4, 1, 1, 12, 0, 1]], dtype=np.float64)
    with pytest.raises(ValueError, match="products must be the target's product table"):
        model.terms("IntMac", X)
    X[0, 1] = 9
    with pytest.raises(ValueError, match="features column 'b_bits' must be in 2..8 for IntMac .*, not 9"):
        model.estimate_features("IntMac", X)


def test_intmac_products_term_reads_the_table():
    """Below 2 stages the term is the table's product; at 2 the sum of its chunk products."""
    cal = model.calibration()
    T = {k: cal.products[products.key(*map(nf.parse, k.split("*")))] for k in ("int7*uint3", "uint3*uint3",
                                                                          "int4*uint3")}
    one = rtl.IntMac(nf.parse("uint3"), nf.parse("int7"), FixedAccumulator(14))
    two = rtl.IntMac(nf.parse("uint3"), nf.parse("int7"), FixedAccumulator(14), stages=2)
    X = np.stack([model.raw_features(u)[1] for u in (one, two)])
    t = model.terms("IntMac", X, cal.product_table())
    assert t["products"].tolist() == [T["int7*uint3"], T["uint3*uint3"] + T["int4*uint3"]]
    assert t["product_sums"].tolist() == [0, 3 + 7]


@pytest.mark.slow
@pytest.mark.parametrize("target", ["xilinx", "ecp5"])
def test_stored_table_is_what_yosys_gives(target):
    """Three products synthesized afresh (no cache) have the stored LUT counts."""
    from numfmt.hw.cost import synth

    picks = [("int2", "uint2"), ("uint3", "int6"), ("int8", "int8")]
    jobs = [synth.SynthJob.of(p.verilog(), p.name, target=target, options=calibrate.TARGET_OPTIONS[target],
                              place=False)
            for p in (products.ProductProbe(nf.parse(a), nf.parse(b)) for a, b in picks)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        got = synth.synthesize_many(jobs, processes=1, cache=False, progress=False)
    stored = model.calibration(target).products
    assert [r.luts for r in got] == [stored[products.key(nf.parse(a), nf.parse(b))] for a, b in picks]


def test_a_calibration_without_the_table_says_how_to_make_it():
    import dataclasses

    old = dataclasses.replace(model.calibration(), products={})
    with pytest.raises(ValueError, match="has no product table .*rerun python -m numfmt.hw.cost.calibrate --refit"):
        old.product_table()
