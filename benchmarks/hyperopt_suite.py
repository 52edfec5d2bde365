"""Hyperopt's own test suite against pipetune: how much of Hyperopt's public API works unchanged.

Downloads the Hyperopt 0.3.0 sdist with pip (nothing of Hyperopt is committed) into a temp dir
and runs its tests (``hyperopt/tests`` and ``hyperopt/pyll/tests``) with pytest against
``pipetune.compat.hyperopt`` through a generated ``hyperopt`` package that only maps names
(``SHIM``; no wrapper, no adapter, no added behaviour):

- ``import hyperopt`` gives the module ``pipetune.compat.hyperopt`` itself, and
  ``hyperopt.x.y`` the module ``pipetune.compat.hyperopt.x.y`` itself when there is one, an
  import error when there is not;
- ``hyperopt.tests.*`` and ``hyperopt.pyll.tests.*`` (the tests and the helpers they share)
  are the sdist's own files;
- a Hyperopt internal that a test file's import statements name (``from hyperopt.pyll import
  rec_eval``, ``from hyperopt import Domain``, ``import hyperopt.pyll_utils``) is a
  placeholder: the import works, so a file that imports one internal can still run its other
  tests, and any use of it raises;
- the Hyperopt installed in the environment is shadowed, and a run that imports it anyway stops.

Which tests use only Hyperopt's public API is decided statically (``Classifier``: each test
file and helper module is parsed with ``ast``, nothing is imported). Hyperopt marks no internals
with underscores, so its public API is the table ``PUBLIC``: the names its documentation shows
users, by module. A Hyperopt *internal* is any other name or module under ``hyperopt`` (pyll's
graph: ``rec_eval``, ``Apply``, ``Literal``, ``dfs``; ``Domain``, ``Ctrl``, ``trials_from_docs``,
``miscs_to_idxs_vals``; tpe's ``GMM1`` and kin; ``rdists``, ``vectorize``, ``pyll_utils``,
``criteria``, ``utils``, ``progress``, ...), and any attribute starting with ``_``
(``trials._dynamic_trials``; dunders and the code's own ``self._x`` excepted). A test is
*internal* when

- ``file:`` its file cannot be imported without internals: code that runs when it is imported
  (module-level statements, decorators, class bodies) uses one, or it imports a helper module
  that cannot be imported; or
- ``test:`` its own code (for a method: also its class, the methods of its class hierarchy it
  reaches through ``self``, and ``setUp``) uses one, or uses a function, class or module-level
  name of its file or of a helper module whose code does, transitively.

Every other test is *public*. The suite's test items are those pytest collects against the
sdist's own Hyperopt, so a public test that pipetune makes uncollectable counts, as an error;
files that do not even collect there (a missing ``bson``, ``pyspark`` or ``IPython``) are left
out of every count and named. The public tests run (``--internal`` adds the others) in pytest
subprocesses with a per-test timeout; the report gives passed / failed / error / skipped per
file, the public total and the target: **at least 90% of the public-API tests pass** (skipped
tests, skipped by the suite's own conditions, are left out of the share). Exit status 1 when the
target fails (``--exit-zero``: 0).

Run: ``.venv/bin/python benchmarks/hyperopt_suite.py`` (a minute or two; ``--failures`` lists
the failing public tests grouped by error, ``--json FILE`` saves every test's outcome,
``--against hyperopt`` runs the same tests on the sdist's own Hyperopt, ``--module M`` maps
``hyperopt`` onto another module than ``pipetune.compat.hyperopt``, e.g. an older copy on
``PYTHONPATH``). Needs the ``bench`` extra (Hyperopt's own test dependencies included).
"""

from __future__ import annotations

import argparse
import ast
import shutil
import sys
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _api_suite as api
from _api_suite import ApiSuite, Code, ModuleInfo, PytestPlace, Workspace, shim_start

HYPEROPT_VERSION = "0.3.0"
TARGET_MODULE = "pipetune.compat.hyperopt"
TEST_PACKAGES = ("hyperopt.tests", "hyperopt.pyll.tests")

