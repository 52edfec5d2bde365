"""Hyperopt's API on pipetune: ``fmin``, ``hp``, ``Trials``, ``space_eval``, ``tpe`` / ``rand``.

Code written for Hyperopt runs by changing one import::

    from pipetune.compat.hyperopt import fmin, tpe, rand, hp, Trials, STATUS_OK, space_eval

Every ``fmin`` call drives a pipetune study (direction minimize) through ask/tell:
``tpe.suggest`` is ``pipetune.samplers.TPESampler`` and ``rand.suggest`` is ``RandomSampler``,
both seeded from ``rstate``. The space is suggested define-by-run: a ``hp.choice`` is a
categorical param over its branch indices, named by its label, and the params inside a branch
are suggested only when that branch is taken, so the study never holds an inactive param.
``Trials`` shows the study in Hyperopt's shape (``trials``, ``results``, ``losses()``,
``statuses()``, ``best_trial``, ``argmin``); ``Trials(storage=url, study_name=...)`` keeps it
in a pipetune storage, where ``pipetune.load_study`` and the dashboard see it too.

Where pipetune differs from Hyperopt, on purpose:

- ``hp.normal(label, mu, sigma)`` is a float drawn over ``mu +- 4 sigma`` (``hp.lognormal`` a
  log-scaled float over ``exp(mu +- 4 sigma)``, the ``q`` kinds the same on their grid): pipetune
  domains are bounded, and that interval holds 99.99% of the normal prior.
- ``hp.qloguniform`` / ``hp.qlognormal`` are suggested as log-scaled floats and rounded to a
  multiple of ``q`` afterwards (a pipetune domain is log-scaled or on a grid, not both): the
  study records the draw; the objective, ``Trials.vals`` and the argmin see the rounded value.
- A trial whose objective raised stays in ``Trials`` (state ``JOB_STATE_ERROR``, status
  ``fail``) and in the study as a FAIL trial, with the traceback.
- Trials run one at a time in this process; ``show_progressbar`` and ``verbose`` are accepted
  and ignored. ``tpe.suggest`` uses pipetune's TPE defaults unless ``functools.partial`` sets
  ``n_startup_jobs``, ``n_EI_candidates``, ``prior_weight`` or ``gamma``.
"""

from __future__ import annotations

import functools
import json
import math
import numbers
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from pipetune._attrs import FAIL_REASON_ATTR, HYPEROPT_LOSS_ATTR, HYPEROPT_STATUS_ATTR
from pipetune._numbers import real_number
from pipetune.compat._hyperopt_space import (
    NORMAL_SIGMAS,
    Choice,
    DuplicateLabelError,
    HyperparameterFactory,
    Node,
    Scope,
    choice_index,
    evaluate,
    labelled_nodes,
    space_eval,
)
from pipetune.compat._hyperopt_trials import (
    JOB_STATE_CANCEL,
    JOB_STATE_DONE,
    JOB_STATE_ERROR,
    JOB_STATE_NEW,
    JOB_STATE_RUNNING,
    JOB_STATES,
    STATUS_FAIL,
    STATUS_NEW,
    STATUS_OK,
    STATUS_RUNNING,
    STATUS_STRINGS,
    STATUS_SUSPENDED,
    AllTrialsFailedError,
    Trials,
)
from pipetune.datatypes import TrialState
from pipetune.distributions import IntDistribution, contains_external
from pipetune.errors import InvalidArgumentError, ObjectiveError
from pipetune.execution.loop import tell_outcome
from pipetune.samplers import BaseSampler, RandomSampler, TPESampler
from pipetune.study import Study, load_study
from pipetune.trial import Trial

hp = HyperparameterFactory()
scope = Scope()


# Hyperopt's names for the same errors, so ``except`` clauses move over unchanged.
AllTrialsFailed = AllTrialsFailedError
DuplicateLabel = DuplicateLabelError


# -- algorithms --------------------------------------------------------------------------------

@dataclass(frozen=True)
class _Suggest:
    """``tpe.suggest`` / ``rand.suggest``: names the pipetune sampler ``fmin`` uses."""

    algorithm: str

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        raise InvalidArgumentError(
            f"{self.algorithm}.suggest is not called directly: pass it to fmin as "
            f"algo={self.algorithm}.suggest (or functools.partial({self.algorithm}.suggest, ...) "
            "to set its options).")

    def __repr__(self) -> str:
        return f"{self.algorithm}.suggest"


class _Algorithm:
    def __init__(self, name: str) -> None:
        self.suggest = _Suggest(name)


tpe = _Algorithm("tpe")
rand = _Algorithm("rand")

_TPE_OPTIONS = {"n_startup_jobs": "n_startup_trials", "n_EI_candidates": "n_ei_candidates",
                "prior_weight": "prior_weight", "gamma": "gamma"}


