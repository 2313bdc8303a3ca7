"""256×256×256 e4m3fn matmul: numfmt accumulators against APyTypes and NumPy (single thread).

(a) exact accumulation: numfmt ``ExactAccumulator`` (float64 BLAS, provably
    exact here) against APyTypes ``APyFloatArray @`` under
    ``APyFloatAccumulatorContext(exp_bits=11, man_bits=52)`` (exact for these
    operands: every sum fits 45 bits) and against ``APyFixedArray @`` on
    ``APyFixed(int_bits=10, frac_bits=9)`` operands (exact: the product and
    sum widths grow to 46 bits).
(b) sequential FP32-format accumulator: numfmt ``FloatAccumulator(fp32)``
    against APyTypes under ``APyFloatAccumulatorContext(exp_bits=8, man_bits=23)``.
NumPy float32 BLAS is shown for scale (its order and rounding are not a spec).

Run: ``python bench/bench_matmul.py`` (prints times, ratios and bit agreement).
"""

from __future__ import annotations

import os

for var in ("APYTYPES_THREAD_COUNT", "OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[var] = "1"

import time  # noqa: E402

import numpy as np  # noqa: E402

import numfmt as nf  # noqa: E402
from numfmt.arith import ExactAccumulator, FloatAccumulator, matmul  # noqa: E402


def best(fn, repeat=5):
    fn()
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return min(times), out


def main(n=256):
    import apytypes as apy

    e4m3, fp32 = nf.FLOATS["e4m3fn"], nf.FLOATS["fp32"]
    rng = np.random.default_rng(0)
    A = e4m3.quantize(rng.normal(size=(n, n)) * 8)
    B = e4m3.quantize(rng.normal(size=(n, n)) * 8)
    A32, B32 = A.astype(np.float32), B.astype(np.float32)
    aa = apy.APyFloatArray.from_float(A, exp_bits=4, man_bits=3, bias=7)
    ab = apy.APyFloatArray.from_float(B, exp_bits=4, man_bits=3, bias=7)
    xa = apy.APyFixedArray.from_float(A, int_bits=10, frac_bits=9)
    xb = apy.APyFixedArray.from_float(B, int_bits=10, frac_bits=9)

    def apy_float(eb, mb):
        def run():
            with apy.APyFloatAccumulatorContext(exp_bits=eb, man_bits=mb):
                return (aa @ ab).to_numpy()
        return run

    rows = []
    t_ex, c_ex = best(lambda: matmul(A, B, ExactAccumulator(), a_format=e4m3, b_format=e4m3))
    t_ex_nochk, _ = best(lambda: matmul(A, B, ExactAccumulator()))
    t_af, c_af = best(apy_float(11, 52), repeat=2)
    t_ax, c_ax = best(lambda: (xa @ xb).to_numpy())
    t_f32, c_f32 = best(lambda: matmul(A, B, FloatAccumulator(fp32), a_format=e4m3, b_format=e4m3))
    t_a32, c_a32 = best(apy_float(8, 23), repeat=2)
    t_np, c_np = best(lambda: A32 @ B32)
    print(f"{n}x{n}x{n} e4m3fn matmul, single thread (best of runs)")
    print(f"(a) exact    numfmt ExactAccumulator (with format checks) {t_ex * 1e3:9.2f} ms")
    print(f"             numfmt ExactAccumulator (no format checks)   {t_ex_nochk * 1e3:9.2f} ms")
    print(f"             APyTypes float acc (11, 52)                  {t_af * 1e3:9.2f} ms   "
          f"ratio {t_af / t_ex:7.1f}x   equal: {np.array_equal(c_ex, c_af)}")
    print(f"             APyTypes APyFixedArray (exact fixed point)   {t_ax * 1e3:9.2f} ms   "
          f"ratio {t_ax / t_ex:7.2f}x   equal: {np.array_equal(c_ex, c_ax)}")
    print(f"(b) fp32 seq numfmt FloatAccumulator(fp32)                {t_f32 * 1e3:9.2f} ms")
    print(f"             APyTypes float acc (8, 23)                   {t_a32 * 1e3:9.2f} ms   "
          f"ratio {t_a32 / t_f32:7.1f}x   equal: {np.array_equal(c_f32, c_a32)}")
    print(f"    NumPy float32 BLAS (unspecified order)                {t_np * 1e3:9.2f} ms   "
          f"equal to (b): {np.array_equal(c_f32, c_np.astype(np.float64))}")
    return rows


if __name__ == "__main__":
    main()
