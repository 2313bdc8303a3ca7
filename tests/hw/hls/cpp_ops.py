"""Build a test program from ops.h / ap_ops.h instantiations and run its operations.

``Program(["numfmt_test::decode_all<T>", ...])`` compiles one executable (cached by
``numfmt.hw.hls.compile_program``); ``program.run(k, inputs, out_dtypes)`` runs operation
``k`` on the given arrays and returns its output arrays.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np

from numfmt.hw.hls import _gxx, cpp_int_type, cpp_type

HERE = Path(__file__).resolve().parent
ROUNDING_CODE = {r: i for i, r in enumerate(["rne", "rna", "rnp", "rnm", "rnz", "floor", "ceil", "rtz", "rta"])}


def why_unavailable(ap: bool = False) -> str | None:
    """A reason to skip (g++ or ap_types missing), or None."""
    try:
        _gxx.gxx()
    except _gxx.GxxError as exc:
        return str(exc)
    if ap and _gxx.ap_types_dir() is None:
        return "hls4ml's ap_types headers are not installed"
    return None


def T(fmt) -> str:
    return cpp_type(fmt)


class Program:
    def __init__(self, ops, *, ap: bool = False):
        self.ops = list(ops)
        include = '#include "ap_ops.h"\n' if ap else '#include "ops.h"\n'
        table = ",\n    ".join(f"&{op}" for op in self.ops)
        main = (f"{include}\nstatic const numfmt_test::op_fn OPS[] = {{\n    {table}\n}};\n\n"
                "int main(int argc, char** argv) {\n"
                f"    return numfmt_test::run_main(argc, argv, OPS, {len(self.ops)});\n}}\n")
        sources = {"main.cpp": main, "ops.h": (HERE / "ops.h").read_text()}
        if ap:
            sources["ap_ops.h"] = (HERE / "ap_ops.h").read_text()
        self.exe = _gxx.compile_program(sources, name="hls_ops", ap_types=ap)

    def run(self, op: int, inputs, out_dtypes):
        """Run operation ``op``; ``inputs`` are arrays written in order; returns the outputs."""
        with tempfile.TemporaryDirectory() as tmp:
            src, dst = Path(tmp) / "in.bin", Path(tmp) / "out.bin"
            with open(src, "wb") as fh:
                for arr in inputs:
                    arr = np.ascontiguousarray(arr).reshape(-1)
                    np.array([arr.size], dtype=np.int64).tofile(fh)
                    arr.tofile(fh)
            _gxx.run(self.exe, [op, src, dst])
            data = dst.read_bytes()
        out, pos = [], 0
        for dt in out_dtypes:
            n = int(np.frombuffer(data, dtype=np.int64, count=1, offset=pos)[0])
            pos += 8
            out.append(np.frombuffer(data, dtype=dt, count=n, offset=pos).copy())
            pos += n * np.dtype(dt).itemsize
        if pos != len(data):
            raise RuntimeError(f"operation {op} wrote {len(data)} bytes, read {pos}")
        return out


def rounding_arg(name: str) -> np.ndarray:
    return np.array([ROUNDING_CODE[name]], dtype=np.int64)
