"""``pipetune tune study.yaml``: tunes a training script described by a YAML file (see
``pipetune.launch.schema``), each trial a subprocess; and ``pipetune logs STUDY TRIAL``, which
prints the output a trial's process wrote."""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import shlex
import signal
import sys
import threading
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, TextIO

from pipetune._attrs import FAIL_REASON_ATTR, FINAL_RUN_ATTR, LOG_FILE_ATTR
from pipetune._best import best_trial_of
from pipetune._formatting import format_cell, format_duration, json_safe
from pipetune.cli.live import LiveDisplay, first_line
from pipetune.cli.optimize import NotedCriterion, jobs_type, positive_int
from pipetune.cli.output import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK, Report, emit
from pipetune.cli.studies import check_storage
from pipetune.datatypes import FrozenTrial, TrialState
from pipetune.errors import (
    InvalidArgumentError,
    ObjectiveError,
    StudyNotFoundError,
    TooManyFailuresError,
    TrialNotFoundError,
)
from pipetune.storage import DEFAULT_STORAGE, STORAGE_ENV, get_storage

if TYPE_CHECKING:  # imported when a command runs: the other commands need neither
    from pipetune.launch.config import StudyConfig
    from pipetune.launch.objective import ScriptObjective
    from pipetune.study import Study


def storage_of(args: argparse.Namespace, config: StudyConfig) -> str:
    """``--storage`` when given, else the YAML's ``storage:``, else $PIPETUNE_STORAGE or the
    default. (The top-level parser fills in the default, so "given" means "differs from it".)"""
    default = os.environ.get(STORAGE_ENV) or DEFAULT_STORAGE
    if args.storage != default or config.storage is None:
        return args.storage
    return config.storage


def _open_study(config: StudyConfig, storage: str, resume: bool,
                max_parallel: int | None) -> Study:
    """The study of ``config``: created when new; an existing one only with ``resume`` (or
    when it holds no trial yet), and only with the same directions. ``max_parallel`` (the
    YAML's, or ``--parallel``'s) becomes the study-wide cap that workers joining the study
    follow too."""
    from pipetune.study import create_study, load_study

    sampler, pruner = config.build_sampler(), config.build_pruner()
    backend = get_storage(storage)  # tune writes: it may create the SQLite file
    try:
        study = load_study(study_name=config.study, storage=backend, sampler=sampler,
                           pruner=pruner)
    except StudyNotFoundError:
        return create_study(study_name=config.study, storage=backend, sampler=sampler,
                            pruner=pruner, directions=list(config.directions),
                            max_parallel=max_parallel)
    stored = [d.name.lower() for d in study.directions]
    if stored != list(config.directions):
        raise InvalidArgumentError(
            f"Study {config.study!r} in {storage} has directions {stored}, but {config.path} "
            f"says {list(config.directions)}: change study: to start a new study.")
    n_trials = len(study.trials)
    if n_trials and not resume:
        raise InvalidArgumentError(
            f"Study {config.study!r} already has {n_trials} trial(s) in {storage}. Pass --resume "
            f"to continue it (numbering goes on from trial {n_trials}), or change study: in "
            f"{config.path} to start a new one.")
    if max_parallel is not None:  # stored as the study-wide cap, which the study then follows
        study = create_study(study_name=config.study, storage=backend, sampler=sampler,
                             pruner=pruner, directions=list(config.directions),
                             load_if_exists=True, max_parallel=max_parallel)
    return study


def _budget(more: int | None, total: int | None, trials: list[FrozenTrial]) -> int | None:
    """How many trials this run starts: ``more`` (``--n-trials``, as in ``optimize``), else
    what the YAML's ``total`` (``max_trials``, which counts the whole search) leaves, so a
    resumed study only runs the rest. Enqueued (WAITING) trials do not count as done (nor
    does the final run, a run of its own outside the study)."""
    if more is not None:
        return more
    if total is None:
        return None
    done = sum(1 for t in trials if t.state != TrialState.WAITING)
    return max(total - done, 0)


@contextlib.contextmanager
def _quiet_warnings(quiet: bool) -> Iterator[None]:
    """Keeps pipetune's per-trial warnings (a failed attempt, a retry) off a terminal while
    the live table redraws there: the table shows each failure, ``pipetune logs`` the rest.
    Its per-trial INFO lines are always left out: tune prints a line per trial of its own."""
    log = logging.getLogger("pipetune")
    level = log.level
    log.setLevel(logging.ERROR if quiet else max(level, logging.WARNING))
    try:
        yield
    finally:
        log.setLevel(level)


