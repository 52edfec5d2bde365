"""The YAML file of ``pipetune tune``: read, validated and turned into the objects a run needs.

Every mistake is reported before anything runs, as one ``ConfigError`` naming the file, the
line, the key path and the fix. The schema, with every key (only ``study``, ``command``,
``params`` and ``objective`` are required)::

    study: taxi                          # the study's name
    storage: sqlite:///pipetune.db       # optional; `pipetune tune --storage URL` wins
    direction: minimize                  # or directions: [minimize, maximize] with a list of
                                         # objectives below, one per direction
    command: [python, train.py, --lr, "{lr}"]   # argv, or one string split like a shell does;
                                         # "{name}" is replaced by the param's value; with no
                                         # placeholder at all, params are appended as --name value.
                                         # A leading `python` is the interpreter pipetune runs on.
    workdir: .                           # where the command runs; relative to this file
                                         # (default: this file's folder)
    env: {OMP_NUM_THREADS: "1"}          # extra environment variables
    params:                              # the search space, in order
      lr: {type: float, low: 1.0e-4, high: 0.1, scale: log}        # linear | log | reverse_log
      layers: {type: int, low: 1, high: 4, step: 1}
      model: {type: categorical, choices: [svm, rf]}
      svm_c: {type: float, low: 0.1, high: 10, scale: log, when: {model: svm}}
    objective: {metric: val_rmse, regex: 'val_rmse=([0-9.eE+-]+)', take: last}  # last|min|max
                                         # or {metric: val_rmse, reported: true} (pipetune.report)
    intermediate: {metric: val_rmse, regex: 'epoch=(?P<step>\\d+) val_rmse=(?P<value>\\S+)'}
                                         # or {metric: val_rmse, reported: true}; needed by a pruner
    sampler: {name: tpe, seed: 42}       # auto (default) | tpe | random | qmc | grid | gp |
                                         # cmaes; other keys are the sampler's arguments
                                         # (grid: values: {lr: [...]})
    pruner: {name: hyperband, min_resource: 1, max_resource: 30}
                                         # none | median | percentile | asha | hyperband | patient
    trial_timeout: 600                   # seconds; a trial past it is killed and FAIL
    retries: 1                           # re-runs of a failed trial
    grace_period: 5                      # seconds between SIGTERM and SIGKILL
    max_trials: 50                       # trials of the search (final run excluded)
    max_parallel: 2                      # trials at a time, study-wide (every tune and worker)
    gpus_per_trial: 0
    log_dir: logs                        # per-trial logs (default: next to the SQLite file)
    stopping: {target_value: 0.1, no_improvement: 20, max_failed_in_a_row: 5}
    final: {args: [--full-data, --epochs, "50"]}   # re-run the best params with these args,
                                         # as the standalone run <study>-final

``load_config(path)`` returns a frozen ``StudyConfig`` (``pipetune.launch.config``), whose
``build_sampler()`` and ``build_pruner()`` make fresh algorithm objects for each study handle.
"""

from __future__ import annotations

import inspect
import os
import re
import shutil
import sys
from collections.abc import Callable, Mapping
from typing import Any

from pipetune.distributions import (
    CategoricalDistribution,
    Distribution,
    FloatDistribution,
    IntDistribution,
    contains_external,
)
from pipetune.errors import ConfigError, PipetuneError
from pipetune.launch._yamldoc import Path, YamlDoc, did_you_mean, dotted
from pipetune.launch.config import (
    FinalSpec,
    PrunerSpec,
    SamplerSpec,
    StoppingSpec,
    StudyConfig,
)
from pipetune.launch.gpus import gpu_pool
from pipetune.launch.specs import PLACEHOLDER, TAKES, IntermediateSpec, LaunchSpec, MetricSpec
from pipetune.pruners import PRUNERS
from pipetune.samplers import SAMPLERS
from pipetune.space import SearchSpace

__all__ = ["load_config", "parse_config"]

_TOP_KEYS = ("study", "storage", "direction", "directions", "command", "workdir", "env",
             "params", "objective", "intermediate", "sampler", "pruner", "trial_timeout",
             "retries", "grace_period", "max_trials", "max_parallel", "gpus_per_trial",
             "log_dir", "stopping", "final")
_TOP_HINTS = {"max_jobs": "Write max_trials.", "max_parallel_jobs": "Write max_parallel.",
              "n_trials": "Write max_trials.", "timeout": "Write trial_timeout (per trial).",
              "metric_definitions": "Write objective: {metric: NAME, regex: '...'}.",
              "hyperparameters": "Write params:.", "search_space": "Write params:."}
