"""Optional dependencies, imported lazily with an install hint when missing."""

from __future__ import annotations

import importlib
from types import ModuleType

from fireworks.exceptions import MissingDependencyError


def optional_import(module: str, extra: str, feature: str | None = None) -> ModuleType:
    """Import ``module`` or raise :class:`MissingDependencyError` naming the extra that provides it.

    >>> np = optional_import("numpy", "core")
    """
    try:
        return importlib.import_module(module)
    except ImportError as err:
        what = feature or module
        raise MissingDependencyError(
            f"{what} needs the optional package {module!r}, which is not installed; "
            f"install it with: pip install 'fireworks[{extra}]'"
        ) from err
