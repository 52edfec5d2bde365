"""One trial's life: ask -> run the objective -> tell. Shared by optimize and workers."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from pipetune.datatypes import FrozenTrial, TrialState
from pipetune.errors import TrialPruned

if TYPE_CHECKING:
    from pipetune.study import Study
    from pipetune.trial import Trial

logger = logging.getLogger("pipetune")


def run_trial(study: "Study", func: Callable[["Trial"], Any], trial: "Trial",
              catch: tuple[type[BaseException], ...]) -> tuple[FrozenTrial, BaseException | None]:
    """Evaluates ``func`` on a claimed ``trial`` and stores the outcome.

    Returns the finished trial and the exception the caller must re-raise (one not in
    ``catch``, or an interrupt), if any. Whatever happens, the trial leaves RUNNING.
    """
    try:
        result = func(trial)
    except TrialPruned:
        return study.tell(trial, state=TrialState.PRUNED, skip_if_finished=True), None
    except Exception as error:
        frozen = study._fail(trial, error)
        if isinstance(error, catch):
            logger.warning("Trial %d failed with %s: %s", trial.number, type(error).__name__, error)
            return frozen, None
        return frozen, error
    except BaseException as interrupt:  # KeyboardInterrupt, SystemExit: never leave it RUNNING
        return study._fail(trial, interrupt), interrupt
    return study.tell(trial, result, skip_if_finished=True), None
