"""Pipelines: stages run in order, tuned by one study, each stage's output cached.

``Pipeline.as_objective()`` is an objective for ``study.optimize``, ``pipetune optimize
--objective module:objective`` and ``pipetune worker`` (``Pipeline.main()`` makes the pipeline
a script for ``pipetune tune``): each trial suggests every stage's
params (``prepare.missing``, ``features.bins``, ``train.lr``), then runs the stages, reusing
any stage output whose stage, code, params and upstream output were seen before (see
``pipetune.pipeline.cache``); stages upstream of a cached output are skipped altogether.
Each trial records, per stage, whether it was computed, loaded or skipped, the time spent and
the output size (``stage_records(trial)``).

A stage taking a ``progress`` argument reports intermediate values (``progress.report(rmse,
epoch)``) to the trial, so pruners stop pipelines mid-training; a stage output that was
cached replays its reports, so a hit is judged like the run that produced it. A stage with a
``Fidelity`` runs the rest of the pipeline at increasing fidelity levels instead, reporting the
objective at each (Hyperband's resource); its own progress reports are then not forwarded.
"""

from __future__ import annotations

import json
import math
import os
import pickle
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from typing import TYPE_CHECKING, Any

from pipetune._attrs import PIPELINE_STAGES_ATTR, experiment_of
from pipetune._numbers import real_number
from pipetune.errors import InvalidArgumentError, ObjectiveError, TrialPruned
from pipetune.pipeline.cache import CachedOutput, StageCache
from pipetune.pipeline.fingerprint import data_fingerprint, stage_key
from pipetune.pipeline.stage import PROGRESS_ARG, Stage

if TYPE_CHECKING:
    from pipetune.datatypes import FrozenTrial
    from pipetune.study import Study
    from pipetune.trial import Trial

MODEL_ARTIFACT = "model.pkl"  # what run_best stores the last stage's output as
HIT, MISS, OFF, SKIPPED = "hit", "miss", "off", "skipped"
PRUNED, FAILED = "pruned", "failed"

Sink = Callable[[float, int], None]


class _NoInput:
    def __repr__(self) -> str:
        return "NO_INPUT"


NO_INPUT: Any = _NoInput()  # the first stage is called without an upstream argument


@dataclass(frozen=True)
class StageRecord:
    """What running one stage in one trial took. ``cache`` is ``hit`` (loaded), ``skipped``
    (not needed: a downstream output was cached), ``miss`` (computed and stored), ``off``
    (computed, not cached), or ``pruned`` / ``failed`` (the stage raised, nothing was stored).
    ``size`` is the output's bytes on disk (its in-memory size when not cached, None when
    unknown or skipped); ``level`` the fidelity level the stage ran at."""

    stage: str
    key: str
    cache: str
    seconds: float
    size: int | None
    level: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def stage_records(trial: FrozenTrial | Trial) -> list[StageRecord]:
    """The per-stage records of a pipeline trial (empty for any other trial)."""
    return [StageRecord(**record) for record in trial.system_attrs.get(PIPELINE_STAGES_ATTR) or ()]


def cache_hit_rate(trials: Study | Sequence[FrozenTrial]) -> float | None:
    """The share of stage runs, over ``trials`` (or a study's trials), the cache saved (loaded
    or skipped rather than computed); None when no stage ran with the cache on."""
    if hasattr(trials, "trials"):
        trials = trials.trials
    records = [r for t in trials for r in stage_records(t) if r.cache in (HIT, SKIPPED, MISS)]
    return sum(r.cache != MISS for r in records) / len(records) if records else None


class Progress:
    """Handed to a stage function that takes a ``progress`` argument: ``report(value, step)``
    records an intermediate value (a validation RMSE after an epoch); inside a trial it goes to
    the pruner, which may end the trial there (``TrialPruned`` is raised from ``report``)."""

    def __init__(self, sink: Sink) -> None:
        self._sink = sink
        self.reports: list[tuple[int, float]] = []

    def report(self, value: float, step: int) -> None:
        number = real_number(value)
        if number is None or isinstance(step, bool) or not isinstance(step, int) or step < 0:
            raise InvalidArgumentError(
                f"progress.report takes a number and an int step >= 0. Got value={value!r}, "
                f"step={step!r}.")
        self.reports.append((step, number))
        self._sink(number, step)


