"""``pipetune.launch``: the script objective with tiny real scripts (``scripts/``): params in,
metrics out, processes cleaned up, failures recorded with the reason."""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from pathlib import Path

import pytest

import pipetune
from pipetune.datatypes import StudyDirection, TrialState
from pipetune.errors import ArtifactNotFoundError, InvalidArgumentError, ObjectiveError
from pipetune.launch import gpus as gpus_module
from pipetune.launch.gpus import GpuPool
from pipetune.launch.logs import read_log
from pipetune.launch.objective import ScriptObjective
from pipetune.launch.specs import IntermediateSpec, LaunchSpec, MetricSpec
from pipetune.pruners.base import BasePruner
from pipetune.samplers import RandomSampler
from pipetune.space import SearchSpace
from pipetune.tracking import logs as stored_logs
from pipetune.tracking.experiments import list_experiments
from pipetune.tracking.logs import stored_log

SCRIPTS = Path(__file__).parent / "scripts"
TRAIN = str(SCRIPTS / "train.py")
REPORTER = str(SCRIPTS / "reporter.py")
FINAL_LOSS = MetricSpec("loss", r"final_loss=([0-9.eE+-]+)")
EPOCHS = IntermediateSpec("loss", r"epoch=(?P<step>\d+) loss=(?P<value>[0-9.eE+-]+)")


class PruneFrom(BasePruner):
    """Prunes every trial once it reported ``step``: deterministic, no history needed."""

    def __init__(self, step: int) -> None:
        self.step = step

    def prune(self, study, trial) -> bool:
        return trial.last_step is not None and trial.last_step >= self.step

    @property
    def needs_history(self) -> bool:
        return False


def x_space() -> SearchSpace:
    return SearchSpace.from_dict({"x": {"type": "float", "low": 0.5, "high": 2.0}})


def make_launch(tmp_path: Path, *args: str, objective=FINAL_LOSS, script: str = TRAIN,
                **kwargs) -> LaunchSpec:
    kwargs.setdefault("log_dir", str(tmp_path / "logs"))
    return LaunchSpec((sys.executable, script, *args), objective, **kwargs)


def make_study(storage=None, pruner=None) -> pipetune.Study:
    return pipetune.create_study(storage=storage, sampler=RandomSampler(seed=1), pruner=pruner)


def dumped(path: Path) -> list[dict]:
    """The argv/env records ``train.py --dump`` wrote, one per run."""
    return [r for r in map(json.loads, path.read_text().splitlines()) if "argv" in r]


def running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # Where PID 1 never reaps orphans (this test container), a killed orphan stays a zombie:
    # dead, holding nothing but its pid.
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")


# -- metrics from the output ---------------------------------------------------------------------


@pytest.mark.parametrize(("take", "expected"), [("last", 2.0), ("min", 1.0), ("max", 3.0)])
def test_regex_metric_takes_last_min_or_max(tmp_path, take, expected):
    metric = MetricSpec("loss", r"^loss=(?P<value>\S+)", take=take)
    objective = ScriptObjective(x_space(), make_launch(tmp_path, "--values", "3,1,2", "--quiet",
                                                       objective=metric))
    study = make_study()
    study.optimize(objective, n_trials=1)
    assert study.trials[0].state == TrialState.COMPLETE
    assert study.trials[0].value == expected


def test_intermediate_values_reach_the_trial(tmp_path):
    objective = ScriptObjective(x_space(), make_launch(tmp_path, intermediate=EPOCHS))
    study = make_study()
    study.enqueue_trial({"x": 1.5})
    study.optimize(objective, n_trials=1)
    trial = study.trials[0]
    assert trial.intermediate_values == {0: 4.5, 1: 3.0, 2: 1.5}
    assert trial.value == 1.5


def test_no_match_fails_the_trial_with_the_log_tail(tmp_path):
    objective = ScriptObjective(x_space(), make_launch(tmp_path, "--quiet"))
    study = make_study()
    with pytest.raises(ObjectiveError) as info:
        study.optimize(objective, n_trials=1)
    message = str(info.value)
    assert "metric 'loss' not found" in message and "final_loss=" in message
    assert "starting" in message and "a line on stderr" in message  # stderr merged in the tail
    trial = study.trials[0]
    assert trial.state == TrialState.FAIL
    assert "metric 'loss' not found" in trial.system_attrs["fail_reason"]


