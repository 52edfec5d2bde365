"""COCO's BBOB functions: final regret of pipetune's samplers against Optuna's.

The problems come from ``coco-experiment`` (``cocoex.BareProblem``), the noiseless BBOB test
suite of the COCO platform (Hansen et al., "COCO: a platform for comparing continuous
optimizers in a black-box setting", 2021): 24 functions, each in any dimension and in numbered
instances (shifted, rotated and scaled copies with their own optimum ``f_opt``). Nobody on this
project wrote them or picked their optima. Every method minimises the same function over the
box [-5, 5]^d with the same budget and the same seeds; a run's result is its final regret,
best f(x) - f_opt. A problem is one function in one dimension; its runs are the seeds, seed s
running instance ``instances[s % len(instances)]``, so 10 seeds over instances 3-7 give each
instance two runs, the same two (instance, seed) pairs for every method.

Per problem it prints the median regret with its interquartile range, then every method's mean
rank per dimension and overall, and the issue-19 target: pipetune's TPE has a lower median
regret than Optuna's default TPE on at least 2/3 of the problems (exit 1 when it fails,
``--exit-zero`` to exit 0). The runner, the methods and the per-problem summaries are
``quality.py``'s.

Run: ``.venv/bin/python benchmarks/bbob.py --jobs 2`` (the default: 8 functions x d 2, 10,
20 x 9 methods x 10 seeds, 10*d trials and at least 40, 2160 runs). One seed of one function
in all three dimensions takes about 55 s of one core with every method (42 s of it at d=20,
where Optuna's GPSampler takes 20-30 s a run and pipetune's GP and AutoSampler about 9 s each;
every other method a few seconds), so the default is about 75 core-minutes: 40-60 minutes on
2 cores. ``--quick``
is a check in seconds; ``--functions 1-24 --methods pipetune-tpe,optuna-tpe,random`` the TPE
comparison on every function, about 10 minutes on one core. Needs the ``bench`` extra
(``coco-experiment``). See benchmarks/README.md.
"""

from __future__ import annotations

import os

# One thread per process, as in quality.py: the parallelism is --jobs.
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from collections.abc import Sequence  # noqa: E402
from dataclasses import asdict, dataclass  # noqa: E402
from functools import cache  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import Param, add_exit_flag, exit_status, parse_names, table, versions  # noqa: E402
from problems import Problem  # noqa: E402
from quality import (  # noqa: E402
    METHODS,
    Cell,
    Run,
    fmt_regret,
    rank,
    run_all,
    run_problem,
    summarize,
)

# The 24 noiseless BBOB functions by number, in their five groups (Hansen et al., "Real-
# parameter black-box optimization benchmarking 2009: noiseless functions definitions").
FUNCTIONS = {
    1: "Sphere", 2: "Ellipsoidal separable", 3: "Rastrigin separable",
    4: "Bueche-Rastrigin", 5: "Linear slope",
    6: "Attractive sector", 7: "Step ellipsoidal", 8: "Rosenbrock original",
    9: "Rosenbrock rotated",
    10: "Ellipsoidal rotated", 11: "Discus", 12: "Bent cigar", 13: "Sharp ridge",
    14: "Different powers",
    15: "Rastrigin rotated", 16: "Weierstrass", 17: "Schaffers F7",
    18: "Schaffers F7 ill-conditioned", 19: "Composite Griewank-Rosenbrock",
    20: "Schwefel x*sin(x)", 21: "Gallagher 101 peaks", 22: "Gallagher 21 peaks",
    23: "Katsuura", 24: "Lunacek bi-Rastrigin",
}
LOWER, UPPER = -5.0, 5.0  # BBOB's search box; every f_opt lies inside it

