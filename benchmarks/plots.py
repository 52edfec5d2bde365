"""Figures and importances on big studies: pipetune.visualization against optuna.visualization.

For each size in ``--trials`` (default 1,000 and 10,000) one set of trials is drawn at random
over the 6-parameter space of ``_common`` plus a ``seed`` param that only adds noise to the
objective, then written into a pipetune study (through the storage interface) and an Optuna
study (``add_trials``), so both libraries see identical trials. Every plot kind both libraries
have is timed from the study to the figure's JSON (what a dashboard sends; ``--repeat`` runs,
the fastest kept), the contour and rank plots on three params. ``plot_param_importances`` is
fANOVA on both sides; the report also prints both importance rankings, whose order should
agree on the params that matter and put ``seed`` near the bottom.

Run: ``.venv/bin/python benchmarks/plots.py`` (``--trials 1000 --repeat 1`` for a quick look).
Needs the ``bench`` extra and ``plot`` extra (optuna, plotly, scikit-learn). Timings on a shared
machine are noisy: read the ratios, and rerun before trusting a small difference.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import SPACE, parse_names, quiet_logging, score, table, versions

KINDS = ("optimization_history", "param_importances", "parallel_coordinate", "contour", "slice",
         "rank", "intermediate_values", "edf", "timeline")
PAIR_PARAMS = ["lr", "dropout", "layers"]  # contour and rank: a 3 x 3 grid
SEED_RANGE = 2**31 - 1
STEPS = 3


def draw_trials(n: int, seed: int) -> list[tuple[dict[str, Any], float]]:
    """``n`` random configurations with their objective (``score`` plus noise fixed by the
    ``seed`` param)."""
    rng = np.random.default_rng(seed)
    trials = []
    for _ in range(n):
        params: dict[str, Any] = {}
        for p in SPACE:
            if p.kind == "categorical":
                params[p.name] = p.choices[int(rng.integers(len(p.choices)))]
            elif p.kind == "int":
                value = (math.exp(rng.uniform(math.log(p.low), math.log(p.high + 1)))
                         if p.log else rng.uniform(p.low, p.high + 1))
                params[p.name] = min(int(value), int(p.high))
            else:
                params[p.name] = float(10 ** rng.uniform(math.log10(p.low), math.log10(p.high))
                                       if p.log else rng.uniform(p.low, p.high))
        params["seed"] = int(rng.integers(SEED_RANGE))
        noise = np.random.default_rng(params["seed"]).normal(0, 0.05)
        trials.append((params, score(params) + float(noise)))
    return trials


def _distributions(module: Any) -> dict[str, Any]:
    out = {}
    for p in SPACE:
        if p.kind == "categorical":
            out[p.name] = module.CategoricalDistribution(list(p.choices))
        elif p.kind == "int":
            out[p.name] = module.IntDistribution(int(p.low), int(p.high), log=p.log)
        else:
            out[p.name] = module.FloatDistribution(p.low, p.high, log=p.log)
    out["seed"] = module.IntDistribution(0, SEED_RANGE)
    return out


def pipetune_study(trials: list[tuple[dict[str, Any], float]]) -> Any:
    import pipetune

    storage = pipetune.InMemoryStorage()
    study = pipetune.create_study(storage=storage, study_name="plots")
    study_id = storage.get_study_id("plots")
    distributions = _distributions(pipetune)
    for params, value in trials:
        trial = storage.claim_trial(study_id, worker="w1")
        storage.set_trial_params(trial.trial_id, {
            name: (distributions[name].to_internal(v), distributions[name])
            for name, v in params.items()})
        for step in range(STEPS):
            storage.set_trial_intermediate_value(trial.trial_id, step, value + 1 / (step + 1))
        storage.finish_trial(trial.trial_id, pipetune.TrialState.COMPLETE, [value])
    return study


def optuna_study(trials: list[tuple[dict[str, Any], float]]) -> Any:
    import optuna

    distributions = _distributions(optuna.distributions)
    study = optuna.create_study(study_name="plots")
    study.add_trials([optuna.trial.create_trial(
        params=params, distributions=distributions, value=value,
        intermediate_values={step: value + 1 / (step + 1) for step in range(STEPS)})
        for params, value in trials])
    return study


def _plot_call(module: Any, kind: str, study: Any) -> Callable[[], Any]:
    plot = getattr(module, f"plot_{kind}")
    kwargs = {"params": PAIR_PARAMS} if kind in ("contour", "rank") else {}
    return lambda: plot(study, **kwargs).to_json()


def fastest(call: Callable[[], Any], repeat: int) -> float:
    best = math.inf
    for _ in range(repeat):
        start = time.perf_counter()
        call()
        best = min(best, time.perf_counter() - start)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trials", default="1000,10000", help="comma-separated study sizes")
    parser.add_argument("--kinds", default=",".join(KINDS), help="plot kinds to time")
    parser.add_argument("--repeat", type=int, default=3, help="runs per figure; fastest kept")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    kinds = parse_names(args.kinds, KINDS, "kinds")
    sizes = [int(n) for n in args.trials.split(",")]
    quiet_logging()
    import optuna.visualization

    import pipetune.importance
    import pipetune.visualization

    print(", ".join(f"{k} {v}" for k, v in versions(
        ("pipetune", "optuna", "plotly", "scikit-learn", "numpy")).items()))
    for n in sizes:
        trials = draw_trials(n, args.seed)
        ours, theirs = pipetune_study(trials), optuna_study(trials)
        rows = []
        for kind in kinds:
            mine = fastest(_plot_call(pipetune.visualization, kind, ours), args.repeat)
            other = fastest(_plot_call(optuna.visualization, kind, theirs), args.repeat)
            rows.append([kind, f"{mine:.3f}", f"{other:.3f}", f"{other / mine:.2f}"])
        print(f"\n{n} trials: seconds from study to figure JSON (fastest of {args.repeat})")
        print(table(["plot", "pipetune s", "optuna s", "ratio (optuna/pipetune)"], rows))
        mine = pipetune.importance.get_param_importances(ours)
        other = optuna.importance.get_param_importances(theirs)
        print("\nfANOVA importances (pipetune +/- spread across trees | optuna):")
        print(table(["param", "pipetune", "optuna"], [
            [name, f"{mine[name]:.3f} +/- {mine.std[name]:.3f}", f"{other[name]:.3f}"]
            for name in mine]))


if __name__ == "__main__":
    main()
