"""``pipetune import optuna``: studies that real Optuna (the version installed with the test
extra, 5.x) writes in the test, to SQLite, PostgreSQL and a journal file, copied into pipetune
storages with every trial, param, distribution, value, intermediate value, state, datetime and
attr; and copied once however often the import runs. Files of older Optuna versions are not
generated here: that would need another Optuna, downloaded."""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any

import pytest

import pipetune
from pipetune._attrs import IMPORTED_FROM_ATTR, OPTUNA_NUMBER_ATTR
from pipetune.cli import main
from pipetune.compat.optuna_import import import_optuna
from pipetune.errors import DuplicateStudyError, InvalidArgumentError, StorageURLError
from pipetune.storage import get_storage, sql_url
from pipetune.storage.sql import SQLStorage

optuna = pytest.importorskip("optuna")
optuna.logging.set_verbosity(optuna.logging.ERROR)
JournalFileBackend = optuna.storages.journal.JournalFileBackend


def _write_studies(storage: Any) -> None:
    """What the copies are checked against: a pruned, failed, running and enqueued trial
    among complete ones, intermediate values (NaN among them), attrs, metric names, every kind
    of distribution; and a two-objective study."""
    study = optuna.create_study(study_name="single", storage=storage,
                                sampler=optuna.samplers.RandomSampler(seed=0),
                                pruner=optuna.pruners.MedianPruner(n_startup_trials=2))
    study.set_user_attr("owner", {"team": "vision", "ids": [1, 2]})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        study.set_metric_names(["loss"])

    def objective(trial: Any) -> float:
        x = trial.suggest_float("x", -5, 5)
        lr = trial.suggest_float("lr", 1e-5, 1e-1, log=True)
        depth = trial.suggest_int("depth", 1, 9, step=2)
        kind = trial.suggest_categorical("kind", ["a", None, 3, 1.5, True])
        trial.set_user_attr("kind_seen", str(kind))
        if trial.number == 4:
            raise ValueError("boom")
        for step in range(4):
            trial.report(float("nan") if step == 1 and trial.number == 0 else x * x + step,
                         step)
            if trial.should_prune():
                raise optuna.TrialPruned()
        return x * x + lr + depth

    study.optimize(objective, n_trials=12, catch=(ValueError,))
    running = study.ask()
    running.suggest_int("units", 8, 64, log=True)
    study.enqueue_trial({"x": 1.0, "depth": 3}, user_attrs={"why": "hand-picked"})
    multi = optuna.create_study(study_name="multi", storage=storage,
                                directions=["minimize", "maximize"])
    multi.optimize(lambda t: (t.suggest_float("a", 0, 1), t.suggest_float("b", 0, 1) ** 2),
                   n_trials=6)
    assert {t.state.name for t in study.trials} == {"COMPLETE", "PRUNED", "FAIL", "RUNNING",
                                                    "WAITING"}


def _check_copies(source: Any, target: pipetune.storage.BaseStorage) -> None:
    """Every study and trial of the Optuna storage ``source`` is in ``target`` as it is there."""
    for optuna_study in source.get_all_studies():
        study_id = target.get_study_id(optuna_study.study_name)
        assert [d.name for d in target.get_study_directions(study_id)] == [
            d.name for d in optuna_study.directions]
        assert target.get_study_attrs(study_id) == optuna_study.user_attrs
        assert target.get_study_attrs(study_id, system=True) == {
            **optuna_study.system_attrs, IMPORTED_FROM_ATTR: "optuna"}
        expected = source.get_all_trials(source.get_study_id_from_name(optuna_study.study_name))
        copies = target.get_trials(study_id)
        assert [c.number for c in copies] == [t.number for t in expected]
        for want, got in zip(expected, copies):
            assert got.state.name == want.state.name
            assert got.values == (None if want.values is None else tuple(want.values))
            assert got.params == want.params
            assert {n: repr(d) for n, d in got.distributions.items()} == {
                n: repr(d) for n, d in want.distributions.items()}
            assert json.dumps(got.intermediate_values) == json.dumps(want.intermediate_values)
            assert got.user_attrs == want.user_attrs
            assert got.system_attrs == {**want.system_attrs, OPTUNA_NUMBER_ATTR: want.number}
            assert (got.datetime_start, got.datetime_complete) == (want.datetime_start,
                                                                   want.datetime_complete)


@pytest.fixture
def target(tmp_path: Path) -> pipetune.storage.BaseStorage:
    return SQLStorage(f"sqlite:///{tmp_path / 'pipetune.db'}")


