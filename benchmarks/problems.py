"""The optimisation problems of the quality benchmark, each usable by every library compared.

A problem's search space is written once as data (``Param`` and ``Branches``) and its function
once as ``evaluate(params)`` over a plain dict. From these come the define-by-run objective
``problem.objective(trial)`` that pipetune and Optuna share (same ``suggest_*`` names), and
Hyperopt's declarative space ``problem.hyperopt_space()`` with ``problem.evaluate_hyperopt``
for its samples, so every library minimises exactly the same function over the same domain.

Test functions follow the usual definitions (Surjanovic & Bingham's virtual library of
simulation experiments); the optima given are the known global minima, so regret can be taken.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import Param


@dataclass(frozen=True)
class Branches:
    """A conditional part of a space: a categorical ``name`` whose value picks which params
    exist, like a ``model`` choice with its own hyperparameters per model."""

    name: str
    options: tuple[tuple[str, tuple[Param, ...]], ...]


Space = tuple["Param | Branches", ...]


# -- one space, two front ends ----------------------------------------------------------------


def _suggest_param(trial: Any, p: Param) -> Any:
    if p.kind == "float":
        return trial.suggest_float(p.name, p.low, p.high, log=p.log)
    if p.kind == "int":
        return trial.suggest_int(p.name, int(p.low), int(p.high), log=p.log)
    return trial.suggest_categorical(p.name, list(p.choices))


def suggest(trial: Any, space: Space) -> dict[str, Any]:
    """Asks a define-by-run trial (pipetune's or Optuna's) for every param of ``space``; a
    branch's params are asked only when its option is chosen."""
    params: dict[str, Any] = {}
    for item in space:
        if isinstance(item, Branches):
            chosen = trial.suggest_categorical(item.name, [key for key, _ in item.options])
            params[item.name] = chosen
            for p in dict(item.options)[chosen]:
                params[p.name] = _suggest_param(trial, p)
        else:
            params[item.name] = _suggest_param(trial, item)
    return params


def _hyperopt_param(p: Param) -> Any:
    from hyperopt import hp

    if p.kind == "float":
        if p.log:
            return hp.loguniform(p.name, math.log(p.low), math.log(p.high))
        return hp.uniform(p.name, p.low, p.high)
    if p.kind == "int":
        # Widened by half a step so that rounding gives every integer, the end points
        # included, the same mass as the define-by-run libraries give it.
        if p.log:
            return hp.qloguniform(p.name, math.log(p.low - 0.5), math.log(p.high + 0.5), 1)
        return hp.quniform(p.name, p.low - 0.5, p.high + 0.5, 1)
    return hp.choice(p.name, list(p.choices))


def hyperopt_space(space: Space) -> dict[str, Any]:
    """``space`` as Hyperopt expressions: a dict of params, a conditional part as a nested
    ``hp.choice`` whose options are dicts naming the chosen branch and holding its params."""
    from hyperopt import hp

    out: dict[str, Any] = {}
    for item in space:
        if isinstance(item, Branches):
            out[item.name] = hp.choice(item.name, [
                {item.name: key, **{p.name: _hyperopt_param(p) for p in params}}
                for key, params in item.options])
        else:
            out[item.name] = _hyperopt_param(item)
    return out


def from_hyperopt(sample: Mapping[str, Any], space: Space) -> dict[str, Any]:
    """A Hyperopt sample of ``hyperopt_space(space)`` as the flat dict ``suggest`` returns:
    branches flattened, ints made ints and clipped into their range."""
    flat: dict[str, Any] = {}
    params: list[Param] = []
    for item in space:
        if isinstance(item, Branches):
            branch = dict(sample[item.name])
            chosen = branch.pop(item.name)
            flat[item.name] = chosen
            flat.update(branch)
            params.extend(dict(item.options)[chosen])
        else:
            flat[item.name] = sample[item.name]
            params.append(item)
    for p in params:
        if p.kind == "int":
            flat[p.name] = int(min(max(round(float(flat[p.name])), p.low), p.high))
        elif p.kind == "float":
            flat[p.name] = float(flat[p.name])
    return flat


@dataclass(frozen=True)
class Problem:
    """One benchmark problem: a space, a function to minimise, its known minimum (None when
    unknown: then the best value found is reported instead of the regret) and the number of
    trials every method gets."""

    name: str
    description: str
    space: Space
    evaluate: Callable[[dict[str, Any]], float]
    optimum: float | None
    n_trials: int

    def objective(self, trial: Any) -> float:
        """The define-by-run objective for pipetune and Optuna."""
        return self.evaluate(suggest(trial, self.space))

    def hyperopt_space(self) -> dict[str, Any]:
        return hyperopt_space(self.space)

    def evaluate_hyperopt(self, sample: Mapping[str, Any]) -> float:
        """The objective for ``hyperopt.fmin`` over ``self.hyperopt_space()``."""
        return self.evaluate(from_hyperopt(sample, self.space))


