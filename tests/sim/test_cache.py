"""sim._cache: slim builds that still run, a bounded cache pruned least recently used first."""

import os
import time

import pytest

from numfmt import sim
from numfmt.sim import _cache, _runner

HOUR = 3600.0


def _age(path, seconds):
    """Set the modification time of ``path`` (and of the files in it) ``seconds`` in the past."""
    t = time.time() - seconds
    for p in [path, *path.rglob("*")] if path.is_dir() else [path]:
        os.utime(p, (t, t))


def _build(root, name, size, used_ago):
    """A finished build: ``done`` (its last use ``used_ago`` seconds ago) and an executable."""
    path = root / (name * 40)[:40]
    path.mkdir(parents=True)
    (path / "top").write_bytes(bytes(size))
    (path / "done").write_text("key\n")
    _age(path, used_ago)
    return path


def test_slimmed_build_is_reused_and_still_runs(units, tmp_path):
    """(Verilator's build is the one slimmed, whatever $NUMFMT_SIMULATOR says.)"""
    mul2 = lambda: units["Mul8"](1, bits=2)   # noqa: E731 - a 2×2-bit multiplier, 16 vectors
    report = sim.check(mul2, lanes=1, build_dir=tmp_path, simulator="verilator")
    assert report.n_vectors == 16
    [build] = [p for p in tmp_path.iterdir() if p.name != "objects"]
    name = "mul8_2_1_0"
    assert sorted(p.name for p in build.iterdir()) == sorted(["build.log", "done", name, f"{name}.v"])
    assert os.access(build / name, os.X_OK)
    # a cache hit renews the last use, rebuilds nothing and runs the slimmed build
    _age(build, 2 * HOUR)
    stamp = (build / name).stat().st_mtime_ns
    report = sim.check(mul2, lanes=1, build_dir=tmp_path, simulator="verilator")
    assert report.n_vectors == 16 and list(report.latencies) == [1] * 16
    assert (build / name).stat().st_mtime_ns == stamp
    assert time.time() - (build / "done").stat().st_mtime < HOUR


class FakeRunner:
    """Stands in for cocotb's Verilator build: an executable and the compiler's leftovers."""

    calls = 0

    def build(self, *, build_dir, hdl_toplevel, **kwargs):
        FakeRunner.calls += 1
        (build_dir / hdl_toplevel).write_text("simulator")
        for name in ("Vtop__pch.h.fast.gch", "Vtop__ALL.o", "Vtop__ALL.a", "verilated.o", "Vtop.cpp", "Vtop.mk"):
            (build_dir / name).write_bytes(bytes(100))
        (build_dir / "Vtop.dir").mkdir()


def test_build_keeps_what_a_cache_hit_reads(tmp_path, monkeypatch):
    monkeypatch.setenv("NUMFMT_CACHE", str(tmp_path / "default"))
    monkeypatch.setattr(_runner, "_get_runner", lambda simulator: FakeRunner())
    path = sim.build("module tiny; endmodule\n", "tiny", build_dir=tmp_path)
    assert sorted(p.name for p in path.iterdir()) == ["done", "tiny", "tiny.v"]


def test_bad_limit_fails_before_building(tmp_path, monkeypatch):
    monkeypatch.setattr(_runner, "_get_runner", lambda simulator: FakeRunner())
    monkeypatch.setenv("NUMFMT_CACHE_MAX_MB", "lots")
    calls = FakeRunner.calls
    with pytest.raises(ValueError, match="NUMFMT_CACHE_MAX_MB must be a number of megabytes ≥ 0, not 'lots'"):
        sim.build("module tiny; endmodule\n", "tiny", build_dir=tmp_path)
    assert FakeRunner.calls == calls


def test_max_bytes(monkeypatch):
    monkeypatch.delenv("NUMFMT_CACHE_MAX_MB", raising=False)
    assert _cache.max_bytes() == 500_000_000
    for text, expected in [("250", 250_000_000), (" 0.5 ", 500_000), ("0", 0), ("", 500_000_000)]:
        monkeypatch.setenv("NUMFMT_CACHE_MAX_MB", text)
        assert _cache.max_bytes() == expected
    for text in ["-1", "abc", "inf", "nan", "1e400", "500MB"]:
        monkeypatch.setenv("NUMFMT_CACHE_MAX_MB", text)
        with pytest.raises(ValueError, match=f"NUMFMT_CACHE_MAX_MB must be a number of megabytes ≥ 0, "
                                             f"not '{text}'"):
            _cache.max_bytes()


def test_usage_touch_and_slim(tmp_path):
    assert _cache.usage(tmp_path / "absent") == 0
    build = _build(tmp_path, "a", 1000, 2 * HOUR)
    assert _cache.usage(tmp_path) == 1000 + len("key\n")
    assert _cache.touch(build) and time.time() - (build / "done").stat().st_mtime < HOUR
    assert not _cache.touch(tmp_path / ("b" * 40))
    (build / "sub").mkdir()
    (build / "sub" / "x.o").write_bytes(bytes(10))
    (build / "y.gch").write_bytes(bytes(20))
    assert _cache.slim(build, {"top", "done"}) == 30
    assert sorted(p.name for p in build.iterdir()) == ["done", "top"]


