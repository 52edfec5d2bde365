"""Pipelines: namespaced params, stage outputs reused across trials, pruning, run_best."""

from __future__ import annotations

import importlib
import json
import pickle
import sys
import textwrap
from collections import Counter

import numpy as np
import pytest

import pipetune
from pipetune.errors import InvalidArgumentError, ObjectiveError
from pipetune.pipeline import (
    Fidelity,
    Pipeline,
    StageCache,
    cache_hit_rate,
    stage,
    stage_records,
)

RAW = np.linspace(0.0, 1.0, 2001)


def make_pipeline(calls: Counter) -> Pipeline:
    """prepare (fixed space) -> features (define-by-run) -> train (reports epochs)."""

    @stage(space={"missing": ["drop", "mean"]})
    def prepare(raw, missing):
        calls["prepare"] += 1
        return raw[::2] if missing == "drop" else raw

    def features_space(trial):
        return {"bins": trial.suggest_categorical("bins", [8, 16])}

    @stage(space=features_space)
    def features(x, bins):
        calls["features"] += 1
        return np.floor(x * bins) / bins

    @stage(space={"lr": pipetune.FloatDistribution(1e-3, 1.0, log=True),
                  "optimizer": ["sgd", "adam"]})
    def train(x, lr, optimizer, progress, epochs=3):
        calls["train"] += 1
        loss = float(x.mean()) + abs(np.log10(lr) + 1.5)
        for epoch in range(epochs):
            progress.report(loss + 1.0 / (epoch + 1), epoch)
        return loss

    return Pipeline([prepare, features, train])


def test_params_are_namespaced_by_stage(tmp_path):
    study = pipetune.create_study(sampler=pipetune.samplers.RandomSampler(seed=1))
    study.optimize(make_pipeline(Counter()).as_objective(RAW, cache=tmp_path), n_trials=3)
    assert set(study.trials[0].params) == {"prepare.missing", "features.bins", "train.lr",
                                           "train.optimizer"}


def test_upstream_stage_runs_once_per_distinct_upstream_config(tmp_path):
    calls: Counter = Counter()
    study = pipetune.create_study(sampler=pipetune.samplers.RandomSampler(seed=0))
    study.optimize(make_pipeline(calls).as_objective(RAW, cache=tmp_path), n_trials=24)
    params = [t.params for t in study.trials]
    assert calls["prepare"] == len({p["prepare.missing"] for p in params})
    assert calls["features"] == len({(p["prepare.missing"], p["features.bins"]) for p in params})
    assert calls["train"] == 24  # every trial has its own lr
    # The last trial's upstream config was seen before: its features are loaded, and what
    # produced them is not even read.
    records = stage_records(study.trials[-1])
    assert [(r.stage, r.cache) for r in records] == [
        ("prepare", "skipped"), ("features", "hit"), ("train", "miss")]
    assert records[1].size > 0 and records[2].size > 0 and records[0].size is None
    assert all(r.seconds >= 0 for r in records)
    assert 0.5 < cache_hit_rate(study) < 1.0


def test_cache_is_shared_by_parallel_threads(tmp_path):
    calls: Counter = Counter()
    study = pipetune.create_study(sampler=pipetune.samplers.RandomSampler(seed=3))
    study.optimize(make_pipeline(calls).as_objective(RAW, cache=tmp_path), n_trials=16,
                   n_jobs=2)
    params = [t.params for t in study.trials]
    assert calls["prepare"] == len({p["prepare.missing"] for p in params})
    assert all(t.state == pipetune.TrialState.COMPLETE for t in study.trials)


def test_without_cache_every_stage_runs_every_trial(tmp_path):
    calls: Counter = Counter()
    study = pipetune.create_study(sampler=pipetune.samplers.RandomSampler(seed=0))
    study.optimize(make_pipeline(calls).as_objective(RAW, cache=False), n_trials=5)
    assert calls == Counter(prepare=5, features=5, train=5)
    assert {r.cache for t in study.trials for r in stage_records(t)} == {"off"}
    assert cache_hit_rate(study) is None


def test_editing_a_stage_invalidates_its_outputs(tmp_path, monkeypatch):
    module_file = tmp_path / "edited_stage.py"
    source = """
        from pipetune.pipeline import stage

        CALLS = []

        @stage(space={{"k": [1, 2]}})
        def scale(k):
            CALLS.append(k)
            return float(k) * {factor}
    """
    monkeypatch.syspath_prepend(str(tmp_path))
    module_file.write_text(textwrap.dedent(source.format(factor=1.0)))
    module = importlib.import_module("edited_stage")
    cache = StageCache(tmp_path / "cache")
    first = Pipeline([module.scale]).run({"scale.k": 2}, cache=cache)
    again = Pipeline([module.scale]).run({"scale.k": 2}, cache=cache)
    assert (first.records[0].cache, again.records[0].cache) == ("miss", "hit")

    module_file.write_text(textwrap.dedent(source.format(factor=10.0)) + "\n# edited\n")
    module = importlib.reload(module)
    edited = Pipeline([module.scale]).run({"scale.k": 2}, cache=cache)
    assert edited.records[0].cache == "miss" and edited.value == 20.0
    sys.modules.pop("edited_stage", None)


