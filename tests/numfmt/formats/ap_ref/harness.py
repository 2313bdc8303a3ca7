"""Build and run ``ap_ref.cpp``: ap_fixed conversions computed by the real HLS headers.

The test session generates one instantiation per tested format, splits them
over a few translation units compiled in parallel with ``g++ -std=c++14 -O1``
against the ``ap_types`` headers shipped with hls4ml, and caches the binary in
``$NUMFMT_TEST_CACHE`` (default ``~/.cache/numfmt-tests``) under a hash of
everything that goes into it. Nothing here is ever committed.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np

from numfmt.formats.fixed import FixedFormat
from numfmt.modes import Overflow, Rounding

SOURCE = Path(__file__).with_name("ap_ref.cpp")
CXXFLAGS = ("-std=c++14", "-O1", "-w")


def headers_dir() -> Path | None:
    """The ``ap_types`` directory of the installed hls4ml, or None."""
    try:
        import hls4ml
    except Exception:  # hls4ml missing or broken: no reference
        return None
    d = Path(hls4ml.__file__).parent / "templates" / "vivado" / "ap_types"
    return d if (d / "ap_fixed.h").is_file() else None


def why_unavailable() -> str | None:
    """A reason to skip the reference tests, or None when they can run."""
    if shutil.which("g++") is None:
        return "g++ not found on PATH: the ap_fixed reference harness cannot be compiled"
    if headers_dir() is None:
        return "hls4ml's ap_types headers (templates/vivado/ap_types/ap_fixed.h) not found"
    return None


def cache_root() -> Path:
    return Path(os.environ.get("NUMFMT_TEST_CACHE", Path.home() / ".cache" / "numfmt-tests"))


def template_args(fmt) -> str:
    """``W,I,S,Q,O,N`` for a FixedFormat (the order of ap_fixed_base's template)."""
    return (f"{fmt.width},{fmt.int_bits},{'true' if fmt.signed else 'false'},"
            f"{fmt.rounding.ap_name},{fmt.overflow.ap_name},{fmt.sat_bits}")


class ApRef:
    """A compiled harness converting doubles for a fixed list of ``FixedFormat`` s.

    ``ApRef(formats).run(jobs)`` with ``jobs`` a list of ``(index, float64 array)``
    returns the list of uint64 code arrays, one per job.
    """

    def __init__(self, formats, *, parts: int = 2):
        reason = why_unavailable()
        if reason:
            raise RuntimeError(reason)
        self.formats = list(formats)
        self.index = {f: i for i, f in enumerate(self.formats)}
        lines = [f"F({template_args(f)})" for f in self.formats]
        parts = max(1, min(parts, len(lines)))
        chunks = [lines[k::parts] for k in range(parts)]
        # table order = concatenation of the parts
        self.order = [i for k in range(parts) for i in range(k, len(lines), parts)]
        self.slot = {fmt_i: slot for slot, fmt_i in enumerate(self.order)}
        source = SOURCE.read_text()
        gxx = shutil.which("g++")
        version = subprocess.run([gxx, "--version"], capture_output=True, text=True).stdout
        key = hashlib.sha256("\0".join(
            [source, version, str(headers_dir()), " ".join(CXXFLAGS)] + ["\n".join(c) for c in chunks]
        ).encode()).hexdigest()[:20]
        self.exe = cache_root() / "ap_ref" / key / "ap_ref"
        if not self.exe.is_file():
            self._build(chunks, source, gxx)

    def _build(self, chunks, source, gxx):
        self.exe.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=self.exe.parent) as tmp:
            tmp = Path(tmp)
            (tmp / "ap_ref.cpp").write_text(source)
            inc = ["-I", str(headers_dir())]
            jobs, objects = [], []
            for k, chunk in enumerate(chunks):
                (tmp / f"formats_{k}.inc").write_text("\n".join(chunk) + "\n")
                (tmp / f"part_{k}.cpp").write_text(
                    f'#define AP_REF_PART {k}\n#define AP_REF_FORMATS "formats_{k}.inc"\n'
                    '#include "ap_ref.cpp"\n')
                objects.append(tmp / f"part_{k}.o")
            decls = " ".join(f"extern const conv_fn part_{k}[];" for k in range(len(chunks)))
            table = ", ".join(f"{{part_{k}, {len(c)}}}" for k, c in enumerate(chunks))
            (tmp / "main.cpp").write_text(
                f"#define AP_REF_MAIN\n#define AP_REF_DECLS {decls}\n#define AP_REF_TABLE {table}\n"
                '#include "ap_ref.cpp"\n')
            objects.append(tmp / "main.o")
            for obj in objects:
                cmd = [gxx, *CXXFLAGS, *inc, "-c", str(obj.with_suffix(".cpp")), "-o", str(obj)]
                jobs.append((cmd, subprocess.Popen(cmd, cwd=tmp, stdout=subprocess.PIPE,
                                                   stderr=subprocess.STDOUT, text=True)))
            for cmd, proc in jobs:
                out, _ = proc.communicate()
                if proc.returncode:
                    raise RuntimeError(f"g++ failed ({' '.join(cmd)}):\n{out[-4000:]}")
            link = [gxx, *map(str, objects), "-o", str(tmp / "ap_ref")]
            res = subprocess.run(link, capture_output=True, text=True)
            if res.returncode:
                raise RuntimeError(f"g++ link failed:\n{res.stderr[-4000:]}")
            os.replace(tmp / "ap_ref", self.exe)  # atomic: parallel sessions may race

    def run(self, jobs):
        """Convert each ``(format_index, x)`` job; returns one uint64 array per job."""
        with tempfile.TemporaryDirectory() as tmp:
            inp, outp = Path(tmp) / "in.bin", Path(tmp) / "out.bin"
            sizes = []
            with open(inp, "wb") as fh:
                for fmt_i, x in jobs:
                    x = np.ascontiguousarray(x, dtype=np.float64).reshape(-1)
                    np.array([self.slot[fmt_i], x.size], dtype=np.int64).tofile(fh)
                    x.tofile(fh)
                    sizes.append(x.size)
            res = subprocess.run([str(self.exe), str(inp), str(outp)], capture_output=True)
            if res.returncode:
                raise RuntimeError(f"ap_ref failed: {res.stderr.decode(errors='replace')[-2000:]}")
            codes = np.fromfile(outp, dtype=np.uint64)
        if codes.size != sum(sizes):
            raise RuntimeError(f"ap_ref wrote {codes.size} codes, expected {sum(sizes)}")
        return np.split(codes, np.cumsum(sizes)[:-1])


