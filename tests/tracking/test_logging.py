"""The logging API of trials and standalone runs, read back through the study, on the memory,
SQLite and PostgreSQL storages; a launched script's log kept as an artifact."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from availability import require_installed

import pipetune
from pipetune.errors import (
    ArtifactNotFoundError,
    FilterSyntaxError,
    InvalidArgumentError,
    ParamConflictError,
)
from pipetune.storage import BaseStorage, InMemoryStorage
from pipetune.storage.sql import SQLStorage

SCRIPTS = Path(__file__).parent.parent / "launch" / "scripts"


@pytest.fixture(params=["memory", "sqlite", "postgresql"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[BaseStorage]:
    if request.param == "memory":
        storage: BaseStorage = InMemoryStorage()
    elif request.param == "sqlite":
        storage = SQLStorage(request.getfixturevalue("sqlite_url"))
    else:
        storage = SQLStorage(request.getfixturevalue("postgres_empty_url"),
                             artifact_root=tmp_path / "artifacts")
    yield storage
    storage.close()


def objective(trial: pipetune.Trial) -> float:
    lr = trial.suggest_float("lr", 1e-3, 1.0, log=True)
    optimizer = trial.suggest_categorical("optimizer", ["adam", "sgd"])
    for epoch in range(4):
        trial.log_metric("train_loss", lr / (epoch + 1))  # steps 0, 1, 2, 3
        trial.log_metrics({"val_rmse": 2 * lr / (epoch + 1), "epoch_time": 0.5}, step=10 * epoch)
    trial.log_text(f"optimizer: {optimizer}\n", "notes.txt")
    return lr


def test_trial_logging_round_trips(backend: BaseStorage, tmp_path: Path) -> None:
    require_installed("plotly", extra="plot")
    import plotly.graph_objects as plotly

    study = pipetune.create_study(storage=backend, sampler=pipetune.samplers.RandomSampler(seed=0))
    study.optimize(objective, n_trials=3)
    trial = study.ask()
    weights = tmp_path / "weights.bin"
    weights.write_bytes(b"\x00\x01" * 1000)
    assert trial.log_artifact(weights).name == "weights.bin"
    trial.log_artifact(weights, name="models/best.bin")
    trial.log_figure(plotly.Figure(plotly.Scatter(x=[0, 1], y=[2, 3])), "curve")
    trial.log_metric("val_rmse", 0.125, step=3)
    study.tell(trial, 0.0625)

    first = study.trials[0]
    history = study.metric_history(first, "train_loss")
    assert [p.step for p in history] == [0, 1, 2, 3]
    lr = first.params["lr"]
    assert [p.value for p in history] == pytest.approx([lr / k for k in (1, 2, 3, 4)])
    assert [p.step for p in study.metric_history(0, "val_rmse")] == [0, 10, 20, 30]
    assert {p.name for p in study.metric_history(0)} == {"train_loss", "val_rmse", "epoch_time"}
    last = study.last_metrics()
    assert last[0]["val_rmse"] == pytest.approx(2 * first.params["lr"] / 4)
    assert last[3] == {"val_rmse": 0.125}
    notes = study.read_artifact(0, "notes.txt").decode()
    assert notes == f"optimizer: {first.params['optimizer']}\n"
    assert [a.name for a in study.list_artifacts(3)] == ["curve.json", "models/best.bin",
                                                        "weights.bin"]
    figure = json.loads(study.read_artifact(3, "curve.json"))
    assert figure["data"][0]["y"] == [2, 3]
    assert study.read_artifact(3, "models/best.bin") == weights.read_bytes()
    with pytest.raises(ArtifactNotFoundError):
        study.read_artifact(3, "absent.bin")
    found = study.search("metrics.val_rmse < 1 and state = COMPLETE", order_by="-value")
    assert [t.number for t in found] == sorted(
        (t.number for t in study.trials if last.get(t.number, {}).get("val_rmse", 9) < 1),
        key=lambda n: -study.trials[n].value)


class CountingStorage(InMemoryStorage):
    def __init__(self) -> None:
        super().__init__()
        self.metric_writes = 0

    def add_trial_metrics(self, trial_id, points) -> None:
        self.metric_writes += 1
        super().add_trial_metrics(trial_id, points)


def test_metric_points_are_written_in_batches_before_the_result() -> None:
    storage = CountingStorage()
    study = pipetune.create_study(storage=storage)
    trial = study.ask()
    for step in range(3000):
        trial.log_metric("loss", 1.0 / (step + 1))
    study.tell(trial, 1.0)
    assert len(study.metric_history(0)) == 3000  # all stored once the result is
    assert storage.metric_writes < 3000 / 10


def test_logging_mistakes_are_refused_with_the_fix(tmp_path: Path) -> None:
    study = pipetune.create_study()
    trial = study.ask()
    with pytest.raises(InvalidArgumentError, match="must be a number"):
        trial.log_metric("loss", "low")
    with pytest.raises(InvalidArgumentError, match="non-empty string"):
        trial.log_metric("", 1.0)
    with pytest.raises(InvalidArgumentError, match="int >= 0"):
        trial.log_metric("loss", 1.0, step=-1)
    with pytest.raises(InvalidArgumentError, match="dict"):
        trial.log_metrics([("loss", 1.0)])
    with pytest.raises(InvalidArgumentError, match="a directory"):
        trial.log_artifact(tmp_path)
    with pytest.raises(InvalidArgumentError, match="plotly or matplotlib"):
        trial.log_figure(object(), "fig")
    with pytest.raises(FilterSyntaxError, match="column 9"):
        study.search("value < 'low'")
    with pytest.raises(InvalidArgumentError, match="limit"):
        study.search(limit=-1)


def test_standalone_run_logs_like_a_trial(backend: BaseStorage) -> None:
    with pipetune.start_run(experiment="dc-taxi", name="final-model", storage=backend) as run:
        run.log_params({"max_depth": 6, "eta": 0.3, "booster": "gbtree", "early_stop": True})
        run.log_metric("rmse", 3.1)
        run.log_metric("rmse", 2.9)
        run.set_user_attr("note", "trained on all data")
        run.log_text("done", "report.txt")
    study = pipetune.load_study(study_name="final-model", storage=backend)
    (stored,) = study.trials
    assert stored.state == pipetune.TrialState.COMPLETE and stored.values is None
    assert stored.params == {"max_depth": 6, "eta": 0.3, "booster": "gbtree", "early_stop": True}
    assert study.last_metrics() == {0: {"rmse": 2.9}}
    assert study.read_artifact(0, "report.txt") == b"done"
    assert [t.number for t in study.search("params.max_depth = 6 and params.booster = 'gbtree'")
            ] == [0]
    assert study.system_attrs["kind"] == "run" and study.system_attrs["experiment"] == "dc-taxi"
    run = pipetune.start_run(storage=backend)
    run.log_param("x", 1)
    with pytest.raises(ParamConflictError):
        run.log_param("x", "one")


def test_a_run_given_no_storage_is_kept_where_the_pipetune_command_looks(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, sqlite_url: str) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("PIPETUNE_STORAGE", raising=False)
    with pipetune.start_run(experiment="dc-taxi", name="final") as run:
        run.log_metric("rmse", 2.9)
    assert (tmp_path / "pipetune.db").exists()  # the default of every pipetune command
    (experiment,) = pipetune.list_experiments(sqlite_url)
    assert experiment.name == "dc-taxi" and experiment.study_names == ("final",)
    # $PIPETUNE_STORAGE, when set, is that default, for runs too.
    other = f"sqlite:///{tmp_path / 'other.db'}"
    monkeypatch.setenv("PIPETUNE_STORAGE", other)
    pipetune.start_run(name="elsewhere").end()
    assert [s.study_name for s in pipetune.list_studies(other)] == ["elsewhere"]


def test_a_run_started_again_under_a_taken_name_gets_the_next_free_one() -> None:
    storage = InMemoryStorage()
    names = [pipetune.start_run(storage=storage, name="final").name for _ in range(3)]
    assert names == ["final", "final-2", "final-3"]
    pipetune.create_study(storage=storage, study_name="baseline")  # a study's name, too
    assert pipetune.start_run(storage=storage, name="baseline").name == "baseline-2"


def test_a_run_that_raises_ends_failed() -> None:
    storage = InMemoryStorage()
    with pytest.raises(RuntimeError), pipetune.start_run(storage=storage, name="crash") as run:
        run.log_metric("loss", 1.0)
        raise RuntimeError("out of memory")
    (trial,) = pipetune.load_study(study_name="crash", storage=storage).trials
    assert trial.state == pipetune.TrialState.FAIL
    assert run.end().state == pipetune.TrialState.FAIL  # ending again changes nothing


def test_a_run_reads_its_value_in_the_directions_given() -> None:
    storage = InMemoryStorage()
    run = pipetune.start_run(storage=storage, name="accuracy", directions=["maximize"])
    run.end(0.9)
    study = pipetune.load_study(study_name="accuracy", storage=storage)
    assert study.direction == pipetune.StudyDirection.MAXIMIZE and study.best_value == 0.9


def test_a_launched_scripts_log_is_an_artifact(sqlite_url: str, tmp_path: Path) -> None:
    from pipetune.launch import LaunchSpec, MetricSpec, ScriptObjective
    from pipetune.space import SearchSpace

    launch = LaunchSpec((sys.executable, str(SCRIPTS / "train.py")),
                        MetricSpec("loss", r"final_loss=([0-9.eE+-]+)"),
                        log_dir=str(tmp_path / "logs"))
    space = SearchSpace.from_dict({"x": {"type": "float", "low": 0.5, "high": 2.0}})
    study = pipetune.create_study(storage=sqlite_url)
    study.optimize(ScriptObjective(space, launch), n_trials=1)
    (info,) = [a for a in study.list_artifacts(0) if a.name == "output.log"]
    assert info.media_type == "text/plain"
    log = Path(study.trials[0].system_attrs["log_file"]).read_bytes()
    assert study.read_artifact(0, "output.log") == log and b"final_loss=" in log