def test_trials_are_pruned_mid_training(tmp_path):
    @stage(space={"slope": [-1.0, 1.0]})
    def train(progress, slope, epochs=10):
        for epoch in range(epochs):
            progress.report(slope * epoch, epoch)  # slope 1: getting worse every epoch
        return slope * epochs

    study = pipetune.create_study(
        pruner=pipetune.pruners.MedianPruner(n_startup_trials=1, n_warmup_steps=2))
    for slope in (-1.0, 1.0, 1.0):
        study.enqueue_trial({"train.slope": slope})
    study.optimize(Pipeline([train]).as_objective(cache=tmp_path), n_trials=3)
    states = [t.state for t in study.trials]
    assert states[0] == pipetune.TrialState.COMPLETE
    pruned = [t for t in study.trials if t.state == pipetune.TrialState.PRUNED]
    assert pruned and all(max(t.intermediate_values) < 9 for t in pruned)
    assert [r.cache for r in stage_records(pruned[0])] == ["pruned"]
    # A pruned training run is never stored as if it had finished.
    assert StageCache(tmp_path).info().entries == 1


def test_cached_stage_replays_its_reports(tmp_path):
    calls: Counter = Counter()
    pipeline = make_pipeline(calls)
    for seed in (0, 0):
        study = pipetune.create_study(sampler=pipetune.samplers.RandomSampler(seed=seed))
        study.optimize(pipeline.as_objective(RAW, cache=tmp_path), n_trials=2)
    assert calls["train"] == 2  # the second study's trials were all hits
    assert study.trials[0].intermediate_values == {0: pytest.approx(study.trials[0].value + 1),
                                                   1: pytest.approx(study.trials[0].value + .5),
                                                   2: pytest.approx(study.trials[0].value + 1/3)}


def test_fidelity_levels_are_hyperband_resources(tmp_path):
    seen_levels = []

    @stage(space={"quality": pipetune.FloatDistribution(0.0, 1.0)},
           fidelity=Fidelity("fraction", (1 / 9, 1 / 3, 1.0)))
    def train(quality, fraction):
        seen_levels.append(fraction)
        return quality + 1.0 - fraction

    study = pipetune.create_study(
        sampler=pipetune.samplers.RandomSampler(seed=0),
        pruner=pipetune.pruners.HyperbandPruner(min_resource=1, max_resource=9,
                                                reduction_factor=3))
    study.optimize(Pipeline([train]).as_objective(cache=tmp_path), n_trials=30)
    complete = [t for t in study.trials if t.state == pipetune.TrialState.COMPLETE]
    assert all(sorted(t.intermediate_values) == [1, 3, 9] for t in complete)
    assert any(t.state == pipetune.TrialState.PRUNED for t in study.trials)
    assert seen_levels.count(1.0) == len(complete) < 30
    assert {r.level for r in stage_records(complete[0])} == {1 / 9, 1 / 3, 1.0}


def test_run_best_reruns_to_completion_as_a_tracked_run(tmp_path):
    calls: Counter = Counter()
    pipeline = make_pipeline(calls)
    study = pipetune.create_study(sampler=pipetune.samplers.RandomSampler(seed=0))
    study.optimize(pipeline.as_objective(RAW, cache=tmp_path), n_trials=8)
    before = Counter(calls)
    best = pipeline.run_best(study, overrides={"train.epochs": 6}, data=RAW, cache=tmp_path)
    assert best.value == pytest.approx(study.best_value)
    assert [step for step, _ in best.reports] == list(range(6))
    assert best.params["train.epochs"] == 6
    assert best.params["train.lr"] == study.best_params["train.lr"]
    # Upstream outputs come from the cache; only the longer training ran.
    assert calls - before == Counter(train=1)
    # The standalone run holds the params, the curve, the value and the model.
    record = best.run.study.trials[0]
    assert record.state == pipetune.TrialState.COMPLETE and record.value == best.value
    assert record.params["train.lr"] == best.params["train.lr"]
    assert [p.step for p in best.run.study.metric_history(0, "intermediate_value")] == \
        list(range(6))
    assert pickle.loads(best.run.study.read_artifact(0, "model.pkl")) == \
        pytest.approx(best.value)


def test_objective_plugs_into_a_sqlite_study_by_reference(tmp_path):
    storage = f"sqlite:///{tmp_path / 'p.db'}"
    study = pipetune.create_study(storage=storage, study_name="p",
                                  sampler=pipetune.samplers.RandomSampler(seed=0))
    study.optimize(make_pipeline(Counter()).as_objective(RAW, cache=tmp_path), n_trials=4)
    loaded = pipetune.load_study(study_name="p", storage=storage)
    assert all(len(stage_records(t)) == 3 for t in loaded.trials)
    frame = loaded.trials_dataframe(attrs=("number", "params", "system_attrs"))
    assert "params_train.lr" in frame.columns and "system_attrs_pipeline_stages" in frame.columns


