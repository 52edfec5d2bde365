"""Trials as a pandas DataFrame: one row per trial, one column per field, param and attr.

Columns come in the order of ``attrs``. A field holding one value is one column (``number``,
``state`` by name, ``duration``...); one holding several is a column per key, sorted:
``params_<name>``, ``user_attrs_<key>``, ``system_attrs_<key>``, ``distributions_<name>``,
``intermediate_values_<step>`` and ``values_<i>`` (``values_<metric name>`` once the study's
objectives are named, in their order). With ``multi_index`` the columns are the pairs behind
those names, ``("params", "lr")``, ``("number", "")``.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import TYPE_CHECKING, Any

from pipetune._imports import require
from pipetune.datatypes import FrozenTrial, StudyDirection
from pipetune.errors import InvalidArgumentError

if TYPE_CHECKING:
    import pandas

# The default columns: identity and outcome, timings, params and user attrs, state (Optuna's
# order). System attrs hold pipetune's bookkeeping (failure reasons, tracebacks, sampler
# state), so they are shown only when asked for.
DEFAULT_ATTRS = ("number", "value", "datetime_start", "datetime_complete", "duration",
                 "params", "user_attrs", "state")
_ONE_VALUE = ("number", "state", "datetime_start", "datetime_complete", "duration", "worker",
              "trial_id", "last_step")
_BY_KEY = ("params", "user_attrs", "system_attrs", "intermediate_values", "distributions")
KNOWN_ATTRS = _ONE_VALUE + _BY_KEY + ("value", "values")


def _cells(trial: FrozenTrial, attr: str, n_objectives: int,
           metric_names: Sequence[str] | None) -> dict[tuple[str, Any], Any]:
    """The cells of one trial for one attr, keyed by (attr, key); key "" for a single one."""
    if attr in ("value", "values") and (attr == "values" or n_objectives > 1):
        keys: Sequence[Any] = metric_names or range(n_objectives)
        values = trial.values or (None,) * n_objectives
        return {("values", key): value for key, value in zip(keys, values)}
    if attr == "value":
        value = None if trial.values is None else trial.values[0]
        return {("value", metric_names[0] if metric_names else ""): value}
    if attr == "state":
        return {("state", ""): trial.state.name}
    if attr in _BY_KEY:
        return {(attr, key): value for key, value in getattr(trial, attr).items()}
    return {(attr, ""): getattr(trial, attr)}


def trials_dataframe(trials: Sequence[FrozenTrial], directions: Sequence[StudyDirection],
                     attrs: Collection[str] | None = None, *, multi_index: bool = False,
                     metric_names: Sequence[str] | None = None) -> pandas.DataFrame:
    """Builds the DataFrame behind ``Study.trials_dataframe`` (see the module docstring);
    Optuna's spelling ``_trial_id`` of ``trial_id`` is taken too."""
    pandas = require("pandas", "pandas")
    attrs = DEFAULT_ATTRS if attrs is None else tuple(
        "trial_id" if attr == "_trial_id" else attr for attr in attrs)
    unknown = [a for a in attrs if a not in KNOWN_ATTRS]
    if unknown:
        raise InvalidArgumentError(
            f"Unknown trials_dataframe attrs {unknown}. Choose from {list(KNOWN_ATTRS)}.")
    if not trials:
        return pandas.DataFrame()
    records = []
    keys_of: dict[str, dict[Any, None]] = {attr: {} for attr in attrs}  # keys seen, in order
    for trial in trials:
        record: dict[tuple[str, Any], Any] = {}
        for attr in attrs:
            cells = _cells(trial, attr, len(directions), metric_names)
            record.update(cells)
            keys_of[attr].update(dict.fromkeys(cells))
        records.append(record)
    columns: list[tuple[str, Any]] = []
    for attr, seen in keys_of.items():
        # Named objectives keep the order of their names; other keys are sorted.
        named = attr in ("value", "values") and metric_names
        columns.extend(seen if named else sorted(seen, key=lambda column: column[1]))
    frame = pandas.DataFrame(records, columns=pandas.MultiIndex.from_tuples(columns))
    if not multi_index:
        frame.columns = ["_".join(str(part) for part in column if part != "")
                         for column in columns]
    return frame
