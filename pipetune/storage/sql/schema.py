"""The relational schema. Params, values and intermediate values live in real columns so that
filters can run in SQL; attributes are JSON text. Bump SCHEMA_VERSION with every change and add
its migration to ``migrations.py``."""

from __future__ import annotations

from sqlalchemy import (
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

SCHEMA_VERSION = 2

metadata = MetaData()

schema_info = Table(
    "schema_info", metadata,
    Column("id", Integer, primary_key=True),
    Column("version", Integer, nullable=False),
    Column("created_at", Float, nullable=False),
)

studies = Table(
    "studies", metadata,
    Column("study_id", Integer, primary_key=True),
    Column("study_name", String(512), nullable=False, unique=True),
    Column("created_at", Float, nullable=False),
)

study_directions = Table(
    "study_directions", metadata,
    Column("study_id", Integer, ForeignKey("studies.study_id", ondelete="CASCADE"),
           primary_key=True),
    Column("objective", Integer, primary_key=True),
    Column("direction", Integer, nullable=False),
)

study_attrs = Table(
    "study_attrs", metadata,
    Column("study_id", Integer, ForeignKey("studies.study_id", ondelete="CASCADE"),
           primary_key=True),
    Column("system", Integer, primary_key=True),  # 0 user attr, 1 system attr
    Column("key", String(512), primary_key=True),
    Column("value_json", Text, nullable=False),
)

study_claimed_keys = Table(
    "study_claimed_keys", metadata,
    Column("study_id", Integer, ForeignKey("studies.study_id", ondelete="CASCADE"),
           primary_key=True),
    Column("key", String(512), primary_key=True),
    Column("trial_id", Integer, nullable=False),
)

trials = Table(
    "trials", metadata,
    Column("trial_id", Integer, primary_key=True),
    Column("study_id", Integer, ForeignKey("studies.study_id", ondelete="CASCADE"),
           nullable=False),
    Column("number", Integer, nullable=False),
    Column("state", Integer, nullable=False),
    Column("started_at", Float),
    Column("completed_at", Float),
    Column("worker", String(512)),
    Column("heartbeat_at", Float),
    UniqueConstraint("study_id", "number", name="uq_trials_study_number"),
    Index("ix_trials_study_state", "study_id", "state"),
)

trial_params = Table(
    "trial_params", metadata,
    Column("trial_id", Integer, ForeignKey("trials.trial_id", ondelete="CASCADE"),
           primary_key=True),
    Column("name", String(512), primary_key=True),
    Column("value", Float, nullable=False),  # internal encoding; see distributions.py
    Column("distribution_json", Text, nullable=False),
)

trial_values = Table(
    "trial_values", metadata,
    Column("trial_id", Integer, ForeignKey("trials.trial_id", ondelete="CASCADE"),
           primary_key=True),
    Column("objective", Integer, primary_key=True),
    Column("value", Float, nullable=False),
)

trial_intermediate_values = Table(
    "trial_intermediate_values", metadata,
    Column("trial_id", Integer, ForeignKey("trials.trial_id", ondelete="CASCADE"),
           primary_key=True),
    Column("step", Integer, primary_key=True),
    Column("objective", Integer, primary_key=True),  # several per step in multi-objective studies
    Column("value", Float),  # NULL stands for NaN, which SQL cannot hold
)

trial_attrs = Table(
    "trial_attrs", metadata,
    Column("trial_id", Integer, ForeignKey("trials.trial_id", ondelete="CASCADE"),
           primary_key=True),
    Column("system", Integer, primary_key=True),
    Column("key", String(512), primary_key=True),
    Column("value_json", Text, nullable=False),
)

# -- tracking (schema version 2) ----------------------------------------------------------------

# One row per logged point of a named metric series. metric_id orders points logged at the same
# step (the last one logged is the metric's value there); the index serves both the history of
# one trial and the "last value" lookups of search filters.
trial_metrics = Table(
    "trial_metrics", metadata,
    Column("metric_id", Integer, primary_key=True),
    Column("trial_id", Integer, ForeignKey("trials.trial_id", ondelete="CASCADE"),
           nullable=False),
    Column("name", String(512), nullable=False),
    Column("step", Integer, nullable=False),
    Column("value", Float),  # NULL stands for NaN, which SQL cannot hold
    Column("timestamp", Float, nullable=False),
    Index("ix_trial_metrics_trial_name_step", "trial_id", "name", "step"),
)

# Artifact metadata; the bytes live in files under the storage's artifact root, at ``path``
# (relative to the root).
trial_artifacts = Table(
    "trial_artifacts", metadata,
    Column("trial_id", Integer, ForeignKey("trials.trial_id", ondelete="CASCADE"),
           primary_key=True),
    Column("name", String(1024), primary_key=True),
    Column("path", String(2048), nullable=False),
    Column("size", Integer, nullable=False),
    Column("media_type", String(255), nullable=False),
    Column("created_at", Float, nullable=False),
)
