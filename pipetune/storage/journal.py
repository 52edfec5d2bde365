"""Storage in an append-only journal file, for folders shared over a network file system.

Every write is one line of JSON appended to the journal; every process that opens the file
rebuilds the same state by replaying the lines in order, then keeps up by reading only the
lines appended past the byte offset it reached. It needs no server and no fcntl locks, which
many NFS mounts get wrong (SQLite's own FAQ warns against SQLite over NFS): a writer holds a lock
made by creating a file beside the journal, atomic on every NFS version (a symlink by default,
an ``O_EXCL`` open as the alternative).

A write, under the lock: read the lines others appended, apply the operation to the replica
(which checks it: a refused operation raises and is not logged), append its line. Readers take
no lock and consume complete lines only, so a line being written is never half-read. A writer
that died mid-line leaves a tail without a newline: the next writer, holding the lock, cuts
it off before appending.

The replica is an ``InMemoryStorage``. Each line names one of its write methods, the arguments
and the time it was logged; replaying a line runs that method with the replica's clock set to
the logged time, so ids, trial numbers, dates and heartbeat ages come out the same in every
process. Artifact bytes are files under the artifact root (``<journal stem>-artifacts/`` beside
the journal), written before the line that records them.
"""

from __future__ import annotations

import abc
import datetime as dt
import json
import logging
import os
import shutil
import socket
import threading
import time
import uuid
from collections.abc import Collection, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from pipetune.datatypes import (
    ArtifactInfo,
    FrozenTrial,
    MetricPoint,
    StudyDirection,
    StudySummary,
    TrialState,
)
from pipetune.distributions import Distribution, distribution_from_json
from pipetune.errors import ArtifactNotFoundError, StorageError, StorageURLError
from pipetune.storage.artifacts import ArtifactFiles, check_name, check_source, media_type_of
from pipetune.storage.base import BaseStorage
from pipetune.storage.memory import InMemoryStorage
from pipetune.storage.remote import trial_from_json, trial_to_json

__all__ = ["JOURNAL_FORMAT", "JournalFileBackend", "JournalFileLock", "JournalFileOpenLock",
           "JournalFileSymlinkLock", "JournalStorage"]

logger = logging.getLogger("pipetune")

# The first line of every journal; replay refuses a journal of a later format.
JOURNAL_FORMAT = 1
_HEADER_KEY = "pipetune_journal"


class JournalFileLock(abc.ABC):
    """A lock between processes, held by whoever created the lock file ``<journal>.lock``.

    The file records who holds it. A lock file older than ``grace_period`` seconds was left by
    a writer that died holding it (a write holds the lock for milliseconds) and is broken;
    ``grace_period=None`` never breaks one. The age is the file's modification time on the file
    server against this machine's clock: keep clocks in sync, or raise the grace period.
    """

    def __init__(self, filepath: str, grace_period: int | None = 30) -> None:
        self.lock_path = f"{os.fspath(filepath)}.lock"
        self.grace_period = grace_period
        self._token: str | None = None

    @abc.abstractmethod
    def _create(self, path: str, token: str) -> None:
        """Creates the lock file at ``path`` recording ``token``, atomically; raises
        FileExistsError when it exists."""

    @abc.abstractmethod
    def _read(self, path: str) -> str:
        """The token recorded in the lock file at ``path``; FileNotFoundError if none."""

    def acquire(self) -> bool:
        """Waits until this process holds the lock; returns True."""
        delay = 0.001
        while True:
            token = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex}"
            try:
                self._create(self.lock_path, token)
            except FileExistsError:
                self._break_if_stale()
            else:
                self._token = token
                return True
            time.sleep(delay)
            delay = min(delay * 2, 0.05)

    def release(self) -> None:
        """Removes the lock file if it is still this holder's (a holder silent past the grace
        period may have lost it to another)."""
        try:
            if self._read(self.lock_path) == self._token:
                os.unlink(self.lock_path)
        except FileNotFoundError:
            pass
        self._token = None

    def _break_if_stale(self) -> None:
        if self.grace_period is None:
            return
        try:
            age = time.time() - os.lstat(self.lock_path).st_mtime
            holder = self._read(self.lock_path)
        except FileNotFoundError:
            return
        if age <= self.grace_period:
            return
        # Move the lock aside, then check that what moved is the stale lock seen above: another
        # process may have broken it and taken a new one in between, which goes back.
        aside = f"{self.lock_path}.{uuid.uuid4().hex}.stale"
        try:
            os.rename(self.lock_path, aside)
        except FileNotFoundError:
            return
        try:
            if self._read(aside) != holder:
                os.rename(aside, self.lock_path)
                return
        except FileNotFoundError:
            return
        os.unlink(aside)
        logger.warning("Broke the lock %s held for %.0f s by %s (presumed dead).",
                       self.lock_path, age, holder or "an unknown process")


