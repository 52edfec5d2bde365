"""Storage throughput: trials per second when 1 and 2 processes run one study on a shared storage.

Every process runs ``optimize`` on the same study for the same number of trials, whatever the
library (the trivial objective and random sampler of ``_common``), and the time is taken from a
barrier all processes pass together to the moment the last one finishes, so process start-up
and imports are left out. Backends: a SQLite file, a fresh PostgreSQL database on
127.0.0.1:5432 (user postgres, trust auth; created with psycopg and dropped at the end), the
pipetune server (a separate process serving a SQLite file over HTTP) and, for Optuna only, its
journal file storage. pipetune and Optuna each get their own SQLite file and their own
PostgreSQL database (their table names overlap).

Each database is measured at each durability (``_common.DURABILITY``): libraries as they ship,
both with commits that return before the disk has them, and both with commits that wait for
it. See ``benchmarks/README.md`` for the rows, the columns and the target.
"""

from __future__ import annotations

import argparse
import itertools
import math
import multiprocessing as mp
import os
import secrets
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (
    DURABILITY_ROWS,
    add_exit_flag,
    define_by_run_objective,
    exit_status,
    optuna_rdb_storage,
    parse_names,
    pipetune_storage_url,
    quiet_logging,
    table,
    versions,
)

BACKENDS = ("sqlite", "postgres", "remote", "journal")
PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
STUDY = "bench"
TARGET = 10.0  # pipetune's throughput over Optuna's RDB storage's, 2 processes, equal durability

# The target is checked at equal settings at each database's pipetune default: ``relaxed`` on
# SQLite, ``full`` on PostgreSQL (and ``relaxed`` there too). SQLite's ``full`` row is shown,
# not held to it: there a trial also pays for its commits' syncs one after the other under the
# write lock, so on a slow disk the ratio tends to Optuna's commits per trial over pipetune's
# (benchmarks/statements.py), whatever either library's own cost.
TARGET_ROWS = {"sqlite": ("relaxed",), "postgres": ("relaxed", "full")}

# -- what a worker process runs -------------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    """Where one library's study lives and how durable its commits are: ``kind`` is ``url``
    (a storage URL both libraries accept) or ``journal`` (``location`` is the journal file,
    Optuna only); ``durability`` is one of ``_common.DURABILITY``."""

    library: str  # "pipetune" | "optuna"
    kind: str
    location: str
    durability: str


def _storage(target: Target) -> Any:
    """What the library's ``create_study`` / ``load_study`` take as ``storage``."""
    if target.library == "pipetune":
        return pipetune_storage_url(target.location, target.durability)
    if target.kind == "journal":
        import optuna
        from optuna.storages.journal import JournalFileBackend

        return optuna.storages.JournalStorage(JournalFileBackend(target.location))
    return optuna_rdb_storage(target.location, target.durability)


def _create(target: Target) -> None:
    """Creates the (empty) study before the workers start, so they all just load it."""
    library = __import__(target.library)
    library.create_study(storage=_storage(target), study_name=STUDY, direction="minimize")


def _count_complete(target: Target) -> int:
    if target.library == "pipetune":
        import pipetune

        study = pipetune.load_study(study_name=STUDY, storage=_storage(target))
        return len(study.get_trials(states=(pipetune.TrialState.COMPLETE,)))
    import optuna

    study = optuna.load_study(study_name=STUDY, storage=_storage(target))
    return len(study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,)))


def _worker(target: Target, n_trials: int, seed: int, barrier: Any, results: Any) -> None:
    """Loads the study, runs one warm-up trial (a process's first trial also pays for lazy
    imports, its first connections and the like, in both libraries), waits at the barrier,
    runs ``n_trials`` and reports when it ended."""
    quiet_logging()
    try:
        library = __import__(target.library)
        study = library.load_study(study_name=STUDY, storage=_storage(target),
                                   sampler=library.samplers.RandomSampler(seed=seed))
        study.optimize(define_by_run_objective, n_trials=1)
        barrier.wait()
        study.optimize(define_by_run_objective, n_trials=n_trials)
        results.put((time.monotonic(), None))
    except Exception as exc:  # noqa: BLE001 -- any failure is reported to the parent
        barrier.abort()  # releases the parent if this worker never reached the barrier
        results.put((time.monotonic(), f"{type(exc).__name__}: {exc}"))