def test_non_zero_exit_fails_with_the_exit_code(tmp_path):
    objective = ScriptObjective(x_space(), make_launch(tmp_path, "--exit", "4"))
    study = make_study()
    study.optimize(objective, n_trials=1, catch=(ObjectiveError,))
    trial = study.trials[0]
    assert trial.state == TrialState.FAIL
    assert "exited with code 4" in trial.system_attrs["fail_reason"]
    assert "final_loss=" in trial.system_attrs["fail_reason"]  # the tail shows what it printed


def test_log_file_keeps_stdout_and_stderr_with_the_trial(tmp_path):
    objective = ScriptObjective(x_space(), make_launch(tmp_path))
    study = make_study()
    study.optimize(objective, n_trials=2)
    logs = [Path(t.system_attrs["log_file"]) for t in study.trials]
    assert len(set(logs)) == 2
    for log in logs:
        text = log.read_text()
        assert "a line on stderr" in text and "final_loss=" in text
        assert log.is_relative_to(tmp_path / "logs")


def test_logs_default_to_an_artifacts_folder_next_to_the_sqlite_file(tmp_path, sqlite_url):
    launch = LaunchSpec((sys.executable, TRAIN), FINAL_LOSS)
    study = pipetune.create_study(storage=sqlite_url, study_name="next/to db")
    study.optimize(ScriptObjective(x_space(), launch), n_trials=1)
    log = Path(study.trials[0].system_attrs["log_file"])
    folder = f"{study.run_interface.study_id}-next_to_db"
    assert log == tmp_path / "pipetune-artifacts" / folder / "trial-0" / "output.log"
    assert "final_loss=" in log.read_text()


def test_each_study_has_its_own_log_folder_under_the_root(tmp_path, sqlite_url):
    objective = ScriptObjective(x_space(), make_launch(tmp_path))
    logs = []
    for name in ("my study", "my_study", "..", "../../escape", "/etc"):
        study = pipetune.create_study(storage=sqlite_url, study_name=name)
        study.optimize(objective, n_trials=1)
        logs.append(Path(study.trials[0].system_attrs["log_file"]))
    assert len({log.parent.parent for log in logs}) == 5  # "my study" and "my_study" apart
    for log in logs:
        assert log.resolve().parent.parent.parent == (tmp_path / "logs").resolve()
        assert "final_loss=" in log.read_text()
    assert not (tmp_path / "escape").exists()


def test_read_log_prefers_the_stored_log_and_reads_only_the_tail(tmp_path, monkeypatch):
    study = make_study()
    trial = study.ask()
    running = tmp_path / "output.log"
    running.write_text("".join(f"line {i}\n" for i in range(100)))
    trial.set_system_attr("log_file", str(running))
    frozen = study.run_interface.storage.get_trial(trial.trial_id)
    # Running: no stored log yet, so `pipetune logs` shows the file on this machine.
    assert read_log(study, frozen, 2) == "line 98\nline 99\n"
    with pytest.raises(ArtifactNotFoundError, match="no stored log"):
        stored_log(study, frozen, 2)
    trial.log_text("".join(f"stored {i}\n" for i in range(100)), "output.log")
    assert read_log(study, frozen, 1) == stored_log(study, frozen, 1) == "stored 99\n"
    assert read_log(study, frozen).count("\n") == 100
    # A tail is read from the last LOG_TAIL_BYTES only; the line cut there is left out.
    monkeypatch.setattr(stored_logs, "LOG_TAIL_BYTES", 20)
    assert stored_log(study, frozen, 50) == "stored 98\nstored 99\n"
    running.unlink()


def test_read_log_refuses_files_that_are_not_regular(tmp_path):
    study = make_study()
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    for path in ("/dev/zero", str(fifo), str(tmp_path)):
        trial = study.ask()
        trial.set_system_attr("log_file", path)
        frozen = study.run_interface.storage.get_trial(trial.trial_id)
        with pytest.raises(InvalidArgumentError, match="regular file|Cannot read"):
            read_log(study, frozen, 5)  # neither blocks on the FIFO nor reads /dev/zero


# -- the reporter --------------------------------------------------------------------------------


def test_reported_metrics_are_the_objective_and_intermediate_values(tmp_path):
    launch = make_launch(tmp_path, script=REPORTER, objective=MetricSpec("loss"),
                         intermediate=IntermediateSpec("loss"))
    study = make_study()
    study.enqueue_trial({"x": 2.0})
    study.optimize(ScriptObjective(x_space(), launch), n_trials=1)
    trial = study.trials[0]
    assert trial.state == TrialState.COMPLETE
    assert trial.intermediate_values == {0: 6.0, 1: 4.0, 2: 2.0}
    assert trial.value == pytest.approx(0.2)  # the last reported value


