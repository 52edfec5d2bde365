"""Study: create / load / delete / list, directions, best trials, ask / tell, enqueue_trial and
trials_dataframe, in memory and in a SQLite file."""

from __future__ import annotations

import dataclasses
import math
import warnings

import numpy as np
import pytest
from availability import require_installed

import pipetune
from pipetune import StudyDirection, TrialState
from pipetune.errors import (
    DuplicateStudyError,
    InvalidArgumentError,
    StorageError,
    StudyNotFoundError,
)
from pipetune.samplers import RandomSampler

# -- create / load / delete / list --------------------------------------------------------------


def test_create_load_list_delete(storage):
    a = pipetune.create_study(storage=storage, study_name="a", direction="maximize")
    a.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=3)
    pipetune.create_study(storage=storage, study_name="b", directions=["minimize", "maximize"])

    assert pipetune.get_all_study_names(storage) == ["a", "b"]
    summaries = {s.study_name: s for s in pipetune.list_studies(storage)}
    assert summaries["a"].n_trials == 3 and summaries["a"].direction == StudyDirection.MAXIMIZE
    assert summaries["a"].best_trial.values[0] == max(t.values[0] for t in a.trials)
    assert summaries["b"].directions == (StudyDirection.MINIMIZE, StudyDirection.MAXIMIZE)
    assert summaries["b"].n_trials == 0 and summaries["b"].best_trial is None

    loaded = pipetune.load_study(study_name="a", storage=storage)
    assert loaded.direction == StudyDirection.MAXIMIZE
    assert [t.params for t in loaded.trials] == [t.params for t in a.trials]
    assert loaded.best_trial.number == a.best_trial.number

    pipetune.delete_study(study_name="a", storage=storage)
    assert pipetune.get_all_study_names(storage) == ["b"]
    with pytest.raises(StudyNotFoundError):
        pipetune.load_study(study_name="a", storage=storage)
    # The name is free again.
    again = pipetune.create_study(storage=storage, study_name="a")
    assert again.trials == []


def test_load_study_without_a_name(storage):
    pipetune.create_study(storage=storage, study_name="only")
    assert pipetune.load_study(study_name=None, storage=storage).study_name == "only"
    pipetune.create_study(storage=storage, study_name="second")
    with pytest.raises(InvalidArgumentError, match="Name the study"):
        pipetune.load_study(study_name=None, storage=storage)


def test_duplicate_name_and_load_if_exists(storage):
    first = pipetune.create_study(storage=storage, study_name="dup")
    first.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=2)
    with pytest.raises(DuplicateStudyError, match="load_if_exists=True") as info:
        pipetune.create_study(storage=storage, study_name="dup")
    assert "'dup'" in str(info.value)
    same = pipetune.create_study(storage=storage, study_name="dup", load_if_exists=True)
    assert len(same.trials) == 2
    with pytest.raises(InvalidArgumentError, match="directions"):
        pipetune.create_study(storage=storage, study_name="dup", direction="maximize",
                              load_if_exists=True)


def test_study_not_found_message_names_study_and_fix(storage):
    pipetune.create_study(study_name="other", storage=storage)
    with pytest.raises(StudyNotFoundError) as info:
        pipetune.load_study(study_name="missing", storage=storage)
    message = str(info.value)
    assert "'missing'" in message and "create_study" in message
    assert not message.startswith('"')  # not KeyError's quoted repr
    with pytest.raises(KeyError):  # also a KeyError, as Python code expects
        pipetune.delete_study(study_name="missing", storage=storage)


def test_reading_a_sqlite_file_that_does_not_exist_names_it_and_creates_nothing(
        sqlite_url, tmp_path):
    path, url = tmp_path / "pipetune.db", sqlite_url
    for read in (lambda: pipetune.load_study(study_name="s", storage=url),
                 lambda: pipetune.load_study(study_name=None, storage=url),
                 lambda: pipetune.list_studies(url),
                 lambda: pipetune.get_all_study_names(url),
                 lambda: pipetune.list_experiments(url),
                 lambda: pipetune.delete_study(study_name="s", storage=url)):
        with pytest.raises(StorageError, match=r"the SQLite file '.*pipetune\.db' does not exist") \
                as info:
            read()
        assert not isinstance(info.value, KeyError)  # not "no such study": no such file
        assert not path.exists()
    # Creating a study is what makes the file; then it reads as any storage.
    pipetune.create_study(study_name="s", storage=url)
    assert path.exists()
    assert pipetune.load_study(study_name="s", storage=url).study_name == "s"


