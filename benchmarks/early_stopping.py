"""Does pruning pay? pipetune's pruners against no pruning and Optuna's pruners, side by side.

Every method runs the same learning-curve problems (``benchmarks/curves.py``) with the same
objective code, seeds and sampler family, in one process run: a trial reports its value after
every step and stops when ``should_prune()`` says so. By default (``--sampler same``) the params
are a random search drawn once per seed and enqueued trial by trial on both libraries, so every
method sees the same configurations in the same order and only the pruner differs; ``--sampler
random`` gives each library its own ``RandomSampler(seed)``, ``--sampler tpe`` (``gp``,
``cmaes``) its own TPE (GP, CMA-ES) and ``--sampler auto`` pipetune's default, ``AutoSampler``
(pipetune's methods only: Optuna's default sampler is its TPE). Per problem two tables:

- *equal trials*: after the first ``--trials`` trials, the total resource spent (the sum over
  trials of the steps each ran) and the best final value among the trials that ran every step;
- *equal resource*: the best final value among the trials that fit, whole, in a third of what
  no pruning spends on ``--trials`` trials (``--budget``), so a pruner's savings buy more trials.

Then the verdicts on pipetune's targets. Several samplers (``--sampler tpe,auto``) give these
per sampler, then one table of every (library, sampler, pruner) at equal resource with mean
ranks over seeds and the verdicts of issue 19 (pipetune's default against Optuna's best
combination; pipetune's Hyperband against Optuna's).

Run: ``.venv/bin/python benchmarks/early_stopping.py``
(``--seeds 2 --trials 40`` for a quick check, ``--help`` for the rest). See benchmarks/README.md.
"""

from __future__ import annotations

import os

# One thread per process: the parallelism is --jobs.
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse
import json
import math
import multiprocessing
import sys
import time
import traceback
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (
    SAMPLERS,
    add_exit_flag,
    exit_status,
    parse_names,
    quiet_logging,
    table,
    versions,
)
from curves import CURVE_PROBLEMS, CurveMemo, CurveProblem
from problems import suggest

LIBRARIES = ("pipetune", "optuna")
# Where the params come from (see --sampler); "auto" is pipetune's AutoSampler, which Optuna
# does not have (its default sampler is its TPE, "tpe"), so "auto" runs pipetune's methods only.
SAMPLER_CHOICES = ("same", "random", "tpe", "gp", "cmaes", "auto")
# Pruner kinds, each built with the same settings on both sides. The last two are opt-in.
KINDS = ("nop", "median", "asha", "hyperband", "percentile", "patient")
DEFAULT_KINDS = ("nop", "median", "asha", "hyperband")
METHODS = tuple(f"{lib}-{kind}" for kind in KINDS for lib in LIBRARIES)
TOLERANCE = 2.0  # "within 2%": the gap (see gap()) in percent
TARGET_KINDS = ("asha", "hyperband")  # must reach TOLERANCE with a third of the resource
KIND_NAMES = {"nop": "NopPruner", "median": "MedianPruner(5, 5)",
              "asha": "SuccessiveHalvingPruner(1, 3)", "hyperband": "HyperbandPruner(1, T, 3)",
              "percentile": "PercentilePruner(25, 5, 5)",
              "patient": "PatientPruner(MedianPruner(5, 5), patience=3)"}


def _library(name: str) -> Any:
    if name == "pipetune":
        import pipetune

        return pipetune
    import optuna

    return optuna


def make_pruner(library: str, kind: str, n_steps: int) -> Any:
    """The same pruner, with the same settings, from either library. Optuna's successive
    halving defaults to a reduction factor of 4, so every argument is given."""
    pruners = _library(library).pruners
    if kind == "nop":
        return pruners.NopPruner()
    if kind == "median":
        return pruners.MedianPruner(n_startup_trials=5, n_warmup_steps=5, interval_steps=1)
    if kind == "percentile":
        return pruners.PercentilePruner(25.0, n_startup_trials=5, n_warmup_steps=5,
                                        interval_steps=1)
    if kind == "asha":
        return pruners.SuccessiveHalvingPruner(min_resource=1, reduction_factor=3,
                                               min_early_stopping_rate=0)
    if kind == "hyperband":
        return pruners.HyperbandPruner(min_resource=1, max_resource=n_steps, reduction_factor=3)
    if kind == "patient":
        return pruners.PatientPruner(
            pruners.MedianPruner(n_startup_trials=5, n_warmup_steps=5, interval_steps=1),
            patience=3)
    raise ValueError(f"Unknown pruner kind {kind!r}; choose from {', '.join(KINDS)}.")


