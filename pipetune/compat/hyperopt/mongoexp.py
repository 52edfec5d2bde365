"""Hyperopt's ``MongoTrials``, mapped onto pipetune's shared storages.

Hyperopt shares one search among processes and machines through MongoDB; pipetune does it
through any of its shared storages (SQLite on one machine, PostgreSQL or MySQL across
machines). ``MongoTrials(url, exp_key=...)`` is ``Trials(storage=url, study_name=exp_key)``:
every ``fmin`` given one with the same URL and key adds to one study, and ``max_evals`` counts
the trials of all of them. No worker process is needed: each ``fmin`` evaluates its own trials.
"""

from __future__ import annotations

from typing import Any

from pipetune.compat.hyperopt.fmin import Trials
from pipetune.errors import StorageURLError


class MongoTrials(Trials):
    """A ``Trials`` kept in the pipetune storage at ``arg`` (a URL such as
    ``postgresql://host/db`` or ``sqlite:///hpo.db``), in the study named ``exp_key``."""

    def __init__(self, arg: Any, exp_key: str | None = None, refresh: bool = True,
                 **kwargs: Any) -> None:
        if isinstance(arg, str) and arg.startswith("mongo"):
            raise StorageURLError(
                f"MongoTrials({arg!r}): pipetune keeps trials in its own storages, not MongoDB. "
                "Give a storage URL instead, e.g. 'postgresql://user@host/db' (shared across "
                "machines) or 'sqlite:///hpo.db' (one machine); see docs/storage.md.")
        super().__init__(exp_key, refresh, storage=arg,
                         study_name=exp_key if exp_key is not None else "hyperopt")


__all__ = ["MongoTrials"]
