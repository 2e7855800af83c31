"""A pool of long-lived worker processes (spawn or forkserver: CUDA-safe) that survives crashing tasks."""

from __future__ import annotations

import atexit
import contextlib
import itertools
import multiprocessing as mp
import pickle
import signal
import sys
import threading
import time
import weakref
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future
from multiprocessing.connection import Connection, wait
from typing import Any

from fireworks.parallel._worker import worker_main
from fireworks.parallel.base import (
    Executor,
    MessageCallback,
    TaskError,
    TaskKilledError,
    TaskTimeoutError,
    WorkerDiedError,
)
from fireworks.parallel.local import _settle

_LIVE: weakref.WeakSet[ProcessExecutor] = weakref.WeakSet()


class _Task:
    __slots__ = ("deadline", "future", "id", "on_message", "payload", "timeout")

    def __init__(
        self, task_id: int, payload: bytes, timeout: float | None, on_message: Any
    ) -> None:
        self.id = task_id
        self.payload = payload
        self.timeout = timeout
        self.on_message = on_message
        self.future: Future = Future()
        self.deadline: float | None = None


class _Worker:
    __slots__ = ("conn", "process", "task")

    def __init__(self, process: Any, conn: Connection) -> None:
        self.process = process
        self.conn = conn
        self.task: _Task | None = None


def _check_picklable(fn: Callable[..., Any], args: tuple, kwargs: dict) -> bytes:
    main = sys.modules.get("__main__")
    if getattr(fn, "__module__", None) == "__main__" and not hasattr(main, "__file__"):
        raise TypeError(
            f"{getattr(fn, '__qualname__', fn)!r} is defined in an interactive __main__, which a new "
            "worker process cannot import; move it into a module (a .py file) and import it from there, "
            "or use executor='thread'"
        )
    try:
        return pickle.dumps((fn, args, kwargs))
    except Exception as err:
        raise TypeError(
            f"a task for a process executor must be picklable, but {getattr(fn, '__qualname__', fn)!r} "
            f"or its arguments are not ({type(err).__name__}: {err}); define functions at the top level "
            "of an importable module (no lambdas or nested functions), or use executor='thread'"
        ) from err


def _rebuild_error(packed: tuple[bytes | None, str, str, str]) -> BaseException:
    blob, type_name, message, tb = packed
    err: BaseException
    try:
        err = pickle.loads(blob) if blob is not None else TaskError(f"{type_name}: {message}")
    except Exception:
        err = TaskError(f"{type_name}: {message}")
    with contextlib.suppress(AttributeError):
        err.remote_traceback = tb  # type: ignore[union-attr]
    return err


def _fail(future: Future, error: BaseException) -> None:
    _settle(future, error=error)


def _describe_exit(code: int | None) -> str:
    if code is not None and code < 0:
        try:
            return f"was killed by signal {signal.Signals(-code).name}"
        except ValueError:
            return f"was killed by signal {-code}"
    return f"exited with code {code}"


