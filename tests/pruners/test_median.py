"""MedianPruner and PercentilePruner: the median stopping rule on hand-built histories."""

from __future__ import annotations

import math

import numpy as np
import pytest

from pipetune.errors import InvalidArgumentError
from pipetune.pruners import MedianPruner, PercentilePruner
from pipetune.pruners.percentile import percentile_of_sorted


def finished(history, values_by_trial):
    return [history.trial(i, values) for i, values in enumerate(values_by_trial)]


def running(history, number, values):
    return history.trial(number, values, state="RUNNING")


# Five finished trials: at every step their running bests are 1, 2, 3, 4, 5 (median 3).
FLAT = [[v] * 10 for v in (1.0, 2.0, 3.0, 4.0, 5.0)]


def test_prunes_a_trial_worse_than_the_median_and_keeps_a_better_one(history):
    trials = finished(history, FLAT)
    pruner = MedianPruner(n_startup_trials=5)
    worse = running(history, 5, [3.5] * 4)
    better = running(history, 6, [2.5] * 4)
    equal = running(history, 7, [3.0] * 4)
    view = history.view(trials + [worse, better, equal])
    assert pruner.prune(view, worse)
    assert not pruner.prune(view, better)
    assert not pruner.prune(view, equal)  # only strictly worse is pruned


def test_the_trial_is_judged_by_its_best_value_so_far(history):
    trials = finished(history, FLAT)
    # Latest value 4 is worse than the median, but it reached 1 earlier.
    dipped = running(history, 5, [9.0, 1.0, 4.0])
    assert not MedianPruner().prune(history.view(trials + [dipped]), dipped)


def test_other_trials_count_with_their_running_best_up_to_the_step(history):
    # Each reaches 1.0 at step 0 and then gets worse; at step 2 their running best is still 1.
    trials = finished(history, [[1.0, 8.0, 9.0]] * 5)
    candidate = running(history, 5, [2.0, 2.0, 2.0])
    assert MedianPruner().prune(history.view(trials + [candidate]), candidate)
    # Steps after the one being judged do not count: at step 0 these trials had only 5.0.
    late = finished(history, [[5.0, 0.0, 0.0]] * 5)
    early = running(history, 5, [2.0])
    assert not MedianPruner().prune(history.view(late + [early]), early)


def test_n_startup_trials_counts_complete_and_pruned_but_not_failed(history):
    trials = finished(history, FLAT[:4])
    bad = running(history, 9, [100.0])
    assert not MedianPruner(n_startup_trials=5).prune(history.view(trials + [bad]), bad)
    failed = history.trial(4, [0.0], state="FAIL")
    assert not MedianPruner(n_startup_trials=5).prune(history.view(trials + [failed, bad]), bad)
    pruned = history.trial(4, [0.0], state="PRUNED")
    assert MedianPruner(n_startup_trials=5).prune(history.view(trials + [pruned, bad]), bad)


def test_warmup_steps_and_interval_grid(history):
    trials = finished(history, FLAT)
    pruner = MedianPruner(n_warmup_steps=2, interval_steps=3)
    verdicts = {}
    for last in range(10):
        trial = running(history, 5, [100.0] * (last + 1))
        verdicts[last] = pruner.prune(history.view(trials + [trial]), trial)
    # Prunable at steps 2, 5, 8 only: nothing before warm-up ends, then every third step.
    assert [s for s, pruned in verdicts.items() if pruned] == [2, 5, 8]


def test_a_trial_reporting_sparsely_is_judged_at_its_first_report_in_each_interval(history):
    trials = finished(history, [[1.0] * 30] * 5)
    pruner = MedianPruner(n_warmup_steps=2, interval_steps=3)
    verdicts = {}
    for last in (0, 10, 20, 21, 29):  # reports at steps 0, 10, 20, 21, 29
        steps = [s for s in (0, 10, 20, 21, 29) if s <= last]
        trial = running(history, 5, {s: 100.0 for s in steps})
        verdicts[last] = pruner.prune(history.view(trials + [trial]), trial)
    # 0: warm-up; 10, 20 and 29 open the intervals [8, 11), [20, 23), [29, 32); 21 does not.
    assert verdicts == {0: False, 10: True, 20: True, 21: False, 29: True}


def test_no_pruning_with_fewer_than_n_min_trials_at_the_step(history):
    trials = finished(history, [[1.0] * 10] * 5) + [history.trial(5, [1.0] * 20),
                                                   history.trial(6, [1.0] * 20)]
    candidate = running(history, 7, [5.0] * 15)  # step 14: only trials 5 and 6 reported it
    view = history.view(trials + [candidate])
    assert MedianPruner(n_min_trials=2).prune(view, candidate)
    assert not MedianPruner(n_min_trials=3).prune(view, candidate)


def test_maximize_flips_the_comparison(history):
    trials = finished(history, FLAT)
    low = running(history, 5, [2.5] * 3)
    high = running(history, 6, [3.5] * 3)
    view = history.view(trials + [low, high], directions=["maximize"])
    assert MedianPruner().prune(view, low)
    assert not MedianPruner().prune(view, high)


