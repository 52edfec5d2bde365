"""``TuneCrossValidator``: Spark MLlib's ``CrossValidator``, run by a pipetune study.

A drop-in for ``pyspark.ml.tuning.CrossValidator`` (same constructor names, same ``fit``): it
tunes any ``pyspark.ml`` estimator, a ``Pipeline`` included, and returns a
``TuneCrossValidatorModel`` holding the best configuration refit on the whole dataset. The search
space is either a ``ParamGridBuilder`` grid, searched as a grid (every point once, by default),
or a mapping of Spark ``Param`` -> pipetune distribution, list of choices or YAML-style settings,
searched by a pipetune sampler (TPE by default). Each configuration is one trial of the study,
scored by k-fold cross-validation with the evaluator; the folds are the pruning steps (the
running mean metric is reported after each fold), so a pruner drops a configuration that does
badly on its first folds without fitting the others. The design follows
``pipetune.integrations.sklearn.TuneSearchCV``: the same pipetune settings (``n_trials``,
``sampler``, ``pruner``, ``storage``, ``study_name``, ``timeout``) and the same trial records
(``fold_scores``, ``fit_times``, ``score_times`` user attributes).

A param is recorded in the study as ``<StageClass>.<param>`` (``LogisticRegression.regParam``),
or ``<StageClass>_<k>.<param>`` for the k-th of several stages of one class: these names, unlike
Spark's uids, stay the same from one session to the next, so a stored study can be resumed.
"""

from __future__ import annotations

import math
import numbers
import time
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from pipetune._imports import require
from pipetune.errors import ArgumentTypeError, InvalidArgumentError, TrialPruned
from pipetune.pipeline.stage import as_search_space
from pipetune.space import SearchSpace

require("pyspark", "spark")

from pyspark.ml import Estimator, Model  # noqa: E402
from pyspark.ml.evaluation import Evaluator  # noqa: E402
from pyspark.ml.param import Param, Params, TypeConverters  # noqa: E402
from pyspark.ml.param.shared import HasParallelism, HasSeed  # noqa: E402
from pyspark.sql import DataFrame  # noqa: E402
from pyspark.sql import functions as F  # noqa: E402
from pyspark.sql.types import IntegralType  # noqa: E402

if TYPE_CHECKING:
    from pipetune.datatypes import FrozenTrial
    from pipetune.samplers.base import BaseSampler
    from pipetune.study import Study
    from pipetune.trial import Trial

__all__ = ["TuneCrossValidator", "TuneCrossValidatorModel"]

DEFAULT_N_TRIALS = 10  # for a pipetune space; a grid defaults to its size
_FOLD_COLUMN = "_pipetune_fold"  # the fold of each row, when the user gives no foldCol


class _TuneParams(HasSeed, HasParallelism):
    """The Spark params of the tuner and of its model, named as ``CrossValidator`` names them."""

    estimator: Param = Param(Params._dummy(), "estimator",
                             "the estimator (a Pipeline, say) whose params are tuned")
    estimatorParamMaps: Param = Param(
        Params._dummy(), "estimatorParamMaps",
        "the search space: a ParamGridBuilder grid (list of param maps), or a dict of "
        "Param -> pipetune distribution, list of choices or settings mapping; on the model, the "
        "param maps of the completed trials, in the order of avgMetrics")
    evaluator: Param = Param(Params._dummy(), "evaluator",
                             "the evaluator scoring each fold; its isLargerBetter() sets the "
                             "direction of the study")
    numFolds: Param = Param(Params._dummy(), "numFolds", "number of folds (at least 2)",
                            typeConverter=TypeConverters.toInt)
    foldCol: Param = Param(Params._dummy(), "foldCol",
                           "an integer column of the dataset giving each row's fold "
                           "(0 .. numFolds-1); empty: folds drawn at random with the seed",
                           typeConverter=TypeConverters.toString)

    def getEstimator(self) -> Any:
        return self.getOrDefault(self.estimator)

    def getEstimatorParamMaps(self) -> Any:
        return self.getOrDefault(self.estimatorParamMaps)

    def getEvaluator(self) -> Any:
        return self.getOrDefault(self.evaluator)

    def getNumFolds(self) -> int:
        return int(self.getOrDefault(self.numFolds))

    def getFoldCol(self) -> str:
        return str(self.getOrDefault(self.foldCol))