def make_sampler(library: str, sampler: str, seed: int) -> Any:
    """The sampler named by ``--sampler`` from ``library``, built as the other benchmarks
    build it (``_common.SAMPLERS``); "same" enqueues every trial's params over a random one."""
    if sampler == "auto":
        if library != "pipetune":
            raise ValueError("--sampler auto is pipetune's AutoSampler; Optuna has none.")
        return _library(library).samplers.AutoSampler(seed=seed)
    return SAMPLERS["random" if sampler == "same" else sampler][library](seed)


def same_draws(problem: CurveProblem, seed: int) -> Iterator[dict[str, Any]]:
    """The ``--sampler same`` stream: random params drawn once per (problem, seed), uniform
    (log-uniform for log floats) like a random sampler's, and enqueued trial by trial on
    either library, so both run exactly the same configurations in the same order."""
    rng = np.random.default_rng([seed, zlib.crc32(problem.name.encode())])
    while True:
        params: dict[str, Any] = {}
        for p in problem.space:
            if p.kind == "categorical":
                params[p.name] = p.choices[int(rng.integers(len(p.choices)))]
            elif p.kind == "int":
                params[p.name] = int(rng.integers(int(p.low), int(p.high) + 1))
            elif p.log:
                params[p.name] = float(math.exp(rng.uniform(math.log(p.low), math.log(p.high))))
            else:
                params[p.name] = float(rng.uniform(p.low, p.high))
        yield params


# -- one run of one method -------------------------------------------------------------------


@dataclass(frozen=True)
class Run:
    """One method on one problem with one seed: per trial, in order, the steps it ran and its
    final value (None when it was pruned). ``error`` holds the traceback of a crash."""

    problem: str
    method: str
    seed: int
    n_trials: int
    budget: int
    steps: list[int]
    finals: list[float | None]
    wall_s: float
    objective_s: float
    error: str | None = None
    sampler: str = ""  # the --sampler the run used (absent from files of older versions)

    def view(self, by: str) -> tuple[int, int, float]:
        """(trials, resource, best final value) of the first ``n_trials`` trials (``by =
        "trials"``) or of the longest prefix of trials whose resource fits in the budget
        (``by = "resource"``); the best is inf when no trial in it ran every step."""
        if by == "trials":
            k = min(self.n_trials, len(self.steps))
        else:
            k = int(np.searchsorted(np.cumsum(self.steps), self.budget, side="right"))
        finals = [v for v in self.finals[:k] if v is not None and math.isfinite(v)]
        return k, int(sum(self.steps[:k])), min(finals) if finals else math.inf


@dataclass(frozen=True)
class Task:
    """Methods run one after the other on one (problem, seed), sharing one ``CurveMemo`` so a
    curve is trained once however many of them ask for it: the methods of one library with
    ``--sampler random`` (they all draw the same params in the same order), of both libraries
    with ``--sampler same``."""

    problem: str
    seed: int
    methods: tuple[str, ...]
    n_trials: int
    budget_fraction: float
    max_trials: int
    sampler: str


