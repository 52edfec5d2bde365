"""Hyperopt's ``hyperopt.early_stop``: ready-made ``early_stop_fn`` for ``fmin``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pipetune._numbers import real_number
from pipetune.errors import InvalidArgumentError


def no_progress_loss(iteration_stop_count: int = 20,
                     percent_increase: float = 0.0) -> Callable[..., tuple[bool, list[Any]]]:
    """An ``early_stop_fn`` that stops the search once ``iteration_stop_count`` trials in a
    row (the first trial counting as one) have not lowered the best loss by more than
    ``percent_increase`` percent of it. A trial without a loss (failed) is no progress."""
    if isinstance(iteration_stop_count, bool) or not isinstance(iteration_stop_count, int) \
            or iteration_stop_count < 1:
        raise InvalidArgumentError(
            f"no_progress_loss's iteration_stop_count must be an int >= 1. "
            f"Got {iteration_stop_count!r}.")
    margin = real_number(percent_increase)
    if margin is None or margin < 0:
        raise InvalidArgumentError(
            f"no_progress_loss's percent_increase must be a number >= 0. Got {percent_increase!r}.")

    def stop(trials: Any, best_loss: float | None = None,
             stalled: int = 0) -> tuple[bool, list[Any]]:
        loss = real_number(trials.trials[-1]["result"].get("loss"))
        if best_loss is None:
            best_loss, stalled = loss, stalled + 1
        elif loss is not None and loss < best_loss - abs(best_loss) * margin / 100:
            best_loss, stalled = loss, 0
        else:
            stalled += 1
        return stalled >= iteration_stop_count, [best_loss, stalled]

    return stop


__all__ = ["no_progress_loss"]
