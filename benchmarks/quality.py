"""How good are pipetune's TPE proposals? Final regret against Optuna's and Hyperopt's TPE.

Every method minimises the same problems (``benchmarks/problems.py``) with the same seeds and
budgets, side by side in one run: pipetune's TPE (defaults), Optuna's TPE (defaults, and
multivariate with groups), Hyperopt's ``tpe.suggest`` and pipetune's random sampler as the
floor. Per problem it prints the median and interquartile range of the final regret (best value
minus the known optimum, or the best value when the optimum is unknown), then each method's mean
rank across problems, the time spent inside each sampler per trial, and the verdicts on
pipetune's targets.

Run: ``.venv/bin/python benchmarks/quality.py`` (10 seeds; ``--seeds 2 --trials-scale 0.3``
for a quick check, ``--jobs 2`` to use both cores, ``--help`` for the rest). See
benchmarks/README.md.
"""

from __future__ import annotations

import os

# One thread per process: the parallelism is --jobs, and a BLAS pool per worker would make the
# timings depend on how many workers share the cores.
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import json  # noqa: E402
import logging  # noqa: E402
import math  # noqa: E402
import multiprocessing  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import traceback  # noqa: E402
import warnings  # noqa: E402
from collections.abc import Callable, Sequence  # noqa: E402
from dataclasses import asdict, dataclass, replace  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any, TypeVar  # noqa: E402

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (  # noqa: E402
    add_exit_flag,
    exit_status,
    parse_names,
    quiet_logging,
    table,
    versions,
)
from problems import PROBLEMS, Problem, from_hyperopt, suggest  # noqa: E402

PIPETUNE, OPTUNA = "pipetune-tpe", "optuna-tpe"
TPE_METHODS = ("pipetune-tpe", "optuna-tpe", "optuna-tpe-mv", "optuna-tpe-uni", "hyperopt-tpe")
WIN_TARGET = (6, 8)  # pipetune beats Optuna's default TPE on at least 6 of 8 problems


# -- timing the sampler --------------------------------------------------------------------------

_SAMPLER_HOOKS = ("before_trial", "infer_relative_search_space", "sample_relative",
                  "sample_independent", "after_trial")


class SamplerClock:
    """Adds up the time spent inside a sampler's hooks by wrapping them on the instance.

    A hook that calls another hook of the same sampler is counted once (only the outermost
    call is timed), so the total is what the library spends deciding params, without the
    objective and without the study's bookkeeping around the calls.
    """

    def __init__(self) -> None:
        self.seconds = 0.0
        self._depth = 0

    def wrap(self, fn: Callable[..., Any]) -> Callable[..., Any]:
        def timed(*args: Any, **kwargs: Any) -> Any:
            if self._depth:
                return fn(*args, **kwargs)
            self._depth += 1
            start = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                self.seconds += time.perf_counter() - start
                self._depth -= 1

        return timed

    def attach(self, sampler: Any) -> Any:
        for hook in _SAMPLER_HOOKS:
            if hasattr(sampler, hook):
                setattr(sampler, hook, self.wrap(getattr(sampler, hook)))
        return sampler


# -- one run of one method -------------------------------------------------------------------


@dataclass(frozen=True)
class Run:
    """One method on one problem with one seed: every trial's value in order, and where the
    wall time went. ``error`` holds the traceback when the method crashed."""

    problem: str
    method: str
    seed: int
    n_trials: int
    values: list[float]
    sampler_s: float
    objective_s: float
    wall_s: float
    error: str | None = None

    def best(self) -> float:
        finite = [v for v in self.values if math.isfinite(v)]
        return min(finite) if finite else math.inf

    def regret(self) -> float:
        optimum = PROBLEMS[self.problem].optimum
        if optimum is None:
            return self.best()
        # Clipped at 0: float rounding can put a best value an ulp below the optimum.
        return max(0.0, self.best() - optimum)


class _Evaluator:
    """Times the problem's function and records each value, whichever library calls it."""

    def __init__(self, problem: Problem) -> None:
        self.problem = problem
        self.values: list[float] = []
        self.seconds = 0.0

    def __call__(self, params: dict[str, Any]) -> float:
        start = time.perf_counter()
        value = self.problem.evaluate(params)
        self.seconds += time.perf_counter() - start
        self.values.append(value)
        return value

    def define_by_run(self, trial: Any) -> float:
        return self(suggest(trial, self.problem.space))


