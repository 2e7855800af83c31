"""Async and remote access to Sources: ``src.aiter()`` (``async for``), :class:`HostedSource` (a Source served
by a handle from ``executor.host(src)``) and :class:`FirstReadySource` (a junction that takes whichever input
has an item ready first)."""

from __future__ import annotations

import queue
import threading
from collections.abc import AsyncIterator, Iterator, Mapping
from typing import Any

from fireworks.sources.base import Source

_END = object()


async def aiter_source(src: Source) -> AsyncIterator[Any]:
    """A fresh pass over ``src`` as an async iterator: each item is pulled in a worker thread, so the event
    loop keeps serving other coroutines while a batch is read or computed."""
    import asyncio

    it = iter(src)
    loop = asyncio.get_running_loop()
    try:
        while True:
            item = await loop.run_in_executor(None, next, it, _END)
            if item is _END:
                return
            yield item
    finally:
        close = getattr(it, "close", None)
        if close is not None:
            await loop.run_in_executor(None, close)


class HostedSource(Source):
    """A Source served by a :class:`~fireworks.parallel.host.SourceHandle` (``executor.host(src)``):
    forward-only, each item one ``__next__`` call on the hosted Source's own cursor; ``reset``,
    ``state_dict`` and ``load_state_dict`` are calls on the hosted pipeline, so a resume is exact.

    >>> from fireworks import Message, Source
    >>> from fireworks.parallel import get_executor
    >>> with get_executor("thread", 1) as ex:
    ...     remote = HostedSource(ex.host(Source(Message({"x": [1, 2, 3]})).batch(2)))
    ...     [m["x"].tolist() for m in remote]
    [[1, 2], [3]]
    """

    def __init__(self, handle: Any, *, name: str | None = None) -> None:
        super().__init__(name=name or f"hosted_{handle.name}")
        self.handle = handle

    def __next__(self) -> Any:
        item = self.handle.call("__next__").result()
        if item is None:
            raise StopIteration
        return item

    def reset(self) -> HostedSource:
        self.handle.call("reset").result()
        return self

    def state_dict(self) -> dict[str, Any]:
        return {"hosted": self.handle.call("state_dict").result()}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.handle.call("load_state_dict", state["hosted"]).result()


class FirstReadySource(Source):
    """A junction over several inputs that yields whichever input has its next item ready first.

    Each input is read by its own background thread, at most ``depth`` items ahead; the pass ends when every
    input has ended, and an input's error ends it at once. The order depends on timing (that is the point:
    a slow input never holds up a fast one), so it is forward-only; every input's items appear exactly once,
    each input's in its own order. ``state_dict`` records how many items of each input were yielded, so a
    resumed pass yields exactly the items not yet seen.

    >>> from fireworks import Message, Source
    >>> a, b = Source(Message({"x": [1, 2]})), Source(Message({"x": [3]}))
    >>> sorted(int(m["x"][0]) for m in FirstReadySource([a, b]))
    [1, 2, 3]
    """

    _random_access = False
    _one_to_one = False

    def __init__(self, inputs: Any, depth: int = 2, *, name: str | None = None) -> None:
        if isinstance(depth, bool) or not isinstance(depth, int) or depth < 1:
            raise ValueError(f"depth must be a positive int, but got {depth!r}")
        super().__init__(inputs, name=name)
        if not self._inputs:
            raise ValueError("FirstReadySource needs at least one input")
        self.depth = depth
        self._taken = dict.fromkeys(self._inputs, 0)

    def _is_batched(self) -> bool:
        return all(i._is_batched() for i in self._inputs.values())

    def _stream(self, start: int) -> Iterator[Any]:
        if start:
            raise ValueError(
                f"{self.describe()} cannot start a pass at item {start}: its order depends on "
                "timing; resume it with load_state_dict instead"
            )
        return self._race(dict.fromkeys(self._inputs, 0), {})

    def __next__(self) -> Any:
        if self._own_iter is None:
            self._own_iter = self._race(dict(self._taken), self._taken)
        item = next(self._own_iter)
        self._cursor += 1
        return item

    def reset(self) -> FirstReadySource:
        self._taken = dict.fromkeys(self._inputs, 0)
        super().reset()
        return self

    def _own_state(self) -> dict[str, Any]:
        return {"cursor": int(self._cursor), "taken": dict(self._taken)}

    def _load_own_state(self, state: Mapping[str, Any]) -> None:
        super()._load_own_state(state)
        self._taken = {k: int(state.get("taken", {}).get(k, 0)) for k in self._inputs}

    def _race(self, starts: dict[str, int], taken: dict[str, int]) -> Iterator[Any]:
        ready: queue.Queue = queue.Queue()
        stop = threading.Event()
        slots = {k: threading.Semaphore(self.depth) for k in self._inputs}

        def read(key: str, inp: Source) -> None:
            try:
                for item in inp._items(starts[key]):
                    while not slots[key].acquire(timeout=0.1):
                        if stop.is_set():
                            return
                    if stop.is_set():
                        return
                    ready.put((key, item, None))
                ready.put((key, _END, None))
            except BaseException as err:
                ready.put((key, _END, err))

        threads = [
            threading.Thread(
                target=read, args=(k, inp), name=f"fireworks-first-ready-{k}", daemon=True
            )
            for k, inp in self._inputs.items()
        ]
        for t in threads:
            t.start()
        live = len(threads)
        try:
            while live:
                key, item, err = ready.get()
                if item is _END:
                    if err is not None:
                        raise err
                    live -= 1
                    continue
                slots[key].release()
                if key in taken:
                    taken[key] += 1
                yield item
        finally:
            stop.set()
            for t in threads:
                t.join(timeout=5)


__all__ = ["FirstReadySource", "HostedSource", "aiter_source"]
