"""Learning-curve problems for the early-stopping benchmark, usable by every library compared.

A problem turns params into a *learning curve*: the value a trial reports after each of its
``n_steps`` steps (epochs), lower is better, the last one being the trial's final value. Three
kinds:

- ``hartmann6-curves``: synthetic curves whose final value is Hartmann 6 (shifted so the known
  optimum is 0, which makes a final value its regret) and whose speed depends on one param, so
  curves cross: a slow learner can end better than a fast one that looked better early.
- ``sgd-digits``: a real curve, the validation error of scikit-learn's ``SGDClassifier``
  trained epoch by epoch with ``partial_fit`` on the bundled digits data.
- recorded curves (``mlp-digits``, ``mlp-cancer``, ``sgd-cancer``, ``sgd-digits-table``): real
  curves of scikit-learn models on data sets that ship with it, recorded once by
  ``benchmarks/record_curves.py`` over the full grid of a small space (ints and categoricals
  only, so every configuration a sampler can pick is in the table) and stored under
  ``benchmarks/data/``; a trial replays its row in microseconds, and the optimum is known.

A curve is a deterministic function of the params (seeded noise, a fixed ``random_state``), so
``CurveMemo`` keeps every curve it has computed and a trial asking for params already seen
replays them, training further only past the last step computed. That only saves time: a
trial reports exactly the values it would have computed itself.
"""

from __future__ import annotations

import itertools
import json
import math
import struct
import sys
import warnings
import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cache, lru_cache
from pathlib import Path
from typing import Any, Protocol

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import Param
from problems import hartmann6


class Learner(Protocol):
    """One trial's training run: each ``advance()`` trains one more step and returns the
    value (a loss or an error, lower is better) measured after it."""

    def advance(self) -> float: ...


@dataclass(frozen=True)
class CurveProblem:
    """A multi-fidelity problem: a search space, ``n_steps`` steps per full trial, a factory
    of learners, the known optimum of the final value (None when unknown) and the number of
    trials each method gets by default.

    ``gap_scale`` says how a best value is compared with no pruning's: a number is the value
    range (start of every curve minus the optimum) the difference is divided by, for values
    that are regrets; None divides by no pruning's best value itself (a relative difference),
    for values that are errors far from 0. ``resolution`` is the smallest step between two
    values (one validation sample for an error rate), None for continuous values."""

    name: str
    description: str
    space: tuple[Param, ...]
    n_steps: int
    learner: Callable[[dict[str, Any]], Learner]
    optimum: float | None
    n_trials: int
    gap_scale: float | None = None
    resolution: float | None = None  # the smallest difference a value can show, if any


def params_key(params: Mapping[str, Any]) -> tuple[tuple[str, Any], ...]:
    return tuple(sorted(params.items()))


class CurveMemo:
    """Every curve computed in this process for one problem, by params: ``value(params,
    step)`` returns the value after ``step`` steps (1-based), advancing the learner only
    past the steps already known."""

    def __init__(self, problem: CurveProblem) -> None:
        self.problem = problem
        self._curves: dict[tuple[tuple[str, Any], ...], tuple[Learner, list[float]]] = {}
        self.steps_computed = 0

    def value(self, params: dict[str, Any], step: int) -> float:
        key = params_key(params)
        entry = self._curves.get(key)
        if entry is None:
            entry = self._curves[key] = (self.problem.learner(dict(params)), [])
        learner, values = entry
        while len(values) < step:
            values.append(float(learner.advance()))
            self.steps_computed += 1
        return values[step - 1]


# -- synthetic: Hartmann 6 learning curves ---------------------------------------------------

HARTMANN6_MIN = -3.3223680114155147
_SYNTH_STEPS = 81  # 3**4: rungs 1, 3, 9, 27 and the end, for reduction factor 3
_SYNTH_START = 5.0  # every curve starts here; finals lie in [0, 3.33]
_TAU_FAST, _TAU_SLOW = 1.0, 20.0  # time constants (steps) at x2 = 1 and x2 = 0
_NOISE = 0.04  # standard deviation of the noise on every step but the last


