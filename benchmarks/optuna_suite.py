"""Optuna's own test suite run against pipetune: how much of Optuna's public API works unchanged.

Downloads the Optuna 5.1.0 sdist with pip (nothing of Optuna is committed) into a temp dir and
runs its ``tests/`` with pytest against pipetune through a generated ``optuna`` package that
only maps names (``SHIM``; no wrapper, no adapter):

- ``import optuna`` gives the ``pipetune`` module itself, and ``optuna.x.y`` the module
  ``pipetune.x.y`` itself when pipetune has one, an import error when it has not; the few
  public Optuna modules that pipetune lays out differently (``optuna.study.study`` is
  ``pipetune.study``) are listed in the shim's ``MOVED_MODULES`` table, name for name;
- a private module that the suite's import statements name (``optuna._x``, ``optuna.x._y``)
  is a placeholder: ``from optuna.x._y import z`` works, so a file that imports one private
  constant can still run its other tests, and any use of ``z`` raises. Any other private
  module is an import error, and so are ``from optuna.x import _y`` (pipetune's ``x`` has no
  ``_y``) and ``import optuna._x.y as z`` (it reads the attribute ``_x`` of pipetune);
- ``optuna.testing``, the helpers Optuna's tests import (``fail_objective``, the sampler test
  classes), is the sdist's own, run against pipetune like the tests;
- the Optuna installed in the environment is shadowed, and a run that imports it anyway stops.

Which tests use only Optuna's public API is decided statically (``Classifier``: each test file
and helper module is parsed with ``ast``, nothing is imported). An Optuna *internal* is a module
path under ``optuna`` with a part starting with ``_`` (``optuna._gp``, ``optuna.study._optimize``;
imported, or named in a string such as ``patch("...")``), a name starting with ``_`` imported
from an ``optuna`` module, an attribute starting with ``_`` (``study._storage``; dunders and the
code's own ``self._x`` excepted), or such a name given as a string to ``patch.object``,
``getattr``, ``setattr``, ``hasattr`` or ``delattr``. A test is *internal* when

- ``file:`` its file cannot be imported through the shim: its import-time code (module and
  class bodies, decorators, defaults, conditions) uses an internal, it imports a private name
  from a public module, or it imports a helper module (``optuna.testing.*``, ``tests.*``) that
  cannot be imported; or
- ``test:`` its own code (decorators, arguments, body; for a method also its class and the
  methods and fixtures of its class it uses) uses an internal, or uses a function, class,
  fixture or module-level name of its file or of a helper module whose code does, transitively.

Every other test is *public*. The suite's test items are those pytest collects against the
sdist's own Optuna, so a public test that pipetune makes uncollectable counts, as an error.
The public tests run (``--internal`` adds the others) in pytest subprocesses with a per-test
timeout; the report gives passed / failed / error / skipped per file, the public total and the
target: **at least 90% of the public-API tests pass** (skipped tests, skipped by the suite's own
conditions, are left out of the share). Exit status 1 when the target fails (``--exit-zero``: 0).

Run: ``.venv/bin/python benchmarks/optuna_suite.py`` (a few minutes; ``--only visualization``
runs the files whose path contains it, ``--failures`` lists the failing public tests grouped by
error, ``--json FILE`` saves every test's outcome, ``--against optuna`` runs the same tests on
the sdist's Optuna). Needs the ``bench`` extra (Optuna's own test dependencies included).
"""

from __future__ import annotations

import argparse
import ast
import re
import shutil
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _api_suite as api
from _api_suite import ApiSuite, Code, ModuleInfo, Workspace, shim_start

OPTUNA_VERSION = "5.1.0"

# -- the shim, written into the temp dir (its start, with PlaceholderName, is _api_suite's) -------

