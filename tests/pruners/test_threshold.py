"""ThresholdPruner: a value outside [lower, upper] stops the trial."""

from __future__ import annotations

import math

import pytest

import pipetune
from pipetune.errors import ArgumentTypeError, InvalidArgumentError
from pipetune.pruners import ThresholdPruner


def decisions(pruner: ThresholdPruner, values: dict[int, float],
              direction: str = "minimize") -> list[bool]:
    study = pipetune.create_study(pruner=pruner, direction=direction)
    trial = study.ask()
    out = []
    for step, value in values.items():
        trial.report(value, step)
        out.append(trial.should_prune())
    return out


def test_values_leaving_the_range_prune_whatever_the_direction():
    values = {0: -0.1, 1: 0.0, 2: 0.4, 3: 1.0, 4: 1.1}
    for direction in ("minimize", "maximize"):
        pruner = ThresholdPruner(lower=0.0, upper=1.0)
        assert decisions(pruner, values, direction) == [True, False, False, False, True]
    assert decisions(ThresholdPruner(upper=2.0), {1: 1.0, 2: 3.0}) == [False, True]
    assert decisions(ThresholdPruner(lower=2.0), {1: 3.0, 2: 1.0}) == [False, True]


def test_nan_prunes_and_the_warm_up_and_interval_are_kept():
    assert decisions(ThresholdPruner(upper=1.0), {0: math.nan}) == [True]
    pruner = ThresholdPruner(upper=1.0, n_warmup_steps=2, interval_steps=2)
    assert decisions(pruner, {0: 9.0, 1: 9.0, 2: 9.0}) == [False, False, True]
    # Judged at the first report in each interval [2, 4), [4, 6): at 2 (fine) and 4.
    assert decisions(pruner, {0: 9.0, 2: 0.5, 3: 9.0, 4: 9.0}) == [False, False, False, True]
    assert decisions(pruner, {0: 0.0, 3: 9.0}) == [False, True]  # 3 opens [2, 4)


@pytest.mark.parametrize("arguments, error", [
    ({}, ArgumentTypeError), ({"lower": "0"}, ArgumentTypeError),
    ({"upper": "1"}, ArgumentTypeError), ({"lower": 2.0, "upper": 1.0}, InvalidArgumentError),
    ({"upper": 1.0, "n_warmup_steps": -1}, InvalidArgumentError),
    ({"upper": 1.0, "interval_steps": 0}, InvalidArgumentError),
])
def test_bad_arguments_are_refused(arguments, error):
    with pytest.raises(error):
        ThresholdPruner(**arguments)
