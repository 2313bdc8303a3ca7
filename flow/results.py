"""A results file that a crash at any byte leaves readable: one checksummed JSON record per line.

The first line is a header: the file format, its version, and the *identity* of the
work whose results the file holds (for a sweep: the model, the data and the points —
whatever fixes what a record means). Every further line is one record, a JSON object.
Each line is written with a single ``write`` of ``json<TAB>crc32<LF>`` and synced, so an
interrupted write can only leave a torn *last* line; reopening the file with
``resume=True`` drops that line and truncates the file back to its last complete line.
A file whose identity differs from the caller's is refused, and a file that already
holds results is never replaced unless the caller asks (``overwrite=True``).

Floats are written with ``repr`` precision and read back bit for bit (NaN and the
infinities as Python's ``json`` spells them).

>>> import tempfile, pathlib
>>> path = pathlib.Path(tempfile.mkdtemp()) / "r.jsonl"
>>> with ResultStore(path, {"model": "mlp"}) as store:
...     store.append({"weight": "int4", "accuracy": 0.95})
>>> with ResultStore(path, {"model": "mlp"}, resume=True) as store:
...     store.records
[{'weight': 'int4', 'accuracy': 0.95}]
>>> ResultStore(path, {"model": "cnn"}, resume=True)
Traceback (most recent call last):
...
numfmt.flow.results.ForeignResults: ... holds results of a different sweep (different model); ...
"""

from __future__ import annotations

import json
import os
import pathlib
import zlib

__all__ = ["FORMAT", "VERSION", "CorruptResults", "ForeignResults", "ResultStore", "ResultsError",
           "ResultsExist", "read"]

FORMAT = "numfmt-results"
VERSION = 1
#: every header starts with these bytes (``format`` is its first key): a file cut inside them
#: is a torn header, anything else is not a results file
_HEAD_START = b'{"format": "' + FORMAT.encode() + b'"'


class ResultsError(ValueError):
    """The results file cannot be used as asked; nothing was changed in it."""

    def __init__(self, path, message):
        super().__init__(f"{path} {message}")
        self.path = path


class ResultsExist(ResultsError):
    """The file holds ``count`` results of this identity, and neither resume nor overwrite was asked."""

    def __init__(self, path, count):
        super().__init__(path, f"holds {count} results of this sweep; pass resume=True to continue it "
                               "or overwrite=True to discard them")
        self.count = count


class ForeignResults(ResultsError):
    """The file holds results of another identity; ``differs`` names the identity's keys that differ,
    ``what`` says it in words (``"different model and data"``)."""

    def __init__(self, path, differs):
        self.differs = tuple(differs)
        self.what = "different " + (self.differs[0] if len(self.differs) == 1 else
                                    ", ".join(self.differs[:-1]) + " and " + self.differs[-1])
        super().__init__(path, f"holds results of a different sweep ({self.what}); "
                               "use another file, or overwrite=True to discard them")


class CorruptResults(ResultsError):
    """Not a results file, another format version, or a damaged line that is not the last."""


def _line(text: str) -> bytes:
    """``text<TAB>crc32<LF>`` as bytes (JSON text never holds a raw tab or newline)."""
    data = text.encode()
    return data + b"\t" + f"{zlib.crc32(data):08x}".encode() + b"\n"


def _parse(line: bytes):
    """The JSON value of a complete line with a good checksum, else None."""
    body, sep, crc = line.rstrip(b"\n").rpartition(b"\t")
    if not sep or not line.endswith(b"\n") or crc != f"{zlib.crc32(body):08x}".encode():
        return None
    try:
        return json.loads(body)
    except ValueError:
        return None


