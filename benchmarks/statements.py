"""Statements, commits and round trips per trial: what pipetune and Optuna ask of SQLite and
PostgreSQL for one trial of the storage benchmark.

Timings on a shared machine are noisy; these counts are not, and they explain the timings: on
PostgreSQL every request is a network round trip, and every commit of a durable write waits
for the disk. Each library runs one process of ``storage.py``'s workload (the trivial objective
of ``_common``, 6 params, a seeded random sampler) on a fresh database; the counts of ``--trials``
trials after ``--warmup`` trials are divided by ``--trials``.

Counting: on SQLite a trace callback on every connection sees each statement SQLite runs
(``BEGIN``, ``COMMIT`` and ``PRAGMA`` included); on PostgreSQL psycopg runs its pure-Python
libpq binding (``PSYCOPG_IMPL=python``, set by this script) and every request it sends is
counted, which is one round trip outside pipeline mode. A *transaction* is a ``COMMIT`` or a
write run on its own in autocommit mode.

    .venv/bin/python benchmarks/statements.py                 # both databases (~1 minute)
    .venv/bin/python benchmarks/statements.py --backends sqlite --trials 100
"""

from __future__ import annotations

import os

os.environ["PSYCOPG_IMPL"] = "python"  # before psycopg is imported: its requests are counted

import argparse
import re
import sqlite3
import sys
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (
    define_by_run_objective,
    optuna_rdb_storage,
    parse_names,
    quiet_logging,
    table,
    versions,
)
from storage import postgres_database

BACKENDS = ("sqlite", "postgres")
LIBRARIES = ("pipetune", "pipetune-full", "optuna")  # pipetune-full: ?durability=full
WRITES = ("INSERT", "UPDATE", "DELETE")
# The values SQLite's trace shows bound into a statement, so --detail can group statements.
_LITERALS = re.compile(r"'[^']*'|\b\d+(\.\d+)?(e-?\d+)?\b")
counts: Counter[str] = Counter()
texts: Counter[str] = Counter()  # for --detail: each statement's text


def _count(sql: str, in_transaction: bool) -> None:
    """Counts one statement by its first word; a write outside a transaction commits itself."""
    verb = sql.lstrip().split(None, 1)[0].upper() if sql.strip() else "?"
    counts["statements"] += 1
    texts[_LITERALS.sub("?", " ".join(sql.split()))] += 1
    if verb == "WITH":  # a write when one of its clauses writes
        verb = next((w for w in WRITES if re.search(rf"\b{w}\b", sql, re.IGNORECASE)), "SELECT")
    if verb == "SELECT":
        counts["reads"] += 1
    elif verb in WRITES:
        counts["writes"] += 1
        if not in_transaction:
            counts["transactions"] += 1
    elif verb == "COMMIT":
        counts["transactions"] += 1
    elif verb not in ("BEGIN", "ROLLBACK"):
        counts["other"] += 1


def _count_sqlite(dbapi_connection: Any, _connection_record: Any) -> None:
    if isinstance(dbapi_connection, sqlite3.Connection):
        dbapi_connection.set_trace_callback(
            lambda sql: _count(sql, dbapi_connection.in_transaction))


def install_counters() -> None:
    """Counts every statement of every SQLAlchemy engine (SQLite) and every request psycopg
    sends (PostgreSQL) from now on."""
    from sqlalchemy import event
    from sqlalchemy.engine import Engine

    event.listen(Engine, "connect", _count_sqlite)
    try:
        from psycopg import pq
        from psycopg.pq import pq_ctypes
    except ImportError:
        return
    if pq.__impl__ != "python":
        raise SystemExit("statements.py needs psycopg's pure-Python libpq binding "
                         f"(PSYCOPG_IMPL=python); psycopg loaded {pq.__impl__!r}.")
    prepared: dict[tuple[int, bytes], str] = {}  # psycopg names them per connection

    def counting(method: Any, sql_of: Any) -> Any:
        def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
            counts["round trips"] += 1
            idle = self.transaction_status == pq.TransactionStatus.IDLE
            sql = sql_of(self, args)
            if sql is not None:
                _count(sql, not idle)
            return method(self, *args, **kwargs)
        return wrapper

    def text(_connection: Any, args: tuple) -> str:
        return bytes(args[0]).decode()

    def named(connection: Any, args: tuple) -> str:
        return prepared[id(connection), bytes(args[0])]

    def prepare(connection: Any, args: tuple) -> None:
        prepared[id(connection), bytes(args[0])] = bytes(args[1]).decode()
        return None  # a round trip that runs nothing; the execution is counted

    for name, sql_of in (("exec_", text), ("exec_params", text), ("send_query", text),
                         ("send_query_params", text), ("prepare", prepare),
                         ("send_prepare", prepare), ("exec_prepared", named),
                         ("send_query_prepared", named)):
        setattr(pq_ctypes.PGconn, name, counting(getattr(pq_ctypes.PGconn, name), sql_of))


