"""``PruningCallback``: lets a pipetune pruner stop a PyTorch Lightning training run.

Add it to the trainer an objective builds::

    trainer = lightning.pytorch.Trainer(max_epochs=20,
                                        callbacks=[PruningCallback(trial, monitor="val_rmse")])
    trainer.fit(model, train_loader, val_loader)
    return trainer.callback_metrics["val_rmse"].item()

After every validation run it reports the monitored metric to the trial (step: the epoch, or
the global step with ``step_by="global_step"`` for several validations per epoch) and raises
``pipetune.TrialPruned`` out of ``trainer.fit`` when the study's pruner says so, which ends
the trial PRUNED. The sanity-check validation Lightning runs before training is not reported.
"""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING, Any

from pipetune._imports import require
from pipetune.errors import InvalidArgumentError, TrialPruned

if TYPE_CHECKING:
    from pipetune.trial import Trial

# Read at run time (the extra may be missing), so the type checker takes the base class as Any.
_Callback: Any = require("lightning.pytorch", "lightning").Callback

__all__ = ["PruningCallback"]

STEPS = ("epoch", "global_step")


class PruningCallback(_Callback):
    """Reports ``monitor`` (a metric the LightningModule logs, e.g. with ``self.log("val_rmse",
    rmse)``) to ``trial`` after each validation and prunes the run when the pruner says so."""

    def __init__(self, trial: Trial, monitor: str = "val_rmse", *,
                 step_by: str = "epoch") -> None:
        super().__init__()
        if step_by not in STEPS:
            raise InvalidArgumentError(
                f"The 'step_by' argument of PruningCallback must be one of {STEPS}. "
                f"Got {step_by!r}.")
        self.trial = trial
        self.monitor = monitor
        self.step_by = step_by
        self._warned = False

    def on_validation_end(self, trainer: Any, pl_module: Any) -> None:
        if trainer.sanity_checking:
            return
        value = trainer.callback_metrics.get(self.monitor)
        if value is None:
            if not self._warned:
                self._warned = True
                logged = sorted(trainer.callback_metrics)
                warnings.warn(
                    f"PruningCallback: the metric {self.monitor!r} was not logged, so trial "
                    f"{self.trial.number} cannot be pruned. Logged metrics: {logged}. Log it "
                    "in validation_step (self.log) or pass monitor= one of those.",
                    stacklevel=2)
            return
        step = trainer.current_epoch if self.step_by == "epoch" else trainer.global_step
        self.trial.report(float(value), step=int(step))
        if self.trial.should_prune():
            raise TrialPruned(f"pruned at {self.step_by} {step} ({self.monitor}={float(value):g})")