_PARAM_KEYS = {"float": ("type", "low", "high", "scale", "step", "when"),
               "int": ("type", "low", "high", "scale", "step", "when"),
               "categorical": ("type", "choices", "when")}
_PARAM_HINTS = {"log": "Write scale: log.", "values": "Write choices: [...].",
                "min": "Write low:.", "max": "Write high:.", "min_value": "Write low:.",
                "max_value": "Write high:.", "scaling_type": "Write scale:."}
_TYPE_HINTS = {"continuous": "Write float.", "integer": "Write int.", "double": "Write float.",
               "choice": "Write categorical.", "discrete": "Write categorical."}
_SCALES = ("linear", "log", "reverse_log")
_DIRECTIONS = ("minimize", "maximize")
_PYTHON_NAMES = ("python", "python3")

# The constructor arguments of a sampler or pruner (by its name in SAMPLERS / PRUNERS) that a
# YAML file cannot give: functions and algorithm objects (``grid``'s search space is given as
# ``values``, ``patient``'s wrapped pruner as ``wrapped``).
_GENETIC_OBJECTS = ("mutation", "crossover", "constraints_func",
                    "elite_population_selection_strategy", "child_generation_strategy",
                    "after_trial_strategy")
_NOT_FROM_YAML: dict[str, tuple[str, ...]] = {
    "tpe": ("gamma", "weights", "constraints_func"),
    "qmc": ("independent_sampler",),
    "grid": ("search_space",),
    "gp": ("constraints_func", "independent_sampler"),
    "cmaes": ("independent_sampler", "source_trials"),
    "nsgaii": _GENETIC_OBJECTS,
    "nsgaiii": _GENETIC_OBJECTS,
    "patient": ("wrapped_pruner",),
}
_GRID_MAX_AXIS = 1000  # an int range longer than this must be given as explicit grid values


def load_config(path: str | os.PathLike[str]) -> StudyConfig:
    """Reads and checks the YAML file at ``path``; relative paths inside it (``workdir``,
    ``log_dir``) are taken from the file's folder."""
    source = os.fspath(path)
    try:
        with open(source, encoding="utf-8") as handle:
            text = handle.read()
    except FileNotFoundError:
        raise ConfigError(f"No study file at {os.path.abspath(source)!r}: check the path "
                          "(it is relative to the folder you run pipetune from).") from None
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError(f"Cannot read the study file {source!r}: {error}.") from None
    return parse_config(text, source, os.path.dirname(os.path.abspath(source)))


def parse_config(text: str, source: str = "<string>", base_dir: str | None = None) -> StudyConfig:
    """Checks YAML ``text`` (named ``source`` in messages) and builds the config; relative
    paths are taken from ``base_dir`` (default: the working folder)."""
    return _Parser(YamlDoc(text, source), base_dir or os.getcwd()).config()


