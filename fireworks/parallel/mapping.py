"""The ordered parallel map behind ``src.map(fn, workers=k)``: hand-off transports and the bounded, ordered
pass over any :class:`~fireworks.parallel.Executor`.

A *transport* moves a Message to a task and the result back: in-process executors (inline, threads) pass
the object itself; the process executor goes through shared memory (:mod:`fireworks.parallel.shm`: the
sender writes the columns once, the receiver copies them out once, nothing is pickled but a small header);
Ray passes Messages through its object store. :func:`ordered_map` keeps at most ``in_flight`` tasks
submitted, yields results in input order, and on every way out (end, abandon, error) stops what is still
running and frees every block it allocated.
"""

from __future__ import annotations

import contextlib
import pickle
import secrets
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any

from fireworks.parallel import shm
from fireworks.parallel.base import Executor

#: worker-side cache of unpickled functions, by token (a pass pickles its function once)
_FNS: OrderedDict[str, Callable[[Any], Any]] = OrderedDict()
_FN_CACHE = 8

#: the consumer's share of one task's round trip through the executor, added to the measured copy cost:
#: waking a worker through a pipe (processes), a queue (threads) or the scheduler (Ray). Estimates: with
#: ``in_flight`` tasks pipelined the consumer pays less than a full round trip, which benchmarks/parallel.py
#: measures (on the shared 2-core dev machine: thread ~50 us, process ~0.4-0.7 ms, Ray ~3.5 ms)
HANDOFF_LATENCY_S = {"inline": 0.0, "thread": 30e-6, "process": 250e-6, "ray": 1.5e-3}


def _cached_fn(token: str, blob: bytes) -> Callable[[Any], Any]:
    fn = _FNS.get(token)
    if fn is None:
        fn = pickle.loads(blob)
        _FNS[token] = fn
        while len(_FNS) > _FN_CACHE:
            _FNS.popitem(last=False)
    return fn


def run_packed(token: str, blob: bytes, packed: shm.Packed, out_name: str) -> shm.Packed:
    """Worker side of the shared-memory transport: read the input, apply the function, write the output."""
    fn = _cached_fn(token, blob)
    message = shm.unpack(packed, free=False)  # the sender frees its own block
    return shm.pack(fn(message), out_name)


@dataclass
class _Handle:
    future: Future
    blocks: tuple[str | None, ...] = ()


class Transport:
    """Passes Messages to tasks as they are (threads, inline, Ray's object store)."""

    def __init__(self, executor: Executor, fn: Callable[[Any], Any]) -> None:
        self.executor = executor
        self.fn = fn

    def submit(self, item: Any) -> _Handle:
        return _Handle(self.executor.submit(self.fn, item))

    def result(self, handle: _Handle) -> Any:
        return handle.future.result()

    def cancel(self, handle: _Handle) -> None:
        if not handle.future.done():
            self.executor.kill(handle.future, "the parallel map's pass ended")
        self.free(handle)

    def free(self, handle: _Handle) -> None:
        """Release what the hand-off allocated (nothing here)."""


class SharedMemoryTransport(Transport):
    """Messages through shared-memory blocks named by this side, so it can always free them."""

    def __init__(self, executor: Executor, fn: Callable[[Any], Any]) -> None:
        super().__init__(executor, fn)
        self.token = secrets.token_hex(8)
        try:
            self.blob = pickle.dumps(fn)
        except Exception as err:
            raise TypeError(
                f"a map with executor='process' must pickle its function, but "
                f"{getattr(fn, '__qualname__', fn)!r} cannot be pickled ({type(err).__name__}: {err}); "
                "define it at the top level of an importable module (no lambdas or nested functions), "
                "or use executor='thread'"
            ) from err

    def submit(self, item: Any) -> _Handle:
        packed = shm.pack(item)
        out_name = shm.new_block_name()
        try:
            future = self.executor.submit(run_packed, self.token, self.blob, packed, out_name)
        except BaseException:
            shm.discard(packed.block)
            raise
        return _Handle(future, (packed.block, out_name))

    def result(self, handle: _Handle) -> Any:
        try:
            packed = handle.future.result()
            return shm.unpack(packed)
        finally:
            self.free(handle)

    def free(self, handle: _Handle) -> None:
        for name in handle.blocks:
            shm.discard(name)
        handle.blocks = ()


def make_transport(executor: Executor, fn: Callable[[Any], Any]) -> Transport:
    """The transport that suits ``executor``: shared memory for processes, the objects themselves else."""
    if executor.name == "process":
        return SharedMemoryTransport(executor, fn)
    return Transport(executor, fn)


def handoff_cost(sample_in: Any, sample_out: Any, executor_name: str) -> float:
    """Seconds one task's hand-off costs the consumer: packing and unpacking its input and output (timed
    here, on the given samples) plus the executor's round-trip latency."""
    latency = HANDOFF_LATENCY_S.get(executor_name, HANDOFF_LATENCY_S["process"])
    if executor_name in ("inline", "thread"):
        return latency
    start = time.perf_counter()
    for message in (sample_in, sample_out):
        shm.unpack(shm.pack(message))
    return time.perf_counter() - start + latency


def ordered_map(
    items: Iterator[Any],
    transport: Transport,
    in_flight: int,
    on_error: Callable[[BaseException], BaseException],
    shutdown: Callable[[bool], None] = lambda abandoned: None,
) -> Iterator[Any]:
    """Yield ``fn(item)`` for every item, in order, with at most ``in_flight`` tasks submitted at a time.

    ``on_error`` turns a task's exception into the one to raise (it names the node). ``shutdown(abandoned)``
    runs last on every way out, after the tasks still in flight were stopped and their blocks freed.
    """
    pending: deque[_Handle] = deque()
    abandoned = True
    try:
        exhausted = False
        while True:
            while not exhausted and len(pending) < in_flight:
                try:
                    item = next(items)
                except StopIteration:
                    exhausted = True
                    break
                pending.append(transport.submit(item))
            if not pending:
                abandoned = False
                return
            handle = pending.popleft()
            try:
                out = transport.result(handle)
            except Exception as err:
                raise on_error(err) from err
            yield out
    finally:
        while pending:
            with contextlib.suppress(Exception):
                transport.cancel(pending.popleft())
        shutdown(abandoned)


__all__ = [
    "HANDOFF_LATENCY_S",
    "SharedMemoryTransport",
    "Transport",
    "handoff_cost",
    "make_transport",
    "ordered_map",
    "run_packed",
]