class JournalFileSymlinkLock(JournalFileLock):
    """The lock file is a symbolic link (creating one is atomic since NFS version 2); the
    default, except on Windows, where making links needs a privilege."""

    def _create(self, path: str, token: str) -> None:
        os.symlink(token, path)

    def _read(self, path: str) -> str:
        return os.readlink(path)


class JournalFileOpenLock(JournalFileLock):
    """The lock file is created by an exclusive open (``O_CREAT | O_EXCL``, atomic since NFS
    version 3)."""

    def _create(self, path: str, token: str) -> None:
        handle = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        try:
            os.write(handle, token.encode())
        finally:
            os.close(handle)

    def _read(self, path: str) -> str:
        with open(path, encoding="utf-8", errors="replace") as handle:
            return handle.read()


class JournalFileBackend:
    """The journal file: read from a byte offset, appended under the lock.

    The file is opened for every read and every append, so on NFS each read sees what other
    machines closed before it (close-to-open consistency). ``lock_obj`` defaults to a
    ``JournalFileSymlinkLock`` (a ``JournalFileOpenLock`` on Windows).
    """

    def __init__(self, file_path: str | os.PathLike[str],
                 lock_obj: JournalFileLock | None = None) -> None:
        self.file_path = os.path.abspath(os.fspath(file_path))
        folder = os.path.dirname(self.file_path)
        if not os.path.isdir(folder):
            raise StorageURLError(
                f"Cannot open the journal {self.file_path!r}: the directory {folder!r} does "
                "not exist. Create it first, or fix the path.")
        if lock_obj is None:
            lock_type = JournalFileOpenLock if os.name == "nt" else JournalFileSymlinkLock
            lock_obj = lock_type(self.file_path)
        self.lock = lock_obj
        if not os.path.exists(self.file_path):
            open(self.file_path, "ab").close()

    def read(self, offset: int) -> bytes:
        """Everything past ``offset``; raises StorageError when the file is shorter (it was
        replaced or cut by something other than a journal storage)."""
        with open(self.file_path, "rb") as handle:
            size = os.fstat(handle.fileno()).st_size
            if size < offset:
                raise StorageError(
                    f"The journal {self.file_path!r} shrank from {offset} to {size} bytes: it "
                    "was replaced or cut while open. Reopen it.")
            handle.seek(offset)
            return handle.read()

    @contextmanager
    def locked(self) -> Iterator[None]:
        self.lock.acquire()
        try:
            yield
        finally:
            self.lock.release()

    def append(self, offset: int, data: bytes) -> int:
        """Under the lock, with every complete line up to ``offset`` read: drops the bytes past
        ``offset`` (a line a dead writer left unfinished), appends ``data`` and returns the new
        end of the file."""
        with open(self.file_path, "r+b") as handle:
            if handle.seek(0, os.SEEK_END) != offset:
                handle.truncate(offset)
                handle.seek(offset)
            handle.write(data)
            return offset + len(data)


def _line(record: Any) -> bytes:
    # NaN and infinity (intermediate values, metrics) as Python's JSON writes and reads them.
    return json.dumps(record, separators=(",", ":"), ensure_ascii=False).encode() + b"\n"


