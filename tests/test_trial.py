"""Trial: suggestions (types, domains, repeats, conflicts, conditions), reports and attributes,
in memory and in a SQLite file."""

from __future__ import annotations

import datetime as dt
import math
import warnings

import numpy as np
import pytest

import pipetune
from pipetune.distributions import (
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)
from pipetune.errors import InvalidArgumentError, ParamConflictError
from pipetune.samplers import RandomSampler


def _study(storage, seed=0, **kwargs):
    return pipetune.create_study(storage=storage, sampler=RandomSampler(seed=seed), **kwargs)


def test_suggestions_lie_in_their_domain_with_the_right_type(storage):
    study = _study(storage)
    seen = []

    def objective(trial):
        x = trial.suggest_float("x", -2.0, 3.0)
        n = trial.suggest_int("n", -5, 5)
        c = trial.suggest_categorical("c", ["a", 2, 3.5, None, True])
        assert type(x) is float and -2.0 <= x <= 3.0
        assert type(n) is int and -5 <= n <= 5
        assert c in ("a", 2, 3.5, None, True)
        seen.append((x, n, c))
        return x

    study.optimize(objective, n_trials=30)
    for trial, (x, n, c) in zip(study.trials, seen):
        assert trial.params == {"x": x, "n": n, "c": c}
        assert type(trial.params["n"]) is int and type(trial.params["c"]) is type(c)
        assert trial.distributions == {
            "x": FloatDistribution(-2.0, 3.0), "n": IntDistribution(-5, 5),
            "c": CategoricalDistribution(("a", 2, 3.5, None, True))}
    assert len({n for _, n, _ in seen}) > 3


def test_log_domains(storage):
    study = _study(storage)

    def objective(trial):
        lr = trial.suggest_float("lr", 1e-5, 1e-1, log=True)
        units = trial.suggest_int("units", 1, 1024, log=True)
        assert 1e-5 <= lr <= 1e-1 and 1 <= units <= 1024 and type(units) is int
        return lr

    study.optimize(objective, n_trials=40)
    lrs = [t.params["lr"] for t in study.trials]
    assert min(lrs) < 1e-3 < max(lrs)  # spread over the decades, not bunched near the top
    assert study.trials[0].distributions["lr"].log


def test_step_domains(storage):
    study = _study(storage)

    def objective(trial):
        x = trial.suggest_float("x", 0.0, 1.0, step=0.25)
        n = trial.suggest_int("n", 2, 20, step=3)
        assert x in (0.0, 0.25, 0.5, 0.75, 1.0)
        assert n in (2, 5, 8, 11, 14, 17, 20)
        return x

    study.optimize(objective, n_trials=40)
    assert {t.params["x"] for t in study.trials} == {0.0, 0.25, 0.5, 0.75, 1.0}


def test_single_value_domains(storage):
    study = _study(storage)
    trial = study.ask()
    assert trial.suggest_float("x", 1.5, 1.5) == 1.5
    assert trial.suggest_float("lx", 2.0, 2.0, log=True) == 2.0
    assert trial.suggest_int("n", 7, 7) == 7
    assert trial.suggest_categorical("c", ["only"]) == "only"
    study.tell(trial, 0.0)
    assert study.trials[0].params == {"x": 1.5, "lx": 2.0, "n": 7, "c": "only"}


def test_same_name_returns_the_same_value(storage):
    study = _study(storage)
    trial = study.ask()
    first = (trial.suggest_float("x", 0.0, 1.0), trial.suggest_int("n", 0, 100),
             trial.suggest_categorical("c", [1, 2, 3, 4, 5]))
    again = (trial.suggest_float("x", 0.0, 1.0), trial.suggest_int("n", 0, 100),
             trial.suggest_categorical("c", [1, 2, 3, 4, 5]))
    assert first == again


@pytest.mark.parametrize("second", [
    lambda t: t.suggest_float("x", 0.0, 2.0),
    lambda t: t.suggest_float("x", 0.0, 1.0, step=0.5),
    lambda t: t.suggest_int("x", 0, 1),
    lambda t: t.suggest_categorical("x", [0.0, 1.0]),
])
def test_same_name_with_another_domain_conflicts(storage, second):
    study = _study(storage)
    trial = study.ask()
    trial.suggest_float("x", 0.0, 1.0)
    with pytest.raises(ParamConflictError, match="'x'"):
        second(trial)
    study.tell(trial, 1.0)
    assert study.trials[0].distributions == {"x": FloatDistribution(0.0, 1.0)}


def test_conditional_params_appear_only_where_asked(storage):
    study = _study(storage)

    def objective(trial):
        kind = trial.suggest_categorical("kind", ["linear", "tree"])
        if kind == "linear":
            return trial.suggest_float("alpha", 1e-3, 1.0, log=True)
        depth = trial.suggest_int("depth", 1, 8)
        return float(depth)

    study.optimize(objective, n_trials=30)
    kinds = {t.params["kind"] for t in study.trials}
    assert kinds == {"linear", "tree"}
    for t in study.trials:
        expected = {"kind", "alpha"} if t.params["kind"] == "linear" else {"kind", "depth"}
        assert set(t.params) == expected == set(t.distributions)
    frame = study.trials_dataframe()
    linear = frame[frame["params_kind"] == "linear"]
    assert linear["params_depth"].isna().all() and linear["params_alpha"].notna().all()


