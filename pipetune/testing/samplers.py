"""The sampler contract: behaviours every ``BaseSampler`` implementation must keep.

Studies, workers and the Ray backend rely on these promises rather than on any one algorithm,
so a new sampler is correct when it passes this suite: suggestions lie in their domain for
every kind of distribution, conditional params and changed domains work, pruned and failed
trials do not break it, a seed makes a study repeat (in this process and in another one, which
resumes the stored study), the hooks run in the order ``pipetune.samplers.base`` documents, and
a sampler shipped to another process as the Ray backend ships it draws as the original would.

Use it by subclassing ``SamplerContract`` in a test module and giving the subclass a
``make_sampler`` fixture: a function of a seed and of ``values`` returning a fresh sampler.
``values`` holds a few values per param the test's objective suggests, each inside every
domain that param is suggested with; a sampler over a finite set of candidates (a grid) takes
them from there, the others ignore it::

    from pipetune.testing.samplers import SamplerContract

    class TestMySampler(SamplerContract):
        @pytest.fixture
        def make_sampler(self):
            return lambda seed, values: MySampler(seed=seed)

Class attributes state where samplers differ: ``n_trials`` (keep it small for slow samplers,
but past their random start-up so the model is exercised), ``multi_objective`` (False: a
study with several objectives raises a ``PipetuneError`` naming the sampler) and ``finite``
(the sampler stops the study once its candidates are used up). The test in another process
unpickles the sampler there, so its class must be importable.
"""

from __future__ import annotations

import math
import subprocess
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pipetune
from pipetune._imports import require
from pipetune.datatypes import FrozenTrial, TrialState
from pipetune.distributions import (
    CategoricalDistribution,
    Distribution,
    FloatDistribution,
    IntDistribution,
    contains_external,
)
from pipetune.errors import PipetuneError
from pipetune.samplers import BaseSampler
from pipetune.testing._shipping import shipped, shipping_bytes

if TYPE_CHECKING:
    from pipetune.view import StudyView

pytest = require("pytest", "test")

__all__ = ["ObjectiveCrash", "RESUMED_STUDIES", "SamplerContract"]

SamplerFactory = Callable[[int, Mapping[str, Sequence[Any]]], BaseSampler]
SEED = 20240607

# One param of every kind of domain; the single-valued ones are never asked of the sampler,
# but they sit in the history it reads.
EVERY_KIND: dict[str, Distribution] = {
    "float": FloatDistribution(-2.5, 7.25),
    "float_log": FloatDistribution(1e-6, 1.0, log=True),
    "float_step": FloatDistribution(0.0, 1.0, step=0.125),
    "float_single": FloatDistribution(0.5, 0.5),
    "int": IntDistribution(-10, 10),
    "int_log": IntDistribution(1, 1024, log=True),
    "int_step": IntDistribution(0, 100, step=5),
    "int_single": IntDistribution(3, 3),
    "categorical_str": CategoricalDistribution(("adam", "sgd", "rmsprop")),
    "categorical_mixed": CategoricalDistribution((None, True, 1, 1.5, "1")),
    "categorical_bool": CategoricalDistribution((False, True)),
    "categorical_single": CategoricalDistribution((42,)),
}
# A conditional space: each model has params of its own ("none" has none), and "width" is
# suggested with a narrower domain in odd-numbered trials.
MODEL = CategoricalDistribution(("linear", "tree", "none"))
BRANCHES: dict[str, dict[str, Distribution]] = {
    "linear": {"alpha": FloatDistribution(1e-4, 1.0, log=True),
               "penalty": CategoricalDistribution((None, "l1", "l2"))},
    "tree": {"depth": IntDistribution(1, 8), "min_leaf": FloatDistribution(0.0, 0.5, step=0.05)},
    "none": {},
}
WIDTH_WIDE, WIDTH_NARROW = IntDistribution(1, 8), IntDistribution(1, 4)
SMALL: dict[str, Distribution] = {"x": IntDistribution(0, 2),
                                  "c": CategoricalDistribution(("a", "b"))}

