"""CachingSource: hits, one upstream call per request's misses, len, forward-only inputs, hinted prefetch;
WindowShuffleSource: a bounded-memory shuffled pass over Parquet."""

from __future__ import annotations

import gc
import threading
import time

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch

from fireworks import (
    BatchingSource,
    CachingSource,
    LoopingSource,
    Message,
    ParquetSource,
    ShufflerSource,
    Source,
    WindowShuffleSource,
)
from fireworks.sources.base import index_to_array, normalize_index


class Counting(Source):
    """A real random-access Source that records every call it serves (optionally slow or failing)."""

    _fast_paths = frozenset({"blocks"})  # its __getitem__ takes every index form

    def __init__(self, n: int, delay: float = 0.0, fail: set[int] | None = None) -> None:
        super().__init__()
        self.n, self.delay, self.fail = n, delay, fail or set()
        self.calls: list[list[int]] = []
        self.threads: set[str] = set()

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, index):
        rows = index_to_array(normalize_index(index, self.n))
        self.calls.append(rows.tolist())
        self.threads.add(threading.current_thread().name)
        if self.delay:
            time.sleep(self.delay)
        bad = self.fail.intersection(rows.tolist())
        if bad:
            raise OSError(f"disk error reading rows {sorted(bad)}")
        return Message({"i": torch.from_numpy(rows.copy()), "sq": rows * rows})


SETTINGS = [(None, "lru"), (8, "lru"), (8, "lfu"), (None, "unlimited")]


@pytest.fixture(params=SETTINGS, ids=lambda p: f"{p[1]}-{p[0]}")
def setting(request):
    return request.param


def wait_for(cond, timeout: float = 10.0) -> None:
    end = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > end:
            raise AssertionError("condition not reached in time")
        time.sleep(0.005)


def test_rows_in_requested_order_and_one_upstream_call_per_request(setting) -> None:
    size, policy = setting
    up = Counting(100)
    src = CachingSource(up, size, policy=policy)
    assert len(src) == 100
    first = src[[5, 3, 5, 9]]
    assert first["i"].tolist() == [5, 3, 5, 9] and first["sq"].tolist() == [25, 9, 25, 81]
    assert up.calls == [[3, 5, 9]]  # deduplicated, sorted, one call
    again = src[[9, 3, 4, 4]]
    assert again["i"].tolist() == [9, 3, 4, 4]
    assert up.calls[1:] == [[4]]  # hits from the cache, only the miss upstream
    assert src[np.array([9, 5])] == up[[9, 5]]
    assert src[-1]["i"].tolist() == [99]
    assert src[2:5]["i"].tolist() == [2, 3, 4]
    assert src.stats["hits"] >= 3


def test_hit_path_never_calls_upstream(setting) -> None:
    size, policy = setting
    up = Counting(20)
    src = CachingSource(up, size, policy=policy)
    src[[1, 2, 3]]
    n = len(up.calls)
    for _ in range(5):
        assert src[[3, 1]]["i"].tolist() == [3, 1]
    assert len(up.calls) == n


def test_bounded_cache_stays_bounded_and_stays_correct() -> None:
    up = Counting(1000)
    src = CachingSource(up, 16, policy="lfu", buffer_size=4)
    rng = np.random.default_rng(0)
    for _ in range(50):
        rows = rng.integers(0, 1000, 20)
        assert src[rows]["i"].tolist() == rows.tolist()
        assert len(src.message_cache) <= 16


def test_empty_input_and_empty_request() -> None:
    src = CachingSource(Message({"x": torch.zeros(0)}), 4)
    assert len(src) == 0
    assert len(src[[]]) == 0
    assert list(src) == []
    with pytest.raises(IndexError, match="out of range"):
        src[0]


def test_iteration_yields_every_row(setting) -> None:
    size, policy = setting
    src = CachingSource(Message({"x": list(range(50))}), size, policy=policy)
    assert [int(m["x"].iloc[0]) for m in src] == list(range(50))


