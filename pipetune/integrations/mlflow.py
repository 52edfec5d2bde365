"""MLflow export: a study becomes a parent run, each trial a nested child run.

For teams that already read their experiments in MLflow. pipetune keeps everything itself; this
module copies it, live during ``optimize`` (``MLflowCallback``) or afterwards
(``export_study``, ``pipetune export mlflow STUDY --tracking-uri URI``)::

    study.optimize(objective, n_trials=50,
                   callbacks=[MLflowCallback(tracking_uri="sqlite:///mlflow.db")])

The MLflow experiment is the study's pipetune experiment unless ``experiment_name`` says
otherwise. The parent run holds the study's settings (sampler and pruner with their seeds,
directions, budget; user, git commit and command as MLflow's own ``mlflow.*`` tags) and its best
value. A child run holds its trial's params, value(s) (``value``, or ``value_0``, ``value_1``...),
intermediate values (the metric ``intermediate_value`` by step), logged metric series, user
attrs (tags ``user_attrs.NAME``, JSON), state (tag ``pipetune.state`` and the run status) and
artifacts.

Exporting is idempotent: runs carry the tags ``pipetune.study``, ``pipetune.role`` and
``pipetune.trial``, and are looked up before anything is created. A trial already exported in
its current state is skipped; one exported while still running is replaced once it finished.
"""

from __future__ import annotations

import json
import os
import tempfile
import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from pipetune._attrs import (
    ENVIRONMENT_ATTR,
    FAIL_REASON_ATTR,
    OPTIMIZE_ATTR,
    PRUNER_ATTR,
    SAMPLER_ATTR,
    experiment_of,
)
from pipetune._imports import require
from pipetune.datatypes import FrozenTrial, TrialState

if TYPE_CHECKING:
    from pipetune.study import Study

mlflow = require("mlflow", "mlflow")
from mlflow.entities import Metric, Param  # noqa: E402
from mlflow.tracking import MlflowClient  # noqa: E402

__all__ = ["MLflowCallback", "export_study"]

STUDY_TAG = "pipetune.study"
ROLE_TAG = "pipetune.role"
TRIAL_TAG = "pipetune.trial"
STATE_TAG = "pipetune.state"
PARENT_TAG = "mlflow.parentRunId"  # MLflow's own nesting tag

_STATUS = {TrialState.COMPLETE: "FINISHED", TrialState.FAIL: "FAILED",
           TrialState.PRUNED: "KILLED"}
# MLflow refuses batches above these sizes.
_MAX_PARAMS, _MAX_METRICS, _MAX_TAGS = 100, 1000, 100
_MAX_TAG_LENGTH = 5000


def _ms(value: Any) -> int | None:
    return None if value is None else int(value.timestamp() * 1000)