def measure(target: Target, processes: int, trials_per_process: int) -> tuple[float, str | None]:
    """Trials per second of ``processes`` spawned workers on a fresh study at ``target``, or
    NaN and the first error a worker hit."""
    _create(target)
    ctx = mp.get_context("spawn")
    barrier = ctx.Barrier(processes + 1)
    results = ctx.Queue()
    workers = [ctx.Process(target=_worker, args=(target, trials_per_process, 1000 + i,
                                                 barrier, results))
               for i in range(processes)]
    for w in workers:
        w.start()
    with suppress(threading.BrokenBarrierError):  # a worker failed: its error is queued
        barrier.wait(timeout=120)
    start = time.monotonic()
    ends, errors = [], []
    for _ in workers:
        end, error = results.get(timeout=900)
        ends.append(end)
        if error:
            errors.append(error)
    for w in workers:
        w.join()
    if errors:
        return float("nan"), errors[0]
    done = _count_complete(target) - processes  # less the warm-up trials
    if done != processes * trials_per_process:
        return float("nan"), (f"{done} COMPLETE trials after the warm-up ones, expected "
                              f"{processes * trials_per_process}")
    return done / (max(ends) - start), None


# -- backends -------------------------------------------------------------------------------------


@contextmanager
def postgres_database(tag: str) -> Iterator[str]:
    """A fresh database ``pipetune_bench_<random>_<tag>``, dropped on exit; yields its name."""
    import psycopg

    name = f"pipetune_bench_{secrets.token_hex(4)}_{tag}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield name
    finally:
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _serve(storage_url: str, urls: Any, stop: Any) -> None:
    """The server process: serves ``storage_url`` on a free port until ``stop`` is set."""
    quiet_logging()
    from pipetune.server import BackgroundServer, create_app
    from pipetune.storage import get_storage

    with BackgroundServer(create_app(get_storage(storage_url))) as server:
        urls.put(server.url)
        stop.wait()


@contextmanager
def pipetune_server(storage_url: str) -> Iterator[str]:
    """Runs the pipetune server over ``storage_url`` in its own process; yields its URL."""
    ctx = mp.get_context("spawn")
    urls, stop = ctx.Queue(), ctx.Event()
    process = ctx.Process(target=_serve, args=(storage_url, urls, stop), daemon=True)
    process.start()
    try:
        yield urls.get(timeout=60)
    finally:
        stop.set()
        process.join(15)
        if process.is_alive():
            process.terminate()


# -- the report -----------------------------------------------------------------------------------


def _rate(value: float) -> str:
    return "n/a" if math.isnan(value) else f"{value:.1f}"


