"""Code written for Optuna runs on pipetune with only the import changed: each test is written
as an Optuna user writes it, ``optuna`` spelt ``pipetune`` (issue 15's idioms first)."""

from __future__ import annotations

import gc
import logging
import math
import warnings

import numpy as np
import pytest
from availability import require_installed

import pipetune
from pipetune.distributions import CategoricalDistribution, FloatDistribution, IntDistribution
from pipetune.trial import TrialState


def objective(trial):
    x = trial.suggest_float("x", -10, 10)
    y = trial.suggest_int("y", 0, 5)
    kind = trial.suggest_categorical("kind", ["a", "b"])
    return (x - 2) ** 2 + y + (kind == "b")


@pytest.fixture
def info_verbosity():
    yield
    pipetune.logging.set_verbosity(pipetune.logging.INFO)


# -- the idioms of the issue ------------------------------------------------------------------


def test_logging_set_verbosity_silences_the_trial_lines(capsys, info_verbosity):
    pipetune.logging.set_verbosity(pipetune.logging.WARNING)
    assert pipetune.logging.get_verbosity() == pipetune.logging.WARNING
    study = pipetune.create_study()
    study.optimize(objective, n_trials=3)
    assert "Trial 2 finished" not in capsys.readouterr().err
    pipetune.logging.set_verbosity(pipetune.logging.INFO)
    study.optimize(objective, n_trials=1)
    assert "Trial 3 finished" in capsys.readouterr().err