# Values per param for a sampler over a finite set (a grid): a few, inside every domain the
# param is suggested with, so that the grid stays small.
EVERY_KIND_VALUES: dict[str, tuple] = {
    "float": (-2.5, 7.25), "float_log": (1e-6, 1e-3), "float_step": (0.375, 1.0),
    "float_single": (0.5,), "int": (-10, 3), "int_log": (1, 64), "int_step": (0, 35),
    "int_single": (3,), "categorical_str": ("adam", "rmsprop"),
    "categorical_mixed": (None, True, 1, "1"), "categorical_bool": (False, True),
    "categorical_single": (42,),
}
CONDITIONAL_VALUES: dict[str, tuple] = {
    "model": ("linear", "tree", "none"), "alpha": (0.01,), "penalty": (None, "l2"),
    "depth": (1, 8), "min_leaf": (0.25,), "width": (1, 4),
}
MIXED_VALUES = {**EVERY_KIND_VALUES, **CONDITIONAL_VALUES}
SMALL_VALUES: dict[str, tuple] = {"x": (0, 1, 2), "c": ("a", "b")}


class ObjectiveCrash(Exception):
    """What ``mixed_objective`` raises for the trials it fails on purpose."""


# -- objectives (module level, so that another process can import them) -----------------------


def suggest(trial: pipetune.Trial, name: str, distribution: Distribution) -> Any:
    """``trial``'s value for ``name`` over ``distribution``, through the public suggest API."""
    if isinstance(distribution, CategoricalDistribution):
        return trial.suggest_categorical(name, list(distribution.choices))
    if isinstance(distribution, IntDistribution):
        return trial.suggest_int(name, distribution.low, distribution.high,
                                 step=distribution.step, log=distribution.log)
    return trial.suggest_float(name, distribution.low, distribution.high,
                               step=distribution.step, log=distribution.log)


def _position(distribution: Distribution, value: Any) -> float:
    """Where ``value`` lies in its domain, from 0 (low, first choice) to 1."""
    if isinstance(distribution, CategoricalDistribution):
        index = distribution.index_of(value)
        assert index is not None, f"{value!r} is not one of {distribution.choices}"
        return index / max(1, len(distribution.choices) - 1)
    if distribution.single():
        return 0.5
    if distribution.log:
        return math.log(value / distribution.low) / math.log(distribution.high / distribution.low)
    return (value - distribution.low) / (distribution.high - distribution.low)


def _distance(trial: pipetune.Trial, space: Mapping[str, Distribution], target: float) -> float:
    """Suggests every param of ``space``; the squared distance of their positions to ``target``."""
    return sum((_position(d, suggest(trial, name, d)) - target) ** 2 for name, d in space.items())


def every_kind_objective(trial: pipetune.Trial) -> float:
    return _distance(trial, EVERY_KIND, 0.3)


def conditional_objective(trial: pipetune.Trial) -> float:
    model = suggest(trial, "model", MODEL)
    width = WIDTH_NARROW if trial.number % 2 else WIDTH_WIDE
    return (_distance(trial, BRANCHES[model], 0.3) + _distance(trial, {"width": width}, 0.3)
            + (0.5 if model == "none" else 0.0))


def mixed_objective(trial: pipetune.Trial) -> float:
    """Every kind of param, a conditional space and a changed domain; trials numbered 3 mod 5
    are pruned after one report and trials numbered 5 mod 7 crash (``ObjectiveCrash``)."""
    score = every_kind_objective(trial) + conditional_objective(trial)
    if trial.number % 5 == 3:
        trial.report(score, 0)
        raise pipetune.TrialPruned()
    if trial.number % 7 == 5:
        raise ObjectiveCrash(f"trial {trial.number} crashes on purpose")
    return score


def two_objectives(trial: pipetune.Trial) -> tuple[float, float]:
    """Minimize the distance to one point, maximize the distance to another."""
    first = every_kind_objective(trial)
    return first, sum((_position(d, trial.params[n]) - 0.8) ** 2 for n, d in EVERY_KIND.items())


def small_objective(trial: pipetune.Trial) -> float:
    return _distance(trial, SMALL, 0.0)


# -- recording the hooks -------------------------------------------------------------------------


