"""``src.aiter()``, hosted Sources (``executor.host(src)`` → futures) and the first-ready junction."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest
import torch
from parallel_task_fns import double_x

from fireworks import FirstReadySource, HostedSource, Message, PipelineError, Source
from fireworks.parallel import TaskError, get_executor


def batches(n: int = 20, size: int = 4, start: int = 0) -> Source:
    return Source(Message({"x": torch.arange(start, start + n)})).batch(size)


def xs(items) -> list[int]:
    return [int(v) for m in items for v in m["x"]]


def test_aiter_gives_the_same_items_and_lets_other_coroutines_run() -> None:
    src = Delayed([0, 1, 2, 3], 0.05)
    ticks = []

    async def ticker() -> None:
        for _ in range(10):
            ticks.append(1)
            await asyncio.sleep(0.01)

    async def main() -> list[Message]:
        t = asyncio.create_task(ticker())
        got = [m async for m in src.aiter()]
        await t
        return got

    got = asyncio.run(main())
    assert xs(got) == [0, 1, 2, 3] == xs(src)
    assert len(ticks) == 10


def test_aiter_abandoned_early_closes_the_pass() -> None:
    before = threading.active_count()

    async def main() -> list[int]:
        out = []
        async for m in batches().aiter():
            out.append(int(m["x"][0]))
            if len(out) == 2:
                break
        return out

    assert asyncio.run(main()) == [0, 4]
    assert threading.active_count() <= before + 1  # asyncio's default pool is gone with its loop


@pytest.mark.parametrize("name", ["inline", "thread", "process"])
def test_hosted_source_serves_calls_as_futures(name: str) -> None:
    with get_executor(name, 1) as ex:
        handle = ex.host(batches())
        assert handle.call("__len__").result(timeout=30) == 5
        futures = [handle.call("__getitem__", i) for i in range(5)]
        assert xs(f.result(timeout=30) for f in futures) == list(range(20))
        with pytest.raises(IndexError, match="out of range"):
            handle.call("__getitem__", 9).result(timeout=30)
        remote = HostedSource(handle)
        assert xs(remote) == list(range(20))
        # state: resume the hosted pipeline exactly
        remote.reset()
        next(remote)
        state = remote.state_dict()
        rest = xs(iter(lambda: next(remote, None), None))
        remote.load_state_dict(state)
        assert xs(iter(lambda: next(remote, None), None)) == rest == list(range(4, 20))
        handle.close()
        with pytest.raises(RuntimeError, match="is closed; host it again"):
            handle.call("__len__")


def test_hosted_source_private_names_are_refused() -> None:
    with get_executor("thread", 1) as ex:
        handle = ex.host(batches())
        with pytest.raises(AttributeError, match="public methods only"):
            handle.call("_items", 0).result(timeout=30)


def test_hosted_process_errors_reach_the_caller() -> None:
    with get_executor("process", 1) as ex:
        handle = ex.host(batches().map(double_x))
        with pytest.raises((PipelineError, TaskError, IndexError), match="out of range"):
            handle.call("__getitem__", 99).result(timeout=60)
        assert xs([handle.call("__getitem__", 0).result(timeout=30)]) == [0, 2, 4, 6]


def test_shutdown_closes_hosted_sources() -> None:
    ex = get_executor("thread", 1)
    handle = ex.host(batches())
    ex.shutdown(wait=True)  # must not wait forever on the serving task
    with pytest.raises(RuntimeError, match="closed"):
        handle.call("__len__")


class Delayed(Source):
    """Forward-only batches of x values, ``delay`` seconds each."""

    def __init__(self, values: list[int], delay: float) -> None:
        super().__init__()
        self.values, self.delay, self.pos = values, delay, 0

    def __next__(self):
        if self.pos >= len(self.values):
            raise StopIteration
        time.sleep(self.delay)
        self.pos += 1
        return Message({"x": torch.tensor([self.values[self.pos - 1]])})

    def reset(self) -> None:
        self.pos = 0


def test_first_ready_takes_the_fast_input_first_and_loses_nothing() -> None:
    slow = Delayed([100, 101], 0.3)
    fast = Delayed(list(range(6)), 0.01)
    got = xs(FirstReadySource([slow, fast]))
    assert sorted(got) == [0, 1, 2, 3, 4, 5, 100, 101]
    assert got.index(5) < got.index(100)  # the slow input never held up the fast one
    assert [v for v in got if v < 100] == list(range(6))  # each input's own order kept


def test_first_ready_state_resumes_exactly_the_unseen_items() -> None:
    def build() -> FirstReadySource:
        return FirstReadySource({"a": batches(12, 3), "b": batches(8, 2, start=100)})

    src = build()
    seen = xs([next(src) for _ in range(4)])
    state = src.state_dict()
    rest = xs(iter(lambda: next(src, None), None))
    fresh = build()
    fresh.load_state_dict(state)
    resumed = xs(iter(lambda: next(fresh, None), None))
    assert sorted(resumed) == sorted(rest)
    assert sorted(seen + rest) == list(range(12)) + list(range(100, 108))


def test_first_ready_error_ends_the_pass() -> None:
    bad = batches().map(lambda m: 1 / 0, name="bad")
    with pytest.raises(PipelineError, match="bad"):
        list(FirstReadySource([bad, batches()]))
    with pytest.raises(ValueError, match="depth must be a positive int"):
        FirstReadySource([batches()], depth=0)