def test_logging_levels_logger_and_propagation():
    assert (pipetune.logging.CRITICAL, pipetune.logging.FATAL, pipetune.logging.ERROR,
            pipetune.logging.WARNING, pipetune.logging.WARN, pipetune.logging.INFO,
            pipetune.logging.DEBUG) == (50, 50, 40, 30, 30, 20, 10)
    records: list[logging.LogRecord] = []

    class Recording(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    root = logging.getLogger()
    handler = Recording()
    root.addHandler(handler)
    logger = pipetune.logging.get_logger("pipetune.my_plugin")
    try:
        logger.warning("not propagated")
        pipetune.logging.enable_propagation()
        logger.warning("propagated")
        pipetune.logging.disable_propagation()
        logger.warning("not propagated either")
    finally:
        root.removeHandler(handler)
        pipetune.logging.disable_propagation()
    assert [r.getMessage() for r in records] == ["propagated"]


def test_add_trial_and_add_trials():
    study = pipetune.create_study()
    study.add_trial(pipetune.trial.create_trial(
        params={"x": 2.0, "y": 0, "kind": "a"},
        distributions={"x": FloatDistribution(-10, 10), "y": IntDistribution(0, 5),
                       "kind": CategoricalDistribution(["a", "b"])},
        value=0.0))
    study.add_trials([pipetune.create_trial(value=v) for v in (3.0, 1.0)])
    assert [t.number for t in study.trials] == [0, 1, 2]
    assert study.best_value == 0.0 and study.best_params == {"x": 2.0, "y": 0, "kind": "a"}
    study.optimize(objective, n_trials=2)
    assert len(study.trials) == 5
    other = pipetune.create_study()
    other.add_trials(study.trials)  # trials of another study
    assert [t.value for t in other.trials] == [t.value for t in study.trials]
    with pytest.raises(ValueError):
        study.add_trial(pipetune.create_trial(values=[1.0, 2.0]))  # two values, one objective


def test_get_trials_deepcopy_and_states():
    study = pipetune.create_study()
    study.optimize(objective, n_trials=3)
    study.tell(study.ask(), state=TrialState.PRUNED)
    complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    assert [t.number for t in complete] == [0, 1, 2]
    assert [t.number for t in study.get_trials(states=[TrialState.PRUNED])] == [3]
    copies = study.get_trials()
    copies[0].user_attrs["mine"] = 1  # a copy: the study is unchanged
    assert "mine" not in study.trials[0].user_attrs


def test_optimize_with_gc_after_trial(monkeypatch):
    calls = []
    monkeypatch.setattr(gc, "collect", lambda *args: calls.append(args) or 0)
    study = pipetune.create_study()
    study.optimize(objective, n_trials=3, gc_after_trial=True)
    assert len(calls) == 3
    study.optimize(objective, n_trials=2)
    assert len(calls) == 3


def test_objective_reruns_on_the_best_trial():
    study = pipetune.create_study()
    study.optimize(objective, n_trials=10)
    best_trial = study.best_trial
    assert objective(best_trial) == best_trial.value
    with pytest.raises(ValueError):  # a param the trial never had
        best_trial.suggest_float("z", 0, 1)


def test_trials_dataframe_multi_index():
    require_installed("pandas", extra="pandas")
    study = pipetune.create_study()

    def with_attr(trial):
        trial.set_user_attr("fold", trial.number)
        return objective(trial)

    study.optimize(with_attr, n_trials=3)
    df = study.trials_dataframe(multi_index=True)
    assert ("number", "") in df.columns and ("params", "x") in df.columns
    assert list(df["params"]["x"]) == [t.params["x"] for t in study.trials]
    assert list(df["user_attrs"]["fold"]) == [0, 1, 2]
    assert list(df["state"]) == ["COMPLETE"] * 3  # a column named ("state", "")
    flat = study.trials_dataframe(attrs=("number", "value", "params", "state"))
    assert list(flat.columns) == ["number", "value", "params_kind", "params_x", "params_y",
                                  "state"]


def test_trial_state_prints_by_name():
    study = pipetune.create_study()
    study.optimize(objective, n_trials=1)
    trial = study.trials[0]
    assert f"{trial.state}" == "TrialState.COMPLETE"
    assert str(TrialState.PRUNED) == "TrialState.PRUNED"
    assert trial.state == 1 and f"{trial.state:d}" == "1"  # still an int


def test_duplicated_study_error_is_caught_under_optunas_name():
    storage = pipetune.InMemoryStorage()
    pipetune.create_study(study_name="taxi", storage=storage)
    try:
        pipetune.create_study(study_name="taxi", storage=storage)
    except pipetune.exceptions.DuplicatedStudyError:
        study = pipetune.load_study(study_name="taxi", storage=storage)
    assert study.study_name == "taxi"
    assert issubclass(pipetune.exceptions.DuplicatedStudyError, pipetune.exceptions.OptunaError)
    with pytest.raises(pipetune.exceptions.UpdateFinishedTrialError):
        trial = study.ask()
        study.tell(trial, 1.0)
        trial.set_user_attr("late", 1)
    with pytest.raises(pipetune.exceptions.TrialPruned):
        raise pipetune.TrialPruned()


# -- trials -----------------------------------------------------------------------------------


def test_fixed_trial_runs_an_objective_outside_a_study():
    trial = pipetune.trial.FixedTrial({"x": 1.0, "y": 3, "kind": "b"})
    assert objective(trial) == 1.0 + 3 + 1
    assert trial.params == {"x": 1.0, "y": 3, "kind": "b"}
    assert isinstance(trial, pipetune.trial.BaseTrial)
    assert not trial.should_prune()
    with pytest.raises(ValueError):
        pipetune.trial.FixedTrial({"x": 1.0}).suggest_int("y", 0, 5)
    with pytest.warns(UserWarning):
        pipetune.trial.FixedTrial({"x": 20.0}).suggest_float("x", -10, 10)


def test_frozen_trial_built_with_optunas_arguments():
    import datetime

    trial = pipetune.trial.FrozenTrial(
        number=0, trial_id=0, state=TrialState.COMPLETE, value=0.2,
        datetime_start=datetime.datetime.now(), datetime_complete=datetime.datetime.now(),
        params={"x": 1.0}, distributions={"x": FloatDistribution(0, 10)},
        user_attrs={}, system_attrs={}, intermediate_values={})
    assert trial.value == 0.2 and trial.suggest_float("x", 0, 10) == 1.0
    assert isinstance(trial, pipetune.trial.BaseTrial)
    assert trial.report(0.5, 1) is None and trial.should_prune() is False
    text = repr(trial)
    assert text.startswith("FrozenTrial(number=0, state=") and "values=[0.2]" in text
    with pytest.raises(ValueError):
        pipetune.trial.FrozenTrial(number=0, trial_id=0, state=TrialState.COMPLETE, value=0.2,
                                   values=[0.2], datetime_start=None, datetime_complete=None,
                                   params={}, distributions={}, user_attrs={}, system_attrs={},
                                   intermediate_values={})
    later = pipetune.trial.create_trial(value=0.1)
    assert sorted([later, trial])[0] is later  # FrozenTrials sort by number (-1 first)


def test_create_trial_checks_what_it_builds():
    with pytest.raises(ValueError):
        pipetune.trial.create_trial(state=TrialState.COMPLETE)  # no value
    with pytest.raises(ValueError):
        pipetune.trial.create_trial(state=TrialState.FAIL, value=1.0)
    with pytest.raises(ValueError):
        pipetune.trial.create_trial(value=1.0, params={"x": 20.0},
                                    distributions={"x": FloatDistribution(0, 10)})
    waiting = pipetune.trial.create_trial(state=TrialState.WAITING)
    assert waiting.datetime_start is None and waiting.datetime_complete is None


def test_constraints():
    study = pipetune.create_study()

    def constrained(trial):
        x = trial.suggest_float("x", 0, 1)
        trial.set_constraint("budget", x - 0.5)
        return x

    study.optimize(constrained, n_trials=3)
    for trial in study.trials:
        assert trial.constraints == {"budget": trial.params["x"] - 0.5}
    made = pipetune.trial.create_trial(value=0.2, constraints={"cost": 1.5, "limit": -2.5})
    assert made.constraints == {"cost": 1.5, "limit": -2.5}
    with pytest.raises(TypeError):
        pipetune.trial.create_trial(value=0.2, constraints={"cost": "foo"})
    with pytest.raises(ValueError):
        pipetune.trial.create_trial(value=0.2, constraints={"cost": float("nan")})


def test_report_accepts_what_optuna_accepts():
    study = pipetune.create_study()
    trial = study.ask()
    trial.report(1.23, 1)
    trial.report(float("nan"), 2)
    trial.report("1.23", 3)
    trial.report(np.array([1], dtype=np.float32)[0], 4)
    trial.report(1.0, np.int64(5))
    with pytest.raises(TypeError):
        trial.report(None, 7)
    with pytest.raises(TypeError):
        trial.report(1.0, "foo")
    with pytest.raises(ValueError):
        trial.report(1.0, -1)
    with pytest.warns(UserWarning):
        trial.report(2.0, 1)


# -- study ------------------------------------------------------------------------------------


def test_copy_study_and_summaries():
    source, target = pipetune.InMemoryStorage(), pipetune.InMemoryStorage()
    study = pipetune.create_study(study_name="src", storage=source,
                                  directions=["maximize", "minimize"])
    study.set_user_attr("owner", "me")
    study.optimize(lambda t: (t.suggest_float("a", 0, 1), t.suggest_float("b", 0, 1)),
                   n_trials=3)
    pipetune.copy_study(from_study_name="src", from_storage=source, to_storage=target)
    copied = pipetune.load_study(study_name="src", storage=target)
    assert copied.directions == study.directions and copied.user_attrs == {"owner": "me"}
    assert [t.values for t in copied.trials] == [t.values for t in study.trials]
    assert [t.params for t in copied.trials] == [t.params for t in study.trials]
    with pytest.raises(pipetune.exceptions.DuplicatedStudyError):
        pipetune.copy_study(from_study_name="src", from_storage=source, to_storage=target)
    pipetune.copy_study(from_study_name="src", from_storage=source, to_storage=target,
                        to_study_name="again")
    assert pipetune.get_all_study_names(target) == ["src", "again"]
    summaries = pipetune.get_all_study_summaries(target, include_best_trial=False)
    assert [(s.study_name, s.n_trials, s.best_trial) for s in summaries] == [
        ("src", 3, None), ("again", 3, None)]


def test_max_trials_callback():
    study = pipetune.create_study()
    study.optimize(objective, n_trials=50,
                   callbacks=[pipetune.study.MaxTrialsCallback(5, states=(TrialState.COMPLETE,))])
    assert len(study.trials) == 5


def test_metric_names():
    require_installed("pandas", extra="pandas")
    study = pipetune.create_study(directions=["minimize", "maximize"])
    assert study.metric_names is None
    study.set_metric_names(["loss", "accuracy"])
    assert study.metric_names == ["loss", "accuracy"]
    study.optimize(lambda t: (t.suggest_float("x", 0, 1), 0.5), n_trials=2)
    df = study.trials_dataframe()
    assert list(df["values_accuracy"]) == [0.5, 0.5]
    with pytest.raises(ValueError):
        study.set_metric_names(["loss"])


def test_ask_with_fixed_distributions():
    study = pipetune.create_study()
    trial = study.ask(fixed_distributions={"x": FloatDistribution(0, 1),
                                           "y": CategoricalDistribution(["bacon", "spam"])})
    assert 0 <= trial.params["x"] <= 1 and trial.params["y"] in ("bacon", "spam")
    study.tell(trial, trial.params["x"])


def test_tell_errors():
    study = pipetune.create_study()
    trial = study.ask()
    study.tell(trial, 1.0)
    with pytest.raises(ValueError):
        study.tell(trial, 1.0)
    study.tell(trial, 1.0, skip_if_finished=True)
    with pytest.raises(ValueError):
        study.tell(study.ask(), float("nan"), state=TrialState.COMPLETE)
    with pytest.raises(ValueError):
        study.tell(study.ask(), state=TrialState.COMPLETE)
    with pytest.raises(ValueError):
        study.tell(study.ask(), 1.0, state=TrialState.PRUNED)
    with pytest.raises(ValueError):
        study.tell(study.ask(), state=TrialState.RUNNING)
    with pytest.raises(ValueError):
        study.tell(len(study.trials) + 5, 1.0)  # never asked
    with pytest.raises(TypeError):
        study.tell("1", 1.0)
    with pytest.warns(UserWarning):  # no state given: the trial fails, with a warning
        study.tell(study.ask(), float("nan"))
    assert study.trials[-1].state == TrialState.FAIL


def test_nested_optimize_and_stop_outside_optimize_raise_runtime_error():
    study = pipetune.create_study()
    with pytest.raises(RuntimeError):
        study.stop()

    def nested(trial):
        with pytest.raises(RuntimeError):
            trial.study.optimize(lambda t: 0.0, n_trials=1)
        return 1.0

    study.optimize(nested, n_trials=2, catch=())
    assert len(study.trials) == 2
    study.optimize(lambda t: 1.0, n_trials=1)  # usable after both errors


def test_callbacks_skip_the_trial_whose_exception_escapes():
    study = pipetune.create_study()
    states = []
    callbacks = [lambda study, trial: states.append(trial.state)]
    study.optimize(lambda t: 1 / 0, callbacks=callbacks, n_trials=3, catch=(ZeroDivisionError,))
    assert states == [TrialState.FAIL] * 3
    states.clear()
    with pytest.raises(ZeroDivisionError):
        study.optimize(lambda t: 1 / 0, callbacks=callbacks, n_trials=3)
    assert states == []


def test_enqueued_value_outside_the_space_warns():
    study = pipetune.create_study()
    study.enqueue_trial({"x": 11})
    with pytest.warns(UserWarning):
        study.optimize(lambda trial: trial.suggest_int("x", -10, 10), n_trials=1)
    assert -10 <= study.trials[0].params["x"] <= 10  # resampled: see docs/migrating.md


# -- distributions ----------------------------------------------------------------------------


def test_distribution_functions_and_printing():
    from pipetune import distributions

    for distribution in (FloatDistribution(0.001, 100.0, log=True),
                         IntDistribution(1, 9, step=2), CategoricalDistribution(["a", None])):
        assert isinstance(distribution, distributions.BaseDistribution)
        text = distributions.distribution_to_json(distribution)
        assert distributions.json_to_distribution(text) == distribution
        assert eval("distributions." + repr(distribution)) == distribution
    assert repr(FloatDistribution(0, 1)) == \
        "FloatDistribution(high=1.0, log=False, low=0.0, step=None)"
    old = '{"name": "UniformDistribution", "attributes": {"low": 0.0, "high": 1.0}}'
    assert distributions.json_to_distribution(old) == FloatDistribution(0, 1)
    distributions.check_distribution_compatibility(FloatDistribution(0, 1),
                                                   FloatDistribution(-3, 3))
    with pytest.raises(ValueError):
        distributions.check_distribution_compatibility(FloatDistribution(0, 1),
                                                       IntDistribution(0, 1))
    with pytest.raises(ValueError):
        distributions.check_distribution_compatibility(CategoricalDistribution(["a"]),
                                                       CategoricalDistribution(["b"]))
    ints = IntDistribution(1, 10)
    assert ints.to_external_repr(ints.to_internal_repr("4")) == 4
    with pytest.raises(ValueError):
        ints.to_internal_repr("foo")
    with pytest.warns(FutureWarning):
        assert distributions.IntUniformDistribution(0, 10, step=2) == IntDistribution(0, 10,
                                                                                      step=2)


def test_optuna_2_suggest_spellings_warn_nothing():
    study = pipetune.create_study()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        study.optimize(lambda t: t.suggest_uniform("a", 0, 1) + t.suggest_loguniform("b", 1, 2)
                       + t.suggest_discrete_uniform("c", 0, 1, 0.5), n_trials=2)
    assert all(math.isfinite(t.value) for t in study.trials)
