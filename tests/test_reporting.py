"""``pipetune.report``: JSON lines into the launched trial's report file, a no-op elsewhere."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

import pipetune
from pipetune.errors import InvalidArgumentError
from pipetune.reporting import REPORT_FILE_ENV


def test_outside_a_launched_trial_report_does_nothing(monkeypatch, tmp_path):
    monkeypatch.delenv(REPORT_FILE_ENV, raising=False)
    monkeypatch.chdir(tmp_path)
    pipetune.report(val_rmse=2.3, step=5)
    assert list(tmp_path.iterdir()) == []


def test_inside_a_launched_trial_each_call_appends_one_json_line(monkeypatch, tmp_path):
    path = tmp_path / "report.jsonl"
    monkeypatch.setenv(REPORT_FILE_ENV, str(path))
    pipetune.report(val_rmse=2.3, step=5)
    pipetune.report(val_rmse=np.float32(1.5), accuracy=np.int64(1))
    pipetune.report(loss=float("nan"))
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert lines[0] == {"step": 5, "metrics": {"val_rmse": 2.3}}
    assert lines[1] == {"step": None, "metrics": {"val_rmse": 1.5, "accuracy": 1.0}}
    assert math.isnan(lines[2]["metrics"]["loss"])


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"val": "2.3"}, "takes numbers as metrics"),
    ({"val": True}, "takes numbers as metrics"),
    ({"val": 1.0, "step": -1}, "'step' argument"),
    ({"val": 1.0, "step": 1.5}, "'step' argument"),
    ({}, "at least one metric"),
])
def test_bad_reports_are_refused_even_outside_a_trial(monkeypatch, kwargs, message):
    monkeypatch.delenv(REPORT_FILE_ENV, raising=False)
    with pytest.raises(InvalidArgumentError, match=message):
        pipetune.report(**kwargs)
