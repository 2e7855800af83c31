"""``PrefetchSource``: compute the next items of a pass in a background thread."""

from __future__ import annotations

import contextvars
import queue
import threading
from collections.abc import Iterator
from typing import Any

from fireworks.sources import plan
from fireworks.sources.base import Source

_DONE = object()


class PrefetchSource(Source):
    """Passes its input through, but a pass runs ``depth`` items ahead in a background thread.

    Useful when pulling an item waits on I/O or on work that releases the GIL (Arrow decoding, numpy,
    torch). Random access passes straight through. The thread stops when the pass ends or is abandoned.

    >>> from fireworks import BatchingSource, Message, PrefetchSource
    >>> p = PrefetchSource(BatchingSource(Message({"x": list(range(6))}), 4), depth=2)
    >>> [len(m) for m in p]
    [4, 2]
    """

    _random_access = None  # random access exactly when the input has it
    # a pass is the input's pass, computed ahead in a thread (its stream); no blocks or windows of its own
    _fast_paths = frozenset({"stream", "chunks"})

    def __init__(self, inputs: Any, depth: int = 2, *, name: str | None = None) -> None:
        if isinstance(depth, bool) or not isinstance(depth, int) or depth < 1:
            raise ValueError(f"prefetch depth must be a positive int, but got {depth!r}")
        super().__init__(inputs, name=name)
        if len(self._inputs) != 1:
            raise ValueError(
                f"PrefetchSource takes exactly one input, but got {list(self._inputs)}"
            )
        self._input = next(iter(self._inputs.values()))
        self.depth = depth

    def _stream(self, start: int) -> Iterator[Any]:
        return _background(self._input._items(start), self.depth, self.name)

    def __next__(self) -> Any:
        # next() runs ahead too: the own cursor is a planned pass, not one random access per call
        if self._own_iter is None:
            self._own_iter = plan.items(self, self._cursor)
        item = next(self._own_iter)
        self._cursor += 1
        return item


def _background(items: Iterator[Any], depth: int, name: str) -> Iterator[Any]:
    buffer: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def produce() -> None:
        try:
            for item in items:
                while not stop.is_set():
                    try:
                        buffer.put((item, None), timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            outcome: tuple[Any, BaseException | None] = (_DONE, None)
        except BaseException as err:
            outcome = (_DONE, err)
        while not stop.is_set():
            try:
                buffer.put(outcome, timeout=0.1)
                return
            except queue.Full:
                continue

    # the thread computes the items of this pass: it runs in the pass's context (its epochs)
    ctx = contextvars.copy_context()
    thread = threading.Thread(
        target=ctx.run, args=(produce,), name=f"fireworks-prefetch-{name}", daemon=True
    )
    thread.start()
    try:
        while True:
            item, err = buffer.get()
            if item is _DONE:
                if err is not None:
                    raise err
                return
            yield item
    finally:
        stop.set()
        # garbage collection may close an abandoned pass in any thread, its own producer thread too
        if thread is not threading.current_thread():
            thread.join(timeout=5)
