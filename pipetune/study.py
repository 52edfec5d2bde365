"""Studies: the trials of one optimization, and the functions that create, load and list them."""

from __future__ import annotations

import copy
import gc
import numbers
import threading
import uuid
import warnings
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from pipetune._attrs import (
    DEFAULT_EXPERIMENT,
    EXPERIMENT_ATTR,
    FIXED_PARAMS_ATTR,
    METRIC_NAMES_ATTR,
    experiment_of,
)
from pipetune._best import pareto_front
from pipetune._param_buffer import flush_all as flush_params
from pipetune.datatypes import (
    ArtifactInfo,
    FrozenTrial,
    MetricPoint,
    StudyDirection,
    StudySummary,
    TrialState,
)
from pipetune.distributions import Distribution
from pipetune.errors import (
    ArgumentTypeError,
    DuplicateStudyError,
    InvalidArgumentError,
    InvalidCallError,
    TrialNotFoundError,
)
from pipetune.execution.budget import Budget
from pipetune.execution.interface import RunInterface
from pipetune.pruners.base import BasePruner, NopPruner
from pipetune.samplers.base import BaseSampler
from pipetune.stopping import MaxTrialsCallback
from pipetune.storage import BaseStorage, get_storage
from pipetune.storage.base import check_study_name
from pipetune.trial import Trial, check_trial, check_values

if TYPE_CHECKING:
    import pandas

    from pipetune.execution.optimize_call import OptimizeResult
    from pipetune.stopping import StoppingCriterion


def _default_sampler() -> BaseSampler:
    """AutoSampler: a GP for the first trials of one objective over a fixed space, TPE for
    several objectives, conditional spaces, pruned studies and long studies (the rule and the
    benchmarks behind it are in ``pipetune/samplers/auto.py``)."""
    from pipetune.samplers.auto import AutoSampler

    return AutoSampler()


