"""Tune the book's PyTorch Lightning ``DcTaxiModel`` (chapters 11 and 12) with pipetune, and
let the pruner stop bad training runs through ``PruningCallback``.

The model follows the seed's listing 12.1: ReLU layers of 7 or 11 neurons, an optional batch
normalization in front of every linear layer, AdamW or SGD, MSE loss, gradients clipped at 0.5,
``max_batches`` batches per epoch. The search space is the seed's listing 11.4. The data are the
synthetic DC taxi trips of ``examples/dc_taxi`` (rows with a missing value dropped; the 8
features standardized).

Needs the ``lightning`` extra (``pip install -e '.[lightning]'``; torch on CPU is enough)::

    python examples/dc_taxi_lightning/tune.py --n-trials 20
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys

import lightning.pytorch as pl
import numpy as np
import torch as pt
from torch.utils.data import DataLoader, TensorDataset

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "dc_taxi"))

from data import generate_trips

import pipetune
from pipetune.integrations.lightning import PruningCallback

EPOCHS = 6


class DcTaxiModel(pl.LightningModule):
    """The seed's fare regression network, its hyperparameters as in the book."""

    def __init__(self, **hparams) -> None:
        super().__init__()
        self.save_hyperparameters()
        pt.manual_seed(int(self.hparams.seed))
        widths = json.loads(self.hparams.num_hidden_neurons)
        sizes = [int(self.hparams.num_features), *widths]
        layers: list[pt.nn.Module] = []
        for i, (n_in, n_out) in enumerate(zip(sizes, [*widths, 1])):
            if self.hparams.batch_norm_linear_layers and i > 0:
                layers.append(pt.nn.BatchNorm1d(n_in))
            layers.append(pt.nn.Linear(n_in, n_out))
            if i < len(widths):
                layers.append(pt.nn.ReLU())
        self.layers = pt.nn.Sequential(*layers)

    def forward(self, X):
        return self.layers(X).squeeze(-1)

    def training_step(self, batch, batch_idx):
        X, y = batch
        loss = pt.nn.functional.mse_loss(self(X), y)
        self.log("train_rmse", loss.sqrt(), on_step=False, on_epoch=True)
        return loss

    def validation_step(self, batch, batch_idx):
        X, y = batch
        self.log("val_rmse", pt.nn.functional.mse_loss(self(X), y).sqrt(), on_epoch=True)

    def configure_optimizers(self):
        optimizers = {"Adam": pt.optim.AdamW, "SGD": pt.optim.SGD}
        return optimizers[self.hparams.optimizer](self.layers.parameters(),
                                                  lr=float(self.hparams.lr))


def load_tensors(n_rows: int) -> tuple[TensorDataset, TensorDataset]:
    trips = generate_trips(n_rows, seed=0).dropna()
    features = trips.drop(columns="fareamount").to_numpy(dtype=np.float32)
    features = (features - features.mean(axis=0)) / (features.std(axis=0) + 1e-6)
    target = trips["fareamount"].to_numpy(dtype=np.float32)
    cut = int(len(trips) * 0.8)
    as_set = lambda a, b: TensorDataset(pt.from_numpy(a), pt.from_numpy(b))  # noqa: E731
    return as_set(features[:cut], target[:cut]), as_set(features[cut:], target[cut:])


def make_objective(train_set: TensorDataset, val_set: TensorDataset):
    def objective(trial: pipetune.Trial) -> float:
        num_layers = trial.suggest_categorical("num_layers", [2, 3])
        hparams = {
            "seed": trial.suggest_int("seed", 0, pt.iinfo(pt.int32).max - 1),
            "num_features": "8",
            "batch_norm_linear_layers": trial.suggest_int("batch_norm_linear_layers", 0, 1),
            "optimizer": trial.suggest_categorical("optimizer", ["Adam", "SGD"]),
            "lr": trial.suggest_float("lr", 0.009, 0.07, log=True),
            "num_hidden_neurons": json.dumps([
                trial.suggest_categorical(f"num_hidden_layer_{layer}_neurons", [7, 11])
                for layer in range(num_layers)]),
            "batch_size": trial.suggest_int("batch_size", 30, 50, log=True),
            "max_batches": trial.suggest_int("max_batches", 30, 50, log=True),
        }
        model = DcTaxiModel(**hparams)
        trainer = pl.Trainer(
            max_epochs=EPOCHS, limit_train_batches=hparams["max_batches"], accelerator="cpu",
            gradient_clip_val=0.5, logger=False, enable_checkpointing=False,
            enable_progress_bar=False, enable_model_summary=False,
            callbacks=[PruningCallback(trial, monitor="val_rmse")])
        trainer.fit(model, DataLoader(train_set, batch_size=hparams["batch_size"],
                                      shuffle=True),
                    DataLoader(val_set, batch_size=4096))
        return trainer.callback_metrics["val_rmse"].item()

    return objective


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-trials", type=int, default=20)
    parser.add_argument("--rows", type=int, default=20000, help="synthetic trips to train on")
    args = parser.parse_args()
    pt.set_num_threads(1)
    logging.getLogger("lightning.pytorch").setLevel(logging.WARNING)  # no banner per trial
    study = pipetune.create_study(direction="minimize",
                                  sampler=pipetune.samplers.TPESampler(seed=42),
                                  pruner=pipetune.pruners.MedianPruner(n_startup_trials=3))
    study.optimize(make_objective(*load_tensors(args.rows)), n_trials=args.n_trials,
                   show_progress_bar=True)
    states = [t.state.name for t in study.trials]
    print(f"{states.count('COMPLETE')} complete, {states.count('PRUNED')} pruned. Best "
          f"validation RMSE ${study.best_value:.3f} with {study.best_params}")


if __name__ == "__main__":
    main()
