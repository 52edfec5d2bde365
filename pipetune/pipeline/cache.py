"""The stage-output cache: what a stage produced, on disk, keyed by everything that produced it.

Layout under the cache root (a local folder, or a folder shared by several machines)::

    entries/<key>/meta.json     stage name, size, reported values, creation time
    entries/<key>/value.pkl     the output, pickled (protocol 5) without its large buffers
    entries/<key>/buffer-<i>    each buffer of 1 MiB or more (a numpy array, a pandas column
                                block), raw, memory-mapped on load instead of read
    locks/<key>.lock            held while one process computes the entry

Invariants. An entry is written in a private temporary folder beside ``entries/`` (same file
system), every file fsynced, then renamed into place in one ``os.rename``: a reader sees either
no entry or a complete one, never a half-written one. Two writers of one key race harmlessly
(the second rename fails and its copy is dropped: both hold the same output). An entry's folder
mtime is its last use, touched on every hit; when the cache outgrows ``max_bytes`` the least
recently used entries are renamed away (atomically, so a reader never sees half an entry) and
deleted. A reader that loses an entry to eviction between listing and reading sees a miss.
A per-key ``flock`` lets one process compute an entry while the others wait and then read it.
"""

from __future__ import annotations

import contextlib
import json
import mmap
import os
import pickle
import shutil
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from pipetune.errors import InvalidArgumentError

# POSIX locks an entry's file while it is computed; on Windows two processes may compute one
# entry at once (still correct).
if sys.platform == "win32":  # pragma: no cover
    fcntl = None
else:
    import fcntl

CACHE_DIR_ENV = "PIPETUNE_CACHE_DIR"
DEFAULT_CACHE_DIR = "pipetune-cache"
MMAP_THRESHOLD = 1 << 20  # buffers from 1 MiB up are memory-mapped on load, not read
ABANDONED_AFTER = 3600.0  # seconds after which a temporary folder is a dead writer's leftover

_ENTRIES, _LOCKS, _META = "entries", "locks", "meta.json"
_PICKLE, _BUFFER = "value.pkl", "buffer-"
_TEMP_PREFIX = ".tmp-"


@dataclass(frozen=True)
class CachedOutput:
    """One stage output read back: the value, the intermediate values the stage reported while
    computing it (``(step, value)`` pairs, replayed on a hit) and its size on disk."""

    value: Any
    reports: tuple[tuple[int, float], ...]
    size: int


@dataclass(frozen=True)
class CacheInfo:
    """What a cache holds: entries and bytes in all, and per stage name."""

    root: str
    entries: int
    size: int
    max_bytes: int | None
    by_stage: dict[str, tuple[int, int]] = field(default_factory=dict)  # name -> (n, bytes)


@dataclass(frozen=True)
class _Entry:
    key: str
    path: str
    stage: str
    size: int
    last_used: float


def default_cache_dir() -> str:
    """``$PIPETUNE_CACHE_DIR``, else ``pipetune-cache`` in the working folder."""
    return os.environ.get(CACHE_DIR_ENV) or DEFAULT_CACHE_DIR


