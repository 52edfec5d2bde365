"""Distributions: validation messages, the internal encoding and JSON round trips, also through a
trial stored in SQLite; random bad arguments to ``suggest_*`` never escape as foreign errors."""

from __future__ import annotations

import math
import uuid

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import pipetune
from pipetune.distributions import (
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
    contains_external,
    distribution_from_json,
)
from pipetune.errors import InvalidDistributionError, PipetuneError
from pipetune.samplers._unit import from_unit
from pipetune.storage.sql import SQLStorage

# -- validation ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("make", "fragment"),
    [
        (lambda: FloatDistribution(2.0, 1.0), "low <= high"),
        (lambda: IntDistribution(5, 1), "low <= high"),
        (lambda: FloatDistribution(0.0, 1.0, log=True), "low > 0"),
        (lambda: FloatDistribution(-1.0, 1.0, log=True), "low > 0"),
        (lambda: IntDistribution(0, 10, log=True), "low >= 1"),
        (lambda: FloatDistribution(1.0, 2.0, log=True, step=0.5), "log=True and a step"),
        (lambda: IntDistribution(1, 9, log=True, step=2), "step=1"),
        (lambda: FloatDistribution(0.0, 1.0, step=0.3), "does not divide"),
        (lambda: IntDistribution(0, 10, step=3), "does not divide"),
        (lambda: FloatDistribution(0.0, 1.0, step=0.0), "step"),
        (lambda: FloatDistribution(0.0, 1.0, step=-0.1), "step"),
        (lambda: IntDistribution(0, 10, step=0), "step"),
        (lambda: FloatDistribution(0.0, 1.0, step=1e-320), "does not divide"),
        (lambda: FloatDistribution(float("nan"), 1.0), "'low'"),
        (lambda: FloatDistribution(0.0, float("inf")), "'high'"),
        (lambda: FloatDistribution("0", 1.0), "'low'"),
        (lambda: FloatDistribution(True, 2.0), "'low'"),
        (lambda: FloatDistribution(0.0, 1.0, log="yes"), "'log'"),
        (lambda: IntDistribution(1, 10, log=None), "'log'"),
        (lambda: IntDistribution(0.5, 10), "'low'"),
        (lambda: IntDistribution(0, "10"), "'high'"),
        (lambda: IntDistribution(0, 10, step=1.5), "'step'"),
        (lambda: IntDistribution(0, float("inf")), "'high'"),
        (lambda: IntDistribution(False, 1), "'low'"),
        (lambda: IntDistribution(0, 2**60), "2**53"),
        (lambda: CategoricalDistribution(()), "at least one choice"),
        (lambda: CategoricalDistribution([]), "at least one choice"),
        (lambda: CategoricalDistribution(("a", "b", "a")), "unique"),
        (lambda: CategoricalDistribution((1, 2, 1)), "unique"),
        (lambda: CategoricalDistribution((object(),)), "JSON"),
        (lambda: CategoricalDistribution(([1, 2],)), "JSON"),
        (lambda: CategoricalDistribution(({"a": 1},)), "JSON"),
        (lambda: CategoricalDistribution((float("nan"), 1.0, float("nan"))), "unique"),
        (lambda: CategoricalDistribution("abc"), "list or tuple"),
        (lambda: CategoricalDistribution(None), "list or tuple"),
        (lambda: CategoricalDistribution(3), "list or tuple"),
    ],
)
def test_invalid_distribution_raises_with_message(make, fragment):
    with pytest.raises(InvalidDistributionError) as info:
        make()
    assert fragment in str(info.value)
    assert isinstance(info.value, PipetuneError) and isinstance(info.value, ValueError)


def test_int_bounds_given_as_whole_floats_become_ints():
    d = IntDistribution(1.0, 8.0, step=1.0)
    assert (d.low, d.high, d.step) == (1, 8, 1)
    assert all(type(x) is int for x in (d.low, d.high, d.step))


def test_numpy_bool_is_accepted_as_log_flag():
    assert FloatDistribution(1.0, 2.0, log=np.bool_(True)).log is True