def run_method(problem: CurveProblem, method: str, task: Task, memo: CurveMemo) -> Run:
    """Runs one method until it has ``n_trials`` trials *and* has spent the budget (or has
    ``max_trials``), so both tables can be read from the same run: a sequential study's first
    N trials are the same whether it goes on after them or not."""
    library, kind = method.split("-", 1)
    lib = _library(library)
    n_steps = problem.n_steps
    budget = round(task.budget_fraction * n_steps * task.n_trials)
    steps: list[int] = []
    finals: list[float | None] = []
    spent = [0, 0.0]  # resource so far, seconds inside the curves

    def objective(trial: Any) -> float:
        params = suggest(trial, problem.space)
        value = math.nan
        for step in range(1, n_steps + 1):
            start = time.perf_counter()
            value = memo.value(params, step)
            spent[1] += time.perf_counter() - start
            trial.report(value, step)
            # The last step is not checked: the trial has spent its resource already, and
            # pruning it there would only throw a finished result away.
            if step < n_steps and trial.should_prune():
                steps.append(step)
                finals.append(None)
                spent[0] += step
                raise lib.TrialPruned()
        steps.append(n_steps)
        finals.append(value)
        spent[0] += n_steps
        return value

    study = lib.create_study(study_name=f"{problem.name}-seed{task.seed}", direction="minimize",
                             sampler=make_sampler(library, task.sampler, task.seed),
                             pruner=make_pruner(library, kind, n_steps))
    # One trial queued at a time, so no pile of waiting trials slows either library down.
    draws = same_draws(problem, task.seed) if task.sampler == "same" else None
    if draws is not None:
        study.enqueue_trial(next(draws))

    def stop_when_done(study: Any, _trial: Any) -> None:
        if len(steps) >= task.n_trials and spent[0] >= budget:
            study.stop()
        elif draws is not None:
            study.enqueue_trial(next(draws))

    start = time.perf_counter()
    error = None
    try:
        study.optimize(objective, n_trials=task.max_trials, callbacks=[stop_when_done])
    except Exception:  # noqa: BLE001 - reported with the tables
        error = traceback.format_exc()
    return Run(problem.name, method, task.seed, task.n_trials, budget, steps, finals,
               time.perf_counter() - start, spent[1], error, task.sampler)


def prepare_process() -> None:
    """Imports both libraries up front and silences their per-trial log lines."""
    import optuna  # noqa: F401

    import pipetune  # noqa: F401

    quiet_logging()


def run_task(task: Task) -> list[Run]:
    prepare_process()
    problem = CURVE_PROBLEMS[task.problem]
    memo = CurveMemo(problem)
    return [run_method(problem, method, task, memo) for method in task.methods]


# -- summaries ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Cell:
    """One method on one problem in one view, over seeds: medians of trials and resource,
    median and quartiles of the best final value, the median gap to no pruning (percent) and
    the median number of trials that ran every step."""

    trials: float
    resource: float
    best: float
    best_p25: float
    best_p75: float
    gap: float
    complete: float
    ms_per_step: float
    n_runs: int
    n_errors: int


def gap(problem: CurveProblem, best: float, baseline: float) -> float:
    """How much worse ``best`` is than no pruning's ``baseline``, in percent: of the value range
    (start of the curves minus the optimum) when the problem gives one, else of the baseline
    itself. Negative means better than no pruning."""
    if math.isinf(best):
        return math.inf
    scale = problem.gap_scale if problem.gap_scale is not None else abs(baseline)
    return 100.0 * (best - baseline) / scale if scale > 0 else 0.0


def summarize(runs: Sequence[Run], by: str) -> dict[str, dict[str, Cell]]:
    """problem -> method -> Cell for the view ``by`` ("trials" or "resource"). The gap is
    taken seed by seed against the same library's no-pruning run at equal *trials* (with
    ``--sampler same`` or ``random`` the two ran the same params in the same order), then its
    median over seeds."""
    baselines = {(r.problem, r.method.split("-", 1)[0], r.seed): r.view("trials")[2]
                 for r in runs if r.method.endswith("-nop") and r.error is None}
    grouped: dict[str, dict[str, list[Run]]] = {}
    for run in runs:
        grouped.setdefault(run.problem, {}).setdefault(run.method, []).append(run)
    out: dict[str, dict[str, Cell]] = {}
    for name, by_method in grouped.items():
        problem = CURVE_PROBLEMS[name]
        out[name] = {}
        for method, group in by_method.items():
            ok = [r for r in group if r.error is None]
            if not ok:
                out[name][method] = Cell(*(math.inf,) * 8, len(group), len(group))
                continue
            views = [r.view(by) for r in ok]
            bests = np.array([v[2] for v in views])
            gaps = [gap(problem, v[2], baselines[(name, method.split("-", 1)[0], r.seed)])
                    for r, v in zip(ok, views)
                    if (name, method.split("-", 1)[0], r.seed) in baselines]
            complete = [sum(1 for f in r.finals[:v[0]] if f is not None)
                        for r, v in zip(ok, views)]
            # Library time per step: wall time minus the time spent computing the curves.
            total_steps = sum(sum(r.steps) for r in ok)
            per_step = (1000.0 * sum(r.wall_s - r.objective_s for r in ok) / total_steps
                        if total_steps else math.nan)
            p25, median, p75 = np.percentile(bests, [25, 50, 75])
            out[name][method] = Cell(
                float(np.median([v[0] for v in views])), float(np.median([v[1] for v in views])),
                float(median), float(p25), float(p75),
                float(np.median(gaps)) if gaps else math.nan,
                float(np.median(complete)), per_step,
                len(group), len(group) - len(ok))
    return out


