"""The journal storage beyond the contract: several processes on one file, replay in a new
process, what a dead writer leaves behind (a half-written line, a held lock), and files that are
not pipetune journals."""

from __future__ import annotations

import json
import os
import pickle
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

import pipetune
from pipetune.datatypes import StudyDirection, TrialState
from pipetune.distributions import FloatDistribution
from pipetune.errors import StorageError, StorageURLError
from pipetune.storage import get_storage
from pipetune.storage.journal import (
    JournalFileBackend,
    JournalFileOpenLock,
    JournalFileSymlinkLock,
    JournalStorage,
)

pytestmark = pytest.mark.timeout(240)

WORKER = r'''
import os
import sys

import pipetune

url, n_trials = sys.argv[1], int(sys.argv[2])
study = pipetune.create_study(study_name="shared", storage=url, load_if_exists=True,
                              sampler=pipetune.samplers.RandomSampler())

def objective(trial):
    x = trial.suggest_float("x", -5.0, 5.0)
    trial.report(x, step=0)
    trial.set_user_attr("pid", os.getpid())
    return x * x

study.optimize(objective, n_trials=n_trials)
'''


def test_processes_sharing_one_journal_lose_nothing_and_never_share_a_number(
        tmp_path: Path) -> None:
    url = f"journal:///{tmp_path / 'shared.log'}"
    pipetune.create_study(study_name="shared", storage=url)
    workers = [subprocess.Popen([sys.executable, "-c", WORKER, url, "15"],
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
               for _ in range(3)]
    outputs = [worker.communicate(timeout=200)[0].decode() for worker in workers]
    assert all(worker.returncode == 0 for worker in workers), outputs
    trials = JournalStorage(tmp_path / "shared.log").get_trials(0)
    assert [t.number for t in trials] == list(range(45))
    assert all(t.state == TrialState.COMPLETE and t.intermediate_values == {0: t.params["x"]}
               for t in trials)
    assert len({t.user_attrs["pid"] for t in trials}) == 3


def test_a_second_opener_replays_the_same_ids_dates_and_values(tmp_path: Path) -> None:
    first = JournalStorage(tmp_path / "j.log")
    study_id = first.create_study("s", [StudyDirection.MAXIMIZE])
    trial = first.claim_trial(study_id, worker="w:1")
    first.set_trial_params(trial.trial_id, {"x": (0.5, FloatDistribution(0.0, 1.0))})
    first.set_trial_intermediate_value(trial.trial_id, 3, 0.75)
    first.finish_trial(trial.trial_id, TrialState.COMPLETE, [2.5])
    second = JournalStorage(tmp_path / "j.log")
    assert second.get_trials(study_id) == first.get_trials(study_id)
    assert second.list_studies() == first.list_studies()
    # Each keeps up with the other's later writes by reading only what was appended.
    waiting = second.create_trial(study_id)
    assert first.get_trial(waiting.trial_id) == waiting


def test_a_line_left_half_written_is_ignored_then_cut_by_the_next_writer(
        tmp_path: Path) -> None:
    path = tmp_path / "j.log"
    storage = JournalStorage(path)
    study_id = storage.create_study("s", [StudyDirection.MINIMIZE])
    with open(path, "ab") as handle:  # a writer died in the middle of its line
        handle.write(b'{"t": 1.0, "op": "create_stu')
    reader = JournalStorage(path)
    assert reader.get_study_name(study_id) == "s"
    reader.create_study("t", [StudyDirection.MINIMIZE])
    assert [s.study_name for s in JournalStorage(path).list_studies()] == ["s", "t"]
    assert all(json.loads(line) for line in path.read_bytes().splitlines())


def test_a_damaged_line_is_an_error_naming_the_byte(tmp_path: Path) -> None:
    path = tmp_path / "j.log"
    JournalStorage(path).create_study("s", [StudyDirection.MINIMIZE])
    size = path.stat().st_size
    with open(path, "ab") as handle:
        handle.write(b"not json\n")
    with pytest.raises(StorageError, match=f"damaged at byte {size}"):
        JournalStorage(path)


@pytest.mark.parametrize("lock_type", [JournalFileSymlinkLock, JournalFileOpenLock])
def test_a_lock_left_by_a_dead_writer_is_broken_after_the_grace_period(
        tmp_path: Path, lock_type: type) -> None:
    path = str(tmp_path / "j.log")
    dead = lock_type(path)
    dead.acquire()  # and never releases it
    old = time.time() - 60
    os.utime(dead.lock_path, (old, old), follow_symlinks=False)
    storage = JournalStorage(JournalFileBackend(path, lock_type(path, grace_period=30)))
    storage.create_study("s", [StudyDirection.MINIMIZE])
    assert not os.path.lexists(dead.lock_path)


def test_a_lock_within_its_grace_period_is_waited_for(tmp_path: Path) -> None:
    path = str(tmp_path / "j.log")
    holder = JournalFileSymlinkLock(path)
    holder.acquire()
    storage = JournalStorage(JournalFileBackend(path, JournalFileSymlinkLock(path)))
    release = threading.Timer(0.3, holder.release)
    release.start()
    started = time.monotonic()
    storage.create_study("s", [StudyDirection.MINIMIZE])
    assert time.monotonic() - started >= 0.2
    release.join()


def test_an_optuna_journal_is_refused_with_the_import_command(tmp_path: Path) -> None:
    optuna = pytest.importorskip("optuna")
    from optuna.storages.journal import JournalFileBackend as OptunaBackend

    path = tmp_path / "optuna.log"
    optuna.create_study(storage=optuna.storages.JournalStorage(OptunaBackend(str(path))))
    with pytest.raises(StorageError, match="pipetune import optuna --from"):
        JournalStorage(path)


def test_a_file_of_something_else_is_not_a_journal(tmp_path: Path) -> None:
    path = tmp_path / "notes.log"
    path.write_text('{"hello": 1}\n')
    with pytest.raises(StorageError, match="not a pipetune journal"):
        JournalStorage(path)


def test_a_journal_storage_pickles_as_what_reopens_it(tmp_path: Path) -> None:
    storage = JournalStorage(tmp_path / "j.log")
    study_id = storage.create_study("s", [StudyDirection.MINIMIZE])
    copy = pickle.loads(pickle.dumps(storage))
    assert copy.get_study_name(study_id) == "s"
    assert copy.backend.file_path == storage.backend.file_path


def test_journal_urls_open_the_file_relative_to_the_working_folder(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(StorageURLError, match="does not exist"):
        pipetune.load_study(study_name="s", storage="journal:///missing.log")
    study = pipetune.create_study(study_name="s", storage="journal:///runs/../study.log")
    study.optimize(lambda trial: trial.suggest_float("x", 0, 1), n_trials=3)
    assert get_storage(f"journal:///{tmp_path / 'study.log'}") is study.run_interface.storage
    assert len(pipetune.load_study(study_name="s", storage="journal:///study.log").trials) == 3
    with pytest.raises(StorageURLError, match="names a file"):
        get_storage("journal://study.log")
