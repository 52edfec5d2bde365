"""``pipetune tune`` and ``pipetune logs`` on a tiny real training script in a temporary folder:
the trials are real subprocesses; what they did is read back with the Python API."""

from __future__ import annotations

import io
import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from availability import require_installed

import pipetune
from pipetune.cli import main
from pipetune.cli.live import LiveDisplay
from pipetune.tracking.experiments import list_experiments

# Loss (x - 0.3)^2 + 1/epoch: a learning curve that ends lower for x near 0.3. With
# --full-data (the final run) it is 0.05 lower. --fail makes it crash after one epoch.
SCRIPT = """\
import argparse, sys, time
parser = argparse.ArgumentParser()
parser.add_argument("--x", type=float, required=True)
parser.add_argument("--kind", default="a")
parser.add_argument("--epochs", type=int, default=6)
parser.add_argument("--pause", type=float, default=0.0)
parser.add_argument("--full-data", action="store_true")
parser.add_argument("--fail", action="store_true")
args = parser.parse_args()
for epoch in range(1, args.epochs + 1):
    loss = (args.x - 0.3) ** 2 + 1.0 / epoch - (0.05 if args.full_data else 0.0)
    print(f"epoch={epoch} loss={loss:.6f}", flush=True)
    if args.fail:
        sys.exit("error: the data file is missing")
    time.sleep(args.pause)
print(f"done kind={args.kind}")
"""

STUDY = """\
study: s
command: [python, train.py]
params:
  x: {type: float, low: 0.0, high: 1.0}
  kind: {type: categorical, choices: [a, b]}
objective: {metric: loss, regex: 'loss=([0-9.eE+-]+)'}
intermediate: {metric: loss, regex: 'epoch=(?P<step>\\d+) loss=(?P<value>[0-9.eE+-]+)'}
sampler: {name: random, seed: 0}
max_trials: 4
"""


@pytest.fixture
def folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "train.py").write_text(SCRIPT)
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("PIPETUNE_STORAGE", raising=False)
    return tmp_path


def tune(capsys, folder: Path, yaml_text: str, *options: str) -> tuple[int, str, str]:
    (folder / "study.yaml").write_text(yaml_text)
    code = main(["tune", "study.yaml", *options])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def load(url: str, name: str = "s") -> pipetune.Study:
    return pipetune.load_study(study_name=name, storage=url)


def test_trials_complete_with_the_metric_read_from_the_output(folder, sqlite_url, capsys):
    code, out, err = tune(capsys, folder, STUDY, "--storage", sqlite_url)
    assert code == 0, err
    trials = load(sqlite_url).trials
    assert [t.state.name for t in trials] == ["COMPLETE"] * 4
    for trial in trials:
        expected = (trial.params["x"] - 0.3) ** 2 + 1.0 / 6
        assert math.isclose(trial.values[0], expected, abs_tol=1e-5)
        assert sorted(trial.intermediate_values) == [1, 2, 3, 4, 5, 6]
        log = Path(trial.system_attrs["log_file"]).read_text()
        assert f"done kind={trial.params['kind']}" in log  # params appended as --name value
    # Not a terminal: one line per finished trial, then the summary and what to run next.
    assert out.count(" COMPLETE loss=") == 4
    best = min(trials, key=lambda t: t.values[0])
    assert f"Best trial {best.number}: loss " in out
    assert "Ran 4 trial(s) of study 's' (4 COMPLETE)" in out
    assert f"pipetune logs s {best.number} --storage {sqlite_url}" in out


def test_the_storage_of_the_yaml_file_is_used_without_storage_option(folder, capsys):
    url = f"sqlite:///{folder / 'from-yaml.db'}"
    code, _, err = tune(capsys, folder, STUDY.replace("max_trials: 4", "max_trials: 1")
                        + f"storage: {url}\n")
    assert code == 0, err
    assert len(load(url).trials) == 1


