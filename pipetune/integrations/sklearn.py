"""``TuneSearchCV``: scikit-learn's hyperparameter search, run by a pipetune study.

A drop-in for ``GridSearchCV`` / ``RandomizedSearchCV``: it tunes any estimator, or a
``Pipeline`` through its ``step__param`` names, with pipetune's samplers (TPE by default) and
pruners. Each trial scores one configuration by cross-validation; the folds are the pruning
steps (the running mean score is reported after each fold), so a pruner drops a configuration
that does badly on its first folds without fitting the others.
"""

from __future__ import annotations

import numbers
import time
from typing import TYPE_CHECKING, Any

import numpy as np

from pipetune._imports import require
from pipetune.errors import InvalidArgumentError, TrialPruned
from pipetune.pipeline.stage import as_search_space

require("sklearn", "sklearn")

from sklearn.base import BaseEstimator, MetaEstimatorMixin, clone, is_classifier  # noqa: E402
from sklearn.metrics import check_scoring  # noqa: E402
from sklearn.model_selection import check_cv  # noqa: E402
from sklearn.utils.metaestimators import available_if  # noqa: E402
from sklearn.utils.validation import check_is_fitted, indexable  # noqa: E402

if TYPE_CHECKING:
    from pipetune.study import Study
    from pipetune.trial import Trial

__all__ = ["TuneSearchCV"]


def _best_has(method: str) -> Any:
    """For ``available_if``: the method exists when the (fitted, else given) estimator has it."""
    def check(search: TuneSearchCV) -> bool:
        estimator = getattr(search, "best_estimator_", search.estimator)
        getattr(estimator, method)  # AttributeError hides the method, as scikit-learn expects
        return True
    return check


def _rows(data: Any, indices: np.ndarray) -> Any:
    """Rows ``indices`` of an array, a sparse matrix, a DataFrame or a list (None stays)."""
    if data is None:
        return None
    if hasattr(data, "iloc"):
        return data.iloc[indices]
    if hasattr(data, "shape"):
        return data[indices]
    return [data[i] for i in indices]


def _fold_fit_params(fit_params: dict[str, Any], n_samples: int,
                     indices: np.ndarray) -> dict[str, Any]:
    """Per-sample fit params (``sample_weight``) cut to the fold's rows; others as given."""
    return {name: _rows(value, indices) if hasattr(value, "__len__")
            and not isinstance(value, (str, dict)) and len(value) == n_samples else value
            for name, value in fit_params.items()}


