"""The COMPLETE trials of a study as numeric columns: one per param, and the objective.

What the per-param plots (``pipetune.visualization``) and the importance evaluators
(``pipetune.importance``) both start from: choosing the trials and the number read off each
(``target``), and turning trials into columns once, so 10,000 trials cost a few array
operations, not a loop per param.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from pipetune._attrs import is_feasible
from pipetune.datatypes import FrozenTrial, StudyDirection, TrialState
from pipetune.distributions import CategoricalDistribution, Distribution, IntDistribution
from pipetune.errors import InvalidArgumentError

if TYPE_CHECKING:
    from pipetune.study import Study

__all__ = ["DEFAULT_TARGET_NAME", "ChooseParams", "ObjectiveTable", "ParamColumn", "Target",
           "check_study", "choose_params", "completed", "objective_table", "param_columns",
           "resolve_target", "studies_of", "target_values"]

Target = Callable[[FrozenTrial], float]
DEFAULT_TARGET_NAME = "Objective Value"
# Picks the params shown by default from every param's name: (chosen, a note saying so).
ChooseParams = Callable[[list[str]], "tuple[list[str], str | None]"]


def check_study(study: Any, function: str) -> Study:
    """Refuses anything that is not a study, before it fails deep inside a plot."""
    if not (hasattr(study, "trials") and hasattr(study, "directions")):
        raise InvalidArgumentError(
            f"{function} takes a pipetune Study as its first argument (from "
            f"pipetune.create_study or pipetune.load_study). Got {type(study).__name__}.")
    return study


def studies_of(study_or_studies: Any, function: str) -> list[Study]:
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


def completed(study: Study) -> list[FrozenTrial]:
    """The COMPLETE trials with values: the ones every objective plot is about."""
    return [t for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
            if t.values is not None]


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
    def is_log(self) -> bool:
        return bool(getattr(self.distribution, "log", False))

    @property
    def is_int(self) -> bool:
        return isinstance(self.distribution, IntDistribution)

    @property
    def present(self) -> np.ndarray:
        return ~np.isnan(self.coords)

    def scaled(self) -> np.ndarray:
        """Coordinates on the scale the axis is even in: log10 for log params."""
        return np.log10(self.coords) if self.is_log else self.coords

    def span(self) -> tuple[float, float]:
        """The lowest and highest scaled coordinate the trials hold ((0, 1) when none does)."""
        present = self.scaled()[self.present]
        return (float(present.min()), float(present.max())) if len(present) else (0.0, 1.0)

    def display(self) -> np.ndarray:
        """Values as the user knows them (choice labels for categorical params), for hovers."""
        if self.labels is not None:
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


@dataclass(frozen=True)
class ObjectiveTable:
    """The COMPLETE trials of a study as columns: trial numbers, the target value of each
    (finite ones only), whether each meets its constraints (``feasible``) and the params asked
    for. What the per-param plots are drawn from. ``note`` says which params a plot shows when
    it chose them itself and left some out."""

    numbers: np.ndarray
    target: np.ndarray
    target_name: str
    columns: dict[str, ParamColumn]
    params: list[str]
    feasible: np.ndarray
    note: str | None = None

    def __len__(self) -> int:
        return len(self.numbers)

    def layout(self, title: str) -> dict[str, Any]:
        """``title`` (with ``note`` under it) and ``meta.params``, the params drawn (which the
        dashboard's param picker shows as chosen): for ``new_figure(**table.layout(title))``."""
        if self.note is not None:
            title += f"<br><sup>{self.note}</sup>"
        return {"title": title, "meta": {"params": self.params}}


def objective_table(study: Any, function: str, params: Sequence[str] | None,
                    target: Target | None, target_name: str,
                    choose_default: ChooseParams | None = None) -> ObjectiveTable:
    """Builds the ObjectiveTable of ``study`` for the function named ``function`` (a plot, an
    importance evaluator). Without ``params``, every param, or those ``choose_default`` picks
    from their names (with a note saying so, or None)."""
    check_study(study, function)
    fn, name = resolve_target(study.directions, target, target_name)
    trials = completed(study)
    values = target_values(trials, fn)
    keep = np.isfinite(values)
    trials = [t for t, k in zip(trials, keep) if k]
    columns = param_columns(trials)
    note = None
    if params is None and choose_default is not None:
        chosen, note = choose_default(list(columns))
    else:
        # with no trial yet there are no columns to check the names against: the plot is empty
        chosen = choose_params(columns, params, function) if trials else list(params or ())
    numbers = np.array([t.number for t in trials], dtype=int)
    feasible = np.array([is_feasible(t.system_attrs) for t in trials], dtype=bool)
    return ObjectiveTable(numbers, values[keep], name, columns, chosen, feasible, note)
