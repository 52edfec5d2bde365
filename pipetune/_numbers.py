"""The one check for "is this a number" on values users hand in (objective returns, reported
and logged values, Hyperopt losses)."""

from __future__ import annotations

import numbers
from typing import Any

_SHOWN_LENGTH = 80


def real_number(value: Any) -> float | None:
    """A real number (numpy and torch scalars included) as a float; None for anything else,
    bools too, and for ints beyond the float range (``10**400``), which no float can hold."""
    if hasattr(value, "item") and getattr(value, "ndim", 0) == 0:
        value = value.item()
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        return None
    try:
        return float(value)
    except OverflowError:
        return None


def shown(value: Any) -> str:
    """``repr(value)`` for an error message, cut to a readable length; an int too long to
    print (Python refuses more than 4300 digits) is described by its size."""
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 256:
        return f"an int of about {int(value.bit_length() * 0.30103) + 1} digits"
    text = repr(value)
    return text if len(text) <= _SHOWN_LENGTH else f"{text[:_SHOWN_LENGTH - 3]}..."
