"""The parallel ordered map: the Source contract cases with ``workers=2`` on threads and processes give the
same items as the serial map; order, backpressure, errors naming the node, clean shutdown, state."""

from __future__ import annotations

import json
import os
import threading
import time

import numpy as np
import pytest
import torch
from parallel_task_fns import (
    busy_python,
    die_on_13,
    double_x,
    double_y,
    fail_on_13,
    record_pid,
    slow_double_x,
)
from sources.conftest import CASES, Case, write_files

from fireworks import Message, PipelineError, Source
from fireworks.parallel import ProcessExecutor, ThreadExecutor, WorkerDiedError
from fireworks.sources.parallel import ParallelMapSource
from fireworks.sources.transforms import FunctionSource


def concat(items: list[Message]) -> Message:
    return Message.concat(items) if items else Message()


def drain(src: Source) -> list[Message]:
    out = []
    while True:
        try:
            out.append(next(src))
        except StopIteration:
            return out


def _shm_blocks() -> set[str]:
    return {n for n in os.listdir("/dev/shm") if n.startswith("fw_")}


@pytest.fixture(scope="module")
def pool():
    """One process pool for the contract cases (a user-owned Executor: reused, never shut down by a pass)."""
    ex = ProcessExecutor(2)
    yield ex
    ex.shutdown(wait=True, kill=True)


@pytest.fixture(scope="module")
def threads():
    ex = ThreadExecutor(2)
    yield ex
    ex.shutdown(wait=True, kill=True)


@pytest.fixture(scope="module")
def ray_pool(request):
    from fireworks.parallel import RayExecutor

    request.getfixturevalue("ray_cluster")  # the session's two-node cluster
    ex = RayExecutor(2)
    yield ex
    ex.shutdown(wait=True, kill=True)


@pytest.fixture(params=["thread", "process", pytest.param("ray", marks=pytest.mark.distributed)])
def executor(request, pool, threads):
    if request.param == "ray":
        return request.getfixturevalue("ray_pool")
    return pool if request.param == "process" else threads


@pytest.fixture(params=CASES, ids=lambda c: c.name)
def case(request) -> Case:
    return request.param


@pytest.fixture
def tmp(tmp_path):
    write_files(tmp_path)
    return tmp_path


def _parallel(case: Case, tmp, executor) -> Source:
    return case.build(tmp).map(double_y, workers=2, executor=executor, always_parallel=True)


def test_contract_cases_same_items_as_serial(case: Case, tmp, executor) -> None:
    before = _shm_blocks()
    serial = case.build(tmp).map(double_y)
    par = _parallel(case, tmp, executor)
    assert isinstance(par, ParallelMapSource) and isinstance(serial, FunctionSource)
    for _ in range(2):  # two epochs: shufflers draw the same permutations
        expected, got = list(serial), list(par)
        assert [len(m) for m in got] == [len(m) for m in expected]
        assert concat(got) == concat(expected)
    if case.random_access:
        assert len(par) == len(serial)
        assert par[3:7] == serial[3:7]
    assert _shm_blocks() <= before  # every block freed


@pytest.mark.parametrize("stop_after", [0, 2, None])
def test_contract_cases_next_and_state_resume(case: Case, tmp, executor, stop_after) -> None:
    par = _parallel(case, tmp, executor)
    serial = case.build(tmp).map(double_y)
    par.reset()
    serial.reset()
    total = len(drain(case.build(tmp).map(double_y)))
    k = total if stop_after is None else min(stop_after, total)
    for _ in range(k):
        assert next(par) == next(serial)
    state = par.state_dict()
    json.dumps(state)  # JSON-compatible: checkpoints need no pickle
    rest = drain(par)
    assert concat(rest) == concat(drain(serial))
    fresh = _parallel(case, tmp, executor)
    fresh.load_state_dict(state)
    assert concat(drain(fresh)) == concat(rest)


# -- behaviour -------------------------------------------------------------------------------------


def batches(n: int = 200, size: int = 8) -> Source:
    return Source(Message({"x": torch.arange(n), "v": np.arange(n) * 0.5})).batch(size)


@pytest.mark.parametrize("name", ["thread", "process"])
def test_pass_by_name_keeps_order_and_stops_its_workers(name: str) -> None:
    import multiprocessing as mp

    before_children = set(mp.active_children())
    before_threads = {t.ident for t in threading.enumerate()}
    before_blocks = _shm_blocks()
    src = batches().map(slow_double_x, workers=2, executor=name, always_parallel=True)
    got = list(src)
    assert torch.equal(torch.cat([m["x"] for m in got]), torch.arange(200) * 2)
    assert "parallel" in src.describe() and "executor=" + name in src.describe()
    time.sleep(0.1)
    assert {t.ident for t in threading.enumerate()} <= before_threads
    assert _shm_blocks() <= before_blocks
    if name == "process":
        import multiprocessing as mp

        assert set(mp.active_children()) <= before_children


def test_work_really_spreads_over_processes(pool) -> None:
    src = batches(64).map(record_pid, workers=2, executor=pool, always_parallel=True)
    pids = set(Message.concat(list(src))["pid"].tolist())
    assert os.getpid() not in pids and len(pids) >= 1


