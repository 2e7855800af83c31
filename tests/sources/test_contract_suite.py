"""fireworks.testing's contract suite, run against every Source type of the toolbox (and user-style
subclasses), with the core's internal sizes at their defaults and set tiny."""

from __future__ import annotations

import pytest

from fireworks import Message, Source
from fireworks.testing import SourceContract, check_consumption, check_save_load, small_sizes

from .conftest import CASES, Case, data, write_files


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("contract")
    write_files(tmp)
    return tmp


@pytest.mark.parametrize("tiny", [False, True], ids=["default-sizes", "tiny-sizes"])
@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_every_path_gives_the_reference_items(case: Case, files, tiny: bool) -> None:
    with small_sizes() if tiny else _nothing():
        check_consumption(lambda: case.build(files))


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_save_and_load_mid_pass(case: Case, files) -> None:
    with small_sizes():
        check_save_load(lambda: case.build(files))


class _nothing:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None


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