def test_true_and_one_are_distinct_choices():
    d = CategoricalDistribution((True, 1, 1.0, "1", None, False, 0))
    assert len(d.choices) == 7
    assert d.to_internal(True) == 0 and d.to_internal(1) == 1 and d.to_internal(1.0) == 2
    assert d.to_internal(False) == 5 and d.to_internal(0) == 6
    assert d.to_external(0) is True and type(d.to_external(1)) is int
    assert type(d.to_external(2)) is float
    assert CategoricalDistribution((True,)) != CategoricalDistribution((1,))
    back = distribution_from_json(d.to_json())
    assert back == d
    assert [type(c) for c in back.choices] == [type(c) for c in d.choices]


def test_nan_and_infinite_choices_are_found_and_round_trip(storage):
    d = CategoricalDistribution((None, 0.0, float("nan"), float("inf"), -float("inf"), "nan"))
    assert d.to_internal(float("nan")) == 2 and d.to_internal("nan") == 5
    assert math.isnan(d.to_external(2)) and d.to_external(3) == math.inf
    again = distribution_from_json(d.to_json())
    assert again == d and hash(again) == hash(d)
    study = pipetune.create_study(storage=storage)
    study.enqueue_trial({"c": float("nan")})
    study.optimize(lambda t: 0.0 if t.suggest_categorical("c", d.choices) is None else 1.0,
                   n_trials=3)
    assert math.isnan(study.trials[0].params["c"])
    assert all(t.distributions["c"] == d for t in study.trials)


def test_value_not_in_choices_is_rejected():
    d = CategoricalDistribution(("a", "b"))
    with pytest.raises(InvalidDistributionError, match="not one of the choices"):
        d.to_internal("c")
    assert not contains_external(d, ["a"])  # unhashable: simply not contained


def test_unknown_json_type_is_rejected():
    with pytest.raises(InvalidDistributionError, match="Unknown distribution type"):
        distribution_from_json('{"type": "beta", "a": 1}')


@pytest.mark.parametrize(
    ("distribution", "inside", "outside"),
    [
        (FloatDistribution(0.0, 1.0), [0.0, 0.5, 1.0], [-0.1, 1.1, float("nan"), "0.5", True]),
        (FloatDistribution(0.0, 1.0, step=0.25), [0.0, 0.25, 1.0], [0.3, 1.25]),
        (FloatDistribution(0.0, 1.0, step=0.1), [0.3, 0.7000000000000001], [0.35]),
        (IntDistribution(0, 10, step=2), [0, 4, 10, 6.0], [3, 12, 4.5, False]),
        (IntDistribution(1, 100, log=True), [1, 50, 100], [0, 101]),
        (CategoricalDistribution(("a", 1, None)), ["a", 1, None], ["b", True, 1.0]),
    ],
)
def test_contains_external(distribution, inside, outside):
    assert all(contains_external(distribution, v) for v in inside)
    assert not any(contains_external(distribution, v) for v in outside)


# -- property-based: valid domains round-trip ---------------------------------------------------

finite = st.floats(allow_nan=False, allow_infinity=False)
positive = st.floats(min_value=1e-300, max_value=1e300, allow_nan=False)
exact_int = st.integers(min_value=-(2**53), max_value=2**53)


@st.composite
def float_with_value(draw):
    """A valid FloatDistribution and a value it contains."""
    kind = draw(st.sampled_from(["plain", "log", "step"]))
    if kind == "step":
        # |bounds| / step stays below ~1e6: beyond ~1e7 float rounding of high - low exceeds
        # the grid tolerance and a grid written as low + n * step may be rejected.
        low = draw(st.floats(min_value=-1e3, max_value=1e3))
        step = draw(st.floats(min_value=1e-3, max_value=1e3))
        n = draw(st.integers(min_value=0, max_value=1000))
        d = FloatDistribution(low, low + n * step, step=step)
        value = min(d.low + draw(st.integers(min_value=0, max_value=n)) * d.step, d.high)
        return d, value
    bound = positive if kind == "log" else finite
    low, high = sorted((draw(bound), draw(bound)))
    d = FloatDistribution(low, high, log=kind == "log")
    if low == high:  # e.g. 0.0 and -0.0, between which Hypothesis finds no float to draw
        return d, low
    return d, draw(st.floats(min_value=low, max_value=high))


