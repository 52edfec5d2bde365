"""Tunes a program pipetune cannot import: params in as arguments, metrics out of its output.

``ScriptObjective(space, launch)`` is an ordinary objective for ``study.optimize`` (and the
engine of ``pipetune tune``). Each call suggests the params of ``space`` on the trial, starts
``launch.command`` as its own process group, and reads the merged stdout+stderr live: every
line goes to the trial's log file and through the metric regexes, and intermediate values go
to ``trial.report`` and the pruner while the script runs. Scripts that would rather call a
function use ``pipetune.report`` (``pipetune/reporting.py``), which appends JSON lines to a
file the launcher tails.

Per trial, in ``<log root>/<study id>-<study name>/trial-<number>/``: ``output.log`` (stdout+stderr
of every attempt; its path is the trial's system attr ``log_file``, and it is stored as the
trial's artifact ``output.log`` when the trial ends, which is what the dashboard and
``pipetune logs`` show), ``params.json`` (the active params) and ``report.jsonl`` (what
``pipetune.report`` wrote). The log root is
``LaunchSpec.log_dir``, else ``<db>-artifacts/`` next to a SQLite file, else
``./pipetune-logs/``. The process sees ``PIPETUNE_TRIAL_NUMBER``, ``PIPETUNE_TRIAL_ID``,
``PIPETUNE_STUDY``, ``PIPETUNE_TRIAL_DIR``, ``PIPETUNE_TRIAL_ATTEMPT`` (1-based),
``PIPETUNE_PARAMS_FILE``, ``PIPETUNE_REPORT_FILE``, ``PIPETUNE_LOG_FILE``,
``PIPETUNE_PARAM_<NAME>`` (upper-cased, other characters as ``_``), ``PYTHONUNBUFFERED=1``
(unless set) so Python prints arrive as they happen, and ``CUDA_VISIBLE_DEVICES`` with
``gpus_per_trial``.

Additions to the issue-5 design contract (nothing renamed):
- ``LaunchSpec.objective`` may be a tuple of ``MetricSpec`` for a multi-objective study; the
  objective then returns one value per metric, in order. ``command`` and ``objective`` are its
  two positional fields; the others are keyword-only.
- The ``reverse_log`` scale is log-uniform in ``1 - x`` (SageMaker's definition), so it needs
  ``low < high < 1``; see ``pipetune/space.py``.
- In a ``{param}`` template, an item naming an inactive conditional param is dropped, and so is
  the flag item just before it (``"--svm-c", "{svm_c}"``). ``{{`` / ``}}`` are literal braces;
  ``{name}`` naming no param is refused at construction.
- ``timeout`` applies to each attempt. System attrs: ``log_file``; ``attempts`` and
  ``attempt_errors`` when ``retries > 0``; ``gpus`` when ``gpus_per_trial > 0``.
- A script that exits 0 having printed (or reported) every objective value completes its trial
  with them, even when the pruner decided to stop it as it was ending: a finished run's value
  counts.
- ``terminate_all()`` ends every trial process this process started (for a CLI's Ctrl-C path:
  worker threads cannot be interrupted, their processes can).
- ``ScriptObjective.argv(params)`` shows the command a trial with ``params`` runs.
- ``ScriptObjective.run_final(study, params, extra_args)`` re-runs params to completion as a
  standalone run (``pipetune.tracking.runs``) named ``<study>-final``, not as a trial of the
  search: its value is measured another way and must not feed the search's best trial, sampler
  or pruner. The search study's system attr ``final_run`` names it.

Process groups are handled in ``process_group.py`` and GPUs in ``gpus.py``; POSIX only.
Processes left behind by a script that exited normally are ended too (SIGTERM, SIGKILL after
the grace period): a trial owns everything it started.
"""

from __future__ import annotations

import collections
import difflib
import io
import json
import logging
import os
import re
import signal
import stat
from collections.abc import Mapping, Sequence
from dataclasses import KW_ONLY, dataclass, field
from typing import TYPE_CHECKING, Any

