"""The contract every Source meets, as checks any Source class can run (see :mod:`fireworks.testing`).

Each check takes ``make``, a function that builds a FRESH pipeline (so that every path starts from the same
state, epoch 0), and compares what each way of consuming it gives with the reference meaning:

- random access: item ``k`` is ``src[k]``;
- forward-only: ``next()`` until ``StopIteration``;
- a reader (a pass yields chunks): the same rows as the reference, in any chunking.

Passes over one Source are numbered in the order they start: the k-th gives what the k-th of passes run one
after another gives (a shuffler's second pass is its next epoch), whether they run one after another, at the
same time over one Source, or as the consumers of a fan-out.

>>> from fireworks import Message, Source
>>> from fireworks.testing import check_consumption, check_save_load
>>> make = lambda: Source(Message({"x": list(range(7))})).shuffle(seed=0).batch(3)
>>> check_consumption(make); check_save_load(make)
"""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from fireworks.exceptions import PipelineError
from fireworks.message import Message
from fireworks.sources import plan
from fireworks.sources.base import Source

Make = Callable[[], Source]


@contextlib.contextmanager
def small_sizes(
    block_rows: int = 3,
    window_rows: int = 5,
    max_lag: int = 2,
    copy_rows: int = 4,
    view_rows: int = 2,
) -> Iterator[None]:
    """Within the block, the core reads ``block_rows`` rows per block, ``window_rows`` rows per window of
    batches, lets a fan-out reader lag ``max_lag`` items and copies a shuffler's input ``copy_rows`` rows
    per call, and Message row slices of ``view_rows`` rows or more share memory (copy on write): tiny
    sizes, so that tests on tens of rows cross every boundary."""
    from fireworks import message

    old = dict(vars(plan.sizes))
    old_view_rows, message.VIEW_ROWS = message.VIEW_ROWS, view_rows
    plan.sizes.block_rows, plan.sizes.window_rows, plan.sizes.max_lag = (
        block_rows,
        window_rows,
        max_lag,
    )
    plan.sizes.copy_rows = copy_rows
    try:
        yield
    finally:
        vars(plan.sizes).update(old)
        message.VIEW_ROWS = old_view_rows


def drain(src: Source) -> list[Message]:
    """``next(src)`` until ``StopIteration`` (from the Source's current cursor)."""
    out = []
    while True:
        try:
            out.append(next(src))
        except StopIteration:
            return out


def _take(src: Source, k: int) -> list[Message]:
    """Up to ``k`` items of ``next(src)`` (fewer where the pass ends first)."""
    out = []
    for _ in range(k):
        try:
            out.append(next(src))
        except StopIteration:
            break
    return out


def reference_items(src: Source) -> list[Message]:
    """The reference meaning of a fresh ``src``: ``src[k]`` for every ``k`` (random access), else its
    stream read with ``next()``."""
    if src.has_random_access() and not src._iterates_chunks():
        return [src[k] for k in range(len(src))]
    return drain(src)


def rows(items: list[Message]) -> list[tuple[Any, ...]]:
    """The rows of ``items`` as tuples of plain Python values (columns in order), for comparing paths that
    chunk rows differently or yield dicts."""
    out: list[tuple[Any, ...]] = []
    for m in items:
        if not len(m):
            continue
        cols = [_plain(m[c]) for c in m.columns]
        out.extend(zip(*cols))
    return out


def _plain(col: Any) -> list[Any]:
    values = col.tolist()
    return [tuple(v) if isinstance(v, list) else v for v in values]


