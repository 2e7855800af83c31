"""Feeding a GPU: copy batches to a device ahead of time, overlapping the copy with the model's compute.

:class:`DeviceCopier` moves a Message's tensor columns to a device the way ``DataLoader(pin_memory=True)``
followed by ``.to(device, non_blocking=True)`` does, without worker processes: on CUDA it pins each tensor
(page-locked host memory, so the copy is a real asynchronous DMA), enqueues the copy on a *side stream* and
records an event; :meth:`DeviceCopier.ready` makes the consumer's current stream wait for that event (the GPU
waits, not the Python thread) and tells the caching allocator the tensor is used on the consumer's stream.
On any other device (``"cpu"``) it is a plain ``Message.to``.

:class:`DevicePrefetchSource` (``src.prefetch(depth, device="cuda")``) does the staging in the prefetch thread,
``depth`` batches ahead, so the next batch is already on the device while the model computes on this one.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import torch

from fireworks.sources.prefetch import PrefetchSource, _background

#: one side stream per CUDA device for host-to-device copies (enqueueing on a stream is thread-safe)
_SIDE_STREAMS: dict[str, Any] = {}


class DeviceCopier:
    """Stages Messages onto ``device`` (see the module docstring); one side stream per copier on CUDA.

    >>> from fireworks import Message
    >>> copier = DeviceCopier("cpu")
    >>> copier.ready(copier.stage(Message({"x": torch.arange(3)})))["x"].device.type
    'cpu'
    """

    def __init__(self, device: Any, pin_memory: bool | None = None) -> None:
        self.device = torch.device(device)
        self.cuda = self.device.type == "cuda"
        if self.cuda and not torch.cuda.is_available():
            raise RuntimeError(
                f"device {str(self.device)!r} was asked for, but torch.cuda.is_available() is False "
                "(no GPU or a CPU-only torch build); use device='cpu' or run on a machine with CUDA"
            )
        self.pin_memory = self.cuda if pin_memory is None else pin_memory

    def _side_stream(self) -> Any:
        stream = _SIDE_STREAMS.get(str(self.device))
        if stream is None:
            stream = _SIDE_STREAMS.setdefault(
                str(self.device), torch.cuda.Stream(device=self.device)
            )
        return stream

    def stage(self, message: Any) -> tuple[Any, Any]:
        """Start moving ``message`` to the device; returns ``(moved, event)`` for :meth:`ready`."""
        if not self.cuda:
            return message.to(self.device), None
        from fireworks.message import Message

        stream = self._side_stream()
        data: dict[str, Any] = {}
        with torch.cuda.stream(stream):
            for name, col in message._data.items():
                if isinstance(col, torch.Tensor):
                    if col.device.type == "cpu" and self.pin_memory and not col.is_pinned():
                        col = col.pin_memory()
                    data[name] = col.to(self.device, non_blocking=True)
                else:
                    data[name] = col.copy()
            event = torch.cuda.Event()
            event.record(stream)
        return Message._from_columns(data, len(message)), event

    def ready(self, staged: tuple[Any, Any]) -> Any:
        """The staged Message, safe to use on the caller's current stream."""
        message, event = staged
        if event is None:
            return message
        current = torch.cuda.current_stream(self.device)
        current.wait_event(event)
        for col in message._data.values():
            if isinstance(col, torch.Tensor) and col.device.type == "cuda":
                col.record_stream(current)
        return message

    def __call__(self, message: Any) -> Any:
        """Move ``message`` now (staged and made ready in one go)."""
        return self.ready(self.stage(message))


class DevicePrefetchSource(PrefetchSource):
    """A :class:`PrefetchSource` that also moves each item to ``device`` in its background thread (pinned
    memory and a side stream on CUDA), ``depth`` items ahead; random access moves the requested rows.

    >>> from fireworks import Message, Source
    >>> src = Source(Message({"x": torch.arange(6.0)})).batch(4).prefetch(2, device="cpu")
    >>> [m["x"].device.type for m in src]
    ['cpu', 'cpu']
    """

    # a pass is the input's pass staged onto the device in the prefetch thread (this class's own stream)
    _fast_paths = frozenset({"stream", "chunks"})

    def __init__(
        self,
        inputs: Any,
        depth: int = 2,
        device: Any = "cpu",
        *,
        pin_memory: bool | None = None,
        name: str | None = None,
    ) -> None:
        super().__init__(inputs, depth, name=name)
        self.device = torch.device(device)
        self.pin_memory = pin_memory
        DeviceCopier(
            self.device, pin_memory
        )  # fail now, not in the thread, when the device is missing

    def _copier(self) -> DeviceCopier:
        return DeviceCopier(self.device, self.pin_memory)

    def _stream(self, start: int) -> Iterator[Any]:
        copier = self._copier()
        staged = (copier.stage(m) for m in self._input._items(start))  # runs in the prefetch thread
        ahead = _background(staged, self.depth, self.name)
        try:
            for item in ahead:
                yield copier.ready(item)
        finally:
            ahead.close()  # type: ignore[attr-defined]

    def __getitem__(self, index: Any) -> Any:
        return self._copier()(self._input[index])


__all__ = ["DeviceCopier", "DevicePrefetchSource"]
