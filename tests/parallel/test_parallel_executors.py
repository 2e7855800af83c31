"""One contract suite run against every executor (inline, threads, processes, and Ray on a real two-node
local cluster: those cases are marked ``distributed``)."""

from __future__ import annotations

import threading
import time

import pytest
from parallel_task_fns import (
    add,
    boom,
    hard_exit,
    kill_self,
    pid,
    sleep_span,
    sleep_then,
    talk,
    unpicklable_result,
)

from fireworks.parallel import (
    EXECUTORS,
    Executor,
    ProcessExecutor,
    TaskKilledError,
    TaskTimeoutError,
    WorkerDiedError,
    get_executor,
)

RAY = pytest.param("ray", marks=pytest.mark.distributed)
ALL = [RAY if name == "ray" else name for name in sorted(EXECUTORS)]
CONCURRENT = ["thread", "process", RAY]


def _start(request, name: str) -> Executor:
    if name == "ray":
        request.getfixturevalue("ray_cluster")  # one shared cluster; the executor only joins it
    return get_executor(name, 2)


@pytest.fixture(params=ALL)
def executor(request):
    ex = _start(request, request.param)
    yield ex
    ex.shutdown(wait=True, kill=True)


@pytest.fixture(params=CONCURRENT)
def concurrent_executor(request):
    ex = _start(request, request.param)
    yield ex
    ex.shutdown(wait=True, kill=True)


def test_result_args_and_kwargs(executor: Executor) -> None:
    assert executor.submit(add, 2, b=3).result(timeout=30) == 5


def test_exception_fails_the_future_and_executor_goes_on(executor: Executor) -> None:
    with pytest.raises(ValueError, match="bad thing"):
        executor.submit(boom, "bad thing").result(timeout=30)
    assert executor.submit(add, 1, 1).result(timeout=30) == 2


def test_messages_reach_the_submitter_in_order(executor: Executor) -> None:
    got: list[int] = []
    done = threading.Event()

    def on_message(obj):
        got.append(obj)
        if obj == 2:
            done.set()

    fut = executor.submit(sleep_then, 0, on_message=on_message)
    fut.result(timeout=30)
    fut = executor.submit(talk, 3, on_message=on_message)
    if executor.name != "inline":  # inline runs the task inside submit
        assert done.wait(30)
        executor.signal(fut, "stop")
        assert fut.result(timeout=30) == ["stop"]
    assert got == [0, 1, 2]


def test_at_most_max_workers_run_at_once(concurrent_executor: Executor) -> None:
    ex = concurrent_executor
    # start the workers first, two at once (Ray: so each node has an idle worker process)
    warm = 1.5 if ex.name == "ray" else 0.0
    for f in [ex.submit(sleep_then, warm) for _ in range(2)]:
        f.result(timeout=60)
    futures = [ex.submit(sleep_span, 0.4, i) for i in range(4)]
    spans = [f.result(timeout=60) for f in futures]
    assert [i for i, _, _ in spans] == [0, 1, 2, 3]
    # the most tasks running at any moment (from their own clocks, robust to a loaded machine): two rounds
    # of two, not one round of four nor four of one
    events = sorted([(a, 1) for _, a, _ in spans] + [(b, -1) for _, _, b in spans])
    running = peak = 0
    for _, step in events:
        running += step
        peak = max(peak, running)
    assert peak == 2, spans


def test_timeout_fails_the_future(concurrent_executor: Executor) -> None:
    fut = concurrent_executor.submit(sleep_then, 3, timeout=0.3)
    with pytest.raises(TaskTimeoutError, match=r"timed out after 0.3 s"):
        fut.result(timeout=30)
    assert concurrent_executor.submit(add, 1, 2).result(timeout=30) == 3


def test_kill_running_and_pending(concurrent_executor: Executor) -> None:
    ex = concurrent_executor
    running = [ex.submit(sleep_then, 3) for _ in range(2)]
    pending = ex.submit(sleep_then, 3)
    time.sleep(0.2)
    ex.kill(pending, "not needed")
    for f in running:
        ex.kill(f, "stop now")
    with pytest.raises(TaskKilledError, match="not needed"):
        pending.result(timeout=30)
    for f in running:
        with pytest.raises(TaskKilledError, match="stop now"):
            f.result(timeout=30)
    assert ex.submit(add, 4, 4).result(timeout=30) == 8


