"""Hosting a Source elsewhere: ``handle = executor.host(src)``; ``handle.call("method", ...)`` → a Future.

A hosted Source lives in one worker (a thread, a process, a Ray actor) and serves method calls one at a time,
in the order they were made, so its cursor, RNG and caches stay where its data is. :class:`SourceHandle` is the
caller's side; :class:`~fireworks.sources.aio.HostedSource` turns a handle back into a (forward-only) Source that a local pipeline
can consume, with ``state_dict``/``load_state_dict`` passed through to the hosted pipeline so a resume is
exact.

On threads and processes a hosted Source is one long-running task that talks to its handle through the
executor contract's channel (``signal`` in, ``current_task().send`` out); on Ray it is an actor.
"""

from __future__ import annotations

import contextlib
import itertools
import threading
import time
from concurrent.futures import Future, InvalidStateError
from typing import TYPE_CHECKING, Any

from fireworks.parallel.base import TaskError, current_task

if TYPE_CHECKING:
    from fireworks.parallel.base import Executor

_CLOSE = "__fireworks_close__"
_POLL_S = 0.0005
_MAX_IDLE_S = 0.02


def call_method(source: Any, method: str, args: tuple, kwargs: dict) -> Any:
    """Run ``source.method(*args, **kwargs)``; ``"__next__"`` returns ``None`` at the end of the data."""
    if method == "__next__":
        return next(source, None)
    if method.startswith("_") and method not in ("__len__", "__getitem__"):
        raise AttributeError(f"a hosted Source serves public methods only, not {method!r}")
    target = getattr(source, method)
    out = target(*args, **kwargs) if callable(target) else target
    # methods that return the Source itself (reset() does, for chaining) answer None: the hosted Source
    # stays where it is hosted rather than travelling back as a copy
    return None if out is source else out


def serve(source: Any) -> str:
    """The task behind a hosted Source on a thread or process: answer calls until told to close."""
    ctx = current_task()
    if ctx is None:  # pragma: no cover - only ever submitted to an executor
        raise RuntimeError("serve() runs as an executor task")
    idle = _POLL_S
    while True:
        calls = ctx.receive()
        if not calls:
            time.sleep(idle)
            idle = min(idle * 2, _MAX_IDLE_S)  # back off while nobody calls
            continue
        idle = _POLL_S
        for call in calls:
            if call == _CLOSE:
                return "closed"
            call_id, method, args, kwargs = call
            try:
                reply: tuple = (call_id, True, call_method(source, method, args, kwargs))
            except Exception as err:
                reply = (call_id, False, err)
            try:
                ctx.send(reply)
            except Exception as err:  # the result or error could not be pickled
                ctx.send((call_id, False, TaskError(f"{type(err).__name__}: {err}")))


class SourceHandle:
    """The caller's side of a hosted Source: :meth:`call` returns a ``concurrent.futures.Future``.

    >>> from fireworks import Message, Source
    >>> from fireworks.parallel import get_executor
    >>> with get_executor("thread", 1) as ex:
    ...     handle = ex.host(Source(Message({"x": [1, 2, 3]})).batch(2))
    ...     [len(handle.call("__getitem__", i).result()) for i in range(2)]
    [2, 1]
    """

    def __init__(self, executor: Executor, source: Any) -> None:
        self.executor = executor
        self.name = getattr(source, "name", type(source).__name__)
        self._ids = itertools.count()
        self._lock = threading.Lock()
        self._calls: dict[int, Future] = {}
        self._closed = False
        self._task = executor.submit(serve, source, on_message=self._on_reply)
        self._task.add_done_callback(self._task_ended)

    def call(self, method: str, *args: Any, **kwargs: Any) -> Future:
        """Call ``method`` on the hosted Source; ``"__next__"`` gives the next item or ``None`` at the end."""
        future: Future = Future()
        future.set_running_or_notify_cancel()
        with self._lock:
            if self._closed or self._task.done():
                raise RuntimeError(f"the hosted Source {self.name!r} is closed; host it again")
            call_id = next(self._ids)
            self._calls[call_id] = future
        self.executor.signal(self._task, (call_id, method, args, kwargs))
        return future

    def _on_reply(self, reply: Any) -> None:
        call_id, ok, value = reply
        with self._lock:
            future = self._calls.pop(call_id, None)
        if future is None:
            return
        with contextlib.suppress(InvalidStateError):
            if ok:
                future.set_result(value)
            else:
                future.set_exception(value)

    def _task_ended(self, task: Future) -> None:
        err = task.exception()
        with self._lock:
            calls, self._calls = self._calls, {}
            self._closed = True
        for future in calls.values():
            with contextlib.suppress(InvalidStateError):
                future.set_exception(
                    err or TaskError(f"the hosted Source {self.name!r} was closed before answering")
                )

    def close(self) -> None:
        """Stop hosting (calls still unanswered fail); the executor goes on serving other tasks."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
        if not self._task.done():
            self.executor.signal(self._task, _CLOSE)
            try:
                self._task.result(timeout=10)
            except Exception:
                self.executor.kill(self._task, "hosted Source closed")

    def __enter__(self) -> SourceHandle:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class InlineHandle(SourceHandle):
    """A hosted Source on the inline executor: calls run at once in the caller (debugging)."""

    def __init__(self, executor: Executor, source: Any) -> None:
        self.executor = executor
        self.name = getattr(source, "name", type(source).__name__)
        self._source = source
        self._closed = False

    def call(self, method: str, *args: Any, **kwargs: Any) -> Future:
        if self._closed:
            raise RuntimeError(f"the hosted Source {self.name!r} is closed; host it again")
        future: Future = Future()
        future.set_running_or_notify_cancel()
        try:
            future.set_result(call_method(self._source, method, args, kwargs))
        except Exception as err:
            future.set_exception(err)
        return future

    def close(self) -> None:
        self._closed = True


__all__ = ["InlineHandle", "SourceHandle", "call_method", "serve"]
