"""In-process executors: inline (serial, for debugging) and a thread pool (for I/O-bound or GIL-free work)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, InvalidStateError, ThreadPoolExecutor
from typing import Any

from fireworks.parallel.base import (
    Executor,
    Inbox,
    MessageCallback,
    TaskContext,
    TaskKilledError,
    TaskTimeoutError,
    run_in_context,
)


def _settle(future: Future, result: Any = None, error: BaseException | None = None) -> bool:
    """Finish ``future`` unless it already is (a kill or timeout may have won the race)."""
    try:
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(result)
    except InvalidStateError:
        return False
    return True


class _Task:
    def __init__(self, on_message: MessageCallback | None) -> None:
        self.inbox = Inbox()
        self.context = TaskContext(on_message or (lambda obj: None), self.inbox.take)
        self.killed: BaseException | None = None


class InlineExecutor(Executor):
    """Runs each task to completion inside ``submit``, in the caller's thread.

    The reference implementation of the contract and the easiest to debug (breakpoints and tracebacks work
    as usual). ``kill`` and ``timeout`` cannot interrupt the running code; they fail the future once it
    returns.

    >>> InlineExecutor().submit(sum, [1, 2, 3]).result()
    6
    """

    name = "inline"

    def __init__(self, max_workers: int = 1) -> None:
        super().__init__(max_workers)
        self._running: dict[Future, _Task] = {}
        self._closed = False

    def submit(
        self,
        fn: Callable[..., Any],
        /,
        *args: Any,
        timeout: float | None = None,
        on_message: MessageCallback | None = None,
        **kwargs: Any,
    ) -> Future:
        if self._closed:
            raise RuntimeError("cannot submit to an executor after shutdown()")
        self._check_timeout(timeout)
        future: Future = Future()
        future.set_running_or_notify_cancel()
        task = self._running[future] = _Task(on_message)
        start = time.perf_counter()
        try:
            result = run_in_context(task.context, fn, args, kwargs)
        except Exception as err:
            _settle(future, error=task.killed or err)
        else:
            elapsed = time.perf_counter() - start
            if task.killed is not None:
                _settle(future, error=task.killed)
            elif timeout is not None and elapsed > timeout:
                _settle(future, error=TaskTimeoutError(f"timed out after {timeout:g} s"))
            else:
                _settle(future, result)
        finally:
            del self._running[future]
        return future

    def kill(self, future: Future, reason: str = "killed") -> None:
        task = self._running.get(future)
        if task is not None:
            task.killed = TaskKilledError(reason)

    def signal(self, future: Future, obj: Any) -> None:
        task = self._running.get(future)
        if task is not None:
            task.inbox.put(obj)

    def host(self, source: Any) -> Any:
        """Calls on the hosted Source run at once, in the caller's thread (the inline executor's way)."""
        from fireworks.parallel.host import InlineHandle

        return InlineHandle(self, source)

    def shutdown(self, wait: bool = True, kill: bool = False) -> None:
        self._closed = True


class ThreadExecutor(Executor):
    """Runs tasks on a pool of ``max_workers`` threads.

    Good for I/O-bound work and for code that releases the GIL (most torch operations). Threads cannot be
    stopped from outside: ``kill`` and ``timeout`` fail the future at once, and the abandoned task keeps
    running in the background until it returns (its result is dropped).

    >>> with ThreadExecutor(2) as ex:
    ...     [f.result() for f in [ex.submit(abs, -1), ex.submit(abs, -2)]]
    [1, 2]
    """

    name = "thread"

    def __init__(self, max_workers: int = 1) -> None:
        super().__init__(max_workers)
        self._pool = ThreadPoolExecutor(max_workers, thread_name_prefix="fireworks-worker")
        self._tasks: dict[Future, _Task] = {}
        self._lock = threading.Lock()

    def submit(
        self,
        fn: Callable[..., Any],
        /,
        *args: Any,
        timeout: float | None = None,
        on_message: MessageCallback | None = None,
        **kwargs: Any,
    ) -> Future:
        self._check_timeout(timeout)
        future: Future = Future()
        future.set_running_or_notify_cancel()
        task = _Task(on_message)
        with self._lock:
            self._tasks[future] = task
        future.add_done_callback(self._forget)

        def work() -> None:
            if future.done():  # killed while it waited for a thread
                return
            timer = None
            if timeout is not None:
                timer = threading.Timer(
                    timeout,
                    _settle,
                    args=(future,),
                    kwargs={"error": TaskTimeoutError(f"timed out after {timeout:g} s")},
                )
                timer.daemon = True
                timer.start()
            try:
                result = run_in_context(task.context, fn, args, kwargs)
            except BaseException as err:
                _settle(future, error=err)
            else:
                _settle(future, result)
            finally:
                if timer is not None:
                    timer.cancel()

        self._pool.submit(work)
        return future

    def _forget(self, future: Future) -> None:
        with self._lock:
            self._tasks.pop(future, None)

    def kill(self, future: Future, reason: str = "killed") -> None:
        _settle(future, error=TaskKilledError(reason))

    def signal(self, future: Future, obj: Any) -> None:
        with self._lock:
            task = self._tasks.get(future)
        if task is not None:
            task.inbox.put(obj)

    def shutdown(self, wait: bool = True, kill: bool = False) -> None:
        self._close_hosts()
        if kill:
            with self._lock:
                futures = list(self._tasks)
            for future in futures:
                self.kill(future, "executor shut down")
        self._pool.shutdown(wait=wait and not kill, cancel_futures=kill)