def test_reported_intermediate_values_prune_while_the_script_runs(tmp_path):
    launch = make_launch(tmp_path, "--epochs", "200", "--sleep", "0.02", script=REPORTER,
                         objective=MetricSpec("loss"), intermediate=IntermediateSpec("loss"))
    study = make_study(pruner=PruneFrom(1))
    study.optimize(ScriptObjective(x_space(), launch), n_trials=1)
    trial = study.trials[0]
    assert trial.state == TrialState.PRUNED
    assert max(trial.intermediate_values) < 50  # stopped long before its 200 epochs


def test_missing_reported_metric_names_the_report_call(tmp_path):
    launch = make_launch(tmp_path, script=REPORTER, objective=MetricSpec("accuracy"))
    study = make_study()
    with pytest.raises(ObjectiveError, match=r"never called pipetune.report\(accuracy=...\)"):
        study.optimize(ScriptObjective(x_space(), launch), n_trials=1)


# -- pruning, timeouts, retries ------------------------------------------------------------------


def test_pruning_kills_the_whole_process_group(tmp_path):
    pidfile = tmp_path / "child.pid"
    launch = make_launch(tmp_path, "--epochs", "500", "--sleep", "0.01", "--spawn-child",
                         str(pidfile), intermediate=EPOCHS, grace_period=30.0)
    study = make_study(pruner=PruneFrom(1))
    study.optimize(ScriptObjective(x_space(), launch), n_trials=1)
    trial = study.trials[0]
    assert trial.state == TrialState.PRUNED
    assert set(trial.intermediate_values) == {0, 1}  # nothing reported after the decision
    child = int(pidfile.read_text())
    assert not running(child), "the script's child `sleep 60` outlived the pruned trial"


def test_a_script_ignoring_sigterm_is_killed_after_the_grace_period(tmp_path):
    pidfile = tmp_path / "child.pid"
    launch = make_launch(tmp_path, "--epochs", "500", "--sleep", "0.01", "--spawn-child",
                         str(pidfile), "--ignore-term", intermediate=EPOCHS, grace_period=0.2)
    study = make_study(pruner=PruneFrom(0))
    study.optimize(ScriptObjective(x_space(), launch), n_trials=1)
    assert study.trials[0].state == TrialState.PRUNED
    assert not running(int(pidfile.read_text()))


def test_a_script_that_finishes_as_it_is_pruned_completes_with_its_final_value(tmp_path):
    # The last epoch's report prunes, but the script prints its final value right after and
    # exits 0 (ignoring SIGTERM makes it always get there): its value counts.
    launch = make_launch(tmp_path, "--epochs", "3", "--ignore-term", intermediate=EPOCHS,
                         grace_period=30.0)
    study = make_study(pruner=PruneFrom(2))
    study.enqueue_trial({"x": 1.5})
    study.optimize(ScriptObjective(x_space(), launch), n_trials=1)
    trial = study.trials[0]
    assert trial.state == TrialState.COMPLETE
    assert trial.value == 1.5
    assert trial.intermediate_values == {0: 4.5, 1: 3.0, 2: 1.5}
    assert study.best_trial.number == 0


def test_timeout_kills_the_script_and_fails_the_trial_with_the_reason(tmp_path):
    pidfile = tmp_path / "child.pid"
    launch = make_launch(tmp_path, "--epochs", "1", "--sleep", "60", "--spawn-child",
                         str(pidfile), timeout=0.5, grace_period=0.2)
    study = make_study()
    study.optimize(ScriptObjective(x_space(), launch), n_trials=1, catch=(ObjectiveError,))
    trial = study.trials[0]
    assert trial.state == TrialState.FAIL
    assert "timed out after 0.5s" in trial.system_attrs["fail_reason"]
    assert trial.system_attrs["log_file"] in trial.system_attrs["fail_reason"]  # with its tail
    assert not running(int(pidfile.read_text()))