def test_forward_only_input_through_looping_source() -> None:
    def stream():
        for k in range(30):
            yield {"k": k}

    explicit = CachingSource(LoopingSource(stream()), 8)
    assert explicit[[29, 0, 29]]["k"].tolist() == [29, 0, 29]
    assert len(explicit) == 30
    wrapped = CachingSource(stream(), 8)  # wrapped in a LoopingSource for us
    assert isinstance(next(iter(wrapped.inputs.values())), LoopingSource)
    assert wrapped[[3, 2]]["k"].tolist() == [3, 2] and len(wrapped) == 30


def test_bad_arguments() -> None:
    data = Message({"x": [1, 2]})
    with pytest.raises(ValueError, match="policy must be one of"):
        CachingSource(data, 4, policy="fifo")
    with pytest.raises(ValueError, match="cache_size must be at least 1"):
        CachingSource(data, 0)
    with pytest.raises(ValueError, match="takes no cache_size"):
        CachingSource(data, 4, policy="unlimited")
    with pytest.raises(ValueError, match="prefetch_rows must be >= 0"):
        CachingSource(data, 4, prefetch_rows=-1)


def test_fluent_form() -> None:
    src = Source(Message({"x": list(range(10))})).cache(4, policy="lfu")
    assert isinstance(src, CachingSource) and src.policy == "lfu"
    assert src[[7, 7]]["x"].tolist() == [7, 7]


# ---------------------------------------------------------------- prefetch


def test_hint_prefetches_in_background_and_serves_without_upstream_calls() -> None:
    up = Counting(1000)
    src = CachingSource(up, 200, prefetch_chunk=50)
    src._hint(np.arange(100, 200))
    wait_for(lambda: src.stats["prefetched"] == 100)
    assert all(len(c) <= 50 for c in up.calls)  # chunked upstream calls
    assert any(name == "fireworks-cache-prefetch" for name in up.threads)
    calls = len(up.calls)
    assert src[np.arange(150, 100, -1)]["i"].tolist() == list(range(150, 100, -1))
    assert len(up.calls) == calls  # served from the prefetched rows
    assert src.stats["misses"] == 0
    src.close()


def test_prefetch_is_bounded_and_never_evicts_cached_rows() -> None:
    up = Counting(10_000)
    src = CachingSource(up, 64, prefetch_chunk=16)
    src[np.arange(64)]
    before = src.message_cache.keys().tolist()
    src._hint(np.arange(1000, 2000))
    wait_for(lambda: src.stats["prefetched"] >= 64)
    time.sleep(0.05)
    pf = src._prefetcher
    assert len(pf.staged) + len(pf.inflight) <= 64  # bounded by the cache size
    assert src.stats["prefetched"] == 64  # stalls until rows are used
    assert src.message_cache.keys().tolist() == before  # nothing evicted
    assert src[np.arange(1000, 1032)]["i"].tolist() == list(range(1000, 1032))
    wait_for(lambda: src.stats["prefetched"] == 96)  # using rows makes room for more
    src.close()


def test_a_stale_hint_never_fetches_a_row_again() -> None:
    """A hint for rows already asked for in this pass (used, and evicted since) is stale: fetching them again
    would fill the staging area with rows nobody will ask for (a shuffled epoch over a cache smaller than
    the data fetched a quarter of its rows twice)."""
    up = Counting(1000)
    src = CachingSource(up, 8, prefetch_chunk=4)
    src._hint(np.arange(100, 104))  # a pass hints before it asks (a shuffler, at its start)
    wait_for(lambda: src.stats["prefetched"] == 4)
    src[np.arange(0, 8)]
    src[np.arange(8, 16)]  # rows 0-7 leave the cache
    calls = len(up.calls)
    src._hint(np.arange(0, 4))  # stale
    src._hint(np.arange(200, 204))
    wait_for(lambda: src.stats["prefetched"] >= 8)
    time.sleep(0.05)
    assert src.stats["prefetched"] == 8
    assert not any(k < 8 for call in up.calls[calls:] for k in call)
    src._new_pass()  # a new pass: the same rows may be fetched again
    src._hint(np.arange(0, 4))
    wait_for(lambda: src.stats["prefetched"] == 12)
    src.close()