def _ignore(value: float, step: int) -> None:
    """The sink of stage reports that have nowhere to go (inside a fidelity run)."""


class _Execution:
    """One run of the stages: computes or loads each output and keeps the records."""

    def __init__(self, pipeline: Pipeline, data: Any, data_key: str | None,
                 cache: StageCache | None, sink: Sink) -> None:
        self.pipeline, self.data, self.data_key = pipeline, data, data_key
        self.cache, self.sink = cache, sink
        self.records: list[StageRecord] = []

    def run(self, params: Sequence[dict[str, Any]],
            levels: Sequence[float] | None = None) -> Any:
        """The last stage's output. From a fidelity stage on, the stages run once per level
        (``levels``, default the fidelity's own), the objective reported after each.

        A key depends on params and upstream keys only, never on outputs, so every key is
        known before anything runs: the run starts from the deepest cached output, and the
        stages upstream of it are skipped (not even loaded)."""
        stages = self.pipeline.stages
        end = next((i for i, s in enumerate(stages) if s.fidelity is not None), len(stages))
        keys, key = [], self.data_key
        for index in range(end):
            key = stage_key(stages[index].name, stages[index].code, params[index], key)
            keys.append(key)
        value, key, first = self.data, self.data_key, 0
        resumed = self._deepest_cached(keys)
        if resumed is not None:
            first, cached, started = resumed
            for index in range(first):
                self._record(stages[index], keys[index], SKIPPED, time.perf_counter(), None, None)
            value, key = self._use(stages[first], keys[first], cached, started, self.sink)
            first += 1
        for index in range(first, end):
            value, key = self._run_stage(stages[index], value, key, params[index], self.sink)
        if end < len(stages):
            return self._run_levels(end, value, key, params, levels)
        return value

    def _deepest_cached(self, keys: Sequence[str]) -> tuple[int, CachedOutput, float] | None:
        """The deepest stage among ``keys`` whose output is cached, the output and when the
        look-up started. A stage reporting progress is never skipped (its reports must reach
        the pruner), so the search starts at the first such stage at the deepest."""
        if self.cache is None or not keys:
            return None
        stages = self.pipeline.stages
        deepest = next((i for i in range(len(keys)) if stages[i].reports_progress),
                       len(keys) - 1)
        for index in range(deepest, -1, -1):
            if stages[index].cache:
                started = time.perf_counter()
                cached = self.cache.load(keys[index])
                if cached is not None:
                    return index, cached, started
        return None

    def _use(self, stage: Stage, key: str, cached: CachedOutput, started: float,
             sink: Sink) -> tuple[Any, str]:
        """A cached output, its reports replayed to ``sink`` (which may prune)."""
        try:
            for step, reported in cached.reports:
                sink(reported, step)
        except TrialPruned:
            self._record(stage, key, PRUNED, started, cached.size, None)
            raise
        self._record(stage, key, HIT, started, cached.size, None)
        return cached.value, key

    def _run_levels(self, first: int, value: Any, key: str | None,
                    params: Sequence[dict[str, Any]], levels: Sequence[float] | None) -> Any:
        fidelity = self.pipeline.stages[first].fidelity
        assert fidelity is not None  # ``first`` is the fidelity stage
        output = None
        for level in levels or fidelity.levels:
            output, upstream = value, key
            for index in range(first, len(self.pipeline.stages)):
                stage_params = dict(params[index])
                if index == first:
                    stage_params[fidelity.param] = level
                output, upstream = self._run_stage(self.pipeline.stages[index], output, upstream,
                                                   stage_params, _ignore, level)
            self.sink(self.pipeline.objective_value(output), fidelity.step(level))
        return output

    def _run_stage(self, stage: Stage, upstream: Any, upstream_key: str | None,
                   params: dict[str, Any], sink: Sink,
                   level: float | None = None) -> tuple[Any, str]:
        key = stage_key(stage.name, stage.code, params, upstream_key)
        start = time.perf_counter()
        try:
            output, status, size = self._output(stage, key, upstream, params, sink)
        except BaseException as error:
            status = PRUNED if isinstance(error, TrialPruned) else FAILED
            self._record(stage, key, status, start, None, level)
            raise
        self._record(stage, key, status, start, size, level)
        return output, key

    def _record(self, stage: Stage, key: str, status: str, start: float, size: int | None,
                level: float | None) -> None:
        seconds = round(time.perf_counter() - start, 6)
        self.records.append(StageRecord(stage.name, key, status, seconds, size, level))

    def _output(self, stage: Stage, key: str, upstream: Any, params: dict[str, Any],
                sink: Sink) -> tuple[Any, str, int | None]:
        """The stage's output, how it was obtained (hit / miss / off) and its size."""
        cache = self.cache if stage.cache else None
        if cache is None:
            output, _ = self._compute(stage, upstream, params, sink)
            status, size = OFF, _memory_size(output)
        else:
            cached = cache.load(key)
            status = HIT
            if cached is None:
                with cache.computing(key):
                    cached = cache.load(key)  # another process may have computed it meanwhile
                    if cached is None:
                        output, reports = self._compute(stage, upstream, params, sink)
                        status, size = MISS, cache.store(key, stage.name, output, reports)
            if cached is not None:
                output, size = cached.value, cached.size
                for step, reported in cached.reports:
                    sink(reported, step)
        return output, status, size

    def _compute(self, stage: Stage, upstream: Any, params: dict[str, Any],
                 sink: Sink) -> tuple[Any, tuple[tuple[int, float], ...]]:
        args = () if upstream is NO_INPUT else (upstream,)
        kwargs = dict(params)
        progress = Progress(sink)
        if stage.reports_progress:
            kwargs[PROGRESS_ARG] = progress
        return stage.func(*args, **kwargs), tuple(progress.reports)


