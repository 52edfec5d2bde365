"""The ``pipetune`` command: look at and manage the studies in a storage from a shell.

``main`` parses the arguments and hands them to one ``_cmd_*`` function per subcommand; each
computes a ``Report`` (JSON-ready records plus the flat columns a table or CSV shows) and
``_emit`` renders it in the format asked for. A new subcommand is one ``_cmd_*`` function and
one ``_add_command`` call in ``build_parser``. Everything goes through the public pipetune API.

Exit codes: 0 success, 1 an action the user declined, 2 an error the user can fix (the one
line printed says how).
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import json
import math
import os
import sys
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, NoReturn, TextIO

import pipetune
from pipetune.datatypes import FrozenTrial
from pipetune.errors import InvalidArgumentError, PipetuneError, StorageError

DEFAULT_STORAGE = "sqlite:///pipetune.db"
STORAGE_ENV = "PIPETUNE_STORAGE"
FORMATS = ("table", "json", "csv")

EXIT_OK = 0
EXIT_DECLINED = 1
EXIT_USAGE = 2

Handler = Callable[[argparse.Namespace], int]


# -- what a command prints ---------------------------------------------------------------------


@dataclass(frozen=True)
class Report:
    """What one command prints: ``records`` (nested, for JSON) and the same rows flattened into
    ``columns`` for a table or CSV. Computed first and rendered after, so every format shows
    the same data."""

    records: list[dict[str, Any]]
    columns: list[str]
    rows: list[list[Any]] = field(default_factory=list)


def _iso(moment: dt.datetime | None) -> str | None:
    return None if moment is None else moment.isoformat()


def _seconds(span: dt.timedelta | None) -> float | None:
    return None if span is None else span.total_seconds()


def _json_safe(value: Any) -> Any:
    """``value`` with datetimes as ISO strings and non-finite floats as null, so the output
    is strict JSON any tool can read."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dt.datetime):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    return value


def format_duration(seconds: float) -> str:
    """A duration as a person reads it: ``12.5ms``, ``42.1s``, ``3m04s``, ``1h02m03s``."""
    if seconds < 1:
        return f"{seconds * 1000:.3g}ms"
    if seconds < 60:
        return f"{seconds:.3g}s"
    minutes, secs = divmod(int(round(seconds)), 60)
    if minutes < 60:
        return f"{minutes}m{secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m{secs:02d}s"


def format_cell(value: Any, compact: bool = True) -> str:
    """One table or CSV cell. ``compact`` (tables) rounds floats to 6 significant digits and
    shows durations and datetimes for reading; otherwise (CSV) values keep full precision."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, float):
        return f"{value:.6g}" if compact else repr(value)
    if isinstance(value, dt.timedelta):
        return format_duration(value.total_seconds()) if compact else repr(value.total_seconds())
    if isinstance(value, dt.datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S") if compact else value.isoformat()
    if isinstance(value, (list, tuple, dict)):
        return json.dumps(_json_safe(value), separators=(",", ":"))
    return str(value)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float, dt.timedelta)) and not isinstance(value, bool)


def render_table(columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """Aligned columns under a header and a rule; number columns are right-aligned."""
    cells = [[format_cell(v) for v in row] for row in rows]
    widths = [max([len(c)] + [len(r[i]) for r in cells]) for i, c in enumerate(columns)]
    numeric = [bool(rows) and all(row[i] is None or _is_number(row[i]) for row in rows)
               for i in range(len(columns))]

    def line(items: Sequence[str]) -> str:
        return "  ".join(item.rjust(w) if num else item.ljust(w)
                         for item, w, num in zip(items, widths, numeric)).rstrip()

    out = [line(list(columns)), line(["-" * w for w in widths])]
    out.extend(line(r) for r in cells)
    return "\n".join(out) + "\n"


def _emit(report: Report, fmt: str, out: TextIO) -> None:
    if fmt == "json":
        json.dump(_json_safe(report.records), out, indent=2, allow_nan=False)
        out.write("\n")
    elif fmt == "csv":
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(report.columns)
        writer.writerows([format_cell(v, compact=False) for v in row] for row in report.rows)
    else:
        out.write(render_table(report.columns, report.rows))


# -- trials as records and rows ----------------------------------------------------------------


def _value_columns(n_objectives: int) -> list[str]:
    return ["value"] if n_objectives == 1 else [f"values_{i}" for i in range(n_objectives)]


def _values_cells(trial: FrozenTrial, n_objectives: int) -> list[Any]:
    if trial.values is None:
        return [None] * n_objectives
    return list(trial.values)


def _trial_record(trial: FrozenTrial, n_objectives: int) -> dict[str, Any]:
    record: dict[str, Any] = {"number": trial.number, "state": trial.state.name}
    if n_objectives == 1:
        record["value"] = None if trial.values is None else trial.values[0]
    else:
        record["values"] = None if trial.values is None else list(trial.values)
    record.update(datetime_start=_iso(trial.datetime_start),
                  datetime_complete=_iso(trial.datetime_complete),
                  duration=_seconds(trial.duration), params=dict(trial.params),
                  user_attrs=dict(trial.user_attrs))
    return record


def _keys(dicts: Iterable[dict[str, Any]]) -> list[str]:
    return sorted({key for d in dicts for key in d})


def _trials_report(trials: Sequence[FrozenTrial], n_objectives: int,
                   fields: Sequence[str], with_user_attrs: bool) -> Report:
    """Trials as a report: ``fields`` (of number, state, value, datetime_start, duration) in
    that order, then one ``params_<name>`` column per param (and ``user_attrs_<name>``)."""
    params = _keys(t.params for t in trials)
    attrs = _keys(t.user_attrs for t in trials) if with_user_attrs else []
    columns: list[str] = []
    for name in fields:
        columns.extend(_value_columns(n_objectives) if name == "value" else [name])
    columns += [f"params_{p}" for p in params] + [f"user_attrs_{a}" for a in attrs]
    rows = []
    for trial in trials:
        row: list[Any] = []
        for name in fields:
            if name == "value":
                row.extend(_values_cells(trial, n_objectives))
            elif name == "state":
                row.append(trial.state.name)
            else:
                row.append(getattr(trial, name))
        row += [trial.params.get(p) for p in params]
        row += [trial.user_attrs.get(a) for a in attrs]
        rows.append(row)
    return Report([_trial_record(t, n_objectives) for t in trials], columns, rows)


# -- subcommands -------------------------------------------------------------------------------


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
    study = _load(args)
    report = _trials_report(study.trials, len(study.directions),
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


# -- parser ------------------------------------------------------------------------------------


class _Parser(argparse.ArgumentParser):
    """Reports a usage mistake as one line (and the way to help) instead of the full usage."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"error: {message}. See '{self.prog} --help'.\n")


