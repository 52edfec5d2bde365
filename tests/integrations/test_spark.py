"""TuneCrossValidator: a pyspark.ml pipeline tuned by a pipetune study on a real local Spark."""

from __future__ import annotations

import numpy as np
import pytest
from availability import require_installed
from local_spark import require_spark, spark_session

require_spark()
require_installed("sklearn", extra="sklearn")

from pyspark.ml import Pipeline, PipelineModel  # noqa: E402
from pyspark.ml.classification import LogisticRegression  # noqa: E402
from pyspark.ml.evaluation import (  # noqa: E402
    BinaryClassificationEvaluator,
    MulticlassClassificationEvaluator,
)
from pyspark.ml.feature import VectorAssembler  # noqa: E402
from pyspark.ml.tuning import ParamGridBuilder  # noqa: E402
from pyspark.sql import functions as F  # noqa: E402
from sklearn.datasets import load_breast_cancer  # noqa: E402

import pipetune  # noqa: E402
from pipetune import StudyDirection, TrialState  # noqa: E402
from pipetune.errors import ArgumentTypeError, InvalidArgumentError  # noqa: E402
from pipetune.integrations.spark import TuneCrossValidator, TuneCrossValidatorModel  # noqa: E402

FEATURES = ["radius", "texture", "smoothness", "concave_points"]
REG = "LogisticRegression.regParam"
NET = "LogisticRegression.elasticNetParam"


@pytest.fixture(scope="module")
def cancer():
    """569 rows, 4 features of scikit-learn's breast cancer data, and the 0/1 label."""
    data = load_breast_cancer()
    features = data.data[:, [0, 1, 4, 7]]
    rows = [(*map(float, row), float(label)) for row, label in zip(features, data.target)]
    # One partition: a fit is a few dozen tiny Spark jobs, and each task costs more than its rows.
    frame = spark_session().createDataFrame(rows, [*FEATURES, "label"]).coalesce(1).cache()
    frame.count()
    yield frame
    frame.unpersist()


def make_pipeline() -> tuple[Pipeline, LogisticRegression]:
    lr = LogisticRegression(maxIter=10)
    return Pipeline(stages=[VectorAssembler(inputCols=FEATURES, outputCol="features"), lr]), lr


def test_tunes_a_pipeline_over_a_pipetune_space_and_records_each_trial(cancer, tmp_path):
    pipeline, lr = make_pipeline()
    storage = f"sqlite:///{tmp_path / 'spark.db'}"
    tuner = TuneCrossValidator(
        estimator=pipeline, evaluator=BinaryClassificationEvaluator(),
        estimatorParamMaps={lr.regParam: pipetune.FloatDistribution(1e-4, 1.0, log=True),
                            lr.elasticNetParam: [0.0, 1.0]},
        numFolds=2, seed=7, n_trials=3, storage=storage, study_name="cancer")
    model = tuner.fit(cancer)

    assert isinstance(model, TuneCrossValidatorModel)
    assert isinstance(model.bestModel, PipelineModel)
    best_lr = model.bestModel.stages[-1]
    assert model.bestParams == {REG: best_lr.getRegParam(), NET: best_lr.getElasticNetParam()}
    assert len(model.avgMetrics) == len(model.stdMetrics) == len(model.foldMetrics) == 3
    assert model.bestMetric == max(model.avgMetrics) > 0.9
    # Spark's idiom: the param maps line up with avgMetrics.
    best_map = model.getEstimatorParamMaps()[int(np.argmax(model.avgMetrics))]
    assert best_map == {lr.regParam: model.bestParams[REG], lr.elasticNetParam:
                        model.bestParams[NET]}
    assert model.getNumFolds() == 2 and model.getEvaluator().getMetricName() == "areaUnderROC"
    predictions = model.transform(cancer)
    assert BinaryClassificationEvaluator().evaluate(predictions) > 0.9

    study = pipetune.load_study(study_name="cancer", storage=storage)
    assert study.direction == StudyDirection.MAXIMIZE
    trials = study.trials
    assert [t.state for t in trials] == [TrialState.COMPLETE] * 3
    for trial, folds, mean in zip(trials, model.foldMetrics, model.avgMetrics):
        assert set(trial.params) == {REG, NET}
        assert trial.user_attrs["fold_scores"] == pytest.approx(folds)
        assert len(trial.user_attrs["fit_times"]) == len(trial.user_attrs["score_times"]) == 2
        assert trial.value == pytest.approx(mean) == pytest.approx(np.mean(folds))
        assert sorted(trial.intermediate_values) == [0, 1]
        assert trial.intermediate_values[0] == pytest.approx(folds[0])
        assert trial.intermediate_values[1] == pytest.approx(mean)


