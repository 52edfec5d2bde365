"""Shared parts of the benchmarks: one search space, one cheap objective, and an adapter per
library that runs a study and reports when each trial ended.

The space is written once as data (``SPACE``) so every library sees exactly the same domains;
libraries with Optuna's define-by-run API share ``suggest_all``, and one with a declarative
space (Hyperopt) translates ``SPACE`` in its own adapter. Samplers are chosen by name from
``SAMPLERS``: adding a sampler to the comparison is one entry there.
"""

from __future__ import annotations

import argparse
import logging
import math
import platform
import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

# -- the search space and objective ---------------------------------------------------------------


@dataclass(frozen=True)
class Param:
    """One hyperparameter of the benchmark space: a float or int range (log or linear) or a
    list of categorical choices."""

    name: str
    kind: str  # "float" | "int" | "categorical"
    low: float = 0.0
    high: float = 0.0
    log: bool = False
    choices: tuple[Any, ...] = ()

    def __post_init__(self) -> None:
        if self.kind not in ("float", "int", "categorical"):
            raise ValueError(f"Param {self.name!r}: kind must be float, int or categorical. "
                             f"Got {self.kind!r}.")
        if self.kind == "categorical" and not self.choices:
            raise ValueError(f"Param {self.name!r}: a categorical param needs choices.")


# A small mixed space like a neural-network config: 2 floats (one log), 2 ints (one log),
# 2 categoricals.
SPACE: tuple[Param, ...] = (
    Param("lr", "float", 1e-5, 1e-1, log=True),
    Param("dropout", "float", 0.0, 0.5),
    Param("layers", "int", 1, 8),
    Param("units", "int", 16, 1024, log=True),
    Param("optimizer", "categorical", choices=("adam", "sgd", "rmsprop")),
    Param("activation", "categorical", choices=("relu", "tanh")),
)

_OPTIMIZER_PENALTY = {"adam": 0.0, "sgd": 0.3, "rmsprop": 0.1}


def score(params: Mapping[str, Any]) -> float:
    """A cheap stand-in for a validation loss, so the benchmark measures the library, not the
    objective. Minimised near lr=1e-3, dropout=0.2, 4 layers, adam, relu."""
    return ((math.log10(params["lr"]) + 3.0) ** 2
            + (params["dropout"] - 0.2) ** 2
            + 0.1 * abs(params["layers"] - 4)
            + 0.01 * math.log2(params["units"])
            + _OPTIMIZER_PENALTY[params["optimizer"]]
            + (0.05 if params["activation"] == "tanh" else 0.0))


def suggest_all(trial: Any, space: tuple[Param, ...] = SPACE) -> dict[str, Any]:
    """Asks a define-by-run trial (pipetune's or Optuna's, same method names) for every param."""
    params: dict[str, Any] = {}
    for p in space:
        if p.kind == "float":
            params[p.name] = trial.suggest_float(p.name, p.low, p.high, log=p.log)
        elif p.kind == "int":
            params[p.name] = trial.suggest_int(p.name, int(p.low), int(p.high), log=p.log)
        else:
            params[p.name] = trial.suggest_categorical(p.name, list(p.choices))
    return params


def define_by_run_objective(trial: Any) -> float:
    return score(suggest_all(trial))


# -- samplers ---------------------------------------------------------------------------------

# sampler name -> library name -> factory(seed) building that library's sampler. A library
# missing from an entry is skipped for that sampler. Factories import lazily, so a library
# that is not installed only matters when it is asked for.
SamplerFactory = Callable[[int], Any]


def _pipetune_random(seed: int) -> Any:
    import pipetune

    return pipetune.samplers.RandomSampler(seed=seed)


def _optuna_random(seed: int) -> Any:
    import optuna

    return optuna.samplers.RandomSampler(seed=seed)


def _pipetune_tpe(seed: int) -> Any:
    import pipetune

    return pipetune.samplers.TPESampler(seed=seed)


def _optuna_tpe(seed: int) -> Any:
    import optuna

    return optuna.samplers.TPESampler(seed=seed)  # Optuna 5: multivariate + constant liar


def _optuna_tpe_univariate(seed: int) -> Any:
    import optuna

    return optuna.samplers.TPESampler(seed=seed, multivariate=False)  # Optuna 4's default


def _pipetune_gp(seed: int) -> Any:
    import pipetune

    return pipetune.samplers.GPSampler(seed=seed)


def _optuna_gp(seed: int) -> Any:
    import optuna

    return optuna.samplers.GPSampler(seed=seed)  # needs torch