def _fmt(x: float, spec: str = ".4g") -> str:
    if math.isnan(x):
        return "n/a"
    if math.isinf(x):
        return "none"
    return format(x, spec)


def _gap_basis(problem: CurveProblem) -> str:
    if problem.gap_scale is not None:
        basis = (f"gap = (best - no pruning's best) / {problem.gap_scale:g} (the value range: "
                 f"curve start - optimum)")
    else:
        basis = "gap = (best - no pruning's best) / no pruning's best"
    if problem.resolution is not None:
        basis += f"; values move in steps of {problem.resolution:.4g} (one validation sample)"
    return basis


def report(runs: Sequence[Run], problems: Sequence[str], methods: Sequence[str],
           budget_fraction: float) -> bool:
    """Prints the tables and the verdicts; True when every verdict that could be checked
    passed."""
    by_trials, by_resource = summarize(runs, "trials"), summarize(runs, "resource")
    problems = [p for p in problems if p in by_trials]
    for name in problems:
        problem = CURVE_PROBLEMS[name]
        n_trials = max(r.n_trials for r in runs if r.problem == name)
        full = n_trials * problem.n_steps
        optimum = "unknown" if problem.optimum is None else f"{problem.optimum:g}"
        print(f"\n## {name}: {problem.description}; T = {problem.n_steps} steps; optimum "
              f"{optimum}; {_gap_basis(problem)}; median [25th-75th percentile] over seeds")
        print(f"\n### equal trials: the first {n_trials} trials of each run "
              f"(no pruning spends {full} steps)")
        rows = []
        for method in methods:
            cell = by_trials[name].get(method)
            if cell is None:
                continue
            rows.append([method, _fmt(cell.resource, ".0f"),
                         _fmt(100.0 * cell.resource / full, ".1f") + "%",
                         _fmt(cell.complete, "g"),
                         f"{_fmt(cell.best)} [{_fmt(cell.best_p25)}-{_fmt(cell.best_p75)}]",
                         _fmt(cell.gap, "+.2f") + "%", _fmt(cell.ms_per_step, ".3f"),
                         f"{cell.n_runs - cell.n_errors}/{cell.n_runs}"])
        print(table(["method", "resource", "vs no pruning", "complete", "best final",
                      "gap", "lib ms/step", "runs ok"], rows))
        budget = round(budget_fraction * full)
        print(f"\n### equal resource: the trials that fit whole in {budget} steps "
              f"({100 * budget_fraction:.3g}% of no pruning's)")
        rows = []
        for method in methods:
            cell = by_resource[name].get(method)
            if cell is None:
                continue
            rows.append([method, _fmt(cell.trials, "g"), _fmt(cell.resource, ".0f"),
                         _fmt(cell.complete, "g"),
                         f"{_fmt(cell.best)} [{_fmt(cell.best_p25)}-{_fmt(cell.best_p75)}]",
                         _fmt(cell.gap, "+.2f") + "%"])
        print(table(["method", "trials", "resource", "complete", "best final",
                      f"gap (vs no pruning at {n_trials} trials)"], rows))
        short = [r for r in runs if r.problem == name and r.error is None
                 and sum(r.steps) < r.budget]
        if short:
            print(f"note: {len(short)} run(s) hit --max-trials-factor before spending the "
                  f"budget ({', '.join(sorted({r.method for r in short}))}); their equal-"
                  "resource row uses every trial they ran")
    _print_errors(runs)
    return _verdicts(by_trials, by_resource, problems, budget_fraction)


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


