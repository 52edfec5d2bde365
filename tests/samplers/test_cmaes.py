"""CmaEsSampler: converges on a quadratic, handles ints (margin), categoricals (independent
sampler), failures and parallel trials, repeats with a seed, restarts, and refuses what it
cannot do."""

from __future__ import annotations

import math

import numpy as np
import pytest

import pipetune
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
    def sometimes_failing(trial) -> float:
        value = quadratic(trial)
        if trial.number % 7 == 3:
            raise RuntimeError("a failed run")
        return value

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


def test_a_stalled_run_restarts_with_a_larger_population():
    def flat(trial) -> float:
        trial.suggest_float("x", 0, 1)
        trial.suggest_float("y", 0, 1)
        return 1.0

    sampler = CmaEsSampler(seed=0)
    study = pipetune.create_study(sampler=sampler)
    study.optimize(flat, n_trials=40)
    run = next(iter(sampler._runs.values()))
    assert run.restarts >= 1
    assert run.evolution.population > 6


def test_several_objectives_and_bad_arguments_are_refused():
    study = pipetune.create_study(directions=["minimize", "minimize"],
                                  sampler=CmaEsSampler(seed=0))
    with pytest.raises(pipetune.PipetuneError, match="one objective"):
        study.optimize(lambda t: (t.suggest_float("x", 0, 1), 0.0), n_trials=3)
    with pytest.raises(pipetune.PipetuneError, match="sigma0"):
        CmaEsSampler(sigma0=0)
    with pytest.raises(pipetune.PipetuneError, match="population_size"):
        CmaEsSampler(population_size=1)
