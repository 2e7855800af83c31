"""``RayExecutor``: the executor contract on a Ray cluster (the ``ray`` extra), for work beyond one machine.

Tasks run as Ray tasks (one CPU each by default, never retried: a failure is reported, not hidden); the
channel between a task and its submitter (``current_task().send``/``receive``, :meth:`Executor.signal`) goes
through one small mailbox actor that needs no CPU. ``kill`` and ``timeout`` cancel the Ray task with
``force=True``, which stops its worker process; a task whose worker dies fails with
:class:`~fireworks.parallel.WorkerDiedError`. Arguments and results travel through Ray's object store; to
share one large Message among many tasks, put it once (``ref = ray.put(message)``) and pass ``ref``: every
task receives the Message, stored once per node.

Nothing starts Ray at import. The first ``submit`` connects: to ``address`` when given (an existing cluster,
``"auto"`` for the one this machine belongs to), else to the Ray runtime already initialised in this process,
else it starts a local one with ``init_options`` — and then shuts it down again in :meth:`shutdown`.

>>> from fireworks.parallel import get_executor
>>> ex = get_executor("ray", 2)  # nothing started yet
>>> ex.name
'ray'
"""

from __future__ import annotations

import contextlib
import itertools
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, InvalidStateError
from typing import Any

from fireworks._imports import optional_import
from fireworks.parallel.base import (
    Executor,
    MessageCallback,
    TaskContext,
    TaskError,
    TaskKilledError,
    TaskTimeoutError,
    WorkerDiedError,
    run_in_context,
)

_POLL_S = 0.02


def import_ray() -> Any:
    """The ``ray`` module, or a :class:`~fireworks.exceptions.MissingDependencyError` with the install hint."""
    return optional_import("ray", "ray", "the Ray executor")


class _Mailbox:
    """The submitter <-> task channel, one per executor (a Ray actor with no CPU)."""

    def __init__(self) -> None:
        self.outbox: list[tuple[int, Any]] = []
        self.signals: dict[int, list[Any]] = {}

    def send(self, task_id: int, obj: Any) -> None:
        self.outbox.append((task_id, obj))

    def take_outbox(self) -> list[tuple[int, Any]]:
        out, self.outbox = self.outbox, []
        return out

    def signal(self, task_id: int, obj: Any) -> None:
        self.signals.setdefault(task_id, []).append(obj)

    def take_signals(self, task_id: int) -> list[Any]:
        return self.signals.pop(task_id, [])


def _run_task(mailbox: Any, task_id: int, fn: Callable[..., Any], kwargs: dict, *args: Any) -> Any:
    """What a Ray worker runs: ``fn`` with a TaskContext wired to the mailbox. ``args`` are passed to Ray
    one by one, so an ``ObjectRef`` among them arrives as its value (as Ray does for any task)."""
    import ray

    kwargs = {k: ray.get(v) if isinstance(v, ray.ObjectRef) else v for k, v in kwargs.items()}

    last: list[Any] = []

    def send(obj: Any) -> None:
        last[:] = [mailbox.send.remote(task_id, obj)]

    def receive() -> list[Any]:
        return list(ray.get(mailbox.take_signals.remote(task_id)))

    try:
        return run_in_context(TaskContext(send, receive), fn, args, kwargs)
    finally:
        if last:  # calls from one caller run in order: the last delivered means all delivered
            ray.get(last[0])


class _SourceActor:
    """A hosted Source on Ray: an actor holding the Source, serving calls in order."""

    def __init__(self, source: Any) -> None:
        self.source = source

    def call(self, method: str, args: tuple, kwargs: dict) -> Any:
        from fireworks.parallel.host import call_method

        return call_method(self.source, method, args, kwargs)

    def node_id(self) -> str:
        import ray

        return str(ray.get_runtime_context().get_node_id())