def _seed_of(params: Mapping[str, Any], salt: str) -> int:
    """A seed from the exact params, the same in every process and Python version."""
    data = b"".join(struct.pack("<d", float(v)) for _, v in params_key(params))
    return zlib.crc32(data, zlib.crc32(salt.encode()))


def synthetic_tau(x2: float) -> float:
    """The curve's time constant: log-linear in x2, slow at x2 = 0. Hartmann's optimum has
    x2 ~ 0.48 (tau ~ 5), so the best configurations are neither the fastest nor the slowest."""
    return math.exp(math.log(_TAU_SLOW) + (math.log(_TAU_FAST) - math.log(_TAU_SLOW)) * x2)


def synthetic_curve(params: Mapping[str, Any], n_steps: int = _SYNTH_STEPS) -> np.ndarray:
    """Steps 1..n_steps of ``final + (start - final) * g(t) + noise``, where ``g(t) =
    (exp(-t/tau) - exp(-T/tau)) / (1 - exp(-T/tau))`` falls from 1 at t = 0 to exactly 0 at
    t = T, so the last value is the final value itself (no noise there) and the known optimum
    holds. The noise is Gaussian, seeded by the params, and has a slowly varying part (a
    random walk, like a validation loss that drifts for a few epochs) on top of white noise."""
    final = hartmann6(params) - HARTMANN6_MIN
    tau = synthetic_tau(float(params["x2"]))
    t = np.arange(1, n_steps + 1, dtype=float)
    g = (np.exp(-t / tau) - math.exp(-n_steps / tau)) / (1.0 - math.exp(-n_steps / tau))
    rng = np.random.default_rng(_seed_of(params, "hartmann6-curves"))
    drift = np.cumsum(rng.normal(0.0, _NOISE / 3.0, n_steps))
    noise = rng.normal(0.0, _NOISE, n_steps) + drift - drift[-1] * t / n_steps
    noise[-1] = 0.0
    return final + (_SYNTH_START - final) * g + noise


class _ArrayLearner:
    """Replays a curve computed all at once."""

    def __init__(self, values: np.ndarray) -> None:
        self._values = values
        self._next = 0

    def advance(self) -> float:
        value = self._values[min(self._next, len(self._values) - 1)]
        self._next += 1
        return float(value)


def _synthetic_learner(params: dict[str, Any]) -> Learner:
    return _ArrayLearner(synthetic_curve(params))


# -- real: SGDClassifier on digits, epoch by epoch -----------------------------------------------

_SGD_EPOCHS = 30
_VALIDATION_SIZE = 599  # a third of the 1797 digits: one misclassified image is 1/599