def _pipetune_cmaes(seed: int) -> Any:
    import pipetune

    return pipetune.samplers.CmaEsSampler(seed=seed)


def _optuna_cmaes(seed: int) -> Any:
    import optuna

    return optuna.samplers.CmaEsSampler(seed=seed)  # needs cmaes


SAMPLERS: dict[str, dict[str, SamplerFactory]] = {
    "random": {"pipetune": _pipetune_random, "optuna": _optuna_random},
    "tpe": {"pipetune": _pipetune_tpe, "optuna": _optuna_tpe},
    "tpe-univariate": {"pipetune": _pipetune_tpe, "optuna": _optuna_tpe_univariate},
    "gp": {"pipetune": _pipetune_gp, "optuna": _optuna_gp},
    "cmaes": {"pipetune": _pipetune_cmaes, "optuna": _optuna_cmaes},
    # TODO(hyperopt): add "hyperopt": factory returning hyperopt.rand.suggest / tpe.suggest,
    # with a Library entry below whose run() calls fmin over a translation of SPACE.
}


def sampler_available(sampler: str, library: str) -> str | None:
    """None when ``library`` can run ``sampler``, else the reason it cannot."""
    if library not in SAMPLERS.get(sampler, {}):
        return f"{library} has no {sampler!r} sampler in benchmarks/_common.py SAMPLERS"
    return None


# -- libraries --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Library:
    """How to run one library's study and time it.

    ``run(storage, sampler, n_trials)`` runs ``n_trials`` trials of the benchmark objective in
    a fresh study and returns ``perf_counter()`` at the start followed by the moment each
    trial's objective ended (``timed_optimize``), so any window of trials can be timed from one
    run. ``storage(directory, durability)`` is the library's SQLite storage in ``directory`` at
    that durability (see ``DURABILITY``), as its ``create_study`` takes it.
    """

    name: str
    version: Callable[[], str]
    storage: Callable[[str, str], Any]
    run: Callable[[Any, Any, int], list[float]]
    storages: tuple[str, ...] = field(default=("memory", "sqlite"))


def quiet_logging() -> None:
    """Silences per-trial log lines of every library, which would dominate the timings."""
    logging.getLogger("pipetune").setLevel(logging.WARNING)
    try:
        import optuna
    except ImportError:
        return
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)


def timed_optimize(study: Any, n_trials: int) -> list[float]:
    """Runs ``study.optimize`` (pipetune's or Optuna's) on the benchmark objective and returns
    ``perf_counter()`` before it followed by the moment each trial's objective ended.

    The stamps are taken inside the objective, not by an ``optimize`` callback: Optuna copies
    the finished trial for each callback, a cost pipetune does not have, so a timing callback
    would weigh on one library only. Between two stamps lies one whole trial cycle (the
    previous trial's tell, this trial's ask, suggestions and objective), the same for both.
    """
    stamps = [time.perf_counter()]

    def objective(trial: Any) -> float:
        value = score(suggest_all(trial))
        stamps.append(time.perf_counter())
        return value

    study.optimize(objective, n_trials=n_trials)
    return stamps


def _run_pipetune(storage: Any, sampler: Any, n_trials: int) -> list[float]:
    import pipetune

    study = pipetune.create_study(storage=storage, sampler=sampler, study_name="bench",
                                  direction="minimize")
    return timed_optimize(study, n_trials)


def _run_optuna(storage: Any, sampler: Any, n_trials: int) -> list[float]:
    import optuna

    study = optuna.create_study(storage=storage, sampler=sampler, study_name="bench",
                                direction="minimize")
    return timed_optimize(study, n_trials)


# -- durability: every library's SQL storage measured at the same settings --------------------

# ``default``: as the library ships. ``relaxed``: commits return before they reach the disk
# (SQLite in WAL mode with synchronous=NORMAL, PostgreSQL with synchronous_commit=off):
# pipetune's default on SQLite. ``full``: every commit waits for the disk (SQLite in WAL mode
# with synchronous=FULL, PostgreSQL with synchronous_commit=on): pipetune's default on
# PostgreSQL, and Optuna's default guarantee.
DURABILITY = ("default", "relaxed", "full")

# The rows a benchmark on a SQL storage reports: (name, pipetune's durability, the other
# library's). ``shipped`` compares the defaults, which on SQLite are NOT equal: pipetune's
# commits do not wait for the disk there, Optuna's (and MLflow's) do; on PostgreSQL both wait.
# ``relaxed`` and ``full`` are like with like.
DURABILITY_ROWS = (
    ("shipped", "default", "default"),
    ("relaxed", "relaxed", "relaxed"),
    ("full", "full", "full"),
)


