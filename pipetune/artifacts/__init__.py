"""Files kept beside a study or trial, under Optuna's names: ``upload_artifact`` puts a file in
an artifact store under a new id and records its name and type in the study's or trial's
system attrs (``artifacts:<id>``, Optuna's key, so studies copied from Optuna keep theirs);
``download_artifact`` fetches it back by id; ``get_all_artifact_meta`` lists them; a missing
id raises ``ArtifactNotFoundError`` (``exceptions.ArtifactNotFound``, Optuna's name).

A store is anything with ``open_reader(id)``, ``write(id, stream)`` and ``remove(id)``:
``FileSystemArtifactStore`` (a folder, written through pipetune's artifact files: atomic,
ids checked as file names), ``Boto3ArtifactStore`` (an S3 bucket; needs boto3) or
``GCSArtifactStore`` (a Google Cloud Storage bucket; needs google-cloud-storage), each
possibly wrapped in ``Backoff`` to retry failed calls.
pipetune's own tracking keeps a trial's files in its storage instead (``trial.log_artifact``,
``storage.list_artifacts``, served by ``pipetune server``); this module is for code written
against Optuna's artifact API, which addresses a file by its id in a store.
"""

from __future__ import annotations

import importlib
import io
import json
import logging
import mimetypes
import os
import shutil
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, BinaryIO, Protocol, TypeVar

from pipetune.errors import ArtifactNotFoundError, InvalidArgumentError, MissingDependencyError
from pipetune.storage.artifacts import ArtifactFiles, check_name

__all__ = ["ArtifactMeta", "ArtifactStore", "Backoff", "Boto3ArtifactStore",
           "FileSystemArtifactStore", "GCSArtifactStore", "download_artifact",
           "get_all_artifact_meta", "upload_artifact"]

# The system attr of one artifact: this prefix and its id.
ARTIFACT_ATTR_PREFIX = "artifacts:"

logger = logging.getLogger("pipetune")
T = TypeVar("T")


class ArtifactStore(Protocol):
    """Where artifact bytes live, by id."""

    def open_reader(self, artifact_id: str) -> BinaryIO: ...

    def write(self, artifact_id: str, content_body: BinaryIO) -> None: ...

    def remove(self, artifact_id: str) -> None: ...


@dataclass(frozen=True)
class ArtifactMeta:
    """What a study or trial records of one of its artifacts."""

    artifact_id: str
    filename: str
    mimetype: str
    encoding: str | None


def _file_name(artifact_id: str) -> str:
    """``artifact_id`` as the name of a file in a store's folder: one name, no path."""
    if not isinstance(artifact_id, str) or artifact_id in ("", ".", "..") or \
            "/" in artifact_id or "\\" in artifact_id:
        raise InvalidArgumentError(
            f"Invalid artifact_id {artifact_id!r}: an id names one file in the store's folder "
            "(no '/', not '.' or '..'), as upload_artifact makes them.")
    return check_name(artifact_id)


class FileSystemArtifactStore:
    """Artifacts as files named by their id in the folder ``base_path`` (which must exist): a
    shared folder lets every worker reach them. Writes are atomic."""

    def __init__(self, base_path: str | os.PathLike[str]) -> None:
        if not os.path.isdir(base_path):
            raise InvalidArgumentError(
                f"The base_path of FileSystemArtifactStore must be an existing folder. Got "
                f"{os.fspath(base_path)!r}: create it first.")
        self._files = ArtifactFiles(base_path)

    def open_reader(self, artifact_id: str) -> BinaryIO:
        path = os.path.join(self._files.root, _file_name(artifact_id))
        try:
            return open(path, "rb")
        except FileNotFoundError:
            raise ArtifactNotFoundError(
                f"No artifact {artifact_id!r} in {self._files.root!r}.") from None

    def write(self, artifact_id: str, content_body: BinaryIO) -> None:
        self._files.write(_file_name(artifact_id), content_body.read())

    def remove(self, artifact_id: str) -> None:
        path = os.path.join(self._files.root, _file_name(artifact_id))
        try:
            os.remove(path)
        except FileNotFoundError:
            raise ArtifactNotFoundError(
                f"No artifact {artifact_id!r} in {self._files.root!r}.") from None


