"""The pruner contract: behaviours every ``BasePruner`` implementation must keep.

A pruner is judged on scripted studies run through the public API (``ask``, ``report``,
``should_prune``, ``tell``): a history of finished trials, with NaN values, missing steps,
an infinity, FAIL and PRUNED trials, then candidate trials whose decisions are recorded step
by step. The contract checks that a decision depends on the history alone: not on whether
the pruner read it at once or one trial at a time, nor on a view built by hand instead of
the study's incremental one; that it repeats, also for a pruner shipped to another process
as the Ray backend ships it; that the best trial survives and the worst does not, never
before the warm-up; that a latest NaN prunes at once; and that a multi-objective study
works or gets a clear error.

Use it by subclassing ``PrunerContract`` in a test module and giving the subclass a
``make_pruner`` fixture, a function returning a fresh pruner; class attributes state where
pruners differ (``warmup_steps``, ``startup_trials``, ``prunes``, ``prunes_latest_nan``,
``multi_objective``)::

    from pipetune.testing.pruners import PrunerContract

    class TestMyPruner(PrunerContract):
        warmup_steps = 3

        @pytest.fixture
        def make_pruner(self):
            return lambda: MyPruner(warmup=3)
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import pipetune
from pipetune._imports import require
from pipetune.datatypes import FrozenTrial, TrialState
from pipetune.errors import PipetuneError
from pipetune.pruners import BasePruner
from pipetune.samplers import RandomSampler
from pipetune.testing._shipping import shipped

if TYPE_CHECKING:
    from pipetune.view import StudyView

pytest = require("pytest", "test")

__all__ = ["Curve", "Play", "PrunerContract", "play"]

PrunerFactory = Callable[[], BasePruner]
LAST_STEP = 11
STEPS = range(LAST_STEP + 1)
NAN, INF = math.nan, math.inf


@dataclasses.dataclass(frozen=True)
class Curve:
    """One trial of a scripted study: the values it reports, {step: value} (a float, or a
    tuple with one float per objective), and how it ends when it is part of the history."""

    values: Mapping[int, Any]
    state: TrialState = TrialState.COMPLETE

    def map(self, change: Callable[[float], Any]) -> Curve:
        return Curve({step: change(v) for step, v in self.values.items()}, self.state)


def falling(level: float, steps: Sequence[int] = STEPS, nan_at: Sequence[int] = (),
            state: TrialState = TrialState.COMPLETE) -> Curve:
    """A learning curve falling towards ``level``, reported at ``steps``, NaN at ``nan_at``."""
    return Curve({s: NAN if s in nan_at else level + 2.0 / (s + 1) for s in steps}, state)


def rising(level: float, steps: Sequence[int] = STEPS) -> Curve:
    """A curve getting worse from ``level``, as a run that diverges or overfits does."""
    return Curve({s: level + 0.1 * s for s in steps})


# Finished trials of every kind a pruner meets. Order matters: "auto" resources come from the
# lowest-numbered COMPLETE trial.
HISTORY = (
    falling(1.0), falling(2.0), falling(3.0),
    falling(2.5, steps=(0, 3, 7, 11)),  # steps missing
    falling(3.5, nan_at=(1, 4)),  # NaN at some steps
    falling(0.0, steps=range(6), state=TrialState.FAIL),  # better than all, but it crashed
    falling(7.0, steps=range(4), state=TrialState.PRUNED),
    Curve({0: NAN, 1: NAN, 2: NAN}, TrialState.PRUNED),  # diverged at once
    Curve({**falling(8.0, steps=range(5)).values, 5: INF}, TrialState.PRUNED),
    falling(4.0), falling(5.0), falling(6.0),
)
BEST = falling(-1.0)  # better than every trial of HISTORY at every step
WORST = rising(100.0)  # worse than every finite value of HISTORY, and getting worse
CANDIDATES = (
    falling(3.2), falling(4.5, steps=(0, 2, 5, 9, 11)), falling(2.2, nan_at=(3,)),
    WORST, falling(1.5), falling(5.5, steps=(1, 4, 8)), WORST, BEST,
)


def two_objectives(curve: Curve) -> Curve:
    """The curve for a study that minimizes its first and maximizes its second objective:
    (v, -v), so a trial better in one is better in both."""
    return curve.map(lambda v: (v, -v))


class PlainViewCheck(BasePruner):
    """Passes ``prune`` on to ``pruner``, then asks it again with the same view rebuilt as a
    test or a tool builds one by hand (no ``finished_log``, no history key), and records any
    decision that differs."""

    def __init__(self, pruner: BasePruner) -> None:
        self.pruner = pruner
        self.disagreements: list[tuple[int, int | None, bool, bool]] = []

    def prune(self, view: StudyView, trial: FrozenTrial) -> bool:
        decision = bool(self.pruner.prune(view, trial))
        plain = dataclasses.replace(view, finished_log=(), unfinished=(), history_key=0)
        again = bool(self.pruner.prune(plain, trial))
        if again != decision:
            self.disagreements.append((trial.number, trial.last_step, decision, again))
        return decision

    @property
    def needs_history(self) -> bool:
        return self.pruner.needs_history


def _run_trial(study: pipetune.Study, curve: Curve, ask_pruner: bool,
               end: TrialState | None = None) -> list[bool]:
    """Reports ``curve`` (asking the pruner after each report if told to) and ends the trial
    as ``end``, else as pruned or complete by the pruner's word."""
    trial = study.ask()
    decisions = []
    for step in sorted(curve.values):
        trial.report(curve.values[step], step)
        if ask_pruner:
            decisions.append(trial.should_prune())
    last = curve.values[max(curve.values)]
    if end is None:  # a run that ends on NaN without being pruned has failed
        end = TrialState.PRUNED if any(decisions) else \
            TrialState.FAIL if _has_nan(last) else TrialState.COMPLETE
    study.tell(trial, values=last if end == TrialState.COMPLETE else None, state=end)
    return decisions


