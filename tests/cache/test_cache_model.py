"""Every cache policy against a simple reference model (a dict of rows + an ordered list of uses)."""

from __future__ import annotations

import hypothesis.strategies as st
import numpy as np
import pytest
import torch
from hypothesis import settings
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from fireworks import LFUCache, LRUCache, Message, UnlimitedCache


class Model:
    """The contract spelled out naively: O(n) per operation, obviously right."""

    def __init__(self, policy: str, max_size: int | None, buffer_size: int) -> None:
        self.policy, self.max_size, self.buffer_size = policy, max_size, buffer_size
        self.rows: dict[int, float] = {}
        self.order: list[int] = []  # least recently used first
        self.count: dict[int, int] = {}

    def use(self, key: int) -> None:
        if key in self.order:
            self.order.remove(key)
        self.order.append(key)
        self.count[key] = self.count.get(key, 0) + 1

    def drop(self, key: int) -> None:
        if key in self.rows:
            del self.rows[key]
            self.order.remove(key)
            del self.count[key]

    def ranked(self) -> list[int]:
        """Least valuable first."""
        if self.policy == "lfu":
            return sorted(self.order, key=lambda k: (self.count[k], self.order.index(k)))
        return list(self.order)

    def insert(self, keys: list[int], values: list[float]) -> None:
        last: dict[int, float] = {}
        for k, v in zip(keys, values):
            last.pop(k, None)
            last[k] = v
        items = list(last.items())
        if self.max_size is not None:
            items = items[-self.max_size :]
        batch = [k for k, _ in items]
        new = [k for k in batch if k not in self.rows]
        if self.max_size is not None and len(self.rows) + len(new) > self.max_size:
            target = max(self.max_size - self.buffer_size, len(batch))
            n_evict = len(self.rows) + len(new) - target
            victims = [k for k in self.ranked() if k not in batch][:n_evict]
            for k in victims:
                self.drop(k)
        for k, v in items:
            self.rows[k] = v
            self.use(k)

    def get(self, keys: list[int]) -> list[float]:
        out = [self.rows[k] for k in keys]
        last = list(dict.fromkeys(reversed(keys)))[::-1]
        for k in last:
            self.use(k)
        return out


KEYS = st.integers(min_value=0, max_value=12)


class CacheMachine(RuleBasedStateMachine):
    policy = "lru"

    def __init__(self) -> None:
        super().__init__()
        self.cache = None
        self.model = None

    @precondition(lambda self: self.cache is None)
    @rule(max_size=st.integers(1, 6), buffer=st.integers(0, 5))
    def create(self, max_size: int, buffer: int) -> None:
        buffer = min(buffer, max_size - 1)
        if self.policy == "unlimited":
            self.cache, self.model = UnlimitedCache(), Model("unlimited", None, 0)
        else:
            cls = LRUCache if self.policy == "lru" else LFUCache
            self.cache = cls(max_size, buffer)
            self.model = Model(self.policy, max_size, buffer)

    @precondition(lambda self: self.cache is not None)
    @rule(keys=st.lists(KEYS, max_size=8), data=st.data())
    def insert(self, keys: list[int], data) -> None:
        values = [float(data.draw(st.integers(-100, 100))) for _ in keys]
        self.cache[keys] = Message({"v": torch.tensor(values), "k": np.array(values) * 2})
        self.model.insert(keys, values)

    @precondition(lambda self: self.cache is not None)
    @rule(keys=st.lists(KEYS, max_size=6))
    def get(self, keys: list[int]) -> None:
        if all(k in self.model.rows for k in keys):
            got = self.cache[keys]
            if not keys:
                assert len(got) == 0
                return
            expected = self.model.get(keys)
            assert got["v"].tolist() == expected
            assert got["k"].tolist() == [2 * v for v in expected]
        else:
            missing = [k for k in keys if k not in self.model.rows]
            with pytest.raises(KeyError, match=str(missing[0])):
                self.cache[keys]

    @precondition(lambda self: self.cache is not None)
    @rule(keys=st.lists(KEYS, max_size=4))
    def delete(self, keys: list[int]) -> None:
        del self.cache[keys]
        for k in keys:
            self.model.drop(k)

    @precondition(lambda self: self.cache is not None)
    @rule()
    def checkpoint(self) -> None:
        state = self.cache.state_dict()
        fresh = (
            type(self.cache)()
            if self.policy == "unlimited"
            else type(self.cache)(self.cache.max_size, self.cache.buffer_size)
        )
        fresh.load_state_dict(state)
        self.cache = fresh

    @invariant()
    def same_content_and_order(self) -> None:
        if self.cache is None:
            return
        assert len(self.cache) == len(self.model.rows)
        if self.model.max_size is not None:
            assert len(self.cache) <= self.model.max_size
        if self.policy == "unlimited":  # never evicts: its order means nothing
            assert sorted(self.cache.keys().tolist()) == sorted(self.model.rows)
        else:
            assert self.cache.keys().tolist() == self.model.ranked()
        for k in range(13):
            assert (k in self.cache) == (k in self.model.rows)


class LRUMachine(CacheMachine):
    policy = "lru"


class LFUMachine(CacheMachine):
    policy = "lfu"


class UnlimitedMachine(CacheMachine):
    policy = "unlimited"


_settings = settings(stateful_step_count=30)
TestLRUAgainstModel = _settings(LRUMachine).TestCase
TestLFUAgainstModel = _settings(LFUMachine).TestCase
TestUnlimitedAgainstModel = _settings(UnlimitedMachine).TestCase
