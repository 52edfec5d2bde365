"""Cost of the script launcher: what ``ScriptObjective`` adds to each trial beyond starting
the script's own interpreter, and how well two trials at a time use two slots.

1. Overhead per trial. A script that prints ``loss=1`` and exits runs as trials of a study
   (in memory and on a SQLite file); the same command is also started bare with
   ``subprocess.run``, and ``python -c pass`` too, interleaved round by round so that load on
   the machine hits every variant alike. The overhead is the median trial time minus the
   median bare ``python -c pass`` start-up: the launcher's log file, params file, output
   parsing, process-group handling and the study's own bookkeeping.
2. Parallel efficiency. A script that sleeps one second runs N trials one at a time and then
   two at a time; efficiency = serial time / (2 x parallel time), 100% when the two slots never
   wait on each other or on the launcher. The stricter "vs sleep" figure divides the ideal
   N/2 seconds of sleeping by the parallel wall time, counting start-up as waste.

Run: ``.venv/bin/python benchmarks/launcher.py`` (``--quick`` for a shorter run).
Targets (issue 5): overhead under 50 ms per trial; efficiency at 2 trials at a time >= 90%.
"""

from __future__ import annotations

import argparse
import logging
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import add_exit_flag, exit_status

import pipetune
from pipetune.launch import LaunchSpec, MetricSpec, ScriptObjective
from pipetune.space import SearchSpace

OVERHEAD_TARGET_MS = 50.0
EFFICIENCY_TARGET = 0.90
QUICK_EXIT = "print('loss=1')"
SLEEPER = "import time; time.sleep(1.0); print('loss=1')"
SPACE = {"x": {"type": "float", "low": 0.0, "high": 1.0}}


@dataclass(frozen=True)
class Row:
    what: str
    ms: float  # median per run
    note: str = ""


def _objective(code: str, folder: str) -> ScriptObjective:
    # The script's argv gets "--x <value>" appended (no placeholder); `python -c` ignores it.
    launch = LaunchSpec(command=(sys.executable, "-c", code), objective=MetricSpec(
        "loss", regex=r"loss=([0-9.]+)"), workdir=folder, log_dir=os.path.join(folder, "logs"))
    return ScriptObjective(SearchSpace.from_dict(SPACE), launch)


def _bare(argv: list[str], n: int) -> float:
    """Mean milliseconds of ``n`` runs of ``argv`` with subprocess.run, output captured."""
    started = time.perf_counter()
    for _ in range(n):
        subprocess.run(argv, capture_output=True, check=True)
    return 1000.0 * (time.perf_counter() - started) / n


def _trials(storage: str | None, folder: str, n: int, n_jobs: int = 1,
            code: str = QUICK_EXIT, name: str | None = None) -> float:
    """Mean milliseconds per trial of ``n`` launched trials (wall time of optimize / n)."""
    study = pipetune.create_study(storage=storage, study_name=name,
                                  sampler=pipetune.samplers.RandomSampler(seed=0))
    objective = _objective(code, folder)
    started = time.perf_counter()
    study.optimize(objective, n_trials=n, n_jobs=n_jobs)
    elapsed = time.perf_counter() - started
    states = {t.state.name for t in study.trials}
    if states != {"COMPLETE"}:
        raise SystemExit(f"launched trials did not all complete: {states}; see {folder}/logs")
    return 1000.0 * elapsed / n


def overhead(rounds: int, per_round: int, folder: str) -> list[Row]:
    samples: dict[str, list[float]] = {k: [] for k in ("pass", "bare", "memory", "sqlite")}
    url = f"sqlite:///{os.path.join(folder, 'bench.db')}"
    for r in range(rounds):  # interleaved: a burst of load hits every variant alike
        samples["pass"].append(_bare([sys.executable, "-c", "pass"], per_round))
        samples["bare"].append(_bare([sys.executable, "-c", QUICK_EXIT, "--x", "0.5"], per_round))
        samples["memory"].append(_trials(None, folder, per_round))
        samples["sqlite"].append(_trials(url, folder, per_round, name=f"overhead-{r}"))
    base = statistics.median(samples["pass"])
    rows = [Row("python -c pass (interpreter start-up)", base),
            Row("bare subprocess.run of the script", statistics.median(samples["bare"]))]
    for storage in ("memory", "sqlite"):
        ms = statistics.median(samples[storage])
        rows.append(Row(f"launched trial, {storage} storage", ms, f"{ms - base:+.1f} ms"))
    return rows


def efficiency(n: int, folder: str) -> tuple[float, float, float, float]:
    url = f"sqlite:///{os.path.join(folder, 'parallel.db')}"
    serial = _trials(url, folder, n, 1, SLEEPER, "serial") * n / 1000.0
    parallel = _trials(url, folder, n, 2, SLEEPER, "parallel") * n / 1000.0
    return serial, parallel, serial / (2.0 * parallel), (n * 1.0 / 2.0) / parallel


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=7, help="interleaved rounds (default 7)")
    parser.add_argument("--per-round", type=int, default=10,
                        help="runs of each variant per round (default 10)")
    parser.add_argument("--sleepers", type=int, default=8,
                        help="trials of the 1-second script, run serially then 2 at a time "
                             "(default 8)")
    parser.add_argument("--quick", action="store_true", help="3 rounds of 5, 4 sleepers")
    add_exit_flag(parser)
    args = parser.parse_args(argv)
    if args.quick:
        args.rounds, args.per_round, args.sleepers = 3, 5, 4
    logging.getLogger("pipetune").setLevel(logging.WARNING)
    print(f"# launcher: Python {platform.python_version()} on {platform.machine()}, "
          f"{os.cpu_count()} CPU(s); {args.rounds} rounds x {args.per_round} runs; "
          f"{args.sleepers} sleeping trials")
    with tempfile.TemporaryDirectory(prefix="pipetune-bench-") as folder:
        rows = overhead(args.rounds, args.per_round, folder)
        serial, parallel, eff, vs_sleep = efficiency(args.sleepers, folder)
    width = max(len(r.what) for r in rows)
    print(f"\n{'per run':<{width}}  {'median ms':>9}  beyond start-up")
    for row in rows:
        print(f"{row.what:<{width}}  {row.ms:9.1f}  {row.note}")
    print(f"\n{args.sleepers} trials of a 1 s script: {serial:.2f} s one at a time, "
          f"{parallel:.2f} s two at a time -> efficiency {eff:.1%} "
          f"({vs_sleep:.1%} of pure sleeping)")
    worst = max(float(r.note.split()[0]) for r in rows if r.note)
    checks = [(f"overhead per trial beyond interpreter start-up < {OVERHEAD_TARGET_MS:.0f} ms",
               worst < OVERHEAD_TARGET_MS, f"{worst:.1f} ms (worst storage)"),
              (f"parallel efficiency at 2 trials at a time >= {EFFICIENCY_TARGET:.0%}",
               eff >= EFFICIENCY_TARGET, f"{eff:.1%}")]
    print()
    for what, held, detail in checks:
        print(f"  {'HOLDS' if held else 'FAILS':<5} {what}: {detail}")
    held_all = all(h for _, h, _ in checks)
    print(f"targets: {sum(h for _, h, _ in checks)}/{len(checks)} hold")
    return exit_status(held_all, args)


if __name__ == "__main__":
    sys.exit(main())
