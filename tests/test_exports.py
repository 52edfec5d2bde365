"""``pipetune.__all__`` is sorted, complete and resolvable (the public vocabulary is explicit)."""

from __future__ import annotations

import types

import pipetune


def test_all_is_sorted_and_unique():
    assert list(pipetune.__all__) == sorted(pipetune.__all__)
    assert len(set(pipetune.__all__)) == len(pipetune.__all__)


def test_every_listed_name_resolves():
    for name in pipetune.__all__:
        assert getattr(pipetune, name) is not None, name


def test_every_public_name_is_listed():
    """Public names in the namespace that are not submodules (imported as a side effect of
    importing the package) must be in ``__all__``."""
    public = {
        name for name, value in vars(pipetune).items()
        if not name.startswith("_") and not isinstance(value, types.ModuleType)
    }
    missing = public - set(pipetune.__all__)
    assert not missing, f"add to pipetune.__all__: {sorted(missing)}"


def test_listed_modules_are_pipetune_subpackages():
    for name in pipetune.__all__:
        value = getattr(pipetune, name)
        if isinstance(value, types.ModuleType):
            assert value.__name__ == f"pipetune.{name}"


def test_star_import_gives_exactly_all():
    namespace: dict = {}
    exec("from pipetune import *", namespace)
    assert set(namespace) - {"__builtins__"} == set(pipetune.__all__)