class _Parser:
    """One pass over the document, section by section, in the order of the schema."""

    def __init__(self, doc: YamlDoc, base_dir: str) -> None:
        self.doc = doc
        self.base_dir = base_dir

    def config(self) -> StudyConfig:
        doc = self.doc
        top = doc.mapping((), doc.root, _TOP_KEYS, ("study", "command", "params", "objective"),
                          _TOP_HINTS)
        study = doc.string(("study",), top["study"])
        storage = None if top.get("storage") is None \
            else doc.string(("storage",), top["storage"])
        directions = self.directions(top)
        space, specs = self.params(top["params"])
        objectives = self.objectives(top["objective"], len(directions))
        intermediate = None if top.get("intermediate") is None \
            else self.intermediate(top["intermediate"])
        if intermediate is not None and len(directions) > 1:
            raise doc.error(("intermediate",), "intermediate: prunes studies with one "
                            f"objective; this one has {len(directions)}. Drop it.")
        sampler = self.sampler(top.get("sampler"), specs)
        pruner = self.pruner(top.get("pruner"), ("pruner",))
        if pruner.name != "none" and intermediate is None:
            raise doc.error(("pruner",), f"pruner {pruner.name!r} stops trials from their "
                            "intermediate values, but there is no intermediate: section. Add "
                            "intermediate: {metric: NAME, regex: '...'} (or reported: true), "
                            "or write pruner: none.")
        launch = self.launch(top, specs, objectives, intermediate)
        stopping = self.stopping(top.get("stopping"), len(directions))
        max_trials = self.optional_int(top, "max_trials", 1)
        max_parallel = self.optional_int(top, "max_parallel", 1)
        final = None
        if top.get("final") is not None:
            section = doc.mapping(("final",), top["final"], ("args",), ("args",))
            if len(directions) > 1:
                raise doc.error(("final",), "final: needs one objective (direction:): a study "
                                "with several has no single best trial to run.")
            final = FinalSpec(doc.argv(("final", "args"), section["args"]))
        return StudyConfig(path=doc.source, study=study, storage=storage,
                           directions=directions, space=space, launch=launch, sampler=sampler,
                           pruner=pruner, stopping=stopping, max_trials=max_trials,
                           max_parallel=max_parallel, final=final)

    def optional_int(self, section: dict, key: str, minimum: int, path: Path = ()) -> int | None:
        value = section.get(key)
        return None if value is None else self.doc.integer(path + (key,), value, minimum)

    def directions(self, top: dict) -> tuple[str, ...]:
        doc = self.doc
        if "direction" in top and "directions" in top:
            raise doc.error(("directions",), "give direction: (one objective) or directions: "
                            "(several), not both.")
        if "directions" in top:
            value = top["directions"]
            if not isinstance(value, list) or not value:
                raise doc.wrong(("directions",), value, "a list such as [minimize, maximize]")
            return tuple(doc.string(("directions", i), d, _DIRECTIONS).lower()
                         for i, d in enumerate(value))
        return (doc.string(("direction",), top.get("direction", "minimize"), _DIRECTIONS),)

    # -- search space --------------------------------------------------------------------------

    def params(self, value: Any) -> tuple[SearchSpace, dict[str, Distribution]]:
        doc = self.doc
        if not isinstance(value, dict) or not value:
            raise doc.wrong(("params",), value, "a mapping of param name: {type: ...}",
                            "Declare at least one param, e.g. lr: {type: float, low: 0.001, "
                            "high: 0.1, scale: log}.")
        cleaned: dict[str, dict[str, Any]] = {}
        domains: dict[str, Distribution] = {}
        for name, spec in value.items():
            cleaned[name] = self.param(name, spec, domains)
        try:
            return SearchSpace.from_dict(cleaned), domains
        except (PipetuneError, ValueError, TypeError) as error:
            # Find the first param the space rejects, to name its line.
            names = list(cleaned)
            for i, name in enumerate(names):
                try:
                    SearchSpace.from_dict({n: cleaned[n] for n in names[:i + 1]})
                except (PipetuneError, ValueError, TypeError) as first:
                    text = str(first)
                    if not text.startswith(f"params.{name}"):
                        text = f"params.{name}: {text}"
                    raise doc.error(("params", name), text) from None
            raise doc.error(("params",), f"params: {error}") from None

    def param(self, name: str, spec: Any, earlier: dict[str, Distribution]) -> dict[str, Any]:
        doc = self.doc
        path: Path = ("params", name)
        if not isinstance(spec, dict):
            raise doc.wrong(path, spec, "a mapping such as {type: float, low: 0.001, high: 0.1}")
        if "type" not in spec:
            raise doc.error(path, f"{dotted(path)} needs the key 'type' (float, int or "
                            "categorical).")
        kind = doc.string(path + ("type",), spec["type"], tuple(_PARAM_KEYS), _TYPE_HINTS)
        required = ("choices",) if kind == "categorical" else ("low", "high")
        doc.mapping(path, spec, _PARAM_KEYS[kind], ("type",) + required, _PARAM_HINTS)
        cleaned: dict[str, Any] = {"type": kind}
        if kind == "categorical":
            choices = spec["choices"]
            if not isinstance(choices, list) or not choices:
                raise doc.wrong(path + ("choices",), choices, "a non-empty list of values")
            for i, choice in enumerate(choices):
                if isinstance(choice, (dict, list)):
                    raise doc.wrong(path + ("choices", i), choice, "a string, number, "
                                    "true/false or null")
            cleaned["choices"] = list(choices)
            domain: Distribution = self.domain(path, lambda: CategoricalDistribution(
                tuple(choices)))
        else:
            number = doc.number if kind == "float" else doc.integer
            low = number(path + ("low",), spec["low"])
            high = number(path + ("high",), spec["high"])
            scale = doc.string(path + ("scale",), spec.get("scale", "linear"), _SCALES)
            step = None if spec.get("step") is None else number(path + ("step",), spec["step"])
            cleaned.update(low=low, high=high, scale=scale)
            if step is not None:
                cleaned["step"] = step
            log = scale == "log"
            if kind == "float":
                domain = self.domain(path, lambda: FloatDistribution(low, high, log, step))
            else:
                # doc.integer read the bounds and step: int() only tells the type checker so.
                domain = self.domain(path, lambda: IntDistribution(int(low), int(high), log,
                                                                   int(step or 1)))
        if spec.get("when") is not None:
            cleaned["when"] = self.when(name, spec["when"], earlier)
        earlier[name] = domain
        return cleaned

    def domain(self, path: Path, build: Any) -> Distribution:
        try:
            return build()
        except PipetuneError as error:
            raise self.doc.error(path, f"{dotted(path)}: {error}") from None

    def when(self, name: str, value: Any, earlier: dict[str, Distribution]) -> dict[str, Any]:
        doc = self.doc
        path: Path = ("params", name, "when")
        if not isinstance(value, dict) or not value:
            raise doc.wrong(path, value, "a mapping of earlier param: value(s), such as "
                            "{model: svm}")
        declared = doc.root["params"]
        for other, allowed in value.items():
            where = path + (other,)
            if other not in earlier:
                if other == name:
                    problem = "names the param itself"
                elif other in declared:
                    problem = f"names {other!r}, which is declared after {name!r}: declare it first"
                else:
                    problem = (f"names {other!r}, which is not a param."
                               f"{did_you_mean(other, list(earlier))}")
                raise doc.error(where, f"{dotted(path)} {problem}"
                                + ("" if problem.endswith(("?", ".")) else "."))
            values = allowed if isinstance(allowed, list) else [allowed]
            if not values:
                raise doc.wrong(where, allowed, f"a value of {other!r} or a non-empty list")
            for item in values:
                if not contains_external(earlier[other], item):
                    domain = earlier[other]
                    shown = (list(domain.choices) if isinstance(domain, CategoricalDistribution)
                             else f"[{domain.low}, {domain.high}]")
                    raise doc.error(where, f"{dotted(where)}: {item!r} is not a value {other!r} "
                                    f"can take ({shown}), so the condition never holds.")
        return dict(value)

    # -- metrics -------------------------------------------------------------------------------

    def objectives(self, value: Any, n_directions: int) -> tuple[MetricSpec, ...]:
        doc = self.doc
        if n_directions == 1:
            if isinstance(value, list):
                raise doc.wrong(("objective",), value, "one {metric: ...} mapping for one "
                                "direction", "Give directions: [...] for several objectives.")
            return (self.metric(("objective",), value),)
        if not isinstance(value, list) or len(value) != n_directions:
            raise doc.wrong(("objective",), value, f"a list of {n_directions} {{metric: ...}} "
                            f"mappings, one per direction")
        return tuple(self.metric(("objective", i), item) for i, item in enumerate(value))

    def metric(self, path: Path, value: Any) -> MetricSpec:
        doc = self.doc
        section = doc.mapping(path, value, ("metric", "regex", "take", "reported"), ("metric",),
                              {"name": "Write metric:.", "pattern": "Write regex:."})
        name = doc.string(path + ("metric",), section["metric"])
        take = doc.string(path + ("take",), section.get("take", "last"), TAKES)
        regex = self.regex(path, section, name, ("value",))
        return MetricSpec(name=name, regex=regex, take=take)

    def intermediate(self, value: Any) -> IntermediateSpec:
        doc = self.doc
        path: Path = ("intermediate",)
        section = doc.mapping(path, value, ("metric", "regex", "reported"), ("metric",),
                              {"name": "Write metric:.", "pattern": "Write regex:."})
        name = doc.string(path + ("metric",), section["metric"])
        return IntermediateSpec(name=name, regex=self.regex(path, section, name,
                                                            ("step", "value")))

    def regex(self, path: Path, section: dict, metric: str, groups: tuple[str, ...]) -> str | None:
        """The section's regex, compiled to check it, or None when ``reported: true``."""
        doc = self.doc
        reported = doc.boolean(path + ("reported",), section.get("reported", False))
        example = (f"'{metric}=(?P<value>[-+0-9.eE]+)'" if groups == ("value",) else
                   f"'step=(?P<step>\\d+) {metric}=(?P<value>[-+0-9.eE]+)'")
        if reported and "regex" in section:
            raise doc.error(path, f"{dotted(path)} has both regex: and reported: true; keep "
                            "regex: to read the metric from the output, or reported: true if "
                            "the script calls pipetune.report.")
        if not reported and "regex" not in section:
            raise doc.error(path, f"{dotted(path)} needs regex: (read the metric from the "
                            f"output, e.g. regex: {example}) or reported: true (the script "
                            "calls pipetune.report).")
        if reported:
            return None
        pattern = doc.string(path + ("regex",), section["regex"])
        try:
            compiled = re.compile(pattern)
        except re.error as error:
            raise doc.error(path + ("regex",), f"{dotted(path)}.regex does not compile: {error}. "
                            "Fix the pattern; in YAML, single-quote it so backslashes stay as "
                            "written.") from None
        if groups == ("value",):
            if compiled.groups == 0:
                problem = "has no group around the number"
            elif compiled.groups > 1 and "value" not in compiled.groupindex:
                problem = f"has {compiled.groups} groups and none is named 'value'"
            else:
                return pattern
        else:
            missing = [g for g in groups if g not in compiled.groupindex]
            if not missing:
                return pattern
            problem = f"lacks the named group(s) {', '.join(missing)}"
        raise doc.error(path + ("regex",), f"{dotted(path)}.regex {problem}: write it like "
                        f"{example}.")

    # -- algorithms ----------------------------------------------------------------------------

    def named_section(self, path: Path, value: Any, kinds: Mapping[str, Callable[..., Any]],
                      extra: tuple[str, ...] = ()) -> tuple[str, dict[str, Any]]:
        """``name: x`` or ``{name: x, <constructor argument>: ...}`` -> (name, arguments)."""
        doc = self.doc
        if isinstance(value, str):
            value = {"name": value}
        if not isinstance(value, dict):
            raise doc.wrong(path, value, f"a name ({', '.join(kinds)}) or a mapping with name:")
        name = doc.string(path + ("name",), value.get("name"), tuple(kinds))
        excluded = _NOT_FROM_YAML.get(name, ())
        accepted = [p for p in inspect.signature(kinds[name]).parameters
                    if p not in excluded] + list(extra)
        doc.mapping(path, value, ["name", *accepted])
        return name, {k: v for k, v in value.items() if k != "name"}

    def sampler(self, value: Any, domains: dict[str, Distribution]) -> SamplerSpec:
        path: Path = ("sampler",)
        if value is None:
            return SamplerSpec()
        name, options = self.named_section(path, value, SAMPLERS,
                                           ("values",) if _name_of(value) == "grid" else ())
        if name == "grid":
            options["values"] = self.grid_values(options.get("values"), domains)
        spec = SamplerSpec(name, options)
        self.check_builds(path, spec.build)
        return spec

    def grid_values(self, value: Any, domains: dict[str, Distribution]) -> dict[str, list]:
        doc = self.doc
        path: Path = ("sampler", "values")
        given = {} if value is None else doc.mapping(path, value, list(domains))
        values: dict[str, list] = {}
        for name, domain in domains.items():
            if name in given:
                if not isinstance(given[name], list) or not given[name]:
                    raise doc.wrong(path + (name,), given[name], "a non-empty list of values")
                values[name] = given[name]
            elif isinstance(domain, CategoricalDistribution):
                values[name] = list(domain.choices)
            elif isinstance(domain, IntDistribution) and \
                    (domain.high - domain.low) // domain.step < _GRID_MAX_AXIS:
                values[name] = list(range(domain.low, domain.high + 1, domain.step))
            else:
                raise doc.error(("sampler",), f"sampler grid needs the values of {name!r}: add "
                                f"sampler.values.{name}: [...] (a float range has no grid).")
        return values

    def pruner(self, value: Any, path: Path) -> PrunerSpec:
        if value is None:
            return PrunerSpec()
        name, options = self.named_section(path, value, PRUNERS,
                                           ("wrapped",) if _name_of(value) == "patient" else ())
        wrapped = None
        if name == "patient":
            inner = options.pop("wrapped", None)
            wrapped = None if inner is None else self.pruner(inner, path + ("wrapped",))
        spec = PrunerSpec(name, options, wrapped)
        self.check_builds(path, spec.build)
        return spec

    def check_builds(self, path: Path, build: Any) -> None:
        try:
            build()
        except (PipetuneError, TypeError, ValueError) as error:
            raise self.doc.error(path, f"{dotted(path)}: {error}") from None

    # -- the launch ----------------------------------------------------------------------------

    def launch(self, top: dict, domains: dict[str, Distribution],
               objectives: tuple[MetricSpec, ...],
               intermediate: IntermediateSpec | None) -> LaunchSpec:
        doc = self.doc
        command = doc.argv(("command",), top["command"])
        if not command:
            raise doc.error(("command",), "command is empty: give the program to run, e.g. "
                            "[python, train.py].")
        for i, arg in enumerate(command):
            for field_name in filter(None, (m.group(1) for m in PLACEHOLDER.finditer(arg))):
                if field_name not in domains:
                    raise doc.error(("command",), f"command[{i}] {arg!r} has the placeholder "
                                    f"{{{field_name}}}, which is not a param."
                                    f"{did_you_mean(field_name, list(domains))} Params: "
                                    f"{', '.join(domains)}.")
        if command[0] in _PYTHON_NAMES:
            command = (sys.executable,) + command[1:]
        workdir = self.path_in(top, "workdir") or self.base_dir
        if not os.path.isdir(workdir):
            raise doc.error(("workdir",), f"workdir {workdir!r} is not a folder: create it or "
                            "fix the path (it is relative to the YAML file).")
        env: dict[str, str] = {}
        given = top.get("env") or {}
        for key, item in doc.mapping(("env",), given, list(given)).items():  # names are free
            if isinstance(item, bool) or not isinstance(item, (str, int, float)):
                raise doc.wrong(("env", key), item, "a string or a number",
                                "Quote it so the script gets the text you mean.")
            env[key] = str(item)
        program = command[0]
        if "/" in program or os.sep in program:
            found = os.path.exists(os.path.join(workdir, os.path.expanduser(program)))
        else:
            found = shutil.which(program, path=env.get("PATH")) is not None
        if not found:
            raise doc.error(("command",), f"command[0] {program!r} is not a program on PATH "
                            f"nor a file in the workdir ({workdir}): fix the name, or give its "
                            "path.")
        timeout = None if top.get("trial_timeout") is None \
            else doc.number(("trial_timeout",), top["trial_timeout"], positive=True)
        grace = 5.0 if top.get("grace_period") is None \
            else doc.number(("grace_period",), top["grace_period"], minimum=0)
        gpus = self.optional_int(top, "gpus_per_trial", 0) or 0
        if gpus:
            try:
                gpu_pool().check(gpus)
            except PipetuneError as error:
                raise doc.error(("gpus_per_trial",), str(error)) from None
        objective: Any = objectives[0] if len(objectives) == 1 else objectives
        try:
            return LaunchSpec(command=command, workdir=workdir, env=env, objective=objective,
                              intermediate=intermediate, timeout=timeout,
                              retries=self.optional_int(top, "retries", 0) or 0,
                              grace_period=float(grace),
                              gpus_per_trial=gpus,
                              log_dir=self.path_in(top, "log_dir"))
        except (PipetuneError, ValueError, TypeError) as error:
            raise doc.error(("command",), f"{error}") from None

    def path_in(self, top: dict, key: str) -> str | None:
        if top.get(key) is None:
            return None
        text = self.doc.string((key,), top[key])
        return os.path.normpath(os.path.join(self.base_dir, os.path.expanduser(text)))

    def stopping(self, value: Any, n_directions: int) -> StoppingSpec:
        doc = self.doc
        if value is None:
            return StoppingSpec()
        path: Path = ("stopping",)
        section = doc.mapping(path, value, ("target_value", "no_improvement",
                                            "max_failed_in_a_row"))
        for key in ("target_value", "no_improvement"):
            if section.get(key) is not None and n_directions > 1:
                raise doc.error(path + (key,), f"stopping.{key} needs one objective; this study "
                                f"has {n_directions}.")
        target = None if section.get("target_value") is None \
            else doc.number(path + ("target_value",), section["target_value"])
        failed = self.optional_int(section, "max_failed_in_a_row", 1, path) \
            if "max_failed_in_a_row" in section else StoppingSpec.max_failed_in_a_row
        return StoppingSpec(target_value=target,
                            no_improvement=self.optional_int(section, "no_improvement", 1, path),
                            max_failed_in_a_row=failed)


def _name_of(value: Any) -> Any:
    return value.get("name") if isinstance(value, dict) else value