class Study:
    """The trials of one optimization in one storage, with the sampler and pruner this process
    uses on them. Several processes may hold a Study on the same stored study at once.

    ``run_interface`` is what the run loop drives (``pipetune.execution.interface``): the
    storage and the study id, claiming, telling and failing trials. User code needs only the
    methods below."""

    def __init__(self, study_name: str, storage: str | BaseStorage | None,
                 sampler: BaseSampler | None = None, pruner: BasePruner | None = None) -> None:
        backend = get_storage(storage)
        study_id = backend.get_study_id(study_name)
        directions = backend.get_study_directions(study_id)
        if sampler is not None and not isinstance(sampler, BaseSampler):
            raise InvalidArgumentError(
                f"sampler must be a pipetune sampler (e.g. pipetune.samplers.RandomSampler()). "
                f"Got {sampler!r}.")
        if pruner is not None and not isinstance(pruner, BasePruner):
            raise InvalidArgumentError(
                f"pruner must be a pipetune pruner (e.g. pipetune.pruners.NopPruner()). "
                f"Got {pruner!r}.")
        self.study_name = study_name
        self.run_interface = RunInterface(backend, study_id, study_name, directions,
                                          sampler or _default_sampler(), pruner or NopPruner(),
                                          study=self)
        self._storage = backend
        self._study_id = study_id
        self._in_optimize = threading.local()  # .active: this thread runs an optimize of it
        self._optimize_lock = threading.Lock()
        self._running_optimizes = 0  # in every thread: what stop() acts on

    def __repr__(self) -> str:
        return f"<Study {self.study_name!r} in {getattr(self._storage, 'url', 'memory')}>"

    # -- what the study holds ------------------------------------------------------------------

    @property
    def sampler(self) -> BaseSampler:
        return self.run_interface.sampler

    @sampler.setter
    def sampler(self, sampler: BaseSampler) -> None:
        self.run_interface.sampler = sampler

    @property
    def pruner(self) -> BasePruner:
        return self.run_interface.pruner

    @pruner.setter
    def pruner(self, pruner: BasePruner) -> None:
        self.run_interface.pruner = pruner

    @property
    def directions(self) -> list[StudyDirection]:
        """The direction of each objective (a new list at each call)."""
        return list(self.run_interface.directions)

    @property
    def direction(self) -> StudyDirection:
        if len(self.directions) != 1:
            raise InvalidCallError(
                f"Study {self.study_name!r} has {len(self.directions)} objectives; use "
                ".directions.")
        return self.directions[0]

    @property
    def is_multi_objective(self) -> bool:
        return len(self.directions) > 1

    @property
    def trials(self) -> list[FrozenTrial]:
        """Every trial, ordered by number (read incrementally from storage): the study's own
        records, not copies (``get_trials()`` copies)."""
        return list(self.run_interface.view().trials)

    def get_trials(self, deepcopy: bool = True,
                   states: Collection[TrialState] | None = None) -> list[FrozenTrial]:
        """The trials in ``states`` (all by default) ordered by number: copies, which the
        caller may change, or with ``deepcopy=False`` the study's own records (faster)."""
        if not isinstance(deepcopy, bool):
            raise ArgumentTypeError(
                f"The 'deepcopy' argument of Study.get_trials must be True or False; give the "
                f"states as states=. Got {deepcopy!r}.")
        trials = self.run_interface.view().get_trials(states)
        return copy.deepcopy(trials) if deepcopy else trials

    @property
    def best_trial(self) -> FrozenTrial:
        """A copy of the COMPLETE trial with the best value (``objective(study.best_trial)``
        re-runs it)."""
        if self.is_multi_objective:
            raise InvalidCallError(
                "A multi-objective study has no single best trial; use study.best_trials "
                "(the Pareto front).")
        best = self.run_interface.best_trial()
        if best is None:
            raise InvalidArgumentError(
                f"Study {self.study_name!r} has no COMPLETE trial yet (none satisfying its "
                "constraints, if it has some), so no best trial: run study.optimize first.")
        return copy.deepcopy(best)

    @property
    def best_trials(self) -> list[FrozenTrial]:
        """The Pareto front: COMPLETE trials no other trial beats on every objective."""
        return pareto_front(self.run_interface.view().trials, self.directions)

    @property
    def best_params(self) -> dict[str, Any]:
        return dict(self.best_trial.params)

    @property
    def best_value(self) -> float:
        value = self.best_trial.value
        assert value is not None  # the best trial is a COMPLETE one
        return value

    @property
    def user_attrs(self) -> dict[str, Any]:
        return self._storage.get_study_attrs(self._study_id)

    @property
    def system_attrs(self) -> dict[str, Any]:
        return self._storage.get_study_attrs(self._study_id, system=True)

    def set_user_attr(self, key: str, value: Any) -> None:
        self._storage.set_study_attr(self._study_id, key, value)

    @property
    def metric_names(self) -> list[str] | None:
        """The names of the objectives (``set_metric_names``), None until they are named."""
        return self.system_attrs.get(METRIC_NAMES_ATTR)

    def set_metric_names(self, metric_names: Sequence[str]) -> None:
        """Names the objectives, one name per direction, e.g. ``["error", "latency"]``:
        ``trials_dataframe`` then has columns ``values_error`` and ``values_latency``."""
        if isinstance(metric_names, str) or not isinstance(metric_names, Sequence) \
                or not all(isinstance(name, str) for name in metric_names):
            raise ArgumentTypeError(
                f"set_metric_names takes a list of names, one per objective. Got "
                f"{metric_names!r}.")
        if len(metric_names) != len(self.directions):
            raise InvalidArgumentError(
                f"set_metric_names needs {len(self.directions)} name(s), one per objective of "
                f"study {self.study_name!r}. Got {list(metric_names)}.")
        self._storage.set_study_attr(self._study_id, METRIC_NAMES_ATTR, list(metric_names),
                                     system=True)

    # -- running trials ------------------------------------------------------------------------

    def optimize(self, func: Callable[[Trial], Any], n_trials: int | None = None,
                 timeout: float | None = None, n_jobs: int = 1,
                 catch: type[Exception] | Iterable[type[Exception]] = (),
                 callbacks: Iterable[Callable[[Study, FrozenTrial], None]] | None = None,
                 gc_after_trial: bool = False, show_progress_bar: bool = False,
                 stop_when: StoppingCriterion | Iterable[StoppingCriterion] = (), *,
                 backend: str = "thread",
                 resources_per_trial: dict[str, float] | None = None) -> OptimizeResult:
        """Runs trials of ``func`` until ``n_trials`` have run, ``timeout`` seconds passed,
        the sampler ran out of candidates, a ``stop_when`` criterion fired (see
        ``pipetune.stopping``), the study's ``max_trials`` have started or ``study.stop()``
        was called. Returns an ``OptimizeResult``: the trials this call ran and how they
        ended, which of these stopped it (``stop_reason``, ``stop_message``) and the best
        trial. Each finished trial is logged (see ``pipetune.logging``).

        ``n_jobs`` trials run at once in threads (-1: one per CPU). An exception from ``func``
        fails its trial and stops the run unless its type is in ``catch``; ``callbacks`` are
        called with the study and each finished trial, except one whose exception stops the
        run. ``gc_after_trial`` runs Python's garbage collector after each trial, for
        objectives whose reference cycles hold on to memory. An ``optimize`` of the study
        called from inside its own ``optimize`` (by the objective or a callback) is an
        InvalidCallError.

        ``backend="ray"`` runs each objective call as a Ray task with ``resources_per_trial``
        (e.g. ``{"cpu": 1, "gpu": 1}``) on the cluster ``ray.init`` joins, up to ``n_jobs``
        at once (-1: as many as the cluster holds); the study needs a storage the cluster can
        reach (see ``pipetune.execution.ray_backend``). ``backend="spark"`` runs each as a
        Spark task on the executors of the active SparkSession (else of a local Spark), up to
        ``n_jobs`` at once (-1: the cluster's default parallelism), with the same need (see
        ``pipetune.execution.spark_backend``).
        """
        from pipetune.execution.optimize import run_optimize

        if getattr(self._in_optimize, "active", False):
            raise InvalidCallError(
                f"study.optimize was called from inside an optimize of study "
                f"{self.study_name!r} (by its objective or a callback). Optimize another study "
                "there, or call optimize again once this one returns.")
        if gc_after_trial:
            callbacks = [*(callbacks or ()), _collect_garbage]
        self._in_optimize.active = True
        with self._optimize_lock:
            self._running_optimizes += 1
        try:
            return run_optimize(self.run_interface, func, n_trials=n_trials, timeout=timeout,
                                n_jobs=n_jobs, catch=catch, callbacks=callbacks,
                                show_progress_bar=show_progress_bar, stop_when=stop_when,
                                backend=backend, resources_per_trial=resources_per_trial)
        finally:
            self._in_optimize.active = False
            with self._optimize_lock:
                self._running_optimizes -= 1

    def stop(self) -> None:
        """Lets the running ``optimize`` finish the trials in flight and start no more: call
        it from the objective, a callback or another thread. With no ``optimize`` running
        there is nothing to stop: an InvalidCallError."""
        if self._running_optimizes == 0:
            raise InvalidCallError(
                f"study.stop() ends a running study.optimize, and none of study "
                f"{self.study_name!r} is running: call it from the objective, a callback or "
                "another thread while optimize runs.")
        self.run_interface.stop_requested = True

    def ask(self, fixed_distributions: dict[str, Distribution] | None = None, *,
            worker: str | None = None) -> Trial:
        """Starts a trial (an enqueued one first) for the caller to evaluate and ``tell``.
        Each param of ``fixed_distributions`` (name -> distribution) is suggested at once,
        so the trial holds them when returned."""
        if fixed_distributions is not None and not isinstance(fixed_distributions, dict):
            raise ArgumentTypeError(
                f"The 'fixed_distributions' argument of Study.ask must be a dict of param "
                f"name -> distribution. Got {fixed_distributions!r}.")
        trial = self.run_interface.claim(worker)
        assert trial is not None  # only a budget refuses a claim
        try:
            for name, distribution in (fixed_distributions or {}).items():
                trial.suggest(name, distribution)
        except BaseException as error:
            self.run_interface.fail(trial, error)  # never leave it RUNNING
            raise
        return trial

    def tell(self, trial: Trial | int, values: float | Sequence[float] | None = None,
             state: TrialState | str | None = None, *,
             skip_if_finished: bool = False, value: float | None = None) -> FrozenTrial:
        """Finishes a trial started by ``ask`` (or its number): COMPLETE with its value(s) by
        default, or PRUNED / FAIL (which take no values). Without a state, values that are
        not numbers (or NaN) make the trial FAIL with the reason recorded and a warning;
        with ``state=COMPLETE`` they are an InvalidArgumentError. The returned record says
        what was stored. Telling a finished trial again is an InvalidArgumentError, unless
        ``skip_if_finished`` (the stored record is returned). ``value=`` is another spelling
        of ``values=`` for a single objective."""
        if value is not None:
            if values is not None:
                raise InvalidArgumentError(
                    "Study.tell got both value= and values=; give the result once.")
            values = value
        handle, stored = (trial, trial.finished_state) if isinstance(trial, Trial) \
            else self._trial_by_number(trial)
        if stored == TrialState.WAITING:
            raise InvalidArgumentError(
                f"Trial {handle.number} is WAITING: tell a trial started by ask().")
        if stored is not None and stored.is_finished():
            if skip_if_finished:
                return self._storage.get_trial(handle.trial_id)
            raise InvalidArgumentError(
                f"Trial {handle.number} is already {stored.name}; pass skip_if_finished=True "
                "to ignore repeated tells.")
        told = TrialState.COMPLETE if state is None else TrialState.parse(state)
        if not told.is_finished():
            raise InvalidArgumentError(
                f"tell takes state COMPLETE, PRUNED or FAIL. Got {told.name}.")
        if told != TrialState.COMPLETE and values is not None:
            raise InvalidArgumentError(f"A {told.name} trial takes no values; drop values=.")
        if told == TrialState.COMPLETE:
            problem = check_values(values, len(self.directions))[1]
            if problem is not None and state is not None:
                raise InvalidArgumentError(
                    f"{problem} tell(state=COMPLETE) needs the trial's value(s); tell "
                    "state=FAIL to record a failure.")
            if problem is not None:
                warnings.warn(f"Trial {handle.number} failed: {problem}", stacklevel=2)
        return self.run_interface.tell(handle, values, told, skip_if_finished=skip_if_finished)

    def enqueue_trial(self, params: dict[str, Any], user_attrs: dict[str, Any] | None = None,
                      skip_if_exists: bool = False) -> None:
        """Queues a trial that takes ``params`` (the sampler fills any param not given); it
        runs before any newly sampled trial, in any process working on the study. With
        ``skip_if_exists`` nothing is queued when a trial that did not fail already has (or
        was queued with) exactly these params, NaN matching NaN."""
        if not isinstance(params, dict) or not all(isinstance(k, str) for k in params):
            raise ArgumentTypeError(
                f"enqueue_trial takes a dict of param name -> value. Got {params!r}.")
        if skip_if_exists:
            for t in self.run_interface.view().trials:
                if t.state == TrialState.FAIL:
                    continue
                given = t.system_attrs.get(FIXED_PARAMS_ATTR) or t.params
                if given.keys() == params.keys() and all(
                        _same_value(given[k], value) for k, value in params.items()):
                    return
        frozen = self._storage.create_trial(self._study_id, state=TrialState.WAITING,
                                            system_attrs={FIXED_PARAMS_ATTR: params})
        for key, value in (user_attrs or {}).items():
            self._storage.set_trial_attr(frozen.trial_id, key, value)

    def add_trial(self, trial: FrozenTrial) -> None:
        """Adds a trial made elsewhere to the study as its next trial: one of
        ``pipetune.trial.create_trial`` (a result computed outside the study, a known good
        configuration), or of another study. Its state, values, params, intermediate values,
        attrs and times are kept; samplers learn from it like from any trial, and a WAITING
        one runs next, like an enqueued one."""
        if not isinstance(trial, FrozenTrial):
            raise ArgumentTypeError(
                f"add_trial takes a FrozenTrial (see pipetune.trial.create_trial). Got "
                f"{trial!r}.")
        check_trial(trial)
        if trial.values is not None and len(trial.values) != len(self.directions):
            raise InvalidArgumentError(
                f"The trial has {len(trial.values)} value(s) and study {self.study_name!r} "
                f"{len(self.directions)} objective(s).")
        self._storage.add_trial(self._study_id, trial)

    def add_trials(self, trials: Iterable[FrozenTrial]) -> None:
        """``add_trial`` for each of ``trials``, in order."""
        for trial in trials:
            self.add_trial(trial)

    # -- analysis ------------------------------------------------------------------------------

    def search(self, filter: str | None = None, *, order_by: str | None = None,
               limit: int | None = None, offset: int = 0) -> list[FrozenTrial]:
        """The trials matching ``filter``, e.g. ``"params.lr > 0.01 and metrics.val_rmse < 3
        and state = COMPLETE"`` (the language: ``pipetune.search``), ordered by
        ``order_by`` (e.g. ``"value"``, ``"-metrics.acc, number"``; default: number), from
        ``offset``, at most ``limit``. SQL storages evaluate it in the database; a malformed
        filter raises FilterSyntaxError pointing at its column."""
        from pipetune.search import check_window, parse_filter, parse_order_by

        parse_filter(filter)  # fail here, with the column, whatever the storage
        parse_order_by(order_by)
        check_window(limit, offset)
        flush_params()
        return self._storage.search_trials(self._study_id, filter, order_by, limit, offset)

    def _trial_by_number(self, number: Any) -> tuple[Trial, TrialState]:
        """The trial of that number, to tell, with its stored state."""
        if isinstance(number, bool) or not isinstance(number, numbers.Integral):
            raise ArgumentTypeError(f"tell takes a Trial or a trial number. Got {number!r}.")
        try:
            frozen = self._storage.get_trial(self._storage.get_trial_id(self._study_id,
                                                                        int(number)))
        except TrialNotFoundError:
            raise InvalidArgumentError(
                f"Study {self.study_name!r} has no trial {number}: tell a trial started by "
                "ask(), or its number.") from None
        return Trial(self.run_interface, frozen), frozen.state

    def _trial_id_of(self, trial: FrozenTrial | Trial | int) -> int:
        if isinstance(trial, (FrozenTrial, Trial)):
            return trial.trial_id
        if isinstance(trial, bool) or not isinstance(trial, numbers.Integral):
            raise InvalidArgumentError(
                f"Give a trial (FrozenTrial) or a trial number. Got {trial!r}.")
        return self._storage.get_trial_id(self._study_id, int(trial))

    def metric_history(self, trial: FrozenTrial | int,
                       name: str | None = None) -> list[MetricPoint]:
        """The points a trial (or its number) logged with ``log_metric``, of every series or
        of ``name``, ordered by name and step."""
        return self._storage.get_metric_history(self._trial_id_of(trial), name)

    def last_metrics(self) -> dict[int, dict[str, float]]:
        """Trial number -> metric name -> last logged value, for the trials that logged any."""
        last = self._storage.get_last_metrics(self._study_id)
        numbers_by_id = {t.trial_id: t.number for t in self.run_interface.view().trials}
        return {numbers_by_id[trial_id]: values for trial_id, values in last.items()
                if trial_id in numbers_by_id}

    def list_artifacts(self, trial: FrozenTrial | int) -> list[ArtifactInfo]:
        """The artifacts stored with a trial (or its number), ordered by name."""
        return self._storage.list_artifacts(self._trial_id_of(trial))

    def read_artifact(self, trial: FrozenTrial | int, name: str, *,
                      last_bytes: int | None = None) -> bytes:
        """The bytes of a trial's artifact, or only its last ``last_bytes`` (a log's tail, read
        without the rest); ArtifactNotFoundError if it has none of that name."""
        return self._storage.read_artifact(self._trial_id_of(trial), name,
                                           last_bytes=last_bytes)

    def trials_dataframe(self, attrs: Collection[str] | None = None,
                         multi_index: bool = False) -> pandas.DataFrame:
        """One row per trial, one column per field of ``attrs`` (see
        ``pipetune._dataframe``): by default number, value (values_<i> or
        values_<metric name> for several objectives), datetime_start, datetime_complete,
        duration, params_<name>, user_attrs_<name> and state. ``multi_index=True`` makes the
        columns pairs, ``("params", "lr")``, rather than ``params_lr``."""
        from pipetune._dataframe import trials_dataframe

        return trials_dataframe(self.trials, self.directions, attrs, multi_index=multi_index,
                                metric_names=self.metric_names)


