"""pipetune.samplers._seen: which spaces are finite and which configurations a study has run,
the facts samplers use to avoid proposing a configuration again."""

from __future__ import annotations

from pipetune.datatypes import FrozenTrial, StudyDirection, TrialState
from pipetune.distributions import CategoricalDistribution, FloatDistribution, IntDistribution
from pipetune.samplers._seen import RunConfigurations, configuration, is_finite
from pipetune.view import StudyView


def _trial(number: int, state: TrialState, **params) -> FrozenTrial:
    return FrozenTrial(number=number, trial_id=100 + number, state=state,
                       value=1.0 if state == TrialState.COMPLETE else None, params=params)


def _view(*trials: FrozenTrial) -> StudyView:
    return StudyView("s", (StudyDirection.MINIMIZE,), trials, claim_key=lambda key, i: True,
                     finished_log=[t for t in trials if t.state.is_finished()],
                     unfinished=tuple(t for t in trials if not t.state.is_finished()))


def configurations_run(view: StudyView, names: list[str],
                       exclude_trial_id: int | None = None) -> set[tuple]:
    return RunConfigurations().of(view, names, exclude_trial_id)


def test_ints_stepped_floats_and_categoricals_are_finite_continuous_floats_are_not():
    assert is_finite({"n": IntDistribution(1, 9), "lr": IntDistribution(1, 64, log=True),
                      "drop": FloatDistribution(0.0, 0.5, step=0.1),
                      "act": CategoricalDistribution(["relu", "tanh"])})
    assert is_finite({})
    assert not is_finite({"n": IntDistribution(1, 9), "x": FloatDistribution(0.0, 1.0)})
    assert not is_finite({"lr": FloatDistribution(1e-5, 1.0, log=True)})


def test_configuration_is_the_values_in_the_order_asked_or_none_when_one_is_missing():
    params = {"b": 2, "a": "x"}
    assert configuration(params, ["a", "b"]) == ("x", 2)
    assert configuration(params, ["b", "a"]) == (2, "x")
    assert configuration(params, ["a", "c"]) is None


def test_complete_pruned_and_running_trials_count_failed_and_waiting_ones_do_not():
    view = _view(_trial(0, TrialState.COMPLETE, a=1), _trial(1, TrialState.PRUNED, a=2),
                 _trial(2, TrialState.RUNNING, a=3), _trial(3, TrialState.FAIL, a=4),
                 _trial(4, TrialState.WAITING, a=5), _trial(5, TrialState.COMPLETE, b=6))
    assert configurations_run(view, ["a"]) == {(1,), (2,), (3,)}


def test_the_trial_being_sampled_is_left_out():
    view = _view(_trial(0, TrialState.COMPLETE, a=1), _trial(1, TrialState.RUNNING, a=2))
    assert configurations_run(view, ["a"], exclude_trial_id=101) == {(1,)}


def test_finished_trials_are_read_once_and_later_ones_added():
    run = RunConfigurations()
    first = _trial(0, TrialState.COMPLETE, a=1)
    assert run.of(_view(first), ["a"]) == {(1,)}
    later = _view(first, _trial(1, TrialState.PRUNED, a=2), _trial(2, TrialState.RUNNING, a=3))
    assert run.of(later, ["a"]) == {(1,), (2,), (3,)}
    assert run.of(later, ["a"], exclude_trial_id=102) == {(1,), (2,)}
