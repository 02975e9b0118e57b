"""Optional packages in tests: skip only when a package is not installed at all."""

from __future__ import annotations

import importlib
import importlib.util

import pytest


def installed_or_skip(name: str, why: str):
    """Import `name`, skipping the test (or module) only when the package is not installed. A package
    that is installed but fails to import raises: a broken import must never pass as a skip."""
    if importlib.util.find_spec(name) is None:
        pytest.skip(why, allow_module_level=True)
    return importlib.import_module(name)
