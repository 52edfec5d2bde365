"""Studies: the trials of one optimization, and the functions that create, load and list them."""

from __future__ import annotations

import datetime as dt
import logging
import math
import numbers
import traceback
import uuid
import warnings
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from pipetune._best import best_trial_of, pareto_front
from pipetune._param_buffer import flush_all as flush_params
from pipetune.datatypes import FrozenTrial, StudyDirection, StudySummary, TrialState
from pipetune.errors import (
    DuplicateStudyError,
    InvalidArgumentError,
    UpdateFinishedTrialError,
)
from pipetune.execution.budget import Budget
from pipetune.pruners.base import BasePruner, NopPruner
from pipetune.samplers.base import BaseSampler
from pipetune.storage import BaseStorage, get_storage
from pipetune.storage.base import RETRY_OF_ATTR, check_study_name, retry_attrs
from pipetune.storage.cached import StudyHistory, StudyView
from pipetune.tracking.experiments import (
    DEFAULT_EXPERIMENT,
    check_experiment,
    experiment_of,
    store_experiment,
)
from pipetune.trial import FIXED_PARAMS_ATTR, Trial, check_values

if TYPE_CHECKING:
    import pandas

    from pipetune.execution.optimize import OptimizeResult
    from pipetune.tracking.records import ArtifactInfo, MetricPoint

    from pipetune.stopping import StoppingCriterion

logger = logging.getLogger("pipetune")

FAIL_REASON_ATTR = "fail_reason"
TRACEBACK_ATTR = "traceback"


def _default_sampler() -> BaseSampler:
    """AutoSampler: a GP for the first trials of one objective over a fixed space, TPE for
    several objectives, conditional spaces, pruned studies and long studies (the rule and the
    benchmarks behind it are in ``pipetune/samplers/auto.py``)."""
    from pipetune.samplers.auto import AutoSampler

    return AutoSampler()


