"""The tracking half of SQL storage: metric series, artifacts and trial search.

``SQLTracking`` is mixed into ``SQLStorage`` and uses its transaction helpers (``_write``,
``_read``) and trial loader (``loader.py``). Metric points arrive in batches (see
``pipetune._recorder``) and are written with one ``executemany`` per batch: on SQLite
about 1 us per point. Artifact bytes go to files under the artifact root
(``pipetune.storage.artifacts``), their metadata to ``trial_artifacts``.
"""

from __future__ import annotations

import datetime as dt
import math
import os
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, and_, bindparam, delete, func, insert, select

import pipetune.storage.sql.schema as s
from pipetune.datatypes import ArtifactInfo, FrozenTrial, MetricPoint
from pipetune.errors import ArtifactNotFoundError, StudyNotFoundError, TrialNotFoundError
from pipetune.search import check_window, parse_filter, parse_order_by, sort_trials
from pipetune.storage.artifacts import (
    ArtifactFiles,
    check_name,
    check_source,
    default_root,
    media_type_of,
)
from pipetune.storage.sql.connections import Conflict, Statement, reconnecting
from pipetune.storage.sql.loader import TrialLoader
from pipetune.storage.sql.search import DomainCache, FilterCompiler, needs_python_order

__all__ = ["SQLTracking"]

_METRIC_COLUMNS = ("trial_id", "name", "step", "value", "timestamp")


@dataclass(frozen=True)
class _TrackingStatements:
    insert_metric: Statement
    point_exists: Statement
    trial_study: Statement
    delete_artifact: Statement
    insert_artifact: Statement

    @classmethod
    def compile(cls, engine: Engine) -> _TrackingStatements:
        def c(statement: Any) -> Statement:
            return Statement(statement, engine)

        artifacts = s.trial_artifacts.c
        return cls(
            insert_metric=c(insert(s.trial_metrics).values(
                trial_id=bindparam("trial_id"), name=bindparam("name"), step=bindparam("step"),
                value=bindparam("value"), timestamp=bindparam("timestamp"))),
            point_exists=c(select(s.trial_metrics.c.metric_id).where(
                s.trial_metrics.c.trial_id == bindparam("trial_id"),
                s.trial_metrics.c.name == bindparam("name"),
                s.trial_metrics.c.step == bindparam("step"),
                s.trial_metrics.c.timestamp == bindparam("timestamp")).limit(1)),
            trial_study=c(select(s.trials.c.study_id, s.trials.c.number)
                          .where(s.trials.c.trial_id == bindparam("trial_id"))),
            delete_artifact=c(delete(s.trial_artifacts).where(
                artifacts.trial_id == bindparam("trial_id"), artifacts.name == bindparam("name"))),
            insert_artifact=c(insert(s.trial_artifacts).values(
                trial_id=bindparam("trial_id"), name=bindparam("name"), path=bindparam("path"),
                size=bindparam("size"), media_type=bindparam("media_type"),
                created_at=bindparam("created_at"))),
        )


