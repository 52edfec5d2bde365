"""Copying Optuna studies into a pipetune storage: what ``pipetune import optuna`` runs.

Optuna itself (``pip install 'pipetune[optuna]'``) reads the source, through its public
storage API: a SQLite or PostgreSQL database (``RDBStorage``, schema of Optuna 3.0 or later) or
a journal file (``JournalStorage``). Every study is copied with its directions and attrs, every
trial with its number's order, state, values, params and distributions, intermediate values,
user and system attrs, start and completion times, each trial in one atomic write
(``BaseStorage.add_trial``). Optuna's system attrs keep their meaning here: ``fixed_params``
(an enqueued trial's params), ``constraints``, ``retry_history`` and ``study:metric_names``
are the keys pipetune uses too.

Running it again adds nothing: each copied trial records the number it has in Optuna
(``OPTUNA_NUMBER_ATTR``), and only the trials not copied yet are added, so an import that
was interrupted is completed, and trials Optuna ran since are added after the others. A
trial is copied once, as it was then: one RUNNING at the first import stays as copied.
"""

from __future__ import annotations

import contextlib
import os
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from pipetune._attrs import IMPORTED_FROM_ATTR, OPTUNA_NUMBER_ATTR
from pipetune._imports import require
from pipetune.datatypes import FrozenTrial, StudyDirection, TrialState
from pipetune.distributions import (
    CategoricalDistribution,
    Distribution,
    FloatDistribution,
    IntDistribution,
)
from pipetune.errors import DuplicateStudyError, InvalidArgumentError, StorageURLError
from pipetune.storage import BaseStorage, sql_url

__all__ = ["OPTUNA", "ImportedStudy", "import_optuna", "open_optuna_storage"]

# The value of a copied study's ``IMPORTED_FROM_ATTR``.
OPTUNA = "optuna"
_SQL_SCHEMES = ("sqlite", "postgresql", "postgres", "mysql")
_SQLITE_HEADER = b"SQLite format 3\x00"


@dataclass(frozen=True)
class ImportedStudy:
    """One study an import went through: its name, how many trials it has in Optuna, and how
    many this import added (0 when it was copied whole before)."""

    study_name: str
    n_trials: int
    n_added: int


@contextlib.contextmanager
def _quiet_optuna() -> Iterator[Any]:
    """Optuna, its warnings (experimental features, deprecations) and log lines silenced: an
    import reads, it should not talk."""
    optuna = require("optuna", "optuna")
    level = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield optuna
    finally:
        optuna.logging.set_verbosity(level)


def open_optuna_storage(source: str) -> Any:
    """Optuna's storage of ``source``: a database URL (``sqlite:///optuna.db``,
    ``postgresql://user@host/db``), ``journal:///path`` (relative like SQLite's;
    ``journal:////abs`` absolute) or a file path (a SQLite database, else a journal file).
    It reads what is there and never creates it."""
    scheme = source.split(":", 1)[0].split("+", 1)[0].lower() if "://" in source else ""
    with _quiet_optuna() as optuna:
        if scheme == "journal":
            return _journal(optuna, source[len("journal:///"):])
        if scheme in _SQL_SCHEMES:
            if scheme == "sqlite":
                path = source.split(":///", 1)[-1].split("?", 1)[0]
                if path and path != ":memory:" and not os.path.isfile(path):
                    raise StorageURLError(f"No Optuna database at {os.path.abspath(path)!r} "
                                          f"(--from {source}): check the path.")
            return _rdb(optuna, sql_url(source), source)
        if scheme:
            raise StorageURLError(
                f"Cannot read Optuna studies from {source!r}: give a database URL "
                "(sqlite:///optuna.db, postgresql://user@host/db), journal:///optuna.log or "
                "the path of a file.")
        if not os.path.isfile(source):
            raise StorageURLError(f"No file at {os.path.abspath(source)!r} (--from {source}).")
        with open(source, "rb") as handle:
            is_sqlite = handle.read(len(_SQLITE_HEADER)) == _SQLITE_HEADER
        if is_sqlite:
            return _rdb(optuna, f"sqlite:///{os.path.abspath(source)}", source)
        return _journal(optuna, source)


def _rdb(optuna: Any, url: str, shown: str) -> Any:
    try:
        storage = optuna.storages.RDBStorage(url, skip_compatibility_check=True,
                                             skip_table_creation=True)
        storage.get_all_studies()  # fails here when it is not an Optuna database
    except Exception as error:  # noqa: BLE001 - driver and schema errors alike: say what to do
        raise StorageURLError(
            f"Cannot read Optuna studies from {shown}: {type(error).__name__}: "
            f"{str(error).splitlines()[0] if str(error) else ''}. Is it a database written by "
            "Optuna 3.0 or later? An older one upgrades with `optuna storage upgrade`."
        ) from None
    return storage


