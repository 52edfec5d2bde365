"""Pipelines tuned stage by stage, with cached stage outputs.

::

    from pipetune.pipeline import Pipeline, stage

    @stage(space={"missing": ["drop", "mean"]})
    def prepare(raw, missing): ...

    @stage(space=lambda t: {"bins": t.suggest_categorical("bins", [64, 128])})
    def features(frame, bins): ...

    @stage(space=train_space)
    def train(table, lr, epochs=10, progress=None): ...   # progress.report(rmse, epoch)

    pipeline = Pipeline([prepare, features, train])
    study.optimize(pipeline.as_objective(raw), n_trials=60, n_jobs=2)
    pipeline.run_best(study, overrides={"train.epochs": 50}, data=raw)
"""

from pipetune.pipeline.cache import CacheInfo, StageCache, default_cache_dir
from pipetune.pipeline.pipeline import (
    Pipeline,
    PipelineObjective,
    PipelineRun,
    Progress,
    StageRecord,
    cache_hit_rate,
    stage_records,
)
from pipetune.pipeline.stage import Fidelity, Stage, StageTrial, stage

__all__ = [
    "CacheInfo",
    "Fidelity",
    "Pipeline",
    "PipelineObjective",
    "PipelineRun",
    "Progress",
    "Stage",
    "StageCache",
    "StageRecord",
    "StageTrial",
    "cache_hit_rate",
    "default_cache_dir",
    "stage",
    "stage_records",
]
