"""The ``algo`` of ``fmin``: Hyperopt's ``tpe`` / ``rand`` / ``anneal`` / ``atpe`` / ``mix``
``suggest`` names, each served by a pipetune sampler.

- ``tpe.suggest``: ``TPESampler`` (``n_startup_jobs``, ``n_EI_candidates``, ``prior_weight`` and
  ``gamma`` map onto its options);
- ``rand.suggest``: ``PriorSampler``, pipetune's ``RandomSampler`` drawing each node from its
  Hyperopt prior (``hp.pchoice`` options with their probabilities, ``hp.normal`` normally
  within its bounded domain);
- ``anneal.suggest``: ``CmaEsSampler``, the local search that narrows around the best trials,
  with ``TPESampler`` for the choices and conditional params CMA-ES does not cover;
- ``atpe.suggest``: ``TPESampler`` (multivariate, pipetune's default): ATPE's learnt tuning of
  TPE's settings is not reproduced;
- ``mix.suggest`` with ``p_suggest=[(p, algo), ...]``: ``MixtureSampler``, which picks one of
  the algorithms for each trial with its probability.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from pipetune._numbers import real_number
from pipetune.compat.hyperopt._space import Choice, Node, Param
from pipetune.datatypes import FrozenTrial, TrialState
from pipetune.distributions import (
    CategoricalDistribution,
    Distribution,
    FloatDistribution,
    IntDistribution,
)
from pipetune.errors import InvalidArgumentError
from pipetune.samplers import BaseSampler, RandomSampler
from pipetune.samplers._rng import TrialRandomness


@dataclass(frozen=True)
class Suggest:
    """``tpe.suggest`` and the like: names the algorithm ``fmin`` runs as a pipetune sampler
    (see the module docstring)."""

    algorithm: str

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        raise InvalidArgumentError(
            f"{self.algorithm}.suggest is not called directly: pass it to fmin as "
            f"algo={self.algorithm}.suggest (or functools.partial({self.algorithm}.suggest, ...) "
            "to set its options).")

    def __repr__(self) -> str:
        return f"{self.algorithm}.suggest"


ALGORITHMS = ("tpe", "rand", "anneal", "atpe", "mix")
_TPE_OPTIONS = {"n_startup_jobs": "n_startup_trials", "n_EI_candidates": "n_ei_candidates",
                "prior_weight": "prior_weight", "gamma": "gamma"}
# Hyperopt's anneal options: its neighbourhood schedule, which CMA-ES adapts on its own.
_ANNEAL_OPTIONS = ("avg_best_idx", "shrink_coef")


def _hyperopt_gamma(fraction: float, n: int) -> int:
    # Hyperopt's good set: ceil(gamma * sqrt(n)) trials, at most 25 (its linear_forgetting).
    return min(math.ceil(fraction * math.sqrt(n)), 25)


def _as_suggest(algo: Any) -> Suggest | None:
    if isinstance(algo, Suggest):
        return algo
    # Hyperopt's own suggest functions, for code that kept `from hyperopt import tpe`.
    module = getattr(algo, "__module__", None) or ""
    name = module.rsplit(".", 1)[-1]
    if getattr(algo, "__name__", None) == "suggest" and module.startswith("hyperopt.") \
            and name in ALGORITHMS:
        return Suggest(name)
    return None


def sampler_for(algo: Any, seed: int | None, nodes: Mapping[str, Node]) -> BaseSampler:
    """The pipetune sampler serving ``algo`` (a ``suggest``, optionally in
    ``functools.partial`` with options, or a pipetune sampler used as is) for a space with
    these labelled ``nodes``."""
    if isinstance(algo, BaseSampler):
        return algo
    options: dict[str, Any] = {}
    if isinstance(algo, functools.partial) and not algo.args:
        options, algo = dict(algo.keywords), algo.func
    suggest = Suggest("tpe") if algo is None else _as_suggest(algo)
    if suggest is None:
        raise InvalidArgumentError(
            "The 'algo' argument of fmin must be tpe.suggest, rand.suggest, anneal.suggest, "
            "atpe.suggest or mix.suggest (optionally in functools.partial with options), or a "
            f"pipetune sampler such as pipetune.samplers.QMCSampler(). Got {algo!r}.")
    options.pop("verbose", None)
    name = suggest.algorithm
    if name == "mix":
        return _mixture(options, seed, nodes)
    if name == "anneal":
        unknown = sorted(set(options) - set(_ANNEAL_OPTIONS))
        if unknown:
            raise InvalidArgumentError(
                f"anneal.suggest option(s) {unknown} are not supported; it takes "
                f"{', '.join(_ANNEAL_OPTIONS)} (which have no effect here).")
        from pipetune.samplers import CmaEsSampler, TPESampler

        return CmaEsSampler(seed=seed, independent_sampler=TPESampler(seed=seed))
    if name in ("rand", "atpe") and options:
        raise InvalidArgumentError(f"{name}.suggest takes no options here. Got {sorted(options)}.")
    if name == "rand":
        return PriorSampler(nodes, seed=seed)
    kwargs: dict[str, Any] = {}
    for key, value in options.items():
        if key not in _TPE_OPTIONS:
            raise InvalidArgumentError(
                f"tpe.suggest option {key!r} is not supported; use {', '.join(_TPE_OPTIONS)}.")
        if key == "gamma":
            fraction = real_number(value)
            if fraction is None or not 0 < fraction <= 1:
                raise InvalidArgumentError(
                    f"tpe.suggest's gamma must be a fraction in (0, 1]. Got {value!r}.")
            value = functools.partial(_hyperopt_gamma, fraction)
        kwargs[_TPE_OPTIONS[key]] = value
    # Imported here: a Spark task that only evaluates a sample never builds a sampler.
    from pipetune.samplers import TPESampler

    return TPESampler(seed=seed, **kwargs)


def _mixture(options: dict[str, Any], seed: int | None,
             nodes: Mapping[str, Node]) -> MixtureSampler:
    p_suggest = options.pop("p_suggest", None)
    if options:
        raise InvalidArgumentError(
            f"mix.suggest takes p_suggest only. Got {sorted(options)}.")
    if not isinstance(p_suggest, Sequence) or not p_suggest or not all(
            isinstance(pair, (tuple, list)) and len(pair) == 2 for pair in p_suggest):
        raise InvalidArgumentError(
            "mix.suggest needs p_suggest=[(probability, algo), ...], e.g. "
            "functools.partial(mix.suggest, p_suggest=[(0.2, rand.suggest), "
            f"(0.8, tpe.suggest)]). Got {p_suggest!r}.")
    weights = [real_number(p) for p, _ in p_suggest]
    if any(w is None or w < 0 for w in weights) or not math.isclose(
            sum(w or 0.0 for w in weights), 1.0, abs_tol=1e-6):
        raise InvalidArgumentError(
            f"mix.suggest's probabilities must be >= 0 and sum to 1. Got {weights}.")
    components = [(float(w or 0.0), sampler_for(a, seed, nodes))
                  for w, (_, a) in zip(weights, p_suggest)]
    return MixtureSampler(components, seed=seed)


class PriorSampler(RandomSampler):
    """``rand.suggest``: random search drawing each labelled node from its Hyperopt prior,
    within the bounded domain pipetune suggests it from: a ``hp.pchoice`` option with its
    probability, ``hp.normal`` / ``hp.lognormal`` (and their ``q`` kinds) from the normal,
    truncated to ``mu +- 4 sigma``; the others uniformly, as ``RandomSampler``."""

    def __init__(self, nodes: Mapping[str, Node], seed: int | None = None) -> None:
        super().__init__(seed=seed)
        self._nodes = dict(nodes)

    def sample_independent(self, view: Any, trial: FrozenTrial, name: str,
                           distribution: Distribution) -> Any:
        node = self._nodes.get(name)
        rng = self._randomness.for_trial(trial, "random")
        if isinstance(node, Choice) and node.weights is not None \
                and isinstance(distribution, CategoricalDistribution) \
                and len(distribution.choices) == len(node.weights):
            return distribution.choices[int(rng.choice(len(node.weights), p=node.weights))]
        if isinstance(node, Param) and node.kind in ("normal", "qnormal", "lognormal",
                                                     "qlognormal") \
                and isinstance(distribution, (FloatDistribution, IntDistribution)):
            return _truncated_normal(node, distribution, rng)
        return super().sample_independent(view, trial, name, distribution)


def _truncated_normal(node: Param, distribution: FloatDistribution | IntDistribution,
                      rng: np.random.Generator) -> float:
    mu, sigma = node.args[0], node.args[1]
    low, high = float(distribution.low), float(distribution.high)
    for _ in range(100):  # the domain holds 99.99% of the prior: this rarely loops twice
        value = float(rng.normal(mu, sigma))
        if distribution.log:
            value = math.exp(value)
        if distribution.step is not None:
            step = float(distribution.step)
            value = low + round((value - low) / step) * step
        if low <= value <= high:
            return value
    return min(max(value, low), high)


class MixtureSampler(BaseSampler):
    """``mix.suggest``: for each trial, one of ``components`` (probability, sampler) picked
    with its probability, from a generator seeded by ``(seed, trial number)``, proposes all
    its params."""

    def __init__(self, components: Sequence[tuple[float, BaseSampler]],
                 seed: int | None = None) -> None:
        self._components = list(components)
        self._randomness = TrialRandomness(seed)
        self._picked: dict[int, BaseSampler] = {}

    def _for(self, trial: FrozenTrial) -> BaseSampler:
        sampler = self._picked.get(trial.trial_id)
        if sampler is None:
            rng = self._randomness.for_trial(trial, "mix")
            weights = np.array([w for w, _ in self._components])
            index = int(rng.choice(len(weights), p=weights / weights.sum()))
            sampler = self._picked[trial.trial_id] = self._components[index][1]
        return sampler

    def before_trial(self, view: Any, trial: FrozenTrial) -> dict[str, Any]:
        return self._for(trial).before_trial(view, trial)

    def infer_relative_search_space(self, view: Any,
                                    trial: FrozenTrial) -> dict[str, Distribution]:
        return self._for(trial).infer_relative_search_space(view, trial)

    def sample_relative(self, view: Any, trial: FrozenTrial,
                        search_space: dict[str, Distribution]) -> dict[str, Any]:
        return self._for(trial).sample_relative(view, trial, search_space)

    def sample_independent(self, view: Any, trial: FrozenTrial, name: str,
                           distribution: Distribution) -> Any:
        return self._for(trial).sample_independent(view, trial, name, distribution)

    def after_trial(self, view: Any, trial: FrozenTrial, state: TrialState,
                    values: Sequence[float] | None) -> dict[str, Any] | None:
        sampler = self._for(trial)
        self._picked.pop(trial.trial_id, None)
        self._randomness.forget(trial)
        return sampler.after_trial(view, trial, state, values)
