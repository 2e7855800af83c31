"""Optional dependencies, imported lazily with an install hint when missing."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from types import ModuleType
from typing import Any

from fireworks.exceptions import MissingDependencyError

# The name Fireworks is installed under: `fireworks` on PyPI is the unrelated FireWorks workflow manager.
DISTRIBUTION = "torch-fireworks"


def install_hint(extra: str) -> str:
    """The pip command that installs the optional ``extra``: ``pip install 'torch-fireworks[db]'``."""
    return f"pip install '{DISTRIBUTION}[{extra}]'"


def missing_dependency(
    what: str, module: str, extra: str, err: ImportError | None = None
) -> MissingDependencyError:
    """The one-line error for ``what`` used without the ``extra`` that provides ``module``."""
    missing = getattr(err, "name", None) or module
    if missing.partition(".")[0] == module.partition(".")[0]:
        problem = "which is not installed"
    else:  # the package is there but one of its own dependencies is not
        problem = f"which cannot be imported ({err})"
    return MissingDependencyError(
        f"{what} needs the optional package {module.partition('.')[0]!r}, {problem}; "
        f"install it with: {install_hint(extra)}"
    )


def optional_import(module: str, extra: str, feature: str | None = None) -> ModuleType:
    """Import ``module`` or raise :class:`MissingDependencyError` naming the extra that provides it.

    The check runs where the feature is used, never at ``import fireworks``, so a bare install imports and
    runs the core and each optional feature says which extra it needs.

    >>> np = optional_import("numpy", "core")
    """
    try:
        return importlib.import_module(module)
    except ImportError as err:
        raise missing_dependency(feature or module, module, extra, err) from err


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
