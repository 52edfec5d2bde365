"""The one check for "is this a number" on values users hand in (objective returns, reported
and logged values, Hyperopt losses)."""

from __future__ import annotations

import numbers
from typing import Any


def real_number(value: Any) -> float | None:
    """A real number (numpy and torch scalars included) as a float; None for anything else,
    bools too."""
    if hasattr(value, "item") and getattr(value, "ndim", 0) == 0:
        value = value.item()
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        return None
    return float(value)
