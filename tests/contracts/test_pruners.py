"""Runs the pruner contract (``pipetune.testing.pruners``) over every pruner, with settings
that make them prune within the contract's 12-step curves."""

from __future__ import annotations

import inspect

import pytest

import pipetune.pruners
from pipetune.pruners import (
    BasePruner,
    HyperbandPruner,
    MedianPruner,
    NopPruner,
    PatientPruner,
    PercentilePruner,
    SuccessiveHalvingPruner,
    ThresholdPruner,
    WilcoxonPruner,
)
from pipetune.testing.pruners import LAST_STEP, PrunerContract


class TestNopPruner(PrunerContract):
    prunes = False
    prunes_latest_nan = False
    multi_objective = True

    @pytest.fixture
    def make_pruner(self):
        return NopPruner


class TestMedianPruner(PrunerContract):
    warmup_steps = 2
    startup_trials = 3

    @pytest.fixture
    def make_pruner(self):
        return lambda: MedianPruner(n_startup_trials=3, n_warmup_steps=2)


class TestPercentilePruner(PrunerContract):
    warmup_steps = 2
    startup_trials = 3

    @pytest.fixture
    def make_pruner(self):
        return lambda: PercentilePruner(25.0, n_startup_trials=3, n_warmup_steps=2)


class TestSuccessiveHalvingPruner(PrunerContract):
    warmup_steps = 2  # the first rung
    multi_objective = True

    @pytest.fixture
    def make_pruner(self):
        return lambda: SuccessiveHalvingPruner(min_resource=2, reduction_factor=2)


class TestAutoSuccessiveHalvingPruner(PrunerContract):
    warmup_steps = 1  # "auto": 1 for a first complete trial of 12 steps
    multi_objective = True

    @pytest.fixture
    def make_pruner(self):
        return SuccessiveHalvingPruner


class TestHyperbandPruner(PrunerContract):
    warmup_steps = 2  # the first rung of the most aggressive bracket
    multi_objective = True

    @pytest.fixture
    def make_pruner(self):
        return lambda: HyperbandPruner(min_resource=2, max_resource=LAST_STEP, reduction_factor=2)


class TestAutoHyperbandPruner(PrunerContract):
    warmup_steps = 1
    multi_objective = True

    @pytest.fixture
    def make_pruner(self):
        return HyperbandPruner


class TestPatientPruner(PrunerContract):
    warmup_steps = 3  # patience 2: four reports (steps 0 to 3) before a trial can stagnate
    startup_trials = 3

    @pytest.fixture
    def make_pruner(self):
        return lambda: PatientPruner(MedianPruner(n_startup_trials=3, n_warmup_steps=2), 2)


class TestPatientPrunerAlone(PrunerContract):
    warmup_steps = 3  # patience 2: four reports (steps 0 to 3) before a trial can stagnate
    startup_trials = 0

    @pytest.fixture
    def make_pruner(self):
        return lambda: PatientPruner(None, 2)


class TestThresholdPruner(PrunerContract):
    startup_trials = 0

    @pytest.fixture
    def make_pruner(self):
        # Symmetric bounds: the negated values of a maximized study leave the range alike.
        return lambda: ThresholdPruner(lower=-50.0, upper=50.0)


class TestWilcoxonPruner(PrunerContract):
    # Three pairs can never be significant at 0.1 (one-sided exact p >= 1/8), so the first
    # decision that can prune comes at the fourth reported step.
    warmup_steps = 3
    prunes_latest_nan = False  # a NaN instance score turns the test off (with a warning)

    @pytest.fixture
    def make_pruner(self):
        return WilcoxonPruner


def test_every_pruner_is_under_contract():
    tested = {cls.__name__.removeprefix("Test").removeprefix("Auto").removesuffix("Alone")
              for cls in globals().values()
              if inspect.isclass(cls) and issubclass(cls, PrunerContract)}
    pruners = {name for name, value in vars(pipetune.pruners).items()
               if inspect.isclass(value) and issubclass(value, BasePruner)
               and not inspect.isabstract(value)}
    assert pruners <= tested
