"""The YAML file of ``pipetune tune``: a full file is read into the objects a run needs, and
every mistake is one ConfigError naming the file, the line and the fix."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from pipetune import pruners, samplers
from pipetune.errors import ConfigError, PipetuneError
from pipetune.launch.config import StudyConfig
from pipetune.launch.schema import load_config, parse_config
from pipetune.stopping import FailedInARow, NoImprovement, TargetValue

FULL = """\
study: taxi
storage: sqlite:///taxi.db
direction: maximize
command: "python train.py --data 'my data.csv' --lr {lr}"
workdir: code
env: {OMP_NUM_THREADS: 1, MODE: fast}
params:
  lr: {type: float, low: 1e-4, high: 1.0e-1, scale: log}
  momentum: {type: float, low: 0.9, high: 0.999, scale: reverse_log}
  layers: {type: int, low: 1, high: 4, step: 1}
  model: {type: categorical, choices: [svm, rf]}
  svm_c: {type: float, low: 0.1, high: 10, scale: log, when: {model: svm}}
objective: {metric: accuracy, regex: 'accuracy=([0-9.eE+-]+)', take: max}
intermediate: {metric: accuracy, regex: 'epoch=(?P<step>\\d+) accuracy=(?P<value>\\S+)'}
sampler: {name: tpe, seed: 42, n_startup_trials: 5}
pruner: {name: hyperband, min_resource: 1, max_resource: 30, reduction_factor: 3}
trial_timeout: 600
retries: 1
grace_period: 2
max_trials: 50
max_parallel: 2
gpus_per_trial: 0
log_dir: logs
stopping: {target_value: 0.99, no_improvement: 20, max_failed_in_a_row: 3}
final: {args: [--full-data, --epochs, 50]}
"""

BASE = """\
study: s
command: [python, train.py]
params:
  lr:
    type: float
    low: 0.001
    high: 0.1
    scale: log
  model:
    type: categorical
    choices: [svm, rf]
objective:
  metric: loss
  regex: 'loss=([0-9.]+)'
"""


def parse(text: str, tmp_path: Path) -> StudyConfig:
    return parse_config(text, "study.yaml", str(tmp_path))


def test_a_full_file_gives_every_setting(tmp_path):
    (tmp_path / "code").mkdir()
    config = parse(FULL, tmp_path)
    assert (config.path, config.study, config.storage) == ("study.yaml", "taxi", "sqlite:///taxi.db")
    assert config.directions == ("maximize",)
    assert config.space.names == ("lr", "momentum", "layers", "model", "svm_c")
    specs = {spec.name: spec for spec in config.space.params}
    assert specs["lr"].scale == "log" and specs["lr"].distribution.low == 1e-4
    assert specs["momentum"].scale == "reverse_log"
    assert specs["layers"].distribution.step == 1
    assert specs["model"].distribution.choices == ("svm", "rf")
    assert dict(specs["svm_c"].when) == {"model": ("svm",)}
    launch = config.launch
    # A shell-like string is split with its quotes; a leading `python` is this interpreter.
    assert launch.command == (sys.executable, "train.py", "--data", "my data.csv", "--lr", "{lr}")
    assert launch.workdir == str(tmp_path / "code")
    assert dict(launch.env) == {"OMP_NUM_THREADS": "1", "MODE": "fast"}
    assert (launch.objective.name, launch.objective.take) == ("accuracy", "max")
    assert launch.objective.regex == "accuracy=([0-9.eE+-]+)"
    assert launch.intermediate.name == "accuracy"
    assert launch.intermediate.regex == r"epoch=(?P<step>\d+) accuracy=(?P<value>\S+)"
    assert (launch.timeout, launch.retries, launch.grace_period) == (600, 1, 2.0)
    assert launch.gpus_per_trial == 0 and launch.log_dir == str(tmp_path / "logs")
    assert isinstance(config.build_sampler(), samplers.TPESampler)
    assert config.build_sampler() is not config.build_sampler()  # fresh per study handle
    assert isinstance(config.build_pruner(), pruners.HyperbandPruner)
    assert (config.max_trials, config.max_parallel) == (50, 2)
    criteria = config.stopping.criteria()
    assert [type(c) for c in criteria] == [TargetValue, NoImprovement, FailedInARow]
    assert (criteria[0].value, criteria[1].n_trials, criteria[2].n_trials) == (0.99, 20, 3)
    assert config.final.args == ("--full-data", "--epochs", "50")


def test_a_minimal_file_gets_the_defaults(tmp_path):
    config = parse(BASE, tmp_path)
    assert config.directions == ("minimize",) and config.storage is None
    assert config.launch.workdir == str(tmp_path)  # the YAML file's folder
    assert config.launch.objective.take == "last" and config.launch.intermediate is None
    assert (config.sampler.name, config.pruner.name) == ("auto", "none")
    assert isinstance(config.build_pruner(), pruners.NopPruner)
    assert (config.max_trials, config.max_parallel, config.final) == (None, None, None)
    assert [type(c) for c in config.stopping.criteria()] == [FailedInARow]


def test_load_config_reads_paths_relative_to_the_file(tmp_path, monkeypatch):
    folder = tmp_path / "exp"
    folder.mkdir()
    (folder / "study.yaml").write_text(BASE + "log_dir: out\n")
    monkeypatch.chdir(tmp_path)
    config = load_config("exp/study.yaml")
    assert config.path == "exp/study.yaml"
    assert config.launch.workdir == str(folder)
    assert config.launch.log_dir == str(folder / "out")


def test_a_missing_file_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="No study file at .*nope.yaml"):
        load_config(tmp_path / "nope.yaml")


def test_reported_metrics_multi_objective_and_short_forms(tmp_path):
    text = BASE.replace("objective:\n  metric: loss\n  regex: 'loss=([0-9.]+)'\n", """\
