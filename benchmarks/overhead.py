"""Per-trial overhead of pipetune against Optuna, side by side in one process.

Both libraries run the same cheap objective over the same 6-parameter mixed space with the
same kind of sampler, in memory and on a fresh SQLite file each, timed the same way (stamps
taken inside the objective: ``_common.timed_optimize``). On SQLite each durability row
(``_common.DURABILITY_ROWS``) is measured: the libraries as they ship, then both with the same
settings. With a trivial objective, the wall time of a trial is the library's own cost:
sampling, bookkeeping and storage. The cost is reported *at* a trial count (the mean over the
window of trials just before it), so growth with study size shows up as the number rising
between checkpoints.

Run: ``.venv/bin/python benchmarks/overhead.py`` (``--quick`` for a 300-trial sanity check,
``--help`` for the rest). See benchmarks/README.md for what the columns mean.
"""

from __future__ import annotations

import argparse
import gc
import itertools
import platform
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (
    DURABILITY_ROWS,
    LIBRARIES,
    SAMPLERS,
    add_exit_flag,
    exit_status,
    parse_names,
    quiet_logging,
    sampler_available,
)

CHECKPOINTS = (100, 1000, 2000)
QUICK_TRIALS = 300
STORAGES = ("memory", "sqlite")

# Targets (DESIGN.md: speed measured against Optuna, reported as ratios).
SQLITE_SPEEDUP_TARGET = 10.0   # on SQLite at equal (relaxed) durability, at most 1/10 of Optuna's
MEMORY_SPEEDUP_TARGET = 1.0    # in memory, no slower than Optuna
FLATNESS_TARGET = 1.5          # pipetune's cost at the last checkpoint <= 1.5x at the first


@dataclass(frozen=True)
class Measurement:
    """Milliseconds per trial of one library on one storage at one durability (None in
    memory), at each checkpoint."""

    library: str
    storage: str
    durability: str | None
    ms_at: dict[int, float]
    total_s: float


def checkpoints_for(n_trials: int, quick: bool) -> list[int]:
    """The trial counts the cost is reported at: the standard ones that fit, plus the last."""
    if quick:
        return sorted({min(100, n_trials), n_trials})
    return sorted({c for c in CHECKPOINTS if c <= n_trials} | {n_trials})