@contextlib.contextmanager
def _sigterm_interrupts() -> Iterator[None]:
    """Turns SIGTERM into KeyboardInterrupt while the run lasts, so ``kill`` (or a scheduler
    ending the job) stops the trials' processes and records the run instead of orphaning them."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _storage_option(storage: str) -> str:
    """`` --storage URL`` for the commands to print, unless they would find it anyway."""
    return "" if storage == (os.environ.get(STORAGE_ENV) or DEFAULT_STORAGE) \
        else f" --storage {shlex.quote(storage)}"


def _inspect_hints(study_name: str, storage: str, trial: int | None) -> list[str]:
    option = _storage_option(storage)
    name = shlex.quote(study_name)
    hints = [f"pipetune trials {name}{option}"]
    if trial is not None:
        hints.append(f"pipetune logs {name} {trial}{option}")
    return hints


def _summary(study: Study, config: StudyConfig, storage: str, numbers: set[int],
             reason: str, elapsed: float, final: FrozenTrial | None,
             final_error: str | None, final_now: bool) -> Report:
    """What ``tune`` prints at the end: this run's trials by state, why it stopped, the best
    trial of the search and the final run (``final``: the trial of the run the study's
    ``final_run`` names, made by this command when ``final_now``, else by an earlier one)."""
    trials = study.trials
    counts: dict[str, int] = {}
    for trial in trials:
        if trial.number in numbers:
            counts[trial.state.name] = counts.get(trial.state.name, 0) + 1
    failed = [t for t in trials if t.number in numbers and t.state == TrialState.FAIL]
    best = best_trial_of(trials, study.directions)
    pareto = [] if len(study.directions) == 1 else study.best_trials
    final_name = study.system_attrs.get(FINAL_RUN_ATTR) if final is not None else None

    def brief(trial: FrozenTrial) -> dict[str, Any]:
        # Only the declared params: a reverse_log param also records an internal helper.
        return {"number": trial.number, "state": trial.state.name,
                "values": None if trial.values is None else list(trial.values),
                "params": config.space.active(trial.params),
                "log_file": trial.system_attrs.get(LOG_FILE_ATTR)}

    record = {"study_name": study.study_name, "storage": storage, "config": config.path,
              "n_trials_run": len(numbers), "states": counts, "stopped_because": reason,
              "elapsed": elapsed, "metrics": [m.name for m in _metrics(config)],
              "best_trial": None if best is None else brief(best),
              "pareto_trials": [brief(t) for t in pareto],
              "final": None if final is None else {
                  "run": final_name, "ran_now": final_now, **brief(final),
                  "best_trial": final.user_attrs.get("best_trial"),
                  "reason": final.system_attrs.get(FAIL_REASON_ATTR)},
              "final_error": final_error,
              "last_failure": None if not failed else {
                  "number": failed[-1].number,
                  "reason": failed[-1].system_attrs.get(FAIL_REASON_ATTR)},
              "inspect": _inspect_hints(study.study_name, storage,
                                        best.number if best is not None else None)}
    columns = ["study_name", "n_trials_run", "stopped_because", "best_trial", "best_value",
               "final_run", "final_state", "final_value"]
    row = [study.study_name, len(numbers), reason, None if best is None else best.number,
           None if best is None else best.value, final_name,
           None if final is None else final.state.name,
           None if final is None or final.values is None else final.values[0]]
    return Report([record], columns, [row])


def _metrics(config: StudyConfig) -> list[Any]:
    objective = config.launch.objective
    return list(objective) if isinstance(objective, (tuple, list)) else [objective]


def _print_summary(report: Report, fmt: str, out: TextIO) -> None:
    if fmt != "table":
        emit(report, fmt, out)
        return
    record = report.records[0]
    metrics = record["metrics"]

    def values_text(trial: dict[str, Any]) -> str:
        if trial["values"] is None:
            return "no value"
        return ", ".join(f"{m} {format_cell(v)}" for m, v in zip(metrics, trial["values"]))

    states = ", ".join(f"{n} {state}" for state, n in sorted(record["states"].items()))
    out.write(f"\nRan {record['n_trials_run']} trial(s) of study {record['study_name']!r}"
              f"{f' ({states})' if states else ''} in {format_duration(record['elapsed'])}.\n")
    out.write(f"Stopped: {record['stopped_because']}.\n")
    best = record["best_trial"]
    if best is not None:
        params = json.dumps(json_safe(best["params"]), sort_keys=True)
        out.write(f"Best trial {best['number']}: {values_text(best)}, params {params}\n")
    for trial in record["pareto_trials"]:
        params = json.dumps(json_safe(trial["params"]), sort_keys=True)
        out.write(f"Pareto trial {trial['number']}: {values_text(trial)}, params {params}\n")
    if best is None and not record["pareto_trials"]:
        out.write("No COMPLETE trial yet, so no best trial.\n")
    failure = record["last_failure"]
    if failure is not None:
        out.write(f"{record['states'].get('FAIL', 0)} trial(s) failed; the last, trial "
                  f"{failure['number']}: {first_line(str(failure['reason'] or ''))} (its log: "
                  f"pipetune logs {shlex.quote(record['study_name'])} {failure['number']}"
                  f"{_storage_option(record['storage'])})\n")
    final = record["final"]
    if final is not None:
        of = "" if final["best_trial"] is None else f" of trial {final['best_trial']}"
        of += "" if final["ran_now"] else ", done before"
        logs = f"pipetune logs {shlex.quote(final['run'])} {final['number']}" \
               f"{_storage_option(record['storage'])}"
        out.write(f"Final run {final['run']!r} (best params{of} to completion): "
                  f"{final['state']}, {values_text(final)} (its log: {logs})\n")
    if record["final_error"]:
        out.write(f"Final run failed: {first_line(record['final_error'])}\n")
    out.write("Inspect: " + "\n         ".join(record["inspect"]) + "\n")


def _earlier_final(study: Study) -> FrozenTrial | None:
    """The trial of the final run an earlier ``tune`` made for ``study``, if it is still
    stored."""
    from pipetune.study import load_study

    name = study.system_attrs.get(FINAL_RUN_ATTR)
    if name is None:
        return None
    try:
        trials = load_study(study_name=name, storage=study.run_interface.storage).trials
    except StudyNotFoundError:
        return None
    return trials[0] if trials else None


def _run_final(objective: ScriptObjective, study: Study, config: StudyConfig,
               live: TextIO) -> tuple[FrozenTrial | None, str | None]:
    """Runs the best params of the search with the ``final:`` arguments as a standalone run
    outside the study; returns that run's trial and, when it failed, why."""
    best = best_trial_of(study.trials, study.directions)
    if best is None:
        return None, "no COMPLETE trial in the search, so no best params to run"
    extra = config.final.args if config.final is not None else ()
    args = " ".join(shlex.quote(a) for a in extra)
    live.write(f"Final run: the params of trial {best.number} with {args}\n")
    live.flush()
    try:
        run = objective.run_final(study, dict(best.params), extra, best_trial=best.number)
    except ObjectiveError as error:
        return None, str(error)
    final = run.study.trials[0]
    if final.state != TrialState.COMPLETE:
        reason = final.system_attrs.get(FAIL_REASON_ATTR, f"it ended {final.state.name}")
        return final, str(reason)
    return final, None


