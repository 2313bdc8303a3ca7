"""Linear-feedback shift registers: the random source of stochastic rounding in hardware.

A hardware stochastic rounder takes its random bits from an LFSR, not from a PRNG.
:class:`LFSR` is that register as a :class:`numpy.random.Generator`: each draw of
``integers(0, 2**k, size=n)`` steps the register once per element and returns the low
``k`` bits of each new state, so

>>> import numpy as np, numfmt as nf
>>> fmt = nf.parse("e2m1fn")
>>> fmt.encode(np.full(6, 0.25), "stochastic", rng=LFSR(8, seed=1), sr_bits=4).tolist()
[0, 0, 0, 1, 1, 1]

rounds exactly as a converter whose ``rand`` input is fed by the same register
(``hw.rtl.WithLfsr``), code for code.

Definition (Galois form, shifting right): with a ``width``-bit state ``s`` (never 0) and
the feedback mask ``T`` of a primitive polynomial of degree ``width``, one step is

    ``s' = (s >> 1) ^ (T if s & 1 else 0)``

The default masks (:data:`TAPS`, the maximal-length taps of Xilinx XAPP052) give the
period ``2**width − 1``: every nonzero state once.
"""

from __future__ import annotations

import numba
import numpy as np

from ._checks import check_int

__all__ = ["LFSR", "TAPS"]

#: maximal-length taps per width (bit positions 1..width of the feedback polynomial)
TAPS = {
    2: (2, 1), 3: (3, 2), 4: (4, 3), 5: (5, 3), 6: (6, 5), 7: (7, 6), 8: (8, 6, 5, 4), 9: (9, 5),
    10: (10, 7), 11: (11, 9), 12: (12, 6, 4, 1), 13: (13, 4, 3, 1), 14: (14, 5, 3, 1), 15: (15, 14),
    16: (16, 15, 13, 4), 17: (17, 14), 18: (18, 11), 19: (19, 6, 2, 1), 20: (20, 17), 21: (21, 19),
    22: (22, 21), 23: (23, 18), 24: (24, 23, 22, 17), 25: (25, 22), 26: (26, 6, 2, 1),
    27: (27, 5, 2, 1), 28: (28, 25), 29: (29, 27), 30: (30, 6, 4, 1), 31: (31, 28), 32: (32, 22, 2, 1),
}


@numba.njit(cache=True)
def _run(state, mask, n):
    out = np.empty(n, dtype=np.uint64)
    s = state
    for i in range(n):
        s = (s >> np.uint64(1)) ^ (mask if s & np.uint64(1) else np.uint64(0))
        out[i] = s
    return out


class LFSR(np.random.Generator):
    """A ``width``-bit Galois LFSR, usable wherever numfmt takes ``rng``.

    Parameters
    ----------
    width : int
        State bits, 2..32.
    seed : int
        Initial (reset) state, 1..2**width − 1.
    taps : tuple of int, optional
        Feedback taps (positions 1..width, ``width`` included); default :data:`TAPS`.
        Other taps may not be maximal-length.

    Examples
    --------
    >>> r = LFSR(4, seed=1)
    >>> r.states(5).tolist(), r.mask
    ([12, 6, 3, 13, 10], 12)
    >>> r.integers(0, 4, size=3).tolist()          # low 2 bits of the next 3 states
    [1, 2, 3]
    """

    def __init__(self, width: int, seed: int = 1, *, taps=None):
        super().__init__(np.random.PCG64(0))
        self.width = check_int("width", width, 2, 32)
        self.seed = check_int("seed", seed, 1, (1 << self.width) - 1)
        taps = TAPS[self.width] if taps is None else taps
        if (not isinstance(taps, (tuple, list)) or self.width not in taps
                or any(isinstance(t, bool) or not isinstance(t, (int, np.integer)) or not 1 <= t <= self.width
                       for t in taps)):
            raise ValueError(f"taps must be positions in 1..{self.width} including {self.width}, not {taps!r}")
        self.taps = tuple(int(t) for t in taps)
        #: the feedback mask ``T``: bit ``t − 1`` for each tap ``t``
        self.mask = sum(1 << (t - 1) for t in set(self.taps))
        self.state = self.seed

    def step(self, state: int) -> int:
        """The state after ``state`` (one step, no change to this register)."""
        return (state >> 1) ^ (self.mask if state & 1 else 0)

    def states(self, n: int) -> np.ndarray:
        """Step ``n`` times; the ``n`` new states (uint64), in order."""
        n = check_int("n", n, 0)
        out = _run(np.uint64(self.state), np.uint64(self.mask), n)
        if n:
            self.state = int(out[-1])
        return out

    def integers(self, low, high=None, size=None, dtype=np.int64, endpoint=False):
        """The low ``k`` bits of the next states, for ``integers(0, 2**k, size)`` (``k ≤ width``).

        One step per element (C order); other ranges raise ``ValueError``.
        """
        if high is None or endpoint or low != 0 or high < 2 or high & (high - 1) or high > 1 << self.width:
            raise ValueError(f"an LFSR of width {self.width} draws integers(0, 2**k) with 1 ≤ k ≤ "
                             f"{self.width}, not integers({low}, {high}, endpoint={endpoint})")
        n = 1 if size is None else int(np.prod(size))
        bits = self.states(n) & np.uint64(high - 1)
        return bits.astype(dtype).reshape(() if size is None else size)

    def __repr__(self) -> str:
        return f"LFSR(width={self.width}, seed={self.seed}, taps={self.taps}, state={self.state})"

    __str__ = __repr__