SHIM = '''import pipetune

# Optuna's test helpers (optuna.testing), copied from its sdist next to this file.
_HERE = os.path.dirname(os.path.abspath(__file__))


class PrivateModule(types.ModuleType):
    """A private Optuna module: every name in it is a PlaceholderName."""

    def __getattr__(self, name):
        if name.startswith("__"):
            raise AttributeError(name)
        return PlaceholderName(f"{self.__name__}.{name}")

    __call__ = _unavailable


def private_module(name):
    module = PrivateModule(name)
    module.__spec__ = importlib.machinery.ModuleSpec(name, None, is_package=True)
    module.__path__ = []
    return module


class PipetuneNames(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """optuna.x.y is the module pipetune.x.y itself; no such module, or a private one (a part
    starting with "_") not in PRIVATE_MODULES, is an import error."""

    def find_spec(self, fullname, path=None, target=None):
        if not fullname.startswith("optuna."):
            return None
        if fullname == "optuna.testing" or fullname.startswith("optuna.testing."):
            return importlib.machinery.PathFinder.find_spec(
                fullname, [_HERE] if fullname == "optuna.testing" else path)
        parts = fullname.split(".")[1:]
        if any(part.startswith("_") and not part.endswith("__") for part in parts):
            raise ModuleNotFoundError(
                f"No module named {fullname!r} (private to Optuna: not mapped)", name=fullname)
        pipetune_name = ".".join(["pipetune", *parts])
        spec = alias_spec(fullname, self, pipetune_name)
        if spec is None:
            raise ModuleNotFoundError(
                f"No module named {fullname!r} (pipetune has no {pipetune_name})", name=fullname)
        return spec

    def create_module(self, spec):
        module = importlib.import_module(spec.loader_state)
        spec.loader_state = module.__spec__
        return module

    def exec_module(self, module):
        # The import machinery gave pipetune's module the alias's spec: give it its own back.
        module.__spec__ = module.__spec__.loader_state


sys.meta_path.insert(0, PipetuneNames())
# Public Optuna modules that pipetune lays out differently: the Optuna path -> the pipetune module
# holding the same public names (docs/migrating.md lists them). Put in sys.modules up front, for
# the reason given for the private modules below.
MOVED_MODULES = {
    # Optuna's study is a package with a public `study` submodule; pipetune's is one module.
    "optuna.study.study": "pipetune.study",
    # pipetune's search_space is one module.
    "optuna.search_space.intersection": "pipetune.search_space",
    # pipetune's terminator keeps its callback with the terminator, and the median evaluator
    # with the other error evaluators.
    "optuna.terminator.callback": "pipetune.terminator.terminator",
    "optuna.terminator.median_erroreval": "pipetune.terminator.erroreval",
}
for _name, _module in MOVED_MODULES.items():
    sys.modules[_name] = importlib.import_module(_module)
# The private modules the suite's import statements name, as PrivateModules. They are put in
# sys.modules up front rather than found when imported: the import machinery would then set
# each as an attribute of the pipetune module above it (pipetune has private modules of the
# same names, e.g. _imports), and one below a pipetune module that is not a package
# (optuna.study._x, with pipetune/study.py) never reaches a finder.
PRIVATE_MODULES = []
for _name in PRIVATE_MODULES:
    sys.modules[_name] = private_module(_name)
# `optuna` is the pipetune module itself. (Importing optuna.testing, or a private name, sets it
# as an attribute of the module above it, as importing any submodule does.)
sys.modules["optuna"] = pipetune
'''

PYTEST_INI = """[pytest]
markers =
    slow: Optuna's marker for slow tests
"""


# -- public or internal: the static rule (see the module docstring) ------------------------------

PATCHING_CALLS = {"object", "getattr", "setattr", "hasattr", "delattr"}
OPTUNA_PATH = re.compile(r"optuna(\.\w+)+")


def private_optuna_path(dotted: str) -> bool:
    parts = dotted.split(".")
    return parts[0] == "optuna" and any(api.is_private(part) for part in parts[1:])


def is_helper(module: str) -> bool:
    """Optuna's test helpers: code the tests use, judged like the tests (followed, not banned)."""
    return module == "optuna.testing" or module.startswith("optuna.testing.")


def private_import(module: str, name: str | None = None) -> str | None:
    """Why importing ``name`` from ``module`` (or ``module`` itself) takes an Optuna internal;
    None when it does not."""
    if private_optuna_path(module):
        return f"imports {module}"
    if name and api.is_private(name) and module.split(".")[0] == "optuna" and not is_helper(module):
        return f"imports {name} from {module}"
    return None


def is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def absolute_module(module: str, node: ast.ImportFrom) -> str:
    """The module a ``from ... import`` names, relative imports resolved against ``module``."""
    if not node.level:
        return node.module or ""
    package = module.split(".")[:-node.level]
    return ".".join([*package, *([node.module] if node.module else [])])