def _hyperopt_gamma(fraction: float, n: int) -> int:
    # Hyperopt's good set: ceil(gamma * sqrt(n)) trials, at most 25 (its linear_forgetting).
    return min(math.ceil(fraction * math.sqrt(n)), 25)


def _as_suggest(algo: Any) -> _Suggest | None:
    if isinstance(algo, _Suggest):
        return algo
    # Hyperopt's own tpe.suggest / rand.suggest, for code that kept `from hyperopt import tpe`.
    module = getattr(algo, "__module__", None)
    if getattr(algo, "__name__", None) == "suggest" and module in ("hyperopt.tpe", "hyperopt.rand"):
        return _Suggest(module.rsplit(".", 1)[1])
    return None


def _sampler_for(algo: Any, seed: int | None) -> BaseSampler:
    if isinstance(algo, BaseSampler):
        return algo
    options: dict[str, Any] = {}
    if isinstance(algo, functools.partial) and not algo.args:
        options, algo = dict(algo.keywords), algo.func
    suggest = tpe.suggest if algo is None else _as_suggest(algo)
    if suggest is None:
        raise InvalidArgumentError(
            "The 'algo' argument of fmin must be tpe.suggest or rand.suggest (optionally in "
            "functools.partial with options), or a pipetune sampler such as "
            f"pipetune.samplers.QMCSampler(). Got {algo!r}.")
    options.pop("verbose", None)
    if suggest.algorithm == "rand":
        if options:
            raise InvalidArgumentError(
                f"rand.suggest takes no options here. Got {sorted(options)}.")
        return RandomSampler(seed=seed)
    kwargs: dict[str, Any] = {}
    for key, value in options.items():
        if key not in _TPE_OPTIONS:
            raise InvalidArgumentError(
                f"tpe.suggest option {key!r} is not supported; use {', '.join(_TPE_OPTIONS)}.")
        if key == "gamma":
            fraction = real_number(value)
            if fraction is None or not 0 < fraction <= 1:
                raise InvalidArgumentError(
                    f"tpe.suggest's gamma must be a fraction in (0, 1]. Got {value!r}.")
            value = functools.partial(_hyperopt_gamma, fraction)
        kwargs[_TPE_OPTIONS[key]] = value
    return TPESampler(seed=seed, **kwargs)


def _seed_from(rstate: Any) -> int | None:
    if rstate is None:
        env = os.environ.get("HYPEROPT_FMIN_SEED", "").strip()
        if not env:
            return None
        try:
            return int(env)
        except ValueError:
            raise InvalidArgumentError(
                f"HYPEROPT_FMIN_SEED must be an integer. Got {env!r}.") from None
    if isinstance(rstate, np.random.Generator):
        return int(rstate.integers(2**31 - 1))
    if isinstance(rstate, np.random.RandomState):
        return int(rstate.randint(2**31 - 1))
    raise InvalidArgumentError(
        "The 'rstate' argument of fmin must be a numpy Generator, e.g. "
        f"np.random.default_rng(42), or None. Got {rstate!r}.")


# -- results -----------------------------------------------------------------------------------

def _parse_result(result: Any) -> dict[str, Any]:
    """Hyperopt's result contract: a number is a loss with status ok; a dict needs a 'status'
    from STATUS_STRINGS and, when it is 'ok', a numeric 'loss'; other keys are kept."""
    loss = real_number(result)
    if loss is not None:
        return {"loss": loss, "status": STATUS_OK}
    if not isinstance(result, Mapping):
        raise ObjectiveError(
            "fmin's objective must return a loss (a number) or a dict with 'loss' and "
            f"'status'. Got {result!r} ({type(result).__name__}).")
    status = result.get("status")
    if not isinstance(status, str) or status not in STATUS_STRINGS:
        raise ObjectiveError(
            f"The dict fmin's objective returns needs 'status' set to STATUS_OK or STATUS_FAIL "
            f"(one of {list(STATUS_STRINGS)}). Got {status!r} in {result!r}.")
    if status == STATUS_OK and real_number(result.get("loss")) is None:
        raise ObjectiveError(
            "A result with status 'ok' needs a numeric 'loss' (what fmin minimizes). "
            f"Got {result.get('loss')!r} in {result!r}.")
    return dict(result)


def _json_value(value: Any) -> tuple[bool, Any]:
    """``(True, a JSON copy of value)``, or ``(False, None)`` when JSON cannot hold it."""
    def default(obj: Any) -> Any:
        if hasattr(obj, "tolist"):  # numpy scalars and arrays
            return obj.tolist()
        raise TypeError(type(obj).__name__)

    try:
        return True, json.loads(json.dumps(value, default=default, allow_nan=False))
    except (TypeError, ValueError, RecursionError):
        return False, None