def test_a_failed_attempt_is_retried_within_the_trial(tmp_path):
    marker = tmp_path / "marker"
    launch = make_launch(tmp_path, "--fail-once", str(marker), retries=1)
    study = make_study()
    study.optimize(ScriptObjective(x_space(), launch), n_trials=1)
    trial = study.trials[0]
    assert trial.state == TrialState.COMPLETE
    assert trial.system_attrs["attempts"] == 2
    assert len(trial.system_attrs["attempt_errors"]) == 1
    assert "exited with code 3" in trial.system_attrs["attempt_errors"][0]
    log = Path(trial.system_attrs["log_file"]).read_text()
    assert "failing on purpose" in log and "attempt 2 of 2" in log and "final_loss=" in log


def test_without_retries_the_failure_stands(tmp_path):
    launch = make_launch(tmp_path, "--fail-once", str(tmp_path / "marker"))
    study = make_study()
    with pytest.raises(ObjectiveError, match="exited with code 3"):
        study.optimize(ScriptObjective(x_space(), launch), n_trials=1)
    assert study.trials[0].state == TrialState.FAIL


def test_a_missing_program_is_an_error_naming_it(tmp_path):
    launch = LaunchSpec((str(tmp_path / "no-such-program"),), FINAL_LOSS, log_dir=str(tmp_path))
    study = make_study()
    with pytest.raises(InvalidArgumentError, match="Cannot start the command"):
        study.optimize(ScriptObjective(x_space(), launch), n_trials=1)
    assert study.trials[0].state == TrialState.FAIL


# -- params in -----------------------------------------------------------------------------------


def test_params_are_appended_as_flags_without_placeholders(tmp_path):
    dump = tmp_path / "dump.jsonl"
    space = SearchSpace.from_dict({"x": {"type": "float", "low": 0.5, "high": 2.0},
                                   "model": {"type": "categorical", "choices": ["svm", "rf"]}})
    objective = ScriptObjective(space, make_launch(tmp_path, "--dump", str(dump)))
    study = make_study()
    study.enqueue_trial({"x": 0.75, "model": "rf"})
    study.optimize(objective, n_trials=1)
    assert dumped(dump)[0]["argv"] == ["--dump", str(dump), "--x", "0.75", "--model", "rf"]


def test_params_fill_placeholders(tmp_path):
    dump = tmp_path / "dump.jsonl"
    launch = LaunchSpec((sys.executable, TRAIN, "--x", "{x}", f"--dump={dump}", "{{literal}}"),
                        FINAL_LOSS, log_dir=str(tmp_path))
    study = make_study()
    study.enqueue_trial({"x": 1.25})
    study.optimize(ScriptObjective(x_space(), launch), n_trials=1)
    assert dumped(dump)[0]["argv"] == ["--x", "1.25", f"--dump={dump}", "{literal}"]
    assert study.trials[0].value == 1.25


def test_a_placeholder_naming_no_param_is_refused():
    launch = LaunchSpec((sys.executable, TRAIN, "--x", "{xx}"), FINAL_LOSS)
    with pytest.raises(InvalidArgumentError, match=r"\{xx\}.*Did you mean \{x\}"):
        ScriptObjective(x_space(), launch)


CONDITIONAL = {"model": {"type": "categorical", "choices": ["svm", "rf"]},
               "svm_c": {"type": "float", "low": 0.1, "high": 10.0, "scale": "log",
                         "when": {"model": "svm"}}}


@pytest.mark.parametrize("templated", [False, True])
def test_conditional_params_are_passed_only_when_active(tmp_path, templated):
    dump = tmp_path / "dump.jsonl"
    args = ("--model", "{model}", "--svm-c", "{svm_c}") if templated else ()
    objective = ScriptObjective(SearchSpace.from_dict(CONDITIONAL),
                                make_launch(tmp_path, "--dump", str(dump), *args))
    study = make_study()
    study.enqueue_trial({"model": "rf", "svm_c": 5.0})
    study.enqueue_trial({"model": "svm", "svm_c": 2.0})
    with pytest.warns(UserWarning, match=r"\['svm_c'\] that its objective never suggested"):
        study.optimize(objective, n_trials=2)  # svm_c is inactive for the forest: said once
    rf, svm = dumped(dump)
    c_flag = "--svm-c" if templated else "--svm_c"
    assert rf["argv"][2:] == ["--model", "rf"]
    assert svm["argv"][2:] == ["--model", "svm", c_flag, "2.0"]
    assert "PIPETUNE_PARAM_SVM_C" not in rf["env"] and svm["env"]["PIPETUNE_PARAM_SVM_C"] == "2.0"
    assert "svm_c" not in study.trials[0].params
    assert json.loads(Path(rf["env"]["PIPETUNE_PARAMS_FILE"]).read_text()) == {"model": "rf"}


