"""The executor interface: where a task runs (inline, a thread, a process) behind one small API.

An :class:`Executor` runs ``fn(*args, **kwargs)`` somewhere and hands back a
:class:`concurrent.futures.Future`. Besides the result, a task and its submitter can talk while it runs:
the task calls ``current_task().send(obj)`` (delivered to the submitter's ``on_message`` callback) and
``current_task().receive()`` (objects the submitter sent with :meth:`Executor.signal`). The submitter can
stop a task with :meth:`Executor.kill` or a ``timeout``. This is all a hyperparameter search needs, and small
enough that a cluster executor (Ray) can implement it later without its users changing.
"""

from __future__ import annotations

import contextvars
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

from fireworks.exceptions import FireworksError

MessageCallback = Callable[[Any], None]


class TaskError(FireworksError):
    """A task did not finish normally for a reason outside its own code (killed, timed out, worker died)."""


class TaskKilledError(TaskError):
    """The submitter stopped the task with :meth:`Executor.kill`."""


class TaskTimeoutError(TaskError, TimeoutError):
    """The task ran longer than the ``timeout`` it was submitted with."""


class WorkerDiedError(TaskError):
    """The process running the task exited (``os._exit``, a signal, a segfault) before it finished."""


class TaskContext:
    """The running task's side of the channel to its submitter; get it with :func:`current_task`."""

    def __init__(self, send: MessageCallback, receive: Callable[[], list[Any]]) -> None:
        self._send = send
        self._receive = receive

    def send(self, obj: Any) -> None:
        """Send ``obj`` to the submitter's ``on_message`` callback (it must be picklable for processes)."""
        self._send(obj)

    def receive(self) -> list[Any]:
        """Return (and forget) every object the submitter sent with :meth:`Executor.signal` so far."""
        return self._receive()


_CURRENT: contextvars.ContextVar[TaskContext | None] = contextvars.ContextVar(
    "fireworks_task", default=None
)


def current_task() -> TaskContext | None:
    """The :class:`TaskContext` of the task running in this thread/process, or ``None`` outside a task."""
    return _CURRENT.get()


def run_in_context(context: TaskContext, fn: Callable[..., Any], args: tuple, kwargs: dict) -> Any:
    """Call ``fn`` with ``context`` as the current task (used by the executors)."""
    token = _CURRENT.set(context)
    try:
        return fn(*args, **kwargs)
    finally:
        _CURRENT.reset(token)


class Inbox:
    """A thread-safe list of signals for a task running in this process."""

    def __init__(self) -> None:
        self._items: list[Any] = []
        self._lock = threading.Lock()

    def put(self, obj: Any) -> None:
        with self._lock:
            self._items.append(obj)

    def take(self) -> list[Any]:
        with self._lock:
            items, self._items = self._items, []
        return items


class Executor(ABC):
    """Runs tasks somewhere and returns futures; the contract every executor keeps.

    - ``submit(fn, *args, timeout=None, on_message=None, **kwargs)`` returns a ``Future`` at once (the inline
      executor runs the task before returning). ``timeout`` (seconds) fails the future with
      :class:`TaskTimeoutError` and stops the task where the executor can (processes: killed);
      ``on_message`` receives what the task sends with ``current_task().send``.
    - An exception raised by the task fails its future with that exception; a task whose process dies fails
      with :class:`WorkerDiedError`, and the executor keeps serving other tasks.
    - ``kill(future, reason)`` stops a pending or running task; its future fails with :class:`TaskKilledError`.
    - ``signal(future, obj)`` queues ``obj`` for the running task's ``current_task().receive()``.
    - ``shutdown(wait=True, kill=False)`` stops accepting work; ``kill=True`` stops running tasks too.
    - At most ``max_workers`` tasks run at once; the rest wait in submission order.

    >>> from fireworks.parallel import get_executor
    >>> with get_executor("thread", 2) as ex:
    ...     ex.submit(pow, 2, 10).result()
    1024
    """

    name: str = "executor"
    #: whether ``kill``/``timeout`` really stop the task's code (threads cannot be stopped from outside)
    can_kill: bool = False

    def __init__(self, max_workers: int = 1) -> None:
        if not isinstance(max_workers, int) or isinstance(max_workers, bool) or max_workers < 1:
            raise ValueError(f"max_workers must be an int >= 1, but got {max_workers!r}")
        self.max_workers = max_workers

    @abstractmethod
    def submit(
        self,
        fn: Callable[..., Any],
        /,
        *args: Any,
        timeout: float | None = None,
        on_message: MessageCallback | None = None,
        **kwargs: Any,
    ) -> Future:
        """Schedule ``fn(*args, **kwargs)`` and return its future."""

    @abstractmethod
    def kill(self, future: Future, reason: str = "killed") -> None:
        """Stop the task behind ``future`` (pending or running); a finished one is left alone."""

    @abstractmethod
    def signal(self, future: Future, obj: Any) -> None:
        """Queue ``obj`` for the running task behind ``future``; ignored once it has finished."""

    @abstractmethod
    def shutdown(self, wait: bool = True, kill: bool = False) -> None:
        """Release the workers; with ``kill=True`` running and pending tasks are stopped first."""

    def host(self, source: Any) -> Any:
        """Host ``source`` on one of this executor's workers and return its handle: ``handle.call("method",
        *args)`` returns a Future of ``source.method(*args)`` run there, calls in order, one at a time
        (``"__next__"`` gives the next item, or ``None`` at the end). The hosted Source holds one worker
        until ``handle.close()`` or :meth:`shutdown`. See :mod:`fireworks.parallel.host`."""
        from fireworks.parallel.host import SourceHandle

        handle = SourceHandle(self, source)
        self.__dict__.setdefault("_hosts", []).append(handle)
        return handle

    def _close_hosts(self) -> None:
        """Close every hosted Source (called first by :meth:`shutdown`, so it never waits on them)."""
        for handle in self.__dict__.pop("_hosts", []):
            handle.close()

    def __enter__(self) -> Executor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.shutdown(wait=True, kill=exc[0] is not None)

    def state_dict(self) -> dict[str, Any]:
        """The configuration (executors hold no resumable progress of their own)."""
        return {"name": self.name, "max_workers": self.max_workers}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if state.get("name") != self.name:
            raise ValueError(
                f"state_dict is for executor {state.get('name')!r}, not {self.name!r}; "
                f"load it into a {state.get('name')!r} executor"
            )
        self.max_workers = int(state["max_workers"])

    @staticmethod
    def _check_timeout(timeout: float | None) -> None:
        if timeout is not None and not (isinstance(timeout, (int, float)) and timeout > 0):
            raise ValueError(
                f"timeout must be a positive number of seconds or None, but got {timeout!r}"
            )
