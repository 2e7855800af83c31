"""Messages across process boundaries through shared memory: one copy in, one copy out, no pickling of the
tensor and numeric-array columns.

:func:`pack` writes every tensor column and every numeric numpy vector column of a Message into one
POSIX shared-memory block and returns a small, picklable :class:`Packed` header (names, dtypes, shapes,
offsets); other columns (strings, categoricals, nullable types) ride along pickled in the header, since
they have no flat buffer. :func:`unpack` rebuilds the Message from the header in another process with one
``memcpy`` per column, and (by default) frees the block. Blocks are named by the sender, so the sender can
always free them itself when a receiver dies before reading (:func:`discard`).

Small Messages (under :data:`MIN_SHM_BYTES` of buffers) skip shared memory: creating, mapping and unlinking
a block costs more than copying a few KiB, so their buffers travel as one ``bytes`` object in the header (raw
column bytes, still no per-object pickling). The same fallback applies when ``/dev/shm`` lacks room.

>>> import torch
>>> from fireworks import Message
>>> m = Message({"x": torch.arange(6.0).reshape(3, 2), "s": ["a", "b", "c"]})
>>> unpack(pack(m, min_bytes=0)) == m
True
"""

from __future__ import annotations

import contextlib
import os
import secrets
from dataclasses import dataclass, field
from multiprocessing import shared_memory
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

if TYPE_CHECKING:
    from fireworks.message import Message

_ALIGN = 64
#: below this many bytes of column buffers, a Message travels inline in the header instead of a block
MIN_SHM_BYTES = 64 * 1024
_PREFIX = "fw_"
_SHM_DIR = "/dev/shm"


@dataclass
class Packed:
    """A Message in flight: the shared-memory block's name and each column's layout (picklable, small)."""

    n: int
    block: str | None
    size: int
    #: (name, kind, dtype, shape, offset, nbytes) for buffer columns; kind is "tensor" or "array"
    layout: list[tuple[str, str, str, tuple[int, ...], int, int]] = field(default_factory=list)
    #: the columns with no flat buffer, as a Message (pickled with the header), plus the column order
    rest: Any = None
    order: list[str] = field(default_factory=list)
    #: the buffer bytes themselves when shared memory was not used
    inline: bytes | None = None


def new_block_name() -> str:
    """A fresh, unguessable name for a shared-memory block."""
    return _PREFIX + secrets.token_hex(10)


def _buffer_columns(message: Message) -> tuple[list[tuple[str, Any]], list[str]]:
    data = message._data
    flat: list[tuple[str, Any]] = []
    other: list[str] = []
    for name, col in data.items():
        if isinstance(col, torch.Tensor) and col.device.type == "cpu" and not col.is_sparse:
            flat.append((name, col.contiguous()))
        elif isinstance(col, np.ndarray) and col.dtype.kind in "biufcmM":
            flat.append((name, np.ascontiguousarray(col)))
        else:
            other.append(name)
    return flat, other


def _room_for(size: int) -> bool:
    try:
        st = os.statvfs(_SHM_DIR)
    except OSError:
        return True  # not Linux-style /dev/shm: let SharedMemory decide
    return st.f_bavail * st.f_frsize > 2 * size


def pack(
    message: Message,
    name: str | None = None,
    *,
    use_shm: bool = True,
    min_bytes: int = MIN_SHM_BYTES,
) -> Packed:
    """Write ``message``'s buffer columns into a new shared-memory block named ``name`` (default: fresh),
    or inline into the header when they total under ``min_bytes`` or ``use_shm`` is False."""
    from fireworks.message import Message

    flat, other = _buffer_columns(message)
    layout: list[tuple[str, str, str, tuple[int, ...], int, int]] = []
    offset = 0
    for col_name, col in flat:
        if isinstance(col, torch.Tensor):
            kind, dtype, nbytes = "tensor", str(col.dtype).removeprefix("torch."), col.nbytes
        else:
            kind, dtype, nbytes = "array", col.dtype.str, col.nbytes
        layout.append((col_name, kind, dtype, tuple(col.shape), offset, nbytes))
        offset += -(-nbytes // _ALIGN) * _ALIGN
    rest = (
        Message._from_columns({k: message._data[k] for k in other}, len(message)) if other else None
    )
    packed = Packed(len(message), None, offset, layout, rest, list(message._data))
    if offset == 0:
        return packed
    if use_shm and offset >= min_bytes and _room_for(offset):
        block = shared_memory.SharedMemory(name=name or new_block_name(), create=True, size=offset)
        try:
            _write(block.buf, flat, layout)  # type: ignore[arg-type]
        except BaseException:
            block.close()
            block.unlink()
            raise
        packed.block = block.name
        block.close()
    else:
        buf = bytearray(offset)
        _write(memoryview(buf), flat, layout)
        packed.inline = bytes(buf)
    return packed


def _write(buf: memoryview, flat: list[tuple[str, Any]], layout: list) -> None:
    target = np.frombuffer(buf, dtype=np.uint8)
    for (_, col), (_, _, _, _, offset, nbytes) in zip(flat, layout):
        if nbytes == 0:
            continue
        if isinstance(col, torch.Tensor):
            src = col.detach().reshape(-1).view(torch.uint8).numpy()
        else:
            src = col.reshape(-1).view(np.uint8)
        target[offset : offset + nbytes] = src
    del target


def _read(buf: Any, layout: list) -> dict[str, Any]:
    source = np.frombuffer(buf, dtype=np.uint8)
    cols: dict[str, Any] = {}
    for name, kind, dtype, shape, offset, nbytes in layout:
        if kind == "tensor":
            t = torch.empty(shape, dtype=getattr(torch, dtype))
            if nbytes:
                t.view(torch.uint8).reshape(-1).numpy()[:] = source[offset : offset + nbytes]
            cols[name] = t
        else:
            a = np.empty(shape, dtype=np.dtype(dtype))
            if nbytes:
                a.reshape(-1).view(np.uint8)[:] = source[offset : offset + nbytes]
            cols[name] = a
    del source
    return cols


def unpack(packed: Packed, *, free: bool = True) -> Message:
    """Rebuild the Message described by ``packed`` (one copy per column); ``free`` unlinks the block."""
    from fireworks.message import Message

    cols: dict[str, Any] = {}
    if packed.block is not None:
        block = shared_memory.SharedMemory(name=packed.block)
        try:
            cols = _read(block.buf, packed.layout)
        finally:
            block.close()
            if free:
                with contextlib.suppress(FileNotFoundError):
                    block.unlink()
    elif packed.inline is not None:
        cols = _read(packed.inline, packed.layout)
    if packed.rest is not None:
        cols.update(packed.rest._data)
    return Message._from_columns({k: cols[k] for k in packed.order}, packed.n)


def discard(name: str | None) -> None:
    """Free the block ``name`` if it still exists (a receiver died, a task was killed or abandoned)."""
    if not name:
        return
    try:
        block = shared_memory.SharedMemory(name=name)
    except (FileNotFoundError, ValueError):
        return
    block.close()
    with contextlib.suppress(FileNotFoundError):
        block.unlink()


__all__ = ["MIN_SHM_BYTES", "Packed", "discard", "new_block_name", "pack", "unpack"]
