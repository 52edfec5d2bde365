"""Optional dependencies: import them on first use with a message naming the extra."""

from __future__ import annotations

import importlib
from types import ModuleType

from pipetune.errors import MissingDependencyError


def require(module: str, extra: str) -> ModuleType:
    """Imports ``module`` or raises MissingDependencyError saying which extra installs it."""
    try:
        return importlib.import_module(module)
    except ImportError:
        raise MissingDependencyError(
            f"This feature needs {module!r}: pip install 'pipetune[{extra}]'."
        ) from None
