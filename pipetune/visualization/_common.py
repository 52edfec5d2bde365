"""What every plot shares: choosing the trials and the objective, turning trials into columns
once (so 10,000 trials cost a few array operations, not a loop per trace), axis scaling for log
and categorical params, and the figure shown when there is nothing to draw."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from pipetune._imports import require
from pipetune.datatypes import FrozenTrial, StudyDirection, TrialState
from pipetune.distributions import CategoricalDistribution, Distribution
from pipetune.errors import InvalidArgumentError

if TYPE_CHECKING:
    import plotly.graph_objects as go

    from pipetune.study import Study

Target = Callable[[FrozenTrial], float]
DEFAULT_TARGET_NAME = "Objective Value"
# Above this many points a scatter is drawn with WebGL (Scattergl): SVG slows down past it.
WEBGL_ABOVE = 1000
STATE_COLORS = {TrialState.COMPLETE: "#1f77b4", TrialState.PRUNED: "#ff7f0e",
                TrialState.FAIL: "#d62728", TrialState.RUNNING: "#2ca02c",
                TrialState.WAITING: "#7f7f7f"}


def go_module() -> Any:
    """plotly.graph_objects, or a MissingDependencyError naming the extra that installs it."""
    require("plotly", "plot")
    import plotly.graph_objects as go

    return go


def check_study(study: Any, function: str) -> "Study":
    """Refuses anything that is not a study, before it fails deep inside a plot."""
    if not (hasattr(study, "trials") and hasattr(study, "directions")):
        raise InvalidArgumentError(
            f"{function} takes a pipetune Study as its first argument (from "
            f"pipetune.create_study or pipetune.load_study). Got {type(study).__name__}.")
    return study


def studies_of(study_or_studies: Any, function: str) -> list["Study"]:
    """One study or a list of them, as a list (for the plots that overlay several studies)."""
    if isinstance(study_or_studies, (list, tuple)):
        if not study_or_studies:
            raise InvalidArgumentError(
                f"{function} got an empty list of studies: pass one or more.")
        return [check_study(s, function) for s in study_or_studies]
    return [check_study(study_or_studies, function)]


def resolve_target(directions: Sequence[StudyDirection], target: Target | None,
                   target_name: str) -> tuple[Target, str]:
    """The function that reads the plotted number off a trial, and its axis title.

    Without ``target`` a single-objective study plots its value; a multi-objective study plots
    its first objective and says so in the title ("Objective 0"), so every plot still draws
    something (pass ``target=lambda t: t.values[1]`` for another)."""
    if target is not None:
        if not callable(target):
            raise InvalidArgumentError(
                f"target must be a function of a FrozenTrial returning a float, e.g. "
                f"target=lambda t: t.values[1]. Got {target!r}.")
        return target, target_name
    if len(directions) > 1 and target_name == DEFAULT_TARGET_NAME:
        target_name = "Objective 0"
    return (lambda trial: trial.values[0]), target_name


def target_values(trials: Sequence[FrozenTrial], target: Target) -> np.ndarray:
    """``target`` of each trial as floats; a target returning None leaves its trial out (NaN,
    like a non-finite value)."""
    values = (target(trial) for trial in trials)
    return np.fromiter((math.nan if v is None else float(v) for v in values), dtype=float,
                       count=len(trials))


def completed(study: "Study") -> list[FrozenTrial]:
    """The COMPLETE trials with values: the ones every objective plot is about."""
    return [t for t in study.get_trials(states=(TrialState.COMPLETE,)) if t.values is not None]


@dataclass(frozen=True)
class ParamColumn:
    """One param across a list of trials: its numeric coordinate per trial (NaN where the
    trial lacks it: a conditional param), the domain the axis shows, and for categorical
    params the choice labels (the coordinate is then the index into them)."""

    name: str
    coords: np.ndarray
    distribution: Distribution
    labels: tuple[str, ...] | None = None

    @property
    def is_categorical(self) -> bool:
        return self.labels is not None

    @property
    def is_log(self) -> bool:
        return bool(getattr(self.distribution, "log", False))

    @property
    def present(self) -> np.ndarray:
        return ~np.isnan(self.coords)

    def scaled(self) -> np.ndarray:
        """Coordinates on the scale the axis is even in: log10 for log params."""
        return np.log10(self.coords) if self.is_log else self.coords

    def axis(self) -> dict[str, Any]:
        """Plotly axis settings: a log axis for log params, tick labels for choices."""
        if self.is_categorical:
            return {"title": {"text": self.name}, "tickmode": "array",
                    "tickvals": list(range(len(self.labels))), "ticktext": list(self.labels)}
        return {"title": {"text": self.name}, "type": "log" if self.is_log else "linear"}

    def display(self) -> np.ndarray:
        """Values as the user knows them (choice labels for categorical params), for hovers."""
        if self.is_categorical:
            labels = np.array(self.labels + ("",), dtype=object)
            index = np.where(self.present, np.nan_to_num(self.coords, nan=-1), -1).astype(int)
            return labels[index]
        return self.coords


def param_columns(trials: Sequence[FrozenTrial]) -> dict[str, ParamColumn]:
    """Every param the trials hold, as columns in the order params first appear.

    A categorical param whose choices changed between trials gets the union of its choices;
    a param whose type changed keeps the type it has in the latest trial that holds it."""
    names: dict[str, Distribution] = {}
    for trial in trials:
        names.update(trial.distributions)
    columns = {}
    for name, latest in names.items():
        coords = np.full(len(trials), math.nan)
        if isinstance(latest, CategoricalDistribution):
            choices: dict[str, int] = {str(c): i for i, c in enumerate(latest.choices)}
            for i, trial in enumerate(trials):
                if name in trial.params and isinstance(trial.distributions[name],
                                                       CategoricalDistribution):
                    coords[i] = choices.setdefault(str(trial.params[name]), len(choices))
            columns[name] = ParamColumn(name, coords, latest, tuple(choices))
        else:
            for i, trial in enumerate(trials):
                value = trial.params.get(name)
                if isinstance(value, (int, float)) and not isinstance(value, bool):
                    coords[i] = value
            columns[name] = ParamColumn(name, coords, latest)
    return columns


def choose_params(columns: dict[str, ParamColumn], params: Sequence[str] | None,
                  function: str) -> list[str]:
    """The params a plot shows: all of them, or the ones asked for (checked, in that order)."""
    if params is None:
        return list(columns)
    if isinstance(params, str):
        params = [params]
    unknown = [p for p in params if p not in columns]
    if unknown:
        known = ", ".join(sorted(columns)) or "none yet"
        raise InvalidArgumentError(
            f"{function}: the study has no param named {', '.join(map(repr, unknown))}. "
            f"Its params: {known}.")
    return list(dict.fromkeys(params))


def best_so_far(values: np.ndarray, direction: StudyDirection) -> np.ndarray:
    """The running best of ``values`` (in trial order), NaNs skipped."""
    if direction == StudyDirection.MAXIMIZE:
        return np.fmax.accumulate(values) if len(values) else values
    return np.fmin.accumulate(values) if len(values) else values


def scatter_class(n_points: int) -> Any:
    """Scattergl for many points, Scatter (crisper, SVG) for few."""
    go = go_module()
    return go.Scattergl if n_points > WEBGL_ABOVE else go.Scatter


def empty_figure(title: str, reason: str) -> "go.Figure":
    """A figure saying why there is nothing to draw (an empty study, no COMPLETE trial...)."""
    return new_figure(
        title, xaxis={"visible": False}, yaxis={"visible": False},
        annotations=[{"text": reason, "showarrow": False, "xref": "paper", "yref": "paper",
                      "x": 0.5, "y": 0.5, "font": {"size": 16}}])


def new_figure(title: str, **layout: Any) -> "go.Figure":
    """An empty figure with the look every pipetune plot shares."""
    return style(go_module().Figure(), title, **layout)


def style(figure: "go.Figure", title: str, **layout: Any) -> "go.Figure":
    """Gives ``figure`` (e.g. one from plotly's make_subplots) the shared look and a title."""
    figure.update_layout(title={"text": title}, template="plotly_white", **layout)
    return figure


def grid_size(n_panels: int, max_columns: int = 3) -> tuple[int, int]:
    """Rows and columns of a grid of ``n_panels`` subplots."""
    columns = max(1, min(max_columns, n_panels))
    return math.ceil(n_panels / columns), columns


def trial_hover(numbers: np.ndarray, target: np.ndarray, target_name: str) -> list[str]:
    """Hover text naming the trial and its objective value."""
    return [f"trial {n}<br>{target_name}: {v:.6g}"
            for n, v in zip(numbers.tolist(), target.tolist())]


@dataclass(frozen=True)
class ObjectiveTable:
    """The COMPLETE trials of a study as columns: trial numbers, the target value of each
    (finite ones only) and the params asked for. What the per-param plots are drawn from."""

    numbers: np.ndarray
    target: np.ndarray
    target_name: str
    columns: dict[str, ParamColumn]
    params: list[str]

    def __len__(self) -> int:
        return len(self.numbers)


def objective_table(study: Any, function: str, params: Sequence[str] | None,
                    target: Target | None, target_name: str) -> ObjectiveTable:
    """Builds the ObjectiveTable of ``study`` for the plot named ``function``."""
    check_study(study, function)
    fn, name = resolve_target(study.directions, target, target_name)
    trials = completed(study)
    values = target_values(trials, fn)
    keep = np.isfinite(values)
    trials = [t for t, k in zip(trials, keep) if k]
    columns = param_columns(trials)
    # with no trial yet there are no columns to check the names against: the plot is empty
    chosen = choose_params(columns, params, function) if trials else list(params or ())
    numbers = np.array([t.number for t in trials], dtype=int)
    return ObjectiveTable(numbers, values[keep], name, columns, chosen)
