"""HyperbandPruner: deterministic bracket assignment, and ASHA within each bracket only."""

from __future__ import annotations

import math
from collections import Counter

import pytest

import pipetune
from pipetune.errors import InvalidArgumentError
from pipetune.pruners import HyperbandPruner


def numbers_in(pruner, bracket, count, start=0):
    found = [n for n in range(start, start + 100_000) if pruner.bracket_of(n) == bracket]
    return found[:count]


@pytest.mark.parametrize("min_resource, max_resource, eta, expected", [
    (1, 81, 3, 5), (1, 80, 3, 4), (1, 1, 3, 1), (2, 18, 3, 3), (1, 100, 2, 7), (5, 9, 2, 1),
])
def test_number_of_brackets(min_resource, max_resource, eta, expected):
    pruner = HyperbandPruner(min_resource, max_resource, reduction_factor=eta)
    assert pruner.n_brackets == expected


def test_bracket_assignment_is_deterministic_and_covers_every_bracket():
    a, b = HyperbandPruner(1, 81), HyperbandPruner(1, 81)
    brackets = [a.bracket_of(n) for n in range(3000)]
    assert brackets == [b.bracket_of(n) for n in range(3000)]
    counts = Counter(brackets)
    assert set(counts) == set(range(5))
    # Shares follow the number of configurations Hyperband starts per bracket: 81, 34, 15, 8, 5.
    weights = [81, 34, 15, 8, 5]
    for bracket, weight in enumerate(weights):
        assert counts[bracket] / 3000 == pytest.approx(weight / sum(weights), abs=0.03)
    # Consecutive trials spread over the brackets instead of filling one after the other.
    assert len(set(brackets[:20])) >= 3


@pytest.mark.parametrize("min_resource, max_resource, eta", [
    (1, 27, 3), (1, 81, 3), (1, 100, 2), (2, 500, 4),
])
def test_every_prefix_of_trial_numbers_holds_each_bracket_in_proportion(min_resource,
                                                                        max_resource, eta):
    # The first trials of every study, not only a long run's, spend the budget as Hyperband
    # intends: never more than two trials off each bracket's share.
    pruner = HyperbandPruner(min_resource, max_resource, reduction_factor=eta)
    n = pruner.n_brackets
    weights = [math.ceil(n / (r + 1) * eta**r) for r in reversed(range(n))]
    shares = [w / sum(weights) for w in weights]
    counts = [0] * n
    for number in range(3 * sum(weights) if sum(weights) < 1000 else 2000):
        counts[pruner.bracket_of(number)] += 1
        for bracket in range(n):
            assert abs(counts[bracket] - (number + 1) * shares[bracket]) < 2


def test_many_brackets_with_a_cycle_of_a_million_trials():
    pruner = HyperbandPruner(1, 2**20, reduction_factor=2)  # a cycle of a million trials
    assert pruner.n_brackets == 21
    assert [pruner.bracket_of(n) for n in range(3)] == [0, 1, 0]
    assert 0 <= pruner.bracket_of(123_456) < 21


def test_brackets_spend_about_the_same_budget():
    # Hyperband's hedge: the aggressive brackets judge many trials early, the last one lets a
    # few run to the end, and each gets about the same total resource.
    pruner = HyperbandPruner(1, 27)
    study = pipetune.create_study(pruner=pruner, sampler=pipetune.samplers.RandomSampler(seed=1))

    def objective(trial):
        x, speed = trial.suggest_float("x", 0.0, 1.0), trial.suggest_float("speed", 0.1, 1.0)
        for step in range(1, 28):
            value = x + math.exp(-speed * step)  # curves that cross: slow learners end lower
            trial.report(value, step)
            if step < 27 and trial.should_prune():
                raise pipetune.TrialPruned()
        return value

    study.optimize(objective, n_trials=400)
    spent = [0] * pruner.n_brackets
    for trial in study.trials:
        spent[pruner.bracket_of(trial.number)] += trial.last_step
    shares = [s / sum(spent) for s in spent]
    assert all(0.15 < share < 0.35 for share in shares), shares


def test_auto_max_resource_is_learned_from_the_first_complete_trial(history):
    pruner = HyperbandPruner()
    assert pruner.n_brackets is None
    with pytest.raises(InvalidArgumentError, match="max_resource"):
        pruner.bracket_of(0)
    running = history.trial(1, [5.0] * 3, state="RUNNING")
    assert not pruner.prune(history.view([running]), running)
    complete = history.trial(0, [1.0] * 28)  # last step 27 = 3 ** 3: four brackets
    pruner.prune(history.view([complete, running]), running)
    assert pruner.n_brackets == 4
    assert pruner.bracket_of(7) == HyperbandPruner(1, 27).bracket_of(7)


def test_trials_are_only_compared_within_their_bracket(history):
    pruner = HyperbandPruner(1, 81)
    mine = numbers_in(pruner, 0, 9)
    elsewhere = [n for n in range(200) if pruner.bracket_of(n) != 0][:30]
    # Trials of other brackets are far better, but only bracket 0's count for bracket 0.
    strangers = [history.trial(n, [0.0, 0.0]) for n in elsewhere]
    peers = [history.trial(n, [0.0, 10.0 + i]) for i, n in enumerate(mine[:8])]
    candidate = history.trial(mine[8], [0.0, 11.5], state="RUNNING")
    view = history.view(strangers + peers + [candidate])
    assert not pruner.prune(view, candidate)  # third of nine in its bracket
    worse = history.trial(mine[8], [0.0, 12.5], state="RUNNING")
    assert pruner.prune(history.view(strangers + peers + [worse]), worse)