def _run_define_by_run(library: str, sampler: Any, evaluator: _Evaluator, n_trials: int,
                       clock: SamplerClock) -> None:
    if library == "pipetune":
        import pipetune as lib
    else:
        import optuna as lib
    study = lib.create_study(sampler=clock.attach(sampler), direction="minimize")
    study.optimize(evaluator.define_by_run, n_trials=n_trials)


def _pipetune_tpe(seed: int) -> Any:
    import pipetune

    return pipetune.samplers.TPESampler(seed=seed)


def _pipetune_random(seed: int) -> Any:
    import pipetune

    return pipetune.samplers.RandomSampler(seed=seed)


def _optuna_tpe(seed: int) -> Any:
    import optuna

    return optuna.samplers.TPESampler(seed=seed)


def _optuna_tpe_mv(seed: int) -> Any:
    import optuna

    # Optuna 5 deprecates (and defaults to False) the switch that Optuna 4 needs to stay quiet.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        return optuna.samplers.TPESampler(seed=seed, multivariate=True, group=True,
                                          warn_independent_sampling=False)


def _optuna_tpe_univariate(seed: int) -> Any:
    import optuna

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        return optuna.samplers.TPESampler(seed=seed, multivariate=False)


def _optuna_random(seed: int) -> Any:
    import optuna

    return optuna.samplers.RandomSampler(seed=seed)


def _pipetune_gp(seed: int) -> Any:
    import pipetune

    return pipetune.samplers.GPSampler(seed=seed)


def _pipetune_cmaes(seed: int) -> Any:
    import pipetune

    return pipetune.samplers.CmaEsSampler(seed=seed)


def _pipetune_auto(seed: int) -> Any:
    import pipetune

    return pipetune.samplers.AutoSampler(seed=seed)


def _optuna_gp(seed: int) -> Any:
    import optuna

    return optuna.samplers.GPSampler(seed=seed)  # needs torch


def _optuna_cmaes(seed: int) -> Any:
    import optuna

    # Optuna's CMA-ES needs the cmaes package; it samples categorical params at random.
    return optuna.samplers.CmaEsSampler(seed=seed, warn_independent_sampling=False)


def _run_hyperopt(seed: int, evaluator: _Evaluator, n_trials: int, clock: SamplerClock) -> None:
    import hyperopt

    problem = evaluator.problem
    hyperopt.fmin(lambda sample: evaluator(from_hyperopt(sample, problem.space)),
                  problem.hyperopt_space(),
                  algo=clock.wrap(hyperopt.tpe.suggest), max_evals=n_trials,
                  trials=hyperopt.Trials(), rstate=np.random.default_rng(seed),
                  show_progressbar=False)


# method name -> runner(seed, evaluator, n_trials, clock)
Runner = Callable[[int, _Evaluator, int, SamplerClock], None]


def _define_by_run(library: str, factory: Callable[[int], Any]) -> Runner:
    def run(seed: int, evaluator: _Evaluator, n_trials: int, clock: SamplerClock) -> None:
        _run_define_by_run(library, factory(seed), evaluator, n_trials, clock)

    return run


METHODS: dict[str, Runner] = {
    "pipetune-tpe": _define_by_run("pipetune", _pipetune_tpe),
    "optuna-tpe": _define_by_run("optuna", _optuna_tpe),
    "optuna-tpe-mv": _define_by_run("optuna", _optuna_tpe_mv),
    "hyperopt-tpe": _run_hyperopt,
    "random": _define_by_run("pipetune", _pipetune_random),
    # Opt-in (not in the default --methods): Optuna 5's default TPE is already multivariate,
    # this is its one-param-at-a-time TPE, the default of Optuna 4 and earlier.
    "optuna-tpe-uni": _define_by_run("optuna", _optuna_tpe_univariate),
    # Opt-in: the GP and CMA-ES samplers side by side (--methods, or --suite gp).
    "pipetune-gp": _define_by_run("pipetune", _pipetune_gp),
    "optuna-gp": _define_by_run("optuna", _optuna_gp),
    "pipetune-cmaes": _define_by_run("pipetune", _pipetune_cmaes),
    "optuna-cmaes": _define_by_run("optuna", _optuna_cmaes),
    "pipetune-auto": _define_by_run("pipetune", _pipetune_auto),
    # Opt-in: Optuna's own random search (bbob.py runs it next to pipetune's).
    "optuna-random": _define_by_run("optuna", _optuna_random),
}
DEFAULT_METHODS = ("pipetune-tpe", "optuna-tpe", "optuna-tpe-mv", "hyperopt-tpe", "random")
DEFAULT_PROBLEMS = ("branin", "hartmann6", "rosenbrock10", "ackley10", "styblinski8", "mixed",
                    "conditional", "svm-cancer")