class StageCache:
    """Stage outputs on disk under ``root``, shared by the threads and processes of one machine
    and, when ``root`` is a shared folder, by workers on several machines. ``max_bytes`` caps
    its size: the least recently used entries go first. Memory-mapped arrays come back
    read-only: a stage must copy an input array before changing it in place."""

    def __init__(self, root: str | os.PathLike[str] | None = None,
                 max_bytes: int | None = None) -> None:
        if max_bytes is not None and (isinstance(max_bytes, bool) or not isinstance(max_bytes, int)
                                      or max_bytes <= 0):
            raise InvalidArgumentError(
                f"The 'max_bytes' argument of StageCache must be a positive int or None. "
                f"Got {max_bytes!r}.")
        self.root = os.path.abspath(os.fspath(root if root is not None else default_cache_dir()))
        self.max_bytes = max_bytes
        self._entries = os.path.join(self.root, _ENTRIES)
        self._locks = os.path.join(self.root, _LOCKS)

    def __repr__(self) -> str:
        return f"StageCache({self.root!r}, max_bytes={self.max_bytes!r})"

    def __reduce__(self) -> tuple:  # a cache travels to worker processes as its settings
        return (StageCache, (self.root, self.max_bytes))

    def _path(self, key: str) -> str:
        return os.path.join(self._entries, key)

    # -- reading -------------------------------------------------------------------------------

    def load(self, key: str) -> CachedOutput | None:
        """The output stored under ``key``, or None when there is none (or it was just
        evicted). Its large arrays are read-only views of memory-mapped files, so a hit costs
        next to nothing and processes share the pages. A hit marks the entry as used now."""
        path = self._path(key)
        try:
            with open(os.path.join(path, _META), encoding="utf-8") as file:
                meta = json.load(file)
            buffers = [_map(os.path.join(path, f"{_BUFFER}{i}")) for i in range(meta["buffers"])]
            with open(os.path.join(path, _PICKLE), "rb") as file:
                value = pickle.load(file, buffers=buffers)
            os.utime(path)
        except FileNotFoundError:
            return None
        reports = tuple((int(step), float(v)) for step, v in meta.get("reports", ()))
        return CachedOutput(value, reports, int(meta["size"]))

    # -- writing -------------------------------------------------------------------------------

    def store(self, key: str, stage: str, value: Any,
              reports: tuple[tuple[int, float], ...] = ()) -> int:
        """Writes ``value`` under ``key`` atomically (see the module docstring) and returns its
        size in bytes; then evicts least recently used entries past ``max_bytes``."""
        os.makedirs(self._entries, exist_ok=True)
        temp = os.path.join(self._entries, f"{_TEMP_PREFIX}{uuid.uuid4().hex}")
        os.mkdir(temp)
        try:
            large: list[pickle.PickleBuffer] = []

            def in_band(buffer: pickle.PickleBuffer) -> bool:
                """Whether ``buffer`` stays in the pickle stream; a large one gets a file."""
                if buffer.raw().nbytes < MMAP_THRESHOLD:
                    return True
                large.append(buffer)
                return False

            data = pickle.dumps(value, protocol=5, buffer_callback=in_band)
            size = _write(os.path.join(temp, _PICKLE), data)
            for index, buffer in enumerate(large):
                size += _write(os.path.join(temp, f"{_BUFFER}{index}"), buffer.raw())
            meta = {"stage": stage, "size": size, "buffers": len(large), "created": time.time(),
                    "reports": [list(r) for r in reports]}
            _write(os.path.join(temp, _META), json.dumps(meta).encode())
            try:
                os.rename(temp, self._path(key))
            except OSError:
                if not os.path.isdir(self._path(key)):
                    raise
                shutil.rmtree(temp, ignore_errors=True)  # another writer got there first
            _sync_folder(self._entries)
        except BaseException:
            shutil.rmtree(temp, ignore_errors=True)
            raise
        if self.max_bytes is not None:
            self.evict(keep=key)
        return size

    @contextlib.contextmanager
    def computing(self, key: str) -> Iterator[None]:
        """Held while computing the entry ``key``: other threads and processes asking for the
        same key wait, then find it stored."""
        if fcntl is None:  # pragma: no cover - Windows
            yield
            return
        os.makedirs(self._locks, exist_ok=True)
        with open(os.path.join(self._locks, f"{key}.lock"), "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    # -- housekeeping --------------------------------------------------------------------------

    def _scan(self) -> list[_Entry]:
        entries: list[_Entry] = []
        try:
            names = os.listdir(self._entries)
        except FileNotFoundError:
            return entries
        for name in names:
            if name.startswith(_TEMP_PREFIX):
                continue
            path = os.path.join(self._entries, name)
            try:
                last_used = os.stat(path).st_mtime
                with open(os.path.join(path, _META), encoding="utf-8") as file:
                    meta = json.load(file)
            except (FileNotFoundError, NotADirectoryError):
                continue  # evicted meanwhile
            entries.append(_Entry(name, path, str(meta["stage"]), int(meta["size"]), last_used))
        return entries

    def _remove(self, entry: _Entry) -> None:
        # Renamed away first, so nobody ever opens a half-deleted entry.
        doomed = os.path.join(self._entries, f"{_TEMP_PREFIX}{uuid.uuid4().hex}")
        try:
            os.rename(entry.path, doomed)
        except FileNotFoundError:
            return  # another process evicted it
        shutil.rmtree(doomed, ignore_errors=True)
        with contextlib.suppress(FileNotFoundError):
            os.remove(os.path.join(self._locks, f"{entry.key}.lock"))

    def evict(self, keep: str | None = None) -> int:
        """Deletes least recently used entries until the cache fits ``max_bytes`` (never
        ``keep``); returns how many went."""
        if self.max_bytes is None:
            return 0
        entries = sorted(self._scan(), key=lambda e: e.last_used)
        total = sum(e.size for e in entries)
        removed = 0
        for entry in entries:
            if total <= self.max_bytes:
                break
            if entry.key == keep:
                continue
            self._remove(entry)
            total -= entry.size
            removed += 1
        return removed

    def info(self) -> CacheInfo:
        """How many entries and bytes the cache holds, in all and per stage."""
        by_stage: dict[str, tuple[int, int]] = {}
        entries = self._scan()
        for entry in entries:
            count, size = by_stage.get(entry.stage, (0, 0))
            by_stage[entry.stage] = (count + 1, size + entry.size)
        return CacheInfo(self.root, len(entries), sum(e.size for e in entries), self.max_bytes,
                         dict(sorted(by_stage.items())))

    def clear(self, stage: str | None = None) -> int:
        """Deletes every entry (only ``stage``'s when given); returns how many went. Clearing
        everything also removes what writers that died mid-write left behind."""
        entries = [e for e in self._scan() if stage is None or e.stage == stage]
        for entry in entries:
            self._remove(entry)
        if stage is None:
            self._remove_abandoned_temps()
        return len(entries)

    def _remove_abandoned_temps(self) -> None:
        # A temporary folder this old belongs to no live writer (an entry takes seconds).
        deadline = time.time() - ABANDONED_AFTER
        try:
            names = os.listdir(self._entries)
        except FileNotFoundError:
            return
        for name in names:
            path = os.path.join(self._entries, name)
            try:
                if name.startswith(_TEMP_PREFIX) and os.stat(path).st_mtime < deadline:
                    shutil.rmtree(path, ignore_errors=True)
            except FileNotFoundError:
                continue


def _write(path: str, data: Any) -> int:
    """Writes ``data`` (bytes or a buffer) to a new file, flushed to disk; returns its size."""
    with open(path, "wb") as file:
        file.write(data)
        file.flush()
        os.fsync(file.fileno())
    return memoryview(data).nbytes


def _map(path: str) -> mmap.mmap:
    """``path`` mapped read-only into memory (the mapping outlives the closed file, and the
    file's deletion by an eviction)."""
    with open(path, "rb") as file:
        return mmap.mmap(file.fileno(), 0, access=mmap.ACCESS_READ)


def _sync_folder(path: str) -> None:
    """Makes a rename inside ``path`` durable (POSIX; a no-op where folders cannot be opened)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:  # pragma: no cover - Windows
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
