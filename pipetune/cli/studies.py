"""The commands that look at and manage stored studies: studies, trials, best, delete."""

from __future__ import annotations

import argparse
import os
import sys

import pipetune
from pipetune.cli.output import (
    EXIT_DECLINED,
    EXIT_OK,
    STORAGE_ENV,
    Report,
    _emit,
    _iso,
    _trials_report,
)
from pipetune.errors import (
    InvalidArgumentError,
    StorageError,
)


def _check_storage(url: str) -> str:
    """Refuses a SQLite URL whose file does not exist: opening it would quietly create an
    empty database, and "no study" would hide that the user is in the wrong directory."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        parsed = make_url(url)
    except ArgumentError:
        return url  # get_storage explains what a valid URL looks like
    if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
        if not os.path.exists(parsed.database):
            raise StorageError(
                f"No SQLite database at {os.path.abspath(parsed.database)!r} (storage {url}). "
                f"Pass --storage with the URL of an existing storage, set {STORAGE_ENV}, or run "
                "from the directory that holds it.")
    return url


def _load(args: argparse.Namespace) -> pipetune.Study:
    return pipetune.load_study(study_name=args.study, storage=_check_storage(args.storage))


def _cmd_studies(args: argparse.Namespace) -> int:
    summaries = pipetune.list_studies(_check_storage(args.storage))
    columns = ["study_name", "directions", "n_trials", "best_value", "best_trial",
               "datetime_start"]
    records, rows = [], []
    for summary in summaries:
        directions = [d.name.lower() for d in summary.directions]
        best = summary.best_trial
        best_value = None if best is None or best.values is None else best.values[0]
        best_number = None if best is None else best.number
        records.append({"study_name": summary.study_name, "directions": directions,
                        "n_trials": summary.n_trials, "best_value": best_value,
                        "best_trial": best_number,
                        "datetime_start": _iso(summary.datetime_start),
                        "user_attrs": dict(summary.user_attrs)})
        rows.append([summary.study_name, ",".join(directions), summary.n_trials, best_value,
                     best_number, summary.datetime_start])
    _emit(Report(records, columns, rows), args.format, sys.stdout)
    return EXIT_OK


def _cmd_trials(args: argparse.Namespace) -> int:
    from pipetune.cli.tracking import _searched_trials

    study = _load(args)
    report = _trials_report(_searched_trials(args, study), len(study.directions),
                            ("number", "state", "value", "datetime_start", "duration"),
                            with_user_attrs=False)
    _emit(report, args.format, sys.stdout)
    return EXIT_OK


def _cmd_best(args: argparse.Namespace) -> int:
    study = _load(args)
    if study.is_multi_objective:
        best = study.best_trials
        if not best:
            raise InvalidArgumentError(
                f"Study {study.study_name!r} has no COMPLETE trial yet, so no Pareto front: "
                "run some trials first.")
    else:
        best = [study.best_trial]
    report = _trials_report(best, len(study.directions), ("number", "value"),
                            with_user_attrs=True)
    _emit(report, args.format, sys.stdout)
    return EXIT_OK


def _confirm(question: str) -> bool:
    """Asks on the terminal; the prompt goes to stderr so stdout stays clean for pipes."""
    sys.stderr.write(f"{question} [y/N] ")
    sys.stderr.flush()
    answer = sys.stdin.readline()
    return answer.strip().lower() in ("y", "yes")


def _cmd_delete(args: argparse.Namespace) -> int:
    study = _load(args)  # fails with a clear message when the study does not exist
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
    pipetune.delete_study(study_name=args.study, storage=args.storage)
    if args.format == "table":
        sys.stdout.write(f"Deleted study {args.study!r} ({n_trials} trial(s)).\n")
    else:
        record = {"study_name": args.study, "n_trials": n_trials, "deleted": True}
        _emit(Report([record], list(record), [list(record.values())]), args.format, sys.stdout)
    return EXIT_OK


# -- optimize ----------------------------------------------------------------------------------


