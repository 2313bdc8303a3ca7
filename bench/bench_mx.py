"""MX block quantization: numfmt against gfloat, in one process.

    python bench/bench_mx.py [--rows 4096] [--cols 4096] [--repeat 3] [--gfloat-blocks 512]

Quantizes (encode + decode) a rows×cols float32 tensor, blocks of 32 along the
last axis, to mxfp8_e4m3, mxfp4 and mxint8, and prints elements per second and
the ratio of numfmt to each gfloat path. Single thread.

gfloat 0.5 paths
----------------
* ``quantize_block``: gfloat's block API (``compute_scale_amax`` then
  ``encode_block``/``decode_block``). It works on one block at a time with a
  Python loop over elements, so it is timed on the first ``--gfloat-blocks``
  blocks only and its rate is per element of that subset.
* ``round_ndarray``: gfloat has no vectorised block API, so this path is
  composed here from gfloat's vectorised pieces: per-block scales computed
  as ``compute_scale_amax`` does (``floor(log2(amax)) - emax`` in NumPy,
  clipped to ±127), then ``round_ndarray(etype, x / scale, sat=True)`` on the
  whole tensor, times the scale. Timed on the full tensor.

Both gfloat results are compared with numfmt's ``quantize`` (values must be
equal; the conventions agree on finite float32 input, see
tests/numfmt/formats/test_block_reference.py).
"""

from __future__ import annotations

import argparse

import numpy as np

from _timing import best_time

from numfmt.formats.block import BLOCKS

GFLOAT = {"mxfp8_e4m3": "format_info_mxfp8_e4m3", "mxfp4": "format_info_mxfp4_e2m1",
          "mxint8": "format_info_mxint8"}


def gfloat_vectorised(fi, x):
    import gfloat
    xb = x.astype(np.float64).reshape(x.shape[0], -1, fi.k)
    amax = np.abs(xb).max(axis=-1, keepdims=True)
    with np.errstate(divide="ignore"):
        e = np.where(amax == 0, -127.0, np.clip(np.floor(np.log2(amax)) - fi.etype.emax, -127, 127))
    scale = 2.0 ** e
    q = gfloat.round_ndarray(fi.etype, xb / scale, sat=True)
    return (q * scale).reshape(x.shape)


def gfloat_blocks(fi, x, nblocks):
    import gfloat
    flat = x.astype(np.float64).reshape(-1, fi.k)[:nblocks]
    return np.stack([gfloat.quantize_block(fi, b, gfloat.compute_scale_amax) for b in flat])


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rows", type=int, default=4096)
    ap.add_argument("--cols", type=int, default=4096)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--gfloat-blocks", type=int, default=512)
    args = ap.parse_args()
    from gfloat import formats as gf

    rng = np.random.default_rng(0)
    x = (rng.standard_normal((args.rows, args.cols))
         * np.exp2(rng.integers(-8, 8, size=(args.rows, 1)))).astype(np.float32)
    print(f"MX quantize (encode + decode), {args.rows}x{args.cols} float32, blocks of 32 on the last axis")
    for name, attr in GFLOAT.items():
        fmt, fi = BLOCKS[name], getattr(gf, attr)
        t_ours = best_time(lambda: fmt.quantize(x), args.repeat)
        ours = x.size / t_ours
        ref = fmt.quantize(x)
        t_vec = best_time(lambda: gfloat_vectorised(fi, x), max(1, args.repeat - 2))
        vec = x.size / t_vec
        same_vec = np.array_equal(gfloat_vectorised(fi, x), ref)
        nb = args.gfloat_blocks
        t_blk = best_time(lambda: gfloat_blocks(fi, x, nb), 1)
        blk = nb * 32 / t_blk
        same_blk = np.array_equal(gfloat_blocks(fi, x, nb), ref.reshape(-1, 32)[:nb])
        print(f"\n{name}")
        print(f"  numfmt                      {ours / 1e6:9.2f} M elem/s")
        print(f"  gfloat round_ndarray (vec)  {vec / 1e6:9.2f} M elem/s   numfmt is {ours / vec:8.1f}x"
              f"   equal: {same_vec}")
        print(f"  gfloat quantize_block       {blk / 1e6:9.4f} M elem/s   numfmt is {ours / blk:8.0f}x"
              f"   equal: {same_blk}   (first {nb} blocks)")
    block_matmul_timing(rng, args.repeat)


def block_matmul_timing(rng, repeat):
    """256x256x256 mxfp8_e4m3 product computed block by block (numfmt.arith.block_matmul)."""
    import dataclasses
    import numfmt as nf
    from numfmt.arith import ExactAccumulator, FloatAccumulator, block_matmul, matmul
    fa = BLOCKS["mxfp8_e4m3"]
    fb = dataclasses.replace(fa, axis=0)
    A = fa.encode(rng.standard_normal((256, 256)))
    B = fb.encode(rng.standard_normal((256, 256)))
    fp32 = FloatAccumulator(nf.FLOATS["fp32"])
    print("\nblock_matmul 256x256x256 mxfp8_e4m3 (element dot per block of 32, then scale)")
    t_dec = best_time(lambda: matmul(A.decode(), B.decode(), ExactAccumulator()), repeat)
    for label, acc in (("exact", None), ("fp32 over blocks", fp32)):
        t = best_time(lambda: block_matmul(A, B, acc), repeat)
        print(f"  {label:<18} {t * 1e3:8.2f} ms   ({t / t_dec:.1f}x decode-then-exact-matmul)")


if __name__ == "__main__":
    main()