def test_percentile_keeps_the_given_share(history):
    trials = finished(history, [[float(v)] * 5 for v in range(1, 10)])  # 1..9
    candidate = running(history, 9, [3.5] * 5)
    view = history.view(trials + [candidate])
    assert PercentilePruner(25).prune(view, candidate)  # 25th percentile is 3
    assert not PercentilePruner(50).prune(view, candidate)  # median is 5
    assert PercentilePruner(0).prune(view, candidate)  # must beat the best
    assert not PercentilePruner(100).prune(view, running(history, 9, [9.0] * 5))
    interpolated = running(history, 9, [3.1] * 5)  # 30th percentile: 3.4
    assert not PercentilePruner(30).prune(history.view(trials + [interpolated]), interpolated)


def test_a_latest_nan_is_pruned_at_once(history):
    trial = running(history, 0, [1.0, math.nan])
    view = history.view([trial])
    # No finished trial at all, and still inside the warm-up: NaN does not come back.
    assert MedianPruner(n_warmup_steps=10).prune(view, trial)
    assert PercentilePruner(90, n_startup_trials=100).prune(view, trial)


def test_nan_values_of_other_trials_are_skipped(history):
    trials = finished(history, FLAT)
    nan_trials = [history.trial(n, [math.nan] * 10) for n in range(5, 25)]
    candidate = running(history, 30, [3.5, math.nan, 3.5])  # an earlier NaN of its own is skipped
    view = history.view(trials + nan_trials + [candidate])
    assert MedianPruner().prune(view, candidate)
    assert not MedianPruner().prune(view, running(history, 30, [2.5] * 3))


def test_infinities_are_ordinary_values(history):
    trials = finished(history, [[math.inf] * 3] * 3 + [[1.0] * 3] * 2)
    candidate = running(history, 5, [2.0] * 3)  # median is inf: better than that
    view = history.view(trials + [candidate])
    assert not MedianPruner().prune(view, candidate)
    awful = running(history, 5, [math.inf] * 3)
    trials = finished(history, FLAT)
    assert MedianPruner().prune(history.view(trials + [awful]), awful)


def test_no_reports_no_pruning(history):
    trial = running(history, 5, [])
    assert not MedianPruner().prune(history.view(finished(history, FLAT) + [trial]), trial)


def test_several_objectives_are_refused_with_the_alternative(history):
    trial = running(history, 0, {0: (1.0, 2.0)})
    view = history.view([trial], directions=["minimize", "maximize"])
    with pytest.raises(InvalidArgumentError, match="SuccessiveHalvingPruner"):
        MedianPruner().prune(view, trial)


@pytest.mark.parametrize("kwargs, name", [
    ({"percentile": -1}, "percentile"), ({"percentile": 100.5}, "percentile"),
    ({"percentile": "50"}, "percentile"), ({"percentile": math.nan}, "percentile"),
    ({"percentile": 50, "n_startup_trials": -1}, "n_startup_trials"),
    ({"percentile": 50, "n_warmup_steps": 1.5}, "n_warmup_steps"),
    ({"percentile": 50, "interval_steps": 0}, "interval_steps"),
    ({"percentile": 50, "n_min_trials": 0}, "n_min_trials"),
])
def test_bad_arguments_are_named(kwargs, name):
    with pytest.raises(InvalidArgumentError, match=f"'{name}'"):
        PercentilePruner(**kwargs)


def test_the_index_follows_a_growing_history(history):
    """One pruner asked repeatedly about one study as it grows answers like a fresh one."""
    pruner = MedianPruner(n_startup_trials=2)
    trials = []
    for number, level in enumerate([5.0, 1.0, 4.0, 2.0, 3.0, 0.5, 6.0]):
        candidate = running(history, number, [level] * 4)
        view = history.view(trials + [candidate])
        assert pruner.prune(view, candidate) == MedianPruner(n_startup_trials=2).prune(
            view, candidate)
        trials.append(history.trial(number, [level] * 4))


@pytest.mark.parametrize("pruner", [MedianPruner(), PercentilePruner(25, n_warmup_steps=3)])
def test_end_to_end_prunes_bad_curves_and_keeps_the_best(pruner, end_to_end):
    end_to_end(pruner)


def test_percentile_interpolates_like_numpy_and_lets_infinities_win():
    rng = np.random.default_rng(0)
    for size in (1, 2, 5, 40):
        values = sorted(rng.normal(size=size).tolist())
        for q in (0, 12.5, 50, 77, 100):
            assert percentile_of_sorted(values, q) == pytest.approx(np.percentile(values, q))
    assert percentile_of_sorted([-math.inf, 5.0], 50) == -math.inf
    assert percentile_of_sorted([1.0, math.inf], 50) == math.inf
    assert percentile_of_sorted([1.0, math.inf], 0) == 1.0