from pipetune.datatypes import FrozenTrial
from pipetune.errors import (
    ArtifactNotFoundError,
    InvalidArgumentError,
    ObjectiveError,
    PipetuneError,
    TrialPruned,
)
from pipetune.execution.gpus import GpuPool, detect_gpus, gpu_pool
from pipetune.execution.loop import run_trial
from pipetune.execution.process_group import run_process, terminate_all
from pipetune.reporting import REPORT_FILE_ENV
from pipetune.space import SearchSpace
from pipetune.tracking.artifacts import read_tail
from pipetune.trial import Trial

if TYPE_CHECKING:
    from pipetune.study import Study
    from pipetune.tracking.runs import Run

logger = logging.getLogger("pipetune")

TAKES = ("last", "min", "max")
LOG_FILE_ATTR = "log_file"
LOG_ARTIFACT = "output.log"  # the artifact holding a launched trial's log
LOG_TAIL_BYTES = 4 << 20  # the most of a log's end read to show its last lines
FINAL_RUN_ATTR = "final_run"  # system attr of a search study: the name of its final run
_TAIL_LINES = 20
_READ_SIZE = 1 << 16
_MAX_LINE = 1 << 20  # a "line" without a newline is parsed once it is this long
_LINE_BREAK = re.compile(rb"\r\n|\r|\n")  # \r too: progress bars redraw a line with it
_PLACEHOLDER = re.compile(r"\{\{|\}\}|\{([A-Za-z_][A-Za-z0-9_.\-]*)\}")


def _compile(owner: str, regex: Any) -> re.Pattern:
    if not isinstance(regex, str) or not regex:
        raise InvalidArgumentError(
            f"The regex of {owner} must be a non-empty string. Got {regex!r}.")
    try:
        return re.compile(regex)
    except re.error as error:
        raise InvalidArgumentError(
            f"The regex of {owner} does not compile: {error}. Got {regex!r}.") from None


def _check_name(kind: str, name: Any) -> None:
    if not isinstance(name, str) or not name:
        raise InvalidArgumentError(
            f"The name of a {kind} must be a non-empty string. Got {name!r}.")


@dataclass(frozen=True)
class MetricSpec:
    """Where an objective value comes from: a regex over the output lines (its ``value`` group,
    else its first group) with the ``last`` / ``min`` / ``max`` of all matches, or, with no
    regex, the values the script passed as ``pipetune.report(<name>=...)``."""

    name: str
    regex: str | None = None
    take: str = "last"
    _pattern: re.Pattern | None = field(init=False, repr=False, compare=False, default=None)

    def __post_init__(self) -> None:
        _check_name("metric", self.name)
        if self.take not in TAKES:
            raise InvalidArgumentError(
                f"The 'take' of metric {self.name!r} must be one of {', '.join(TAKES)}. "
                f"Got {self.take!r}.")
        if self.regex is not None:
            pattern = _compile(f"metric {self.name!r}", self.regex)
            if pattern.groups < 1:
                raise InvalidArgumentError(
                    f"The regex of metric {self.name!r} needs a group around the number, e.g. "
                    f"'{self.name}=([0-9.eE+-]+)'. Got {self.regex!r}.")
            object.__setattr__(self, "_pattern", pattern)

    def find(self, line: str) -> float | None:
        """The number this regex reads on ``line``, if any."""
        match = self._pattern.search(line)
        if match is None:
            return None
        text = match.group("value") if "value" in self._pattern.groupindex else match.group(1)
        return _to_float(text)


@dataclass(frozen=True)
class IntermediateSpec:
    """Where intermediate values (for the pruner) come from: a regex with named groups
    ``step`` and ``value``, or, with no regex, ``pipetune.report(step=..., <name>=...)``."""

    name: str
    regex: str | None = None
    _pattern: re.Pattern | None = field(init=False, repr=False, compare=False, default=None)

    def __post_init__(self) -> None:
        _check_name("intermediate metric", self.name)
        if self.regex is not None:
            pattern = _compile(f"intermediate metric {self.name!r}", self.regex)
            missing = {"step", "value"} - set(pattern.groupindex)
            if missing:
                raise InvalidArgumentError(
                    f"The regex of intermediate metric {self.name!r} needs the named groups "
                    f"(?P<step>...) and (?P<value>...); it lacks {', '.join(sorted(missing))}. "
                    f"Got {self.regex!r}.")
            object.__setattr__(self, "_pattern", pattern)

    def find(self, line: str) -> tuple[int, float] | None:
        match = self._pattern.search(line)
        if match is None:
            return None
        value, step = _to_float(match.group("value")), _to_float(match.group("step"))
        if value is None or step is None or not step.is_integer() or step < 0:
            return None
        return int(step), value