class HookRecorder(BaseSampler):
    """Passes every hook on to ``sampler`` and records the call: (hook, trial number, details),
    details being what the contract checks (the param and domain asked for, what came back)."""

    def __init__(self, sampler: BaseSampler) -> None:
        self.sampler = sampler
        self.calls: list[tuple[str, int, dict[str, Any]]] = []

    def _record(self, hook: str, trial: FrozenTrial, **details: Any) -> dict[str, Any]:
        entry: dict[str, Any] = dict(details)
        self.calls.append((hook, trial.number, entry))
        return entry

    def before_trial(self, view: StudyView, trial: FrozenTrial) -> dict[str, Any]:
        self._record("before_trial", trial)
        return self.sampler.before_trial(view, trial)

    def infer_relative_search_space(self, view: StudyView,
                                    trial: FrozenTrial) -> dict[str, Distribution]:
        entry = self._record("infer_relative_search_space", trial)
        entry["space"] = self.sampler.infer_relative_search_space(view, trial)
        return entry["space"]

    def sample_relative(self, view: StudyView, trial: FrozenTrial,
                        search_space: dict[str, Distribution]) -> dict[str, Any]:
        entry = self._record("sample_relative", trial, space=dict(search_space))
        entry["params"] = self.sampler.sample_relative(view, trial, search_space)
        return entry["params"]

    def sample_independent(self, view: StudyView, trial: FrozenTrial, name: str,
                           distribution: Distribution) -> Any:
        entry = self._record("sample_independent", trial, name=name, distribution=distribution)
        entry["value"] = self.sampler.sample_independent(view, trial, name, distribution)
        return entry["value"]

    def after_trial(self, view: StudyView, trial: FrozenTrial, state: TrialState,
                    values: Sequence[float] | None) -> dict[str, Any] | None:
        self._record("after_trial", trial, state=state, values=values)
        return self.sampler.after_trial(view, trial, state, values)

    def is_exhausted(self, *args: Any) -> bool:
        return self.sampler.is_exhausted(*args)

    @property
    def needs_history(self) -> bool:
        return self.sampler.needs_history

    def by_trial(self) -> dict[int, list[tuple[str, dict[str, Any]]]]:
        calls: dict[int, list[tuple[str, dict[str, Any]]]] = {}
        for hook, number, details in self.calls:
            calls.setdefault(number, []).append((hook, details))
        return calls


def assert_in_domain(where: str, name: str, distribution: Distribution, value: Any) -> None:
    """A value a sampler produced must lie in its domain as ``contains_external`` judges it: a
    number (not a bool) within the bounds and on the step grid, or one of the choices (True and
    1 being different choices)."""
    assert contains_external(distribution, value), \
        f"{where}: {name}={value!r} lies outside {distribution!r}"


# -- running studies -------------------------------------------------------------------------------


def run_study(sampler: BaseSampler, objective: Callable[[pipetune.Trial], Any], n_trials: int,
              directions: Sequence[str] = ("minimize",), *, storage: Any = None,
              study_name: str | None = None) -> tuple[pipetune.Study, HookRecorder]:
    """Runs ``n_trials`` of ``objective`` with ``sampler`` behind a ``HookRecorder``, in a new
    in-memory study unless ``storage`` and ``study_name`` name one to create or go on with;
    ``ObjectiveCrash`` fails a trial and the run goes on."""
    recorder = HookRecorder(sampler)
    study = pipetune.create_study(storage=storage, study_name=study_name, sampler=recorder,
                                  directions=list(directions), load_if_exists=True)
    study.optimize(objective, n_trials=n_trials, catch=(ObjectiveCrash,))
    return study, recorder


def params_of(study: pipetune.Study) -> list[dict[str, Any]]:
    """Each trial's params, with each value's type, so that True and 1 differ."""
    return [{name: (type(v).__name__, v) for name, v in t.params.items()} for t in study.trials]