def test_the_script_sees_where_it_is_through_the_environment(tmp_path):
    dump = tmp_path / "dump.jsonl"
    launch = make_launch(tmp_path, "--dump", str(dump), env={"EXTRA": "yes"})
    study = make_study()
    study.optimize(ScriptObjective(x_space(), launch), n_trials=1)
    trial = study.trials[0]
    env = dumped(dump)[0]["env"]
    assert env["PIPETUNE_TRIAL_NUMBER"] == "0"
    assert env["PIPETUNE_TRIAL_ID"] == str(trial.trial_id)
    assert env["PIPETUNE_STUDY"] == study.study_name
    assert env["PIPETUNE_PARAM_X"] == repr(trial.params["x"])
    assert env["PIPETUNE_LOG_FILE"] == trial.system_attrs["log_file"]
    assert env["PIPETUNE_TRIAL_ATTEMPT"] == "1"
    assert json.loads(Path(env["PIPETUNE_PARAMS_FILE"]).read_text()) == trial.params
    assert Path(env["PIPETUNE_REPORT_FILE"]).parent == Path(env["PIPETUNE_TRIAL_DIR"])
    assert env["PYTHONUNBUFFERED"] == "1" and env["EXTRA"] == "yes"


def test_workdir_is_where_relative_paths_start(tmp_path):
    launch = LaunchSpec((sys.executable, "scripts/train.py"), FINAL_LOSS,
                        workdir=str(SCRIPTS.parent), log_dir=str(tmp_path))
    study = make_study()
    study.optimize(ScriptObjective(x_space(), launch), n_trials=1)
    assert study.trials[0].state == TrialState.COMPLETE


# -- final run, parallel trials, GPUs ------------------------------------------------------------


def test_a_study_file_gives_the_sampler_and_pruner_of_a_script_objective(tmp_path):
    from pipetune.launch.schema import load_config

    (tmp_path / "study.yaml").write_text(f"""\
study: scripted
command: [python, {TRAIN}, --epochs, "3"]
params:
  x: {{type: float, low: 0.5, high: 2.0}}
objective: {{metric: loss, regex: 'final_loss=([0-9.eE+-]+)'}}
intermediate: {{metric: loss, regex: 'epoch=(?P<step>\\d+) loss=(?P<value>\\S+)'}}
sampler: {{name: random, seed: 7}}
pruner: {{name: median}}
log_dir: logs
""")
    config = load_config(tmp_path / "study.yaml")
    runs = []
    for _ in range(2):
        study = pipetune.create_study(sampler=config.build_sampler(),
                                      pruner=config.build_pruner())
        assert isinstance(study.sampler, RandomSampler)
        assert type(study.pruner).__name__ == "MedianPruner"
        study.optimize(ScriptObjective(config.space, config.launch), n_trials=2)
        runs.append([t.params["x"] for t in study.trials])
    assert runs[0] == runs[1]  # the file's seed was used
    assert all(t.state == TrialState.COMPLETE for t in study.trials)


def test_run_final_records_a_standalone_unpruned_run_outside_the_search(tmp_path):
    dump = tmp_path / "dump.jsonl"
    objective = ScriptObjective(x_space(), make_launch(tmp_path, "--dump", str(dump),
                                                       intermediate=EPOCHS))
    study = pipetune.create_study(study_name="search", sampler=RandomSampler(seed=1),
                                  pruner=PruneFrom(1), experiment="taxi")
    study.optimize(objective, n_trials=1)
    assert study.trials[0].state == TrialState.PRUNED
    run = objective.run_final(study, {"x": 1.5}, ("--epochs", "5"), best_trial=0)
    assert run.name == "search-final"
    [final] = run.study.trials
    assert final.state == TrialState.COMPLETE and final.number == 0
    assert final.user_attrs == {"study": "search", "best_trial": 0}
    assert final.system_attrs["final_args"] == ["--epochs", "5"]
    assert final.params == {"x": 1.5} and final.value == 1.5
    assert sorted(final.intermediate_values) == [0, 1, 2, 3, 4]  # the pruner left it alone
    assert dumped(dump)[-1]["argv"][-2:] == ["--epochs", "5"]
    # The search study holds only its own trial and names the run.
    assert [t.number for t in study.trials] == [0]
    assert study.system_attrs["final_run"] == "search-final"
    # The run is a run of the study's experiment, with its log as a trial keeps it.
    [experiment] = [e for e in list_experiments(study.run_interface.storage) if e.name == "taxi"]
    assert experiment.n_studies == 1 and experiment.n_runs == 1
    assert experiment.study_names == ("search", "search-final")
    log = Path(final.system_attrs["log_file"])
    study_id = run.study.run_interface.study_id
    assert log.parent == tmp_path / "logs" / f"{study_id}-search-final" / "trial-0"
    assert "final_loss=" in log.read_text()
    assert b"final_loss=" in run.study.read_artifact(final, "output.log")