class Boto3ArtifactStore:
    """Artifacts as objects named by their id in the S3 bucket ``bucket_name``, through a
    boto3 client (``client``, else ``boto3.client("s3")``). Needs ``pip install boto3``.
    boto3 closes a stream it uploads, so ``write`` uploads a copy in memory and leaves the
    caller's stream open; ``avoid_buf_copy=True`` uploads the stream itself (no copy; boto3
    closes it)."""

    def __init__(self, bucket_name: str, client: Any = None, *,
                 avoid_buf_copy: bool = False) -> None:
        if client is None:
            try:
                boto3 = importlib.import_module("boto3")
            except ImportError:
                raise MissingDependencyError(
                    "Boto3ArtifactStore needs boto3: pip install boto3 (or pass client=, an S3 "
                    "client of your own).") from None
            client = boto3.client("s3")
        self.bucket_name = bucket_name
        self.client = client
        self.avoid_buf_copy = avoid_buf_copy

    def open_reader(self, artifact_id: str) -> BinaryIO:
        try:
            response = self.client.get_object(Bucket=self.bucket_name, Key=artifact_id)
        except Exception as error:
            if "NoSuchKey" in type(error).__name__ or "NoSuchKey" in str(error):
                raise ArtifactNotFoundError(
                    f"No artifact {artifact_id!r} in bucket {self.bucket_name!r}.") from None
            raise
        body: BinaryIO = response["Body"]
        return body

    def write(self, artifact_id: str, content_body: BinaryIO) -> None:
        # boto3 closes the stream it uploads: it gets a copy, unless avoid_buf_copy spares the
        # copy and lets the caller's stream be closed.
        body = content_body if self.avoid_buf_copy else io.BytesIO(content_body.read())
        self.client.upload_fileobj(body, self.bucket_name, artifact_id)

    def remove(self, artifact_id: str) -> None:
        self.client.delete_object(Bucket=self.bucket_name, Key=artifact_id)


class GCSArtifactStore:
    """Artifacts as blobs named by their id in the Google Cloud Storage bucket ``bucket_name``,
    through a google-cloud-storage client (``client``, else ``google.cloud.storage.Client()``
    with the default credentials). Needs ``pip install google-cloud-storage``."""

    def __init__(self, bucket_name: str, client: Any = None) -> None:
        if client is None:
            try:
                cloud_storage = importlib.import_module("google.cloud.storage")
            except ImportError:
                raise MissingDependencyError(
                    "GCSArtifactStore needs google-cloud-storage: pip install "
                    "google-cloud-storage (or pass client=, a storage client of your own)."
                ) from None
            client = cloud_storage.Client()
        self.bucket_name = bucket_name
        self.client = client
        self.bucket = client.bucket(bucket_name)

    def open_reader(self, artifact_id: str) -> BinaryIO:
        blob = self.bucket.get_blob(artifact_id)
        if blob is None:
            raise ArtifactNotFoundError(
                f"No artifact {artifact_id!r} in bucket {self.bucket_name!r}.")
        return io.BytesIO(blob.download_as_bytes())

    def write(self, artifact_id: str, content_body: BinaryIO) -> None:
        self.bucket.blob(artifact_id).upload_from_string(content_body.read())

    def remove(self, artifact_id: str) -> None:
        try:
            self.bucket.delete_blob(artifact_id)
        except Exception as error:
            if type(error).__name__ == "NotFound":  # google.api_core.exceptions.NotFound
                raise ArtifactNotFoundError(
                    f"No artifact {artifact_id!r} in bucket {self.bucket_name!r}.") from None
            raise


class Backoff:
    """Another store whose calls are retried when they fail (a network store's hiccups):
    up to ``max_retries`` times, after ``min_delay`` seconds, then ``multiplier`` times longer
    each time, at most ``max_delay``. A missing artifact is an answer, not a failure: it is
    raised at once."""

    def __init__(self, backend: ArtifactStore, *, max_retries: int = 10,
                 multiplier: float = 2, min_delay: float = 0.1, max_delay: float = 30) -> None:
        if isinstance(max_retries, bool) or not isinstance(max_retries, int) or max_retries < 0:
            raise InvalidArgumentError(
                f"max_retries of Backoff must be an int >= 0. Got {max_retries!r}.")
        if not 0 <= min_delay <= max_delay or multiplier < 1:
            raise InvalidArgumentError(
                f"Backoff needs 0 <= min_delay <= max_delay and multiplier >= 1. Got "
                f"min_delay={min_delay!r}, max_delay={max_delay!r}, multiplier={multiplier!r}.")
        self.backend = backend
        self.max_retries = max_retries
        self.multiplier = multiplier
        self.min_delay = min_delay
        self.max_delay = max_delay

    def delay(self, retry: int) -> float:
        """Seconds to wait before retry number ``retry`` (0 for the first)."""
        return min(self.max_delay, self.min_delay * self.multiplier ** retry)

    def _retried(self, call: Callable[[], T]) -> T:
        retry = 0
        while True:
            try:
                return call()
            except ArtifactNotFoundError:
                raise
            except Exception as error:  # any failure of the store is retried
                if retry == self.max_retries:
                    raise
                logger.warning("Artifact store call failed (%s); retrying in %.2g s.", error,
                               self.delay(retry))
                time.sleep(self.delay(retry))
                retry += 1

    def open_reader(self, artifact_id: str) -> BinaryIO:
        return self._retried(lambda: self.backend.open_reader(artifact_id))

    def write(self, artifact_id: str, content_body: BinaryIO) -> None:
        start = content_body.tell() if content_body.seekable() else None

        def write() -> None:
            if start is not None:  # a failed attempt may have read part of it
                content_body.seek(start)
            self.backend.write(artifact_id, content_body)

        self._retried(write)

    def remove(self, artifact_id: str) -> None:
        self._retried(lambda: self.backend.remove(artifact_id))


