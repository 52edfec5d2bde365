"""What the ``pipetune`` command prints for a person at a terminal: tables that fit its width,
``--columns``, a sentence instead of an empty table, misspelt params refused, studies listed
with their runs under them, sizes in KiB and MiB, and a listing that starts without numpy."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import pipetune
from pipetune.cli import main
from pipetune.cli.output import format_bytes
from pipetune.pipeline import StageCache

NAMES = ["learning_rate_of_the_optimizer", "knn_n_neighbors", "preprocessing_scaler"] + [
    f"extra_param_{i}" for i in range(9)]


@pytest.fixture
def storage(tmp_path: Path) -> str:
    """A study ``wide`` of 5 trials over 12 long-named params, an empty study ``empty``, and
    runs: ``wide-final`` re-running ``wide``'s best trial, and a standalone ``baseline``."""
    url = f"sqlite:///{tmp_path / 'pipetune.db'}"
    study = pipetune.create_study(study_name="wide", storage=url,
                                  sampler=pipetune.samplers.RandomSampler(seed=0))
    study.optimize(lambda t: sum(t.suggest_float(n, 0, 1) for n in NAMES), n_trials=5)
    pipetune.create_study(study_name="empty", storage=url)
    with pipetune.start_run(name="baseline", storage=url) as baseline:
        baseline.log_param("lr", 0.1)
    with pipetune.start_run(name="wide-final", storage=url, parent="wide") as final:
        final.log_params(study.best_params)
        final.end(1.0)
    return url


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.fixture
def terminal(monkeypatch: pytest.MonkeyPatch):
    """``terminal(columns)``: stdout is a terminal that many characters wide."""
    def make(columns: int) -> None:
        monkeypatch.setenv("COLUMNS", str(columns))
        monkeypatch.setattr(sys.stdout, "isatty", lambda: True)
    return make


# -- trials ------------------------------------------------------------------------------------

def test_trials_fit_the_terminal_and_name_the_columns_left_out(storage, capsys, terminal):
    terminal(100)
    code, out, _ = run(capsys, "trials", "wide", "--storage", storage)
    assert code == 0
    assert all(len(line) <= 100 for line in out.splitlines()), out
    header = out.splitlines()[0].split()
    assert header[:3] == ["number", "state", "value"]  # datetime and duration go first
    assert "datetime_start" not in header and "params_extra_param_0" in header
    assert "more column(s) not shown" in out and "params_preprocessing_scaler" in out
    assert "--columns" in out
    terminal(10)  # narrower than any two columns: the first one stays
    code, out, _ = run(capsys, "trials", "wide", "--storage", storage)
    assert code == 0 and out.splitlines()[0] == "number"


def test_a_pipe_gets_every_column(storage, capsys):
    code, out, _ = run(capsys, "trials", "wide", "--storage", storage)  # not a terminal
    assert code == 0
    assert len(out.splitlines()[0].split()) == 5 + len(NAMES)
    assert "not shown" not in out


def test_columns_chooses_the_columns_and_their_order(storage, capsys, terminal):
    terminal(60)
    code, out, _ = run(capsys, "trials", "wide", "--storage", storage, "--columns",
                       "value,number,params_knn_n_neighbors")
    assert code == 0
    assert out.splitlines()[0].split() == ["value", "number", "params_knn_n_neighbors"]
    code, _, err = run(capsys, "trials", "wide", "--storage", storage, "--columns", "lr")
    assert code == 2 and "No column 'lr'" in err and "params_knn_n_neighbors" in err


def test_an_empty_result_says_so(storage, capsys):
    code, out, _ = run(capsys, "trials", "wide", "--storage", storage, "--filter", "value < 0")
    assert (code, out) == (0, "No trials match.\n")
    code, out, _ = run(capsys, "trials", "empty", "--storage", storage)
    assert (code, out) == (0, "Study 'empty' has no trials yet.\n")
    code, out, _ = run(capsys, "trials", "wide", "--storage", storage, "--filter", "value < 0",
                       "--format", "json")
    assert json.loads(out) == []


@pytest.mark.parametrize("option", ["--filter", "--order-by"])
def test_a_misspelt_param_is_an_error_that_names_the_params(storage, capsys, option):
    text = "params.knn_neighbors > 0.5" if option == "--filter" else "params.knn_neighbors"
    code, out, err = run(capsys, "trials", "wide", "--storage", storage, option, text)
    assert code == 2 and out == ""
    assert "no param 'knn_neighbors'" in err and "knn_n_neighbors" in err
    assert "^" in err  # points at it


# -- studies -----------------------------------------------------------------------------------

def test_studies_show_the_kind_and_list_runs_under_their_study(storage, capsys):
    code, out, _ = run(capsys, "studies", "--storage", storage)
    assert code == 0
    rows = [line.split()[:3] for line in out.splitlines()[2:]]
    assert rows == [["wide", "study", "minimize"], ["wide-final", "run", "wide"],
                    ["empty", "study", "minimize"], ["baseline", "run", "minimize"]]
    code, out, _ = run(capsys, "studies", "--storage", storage, "--format", "json")
    by_name = {s["study_name"]: s for s in json.loads(out)}
    assert by_name["wide-final"]["kind"] == "run" and by_name["wide-final"]["parent"] == "wide"
    assert by_name["wide"]["kind"] == "study" and by_name["wide"]["parent"] is None


def test_listing_studies_imports_neither_numpy_nor_scipy(storage, tmp_path):
    code = ("import sys; from pipetune.cli import main; "
            f"assert main(['studies', '--storage', {storage!r}]) == 0; "
            "print(sorted(m for m in ('numpy', 'scipy') if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=tmp_path, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1] == "[]"


# -- other commands ----------------------------------------------------------------------------

def test_cache_info_shows_sizes_in_binary_units(tmp_path, capsys):
    StageCache(tmp_path).store("a", "prepare", np.zeros(200_000))  # 1.6 MB of floats
    code, out, _ = run(capsys, "cache", "info", "--cache-dir", str(tmp_path))
    assert code == 0
    assert out.splitlines()[1].split() == ["stage", "entries", "size"]
    prepare = next(line for line in out.splitlines() if line.startswith("prepare"))
    assert prepare.split()[-1] == "MiB"
    code, out, _ = run(capsys, "cache", "info", "--cache-dir", str(tmp_path), "--format", "csv")
    assert out.splitlines()[0] == "stage,entries,bytes"  # exact bytes for programs
    assert [format_bytes(n) for n in (512, 1536, 5 * 2**20, 3 * 2**30)] == [
        "512 B", "1.5 KiB", "5 MiB", "3 GiB"]


@pytest.mark.parametrize("command", ["logs", "server", "dashboard", "worker"])
def test_format_is_offered_only_where_a_table_or_record_is_printed(command, capsys):
    assert main([command, "--help"]) == 0
    assert "--format" not in capsys.readouterr().out
    assert main(["studies", "--help"]) == 0
    assert "--format" in capsys.readouterr().out
