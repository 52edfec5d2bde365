"""The layers of pipetune, bottom up: the one statement of which module may import which.

A module imports only from its own layer or lower ones, never from a higher one, and no chain
of imports leads from a module back to itself. ``tests/test_layers.py`` checks every import
of every module against this table: type-only imports (under ``if TYPE_CHECKING:``) and
imports inside functions count as much as the others, and a package's ``__init__`` is a
module like any other. The order is the drawing of DESIGN.md ("Layers and data flow"); the
modules it does not name are placed by their role, with a comment.

A name covers the module of that name and, for a package, every module in it, unless a longer
name places one of them elsewhere.
"""

from __future__ import annotations

__all__ = ["LAYERS", "SEPARATE", "UNLAYERED", "layer_of"]

LAYERS: tuple[tuple[int, tuple[str, ...]], ...] = (
    (1, (
        "pipetune.errors",
        "pipetune.distributions",
        "pipetune.datatypes",
        "pipetune.base_trial",  # BaseTrial, FixedTrial: what an objective calls on any trial
        "pipetune.exceptions",  # Optuna's names of pipetune's errors
        # Small helpers below everything, importing only the three above:
        "pipetune._attrs",  # the keys of the system attributes of studies and trials
        "pipetune._best",  # the best trial and the Pareto front of a list of trials
        "pipetune._dataframe",  # trials as a pandas DataFrame (Study.trials_dataframe)
        "pipetune._formatting",  # values as table cells, durations, strict JSON
        "pipetune._hypervolume",  # the volume a Pareto front dominates
        "pipetune._imports",  # optional dependencies, named with the extra that installs them
        "pipetune._layers",  # this table
        "pipetune._numbers",  # the one "is this a number" check
        "pipetune._version",
        "pipetune.environment",  # where and how this process runs (user, host, git, packages)
        "pipetune.logging",  # pipetune's log lines
        "pipetune.reporting",  # pipetune.report, a launched script's side of pipetune tune
    )),
    (2, (
        "pipetune.view",
        "pipetune.search",
        "pipetune.search_space",  # the params finished trials share (samplers fit on it)
    )),
    (3, (
        "pipetune.samplers",
        "pipetune.pruners",
        "pipetune.storage",
    )),
    (4, (
        "pipetune.trial",
        "pipetune.execution",
        "pipetune._param_buffer",  # a trial's suggestions, written in batches
        "pipetune._recorder",  # a trial's metric points (buffered) and artifacts
        "pipetune.stopping",  # when an optimize call stops (execution/optimize.py asks)
    )),
    (5, (
        "pipetune.study",
    )),
    (6, (
        "pipetune.launch",
        "pipetune.tracking",
        "pipetune.pipeline",
        "pipetune.space",  # declared search spaces: the YAML of launch/, pipeline stages
        "pipetune._trial_table",  # trials as columns: what visualization/ and importance/ read
    )),
    (7, (
        "pipetune.visualization",
        "pipetune.importance",
        "pipetune.compat",
        "pipetune.storages",  # Optuna's storage names and constructors over storage/
        "pipetune.artifacts",  # Optuna's artifact API: files in a store, ids in system attrs
        "pipetune.terminator",  # stopping a whole study (Optuna's names) on the GP of samplers/
        "pipetune.integrations",
    )),
    (8, (
        "pipetune.server",
        "pipetune.cli",
        "pipetune.__main__",  # python -m pipetune: the command
    )),
)

# Outside the layers (DESIGN's "-"): the package's public face and the contract suites. They
# may import from every layer; nothing else in the package imports them.
UNLAYERED: tuple[str, ...] = (
    "pipetune",  # the package root alone, not its modules
    "pipetune.testing",
)

# Pairs in one layer where the first must not import the second: (importer, imported).
SEPARATE: tuple[tuple[str, str], ...] = (
    ("pipetune.samplers", "pipetune.storage"),  # algorithms see a view, never the storage
    ("pipetune.pruners", "pipetune.storage"),
    ("pipetune.importance", "pipetune.visualization"),  # plots rank params by importance
    ("pipetune.server", "pipetune.cli"),  # the command starts the server, not the reverse
)


def _covers(name: str, module: str) -> bool:
    return module == name or module.startswith(name + ".")


def layer_of(module: str) -> int | None:
    """The layer of a module of pipetune (dotted name), None when the table does not place it
    (an unlayered module, or one nobody placed)."""
    best: tuple[int, int] | None = None  # (length of the name that placed it, layer)
    for layer, names in LAYERS:
        for name in names:
            if _covers(name, module) and (best is None or len(name) > best[0]):
                best = (len(name), layer)
    return None if best is None else best[1]
