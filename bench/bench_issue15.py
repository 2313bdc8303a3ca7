"""Issue 15's table in one run: numfmt against its peers, measured in the same process.

    python bench/bench_issue15.py [--repeat 3] [--n 16777216] [--mx 4096] [--mm 256]

Prints one row per line of the issue's table — the figures, the ratio, the
goal and whether this run meets it — after the versions of the peers and the
machine's core count. Every peer result is compared with numfmt's (bit
equality, printed as ``equal``); a row whose outputs differ is marked.

Threads: "all cores" rows use numfmt's default (``numfmt.get_threads()``, the
cores this process may use); single-thread rows run under
``numfmt.threads(1)``. APyTypes and BLAS are pinned to one thread (set before
they load), as in ``bench_matmul.py``; ml_dtypes and gfloat are serial.
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform

for _var in ("APYTYPES_THREAD_COUNT", "OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import numpy as np  # noqa: E402

import numfmt as nf  # noqa: E402
from _timing import best_time  # noqa: E402

ROWS = []


def row(operation, figures, ratio, goal, met, equal=True):
    ROWS.append((operation, figures, ratio, goal, met, equal))
    flag = "MET" if met and equal else ("NOT MET" if equal else "OUTPUTS DIFFER")
    print(f"- {operation}\n    {figures}\n    ratio {ratio}; goal {goal}: {flag}", flush=True)


def versions():
    from importlib.metadata import PackageNotFoundError, version
    out = {}
    out["numfmt"] = nf.__version__
    for name in ("numpy", "numba", "ml_dtypes", "apytypes", "gfloat"):
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = "not installed"
    return out


def scalar_cast(n, repeat, rng):
    import ml_dtypes
    fmt = nf.parse("e4m3fn")
    x = (rng.standard_normal(n) * 50).astype(np.float32)
    equal = np.array_equal(fmt.encode(x), x.astype(ml_dtypes.float8_e4m3fn).view(np.uint8))
    all_cores = n / best_time(lambda: fmt.encode(x), repeat)
    with nf.threads(1):
        one = n / best_time(lambda: fmt.encode(x), repeat)
    peer = n / best_time(lambda: x.astype(ml_dtypes.float8_e4m3fn), repeat)
    u8 = n / best_time(lambda: x.astype(np.uint8), repeat)
    row(f"float32 -> e4m3fn codes (n={n:,})",
        f"numfmt {all_cores / 1e6:.0f} M/s on {nf.get_threads()} threads, {one / 1e6:.0f} M/s on 1; "
        f"ml_dtypes astype {peer / 1e6:.0f} M/s; float32 -> uint8 astype {u8 / 1e6:.0f} M/s",
        f"{all_cores / peer:.1f}x ml_dtypes (all cores); {one / u8:.2f} of the uint8 astype (1 thread)",
        ">= 10x ml_dtypes with all cores; >= 0.60 of the uint8 astype single-threaded",
        all_cores / peer >= 10 and one / u8 >= 0.6, equal)


def mx_quantize(size, repeat, rng):
    from bench_mx import GFLOAT, gfloat_vectorised
    from gfloat import formats as gf
    x = (rng.standard_normal((size, size)) * np.exp2(rng.integers(-8, 8, size=(size, 1)))).astype(np.float32)
    for name, attr in GFLOAT.items():
        fmt, fi = nf.BLOCKS[name], getattr(gf, attr)
        with nf.threads(1):
            one = x.size / best_time(lambda: fmt.quantize(x), repeat)
            general = x.size / best_time(lambda: fmt.decode(fmt.encode(x.astype(np.float64))), 1)
        all_cores = x.size / best_time(lambda: fmt.quantize(x), repeat)
        peer = x.size / best_time(lambda: gfloat_vectorised(fi, x), 1)
        equal = np.array_equal(gfloat_vectorised(fi, x), fmt.quantize(x))
        row(f"MX quantize {name} ({size}x{size} float32)",
            f"numfmt {one / 1e6:.0f} M/s on 1 thread, {all_cores / 1e6:.0f} M/s on {nf.get_threads()} "
            f"(the general NumPy path, on float64 input: {general / 1e6:.0f} M/s); "
            f"gfloat vectorised {peer / 1e6:.1f} M/s",
            f"{one / peer:.0f}x gfloat (1 thread)", ">= 500 M elem/s single-threaded", one >= 500e6, equal)


def matmul_rows(n, repeat, rng):
    import dataclasses

    import apytypes as apy
    from numfmt.arith import ExactAccumulator, FloatAccumulator, block_matmul, matmul
    e4m3 = nf.FLOATS["e4m3fn"]
    A = e4m3.quantize(rng.normal(size=(n, n)) * 8)
    B = e4m3.quantize(rng.normal(size=(n, n)) * 8)
    xa = apy.APyFixedArray.from_float(A, int_bits=10, frac_bits=9)
    xb = apy.APyFixedArray.from_float(B, int_bits=10, frac_bits=9)
    exact = lambda: matmul(A, B, ExactAccumulator(), a_format=e4m3, b_format=e4m3)   # noqa: E731
    t_ours = best_time(exact, repeat)
    t_nochk = best_time(lambda: matmul(A, B, ExactAccumulator()), repeat)
    t_apy = best_time(lambda: (xa @ xb).to_numpy(), repeat)
    equal = np.array_equal(exact(), (xa @ xb).to_numpy())
    row(f"{n}^3 e4m3fn matmul, exact (1 thread)",
        f"numfmt {t_ours * 1e3:.2f} ms with operand checks ({t_nochk * 1e3:.2f} ms without); "
        f"APyTypes exact fixed-point @ {t_apy * 1e3:.2f} ms",
        f"{t_apy / t_ours:.2f}x APyTypes", ">= 2x APyTypes' exact fixed-point matmul, checks included",
        t_apy / t_ours >= 2, equal)

    fa = nf.BLOCKS["mxfp8_e4m3"]
    fb = dataclasses.replace(fa, axis=0)
    CA = fa.encode(rng.standard_normal((n, n)))
    CB = fb.encode(rng.standard_normal((n, n)))
    DA, DB = CA.decode(), CB.decode()
    t_dec = best_time(lambda: matmul(DA, DB, ExactAccumulator()), repeat)
    t_blk = best_time(lambda: block_matmul(CA, CB), repeat)
    equal = np.array_equal(block_matmul(CA, CB), matmul(DA, DB, ExactAccumulator()))
    row(f"{n}^3 mxfp8_e4m3 block_matmul (exact)",
        f"numfmt block_matmul {t_blk * 1e3:.2f} ms; exact matmul of the decoded operands {t_dec * 1e3:.2f} ms",
        f"{t_blk / t_dec:.1f}x the decoded matmul", "<= 2x the exact matmul of decoded operands",
        t_blk / t_dec <= 2, equal)

    # e4m3fn operands: every product (≤ 8 significant bits) is exact in bf16, so APyTypes, which
    # rounds each product to the accumulator's format, computes the same sums as numfmt
    bf16 = nf.FLOATS["bf16"]
    Ab, Bb = A, B
    aa = apy.APyFloatArray.from_float(Ab, exp_bits=4, man_bits=3, bias=7)
    ab = apy.APyFloatArray.from_float(Bb, exp_bits=4, man_bits=3, bias=7)

    def apy_acc():
        with apy.APyFloatAccumulatorContext(exp_bits=8, man_bits=7):
            return (aa @ ab).to_numpy()

    ours = lambda: matmul(Ab, Bb, FloatAccumulator(bf16), a_format=e4m3, b_format=e4m3)  # noqa: E731
    macs = n ** 3
    t_ours = best_time(ours, repeat)
    t_apy = best_time(apy_acc, 1)
    equal = np.array_equal(ours(), apy_acc())
    row(f"generic FloatAccumulator, bf16 register, {n}^3 e4m3fn matmul (1 thread)",
        f"numfmt {t_ours / macs * 1e9:.2f} ns per multiply-add; APyTypes accumulator context "
        f"{t_apy / macs * 1e9:.2f} ns",
        f"{15e-9 / (t_ours / macs):.1f}x the issue's 15 ns; {t_apy / t_ours:.1f}x APyTypes",
        ">= 5x faster than 15 ns (<= 3 ns), >= 20x APyTypes",
        t_ours / macs <= 3e-9 and t_apy / t_ours >= 20, equal)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="timed runs per figure; the best is kept")
    parser.add_argument("--n", type=int, default=1 << 24, help="elements of the scalar cast")
    parser.add_argument("--mx", type=int, default=4096, help="side of the MX tensor")
    parser.add_argument("--mm", type=int, default=256, help="side of the matrix products")
    args = parser.parse_args(argv)
    for key in ("repeat", "n", "mx", "mm"):
        if getattr(args, key) < 1:
            parser.error(f"--{key} must be ≥ 1, not {getattr(args, key)}")
    v = versions()
    print(f"issue 15 benchmark, {datetime.date.today()}, {platform.processor() or platform.machine()}, "
          f"{os.cpu_count()} cores, numfmt threads {nf.get_threads()}")
    print("versions: " + ", ".join(f"{k} {val}" for k, val in v.items()))
    rng = np.random.default_rng(0)
    scalar_cast(args.n, args.repeat, rng)
    mx_quantize(args.mx, args.repeat, rng)
    matmul_rows(args.mm, args.repeat, rng)
    met = sum(1 for r in ROWS if r[4] and r[5])
    print(f"\n{met} of {len(ROWS)} goals met in this run")


if __name__ == "__main__":
    main()
