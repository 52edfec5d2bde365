"""``ScriptObjective``: an objective that runs a program pipetune cannot import.

``ScriptObjective(space, launch)`` is an ordinary objective for ``study.optimize`` (and the
engine of ``pipetune tune``). Each call suggests the params of ``space`` on the trial, starts
``launch.command`` as its own process group (``process_group``), and reads the merged
stdout+stderr live (``output``): every line goes to the trial's log file and through the
metric regexes, and intermediate values go to ``trial.report`` and the pruner while the
script runs. Scripts that would rather call a function use ``pipetune.report``
(``pipetune/reporting.py``), which appends JSON lines to a file the objective tails.

Per trial, in ``<log root>/<study id>-<study name>/trial-<number>/``: ``output.log`` (stdout+stderr
of every attempt; its path is the trial's system attr ``log_file``, and it is stored as the
trial's artifact ``output.log`` when the trial ends, which is what the dashboard and
``pipetune logs`` show: see ``logs``), ``params.json`` (the active params) and
``report.jsonl`` (what ``pipetune.report`` wrote). The log root is ``LaunchSpec.log_dir``,
else ``<db>-artifacts/`` next to a SQLite file, else ``./pipetune-logs/``. The process sees
``PIPETUNE_TRIAL_NUMBER``, ``PIPETUNE_TRIAL_ID``, ``PIPETUNE_STUDY``, ``PIPETUNE_TRIAL_DIR``,
``PIPETUNE_TRIAL_ATTEMPT`` (1-based), ``PIPETUNE_PARAMS_FILE``, ``PIPETUNE_REPORT_FILE``,
``PIPETUNE_LOG_FILE``, ``PIPETUNE_PARAM_<NAME>`` (upper-cased, other characters as ``_``),
``PYTHONUNBUFFERED=1`` (unless set) so Python prints arrive as they happen, and
``CUDA_VISIBLE_DEVICES`` with ``gpus_per_trial`` (``gpus``).

The details of the contract:
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
- ``terminate_all()`` (``process_group``) ends every trial process this process started (for a
  CLI's Ctrl-C path: worker threads cannot be interrupted, their processes can).
- ``ScriptObjective.argv(params)`` shows the command a trial with ``params`` runs.
- ``ScriptObjective.run_final(study, params, extra_args)`` re-runs params to completion as a
  standalone run named ``<study>-final`` (see ``final``).

POSIX only. Processes left behind by a script that exited normally are ended too (SIGTERM,
SIGKILL after the grace period): a trial owns everything it started.
"""

from __future__ import annotations

import difflib
import json
import logging
import os
import re
import signal
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from pipetune._attrs import ATTEMPT_ERRORS_ATTR, ATTEMPTS_ATTR, GPUS_ATTR, LOG_FILE_ATTR
from pipetune.errors import InvalidArgumentError, ObjectiveError, TrialPruned
from pipetune.execution.loop import run_trial
from pipetune.launch.final import start_final_run
from pipetune.launch.gpus import gpu_pool
from pipetune.launch.logs import store_log
from pipetune.launch.output import AttemptOutput, take
from pipetune.launch.process_group import run_process
from pipetune.launch.specs import PLACEHOLDER, LaunchSpec, argv_tuple
from pipetune.reporting import REPORT_FILE_ENV
from pipetune.space import SearchSpace

if TYPE_CHECKING:
    from pipetune.study import Study
    from pipetune.tracking.runs import Run
    from pipetune.trial import Trial

__all__ = ["ScriptObjective"]

logger = logging.getLogger("pipetune")

def _format(value: Any) -> str:
    return repr(value) if isinstance(value, float) else str(value)


def _env_name(name: str) -> str:
    return "PIPETUNE_PARAM_" + re.sub(r"[^A-Za-z0-9_]", "_", name).upper()


def _study_folder(study: Study) -> str:
    """The study's log folder under the log root: its id (unique, so "my study" and
    "my_study" never share one) and, to be read by people, its name with anything but
    letters, digits, ``.``, ``_`` and ``-`` replaced (never a path: "5-.." is a plain name)."""
    readable = re.sub(r"[^A-Za-z0-9._-]", "_", study.study_name)[:64]
    return f"{study.run_interface.study_id}-{readable}"


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
            for match in PLACEHOLDER.finditer(item):
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

    def __call__(self, trial: Trial) -> float | tuple[float, ...]:
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
        argv = []
        for i, item in enumerate(command):
            names = [m.group(1) for m in PLACEHOLDER.finditer(item) if m.group(1)]
            if any(name not in params for name in names):
                # An inactive conditional param: drop the item and the flag naming it.
                previous = command[i - 1] if i else None
                if previous is not None and previous.startswith("-") and argv \
                        and argv[-1] == previous and not PLACEHOLDER.search(previous):
                    argv.pop()
                continue
            argv.append(PLACEHOLDER.sub(
                lambda m: _format(params[m.group(1)]) if m.group(1) else m.group(0)[0], item))
        return argv + list(extra_args)

    def run_final(self, study: Study, params: Mapping[str, Any],
                  extra_args: Sequence[str] = (), *, best_trial: int | None = None) -> Run:
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
        run = start_final_run(study, params, extra_args, best_trial)
        args = self.launch.extra_args + argv_tuple("extra_args", extra_args)
        _, error = run_trial(run.study.run_interface, lambda t: self._run(t, args, prune=False),
                             run.trial, (ObjectiveError,))
        if error is not None:
            raise error
        return run

    # -- internals ------------------------------------------------------------------------------

    def _root(self, study: Study) -> str:
        root = self._roots.get(id(study))
        if root is None:
            if self.launch.log_dir is not None:
                root = os.path.abspath(self.launch.log_dir)
            else:
                url = getattr(study.run_interface.storage, "url", "") or ""
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
            "PIPETUNE_TRIAL_ID": str(trial.trial_id),
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
                trial.set_system_attr(GPUS_ATTR, list(gpus))
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
            store_log(trial, files["log"])
            if gpus:
                gpu_pool().release(gpus)
            if launch.retries:
                trial.set_system_attr(ATTEMPTS_ATTR, ran)
                if errors:
                    trial.set_system_attr(ATTEMPT_ERRORS_ATTR, errors)

    def _attempt(self, trial: Trial, argv: list[str], env: dict[str, str], log_fd: int,
                 files: dict[str, str], prune: bool, number: int) -> Any:
        launch = self.launch
        if number > 1:
            os.write(log_fd, f"\n--- pipetune: attempt {number} of {launch.retries + 1} ---\n"
                     .encode())
        open(files["report"], "wb").close()  # this attempt's reports only
        attempt = AttemptOutput(trial, launch, log_fd, files["report"], prune)
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
            values.append(take(found, metric.take))
        return values[0] if len(values) == 1 else tuple(values)
