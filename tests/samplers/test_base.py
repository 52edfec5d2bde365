"""What every sampler inherits: ``reseed_rng``."""

from __future__ import annotations

import pytest

import pipetune
from pipetune.samplers import (
    AutoSampler,
    BaseSampler,
    NSGAIISampler,
    PartialFixedSampler,
    QMCSampler,
    RandomSampler,
    TPESampler,
)


def params(sampler: BaseSampler, n_trials: int = 12) -> list[dict]:
    study = pipetune.create_study(sampler=sampler)
    study.optimize(lambda t: t.suggest_float("x", 0, 1) + t.suggest_int("n", 0, 9),
                   n_trials=n_trials)
    return [t.params for t in study.trials]


@pytest.mark.parametrize("make", [
    lambda: RandomSampler(seed=1), lambda: TPESampler(seed=1, n_startup_trials=4),
    lambda: AutoSampler(seed=1), lambda: NSGAIISampler(seed=1, population_size=4),
    lambda: PartialFixedSampler({"n": 3}, RandomSampler(seed=1))])
def test_reseeding_a_seeded_sampler_changes_its_draws(make):
    reseeded = make()
    reseeded.reseed_rng()
    assert params(reseeded, 4) != params(make(), 4)


def test_reseeding_keeps_the_qmc_sequence_that_workers_share():
    reseeded = QMCSampler(seed=1)
    reseeded.reseed_rng()
    assert params(reseeded)[1:] == params(QMCSampler(seed=1))[1:]  # trial 0 is random