def _memory_size(value: Any) -> int | None:
    """Bytes a numpy array or pandas object holds, None for anything else (not worth
    pickling just to measure)."""
    if hasattr(value, "memory_usage") and hasattr(value, "shape"):
        usage = value.memory_usage(deep=True)
        return int(usage.sum() if hasattr(usage, "sum") else usage)
    nbytes = getattr(value, "nbytes", None)
    return int(nbytes) if isinstance(nbytes, int) else None


@dataclass(frozen=True)
class PipelineRun:
    """A standalone run of a pipeline: the params each stage ran with (prefixed names), the
    objective value, the last stage's output (the model), the per-stage records, the intermediate
    values reported and, from ``run_best``, the tracking run (``pipetune.Run``) holding the
    model as the artifact ``model.pkl``."""

    params: dict[str, Any]
    value: float
    output: Any
    records: tuple[StageRecord, ...]
    reports: tuple[tuple[int, float], ...]
    run: Any = None


class Pipeline:
    """An ordered list of stages; ``value`` picks the objective from the last stage's output
    (default: the output itself must be a number)."""

    def __init__(self, stages: Sequence[Stage], *,
                 value: Callable[[Any], float] | None = None) -> None:
        stages = tuple(stages)
        if not stages or not all(isinstance(s, Stage) for s in stages):
            raise InvalidArgumentError(
                "A Pipeline takes a non-empty list of stages (functions decorated with "
                f"@pipetune.pipeline.stage). Got {stages!r}.")
        names = [s.name for s in stages]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise InvalidArgumentError(
                f"Stage names must be unique in a pipeline (they prefix the params); "
                f"{duplicates} appear twice. Rename one.")
        if sum(s.fidelity is not None for s in stages) > 1:
            raise InvalidArgumentError("A pipeline may have one Fidelity stage; it has several.")
        if value is not None and not callable(value):
            raise InvalidArgumentError(
                f"Pipeline(value=...) must be a function of the last stage's output. "
                f"Got {value!r}.")
        self.stages = stages
        self._value = value

    def __repr__(self) -> str:
        return f"Pipeline([{', '.join(s.name for s in self.stages)}])"

    def objective_value(self, output: Any) -> float:
        """The objective the last stage's output stands for (NaN passes: a study records it as
        a failed trial and goes on)."""
        value = output if self._value is None else self._value(output)
        number = real_number(value)
        if number is None:
            hint = " or pass Pipeline(value=...) to pick it from the output" \
                if self._value is None else ""
            raise ObjectiveError(
                f"The pipeline's last stage {self.stages[-1].name!r} gave {value!r} as the "
                f"objective; it must be a number: return one{hint}.")
        return number

    def as_objective(self, data: Any = NO_INPUT, *,
                     cache: StageCache | str | os.PathLike[str] | bool | None = None
                     ) -> PipelineObjective:
        """An objective (a callable of the trial) running this pipeline on ``data`` (passed to
        the first stage; leave it out for a first stage that loads its own data). ``cache``:
        a ``StageCache``, a folder, None for the default folder (``$PIPETUNE_CACHE_DIR`` or
        ``./pipetune-cache``), or False to compute every stage every time."""
        return PipelineObjective(self, data, _as_cache(cache))

    def _params_for(self, values: Mapping[str, Any],
                    overrides: Mapping[str, Any]) -> list[dict[str, Any]]:
        """Each stage's params from prefixed ``values``, with ``overrides`` on top (an override
        the space does not hold is passed to the stage function as a plain argument)."""
        names = {s.name for s in self.stages}
        for name in overrides:
            if name.split(".", 1)[0] not in names or "." not in name:
                raise InvalidArgumentError(
                    f"Override {name!r} names no stage: write '<stage>.<param>' with a stage "
                    f"among {[s.name for s in self.stages]}.")
        merged = {**values, **overrides}
        params = []
        for stage in self.stages:
            stage_params, consumed = stage.replay(merged)
            for name, value in overrides.items():
                local = name[len(stage.prefix):]
                if name.startswith(stage.prefix) and local not in consumed:
                    stage_params[local] = value
            params.append(stage_params)
        return params

    def run(self, params: Mapping[str, Any], data: Any = NO_INPUT, *,
            overrides: Mapping[str, Any] | None = None,
            cache: StageCache | str | os.PathLike[str] | bool | None = None,
            on_report: Sink | None = None) -> PipelineRun:
        """Runs the pipeline once, outside any study, with ``params`` (prefixed names, e.g. a
        trial's params; each stage takes those its space makes active) and ``overrides`` on top
        (passed to the stage functions as given); ``on_report(value, step)`` receives the
        intermediate values. A fidelity stage runs at the level given for its param (default:
        its top level)."""
        store = _as_cache(cache)
        stage_params = self._params_for(params, dict(overrides or {}))
        reports: list[tuple[int, float]] = []

        def sink(value: float, step: int) -> None:
            reports.append((step, value))
            if on_report is not None:
                on_report(value, step)

        execution = _Execution(self, data, _data_key(data), store, sink)
        levels = None
        for stage, chosen in zip(self.stages, stage_params):
            if stage.fidelity is not None:
                levels = (chosen.get(stage.fidelity.param, stage.fidelity.levels[-1]),)
        output = execution.run(stage_params, levels)
        flat = {f"{stage.prefix}{name}": value for stage, chosen in zip(self.stages, stage_params)
                for name, value in chosen.items()}
        value = self.objective_value(output)
        if math.isnan(value):
            raise ObjectiveError(f"The pipeline gave NaN as the objective with params {flat}.")
        return PipelineRun(flat, value, output, tuple(execution.records), tuple(reports))

    def main(self, argv: Sequence[str] | None = None, data: Any = NO_INPUT, *,
             cache: StageCache | str | os.PathLike[str] | bool | None = None) -> int:
        """Runs the pipeline as a script for ``pipetune tune``: the params come as
        ``--<stage>.<param> VALUE`` arguments (as the launcher appends them; also any stage
        argument such as ``--train.epochs 50``), and the objective goes back through
        ``pipetune.report`` (``objective: {metric: value, reported: true}`` in the YAML), each
        intermediate value with its step. Values are read as JSON where they parse (``64``,
        ``0.01``, ``true``), else as strings. Returns the exit code (0)."""
        from pipetune.reporting import report

        args = list(sys.argv[1:] if argv is None else argv)
        if len(args) % 2 or not all(name.startswith("--") for name in args[::2]):
            raise InvalidArgumentError(
                f"A pipeline script takes '--<stage>.<param> VALUE' pairs. Got {args!r}.")
        params = {name[2:]: _parse_argument(value) for name, value in zip(args[::2], args[1::2])}

        def on_report(value: float, step: int) -> None:
            print(f"step={step} value={value}", flush=True)
            report(step=step, value=value)

        result = self.run({}, data, overrides=params, cache=cache, on_report=on_report)
        print(f"value={result.value}", flush=True)
        report(value=result.value)
        return 0

    def run_best(self, study: Study, overrides: Mapping[str, Any] | None = None,
                 data: Any = NO_INPUT, *,
                 cache: StageCache | str | os.PathLike[str] | bool | None = None,
                 experiment: str | None = None, run_name: str | None = None) -> PipelineRun:
        """Re-runs the study's best trial to completion as a standalone tracked run
        (``pipetune.start_run``, in the study's experiment unless ``experiment`` is given,
        listed under the study): its params with ``overrides`` on top
        (``{"prepare.fraction": 1.0, "train.epochs": 50}``: full data, more epochs), the
        fidelity stage at its top level. The run records the params as the trial did (same
        names, same domains, so the two compare side by side) with the overrides on top, the
        intermediate values as the metric ``intermediate_value``, the objective as its value,
        the per-stage records, and the last stage's output (the model) pickled as the artifact
        ``model.pkl``; ``PipelineRun.run`` is its handle."""
        from pipetune.tracking.runs import start_run

        best = study.best_trial
        overrides = dict(overrides or {})
        if experiment is None:
            experiment = experiment_of(study.system_attrs)
        name = run_name or f"{study.study_name}-best-{uuid.uuid4().hex[:8]}"
        with start_run(experiment=experiment, name=name, storage=study.run_interface.storage,
                       directions=study.directions, parent=study.study_name) as tracked:
            result = self.run(best.params, data, overrides=overrides, cache=cache,
                              on_report=lambda value, step: tracked.log_metric(
                                  "intermediate_value", value, step=step))
            # The trial's names, not the stage functions' arguments (a define-by-run space
            # may return its suggestions under other names, or as one list).
            for param, value in best.params.items():
                if param not in overrides:
                    tracked.log_param(param, value, best.distributions[param])
            for param, value in overrides.items():
                if value is None or isinstance(value, (bool, str, int, float)):
                    tracked.log_param(param, value)
                else:
                    tracked.set_user_attr(param, repr(value))
            tracked.set_user_attr("best_trial", best.number)
            tracked.set_user_attr(PIPELINE_STAGES_ATTR, [r.to_dict() for r in result.records])
            with tempfile.TemporaryDirectory() as folder:
                path = os.path.join(folder, MODEL_ARTIFACT)
                with open(path, "wb") as file:
                    pickle.dump(result.output, file, protocol=pickle.HIGHEST_PROTOCOL)
                tracked.log_artifact(path, MODEL_ARTIFACT)
            tracked.end(value=result.value)
        return replace(result, run=tracked)


