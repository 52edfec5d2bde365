"""The tracking commands: ``experiments`` and ``export mlflow``."""

from __future__ import annotations

import argparse
import sys

from pipetune.cli.output import EXIT_OK, Report, emit
from pipetune.cli.studies import check_storage, load_named_study


def cmd_experiments(args: argparse.Namespace) -> int:
    from pipetune.tracking.experiments import list_experiments

    experiments = list_experiments(check_storage(args.storage))
    columns = ["experiment", "n_studies", "n_runs", "studies"]
    records = [{"experiment": e.name, "n_studies": e.n_studies, "n_runs": e.n_runs,
                "studies": list(e.study_names)} for e in experiments]
    rows = [[e.name, e.n_studies, e.n_runs, ", ".join(e.study_names)] for e in experiments]
    emit(Report(records, columns, rows), args.format, sys.stdout)
    return EXIT_OK


def add_export_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("target", choices=["mlflow"], help="where to export (mlflow)")
    parser.add_argument("study", help="study name")
    parser.add_argument("--tracking-uri", metavar="URI",
                        help="MLflow tracking URI, e.g. sqlite:///mlflow.db (default: MLflow's "
                             "own default, $MLFLOW_TRACKING_URI or ./mlruns)")
    parser.add_argument("--experiment", metavar="NAME",
                        help="MLflow experiment (default: the study's pipetune experiment)")


def cmd_export(args: argparse.Namespace) -> int:
    from pipetune.integrations.mlflow import export_study

    study = load_named_study(args)
    parent_id = export_study(study, tracking_uri=args.tracking_uri,
                             experiment_name=args.experiment)
    record = {"study_name": study.study_name, "n_trials": len(study.trials),
              "mlflow_run_id": parent_id}
    if args.format == "table":
        sys.stdout.write(f"Exported study {study.study_name!r} ({record['n_trials']} trial(s)) "
                         f"to MLflow: parent run {parent_id}.\n")
    else:
        emit(Report([record], list(record), [list(record.values())]), args.format, sys.stdout)
    return EXIT_OK