def test_a_pruner_stops_bad_trials_while_they_run(folder, sqlite_url, capsys):
    text = STUDY.replace("command: [python, train.py]",
                         "command: [python, train.py, --pause, '0.05']")
    text = text.replace("max_trials: 4", "max_trials: 10")
    text += "pruner: {name: median, n_startup_trials: 2}\n"
    code, out, err = tune(capsys, folder, text, "--storage", sqlite_url)
    assert code == 0, err
    trials = load(sqlite_url).trials
    pruned = [t for t in trials if t.state.name == "PRUNED"]
    assert pruned, [(t.state.name, t.params) for t in trials]
    for trial in pruned:
        assert max(trial.intermediate_values) < 6  # stopped before its last epoch
    assert " PRUNED at step " in out


def test_parallel_runs_trials_at_the_same_time(folder, sqlite_url, capsys):
    text = STUDY.replace("command: [python, train.py]",
                         "command: [python, train.py, --pause, '0.05']")
    code, _, err = tune(capsys, folder, text, "--storage", sqlite_url, "--parallel", "2")
    assert code == 0, err
    trials = load(sqlite_url).trials
    assert [t.state.name for t in trials] == ["COMPLETE"] * 4
    overlapping = any(a.datetime_start < b.datetime_complete and b.datetime_start
                      < a.datetime_complete for a in trials for b in trials if a is not b)
    assert overlapping


def test_parallel_overrides_the_max_parallel_of_the_yaml_file(folder, sqlite_url, capsys):
    text = STUDY.replace("command: [python, train.py]",
                         "command: [python, train.py, --pause, '0.05']") + "max_parallel: 1\n"
    code, out, err = tune(capsys, folder, text, "--storage", sqlite_url, "--parallel", "2")
    assert code == 0, err
    assert "2 at a time" in out
    study = load(sqlite_url)
    assert study.system_attrs["max_parallel"] == 2  # the study-wide cap workers follow too
    trials = study.trials
    assert any(a.datetime_start < b.datetime_complete and b.datetime_start < a.datetime_complete
               for a in trials for b in trials if a is not b)


