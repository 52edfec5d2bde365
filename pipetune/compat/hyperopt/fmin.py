"""Hyperopt's ``fmin`` on a pipetune study, and the pieces of it other ``Trials`` reuse.

Every ``fmin`` call drives the study of its ``Trials`` (direction minimize) through ask/tell:
each trial suggests the labelled nodes of the space define-by-run (a choice is a categorical
param over its branch indices; the params inside a branch are suggested only when that branch
is taken), the objective gets the sample, and its result is recorded on the trial.

A ``Trials`` subclass that runs trials elsewhere (``SparkTrials``) builds on the same pieces:
``open_search`` (the study, with the sampler of ``algo``), ``sample_trial`` (the sample a
trial gives the objective), ``parse_result`` and ``record_result`` (the result stored on the
trial, finishing it) and ``Trials.keep_result`` (the full result dict, in memory).
"""

from __future__ import annotations

import inspect
import json
import math
import numbers
import os
import pickle
import tempfile
import time
import warnings
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from pipetune._attrs import (
    FAIL_REASON_ATTR,
    HYPEROPT_ATTACHMENTS_ATTR,
    HYPEROPT_LOSS_ATTR,
    HYPEROPT_STATUS_ATTR,
)
from pipetune._numbers import real_number
from pipetune.compat.hyperopt._algorithms import sampler_for
from pipetune.compat.hyperopt._space import (
    Choice,
    Expression,
    InvalidAnnotatedParameterError,
    Node,
    choice_index,
    evaluate,
    labelled_nodes,
    space_eval,
)
from pipetune.compat.hyperopt._trials import (
    STATUS_FAIL,
    STATUS_OK,
    STATUS_STRINGS,
    AllTrialsFailedError,
    TrialsRecord,
    encode_attachments,
)
from pipetune.datatypes import TrialState
from pipetune.distributions import IntDistribution, contains_external
from pipetune.errors import InvalidArgumentError, ObjectiveError
from pipetune.execution.loop import tell_outcome
from pipetune.study import Study, load_study
from pipetune.trial import Trial


class InvalidResultStatusError(ObjectiveError):
    """The objective returned a dict whose 'status' is not one of ``STATUS_STRINGS``."""


class InvalidLossError(ObjectiveError):
    """The objective returned status ok without a numeric 'loss'."""


# -- the search ----------------------------------------------------------------------------------

def seed_from(rstate: Any) -> int | None:
    """The sampler seed ``fmin``'s ``rstate`` gives (None: unseeded; ``HYPEROPT_FMIN_SEED``
    seeds it when set, as in Hyperopt)."""
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


def open_search(trials: TrialsRecord, space: Any, algo: Any, seed: int | None,
                points_to_evaluate: Any = None) -> Study:
    """The study of ``trials``, with the sampler serving ``algo`` on ``space`` (whose labels
    ``trials`` learns); ``points_to_evaluate`` are enqueued when it holds no trial yet (a
    resumed search does not run them again)."""
    nodes = labelled_nodes(space)
    trials.learn(nodes)
    study = load_study(study_name=trials.study_name, storage=trials.storage,
                       sampler=sampler_for(algo, seed, nodes))
    if points_to_evaluate and not study.trials:
        for params in given_points(points_to_evaluate, nodes):
            study.enqueue_trial(params)
    return study


def sample_trial(trial: Trial, space: Any, rng: np.random.Generator | None = None) -> Any:
    """The sample ``trial`` gives the objective: each labelled node of the branches taken is
    suggested on it; unlabelled draws (``scope.uniform(0, 1)``) come from ``rng``. A given
    value outside its node's domain (``generate_trials_to_calculate``) is used as given."""
    fixed = trial.fixed_params

    def resolve(node: Node) -> Any:
        if isinstance(node, Choice):
            return trial.suggest_categorical(node.label, node.distribution.choices)
        distribution = node.distribution
        given = fixed.get(node.label)
        if node.label in fixed and real_number(given) is not None \
                and not contains_external(distribution, given):
            return given
        if isinstance(distribution, IntDistribution):
            return trial.suggest_int(node.label, distribution.low, distribution.high,
                                     step=distribution.step, log=distribution.log)
        return node.finish(trial.suggest_float(node.label, distribution.low, distribution.high,
                                               step=distribution.step, log=distribution.log))

    return evaluate(space, resolve, rng)