def _to_float(text: str | None) -> float | None:
    try:
        return float(text)
    except (TypeError, ValueError):
        return None


def _number(owner: str, value: Any, *, allow_none: bool = False, integer: bool = False,
            minimum: float = 0, strict: bool = False) -> Any:
    if value is None and allow_none:
        return None
    ok = not isinstance(value, bool) and isinstance(value, int if integer else (int, float))
    if ok and (value < minimum or (strict and value == minimum) or value != value):
        ok = False
    if not ok:
        kind = "an int" if integer else "a number"
        bound = f"> {minimum}" if strict else f">= {minimum}"
        raise InvalidArgumentError(
            f"The {owner!r} of a LaunchSpec must be {kind} {bound}"
            f"{' or None' if allow_none else ''}. Got {value!r}.")
    return value


@dataclass(frozen=True)
class LaunchSpec:
    """How to run one trial of a script and read its result (see the module docstring)."""

    command: tuple[str, ...]
    objective: "MetricSpec | tuple[MetricSpec, ...]"
    _: KW_ONLY
    workdir: str | None = None
    env: Mapping[str, str] = field(default_factory=dict)
    intermediate: IntermediateSpec | None = None
    timeout: float | None = None
    retries: int = 0
    grace_period: float = 5.0
    gpus_per_trial: int = 0
    log_dir: str | None = None
    extra_args: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "command", _argv_tuple("command", self.command))
        if not self.command:
            raise InvalidArgumentError("The 'command' of a LaunchSpec must name a program to run.")
        object.__setattr__(self, "extra_args", _argv_tuple("extra_args", self.extra_args))
        objectives = (self.objective,) if isinstance(self.objective, MetricSpec) \
            else tuple(self.objective) if isinstance(self.objective, (list, tuple)) else ()
        if not objectives or not all(isinstance(o, MetricSpec) for o in objectives):
            raise InvalidArgumentError(
                "The 'objective' of a LaunchSpec must be a MetricSpec (or a tuple of them, one "
                f"per objective). Got {self.objective!r}.")
        if len({o.name for o in objectives}) != len(objectives):
            raise InvalidArgumentError("The objectives of a LaunchSpec must have distinct names.")
        if isinstance(self.objective, list):
            object.__setattr__(self, "objective", objectives)
        if self.intermediate is not None and not isinstance(self.intermediate, IntermediateSpec):
            raise InvalidArgumentError(
                f"The 'intermediate' of a LaunchSpec must be an IntermediateSpec or None. "
                f"Got {self.intermediate!r}.")
        if self.workdir is not None:
            workdir = os.fspath(self.workdir)
            if not os.path.isdir(workdir):
                raise InvalidArgumentError(
                    "The 'workdir' of a LaunchSpec must be an existing directory. "
                    f"Got {workdir!r}.")
            object.__setattr__(self, "workdir", workdir)
        if self.log_dir is not None:
            object.__setattr__(self, "log_dir", os.fspath(self.log_dir))
        if not isinstance(self.env, Mapping):
            raise InvalidArgumentError(
                f"The 'env' of a LaunchSpec must be a mapping. Got {self.env!r}.")
        env = {}
        for key, value in self.env.items():
            if not isinstance(key, str) or not key or "=" in key \
                    or isinstance(value, bool) or not isinstance(value, (str, int, float)):
                raise InvalidArgumentError(
                    f"The 'env' of a LaunchSpec maps variable names to strings. Got "
                    f"{key!r}: {value!r}.")
            env[key] = str(value)
        object.__setattr__(self, "env", env)
        _number("timeout", self.timeout, allow_none=True, strict=True)
        _number("retries", self.retries, integer=True)
        _number("grace_period", self.grace_period)
        _number("gpus_per_trial", self.gpus_per_trial, integer=True)

    @property
    def objectives(self) -> tuple[MetricSpec, ...]:
        if isinstance(self.objective, MetricSpec):
            return (self.objective,)
        return tuple(self.objective)