def test_user_attrs_number_and_start_time(storage):
    study = _study(storage)
    before = dt.datetime.now() - dt.timedelta(seconds=1)

    def objective(trial):
        trial.set_user_attr("note", {"fold": trial.number, "tags": ["a", "b"]})
        assert trial.user_attrs["note"]["fold"] == trial.number
        assert isinstance(trial.datetime_start, dt.datetime)
        return 0.0

    study.optimize(objective, n_trials=3)
    assert [t.number for t in study.trials] == [0, 1, 2]
    for t in study.trials:
        assert t.user_attrs == {"note": {"fold": t.number, "tags": ["a", "b"]}}
        assert before <= t.datetime_start <= t.datetime_complete


def test_user_attr_must_be_json(storage):
    study = _study(storage)
    trial = study.ask()
    with pytest.raises(pipetune.PipetuneError):
        trial.set_user_attr("model", object())
    trial.set_user_attr("ok", 1)
    study.tell(trial, 0.0)
    assert study.trials[0].user_attrs == {"ok": 1}


def test_report_stores_intermediate_values(storage):
    study = _study(storage)

    def objective(trial):
        for step in range(5):
            trial.report(1.0 / (step + 1), step)
        assert trial.intermediate_values == {s: 1.0 / (s + 1) for s in range(5)}
        return 0.2

    study.optimize(objective, n_trials=2)
    for t in study.trials:
        assert t.intermediate_values == {s: 1.0 / (s + 1) for s in range(5)}
        assert t.last_step == 4
    frame = study.trials_dataframe(attrs=("number", "intermediate_values"))
    assert list(frame["intermediate_values_4"]) == [0.2, 0.2]


def test_repeated_step_warns_and_keeps_the_first_value(storage):
    study = _study(storage)
    trial = study.ask()
    trial.report(0.5, 3)
    with pytest.warns(UserWarning, match="step 3"):
        trial.report(0.9, 3)
    assert trial.intermediate_values == {3: 0.5}
    study.tell(trial, 0.5)
    assert study.trials[0].intermediate_values == {3: 0.5}


@pytest.mark.parametrize(("value", "step", "error"), [
    (None, 0, TypeError), ("foo", 0, TypeError), ([1, 2, 3], 0, TypeError),
    (0.1, None, TypeError), (0.1, "foo", TypeError), (0.1, [1], TypeError),
    (0.1, -1, ValueError), (0.1, 1.5, ValueError),  # a fraction is refused, not truncated
    ("foo", -1, TypeError),  # the value is checked first
])
def test_report_rejects_what_optuna_rejects(value, step, error):
    study = _study(None)
    trial = study.ask()
    with pytest.raises(error, match="Trial.report") as raised:
        trial.report(value, step)
    assert isinstance(raised.value, InvalidArgumentError)  # a pipetune error as well


def test_report_accepts_what_float_and_int_take():
    study = _study(None)
    trial = study.ask()
    for step, value in enumerate(["1.23", "inf", 1, np.array([1], dtype=np.float32)[0], True]):
        trial.report(value, step)
    trial.report(0.5, 5.0)
    trial.report(0.5, np.int64(6))
    trial.report(0.5, "7")
    assert trial.intermediate_values == {0: 1.23, 1: math.inf, 2: 1.0, 3: 1.0, 4: 1.0,
                                         5: 0.5, 6: 0.5, 7: 0.5}


def test_report_accepts_nan_and_numpy_numbers(storage):
    study = _study(storage)
    trial = study.ask()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        trial.report(float("nan"), 0)
        trial.report(np.float32(0.25), np.int64(1))
    study.tell(trial, 1.0)
    stored = study.trials[0].intermediate_values
    assert math.isnan(stored[0]) and stored[1] == 0.25


def test_optuna2_suggest_names(storage):
    study = _study(storage)

    def objective(trial):
        u = trial.suggest_uniform("u", -1.0, 1.0)
        lu = trial.suggest_loguniform("lu", 1e-3, 1.0)
        du = trial.suggest_discrete_uniform("du", 0.0, 1.0, 0.1)
        assert -1.0 <= u <= 1.0 and 1e-3 <= lu <= 1.0
        assert abs(du * 10 - round(du * 10)) < 1e-9
        return u

    study.optimize(objective, n_trials=10)
    assert study.trials[0].distributions == {
        "u": FloatDistribution(-1.0, 1.0), "lu": FloatDistribution(1e-3, 1.0, log=True),
        "du": FloatDistribution(0.0, 1.0, step=0.1)}


def test_categorical_choices_changing_between_trials(storage):
    study = _study(storage)

    def objective(trial):
        choices = ["a", "b"] if trial.number % 2 == 0 else ["b", "c", 3]
        return float(len(str(trial.suggest_categorical("opt", choices))))

    study.optimize(objective, n_trials=12)
    for t in study.trials:
        expected = ("a", "b") if t.number % 2 == 0 else ("b", "c", 3)
        assert t.distributions["opt"] == CategoricalDistribution(expected)
        assert t.params["opt"] in expected
    assert all(t.state == pipetune.TrialState.COMPLETE for t in study.trials)
    # A later trial with the first set again still works.
    study.optimize(lambda t: float(t.suggest_categorical("opt", ["a", "b"]) == "a"), n_trials=2)
    assert len(study.trials) == 14


def test_param_name_must_be_a_nonempty_string():
    study = _study(None)
    trial = study.ask()
    for name in ("", None, 3):
        with pytest.raises(InvalidArgumentError, match="param name"):
            trial.suggest_float(name, 0.0, 1.0)


def test_suggest_on_a_finished_trial_raises(storage):
    study = _study(storage)
    trial = study.ask()
    study.tell(trial, 1.0)
    with pytest.raises(pipetune.PipetuneError):
        trial.suggest_float("late", 0.0, 1.0)
    assert study.trials[0].params == {}
