"""Turning a reader's low-level failure on a damaged file into one error that names the file.

Arrow, Parquet and SQLite each fail in their own words when a file is cut short or overwritten; readers wrap
their reads in :func:`reading` so the user gets :class:`~fireworks.exceptions.CorruptFileError` with the path,
what is wrong, and the underlying message.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from typing import Any

from fireworks.exceptions import CorruptFileError

_NOT_DAMAGE = (FileNotFoundError, IsADirectoryError, NotADirectoryError, PermissionError)


@contextlib.contextmanager
def reading(path: str | os.PathLike[str], kind: str, fix: str = "") -> Iterator[None]:
    """Re-raise a failure to parse ``path`` as ``kind`` (e.g. "CSV") as CorruptFileError naming it.

    A missing file or a permission problem is not damage and passes through unchanged, and so does a value
    that does not fit the column type Arrow inferred (a CSV conversion error) unless it is invalid UTF-8.
    """
    import pyarrow as pa

    try:
        yield
    except (CorruptFileError, *_NOT_DAMAGE):
        raise
    except (pa.ArrowException, OSError, EOFError) as err:
        text = str(err)
        if "conversion error" in text and "UTF8" not in text:
            raise
        first = text.strip().splitlines()[0] if text.strip() else type(err).__name__
        raise CorruptFileError(
            os.fspath(path),
            f"it cannot be read as {kind}, it may be cut short or overwritten ({first})",
            fix or "restore the file or write it again",
        ) from err


def unterminated_last_line(path: str | os.PathLike[str]) -> bool:
    """True when the non-empty text file ``path`` does not end with a line break (its last line may be cut)."""
    with open(path, "rb") as f:
        f.seek(0, os.SEEK_END)
        if f.tell() == 0:
            return False
        f.seek(-1, os.SEEK_END)
        return f.read(1) not in (b"\n", b"\r")


def check_text_ending(path: str | os.PathLike[str], kind: str) -> None:
    """Refuse a CSV or JSON Lines file whose last line has no line break: it may be a record cut short mid-field, which
    would otherwise read as a shorter value without any error."""
    if unterminated_last_line(path):
        raise CorruptFileError(
            os.fspath(path),
            f"its last line has no line break, so the {kind} file may have been cut short in the middle of "
            f"a record",
            "if the file is complete, end it with a newline",
        )


def name_of(file: Any) -> str:
    """The path of ``file`` (a path or an open file), or a description of the stream."""
    if isinstance(file, (str, os.PathLike)):
        return os.fspath(file)
    name = getattr(file, "name", None)
    return (
        str(name) if isinstance(name, (str, os.PathLike)) else f"the {type(file).__name__} stream"
    )
