"""Epochs: the order of a shuffling Source is drawn anew every epoch, and every pass owns its epoch.

A pass (``iter(src)``) records, when it starts, the epoch of every epochal node upstream (``_epochal``), and
sets that record as the current context while it computes each of its items. :func:`epoch_of` reads it, so
two passes over one ``ShufflerSource`` that run at the same time each see their own whole permutation. Outside
any pass (``src[i]``, ``next(src)``) a node reads its own ``epoch``.
"""

from __future__ import annotations

from collections.abc import Mapping
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from fireworks.message import Message
    from fireworks.sources.base import Source

#: the epochs of the pass being computed: ``id(node) -> epoch``
PASS_EPOCHS: ContextVar[Mapping[int, int] | None] = ContextVar(
    "fireworks_pass_epochs", default=None
)


class PassEpochs(dict[int, int]):
    """The epochs a pass serves (``id(node) -> epoch``), and ``scratch``: what nodes keep for that pass
    alone (a shuffler's copy of its input), dropped with the pass."""

    __slots__ = ("scratch",)

    def __init__(self, epochs: Mapping[int, int]) -> None:
        super().__init__(epochs)
        self.scratch: dict[Any, Any] = {}


def pass_scratch() -> dict[Any, Any] | None:
    """The current pass's scratch space (None outside a pass)."""
    return getattr(PASS_EPOCHS.get(), "scratch", None)


def epoch_of(node: Any) -> int:
    """The epoch ``node`` serves now: the one its current pass started with, else its own ``epoch``."""
    ctx = PASS_EPOCHS.get()
    if ctx is not None:
        epoch = ctx.get(id(node))
        if epoch is not None:
            return epoch
    return int(node.epoch)


def epochal_nodes(src: Source) -> list[Source]:
    """The nodes upstream of ``src`` (itself included) whose items change from epoch to epoch."""
    from fireworks.sources.graph import walk

    cached = src.__dict__.get("_epochal_cache")
    if cached is None:
        cached = [n for n in walk(src) if getattr(type(n), "_epochal", False)]
        src.__dict__["_epochal_cache"] = cached
    return cached


def epoch_signature(src: Source) -> tuple[int, ...]:
    """The epochs that the items of ``src`` depend on right now (empty when nothing upstream is epochal);
    a node that keeps items (a cache) drops them when this changes."""
    return tuple(epoch_of(n) for n in epochal_nodes(src))


class SeededEpochs:
    """Mixin for a Source whose order is drawn anew every epoch from ``numpy``/``random`` seeded by ``(seed,
    epoch)``: ``class ShufflerSource(SeededEpochs, Source)``.

    It keeps ``seed``, ``epoch`` and whether the current epoch has been read from; a fresh pass after one
    that was read, and every ``reset()``, move to the next epoch. Its state is those three numbers and the
    cursor, so a saved pipeline resumes the same order. Subclasses call :meth:`_init_epochs` in ``__init__``
    and read the epoch they serve with :func:`epoch_of` (a pass's own epoch). It is not itself a Source, so
    that defining ``__next__`` here does not make its subclasses forward-only.
    """

    _epochal = True
    seed: int
    epoch: int

    def _init_epochs(self, seed: int | None) -> None:
        self.seed = int(np.random.SeedSequence().entropy) if seed is None else int(seed)  # type: ignore[arg-type]
        self.epoch = 0
        self._used = False

    def _new_pass(self) -> None:
        if self._used:
            self.epoch += 1
        self._used = True

    def __next__(self) -> Message:
        self._used = True
        return super().__next__()  # type: ignore[misc]

    def reset(self) -> Any:
        super().reset()  # type: ignore[misc]
        self.epoch += 1
        self._used = False
        return self

    def _own_state(self) -> dict[str, Any]:
        state: dict[str, Any] = super()._own_state()  # type: ignore[misc]
        return {**state, "seed": self.seed, "epoch": self.epoch, "used": self._used}

    def _load_own_state(self, state: Mapping[str, Any]) -> None:
        super()._load_own_state(state)  # type: ignore[misc]
        self.seed = int(state.get("seed", self.seed))
        self.epoch = int(state.get("epoch", 0))
        self._used = bool(state.get("used", False))
