"""What the dashboard shows, computed from a study's trials: study cards, table rows, sort keys,
the CSV export and trial details, all as JSON-ready data.

Kept apart from the routes (``pipetune.server.dashboard``) so each piece is plain computation
over ``FrozenTrial`` tuples, testable without HTTP. ``metrics`` arguments map a trial number to
the last value of each of its tracked metrics (``Study.last_metrics``). Floats JSON cannot hold
travel as the strings of ``pipetune.storage.remote.encode_float`` ("NaN", "Infinity",
"-Infinity"); datetimes as ISO 8601 strings with their UTC offset (the storage's naive
datetimes are this machine's local time); durations as seconds.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from types import MappingProxyType
from typing import Any

from pipetune._best import best_trial_of, pareto_front
from pipetune._formatting import format_cell
from pipetune.datatypes import FrozenTrial, StudyDirection, TrialState
from pipetune.storage.remote import encode_float

# trial number -> metric name -> its last value
LastMetrics = Mapping[int, Mapping[str, float]]
NO_METRICS: LastMetrics = MappingProxyType({})

__all__ = ["NO_METRICS", "LastMetrics", "csv_of", "last_activity", "names_of", "plain",
           "study_card", "study_start", "study_state", "study_version", "table_row",
           "trial_detail"]

def plain(value: Any) -> Any:
    """``value`` as strict JSON: non-finite floats as strings, datetimes as ISO strings,
    tuples as lists, anything else unknown as its ``str``."""
    if isinstance(value, float):
        return encode_float(value)
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, dt.datetime):
        return (value if value.tzinfo else value.astimezone()).isoformat()
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    return str(value)


def _seconds(trial: FrozenTrial) -> float | None:
    span = trial.duration
    return None if span is None else span.total_seconds()


def last_activity(trial: FrozenTrial) -> dt.datetime | None:
    """When a trial last changed as far as the storage records times: its end, else its start."""
    return trial.datetime_complete or trial.datetime_start


def study_state(counts: Counter) -> str:
    """``running`` while trials run or wait, ``empty`` with no trial, else ``finished``."""
    if counts[TrialState.RUNNING] or counts[TrialState.WAITING]:
        return "running"
    return "finished" if sum(counts.values()) else "empty"


def _best_json(trials: Sequence[FrozenTrial],
               directions: Sequence[StudyDirection]) -> dict[str, Any] | None:
    """The best trial of one objective, or the size and members of the Pareto front."""
    if len(directions) == 1:
        best = best_trial_of(trials, directions)
        if best is None:
            return None
        return {"trial_id": best.trial_id, "number": best.number,
                "values": plain(best.values), "params": plain(best.params)}
    front = pareto_front(trials, directions)
    if not front:
        return None
    return {"pareto_front": [{"trial_id": t.trial_id, "number": t.number,
                              "values": plain(t.values)} for t in front[:50]],
            "n_pareto": len(front)}


def study_start(created: dt.datetime | None, trials: Iterable[FrozenTrial]
                ) -> dt.datetime | None:
    """When a study started: its creation time where the storage records one
    (``StudySummary.datetime_start``), else the earliest start of its trials."""
    if created is not None:
        return created
    return min((t.datetime_start for t in trials if t.datetime_start is not None), default=None)


def study_card(study_id: int, study_name: str, directions: Sequence[StudyDirection],
               trials: Sequence[FrozenTrial], experiment: str | None,
               created: dt.datetime | None = None,
               with_best_params: bool = False) -> dict[str, Any]:
    """One study as the studies list and the study page show it: identity, state, counts per
    state, best trial (or Pareto front), start (``study_start`` of ``created``) and last
    activity, and a ``version`` that changes whenever anything shown about the trials does
    (the page polls it to refresh)."""
    counts = Counter(t.state for t in trials)
    moments = [m for m in map(last_activity, trials) if m is not None]
    best = _best_json(trials, directions)
    if best is not None and not with_best_params:
        best.pop("params", None)
    return {
        "study_id": study_id,
        "study_name": study_name,
        "experiment": experiment,
        "directions": [d.name.lower() for d in directions],
        "state": study_state(counts),
        "n_trials": len(trials),
        "states": {state.name: counts[state] for state in TrialState},
        "best": best,
        "datetime_start": plain(study_start(created, trials)),
        "last_activity": plain(max(moments)) if moments else None,
        "version": study_version(trials),
    }


def study_version(trials: Sequence[FrozenTrial]) -> str:
    """A token that changes whenever a trial is added, starts, finishes or reports a step:
    finished trials never change, so these counts cover what the dashboard shows."""
    finished = running = running_steps = 0
    for trial in trials:
        if trial.state.is_finished():
            finished += 1
        else:
            running += trial.state == TrialState.RUNNING
            running_steps += len(trial.intermediate_values)
    return f"{len(trials)}.{finished}.{running}.{running_steps}"


def names_of(trials: Iterable[FrozenTrial], metrics: LastMetrics = NO_METRICS
             ) -> dict[str, list[str]]:
    """The param, user-attr and metric names that occur in ``trials``, sorted: the table's
    columns."""
    params: set[str] = set()
    attrs: set[str] = set()
    for trial in trials:
        params.update(trial.params)
        attrs.update(trial.user_attrs)
    names: set[str] = set()
    for last in metrics.values():
        names.update(last)
    return {"params": sorted(params), "user_attrs": sorted(attrs), "metrics": sorted(names)}


def table_row(trial: FrozenTrial, metrics: LastMetrics = NO_METRICS) -> dict[str, Any]:
    """One row of the trials table."""
    return {
        "trial_id": trial.trial_id,
        "number": trial.number,
        "state": trial.state.name,
        "values": plain(trial.values),
        "params": plain(trial.params),
        "user_attrs": plain(trial.user_attrs),
        "metrics": plain(metrics.get(trial.number, {})),
        "duration": _seconds(trial),
        "datetime_start": plain(trial.datetime_start),
        "datetime_complete": plain(trial.datetime_complete),
        "last_step": trial.last_step,
    }


def csv_of(trials: Sequence[FrozenTrial], directions: Sequence[StudyDirection],
           metrics: LastMetrics = NO_METRICS) -> str:
    """The trials as CSV text: number, state, value(s), times, then one column per param,
    user attr and metric (``params_NAME``, ``user_attrs_NAME``, ``metrics_NAME``: its last
    value), full precision."""
    names = names_of(trials, metrics)
    objectives = (["value"] if len(directions) == 1
                  else [f"values_{i}" for i in range(len(directions))])
    header = (["number", "state", *objectives, "datetime_start", "datetime_complete",
               "duration"] + [f"params_{n}" for n in names["params"]]
              + [f"user_attrs_{n}" for n in names["user_attrs"]]
              + [f"metrics_{n}" for n in names["metrics"]])
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    for t in trials:
        values = list(t.values) if t.values is not None else [None] * len(objectives)
        row = [t.number, t.state.name, *values, t.datetime_start, t.datetime_complete,
               t.duration, *(t.params.get(n) for n in names["params"]),
               *(t.user_attrs.get(n) for n in names["user_attrs"]),
               *(metrics.get(t.number, {}).get(n) for n in names["metrics"])]
        writer.writerow([format_cell(v, compact=False) for v in row])
    return out.getvalue()


def trial_detail(trial: FrozenTrial, study_id: int, study_name: str,
                 directions: Sequence[StudyDirection],
                 metric_history: Iterable[Any] = ()) -> dict[str, Any]:
    """Everything the trial page shows about a trial: the table row plus the distributions,
    every attr, the intermediate values, the worker and each metric's series (from
    ``metric_history``, ``MetricPoint``s) as ``[step, value]`` pairs."""
    series: dict[str, list] = {}
    for point in metric_history:
        series.setdefault(point.name, []).append([point.step, plain(point.value)])
    last = {name: points[-1][1] for name, points in series.items()}
    return {
        **table_row(trial),
        "metrics": last,
        "metric_history": series,
        "study_id": study_id,
        "study_name": study_name,
        "directions": [d.name.lower() for d in directions],
        "distributions": {name: type(d).__name__.replace("Distribution", "").lower()
                          for name, d in trial.distributions.items()},
        "system_attrs": plain(trial.system_attrs),
        "intermediate_values": [[step, plain(value)] for step, value
                                in sorted(trial.intermediate_values.items())],
        "worker": trial.worker,
    }
