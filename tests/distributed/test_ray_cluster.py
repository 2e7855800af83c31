"""Fireworks on a real two-node Ray cluster (``ray.cluster_utils.Cluster``, one CPU per node): the parallel map
gives the serial pipeline's batches, a Source hosted on one node feeds a consumer on the other, and a Factory
search spreads over both nodes with the local executors' results and failure isolation."""

from __future__ import annotations

import pytest
import torch
from ray_task_fns import (
    consume,
    double_y,
    plain_trainer,
    spread_evaluator,
    spread_trainer,
    troublemaker,
)

from fireworks import CSVSource, Factory, GridGenerator, HostedSource, Message, Source
from fireworks.parallel import RayExecutor, get_executor
from fireworks.parallel.ray import is_io_bound

pytestmark = pytest.mark.distributed


def pipeline(seed: int = 5) -> Source:
    n = 300
    data = Message(
        {"x": torch.arange(n), "y": torch.randn(n, 3, generator=torch.Generator().manual_seed(1))}
    )
    return Source(data).shuffle(seed=seed).batch(32)


def node_ids() -> dict[str, str]:
    import ray

    nodes = [n for n in ray.nodes() if n["Alive"]]
    return {("worker" if "worker_node" in n["Resources"] else "head"): n["NodeID"] for n in nodes}


def test_parallel_map_on_ray_gives_identical_batches(ray_cluster) -> None:
    serial = pipeline().map(double_y)
    with RayExecutor(2) as ex:
        par = pipeline().map(double_y, workers=2, executor=ex, always_parallel=True)
        for _ in range(2):  # two epochs of the shuffler
            expected, got = list(serial), list(par)
            assert len(got) == len(expected) == 10
            assert all(a == b for a, b in zip(got, expected))
        # resume mid-pass from a state_dict, like every Source
        par.reset()
        serial.reset()
        for _ in range(3):
            next(par), next(serial)
        state = par.state_dict()
        fresh = pipeline().map(double_y, workers=2, executor=ex, always_parallel=True)
        fresh.load_state_dict(state)
        assert Message.concat(list(iter(lambda: next(fresh, None), None))) == Message.concat(
            list(iter(lambda: next(serial, None), None))
        )
    # Ray sends lambdas by value
    with RayExecutor(2) as ex:
        lam = pipeline().map(lambda m: double_y(m), workers=2, executor=ex, always_parallel=True)
        assert Message.concat(list(lam)) == Message.concat(list(pipeline().map(double_y)))
    # a large Message put once and shared by many tasks (each receives the Message itself)
    import ray

    big = Message({"x": torch.randn(50_000, 16)})
    ref = ray.put(big)
    with RayExecutor(2) as ex:
        assert [f.result(timeout=60) for f in [ex.submit(len, ref) for _ in range(4)]] == [
            50_000
        ] * 4
    # by name: joins the running Ray runtime (and leaves it running: it did not start it)
    named = pipeline().map(double_y, workers=2, executor="ray", always_parallel=True)
    assert Message.concat(list(named)) == Message.concat(list(pipeline().map(double_y)))
    assert ray.is_initialized()


def test_source_hosted_on_one_node_feeds_a_consumer_on_the_other(ray_cluster, tmp_path) -> None:
    import ray

    ids = node_ids()
    path = tmp_path / "d.csv"
    path.write_text("a,b\n" + "".join(f"{i},{i * 0.5}\n" for i in range(50)))
    reader = CSVSource(path, chunk_size=8)
    assert is_io_bound(reader) and not is_io_bound(pipeline().map(double_y))
    with RayExecutor(1) as ex:
        handle = ex.host(reader, node_id=ids["worker"])
        assert handle.node_id() == ids["worker"]
        # an I/O Source asks for no CPU: both cores stay free for compute
        assert ray.available_resources().get("CPU", 0) == 2
        consumer = ray.remote(consume).options(num_cpus=1, resources={"head_node": 0.01})
        got, where = ray.get(consumer.remote(handle), timeout=120)
        assert where == 0.0  # the consumer ran on the head node, the Source on the worker node
        assert got == Message.concat(list(CSVSource(path, chunk_size=8)))
        # a hosted Source's state resumes exactly
        remote = HostedSource(handle)
        remote.reset()
        next(remote)
        state = remote.state_dict()
        rest = Message.concat(list(iter(lambda: next(remote, None), None)))
        remote.load_state_dict(state)
        assert Message.concat(list(iter(lambda: next(remote, None), None))) == rest
        assert len(rest) == 42


def test_factory_search_spreads_over_both_nodes(ray_cluster, tmp_path) -> None:
    grid = {"x": [0, 1, 2, 3]}
    on_ray = Factory(
        spread_trainer,
        spread_evaluator,
        GridGenerator(grid),
        executor="ray",
        workers=2,
        storage=f"sqlite:///{tmp_path / 'ray.sqlite'}",
        progress=False,
    ).run()
    local = Factory(
        plain_trainer, spread_evaluator, GridGenerator(grid), executor="inline", progress=False
    ).run()
    assert [t.status for t in on_ray] == ["complete"] * 4
    assert [t.metrics["score"] for t in on_ray] == [t.metrics["score"] for t in local]
    assert {t.metrics["node"] for t in on_ray} == {0.0, 1.0}  # both nodes ran trials


def test_factory_on_ray_isolates_failures_and_times_out(ray_cluster) -> None:
    trials = Factory(
        troublemaker,
        spread_evaluator,
        GridGenerator({"mode": ["ok", "raise", "exit", "slow"]}),
        executor=get_executor("ray", 2),
        workers=2,
        timeout=4,
        progress=False,
    ).run()
    by_mode = {t.params["mode"]: t for t in trials}
    assert by_mode["ok"].status == "complete"
    assert by_mode["raise"].status == "failed" and "bad params" in by_mode["raise"].error
    assert by_mode["exit"].status == "failed" and "died" in by_mode["exit"].error
    assert by_mode["slow"].status == "failed" and "timed out after 4 s" in by_mode["slow"].error