def _journal(optuna: Any, path: str) -> Any:
    if not os.path.isfile(path):
        raise StorageURLError(f"No Optuna journal at {os.path.abspath(path)!r}: check the path.")
    from optuna.storages.journal import JournalFileBackend

    try:
        return optuna.storages.JournalStorage(JournalFileBackend(path))
    except Exception as error:  # noqa: BLE001 - a file that is no journal fails in many ways
        raise StorageURLError(
            f"Cannot read {os.path.abspath(path)!r} as an Optuna journal: "
            f"{type(error).__name__}: {error}.") from None


def _distribution(optuna_distribution: Any) -> Distribution:
    """pipetune's domain of an Optuna distribution (Optuna 3+ hands out only these three)."""
    kind = type(optuna_distribution).__name__
    if kind == "FloatDistribution":
        return FloatDistribution(optuna_distribution.low, optuna_distribution.high,
                                 log=optuna_distribution.log, step=optuna_distribution.step)
    if kind == "IntDistribution":
        return IntDistribution(optuna_distribution.low, optuna_distribution.high,
                               log=optuna_distribution.log, step=optuna_distribution.step)
    if kind == "CategoricalDistribution":
        return CategoricalDistribution(tuple(optuna_distribution.choices))
    raise InvalidArgumentError(f"An Optuna distribution pipetune has no counterpart for: "
                               f"{optuna_distribution!r}.")


def _trial(optuna_trial: Any) -> FrozenTrial:
    """pipetune's copy of an Optuna FrozenTrial, marked with its Optuna number."""
    distributions = {name: _distribution(d) for name, d in optuna_trial.distributions.items()}
    values = optuna_trial.values
    return FrozenTrial(
        number=optuna_trial.number, trial_id=-1, state=TrialState[optuna_trial.state.name],
        values=None if values is None else tuple(float(v) for v in values),
        params=dict(optuna_trial.params), distributions=distributions,
        user_attrs=dict(optuna_trial.user_attrs),
        system_attrs={**optuna_trial.system_attrs, OPTUNA_NUMBER_ATTR: optuna_trial.number},
        intermediate_values={int(step): float(value) for step, value
                             in sorted(optuna_trial.intermediate_values.items())},
        datetime_start=optuna_trial.datetime_start,
        datetime_complete=optuna_trial.datetime_complete)


def _target_study(target: BaseStorage, name: str, directions: list[StudyDirection]) -> int:
    """The id of the study to copy into: created, or the one an earlier import created."""
    try:
        return target.create_study(name, directions)
    except DuplicateStudyError:
        study_id = target.get_study_id(name)
        if target.get_study_attrs(study_id, system=True).get(IMPORTED_FROM_ATTR) != OPTUNA:
            raise DuplicateStudyError(
                f"The target storage already has a study named {name!r} that was not imported "
                "from Optuna. Import into another storage (--to), or rename or delete that "
                "study first.") from None
        if list(target.get_study_directions(study_id)) != directions:
            raise DuplicateStudyError(
                f"The target storage's study {name!r} has other directions than the Optuna "
                "study of that name: it is not a copy of it. Import into another storage "
                "(--to).") from None
        return study_id


def import_optuna(source: str | Any, target: BaseStorage,
                  study_name: str | None = None) -> list[ImportedStudy]:
    """Copies the Optuna studies of ``source`` (see ``open_optuna_storage``; or an Optuna
    storage object), or only the one named ``study_name``, into ``target``, adding only what
    earlier imports did not (see the module docstring). Returns what it did per study."""
    storage = open_optuna_storage(source) if isinstance(source, str) else source
    with _quiet_optuna():
        studies = storage.get_all_studies()
        if study_name is not None:
            studies = [s for s in studies if s.study_name == study_name]
            if not studies:
                names = sorted(s.study_name for s in storage.get_all_studies())
                raise InvalidArgumentError(
                    f"No Optuna study named {study_name!r} in {source}. Its studies: "
                    f"{', '.join(names) or 'none'}.")
        done = []
        for study in studies:
            # NOT_SET (a study created without directions) is Optuna's minimize.
            directions = [StudyDirection.MAXIMIZE if d.name == "MAXIMIZE"
                          else StudyDirection.MINIMIZE for d in study.directions]
            study_id = _target_study(target, study.study_name, directions)
            for key, value in study.user_attrs.items():
                target.set_study_attr(study_id, key, value)
            for key, value in {**study.system_attrs, IMPORTED_FROM_ATTR: OPTUNA}.items():
                target.set_study_attr(study_id, key, value, system=True)
            copied = {t.system_attrs.get(OPTUNA_NUMBER_ATTR) for t in target.get_trials(study_id)}
            trials = storage.get_all_trials(storage.get_study_id_from_name(study.study_name),
                                            deepcopy=False)
            added = 0
            for trial in sorted(trials, key=lambda t: t.number):
                if trial.number not in copied:
                    target.add_trial(study_id, _trial(trial))
                    added += 1
            done.append(ImportedStudy(study.study_name, len(trials), added))
    return done
