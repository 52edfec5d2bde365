"""GPSampler: the model, the acquisition and the sampler as a user relies on them.

The model recovers a known function's minimum, learns the noise of a noisy one and stays
stable on duplicate points and a constant objective; log expected improvement is finite where
plain EI underflows; the sampler finds minima faster than random search, respects domains (log,
int, step, categorical), spreads out trials that run at once, repeats with a seed, handles
constraints and several objectives, and refuses bad arguments.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from scipy.stats import norm

import pipetune
from pipetune.samplers import GPSampler, RandomSampler
from pipetune.samplers.gp.acquisition import log_expected_improvement, log_h
from pipetune.samplers.gp.model import MIN_NOISE, GaussianProcess


def _fit_1d(x: np.ndarray, y: np.ndarray) -> GaussianProcess:
    return GaussianProcess.fit(x[:, None], (y - y.mean()) / (y.std() or 1.0),
                               np.array([False]))


# -- the model ------------------------------------------------------------------------------


def test_fit_recovers_the_minimum_of_a_known_function():
    x = np.linspace(0.0, 1.0, 12)
    y = np.sin(6.0 * x) + 0.5 * x  # minimum at x ~ 0.77 in [0, 1]
    model = _fit_1d(x, y)
    grid = np.linspace(0, 1, 1001)
    mean, variance = model.predict(grid[:, None])
    true = np.sin(6.0 * grid) + 0.5 * grid
    assert abs(grid[np.argmin(mean)] - grid[np.argmin(true)]) < 0.02
    assert np.all(variance >= 0)
    # It interpolates the observations of a noise-free function.
    at_points, _ = model.predict(x[:, None])
    assert np.allclose(at_points, (y - y.mean()) / y.std(), atol=0.05)


def test_duplicate_points_and_a_constant_objective_stay_finite():
    x = np.array([0.2, 0.2, 0.2, 0.5, 0.5, 0.9])
    for y in (np.array([1.0, 1.0, 1.0, 2.0, 2.0, 0.5]), np.zeros(6)):
        model = GaussianProcess.fit(x[:, None], y, np.array([False]))
        mean, variance, mean_grad, variance_grad = model.predict_with_gradients(
            np.linspace(0, 1, 7)[:, None])
        for array in (mean, variance, mean_grad, variance_grad):
            assert np.all(np.isfinite(array))


def test_noise_is_learnt_from_noisy_observations_and_skipped_when_deterministic():
    rng = np.random.default_rng(0)
    x = rng.random(40)
    y = np.sin(6.0 * x) + 0.3 * rng.standard_normal(40)
    y = (y - y.mean()) / y.std()
    noisy = GaussianProcess.fit(x[:, None], y, np.array([False]))
    assert math.exp(noisy.hyperparameters.log_noise) > 0.05  # true share about 0.15
    exact = GaussianProcess.fit(x[:, None], y, np.array([False]), deterministic=True)
    assert math.exp(exact.hyperparameters.log_noise) < 1e-5


def test_predicted_gradients_match_finite_differences():
    rng = np.random.default_rng(0)
    x = rng.random((15, 3))
    x[:, 2] = rng.integers(0, 3, 15)  # a categorical axis
    y = np.sin(4 * x[:, 0]) + x[:, 1] ** 2 + 0.3 * x[:, 2]
    model = GaussianProcess.fit(x, (y - y.mean()) / y.std(), np.array([False, False, True]))
    z = rng.random((4, 3))
    z[:, 2] = 1.0
    _, _, mean_grad, variance_grad = model.predict_with_gradients(z)
    for j in range(2):
        step = np.zeros(3)
        step[j] = 1e-6
        (mp, vp), (mm, vm) = model.predict(z + step), model.predict(z - step)
        assert np.allclose((mp - mm) / 2e-6, mean_grad[:, j], atol=1e-4)
        assert np.allclose((vp - vm) / 2e-6, variance_grad[:, j], atol=1e-4)
    assert np.all(mean_grad[:, 2] == 0)


def test_log_expected_improvement_is_finite_where_expected_improvement_underflows():
    z = np.array([-60.0, -30.0, -5.0, -1.0, 0.0, 2.0])
    values = log_h(z)
    assert np.all(np.isfinite(values))
    assert np.all(np.diff(values) > 0)
    moderate = z > -30
    exact = np.log(norm.pdf(z[moderate]) + z[moderate] * norm.cdf(z[moderate]))
    assert np.allclose(values[moderate], exact, rtol=1e-6)
    far = log_expected_improvement(np.array([50.0]), np.array([1e-2]), best=0.0)
    assert np.isfinite(far.value).all() and np.isfinite(far.d_mean).all()


# -- the sampler ------------------------------------------------------------------------------


def branin(trial) -> float:
    x1 = trial.suggest_float("x1", -5, 10)
    x2 = trial.suggest_float("x2", 0, 15)
    b, c, t = 5.1 / (4 * math.pi ** 2), 5 / math.pi, 1 / (8 * math.pi)
    return (x2 - b * x1 ** 2 + c * x1 - 6) ** 2 + 10 * (1 - t) * math.cos(x1) + 10


def test_finds_the_minimum_of_branin_better_than_random_search():
    gp = [pipetune.create_study(sampler=GPSampler(seed=s)) for s in range(2)]
    rnd = [pipetune.create_study(sampler=RandomSampler(seed=s)) for s in range(2)]
    for study in gp + rnd:
        study.optimize(branin, n_trials=30)
    assert max(s.best_value for s in gp) < 0.397887 + 0.05
    assert np.median([s.best_value for s in gp]) < np.median([s.best_value for s in rnd])


def mixed(trial) -> float:
    lr = trial.suggest_float("lr", 1e-5, 1e-1, log=True)
    layers = trial.suggest_int("layers", 1, 8)
    units = trial.suggest_int("units", 4, 512, log=True)
    dropout = trial.suggest_float("dropout", 0.0, 0.5, step=0.05)
    act = trial.suggest_categorical("act", ["relu", "tanh", "gelu"])
    return ((math.log10(lr) + 3) ** 2 + (layers - 3) ** 2 / 4 + (dropout - 0.2) ** 2
            + (math.log2(units) - 7) ** 2 / 10 + {"relu": 0.0, "tanh": 0.3, "gelu": 0.1}[act])


def test_mixed_space_values_lie_in_their_domains_and_improve():
    study = pipetune.create_study(sampler=GPSampler(seed=0, n_startup_trials=5))
    study.optimize(mixed, n_trials=25)
    for trial in study.trials:
        p = trial.params
        assert 1e-5 <= p["lr"] <= 1e-1 and isinstance(p["layers"], int)
        assert 4 <= p["units"] <= 512 and isinstance(p["units"], int)
        assert math.isclose(round(p["dropout"] / 0.05) * 0.05, p["dropout"], abs_tol=1e-9)
        assert p["act"] in ("relu", "tanh", "gelu")
    startup_best = min(t.value for t in study.trials[:5])
    assert study.best_value < startup_best / 2


def test_same_seed_gives_the_same_trials():
    runs = []
    for _ in range(2):
        study = pipetune.create_study(sampler=GPSampler(seed=3, n_startup_trials=4))
        study.optimize(branin, n_trials=8)
        runs.append([t.params for t in study.trials])
    assert runs[0] == runs[1]


def _fitted_noise(monkeypatch: pytest.MonkeyPatch, sampler: GPSampler) -> list[float]:
    """The noise level of every GP ``sampler`` fits over 25 trials of a noisy objective."""
    noise: list[float] = []
    fit = GaussianProcess.fit.__func__

    def recording_fit(cls, *args, **kwargs) -> GaussianProcess:
        model = fit(cls, *args, **kwargs)
        noise.append(math.exp(model.hyperparameters.log_noise))
        return model

    monkeypatch.setattr(GaussianProcess, "fit", classmethod(recording_fit))
    rng = np.random.default_rng(0)

    def noisy(trial) -> float:
        x = trial.suggest_float("x", 0, 1)
        return math.sin(6 * x) + 0.5 * rng.standard_normal()

    pipetune.create_study(sampler=sampler).optimize(noisy, n_trials=25)
    return noise


def test_deterministic_objective_fixes_the_noise_the_sampler_would_otherwise_learn(monkeypatch):
    learnt = _fitted_noise(monkeypatch, GPSampler(seed=0))
    assert len(learnt) == 15 and learnt[-1] > 0.05  # one fit per trial after the 10 random
    fixed = _fitted_noise(monkeypatch, GPSampler(seed=0, deterministic_objective=True))
    assert len(fixed) == 15 and all(n == pytest.approx(MIN_NOISE) for n in fixed)


def _batch_min_distance(constant_liar: bool | None, seed: int) -> float:
    def bowl(trial) -> float:
        x = trial.suggest_float("x", -10, 10)
        y = trial.suggest_float("y", -10, 10)
        return (x - 2) ** 2 + (y + 1) ** 2

    study = pipetune.create_study(sampler=GPSampler(seed=seed, n_startup_trials=5,
                                                    constant_liar=constant_liar))
    study.optimize(bowl, n_trials=8)
    batch = [study.ask() for _ in range(4)]  # four trials running at once
    points = [(t.suggest_float("x", -10, 10), t.suggest_float("y", -10, 10)) for t in batch]
    return min(math.dist(a, b) for a, b in itertools.combinations(points, 2))


def test_batch_suggestions_of_running_trials_are_distinct():
    with_liar = [_batch_min_distance(None, seed) for seed in range(3)]
    without = [_batch_min_distance(False, seed) for seed in range(3)]
    assert np.median(with_liar) > 0.01
    assert np.median(with_liar) > 100 * np.median(without), (with_liar, without)


def test_parallel_optimize_runs_every_trial():
    study = pipetune.create_study(sampler=GPSampler(seed=0, n_startup_trials=4))
    study.optimize(branin, n_trials=16, n_jobs=3)
    assert len(study.trials) == 16
    assert all(t.state == pipetune.TrialState.COMPLETE for t in study.trials)


def test_constraints_steer_proposals_to_the_feasible_region():
    def objective(trial) -> float:
        x = trial.suggest_float("x", 0, 1)
        y = trial.suggest_float("y", 0, 1)
        trial.set_user_attr("constraint", 0.6 - x)  # feasible when x >= 0.6
        return x + y

    def constraints(trial):
        return [trial.user_attrs["constraint"]]

    study = pipetune.create_study(sampler=GPSampler(seed=0, constraints_func=constraints,
                                                    n_startup_trials=6))
    study.optimize(objective, n_trials=20)
    later = study.trials[6:]
    feasible = [t for t in later if t.user_attrs["constraint"] <= 0]
    assert len(feasible) >= len(later) * 0.6
    best = min(t.value for t in study.trials if t.user_attrs["constraint"] <= 0)
    assert best < 0.8


def test_several_objectives_spread_along_the_front():
    def objective(trial):
        x = trial.suggest_float("x", 0, 1)
        y = trial.suggest_float("y", 0, 1)
        return x + y, (1 - x) + y

    study = pipetune.create_study(directions=["minimize", "minimize"],
                                  sampler=GPSampler(seed=0, n_startup_trials=5))
    study.optimize(objective, n_trials=20)
    later = study.trials[5:]
    assert np.median([t.params["y"] for t in later]) < 0.2
    assert np.ptp([t.params["x"] for t in study.best_trials]) > 0.3


def test_conditional_params_come_from_the_independent_sampler():
    def objective(trial) -> float:
        x = trial.suggest_float("x", -1, 1)
        if trial.suggest_categorical("branch", ["a", "b"]) == "a":
            return x ** 2 + trial.suggest_float("a", 0, 1)
        return x ** 2 + trial.suggest_int("b", 1, 3)

    study = pipetune.create_study(sampler=GPSampler(seed=0, n_startup_trials=4))
    study.optimize(objective, n_trials=12)
    assert all(t.state == pipetune.TrialState.COMPLETE for t in study.trials)


def test_no_startup_trials_fits_the_model_from_the_first_completed_trial():
    study = pipetune.create_study(sampler=GPSampler(seed=0, n_startup_trials=0))
    study.optimize(lambda t: (t.suggest_float("x", -3, 3) - 1) ** 2, n_trials=12)
    assert study.best_value < 0.05


def test_warns_about_params_left_to_the_independent_sampler_when_asked():
    def objective(trial):
        x = trial.suggest_float("x", 0, 1)
        return x + (trial.suggest_float("extra", 0, 1) if trial.number % 2 else 0.0)

    study = pipetune.create_study(
        sampler=GPSampler(seed=0, n_startup_trials=2, warn_independent_sampling=True))
    with pytest.warns(UserWarning, match="'extra'"):
        study.optimize(objective, n_trials=6)


@pytest.mark.parametrize("kwargs", [{"n_startup_trials": -1}, {"n_startup_trials": 2.5},
                                    {"constraints_func": 3}])
def test_bad_arguments_are_refused(kwargs):
    with pytest.raises(pipetune.PipetuneError, match=next(iter(kwargs))):
        GPSampler(**kwargs)


def test_blas_runs_on_one_thread_inside_the_gp_and_as_before_outside():
    import threadpoolctl  # the test extra has it, through scikit-learn

    from pipetune.samplers.gp.blas_threads import one_blas_thread

    def blas_threads() -> list[int]:
        return [lib["num_threads"] for lib in threadpoolctl.threadpool_info()
                if lib["user_api"] == "blas"]

    with threadpoolctl.threadpool_limits(limits=2, user_api="blas"):
        before = blas_threads()
        assert before and set(before) == {2}
        with one_blas_thread():
            assert set(blas_threads()) == {1}
            with one_blas_thread():  # nested or from another thread: under the same limit
                assert set(blas_threads()) == {1}
            assert set(blas_threads()) == {1}
        assert blas_threads() == before
        study = pipetune.create_study(sampler=GPSampler(seed=0, n_startup_trials=3))
        study.optimize(lambda t: t.suggest_float("x", 0, 1) ** 2, n_trials=6, n_jobs=3)
        assert blas_threads() == before