_STATUS = {"STATUS_FAIL", "STATUS_NEW", "STATUS_OK", "STATUS_RUNNING", "STATUS_STRINGS",
           "STATUS_SUSPENDED", "JOB_STATES", "JOB_STATE_CANCEL", "JOB_STATE_DONE",
           "JOB_STATE_ERROR", "JOB_STATE_NEW", "JOB_STATE_RUNNING"}
_HP = {"choice", "pchoice", "uniform", "quniform", "loguniform", "qloguniform", "normal",
       "qnormal", "lognormal", "qlognormal", "randint", "uniformint"}
_ALGORITHMS = {"tpe", "rand", "anneal", "atpe", "mix"}
# Hyperopt's public API, module -> names (its documentation: the FMin, search-space and
# parallel-search pages, the README, the 0.3.0 release's HyperoptSearchCV). A module named here
# is public; a submodule of it that is not named here is internal.
PUBLIC: dict[str, set[str]] = {
    "hyperopt": {"fmin", "space_eval", "Trials", "SparkTrials", "partial", "hp", "pyll",
                 "exceptions", "early_stop", "base", "sklearn", "plotting", "mongoexp",
                 "spark", *_ALGORITHMS, *_STATUS},
    "hyperopt.hp": set(_HP),
    "hyperopt.base": {"Trials", *_STATUS},
    "hyperopt.fmin": {"fmin", "space_eval", "generate_trials_to_calculate", "partial"},
    "hyperopt.early_stop": {"no_progress_loss"},
    "hyperopt.exceptions": {"AllTrialsFailed", "BadSearchSpace", "DuplicateLabel",
                            "InvalidAnnotatedParameter", "InvalidLoss", "InvalidResultStatus",
                            "InvalidTrial"},
    "hyperopt.pyll": {"scope", "as_apply", "stochastic"},
    "hyperopt.pyll.stochastic": {"sample"},
    "hyperopt.spark": {"SparkTrials"},
    "hyperopt.mongoexp": {"MongoTrials"},
    "hyperopt.sklearn": {"HyperoptSearchCV"},
    "hyperopt.plotting": {"main_plot_history", "main_plot_histogram", "main_plot_vars"},
    **{f"hyperopt.{name}": {"suggest"} for name in _ALGORITHMS},
}

# -- the shim, written into the temp dir (its start, with PlaceholderName, is _api_suite's) -------

