"""``pipetune optimize``: runs trials of an importable Python objective into a study, with
the stopping criteria of ``pipetune.stopping``."""

from __future__ import annotations

import argparse
import contextlib
import importlib
import json
import math
import os
import sys
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TextIO

from pipetune._attrs import FAIL_REASON_ATTR
from pipetune._formatting import format_cell, format_duration, json_safe
from pipetune.cli.live import first_line
from pipetune.cli.output import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK, Report, emit
from pipetune.datatypes import StudyDirection, TrialState
from pipetune.errors import (
    InvalidArgumentError,
    PipetuneError,
    StudyNotFoundError,
    TooManyFailuresError,
    TrialPruned,
)
from pipetune.stopping import (
    FailedInARow,
    NoImprovement,
    Progress,
    StoppingCriterion,
    TargetValue,
)

if TYPE_CHECKING:
    from pipetune.pruners.base import BasePruner
    from pipetune.samplers.base import BaseSampler
    from pipetune.study import Study
    from pipetune.trial import Trial


def arg_type(convert: Callable[[str], Any], valid: Callable[[Any], bool],
              expected: str) -> Callable[[str], Any]:
    """An argparse ``type``: converts, then checks; a bad value is one line naming it."""
    def parse(text: str) -> Any:
        try:
            value = convert(text)
        except ValueError:
            value = None
        if value is None or not valid(value):
            raise argparse.ArgumentTypeError(f"must be {expected}, got {text!r}")
        return value
    return parse


positive_int = arg_type(int, lambda v: v >= 1, "an int >= 1")
_seconds_type = arg_type(float, lambda v: 0 < v < math.inf, "a positive number of seconds")
jobs_type = arg_type(int, lambda v: v >= 1 or v == -1, "an int >= 1, or -1 for one per CPU")
_number_type = arg_type(float, lambda v: not math.isnan(v), "a number")


@contextlib.contextmanager
def working_folder_importable() -> Iterator[None]:
    """Puts the working folder first on ``sys.path`` while the command runs, as ``python -m``
    does, so ``--objective train:objective`` finds ``./train.py``."""
    cwd = os.getcwd()
    added = cwd not in sys.path
    if added:
        sys.path.insert(0, cwd)
    importlib.invalidate_caches()  # a module written a moment ago must be seen
    try:
        yield
    finally:
        if added and cwd in sys.path:
            sys.path.remove(cwd)


def _spec_error(spec: str, problem: str) -> InvalidArgumentError:
    return InvalidArgumentError(f"--objective {spec!r}: {problem}")


def import_objective(spec: str) -> Callable[..., Any]:
    """The function named by ``module:function`` (``function`` may be a dotted attribute path),
    imported with the working folder on ``sys.path``. A spec that names nothing callable is an
    InvalidArgumentError saying what to write instead; an exception raised by the module's own
    code while it is imported propagates unchanged."""
    module_name, sep, attr_path = spec.partition(":")
    module_name, attr_path = module_name.strip(), attr_path.strip()
    if not sep or not module_name or not attr_path:
        raise _spec_error(spec, "write it as MODULE:FUNCTION, e.g. 'train:objective' for the "
                                "function objective in ./train.py.")
    if module_name.endswith(".py") or "/" in module_name or os.sep in module_name:
        dotted = module_name.removesuffix(".py").replace(os.sep, ".").replace("/", ".")
        raise _spec_error(spec, f"name the module, not the file: write "
                                f"'{dotted}:{attr_path}' and run from the folder that holds it.")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as error:
        missing = error.name or ""
        if missing != module_name and not module_name.startswith(missing + "."):
            raise  # the module exists but imports something that is not installed
        raise _spec_error(spec, f"no module named {missing!r} in the working folder "
                                f"({os.getcwd()}) or on sys.path. Run from the folder that "
                                "holds it, or fix the module name.") from None
    target: Any = module
    for part in attr_path.split("."):
        if not hasattr(target, part):
            defined = sorted(name for name, value in vars(module).items()
                             if callable(value) and not name.startswith("_")
                             and getattr(value, "__module__", None) == module.__name__)
            hint = f" It defines: {', '.join(defined)}." if defined else ""
            raise _spec_error(spec, f"module {module_name!r} ({getattr(module, '__file__', '?')}) "
                                    f"has no attribute {attr_path!r}.{hint}")
        target = getattr(target, part)
    if not callable(target):
        raise _spec_error(spec, f"{attr_path!r} is not callable (it is of type "
                                f"{type(target).__name__}); name a function that takes a trial "
                                "and returns its value.")
    return target


