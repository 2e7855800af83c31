"""``ParallelMapSource``: ``src.map(fn, workers=k)`` — the function runs on ``k`` workers, order kept.

The node means exactly what :class:`~fireworks.sources.transforms.FunctionSource` means (it is one): the
same items, the same random access, the same ``state_dict``. Only a pass changes: its items go to an
:class:`~fireworks.parallel.Executor` (threads, processes or Ray) with at most ``in_flight`` of them out at a
time, and come back in input order. Whether that pays off is measured, not assumed: the first item of a
pass runs here and is timed against the hand-off cost (copying the item and the result through shared
memory, plus the executor's round trip); when the work is cheaper, the whole pass runs in process and
:attr:`ParallelMapSource.plan` (shown by ``describe()``) says so.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Iterator
from typing import Any

from fireworks.sources.base import BLOCK_ROWS, Source, _message_type, _pipeline_error
from fireworks.sources.transforms import FunctionSource, MessageFn, _apply_rows

#: executors by name that a pass may start (and always stops again)
EXECUTOR_NAMES = ("thread", "process", "ray", "inline")


def _check_picklable(fn: Any, executor: str) -> None:
    import pickle

    try:
        pickle.dumps(fn)
    except Exception as err:
        raise TypeError(
            f"a map with executor={executor!r} sends its function to other processes, so it must "
            f"pickle, but {getattr(fn, '__qualname__', fn)!r} cannot ({type(err).__name__}: {err}); "
            "define it at the top level of an importable module (no lambdas or nested functions), "
            "or use executor='thread'"
        ) from err


_PRELOADED: list[str] = []


def _process_context() -> str:
    """``"forkserver"`` where the platform has it, with the map's worker modules (and so torch and pandas)
    preloaded in the server: a pass's workers are then forks of a process that already imported torch (tens of
    milliseconds) rather than new interpreters importing it (seconds). Else ``"spawn"``."""
    import multiprocessing as mp

    if "forkserver" not in mp.get_all_start_methods():
        return "spawn"
    if not _PRELOADED:
        _PRELOADED.extend(["fireworks.parallel.mapping", "fireworks.message", "fireworks.sources"])
        mp.get_context("forkserver").set_forkserver_preload(_PRELOADED)
    return "forkserver"


class MapFunction:
    """``fn`` applied the way FunctionSource applies it (per row or per Message, result checked); picklable
    when ``fn`` is, so workers in other processes can run it."""

    def __init__(self, fn: MessageFn, per_row: bool) -> None:
        self.fn = fn
        self.per_row = per_row
        self.message_type = _message_type()

    def __call__(self, message: Any) -> Any:
        out = _apply_rows(self.fn, message) if self.per_row else self.fn(message)
        if not isinstance(out, self.message_type):
            raise TypeError(
                f"fn must return a Message, but {getattr(self.fn, '__name__', self.fn)!r} returned "
                f"{type(out).__name__}; wrap columns as Message({{...}})"
            )
        return out


class ParallelMapSource(FunctionSource):
    """Applies ``fn`` to every item on ``workers`` workers of ``executor``, keeping the input's order.

    - ``executor``: ``"process"`` (default; Messages travel through shared memory; workers are forked
      from a ``forkserver`` that has torch imported already, so a pass starts them in milliseconds after
      the first), ``"thread"`` (for work
      that releases the GIL: torch, numpy, I/O), ``"ray"`` (the ``ray`` extra), or an
      :class:`~fireworks.parallel.Executor` you own (reused across passes and never shut down here).
      A pass started by name starts its own workers and always stops them: when it ends, is abandoned
      (``break``) or fails.
    - ``in_flight`` (default ``2 * workers``) bounds the items submitted and not yet consumed
      (backpressure): a slow consumer never makes the workers run ahead without limit.
    - ``always_parallel=False``: the first item of each pass runs in process and is timed; if the work is
      below the hand-off cost, the rest of the pass stays in process too (see :attr:`plan`).
    - A worker's error is raised in the consumer as a ``PipelineError`` naming this node (it is also an
      instance of the original builtin type: ``ValueError`` stays catchable as ``ValueError``).

    ``fn`` must be picklable for processes (a top-level function of an importable module); Ray also sends
    lambdas and closures (by value, with cloudpickle).

    >>> from fireworks import Message, Source
    >>> src = Source(Message({"x": list(range(10))})).batch(4)
    >>> doubled = src.map(lambda m: Message({"x": m["x"] * 2}), workers=2, executor="thread")
    >>> [m["x"].tolist() for m in doubled]
    [[0, 2, 4, 6], [8, 10, 12, 14], [16, 18]]
    """

    # a pass is this node's own stream (the parallel map) over its input's pass; chunks pass through one
    # per item as in FunctionSource, so the items are the serial map's
    _fast_paths = frozenset({"stream", "chunks"})

    def __init__(
        self,
        inputs: Any,
        fn: MessageFn,
        *,
        workers: int = 2,
        executor: Any = "process",
        in_flight: int | None = None,
        always_parallel: bool = False,
        per_row: bool = False,
        name: str | None = None,
    ) -> None:
        from fireworks.parallel import Executor

        if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
            raise ValueError(f"workers must be an int >= 1, but got {workers!r}")
        if not isinstance(executor, Executor) and executor not in EXECUTOR_NAMES:
            raise ValueError(
                f"executor must be one of {list(EXECUTOR_NAMES)} or an Executor, but got {executor!r}"
            )
        if in_flight is None:
            in_flight = 2 * workers
        if isinstance(in_flight, bool) or not isinstance(in_flight, int) or in_flight < 1:
            raise ValueError(f"in_flight must be an int >= 1, but got {in_flight!r}")
        super().__init__(inputs, fn, per_row=per_row, name=name)
        if self.executor_name_of(executor) == "process" and workers > 1:
            _check_picklable(fn, "process")  # (Ray pickles with cloudpickle: lambdas travel there)
        self.workers = workers
        self.executor = executor
        self.in_flight = in_flight
        self.always_parallel = always_parallel
        #: what the last pass decided, in words ("not run yet" before the first pass)
        self.plan = "not run yet"
        self._handoff: dict[str, float] = {}

    def __getstate__(self) -> dict[str, Any]:
        # an Executor instance (threads, pipes) does not travel: the copy starts its own by name
        state = super().__getstate__()
        state.pop("_handoff", None)
        if not isinstance(self.executor, str):
            state["executor"] = self.executor_name
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        super().__setstate__(state)
        self._handoff = {}

    @staticmethod
    def executor_name_of(executor: Any) -> str:
        return executor if isinstance(executor, str) else str(executor.name)

    @property
    def executor_name(self) -> str:
        return self.executor_name_of(self.executor)

    def describe(self) -> str:
        return (
            f"{super().describe()} [workers={self.workers}, executor={self.executor_name}: "
            f"{self.plan}]"
        )

    # ---- a pass --------------------------------------------------------------------------------

    def _task_items(self, start: int) -> tuple[Iterator[Any], bool]:
        """The Messages to hand to ``fn`` for a pass from item ``start``, and whether each result must be
        split into rows (row-level random access is mapped a block of rows at a time, like FunctionSource)."""
        inp = self._input
        if inp._is_batched() or not self.has_random_access() or self._iterates_chunks():
            return inp._items(start), False
        n = len(inp)
        blocks = (inp[slice(a, min(a + BLOCK_ROWS, n))] for a in range(start, n, BLOCK_ROWS))
        return blocks, True

    def _stream(self, start: int) -> Iterator[Any]:
        items, split = self._task_items(start)
        outs = self._map(items)
        if not split:
            return outs
        return (block[j] for block in outs for j in range(len(block)))

    def __next__(self) -> Any:
        if self.has_random_access() and self._iterates_chunks():
            return Source.__next__(self)  # the cursor counts indexed items there, not chunks
        if self._own_iter is None:
            self._own_iter = self._items(self._cursor)
        item = next(self._own_iter)
        self._cursor += 1
        return item

    def _map(self, items: Iterator[Any]) -> Iterator[Any]:
        from fireworks.parallel.mapping import handoff_cost

        apply = MapFunction(self.fn, self.per_row)
        if self.workers == 1 or self.executor_name == "inline":
            self.plan = "in process (one worker)" if self.workers == 1 else "in process (inline)"
            yield from self._inline(apply, items)
            return
        first = next(items, None)
        if first is None:
            return
        if not self.always_parallel:
            start = time.perf_counter()
            try:
                out = apply(first)
            except Exception as err:
                raise _pipeline_error(self, err) from err
            work = time.perf_counter() - start
            cost = self._handoff.get(self.executor_name)
            if cost is None:  # measured once per node and executor
                cost = self._handoff[self.executor_name] = handoff_cost(
                    first, out, self.executor_name
                )
            yield out
            if work < cost:
                self.plan = (
                    f"in process: the work ({work * 1e6:.0f} us/item) is below the hand-off cost "
                    f"({cost * 1e6:.0f} us/item)"
                )
                yield from self._inline(apply, items)
                return
            self.plan = (
                f"parallel: the work ({work * 1e6:.0f} us/item) is above the hand-off cost "
                f"({cost * 1e6:.0f} us/item)"
            )
        else:
            items = itertools.chain([first], items)
            self.plan = "parallel (always_parallel=True)"
        yield from self._parallel(apply, items)

    def _inline(self, apply: Callable[[Any], Any], items: Iterator[Any]) -> Iterator[Any]:
        for item in items:
            try:
                out = apply(item)
            except Exception as err:
                raise _pipeline_error(self, err) from err
            yield out

    def _parallel(self, apply: Callable[[Any], Any], items: Iterator[Any]) -> Iterator[Any]:
        from fireworks.parallel import get_executor
        from fireworks.parallel.mapping import make_transport, ordered_map

        owned = isinstance(self.executor, str)
        if not owned:
            executor = self.executor
        elif self.executor == "process":
            executor = get_executor("process", self.workers, context=_process_context())
        else:
            executor = get_executor(self.executor, self.workers)
        try:
            transport = make_transport(executor, apply)
        except BaseException:
            if owned:
                executor.shutdown(wait=True, kill=True)
            raise

        def shutdown(abandoned: bool) -> None:
            if owned:
                # threads cannot be killed: wait for the (at most `workers`) tasks still running
                executor.shutdown(wait=True, kill=abandoned and executor.can_kill)

        def on_error(err: BaseException) -> BaseException:
            return _pipeline_error(self, err)

        yield from ordered_map(items, transport, self.in_flight, on_error, shutdown)


__all__ = ["MapFunction", "ParallelMapSource"]