class CodeScanner(api.ScopeScanner):
    """Scans code into what runs when its module is imported (``at_import``: module and class
    bodies, decorators, defaults) and what runs when a function is called (``when_called``:
    function bodies). At import, the internals that count are attributes, which fail then
    (``optuna.samplers._tpe``); a string naming one (``patch("optuna._x.y")``) acts only when
    the test runs, so it counts for ``when_called``. Module-level imports are the
    ``Classifier``'s."""

    def __init__(self, module: str, evaluates_annotations: bool) -> None:
        super().__init__()
        self.module = module  # dotted name of the scanned module, for relative imports
        self.evaluates_annotations = evaluates_annotations

    def visit_If(self, node: ast.If) -> None:
        if is_type_checking(node.test):  # never runs
            for statement in node.orelse:
                self.visit(statement)
        else:
            self.generic_visit(node)

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            why = private_import(alias.name)
            if why and self.code is self.when_called:
                self.code.touch(why)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        module = absolute_module(self.module, node)
        for alias in node.names:
            why = private_import(module, alias.name)
            if why and self.code is self.when_called:
                self.code.touch(why)

    def visit_Attribute(self, node: ast.Attribute) -> None:
        root = node.value
        while isinstance(root, ast.Attribute):
            root = root.value
        if isinstance(root, ast.Name) and root.id in ("self", "cls"):  # the code's own object
            if root is node.value:
                self.code.self_attrs.add(node.attr)
        elif api.is_private(node.attr):
            self.code.touch(f"uses attribute .{node.attr}")
        self.generic_visit(node)

    def visit_Constant(self, node: ast.Constant) -> None:
        if (isinstance(node.value, str) and OPTUNA_PATH.fullmatch(node.value)
                and private_optuna_path(node.value)):
            self.when_called.touch(f"names {node.value!r}")

    def visit_Call(self, node: ast.Call) -> None:
        function = node.func
        name = function.attr if isinstance(function, ast.Attribute) else getattr(function, "id", "")
        if name in PATCHING_CALLS:
            for argument in node.args[1:2]:
                if isinstance(argument, ast.Constant) and isinstance(argument.value, str) \
                        and api.is_private(argument.value):
                    self.when_called.touch(f"{name}(..., {argument.value!r})")
        self.generic_visit(node)

    def visit_arg(self, node: ast.arg) -> None:
        super().visit_arg(node)
        if self.evaluates_annotations and node.annotation is not None:
            self.visit(node.annotation)

    def visit_AnnAssign(self, node: ast.AnnAssign) -> None:
        self.visit(node.target)
        if node.value is not None:
            self.visit(node.value)
        if self.evaluates_annotations:
            self.visit(node.annotation)

    def visit_FunctionDef(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> None:
        for decorator in node.decorator_list:
            self.visit(decorator)
        for default in [*node.args.defaults, *node.args.kw_defaults]:
            if default is not None:
                self.visit(default)
        if self.evaluates_annotations and node.returns is not None:
            self.visit(node.returns)
        self.visit_called([*node.args.posonlyargs, *node.args.args, *node.args.kwonlyargs,
                           node.args.vararg, node.args.kwarg, *node.body])

    visit_AsyncFunctionDef = visit_FunctionDef

    def visit_Lambda(self, node: ast.Lambda) -> None:
        for default in [*node.args.defaults, *node.args.kw_defaults]:
            if default is not None:
                self.visit(default)
        self.visit_called([node.body])


@dataclass
class OptunaModuleInfo(ModuleInfo):
    """A parsed test file or helper module (``ModuleInfo``; its ``imports`` are those from
    helper modules), with the names its imports bind to internals (name -> why)."""

    internal_names: dict[str, str] = field(default_factory=dict)

    def run_at_import(self, code: Code) -> None:
        """Blocks the module when code it runs while being imported uses an internal."""
        self.block(code.internal and f"{code.internal} when imported")
        for name in sorted(code.names & self.internal_names.keys()):
            self.block(f"uses {name} when imported ({self.internal_names[name]})")


class Classifier(api.StaticClassifier):
    """Decides for each test function whether it uses only Optuna's public API (module
    docstring). Test files live under ``suite``; ``optuna.testing`` under ``source``."""

    def __init__(self, suite: Path, source: Path) -> None:
        self.roots = {"tests": suite, "optuna": source}
        self.modules: dict[str, OptunaModuleInfo] = {}
        self.taint: dict[tuple[str, str], str | None] = {}

    def path_of(self, module: str) -> Path | None:
        """The file of a helper module (``optuna.testing.*`` or ``tests.*``), if it is one."""
        parts = module.split(".")
        if parts[0] != "tests" and not is_helper(module):
            return None
        return api.module_file(self.roots[parts[0]].joinpath(*parts))

    def module(self, name: str) -> OptunaModuleInfo:
        if name not in self.modules:
            self.modules[name] = OptunaModuleInfo(name)  # a placeholder breaks import cycles
            path = self.path_of(name)
            assert path is not None, name
            tree = ast.parse(path.read_text(), str(path))
            evaluates = not any(
                isinstance(s, ast.ImportFrom) and s.module == "__future__"
                and any(a.name == "annotations" for a in s.names) for s in tree.body)
            # inside a package's __init__, relative imports start from the package itself
            scope = f"{name}.__init__" if path.name == "__init__.py" else name
            self.modules[name] = info = OptunaModuleInfo(name)
            self._statements(info, scope, tree.body, evaluates)
        return self.modules[name]

    def _statements(self, info: OptunaModuleInfo, scope: str, body: list[ast.stmt],
                    evaluates: bool) -> None:
        for statement in body:
            if isinstance(statement, ast.If) and is_type_checking(statement.test):
                self._statements(info, scope, statement.orelse, evaluates)
            elif isinstance(statement, (ast.If, ast.Try, ast.With)):
                head = CodeScanner(scope, evaluates)  # the condition, or the context managers
                for expression in [getattr(statement, "test", None),
                                   *getattr(statement, "items", [])]:
                    if expression is not None:
                        head.visit(expression)
                info.run_at_import(head.at_import)
                for part in (statement.body, getattr(statement, "orelse", []),
                             *[h.body for h in getattr(statement, "handlers", [])],
                             getattr(statement, "finalbody", [])):
                    self._statements(info, scope, part, evaluates)
            elif isinstance(statement, (ast.Import, ast.ImportFrom)):
                self._import(info, scope, statement)
            elif isinstance(statement, ast.ClassDef):
                self._class(info, scope, statement, evaluates)
            else:
                scanner = CodeScanner(scope, evaluates)
                scanner.visit(statement)
                info.run_at_import(scanner.at_import)
                code = Code(scanner.when_called.internal,
                            scanner.at_import.names | scanner.when_called.names)
                for bound in bound_names(statement):
                    info.definitions[bound] = code

    def _import(self, info: OptunaModuleInfo, scope: str,
                node: ast.Import | ast.ImportFrom) -> None:
        """Binds the names imported from private modules to internals (``import optuna.x._y``
        binds ``optuna``, public: its uses go through the private attribute) and blocks the
        module where the import itself fails through the shim: a private name of a public
        module, ``import optuna._x as y``, or a helper module that fails."""
        bindings: list[tuple[str, str, str | None]] = []  # (local name, module, name in it)
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.asname and private_optuna_path(alias.name):
                    # `import optuna._x.y as z` reads the attribute _x of pipetune: it fails
                    info.block(f"imports {alias.name} as {alias.asname}")
            helpers = [a.name for a in node.names]
        else:
            module = absolute_module(scope, node)
            bindings = [(a.asname or a.name, module, a.name) for a in node.names]
            helpers = [f"{module}.{a.name}" for a in node.names] + [module]
        for local, module, name in bindings:
            why = private_import(module, name)
            if why and not private_optuna_path(module):
                # `from optuna.x import _y` fails: optuna.x is pipetune's module, without _y
                # (while `from optuna.x._y import z` gives a PlaceholderName).
                info.block(why)
            if why:
                info.internal_names[local] = why
                info.definitions[local] = Code(why)
            elif name and self.path_of(module) and not self.path_of(f"{module}.{name}"):
                info.imports[local] = (module, name)
        for helper in filter(self.path_of, helpers):
            blocked = self.module(helper).blocked
            info.block(blocked and f"imports {helper}, which {blocked}")

    def _class(self, info: OptunaModuleInfo, scope: str, node: ast.ClassDef,
               evaluates: bool) -> None:
        """A class: its bases, decorators and body run at import; each method is judged with
        what the class adds to it (decorators, class-level code)."""
        bases = CodeScanner(scope, evaluates)  # followed as classes (find_method), not as names
        for part in [*node.bases, *node.keywords]:
            bases.visit(part)
        info.run_at_import(bases.at_import)
        head = CodeScanner(scope, evaluates)
        for decorator in node.decorator_list:
            head.visit(decorator)
        methods: dict[str, Code] = {}
        for statement in node.body:
            if isinstance(statement, (ast.FunctionDef, ast.AsyncFunctionDef)):
                scanner = CodeScanner(scope, evaluates)
                scanner.visit(statement)
                info.run_at_import(scanner.at_import)
                methods[statement.name] = Code(
                    scanner.when_called.internal,
                    scanner.at_import.names | scanner.when_called.names,
                    scanner.when_called.self_attrs)
            else:
                head.visit(statement)
        info.run_at_import(head.at_import)
        for code in methods.values():
            code.internal = code.internal or head.when_called.internal
            code.names |= head.at_import.names | head.when_called.names
        info.classes[node.name] = api.ClassInfo(
            [b.id for b in node.bases if isinstance(b, ast.Name)], methods)
        info.definitions[node.name] = Code(
            next((m.internal for m in methods.values() if m.internal), None),
            set().union(head.at_import.names, *(m.names for m in methods.values())))

    def tainted(self, module: str, name: str) -> str | None:
        """Why the module-level ``name`` of ``module`` touches internals when used (None: it
        does not), following the names its code uses, in that module and imported ones."""
        key = (module, name)
        if key not in self.taint:
            self.taint[key] = None  # a recursive helper is judged by its other names
            self.taint[key] = self._taint(self.module(module), name)
        return self.taint[key]

    def _taint(self, info: OptunaModuleInfo, name: str) -> str | None:
        if name in info.imports:
            return self.tainted(*info.imports[name])
        code = info.definitions.get(name)
        if code is None:
            return None
        return code.internal or self._through(info.name, code.names - {name})

    def _through(self, module: str, names: set[str]) -> str | None:
        for used in sorted(names):
            reason = self.tainted(module, used)
            if reason:
                return f"uses {used}, which {reason}"
        return None

    def function_reason(self, info: ModuleInfo, function: str) -> str | None:
        return self.tainted(info.name, function)

    def code_reason(self, info: ModuleInfo, code: Code) -> str | None:
        return code.internal or self._through(info.name, code.names)

    def methods_used(self, code: Code) -> set[str]:
        """Fixtures and helpers of the class itself, requested by name or reached through
        self."""
        return code.self_attrs | code.names


def bound_names(statement: ast.stmt) -> list[str]:
    """The names a module-level statement binds."""
    if isinstance(statement, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return [statement.name]
    targets = getattr(statement, "targets", None) or [getattr(statement, "target", None)]
    return [n.id for t in targets if t is not None for n in ast.walk(t) if isinstance(n, ast.Name)]


def private_modules(paths: list[Path]) -> list[str]:
    """The private Optuna modules these files import (``import optuna._x``, ``from
    optuna.x._y import z``)."""
    names: set[str] = set()
    for path in paths:
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                names.update(a.name for a in node.names if private_optuna_path(a.name))
            elif isinstance(node, ast.ImportFrom) and not node.level and node.module \
                    and private_optuna_path(node.module):
                names.add(node.module)
    return sorted(names)


# -- Optuna's suite -------------------------------------------------------------------------------


class OptunaSuite(ApiSuite):
    """Optuna's ``tests/``, run from the suite folder, with ``optuna.testing`` in the shim."""

    name = "optuna"
    title = "Optuna"
    version = OPTUNA_VERSION
    pytest_ini = PYTEST_INI
    test_paths = ("tests",)
    file_prefix = "tests/"
    show_pytest_output = True
    only_example = "visualization_tests,test_distributions"

    def prepare(self, space: Workspace, args: argparse.Namespace) -> None:
        shutil.copytree(space.source / "tests", space.suite / "tests")
        shutil.copytree(space.source / "optuna" / "testing", space.shim / "optuna" / "testing")
        names = private_modules([*space.suite.rglob("*.py"), *space.shim.rglob("*.py")])
        (space.shim / "optuna" / "__init__.py").write_text(
            shim_start("Optuna", "private")
            + SHIM.replace("PRIVATE_MODULES = []", f"PRIVATE_MODULES = {names!r}"))

    def classifier(self, space: Workspace) -> Callable[[str], str | None]:
        return Classifier(space.suite, space.source).reason


if __name__ == "__main__":
    OptunaSuite().main()
