"""``pipetune.visualization.matplotlib``: every figure on every kind of study, returning
matplotlib axes drawn from the same data as the plotly figures; and the hypervolume history."""

from __future__ import annotations

from collections.abc import Iterator

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import pytest
from matplotlib.axes import Axes

import pipetune
from pipetune import TrialState
from pipetune.errors import InvalidArgumentError
from pipetune.visualization import matplotlib as mpl_plots
from pipetune.visualization.hypervolume_history import hypervolume_history

matplotlib.use("Agg")  # draw without a display

STUDIES = ["empty_study", "single_trial_study", "conditional_study", "multi_objective_study"]
KINDS = [name.removeprefix("plot_") for name in mpl_plots.__all__ if name.startswith("plot_")]


@pytest.fixture(autouse=True)
def close_figures() -> Iterator[None]:
    yield
    plt.close("all")


def _axes_of(result: object) -> list[Axes]:
    if isinstance(result, np.ndarray):
        return list(result.ravel())
    assert isinstance(result, Axes)
    return [result]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("study_fixture", STUDIES)
def test_every_figure_draws_on_every_study(kind: str, study_fixture: str,
                                           request: pytest.FixtureRequest) -> None:
    study = request.getfixturevalue(study_fixture)
    plot = getattr(mpl_plots, f"plot_{kind}")
    multi = len(study.directions) > 1
    if kind == "pareto_front" and not multi:
        with pytest.raises(InvalidArgumentError, match="2 or 3 objectives"):
            plot(study)
        return
    if kind == "hypervolume_history":
        if not multi:
            with pytest.raises(InvalidArgumentError, match="two or more objectives"):
                plot(study, reference_point=[10.0])
            return
        result = plot(study, reference_point=[10.0, -10.0])
    else:
        result = plot(study)
    for axes in _axes_of(result):
        axes.figure.canvas.draw()  # renders: every artist is valid


def test_history_draws_each_complete_trial_and_the_best_so_far(
        conditional_study: pipetune.Study) -> None:
    axes = mpl_plots.plot_optimization_history(conditional_study)
    complete = [t for t in conditional_study.trials if t.state == TrialState.COMPLETE]
    (points,) = axes.collections
    assert points.get_offsets()[:, 0].tolist() == [t.number for t in complete]
    best = axes.get_lines()[0].get_ydata()
    assert best[-1] == min(t.value for t in complete)
    assert axes.get_xlabel() == "Trial" and axes.get_ylabel() == "Objective Value"


def test_history_of_several_studies_with_error_bar_is_the_mean_best(
        conditional_study: pipetune.Study, single_trial_study: pipetune.Study) -> None:
    axes = mpl_plots.plot_optimization_history([conditional_study, single_trial_study],
                                               error_bar=True)
    assert [line.get_label() for line in axes.get_lines()] == ["Mean best value"]


def test_slice_has_a_panel_per_param_scaled_by_kind(conditional_study: pipetune.Study) -> None:
    panels = mpl_plots.plot_slice(conditional_study, params=["lr", "optimizer", "n_layers"])
    assert [p.get_xlabel() for p in panels] == ["lr", "optimizer", "n_layers"]
    assert panels[0].get_xscale() == "log"
    assert [t.get_text() for t in panels[1].get_xticklabels()] == ["adam", "sgd"]
    one = mpl_plots.plot_slice(conditional_study, params=["lr"])
    assert isinstance(one, Axes) and one.get_ylabel() == "Objective Value"


def test_contour_is_one_panel_for_two_params_and_a_grid_for_more(
        conditional_study: pipetune.Study) -> None:
    axes = mpl_plots.plot_contour(conditional_study, params=["lr", "n_layers"])
    assert isinstance(axes, Axes) and axes.get_xscale() == "log"
    grid = mpl_plots.plot_contour(conditional_study, params=["lr", "n_layers", "optimizer"])
    assert grid.shape == (3, 3) and not grid[1, 1].axison
    one = mpl_plots.plot_contour(conditional_study, params=["lr"])
    assert "two or more params" in one.texts[0].get_text() and not one.collections


def test_contour_and_slice_draw_infeasible_trials_grey(new_study) -> None:
    study = new_study()
    space = {"x": pipetune.FloatDistribution(0, 1), "y": pipetune.FloatDistribution(0, 1)}
    for i, violation in enumerate([-1.0, 1.0, 0.0, 2.0]):  # <= 0: the constraint holds
        study.add_trial(pipetune.create_trial(
            value=float(i), params={"x": i / 4, "y": 1 - i / 4}, distributions=space,
            constraints={"c": violation}))
    for axes, names in ((mpl_plots.plot_contour(study, params=["x", "y"]),
                         ("Feasible Trial", "Infeasible Trial")),
                        (mpl_plots.plot_slice(study, params=["x"]), ("x", "x (infeasible)"))):
        dots = {c.get_label(): c for c in axes.collections}
        assert [p[0] for p in dots[names[0]].get_offsets()] == [0.0, 0.5]
        assert [p[0] for p in dots[names[1]].get_offsets()] == [0.25, 0.75]


