"""The keys of the system attributes pipetune stores on studies and trials, each defined once.

System attrs are JSON values kept beside the user's own attrs (``FrozenTrial.system_attrs``,
``Study.system_attrs``): what pipetune needs to remember about a trial or a study that is not
one of their fields. Every key any part of pipetune reads or writes is named here, with what
it holds, so that two modules never spell one key two ways.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

# -- trials ------------------------------------------------------------------------------------

# The params an enqueued trial takes: name -> value (``enqueue_trial``, a retry, a run's params).
FIXED_PARAMS_ATTR = "fixed_params"
# Why a FAIL trial failed, in one line (an exception, a bad value, a dead worker).
FAIL_REASON_ATTR = "fail_reason"
# The traceback of the exception that failed a trial.
TRACEBACK_ATTR = "traceback"
# Of a retry of a failed trial: the number of the trial it repeats.
RETRY_OF_ATTR = "retry_of"
# Of a retry: how many retries its chain has had (the original trial has none).
RETRY_COUNT_ATTR = "retry_count"
# Of a retry: the numbers of the trials of its chain before it, the original first (what
# ``pipetune.storages.RetryFailedTrialCallback.retry_history`` returns).
RETRY_HISTORY_ATTR = "retry_history"
# The per-fold scores of a cross-validated objective (``terminator.report_cross_validation_scores``;
# Optuna's key, so trials copied from Optuna keep them).
CV_SCORES_ATTR = "terminator:cv_scores"
# Of a trial copied from Optuna (``pipetune import optuna``): its number there.
OPTUNA_NUMBER_ATTR = "optuna:number"
# GridSampler: [grid space key, grid index] of the point the trial evaluates.
GRID_ID_ATTR = "grid_id"
# CmaEsSampler: which draw of which evolution the trial holds.
CMAES_ATTR = "cmaes"
# NSGAIISampler / NSGAIIISampler: the generation the trial belongs to (Optuna's keys, so an
# imported Optuna study goes on with its generations).
NSGAII_GENERATION_ATTR = "NSGAIISampler:generation"
NSGAIII_GENERATION_ATTR = "NSGAIIISampler:generation"
# BruteForceSampler: the names of the trial's params in the order it suggested them.
BRUTE_FORCE_ORDER_ATTR = "brute_force_order"
# A launched script's log file on the machine that ran it (``pipetune tune``).
LOG_FILE_ATTR = "log_file"
# The GPU ids a launched trial ran on (``gpus_per_trial``).
GPUS_ATTR = "gpus"
# How many times a launched trial's script ran (with ``retries``).
ATTEMPTS_ATTR = "attempts"
# The first line of the error of each failed attempt of a launched trial.
ATTEMPT_ERRORS_ATTR = "attempt_errors"
# The extra arguments of a final run, secrets masked (``ScriptObjective.run_final``).
FINAL_ARGS_ATTR = "final_args"
# One record per pipeline stage the trial ran (``pipetune.pipeline``).
PIPELINE_STAGES_ATTR = "pipeline_stages"
# ``pipetune.compat.hyperopt``: the status the objective returned ("ok", "fail", ...).
HYPEROPT_STATUS_ATTR = "hyperopt_status"
# ``pipetune.compat.hyperopt``: the loss of a trial that did not complete (its value otherwise).
HYPEROPT_LOSS_ATTR = "hyperopt_loss"
# ``pipetune.compat.hyperopt``: the attachments the objective returned, name -> [encoding, text]
# ("base64" for bytes, "str" for text).
HYPEROPT_ATTACHMENTS_ATTR = "hyperopt_attachments"

# The constraint values of a trial, feasible when every one is <= 0 (Optuna's keys, so studies
# move over as they are): a list under ``constraints`` (a sampler's ``constraints_func``) and
# one float per named constraint under ``constraints:<name>`` (``Trial.set_constraint``).
CONSTRAINTS_ATTR = "constraints"
CONSTRAINT_PREFIX = CONSTRAINTS_ATTR + ":"

# -- studies -----------------------------------------------------------------------------------

# The experiment a study belongs to; a study without one is in ``DEFAULT_EXPERIMENT``.
EXPERIMENT_ATTR = "experiment"
DEFAULT_EXPERIMENT = "default"
# What a study is: ``RUN_KIND`` for a standalone run (``start_run``); absent for a search.
KIND_ATTR = "kind"
RUN_KIND = "run"
# Of a run re-running a study's params (its final run, say): that study's name.
PARENT_ATTR = "parent_study"
# Of a search study: the name of its final run (``pipetune tune`` with ``final:``).
FINAL_RUN_ATTR = "final_run"
# Where the study last ran: user, host, command line, git commit, packages.
ENVIRONMENT_ATTR = "environment"
# The sampler and the pruner of the last ``optimize`` call: class, settings, seed.
SAMPLER_ATTR = "sampler"
PRUNER_ATTR = "pruner"
# The last ``optimize`` call: n_trials, timeout, n_jobs, start and end times.
OPTIMIZE_ATTR = "optimize"
# The study-wide budget: trials started (and not failed), and trials running at once.
MAX_TRIALS_ATTR = "max_trials"
MAX_PARALLEL_ATTR = "max_parallel"
# Crash recovery: the seconds between beats, the silence after which a trial's worker is
# presumed dead, and how many times such a trial is retried.
HEARTBEAT_INTERVAL_ATTR = "heartbeat_interval"
GRACE_PERIOD_ATTR = "grace_period"
RETRY_FAILED_ATTR = "retry_failed"
# The names of a study's objectives, in the order of its directions (``set_metric_names``).
METRIC_NAMES_ATTR = "study:metric_names"
# Of a study copied from another library (``pipetune import optuna``): that library's name.
IMPORTED_FROM_ATTR = "imported_from"


def experiment_of(study_system_attrs: Mapping[str, Any]) -> str:
    """The experiment of a study, from its system attrs."""
    return str(study_system_attrs.get(EXPERIMENT_ATTR) or DEFAULT_EXPERIMENT)


def constraints_of(trial_system_attrs: Mapping[str, Any]) -> dict[str, float]:
    """A trial's constraint values by name, from its system attrs: the list under
    ``CONSTRAINTS_ATTR`` named "0", "1", ... and each ``constraints:<name>`` under its name."""
    listed = trial_system_attrs.get(CONSTRAINTS_ATTR) or ()
    named = {str(i): float(v) for i, v in enumerate(listed)}
    named.update({key[len(CONSTRAINT_PREFIX):]: float(value)
                  for key, value in trial_system_attrs.items()
                  if key.startswith(CONSTRAINT_PREFIX)})
    return named


def is_feasible(trial_system_attrs: Mapping[str, Any]) -> bool:
    """Whether a trial meets its constraints: every value <= 0 (one without any does)."""
    return all(value <= 0 for value in constraints_of(trial_system_attrs).values())
