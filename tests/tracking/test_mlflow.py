"""The MLflow export against a real MLflow with a local SQLite tracking store: a study is a
parent run, each trial a nested child run found by MLflow's own search; exporting again, or
after the live callback, adds nothing."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from availability import require_installed

import pipetune

require_installed("mlflow", extra="mlflow")

import mlflow  # noqa: E402
from mlflow.tracking import MlflowClient  # noqa: E402

from pipetune.integrations.mlflow import MLflowCallback, export_study  # noqa: E402


@pytest.fixture(scope="module")
def tracking_uri(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    folder = tmp_path_factory.mktemp("mlflow")
    previous = os.getcwd()
    os.chdir(folder)  # MLflow puts default artifact folders in the working folder
    try:
        yield f"sqlite:///{folder / 'mlflow.db'}"
    finally:
        os.chdir(previous)


def objective(trial: pipetune.Trial) -> float:
    lr = trial.suggest_categorical("lr", [0.1, 0.01])
    depth = trial.suggest_int("max_depth", 2, 8)
    for epoch in range(3):
        trial.report(lr * (3 - epoch), epoch)
        trial.log_metric("val_rmse", 10 * lr / (epoch + 1))
    trial.log_text(f"depth {depth}", "reports/summary.txt")
    trial.set_user_attr("note", {"depth": depth})
    if lr == 0.01 and depth > 100:
        raise pipetune.TrialPruned()
    return lr * depth


def make_study(name: str) -> pipetune.Study:
    study = pipetune.create_study(study_name=name, experiment=f"exp-{name}")
    study.enqueue_trial({"lr": 0.1, "max_depth": 6})
    study.enqueue_trial({"lr": 0.01, "max_depth": 3})
    return study


def runs(uri: str, experiment: str, filter_string: str = "") -> list:
    client = MlflowClient(tracking_uri=uri)
    found = client.get_experiment_by_name(experiment)
    return list(client.search_runs([found.experiment_id], filter_string)) if found else []


def test_export_nests_trials_under_the_study_and_is_idempotent(tracking_uri: str,
                                                                 tmp_path: Path) -> None:
    study = make_study("export")
    study.optimize(objective, n_trials=2)
    failing = study.ask()
    failing.suggest_int("max_depth", 2, 8)
    study.tell(failing, state="FAIL")

    parent_id = export_study(study, tracking_uri=tracking_uri)
    mlflow.set_tracking_uri(tracking_uri)
    frame = mlflow.search_runs(experiment_names=["exp-export"],
                               filter_string="params.lr = '0.1'")
    assert len(frame) == 1
    (child,) = runs(tracking_uri, "exp-export", "params.lr = '0.1'")
    assert child.data.tags["mlflow.parentRunId"] == parent_id
    assert child.data.tags["pipetune.state"] == "COMPLETE" and child.info.status == "FINISHED"
    assert child.data.params == {"lr": "0.1", "max_depth": "6"}
    assert child.data.metrics["value"] == pytest.approx(0.6)
    assert child.data.tags["user_attrs.note"] == '{"depth": 6}'
    client = MlflowClient(tracking_uri=tracking_uri)
    steps = client.get_metric_history(child.info.run_id, "intermediate_value")
    assert [(m.step, m.value) for m in steps] == [(0, pytest.approx(0.3)), (1, pytest.approx(0.2)),
                                                  (2, pytest.approx(0.1))]
    assert len(client.get_metric_history(child.info.run_id, "val_rmse")) == 3
    (folder,) = client.list_artifacts(child.info.run_id)
    (summary,) = client.list_artifacts(child.info.run_id, folder.path)
    assert summary.path == "reports/summary.txt"
    local = client.download_artifacts(child.info.run_id, summary.path, str(tmp_path))
    assert Path(local).read_text() == "depth 6"

    parent = client.get_run(parent_id)
    assert parent.data.tags["pipetune.role"] == "study" and parent.info.run_name == "export"
    assert parent.data.metrics["best_value"] == pytest.approx(0.03)
    assert parent.data.params["sampler"] == "AutoSampler"
    all_runs = runs(tracking_uri, "exp-export")
    assert len(all_runs) == 4  # the parent and three trials
    (failed,) = runs(tracking_uri, "exp-export", "tags.\"pipetune.state\" = 'FAIL'")
    assert failed.info.status == "FAILED"

    assert export_study(study, tracking_uri=tracking_uri) == parent_id
    assert sorted(r.info.run_id for r in runs(tracking_uri, "exp-export")) == sorted(
        r.info.run_id for r in all_runs)


def test_the_callback_logs_live_and_a_later_export_adds_nothing(tracking_uri: str) -> None:
    study = make_study("live")
    study.optimize(objective, n_trials=3,
                   callbacks=[MLflowCallback(tracking_uri=tracking_uri,
                                             experiment_name="live-mlflow")])
    logged = runs(tracking_uri, "live-mlflow")
    parents = [r for r in logged if r.data.tags.get("pipetune.role") == "study"]
    children = [r for r in logged if r.data.tags.get("pipetune.role") == "trial"]
    assert len(parents) == 1 and len(children) == 3
    assert {r.data.tags["mlflow.parentRunId"] for r in children} == {parents[0].info.run_id}
    assert parents[0].info.status == "FINISHED"
    export_study(study, tracking_uri=tracking_uri, experiment_name="live-mlflow")
    assert len(runs(tracking_uri, "live-mlflow")) == 4


def test_the_export_command(tracking_uri: str, sqlite_url: str,
                            capsys: pytest.CaptureFixture) -> None:
    from pipetune.cli import main

    study = pipetune.create_study(storage=sqlite_url, study_name="cli", experiment="exp-cli")
    study.optimize(objective, n_trials=2)
    command = ["export", "mlflow", "cli", "--storage", sqlite_url, "--tracking-uri", tracking_uri]
    assert main(command) == 0
    assert "Exported study 'cli' (2 trial(s))" in capsys.readouterr().out
    assert main(command) == 0
    assert len(runs(tracking_uri, "exp-cli")) == 3