def run(library: str, url: str, warmup: int, n_trials: int, detail: int) -> dict[str, float]:
    """Per-trial counts of ``n_trials`` trials after ``warmup`` ones on a fresh study."""
    if library.startswith("pipetune"):
        import pipetune

        study: Any = pipetune.create_study(storage=url, study_name="count",
                                           sampler=pipetune.samplers.RandomSampler(seed=0))
    else:
        import optuna

        study = optuna.create_study(storage=optuna_rdb_storage(url, "default"),
                                    study_name="count",
                                    sampler=optuna.samplers.RandomSampler(seed=0))
    study.optimize(define_by_run_objective, n_trials=warmup)
    counts.clear()
    texts.clear()
    study.optimize(define_by_run_objective, n_trials=n_trials)
    if detail:
        print(f"-- {library} on {url.split(':', 1)[0]}, per trial:")
        for sql, n in texts.most_common():
            print(f"{n / n_trials:6.2f}  {sql[:detail]}")
    return {key: value / n_trials for key, value in counts.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backends", default=",".join(BACKENDS),
                        help=f"comma-separated, from {', '.join(BACKENDS)} (default both)")
    parser.add_argument("--libraries", default=",".join(LIBRARIES),
                        help=f"comma-separated, from {', '.join(LIBRARIES)} (default all)")
    parser.add_argument("--trials", type=int, default=200, help="trials counted (default 200)")
    parser.add_argument("--detail", type=int, default=0, metavar="CHARS",
                        help="also list each statement (its first CHARS characters) per trial")
    parser.add_argument("--warmup", type=int, default=20,
                        help="trials run first, not counted (default 20)")
    args = parser.parse_args(argv)
    backends = parse_names(args.backends, BACKENDS, "backends")
    libraries = parse_names(args.libraries, LIBRARIES, "libraries")
    quiet_logging()
    install_counters()
    columns = ("statements", "reads", "writes", "other", "transactions", "round trips")
    rows = []
    with tempfile.TemporaryDirectory(prefix="pipetune_bench_") as tmp:
        for backend in backends:
            for library in libraries:
                query = "?durability=full" if library == "pipetune-full" else ""
                if backend == "sqlite":
                    per_trial = run(library, f"sqlite:///{tmp}/{library}.db{query}",
                                    args.warmup, args.trials, args.detail)
                else:
                    with postgres_database(library.replace("-", "_")) as db:
                        per_trial = run(library, "postgresql+psycopg://postgres@127.0.0.1:5432/"
                                        f"{db}{query}", args.warmup, args.trials, args.detail)
                rows.append((backend, library, *(
                    "-" if backend == "sqlite" and key == "round trips"
                    else f"{per_trial.get(key, 0.0):.2f}" for key in columns)))
    print("Per trial, " + ", ".join(f"{k} {v}" for k, v in versions(
        ("pipetune", "optuna", "SQLAlchemy", "psycopg")).items()))
    print(f"{args.trials} trials counted after {args.warmup}; one process; random sampler, "
          "6 params. reads = SELECT; writes = INSERT/UPDATE/DELETE; other = SET, PRAGMA, ...; "
          "BEGIN and ROLLBACK count as statements only. SQLite runs in the process: no round "
          "trips.\n")
    print(table(("backend", "library", *columns), rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
