"""``pipetune.terminator``: a study stops once its possible improvement (a GP regret bound, the
change in expected minimum regret, or the trials since the best) falls below the error of its
objective."""

from __future__ import annotations

import math
import sys

import numpy as np
import pytest

import pipetune
from pipetune import FloatDistribution, TrialState
from pipetune.datatypes import FrozenTrial, StudyDirection
from pipetune.errors import InvalidArgumentError
from pipetune.terminator import (
    BaseImprovementEvaluator,
    BestValueStagnationEvaluator,
    CrossValidationErrorEvaluator,
    EMMREvaluator,
    MedianErrorEvaluator,
    RegretBoundEvaluator,
    StaticErrorEvaluator,
    Terminator,
    TerminatorCallback,
    report_cross_validation_scores,
)
from pipetune.terminator.improvement.emmr import MARGIN_FOR_NUMARICAL_STABILITY

X = FloatDistribution(0.0, 1.0)


def _trials(xs: list[float], f=lambda x: (x - 0.3) ** 2) -> list[FrozenTrial]:
    return [FrozenTrial(number=i, trial_id=i, state=TrialState.COMPLETE, values=(f(x),),
                        params={"x": x}, distributions={"x": X}) for i, x in enumerate(xs)]


def test_the_regret_bound_covers_the_true_regret_and_shrinks_with_evidence() -> None:
    rng = np.random.default_rng(0)
    few = _trials(list(rng.uniform(0, 1, 8)))
    many = _trials(list(np.linspace(0, 1, 60)))
    evaluator = RegretBoundEvaluator(seed=0)
    bound_few = evaluator.evaluate(few, StudyDirection.MINIMIZE)
    bound_many = evaluator.evaluate(many, StudyDirection.MINIMIZE)
    true_regret = min(t.value for t in few)  # the optimum is 0
    assert bound_few >= true_regret
    assert 0 <= bound_many < bound_few


def test_the_regret_bound_of_a_maximized_study_is_its_mirror() -> None:
    xs = list(np.linspace(0, 1, 25))
    minimized = RegretBoundEvaluator(seed=1).evaluate(_trials(xs), StudyDirection.MINIMIZE)
    maximized = RegretBoundEvaluator(seed=1).evaluate(
        _trials(xs, lambda x: -((x - 0.3) ** 2)), StudyDirection.MAXIMIZE)
    assert math.isclose(minimized, maximized, rel_tol=1e-6)


def test_emmr_shrinks_once_new_trials_stop_moving_the_model_of_the_minimum() -> None:
    rng = np.random.default_rng(0)
    # five random trials, then a search closing in on the minimum at 0.3 from both sides
    xs = list(rng.uniform(0, 1, 5)) + [0.3 + 0.4 / (k + 1) ** 2 * (-1) ** k for k in range(25)]
    evaluator = EMMREvaluator(seed=0)
    early = [evaluator.evaluate(_trials(xs[:n]), StudyDirection.MINIMIZE) for n in (3, 4, 5, 6)]
    late = [evaluator.evaluate(_trials(xs[:n]), StudyDirection.MINIMIZE) for n in (25, 28, 30)]
    assert all(value >= 0 for value in early + late)
    assert max(late) < min(early) / 10
    maximized = EMMREvaluator(seed=0).evaluate(_trials(xs, lambda x: -((x - 0.3) ** 2)),
                                               StudyDirection.MAXIMIZE)
    assert math.isclose(maximized, EMMREvaluator(seed=0).evaluate(
        _trials(xs), StudyDirection.MINIMIZE), rel_tol=1e-6)


def test_emmr_says_go_on_while_it_cannot_judge() -> None:
    go_on = sys.float_info.max * MARGIN_FOR_NUMARICAL_STABILITY
    evaluator = EMMREvaluator(min_n_trials=3)
    assert evaluator.evaluate(_trials([0.1, 0.5]), StudyDirection.MINIMIZE) == go_on
    no_params = [pipetune.create_trial(value=float(i)) for i in range(3)]
    with pytest.warns(UserWarning, match="share none"):
        assert evaluator.evaluate(no_params, StudyDirection.MINIMIZE) == go_on
    with pytest.raises(InvalidArgumentError, match="min_n_trials of EMMREvaluator"):
        EMMREvaluator(min_n_trials=1)
    with pytest.raises(InvalidArgumentError, match="delta"):
        EMMREvaluator(delta=0)


