"""SuccessiveHalvingPruner (ASHA) on hand-built histories: who is promoted at a rung."""

from __future__ import annotations

import math

import numpy as np
import pytest

import pipetune
from pipetune._best import is_pareto_efficient, pareto_ranks
from pipetune.errors import InvalidArgumentError
from pipetune.pruners import HyperbandPruner, SuccessiveHalvingPruner

ASHA = {"min_resource": 1, "reduction_factor": 3}  # rungs at steps 1, 3, 9, 27


def at_rung_one(history, number, value, state="COMPLETE"):
    """A trial that reached the first rung (step 1) with ``value``."""
    return history.trial(number, [100.0, value], state=state)


def survivors(history, values, pruner_factory, directions=("minimize",)):
    """For each trial, whether it is promoted at step 1 when all the others already are there."""
    result = []
    for me, value in enumerate(values):
        others = [at_rung_one(history, n, v) for n, v in enumerate(values) if n != me]
        candidate = at_rung_one(history, me, value, state="RUNNING")
        view = history.view(others + [candidate], directions=directions)
        result.append(not pruner_factory().prune(view, candidate))
    return result


@pytest.mark.parametrize("n", [9, 27, 30])
def test_promotes_exactly_the_top_third(history, n):
    values = [float((7 * i) % n) for i in range(n)]  # a shuffled 0..n-1
    promoted = survivors(history, values, lambda: SuccessiveHalvingPruner(**ASHA))
    assert sorted(v for v, ok in zip(values, promoted, strict=True) if ok) == list(range(n // 3))


def test_reduction_factor_sets_the_share(history):
    values = [float(i) for i in range(8)]
    promoted = survivors(history, values,
                         lambda: SuccessiveHalvingPruner(min_resource=1, reduction_factor=2))
    assert promoted == [True] * 4 + [False] * 4


def test_maximize_promotes_the_highest(history):
    values = [float(i) for i in range(9)]
    promoted = survivors(history, values, lambda: SuccessiveHalvingPruner(**ASHA),
                         directions=["maximize"])
    assert promoted == [False] * 6 + [True] * 3


def test_the_first_trial_at_a_rung_is_promoted(history):
    lone = at_rung_one(history, 0, 1e9, state="RUNNING")
    assert not SuccessiveHalvingPruner(**ASHA).prune(history.view([lone]), lone)


def test_a_trial_is_judged_once_per_rung_when_it_reaches_it(history):
    others = [history.trial(n, [0.0] * 10) for n in range(9)]
    pruner = SuccessiveHalvingPruner(**ASHA)
    for last_step, expected in [(0, False), (1, True), (2, False), (3, True), (4, False),
                                (8, False), (9, True)]:
        candidate = history.trial(9, [5.0] * (last_step + 1), state="RUNNING")
        assert pruner.prune(history.view(others + [candidate]), candidate) is expected, last_step


def test_a_report_skipping_rungs_is_judged_at_each(history):
    # Good at rung 1 (step 1), bad at rung 3: values are read at the first step >= the rung.
    others = [history.trial(n, {0: 9.0, 1: float(n), 3: 0.0}) for n in range(9)]
    candidate = history.trial(9, {0: 9.0, 5: 0.5}, state="RUNNING")
    assert SuccessiveHalvingPruner(**ASHA).prune(history.view(others + [candidate]), candidate)
    good = history.trial(9, {0: 9.0, 5: -1.0}, state="RUNNING")
    assert not SuccessiveHalvingPruner(**ASHA).prune(history.view(others + [good]), good)


def test_pruned_and_running_trials_compete_failed_ones_do_not(history):
    pruned = [at_rung_one(history, n, float(n), state="PRUNED") for n in range(4)]
    running = [at_rung_one(history, n, float(n), state="RUNNING") for n in range(4, 8)]
    failed = [at_rung_one(history, n, 100.0 + n, state="FAIL") for n in range(8, 20)]
    candidate = at_rung_one(history, 20, 2.5, state="RUNNING")
    view = history.view(pruned + running + failed + [candidate])
    # 9 trials at the rung (failed ones left out), top 3 are 0, 1, 2: 2.5 is fourth.
    assert SuccessiveHalvingPruner(**ASHA).prune(view, candidate)
    # Running trials that have not reached the rung yet are not counted.
    early = [history.trial(n, [0.0], state="RUNNING") for n in range(30, 40)]
    assert SuccessiveHalvingPruner(**ASHA).prune(history.view(pruned + running + early
                                                              + [candidate]), candidate)


def test_bootstrap_count_stops_the_first_trials_at_a_rung(history):
    """Until more than bootstrap_count trials reached a rung, none goes on from it, however
    good; then the usual top share does."""
    others = [at_rung_one(history, n, 1.0, state="PRUNED") for n in range(4)]
    best = at_rung_one(history, 4, 0.0, state="RUNNING")
    view = history.view(others + [best])
    assert SuccessiveHalvingPruner(**ASHA, bootstrap_count=5).prune(view, best)
    assert not SuccessiveHalvingPruner(**ASHA, bootstrap_count=4).prune(view, best)
    lone = at_rung_one(history, 0, 0.0, state="RUNNING")
    assert SuccessiveHalvingPruner(**ASHA, bootstrap_count=1).prune(history.view([lone]), lone)


@pytest.mark.parametrize("make", [lambda: SuccessiveHalvingPruner(bootstrap_count=1),
                                  lambda: HyperbandPruner(bootstrap_count=1)])
def test_bootstrap_count_needs_known_rungs(make):
    with pytest.raises(InvalidArgumentError, match="bootstrap_count"):
        make()


def test_min_early_stopping_rate_moves_the_first_rung(history):
    pruner = SuccessiveHalvingPruner(min_resource=1, reduction_factor=3, min_early_stopping_rate=1)
    view = history.view([])
    assert pruner.rung_resources(view, 100) == [3, 9, 27, 81]
    others = [history.trial(n, [0.0] * 5) for n in range(9)]
    bad = [history.trial(9, [5.0] * (s + 1), state="RUNNING") for s in range(5)]
    verdicts = [pruner.prune(history.view(others + [b]), b) for b in bad]
    assert verdicts == [False, False, False, True, False]


def test_auto_min_resource_waits_for_a_complete_trial(history):
    pruner = SuccessiveHalvingPruner()
    others = [history.trial(n, [0.0] * 3, state="RUNNING") for n in range(9)]
    candidate = history.trial(9, [5.0] * 2, state="RUNNING")
    assert not pruner.prune(history.view(others + [candidate]), candidate)
    assert pruner.rung_resources(history.view(others), 100) == []
    # The lowest-numbered COMPLETE trial reported up to step 299: min_resource = 299 // 100.
    reference = history.trial(50, [0.0] * 300)
    view = history.view(others + [reference])
    assert pruner.rung_resources(view, 100) == [2, 6, 18, 54]
    candidate = history.trial(9, [5.0] * 3, state="RUNNING")  # reaches step 2
    assert pruner.prune(history.view(others + [reference, candidate]), candidate)


def test_a_latest_nan_is_pruned_and_other_nans_are_skipped(history):
    assert SuccessiveHalvingPruner(**ASHA).prune(
        history.view([]), history.trial(0, [1.0, math.nan, 1.0, math.nan], state="RUNNING"))
    nans = [at_rung_one(history, n, math.nan) for n in range(8)]
    best = at_rung_one(history, 8, 0.0)
    candidate = at_rung_one(history, 9, 1.0, state="RUNNING")
    # Two comparable trials at the rung, so one is promoted and it is not the candidate.
    assert SuccessiveHalvingPruner(**ASHA).prune(history.view(nans + [best, candidate]),
                                                 candidate)


def test_infinities_are_ordinary_values(history):
    others = [at_rung_one(history, n, math.inf) for n in range(8)]
    candidate = at_rung_one(history, 8, 1e300, state="RUNNING")
    assert not SuccessiveHalvingPruner(**ASHA).prune(history.view(others + [candidate]),
                                                     candidate)
    hopeless = at_rung_one(history, 8, math.inf, state="RUNNING")
    best = [at_rung_one(history, n, -math.inf) for n in range(8)]
    assert SuccessiveHalvingPruner(**ASHA).prune(history.view(best + [hopeless]), hopeless)


# -- several objectives (MO-ASHA) ----------------------------------------------------------------

FRONT_AND_REST = [(1.0, 5.0), (5.0, 1.0), (6.0, 6.0), (7.0, 7.0), (8.0, 8.0), (9.0, 9.0),
                  (6.0, 7.0), (7.0, 6.0)]


@pytest.mark.parametrize("point, promoted", [
    ((3.0, 3.0), True),    # joins the first front, which fits in the top 3
    ((0.0, 0.0), True),    # dominates everything
    ((6.5, 6.5), False),   # dominated by (6, 6): third front at best
    ((5.5, 5.5), True),    # alone on the second front: third best
    ((6.0, 6.0), False),   # shares the second front with trial 2's (6, 6): the last slot goes
                           # to the lower trial number
])
def test_mo_asha_promotes_non_dominated_trials(history, point, promoted):
    others = [at_rung_one(history, n, p) for n, p in enumerate(FRONT_AND_REST)]
    candidate = at_rung_one(history, 8, point, state="RUNNING")
    view = history.view(others + [candidate], directions=["minimize", "minimize"])
    assert SuccessiveHalvingPruner(**ASHA).prune(view, candidate) is not promoted


def test_mo_asha_cuts_the_last_front_by_crowding_distance(history):
    dominated = [(20.0 + n, 20.0 + n) for n in range(5)]
    front = [(0.0, 10.0), (10.0, 0.0)]

    def promoted(mine, theirs):
        others = [at_rung_one(history, n, p) for n, p in enumerate(front + [theirs] + dominated)]
        candidate = at_rung_one(history, 9, mine, state="RUNNING")
        view = history.view(others + [candidate], directions=["minimize", "minimize"])
        return not SuccessiveHalvingPruner(**ASHA).prune(view, candidate)

    # Nine trials, three promoted; the front has four: the two extremes, then the less crowded.
    assert promoted((5.0, 5.0), (4.0, 6.0))
    assert not promoted((4.0, 6.0), (5.0, 5.0))


def test_mo_asha_respects_directions(history):
    others = [at_rung_one(history, n, (float(n), -float(n))) for n in range(8)]
    bad = at_rung_one(history, 8, (9.0, -9.0), state="RUNNING")
    view = history.view(others + [bad], directions=["minimize", "maximize"])
    assert SuccessiveHalvingPruner(**ASHA).prune(view, bad)
    good = at_rung_one(history, 8, (-1.0, 1.0), state="RUNNING")
    view = history.view(others + [good], directions=["minimize", "maximize"])
    assert not SuccessiveHalvingPruner(**ASHA).prune(view, good)


def test_mo_nan_component_is_pruned(history):
    candidate = at_rung_one(history, 0, (1.0, math.nan), state="RUNNING")
    view = history.view([candidate], directions=["minimize", "minimize"])
    assert SuccessiveHalvingPruner(**ASHA).prune(view, candidate)


def test_a_value_of_the_wrong_shape_is_explained(history):
    candidate = at_rung_one(history, 0, 1.0, state="RUNNING")
    view = history.view([candidate], directions=["minimize", "minimize"])
    with pytest.raises(InvalidArgumentError, match="one number per objective"):
        SuccessiveHalvingPruner(**ASHA).prune(view, candidate)


@pytest.mark.parametrize("kwargs, name", [
    ({"min_resource": 0}, "min_resource"), ({"min_resource": "automatic"}, "min_resource"),
    ({"reduction_factor": 1}, "reduction_factor"), ({"reduction_factor": 2.5}, "reduction_factor"),
    ({"min_early_stopping_rate": -1}, "min_early_stopping_rate"),
    ({"bootstrap_count": -2}, "bootstrap_count"),
])
def test_bad_arguments_are_named(kwargs, name):
    with pytest.raises(InvalidArgumentError, match=f"'{name}'"):
        SuccessiveHalvingPruner(**kwargs)


def test_the_index_follows_a_growing_history(history):
    pruner = SuccessiveHalvingPruner(**ASHA)
    trials = []
    for number, value in enumerate([5.0, 1.0, 4.0, 2.0, 3.0, 0.5, 6.0, 2.5, 1.5, 0.7]):
        candidate = at_rung_one(history, number, value, state="RUNNING")
        view = history.view(trials + [candidate])
        verdict = pruner.prune(view, candidate)
        assert verdict == SuccessiveHalvingPruner(**ASHA).prune(view, candidate)
        state = "PRUNED" if verdict else "COMPLETE"
        trials.append(at_rung_one(history, number, value, state=state))


@pytest.mark.parametrize("pruner", [SuccessiveHalvingPruner(),
                                    SuccessiveHalvingPruner(min_resource=2, bootstrap_count=2)])
def test_end_to_end_prunes_bad_curves_and_keeps_the_best(pruner, end_to_end):
    end_to_end(pruner)


def test_pareto_ranks_match_peeling_fronts_one_by_one():
    """Both sorting paths (two losses, and more) agree with peeling non-dominated fronts,
    including duplicates and infinities."""
    def peeled(points):
        ranks, remaining, rank = np.full(len(points), -1), np.arange(len(points)), 0
        while len(remaining):
            on_front = is_pareto_efficient(points[remaining])
            ranks[remaining[on_front]] = rank
            remaining, rank = remaining[~on_front], rank + 1
        return ranks

    rng = np.random.default_rng(0)
    for _ in range(200):
        n, m = int(rng.integers(1, 40)), int(rng.integers(2, 5))
        points = rng.integers(0, 4, size=(n, m)).astype(float)
        points[rng.random(n) < 0.1] = np.inf
        expected = peeled(points)
        assert (pareto_ranks(points) == expected).all()
        if m == 2:  # the general path on the same problem
            padded = np.hstack([points, np.zeros((n, 1))])
            assert (pareto_ranks(padded) == expected).all()


def two_objective_curves(trial):
    """Two losses falling over 30 steps; x trades one for the other, y hurts both."""
    x = trial.suggest_float("x", 0.0, 1.0)
    y = trial.suggest_float("y", 0.0, 1.0)
    for step in range(30):
        losses = (x + y + 1.0 / (step + 1), 1.0 - x + y + 1.0 / (step + 1))
        trial.report(losses, step)
        if trial.should_prune():
            raise pipetune.TrialPruned()
    return losses


@pytest.mark.parametrize("pruner", [SuccessiveHalvingPruner(), HyperbandPruner()])
def test_end_to_end_with_two_objectives(pruner):
    study = pipetune.create_study(directions=["minimize", "minimize"], pruner=pruner,
                                  sampler=pipetune.samplers.RandomSampler(seed=1))
    study.optimize(two_objective_curves, n_trials=40)
    pruned = study.get_trials(states=[pipetune.TrialState.PRUNED])
    assert pruned and study.best_trials
    for trial in pruned:
        assert trial.values == trial.intermediate_values[trial.last_step]
        assert trial.last_step in (1, 3, 9, 27)  # decisions are taken at rungs only


@pytest.mark.parametrize("pruner", [SuccessiveHalvingPruner(), HyperbandPruner()])
def test_single_objective_trials_are_pruned_at_rungs_only(pruner, end_to_end):
    study = end_to_end(pruner)
    pruned_steps = {t.last_step for t in study.get_trials(states=[pipetune.TrialState.PRUNED])}
    assert pruned_steps <= {1, 3, 9, 27}
