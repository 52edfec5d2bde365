"""CmaEsSampler: converges on a quadratic, handles ints (margin), categoricals (independent
sampler), failures and parallel trials, repeats with a seed, restarts, continues a resumed
study exactly, runs one evolution for workers sharing a study, and refuses what it cannot
do."""

from __future__ import annotations

import math
import threading

import numpy as np
import pytest

import pipetune
from pipetune._attrs import CMAES_ATTR
from pipetune.samplers import CmaEsSampler, RandomSampler
from pipetune.samplers.cmaes import _Evolution


def quadratic(trial) -> float:
    xs = [trial.suggest_float(f"x{i}", -5, 5) for i in range(3)]
    return sum((x - 1.0) ** 2 for x in xs)


def test_converges_on_a_quadratic():
    study = pipetune.create_study(sampler=CmaEsSampler(seed=0))
    study.optimize(quadratic, n_trials=200)
    assert study.best_value < 1e-3
    assert all(abs(v - 1.0) < 0.05 for v in study.best_params.values())


def test_evolution_alone_converges_and_shrinks_its_step():
    rng = np.random.default_rng(0)
    evolution = _Evolution(np.full(4, 0.5), 0.2, 8, [None] * 4)
    for _ in range(120):
        points = np.array([evolution.ask(rng) for _ in range(evolution.population)])
        evolution.tell(points, np.sum((points - 0.3) ** 2, axis=1))
    assert np.allclose(evolution.mean, 0.3, atol=1e-4)
    assert evolution.sigma < 0.01


def test_integers_keep_moving_and_reach_their_optimum():
    def objective(trial) -> float:
        k = trial.suggest_int("k", -20, 20)
        j = trial.suggest_int("j", 1, 1000, log=True)
        x = trial.suggest_float("x", -3, 3)
        return (k - 7) ** 2 + (math.log(j) - math.log(50)) ** 2 + x ** 2

    study = pipetune.create_study(sampler=CmaEsSampler(seed=1))
    study.optimize(objective, n_trials=250)
    assert study.best_params["k"] == 7
    assert 35 <= study.best_params["j"] <= 70
    assert all(isinstance(t.params["k"], int) for t in study.trials)


def test_categorical_params_come_from_the_independent_sampler():
    def objective(trial) -> float:
        x = trial.suggest_float("x", -2, 2)
        kind = trial.suggest_categorical("kind", ["a", "b"])
        return x ** 2 + (0.5 if kind == "b" else 0.0)

    study = pipetune.create_study(sampler=CmaEsSampler(seed=0,
                                                       independent_sampler=RandomSampler(seed=0)))
    study.optimize(objective, n_trials=60)
    kinds = {t.params["kind"] for t in study.trials}
    assert kinds == {"a", "b"}
    assert abs(study.best_params["x"]) < 0.2


def test_same_seed_repeats_and_failures_do_not_stall_it():
    runs = []
    for _ in range(2):
        study = pipetune.create_study(sampler=CmaEsSampler(seed=5))
        study.optimize(sometimes_failing, n_trials=60, catch=(RuntimeError,))
        runs.append([t.params for t in study.trials])
        assert study.best_value < 1.0
    assert runs[0] == runs[1]


def test_parallel_trials_all_get_params():
    study = pipetune.create_study(sampler=CmaEsSampler(seed=0))
    study.optimize(quadratic, n_trials=40, n_jobs=3)
    assert len(study.trials) == 40
    assert all(t.state == pipetune.TrialState.COMPLETE for t in study.trials)
    slots = _slots(study)
    assert len(set(slots)) == len(slots)  # no draw handed out twice


def test_a_stalled_run_restarts_with_a_larger_population():
    def flat(trial) -> float:
        trial.suggest_float("x", 0, 1)
        trial.suggest_float("y", 0, 1)
        return 1.0

    study = pipetune.create_study(sampler=CmaEsSampler(seed=0))
    study.optimize(flat, n_trials=40)
    draws = _draws(study)
    assert max(d["restart"] for d in draws) >= 1
    first_restart = [d["index"] for d in draws if d["restart"] == 1]
    assert max(first_restart) + 1 > 6  # the first run's population: 4 + 3 ln 2 = 6


def _draws(study: pipetune.Study) -> list[dict]:
    return [t.system_attrs[CMAES_ATTR] for t in study.trials if CMAES_ATTR in t.system_attrs]


def _slots(study: pipetune.Study) -> list[tuple[int, int, int]]:
    return [(d["restart"], d["generation"], d["index"]) for d in _draws(study)
            if d["index"] is not None]


def sometimes_failing(trial) -> float:
    value = quadratic(trial)
    if trial.number % 7 == 3:
        raise RuntimeError("a failed run")
    return value


def flat(trial) -> float:
    trial.suggest_float("x", 0, 1)
    trial.suggest_int("k", 0, 10)
    return 1.0


@pytest.mark.parametrize("objective", [sometimes_failing, flat], ids=["failures", "restarts"])
def test_study_resumed_with_a_new_sampler_continues_like_an_uninterrupted_one(
        sqlite_url: str, objective):
    whole = pipetune.create_study(sampler=CmaEsSampler(seed=4))
    whole.optimize(objective, n_trials=70, catch=(RuntimeError,))

    first = pipetune.create_study(storage=sqlite_url, study_name="resume",
                                  sampler=CmaEsSampler(seed=4))
    first.optimize(objective, n_trials=23, catch=(RuntimeError,))  # mid-generation
    resumed = pipetune.load_study(study_name="resume", storage=sqlite_url,
                                  sampler=CmaEsSampler(seed=4))
    resumed.optimize(objective, n_trials=47, catch=(RuntimeError,))

    assert [t.params for t in resumed.trials] == [t.params for t in whole.trials]
    assert _draws(resumed) == _draws(whole)
    if objective is flat:
        assert max(d["restart"] for d in _draws(resumed)) >= 1


