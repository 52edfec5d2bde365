"""Trial numbers under concurrent writers. A claim of a new trial takes no study lock (one
statement; on PostgreSQL two claims may compute the same number at once, and the later one runs
again), while enqueued trials, budgeted claims and retries are inserted under the lock: mixed
together, from many threads at once, every trial still gets its own number and the numbers
have no gaps."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from pipetune.datatypes import StudyDirection, TrialState
from pipetune.storage.sql import SQLStorage


@pytest.fixture
def storage(storage_url: str) -> Iterator[SQLStorage]:
    backend = SQLStorage(storage_url)
    yield backend
    backend.close()


def _in_threads(n: int, work) -> None:
    errors: list[BaseException] = []
    start = threading.Barrier(n)

    def run(i: int) -> None:
        try:
            start.wait()
            work(i)
        except BaseException as error:  # noqa: BLE001 - reported below
            errors.append(error)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert not errors, errors


def test_lock_free_claims_and_locked_inserts_never_share_a_number(storage) -> None:
    study_id = storage.create_study("s", [StudyDirection.MINIMIZE])
    claimed: list[list[int]] = [[] for _ in range(6)]
    enqueued: list[list[int]] = [[] for _ in range(6)]

    def work(i: int) -> None:
        for _ in range(20):
            if i % 3 == 0:  # enqueues and budgeted claims lock the study
                enqueued[i].append(storage.create_trial(study_id).trial_id)
                claimed[i].append(storage.claim_trial(study_id, max_trials=10_000).trial_id)
            else:
                claimed[i].append(storage.claim_trial(study_id).trial_id)

    _in_threads(6, work)
    trials = storage.get_trials(study_id)
    assert [t.number for t in trials] == list(range(len(trials)))
    assert len({t.trial_id for t in trials}) == len(trials)
    every_claim = [trial_id for ids in claimed for trial_id in ids]
    assert len(every_claim) == len(set(every_claim)) == 6 * 20
    # Each trial is either claimed (RUNNING) or still waiting to be; none is claimed twice.
    waiting = {t.trial_id for t in trials if t.state == TrialState.WAITING}
    assert waiting | set(every_claim) == {t.trial_id for t in trials}
    assert not waiting & set(every_claim)
    assert {trial_id for ids in enqueued for trial_id in ids} <= {t.trial_id for t in trials}


def test_a_claim_on_a_deleted_study_says_so(storage) -> None:
    from pipetune.errors import StudyNotFoundError

    study_id = storage.create_study("gone", [StudyDirection.MINIMIZE])
    storage.delete_study(study_id)
    with pytest.raises(StudyNotFoundError):
        storage.claim_trial(study_id)
    assert storage.count_trials(study_id) == 0
