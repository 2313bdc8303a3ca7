"""numfmt.lfsr.LFSR: maximal length for every width (brute force ≤ 16 bits, GF(2) algebra
to 32), the Numba stepping equals a Python loop, and draws feed stochastic rounding."""

import numpy as np
import pytest

import numfmt as nf
from numfmt.lfsr import LFSR, TAPS


def _python_states(width, seed, n):
    mask = sum(1 << (t - 1) for t in TAPS[width])
    s, out = seed, []
    for _ in range(n):
        s = (s >> 1) ^ (mask if s & 1 else 0)
        out.append(s)
    return out


@pytest.mark.parametrize("width", range(2, 17))
def test_every_nonzero_state_once(width):
    states = LFSR(width, seed=1).states((1 << width) - 1)
    assert sorted(states.tolist()) == list(range(1, 1 << width))      # period 2**w − 1
    assert int(states[-1]) == 1


def _prime_factors(n):
    out, p = [], 2
    while p * p <= n:
        if n % p == 0:
            out.append(p)
            while n % p == 0:
                n //= p
        p += 1
    return out + ([n] if n > 1 else [])


def _matrix_power(columns, k, width):
    """``A**k`` of the GF(2) matrix given by its columns (ints), by repeated squaring."""
    def apply(cols, v):
        r = 0
        for j in range(width):
            if v >> j & 1:
                r ^= cols[j]
        return r

    result = [1 << j for j in range(width)]
    base = list(columns)
    while k:
        if k & 1:
            result = [apply(base, c) for c in result]
        base = [apply(base, c) for c in base]
        k >>= 1
    return result


@pytest.mark.parametrize("width", range(2, 33))
def test_taps_are_maximal_length(width):
    """The step is a linear map A; maximal length ⇔ A has order exactly 2**w − 1."""
    r = LFSR(width)
    columns = [r.step(1 << j) for j in range(width)]
    identity = [1 << j for j in range(width)]
    period = (1 << width) - 1
    assert _matrix_power(columns, period, width) == identity
    for q in _prime_factors(period):
        assert _matrix_power(columns, period // q, width) != identity


@pytest.mark.parametrize("width, seed", [(3, 5), (16, 0xACE1), (24, 1), (32, 0xDEADBEEF)])
def test_states_match_a_python_loop_and_continue(width, seed):
    r = LFSR(width, seed=seed)
    first, second = r.states(700), r.states(300)
    assert (first.tolist() + second.tolist()) == _python_states(width, seed, 1000)
    assert r.state == int(second[-1])


def test_integers_are_low_bits_of_the_next_states():
    r, ref = LFSR(16, seed=7), LFSR(16, seed=7)
    got = r.integers(0, 1 << 5, size=(3, 4))
    assert got.shape == (3, 4) and got.dtype == np.int64
    assert got.reshape(-1).tolist() == [s & 31 for s in _python_states(16, 7, 12)]
    assert int(r.integers(0, 2)) == ref.states(13)[-1] & 1


class _Given(np.random.Generator):
    """Returns the given integers from its one draw."""

    def __init__(self, values):
        super().__init__(np.random.PCG64(0))
        self.values = values

    def integers(self, low, high=None, size=None, dtype=np.int64, endpoint=False):
        return np.asarray(self.values, dtype=dtype).reshape(size)


def test_stochastic_rounding_with_an_lfsr():
    """encode draws one state per element: the same as handing it the states' low bits."""
    x = np.linspace(-3.0, 3.0, 257)
    fmt = nf.parse("e2m1fn")
    got = fmt.encode(x, "stochastic", rng=LFSR(12, seed=99), sr_bits=6)
    rand = np.array(_python_states(12, 99, x.size)) & 63
    assert np.array_equal(got, fmt.encode(x, "stochastic", rng=_Given(rand), sr_bits=6))


@pytest.mark.parametrize("kwargs, message", [
    ({"width": 1}, r"width must be in 2..32, not 1"),
    ({"width": 8, "seed": 0}, r"seed must be in 1..255, not 0"),
    ({"width": 8, "seed": 256}, r"seed must be in 1..255, not 256"),
    ({"width": 8, "taps": (7, 3)}, r"taps must be positions in 1..8 including 8, not \(7, 3\)"),
    ({"width": 8, "taps": (8, 9)}, r"taps must be positions in 1..8 including 8"),
])
def test_errors(kwargs, message):
    with pytest.raises(ValueError, match=message):
        LFSR(**kwargs)


def test_draw_errors():
    r = LFSR(8)
    for args, kw in [((0, 3), {}), ((1, 4), {}), ((0, 512), {}), ((0, 4), {"endpoint": True}), ((4,), {})]:
        with pytest.raises(ValueError, match=r"an LFSR of width 8 draws integers\(0, 2\*\*k\) with 1 ≤ k ≤ 8"):
            r.integers(*args, **kw)
