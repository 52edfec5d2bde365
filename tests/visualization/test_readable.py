"""What makes a figure readable, checked on its layout: every tick inside its axis's range,
a few params by default on a study with many (the most important ones, and the title says so),
labels that fit the space they are given, and a contour grid small enough to send."""

from __future__ import annotations

import math
import sys

import numpy as np
import pytest

from pipetune import CategoricalDistribution, FloatDistribution, IntDistribution
from pipetune.visualization import (
    PLOTS,
    plot_contour,
    plot_parallel_coordinate,
    plot_rank,
    plot_slice,
)
from pipetune.visualization._common import (
    AXIS_TITLE_SIZE,
    CHAR_WIDTH,
    DEFAULT_N_PARAMS,
    MARGIN,
    plot_width,
)

MULTI_PARAM_PLOTS = [plot_parallel_coordinate, plot_slice, plot_contour, plot_rank]
# Each kind of axis: a log float over about one decade (where powers of ten alone give one
# tick), a log int, an int, a categorical param and a float present in some trials only.
SPACE = {"lr": FloatDistribution(1e-4, 1e-1, log=True),
         "neighbors": IntDistribution(1, 50, log=True),
         "layers": IntDistribution(1, 4),
         "scaler": CategoricalDistribution(("standard", "minmax", "robust")),
         "momentum": FloatDistribution(0.0, 0.99)}
IMPORTANT = ["learning_rate", "knn_n_neighbors", "preprocessing_scaler", "n_layers"]


@pytest.fixture
def mixed_study(new_study, add_trial):
    study = new_study()
    rng = np.random.default_rng(5)
    for _ in range(40):
        params = {"lr": (float(10 ** rng.uniform(-3.5, -2.3)), SPACE["lr"]),
                  "neighbors": (int(rng.integers(1, 51)), SPACE["neighbors"]),
                  "layers": (int(rng.integers(1, 5)), SPACE["layers"]),
                  "scaler": (str(rng.choice(["standard", "minmax", "robust"])),
                             SPACE["scaler"])}
        if params["scaler"][0] == "robust":
            params["momentum"] = (float(rng.uniform(0, 0.99)), SPACE["momentum"])
        value = math.log10(params["lr"][0]) ** 2 + params["layers"][0]
        add_trial(study, params, (value,), intermediate={0: value})
    return study


def _twelve_param_study(new_study, add_trial, n_trials: int = 120):
    """Four params that drive the objective (IMPORTANT) and eight that do nothing."""
    study = new_study()
    rng = np.random.default_rng(6)
    for _ in range(n_trials):
        params = {"extra_param_0": (float(rng.uniform()), FloatDistribution(0, 1)),
                  "learning_rate": (float(10 ** rng.uniform(-4, -1)),
                                    FloatDistribution(1e-4, 1e-1, log=True)),
                  "knn_n_neighbors": (int(rng.integers(1, 51)), IntDistribution(1, 50)),
                  "preprocessing_scaler": (str(rng.choice(["standard", "minmax", "robust"])),
                                           SPACE["scaler"]),
                  "n_layers": (int(rng.integers(1, 5)), IntDistribution(1, 4))}
        params.update({f"extra_param_{i}": (float(rng.uniform()), FloatDistribution(0, 1))
                       for i in range(1, 8)})
        value = (3 * (math.log10(params["learning_rate"][0]) + 2.5) ** 2
                 + params["knn_n_neighbors"][0] / 10
                 + 2 * (params["preprocessing_scaler"][0] == "robust")
                 + 1.5 * params["n_layers"][0])
        add_trial(study, params, (value,))
    return study


@pytest.fixture
def twelve_param_study(new_study, add_trial):
    return _twelve_param_study(new_study, add_trial)


# -- ticks --------------------------------------------------------------------------------------

def _axes(figure):
    """Every axis of ``figure`` that sets its own ticks: (name, range, tick positions on the
    range's scale) for layout axes and parcoords dimensions alike."""
    found = []
    for name in figure.layout:
        axis = figure.layout[name]
        if name.startswith(("xaxis", "yaxis")) and axis.tickvals is not None:
            assert axis.range is not None, f"{name} sets ticks but no range"
            ticks = np.log10(axis.tickvals) if axis.type == "log" else np.array(axis.tickvals)
            found.append((name, axis.range, ticks))
    for trace in figure.data:
        if trace.type == "parcoords":
            for dimension in trace.dimensions:
                assert dimension.tickvals is not None, dimension.label
                found.append((dimension.label, dimension.range, np.array(dimension.tickvals)))
    return found


@pytest.mark.parametrize("kind", sorted(set(PLOTS) - {"pareto_front"}))
def test_every_axis_keeps_its_ticks_inside_its_range(kind, mixed_study):
    for name, (low, high), ticks in _axes(PLOTS[kind](mixed_study)):
        assert low <= ticks.min() and ticks.max() <= high, (name, (low, high), ticks)


@pytest.mark.parametrize("plot", MULTI_PARAM_PLOTS)
def test_log_int_and_categorical_axes_get_ticks_a_reader_can_use(plot, mixed_study):
    axes = _axes(plot(mixed_study))
    # a log, an int and a categorical param each have an axis with ticks (every panel)
    assert len(axes) >= 3
    assert all(len(ticks) >= 2 for _, _, ticks in axes), axes


