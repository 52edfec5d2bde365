"""Artifact files: names, media types, and the folder (the artifact root) that holds the bytes.

A SQL storage keeps artifact metadata in its database and the bytes in files under its
artifact root, at ``<root>/<study_id>/<trial_id>/<name>``. By default the root is the folder
``<db stem>-artifacts/`` next to a SQLite file (where launched scripts' logs go too), else
``$PIPETUNE_ARTIFACT_ROOT``, else ``./pipetune-artifacts``; give ``SQLStorage(url,
artifact_root=...)`` a shared folder when workers on several machines write to one PostgreSQL
database, or run them against a ``pipetune server``, which accepts and serves the bytes.
Files are written to a temporary name in the same folder and renamed, so a reader never sees a
half-written artifact.
"""

from __future__ import annotations

import mimetypes
import os
import shutil
import tempfile
from pathlib import Path
from typing import BinaryIO

from pipetune.errors import ArtifactNotFoundError, InvalidArgumentError

__all__ = ["ARTIFACT_ROOT_ENV", "MAX_NAME_BYTES", "MAX_NAME_PARTS", "MAX_NAME_PART_BYTES",
           "ArtifactFiles", "check_name", "check_source", "default_root", "media_type_of",
           "read_source", "read_tail"]

ARTIFACT_ROOT_ENV = "PIPETUNE_ARTIFACT_ROOT"
# What every file system under an artifact root holds: parts of at most 255 bytes, and paths
# well under PATH_MAX once the root and the study and trial folders are put in front.
MAX_NAME_PART_BYTES = 255
MAX_NAME_PARTS = 16
MAX_NAME_BYTES = 1024


def check_name(name: str) -> str:
    """An artifact name as stored: a relative path with ``/`` separators, no ``..``, no
    control character, at most ``MAX_NAME_PARTS`` parts of ``MAX_NAME_PART_BYTES`` bytes each
    and ``MAX_NAME_BYTES`` in all (UTF-8)."""
    if not isinstance(name, str) or not name.strip():
        raise InvalidArgumentError(f"An artifact name must be a non-empty string. Got {name!r}.")
    shown = repr(name) if len(name) <= 80 else f"{name[:80]!r}... ({len(name)} characters)"
    parts = name.replace("\\", "/").split("/")
    if name.startswith(("/", "\\")) or any(p in ("", ".", "..") for p in parts) or ":" in parts[0]:
        raise InvalidArgumentError(
            f"An artifact name must be a relative path like 'plots/loss.png' (no leading '/', "
            f"no '..', no empty part). Got {shown}.")
    if any(ord(char) < 32 or ord(char) == 127 for char in name):
        raise InvalidArgumentError(
            f"An artifact name must not hold control characters (NUL, newline, ...). Got "
            f"{shown}.")
    try:
        sizes = [len(part.encode()) for part in parts]
    except UnicodeEncodeError:  # a lone surrogate
        raise InvalidArgumentError(
            f"An artifact name must be valid Unicode text. Got {shown}.") from None
    if len(parts) > MAX_NAME_PARTS or max(sizes) > MAX_NAME_PART_BYTES \
            or sum(sizes) + len(parts) - 1 > MAX_NAME_BYTES:
        raise InvalidArgumentError(
            f"An artifact name holds at most {MAX_NAME_PARTS} folder levels, "
            f"{MAX_NAME_PART_BYTES} bytes per part and {MAX_NAME_BYTES} bytes in all: shorten "
            f"it. Got {shown}.")
    return "/".join(parts)


def media_type_of(name: str, given: str | None = None) -> str:
    """The media type of an artifact: the one given, else guessed from its name."""
    if given:
        return given
    if name.endswith((".log", ".txt", ".out", ".err")):
        return "text/plain"
    guessed, _ = mimetypes.guess_type(name)
    return guessed or "application/octet-stream"


def default_root(url: str | None) -> str:
    """The artifact root of a storage URL when none is configured (see the module doc)."""
    path = ""
    if url and url.startswith("sqlite") and ":///" in url:
        path = url.split(":///", 1)[1].split("?", 1)[0]
    if path and path != ":memory:":
        stem = os.path.splitext(os.path.basename(path))[0]
        return os.path.join(os.path.dirname(os.path.abspath(path)), f"{stem}-artifacts")
    return os.path.abspath(os.environ.get(ARTIFACT_ROOT_ENV) or "pipetune-artifacts")


class ArtifactFiles:
    """The artifact root of one storage: atomic writes and reads of relative paths."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = os.path.abspath(os.fspath(root))

    def _path(self, relative: str) -> Path:
        return Path(self.root, *relative.split("/"))

    def write(self, relative: str, data: bytes | str | os.PathLike[str]) -> int:
        """Writes bytes, or a copy of a file, at ``relative``; returns the size."""
        target = self._path(relative)
        target.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=target.parent, prefix=".tmp-")
        try:
            with os.fdopen(handle, "wb") as out:
                if isinstance(data, (bytes, bytearray, memoryview)):
                    out.write(data)
                else:
                    with open(data, "rb") as source:
                        shutil.copyfileobj(source, out, 1 << 20)
            os.replace(temporary, target)
        except BaseException:
            if os.path.exists(temporary):
                os.unlink(temporary)
            raise
        return target.stat().st_size

    def read(self, relative: str, label: str, last_bytes: int | None = None) -> bytes:
        """The file's bytes, or only its last ``last_bytes`` (read from there with a seek)."""
        try:
            with self._path(relative).open("rb") as handle:
                return handle.read() if last_bytes is None else read_tail(handle, last_bytes)
        except FileNotFoundError:
            raise ArtifactNotFoundError(
                f"The file of artifact {label} is missing from the artifact root "
                f"{self.root!r} (moved or deleted).") from None


def read_tail(handle: BinaryIO, last_bytes: int) -> bytes:
    """The last ``last_bytes`` bytes of an open regular file, read from a seek to there: a log
    of any size costs the tail asked for, never the whole file."""
    size = os.fstat(handle.fileno()).st_size
    handle.seek(max(0, size - last_bytes))
    return handle.read(last_bytes)


def check_source(data: bytes | os.PathLike[str] | str) -> bytes | str:
    """What an artifact is made from: bytes, or the path of an existing file (as a str)."""
    if isinstance(data, (bytes, bytearray, memoryview)):
        return bytes(data)
    if isinstance(data, (str, os.PathLike)) and os.path.isfile(data):
        return os.fspath(data)
    raise InvalidArgumentError(
        f"An artifact takes bytes or the path of an existing file. Got {data!r}.")


def read_source(data: bytes | os.PathLike[str] | str) -> bytes:
    """The bytes to store: as given, or read from a file path."""
    source = check_source(data)
    return source if isinstance(source, bytes) else Path(source).read_bytes()
