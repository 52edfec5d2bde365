"""Every plot kind on every kind of study, and what each figure shows a user."""

from __future__ import annotations

import sys

import numpy as np
import plotly.graph_objects as go
import pytest

import pipetune
from pipetune import FloatDistribution, TrialState
from pipetune.errors import InvalidArgumentError, MissingDependencyError
from pipetune.visualization import (
    PLOTS,
    plot_contour,
    plot_edf,
    plot_intermediate_values,
    plot_optimization_history,
    plot_parallel_coordinate,
    plot_param_importances,
    plot_pareto_front,
    plot_rank,
    plot_slice,
    plot_timeline,
)
from pipetune.visualization.rank import rank_fraction

LR = FloatDistribution(1e-4, 1e-1, log=True)

STUDIES = ["empty_study", "single_trial_study", "conditional_study", "multi_objective_study",
           "large_study"]
SINGLE_OBJECTIVE_ONLY = {"pareto_front"}  # needs 2 or 3 objectives


# The (plot, study) pairs where the study's own setup leaves the plot nothing to draw, and
# what its note says instead; every other pair must draw data.
_EMPTY_STUDY_NOTES = {"param_importances": "at least 2 COMPLETE trials",
                      "intermediate_values": "No trial has reported intermediate values",
                      "timeline": "No trial has started yet"}
NOTHING_TO_DRAW = {
    **{(kind, "empty_study"): _EMPTY_STUDY_NOTES.get(kind, "No COMPLETE trials yet")
       for kind in PLOTS if kind not in SINGLE_OBJECTIVE_ONLY},
    ("param_importances", "single_trial_study"): "at least 2 COMPLETE trials",  # one trial
    ("intermediate_values", "multi_objective_study"): "No trial has reported",  # none reports
}


def _points(trace) -> int:
    """How many data points ``trace`` draws."""
    if trace.type == "parcoords":
        return min((len(d.values) for d in trace.dimensions), default=0)
    return len(trace.x if trace.x is not None else trace.y)


def _draws_data(figure: go.Figure) -> None:
    assert isinstance(figure, go.Figure)
    figure.to_json()  # what the dashboard sends: must serialize
    assert figure.data, [a.text for a in figure.layout.annotations]
    assert all(_points(trace) > 0 for trace in figure.data), [
        (trace.type, trace.name) for trace in figure.data if not _points(trace)]


@pytest.mark.parametrize("kind", sorted(PLOTS))
@pytest.mark.parametrize("study_fixture", STUDIES)
def test_every_plot_renders_on_every_study(kind, study_fixture, request):
    study = request.getfixturevalue(study_fixture)
    plot = PLOTS[kind]
    if kind in SINGLE_OBJECTIVE_ONLY and len(study.directions) == 1:
        with pytest.raises(InvalidArgumentError, match="2 or 3 objectives"):
            plot(study)
        return
    figure = plot(study)
    note = NOTHING_TO_DRAW.get((kind, study_fixture))
    if note is None:
        _draws_data(figure)
    else:
        figure.to_json()
        assert not figure.data and note in figure.layout.annotations[0].text


def test_ten_thousand_trials_are_drawn_with_webgl(large_study):
    for plot in (plot_optimization_history, plot_slice, plot_rank, plot_intermediate_values):
        figure = plot(large_study)
        points = [t for t in figure.data if t.type in ("scatter", "scattergl")]
        assert any(t.type == "scattergl" for t in points), plot.__name__
    history = plot_optimization_history(large_study)
    assert len(history.data[0].x) == 9_000  # every COMPLETE trial is drawn, none dropped


# -- optimization history and EDF ---------------------------------------------------------------

def test_history_draws_every_complete_trial_and_the_best_so_far(conditional_study):
    figure = plot_optimization_history(conditional_study)
    values, best = figure.data[0], figure.data[1]
    complete = conditional_study.get_trials(states=(TrialState.COMPLETE,))
    assert list(values.x) == [t.number for t in complete]
    assert list(best.y) == list(np.minimum.accumulate([t.value for t in complete]))
    assert best.name == "Best Value"


