"""PedAnovaImportanceEvaluator: which params it takes to reach the best trials."""

from __future__ import annotations

import pytest

import pipetune
from pipetune.errors import InvalidArgumentError
from pipetune.importance import PedAnovaImportanceEvaluator, get_param_importances
from pipetune.samplers import RandomSampler


def objective(trial: pipetune.Trial) -> float:
    x = trial.suggest_float("x", -10, 10)
    lr = trial.suggest_float("lr", 1e-5, 1e-1, log=True)
    kind = trial.suggest_categorical("kind", ["a", "b", "c"])
    trial.suggest_int("noise", 0, 100)
    return abs(x) + (3.0 if kind == "a" else 0.0) + 0.01 * lr


@pytest.fixture(scope="module")
def study() -> pipetune.Study:
    study = pipetune.create_study(sampler=RandomSampler(seed=0))
    study.optimize(objective, n_trials=300)
    return study


@pytest.mark.parametrize("local", [True, False])
def test_params_that_decide_the_top_trials_rank_first(study, local):
    importances = get_param_importances(
        study, evaluator=PedAnovaImportanceEvaluator(evaluate_on_local=local))
    assert list(importances)[:2] == ["x", "kind"]
    assert sum(importances.values()) == pytest.approx(1.0)
    assert importances["noise"] < 0.1 and importances["lr"] < 0.1


def test_maximizing_the_negated_objective_ranks_alike(study):
    flipped = pipetune.create_study(direction="maximize", sampler=RandomSampler(seed=0))
    flipped.optimize(lambda t: -objective(t), n_trials=300)
    evaluator = PedAnovaImportanceEvaluator()
    assert list(get_param_importances(flipped, evaluator=evaluator)) == \
        list(get_param_importances(study, evaluator=evaluator))


def test_a_target_and_a_region_narrow_the_question(study):
    # Within the best half, x still decides who reaches the top 10%.
    importances = get_param_importances(
        study, evaluator=PedAnovaImportanceEvaluator(region_quantile=0.5),
        target=lambda t: t.value, params=["x", "noise"], normalize=False)
    assert set(importances) == {"x", "noise"}
    assert importances["x"] > 5 * importances["noise"] > 0


def test_bad_quantiles_are_refused_and_too_few_trials_warned_about(study):
    for arguments in ({"target_quantile": 0.0}, {"target_quantile": 0.5, "region_quantile": 0.5},
                      {"region_quantile": 1.5}):
        with pytest.raises(InvalidArgumentError, match="quantile"):
            PedAnovaImportanceEvaluator(**arguments)
    small = pipetune.create_study(sampler=RandomSampler(seed=0))
    small.optimize(objective, n_trials=2)
    with pytest.warns(UserWarning, match="same trials"):
        importances = get_param_importances(
            small, evaluator=PedAnovaImportanceEvaluator(target_quantile=0.9))
    assert set(importances.values()) == {0.0}
    with pytest.warns(UserWarning, match="region_quantile"):
        PedAnovaImportanceEvaluator(region_quantile=0.5, evaluate_on_local=False)
