"""The tracking commands: ``experiments``, ``export mlflow``, and the search and column
options of ``trials`` (``--filter``, ``--order-by``, ``--limit``, ``--columns``)."""

from __future__ import annotations

import argparse
import sys

import pipetune
from pipetune.cli.output import EXIT_OK, Report, _emit
from pipetune.cli.studies import _check_storage, _load


def _add_trials_options(parser: argparse.ArgumentParser) -> None:
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


def _searched_trials(args: argparse.Namespace, study: pipetune.Study) -> list:
    """The trials ``pipetune trials`` shows: all, or those its search options select (a
    param the study does not have is an error, as a mistyped name would match nothing)."""
    from pipetune.tracking.search import check_params

    trials = study.trials
    if args.filter is None and args.order_by is None and args.limit is None:
        return trials
    check_params(args.filter, args.order_by, {name for t in trials for name in t.params})
    return study.search(args.filter, order_by=args.order_by, limit=args.limit)


def _cmd_experiments(args: argparse.Namespace) -> int:
    experiments = pipetune.list_experiments(_check_storage(args.storage))
    columns = ["experiment", "n_studies", "n_runs", "studies"]
    records = [{"experiment": e.name, "n_studies": e.n_studies, "n_runs": e.n_runs,
                "studies": list(e.study_names)} for e in experiments]
    rows = [[e.name, e.n_studies, e.n_runs, ", ".join(e.study_names)] for e in experiments]
    _emit(Report(records, columns, rows), args.format, sys.stdout)
    return EXIT_OK


def _add_export_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("target", choices=["mlflow"], help="where to export (mlflow)")
    parser.add_argument("study", help="study name")
    parser.add_argument("--tracking-uri", metavar="URI",
                        help="MLflow tracking URI, e.g. sqlite:///mlflow.db (default: MLflow's "
                             "own default, $MLFLOW_TRACKING_URI or ./mlruns)")
    parser.add_argument("--experiment", metavar="NAME",
                        help="MLflow experiment (default: the study's pipetune experiment)")


def _cmd_export(args: argparse.Namespace) -> int:
    from pipetune.integrations.mlflow import export_study

    study = _load(args)
    parent_id = export_study(study, tracking_uri=args.tracking_uri,
                             experiment_name=args.experiment)
    record = {"study_name": study.study_name, "n_trials": len(study.trials),
              "mlflow_run_id": parent_id}
    if args.format == "table":
        sys.stdout.write(f"Exported study {study.study_name!r} ({record['n_trials']} trial(s)) "
                         f"to MLflow: parent run {parent_id}.\n")
    else:
        _emit(Report([record], list(record), [list(record.values())]), args.format, sys.stdout)
    return EXIT_OK