def check_experiment(experiment: Any) -> str:
    """``experiment`` if it can name an experiment: a non-empty string."""
    if not isinstance(experiment, str) or not experiment.strip():
        raise InvalidArgumentError(
            f"experiment must be a non-empty string such as 'dc-taxi'. Got {experiment!r}.")
    return experiment


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


def create_study(storage: str | BaseStorage | None = None, sampler: BaseSampler | None = None,
                 pruner: BasePruner | None = None, study_name: str | None = None,
                 direction: str | StudyDirection | None = None, load_if_exists: bool = False,
                 directions: Sequence[str | StudyDirection] | None = None, *,
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
        if experiment != DEFAULT_EXPERIMENT:  # the default one needs nothing written
            backend.set_study_attr(backend.get_study_id(study_name), EXPERIMENT_ATTR,
                                   experiment, system=True)
    if liveness is not None:
        liveness.store(backend, backend.get_study_id(study_name))
    budget.store(backend, backend.get_study_id(study_name))
    return Study(study_name, backend, sampler=sampler, pruner=pruner)


def load_study(*, study_name: str | None, storage: str | BaseStorage,
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


def delete_study(*, study_name: str, storage: str | BaseStorage) -> None:
    """Deletes a study and all its trials."""
    backend = get_storage(storage, create=False)
    backend.delete_study(backend.get_study_id(study_name))


def list_studies(storage: str | BaseStorage,
                 experiment: str | None = None) -> list[StudySummary]:
    """Every study in ``storage`` with its size and best trial (standalone runs included,
    ``system_attrs["kind"] == "run"``); only those of ``experiment`` when it is given."""
    summaries = get_storage(storage, create=False).list_studies()
    if experiment is None:
        return summaries
    return [s for s in summaries if experiment_of(s.system_attrs) == experiment]


def get_all_study_names(storage: str | BaseStorage) -> list[str]:
    return [summary.study_name for summary in list_studies(storage)]


def get_all_study_summaries(storage: str | BaseStorage,
                            include_best_trial: bool = True) -> list[StudySummary]:
    """``list_studies(storage)`` under Optuna's name; without ``include_best_trial`` the
    summaries leave ``best_trial`` None."""
    summaries = list_studies(storage)
    return summaries if include_best_trial else [replace(s, best_trial=None) for s in summaries]


def copy_study(*, from_study_name: str, from_storage: str | BaseStorage,
               to_storage: str | BaseStorage, to_study_name: str | None = None) -> None:
    """Copies a study into another storage (or under another name): its directions, user
    and system attrs (its experiment among them) and every trial, as ``add_trial`` stores
    them. A study of that name in ``to_storage`` is a DuplicateStudyError."""
    source = load_study(study_name=from_study_name, storage=from_storage)
    target = create_study(storage=to_storage, directions=source.directions,
                          study_name=from_study_name if to_study_name is None else to_study_name)
    for key, value in source.system_attrs.items():
        target._storage.set_study_attr(target._study_id, key, value, system=True)
    for key, value in source.user_attrs.items():
        target.set_user_attr(key, value)
    target.add_trials(source.get_trials(deepcopy=False))


def _same_value(stored: Any, value: Any) -> bool:
    """Whether ``value`` is the same param value as ``stored``: of its type and equal, or
    both NaN."""
    return isinstance(value, type(stored)) and (
        stored == value or isinstance(stored, float) and stored != stored and value != value)


def _collect_garbage(study: Study, trial: FrozenTrial) -> None:
    """The callback of ``optimize(gc_after_trial=True)``."""
    gc.collect()


__all__ = ["MaxTrialsCallback", "Study", "StudyDirection", "StudySummary", "copy_study",
           "create_study", "delete_study", "get_all_study_names", "get_all_study_summaries",
           "list_studies", "load_study"]
