"""PatientPruner: patience counting, min_delta, and deferring to the wrapped pruner."""

from __future__ import annotations

import math

import pytest

import pipetune
from pipetune.errors import InvalidArgumentError
from pipetune.pruners import BasePruner, MedianPruner, PatientPruner


class Always(BasePruner):
    """A wrapped pruner with a fixed answer that remembers whether it was asked."""

    def __init__(self, answer: bool) -> None:
        self.answer = answer
        self.asked = 0

    def prune(self, study, trial) -> bool:
        self.asked += 1
        return self.answer


def verdict(history, pruner, values, directions=("minimize",)):
    trial = history.trial(0, values, state="RUNNING")
    return pruner.prune(history.view([trial], directions), trial)


@pytest.mark.parametrize("values, patience, expected", [
    ([5, 4, 3, 4, 4], 1, True),     # the last two (4, 4) are worse than the best before (3)
    ([5, 4, 3, 4, 4], 2, False),    # the last three include the best, 3
    ([5, 4, 3, 3, 3], 1, False),    # holding the best value is not falling short of it
    ([5, 6, 7], 1, True),           # only got worse
    ([5, 6, 7], 2, False),          # not enough reports yet to run out of patience
    ([5, 4, 6, 7, 8], 2, True),     # 4 at the second report, nothing as good for three
    ([5, 4, 6, 7, 3], 2, False),    # improved at the last report
    ([5], 0, False),                # a first report has nothing to fall short of
    ([5, 6], 0, True),              # no patience: one report worse than the best prunes
])
def test_patience_counts_reports_without_improvement(history, values, patience, expected):
    assert verdict(history, PatientPruner(None, patience), values) is expected


def test_patience_counts_reports_not_step_numbers(history):
    values = {0: 4.0, 10: 5.0, 50: 5.0, 90: 5.0}
    assert verdict(history, PatientPruner(None, 2), values)
    assert not verdict(history, PatientPruner(None, 3), values)


def test_min_delta_is_a_tolerance(history):
    values = [8.0, 9.0, 8.5, 8.6]  # the best before the last two is 8; they are 0.5 worse
    assert verdict(history, PatientPruner(None, 1), values)
    assert verdict(history, PatientPruner(None, 1, min_delta=0.4), values)
    assert not verdict(history, PatientPruner(None, 1, min_delta=0.5), values)
    assert not verdict(history, PatientPruner(None, 1, min_delta=1.0), values)


def test_maximize_counts_decreases_as_falling_short(history):
    rising, falling = [1.0, 2.0, 3.0, 4.0], [4.0, 3.0, 2.0, 1.0]
    assert not verdict(history, PatientPruner(None, 2), rising, ["maximize"])
    assert verdict(history, PatientPruner(None, 2), falling, ["maximize"])
    assert verdict(history, PatientPruner(None, 2), rising, ["minimize"])


def test_the_wrapped_pruner_decides_once_patience_ran_out(history):
    stuck = [4.0, 5.0, 5.0, 5.0]
    improving = [5.0, 4.0, 3.0, 2.0]
    no, yes = Always(False), Always(True)
    assert not verdict(history, PatientPruner(no, 2), stuck)
    assert verdict(history, PatientPruner(yes, 2), stuck)
    assert not verdict(history, PatientPruner(yes, 2), improving)
    assert yes.asked == 1  # a trial that is still improving never reaches the wrapped pruner


def test_nan_is_skipped_and_a_latest_nan_is_pruned(history):
    assert verdict(history, PatientPruner(Always(False), 10), [1.0, math.nan])
    # A NaN in the middle neither improves nor breaks the count.
    assert not verdict(history, PatientPruner(None, 1), [5.0, math.nan, 4.0])
    assert verdict(history, PatientPruner(None, 1), [4.0, math.nan, 4.5])
    # Only NaN before the window: nothing to fall short of.
    assert not verdict(history, PatientPruner(None, 1), [math.nan, 4.0, 4.5])


def test_infinity_is_an_ordinary_value(history):
    assert not verdict(history, PatientPruner(None, 0), [math.inf, 3.0])
    assert verdict(history, PatientPruner(None, 0), [3.0, math.inf])
    assert not verdict(history, PatientPruner(None, 0), [math.inf, math.inf])


def test_no_reports_no_pruning(history):
    assert not verdict(history, PatientPruner(None, 0), {})


def test_several_objectives_are_refused(history):
    trial = history.trial(0, [(1.0, 2.0)], state="RUNNING")
    with pytest.raises(InvalidArgumentError, match="objective"):
        PatientPruner(None, 1).prune(history.view([trial], ["minimize", "minimize"]), trial)


@pytest.mark.parametrize("args, name", [
    (("median", 2), "wrapped_pruner"), ((None, -1), "patience"), ((None, 1.5), "patience"),
    ((None, 2, -0.1), "min_delta"), ((None, 2, math.inf), "min_delta"),
    ((None, 2, math.nan), "min_delta"),
])
def test_bad_arguments_are_named(args, name):
    with pytest.raises(InvalidArgumentError, match=f"'{name}'"):
        PatientPruner(*args)


def overfitting_objective(trial):
    """Falls towards x until step 40 * (1 - x), then rises again (overfitting): the small-x
    (good) runs keep improving through all 30 steps; others turn and run out of patience."""
    x = trial.suggest_float("x", 0.0, 1.0)
    turn = int(40 * (1 - x))
    for step in range(30):
        value = x + 1.0 / (min(step, turn) + 1) + 0.01 * max(0, step - turn)
        trial.report(value, step)
        if trial.should_prune():
            raise pipetune.TrialPruned()
    return value


@pytest.mark.parametrize("pruner, patience", [
    (PatientPruner(None, 3), 3), (PatientPruner(MedianPruner(n_startup_trials=3), 2), 2)])
def test_end_to_end_prunes_turned_curves_and_keeps_the_best(pruner, patience, end_to_end):
    study = end_to_end(pruner, objective=overfitting_objective)
    for trial in study.get_trials(states=[pipetune.TrialState.PRUNED]):
        # Pruned only once patience + 1 reports after the turn were all worse than it.
        assert trial.last_step >= int(40 * (1 - trial.params["x"])) + patience + 1
