"""The thread control: results are bit-identical for any number of threads; the API checks its input."""

from __future__ import annotations

import os

import numpy as np
import pytest

import numfmt as nf
from numfmt import _threads
from numfmt.formats.block import BLOCKS

# random bit patterns include signalling NaNs (and values above float16), which NumPy's casts report
pytestmark = [pytest.mark.filterwarnings("ignore:invalid value encountered in cast:RuntimeWarning"),
              pytest.mark.filterwarnings("ignore:overflow encountered in cast:RuntimeWarning")]

SEED = 15
N = 3 * _threads.MIN_CHUNK + 12345          # enough for three chunks, not a multiple of any


def edge_floats(n: int, rng) -> np.ndarray:
    """float32 values reaching NaN, ±inf, subnormals, ties and saturation, then random bit patterns."""
    f32 = np.finfo(np.float32)
    edges = np.array([np.nan, -np.nan, np.inf, -np.inf, 0.0, -0.0, f32.smallest_subnormal, -f32.max, f32.max,
                      1.0625, 1.1875, -2.125, 464.0, 480.0, -1e6, 2.0 ** -10, 2.0 ** -10 * 1.5, 1e-40],
                     dtype=np.float32)
    x = rng.integers(0, 1 << 32, size=n, dtype=np.uint64).astype(np.uint32).view(np.float32)
    x[: n // 2] = (rng.standard_normal(n // 2) * 100).astype(np.float32)
    x[rng.integers(0, n, size=4 * edges.size)] = np.tile(edges, 4)      # spread over every chunk
    return x


def same_bits(a, b):
    a, b = np.asarray(a), np.asarray(b)
    assert a.dtype == b.dtype and a.shape == b.shape
    if a.dtype.kind == "f":
        a, b = a.view(f"u{a.itemsize}"), b.view(f"u{b.itemsize}")
    np.testing.assert_array_equal(a, b)


def run_with(threads, fn):
    with nf.threads(threads):
        return fn()


@pytest.mark.parametrize("name, rounding", [("e4m3fn", None)] + [
    pytest.param(*case, marks=pytest.mark.slow)          # further compiled variants: slow when cold
    for case in (("e5m2", "rtz"), ("e3m2", "rna"), ("bf16", None), ("fp16", "ceil"))])
def test_float_encode_decode_identical_for_any_thread_count(name, rounding):
    rng = np.random.default_rng(SEED)
    fmt = nf.parse(name)
    for x in (edge_floats(N, rng), edge_floats(N, rng).astype(np.float64), edge_floats(N, rng).astype(np.float16)):
        one = run_with(1, lambda: fmt.encode(x, rounding))
        for t in (2, 3):
            codes = run_with(t, lambda: fmt.encode(x, rounding))
            same_bits(codes, one)
            same_bits(run_with(t, lambda: fmt.decode(codes)), run_with(1, lambda: fmt.decode(one)))


def test_stochastic_rounding_identical_for_any_thread_count():
    """One random number per element in C order, whichever chunk the element falls in."""
    x = edge_floats(N, np.random.default_rng(SEED))
    fmt = nf.parse("e4m3fn")
    one = run_with(1, lambda: fmt.encode(x, "stochastic", rng=7))
    same_bits(run_with(3, lambda: fmt.encode(x, "stochastic", rng=7)), one)
    fixed = nf.parse("ap_fixed<8,3,AP_RND_CONV,AP_SAT>")
    same_bits(run_with(3, lambda: fixed.encode(x, "stochastic", rng=7)),
              run_with(1, lambda: fixed.encode(x, "stochastic", rng=7)))


@pytest.mark.parametrize("name", ["ap_fixed<8,3,AP_RND_CONV,AP_SAT>"] + [
    pytest.param(name, marks=pytest.mark.slow) for name in ("ap_fixed<12,4,AP_TRN,AP_WRAP>", "int8")])
def test_fixed_encode_identical_for_any_thread_count(name):
    rng = np.random.default_rng(SEED)
    fmt = nf.parse(name)
    for x in (edge_floats(N, rng).astype(np.float64), edge_floats(N, rng)):
        one = run_with(1, lambda: fmt.encode(x))
        same_bits(run_with(2, lambda: fmt.encode(x)), one)
        same_bits(run_with(3, lambda: fmt.encode(x)), one)


@pytest.mark.parametrize("name", ["mxfp8_e4m3", "mxint8"])
def test_mx_quantize_identical_for_any_thread_count(name):
    """Blocks, their exponents and the listed (non-table) elements of every chunk."""
    rng = np.random.default_rng(SEED)
    x = edge_floats(N - N % 96, rng).reshape(-1, 96)       # rows of three blocks
    x[::7, 5] = 1e-42                                        # subnormal elements in many chunks
    fmt = BLOCKS[name]
    one = run_with(1, lambda: fmt.encode(x))
    for t in (2, 3):
        enc = run_with(t, lambda: fmt.encode(x))
        same_bits(enc.scales, one.scales)
        same_bits(enc.elements, one.elements)
        same_bits(run_with(t, lambda: fmt.quantize(x)), run_with(1, lambda: fmt.quantize(x)))


def test_default_is_the_cores_this_process_may_use():
    assert nf.get_threads() == len(os.sched_getaffinity(0)) == _threads.available_cores()


def test_set_threads_and_nested_scopes():
    try:
        nf.set_threads(3)
        assert nf.get_threads() == 3
        with nf.threads(1):
            assert nf.get_threads() == 1
            with nf.threads(5):
                assert nf.get_threads() == 5
            assert nf.get_threads() == 1
        assert nf.get_threads() == 3
    finally:
        nf.set_threads(None)
    assert nf.get_threads() == _threads.available_cores()


def test_chunks_cover_the_range_in_order():
    with nf.threads(4):
        assert _threads.chunks(10, min_chunk=1) == [(0, 2), (2, 5), (5, 7), (7, 10)]
        assert _threads.chunks(10, min_chunk=4) == [(0, 5), (5, 10)]     # at most total // min_chunk pieces
        assert _threads.chunks(3, min_chunk=4) == [(0, 3)]
        assert _threads.chunks(0) == [(0, 0)]


@pytest.mark.parametrize("bad", [0, -1, 1.5, True, "2", None])
def test_bad_thread_counts_raise(bad):
    with pytest.raises(ValueError, match=f"threads must be an integer ≥ 1, not {bad!r}"):
        with nf.threads(bad):
            pass
    if bad is not None:             # set_threads(None) restores the default
        with pytest.raises(ValueError, match="threads must be an integer ≥ 1"):
            nf.set_threads(bad)


def test_a_forked_child_gets_a_working_pool():
    """The parent's pool threads do not exist after fork; the child must not wait on them."""
    multiprocessing = pytest.importorskip("multiprocessing")
    if "fork" not in multiprocessing.get_all_start_methods():
        pytest.skip("no fork on this platform")
    x = edge_floats(N, np.random.default_rng(SEED))
    fmt = nf.parse("e4m3fn")
    with nf.threads(2):
        want = fmt.encode(x)                                 # the parent's pool now has a thread
        with multiprocessing.get_context("fork").Pool(1) as pool:
            got = pool.apply_async(_encode_in_child, (x,)).get(timeout=120)
    same_bits(got, want)


def _encode_in_child(x):
    with nf.threads(2):
        return nf.parse("e4m3fn").encode(x)
