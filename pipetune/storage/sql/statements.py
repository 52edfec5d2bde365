"""Every write statement of SQL storage, compiled once per database (see connections.py)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    BindParameter,
    Engine,
    Float,
    String,
    Text,
    bindparam,
    cast,
    delete,
    exists,
    func,
    insert,
    literal,
    select,
    union_all,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite

import pipetune.storage.sql.schema as s
from pipetune.storage.sql.connections import Statement


@dataclass(frozen=True)
class WriteStatements:
    lock_study: Statement
    insert_study: Statement
    insert_direction: Statement
    delete_study_attr: Statement
    insert_study_attr: Statement
    insert_trial: Statement
    insert_unless_waiting: Statement
    claimed_at: Statement
    first_waiting: Statement
    start_waiting: Statement
    trial_state: Statement
    finish: Statement
    insert_value: Statement
    intermediate_exists: Statement
    insert_intermediate: Statement
    delete_trial_attr: Statement
    insert_trial_attr: Statement
    insert_claimed_key: Statement
    claimed_key_owner: Statement
    count_started: Statement
    count_in_state: Statement
    heartbeat: Statement
    stale_trials: Statement
    trial_system_attrs: Statement
    trial_param_rows: Statement
    delete_study_rows: tuple[Statement, ...]

    @classmethod
    def compile(cls, engine: Engine) -> WriteStatements:
        def c(statement) -> Statement:
            return Statement(statement, engine)

        study_id: BindParameter[int] = bindparam("study_id")
        trial_id: BindParameter[int] = bindparam("trial_id")
        trials = s.trials.c
        trial_ids_of_study = select(trials.trial_id).where(trials.study_id == study_id)
        unfinished = trials.state.in_([bindparam("running"), bindparam("waiting")])
        waiting_trials = s.trials.alias("waiting_trials")
        # The next number, taken in the insert itself. The usual claim takes no lock
        # (SQLStorage.claim_trial), so on PostgreSQL two inserts may take the same number at
        # once: the later one fails, or with ``skip_taken`` inserts nothing, and runs again.
        # The number is a subquery of its own, which SQLite answers from the index's last
        # entry; as an aggregate of the insert's own SELECT, guarded by a HAVING, it scanned
        # all the study's trials (0.9 ms a claim at 6,000 trials).
        last_number = select(func.max(trials.number)).where(
            trials.study_id == study_id).scalar_subquery()
        # study_id, number, state, started_at, heartbeat_at, worker (insert_new_trial's columns)
        new_row: list[Any] = [study_id, func.coalesce(last_number + 1, 0), bindparam("state"),
                              bindparam("now"), bindparam("now"), bindparam("worker")]
        new_trial = select(*new_row).where(exists().where(s.studies.c.study_id == study_id))
        dialect_insert = postgresql.insert if engine.dialect.name == "postgresql" else sqlite.insert

        def insert_new_trial(source: Any, skip_taken: bool = False) -> Any:
            statement = dialect_insert(s.trials).from_select(
                ["study_id", "number", "state", "started_at", "heartbeat_at", "worker"], source)
            if skip_taken:  # inside a transaction, which a failed statement would abort
                statement = statement.on_conflict_do_nothing()
            return statement.returning(trials.trial_id, trials.number)

        return cls(
            # On PostgreSQL the row lock serializes the claims that count the budget and the
            # inserts of enqueued trials; SQLite's IMMEDIATE transaction already holds the
            # database's one write lock. NO KEY UPDATE leaves the key share that a lock-free
            # claim's foreign key check takes free: that claim may be what the lock holder's
            # insert waits for.
            lock_study=c(select(s.studies.c.study_id).where(s.studies.c.study_id == study_id)
                         .with_for_update(key_share=True)),
            insert_study=c(insert(s.studies).values(study_name=bindparam("name"),
                                                    created_at=bindparam("now"))
                           .returning(s.studies.c.study_id)),
            insert_direction=c(insert(s.study_directions).values(
                study_id=study_id, objective=bindparam("objective"),
                direction=bindparam("direction"))),
            delete_study_attr=c(delete(s.study_attrs).where(
                s.study_attrs.c.study_id == study_id, s.study_attrs.c.system == bindparam("system"),
                s.study_attrs.c.key == bindparam("key"))),
            insert_study_attr=c(insert(s.study_attrs).values(
                study_id=study_id, system=bindparam("system"), key=bindparam("key"),
                value_json=bindparam("value_json"))),
            insert_trial=c(insert_new_trial(new_trial, skip_taken=True)),
            # A claim's usual case in one statement: a new RUNNING trial, unless a WAITING one
            # is there to be taken first (then nothing is inserted).
            # (or when the study does not exist).
            insert_unless_waiting=c(insert_new_trial(new_trial.where(~exists().where(
                waiting_trials.c.study_id == study_id,
                waiting_trials.c.state == bindparam("waiting"))))),
            # The trial a claim started at ``now``, found after its commit was lost.
            claimed_at=c(select(trials.trial_id, trials.number).where(
                trials.study_id == study_id, trials.state == bindparam("running"),
                trials.started_at == bindparam("now"))),
            first_waiting=c(select(trials.trial_id).where(
                trials.study_id == study_id, trials.state == bindparam("waiting"))
                .order_by(trials.trial_id).limit(1).with_for_update(skip_locked=True)),
            start_waiting=c(update(s.trials).where(trials.trial_id == trial_id).values(
                state=bindparam("running"), started_at=bindparam("now"),
                heartbeat_at=bindparam("now"), worker=bindparam("worker"))),
            trial_state=c(select(trials.state, trials.number, trials.started_at,
                                 trials.completed_at).where(trials.trial_id == trial_id)),
            # Guarded writes: they touch only an unfinished trial (rowcount 0 otherwise), so one
            # statement both checks and writes.
            finish=c(update(s.trials).where(trials.trial_id == trial_id, unfinished).values(
                state=bindparam("state"), completed_at=bindparam("now"),
                started_at=func.coalesce(trials.started_at, bindparam("now")))),
            insert_value=c(insert(s.trial_values).values(
                trial_id=trial_id, objective=bindparam("objective"), value=bindparam("value"))),
            intermediate_exists=c(select(s.trial_intermediate_values.c.step).where(
                s.trial_intermediate_values.c.trial_id == trial_id,
                s.trial_intermediate_values.c.step == bindparam("step"))),
            insert_intermediate=c(insert(s.trial_intermediate_values).values(
                trial_id=trial_id, step=bindparam("step"), objective=bindparam("objective"),
                value=bindparam("value"))),
            delete_trial_attr=c(delete(s.trial_attrs).where(
                s.trial_attrs.c.trial_id == trial_id, s.trial_attrs.c.system == bindparam("system"),
                s.trial_attrs.c.key == bindparam("key"))),
            insert_trial_attr=c(insert(s.trial_attrs).values(
                trial_id=trial_id, system=bindparam("system"), key=bindparam("key"),
                value_json=bindparam("value_json"))),
            insert_claimed_key=c(insert(s.study_claimed_keys).values(
                study_id=study_id, key=bindparam("key"), trial_id=trial_id)),
            claimed_key_owner=c(select(s.study_claimed_keys.c.trial_id).where(
                s.study_claimed_keys.c.study_id == study_id,
                s.study_claimed_keys.c.key == bindparam("key"))),
            # The study-wide budget: trials started and not failed (see BaseStorage.claim_trial).
            count_started=c(select(func.count()).select_from(s.trials).where(
                trials.study_id == study_id,
                trials.state.in_([bindparam("running"), bindparam("complete"),
                                  bindparam("pruned")]))),
            count_in_state=c(select(func.count()).select_from(s.trials).where(
                trials.study_id == study_id, trials.state == bindparam("state"))),
            heartbeat=c(update(s.trials).where(trials.trial_id == trial_id,
                                               trials.state == bindparam("running"))
                        .values(heartbeat_at=bindparam("now"))),
            trial_system_attrs=c(select(s.trial_attrs.c.key, s.trial_attrs.c.value_json).where(
                s.trial_attrs.c.trial_id == trial_id, s.trial_attrs.c.system == 1)),
            trial_param_rows=c(select(s.trial_params.c.name, s.trial_params.c.value,
                                      s.trial_params.c.distribution_json)
                               .where(s.trial_params.c.trial_id == trial_id)),
            stale_trials=c(select(trials.trial_id, trials.number, trials.worker,
                                  func.coalesce(trials.heartbeat_at, trials.started_at))
                           .where(trials.study_id == study_id,
                                  trials.state == bindparam("running"),
                                  func.coalesce(trials.heartbeat_at, trials.started_at)
                                  < bindparam("cutoff"))
                           .order_by(trials.trial_id)),
            delete_study_rows=tuple(
                [c(delete(t).where(t.c.trial_id.in_(trial_ids_of_study)))
                 for t in (s.trial_params, s.trial_values, s.trial_intermediate_values,
                           s.trial_attrs)]
                + [c(delete(t).where(t.c.study_id == study_id))
                   for t in (s.trials, s.study_directions, s.study_attrs, s.study_claimed_keys,
                             s.studies)]),
        )


# SQLite refuses compound SELECTs of more than 500 parts; larger batches take several statements.
PARAMS_PER_STATEMENT = 100


class ParamInserts:
    """Guarded inserts of a batch of trial params: one statement per batch size, compiled on
    first use. Each row is written only while the trial is unfinished, so the statement both
    checks and writes (its row count is the batch size, or 0 for a finished trial).

    Values are bound as ``name{i}``, ``value{i}`` and ``distribution_json{i}``.
    """

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._by_size: dict[int, Statement] = {}

    def __call__(self, size: int) -> Statement:
        statement = self._by_size.get(size)
        if statement is None:
            trials = s.trials.c
            unfinished = trials.state.in_([bindparam("running"), bindparam("waiting")])
            # The casts give PostgreSQL the types its UNION cannot infer from bare parameters.
            rows = [select(trials.trial_id, cast(bindparam(f"name{i}"), String),
                           cast(bindparam(f"value{i}"), Float),
                           cast(bindparam(f"distribution_json{i}"), Text))
                    .where(trials.trial_id == bindparam("trial_id"), unfinished)
                    for i in range(size)]
            source = rows[0] if size == 1 else union_all(*rows)
            statement = Statement(insert(s.trial_params).from_select(
                ["trial_id", "name", "value", "distribution_json"], source), self._engine)
            self._by_size[size] = statement  # a benign race: both threads compile the same
        return statement


class FinishStatements:
    """PostgreSQL's finishing write of a trial, one statement per number of values (compiled on
    first use): the guarded update of ``WriteStatements.finish`` with the values' inserts
    chained to it by data-modifying WITH clauses, so that one round trip stores the result and
    the inserts happen only when the update did. It returns the number of trials it finished
    (1, or 0 for a trial finished already). SQLite has no such clauses: there the update and
    the inserts are statements of one transaction.

    Values are bound as ``value{i}`` for objective ``i``.
    """

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._by_count: dict[int, Statement] = {}

    def __call__(self, count: int) -> Statement:
        statement = self._by_count.get(count)
        if statement is None:
            trials = s.trials.c
            finished = update(s.trials).where(
                trials.trial_id == bindparam("trial_id"),
                trials.state.in_([bindparam("running"), bindparam("waiting")])).values(
                state=bindparam("state"), completed_at=bindparam("now"),
                started_at=func.coalesce(trials.started_at, bindparam("now"))).returning(
                trials.trial_id).cte("finished")
            query = select(func.count()).select_from(finished)
            if count:
                rows = [select(finished.c.trial_id, literal(i), cast(bindparam(f"value{i}"), Float))
                        for i in range(count)]
                query = query.add_cte(insert(s.trial_values).from_select(
                    ["trial_id", "objective", "value"],
                    rows[0] if count == 1 else union_all(*rows)).cte("stored"))
            statement = Statement(query, self._engine)
            self._by_count[count] = statement  # a benign race: both threads compile the same
        return statement
