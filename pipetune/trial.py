"""The handle an objective receives: suggests params, reports progress, records attributes.

A trial belongs to the run interface of its study (``pipetune.execution.interface``), which
gives it the storage, the sampler, the pruner and the study view; ``TrialContext`` says what
it needs of it. The methods below the objective's vocabulary (``trial_id``, ``fixed_params``,
``finished_state``, ``mark_finished``, ``fix_param``, ``flush``) are what the run loop, the
search spaces of ``pipetune tune`` and standalone runs use.
"""

from __future__ import annotations

import datetime as dt
import math
import numbers
import warnings
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Protocol

from pipetune._attrs import FIXED_PARAMS_ATTR
from pipetune._numbers import real_number, shown
from pipetune._param_buffer import ParamBuffer
from pipetune._recorder import Recorder
from pipetune.base_trial import BaseTrial, FixedTrial, add_constraint
from pipetune.datatypes import ArtifactInfo, FrozenTrial, StudyDirection, TrialState
from pipetune.distributions import (
    CategoricalDistribution,
    Distribution,
    check_compatible,
    contains_external,
)
from pipetune.errors import ArgumentTypeError, InvalidArgumentError, UpdateFinishedTrialError

if TYPE_CHECKING:
    from pipetune.pruners.base import BasePruner
    from pipetune.samplers.base import BaseSampler
    from pipetune.storage.base import BaseStorage
    from pipetune.view import StudyView


class TrialContext(Protocol):
    """What a trial needs from the study it runs in. ``RunInterface``
    (``pipetune.execution.interface``) is the one implementation; naming it here keeps this
    module below the run loop that creates trials."""

    storage: BaseStorage
    sampler: BaseSampler
    pruner: BasePruner
    directions: tuple[StudyDirection, ...]
    study: Any  # the Study: what ``Trial.study`` returns

    @property
    def retries_failed(self) -> bool:
        """Whether the study re-enqueues trials that fail (``retry_failed``)."""

    def view(self, refresh: bool = True) -> StudyView:
        """The study view samplers and pruners read, refreshed from storage unless told not."""


