"""One contract suite for every MessageCache policy, plus policy-specific eviction order."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from fireworks import LFUCache, LRUCache, Message, MessageCache, UnlimitedCache

POLICIES = {
    "unlimited": lambda size, buffer=0: UnlimitedCache(),
    "lru": lambda size, buffer=0: LRUCache(size, buffer),
    "lfu": lambda size, buffer=0: LFUCache(size, buffer),
}


@pytest.fixture(params=sorted(POLICIES))
def make(request):
    return POLICIES[request.param]


def rows(keys, offset=0.0) -> Message:
    keys = list(keys)
    return Message(
        {
            "x": torch.tensor([float(k) + offset for k in keys]),
            "emb": torch.tensor([[k, -k] for k in keys], dtype=torch.int64),
            "name": [f"r{k}" for k in keys],
            "score": np.array([k * 0.5 for k in keys]),
        }
    )


def test_is_a_message_cache(make) -> None:
    assert isinstance(make(4), MessageCache)


def test_read_in_requested_order_with_repeats(make) -> None:
    cache = make(10)
    cache[[5, 3, 9]] = rows([5, 3, 9])
    got = cache[[9, 5, 9, 3]]
    assert got == rows([9, 5, 9, 3])
    assert got.columns == ["x", "emb", "name", "score"]
    assert got.tensor_columns == ["x", "emb"]
    assert cache[np.array([3])] == rows([3])
    assert cache[torch.tensor([5])] == rows([5])
    assert cache[3] == rows([3])


def test_len_contains_keys(make) -> None:
    cache = make(10)
    assert len(cache) == 0 and 1 not in cache
    cache[range(4)] = rows(range(4))
    assert len(cache) == 4 and 3 in cache and 4 not in cache
    assert sorted(cache.keys().tolist()) == [0, 1, 2, 3]
    assert cache.contains([0, 7, 3]).tolist() == [True, False, True]


def test_missing_key_error_names_indices(make) -> None:
    cache = make(10)
    cache[[1, 2]] = rows([1, 2])
    with pytest.raises(KeyError, match=r"not in the cache: \[7, 9\]"):
        cache[[1, 7, 9, 7]]


def test_row_count_must_match(make) -> None:
    cache = make(10)
    with pytest.raises(ValueError, match="got 2 rows for 3 indices"):
        cache[[1, 2, 3]] = rows([1, 2])


def test_schema_mismatch_is_refused_without_changes(make) -> None:
    cache = make(10)
    cache[[1]] = rows([1])
    with pytest.raises(ValueError, match="must have the cached columns"):
        cache[[2]] = Message({"y": [1]})
    with pytest.raises(ValueError, match="rows of shape"):
        cache[[2]] = Message({**_cols(rows([2])), "emb": torch.zeros(1, 3, dtype=torch.int64)})
    with pytest.raises(ValueError, match="cannot safely hold"):
        cache[[2]] = Message({**_cols(rows([2])), "emb": torch.zeros(1, 2)})
    assert len(cache) == 1 and 2 not in cache


def _cols(m: Message) -> dict:
    return {c: m[c] for c in m.columns}


def test_bad_index_types(make) -> None:
    cache = make(4)
    with pytest.raises(TypeError, match="must be integers"):
        cache[[1.5]] = rows([1])
    with pytest.raises(TypeError, match="must be integers"):
        cache[np.array([0.5])]
    with pytest.raises(TypeError, match="an int, a slice or a sequence"):
        cache["a"]


def test_update_replaces_rows_and_never_evicts(make) -> None:
    cache = make(3)
    cache[[0, 1, 2]] = rows([0, 1, 2])
    cache[[1, 2]] = rows([1, 2], offset=100)
    assert len(cache) == 3
    assert cache[[0, 1, 2]] == Message.concat([rows([0]), rows([1, 2], offset=100)])


def test_repeated_index_in_insert_keeps_last_row(make) -> None:
    cache = make(5)
    data = Message.concat([rows([4]), rows([4], offset=7)])
    cache[[4, 4]] = data
    assert len(cache) == 1
    assert cache[[4]]["x"].tolist() == [11.0]


def test_delete_ignores_absent(make) -> None:
    cache = make(5)
    cache[[1, 2, 3]] = rows([1, 2, 3])
    del cache[[2, 99]]
    del cache[[2]]
    assert sorted(cache.keys().tolist()) == [1, 3]
    cache[[2]] = rows([2], offset=1)  # the freed slot is reused
    assert cache[[2, 1]] == Message.concat([rows([2], offset=1), rows([1])])


def test_empty_operations(make) -> None:
    cache = make(5)
    cache[[]] = Message({"x": torch.zeros(0)})
    assert len(cache) == 0
    assert len(cache[[]]) == 0
    del cache[[]]


def test_clear_forgets_schema(make) -> None:
    cache = make(5)
    cache[[1]] = rows([1])
    cache.clear()
    assert len(cache) == 0
    cache[[1]] = Message({"other": [1]})
    assert cache[[1]]["other"].tolist() == [1]


def test_storage_grows_past_initial_capacity(make) -> None:
    cache = make(1000)
    for start in range(0, 500, 50):
        cache[range(start, start + 50)] = rows(range(start, start + 50))
    assert len(cache) == 500
    assert cache[[499, 0, 250]] == rows([499, 0, 250])


def test_results_do_not_alias_storage(make) -> None:
    cache = make(5)
    cache[[1]] = rows([1])
    got = cache[[1]]
    got["x"][0] = -1.0
    assert cache[[1]]["x"].tolist() == [1.0]


def test_state_dict_round_trip_is_json_and_arrays(make, tmp_path) -> None:
    cache = make(4)
    cache[[1, 2, 3]] = rows([1, 2, 3])
    cache[[1]]
    state = cache.state_dict()
    plain = {
        k: v
        for k, v in state.items()
        if k not in ("keys", "counts", "tensor_columns", "vector_columns")
    }
    json.dumps(plain)
    for value in state["tensor_columns"].values():
        assert isinstance(value, torch.Tensor)
    for value in state["vector_columns"].values():
        assert isinstance(value, (np.ndarray, list))
    other = make(4)
    other.load_state_dict(state)
    assert other.keys().tolist() == cache.keys().tolist()
    assert other[[3, 1, 2]] == cache[[3, 1, 2]] == rows([3, 1, 2])
    # the same order of future evictions
    cache[[10, 11]] = rows([10, 11])
    other[[10, 11]] = rows([10, 11])
    assert other.keys().tolist() == cache.keys().tolist()


def test_load_state_dict_checks_policy() -> None:
    state = LRUCache(3).state_dict()
    with pytest.raises(ValueError, match="saved by a LRUCache, not a LFUCache"):
        LFUCache(3).load_state_dict(state)


def test_vector_dtypes_survive(make) -> None:
    import pandas as pd

    data = Message(
        {
            "s": ["a", None],
            "k": [1, 2],
            "n": pd.array([1, None], dtype="Int64"),
            "c": pd.Categorical(["u", "v"]),
            "pair": np.array([[1, 2], [3, 4]]),
        }
    )
    cache = make(4)
    cache[[0, 1]] = data
    got = cache[[1, 0]]
    assert got == data[[1, 0]]
    assert got.dtypes == data.dtypes
    other = make(4)
    other.load_state_dict(cache.state_dict())
    assert other[[0, 1]] == data
    assert other[[0]].dtypes == data.dtypes


BOUNDED = ["lru", "lfu"]


@pytest.fixture(params=BOUNDED)
def make_bounded(request):
    return POLICIES[request.param]


@pytest.mark.parametrize("bad", [0, -1])
def test_max_size_must_be_positive(make_bounded, bad) -> None:
    with pytest.raises(ValueError, match=f"max_size must be at least 1, but got {bad}"):
        make_bounded(bad)


def test_buffer_must_be_below_max_size(make_bounded) -> None:
    with pytest.raises(ValueError, match="buffer_size must satisfy"):
        make_bounded(4, 4)


def test_never_above_max_size_and_frees_down_to_buffer(make_bounded) -> None:
    cache = make_bounded(10, 4)
    cache[range(10)] = rows(range(10))
    assert len(cache) == 10
    cache[[100]] = rows([100])
    assert len(cache) == 6  # len + k <= max_size - buffer_size after the insert
    cache[[101, 102, 103, 104]] = rows([101, 102, 103, 104])
    assert len(cache) == 10  # fits: no eviction
    cache[range(200, 208)] = rows(range(200, 208))
    assert len(cache) == 8 and all(i in cache for i in range(200, 208))


def test_insert_larger_than_max_size_keeps_last_rows(make_bounded) -> None:
    cache = make_bounded(3)
    cache[[50]] = rows([50])
    cache[range(10)] = rows(range(10))
    assert sorted(cache.keys().tolist()) == [7, 8, 9]
    assert cache[[7, 8, 9]] == rows([7, 8, 9])


def test_mixed_batch_stores_exactly_the_given_rows(make_bounded) -> None:
    cache = make_bounded(4)
    cache[[0, 1, 2, 3]] = rows([0, 1, 2, 3])
    for _ in range(3):  # 0 and 1 become the most used and most recent
        cache[[0, 1]]
    # 2 and 3 are the least valuable, but 3 is in this batch: only 2 may go
    cache[[3, 9]] = rows([3, 9], offset=0.5)
    assert sorted(cache.keys().tolist()) == [0, 1, 3, 9]
    assert cache[[3, 9]] == rows([3, 9], offset=0.5)


def test_lru_evicts_least_recently_used() -> None:
    cache = LRUCache(3)
    cache[[0, 1, 2]] = rows([0, 1, 2])
    cache[[0]]
    cache[[3]] = rows([3])
    assert sorted(cache.keys().tolist()) == [0, 2, 3]
    assert cache.keys().tolist() == [2, 0, 3]


def test_lfu_evicts_least_frequent_ties_to_oldest() -> None:
    cache = LFUCache(3)
    cache[[0, 1, 2]] = rows([0, 1, 2])
    cache[[2]]
    cache[[1]]
    cache[[2]]
    cache[[0]]
    # counts: 0→2, 1→2, 2→3; 1 was used before 0, so it goes first
    cache[[3]] = rows([3])
    assert sorted(cache.keys().tolist()) == [0, 2, 3]
    cache[[4]] = rows([4])  # 3 has count 1
    assert sorted(cache.keys().tolist()) == [0, 2, 4]


def test_unlimited_never_evicts() -> None:
    cache = UnlimitedCache()
    cache[range(5000)] = rows(range(5000))
    cache[range(5000, 5001)] = rows([5000])
    assert len(cache) == 5001 and cache.max_size is None
