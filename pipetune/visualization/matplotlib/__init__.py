"""The figures of ``pipetune.visualization`` drawn with matplotlib, for users without plotly:
the same ``plot_<kind>(study, ...)`` functions and arguments, each returning matplotlib
``Axes`` (an array of them for a grid of panels), computed from the same data as the plotly
figures. ``pip install 'pipetune[plot]'`` installs matplotlib; ``plt.show()`` shows a figure,
``axes.figure.savefig(path)`` saves it.
"""

from __future__ import annotations

import importlib
import importlib.util
from typing import Any

# plot kind -> the module drawing it
_MODULES = {
    "optimization_history": "history",
    "edf": "history",
    "hypervolume_history": "history",
    "param_importances": "params",
    "parallel_coordinate": "params",
    "contour": "params",
    "slice": "params",
    "rank": "params",
    "intermediate_values": "trials",
    "pareto_front": "trials",
    "timeline": "trials",
}

__all__ = [
    "is_available",
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
    """Whether matplotlib, which draws these figures, is installed."""
    return importlib.util.find_spec("matplotlib") is not None


def __getattr__(name: str) -> Any:
    """``plot_<kind>``, imported from its module on first use."""
    kind = name.removeprefix("plot_")
    if name.startswith("plot_") and kind in _MODULES:
        function = getattr(importlib.import_module(f"{__name__}.{_MODULES[kind]}"), name)
        globals()[name] = function
        return function
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