class Trial(BaseTrial):
    """One evaluation of the objective. Params are define-by-run: whatever the objective
    suggests, in whatever order and under whatever conditions, is the trial's search space.

    Suggestions are stored in batches, at the latest a moment after they are made (see
    ``pipetune._param_buffer``), so a crashed trial still shows what it tried.
    A Trial belongs to one thread.
    """

    def __init__(self, context: TrialContext, frozen: FrozenTrial) -> None:
        self._context = context
        self._trial_id = frozen.trial_id
        self._number = frozen.number
        self._datetime_start = frozen.datetime_start
        self._params: dict[str, Any] = dict(frozen.params)
        self._distributions: dict[str, Distribution] = dict(frozen.distributions)
        self._user_attrs: dict[str, Any] = dict(frozen.user_attrs)
        self._system_attrs: dict[str, Any] = dict(frozen.system_attrs)
        self._intermediate_values: dict[int, float | tuple[float, ...]] = dict(
            frozen.intermediate_values)
        self._fixed_params: dict[str, Any] = dict(frozen.system_attrs.get(FIXED_PARAMS_ATTR) or {})
        self._view: StudyView | None = None
        self._relative_space: dict[str, Distribution] | None = None
        self._relative_params: dict[str, Any] = {}
        self._snapshot: FrozenTrial | None = None  # reset by every change below
        self._param_buffer = ParamBuffer(context.storage, frozen.trial_id,
                                         write_through=context.retries_failed)
        self._told: TrialState | None = None  # set by mark_finished
        self._recorder: Recorder | None = None  # metrics and artifacts, made on first use

    # -- identity ------------------------------------------------------------------------------

    @property
    def study(self) -> Any:
        """The ``Study`` this trial belongs to."""
        return self._context.study

    @property
    def number(self) -> int:
        """The trial's index in its study, 0-based and unique."""
        return self._number

    @property
    def trial_id(self) -> int:
        """The trial's id in its storage (unique across studies)."""
        return self._trial_id

    @property
    def params(self) -> dict[str, Any]:
        return dict(self._params)

    @property
    def distributions(self) -> dict[str, Distribution]:
        return dict(self._distributions)

    @property
    def user_attrs(self) -> dict[str, Any]:
        return dict(self._user_attrs)

    @property
    def system_attrs(self) -> dict[str, Any]:
        return dict(self._system_attrs)

    @property
    def datetime_start(self) -> dt.datetime | None:
        return self._datetime_start

    @property
    def intermediate_values(self) -> dict[int, float | tuple[float, ...]]:
        return dict(self._intermediate_values)

    @property
    def fixed_params(self) -> dict[str, Any]:
        """The params this trial takes rather than samples: enqueued ones (``enqueue_trial``)
        and those given with ``fix_param``."""
        return dict(self._fixed_params)

    @property
    def finished_state(self) -> TrialState | None:
        """The state the trial was finished in (COMPLETE, PRUNED or FAIL) by this process;
        None while it runs."""
        return self._told

    def mark_finished(self, state: TrialState) -> None:
        """Records that the trial was finished in ``state``: it takes no suggestion from now
        on. The run interface calls it once it stored the outcome."""
        self._told = state

    def snapshot(self) -> FrozenTrial:
        """The trial as it stands now, as samplers and pruners see it."""
        if self._snapshot is None:
            self._snapshot = self._freeze()
        return self._snapshot

    def _freeze(self) -> FrozenTrial:
        return FrozenTrial(
            number=self._number, trial_id=self._trial_id, state=TrialState.RUNNING,
            params=dict(self._params), distributions=dict(self._distributions),
            user_attrs=dict(self._user_attrs), system_attrs=dict(self._system_attrs),
            intermediate_values=dict(self._intermediate_values),
            datetime_start=self._datetime_start)

    # -- suggestions ---------------------------------------------------------------------------

    # ``suggest_float``, ``suggest_int``, ``suggest_categorical`` and Optuna 2's spellings come
    # from BaseTrial and call ``suggest``. The choices of a categorical param may differ
    # between trials of one study.

    def _study_view(self) -> StudyView:
        if self._view is None:
            self._view = self._context.view(refresh=self._context.sampler.needs_history)
        return self._view

    def _relative(self) -> tuple[dict[str, Distribution], dict[str, Any]]:
        """The sampler's relative search space and its draws in it, made on first use."""
        if self._relative_space is None:
            sampler, view, frozen = self._context.sampler, self._study_view(), self.snapshot()
            self._relative_space = sampler.infer_relative_search_space(view, frozen)
            if self._relative_space:
                self._relative_params = sampler.sample_relative(view, frozen, self._relative_space)
        return self._relative_space, self._relative_params

    def suggest(self, name: str, distribution: Distribution) -> Any:
        """A value of ``distribution`` for the param ``name``: what ``suggest_float``,
        ``suggest_int`` and ``suggest_categorical`` do, for code that holds a distribution
        (a declared search space). An enqueued value is taken as it is; one outside
        ``distribution`` is warned about and replaced by a sampled one."""
        if not isinstance(name, str) or not name:
            raise InvalidArgumentError(f"A param name must be a non-empty string. Got {name!r}.")
        if name in self._distributions:
            check_compatible(name, self._distributions[name], distribution)
            return self._params[name]
        if self._told is not None:
            raise UpdateFinishedTrialError(
                f"Trial {self._number} is already {self._told.name}; suggest params before "
                "telling its result.")
        fixed = name in self._fixed_params
        if fixed and not contains_external(distribution, self._fixed_params[name]):
            # Samplers model the domain: a point outside it would mislead them.
            warnings.warn(
                f"The enqueued value {self._fixed_params[name]!r} of {name!r} is outside its "
                f"domain {distribution!r}; trial {self._number} samples one inside it instead.",
                stacklevel=3)
            fixed = False
        if fixed:
            value = self._fixed_params[name]
        elif distribution.single():
            value = distribution.to_external(distribution.to_internal(
                distribution.choices[0] if isinstance(distribution, CategoricalDistribution)
                else distribution.low))
        else:
            space, relative = self._relative()
            if name in relative and space.get(name) == distribution:
                value = relative[name]
            else:
                value = self._context.sampler.sample_independent(
                    self._study_view(), self.snapshot(), name, distribution)
        internal = distribution.to_internal(value)
        self._param_buffer.add(name, internal, distribution)
        value = distribution.to_external(internal)
        self._params[name] = value
        self._distributions[name] = distribution
        self._snapshot = None
        return value

    def fix_param(self, name: str, value: Any, distribution: Distribution) -> Any:
        """Records ``value`` as the param ``name`` in ``distribution``, as an enqueued value
        is recorded: for a param whose value is given rather than sampled (a standalone run's
        ``log_param``, a param derived from another). Returns the value as stored."""
        self._fixed_params[name] = value
        return self.suggest(name, distribution)

    # -- progress and pruning ------------------------------------------------------------------

    def report(self, value: float | Sequence[float], step: int) -> None:
        """Records an intermediate value (a validation score after ``step`` epochs, say) for
        pruners and learning curves: one number, or one per objective in a multi-objective
        study. Anything ``float()`` takes is a number (a numpy scalar, the string "0.5"); NaN
        and inf are kept (pruners treat them as hopeless or extreme). ``step`` is a whole
        number >= 0. A step reported twice keeps its first value.

        A value or step of the wrong type is an ArgumentTypeError (a TypeError)."""
        value = self._reported_value(value)
        step = _reported_step(step)
        if step in self._intermediate_values:
            warnings.warn(f"Trial {self._number} already reported step {step}; the value "
                          f"{value} is ignored.", stacklevel=2)
            return
        self._flush_params()
        if self._context.storage.set_trial_intermediate_value(self._trial_id, step, value):
            self._intermediate_values[step] = value
            self._snapshot = None

    def _reported_value(self, value: Any) -> float | tuple[float, ...]:
        n_objectives = len(self._context.directions)
        if n_objectives == 1:
            return _reported_number(value, value)
        if isinstance(value, (str, bytes)) or not hasattr(value, "__len__") \
                or len(value) != n_objectives:
            raise ArgumentTypeError(
                f"The 'value' argument of Trial.report must be {n_objectives} numbers, one per "
                f"objective. Got {shown(value)}.")
        return tuple(_reported_number(each, value) for each in value)

    def should_prune(self) -> bool:
        """Whether the study's pruner says this trial should stop now; if so the objective
        raises ``pipetune.TrialPruned()``."""
        pruner = self._context.pruner
        view = self._context.view(refresh=pruner.needs_history)
        return bool(pruner.prune(view, self.snapshot()))

    # -- attributes ----------------------------------------------------------------------------

    def set_user_attr(self, key: str, value: Any) -> None:
        """Stores a JSON value with the trial (shown as ``user_attrs_<key>`` in dataframes)."""
        self._flush_params()
        self._context.storage.set_trial_attr(self._trial_id, key, value)
        self._user_attrs[key] = value
        self._snapshot = None

    def set_constraint(self, key: str, value: float) -> None:
        """Records the constraint ``key`` of this trial, satisfied when ``value <= 0`` (a
        cost over budget, a model too large); samplers that know constraints steer towards
        trials satisfying all of theirs, and ``constraints`` reads them back. A second value
        for one key is ignored with a warning."""
        for attr, number in (add_constraint(self._system_attrs, key, value) or {}).items():
            self.set_system_attr(attr, number)

    def set_system_attr(self, key: str, value: Any) -> None:
        self._flush_params()
        self._context.storage.set_trial_attr(self._trial_id, key, value, system=True)
        self._system_attrs[key] = value
        self._snapshot = None

    def _flush_params(self) -> None:
        """Stores the buffered suggestions; every other write of the trial calls it first."""
        self._param_buffer.flush()

    # -- tracking: metric series and artifacts (see pipetune._recorder) ------------------------

    def _tracking(self) -> Recorder:
        if self._recorder is None:
            self._recorder = Recorder(self._context.storage, self._trial_id)
        return self._recorder

    def log_metric(self, name: str, value: float, step: int | None = None) -> None:
        """Appends a point to the named metric series (``train_loss``, ``val_rmse`` ...), at
        ``step`` or the step after the last one logged for that name. Any number of series;
        ``metrics.NAME`` in ``Study.search`` filters is the last value."""
        self._tracking().log_metric(name, value, step)

    def log_metrics(self, metrics: dict[str, float], step: int | None = None) -> None:
        """Logs several metrics at one step."""
        self._tracking().log_metrics(metrics, step)

    def log_artifact(self, path: str, name: str | None = None) -> ArtifactInfo:
        """Stores a copy of a file with the trial (a model, a plot, a report)."""
        return self._tracking().log_artifact(path, name)

    def log_text(self, text: str, name: str) -> ArtifactInfo:
        """Stores a string as an artifact file of the trial."""
        return self._tracking().log_text(text, name)

    def log_figure(self, figure: Any, name: str) -> ArtifactInfo:
        """Stores a plotly (as JSON) or matplotlib (as PNG) figure with the trial."""
        return self._tracking().log_figure(figure, name)

    def flush(self) -> None:
        """Writes everything buffered, params and metric points: the run loop calls it before
        it stores the trial's result."""
        self._flush_params()
        if self._recorder is not None:
            self._recorder.flush()