def test_generated_names_are_unique():
    storage = pipetune.InMemoryStorage()
    names = {pipetune.create_study(storage=storage).study_name for _ in range(5)}
    assert len(names) == 5


@pytest.mark.parametrize("kwargs", [
    {"direction": "minimize", "directions": ["minimize"]},
    {"direction": "up"},
    {"direction": 1.5},
    {"directions": []},
    {"directions": "minimize"},
    {"directions": ["minimize", "sideways"]},
    {"study_name": ""},
    {"study_name": 42},
])
def test_bad_create_arguments(kwargs):
    with pytest.raises(InvalidArgumentError):
        pipetune.create_study(**kwargs)


def test_direction_spellings():
    assert pipetune.create_study(direction="MAXIMIZE").direction == StudyDirection.MAXIMIZE
    maximize = StudyDirection.MAXIMIZE
    assert pipetune.create_study(direction=maximize).direction == maximize
    assert pipetune.create_study().direction == StudyDirection.MINIMIZE
    multi = pipetune.create_study(directions=["minimize", "maximize"])
    assert multi.is_multi_objective
    with pytest.raises(RuntimeError, match="directions"):  # as Optuna's
        _ = multi.direction


@pytest.mark.parametrize("bad", [{"sampler": "random"}, {"pruner": object()}])
def test_sampler_and_pruner_types_are_checked(bad):
    with pytest.raises(InvalidArgumentError):
        pipetune.create_study(**bad)


# -- best trial(s) ------------------------------------------------------------------------------


@pytest.mark.parametrize(("direction", "pick"), [("minimize", min), ("maximize", max)])
def test_best_trial_value_and_params(storage, direction, pick):
    study = pipetune.create_study(storage=storage, direction=direction,
                                  sampler=RandomSampler(seed=3))
    with pytest.raises(InvalidArgumentError, match="no COMPLETE trial"):
        _ = study.best_trial
    study.optimize(lambda t: (t.suggest_float("x", -3, 3) - 1) ** 2, n_trials=25)
    pruned = study.ask()
    pruned.report(-100.0 if direction == "minimize" else 100.0, 0)
    study.tell(pruned, state=TrialState.PRUNED)  # a PRUNED value never counts as best
    complete = study.get_trials(states=[TrialState.COMPLETE])
    best = pick(complete, key=lambda t: t.value)
    assert study.best_trial.number == best.number
    assert study.best_value == best.value
    assert study.best_params == best.params
    # A reloaded study agrees.
    reloaded = pipetune.load_study(study_name=study.study_name, storage=storage)
    assert reloaded.best_trial.number == best.number


def test_best_trials_is_the_pareto_front(storage):
    study = pipetune.create_study(storage=storage, directions=["minimize", "maximize"])
    points = [(1.0, 1.0), (2.0, 3.0), (3.0, 2.0), (0.5, 0.5), (2.0, 2.0), (4.0, 4.0)]
    for point in points:
        study.tell(study.ask(), point)
    front = {t.values for t in study.best_trials}
    # (3, 2) is beaten by (2, 3); (2, 2) by (2, 3); (1, 1) and (0.5, 0.5) trade off; (4, 4)
    # beats (2, 3) on the second objective only.
    assert front == {(0.5, 0.5), (1.0, 1.0), (2.0, 3.0), (4.0, 4.0)}
    assert [t.number for t in study.best_trials] == sorted(t.number for t in study.best_trials)
    with pytest.raises(RuntimeError, match="best_trials"):  # as Optuna's
        _ = study.best_trial


# -- ask / tell ---------------------------------------------------------------------------------


def test_ask_tell_values(storage):
    study = pipetune.create_study(storage=storage)
    trial = study.ask()
    x = trial.suggest_float("x", 0, 1)
    frozen = study.tell(trial, x * 2)
    assert frozen.state == TrialState.COMPLETE and frozen.value == x * 2
    stored = study.trials[0]
    assert stored.state == TrialState.COMPLETE and stored.value == x * 2
    assert stored.params == {"x": x} and stored.datetime_complete is not None
    # tell by trial number works too
    other = study.ask()
    study.tell(other.number, 5)
    assert study.trials[1].value == 5.0


