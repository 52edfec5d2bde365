"""WilcoxonPruner: a trial significantly worse than the best one on the same instances stops."""

from __future__ import annotations

import math

import numpy as np
import pytest

import pipetune
from pipetune.errors import InvalidArgumentError
from pipetune.pruners import WilcoxonPruner

INSTANCES = np.linspace(-1.0, 1.0, 40)  # problem instances, reported as steps 0..39


def run(study: pipetune.Study, shift: float, order: np.ndarray) -> tuple[bool, int]:
    """A trial whose loss on instance i is instance difficulty + shift: (pruned, steps run)."""
    trial = study.ask()
    for n, i in enumerate(order, start=1):
        trial.report(float(INSTANCES[i] ** 2 + shift), int(i))
        if trial.should_prune():
            study.tell(trial, state=pipetune.TrialState.PRUNED)
            return True, n
    study.tell(trial, float(np.mean(INSTANCES ** 2) + shift))
    return False, len(order)


@pytest.mark.parametrize("direction", ["minimize", "maximize"])
def test_a_clearly_worse_trial_is_pruned_early_and_a_better_one_never(direction):
    sign = 1.0 if direction == "minimize" else -1.0
    rng = np.random.default_rng(0)
    study = pipetune.create_study(direction=direction, pruner=WilcoxonPruner(p_threshold=0.1))
    assert run(study, 0.5 * sign, rng.permutation(40)) == (False, 40)  # the first: the best
    pruned, steps = run(study, 1.5 * sign, rng.permutation(40))  # worse on every instance
    assert pruned and steps <= 8
    assert run(study, 0.0, rng.permutation(40)) == (False, 40)  # better than the best
    assert study.best_trial.number == 2


def test_a_trial_as_good_as_the_best_on_average_is_kept():
    """The best trial's mean is 4 (0 on the first ten instances, 8 on the others); a trial
    scoring 1 on the first ten is worse on each of them but better on average so far."""
    study = pipetune.create_study(pruner=WilcoxonPruner(p_threshold=0.5))
    best = study.ask()
    for step in range(20):
        best.report(0.0 if step < 10 else 8.0, step)
    study.tell(best, 4.0)
    trial = study.ask()
    for step in range(10):
        trial.report(1.0, step)
        assert not trial.should_prune()


def test_nothing_is_pruned_before_enough_paired_steps_or_without_a_best_trial():
    study = pipetune.create_study(pruner=WilcoxonPruner(n_startup_steps=5))
    lone = study.ask()
    for step in range(4):
        lone.report(float(step), step)
        assert not lone.should_prune()
    study.tell(lone, 0.0)
    trial = study.ask()
    for step in range(4):  # four paired steps, 10 worse each: still below n_startup_steps
        trial.report(10.0 + step, step)
        assert not trial.should_prune()


def test_values_it_cannot_rank_turn_it_off_with_a_warning():
    study = pipetune.create_study(pruner=WilcoxonPruner(n_startup_steps=0))
    best = study.ask()
    best.report(0.0, 0)
    study.tell(best, 0.0)
    trial = study.ask()
    trial.report(math.inf, 0)
    with pytest.warns(UserWarning, match="NaN or infinite"):
        assert not trial.should_prune()
    added = study.ask()
    study.tell(added, -1.0)  # the new best reported nothing
    other = study.ask()
    other.report(5.0, 0)
    with pytest.warns(UserWarning, match="no intermediate values"):
        assert not other.should_prune()


def test_several_objectives_and_bad_arguments_are_refused():
    study = pipetune.create_study(directions=["minimize", "minimize"], pruner=WilcoxonPruner())
    trial = study.ask()
    trial.report((1.0, 2.0), 0)
    with pytest.raises(pipetune.PipetuneError, match="WilcoxonPruner"):
        trial.should_prune()
    for arguments in ({"p_threshold": -0.1}, {"p_threshold": 1.5}, {"n_startup_steps": -5}):
        with pytest.raises(InvalidArgumentError):
            WilcoxonPruner(**arguments)
