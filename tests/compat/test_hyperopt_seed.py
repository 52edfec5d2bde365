"""Seed 001's Hyperopt listings (Azure Databricks book, chapter 10) with only the import changed.

The chapter walks through Hyperopt's documentation examples: ``fmin`` on ``hp.uniform``, an
objective returning a dict with extra keys and ``attachments`` read back through
``Trials.trial_attachments``, the ``hp.choice`` space sampled with
``hyperopt.pyll.stochastic.sample``, and the model-selection search: one ``hp.choice`` over
scikit-learn classifiers, each with its own params, read back with ``space_eval``. The
California-housing data it downloads is replaced by scikit-learn's bundled breast-cancer data
(no network in tests), binarised and scaled the same way.
"""

from __future__ import annotations

import pickle
import time

import numpy as np
import pytest

import pipetune.compat.hyperopt.pyll.stochastic
from pipetune.compat.hyperopt import STATUS_OK, Trials, fmin, hp, space_eval, tpe


def test_minimizing_a_line_over_a_uniform():
    best = fmin(fn=lambda x: x, space=hp.uniform("x", 0, 1), algo=tpe.suggest, max_evals=100)
    assert set(best) == {"x"} and 0 <= best["x"] < 0.05


def test_objective_returning_status_and_loss():
    def objective(x):
        return {"loss": x ** 2, "status": STATUS_OK}

    best = fmin(objective, space=hp.uniform("x", -10, 10), algo=tpe.suggest, max_evals=100)
    assert abs(best["x"]) < 1.0


def test_trials_keep_extra_keys_and_attachments():
    def objective(x):
        return {
            "loss": x ** 2,
            "status": STATUS_OK,
            # -- store other results like this
            "eval_time": time.time(),
            "other_stuff": {"type": None, "value": [0, 1, 2]},
            # -- attachments are handled differently
            "attachments": {"time_module": pickle.dumps(time.time)},
        }

    trials = Trials()
    best = fmin(objective, space=hp.uniform("x", -10, 10), algo=tpe.suggest, max_evals=100,
                trials=trials)
    assert abs(best["x"]) < 1.0

    assert len(trials.trials) == len(trials.results) == 100
    assert trials.statuses() == [STATUS_OK] * 100
    assert trials.losses() == [r["loss"] for r in trials.results]
    assert trials.results[0]["other_stuff"] == {"type": None, "value": [0, 1, 2]}
    assert "attachments" not in trials.results[5]  # moved to the trial's attachments
    msg = trials.trial_attachments(trials.trials[5])["time_module"]
    time_module = pickle.loads(msg)
    assert time_module is time.time
    # The record pickles, attachments included, as the chapter saves it.
    restored = pickle.loads(pickle.dumps(trials))
    assert restored.trial_attachments(restored.trials[5])["time_module"] == msg
    assert restored.losses() == trials.losses()


def test_the_conditional_space_can_be_sampled():
    space = hp.choice("a", [
        ("case 1", 1 + hp.lognormal("c1", 0, 1)),
        ("case 2", hp.uniform("c2", -10, 10)),
    ])
    cases = set()
    for _ in range(50):
        case, value = pipetune.compat.hyperopt.pyll.stochastic.sample(space)
        cases.add(case)
        assert value > 1 if case == "case 1" else -10 <= value <= 10
    assert cases == {"case 1", "case 2"}


@pytest.fixture(scope="module")
def housing_like():
    """Scaled features and a 0/1 target (value above its mean), as the chapter prepares them."""
    from sklearn.datasets import load_breast_cancer
    from sklearn.preprocessing import StandardScaler

    features, target = load_breast_cancer(return_X_y=True)
    scaled_features = StandardScaler().fit_transform(features)
    target = target + np.linspace(0, 0.5, len(target))  # a continuous target, as in housing
    target = np.where(target > target.mean(), 1, 0)
    return scaled_features[::3], target[::3]


def test_model_selection_over_several_classifiers(housing_like):
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import cross_val_score
    from sklearn.svm import SVC

    X, y = housing_like
    seen = []

    def objective(params):
        classifier_type = params["type"]
        del params["type"]
        seen.append((classifier_type, dict(params)))
        if classifier_type == "svm":
            clf = SVC(**params)
        elif classifier_type == "rf":
            clf = RandomForestClassifier(n_estimators=10, **params)
        elif classifier_type == "logreg":
            clf = LogisticRegression(**params)
        else:
            return 0
        accuracy = cross_val_score(clf, X, y, cv=3).mean()
        # Because fmin only minimizes, returning the negative accuracy maximizes it
        return {"loss": -accuracy, "status": STATUS_OK}

    search_space = hp.choice("classifier_type", [
        {"type": "svm",
         "C": hp.lognormal("SVM_C", 0, 1.0),
         "kernel": hp.choice("kernel", ["linear", "rbf"])},
        {"type": "rf",
         "max_depth": hp.uniformint("max_depth", 2, 5),
         "criterion": hp.choice("criterion", ["gini", "entropy"])},
        {"type": "logreg",
         "C": hp.lognormal("LR_C", 0, 1.0),
         "solver": hp.choice("solver", ["liblinear", "lbfgs"])},
    ])
    trials = Trials()
    best_result = fmin(fn=objective, space=search_space, algo=tpe.suggest, max_evals=16,
                       trials=trials, rstate=np.random.default_rng(1))

    # Each classifier got its own params only.
    own = {"svm": {"C", "kernel"}, "rf": {"max_depth", "criterion"}, "logreg": {"C", "solver"}}
    for classifier_type, params in seen:
        assert set(params) == own[classifier_type]
    assert {t for t, _ in seen} == {"svm", "rf", "logreg"}
    best = space_eval(search_space, best_result)
    assert best["type"] == ["svm", "rf", "logreg"][best_result["classifier_type"]]
    assert min(trials.losses()) < -0.85
    # The argmin holds the chosen branch's labels only: MLflow would log the choice indices.
    assert set(best_result) == {"classifier_type", *{
        "svm": {"SVM_C", "kernel"}, "rf": {"max_depth", "criterion"},
        "logreg": {"LR_C", "solver"}}[best["type"]]}
