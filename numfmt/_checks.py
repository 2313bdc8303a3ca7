"""Argument checks shared by the format and unit constructors.

Each raises ``ValueError`` naming the parameter and showing the value.
"""

from __future__ import annotations

import numpy as np


def check_int(name, value, lo=None, hi=None) -> int:
    """``value`` as an int; ``ValueError`` unless it is an integer in ``[lo, hi]``."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ValueError(f"{name} must be an integer, not {value!r}")
    value = int(value)
    if (lo is not None and value < lo) or (hi is not None and value > hi):
        bounds = f"≥ {lo}" if hi is None else f"in {lo}..{hi}"
        raise ValueError(f"{name} must be {bounds}, not {value}")
    return value


def check_bool(name, value) -> bool:
    """``value`` as a bool; ``ValueError`` unless it is True or False."""
    if not isinstance(value, (bool, np.bool_)):
        raise ValueError(f"{name} must be True or False, not {value!r}")
    return bool(value)
