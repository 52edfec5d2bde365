"""The commands that look at and manage stored studies: studies, trials (with its search and
column options ``--filter``, ``--order-by``, ``--limit``, ``--columns``), best, delete."""

from __future__ import annotations

import argparse
import os
import sys
from typing import TYPE_CHECKING

from pipetune._attrs import KIND_ATTR, PARENT_ATTR
from pipetune.cli.output import EXIT_DECLINED, EXIT_OK, Report, emit, iso, trials_report
from pipetune.datatypes import FrozenTrial, StudySummary
from pipetune.errors import InvalidArgumentError, StorageError
from pipetune.storage import STORAGE_ENV, get_storage

if TYPE_CHECKING:
    from pipetune.study import Study


def check_storage(url: str) -> str:
    """Refuses a SQLite URL whose file does not exist: opening it would quietly create an
    empty database, and "no study" would hide that the user is in the wrong directory."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        parsed = make_url(url)
    except ArgumentError:
        return url  # get_storage explains what a valid URL looks like
    database = parsed.database
    if (parsed.get_backend_name() == "sqlite" and database not in (None, "", ":memory:")
            and not os.path.exists(database)):
        raise StorageError(
            f"No SQLite database at {os.path.abspath(database)!r} (storage {url}). "
            f"Pass --storage with the URL of an existing storage, set {STORAGE_ENV}, or run "
            "from the directory that holds it.")
    return url


def load_named_study(args: argparse.Namespace) -> Study:
    """The study ``args.study`` in the storage ``args.storage``, which must exist."""
    # Imported here: pipetune.study imports every sampler (scipy among them), a second of
    # start-up that the commands not opening a study do not need.
    from pipetune.study import load_study

    return load_study(study_name=args.study, storage=check_storage(args.storage))


def _grouped(summaries: list[StudySummary]) -> list[StudySummary]:
    """The studies in storage order, each followed by the runs that re-run it (its final run,
    its best trial re-run); runs of no listed study stay where they are."""
    names = {s.study_name for s in summaries}
    runs_of: dict[str, list[StudySummary]] = {}
    for summary in summaries:
        parent = summary.system_attrs.get(PARENT_ATTR)
        if parent in names and parent != summary.study_name:
            runs_of.setdefault(parent, []).append(summary)
    placed = {id(run) for runs in runs_of.values() for run in runs}
    ordered = []
    for summary in summaries:
        if id(summary) not in placed:
            ordered += [summary, *runs_of.get(summary.study_name, [])]
    return ordered


def cmd_studies(args: argparse.Namespace) -> int:
    # The storage itself, not pipetune.list_studies: pipetune.study imports every sampler
    # (scipy among them), a second of start-up that a listing does not need.
    summaries = _grouped(get_storage(check_storage(args.storage)).list_studies())
    columns = ["study_name", "kind", "parent", "directions", "n_trials", "best_value",
               "best_trial", "datetime_start"]
    records, rows = [], []
    for summary in summaries:
        kind = str(summary.system_attrs.get(KIND_ATTR) or "study")
        parent = summary.system_attrs.get(PARENT_ATTR)
        directions = [d.name.lower() for d in summary.directions]
        best = summary.best_trial
        best_value = None if best is None or best.values is None else best.values[0]
        best_number = None if best is None else best.number
        records.append({"study_name": summary.study_name, "kind": kind, "parent": parent,
                        "directions": directions, "n_trials": summary.n_trials,
                        "best_value": best_value, "best_trial": best_number,
                        "datetime_start": iso(summary.datetime_start),
                        "user_attrs": dict(summary.user_attrs)})
        rows.append([summary.study_name, kind, parent, ",".join(directions), summary.n_trials,
                     best_value, best_number, summary.datetime_start])
    emit(Report(records, columns, rows, optional=("datetime_start",)), args.format,
          sys.stdout)
    return EXIT_OK


def add_trials_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--filter", metavar="FILTER",
        help="only the trials matching a filter, e.g. \"params.lr > 0.01 and metrics.val_rmse "
             "< 3 and state = COMPLETE\" (fields: params.NAME, metrics.NAME, user_attrs.NAME, "
             "value, state, duration, number; and/or/not, in, like)")
    parser.add_argument("--order-by", metavar="KEYS",
                        help="order by comma-separated fields, each optionally followed by "
                             "'desc', e.g. 'value desc, number' or --order-by=-value "
                             "(default: number)")
    parser.add_argument("--limit", type=int, metavar="N", help="show at most N trials")
    parser.add_argument("--columns", metavar="A,B,C",
                        help="the table's (or CSV's) columns, in this order, e.g. "
                             "'number,value,params_lr' (default: those that fit the terminal)")


def _searched_trials(args: argparse.Namespace, study: Study) -> list[FrozenTrial]:
    """The trials ``pipetune trials`` shows: all, or those its search options select (a
    param the study does not have is an error, as a mistyped name would match nothing)."""
    from pipetune.search import check_params

    trials = study.trials
    if args.filter is None and args.order_by is None and args.limit is None:
        return trials
    check_params(args.filter, args.order_by, {name for t in trials for name in t.params})
    return study.search(args.filter, order_by=args.order_by, limit=args.limit)


def cmd_trials(args: argparse.Namespace) -> int:
    study = load_named_study(args)
    trials = _searched_trials(args, study)
    report = trials_report(trials, len(study.directions),
                            ("number", "state", "value", "datetime_start", "duration"),
                            with_user_attrs=False)
    if not trials and args.format == "table":
        sys.stdout.write("No trials match.\n" if study.trials
                         else f"Study {study.study_name!r} has no trials yet.\n")
        return EXIT_OK
    if args.columns:
        report = report.select([c.strip() for c in args.columns.split(",") if c.strip()])
    emit(report, args.format, sys.stdout)
    return EXIT_OK


def cmd_best(args: argparse.Namespace) -> int:
    study = load_named_study(args)
    if study.is_multi_objective:
        best = study.best_trials
        if not best:
            raise InvalidArgumentError(
                f"Study {study.study_name!r} has no COMPLETE trial yet, so no Pareto front: "
                "run some trials first.")
    else:
        best = [study.best_trial]
    report = trials_report(best, len(study.directions), ("number", "value"),
                            with_user_attrs=True)
    emit(report, args.format, sys.stdout)
    return EXIT_OK


def _confirm(question: str) -> bool:
    """Asks on the terminal; the prompt goes to stderr so stdout stays clean for pipes."""
    sys.stderr.write(f"{question} [y/N] ")
    sys.stderr.flush()
    answer = sys.stdin.readline()
    return answer.strip().lower() in ("y", "yes")


def cmd_delete(args: argparse.Namespace) -> int:
    study = load_named_study(args)  # fails with a clear message when the study does not exist
    n_trials = len(study.trials)
    if not args.yes:
        if not sys.stdin.isatty():
            raise InvalidArgumentError(
                f"Refusing to delete study {args.study!r} without confirmation: stdin is not a "
                "terminal. Pass --yes to delete it.")
        if not _confirm(f"Delete study {args.study!r} and its {n_trials} trial(s) from "
                        f"{args.storage}?"):
            sys.stderr.write("Nothing deleted.\n")
            return EXIT_DECLINED
    from pipetune.study import delete_study

    delete_study(study_name=args.study, storage=args.storage)
    if args.format == "table":
        sys.stdout.write(f"Deleted study {args.study!r} ({n_trials} trial(s)).\n")
    else:
        record = {"study_name": args.study, "n_trials": n_trials, "deleted": True}
        emit(Report([record], list(record), [list(record.values())]), args.format, sys.stdout)
    return EXIT_OK
