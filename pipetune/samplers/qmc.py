"""Quasi-Monte Carlo search: low-discrepancy points (scipy's Sobol or Halton) fill the space
more evenly than random draws for the same budget (Bergstra & Bengio 2012, section 5)."""

from __future__ import annotations

import logging
import secrets
import warnings
from collections.abc import Sequence
from typing import Any

from pipetune.datatypes import FrozenTrial, TrialState
from pipetune.distributions import Distribution
from pipetune.errors import InvalidArgumentError
from pipetune.samplers._unit import from_unit
from pipetune.samplers.base import BaseSampler
from pipetune.samplers.random import RandomSampler

logger = logging.getLogger("pipetune")


class QMCSampler(BaseSampler):
    """Trial ``n`` takes the ``n``-th point of one scrambled sequence over the search space.

    The space is the params of the lowest-numbered completed trial (before one completes, those
    the running trials have); params outside it (conditional or added later) and the first
    trial come from ``independent_sampler`` (random by default). Use one ``seed`` in every
    process sharing a study so they walk the same sequence.

    ``warn_asynchronous_seeding`` logs a warning when a scrambled sequence gets no seed (so
    processes sharing the study would walk different sequences); ``warn_independent_sampling``
    warns when a param of a trial past the first completed one is left to
    ``independent_sampler``.
    """

    def __init__(self, qmc_type: str = "sobol", *, scramble: bool = True, seed: int | None = None,
                 independent_sampler: BaseSampler | None = None,
                 warn_asynchronous_seeding: bool = True,
                 warn_independent_sampling: bool = False) -> None:
        if qmc_type not in ("sobol", "halton"):
            raise InvalidArgumentError(
                "The 'qmc_type' argument of QMCSampler must be 'sobol' or 'halton'. "
                f"Got {qmc_type!r}."
            )
        self._qmc_type = qmc_type
        self._scramble = scramble
        self._seed = secrets.randbits(31) if seed is None else seed
        self._independent = independent_sampler or RandomSampler(seed=self._seed)
        self._warn_independent_sampling = bool(warn_independent_sampling)
        if seed is None and scramble and warn_asynchronous_seeding:
            logger.warning(
                "QMCSampler got no seed: processes sharing a study will walk different "
                "scrambled sequences. Give every one the same seed=.")

    def infer_relative_search_space(self, view, trial: FrozenTrial) -> dict[str, Distribution]:
        # Read from the view, not kept: a sampler may serve several studies, and every process
        # reading a study finds the same lowest-numbered COMPLETE trial.
        first = next((t for t in view.trials if t.state == TrialState.COMPLETE), None)
        if first is not None:
            space = dict(first.distributions)
        else:
            # Until a trial completes, the params that running trials (in parallel, or asked
            # ahead) already have: the trials started meanwhile join the sequence at once.
            space = {}
            for running in view.trials:
                if running.state == TrialState.RUNNING:
                    space.update(running.distributions)
        return {name: d for name, d in sorted(space.items()) if not d.single()}

    def sample_relative(self, view, trial: FrozenTrial,
                        search_space: dict[str, Distribution]) -> dict[str, Any]:
        if not search_space:
            return {}
        from scipy.stats import qmc  # imported here: scipy.stats takes ~1 s to import

        engine_type = qmc.Sobol if self._qmc_type == "sobol" else qmc.Halton
        engine = engine_type(d=len(search_space), scramble=self._scramble, seed=self._seed)
        with warnings.catch_warnings():  # Sobol warns about balance for n not a power of two
            warnings.simplefilter("ignore")
            if trial.number:  # scipy's Sobol.fast_forward(0) raises OverflowError (scipy 1.17)
                engine.fast_forward(trial.number)
            point = engine.random(1)[0]
        return {name: from_unit(d, float(u)) for (name, d), u in zip(search_space.items(), point)}

    def sample_independent(self, view, trial: FrozenTrial, name: str,
                           distribution: Distribution) -> Any:
        if self._warn_independent_sampling and any(
                t.state == TrialState.COMPLETE for t in view.trials):
            warnings.warn(
                f"QMCSampler leaves {name!r} of trial {trial.number} to its independent "
                "sampler: the sequence covers the params of the first completed trial.",
                stacklevel=3)
        return self._independent.sample_independent(view, trial, name, distribution)

    def after_trial(self, view, trial: FrozenTrial, state: TrialState,
                    values: Sequence[float] | None) -> dict[str, Any] | None:
        return self._independent.after_trial(view, trial, state, values)