# -- naming the params of an estimator --------------------------------------------------------

def _stages(estimator: Params) -> list[Params]:
    """The estimator and every stage nested in it (a Pipeline's stages, a OneVsRest's
    classifier ...), depth first in pipeline order."""
    found: list[Params] = []

    def walk(stage: Params) -> None:
        if any(stage is seen for seen in found):
            return
        found.append(stage)
        for param in stage.params:
            if not stage.isDefined(param):
                continue
            value = stage.getOrDefault(param)
            values = value if isinstance(value, (list, tuple)) else [value]
            for each in values:
                if isinstance(each, Params) and not isinstance(each, Evaluator):
                    walk(each)

    walk(estimator)
    return found


def _param_table(estimator: Params) -> dict[str, Param]:
    """Every param of every stage of ``estimator`` under its study name (module docstring)."""
    stages = _stages(estimator)
    counts: dict[str, int] = {}
    for stage in stages:
        counts[type(stage).__name__] = counts.get(type(stage).__name__, 0) + 1
    seen: dict[str, int] = {}
    table: dict[str, Param] = {}
    for stage in stages:
        kind = type(stage).__name__
        seen[kind] = seen.get(kind, 0) + 1
        prefix = kind if counts[kind] == 1 else f"{kind}_{seen[kind]}"
        for param in stage.params:
            table[f"{prefix}.{param.name}"] = param
    return table


def _name_of(param: Any, names: Mapping[tuple[str, str], str], owner: str) -> str:
    if not isinstance(param, Param):
        raise ArgumentTypeError(
            f"The keys of {owner} must be Spark params (lr.regParam) or their study names "
            f"('LogisticRegression.regParam'). Got {param!r}.")
    name = names.get((str(param.parent), param.name))
    if name is None:
        raise InvalidArgumentError(
            f"{owner} tunes {param.parent}__{param.name}, a param of no stage of the estimator: "
            "tune the params of the estimator's own stages (the objects in its Pipeline), not "
            "of copies or of other estimators.")
    return name


# -- the search space -------------------------------------------------------------------------

class _Space:
    """What a search space given to the tuner becomes: the pipetune ``SearchSpace`` the trials
    suggest from, the Spark param of each of its names, and for a grid its distinct points."""

    def __init__(self, space: SearchSpace, params: dict[str, Param],
                 grid: list[dict[str, Any]] | None = None) -> None:
        self.space = space
        self.params = params
        self.grid = grid

    def param_map(self, values: Mapping[str, Any]) -> dict[Param, Any]:
        """Spark's ParamMap of a trial's params (a helper param such as ``__gap`` is not
        a Spark param and is left out)."""
        return {self.params[name]: value for name, value in values.items()
                if name in self.params}

    def axes(self) -> dict[str, list[Any]]:
        """Each grid param's distinct values, in the order the grid first gives them."""
        return _axes(self.grid or [])

    @property
    def is_product(self) -> bool:
        """Whether the grid holds every combination of its params' values (what
        ParamGridBuilder builds), so a GridSampler over the axes visits exactly the grid."""
        return self.grid is not None and \
            math.prod(len(values) for values in self.axes().values()) == len(self.grid)


def _same(a: Any, b: Any) -> bool:
    """Equal as a study stores values: True is not 1."""
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    return bool(a == b)


def _axes(points: Sequence[Mapping[str, Any]]) -> dict[str, list[Any]]:
    axes: dict[str, list[Any]] = {}
    for point in points:
        for name, value in point.items():
            values = axes.setdefault(name, [])
            if not any(_same(value, other) for other in values):
                values.append(value)
    return axes