class JournalStorage(BaseStorage):
    """Storage in a journal file shared by every process that opens it (see the module doc).

    ``JournalStorage(JournalFileBackend("study.log"))``, or a path directly;
    ``artifact_root`` is the folder of artifact files, by default ``<stem>-artifacts/`` beside
    the journal. The URL ``journal:///study.log`` opens one through ``get_storage``.
    """

    def __init__(self, backend: JournalFileBackend | str | os.PathLike[str],
                 artifact_root: str | os.PathLike[str] | None = None) -> None:
        if not isinstance(backend, JournalFileBackend):
            backend = JournalFileBackend(backend)
        self.backend = backend
        self.url = f"journal:///{backend.file_path}"
        if artifact_root is None:
            stem = os.path.splitext(backend.file_path)[0]
            artifact_root = f"{stem}-artifacts"
        self._files = ArtifactFiles(artifact_root)
        self._lock = threading.RLock()
        self._logged_at = time.time()  # the replica's clock: the time of the line it applies
        self._reset()
        self._catch_up()

    def __reduce__(self) -> tuple[Any, ...]:
        # A storage travels to another process as what opens it there.
        return (JournalStorage, (self.backend, self._files.root))

    def connect_url(self) -> str:
        """The URL that opens this journal in another process."""
        return self.url

    def _reset(self) -> None:
        self._replica = InMemoryStorage(clock=lambda: self._logged_at)
        self._artifacts: dict[int, dict[str, ArtifactInfo]] = {}
        self._offset = 0

    # -- the journal ---------------------------------------------------------------------------

    def _catch_up(self, locked: bool = False) -> None:
        """Applies the complete lines appended past the offset reached. A line that does not
        parse may be one still being written (on NFS a reader can see a line's end before its
        middle): without the lock, read again holding it; holding it, the journal is damaged."""
        with self._lock:
            data = self.backend.read(self._offset)
            start = 0
            while (end := data.find(b"\n", start)) >= 0:
                try:
                    record = json.loads(data[start:end])
                except ValueError:
                    if locked:
                        raise StorageError(
                            f"The journal {self.backend.file_path!r} is damaged at byte "
                            f"{self._offset}: the line there is not JSON. Restore the file from "
                            "a backup, or cut it at that byte to drop that line and the rest."
                        ) from None
                    with self.backend.locked():
                        self._catch_up(locked=True)
                    return
                self._replay(record)
                self._offset += end + 1 - start
                start = end + 1

    def _replay(self, record: Any) -> None:
        path = self.backend.file_path
        if self._offset == 0:
            if isinstance(record, dict) and "op_code" in record:
                raise StorageError(
                    f"{path!r} is a journal written by Optuna, not pipetune. Copy its studies "
                    f"into a pipetune storage with: pipetune import optuna --from {path}")
            if not isinstance(record, dict) or _HEADER_KEY not in record:
                raise StorageError(f"{path!r} is not a pipetune journal (its first line is not "
                                   "a journal header). Check the path.")
            if record[_HEADER_KEY] > JOURNAL_FORMAT:
                raise StorageError(
                    f"The journal {path!r} has format {record[_HEADER_KEY]}, written by a newer "
                    f"pipetune (this one reads format {JOURNAL_FORMAT}): upgrade pipetune.")
            return
        self._logged_at = record["t"]
        try:
            self._apply(record["op"], record["args"])
        except Exception as error:
            # Only operations that succeeded are logged, and replay repeats them in order.
            raise StorageError(
                f"The journal {path!r} cannot be replayed at byte {self._offset} "
                f"({record.get('op')!r}): {error}. Was it edited by hand?") from error

    def _write(self, op: str, *args: Any) -> Any:
        """Applies an operation and logs it, both under the journal's lock. An operation that
        changes nothing (a claim with the budget spent, a result told twice) is not logged."""
        with self._lock, self.backend.locked():
            self._catch_up(locked=True)
            self._logged_at = logged_at = time.time()
            result = self._apply(op, args)
            if op in _NO_CHANGE and result == _NO_CHANGE[op]:
                return result
            try:
                data = _line({"t": logged_at, "op": op, "args": args})
                if self._offset == 0:
                    data = _line({_HEADER_KEY: JOURNAL_FORMAT}) + data
                self._offset = self.backend.append(self._offset, data)
            except BaseException as error:
                self._reset()  # the replica holds what the journal lacks: replay it anew
                if isinstance(error, OSError):
                    raise StorageError(f"Cannot append to the journal "
                                       f"{self.backend.file_path!r}: {error}.") from error
                raise
            return result

    def _apply(self, op: str, args: Sequence[Any]) -> Any:
        """Applies one operation, its arguments as logged (JSON values), to the replica."""
        replica = self._replica
        match op:
            case "create_study":
                name, directions = args
                return replica.create_study(name, [StudyDirection[d] for d in directions])
            case "delete_study":
                (study_id,) = args
                trial_ids = [trial.trial_id for trial in replica.get_trials(study_id)]
                replica.delete_study(study_id)
                for trial_id in trial_ids:
                    self._artifacts.pop(trial_id, None)
                return trial_ids
            case "set_study_attr":
                study_id, key, value, system = args
                return replica.set_study_attr(study_id, key, value, system=system)
            case "create_trial":
                study_id, state, system_attrs = args
                return replica.create_trial(study_id, state=TrialState[state],
                                            system_attrs=system_attrs)
            case "add_trial":
                study_id, trial = args
                return replica.add_trial(study_id, trial_from_json(trial))
            case "claim_trial":
                study_id, worker, max_trials, max_parallel = args
                return replica.claim_trial(study_id, worker, max_trials, max_parallel)
            case "set_trial_params":
                trial_id, params = args
                return replica.set_trial_params(trial_id, {
                    name: (internal, distribution_from_json(distribution))
                    for name, (internal, distribution) in params.items()})
            case "finish_trial":
                trial_id, state, values = args
                return replica.finish_trial(trial_id, TrialState[state], values)
            case "set_trial_intermediate_value":
                trial_id, step, value = args
                return replica.set_trial_intermediate_value(
                    trial_id, step, tuple(value) if isinstance(value, list) else value)
            case "set_trial_attr":
                trial_id, key, value, system = args
                return replica.set_trial_attr(trial_id, key, value, system=system)
            case "claim_key":
                study_id, key, trial_id = args
                return replica.claim_key(study_id, key, trial_id)
            case "heartbeat":
                (trial_id,) = args
                return replica.heartbeat(trial_id)
            case "fail_stale_trials":
                study_id, grace_period, retry_failed = args
                return replica.fail_stale_trials(study_id, grace_period, retry_failed)
            case "add_trial_metrics":
                trial_id, points = args
                return replica.add_trial_metrics(trial_id, [MetricPoint(*p) for p in points])
            case "put_artifact":
                trial_id, name, size, media_type = args
                replica.get_trial(trial_id)  # raises for an unknown trial
                info = ArtifactInfo(trial_id=trial_id, name=name, size=size,
                                    media_type=media_type,
                                    created_at=dt.datetime.fromtimestamp(self._logged_at))
                self._artifacts.setdefault(trial_id, {})[name] = info
                return info
        raise StorageError(f"Unknown journal operation {op!r}: the journal "
                           f"{self.backend.file_path!r} was written by a newer pipetune.")

    def _synced(self) -> InMemoryStorage:
        """The replica, up to date with the journal."""
        self._catch_up()
        return self._replica

    # -- studies -------------------------------------------------------------------------------

    def create_study(self, study_name: str, directions: Sequence[StudyDirection]) -> int:
        result: int = self._write("create_study", study_name,
                                  [StudyDirection(d).name for d in directions])
        return result

    def delete_study(self, study_id: int) -> None:
        for trial_id in self._write("delete_study", study_id):
            shutil.rmtree(os.path.join(self._files.root, str(trial_id)), ignore_errors=True)

    def get_study_id(self, study_name: str) -> int:
        return self._synced().get_study_id(study_name)

    def get_study_name(self, study_id: int) -> str:
        return self._synced().get_study_name(study_id)

    def get_study_directions(self, study_id: int) -> tuple[StudyDirection, ...]:
        return self._synced().get_study_directions(study_id)

    def set_study_attr(self, study_id: int, key: str, value: Any, *, system: bool = False) -> None:
        self._write("set_study_attr", study_id, key, value, system)

    def get_study_attrs(self, study_id: int, *, system: bool = False) -> dict[str, Any]:
        return self._synced().get_study_attrs(study_id, system=system)

    def list_studies(self) -> list[StudySummary]:
        return self._synced().list_studies()

    # -- trials --------------------------------------------------------------------------------

    def create_trial(self, study_id: int, *, state: TrialState = TrialState.WAITING,
                     system_attrs: dict[str, Any] | None = None) -> FrozenTrial:
        result: FrozenTrial = self._write("create_trial", study_id, TrialState(state).name,
                                          system_attrs or {})
        return result

    def add_trial(self, study_id: int, trial: FrozenTrial) -> FrozenTrial:
        result: FrozenTrial = self._write("add_trial", study_id, trial_to_json(trial))
        return result

    def claim_trial(self, study_id: int, worker: str | None = None,
                    max_trials: int | None = None,
                    max_parallel: int | None = None) -> FrozenTrial | None:
        result: FrozenTrial | None = self._write("claim_trial", study_id, worker, max_trials,
                                                 max_parallel)
        return result

    def set_trial_params(self, trial_id: int,
                         params: Mapping[str, tuple[float, Distribution]]) -> None:
        self._write("set_trial_params", trial_id, {
            name: [float(internal), distribution.to_json()]
            for name, (internal, distribution) in params.items()})

    def finish_trial(self, trial_id: int, state: TrialState,
                     values: Sequence[float] | None = None) -> bool:
        result: bool = self._write("finish_trial", trial_id, TrialState(state).name,
                                   None if values is None else [float(v) for v in values])
        return result

    def set_trial_intermediate_value(self, trial_id: int, step: int,
                                     value: float | tuple[float, ...]) -> bool:
        result: bool = self._write(
            "set_trial_intermediate_value", trial_id, int(step),
            [float(v) for v in value] if isinstance(value, tuple) else float(value))
        return result

    def set_trial_attr(self, trial_id: int, key: str, value: Any, *, system: bool = False) -> None:
        self._write("set_trial_attr", trial_id, key, value, system)

    def get_trial(self, trial_id: int) -> FrozenTrial:
        return self._synced().get_trial(trial_id)

    def get_trial_id(self, study_id: int, number: int) -> int:
        return self._synced().get_trial_id(study_id, number)

    def get_trials(self, study_id: int,
                   states: Collection[TrialState] | None = None) -> list[FrozenTrial]:
        return self._synced().get_trials(study_id, states)

    def get_trials_since(self, study_id: int, last_seen_id: int,
                         also_ids: Collection[int] = ()) -> list[FrozenTrial]:
        return self._synced().get_trials_since(study_id, last_seen_id, also_ids)

    def count_trials(self, study_id: int, states: Collection[TrialState] | None = None) -> int:
        return self._synced().count_trials(study_id, states)

    def claim_key(self, study_id: int, key: str, trial_id: int) -> bool:
        result: bool = self._write("claim_key", study_id, key, trial_id)
        return result

    # -- liveness ------------------------------------------------------------------------------

    def heartbeat(self, trial_id: int) -> None:
        self._write("heartbeat", trial_id)

    def fail_stale_trials(self, study_id: int, grace_period: float,
                          retry_failed: int = 0) -> list[FrozenTrial]:
        result: list[FrozenTrial] = self._write("fail_stale_trials", study_id,
                                                float(grace_period), int(retry_failed))
        return result

    # -- tracking ------------------------------------------------------------------------------

    def add_trial_metrics(self, trial_id: int, points: Sequence[MetricPoint]) -> None:
        self._write("add_trial_metrics", trial_id,
                    [[p.name, int(p.step), float(p.value), float(p.timestamp)] for p in points])

    def get_metric_history(self, trial_id: int, name: str | None = None) -> list[MetricPoint]:
        return self._synced().get_metric_history(trial_id, name)

    def get_last_metrics(self, study_id: int) -> dict[int, dict[str, float]]:
        return self._synced().get_last_metrics(study_id)

    def put_artifact(self, trial_id: int, name: str, data: bytes | str | os.PathLike[str],
                     media_type: str | None = None) -> ArtifactInfo:
        name = check_name(name)
        source = check_source(data)
        self.get_trial(trial_id)  # an unknown trial raises before a file is written
        size = self._files.write(f"{trial_id}/{name}",
                                 source if isinstance(source, bytes) else Path(source))
        result: ArtifactInfo = self._write("put_artifact", trial_id, name, size,
                                           media_type_of(name, media_type))
        return result

    def list_artifacts(self, trial_id: int) -> list[ArtifactInfo]:
        self._synced().get_trial(trial_id)
        stored = self._artifacts.get(trial_id, {})
        return [stored[name] for name in sorted(stored)]

    def read_artifact(self, trial_id: int, name: str, *,
                      last_bytes: int | None = None) -> bytes:
        trial = self._synced().get_trial(trial_id)
        if name not in self._artifacts.get(trial_id, {}):
            raise ArtifactNotFoundError(
                f"Trial {trial.number} has no artifact named {name!r}; list_artifacts shows "
                "what it has.")
        return self._files.read(f"{trial_id}/{name}", f"{name!r} of trial {trial.number}",
                                last_bytes)

    def search_trials(self, study_id: int, filter: str | None = None,
                      order_by: str | None = None, limit: int | None = None,
                      offset: int = 0) -> list[FrozenTrial]:
        return self._synced().search_trials(study_id, filter, order_by, limit, offset)


# What an operation returns when it changed nothing; such a call is not logged.
_NO_CHANGE: dict[str, Any] = {"claim_trial": None, "finish_trial": False,
                              "set_trial_intermediate_value": False, "claim_key": False,
                              "fail_stale_trials": []}
