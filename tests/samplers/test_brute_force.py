"""BruteForceSampler: every combination of a finite define-by-run space once, then stop."""

from __future__ import annotations

import pytest

import pipetune
from pipetune.errors import InvalidArgumentError
from pipetune.samplers import BruteForceSampler, PartialFixedSampler


def conditional(trial: pipetune.Trial) -> float:
    kind = trial.suggest_categorical("kind", ["float", "int"])
    if kind == "float":
        return trial.suggest_float("x", 1.0, 3.0, step=0.5)
    a = trial.suggest_int("a", 1, 3)
    return a + trial.suggest_int("b", 0, 1)


EXPECTED = ({("float", x) for x in (1.0, 1.5, 2.0, 2.5, 3.0)}
            | {("int", a, b) for a in (1, 2, 3) for b in (0, 1)})


def points(study: pipetune.Study) -> list[tuple]:
    return [(t.params["kind"], t.params["x"]) if t.params["kind"] == "float"
            else ("int", t.params["a"], t.params["b"]) for t in study.trials]


def test_every_combination_is_tried_once_and_then_the_study_stops(tmp_path):
    # SQLite returns params sorted by name, not in the order the objective suggested them
    # ("kind" before "a"): the sampler records that order itself.
    url = f"sqlite:///{tmp_path / 'b.db'}"
    study = pipetune.create_study(storage=url, sampler=BruteForceSampler(seed=0))
    result = study.optimize(conditional)
    assert result.stop_reason == pipetune.StopReason.SEARCH_SPACE_EXHAUSTED
    assert sorted(points(study)) == sorted(EXPECTED)
    again = pipetune.load_study(study_name=study.study_name, storage=url,
                                sampler=BruteForceSampler(seed=1)).optimize(conditional)
    assert again.n_trials == 0


def test_pruned_and_failed_trials_count_as_tried():
    def objective(trial: pipetune.Trial) -> float:
        value = conditional(trial)
        if trial.number % 3 == 1:
            raise pipetune.TrialPruned()
        if trial.number % 3 == 2:
            raise ValueError("crash")
        return value

    study = pipetune.create_study(sampler=BruteForceSampler(seed=0))
    study.optimize(objective, catch=(ValueError,))
    assert sorted(points(study)) == sorted(EXPECTED)


def test_running_trials_are_not_repeated():
    study = pipetune.create_study(sampler=BruteForceSampler())
    first, second = study.ask(), study.ask()
    assert {first.suggest_categorical("x", ["a", "b"]),
            second.suggest_categorical("x", ["a", "b"])} == {"a", "b"}


def test_running_trials_end_the_search_unless_told_to_wait_for_them():
    for avoid, stopped in ((False, True), (True, False)):
        study = pipetune.create_study(sampler=BruteForceSampler(avoid_premature_stop=avoid))
        done, running = study.ask(), study.ask()
        done.suggest_int("x", 0, 1)
        running.suggest_int("x", 0, 1)
        study.tell(done, 0.0)
        # The running trial has only suggested x: it may still suggest more.
        assert study.run_interface.is_exhausted() is stopped


def test_enqueued_and_added_trials_are_not_tried_again():
    study = pipetune.create_study(sampler=BruteForceSampler(seed=3))
    study.enqueue_trial({"kind": "int", "a": 2, "b": 1})
    study.optimize(conditional)
    assert sorted(points(study)) == sorted(EXPECTED)


def test_params_fixed_by_another_sampler_are_not_enumerated():
    def objective(trial: pipetune.Trial) -> float:
        return trial.suggest_float("lr", 1e-4, 1.0, log=True) * trial.suggest_int("n", 0, 2)

    sampler = PartialFixedSampler({"lr": 0.01}, BruteForceSampler())
    study = pipetune.create_study(sampler=sampler)
    assert study.optimize(objective).n_trials == 3
    assert sorted(t.params["n"] for t in study.trials) == [0, 1, 2]


def test_a_continuous_float_is_an_error_naming_the_fix():
    study = pipetune.create_study(sampler=BruteForceSampler())
    with pytest.raises(InvalidArgumentError, match="step"):
        study.optimize(lambda t: t.suggest_float("x", 0.0, 2.0), n_trials=1)


def test_a_domain_that_changes_between_trials_is_an_error():
    study = pipetune.create_study(sampler=BruteForceSampler())
    study.optimize(lambda t: t.suggest_int("x", 0, 1), n_trials=1)
    with pytest.raises(InvalidArgumentError, match="same domains"):
        study.optimize(lambda t: t.suggest_int("x", 0, 5), n_trials=1)


def test_float_steps_enumerate_exact_decimal_values():
    study = pipetune.create_study(sampler=BruteForceSampler())
    study.optimize(lambda t: t.suggest_float("x", 0.0, 0.3, step=0.1))
    assert sorted(t.params["x"] for t in study.trials) == [0.0, 0.1, 0.2, 0.3]
