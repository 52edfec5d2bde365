"""Bridges to other libraries, each imported on its own so that its dependency stays optional:
``pipetune.integrations.sklearn`` (``TuneSearchCV``), ``pipetune.integrations.spark``
(``TuneCrossValidator``, for ``pyspark.ml`` pipelines), ``pipetune.integrations.lightning``
(``PruningCallback``) and ``pipetune.integrations.mlflow`` (exporting studies to MLflow, and
trials as nested runs)."""
