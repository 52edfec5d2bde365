"""The claim the storage contract suites make most: one the storage must grant."""

from __future__ import annotations

from pipetune.datatypes import FrozenTrial
from pipetune.storage.base import BaseStorage


def claim_one(storage: BaseStorage, study_id: int, worker: str | None = None,
              max_trials: int | None = None, max_parallel: int | None = None) -> FrozenTrial:
    """``storage.claim_trial`` where no budget is reached, so the contract says the claim is
    granted: the trial, typed as one (``claim_trial`` returns None only for a spent budget)."""
    trial = storage.claim_trial(study_id, worker=worker, max_trials=max_trials,
                                max_parallel=max_parallel)
    assert trial is not None, f"claim_trial refused a claim on study {study_id} within budget"
    return trial