# One or two functions from each of the five BBOB groups (separable; moderate conditioning;
# ill-conditioned; multimodal with global structure, where issue 19 says TPE only ties
# Optuna's; multimodal without): 8 functions x 3 dimensions = 24 problems, an hour's run.
DEFAULT_FUNCTIONS = (1, 2, 8, 10, 13, 15, 17, 21)
DEFAULT_DIMS = (2, 10, 20)
DEFAULT_INSTANCES = (3, 4, 5, 6, 7)
# Optuna 5's default TPE is already multivariate, and on a flat space of floats group=True
# changes nothing, so optuna-tpe-mv would repeat optuna-tpe's row: opt-in with --methods.
DEFAULT_METHODS = ("pipetune-tpe", "optuna-tpe", "pipetune-gp", "optuna-gp", "pipetune-cmaes",
                   "optuna-cmaes", "pipetune-auto", "random", "optuna-random")
BBOB_METHODS = (*DEFAULT_METHODS, "optuna-tpe-mv", "optuna-tpe-uni")
assert all(m in METHODS for m in BBOB_METHODS), "every BBOB method is one of quality.py's"
PIPETUNE, OPTUNA = "pipetune-tpe", "optuna-tpe"
WIN_TARGET = (2, 3)  # pipetune's TPE beats Optuna's default TPE on >= 2/3 of the problems


# -- problems -----------------------------------------------------------------------------------


def problem_name(function: int, dim: int) -> str:
    return f"f{function:02d}-d{dim}"


def parse_problem_name(name: str) -> tuple[int, int]:
    function, dim = name.split("-")
    return int(function[1:]), int(dim[1:])


def _require_cocoex() -> Any:
    try:
        import cocoex
    except ImportError:
        raise SystemExit("bbob.py needs coco-experiment (import name cocoex): "
                         "pip install -e '.[bench]' or pip install coco-experiment.") from None
    return cocoex


def bbob_problem(function: int, dim: int, instance: int, n_trials: int) -> Problem:
    """BBOB function ``function`` in ``dim`` dimensions, instance ``instance``, as a problem
    of ``problems.py``: d floats x0..x{d-1} on [-5, 5], minimised by every library alike.
    Its name leaves the instance out, so the runs of every instance form one problem."""
    bare = _require_cocoex().BareProblem("bbob", function, dim, instance)
    names = [f"x{i}" for i in range(dim)]

    def evaluate(params: dict[str, Any]) -> float:
        return float(bare(np.array([params[n] for n in names], dtype=float)))

    return Problem(problem_name(function, dim), f"{FUNCTIONS[function]}, d={dim}",
                   tuple(Param(n, "float", LOWER, UPPER) for n in names), evaluate,
                   optimum(function, dim, instance), n_trials)


@cache
def optimum(function: int, dim: int, instance: int) -> float:
    """f_opt, the known minimum of one BBOB instance."""
    return float(_require_cocoex().BareProblem("bbob", function, dim, instance).best_value())


# -- runs ---------------------------------------------------------------------------------------

# (function, dim, instance, method, seed, n_trials)
Task = tuple[int, int, int, str, int, int]


def run_bbob(task: Task) -> Run:
    """One method on one BBOB instance with one seed (``quality.run_problem``)."""
    function, dim, instance, method, seed, n_trials = task
    return run_problem(bbob_problem(function, dim, instance, n_trials), method, seed, n_trials)


@dataclass(frozen=True)
class Config:
    """What a run covered; saved with the runs, so --report-only can take the regrets."""

    functions: list[int]
    dims: list[int]
    instances: list[int]
    methods: list[str]
    seeds: int
    budgets: dict[str, int]  # str(dim) -> trials

    def instance(self, seed: int) -> int:
        return self.instances[seed % len(self.instances)]

    def problems(self) -> list[str]:
        return [problem_name(f, d) for d in self.dims for f in self.functions]

    def regret(self, run: Run) -> float:
        """best f(x) - f_opt of the instance the run's seed minimised, clipped at 0."""
        function, dim = parse_problem_name(run.problem)
        return max(0.0, run.best() - optimum(function, dim, self.instance(run.seed)))

    def tasks(self) -> list[Task]:
        # The costliest first (GP at the largest d), so the last runs to finish are short.
        expensive = ("optuna-gp", "pipetune-gp", "pipetune-auto")
        return sorted(((f, d, self.instance(s), m, s, self.budgets[str(d)])
                       for d in self.dims for f in self.functions for m in self.methods
                       for s in range(self.seeds)),
                      key=lambda t: (-t[1], t[3] not in expensive, t[3] != "optuna-gp"))