SHIM = '''TARGET = "pipetune.compat.hyperopt"
SUITE = ""
TEST_PACKAGES = ("hyperopt.tests", "hyperopt.pyll.tests")
# The Hyperopt internals the suite's import statements name: module -> names.
INTERNAL_NAMES = {}


class InternalModule(types.ModuleType):
    """An internal Hyperopt module that pipetune does not have: every name in it is a
    PlaceholderName."""

    def __getattr__(self, name):
        if name.startswith("__"):
            raise AttributeError(name)
        return PlaceholderName(f"{self.__name__}.{name}")


class MappedModule(types.ModuleType):
    """A module of TARGET seen through its Hyperopt name: its own names, and the internal names
    the suite imports from it as PlaceholderNames."""

    def __init__(self, name, target):
        super().__init__(name)
        object.__setattr__(self, "_target", target)
        if hasattr(target, "__path__"):
            self.__path__ = target.__path__

    def __getattr__(self, name):
        target = object.__getattribute__(self, "_target")
        if hasattr(target, name):
            return getattr(target, name)
        if name in INTERNAL_NAMES.get(self.__name__, ()):
            return PlaceholderName(f"{self.__name__}.{name}")
        raise AttributeError(f"module {self.__name__!r} ({target.__name__}) has no {name!r}")


def _mapped(name, target):
    return MappedModule(name, target) if INTERNAL_NAMES.get(name) else target


class HyperoptNames(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """hyperopt.x.y is TARGET.x.y; hyperopt.tests.* the sdist's test files."""

    def find_spec(self, fullname, path=None, target=None):
        if not fullname.startswith("hyperopt."):
            return None
        for package in TEST_PACKAGES:
            if fullname == package or fullname.startswith(package + "."):
                parent = fullname.rsplit(".", 1)[0]
                where = path if fullname != package else [
                    os.path.join(SUITE, *parent.split("."))]
                return importlib.machinery.PathFinder.find_spec(fullname, where)
        target_name = TARGET + fullname[len("hyperopt"):]
        spec = alias_spec(fullname, self, target_name)
        if spec is None and fullname in INTERNAL_NAMES:
            spec = importlib.machinery.ModuleSpec(fullname, self, is_package=True)
            spec.loader_state = None
        if spec is None:
            raise ModuleNotFoundError(
                f"No module named {fullname!r} ({TARGET} has no {target_name})", name=fullname)
        return spec

    def create_module(self, spec):
        if spec.loader_state is None:
            module = InternalModule(spec.name)
            module.__path__ = []
            return module
        module = _mapped(spec.name, importlib.import_module(spec.loader_state))
        spec.loader_state = getattr(module, "__spec__", None)
        return module

    def exec_module(self, module):
        # The import machinery gave the module the alias's spec: give it its own back.
        if isinstance(module, InternalModule):
            return
        if not isinstance(module, MappedModule) and module.__spec__.loader_state is not None:
            module.__spec__ = module.__spec__.loader_state


sys.meta_path.insert(0, HyperoptNames())
sys.modules["hyperopt"] = _mapped("hyperopt", importlib.import_module(TARGET))
# The submodules TARGET imported already (its fmin, hp, ...) under their Hyperopt names too:
# importing one of them again under its alias would make it an attribute of TARGET, where the
# function of the same name (hyperopt.fmin) lives.
for _name, _module in list(sys.modules.items()):
    if _name.startswith(TARGET + "."):
        _alias = "hyperopt" + _name[len(TARGET):]
        sys.modules.setdefault(_alias, _mapped(_alias, _module))
'''

PYTEST_INI = """[pytest]
markers =
    slow: Hyperopt's marker for slow tests
    xslow: Hyperopt's marker for very slow tests
    thread_unsafe: Hyperopt's marker
"""

# -- public or internal: the static rule (see the module docstring) ------------------------------


def is_test_module(module: str) -> bool:
    return any(module == p or module.startswith(p + ".") for p in TEST_PACKAGES)


def public_module(module: str) -> bool:
    return module in PUBLIC or is_test_module(module)


def internal_use(module: str, name: str | None = None) -> str | None:
    """Why using ``name`` of the Hyperopt module ``module`` (or the module itself) is using an
    internal; None when it is public (test helpers count as public: they are followed)."""
    if module.split(".")[0] != "hyperopt" or is_test_module(module):
        return None
    if module not in PUBLIC:
        return f"uses {module}"
    if name is None or name in PUBLIC[module] or f"{module}.{name}" in PUBLIC \
            or is_test_module(f"{module}.{name}"):
        return None
    return f"uses {module}.{name}"


def internal_imports(paths: list[Path]) -> dict[str, list[str]]:
    """The internal names (module -> names) and modules (module -> []) these files import."""
    found: dict[str, set[str]] = defaultdict(set)
    for path in paths:
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    parts = alias.name.split(".")
                    for i in range(2, len(parts) + 1):
                        if internal_use(".".join(parts[:i])):
                            found[".".join(parts[:i])]
            elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
                if internal_use(node.module):
                    found[node.module].update(a.name for a in node.names)
                for alias in node.names:
                    if internal_use(node.module, alias.name):
                        found[node.module].add(alias.name)
    return {module: sorted(names) for module, names in sorted(found.items())}


def dotted(node: ast.expr) -> tuple[str, ...] | None:
    parts: list[str] = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        return (node.id, *reversed(parts))
    return None


