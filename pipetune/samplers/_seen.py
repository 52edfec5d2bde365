"""The configurations a study has already run, for samplers on finite search spaces.

On a grid (ints, stepped floats and categoricals only) a model-based sampler converges on the
few configurations it believes best and proposes them again and again: a repeat of a
deterministic training run tells nothing new, and under a pruner a repeat of a configuration
that passed the rungs passes them again and runs to the end, so the budget goes to copies.
Samplers use ``configurations_run`` to prefer a configuration not run yet while one is left.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from pipetune.datatypes import TrialState
from pipetune.distributions import CategoricalDistribution, Distribution, FloatDistribution


def is_finite(space: Mapping[str, Distribution]) -> bool:
    """Whether the space holds finitely many configurations (no continuous float)."""
    return all(isinstance(d, CategoricalDistribution)
               or not (isinstance(d, FloatDistribution) and d.step is None)
               for d in space.values())


def configuration(params: Mapping[str, Any], names: Sequence[str]) -> tuple | None:
    """The values of ``names`` in ``params`` as a hashable key; None when one is missing."""
    try:
        return tuple(params[name] for name in names)
    except KeyError:
        return None


def configurations_run(view, names: Sequence[str], exclude_trial_id: int | None = None
                       ) -> set[tuple]:
    """The configurations of ``names`` that the study's COMPLETE, PRUNED and RUNNING trials
    ran (FAIL trials are left out: a failure may be worth retrying), except the trial
    ``exclude_trial_id`` (the one being sampled)."""
    seen: set[tuple] = set()
    for trial in view.trials:
        if trial.trial_id == exclude_trial_id or trial.state not in (
                TrialState.COMPLETE, TrialState.PRUNED, TrialState.RUNNING):
            continue
        key = configuration(trial.params, names)
        if key is not None:
            seen.add(key)
    return seen