def test_prune_removes_least_recently_used_beyond_the_limit(tmp_path):
    old = [_build(tmp_path, c, 1000, HOUR * (5 - k)) for k, c in enumerate("abcde")]  # a: least recent
    recent = _build(tmp_path, "f", 1000, 0)
    removed = _cache.prune(tmp_path, limit=3500)
    assert removed == old[:3]                       # 6 × 1004 bytes → 3 × 1004
    assert sorted(p.name[0] for p in tmp_path.iterdir()) == ["d", "e", "f"]
    assert _cache.usage(tmp_path) <= 3500
    # a build used within min_age stays even when the cache is over the limit
    assert _cache.prune(tmp_path, limit=0) == old[3:]
    assert list(tmp_path.iterdir()) == [recent]
    assert _cache.prune(tmp_path, limit=0, min_age=0) == [recent]
    assert list(tmp_path.iterdir()) == []


def test_prune_under_the_limit_keeps_every_build(tmp_path):
    builds = [_build(tmp_path, c, 1000, 10 * HOUR) for c in "abc"]
    assert _cache.prune(tmp_path, limit=10_000) == []
    assert all((b / "done").exists() for b in builds)


def test_prune_removes_stale_temporary_and_partial_trees(tmp_path):
    def tree(name, ago):
        path = tmp_path / name
        path.mkdir()
        (path / "Vtop__ALL.o").write_bytes(bytes(10))
        _age(path, ago)
        return path

    stale_tmp = tree(".tmp-0123456789ab-42-deadbeef", 2 * HOUR)     # a killed build
    stale_del = tree(".tmp-del-42-deadbeef", 2 * HOUR)               # a killed deletion
    partial = tree("c" * 40, 2 * HOUR)                               # no `done`
    building = tree(".tmp-0123456789ab-43-cafecafe", 60)              # another worker's build
    young_partial = tree("d" * 40, 60)
    old_run, new_run = tree("run-old", 2 * HOUR), tree("run-new", 60)  # failed checks' run dirs
    foreign = tmp_path / "notes.txt"
    foreign.write_text("not ours")
    _age(foreign, 10 * HOUR)
    # stale trees go whatever the limit; a run directory only to meet the limit
    assert sorted(_cache.prune(tmp_path, limit=10**9)) == sorted([stale_tmp, stale_del, partial])
    assert _cache.prune(tmp_path, limit=0) == [old_run]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([building.name, young_partial.name,
                                                                 new_run.name, foreign.name])


def test_prune_deletes_runtime_objects_last(tmp_path):
    objects = tmp_path / "objects"
    objects.mkdir()
    for k, c in enumerate("12"):
        (objects / (c * 40 + ".o")).write_bytes(bytes(100))
        (objects / (c * 40 + ".d")).write_text("dep")
        _age(objects / (c * 40 + ".o"), HOUR * (3 - k))
    (objects / ("3" * 40 + ".d")).write_text("orphan")         # its object never stored
    _age(objects / ("3" * 40 + ".d"), 2 * HOUR)
    (objects / ("4" * 40 + ".o.77.tmp")).write_bytes(bytes(9))   # a copy cut short
    _age(objects / ("4" * 40 + ".o.77.tmp"), 2 * HOUR)
    build = _build(tmp_path, "a", 1000, 10 * HOUR)                # older than the objects
    removed = _cache.prune(tmp_path, limit=150)
    assert set(removed[:2]) == {objects / ("3" * 40 + ".d"), objects / ("4" * 40 + ".o.77.tmp")}
    assert removed[2:] == [build, objects / ("1" * 40 + ".o")]
    assert sorted(p.name for p in objects.iterdir()) == ["2" * 40 + ".d", "2" * 40 + ".o"]


def test_a_build_used_during_its_removal_is_put_back(tmp_path):
    build = _build(tmp_path, "a", 1000, 2 * HOUR)
    [entry] = _cache._entries(tmp_path)          # scanned as old ...
    assert _cache.touch(build)                   # ... then hit by another worker
    assert not _cache._remove(entry, _cache.MIN_AGE)
    assert (build / "done").exists() and [p.name for p in tmp_path.iterdir()] == [build.name]


def test_clear_deletes_the_cache_and_nothing_else(tmp_path):
    _build(tmp_path, "a", 1000, 0)
    (tmp_path / "run-x").mkdir()
    (tmp_path / "run-x" / "sim.log").write_bytes(bytes(50))
    (tmp_path / "objects").mkdir()
    (tmp_path / "objects" / ("1" * 40 + ".o")).write_bytes(bytes(200))
    (tmp_path / "notes.txt").write_text("not ours")
    assert _cache.usage(tmp_path) == 1004 + 50 + 200 + 8
    assert _cache.clear(tmp_path) == 1004 + 50 + 200
    assert _cache.usage(tmp_path) == 8
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt", "objects"]
    assert _cache.clear(tmp_path / "absent") == 0


def test_defaults_to_the_cache_root(tmp_path, monkeypatch):
    monkeypatch.setenv("NUMFMT_CACHE", str(tmp_path))
    _build(tmp_path / "sim", "a", 1000, 0)
    assert _cache.usage() == 1004
    assert _cache.clear() == 1004 and _cache.usage() == 0
