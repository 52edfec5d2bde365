"""Bridges to other libraries, each imported on its own so that its dependency stays optional:
``pipetune.integrations.sklearn`` (``TuneSearchCV``), ``pipetune.integrations.lightning``
(``PruningCallback``) and ``pipetune.integrations.mlflow`` (exporting studies to MLflow)."""
