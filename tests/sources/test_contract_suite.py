"""fireworks.testing's contract suite, run against every Source type of the toolbox (and user-style
subclasses), with the core's internal sizes at their defaults and set tiny.

``TestEveryCase`` runs every check of :class:`~fireworks.testing.SourceContract` over each of ``CASES``;
the tests after it check what holds for these cases but is not part of the contract every Source meets.
"""

from __future__ import annotations

import json

import pytest

from fireworks import Message, Source
from fireworks.testing import SourceContract, small_sizes
from fireworks.testing.sources import drain

from .conftest import CASES, Case, data, write_files


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("contract")
    write_files(tmp)
    return tmp


class TestEveryCase(SourceContract):
    @pytest.fixture(autouse=True, params=CASES, ids=lambda c: c.name)
    def _case(self, request, files) -> None:
        self.case, self.files = request.param, files

    def make_source(self) -> Source:
        return self.case.build(self.files)

    def make_source_over_missing_data(self) -> Source:
        return self.case.build(self.files / "missing")


class AddColumn(Source):
    """A user subclass in the documented style: ``__getitem__`` calling ``super()``."""

    def __getitem__(self, index):
        m = super().__getitem__(index)
        m["z"] = m["x"] * 10
        return m


class TestAddColumnOverShuffledBatches(SourceContract):
    def make_source(self) -> Source:
        return AddColumn(Source(data()).shuffle(seed=4).batch(4))


class TestMapOverRows(SourceContract):
    def make_source(self) -> Source:
        return Source(data()).map(lambda m: Message({"x": m["x"] + 1}))


# ---- what holds for these cases, beyond the contract ---------------------------------------------------


def concat(items: list[Message]) -> Message:
    return Message.concat(items) if items else Message()


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_every_case_has_rows(case: Case, files) -> None:
    # the contract compares paths with each other, which an empty case would pass trivially
    assert sum(len(m) for m in case.build(files)) > 0


@pytest.mark.parametrize("case", [c for c in CASES if c.epochal], ids=lambda c: c.name)
def test_a_reset_of_a_shuffling_case_is_a_new_order(case: Case, files) -> None:
    src = case.build(files)
    full = drain(src)
    src.reset()
    again = drain(src)
    assert sum(map(len, again)) == sum(map(len, full))
    assert concat(again) != concat(full)


@pytest.mark.parametrize("stop_after", [0, 1, 3, None])
@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_toolbox_states_are_plain_json_in_a_later_epoch(case: Case, files, stop_after) -> None:
    """The toolbox's states need no array encoding (the contract allows arrays), and a state taken two
    epochs in resumes exactly, and so does the epoch after it."""
    with small_sizes():
        src = case.build(files)
        src.reset()
        src.reset()
        total = len(drain(case.build(files)))
        for _ in range(total if stop_after is None else min(stop_after, total)):
            next(src)
        state = src.state_dict()
        json.loads(json.dumps(state))
        rest = drain(src)
        fresh = case.build(files)
        fresh.load_state_dict(state)
        assert concat(drain(fresh)) == concat(rest)
        src.reset()
        fresh.reset()
        assert concat(drain(fresh)) == concat(drain(src))


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_passes_that_start_together_share_one_read(case: Case, files) -> None:
    """The contract lets a single-cursor Source refuse a second pass at once; the toolbox's cases (the
    single-cursor NextOnly among them) serve passes that start together from one read instead."""
    from fireworks.sources import FunctionSource

    src = case.build(files)
    a, b = iter(src), iter(src)
    first_a = next(a)
    assert sum(map(len, list(b))) == sum(map(len, [first_a, *a]))
    src = case.build(files)
    left, right = FunctionSource(src, lambda m: m), FunctionSource(src, lambda m: m)
    a, b = iter(left), iter(right)
    pairs = list(zip(a, b))
    assert sum(len(x) for x, _ in pairs) + sum(map(len, a)) == sum(len(y) for _, y in pairs) + sum(
        map(len, b)
    )