def _reported_number(number: Any, value: Any) -> float:
    """``number`` (part of the reported ``value``) as a float, or the error saying why not."""
    try:
        return float(number)
    except OverflowError:
        raise InvalidArgumentError(
            f"The 'value' argument of Trial.report must be a number a float can hold. Got "
            f"{shown(value)}.") from None
    except (TypeError, ValueError):
        raise ArgumentTypeError(
            f"The 'value' argument of Trial.report must be a number. Got {shown(value)} of "
            f"type {type(number).__name__}.") from None


def _reported_step(step: Any) -> int:
    """``step`` as an int >= 0: whatever ``int()`` takes without dropping a fraction."""
    try:
        whole = int(step)
    except (TypeError, ValueError, OverflowError):
        raise ArgumentTypeError(
            f"The 'step' argument of Trial.report must be an int >= 0. Got {shown(step)}."
        ) from None
    if isinstance(step, numbers.Real) and whole != step or whole < 0:
        raise InvalidArgumentError(
            f"The 'step' argument of Trial.report must be an int >= 0. Got {shown(step)}.")
    return whole


def check_values(values: Any, n_objectives: int) -> tuple[tuple[float, ...] | None, str | None]:
    """Turns an objective's return into a tuple of floats, or explains why it cannot be one."""
    if isinstance(values, numbers.Real) and not isinstance(values, bool):
        values = (values,)
    elif hasattr(values, "item") and getattr(values, "ndim", 1) == 0:  # numpy / torch scalar
        values = (values.item(),)
    if isinstance(values, (str, bytes, dict)) or not hasattr(values, "__iter__"):
        return None, (f"The objective returned {shown(values)} ({type(values).__name__}); it "
                      f"must return a number (or {n_objectives} numbers for {n_objectives} "
                      "objectives).")
    values = tuple(values)
    if len(values) != n_objectives:
        return None, (f"The objective returned {len(values)} values for a study with "
                      f"{n_objectives} objective(s).")
    floats = []
    for value in values:
        number = real_number(value)
        if number is None:
            return None, (f"The objective returned {shown(value)} ({type(value).__name__}); it "
                          "must return a number a float can hold.")
        if math.isnan(number):
            return None, "The objective returned NaN."
        floats.append(number)
    return tuple(floats), None