class CodeScanner(api.ScopeScanner):
    """Hyperopt's rule on code (``ScopeScanner``): the internals it imports, the hyperopt paths
    and underscore attributes it reads."""

    def visit_Attribute(self, node: ast.Attribute) -> None:
        path = dotted(node)
        if path is not None:
            if path[0] in ("self", "cls"):
                if len(path) > 1:
                    self.code.self_attrs.add(path[1])
            else:
                self.code.paths.add(path)
        own = path and path[0] in ("self", "cls") and len(path) == 2  # the code's self._x
        if api.is_private(node.attr) and not own:
            self.code.touch(f"uses attribute .{node.attr}")
        self.generic_visit(node)

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            self.code.touch(internal_use(alias.name))
            self.code.paths.add(tuple(alias.name.split(".")))

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        if node.module and not node.level:
            for alias in node.names:
                self.code.touch(internal_use(node.module, alias.name))

    def visit_FunctionDef(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> None:
        for expression in [*node.decorator_list, *node.args.defaults,
                           *(d for d in node.args.kw_defaults if d is not None)]:
            self.visit(expression)
        for argument in [*node.args.posonlyargs, *node.args.args, *node.args.kwonlyargs,
                         node.args.vararg, node.args.kwarg]:
            if argument is not None and argument.annotation is not None:
                self.visit(argument.annotation)  # evaluated when the def runs
        self.visit_called([*node.args.posonlyargs, *node.args.args, *node.args.kwonlyargs,
                           *node.body])

    visit_AsyncFunctionDef = visit_FunctionDef

    def visit_Lambda(self, node: ast.Lambda) -> None:
        self.visit_called([node.body])


def scan(node: ast.AST) -> CodeScanner:
    scanner = CodeScanner()
    scanner.visit(node)
    return scanner


class Classifier(api.StaticClassifier):
    """Decides for each test function whether it uses only Hyperopt's public API (module
    docstring). Test files and helpers live under ``suite``."""

    def __init__(self, suite: Path) -> None:
        self.suite = suite
        self.modules: dict[str, ModuleInfo] = {}
        self.taint: dict[tuple[str, str, bool], str | None] = {}

    def path_of(self, module: str) -> Path | None:
        if not is_test_module(module):
            return None
        return api.module_file(self.suite.joinpath(*module.split(".")))

    def module(self, name: str) -> ModuleInfo:
        if name in self.modules:
            return self.modules[name]
        info = self.modules[name] = ModuleInfo(name)  # breaks import cycles
        path = self.path_of(name)
        assert path is not None, name
        package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
        for statement in ast.parse(path.read_text(), str(path)).body:
            self._statement(info, package, statement)
        return info

    def _resolve_import(self, info: ModuleInfo, package: str, node: ast.ImportFrom) -> str:
        if not node.level:
            return node.module or ""
        base = package.split(".")[:len(package.split(".")) - node.level + 1]
        return ".".join([*base, *([node.module] if node.module else [])])

    def _statement(self, info: ModuleInfo, package: str, statement: ast.stmt) -> None:
        if isinstance(statement, ast.Import):
            for alias in statement.names:
                info.block(internal_use(alias.name) and f"imports {alias.name}")
                local = alias.asname or alias.name.split(".")[0]
                info.imports[local] = (alias.name if alias.asname else local, None)
            return
        if isinstance(statement, ast.ImportFrom):
            module = self._resolve_import(info, package, statement)
            for alias in statement.names:
                local = alias.asname or alias.name
                info.imports[local] = (module, alias.name)
                if is_test_module(module) and self.path_of(module) is not None:
                    helper = self.module(module)
                    info.block(helper.blocked and f"imports {module}, which {helper.blocked}")
            return
        if isinstance(statement, (ast.FunctionDef, ast.AsyncFunctionDef)):
            scanner = scan(statement)
            self._at_import(info, scanner.at_import)
            info.definitions[statement.name] = self._merge(scanner.at_import,
                                                            scanner.when_called)
            return
        if isinstance(statement, ast.ClassDef):
            head = Code()
            methods: dict[str, Code] = {}
            for expression in [*statement.bases, *statement.decorator_list]:
                self._add(head, scan(expression).at_import)
            for item in statement.body:
                scanner = scan(item)
                if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    methods[item.name] = self._merge(scanner.at_import, scanner.when_called)
                    self._add(head, scanner.at_import)
                else:
                    self._add(head, scanner.at_import)
                    self._add(head, scanner.when_called)
            self._at_import(info, head)
            bases = [".".join(p) for p in (dotted(b) for b in statement.bases) if p]
            info.classes[statement.name] = api.ClassInfo(bases, methods)
            info.definitions[statement.name] = head
            return
        scanner = scan(statement)
        self._at_import(info, scanner.at_import)
        code = self._merge(scanner.at_import, scanner.when_called)
        targets = getattr(statement, "targets", None) or [getattr(statement, "target", None)]
        for target in targets:
            for node in ast.walk(target) if target is not None else ():
                if isinstance(node, ast.Name):
                    info.definitions[node.id] = code

    @staticmethod
    def _add(into: Code, code: Code) -> None:
        into.touch(code.internal)
        into.names |= code.names
        into.self_attrs |= code.self_attrs
        into.paths |= code.paths

    def _merge(self, *codes: Code) -> Code:
        merged = Code()
        for code in codes:
            self._add(merged, code)
        return merged

    def _at_import(self, info: ModuleInfo, code: Code) -> None:
        """Blocks the module when code it runs while being imported uses an internal."""
        # A class named at import (a base, say) runs none of its methods then.
        why = self._why(info, code, methods=False)
        info.block(why and f"{why} when imported")

    def _why(self, info: ModuleInfo, code: Code, seen: frozenset[str] = frozenset(),
             methods: bool = True) -> str | None:
        """Why ``code`` of module ``info`` uses an internal, directly or through the names it
        reads (definitions of its module, names imported from hyperopt or from helpers; with
        ``methods``, the methods of the classes it names)."""
        if code.internal:
            return code.internal
        for path in sorted(code.paths):
            why = self._path(info, path)
            if why:
                return why
        for name in sorted(code.names):
            why = self._name(info, name, seen, methods)
            if why:
                return why
        return None

    def _path(self, info: ModuleInfo, path: tuple[str, ...]) -> str | None:
        """An attribute chain ``x.a.b`` whose root is an imported hyperopt module."""
        bound = info.imports.get(path[0])
        if bound is None:
            return None
        module, name = bound
        root = f"{module}.{name}" if name else module
        if not root.startswith("hyperopt") or is_test_module(root):
            return None
        parts = root.split(".")
        rest = list(path[1:])
        # walk down the modules named, then judge the first non-module name
        while rest and ".".join([*parts, rest[0]]) in PUBLIC:
            parts.append(rest.pop(0))
        current = ".".join(parts)
        if current not in PUBLIC:
            return internal_use(current.rsplit(".", 1)[0], current.rsplit(".", 1)[1])
        return internal_use(current, rest[0]) if rest else None

    def _name(self, info: ModuleInfo, name: str, seen: frozenset[str],
              methods: bool = True) -> str | None:
        key = (info.name, name, methods)
        if key in self.taint:
            return self.taint[key]
        if f"{info.name}:{name}" in seen:
            return None
        seen = seen | {f"{info.name}:{name}"}
        why: str | None = None
        if name in info.imports:
            module, imported = info.imports[name]
            if is_test_module(module) and imported is not None and self.path_of(module):
                helper = self.module(module)
                inner = self._name(helper, imported, seen, methods) \
                    if imported in helper.definitions or imported in helper.imports else None
                why = inner and f"uses {imported} of {module}, which {inner}"
            elif module.startswith("hyperopt"):
                why = internal_use(module, imported) if imported else internal_use(module)
        elif name in info.definitions:
            inner = self._why(info, info.definitions[name], seen, methods)
            why = inner and f"uses {name}, which {inner}"
            if name in info.classes and why is None and methods:
                for method in info.classes[name].methods.values():
                    inner = self._why(info, method, seen)
                    why = why or (inner and f"uses {name}, which {inner}")
        self.taint[key] = why
        return why

    def class_head(self, module: str, class_name: str) -> tuple[ModuleInfo, Code] | None:
        info = self.module(module)
        if class_name in info.imports and info.imports[class_name][1]:
            helper, name = info.imports[class_name]
            return self.class_head(helper, name or class_name) if self.path_of(helper) else None
        if class_name not in info.classes:
            return None
        return info, info.definitions[class_name]

    def function_reason(self, info: ModuleInfo, function: str) -> str | None:
        code = info.definitions.get(function)
        return "its code is not found statically" if code is None else self._why(info, code)

    def code_reason(self, info: ModuleInfo, code: Code) -> str | None:
        return self._why(info, code)

    def class_reason(self, info: ModuleInfo, class_name: str) -> str | None:
        head = self.class_head(info.name, class_name)
        return self._why(*head) if head else None

    def methods_used(self, code: Code) -> set[str]:
        """The methods of the class it reaches through self, and unittest's setUp /
        tearDown."""
        return code.self_attrs | {"setUp", "tearDown", "setUpClass"}

    def used_method_reason(self, info: ModuleInfo, class_name: str, test: Code,
                           used: tuple[ModuleInfo, Code]) -> str | None:
        why = self._why(*used)
        if why is None:  # one level deeper: what setUp or a helper method reaches
            for deeper in sorted(used[1].self_attrs):
                more = self.find_method(info.name, class_name, deeper)
                if more and more[1] is not test and more[1] is not used[1]:
                    why = why or self._why(*more)
        return why


# -- Hyperopt's suite -----------------------------------------------------------------------------


class HyperoptSuite(ApiSuite):
    """Hyperopt's ``hyperopt/tests`` and ``hyperopt/pyll/tests``, run against pipetune from
    outside the suite folder (below)."""

    name = "hyperopt"
    title = "Hyperopt"
    version = HYPEROPT_VERSION
    pytest_ini = PYTEST_INI
    test_paths = tuple(str(Path(*p.split("."))) for p in TEST_PACKAGES)
    file_prefix = "hyperopt/"
    report_packages = ("pipetune", "pytest", "scikit-learn")

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--module", default=TARGET_MODULE,
                            help=f"the module the shim maps `hyperopt` onto ({TARGET_MODULE})")

    def target_module(self, args: argparse.Namespace) -> str:
        return str(args.module)

    def prepare(self, space: Workspace, args: argparse.Namespace) -> None:
        for package in TEST_PACKAGES:
            path = Path(*package.split("."))
            shutil.copytree(space.source / path, space.suite / path)
        # Empty package markers, so pytest names the test modules hyperopt.tests.*; the shim,
        # imported first, answers for `hyperopt` itself.
        for marker in ("hyperopt", "hyperopt/pyll"):
            (space.suite / marker / "__init__.py").write_text("")
        internal = internal_imports(sorted(space.suite.rglob("*.py")))
        (space.shim / "hyperopt").mkdir(parents=True)
        (space.shim / "hyperopt" / "__init__.py").write_text(
            shim_start("Hyperopt", "internal")
            + SHIM.replace('TARGET = "pipetune.compat.hyperopt"', f"TARGET = {args.module!r}")
            .replace('SUITE = ""', f"SUITE = {str(space.suite)!r}")
            .replace("INTERNAL_NAMES = {}", f"INTERNAL_NAMES = {internal!r}"))

    def classifier(self, space: Workspace) -> Callable[[str], str | None]:
        return Classifier(space.suite).reason

    def place(self, space: Workspace, against: str) -> PytestPlace:
        if against != "pipetune":
            return PytestPlace(space.source, space.source)
        # Against pipetune, pytest runs from outside the suite: the suite's empty `hyperopt`
        # package marker must not be importable before the shim answers for `hyperopt`.
        return PytestPlace(space.directory, space.suite, (
            "--rootdir", str(space.suite), "-c", str(space.suite / "pytest.ini")))


if __name__ == "__main__":
    HyperoptSuite().main()