def test_history_overlays_several_studies(conditional_study, single_trial_study):
    figure = plot_optimization_history([conditional_study, single_trial_study])
    names = {trace.name for trace in figure.data}
    assert {conditional_study.study_name, single_trial_study.study_name} <= names


def test_history_error_bar_summarizes_repeats(conditional_study, single_trial_study):
    figure = plot_optimization_history([conditional_study, single_trial_study], error_bar=True)
    assert figure.data[-1].name == "Mean best value"
    assert figure.data[-1].y[0] == pytest.approx(
        np.mean([conditional_study.trials[0].value, single_trial_study.trials[0].value]))


def test_history_of_a_maximized_study_keeps_the_maximum(new_study, add_trial):
    study = new_study(direction="maximize")
    for value in (1.0, 3.0, 2.0):
        add_trial(study, {"lr": (1e-2, LR)}, (value,))
    assert list(plot_optimization_history(study).data[1].y) == [1.0, 3.0, 3.0]


def test_custom_target_and_multi_objective_default(multi_objective_study):
    default = plot_optimization_history(multi_objective_study)
    assert default.layout.yaxis.title.text == "Objective 0"
    second = plot_optimization_history(multi_objective_study, target=lambda t: t.values[1],
                                       target_name="accuracy")
    assert second.layout.yaxis.title.text == "accuracy"
    assert list(second.data[0].y) == [t.values[1] for t in multi_objective_study.trials]
    with pytest.raises(InvalidArgumentError, match="target must be a function"):
        plot_slice(multi_objective_study, target=1)


def test_edf_reaches_one_for_each_study(conditional_study, single_trial_study):
    figure = plot_edf([conditional_study, single_trial_study])
    assert len(figure.data) == 2
    assert all(trace.y[-1] == 1.0 for trace in figure.data)
    assert list(figure.data[0].x) == sorted(figure.data[0].x)


# -- per-param plots ----------------------------------------------------------------------------

def test_slice_scales_axes_by_param_kind(conditional_study):
    figure = plot_slice(conditional_study)
    axes = {trace.name: trace.xaxis.replace("x", "xaxis") for trace in figure.data}
    layout = figure.layout
    assert layout[axes["lr"]].type == "log"
    assert list(layout[axes["optimizer"]].ticktext) == ["adam", "sgd"]
    momentum = next(t for t in figure.data if t.name == "momentum")
    n_sgd = sum(t.params.get("optimizer") == "sgd" for t in conditional_study.get_trials(
        states=(TrialState.COMPLETE,)))
    assert len(momentum.x) == n_sgd  # trials without the conditional param are left out


def test_params_choose_and_order_the_panels(conditional_study):
    figure = plot_slice(conditional_study, params=["n_layers", "lr"])
    assert [trace.name for trace in figure.data] == ["n_layers", "lr"]
    with pytest.raises(InvalidArgumentError, match="'dropout'.*Its params: lr, momentum"):
        plot_slice(conditional_study, params=["dropout"])


def test_parallel_coordinate_handles_log_categorical_and_absent(conditional_study):
    figure = plot_parallel_coordinate(conditional_study)
    dimensions = {d.label: d for d in figure.data[0].dimensions}
    assert list(dimensions) == ["Objective Value", "lr", "n_layers", "optimizer", "momentum"]
    lr = dimensions["lr"]  # drawn as log10, ticks labelled in lr's units inside its range
    assert list(lr.ticktext) == ["0.0003", "0.001", "0.003", "0.01", "0.03"]
    assert all(lr.range[0] <= tick <= lr.range[1] for tick in lr.tickvals)
    assert list(dimensions["optimizer"].ticktext) == ["adam", "sgd"]
    assert dimensions["momentum"].ticktext[-1] == "(absent)"
    only = plot_parallel_coordinate(conditional_study, params=["lr"])
    assert [d.label for d in only.data[0].dimensions] == ["Objective Value", "lr"]


