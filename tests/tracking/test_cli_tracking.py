"""``pipetune trials --filter/--order-by/--limit`` and ``pipetune experiments``."""

from __future__ import annotations

import json

import pytest

import pipetune
from pipetune.cli import main


@pytest.fixture
def url(sqlite_url: str) -> str:
    study = pipetune.create_study(storage=sqlite_url, study_name="taxi", experiment="dc-taxi")
    for lr in (0.001, 0.05, 0.2):
        study.enqueue_trial({"lr": lr})

    def objective(trial: pipetune.Trial) -> float:
        lr = trial.suggest_float("lr", 1e-4, 1.0, log=True)
        trial.log_metric("val_rmse", 10 * lr)
        return lr

    study.optimize(objective, n_trials=3)
    pipetune.start_run(experiment="dc-taxi", name="final", storage=sqlite_url).end()
    return sqlite_url


def test_trials_filtered_ordered_and_limited(url: str, capsys: pytest.CaptureFixture) -> None:
    assert main(["trials", "taxi", "--storage", url, "--format", "json", "--filter",
                 "params.lr > 0.01 and metrics.val_rmse < 3 and state = COMPLETE",
                 "--order-by=-value", "--limit", "5"]) == 0
    assert [r["number"] for r in json.loads(capsys.readouterr().out)] == [2, 1]
    assert main(["trials", "taxi", "--storage", url, "--format", "json", "--order-by",
                 "value desc", "--limit", "1"]) == 0
    assert [r["number"] for r in json.loads(capsys.readouterr().out)] == [2]


def test_a_bad_filter_is_one_error_with_its_column(url: str,
                                                   capsys: pytest.CaptureFixture) -> None:
    assert main(["trials", "taxi", "--storage", url, "--filter", "params.lr >> 1"]) == 2
    error = capsys.readouterr().err
    assert error.startswith("error: ") and "(column 12)" in error and "^" in error


def test_experiments_lists_studies_and_runs(url: str, capsys: pytest.CaptureFixture) -> None:
    assert main(["experiments", "--storage", url, "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out) == [
        {"experiment": "dc-taxi", "n_studies": 1, "n_runs": 1, "studies": ["taxi", "final"]}]