# The samplers and pruners of ``pipetune.samplers.SAMPLERS`` and ``pipetune.pruners.PRUNERS``
# that a command line can build: those needing no argument but a seed (not ``grid``, which
# needs its values, nor ``percentile``, ``patient`` and ``threshold``, which need a
# percentile, a wrapped pruner and bounds: ``pipetune tune`` takes them from its YAML file).
# Named here, not imported: the tables import every algorithm (scipy among them), which a
# command that builds none skips.
SAMPLERS = ("tpe", "random", "qmc", "gp", "cmaes", "auto", "nsgaii", "nsgaiii", "brute_force")
PRUNERS = ("none", "median", "asha", "hyperband", "wilcoxon")


def make_sampler(name: str, seed: int | None) -> BaseSampler:
    """The sampler ``name`` of ``pipetune.samplers.SAMPLERS`` (one of ``SAMPLERS``), seeded."""
    from pipetune.samplers import SAMPLERS as BY_NAME

    return BY_NAME[name](seed=seed)


def make_pruner(name: str) -> BasePruner:
    """The pruner ``name`` of ``pipetune.pruners.PRUNERS`` (one of ``PRUNERS``)."""
    from pipetune.pruners import PRUNERS as BY_NAME

    return BY_NAME[name]()


class _Objective:
    """Wraps the user's objective to learn which trials this run evaluated and which
    exceptions came out of the objective (rather than out of pipetune)."""

    def __init__(self, func: Callable[..., Any], keep_errors: bool) -> None:
        self.func = func
        self.keep_errors = keep_errors
        self.numbers: list[int] = []
        self.errors: list[tuple[int, BaseException]] = []  # (trial number, what it raised)
        self.lock = threading.Lock()

    def __call__(self, trial: Trial) -> Any:
        with self.lock:
            self.numbers.append(trial.number)
        try:
            return self.func(trial)
        except TrialPruned:
            raise
        except Exception as error:
            if self.keep_errors:  # the run stops at the first, so this list stays short
                with self.lock:
                    self.errors.append((trial.number, error))
            raise

    def trial_that_raised(self, error: BaseException) -> int | None:
        """The number of the trial whose objective raised ``error``; None if none did."""
        with self.lock:
            return next((number for number, mine in self.errors if mine is error), None)


def _objective_frames(error: BaseException) -> Any:
    """The traceback of ``error`` from the objective's own frame on: the frames of pipetune
    and of this command above it tell the user nothing."""
    tb = error.__traceback__
    while tb is not None and tb.tb_frame.f_code is not _Objective.__call__.__code__:
        tb = tb.tb_next
    return error.__traceback__ if tb is None else tb.tb_next


@dataclass(frozen=True)
class NotedCriterion(StoppingCriterion):
    """A criterion that remembers the reason it gave, for the summary."""

    inner: StoppingCriterion
    reasons: list[str]

    def check_study(self, directions: tuple[StudyDirection, ...]) -> None:
        self.inner.check_study(directions)

    def reason_to_stop(self, progress: Progress) -> str | None:
        reason = self.inner.reason_to_stop(progress)
        if reason is not None:
            self.reasons.append(reason)
        return reason


def _open_study(args: argparse.Namespace) -> Study:
    """The study to optimize: created if new; without --direction an existing one keeps its
    own direction(s) and a new one minimizes."""
    sampler, pruner = make_sampler(args.sampler, args.seed), make_pruner(args.pruner)
    from pipetune.storage import get_storage
    from pipetune.study import create_study, load_study

    storage = get_storage(args.storage)  # a writer: may create the SQLite file
    if args.direction is None:
        try:
            return load_study(study_name=args.study, storage=storage,
                              sampler=sampler, pruner=pruner)
        except StudyNotFoundError:
            pass
    return create_study(storage=storage, sampler=sampler, pruner=pruner, study_name=args.study,
                        direction=args.direction or "minimize", load_if_exists=True)


