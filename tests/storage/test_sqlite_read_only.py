"""A SQLite file that may only be read: asked for with ``?mode=ro``, or in a folder the process
cannot write (a shared read-only mount, a colleague's results). Reading it must work, from
Python and from ``pipetune trials``; every write must fail clearly and change nothing."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from availability import unavailable

import pipetune
from pipetune.errors import StorageError, StorageURLError
from pipetune.samplers import RandomSampler
from pipetune.storage.sql import SQLStorage


def _study_file(folder: Path) -> str:
    """A SQLite file in ``folder`` holding study 's' with three COMPLETE trials; its URL."""
    url = f"sqlite:///{folder / 'results.db'}"
    backend = SQLStorage(url)
    study = pipetune.create_study(storage=backend, study_name="s", sampler=RandomSampler(seed=0))
    study.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=3)
    backend.close()  # the file is left as another process would find it
    return url


def test_mode_ro_reads_the_study_and_refuses_every_write(tmp_path: Path) -> None:
    url = _study_file(tmp_path)
    before = (tmp_path / "results.db").read_bytes()
    read_only = SQLStorage(f"{url}?mode=ro")
    study = pipetune.load_study(study_name="s", storage=read_only)
    assert [t.state.name for t in study.trials] == ["COMPLETE"] * 3
    assert study.best_value == min(t.value for t in study.trials)
    for write in (lambda: study.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=1),
                  lambda: study.enqueue_trial({"x": 0.5}),
                  lambda: pipetune.create_study(storage=read_only, study_name="new")):
        with pytest.raises(StorageError, match=r"read-only \(its URL asks for mode=ro\).*"
                                               r"can be read, not written"):
            write()
    read_only.close()
    assert (tmp_path / "results.db").read_bytes() == before


def test_mode_ro_on_a_missing_file_says_so(tmp_path: Path) -> None:
    with pytest.raises(StorageURLError, match="does not exist.*drop mode=ro"):
        pipetune.load_study(study_name="s", storage=f"sqlite:///{tmp_path / 'no.db'}?mode=ro")
    assert not (tmp_path / "no.db").exists()


_READ = """
import sys, pipetune
study = pipetune.load_study(study_name="s", storage=sys.argv[1])
print("trials", len(study.trials), "best", study.best_trial.number)
try:
    study.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=1)
except pipetune.StorageError as error:
    print("write refused:", error)
"""


def test_a_file_in_a_read_only_folder_is_read(tmp_path: Path) -> None:
    """The folder is mounted read-only (a user namespace's bind mount: it binds root too, as
    permission bits would not), so SQLite can create neither a journal nor the WAL index."""
    if shutil.which("unshare") is None or subprocess.run(
            ["unshare", "-rm", "mount", "--bind", "-o", "ro", str(tmp_path), str(tmp_path)],
            capture_output=True).returncode != 0:
        unavailable("Mounting a folder read-only needs `unshare -rm` (util-linux) and user "
                    "namespaces.")
    folder = tmp_path / "shared"
    folder.mkdir()
    url = _study_file(folder)
    in_read_only_folder = ["unshare", "-rm", "sh", "-c",
                           'mount --bind -o ro "$0" "$0" && exec "$@"', str(folder)]
    read = subprocess.run([*in_read_only_folder, sys.executable, "-c", _READ, url],
                          capture_output=True, text=True, timeout=120)
    assert read.returncode == 0, read.stderr
    lines = read.stdout.splitlines()
    assert lines[0].startswith("trials 3 best ")
    assert lines[1].startswith("write refused:") and "is not writable" in lines[1]
    listed = subprocess.run([*in_read_only_folder, sys.executable, "-m", "pipetune.cli",
                             "trials", "s", "--storage", url],
                            capture_output=True, text=True, timeout=120)
    assert listed.returncode == 0, listed.stderr
    assert listed.stdout.count("COMPLETE") == 3
    assert sorted(p.name for p in folder.iterdir()) == ["results.db"]  # nothing written beside