def _parse_argument(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return {"True": True, "False": False, "None": None}.get(text, text)


def _as_cache(cache: Any) -> StageCache | None:
    if cache is False:
        return None
    if cache is None or cache is True:
        return StageCache()
    if isinstance(cache, StageCache):
        return cache
    if isinstance(cache, (str, os.PathLike)):
        return StageCache(cache)
    raise InvalidArgumentError(
        f"cache must be a StageCache, a folder, None (the default folder) or False (no cache). "
        f"Got {cache!r}.")


def _data_key(data: Any) -> str | None:
    return None if data is NO_INPUT else data_fingerprint(data)


class PipelineObjective:
    """``Pipeline.as_objective()``: call it with a trial; it returns the objective value."""

    def __init__(self, pipeline: Pipeline, data: Any, cache: StageCache | None) -> None:
        self.pipeline = pipeline
        self.data = data
        self.cache = cache
        self._data_key = _data_key(data)  # hashed once, not per trial

    def __repr__(self) -> str:
        return f"<PipelineObjective of {self.pipeline!r}, cache={self.cache!r}>"

    def __call__(self, trial: Trial) -> float:
        params = [stage.suggest(trial) for stage in self.pipeline.stages]

        def sink(value: float, step: int) -> None:
            trial.report(value, step)
            if trial.should_prune():
                raise TrialPruned(f"pruned at step {step}")

        execution = _Execution(self.pipeline, self.data, self._data_key, self.cache, sink)
        try:
            output = execution.run(params)
        finally:
            trial.set_system_attr(PIPELINE_STAGES_ATTR, [r.to_dict() for r in execution.records])
        return self.pipeline.objective_value(output)