def check_suggestions(study: pipetune.Study, recorder: HookRecorder) -> None:
    """Every value the sampler returned and every stored param lies in its domain."""
    for number, calls in recorder.by_trial().items():
        for hook, details in calls:
            if hook == "sample_relative":
                assert set(details["params"]) <= set(details["space"]), \
                    f"trial {number}: sample_relative returned params outside its search space"
                for name, value in details["params"].items():
                    assert_in_domain(f"trial {number} sample_relative", name,
                                     details["space"][name], value)
            elif hook == "sample_independent":
                assert_in_domain(f"trial {number} sample_independent", details["name"],
                                 details["distribution"], details["value"])
    for trial in study.trials:
        for name, value in trial.params.items():
            assert_in_domain(f"trial {trial.number}", name, trial.distributions[name], value)


# The studies a new process resumes: a conditional one with pruned and failed trials, and one
# over a fixed space (where AutoSampler hands over to the GP).
RESUMED_STUDIES: dict[str, Callable[[pipetune.Trial], Any]] = {
    "mixed": mixed_objective, "every_kind": every_kind_objective}

# Run in another process: resumes each of those studies, stored at the given URL, with a fresh
# copy of the shipped sampler for a few trials.
_RESUME = """
import pickle, sys
import pipetune
from pipetune.testing.samplers import RESUMED_STUDIES, ObjectiveCrash

sampler_file, url, n_trials = sys.argv[1:]
with open(sampler_file, "rb") as file:
    sampler_bytes = file.read()
for name, objective in RESUMED_STUDIES.items():
    study = pipetune.load_study(study_name=name, storage=url,
                                sampler=pickle.loads(sampler_bytes))
    study.optimize(objective, n_trials=int(n_trials), catch=(ObjectiveCrash,))
"""