def test_contour_of_two_params_is_one_interpolated_panel(conditional_study):
    figure = plot_contour(conditional_study, params=["lr", "n_layers"])
    contour = next(t for t in figure.data if t.type == "contour")
    assert np.nanmin(contour.z) >= min(t.value for t in conditional_study.get_trials(
        states=(TrialState.COMPLETE,))) - 1e-9  # linear interpolation never overshoots
    assert figure.layout.xaxis.type == "log" and contour.x[0] == pytest.approx(
        min(t.params["lr"] for t in conditional_study.trials
            if t.state == TrialState.COMPLETE))


def test_contour_of_more_params_is_a_grid_of_pairs(conditional_study):
    figure = plot_contour(conditional_study, params=["lr", "n_layers", "optimizer"])
    contours = [t for t in figure.data if t.type == "contour"]
    assert len(contours) == 6  # every ordered pair, diagonal left blank
    titled = {figure.layout[name].title.text for name in figure.layout
              if name.startswith(("xaxis", "yaxis")) and figure.layout[name].title.text}
    assert titled == {"lr", "n_layers", "optimizer"}  # each named once per direction


def test_contour_of_one_param_is_an_empty_figure_saying_how_to_fix_it(conditional_study):
    figure = plot_contour(conditional_study, params=["lr"])
    assert not figure.data
    assert "two or more params" in figure.layout.annotations[0].text
    assert "add another" in figure.layout.annotations[0].text


def test_contour_and_slice_draw_infeasible_trials_grey(new_study):
    study = new_study()
    space = {"x": FloatDistribution(0, 1), "y": FloatDistribution(0, 1)}
    for i, violation in enumerate([-1.0, 1.0, 0.0, 2.0]):  # <= 0: the constraint holds
        study.add_trial(pipetune.create_trial(
            value=float(i), params={"x": i / 4, "y": 1 - i / 4}, distributions=space,
            constraints={"c": violation}))
    for figure, names in ((plot_contour(study, params=["x", "y"]),
                           ("Feasible Trial", "Infeasible Trial")),
                          (plot_slice(study, params=["x"]), ("x", "x (infeasible)"))):
        dots = {t.name: t for t in figure.data if t.type == "scatter"}
        assert list(dots[names[0]].x) == [0.0, 0.5]
        infeasible = dots[names[1]]
        assert list(infeasible.x) == [0.25, 0.75] and infeasible.marker.color == "#cccccc"
        assert "(infeasible)" in infeasible.hovertemplate


def test_rank_colours_the_best_trial_zero(conditional_study):
    assert list(rank_fraction(np.array([3.0, 1.0, 2.0]), best_low=True)) == [1.0, 0.0, 0.5]
    assert list(rank_fraction(np.array([3.0, 1.0, 2.0]), best_low=False)) == [0.0, 1.0, 0.5]
    figure = plot_rank(conditional_study, params=["lr"])
    best = conditional_study.best_trial
    marker = figure.data[0].marker.color
    assert marker[list(figure.data[0].customdata).index(best.number)] == 0.0


# -- other kinds --------------------------------------------------------------------------------

def test_intermediate_values_mark_where_pruned_trials_stopped(conditional_study):
    figure = plot_intermediate_values(conditional_study)
    by_name = {trace.name: trace for trace in figure.data}
    pruned = conditional_study.get_trials(states=(TrialState.PRUNED,))
    assert list(by_name["Pruned here"].x) == [t.last_step for t in pruned]
    assert set(by_name) == {"Complete", "Pruned", "Pruned here"}


def test_pareto_front_highlights_the_best_trials(multi_objective_study, three_objective_study):
    figure = plot_pareto_front(multi_objective_study)
    best = next(t for t in figure.data if t.name == "Best Trials")
    assert sorted(best.customdata) == [t.number for t in multi_objective_study.best_trials]
    assert plot_pareto_front(three_objective_study).data[0].type == "scatter3d"
    only_best = plot_pareto_front(multi_objective_study, include_dominated_trials=False,
                                  target_names=["loss", "accuracy"])
    assert [t.name for t in only_best.data] == ["Best Trials"]
    assert only_best.layout.xaxis.title.text == "loss"
    picked = plot_pareto_front(three_objective_study,
                               targets=lambda t: (t.values[0], t.values[1]))
    assert picked.data[0].type in ("scatter", "scattergl")