def test_a_param_grid_is_tried_exhaustively_in_the_evaluators_direction(cancer):
    pipeline, lr = make_pipeline()
    grid = (ParamGridBuilder().addGrid(lr.regParam, [0.01, 1.0])
            .addGrid(lr.elasticNetParam, [0.0, 1.0]).build())
    log_loss = MulticlassClassificationEvaluator(metricName="logLoss")  # smaller is better
    model = TuneCrossValidator(estimator=pipeline, estimatorParamMaps=grid, evaluator=log_loss,
                               numFolds=2, seed=3).fit(cancer)
    tried = model.getEstimatorParamMaps()
    assert len(tried) == 4 and all(point in tried for point in grid)
    assert model.study.direction == StudyDirection.MINIMIZE
    assert model.bestMetric == min(model.avgMetrics)
    assert model.bestParams[REG] == 0.01

    # Grids joined by hand are no product of their values: exactly their points run, a param a
    # map leaves out taking the estimator's value.
    joined = (ParamGridBuilder().addGrid(lr.regParam, [0.5]).build()
              + ParamGridBuilder().addGrid(lr.maxIter, [5]).build())
    model = TuneCrossValidator(estimator=pipeline, estimatorParamMaps=joined,
                               evaluator=log_loss, numFolds=2).fit(cancer)
    assert model.getEstimatorParamMaps() == [{lr.regParam: 0.5, lr.maxIter: 10},
                                             {lr.regParam: 0.0, lr.maxIter: 5}]


def test_a_pruner_stops_bad_configurations_after_a_fold(cancer):
    pipeline, lr = make_pipeline()
    # With an L1 penalty this strong every coefficient is 0: AUC 0.5 on every fold.
    grid = (ParamGridBuilder().addGrid(lr.regParam, [0.001, 0.01, 5.0, 10.0])
            .baseOn({lr.elasticNetParam: 1.0}).build())
    # Folds given by a column (foldCol) instead of drawn at random.
    folded = cancer.withColumn("fold", (F.monotonically_increasing_id() % 2).cast("int"))
    model = TuneCrossValidator(
        estimator=pipeline, estimatorParamMaps=grid, evaluator=BinaryClassificationEvaluator(),
        numFolds=2, foldCol="fold", seed=0,
        pruner=pipetune.pruners.MedianPruner(n_startup_trials=2)).fit(folded)
    pruned = [t for t in model.trials if t.state == TrialState.PRUNED]
    assert pruned
    for trial in pruned:
        assert trial.params[REG] >= 5.0
        assert list(trial.intermediate_values) == [0]
        assert len(trial.user_attrs["fold_scores"]) == 1
    assert len(model.avgMetrics) == len(model.trials) - len(pruned) == 4 - len(pruned)
    assert model.bestParams[REG] < 1.0


def test_bad_inputs_give_clear_errors(cancer):
    pipeline, lr = make_pipeline()

    def fit(**settings):
        given = {"estimator": pipeline, "estimatorParamMaps": {lr.regParam: [0.1]},
                 "evaluator": BinaryClassificationEvaluator(), "n_trials": 1, **settings}
        return TuneCrossValidator(**given).fit(cancer)

    with pytest.raises(ArgumentTypeError, match="'estimator' param .* pyspark.ml Estimator"):
        fit(estimator="lr")
    with pytest.raises(ArgumentTypeError, match="'evaluator' param .* Got None"):
        fit(evaluator=None)
    with pytest.raises(ArgumentTypeError, match="'estimatorParamMaps' .* ParamGridBuilder"):
        fit(estimatorParamMaps=[])
    other = LogisticRegression()
    with pytest.raises(InvalidArgumentError, match="no stage of the estimator"):
        fit(estimatorParamMaps={other.regParam: [0.1]})
    with pytest.raises(InvalidArgumentError, match=REG):
        fit(estimatorParamMaps={"regParam": [0.1]})
    with pytest.raises(InvalidArgumentError, match="thresholds"):
        fit(estimatorParamMaps=[{lr.thresholds: [0.4, 0.6]}])
    with pytest.raises(InvalidArgumentError, match="'numFolds' .* at least 2"):
        fit(numFolds=1)
    with pytest.raises(InvalidArgumentError, match="'n_trials'"):
        fit(n_trials=0)
    with pytest.raises(InvalidArgumentError, match="'nope' .* not a column"):
        fit(foldCol="nope")
    with_folds = TuneCrossValidator(estimator=pipeline, estimatorParamMaps={lr.regParam: [0.1]},
                                    evaluator=BinaryClassificationEvaluator(), foldCol="fold")
    with pytest.raises(InvalidArgumentError, match="0 to numFolds-1 = 2.*from 3 to 3"):
        with_folds.fit(cancer.withColumn("fold", F.lit(3)))
    with pytest.raises(InvalidArgumentError, match="'fold' .* integer column.*string"):
        with_folds.fit(cancer.withColumn("fold", F.lit("a")))
