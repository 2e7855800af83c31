"""Executors: where work runs. One small interface (:class:`Executor`) with inline, thread and process
implementations, selected by name with :func:`get_executor`; a cluster executor can be added behind it."""

from __future__ import annotations

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

EXECUTORS: dict[str, type[Executor]] = {
    "inline": InlineExecutor,
    "thread": ThreadExecutor,
    "process": ProcessExecutor,
}


def get_executor(executor: str | Executor = "process", max_workers: int = 1) -> Executor:
    """Return ``executor`` if it is an :class:`Executor`, else a new one of that name with ``max_workers``.

    >>> get_executor("inline").name
    'inline'
    """
    if isinstance(executor, Executor):
        return executor
    if executor not in EXECUTORS:
        raise ValueError(
            f"unknown executor {executor!r}; choose one of {sorted(EXECUTORS)} or pass an Executor instance"
        )
    return EXECUTORS[executor](max_workers)


__all__ = [
    "EXECUTORS",
    "Executor",
    "InlineExecutor",
    "ProcessExecutor",
    "TaskContext",
    "TaskError",
    "TaskKilledError",
    "TaskTimeoutError",
    "ThreadExecutor",
    "WorkerDiedError",
    "current_task",
    "get_executor",
]
