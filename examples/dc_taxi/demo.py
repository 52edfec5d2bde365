"""Tune the DC taxi fare pipeline (data preparation, feature engineering, training) with two
workers sharing one study and one stage cache: the book's chapter 12, on a laptop.

The study is the parent run and every pipeline execution a child run (a trial). Two
``pipetune worker`` processes pull trials from the SQLite study until the budget is spent;
whatever stage output one of them computed, the other reuses. At the end the demo prints the
best trial, the cache hit rate and what each stage cost, re-runs the best pipeline to
completion (more epochs) as a tracked run holding the model, and writes the study's HTML
report (``pipetune report``) when plotly is installed.

Run it with ``make demo``, or ``python examples/dc_taxi/demo.py [--n-trials N]`` in a
virtualenv that has ``pip install -e '.[examples]'``. Files land in the working folder:
``pipetune.db`` (study ``dc_taxi-<time>``), ``pipetune-cache/`` (stage outputs; see ``pipetune
cache info``), ``pipetune-data/`` (the synthetic trips) and ``pipetune-artifacts/`` (the
report, and the model of the final run).
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib.util
import os
import subprocess
import sys
import time
from collections import defaultdict

from tqdm import tqdm

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import pipetune  # noqa: E402
from pipetune.pipeline import cache_hit_rate, stage_records  # noqa: E402

N_WORKERS = 2
FINAL_OVERRIDES = {"train.epochs": 16, "train.max_batches": 200}


def _start_workers(study_name: str, storage: str, n_trials: int, env: dict) -> list:
    command = [sys.executable, "-m", "pipetune.cli", "worker", "--study", study_name,
               "--storage", storage, "--objective", "pipeline:objective",
               "--max-trials", str(n_trials), "--pruner", "median"]
    return [subprocess.Popen(command + ["--seed", str(seed)], cwd=HERE, env=env,
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
            for seed in range(N_WORKERS)]


def _watch(study: pipetune.Study, workers: list, n_trials: int) -> None:
    """A progress bar over the finished trials, with the best value and cache hit rate."""
    finished = (pipetune.TrialState.COMPLETE, pipetune.TrialState.PRUNED,
                pipetune.TrialState.FAIL)
    with tqdm(total=n_trials, unit="trial", desc="pipelines") as bar:
        while True:
            trials = study.trials
            done = [t for t in trials if t.state in finished]
            complete = [t.value for t in done if t.state == pipetune.TrialState.COMPLETE]
            rate = cache_hit_rate(done)
            bar.set_postfix(best=f"{min(complete):.3f}" if complete else "-",
                            cache_hits=f"{rate:.0%}" if rate is not None else "-")
            bar.update(len(done) - bar.n)
            if all(w.poll() is not None for w in workers):
                return
            time.sleep(0.5)


def _stage_table(trials: list) -> str:
    """Per stage: how often it was computed, loaded from the cache, or skipped (a downstream
    output was cached), and the mean seconds of a computed and of a loaded output."""
    rows: dict[str, list] = defaultdict(list)
    for trial in trials:
        for record in stage_records(trial):
            rows[record.stage].append(record)
    lines = [f"  {'stage':<10}{'computed':>9}{'loaded':>8}{'skipped':>9}{'s/compute':>11}"
             f"{'s/load':>8}"]
    for stage, records in rows.items():
        computed = [r.seconds for r in records if r.cache not in ("hit", "skipped")]
        loaded = [r.seconds for r in records if r.cache == "hit"]
        skipped = sum(r.cache == "skipped" for r in records)
        mean = lambda xs: f"{sum(xs) / len(xs):.3f}" if xs else "-"  # noqa: E731
        lines.append(f"  {stage:<10}{len(computed):>9}{len(loaded):>8}{skipped:>9}"
                     f"{mean(computed):>11}{mean(loaded):>8}")
    return "\n".join(lines)


def _write_report(study: pipetune.Study, storage: str, path: str) -> None:
    """The study's HTML report (``pipetune report``), when plotly is installed."""
    if importlib.util.find_spec("plotly") is None:
        print("(plotly is not installed, so no report was written: pip install plotly)")
        return
    from pipetune.cli import main as pipetune_command

    os.makedirs(os.path.dirname(path), exist_ok=True)
    pipetune_command(["report", study.study_name, "--storage", storage, "--out", path])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-trials", type=int, default=40, help="trials to run (default 40)")
    parser.add_argument("--storage", default="sqlite:///pipetune.db",
                        help="storage URL (default sqlite:///pipetune.db)")
    args = parser.parse_args()
    if args.storage.startswith("sqlite:///") and not args.storage.startswith("sqlite:////"):
        args.storage = "sqlite:///" + os.path.abspath(args.storage[len("sqlite:///"):])
    env = dict(os.environ)
    env.setdefault("PIPETUNE_CACHE_DIR", os.path.abspath("pipetune-cache"))
    env.setdefault("DC_TAXI_DATA", os.path.abspath("pipetune-data"))
    for threads in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        env.setdefault(threads, "1")  # one BLAS thread per worker: the workers are the parallelism
    os.environ.update(env)

    import pipeline  # the DC taxi stages; writes the synthetic trips on first use

    print(f"Trips: {pipeline.data_path()} ({pipeline.N_ROWS} rows). Stage cache: "
          f"{env['PIPETUNE_CACHE_DIR']}")
    study_name = f"dc_taxi-{dt.datetime.now():%Y%m%d-%H%M%S}"
    study = pipetune.create_study(study_name=study_name, storage=args.storage,
                                  direction="minimize")
    started = time.perf_counter()
    workers = _start_workers(study_name, args.storage, args.n_trials, env)
    _watch(study, workers, args.n_trials)
    for worker in workers:
        if worker.wait() != 0:
            sys.exit(f"A worker failed:\n{worker.stderr.read()}")
    elapsed = time.perf_counter() - started

    trials = study.trials
    states = defaultdict(int)
    for trial in trials:
        states[trial.state.name] += 1
    best = study.best_trial
    print(f"\nStudy {study_name!r}: {len(trials)} pipelines in {elapsed:.1f} s by "
          f"{N_WORKERS} workers ({dict(states)}).")
    print(f"Best trial #{best.number}: validation RMSE ${best.value:.3f}")
    for name, value in best.params.items():
        print(f"  {name} = {value!r}")
    print(f"Stage cache hit rate: {cache_hit_rate(trials):.0%}")
    print(_stage_table(trials))

    final = pipeline.PIPELINE.run_best(study, overrides=FINAL_OVERRIDES,
                                       data=pipeline.data_path())
    print(f"\nBest pipeline re-run to completion ({FINAL_OVERRIDES}): validation RMSE "
          f"${final.value:.3f}; run {final.run.name!r} holds the model as the artifact "
          "model.pkl")
    _write_report(study, args.storage, os.path.join("pipetune-artifacts", f"{study_name}.html"))
    print(f"\nInspect: pipetune trials {study_name} | pipetune cache info")


if __name__ == "__main__":
    main()