# -- the report ---------------------------------------------------------------------------------


def report(runs: Sequence[Run], config: Config) -> bool:
    """Prints the tables and the target; True when the target holds (or could not be
    checked)."""
    cells = summarize(runs, config.regret)
    problems = [p for p in config.problems() if p in cells]
    methods = [m for m in config.methods if all(m in cells[p] for p in problems)]
    ranks = {p: rank({m: cells[p][m] for m in methods}) for p in problems}
    # With fewer seeds than instances, only the first instances ran.
    instances = ",".join(map(str, sorted({config.instance(s) for s in range(config.seeds)})))
    for name in problems:
        function, dim = parse_problem_name(name)
        print(f"\n## {name}: f{function} {FUNCTIONS[function]}, d={dim}, "
              f"{config.budgets[str(dim)]} trials, instances {instances}; "
              f"regret = best f - f_opt")
        rows = [[m, fmt_regret(c.median), fmt_regret(c.p25), fmt_regret(c.p75),
                 f"{ranks[name][m]:g}", f"{c.sampler_ms:.2f}",
                 f"{c.n_runs - c.n_errors}/{c.n_runs}"]
                for m in methods for c in [cells[name][m]]]
        print(table(["method", "median", "p25", "p75", "rank", "sampler ms/trial", "runs ok"],
                    rows))

    print("\n## median regret (p25-p75), rank 1 = lowest median; markdown")
    print("| problem | trials | " + " | ".join(methods) + " |")
    print("| --- | --- |" + " --- |" * len(methods))
    for name in problems:
        best = min(cells[name][m].median for m in methods)
        print(f"| {name} | {config.budgets[str(parse_problem_name(name)[1])]} | "
              + " | ".join(_cell_text(cells[name][m], best) for m in methods) + " |")

    mean_ranks = _mean_ranks(ranks, problems, methods, config.dims)
    print("\n## mean rank per dimension and overall (rank by median regret, 1 = best)")
    columns = [f"d={d}" for d in config.dims if f"d={d}" in mean_ranks] + ["all"]
    rows = []
    for method in sorted(methods, key=lambda m: mean_ranks["all"][m]):
        ok = [r for r in runs if r.method == method and r.error is None]
        trials = sum(len(r.values) for r in ok) or 1
        wins = sum(1 for p in problems if ranks[p][method] == min(ranks[p].values()))
        rows.append([method, *(f"{mean_ranks[c][method]:.2f}" for c in columns), str(wins),
                     f"{1000.0 * sum(r.sampler_s for r in ok) / trials:.2f}",
                     str(sum(1 for r in runs if r.method == method and r.error is not None))])
    print(table(["method", *columns, "problems best", "sampler ms/trial", "crashed runs"],
                rows))
    _print_errors(runs)
    ok = _verdict(cells, problems, mean_ranks)
    _print_best_of_each(mean_ranks)
    return ok


def _cell_text(cell: Cell, best: float) -> str:
    text = f"{fmt_regret(cell.median)} ({fmt_regret(cell.p25)}-{fmt_regret(cell.p75)})"
    return f"**{text}**" if cell.median == best else text


def _mean_ranks(ranks: dict[str, dict[str, float]], problems: list[str], methods: list[str],
                dims: list[int]) -> dict[str, dict[str, float]]:
    """column ("d=10", ..., "all") -> method -> mean rank over that column's problems."""
    groups = {f"d={d}": [p for p in problems if parse_problem_name(p)[1] == d] for d in dims}
    groups = {k: v for k, v in groups.items() if v}
    groups["all"] = problems
    return {column: {m: float(np.mean([ranks[p][m] for p in group])) for m in methods}
            for column, group in groups.items()}


def _print_errors(runs: Sequence[Run]) -> None:
    crashed = [r for r in runs if r.error is not None]
    if crashed:
        first = crashed[0]
        print(f"\n## {len(crashed)} crashed runs; the first, {first.method} on {first.problem} "
              f"seed {first.seed}:\n{first.error}")


