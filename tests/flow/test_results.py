"""flow.results: the crash-safe results store (header with identity, one checksummed record per line)."""

from __future__ import annotations

import json
import math

import pytest

from numfmt.flow import results

ID = {"model": "m1", "data": "d1", "points": "p1"}
RECORDS = [{"weight": "int4", "accuracy": 0.9111111111111111, "note": ""},
           {"weight": "int8", "accuracy": math.nan, "note": "a tab\there, a newline\nthere, «ünïcode»"},
           {"weight": "fp8_e4m3", "accuracy": 0.1 + 0.2, "bits": 8}]


def _same(a, b):
    """Records equal value for value (NaN equals NaN; floats bit for bit)."""
    assert a.keys() == b.keys()
    for k in a:
        if isinstance(a[k], float) and math.isnan(a[k]):
            assert isinstance(b[k], float) and math.isnan(b[k]), k
        else:
            assert a[k] == b[k] and type(a[k]) is type(b[k]), k


def _write(path, records=RECORDS, identity=ID):
    with results.ResultStore(path, identity) as store:
        for r in records:
            store.append(r)
    return path.read_bytes()


def test_records_round_trip_exactly(tmp_path):
    path = tmp_path / "r.jsonl"
    _write(path)
    header, back = results.read(path)
    assert header["identity"] == ID and header["version"] == results.VERSION
    assert len(back) == len(RECORDS)
    for a, b in zip(RECORDS, back):
        _same(a, b)


def test_every_line_is_one_checksummed_json_record(tmp_path):
    path = tmp_path / "r.jsonl"
    lines = _write(path).decode().split("\n")
    assert lines[-1] == "" and len(lines) == 1 + len(RECORDS) + 1
    head = json.loads(lines[0].rsplit("\t", 1)[0])
    assert head["format"] == results.FORMAT
    for line in lines[1:-1]:
        text, crc = line.rsplit("\t", 1)
        assert len(crc) == 8 and isinstance(json.loads(text), dict)


def test_resume_appends_to_the_same_identity(tmp_path):
    path = tmp_path / "r.jsonl"
    _write(path, RECORDS[:1])
    with results.ResultStore(path, ID, resume=True) as store:
        assert [r["weight"] for r in store.records] == ["int4"]
        for r in RECORDS[1:]:
            store.append(r)
    assert [r["weight"] for r in results.read(path)[1]] == ["int4", "int8", "fp8_e4m3"]


def test_a_file_with_results_is_never_replaced_without_being_asked(tmp_path):
    path = tmp_path / "r.jsonl"
    before = _write(path)
    with pytest.raises(results.ResultsExist, match=r"holds 3 results of this sweep; pass resume=True") as exc:
        results.ResultStore(path, ID)
    assert exc.value.count == 3 and exc.value.path == path
    assert path.read_bytes() == before
    with results.ResultStore(path, ID, overwrite=True) as store:
        assert store.records == []
    assert results.read(path)[1] == []


def test_a_foreign_file_is_refused_naming_what_differs(tmp_path):
    path = tmp_path / "r.jsonl"
    before = _write(path)
    other = dict(ID, model="m2", points="p2")
    for resume in (False, True):
        with pytest.raises(results.ForeignResults,
                           match=r"results of a different sweep \(different model and points\)") as exc:
            results.ResultStore(path, other, resume=resume)
        assert exc.value.differs == ("model", "points")
    assert path.read_bytes() == before
    with results.ResultStore(path, other, overwrite=True):
        pass
    assert results.read(path)[0]["identity"] == other


@pytest.mark.parametrize("content, match", [
    (b"model,family\nmlp,int\n", r"is not a numfmt results file"),
    (b'{"format": "numfmt-results", "version": 99, "identity": {}}\t00000000\n', r"is not a numfmt results file"),
])
def test_something_else_is_refused(tmp_path, content, match):
    path = tmp_path / "r.jsonl"
    path.write_bytes(content)
    with pytest.raises(results.CorruptResults, match=match):
        results.ResultStore(path, ID, resume=True)
    assert path.read_bytes() == content


def test_a_version_mismatch_is_refused(tmp_path):
    path = tmp_path / "r.jsonl"
    text = json.dumps({"format": results.FORMAT, "version": results.VERSION + 1, "identity": ID})
    path.write_bytes(results._line(text))
    with pytest.raises(results.CorruptResults, match=rf"format version {results.VERSION + 1}; this numfmt "
                                                     rf"reads version {results.VERSION}"):
        results.ResultStore(path, ID, resume=True)


def test_a_damaged_record_before_the_last_is_refused(tmp_path):
    path = tmp_path / "r.jsonl"
    data = bytearray(_write(path))
    second = data.index(b"\n") + 1
    data[second + 3] ^= 0x01                               # one flipped bit in the first record
    path.write_bytes(bytes(data))
    with pytest.raises(results.CorruptResults, match=r"line 2 is damaged"):
        results.ResultStore(path, ID, resume=True)
    with pytest.raises(results.CorruptResults, match=r"line 2 is damaged"):
        results.read(path)


def test_every_torn_last_record_and_header_is_dropped_and_repaired(tmp_path, monkeypatch):
    """Cut the file at every byte offset: the torn line is dropped, the file is truncated to its
    last complete line, and appending the lost records gives the full file back, byte for byte.
    (No fsync here: it is about what is in the file, not when it reaches the disk.)"""
    monkeypatch.setattr(results.os, "fsync", lambda fd: None)
    path = tmp_path / "r.jsonl"
    full = _write(path)
    starts = [0] + [i + 1 for i, b in enumerate(full) if b == ord("\n")][:-1]
    header_end, last_start = starts[1], starts[-1]
    for cut in list(range(header_end)) + list(range(last_start, len(full))):
        path.write_bytes(full[:cut])
        kept = 0 if cut < header_end else len(RECORDS) - 1
        with results.ResultStore(path, ID, resume=True) as store:
            assert len(store.records) == kept, cut
            assert path.read_bytes() == full[:starts[1 + kept]], cut      # repaired to the last good line
            for r in RECORDS[kept:]:
                store.append(r)
        assert path.read_bytes() == full, cut


def test_a_torn_header_without_results_needs_no_resume(tmp_path):
    path = tmp_path / "r.jsonl"
    full = _write(path, [])
    path.write_bytes(full[:10])
    with results.ResultStore(path, ID) as store:
        assert store.records == []
    assert path.read_bytes() == full


def test_read_does_not_modify_a_torn_file(tmp_path):
    path = tmp_path / "r.jsonl"
    full = _write(path)
    path.write_bytes(full[:-5])
    assert len(results.read(path)[1]) == len(RECORDS) - 1
    assert path.read_bytes() == full[:-5]


def test_bad_arguments(tmp_path):
    with pytest.raises(TypeError, match=r"identity must be a dict, not list"):
        results.ResultStore(tmp_path / "r.jsonl", ["m"])
    with pytest.raises(ValueError, match=r"resume and overwrite exclude each other"):
        results.ResultStore(tmp_path / "r.jsonl", ID, resume=True, overwrite=True)
    with results.ResultStore(tmp_path / "r.jsonl", ID) as store:
        with pytest.raises(TypeError, match=r"record must be a dict, not str"):
            store.append("int4")
        with pytest.raises(ValueError, match=r"record is not JSON-serialisable: .*set"):
            store.append({"x": {1}})
    with pytest.raises(ValueError, match=r"the store .* is closed"):
        store.append({"x": 1})
    with pytest.raises(FileNotFoundError):
        results.read(tmp_path / "missing.jsonl")