def test_rank_colours_the_best_trial_zero(conditional_study: pipetune.Study) -> None:
    axes = mpl_plots.plot_rank(conditional_study, params=["lr"])
    (points,) = axes.collections
    complete = [t for t in conditional_study.trials if t.state == TrialState.COMPLETE]
    best = int(np.argmin([t.value for t in complete]))
    assert points.get_array()[best] == 0.0


def test_parallel_coordinate_draws_a_line_per_trial(conditional_study: pipetune.Study) -> None:
    axes = mpl_plots.plot_parallel_coordinate(conditional_study)
    (lines,) = axes.collections
    complete = [t for t in conditional_study.trials if t.state == TrialState.COMPLETE]
    assert len(lines.get_segments()) == len(complete)
    assert [t.get_text() for t in axes.get_xticklabels()][0] == "Objective Value"


def test_importances_rank_the_most_important_on_top(conditional_study: pipetune.Study) -> None:
    axes = mpl_plots.plot_param_importances(conditional_study)
    importances = pipetune.importance.get_param_importances(conditional_study)
    assert [t.get_text() for t in axes.get_yticklabels()][::-1] == list(importances)


def test_intermediate_values_mark_where_pruned_trials_stopped(
        conditional_study: pipetune.Study) -> None:
    axes = mpl_plots.plot_intermediate_values(conditional_study)
    crosses = [line for line in axes.get_lines() if line.get_marker() == "x"]
    pruned = [t for t in conditional_study.trials if t.state == TrialState.PRUNED]
    assert len(crosses) == len(pruned)
    assert {text.get_text() for text in axes.get_legend().get_texts()} == {
        "Complete", "Pruned"}


def test_timeline_draws_the_recent_trials_on_their_workers_rows(
        conditional_study: pipetune.Study) -> None:
    axes = mpl_plots.plot_timeline(conditional_study, n_recent_trials=5)
    assert sum(len(container) for container in axes.containers) == 5
    assert [t.get_text() for t in axes.get_yticklabels()] == ["w1", "w2"]
    with pytest.raises(InvalidArgumentError, match="n_recent_trials"):
        mpl_plots.plot_timeline(conditional_study, n_recent_trials=0)


def test_pareto_front_of_three_objectives_is_3d(three_objective_study: pipetune.Study) -> None:
    axes = mpl_plots.plot_pareto_front(three_objective_study)
    assert axes.name == "3d"
    assert {text.get_text() for text in axes.get_legend().get_texts()} == {
        "Trials", "Best Trials"}


def test_hypervolume_history_grows_with_each_better_trade_off(new_study, add_trial) -> None:
    study = new_study(directions=["minimize", "maximize"])
    for values in [(2.0, 1.0), (1.0, 2.0), (3.0, 0.5), (0.5, 0.5), (5.0, 9.0)]:
        add_trial(study, {}, values)
    add_trial(study, {}, None, TrialState.FAIL)
    history = hypervolume_history(study, reference_point=[4.0, 0.0])
    # In minimized form: the reference (4, 0), the points (2, -1), (1, -2) (which dominates
    # it), (3, -0.5) (dominated), (0.5, -0.5) (adds a 0.5 x 0.5 corner); the last, (5, -9),
    # is beyond the reference and adds nothing.
    assert history.numbers.tolist() == [0, 1, 2, 3, 4]
    assert np.allclose(history.values, [2.0, 6.0, 6.0, 6.25, 6.25])
    axes = mpl_plots.plot_hypervolume_history(study, [4.0, 0.0])
    assert axes.get_lines()[0].get_ydata().tolist() == history.values.tolist()
    figure = pipetune.visualization.plot_hypervolume_history(study, [4.0, 0.0])
    assert list(figure.data[0].y) == history.values.tolist()
    with pytest.raises(InvalidArgumentError, match="2 finite numbers"):
        hypervolume_history(study, reference_point=[1.0])


def test_infeasible_trials_leave_the_hypervolume_unchanged(new_study, add_trial) -> None:
    study = new_study(directions=["minimize", "minimize"])
    add_trial(study, {}, (1.0, 1.0))
    storage = study.run_interface.storage
    trial = storage.claim_trial(study.run_interface.study_id)
    storage.set_trial_attr(trial.trial_id, "constraints", [0.5], system=True)
    storage.finish_trial(trial.trial_id, TrialState.COMPLETE, [0.0, 0.0])
    assert hypervolume_history(study, [2.0, 2.0]).values.tolist() == [1.0, 1.0]


def test_availability_is_reported_for_both_backends() -> None:
    assert mpl_plots.is_available() is True
    assert pipetune.visualization.is_available() is True
