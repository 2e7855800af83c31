"""Factory events and handler registration in the style of Ignite's ``Engine.add_event_handler``."""

from __future__ import annotations

import inspect
import weakref
from collections.abc import Callable
from enum import Enum
from typing import Any


class Events(str, Enum):
    """Moments of a search a handler can attach to; the payload after ``factory`` is listed per event."""

    SEARCH_STARTED = "search_started"  # (factory)
    TRIAL_STARTED = "trial_started"  # (factory, trial)
    TRIAL_REPORTED = "trial_reported"  # (factory, trial, step, metrics)
    TRIAL_COMPLETED = "trial_completed"  # (factory, trial)
    TRIAL_FAILED = "trial_failed"  # (factory, trial)
    TRIAL_PRUNED = "trial_pruned"  # (factory, trial)
    SEARCH_FINISHED = "search_finished"  # (factory)


_PAYLOAD = {
    Events.SEARCH_STARTED: (),
    Events.TRIAL_STARTED: ("trial",),
    Events.TRIAL_REPORTED: ("trial", "step", "metrics"),
    Events.TRIAL_COMPLETED: ("trial",),
    Events.TRIAL_FAILED: ("trial",),
    Events.TRIAL_PRUNED: ("trial",),
    Events.SEARCH_FINISHED: (),
}


def as_event(event: Events | str) -> Events:
    try:
        return Events(event)
    except ValueError as err:
        names = ", ".join(repr(e.value) for e in Events)
        raise ValueError(
            f"unknown event {event!r}; use one of {names} (or fireworks.factory.Events)"
        ) from err


class RemovableHandle:
    """Returned by ``factory.on``; ``remove()`` (or leaving a ``with`` block) detaches the handler."""

    def __init__(self, registry: EventRegistry, event: Events, entry: tuple) -> None:
        self._registry = weakref.ref(registry)
        self._event = event
        self._entry = entry

    def remove(self) -> None:
        registry = self._registry()
        if registry is not None:
            handlers = registry._handlers[self._event]
            if self._entry in handlers:
                handlers.remove(self._entry)

    def __enter__(self) -> RemovableHandle:
        return self

    def __exit__(self, *exc: object) -> None:
        self.remove()


class EventRegistry:
    """Mixin holding event handlers; a handler gets ``(factory, *payload, *args, **kwargs)`` or, if its
    signature does not take the factory, ``(*payload, *args, **kwargs)``."""

    def __init__(self) -> None:
        self._handlers: dict[Events, list[tuple]] = {e: [] for e in Events}

    def add_event_handler(
        self, event: Events | str, handler: Callable[..., Any], *args: Any, **kwargs: Any
    ) -> RemovableHandle:
        """Call ``handler`` on every ``event``; the signature is checked now, not when the event fires."""
        ev = as_event(event)
        if not callable(handler):
            raise TypeError(f"handler must be callable, but got {handler!r}")
        payload = [object()] * len(_PAYLOAD[ev])
        with_self = True
        try:
            sig = inspect.signature(handler)
        except (TypeError, ValueError):  # builtins without a signature: trust them
            sig = None
        if sig is not None:
            try:
                sig.bind(self, *payload, *args, **kwargs)
            except TypeError:
                try:
                    sig.bind(*payload, *args, **kwargs)
                    with_self = False
                except TypeError as err:
                    wanted = ", ".join(["factory", *_PAYLOAD[ev]])
                    raise TypeError(
                        f"handler {getattr(handler, '__qualname__', handler)!r} for {ev.value!r} must accept "
                        f"({wanted}) plus the extra args given, but its signature is {sig}"
                    ) from err
        entry = (handler, args, kwargs, with_self)
        self._handlers[ev].append(entry)
        return RemovableHandle(self, ev, entry)

    def on(
        self,
        event: Events | str,
        handler: Callable[..., Any] | None = None,
        *args: Any,
        **kwargs: Any,
    ) -> Any:
        """``factory.on(event, handler)`` → a :class:`RemovableHandle`; ``@factory.on(event)`` decorates."""
        if handler is None:

            def decorator(fn: Callable[..., Any]) -> Callable[..., Any]:
                self.add_event_handler(event, fn, *args, **kwargs)
                return fn

            return decorator
        return self.add_event_handler(event, handler, *args, **kwargs)

    def has_event_handler(
        self, handler: Callable[..., Any], event: Events | str | None = None
    ) -> bool:
        events = [as_event(event)] if event is not None else list(Events)
        return any(entry[0] is handler for e in events for entry in self._handlers[e])

    def fire(self, event: Events, *payload: Any) -> None:
        for handler, args, kwargs, with_self in list(self._handlers[event]):
            if with_self:
                handler(self, *payload, *args, **kwargs)
            else:
                handler(*payload, *args, **kwargs)