def pipetune_storage_url(url: str, durability: str) -> str:
    """``url`` asking pipetune for ``durability`` through the ``?durability=`` option of its
    SQL storage URLs; ``default`` leaves the URL as a user writes it."""
    return url if durability == "default" else f"{url}?durability={durability}"


def optuna_rdb_storage(url: str, durability: str) -> Any:
    """Optuna's ``RDBStorage`` on ``url`` at ``durability`` (see ``DURABILITY``). Optuna's
    default is full durability (SQLite's rollback journal with a sync at each commit,
    PostgreSQL's default ``synchronous_commit=on``)."""
    import optuna

    storage = optuna.storages.RDBStorage(url)
    set_durability(storage.engine, durability)
    return storage


def set_durability(engine: Any, durability: str) -> None:
    """Gives every connection a peer's SQLAlchemy ``engine`` opens from now on the settings of
    ``durability`` (see ``DURABILITY``; ``default`` changes nothing), through a connect hook:
    pipetune's SQLite settings (WAL, synchronous=NORMAL or FULL) or PostgreSQL's
    synchronous_commit (off or on)."""
    from sqlalchemy import event

    if durability not in DURABILITY:
        raise ValueError(f"durability must be one of {DURABILITY}. Got {durability!r}.")
    if durability == "default":
        return
    relaxed = durability == "relaxed"
    settings = (("PRAGMA journal_mode = WAL",
                 f"PRAGMA synchronous = {'NORMAL' if relaxed else 'FULL'}")
                if engine.dialect.name == "sqlite"
                else (f"SET synchronous_commit TO {'OFF' if relaxed else 'ON'}",))

    @event.listens_for(engine, "connect")
    def _settings(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        for setting in settings:
            cursor.execute(setting)
        cursor.close()
        dbapi_connection.commit()  # PostgreSQL: the SET began a transaction

    engine.dispose()  # the connections opened so far (creating the tables) had no hook


def _version(module: str) -> Callable[[], str]:
    def get() -> str:
        from importlib.metadata import PackageNotFoundError, version

        try:
            return version(module)
        except PackageNotFoundError:
            return "not installed"

    return get


LIBRARIES: dict[str, Library] = {
    "pipetune": Library(
        "pipetune", _version("pipetune"),
        lambda d, durability: pipetune_storage_url(f"sqlite:///{d}/pipetune.db", durability),
        _run_pipetune),
    "optuna": Library(
        "optuna", _version("optuna"),
        lambda d, durability: optuna_rdb_storage(f"sqlite:///{d}/optuna.db", durability),
        _run_optuna),
}

# -- shared by the benchmark scripts' reports and command lines ----------------------------------


def table(header: Sequence[Any], rows: Sequence[Sequence[Any]]) -> str:
    widths = [max(len(str(c)) for c in col) for col in zip(header, *rows)]
    lines = ["  ".join(str(c).ljust(w) if i == 0 else str(c).rjust(w)
                       for i, (c, w) in enumerate(zip(row, widths)))
             for row in (header, *rows)]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def versions(packages: Sequence[str] = ("pipetune", "optuna", "hyperopt", "scikit-learn", "numpy")
             ) -> dict[str, str]:
    """Versions of Python and the given packages, for the header of a report."""
    from importlib.metadata import PackageNotFoundError, version

    out = {"python": platform.python_version()}
    for package in packages:
        try:
            out[package] = version(package)
        except PackageNotFoundError:
            out[package] = "not installed"
    return out


def add_exit_flag(parser: argparse.ArgumentParser) -> None:
    """``--exit-zero``: a benchmark exits 1 when a target it prints fails, unless told to exit
    0 anyway (a run that errors exits non-zero either way)."""
    parser.add_argument("--exit-zero", action="store_true",
                        help="exit 0 even when a target fails (the default exits 1 then)")


def exit_status(targets_hold: bool, args: argparse.Namespace) -> int:
    """The exit status of a benchmark whose targets hold or not (see ``add_exit_flag``)."""
    return 0 if targets_hold or args.exit_zero else 1


def parse_names(text: str, known: Sequence[str] | Mapping[str, Any], what: str) -> list[str]:
    names = [n.strip() for n in text.split(",") if n.strip()]
    unknown = [n for n in names if n not in known]
    if unknown or not names:
        raise SystemExit(f"--{what}: unknown {unknown or 'empty list'}; choose from "
                         f"{', '.join(known)}.")
    return names
