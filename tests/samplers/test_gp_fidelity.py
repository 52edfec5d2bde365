"""GPSampler under a pruner: the model learns from every finished trial at the budget it
reached, proposes where the low-budget results point, ignores NaN intermediate values, keeps
to COMPLETE trials when nothing was pruned (or with constraints), fits a bounded number of
observations, and on a grid does not propose a configuration it has run while one is left.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import pipetune
from pipetune.datatypes import StudyDirection
from pipetune.distributions import FloatDistribution, IntDistribution
from pipetune.samplers import GPSampler
from pipetune.samplers.gp import fidelity
from pipetune.samplers.gp.model import GaussianProcess

_SPACE = {"x": FloatDistribution(0.0, 1.0), "y": FloatDistribution(0.0, 1.0)}
_STEPS = 9


def _final(x: float, y: float) -> float:
    return (x - 0.8) ** 2 + 0.1 * (y - 0.5) ** 2


def _curve(x: float, y: float, last_step: int) -> dict[int, float]:
    """A learning curve whose every step ranks configurations as the final value does."""
    return {s: _final(x, y) + 1.0 / s for s in range(1, last_step + 1)}


def _pruned(x: float, y: float, last_step: int, **overrides):
    curve = _curve(x, y, last_step)
    curve.update(overrides.get("intermediate_values", {}))
    return pipetune.create_trial(state="PRUNED", params={"x": x, "y": y},
                                 distributions=_SPACE, intermediate_values=curve)


def _complete(x: float, y: float):
    return pipetune.create_trial(value=_final(x, y), params={"x": x, "y": y},
                                 distributions=_SPACE, intermediate_values=_curve(x, y, _STEPS))


def _record_fits(monkeypatch: pytest.MonkeyPatch) -> list[np.ndarray]:
    """The points of every GP the sampler fits."""
    fitted: list[np.ndarray] = []
    fit = GaussianProcess.fit.__func__

    def recording_fit(cls, points, *args, **kwargs) -> GaussianProcess:
        fitted.append(points)
        return fit(cls, points, *args, **kwargs)

    monkeypatch.setattr(GaussianProcess, "fit", classmethod(recording_fit))
    return fitted


def _proposals(study: pipetune.Study, n: int) -> list[dict]:
    out = []
    for _ in range(n):
        trial = study.ask()
        out.append({"x": trial.suggest_float("x", 0, 1), "y": trial.suggest_float("y", 0, 1)})
        study.tell(trial, state=pipetune.TrialState.FAIL)
    return out


def test_proposals_follow_the_low_budget_values_of_pruned_trials(monkeypatch):
    # Two complete trials far from the optimum and twenty trials pruned after one or three
    # steps across the space: only the pruned ones say that x near 0.8 is good.
    fitted = _record_fits(monkeypatch)
    study = pipetune.create_study(sampler=GPSampler(seed=0))
    study.add_trials([_complete(0.1, 0.9), _complete(0.35, 0.1)])
    rng = np.random.default_rng(0)
    study.add_trials([_pruned(float(x), float(y), 1 + 2 * (i % 2))
                      for i, (x, y) in enumerate(rng.random((20, 2)))])
    for params in _proposals(study, 3):
        assert abs(params["x"] - 0.8) < 0.15, params
    assert fitted and all(points.shape == (22, 3) for points in fitted)  # (x, y, budget)


def test_a_study_with_no_pruned_trial_ignores_intermediate_values():
    def objective(trial, report: bool) -> float:
        x, y = trial.suggest_float("x", 0, 1), trial.suggest_float("y", 0, 1)
        if report:
            for step, value in _curve(x, y, _STEPS).items():
                trial.report(value, step)
        return _final(x, y)

    runs = []
    for report in (False, True):
        study = pipetune.create_study(sampler=GPSampler(seed=2, n_startup_trials=4))
        study.optimize(lambda t, report=report: objective(t, report), n_trials=9)
        runs.append([t.params for t in study.trials])
    assert runs[0] == runs[1]


def test_nan_and_infinite_intermediate_values_are_skipped():
    trials = [
        _pruned(0.2, 0.2, 3, intermediate_values={3: math.nan}),  # counts its step 2
        _pruned(0.3, 0.3, 2, intermediate_values={1: math.inf, 2: math.nan}),  # counts nothing
        _complete(0.4, 0.4),
    ]
    observed = fidelity.observations(trials, StudyDirection.MINIMIZE)
    assert [(o.step, o.loss) for o in observed] == [
        (2, pytest.approx(_final(0.2, 0.2) + 0.5)), (_STEPS, pytest.approx(_final(0.4, 0.4)))]
    maximized = fidelity.observations(trials, StudyDirection.MAXIMIZE)
    assert [o.loss for o in maximized] == [-o.loss for o in observed]
    assert not fidelity.has_pruned_observation(trials[1:])

    study = pipetune.create_study(sampler=GPSampler(seed=0, n_startup_trials=3))
    study.add_trials(trials + [_pruned(0.9, 0.1, 1), _pruned(0.5, 0.6, 3)])
    for params in _proposals(study, 2):
        assert 0 <= params["x"] <= 1 and 0 <= params["y"] <= 1


def test_the_model_is_fit_on_a_bounded_number_of_observations(monkeypatch):
    monkeypatch.setattr(fidelity, "MAX_OBSERVATIONS", 12)
    fitted = _record_fits(monkeypatch)
    study = pipetune.create_study(sampler=GPSampler(seed=0))
    study.add_trials([_complete(0.1, 0.1), _complete(0.6, 0.6)])
    rng = np.random.default_rng(1)
    study.add_trials([_pruned(float(x), float(y), 1 + (i % 3))
                      for i, (x, y) in enumerate(rng.random((30, 2)))])
    _proposals(study, 1)
    assert fitted and all(len(points) == 12 for points in fitted)
    # Both complete trials are kept (budget 1), then the pruned ones that got furthest.
    budgets = fitted[-1][:, -1]
    assert np.sum(budgets == 1.0) == 2
    assert np.all(budgets[budgets < 1.0] == pytest.approx(math.log1p(3) / math.log1p(_STEPS)))


def test_constraints_keep_the_model_on_complete_trials(monkeypatch):
    fitted = _record_fits(monkeypatch)
    sampler = GPSampler(seed=0, n_startup_trials=2, constraints_func=lambda t: [-1.0])
    study = pipetune.create_study(sampler=sampler)
    study.add_trials([_complete(0.1, 0.9), _complete(0.5, 0.1), _complete(0.9, 0.5)]
                     + [_pruned(0.7, 0.3, 1), _pruned(0.2, 0.8, 3)])
    _proposals(study, 1)
    assert fitted and all(points.shape == (3, 2) for points in fitted)


def test_a_grid_is_not_proposed_twice_while_a_configuration_is_left():
    def objective(trial) -> float:
        a = trial.suggest_int("a", 0, 3)
        b = trial.suggest_categorical("b", ["p", "q", "r"])
        return (a - 2) ** 2 + (b == "q")

    study = pipetune.create_study(sampler=GPSampler(seed=0, n_startup_trials=3))
    study.optimize(objective, n_trials=12)
    configurations = {(t.params["a"], t.params["b"]) for t in study.trials}
    assert len(configurations) == 12


def test_pruned_grid_configurations_are_not_proposed_again():
    space = {"a": IntDistribution(0, 9)}
    study = pipetune.create_study(sampler=GPSampler(seed=0, n_startup_trials=3))
    study.add_trials([pipetune.create_trial(value=float(a), params={"a": a}, distributions=space,
                                            intermediate_values={1: a + 1.0, 2: float(a)})
                      for a in (5, 9)])
    study.add_trials([pipetune.create_trial(state="PRUNED", params={"a": a},
                                            distributions=space,
                                            intermediate_values={1: a + 1.0})
                      for a in range(0, 5)])
    trial = study.ask()
    assert trial.suggest_int("a", 0, 9) in (6, 7, 8)