class Study:
    """The trials of one optimization in one storage, with the sampler and pruner this process
    uses on them. Several processes may hold a Study on the same stored study at once."""

    def __init__(self, study_name: str, storage: "str | BaseStorage | None",
                 sampler: BaseSampler | None = None, pruner: BasePruner | None = None) -> None:
        self._storage = get_storage(storage)
        self._study_id = self._storage.get_study_id(study_name)
        self.study_name = study_name
        self._directions = self._storage.get_study_directions(self._study_id)
        if sampler is not None and not isinstance(sampler, BaseSampler):
            raise InvalidArgumentError(
                f"sampler must be a pipetune sampler (e.g. pipetune.samplers.RandomSampler()). "
                f"Got {sampler!r}.")
        if pruner is not None and not isinstance(pruner, BasePruner):
            raise InvalidArgumentError(
                f"pruner must be a pipetune pruner (e.g. pipetune.pruners.NopPruner()). "
                f"Got {pruner!r}.")
        self.sampler = sampler or _default_sampler()
        self.pruner = pruner or NopPruner()
        self._history = StudyHistory(self._storage, self._study_id, study_name, self._directions)
        self._stop_requested = False
        self._load_settings()

    def _load_settings(self) -> None:
        """Reads the study-wide settings every process follows (heartbeats, budget)."""
        from pipetune.execution.heartbeat import Liveness, StudyLiveness

        attrs = self._storage.get_study_attrs(self._study_id, system=True)
        liveness = Liveness.from_attrs(attrs)
        self._liveness = None if liveness is None else StudyLiveness(
            self._storage, self._study_id, liveness)
        self._budget = Budget.from_attrs(attrs)

    def __repr__(self) -> str:
        return f"<Study {self.study_name!r} in {getattr(self._storage, 'url', 'memory')}>"

    # -- what the study holds ------------------------------------------------------------------

    @property
    def directions(self) -> tuple[StudyDirection, ...]:
        return self._directions

    @property
    def direction(self) -> StudyDirection:
        if len(self._directions) != 1:
            raise InvalidArgumentError(
                f"Study {self.study_name!r} has {len(self._directions)} objectives; use .directions.")
        return self._directions[0]

    @property
    def is_multi_objective(self) -> bool:
        return len(self._directions) > 1

    def _view(self, refresh: bool = True) -> StudyView:
        if refresh:
            flush_params()  # running trials of this process show their params to the sampler
        return self._history.view(refresh=refresh)

    @property
    def trials(self) -> list[FrozenTrial]:
        """Every trial, ordered by number (read incrementally from storage)."""
        return list(self._view().trials)

    def get_trials(self, states: Collection[TrialState] | None = None) -> list[FrozenTrial]:
        return self._view().get_trials(states)

    @property
    def best_trial(self) -> FrozenTrial:
        """The COMPLETE trial with the best value."""
        if self.is_multi_objective:
            raise InvalidArgumentError(
                "A multi-objective study has no single best trial; use study.best_trials "
                "(the Pareto front).")
        best = best_trial_of(self._view().trials, self._directions)
        if best is None:
            raise InvalidArgumentError(
                f"Study {self.study_name!r} has no COMPLETE trial yet, so no best trial: run "
                "study.optimize first.")
        return best

    @property
    def best_trials(self) -> list[FrozenTrial]:
        """The Pareto front: COMPLETE trials no other trial beats on every objective."""
        return pareto_front(self._view().trials, self._directions)

    @property
    def best_params(self) -> dict[str, Any]:
        return dict(self.best_trial.params)

    @property
    def best_value(self) -> float:
        return self.best_trial.values[0]

    @property
    def user_attrs(self) -> dict[str, Any]:
        return self._storage.get_study_attrs(self._study_id)

    @property
    def system_attrs(self) -> dict[str, Any]:
        return self._storage.get_study_attrs(self._study_id, system=True)

    def set_user_attr(self, key: str, value: Any) -> None:
        self._storage.set_study_attr(self._study_id, key, value)

    # -- running trials ------------------------------------------------------------------------

    def optimize(self, func: Callable[[Trial], Any], n_trials: int | None = None,
                 timeout: float | None = None, n_jobs: int = 1,
                 catch: "type[Exception] | Iterable[type[Exception]]" = (),
                 callbacks: Iterable[Callable[["Study", FrozenTrial], None]] | None = None,
                 show_progress_bar: bool = False,
                 stop_when: "StoppingCriterion | Iterable[StoppingCriterion]" = (), *,
                 backend: str = "thread",
                 resources_per_trial: dict[str, float] | None = None) -> "OptimizeResult":
        """Runs trials of ``func`` until ``n_trials`` have run, ``timeout`` seconds passed,
        the sampler ran out of candidates, a ``stop_when`` criterion fired (see
        ``pipetune.stopping``), the study's ``max_trials`` have started or ``study.stop()``
        was called. Returns an ``OptimizeResult``: the trials this call ran and how they
        ended, which of these stopped it (``stop_reason``, ``stop_message``) and the best
        trial. Each finished trial is logged (see ``pipetune.logging``).

        ``n_jobs`` trials run at once in threads (-1: one per CPU). An exception from ``func``
        fails its trial and stops the run unless its type is in ``catch``.

        ``backend="ray"`` runs each objective call as a Ray task with ``resources_per_trial``
        (e.g. ``{"cpu": 1, "gpu": 1}``) on the cluster ``ray.init`` joins, up to ``n_jobs``
        at once (-1: as many as the cluster holds); the study needs a storage the cluster can
        reach (see ``pipetune.execution.ray_backend``).
        """
        from pipetune.execution.optimize import run_optimize
        from pipetune.tracking.environment import record_optimize_end, record_optimize_start

        record = record_optimize_start(self, n_trials, timeout, n_jobs)
        try:
            return run_optimize(self, func, n_trials=n_trials, timeout=timeout, n_jobs=n_jobs,
                         catch=catch, callbacks=callbacks, show_progress_bar=show_progress_bar,
                         stop_when=stop_when, backend=backend,
                         resources_per_trial=resources_per_trial)
        finally:
            record_optimize_end(self, record)

    def stop(self) -> None:
        """Lets the running ``optimize`` finish the trials in flight and start no more."""
        self._stop_requested = True

    def ask(self, worker: str | None = None) -> Trial:
        """Starts a trial (an enqueued one first) for the caller to evaluate and ``tell``."""
        trial = self._ask(worker)
        assert trial is not None  # only a budget refuses a claim
        return trial

    def _ask(self, worker: str | None = None, budget: Budget = Budget()) -> Trial | None:
        """``ask`` within a study-wide budget: None, claiming nothing, when the storage refuses
        the claim for it (see ``pipetune.execution.budget``)."""
        liveness = self._liveness
        if liveness is not None:
            from pipetune.execution.heartbeat import default_worker_name

            liveness.before_claim()
            worker = worker or default_worker_name()
        frozen = self._storage.claim_trial(self._study_id, worker, budget.max_trials,
                                           budget.max_parallel)
        if frozen is None:
            return None
        if liveness is None:
            return self._start(frozen)
        liveness.started(frozen.trial_id)
        try:
            return self._start(frozen)
        except BaseException:
            # Stop beating for a trial nobody will run (e.g. the storage went away): the
            # heartbeat check then fails it, wherever it is left.
            liveness.finished(frozen.trial_id)
            raise

    def _start(self, frozen: FrozenTrial) -> Trial:
        view = self._view(refresh=self.sampler.needs_history)
        try:
            attrs = self.sampler.before_trial(view, frozen)
        except BaseException as error:
            # The trial is already claimed; never leave it RUNNING (e.g. the grid ran out
            # between the exhaustion check and the claim of a parallel worker).
            self._fail(Trial(self, frozen), error)
            raise
        for key, value in attrs.items():
            self._storage.set_trial_attr(frozen.trial_id, key, value, system=True)
            frozen.system_attrs[key] = value
        return Trial(self, frozen)

    def tell(self, trial: "Trial | int", values: "float | Sequence[float] | None" = None,
             state: TrialState | str | None = None, *,
             skip_if_finished: bool = False, value: "float | None" = None) -> FrozenTrial:
        """Finishes a trial started by ``ask``: COMPLETE with its value(s) by default, or
        PRUNED / FAIL. Values that are not numbers (or NaN) make the trial FAIL with the reason
        recorded; the returned record says what was stored. ``value=`` is another spelling of
        ``values=`` for a single objective."""
        if value is not None:
            if values is not None:
                raise InvalidArgumentError(
                    "Study.tell got both value= and values=; give the result once.")
            values = value
        if not isinstance(trial, Trial):
            trial = self._trial_by_number(trial)
        state = TrialState.COMPLETE if state is None else TrialState.parse(state)
        if state not in (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL):
            raise InvalidArgumentError(
                f"tell takes state COMPLETE, PRUNED or FAIL. Got {state.name}.")
        checked: tuple[float, ...] | None = None
        if state == TrialState.COMPLETE:
            checked, problem = check_values(values, len(self._directions))
            if problem is not None:
                logger.warning("Trial %d failed: %s", trial.number, problem)
                self._record_failure(trial, problem, None)
                state = TrialState.FAIL
        elif state == TrialState.PRUNED:
            # A pruned trial keeps its last reported value(s), unless they hold a NaN.
            intermediate = trial.intermediate_values
            if intermediate:
                last = intermediate[max(intermediate)]
                last = last if isinstance(last, tuple) else (last,)
                if not any(math.isnan(v) for v in last):
                    checked = last
        elif values is not None:
            raise InvalidArgumentError(f"A {state.name} trial takes no values; drop values=.")
        if state == TrialState.COMPLETE:
            _warn_unused_fixed_params(trial)
        frozen = trial.snapshot()
        self.sampler.after_trial(self._view(refresh=False), frozen, state, checked)
        try:
            trial._flush()
            finished = self._storage.finish_trial(trial._trial_id, state, checked)
        except UpdateFinishedTrialError:  # the params came too late: finished elsewhere
            finished = False
        trial._told = state
        if self._liveness is not None:
            self._liveness.finished(trial._trial_id)
        if not finished:
            if skip_if_finished:
                return self._storage.get_trial(trial._trial_id)
            raise UpdateFinishedTrialError(
                f"Trial {trial.number} was already finished; pass skip_if_finished=True to "
                "ignore repeated tells.")
        return replace(frozen, state=state, values=checked, datetime_complete=dt.datetime.now())

    def _trial_by_number(self, number: int) -> Trial:
        if isinstance(number, bool) or not isinstance(number, numbers.Integral):
            raise InvalidArgumentError(f"tell takes a Trial or a trial number. Got {number!r}.")
        frozen = self._storage.get_trial(self._storage.get_trial_id(self._study_id, int(number)))
        return Trial(self, frozen)

    def _record_failure(self, trial: Trial, reason: str, trace: str | None) -> None:
        try:
            trial.set_system_attr(FAIL_REASON_ATTR, reason)
            if trace is not None:
                trial.set_system_attr(TRACEBACK_ATTR, trace)
        except UpdateFinishedTrialError:
            pass  # already failed elsewhere (interrupted, or a heartbeat check)

    def _fail(self, trial: Trial, error: BaseException) -> FrozenTrial:
        """Records ``error`` on the trial and finishes it FAIL."""
        reason = f"{type(error).__name__}: {error}"
        self._record_failure(trial, reason, "".join(traceback.format_exception(error)))
        return self.tell(trial, state=TrialState.FAIL, skip_if_finished=True)

    def _abandon(self, trial: Trial, error: BaseException) -> None:
        """What is left to do when a trial's outcome could not be stored (``error``: a full
        disk, a storage down too long): record the error and finish the trial FAIL as far as
        the storage still takes writes, each on its own (a full disk may refuse the record
        and take the state change), so that it is not left RUNNING; and stop beating for it,
        so that where nothing was taken a heartbeat check fails (and re-queues) it."""
        if self._liveness is not None:
            self._liveness.finished(trial._trial_id)
        reason = f"storing the trial's outcome failed: {type(error).__name__}: {error}"
        for write in (lambda: self._storage.set_trial_attr(trial._trial_id, FAIL_REASON_ATTR,
                                                           reason, system=True),
                      lambda: self._storage.finish_trial(trial._trial_id, TrialState.FAIL)):
            try:
                write()
            except Exception as failure:  # noqa: BLE001 - best effort; ``error`` is raised
                logger.error("Could not mark trial %d FAIL after %s: %s", trial.number,
                             type(error).__name__, failure)
        trial._told = TrialState.FAIL

    def _retry_trial(self, failed: FrozenTrial) -> None:
        """Enqueues a retry of a trial that failed because the storage was unreachable, as
        the heartbeat check does for a dead worker's, when the study retries failed trials
        (``retry_failed``) and nobody enqueued one yet."""
        liveness = self._liveness
        if liveness is None or not liveness.settings.retry_failed or any(
                t.system_attrs.get(RETRY_OF_ATTR) == failed.number for t in self.trials):
            return
        attrs = retry_attrs(failed, failed.system_attrs.get(FIXED_PARAMS_ATTR),
                            liveness.settings.retry_failed)
        if attrs is not None:
            self._storage.create_trial(self._study_id, state=TrialState.WAITING,
                                       system_attrs=attrs)

    def enqueue_trial(self, params: dict[str, Any], user_attrs: dict[str, Any] | None = None,
                      skip_if_exists: bool = False) -> None:
        """Queues a trial that takes ``params`` (the sampler fills any param not given); it
        runs before any newly sampled trial, in any process working on the study."""
        if not isinstance(params, dict) or not all(isinstance(k, str) for k in params):
            raise InvalidArgumentError(
                f"enqueue_trial takes a dict of param name -> value. Got {params!r}.")
        if skip_if_exists:
            for t in self._view().trials:
                if t.state == TrialState.FAIL:
                    continue
                given = t.system_attrs.get(FIXED_PARAMS_ATTR) or t.params
                if all(k in given and given[k] == v for k, v in params.items()):
                    return
        frozen = self._storage.create_trial(self._study_id, state=TrialState.WAITING,
                                            system_attrs={FIXED_PARAMS_ATTR: params})
        for key, value in (user_attrs or {}).items():
            self._storage.set_trial_attr(frozen.trial_id, key, value)

    # -- analysis ------------------------------------------------------------------------------

    def search(self, filter: str | None = None, *, order_by: str | None = None,
               limit: int | None = None, offset: int = 0) -> list[FrozenTrial]:
        """The trials matching ``filter``, e.g. ``"params.lr > 0.01 and metrics.val_rmse < 3
        and state = COMPLETE"`` (the language: ``pipetune.tracking.search``), ordered by
        ``order_by`` (e.g. ``"value"``, ``"-metrics.acc, number"``; default: number), from
        ``offset``, at most ``limit``. SQL storages evaluate it in the database; a malformed
        filter raises FilterSyntaxError pointing at its column."""
        from pipetune.tracking.search import check_window, parse_filter, parse_order_by

        parse_filter(filter)  # fail here, with the column, whatever the storage
        parse_order_by(order_by)
        check_window(limit, offset)
        flush_params()
        return self._storage.search_trials(self._study_id, filter, order_by, limit, offset)

    def _trial_id_of(self, trial: "FrozenTrial | Trial | int") -> int:
        if isinstance(trial, (FrozenTrial, Trial)):
            return trial._trial_id if isinstance(trial, Trial) else trial.trial_id
        if isinstance(trial, bool) or not isinstance(trial, numbers.Integral):
            raise InvalidArgumentError(
                f"Give a trial (FrozenTrial) or a trial number. Got {trial!r}.")
        return self._storage.get_trial_id(self._study_id, int(trial))

    def metric_history(self, trial: "FrozenTrial | int",
                       name: str | None = None) -> list["MetricPoint"]:
        """The points a trial (or its number) logged with ``log_metric``, of every series or
        of ``name``, ordered by name and step."""
        return self._storage.get_metric_history(self._trial_id_of(trial), name)

    def last_metrics(self) -> dict[int, dict[str, float]]:
        """Trial number -> metric name -> last logged value, for the trials that logged any."""
        last = self._storage.get_last_metrics(self._study_id)
        numbers_by_id = {t.trial_id: t.number for t in self._view().trials}
        return {numbers_by_id[trial_id]: values for trial_id, values in last.items()
                if trial_id in numbers_by_id}

    def list_artifacts(self, trial: "FrozenTrial | int") -> list["ArtifactInfo"]:
        """The artifacts stored with a trial (or its number), ordered by name."""
        return self._storage.list_artifacts(self._trial_id_of(trial))

    def read_artifact(self, trial: "FrozenTrial | int", name: str) -> bytes:
        """The bytes of a trial's artifact; ArtifactNotFoundError if it has none of that name."""
        return self._storage.read_artifact(self._trial_id_of(trial), name)

    def trials_dataframe(self, attrs: Collection[str] | None = None) -> "pandas.DataFrame":
        """One row per trial: number, value(s), state, datetime_start, datetime_complete,
        duration, params_<name>, user_attrs_<name> (and system_attrs_<name>,
        intermediate_values_<step> when named in ``attrs``)."""
        from pipetune.tracking.dataframe import trials_dataframe

        return trials_dataframe(self.trials, self._directions, attrs)


