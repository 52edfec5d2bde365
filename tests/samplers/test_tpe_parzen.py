"""The Parzen estimator behind TPE: a proper density over a mixed space, whose samples stay in
the domain and follow the density, and which is highest where the observations are.

The estimator works in transformed coordinates (log for log domains; choice indices for
categorical ones); ``log_pdf`` is a density on continuous axes and a mass on discrete ones
(ints and stepped floats), so it sums over a grid of those and integrates over the rest.
"""

from __future__ import annotations

import numpy as np
import pytest

from pipetune.distributions import (
    CategoricalDistribution,
    Distribution,
    FloatDistribution,
    IntDistribution,
    contains_external,
)
from pipetune.samplers.tpe.parzen import Axis, ParzenEstimator

MIXED_SPACE: dict[str, Distribution] = {
    "x": FloatDistribution(-3.0, 3.0),
    "lr": FloatDistribution(1e-4, 1.0, log=True),
    "layers": IntDistribution(0, 4),
    "dropout": FloatDistribution(0.0, 0.5, step=0.125),
    "act": CategoricalDistribution(("relu", "tanh", "gelu")),
}

ONE_AXIS_SPACES: dict[str, Distribution] = {
    "float": FloatDistribution(-3.0, 3.0),
    "log_float": FloatDistribution(1e-4, 1.0, log=True),
    "int": IntDistribution(0, 4),
    "wide_int": IntDistribution(0, 300),
    "int_step": IntDistribution(0, 60, step=3),
    "log_int": IntDistribution(1, 1000, log=True),
    "step_float": FloatDistribution(0.0, 1.0, step=0.1),
    "categorical": CategoricalDistribution(("a", "b", "c", "d")),
}


def _axes(space: dict[str, Distribution]) -> list[Axis]:
    return [Axis.of(name, distribution) for name, distribution in space.items()]


def _points(axes: list[Axis], rows: list[dict]) -> np.ndarray:
    """Observations (external values) as rows of transformed coordinates."""
    out = np.empty((len(rows), len(axes)))
    for i, row in enumerate(rows):
        for j, axis in enumerate(axes):
            internal = axis.distribution.to_internal(row[axis.name])
            out[i, j] = internal if axis.categorical else axis.encode(np.array(internal))
    return out


