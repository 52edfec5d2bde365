"""Tracking: what is recorded about trials and runs beyond their params and values.

``experiments`` (named groups of studies and runs), ``runs`` (standalone runs:
``pipetune.start_run``), ``logs`` (a launched trial's stored log). The records themselves
(metric points, artifacts, experiment summaries) are datatypes (``pipetune.datatypes``),
written by a trial's recorder (``pipetune._recorder``) into the storage, whose search language
is ``pipetune.search``; the MLflow exporter is ``pipetune.integrations.mlflow``."""