def _scan(path, data: bytes):
    """(header or None, records, length of the good prefix) of a file's bytes.

    A torn last line is left out of the good prefix; any other damage raises CorruptResults.
    """
    if not data or (b"\n" not in data and (_HEAD_START.startswith(data) or data.startswith(_HEAD_START))):
        return None, [], 0                                       # empty, or cut inside the header
    lines = [line + b"\n" for line in data.split(b"\n")]
    lines[-1] = lines[-1][:-1]                                   # after the last newline: b"" or a torn line
    if not lines[-1]:
        lines.pop()
    header = _parse(lines[0])
    if not isinstance(header, dict) or header.get("format") != FORMAT or not isinstance(header.get("identity"),
                                                                                          dict):
        raise CorruptResults(path, "is not a numfmt results file (its first line is not a results header)")
    if header.get("version") != VERSION:
        raise CorruptResults(path, f"is in format version {header.get('version')!r}; this numfmt reads "
                                   f"version {VERSION}")
    records, good = [], len(lines[0])
    for number, line in enumerate(lines[1:], start=2):
        record = _parse(line)
        if not isinstance(record, dict):
            if number == len(lines):                             # the torn last line of a crash
                break
            raise CorruptResults(path, f"line {number} is damaged (checksum or JSON); only a torn last line "
                                       "can be repaired")
        records.append(record)
        good += len(line)
    return header, records, good


def read(path):
    """``(header, records)`` of a results file, without changing it (a torn last line is left out).

    >>> import tempfile, pathlib
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "r.jsonl"
    >>> with ResultStore(path, {"data": "digits"}) as store:
    ...     store.append({"x": float("nan")})
    >>> header, records = read(path)
    >>> header["identity"], records
    ({'data': 'digits'}, [{'x': nan}])
    """
    path = pathlib.Path(path)
    header, records, _ = _scan(path, path.read_bytes())
    if header is None:
        raise CorruptResults(path, "holds no complete header (a crash before the first result)")
    return header, records


class ResultStore:
    """A results file opened for appending records of one identity.

    Parameters
    ----------
    path : path-like
        Created (with its folder) if missing.
    identity : dict
        JSON-serialisable; the header keeps it, and reopening compares it key by key.
    resume : bool
        Keep the records already in the file (``records``) and append after them.
    overwrite : bool
        Start the file afresh even if it holds results (of any identity).

    Raises
    ------
    ResultsExist
        The file holds results of this identity and neither ``resume`` nor ``overwrite``.
    ForeignResults
        The file holds results of another identity (with or without ``resume``).
    CorruptResults
        Not a results file, another format version, or damage before the last line.

    A file without results (new, empty, or cut inside its header) is simply (re)started.
    """

    def __init__(self, path, identity, *, resume=False, overwrite=False):
        if not isinstance(identity, dict):
            raise TypeError(f"identity must be a dict, not {type(identity).__name__}")
        if resume and overwrite:
            raise ValueError("resume and overwrite exclude each other")
        self.path = pathlib.Path(path)
        self.identity = json.loads(json.dumps(identity))          # as it reads back
        self.records = []
        good = 0
        if self.path.exists() and not overwrite:
            header, records, good = _scan(self.path, self.path.read_bytes())
            if header is not None and records:
                found = header["identity"]
                differs = [k for k in sorted(set(found) | set(self.identity)) if found.get(k) != self.identity.get(k)]
                if differs:
                    raise ForeignResults(self.path, differs)
                if not resume:
                    raise ResultsExist(self.path, len(records))
            if header is None or header["identity"] != self.identity:
                good = 0
            self.records = records if good else []
        if good:
            os.truncate(self.path, good)                         # drop a torn last line
        else:
            self._start()
        self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND)

    def _start(self):
        """Write the header to a new file that replaces ``path`` in one step."""
        if self.path.parent != pathlib.Path():
            self.path.parent.mkdir(parents=True, exist_ok=True)
        head = {"format": FORMAT, "version": VERSION, "identity": self.identity}
        tmp = self.path.with_name(f"{self.path.name}.tmp{os.getpid()}")
        with open(tmp, "wb") as f:
            f.write(_line(json.dumps(head, ensure_ascii=False)))
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.path)

    def append(self, record: dict) -> None:
        """Write ``record`` as one line, in one ``write``, synced to disk before returning."""
        if self._fd is None:
            raise ValueError(f"the store {self.path} is closed")
        if not isinstance(record, dict):
            raise TypeError(f"record must be a dict, not {type(record).__name__}")
        try:
            text = json.dumps(record, ensure_ascii=False)
        except TypeError as exc:
            raise ValueError(f"record is not JSON-serialisable: {exc}") from None
        data = _line(text)
        while data:                                              # a regular file takes it in one write
            data = data[os.write(self._fd, data):]
        os.fsync(self._fd)
        self.records.append(json.loads(text))

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
