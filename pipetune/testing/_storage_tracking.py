"""Storage contract, part three: experiment tracking — metric series, artifacts and the trial
search language, which must select the same trials on every backend. ``StorageContract``
(``pipetune.testing.storage``) inherits these tests."""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from typing import Any

from pipetune._imports import require
from pipetune.datatypes import MetricPoint, StudyDirection, TrialState
from pipetune.distributions import (
    CategoricalDistribution,
    Distribution,
    FloatDistribution,
    IntDistribution,
)
from pipetune.errors import (
    ArtifactNotFoundError,
    FilterSyntaxError,
    InvalidArgumentError,
    TrialNotFoundError,
)
from pipetune.storage.base import BaseStorage
from pipetune.testing._claims import claim_one

pytest = require("pytest", "test")

LR = FloatDistribution(1e-4, 1.0, log=True)
OPT = CategoricalDistribution(("adam", "sgd"))
OPT_OTHER = CategoricalDistribution(("rmsprop", "adam"))  # the choices changed in one trial
LAYERS = IntDistribution(1, 4)
UNITS = CategoricalDistribution((7, 11))


def _points(name: str, values: list[float], first_step: int = 0) -> list[MetricPoint]:
    now = time.time()
    return [MetricPoint(name, first_step + i, v, now) for i, v in enumerate(values)]


def _trial(storage: BaseStorage, study_id: int, state: TrialState,
           params: dict[str, tuple[Any, Distribution]], values: list[float] | None = None,
           metrics: Sequence[MetricPoint] = (), user_attrs: dict[str, Any] | None = None) -> int:
    trial = claim_one(storage, study_id)
    if params:
        storage.set_trial_params(trial.trial_id, {
            name: (d.to_internal(v), d) for name, (v, d) in params.items()})
    for key, value in (user_attrs or {}).items():
        storage.set_trial_attr(trial.trial_id, key, value)
    if metrics:
        storage.add_trial_metrics(trial.trial_id, list(metrics))
    if state != TrialState.RUNNING:
        storage.finish_trial(trial.trial_id, state, values)
    return trial.trial_id


def known_study(storage: BaseStorage) -> int:
    """Six trials the filter table below is checked against (numbers 0..5)."""
    study_id = storage.create_study("known", [StudyDirection.MINIMIZE])
    _trial(storage, study_id, TrialState.COMPLETE,
           {"lr": (0.1, LR), "opt": ("adam", OPT), "layers": (2, LAYERS)}, [0.5],
           _points("val_rmse", [5.0, 2.5]), {"tag": "baseline", "score": 3})
    _trial(storage, study_id, TrialState.COMPLETE,
           {"lr": (0.001, LR), "opt": ("sgd", OPT), "layers": (3, LAYERS)}, [1.5],
           _points("val_rmse", [4.0, 3.5]), {"tag": "tuned-1", "score": 4.5})
    _trial(storage, study_id, TrialState.PRUNED,
           {"lr": (0.05, LR), "opt": ("adam", OPT), "layers": (1, LAYERS)}, None,
           _points("val_rmse", [6.0]), {"tag": None, "flag": True})
    _trial(storage, study_id, TrialState.FAIL, {"lr": (0.5, LR), "opt": ("rmsprop", OPT_OTHER)})
    _trial(storage, study_id, TrialState.RUNNING, {}, None, _points("val_rmse", [math.nan]))
    # step 1 logged twice: the later point is the metric's value there
    _trial(storage, study_id, TrialState.COMPLETE,
           {"lr": (0.01, LR), "opt": ("sgd", OPT), "layers": (4, LAYERS), "units": (11, UNITS)},
           [0.25], _points("val_rmse", [3.0, 2.9]) + _points("val_rmse", [2.0], 1),
           {"score": "high", "notes": [1, 2]})
    return study_id


