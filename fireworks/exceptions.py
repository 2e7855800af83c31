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
