"""Importance evaluators: the ranking a user reads, its confidence, and fANOVA's arithmetic."""

from __future__ import annotations

import math
import random

import numpy as np
import pytest

import pipetune
from pipetune import TrialPruned
from pipetune.errors import InvalidArgumentError
from pipetune.importance import (
    FanovaImportanceEvaluator,
    MeanDecreaseImpurityImportanceEvaluator,
    ParamImportances,
    PedAnovaImportanceEvaluator,
    get_param_importances,
)
from pipetune.importance.fanova import main_effects
from pipetune.samplers import RandomSampler

EVALUATORS = [FanovaImportanceEvaluator(), MeanDecreaseImpurityImportanceEvaluator()]


def synthetic(trial: pipetune.Trial) -> float:
    """``lr`` matters most, ``optimizer`` and ``width`` a little, ``seed`` only adds noise;
    ``momentum`` exists for sgd only."""
    lr = trial.suggest_float("lr", 1e-4, 1e-1, log=True)
    optimizer = trial.suggest_categorical("optimizer", ["adam", "sgd"])
    momentum = trial.suggest_float("momentum", 0.0, 0.99) if optimizer == "sgd" else 0.9
    width = trial.suggest_int("width", 16, 256, log=True)
    seed = trial.suggest_int("seed", 0, 2**31 - 1)
    noise = random.Random(seed).gauss(0, 0.2)
    return ((math.log10(lr) + 2.5) ** 2 + 0.4 * (optimizer == "sgd") + 0.3 * abs(momentum - 0.9)
            + 0.2 * math.log2(width) / 4 + noise)


@pytest.fixture(scope="module")
def study() -> pipetune.Study:
    study = pipetune.create_study(sampler=RandomSampler(seed=0))
    study.optimize(synthetic, n_trials=300)
    return study


@pytest.mark.parametrize("evaluator", EVALUATORS, ids=lambda e: type(e).__name__)
def test_planted_param_ranks_first_and_noise_seed_ranks_low(study, evaluator):
    importances = get_param_importances(study, evaluator=evaluator)
    assert isinstance(importances, dict) and isinstance(importances, ParamImportances)
    assert list(importances)[0] == "lr"
    assert sum(importances.values()) == pytest.approx(1.0)
    assert set(importances) == {"lr", "optimizer", "momentum", "width", "seed"}
    assert importances["seed"] < importances["lr"] / 10
    assert importances.warning is None and importances.n_trials == 300


def test_fanova_puts_the_noise_seed_last(study):
    importances = get_param_importances(study)
    assert list(importances)[-1] == "seed"
    assert importances["seed"] < 0.01


def test_fanova_matches_the_variance_shares_of_an_additive_function():
    # f = 3u + v with u, v uniform on [0, 1]: variances 9/12 and 1/12, shares 0.9 and 0.1.
    study = pipetune.create_study(sampler=RandomSampler(seed=1))
    study.optimize(lambda t: 3 * t.suggest_float("u", 0, 1) + t.suggest_float("v", 0, 1),
                   n_trials=400)
    importances = get_param_importances(study)
    assert importances["u"] == pytest.approx(0.9, abs=0.03)
    assert importances["v"] == pytest.approx(0.1, abs=0.03)
    # unnormalized: the variance each explains alone; an additive function has no interaction
    raw = get_param_importances(study, normalize=False)
    assert 0.9 < sum(raw.values()) <= 1.0


def test_main_effects_of_hand_built_trees():
    low, high = np.zeros(2), np.ones(2)
    # one split on x0: all variance is x0's
    lo = np.array([[0.0, 0.0], [0.5, 0.0]])
    hi = np.array([[0.5, 1.0], [1.0, 1.0]])
    assert main_effects(lo, hi, np.array([0.0, 1.0]), low, high) == pytest.approx([1.0, 0.0])
    # XOR on four quadrants: pure interaction, no main effect at all
    lo = np.array([[0, 0], [0, 0.5], [0.5, 0], [0.5, 0.5]])
    hi = lo + 0.5
    assert main_effects(lo, hi, np.array([0.0, 1.0, 1.0, 0.0]), low, high) == pytest.approx(
        [0.0, 0.0])
    # additive on an uneven grid: x0 contributes 2 * step, x1 1 * step
    values = np.array([0.0, 1.0, 2.0, 3.0])
    assert main_effects(lo, hi, values, low, high) == pytest.approx([0.8, 0.2])
    # a constant tree explains nothing
    assert main_effects(lo, hi, np.ones(4), low, high) == pytest.approx([0.0, 0.0])


