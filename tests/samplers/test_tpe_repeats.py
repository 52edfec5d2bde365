"""TPESampler on finite search spaces (ints, stepped floats, categoricals): a configuration
already run is not proposed again while one is left.

A user tuning over a grid expects each trial to try something new: a repeated deterministic
training run tells nothing, and under a pruner a repeat of a configuration that passed the
rungs passes them again. Once the whole grid has been run the study still goes on, seeded
studies still repeat exactly, and a space with a continuous param is sampled as before.
"""

from __future__ import annotations

import pytest

import pipetune
from pipetune.distributions import CategoricalDistribution, IntDistribution
from pipetune.samplers import TPESampler
from pipetune.samplers._seen import RunConfigurations

GRID = {"x": IntDistribution(0, 3), "y": IntDistribution(0, 2),
        "kind": CategoricalDistribution(["a", "b"])}  # 4 x 3 x 2 = 24 configurations


def grid_objective(trial) -> float:
    # A sharp optimum at (3, 2, "b"): a model that has found it keeps proposing it.
    x = trial.suggest_int("x", 0, 3)
    y = trial.suggest_int("y", 0, 2)
    kind = trial.suggest_categorical("kind", ["a", "b"])
    return (x - 3) ** 2 + (y - 2) ** 2 + (0.0 if kind == "b" else 5.0)


def configurations(study: pipetune.Study) -> list[tuple]:
    return [(t.params["x"], t.params["y"], t.params["kind"]) for t in study.trials]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_a_grid_of_24_configurations_is_covered_in_24_trials(seed):
    study = pipetune.create_study(sampler=TPESampler(seed=seed, n_startup_trials=0))
    study.optimize(grid_objective, n_trials=24)
    assert len(set(configurations(study))) == 24


@pytest.mark.parametrize("seed", [0, 1])
def test_after_the_random_startup_no_trial_repeats_a_configuration(seed):
    study = pipetune.create_study(sampler=TPESampler(seed=seed, n_startup_trials=5))
    study.optimize(grid_objective, n_trials=20)
    run = configurations(study)
    for number in range(5, 20):
        assert run[number] not in run[:number], number


def test_a_fully_run_grid_still_gets_proposals():
    study = pipetune.create_study(sampler=TPESampler(seed=0, n_startup_trials=0))
    study.optimize(grid_objective, n_trials=34)
    assert len(study.trials) == 34
    assert all(t.state == pipetune.TrialState.COMPLETE for t in study.trials)
    assert len(set(configurations(study))) == 24
    # With every configuration run, TPE goes back to exploiting: the best one comes back.
    assert (3, 2, "b") in configurations(study)[24:]


def test_seeded_grid_studies_repeat_exactly():
    a = pipetune.create_study(sampler=TPESampler(seed=7, n_startup_trials=3))
    b = pipetune.create_study(sampler=TPESampler(seed=7, n_startup_trials=3))
    a.optimize(grid_objective, n_trials=30)
    b.optimize(grid_objective, n_trials=30)
    assert configurations(a) == configurations(b)


def test_running_trials_count_as_run():
    """Trials started and not yet finished (parallel workers, ask without tell) are not
    proposed again either, with or without the constant liar."""
    study = pipetune.create_study(sampler=TPESampler(seed=0, n_startup_trials=0,
                                                     constant_liar=False))
    study.optimize(grid_objective, n_trials=4)
    running = [study.ask(GRID) for _ in range(20)]
    assert all(t.state == pipetune.TrialState.RUNNING for t in study.trials[4:])
    assert len(set(configurations(study))) == 24
    for trial in running:
        study.tell(trial, 1.0)


def test_large_grids_also_avoid_repeats():
    """A grid too large to score whole (41 x 41 x 2 configurations) with a sharp optimum."""
    def objective(trial) -> float:
        x = trial.suggest_int("x", 0, 40)
        y = trial.suggest_int("y", 0, 40)
        kind = trial.suggest_categorical("kind", ["a", "b"])
        return abs(x - 40) + abs(y - 40) + (0 if kind == "a" else 10)

    study = pipetune.create_study(sampler=TPESampler(seed=0, n_startup_trials=0,
                                                     n_ei_candidates=4))
    study.optimize(objective, n_trials=80)
    run = [tuple(sorted(t.params.items())) for t in study.trials]
    assert len(set(run)) == 80


def test_a_continuous_param_leaves_sampling_as_it_was(monkeypatch):
    """With a continuous float the space is not a grid: nothing is filtered, so proposals
    are TPE's usual ones (what ran before is not even looked up)."""
    lookups: list[tuple] = []
    original = RunConfigurations.of

    def counting(self, view, names, exclude_trial_id=None):
        lookups.append(tuple(names))
        return original(self, view, names, exclude_trial_id)

    monkeypatch.setattr(RunConfigurations, "of", counting)

    def objective(trial) -> float:
        x = trial.suggest_float("x", 0.0, 1.0)
        kind = trial.suggest_categorical("kind", ["a", "b"])
        return x + (kind == "b")

    study = pipetune.create_study(sampler=TPESampler(seed=0, n_startup_trials=2))
    study.optimize(objective, n_trials=15)
    assert lookups == []
    study = pipetune.create_study(sampler=TPESampler(seed=0, n_startup_trials=2))
    study.optimize(grid_objective, n_trials=6)
    assert lookups  # the grid study does look them up


def test_stepped_floats_count_as_a_grid():
    def objective(trial) -> float:
        rate = trial.suggest_float("rate", 0.0, 1.0, step=0.25)
        kind = trial.suggest_categorical("kind", ["a", "b", "c"])
        return abs(rate - 0.5) + (kind != "c")

    study = pipetune.create_study(sampler=TPESampler(seed=0, n_startup_trials=0))
    study.optimize(objective, n_trials=15)
    assert len({(t.params["rate"], t.params["kind"]) for t in study.trials}) == 15