def test_timeline_has_a_row_per_worker(conditional_study):
    figure = plot_timeline(conditional_study)
    workers = {y for trace in figure.data for y in trace.y}
    assert workers == {"w1", "w2"}
    assert {trace.name for trace in figure.data} == {"Complete", "Pruned", "Fail"}


def test_importance_plot_ranks_top_first_and_shows_spread(conditional_study):
    figure = plot_param_importances(conditional_study)
    bars = figure.data[0]
    assert bars.y[-1] == "lr"  # drawn bottom-up: the most important param on top
    assert len(bars.error_x.array) == len(bars.y)


def test_importance_plot_of_several_objectives_has_a_bar_per_objective(multi_objective_study):
    figure = plot_param_importances(multi_objective_study)
    assert [trace.name for trace in figure.data] == ["Objective 0", "Objective 1"]


def test_importance_plot_of_no_params_is_an_empty_figure(conditional_study):
    figure = plot_param_importances(conditional_study, params=[])
    assert not figure.data and "params=[]" in figure.layout.annotations[0].text


def test_plots_refuse_what_is_not_a_study():
    with pytest.raises(InvalidArgumentError, match="takes a pipetune Study"):
        plot_slice("my-study")


def test_log_param_whose_trials_share_one_value_still_draws(new_study, add_trial):
    study = new_study()
    for value in (1.0, 2.0, 3.0):
        add_trial(study, {"lr": (1e-2, LR), "x": (float(value), FloatDistribution(0, 5))},
                  (value,), intermediate={0: value})
    for kind, plot in PLOTS.items():
        if kind not in SINGLE_OBJECTIVE_ONLY:
            _draws_data(plot(study))


def test_reachable_from_the_top_level_package():
    assert pipetune.visualization.plot_slice is plot_slice
    assert pipetune.importance.get_param_importances is not None


def test_pareto_front_of_ten_thousand_trials(new_study, add_trial):
    study = new_study(directions=["minimize", "minimize"])
    rng = np.random.default_rng(3)
    for x in rng.uniform(0, 1, 10_000):
        add_trial(study, {"x": (float(x), FloatDistribution(0, 1))},
                  (float(x), float(1 - x ** 0.5 + rng.uniform(0, 0.5))))
    figure = plot_pareto_front(study)
    dominated, best = figure.data
    assert dominated.type == "scattergl" and len(best.x) == len(study.best_trials)
    assert sum(len(t.x) for t in figure.data) == 10_000


def test_contour_interpolation_matches_scipy_linear_griddata():
    from scipy.interpolate import griddata
    from scipy.spatial import Delaunay

    from pipetune.visualization.contour import rasterize

    rng = np.random.default_rng(4)
    points = rng.uniform(0, 1, (200, 2)) * [3.0, 50.0]
    values = np.sin(points[:, 0]) + points[:, 1] / 10
    grid_x = np.linspace(points[:, 0].min(), points[:, 0].max(), 60)
    grid_y = np.linspace(points[:, 1].min(), points[:, 1].max(), 50)
    triangles = Delaunay(points).simplices
    ours = rasterize(points[triangles], values[triangles], grid_x, grid_y)
    theirs = griddata(points, values, tuple(np.meshgrid(grid_x, grid_y)), method="linear")
    assert np.array_equal(np.isnan(ours), np.isnan(theirs))
    assert np.nanmax(np.abs(ours - theirs)) < 1e-9


def test_without_plotly_the_error_names_the_extra(empty_study, monkeypatch):
    monkeypatch.setitem(sys.modules, "plotly", None)  # as if not installed
    with pytest.raises(MissingDependencyError, match=r"pipetune\[plot\]"):
        plot_slice(empty_study)
