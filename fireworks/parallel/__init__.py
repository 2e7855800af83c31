"""Executors: where work runs. One small interface (:class:`Executor`) with inline, thread and process
implementations, and Ray for clusters (the ``ray`` extra), selected by name with :func:`get_executor`."""

from __future__ import annotations

from typing import Any

from fireworks.parallel.base import (
    Executor,
    TaskContext,
    TaskError,
    TaskKilledError,
    TaskTimeoutError,
    WorkerDiedError,
    current_task,
)
from fireworks.parallel.local import InlineExecutor, ThreadExecutor
from fireworks.parallel.process import ProcessExecutor
from fireworks.parallel.ray import RayExecutor

EXECUTORS: dict[str, type[Executor]] = {
    "inline": InlineExecutor,
    "thread": ThreadExecutor,
    "process": ProcessExecutor,
    "ray": RayExecutor,
}


def get_executor(
    executor: str | Executor = "process", max_workers: int = 1, **options: Any
) -> Executor:
    """Return ``executor`` if it is an :class:`Executor`, else a new one of that name with ``max_workers``
    (``options`` go to its constructor, e.g. ``address=`` for ``"ray"``; nothing starts before its first task).

    >>> get_executor("inline").name
    'inline'
    """
    if isinstance(executor, Executor):
        return executor
    if executor not in EXECUTORS:
        raise ValueError(
            f"unknown executor {executor!r}; choose one of {sorted(EXECUTORS)} or pass an Executor instance"
        )
    return EXECUTORS[executor](max_workers, **options)


__all__ = [
    "EXECUTORS",
    "Executor",
    "InlineExecutor",
    "ProcessExecutor",
    "RayExecutor",
    "TaskContext",
    "TaskError",
    "TaskKilledError",
    "TaskTimeoutError",
    "ThreadExecutor",
    "WorkerDiedError",
    "current_task",
    "get_executor",
]
