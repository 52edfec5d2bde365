"""Experiments group studies and runs; a study records what an MLflow parent run does."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
from availability import unavailable

import pipetune
from pipetune.datatypes import ExperimentSummary
from pipetune.environment import git_state
from pipetune.errors import InvalidArgumentError


def test_experiments_group_studies_and_runs() -> None:
    storage = pipetune.InMemoryStorage()
    pipetune.create_study(storage=storage, study_name="tpe", experiment="dc-taxi")
    pipetune.create_study(storage=storage, study_name="random", experiment="dc-taxi")
    pipetune.create_study(storage=storage, study_name="scratch")
    pipetune.start_run(experiment="dc-taxi", name="final", storage=storage).end()
    assert pipetune.list_experiments(storage) == [
        ExperimentSummary("dc-taxi", n_studies=2, n_runs=1,
                          study_names=("tpe", "random", "final")),
        ExperimentSummary("default", n_studies=1, n_runs=0, study_names=("scratch",))]
    assert [s.study_name for s in pipetune.list_studies(storage, experiment="dc-taxi")] == [
        "tpe", "random", "final"]
    assert [s.study_name for s in pipetune.list_studies(storage)] == [
        "tpe", "random", "scratch", "final"]
    assert pipetune.list_studies(storage, experiment="nothing") == []
    with pytest.raises(InvalidArgumentError, match="experiment"):
        pipetune.create_study(storage=storage, experiment="")


def test_optimize_records_settings_budget_and_environment() -> None:
    study = pipetune.create_study(
        sampler=pipetune.samplers.TPESampler(seed=7, n_startup_trials=5),
        pruner=pipetune.pruners.MedianPruner())
    study.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=2, timeout=60)
    attrs = study.system_attrs
    assert attrs["sampler"]["class"].endswith("TPESampler")
    assert attrs["sampler"]["seed"] == 7
    assert attrs["sampler"]["settings"]["n_startup_trials"] == 5
    assert attrs["pruner"]["class"].endswith("MedianPruner")
    run = attrs["optimize"]
    assert (run["n_trials"], run["timeout"], run["n_jobs"]) == (2, 60, 1)
    assert run["started"] <= run["ended"]
    environment = attrs["environment"]
    assert environment["host"] and environment["pid"] == os.getpid()
    assert environment["command"] and environment["cwd"] == os.getcwd()
    assert "numpy" in environment["packages"] and "sqlalchemy" in environment["packages"]


def test_git_commit_and_dirty_flag_of_the_working_folder(tmp_path: Path) -> None:
    assert git_state(str(tmp_path)) == (None, None)  # not a repository
    if shutil.which("git") is None:
        unavailable("git is not installed.")
    git = ["git", "-c", "user.email=t@example.com", "-c", "user.name=t"]
    subprocess.run([*git, "init", "-q"], cwd=tmp_path, check=True)
    (tmp_path / "train.py").write_text("print(1)\n")
    subprocess.run([*git, "add", "."], cwd=tmp_path, check=True)
    subprocess.run([*git, "commit", "-q", "-m", "first"], cwd=tmp_path, check=True)
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=tmp_path, capture_output=True,
                          text=True, check=True).stdout.strip()
    assert git_state(str(tmp_path)) == (head, False)
    (tmp_path / "train.py").write_text("print(2)\n")
    assert git_state(str(tmp_path)) == (head, True)
