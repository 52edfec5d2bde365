"""NSGAIISampler and NSGAIIISampler: generations shared by workers, progress towards the Pareto
front, every crossover and mutation, constraints."""

from __future__ import annotations

import collections
import math

import numpy as np
import pytest

import pipetune
from pipetune._hypervolume import hypervolume
from pipetune.datatypes import TrialState
from pipetune.errors import InvalidArgumentError
from pipetune.samplers import NSGAIIISampler, NSGAIISampler, RandomSampler
from pipetune.samplers.nsgaii import (
    BaseCrossover,
    BLXAlphaCrossover,
    PolynomialMutation,
    SBXCrossover,
    SPXCrossover,
    UNDXCrossover,
    UniformCrossover,
    VSBXCrossover,
)
from pipetune.samplers.nsgaiii import das_dennis_points

GENERATION = "NSGAIISampler:generation"


def zdt1(trial: pipetune.Trial) -> tuple[float, float]:
    """ZDT1 (Zitzler, Deb & Thiele 2000) over 5 params: the Pareto front is f2 = 1 - sqrt(f1)."""
    x = np.array([trial.suggest_float(f"x{i}", 0.0, 1.0) for i in range(5)])
    f1 = float(x[0])
    g = 1.0 + 9.0 * float(x[1:].mean())
    return f1, g * (1.0 - math.sqrt(f1 / g))


def front_hypervolume(study: pipetune.Study) -> float:
    points = np.array([t.values for t in study.best_trials])
    return hypervolume(points[np.all(points < 11.0, axis=1)], np.array([11.0, 11.0]))


def test_each_generation_holds_population_size_trials():
    study = pipetune.create_study(directions=["minimize"],
                                  sampler=NSGAIISampler(population_size=10, seed=0))
    study.optimize(lambda t: t.suggest_float("x", 0, 9), n_trials=40)
    generations = collections.Counter(t.system_attrs[GENERATION] for t in study.trials)
    assert generations == {0: 10, 1: 10, 2: 10, 3: 10}


def test_workers_sharing_a_storage_fill_each_generation_once():
    """Two processes' samplers (here two study handles with a sampler each) take turns, and
    threads run in parallel: every generation still gets population_size trials."""
    storage = pipetune.InMemoryStorage()
    first = pipetune.create_study(study_name="s", storage=storage,
                                  directions=["minimize", "minimize"],
                                  sampler=NSGAIISampler(population_size=6, seed=1))
    second = pipetune.load_study(study_name="s", storage=storage,
                                 sampler=NSGAIISampler(population_size=6, seed=2))
    for _ in range(3):
        first.optimize(zdt1, n_trials=5, n_jobs=2)
        second.optimize(zdt1, n_trials=5, n_jobs=2)
    generations = collections.Counter(t.system_attrs[GENERATION] for t in first.trials)
    assert sorted(generations.values()) == [6] * 5
    assert set(generations) == set(range(5))


def test_nsga2_gets_closer_to_the_zdt1_front_than_random_search():
    budget = 300
    results = {}
    for name, sampler in (("random", RandomSampler(seed=3)),
                          ("nsga2", NSGAIISampler(population_size=20, seed=3))):
        study = pipetune.create_study(directions=["minimize", "minimize"], sampler=sampler)
        study.optimize(zdt1, n_trials=budget)
        results[name] = front_hypervolume(study)
    assert results["nsga2"] > results["random"] + 1.0


@pytest.mark.parametrize("crossover", [
    UniformCrossover(), BLXAlphaCrossover(), SPXCrossover(), SBXCrossover(), VSBXCrossover(),
    UNDXCrossover()], ids=str)
def test_every_crossover_keeps_children_in_their_domain_and_makes_progress(
        crossover: BaseCrossover):
    def objective(trial: pipetune.Trial) -> float:
        x = trial.suggest_float("x", 1e-3, 10.0, log=True)
        n = trial.suggest_int("n", -4, 4)
        s = trial.suggest_float("s", 0.0, 1.0, step=0.25)
        c = trial.suggest_categorical("c", ["a", "b"])
        return (math.log10(x) + 1) ** 2 + n * n + s + (0.0 if c == "a" else 1.0)

    sampler = NSGAIISampler(population_size=8, seed=4, crossover=crossover,
                            mutation=PolynomialMutation())
    study = pipetune.create_study(sampler=sampler)  # one objective works too
    study.optimize(objective, n_trials=64)
    for trial in study.trials:
        assert 1e-3 <= trial.params["x"] <= 10.0 and trial.params["n"] in range(-4, 5)
        assert trial.params["s"] in (0.0, 0.25, 0.5, 0.75, 1.0)
    first = [t.values[0] for t in study.trials if t.system_attrs[GENERATION] == 0]
    last = [t.values[0] for t in study.trials if t.system_attrs[GENERATION] == 7]
    assert np.median(last) < np.median(first)


def test_a_seed_repeats_the_evolution():
    def run() -> list[dict]:
        study = pipetune.create_study(directions=["minimize", "minimize"],
                                      sampler=NSGAIISampler(population_size=5, seed=7))
        study.optimize(zdt1, n_trials=20)
        return [t.params for t in study.trials]

    assert run() == run()


def test_constraints_are_recorded_and_feasible_trials_are_preferred():
    calls = []

    def constraints(trial: pipetune.FrozenTrial) -> list[float]:
        calls.append(trial.number)
        return [trial.params["x0"] - 0.2]  # feasible: x0 <= 0.2

    study = pipetune.create_study(
        directions=["minimize", "minimize"],
        sampler=NSGAIISampler(population_size=10, seed=5, constraints_func=constraints))
    study.optimize(zdt1, n_trials=100)
    assert calls == list(range(100))  # once per trial
    for trial in study.trials:
        assert trial.constraints == {"0": pytest.approx(trial.params["x0"] - 0.2)}
    feasible = [t.params["x0"] <= 0.2 for t in study.trials]
    assert sum(feasible[-30:]) > 2 * sum(feasible[:30])


