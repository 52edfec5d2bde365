"""Hyperopt 0.3's ``hyperopt.sklearn.HyperoptSearchCV``: scikit-learn's search-CV API driven by
``fmin``.

It is scikit-learn's own ``BaseSearchCV`` (cross-validation, scoring, refit, ``cv_results_``,
``best_params_``); each ``fmin`` trial scores one candidate drawn from ``space`` (a dict of
estimator parameter -> ``hp`` node), and the search minimizes the negated mean test score.
"""

from __future__ import annotations

import numbers
from typing import Any

import numpy as np

from pipetune._imports import require
from pipetune.compat.hyperopt._algorithms import Suggest
from pipetune.compat.hyperopt._trials import (
    STATUS_FAIL,
    STATUS_OK,
    AllTrialsFailedError,
)
from pipetune.compat.hyperopt.fmin import Trials, fmin

require("sklearn", "sklearn")

from sklearn.model_selection._search import BaseSearchCV  # noqa: E402


class HyperoptSearchCV(BaseSearchCV):
    """Searches ``estimator``'s parameters over ``space`` with ``max_evals`` ``fmin`` trials
    (``algo``: ``tpe.suggest`` by default), scoring each by cross-validation as
    ``GridSearchCV`` does. ``trials`` (with ``warm_start=True``) continues an earlier search;
    ``random_state`` (an int or a numpy Generator) makes the search repeatable. The ``Trials``
    of the last fit is ``trials_``."""

    _required_parameters = ["estimator", "space", "max_evals"]

    def __init__(self, estimator: Any, space: Any, max_evals: int, trials: Trials | None = None,
                 algo: Any = None, warm_start: bool = False, scoring: Any = None,
                 n_jobs: int | None = None, refit: Any = True, cv: Any = None, verbose: int = 0,
                 pre_dispatch: Any = "2*n_jobs", random_state: Any = None,
                 error_score: Any = np.nan, return_train_score: bool = False) -> None:
        super().__init__(estimator=estimator, scoring=scoring, n_jobs=n_jobs, refit=refit, cv=cv,
                         verbose=verbose, pre_dispatch=pre_dispatch, error_score=error_score,
                         return_train_score=return_train_score)
        self.space = space
        self.max_evals = max_evals
        self.trials = trials
        self.algo = algo
        self.warm_start = warm_start
        self.random_state = random_state

    def _rng(self) -> np.random.Generator | None:
        state = self.random_state
        if state is None or isinstance(state, np.random.Generator):
            return state
        if isinstance(state, numbers.Integral) and not isinstance(state, bool):
            return np.random.default_rng(int(state))
        raise ValueError(
            "HyperoptSearchCV's random_state must be an int, a numpy Generator or None. "
            f"Got {state!r}.")

    def _run_search(self, evaluate_candidates: Any) -> None:
        """Runs the ``fmin`` trials, each one candidate scored by ``evaluate_candidates``."""
        if not isinstance(self.max_evals, numbers.Integral) or self.max_evals < 1:
            raise ValueError(
                f"HyperoptSearchCV's max_evals must be an int >= 1. Got {self.max_evals!r}.")
        if not (self.warm_start and hasattr(self, "trials_")):
            self.trials_ = self.trials if self.warm_start and self.trials is not None \
                else Trials()

        def score(params: dict[str, Any]) -> dict[str, Any]:
            results = evaluate_candidates([dict(params)])
            mean = float(results["mean_test_score"][-1])
            if not np.isfinite(mean):
                return {"status": STATUS_FAIL, "params": params}
            return {"loss": -mean, "status": STATUS_OK, "params": params}

        total = len(self.trials_) + self.max_evals if self.warm_start else self.max_evals
        try:
            fmin(score, self.space, algo=self.algo if self.algo is not None else Suggest("tpe"),
                 max_evals=total, trials=self.trials_, rstate=self._rng(),
                 allow_trials_fmin=False)
        except AllTrialsFailedError:
            pass  # every candidate failed: cv_results_ holds their error scores


__all__ = ["HyperoptSearchCV"]
