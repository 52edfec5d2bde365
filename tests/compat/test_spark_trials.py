"""Hyperopt's ``SparkTrials`` on the test session's local Spark (``local[2]``): the driver
suggests, each trial runs as a Spark task, results come back through the storage, and inside
``mlflow.start_run()`` every trial is a nested child run."""

from __future__ import annotations

import os
import pickle
import time

import numpy as np
import pytest
from availability import require_installed

import pipetune
from pipetune.compat.hyperopt import (
    STATUS_OK,
    AllTrialsFailed,
    SparkTrials,
    fmin,
    hp,
    rand,
    tpe,
)
from pipetune.errors import InvalidArgumentError


@pytest.fixture
def spark():
    from local_spark import spark_session

    return spark_session()


@pytest.fixture
def mlflow(tmp_path, monkeypatch):
    """``mlflow`` tracking to a SQLite file in ``tmp_path`` (its artifacts there too)."""
    require_installed("mlflow", extra="mlflow")
    import mlflow

    monkeypatch.chdir(tmp_path)  # MLflow puts default artifact folders in the working folder
    previous = mlflow.get_tracking_uri()
    mlflow.set_tracking_uri(f"sqlite:///{tmp_path / 'mlflow.db'}")
    mlflow.set_experiment("sparktrials")
    yield mlflow
    mlflow.set_tracking_uri(previous)


def test_spark_trials_runs_max_evals_exactly_as_mlflow_child_runs(spark, mlflow,
                                                                  capsys) -> None:
    space = {"max_depth": hp.randint("max_depth", 2, 9),
             "model": hp.choice("model", [
                 {"kind": "tree"},
                 {"kind": "forest", "n_estimators": hp.randint("n_estimators", 10, 50)}])}

    def objective(params: dict) -> dict:
        time.sleep(0.2)  # long enough for the two tasks to overlap
        return {"loss": abs(params["max_depth"] - 6) + (params["model"]["kind"] == "forest"),
                "status": STATUS_OK, "pid": os.getpid(), "started": time.time()}

    trials = SparkTrials(parallelism=2)
    with mlflow.start_run(run_name="search") as parent:
        best = fmin(objective, space, algo=tpe.suggest, max_evals=8, trials=trials,
                    points_to_evaluate=[{"max_depth": 6, "model": 0}],
                    rstate=np.random.default_rng(0))

    assert len(trials) == 8  # max_evals exactly, never more with trials in flight
    shown = capsys.readouterr().err  # the progress bar, as fmin shows it without Spark
    assert "8/8" in shown and "best_loss=0" in shown
    assert trials.statuses() == ["ok"] * 8
    assert best == {"max_depth": 6, "model": 0}
    assert all(r["pid"] != os.getpid() for r in trials.results)  # evaluated on executors
    # From the storage, as another process sees them: every result came back through it.
    stored = pipetune.load_study(study_name="hyperopt", storage=trials._storage).trials
    assert [t.state.name for t in stored] == ["COMPLETE"] * 8
    assert [t.value for t in stored] == trials.losses()
    assert any(a.datetime_start < b.datetime_complete and b.datetime_start < a.datetime_complete
               for a in stored for b in stored if a is not b)  # two at a time

    children = mlflow.search_runs(filter_string="params.max_depth = '6'")
    sixes = [t for t in stored if t.params["max_depth"] == 6]
    assert len(children) == len(sixes) >= 1
    assert set(children["tags.mlflow.parentRunId"]) == {parent.info.run_id}
    every = mlflow.search_runs(filter_string=f"tags.mlflow.parentRunId = '{parent.info.run_id}'")
    assert len(every) == 8


def test_spark_trials_keeps_going_past_a_failing_objective_and_honours_its_timeout(
        tmp_path, spark) -> None:
    def objective(x: float) -> float:
        if x > 0.5:
            raise ValueError(f"x={x} is too large")
        return x

    trials = SparkTrials(parallelism=2, storage=f"sqlite:///{tmp_path / 't.db'}",
                         study_name="failing")
    fmin(objective, hp.uniform("x", 0, 1), algo=rand.suggest, max_evals=8, trials=trials,
         rstate=np.random.default_rng(1))
    assert len(trials) == 8
    assert "fail" in trials.statuses() and "ok" in trials.statuses()  # it went on
    failed = [t for t in trials.trials if t["result"]["status"] == "fail"]
    assert all("too large" in str(t["result"].get("failure")) for t in failed)
    assert pickle.loads(pickle.dumps(trials)).losses() == trials.losses()

    def slow(x: float) -> float:
        time.sleep(30)
        return x

    timed = SparkTrials(parallelism=2, timeout=3)
    started = time.monotonic()
    with pytest.raises(AllTrialsFailed):
        fmin(slow, hp.uniform("x", 0, 1), algo=rand.suggest, max_evals=100, trials=timed)
    assert time.monotonic() - started < 20  # cancelled, not waited for
    states = [t.state.name for t in timed.study.trials]
    assert len(states) >= 2 and set(states) == {"FAIL"}  # running, or suggested ahead
    assert all("cancelled" in t.system_attrs["fail_reason"] for t in timed.study.trials)


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"parallelism": 0}, "'parallelism'"),
    ({"parallelism": 2.5}, "'parallelism'"),
    ({"timeout": -1}, "'timeout'"),
    ({"loss_threshold": "low"}, "'loss_threshold'"),
])
def test_spark_trials_rejects_bad_arguments(kwargs, match) -> None:
    with pytest.raises(InvalidArgumentError, match=match):
        SparkTrials(**kwargs)