class RaySourceHandle:
    """The caller's side of a Source hosted as a Ray actor; picklable, so a task or actor on another node
    can pull from it too. :meth:`call` returns a ``concurrent.futures.Future``."""

    def __init__(self, actor: Any, name: str) -> None:
        self.actor = actor
        self.name = name
        self._closed = False

    def call(self, method: str, *args: Any, **kwargs: Any) -> Future:
        if self._closed:
            raise RuntimeError(f"the hosted Source {self.name!r} is closed; host it again")
        ref = self.actor.call.remote(method, args, kwargs)
        future: Future = Future()
        future.set_running_or_notify_cancel()

        def settle(ray_future: Future) -> None:
            try:
                _settle(future, ray_future.result())
            except BaseException as err:
                _settle(future, error=_unwrap(err))

        ref.future().add_done_callback(settle)
        return future

    def node_id(self) -> str:
        """The Ray node the Source lives on."""
        import ray

        return str(ray.get(self.actor.node_id.remote()))

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        import ray

        with contextlib.suppress(Exception):
            ray.kill(self.actor)

    def __enter__(self) -> RaySourceHandle:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _unwrap(err: BaseException) -> BaseException:
    """The user's exception inside a RayTaskError (with the remote traceback), else a TaskError."""
    import ray

    if isinstance(err, ray.exceptions.RayTaskError):
        cause = getattr(err, "cause", None)
        if isinstance(cause, BaseException) and not isinstance(cause, ray.exceptions.RayError):
            with contextlib.suppress(AttributeError):
                cause.remote_traceback = str(err)  # type: ignore[attr-defined]
            return cause
        return TaskError(f"the Ray task failed: {err}")
    if isinstance(err, (ray.exceptions.WorkerCrashedError, ray.exceptions.ActorDiedError)):
        return WorkerDiedError(
            f"the Ray worker running the task died ({type(err).__name__}: {err})"
        )
    return err


#: module names whose Sources only read (files, databases): hosted with no CPU so they never starve compute
_IO_MODULES = ("fireworks.sources.io", "fireworks.database")
_STRUCTURAL = {
    "Source",
    "MessageSource",
    "SequenceSource",
    "IteratorSource",
    "BatchingSource",
    "PrefetchSource",
    "RepeaterSource",
    "ShufflerSource",
    "IndexMapSource",
    "HostedSource",
}


def is_io_bound(source: Any) -> bool:
    """True when every node of ``source``'s pipeline reads or rearranges data and none computes (a node may
    say so itself with an ``io_bound`` class attribute)."""
    from fireworks.sources.base import walk

    for node in walk(source):
        declared = getattr(type(node), "io_bound", None)
        if declared is not None:
            if not declared:
                return False
            continue
        module = type(node).__module__
        if not (module.startswith(_IO_MODULES) or type(node).__name__ in _STRUCTURAL):
            return False
    return True


class _Task:
    __slots__ = ("args", "deadline", "fn", "future", "id", "kwargs", "on_message", "ref", "timeout")

    def __init__(self, task_id: int, fn: Callable[..., Any], args: tuple, kwargs: dict) -> None:
        self.id = task_id
        self.fn, self.args, self.kwargs = fn, args, kwargs
        self.future: Future = Future()
        self.ref: Any = None
        self.timeout: float | None = None
        self.deadline: float | None = None
        self.on_message: MessageCallback | None = None


def _settle(future: Future, result: Any = None, error: BaseException | None = None) -> None:
    with contextlib.suppress(InvalidStateError):
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(result)