def _verdict(cells: dict[str, dict[str, Cell]], problems: list[str],
             mean_ranks: dict[str, dict[str, float]]) -> bool:
    """Checks the issue-19 target, scaled to the problems run: pipetune's TPE has a lower
    median regret than Optuna's default TPE on at least 2/3 of them (a tie is no win)."""
    print("\n## targets")
    if not problems or PIPETUNE not in mean_ranks["all"] or OPTUNA not in mean_ranks["all"]:
        print("[skip] pipetune TPE vs Optuna's default TPE: needs both methods")
        return True
    wins = [p for p in problems if cells[p][PIPETUNE].median < cells[p][OPTUNA].median]
    ties = [p for p in problems if cells[p][PIPETUNE].median == cells[p][OPTUNA].median]
    need = math.ceil(WIN_TARGET[0] * len(problems) / WIN_TARGET[1])
    ok = len(wins) >= need
    dims = sorted({parse_problem_name(p)[1] for p in problems})
    per_dim = ", ".join(
        f"d={d} {sum(1 for p in wins if parse_problem_name(p)[1] == d)} of "
        f"{sum(1 for p in problems if parse_problem_name(p)[1] == d)}" for d in dims)
    print(f"[{'PASS' if ok else 'FAIL'}] pipetune TPE beats Optuna TPE on >= 2/3 of the BBOB "
          f"problems: lower median regret on {len(wins)} of {len(problems)} (needs {need}; "
          f"{per_dim}; ties {len(ties)}). Lost: "
          + (", ".join(p for p in problems if p not in wins) or "none"))
    print(f"[info] mean rank pipetune TPE {mean_ranks['all'][PIPETUNE]:.2f}, Optuna TPE "
          f"{mean_ranks['all'][OPTUNA]:.2f}")
    return ok


def _print_best_of_each(mean_ranks: dict[str, dict[str, float]]) -> None:
    """Not a target: each library's best method by overall mean rank."""
    overall = mean_ranks["all"]
    best = {library: min((m for m in overall if m.startswith(library + "-")),
                         key=lambda m: overall[m], default=None)
            for library in ("pipetune", "optuna")}
    if best["pipetune"] and best["optuna"]:
        print(f"[info] best mean rank of each library: {best['pipetune']} "
              f"{overall[best['pipetune']]:.2f}, {best['optuna']} "
              f"{overall[best['optuna']]:.2f}")


# -- the command --------------------------------------------------------------------------------


