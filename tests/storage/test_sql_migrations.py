"""Schema migrations, each proven on a database written by the pipetune before it
(``fixtures/schema_v<N>.db``): opening it upgrades it in place and keeps every record."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

from sqlalchemy import create_engine, text

from pipetune.datatypes import MetricPoint, StudyDirection, TrialState
from pipetune.storage.sql import SQLStorage
from pipetune.storage.sql.schema import SCHEMA_VERSION

FIXTURES = Path(__file__).parent / "fixtures"


def test_schema_1_gains_the_tracking_tables_and_keeps_its_studies(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    shutil.copy(FIXTURES / "schema_v1.db", path)
    storage = SQLStorage(f"sqlite:///{path}", artifact_root=tmp_path / "artifacts")
    try:
        study_id = storage.get_study_id("old-study")
        assert storage.get_study_directions(study_id) == (StudyDirection.MINIMIZE,)
        (trial,) = storage.get_trials(study_id)
        assert (trial.state, trial.values, trial.params) == (TrialState.COMPLETE, (0.25,),
                                                             {"lr": 0.1})
        storage.add_trial_metrics(trial.trial_id, [MetricPoint("rmse", 0, 2.5, time.time())])
        storage.put_artifact(trial.trial_id, "model.txt", b"weights")
        assert [t.number for t in storage.search_trials(study_id, "metrics.rmse < 3")] == [0]
        assert storage.read_artifact(trial.trial_id, "model.txt") == b"weights"
    finally:
        storage.close()
    engine = create_engine(f"sqlite:///{path}")
    with engine.connect() as conn:
        assert conn.execute(text("SELECT version FROM schema_info")).scalar() == SCHEMA_VERSION
    engine.dispose()
