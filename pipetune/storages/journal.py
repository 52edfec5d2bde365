"""The journal file storage under Optuna's names (``optuna.storages.journal``): see
``pipetune.storage.journal``."""

from __future__ import annotations

from pipetune.storage.journal import (
    JournalFileBackend,
    JournalFileLock,
    JournalFileOpenLock,
    JournalFileSymlinkLock,
    JournalStorage,
)

__all__ = ["JournalFileBackend", "JournalFileLock", "JournalFileOpenLock",
           "JournalFileSymlinkLock", "JournalStorage"]