def _summary(study: Study, numbers: list[int], reason: str,
             elapsed: float) -> Report:
    """What ``optimize`` prints at the end: this run's trials by state, why it stopped and
    the study's best trial (over every run, not just this one)."""
    mine = set(numbers)
    trials = study.trials
    counts: dict[str, int] = {}
    for trial in trials:
        if trial.number in mine:
            counts[trial.state.name] = counts.get(trial.state.name, 0) + 1
    complete = [t for t in trials if t.state == TrialState.COMPLETE]
    if study.is_multi_objective:
        best = study.best_trials if complete else []
    else:
        best = [study.best_trial] if complete else []
    record = {"study_name": study.study_name, "n_trials_run": len(mine), "states": counts,
              "stopped_because": reason, "elapsed": elapsed,
              "best_trials": [{"number": t.number,
                               "values": None if t.values is None else list(t.values),
                               "params": dict(t.params)} for t in best]}
    columns = ["study_name", "n_trials_run", "stopped_because", "best_trial", "best_value",
               "best_params"]
    rows = [[study.study_name, len(mine), reason, t.number, _value_cell(t.values),
             dict(t.params)] for t in best] \
        or [[study.study_name, len(mine), reason, None, None, None]]
    return Report([record], columns, rows)


def _value_cell(values: tuple[float, ...] | None) -> float | list[float] | None:
    """A trial's value as a table cell: a number for one objective, a list for several."""
    if values is None:
        return None
    return values[0] if len(values) == 1 else list(values)


def _all_failed(study: Study, numbers: list[int]) -> str:
    """The error line of a run whose every trial failed (the objective returned no number,
    or --max-failed-in-a-row let failures go on): the last one's reason."""
    mine = set(numbers)
    last = [t for t in study.trials if t.number in mine][-1]
    reason = first_line(str(last.system_attrs.get(FAIL_REASON_ATTR) or "no reason recorded"))
    return f"all {len(mine)} trial(s) of this run failed; the last, trial {last.number}: {reason}"


def _print_summary(report: Report, fmt: str, out: TextIO) -> None:
    if fmt != "table":
        emit(report, fmt, out)
        return
    record = report.records[0]
    states = ", ".join(f"{n} {state}" for state, n in sorted(record["states"].items()))
    out.write(f"Ran {record['n_trials_run']} trial(s) of study {record['study_name']!r}"
              f"{f' ({states})' if states else ''} in {format_duration(record['elapsed'])}.\n")
    out.write(f"Stopped: {record['stopped_because']}.\n")
    best = record["best_trials"]
    if not best:
        out.write("No COMPLETE trial yet, so no best trial.\n")
    for trial in best:
        values = trial["values"]
        value = format_cell(values[0] if len(values) == 1 else values)
        label = "Best trial" if len(best) == 1 else "Pareto trial"
        params = json.dumps(json_safe(trial["params"]), sort_keys=True)
        out.write(f"{label} {trial['number']}: value {value}, params {params}\n")


def load_objective(spec: str) -> Callable[..., Any] | None:
    """``import_objective`` for a command: when the module's own code raises on import, prints
    its traceback and a line saying so, and returns None (the command then exits 1)."""
    try:
        return import_objective(spec)
    except PipetuneError:
        raise
    except Exception:  # noqa: BLE001 - the module's own code raised while imported
        traceback.print_exc()
        sys.stderr.write(f"error: importing the module of --objective {spec!r} raised the "
                         "error above; fix the module.\n")
        return None


