"""Figures of a study, each a ``plotly.graph_objects.Figure`` (``pip install 'pipetune[plot]'``).

Every ``plot_<kind>(study, ...)`` reads the study through its public API, draws something
useful for an empty study, one trial or 10,000 trials, puts log params on log axes and
categorical params on their choices, and shows ``target`` (a function of a FrozenTrial) where
given, else the objective value (the first objective of a multi-objective study, titled so).
A figure of several params (parallel coordinates, slice, contour, rank) shows the few most
important unless ``params`` names them, and its title says so.
``figure.show()`` opens it, ``figure.write_html(path)`` saves it; ``pipetune plot`` and
``pipetune report`` do both from a shell.

The plot modules (and numpy with them) are imported on first use: the command line imports
this package to list the kinds, and a listing of studies should not pay for numpy.
"""

from __future__ import annotations

import importlib
import importlib.util
from typing import Any

# plot kind (as `pipetune plot` names it), in the order a report shows them -> its module
_MODULES = {
    "optimization_history": "history",
    "param_importances": "param_importances",
    "parallel_coordinate": "parallel_coordinate",
    "contour": "contour",
    "slice": "slice",
    "rank": "rank",
    "intermediate_values": "intermediate_values",
    "edf": "history",
    "pareto_front": "pareto_front",
    "timeline": "timeline",
}
KINDS = tuple(_MODULES)
# Figures that need more than a study (a reference point), so neither `pipetune plot` nor a
# report draws them.
_MODULES_OF_OTHERS = {"hypervolume_history": "hypervolume_history"}

__all__ = [
    "KINDS",
    "PLOTS",
    "is_available",
    "matplotlib",
    "plot_contour",
    "plot_edf",
    "plot_hypervolume_history",
    "plot_intermediate_values",
    "plot_optimization_history",
    "plot_parallel_coordinate",
    "plot_param_importances",
    "plot_pareto_front",
    "plot_rank",
    "plot_slice",
    "plot_timeline",
]


def is_available() -> bool:
    """Whether plotly, which draws these figures, is installed (``pip install
    'pipetune[plot]'``); ``pipetune.visualization.matplotlib`` draws them without it."""
    return importlib.util.find_spec("plotly") is not None


def __getattr__(name: str) -> Any:
    """``plot_<kind>``, imported from its module on first use, ``PLOTS``: kind -> function,
    in ``KINDS`` order, and the ``matplotlib`` subpackage."""
    if name == "PLOTS":
        return {kind: __getattr__(f"plot_{kind}") for kind in KINDS}
    if name == "matplotlib":  # the same figures drawn with matplotlib
        return importlib.import_module(f"{__name__}.matplotlib")
    kind = name.removeprefix("plot_")
    module_name = _MODULES.get(kind) or _MODULES_OF_OTHERS.get(kind)
    if name.startswith("plot_") and module_name is not None:
        module = importlib.import_module(f"{__name__}.{module_name}")
        function = getattr(module, name)
        globals()[name] = function  # later lookups skip this function
        return function
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
