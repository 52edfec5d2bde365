"""pipetune.search_space: the params every finished trial shares, under Optuna's names."""

from __future__ import annotations

import pytest

import pipetune
from pipetune.distributions import FloatDistribution, IntDistribution
from pipetune.errors import InvalidArgumentError
from pipetune.search_space import IntersectionSearchSpace, intersection_search_space


def objective(trial: pipetune.Trial) -> float:
    x = trial.suggest_float("x", 0, 1)
    if trial.number % 2:
        trial.suggest_int("odd", 0, 3)  # conditional: not shared
    trial.suggest_int("y", 0, 5 if trial.number < 3 else 9)  # its domain changes
    if trial.number == 4:
        raise pipetune.TrialPruned()
    return x


def test_only_params_with_one_domain_in_every_finished_trial_are_shared():
    study = pipetune.create_study()
    study.optimize(objective, n_trials=2)
    space = IntersectionSearchSpace()
    assert space.calculate(study) == {"x": FloatDistribution(0, 1), "y": IntDistribution(0, 5)}
    study.optimize(objective, n_trials=3)
    assert space.calculate(study) == {"x": FloatDistribution(0, 1)}
    assert list(intersection_search_space(study.trials)) == ["x"]


def test_pruned_trials_count_when_asked():
    study = pipetune.create_study()
    study.optimize(objective, n_trials=5)
    pruned = [study.trials[4]]
    assert intersection_search_space(pruned, include_pruned=True) == {
        "x": FloatDistribution(0, 1), "y": IntDistribution(0, 9)}
    assert intersection_search_space(pruned) == {}


def test_the_incremental_update_reads_only_new_finished_trials():
    study = pipetune.create_study()
    study.optimize(objective, n_trials=5)
    space = IntersectionSearchSpace(include_pruned=True)
    finished = [t for t in study.trials if t.state.is_finished()]
    assert space.update(finished[:2]) == {"x": FloatDistribution(0, 1),
                                          "y": IntDistribution(0, 5)}
    assert space.update(finished) == {"x": FloatDistribution(0, 1)}


def test_one_instance_serves_one_study():
    first, second = pipetune.create_study(), pipetune.create_study()
    space = IntersectionSearchSpace()
    space.calculate(first)
    with pytest.raises(InvalidArgumentError, match="one per study"):
        space.calculate(second)
