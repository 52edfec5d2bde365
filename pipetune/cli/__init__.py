"""The ``pipetune`` command: run, look at and manage the studies in a storage from a shell.

``main`` parses the arguments and hands them to one ``cmd_*`` function per subcommand; each
computes a ``Report`` (JSON-ready records plus the flat columns a table or CSV shows) and
``emit`` renders it in the format asked for. A new subcommand is one ``cmd_*`` function and
one ``_add_command`` call in ``build_parser``. Everything goes through the public pipetune API
(and, to drive trials, a study's ``run_interface``).

Exit codes: 0 success, 1 an action the user declined (or, for ``optimize`` and ``tune``, an
objective that raised or kept failing, or a failed final run), 2 an error the user can fix (the
one line printed says how; for ``tune``, a mistake in the YAML file, with its line), 130
interrupted.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from typing import Any, NoReturn

from pipetune._formatting import format_duration
from pipetune._version import __version__
from pipetune.cli.cache import add_cache_options, cmd_cache
from pipetune.cli.dashboard import add_dashboard_options, cmd_dashboard
from pipetune.cli.imports import add_import_options, cmd_import
from pipetune.cli.optimize import add_optimize_options, cmd_optimize
from pipetune.cli.output import EXIT_USAGE, FORMATS, Handler, render_table
from pipetune.cli.plot import add_plot_options, add_report_options, cmd_plot, cmd_report
from pipetune.cli.server import add_server_options, cmd_server
from pipetune.cli.studies import add_trials_options, cmd_best, cmd_delete, cmd_studies, cmd_trials
from pipetune.cli.tracking import add_export_options, cmd_experiments, cmd_export
from pipetune.cli.tune import add_logs_options, add_tune_options, cmd_logs, cmd_tune
from pipetune.cli.worker import add_worker_options, cmd_worker
from pipetune.errors import PipetuneError
from pipetune.storage import DEFAULT_STORAGE, STORAGE_ENV

__all__ = ["build_parser", "format_duration", "main", "render_table"]


class _Parser(argparse.ArgumentParser):
    """Reports a usage mistake as one line (and the way to help) instead of the full usage."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"error: {message}. See '{self.prog} --help'.\n")


def _add_shared_options(parser: argparse.ArgumentParser, storage_default: Any,
                        format_default: Any = None) -> None:
    """``--storage``, and ``--format`` unless ``format_default`` is None (the commands that
    print no table or record: a log, a server, a worker's progress)."""
    parser.add_argument(
        "--storage", metavar="URL", default=storage_default,
        help=f"storage URL (default: ${STORAGE_ENV}, else {DEFAULT_STORAGE})")
    if format_default is not None:
        parser.add_argument(
            "--format", choices=FORMATS, default=format_default,
            help="output format of the table or record the command prints (default: table)")


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
                        version=f"pipetune {__version__}")
    storage_default = os.environ.get(STORAGE_ENV) or DEFAULT_STORAGE
    _add_shared_options(parser, storage_default, "table")
    shared = argparse.ArgumentParser(add_help=False)
    _add_shared_options(shared, argparse.SUPPRESS, argparse.SUPPRESS)
    storage_only = argparse.ArgumentParser(add_help=False)
    _add_shared_options(storage_only, argparse.SUPPRESS)

    subcommands = parser.add_subparsers(title="commands", metavar="COMMAND",
                                        parser_class=_Parser)
    _add_command(subcommands, "studies", cmd_studies,
                 "list the studies with their size and best value", shared)
    trials = _add_command(subcommands, "trials", cmd_trials,
                          "list the trials of a study, one column per param", shared)
    trials.add_argument("study", help="study name")
    add_trials_options(trials)
    _add_command(subcommands, "experiments", cmd_experiments,
                 "list the experiments with their studies and standalone runs", shared)
    add_export_options(_add_command(
        subcommands, "export", cmd_export,
        "export a study to MLflow (a parent run, a nested child run per trial)", shared))
    best = _add_command(subcommands, "best", cmd_best,
                        "show the best trial (the Pareto front for several objectives)", shared)
    best.add_argument("study", help="study name")
    delete = _add_command(subcommands, "delete", cmd_delete,
                          "delete a study and all its trials", shared)
    delete.add_argument("study", help="study name")
    delete.add_argument("--yes", "-y", action="store_true",
                        help="delete without asking for confirmation")
    add_optimize_options(_add_command(
        subcommands, "optimize", cmd_optimize,
        "run trials of a Python objective (module:function) into a study", shared))
    add_tune_options(_add_command(
        subcommands, "tune", cmd_tune,
        "tune a training script described by a YAML file, one subprocess per trial", shared))
    add_logs_options(_add_command(
        subcommands, "logs", cmd_logs, "print the log (stdout and stderr) of a trial's process",
        storage_only))
    add_worker_options(_add_command(
        subcommands, "worker", cmd_worker,
        "pull trials of a shared study until its study-wide budget is spent", storage_only))
    add_cache_options(_add_command(
        subcommands, "cache", cmd_cache,
        "show (info) or empty (clear) the stage-output cache of pipelines", shared))
    add_server_options(_add_command(
        subcommands, "server", cmd_server,
        "serve the storage as JSON over HTTP for remote workers (storage='http://host:port')"
        " and the web dashboard at /", storage_only))
    add_dashboard_options(_add_command(
        subcommands, "dashboard", cmd_dashboard,
        "open the web dashboard (studies, trials, plots) on a storage in a browser",
        storage_only))
    add_plot_options(_add_command(
        subcommands, "plot", cmd_plot,
        "write one figure of a study to .html (opens offline) or an image (.png, .svg...)",
        shared))
    add_import_options(_add_command(
        subcommands, "import", cmd_import,
        "copy studies of another library (optuna) into the storage, with every trial; "
        "running it again adds only what is new", shared))
    add_report_options(_add_command(
        subcommands, "report", cmd_report,
        "write a self-contained HTML report of a study: summary, best trial, every figure",
        shared))
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