def test_tell_takes_value_and_values_keywords(storage):
    study = pipetune.create_study(storage=storage)
    study.tell(study.ask(), value=0.25)
    study.tell(study.ask(), values=0.5, state="complete")
    assert [t.value for t in study.trials] == [0.25, 0.5]
    trial = study.ask()
    with pytest.raises(InvalidArgumentError, match="both value= and values="):
        study.tell(trial, 1.0, value=2.0)
    with pytest.warns(UserWarning, match="Trial 2 failed.*NaN"):
        study.tell(trial, value=math.nan)  # a NaN through value= fails like through values=
    assert study.trials[2].state == TrialState.FAIL
    assert "NaN" in study.trials[2].system_attrs["fail_reason"]


def test_tell_pruned_keeps_last_intermediate_value(storage):
    study = pipetune.create_study(storage=storage)
    trial = study.ask()
    trial.report(3.0, 0)
    trial.report(2.0, 5)
    trial.report(2.5, 2)
    study.tell(trial, state=TrialState.PRUNED)
    stored = study.trials[0]
    assert stored.state == TrialState.PRUNED and stored.value == 2.0  # step 5 is the last
    silent = study.ask()
    study.tell(silent, state="pruned")
    assert study.trials[1].state == TrialState.PRUNED and study.trials[1].values is None


def test_tell_fail(storage):
    study = pipetune.create_study(storage=storage)
    trial = study.ask()
    study.tell(trial, state=TrialState.FAIL)
    assert study.trials[0].state == TrialState.FAIL and study.trials[0].values is None
    with pytest.raises(InvalidArgumentError, match="no values"):
        study.tell(study.ask(), 1.0, state=TrialState.FAIL)
    with pytest.raises(InvalidArgumentError, match="COMPLETE, PRUNED or FAIL"):
        study.tell(study.ask(), state=TrialState.WAITING)


def test_tell_twice(storage):
    study = pipetune.create_study(storage=storage)
    trial = study.ask()
    study.tell(trial, 1.0)
    with pytest.raises(InvalidArgumentError, match="skip_if_finished"):  # a ValueError
        study.tell(trial, 2.0)
    with pytest.raises(InvalidArgumentError, match="skip_if_finished"):  # by number too
        study.tell(trial.number, 2.0)
    again = study.tell(trial, 2.0, skip_if_finished=True)
    assert again.value == 1.0
    assert study.trials[0].value == 1.0


@pytest.mark.parametrize(("values", "reason"), [
    (float("nan"), "NaN"),
    ("0.5", "str"),
    (None, "NoneType"),
    ([1.0, 2.0], "2 values"),
    ((), "0 values"),
    ({"loss": 1.0}, "dict"),
])
def test_tell_bad_values_fails_with_a_reason(storage, values, reason):
    study = pipetune.create_study(storage=storage)
    trial = study.ask()
    with pytest.warns(UserWarning, match=f"Trial 0 failed.*{reason}"):
        frozen = study.tell(trial, values)
    assert frozen.state == TrialState.FAIL
    stored = study.trials[0]
    assert stored.state == TrialState.FAIL and stored.values is None
    assert reason in stored.system_attrs["fail_reason"]
    # the study is still usable
    study.tell(study.ask(), 1.0)
    assert study.best_value == 1.0


def test_tell_wrong_count_for_multi_objective(storage):
    study = pipetune.create_study(storage=storage, directions=["minimize", "minimize"])
    with pytest.warns(UserWarning, match="1 values"):
        study.tell(study.ask(), 1.0)
    study.tell(study.ask(), [1.0, math.inf])
    assert study.trials[0].state == TrialState.FAIL
    assert "1 values" in study.trials[0].system_attrs["fail_reason"]
    assert study.trials[1].state == TrialState.COMPLETE


def test_tell_accepts_numpy_scalars(storage):
    study = pipetune.create_study(storage=storage)
    study.tell(study.ask(), np.float32(0.5))
    assert study.trials[0].value == 0.5 and type(study.trials[0].value) is float


# -- enqueue_trial ------------------------------------------------------------------------------


def test_enqueued_params_are_taken_and_the_sampler_fills_the_rest(storage):
    study = pipetune.create_study(storage=storage, sampler=RandomSampler(seed=1))
    study.enqueue_trial({"x": 0.25, "n": 7}, user_attrs={"source": "expert"})
    study.enqueue_trial({"n": 3})

    def objective(trial):
        return trial.suggest_float("x", 0, 1) + trial.suggest_int("n", 0, 10) + \
            trial.suggest_float("y", 0, 1)

    study.optimize(objective, n_trials=3)
    first, second, third = study.trials
    assert first.params["x"] == 0.25 and first.params["n"] == 7 and 0 <= first.params["y"] <= 1
    assert first.user_attrs == {"source": "expert"}
    assert second.params["n"] == 3 and set(second.params) == {"x", "n", "y"}
    assert third.state == TrialState.COMPLETE
    assert all(t.state == TrialState.COMPLETE for t in study.trials)


