"""RandomSampler: seeded reproducibility (also across a resumed study), coverage of the domain."""

from __future__ import annotations

import math

import pipetune
from pipetune.samplers import RandomSampler


def objective(trial):
    x = trial.suggest_float("x", -5, 5)
    lr = trial.suggest_float("lr", 1e-5, 1e-1, log=True)
    n = trial.suggest_int("n", 1, 100, log=True)
    k = trial.suggest_int("k", 0, 30, step=3)
    c = trial.suggest_categorical("c", ["a", "b", "c", 7])
    if c == "a":
        trial.suggest_float("only_a", 0, 1, step=0.1)
    return x**2 + lr + n + k


def _params(study):
    return [t.params for t in study.trials]


def test_same_seed_same_params(storage):
    a = pipetune.create_study(storage=storage, sampler=RandomSampler(seed=7))
    b = pipetune.create_study(storage=pipetune.InMemoryStorage(), sampler=RandomSampler(seed=7))
    a.optimize(objective, n_trials=15)
    b.optimize(objective, n_trials=15)
    assert _params(a) == _params(b)


def test_different_seeds_differ():
    a = pipetune.create_study(sampler=RandomSampler(seed=1))
    b = pipetune.create_study(sampler=RandomSampler(seed=2))
    a.optimize(objective, n_trials=5)
    b.optimize(objective, n_trials=5)
    assert [p["x"] for p in _params(a)] != [p["x"] for p in _params(b)]


def test_unseeded_samplers_differ():
    a = pipetune.create_study()
    b = pipetune.create_study()
    a.optimize(objective, n_trials=3)
    b.optimize(objective, n_trials=3)
    assert _params(a) != _params(b)


def test_seeded_threads_give_the_same_params_per_trial_number():
    serial = pipetune.create_study(sampler=RandomSampler(seed=11))
    threaded = pipetune.create_study(sampler=RandomSampler(seed=11))
    serial.optimize(objective, n_trials=20)
    threaded.optimize(objective, n_trials=20, n_jobs=4)
    assert _params(serial) == _params(threaded)


def test_resumed_study_continues_like_an_uninterrupted_one(sqlite_url):
    url = sqlite_url
    whole = pipetune.create_study(sampler=RandomSampler(seed=42))
    whole.optimize(objective, n_trials=12)

    first = pipetune.create_study(storage=url, study_name="r", sampler=RandomSampler(seed=42))
    first.optimize(objective, n_trials=5)
    del first
    resumed = pipetune.load_study(study_name="r", storage=url, sampler=RandomSampler(seed=42))
    resumed.optimize(objective, n_trials=7)
    assert _params(resumed) == _params(whole)
    assert [t.value for t in resumed.trials] == [t.value for t in whole.trials]


def test_values_cover_the_domain():
    study = pipetune.create_study(sampler=RandomSampler(seed=0))

    def obj(trial):
        trial.suggest_float("u", 0.0, 1.0)
        trial.suggest_float("lr", 1e-4, 1.0, log=True)
        trial.suggest_int("i", 0, 4)
        trial.suggest_int("li", 1, 1000, log=True)
        trial.suggest_categorical("c", [None, True, 1, "1"])
        return 0.0

    study.optimize(obj, n_trials=400)
    params = _params(study)
    u = [p["u"] for p in params]
    assert 0.4 < sum(v < 0.5 for v in u) / len(u) < 0.6
    assert min(u) < 0.02 and max(u) > 0.98
    lr = [p["lr"] for p in params]
    geometric_mean = math.sqrt(1e-4 * 1.0)
    assert 0.4 < sum(v < geometric_mean for v in lr) / len(lr) < 0.6
    assert min(lr) < 2e-4 and max(lr) > 0.5
    assert {p["i"] for p in params} == {0, 1, 2, 3, 4}
    li = [p["li"] for p in params]
    assert 0.35 < sum(v < math.sqrt(1000) for v in li) / len(li) < 0.65
    assert min(li) == 1 and max(li) > 500
    choices = [p["c"] for p in params]
    counts = {repr(c): sum(1 for v in choices if repr(v) == repr(c)) for c in (None, True, 1, "1")}
    assert all(60 < n < 140 for n in counts.values()), counts