def ms_per_trial(stamps: list[float], checkpoint: int, window: int) -> float:
    """Mean wall time of trials ``checkpoint - window + 1 .. checkpoint`` in milliseconds;
    ``stamps[0]`` is the start and ``stamps[k]`` the end of trial k."""
    window = max(1, min(window, checkpoint // 2 or 1))
    return 1000.0 * (stamps[checkpoint] - stamps[checkpoint - window]) / window


def run_once(library: str, storage: str, durability: str | None, sampler: str, seed: int,
             n_trials: int) -> list[float]:
    """One fresh study (a new SQLite file in its own temp dir): start + per-trial end stamps."""
    lib = LIBRARIES[library]
    with tempfile.TemporaryDirectory(prefix=f"bench-{library}-") as directory:
        where = None if durability is None else lib.storage(directory, durability)
        sampler_obj = SAMPLERS[sampler][library](seed)
        gc.collect()
        stamps = lib.run(where, sampler_obj, n_trials)
    if len(stamps) != n_trials + 1:
        raise RuntimeError(f"{library} on {storage} ran {len(stamps) - 1} of {n_trials} trials.")
    return stamps


def summarize(library: str, storage: str, durability: str | None, runs: list[list[float]],
              checkpoints: list[int], window: int) -> Measurement:
    """Per checkpoint, the lowest window mean over the repeated runs: other load on the machine
    only ever adds time, so the minimum is the closest to the library's own cost."""
    return Measurement(library, storage, durability,
                       {c: min(ms_per_trial(s, c, window) for s in runs) for c in checkpoints},
                       min(s[-1] - s[0] for s in runs))


def table_rows(storages: list[str], rows: list[str]) -> list[tuple[str, str | None]]:
    """The (storage, durability row) pairs a run reports: memory has no durability."""
    memory = [("memory", None)] if "memory" in storages else []
    return memory + [("sqlite", row) for row in rows if "sqlite" in storages]


def durability_of(library: str, row: str | None) -> str | None:
    """The library's durability in a row (see ``_common.DURABILITY_ROWS``)."""
    if row is None:
        return None
    ours, theirs = next((o, t) for name, o, t in DURABILITY_ROWS if name == row)
    return ours if library == "pipetune" else theirs


Results = dict[tuple[str, str, "str | None"], Measurement]


def lookup(results: Results, library: str, storage: str, row: str | None) -> Measurement | None:
    return results.get((library, storage, durability_of(library, row)))


def _fmt_ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def print_table(results: Results, pairs: list[tuple[str, str | None]],
                checkpoints: list[int]) -> None:
    """One row per storage, durability row and checkpoint: pipetune's ms/trial, then each
    other library's with its ratio to pipetune's (above 1: pipetune is faster)."""
    others = [n for n in LIBRARIES if n != "pipetune"]
    header = ["storage", "durability", "trials", "pipetune ms/trial"]
    for other in others:
        header += [f"{other} ms/trial", f"ratio ({other}/pipetune)"]
    rows = []
    for (storage, row), c in itertools.product(pairs, checkpoints):
        ours = lookup(results, "pipetune", storage, row)
        a = ours.ms_at[c] if ours else None
        line = [storage, row or "-", str(c), _fmt_ms(a)]
        for other in others:
            theirs = lookup(results, other, storage, row)
            b = theirs.ms_at[c] if theirs else None
            line += [_fmt_ms(b), f"{b / a:.2f}x" if a and b else "-"]
        rows.append(line)
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(header)]
    print(" | ".join(h.ljust(w) for h, w in zip(header, widths)))
    print("-+-".join("-" * w for w in widths))
    for r in rows:
        print(" | ".join([r[0].ljust(widths[0]), r[1].ljust(widths[1])]
                         + [v.rjust(w) for v, w in zip(r[2:], widths[2:])]))


def check_targets(results: Results, pairs: list[tuple[str, str | None]],
                  checkpoints: list[int]) -> list[tuple[str, bool | None, str]]:
    """Each target as (description, held? (None: not measured), the numbers behind it)."""
    first, last = checkpoints[0], checkpoints[-1]
    checks: list[tuple[str, bool | None, str]] = []
    for (storage, row), target in ((("sqlite", "relaxed"), SQLITE_SPEEDUP_TARGET),
                                   (("memory", None), MEMORY_SPEEDUP_TARGET)):
        if (storage, row) not in pairs:
            continue
        ours, theirs = (lookup(results, "pipetune", storage, row),
                        lookup(results, "optuna", storage, row))
        where = storage if row is None else f"{storage} ({row} durability, both)"
        what = (f"{where}: pipetune <= 1/{target:g} of optuna's ms/trial at {last}"
                if target != 1 else f"{where}: pipetune <= optuna's ms/trial at {last}")
        if ours is None or theirs is None:
            checks.append((what, None, "needs both pipetune and optuna"))
            continue
        ratio = theirs.ms_at[last] / ours.ms_at[last]
        checks.append((what, ratio >= target, f"ratio {ratio:.2f}x, needs >= {target:g}x"))
    for (library, storage, durability), ours in results.items():
        if library != "pipetune":
            continue
        where = storage if durability is None else f"{storage} ({durability})"
        what = f"{where}: pipetune flat (ms/trial at {last} <= {FLATNESS_TARGET:g}x at {first})"
        if last == first:
            checks.append((what, None, "one checkpoint only"))
            continue
        growth = ours.ms_at[last] / ours.ms_at[first]
        checks.append((what, growth <= FLATNESS_TARGET,
                       f"{ours.ms_at[first]:.3f} -> {ours.ms_at[last]:.3f} ms, {growth:.2f}x"))
    return checks


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Per-trial overhead of pipetune vs Optuna (same space, sampler, storage).")
    parser.add_argument("--trials", type=int, default=None,
                        help="trials per study (default 2000; 300 with --quick)")
    parser.add_argument("--storages", default="memory,sqlite",
                        help="comma-separated: memory, sqlite (default both)")
    row_names = [name for name, _, _ in DURABILITY_ROWS]
    parser.add_argument("--durability", default=",".join(row_names),
                        help=f"SQLite's durability rows, comma-separated, from "
                             f"{', '.join(row_names)} (default all; see benchmarks/README.md)")
    parser.add_argument("--only", default=None,
                        help=f"comma-separated libraries to run (of {', '.join(LIBRARIES)})")
    parser.add_argument("--sampler", default="random", choices=sorted(SAMPLERS),
                        help="sampler run on both sides (default random)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--window", type=int, default=50,
                        help="trials averaged before each checkpoint (default 50)")
    parser.add_argument("--repeat", type=int, default=5,
                        help="runs per library in memory, keeping the fastest window at each "
                             "checkpoint (default 5; SQLite runs once: they are long and "
                             "Optuna's takes minutes)")
    parser.add_argument("--quick", action="store_true",
                        help=f"{QUICK_TRIALS} trials, checkpoints 100 and {QUICK_TRIALS}")
    add_exit_flag(parser)
    args = parser.parse_args(argv)
    if args.trials is None:
        args.trials = QUICK_TRIALS if args.quick else CHECKPOINTS[-1]
    if args.trials < 2:
        parser.error(f"--trials must be at least 2. Got {args.trials}.")
    if args.repeat < 1 or args.window < 1:
        parser.error("--repeat and --window must be at least 1.")
    args.storages = parse_names(args.storages, STORAGES, "storages")
    args.durability = parse_names(args.durability, row_names, "durability")
    args.libraries = list(LIBRARIES) if args.only is None else parse_names(
        args.only, LIBRARIES, "only")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    quiet_logging()
    checkpoints = checkpoints_for(args.trials, args.quick)
    libraries = []
    for name in args.libraries:
        reason = sampler_available(args.sampler, name)
        if reason is None:
            libraries.append(name)
        else:
            print(f"skipping {name}: {reason}", file=sys.stderr)
    if not libraries:
        print("No library can run this benchmark; nothing to measure.", file=sys.stderr)
        return 2

    versions = ", ".join(f"{n} {LIBRARIES[n].version()}" for n in libraries)
    print(f"# overhead: {args.trials} trials, sampler={args.sampler}, seed={args.seed}, "
          f"window={args.window}, repeat={args.repeat} (memory); timed inside the objective; "
          f"Python {platform.python_version()}; {versions}")
    pairs = table_rows(args.storages, args.durability)
    results: Results = {}
    for storage, row in pairs:
        # One study per library and durability; a durability two rows share is run once.
        todo = [(n, durability_of(n, row)) for n in libraries
                if storage in LIBRARIES[n].storages
                and (n, storage, durability_of(n, row)) not in results]
        repeat = args.repeat if storage == "memory" else 1
        runs: dict[tuple[str, str | None], list[list[float]]] = {key: [] for key in todo}
        for _ in range(repeat):
            for name, durability in todo:  # interleaved: a burst of load hits every library
                runs[name, durability].append(run_once(name, storage, durability, args.sampler,
                                                       args.seed, args.trials))
        for name, durability in todo:
            m = summarize(name, storage, durability, runs[name, durability], checkpoints,
                          args.window)
            results[(name, storage, durability)] = m
            print(f"#   {name:<8} {storage:<6} {durability or '':<8} {args.trials} trials in "
                  f"{m.total_s:.1f} s" + (f" (best of {repeat})" if repeat > 1 else ""),
                  flush=True)
    print()
    print_table(results, pairs, checkpoints)
    print("(durability: shipped = each library's default, NOT equal: pipetune's SQLite commits "
          "do not wait for the disk, Optuna's do; relaxed / full = both with the same settings, "
          "WAL and synchronous=NORMAL / FULL)")
    print()
    checks = check_targets(results, pairs, checkpoints)
    if checkpoints[-1] != CHECKPOINTS[-1]:
        print(f"(targets are defined at {CHECKPOINTS[-1]} trials; checked here at "
              f"{checkpoints[-1]})")
    if args.sampler != "random":
        print("(targets are defined for the random sampler; shown here for reference)")
    for what, held, detail in checks:
        verdict = "n/a " if held is None else ("HOLDS" if held else "FAILS")
        print(f"  {verdict:<5} {what}: {detail}")
    measured = [held for _, held, _ in checks if held is not None]
    print(f"targets: {sum(measured)}/{len(measured)} hold"
          + ("" if all(measured) else " -- NOT all targets hold"))
    return exit_status(all(measured), args)


if __name__ == "__main__":
    sys.exit(main())