def cmd_tune(args: argparse.Namespace) -> int:
    from pipetune.launch.objective import ScriptObjective
    from pipetune.launch.process_group import terminate_all
    from pipetune.launch.schema import load_config

    config = load_config(args.config)
    storage = _check_new_storage(storage_of(args, config))
    objective = ScriptObjective(config.space, config.launch)  # checks before a study exists
    n_jobs = args.parallel or config.max_parallel or 1
    # --parallel overrides max_parallel, the study-wide cap too (-1 sets none): otherwise the
    # cap would hold this run to fewer trials at a time than asked for.
    cap = config.max_parallel if not args.parallel else None if n_jobs == -1 else n_jobs
    study = _open_study(config, storage, args.resume, cap)
    before = {t.number for t in study.trials}
    n_trials = _budget(args.n_trials, config.max_trials, study.trials)
    out: TextIO = sys.stdout if args.format == "table" else sys.stderr
    tty = out.isatty()
    param_names = [p.name for p in config.space.params]
    metrics = [m.name for m in _metrics(config)]
    display = LiveDisplay(config.study, storage, study.directions, metrics, param_names,
                          n_trials, before, out, tty)
    reasons: list[str] = []
    criteria = [NotedCriterion(c, reasons) for c in config.stopping.criteria()]
    resumed = f" (resumed after trial {max(before)})" if before else ""
    size = "until stopped" if n_trials is None else f"{n_trials} trial(s)"
    at_a_time = "one per CPU" if n_jobs == -1 else f"{n_jobs}"
    out.write(f"Tuning study {config.study!r} in {storage}{resumed}: {size}, {at_a_time} at a "
              f"time, sampler {config.sampler.name}, pruner {config.pruner.name}.\n")
    out.flush()
    started = time.monotonic()
    code, reason, final, final_error = EXIT_OK, "", None, None
    with _sigterm_interrupts(), _quiet_warnings(tty):
        try:
            if n_trials != 0:
                display.start()
                try:
                    study.optimize(objective, n_trials=n_trials, n_jobs=n_jobs,
                                   catch=(ObjectiveError,), callbacks=[display.trial_finished],
                                   stop_when=criteria, **_backend_options(args, config))
                finally:
                    display.stop()
            if config.final is not None and (n_trials != 0 or
                                             FINAL_RUN_ATTR not in study.system_attrs):
                final, final_error = _run_final(objective, study, config, out)
                if final_error is not None:
                    code = EXIT_FAILED
        except TooManyFailuresError:
            code, reason = EXIT_FAILED, (f"{config.stopping.max_failed_in_a_row} trials failed "
                                         "in a row (stopping.max_failed_in_a_row)")
        except KeyboardInterrupt:
            # Trials running in worker threads cannot be interrupted; their processes can.
            terminate_all(grace=config.launch.grace_period)
            code, reason = EXIT_INTERRUPTED, "interrupted"
    numbers = {t.number for t in study.trials if t.number not in before}
    if not reason:
        reason = reasons[0] if reasons else (
            "nothing left to run: the study already has max_trials trials (pass --n-trials N "
            "to run N more)" if n_trials == 0 else
            f"ran the {n_trials} trial(s) asked for" if n_trials is not None
            and len(numbers) >= n_trials else "the sampler had no candidate left")
    final_now = final is not None
    if final is None and final_error is None and config.final is not None:
        final = _earlier_final(study)
    report = _summary(study, config, storage, numbers, reason, time.monotonic() - started,
                      final, final_error, final_now)
    _print_summary(report, args.format, sys.stdout)
    failed = report.records[0]["last_failure"]
    if code == EXIT_OK and failed is not None and set(report.records[0]["states"]) == {"FAIL"}:
        sys.stderr.write(f"error: all {len(numbers)} trial(s) of this run failed; the last, "
                         f"trial {failed['number']}: {first_line(str(failed['reason'] or ''))}\n")
        code = EXIT_FAILED
    return code


