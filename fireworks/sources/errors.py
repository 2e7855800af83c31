"""Error naming for Sources: an error raised inside a node while pulling data comes out once, as a
:class:`~fireworks.exceptions.PipelineError` naming the node and its position in the graph.

Also the one check on what a user's ``__getitem__``/``__next__`` returns: a Message, or a dict of columns
(turned into a Message), or a clear ``TypeError`` saying to return a Message.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from fireworks.exceptions import PipelineError
from fireworks.sources.indexing import SourceIndexError

if TYPE_CHECKING:
    from fireworks.message import Message
    from fireworks.sources.base import Source

PASSTHROUGH = (StopIteration, GeneratorExit, PipelineError, SourceIndexError)
_mixed_errors: dict[type, type] = {}
_message_cls: list[type] = []


def message_type() -> type[Message]:
    """The Message class (imported on first use, so that importing a Source module stays cheap)."""
    if not _message_cls:
        from fireworks.message import Message

        _message_cls.append(Message)
    return _message_cls[0]


def pipeline_error(node: Source, err: BaseException) -> PipelineError:
    """A PipelineError naming ``node``; it is also an instance of ``type(err)`` when that is a builtin."""
    msg = f"{node.describe()} failed while pulling data: {type(err).__name__}: {err}"
    kind = type(err)
    cls: type = PipelineError
    if kind.__module__ == "builtins" and kind is not AttributeError:
        cls = _mixed_errors.get(kind) or _mixed_errors.setdefault(
            kind,
            type(f"Pipeline{kind.__name__}", (PipelineError, kind), {"__str__": Exception.__str__}),
        )
    try:
        error = cls(msg)
    except Exception:  # exotic constructor signatures (UnicodeError & co)
        error = PipelineError(msg)
    error.node = node.name  # type: ignore[attr-defined]
    error.position = node.position()  # type: ignore[attr-defined]
    return error


def as_item(node: Source, method: str, out: Any) -> Message:
    """What ``node.<method>`` returned, as a Message: a Message as is, a dict of columns (or of one row's
    scalars) converted; anything else is a TypeError saying to return a Message."""
    message_type_ = message_type()
    if isinstance(out, message_type_):
        return out
    if isinstance(out, Mapping):
        if out and all(np.ndim(v) == 0 and not isinstance(v, (list, tuple)) for v in out.values()):
            from fireworks.sources.adapters import row_to_message

            return row_to_message(out)
        return message_type_(dict(out))
    raise TypeError(
        f"{type(node).__name__}.{method} must return a Message (or a dict of columns), but returned "
        f"{type(out).__name__}; wrap the columns: return Message({{'name': values}})"
    )


def guard(fn: Callable) -> Callable:
    """Wrap a pulling method (``__getitem__``/``__next__``): its result becomes a Message (see
    :func:`as_item`), and its errors are re-raised once as a PipelineError naming the node."""
    if getattr(fn, "_fw_guarded", False):
        return fn
    method = fn.__name__

    @functools.wraps(fn)
    def guarded(self: Source, *args: Any) -> Any:
        try:
            out = fn(self, *args)
            if type(out) is not (_message_cls[0] if _message_cls else None):
                out = as_item(self, method, out)
            return out
        except PASSTHROUGH:
            raise
        except Exception as err:
            raise pipeline_error(self, err) from err

    guarded._fw_guarded = True  # type: ignore[attr-defined]
    return guarded


def guard_iter(node: Source, it: Iterator[Message]) -> Iterator[Message]:
    """``it``, with its errors re-raised once as a PipelineError naming ``node``."""
    try:
        yield from it
    except PASSTHROUGH:
        raise
    except Exception as err:
        raise pipeline_error(node, err) from err