def check_trial(trial: FrozenTrial) -> None:
    """Raises InvalidArgumentError unless ``trial`` is a trial a study can hold (what
    ``Study.add_trial`` takes): start and completion times that fit its state, values exactly
    when it is COMPLETE (optional when PRUNED), no NaN among them, and each param a value of
    its distribution."""
    state = trial.state
    problem = None
    if state != TrialState.WAITING and trial.datetime_start is None:
        problem = f"a {state.name} trial needs a datetime_start"
    elif state.is_finished() != (trial.datetime_complete is not None):
        problem = (f"a {state.name} trial needs a datetime_complete" if state.is_finished()
                   else f"a {state.name} trial has no datetime_complete")
    elif state == TrialState.COMPLETE and not trial.values:
        problem = "a COMPLETE trial needs its value(s)"
    elif state not in (TrialState.COMPLETE, TrialState.PRUNED) and trial.values is not None:
        problem = f"a {state.name} trial has no values"
    elif trial.values is not None and any(math.isnan(v) for v in trial.values):
        problem = f"its values {list(trial.values)} hold a NaN"
    elif set(trial.params) != set(trial.distributions):
        problem = (f"its params {sorted(trial.params)} and distributions "
                   f"{sorted(trial.distributions)} name different params")
    else:
        outside = [name for name, value in trial.params.items()
                   if not contains_external(trial.distributions[name], value)]
        if outside:
            name = outside[0]
            problem = (f"its param {name}={trial.params[name]!r} is outside "
                       f"{trial.distributions[name]!r}")
    if problem is not None:
        raise InvalidArgumentError(f"This trial cannot be stored: {problem}.")


def create_trial(*, state: TrialState | str = TrialState.COMPLETE, value: float | None = None,
                 values: Sequence[float] | None = None, params: dict[str, Any] | None = None,
                 distributions: dict[str, Distribution] | None = None,
                 user_attrs: dict[str, Any] | None = None,
                 system_attrs: dict[str, Any] | None = None,
                 intermediate_values: dict[int, float] | None = None,
                 constraints: dict[str, float] | None = None) -> FrozenTrial:
    """A trial made outside any study, checked (``check_trial``), for ``Study.add_trial``:
    a result computed elsewhere, or a known good configuration to start a study from. It
    started and (unless WAITING or RUNNING) finished now; the study gives it its number and
    id when added (-1 until then). ``constraints`` are recorded as ``set_constraint`` does."""
    state = TrialState.parse(state)
    now = None if state == TrialState.WAITING else dt.datetime.now()
    trial = FrozenTrial(
        number=-1, trial_id=-1, state=state, value=value, values=values,
        params=dict(params or {}), distributions=dict(distributions or {}),
        user_attrs=dict(user_attrs or {}), system_attrs=dict(system_attrs or {}),
        intermediate_values=dict(intermediate_values or {}),
        datetime_start=now, datetime_complete=now if state.is_finished() else None)
    for key, constraint in (constraints or {}).items():
        trial.set_constraint(key, constraint)
    check_trial(trial)
    return trial


__all__ = ["BaseTrial", "FixedTrial", "FrozenTrial", "Trial", "TrialState", "check_trial",
           "check_values", "create_trial"]
