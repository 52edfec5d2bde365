"""SQL storage (SQLite, PostgreSQL) over SQLAlchemy 2."""

from pipetune.storage.sql.storage import SQLStorage

__all__ = ["SQLStorage"]