def test_prefetch_errors_surface_on_the_access_that_needs_them() -> None:
    up = Counting(100, fail={42})
    src = CachingSource(up, 50, prefetch_chunk=10)
    src._hint(np.arange(40, 50))
    wait_for(lambda: src._prefetcher.errors)
    assert src[[0, 1]]["i"].tolist() == [0, 1]  # unrelated rows still work
    with pytest.raises(OSError, match=r"disk error reading rows \[42\]"):
        src[[41, 42]]
    up.fail = set()
    assert src[[41, 42]]["i"].tolist() == [41, 42]  # the error is not sticky
    src.close()


def test_threads_stop_on_close_reset_and_garbage_collection() -> None:
    src = CachingSource(Counting(100), 10)
    src._hint(np.arange(10))
    thread = src._prefetcher.thread
    assert thread.is_alive()
    src.close()
    assert not thread.is_alive()

    src._hint(np.arange(10, 20))
    thread = src._prefetcher.thread
    src.reset()
    assert not thread.is_alive()

    src._hint(np.arange(20, 30))
    thread = src._prefetcher.thread
    del src
    gc.collect()
    thread.join(timeout=10)
    assert not thread.is_alive()


def test_no_hint_no_prefetch() -> None:
    up = Counting(100)
    src = CachingSource(up, 10)
    for _ in range(3):
        src[[1, 2]]
    assert src._prefetcher is None and src.stats["prefetched"] == 0
    assert threading.active_count() >= 1
    assert all(name != "fireworks-cache-prefetch" for name in up.threads)


@pytest.mark.parametrize("prefetch_rows", [0, None])
def test_shuffled_epoch_through_cache_sees_every_row_once(prefetch_rows) -> None:
    up = Counting(500, delay=0.001)
    cached = CachingSource(up, 100, prefetch_rows=prefetch_rows, prefetch_chunk=32)
    batches = BatchingSource(ShufflerSource(cached, seed=3), 25, window_rows=50)
    plain = BatchingSource(ShufflerSource(Counting(500), seed=3), 25, window_rows=50)
    got = [b["i"].tolist() for b in batches]
    assert got == [b["i"].tolist() for b in plain]  # hints change timing, never results
    assert sorted(r for b in got for r in b) == list(range(500))
    if prefetch_rows == 0:
        assert cached.stats["prefetched"] == 0
    else:
        assert cached.stats["prefetched"] > 0
    cached.close()


# ---------------------------------------------------------------- larger than memory


@pytest.fixture
def parquet_file(tmp_path):
    path = tmp_path / "big.parquet"
    n = 20_000
    table = pa.table({"id": np.arange(n), "x": np.random.default_rng(0).random(n)})
    pq.write_table(table, path, row_group_size=1000)
    return path, n


def test_window_shuffle_streams_a_permutation_in_bounded_chunks(parquet_file) -> None:
    path, n = parquet_file
    window = 2000
    src = WindowShuffleSource(ParquetSource(path, cache_row_groups=1), window=window, seed=1)
    assert len(src) == n
    first = [chunk for chunk in src]
    ids = np.concatenate([c["id"].to_numpy() for c in first])
    assert sorted(ids.tolist()) == list(range(n))
    assert (
        max(len(c) for c in first) <= window + 1000
    )  # the window plus one row group, never the file
    assert not np.array_equal(ids, np.arange(n))
    # rows from far apart row groups mix: the first window is not one contiguous region
    assert np.ptp(ids[:1000]) > 5000
    second = np.concatenate([c["id"].to_numpy() for c in src])
    assert not np.array_equal(ids, second)  # a new epoch, a new order


def test_window_shuffle_batches_and_resumes(parquet_file) -> None:
    path, _ = parquet_file
    src = WindowShuffleSource(ParquetSource(path, cache_row_groups=1), window=3000, seed=7).batch(
        256
    )
    it_batches = [next(src) for _ in range(5)]
    state = src.state_dict()
    rest = [next(src)["id"].tolist() for _ in range(3)]
    again = WindowShuffleSource(ParquetSource(path, cache_row_groups=1), window=3000, seed=7).batch(
        256
    )
    again.load_state_dict(state)
    assert [next(again)["id"].tolist() for _ in range(3)] == rest
    assert all(len(b) == 256 for b in it_batches)


def test_window_shuffle_bad_window() -> None:
    with pytest.raises(ValueError, match="window must be an int >= 2"):
        WindowShuffleSource(Message({"x": [1]}), window=1)
