"""Records the learning curves that ``curves.py``'s recorded problems replay.

For each ``RecordedSpec`` in ``curves.RECORDED_SPECS`` this trains the scikit-learn model on
the bundled data set (no download) for every configuration of the spec's grid, one
``partial_fit`` epoch at a time, and writes the validation error after each epoch to
``benchmarks/data/<problem>.npz``: ``curves`` (float64, one axis per param in the order of the
space, then one per epoch) and ``meta`` (a JSON string: the grid axes, the split, the versions
and how long recording took). Recording is deterministic (fixed splits and ``random_state``),
runs once, and a benchmark then replays a trial's curve from the table.

Run: ``.venv/bin/python benchmarks/record_curves.py`` (all problems, a few minutes on one core)
or ``--problems sgd-wine,sgd-cancer``.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
import warnings
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import parse_names
from curves import DATA_DIR, RECORDED_SPECS, RecordedSpec, grid_axes, grid_points

Split = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]


def load_dataset(name: str) -> tuple[np.ndarray, np.ndarray]:
    """A data set that ships with scikit-learn, by its ``load_*`` name without the prefix."""
    from sklearn import datasets

    loaders = {"digits": datasets.load_digits, "breast_cancer": datasets.load_breast_cancer,
               "wine": datasets.load_wine, "iris": datasets.load_iris}
    x, y = loaders[name](return_X_y=True)
    return np.asarray(x, dtype=float), np.asarray(y)


def splits(spec: RecordedSpec) -> tuple[list[Split], np.ndarray, str, int]:
    """The spec's train/validation splits, each standardised on its training part, with the
    classes, a description and the number of validation samples one error step stands for."""
    from sklearn.model_selection import StratifiedKFold, train_test_split
    from sklearn.preprocessing import StandardScaler

    x, y = load_dataset(spec.dataset)
    pairs: list[tuple[np.ndarray, np.ndarray]]
    if spec.folds == 1:
        train, val = train_test_split(np.arange(len(y)), test_size=1 / 3, random_state=0,
                                      stratify=y)
        pairs = [(train, val)]
        described, n_validation = f"a fixed stratified third ({len(val)} samples)", len(val)
    else:
        folds = StratifiedKFold(spec.folds, shuffle=True, random_state=0)
        pairs = list(folds.split(x, y))
        described = f"mean over a stratified {spec.folds}-fold split of {len(y)} samples"
        n_validation = len(y)
    out = []
    for train, val in pairs:
        scaler = StandardScaler().fit(x[train])
        out.append((scaler.transform(x[train]), y[train], scaler.transform(x[val]), y[val]))
    return out, np.unique(y), described, n_validation


def make_model(spec: RecordedSpec, params: dict[str, Any]) -> Any:
    """The estimator of one grid point; exponents in the params stand for the values."""
    if spec.model == "mlp":
        from sklearn.neural_network import MLPClassifier

        return MLPClassifier(hidden_layer_sizes=(2 ** params["log2_units"],),
                             activation=params["activation"], solver="adam",
                             alpha=10.0 ** params["log10_alpha"],
                             learning_rate_init=10.0 ** params["log10_lr"],
                             batch_size=2 ** params["log2_batch"], random_state=0)
    from sklearn.linear_model import SGDClassifier

    return SGDClassifier(alpha=10.0 ** params["log10_alpha"], eta0=10.0 ** params["log10_eta0"],
                         learning_rate=params["learning_rate"], penalty=params["penalty"],
                         random_state=0)


def _finite(model: Any) -> bool:
    weights = (model.coefs_ + model.intercepts_ if hasattr(model, "coefs_")
               else [model.coef_, model.intercept_])
    return all(np.all(np.isfinite(w)) for w in weights)


def curve(spec: RecordedSpec, params: dict[str, Any], split: Split,
          classes: np.ndarray) -> np.ndarray:
    """The validation error after each of ``spec.epochs`` epochs on one split. A run that
    diverges (scikit-learn raises, or the weights stop being finite) stays at the error of
    always answering the majority class from then on."""
    x_train, y_train, x_val, y_val = split
    majority = 1.0 - float(np.max(np.bincount(y_val))) / len(y_val)
    model = make_model(spec, params)
    errors = np.full(spec.epochs, majority)
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        for epoch in range(spec.epochs):
            try:
                model.partial_fit(x_train, y_train, classes=classes)
            except ValueError:  # SGD: "Floating-point under-/overflow occurred at epoch #1"
                break
            if not _finite(model):
                break
            errors[epoch] = float(np.mean(model.predict(x_val) != y_val))
    return errors


def record(spec: RecordedSpec) -> tuple[Path, float]:
    """Trains every grid point of ``spec`` and writes its table; returns the path and the
    seconds it took."""
    start = time.perf_counter()
    folds, classes, described, n_validation = splits(spec)
    points = grid_points(spec.space)
    rows = np.empty((len(points), spec.epochs))
    for i, params in enumerate(points):
        fold_curves = [curve(spec, params, split, classes) for split in folds]
        # The mean of per-fold errors, weighted by fold size: misclassified / all samples.
        weights = np.array([len(split[3]) for split in folds], dtype=float)
        rows[i] = np.average(np.array(fold_curves), axis=0, weights=weights)
        if (i + 1) % 50 == 0:
            print(f"  {spec.name}: {i + 1}/{len(points)} configs, "
                  f"{time.perf_counter() - start:.0f} s", file=sys.stderr, flush=True)
    seconds = time.perf_counter() - start
    shape = tuple(len(axis) for axis in grid_axes(spec.space)) + (spec.epochs,)
    import sklearn

    meta = {"problem": spec.name, "model": spec.model, "dataset": spec.dataset,
            "value": "validation error (fraction misclassified) after each epoch",
            "axes": [list(axis) for axis in grid_axes(spec.space)],
            "params": [p.name for p in spec.space], "epochs": spec.epochs,
            "validation": described, "n_validation": n_validation, "n_configs": len(points),
            "record_s": round(seconds, 1),
            "recorded": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
            "versions": {"scikit-learn": sklearn.__version__, "numpy": np.__version__,
                         "python": platform.python_version()}}
    DATA_DIR.mkdir(exist_ok=True)
    np.savez_compressed(spec.path, curves=rows.reshape(shape),
                        meta=np.array(json.dumps(meta)))
    return spec.path, seconds


def _summaries(spec: RecordedSpec) -> Iterator[str]:
    from curves import load_table

    load_table.cache_clear()
    table = load_table(spec.name)
    finals = table.curves[..., -1].ravel()
    yield (f"best final {finals.min():.4f}, median {np.median(finals):.4f}, "
           f"configs within one sample of the best "
           f"{int(np.sum(finals <= finals.min() + 1.0 / table.meta['n_validation'] + 1e-9))}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Records the learning-curve tables of the "
                                                 "recorded problems in benchmarks/curves.py.")
    names = [spec.name for spec in RECORDED_SPECS]
    parser.add_argument("--problems", default=",".join(names),
                        help=f"comma-separated subset of: {', '.join(names)}")
    args = parser.parse_args(argv)
    chosen = parse_names(args.problems, names, "problems")
    from threadpoolctl import threadpool_limits

    threadpool_limits(1)  # one core: the grid is many small fits, not one big one
    total = 0.0
    for spec in RECORDED_SPECS:
        if spec.name not in chosen:
            continue
        path, seconds = record(spec)
        total += seconds
        print(f"{spec.name}: {len(grid_points(spec.space))} configs x {spec.folds} split(s) x "
              f"{spec.epochs} epochs in {seconds:.1f} s -> {path} "
              f"({path.stat().st_size / 1024:.1f} KiB); " + "; ".join(_summaries(spec)),
              flush=True)
    print(f"total {total:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