def _grid_space(grid: Sequence[Any], estimator: Params, table: dict[str, Param]) -> _Space:
    names = {(str(p.parent), p.name): name for name, p in table.items()}
    owner = "TuneCrossValidator's estimatorParamMaps"
    points: list[dict[str, Any]] = []
    for index, point in enumerate(grid):
        if not isinstance(point, Mapping) or not point:
            raise ArgumentTypeError(
                f"{owner} is a grid, so each of its items must be a non-empty param map "
                f"(dict of Param -> value, as ParamGridBuilder().build() gives). Item {index} is "
                f"{point!r}.")
        points.append({_name_of(param, names, owner): value for param, value in point.items()})
    used = sorted({name for point in points for name in point})
    stages = {stage.uid: stage for stage in _stages(estimator)}
    for name in used:
        param = table[name]
        stage = stages[str(param.parent)]
        for point in points:
            # A map that leaves out a param others set means the estimator's own value.
            if name not in point:
                if not stage.isDefined(param):
                    raise InvalidArgumentError(
                        f"{owner}: some param maps set {name} and others do not, and the "
                        "estimator has no value for it: set it in every param map.")
                point[name] = stage.getOrDefault(param)
            value = point[name]
            if value is not None and not isinstance(value, (bool, int, float, str)):
                raise InvalidArgumentError(
                    f"{owner}: the value {value!r} of {name} is not a str, int, float, bool or "
                    "None, so a study cannot record it. Tune such a param in a Python objective "
                    "with study.optimize, choosing the object by name.")
    unique: list[dict[str, Any]] = []
    for point in points:
        if not any(all(_same(point[n], other[n]) for n in used) for other in unique):
            unique.append(point)
    return _Space(_as_space(owner, _axes(unique)), {name: table[name] for name in used}, unique)


def _mapping_space(space: Mapping[Any, Any], table: dict[str, Param]) -> _Space:
    names = {(str(p.parent), p.name): name for name, p in table.items()}
    owner = "TuneCrossValidator's estimatorParamMaps"
    by_name: dict[str, Any] = {}
    for key, domain in space.items():
        if isinstance(key, str):
            if key not in table:
                close = sorted(name for name in table if name.endswith("." + key.split(".")[-1]))
                raise InvalidArgumentError(
                    f"{owner} names {key!r}, a param of no stage of the estimator. Use a Spark "
                    f"param (lr.regParam) or a study name such as "
                    f"{close[:3] or sorted(table)[:3]}.")
            by_name[key] = domain
        else:
            by_name[_name_of(key, names, owner)] = domain
    searched = _as_space(owner, by_name)
    return _Space(searched, {name: table[name] for name in searched.names if name in table})


def _as_space(owner: str, space: Mapping[str, Any]) -> SearchSpace:
    converted = as_search_space(owner, space)
    assert isinstance(converted, SearchSpace)  # a mapping always gives a SearchSpace
    return converted


# -- the tuner --------------------------------------------------------------------------------

