"""What a study records about the process that ran it keeps no secret: anyone who may read the
study (a read token of ``pipetune server``) reads the record."""

from __future__ import annotations

import json
import sys

import pytest

import pipetune
from pipetune import environment as env
from pipetune._attrs import ENVIRONMENT_ATTR
from pipetune.environment import mask_secrets


@pytest.mark.parametrize(("argv", "stored"), [
    (["--storage", "postgresql://tuner:s3cret@db:5432/studies"],
     ["--storage", "postgresql://tuner:***@db:5432/studies"]),
    (["--storage=postgresql+psycopg://u:p@ss/w0rd@db/x?sslmode=require"],
     ["--storage=postgresql+psycopg://u:***@db/x?sslmode=require"]),
    (["train.py", "--db", "mysql://root:pw@localhost/x", "--epochs", "3"],
     ["train.py", "--db", "mysql://root:***@localhost/x", "--epochs", "3"]),
    (["--token", "abc123", "--n-trials", "5"], ["--token", "***", "--n-trials", "5"]),
    (["--token=abc123", "--api-key", "k", "--API_KEY=k", "--auth-token=t"],
     ["--token=***", "--api-key", "***", "--API_KEY=***", "--auth-token=***"]),
    (["PGPASSWORD=hunter2", "db.password=x", "AWS_SECRET_ACCESS_KEY=y", "--secret", "z"],
     ["PGPASSWORD=***", "db.password=***", "AWS_SECRET_ACCESS_KEY=***", "--secret", "***"]),
])
def test_credentials_in_a_command_line_are_masked(argv: list[str], stored: list[str]) -> None:
    assert mask_secrets(argv) == stored


@pytest.mark.parametrize("argv", [
    ["--token-file", "tokens.txt", "--storage", "sqlite:///pipetune.db"],
    ["--storage", "http://manager:8080", "--email", "a@b.example", "PWD=/home/me"],
    ["https://user@host/x", "--password"],  # no password given; nothing follows the flag
])
def test_what_is_no_secret_is_kept(argv: list[str]) -> None:
    assert mask_secrets(argv) == argv


def test_the_stored_environment_holds_no_password(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "argv", ["tune.py", "--storage",
                                      "postgresql://tuner:s3cret@db/studies", "--token", "t0k"])
    env._process_environment.cache_clear()
    try:
        study = pipetune.create_study()
        study.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=1)
        record = study.system_attrs[ENVIRONMENT_ATTR]
    finally:
        env._process_environment.cache_clear()
    assert record["command"][1:] == ["tune.py", "--storage", "postgresql://tuner:***@db/studies",
                                     "--token", "***"]
    assert "s3cret" not in json.dumps(study.system_attrs)
    assert "t0k" not in json.dumps(study.system_attrs)