@dataclasses.dataclass(frozen=True)
class Play:
    """What a scripted study gave: per candidate, the decision after each of its reports;
    and where a hand-built view got another decision than the study's own."""

    decisions: list[list[bool]]
    disagreements: list[tuple[int, int | None, bool, bool]]


def play(pruner: BasePruner, history: Sequence[Curve], candidates: Sequence[Curve],
         directions: Sequence[str] = ("minimize",), *, read_history_trial_by_trial: bool = False
         ) -> Play:
    """Runs ``history`` and then each of ``candidates`` in order in a new in-memory study
    with ``pruner``. The history's trials ask the pruner after each report only when
    ``read_history_trial_by_trial`` (the pruner then reads the history as it grows, one
    finished trial at a time; else at once, at the first candidate's first report); their
    answers are ignored, so the history is the same either way."""
    checker = PlainViewCheck(pruner)
    study = pipetune.create_study(pruner=checker, sampler=RandomSampler(seed=0),
                                  directions=list(directions))
    for curve in history:
        _run_trial(study, curve, read_history_trial_by_trial, end=curve.state)
    decisions = [_run_trial(study, curve, True) for curve in candidates]
    return Play(decisions, checker.disagreements)


def _has_nan(value: Any) -> bool:
    return any(math.isnan(v) for v in (value if isinstance(value, tuple) else (value,)))