def test_mistakes_get_clear_errors(tmp_path):
    @stage()
    def only():
        return "not a number"

    with pytest.raises(InvalidArgumentError, match="unique"):
        Pipeline([only, only])
    with pytest.raises(InvalidArgumentError, match="identifier"):
        stage("train.lr")(lambda: 1.0)
    with pytest.raises(InvalidArgumentError, match="names no stage"):
        Pipeline([only]).run({}, overrides={"model.lr": 1.0}, cache=False)
    with pytest.raises(ObjectiveError, match="value=") as error:
        Pipeline([only]).run({}, cache=False)
    assert "'only'" in str(error.value)
    with pytest.raises(InvalidArgumentError, match="increasing"):
        Fidelity("fraction", (1.0, 0.5))
    with pytest.raises(InvalidArgumentError, match="overrides"):
        Pipeline([stage("s", space=lambda t: {"a": t.suggest_int("a", 0, 3)})(
            lambda a: a)]).run({}, cache=False)


def test_objective_runs_from_the_command_line_and_in_workers(tmp_path, monkeypatch):
    (tmp_path / "tiny_pipeline.py").write_text(textwrap.dedent("""
        from pipetune.pipeline import Pipeline, stage

        @stage(space={"scale": [1.0, 2.0]})
        def prepare(scale):
            return [scale * i for i in range(10)]

        @stage(space={"shift": {"type": "float", "low": -1.0, "high": 1.0}})
        def train(values, shift):
            return abs(sum(values) / len(values) + shift - 5.0)

        objective = Pipeline([prepare, train]).as_objective()
    """))
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PIPETUNE_CACHE_DIR", str(tmp_path / "cache"))
    storage = f"sqlite:///{tmp_path / 'cli.db'}"
    from pipetune.cli import main

    assert main(["--storage", storage, "optimize", "tiny", "--objective",
                 "tiny_pipeline:objective", "--n-trials", "4", "--no-progress"]) == 0
    assert main(["--storage", storage, "worker", "--study", "tiny", "--objective",
                 "tiny_pipeline:objective", "--max-trials", "7"]) == 0
    trials = pipetune.load_study(study_name="tiny", storage=storage).trials
    assert len(trials) == 7 and all(len(stage_records(t)) == 2 for t in trials)
    assert StageCache(tmp_path / "cache").info().by_stage["prepare"][0] <= 2
    sys.modules.pop("tiny_pipeline", None)


def test_pipeline_runs_as_a_script_for_pipetune_tune(tmp_path, capsys, monkeypatch):
    report_file = tmp_path / "reports.jsonl"
    monkeypatch.setenv("PIPETUNE_REPORT_FILE", str(report_file))  # as the launcher sets it
    pipeline = make_pipeline(Counter())
    argv = ["--prepare.missing", "mean", "--features.bins", "8", "--train.lr", "0.01",
            "--train.optimizer", "sgd", "--train.epochs", "2"]
    assert pipeline.main(argv, data=RAW, cache=tmp_path / "cache") == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("step=0 value=") and out[-1].startswith("value=")
    lines = [json.loads(line) for line in report_file.read_text().splitlines()]
    assert [line["step"] for line in lines] == [0, 1, None]  # two epochs, then the result
    with pytest.raises(InvalidArgumentError, match="pairs"):
        pipeline.main(["--train.lr"], data=RAW)


def test_run_best_records_the_params_under_the_names_of_the_trial_it_reruns(tmp_path):
    def train_space(trial):  # returns its suggestions under other names, one as a list
        layers = trial.suggest_int("num_layers", 1, 2)
        return {"hidden": [trial.suggest_categorical(f"units_{i}", [7, 11])
                           for i in range(layers)],
                "lr": trial.suggest_float("learning_rate", 1e-3, 1.0, log=True)}

    @stage(space=train_space)
    def train(raw, hidden, lr, epochs=2):
        return float(raw.mean()) + abs(np.log10(lr) + 1.5) + 0.01 * sum(hidden) / epochs

    pipeline = Pipeline([train])
    study = pipetune.create_study(study_name="search", direction="minimize",
                                  sampler=pipetune.samplers.RandomSampler(seed=2))
    study.optimize(pipeline.as_objective(RAW, cache=tmp_path), n_trials=6)
    best = study.best_trial
    rerun = pipeline.run_best(study, overrides={"train.epochs": 5}, data=RAW, cache=tmp_path)
    [recorded] = rerun.run.study.trials
    assert recorded.params == {**best.params, "train.epochs": 5}
    assert all(recorded.distributions[name] == best.distributions[name] for name in best.params)
    assert rerun.run.study.system_attrs["parent_study"] == "search"
    assert rerun.run.study.directions == study.directions
