"""Fast paths: faster ways to read the items of a pass, each equal to the reference meaning by a law.

A class declares the ones it supports in ``_fast_paths`` (a frozenset of names); the planner
(:mod:`fireworks.sources.plan`) uses one only while the declaring class also owns the methods that define
the items (``__getitem__``, ``__len__``, ``__next__``, ``_stream``, ...), so a subclass overriding any of
them falls back to the reference path automatically. The laws:

- ``"blocks"``: ``__getitem__`` takes every index form, returns a Message it does not keep (a fresh
  one, as Message indexing makes), and ``node[a:b][j] == node[a + j]``; a pass reads blocks of
  ``sizes.block_rows`` rows and splits them (rows only).
- ``"windows"``: for a batched node, ``node._windows(start)`` yields ``(window, bounds)`` with batch ``k``
  equal to ``window[a:b]``: several batches read with one call. A transform passes windows through when
  it commutes with slicing rows (``f(w)[a:b] == f(w[a:b])``, e.g. ``ToTensorSource``).
- ``"stream"``: ``node._stream(start)`` yields exactly ``node[start], node[start + 1], ...``.
- ``"chunks"``: over an input whose pass yields chunks (a reader), a pass over this node yields this node's
  transform of each chunk (its stream) instead of rows.
- ``"scan"``: ``node._scan()`` yields the rows of a whole pass (a filter runs its predicate once per block).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

from fireworks.sources.errors import PASSTHROUGH, message_type, pipeline_error

if TYPE_CHECKING:
    from fireworks.message import Message
    from fireworks.sources.base import Source

Windows = Iterator[tuple["Message", list[tuple[int, int]]]]


def blocks(node: Source, start: int) -> Iterator[Message]:
    """Rows from ``start``, read ``sizes.block_rows`` at a time with one ``node[a:b]`` call each."""
    from fireworks.sources.plan import sizes

    n = len(node)
    step = sizes.block_rows
    for a in range(start, n, step):
        block = node[slice(a, min(a + step, n))]
        for j in range(len(block)):
            yield block[j]


def split_windows(windows: Windows) -> Iterator[Message]:
    """The batches of a windowed pass, one by one.

    A window is a Message this pass made for itself (a gather, or a transform of one) and never shows to
    anyone, and its batches are disjoint rows of it; so a batch is a view of its rows rather than a copy,
    and writing to one batch changes no other batch and nothing outside the pass.
    """
    from_columns = message_type()._from_columns
    for window, bounds in windows:
        names = list(window._data)
        sizes = _split_sizes(bounds, len(window))
        pieces = [_cut(column, bounds, sizes) for column in window._data.values()]
        # a window may share memory with a Message outside the pass (copy on write): its batches too
        make = window._sharing if window._shared else from_columns
        for (a, b), cut in zip(bounds, zip(*pieces) if pieces else [()] * len(bounds)):
            yield make(dict(zip(names, cut)), b - a)


def _split_sizes(bounds: list[tuple[int, int]], rows: int) -> list[int] | None:
    """The batch sizes when ``bounds`` tile the window's ``rows`` from its start, else None."""
    if not bounds or bounds[0][0] != 0 or bounds[-1][1] != rows:
        return None
    if any(b != a for (_, b), (a, _) in itertools.pairwise(bounds)):
        return None
    return [b - a for a, b in bounds]


def _cut(column: Any, bounds: list[tuple[int, int]], sizes: list[int] | None) -> Sequence[Any]:
    """Views of ``column``'s rows ``a:b`` for each of ``bounds``."""
    import torch

    if sizes is not None and isinstance(column, torch.Tensor):
        return column.split(sizes)  # one call for every view
    return [column[a:b] for a, b in bounds]


def windows_through(node: Source, start: int) -> Windows | None:
    """The windows of ``node``'s single input, each transformed by ``node._window_transform``; None when the
    input cannot serve windows (or ``node`` is not granted ``"windows"``)."""
    ins = node.__dict__.get("_inputs", {})
    if len(ins) != 1 or "windows" not in type(node)._fast:
        return None
    inp = next(iter(ins.values()))
    if "windows" not in type(inp)._fast:
        return None
    inner = inp._windows(start)
    if inner is None:
        return None
    return _transform(node, inner)


def _transform(node: Source, inner: Windows) -> Windows:
    for window, bounds in inner:
        try:
            out = node._window_transform(window)
        except PASSTHROUGH:
            raise
        except Exception as err:
            raise pipeline_error(node, err) from err
        yield out, bounds