# --suite gp: the GP and CMA-ES samplers against Optuna's, pipetune's TPE and random search.
GP_PROBLEMS = ("branin", "hartmann6", "rosenbrock5", "ackley5", "mixed", "svm-cancer")
GP_METHODS = ("pipetune-gp", "optuna-gp", "pipetune-cmaes", "optuna-cmaes", "pipetune-tpe",
              "random")
GP_CONTINUOUS = ("branin", "hartmann6", "rosenbrock5", "ackley5")  # where GP must beat TPE
GP_WIN_TARGET = (4, 6)  # pipetune GP beats Optuna's GP on at least 4 of 6 problems


def prepare_process() -> None:
    """Imports every library up front, so no run's wall time includes an import, and silences
    their per-trial log lines and warnings (in worker processes too)."""
    import hyperopt  # noqa: F401
    import optuna

    import pipetune  # noqa: F401

    try:
        import torch  # noqa: F401  (Optuna's GPSampler imports it on first use)
    except ImportError:
        pass

    quiet_logging()
    logging.getLogger("hyperopt").setLevel(logging.WARNING)
    warnings.filterwarnings("ignore", module="sklearn")
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)


def run_one(task: tuple[str, str, int, int]) -> Run:
    """Runs one (problem, method, seed, n_trials) of ``PROBLEMS`` (see ``run_problem``)."""
    problem_name, method, seed, n_trials = task
    return run_problem(PROBLEMS[problem_name], method, seed, n_trials)


def run_problem(problem: Problem, method: str, seed: int, n_trials: int) -> Run:
    """Runs one method of ``METHODS`` on ``problem`` with one seed in a fresh study; a crash
    is recorded in the result rather than raised, so one broken method does not lose the
    others' runs. Other benchmarks (bbob.py) call it with problems of their own."""
    prepare_process()
    evaluator, clock = _Evaluator(problem), SamplerClock()
    start = time.perf_counter()
    error = None
    try:
        METHODS[method](seed, evaluator, n_trials, clock)
    except Exception:  # noqa: BLE001 - reported in the tables as "error"
        error = traceback.format_exc()
    wall = time.perf_counter() - start
    if error is None and len(evaluator.values) != n_trials:
        error = f"ran {len(evaluator.values)} of {n_trials} trials"
    return Run(problem.name, method, seed, n_trials, evaluator.values, clock.seconds,
               evaluator.seconds, wall, error)


# -- summaries ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Cell:
    """One method on one problem over all seeds: the final regret's median and quartiles, and
    the milliseconds per trial spent in the sampler and in the library overall (wall time
    minus the objective)."""

    median: float
    p25: float
    p75: float
    n_runs: int
    n_errors: int
    sampler_ms: float
    overhead_ms: float


def summarize(runs: Sequence[Run], regret: Callable[[Run], float] = Run.regret
              ) -> dict[str, dict[str, Cell]]:
    """problem -> method -> Cell; a method with a crashed run gets an infinite median, so it
    ranks last there instead of looking good on the seeds that survived. ``regret`` takes a
    run's final regret (by default against the optimum in ``PROBLEMS``)."""
    grouped: dict[str, dict[str, list[Run]]] = {}
    for run in runs:
        grouped.setdefault(run.problem, {}).setdefault(run.method, []).append(run)
    out: dict[str, dict[str, Cell]] = {}
    for problem, by_method in grouped.items():
        out[problem] = {}
        for method, group in by_method.items():
            ok = [r for r in group if r.error is None]
            regrets = np.array([regret(r) for r in ok]) if ok else np.array([math.inf])
            trials = sum(len(r.values) for r in ok) or 1
            p25, median, p75 = np.percentile(regrets, [25, 50, 75]) if ok else (math.inf,) * 3
            if len(ok) < len(group):
                median = math.inf
            out[problem][method] = Cell(
                float(median), float(p25), float(p75), len(group), len(group) - len(ok),
                1000.0 * sum(r.sampler_s for r in ok) / trials,
                1000.0 * sum(r.wall_s - r.objective_s for r in ok) / trials)
    return out


