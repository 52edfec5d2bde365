"""Stopping criteria end a run by outcome: target reached, no improvement, broken objective."""

import pytest

import pipetune
from pipetune.samplers import RandomSampler
from pipetune.stopping import FailedInARow, NoImprovement, TargetValue


def _study(storage, direction="minimize"):
    return pipetune.create_study(storage=storage, direction=direction,
                                 sampler=RandomSampler(seed=0))


def test_target_value_stops_once_reached(storage):
    study = _study(storage)
    study.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=500,
                   stop_when=TargetValue(0.05))
    assert study.best_value <= 0.05
    assert study.trials[-1].value == study.best_value  # stopped right after reaching it
    assert len(study.trials) < 500


def test_target_value_respects_maximize(storage):
    study = _study(storage, "maximize")
    study.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=500,
                   stop_when=[TargetValue(0.95)])
    assert study.best_value >= 0.95 and len(study.trials) < 500


def test_no_improvement_counts_trials_since_the_best(storage):
    values = iter([5, 4, 3, 3.5, 4, 6, 7, 8, 1, 9, 9, 9, 9, 9, 9])
    study = _study(storage)
    study.optimize(lambda t: next(values), n_trials=15, stop_when=NoImprovement(4))
    # Best 3 at trial 2, then 4 trials without improvement: the run stops after trial 6.
    assert len(study.trials) == 7
    assert study.best_value == 3


def test_failed_in_a_row_raises_with_the_last_error(storage):
    study = _study(storage)

    def broken(trial):
        trial.suggest_float("x", 0, 1)
        raise RuntimeError("the GPU is on fire")

    with pytest.raises(pipetune.PipetuneError, match="3 trials failed in a row.*GPU is on fire"):
        study.optimize(broken, n_trials=50, catch=RuntimeError, stop_when=FailedInARow(3))
    states = [t.state for t in study.trials]
    assert states == [pipetune.TrialState.FAIL] * 3


def test_a_success_resets_the_failure_count(storage):
    outcomes = iter([ValueError, ValueError, None, ValueError, ValueError, None, None])

    def flaky(trial):
        outcome = next(outcomes)
        if outcome is not None:
            raise outcome("flaky")
        return 1.0

    study = _study(storage)
    study.optimize(flaky, n_trials=7, catch=ValueError, stop_when=FailedInARow(3))
    assert len(study.trials) == 7


def test_nan_returns_count_as_failures(storage):
    study = _study(storage)
    with pytest.raises(pipetune.PipetuneError, match="returned NaN"):
        study.optimize(lambda t: float("nan"), n_trials=20, stop_when=FailedInARow(2))
    assert len(study.trials) == 2


def test_bad_criteria_are_rejected_clearly():
    study = pipetune.create_study()
    with pytest.raises(pipetune.InvalidArgumentError, match="stop_when"):
        study.optimize(lambda t: 0.0, n_trials=1, stop_when=["soon"])
    with pytest.raises(pipetune.InvalidArgumentError, match="n_trials"):
        NoImprovement(0)
    with pytest.raises(pipetune.InvalidArgumentError, match="number"):
        TargetValue("low")
    multi = pipetune.create_study(directions=["minimize", "minimize"])
    with pytest.raises(pipetune.InvalidArgumentError, match="single-objective"):
        multi.optimize(lambda t: (0.0, 0.0), n_trials=1, stop_when=TargetValue(0))
