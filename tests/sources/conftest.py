"""Builders of every Source type over the same small data, for the contract suite."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import torch
from torch.utils.data import TensorDataset

from fireworks import Message
from fireworks.sources import (
    AggregatorSource,
    BatchingSource,
    CSVSource,
    DatasetSource,
    FilterSource,
    FunctionSource,
    IndexMapSource,
    JSONLinesSource,
    LoopingSource,
    ParquetSource,
    PrefetchSource,
    RepeaterSource,
    ShufflerSource,
    Source,
    ToTensorSource,
    train_test_split,
)

N = 23


def data() -> Message:
    return Message(
        {
            "x": np.arange(N, dtype=np.int64),
            "y": torch.arange(N, dtype=torch.float32) / 2,
            "s": [f"r{i}" for i in range(N)],
        }
    )


class RowsOnly(Source):
    """A user subclass with only __getitem__ and __len__."""

    def __init__(self, message: Message) -> None:
        super().__init__()
        self.message = message

    def __getitem__(self, index):
        return self.message[index]

    def __len__(self) -> int:
        return len(self.message)


class NextOnly(Source):
    """A user subclass with only __next__ and reset (forward-only), emitting chunks of 5 rows."""

    def __init__(self, message: Message) -> None:
        super().__init__()
        self.message = message
        self.pos = 0

    def __next__(self) -> Message:
        if self.pos >= len(self.message):
            raise StopIteration
        out = self.message[self.pos : self.pos + 5]
        self.pos += 5
        return out

    def reset(self) -> NextOnly:
        self.pos = 0
        return self  # the contract: reset() returns the Source

    def state_dict(self):
        return {"pos": self.pos}

    def load_state_dict(self, state):
        self.pos = state["pos"]


def write_files(tmp: Path) -> dict[str, Path]:
    m = data()
    table = pa.table({"x": m["x"].to_numpy(), "y": m["y"].numpy(), "s": m["s"].tolist()})
    paths = {"parquet": tmp / "d.parquet", "csv": tmp / "d.csv", "jsonl": tmp / "d.jsonl"}
    pq.write_table(table, paths["parquet"], row_group_size=5)
    lines = ["x,y,s"] + [f"{x},{y},{s}" for x, y, s in zip(*table.to_pydict().values())]
    paths["csv"].write_text("\n".join(lines) + "\n")
    paths["jsonl"].write_text(
        "".join(
            json.dumps(dict(zip(table.column_names, r))) + "\n"
            for r in zip(*table.to_pydict().values())
        )
    )
    return paths


@dataclass
class Case:
    name: str
    build: Callable[[Path], Source]
    random_access: bool = True
    epochal: bool = False  # a new order each epoch


def _double(m: Message) -> Message:
    out = Message(m)
    out["y"] = m["y"] * 2
    return out


CASES = [
    Case("Source", lambda t: Source(data())),
    Case("MessageSource-merge", lambda t: Source({"a": data()[["x", "s"]], "b": data()[["y"]]})),
    Case("RowsOnly", lambda t: RowsOnly(data())),
    Case("NextOnly", lambda t: NextOnly(data()), random_access=False),
    Case("FunctionSource", lambda t: FunctionSource(data(), _double)),
    Case("FunctionSource-per-row", lambda t: Source(data()).map_rows(lambda r: {"x": r["x"] + 1})),
    Case("FilterSource", lambda t: FilterSource(data(), lambda m: m["x"] % 3 != 0)),
    Case("ShufflerSource", lambda t: ShufflerSource(data(), seed=7), epochal=True),
    Case("BatchingSource", lambda t: BatchingSource(data(), 4)),
    Case("BatchingSource-drop", lambda t: BatchingSource(data(), 4, drop_last=True)),
    Case("shuffle-batch", lambda t: Source(data()).shuffle(seed=3).batch(6), epochal=True),
    Case("RepeaterSource", lambda t: RepeaterSource(data(), 2)),
    Case("IndexMapSource", lambda t: IndexMapSource(data(), [5, 1, 1, 22, 0])),
    Case("train_split", lambda t: train_test_split(data(), test=0.25, seed=1)[0]),
    Case("LoopingSource", lambda t: LoopingSource(NextOnly(data()))),
    Case(
        "Aggregator-rr",
        lambda t: AggregatorSource([data()[:10], data()[10:]], mode="round_robin"),
    ),
    Case(
        "Aggregator-random",
        lambda t: AggregatorSource([data()[:10], data()[10:]], mode="random", seed=2),
        epochal=True,
    ),
    Case("ToTensorSource", lambda t: ToTensorSource(data(), columns=["x"])),
    Case("PrefetchSource", lambda t: PrefetchSource(BatchingSource(data(), 5), depth=2)),
    Case("ParquetSource", lambda t: ParquetSource(t / "d.parquet")),
    Case("CSVSource", lambda t: CSVSource(t / "d.csv", chunk_size=4), random_access=False),
    Case(
        "JSONLinesSource",
        lambda t: JSONLinesSource(t / "d.jsonl", chunk_size=6),
        random_access=False,
    ),
    Case(
        "DatasetSource",
        lambda t: DatasetSource(TensorDataset(torch.arange(N), torch.arange(N) * 2.0)),
    ),
]