def _backend_options(args: argparse.Namespace, config: StudyConfig) -> dict[str, Any]:
    """``optimize``'s backend arguments: on Ray, each trial's task holds one CPU and the GPUs
    the script asks for (Ray then sets CUDA_VISIBLE_DEVICES for it); on Spark, one task slot
    of an executor."""
    if args.backend == "thread":
        return {}
    if args.backend == "spark":
        if config.launch.gpus_per_trial:
            # Each of an executor's Python workers would hand out the same GPUs.
            raise InvalidArgumentError(
                f"gpus_per_trial: {config.launch.gpus_per_trial} cannot be given to trials on "
                "Spark (--backend spark): run GPU trials with --backend ray or thread.")
        return {"backend": "spark"}
    return {"backend": "ray",
            "resources_per_trial": {"cpu": 1, "gpu": config.launch.gpus_per_trial}}


def _check_new_storage(url: str) -> str:
    """Unlike the inspecting commands, ``tune`` may create a SQLite file; it refuses only a
    file in a folder that does not exist (the likely typo)."""
    prefix = "sqlite:///"
    if url.startswith(prefix) and url != prefix + ":memory:":
        folder = os.path.dirname(os.path.abspath(url[len(prefix):]))
        if not os.path.isdir(folder):
            raise InvalidArgumentError(
                f"The storage {url} names a SQLite file in {folder!r}, which does not exist: "
                "create the folder or fix the URL.")
    return url


def cmd_logs(args: argparse.Namespace) -> int:
    from pipetune.launch.logs import read_log
    from pipetune.study import load_study

    study = load_study(study_name=args.study, storage=check_storage(args.storage))
    trial = next((t for t in study.trials if t.number == args.trial), None)
    if trial is None:
        count = len(study.trials)
        raise TrialNotFoundError(
            f"Study {args.study!r} has no trial {args.trial}; its trials are numbered 0 to "
            f"{count - 1}." if count else f"Study {args.study!r} has no trial yet.")
    sys.stdout.write(read_log(study, trial, args.tail))
    return EXIT_OK


# -- parser ------------------------------------------------------------------------------------


def add_tune_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("config", metavar="STUDY.yaml",
                        help="the study's YAML file (schema: `pydoc pipetune.launch.schema`); its "
                             "storage: is used unless --storage is given")
    parser.add_argument("--n-trials", type=positive_int, metavar="N",
                        help="run N more trials, as optimize does (default: what the YAML's "
                             "max_trials, counted over the whole search, leaves)")
    parser.add_argument("--parallel", type=jobs_type, metavar="K",
                        help="trials at a time (overrides max_parallel, also as the "
                             "study-wide cap; -1: one per CPU, no cap)")
    parser.add_argument("--resume", action="store_true",
                        help="continue a study that already has trials: up to its max_trials, "
                             "or --n-trials more")
    parser.add_argument("--backend", choices=("thread", "ray", "spark"), default="thread",
                        help="where trials run: threads of this process launching the script "
                             "(default), Ray tasks on the cluster of RAY_ADDRESS (a local "
                             "one when unset), one CPU and gpus_per_trial GPUs each, or Spark "
                             "tasks (on the cluster of spark-submit when it runs this "
                             "command, else on a local Spark)")


def add_logs_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("study", help="study name")
    parser.add_argument("trial", type=int, help="trial number")
    parser.add_argument("--tail", type=positive_int, metavar="N",
                        help="print only the last N lines")