def _quote(value: str) -> str:
    """A string literal of MLflow's filter language."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _text(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    return text[:_MAX_TAG_LENGTH]


def _chunks(items: Sequence[Any], size: int) -> list[Sequence[Any]]:
    return [items[i:i + size] for i in range(0, len(items), size)]


class _Exporter:
    """Finds or creates the runs of one study in one MLflow tracking store. Given
    ``parent_run_id``, that run (one the caller owns, such as ``mlflow.active_run()``'s)
    stands for the study: trials become its children and it is never ended here."""

    def __init__(self, tracking_uri: str | None, experiment_name: str | None,
                 parent_run_id: str | None = None) -> None:
        self._client = MlflowClient(tracking_uri=tracking_uri)
        self._experiment_name = experiment_name
        self._lock = threading.Lock()
        self._experiment_id: str | None = None
        self._parent_id: str | None = None
        self._children: dict[int, tuple[str, str]] | None = None  # number -> (run id, state)
        self._owns_parent = parent_run_id is None
        if parent_run_id is not None:
            self._experiment_id = self._client.get_run(parent_run_id).info.experiment_id
            self._parent_id = parent_run_id

    # -- the parent run ------------------------------------------------------------------------

    def _experiment(self, study: Study) -> str:
        if self._experiment_id is None:
            name = self._experiment_name or experiment_of(study.system_attrs)
            found = self._client.get_experiment_by_name(name)
            self._experiment_id = (found.experiment_id if found is not None
                                   else self._client.create_experiment(name))
        return self._experiment_id

    def _search(self, experiment_id: str, filter_string: str) -> list[Any]:
        runs: list[Any] = []
        token: str | None = None
        while True:
            page = self._client.search_runs([experiment_id], filter_string, max_results=1000,
                                            page_token=token)
            runs.extend(page)
            token = page.token
            if not token:
                return runs

    def parent(self, study: Study) -> str:
        """The study's parent run id, created (with its settings) on first export."""
        with self._lock:
            if self._parent_id is not None and self._children is not None:
                return self._parent_id
            experiment_id = self._experiment(study)
            if self._parent_id is None:
                found = self._search(
                    experiment_id, f"tags.\"{STUDY_TAG}\" = {_quote(study.study_name)}"
                                   f" and tags.\"{ROLE_TAG}\" = 'study'")
                if found:
                    self._parent_id = found[0].info.run_id
                else:
                    self._parent_id = self._create_parent(study, experiment_id)
            self._children = {
                int(run.data.tags[TRIAL_TAG]): (run.info.run_id, run.data.tags.get(STATE_TAG, ""))
                for run in self._search(
                    experiment_id, f"tags.\"{STUDY_TAG}\" = {_quote(study.study_name)} and "
                                   f"tags.\"{ROLE_TAG}\" = 'trial' and "
                                   f"tags.\"{PARENT_TAG}\" = {_quote(self._parent_id)}")}
            return self._parent_id

    def _create_parent(self, study: Study, experiment_id: str) -> str:
        attrs = study.system_attrs
        environment = attrs.get(ENVIRONMENT_ATTR) or {}
        tags = {STUDY_TAG: study.study_name, ROLE_TAG: "study",
                "pipetune.directions": ",".join(d.name.lower() for d in study.directions)}
        for tag, key in (("mlflow.user", "user"), ("mlflow.source.git.commit", "git_commit"),
                         ("pipetune.host", "host"), ("pipetune.git_dirty", "git_dirty")):
            if environment.get(key) is not None:
                tags[tag] = _text(environment[key])
        if environment.get("command"):
            tags["mlflow.source.name"] = _text(" ".join(environment["command"]))
        for key, value in study.user_attrs.items():
            tags[f"user_attrs.{key}"] = _text(value)
        start = min((t.datetime_start for t in study.trials if t.datetime_start), default=None)
        run = self._client.create_run(experiment_id, start_time=_ms(start), tags=tags,
                                      run_name=study.study_name)
        params = {}
        for key in (SAMPLER_ATTR, PRUNER_ATTR):
            described = attrs.get(key)
            if described:
                params[key] = described["class"].rsplit(".", 1)[-1]
                if described.get("seed") is not None:
                    params[f"{key}.seed"] = described["seed"]
                for name, value in described.get("settings", {}).items():
                    params[f"{key}.{name}"] = value
        for name, value in (attrs.get(OPTIMIZE_ATTR) or {}).items():
            if name in ("n_trials", "timeout", "n_jobs") and value is not None:
                params[name] = value
        self._client.log_batch(run.info.run_id, params=[
            Param(k, _text(v)) for k, v in params.items()][:_MAX_PARAMS])
        return run.info.run_id

    def finish_parent(self, study: Study) -> None:
        """Logs the best value and trial count and marks the parent run finished."""
        parent_id = self.parent(study)
        trials = study.trials
        metrics = [Metric("n_trials", float(len(trials)), 0, 0)]
        if len(study.directions) == 1 and any(t.state == TrialState.COMPLETE for t in trials):
            metrics.append(Metric("best_value", study.best_value, 0, 0))
        self._client.log_batch(parent_id, metrics=metrics)
        end = max((t.datetime_complete for t in trials if t.datetime_complete), default=None)
        running = any(not t.state.is_finished() for t in trials)
        if not running and self._owns_parent:
            self._client.set_terminated(parent_id, "FINISHED", end_time=_ms(end))

    # -- child runs ----------------------------------------------------------------------------

    def export_trial(self, study: Study, trial: FrozenTrial) -> str | None:
        """Exports one trial as a child run; returns its run id (None when it was exported in
        this state already)."""
        parent_id = self.parent(study)
        with self._lock:
            children = self._children if self._children is not None else {}
            existing = children.get(trial.number)
            if existing is not None and existing[1] == trial.state.name:
                return None
            if existing is not None:  # exported while running: replace it
                self._client.delete_run(existing[0])
            children[trial.number] = ("", trial.state.name)  # no second export meanwhile
        run_id = self._create_child(study, parent_id, trial)
        with self._lock:
            children[trial.number] = (run_id, trial.state.name)
        return run_id

    def _create_child(self, study: Study, parent_id: str, trial: FrozenTrial) -> str:
        tags = {PARENT_TAG: parent_id, STUDY_TAG: study.study_name, ROLE_TAG: "trial",
                TRIAL_TAG: str(trial.number), STATE_TAG: trial.state.name}
        if trial.worker:
            tags["pipetune.worker"] = trial.worker
        for key, value in trial.user_attrs.items():
            tags[f"user_attrs.{key}"] = _text(value)
        if FAIL_REASON_ATTR in trial.system_attrs:
            tags["pipetune.fail_reason"] = _text(trial.system_attrs[FAIL_REASON_ATTR])
        run = self._client.create_run(self._experiment(study), start_time=_ms(trial.datetime_start),
                                      tags=tags, run_name=f"trial-{trial.number}")
        run_id = run.info.run_id
        end = _ms(trial.datetime_complete) or _ms(trial.datetime_start) or 0
        metrics: list[Metric] = []
        if trial.values is not None:
            names = (["value"] if len(trial.values) == 1
                     else [f"value_{i}" for i in range(len(trial.values))])
            metrics += [Metric(n, float(v), end, 0) for n, v in zip(names, trial.values)]
        start = _ms(trial.datetime_start) or 0
        for step, value in trial.intermediate_values.items():
            values = value if isinstance(value, tuple) else (value,)
            for i, each in enumerate(values):
                name = "intermediate_value" if len(values) == 1 else f"intermediate_value_{i}"
                metrics.append(Metric(name, float(each), start, step))
        metrics += [Metric(p.name, p.value, int(p.timestamp * 1000), p.step)
                    for p in study.metric_history(trial)]
        params = [Param(name, _text(value)) for name, value in trial.params.items()]
        for batch in _chunks(params, _MAX_PARAMS):
            self._client.log_batch(run_id, params=batch)
        for batch in _chunks(metrics, _MAX_METRICS):
            self._client.log_batch(run_id, metrics=batch)
        self._export_artifacts(study, trial, run_id)
        if trial.state in _STATUS:
            self._client.set_terminated(run_id, _STATUS[trial.state], end_time=end or None)
        return run_id

    def _export_artifacts(self, study: Study, trial: FrozenTrial, run_id: str) -> None:
        artifacts = study.list_artifacts(trial)
        if not artifacts:
            return
        with tempfile.TemporaryDirectory(prefix="pipetune-mlflow-") as folder:
            for info in artifacts:
                path = os.path.join(folder, *info.name.split("/"))
                os.makedirs(os.path.dirname(path), exist_ok=True)
                with open(path, "wb") as out:
                    out.write(study.read_artifact(trial, info.name))
            self._client.log_artifacts(run_id, folder)


class MLflowCallback:
    """Logs a study to MLflow while ``optimize`` runs: pass it in ``callbacks``. Each finished
    trial becomes a nested child run of the study's parent run (see the module docstring).

    Args:
        tracking_uri: MLflow's tracking URI (default: MLflow's own default, e.g.
            ``$MLFLOW_TRACKING_URI`` or ``./mlruns``).
        experiment_name: the MLflow experiment (default: the study's pipetune experiment).
        parent_run_id: a run of yours to nest the trials under instead of a parent run of
            the study's own, e.g. ``mlflow.active_run().info.run_id`` inside
            ``mlflow.start_run()``; it gets the metrics ``n_trials`` and ``best_value`` and
            is left for you to end.
    """

    def __init__(self, tracking_uri: str | None = None,
                 experiment_name: str | None = None, *,
                 parent_run_id: str | None = None) -> None:
        self._exporter = _Exporter(tracking_uri, experiment_name, parent_run_id)

    def __call__(self, study: Study, trial: FrozenTrial) -> None:
        self._exporter.export_trial(study, trial)
        self._exporter.finish_parent(study)


def export_study(study: Study, tracking_uri: str | None = None,
                 experiment_name: str | None = None) -> str:
    """Exports a study (typically finished) to MLflow and returns the parent run id. Running it
    again adds nothing for trials already exported in their current state."""
    exporter = _Exporter(tracking_uri, experiment_name)
    for trial in study.trials:
        exporter.export_trial(study, trial)
    exporter.finish_parent(study)
    return exporter.parent(study)