def test_enqueue_skip_if_exists(storage):
    study = pipetune.create_study(storage=storage)
    study.enqueue_trial({"x": 0.5})
    study.enqueue_trial({"x": 0.5}, skip_if_exists=True)
    assert len(study.trials) == 1
    study.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=1)
    study.enqueue_trial({"x": 0.5}, skip_if_exists=True)  # already ran
    study.enqueue_trial({"x": 0.75}, skip_if_exists=True)
    assert len(study.trials) == 2 and study.trials[1].state == TrialState.WAITING


def test_enqueued_value_outside_the_domain_is_warned_about_and_resampled(storage):
    study = pipetune.create_study(storage=storage)
    study.enqueue_trial({"x": 5.0, "kind": "svm", "n": 3})
    with pytest.warns(UserWarning, match="outside its domain") as caught:
        study.optimize(lambda t: t.suggest_float("x", 0, 1) + t.suggest_int("n", 0, 9)
                       + (t.suggest_categorical("kind", ["rf", "knn"]) == "rf"), n_trials=1)
    assert sorted(str(w.message).split(" is ")[0] for w in caught) == [
        "The enqueued value 'svm' of 'kind'", "The enqueued value 5.0 of 'x'"]
    stored = study.trials[0]
    assert stored.state == TrialState.COMPLETE
    assert 0 <= stored.params["x"] <= 1 and stored.params["kind"] in ("rf", "knn")
    assert stored.params["n"] == 3  # the enqueued values inside their domains are kept


def test_enqueue_trial_rejects_non_dicts():
    study = pipetune.create_study()
    with pytest.raises(InvalidArgumentError, match="dict"):
        study.enqueue_trial([("x", 1)])


def test_an_enqueued_param_the_objective_never_suggests_is_warned_about(storage):
    study = pipetune.create_study(storage=storage)

    def objective(trial):
        return trial.suggest_float("lr", 0, 1) + trial.suggest_int("n", 0, 9)

    study.enqueue_trial({"learnig_rate": 0.1, "n": 3})  # misspelt: silently ignored before
    with pytest.warns(UserWarning, match=r"\['learnig_rate'\].*never suggested.*"
                                         r"\['lr', 'n'\].*ignored.*spelling"):
        study.optimize(objective, n_trials=1)
    assert study.trials[0].params["n"] == 3
    study.enqueue_trial({"lr": 0.5})
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # every enqueued param used: nothing to say
        study.optimize(objective, n_trials=1)


# -- trials_dataframe ---------------------------------------------------------------------------


def test_trials_dataframe_columns(storage):
    require_installed("pandas", extra="pandas")
    import pandas as pd

    study = pipetune.create_study(storage=storage)

    def objective(trial):
        trial.set_user_attr("fold", trial.number % 2)
        return trial.suggest_float("x", 0, 1) + trial.suggest_int("n", 1, 3)

    study.optimize(objective, n_trials=4)
    frame = study.trials_dataframe()
    assert list(frame.columns) == ["number", "value", "datetime_start", "datetime_complete",
                                   "duration", "params_n", "params_x", "user_attrs_fold",
                                   "state"]
    assert list(frame["number"]) == [0, 1, 2, 3]
    assert list(frame["state"]) == ["COMPLETE"] * 4
    assert frame["value"].tolist() == [t.value for t in study.trials]
    assert pd.api.types.is_datetime64_any_dtype(frame["datetime_start"])
    assert pd.api.types.is_timedelta64_dtype(frame["duration"])
    assert (frame["duration"] >= pd.Timedelta(0)).all()
    assert frame["user_attrs_fold"].tolist() == [0, 1, 0, 1]


def test_trials_dataframe_multi_objective(storage):
    require_installed("pandas", extra="pandas")
    study = pipetune.create_study(storage=storage, directions=["minimize", "maximize"])
    study.optimize(lambda t: (t.suggest_float("x", 0, 1), 2.0), n_trials=3)
    frame = study.trials_dataframe()
    assert {"values_0", "values_1"} <= set(frame.columns) and "value" not in frame.columns
    assert frame["values_1"].tolist() == [2.0] * 3


def test_trials_dataframe_empty_and_unknown_attrs():
    require_installed("pandas", extra="pandas")
    study = pipetune.create_study()
    assert study.trials_dataframe().empty
    with pytest.raises(InvalidArgumentError, match="attrs"):
        study.trials_dataframe(attrs=("number", "colour"))