def test_a_sqlite_database_is_copied_whole(tmp_path: Path, target: Any) -> None:
    url = f"sqlite:///{tmp_path / 'optuna.db'}"
    _write_studies(url)
    done = import_optuna(url, target)
    assert [(s.study_name, s.n_trials, s.n_added) for s in done] == [
        ("single", 14, 14), ("multi", 6, 6)]
    _check_copies(optuna.storages.RDBStorage(url), target)
    # The copy runs on: the enqueued trial comes first, with its params.
    study = pipetune.load_study(study_name="single", storage=target)
    study.optimize(lambda trial: trial.suggest_float("x", -5, 5) + trial.suggest_int(
        "depth", 1, 9, step=2), n_trials=1)
    assert study.trials[13].params == {"x": 1.0, "depth": 3}
    assert study.trials[13].state.name == "COMPLETE"


def test_a_postgresql_database_is_copied_whole(postgres_url: str, target: Any) -> None:
    _write_studies(sql_url(postgres_url))  # Optuna's default driver, psycopg2, is not installed
    import_optuna(postgres_url, target)
    _check_copies(optuna.storages.RDBStorage(sql_url(postgres_url)), target)


@pytest.mark.parametrize("spelling", ["path", "url"])
def test_a_journal_file_is_copied_whole(tmp_path: Path, target: Any,
                                        monkeypatch: pytest.MonkeyPatch, spelling: str) -> None:
    monkeypatch.chdir(tmp_path)
    _write_studies(optuna.storages.JournalStorage(JournalFileBackend("optuna.log")))
    import_optuna("optuna.log" if spelling == "path" else "journal:///optuna.log", target)
    _check_copies(optuna.storages.JournalStorage(JournalFileBackend("optuna.log")), target)


def test_importing_again_adds_only_what_is_new(tmp_path: Path, target: Any) -> None:
    url = f"sqlite:///{tmp_path / 'optuna.db'}"
    _write_studies(url)
    import_optuna(url, target)
    again = import_optuna(url, target)
    assert [s.n_added for s in again] == [0, 0]
    assert target.count_trials(target.get_study_id("single")) == 14
    optuna.load_study(study_name="multi", storage=url).optimize(
        lambda t: (t.suggest_float("a", 0, 1), 0.5), n_trials=2)
    (multi,) = import_optuna(url, target, study_name="multi")
    assert (multi.n_trials, multi.n_added) == (8, 2)
    _check_copies(optuna.storages.RDBStorage(url), target)


def test_an_interrupted_import_is_completed_by_the_next(tmp_path: Path, target: Any,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    url = f"sqlite:///{tmp_path / 'optuna.db'}"
    _write_studies(url)
    add_trial = target.add_trial
    calls = []

    def failing_add_trial(study_id: int, trial: Any) -> Any:
        calls.append(trial.number)
        if len(calls) == 5:
            raise KeyboardInterrupt  # the user stopped it
        return add_trial(study_id, trial)

    monkeypatch.setattr(target, "add_trial", failing_add_trial)
    with pytest.raises(KeyboardInterrupt):
        import_optuna(url, target)
    monkeypatch.undo()
    assert target.count_trials(target.get_study_id("single")) == 4
    done = import_optuna(url, target)
    assert [s.n_added for s in done] == [10, 6]
    _check_copies(optuna.storages.RDBStorage(url), target)


def test_the_command_copies_into_the_storage_it_is_given(tmp_path: Path,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    optuna_db = tmp_path / "optuna.db"
    _write_studies(f"sqlite:///{optuna_db}")
    to = f"sqlite:///{tmp_path / 'copy.db'}"
    assert main(["import", "optuna", "--from", str(optuna_db), "--study", "multi", "--to", to,
                 "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out) == [
        {"study_name": "multi", "n_trials": 6, "added": 6}]
    assert [s.study_name for s in get_storage(to).list_studies()] == ["multi"]
    assert main(["import", "optuna", "--from", str(tmp_path / "missing.db"), "--to", to]) == 2
    assert "No file at" in capsys.readouterr().err


def test_mistakes_are_named(tmp_path: Path, target: Any) -> None:
    url = f"sqlite:///{tmp_path / 'optuna.db'}"
    _write_studies(url)
    with pytest.raises(InvalidArgumentError, match="No Optuna study named 'nope'.*multi"):
        import_optuna(url, target, study_name="nope")
    target.create_study("multi", [pipetune.StudyDirection.MINIMIZE])
    with pytest.raises(DuplicateStudyError, match="not imported from Optuna"):
        import_optuna(url, target, study_name="multi")
    with pytest.raises(StorageURLError, match="No Optuna database"):
        import_optuna(f"sqlite:///{tmp_path / 'absent.db'}", target)
    pipetune_db = tmp_path / "pipetune-own.db"
    pipetune.create_study(study_name="x", storage=f"sqlite:///{pipetune_db}")
    with pytest.raises(StorageURLError, match="Optuna 3.0 or later"):
        import_optuna(str(pipetune_db), target)
