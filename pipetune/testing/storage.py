"""The storage contract: behaviours every ``BaseStorage`` implementation must keep.

Samplers, the cached study history, ``Study`` and the workers rely on these promises rather than
on any one backend, so a new backend (PostgreSQL, the remote HTTP storage, a third-party one) is
correct when it passes this suite. Use it by subclassing ``StorageContract`` in a test module
whose name pytest collects and giving the subclass a ``storage`` fixture that yields a fresh,
empty storage (and closes it afterwards)::

    from pipetune.testing.storage import StorageContract

    class TestMyStorage(StorageContract):
        @pytest.fixture
        def storage(self):
            backend = MyStorage(...)
            yield backend
            backend.close()
"""

from __future__ import annotations

import datetime as dt
import math
import threading
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from pipetune._attrs import FIXED_PARAMS_ATTR
from pipetune._imports import require
from pipetune.datatypes import FrozenTrial, StudyDirection, TrialState
from pipetune.distributions import (
    CategoricalDistribution,
    Distribution,
    FloatDistribution,
    IntDistribution,
)
from pipetune.errors import (
    DuplicateStudyError,
    InvalidArgumentError,
    ParamConflictError,
    StudyNotFoundError,
    TrialNotFoundError,
    UpdateFinishedTrialError,
)
from pipetune.storage.base import BaseStorage
from pipetune.testing._claims import claim_one
from pipetune.testing._storage_liveness import LivenessContract
from pipetune.testing._storage_tracking import TrackingContract

pytest = require("pytest", "test")

__all__ = ["StorageContract"]

MIN = StudyDirection.MINIMIZE
MAX = StudyDirection.MAXIMIZE

# One param of every kind of domain, with a value inside it (user-facing form).
PARAM_CASES: dict[str, tuple[Distribution, Any]] = {
    "float": (FloatDistribution(-2.5, 7.25), 3.141592653589793),
    "float_log": (FloatDistribution(1e-6, 1.0, log=True), 3.2e-4),
    "float_step": (FloatDistribution(0.0, 1.0, step=0.125), 0.375),
    "int": (IntDistribution(-10, 10), -7),
    "int_log": (IntDistribution(1, 1024, log=True), 64),
    "int_step": (IntDistribution(0, 100, step=5), 35),
    "categorical_str": (CategoricalDistribution(("adam", "sgd", "rmsprop")), "sgd"),
    "categorical_mixed": (CategoricalDistribution((None, True, 1, 1.5, "1")), True),
    "categorical_none": (CategoricalDistribution((None, 0)), None),
    "categorical_single": (CategoricalDistribution((42,)), 42),
}

# JSON values attributes must hold unchanged.
JSON_VALUES: dict[str, Any] = {
    "int": 3,
    "float": 0.1,
    "str": "naïve — 日本",
    "bool": False,
    "none": None,
    "list": [1, "two", [3.0, None]],
    "dict": {"nested": {"a": [1, 2]}, "b": True},
}


def _study(storage: BaseStorage, name: str = "study",
           directions: Sequence[StudyDirection] = (MIN,)) -> int:
    return storage.create_study(name, list(directions))


def _finished(storage: BaseStorage, study_id: int, state: TrialState = TrialState.COMPLETE,
              values: Sequence[float] | None = (1.0,)) -> FrozenTrial:
    trial = claim_one(storage, study_id)
    assert storage.finish_trial(trial.trial_id, state,
                                values if state == TrialState.COMPLETE else None)
    return storage.get_trial(trial.trial_id)


