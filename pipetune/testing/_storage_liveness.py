"""Storage contract, part two: the study-wide budget and heartbeats that workers on many
machines rely on. ``StorageContract`` (``pipetune.testing.storage``) inherits these tests, so
every backend passes them; they need a ``storage`` fixture like the rest of the contract."""

from __future__ import annotations

import threading
import time

from pipetune._attrs import (
    FAIL_REASON_ATTR,
    FIXED_PARAMS_ATTR,
    RETRY_COUNT_ATTR,
    RETRY_HISTORY_ATTR,
    RETRY_OF_ATTR,
)
from pipetune._imports import require
from pipetune.datatypes import StudyDirection, TrialState
from pipetune.distributions import FloatDistribution
from pipetune.errors import TrialNotFoundError
from pipetune.storage.base import BaseStorage
from pipetune.testing._claims import claim_one

pytest = require("pytest", "test")

_STARTED = (TrialState.RUNNING, TrialState.COMPLETE, TrialState.PRUNED)


def _study(storage: BaseStorage) -> int:
    return storage.create_study("liveness", [StudyDirection.MINIMIZE])


class LivenessContract:
    """Budget and heartbeat behaviours of ``BaseStorage``."""

    # -- study-wide budget ---------------------------------------------------------------------

    def test_claim_with_budget_counts_started_trials_that_did_not_fail(
            self, storage: BaseStorage) -> None:
        study_id = _study(storage)
        for state in (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL):
            trial = claim_one(storage, study_id, max_trials=3)
            storage.finish_trial(trial.trial_id, state, [1.0] if state.name == "COMPLETE" else None)
        waiting = storage.create_trial(study_id)
        # Two count (COMPLETE, PRUNED); the WAITING one is taken first and makes three.
        claimed = claim_one(storage, study_id, worker="w", max_trials=3)
        assert claimed is not None and claimed.trial_id == waiting.trial_id
        assert storage.claim_trial(study_id, max_trials=3) is None
        assert storage.count_trials(study_id) == 4  # a refused claim creates nothing
        storage.finish_trial(claimed.trial_id, TrialState.FAIL)
        assert storage.claim_trial(study_id, max_trials=3) is not None  # a failure frees a slot
        assert storage.claim_trial(study_id, max_trials=None) is not None  # no budget

    def test_concurrent_claims_never_overshoot_the_budget(self, storage: BaseStorage) -> None:
        study_id = _study(storage)
        budget = 20

        def work(i: int) -> None:
            while True:
                trial = storage.claim_trial(study_id, worker=f"thread-{i}", max_trials=budget)
                if trial is None:
                    return
                # Every third trial fails, so the budget must be refilled by new claims.
                failed = trial.number % 3 == 0
                storage.finish_trial(trial.trial_id,
                                     TrialState.FAIL if failed else TrialState.COMPLETE,
                                     None if failed else [float(i)])

        threads = [threading.Thread(target=work, args=(i,)) for i in range(6)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        trials = storage.get_trials(study_id)
        assert sum(t.state == TrialState.COMPLETE for t in trials) == budget
        assert [t.number for t in trials] == list(range(len(trials)))

    def test_claim_with_max_parallel_counts_running_trials(self, storage: BaseStorage) -> None:
        study_id = _study(storage)
        first = claim_one(storage, study_id, max_parallel=2)
        second = claim_one(storage, study_id, max_parallel=2)
        storage.create_trial(study_id)  # a WAITING trial does not run yet
        assert storage.claim_trial(study_id, max_parallel=2) is None
        assert storage.count_trials(study_id) == 3  # a refused claim creates nothing
        storage.finish_trial(first.trial_id, TrialState.COMPLETE, [1.0])
        third = claim_one(storage, study_id, max_parallel=2)  # a finished trial frees a slot
        assert third is not None and third.state == TrialState.RUNNING
        assert storage.claim_trial(study_id, max_parallel=2) is None
        assert second is not None and storage.claim_trial(study_id) is not None  # no cap

    def test_concurrent_claims_never_run_more_than_max_parallel(
            self, storage: BaseStorage) -> None:
        study_id = _study(storage)
        cap = 2
        observed: list[int] = []

        def work(i: int) -> None:
            done = 0
            while done < 5:
                trial = storage.claim_trial(study_id, worker=f"thread-{i}", max_parallel=cap)
                if trial is None:
                    time.sleep(0.001)
                    continue
                observed.append(storage.count_trials(study_id, [TrialState.RUNNING]))
                time.sleep(0.002)  # let the other threads try to claim meanwhile
                storage.finish_trial(trial.trial_id, TrialState.COMPLETE, [float(i)])
                done += 1

        threads = [threading.Thread(target=work, args=(i,)) for i in range(5)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert max(observed) <= cap
        assert storage.count_trials(study_id, [TrialState.COMPLETE]) == 25

    # -- heartbeats ----------------------------------------------------------------------------

    def test_fail_stale_trials_fails_silent_running_trials_once(
            self, storage: BaseStorage) -> None:
        study_id = _study(storage)
        running = claim_one(storage, study_id, worker="host-a:123")
        done = claim_one(storage, study_id)
        storage.finish_trial(done.trial_id, TrialState.COMPLETE, [1.0])
        waiting = storage.create_trial(study_id)
        assert storage.fail_stale_trials(study_id, grace_period=3600.0) == []
        time.sleep(0.02)
        (failed,) = storage.fail_stale_trials(study_id, grace_period=0.0)
        assert failed.trial_id == running.trial_id and failed.state == TrialState.FAIL
        reason = failed.system_attrs[FAIL_REASON_ATTR]
        assert reason.startswith("no heartbeat for ") and "host-a:123 presumed dead" in reason
        assert storage.get_trial(running.trial_id) == failed
        assert storage.get_trial(done.trial_id).state == TrialState.COMPLETE
        assert storage.get_trial(waiting.trial_id).state == TrialState.WAITING
        assert storage.fail_stale_trials(study_id, grace_period=0.0) == []
        # The worker finds out late: its result is refused, the failure stays.
        assert storage.finish_trial(running.trial_id, TrialState.COMPLETE, [0.0]) is False

    def test_fail_stale_trials_enqueues_retries_in_the_same_call(
            self, storage: BaseStorage) -> None:
        study_id = _study(storage)
        enqueued = storage.create_trial(study_id, system_attrs={FIXED_PARAMS_ATTR: {"b": "x"}})
        trial = claim_one(storage, study_id, worker="w:1")
        assert trial.trial_id == enqueued.trial_id
        storage.set_trial_params(trial.trial_id, {"a": (0.25, FloatDistribution(0.0, 1.0))})
        time.sleep(0.02)
        (failed,) = storage.fail_stale_trials(study_id, grace_period=0.0, retry_failed=1)
        (retry,) = storage.get_trials(study_id, [TrialState.WAITING])
        assert retry.system_attrs == {FIXED_PARAMS_ATTR: {"a": 0.25, "b": "x"},
                                      RETRY_OF_ATTR: failed.number, RETRY_COUNT_ATTR: 1,
                                      RETRY_HISTORY_ATTR: [failed.number]}
        # A full budget cannot be overtaken: the retry is claimable at once.
        assert claim_one(storage, study_id, max_trials=1).trial_id == retry.trial_id
        time.sleep(0.02)
        (failed_again,) = storage.fail_stale_trials(study_id, grace_period=0.0, retry_failed=1)
        assert failed_again.trial_id == retry.trial_id
        assert storage.count_trials(study_id, [TrialState.WAITING]) == 0  # its one retry is spent

    def test_heartbeat_keeps_a_trial_alive(self, storage: BaseStorage) -> None:
        study_id = _study(storage)
        alive = claim_one(storage, study_id)
        silent = claim_one(storage, study_id)
        time.sleep(0.6)
        storage.heartbeat(alive.trial_id)
        failed = storage.fail_stale_trials(study_id, grace_period=0.3)
        assert [t.trial_id for t in failed] == [silent.trial_id]
        assert storage.get_trial(alive.trial_id).state == TrialState.RUNNING

    def test_heartbeat_of_finished_trial_is_ignored_and_unknown_raises(
            self, storage: BaseStorage) -> None:
        study_id = _study(storage)
        trial = claim_one(storage, study_id)
        storage.finish_trial(trial.trial_id, TrialState.COMPLETE, [1.0])
        storage.heartbeat(trial.trial_id)
        assert storage.get_trial(trial.trial_id).state == TrialState.COMPLETE
        with pytest.raises(TrialNotFoundError):
            storage.heartbeat(10**6)
