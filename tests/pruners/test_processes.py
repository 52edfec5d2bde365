"""Pruners with several OS processes sharing one SQLite study, as ``pipetune worker`` runs them.

Each process holds its own pruner object and sees the other processes' reports only through
the storage. ASHA's rung values are derived from the stored intermediate values, and Hyperband's
bracket comes from the trial number alone, so every process must judge every trial alike: the
checks below are that each process computed the bracket the test computes, that a trial was only
ever pruned at a rung of its own bracket, and that pruned trials keep their last value.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

import pipetune
from pipetune.pruners import HyperbandPruner

pytestmark = pytest.mark.timeout(240)

N_PROCESSES = 3
LAST_STEP = 27

# One process: waits for the "go" file, then runs its share of the study's trials.
PROCESS = r'''
import json, os, sys, time
import pipetune
from pipetune.pruners import HyperbandPruner, SuccessiveHalvingPruner
from pipetune.samplers import RandomSampler

cfg = json.loads(sys.argv[1])
pruner = (HyperbandPruner(1, cfg["last_step"], 3) if cfg["pruner"] == "hyperband"
          else SuccessiveHalvingPruner(1, 3))
study = pipetune.load_study(study_name="shared", storage=cfg["url"],
                            sampler=RandomSampler(seed=cfg["seed"]), pruner=pruner)
open(os.path.join(cfg["sync_dir"], f"ready-{os.getpid()}"), "w").close()
while not os.path.exists(os.path.join(cfg["sync_dir"], "go")):
    time.sleep(0.005)

def objective(trial):
    trial.set_user_attr("pid", os.getpid())
    if cfg["pruner"] == "hyperband":
        trial.set_user_attr("bracket", pruner.bracket_of(trial.number))
    x = trial.suggest_float("x", 0.0, 1.0)
    for step in range(1, cfg["last_step"] + 1):
        trial.report(x + 1.0 / step, step)
        if trial.should_prune():
            raise pipetune.TrialPruned()
    return x + 1.0 / cfg["last_step"]

study.optimize(objective, n_trials=cfg["n_trials"])
'''


def run_processes(tmp_path: Path, url: str, pruner: str, n_trials: int) -> None:
    script = tmp_path / "process.py"
    script.write_text(PROCESS)
    sync_dir = tmp_path / "sync"
    sync_dir.mkdir()
    processes = []
    for seed in range(N_PROCESSES):
        cfg = {"url": url, "pruner": pruner, "seed": seed, "n_trials": n_trials,
               "last_step": LAST_STEP, "sync_dir": str(sync_dir)}
        processes.append(subprocess.Popen(
            [sys.executable, str(script), json.dumps(cfg)],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True))
    try:
        deadline = time.monotonic() + 120
        while len(list(sync_dir.glob("ready-*"))) < N_PROCESSES:
            assert all(p.poll() is None for p in processes), [p.communicate()[0]
                                                              for p in processes]
            assert time.monotonic() < deadline, "the processes did not start"
            time.sleep(0.02)
        (sync_dir / "go").touch()
        for process in processes:
            output, _ = process.communicate(timeout=180)
            assert process.returncode == 0, output
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
                process.wait()


def rungs_of(pruner: str, number: int) -> set[int]:
    """The steps at which the pruner may stop trial ``number`` (its bracket's rungs)."""
    if pruner == "hyperband":
        first = 3 ** HyperbandPruner(1, LAST_STEP, 3).bracket_of(number)
        return {r for r in (1, 3, 9) if r >= first}  # none at or beyond max_resource 27
    return {1, 3, 9, 27}


@pytest.mark.parametrize("pruner", ["asha", "hyperband"])
def test_processes_sharing_a_study_judge_every_trial_alike(tmp_path, sqlite_url, pruner):
    pipetune.create_study(study_name="shared", storage=sqlite_url)
    run_processes(tmp_path, sqlite_url, pruner, n_trials=10)

    trials = pipetune.load_study(study_name="shared", storage=sqlite_url).trials
    assert sorted(t.number for t in trials) == list(range(N_PROCESSES * 10))
    assert len({t.user_attrs["pid"] for t in trials}) > 1  # the processes did interleave
    states = {t.state for t in trials}
    assert states <= {pipetune.TrialState.COMPLETE, pipetune.TrialState.PRUNED}
    assert pipetune.TrialState.PRUNED in states and pipetune.TrialState.COMPLETE in states
    for trial in trials:
        if pruner == "hyperband":
            reference = HyperbandPruner(1, LAST_STEP, 3).bracket_of(trial.number)
            assert trial.user_attrs["bracket"] == reference, trial.number
        if trial.state == pipetune.TrialState.PRUNED:
            assert trial.last_step in rungs_of(pruner, trial.number), (trial.number,
                                                                       trial.last_step)
            assert trial.value == trial.intermediate_values[trial.last_step]
        else:
            assert trial.last_step == LAST_STEP