class SQLTracking:
    """Metric, artifact and search methods of ``SQLStorage`` (see ``BaseStorage``)."""

    url: str
    _engine: Engine

    def _init_tracking(self, artifact_root: str | os.PathLike[str] | None) -> None:
        """Called by ``SQLStorage.__init__``: the artifact root (see
        ``pipetune.storage.artifacts``); a private in-memory database gets a temporary one."""
        if artifact_root is None:
            in_memory = self.url in ("sqlite://", "sqlite:///:memory:")
            artifact_root = (tempfile.mkdtemp(prefix="pipetune-artifacts-") if in_memory
                             else default_root(self.url))
        self.artifacts = ArtifactFiles(artifact_root)
        self._tracking_sql: _TrackingStatements | None = None
        self._loader = TrialLoader(self._engine.dialect.name, self._distribution)
        self._domains = DomainCache()

    @property
    def _tsql(self) -> _TrackingStatements:
        if self._tracking_sql is None:
            self._tracking_sql = _TrackingStatements.compile(self._engine)
        return self._tracking_sql

    # -- metrics -------------------------------------------------------------------------------

    def add_trial_metrics(self, trial_id: int, points: Sequence[MetricPoint]) -> None:
        if not points:
            return
        isnan = math.isnan
        rows = [(trial_id, name, step, None if isnan(value) else value, timestamp)
                for name, step, value, timestamp in points]

        def add(lost_commit: bool) -> None:
            with self._write() as cursor:
                # A batch lands whole: its first point is there when a lost commit landed.
                if lost_commit and cursor.run(self._tsql.point_exists, trial_id=trial_id,
                                              name=rows[0][1], step=rows[0][2],
                                              timestamp=rows[0][4]).one_or_none() is not None:
                    return
                cursor.run_many(self._tsql.insert_metric, _METRIC_COLUMNS, rows)

        try:
            self._connections.retry(lambda: add(False), lambda: add(True))
        except Conflict:  # the foreign key: no such trial
            raise TrialNotFoundError(f"No trial with id {trial_id} in {self.url}.") from None

    def _check_trial(self, conn: Any, trial_id: int) -> tuple[int, int]:
        row = conn.execute(select(s.trials.c.study_id, s.trials.c.number)
                           .where(s.trials.c.trial_id == trial_id)).one_or_none()
        if row is None:
            raise TrialNotFoundError(f"No trial with id {trial_id} in {self.url}.")
        return int(row[0]), int(row[1])

    @reconnecting
    def get_metric_history(self, trial_id: int, name: str | None = None) -> list[MetricPoint]:
        m = s.trial_metrics.c
        query = (select(m.name, m.step, m.value, m.timestamp).where(m.trial_id == trial_id)
                 .order_by(m.name, m.step, m.metric_id))
        if name is not None:
            query = query.where(m.name == name)
        with self._read() as conn:
            self._check_trial(conn, trial_id)
            rows = conn.execute(query).all()
        return [MetricPoint(n, step, math.nan if value is None else value, timestamp)
                for n, step, value, timestamp in rows]

    @reconnecting
    def get_last_metrics(self, study_id: int) -> dict[int, dict[str, float]]:
        m = s.trial_metrics.c
        rank = func.row_number().over(partition_by=(m.trial_id, m.name),
                                      order_by=(m.step.desc(), m.metric_id.desc()))
        ranked = (select(m.trial_id, m.name, m.value, rank.label("rank"))
                  .join(s.trials, s.trials.c.trial_id == m.trial_id)
                  .where(s.trials.c.study_id == study_id).subquery())
        query = select(ranked.c.trial_id, ranked.c.name, ranked.c.value).where(
            ranked.c.rank == 1)
        last: dict[int, dict[str, float]] = {}
        with self._read() as conn:
            for trial_id, name, value in conn.execute(query):
                last.setdefault(trial_id, {})[name] = math.nan if value is None else value
        return last

    # -- artifacts -----------------------------------------------------------------------------

    @reconnecting
    def put_artifact(self, trial_id: int, name: str, data: bytes | str | os.PathLike[str],
                     media_type: str | None = None) -> ArtifactInfo:
        name = check_name(name)
        source = check_source(data)
        with self._read() as conn:
            study_id, _ = self._check_trial(conn, trial_id)
        path = f"{study_id}/{trial_id}/{name}"
        size = self.artifacts.write(path, source)
        info = ArtifactInfo(trial_id=trial_id, name=name, size=size,
                            media_type=media_type_of(name, media_type),
                            created_at=dt.datetime.now())
        try:
            with self._write() as cursor:
                cursor.run(self._tsql.delete_artifact, trial_id=trial_id, name=name)
                cursor.run(self._tsql.insert_artifact, trial_id=trial_id, name=name, path=path,
                           size=size, media_type=info.media_type,
                           created_at=info.created_at.timestamp())
        except Conflict:  # the trial was deleted meanwhile
            raise TrialNotFoundError(f"No trial with id {trial_id} in {self.url}.") from None
        return info

    def _artifact_rows(self, conn: Any, trial_id: int, name: str | None = None) -> list[Any]:
        a = s.trial_artifacts.c
        query = select(s.trial_artifacts).where(a.trial_id == trial_id).order_by(a.name)
        if name is not None:
            query = query.where(a.name == name)
        return conn.execute(query).all()

    @reconnecting
    def list_artifacts(self, trial_id: int) -> list[ArtifactInfo]:
        with self._read() as conn:
            self._check_trial(conn, trial_id)
            rows = self._artifact_rows(conn, trial_id)
        return [ArtifactInfo(trial_id=row.trial_id, name=row.name, size=row.size,
                             media_type=row.media_type,
                             created_at=dt.datetime.fromtimestamp(row.created_at))
                for row in rows]

    @reconnecting
    def read_artifact(self, trial_id: int, name: str, *,
                      last_bytes: int | None = None) -> bytes:
        with self._read() as conn:
            _, number = self._check_trial(conn, trial_id)
            rows = self._artifact_rows(conn, trial_id, name)
        if not rows:
            raise ArtifactNotFoundError(
                f"Trial {number} has no artifact named {name!r}; list_artifacts shows what it "
                "has.")
        return self.artifacts.read(rows[0].path, f"{name!r} of trial {number}", last_bytes)

    # -- search --------------------------------------------------------------------------------

    @reconnecting
    def search_trials(self, study_id: int, filter: str | None = None,
                      order_by: str | None = None, limit: int | None = None,
                      offset: int = 0) -> list[FrozenTrial]:
        expr = parse_filter(filter)
        keys = parse_order_by(order_by)
        check_window(limit, offset)
        in_python = needs_python_order(keys)
        trials = s.trials.c
        with self._read() as conn:
            created_at = conn.execute(select(s.studies.c.created_at)
                                      .where(s.studies.c.study_id == study_id)).scalar()
            if created_at is None:
                raise StudyNotFoundError(f"No study with id {study_id} in {self.url}.")
            compiler = FilterCompiler(conn, study_id, created_at, self._domains)
            where = trials.study_id == study_id
            if expr is not None:
                where = and_(where, compiler.compile(expr))
            query = select(*self._loader.COLUMNS).where(where)
            if in_python:
                query = query.order_by(trials.number)
            else:
                query = query.order_by(*compiler.order(keys))
                if offset:
                    query = query.offset(offset)
                if limit is not None:
                    query = query.limit(limit)
            found = self._loader.load_rows(conn, conn.execute(query).all())
        if in_python:
            last = self.get_last_metrics(study_id) if any(
                k.field.kind == "metrics" for k in keys) else {}
            found = sort_trials(found, keys, last)
            found = found[offset:None if limit is None else offset + limit]
        return found

    # Bound methods of SQLStorage this mixin relies on (declared for readers and type checkers).
    _write: Any
    _read: Any
    _connections: Any
    _distribution: Any

