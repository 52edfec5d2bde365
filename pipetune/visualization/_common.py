"""What every plot shares: choosing the trials and the objective, turning trials into columns
once (so 10,000 trials cost a few array operations, not a loop per trace), axis scaling for log
and categorical params, and the figure shown when there is nothing to draw."""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from pipetune._imports import require
from pipetune.datatypes import FrozenTrial, StudyDirection, TrialState
from pipetune.distributions import CategoricalDistribution, Distribution, IntDistribution
from pipetune.errors import InvalidArgumentError, MissingDependencyError

if TYPE_CHECKING:
    import plotly.graph_objects as go

    from pipetune.study import Study

Target = Callable[[FrozenTrial], float]
DEFAULT_TARGET_NAME = "Objective Value"
# Above this many points a scatter is drawn with WebGL (Scattergl): SVG slows down past it.
WEBGL_ABOVE = 1000
# How many params a plot of several params shows unless told which: the most important ones.
# With every param of a 12-param study, labels overlap and a contour grid has 132 panels.
DEFAULT_N_PARAMS = 4
# What labels are wrapped to fit: the width plotly draws a figure at when its layout sets
# none, the margins around the plot (the right one as widened for a colour bar), and a
# generous average width of one character of its default font, in font sizes.
DEFAULT_WIDTH = 700
MARGIN = {"l": 80, "r": 80, "t": 100, "b": 80}
COLORBAR_WIDTH = 100
CHAR_WIDTH = 0.6
AXIS_TITLE_SIZE = 14  # px, plotly's default
STATE_COLORS = {TrialState.COMPLETE: "#1f77b4", TrialState.PRUNED: "#ff7f0e",
                TrialState.FAIL: "#d62728", TrialState.RUNNING: "#2ca02c",
                TrialState.WAITING: "#7f7f7f"}


def go_module() -> Any:
    """plotly.graph_objects, or a MissingDependencyError naming the extra that installs it."""
    require("plotly", "plot")
    import plotly.graph_objects as go

    _pandas_imported()
    return go


@functools.cache
def _pandas_imported() -> bool:
    """Imports pandas where installed, before plotly builds a figure. Plotly takes pandas from
    ``sys.modules`` once anything has begun importing it; while another thread (the server
    builds figures in several, importance imports scikit-learn) is still importing it, plotly
    fails on the half-imported module. An import statement waits for that import to end."""
    try:
        import pandas  # noqa: F401
    except ImportError:
        return False
    return True


def subplots(**grid: Any) -> "go.Figure":
    """plotly's ``make_subplots(**grid)``, once plotly is ready (see ``go_module``)."""
    go_module()
    from plotly.subplots import make_subplots

    return make_subplots(**grid)


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

    def ticks(self, low: float, high: float) -> tuple[list[float], list[str]]:
        """Tick positions (on the scaled axis) inside ``[low, high]`` with their labels in the
        param's own units: each choice, powers of ten (or 1-3, 1-2-5 steps) for log params,
        round numbers for the others (whole ones for ints)."""
        if self.is_categorical:
            return list(range(len(self.labels))), list(self.labels)
        if self.is_log:
            positions = log_ticks(low, high)
            return positions, [f"{10 ** p:.3g}" for p in positions]
        positions = linear_ticks(low, high, whole=self.is_int)
        return positions, [f"{p:.6g}" for p in positions]

    def axis(self, length: float) -> dict[str, Any]:
        """Plotly settings of an axis ``length`` pixels long: its title (the name, wrapped to
        fit), a log axis for log params, ticks (see ``ticks``) for categorical, int and log
        params, each of those with a range that holds its ticks and, with a margin, its
        points; a plain float's axis places its own ticks inside its range."""
        axis: dict[str, Any] = {"title": {"text": wrap(self.name, length, AXIS_TITLE_SIZE)}}
        if self.is_categorical:
            ticks, labels = self.ticks(0, len(self.labels) - 1)
            return {**axis, "tickmode": "array", "tickvals": ticks, "ticktext": labels,
                    "range": [-0.5, len(self.labels) - 0.5]}
        if not (self.is_log or self.is_int):
            return {**axis, "type": "linear"}
        low, high = self.span()
        ticks, labels = self.ticks(low, high)
        pad = max(0.05 if self.is_log else 0.5, 0.05 * (high - low))
        return {**axis, "type": "log" if self.is_log else "linear", "tickmode": "array",
                # a log axis takes its ticks in the param's units, its range in log10 units
                "tickvals": [10 ** t for t in ticks] if self.is_log else ticks,
                "ticktext": labels, "range": [low - pad, high + pad]}

    def display(self) -> np.ndarray:
        """Values as the user knows them (choice labels for categorical params), for hovers."""
        if self.is_categorical:
            labels = np.array(self.labels + ("",), dtype=object)
            index = np.where(self.present, np.nan_to_num(self.coords, nan=-1), -1).astype(int)
            return labels[index]
        return self.coords