def _attrs_target(study_or_trial: Any, storage: Any) -> tuple[dict[str, Any], Any]:
    """The system attrs of a study, a running trial or a stored trial, and how to set one."""
    if hasattr(study_or_trial, "run_interface"):  # a Study
        interface = study_or_trial.run_interface
        return study_or_trial.system_attrs, lambda key, value: interface.storage.set_study_attr(
            interface.study_id, key, value, system=True)
    if hasattr(study_or_trial, "set_system_attr"):  # a running Trial
        return study_or_trial.system_attrs, study_or_trial.set_system_attr
    if hasattr(study_or_trial, "trial_id") and hasattr(study_or_trial, "system_attrs"):
        if storage is None:  # a FrozenTrial knows no storage
            return study_or_trial.system_attrs, None
        stored = storage.get_trial(study_or_trial.trial_id)
        return stored.system_attrs, lambda key, value: storage.set_trial_attr(
            stored.trial_id, key, value, system=True)
    raise InvalidArgumentError(
        f"study_or_trial must be a pipetune Study, Trial or FrozenTrial. "
        f"Got {type(study_or_trial).__name__}.")


def upload_artifact(*, artifact_store: ArtifactStore, file_path: str,
                    study_or_trial: Any, storage: Any = None, mimetype: str | None = None,
                    encoding: str | None = None) -> str:
    """Stores the file at ``file_path`` in ``artifact_store`` under a new id and records it on
    ``study_or_trial`` (a study, a running trial, or a FrozenTrial with its ``storage``);
    returns the id. ``mimetype`` and ``encoding`` default to guesses from the file name."""
    if not os.path.isfile(file_path):
        raise InvalidArgumentError(f"No file at {file_path!r} to upload.")
    _, set_attr = _attrs_target(study_or_trial, storage)
    if set_attr is None:
        raise InvalidArgumentError(
            "Uploading for a FrozenTrial needs the storage holding it: pass storage=.")
    guessed_type, guessed_encoding = mimetypes.guess_type(file_path)
    artifact_id = str(uuid.uuid4())
    meta = ArtifactMeta(artifact_id, os.path.basename(file_path),
                        mimetype or guessed_type or "application/octet-stream",
                        encoding or guessed_encoding)
    with open(file_path, "rb") as content:
        artifact_store.write(artifact_id, content)
    set_attr(ARTIFACT_ATTR_PREFIX + artifact_id, json.dumps(meta.__dict__))
    return artifact_id


def download_artifact(*, artifact_store: ArtifactStore, file_path: str,
                      artifact_id: str) -> None:
    """Writes the artifact ``artifact_id`` of ``artifact_store`` to ``file_path``, which must
    not exist yet."""
    if os.path.exists(file_path):
        raise InvalidArgumentError(
            f"{file_path!r} exists already: download_artifact writes a new file only.")
    with artifact_store.open_reader(artifact_id) as reader, open(file_path, "wb") as out:
        shutil.copyfileobj(reader, out)


def get_all_artifact_meta(study_or_trial: Any, *, storage: Any = None) -> list[ArtifactMeta]:
    """Every artifact ``upload_artifact`` recorded on a study or trial."""
    attrs, _ = _attrs_target(study_or_trial, storage)
    return [ArtifactMeta(**json.loads(value)) for key, value in attrs.items()
            if key.startswith(ARTIFACT_ATTR_PREFIX)]
