"""The DC taxi fare pipeline of the book's chapter 12, every stage tuned by one study.

* ``load``: parse the trips CSV (no params; cached, so it is parsed once per machine).
* ``prepare``: rows with a missing coordinate are dropped, or the gap is filled with the
  column mean (``prepare.missing``).
* ``features``: each coordinate is binned into 64 or 128 buckets (``features.bins``) by its
  quantiles; time columns are scaled; the last fifth of the trips is held out for validation.
* ``train``: the seed's ``DcTaxiModel`` search space (optimizer, learning rate, 2 or 3 hidden
  layers of 7 or 11 neurons, batch normalization, batch size, batches per epoch, and a
  ``seed`` whose importance is the yardstick of the noise), reporting the validation RMSE after
  every epoch so the pruner can stop bad pipelines mid-training.

``objective`` is what ``study.optimize``, ``pipetune optimize --objective
pipeline:objective`` and ``pipetune worker`` run (from this folder); run as a script, the file
is one trial of ``pipetune tune examples/dc_taxi/study.yaml``.
"""

from __future__ import annotations

import os
import sys

import numpy as np
import pandas as pd
from data import COORDINATES, ensure_csv
from model import DcTaxiModel

from pipetune.pipeline import Pipeline, stage

N_ROWS = int(os.environ.get("DC_TAXI_ROWS", "300000"))
DATA_DIR = os.environ.get("DC_TAXI_DATA", "pipetune-data")
VALIDATION_SHARE = 0.2
VALIDATION_ROWS = 5000  # scored after every epoch: a fixed sample keeps it cheap
EPOCHS = 8


@stage()
def load(path):
    """The trips as a DataFrame, in file order."""
    return pd.read_csv(path)


@stage(space={"missing": ["drop", "mean"]})
def prepare(trips, missing):
    """Rows with a missing value dropped, or each gap filled with its column's mean."""
    if missing == "drop":
        return trips.dropna().reset_index(drop=True)
    return trips.fillna(trips.mean())


@stage(space={"bins": [64, 128]})
def features(trips, bins):
    """Coordinates as quantile bucket codes, time columns scaled to about [-1, 1], the fare
    as the target; split into training and validation rows."""
    codes = np.empty((len(trips), len(COORDINATES)), dtype=np.int16)
    for j, column in enumerate(COORDINATES):
        values = trips[column].to_numpy()
        edges = np.quantile(values, np.linspace(0, 1, bins + 1)[1:-1])
        codes[:, j] = np.searchsorted(edges, values, side="right")
    hour = trips["hour"].to_numpy(dtype=np.float64)
    numeric = np.column_stack([
        np.sin(2 * np.pi * hour / 24), np.cos(2 * np.pi * hour / 24),
        trips["dayofweek"].to_numpy() / 3.0 - 1.0,
        (trips["month"].to_numpy() - 6.5) / 5.5,
        trips["year"].to_numpy() - 2017.0,
    ])
    target = trips["fareamount"].to_numpy(dtype=np.float64)
    cut = int(len(trips) * (1 - VALIDATION_SHARE))
    return {"codes": codes[:cut], "numeric": numeric[:cut], "target": target[:cut],
            "val_codes": codes[cut:][:VALIDATION_ROWS],
            "val_numeric": numeric[cut:][:VALIDATION_ROWS],
            "val_target": target[cut:][:VALIDATION_ROWS], "bins": bins}


def train_space(trial):
    """The seed's space (listing 11.4), define-by-run: one width per hidden layer."""
    num_layers = trial.suggest_categorical("num_layers", [2, 3])
    return {
        "seed": trial.suggest_int("seed", 0, 1000),
        "optimizer": trial.suggest_categorical("optimizer", ["Adam", "SGD"]),
        "lr": trial.suggest_float("lr", 0.009, 0.07, log=True),
        "hidden": [trial.suggest_categorical(f"num_hidden_layer_{i}_neurons", [7, 11])
                   for i in range(num_layers)],
        "batch_norm": bool(trial.suggest_int("batch_norm_linear_layers", 0, 1)),
        "batch_size": trial.suggest_int("batch_size", 30, 50, log=True),
        "max_batches": trial.suggest_int("max_batches", 30, 50, log=True),
    }


@stage(space=train_space)
def train(table, seed, optimizer, lr, hidden, batch_norm, batch_size, max_batches,
          progress, epochs=EPOCHS):
    """Trains for ``epochs`` epochs of ``max_batches`` mini-batches on a standardized fare and
    reports the validation RMSE in dollars after each; returns the model and its scores."""
    rng = np.random.default_rng(seed)
    target = table["target"]
    centre, spread = float(target.mean()), float(target.std())
    model = DcTaxiModel(n_codes=table["codes"].shape[1], n_bins=table["bins"],
                        n_numeric=table["numeric"].shape[1], hidden=list(hidden),
                        batch_norm=batch_norm, optimizer=optimizer, lr=lr, seed=seed)
    rmse = float("inf")
    for epoch in range(epochs):
        for _ in range(max_batches):
            rows = rng.integers(0, len(target), size=batch_size)
            model.fit_batch(table["codes"][rows], table["numeric"][rows],
                            (target[rows] - centre) / spread)
        predicted = model.predict(table["val_codes"], table["val_numeric"]) * spread + centre
        rmse = float(np.sqrt(np.mean((predicted - table["val_target"]) ** 2)))
        if not np.isfinite(rmse):
            rmse = 1e6  # diverged: the worst score, not a failure
        progress.report(rmse, epoch)
    return {"val_rmse": rmse, "model": model, "target_scale": (centre, spread)}


def val_rmse(trained):
    """The objective: the trained pipeline's last validation RMSE."""
    return trained["val_rmse"]


PIPELINE = Pipeline([load, prepare, features, train], value=val_rmse)


def data_path() -> str:
    """The trips CSV the pipeline reads (written on first use)."""
    return ensure_csv(DATA_DIR, N_ROWS)


objective = PIPELINE.as_objective(data_path())


if __name__ == "__main__":  # one trial of `pipetune tune study.yaml` (see study.yaml)
    sys.exit(PIPELINE.main(data=data_path()))