directions: [minimize, maximize]
objective:
  - {metric: loss, reported: true}
  - {metric: speed, regex: 'speed=(?P<value>\\S+) at (\\d+)', take: min}
sampler: random
stopping: {max_failed_in_a_row: null}
""")
    config = parse(text, tmp_path)
    assert config.directions == ("minimize", "maximize")
    loss, speed = config.launch.objective
    assert (loss.name, loss.regex) == ("loss", None)
    assert (speed.name, speed.take) == ("speed", "min")
    assert isinstance(config.build_sampler(), samplers.RandomSampler)
    assert config.stopping.criteria() == ()


def test_reported_intermediate_values_and_a_pruner_by_name(tmp_path):
    config = parse(BASE + "intermediate: {metric: loss, reported: true}\npruner: median\n",
                   tmp_path)
    assert (config.launch.intermediate.name, config.launch.intermediate.regex) == ("loss", None)
    assert isinstance(config.build_pruner(), pruners.MedianPruner)


def test_grid_values_are_given_or_derived_from_the_space(tmp_path):
    text = BASE + "sampler: {name: grid, values: {lr: [0.001, 0.01]}}\n"
    config = parse(text, tmp_path)
    assert dict(config.sampler.options["values"]) == {"lr": [0.001, 0.01], "model": ["svm", "rf"]}
    assert config.build_sampler().grid_size == 4


def test_patient_pruner_wraps_another(tmp_path):
    text = BASE + ("intermediate: {metric: loss, reported: true}\n"
                   "pruner: {name: patient, patience: 2, wrapped: {name: median, "
                   "n_startup_trials: 2}}\n")
    pruner = parse(text, tmp_path).build_pruner()
    assert isinstance(pruner, pruners.PatientPruner)
    assert "MedianPruner(n_startup_trials=2" in repr(pruner)


# Each case edits BASE; the line marked "# <-" is the one the error must name.
CASES = {
    "unknown top-level key": (
        ("study: s", "study: s\ndirecton: minimize  # <-"),
        ["unknown key 'directon' at the top level", "Did you mean 'direction'?"]),
    "SageMaker name of a key": (
        ("study: s", "study: s\nmax_jobs: 9  # <-"),
        ["unknown key 'max_jobs'", "Write max_trials."]),
    "unknown param key": (
        ("    scale: log", "    scale: log\n    lgo: true  # <-"),
        ["unknown key 'lgo' in params.lr", "Known keys:"]),
    "log instead of scale": (
        ("    scale: log", "    log: true  # <-"), ["unknown key 'log'", "Write scale: log."]),
    "bound not a number": (
        ("    low: 0.001", "    low: abc  # <-"), ["params.lr.low must be a number, got 'abc'."]),
    "low above high": (
        ("    low: 0.001", "    low: 0.5"), ["params.lr: A float distribution needs low <= high",
                                              "swap the bounds"], "  lr:"),
    "int bound not an int": (
        ("  model:\n", "  layers: {type: int, low: 1.5, high: 4}  # <-\n  model:\n"),
        ["params.layers.low must be an int, got 1.5."]),
    "unknown param type": (
        ("    type: float", "    type: continuous  # <-"),
        ["params.lr.type must be one of float, int, categorical, got 'continuous'.",
         "Write float."]),
    "bad scale": (
        ("    scale: log", "    scale: lgo  # <-"),
        ["params.lr.scale must be one of linear, log, reverse_log, got 'lgo'.",
         "Did you mean 'log'?"]),
    "reverse_log up to one": (
        ("objective:", ("  m: {type: float, low: 0.9, high: 1.0, scale: reverse_log}  # <-\n"
                        "objective:")), ["params.m", "reverse_log", "high < 1"]),
    "missing type": (("    type: float\n", ""), ["params.lr needs the key 'type'"], "  lr:"),
    "empty choices": (
        ("    choices: [svm, rf]", "    choices: []  # <-"),
        ["params.model.choices must be a non-empty list of values, got an empty list."]),
    "when names an unknown param": (
        ("objective:", "  c: {type: float, low: 1, high: 2, when: {modle: svm}}  # <-\nobjective:"),
        ["params.c.when names 'modle', which is not a param.", "Did you mean 'model'?"]),
    "when names a later param": (
        ("    scale: log", "    scale: log\n    when: {model: svm}  # <-"),
        ["params.lr.when names 'model', which is declared after 'lr': declare it first."]),
    "when value never taken": (
        ("objective:", "  c: {type: float, low: 1, high: 2, when: {model: svn}}  # <-\nobjective:"),
        ["params.c.when.model: 'svn' is not a value 'model' can take (['svm', 'rf'])"]),
    "regex does not compile": (
        ("  regex: 'loss=([0-9.]+)'", "  regex: 'loss=([0-9.]+'  # <-"),
        ["objective.regex does not compile: missing ), unterminated subpattern"]),
    "regex without a group": (
        ("  regex: 'loss=([0-9.]+)'", "  regex: 'loss=[0-9.]+'  # <-"),
        ["objective.regex has no group around the number", "(?P<value>"]),
    "regex with groups but no value group": (
        ("  regex: 'loss=([0-9.]+)'", "  regex: '(loss)=([0-9.]+)'  # <-"),
        ["objective.regex has 2 groups and none is named 'value'"]),
    "intermediate regex without step": (
        ("study: s", "study: s\nintermediate: {metric: loss, regex: 'loss=(?P<value>.+)'}  # <-"),
        ["intermediate.regex lacks the named group(s) step"]),
    "neither regex nor reported": (
        ("  regex: 'loss=([0-9.]+)'\n", ""),
        ["objective needs regex: (read the metric", "or reported: true"], "objective:"),
    "both regex and reported": (
        ("  metric: loss", "  metric: loss\n  reported: true"),
        ["objective has both regex: and reported: true"], "objective:"),
    "bad take": (
        ("  metric: loss", "  metric: loss\n  take: first  # <-"),
        ["objective.take must be one of last, min, max, got 'first'."]),
    "unknown sampler": (
        ("study: s", "study: s\nsampler: {name: tpee}  # <-"),
        ["sampler.name must be one of tpe, random, qmc, grid, gp, cmaes, auto, nsgaii, "
         "nsgaiii, brute_force, got 'tpee'.",
         "Did you mean 'tpe'?"]),
    "unknown sampler option": (
        ("study: s", "study: s\nsampler:\n  name: tpe\n  sed: 3  # <-"),
        ["unknown key 'sed' in sampler.", "Did you mean 'seed'?"]),
    "sampler option out of range": (
        ("study: s", "study: s\nsampler: {name: tpe, n_ei_candidates: 0}  # <-"),
        ["sampler: The 'n_ei_candidates' argument of TPESampler must be an int >= 1"]),
    "grid without float values": (
        ("study: s", "study: s\nsampler: grid  # <-"),
        ["sampler grid needs the values of 'lr': add sampler.values.lr: [...]"]),
    "unknown pruner": (
        ("study: s", "study: s\npruner: {name: hyperbnad}  # <-"),
        ["pruner.name must be one of none, median, percentile, asha, hyperband, patient",
         "Did you mean 'hyperband'?"]),
    "pruner without intermediate": (
        ("study: s", "study: s\npruner: median  # <-"),
        ["pruner 'median' stops trials from their intermediate values",
         "Add intermediate:"]),
    "pruner argument out of range": (
        ("study: s", ("study: s\nintermediate: {metric: loss, reported: true}\n"
                      "pruner: {name: hyperband, reduction_factor: 1}  # <-")),
        ["pruner: The 'reduction_factor' argument of HyperbandPruner must be"]),
    "missing required key": (
        ("study: s\n", ""), ["study.yaml:1: the file needs the key 'study'."], "command:"),
    "duplicate key": (
        ("objective:", "  lr: {type: int, low: 1, high: 2}  # <-\nobjective:"),
        ["params.lr appears twice (first on line 4); keep one."]),
    "not valid YAML": (
        ("  metric: loss", "  metric: loss: x  # <-"),
        ["this is not valid YAML: mapping values are not allowed here"]),
    "unknown placeholder": (
        ("command: [python, train.py]", "command: [python, train.py, --lr, '{lrr}']  # <-"),
        ["command[3] '{lrr}' has the placeholder {lrr}, which is not a param.",
         "Did you mean 'lr'?"]),
    "program not found": (
        ("command: [python, train.py]", "command: [pyhton, train.py]  # <-"),
        ["command[0] 'pyhton' is not a program on PATH nor a file in the workdir"]),
    "empty command": (("command: [python, train.py]", "command: []  # <-"), ["command is empty"]),
    "env value a boolean": (
        ("study: s", "study: s\nenv:\n  DEBUG: true  # <-"),
        ["env.DEBUG must be a string or a number, got True.", "Quote it"]),
    "max_parallel zero": (
        ("study: s", "study: s\nmax_parallel: 0  # <-"),
        ["max_parallel must be an int >= 1, got 0."]),
    "timeout not positive": (
        ("study: s", "study: s\ntrial_timeout: -5  # <-"),
        ["trial_timeout must be a number > 0, got -5."]),
    "direction misspelt": (
        ("study: s", "study: s\ndirection: minimise  # <-"),
        ["direction must be one of minimize, maximize, got 'minimise'.",
         "Did you mean 'minimize'?"]),
    "both direction and directions": (
        ("study: s", "study: s\ndirection: minimize\ndirections: [minimize]  # <-"),
        ["give direction: (one objective) or directions: (several), not both."]),
    "one objective for two directions": (
        ("study: s", "study: s\ndirections: [minimize, maximize]"),
        ["objective must be a list of 2 {metric: ...} mappings, one per direction"],
        "objective:"),
    "target value with two objectives": (
        ("objective:\n  metric: loss\n  regex: 'loss=([0-9.]+)'\n",
         ("directions: [minimize, minimize]\nobjective: [{metric: a, reported: true}, "
          "{metric: b, reported: true}]\nstopping:\n  target_value: 0.1  # <-\n")),
        ["stopping.target_value needs one objective; this study has 2."]),
    "intermediate with two objectives": (
        ("objective:\n  metric: loss\n  regex: 'loss=([0-9.]+)'\n",
         ("directions: [minimize, minimize]\nobjective: [{metric: a, reported: true}, "
          "{metric: b, reported: true}]\nintermediate: {metric: a, reported: true}  # <-\n")),
        ["intermediate: prunes studies with one objective; this one has 2."]),
    "final with two objectives": (
        ("objective:\n  metric: loss\n  regex: 'loss=([0-9.]+)'\n",
         ("directions: [minimize, minimize]\nobjective: [{metric: a, reported: true}, "
          "{metric: b, reported: true}]\nfinal: {args: [--full]}  # <-\n")),
        ["final: needs one objective"]),
    "final args of the wrong type": (
        ("study: s", "study: s\nfinal: {args: {full: 1}}  # <-"),
        ["final.args must be a list of arguments or a string, got a mapping."]),
    "workdir that does not exist": (
        ("study: s", "study: s\nworkdir: nowhere  # <-"),
        ["workdir", "nowhere", "is not a folder"]),
    "stopping key misspelt": (
        ("study: s", "study: s\nstopping:\n  no_improvment: 3  # <-"),
        ["unknown key 'no_improvment' in stopping.", "Did you mean 'no_improvement'?"]),
}


@pytest.mark.parametrize("case", list(CASES))
def test_every_mistake_names_its_line_and_the_fix(case, tmp_path):
    (old, new), fragments, *marker = CASES[case]
    assert old in BASE, case
    text = BASE.replace(old, new, 1)
    lines = text.splitlines()
    target = marker[0] if marker else "# <-"
    line = next(i for i, item in enumerate(lines, 1)
                if (item.startswith(target) if marker else target in item))
    with pytest.raises(ConfigError) as caught:
        parse(text, tmp_path)
    message = str(caught.value)
    assert message.startswith(f"study.yaml:{line}: "), message
    for fragment in fragments:
        assert fragment in message, message
    assert isinstance(caught.value, (PipetuneError, ValueError))


def test_numbers_yaml_reads_as_text_are_accepted(tmp_path):
    # YAML 1.1 reads 1e-4 (no dot) as a string; a number field takes it as the number meant.
    config = parse(BASE.replace("low: 0.001", "low: 1e-4"), tmp_path)
    assert config.space.params[0].distribution.low == 1e-4


def test_an_empty_file_says_what_to_write(tmp_path):
    with pytest.raises(ConfigError, match=r"study.yaml:1: the file is empty"):
        parse("# nothing yet\n", tmp_path)


def test_a_list_at_the_top_level_is_refused(tmp_path):
    with pytest.raises(ConfigError, match=r"study.yaml:1: the top level must be a mapping"):
        parse("- study: s\n", tmp_path)


def test_gpus_per_trial_without_a_gpu_is_refused_at_its_line(tmp_path, monkeypatch):
    from pipetune.launch import gpus

    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")  # no GPU visible, on any machine
    monkeypatch.setattr(gpus, "_pool", None)  # detected afresh, from that variable
    with pytest.raises(ConfigError) as caught:
        parse(BASE.replace("study: s", "study: s\ngpus_per_trial: 2"), tmp_path)
    assert str(caught.value).startswith("study.yaml:2: gpus_per_trial: 2 but no GPU found")
    assert "set it to 0" in str(caught.value)


def test_anchors_and_merge_keys_share_settings(tmp_path):
    text = BASE.replace("params:\n", """\
params:
  a: &rate {type: float, low: 0.001, high: 0.1, scale: log}
  b: {<<: *rate, high: 0.5}
""")
    specs = {spec.name: spec for spec in parse(text, tmp_path).space.params}
    assert (specs["a"].distribution.high, specs["b"].distribution.high) == (0.1, 0.5)
    assert specs["b"].scale == "log"
