"""Adapters both ways with torch.utils.data: Dataset, IterableDataset (worker sharding), DataLoader."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader, Dataset, IterableDataset, TensorDataset

from fireworks import Message
from fireworks.sources import BatchingSource, DatasetSource, Source


def message(n: int = 50) -> Message:
    return Message(
        {
            "x": torch.arange(n, dtype=torch.float32),
            "k": np.arange(n),
            "s": [str(i) for i in range(n)],
        }
    )


def test_as_dataset_feeds_a_dataloader_with_the_default_collate() -> None:
    ds = Source(message()).as_dataset()
    assert len(ds) == 50 and set(ds[3]) == {"x", "k", "s"}
    batches = list(DataLoader(ds, batch_size=16, shuffle=False))
    assert [len(b["x"]) for b in batches] == [16, 16, 16, 2]
    assert torch.equal(torch.cat([b["x"] for b in batches]), torch.arange(50, dtype=torch.float32))
    assert batches[0]["s"][:3] == ["0", "1", "2"] and batches[0]["k"].dtype == torch.int64


def test_as_dataset_over_a_batching_source_gives_whole_batches() -> None:
    ds = BatchingSource(message(), 20).as_dataset()
    out = list(DataLoader(ds, batch_size=None))
    assert [len(b["x"]) for b in out] == [20, 20, 10]


@pytest.mark.parametrize("workers", [0, 2])
def test_as_iterable_dataset_shards_across_workers(workers: int) -> None:
    ds = Source(Message({"k": np.arange(10_000)})).as_iterable_dataset()
    batches = list(DataLoader(ds, batch_size=500, num_workers=workers))
    seen = torch.cat([b["k"] for b in batches]).tolist()
    assert sorted(seen) == list(range(10_000))  # every row once: no worker repeats another's


def test_dataset_source_from_tuples_dicts_and_iterables() -> None:
    src = DatasetSource(TensorDataset(torch.arange(6.0), torch.arange(6) * 2))
    assert len(src) == 6 and src[[4, 1]]["1"].tolist() == [8, 2]

    class Dicts(Dataset):
        def __len__(self) -> int:
            return 4

        def __getitem__(self, i: int) -> dict:
            return {"a": i, "t": torch.full((2,), float(i))}

    dicts = DatasetSource(Dicts())
    assert dicts[1:3]["a"].tolist() == [1, 2] and dicts[1:3]["t"].shape == (2, 2)

    class Stream(IterableDataset):
        def __iter__(self):
            return iter([{"a": 1}, {"a": 2}])

    stream = DatasetSource(Stream())
    assert not stream.has_random_access()
    assert [m["a"].tolist() for m in stream] == [[1], [2]]
    assert stream.loop()[1]["a"].tolist() == [2]
