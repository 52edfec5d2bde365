"""A standalone run as a person meets it: its repr, the study it re-runs, and params recorded
in the domains of the trial whose params they are."""

from __future__ import annotations

import pytest

import pipetune
from pipetune.errors import InvalidArgumentError
from pipetune.storage import InMemoryStorage


def test_a_run_says_what_it_is() -> None:
    run = pipetune.start_run(storage=InMemoryStorage(), name="baseline")
    assert repr(run) == "<Run 'baseline' RUNNING>"
    run.end(0.5)
    assert repr(run) == "<Run 'baseline' COMPLETE>"


def test_a_run_names_the_study_it_reruns() -> None:
    storage = InMemoryStorage()
    pipetune.create_study(storage=storage, study_name="search")
    run = pipetune.start_run(storage=storage, name="search-final", parent="search")
    assert run.study.system_attrs["parent_study"] == "search"
    with pytest.raises(InvalidArgumentError, match="parent=study.study_name"):
        pipetune.start_run(storage=storage, parent=run.study)


def test_a_param_logged_with_a_trials_domain_reads_like_that_trial() -> None:
    storage = InMemoryStorage()
    study = pipetune.create_study(storage=storage, study_name="search")
    study.optimize(lambda t: t.suggest_float("lr", 1e-4, 1e-1, log=True)
                   + t.suggest_categorical("layers", [2, 3]), n_trials=3)
    best = study.best_trial
    with pipetune.start_run(storage=storage, parent="search") as run:
        for name, value in best.params.items():
            run.log_param(name, value, best.distributions[name])
        run.log_param("epochs", 50)  # what the re-run changes: a param of its own
    [recorded] = run.study.trials
    assert recorded.params == {**best.params, "epochs": 50}
    assert {n: recorded.distributions[n] for n in best.params} == best.distributions
    with pipetune.start_run(storage=storage) as outside, \
            pytest.raises(InvalidArgumentError, match="outside the domain given for it"):
        outside.log_param("layers", 4, best.distributions["layers"])
