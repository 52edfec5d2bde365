"""The sampler a study uses when the user names none: picked per trial from the study's shape.

- Several objectives: TPESampler (MOTPE ranking).
- A conditional search space (completed trials differ in which params they have): TPESampler,
  whose groups model each branch; a GP models one fixed space.
- Pruned trials (a pruner is stopping runs early): TPESampler, which learns from how far each
  pruned trial got; a GP sees complete trials only, so it would ignore most of the history.
- Otherwise (one objective, one fixed space of floats, ints and categoricals): GPSampler for
  the first ``gp_trials`` trials (default 200), then TPESampler, whose cost grows linearly
  with the number of trials where a GP's grows with its cube.

Why (benchmarks/quality.py --suite gp, 5 seeds, 50 and 100 trials): the GP's median regret is
below TPE's on Branin, Hartmann6, Rosenbrock 5D, Ackley 5D and the mixed categorical problem
at both budgets. CMA-ES needs larger budgets than these to pay. The price is the GP's cost:
tens of milliseconds a trial where TPE spends a few, nothing next to a trial that trains a
model, which is what a study that names no sampler is assumed to run; a study of a cheap
function over thousands of trials should name TPESampler.

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
    """How many trials completed, whether they all share one set of params and whether any
    was pruned, read incrementally from ``finished_log``."""

    def __init__(self) -> None:
        self.read = 0
        self.n_complete = 0
        self.names: frozenset[str] | None = None
        self.conditional = False
        self.pruned = False

    def update(self, finished_log: Sequence[FrozenTrial]) -> None:
        for trial in finished_log[self.read:]:
            self.pruned |= trial.state == TrialState.PRUNED
            if trial.state != TrialState.COMPLETE:
                continue
            self.n_complete += 1
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
        gp_trials: trials after which a fixed single-objective space moves from the GP to
            TPE.
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
            if view.is_multi_objective or shape.conditional or shape.pruned \
                    or shape.n_complete >= self._gp_trials:
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
