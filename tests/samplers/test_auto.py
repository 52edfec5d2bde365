"""AutoSampler: which sampler a study gets by objectives, space and budget; and the names
of the GP, CMA-ES and auto samplers in YAML configs and on the command line."""

from __future__ import annotations

import numpy as np
import pytest

import pipetune
from pipetune.cli.optimize import make_sampler
from pipetune.launch.schema import parse_config
from pipetune.samplers import AutoSampler, CmaEsSampler, GPSampler, TPESampler


def _chosen(study: pipetune.Study) -> type:
    sampler = study.sampler
    assert isinstance(sampler, AutoSampler)
    return type(sampler.choose(study.run_interface.view()))


def fixed(trial) -> float:
    x = trial.suggest_float("x", -2, 2)
    kind = trial.suggest_categorical("kind", ["a", "b"])
    return x ** 2 + (kind == "b")


def test_fixed_single_objective_space_uses_the_gp_then_tpe():
    study = pipetune.create_study(sampler=AutoSampler(seed=0, gp_trials=15))
    study.optimize(fixed, n_trials=12)
    assert _chosen(study) is GPSampler
    assert study.best_value < 0.5
    study.optimize(fixed, n_trials=5)
    assert _chosen(study) is TPESampler
    assert len(study.trials) == 17


def test_conditional_space_and_several_objectives_use_tpe():
    def conditional(trial) -> float:
        if trial.suggest_categorical("model", ["a", "b"]) == "a":
            return trial.suggest_float("a", 0, 1)
        return trial.suggest_int("b", 0, 3)

    study = pipetune.create_study(sampler=AutoSampler(seed=0))
    study.optimize(conditional, n_trials=8)
    assert _chosen(study) is TPESampler
    both = pipetune.create_study(directions=["minimize", "minimize"], sampler=AutoSampler(seed=0))
    both.optimize(lambda t: (t.suggest_float("x", 0, 1), t.suggest_float("y", 0, 1)), n_trials=4)
    assert _chosen(both) is TPESampler


def test_a_study_naming_no_sampler_gets_the_auto_choice():
    study = pipetune.create_study()
    study.optimize(fixed, n_trials=12)
    assert _chosen(study) is GPSampler
    both = pipetune.create_study(directions=["minimize", "maximize"])
    both.optimize(lambda t: (t.suggest_float("x", 0, 1), t.suggest_float("y", 0, 1)), n_trials=3)
    assert _chosen(both) is TPESampler


def test_a_pruned_study_keeps_the_gp_until_gp_trials_finished_trials():
    def curve(trial) -> float:
        x = trial.suggest_float("x", -2, 2)
        for step in range(1, 4):
            trial.report(x * x + 1.0 / step, step=step)
            if step < 3 and trial.should_prune():
                raise pipetune.TrialPruned()
        return x * x + 1.0 / 3

    study = pipetune.create_study(sampler=AutoSampler(seed=0, gp_trials=20),
                                  pruner=pipetune.pruners.MedianPruner(n_startup_trials=2))
    study.optimize(curve, n_trials=19)
    assert any(t.state == pipetune.TrialState.PRUNED for t in study.trials)
    assert _chosen(study) is GPSampler
    # The GP's proposals (after its 10 start-up trials) crowd the minimum at x = 0.
    assert np.median([abs(t.params["x"]) for t in study.trials[10:]]) < 0.3
    study.optimize(curve, n_trials=1)  # 20 finished trials, COMPLETE and PRUNED together
    assert _chosen(study) is TPESampler


def test_same_seed_gives_the_same_trials():
    runs = []
    for _ in range(2):
        study = pipetune.create_study(sampler=AutoSampler(seed=4))
        study.optimize(fixed, n_trials=12)
        runs.append([t.params for t in study.trials])
    assert runs[0] == runs[1]


def test_bad_gp_budget_is_refused():
    with pytest.raises(pipetune.PipetuneError, match="gp_trials"):
        AutoSampler(gp_trials=-1)


def _trials(sampler, n_trials: int = 12) -> list[dict]:
    study = pipetune.create_study(sampler=sampler)
    study.optimize(fixed, n_trials=n_trials)
    return [t.params for t in study.trials]


@pytest.mark.parametrize("name, options, cls", [
    ("gp", {"seed": 1, "n_startup_trials": 5, "deterministic_objective": True}, GPSampler),
    ("cmaes", {"seed": 1, "sigma0": 0.2}, CmaEsSampler),
    ("auto", {"seed": 1, "gp_trials": 3}, AutoSampler),
])
def test_the_samplers_are_named_in_yaml_and_on_the_command_line(tmp_path, name, options, cls):
    """The YAML section builds the named sampler with every option it gives: its trials are
    those of ``cls(**options)``, and leaving out any one option would change them (so an
    option dropped on the way fails here). The command line passes its seed."""
    fields = ", ".join(f"{key}: {str(value).lower()}" for key, value in options.items())
    text = ("study: s\ncommand: [python, train.py]\nparams:\n  lr: {type: float, low: 0.001, "
            "high: 0.1, scale: log}\nobjective: {metric: loss, regex: 'loss=([0-9.]+)'}\n"
            f"sampler: {{name: {name}, {fields}}}\n")
    built = parse_config(text, "study.yaml", str(tmp_path)).build_sampler()
    assert type(built) is cls
    expected = _trials(cls(**options))
    assert _trials(built) == expected
    for left_out in options:
        others = {key: value for key, value in options.items() if key != left_out}
        assert _trials(cls(**others)) != expected, f"{left_out} changes nothing"
    from_cli = make_sampler(name, 3)
    assert type(from_cli) is cls and _trials(from_cli) == _trials(cls(seed=3))
