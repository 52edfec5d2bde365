"""Runs the sampler contract (``pipetune.testing.samplers``) over every sampler.

Model-based samplers get a short random start-up so that the contract's short studies reach
their models."""

from __future__ import annotations

import inspect

import pytest

import pipetune.samplers
from pipetune.samplers import (
    AutoSampler,
    BaseSampler,
    BruteForceSampler,
    CmaEsSampler,
    GPSampler,
    GridSampler,
    NSGAIIISampler,
    NSGAIISampler,
    PartialFixedSampler,
    QMCSampler,
    RandomSampler,
    TPESampler,
)
from pipetune.testing.samplers import SamplerContract


class TestRandomSampler(SamplerContract):
    @pytest.fixture
    def make_sampler(self):
        return lambda seed, values: RandomSampler(seed=seed)


class TestGridSampler(SamplerContract):
    finite = True

    @pytest.fixture
    def make_sampler(self):
        return lambda seed, values: GridSampler(values, seed=seed)


class TestQMCSampler(SamplerContract):
    @pytest.fixture
    def make_sampler(self):
        return lambda seed, values: QMCSampler(seed=seed)


class TestHaltonQMCSampler(SamplerContract):
    @pytest.fixture
    def make_sampler(self):
        return lambda seed, values: QMCSampler("halton", seed=seed)


class TestTPESampler(SamplerContract):
    @pytest.fixture
    def make_sampler(self):
        return lambda seed, values: TPESampler(seed=seed, n_startup_trials=4)


class TestUnivariateTPESampler(SamplerContract):
    @pytest.fixture
    def make_sampler(self):
        return lambda seed, values: TPESampler(seed=seed, n_startup_trials=4, multivariate=False)


# GPSampler starts each hyperparameter fit from the last fit this process made (and above 50
# points keeps it until they grew by 5%), so a new process resuming a study fits other
# hyperparameters and draws other params: the documented "every draw derives from the seed, the
# trial number and the stored history" does not hold for it yet. AutoSampler hands fixed
# spaces to it. Strict, so that the fix removes these marks.
GP_RESUMES_DIFFERENTLY = pytest.mark.xfail(
    strict=True, reason="GPSampler warm-starts its fits from this process's earlier fits")


class TestGPSampler(SamplerContract):
    @pytest.fixture
    def make_sampler(self):
        return lambda seed, values: GPSampler(seed=seed, n_startup_trials=4)

    @GP_RESUMES_DIFFERENTLY
    def test_another_process_resuming_a_study_draws_the_same_params(self, make_sampler, tmp_path):
        super().test_another_process_resuming_a_study_draws_the_same_params(make_sampler, tmp_path)


class TestCmaEsSampler(SamplerContract):
    multi_objective = False

    @pytest.fixture
    def make_sampler(self):
        return lambda seed, values: CmaEsSampler(seed=seed, population_size=4)


class TestAutoSampler(SamplerContract):
    @pytest.fixture
    def make_sampler(self):
        return lambda seed, values: AutoSampler(seed=seed)

    @GP_RESUMES_DIFFERENTLY
    def test_another_process_resuming_a_study_draws_the_same_params(self, make_sampler, tmp_path):
        super().test_another_process_resuming_a_study_draws_the_same_params(make_sampler, tmp_path)


class TestNSGAIISampler(SamplerContract):
    @pytest.fixture
    def make_sampler(self):
        return lambda seed, values: NSGAIISampler(seed=seed, population_size=4)


class TestNSGAIIISampler(SamplerContract):
    @pytest.fixture
    def make_sampler(self):
        return lambda seed, values: NSGAIIISampler(seed=seed, population_size=4)


class TestPartialFixedSampler(SamplerContract):
    @pytest.fixture
    def make_sampler(self):
        return lambda seed, values: PartialFixedSampler(
            {"int": 3, "categorical_str": "sgd", "width": 2, "x": 1},
            TPESampler(seed=seed, n_startup_trials=4))


# The contract's objectives suggest continuous floats, which exhaustive search cannot
# enumerate, and narrow the domain of "width" every other trial, which it rejects; fixed at a
# value inside every domain the contract uses, they leave the other params to enumerate.
_NOT_ENUMERABLE = ("float", "float_log", "alpha", "width")


class TestBruteForceSampler(SamplerContract):
    finite = True

    @pytest.fixture
    def make_sampler(self):
        return lambda seed, values: PartialFixedSampler(
            {name: values[name][0] for name in _NOT_ENUMERABLE if name in values},
            BruteForceSampler(seed=seed))


def test_every_sampler_is_under_contract():
    tested = {cls.__name__.removeprefix("Test").removeprefix("Halton").removeprefix("Univariate")
              for cls in globals().values()
              if inspect.isclass(cls) and issubclass(cls, SamplerContract)}
    samplers = {name for name, value in vars(pipetune.samplers).items()
                if inspect.isclass(value) and issubclass(value, BaseSampler)
                and not inspect.isabstract(value)}
    assert samplers <= tested