def _verdicts(by_trials: dict[str, dict[str, Cell]], by_resource: dict[str, dict[str, Cell]],
              problems: list[str], budget_fraction: float) -> bool:
    print(f"\n## targets (gap as defined per problem above; 'within {TOLERANCE:g}%' means "
          f"gap <= {TOLERANCE:g}%)")
    passed = True
    share = f"{100 * budget_fraction:.3g}%"
    for name in problems:
        cells_t, cells_r = by_trials[name], by_resource[name]
        for kind in TARGET_KINDS:
            method = f"pipetune-{kind}"
            if method not in cells_r or math.isnan(cells_r[method].gap):
                print(f"[skip] {name} {method}: needs {method} and pipetune-nop")
                continue
            r, t = cells_r[method], cells_t[method]
            ok = r.gap <= TOLERANCE and r.n_errors == 0
            passed &= ok
            other = cells_r.get(f"optuna-{kind}")
            context = f"; optuna-{kind} {_fmt(other.gap, '+.2f')}%" if other else ""
            nop = cells_t["pipetune-nop"]
            print(f"[{'PASS' if ok else 'FAIL'}] {name}: {method} within {TOLERANCE:g}% of "
                  f"no pruning's best with {share} of its resource: gap "
                  f"{_fmt(r.gap, '+.2f')}% over {_fmt(r.trials, 'g')} trials{context}. At "
                  f"equal trials it spends {_fmt(100 * t.resource / nop.resource, '.1f')}% of "
                  f"the resource, gap {_fmt(t.gap, '+.2f')}%")
        for kind in KINDS[1:]:
            ours, theirs = f"pipetune-{kind}", f"optuna-{kind}"
            if ours not in cells_r or theirs not in cells_r:
                continue
            p_r, o_r = cells_r[ours], cells_r[theirs]
            p_t, o_t = cells_t[ours], cells_t[theirs]
            ok = (p_r.n_errors == 0 and not math.isnan(p_r.gap)
                  and p_r.gap <= o_r.gap + TOLERANCE)
            passed &= ok
            print(f"[{'PASS' if ok else 'FAIL'}] {name}: {ours} matches or beats {theirs} at "
                  f"equal resource (gap <= theirs + {TOLERANCE:g}): gap {_fmt(p_r.gap, '+.2f')}% "
                  f"vs {_fmt(o_r.gap, '+.2f')}%, best {_fmt(p_r.best)} vs {_fmt(o_r.best)}; at "
                  f"equal trials: resource {_fmt(p_t.resource, '.0f')} vs "
                  f"{_fmt(o_t.resource, '.0f')}, gap {_fmt(p_t.gap, '+.2f')}% vs "
                  f"{_fmt(o_t.gap, '+.2f')}%")
    return passed


# -- every sampler and pruner side by side ---------------------------------------------------


def combination(run: Run) -> str:
    """A run's (library, sampler, pruner) as one label, e.g. ``pipetune-tpe-hyperband``."""
    library, kind = run.method.split("-", 1)
    return f"{library}-{run.sampler}-{kind}"


def _ranks(values: Sequence[float]) -> np.ndarray:
    """Ranks from 1 (lowest value), ties sharing the mean of the ranks they span."""
    order = np.argsort(values, kind="stable")
    ranks = np.empty(len(values))
    sorted_values = np.asarray(values)[order]
    i = 0
    while i < len(values):
        j = i
        while j + 1 < len(values) and sorted_values[j + 1] == sorted_values[i]:
            j += 1
        ranks[order[i:j + 1]] = (i + j) / 2 + 1
        i = j + 1
    return ranks


