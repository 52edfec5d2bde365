"""``pipetune.artifacts``: Optuna's artifact API over a folder (or an S3 client): files stored
under new ids, recorded on the study or trial, fetched back by id."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest

import pipetune
from pipetune.artifacts import (
    Backoff,
    Boto3ArtifactStore,
    FileSystemArtifactStore,
    GCSArtifactStore,
    download_artifact,
    get_all_artifact_meta,
    upload_artifact,
)
from pipetune.artifacts.exceptions import ArtifactNotFound
from pipetune.errors import ArtifactNotFoundError, InvalidArgumentError, MissingDependencyError


@pytest.fixture
def store(tmp_path: Path) -> FileSystemArtifactStore:
    (tmp_path / "store").mkdir()
    return FileSystemArtifactStore(tmp_path / "store")


def test_files_uploaded_from_an_objective_come_back_by_id(tmp_path: Path,
                                                           store: FileSystemArtifactStore) -> None:
    model = tmp_path / "model.json"
    model.write_text('{"weights": [1, 2]}')

    def objective(trial: pipetune.Trial) -> float:
        upload_artifact(artifact_store=store, file_path=str(model), study_or_trial=trial)
        return 1.0

    study = pipetune.create_study(storage=f"sqlite:///{tmp_path / 'p.db'}")
    study.optimize(objective, n_trials=2)
    (meta,) = get_all_artifact_meta(study.trials[1])
    assert (meta.filename, meta.mimetype) == ("model.json", "application/json")
    download_artifact(artifact_store=store, file_path=str(tmp_path / "copy.json"),
                      artifact_id=meta.artifact_id)
    assert (tmp_path / "copy.json").read_text() == model.read_text()
    with pytest.raises(InvalidArgumentError, match="exists already"):
        download_artifact(artifact_store=store, file_path=str(model),
                          artifact_id=meta.artifact_id)


def test_a_study_and_a_stored_trial_hold_artifacts_too(tmp_path: Path,
                                                      store: FileSystemArtifactStore) -> None:
    notes = tmp_path / "notes.txt"
    notes.write_text("seed 7")
    study = pipetune.create_study()
    first = upload_artifact(artifact_store=store, file_path=str(notes), study_or_trial=study,
                            mimetype="text/markdown")
    trial = study.ask()
    frozen = study.trials[0]
    storage = study.run_interface.storage
    with pytest.raises(InvalidArgumentError, match="pass storage="):
        upload_artifact(artifact_store=store, file_path=str(notes), study_or_trial=frozen)
    second = upload_artifact(artifact_store=store, file_path=str(notes), study_or_trial=frozen,
                             storage=storage)
    study.tell(trial, 1.0)
    assert [m.artifact_id for m in get_all_artifact_meta(study)] == [first]
    assert get_all_artifact_meta(study)[0].mimetype == "text/markdown"
    assert [m.artifact_id for m in get_all_artifact_meta(frozen, storage=storage)] == [second]


def test_the_folder_store_refuses_ids_outside_it_and_names_missing_ones(
        tmp_path: Path, store: FileSystemArtifactStore) -> None:
    for outside in ("../escape", "/etc/passwd", "..", "a/b"):
        with pytest.raises(InvalidArgumentError, match="Invalid artifact_id"):
            store.write(outside, io.BytesIO(b"x"))
        with pytest.raises(InvalidArgumentError, match="Invalid artifact_id"):
            store.open_reader(outside)
    assert not (tmp_path / "escape").exists()
    with pytest.raises(ArtifactNotFound):  # Optuna's name of ArtifactNotFoundError
        store.open_reader("no-such-id")
    store.write("abc", io.BytesIO(b"payload"))
    store.remove("abc")
    with pytest.raises(ArtifactNotFoundError):
        store.remove("abc")
    with pytest.raises(InvalidArgumentError, match="existing folder"):
        FileSystemArtifactStore(tmp_path / "absent")


def test_the_s3_store_speaks_to_a_boto3_client(tmp_path: Path) -> None:
    class FakeS3:
        def __init__(self) -> None:
            self.objects: dict[tuple[str, str], bytes] = {}

        def upload_fileobj(self, body: Any, bucket: str, key: str) -> None:
            self.objects[(bucket, key)] = body.read()
            body.close()  # as boto3 does

        def get_object(self, Bucket: str, Key: str) -> dict[str, Any]:
            return {"Body": io.BytesIO(self.objects[(Bucket, Key)])}

        def delete_object(self, Bucket: str, Key: str) -> None:
            del self.objects[(Bucket, Key)]

    client = FakeS3()
    store = Boto3ArtifactStore("bucket", client=client)
    source = tmp_path / "a.bin"
    source.write_bytes(b"\x00\x01")
    artifact_id = upload_artifact(artifact_store=store, file_path=str(source),
                                  study_or_trial=pipetune.create_study())
    download_artifact(artifact_store=store, file_path=str(tmp_path / "b.bin"),
                      artifact_id=artifact_id)
    assert (tmp_path / "b.bin").read_bytes() == b"\x00\x01"
    store.remove(artifact_id)
    assert client.objects == {}
    stream = io.BytesIO(b"kept open")
    store.write("x", stream)
    assert not stream.closed and client.objects[("bucket", "x")] == b"kept open"
    Boto3ArtifactStore("bucket", client=client, avoid_buf_copy=True).write("y", stream)
    assert stream.closed  # uploaded as it is, without a copy


def test_without_boto3_the_s3_store_says_how_to_get_it(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    monkeypatch.setitem(sys.modules, "boto3", None)  # as if not installed
    with pytest.raises(MissingDependencyError, match="pip install boto3"):
        Boto3ArtifactStore("bucket")


def test_the_gcs_store_speaks_to_a_google_cloud_storage_client(tmp_path: Path) -> None:
    class NotFound(Exception):  # google.api_core.exceptions.NotFound, by name
        pass

    blobs: dict[str, bytes] = {}

    class FakeBlob:
        def __init__(self, name: str) -> None:
            self.name = name

        def upload_from_string(self, data: bytes) -> None:
            blobs[self.name] = data

        def download_as_bytes(self) -> bytes:
            return blobs[self.name]

    class FakeBucket:
        def blob(self, name: str) -> FakeBlob:
            return FakeBlob(name)

        def get_blob(self, name: str) -> FakeBlob | None:
            return FakeBlob(name) if name in blobs else None

        def delete_blob(self, name: str) -> None:
            if name not in blobs:
                raise NotFound(name)
            del blobs[name]

    class FakeClient:
        def bucket(self, name: str) -> FakeBucket:
            assert name == "bucket"
            return FakeBucket()

    store = GCSArtifactStore("bucket", client=FakeClient())
    source = tmp_path / "a.bin"
    source.write_bytes(b"\x00\x01")
    artifact_id = upload_artifact(artifact_store=store, file_path=str(source),
                                  study_or_trial=pipetune.create_study())
    download_artifact(artifact_store=store, file_path=str(tmp_path / "b.bin"),
                      artifact_id=artifact_id)
    assert (tmp_path / "b.bin").read_bytes() == b"\x00\x01"
    store.remove(artifact_id)
    assert blobs == {}
    with pytest.raises(ArtifactNotFound):
        store.open_reader(artifact_id)
    with pytest.raises(ArtifactNotFoundError):
        store.remove(artifact_id)


def test_without_google_cloud_storage_the_gcs_store_says_how_to_get_it(
        monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    monkeypatch.setitem(sys.modules, "google.cloud.storage", None)  # as if not installed
    with pytest.raises(MissingDependencyError, match="pip install google-cloud-storage"):
        GCSArtifactStore("bucket")


def test_backoff_retries_a_failing_store_and_not_a_missing_artifact(
        store: FileSystemArtifactStore, monkeypatch: pytest.MonkeyPatch) -> None:
    class Flaky:
        def __init__(self) -> None:
            self.failures = 2

        def open_reader(self, artifact_id: str) -> Any:
            return store.open_reader(artifact_id)

        def write(self, artifact_id: str, content_body: Any) -> None:
            content_body.read(3)  # a failed attempt consumed part of the stream
            if self.failures:
                self.failures -= 1
                raise ConnectionError("reset by peer")
            content_body.seek(0)
            store.write(artifact_id, content_body)

        def remove(self, artifact_id: str) -> None:
            store.remove(artifact_id)

    slept: list[float] = []
    monkeypatch.setattr("pipetune.artifacts.time.sleep", slept.append)
    retrying = Backoff(Flaky(), min_delay=0.1, multiplier=10, max_delay=5)
    retrying.write("abc", io.BytesIO(b"payload"))
    assert slept == [0.1, 1.0]
    with retrying.open_reader("abc") as reader:
        assert reader.read() == b"payload"
    assert [retrying.delay(n) for n in range(3)] == [0.1, 1.0, 5]
    with pytest.raises(ArtifactNotFound):
        retrying.open_reader("gone")
    assert slept == [0.1, 1.0]  # a missing artifact is not retried
    with pytest.raises(ConnectionError):
        Backoff(Flaky(), max_retries=1, min_delay=0).write("x", io.BytesIO(b"payload"))