def cmd_optimize(args: argparse.Namespace) -> int:
    with working_folder_importable():
        func = load_objective(args.objective)
        if func is None:
            return EXIT_FAILED
        study = _open_study(args)
        catching = args.max_failed_in_a_row is not None
        objective = _Objective(func, keep_errors=not catching)
        criteria: list[StoppingCriterion] = []
        if args.target_value is not None:
            criteria.append(TargetValue(args.target_value))
        if args.no_improvement is not None:
            criteria.append(NoImprovement(args.no_improvement))
        if catching:
            criteria.append(FailedInARow(args.max_failed_in_a_row))
        started = time.monotonic()
        code, reason, failure = EXIT_OK, "", None
        try:
            reason = study.optimize(
                objective, n_trials=args.n_trials, timeout=args.timeout, n_jobs=args.n_jobs,
                catch=(Exception,) if catching else (), show_progress_bar=not args.no_progress,
                stop_when=criteria).stop_message
        except TooManyFailuresError as error:
            code, reason, failure = EXIT_FAILED, "too many trials failed in a row", str(error)
        except KeyboardInterrupt:
            code, reason = EXIT_INTERRUPTED, "interrupted"
        except Exception as error:
            number = objective.trial_that_raised(error)
            if number is None:
                raise  # pipetune's own error (bad storage, ...): main prints it
            traceback.print_exception(type(error), error, _objective_frames(error))
            failure = (f"trial {number} failed: the objective raised "
                       f"{type(error).__name__} (traceback above). Fix the objective, or pass "
                       "--max-failed-in-a-row N to record failures and go on.")
            code, reason = EXIT_FAILED, "the objective raised an error"
        report = _summary(study, objective.numbers, reason, time.monotonic() - started)
        if code == EXIT_OK and set(report.records[0]["states"]) == {"FAIL"}:
            code, failure = EXIT_FAILED, _all_failed(study, objective.numbers)
    _print_summary(report, args.format, sys.stdout)
    if failure is not None:
        sys.stderr.write(f"error: {failure}\n")
    return code


# -- parser ------------------------------------------------------------------------------------




def add_sampler_and_pruner_options(parser: Any, applies: str = "") -> None:
    """``--sampler``, ``--seed`` and ``--pruner`` (built by make_sampler / make_pruner);
    ``applies`` says when they apply, e.g. ", with --objective"."""
    parser.add_argument("--sampler", choices=SAMPLERS, default="auto",
                        help=f"how params are proposed{applies} (default: auto, see AutoSampler)")
    parser.add_argument("--seed", type=int, metavar="S", help="seed of the sampler")
    parser.add_argument("--pruner", choices=PRUNERS, default="none",
                        help=f"how trials reporting intermediate values stop early{applies} "
                             "(default: none)")


def add_optimize_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("study", help="study name (created if it does not exist)")
    parser.add_argument("--objective", required=True, metavar="MODULE:FUNCTION",
                        help="the objective, e.g. train:objective for objective() in ./train.py")
    budget = parser.add_argument_group("budget and stopping (the first reached ends the run)")
    budget.add_argument("--n-trials", type=positive_int, metavar="N",
                        help="run at most N more trials (a study's earlier trials do not "
                             "count, as with tune --n-trials)")
    budget.add_argument("--timeout", type=_seconds_type, metavar="SECONDS",
                        help="start no trial after SECONDS")
    budget.add_argument("--target-value", type=_number_type, metavar="V",
                        help="stop once a trial reaches V (<= V minimizing, >= V maximizing)")
    budget.add_argument("--no-improvement", type=positive_int, metavar="N",
                        help="stop when the best value has not improved for N trials")
    budget.add_argument("--max-failed-in-a-row", type=positive_int, metavar="N",
                        help="record a raising objective as a FAIL trial and go on, but stop "
                             "(exit 1) after N failures in a row; without it the first "
                             "exception stops the run")
    search = parser.add_argument_group("search")
    search.add_argument("--direction", choices=("minimize", "maximize"),
                        help="for a new study (default: minimize; an existing study keeps its own)")
    add_sampler_and_pruner_options(search)
    search.add_argument("--n-jobs", type=jobs_type, default=1, metavar="K",
                        help="trials run at once in threads (-1: one per CPU; default: 1)")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")


