"""Standalone runs: a training run outside any search (the final model, a baseline) tracked
with the same API as a trial, and listed beside the studies of its experiment.

A run is stored as a study of one trial whose system attr ``kind`` is ``"run"``: its params,
metrics, artifacts and attributes are that trial's, so search, the dashboard and the MLflow
exporter treat runs and trials alike.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Any

from pipetune._attrs import DEFAULT_EXPERIMENT, ENVIRONMENT_ATTR, KIND_ATTR, PARENT_ATTR, RUN_KIND
from pipetune.datatypes import ArtifactInfo, FrozenTrial, StudyDirection, TrialState
from pipetune.distributions import (
    CategoricalDistribution,
    Distribution,
    FloatDistribution,
    IntDistribution,
    contains_external,
)
from pipetune.environment import environment
from pipetune.errors import DuplicateStudyError, InvalidArgumentError

if TYPE_CHECKING:
    from pipetune.storage.base import BaseStorage
    from pipetune.study import Study
    from pipetune.trial import Trial

__all__ = ["Run", "start_run"]


def _fixed_domain(name: str, value: Any) -> Distribution:
    """The one-point domain a logged param is stored with."""
    if value is None or isinstance(value, (bool, str)):
        return CategoricalDistribution((value,))
    if isinstance(value, int):
        return IntDistribution(value, value)
    if isinstance(value, float) and math.isfinite(value):
        return FloatDistribution(value, value)
    raise InvalidArgumentError(
        f"The param {name!r} must be a str, bool, None, int or finite float. Got {value!r}: "
        "store other values with set_user_attr.")


class Run:
    """A standalone run: log params, metrics and artifacts, then ``end`` it (or use it as a
    context manager, which ends it COMPLETE, or FAIL when the block raises)."""

    def __init__(self, study: Study, trial: Trial) -> None:
        self.study = study
        self._trial = trial

    def __repr__(self) -> str:
        state = self._trial.finished_state
        return f"<Run {self.name!r} {'RUNNING' if state is None else state.name}>"

    @property
    def name(self) -> str:
        return self.study.study_name

    @property
    def trial(self) -> Trial:
        """The run's one trial: its params, metrics and artifacts are the run's."""
        return self._trial

    @property
    def trial_id(self) -> int:
        return self._trial.trial_id

    def log_param(self, name: str, value: Any,
                  distribution: Distribution | None = None) -> None:
        """Records a param (the setting of this run, e.g. the best trial's learning rate); with
        ``distribution``, in that domain, as a trial records it (give a trial's param its
        trial's domain, and the run reads like that trial wherever both are shown)."""
        if distribution is None:
            distribution = _fixed_domain(name, value)
        elif not contains_external(distribution, value):
            raise InvalidArgumentError(
                f"The value {value!r} of param {name!r} is outside the domain given for it, "
                f"{distribution!r}: log it without a domain, or with one that holds it.")
        self._trial.fix_param(name, value, distribution)

    def log_params(self, params: dict[str, Any]) -> None:
        for name, value in params.items():
            self.log_param(name, value)

    def set_user_attr(self, key: str, value: Any) -> None:
        self._trial.set_user_attr(key, value)

    def log_metric(self, name: str, value: float, step: int | None = None) -> None:
        self._trial.log_metric(name, value, step)

    def log_metrics(self, metrics: dict[str, float], step: int | None = None) -> None:
        self._trial.log_metrics(metrics, step)

    def log_artifact(self, path: str, name: str | None = None) -> ArtifactInfo:
        return self._trial.log_artifact(path, name)

    def log_text(self, text: str, name: str) -> ArtifactInfo:
        return self._trial.log_text(text, name)

    def log_figure(self, figure: Any, name: str) -> ArtifactInfo:
        return self._trial.log_figure(figure, name)

    def end(self, value: float | None = None,
            state: TrialState | str = "COMPLETE") -> FrozenTrial:
        """Ends the run (COMPLETE, or FAIL) with an optional objective ``value``; ending it
        again returns the stored record."""
        state = TrialState.parse(state)
        if state not in (TrialState.COMPLETE, TrialState.FAIL):
            raise InvalidArgumentError(f"A run ends COMPLETE or FAIL. Got {state.name}.")
        storage = self.study.run_interface.storage
        if self._trial.finished_state is None:  # not ended yet (also not by the study's tell)
            if value is not None and state == TrialState.COMPLETE:
                self.study.tell(self._trial, value)
            else:
                self._trial.flush()
                storage.finish_trial(self.trial_id, state, None)
                self._trial.mark_finished(state)
        return storage.get_trial(self.trial_id)

    def __enter__(self) -> Run:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        if self._trial.finished_state is None:
            self.end(state=TrialState.COMPLETE if error is None else TrialState.FAIL)


def start_run(experiment: str = DEFAULT_EXPERIMENT, name: str | None = None,
              storage: str | BaseStorage | None = None, *,
              directions: Sequence[str | StudyDirection] | None = None,
              params: dict[str, Any] | None = None, parent: str | None = None) -> Run:
    """Starts a standalone run in ``experiment``, recorded in ``storage``: by default the one
    the ``pipetune`` command reads (``$PIPETUNE_STORAGE``, else ``sqlite:///pipetune.db``), so
    ``pipetune experiments`` and the dashboard show it; pass ``InMemoryStorage()`` for a run
    that is not kept. The run is named ``name`` (default ``run-<random>``), or, when the
    storage already holds a study or run of that name, the first free ``<name>-2``,
    ``<name>-3``, ... (``Run.name`` says which): a script run twice records two runs. It
    records the environment (user, host, git commit, packages) as a study does.
    ``directions`` (default minimize) says how the run's value reads, e.g. those of the
    search whose best params it re-runs; ``params`` are fixed for the run's trial, as
    an enqueued trial's, so suggesting them returns exactly these values. ``parent`` names
    the study whose params the run re-runs: ``pipetune studies`` and the dashboard list the
    run under it."""
    from pipetune.storage import default_storage_url, get_storage
    from pipetune.study import create_study

    if parent is not None and not isinstance(parent, str):
        raise InvalidArgumentError(
            f"parent is the name of the study whose params the run re-runs, e.g. "
            f"parent=study.study_name. Got {parent!r}.")
    backend = get_storage(default_storage_url() if storage is None else storage)
    base = name if name is not None else f"run-{uuid.uuid4().hex[:12]}"
    number = 1
    while True:
        # The storage refuses a taken name in the creating transaction, so two processes
        # starting runs of one name at once never share one.
        try:
            study = create_study(storage=backend, study_name=base if number == 1
                                 else f"{base}-{number}", experiment=experiment,
                                 directions=directions)
            break
        except DuplicateStudyError:
            number += 1
    study_id = study.run_interface.study_id
    backend.set_study_attr(study_id, KIND_ATTR, RUN_KIND, system=True)
    backend.set_study_attr(study_id, ENVIRONMENT_ATTR, environment(), system=True)
    if parent is not None:
        backend.set_study_attr(study_id, PARENT_ATTR, parent, system=True)
    if params:
        study.enqueue_trial(dict(params))
    return Run(study, study.ask())
