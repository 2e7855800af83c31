"""Readers: chunked streaming, Parquet random access by row group, fan-out without re-reading."""

from __future__ import annotations

import json

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from fireworks import Message, PipelineError
from fireworks.sources import CSVSource, FunctionSource, JSONLinesSource, ParquetSource, plan


@pytest.fixture
def files(tmp_path):
    n = 1000
    table = pa.table({"x": np.arange(n), "s": [f"v{i}" for i in range(n)]})
    pq.write_table(table, tmp_path / "d.parquet", row_group_size=128)
    (tmp_path / "d.csv").write_text("x,s\n" + "".join(f"{i},v{i}\n" for i in range(n)))
    (tmp_path / "d.jsonl").write_text(
        "".join(json.dumps({"x": i, "s": f"v{i}"}) + "\n" for i in range(n))
    )
    return tmp_path


@pytest.mark.parametrize("reader", [CSVSource, JSONLinesSource])
def test_text_readers_stream_exact_chunks(files, reader) -> None:
    path = files / ("d.csv" if reader is CSVSource else "d.jsonl")
    chunks = list(reader(path, chunk_size=300))
    assert [len(c) for c in chunks] == [300, 300, 300, 100]
    whole = Message.concat(chunks)
    assert whole["x"].tolist() == list(range(1000)) and whole["s"].tolist()[-1] == "v999"


def test_parquet_len_random_access_and_row_groups(files) -> None:
    p = ParquetSource(files / "d.parquet")
    assert len(p) == 1000 and p.num_row_groups == 8
    assert [len(c) for c in p] == [128] * 7 + [104]
    assert p[130]["x"].tolist() == [130]
    assert p[5:9]["s"].tolist() == ["v5", "v6", "v7", "v8"]
    assert p._whole is None  # small requests read only their row groups
    assert p[[999, 0, 500]]["x"].tolist() == [999, 0, 500]


def test_parquet_bounded_row_group_cache(files) -> None:
    p = ParquetSource(files / "d.parquet", cache_row_groups=2)
    assert p[[999, 0, 500, 1]]["x"].tolist() == [999, 0, 500, 1]
    assert len(p._groups) <= 2 and p._whole is None


def test_parquet_columns_selection(files) -> None:
    assert ParquetSource(files / "d.parquet", columns=["s"])[0].columns == ["s"]


def test_missing_file_fails_on_first_pull_naming_the_node(tmp_path) -> None:
    src = CSVSource(tmp_path / "nope.csv", name="raw")
    with pytest.raises(PipelineError, match=r"CSVSource 'raw'.*nope\.csv"):
        list(src)
    with pytest.raises(ValueError, match="chunk_size must be a positive int"):
        CSVSource(tmp_path / "x.csv", chunk_size=0)


def test_fan_out_shares_one_read_of_a_stream(files) -> None:
    opened = []

    class CountingCSV(CSVSource):
        def _stream(self, start):
            opened.append(start)
            return super()._stream(start)

    src = CountingCSV(files / "d.csv", chunk_size=100)
    a = FunctionSource(src, lambda m: m)
    b = FunctionSource(src, lambda m: m)
    ita, itb = iter(a), iter(b)
    got_a, got_b = [next(ita)], []
    for x, y in zip(ita, itb):  # b starts one chunk behind and stays close
        got_a.append(x)
        got_b.append(y)
    got_b += list(itb)
    assert Message.concat(got_a) == Message.concat(got_b)
    assert opened == [0]  # one read of the file served both consumers


def test_a_consumer_far_behind_reads_privately_with_bounded_memory(files) -> None:
    src = CSVSource(files / "d.csv", chunk_size=10)
    fast, slow = iter(src), iter(src)
    first_slow = next(slow)
    rest_fast = list(fast)  # 100 chunks ahead: the shared buffer must not grow with it
    assert len(src._hub.buffer) <= plan.sizes.max_lag
    rest_slow = list(slow)
    assert Message.concat(rest_fast) == Message.concat([first_slow, *rest_slow])