def rank(cells: dict[str, Cell]) -> dict[str, float]:
    """Ranks the methods of one problem by median regret, 1 = best, ties sharing the mean of
    the ranks they span."""
    order = sorted(cells, key=lambda m: cells[m].median)
    ranks: dict[str, float] = {}
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and cells[order[j + 1]].median == cells[order[i]].median:
            j += 1
        for method in order[i:j + 1]:
            ranks[method] = (i + j) / 2 + 1
        i = j + 1
    return ranks


def fmt_regret(x: float) -> str:
    """A regret for a table: 4 significant digits, `error` for a crashed method's inf."""
    if math.isinf(x):
        return "error"
    return f"{x:.4g}"


def report(runs: Sequence[Run], problems: Sequence[str], methods: Sequence[str]) -> bool:
    """Prints the tables and verdicts; True when every verdict that could be checked passed."""
    cells = summarize(runs)
    problems = [p for p in problems if p in cells]
    ranks = {p: rank(cells[p]) for p in problems}
    for name in problems:
        problem = PROBLEMS[name]
        n_trials = max(r.n_trials for r in runs if r.problem == name)
        what = ("regret = best value - optimum" if problem.optimum is not None
                else "optimum unknown: best value")
        optimum = "unknown" if problem.optimum is None else f"{problem.optimum:.6g}"
        print(f"\n## {name}: {problem.description}; optimum {optimum}; {n_trials} trials; {what}")
        rows = []
        for method in methods:
            cell = cells[name].get(method)
            if cell is None:
                continue
            rows.append([method, fmt_regret(cell.median), fmt_regret(cell.p25),
                         fmt_regret(cell.p75),
                         f"{ranks[name][method]:g}", f"{cell.sampler_ms:.2f}",
                         f"{cell.n_runs - cell.n_errors}/{cell.n_runs}"])
        print(table(["method", "median", "p25", "p75", "rank", "sampler ms/trial", "runs ok"],
                     rows))

    present = [m for m in methods if all(m in cells[p] for p in problems)]
    mean_rank = {m: float(np.mean([ranks[p][m] for p in problems])) for m in present}
    print(f"\n## mean rank over {len(problems)} problems (rank by median regret, 1 = best)")
    rows = []
    for method in sorted(present, key=lambda m: mean_rank[m]):
        ok = [r for r in runs if r.method == method and r.error is None]
        trials = sum(len(r.values) for r in ok) or 1
        sampler_ms = 1000.0 * sum(r.sampler_s for r in ok) / trials
        overhead_ms = 1000.0 * sum(r.wall_s - r.objective_s for r in ok) / trials
        wins = sum(1 for p in problems if ranks[p][method] == min(ranks[p].values()))
        rows.append([method, f"{mean_rank[method]:.2f}", str(wins), f"{sampler_ms:.2f}",
                     f"{overhead_ms:.2f}", str(sum(1 for r in runs if r.method == method
                                                    and r.error is not None))])
    print(table(["method", "mean rank", "problems best", "sampler ms/trial",
                  "overhead ms/trial", "crashed runs"], rows))
    _print_errors(runs)
    return _verdicts(cells, problems, mean_rank)


def report_budgets(runs: Sequence[Run], problems: Sequence[str], methods: Sequence[str],
                   at: str | None) -> bool:
    """``report`` at each budget of ``at`` (runs cut to their first K trials), then at the
    full budget."""
    passed = True
    for budget in sorted(int(k) for k in at.split(",")) if at else ():
        print(f"\n# after the first {budget} trials (times per trial: the full runs' means)")
        cut = [replace(r, n_trials=min(budget, r.n_trials), values=r.values[:budget],
                       sampler_s=r.sampler_s * len(r.values[:budget]) / max(1, len(r.values)),
                       objective_s=r.objective_s * len(r.values[:budget]) / max(1, len(r.values)),
                       wall_s=r.wall_s * len(r.values[:budget]) / max(1, len(r.values)))
               for r in runs]
        passed &= report(cut, problems, methods)
    if at:
        print("\n# after all trials")
    return report(runs, problems, methods) and passed


def _print_errors(runs: Sequence[Run]) -> None:
    crashed = [r for r in runs if r.error is not None]
    if not crashed:
        return
    print(f"\n## {len(crashed)} crashed runs (the first traceback of each method)")
    seen: set[str] = set()
    for run in crashed:
        if run.method not in seen:
            seen.add(run.method)
            print(f"-- {run.method} on {run.problem}, seed {run.seed}:\n{run.error}")