def _warn_unused_fixed_params(trial: Trial) -> None:
    """Warns when a trial completes without suggesting a param it was enqueued with: most
    often a misspelt name in ``enqueue_trial``, which would otherwise be silently ignored."""
    unused = sorted(set(trial._fixed_params) - set(trial._params))
    if unused:
        warnings.warn(
            f"Trial {trial.number} was enqueued with param(s) {unused} that its objective never "
            f"suggested (it suggested {sorted(trial._params)}), so they were ignored: check "
            "their spelling in enqueue_trial, or leave out params the others make inactive.",
            stacklevel=3)


def _parse_directions(direction: Any, directions: Any) -> list[StudyDirection]:
    if direction is not None and directions is not None:
        raise InvalidArgumentError("Give either direction= or directions=, not both.")
    if directions is None:
        return [StudyDirection.parse(direction or "minimize")]
    if isinstance(directions, (str, StudyDirection)) or not isinstance(directions, Iterable):
        raise InvalidArgumentError(
            f"directions must be a list such as ['minimize', 'maximize']. Got {directions!r}.")
    parsed = [StudyDirection.parse(d) for d in directions]
    if not parsed:
        raise InvalidArgumentError("directions must name at least one direction.")
    return parsed


def create_study(storage: "str | BaseStorage | None" = None, sampler: BaseSampler | None = None,
                 pruner: BasePruner | None = None, study_name: str | None = None,
                 direction: "str | StudyDirection | None" = None, load_if_exists: bool = False,
                 directions: "Sequence[str | StudyDirection] | None" = None, *,
                 heartbeat_interval: float | None = None, grace_period: float | None = None,
                 retry_failed: int = 0, max_trials: int | None = None,
                 max_parallel: int | None = None, experiment: str = DEFAULT_EXPERIMENT) -> Study:
    """Creates a study (or loads it with ``load_if_exists``) in ``storage``: a URL such as
    ``sqlite:///pipetune.db``, or None for memory.

    With ``heartbeat_interval`` (seconds) every process running the study's trials beats for
    them, and a RUNNING trial silent for ``grace_period`` seconds (default: two intervals plus
    10 s) is failed as its worker's death; ``retry_failed=N`` re-enqueues such a trial's params
    up to N times (see ``pipetune.execution.heartbeat``). ``max_trials`` and ``max_parallel``
    are the study-wide budget: every ``optimize``, worker and Ray driver on the study together
    start at most ``max_trials`` trials that do not fail, at most ``max_parallel`` at a time
    (see ``pipetune.execution.budget``). These settings are stored with the study, so every
    process follows them; given with ``load_if_exists``, they replace the stored ones.
    ``experiment`` names the group the new study belongs to (``list_experiments``).
    """
    from pipetune.execution.heartbeat import Liveness

    parsed = _parse_directions(direction, directions)
    liveness = Liveness.from_arguments(heartbeat_interval, grace_period, retry_failed)
    budget = Budget(max_trials, max_parallel)
    check_experiment(experiment)
    if study_name is None:
        study_name = f"study-{uuid.uuid4().hex[:12]}"
    check_study_name(study_name)
    backend = get_storage(storage)
    try:
        backend.create_study(study_name, parsed)
    except DuplicateStudyError:
        if not load_if_exists:
            raise
        stored = backend.get_study_directions(backend.get_study_id(study_name))
        if list(stored) != parsed:
            raise InvalidArgumentError(
                f"Study {study_name!r} exists with directions "
                f"{[d.name.lower() for d in stored]}, not {[d.name.lower() for d in parsed]}: "
                "load it with its own directions or choose another study_name.") from None
    else:
        store_experiment(backend, backend.get_study_id(study_name), experiment)
    if liveness is not None:
        liveness.store(backend, backend.get_study_id(study_name))
    budget.store(backend, backend.get_study_id(study_name))
    return Study(study_name, backend, sampler=sampler, pruner=pruner)