@dataclass(frozen=True)
class Standing:
    """One combination on one problem at equal resource, over seeds: the median and quartiles
    of the best final value, the median number of trials, and the mean rank among every
    combination run on the same seed (1 = best; ties share their mean rank)."""

    best: float
    best_p25: float
    best_p75: float
    trials: float
    mean_rank: float
    n_runs: int


def standings(runs: Sequence[Run], name: str) -> dict[str, Standing]:
    """combination -> Standing on problem ``name`` at equal resource; crashed runs count as
    the worst value of their seed."""
    by_seed: dict[int, dict[str, float]] = {}
    trials: dict[str, list[int]] = {}
    for run in runs:
        if run.problem != name:
            continue
        k, _, best = run.view("resource")
        label = combination(run)
        by_seed.setdefault(run.seed, {})[label] = math.inf if run.error else best
        trials.setdefault(label, []).append(k)
    ranks: dict[str, list[float]] = {}
    for values in by_seed.values():
        labels = list(values)
        for label, rank in zip(labels, _ranks([values[label] for label in labels])):
            ranks.setdefault(label, []).append(float(rank))
    out = {}
    for label in sorted(ranks, key=lambda lb: float(np.mean(ranks[lb]))):
        bests = [v[label] for v in by_seed.values() if label in v]
        p25, median, p75 = np.percentile(bests, [25, 50, 75])
        out[label] = Standing(float(median), float(p25), float(p75),
                              float(np.median(trials[label])), float(np.mean(ranks[label])),
                              len(bests))
    return out


def compare(runs: Sequence[Run], problems: Sequence[str], budget_fraction: float) -> bool:
    """Prints, per problem, every combination at equal resource ranked by mean rank, then
    the issue-19 verdicts: pipetune's default sampler (AutoSampler) with each pruner beats
    Optuna's best combination (a lower mean rank), and pipetune's Hyperband is at least as
    good as Optuna's with the same sampler (a mean rank no higher). True when all pass."""
    share = f"{100 * budget_fraction:.3g}%"
    verdicts: dict[str, list[tuple[str, bool, str]]] = {}
    for name in problems:
        rows_of = standings(runs, name)
        if not rows_of:
            continue
        problem = CURVE_PROBLEMS[name]
        optimum = "unknown" if problem.optimum is None else f"{problem.optimum:.4g}"
        n_seeds = len({r.seed for r in runs if r.problem == name})
        print(f"\n## {name}, every combination at equal resource ({share} of no pruning's): "
              f"best final value, median [25th-75th percentile] over {n_seeds} seeds; mean "
              f"rank among the combinations of each seed (1 = best); optimum {optimum}")
        print(table(["library-sampler-pruner", "trials", "best final", "mean rank"],
                    [[label, _fmt(st.trials, "g"),
                      f"{_fmt(st.best)} [{_fmt(st.best_p25)}-{_fmt(st.best_p75)}]",
                      f"{st.mean_rank:.2f}"] for label, st in rows_of.items()]))
        theirs = [label for label in rows_of if label.startswith("optuna-")]
        if theirs:
            best_theirs = min(theirs, key=lambda lb: rows_of[lb].mean_rank)
            other = rows_of[best_theirs]
            for kind in KINDS[1:]:
                st = rows_of.get(f"pipetune-auto-{kind}")
                if st is None:
                    continue
                tie = " (a tie)" if st.mean_rank == other.mean_rank else ""
                verdicts.setdefault(f"pipetune AutoSampler + {kind} beats Optuna's best "
                                    "combination", []).append((
                    name, st.mean_rank < other.mean_rank,
                    f"mean rank {st.mean_rank:.2f} vs {other.mean_rank:.2f}{tie} "
                    f"({best_theirs}); median best {_fmt(st.best)} vs {_fmt(other.best)}"))
        for sampler in SAMPLER_CHOICES:
            ours = rows_of.get(f"pipetune-{sampler}-hyperband")
            peer = rows_of.get(f"optuna-{sampler}-hyperband")
            if ours is None or peer is None:
                continue
            verdicts.setdefault(f"pipetune's Hyperband at least as good as Optuna's "
                                f"(sampler {sampler})", []).append((
                name, ours.mean_rank <= peer.mean_rank,
                f"mean rank {ours.mean_rank:.2f} vs {peer.mean_rank:.2f}; median best "
                f"{_fmt(ours.best)} vs {_fmt(peer.best)}"))
    if not verdicts:
        return True
    print("\n## issue 19's targets at equal resource, by mean rank (per problem, then how "
          "many problems hold)")
    passed = True
    for target, lines in verdicts.items():
        for name, ok, detail in lines:
            print(f"[{'PASS' if ok else 'FAIL'}] {name}: {target}: {detail}")
        held = sum(ok for _, ok, _ in lines)
        meets = 4 * held >= 3 * len(lines)
        passed &= meets
        print(f"  -> {held}/{len(lines)} problems ({'meets' if meets else 'misses'} the 3/4 "
              "target)")
    return passed