# filter -> the numbers of the trials of known_study it selects
FILTER_TABLE: list[tuple[str, list[int]]] = [
    ("", [0, 1, 2, 3, 4, 5]),
    ("params.lr > 0.01", [0, 2, 3]),
    ("params.lr >= 0.01", [0, 2, 3, 5]),
    ("params.lr < 1e-2", [1]),
    ("params.opt = 'adam'", [0, 2]),
    ('params.opt == "adam"', [0, 2]),
    ("params.opt != 'adam'", [1, 3, 5]),
    ("params.opt in ('rmsprop', 'sgd')", [1, 3, 5]),
    ("params.opt not in ('adam')", [1, 3, 5]),
    ("params.opt like 'a%'", [0, 2]),
    ("params.opt like '%s%'", [1, 3, 5]),
    ("params.opt not like '_gd'", [0, 2, 3]),
    ("params.opt > 'b'", [1, 3, 5]),
    ("params.units > 8", [5]),
    ("params.units = 7", []),
    ("params.layers = 2", [0]),
    ("params.layers = 'two'", []),
    ("params.layers != 'two'", [0, 1, 2, 5]),
    ("params.missing = null", [0, 1, 2, 3, 4, 5]),
    ("params.lr = null", [4]),
    ("params.lr != null", [0, 1, 2, 3, 5]),
    ("metrics.val_rmse < 3", [0, 5]),
    ("metrics.val_rmse = 2", [5]),
    ("metrics.val_rmse = null", [3, 4]),
    ("metrics.other > 0", []),
    ("value < 1", [0, 5]),
    ("values[0] >= 0.5", [0, 1]),
    ("value = null", [2, 3, 4]),
    ("state = COMPLETE", [0, 1, 5]),
    ("state = 'pruned'", [2]),
    ("state in (PRUNED, FAIL)", [2, 3]),
    ("state != RUNNING", [0, 1, 2, 3, 5]),
    ("number >= 4", [4, 5]),
    ("number in (0, 5)", [0, 5]),
    ("duration >= 0", [0, 1, 2, 3, 5]),
    ("duration < 0", []),
    ("user_attrs.tag = 'baseline'", [0]),
    ("user_attrs.tag like 'tuned%'", [1]),
    ("user_attrs.tag like 'TUNED%'", []),
    ("user_attrs.tag = null", [2, 3, 4, 5]),
    ("user_attrs.score > 3", [1]),
    ("user_attrs.score != 3", [1, 5]),
    ("user_attrs.score < 'z'", [5]),
    ("user_attrs.flag = true", [2]),
    ("user_attrs.notes != 1", [5]),
    ("not (params.lr > 0.01)", [1, 4, 5]),
    ("params.lr > 0.01 and metrics.val_rmse < 3 and state = COMPLETE", [0]),
    ("(state = COMPLETE or state = PRUNED) and params.opt = 'adam'", [0, 2]),
    ("state = COMPLETE or state = PRUNED and params.opt = 'adam'", [0, 1, 2, 5]),
    ("NOT params.opt = 'adam' AND number < 3", [1]),
    ("params.x = '1''; DROP TABLE trials; --'".replace("''", "\\'"), []),
]

# order_by, limit, offset -> numbers in order
ORDER_TABLE: list[tuple[str, int | None, int, list[int]]] = [
    ("value", None, 0, [5, 0, 1, 2, 3, 4]),
    ("-value", None, 0, [1, 0, 5, 2, 3, 4]),
    ("value desc", None, 0, [1, 0, 5, 2, 3, 4]),
    ("metrics.val_rmse", None, 0, [5, 0, 1, 2, 3, 4]),
    ("state, -number", None, 0, [4, 5, 1, 0, 2, 3]),
    ("params.opt, -number", None, 0, [2, 0, 3, 5, 1, 4]),
    ("number", 2, 1, [1, 2]),
    ("params.opt", 2, 1, [2, 3]),
    ("-params.lr", 1, 0, [3]),
    ("", 0, 0, []),
]


