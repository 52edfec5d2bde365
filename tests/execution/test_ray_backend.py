"""The Ray backend: trials run as Ray tasks on a local 2-CPU Ray bound to 127.0.0.1, reporting
and pruning through a SQLite file the driver and the tasks share."""

from __future__ import annotations

import os
import sys
import time

import pytest
from availability import require_installed

import pipetune
from pipetune import TrialState
from pipetune.errors import InvalidArgumentError
from pipetune.pruners import MedianPruner
from pipetune.samplers import RandomSampler

require_installed("ray", extra="ray")

N_STEPS = 10


@pytest.fixture
def ray(monkeypatch: pytest.MonkeyPatch):
    """``ray``, imported only now: Ray reads these variables at import, and they keep every
    Ray listener on 127.0.0.1 and Ray from reporting usage anywhere."""
    monkeypatch.setenv("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
    monkeypatch.setenv("RAY_USAGE_STATS_ENABLED", "0")
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    import ray

    assert not ray.is_initialized()
    yield ray
    assert not ray.is_initialized(), "the backend must shut down the Ray it started"


def test_ray_backend_runs_a_pruned_study(tmp_path, ray) -> None:
    storage = f"sqlite:///{tmp_path / 'ray.db'}"
    study = pipetune.create_study(storage=storage, study_name="ray-pruned",
                                  sampler=RandomSampler(seed=3),
                                  pruner=MedianPruner(n_startup_trials=2, n_warmup_steps=1))

    def objective(trial: pipetune.Trial) -> float:
        x = trial.suggest_float("x", -1.0, 1.0)
        trial.set_user_attr("pid", os.getpid())
        trial.set_user_attr("node_ip", ray.util.get_node_ip_address())
        for step in range(N_STEPS):
            trial.report(x * x + 1.0 / (step + 1), step)
            if trial.should_prune():
                raise pipetune.TrialPruned()
        return x * x

    study.optimize(objective, n_trials=12, n_jobs=2, backend="ray",
                   resources_per_trial={"cpu": 1, "gpu": 0})

    trials = pipetune.load_study(study_name="ray-pruned", storage=storage).trials
    assert sorted(t.number for t in trials) == list(range(12))
    states = [t.state for t in trials]
    assert set(states) <= {TrialState.COMPLETE, TrialState.PRUNED}
    assert states.count(TrialState.PRUNED) > 0
    for t in trials:
        assert t.user_attrs["pid"] != os.getpid()  # the objective ran in a Ray worker
        assert t.user_attrs["node_ip"] == "127.0.0.1"
        if t.state == TrialState.PRUNED:
            assert 0 < len(t.intermediate_values) < N_STEPS
        else:
            assert sorted(t.intermediate_values) == list(range(N_STEPS))
            assert t.value == pytest.approx(t.params["x"] ** 2)
    assert study.best_trial.state == TrialState.COMPLETE
    assert study.best_value == min(t.value for t in trials if t.state == TrialState.COMPLETE)


def test_ray_backend_fails_trials_and_raises_the_objectives_error(tmp_path, ray) -> None:
    storage = f"sqlite:///{tmp_path / 'ray.db'}"
    study = pipetune.create_study(storage=storage, sampler=RandomSampler(seed=0))

    def objective(trial: pipetune.Trial) -> float:
        x = trial.suggest_int("x", 0, 9)
        if trial.number % 2:
            raise ValueError(f"odd trial {trial.number}")
        return float(x)

    # A Ray the caller started is joined, and left running for the caller to shut down.
    ray.init(num_cpus=2, include_dashboard=False, _node_ip_address="127.0.0.1",
             configure_logging=False)
    try:
        assert ray.util.get_node_ip_address() == "127.0.0.1"
        study.optimize(objective, n_trials=4, n_jobs=2, backend="ray", catch=(ValueError,))
        trials = study.trials
        assert [t.state for t in trials] == [TrialState.COMPLETE, TrialState.FAIL] * 2
        assert trials[1].system_attrs["fail_reason"] == "ValueError: odd trial 1"
        assert "raise ValueError" in trials[1].system_attrs["traceback"]
        assert ray.is_initialized()

        with pytest.raises(ValueError, match="odd trial"):
            study.optimize(objective, n_trials=4, n_jobs=1, backend="ray")
        assert all(t.state != TrialState.RUNNING for t in study.trials)
    finally:
        ray.shutdown()


def test_ray_backend_refuses_what_no_node_has_and_fails_claimed_trials_on_ctrl_c(
        tmp_path, ray) -> None:
    # Two promises on one Ray without a GPU (each start of Ray costs seconds).
    ray.init(num_cpus=2, num_gpus=0, include_dashboard=False, _node_ip_address="127.0.0.1",
             configure_logging=False)
    try:
        study = pipetune.create_study(storage=f"sqlite:///{tmp_path / 'ray.db'}",
                                      sampler=RandomSampler(seed=0))
        # A GPU per trial where no node has one: refused at once, instead of a run that waits
        # forever for Ray to schedule its first task.
        with pytest.raises(InvalidArgumentError, match=r"resources_per_trial=\{'cpu': 1, "
                           r"'gpu': 1\} asks more than any node .* \(GPU\): its 1 live node\(s\) "
                           r"have at most 2 CPU and 0 GPU each"):
            study.optimize(lambda t: 0.0, n_trials=1, backend="ray",
                           resources_per_trial={"cpu": 1, "gpu": 1})
        assert study.trials == []

        def objective(trial: pipetune.Trial) -> float:
            x = trial.suggest_float("x", 0.0, 1.0)
            if trial.number == 1:
                time.sleep(60)
            return x

        def ctrl_c(study: pipetune.Study, trial: pipetune.FrozenTrial) -> None:
            raise KeyboardInterrupt  # as a Ctrl-C while trial 1 runs would

        with pytest.raises(KeyboardInterrupt):
            study.optimize(objective, n_trials=2, n_jobs=2, backend="ray", callbacks=[ctrl_c])
        first, second = study.trials
        assert first.state == TrialState.COMPLETE
        assert second.state == TrialState.FAIL  # not left RUNNING
        assert second.system_attrs["fail_reason"].startswith("KeyboardInterrupt")
    finally:
        ray.shutdown()


@pytest.mark.parametrize("storage", [None, "sqlite://"])
def test_ray_backend_refuses_in_memory_storage(storage) -> None:
    study = pipetune.create_study(storage=storage)
    with pytest.raises(InvalidArgumentError, match="in-memory storage"):
        study.optimize(lambda t: 0.0, n_trials=1, backend="ray")
    ray = sys.modules.get("ray")
    assert ray is None or not ray.is_initialized()  # refused before any Ray started
    assert study.trials == []


@pytest.mark.parametrize("resources", [{"cpu": -1}, {"memory": 2}, [1, 0]])
def test_ray_backend_rejects_bad_resources(tmp_path, resources) -> None:
    study = pipetune.create_study(storage=f"sqlite:///{tmp_path / 'ray.db'}")
    with pytest.raises(InvalidArgumentError, match="resources_per_trial"):
        study.optimize(lambda t: 0.0, n_trials=1, backend="ray", resources_per_trial=resources)
    with pytest.raises(InvalidArgumentError, match="backend"):
        study.optimize(lambda t: 0.0, n_trials=1, backend="dask")