class PrunerContract:
    """The behaviours of ``pipetune.pruners.BasePruner`` as tests over a ``make_pruner``
    fixture; subclasses provide it (see the module docstring)."""

    warmup_steps = 0  # no trial is pruned at a step below this (but for a latest NaN)
    startup_trials = 1  # nothing is pruned until this many are COMPLETE or PRUNED (0: no rule)
    prunes = True  # False for a pruner that never prunes
    prunes_latest_nan = True  # a trial whose latest value is NaN is pruned at once
    multi_objective = False  # False: a study with several objectives raises a clear error

    @pytest.fixture
    def make_pruner(self) -> PrunerFactory:
        raise NotImplementedError(
            "A PrunerContract subclass must define a 'make_pruner' fixture returning a "
            "function that makes a fresh pruner.")

    def _check_warmup(self, candidates: Sequence[Curve], decisions: list[list[bool]]) -> None:
        for number, (curve, verdicts) in enumerate(zip(candidates, decisions)):
            for step, pruned in zip(sorted(curve.values), verdicts):
                if step < self.warmup_steps and not _has_nan(curve.values[step]):
                    assert not pruned, f"candidate {number} pruned at step {step}, in the warm-up"

    # -- the trials it judges ------------------------------------------------------------------

    def test_a_lone_trial_that_improves_is_never_pruned(self, make_pruner: PrunerFactory) -> None:
        result = play(make_pruner(), [], [falling(1.0, steps=(0, 1, 4, 5, 9))])
        assert result.decisions == [[False] * 5]

    def test_a_latest_nan_prunes_at_once(self, make_pruner: PrunerFactory) -> None:
        """A diverged run does not come back: pruned at its NaN, whatever the history, the
        warm-up or the start-up; a NaN followed by numbers counts for nothing."""
        result = play(make_pruner(), [], [Curve({0: NAN}), Curve({0: 1.0, 1: 0.9, 2: NAN}),
                                          Curve({0: 3.0, 1: NAN, 2: 2.0})])
        nan = self.prunes_latest_nan
        assert result.decisions[0] == [nan]
        assert result.decisions[1] == [False, False, nan]
        assert result.decisions[2][1] == nan and result.decisions[2][2] is False

    def test_nans_missing_steps_and_failures_of_others_never_prune_the_best_trial(
            self, make_pruner: PrunerFactory) -> None:
        result = play(make_pruner(), HISTORY, [BEST])
        assert result.decisions == [[False] * len(BEST.values)]

    def test_the_worst_trial_is_pruned_but_not_in_the_warm_up(
            self, make_pruner: PrunerFactory) -> None:
        candidates = [WORST] * 4  # several: a pruner may spare some trials (Hyperband brackets)
        result = play(make_pruner(), HISTORY, candidates)
        self._check_warmup(candidates, result.decisions)
        assert any(any(verdicts) for verdicts in result.decisions) == self.prunes

    def test_nothing_is_pruned_before_the_start_up_trials_finished(
            self, make_pruner: PrunerFactory) -> None:
        if self.startup_trials == 0:
            pytest.skip("this pruner judges a trial on its own values")
        history = [falling(level) for level in range(self.startup_trials - 1)]
        result = play(make_pruner(), history, [WORST])
        assert result.decisions == [[False] * len(WORST.values)]

    # -- how it reads the history --------------------------------------------------------------

    def test_decisions_do_not_depend_on_how_the_history_was_read(
            self, make_pruner: PrunerFactory) -> None:
        at_once = play(make_pruner(), HISTORY, CANDIDATES)
        trial_by_trial = play(make_pruner(), HISTORY, CANDIDATES, read_history_trial_by_trial=True)
        assert trial_by_trial.decisions == at_once.decisions
        assert at_once.disagreements == [] and trial_by_trial.disagreements == []
        self._check_warmup(CANDIDATES, at_once.decisions)

    def test_maximizing_the_negated_values_gives_the_same_decisions(
            self, make_pruner: PrunerFactory) -> None:
        minimized = play(make_pruner(), HISTORY, CANDIDATES)
        maximized = play(make_pruner(), [c.map(lambda v: -v) for c in HISTORY],
                         [c.map(lambda v: -v) for c in CANDIDATES], ("maximize",))
        assert maximized.decisions == minimized.decisions

    def test_decisions_repeat_with_a_fresh_or_a_used_pruner(
            self, make_pruner: PrunerFactory) -> None:
        first = play(make_pruner(), HISTORY, CANDIDATES).decisions
        assert play(make_pruner(), HISTORY, CANDIDATES).decisions == first
        pruner = make_pruner()
        play(pruner, HISTORY[:5], CANDIDATES[:3])  # one pruner serving a second study
        assert play(pruner, HISTORY, CANDIDATES).decisions == first

    def test_a_shipped_pruner_decides_like_the_original(self, make_pruner: PrunerFactory) -> None:
        """The Ray backend pickles the study's pruner (fresh or used) for each task."""
        first = play(make_pruner(), HISTORY, CANDIDATES).decisions
        assert play(shipped(make_pruner()), HISTORY, CANDIDATES).decisions == first
        used = make_pruner()
        play(used, HISTORY, CANDIDATES)
        assert play(shipped(used), HISTORY, CANDIDATES).decisions == first

    # -- several objectives ----------------------------------------------------------------------

    def test_several_objectives_work_or_raise_a_clear_error(
            self, make_pruner: PrunerFactory) -> None:
        directions = ("minimize", "maximize")
        pruner = make_pruner()
        if not self.multi_objective:
            with pytest.raises(PipetuneError, match=type(pruner).__name__):
                play(pruner, [], [two_objectives(falling(1.0))], directions)
            return
        history = [two_objectives(curve) for curve in HISTORY]
        candidates = [two_objectives(curve) for curve in (*CANDIDATES, WORST, WORST)]
        at_once = play(pruner, history, candidates, directions)
        trial_by_trial = play(make_pruner(), history, candidates, directions,
                              read_history_trial_by_trial=True)
        assert trial_by_trial.decisions == at_once.decisions
        assert at_once.disagreements == [] and trial_by_trial.disagreements == []
        self._check_warmup(candidates, at_once.decisions)
        assert not any(at_once.decisions[CANDIDATES.index(BEST)])
        worst = [v for c, v in zip(candidates, at_once.decisions) if c == two_objectives(WORST)]
        assert any(any(verdicts) for verdicts in worst) == self.prunes