def _random_rows(space: dict[str, Distribution], n: int, seed: int) -> list[dict]:
    rng = np.random.default_rng(seed)
    rows = []
    for _ in range(n):
        row = {}
        for name, d in space.items():
            if isinstance(d, CategoricalDistribution):
                row[name] = d.choices[rng.integers(len(d.choices))]
            elif isinstance(d, IntDistribution):
                row[name] = int(d.low + d.step * rng.integers((d.high - d.low) // d.step + 1))
            elif d.step is not None:
                row[name] = d.low + d.step * rng.integers(round((d.high - d.low) / d.step) + 1)
            elif d.log:
                row[name] = float(np.exp(rng.uniform(np.log(d.low), np.log(d.high))))
            else:
                row[name] = float(rng.uniform(d.low, d.high))
        rows.append(row)
    return rows


def _estimator(space: dict[str, Distribution], rows: list[dict], *,
               bandwidth_factor: float = 0.1) -> ParzenEstimator:
    axes = _axes(space)
    points = _points(axes, rows).reshape(len(rows), len(axes))
    return ParzenEstimator(axes, points, prior_weight=1.0, bandwidth_factor=bandwidth_factor,
                           min_bandwidth_fraction=0.01)


def _quadrature(axis: Axis, n_cells: int) -> tuple[np.ndarray, np.ndarray]:
    """Nodes and weights on one axis: every choice / grid value with weight 1 (log_pdf is a
    mass there), else the midpoints of ``n_cells`` cells weighted by the cell width."""
    if axis.categorical:
        return np.arange(axis.n_choices, dtype=float), np.ones(axis.n_choices)
    if axis.cell > 0:
        n = int(round((axis.high - axis.low) / axis.cell))
        return axis.low + axis.cell * (np.arange(n) + 0.5), np.ones(n)
    width = (axis.high - axis.low) / n_cells
    return axis.low + width * (np.arange(n_cells) + 0.5), np.full(n_cells, width)


def _total_probability(estimator: ParzenEstimator, n_cells: int) -> float:
    nodes, weights = zip(*(_quadrature(axis, n_cells) for axis in estimator.axes))
    grid = np.stack([g.ravel() for g in np.meshgrid(*nodes, indexing="ij")], axis=1)
    cell_weight = np.prod([w.ravel() for w in np.meshgrid(*weights, indexing="ij")], axis=0)
    return float(np.sum(np.exp(estimator.log_pdf(grid)) * cell_weight))


# -- a proper density --------------------------------------------------------------------------


@pytest.mark.parametrize("n_observations", [0, 1, 6, 40])
@pytest.mark.parametrize("bandwidth_factor", [0.05, 0.3])
def test_density_over_a_mixed_space_sums_to_one(n_observations, bandwidth_factor):
    rows = _random_rows(MIXED_SPACE, n_observations, seed=n_observations)
    estimator = _estimator(MIXED_SPACE, rows, bandwidth_factor=bandwidth_factor)
    assert _total_probability(estimator, n_cells=50) == pytest.approx(1.0, abs=0.01)


@pytest.mark.parametrize("name", ONE_AXIS_SPACES)
@pytest.mark.parametrize("n_observations", [0, 1, 12])
def test_density_on_each_kind_of_axis_sums_to_one(name, n_observations):
    space = {name: ONE_AXIS_SPACES[name]}
    # Observations at the bounds too, where a truncated kernel loses the most mass.
    d = space[name]
    edge = d.choices[0] if isinstance(d, CategoricalDistribution) else d.low
    rows = ([{name: edge}] + _random_rows(space, n_observations - 1, seed=7)
            if n_observations else [])
    for bandwidth_factor in (0.01, 0.1, 1.0):
        estimator = _estimator(space, rows, bandwidth_factor=bandwidth_factor)
        assert _total_probability(estimator, n_cells=4000) == pytest.approx(1.0, abs=0.005)


# -- samples -----------------------------------------------------------------------------------


def test_samples_stay_in_bounds_and_on_grids():
    space = {**MIXED_SPACE, **{f"{k}_1": v for k, v in ONE_AXIS_SPACES.items()}}
    axes = _axes(space)
    # Observations piled on the bounds push kernels' mass against the edges.
    lows = {a.name: (a.distribution.choices[0] if a.categorical else a.distribution.low)
            for a in axes}
    highs = {a.name: (a.distribution.choices[-1] if a.categorical else a.distribution.high)
             for a in axes}
    rows = [lows, highs] * 5 + _random_rows(space, 10, seed=3)
    estimator = _estimator(space, rows, bandwidth_factor=0.5)
    samples = estimator.sample(np.random.default_rng(0), 3000)
    assert samples.shape == (3000, len(axes))
    for j, axis in enumerate(axes):
        column = samples[:, j]
        d = axis.distribution
        if axis.categorical:
            assert set(np.unique(column)) == set(range(axis.n_choices)), axis.name
            continue
        assert np.all((axis.low <= column) & (column <= axis.high)), axis.name
        if axis.cell > 0:
            # Discrete axes come back on the grid of the domain itself.
            steps = (column - d.low) / d.step
            assert np.allclose(steps, np.round(steps), atol=1e-9), axis.name
        decoded = [axis.decode(c) for c in column]
        expected_type = int if isinstance(d, IntDistribution) else float
        assert all(type(v) is expected_type for v in decoded), axis.name
        assert all(contains_external(d, v) for v in decoded), axis.name
        # Both ends of the domain are reachable.
        assert min(decoded) == pytest.approx(d.low, rel=0.05), axis.name
        assert max(decoded) == pytest.approx(d.high, rel=0.05), axis.name


@pytest.mark.parametrize("name", ["float", "log_float", "int", "step_float", "categorical"])
def test_samples_follow_the_density(name):
    """Sample frequencies per cell match the mass log_pdf gives that cell."""
    space = {name: ONE_AXIS_SPACES[name]}
    estimator = _estimator(space, _random_rows(space, 4, seed=11), bandwidth_factor=0.3)
    (axis,) = estimator.axes
    samples = estimator.sample(np.random.default_rng(1), 20000)[:, 0]
    if axis.categorical or axis.cell > 0:
        nodes, _ = _quadrature(axis, 0)
        expected = np.exp(estimator.log_pdf(nodes[:, None]))
        observed = np.array([np.isclose(samples, node).mean() for node in nodes])
    else:
        edges = np.linspace(axis.low, axis.high, 21)
        fine = np.linspace(axis.low, axis.high, 2001)
        mids = (fine[1:] + fine[:-1]) / 2
        mass = np.exp(estimator.log_pdf(mids[:, None])) * np.diff(fine)
        expected = np.array([mass[(mids >= lo) & (mids < hi)].sum()
                             for lo, hi in zip(edges[:-1], edges[1:])])
        observed = np.histogram(samples, bins=edges)[0] / len(samples)
    assert expected.sum() == pytest.approx(1.0, abs=0.005)
    assert np.max(np.abs(observed - expected)) < 0.015, (observed, expected)


# -- where the mass is -------------------------------------------------------------------------


def test_density_is_highest_near_the_observations():
    cluster = {"x": 1.5, "lr": 1e-2, "layers": 3, "dropout": 0.25, "act": "tanh"}
    rows = [cluster] * 3 + [{**cluster, "x": 1.4, "lr": 2e-2}, {**cluster, "x": 1.6}]
    estimator = _estimator(MIXED_SPACE, rows)
    at_cluster = estimator.log_pdf(_points(estimator.axes, [cluster]))[0]
    elsewhere = _random_rows(MIXED_SPACE, 200, seed=5)
    far = estimator.log_pdf(_points(estimator.axes, elsewhere))
    assert np.all(at_cluster > far)
    # Moving one param away from the cluster lowers the density, whichever it is.
    away = {"x": -2.5, "lr": 1e-4, "layers": 0, "dropout": 0.5, "act": "gelu"}
    for name, value in away.items():
        moved = estimator.log_pdf(_points(estimator.axes, [{**cluster, name: value}]))[0]
        assert moved < at_cluster, name


def test_observed_choice_gains_mass_as_observations_accumulate():
    space = {"act": CategoricalDistribution(("relu", "tanh", "gelu", "elu"))}
    masses = []
    for n in (1, 5, 25):
        estimator = _estimator(space, [{"act": "gelu"}] * n)
        probs = np.exp(estimator.log_pdf(np.arange(4, dtype=float)[:, None]))
        assert probs.sum() == pytest.approx(1.0)
        assert np.argmax(probs) == 2
        masses.append(probs[2])
    assert masses[0] < masses[1] < masses[2]
    assert masses[2] > 0.6  # well above the uniform 0.25


def test_prior_keeps_every_value_possible():
    """Far from every observation the density is small but never zero, so TPE can still
    propose anything."""
    rows = [{"x": 3.0, "lr": 1.0, "layers": 4, "dropout": 0.5, "act": "relu"}] * 30
    estimator = _estimator(MIXED_SPACE, rows, bandwidth_factor=0.01)
    opposite = {"x": -3.0, "lr": 1e-4, "layers": 0, "dropout": 0.0, "act": "gelu"}
    value = estimator.log_pdf(_points(estimator.axes, [opposite]))[0]
    assert np.isfinite(value)


def test_a_floor_in_steps_gives_the_neighbours_of_an_observed_int_their_share():
    """TPE on a grid avoids configurations already run, so its kernels must reach their
    neighbours: on a short int axis the default kernels hardly do, a floor of half a step
    (``min_cells``) gives each neighbour about a sixth, and the mass still sums to one."""
    axes = [Axis.of("n", IntDistribution(0, 6))]
    points = np.array([[3.0]] * 5)
    neighbour = np.array([[4.0]])

    def estimator(min_cells: float) -> ParzenEstimator:
        return ParzenEstimator(axes, points, prior_weight=1.0, bandwidth_factor=0.05,
                               min_bandwidth_fraction=0.01, min_cells=min_cells)

    narrow, wide = estimator(0.0), estimator(0.5)
    assert np.exp(narrow.log_pdf(neighbour))[0] < 0.06
    assert np.exp(wide.log_pdf(neighbour))[0] > 0.12
    assert _total_probability(wide, 1) == pytest.approx(1.0, abs=1e-6)
