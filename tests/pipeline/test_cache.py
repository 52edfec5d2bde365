"""The stage-output cache on disk: round trips, atomic entries across processes, LRU eviction."""

from __future__ import annotations

import json
import multiprocessing
import os

import numpy as np
import pandas as pd
import pytest

from pipetune.cli import main
from pipetune.errors import InvalidArgumentError
from pipetune.pipeline import StageCache
from pipetune.pipeline.cache import MMAP_THRESHOLD


def test_round_trips_arrays_frames_and_objects(tmp_path):
    cache = StageCache(tmp_path)
    small, large = np.arange(10), np.ones(MMAP_THRESHOLD // 8 + 1)
    frame = pd.DataFrame({"fare": [1.5, None], "hour": [3, 4]})
    big_frame = pd.DataFrame({"fare": np.arange(300_000.0), "hour": np.arange(300_000) % 24})
    cache.store("a", "prepare", small)
    cache.store("b", "prepare", large, reports=((0, 1.5),))
    cache.store("c", "features", frame)
    cache.store("d", "train", {"weights": [1, 2], "table": {"x": large}})
    cache.store("e", "load", big_frame)
    assert np.array_equal(cache.load("a").value, small)
    loaded = cache.load("b")
    # A large array comes back as a read-only view of a memory-mapped file.
    assert not loaded.value.flags.writeable and np.array_equal(loaded.value, large)
    assert loaded.reports == ((0, 1.5),) and loaded.size >= large.nbytes
    pd.testing.assert_frame_equal(cache.load("c").value, frame)
    nested = cache.load("d").value
    assert nested["weights"] == [1, 2] and not nested["table"]["x"].flags.writeable
    pd.testing.assert_frame_equal(cache.load("e").value, big_frame)
    assert cache.load("missing") is None


def test_info_and_clear_per_stage(tmp_path):
    cache = StageCache(tmp_path)
    for key, stage in (("a", "prepare"), ("b", "prepare"), ("c", "train")):
        cache.store(key, stage, np.zeros(100))
    info = cache.info()
    assert info.entries == 3 and set(info.by_stage) == {"prepare", "train"}
    assert info.by_stage["prepare"][0] == 2
    assert cache.clear(stage="prepare") == 2
    assert cache.load("a") is None and cache.load("c") is not None
    assert cache.clear() == 1 and cache.info().entries == 0


def test_least_recently_used_entries_are_evicted_past_the_size_limit(tmp_path):
    one = np.zeros(1000)
    cache = StageCache(tmp_path, max_bytes=3 * 8200)
    for age, key in enumerate(("oldest", "older", "recent")):
        cache.store(key, "s", one)
        os.utime(os.path.join(cache.root, "entries", key), (age, 1000 + age))
    assert cache.load("oldest") is not None  # used now: the most recently used
    cache.store("new", "s", one)  # four entries do not fit in three
    kept = {k for k in ("oldest", "older", "recent", "new") if cache.load(k) is not None}
    assert kept == {"oldest", "recent", "new"}


def test_a_half_written_entry_is_never_visible(tmp_path):
    cache = StageCache(tmp_path)
    # A writer that died mid-write leaves only its private temporary folder behind.
    temp = tmp_path / "entries" / ".tmp-dead"
    temp.mkdir(parents=True)
    (temp / "meta.json").write_text(json.dumps({"stage": "s", "size": 9, "buffers": 0}))
    assert cache.info().entries == 0
    assert cache.load("dead") is None
    os.utime(temp, (0, 0))  # long abandoned
    cache.clear()
    assert not temp.exists()


def _hammer(root: str, worker: int, rounds: int, failures: multiprocessing.Queue) -> None:
    cache = StageCache(root, max_bytes=6 * 2_000_000)
    for i in range(rounds):
        key = f"k{i % 5}"
        expected = np.full(250_000, i % 5, dtype=np.float64)
        cached = cache.load(key)
        if cached is None:
            with cache.computing(key):
                if cache.load(key) is None:
                    cache.store(key, "s", expected)
        elif cached.value.shape != expected.shape or not np.array_equal(cached.value, expected):
            failures.put(f"worker {worker} read a partial entry {key}")
        if worker == 0 and i % 7 == 0:
            cache.clear()  # entries vanish under the readers' feet


def test_concurrent_processes_never_read_a_partial_entry(tmp_path):
    context = multiprocessing.get_context("fork")
    failures = context.Queue()
    workers = [context.Process(target=_hammer, args=(str(tmp_path), n, 40, failures))
               for n in range(3)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=120)
    assert [w.exitcode for w in workers] == [0, 0, 0]
    assert failures.empty(), failures.get()


def test_size_limit_must_be_positive(tmp_path):
    with pytest.raises(InvalidArgumentError, match="max_bytes"):
        StageCache(tmp_path, max_bytes=0)


def test_cli_cache_info_and_clear(tmp_path, capsys):
    cache = StageCache(tmp_path)
    cache.store("a", "prepare", np.zeros(10))
    assert main(["cache", "info", "--cache-dir", str(tmp_path), "--format", "json"]) == 0
    records = json.loads(capsys.readouterr().out)
    assert {r["stage"]: r["entries"] for r in records} == {"prepare": 1, "(all)": 1}
    assert main(["cache", "clear", "--cache-dir", str(tmp_path)]) == 0
    assert "Removed 1" in capsys.readouterr().out
    assert cache.info().entries == 0