def _verdicts(cells: dict[str, dict[str, Cell]], problems: list[str],
              mean_rank: dict[str, float]) -> bool:
    print("\n## targets")
    passed = True
    tpe = [m for m in TPE_METHODS if m in mean_rank]
    if PIPETUNE in mean_rank and len(tpe) > 1:
        best_other = min(mean_rank[m] for m in tpe if m != PIPETUNE)
        ok = mean_rank[PIPETUNE] <= best_other
        tie = " (tied)" if mean_rank[PIPETUNE] == best_other else ""
        passed &= ok
        print(f"[{'PASS' if ok else 'FAIL'}] pipetune TPE has the best mean rank of the TPE "
              f"variants{tie}: {mean_rank[PIPETUNE]:.2f} vs best other {best_other:.2f} "
              f"({', '.join(f'{m} {mean_rank[m]:.2f}' for m in tpe if m != PIPETUNE)})")
    else:
        print("[skip] best mean rank of the TPE variants: needs pipetune-tpe and another TPE")
    if PIPETUNE in mean_rank and OPTUNA in mean_rank:
        wins = [p for p in problems if cells[p][PIPETUNE].median < cells[p][OPTUNA].median]
        need = math.ceil(WIN_TARGET[0] / WIN_TARGET[1] * len(problems))
        ok = len(wins) >= need
        passed &= ok
        scaled = ("" if len(problems) == WIN_TARGET[1]
                  else f" (target scaled to {need} of {len(problems)} problems run)")
        print(f"[{'PASS' if ok else 'FAIL'}] pipetune TPE has a lower median regret than "
              f"Optuna's default TPE on {len(wins)} of {len(problems)} problems; target >= "
              f"{WIN_TARGET[0]} of {WIN_TARGET[1]}{scaled}. Won: {', '.join(wins) or 'none'}")
    else:
        print("[skip] pipetune TPE vs Optuna's default TPE: needs both methods")
    if "pipetune-gp" in mean_rank and "optuna-gp" in mean_rank:
        wins = [p for p in problems
                if cells[p]["pipetune-gp"].median < cells[p]["optuna-gp"].median]
        need = math.ceil(GP_WIN_TARGET[0] / GP_WIN_TARGET[1] * len(problems))
        ok = len(wins) >= need
        passed &= ok
        print(f"[{'PASS' if ok else 'FAIL'}] pipetune GP has a lower median regret than "
              f"Optuna's GP on {len(wins)} of {len(problems)} problems; target >= {need}. "
              f"Won: {', '.join(wins) or 'none'}")
    continuous = [p for p in problems if p in GP_CONTINUOUS]
    if "pipetune-gp" in mean_rank and PIPETUNE in mean_rank and continuous:
        wins = [p for p in continuous
                if cells[p]["pipetune-gp"].median < cells[p][PIPETUNE].median]
        ok = len(wins) == len(continuous)
        passed &= ok
        print(f"[{'PASS' if ok else 'FAIL'}] pipetune GP has a lower median regret than "
              f"pipetune TPE on the low-dimensional continuous problems: {len(wins)} of "
              f"{len(continuous)} ({', '.join(wins) or 'none'})")
    return passed


# -- the command --------------------------------------------------------------------------------


Task = TypeVar("Task")