class RayExecutor(Executor):
    """Runs tasks on a Ray cluster, ``max_workers`` at a time, under the :class:`Executor` contract.

    ``address`` joins an existing cluster (``"ray://host:10001"``, ``"host:6379"`` or ``"auto"``);
    ``num_cpus``/``num_gpus``/``resources`` are what each task asks the scheduler for (``num_cpus=0`` for I/O
    that must never take a core from compute); ``init_options`` go to ``ray.init`` when this executor starts
    Ray itself (e.g. ``{"num_cpus": 2, "object_store_memory": 300 * 2**20}``).

    >>> ex = RayExecutor(2, num_cpus=1)
    >>> ex.state_dict()["name"]
    'ray'
    """

    name = "ray"
    can_kill = True

    def __init__(
        self,
        max_workers: int = 1,
        *,
        address: str | None = None,
        num_cpus: float = 1,
        num_gpus: float = 0,
        resources: dict[str, float] | None = None,
        init_options: dict[str, Any] | None = None,
    ) -> None:
        import_ray()  # fail here, naming the extra, not at the first submit (Ray starts only then)
        super().__init__(max_workers)
        self.address = address
        self.num_cpus = num_cpus
        self.num_gpus = num_gpus
        self.resources = dict(resources or {})
        self.init_options = dict(init_options or {})
        self._lock = threading.RLock()
        self._pending: deque[_Task] = deque()
        self._running: dict[int, _Task] = {}
        self._tasks: dict[Future, _Task] = {}
        self._ids = itertools.count()
        self._closed = False
        self._started_ray = False
        self._ray: Any = None
        self._remote: Any = None
        self._mailbox: Any = None
        self._monitor: threading.Thread | None = None
        self._wake = threading.Event()

    # -- Ray itself ------------------------------------------------------------------------------
    def _connect(self) -> Any:
        """Import Ray and connect (lock held); returns the module."""
        if self._ray is not None:
            return self._ray
        ray = import_ray()
        if not ray.is_initialized():
            options = {"include_dashboard": False, "log_to_driver": False, **self.init_options}
            ray.init(address=self.address, **options)
            self._started_ray = True
        self._remote = ray.remote(_run_task).options(
            num_cpus=self.num_cpus,
            num_gpus=self.num_gpus,
            resources=self.resources or None,
            max_retries=0,
        )
        self._mailbox = ray.remote(num_cpus=0)(_Mailbox).remote()
        self._ray = ray
        return ray

    @property
    def ray(self) -> Any:
        """The ``ray`` module, connected (starting or joining Ray now if needed)."""
        with self._lock:
            return self._connect()

    # -- the contract ----------------------------------------------------------------------------
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
        with self._lock:
            if self._closed:
                raise RuntimeError("cannot submit to an executor after shutdown()")
            self._connect()
            task = _Task(next(self._ids), fn, args, kwargs)
            task.timeout, task.on_message = timeout, on_message
            task.future.set_running_or_notify_cancel()
            self._tasks[task.future] = task
            self._pending.append(task)
            self._dispatch()
            if self._monitor is None:
                self._monitor = threading.Thread(
                    target=self._monitor_loop, name="fireworks-ray-monitor", daemon=True
                )
                self._monitor.start()
        self._wake.set()
        return task.future

    def _dispatch(self) -> None:
        while self._pending and len(self._running) < self.max_workers:
            task = self._pending.popleft()
            task.ref = self._remote.remote(self._mailbox, task.id, task.fn, task.kwargs, *task.args)
            task.ref.future().add_done_callback(self._on_ready)
            task.fn = task.args = task.kwargs = None  # type: ignore[assignment]
            if task.timeout is not None:
                task.deadline = time.monotonic() + task.timeout
            self._running[task.id] = task

    def _monitor_loop(self) -> None:
        ray = self._ray
        while True:
            with self._lock:
                if self._closed and not self._running and not self._pending:
                    return
                running = list(self._running.values())
            deadlines = [t.deadline for t in running if t.deadline is not None]
            wait_s = 1.0
            if any(t.on_message for t in running):
                wait_s = _POLL_S  # poll the mailbox for what the tasks sent
            if deadlines:
                wait_s = min(wait_s, max(0.0, min(deadlines) - time.monotonic()))
            self._wake.wait(wait_s)  # a finished task's ref sets it at once
            self._wake.clear()
            if not running:
                continue
            refs = [t.ref for t in running]
            try:
                ready, _ = ray.wait(refs, num_returns=len(refs), timeout=0)
            except Exception:  # the cluster went away
                ready = refs
            self._deliver_messages(running)
            done = {id(r) for r in ready}
            actions: list[tuple[Future, Any, BaseException | None]] = []
            now = time.monotonic()
            with self._lock:
                for t in running:
                    if t.id not in self._running:
                        continue
                    if id(t.ref) in done:
                        del self._running[t.id]
                        actions.append((t.future, *self._outcome(t.ref)))
                    elif t.deadline is not None and now >= t.deadline:
                        del self._running[t.id]
                        self._cancel(t.ref)
                        err = TaskTimeoutError(f"timed out after {t.timeout:g} s")
                        actions.append((t.future, None, err))
                if not self._closed:
                    self._dispatch()
            for future, result, error in actions:
                _settle(future, result, error)
                with self._lock:
                    self._tasks.pop(future, None)

    def _on_ready(self, _: Any) -> None:
        self._wake.set()

    def _deliver_messages(self, running: list[_Task]) -> None:
        if not any(t.on_message for t in running):
            return
        try:
            messages = self._ray.get(self._mailbox.take_outbox.remote())
        except Exception:
            return
        by_id = {t.id: t for t in running}
        for task_id, obj in messages:
            t = by_id.get(task_id)
            if t is not None and t.on_message is not None:
                t.on_message(obj)

    def _outcome(self, ref: Any) -> tuple[Any, BaseException | None]:
        ray = self._ray
        try:
            return ray.get(ref), None
        except ray.exceptions.TaskCancelledError as err:
            return None, TaskKilledError(f"the Ray task was cancelled: {err}")
        except ray.exceptions.RayTaskError as err:
            return None, _unwrap(err)
        except ray.exceptions.RayError as err:
            return None, WorkerDiedError(
                f"the Ray worker running the task died ({type(err).__name__}: {err})"
            )

    def _cancel(self, ref: Any) -> None:
        with contextlib.suppress(Exception):
            self._ray.cancel(ref, force=True)

    def host(
        self,
        source: Any,
        *,
        num_cpus: float | None = None,
        resources: dict[str, float] | None = None,
        node_id: str | None = None,
    ) -> RaySourceHandle:
        """Host ``source`` as a Ray actor. ``num_cpus`` defaults to 0 for pipelines that only read and
        rearrange data (:func:`is_io_bound`), else 1; ``node_id`` pins it to one node, ``resources`` asks
        for custom resources. The handle is picklable: tasks on other nodes can call it too."""
        with self._lock:
            ray = self._connect()
        if num_cpus is None:
            num_cpus = 0 if is_io_bound(source) else 1
        options: dict[str, Any] = {"num_cpus": num_cpus, "max_restarts": 0}
        if resources:
            options["resources"] = resources
        if node_id is not None:
            from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

            options["scheduling_strategy"] = NodeAffinitySchedulingStrategy(node_id, soft=False)
        actor = ray.remote(_SourceActor).options(**options).remote(source)
        handle = RaySourceHandle(actor, getattr(source, "name", type(source).__name__))
        self.__dict__.setdefault("_hosts", []).append(handle)
        return handle

    def kill(self, future: Future, reason: str = "killed") -> None:
        with self._lock:
            task = self._tasks.get(future)
            if task is None or future.done():
                return
            if task in self._pending:
                self._pending.remove(task)
            elif self._running.pop(task.id, None) is not None:
                self._cancel(task.ref)
            self._tasks.pop(future, None)
            self._dispatch()
        _settle(future, error=TaskKilledError(reason))
        self._wake.set()

    def signal(self, future: Future, obj: Any) -> None:
        with self._lock:
            task = self._tasks.get(future)
            if task is None or task.id not in self._running:
                return
            self._mailbox.signal.remote(task.id, obj)

    def shutdown(self, wait: bool = True, kill: bool = False) -> None:
        self._close_hosts()
        with self._lock:
            self._closed = True
            tasks = list(self._tasks)
        if kill:
            for future in tasks:
                self.kill(future, "executor shut down")
        elif wait:
            for future in tasks:
                with contextlib.suppress(BaseException):
                    future.exception()
        self._wake.set()
        monitor = self._monitor
        if (wait or kill) and monitor is not None and monitor is not threading.current_thread():
            monitor.join(10.0)
        with self._lock:
            if self._ray is not None:
                with contextlib.suppress(Exception):
                    self._ray.kill(self._mailbox)
                if self._started_ray:
                    self._ray.shutdown()
                    self._started_ray = False

    def state_dict(self) -> dict[str, Any]:
        return {
            **super().state_dict(),
            "address": self.address,
            "num_cpus": self.num_cpus,
            "num_gpus": self.num_gpus,
            "resources": dict(self.resources),
        }


__all__ = ["RayExecutor", "RaySourceHandle", "import_ray", "is_io_bound"]