def test_emmr_with_the_median_error_stops_a_search_that_converged() -> None:
    def objective(trial: pipetune.Trial) -> float:
        return (trial.suggest_float("x", -5, 5) - 1) ** 2 + (trial.suggest_float("y", -5, 5)
                                                             + 2) ** 2

    study = pipetune.create_study(sampler=pipetune.samplers.GPSampler(seed=1))
    terminator = Terminator(EMMREvaluator(seed=0), MedianErrorEvaluator(EMMREvaluator(seed=0)),
                            min_n_trials=20)
    study.optimize(objective, n_trials=100, callbacks=[TerminatorCallback(terminator)])
    assert 20 <= len(study.trials) < 100 and study.best_value < 1e-3


def test_best_value_stagnation_counts_the_trials_since_the_best() -> None:
    trials = _trials([0.0, 0.3, 0.9, 0.8, 0.3])  # the best, at 0.3, is trial 1
    assert BestValueStagnationEvaluator(5).evaluate(trials, StudyDirection.MINIMIZE) == 2
    assert BestValueStagnationEvaluator(5).evaluate(trials, StudyDirection.MAXIMIZE) == 3
    with pytest.raises(InvalidArgumentError, match="max_stagnation_trials"):
        BestValueStagnationEvaluator(-1)


def test_the_cross_validation_error_is_the_corrected_standard_error_of_the_best() -> None:
    trials = _trials([0.3, 0.9])
    best = FrozenTrial(**{**trials[0].__dict__,
                          "system_attrs": {"terminator:cv_scores": [1.0, 2.0, 3.0]}})
    error = CrossValidationErrorEvaluator().evaluate([best, trials[1]], StudyDirection.MINIMIZE)
    assert math.isclose(error, math.sqrt((1 / 3 + 1 / 2) * 2 / 3))
    with pytest.raises(InvalidArgumentError, match="report_cross_validation_scores"):
        CrossValidationErrorEvaluator().evaluate(trials, StudyDirection.MINIMIZE)


def test_the_terminator_stops_optimize_when_the_noise_outweighs_the_gain() -> None:
    def objective(trial: pipetune.Trial) -> float:
        x = trial.suggest_float("x", 0, 1)
        scores = [0.01 * x + noise for noise in (-1.0, 0.0, 1.0)]  # folds far noisier than x
        report_cross_validation_scores(trial, scores)
        return float(np.mean(scores))

    study = pipetune.create_study(sampler=pipetune.samplers.RandomSampler(seed=0))
    study.optimize(objective, n_trials=100,
                   callbacks=[TerminatorCallback(Terminator(min_n_trials=20))])
    assert len(study.trials) == 20


def test_the_terminator_lets_a_study_that_still_improves_run() -> None:
    study = pipetune.create_study(sampler=pipetune.samplers.RandomSampler(seed=0))
    study.optimize(lambda trial: (trial.suggest_float("x", 0, 1) - 0.3) ** 2, n_trials=25)
    terminator = Terminator(BestValueStagnationEvaluator(max_stagnation_trials=100))
    assert terminator.should_terminate(study) is False
    assert Terminator(BestValueStagnationEvaluator(0), min_n_trials=5).should_terminate(
        study) is (study.best_trial.number != 24)
    assert Terminator(error_evaluator=StaticErrorEvaluator(1e6)).should_terminate(study)
    assert not Terminator(min_n_trials=26).should_terminate(study)


def test_the_median_error_is_fixed_from_the_early_improvements() -> None:
    class Counting(BaseImprovementEvaluator):
        def evaluate(self, trials: list[FrozenTrial], study_direction: StudyDirection) -> float:
            return float(len(trials))

    evaluator = MedianErrorEvaluator(Counting(), warm_up_trials=2, n_initial_trials=5,
                                     threshold_ratio=0.5)
    assert evaluator.evaluate(_trials([0.1] * 6), StudyDirection.MINIMIZE) < 0  # too few yet
    assert evaluator.evaluate(_trials([0.1] * 7), StudyDirection.MINIMIZE) == 1.5  # median 3
    assert evaluator.evaluate(_trials([0.1] * 50), StudyDirection.MINIMIZE) == 1.5


def test_mistakes_are_named() -> None:
    with pytest.raises(InvalidArgumentError, match="2 or more folds"):
        report_cross_validation_scores(None, [1.0])
    with pytest.raises(InvalidArgumentError, match="min_n_trials"):
        Terminator(min_n_trials=0)
    with pytest.raises(InvalidArgumentError, match="single-objective"):
        Terminator().should_terminate(pipetune.create_study(directions=["minimize"] * 2))
    with pytest.raises(InvalidArgumentError, match="COMPLETE"):
        RegretBoundEvaluator().evaluate([], StudyDirection.MINIMIZE)
