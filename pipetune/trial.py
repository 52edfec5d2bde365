"""The handle an objective receives: suggests params, reports progress, records attributes."""

from __future__ import annotations

import datetime as dt
import math
import numbers
import warnings
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from pipetune._numbers import real_number, shown
from pipetune._param_buffer import ParamBuffer
from pipetune.datatypes import FrozenTrial, TrialState
from pipetune.distributions import (
    CategoricalChoice,
    CategoricalDistribution,
    Distribution,
    FloatDistribution,
    IntDistribution,
    check_compatible,
    contains_external,
)
from pipetune.errors import InvalidArgumentError, UpdateFinishedTrialError
from pipetune.tracking.recorder import Recorder
from pipetune.tracking.records import ArtifactInfo

if TYPE_CHECKING:
    from pipetune.storage.cached import StudyView
    from pipetune.study import Study

FIXED_PARAMS_ATTR = "fixed_params"


class Trial:
    """One evaluation of the objective. Params are define-by-run: whatever the objective
    suggests, in whatever order and under whatever conditions, is the trial's search space.

    Suggestions are stored in batches, at the latest a moment after they are made (see
    ``pipetune._param_buffer``), so a crashed trial still shows what it tried.
    A Trial belongs to one thread.
    """

    def __init__(self, study: "Study", frozen: FrozenTrial) -> None:
        self.study = study
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
        liveness = study._liveness
        self._param_buffer = ParamBuffer(
            study._storage, frozen.trial_id,
            write_through=liveness is not None and liveness.settings.retry_failed > 0)
        self._told: TrialState | None = None  # set by Study.tell
        self._recorder: Recorder | None = None  # metrics and artifacts, made on first use

    # -- identity ------------------------------------------------------------------------------

    @property
    def number(self) -> int:
        """The trial's index in its study, 0-based and unique."""
        return self._number

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
    def intermediate_values(self) -> dict[int, "float | tuple[float, ...]"]:
        return dict(self._intermediate_values)

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

    def suggest_float(self, name: str, low: float, high: float, *, step: float | None = None,
                      log: bool = False) -> float:
        """A float in ``[low, high]``, log-uniform when ``log``, on a grid when ``step``."""
        return self._suggest(name, FloatDistribution(low, high, log=log, step=step))

    def suggest_int(self, name: str, low: int, high: int, *, step: int = 1,
                    log: bool = False) -> int:
        """An int in ``[low, high]`` (both included), log-scaled when ``log``."""
        return self._suggest(name, IntDistribution(low, high, log=log, step=step))

    def suggest_categorical(self, name: str,
                            choices: Sequence[CategoricalChoice]) -> CategoricalChoice:
        """One of ``choices`` (str, int, float, bool or None); the set may differ between
        trials of one study."""
        return self._suggest(name, CategoricalDistribution(choices))

    def suggest_uniform(self, name: str, low: float, high: float) -> float:
        """Same as ``suggest_float(name, low, high)``; kept for code written for Optuna 2."""
        return self.suggest_float(name, low, high)

    def suggest_loguniform(self, name: str, low: float, high: float) -> float:
        """Same as ``suggest_float(name, low, high, log=True)``."""
        return self.suggest_float(name, low, high, log=True)

    def suggest_discrete_uniform(self, name: str, low: float, high: float, q: float) -> float:
        """Same as ``suggest_float(name, low, high, step=q)``."""
        return self.suggest_float(name, low, high, step=q)

    def _study_view(self) -> "StudyView":
        if self._view is None:
            self._view = self.study._view(refresh=self.study.sampler.needs_history)
        return self._view

    def _relative(self) -> dict[str, Any]:
        if self._relative_space is None:
            sampler, view, frozen = self.study.sampler, self._study_view(), self.snapshot()
            self._relative_space = sampler.infer_relative_search_space(view, frozen)
            if self._relative_space:
                self._relative_params = sampler.sample_relative(view, frozen, self._relative_space)
        return self._relative_params

    def _suggest(self, name: str, distribution: Distribution) -> Any:
        if not isinstance(name, str) or not name:
            raise InvalidArgumentError(f"A param name must be a non-empty string. Got {name!r}.")
        if name in self._distributions:
            check_compatible(name, self._distributions[name], distribution)
            return self._params[name]
        if self._told is not None:
            raise UpdateFinishedTrialError(
                f"Trial {self._number} is already {self._told.name}; suggest params before "
                "telling its result.")
        if name in self._fixed_params:
            value = self._fixed_params[name]
            if not contains_external(distribution, value):
                raise InvalidArgumentError(
                    f"The enqueued value {value!r} of {name!r} is outside its domain "
                    f"{distribution!r}: enqueue a value inside it, or widen the suggestion."
                )
        elif distribution.single():
            value = distribution.to_external(distribution.to_internal(
                distribution.choices[0] if isinstance(distribution, CategoricalDistribution)
                else distribution.low))
        else:
            relative = self._relative()
            if name in relative and self._relative_space.get(name) == distribution:
                value = relative[name]
            else:
                value = self.study.sampler.sample_independent(
                    self._study_view(), self.snapshot(), name, distribution)
        internal = distribution.to_internal(value)
        self._param_buffer.add(name, internal, distribution)
        value = distribution.to_external(internal)
        self._params[name] = value
        self._distributions[name] = distribution
        self._snapshot = None
        return value

    # -- progress and pruning ------------------------------------------------------------------

    def report(self, value: "float | Sequence[float]", step: int) -> None:
        """Records an intermediate value (a validation score after ``step`` epochs, say) for
        pruners and learning curves: one number, or one per objective in a multi-objective
        study. NaN and inf are kept (pruners treat them as hopeless or extreme). A step
        reported twice keeps its first value."""
        if isinstance(step, bool) or not isinstance(step, numbers.Integral) or step < 0:
            raise InvalidArgumentError(
                f"The 'step' argument of Trial.report must be an int >= 0. Got {step!r}."
            )
        step, value = int(step), self._reported_value(value)
        if step in self._intermediate_values:
            warnings.warn(f"Trial {self._number} already reported step {step}; the value "
                          f"{value} is ignored.", stacklevel=2)
            return
        self._flush_params()
        if self.study._storage.set_trial_intermediate_value(self._trial_id, step, value):
            self._intermediate_values[step] = value
            self._snapshot = None

    def _reported_value(self, value: Any) -> "float | tuple[float, ...]":
        n_objectives = len(self.study.directions)
        values = (value,) if n_objectives == 1 else value
        if isinstance(values, (str, bytes)) or not hasattr(values, "__len__") \
                or len(values) != n_objectives:
            expected = "a number" if n_objectives == 1 else f"{n_objectives} numbers, one per objective"
            raise InvalidArgumentError(
                f"The 'value' argument of Trial.report must be {expected}. Got {shown(value)}."
            )
        floats = [real_number(each) for each in values]
        if None in floats:
            expected = "a number a float can hold (the study has one objective)" \
                if n_objectives == 1 else "numbers a float can hold"
            raise InvalidArgumentError(
                f"The 'value' argument of Trial.report must be {expected}. Got {shown(value)}."
            )
        return floats[0] if n_objectives == 1 else tuple(floats)

    def should_prune(self) -> bool:
        """Whether the study's pruner says this trial should stop now; if so the objective
        raises ``pipetune.TrialPruned()``."""
        pruner = self.study.pruner
        view = self.study._view(refresh=pruner.needs_history)
        return bool(pruner.prune(view, self.snapshot()))

    # -- attributes ----------------------------------------------------------------------------

    def set_user_attr(self, key: str, value: Any) -> None:
        """Stores a JSON value with the trial (shown as ``user_attrs_<key>`` in dataframes)."""
        self._flush_params()
        self.study._storage.set_trial_attr(self._trial_id, key, value)
        self._user_attrs[key] = value
        self._snapshot = None

    def set_system_attr(self, key: str, value: Any) -> None:
        self._flush_params()
        self.study._storage.set_trial_attr(self._trial_id, key, value, system=True)
        self._system_attrs[key] = value
        self._snapshot = None

    def _flush_params(self) -> None:
        """Stores the buffered suggestions; every other write of the trial calls it first."""
        self._param_buffer.flush()

    # -- tracking: metric series and artifacts (see pipetune.tracking.recorder) ----------------

    def _tracking(self) -> Recorder:
        if self._recorder is None:
            self._recorder = Recorder(self.study._storage, self._trial_id)
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

    def _flush(self) -> None:
        """Writes everything buffered, params and metric points: before the result is stored."""
        self._flush_params()
        if self._recorder is not None:
            self._recorder.flush()


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