def _run_threads(n: int, target: Callable[[int], None]) -> None:
    """Runs ``target(i)`` on ``n`` threads released together; re-raises the first error."""
    barrier = threading.Barrier(n)
    errors: list[BaseException] = []

    def body(i: int) -> None:
        try:
            barrier.wait()
            target(i)
        except BaseException as error:  # noqa: BLE001 - reported below, in the test's thread
            errors.append(error)

    threads = [threading.Thread(target=body, args=(i,)) for i in range(n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]


class StorageContract(LivenessContract, TrackingContract):
    """The behaviours of ``pipetune.storage.base.BaseStorage`` as tests over a ``storage``
    fixture; subclasses provide the fixture (see the module docstring)."""

    @pytest.fixture
    def storage(self) -> Iterator[BaseStorage]:
        raise NotImplementedError(
            "A StorageContract subclass must define a 'storage' fixture yielding a fresh, empty "
            "storage.")

    # -- studies -------------------------------------------------------------------------------

    def test_create_study_returns_distinct_ids_that_resolve_by_name(
            self, storage: BaseStorage) -> None:
        first = _study(storage, "first")
        second = _study(storage, "second")
        assert first != second
        assert storage.get_study_id("first") == first
        assert storage.get_study_id("second") == second
        assert storage.get_study_name(first) == "first"
        assert storage.get_study_name(second) == "second"

    def test_duplicate_study_name_raises_and_keeps_the_original(self, storage: BaseStorage) -> None:
        study_id = _study(storage, "taken", [MAX])
        with pytest.raises(DuplicateStudyError, match="taken"):
            storage.create_study("taken", [MIN])
        with pytest.raises(ValueError):  # also catchable as the builtin it refines
            storage.create_study("taken", [MIN])
        assert storage.get_study_id("taken") == study_id
        assert storage.get_study_directions(study_id) == (MAX,)
        assert len(storage.list_studies()) == 1

    @pytest.mark.parametrize("name", ["", "   ", "with\x00nul", "two\nlines", "x" * 513],
                             ids=["empty", "spaces", "nul", "newline", "513-chars"])
    def test_unstorable_study_names_are_invalid_arguments_everywhere(
            self, storage: BaseStorage, name: str) -> None:
        with pytest.raises(InvalidArgumentError, match="study name must be"):
            storage.create_study(name, [MIN])
        with pytest.raises(InvalidArgumentError, match="study name must be"):
            storage.get_study_id(name)
        assert storage.list_studies() == []
        longest = "é" * 512  # the limit counts characters, not bytes
        assert storage.get_study_name(_study(storage, longest)) == longest

    def test_unknown_study_name_raises_study_not_found(self, storage: BaseStorage) -> None:
        with pytest.raises(StudyNotFoundError, match="missing"):
            storage.get_study_id("missing")
        with pytest.raises(KeyError):
            storage.get_study_id("missing")

    def test_unknown_study_id_raises_study_not_found(self, storage: BaseStorage) -> None:
        study_id = _study(storage)
        unknown = study_id + 1000
        for call in (lambda: storage.get_study_name(unknown),
                     lambda: storage.get_study_directions(unknown),
                     lambda: storage.set_study_attr(unknown, "k", 1),
                     lambda: storage.claim_trial(unknown),
                     lambda: storage.create_trial(unknown),
                     lambda: storage.delete_study(unknown)):
            with pytest.raises(StudyNotFoundError):
                call()

    @pytest.mark.parametrize("directions", [[MIN], [MAX], [MIN, MAX, MAX], [MAX, MIN]])
    def test_directions_round_trip_in_order(self, storage: BaseStorage,
                                            directions: list[StudyDirection]) -> None:
        study_id = _study(storage, directions=directions)
        assert storage.get_study_directions(study_id) == tuple(directions)
        assert all(isinstance(d, StudyDirection) for d in storage.get_study_directions(study_id))

    def test_delete_study_removes_it_and_frees_the_name(self, storage: BaseStorage) -> None:
        study_id = _study(storage, "doomed")
        storage.delete_study(study_id)
        with pytest.raises(StudyNotFoundError):
            storage.get_study_id("doomed")
        with pytest.raises(StudyNotFoundError):
            storage.get_study_name(study_id)
        assert storage.list_studies() == []
        new_id = _study(storage, "doomed", [MAX])
        assert storage.get_study_directions(new_id) == (MAX,)

    def test_delete_study_removes_its_trials_and_keeps_others(self, storage: BaseStorage) -> None:
        doomed = _study(storage, "doomed")
        kept = _study(storage, "kept")
        doomed_trials = [_finished(storage, doomed).trial_id, claim_one(storage, doomed).trial_id]
        storage.set_study_attr(doomed, "k", 1)
        kept_trial = _finished(storage, kept, values=(2.0,))
        storage.delete_study(doomed)
        for trial_id in doomed_trials:
            with pytest.raises(TrialNotFoundError):
                storage.get_trial(trial_id)
        assert storage.get_trials(kept) == [kept_trial]
        assert storage.count_trials(kept) == 1

    # -- study attributes ----------------------------------------------------------------------

    def test_study_attrs_round_trip_json_values(self, storage: BaseStorage) -> None:
        study_id = _study(storage)
        for key, value in JSON_VALUES.items():
            storage.set_study_attr(study_id, key, value)
        assert storage.get_study_attrs(study_id) == JSON_VALUES
        assert storage.get_study_attrs(study_id, system=True) == {}

    def test_study_user_and_system_attrs_are_separate_and_overwritable(
            self, storage: BaseStorage) -> None:
        study_id = _study(storage)
        storage.set_study_attr(study_id, "key", "user")
        storage.set_study_attr(study_id, "key", "system", system=True)
        storage.set_study_attr(study_id, "key", "user again")
        assert storage.get_study_attrs(study_id) == {"key": "user again"}
        assert storage.get_study_attrs(study_id, system=True) == {"key": "system"}

    def test_study_attrs_are_copies(self, storage: BaseStorage) -> None:
        study_id = _study(storage)
        value = {"items": [1]}
        storage.set_study_attr(study_id, "k", value)
        value["items"].append(2)
        read = storage.get_study_attrs(study_id)
        read["k"]["items"].append(3)
        assert storage.get_study_attrs(study_id) == {"k": {"items": [1]}}

    @pytest.mark.parametrize("value", [object(), {1, 2}, b"bytes"])
    def test_non_json_attr_raises_invalid_argument_and_stores_nothing(
            self, storage: BaseStorage, value: Any) -> None:
        study_id = _study(storage)
        trial = claim_one(storage, study_id)
        with pytest.raises(InvalidArgumentError):
            storage.set_study_attr(study_id, "bad", value)
        with pytest.raises(InvalidArgumentError):
            storage.set_trial_attr(trial.trial_id, "bad", value)
        with pytest.raises(InvalidArgumentError):
            storage.create_trial(study_id, system_attrs={"bad": value})
        assert storage.get_study_attrs(study_id) == {}
        assert storage.get_trial(trial.trial_id).user_attrs == {}
        assert storage.count_trials(study_id) == 1

    # -- creating and claiming trials ----------------------------------------------------------

    def test_create_trial_makes_waiting_trials_with_dense_numbers(
            self, storage: BaseStorage) -> None:
        study_id = _study(storage)
        created = [storage.create_trial(study_id, system_attrs={"i": i}) for i in range(3)]
        assert [t.number for t in created] == [0, 1, 2]
        assert len({t.trial_id for t in created}) == 3
        for i, trial in enumerate(created):
            stored = storage.get_trial(trial.trial_id)
            assert stored.state == TrialState.WAITING
            assert stored.system_attrs == {"i": i}
            assert stored.datetime_start is None and stored.values is None

    def test_claim_trial_without_waiting_creates_running_trials(self, storage: BaseStorage) -> None:
        study_id = _study(storage)
        claimed = [claim_one(storage, study_id, worker="host-1") for _ in range(3)]
        assert [t.number for t in claimed] == [0, 1, 2]
        for trial in claimed:
            assert trial.state == TrialState.RUNNING
            stored = storage.get_trial(trial.trial_id)
            assert stored.state == TrialState.RUNNING
            assert stored.worker == "host-1"
            assert stored.datetime_start is not None and stored.datetime_complete is None

    def test_claim_trial_takes_waiting_trials_first_in_order(self, storage: BaseStorage) -> None:
        study_id = _study(storage)
        waiting = [storage.create_trial(study_id, system_attrs={"fixed": i}) for i in range(3)]
        claimed = [claim_one(storage, study_id, worker=f"w{i}") for i in range(4)]
        assert [t.trial_id for t in claimed[:3]] == [t.trial_id for t in waiting]
        assert [t.system_attrs for t in claimed[:3]] == [{"fixed": i} for i in range(3)]
        assert claimed[3].number == 3
        for i, trial in enumerate(claimed):
            stored = storage.get_trial(trial.trial_id)
            assert stored.state == TrialState.RUNNING
            assert stored.worker == f"w{i}"
            assert stored.datetime_start is not None

    def test_claim_trial_skips_running_and_finished_trials(self, storage: BaseStorage) -> None:
        study_id = _study(storage)
        running = storage.create_trial(study_id, state=TrialState.RUNNING)
        assert storage.get_trial(running.trial_id).datetime_start is not None
        finished = _finished(storage, study_id)
        waiting = storage.create_trial(study_id)
        assert claim_one(storage, study_id).trial_id == waiting.trial_id
        fresh = claim_one(storage, study_id)
        assert fresh.trial_id not in (running.trial_id, finished.trial_id, waiting.trial_id)
        assert fresh.number == 3

    def test_add_trial_stores_the_whole_trial_as_given(self, storage: BaseStorage) -> None:
        study_id = _study(storage, directions=(MIN, MAX))
        claim_one(storage, study_id)
        start = dt.datetime(2024, 5, 1, 12, 30, 15, 250000)
        given = FrozenTrial(
            number=-1, trial_id=-1, state=TrialState.COMPLETE, values=(0.5, math.inf),
            params={name: value for name, (_, value) in PARAM_CASES.items()},
            distributions={name: d for name, (d, _) in PARAM_CASES.items()},
            user_attrs={"note": JSON_VALUES["dict"]}, system_attrs={"origin": "optuna"},
            intermediate_values={0: (1.0, 2.0), 3: (math.inf, 0.25)}, datetime_start=start,
            datetime_complete=start + dt.timedelta(seconds=90.5), worker="host:7")
        added = storage.add_trial(study_id, given)
        assert added.number == 1 and storage.get_trial(added.trial_id) == added
        assert added == FrozenTrial(**{**given.__dict__, "number": 1,
                                       "trial_id": added.trial_id})

    @pytest.mark.parametrize("state", [TrialState.PRUNED, TrialState.FAIL, TrialState.WAITING,
                                       TrialState.RUNNING])
    def test_add_trial_in_every_state(self, storage: BaseStorage, state: TrialState) -> None:
        study_id = _study(storage)
        start = None if state == TrialState.WAITING else dt.datetime(2024, 5, 1, 12, 0, 0)
        end = dt.datetime(2024, 5, 1, 13, 0, 0) if state.is_finished() else None
        added = storage.add_trial(study_id, FrozenTrial(
            number=-1, trial_id=-1, state=state, intermediate_values={2: math.nan},
            system_attrs={FIXED_PARAMS_ATTR: {"x": 1}} if state == TrialState.WAITING else {},
            datetime_start=start, datetime_complete=end))
        assert (added.state, added.datetime_start, added.datetime_complete) == (state, start, end)
        reported = added.intermediate_values[2]
        assert isinstance(reported, float) and math.isnan(reported)
        claimed = claim_one(storage, study_id)
        if state == TrialState.WAITING:  # queued like an enqueued trial
            assert claimed.trial_id == added.trial_id
        else:
            assert claimed.number == 1
        if state == TrialState.RUNNING:  # it beats from now: not stale at once
            assert storage.fail_stale_trials(study_id, grace_period=3600.0) == []
            assert storage.finish_trial(added.trial_id, TrialState.COMPLETE, [1.0])

    def test_add_trial_with_attrs_json_cannot_hold_stores_nothing(
            self, storage: BaseStorage) -> None:
        study_id = _study(storage)
        with pytest.raises(InvalidArgumentError):
            storage.add_trial(study_id, FrozenTrial(
                number=-1, trial_id=-1, state=TrialState.WAITING, user_attrs={"x": object()}))
        assert storage.count_trials(study_id) == 0
        with pytest.raises(StudyNotFoundError):
            storage.add_trial(study_id + 1000, FrozenTrial(number=-1, trial_id=-1,
                                                           state=TrialState.WAITING))

    def test_trial_numbers_are_per_study(self, storage: BaseStorage) -> None:
        first = _study(storage, "first")
        second = _study(storage, "second")
        numbers = [(claim_one(storage, first).number, claim_one(storage, second).number)
                   for _ in range(3)]
        assert numbers == [(0, 0), (1, 1), (2, 2)]

    # -- params --------------------------------------------------------------------------------

    def test_params_round_trip_for_every_distribution_kind(self, storage: BaseStorage) -> None:
        study_id = _study(storage)
        trial = claim_one(storage, study_id)
        storage.set_trial_params(trial.trial_id, {
            name: (distribution.to_internal(value), distribution)
            for name, (distribution, value) in PARAM_CASES.items()})
        stored = storage.get_trial(trial.trial_id)
        assert stored.distributions == {n: d for n, (d, _) in PARAM_CASES.items()}
        for name, (distribution, value) in PARAM_CASES.items():
            got = stored.params[name]
            assert got == value and type(got) is type(value), (name, got)
            assert stored.internal_params()[name] == distribution.to_internal(value)
        # the same record again from the bulk read
        assert storage.get_trials(study_id)[0].params == stored.params

    def test_set_param_on_finished_trial_raises_and_changes_nothing(
            self, storage: BaseStorage) -> None:
        study_id = _study(storage)
        trial = _finished(storage, study_id)
        distribution = FloatDistribution(0.0, 1.0)
        with pytest.raises(UpdateFinishedTrialError):
            storage.set_trial_params(trial.trial_id, {"x": (0.5, distribution)})
        assert storage.get_trial(trial.trial_id) == trial

    def test_param_batches_add_up_and_a_repeated_name_writes_nothing(
            self, storage: BaseStorage) -> None:
        study_id = _study(storage)
        trial = claim_one(storage, study_id)
        distribution = FloatDistribution(0.0, 1.0)
        storage.set_trial_params(trial.trial_id, {"a": (0.1, distribution)})
        # more params than one SQL statement carries
        many = {f"p{i}": (i / 1000, distribution) for i in range(250)}
        storage.set_trial_params(trial.trial_id, many)
        with pytest.raises(ParamConflictError):
            storage.set_trial_params(trial.trial_id, {"b": (0.2, distribution),
                                                      "a": (0.3, distribution)})
        stored = storage.get_trial(trial.trial_id)
        assert stored.params == {"a": 0.1, **{name: value for name, (value, _) in many.items()}}

    def test_writes_to_unknown_trial_raise_trial_not_found(self, storage: BaseStorage) -> None:
        study_id = _study(storage)
        unknown = claim_one(storage, study_id).trial_id + 1000
        distribution = FloatDistribution(0.0, 1.0)
        for call in (lambda: storage.set_trial_params(unknown, {"x": (0.5, distribution)}),
                     lambda: storage.finish_trial(unknown, TrialState.COMPLETE, [1.0]),
                     lambda: storage.set_trial_intermediate_value(unknown, 0, 1.0),
                     lambda: storage.set_trial_attr(unknown, "k", 1),
                     lambda: storage.get_trial(unknown)):
            with pytest.raises(TrialNotFoundError):
                call()

    # -- finishing -----------------------------------------------------------------------------

    def test_finish_trial_stores_state_values_and_completion_time(
            self, storage: BaseStorage) -> None:
        study_id = _study(storage, directions=[MIN, MAX])
        trial = claim_one(storage, study_id)
        assert storage.finish_trial(trial.trial_id, TrialState.COMPLETE, [0.25, -3.0])
        stored = storage.get_trial(trial.trial_id)
        assert stored.state == TrialState.COMPLETE
        assert stored.values == (0.25, -3.0)
        assert stored.datetime_complete is not None
        assert stored.datetime_start is not None
        assert stored.datetime_complete >= stored.datetime_start

    @pytest.mark.parametrize("state", [TrialState.PRUNED, TrialState.FAIL])
    def test_finish_trial_without_values(self, storage: BaseStorage, state: TrialState) -> None:
        study_id = _study(storage)
        trial = claim_one(storage, study_id)
        assert storage.finish_trial(trial.trial_id, state)
        stored = storage.get_trial(trial.trial_id)
        assert stored.state == state and stored.values is None
        assert stored.datetime_complete is not None

    def test_finish_finished_trial_returns_false_and_changes_nothing(
            self, storage: BaseStorage) -> None:
        study_id = _study(storage)
        trial = _finished(storage, study_id, values=(5.0,))
        assert storage.finish_trial(trial.trial_id, TrialState.FAIL) is False
        assert storage.finish_trial(trial.trial_id, TrialState.COMPLETE, [1.0]) is False
        assert storage.get_trial(trial.trial_id) == trial

    def test_writes_to_finished_trial_raise(self, storage: BaseStorage) -> None:
        study_id = _study(storage)
        for state in (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL):
            trial = _finished(storage, study_id, state)
            with pytest.raises(UpdateFinishedTrialError):
                storage.set_trial_attr(trial.trial_id, "k", 1)
            with pytest.raises(UpdateFinishedTrialError):
                storage.set_trial_attr(trial.trial_id, "k", 1, system=True)
            with pytest.raises(UpdateFinishedTrialError):
                storage.set_trial_intermediate_value(trial.trial_id, 0, 1.0)
            assert storage.get_trial(trial.trial_id) == trial

    # -- intermediate values and trial attributes ----------------------------------------------

    def test_intermediate_values_round_trip_ordered_by_step(self, storage: BaseStorage) -> None:
        study_id = _study(storage)
        trial = claim_one(storage, study_id)
        for step, value in [(10, 0.5), (0, 2.0), (3, -1.25)]:
            assert storage.set_trial_intermediate_value(trial.trial_id, step, value) is True
        stored = storage.get_trial(trial.trial_id)
        assert stored.intermediate_values == {0: 2.0, 3: -1.25, 10: 0.5}
        assert list(stored.intermediate_values) == [0, 3, 10]

    def test_repeated_intermediate_step_is_ignored(self, storage: BaseStorage) -> None:
        study_id = _study(storage)
        trial = claim_one(storage, study_id)
        assert storage.set_trial_intermediate_value(trial.trial_id, 1, 0.5) is True
        assert storage.set_trial_intermediate_value(trial.trial_id, 1, 9.0) is False
        assert storage.get_trial(trial.trial_id).intermediate_values == {1: 0.5}

    def test_nan_and_infinite_intermediate_values_survive(self, storage: BaseStorage) -> None:
        study_id = _study(storage)
        trial = claim_one(storage, study_id)
        for step, value in enumerate([math.nan, math.inf, -math.inf, 0.0]):
            assert storage.set_trial_intermediate_value(trial.trial_id, step, value)
        stored = storage.get_trial(trial.trial_id).intermediate_values
        assert isinstance(stored[0], float) and math.isnan(stored[0])
        assert stored[1] == math.inf and stored[2] == -math.inf and stored[3] == 0.0

    def test_trial_attrs_round_trip_json_values(self, storage: BaseStorage) -> None:
        study_id = _study(storage)
        trial = claim_one(storage, study_id)
        for key, value in JSON_VALUES.items():
            storage.set_trial_attr(trial.trial_id, key, value)
        storage.set_trial_attr(trial.trial_id, "int", "overwritten")
        storage.set_trial_attr(trial.trial_id, "int", 7, system=True)
        stored = storage.get_trial(trial.trial_id)
        assert stored.user_attrs == {**JSON_VALUES, "int": "overwritten"}
        assert stored.system_attrs == {"int": 7}

    def test_trial_attrs_survive_finishing(self, storage: BaseStorage) -> None:
        study_id = _study(storage)
        trial = claim_one(storage, study_id)
        storage.set_trial_attr(trial.trial_id, "note", {"a": 1})
        storage.set_trial_params(trial.trial_id, {"x": (2.0, IntDistribution(0, 3))})
        storage.set_trial_intermediate_value(trial.trial_id, 0, 1.0)
        storage.finish_trial(trial.trial_id, TrialState.COMPLETE, [0.5])
        stored = storage.get_trial(trial.trial_id)
        assert (stored.user_attrs, stored.params, stored.intermediate_values, stored.values) == (
            {"note": {"a": 1}}, {"x": 2}, {0: 1.0}, (0.5,))

    # -- reading trials ------------------------------------------------------------------------

    def test_empty_study_has_no_trials(self, storage: BaseStorage) -> None:
        study_id = _study(storage)
        assert storage.get_trials(study_id) == []
        assert storage.count_trials(study_id) == 0
        assert storage.get_trials_since(study_id, -1) == []

    def test_get_trials_orders_by_number_and_filters_by_state(self, storage: BaseStorage) -> None:
        study_id = _study(storage)
        complete = _finished(storage, study_id)
        pruned = _finished(storage, study_id, TrialState.PRUNED)
        running = claim_one(storage, study_id)
        failed = _finished(storage, study_id, TrialState.FAIL)
        waiting = storage.create_trial(study_id)
        everything = storage.get_trials(study_id)
        assert [t.number for t in everything] == [0, 1, 2, 3, 4]
        assert [t.trial_id for t in everything] == [
            complete.trial_id, pruned.trial_id, running.trial_id, failed.trial_id,
            waiting.trial_id]
        finished = storage.get_trials(study_id, states=(TrialState.COMPLETE, TrialState.FAIL))
        assert [t.trial_id for t in finished] == [complete.trial_id, failed.trial_id]
        assert [t.trial_id for t in storage.get_trials(study_id, [TrialState.WAITING])] == [
            waiting.trial_id]
        assert storage.get_trials(study_id, states=()) == []

    def test_get_trial_id_by_number(self, storage: BaseStorage) -> None:
        study_id = _study(storage)
        other = _study(storage, "other")
        claim_one(storage, other)
        trials = [claim_one(storage, study_id) for _ in range(3)]
        for trial in trials:
            assert storage.get_trial_id(study_id, trial.number) == trial.trial_id
        with pytest.raises(TrialNotFoundError):
            storage.get_trial_id(study_id, 3)

    def test_get_trials_since_returns_newer_and_listed_trials(self, storage: BaseStorage) -> None:
        study_id = _study(storage)
        other = _study(storage, "other")
        ids = []
        for _ in range(5):
            ids.append(claim_one(storage, study_id).trial_id)
            claim_one(storage, other)  # interleaved ids of another study never show up
        assert [t.trial_id for t in storage.get_trials_since(study_id, -1)] == ids
        since = storage.get_trials_since(study_id, ids[2], also_ids=[ids[0]])
        assert [t.trial_id for t in since] == [ids[0], ids[3], ids[4]]
        assert storage.get_trials_since(study_id, ids[4]) == []
        # listing an id that is also newer must not repeat it
        since = storage.get_trials_since(study_id, ids[3], also_ids=[ids[4], ids[1]])
        assert [t.trial_id for t in since] == [ids[1], ids[4]]

    def test_get_trials_since_shows_the_current_state_of_listed_trials(
            self, storage: BaseStorage) -> None:
        study_id = _study(storage)
        trial = claim_one(storage, study_id)
        storage.finish_trial(trial.trial_id, TrialState.COMPLETE, [3.0])
        (seen,) = storage.get_trials_since(study_id, trial.trial_id, also_ids=[trial.trial_id])
        assert seen.state == TrialState.COMPLETE and seen.values == (3.0,)

    def test_count_trials_with_and_without_states(self, storage: BaseStorage) -> None:
        study_id = _study(storage)
        other = _study(storage, "other")
        _finished(storage, study_id)
        _finished(storage, study_id)
        _finished(storage, study_id, TrialState.PRUNED)
        claim_one(storage, study_id)
        storage.create_trial(study_id)
        _finished(storage, other)
        assert storage.count_trials(study_id) == 5
        assert storage.count_trials(study_id, [TrialState.COMPLETE]) == 2
        assert storage.count_trials(study_id, (TrialState.RUNNING, TrialState.WAITING)) == 2
        assert storage.count_trials(study_id, []) == 0
        assert storage.count_trials(other) == 1

    def test_returned_trials_are_snapshots(self, storage: BaseStorage) -> None:
        study_id = _study(storage)
        trial = claim_one(storage, study_id)
        before = storage.get_trial(trial.trial_id)
        storage.set_trial_attr(trial.trial_id, "k", 1)
        storage.finish_trial(trial.trial_id, TrialState.COMPLETE, [1.0])
        assert before.state == TrialState.RUNNING and before.user_attrs == {}

    # -- claimed keys --------------------------------------------------------------------------

    def test_claim_key_is_first_come_per_study(self, storage: BaseStorage) -> None:
        study_id = _study(storage)
        other = _study(storage, "other")
        first, second = claim_one(storage, study_id), claim_one(storage, study_id)
        assert storage.claim_key(study_id, "grid:0", first.trial_id) is True
        assert storage.claim_key(study_id, "grid:0", second.trial_id) is False
        assert storage.claim_key(study_id, "grid:0", first.trial_id) is False
        assert storage.claim_key(study_id, "grid:1", second.trial_id) is True
        assert storage.claim_key(other, "grid:0", claim_one(storage, other).trial_id) is True

    # -- listing studies -----------------------------------------------------------------------

    def test_list_studies_of_empty_storage(self, storage: BaseStorage) -> None:
        assert storage.list_studies() == []

    def test_list_studies_summarises_each_study_in_id_order(self, storage: BaseStorage) -> None:
        ids = [_study(storage, name) for name in ("b", "a", "c")]
        storage.set_study_attr(ids[1], "team", "ml")
        storage.set_study_attr(ids[1], "sys", 1, system=True)
        for _ in range(2):
            claim_one(storage, ids[1])
        summaries = storage.list_studies()
        assert [s.study_id for s in summaries] == ids
        assert [s.study_name for s in summaries] == ["b", "a", "c"]
        assert [s.n_trials for s in summaries] == [0, 2, 0]
        assert summaries[1].user_attrs == {"team": "ml"}
        assert summaries[1].system_attrs == {"sys": 1}
        assert all(s.directions == (MIN,) and s.best_trial is None for s in summaries)
        assert all(s.datetime_start is not None for s in summaries)

    @pytest.mark.parametrize("direction, best_value", [(MIN, -2.0), (MAX, 8.0)])
    def test_list_studies_best_trial_follows_the_direction(
            self, storage: BaseStorage, direction: StudyDirection, best_value: float) -> None:
        study_id = _study(storage, directions=[direction])
        for value in (3.0, -2.0, 8.0, 0.5):
            _finished(storage, study_id, values=(value,))
        # neither a PRUNED trial with a better value nor unfinished trials count
        pruned = claim_one(storage, study_id)
        better = -100.0 if direction == MIN else 100.0
        storage.finish_trial(pruned.trial_id, TrialState.PRUNED, [better])
        _finished(storage, study_id, TrialState.FAIL)
        claim_one(storage, study_id)
        (summary,) = storage.list_studies()
        assert summary.n_trials == 7
        assert summary.best_trial is not None
        assert summary.best_trial.values == (best_value,)
        assert summary.best_trial.state == TrialState.COMPLETE

    def test_list_studies_best_trial_prefers_the_earliest_on_ties(
            self, storage: BaseStorage) -> None:
        study_id = _study(storage)
        first = _finished(storage, study_id, values=(1.0,))
        _finished(storage, study_id, values=(1.0,))
        (summary,) = storage.list_studies()
        assert summary.best_trial is not None and summary.best_trial.number == first.number

    def test_list_studies_has_no_best_trial_for_multi_objective(
            self, storage: BaseStorage) -> None:
        study_id = _study(storage, directions=[MIN, MAX])
        _finished(storage, study_id, values=(1.0, 2.0))
        (summary,) = storage.list_studies()
        assert summary.directions == (MIN, MAX)
        assert summary.n_trials == 1 and summary.best_trial is None

    # -- concurrency ---------------------------------------------------------------------------

    def test_concurrent_claims_never_share_a_trial(self, storage: BaseStorage) -> None:
        study_id = _study(storage)
        n_threads, per_thread = 8, 15
        claimed: list[list[FrozenTrial]] = [[] for _ in range(n_threads)]

        def claim(i: int) -> None:
            for _ in range(per_thread):
                trial = claim_one(storage, study_id, worker=f"thread-{i}")
                claimed[i].append(trial)
                storage.finish_trial(trial.trial_id, TrialState.COMPLETE, [float(i)])

        _run_threads(n_threads, claim)
        every = [t for trials in claimed for t in trials]
        assert len({t.trial_id for t in every}) == n_threads * per_thread
        assert sorted(t.number for t in every) == list(range(n_threads * per_thread))
        stored = storage.get_trials(study_id)
        assert [t.number for t in stored] == list(range(n_threads * per_thread))
        assert all(t.state == TrialState.COMPLETE for t in stored)

    def test_concurrent_claims_take_each_waiting_trial_once(self, storage: BaseStorage) -> None:
        study_id = _study(storage)
        waiting = {storage.create_trial(study_id).trial_id for _ in range(24)}
        n_threads = 6
        claimed: list[list[int]] = [[] for _ in range(n_threads)]

        def claim(i: int) -> None:
            for _ in range(6):
                claimed[i].append(claim_one(storage, study_id).trial_id)

        _run_threads(n_threads, claim)
        every = [trial_id for ids in claimed for trial_id in ids]
        assert len(every) == len(set(every)) == 36
        assert waiting <= set(every)
        assert storage.count_trials(study_id, [TrialState.WAITING]) == 0
        assert sorted(t.number for t in storage.get_trials(study_id)) == list(range(36))

    def test_concurrent_claim_key_has_one_winner(self, storage: BaseStorage) -> None:
        study_id = _study(storage)
        trials = [claim_one(storage, study_id) for _ in range(8)]
        wins: list[bool] = [False] * len(trials)

        def claim(i: int) -> None:
            wins[i] = storage.claim_key(study_id, "only-one", trials[i].trial_id)

        _run_threads(len(trials), claim)
        assert sum(wins) == 1
