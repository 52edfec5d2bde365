"""The ``pipetune`` command: studies made with the Python API, read back through ``main``."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import pipetune
from pipetune.cli import format_duration, main, render_table


@pytest.fixture
def storage(tmp_path: Path) -> str:
    """A SQLite storage holding a finished single-objective study ``demo``, a two-objective
    study ``mo`` and a study ``empty`` with no trials."""
    url = f"sqlite:///{tmp_path / 'pipetune.db'}"
    demo = pipetune.create_study(study_name="demo", storage=url, direction="minimize")
    for lr, layers, act in [(0.1, 2, "relu"), (0.01, 3, "tanh"), (0.5, 1, "relu")]:
        demo.enqueue_trial({"lr": lr, "n_layers": layers, "act": act})

    def objective(trial: pipetune.Trial) -> float:
        lr = trial.suggest_float("lr", 1e-3, 1.0, log=True)
        layers = trial.suggest_int("n_layers", 1, 3)
        trial.suggest_categorical("act", ["relu", "tanh"])
        trial.set_user_attr("model", f"mlp-{layers}")
        return lr * layers

    demo.optimize(objective, n_trials=3)
    mo = pipetune.create_study(study_name="mo", storage=url, directions=["minimize", "maximize"])
    for x, y in [(0.1, 0.2), (0.5, 0.9), (0.6, 0.1)]:  # the last is dominated by the first
        trial = mo.ask()
        trial.suggest_float("x", 0.0, 1.0)
        mo.tell(trial, [x, y])
    pipetune.create_study(study_name="empty", storage=url)
    return url


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_studies_table_lists_every_study(storage, capsys):
    code, out, err = run(capsys, "studies", "--storage", storage)
    assert code == 0 and err == ""
    lines = out.splitlines()
    assert lines[0].split() == ["study_name", "kind", "parent", "directions", "n_trials",
                                "best_value", "best_trial", "datetime_start"]
    demo = next(line for line in lines if line.startswith("demo "))
    assert demo.split()[:6] == ["demo", "study", "minimize", "3", "0.03", "1"]  # no parent
    assert any(line.split()[:4] == ["mo", "study", "minimize,maximize", "3"] for line in lines)
    assert any(line.split()[:4] == ["empty", "study", "minimize", "0"] for line in lines)


def test_studies_json_has_fields_and_iso_datetimes(storage, capsys):
    code, out, _ = run(capsys, "--storage", storage, "--format", "json", "studies")
    assert code == 0
    by_name = {s["study_name"]: s for s in json.loads(out)}
    assert set(by_name) == {"demo", "mo", "empty"}
    demo = by_name["demo"]
    assert demo["directions"] == ["minimize"]
    assert demo["n_trials"] == 3
    assert demo["best_value"] == pytest.approx(0.03)
    assert demo["best_trial"] == 1
    assert "T" in demo["datetime_start"]  # ISO 8601
    assert by_name["mo"]["directions"] == ["minimize", "maximize"]
    assert by_name["empty"]["best_trial"] is None


def test_storage_comes_from_the_environment(storage, capsys, monkeypatch):
    monkeypatch.setenv("PIPETUNE_STORAGE", storage)
    code, out, _ = run(capsys, "studies", "--format", "json")
    assert code == 0
    assert {s["study_name"] for s in json.loads(out)} == {"demo", "mo", "empty"}


def test_default_storage_is_pipetune_db_in_the_working_folder(storage, capsys, monkeypatch):
    monkeypatch.delenv("PIPETUNE_STORAGE", raising=False)
    monkeypatch.chdir(Path(storage.removeprefix("sqlite:///")).parent)
    code, out, _ = run(capsys, "studies", "--format", "json")
    assert code == 0
    assert {s["study_name"] for s in json.loads(out)} == {"demo", "mo", "empty"}


def test_studies_and_best_as_csv(storage, capsys):
    code, out, _ = run(capsys, "studies", "--storage", storage, "--format", "csv")
    assert code == 0
    by_name = {row["study_name"]: row for row in csv.DictReader(io.StringIO(out))}
    assert set(by_name) == {"demo", "mo", "empty"}
    assert by_name["demo"]["n_trials"] == "3" and by_name["demo"]["best_trial"] == "1"
    assert float(by_name["demo"]["best_value"]) == pytest.approx(0.03)

    code, out, _ = run(capsys, "best", "demo", "--storage", storage, "--format", "csv")
    assert code == 0
    (best,) = csv.DictReader(io.StringIO(out))
    assert best["number"] == "1" and best["params_act"] == "tanh"
    assert float(best["value"]) == pytest.approx(0.03)


def test_trials_table_has_one_column_per_param(storage, capsys):
    code, out, _ = run(capsys, "trials", "demo", "--storage", storage)
    assert code == 0
    header, rule, *rows = out.splitlines()
    assert header.split() == ["number", "state", "value", "datetime_start", "duration",
                              "params_act", "params_lr", "params_n_layers"]
    assert set(rule) <= {"-", " "}
    assert len(rows) == 3
    first = rows[0].split()
    assert first[:3] == ["0", "COMPLETE", "0.2"]
    assert first[-3:] == ["relu", "0.1", "2"]


def test_trials_json_round_trips_params_and_values(storage, capsys):
    code, out, _ = run(capsys, "trials", "demo", "--storage", storage, "--format", "json")
    assert code == 0
    trials = json.loads(out)
    assert [t["number"] for t in trials] == [0, 1, 2]
    assert trials[1]["state"] == "COMPLETE"
    assert trials[1]["value"] == pytest.approx(0.03)
    assert trials[1]["params"] == {"lr": 0.01, "n_layers": 3, "act": "tanh"}
    assert trials[1]["user_attrs"] == {"model": "mlp-3"}
    assert trials[1]["duration"] >= 0
    assert trials[1]["datetime_complete"] >= trials[1]["datetime_start"]  # ISO strings sort


def test_trials_csv_parses_with_full_precision(storage, capsys):
    code, out, _ = run(capsys, "trials", "demo", "--storage", storage, "--format", "csv")
    assert code == 0
    rows = list(csv.DictReader(io.StringIO(out)))
    assert [r["number"] for r in rows] == ["0", "1", "2"]
    assert float(rows[2]["value"]) == 0.5
    assert rows[2]["params_act"] == "relu"
    assert int(rows[2]["params_n_layers"]) == 1


def test_best_shows_the_best_trial_with_params_and_user_attrs(storage, capsys):
    code, out, _ = run(capsys, "best", "demo", "--storage", storage)
    assert code == 0
    header, _, row = out.splitlines()
    assert header.split() == ["number", "value", "params_act", "params_lr", "params_n_layers",
                              "user_attrs_model"]
    assert row.split() == ["1", "0.03", "tanh", "0.01", "3", "mlp-3"]

    code, out, _ = run(capsys, "best", "demo", "--storage", storage, "--format", "json")
    (best,) = json.loads(out)
    assert best["number"] == 1
    assert best["params"] == {"lr": 0.01, "n_layers": 3, "act": "tanh"}


def test_multi_objective_study_shows_every_value(storage, capsys):
    code, out, _ = run(capsys, "trials", "mo", "--storage", storage)
    assert code == 0
    header, _, *rows = out.splitlines()
    assert header.split()[:4] == ["number", "state", "values_0", "values_1"]
    assert rows[1].split()[:4] == ["1", "COMPLETE", "0.5", "0.9"]

    code, out, _ = run(capsys, "best", "mo", "--storage", storage, "--format", "json")
    assert code == 0
    front = json.loads(out)
    assert [t["number"] for t in front] == [0, 1]
    assert front[1]["values"] == [0.5, 0.9]


def test_delete_with_yes_removes_the_study(storage, capsys):
    code, out, _ = run(capsys, "delete", "demo", "--yes", "--storage", storage)
    assert code == 0
    assert "demo" in out
    assert "demo" not in pipetune.get_all_study_names(storage)


def test_delete_without_a_terminal_refuses(storage, capsys, monkeypatch):
    monkeypatch.setattr(sys, "stdin", io.StringIO("y\n"))  # not a TTY
    code, out, err = run(capsys, "delete", "demo", "--storage", storage)
    assert code == 2
    assert out == ""
    assert err.startswith("error: ") and "--yes" in err
    assert "demo" in pipetune.get_all_study_names(storage)


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize("answer, deleted, exit_code", [("y\n", True, 0), ("\n", False, 1)])
def test_delete_on_a_terminal_asks_first(storage, capsys, monkeypatch, answer, deleted,
                                         exit_code):
    monkeypatch.setattr(sys, "stdin", _Terminal(answer))
    code, _, err = run(capsys, "delete", "demo", "--storage", storage)
    assert code == exit_code
    assert "Delete study 'demo'" in err
    assert ("demo" not in pipetune.get_all_study_names(storage)) is deleted


@pytest.mark.parametrize("argv", [["trials", "nope"], ["best", "nope"], ["delete", "nope", "-y"]])
def test_unknown_study_is_one_line_and_exit_2(storage, capsys, argv):
    code, out, err = run(capsys, *argv, "--storage", storage)
    assert code == 2
    assert out == ""
    assert err.startswith("error: No study named 'nope'")
    assert len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("argv, message", [
    (["studies", "--storage", "nosuchscheme://x"], "Unknown storage URL"),
    (["studies", "--format", "xml"], "invalid choice: 'xml'"),
    (["best", "empty"], "no COMPLETE trial"),
])
def test_user_errors_exit_2_with_one_line(storage, capsys, monkeypatch, argv, message):
    monkeypatch.setenv("PIPETUNE_STORAGE", storage)
    code, _, err = run(capsys, *argv)
    assert code == 2
    assert err.startswith("error: ") and message in err
    assert len(err.strip().splitlines()) == 1


def test_missing_sqlite_file_is_reported_not_created(tmp_path, capsys):
    path = tmp_path / "elsewhere.db"
    code, _, err = run(capsys, "studies", "--storage", f"sqlite:///{path}")
    assert code == 2
    assert "No SQLite database" in err
    assert not path.exists()


def test_version_and_no_command(capsys):
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"pipetune {pipetune.__version__}"
    assert main([]) == 2
    assert "studies" in capsys.readouterr().err


def test_table_helpers_align_and_format():
    text = render_table(["name", "value"], [["a", 1.0 / 3], ["long-name", None]])
    lines = text.splitlines()
    assert lines[0] == "name          value"
    assert lines[2] == "a          0.333333"  # numbers right-aligned under their header
    assert lines[3] == "long-name"
    assert [format_duration(s) for s in (0.0125, 42.1, 184, 3723)] == [
        "12.5ms", "42.1s", "3m04s", "1h02m03s"]


def test_console_script_runs_as_a_subprocess(storage, tmp_path):
    script = Path(sys.executable).with_name("pipetune")
    command = [str(script)] if script.exists() else [sys.executable, "-m", "pipetune.cli"]
    env = {**os.environ, "PIPETUNE_STORAGE": storage}
    done = subprocess.run(command + ["best", "demo", "--format", "json"], env=env,
                          capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)[0]["params"]["act"] == "tanh"

    failed = subprocess.run(command + ["trials", "nope"], env=env, capture_output=True,
                            text=True, cwd=tmp_path, timeout=120)
    assert failed.returncode == 2
    assert failed.stderr.startswith("error: No study named 'nope'")
    assert "Traceback" not in failed.stderr