def _argv_tuple(owner: str, value: Any) -> tuple[str, ...]:
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence):
        raise InvalidArgumentError(
            f"The {owner!r} of a LaunchSpec is a list of arguments (argv), never one shell "
            f"string; split it, e.g. shlex.split(...). Got {value!r}.")
    if not all(isinstance(item, str) for item in value):
        raise InvalidArgumentError(
            f"Every item of {owner!r} must be a string. Got {list(value)!r}.")
    return tuple(value)


# -- one attempt --------------------------------------------------------------------------------


def stored_log(study: "Study", trial: FrozenTrial, tail: int | None = None) -> str:
    """The output of the script ``trial`` ran, as stored with it when it ended (the
    ``output.log`` artifact); with ``tail``, its last ``tail`` lines, read from at most the last
    ``LOG_TAIL_BYTES`` of it (a seek: a log of any size costs the same). This is what the
    dashboard serves: never a path named by an attribute."""
    try:
        data = study._storage.read_artifact(
            trial.trial_id, LOG_ARTIFACT, last_bytes=None if tail is None else LOG_TAIL_BYTES + 1)
    except ArtifactNotFoundError:
        raise ArtifactNotFoundError(
            f"Trial {trial.number} of study {study.study_name!r} has no stored log: only trials "
            "run by `pipetune tune` (or a ScriptObjective) keep one, stored when they end.") \
            from None
    return _last_lines(data, tail)


def read_log(study: "Study", trial: FrozenTrial, tail: int | None = None) -> str:
    """``pipetune logs``: the trial's stored log (``stored_log``), else, for a trial still
    running, its log file on this machine (a regular file only, the tail read with a seek)."""
    try:
        return stored_log(study, trial, tail)
    except (ArtifactNotFoundError, NotImplementedError):
        pass
    path = trial.system_attrs.get(LOG_FILE_ATTR)
    if not isinstance(path, str) or not path:
        raise InvalidArgumentError(
            f"Trial {trial.number} of study {study.study_name!r} has no log file: only trials "
            "run by `pipetune tune` (or a ScriptObjective) keep one.")
    try:
        # O_NONBLOCK: opening a FIFO must not wait for a writer; it is refused just below.
        handle = open(os.open(path, os.O_RDONLY | os.O_NONBLOCK), "rb")
    except FileNotFoundError:
        raise InvalidArgumentError(
            f"The log file of trial {trial.number} of study {study.study_name!r} is gone: "
            f"{path!r} no longer exists (moved or deleted).") from None
    except OSError as error:
        raise InvalidArgumentError(
            f"Cannot read the log file {path!r} of trial {trial.number}: {error.strerror}.") \
            from None
    with handle:
        if not stat.S_ISREG(os.fstat(handle.fileno()).st_mode):
            raise InvalidArgumentError(
                f"The log file {path!r} of trial {trial.number} is not a regular file: it is "
                "not read.")
        data = handle.read() if tail is None else read_tail(handle, LOG_TAIL_BYTES + 1)
    return _last_lines(data, tail)


def _last_lines(data: bytes, tail: int | None) -> str:
    """The last ``tail`` lines (all with None) of a log's bytes. A tail is read as the last
    ``LOG_TAIL_BYTES + 1`` bytes: when that many came, the log is longer, and what comes
    before the first newline is the end of a line the read cut."""
    if tail is not None and len(data) > LOG_TAIL_BYTES:
        data = data[data.find(b"\n") + 1:]
    lines = io.BytesIO(data).readlines()
    return b"".join(lines if tail is None else lines[-tail:]).decode("utf-8", errors="replace")