def _record_result(study: Study, trial: Trial, result: dict[str, Any]) -> None:
    """Stores a parsed result on the trial and finishes it: COMPLETE with the loss for status
    ok, FAIL otherwise; extra keys JSON can hold become user attrs."""
    for key, value in result.items():
        if isinstance(key, str) and key not in ("loss", "status"):
            ok, copy = _json_value(value)
            if ok:
                trial.set_user_attr(key, copy)
    status = result["status"]
    trial.set_system_attr(HYPEROPT_STATUS_ATTR, status)
    if status == STATUS_OK:
        # A NaN loss makes it FAIL with the reason recorded (and logged; Study.tell would
        # also warn the caller, who is this module).
        study.run_interface.tell(trial, real_number(result["loss"]))
        return
    loss = real_number(result.get("loss"))
    if loss is not None and math.isfinite(loss):
        trial.set_system_attr(HYPEROPT_LOSS_ATTR, loss)
    reason = f"the objective returned status {status!r}"
    if result.get("failure") is not None:
        reason += f": {result['failure']}"
    trial.set_system_attr(FAIL_REASON_ATTR, reason)
    study.tell(trial, state=TrialState.FAIL)


# -- fmin --------------------------------------------------------------------------------------

def _suggester(trial: Trial) -> Callable[[Node], Any]:
    """Resolves each node the space walk meets by suggesting it on ``trial``."""
    def resolve(node: Node) -> Any:
        if isinstance(node, Choice):
            return trial.suggest_categorical(node.label, node.distribution.choices)
        distribution = node.distribution
        if isinstance(distribution, IntDistribution):
            return trial.suggest_int(node.label, distribution.low, distribution.high,
                                     step=distribution.step, log=distribution.log)
        return node.finish(trial.suggest_float(node.label, distribution.low, distribution.high,
                                               step=distribution.step, log=distribution.log))
    return resolve


def _points(points: Any, nodes: Mapping[str, Node]) -> list[dict[str, Any]]:
    """``points_to_evaluate`` checked against the space, as params to enqueue."""
    if not isinstance(points, (list, tuple)) or not all(isinstance(p, Mapping) for p in points):
        raise InvalidArgumentError(
            "The 'points_to_evaluate' argument of fmin must be a list of dicts of label -> "
            f"value (a choice's value is its branch index). Got {points!r}.")
    checked = []
    for i, point in enumerate(points):
        params: dict[str, Any] = {}
        for label, value in point.items():
            node = nodes.get(label)
            if node is None:
                raise InvalidArgumentError(
                    f"points_to_evaluate[{i}] names {label!r}, which is no label of the space. "
                    f"Its labels: {sorted(nodes)}.")
            if hasattr(value, "item") and getattr(value, "ndim", 1) == 0:
                value = value.item()
            if isinstance(node, Choice):
                value = choice_index(node, value)
            elif node.round_to is not None and node.distribution.log \
                    and real_number(value) is not None:
                # A rounded value may sit just outside the log domain it was drawn from.
                value = min(max(float(value), node.distribution.low), node.distribution.high)
            if value is None or not contains_external(node.distribution, value):
                what = (f"the index of an option, 0 to {len(node.options) - 1}"
                        if isinstance(node, Choice) else f"a value of {node.call}")
                raise InvalidArgumentError(
                    f"points_to_evaluate[{i}][{label!r}] must be {what}. Got {point[label]!r}.")
            params[label] = value
        checked.append(params)
    return checked


def _check_budget(max_evals: Any, timeout: Any, loss_threshold: Any) -> None:
    if max_evals is not None and (isinstance(max_evals, bool)
                                  or not isinstance(max_evals, numbers.Integral) or max_evals < 0):
        raise InvalidArgumentError(
            f"The 'max_evals' argument of fmin must be an int >= 0. Got {max_evals!r}.")
    if timeout is not None and not (real_number(timeout) is not None and timeout > 0):
        raise InvalidArgumentError(
            f"The 'timeout' argument of fmin must be a positive number of seconds or None. "
            f"Got {timeout!r}.")
    if loss_threshold is not None and real_number(loss_threshold) is None:
        raise InvalidArgumentError(
            f"The 'loss_threshold' argument of fmin must be a number or None. "
            f"Got {loss_threshold!r}.")
    if max_evals is None and timeout is None and loss_threshold is None:
        raise InvalidArgumentError(
            "fmin needs a budget: pass max_evals= (the total number of trials), timeout= or "
            "loss_threshold=.")


