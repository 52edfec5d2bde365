"""Declarative search spaces: built from a ``params:`` mapping, suggested define-by-run."""

from __future__ import annotations

import math

import pytest

import pipetune
from pipetune.distributions import (
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)
from pipetune.errors import InvalidArgumentError, InvalidDistributionError
from pipetune.samplers import RandomSampler
from pipetune.space import ParamSpec, SearchSpace

PARAMS = {
    "lr": {"type": "float", "low": 1e-4, "high": 1e-1, "scale": "log"},
    "momentum": {"type": "float", "low": 0.9, "high": 0.999, "scale": "reverse_log"},
    "layers": {"type": "int", "low": 1, "high": 4, "step": 1},
    "model": {"type": "categorical", "choices": ["svm", "rf"]},
    "svm_c": {"type": "float", "low": 0.1, "high": 10, "scale": "log", "when": {"model": "svm"}},
    "trees": {"type": "int", "low": 10, "high": 100, "step": 10, "when": {"model": ["rf"]}},
}


def sample(space: SearchSpace, n: int, seed: int = 0) -> tuple[pipetune.Study, list[dict]]:
    study = pipetune.create_study(sampler=RandomSampler(seed=seed))
    chosen = []
    study.optimize(lambda trial: chosen.append(space.suggest(trial)) or 0.0, n_trials=n)
    return study, chosen


def test_from_dict_builds_the_declared_domains():
    space = SearchSpace.from_dict(PARAMS)
    assert space.names == tuple(PARAMS)
    specs = {spec.name: spec for spec in space}
    assert specs["lr"].distribution == FloatDistribution(1e-4, 1e-1, log=True)
    assert specs["lr"].scale == "log"
    assert specs["momentum"].scale == "reverse_log"
    assert specs["layers"].distribution == IntDistribution(1, 4)
    assert specs["model"].distribution == CategoricalDistribution(("svm", "rf"))
    assert specs["svm_c"].when == {"model": ("svm",)}
    assert specs["trees"].distribution == IntDistribution(10, 100, step=10)


def test_conditional_params_are_suggested_only_when_their_condition_holds():
    study, chosen = sample(SearchSpace.from_dict(PARAMS), 30)
    assert {c["model"] for c in chosen} == {"svm", "rf"}
    for params, trial in zip(chosen, study.trials):
        assert ("svm_c" in params) == (params["model"] == "svm")
        assert ("trees" in params) == (params["model"] == "rf")
        assert {k: v for k, v in trial.params.items() if not k.endswith("__gap")} == params


def test_reverse_log_is_log_uniform_in_one_minus_x():
    space = SearchSpace.from_dict({"momentum": PARAMS["momentum"]})
    study, chosen = sample(space, 200)
    values = [c["momentum"] for c in chosen]
    assert all(0.9 <= v <= 0.999 for v in values)
    # 1 - x is log-uniform in [0.001, 0.1]: half of the draws lie above 0.99 (a linear scale
    # would put about 9% there).
    assert 0.35 < sum(v > 0.99 for v in values) / len(values) < 0.65
    for value, trial in zip(values, study.trials):
        assert trial.params["momentum"] == value  # what the script receives is recorded
        assert math.isclose(trial.params["momentum__gap"], 1 - value)


def test_an_enqueued_reverse_log_value_is_kept_exactly():
    space = SearchSpace.from_dict({"momentum": PARAMS["momentum"]})
    study = pipetune.create_study()
    study.enqueue_trial({"momentum": 0.95})
    got = []
    study.optimize(lambda trial: got.append(space.suggest(trial)) or 0.0, n_trials=1)
    assert got == [{"momentum": 0.95}]
    assert study.trials[0].params["momentum"] == 0.95


def test_active_keeps_only_the_params_whose_conditions_hold():
    space = SearchSpace.from_dict(PARAMS)
    given = {"lr": 0.01, "model": "rf", "svm_c": 1.0, "trees": 20}
    assert space.active(given) == {"lr": 0.01, "model": "rf", "trees": 20}


def test_conditions_compare_bools_and_numbers_by_type():
    space = SearchSpace.from_dict({
        "flag": {"type": "categorical", "choices": [True, 1]},
        "a": {"type": "float", "low": 0, "high": 1, "when": {"flag": True}},
    })
    assert space.active({"flag": 1, "a": 0.5}) == {"flag": 1}
    assert space.active({"flag": True, "a": 0.5}) == {"flag": True, "a": 0.5}


def test_param_spec_scale_log_turns_the_distribution_log_scaled():
    spec = ParamSpec("lr", FloatDistribution(1e-4, 1.0), scale="log")
    assert spec.distribution.log
    assert ParamSpec("lr", FloatDistribution(1e-4, 1.0, log=True)).scale == "log"


@pytest.mark.parametrize(("params", "message"), [
    ({"lr": {"type": "float", "lowe": 1, "high": 2}}, "Did you mean 'low'"),
    ({"lr": {"type": "floot", "low": 1, "high": 2}}, "Did you mean 'float'"),
    ({"lr": {"type": "float", "high": 2}}, "params.lr needs low"),
    ({"lr": {"type": "float", "low": "abc", "high": 2}}, "params.lr.low must be a number"),
    ({"lr": {"type": "float", "low": 1, "high": 2, "scale": "logg"}}, "Did you mean 'log'"),
    ({"m": {"type": "categorical", "choices": "ab"}}, "choices must be a list"),
    ({"m": {"type": "categorical", "choices": ["a"], "low": 0}}, "apply to float and int"),
    ({"m": {"type": "float", "low": 0.5, "high": 1.5, "scale": "reverse_log"}}, "high < 1"),
    ({"a": {"type": "float", "low": 0, "high": 1, "when": {"b": 1}},
      "b": {"type": "int", "low": 0, "high": 2}}, "declared after it"),
    ({"a": {"type": "float", "low": 0, "high": 1, "when": {"modle": "svm"}}}, "is not a param"),
    ({"model": {"choices": ["svm", "rf"]},
      "c": {"type": "float", "low": 0, "high": 1, "when": {"model": "knn"}}}, "never holds"),
    ({"x__gap": {"type": "float", "low": 0, "high": 1}}, "kept for the reverse_log"),
])
def test_bad_params_are_refused_naming_the_key(params, message):
    with pytest.raises(InvalidArgumentError) as info:
        SearchSpace.from_dict(params)
    assert message in str(info.value)


def test_a_bad_domain_names_the_param():
    with pytest.raises(InvalidDistributionError, match="params.lr: .*low <= high"):
        SearchSpace.from_dict({"lr": {"type": "float", "low": 2, "high": 1}})


def test_a_param_declared_twice_is_refused():
    spec = ParamSpec("a", FloatDistribution(0, 1))
    with pytest.raises(InvalidArgumentError, match="declared twice"):
        SearchSpace((spec, spec))


def test_a_grid_gives_reverse_log_values_directly():
    space = SearchSpace.from_dict({"momentum": PARAMS["momentum"]})
    grid = pipetune.samplers.GridSampler({"momentum": [0.9, 0.99]})
    study = pipetune.create_study(sampler=grid)
    got = []
    study.optimize(lambda trial: got.append(space.suggest(trial)["momentum"]) or 0.0)
    assert sorted(got) == [0.9, 0.99]