def test_parallel_coordinate_labels_log_ticks_in_the_params_units(mixed_study):
    figure = plot_parallel_coordinate(mixed_study)
    dimensions = {d.label: d for d in figure.data[0].dimensions}
    # lr spans about 10^-3.5 .. 10^-2.3: one power of ten inside, so 1-2-5 steps
    assert list(dimensions["lr"].ticktext) == ["0.0005", "0.001", "0.002"]
    assert list(dimensions["neighbors"].ticktext) == ["1", "3", "10", "30"]
    assert list(dimensions["layers"].ticktext) == ["1", "2", "3", "4"]
    assert list(dimensions["momentum"].ticktext)[-1] == "(absent)"


# -- a few params by default ------------------------------------------------------------------

def _shown(figure) -> list[str]:
    return list(figure.layout.meta["params"])


@pytest.mark.parametrize("plot", MULTI_PARAM_PLOTS)
def test_a_twelve_param_study_shows_its_most_important_params(plot, twelve_param_study):
    figure = plot(twelve_param_study)
    assert sorted(_shown(figure)) == sorted(IMPORTANT)
    assert f"{DEFAULT_N_PARAMS} of 12 params shown, the most important" in \
        figure.layout.title.text
    chosen = ["extra_param_1", "extra_param_2", "n_layers"]
    assert _shown(plot(twelve_param_study, params=chosen)) == chosen


def test_the_default_params_are_drawn_in_each_figure(twelve_param_study):
    parcoords = plot_parallel_coordinate(twelve_param_study).data[0]
    assert len(parcoords.dimensions) == 1 + DEFAULT_N_PARAMS  # the objective, then the params
    assert len(plot_slice(twelve_param_study).data) == DEFAULT_N_PARAMS
    # a 4 x 4 grid of pairs: 12 panels, one contour and one scatter each
    assert len(plot_contour(twelve_param_study).data) == 2 * 12
    assert len(plot_rank(twelve_param_study).data) == 12


def test_without_scikit_learn_the_first_params_are_shown(twelve_param_study, monkeypatch):
    monkeypatch.setitem(sys.modules, "sklearn.ensemble", None)  # as if not installed
    figure = plot_slice(twelve_param_study)
    assert _shown(figure) == ["extra_param_0", "learning_rate", "knn_n_neighbors",
                              "preprocessing_scaler"]
    assert "the first (ranking by importance needs scikit-learn)" in figure.layout.title.text


def test_with_one_trial_the_first_params_are_shown(new_study, add_trial):
    study = _twelve_param_study(new_study, add_trial, n_trials=1)
    figure = plot_parallel_coordinate(study)
    assert len(_shown(figure)) == DEFAULT_N_PARAMS
    assert "needs 2 trials" in figure.layout.title.text


def test_a_study_with_few_params_shows_them_all_without_a_note(conditional_study):
    figure = plot_slice(conditional_study)
    assert _shown(figure) == ["lr", "n_layers", "optimizer", "momentum"]
    assert figure.layout.title.text == "Slice Plot"


def test_contour_of_a_twelve_param_study_is_small(twelve_param_study):
    # every param (12 x 12 panels) was 11.7 MB; the default four are a fraction of one
    assert len(plot_contour(twelve_param_study).to_json()) < 1_000_000


# -- labels fit ---------------------------------------------------------------------------------

def _text_width(text: str, size: float) -> float:
    """The widest line of a label in pixels, by the average character width."""
    return max(len(line) for line in text.split("<br>")) * CHAR_WIDTH * size


def _fits(figure) -> list[str]:
    """The labels of ``figure`` wider than the space the layout gives them at the figure's width
    (plotly's default where it sets none): axis titles within their axis, parcoords names
    within the space between two axes. Labels that fit their own space cannot overlap."""
    layout = figure.layout
    width = plot_width(layout.width)
    too_wide = []
    for name in layout:
        axis = layout[name]
        if not name.startswith(("xaxis", "yaxis")) or not axis.title.text:
            continue
        horizontal = name.startswith("xaxis")
        length = (axis.domain[1] - axis.domain[0]) * (
            width if horizontal else layout.height - MARGIN["t"] - MARGIN["b"])
        if _text_width(axis.title.text, AXIS_TITLE_SIZE) > length:
            too_wide.append(f"{name}: {axis.title.text!r}")
    for trace in figure.data:
        if trace.type == "parcoords":
            between = width / (len(trace.dimensions) - 1)
            too_wide += [f"parcoords {d.label!r}" for d in trace.dimensions
                         if _text_width(d.label, trace.labelfont.size) > between]
    return too_wide


@pytest.mark.parametrize("plot", MULTI_PARAM_PLOTS)
def test_labels_of_a_twelve_param_study_fit_their_space(plot, twelve_param_study):
    figure = plot(twelve_param_study)
    assert _fits(figure) == []
    assert "<br>" in str(figure.to_dict())  # the long names were wrapped, not left to overlap


def test_long_names_are_wrapped_at_their_separators(twelve_param_study):
    parcoords = plot_parallel_coordinate(twelve_param_study).data[0]
    labels = {d.label.replace("<br>", ""): d.label for d in parcoords.dimensions}
    assert labels["preprocessing_scaler"] == "preprocessing_<br>scaler"