class TrackingContract:
    """Metric, artifact and search behaviours of ``BaseStorage``."""

    # -- metrics -------------------------------------------------------------------------------

    def test_metric_points_round_trip_ordered_by_name_and_step(
            self, storage: BaseStorage) -> None:
        study_id = storage.create_study("m", [StudyDirection.MINIMIZE])
        trial = claim_one(storage, study_id)
        storage.add_trial_metrics(trial.trial_id, [
            MetricPoint("loss", 1, 0.5, 10.0), MetricPoint("acc", 0, 0.1, 11.0),
            MetricPoint("loss", 0, math.inf, 12.0)])
        storage.add_trial_metrics(trial.trial_id, [MetricPoint("loss", 2, math.nan, 13.0)])
        history = storage.get_metric_history(trial.trial_id)
        assert [(p.name, p.step) for p in history] == [("acc", 0), ("loss", 0), ("loss", 1),
                                                      ("loss", 2)]
        assert history[1].value == math.inf and history[1].timestamp == 12.0
        assert math.isnan(history[3].value)
        assert [p.step for p in storage.get_metric_history(trial.trial_id, "loss")] == [0, 1, 2]
        assert storage.get_metric_history(trial.trial_id, "absent") == []

    def test_last_metric_is_the_largest_step_then_the_last_logged(
            self, storage: BaseStorage) -> None:
        study_id = known_study(storage)
        other = storage.create_study("other", [StudyDirection.MINIMIZE])
        storage.add_trial_metrics(claim_one(storage, other).trial_id,
                                  _points("val_rmse", [9.0]))
        last = storage.get_last_metrics(study_id)
        by_number = {storage.get_trial(trial_id).number: values
                     for trial_id, values in last.items()}
        assert sorted(by_number) == [0, 1, 2, 4, 5]  # not 3, which logged nothing
        assert by_number[0] == {"val_rmse": 2.5}
        assert by_number[5] == {"val_rmse": 2.0}
        assert math.isnan(by_number[4]["val_rmse"])

    def test_metrics_may_be_logged_after_the_trial_finished(self, storage: BaseStorage) -> None:
        study_id = storage.create_study("m", [StudyDirection.MINIMIZE])
        trial = claim_one(storage, study_id)
        storage.finish_trial(trial.trial_id, TrialState.COMPLETE, [1.0])
        storage.add_trial_metrics(trial.trial_id, _points("test_rmse", [0.7]))
        assert [p.value for p in storage.get_metric_history(trial.trial_id)] == [0.7]

    def test_metrics_of_an_unknown_trial_raise_and_store_nothing(
            self, storage: BaseStorage) -> None:
        study_id = storage.create_study("m", [StudyDirection.MINIMIZE])
        with pytest.raises(TrialNotFoundError):
            storage.add_trial_metrics(987654, _points("loss", [1.0, 2.0]))
        with pytest.raises(TrialNotFoundError):
            storage.get_metric_history(987654)
        assert storage.get_last_metrics(study_id) == {}

    def test_deleting_a_study_deletes_its_metrics(self, storage: BaseStorage) -> None:
        study_id = storage.create_study("m", [StudyDirection.MINIMIZE])
        storage.add_trial_metrics(claim_one(storage, study_id).trial_id, _points("x", [1.0]))
        storage.delete_study(study_id)
        again = storage.create_study("m", [StudyDirection.MINIMIZE])
        assert storage.get_last_metrics(again) == {}

    # -- artifacts -----------------------------------------------------------------------------

    def test_artifacts_round_trip_from_bytes_and_files(self, storage: BaseStorage,
                                                       tmp_path: Any) -> None:
        study_id = storage.create_study("a", [StudyDirection.MINIMIZE])
        trial = claim_one(storage, study_id)
        model = tmp_path / "model.bin"
        model.write_bytes(bytes(range(256)) * 10)
        info = storage.put_artifact(trial.trial_id, "models/model.bin", model)
        assert (info.name, info.size) == ("models/model.bin", 2560)
        storage.put_artifact(trial.trial_id, "notes.txt", "naïve\n".encode())
        storage.put_artifact(trial.trial_id, "plot.json", b"{}", "application/vnd.plotly.v1+json")
        listed = storage.list_artifacts(trial.trial_id)
        assert [(a.name, a.media_type) for a in listed] == [
            ("models/model.bin", "application/octet-stream"), ("notes.txt", "text/plain"),
            ("plot.json", "application/vnd.plotly.v1+json")]
        assert storage.read_artifact(trial.trial_id, "models/model.bin") == model.read_bytes()
        assert storage.read_artifact(trial.trial_id, "notes.txt").decode() == "naïve\n"

    def test_an_artifact_of_the_same_name_is_replaced(self, storage: BaseStorage) -> None:
        study_id = storage.create_study("a", [StudyDirection.MINIMIZE])
        trial = claim_one(storage, study_id)
        storage.put_artifact(trial.trial_id, "log.txt", b"first")
        storage.finish_trial(trial.trial_id, TrialState.COMPLETE, [1.0])  # still allowed after
        storage.put_artifact(trial.trial_id, "log.txt", b"second, longer")
        (info,) = storage.list_artifacts(trial.trial_id)
        assert info.size == len(b"second, longer")
        assert storage.read_artifact(trial.trial_id, "log.txt") == b"second, longer"

    def test_the_tail_of_an_artifact_is_read_alone(self, storage: BaseStorage) -> None:
        study_id = storage.create_study("a", [StudyDirection.MINIMIZE])
        trial = claim_one(storage, study_id)
        storage.put_artifact(trial.trial_id, "output.log", b"line 1\nline 2\n")
        assert storage.read_artifact(trial.trial_id, "output.log", last_bytes=7) == b"line 2\n"
        assert storage.read_artifact(trial.trial_id, "output.log", last_bytes=99) == \
            b"line 1\nline 2\n"

    def test_artifact_mistakes_raise_clear_errors(self, storage: BaseStorage,
                                                  tmp_path: Any) -> None:
        study_id = storage.create_study("a", [StudyDirection.MINIMIZE])
        trial = claim_one(storage, study_id)
        with pytest.raises(ArtifactNotFoundError, match="missing.txt"):
            storage.read_artifact(trial.trial_id, "missing.txt")
        for bad in ("", "../escape.txt", "/etc/passwd", "a//b", "a/./b", "nul\x00.txt",
                    "x" * 256, "/".join("d" * 17), "é" * 128):
            with pytest.raises(InvalidArgumentError):
                storage.put_artifact(trial.trial_id, bad, b"x")
        with pytest.raises(InvalidArgumentError, match="existing file"):
            storage.put_artifact(trial.trial_id, "x", tmp_path / "absent.bin")
        with pytest.raises(TrialNotFoundError):
            storage.put_artifact(987654, "x.txt", b"x")
        assert storage.list_artifacts(trial.trial_id) == []

    # -- search --------------------------------------------------------------------------------

    def test_search_filter_table(self, storage: BaseStorage) -> None:
        study_id = known_study(storage)
        found = {f: [t.number for t in storage.search_trials(study_id, f)]
                 for f, _ in FILTER_TABLE}
        assert found == dict(FILTER_TABLE)
        assert storage.count_trials(study_id) == 6  # nothing was dropped or changed

    def test_search_order_limit_offset(self, storage: BaseStorage) -> None:
        study_id = known_study(storage)
        found = [[t.number for t in storage.search_trials(study_id, None, order_by, limit,
                                                             offset)]
                 for order_by, limit, offset, _ in ORDER_TABLE]
        assert found == [expected for *_, expected in ORDER_TABLE]

    def test_search_returns_whole_trials(self, storage: BaseStorage) -> None:
        study_id = known_study(storage)
        (trial,) = storage.search_trials(study_id, "params.units = 11")
        assert trial == storage.get_trial(trial.trial_id)
        assert trial.params == {"lr": 0.01, "opt": "sgd", "layers": 4, "units": 11}

    def test_search_rejects_bad_filters_and_stays_per_study(self, storage: BaseStorage) -> None:
        study_id = known_study(storage)
        other = storage.create_study("other", [StudyDirection.MINIMIZE])
        assert storage.search_trials(other, "state = RUNNING") == []
        with pytest.raises(FilterSyntaxError, match="column 13"):
            storage.search_trials(study_id, "params.lr > and")
        with pytest.raises(FilterSyntaxError):
            storage.search_trials(study_id, "params.x = '1'; DROP TABLE trials; --")
        with pytest.raises(FilterSyntaxError):
            storage.search_trials(study_id, None, "value sideways")
        assert storage.count_trials(study_id) == 6

    def test_search_sees_choices_that_appear_after_an_earlier_search(
            self, storage: BaseStorage) -> None:
        study_id = known_study(storage)
        query = "params.opt = 'nadam'"
        assert storage.search_trials(study_id, query) == []
        trial = claim_one(storage, study_id)
        storage.set_trial_params(trial.trial_id, {
            "opt": (0.0, CategoricalDistribution(("nadam", "adam")))})
        assert [t.number for t in storage.search_trials(study_id, query)] == [6]
        storage.finish_trial(trial.trial_id, TrialState.COMPLETE, [0.1])
        assert [t.number for t in storage.search_trials(study_id, query)] == [6]
        assert [t.number for t in storage.search_trials(study_id, "params.opt = 'adam'")] == [0, 2]