def run_all(worker: Callable[[Task], Run], tasks: Sequence[Task], jobs: int,
            regret: Callable[[Run], float] = Run.regret) -> list[Run]:
    """Runs ``worker`` on every task, on ``jobs`` spawned processes when more than one, and
    prints a progress line per finished run to stderr. ``worker`` must be a module-level
    function (it is pickled to the workers); the runs come back in the order they finished."""
    prepare_process()
    runs: list[Run] = []
    pool = multiprocessing.get_context("spawn").Pool(jobs) if jobs > 1 else None
    try:
        results = pool.imap_unordered(worker, tasks) if pool else map(worker, tasks)
        for i, run in enumerate(results, 1):
            runs.append(run)
            status = "CRASHED" if run.error else f"regret {fmt_regret(regret(run))}"
            print(f"[{i}/{len(tasks)}] {run.problem} {run.method} seed {run.seed}: {status} "
                  f"({run.wall_s:.1f} s)", file=sys.stderr, flush=True)
    finally:
        if pool:
            pool.close()
            pool.join()
    return runs


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Final regret of pipetune's TPE against Optuna's and Hyperopt's TPE and "
                    "random search, on the same problems and seeds.")
    parser.add_argument("--seeds", type=int, default=10, help="seeds 0..N-1 per problem")
    parser.add_argument("--suite", choices=("tpe", "gp"), default="tpe",
                        help="default problems and methods: tpe (the TPE comparison) or gp "
                             f"({', '.join(GP_METHODS)} on {', '.join(GP_PROBLEMS)})")
    parser.add_argument("--problems", default=None,
                        help=f"comma-separated subset of: {', '.join(PROBLEMS)} (default: the "
                             "suite's)")
    parser.add_argument("--methods", default=None,
                        help=f"comma-separated subset of: {', '.join(METHODS)} (default: the "
                             f"suite's; tpe: {', '.join(DEFAULT_METHODS)})")
    parser.add_argument("--trials", type=int, default=None,
                        help="the same budget for every problem (instead of each problem's "
                             "own, times --trials-scale)")
    parser.add_argument("--trials-scale", type=float, default=1.0,
                        help="multiplies every problem's budget (0.5 halves it)")
    parser.add_argument("--jobs", type=int, default=1,
                        help="worker processes running (problem, method, seed) runs at once")
    parser.add_argument("--at", default=None,
                        help="also report the regret after the first K trials of every run, "
                             "for each K of this comma-separated list (a run's first K "
                             "trials are those of a K-trial run with the same seed)")
    parser.add_argument("--json", default=None, help="write the raw runs to this file")
    parser.add_argument("--report-only", default=None, metavar="JSON",
                        help="print the tables of a file written by --json; runs nothing")
    add_exit_flag(parser)
    args = parser.parse_args(argv)
    if args.seeds < 1 or args.jobs < 1 or not args.trials_scale > 0:
        parser.error("--seeds and --jobs must be >= 1 and --trials-scale > 0.")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.report_only:
        saved = json.loads(Path(args.report_only).read_text())
        runs = [Run(**r) for r in saved["runs"]]
        config = saved["config"]
        print(f"# quality benchmark, from {args.report_only}: {config['seeds']} seeds, trials "
              f"scale {config['trials_scale']:g}, {config['elapsed_s']:.0f} s; "
              + ", ".join(f"{k} {v}" for k, v in config["installed"].items()))
        ok = report_budgets(runs, saved["config"]["problems"], saved["config"]["methods"],
                            args.at)
        return exit_status(ok, args)
    gp = args.suite == "gp"
    problems = parse_names(args.problems or ",".join(GP_PROBLEMS if gp else DEFAULT_PROBLEMS),
                           PROBLEMS, "problems")
    methods = parse_names(args.methods or ",".join(GP_METHODS if gp else DEFAULT_METHODS),
                          METHODS, "methods")
    budgets = {p: args.trials or max(2, round(PROBLEMS[p].n_trials * args.trials_scale))
               for p in problems}
    # Longest runs first, so the last ones to finish are short and the workers stay busy.
    tasks = sorted(((p, m, s, budgets[p]) for p in problems for m in methods
                    for s in range(args.seeds)),
                   key=lambda t: (-budgets[t[0]], t[0] != "svm-cancer"))
    installed = versions()
    print(f"# quality benchmark: {len(problems)} problems x {len(methods)} methods x "
          f"{args.seeds} seeds, trials scale {args.trials_scale:g}, {args.jobs} job(s); "
          + ", ".join(f"{k} {v}" for k, v in installed.items()))
    start = time.perf_counter()
    runs = run_all(run_one, tasks, args.jobs)
    elapsed = time.perf_counter() - start
    runs.sort(key=lambda r: (problems.index(r.problem), methods.index(r.method), r.seed))
    if args.json:
        config = {"problems": problems, "methods": methods, "seeds": args.seeds,
                  "trials_scale": args.trials_scale, "budgets": budgets, "jobs": args.jobs,
                  "installed": installed, "elapsed_s": elapsed}
        Path(args.json).write_text(json.dumps(
            {"config": config, "runs": [asdict(r) for r in runs]}, indent=1))
    ok = report_budgets(runs, problems, methods, args.at)
    print(f"\ntotal wall time {elapsed:.1f} s")
    return exit_status(ok, args)


if __name__ == "__main__":
    sys.exit(main())