class TuneCrossValidator(Estimator, _TuneParams):
    """Searches ``estimatorParamMaps`` for ``estimator`` over the trials of a pipetune study,
    scoring each configuration by ``numFolds``-fold cross-validation with ``evaluator``.

    The Spark params are ``CrossValidator``'s: ``estimator``, ``estimatorParamMaps`` (a
    ParamGridBuilder grid, or a dict of Param -> pipetune distribution, list of choices or
    settings mapping), ``evaluator`` (``isLargerBetter()`` sets the direction), ``numFolds``
    (default 3), ``foldCol``, ``seed`` (folds and the default sampler) and ``parallelism``
    (trials run at once in threads). The pipetune settings are ``TuneSearchCV``'s: ``n_trials``
    (default: the grid's size, or 10 for a pipetune space), ``sampler`` (default: a
    ``GridSampler`` over a grid, else ``TPESampler``; a grid that is no product of its values,
    such as two grids joined with ``+``, runs its points as enqueued trials), ``pruner``
    (default none; it sees the running mean metric after each fold), ``storage`` /
    ``study_name`` (default: in memory) and ``timeout`` (seconds). ``fit(dataset)`` returns a
    ``TuneCrossValidatorModel``.
    """

    def __init__(self, *, estimator: Any = None, estimatorParamMaps: Any = None,
                 evaluator: Any = None, numFolds: int = 3, seed: int | None = None,
                 parallelism: int = 1, foldCol: str = "", n_trials: int | None = None,
                 sampler: BaseSampler | None = None, pruner: Any = None, storage: Any = None,
                 study_name: str | None = None, timeout: float | None = None) -> None:
        super().__init__()
        self._setDefault(numFolds=3, parallelism=1, foldCol="")
        spark_params = {"estimator": estimator, "estimatorParamMaps": estimatorParamMaps,
                        "evaluator": evaluator, "numFolds": numFolds, "seed": seed,
                        "parallelism": parallelism, "foldCol": foldCol}
        self._set(**{name: value for name, value in spark_params.items() if value is not None})
        self.n_trials = n_trials
        self.sampler = sampler
        self.pruner = pruner
        self.storage = storage
        self.study_name = study_name
        self.timeout = timeout

    def setEstimator(self, value: Any) -> TuneCrossValidator:
        return self._set(estimator=value)

    def setEstimatorParamMaps(self, value: Any) -> TuneCrossValidator:
        return self._set(estimatorParamMaps=value)

    def setEvaluator(self, value: Any) -> TuneCrossValidator:
        return self._set(evaluator=value)

    def setNumFolds(self, value: int) -> TuneCrossValidator:
        return self._set(numFolds=value)

    def setFoldCol(self, value: str) -> TuneCrossValidator:
        return self._set(foldCol=value)

    def setSeed(self, value: int) -> TuneCrossValidator:
        return self._set(seed=value)

    def setParallelism(self, value: int) -> TuneCrossValidator:
        return self._set(parallelism=value)

    # -- checking the inputs -------------------------------------------------------------------

    def _required(self, name: str, kind: type, example: str) -> Any:
        value = self.getOrDefault(getattr(self, name)) if self.isDefined(
            getattr(self, name)) else None
        if not isinstance(value, kind):
            raise ArgumentTypeError(
                f"The '{name}' param of TuneCrossValidator must be a pyspark.ml "
                f"{kind.__name__}, e.g. {example}. Got {value!r}.")
        return value

    def _check_space(self, estimator: Params) -> _Space:
        given = self.getEstimatorParamMaps() if self.isDefined(self.estimatorParamMaps) \
            else None
        table = _param_table(estimator)
        if isinstance(given, Mapping) and given:
            return _mapping_space(given, table)
        if isinstance(given, Sequence) and not isinstance(given, (str, bytes)) and given:
            return _grid_space(given, estimator, table)
        raise ArgumentTypeError(
            "The 'estimatorParamMaps' param of TuneCrossValidator must be a non-empty "
            "ParamGridBuilder grid (ParamGridBuilder().addGrid(lr.regParam, [0.01, 0.1])"
            ".build()) or a non-empty dict of Param -> pipetune distribution or list of "
            f"choices ({{lr.regParam: FloatDistribution(1e-4, 1.0, log=True)}}). Got {given!r}.")

    def _check_numbers(self) -> tuple[int, int]:
        folds = self.getNumFolds()
        if folds < 2:
            raise InvalidArgumentError(
                f"The 'numFolds' param of TuneCrossValidator must be at least 2. Got {folds}.")
        parallelism = int(self.getOrDefault(self.parallelism))
        if parallelism < 1:
            raise InvalidArgumentError(
                "The 'parallelism' param of TuneCrossValidator must be a positive int. "
                f"Got {parallelism}.")
        if self.n_trials is not None and (isinstance(self.n_trials, bool) or not isinstance(
                self.n_trials, numbers.Integral) or self.n_trials < 1):
            raise InvalidArgumentError(
                "The 'n_trials' argument of TuneCrossValidator must be a positive int or None "
                f"(the grid's size). Got {self.n_trials!r}.")
        return folds, parallelism

    def _folded(self, dataset: DataFrame, folds: int) -> tuple[DataFrame, str]:
        """The dataset with each row's fold in a column (the user's ``foldCol``, checked, or
        one drawn at random with the seed), and that column's name."""
        fold_col = self.getFoldCol()
        if not fold_col:
            column = F.floor(F.rand(self.getSeed()) * folds).cast("int")
            return dataset.withColumn(_FOLD_COLUMN, column), _FOLD_COLUMN
        if fold_col not in dataset.columns:
            raise InvalidArgumentError(
                f"The foldCol {fold_col!r} of TuneCrossValidator is not a column of the "
                f"dataset, whose columns are {dataset.columns}.")
        kind = dataset.schema[fold_col].dataType
        if not isinstance(kind, IntegralType):
            raise InvalidArgumentError(
                f"The foldCol {fold_col!r} of TuneCrossValidator must be an integer column. "
                f"It is {kind.simpleString()}: cast it (F.col({fold_col!r}).cast('int')).")
        bounds = dataset.agg(F.min(fold_col), F.max(fold_col)).first()
        low, high = (None, None) if bounds is None else (bounds[0], bounds[1])
        if low is None or high is None or low < 0 or high >= folds:
            raise InvalidArgumentError(
                f"The foldCol {fold_col!r} must hold whole numbers from 0 to numFolds-1 = "
                f"{folds - 1}. It holds values from {low} to {high}.")
        return dataset, fold_col

    # -- the search ----------------------------------------------------------------------------

    def _study(self, space: _Space, evaluator: Evaluator) -> Study:
        from pipetune.samplers import GridSampler, TPESampler
        from pipetune.study import create_study

        seed = self.getSeed() % 2**32
        sampler = self.sampler
        if sampler is None:
            sampler = GridSampler(space.axes(), seed=seed) if space.grid is not None \
                else TPESampler(seed=seed)
        direction = "maximize" if evaluator.isLargerBetter() else "minimize"
        return create_study(storage=self.storage, sampler=sampler, pruner=self.pruner,
                            study_name=self.study_name, direction=direction,
                            load_if_exists=self.study_name is not None)

    def _fit(self, dataset: DataFrame) -> TuneCrossValidatorModel:
        """Runs the search on ``dataset`` and fits the best configuration on all of it."""
        estimator = self._required("estimator", Estimator,
                                   "Pipeline(stages=[assembler, LogisticRegression()])")
        evaluator = self._required("evaluator", Evaluator, "BinaryClassificationEvaluator()")
        space = self._check_space(estimator)
        folds, parallelism = self._check_numbers()
        folded, fold_col = self._folded(dataset, folds)
        # Every trial fits on the same folds: cache them (as CrossValidator does), and the
        # rows with their random fold first, so that each fold's rows are drawn once.
        folded = folded.persist()
        splits = []
        for fold in range(folds):
            train = folded.filter(F.col(fold_col) != fold)
            validation = folded.filter(F.col(fold_col) == fold)
            if fold_col == _FOLD_COLUMN:
                train, validation = train.drop(fold_col), validation.drop(fold_col)
            splits.append((train.persist(), validation.persist()))
        study = self._study(space, evaluator)
        n_trials = self.n_trials
        if space.grid is not None:
            if not space.is_product:
                # Grids joined by hand are no product of their axes: run exactly their points.
                for point in space.grid:
                    study.enqueue_trial(point, skip_if_exists=True)
            n_trials = n_trials or len(space.grid)
        elif n_trials is None:
            n_trials = DEFAULT_N_TRIALS

        def objective(trial: Trial) -> float:
            param_map = space.param_map(space.space.suggest(trial))
            scores: list[float] = []
            fit_times: list[float] = []
            score_times: list[float] = []
            for fold, (train, validation) in enumerate(splits):
                started = time.perf_counter()
                model = estimator.fit(train, param_map)
                fit_times.append(time.perf_counter() - started)
                started = time.perf_counter()
                scores.append(float(evaluator.evaluate(model.transform(validation))))
                score_times.append(time.perf_counter() - started)
                trial.set_user_attr("fold_scores", scores)
                trial.set_user_attr("fit_times", fit_times)
                trial.set_user_attr("score_times", score_times)
                trial.report(float(np.mean(scores)), fold)
                if fold < folds - 1 and trial.should_prune():
                    raise TrialPruned(f"pruned after fold {fold}")
            return float(np.mean(scores))

        try:
            study.optimize(objective, n_trials=n_trials, timeout=self.timeout,
                           n_jobs=parallelism)
        finally:
            for frame in (folded, *(part for split in splits for part in split)):
                frame.unpersist()
        return self._model(study, space, estimator, evaluator, dataset)

    def _model(self, study: Study, space: _Space, estimator: Estimator, evaluator: Evaluator,
               dataset: DataFrame) -> TuneCrossValidatorModel:
        from pipetune.datatypes import TrialState

        complete = [t for t in study.trials if t.state == TrialState.COMPLETE]
        if not complete:
            raise InvalidArgumentError(
                "No TuneCrossValidator trial completed (every one was pruned, failed or ran out "
                "of time), so there is no best configuration: run more trials, or loosen the "
                "pruner.")
        fold_metrics = [[float(v) for v in t.user_attrs.get("fold_scores", [])]
                        for t in complete]
        # A complete trial's value is the mean of its fold metrics.
        avg = [math.nan if t.value is None else float(t.value) for t in complete]
        std = [float(np.std(scores)) if scores else math.nan for scores in fold_metrics]
        best = int((np.argmax if evaluator.isLargerBetter() else np.argmin)(avg))
        param_maps = [space.param_map(t.params) for t in complete]
        best_model = estimator.fit(dataset, param_maps[best])
        model = TuneCrossValidatorModel(
            bestModel=best_model, avgMetrics=avg, stdMetrics=std, foldMetrics=fold_metrics,
            bestIndex=best,
            bestParams={n: v for n, v in complete[best].params.items() if n in space.params},
            study=study, trials=study.trials)
        self._copyValues(model)
        model._set(estimatorParamMaps=param_maps)
        return model


