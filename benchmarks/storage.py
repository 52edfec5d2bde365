"""Storage throughput: trials per second when 1 and 2 processes run one study on a shared storage.

Every process runs ``optimize`` on the same study for a fixed number of trials (the trivial
objective and random sampler of ``_common``), and the time is taken from a barrier all
processes pass together to the moment the last one finishes, so process start-up and imports
are left out. Backends: a SQLite file, a fresh PostgreSQL database on 127.0.0.1:5432 (user
postgres, trust auth; created with psycopg and dropped at the end), the pipetune server (a
separate process serving a SQLite file over HTTP) and, for Optuna only, its journal file
storage. pipetune and Optuna each get their own SQLite file and their own PostgreSQL database
(their table names overlap). See ``benchmarks/README.md`` for the columns and the target.
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

from _common import define_by_run_objective, parse_names, quiet_logging, table, versions

BACKENDS = ("sqlite", "postgres", "remote", "journal")
PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
STUDY = "bench"

# -- what a worker process runs -------------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    """Where one library's study lives: ``kind`` is ``url`` (a storage URL both libraries
    accept) or ``journal`` (``location`` is the journal file, Optuna only)."""

    library: str  # "pipetune" | "optuna"
    kind: str
    location: str


def _optuna_storage(target: Target) -> Any:
    import optuna

    if target.kind == "journal":
        from optuna.storages.journal import JournalFileBackend

        return optuna.storages.JournalStorage(JournalFileBackend(target.location))
    return target.location


def _create(target: Target) -> None:
    """Creates the (empty) study before the workers start, so they all just load it."""
    if target.library == "pipetune":
        import pipetune

        pipetune.create_study(storage=target.location, study_name=STUDY, direction="minimize")
    else:
        import optuna

        optuna.create_study(storage=_optuna_storage(target), study_name=STUDY,
                            direction="minimize")


def _count_complete(target: Target) -> int:
    if target.library == "pipetune":
        import pipetune

        study = pipetune.load_study(study_name=STUDY, storage=target.location)
        return sum(t.state == pipetune.TrialState.COMPLETE for t in study.get_trials())
    import optuna

    study = optuna.load_study(study_name=STUDY, storage=_optuna_storage(target))
    return len(study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,)))


def _worker(target: Target, n_trials: int, seed: int, barrier: Any, results: Any) -> None:
    """Loads the study, waits at the barrier, runs ``n_trials`` and reports when it ended."""
    quiet_logging()
    try:
        if target.library == "pipetune":
            import pipetune

            study: Any = pipetune.load_study(
                study_name=STUDY, storage=target.location,
                sampler=pipetune.samplers.RandomSampler(seed=seed))
        else:
            import optuna

            study = optuna.load_study(study_name=STUDY, storage=_optuna_storage(target),
                                      sampler=optuna.samplers.RandomSampler(seed=seed))
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
        end, error = results.get(timeout=600)
        ends.append(end)
        if error:
            errors.append(error)
    for w in workers:
        w.join()
    if errors:
        return float("nan"), errors[0]
    done = _count_complete(target)
    if done != processes * trials_per_process:
        return float("nan"), f"{done} COMPLETE trials, expected {processes * trials_per_process}"
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
                        help="trials each pipetune process runs (default 300)")
    parser.add_argument("--optuna-trials-per-process", type=int, default=60,
                        help="trials each Optuna process runs; smaller, as Optuna's RDB storage "
                             "costs tens of ms a trial (default 60)")
    parser.add_argument("--backends", default=",".join(BACKENDS),
                        help=f"comma-separated, from {', '.join(BACKENDS)} (default all)")
    parser.add_argument("--processes", default="1,2", help="process counts (default 1,2)")
    parser.add_argument("--repeat", type=int, default=3,
                        help="measurements of each cell, each on a fresh study; the table shows "
                             "their median (default 3: one run of a few seconds is noisy)")
    args = parser.parse_args(argv)
    backends = parse_names(args.backends, BACKENDS, "backends")
    counts = [int(p) for p in args.processes.split(",") if p.strip()]
    quiet_logging()

    ours, theirs = args.trials_per_process, args.optuna_trials_per_process
    measured: dict[tuple[str, str, int], list[float]] = {}
    errors: list[str] = []

    def run(backend: str, target: Target, processes: int) -> None:
        n = ours if target.library == "pipetune" else theirs
        rate, error = measure(target, processes, n)
        measured.setdefault((backend, target.library, processes), []).append(rate)
        if error:
            errors.append(f"{backend}/{target.library}/{processes}p: {error}")
        print(f"  {backend:8} {target.library:8} {processes}p  {_rate(rate):>8} trials/s",
              file=sys.stderr, flush=True)

    with tempfile.TemporaryDirectory(prefix="pipetune_bench_") as tmp:
        def fresh(name: str) -> str:
            return os.path.join(tmp, f"{name}_{secrets.token_hex(3)}")

        for _, processes in itertools.product(range(args.repeat), counts):
            for backend in backends:
                if backend == "sqlite":
                    run(backend, Target("pipetune", "url", f"sqlite:///{fresh('pt')}.db"),
                        processes)
                    run(backend, Target("optuna", "url", f"sqlite:///{fresh('op')}.db"),
                        processes)
                elif backend == "postgres":
                    with postgres_database("pt") as db:
                        run(backend, Target(
                            "pipetune", "url", f"postgresql://postgres@127.0.0.1:5432/{db}"),
                            processes)
                    with postgres_database("op") as db:
                        run(backend, Target(
                            "optuna", "url",
                            f"postgresql+psycopg://postgres@127.0.0.1:5432/{db}"), processes)
                elif backend == "remote":
                    with pipetune_server(f"sqlite:///{fresh('server')}.db") as url:
                        run(backend, Target("pipetune", "url", url), processes)
                else:
                    run(backend, Target("optuna", "journal", f"{fresh('journal')}.log"),
                        processes)

    rates = {cell: statistics.median(values) for cell, values in measured.items()}
    v = versions(("pipetune", "optuna", "SQLAlchemy", "psycopg"))
    print("Storage throughput: " + ", ".join(f"{k} {x}" for k, x in v.items()))
    print(f"median of {args.repeat} measurements per cell; "
          f"trials per process: pipetune {ours}, optuna {theirs}; trivial objective, random "
          f"sampler, 6 params; spawned processes, timed from a common barrier to the last "
          f"one's end. remote = pipetune server (own process) over a SQLite file; its optuna "
          f"column is Optuna's RDB storage on SQLite.\n")
    header = ("backend", "processes", "pipetune trials/s", "optuna trials/s", "ratio")
    rows = []
    for backend in (b for b in backends if b != "journal"):
        for processes in counts:
            ours_rate = rates.get((backend, "pipetune", processes), float("nan"))
            compare = "sqlite" if backend == "remote" else backend
            their_rate = rates.get((compare, "optuna", processes), float("nan"))
            rows.append((backend, processes, _rate(ours_rate), _rate(their_rate),
                         _ratio(ours_rate, their_rate)))
    print(table(header, rows))
    if "journal" in backends:
        print()
        print(table(("optuna journal file", "processes", "trials/s"),
                    [("journal", p, _rate(rates.get(("journal", "optuna", p), float("nan"))))
                     for p in counts]))

    verdicts: list[bool] = []
    measured = [b for b in ("sqlite", "postgres") if b in backends]
    for backend in measured:
        if 2 not in counts:
            break
        ratio = (rates.get((backend, "pipetune", 2), float("nan"))
                 / rates.get((backend, "optuna", 2), float("nan")))
        verdicts.append(ratio >= 10)
        print(f"\ntarget {backend}, 2 processes: pipetune >= 10x Optuna RDB throughput: "
              f"{'n/a' if math.isnan(ratio) else f'{ratio:.1f}x'} -> "
              f"{'PASS' if ratio >= 10 else 'FAIL'}", end="")
    if verdicts:
        print(f"\nverdict: {'PASS' if all(verdicts) else 'FAIL'} (pipetune >= 10x Optuna's RDB "
              f"storage throughput with 2 processes on {' and '.join(measured)}"
              f"{'' if len(measured) == 2 else '; not all databases measured'})")
    for error in errors:
        print(f"error: {error}")
    return 1 if errors else 0


if __name__ == "__main__":
    raise SystemExit(main())