def _add_shared_options(parser: argparse.ArgumentParser, storage_default: Any,
                        format_default: Any) -> None:
    parser.add_argument(
        "--storage", metavar="URL", default=storage_default,
        help=f"storage URL (default: ${STORAGE_ENV}, else {DEFAULT_STORAGE})")
    parser.add_argument(
        "--format", choices=FORMATS, default=format_default,
        help="output format (default: table)")


def _add_command(subcommands: Any, name: str, handler: Handler, help: str,
                 shared: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Registers one subcommand; it accepts the shared options after its name too."""
    parser = subcommands.add_parser(name, help=help, description=help, parents=[shared])
    parser.set_defaults(handler=handler)
    return parser


def build_parser() -> argparse.ArgumentParser:
    """The whole command line. The shared options may come before or after the subcommand:
    the top-level parser holds the defaults, a subcommand only overrides what it is given."""
    parser = _Parser(prog="pipetune", description="Inspect and manage pipetune studies.")
    parser.add_argument("--version", action="version",
                        version=f"pipetune {pipetune.__version__}")
    storage_default = os.environ.get(STORAGE_ENV) or DEFAULT_STORAGE
    _add_shared_options(parser, storage_default, "table")
    shared = argparse.ArgumentParser(add_help=False)
    _add_shared_options(shared, argparse.SUPPRESS, argparse.SUPPRESS)

    subcommands = parser.add_subparsers(title="commands", metavar="COMMAND",
                                        parser_class=_Parser)
    _add_command(subcommands, "studies", _cmd_studies,
                 "list the studies with their size and best value", shared)
    trials = _add_command(subcommands, "trials", _cmd_trials,
                          "list the trials of a study, one column per param", shared)
    trials.add_argument("study", help="study name")
    best = _add_command(subcommands, "best", _cmd_best,
                        "show the best trial (the Pareto front for several objectives)", shared)
    best.add_argument("study", help="study name")
    delete = _add_command(subcommands, "delete", _cmd_delete,
                          "delete a study and all its trials", shared)
    delete.add_argument("study", help="study name")
    delete.add_argument("--yes", "-y", action="store_true",
                        help="delete without asking for confirmation")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Runs the ``pipetune`` command on ``argv`` (default: ``sys.argv[1:]``) and returns its
    exit code; errors a user can fix become one ``error:`` line on stderr and code 2."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as stop:  # --help, --version and usage errors end here
        return stop.code if isinstance(stop.code, int) else EXIT_USAGE
    handler: Handler | None = getattr(args, "handler", None)
    if handler is None:
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    try:
        return handler(args)
    except PipetuneError as error:
        sys.stderr.write(f"error: {error}\n")
        return EXIT_USAGE
    except KeyboardInterrupt:
        sys.stderr.write("Interrupted.\n")
        return 130
    except BrokenPipeError:
        # The reader (e.g. `| head`) went away: stop quietly, and keep Python from
        # complaining again when it flushes stdout at exit.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 1


if __name__ == "__main__":
    sys.exit(main())
