"""Quantized inference on the digits workload, and the time of a full sweep.

    python bench/bench_nn.py [--repeat 3] [--skip-sweep]

1. Throughput (test images per second) of bit-exact quantized inference of the digits
   MLP and CNN for one format per family, against the same network in float64 NumPy
   in the same process (ratio = quantized time / float time).
2. Wall time of the default ``numfmt sweep`` grid on the MLP (every family at 3–8 bits,
   weight-only and W=A, RTN and GPTQ: ≥ 100 points). Target: under 2 minutes on 2 cores.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from _timing import best_time

from numfmt.flow import sweep
from numfmt import nn

FORMATS = ["int8", "int4", "fp8_e4m3", "fp4_e2m1", "ap_fixed<8,1,AP_RND_CONV,AP_SAT>", "mxint8",
           "mxfp4"]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--skip-sweep", action="store_true")
    args = ap.parse_args()
    x_train, _, x_test, y_test = nn.digits_data()
    for label, model in (("mlp", nn.digits_mlp()), ("cnn", nn.digits_cnn())):
        shape = (-1,) + tuple(model.input_shape)
        xc, xt = x_train[:512].reshape(shape), x_test.reshape(shape)
        t_float = best_time(lambda: model.forward(xt), args.repeat)
        print(f"\n{label}: {len(xt)} test images; float64 {len(xt) / t_float:10.0f} images/s "
              f"(accuracy {100 * nn.accuracy(model, xt, y_test):.2f}%)")
        for name in FORMATS:
            q = nn.quantize(model, nn.QConfig(weight=name, act=name), xc)
            t = best_time(lambda: q.forward(xt), args.repeat)
            print(f"  W=A {name:<34} {len(xt) / t:10.0f} images/s  {t / t_float:7.1f}x float"
                  f"   accuracy {100 * nn.accuracy(q, xt, y_test):6.2f}%")
    if args.skip_sweep:
        return
    pts = sweep.points(methods=("rtn", "gptq"))
    t0 = time.perf_counter()
    records = sweep.run(pts, "mlp")
    dt = time.perf_counter() - t0
    print(f"\nfull sweep of the digits MLP: {len(records)} points in {dt:.1f} s "
          f"({dt / len(records):.2f} s per point; target: under 120 s)")


if __name__ == "__main__":
    main()
