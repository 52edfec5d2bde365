"""``pipetune import optuna``: copies Optuna studies into a pipetune storage (see
``pipetune.compat.optuna_import``)."""

from __future__ import annotations

import argparse
import sys

from pipetune.cli.output import EXIT_OK, Report, emit
from pipetune.storage import get_storage

# The libraries whose studies ``pipetune import`` copies.
LIBRARIES = ("optuna",)


def add_import_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("library", choices=LIBRARIES, help="whose studies to copy: optuna")
    parser.add_argument(
        "--from", dest="source", required=True, metavar="URL",
        help="the Optuna storage: sqlite:///optuna.db, postgresql://user@host/db, "
             "journal:///optuna.log, or the path of a SQLite or journal file")
    parser.add_argument("--study", metavar="NAME",
                        help="copy only this study (default: every study)")
    parser.add_argument("--to", dest="storage", metavar="URL", default=argparse.SUPPRESS,
                        help="the pipetune storage to copy into (the same as --storage)")


def cmd_import(args: argparse.Namespace) -> int:
    from pipetune.compat.optuna_import import import_optuna

    imported = import_optuna(args.source, get_storage(args.storage), study_name=args.study)
    records = [{"study_name": s.study_name, "n_trials": s.n_trials, "added": s.n_added}
               for s in imported]
    columns = ["study_name", "n_trials", "added"]
    emit(Report(records, columns, [[r[c] for c in columns] for r in records]), args.format,
         sys.stdout)
    return EXIT_OK