@lru_cache(maxsize=1)
def _digits_split() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """A fixed stratified 2/3 train, 1/3 validation split of the bundled digits (1797 8x8
    images, 10 classes), standardised on the training part; loaded once per process."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split
    from sklearn.preprocessing import StandardScaler

    x, y = load_digits(return_X_y=True)
    x_train, x_val, y_train, y_val = train_test_split(x, y, test_size=1 / 3, random_state=0,
                                                      stratify=y)
    scaler = StandardScaler().fit(x_train)
    return (np.ascontiguousarray(scaler.transform(x_train)), y_train,
            np.ascontiguousarray(scaler.transform(x_val)), y_val, np.unique(y))


class _SGDLearner:
    """One ``SGDClassifier`` (hinge loss, one-vs-rest) trained one epoch per ``advance``; the
    value is the validation error. A run that overflows (scikit-learn raises) has diverged
    and stays at the error of always answering one class."""

    def __init__(self, params: dict[str, Any]) -> None:
        from sklearn.linear_model import SGDClassifier

        self._model = SGDClassifier(alpha=params["alpha"], eta0=params["eta0"],
                                    learning_rate=params["learning_rate"],
                                    penalty=params["penalty"], random_state=0)
        self._diverged = False

    def advance(self) -> float:
        x_train, y_train, x_val, y_val, classes = _digits_split()
        if not self._diverged:
            with warnings.catch_warnings(), np.errstate(all="ignore"):
                warnings.simplefilter("ignore")
                try:
                    self._model.partial_fit(x_train, y_train, classes=classes)
                except ValueError:  # "Floating-point under-/overflow occurred at epoch #1"
                    self._diverged = True
        if self._diverged:
            return 1.0 - float(np.max(np.bincount(y_val))) / len(y_val)
        with np.errstate(all="ignore"):
            scores = x_val @ self._model.coef_.T + self._model.intercept_
        if not np.all(np.isfinite(scores)):
            self._diverged = True
            return self.advance()
        return float(np.mean(classes[np.argmax(scores, axis=1)] != y_val))


def _sgd_learner(params: dict[str, Any]) -> Learner:
    return _SGDLearner(params)


# -- recorded: full grids of real curves, replayed from a table --------------------------------

DATA_DIR = Path(__file__).resolve().parent / "data"


@dataclass(frozen=True)
class RecordedSpec:
    """What ``record_curves.py`` trains for one recorded problem and how it is replayed: a
    scikit-learn ``model`` ("mlp" or "sgd") on a bundled ``dataset`` (a ``load_*`` name
    without the prefix), trained ``epochs`` epochs with ``partial_fit`` for every point of
    the grid ``space`` spans (ints: every integer of the range; categoricals: every choice).
    ``folds`` = 1 validates on a fixed stratified third; k > 1 averages the validation error
    of a stratified k-fold, which makes the error finer-grained on small data sets."""

    name: str
    model: str
    dataset: str
    space: tuple[Param, ...]
    epochs: int
    folds: int
    n_trials: int = 100

    @property
    def path(self) -> Path:
        return DATA_DIR / f"{self.name}.npz"


def grid_axes(space: tuple[Param, ...]) -> list[tuple[Any, ...]]:
    """The values each param takes in the recorded grid, in the order of ``space``."""
    axes: list[tuple[Any, ...]] = []
    for p in space:
        if p.kind == "int" and not p.log:
            axes.append(tuple(range(int(p.low), int(p.high) + 1)))
        elif p.kind == "categorical":
            axes.append(tuple(p.choices))
        else:
            raise ValueError(f"Param {p.name!r}: a recorded grid takes linear ints and "
                             "categoricals only.")
    return axes


def grid_points(space: tuple[Param, ...]) -> list[dict[str, Any]]:
    """Every configuration of the grid, in the table's (C) order."""
    names = [p.name for p in space]
    return [dict(zip(names, values)) for values in itertools.product(*grid_axes(space))]


# Exponents stand for the values themselves (log10_alpha = -4 is alpha = 1e-4), so each
# numeric param is an ordered int a sampler can model, and every int it picks is recorded.
RECORDED_SPECS: tuple[RecordedSpec, ...] = (
    RecordedSpec("mlp-digits", "mlp", "digits", (
        Param("log2_units", "int", 4, 7),
        Param("log10_alpha", "int", -6, -2),
        Param("log10_lr", "int", -4, -1),
        Param("log2_batch", "int", 5, 7),
        Param("activation", "categorical", choices=("relu", "tanh"))), 27, 1),
    RecordedSpec("mlp-cancer", "mlp", "breast_cancer", (
        Param("log2_units", "int", 3, 5),
        Param("log10_alpha", "int", -5, -1),
        Param("log10_lr", "int", -4, -1),
        Param("log2_batch", "int", 4, 6),
        Param("activation", "categorical", choices=("relu", "tanh"))), 27, 3),
    RecordedSpec("sgd-cancer", "sgd", "breast_cancer", (
        Param("log10_alpha", "int", -7, -1),
        Param("log10_eta0", "int", -4, 0),
        Param("learning_rate", "categorical", choices=("constant", "invscaling", "optimal")),
        Param("penalty", "categorical", choices=("l2", "l1", "elasticnet"))), 27, 3),
    RecordedSpec("sgd-digits-table", "sgd", "digits", (
        Param("log10_alpha", "int", -7, -1),
        Param("log10_eta0", "int", -4, 0),
        Param("learning_rate", "categorical", choices=("constant", "invscaling", "optimal")),
        Param("penalty", "categorical", choices=("l2", "l1", "elasticnet"))), 27, 1),
)


