"""QMCSampler: Sobol and Halton run, seeds reproduce, points spread more evenly than random."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import qmc

import pipetune
from pipetune.errors import InvalidArgumentError
from pipetune.samplers import QMCSampler, RandomSampler


def objective(trial):
    x = trial.suggest_float("x", 0.0, 1.0)
    y = trial.suggest_float("y", 0.0, 1.0)
    return (x - 0.3) ** 2 + (y - 0.6) ** 2


def mixed(trial):
    lr = trial.suggest_float("lr", 1e-4, 1e-1, log=True)
    n = trial.suggest_int("n", 1, 9, step=2)
    opt = trial.suggest_categorical("opt", ["adam", "sgd", "rmsprop"])
    if opt == "sgd":
        trial.suggest_float("momentum", 0.0, 0.99)
    return lr * n


def _points(study):
    return np.array([[t.params["x"], t.params["y"]] for t in study.trials])


@pytest.mark.parametrize("qmc_type", ["sobol", "halton"])
def test_runs_in_domain_and_reproduces(qmc_type, sqlite_url):
    a = pipetune.create_study(storage=sqlite_url,
                              sampler=QMCSampler(qmc_type, seed=5))
    b = pipetune.create_study(sampler=QMCSampler(qmc_type, seed=5))
    a.optimize(mixed, n_trials=20)
    b.optimize(mixed, n_trials=20)
    assert [t.params for t in a.trials] == [t.params for t in b.trials]
    for t in a.trials:
        assert 1e-4 <= t.params["lr"] <= 1e-1
        assert t.params["n"] in (1, 3, 5, 7, 9)
        assert ("momentum" in t.params) == (t.params["opt"] == "sgd")
    assert {t.params["opt"] for t in a.trials} == {"adam", "sgd", "rmsprop"}
    assert all(t.state == pipetune.TrialState.COMPLETE for t in a.trials)


def test_different_seeds_differ():
    a = pipetune.create_study(sampler=QMCSampler(seed=1))
    b = pipetune.create_study(sampler=QMCSampler(seed=2))
    a.optimize(objective, n_trials=6)
    b.optimize(objective, n_trials=6)
    assert not np.array_equal(_points(a), _points(b))


@pytest.mark.parametrize("qmc_type", ["sobol", "halton"])
def test_points_are_more_even_than_random(qmc_type):
    """Centred L2 discrepancy of 64 points in 2D: lower for the QMC study than for random
    search, for each of a few seeds."""
    for seed in range(3):
        quasi = pipetune.create_study(sampler=QMCSampler(qmc_type, seed=seed))
        rand = pipetune.create_study(sampler=RandomSampler(seed=seed))
        quasi.optimize(objective, n_trials=64)
        rand.optimize(objective, n_trials=64)
        q, r = _points(quasi), _points(rand)
        assert len(np.unique(q, axis=0)) == 64
        assert qmc.discrepancy(q) < qmc.discrepancy(r)


def test_parallel_threads_use_distinct_points():
    study = pipetune.create_study(sampler=QMCSampler(seed=0))
    study.optimize(objective, n_trials=1)
    study.optimize(objective, n_trials=32, n_jobs=4)
    points = _points(study)
    assert len(np.unique(points, axis=0)) == 33


@pytest.mark.parametrize("qmc_type", ["random", "lhs", "", None, "Sobol"])
def test_bad_qmc_type(qmc_type):
    with pytest.raises(InvalidArgumentError, match="'qmc_type'"):
        QMCSampler(qmc_type)


def test_an_unseeded_scrambled_sequence_warns_that_workers_will_differ(caplog):
    QMCSampler(seed=1)
    QMCSampler(scramble=False)
    QMCSampler(warn_asynchronous_seeding=False)
    assert "seed" not in caplog.text
    QMCSampler()
    assert "no seed" in caplog.text


def test_trials_asked_before_any_completes_join_the_sequence():
    """A trial started while the first one still runs takes its point of the sequence for the
    params the running one has (unscrambled Sobol: point 1 is the centre)."""
    study = pipetune.create_study(sampler=QMCSampler(scramble=False))
    first = study.ask()
    first.suggest_float("x", 0.0, 1.0)
    first.suggest_float("y", 0.0, 1.0)
    second = study.ask()
    assert (second.suggest_float("x", 0.0, 1.0), second.suggest_float("y", 0.0, 1.0)) == (0.5, 0.5)
