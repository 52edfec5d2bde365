"""The sampler a study uses when the user names none: picked per trial from the study's shape.

- Several objectives: TPESampler (MOTPE ranking).
- A conditional search space (completed trials differ in which params they have): TPESampler,
  whose groups model each branch; a GP models one fixed space.
- Otherwise (one objective, one fixed space of floats, ints and categoricals): GPSampler until
  ``gp_trials`` trials (default 200) have finished, COMPLETE and PRUNED together (the trials the
  GP learns from), then TPESampler, whose cost grows linearly with the number of trials where a
  GP's grows with its cube. Under a pruner the GP stays: it learns from each pruned trial at the
  step it reached (``gp/fidelity.py``). Counting pruned trials keeps "the first 200 trials"
  meaning what it says whatever the pruner; the GP itself fits at most
  ``gp.fidelity.MAX_OBSERVATIONS`` of them.

Why (benchmarks/quality.py --suite gp, 5 seeds, 50 and 100 trials): the GP's median regret is
below TPE's on Branin, Hartmann6, Rosenbrock 5D, Ackley 5D and the mixed categorical problem
at both budgets. CMA-ES needs larger budgets than these to pay. The price is the GP's cost:
tens of milliseconds a trial where TPE spends a few, nothing next to a trial that trains a
model, which is what a study that names no sampler is assumed to run; a study of a cheap
function over thousands of trials should name TPESampler.

Under a pruner (benchmarks/early_stopping.py, the five multi-fidelity problems, 10 seeds,
``--sampler auto,tpe``, each combination at a third of no pruning's resource; mean rank among
12 combinations): AutoSampler + Hyperband beats Optuna's best sampler+pruner on 4 of 5
problems (mlp-digits 5.55 vs 6.85, mlp-cancer 5.45 vs 5.60, sgd-digits-table 5.40 vs 6.80,
hartmann6-curves 2.40 vs 6.65; sgd-cancer, where nearly every combination finds the optimum,
6.90 vs 6.30), + median on 3 of 5. With ASHA, which stops about 12 of 13 trials at its
first rungs, the GP does worse than TPE on hartmann6-curves (8.50 vs 5.90) and mlp-cancer
(10.95 vs 9.10), better on mlp-digits and sgd-digits-table. A proposal costs about 15-25 ms
at 100 finished trials and about 40 ms at 300, five in six of them pruned.

The choice is made once per trial, before its first suggestion, and every hook of that trial
goes to the same sampler. Each delegate is seeded from ``seed``, so a seeded study repeats.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

from pipetune.datatypes import FrozenTrial, TrialState
from pipetune.distributions import Distribution
from pipetune.errors import InvalidArgumentError
from pipetune.samplers._rng import TrialRandomness
from pipetune.samplers.base import BaseSampler
from pipetune.samplers.gp import GPSampler
from pipetune.samplers.tpe import TPESampler


class _Shape:
    """How many trials completed or were pruned (the trials the GP learns from) and whether
    the completed ones all share one set of params, read incrementally from ``finished_log``."""

    def __init__(self) -> None:
        self.read = 0
        self.n_learnt = 0
        self.names: frozenset[str] | None = None
        self.conditional = False

    def update(self, finished_log: Sequence[FrozenTrial]) -> None:
        for trial in finished_log[self.read:]:
            if trial.state == TrialState.PRUNED:
                self.n_learnt += 1
            if trial.state != TrialState.COMPLETE:
                continue
            self.n_learnt += 1
            names = frozenset(trial.params)
            if self.names is None:
                self.names = names
            elif names != self.names:
                self.conditional = True
        self.read = len(finished_log)


class AutoSampler(BaseSampler):
    """Chooses GPSampler or TPESampler per trial from the objectives, the space and the
    number of trials (see the module docstring for the rule).

    Args:
        seed: seeds every delegate, so a seeded study repeats.
        gp_trials: finished trials (COMPLETE and PRUNED: those the GP learns from) after
            which a fixed single-objective space moves from the GP to TPE.
    """

    def __init__(self, seed: int | None = None, gp_trials: int = 200) -> None:
        if isinstance(gp_trials, bool) or not isinstance(gp_trials, int) or gp_trials < 0:
            raise InvalidArgumentError(
                f"The 'gp_trials' argument of AutoSampler must be an int >= 0. Got {gp_trials!r}.")
        seed = TrialRandomness(seed).seed
        self._gp = GPSampler(seed=seed)
        self._tpe = TPESampler(seed=seed)
        self._gp_trials = gp_trials
        self._shapes: dict[int, _Shape] = {}
        self._chosen: dict[int, BaseSampler] = {}  # trial_id -> delegate
        self._lock = threading.Lock()

    def choose(self, view) -> BaseSampler:
        """The sampler the next trial of the study ``view`` shows goes to."""
        with self._lock:
            shape = self._shapes.setdefault(view.history_key, _Shape())
            shape.update(view.finished_log)
            if view.is_multi_objective or shape.conditional \
                    or shape.n_learnt >= self._gp_trials:
                return self._tpe
            return self._gp

    def _delegate(self, view, trial: FrozenTrial) -> BaseSampler:
        sampler = self._chosen.get(trial.trial_id)
        if sampler is None:
            sampler = self._chosen[trial.trial_id] = self.choose(view)
        return sampler

    def before_trial(self, view, trial: FrozenTrial) -> dict[str, Any]:
        return self._delegate(view, trial).before_trial(view, trial)

    def infer_relative_search_space(self, view, trial: FrozenTrial) -> dict[str, Distribution]:
        return self._delegate(view, trial).infer_relative_search_space(view, trial)

    def sample_relative(self, view, trial: FrozenTrial,
                        search_space: dict[str, Distribution]) -> dict[str, Any]:
        return self._delegate(view, trial).sample_relative(view, trial, search_space)

    def sample_independent(self, view, trial: FrozenTrial, name: str,
                           distribution: Distribution) -> Any:
        return self._delegate(view, trial).sample_independent(view, trial, name, distribution)

    def after_trial(self, view, trial: FrozenTrial, state: TrialState,
                    values: Sequence[float] | None) -> dict[str, Any] | None:
        sampler = self._chosen.pop(trial.trial_id, None) or self._tpe
        return sampler.after_trial(view, trial, state, values)
