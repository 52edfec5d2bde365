"""Figures of a study, each a ``plotly.graph_objects.Figure`` (``pip install 'pipetune[plot]'``).

Every ``plot_<kind>(study, ...)`` reads the study through its public API, draws something
useful for an empty study, one trial or 10,000 trials, puts log params on log axes and
categorical params on their choices, and shows ``target`` (a function of a FrozenTrial) where
given, else the objective value (the first objective of a multi-objective study, titled so).
``figure.show()`` opens it, ``figure.write_html(path)`` saves it; ``pipetune plot`` and
``pipetune report`` do both from a shell.
"""

from pipetune.visualization.contour import plot_contour
from pipetune.visualization.history import plot_edf, plot_optimization_history
from pipetune.visualization.intermediate_values import plot_intermediate_values
from pipetune.visualization.parallel_coordinate import plot_parallel_coordinate
from pipetune.visualization.param_importances import plot_param_importances
from pipetune.visualization.pareto_front import plot_pareto_front
from pipetune.visualization.rank import plot_rank
from pipetune.visualization.slice import plot_slice
from pipetune.visualization.timeline import plot_timeline

# plot kind (as `pipetune plot` names it) -> function, in the order a report shows them
PLOTS = {
    "optimization_history": plot_optimization_history,
    "param_importances": plot_param_importances,
    "parallel_coordinate": plot_parallel_coordinate,
    "contour": plot_contour,
    "slice": plot_slice,
    "rank": plot_rank,
    "intermediate_values": plot_intermediate_values,
    "edf": plot_edf,
    "pareto_front": plot_pareto_front,
    "timeline": plot_timeline,
}

__all__ = [
    "PLOTS",
    "plot_contour",
    "plot_edf",
    "plot_intermediate_values",
    "plot_optimization_history",
    "plot_parallel_coordinate",
    "plot_param_importances",
    "plot_pareto_front",
    "plot_rank",
    "plot_slice",
    "plot_timeline",
]
