"""TuneSearchCV: a scikit-learn search estimator run by a pipetune study."""

from __future__ import annotations

import pickle
import warnings

import numpy as np
import pytest
from availability import require_installed

require_installed("sklearn", extra="sklearn")

from sklearn.base import clone  # noqa: E402
from sklearn.datasets import load_iris  # noqa: E402
from sklearn.linear_model import LogisticRegression, Ridge  # noqa: E402
from sklearn.pipeline import Pipeline  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402
from sklearn.utils.estimator_checks import check_estimator  # noqa: E402
from threadpoolctl import threadpool_limits  # noqa: E402

import pipetune  # noqa: E402
from pipetune.errors import InvalidArgumentError  # noqa: E402
from pipetune.integrations.sklearn import TuneSearchCV  # noqa: E402


@pytest.fixture(autouse=True)
def one_blas_thread():
    """BLAS threads fighting over a busy machine turn milliseconds of fitting into seconds."""
    with threadpool_limits(limits=1):
        yield


SPACE = {"clf__C": pipetune.FloatDistribution(1e-3, 1e2, log=True),
         "scale__with_mean": [True, False]}


def make_pipeline() -> Pipeline:
    return Pipeline([("scale", StandardScaler()), ("clf", LogisticRegression(max_iter=300))])


def test_tunes_a_pipeline_by_step_param_names():
    X, y = load_iris(return_X_y=True)
    search = TuneSearchCV(make_pipeline(), SPACE, n_trials=6, cv=3, random_state=0)
    assert search.fit(X, y) is search
    assert set(search.best_params_) == set(SPACE)
    assert 1e-3 <= search.best_params_["clf__C"] <= 1e2
    assert search.best_params_["clf__C"] == search.best_estimator_.named_steps["clf"].C
    assert search.best_score_ == pytest.approx(search.cv_results_["mean_test_score"].max())
    assert search.cv_results_["rank_test_score"][search.best_index_] == 1
    assert len(search.cv_results_["params"]) == 6 == len(search.trials_)
    assert {"split0_test_score", "split2_test_score", "param_clf__C", "mean_fit_time",
            "std_test_score"} <= set(search.cv_results_)
    assert search.score(X, y) > 0.9
    assert search.predict(X).shape == (150,) and search.predict_proba(X).shape == (150, 3)
    assert list(search.classes_) == [0, 1, 2]


def test_folds_are_pruning_steps():
    X, y = load_iris(return_X_y=True)
    search = TuneSearchCV(make_pipeline(), {"clf__C": pipetune.FloatDistribution(1e-4, 1e2,
                                                                                 log=True)},
                          n_trials=12, cv=4, random_state=1,
                          pruner=pipetune.pruners.MedianPruner(n_startup_trials=2))
    search.fit(X, y)
    states = search.cv_results_["state"]
    pruned = states == "PRUNED"
    assert pruned.any() and (~pruned).any()
    assert np.isnan(search.cv_results_["mean_test_score"][pruned]).all()
    assert np.isnan(search.cv_results_["split3_test_score"][pruned]).all()
    assert (search.cv_results_["rank_test_score"][pruned] > (~pruned).sum()).all()


def test_clone_pickle_and_clear_errors():
    X, y = load_iris(return_X_y=True)
    sampler = pipetune.samplers.RandomSampler(seed=0)
    search = TuneSearchCV(make_pipeline(), SPACE, n_trials=2, cv=2, sampler=sampler)
    copy = clone(search)
    assert copy.sampler is sampler  # shared: pipetune samplers cannot be deep-copied
    assert copy.get_params(deep=False)["n_trials"] == 2
    fitted = TuneSearchCV(make_pipeline(), SPACE, n_trials=2, cv=2).fit(X, y)
    restored = pickle.loads(pickle.dumps(fitted))
    assert np.array_equal(restored.predict(X), fitted.predict(X))
    assert not hasattr(restored, "study_") and len(restored.trials_) == 2
    with pytest.raises(InvalidArgumentError, match="clf__c"):
        TuneSearchCV(make_pipeline(), {"clf__c": [1.0]}, n_trials=1).fit(X, y)


def test_passes_scikit_learns_estimator_checks():
    search = TuneSearchCV(Ridge(), {"alpha": pipetune.FloatDistribution(1e-3, 10.0, log=True)},
                          n_trials=2, cv=2, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        results = check_estimator(search, on_fail=None)
    failed = {r["check_name"]: str(r["exception"]) for r in results if r["status"] == "failed"}
    assert failed == {}
    assert sum(r["status"] == "passed" for r in results) > 40