# -- synthetic test functions ------------------------------------------------------------------


def _floats(prefix: str, n: int, low: float, high: float) -> tuple[Param, ...]:
    return tuple(Param(f"{prefix}{i}", "float", low, high) for i in range(n))


def _vector(params: Mapping[str, Any], prefix: str, n: int) -> np.ndarray:
    return np.array([params[f"{prefix}{i}"] for i in range(n)], dtype=float)


def branin(params: Mapping[str, Any]) -> float:
    x1, x2 = params["x1"], params["x2"]
    b, c, t = 5.1 / (4 * math.pi ** 2), 5 / math.pi, 1 / (8 * math.pi)
    return (x2 - b * x1 ** 2 + c * x1 - 6) ** 2 + 10 * (1 - t) * math.cos(x1) + 10


_HARTMANN_ALPHA = np.array([1.0, 1.2, 3.0, 3.2])
_HARTMANN_A = np.array([[10, 3, 17, 3.5, 1.7, 8], [0.05, 10, 17, 0.1, 8, 14],
                        [3, 3.5, 1.7, 10, 17, 8], [17, 8, 0.05, 10, 0.1, 14]])
_HARTMANN_P = 1e-4 * np.array([[1312, 1696, 5569, 124, 8283, 5886],
                               [2329, 4135, 8307, 3736, 1004, 9991],
                               [2348, 1451, 3522, 2883, 3047, 6650],
                               [4047, 8828, 8732, 5743, 1091, 381]])


def hartmann6(params: Mapping[str, Any]) -> float:
    x = _vector(params, "x", 6)
    return float(-np.sum(_HARTMANN_ALPHA
                         * np.exp(-np.sum(_HARTMANN_A * (x - _HARTMANN_P) ** 2, axis=1))))


def _rosenbrock(n: int) -> Callable[[Mapping[str, Any]], float]:
    def rosenbrock(params: Mapping[str, Any]) -> float:
        x = _vector(params, "x", n)
        return float(np.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2))

    return rosenbrock


def _ackley(n: int) -> Callable[[Mapping[str, Any]], float]:
    def ackley(params: Mapping[str, Any]) -> float:
        x = _vector(params, "x", n)
        return float(-20.0 * math.exp(-0.2 * math.sqrt(np.mean(x ** 2)))
                     - math.exp(np.mean(np.cos(2 * math.pi * x))) + 20.0 + math.e)

    return ackley


rosenbrock10, rosenbrock5 = _rosenbrock(10), _rosenbrock(5)
ackley10, ackley5 = _ackley(10), _ackley(5)


def styblinski_tang8(params: Mapping[str, Any]) -> float:
    x = _vector(params, "x", 8)
    return float(0.5 * np.sum(x ** 4 - 16 * x ** 2 + 5 * x))


# Per-dimension minimum of Styblinski-Tang, at x = -2.9035340...
_STYBLINSKI_TANG_MIN_1D = -39.16616570377141

# kind -> (offset, best log10(lr), best depth): the categorical shifts both the level and where
# the continuous optimum lies, so it interacts with the other params.
_MIXED_KINDS = {"rbf": (0.0, -3.0, 6), "poly": (0.15, -2.0, 10),
                "linear": (0.3, -1.0, 3), "sigmoid": (0.6, -4.5, 15)}


def mixed(params: Mapping[str, Any]) -> float:
    """Minimum 0 at kind=rbf, lr=1e-3, depth=6, frac=0.3; lr and frac interact (a tilted
    bowl), the best lr and depth move with the kind."""
    offset, best_lr, best_depth = _MIXED_KINDS[params["kind"]]
    u = math.log10(params["lr"]) - best_lr
    w = params["frac"] - 0.3
    return (offset + 0.2 * u ** 2 + 0.3 * u * w + 0.5 * w ** 2
            + 0.01 * (params["depth"] - best_depth) ** 2)


def conditional(params: Mapping[str, Any]) -> float:
    """Three branches with attainable minima 0 (svm: a diagonal valley in log C x log gamma),
    0.1 (forest) and 0.2 (linear). With random params the forest branch looks best (about 0.19
    on average, svm 0.35, linear 0.44), so a sampler has to tune within the branches, not just
    settle on the branch that looks best early, to find the optimum."""
    model = params["model"]
    if model == "svm":
        u = (math.log10(params["svm_C"]) - 0.5) / 3.0   # about [-1.2, 0.8]
        v = (math.log10(params["svm_gamma"]) + 1.5) / 2.5   # about [-1, 1]
        return 0.1 * (u + v) ** 2 + 0.4 * (u - v) ** 2
    if model == "forest":
        return (0.1 + 0.02 * (math.log10(params["forest_n_estimators"]) - 2.5) ** 2
                + 0.0005 * (params["forest_max_depth"] - 12) ** 2
                + 0.3 * (params["forest_max_features"] - 0.4) ** 2)
    return (0.2 + 0.05 * (math.log10(params["linear_alpha"]) + 2.0) ** 2
            + 0.2 * (params["linear_l1_ratio"] - 0.7) ** 2)


