"""Index rules of a Source: the index forms ``src[index]`` takes, normalised once, with one error type.

A Source takes the Message's row index forms (int, slice, int list/array/tensor, boolean mask); the rules and
the bounds checks are the Message's own (:func:`fireworks._columns.row_index`), so both say the same thing
about the same bad index.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from fireworks import _columns as C


class SourceIndexError(IndexError):
    """An index out of range for a Source (a bad argument, never wrapped as a PipelineError)."""


def normalize_index(index: Any, n: int) -> int | slice | np.ndarray:
    """Turn any supported row index into an ``int`` (non-negative), a step-1 ``slice`` or an int64 array.

    The rules are the Message's (:func:`fireworks._columns.row_index`); bounds are checked there, so the error
    (a :class:`SourceIndexError`) names the bad value and the length. Stepped slices become arrays.
    """
    rows = C.row_index(index, n, "Source", SourceIndexError)
    if isinstance(rows, slice):
        start, stop, step = rows.start, rows.stop, rows.step
        if step == 1:
            return slice(start, max(start, stop))
        return np.arange(start, stop, step, dtype=np.int64)
    return rows


def index_to_array(index: int | slice | np.ndarray) -> np.ndarray:
    """A normalized index as an int64 array."""
    if isinstance(index, slice):
        return np.arange(index.start, index.stop, dtype=np.int64)
    if isinstance(index, int):
        return np.array([index], dtype=np.int64)
    return index
