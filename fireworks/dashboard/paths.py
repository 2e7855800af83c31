"""Path safety: the dashboard reads only files under its ROOT folder.

Every path that comes from a URL or a form goes through :func:`safe_path`, which resolves it (following
symlinks) and refuses anything that ends up outside ROOT: ``..`` segments, absolute paths, and symlinks that
point out of the folder alike.
"""

from __future__ import annotations

import os
from pathlib import Path

from fireworks.exceptions import FireworksError


class UnsafePathError(FireworksError, ValueError):
    """A requested path resolves outside the dashboard's ROOT folder."""


def safe_path(root: str | os.PathLike[str], relative: str | os.PathLike[str]) -> Path:
    """The real path of ``relative`` inside ``root``, or :class:`UnsafePathError` if it escapes ``root``.

    >>> import tempfile
    >>> root = tempfile.mkdtemp()
    >>> safe_path(root, "run_0/metadata.json").name
    'metadata.json'
    >>> safe_path(root, "../etc/passwd")
    Traceback (most recent call last):
    ...
    fireworks.dashboard.paths.UnsafePathError: ...
    """
    base = Path(root).resolve()
    text = os.fspath(relative)
    if "\x00" in text:
        raise UnsafePathError(f"a path may not contain NUL bytes, but got {text!r}")
    if os.path.isabs(text) or text.startswith(("/", "\\")):
        raise UnsafePathError(
            f"paths are relative to the dashboard's root {base}, but got the absolute path {text!r}"
        )
    target = (base / text).resolve()
    if target != base and base not in target.parents:
        raise UnsafePathError(
            f"the dashboard only reads files under its root {base}, but {text!r} resolves to "
            f"{target}; open a file inside the root"
        )
    return target


def relative_to_root(root: str | os.PathLike[str], path: str | os.PathLike[str]) -> str:
    """``path`` (inside ``root``) as a POSIX path relative to ``root``."""
    return Path(path).resolve().relative_to(Path(root).resolve()).as_posix()
