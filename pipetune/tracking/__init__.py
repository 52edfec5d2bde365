"""Tracking: what is recorded about trials and how it is exported.

``records`` (metric points, artifacts, experiments), ``recorder`` (the logging API of trials and
runs), ``artifacts`` (the artifact root), ``search`` (the trial search language),
``experiments``, ``runs`` (standalone runs), ``environment`` (what a study records about where
it ran), ``dataframe``; the MLflow exporter is ``pipetune.integrations.mlflow``."""
