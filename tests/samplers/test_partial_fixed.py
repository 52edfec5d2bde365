"""PartialFixedSampler: some params pinned, the rest from the base sampler."""

from __future__ import annotations

import pytest

import pipetune
from pipetune.errors import InvalidArgumentError
from pipetune.samplers import PartialFixedSampler, RandomSampler, TPESampler


def objective(trial: pipetune.Trial) -> float:
    x = trial.suggest_float("x", -10, 10)
    y = trial.suggest_int("y", -10, 10)
    c = trial.suggest_categorical("c", [None, "a"])
    return x * x + y * y + (c is None)


def test_fixed_params_keep_their_value_and_the_base_sampler_draws_the_rest():
    base = TPESampler(seed=0, n_startup_trials=3)
    study = pipetune.create_study(sampler=base)
    study.optimize(objective, n_trials=4)
    study.sampler = PartialFixedSampler({"y": 0, "c": None}, base)
    study.optimize(objective, n_trials=10)
    later = study.trials[4:]
    assert all(t.params["y"] == 0 and t.params["c"] is None for t in later)
    assert len({t.params["x"] for t in later}) == len(later)


def test_a_fixed_value_outside_its_domain_warns_and_is_sampled_instead():
    study = pipetune.create_study(
        sampler=PartialFixedSampler({"y": 0.5, "c": "b"}, RandomSampler(seed=1)))
    with pytest.warns(UserWarning, match="outside its domain"):
        study.optimize(objective, n_trials=1)
    trial = study.trials[0]
    assert isinstance(trial.params["y"], int) and trial.params["c"] in (None, "a")


def test_arguments_are_checked():
    with pytest.raises(InvalidArgumentError, match="fixed_params"):
        PartialFixedSampler([("x", 1)], RandomSampler())  # type: ignore[arg-type]
    with pytest.raises(InvalidArgumentError, match="base_sampler"):
        PartialFixedSampler({"x": 1}, "tpe")  # type: ignore[arg-type]
