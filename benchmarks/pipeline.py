"""Does the stage cache pay? The DC taxi pipeline tuned with and without it, and as a plain
Optuna objective, side by side in one process run.

Three searches of ``--trials`` (60) trials over the same space (``examples/dc_taxi``:
``prepare.missing``, ``features.bins`` and the seed's training params), one after the other:

- *pipetune + cache*: ``PIPELINE.as_objective(data, cache=<fresh folder>)``: a stage output
  whose stage, code, params and input were seen before is loaded instead of computed;
- *pipetune, no cache*: ``as_objective(data, cache=False)``: every stage runs every trial;
- *optuna*: the same stage functions called in turn from a plain Optuna objective, as one
  would write it without pipetune.

Both pipetune runs use ``TPESampler(seed)``, and the pipeline is deterministic given its params,
so they propose the same trials and must reach the same best value: the cache may only change
the time. Optuna's own TPE proposes other trials; its best value shows the search is comparable.
No pruner (``--pruner median`` to add one on every side). Timings on a shared machine are noisy:
the CPU seconds of this process (one BLAS thread) are shown beside the wall time, as they
suffer less from other jobs.

Run: ``.venv/bin/python benchmarks/pipeline.py`` (``--trials 20`` for a quick check).
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "examples" / "dc_taxi"))

from _common import add_exit_flag, exit_status, quiet_logging, table, versions

TARGET_SPEEDUP = 2.0


class _OptunaProgress:
    """What a stage's ``progress`` argument needs, for the plain Optuna objective."""

    def __init__(self, trial: Any) -> None:
        self.trial = trial

    def report(self, value: float, step: int) -> None:
        import optuna

        self.trial.report(value, step)
        if self.trial.should_prune():
            raise optuna.TrialPruned()


def _optuna_objective(pipeline: Any, path: str) -> Any:
    """The search as a plain Optuna objective: suggest, then run every stage, every trial."""
    def objective(trial: Any) -> float:
        missing = trial.suggest_categorical("prepare.missing", ["drop", "mean"])
        bins = trial.suggest_categorical("features.bins", [64, 128])
        train_params = pipeline.train_space(_Prefixed(trial, "train."))
        table_ = pipeline.features(pipeline.prepare(pipeline.load(path), missing), bins)
        result = pipeline.train(table_, progress=_OptunaProgress(trial), **train_params)
        return result["val_rmse"]
    return objective


class _Prefixed:
    """An Optuna trial whose suggestions get the stage prefix, so the names match pipetune's."""

    def __init__(self, trial: Any, prefix: str) -> None:
        self.trial, self.prefix = trial, prefix

    def suggest_int(self, name: str, *args: Any, **kwargs: Any) -> int:
        return self.trial.suggest_int(self.prefix + name, *args, **kwargs)

    def suggest_float(self, name: str, *args: Any, **kwargs: Any) -> float:
        return self.trial.suggest_float(self.prefix + name, *args, **kwargs)

    def suggest_categorical(self, name: str, choices: Any) -> Any:
        return self.trial.suggest_categorical(self.prefix + name, choices)


def _run_pipetune(pipeline: Any, path: str, cache: Any, args: argparse.Namespace) -> dict:
    import pipetune
    from pipetune.pipeline import cache_hit_rate

    pruner = pipetune.pruners.MedianPruner() if args.pruner == "median" else None
    study = pipetune.create_study(sampler=pipetune.samplers.TPESampler(seed=args.seed),
                                  pruner=pruner)
    started, cpu = time.perf_counter(), time.process_time()
    study.optimize(pipeline.PIPELINE.as_objective(path, cache=cache), n_trials=args.trials)
    return {"wall": time.perf_counter() - started, "cpu": time.process_time() - cpu,
            "best": study.best_value, "hit_rate": cache_hit_rate(study)}


def _run_optuna(pipeline: Any, path: str, args: argparse.Namespace) -> dict:
    import optuna

    pruner = optuna.pruners.MedianPruner() if args.pruner == "median" else \
        optuna.pruners.NopPruner()
    study = optuna.create_study(sampler=optuna.samplers.TPESampler(seed=args.seed),
                                pruner=pruner)
    started, cpu = time.perf_counter(), time.process_time()
    study.optimize(_optuna_objective(pipeline, path), n_trials=args.trials)
    return {"wall": time.perf_counter() - started, "cpu": time.process_time() - cpu,
            "best": study.best_value, "hit_rate": None}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=60)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--rows", type=int, default=1_000_000,
                        help="synthetic trips in the CSV the load stage parses (default 1000000; "
                             "the real DC taxi data set has millions)")
    parser.add_argument("--pruner", choices=("none", "median"), default="none")
    add_exit_flag(parser)
    args = parser.parse_args()
    os.environ["DC_TAXI_ROWS"] = str(args.rows)
    quiet_logging()
    with tempfile.TemporaryDirectory() as folder:
        os.environ["DC_TAXI_DATA"] = folder
        import pipeline  # examples/dc_taxi/pipeline.py

        path = pipeline.data_path()  # written before any clock starts
        print(f"DC taxi pipeline: {args.trials} trials, {args.rows} rows, TPE seed {args.seed}, "
              f"pruner {args.pruner}; {versions(('pipetune', 'optuna', 'numpy', 'pandas'))}")
        results = {
            "pipetune + cache": _run_pipetune(pipeline, path, Path(folder) / "cache", args),
            "pipetune, no cache": _run_pipetune(pipeline, path, False, args),
            "optuna": _run_optuna(pipeline, path, args),
        }
    baseline = results["pipetune, no cache"]["wall"]
    cpu_baseline = results["pipetune, no cache"]["cpu"]
    rows = [[name, f"{r['wall']:.1f}", f"{1000 * r['wall'] / args.trials:.0f}",
             f"{r['cpu']:.1f}", f"{r['best']:.4f}", f"{baseline / r['wall']:.2f}x",
             f"{cpu_baseline / r['cpu']:.2f}x",
             "-" if r["hit_rate"] is None else f"{r['hit_rate']:.0%}"]
            for name, r in results.items()]
    print(table(["search", "wall s", "ms/trial", "cpu s", "best RMSE", "speed-up (wall)",
                 "speed-up (cpu)", "stage hits"], rows))
    cached, uncached = results["pipetune + cache"], results["pipetune, no cache"]
    speedup = uncached["wall"] / cached["wall"]
    same = abs(cached["best"] - uncached["best"]) <= 1e-9 * max(1.0, abs(uncached["best"]))
    met = speedup >= TARGET_SPEEDUP and same
    print(f"\nTarget (>= {TARGET_SPEEDUP:.0f}x faster than without the cache at equal best "
          f"value): {'met' if met else 'NOT met'} ({speedup:.2f}x, best values "
          f"{'equal' if same else 'differ'}).")
    return exit_status(met, args)


if __name__ == "__main__":
    sys.exit(main())