@st.composite
def int_with_value(draw):
    """A valid IntDistribution and a value it contains."""
    if draw(st.booleans()):
        low, high = sorted(draw(st.lists(st.integers(1, 2**53), min_size=2, max_size=2)))
        d = IntDistribution(low, high, log=True)
        return d, draw(st.integers(low, high))
    low = draw(exact_int)
    step = draw(st.integers(1, 10**6))
    n = draw(st.integers(0, min(1000, (2**53 - low) // step)))
    d = IntDistribution(low, low + n * step, step=step)
    return d, low + draw(st.integers(0, n)) * step


json_scalar = st.one_of(
    st.none(), st.booleans(), st.integers(-(2**63), 2**63),
    st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=20))


@st.composite
def categorical_with_value(draw):
    """A valid CategoricalDistribution (mixed JSON scalars, no duplicates) and a choice."""
    raw = draw(st.lists(json_scalar, min_size=1, max_size=8))
    choices, seen = [], set()
    for c in raw:
        key = (type(c).__name__, c)
        if key not in seen:
            seen.add(key)
            choices.append(c)
    d = CategoricalDistribution(tuple(choices))
    return d, draw(st.sampled_from(choices))


any_with_value = st.one_of(float_with_value(), int_with_value(), categorical_with_value())


def same(a, b) -> bool:
    """Exact equality that also tells True from 1, 1 from 1.0 and -0.0 from 0.0."""
    if type(a) is not type(b):
        return False
    if isinstance(a, float):
        return a == b and math.copysign(1.0, a) == math.copysign(1.0, b)
    return a == b


@settings(max_examples=300, deadline=None)
@given(any_with_value)
def test_internal_encoding_round_trips_exactly(pair):
    d, value = pair
    internal = d.to_internal(value)
    assert isinstance(internal, float)
    assert d.contains(internal)
    assert contains_external(d, value)
    assert same(d.to_external(internal), value)


@settings(max_examples=300, deadline=None)
@given(any_with_value)
def test_json_round_trip(pair):
    d, value = pair
    back = distribution_from_json(d.to_json())
    assert back == d and hash(back) == hash(d)
    assert type(back) is type(d)
    assert same(back.to_external(back.to_internal(value)), value)


@settings(max_examples=200, deadline=None)
@given(any_with_value, st.floats(min_value=0.0, max_value=1.0, exclude_max=True))
def test_every_quantile_maps_into_the_domain(pair, u):
    d, _ = pair
    value = from_unit(d, u)
    assert contains_external(d, value), (d, u, value)


@pytest.fixture(scope="module")
def roundtrip_url(tmp_path_factory):
    """One SQLite file for every example of the round-trip property (a study per example)."""
    return f"sqlite:///{tmp_path_factory.mktemp('dist') / 'roundtrip.db'}"


@pytest.fixture(scope="module")
def roundtrip_storage(roundtrip_url):
    storage = SQLStorage(roundtrip_url)
    yield storage
    storage.close()


def _suggest(trial, name, d):
    if isinstance(d, CategoricalDistribution):
        return trial.suggest_categorical(name, list(d.choices))
    if isinstance(d, IntDistribution):
        return trial.suggest_int(name, d.low, d.high, step=d.step, log=d.log)
    return trial.suggest_float(name, d.low, d.high, step=d.step, log=d.log)


@settings(max_examples=40, deadline=None)
@given(st.lists(any_with_value, min_size=1, max_size=4))
def test_params_round_trip_through_sqlite(roundtrip_url, roundtrip_storage, pairs):
    """A value enqueued for a trial comes back from a fresh connection to the database with the
    same type and value, and the same distribution."""
    params = {f"p{i}": value for i, (_, value) in enumerate(pairs)}
    domains = {f"p{i}": d for i, (d, _) in enumerate(pairs)}
    name = f"s-{uuid.uuid4().hex}"
    study = pipetune.create_study(storage=roundtrip_storage, study_name=name)
    study.enqueue_trial(params)
    trial = study.ask()
    for key, d in domains.items():
        assert same(_suggest(trial, key, d), params[key])
    study.tell(trial, 1.0)

    fresh = SQLStorage(roundtrip_url)
    try:
        stored = pipetune.load_study(study_name=name, storage=fresh).trials[0]
    finally:
        fresh.close()
    assert stored.distributions == domains
    assert stored.params.keys() == params.keys()
    assert all(same(stored.params[k], params[k]) for k in params)


@settings(max_examples=30, deadline=None)
@given(st.lists(any_with_value, min_size=1, max_size=4))
def test_random_sampler_values_lie_in_each_domain(pairs):
    study = pipetune.create_study(sampler=pipetune.samplers.RandomSampler(seed=0))
    for _ in range(3):
        trial = study.ask()
        for i, (d, _) in enumerate(pairs):
            assert contains_external(d, _suggest(trial, f"p{i}", d))
        study.tell(trial, 0.0)


# -- property-based: bad arguments to suggest_* -------------------------------------------------

anything = st.one_of(
    st.none(), st.booleans(), st.integers(-(2**70), 2**70), st.floats(), st.text(max_size=5),
    st.binary(max_size=3), st.lists(st.integers(), max_size=2),
    st.dictionaries(st.text(max_size=2), st.integers(), max_size=2),
    st.just(object()), st.just(np.array([1.0, 2.0])), st.just(float("nan")), st.just(10**400))


@st.composite
def suggest_call(draw):
    """A call of one suggest_* method where at least one argument comes from ``anything``."""
    method = draw(st.sampled_from(["float", "int", "categorical", "uniform", "loguniform",
                                   "discrete_uniform"]))
    name = draw(st.one_of(st.just("x"), anything))
    if method == "categorical":
        choices = draw(st.one_of(anything, st.lists(anything, max_size=4)))
        return method, (name, choices), {}
    args = [draw(st.one_of(finite, anything)) for _ in range(2)]
    kwargs = {}
    if method == "discrete_uniform":
        args.append(draw(st.one_of(finite, anything)))
    if method in ("float", "int") and draw(st.booleans()):
        kwargs["step"] = draw(st.one_of(finite, anything))
    if method in ("float", "int") and draw(st.booleans()):
        kwargs["log"] = draw(anything)
    return method, (name, *args), kwargs


@settings(max_examples=300, deadline=None)
@given(suggest_call())
def test_bad_suggest_arguments_raise_pipetune_errors_only(call):
    method, args, kwargs = call
    study = pipetune.create_study()
    trial = study.ask()
    try:
        value = getattr(trial, f"suggest_{method}")(*args, **kwargs)
    except PipetuneError:
        pass
    else:  # the arguments happened to be valid: the value must be in the domain
        assert contains_external(trial.distributions[args[0]], value)
    study.tell(trial, 1.0)
    assert study.trials[0].state == pipetune.TrialState.COMPLETE
    study.optimize(lambda t: t.suggest_float("y", 0.0, 1.0), n_trials=2)
    assert [t.state for t in study.trials[1:]] == [pipetune.TrialState.COMPLETE] * 2


def test_bad_suggestion_does_not_store_a_param(sqlite_url):
    study = pipetune.create_study(storage=sqlite_url)
    trial = study.ask()
    with pytest.raises(InvalidDistributionError):
        trial.suggest_float("lr", 1.0, 0.1)
    assert trial.suggest_float("lr", 0.1, 1.0) <= 1.0  # the name is still free
    study.tell(trial, 0.5)
    assert set(study.trials[0].params) == {"lr"}


def test_nonpositive_log_bound_error_names_the_fix():
    study = pipetune.create_study()
    trial = study.ask()
    with pytest.raises(InvalidDistributionError, match="positive lower bound or log=False"):
        trial.suggest_float("lr", 0.0, 1.0, log=True)