# -- which formats and inputs the tests use ------------------------------------

AP_ROUNDINGS = [r for r in Rounding if r.ap_name]          # the 7 AP_* quantization modes
AP_OVERFLOWS = [o for o in Overflow if o.ap_name]          # the 5 AP_* overflow modes
_WRAPS = (Overflow.WRAP, Overflow.WRAP_SIGN_MAGNITUDE)


def _fmt(w, i, signed, q, o, n=0):
    if o is Overflow.WRAP_SIGN_MAGNITUDE and not signed:
        return None  # the headers exit(1) on ap_ufixed<..., AP_WRAP_SM>
    return FixedFormat(w, i, signed=signed, rounding=q, overflow=o, sat_bits=n)


def default_formats():
    """~300 formats: every Q x O on a few shapes, more shapes on a rotation of Q.

    Covers W = 1, 2, 3, 4, 8, 16, 18, 32, 48, 64; I < 0, I = 0, I > W; signed
    and unsigned; N = 0 and N = 1..W (N only matters for the wrap modes).
    Includes ap_fixed<W,W> / ap_ufixed<W,W> shapes for IntFormat.
    """
    out = []
    full = [(8, 3, True), (8, 3, False), (1, 1, True), (4, 4, True), (3, 3, False)]
    for q in AP_ROUNDINGS:
        for o in AP_OVERFLOWS:
            out += [_fmt(w, i, s, q, o) for w, i, s in full]
    rotating = [(1, 0, False), (18, -2, True), (32, 40, True), (48, 20, False), (64, 64, False),
                (64, 30, True), (8, 8, True), (8, 8, False), (16, 16, True), (2, 2, False)]
    k = 0
    for o in AP_OVERFLOWS:
        for w, i, s in rotating:
            for _ in range(2):
                out.append(_fmt(w, i, s, AP_ROUNDINGS[k % 7], o))
                k += 1
    with_n = [(8, 3, True, 1), (8, 3, True, 3), (8, 3, False, 2), (5, -3, True, 5),
              (20, 24, True, 2), (64, 10, True, 7), (1, 1, True, 1), (3, 3, False, 3)]
    for o in _WRAPS:
        for w, i, s, n in with_n:
            for _ in range(3):
                out.append(_fmt(w, i, s, AP_ROUNDINGS[k % 7], o, n))
                k += 1
    # formats whose behaviour the unit tests pin (documented quirks)
    out += [FixedFormat(8, 8, signed=False, sat_bits=1), FixedFormat(64, -1000),
            FixedFormat(8, 3, overflow="sat"), FixedFormat(1, 1, overflow="sat_sym"),
            FixedFormat(4, 4, overflow="wrap_sm")]
    return list(dict.fromkeys(f for f in out if f is not None))


