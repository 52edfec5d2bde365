"""Tune a scikit-learn pipeline on the digits data set with pipetune, the way a user would.

Each trial builds a pipeline — a scaler, then one of three classifiers whose own
hyperparameters are suggested only when that classifier is picked — and scores it by 3-fold
cross-validated accuracy. Trials are stored in ``pipetune.db`` in the working folder under the
study name ``demo``, so running the demo again adds trials to the same study, and the
``pipetune`` command can inspect them afterwards.

Run it with ``.venv/bin/python examples/demo.py [--n-trials N]`` (``make demo`` installs the
``examples`` extra it needs, and runs the DC taxi pipeline of ``examples/dc_taxi/``).
"""

from __future__ import annotations

import argparse
import warnings

from sklearn.datasets import load_digits
from sklearn.ensemble import RandomForestClassifier
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import StratifiedKFold, cross_val_score
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import MinMaxScaler, StandardScaler
from sklearn.svm import SVC

import pipetune

STORAGE = "sqlite:///pipetune.db"
STUDY_NAME = "demo"


def build_pipeline(trial: pipetune.Trial) -> Pipeline:
    """Suggests a scaler and a classifier with its conditional hyperparameters."""
    scaler_name = trial.suggest_categorical("scaler", ["standard", "minmax", "none"])
    scaler = {"standard": StandardScaler(), "minmax": MinMaxScaler(),
              "none": "passthrough"}[scaler_name]

    model_name = trial.suggest_categorical("model", ["svc", "knn", "random_forest"])
    if model_name == "svc":
        kernel = trial.suggest_categorical("svc_kernel", ["rbf", "poly"])
        c = trial.suggest_float("svc_C", 1e-2, 1e3, log=True)
        if kernel == "rbf":
            model = SVC(kernel="rbf", C=c, gamma=trial.suggest_float("svc_gamma", 1e-5, 1e-1,
                                                                     log=True))
        else:
            model = SVC(kernel="poly", C=c, degree=trial.suggest_int("svc_degree", 2, 4))
    elif model_name == "knn":
        model = KNeighborsClassifier(
            n_neighbors=trial.suggest_int("knn_n_neighbors", 1, 30, log=True),
            weights=trial.suggest_categorical("knn_weights", ["uniform", "distance"]))
    else:
        model = RandomForestClassifier(
            n_estimators=trial.suggest_int("rf_n_estimators", 10, 60, step=10),
            max_depth=trial.suggest_int("rf_max_depth", 2, 16, log=True),
            random_state=0, n_jobs=1)
    return Pipeline([("scale", scaler), ("model", model)])


def make_objective():
    """The objective: mean 3-fold accuracy, with the per-fold scores kept on the trial."""
    features, labels = load_digits(return_X_y=True)
    folds = StratifiedKFold(n_splits=3, shuffle=True, random_state=0)

    def objective(trial: pipetune.Trial) -> float:
        scores = cross_val_score(build_pipeline(trial), features, labels, cv=folds,
                                 scoring="accuracy", n_jobs=1)
        trial.set_user_attr("fold_scores", [round(float(s), 6) for s in scores])
        return float(scores.mean())

    return objective


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-trials", type=int, default=40, help="trials to run (default 40)")
    parser.add_argument("--storage", default=STORAGE, help=f"storage URL (default {STORAGE})")
    args = parser.parse_args()
    warnings.filterwarnings("ignore", category=ConvergenceWarning)

    study = pipetune.create_study(study_name=STUDY_NAME, storage=args.storage,
                                  direction="maximize", load_if_exists=True)
    study.optimize(make_objective(), n_trials=args.n_trials, show_progress_bar=True)

    best = study.best_trial
    print(f"\nStudy {study.study_name!r} in {args.storage}: {len(study.trials)} trials.")
    print(f"Best trial: #{best.number}, accuracy {best.value:.4f} "
          f"(folds {best.user_attrs.get('fold_scores')})")
    for name, value in best.params.items():
        print(f"  {name} = {value!r}")
    print("\nInspect the study from this folder (with .venv/bin on your PATH, or prefixed "
          "by .venv/bin/):")
    for command in ("pipetune studies", f"pipetune trials {STUDY_NAME}",
                    f"pipetune best {STUDY_NAME}"):
        print(f"  {command}")


if __name__ == "__main__":
    main()
