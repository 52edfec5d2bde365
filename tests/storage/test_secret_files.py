"""Credentials read from files, as containers mount secrets: the token of a remote storage
from ``$PIPETUNE_TOKEN_FILE``, a PostgreSQL password from ``?password_file=``. Neither then
appears in an environment variable, a command line or a URL that is shown."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

import pipetune
from pipetune.errors import ConfigError, StorageURLError
from pipetune.storage import TOKEN_ENV, TOKEN_FILE_ENV, remote_token
from pipetune.storage.remote import RemoteStorage


@pytest.fixture
def clean_token_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    monkeypatch.delenv(TOKEN_ENV, raising=False)
    monkeypatch.delenv(TOKEN_FILE_ENV, raising=False)
    return monkeypatch


def test_the_token_comes_from_the_file_the_variable_names(tmp_path: Path,
                                                         clean_token_env) -> None:
    secret = tmp_path / "pipetune_token"
    secret.write_text("s3cr3t-token\n")  # as `echo token > file` writes it
    clean_token_env.setenv(TOKEN_FILE_ENV, str(secret))
    assert remote_token() == "s3cr3t-token"
    url = "http://127.0.0.1:9/token-file-test"
    storage = pipetune.storage.get_storage(url)
    try:
        assert isinstance(storage, RemoteStorage) and storage._token == "s3cr3t-token"
    finally:
        pipetune.storage._open_storages.pop(url, None)


def test_without_either_variable_there_is_no_token(clean_token_env) -> None:
    assert remote_token() is None
    clean_token_env.setenv(TOKEN_ENV, "plain")
    assert remote_token() == "plain"


@pytest.mark.parametrize(("text", "message"), [
    ("write abc\nread def\n", "must hold one bare token"),
    ("\n", "holds 0 words"),
])
def test_a_token_file_of_anything_but_one_token_is_refused(tmp_path: Path, clean_token_env,
                                                          text: str, message: str) -> None:
    secret = tmp_path / "tokens"
    secret.write_text(text)
    clean_token_env.setenv(TOKEN_FILE_ENV, str(secret))
    with pytest.raises(ConfigError, match=message):
        remote_token()


def test_a_missing_token_file_or_two_tokens_are_refused(tmp_path: Path, clean_token_env) -> None:
    clean_token_env.setenv(TOKEN_FILE_ENV, str(tmp_path / "absent"))
    with pytest.raises(ConfigError, match="Cannot read the token file"):
        remote_token()
    (tmp_path / "present").write_text("abc")
    clean_token_env.setenv(TOKEN_FILE_ENV, str(tmp_path / "present"))
    clean_token_env.setenv(TOKEN_ENV, "other")
    with pytest.raises(ConfigError, match="Both"):
        remote_token()


def test_the_postgresql_password_comes_from_its_file(tmp_path: Path, postgres_url: str) -> None:
    from pipetune.storage.sql import SQLStorage

    secret = tmp_path / "postgres_password"
    secret.write_text("pw-from-file\n")
    storage = SQLStorage(f"{postgres_url}?password_file={secret}")
    try:
        assert storage.engine.url.password == "pw-from-file"  # the driver gets it
        assert "pw-from-file" not in storage.url
        # Another process (a Ray task) re-opens it by reading the file, as this one did.
        again = make_url(storage.connect_url())
        assert again.password is None and again.query["password_file"] == str(secret)
        study_id = storage.create_study("by-password-file", [pipetune.StudyDirection.MINIMIZE])
        assert storage.get_study_id("by-password-file") == study_id
    finally:
        storage.close()


@pytest.mark.parametrize(("url", "message"), [
    ("postgresql://u:given@h/db?password_file={file}", "a password and a password_file"),
    ("postgresql://u@h/db?password_file={missing}", "Cannot read the password_file"),
    ("postgresql://u@h/db?password_file={empty}", "is empty"),
    ("sqlite:///{folder}/x.db?password_file={file}", "SQLite takes no password"),
])
def test_a_password_file_that_cannot_serve_is_refused(tmp_path: Path, url: str,
                                                      message: str) -> None:
    from pipetune.storage.sql import SQLStorage

    (tmp_path / "file").write_text("pw")
    (tmp_path / "empty").write_text("\n")
    url = url.format(file=tmp_path / "file", missing=tmp_path / "missing",
                     empty=tmp_path / "empty", folder=tmp_path)
    with pytest.raises(StorageURLError, match=message):
        SQLStorage(url)