class TuneCrossValidatorModel(Model, _TuneParams):
    """What ``TuneCrossValidator.fit`` returns: ``bestModel`` (the best configuration fit on the
    whole dataset; ``transform`` uses it), ``avgMetrics`` / ``stdMetrics`` / ``foldMetrics``
    (one entry per completed trial, in trial order, matching ``getEstimatorParamMaps()``, so
    ``getEstimatorParamMaps()[bestIndex]`` is the best param map), ``bestParams`` (the best
    trial's params under their study names), ``study`` and ``trials`` (every trial, pruned
    ones included)."""

    def __init__(self, *, bestModel: Any, avgMetrics: list[float], stdMetrics: list[float],
                 foldMetrics: list[list[float]], bestIndex: int, bestParams: dict[str, Any],
                 study: Any, trials: list[FrozenTrial]) -> None:
        super().__init__()
        self.bestModel = bestModel
        self.avgMetrics = avgMetrics
        self.stdMetrics = stdMetrics
        self.foldMetrics = foldMetrics
        self.bestIndex = bestIndex
        self.bestParams = bestParams
        self.study = study
        self.trials = trials

    @property
    def bestMetric(self) -> float:
        """The best configuration's mean metric over the folds."""
        return self.avgMetrics[self.bestIndex]

    def _transform(self, dataset: DataFrame) -> DataFrame:
        return self.bestModel.transform(dataset)

    def copy(self, extra: Any = None) -> TuneCrossValidatorModel:
        """A copy with ``extra`` params applied to it and to its best model."""
        copied = super().copy(extra)
        copied.bestModel = self.bestModel.copy(extra or {})
        return copied