class _Attempt:
    """What one run of the command produced: log lines, metric values, pruning decisions."""

    def __init__(self, trial: Trial, launch: LaunchSpec, log_fd: int, report_path: str,
                 prune: bool) -> None:
        self.trial = trial
        self.launch = launch
        self.log_fd = log_fd
        self.prune = prune
        self.pruned = False
        self.tail: collections.deque[str] = collections.deque(maxlen=_TAIL_LINES)
        self.values: dict[str, list[float]] = {m.name: [] for m in launch.objectives}
        self.steps = set(trial.intermediate_values)  # a retry does not re-report a step
        self._pending = b""
        self._report_path = report_path
        self._report_fd: int | None = None
        self._report_pending = b""

    # output lines
    def feed(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            view = view[os.write(self.log_fd, view):]
        parts = _LINE_BREAK.split(self._pending + data)
        self._pending = parts.pop()
        if len(self._pending) > _MAX_LINE:
            parts.append(self._pending)
            self._pending = b""
        for part in parts:
            self._line(part.decode("utf-8", "replace"))

    def end_output(self) -> None:
        if self._pending:
            self._line(self._pending.decode("utf-8", "replace"))
            self._pending = b""

    def _line(self, line: str) -> None:
        self.tail.append(line)
        for metric in self.launch.objectives:
            if metric.regex is not None:
                value = metric.find(line)
                if value is not None:
                    self.values[metric.name].append(value)
        intermediate = self.launch.intermediate
        if intermediate is not None and intermediate.regex is not None:
            found = intermediate.find(line)
            if found is not None:
                self._intermediate(*found)

    # pipetune.report lines
    def read_reports(self) -> None:
        if self._report_fd is None:
            try:
                self._report_fd = os.open(self._report_path, os.O_RDONLY)
            except FileNotFoundError:
                return
        chunks = []
        while chunk := os.read(self._report_fd, _READ_SIZE):
            chunks.append(chunk)
        if not chunks:
            return
        lines = (self._report_pending + b"".join(chunks)).split(b"\n")
        self._report_pending = lines.pop()
        for raw in lines:
            try:
                record = json.loads(raw)
                step, metrics = record.get("step"), record["metrics"]
            except (ValueError, KeyError, TypeError, AttributeError):
                logger.warning("Trial %d: skipped a malformed line of %s: %r", self.trial.number,
                               self._report_path, raw[:200])
                continue
            self._report(step, metrics)

    def _report(self, step: Any, metrics: dict) -> None:
        for metric in self.launch.objectives:
            if metric.regex is None and isinstance(metrics.get(metric.name), (int, float)):
                self.values[metric.name].append(float(metrics[metric.name]))
        intermediate = self.launch.intermediate
        if intermediate is not None and intermediate.regex is None and isinstance(step, int) \
                and isinstance(metrics.get(intermediate.name), (int, float)):
            self._intermediate(step, float(metrics[intermediate.name]))

    def close(self) -> None:
        if self._report_fd is not None:
            os.close(self._report_fd)
            self._report_fd = None

    def _intermediate(self, step: int, value: float) -> None:
        if self.pruned or step in self.steps:
            return
        self.steps.add(step)
        self.trial.report(value, step)
        if self.prune and self.trial.should_prune():
            self.pruned = True

    def has_every_value(self) -> bool:
        """Whether every objective metric was read at least once."""
        return all(self.values.values())

    def log_tail(self, log_path: str) -> str:
        if not self.tail:
            return f"The command printed nothing (log: {log_path})."
        return f"Last {len(self.tail)} lines of {log_path}:\n" + "\n".join(self.tail)


def _take(values: list[float], how: str) -> float:
    if how == "last":
        return values[-1]
    numbers = [v for v in values if v == v] or values  # NaN never wins a min or max
    return min(numbers) if how == "min" else max(numbers)


def _format(value: Any) -> str:
    return repr(value) if isinstance(value, float) else str(value)


def _env_name(name: str) -> str:
    return "PIPETUNE_PARAM_" + re.sub(r"[^A-Za-z0-9_]", "_", name).upper()


def _study_folder(study: "Study") -> str:
    """The study's log folder under the log root: its id (unique, so "my study" and
    "my_study" never share one) and, to be read by people, its name with anything but
    letters, digits, ``.``, ``_`` and ``-`` replaced (never a path: "5-.." is a plain name)."""
    return f"{study._study_id}-" + re.sub(r"[^A-Za-z0-9._-]", "_", study.study_name)[:64]


# -- the objective ------------------------------------------------------------------------------


class ScriptObjective:
    """An objective that runs ``launch.command`` with the params of ``space`` (see the module
    docstring); usable with ``study.optimize`` at any ``n_jobs``."""

    def __init__(self, space: SearchSpace, launch: LaunchSpec) -> None:
        if not isinstance(space, SearchSpace):
            raise InvalidArgumentError(
                f"ScriptObjective needs a pipetune.space.SearchSpace. Got {space!r}.")
        if not isinstance(launch, LaunchSpec):
            raise InvalidArgumentError(f"ScriptObjective needs a LaunchSpec. Got {launch!r}.")
        self.space = space
        self.launch = launch
        names = set(space.names)
        self._templated = False
        for item in launch.command:
            for match in _PLACEHOLDER.finditer(item):
                name = match.group(1)
                if name is None:
                    continue
                if name not in names:
                    close = difflib.get_close_matches(name, sorted(names), n=1)
                    hint = f" Did you mean {{{close[0]}}}?" if close else ""
                    raise InvalidArgumentError(
                        f"The command item {item!r} names {{{name}}}, which is not a param of "
                        f"the search space ({', '.join(space.names) or 'none'}).{hint} Write "
                        "{{ and }} for literal braces.")
                self._templated = True
        if launch.gpus_per_trial:
            gpu_pool().check(launch.gpus_per_trial)
        self._roots: dict[int, str] = {}

    def __call__(self, trial: Trial) -> "float | tuple[float, ...]":
        return self._run(trial, self.launch.extra_args, prune=True)

    def argv(self, params: Mapping[str, Any],
             extra_args: Sequence[str] = ()) -> list[str]:
        """The argv a trial whose active params are ``params`` runs."""
        command = self.launch.command
        if not self._templated:
            argv = list(command)
            for name, value in params.items():
                argv += [f"--{name}", _format(value)]
            return argv + list(extra_args)
        argv: list[str] = []
        for i, item in enumerate(command):
            names = [m.group(1) for m in _PLACEHOLDER.finditer(item) if m.group(1)]
            if any(name not in params for name in names):
                # An inactive conditional param: drop the item and the flag naming it.
                previous = command[i - 1] if i else None
                if previous is not None and previous.startswith("-") and argv \
                        and argv[-1] == previous and not _PLACEHOLDER.search(previous):
                    argv.pop()
                continue
            argv.append(_PLACEHOLDER.sub(
                lambda m: _format(params[m.group(1)]) if m.group(1) else m.group(0)[0], item))
        return argv + list(extra_args)

    def run_final(self, study: "Study", params: Mapping[str, Any],
                  extra_args: Sequence[str] = (), *, best_trial: int | None = None) -> "Run":
        """Runs ``params`` (the best trial's, say) once more with ``extra_args`` appended
        (``--full-data --epochs 50``) as a standalone tracked run, outside the search so that
        its value, measured another way, never becomes the search's best trial nor an
        observation of its sampler and pruner.

        The run (``pipetune.start_run``) is in the study's experiment, named
        ``<study>-final`` (``-final-2``, ... when taken), with the search study's directions;
        the search study's system attr ``final_run`` names it. The run records the params, the
        user attrs ``study`` and ``best_trial`` (when given), the system attr ``final_args``,
        and, like a trial, the intermediate values, the log (``pipetune logs <run> 0``) and the
        value; it is never pruned. Returns the ended ``Run``: COMPLETE, or FAIL with the
        reason in its trial's system attr ``fail_reason`` when the script failed."""
        from pipetune.tracking.environment import mask_secrets
        from pipetune.tracking.experiments import DEFAULT_EXPERIMENT, EXPERIMENT_ATTR
        from pipetune.tracking.runs import start_run

        if not isinstance(params, Mapping) or not all(isinstance(k, str) for k in params):
            raise InvalidArgumentError(
                f"run_final takes a dict of param name -> value. Got {params!r}.")
        if best_trial is not None and (isinstance(best_trial, bool)
                                       or not isinstance(best_trial, int)):
            raise InvalidArgumentError(
                f"best_trial is the number of the trial whose params these are. Got "
                f"{best_trial!r}.")
        extra = _argv_tuple("extra_args", extra_args)
        experiment = study.system_attrs.get(EXPERIMENT_ATTR) or DEFAULT_EXPERIMENT
        # ``<study>-final``, else the first free ``<study>-final-<n>`` (start_run's naming).
        run = start_run(experiment=experiment, name=f"{study.study_name}-final",
                        storage=study._storage, directions=study.directions,
                        params=dict(params), parent=study.study_name)
        study._storage.set_study_attr(study._study_id, FINAL_RUN_ATTR, run.name, system=True)
        trial = run._trial
        trial.set_system_attr("final_args", mask_secrets(extra))
        run.set_user_attr("study", study.study_name)
        if best_trial is not None:
            run.set_user_attr("best_trial", best_trial)
        args = self.launch.extra_args + extra
        _, error = run_trial(run.study, lambda t: self._run(t, args, prune=False), trial,
                             (ObjectiveError,))
        if error is not None:
            raise error
        return run

    # -- internals ------------------------------------------------------------------------------

    def _root(self, study: "Study") -> str:
        root = self._roots.get(id(study))
        if root is None:
            if self.launch.log_dir is not None:
                root = os.path.abspath(self.launch.log_dir)
            else:
                url = getattr(study._storage, "url", "") or ""
                path = url.split(":///", 1)[1] if url.startswith("sqlite") and ":///" in url else ""
                if path and path != ":memory:":
                    stem = os.path.splitext(os.path.basename(path))[0]
                    root = os.path.join(os.path.dirname(os.path.abspath(path)),
                                        f"{stem}-artifacts")
                else:
                    root = os.path.abspath("pipetune-logs")
            self._roots[id(study)] = root
        return root

    def _env(self, trial: Trial, params: Mapping[str, Any], folder: str,
             files: dict[str, str]) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("PIPETUNE_PARAM_")}
        env.update(self.launch.env)
        env.setdefault("PYTHONUNBUFFERED", "1")
        env.update({
            "PIPETUNE_TRIAL_NUMBER": str(trial.number),
            "PIPETUNE_TRIAL_ID": str(trial._trial_id),
            "PIPETUNE_STUDY": trial.study.study_name,
            "PIPETUNE_TRIAL_DIR": folder,
            "PIPETUNE_PARAMS_FILE": files["params"],
            REPORT_FILE_ENV: files["report"],
            "PIPETUNE_LOG_FILE": files["log"],
        })
        env.update({_env_name(name): _format(value) for name, value in params.items()})
        return env

    def _run(self, trial: Trial, extra_args: tuple[str, ...], prune: bool) -> Any:
        study, launch = trial.study, self.launch
        objectives = launch.objectives
        if len(study.directions) != len(objectives):
            raise InvalidArgumentError(
                f"Study {study.study_name!r} has {len(study.directions)} objective(s) but the "
                f"launch spec reads {len(objectives)} metric(s) "
                f"({', '.join(m.name for m in objectives)}): give one metric per direction.")
        if launch.intermediate is not None and len(objectives) > 1:
            raise InvalidArgumentError(
                "Intermediate values prune single-objective studies only: drop 'intermediate' "
                "for this multi-objective study.")
        params = self.space.suggest(trial)
        folder = os.path.join(self._root(study), _study_folder(study), f"trial-{trial.number}")
        os.makedirs(folder, exist_ok=True)
        files = {"log": os.path.join(folder, "output.log"),
                 "params": os.path.join(folder, "params.json"),
                 "report": os.path.join(folder, "report.jsonl")}
        with open(files["params"], "w") as out:
            json.dump(params, out, indent=1)
        trial.set_system_attr(LOG_FILE_ATTR, files["log"])
        argv = self.argv(params, extra_args)
        env = self._env(trial, params, folder, files)
        gpus: tuple[str, ...] = ()
        if launch.gpus_per_trial:
            gpus = gpu_pool().acquire(launch.gpus_per_trial)
            env["CUDA_VISIBLE_DEVICES"] = ",".join(gpus)
        errors: list[str] = []
        ran = 0
        log_fd = os.open(files["log"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            if gpus:
                trial.set_system_attr("gpus", list(gpus))
            for number in range(1, launch.retries + 2):
                env["PIPETUNE_TRIAL_ATTEMPT"] = str(number)
                ran = number
                try:
                    return self._attempt(trial, argv, env, log_fd, files, prune, number)
                except ObjectiveError as error:
                    errors.append(str(error).split("\n", 1)[0])
                    if number > launch.retries:
                        raise
                    logger.warning("Trial %d, attempt %d of %d failed; retrying: %s",
                                   trial.number, number, launch.retries + 1, errors[-1])
        finally:
            os.close(log_fd)
            _store_log(trial, files["log"])
            if gpus:
                gpu_pool().release(gpus)
            if launch.retries:
                trial.set_system_attr("attempts", ran)
                if errors:
                    trial.set_system_attr("attempt_errors", errors)

    def _attempt(self, trial: Trial, argv: list[str], env: dict[str, str], log_fd: int,
                 files: dict[str, str], prune: bool, number: int) -> Any:
        launch = self.launch
        if number > 1:
            os.write(log_fd, f"\n--- pipetune: attempt {number} of {launch.retries + 1} ---\n"
                     .encode())
        open(files["report"], "wb").close()  # this attempt's reports only
        attempt = _Attempt(trial, launch, log_fd, files["report"], prune)
        try:
            returncode, reason = run_process(
                argv, cwd=launch.workdir, env=env, timeout=launch.timeout,
                grace=launch.grace_period, sink=attempt,
                poll_reports=launch.intermediate is not None and launch.intermediate.regex is None)
        finally:
            attempt.close()
        tail = attempt.log_tail(files["log"])
        if reason == "pruned" and not (returncode == 0 and attempt.has_every_value()):
            # A script that ran to its end and printed its value(s) finished: the pruning
            # decision came too late to save anything (its last report and its final value
            # were read together, or it ignored SIGTERM and exited on its own).
            raise TrialPruned()
        if reason == "timeout":
            raise ObjectiveError(
                f"Trial {trial.number} timed out after {launch.timeout:g}s and was killed. "
                f"Raise the per-trial timeout if it needs longer.\n{tail}")
        if returncode != 0:
            how = (f"was killed by signal {signal.Signals(-returncode).name}" if returncode < 0
                   else f"exited with code {returncode}")
            raise ObjectiveError(
                f"Trial {trial.number}: the command {how} ({' '.join(argv)}).\n{tail}")
        values = []
        for metric in launch.objectives:
            found = attempt.values[metric.name]
            if not found:
                source = (f"no output line matched its regex {metric.regex!r}"
                          if metric.regex is not None
                          else f"the script never called pipetune.report({metric.name}=...)")
                raise ObjectiveError(
                    f"Trial {trial.number}: metric {metric.name!r} not found: {source}.\n{tail}")
            values.append(_take(found, metric.take))
        return values[0] if len(values) == 1 else tuple(values)


def _store_log(trial: Trial, path: str) -> None:
    """Keeps the trial's log with its artifacts (``LOG_ARTIFACT``), where the dashboard and the
    MLflow export find it; the file stays in the log folder too."""
    try:
        trial.log_artifact(path, name=LOG_ARTIFACT)
    except (PipetuneError, OSError, NotImplementedError) as error:
        logger.warning("Trial %d: could not store its log as an artifact: %s", trial.number,
                       error)


__all__ = ["GpuPool", "IntermediateSpec", "LaunchSpec", "MetricSpec", "ScriptObjective",
           "detect_gpus", "gpu_pool", "terminate_all"]