def test_the_ray_backend_runs_each_trial_in_a_ray_task(folder, sqlite_url, capsys, monkeypatch):
    require_installed("ray", extra="ray")
    # Ray reads these at import: every listener on 127.0.0.1, no usage reports.
    monkeypatch.setenv("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
    monkeypatch.setenv("RAY_USAGE_STATS_ENABLED", "0")
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    (folder / "train.py").write_text(
        "import os\nprint('ray job', os.environ.get('RAY_JOB_ID'), flush=True)\n" + SCRIPT)
    text = STUDY + "pruner: {name: median, n_startup_trials: 2}\n"
    code, out, err = tune(capsys, folder, text, "--storage", sqlite_url, "--parallel", "2",
                          "--backend", "ray")
    assert code == 0, err
    trials = load(sqlite_url).trials
    assert len(trials) == 4 and all(t.state.name in ("COMPLETE", "PRUNED") for t in trials)
    for trial in trials:
        log = Path(trial.system_attrs["log_file"]).read_text()
        assert "ray job None" not in log and "ray job " in log  # launched from a Ray worker
    assert "Ran 4 trial(s) of study 's'" in out


def test_the_final_run_trains_the_best_params_to_completion(folder, sqlite_url, capsys):
    text = STUDY + "final: {args: [--full-data, --epochs, 8]}\n"
    code, out, err = tune(capsys, folder, text, "--storage", sqlite_url)
    assert code == 0, err
    study = load(sqlite_url)
    search = study.trials
    assert [t.number for t in search] == [0, 1, 2, 3]  # the final run is no trial of the search
    best = min(search, key=lambda t: t.values[0])
    assert study.best_trial.number == best.number
    assert study.system_attrs["final_run"] == "s-final"
    [final] = load(sqlite_url, "s-final").trials
    assert final.state.name == "COMPLETE"
    assert final.params["x"] == best.params["x"] and final.params["kind"] == best.params["kind"]
    assert final.user_attrs == {"study": "s", "best_trial": best.number}
    assert max(final.intermediate_values) == 8
    assert math.isclose(final.values[0], (best.params["x"] - 0.3) ** 2 + 1 / 8 - 0.05,
                        abs_tol=1e-5)
    [experiment] = list_experiments(sqlite_url)
    assert (experiment.n_studies, experiment.n_runs) == (1, 1)
    assert f"Best trial {best.number}: loss" in out
    assert (f"Final run 's-final' (best params of trial {best.number} to completion): "
            f"COMPLETE, loss ") in out
    assert f"(its log: pipetune logs s-final 0 --storage {sqlite_url})" in out
    assert main(["logs", "s-final", "0", "--storage", sqlite_url]) == 0
    assert "epoch=8 loss=" in capsys.readouterr().out


def test_the_json_report_names_the_final_run(folder, sqlite_url, capsys):
    text = STUDY + "final: {args: [--full-data]}\n"
    (folder / "study.yaml").write_text(text)
    code = main(["--format", "json", "tune", "study.yaml", "--storage", sqlite_url])
    assert code == 0
    [record] = json.loads(capsys.readouterr().out)
    final = record["final"]
    assert final["run"] == "s-final" and final["ran_now"] is True
    assert final["state"] == "COMPLETE" and final["number"] == 0
    assert final["best_trial"] == record["best_trial"]["number"]
    assert final["log_file"].endswith("s-final/trial-0/output.log")


def test_a_failing_final_run_is_a_failed_run_and_a_failed_command(folder, sqlite_url, capsys):
    text = STUDY + "final: {args: [--fail]}\n"
    code, out, err = tune(capsys, folder, text, "--storage", sqlite_url)
    assert code == 1, err
    study = load(sqlite_url)
    assert [t.state.name for t in study.trials] == ["COMPLETE"] * 4
    [final] = load(sqlite_url, "s-final").trials
    assert final.state.name == "FAIL"
    assert "error: the data file is missing" in final.system_attrs["fail_reason"]
    assert "Final run 's-final' (best params of trial " in out and "): FAIL, no value" in out
    assert "Final run failed: the command exited with code 1; last output: error: the data " \
        "file is missing" in out


def test_resume_runs_the_final_run_again_only_after_new_trials(folder, sqlite_url, capsys):
    text = STUDY.replace("max_trials: 4", "max_trials: 2") + "final: {args: [--full-data]}\n"
    assert tune(capsys, folder, text, "--storage", sqlite_url)[0] == 0
    code, out, err = tune(capsys, folder, text, "--storage", sqlite_url, "--resume")
    assert code == 0, err
    assert "Final run 's-final' (best params of trial " in out and ", done before" in out
    code, out, err = tune(capsys, folder, text, "--storage", sqlite_url, "--resume",
                          "--n-trials", "1")
    assert code == 0, err
    assert len(load(sqlite_url).trials) == 3
    assert load(sqlite_url).system_attrs["final_run"] == "s-final-2"
    assert "Final run 's-final-2'" in out and ", done before" not in out
    assert [e.n_runs for e in list_experiments(sqlite_url)] == [2]


def test_resume_runs_what_max_trials_leaves_or_n_trials_more(folder, sqlite_url, capsys):
    first = STUDY.replace("max_trials: 4", "max_trials: 2")
    assert tune(capsys, folder, first, "--storage", sqlite_url)[0] == 0
    code, _, err = tune(capsys, folder, first, "--storage", sqlite_url)
    assert code == 2
    assert "already has 2 trial(s)" in err and "Pass --resume" in err
    code, out, err = tune(capsys, folder, first, "--storage", sqlite_url, "--resume")
    assert code == 0, err  # max_trials counts the whole search: nothing is left
    assert "Ran 0 trial(s)" in out and "nothing left to run" in out
    code, out, err = tune(capsys, folder, first, "--storage", sqlite_url, "--resume",
                          "--n-trials", "3")
    assert code == 0, err  # --n-trials is how many more, as for optimize
    assert [t.number for t in load(sqlite_url).trials] == [0, 1, 2, 3, 4]
    assert "resumed after trial 1" in out and "Ran 3 trial(s)" in out


def test_a_failing_script_makes_fail_trials_and_stops_after_too_many(folder, sqlite_url, capsys):
    text = STUDY.replace("command: [python, train.py]", "command: [python, train.py, --fail]")
    text += "stopping: {max_failed_in_a_row: 2}\n"
    code, out, _ = tune(capsys, folder, text, "--storage", sqlite_url)
    assert code == 1
    trials = load(sqlite_url).trials
    assert [t.state.name for t in trials] == ["FAIL", "FAIL"]
    assert "the data file is missing" in trials[0].system_attrs["fail_reason"]
    assert "Stopped: 2 trials failed in a row (stopping.max_failed_in_a_row)." in out
    assert ("the last, trial 1: the command exited with code 1; last output: error: the data "
            "file is missing (its log: pipetune logs s 1") in out


def test_a_run_whose_every_trial_failed_exits_1(folder, sqlite_url, capsys):
    text = STUDY.replace("command: [python, train.py]", "command: [python, train.py, --fail]")
    code, out, err = tune(capsys, folder, text.replace("max_trials: 4", "max_trials: 2"),
                          "--storage", sqlite_url)
    assert code == 1
    assert [t.state.name for t in load(sqlite_url).trials] == ["FAIL", "FAIL"]
    assert "Ran 2 trial(s) of study 's' (2 FAIL)" in out
    assert err.strip().splitlines()[-1].startswith(
        "error: all 2 trial(s) of this run failed; the last, trial 1: the command exited with "
        "code 1")


def test_reported_metrics_of_a_multi_objective_study(folder, sqlite_url, capsys):
    (folder / "reporter.py").write_text(
        "import sys\n"
        "from pipetune.reporting import report\n"
        "x = float(sys.argv[sys.argv.index('--x') + 1])\n"
        "report(error=(x - 0.3) ** 2, speed=x)\n")
    text = """\
study: s
command: [python, reporter.py]
params:
  x: {type: float, low: 0.0, high: 1.0}
directions: [minimize, maximize]
objective: [{metric: error, reported: true}, {metric: speed, reported: true}]
sampler: {name: random, seed: 1}
max_trials: 3
"""
    code, out, err = tune(capsys, folder, text, "--storage", sqlite_url)
    assert code == 0, err
    trials = load(sqlite_url).trials
    assert [t.state.name for t in trials] == ["COMPLETE"] * 3
    for trial in trials:
        x = trial.params["x"]
        assert trial.values == pytest.approx(((x - 0.3) ** 2, x))
    assert "Pareto trial" in out and "error " in out and "speed " in out


def test_bad_yaml_exits_2_with_the_line(folder, sqlite_url, capsys):
    text = STUDY.replace("  x: {type: float, low: 0.0, high: 1.0}",
                         "  x: {type: float, low: zero, high: 1.0}")
    code, out, err = tune(capsys, folder, text, "--storage", sqlite_url)
    assert code == 2
    assert err.startswith("error: study.yaml:4: params.x.low must be a number, got 'zero'.")
    assert out == ""


def test_logs_prints_a_trials_log(folder, sqlite_url, capsys):
    text = STUDY.replace("max_trials: 4", "max_trials: 1")
    assert tune(capsys, folder, text, "--storage", sqlite_url)[0] == 0
    assert main(["logs", "s", "0", "--storage", sqlite_url]) == 0
    out = capsys.readouterr().out
    assert out.startswith("epoch=1 loss=") and "done kind=" in out
    assert main(["logs", "s", "0", "--tail", "1", "--storage", sqlite_url]) == 0
    assert capsys.readouterr().out.startswith("done kind=")
    assert main(["logs", "s", "7", "--storage", sqlite_url]) == 2
    assert "has no trial 7" in capsys.readouterr().err


def test_logs_of_a_trial_not_run_by_the_launcher(folder, sqlite_url, capsys):
    study = pipetune.create_study(study_name="api", storage=sqlite_url)
    study.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=1)
    assert main(["logs", "api", "0", "--storage", sqlite_url]) == 2
    assert "has no log file" in capsys.readouterr().err


