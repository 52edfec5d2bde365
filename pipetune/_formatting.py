"""How values are written for people and other tools: a table or CSV cell, a duration, strict
JSON. Shared by the ``pipetune`` command's reports and the dashboard's CSV download, so both
show one value the same way."""

from __future__ import annotations

import datetime as dt
import json
import math
from typing import Any


def json_safe(value: Any) -> Any:
    """``value`` with datetimes as ISO strings and non-finite floats as null, so the output
    is strict JSON any tool can read."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dt.datetime):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    return value


def format_duration(seconds: float) -> str:
    """A duration as a person reads it: ``12.5ms``, ``42.1s``, ``3m04s``, ``1h02m03s``."""
    if seconds < 1:
        return f"{seconds * 1000:.3g}ms"
    if seconds < 60:
        return f"{seconds:.3g}s"
    minutes, secs = divmod(int(round(seconds)), 60)
    if minutes < 60:
        return f"{minutes}m{secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m{secs:02d}s"


def format_cell(value: Any, compact: bool = True) -> str:
    """One table or CSV cell. ``compact`` (tables) rounds floats to 6 significant digits and
    shows durations and datetimes for reading; otherwise (CSV) values keep full precision."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, float):
        return f"{value:.6g}" if compact else repr(value)
    if isinstance(value, dt.timedelta):
        return format_duration(value.total_seconds()) if compact else repr(value.total_seconds())
    if isinstance(value, dt.datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S") if compact else value.isoformat()
    if isinstance(value, (list, tuple, dict)):
        return json.dumps(json_safe(value), separators=(",", ":"))
    return str(value)