def exhaustive_formats(seed: int = 0, count: int = 1500):
    """A seeded sample of ``count`` formats over W = 1..64, I from W-70 to W+20, all Q, O, N."""
    rng = np.random.default_rng(seed)
    widths = [1, 2, 3, 4, 5, 7, 8, 9, 12, 15, 16, 17, 18, 24, 31, 32, 33, 40, 47, 48,
              52, 53, 54, 55, 60, 62, 63, 64]
    out = set()
    while len(out) < count:
        w = int(rng.choice(widths))
        i = int(w + rng.integers(-70, 21)) if rng.random() < 0.5 else int(rng.integers(-4, w + 4))
        s = bool(rng.random() < 0.7)
        q = AP_ROUNDINGS[rng.integers(7)]
        o = AP_OVERFLOWS[rng.integers(5)]
        n = min(w, int(rng.choice([0, 1, 2, w, int(rng.integers(0, w + 1))]))) if o in _WRAPS else 0
        f = _fmt(w, i, s, q, o, n)
        if f is not None:
            out.add(f)
    return sorted(out, key=str)


_SPECIAL_BITS = np.array([
    0x0000000000000000, 0x8000000000000000,            # ±0
    0x0000000000000001, 0x8000000000000001,            # ±smallest subnormal
    0x000FFFFFFFFFFFFF, 0x800FFFFFFFFFFFFF,            # ±largest subnormal
    0x0008000000000000, 0x8000000123456789,            # subnormals
    0x0010000000000000, 0x8010000000000000,            # ±smallest normal
    0x7FEFFFFFFFFFFFFF, 0xFFEFFFFFFFFFFFFF,            # ±max double
    0x7FF0000000000000, 0xFFF0000000000000,            # ±inf
    0x7FF8000000000000, 0xFFF8000000000000,            # ±quiet NaN
    0x7FF0000000000001, 0xFFF4000000000123,            # signalling NaNs with payloads
], dtype=np.uint64)


def probe_inputs(fmt, rng):
    """float64 inputs for ``fmt``: ties and neighbours of the codes, random values, specials.

    * every ``(k + j/8) * 2**-F`` (j = -8..8: exact quanta, half-quanta ties and
      the points between) for k at 0, ±1, the limits and one past them,
      ±2**W, and 40 random k within twice the range (rounded to float64
      when 8k+j needs more than 53 bits);
    * 300 random bit patterns (every magnitude, some NaN/inf), 300 random
      values within 2**8 of the format's range;
    * ±0, subnormals, ±smallest normal, ±max double, ±inf, NaNs.
    """
    w, f = fmt.width, fmt.frac_bits
    lo, hi = fmt.min_int, fmt.max_int
    ks = {0, 1, -1, 2, -2, 3, hi, hi - 1, hi + 1, hi + 2, lo, lo - 1, lo + 1, lo - 2,
          2**w - 1, 2**w, 2**w + 1, -(2**w), -(2**w) + 1, -(2**w) - 1, 2**(w - 1), -(2**(w - 1)) - 1,
          2**(w + 1) + 3, -(2**(w + 1)) - 5, 3 * 2**w + 2**(w - 1)}
    span = min(w + 1, 62)
    ks |= {int(v) for v in rng.integers(-(2**span), 2**span, 40)}
    ns = np.array([8 * k + j for k in sorted(ks) for j in range(-8, 9)], dtype=np.float64)
    with np.errstate(over="ignore", under="ignore"):
        grid = np.ldexp(ns, -f - 3)
    sign = rng.integers(0, 2, 300).astype(np.uint64) << np.uint64(63)
    random_bits = (rng.integers(0, 2**63, 300, dtype=np.int64).view(np.uint64) | sign).view(np.float64)
    top = fmt.int_bits
    e = rng.integers(max(-1074, top - w - 8), min(1020, top + 8), 300)
    near = np.ldexp(rng.uniform(-2, 2, 300), e)
    return np.concatenate([grid, random_bits, near, _SPECIAL_BITS.view(np.float64)])