def load_study(*, study_name: str | None, storage: "str | BaseStorage",
               sampler: BaseSampler | None = None, pruner: BasePruner | None = None) -> Study:
    """Loads an existing study; with ``study_name=None`` the storage must hold exactly one.
    Loading only reads: a SQLite file that does not exist is a StorageURLError naming it
    (create it with ``create_study``), never a new empty file."""
    backend = get_storage(storage, create=False)
    if study_name is None:
        names = [s.study_name for s in backend.list_studies()]
        if len(names) != 1:
            raise InvalidArgumentError(
                f"study_name=None works only when the storage holds one study; it holds "
                f"{len(names)}: {names[:10]}. Name the study.")
        study_name = names[0]
    return Study(study_name, backend, sampler=sampler, pruner=pruner)


def delete_study(*, study_name: str, storage: "str | BaseStorage") -> None:
    """Deletes a study and all its trials."""
    backend = get_storage(storage, create=False)
    backend.delete_study(backend.get_study_id(study_name))


def list_studies(storage: "str | BaseStorage",
                 experiment: str | None = None) -> list[StudySummary]:
    """Every study in ``storage`` with its size and best trial (standalone runs included,
    ``system_attrs["kind"] == "run"``); only those of ``experiment`` when it is given."""
    summaries = get_storage(storage, create=False).list_studies()
    if experiment is None:
        return summaries
    return [s for s in summaries if experiment_of(s) == experiment]


def get_all_study_names(storage: "str | BaseStorage") -> list[str]:
    return [summary.study_name for summary in list_studies(storage)]


__all__ = ["Study", "create_study", "delete_study", "get_all_study_names",
           "list_studies", "load_study"]
