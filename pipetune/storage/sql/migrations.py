"""Schema migrations: one function per version step, applied in order inside the schema
transaction. Each step carries an old-schema fixture database in tests/storage/fixtures/."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import Connection, update

import pipetune.storage.sql.schema as s
from pipetune.errors import StorageError


def _add_tracking_tables(conn: Connection) -> None:
    """1 -> 2: metric series and artifact metadata (experiment tracking). Existing rows are
    untouched; the new tables start empty."""
    for table in (s.trial_metrics, s.trial_artifacts):
        table.create(conn, checkfirst=True)


# version -> function upgrading a database from that version to the next one
STEPS: dict[int, Callable[[Connection], None]] = {1: _add_tracking_tables}


def migrate(conn: Connection, version: int) -> None:
    """Upgrades the schema from ``version`` to ``schema.SCHEMA_VERSION``."""
    while version < s.SCHEMA_VERSION:
        step = STEPS.get(version)
        if step is None:
            raise StorageError(
                f"No migration from schema version {version}; this storage cannot be upgraded "
                "by this pipetune."
            )
        step(conn)
        version += 1
        conn.execute(update(s.schema_info).values(version=version))