def test_the_live_table_shows_running_and_finished_trials():
    study = pipetune.create_study()
    done = study.ask()
    done.suggest_float("x", 0.0, 1.0)
    study.tell(done, 0.25)
    running = study.ask()
    running.suggest_float("x", 0.0, 1.0)
    running.report(0.75, step=3)
    out = io.StringIO()
    display = LiveDisplay("s", "sqlite://", study.directions, ["loss"], ["x"], 10, set(), out,
                          tty=True)
    display.trial_finished(study, study.trials[0])
    lines = display.render(study.trials, elapsed=3.0)
    assert lines[0].startswith("s: 1/10 trials done (1 complete, 0 pruned, 0 failed), "
                               "1 running")
    assert "best 0.25 (trial 0)" in lines[0]
    assert lines[1].split() == ["trial", "state", "loss", "step", "time", "x"]
    assert lines[3].split()[:4] == ["0", "COMPLETE", "*", "0.25"]
    assert lines[4].split()[:4] == ["1", "RUNNING", "0.75", "3"]
    assert out.getvalue() == ""  # on a terminal, the timer thread draws; the callback does not


EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "script" / "study.yaml"


def test_the_example_runs_with_pruning_two_at_a_time_and_a_final_run(tmp_path, capsys,
                                                                     monkeypatch):
    require_installed("sklearn", extra="examples")  # the example reads its diabetes data
    monkeypatch.chdir(tmp_path)
    url = f"sqlite:///{tmp_path / 'example.db'}"
    code = main(["tune", str(EXAMPLE), "--storage", url, "--n-trials", "8"])
    out, err = capsys.readouterr()
    assert code == 0, err
    search = load(url, "diabetes-mlp").trials
    assert len(search) == 8
    assert any(t.state.name == "COMPLETE" for t in search)
    [final] = load(url, "diabetes-mlp-final").trials
    assert final.state.name == "COMPLETE" and max(final.intermediate_values) == 60
    assert "Final run 'diabetes-mlp-final' (best params of trial " in out