def test_inline_timeout_is_checked_after_the_task() -> None:
    ex = get_executor("inline")
    with pytest.raises(TaskTimeoutError, match=r"timed out after 0\.05 s"):
        ex.submit(sleep_then, 0.1, timeout=0.05).result()


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="max_workers must be an int >= 1, but got 0"):
        get_executor("thread", 0)
    with pytest.raises(ValueError, match="unknown executor 'gpu'"):
        get_executor("gpu")
    with pytest.raises(ValueError, match="timeout must be a positive number"):
        get_executor("inline").submit(add, 1, timeout=-1)


def test_state_dict_round_trip(executor: Executor) -> None:
    state = executor.state_dict()
    assert state["name"] == executor.name and state["max_workers"] == 2
    other = get_executor(executor.name, 1)
    other.load_state_dict(state)
    assert other.max_workers == 2
    other.shutdown()
    with pytest.raises(ValueError, match="state_dict is for executor"):
        get_executor("inline").load_state_dict({"name": "nope", "max_workers": 1})


# -- process-only behaviour ------------------------------------------------------------------------


@pytest.fixture
def processes():
    ex = ProcessExecutor(2)
    yield ex
    ex.shutdown(wait=True, kill=True)


@pytest.fixture(params=["process", RAY])
def dying(request):
    ex = _start(request, request.param)
    yield ex
    ex.shutdown(wait=True, kill=True)


@pytest.mark.parametrize("crash", [lambda: (hard_exit, 3), lambda: (kill_self,)])
def test_a_dying_worker_fails_only_its_task(dying: Executor, crash) -> None:
    fn, *args = crash()
    ok = dying.submit(sleep_then, 0.5, "fine")
    dead = dying.submit(fn, *args)
    pattern = {
        "process": r"worker process \(pid \d+\) running the task (exited|was killed)",
        "ray": r"Ray worker running the task died",
    }[dying.name]
    with pytest.raises(WorkerDiedError, match=pattern):
        dead.result(timeout=60)
    assert ok.result(timeout=30) == "fine"
    assert dying.submit(add, 1, 2).result(timeout=60) == 3


def test_shutdown_leaves_nothing_running(concurrent_executor: Executor) -> None:
    ex = concurrent_executor
    futures = [ex.submit(sleep_then, 5) for _ in range(3)]
    time.sleep(0.5)  # two of them are running
    ex.shutdown(wait=True, kill=True)
    for f in futures:
        with pytest.raises(TaskKilledError, match="executor shut down"):
            f.result(timeout=30)
    if ex.name == "process":
        import multiprocessing as mp

        assert not [p for p in mp.active_children() if p.name == "fireworks-worker"]
    if ex.name == "ray":
        import ray

        deadline = time.monotonic() + 30  # the cancelled tasks give their CPUs back
        while ray.available_resources().get("CPU", 0) < ray.cluster_resources()["CPU"]:
            assert time.monotonic() < deadline, ray.available_resources()
            time.sleep(0.2)


def test_workers_are_reused(processes: ProcessExecutor) -> None:
    pids = {processes.submit(pid).result(timeout=30) for _ in range(6)}
    assert 1 <= len(pids) <= 2


def test_unpicklable_task_is_refused_with_a_hint(processes: ProcessExecutor) -> None:
    with pytest.raises(TypeError, match=r"must be picklable.*importable module"):
        processes.submit(lambda: 1)
    with pytest.raises(TypeError, match="result could not be sent back"):
        processes.submit(unpicklable_result).result(timeout=30)


def test_remote_traceback_is_kept(processes: ProcessExecutor) -> None:
    err = processes.submit(boom, "x").exception(timeout=30)
    assert isinstance(err, ValueError)
    assert "in boom" in err.remote_traceback  # type: ignore[attr-defined]


def test_submit_after_shutdown_is_refused() -> None:
    ex = ProcessExecutor(1)
    assert ex.submit(add, 1).result(timeout=30) == 1
    ex.shutdown()
    with pytest.raises(RuntimeError, match="after shutdown"):
        ex.submit(add, 1)