def _ratio(ours: float, theirs: float) -> str:
    return "n/a" if math.isnan(ours) or math.isnan(theirs) else f"{ours / theirs:.1f}x"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trials-per-process", type=int, default=300,
                        help="trials each process runs, for every library (default 300)")
    parser.add_argument("--backends", default=",".join(BACKENDS),
                        help=f"comma-separated, from {', '.join(BACKENDS)} (default all)")
    parser.add_argument("--rows", default=",".join(name for name, _, _ in DURABILITY_ROWS),
                        help="durability rows, comma-separated, from "
                             f"{', '.join(name for name, _, _ in DURABILITY_ROWS)} (default all)")
    parser.add_argument("--processes", default="1,2", help="process counts (default 1,2)")
    parser.add_argument("--only", default="pipetune,optuna",
                        help="libraries to run, comma-separated (default pipetune,optuna)")
    parser.add_argument("--repeat", type=int, default=3,
                        help="measurements of each cell, each on a fresh study; the table shows "
                             "their median (default 3: one run of a few seconds is noisy)")
    add_exit_flag(parser)
    args = parser.parse_args(argv)
    backends = parse_names(args.backends, BACKENDS, "backends")
    names = parse_names(args.rows, [name for name, _, _ in DURABILITY_ROWS], "rows")
    rows = [row for row in DURABILITY_ROWS if row[0] in names]
    counts = [int(p) for p in args.processes.split(",") if p.strip()]
    libraries = parse_names(args.only, ("pipetune", "optuna"), "only")
    quiet_logging()

    n = args.trials_per_process
    measured: dict[tuple[str, str, str, int], list[float]] = {}
    errors: list[str] = []

    def run(backend: str, target: Target, processes: int) -> None:
        if target.library not in libraries:
            return
        cell = (backend, target.library, target.durability, processes)
        rate, error = measure(target, processes, n)
        measured.setdefault(cell, []).append(rate)
        if error:
            errors.append(f"{backend}/{target.library}/{target.durability}/{processes}p: {error}")
        print(f"  {backend:8} {target.library:8} {target.durability:8} {processes}p  "
              f"{_rate(rate):>8} trials/s", file=sys.stderr, flush=True)

    ours = sorted({ours for _, ours, _ in rows})
    theirs = sorted({theirs for _, _, theirs in rows})
    with tempfile.TemporaryDirectory(prefix="pipetune_bench_") as tmp:
        def fresh(name: str) -> str:
            return os.path.join(tmp, f"{name}_{secrets.token_hex(3)}")

        for _, processes in itertools.product(range(args.repeat), counts):
            for backend in backends:
                if backend == "sqlite":
                    for durability in ours:
                        run(backend, Target("pipetune", "url", f"sqlite:///{fresh('pt')}.db",
                                            durability), processes)
                    for durability in theirs:
                        run(backend, Target("optuna", "url", f"sqlite:///{fresh('op')}.db",
                                            durability), processes)
                elif backend == "postgres":
                    for library, durabilities in (("pipetune", ours), ("optuna", theirs)):
                        for durability in durabilities:
                            with postgres_database(library[:2]) as db:
                                run(backend, Target(
                                    library, "url",
                                    f"postgresql+psycopg://postgres@127.0.0.1:5432/{db}",
                                    durability), processes)
                elif backend == "remote":
                    for durability in ours:
                        url = pipetune_storage_url(f"sqlite:///{fresh('server')}.db", durability)
                        with pipetune_server(url) as server_url:
                            run(backend, Target("pipetune", "url", server_url, durability),
                                processes)
                else:
                    run(backend, Target("optuna", "journal", f"{fresh('journal')}.log", "full"),
                        processes)

    rates = {cell: statistics.median(values) for cell, values in measured.items()}

    def rate(backend: str, library: str, durability: str, processes: int) -> float:
        return rates.get((backend, library, durability, processes), float("nan"))

    v = versions(("pipetune", "optuna", "SQLAlchemy", "psycopg"))
    print("Storage throughput: " + ", ".join(f"{k} {x}" for k, x in v.items()))
    print(f"median of {args.repeat} measurements per cell; {n} trials per process for every "
          "library; trivial objective, random sampler, 6 params; spawned processes, each "
          "warmed up by one trial, timed from a common barrier to the last one's end. "
          "Durability rows: shipped = each library's "
          "default (on SQLite pipetune relaxed, Optuna full: NOT equal; on PostgreSQL both "
          "full); relaxed = both with commits "
          "that return before the disk has them (SQLite WAL + synchronous=NORMAL, PostgreSQL "
          "synchronous_commit=off); full = both with commits that wait for it (SQLite WAL + "
          "synchronous=FULL, PostgreSQL synchronous_commit=on). remote = pipetune server (own "
          "process) over a SQLite file; its optuna column is Optuna's RDB storage on SQLite "
          "at the row's durability.\n")
    header = ("backend", "durability", "processes", "pipetune trials/s", "optuna trials/s",
              "ratio")
    lines = []
    for backend in (b for b in backends if b != "journal"):
        compare = "sqlite" if backend == "remote" else backend
        for (name, our_durability, their_durability), processes in itertools.product(
                rows, counts):
            ours_rate = rate(backend, "pipetune", our_durability, processes)
            their_rate = rate(compare, "optuna", their_durability, processes)
            lines.append((backend, name, processes, _rate(ours_rate), _rate(their_rate),
                          _ratio(ours_rate, their_rate)))
    print(table(header, lines))
    if "journal" in backends:
        print()
        print(table(("optuna journal file (fsyncs: full)", "processes", "trials/s"),
                    [("journal", p, _rate(rate("journal", "optuna", "full", p)))
                     for p in counts]))

    verdicts: list[bool] = []
    for backend, (name, our_durability, their_durability) in (
            (backend, row) for backend in TARGET_ROWS if backend in backends
            for row in rows if row[0] in TARGET_ROWS[backend]):
        if 2 not in counts:
            break
        ratio = (rate(backend, "pipetune", our_durability, 2)
                 / rate(backend, "optuna", their_durability, 2))
        if not math.isnan(ratio):  # (not measured: a library left out, or a failed run)
            verdicts.append(ratio >= TARGET)
        print(f"target {backend}, {name} durability, 2 processes: pipetune >= {TARGET:g}x "
              f"Optuna RDB throughput: {'n/a' if math.isnan(ratio) else f'{ratio:.1f}x'} -> "
              f"{'n/a' if math.isnan(ratio) else 'PASS' if ratio >= TARGET else 'FAIL'}")
    if verdicts:
        print(f"verdict: {'PASS' if all(verdicts) else 'FAIL'} ({sum(verdicts)}/{len(verdicts)} "
              "targets hold)")
    for error in errors:
        print(f"error: {error}")
    return 1 if errors else exit_status(all(verdicts), args)


if __name__ == "__main__":
    raise SystemExit(main())