def test_pruned_trials_keep_their_learning_curve_in_the_dataframe(storage):
    study = pipetune.create_study(storage=storage, sampler=RandomSampler(seed=0))

    def objective(trial):
        x = trial.suggest_float("x", 0, 1)
        for step in range(12):
            trial.report(x + 1.0 / (step + 1), step)
        if x > 0.5:
            raise pipetune.TrialPruned()
        return x

    study.optimize(objective, n_trials=8)
    frame = study.trials_dataframe(attrs=("number", "value", "state", "intermediate_values"))
    steps = [c for c in frame.columns if c.startswith("intermediate_values_")]
    assert steps == [f"intermediate_values_{i}" for i in range(12)]  # numeric order
    pruned = frame[frame.state == "PRUNED"]
    assert len(pruned) > 0
    # A pruned trial's value is its last reported one.
    assert (pruned["value"] == pruned["intermediate_values_11"]).all()


# -- add_trial / copy_study ---------------------------------------------------------------------


def test_add_trial_stores_the_trial_whole(storage):
    source = pipetune.create_study(storage=storage, sampler=RandomSampler(seed=0))

    def objective(trial):
        x = trial.suggest_float("x", 0, 1)
        trial.report(x / 2, 0)
        trial.set_user_attr("fold", trial.number)
        if trial.number == 1:
            raise pipetune.TrialPruned()
        return x

    source.optimize(objective, n_trials=3)
    source.enqueue_trial({"x": 0.5})
    target = pipetune.create_study(storage=storage)
    target.add_trials(source.trials)
    fields = ("number", "state", "values", "params", "distributions", "user_attrs",
              "intermediate_values", "datetime_start", "datetime_complete")
    for copied, original in zip(target.trials, source.trials, strict=True):
        for name in fields:
            assert getattr(copied, name) == getattr(original, name), name
    target.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=1)  # the WAITING one runs
    assert target.trials[3].params == {"x": 0.5}
    with pytest.raises(InvalidArgumentError, match="COMPLETE trial needs"):
        target.add_trial(dataclasses.replace(source.trials[0], values=None))
    assert len(target.trials) == 4  # nothing half-written


def test_copy_study_keeps_attrs_and_trials(storage, tmp_path):
    source = pipetune.create_study(storage=storage, study_name="from", direction="maximize",
                                   experiment="taxi")
    source.set_user_attr("owner", "ops")
    source.optimize(lambda t: t.suggest_int("n", 0, 9), n_trials=3)
    pipetune.copy_study(from_study_name="from", from_storage=storage,
                        to_storage=f"sqlite:///{tmp_path / 'copy.db'}", to_study_name="to")
    copied = pipetune.load_study(study_name="to", storage=f"sqlite:///{tmp_path / 'copy.db'}")
    assert copied.direction == StudyDirection.MAXIMIZE and copied.user_attrs == {"owner": "ops"}
    assert copied.system_attrs["experiment"] == "taxi"
    assert [(t.params, t.value) for t in copied.trials] == \
        [(t.params, t.value) for t in source.trials]
    assert copied.best_trial.number == source.best_trial.number


@pytest.mark.parametrize(("values", "n_queued"), [
    (["foo", "foo"], 1), ([1, 1], 1), ([100000, 100001], 2), ([1.1, 1.1], 1),
    ([math.inf, math.inf], 1), ([math.nan, math.nan], 1), ([None, None], 1),
    ([0.0, math.nan], 2)])
def test_enqueue_skip_if_exists_matches_equal_values_nan_included(values, n_queued):
    study = pipetune.create_study()
    for value in values:
        study.enqueue_trial({"x": value}, skip_if_exists=True)
    assert len(study.trials) == n_queued


def test_enqueue_skip_if_exists_needs_the_same_params():
    study = pipetune.create_study()
    study.enqueue_trial({"x": -5, "y": 5})
    for params in ({"x": -5}, {"x": -5, "y": 5, "z": 5}, {"x": -5, "y": 6}):
        study.enqueue_trial(params, skip_if_exists=True)
    study.enqueue_trial({"y": 5, "x": -5}, skip_if_exists=True)  # the same params
    assert [t.system_attrs["fixed_params"] for t in study.trials] == [
        {"x": -5, "y": 5}, {"x": -5}, {"x": -5, "y": 5, "z": 5}, {"x": -5, "y": 6}]
