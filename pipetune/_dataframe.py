"""Trials as a pandas DataFrame: one row per trial, one column per field, param and attr."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import TYPE_CHECKING

from pipetune._imports import require
from pipetune.datatypes import FrozenTrial, StudyDirection

if TYPE_CHECKING:
    import pandas

# The default columns in their order: identity and outcome, timings, then params and user attrs.
DEFAULT_ATTRS = ("number", "value", "state", "datetime_start", "datetime_complete", "duration",
                 "params", "user_attrs")
KNOWN_ATTRS = DEFAULT_ATTRS + ("system_attrs", "intermediate_values", "worker")


_GROUPS = ("params_", "user_attrs_", "system_attrs_", "intermediate_values_")


def _column_order(column: str) -> tuple:
    """Grouped columns by group, then by name; intermediate values by step as a number."""
    group = next(i for i, prefix in enumerate(_GROUPS) if column.startswith(prefix))
    suffix = column[len(_GROUPS[group]):]
    return (group, int(suffix) if suffix.isdigit() else 0, suffix)


def trials_dataframe(trials: Sequence[FrozenTrial], directions: Sequence[StudyDirection],
                     attrs: Collection[str] | None = None) -> pandas.DataFrame:
    """Builds the DataFrame behind ``Study.trials_dataframe`` (see there)."""
    pandas = require("pandas", "pandas")
    from pipetune.errors import InvalidArgumentError

    attrs = DEFAULT_ATTRS if attrs is None else tuple(attrs)
    unknown = [a for a in attrs if a not in KNOWN_ATTRS]
    if unknown:
        raise InvalidArgumentError(
            f"Unknown trials_dataframe attrs {unknown}. Choose from {list(KNOWN_ATTRS)}.")
    multi = len(directions) > 1
    rows = []
    for trial in trials:
        row: dict = {}
        for attr in attrs:
            if attr == "number":
                row["number"] = trial.number
            elif attr == "value":
                if multi:
                    for i in range(len(directions)):
                        row[f"values_{i}"] = None if trial.values is None else trial.values[i]
                else:
                    row["value"] = None if trial.values is None else trial.values[0]
            elif attr == "state":
                row["state"] = trial.state.name
            elif attr in ("datetime_start", "datetime_complete", "duration", "worker"):
                row[attr] = getattr(trial, attr)
            elif attr == "intermediate_values":
                row.update({f"intermediate_values_{step}": v
                            for step, v in trial.intermediate_values.items()})
            else:  # params, user_attrs, system_attrs
                row.update({f"{attr}_{key}": v for key, v in getattr(trial, attr).items()})
        rows.append(row)
    frame = pandas.DataFrame(rows)
    if frame.empty:
        return frame
    # Keep the fixed columns first, then the per-name ones sorted so tables are stable.
    fixed = [c for c in frame.columns if not any(c.startswith(p) for p in
             ("params_", "user_attrs_", "system_attrs_", "intermediate_values_"))]
    grouped = sorted(set(frame.columns) - set(fixed), key=_column_order)
    return frame[fixed + grouped]