def test_run_final_takes_the_next_free_name_and_leaves_best_trial_to_the_search(tmp_path):
    objective = ScriptObjective(x_space(), make_launch(tmp_path))
    study = pipetune.create_study(study_name="s", sampler=RandomSampler(seed=1))
    study.optimize(objective, n_trials=2)
    best = study.best_trial
    names = [objective.run_final(study, {"x": 0.5}).name for _ in range(3)]
    assert names == ["s-final", "s-final-2", "s-final-3"]
    assert study.system_attrs["final_run"] == "s-final-3"
    assert len(study.trials) == 2 and study.best_trial.number == best.number
    final = pipetune.load_study(study_name="s-final-2", storage=study.run_interface.storage)
    assert final.best_value == 0.5


def test_run_final_keeps_the_direction_of_the_search(tmp_path):
    objective = ScriptObjective(x_space(), make_launch(tmp_path))
    study = pipetune.create_study(study_name="up", direction="maximize")
    run = objective.run_final(study, {"x": 1.0})
    assert run.study.direction == StudyDirection.MAXIMIZE


def test_run_final_returns_a_failed_run_when_the_script_fails(tmp_path):
    objective = ScriptObjective(x_space(), make_launch(tmp_path))
    study = make_study()
    run = objective.run_final(study, {"x": 1.0}, ("--exit", "2"))
    [final] = run.study.trials
    assert final.state == TrialState.FAIL
    assert "exited with code 2" in final.system_attrs["fail_reason"]
    assert Path(final.system_attrs["log_file"]).exists()
    assert study.trials == []


def test_run_final_refuses_a_best_trial_that_is_not_a_number(tmp_path):
    objective = ScriptObjective(x_space(), make_launch(tmp_path))
    with pytest.raises(InvalidArgumentError, match="best_trial"):
        objective.run_final(make_study(), {"x": 1.0}, best_trial="3")


def test_script_objective_runs_trials_in_parallel(tmp_path, sqlite_url):
    objective = ScriptObjective(x_space(), make_launch(tmp_path, "--sleep", "0.05",
                                                       intermediate=EPOCHS))
    study = make_study(storage=sqlite_url)
    study.optimize(objective, n_trials=4, n_jobs=2)
    trials = study.trials
    assert [t.state for t in trials] == [TrialState.COMPLETE] * 4
    for trial in trials:
        assert trial.value == pytest.approx(trial.params["x"])
        log = Path(trial.system_attrs["log_file"]).read_text()
        assert f"final_loss={trial.params['x']!r}" in log


@pytest.fixture
def gpus(monkeypatch):
    """Pretends this process may use the GPUs listed in CUDA_VISIBLE_DEVICES."""
    def set_gpus(ids: str) -> None:
        monkeypatch.setenv("CUDA_VISIBLE_DEVICES", ids)
        monkeypatch.setattr(gpus_module, "_pool", None)
    return set_gpus


def test_parallel_trials_hold_distinct_gpus(tmp_path, gpus):
    gpus("7,9")
    dump = tmp_path / "dump.jsonl"
    objective = ScriptObjective(x_space(), make_launch(tmp_path, "--sleep", "0.1", "--dump",
                                                       str(dump), gpus_per_trial=1))
    study = make_study()
    study.optimize(objective, n_trials=4, n_jobs=2)
    records = [json.loads(line) for line in dump.read_text().splitlines()]
    for trial in study.trials:
        assert trial.state == TrialState.COMPLETE
        assert trial.system_attrs["gpus"] in (["7"], ["9"])
    runs = [r for r in records if "argv" in r]
    assert {r["env"]["CUDA_VISIBLE_DEVICES"] for r in runs} <= {"7", "9"}
    by_trial = {r["env"]["PIPETUNE_TRIAL_NUMBER"]: r["env"]["CUDA_VISIBLE_DEVICES"] for r in runs}
    assert by_trial == {str(t.number): t.system_attrs["gpus"][0] for t in study.trials}
    spans = {r["env"]["PIPETUNE_TRIAL_NUMBER"]: [r["start"]] for r in runs}
    for record in records:
        if "end" in record:
            spans[record["trial"]].append(record["end"])
    for a in spans:
        for b in spans:
            overlap = a < b and spans[a][0] < spans[b][1] and spans[b][0] < spans[a][1]
            if overlap:  # running at the same time: never the same GPU
                assert by_trial[a] != by_trial[b]