def _dict_rows(dicts: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    out = []
    for d in dicts:
        row = []
        for v in d.values():
            v = v.tolist() if hasattr(v, "tolist") else v
            row.append(tuple(v) if isinstance(v, list) else v)
        out.append(tuple(row))
    return out


def _same(label: str, got: list[Message], want: list[Message], by_item: bool) -> None:
    if by_item:
        assert [len(m) for m in got] == [len(m) for m in want], (
            f"{label}: item sizes {[len(m) for m in got]} != reference {[len(m) for m in want]}"
        )
    assert rows(got) == rows(want), f"{label}: rows differ from the reference"
    if got and want:
        assert got[0].columns == want[0].columns, (
            f"{label}: columns {got[0].columns} != reference {want[0].columns}"
        )


def check_consumption(
    make: Make, *, workers: int = 2, dataloader: bool = False, index_forms: bool = True
) -> None:
    """Every way of consuming ``make()`` gives the reference items (rows, for a chunked pass), and they are
    Messages: ``iter``, ``next()`` after ``reset()``, every index form, ``as_dataset``,
    ``as_iterable_dataset`` (sharded over ``workers`` and merged), ``.prefetch()`` and ``.cache()``
    appended, a pass resumed from its ``state_dict``, two passes at once over one Source and the two
    consumers of a fan-out (each the pass it is by the order passes start, see the module docstring; a
    Source with a single cursor may instead refuse with its documented ``PipelineError``).

    Also: an index past the end raises ``IndexError``; a forward-only Source refuses ``src[i]`` with a
    ``TypeError`` that says it is forward-only, and ``len`` too unless it counts a pass's items or their
    rows; a failure in a node downstream surfaces once, as a ``PipelineError`` that names that node and is
    also an instance of the original error.

    ``dataloader=True`` also runs a real ``DataLoader`` with ``workers`` processes (slower).
    ``index_forms=False`` checks ``src[k]`` for ints only (for a class whose ``__getitem__`` takes nothing
    else)."""
    probe = make()
    want = reference_items(probe)
    random = probe.has_random_access()
    by_item = not probe._iterates_chunks()
    passes = make()
    first = list(passes)
    for m in first:
        assert isinstance(m, Message), f"iter(src) gave a {type(m).__name__}, not a Message"
    _same("iter(src)", first, want, by_item)
    _same("next()", drain(make()), want, by_item)
    if not _epochal(probe):  # a reset, like a second pass, is a new epoch of a shuffler
        again = make()
        again.reset()
        _same("next() after reset()", drain(again), want, by_item)
    _check_access(make(), (len(want), sum(map(len, want))), index_forms)
    if random:
        # a reader's pass yields chunks, but its index is by row
        by_row = want if by_item else [m[j] for m in want for j in range(len(m))]
        _check_indexing(make(), by_row, index_forms)
        _check_datasets(make, by_row, workers, dataloader)
    _same("src.prefetch()", list(make().prefetch(2)), want, by_item)
    cached = make().cache()
    _same("src.cache()", list(cached), want, by_item and random)
    for k in sorted({0, 1, len(want) // 2, len(want)}):
        src = make()
        it = iter(src)
        head = [next(it) for _ in range(min(k, len(want)))]
        resumed = list(make().resume(it.state_dict()))
        _same(f"a pass resumed after {k} items", head + resumed, want, by_item)
    _check_failure_names_the_node(make, bool(want))
    # last: a second pass of a one-shot input raises its documented error
    sequential = [first, list(passes)]
    if not _epochal(probe):
        _same("a second pass", sequential[1], want, by_item)
    _check_passes_at_once(make, sequential, by_item)
    _check_fan_out(make, sequential, by_item)


def _single_cursor_refusal(err: PipelineError) -> bool:
    return "has a single cursor" in str(err)


def _check_passes_at_once(make: Make, sequential: list[list[Message]], by_item: bool) -> None:
    src = make()
    a, b = iter(src), iter(src)
    try:
        first = [next(a)] if sequential[0] else []
        second = list(b)
        first += list(a)
    except PipelineError as err:
        if not _single_cursor_refusal(err):
            raise
        return
    _same("the first of two passes at once", first, sequential[0], by_item)
    _same("the second of two passes at once", second, sequential[1], by_item)


def _check_fan_out(make: Make, sequential: list[list[Message]], by_item: bool) -> None:
    from fireworks.sources.transforms import FunctionSource

    src = make()
    left, right = FunctionSource(src, _unchanged), FunctionSource(src, _unchanged)
    assert src.outputs == [left, right], "a Source's outputs are the nodes built on it, in order"
    live = {"first": iter(left), "second": iter(right)}
    seen: dict[str, list[Message]] = {"first": [], "second": []}
    try:
        while live:  # the consumers in lock-step (passes of an epochal Source may differ in length)
            for key, it in list(live.items()):
                try:
                    seen[key].append(next(it))
                except StopIteration:
                    del live[key]
    except PipelineError as err:
        if not _single_cursor_refusal(err):
            raise
        return
    _same("the first consumer of a fan-out", seen["first"], sequential[0], by_item)
    _same("the second consumer of a fan-out", seen["second"], sequential[1], by_item)


def _unchanged(m: Message) -> Message:
    return m


def _boom(m: Message) -> Message:
    raise ZeroDivisionError("boom")


def _check_failure_names_the_node(make: Make, has_items: bool) -> None:
    from fireworks.sources.transforms import FunctionSource

    if not has_items:
        return  # nothing flows, so nothing fails
    bad = FunctionSource(make(), _boom, name="exploder")
    try:
        list(FunctionSource(bad, _unchanged))
    except PipelineError as err:
        text = str(err)
        assert re.search(r"FunctionSource 'exploder' at .*exploder", text), (
            f"a failure must name the node it happened in, but the error says: {text}"
        )
        assert text.count("failed while pulling") == 1, f"the node is named more than once: {text}"
        assert isinstance(err.__cause__, ZeroDivisionError), "the original error must be the cause"
        assert isinstance(err, ZeroDivisionError), (
            "the PipelineError must also be an instance of the original error, so `except` clauses for "
            "it keep working"
        )
    else:
        raise AssertionError(
            "a node downstream raised, but iterating did not raise a PipelineError"
        )


def _check_access(src: Source, sizes: tuple[int, int], index_forms: bool) -> None:
    """An index past the end raises IndexError; a forward-only Source refuses ``src[i]`` with a TypeError
    that says so, and may offer ``len`` only if it counts what a pass gives: ``sizes`` (items, rows)."""
    if src.has_random_access():
        n = len(src)
        for bad in [n, *([[0, n + 5]] if index_forms else [])]:
            try:
                src[bad]
            except IndexError as err:
                assert "out of range" in str(err), (
                    f"src[{bad}] raised IndexError without saying why"
                )
            else:
                raise AssertionError(f"src[{bad}] (past the end) must raise IndexError")
        return
    try:
        src[0]
    except TypeError as err:
        assert "forward-only" in str(err), f"src[0] must say the Source is forward-only: {err}"
    else:
        raise AssertionError("a forward-only Source must refuse src[0] with a TypeError")
    try:
        n = len(src)
    except TypeError as err:
        assert "forward-only" in str(err), f"len(src) must say the Source is forward-only: {err}"
    else:
        assert n in sizes, f"len(src) == {n}, but a pass gives {sizes[0]} items of {sizes[1]} rows"


def _epochal(src: Source) -> bool:
    from fireworks.sources.epochs import epochal_nodes

    return bool(epochal_nodes(src))


def _check_indexing(src: Source, want: list[Message], index_forms: bool = True) -> None:
    n = len(src)
    assert n == len(want), f"len(src) == {n}, but the reference has {len(want)} items"
    whole = Message.concat(want) if want else None
    if whole is None or not index_forms:
        return
    assert src[:] == whole, "src[:] differs from the items concatenated"
    assert rows([src[-1]]) == rows([want[-1]]), "src[-1] differs from the last item"
    picks = [n - 1, 0, n // 2, n // 2]
    expected = rows([want[i] for i in picks])
    assert rows([src[picks]]) == expected, "src[list] differs from its items concatenated"
    assert rows([src[np.array(picks)]]) == expected, "src[ndarray] differs"
    import torch

    assert rows([src[torch.tensor(picks)]]) == expected, "src[tensor] differs"
    mask = np.arange(n) % 2 == 0
    assert rows([src[mask]]) == rows([want[i] for i in range(n) if mask[i]]), "src[mask] differs"
    assert rows([src[1 : n - 1]]) == rows(want[1 : n - 1]), "src[a:b] differs"
    assert rows([src[::2]]) == rows(want[::2]), "src[::2] differs"


def _check_datasets(make: Make, want: list[Message], workers: int, dataloader: bool) -> None:
    from fireworks.sources.torch import _rows_as_dicts

    src = make()
    ds = src.as_dataset()
    batched = src._is_batched()
    if not batched and want:
        want_rows = rows(want)
        assert _dict_rows([ds[k] for k in range(len(ds))]) == want_rows, "as_dataset()[k] differs"
        assert _dict_rows(ds.__getitems__(list(range(len(ds))))) == want_rows, (
            "as_dataset().__getitems__ differs"
        )
    # as_iterable_dataset(): each DataLoader worker reads its shard; merged, they hold every item once
    merged: list[str] = []
    for w in range(workers):
        for item in plan.shard(make(), w, workers):
            if batched:
                merged.append(repr(rows([item])))
            else:
                merged.extend(map(repr, _dict_rows(_rows_as_dicts(item))))
    expected = [repr(rows([m])) for m in want] if batched else list(map(repr, rows(want)))
    assert sorted(merged) == sorted(expected), "as_iterable_dataset() merged over workers differs"
    if dataloader:
        from torch.utils.data import DataLoader

        loader = DataLoader(make().as_iterable_dataset(), batch_size=None, num_workers=workers)
        got = [repr(r) for r in _dict_rows(list(loader))] if not batched else None
        if got is not None:
            assert sorted(got) == sorted(map(repr, rows(want))), "DataLoader(workers) differs"


def _array_as_list(obj: Any) -> Any:
    import torch

    if isinstance(obj, (np.ndarray, torch.Tensor)):
        return obj.tolist()
    raise TypeError(
        f"a state_dict value of type {type(obj).__name__} cannot be saved without pickle; use JSON-compatible "
        f"values, numpy arrays or tensors"
    )


def check_save_load(make: Make) -> None:
    """torchdata's save/load-mid-pass sequence on the own cursor (``next``/``state_dict``): a fresh pipeline
    loaded from a state continues exactly, whether the state was taken mid-epoch, in the next epoch, at the
    initial state, or at the end of an epoch. States must hold JSON-compatible values, numpy arrays and
    tensors only (what :func:`fireworks.save_checkpoint` stores without pickle)."""
    epoch0 = drain(make())
    n = len(epoch0)
    for k in sorted({0, 1, n // 2, max(n - 1, 0)}):
        # mid-epoch
        src = make()
        head = [next(src) for _ in range(min(k, n))]
        state = src.state_dict()
        json.dumps(state, default=_array_as_list)
        rest = drain(src)
        fresh = make()
        fresh.load_state_dict(state)
        _same(f"resumed mid-epoch after {k}", drain(fresh), rest, True)
        assert rows(head + rest) == rows(epoch0), "a pass of next() changed after state_dict()"
        # in the next epoch (which may have fewer items: a filter after a shuffle and an index map)
        src = make()
        drain(src)
        src.reset()
        head = _take(src, k)
        state = src.state_dict()
        rest = drain(src)
        fresh = make()
        fresh.load_state_dict(state)
        _same(f"resumed in the next epoch after {k}", drain(fresh), rest, True)
        src.reset()
        fresh.reset()
        _same("the epoch after a resumed one", drain(fresh), drain(src), True)
    # from the initial state
    initial = make().state_dict()
    used = make()
    drain(used)
    used.load_state_dict(initial)
    _same("loaded from the initial state", drain(used), epoch0, True)
    # from the end of an epoch
    src = make()
    drain(src)
    state = src.state_dict()
    fresh = make()
    fresh.load_state_dict(state)
    assert drain(fresh) == [], "a state taken at the end of an epoch must resume with nothing left"
    src.reset()
    fresh.reset()
    _same("the epoch after the end state", drain(fresh), drain(src), True)


class SourceContract:
    """The contract suite for a Source class: subclass it as ``TestMySource`` and implement
    :meth:`make_source` (a fresh pipeline each call); pytest collects and runs the checks.

    >>> from fireworks import Message, Source
    >>> class TestDoubled(SourceContract):
    ...     def make_source(self):
    ...         return Source(Message({"x": [1, 2, 3]})).map(lambda m: Message({"x": m["x"] * 2}))
    >>> TestDoubled().test_every_path_gives_the_reference_items()
    """

    #: run each check also with the core's internal sizes set tiny (boundaries on a few rows)
    small_sizes: bool = True

    def make_source(self) -> Source:
        """A fresh instance of the pipeline under test."""
        raise NotImplementedError("implement make_source() to return a fresh Source")

    def _contexts(self) -> list[Any]:
        return (
            [contextlib.nullcontext(), small_sizes()]
            if self.small_sizes
            else [contextlib.nullcontext()]
        )

    def test_building_returns_a_source(self) -> None:
        assert isinstance(self.make_source(), Source)

    def test_every_path_gives_the_reference_items(self) -> None:
        for ctx in self._contexts():
            with ctx:
                check_consumption(self.make_source)

    def test_save_and_load_mid_pass(self) -> None:
        for ctx in self._contexts():
            with ctx:
                check_save_load(self.make_source)

    def test_reset_returns_the_source(self) -> None:
        src = self.make_source()
        assert src.reset() is src

    def test_random_access_or_a_clear_refusal(self) -> None:
        src = self.make_source()
        want = reference_items(self.make_source())
        _check_access(src, (len(want), sum(map(len, want))), index_forms=True)

    def make_source_over_missing_data(self) -> Source | None:
        """A fresh instance over data that does not exist (a missing file, table, ...), for
        :meth:`test_building_reads_nothing`; None (the default) skips that test."""
        return None

    def test_building_reads_nothing(self) -> None:
        """Building a Source opens nothing: it succeeds over missing data, and so does its ``state_dict``
        (the data is read by the first pass, in the process that runs it)."""
        src = self.make_source_over_missing_data()
        if src is None:
            import pytest

            pytest.skip("make_source_over_missing_data() is not implemented")
        assert isinstance(src, Source)
        src.state_dict()
