"""The Spark backend: trials run as Spark tasks on the test session's local Spark
(``local[2]`` on 127.0.0.1), reporting and pruning through a SQLite file the driver and the
executors share."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from availability import require_installed

import pipetune
from pipetune import TrialState
from pipetune.errors import InvalidArgumentError
from pipetune.pruners import MedianPruner
from pipetune.samplers import RandomSampler

N_STEPS = 10


@pytest.fixture
def spark():
    from local_spark import spark_session

    return spark_session()


def test_spark_backend_runs_a_pruned_study(tmp_path, spark) -> None:
    storage = f"sqlite:///{tmp_path / 'spark.db'}"
    study = pipetune.create_study(storage=storage, study_name="spark-pruned",
                                  sampler=RandomSampler(seed=3),
                                  pruner=MedianPruner(n_startup_trials=2, n_warmup_steps=1))

    def objective(trial: pipetune.Trial) -> float:
        from pyspark import TaskContext

        x = trial.suggest_float("x", -1.0, 1.0)
        trial.set_user_attr("pid", os.getpid())
        trial.set_user_attr("in_spark_task", TaskContext.get() is not None)
        for step in range(N_STEPS):
            trial.report(x * x + 1.0 / (step + 1), step)
            if trial.should_prune():
                raise pipetune.TrialPruned()
        return x * x

    result = study.optimize(objective, n_trials=12, n_jobs=2, backend="spark")

    assert result.n_trials == 12
    trials = pipetune.load_study(study_name="spark-pruned", storage=storage).trials
    assert sorted(t.number for t in trials) == list(range(12))
    states = [t.state for t in trials]
    assert set(states) <= {TrialState.COMPLETE, TrialState.PRUNED}
    assert states.count(TrialState.PRUNED) > 0
    for t in trials:
        assert t.user_attrs["pid"] != os.getpid()  # the objective ran in an executor's Python
        assert t.user_attrs["in_spark_task"] is True
        if t.state == TrialState.PRUNED:
            assert 0 < len(t.intermediate_values) < N_STEPS
        else:
            assert sorted(t.intermediate_values) == list(range(N_STEPS))
            assert t.value == pytest.approx(t.params["x"] ** 2)
    assert study.best_value == min(t.value for t in trials if t.state == TrialState.COMPLETE)
    assert spark.sparkContext._jsc is not None  # a session the caller owns stays up


def test_spark_backend_fails_trials_raises_the_objectives_error_and_cancels_on_ctrl_c(
        tmp_path, spark) -> None:
    study = pipetune.create_study(storage=f"sqlite:///{tmp_path / 'spark.db'}",
                                  sampler=RandomSampler(seed=0))

    def objective(trial: pipetune.Trial) -> float:
        x = trial.suggest_int("x", 0, 9)
        if trial.number % 2:
            raise ValueError(f"odd trial {trial.number}")
        return float(x)

    study.optimize(objective, n_trials=4, n_jobs=2, backend="spark", catch=(ValueError,))
    trials = study.trials
    assert [t.state for t in trials] == [TrialState.COMPLETE, TrialState.FAIL] * 2
    assert trials[1].system_attrs["fail_reason"] == "ValueError: odd trial 1"
    assert "raise ValueError" in trials[1].system_attrs["traceback"]

    with pytest.raises(ValueError, match="odd trial 5"):
        study.optimize(objective, n_trials=4, n_jobs=1, backend="spark")
    assert [t.state for t in study.trials][4:] == [TrialState.COMPLETE, TrialState.FAIL]

    def slow(trial: pipetune.Trial) -> float:
        x = trial.suggest_float("x", 0.0, 1.0)
        if trial.number == 7:
            time.sleep(60)
        return x

    def ctrl_c(study: pipetune.Study, trial: pipetune.FrozenTrial) -> None:
        raise KeyboardInterrupt  # as a Ctrl-C while trial 7 runs would

    started = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        study.optimize(slow, n_trials=2, n_jobs=2, backend="spark", callbacks=[ctrl_c])
    first, second = study.trials[6:]
    assert first.state == TrialState.COMPLETE
    assert second.state == TrialState.FAIL  # not left RUNNING
    assert second.system_attrs["fail_reason"].startswith("KeyboardInterrupt")
    # Its Spark job was cancelled: the next run gets both slots well before the sleep ends.
    study.optimize(lambda t: t.suggest_float("x", 0.0, 1.0), n_trials=2, n_jobs=2,
                   backend="spark")
    assert time.monotonic() - started < 50
    assert [t.state for t in study.trials][8:] == [TrialState.COMPLETE] * 2


STUDY_YAML = """\
study: s
command: [python, train.py]
params:
  x: {type: float, low: 0.0, high: 1.0}