def report_all(runs: Sequence[Run], problems: Sequence[str], methods: Sequence[str],
               samplers: Sequence[str], budget_fraction: float) -> bool:
    """``report`` per sampler, then, with several samplers, ``compare`` over all of them."""
    if len(samplers) == 1:
        return report(runs, problems, methods, budget_fraction)
    passed = True
    for sampler in samplers:
        print(f"\n# --sampler {sampler}")
        passed &= report([r for r in runs if r.sampler == sampler], problems, methods,
                         budget_fraction)
    print("\n# every sampler and pruner")
    return compare(runs, problems, budget_fraction) and passed


# -- the command --------------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Resource spent and best final value of pipetune's pruners against no "
                    "pruning and Optuna's pruners, on learning-curve problems.")
    parser.add_argument("--seeds", type=int, default=5, help="seeds 0..N-1 per problem")
    parser.add_argument("--trials", type=int, default=None,
                        help="trials per run (default: each problem's own, 100)")
    parser.add_argument("--problems", default=",".join(CURVE_PROBLEMS),
                        help=f"comma-separated subset of: {', '.join(CURVE_PROBLEMS)}")
    parser.add_argument("--methods", default=",".join(
        f"{lib}-{kind}" for kind in DEFAULT_KINDS for lib in LIBRARIES),
        help=f"comma-separated subset of: {', '.join(METHODS)} (default: all but percentile "
             "and patient); each library's -nop run is always added, as the baseline")
    parser.add_argument("--only", choices=LIBRARIES, default=None,
                        help="keep only this library's methods")
    parser.add_argument("--sampler", default="same",
                        help="comma-separated, of: " + ", ".join(SAMPLER_CHOICES) + ". "
                             "random: each library's RandomSampler(seed), so every method of "
                             "a library draws the same params in the same order; same: one "
                             "random stream per seed enqueued on both libraries, so pipetune's "
                             "and Optuna's methods see the same params too; tpe, gp, cmaes: "
                             "each library's TPESampler(seed) (GPSampler, CmaEsSampler); auto: "
                             "pipetune's AutoSampler(seed), pipetune's methods only. Several "
                             "add a table of every combination with mean ranks")
    parser.add_argument("--budget", type=float, default=1 / 3,
                        help="the equal-resource table's budget, a fraction of no pruning's "
                             "resource (default 1/3)")
    parser.add_argument("--max-trials-factor", type=int, default=10,
                        help="a run stops at this many times --trials even if the budget is "
                             "not spent")
    parser.add_argument("--jobs", type=int, default=1, choices=(1, 2),
                        help="worker processes, each running one (problem, seed) at a time")
    parser.add_argument("--json", default=None, help="write the raw runs to this file")
    parser.add_argument("--report-only", default=None, metavar="JSON",
                        help="print the tables of a file written by --json; runs nothing")
    add_exit_flag(parser)
    args = parser.parse_args(argv)
    args.samplers = parse_names(args.sampler, SAMPLER_CHOICES, "sampler")
    if args.seeds < 1 or (args.trials is not None and args.trials < 1):
        parser.error("--seeds and --trials must be >= 1.")
    if not 0 < args.budget <= 1 or args.max_trials_factor < 1:
        parser.error("--budget must be in (0, 1] and --max-trials-factor >= 1.")
    return args