def parse_result(result: Any) -> dict[str, Any]:
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
        raise InvalidResultStatusError(
            f"The dict fmin's objective returns needs 'status' set to STATUS_OK or STATUS_FAIL "
            f"(one of {list(STATUS_STRINGS)}). Got {status!r} in {result!r}.")
    if status == STATUS_OK and real_number(result.get("loss")) is None:
        raise InvalidLossError(
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


def record_result(study: Study, trial: Trial, result: dict[str, Any]) -> dict[str, Any]:
    """Stores a parsed result on ``trial`` and finishes it: COMPLETE with the loss for status
    ok, FAIL otherwise; the extra keys JSON can hold become user attrs, the 'attachments'
    (bytes or text) a system attr. Returns the result without its 'attachments', as Hyperopt
    keeps it in ``Trials.results``."""
    attachments = result.get("attachments") or {}
    kept = {key: value for key, value in result.items() if key != "attachments"}
    for key, value in kept.items():
        if isinstance(key, str) and key not in ("loss", "status"):
            ok, copy = _json_value(value)
            if ok:
                trial.set_user_attr(key, copy)
    if isinstance(attachments, Mapping) and attachments:
        trial.set_system_attr(HYPEROPT_ATTACHMENTS_ATTR, encode_attachments(attachments))
    status = kept["status"]
    trial.set_system_attr(HYPEROPT_STATUS_ATTR, status)
    if status == STATUS_OK:
        # A NaN loss makes it FAIL with the reason recorded (and logged).
        study.run_interface.tell(trial, real_number(kept["loss"]))
        return kept
    loss = real_number(kept.get("loss"))
    if loss is not None and math.isfinite(loss):
        trial.set_system_attr(HYPEROPT_LOSS_ATTR, loss)
    reason = f"the objective returned status {status!r}"
    if kept.get("failure") is not None:
        reason += f": {kept['failure']}"
    trial.set_system_attr(FAIL_REASON_ATTR, reason)
    study.tell(trial, state=TrialState.FAIL)
    return kept


def _run_trial(study: Study, trials: TrialsRecord, trial: Trial, call: Callable[[Any], Any],
               space: Any, catch_eval_exceptions: bool, seed: int | None) -> dict[str, Any]:
    """Evaluates the objective on the sample ``trial`` draws from ``space`` and records the
    result (in the study, and in full in ``trials``)."""
    run = study.run_interface
    rng = np.random.default_rng(None if seed is None else [seed, trial.number])
    try:
        raw = call(sample_trial(trial, space, rng))
    except Exception as error:
        tell_outcome(run, trial, error=error)
        if not catch_eval_exceptions:
            raise
        result = {"status": STATUS_FAIL, "failure": f"{type(error).__name__}: {error}"}
        trials.keep_result(trial.number, result)
        return result
    except BaseException as interrupt:  # KeyboardInterrupt: never leave the trial RUNNING
        tell_outcome(run, trial, error=interrupt)
        raise
    try:
        result = parse_result(raw)
    except ObjectiveError as error:
        tell_outcome(run, trial, error=error)
        raise
    attachments = result.get("attachments")
    with warnings.catch_warnings():
        # A given point names every label, also those of branches not taken, and keeps a value
        # outside its domain as given rather than as a param: neither is a mistake here.
        warnings.filterwarnings("ignore", message=r"Trial \d+ was enqueued with param")
        kept = record_result(study, trial, result)
    trials.keep_result(trial.number, kept)
    if isinstance(attachments, Mapping):
        sink = trials.trial_attachments({"tid": trial.number})
        for name, value in attachments.items():
            sink[name] = value
    return kept


# -- arguments -----------------------------------------------------------------------------------

def given_points(points: Any, nodes: Mapping[str, Node]) -> list[dict[str, Any]]:
    """``points_to_evaluate`` checked against the space's labels, as params to enqueue (a
    choice's value its branch index; a number outside its node's domain is used as given)."""
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
            params[label] = _given_value(node, value, f"points_to_evaluate[{i}][{label!r}]")
        checked.append(params)
    return checked


def _given_value(node: Node, value: Any, where: str) -> Any:
    if hasattr(value, "item") and getattr(value, "ndim", 1) == 0:
        value = value.item()
    if isinstance(node, Choice):
        index = choice_index(node, value)
        if index is None:
            raise InvalidArgumentError(
                f"{where} must be the index of an option, 0 to {len(node.options) - 1}. "
                f"Got {value!r}.")
        return index
    if real_number(value) is None:
        raise InvalidArgumentError(f"{where} must be a number for {node.call}. Got {value!r}.")
    return value


def check_budget(max_evals: Any, timeout: Any, loss_threshold: Any) -> None:
    """Refuses a budget fmin cannot run: a bad max_evals, timeout or loss_threshold, or none."""
    if max_evals is not None and (isinstance(max_evals, bool)
                                  or not isinstance(max_evals, numbers.Integral) or max_evals < 0):
        raise InvalidArgumentError(
            f"The 'max_evals' argument of fmin must be an int >= 0. Got {max_evals!r}.")
    if timeout is not None and not (real_number(timeout) is not None and timeout > 0):
        raise InvalidArgumentError(
            "The timeout argument should be None or a positive value. "
            f"Given value: {timeout}")
    if loss_threshold is not None and real_number(loss_threshold) is None:
        raise InvalidArgumentError(
            "The loss_threshold argument should be None or a numeric value. "
            f"Given value: {loss_threshold}")
    if max_evals is None and timeout is None and loss_threshold is None:
        raise InvalidArgumentError(
            "fmin needs a budget: pass max_evals= (the total number of trials), timeout= or "
            "loss_threshold=.")


def _annotated(fn: Callable[..., Any]) -> tuple[dict[str, Any], Callable[[Any], Any]]:
    """``space="annotated"``: the space is the objective's parameter annotations (each a space
    node), and the objective is called with the sample as keyword arguments."""
    space = {}
    try:  # annotations written as strings (``from __future__ import annotations``)
        signature = inspect.signature(fn, eval_str=True)
    except (NameError, SyntaxError, TypeError):
        signature = inspect.signature(fn)
    for name, parameter in signature.parameters.items():
        annotation = parameter.annotation
        if not isinstance(annotation, Expression):
            raise InvalidAnnotatedParameterError(
                f"fmin(space='annotated'): the parameter {name!r} of {fn.__name__} is annotated "
                f"with {annotation!r}, not a search space such as hp.uniform({name!r}, 0, 1). "
                "Annotate every parameter with one, or pass the space.")
        space[name] = annotation
    return space, lambda sample: fn(**sample)


def _save(trials: TrialsRecord, path: str) -> None:
    """Pickles ``trials`` to ``path`` atomically (a reader never sees half a file)."""
    directory = os.path.dirname(os.path.abspath(path))
    with tempfile.NamedTemporaryFile("wb", dir=directory, delete=False) as handle:
        pickle.dump(trials, handle)
    os.replace(handle.name, path)


# -- Trials --------------------------------------------------------------------------------------

class Trials(TrialsRecord):
    """The record of ``fmin`` searches in Hyperopt's shape, over one pipetune study.

    Passing the same ``Trials`` to another ``fmin`` call continues the search (``max_evals``
    counts every trial it holds). In memory by default; ``storage`` (a URL such as
    ``sqlite:///hpo.db`` or ``postgresql://...``, or a storage object) with ``study_name`` (or
    ``exp_key``) keeps it there, so a later process continues it, and ``fmin`` calls in several
    processes or machines given the same URL and name share one search, as Hyperopt's
    ``MongoTrials`` do. The objective's full result dicts are kept in memory; their
    JSON-serializable keys are also stored as the trials' user attrs.

    ``fmin`` calls the ``fmin`` method of a subclass that defines its own (``SparkTrials``),
    with the arguments it got; that one records each finished trial with ``record_result`` and
    ``keep_result``.
    """

    def fmin(self, fn: Any, space: Any, algo: Any = None, max_evals: int | None = None,
             timeout: float | None = None, loss_threshold: float | None = None,
             max_queue_len: int = 1, rstate: Any = None, verbose: bool = False,
             pass_expr_memo_ctrl: Any = None, catch_eval_exceptions: bool = False,
             return_argmin: bool = True, show_progressbar: bool = True,
             early_stop_fn: Any = None, trials_save_file: str = "",
             points_to_evaluate: Any = None) -> Any:
        """``fmin(fn, space, ..., trials=self)``, Hyperopt's method form."""
        return fmin(fn, space, algo=algo, max_evals=max_evals, timeout=timeout,
                    loss_threshold=loss_threshold, trials=self, rstate=rstate,
                    allow_trials_fmin=False, pass_expr_memo_ctrl=pass_expr_memo_ctrl,
                    catch_eval_exceptions=catch_eval_exceptions, verbose=verbose,
                    return_argmin=return_argmin, points_to_evaluate=points_to_evaluate,
                    max_queue_len=max_queue_len, show_progressbar=show_progressbar,
                    early_stop_fn=early_stop_fn, trials_save_file=trials_save_file)


# -- fmin ----------------------------------------------------------------------------------------

def fmin(fn: Callable[..., Any], space: Any, algo: Any = None, max_evals: int | None = None,
         timeout: float | None = None, loss_threshold: float | None = None,
         trials: TrialsRecord | None = None, rstate: np.random.Generator | None = None,
         allow_trials_fmin: bool = True, pass_expr_memo_ctrl: Any = None,
         catch_eval_exceptions: bool = False, verbose: bool = False,
         return_argmin: bool = True, points_to_evaluate: list[dict[str, Any]] | None = None,
         max_queue_len: int = 1, show_progressbar: bool = True,
         early_stop_fn: Callable[..., Any] | None = None, trials_save_file: str = "") -> Any:
    """Minimizes ``fn`` over ``space``, Hyperopt's way, on a pipetune study.

    ``fn`` receives a sample shaped like ``space`` (with ``space="annotated"``, the space is
    its parameters' annotations and it is called with keyword arguments) and returns a loss,
    or a dict with 'loss' and 'status' (STATUS_OK / STATUS_FAIL) plus any keys to keep
    ('attachments' go to ``trials.trial_attachments``). The search stops when ``trials``
    holds ``max_evals`` trials, after ``timeout`` seconds, once a loss is at most
    ``loss_threshold``, or when ``early_stop_fn(trials, *args)`` returns ``(True, args)``.
    ``points_to_evaluate`` (label -> value dicts) run first when ``trials`` is empty;
    ``trials_save_file`` pickles ``trials`` after every trial and resumes from the file when it
    exists. When ``trials`` has its own ``fmin`` (``SparkTrials``) and ``allow_trials_fmin``
    is true, that runs the search. An exception from ``fn`` fails its trial and propagates
    unless ``catch_eval_exceptions``. ``show_progressbar`` (on by default, as in Hyperopt)
    shows the trials run and the best loss so far.

    Returns the argmin (label -> value, a choice's value being its branch index; see
    ``space_eval``), or with ``return_argmin=False`` the best sample itself (None when no trial
    succeeded).
    """
    if not callable(fn):
        raise InvalidArgumentError(f"The 'fn' argument of fmin must be callable. Got {fn!r}.")
    if pass_expr_memo_ctrl:
        raise InvalidArgumentError(
            "fmin(pass_expr_memo_ctrl=True) hands the objective pyll's graph, which pipetune "
            "does not build: let the objective take the sample.")
    check_budget(max_evals, timeout, loss_threshold)
    if trials_save_file and os.path.exists(trials_save_file):
        with open(trials_save_file, "rb") as handle:
            trials = pickle.load(handle)
    if trials is None:
        trials = Trials()
    own_fmin = getattr(type(trials), "fmin", None)
    if allow_trials_fmin and callable(own_fmin) and own_fmin is not Trials.fmin:
        return own_fmin(
            trials, fn, space, algo=algo, max_evals=max_evals, timeout=timeout,
            loss_threshold=loss_threshold, rstate=rstate,
            pass_expr_memo_ctrl=pass_expr_memo_ctrl,
            catch_eval_exceptions=catch_eval_exceptions, verbose=verbose,
            return_argmin=return_argmin, points_to_evaluate=points_to_evaluate,
            max_queue_len=max_queue_len, show_progressbar=show_progressbar,
            early_stop_fn=early_stop_fn, trials_save_file=trials_save_file)
    if not isinstance(trials, TrialsRecord):
        raise InvalidArgumentError(
            "The 'trials' argument of fmin must be pipetune.compat.hyperopt.Trials (Hyperopt's "
            f"own Trials cannot hold pipetune trials). Got {type(trials).__name__}.")
    call: Callable[[Any], Any] = fn
    if isinstance(space, str) and space == "annotated":
        space, call = _annotated(fn)
    seed = seed_from(rstate)
    study = open_search(trials, space, algo, seed, points_to_evaluate)

    def count() -> int:
        return sum(1 for t in study.trials if t.state != TrialState.WAITING)

    done = count()
    try:
        best = float(trials.best_trial["result"]["loss"])  # a real number: see best_trial
    except AllTrialsFailedError:
        best = math.inf
    started = time.monotonic()
    early_stop_args: tuple[Any, ...] = ()
    bar = progress_bar(show_progressbar, max_evals, done, best)
    try:
        while max_evals is None or done < max_evals:
            if timeout is not None and time.monotonic() - started >= timeout:
                break
            if loss_threshold is not None and best <= loss_threshold:
                break
            result = _run_trial(study, trials, study.ask(), call, space, catch_eval_exceptions,
                                seed)
            # Other processes may add trials to a shared study: count them too.
            before, done = done, count() if trials.shared else done + 1
            loss = real_number(result.get("loss"))
            if result["status"] == STATUS_OK and loss is not None and loss < best:
                best = loss
            advance(bar, done - before, best)
            if trials_save_file:
                _save(trials, trials_save_file)
            if early_stop_fn is not None:
                stop, *rest = early_stop_fn(trials, *early_stop_args)
                early_stop_args = tuple(rest[0]) if rest else ()
                if stop:
                    break
    finally:
        if bar is not None:
            bar.close()
    if return_argmin:
        return trials.argmin
    try:
        return space_eval(space, trials.argmin)
    except AllTrialsFailedError:
        return None  # as Hyperopt: no best point to return, and not asked for the argmin


def progress_bar(show: bool, max_evals: int | None, done: int, best: float) -> Any:
    """A bar of the trials run out of ``max_evals``, showing the best loss (None: no bar)."""
    if not show:
        return None
    from tqdm.auto import tqdm

    bar = tqdm(total=max_evals, initial=done, unit="trial", desc="fmin")
    advance(bar, 0, best)
    return bar


def advance(bar: Any, trials: int, best: float) -> None:
    """Moves ``bar`` (None: none shown) on by ``trials`` and shows ``best``, once finite."""
    if bar is None:
        return
    if trials:
        bar.update(trials)
    if math.isfinite(best):
        bar.set_postfix(best_loss=f"{best:.6g}", refresh=False)


def generate_trials_to_calculate(points: list[dict[str, Any]]) -> Trials:
    """A new ``Trials`` holding ``points`` (label -> value dicts, a choice's value being its
    branch index) as trials to run: ``fmin`` given it evaluates them first, as they are, then
    searches."""
    if not isinstance(points, (list, tuple)) or not all(isinstance(p, Mapping) for p in points):
        raise InvalidArgumentError(
            "generate_trials_to_calculate takes a list of dicts of label -> value. "
            f"Got {points!r}.")
    trials = Trials()
    for point in points:
        trials.study.enqueue_trial({str(label): value.item() if hasattr(value, "item")
                                    else value for label, value in point.items()})
    return trials


__all__ = ["Trials", "fmin", "generate_trials_to_calculate", "space_eval"]