def test_gpus_per_trial_without_a_gpu_is_refused(gpus):
    gpus("")
    launch = LaunchSpec((sys.executable, TRAIN), FINAL_LOSS, gpus_per_trial=2)
    with pytest.raises(InvalidArgumentError,
                       match="gpus_per_trial: 2 but no GPU found; set it to 0"):
        ScriptObjective(x_space(), launch)


def test_gpus_per_trial_beyond_the_gpus_found_is_refused(gpus):
    gpus("0")
    launch = LaunchSpec((sys.executable, TRAIN), FINAL_LOSS, gpus_per_trial=2)
    with pytest.raises(InvalidArgumentError, match="only 1 GPU"):
        ScriptObjective(x_space(), launch)


def test_gpu_pool_rotates_ids_and_waits_for_free_ones():
    pool = GpuPool(["a", "b", "c"])
    first = pool.acquire(2)
    assert first == ("a", "b") and pool.acquire(1) == ("c",)
    got: list = []
    waiter = threading.Thread(target=lambda: got.append(pool.acquire(2)))
    waiter.start()
    time.sleep(0.05)
    assert not got  # two ids are not free yet
    pool.release(first)
    waiter.join(timeout=5)
    assert got == [("a", "b")]
    pool.release(("c",))
    pool.release(("a", "b"))
    assert pool.acquire(1) == ("c",)  # released first, handed out first


# -- validation ----------------------------------------------------------------------------------


@pytest.mark.parametrize(("build", "message"), [
    (lambda: LaunchSpec("python train.py", FINAL_LOSS), "never one shell string"),
    (lambda: LaunchSpec((), FINAL_LOSS), "must name a program"),
    (lambda: LaunchSpec(("python",), "loss"), "must be a MetricSpec"),
    (lambda: LaunchSpec(("python",), FINAL_LOSS, timeout=-1), "'timeout'"),
    (lambda: LaunchSpec(("python",), FINAL_LOSS, retries=1.5), "'retries'"),
    (lambda: LaunchSpec(("python",), FINAL_LOSS, workdir="/no/such/dir"), "'workdir'"),
    (lambda: LaunchSpec(("python",), FINAL_LOSS, env={"A": object()}), "'env'"),
    (lambda: MetricSpec("loss", "loss=[0-9.]+"), "needs a group"),
    (lambda: MetricSpec("loss", "loss=(["), "does not compile"),
    (lambda: MetricSpec("loss", "loss=(.*)", take="median"), "'take'"),
    (lambda: IntermediateSpec("loss", r"epoch=(\d+) loss=(\S+)"), "(?P<step>"),
])
def test_bad_specs_are_refused_with_the_fix(build, message):
    with pytest.raises(InvalidArgumentError) as info:
        build()
    assert message in str(info.value)


def test_a_multi_objective_study_reads_one_metric_per_direction(tmp_path):
    launch = make_launch(tmp_path, "--values", "3,1,2",
                         objective=(MetricSpec("first", r"^loss=(\S+)", take="max"), FINAL_LOSS))
    study = pipetune.create_study(directions=["maximize", "minimize"])
    study.optimize(ScriptObjective(x_space(), launch), n_trials=1)
    trial = study.trials[0]
    assert trial.values == (3.0, trial.params["x"])


def test_processes_a_finished_script_left_behind_are_ended(tmp_path):
    pidfile = tmp_path / "child.pid"
    launch = make_launch(tmp_path, "--spawn-child", str(pidfile), grace_period=30.0)
    study = make_study()
    study.optimize(ScriptObjective(x_space(), launch), n_trials=1)
    assert study.trials[0].state == TrialState.COMPLETE
    assert not running(int(pidfile.read_text()))