class TuneSearchCV(MetaEstimatorMixin, BaseEstimator):
    """Searches ``param_distributions`` for ``estimator`` over ``n_trials`` trials of a
    pipetune study, scoring each by ``cv``-fold cross-validation with ``scoring``.

    ``param_distributions`` maps a param name (``"svc__C"`` for a Pipeline step) to a pipetune
    distribution, a list of choices, or a YAML-style settings mapping (conditions allowed with
    ``when``). ``sampler`` defaults to ``TPESampler(seed=random_state)``; ``pruner`` (default
    none) sees the running mean score after each fold. ``storage`` / ``study_name`` keep the
    study (default: in memory); ``n_jobs`` trials run at once in threads. After ``fit``:
    ``best_params_``, ``best_score_``, ``best_estimator_`` (refit on all the data when
    ``refit``), ``cv_results_`` (one entry per trial, pruned ones with NaN scores ranked last),
    ``trials_`` and ``study_``.
    """

    def __init__(self, estimator: Any, param_distributions: dict[str, Any], *,
                 n_trials: int = 10, cv: Any = 5, scoring: Any = None, sampler: Any = None,
                 pruner: Any = None, storage: Any = None, study_name: str | None = None,
                 n_jobs: int = 1, refit: bool = True, random_state: int | None = None,
                 timeout: float | None = None, error_score: Any = np.nan,
                 verbose: int = 0) -> None:
        self.estimator = estimator
        self.param_distributions = param_distributions
        self.n_trials = n_trials
        self.cv = cv
        self.scoring = scoring
        self.sampler = sampler
        self.pruner = pruner
        self.storage = storage
        self.study_name = study_name
        self.n_jobs = n_jobs
        self.refit = refit
        self.random_state = random_state
        self.timeout = timeout
        self.error_score = error_score
        self.verbose = verbose

    def __sklearn_clone__(self) -> TuneSearchCV:
        """An unfitted copy. The sampler and pruner objects are shared with the copy, not
        copied: pipetune's samplers and pruners hold thread locks, which cannot be deep-copied."""
        params = self.get_params(deep=False)
        shared = {name: params.pop(name) for name in ("sampler", "pruner")}
        copied = {name: clone(value, safe=False) for name, value in params.items()}
        return type(self)(**copied, **shared)

    # -- fitting -------------------------------------------------------------------------------

    def _check_space(self) -> Any:
        if not isinstance(self.param_distributions, dict) or not self.param_distributions:
            raise InvalidArgumentError(
                "The 'param_distributions' argument of TuneSearchCV must be a non-empty dict of "
                f"param name -> distribution or list of choices. Got {self.param_distributions!r}.")
        known = self.estimator.get_params(deep=True)
        unknown = sorted(name for name in self.param_distributions if name not in known)
        if unknown:
            raise InvalidArgumentError(
                f"TuneSearchCV cannot tune {unknown}: {type(self.estimator).__name__} has no such "
                f"params. Use the names of estimator.get_params(), e.g. "
                f"{sorted(known)[:5]}.")
        return as_search_space("TuneSearchCV.param_distributions", self.param_distributions)

    def _study(self) -> Study:
        from pipetune.samplers import TPESampler
        from pipetune.study import create_study

        if isinstance(self.n_trials, bool) or not isinstance(self.n_trials, numbers.Integral) \
                or self.n_trials < 1:
            raise InvalidArgumentError(
                f"The 'n_trials' argument of TuneSearchCV must be a positive int. "
                f"Got {self.n_trials!r}.")
        sampler = self.sampler if self.sampler is not None else \
            TPESampler(seed=self.random_state)
        return create_study(storage=self.storage, sampler=sampler, pruner=self.pruner,
                            study_name=self.study_name, direction="maximize",
                            load_if_exists=self.study_name is not None)

    def fit(self, X: Any, y: Any = None, groups: Any = None, **fit_params: Any) -> TuneSearchCV:
        """Runs the search on ``X``, ``y`` (``groups`` for group-aware splitters) and, with
        ``refit``, fits the best configuration on all of it; returns ``self``."""
        space = self._check_space()
        X, y, groups = indexable(X, y, groups)
        splitter = check_cv(self.cv, y, classifier=is_classifier(self.estimator))
        splits = list(splitter.split(X, y, groups))
        scorer = check_scoring(self.estimator, scoring=self.scoring)
        n_samples = len(X) if not hasattr(X, "shape") else X.shape[0]
        study = self._study()
        errors: list[Exception] = []  # what the folds raised, for when nothing could be scored

        def objective(trial: Trial) -> float:
            params = space.suggest(trial)
            scores, fit_times, score_times = [], [], []
            for fold, (train, test) in enumerate(splits):
                model = clone(self.estimator).set_params(**params)
                started = time.perf_counter()
                try:
                    model.fit(_rows(X, train), _rows(y, train),
                              **_fold_fit_params(fit_params, n_samples, train))
                    fit_times.append(time.perf_counter() - started)
                    started = time.perf_counter()
                    score = float(scorer(model, _rows(X, test), _rows(y, test)))
                except Exception as error:
                    if self.error_score == "raise":
                        raise
                    errors.append(error)
                    fit_times.append(time.perf_counter() - started)
                    score = float(self.error_score)
                score_times.append(time.perf_counter() - started)
                scores.append(score)
                trial.set_user_attr("fold_scores", scores)
                trial.set_user_attr("fit_times", fit_times)
                trial.set_user_attr("score_times", score_times)
                trial.report(float(np.mean(scores)), fold)
                if fold < len(splits) - 1 and trial.should_prune():
                    raise TrialPruned(f"pruned after fold {fold}")
            return float(np.mean(scores))

        study.optimize(objective, n_trials=int(self.n_trials), timeout=self.timeout,
                       n_jobs=self.n_jobs, show_progress_bar=bool(self.verbose))
        self.study_ = study
        self.trials_ = study.trials
        self.n_splits_ = len(splits)
        self.scorer_ = scorer
        self.multimetric_ = False
        self.cv_results_ = self._results(study, list(self.param_distributions))
        if not np.isfinite(self.cv_results_["mean_test_score"]).any():
            if errors:  # the estimator cannot fit this data: its own error says why
                raise errors[0]
            raise InvalidArgumentError(
                "Every TuneSearchCV trial was pruned or scored NaN, so there is no best "
                "configuration: run more trials, or loosen the pruner.")
        self.best_index_ = int(np.nanargmax(self.cv_results_["mean_test_score"]))
        self.best_params_ = dict(self.cv_results_["params"][self.best_index_])
        self.best_score_ = float(self.cv_results_["mean_test_score"][self.best_index_])
        if self.refit:
            started = time.perf_counter()
            self.best_estimator_ = clone(self.estimator).set_params(**self.best_params_)
            self.best_estimator_.fit(X, y, **fit_params)
            self.refit_time_ = time.perf_counter() - started
            if hasattr(self.best_estimator_, "n_features_in_"):
                self.n_features_in_ = self.best_estimator_.n_features_in_
        return self

    def _results(self, study: Study, names: list[str]) -> dict[str, Any]:
        """``cv_results_`` in scikit-learn's layout, one entry per finished trial."""
        from pipetune.datatypes import TrialState

        trials = [t for t in study.trials if t.state in (TrialState.COMPLETE, TrialState.PRUNED)]
        n_splits = self.n_splits_
        split_scores = np.full((len(trials), n_splits), np.nan)
        fit_times = np.full((len(trials), n_splits), np.nan)
        score_times = np.full((len(trials), n_splits), np.nan)
        for row, trial in enumerate(trials):
            for matrix, attr in ((split_scores, "fold_scores"), (fit_times, "fit_times"),
                                 (score_times, "score_times")):
                values = trial.user_attrs.get(attr, [])
                matrix[row, :len(values)] = values
        complete = np.array([t.state == TrialState.COMPLETE for t in trials], dtype=bool)
        mean, std = np.full(len(trials), np.nan), np.full(len(trials), np.nan)
        mean[complete] = split_scores[complete].mean(axis=1)
        std[complete] = split_scores[complete].std(axis=1)
        results: dict[str, Any] = {
            "number": np.array([t.number for t in trials], dtype=int),
            "state": np.array([t.state.name for t in trials], dtype=object),
            # Only the estimator's params (a reverse_log param also records its helper).
            "params": [{k: v for k, v in t.params.items() if k in names} for t in trials],
            "mean_fit_time": np.nanmean(fit_times, axis=1),
            "std_fit_time": np.nanstd(fit_times, axis=1),
            "mean_score_time": np.nanmean(score_times, axis=1),
            "std_score_time": np.nanstd(score_times, axis=1),
        }
        for name in names:
            column = np.ma.masked_all(len(trials), dtype=object)
            for row, trial in enumerate(trials):
                if name in trial.params:
                    column[row] = trial.params[name]
            results[f"param_{name}"] = column
        for fold in range(n_splits):
            results[f"split{fold}_test_score"] = split_scores[:, fold]
        results["mean_test_score"] = mean
        results["std_test_score"] = std
        # Rank 1 is the best; pruned trials (NaN) come after every scored one.
        order = np.argsort(np.where(np.isnan(mean), -np.inf, mean) * -1, kind="stable")
        ranks = np.empty(len(trials), dtype=int)
        ranks[order] = np.arange(1, len(trials) + 1)
        results["rank_test_score"] = ranks
        return results

    def __getstate__(self) -> dict[str, Any]:
        """A pickled search keeps its results (``cv_results_``, ``best_estimator_``,
        ``trials_``) but not ``study_``, a live handle on its storage."""
        state = super().__getstate__()
        state.pop("study_", None)
        return state

    # -- using the best estimator --------------------------------------------------------------

    def _fitted_best(self) -> Any:
        check_is_fitted(self, "best_estimator_")
        return self.best_estimator_

    @property
    def classes_(self) -> np.ndarray:
        return self._fitted_best().classes_

    @available_if(_best_has("predict"))
    def predict(self, X: Any) -> Any:
        return self._fitted_best().predict(X)

    @available_if(_best_has("predict_proba"))
    def predict_proba(self, X: Any) -> Any:
        return self._fitted_best().predict_proba(X)

    @available_if(_best_has("predict_log_proba"))
    def predict_log_proba(self, X: Any) -> Any:
        return self._fitted_best().predict_log_proba(X)

    @available_if(_best_has("decision_function"))
    def decision_function(self, X: Any) -> Any:
        return self._fitted_best().decision_function(X)

    @available_if(_best_has("transform"))
    def transform(self, X: Any) -> Any:
        return self._fitted_best().transform(X)

    @available_if(_best_has("inverse_transform"))
    def inverse_transform(self, X: Any) -> Any:
        return self._fitted_best().inverse_transform(X)

    def score(self, X: Any, y: Any = None) -> float:
        """The search's scorer on ``X``, ``y`` with the refitted best estimator."""
        best = self._fitted_best()
        return float(self.scorer_(best, X, y))

    def __sklearn_tags__(self) -> Any:
        """The searched estimator's kind and input tags: a search over a classifier is a
        classifier."""
        tags = super().__sklearn_tags__()
        inner = self.estimator.__sklearn_tags__()
        tags.estimator_type = inner.estimator_type
        tags.classifier_tags = inner.classifier_tags
        tags.regressor_tags = inner.regressor_tags
        tags.transformer_tags = inner.transformer_tags
        tags.target_tags = inner.target_tags
        tags.input_tags.pairwise = inner.input_tags.pairwise
        tags.input_tags.sparse = inner.input_tags.sparse
        tags.input_tags.allow_nan = inner.input_tags.allow_nan
        return tags
