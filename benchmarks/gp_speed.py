"""Per-trial cost of pipetune's GPSampler against Optuna's, side by side in one process.

Both run the 6-parameter mixed space of ``_common.py`` (2 floats, 2 ints, 2 categoricals) with
their GP sampler and a trivial objective, so a trial's wall time is the sampler's: fitting the
model and maximizing the acquisition. The two studies advance in turn, one trial of each at a
time (ask, objective, tell), so a burst of load on the machine hits both alike; a trial's time
runs from its ask to the end of its tell. The cost is the mean over the ``--window`` trials
just before each checkpoint (default 100 and 300; a GP's cost grows with the trials it fits).
Target: pipetune's ms/trial is at most 1/3 of Optuna's at each checkpoint, with a best value
at least as good; the script exits 1 when it fails (``--exit-zero``: 0).

Both get the same thread settings: ``--threads`` (default 1) caps the BLAS and OpenMP pools
(threadpoolctl) and torch's intra-op threads for the whole run. pipetune's GP then still limits
BLAS to one thread itself while it works (``pipetune/samplers/gp/blas_threads.py``), as it does
for any user; ``--threads 0`` leaves the machine's defaults, as a user's process has them.

Run: ``.venv/bin/python benchmarks/gp_speed.py`` (1 seed, ~6 minutes; ``--seeds 3`` for more;
``--help``). Needs torch for Optuna's GPSampler (the bench extra).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (
    SAMPLERS,
    add_exit_flag,
    exit_status,
    quiet_logging,
    score,
    suggest_all,
    table,
    versions,
)
from overhead import ms_per_trial

SPEEDUP_TARGET = 3.0
LIBRARIES = ("pipetune", "optuna")


def set_threads(threads: int) -> str:
    """Caps every thread pool both libraries use at ``threads`` (0: leaves them); says how."""
    import torch
    from threadpoolctl import threadpool_limits

    if threads:
        threadpool_limits(threads)  # process-wide and kept: the returned handle is dropped
        torch.set_num_threads(threads)
    return f"BLAS/OpenMP and torch threads: {threads or 'machine default'} " \
           f"(torch {torch.get_num_threads()})"


def run_interleaved(seed: int, n_trials: int) -> dict[str, tuple[list[float], list[float]]]:
    """One study per library, advanced one trial of each at a time. Per library: cumulative
    trial times (``[0, end of trial 1, ...]``, the stamps ``ms_per_trial`` takes) and values."""
    studies: dict[str, Any] = {}
    for library in LIBRARIES:
        module = __import__(library)
        studies[library] = module.create_study(sampler=SAMPLERS["gp"][library](seed),
                                               direction="minimize")
    stamps: dict[str, list[float]] = {library: [0.0] for library in LIBRARIES}
    values: dict[str, list[float]] = {library: [] for library in LIBRARIES}
    for number in range(n_trials):
        # Alternate which library goes first, so neither always follows the other.
        for library in LIBRARIES if number % 2 == 0 else LIBRARIES[::-1]:
            study = studies[library]
            start = time.perf_counter()
            trial = study.ask()
            value = score(suggest_all(trial))
            study.tell(trial, value)
            stamps[library].append(stamps[library][-1] + time.perf_counter() - start)
            values[library].append(value)
    return {library: (stamps[library], values[library]) for library in LIBRARIES}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--checkpoints", default="100,300",
                        help="trial counts the cost is taken at (comma-separated)")
    parser.add_argument("--window", type=int, default=20, help="trials averaged per checkpoint")
    parser.add_argument("--seeds", type=int, default=1, help="seeds 0..N-1")
    parser.add_argument("--threads", type=int, default=1,
                        help="threads for both libraries' BLAS/OpenMP and torch pools "
                             "(default 1; 0 leaves the machine's defaults)")
    add_exit_flag(parser)
    args = parser.parse_args(argv)
    checkpoints = sorted(int(c) for c in args.checkpoints.split(","))
    quiet_logging()
    import optuna  # noqa: F401  (imported before timing)

    import pipetune  # noqa: F401

    threads = set_threads(args.threads)
    print("# GP sampler cost per trial; " + ", ".join(
        f"{k} {v}" for k, v in versions(("pipetune", "optuna", "torch", "numpy", "scipy")).items())
        + f"; {threads}; the two studies interleaved trial by trial (ask, objective, tell)")
    ms: dict[str, dict[int, list[float]]] = {library: {} for library in LIBRARIES}
    best: dict[str, dict[int, list[float]]] = {library: {} for library in LIBRARIES}
    for seed in range(args.seeds):
        runs = run_interleaved(seed, checkpoints[-1])
        for library, (stamps, values) in runs.items():
            for c in checkpoints:
                ms[library].setdefault(c, []).append(ms_per_trial(stamps, c, args.window))
                best[library].setdefault(c, []).append(min(values[:c]))
            print(f"seed {seed} {library}: {stamps[-1]:.1f} s", file=sys.stderr)
    rows, passed = [], True
    for c in checkpoints:
        p, o = float(np.median(ms["pipetune"][c])), float(np.median(ms["optuna"][c]))
        bp, bo = float(np.median(best["pipetune"][c])), float(np.median(best["optuna"][c]))
        rows.append([c, f"{p:.1f}", f"{o:.1f}", f"{o / p:.2f}x", f"{bp:.4f}", f"{bo:.4f}"])
        passed &= o / p >= SPEEDUP_TARGET and bp <= bo
    print(table(["trials", "pipetune ms/trial", "optuna ms/trial", "ratio (optuna/pipetune)",
                 "pipetune best", "optuna best"], rows))
    print(f"\n[{'PASS' if passed else 'FAIL'}] pipetune's GP costs at most 1/{SPEEDUP_TARGET:g} "
          f"of Optuna's per trial at every checkpoint, with an equal or better median best "
          f"value ({args.seeds} seed(s), window {args.window})")
    return exit_status(passed, args)


if __name__ == "__main__":
    sys.exit(main())