# -- a real model ---------------------------------------------------------------------------


@lru_cache(maxsize=1)
def _breast_cancer_folds() -> tuple[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray], ...]:
    """Three fixed stratified folds of scikit-learn's bundled breast-cancer data, each
    standardised on its own training part (done once: only the model is tuned)."""
    from sklearn.datasets import load_breast_cancer
    from sklearn.model_selection import StratifiedKFold
    from sklearn.preprocessing import StandardScaler

    x, y = load_breast_cancer(return_X_y=True)
    folds = []
    for train, test in StratifiedKFold(3, shuffle=True, random_state=0).split(x, y):
        scaler = StandardScaler().fit(x[train])
        folds.append((scaler.transform(x[train]), y[train], scaler.transform(x[test]), y[test]))
    return tuple(folds)


def svm_breast_cancer(params: Mapping[str, Any]) -> float:
    """3-fold cross-validated error of an SVC on the breast-cancer data (569 samples)."""
    from sklearn.svm import SVC

    model = dict(kernel=params["kernel"], C=params["C"], gamma=params["gamma"],
                 class_weight=None if params["class_weight"] == "none" else "balanced")
    errors = [1.0 - SVC(**model).fit(xt, yt).score(xv, yv)
              for xt, yt, xv, yv in _breast_cancer_folds()]
    return float(np.mean(errors))


# -- the registry ---------------------------------------------------------------------------

PROBLEMS: dict[str, Problem] = {p.name: p for p in (
    Problem("branin", "Branin 2D", (Param("x1", "float", -5.0, 10.0),
                                    Param("x2", "float", 0.0, 15.0)),
            branin, 5.0 / (4.0 * math.pi), 100),
    Problem("hartmann6", "Hartmann 6D on [0,1]^6", _floats("x", 6, 0.0, 1.0),
            hartmann6, -3.3223680114155147, 100),
    Problem("rosenbrock10", "Rosenbrock 10D on [-5,10]^10", _floats("x", 10, -5.0, 10.0),
            rosenbrock10, 0.0, 200),
    Problem("ackley10", "Ackley 10D on [-32.768,32.768]^10",
            _floats("x", 10, -32.768, 32.768), ackley10, 0.0, 200),
    Problem("rosenbrock5", "Rosenbrock 5D on [-5,10]^5", _floats("x", 5, -5.0, 10.0),
            rosenbrock5, 0.0, 100),
    Problem("ackley5", "Ackley 5D on [-32.768,32.768]^5",
            _floats("x", 5, -32.768, 32.768), ackley5, 0.0, 100),
    Problem("styblinski8", "Styblinski-Tang 8D on [-5,5]^8", _floats("x", 8, -5.0, 5.0),
            styblinski_tang8, 8 * _STYBLINSKI_TANG_MIN_1D, 100),
    Problem("mixed", "categorical(4) x int x log float x float, interacting",
            (Param("kind", "categorical", choices=tuple(_MIXED_KINDS)),
             Param("lr", "float", 1e-6, 1.0, log=True),
             Param("depth", "int", 1, 20),
             Param("frac", "float", 0.0, 1.0)),
            mixed, 0.0, 100),
    Problem("conditional", "model in svm/forest/linear, 2-3 params per branch",
            (Branches("model", (
                ("svm", (Param("svm_C", "float", 1e-3, 1e3, log=True),
                         Param("svm_gamma", "float", 1e-4, 10.0, log=True))),
                ("forest", (Param("forest_n_estimators", "int", 10, 1000, log=True),
                            Param("forest_max_depth", "int", 2, 32),
                            Param("forest_max_features", "float", 0.1, 1.0))),
                ("linear", (Param("linear_alpha", "float", 1e-6, 10.0, log=True),
                            Param("linear_l1_ratio", "float", 0.0, 1.0))),
            )),),
            conditional, 0.0, 100),
    Problem("svm-cancer", "SVC on load_breast_cancer, 3-fold CV error",
            (Param("kernel", "categorical", choices=("rbf", "poly", "sigmoid")),
             Param("C", "float", 1e-3, 1e3, log=True),
             Param("gamma", "float", 1e-5, 10.0, log=True),
             Param("class_weight", "categorical", choices=("none", "balanced"))),
            svm_breast_cancer, None, 100),
)}