objective: {metric: loss, regex: 'loss=([0-9.eE+-]+)'}
intermediate: {metric: loss, regex: 'epoch=(?P<step>\\d+) loss=(?P<value>[0-9.eE+-]+)'}
sampler: {name: random, seed: 0}
pruner: {name: median, n_startup_trials: 2}
max_trials: 4
"""

SCRIPT = """\
import os, sys
x = float(sys.argv[sys.argv.index("--x") + 1])
print(f"launched by {os.getppid()}", flush=True)
for epoch in range(1, 4):
    print(f"epoch={epoch} loss={(x - 0.3) ** 2 + 1.0 / epoch:.6f}", flush=True)
"""


def test_tune_with_backend_spark_launches_each_trial_from_a_spark_task(
        tmp_path, spark, capsys, monkeypatch) -> None:
    from pipetune.cli import main

    (tmp_path / "train.py").write_text(SCRIPT)
    (tmp_path / "study.yaml").write_text(STUDY_YAML)
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("PIPETUNE_STORAGE", raising=False)
    url = f"sqlite:///{tmp_path / 'tune.db'}"
    code = main(["tune", "study.yaml", "--storage", url, "--parallel", "2",
                 "--backend", "spark"])
    out, err = capsys.readouterr()
    assert code == 0, err
    trials = pipetune.load_study(study_name="s", storage=url).trials
    assert len(trials) == 4 and all(t.state.name in ("COMPLETE", "PRUNED") for t in trials)
    for trial in trials:
        log = Path(trial.system_attrs["log_file"]).read_text()
        assert "launched by " in log
        assert f"launched by {os.getpid()}" not in log  # by an executor's Python, not this one
    assert "Ran 4 trial(s) of study 's'" in out


LOCAL_RUN = """\
import os, sys
import pipetune
from pyspark import SparkContext

study = pipetune.create_study(storage=sys.argv[1], study_name="own")
study.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=4, n_jobs=2, backend="spark")
assert len(study.trials) == 4, study.trials
assert SparkContext._active_spark_context is None, "the Spark it started is stopped"
assert "PYSPARK_PYTHON" not in os.environ and "SPARK_LOCAL_IP" not in os.environ
assert "ray" not in sys.modules, "Spark users need no Ray"
print("ok")
"""


def test_without_a_session_the_backend_runs_on_a_local_spark_it_stops(tmp_path) -> None:
    from local_spark import require_spark

    require_spark()
    env = {key: value for key, value in os.environ.items()
           if key not in ("PYSPARK_PYTHON", "SPARK_LOCAL_IP")}
    done = subprocess.run([sys.executable, "-c", LOCAL_RUN, f"sqlite:///{tmp_path / 'own.db'}"],
                          capture_output=True, text=True, timeout=240, env=env)
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr[-3000:]


@pytest.mark.parametrize("storage", [None, "sqlite://"])
def test_spark_backend_refuses_in_memory_storage(storage) -> None:
    study = pipetune.create_study(storage=storage)
    with pytest.raises(InvalidArgumentError, match=r"backend='spark'.*in-memory storage"):
        study.optimize(lambda t: 0.0, n_trials=1, backend="spark")
    assert study.trials == []


def test_spark_backend_takes_no_resources_per_trial(tmp_path) -> None:
    study = pipetune.create_study(storage=f"sqlite:///{tmp_path / 'spark.db'}")
    with pytest.raises(InvalidArgumentError, match="applies to backend='ray' only"):
        study.optimize(lambda t: 0.0, n_trials=1, backend="spark",
                       resources_per_trial={"cpu": 1})
    with pytest.raises(InvalidArgumentError, match="'thread', 'ray' or 'spark'"):
        study.optimize(lambda t: 0.0, n_trials=1, backend="dask")


def test_a_missing_pyspark_is_named_with_its_extra(tmp_path, monkeypatch) -> None:
    require_installed("pyspark", extra="spark")  # hidden below; the real one must exist
    monkeypatch.setitem(sys.modules, "pyspark", None)
    monkeypatch.setitem(sys.modules, "pyspark.cloudpickle", None)
    study = pipetune.create_study(storage=f"sqlite:///{tmp_path / 'spark.db'}")
    with pytest.raises(ImportError, match=r"pip install 'pipetune\[spark\]'"):
        study.optimize(lambda t: 0.0, n_trials=1, backend="spark")
    assert study.trials == []
