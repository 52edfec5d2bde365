"""``pipetune worker``: pulls trials of one shared study until its study-wide budget is spent.

Start as many as there are machines or slots (SLURM, Kubernetes, plain shells), all with the
same ``--storage`` and ``--study``; see ``pipetune.execution.worker`` for what they promise.
"""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING, Any

from pipetune.cli.optimize import (
    add_sampler_and_pruner_options,
    arg_type,
    load_objective,
    make_pruner,
    make_sampler,
    positive_int,
    working_folder_importable,
)
from pipetune.cli.output import EXIT_FAILED
from pipetune.errors import InvalidArgumentError, StudyNotFoundError
from pipetune.execution.loop import retry_storage
from pipetune.execution.worker import (
    EXIT_DONE,
    EXIT_STOPPED_TRIALS_FAILED,
    Worker,
    WorkerOptions,
    run_worker,
)

if TYPE_CHECKING:
    from pipetune.study import Study

DIRECTIONS = ("minimize", "maximize")
_seconds_or_zero = arg_type(float, lambda v: 0 <= v < float("inf"), "a number of seconds >= 0")


def _open_from_config(args: argparse.Namespace) -> tuple[Study, Any, Any]:
    """The study, objective and config of ``--config study.yaml``: trials run the YAML's
    script; the study is created from the YAML when no worker has created it yet."""
    from pipetune.cli.tune import storage_of
    from pipetune.launch.objective import ScriptObjective
    from pipetune.launch.schema import load_config
    from pipetune.study import create_study

    config = load_config(args.config)
    objective = ScriptObjective(config.space, config.launch)
    storage = storage_of(args, config)
    sampler, pruner = config.build_sampler(), config.build_pruner()
    study = retry_storage(
        lambda: create_study(study_name=args.study or config.study, storage=storage,
                             sampler=sampler, pruner=pruner,
                             directions=list(config.directions), load_if_exists=True),
        "Opening the study", give_up_after=args.storage_retry_for)
    return study, objective, config


def _open_for_objective(args: argparse.Namespace) -> Study:
    """The study of ``--objective``: created with ``--direction``/``--directions`` when no
    worker has created it yet (every worker may pass them: one creates it, the others load
    it), else it must exist."""
    from pipetune.study import create_study, load_study

    sampler, pruner = make_sampler(args.sampler, args.seed), make_pruner(args.pruner)
    directions = [args.direction] if args.direction is not None else args.directions
    if directions is None:
        try:
            return load_study(study_name=args.study, storage=args.storage,
                              sampler=sampler, pruner=pruner)
        except StudyNotFoundError as error:
            raise StudyNotFoundError(
                f"{error} Or pass --direction minimize|maximize (--directions ... for several "
                "objectives) to let the worker create it.") from None
    return create_study(study_name=args.study, storage=args.storage, sampler=sampler,
                        pruner=pruner, directions=directions, load_if_exists=True)


def cmd_worker(args: argparse.Namespace) -> int:
    if (args.objective is None) == (args.config is None):
        raise InvalidArgumentError(
            "pipetune worker needs exactly one of --objective MODULE:FUNCTION (a Python "
            "objective) and --config study.yaml (a script described by a YAML file).")
    if args.config is None and args.study is None:
        raise InvalidArgumentError("pipetune worker --objective needs --study NAME.")
    if args.config is not None and (args.direction or args.directions) is not None:
        raise InvalidArgumentError(
            "pipetune worker --config takes the directions of the YAML file; drop --direction "
            "(it applies with --objective).")
    config = None
    with working_folder_importable():
        if args.config is not None:
            study, func, config = _open_from_config(args)
        else:
            func = load_objective(args.objective)
            if func is None:
                return EXIT_FAILED
            study = retry_storage(lambda: _open_for_objective(args), "Opening the study",
                                  give_up_after=args.storage_retry_for)
        max_trials, max_parallel = args.max_trials, args.max_parallel
        if config is not None:
            max_trials = max_trials or config.max_trials
            max_parallel = max_parallel or config.max_parallel
        options = WorkerOptions(max_trials=max_trials, max_parallel=max_parallel,
                                concurrency=args.concurrency,
                                stop_timeout=args.stop_timeout,
                                storage_retry_for=args.storage_retry_for)
        worker = Worker(study.run_interface, func, options)
        code = run_worker(worker)
    if config is not None and code == EXIT_STOPPED_TRIALS_FAILED:
        from pipetune.launch.process_group import terminate_all

        terminate_all(grace=config.launch.grace_period)  # the failed trials' scripts
    outcome = {EXIT_DONE: "done", EXIT_STOPPED_TRIALS_FAILED: "stopped, trials in flight failed",
               }.get(code, "stopped by an error (see above)")
    sys.stdout.write(f"Worker {worker.name} ran {len(worker.numbers)} trial(s) of study "
                     f"{study.study_name!r}: {outcome}.\n")
    sys.stdout.flush()
    return code


def add_worker_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--study", metavar="NAME",
                        help="the study to work on (with --objective it must exist, unless "
                             "--direction is given; default with --config: the YAML's study:, "
                             "created from the YAML if new)")
    directions = parser.add_mutually_exclusive_group()
    directions.add_argument("--direction", choices=DIRECTIONS,
                            help="with --objective: create the study, minimizing or maximizing, "
                                 "if it does not exist yet (every worker may pass it; an "
                                 "existing study must have this direction)")
    directions.add_argument("--directions", nargs="+", choices=DIRECTIONS, metavar="DIRECTION",
                            help="as --direction, for a study of several objectives, e.g. "
                                 "--directions minimize maximize")
    parser.add_argument("--objective", metavar="MODULE:FUNCTION",
                        help="the objective, e.g. train:objective for objective() in ./train.py")
    parser.add_argument("--config", metavar="STUDY_YAML",
                        help="instead of --objective: run the script a study file describes "
                             "(see pipetune tune); its sampler, pruner, max_trials and "
                             "max_parallel apply")
    parser.add_argument("--max-trials", type=positive_int, metavar="N",
                        help="the study-wide budget: all workers together start at most N "
                             "trials that do not fail (stored with the study; default: the "
                             "stored one, else run until stopped)")
    parser.add_argument("--max-parallel", type=positive_int, metavar="N",
                        help="the study-wide cap: all workers together run at most N trials at "
                             "a time (stored with the study; default: the stored one, else "
                             "no cap)")
    parser.add_argument("--concurrency", type=positive_int, default=1, metavar="K",
                        help="trials this worker runs at once, in threads (default: 1)")
    parser.add_argument("--stop-timeout", type=_seconds_or_zero, default=10.0,
                        metavar="SECONDS",
                        help="on SIGTERM, how long the trials in flight may take to finish "
                             "before they are marked FAIL (default: 10)")
    parser.add_argument("--storage-retry-for", type=_seconds_or_zero, default=60.0,
                        metavar="SECONDS",
                        help="how long an unreachable storage is retried, with backoff, before "
                             "the worker gives up (default: 60)")
    add_sampler_and_pruner_options(parser, applies=", with --objective")