def linear_ticks(low: float, high: float, whole: bool = False, max_ticks: int = 6
                 ) -> list[float]:
    """At most ``max_ticks`` round numbers inside ``[low, high]``, 1, 2 or 5 times a power of
    ten apart (whole numbers when ``whole``)."""
    span = high - low
    if not span > 0:
        return [low]
    exponent = math.floor(math.log10(span / max_ticks))
    if whole:
        exponent = max(exponent, 0)
    step = next(m * 10.0 ** e for e in (exponent, exponent + 1) for m in (1, 2, 5)
                if span / (m * 10.0 ** e) + 1 <= max_ticks)
    first = math.ceil(low / step - 1e-9)
    last = math.floor(high / step + 1e-9)
    return [round(k * step, 12) for k in range(first, last + 1)]


def log_ticks(low: float, high: float, max_ticks: int = 8) -> list[float]:
    """Tick positions inside ``[low, high]`` of a log10 axis: the powers of ten (every k-th one
    when there are more than ``max_ticks``); where the range holds fewer than three, also the
    threes between them, or else the 1, 2, 5 steps; where even those are fewer than two, the
    ends of the range."""
    tolerance = 1e-9
    powers = range(math.floor(low), math.ceil(high) + 1)
    for mantissas, enough in (((1,), 3), ((1, 3), 3), ((1, 2, 5), 2)):
        ticks = [p + math.log10(m) for p in powers for m in mantissas
                 if low - tolerance <= p + math.log10(m) <= high + tolerance]
        if len(ticks) >= enough:
            return ticks[::math.ceil(len(ticks) / max_ticks)]
    return [low, high] if high > low else [low]


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


def wrap(text: str, width: float, font_size: float) -> str:
    """``text`` broken into lines (joined by ``<br>``) no wider than ``width`` pixels at
    ``font_size``, after a ``_``, ``.``, ``-`` or space: a param name under a narrow panel or
    axis. A piece with no break in it keeps a line of its own, however long."""
    max_chars = max(1, int(width / (CHAR_WIDTH * font_size)))
    lines = [""]
    for piece in re.findall(r"[^_.\- ]*[_.\- ]?", text):
        if lines[-1] and len(lines[-1]) + len(piece) > max_chars:
            lines.append("")
        lines[-1] += piece
    return "<br>".join(line.rstrip() for line in lines if line.strip())


def plot_width(width: int | None = None) -> float:
    """The pixels between the margins of a figure ``width`` wide (plotly's default without)
    that has a colour bar: what its panels share."""
    return (width or DEFAULT_WIDTH) - MARGIN["l"] - MARGIN["r"] - COLORBAR_WIDTH


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
    """Rows and columns of a grid of ``n_panels`` subplots, the rows as evenly filled as
    ``max_columns`` allows (four panels make two rows of two, not three and one)."""
    rows = max(1, math.ceil(n_panels / max_columns))
    return rows, max(1, math.ceil(n_panels / rows))


def trial_hover(numbers: np.ndarray, target: np.ndarray, target_name: str) -> list[str]:
    """Hover text naming the trial and its objective value."""
    return [f"trial {n}<br>{target_name}: {v:.6g}"
            for n, v in zip(numbers.tolist(), target.tolist())]


@dataclass(frozen=True)
class ObjectiveTable:
    """The COMPLETE trials of a study as columns: trial numbers, the target value of each
    (finite ones only) and the params asked for. What the per-param plots are drawn from.
    ``note`` says which params a plot shows when it chose them itself and left some out."""

    numbers: np.ndarray
    target: np.ndarray
    target_name: str
    columns: dict[str, ParamColumn]
    params: list[str]
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
                    default_count: int | None = None) -> ObjectiveTable:
    """Builds the ObjectiveTable of ``study`` for the plot named ``function``. Without
    ``params``, a plot that passes ``default_count`` gets that many (see ``default_params``)."""
    check_study(study, function)
    fn, name = resolve_target(study.directions, target, target_name)
    trials = completed(study)
    values = target_values(trials, fn)
    keep = np.isfinite(values)
    trials = [t for t, k in zip(trials, keep) if k]
    columns = param_columns(trials)
    note = None
    if params is None and default_count is not None and len(columns) > default_count:
        chosen, note = default_params(study, list(columns), target, default_count)
    else:
        # with no trial yet there are no columns to check the names against: the plot is empty
        chosen = choose_params(columns, params, function) if trials else list(params or ())
    numbers = np.array([t.number for t in trials], dtype=int)
    return ObjectiveTable(numbers, values[keep], name, columns, chosen, note)


def default_params(study: Any, names: list[str], target: Target | None, count: int
                   ) -> tuple[list[str], str]:
    """The ``count`` params of ``names`` a plot shows unless told which, and the note saying
    so: the most important by fANOVA on a forest small enough to take under a second for
    10,000 trials, or, where importance cannot be computed (under two trials, no
    scikit-learn), the first ones."""
    from pipetune.importance import FanovaImportanceEvaluator, get_param_importances

    try:
        ranked = list(get_param_importances(
            study, evaluator=FanovaImportanceEvaluator(n_trees=16, max_depth=8), params=names,
            target=target))
        how = "the most important"
    except (InvalidArgumentError, MissingDependencyError) as error:
        ranked = names
        why = ("needs scikit-learn" if isinstance(error, MissingDependencyError)
               else "needs 2 trials")
        how = f"the first (ranking by importance {why})"
    return ranked[:count], (f"{count} of {len(names)} params shown, {how}: "
                            "choose others with params")