class ProcessExecutor(Executor):
    """Runs tasks in ``max_workers`` long-lived worker processes, each running tasks one after another.

    Workers are started with ``context="spawn"`` (default) or ``"forkserver"``, which are safe with CUDA and
    threads; they are reused across tasks, so a task costs a round trip through a pipe, not a new
    interpreter. A task that kills its process (``os._exit``, a signal, a segfault) fails its future with
    :class:`WorkerDiedError`; the dead worker is replaced and other tasks are unaffected. ``kill`` and
    ``timeout`` really stop the task (its worker is killed and replaced).

    Functions and arguments are pickled, so functions must live at the top level of an importable module;
    ``submit`` raises a ``TypeError`` saying so for lambdas, nested functions and interactive ``__main__``.

    >>> import math
    >>> with ProcessExecutor(2) as ex:
    ...     ex.submit(math.factorial, 5).result()
    120
    """

    name = "process"
    can_kill = True

    def __init__(self, max_workers: int = 1, context: str = "spawn") -> None:
        super().__init__(max_workers)
        if context not in ("spawn", "forkserver", "fork"):
            raise ValueError(
                f"context must be 'spawn', 'forkserver' or 'fork', but got {context!r}; "
                "'spawn' is the portable, CUDA-safe default"
            )
        self.context = context
        self._ctx = mp.get_context(context)
        self._lock = threading.RLock()
        self._pending: deque[_Task] = deque()
        self._workers: list[_Worker] = []
        self._tasks: dict[Future, _Task] = {}
        self._ids = itertools.count()
        self._closed = False
        self._wake_r, self._wake_w = mp.Pipe(duplex=False)
        self._monitor: threading.Thread | None = None
        _LIVE.add(self)

    # -- submitting ------------------------------------------------------------------------------
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
        payload = _check_picklable(fn, args, kwargs)
        with self._lock:
            if self._closed:
                raise RuntimeError("cannot submit to an executor after shutdown()")
            task = _Task(next(self._ids), payload, timeout, on_message)
            task.future.set_running_or_notify_cancel()
            self._tasks[task.future] = task
            self._pending.append(task)
            self._dispatch()
            if self._monitor is None:
                self._monitor = threading.Thread(
                    target=self._monitor_loop, name="fireworks-process-monitor", daemon=True
                )
                self._monitor.start()
        self._wake()
        return task.future

    def _wake(self) -> None:
        with contextlib.suppress(OSError):
            self._wake_w.send_bytes(b"")

    def _start_worker(self) -> _Worker:
        parent, child = self._ctx.Pipe(duplex=True)
        process = self._ctx.Process(  # type: ignore[attr-defined]
            target=worker_main, args=(child,), name="fireworks-worker", daemon=False
        )
        process.start()
        child.close()
        worker = _Worker(process, parent)
        self._workers.append(worker)
        return worker

    def _dispatch(self) -> None:
        """Hand pending tasks to idle workers, starting workers up to ``max_workers`` (lock held)."""
        while self._pending:
            idle = next((w for w in self._workers if w.task is None), None)
            if idle is None:
                if len(self._workers) >= self.max_workers:
                    return
                idle = self._start_worker()
            task = self._pending.popleft()
            idle.task = task
            if task.timeout is not None:
                task.deadline = time.monotonic() + task.timeout
            try:
                idle.conn.send(("task", task.id, task.payload))
            except OSError:
                idle.task = None
                self._pending.appendleft(task)
                self._retire(idle, kill=True)

    # -- the monitor thread ----------------------------------------------------------------------
    def _monitor_loop(self) -> None:
        while True:
            with self._lock:
                if self._closed and not self._workers and not self._pending:
                    return
                waitables: list[Any] = [self._wake_r]
                for w in self._workers:
                    waitables += [w.conn, w.process.sentinel]
                deadlines = [w.task.deadline for w in self._workers if w.task and w.task.deadline]
            timeout = max(0.0, min(deadlines) - time.monotonic()) if deadlines else None
            ready = set(wait(waitables, timeout))
            actions: list[tuple[Callable[..., Any], tuple]] = []
            with self._lock:
                if self._wake_r in ready:
                    while self._wake_r.poll():
                        self._wake_r.recv_bytes()
                for w in list(self._workers):
                    if w.conn in ready or w.process.sentinel in ready:
                        self._read(w, actions)
                now = time.monotonic()
                for w in list(self._workers):
                    t = w.task
                    if t is not None and t.deadline is not None and now >= t.deadline:
                        err = TaskTimeoutError(f"timed out after {t.timeout:g} s")
                        actions.append((_fail, (t.future, err)))
                        w.task = None
                        self._retire(w, kill=True)
                if self._closed:
                    self._stop_idle()
                else:
                    self._dispatch()
            for fn, args in actions:
                fn(*args)

    def _read(self, w: _Worker, actions: list[tuple[Callable[..., Any], tuple]]) -> None:
        """Consume what worker ``w`` sent; notice when it died (lock held)."""
        alive = True
        try:
            while w.conn.poll():
                msg = w.conn.recv()
                kind, task_id = msg[0], msg[1]
                t = w.task
                if t is None or t.id != task_id:
                    continue
                if kind == "msg":
                    if t.on_message is not None:
                        actions.append((t.on_message, (msg[2],)))
                elif kind == "done":
                    w.task = None
                    if msg[2]:
                        actions.append((_settle, (t.future, msg[3])))
                    else:
                        error = _rebuild_error(msg[3])
                        actions.append((_fail, (t.future, error)))
        except (EOFError, OSError):
            alive = False
        except Exception as bad:  # a message that cannot be unpickled in the parent
            t = w.task
            if t is not None:
                w.task = None
                actions.append((_fail, (t.future, bad)))
        if alive and w.process.is_alive():
            return
        w.process.join(1.0)
        t = w.task
        if t is not None:
            w.task = None
            died = WorkerDiedError(
                f"the worker process (pid {w.process.pid}) running the task "
                f"{_describe_exit(w.process.exitcode)}"
            )
            actions.append((_fail, (t.future, died)))
        self._retire(w, kill=True)

    def _retire(self, w: _Worker, kill: bool) -> None:
        if w in self._workers:
            self._workers.remove(w)
        if kill and w.process.is_alive():
            w.process.kill()
        w.process.join(2.0)
        w.conn.close()

    def _stop_idle(self) -> None:
        """Ask idle workers to exit and reap them (lock held)."""
        for w in [w for w in self._workers if w.task is None]:
            with contextlib.suppress(OSError):
                w.conn.send(None)
            self._workers.remove(w)
            w.process.join(2.0)
            if w.process.is_alive():
                w.process.kill()
                w.process.join(1.0)
            w.conn.close()

    # -- control ---------------------------------------------------------------------------------
    def kill(self, future: Future, reason: str = "killed") -> None:
        with self._lock:
            task = self._tasks.get(future)
            if task is None or future.done():
                return
            if task in self._pending:
                self._pending.remove(task)
            for w in list(self._workers):
                if w.task is task:
                    w.task = None
                    self._retire(w, kill=True)
        _settle(future, error=TaskKilledError(reason))
        self._wake()

    def signal(self, future: Future, obj: Any) -> None:
        with self._lock:
            for w in self._workers:
                if w.task is not None and w.task.future is future:
                    with contextlib.suppress(OSError):
                        w.conn.send(("signal", w.task.id, obj))

    def shutdown(self, wait: bool = True, kill: bool = False) -> None:
        if not kill:
            self._close_hosts()
        with self._lock:
            already = self._closed
            self._closed = True
            if kill:
                pending = list(self._pending) + [w.task for w in self._workers if w.task]
                self._pending.clear()
            else:
                pending = []
        for task in pending:
            if task is not None:
                self.kill(task.future, "executor shut down")
        if wait and not kill and not already:
            for task in list(self._tasks.values()):
                with contextlib.suppress(BaseException):
                    task.future.exception()
        with self._lock:
            self._stop_idle()
        self._wake()
        monitor = self._monitor
        if wait and monitor is not None and monitor is not threading.current_thread():
            monitor.join(5.0)

    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "context": self.context}


@atexit.register
def _shutdown_all() -> None:
    for executor in list(_LIVE):
        executor.shutdown(wait=False, kill=True)
