"""The suite's rule for a test that needs something outside pipetune (a service, an optional
module, a command-line tool, a browser): where it is missing the test skips, naming what is
missing and how to get it, unless the ``CI`` environment variable is set; under CI it fails
instead, so CI never silently runs fewer tests than it claims. ``make test`` installs
everything these tests need.

Test modules import it as ``availability`` (``tests/`` is on ``sys.path`` once pytest has
loaded ``tests/conftest.py``)."""

from __future__ import annotations

import importlib.util
import os
from typing import NoReturn

import pytest


def unavailable(reason: str) -> NoReturn:
    """Skips the calling test (or module) because of ``reason``; fails it under CI."""
    if os.environ.get("CI"):
        pytest.fail(f"{reason} CI is set, so this test must run.", pytrace=False)
    pytest.skip(f"{reason} Set CI=true to make this a failure.", allow_module_level=True)


def require_installed(*modules: str, extra: str) -> None:
    """Applies ``unavailable`` unless every one of ``modules`` is installed. It finds them
    without importing them: the caller imports them (some, like Ray, only after setting the
    environment they read at import)."""
    missing = [name for name in modules if importlib.util.find_spec(name) is None]
    if missing:
        unavailable(f"Not installed: {', '.join(missing)} (pip install 'pipetune[{extra}]').")