def _as_worker(name: str):
    def objective(trial) -> float:
        trial.set_user_attr("worker", name)
        return quadratic(trial)
    return objective


def test_two_workers_sharing_a_study_run_one_evolution(sqlite_url: str):
    alone = pipetune.create_study(sampler=CmaEsSampler(seed=2))
    alone.optimize(quadratic, n_trials=60)

    pipetune.create_study(storage=sqlite_url, study_name="shared")
    # The second worker has no seed: it continues the evolution the first one started with
    # the first draw (trial 1; trial 0 comes from the independent sampler).
    workers = [pipetune.load_study(study_name="shared", storage=sqlite_url,
                                   sampler=CmaEsSampler(seed=seed)) for seed in (2, None)]
    for number in range(60):
        worker = (number + 1) % 2
        workers[worker].optimize(_as_worker(f"w{worker}"), n_trials=1)

    shared = workers[0]
    slots = _slots(shared)
    assert len(slots) == 59 and len(set(slots)) == len(slots)  # trial 0 precedes the space
    by_worker = {"w0": set(), "w1": set()}
    for t in shared.trials[1:]:
        by_worker[t.user_attrs["worker"]].add(t.system_attrs[CMAES_ATTR]["generation"])
    assert max(by_worker["w0"]) >= 5 and max(by_worker["w1"]) >= 5
    assert [t.params for t in shared.trials[1:]] == [t.params for t in alone.trials[1:]]


def test_several_objectives_and_bad_arguments_are_refused():
    study = pipetune.create_study(directions=["minimize", "minimize"],
                                  sampler=CmaEsSampler(seed=0))
    with pytest.raises(pipetune.PipetuneError, match="one objective"):
        study.optimize(lambda t: (t.suggest_float("x", 0, 1), 0.0), n_trials=3)
    with pytest.raises(pipetune.PipetuneError, match="sigma0"):
        CmaEsSampler(sigma0=0)
    with pytest.raises(pipetune.PipetuneError, match="population_size"):
        CmaEsSampler(population_size=1)


def separable(trial) -> float:
    return sum((i + 1) * (trial.suggest_float(f"x{i}", -5, 5) - 1.0) ** 2 for i in range(8))


def test_separable_cma_beats_the_full_covariance_on_a_separable_problem():
    best = {}
    for diagonal in (False, True):
        study = pipetune.create_study(sampler=CmaEsSampler(seed=0, use_separable_cma=diagonal))
        study.optimize(separable, n_trials=300)
        best[diagonal] = study.best_value
    assert best[True] < 0.5 * best[False]


def test_optuna_keywords_set_the_start_and_the_population():
    sampler = CmaEsSampler(seed=0, n_startup_trials=3, x0={"x0": 4.0}, popsize=5,
                           sigma0=0.01, restart_strategy="ipop", inc_popsize=3)
    study = pipetune.create_study(sampler=sampler)
    study.optimize(quadratic, n_trials=8)
    records = [t.system_attrs.get(CMAES_ATTR) for t in study.trials]
    assert records[:3] == [None] * 3  # the start-up trials are independent draws
    assert [r["index"] for r in records[3:]] == [0, 1, 2, 3, 4]  # a population of 5
    # A small step around x0: the evolution starts where it was told to.
    assert all(abs(t.params["x0"] - 4.0) < 0.5 for t in study.trials[3:])


def test_pruned_draws_rank_by_their_last_value_when_asked():
    def objective(trial) -> float:
        value = quadratic(trial)
        trial.report(value, 0)
        if trial.number % 2:
            raise pipetune.TrialPruned()
        return value

    study = pipetune.create_study(sampler=CmaEsSampler(seed=0, consider_pruned_trials=True))
    study.optimize(objective, n_trials=150)
    assert study.best_value < 0.05


@pytest.mark.parametrize("kwargs, message", [
    ({"lr_adapt": True}, "lr_adapt"), ({"source_trials": []}, "source_trials"),
    ({"restart_strategy": "bipop"}, "restart_strategy"), ({"inc_popsize": 0}, "inc_popsize"),
    ({"population_size": 4, "popsize": 6}, "popsize"), ({"n_startup_trials": -1}, "n_startup"),
])
def test_unsupported_and_bad_optuna_keywords_are_refused(kwargs, message):
    with pytest.raises(pipetune.PipetuneError, match=message):
        CmaEsSampler(**kwargs)


def test_x0_outside_the_domain_is_refused():
    study = pipetune.create_study(sampler=CmaEsSampler(x0={"x0": 7.0}))
    with pytest.raises(pipetune.PipetuneError, match="x0"):
        study.optimize(quadratic, n_trials=2)


def test_concurrent_workers_never_get_the_same_draw(sqlite_url: str):
    pipetune.create_study(storage=sqlite_url, study_name="concurrent")
    workers = [pipetune.load_study(study_name="concurrent", storage=sqlite_url,
                                   sampler=CmaEsSampler(seed=seed)) for seed in (1, 2)]
    threads = [threading.Thread(target=w.optimize, args=(quadratic,), kwargs={"n_trials": 25})
               for w in workers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    study = pipetune.load_study(study_name="concurrent", storage=sqlite_url)
    assert len(study.trials) == 50
    assert all(t.state == pipetune.TrialState.COMPLETE for t in study.trials)
    slots = _slots(study)
    assert len(set(slots)) == len(slots)
    assert max(generation for _, generation, _ in slots) >= 2