def test_bracket_s_starts_judging_at_min_resource_times_eta_to_the_s(history):
    pruner = HyperbandPruner(1, 81)
    numbers = numbers_in(pruner, 1, 10)
    peers = [history.trial(n, [0.0] * 10) for n in numbers[:9]]
    verdicts = []
    for last in range(10):
        candidate = history.trial(numbers[9], [5.0] * (last + 1), state="RUNNING")
        verdicts.append(pruner.prune(history.view(peers + [candidate]), candidate))
    assert [s for s, pruned in enumerate(verdicts) if pruned] == [3, 9]


def test_no_rung_at_or_beyond_max_resource(history):
    pruner = HyperbandPruner(1, 81)
    numbers = numbers_in(pruner, 4, 10)  # the last bracket's only rung would be at 81
    peers = [history.trial(n, [0.0] * 90) for n in numbers[:9]]
    candidate = history.trial(numbers[9], [5.0] * 90, state="RUNNING")
    for last in (27, 81, 89):
        trial = history.trial(numbers[9], [5.0] * (last + 1), state="RUNNING")
        assert not pruner.prune(history.view(peers + [trial]), trial)
    assert not pruner.prune(history.view(peers + [candidate]), candidate)


def test_a_latest_nan_is_pruned(history):
    trial = history.trial(0, [1.0, math.nan], state="RUNNING")
    assert HyperbandPruner().prune(history.view([trial]), trial)


def test_several_objectives_rank_by_pareto_fronts_within_the_bracket(history):
    pruner = HyperbandPruner(1, 81)
    mine = numbers_in(pruner, 0, 9)
    peers = [history.trial(n, [(0.0, 0.0), (float(i), float(8 - i) + 1.0)])
             for i, n in enumerate(mine[:6])]
    peers += [history.trial(n, [(0.0, 0.0), (20.0, 20.0)]) for n in mine[6:8]]
    directions = ["minimize", "minimize"]
    dominated = history.trial(mine[8], [(0.0, 0.0), (19.0, 19.0)], state="RUNNING")
    assert pruner.prune(history.view(peers + [dominated], directions), dominated)
    ahead = history.trial(mine[8], [(0.0, 0.0), (-1.0, -1.0)], state="RUNNING")
    assert not pruner.prune(history.view(peers + [ahead], directions), ahead)


@pytest.mark.parametrize("kwargs, name", [
    ({"min_resource": 0}, "min_resource"), ({"max_resource": "big"}, "max_resource"),
    ({"min_resource": 5, "max_resource": 4}, "max_resource"),
    ({"reduction_factor": 1}, "reduction_factor"), ({"bootstrap_count": -1}, "bootstrap_count"),
])
def test_bad_arguments_are_named(kwargs, name):
    with pytest.raises(InvalidArgumentError, match=f"'{name}'"):
        HyperbandPruner(**kwargs)


def test_bracket_of_checks_its_argument():
    with pytest.raises(InvalidArgumentError, match="trial_number"):
        HyperbandPruner(1, 9).bracket_of(-1)


def test_end_to_end_prunes_bad_curves_and_keeps_the_best(end_to_end):
    end_to_end(HyperbandPruner(), n_trials=40)


def test_bootstrap_count_stops_the_first_trials_of_each_bracket_at_its_first_rung():
    pruner = HyperbandPruner(1, 27, bootstrap_count=2)  # brackets' first rungs: 1, 3, 9, none
    study = pipetune.create_study(pruner=pruner, sampler=pipetune.samplers.RandomSampler(seed=0))

    def objective(trial):
        x = trial.suggest_float("x", 0.0, 1.0)
        for step in range(28):
            trial.report(x + 1.0 / (step + 1), step)
            if trial.should_prune():
                raise pipetune.TrialPruned()
        return x

    study.optimize(objective, n_trials=30)
    for bracket in range(3):
        first_two = [t for t in study.trials if pruner.bracket_of(t.number) == bracket][:2]
        assert [(t.state, t.last_step) for t in first_two] == \
            [(pipetune.TrialState.PRUNED, 3 ** bracket)] * 2


def test_threads_on_a_sqlite_study_share_one_pruner(storage):
    def objective(trial):
        x = trial.suggest_float("x", 0.0, 1.0)
        for step in range(30):
            trial.report(x + 1.0 / (step + 1), step)
            if trial.should_prune():
                raise pipetune.TrialPruned()
        return x + 1.0 / 30

    study = pipetune.create_study(storage=storage, pruner=HyperbandPruner(1, 29),
                                  sampler=pipetune.samplers.RandomSampler(seed=5))
    study.optimize(objective, n_trials=24, n_jobs=3)
    states = [t.state for t in study.trials]
    assert set(states) <= {pipetune.TrialState.COMPLETE, pipetune.TrialState.PRUNED}
    assert pipetune.TrialState.PRUNED in states
    for trial in study.get_trials(states=[pipetune.TrialState.PRUNED]):
        assert trial.value == trial.intermediate_values[trial.last_step]