SLEEPER = """\
import os, sys, time
open(f"started-{os.environ['PIPETUNE_TRIAL_NUMBER']}.pid", "w").write(str(os.getpid()))
print("epoch=1 loss=1.0", flush=True)
time.sleep(60)
"""


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except FileNotFoundError:
        return False


@pytest.mark.skipif(not os.path.isdir("/proc"), reason="reads process states from /proc")
def test_ctrl_c_ends_the_running_trials_and_starts_no_more(folder, sqlite_url):
    (folder / "sleeper.py").write_text(SLEEPER)
    (folder / "study.yaml").write_text(
        STUDY.replace("train.py", "sleeper.py") + "max_parallel: 2\n")
    command = "import sys; from pipetune.cli import main; sys.exit(main(sys.argv[1:]))"
    tune_process = subprocess.Popen(
        [sys.executable, "-c", command, "tune", "study.yaml", "--storage", sqlite_url],
        cwd=folder, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        pid_files = [folder / "started-0.pid", folder / "started-1.pid"]
        for _ in range(600):  # until both trials' scripts run (at most 30 s)
            if all(p.exists() and p.read_text() for p in pid_files):
                break
            time.sleep(0.05)
        pids = [int(p.read_text()) for p in pid_files]
        tune_process.send_signal(signal.SIGINT)
        out, _ = tune_process.communicate(timeout=30)
    finally:
        if tune_process.poll() is None:
            tune_process.kill()
            tune_process.communicate()
    assert tune_process.returncode == 130, out
    assert "Stopped: interrupted." in out
    assert not any(_alive(pid) for pid in pids)
    states = [t.state.name for t in load(sqlite_url).trials]
    assert states == ["FAIL", "FAIL"]  # nothing started after the interrupt