def _run_trial(study: Study, trials: Trials, trial: Trial, fn: Callable[[Any], Any],
               space: Any, catch_eval_exceptions: bool) -> dict[str, Any]:
    """Evaluates ``fn`` on the sample ``trial`` draws from ``space`` and records the result."""
    run = study.run_interface
    try:
        sample = evaluate(space, _suggester(trial))
        raw = fn(sample)
    except Exception as error:
        tell_outcome(run, trial, error=error)
        if not catch_eval_exceptions:
            raise
        result = {"status": STATUS_FAIL, "failure": f"{type(error).__name__}: {error}"}
        trials._results[trial.number] = result
        return result
    except BaseException as interrupt:  # KeyboardInterrupt: never leave the trial RUNNING
        tell_outcome(run, trial, error=interrupt)
        raise
    try:
        result = _parse_result(raw)
    except ObjectiveError as error:
        tell_outcome(run, trial, error=error)
        raise
    trials._results[trial.number] = result
    _record_result(study, trial, result)
    return result


def fmin(fn: Callable[[Any], Any], space: Any, algo: Any = None, max_evals: int | None = None,
         timeout: float | None = None, loss_threshold: float | None = None,
         trials: Trials | None = None, rstate: np.random.Generator | None = None, *,
         catch_eval_exceptions: bool = False, return_argmin: bool = True,
         points_to_evaluate: list[dict[str, Any]] | None = None,
         early_stop_fn: Callable[..., Any] | None = None, show_progressbar: bool = False,
         verbose: bool = False) -> Any:
    """Minimizes ``fn`` over ``space``, Hyperopt's way, on a pipetune study.

    ``fn`` receives a sample shaped like ``space`` and returns a loss, or a dict with 'loss'
    and 'status' (STATUS_OK / STATUS_FAIL) plus any keys to keep. The search stops when
    ``trials`` holds ``max_evals`` trials, after ``timeout`` seconds, once a loss is at most
    ``loss_threshold``, or when ``early_stop_fn(trials, *args)`` returns ``(True, args)``.
    ``points_to_evaluate`` (label -> value dicts) run first when ``trials`` is empty. An
    exception from ``fn`` fails its trial and propagates unless ``catch_eval_exceptions``.

    Returns the argmin (label -> value, a choice's value being its branch index; see
    ``space_eval``), or with ``return_argmin=False`` the best sample itself.
    """
    if not callable(fn):
        raise InvalidArgumentError(f"The 'fn' argument of fmin must be callable. Got {fn!r}.")
    _check_budget(max_evals, timeout, loss_threshold)
    if trials is None:
        trials = Trials()
    elif not isinstance(trials, Trials):
        raise InvalidArgumentError(
            "The 'trials' argument of fmin must be pipetune.compat.hyperopt.Trials (Hyperopt's "
            f"own Trials cannot hold pipetune trials). Got {type(trials).__name__}.")
    nodes = labelled_nodes(space)
    trials._learn(nodes)
    study = load_study(study_name=trials._study_name, storage=trials._storage,
                       sampler=_sampler_for(algo, _seed_from(rstate)))
    existing = study.trials
    if points_to_evaluate and not existing:
        for params in _points(points_to_evaluate, nodes):
            study.enqueue_trial(params)
    done = sum(1 for t in existing if t.state != TrialState.WAITING)
    try:
        best = float(trials.best_trial["result"]["loss"])  # a real number: see best_trial
    except AllTrialsFailedError:
        best = math.inf
    started = time.monotonic()
    early_stop_args: tuple[Any, ...] = ()
    while max_evals is None or done < max_evals:
        if timeout is not None and time.monotonic() - started >= timeout:
            break
        if loss_threshold is not None and best <= loss_threshold:
            break
        result = _run_trial(study, trials, study.ask(), fn, space, catch_eval_exceptions)
        done += 1
        loss = real_number(result.get("loss"))
        if result["status"] == STATUS_OK and loss is not None and loss < best:
            best = loss
        if early_stop_fn is not None:
            stop, *rest = early_stop_fn(trials, *early_stop_args)
            early_stop_args = tuple(rest[0]) if rest else ()
            if stop:
                break
    if return_argmin:
        return trials.argmin
    return space_eval(space, trials.argmin)


__all__ = [
    "AllTrialsFailed",
    "AllTrialsFailedError",
    "DuplicateLabel",
    "DuplicateLabelError",
    "JOB_STATES",
    "JOB_STATE_CANCEL",
    "JOB_STATE_DONE",
    "JOB_STATE_ERROR",
    "JOB_STATE_NEW",
    "JOB_STATE_RUNNING",
    "NORMAL_SIGMAS",
    "STATUS_FAIL",
    "STATUS_NEW",
    "STATUS_OK",
    "STATUS_RUNNING",
    "STATUS_STRINGS",
    "STATUS_SUSPENDED",
    "Trials",
    "fmin",
    "hp",
    "rand",
    "scope",
    "space_eval",
    "tpe",
]