def test_backpressure_bounds_the_items_in_flight() -> None:
    pulled = []

    class Counting(Source):
        """Forward-only: each item pulled is recorded."""

        def __init__(self) -> None:
            super().__init__()
            self.i = 0

        def __next__(self):
            if self.i >= 50:
                raise StopIteration
            pulled.append(self.i)
            self.i += 1
            return Message({"x": torch.tensor([self.i])})

        def reset(self) -> None:
            self.i = 0

    src = Counting().map(double_x, workers=2, executor="thread", in_flight=3, always_parallel=True)
    it = iter(src)
    next(it)
    time.sleep(0.2)  # the consumer stalls: the workers must not run ahead
    assert len(pulled) <= 1 + 3 + 1
    it.close()


@pytest.mark.parametrize("name", ["thread", "process"])
def test_a_worker_error_names_the_node_and_stops_the_pass(name: str) -> None:
    before_blocks = _shm_blocks()
    src = batches(100, 4).map(
        fail_on_13, workers=2, executor=name, always_parallel=True, name="risky"
    )
    with pytest.raises(
        PipelineError, match=r"ParallelMapSource 'risky'.*found 13 in the batch"
    ) as e:
        list(src)
    assert isinstance(e.value, ValueError)  # still catchable as the original builtin type
    assert _shm_blocks() <= before_blocks


def test_a_dying_worker_fails_the_pass_with_worker_died() -> None:
    src = batches(100, 4).map(die_on_13, workers=2, executor="process", always_parallel=True)
    with pytest.raises(PipelineError, match=r"worker process \(pid \d+\)") as e:
        list(src)
    assert isinstance(e.value.__cause__, WorkerDiedError)


def test_abandoned_pass_stops_workers_and_frees_blocks() -> None:
    import multiprocessing as mp

    before_children = set(mp.active_children())
    before_blocks = _shm_blocks()
    src = batches(400, 2).map(slow_double_x, workers=2, executor="process", always_parallel=True)
    it = iter(src)
    for _ in range(3):
        next(it)
    it.close()
    assert set(mp.active_children()) <= before_children
    assert _shm_blocks() <= before_blocks


def test_cheap_work_runs_in_process_and_says_so() -> None:
    src = batches(40).map(double_x, workers=2, executor="process")
    assert src.plan == "not run yet"
    got = list(src)
    assert "in process: the work" in src.plan and "below the hand-off cost" in src.plan
    assert "in process" in src.describe()
    assert concat(got) == concat(list(batches(40).map(double_x)))


def test_expensive_work_goes_parallel(threads) -> None:
    src = batches(16).map(busy_python, workers=2, executor=threads)
    list(src)
    assert src.plan.startswith("parallel: the work")


def test_bad_arguments_are_refused_clearly() -> None:
    with pytest.raises(ValueError, match="workers must be an int >= 1, but got 0"):
        batches().map(double_x, workers=0)
    with pytest.raises(ValueError, match="executor must be one of"):
        batches().map(double_x, workers=2, executor="gpu")
    with pytest.raises(ValueError, match="in_flight must be an int >= 1"):
        batches().map(double_x, workers=2, in_flight=0)
    with pytest.raises(TypeError, match=r"must pickle.*executor='thread'"):
        batches().map(lambda m: m, workers=2, executor="process")
    bad = batches().map(lambda m: 1, workers=2, executor="thread", always_parallel=True)
    with pytest.raises(PipelineError, match="fn must return a Message"):
        list(bad)


def test_shared_memory_round_trip_of_every_column_kind() -> None:
    from fireworks.parallel import shm

    m = Message(
        {
            "f": torch.randn(5, 3),
            "b": torch.tensor([True, False, True, True, False]),
            "h": torch.arange(5, dtype=torch.bfloat16),
            "e": torch.empty(5, 0),
            "i": np.arange(5, dtype=np.int32),
            "t": np.array([f"2024-01-0{i + 1}" for i in range(5)], dtype="datetime64[ns]"),
            "s": ["a", "b", None, "d", "e"],
        }
    )
    packed = shm.pack(m[1:4], min_bytes=0)
    assert packed.block is not None and packed.block in _shm_blocks()
    back = shm.unpack(packed)
    assert back == m[1:4] and back.columns == m.columns
    assert packed.block not in _shm_blocks()
    inline = shm.pack(m, use_shm=False)
    assert inline.block is None and shm.unpack(inline) == m
    assert shm.unpack(shm.pack(Message())) == Message()
    small = shm.pack(m)  # a few bytes: inline, no block to create and unlink
    assert small.block is None and small.inline is not None and shm.unpack(small) == m
    big = Message({"x": torch.randn(300, 64)})  # 76 KB: through a block
    packed = shm.pack(big)
    assert packed.block is not None and shm.unpack(packed) == big


def test_busy_python_is_deterministic() -> None:
    m = Message({"x": torch.arange(3)})
    assert busy_python(m) == busy_python(m)


def test_dry_run_shows_the_plan() -> None:
    from fireworks import dry_run

    src = batches(40).map(double_x, workers=2, executor="process", name="doubler")
    report = dry_run(src)
    (node,) = [n for n in report.nodes if n.name == "doubler"]
    assert "below the hand-off cost" in node.note
    assert "doubler: in process" in str(report)
