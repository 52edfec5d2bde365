"""``pipetune optimize``: objectives written as small modules in a temporary folder, run through
``main`` from that folder, and the SQLite file read back with the Python API."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

import pipetune
from pipetune.cli import main

OBJECTIVES = '''
import math
import time

import pipetune


def quadratic(trial):
    x = trial.suggest_float("x", -10.0, 10.0)
    return (x - 2.0) ** 2


def sleepy(trial):
    time.sleep(0.05)
    return trial.suggest_float("x", 0.0, 1.0)


def broken(trial):
    trial.suggest_float("x", 0.0, 1.0)
    raise ValueError("the data file is missing")


def not_a_number(trial):
    trial.suggest_float("x", 0.0, 1.0)
    return math.nan


def learning_curve(trial):
    x = trial.suggest_float("x", 0.0, 1.0)
    for step in range(1, 28):
        trial.report(x + 1.0 / step, step)
        if trial.should_prune():
            raise pipetune.TrialPruned()
    return x + 1.0 / 27


NOT_CALLABLE = 3
'''


@pytest.fixture
def folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """The working folder, holding ``objectives.py``; the module is imported afresh per test."""
    (tmp_path / "objectives.py").write_text(OBJECTIVES)
    monkeypatch.chdir(tmp_path)
    sys.modules.pop("objectives", None)
    yield tmp_path
    sys.modules.pop("objectives", None)


def optimize(capsys: pytest.CaptureFixture[str], storage: str, objective: str,
             *options: str, study: str = "s") -> tuple[int, str, str]:
    code = main(["optimize", study, "--objective", f"objectives:{objective}",
                 "--storage", storage, "--no-progress", *options])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def states(storage: str, study: str = "s") -> list[str]:
    return [t.state.name for t in pipetune.load_study(study_name=study, storage=storage).trials]


def test_n_trials_runs_exactly_that_many_into_the_sqlite_file(folder, sqlite_url, capsys):
    code, out, err = optimize(capsys, sqlite_url, "quadratic", "--n-trials", "7")
    assert code == 0, err
    assert (folder / "pipetune.db").exists()
    study = pipetune.load_study(study_name="s", storage=sqlite_url)
    assert [t.state.name for t in study.trials] == ["COMPLETE"] * 7
    assert "Ran 7 trial(s) of study 's' (7 COMPLETE)" in out
    assert "ran the 7 trial(s) asked for" in out
    assert f"Best trial {study.best_trial.number}: value" in out


@pytest.mark.timeout(60)  # a run the timeout failed to stop never ends
def test_timeout_alone_stops_the_run(folder, sqlite_url, capsys):
    code, out, err = optimize(capsys, sqlite_url, "sleepy", "--timeout", "0.5",
                              "--sampler", "random", "--seed", "0")
    assert code == 0, err
    trials = pipetune.load_study(study_name="s", storage=sqlite_url).trials
    # Each trial sleeps 0.05 s: at most 0.5 / 0.05 + 1 start within the timeout.
    assert 1 <= len(trials) <= 11 and {t.state.name for t in trials} == {"COMPLETE"}
    assert "Stopped: the timeout of 0.5s passed." in out


def test_the_summary_says_the_study_budget_stopped_it_not_the_timeout(
        folder, sqlite_url, capsys):
    pipetune.create_study(study_name="s", storage=sqlite_url, max_trials=3)
    code, out, err = optimize(capsys, sqlite_url, "quadratic", "--n-trials", "10",
                              "--timeout", "600")
    assert code == 0, err
    assert states(sqlite_url) == ["COMPLETE"] * 3
    assert "Stopped: study 's' has its max_trials=3 trials." in out


def test_target_value_stops_once_reached(folder, sqlite_url, capsys):
    code, out, _ = optimize(capsys, sqlite_url, "quadratic", "--n-trials", "200",
                            "--target-value", "1.0", "--sampler", "random", "--seed", "0")
    assert code == 0
    study = pipetune.load_study(study_name="s", storage=sqlite_url)
    assert len(study.trials) < 200
    assert study.best_value <= 1.0
    assert study.trials[-1].number == study.best_trial.number  # it stopped right there
    assert "reached the target value 1" in out


def test_no_improvement_stops_after_that_many_trials_without_a_better_value(
        folder, sqlite_url, capsys):
    code, out, _ = optimize(capsys, sqlite_url, "quadratic", "--n-trials", "200",
                            "--no-improvement", "3", "--sampler", "random", "--seed", "1")
    assert code == 0
    study = pipetune.load_study(study_name="s", storage=sqlite_url)
    assert len(study.trials) < 200
    assert study.best_trial.number == len(study.trials) - 4  # then 3 trials without a better one
    assert "no improvement in the last 3 trials" in out


def test_max_failed_in_a_row_stops_a_broken_objective(folder, sqlite_url, capsys):
    code, out, err = optimize(capsys, sqlite_url, "broken", "--n-trials", "20",
                              "--max-failed-in-a-row", "3")
    assert code == 1
    assert states(sqlite_url) == ["FAIL"] * 3
    assert err.strip().splitlines()[-1].startswith("error: 3 trials failed in a row")
    assert "the data file is missing" in err
    for number in range(3):  # each failure was shown as it happened, with its reason
        assert f"WARNING Trial {number} failed with ValueError: the data file is missing" in err
    assert "Ran 3 trial(s) of study 's' (3 FAIL)" in out


def test_nan_values_count_as_failures(folder, sqlite_url, capsys):
    code, _, err = optimize(capsys, sqlite_url, "not_a_number", "--n-trials", "20",
                            "--max-failed-in-a-row", "2")
    assert code == 1
    assert states(sqlite_url) == ["FAIL"] * 2
    assert "NaN" in err


@pytest.mark.parametrize("objective", ["not_a_number", "broken"])
def test_a_run_whose_every_trial_failed_exits_1(folder, sqlite_url, capsys, objective):
    options = ["--max-failed-in-a-row", "10"] if objective == "broken" else []
    code, out, err = optimize(capsys, sqlite_url, objective, "--n-trials", "3", *options)
    assert code == 1
    assert states(sqlite_url) == ["FAIL"] * 3
    assert "Ran 3 trial(s) of study 's' (3 FAIL)" in out
    last = err.strip().splitlines()[-1]
    assert last.startswith("error: all 3 trial(s) of this run failed; the last, trial 2: ")
    assert ("NaN" if objective == "not_a_number" else "the data file is missing") in last
    # One trial that did not fail makes the run a success.
    code, _, _ = optimize(capsys, sqlite_url, "quadratic", "--n-trials", "1")
    assert code == 0


def test_without_max_failed_the_first_exception_stops_with_its_traceback(
        folder, sqlite_url, capsys):
    code, _, err = optimize(capsys, sqlite_url, "broken", "--n-trials", "20")
    assert code == 1
    assert states(sqlite_url) == ["FAIL"]
    assert "Traceback (most recent call last)" in err
    assert "objectives.py" in err and "ValueError: the data file is missing" in err
    assert "pipetune/execution" not in err  # only the objective's own frames
    assert err.strip().splitlines()[-1].startswith("error: trial 0 failed")
    assert "--max-failed-in-a-row" in err


@pytest.mark.parametrize("spec, message", [
    ("objectives", "write it as MODULE:FUNCTION"),
    ("no_such_module:f", "no module named 'no_such_module' in the working folder"),
    ("objectives:nope", "has no attribute 'nope'. It defines: broken, learning_curve"),
    ("objectives:NOT_CALLABLE", "'NOT_CALLABLE' is not callable"),
    ("objectives.py:quadratic", "write 'objectives:quadratic'"),
])
def test_bad_objective_spec_is_one_line_and_exit_2(folder, sqlite_url, capsys, spec, message):
    code = main(["optimize", "s", "--objective", spec, "--storage", sqlite_url, "--n-trials", "1"])
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith(f"error: --objective {spec!r}: ") and message in err
    assert len(err.strip().splitlines()) == 1
    assert not (folder / "pipetune.db").exists()  # nothing was created


@pytest.mark.parametrize("option, value", [
    ("--n-trials", "0"), ("--timeout", "-1"), ("--n-jobs", "0"), ("--target-value", "nan"),
    ("--no-improvement", "x"), ("--sampler", "nsga2"), ("--pruner", "always"),
])
def test_bad_option_values_exit_2(folder, sqlite_url, capsys, option, value):
    code, _, err = optimize(capsys, sqlite_url, "quadratic", option, value)
    assert code == 2
    assert err.startswith(f"error: argument {option}")
    assert len(err.strip().splitlines()) == 1


def test_a_module_that_fails_to_import_exits_1_with_its_traceback(folder, sqlite_url, capsys):
    (folder / "objectives.py").write_text("import no_such_dependency_xyz\n")
    code, _, err = optimize(capsys, sqlite_url, "quadratic", "--n-trials", "1")
    assert code == 1
    assert "No module named 'no_such_dependency_xyz'" in err
    assert err.strip().splitlines()[-1].startswith("error: importing the module")


def test_asha_prunes_trials_that_report_intermediate_values(folder, sqlite_url, capsys):
    code, out, _ = optimize(capsys, sqlite_url, "learning_curve", "--n-trials", "15",
                            "--pruner", "asha", "--sampler", "random", "--seed", "3")
    assert code == 0
    found = states(sqlite_url)
    assert len(found) == 15
    assert "PRUNED" in found and "COMPLETE" in found
    assert f"{found.count('PRUNED')} PRUNED" in out


def test_a_rerun_continues_the_same_study(folder, sqlite_url, capsys):
    optimize(capsys, sqlite_url, "quadratic", "--n-trials", "3", "--sampler", "random")
    code, out, _ = optimize(capsys, sqlite_url, "quadratic", "--n-trials", "2",
                            "--sampler", "random", "--format", "json")
    assert code == 0
    study = pipetune.load_study(study_name="s", storage=sqlite_url)
    assert [t.number for t in study.trials] == [0, 1, 2, 3, 4]
    (summary,) = json.loads(out)
    assert summary["n_trials_run"] == 2
    assert summary["states"] == {"COMPLETE": 2}
    assert summary["best_trials"][0]["number"] == study.best_trial.number
    assert summary["best_trials"][0]["params"] == study.best_params


def test_an_existing_study_keeps_its_direction(folder, sqlite_url, capsys):
    pipetune.create_study(study_name="up", storage=sqlite_url, direction="maximize")
    code, _, err = optimize(capsys, sqlite_url, "quadratic", "--n-trials", "2", study="up")
    assert code == 0, err
    code, _, err = optimize(capsys, sqlite_url, "quadratic", "--n-trials", "1",
                            "--direction", "minimize", study="up")
    assert code == 2
    assert "exists with directions ['maximize']" in err


def test_threads_and_the_default_tpe_sampler_with_a_progress_bar(folder, sqlite_url, capsys):
    code = main(["optimize", "s", "--objective", "objectives:quadratic", "--storage",
                 sqlite_url, "--n-trials", "6", "--n-jobs", "2", "--seed", "0"])
    out = capsys.readouterr().out
    assert code == 0
    assert states(sqlite_url) == ["COMPLETE"] * 6
    assert "Ran 6 trial(s)" in out


def test_the_command_offers_every_sampler_and_pruner_it_can_build():
    """``--sampler`` and ``--pruner`` offer, in order, the names of the one table of samplers
    (``pipetune.samplers.SAMPLERS``) and pruners whose class needs no argument but a seed,
    and build exactly those classes: the command and the YAML of ``pipetune tune`` never
    disagree on what a name means."""
    import inspect

    from pipetune.cli.optimize import PRUNERS as OFFERED_PRUNERS
    from pipetune.cli.optimize import SAMPLERS as OFFERED_SAMPLERS
    from pipetune.cli.optimize import make_pruner, make_sampler
    from pipetune.pruners import PRUNERS
    from pipetune.samplers import SAMPLERS

    def buildable(cls: type, given: set[str]) -> bool:
        if not all(parameter.default is not parameter.empty or name in given
                   for name, parameter in inspect.signature(cls).parameters.items()
                   if parameter.kind not in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD)):
            return False
        try:  # defaults that still need one of them (ThresholdPruner: a bound)
            cls(**{name: 3 for name in given})
        except (TypeError, ValueError):
            return False
        return True

    assert list(OFFERED_SAMPLERS) == [n for n, c in SAMPLERS.items() if buildable(c, {"seed"})]
    assert list(OFFERED_PRUNERS) == [n for n, c in PRUNERS.items() if buildable(c, set())]
    for name in OFFERED_SAMPLERS:
        assert type(make_sampler(name, 3)) is SAMPLERS[name]
    for name in OFFERED_PRUNERS:
        assert type(make_pruner(name)) is PRUNERS[name]
