"""sim._bench: the pause generator of the driver and monitor (the rest runs in test_check)."""

import pytest

from numfmt.sim._bench import Pauses


def test_pauses_are_seeded():
    def draw(seed):
        gen = Pauses(0.3, seed=seed)
        return [gen.next() for _ in range(10000)]     # spans several refills of the buffer

    assert draw(5) == draw(5)
    assert draw(5) != draw(6)


@pytest.mark.parametrize("p", [0.1, 0.5, 0.9])
def test_pause_rate(p):
    gen = Pauses(p, seed=1)
    n = 20000
    k = sum(gen.next() for _ in range(n))
    # binomial: within 6 standard deviations
    assert abs(k - n * p) < 6 * (n * p * (1 - p)) ** 0.5


def test_no_pauses():
    gen = Pauses(0.0, seed=1)
    assert not any(gen.next() for _ in range(1000))
