"""Hand-built study histories for the pruner tests.

``history`` builds ``FrozenTrial`` and ``StudyView`` objects directly. It runs every test twice:
once with a view as a test would build it by hand (no ``finished_log``), once with a view like
the study's cached history gives (finished trials in ``finished_log``, a ``history_key``), so the
pruners' incremental indexes are checked against a plain recomputation.

``end_to_end`` runs a real study with a pruner on learning curves and checks the outcome.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from typing import Any

import pytest

import pipetune
from pipetune.datatypes import FrozenTrial, StudyDirection, TrialState
from pipetune.view import StudyView


class History:
    def __init__(self, incremental: bool) -> None:
        self.incremental = incremental
        self._keys = itertools.count(1)

    @staticmethod
    def trial(number: int, values: dict[int, Any] | Iterable[Any],
              state: str = "COMPLETE") -> FrozenTrial:
        """A trial reporting ``values`` ({step: value}, or a list for steps 0, 1, ...)."""
        if not isinstance(values, dict):
            values = dict(enumerate(values))
        state_ = TrialState.parse(state)
        final = None
        if state_ == TrialState.COMPLETE and values:
            last = values[max(values)]
            final = tuple(last) if isinstance(last, tuple) else (last,)
        return FrozenTrial(number=number, trial_id=number + 100, state=state_, values=final,
                           intermediate_values=dict(values))

    def view(self, trials: Iterable[FrozenTrial],
             directions: Iterable[str] = ("minimize",)) -> StudyView:
        trials = tuple(sorted(trials, key=lambda t: t.number))
        parsed = tuple(StudyDirection.parse(d) for d in directions)
        if not self.incremental:
            return StudyView("s", parsed, trials, claim_key=lambda k, i: True)
        return StudyView(
            "s", parsed, trials, claim_key=lambda k, i: True,
            finished_log=tuple(t for t in trials if t.state.is_finished()),
            unfinished=tuple(t for t in trials if not t.state.is_finished()),
            history_key=next(self._keys))


@pytest.fixture(params=["hand-built", "incremental"])
def history(request: pytest.FixtureRequest) -> History:
    return History(incremental=request.param == "incremental")


def curve_objective(trial: pipetune.Trial) -> float:
    """30 steps of a learning curve that falls towards ``x``: smaller x, better at every step."""
    x = trial.suggest_float("x", 0.0, 1.0)
    for step in range(30):
        value = x + 1.0 / (step + 1)
        trial.report(value, step)
        if trial.should_prune():
            raise pipetune.TrialPruned()
    return value


@pytest.fixture
def end_to_end():
    """Runs 30 trials of ``objective`` with ``pruner`` through ``create_study`` + ``optimize``
    and checks what a user relies on: some trials are PRUNED and keep the value they last
    reported, and the best configuration (smallest x) ran to COMPLETE and is the best trial."""

    def run(pruner, objective=curve_objective, n_trials: int = 30) -> pipetune.Study:
        study = pipetune.create_study(pruner=pruner,
                                      sampler=pipetune.samplers.RandomSampler(seed=3))
        study.optimize(objective, n_trials=n_trials)
        pruned = study.get_trials(states=[TrialState.PRUNED])
        assert pruned, "nothing was pruned"
        for trial in pruned:
            assert trial.value == trial.intermediate_values[trial.last_step]
        best_config = min(study.trials, key=lambda t: t.params["x"])
        assert best_config.state == TrialState.COMPLETE
        assert study.best_trial.number == best_config.number
        return study

    return run