def test_conditional_param_is_ranked_by_what_it_does_when_present():
    def objective(trial: pipetune.Trial) -> float:
        use_decay = trial.suggest_categorical("use_decay", [True, False])
        decay = trial.suggest_float("decay", 0.0, 1.0) if use_decay else 0.0
        trial.suggest_float("unused", 0.0, 1.0)
        return 5 * decay

    study = pipetune.create_study(sampler=RandomSampler(seed=2))
    study.optimize(objective, n_trials=120)
    importances = get_param_importances(study)
    assert list(importances)[0] == "decay"
    assert importances["unused"] < 0.02
    assert all(math.isfinite(v) for v in importances.values())


def test_pruned_and_failed_trials_are_left_out():
    def objective(trial: pipetune.Trial) -> float:
        x = trial.suggest_float("x", 0, 1)
        trial.suggest_float("y", 0, 1)
        if trial.number % 3 == 1:
            raise TrialPruned()
        if trial.number % 3 == 2:
            raise ValueError("boom")
        return x

    study = pipetune.create_study(sampler=RandomSampler(seed=3))
    study.optimize(objective, n_trials=90, catch=(ValueError,))
    importances = get_param_importances(study)
    assert importances.n_trials == 30
    assert list(importances)[0] == "x"


def test_target_picks_an_objective_of_a_multi_objective_study():
    study = pipetune.create_study(directions=["minimize", "minimize"],
                                  sampler=RandomSampler(seed=4))
    study.optimize(lambda t: (t.suggest_float("a", 0, 1), t.suggest_float("b", 0, 1)),
                   n_trials=60)
    assert list(get_param_importances(study))[0] == "a"  # first objective by default
    assert list(get_param_importances(study, target=lambda t: t.values[1]))[0] == "b"


def test_few_trials_come_with_a_warning_and_a_spread():
    study = pipetune.create_study(sampler=RandomSampler(seed=5))
    study.optimize(lambda t: t.suggest_float("x", 0, 1) + t.suggest_float("y", 0, 1),
                   n_trials=8)
    importances = get_param_importances(study)
    assert "Only 8 COMPLETE trials for 2 params" in importances.warning
    assert set(importances.std) == {"x", "y"} and max(importances.std.values()) > 0


def test_params_restricts_the_ranking(study):
    importances = get_param_importances(study, params=["seed", "lr"])
    assert list(importances) == ["lr", "seed"]
    with pytest.raises(InvalidArgumentError, match="no param named 'dropout'"):
        get_param_importances(study, params=["dropout"])


ALL_EVALUATORS = [*EVALUATORS, PedAnovaImportanceEvaluator()]


@pytest.mark.parametrize("evaluator", ALL_EVALUATORS, ids=lambda e: type(e).__name__)
def test_a_study_too_small_to_rank_gets_zeros_and_says_why(evaluator):
    study = pipetune.create_study(sampler=RandomSampler(seed=6))
    empty = get_param_importances(study, evaluator=evaluator)
    assert empty == {} and "0 COMPLETE trial(s)" in empty.warning
    study.optimize(lambda t: t.suggest_float("x", 0, 1) + t.suggest_float("y", 0, 1), n_trials=1)
    single = get_param_importances(study, evaluator=evaluator)
    assert single == {"x": 0.0, "y": 0.0} and "1 COMPLETE trial(s)" in single.warning


@pytest.mark.parametrize("evaluator", ALL_EVALUATORS, ids=lambda e: type(e).__name__)
def test_a_param_that_never_changed_explains_nothing(evaluator):
    study = pipetune.create_study(sampler=RandomSampler(seed=7))
    study.optimize(lambda t: t.suggest_float("x", 0, 5) ** 2 + t.suggest_float("fixed", 1, 1),
                   n_trials=30)
    importances = get_param_importances(study, evaluator=evaluator)
    assert importances["fixed"] == 0.0 and importances["x"] == pytest.approx(1.0)


def test_an_empty_params_list_ranks_nothing(study):
    importances = get_param_importances(study, params=[])
    assert importances == {} and importances.warning is None


def test_mean_decrease_impurity_on_too_few_trials_for_its_leaves_says_so():
    study = pipetune.create_study(sampler=RandomSampler(seed=8))
    study.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=4)  # leaves of 3: no split
    importances = get_param_importances(study,
                                        evaluator=MeanDecreaseImpurityImportanceEvaluator())
    assert importances == {"x": 0.0} and "too few trials for the model" in importances.warning


def test_errors_name_the_fix():
    empty = pipetune.create_study()
    with pytest.raises(InvalidArgumentError, match="importance evaluator"):
        get_param_importances(empty, evaluator="fanova")
    with pytest.raises(InvalidArgumentError, match="'n_trees'.*positive int"):
        FanovaImportanceEvaluator(n_trees=0)


def test_results_are_reproducible_for_a_seed(study):
    first = get_param_importances(study, evaluator=FanovaImportanceEvaluator(seed=7))
    again = get_param_importances(study, evaluator=FanovaImportanceEvaluator(seed=7))
    assert first == again