def test_set_constraint_in_the_objective_works_like_constraints_func():
    def objective(trial: pipetune.Trial) -> tuple[float, float]:
        values = zdt1(trial)
        trial.set_constraint("x0", trial.params["x0"] - 0.2)
        return values

    study = pipetune.create_study(directions=["minimize", "minimize"],
                                  sampler=NSGAIISampler(population_size=10, seed=5))
    study.optimize(objective, n_trials=100)
    feasible = [t.params["x0"] <= 0.2 for t in study.trials]
    assert sum(feasible[-30:]) > 2 * sum(feasible[:30])


def test_a_nan_constraint_is_an_error():
    study = pipetune.create_study(
        directions=["minimize", "minimize"],
        sampler=NSGAIISampler(population_size=2, constraints_func=lambda t: [math.nan]))
    with pytest.raises(InvalidArgumentError, match="NaN"):
        study.optimize(zdt1, n_trials=3)


def test_strategies_replace_the_defaults():
    seen = []

    def select(view, population):
        seen.append(len(population))
        return population[:2]

    def generate(view, space, parents):
        return {name: parents[0].params[name] for name in space}

    study = pipetune.create_study(
        directions=["minimize", "minimize"],
        sampler=NSGAIISampler(population_size=4, seed=0,
                              elite_population_selection_strategy=select,
                              child_generation_strategy=generate,
                              after_trial_strategy=lambda *args: {"seen": True}))
    study.optimize(zdt1, n_trials=8)
    assert seen and all(t.system_attrs["seen"] for t in study.trials)
    children = study.trials[4:]
    assert len({tuple(sorted(t.params.items())) for t in children}) == 1  # all copy one parent


@pytest.mark.parametrize("arguments, message", [
    ({"population_size": 1}, "population_size"),
    ({"population_size": 2, "crossover": SPXCrossover()}, "number of parents"),
    ({"mutation_prob": 1.5}, "mutation_prob"),
    ({"crossover_prob": -0.1}, "crossover_prob"),
    ({"swapping_prob": 2}, "swapping_prob"),
    ({"crossover": "sbx"}, "crossover"),
    ({"constraints_func": 3}, "constraints_func"),
])
def test_bad_arguments_name_themselves(arguments, message):
    with pytest.raises(InvalidArgumentError, match=message):
        NSGAIISampler(**arguments)


def test_crossover_arguments_are_checked():
    with pytest.raises(InvalidArgumentError, match="swapping_prob"):
        UniformCrossover(swapping_prob=1.1)
    with pytest.raises(InvalidArgumentError, match="use_child_gene_prob"):
        SBXCrossover(use_child_gene_prob=0.0)
    with pytest.raises(InvalidArgumentError, match="eta"):
        PolynomialMutation(eta=-1)


def test_das_dennis_points_cover_the_simplex():
    points = das_dennis_points(3, 4)
    assert len(points) == math.comb(3 + 4 - 1, 4)
    assert np.allclose(points.sum(axis=1), 1.0)
    assert len({tuple(p) for p in points}) == len(points)


def dtlz2(trial: pipetune.Trial) -> tuple[float, float, float]:
    """DTLZ2 (Deb et al. 2002) with 3 objectives over 6 params: the Pareto front is the unit
    sphere's positive octant, reached when the last 4 params are 0.5 (distance g = 0)."""
    x = [trial.suggest_float(f"x{i}", 0.0, 1.0) for i in range(6)]
    g = sum((v - 0.5) ** 2 for v in x[2:])
    a, b = x[0] * math.pi / 2, x[1] * math.pi / 2
    return ((1 + g) * math.cos(a) * math.cos(b), (1 + g) * math.cos(a) * math.sin(b),
            (1 + g) * math.sin(a))


def test_nsga3_gets_closer_to_the_dtlz2_front_than_random_search():
    distances = {}
    for name, sampler in (("random", RandomSampler(seed=6)),
                          ("nsga3", NSGAIIISampler(population_size=20, seed=6))):
        study = pipetune.create_study(directions=["minimize"] * 3, sampler=sampler)
        study.optimize(dtlz2, n_trials=300)
        last = [np.linalg.norm(t.values) - 1.0 for t in study.trials[-60:]]
        distances[name] = float(np.median(last))
    assert distances["nsga3"] < distances["random"] / 2


def test_nsga3_takes_reference_points_and_checks_them():
    points = [[1.0, 0.0], [0.5, 0.5], [0.0, 1.0]]
    study = pipetune.create_study(directions=["minimize", "minimize"], sampler=NSGAIIISampler(
        population_size=6, seed=0, reference_points=points))
    study.optimize(zdt1, n_trials=30)
    assert all(t.state == TrialState.COMPLETE for t in study.trials)
    assert all("NSGAIIISampler:generation" in t.system_attrs for t in study.trials)
    three = pipetune.create_study(directions=["minimize"] * 3, sampler=NSGAIIISampler(
        population_size=4, seed=0, reference_points=points))
    with pytest.raises(InvalidArgumentError, match="one coordinate per objective"):
        three.optimize(dtlz2, n_trials=12)
    with pytest.raises(InvalidArgumentError, match="reference_points"):
        NSGAIIISampler(reference_points=[[math.nan, 1.0]])
