"""PruningCallback: a pipetune pruner stops a PyTorch Lightning training run (torch on CPU)."""

from __future__ import annotations

import pytest
from availability import require_installed

require_installed("lightning", "torch", extra="lightning")

import lightning.pytorch as pl  # noqa: E402
import torch  # noqa: E402
from torch.utils.data import DataLoader, TensorDataset  # noqa: E402

import pipetune  # noqa: E402
from pipetune.integrations.lightning import PruningCallback  # noqa: E402

torch.manual_seed(0)
X = torch.randn(64, 3)
Y = X @ torch.tensor([1.0, -2.0, 0.5]) + 0.1 * torch.randn(64)


class TinyRegression(pl.LightningModule):
    def __init__(self, lr: float) -> None:
        super().__init__()
        self.lr = lr
        self.layer = torch.nn.Linear(3, 1)

    def training_step(self, batch, batch_idx):
        x, y = batch
        return torch.nn.functional.mse_loss(self.layer(x).squeeze(-1), y)

    def validation_step(self, batch, batch_idx):
        x, y = batch
        mse = torch.nn.functional.mse_loss(self.layer(x).squeeze(-1), y)
        self.log("val_rmse", mse.sqrt(), on_epoch=True)

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=self.lr)


def objective(trial: pipetune.Trial) -> float:
    lr = trial.suggest_float("lr", 1e-6, 0.5, log=True)
    loader = DataLoader(TensorDataset(X, Y), batch_size=16)
    trainer = pl.Trainer(max_epochs=6, accelerator="cpu", logger=False,
                         enable_checkpointing=False, enable_progress_bar=False,
                         enable_model_summary=False,
                         callbacks=[PruningCallback(trial, monitor="val_rmse")])
    trainer.fit(TinyRegression(lr), loader, loader)
    return trainer.callback_metrics["val_rmse"].item()


def test_callback_reports_every_epoch_and_prunes_a_bad_run():
    study = pipetune.create_study(
        pruner=pipetune.pruners.MedianPruner(n_startup_trials=1, n_warmup_steps=1))
    study.enqueue_trial({"lr": 0.3})   # learns: completes
    study.enqueue_trial({"lr": 1e-6})  # learns nothing: worse than the median from epoch 1
    study.optimize(objective, n_trials=2)
    good, bad = study.trials
    assert good.state == pipetune.TrialState.COMPLETE
    assert sorted(good.intermediate_values) == list(range(6))
    assert bad.state == pipetune.TrialState.PRUNED
    assert max(bad.intermediate_values) < 5


def test_a_metric_never_logged_is_warned_about_not_pruned():
    study = pipetune.create_study()
    trial = study.ask()
    loader = DataLoader(TensorDataset(X, Y), batch_size=32)
    trainer = pl.Trainer(max_epochs=1, accelerator="cpu", logger=False,
                         enable_checkpointing=False, enable_progress_bar=False,
                         enable_model_summary=False,
                         callbacks=[PruningCallback(trial, monitor="val_loss")])
    with pytest.warns(UserWarning, match="'val_loss' was not logged"):
        trainer.fit(TinyRegression(0.1), loader, loader)
    assert trial.intermediate_values == {}
