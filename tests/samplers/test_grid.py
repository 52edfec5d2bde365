"""GridSampler: every point once, then the study stops by itself; safe across threads; enqueued
points, conditional params and bad grids."""

from __future__ import annotations

import itertools
import time

import pytest

import pipetune
from pipetune import TrialState
from pipetune.errors import InvalidArgumentError
from pipetune.samplers import GridSampler

SPACE = {"x": [-1.0, 0.0, 1.5], "n": [1, 2, 4, 8], "opt": ["adam", "sgd"]}
GRID = {tuple(sorted(zip(SPACE, point))) for point in itertools.product(*SPACE.values())}


def objective(trial):
    x = trial.suggest_float("x", -1.0, 1.5)
    n = trial.suggest_int("n", 1, 8)
    opt = trial.suggest_categorical("opt", ["adam", "sgd"])
    return x * n + (opt == "sgd")


def _points(trials):
    return [tuple(sorted(t.params.items())) for t in trials if t.state == TrialState.COMPLETE]


def test_every_point_once_then_stops(storage):
    study = pipetune.create_study(storage=storage, sampler=GridSampler(SPACE, seed=0))
    study.optimize(objective)  # n_trials=None: the grid ends the run
    points = _points(study.trials)
    assert len(points) == len(GRID) == 24
    assert set(points) == GRID
    assert len(study.trials) == 24
    # The grid is done: a further run starts nothing.
    study.optimize(objective)
    assert len(study.trials) == 24


def test_budget_smaller_than_grid_then_resume(storage):
    study = pipetune.create_study(storage=storage, study_name="g",
                                  sampler=GridSampler(SPACE, seed=1))
    study.optimize(objective, n_trials=10)
    assert len(set(_points(study.trials))) == 10
    resumed = pipetune.load_study(study_name="g", storage=storage,
                                  sampler=GridSampler(SPACE, seed=1))
    resumed.optimize(objective, n_trials=100)
    points = _points(resumed.trials)
    assert len(points) == 24 and set(points) == GRID


def test_threads_never_repeat_a_point(storage):
    study = pipetune.create_study(storage=storage, sampler=GridSampler(SPACE))

    def slow(trial):
        time.sleep(0.002)
        return objective(trial)

    study.optimize(slow, n_jobs=4)
    points = _points(study.trials)
    assert len(points) == len(set(points)) == 24
    assert set(points) == GRID
    # A worker that found the grid exhausted after claiming a trial leaves no RUNNING trial.
    assert not [t for t in study.trials if t.state == TrialState.RUNNING]


def test_enqueued_grid_point_is_not_repeated(storage):
    study = pipetune.create_study(storage=storage, sampler=GridSampler(SPACE))
    study.enqueue_trial({"x": 1.5, "n": 4, "opt": "sgd"})
    study.optimize(objective)
    points = _points(study.trials)
    assert study.trials[0].params == {"x": 1.5, "n": 4, "opt": "sgd"}
    assert len(points) == 24 and set(points) == GRID


def test_conditional_params():
    space = {"kind": ["linear", "tree"], "alpha": [0.1, 1.0], "depth": [2, 4]}
    study = pipetune.create_study(sampler=GridSampler(space))

    def conditional(trial):
        if trial.suggest_categorical("kind", ["linear", "tree"]) == "linear":
            return trial.suggest_float("alpha", 0.0, 1.0)
        return float(trial.suggest_int("depth", 1, 8))

    study.optimize(conditional)
    assert len(study.trials) == 8  # every point of the grid, even if some look alike
    for t in study.trials:
        assert set(t.params) in ({"kind", "alpha"}, {"kind", "depth"})
    linear = {t.params["alpha"] for t in study.trials if t.params["kind"] == "linear"}
    tree = {t.params["depth"] for t in study.trials if t.params["kind"] == "tree"}
    assert linear == {0.1, 1.0} and tree == {2, 4}


@pytest.mark.parametrize("space", [
    {},
    [("x", [1, 2])],
    {"x": []},
    {"x": [1, 1]},
    {"x": [object()]},
    {"x": 5},
])
def test_bad_grid(space):
    with pytest.raises(InvalidArgumentError, match="GridSampler"):
        GridSampler(space)


def test_param_not_in_grid_raises_clearly():
    study = pipetune.create_study(sampler=GridSampler({"x": [0.0, 1.0]}))

    def objective_with_extra(trial):
        return trial.suggest_float("x", 0, 1) + trial.suggest_float("y", 0, 1)

    with pytest.raises(InvalidArgumentError, match="'y'.*not in the GridSampler"):
        study.optimize(objective_with_extra)
    assert study.trials[0].state == TrialState.FAIL
    assert "'y'" in study.trials[0].system_attrs["fail_reason"]


def test_grid_value_outside_the_suggested_domain():
    study = pipetune.create_study(sampler=GridSampler({"x": [0.0, 5.0]}, seed=0))
    with pytest.raises(InvalidArgumentError, match="outside the suggested domain"):
        study.optimize(lambda t: t.suggest_float("x", 0, 1))


def test_seed_sets_the_order():
    def order(seed):
        study = pipetune.create_study(sampler=GridSampler(SPACE, seed=seed))
        study.optimize(objective)
        return [t.params for t in study.trials]

    assert order(3) == order(3)
    assert order(3) != order(4)