class SamplerContract:
    """The behaviours of ``pipetune.samplers.BaseSampler`` as tests over a ``make_sampler``
    fixture; subclasses provide it (see the module docstring)."""

    n_trials = 14  # per study; past the random start-up of the sampler under test
    multi_objective = True  # False: a study with several objectives raises a clear error
    finite = False  # True: each combination of ``values`` is proposed once, then the study stops

    @pytest.fixture
    def make_sampler(self) -> SamplerFactory:
        raise NotImplementedError(
            "A SamplerContract subclass must define a 'make_sampler' fixture returning a "
            "function of (seed, values) that makes a fresh sampler.")

    # -- domains -------------------------------------------------------------------------------

    def test_every_kind_of_domain_gets_values_inside_it(self, make_sampler: SamplerFactory) -> None:
        study, recorder = run_study(make_sampler(SEED, EVERY_KIND_VALUES), every_kind_objective,
                                    self.n_trials)
        assert [t.state for t in study.trials] == [TrialState.COMPLETE] * self.n_trials
        assert all(set(t.params) == set(EVERY_KIND) for t in study.trials)
        check_suggestions(study, recorder)

    def test_conditional_params_appear_only_in_their_branch(
            self, make_sampler: SamplerFactory) -> None:
        study, recorder = run_study(make_sampler(SEED, CONDITIONAL_VALUES), conditional_objective,
                                    self.n_trials)
        for trial in study.trials:
            assert trial.state == TrialState.COMPLETE
            assert set(trial.params) == {"model", "width", *BRANCHES[trial.params["model"]]}
            width = WIDTH_NARROW if trial.number % 2 else WIDTH_WIDE
            assert trial.distributions["width"] == width
        check_suggestions(study, recorder)  # the narrower width included

    def test_pruned_and_failed_trials_do_not_disturb_sampling(
            self, make_sampler: SamplerFactory) -> None:
        study, recorder = run_study(make_sampler(SEED, MIXED_VALUES), mixed_objective,
                                    self.n_trials)
        expected = [TrialState.PRUNED if n % 5 == 3 else TrialState.FAIL if n % 7 == 5
                    else TrialState.COMPLETE for n in range(self.n_trials)]
        assert [t.state for t in study.trials] == expected
        check_suggestions(study, recorder)

    def test_trials_running_at_the_same_time_get_values_inside_their_domain(
            self, make_sampler: SamplerFactory) -> None:
        """As workers run them: trials start together, and a later one may suggest its params
        and finish before an earlier one has suggested anything."""
        recorder = HookRecorder(make_sampler(SEED, EVERY_KIND_VALUES))
        study = pipetune.create_study(sampler=recorder)
        while len(study.trials) < self.n_trials:
            running = [study.ask() for _ in range(3)]
            for trial in reversed(running):
                study.tell(trial, every_kind_objective(trial))
        assert all(t.state == TrialState.COMPLETE for t in study.trials)
        check_suggestions(study, recorder)

    # -- seeds ---------------------------------------------------------------------------------

    def test_the_same_seed_repeats_the_study(self, make_sampler: SamplerFactory) -> None:
        first, _ = run_study(make_sampler(SEED, MIXED_VALUES), mixed_objective, self.n_trials)
        second, _ = run_study(make_sampler(SEED, MIXED_VALUES), mixed_objective, self.n_trials)
        assert params_of(second) == params_of(first)
        assert [t.state for t in second.trials] == [t.state for t in first.trials]

    def test_another_seed_gives_other_params(self, make_sampler: SamplerFactory) -> None:
        first, _ = run_study(make_sampler(SEED, MIXED_VALUES), mixed_objective, self.n_trials)
        other, _ = run_study(make_sampler(SEED + 1, MIXED_VALUES), mixed_objective,
                             self.n_trials)
        assert params_of(other) != params_of(first)

    def test_a_sampler_that_served_one_study_serves_the_next_like_a_fresh_one(
            self, make_sampler: SamplerFactory) -> None:
        values = {**MIXED_VALUES, **SMALL_VALUES}
        sampler = make_sampler(SEED, values)
        run_study(sampler, small_objective, 5)
        reused, _ = run_study(sampler, mixed_objective, self.n_trials)
        fresh, _ = run_study(make_sampler(SEED, values), mixed_objective, self.n_trials)
        assert params_of(reused) == params_of(fresh)

    def test_another_process_resuming_a_study_draws_the_same_params(
            self, make_sampler: SamplerFactory, tmp_path: Path) -> None:
        """The documented promise: every draw derives from the seed, the trial number and the
        stored history, so a study resumed by a new process goes on as if never stopped. Two
        studies (see ``RESUMED_STUDIES``) are resumed by one process."""
        more = 3
        url = f"sqlite:///{tmp_path / 'studies.db'}"
        try:
            references, resumed = {}, {}
            for name, objective in RESUMED_STUDIES.items():
                references[name], _ = run_study(make_sampler(SEED, MIXED_VALUES), objective,
                                                self.n_trials + more)
                resumed[name], _ = run_study(make_sampler(SEED, MIXED_VALUES), objective,
                                             self.n_trials, storage=url, study_name=name)
            sampler_file = tmp_path / "sampler.pickle"
            sampler_file.write_bytes(shipping_bytes(make_sampler(SEED, MIXED_VALUES)))
            process = subprocess.run(
                [sys.executable, "-c", _RESUME, str(sampler_file), url, str(more)],
                capture_output=True, text=True, timeout=300)
            assert process.returncode == 0, process.stderr[-4000:]
            for name in RESUMED_STUDIES:
                assert params_of(resumed[name]) == params_of(references[name]), name
        finally:
            pipetune.get_storage(url).close()

    # -- the interface -------------------------------------------------------------------------

    def test_hooks_run_in_the_documented_order(self, make_sampler: SamplerFactory) -> None:
        """before_trial -> infer_relative_search_space -> sample_relative (only for a non-empty
        space) -> sample_independent for the params the joint sample did not cover ->
        after_trial, each trial once, enqueued, pruned and failed ones included."""
        recorder = HookRecorder(make_sampler(SEED, MIXED_VALUES))
        study = pipetune.create_study(sampler=recorder)
        study.enqueue_trial({"float": 0.0, "model": "tree"})
        study.optimize(mixed_objective, n_trials=self.n_trials, catch=(ObjectiveCrash,))
        trials = {t.number: t for t in study.trials}
        calls = recorder.by_trial()
        assert sorted(calls) == sorted(trials)
        for number, trial_calls in calls.items():
            hooks = [hook for hook, _ in trial_calls]
            where = f"trial {number}: {hooks}"
            assert hooks[0] == "before_trial" and hooks.count("before_trial") == 1, where
            assert hooks[-1] == "after_trial" and hooks.count("after_trial") == 1, where
            assert hooks.count("infer_relative_search_space") <= 1, where
            assert hooks.count("sample_relative") <= 1, where
            inferred: dict[str, Distribution] = {}
            relative: dict[str, Any] = {}
            if "infer_relative_search_space" in hooks:
                at = hooks.index("infer_relative_search_space")
                inferred = trial_calls[at][1]["space"]
                assert "sample_independent" not in hooks[:at], where
                if inferred:
                    assert hooks[at + 1] == "sample_relative", where
                    assert trial_calls[at + 1][1]["space"] == inferred, where
                    relative = trial_calls[at + 1][1]["params"]
            if not inferred:
                assert "sample_relative" not in hooks, where
            for hook, details in trial_calls:
                if hook == "sample_independent" and details["name"] in relative:
                    assert inferred[details["name"]] != details["distribution"], \
                        f"{where}: {details['name']} was sampled twice"
            after = trial_calls[-1][1]
            assert after["state"] == trials[number].state, where
            told = None if after["values"] is None else tuple(after["values"])
            assert told == trials[number].values, where
        assert trials[0].params["float"] == 0.0 and trials[0].params["model"] == "tree"
        check_suggestions(study, recorder)

    def test_a_shipped_sampler_draws_like_the_original(self, make_sampler: SamplerFactory) -> None:
        """The Ray backend pickles the study's sampler (fresh or used) for each task; the copy
        must draw what the original would have drawn next."""
        original, _ = run_study(make_sampler(SEED, MIXED_VALUES), mixed_objective, self.n_trials)
        copy, _ = run_study(shipped(make_sampler(SEED, MIXED_VALUES)), mixed_objective,
                            self.n_trials)
        assert params_of(copy) == params_of(original)

        used = make_sampler(SEED, MIXED_VALUES)
        storage, twin_storage = pipetune.InMemoryStorage(), pipetune.InMemoryStorage()
        run_study(used, mixed_objective, self.n_trials - 3, storage=storage, study_name="s")
        run_study(make_sampler(SEED, MIXED_VALUES), mixed_objective, self.n_trials - 3,
                  storage=twin_storage, study_name="s")
        copy = shipped(used)
        went_on, _ = run_study(used, mixed_objective, 3, storage=storage, study_name="s")
        twin, _ = run_study(copy, mixed_objective, 3, storage=twin_storage, study_name="s")
        assert params_of(twin) == params_of(went_on)

    def test_several_objectives_work_or_raise_a_clear_error(
            self, make_sampler: SamplerFactory) -> None:
        directions = ("minimize", "maximize")
        sampler = make_sampler(SEED, EVERY_KIND_VALUES)
        if not self.multi_objective:
            study = pipetune.create_study(sampler=sampler, directions=list(directions))
            with pytest.raises(PipetuneError, match=type(sampler).__name__):
                study.optimize(two_objectives, n_trials=self.n_trials)
            assert all(t.state.is_finished() for t in study.trials)  # nothing left RUNNING
            return
        study, recorder = run_study(sampler, two_objectives, self.n_trials, directions)
        assert [t.state for t in study.trials] == [TrialState.COMPLETE] * self.n_trials
        check_suggestions(study, recorder)
        again, _ = run_study(make_sampler(SEED, EVERY_KIND_VALUES), two_objectives,
                             self.n_trials, directions)
        assert params_of(again) == params_of(study)

    def test_stops_the_study_only_when_its_candidates_are_used_up(
            self, make_sampler: SamplerFactory) -> None:
        study = pipetune.create_study(sampler=make_sampler(SEED, SMALL_VALUES))
        result = study.optimize(small_objective, n_trials=12)
        if not self.finite:
            assert result.n_trials == 12 and result.stop_reason == pipetune.StopReason.N_TRIALS
            return
        points = [(t.params["x"], t.params["c"]) for t in study.trials]
        assert result.stop_reason == pipetune.StopReason.SEARCH_SPACE_EXHAUSTED
        assert len(set(points)) == len(points) == math.prod(len(v) for v in SMALL_VALUES.values())
        again = study.optimize(small_objective, n_trials=12)
        assert again.n_trials == 0
        assert again.stop_reason == pipetune.StopReason.SEARCH_SPACE_EXHAUSTED
