"""Fan-out of forward-only streams: passes that start together share one upstream read.

A stream (a reader, a forward-only Source) is read once for all the passes that start before its first items
are dropped. Items are buffered from the slowest live reader on; a reader that falls more than ``max_lag``
items behind is detached and re-reads privately, so memory stays bounded — unless the stream cannot be read
twice (a single-cursor user Source, a one-shot iterator), in which case the buffer keeps every item the
slowest reader still needs, so that no reader loses or repeats a row.
"""

from __future__ import annotations

import weakref
from collections import deque
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING

from fireworks.sources.epochs import PASS_EPOCHS
from fireworks.sources.errors import guard_iter

if TYPE_CHECKING:
    from fireworks.message import Message
    from fireworks.sources.base import Source


class Hub:
    """One upstream pass shared by the passes that start together (fan-out without re-reading)."""

    def __init__(self, source: Source, max_lag: int) -> None:
        self.source = source
        self.max_lag = max_lag
        self.rereadable = source._can_reread()
        self.epochs: Mapping[int, int] | None = PASS_EPOCHS.get()
        self.gen: Iterator[Message] | None = None
        self.buffer: deque[Message] = deque()
        self.base = 0
        self.done = False
        self.error: BaseException | None = None
        self.readers: weakref.WeakSet[HubReader] = weakref.WeakSet()

    def joinable(self) -> bool:
        """A new pass may share this one: it is still under way, nothing was dropped yet, and it serves
        the same epochs (a pass that starts after it ended reads afresh)."""
        return self.base == 0 and not self.done and self.epochs == PASS_EPOCHS.get()

    def reader(self) -> HubReader:
        r = HubReader(self)
        self.readers.add(r)
        return r

    def get(self, pos: int) -> Message:
        k = pos - self.base
        if k < len(self.buffer):
            item = self.buffer[k]
        else:
            if self.done:
                raise StopIteration
            if self.error is not None:
                raise self.error  # the shared stream failed: every reader sees that, never a short pass
            token = PASS_EPOCHS.set(self.epochs)
            try:
                if self.gen is None:
                    self.gen = guard_iter(self.source, self.source._stream(0))
                item = next(self.gen)
            except StopIteration:
                self.done = True
                raise
            except BaseException as err:
                # a generator that raised is finished: a later next() would say StopIteration and make
                # the pass look complete. Remember the error, and let the next pass start afresh.
                self.error = err
                if self.source._hub is self:
                    self.source._hub = None
                raise
            finally:
                PASS_EPOCHS.reset(token)
            self.buffer.append(item)
        return item

    def close(self) -> None:
        """End this shared pass early (its last reader left): close the upstream stream now and detach from
        the source, so that the next pass starts a fresh hub instead of joining a closed one."""
        gen, self.gen = self.gen, None
        self.done = True
        self.buffer.clear()
        if self.source._hub is self:
            self.source._hub = None
        if gen is not None and not getattr(gen, "gi_running", False):
            gen.close()  # type: ignore[attr-defined]

    def trim(self) -> None:
        end = self.base + len(self.buffer)
        if self.base == 0 and len(self.buffer) <= self.max_lag:
            return  # the head stays while late joiners can still share this pass
        live = [r.pos for r in self.readers if r.private is None]
        low = min(live) if live else end
        if self.rereadable:
            low = max(low, end - self.max_lag)  # laggards re-read privately
        while self.base < low and self.buffer:
            self.buffer.popleft()
            self.base += 1


class HubReader(Iterator["Message"]):
    """One pass's cursor into a :class:`Hub`."""

    def __init__(self, hub: Hub) -> None:
        self.hub = hub
        self.pos = 0
        self.private: Iterator[Message] | None = None
        self.error: BaseException | None = None

    def __next__(self) -> Message:
        if self.error is not None:
            raise self.error
        if self.private is not None:
            try:
                item = next(self.private)
            except StopIteration:
                raise
            except BaseException as err:
                self.error = err  # as in Hub.get: a failed stream must not later look finished
                raise
        elif self.pos < self.hub.base:
            self.private = guard_iter(self.hub.source, self.hub.source._stream(self.pos))
            item = next(self.private)
        else:
            try:
                item = self.hub.get(self.pos)
            except StopIteration:
                self.hub.readers.discard(self)
                raise
        self.pos += 1
        if self.private is None:
            self.hub.trim()
        return item

    def close(self) -> None:
        """Stop reading: close a private re-read now; the shared pass closes when its last reader leaves."""
        private, self.private = self.private, None
        if private is not None and not getattr(private, "gi_running", False):
            private.close()  # type: ignore[attr-defined]
        self.hub.readers.discard(self)
        if not self.hub.readers:
            self.hub.close()