class MissingTableError(FileNotFoundError):
    """A recorded problem's table is not in ``benchmarks/data/``: run the recorder."""


@dataclass(frozen=True)
class CurveTable:
    """A recorded table: ``curves[i1, ..., ik, t]`` is the value after step t + 1 of the
    configuration whose j-th param is ``axes[j][ij]``; ``meta`` says how it was recorded."""

    spec: RecordedSpec
    curves: np.ndarray
    meta: dict[str, Any]

    def curve(self, params: Mapping[str, Any]) -> np.ndarray:
        index = tuple(axis.index(params[p.name])
                      for p, axis in zip(self.spec.space, grid_axes(self.spec.space)))
        return self.curves[index]


@cache
def load_table(name: str) -> CurveTable:
    """The recorded table of problem ``name``, read once per process; a missing table or one
    recorded over another grid says to run the recorder."""
    spec = next(s for s in RECORDED_SPECS if s.name == name)
    fix = f"run `.venv/bin/python benchmarks/record_curves.py --problems {name}`"
    if not spec.path.exists():
        raise MissingTableError(f"No recorded curves for {name!r} at {spec.path}: {fix}.")
    with np.load(spec.path) as data:
        curves = np.asarray(data["curves"], dtype=float)
        meta = json.loads(str(data["meta"]))
    shape = tuple(len(axis) for axis in grid_axes(spec.space)) + (spec.epochs,)
    if curves.shape != shape or meta.get("axes") != [list(a) for a in grid_axes(spec.space)]:
        raise ValueError(f"The table {spec.path} was recorded over another grid "
                         f"(shape {curves.shape}, expected {shape}): {fix}.")
    return CurveTable(spec, curves, meta)


def _table_learner(name: str) -> Callable[[dict[str, Any]], Learner]:
    def learner(params: dict[str, Any]) -> Learner:
        return _ArrayLearner(load_table(name).curve(params))

    return learner


def _recorded_problem(spec: RecordedSpec) -> CurveProblem:
    """The replaying problem of ``spec``: its optimum is the table's best final value and a
    value moves in steps of one validation sample (of the whole data set when k-fold). When
    the table has not been recorded yet the problem is still listed; running it says how to
    record it."""
    try:
        table = load_table(spec.name)
    except (MissingTableError, ValueError):  # missing or stale: the recorder can still run
        optimum, resolution, shape = None, None, "not recorded yet"
    else:
        optimum = float(np.min(table.curves[..., -1]))
        resolution = 1.0 / table.meta["n_validation"]
        shape = f"{table.meta['n_configs']} configs, validation {table.meta['validation']}"
    return CurveProblem(
        spec.name,
        f"recorded {spec.model.upper()} on load_{spec.dataset}, validation error per epoch "
        f"({shape})",
        spec.space, spec.epochs, _table_learner(spec.name), optimum, spec.n_trials,
        resolution=resolution)


# -- the registry ---------------------------------------------------------------------------

CURVE_PROBLEMS: dict[str, CurveProblem] = {p.name: p for p in (
    CurveProblem(
        "hartmann6-curves",
        f"synthetic curves, final = Hartmann6 - min, start {_SYNTH_START:g}, "
        f"tau {_TAU_SLOW:g}..{_TAU_FAST:g} steps by x2, noise sd {_NOISE:g}",
        tuple(Param(f"x{i}", "float", 0.0, 1.0) for i in range(6)),
        _SYNTH_STEPS, _synthetic_learner, 0.0, 100, gap_scale=_SYNTH_START - 0.0),
    CurveProblem(
        "sgd-digits",
        "SGDClassifier.partial_fit on load_digits, validation error per epoch",
        (Param("alpha", "float", 1e-7, 1e-1, log=True),
         Param("eta0", "float", 1e-4, 1.0, log=True),
         Param("learning_rate", "categorical", choices=("constant", "invscaling", "optimal")),
         Param("penalty", "categorical", choices=("l2", "l1", "elasticnet"))),
        _SGD_EPOCHS, _sgd_learner, None, 100, resolution=1 / _VALIDATION_SIZE),
    *(_recorded_problem(spec) for spec in RECORDED_SPECS),
)}
