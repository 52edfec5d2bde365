"""Per-trial cost of pipetune's GPSampler against Optuna's, side by side in one process.

Both run the 6-parameter mixed space of ``_common.py`` (2 floats, 2 ints, 2 categoricals) with
their GP sampler and a trivial objective, so a trial's wall time is the sampler's: fitting the
model and maximizing the acquisition. The cost is the mean wall time of the ``--window`` trials
just before each checkpoint (default 100 and 300; a GP's cost grows with the trials it fits).
Target: pipetune's ms/trial is at most 1/3 of Optuna's at each checkpoint, with a best value
at least as good.

Both run with the machine's default thread settings, as a user's process does (pipetune's GP
limits BLAS to one thread itself, see ``pipetune/samplers/gp/blas_threads.py``; Optuna's runs
on torch's default threads). Set ``OMP_NUM_THREADS=1`` (and ``OPENBLAS_NUM_THREADS=1``) to
compare both single-threaded.

Run: ``.venv/bin/python benchmarks/gp_speed.py`` (1 seed, ~6 minutes; ``--seeds 3`` for more;
``--help``). Needs torch for Optuna's GPSampler (the bench extra).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import SAMPLERS, quiet_logging, score, suggest_all, table, versions  # noqa: E402
from overhead import ms_per_trial  # noqa: E402

SPEEDUP_TARGET = 3.0


def run(library: str, seed: int, n_trials: int) -> tuple[list[float], list[float]]:
    """Trial end stamps (``[start, end of trial 1, ...]``) and the values of one study."""
    lib = __import__(library)
    sampler = SAMPLERS["gp"][library](seed)
    study = lib.create_study(sampler=sampler, direction="minimize")
    stamps, values = [time.perf_counter()], []

    def objective(trial):
        value = score(suggest_all(trial))
        values.append(value)
        return value

    study.optimize(objective, n_trials=n_trials,
                   callbacks=[lambda _s, _t: stamps.append(time.perf_counter())])
    return stamps, values


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--checkpoints", default="100,300",
                        help="trial counts the cost is taken at (comma-separated)")
    parser.add_argument("--window", type=int, default=20, help="trials averaged per checkpoint")
    parser.add_argument("--seeds", type=int, default=1, help="seeds 0..N-1")
    args = parser.parse_args(argv)
    checkpoints = sorted(int(c) for c in args.checkpoints.split(","))
    quiet_logging()
    import optuna  # noqa: F401  (imported before timing)

    import pipetune  # noqa: F401

    print("# GP sampler cost per trial; " + ", ".join(
        f"{k} {v}" for k, v in versions(("pipetune", "optuna", "torch", "numpy", "scipy")).items()))
    ms: dict[str, dict[int, list[float]]] = {"pipetune": {}, "optuna": {}}
    best: dict[str, dict[int, list[float]]] = {"pipetune": {}, "optuna": {}}
    for seed in range(args.seeds):
        for library in ("pipetune", "optuna"):
            stamps, values = run(library, seed, checkpoints[-1])
            for c in checkpoints:
                ms[library].setdefault(c, []).append(ms_per_trial(stamps, c, args.window))
                best[library].setdefault(c, []).append(min(values[:c]))
            print(f"seed {seed} {library}: {stamps[-1] - stamps[0]:.1f} s", file=sys.stderr)
    rows, passed = [], True
    for c in checkpoints:
        p, o = float(np.median(ms["pipetune"][c])), float(np.median(ms["optuna"][c]))
        bp, bo = float(np.median(best["pipetune"][c])), float(np.median(best["optuna"][c]))
        rows.append([c, f"{p:.1f}", f"{o:.1f}", f"{o / p:.2f}x", f"{bp:.4f}", f"{bo:.4f}"])
        ok = o / p >= SPEEDUP_TARGET and bp <= bo
        passed &= ok
    print(table(["trials", "pipetune ms/trial", "optuna ms/trial", "ratio (optuna/pipetune)",
                 "pipetune best", "optuna best"], rows))
    print(f"\n[{'PASS' if passed else 'FAIL'}] pipetune's GP costs at most 1/{SPEEDUP_TARGET:g} "
          f"of Optuna's per trial at every checkpoint, with an equal or better median best "
          f"value ({args.seeds} seed(s), window {args.window})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
