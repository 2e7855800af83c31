"""Optional dependencies, imported lazily with an install hint when missing."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from types import ModuleType
from typing import Any

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


def lazy_exports(
    package: str, exports: Mapping[str, str], namespace: dict[str, Any]
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """Module ``__getattr__`` and ``__dir__`` for ``package``, which exports ``exports`` (name → defining
    module) and imports each defining module on first use of one of its names.

    In the package's ``__init__``: ``__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals())``.
    """

    def __getattr__(name: str) -> Any:
        module = exports.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(module), name)
        namespace[name] = value
        return value

    def __dir__() -> list[str]:
        return sorted(set(namespace) | set(exports))

    return __getattr__, __dir__
