"""Errors raised by Fireworks.

Bad arguments raise the built-in ``ValueError``/``TypeError``/``KeyError``/``IndexError``; failures of the
domain (a node of a pipeline failing, a cycle in a graph, a missing optional dependency) raise a subclass of
:class:`FireworksError`.
"""

from __future__ import annotations


class FireworksError(Exception):
    """Base class of every Fireworks-specific error."""


class PipelineError(FireworksError):
    """A node of a Source graph failed; the message names the node (class and position in the graph)."""


class CycleError(FireworksError, ValueError):
    """Connecting Sources would create a cycle in the graph."""


class MissingDependencyError(FireworksError, ImportError):
    """An optional dependency is not installed; the message says which extra to install."""


class CorruptFileError(FireworksError, ValueError):
    """A file Fireworks reads is damaged: cut short, overwritten with other bytes, or not in the format it
    should be. The message names the file and says what is wrong with it; ``path`` holds the file's name.

    Fireworks' own writers never leave such a file behind (they write a temporary file and rename it, or
    commit a database transaction), so one usually means a copy was cut short or the disk was damaged.
    """

    def __init__(self, path: object, problem: str, fix: str = "") -> None:
        self.path = str(path)
        text = f"{self.path} is damaged: {problem}"
        super().__init__(text + (f"; {fix}" if fix else ""))
