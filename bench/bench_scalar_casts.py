"""Scalar format casts: numfmt against ml_dtypes and APyTypes, in one process.

    python bench/bench_scalar_casts.py [--n 16777216] [--repeat 5]

Prints elements per second, the ratio of numfmt to each peer, and each rate
as a fraction of this machine's memory-copy rate for the same input array.
Single thread: numfmt's kernels are serial; APyTypes is pinned to one thread.
Each peer's output is compared with numfmt's codes (exactness, not just speed).

Cases
-----
1. float32 -> e4m3fn codes: ``fmt.encode(x)`` vs ``x.astype(ml_dtypes.float8_e4m3fn)``
   vs ``APyFloatArray.from_float(x, 4, 3, 7)`` (APyTypes' E4M3 has IEEE-style
   inf/NaN, so its codes differ from e4m3fn's above 240; compared below 240).
2. float64 -> ap_fixed<8,3,AP_RND_CONV,AP_SAT> codes: ``fmt.encode(x)`` vs
   APyTypes ``from_float`` (exact, 52 fraction bits) then ``cast`` with
   RND_CONV/SAT (APyTypes' own ``from_float`` rounds RND_INF with WRAP only).
"""

from __future__ import annotations

import argparse
import os

os.environ.setdefault("APYTYPES_THREAD_COUNT", "1")

import numpy as np  # noqa: E402

import numfmt as nf  # noqa: E402
from _timing import best_time  # noqa: E402


def _copy_rate(x, repeat):
    dst = np.empty_like(x)
    return x.size / best_time(lambda: np.copyto(dst, x), repeat)


def _report(title, x, rates, repeat):
    copy = _copy_rate(x, repeat)
    ours = rates["numfmt"]
    print(f"\n{title}  (n={x.size:,}, input {x.dtype})")
    print(f"  {'memory copy':<22} {copy / 1e6:9.0f} M elem/s")
    for name, rate in rates.items():
        ratio = "" if name == "numfmt" else f"   numfmt is {ours / rate:6.1f}x"
        print(f"  {name:<22} {rate / 1e6:9.0f} M elem/s   {rate / copy:5.2f} of copy{ratio}")


def bench_minifloat(n, repeat, rng):
    import ml_dtypes
    fmt = nf.parse("e4m3fn")
    x = (rng.standard_normal(n) * 50).astype(np.float32)
    ours = fmt.encode(x)
    assert np.array_equal(ours, x.astype(ml_dtypes.float8_e4m3fn).view(np.uint8)), "ml_dtypes differs"
    rates = {"numfmt": n / best_time(lambda: fmt.encode(x), repeat),
             "ml_dtypes astype": n / best_time(lambda: x.astype(ml_dtypes.float8_e4m3fn), repeat)}
    try:
        import apytypes as apy
    except ImportError:
        print("APyTypes not installed: skipped")
    else:
        a = np.asarray(apy.APyFloatArray.from_float(x, exp_bits=4, man_bits=3, bias=7).to_bits())
        small = np.abs(x) < 240
        assert np.array_equal(a[small].astype(np.uint8), ours[small]), "APyTypes differs below 240"
        rates["APyTypes from_float"] = n / best_time(
            lambda: apy.APyFloatArray.from_float(x, exp_bits=4, man_bits=3, bias=7), repeat)
    _report("float32 -> e4m3fn", x, rates, repeat)
    return rates


def bench_fixed(n, repeat, rng):
    fmt = nf.parse("ap_fixed<8,3,AP_RND_CONV,AP_SAT>")
    x = rng.standard_normal(n) * 3
    rates = {"numfmt": n / best_time(lambda: fmt.encode(x), repeat)}
    try:
        import apytypes as apy
    except ImportError:
        print("APyTypes not installed: skipped")
    else:
        def apy_cast():
            wide = apy.APyFixedArray.from_float(x, int_bits=12, frac_bits=52)
            return wide.cast(int_bits=3, frac_bits=5, quantization=apy.QuantizationMode.RND_CONV,
                             overflow=apy.OverflowMode.SAT)
        assert np.array_equal(np.asarray(apy_cast().to_bits()).astype(np.uint8), fmt.encode(x)), \
            "APyTypes differs"
        rates["APyTypes from_float+cast"] = n / best_time(apy_cast, repeat)
    _report("float64 -> ap_fixed<8,3,AP_RND_CONV,AP_SAT>", x, rates, repeat)
    return rates


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1 << 24, help="elements per array")
    parser.add_argument("--repeat", type=int, default=5, help="timed runs; the best is kept")
    args = parser.parse_args(argv)
    if args.n < 1 or args.repeat < 1:
        parser.error(f"--n and --repeat must be ≥ 1, not {args.n} and {args.repeat}")
    rng = np.random.default_rng(0)
    bench_minifloat(args.n, args.repeat, rng)
    bench_fixed(args.n, args.repeat, rng)


if __name__ == "__main__":
    main()
