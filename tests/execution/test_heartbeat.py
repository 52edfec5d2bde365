"""Heartbeats and crash recovery: stale trials fail, are retried as asked, and the settings
travel with the study. Time is a fake clock wherever the test decides what is stale."""

from __future__ import annotations

import time

import pytest

import pipetune
from pipetune.datatypes import TrialState
from pipetune.errors import InvalidArgumentError
from pipetune.execution.heartbeat import (
    GRACE_SLACK_SECONDS,
    Liveness,
    process_heartbeat,
    recover_stale_trials,
)
from pipetune.storage import InMemoryStorage


class Clock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


def test_memory_storage_fails_only_trials_silent_past_the_grace_period(clock: Clock) -> None:
    storage = InMemoryStorage(clock=clock)
    study_id = storage.create_study("s", [pipetune.StudyDirection.MINIMIZE])
    beating = storage.claim_trial(study_id, worker="a:1")
    silent = storage.claim_trial(study_id, worker="b:2")
    clock.now += 5
    storage.heartbeat(beating.trial_id)
    clock.now += 4  # beating: 4 s ago; silent: 9 s ago
    assert storage.fail_stale_trials(study_id, grace_period=10) == []
    (failed,) = storage.fail_stale_trials(study_id, grace_period=6)
    assert failed.trial_id == silent.trial_id and failed.state == TrialState.FAIL
    assert failed.system_attrs["fail_reason"] == "no heartbeat for 9s (worker b:2 presumed dead)"
    assert storage.get_trial(beating.trial_id).state == TrialState.RUNNING
    clock.now += 100
    storage.finish_trial(beating.trial_id, TrialState.COMPLETE, [1.0])
    assert storage.fail_stale_trials(study_id, grace_period=6) == []  # finished: never stale


def test_a_claimed_waiting_trial_starts_its_heartbeat_at_the_claim(clock: Clock) -> None:
    storage = InMemoryStorage(clock=clock)
    study_id = storage.create_study("s", [pipetune.StudyDirection.MINIMIZE])
    storage.create_trial(study_id)
    clock.now += 100  # waiting is not running: no heartbeat is due
    claimed = storage.claim_trial(study_id)
    clock.now += 1
    assert storage.fail_stale_trials(study_id, grace_period=5) == []
    clock.now += 10
    assert [t.trial_id for t in storage.fail_stale_trials(study_id, 5)] == [claimed.trial_id]


def test_settings_are_stored_with_the_study_and_validated() -> None:
    storage = InMemoryStorage()
    study = pipetune.create_study(storage=storage, study_name="s", heartbeat_interval=2.0,
                                  retry_failed=1)
    assert study.system_attrs == {"heartbeat_interval": 2.0,
                                  "grace_period": 4.0 + GRACE_SLACK_SECONDS, "retry_failed": 1}
    loaded = pipetune.load_study(study_name="s", storage=storage)
    liveness = loaded.run_interface.liveness
    assert liveness is not None and liveness.settings == Liveness(2.0, 4.0 + GRACE_SLACK_SECONDS, 1)
    plain = pipetune.create_study(storage=storage, study_name="plain")
    assert plain.system_attrs == {} and plain.run_interface.liveness is None
    bad = [{"heartbeat_interval": 0}, {"heartbeat_interval": 1, "grace_period": 1},
           {"grace_period": 5}, {"retry_failed": 2},
           {"heartbeat_interval": 1, "retry_failed": -1}]
    for kwargs in bad:
        with pytest.raises(InvalidArgumentError, match="heartbeat_interval|grace_period|retry"):
            pipetune.create_study(storage=storage, **kwargs)


def test_stale_trials_are_retried_with_their_params_at_most_retry_failed_times(
        clock: Clock) -> None:
    storage = InMemoryStorage(clock=clock)
    study = pipetune.create_study(storage=storage, study_name="s", heartbeat_interval=1.0,
                                  grace_period=3.0, retry_failed=1)
    liveness = study.run_interface.liveness.settings
    trial = study.ask()
    trial.suggest_float("x", 0, 1)
    trial.suggest_categorical("kind", ["a", "b"])
    study.run_interface.liveness.finished(trial.trial_id)  # the worker "dies": no more beats
    clock.now += 10
    (failed,) = recover_stale_trials(storage, study.run_interface.study_id, liveness)
    assert failed.number == trial.number
    retry = study.ask()
    assert retry.system_attrs["retry_of"] == trial.number
    assert retry.suggest_float("x", 0, 1) == trial.params["x"]
    assert retry.suggest_categorical("kind", ["a", "b"]) == trial.params["kind"]
    study.run_interface.liveness.finished(retry.trial_id)
    clock.now += 10
    (failed_again,) = recover_stale_trials(storage, study.run_interface.study_id, liveness)
    assert failed_again.number == retry.number
    # The one retry allowed is spent: nothing more is queued.
    assert storage.count_trials(study.run_interface.study_id, [TrialState.WAITING]) == 0


def test_ask_checks_for_dead_workers_before_claiming(clock: Clock) -> None:
    storage = InMemoryStorage(clock=clock)
    study = pipetune.create_study(storage=storage, study_name="s", heartbeat_interval=1.0,
                                  grace_period=3.0, retry_failed=2)
    dead = storage.claim_trial(study.run_interface.study_id, worker="gone:1")
    storage.set_trial_params(
        dead.trial_id, {"x": (0.25, pipetune.distributions.FloatDistribution(0, 1))})
    clock.now += 10
    trial = study.ask()
    assert storage.get_trial(dead.trial_id).state == TrialState.FAIL
    assert trial.system_attrs["retry_of"] == dead.number
    assert trial.suggest_float("x", 0, 1) == 0.25
    study.tell(trial, 1.0)


def test_the_process_beats_for_its_running_trials_until_they_finish() -> None:
    storage = InMemoryStorage()
    study = pipetune.create_study(storage=storage, study_name="s", heartbeat_interval=0.05,
                                  grace_period=1.0)
    trial = study.ask()
    assert trial.trial_id in process_heartbeat().running(storage)
    time.sleep(0.4)  # far longer than the 0.05 s interval: beats have happened
    assert storage.fail_stale_trials(study.run_interface.study_id, grace_period=0.3) == []
    study.tell(trial, 1.0)
    assert trial.trial_id not in process_heartbeat().running(storage)


def test_optimize_beats_and_keeps_to_the_study_budget() -> None:
    storage = InMemoryStorage()
    study = pipetune.create_study(storage=storage, study_name="s", heartbeat_interval=0.05,
                                  grace_period=1.0)
    storage.set_study_attr(study.run_interface.study_id, "max_trials", 7, system=True)
    study = pipetune.load_study(study_name="s", storage=storage)
    study.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=20, n_jobs=2)
    assert len(study.trials) == 7
    assert all(t.state == TrialState.COMPLETE and t.worker for t in study.trials)
    assert not process_heartbeat().running(storage)
