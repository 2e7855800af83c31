"""One contract suite run against every Source type (in the style of optuna's pytest_storages)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from fireworks import Message, PipelineError
from fireworks.sources import FunctionSource, Source

from .conftest import CASES, Case, write_files

RANDOM = [c for c in CASES if c.random_access]
FORWARD = [c for c in CASES if not c.random_access]


def ids(case: Case) -> str:
    return case.name


def concat(items: list[Message]) -> Message:
    return Message.concat(items) if items else Message()


def drain(src: Source) -> list[Message]:
    out = []
    while True:
        try:
            out.append(next(src))
        except StopIteration:
            return out


@pytest.fixture(params=CASES, ids=ids)
def case(request) -> Case:
    return request.param


@pytest.fixture(params=RANDOM, ids=ids)
def random_case(request) -> Case:
    return request.param


@pytest.fixture(params=FORWARD, ids=ids)
def forward_case(request) -> Case:
    return request.param


@pytest.fixture
def tmp(tmp_path):
    write_files(tmp_path)
    return tmp_path


def test_building_reads_nothing(case: Case, tmp_path) -> None:
    # building over files that do not exist yet must succeed: construction opens nothing
    src = case.build(tmp_path / "missing")
    assert isinstance(src, Source)
    src.state_dict()


def test_iteration_yields_messages_covering_the_data(case: Case, tmp) -> None:
    items = list(case.build(tmp))
    assert items and all(isinstance(m, Message) for m in items)
    assert sum(len(m) for m in items) > 0


def test_two_passes_are_independent(case: Case, tmp) -> None:
    src = case.build(tmp)
    a, b = iter(src), iter(src)
    first_a = next(a)
    rest_b = list(b)
    rest_a = list(a)
    assert sum(len(m) for m in [first_a, *rest_a]) == sum(len(m) for m in rest_b)
    if not case.epochal:
        assert concat([first_a, *rest_a]) == concat(rest_b)


def test_len_and_every_index_form(random_case: Case, tmp) -> None:
    src = random_case.build(tmp)
    n = len(src)
    items = [src[i] for i in range(n)]
    whole = concat(items)
    assert src[-1] == items[-1]
    assert src[:] == whole
    assert src[2:7] == concat(items[2:7])
    assert src[::3] == concat(items[::3])
    picks = [n - 1, 0, 2, 2]
    expected = concat([items[i] for i in picks])
    assert src[picks] == expected
    assert src[np.array(picks)] == expected
    assert src[torch.tensor(picks)] == expected
    mask = np.arange(n) % 2 == 0
    assert src[mask] == concat([items[i] for i in range(n) if mask[i]])
    with pytest.raises(IndexError, match="out of range"):
        src[n]
    with pytest.raises(IndexError, match="out of range"):
        src[[0, n + 5]]


def test_iteration_matches_random_access(random_case: Case, tmp) -> None:
    src = random_case.build(tmp)
    n = len(src)
    own = concat(drain(src))  # next() walks the current epoch in index order
    assert own == concat([src[i] for i in range(n)])
    if not random_case.epochal:
        assert concat(list(src)) == own


def test_forward_only_refuses_random_access_clearly(forward_case: Case, tmp) -> None:
    src = forward_case.build(tmp)
    with pytest.raises(TypeError, match="forward-only"):
        len(src)
    with pytest.raises(TypeError, match="forward-only"):
        src[0]


def test_reset_rewinds_the_own_cursor(case: Case, tmp) -> None:
    src = case.build(tmp)
    full = drain(src)
    src.reset()
    again = drain(src)
    assert sum(map(len, again)) == sum(map(len, full))
    if not case.epochal:
        assert concat(again) == concat(full)
    else:
        assert concat(again) != concat(full)  # a reset is a new epoch


@pytest.mark.parametrize("stop_after", [0, 1, 3, None])
def test_state_round_trip_mid_epoch(case: Case, tmp, stop_after) -> None:
    """The torchdata save/load-mid-iteration check: a fresh pipeline loaded from a state continues exactly."""
    src = case.build(tmp)
    src.reset()
    src.reset()  # a later epoch, so the epoch is part of what must be restored
    total = len(drain(case.build(tmp)))
    k = total if stop_after is None else min(stop_after, total)
    for _ in range(k):
        next(src)
    state = src.state_dict()
    json.loads(json.dumps(state))  # JSON-compatible: checkpoints need no pickle
    rest = drain(src)
    fresh = case.build(tmp)
    fresh.load_state_dict(state)
    assert concat(drain(fresh)) == concat(rest)
    # and the epoch after it matches too
    src.reset()
    fresh.reset()
    assert concat(drain(fresh)) == concat(drain(src))


def test_fan_out_each_consumer_sees_everything(case: Case, tmp) -> None:
    src = case.build(tmp)
    left = FunctionSource(src, lambda m: m)
    right = FunctionSource(src, lambda m: m)
    assert src.outputs == [left, right]
    a, b = iter(left), iter(right)
    seen_a, seen_b = [], []
    for x, y in zip(a, b):  # lock-step consumers
        seen_a.append(x)
        seen_b.append(y)
    seen_a += list(a)
    seen_b += list(b)
    assert sum(map(len, seen_a)) == sum(map(len, seen_b)) > 0
    if not case.epochal:
        assert concat(seen_a) == concat(seen_b)


def test_failure_inside_names_the_node_once(case: Case, tmp) -> None:
    def boom(m: Message) -> Message:
        raise ZeroDivisionError("boom")

    bad = FunctionSource(case.build(tmp), boom, name="exploder")
    with pytest.raises(PipelineError, match=r"FunctionSource 'exploder' at .*exploder") as info:
        list(FunctionSource(bad, lambda m: m))
    assert isinstance(info.value.__cause__, ZeroDivisionError)
    assert str(info.value).count("failed while pulling") == 1
    assert isinstance(info.value, ZeroDivisionError)
