"""Studies every plot is drawn on: empty, one trial, conditional (with pruned and failed
trials), two and three objectives, and 10,000 trials. Built straight through the storage
interface (claim, set params, report, finish) so that even the big one takes a second."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

import pipetune
from pipetune import (
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
    TrialState,
)

LR = FloatDistribution(1e-4, 1e-1, log=True)
LAYERS = IntDistribution(1, 4)
OPTIMIZER = CategoricalDistribution(("adam", "sgd"))
MOMENTUM = FloatDistribution(0.0, 0.99)  # only when optimizer == "sgd"


def add_trial(study: pipetune.Study, params: dict[str, tuple[Any, Any]],
              values: tuple[float, ...] | None, state: TrialState = TrialState.COMPLETE,
              intermediate: dict[int, float] | None = None, worker: str | None = None) -> None:
    """Adds one finished trial with ``params`` (name -> (value, distribution))."""
    storage = _STORAGES[study.study_name]
    trial = storage.claim_trial(storage.get_study_id(study.study_name), worker=worker)
    storage.set_trial_params(trial.trial_id, {
        name: (distribution.to_internal(value), distribution)
        for name, (value, distribution) in params.items()})
    for step, value in (intermediate or {}).items():
        storage.set_trial_intermediate_value(trial.trial_id, step, value)
    storage.finish_trial(trial.trial_id, state, values)


_STORAGES: dict[str, pipetune.InMemoryStorage] = {}  # study name -> the storage holding it


def new_study(**kwargs: Any) -> pipetune.Study:
    storage = pipetune.InMemoryStorage()
    study = pipetune.create_study(storage=storage, **kwargs)
    _STORAGES[study.study_name] = storage
    return study


def conditional_params(rng: np.random.Generator) -> dict[str, tuple[Any, Any]]:
    params = {"lr": (float(10 ** rng.uniform(-4, -1)), LR),
              "n_layers": (int(rng.integers(1, 5)), LAYERS),
              "optimizer": (str(rng.choice(["adam", "sgd"])), OPTIMIZER)}
    if params["optimizer"][0] == "sgd":
        params["momentum"] = (float(rng.uniform(0, 0.99)), MOMENTUM)
    return params


def loss(params: dict[str, tuple[Any, Any]]) -> float:
    return ((math.log10(params["lr"][0]) + 2.5) ** 2 + 0.1 * params["n_layers"][0]
            + (0.5 * params["momentum"][0] if "momentum" in params else 0.3))


@pytest.fixture(name="new_study")
def new_study_fixture() -> Any:
    """``new_study(**create_study_kwargs)``: an empty study in its own memory storage."""
    return new_study


@pytest.fixture(name="add_trial")
def add_trial_fixture() -> Any:
    """``add_trial(study, params, values, state, intermediate, worker)``, see add_trial."""
    return add_trial


@pytest.fixture
def empty_study() -> pipetune.Study:
    return new_study()


@pytest.fixture
def single_trial_study() -> pipetune.Study:
    study = new_study()
    add_trial(study, {"lr": (1e-2, LR), "optimizer": ("adam", OPTIMIZER)}, (0.5,),
              intermediate={0: 1.0, 1: 0.5})
    return study


@pytest.fixture
def conditional_study() -> pipetune.Study:
    """40 trials of a space where ``momentum`` exists only for sgd; 5 pruned, 2 failed."""
    study = new_study()
    rng = np.random.default_rng(0)
    for number in range(47):
        params = conditional_params(rng)
        value = loss(params)
        curve = {step: value + 1 / (step + 1) for step in range(5)}
        if number % 9 == 8:
            add_trial(study, params, None, TrialState.PRUNED,
                      {s: v for s, v in curve.items() if s < 3}, worker="w1")
        elif number % 23 == 22:
            add_trial(study, params, None, TrialState.FAIL, worker="w2")
        else:
            add_trial(study, params, (value,), intermediate=curve,
                      worker=("w1", "w2")[number % 2])
    return study


def _multi_objective(n_objectives: int) -> pipetune.Study:
    study = new_study(directions=["minimize"] * (n_objectives - 1) + ["maximize"])
    rng = np.random.default_rng(1)
    for _ in range(30):
        params = conditional_params(rng)
        first = loss(params)
        values = (first, *rng.uniform(0, 1, n_objectives - 2), first + rng.normal(0, 0.3))
        add_trial(study, params, tuple(float(v) for v in values))
    return study


@pytest.fixture
def multi_objective_study() -> pipetune.Study:
    return _multi_objective(2)


@pytest.fixture
def three_objective_study() -> pipetune.Study:
    return _multi_objective(3)


@pytest.fixture(scope="session")
def large_study() -> pipetune.Study:
    """10,000 trials (a few pruned, with learning curves) on two workers."""
    study = new_study()
    rng = np.random.default_rng(2)
    for number in range(10_000):
        params = conditional_params(rng)
        value = loss(params)
        if number % 10 == 9:
            add_trial(study, params, None, TrialState.PRUNED, {0: value + 1, 1: value + 0.5},
                      worker="w1")
        else:
            add_trial(study, params, (value,), intermediate={0: value + 1},
                      worker=("w1", "w2")[number % 2])
    return study