def parse_ints(text: str, what: str, low: int, high: int | None = None) -> list[int]:
    """``"2,10,20"`` or ``"3-7"`` (or both, comma-separated) as a list of ints in
    [low, high]; a clear error naming the flag otherwise."""
    values: list[int] = []
    try:
        for part in (p.strip() for p in text.split(",") if p.strip()):
            first, _, last = part.partition("-")
            values.extend(range(int(first), int(last or first) + 1))
    except ValueError:
        raise SystemExit(f"--{what}: expected numbers like 2,10,20 or 3-7. Got {text!r}.") from None
    bad = [v for v in values if v < low or (high is not None and v > high)]
    if bad or not values:
        limits = f"between {low} and {high}" if high is not None else f">= {low}"
        raise SystemExit(f"--{what}: every value must be {limits}. Got {text!r}.")
    return list(dict.fromkeys(values))


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Final regret on COCO's BBOB functions of pipetune's and Optuna's "
                    "samplers, on the same instances, seeds and budgets.")
    parser.add_argument("--dims", default=None,
                        help=f"dimensions (default {','.join(map(str, DEFAULT_DIMS))})")
    parser.add_argument("--functions", default=None,
                        help="BBOB function numbers 1-24, e.g. 1-24 or 8,15 (default "
                             f"{','.join(map(str, DEFAULT_FUNCTIONS))}: one or two per BBOB "
                             "group; 1-24 for all)")
    parser.add_argument("--instances", default=",".join(map(str, DEFAULT_INSTANCES)),
                        help="BBOB instance numbers; seed s runs the one at position "
                             "s mod (their count) in this list (default %(default)s)")
    parser.add_argument("--seeds", type=int, default=None,
                        help="seeds 0..N-1 per problem (default 10)")
    parser.add_argument("--trials-per-dim", type=int, default=None,
                        help="budget: this many trials per dimension (default 10)")
    parser.add_argument("--min-trials", type=int, default=None,
                        help="but at least this many trials (default 40)")
    parser.add_argument("--methods", default=",".join(DEFAULT_METHODS),
                        help=f"comma-separated subset of: {', '.join(BBOB_METHODS)} (default "
                             "all but optuna-tpe-mv and optuna-tpe-uni)")
    parser.add_argument("--jobs", type=int, default=1,
                        help="worker processes running runs at once")
    parser.add_argument("--quick", action="store_true",
                        help="a check in seconds: d=2, f1 and f15, 2 seeds, 20 trials (other "
                             "flags still apply on top)")
    parser.add_argument("--json", default=None, help="write the raw runs to this file")
    parser.add_argument("--report-only", default=None, metavar="JSON",
                        help="print the tables of a file written by --json; runs nothing")
    add_exit_flag(parser)
    args = parser.parse_args(argv)
    # A flag given explicitly wins over --quick's value, which wins over the full default.
    defaults = {"dims": ("2", ",".join(map(str, DEFAULT_DIMS))),
                "functions": ("1,15", ",".join(map(str, DEFAULT_FUNCTIONS))),
                "seeds": (2, 10), "trials_per_dim": (10, 10), "min_trials": (20, 40)}
    for dest, (quick, full) in defaults.items():
        if getattr(args, dest) is None:
            setattr(args, dest, quick if args.quick else full)
    if args.seeds < 1 or args.jobs < 1 or args.trials_per_dim < 1 or args.min_trials < 1:
        parser.error("--seeds, --jobs, --trials-per-dim and --min-trials must be >= 1.")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.report_only:
        saved = json.loads(Path(args.report_only).read_text())
        config = Config(**saved["config"])
        print(f"# bbob benchmark, from {args.report_only}: {saved['elapsed_s']:.0f} s; "
              + ", ".join(f"{k} {v}" for k, v in saved["installed"].items()))
        return exit_status(report([Run(**r) for r in saved["runs"]], config), args)
    dims = parse_ints(args.dims, "dims", 2)
    config = Config(functions=parse_ints(args.functions, "functions", 1, 24), dims=dims,
                    instances=parse_ints(args.instances, "instances", 1),
                    methods=parse_names(args.methods, BBOB_METHODS, "methods"),
                    seeds=args.seeds,
                    budgets={str(d): max(args.min_trials, args.trials_per_dim * d)
                             for d in dims})
    _require_cocoex()
    installed = versions(("pipetune", "optuna", "coco-experiment", "cmaes", "torch", "numpy"))
    tasks = config.tasks()
    print(f"# bbob benchmark: functions {','.join(map(str, config.functions))} x d "
          f"{','.join(map(str, dims))} x {len(config.methods)} methods x {config.seeds} seeds "
          f"(instances {','.join(map(str, config.instances))}), trials "
          + ", ".join(f"d={d}: {n}" for d, n in config.budgets.items())
          + f", {len(tasks)} runs, {args.jobs} job(s); "
          + ", ".join(f"{k} {v}" for k, v in installed.items()), flush=True)
    start = time.perf_counter()
    runs = run_all(run_bbob, tasks, args.jobs, config.regret)
    elapsed = time.perf_counter() - start
    order = config.problems()
    runs.sort(key=lambda r: (order.index(r.problem), config.methods.index(r.method), r.seed))
    if args.json:
        Path(args.json).write_text(json.dumps(
            {"config": asdict(config), "installed": installed, "elapsed_s": elapsed,
             "runs": [asdict(r) for r in runs]}, indent=1))
    ok = report(runs, config)
    print(f"\ntotal wall time {elapsed:.1f} s")
    return exit_status(ok, args)


if __name__ == "__main__":
    sys.exit(main())