def _methods(args: argparse.Namespace) -> list[str]:
    chosen = set(parse_names(args.methods, METHODS, "methods"))
    if args.only:
        chosen = {m for m in chosen if m.startswith(args.only + "-")}
    chosen |= {f"{m.split('-', 1)[0]}-nop" for m in chosen}
    if not chosen:
        raise SystemExit(f"--methods and --only {args.only} leave no method to run.")
    return [m for m in METHODS if m in chosen]  # nop first, then by kind


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.report_only:
        saved = json.loads(Path(args.report_only).read_text())
        config = saved["config"]
        samplers = config["sampler"].split(",")
        print(f"# early-stopping benchmark, from {args.report_only}: {config['seeds']} seeds, "
              f"sampler {config['sampler']}, {config['elapsed_s']:.0f} s; "
              + ", ".join(f"{k} {v}" for k, v in config["installed"].items()))
        saved_runs = [Run(**{"sampler": samplers[0], **r}) for r in saved["runs"]]
        ok = report_all(saved_runs, config["problems"], config["methods"], samplers,
                        config["budget"])
        return exit_status(ok, args)
    problems = parse_names(args.problems, list(CURVE_PROBLEMS), "problems")
    methods = _methods(args)
    libraries = [lib for lib in LIBRARIES if any(m.startswith(lib + "-") for m in methods)]
    tasks = []
    for sampler in args.samplers:
        # With the same params on both sides one task runs both libraries (one memo, curves
        # trained once); otherwise each library gets its own task (its own params).
        groups = ([methods] if sampler == "same" else
                  [[m for m in methods if m.startswith(lib + "-")] for lib in libraries
                   if sampler != "auto" or lib == "pipetune"])
        for name in problems:
            n_trials = args.trials or CURVE_PROBLEMS[name].n_trials
            for seed in range(args.seeds):
                for group in groups:
                    tasks.append(Task(name, seed, tuple(group), n_trials, args.budget,
                                      n_trials * args.max_trials_factor, sampler))
    # Real training first, so the last tasks to finish are short and both workers stay busy.
    tasks.sort(key=lambda t: CURVE_PROBLEMS[t.problem].optimum is not None)
    installed = versions()
    print(f"# early-stopping benchmark: {len(problems)} problems x {len(methods)} methods x "
          f"{args.seeds} seeds, sampler {','.join(args.samplers)}, {args.jobs} job(s); "
          + ", ".join(f"{k} {v}" for k, v in installed.items()))
    prepare_process()
    start = time.perf_counter()
    runs: list[Run] = []
    pool = multiprocessing.get_context("spawn").Pool(args.jobs) if args.jobs > 1 else None
    try:
        results = pool.imap_unordered(run_task, tasks) if pool else map(run_task, tasks)
        for i, group in enumerate(results, 1):
            runs.extend(group)
            print(f"[{i}/{len(tasks)}] {group[0].problem} seed {group[0].seed} "
                  f"({group[0].sampler}): " + ", ".join(
                      f"{r.method} {'CRASHED' if r.error else len(r.steps)}" for r in group)
                  + f" ({sum(r.wall_s for r in group):.1f} s)", file=sys.stderr, flush=True)
    finally:
        if pool:
            pool.close()
            pool.join()
    elapsed = time.perf_counter() - start
    runs.sort(key=lambda r: (problems.index(r.problem), args.samplers.index(r.sampler),
                             methods.index(r.method), r.seed))
    if args.json:
        config = {"problems": problems, "methods": methods, "seeds": args.seeds,
                  "trials": args.trials, "sampler": ",".join(args.samplers),
                  "budget": args.budget,
                  "max_trials_factor": args.max_trials_factor, "jobs": args.jobs,
                  "installed": installed, "elapsed_s": elapsed}
        Path(args.json).write_text(json.dumps(
            {"config": config, "runs": [asdict(r) for r in runs]}, indent=1))
    ok = report_all(runs, problems, methods, args.samplers, args.budget)
    print(f"\ntotal wall time {elapsed:.1f} s")
    return exit_status(ok, args)


if __name__ == "__main__":
    sys.exit(main())
