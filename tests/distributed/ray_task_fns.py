"""Functions Ray workers run in the distributed tests (a module of its own, so workers can import it)."""

from __future__ import annotations

import os
import signal
import time


def node_index() -> float:
    """0.0 on the head node, 1.0 on the worker node of the test cluster."""
    import ray

    nodes = {n["NodeID"]: n for n in ray.nodes() if n["Alive"]}
    me = nodes[ray.get_runtime_context().get_node_id()]
    return 1.0 if "worker_node" in me["Resources"] else 0.0


def double_y(m):
    from fireworks import Message

    out = Message(m)
    out["y"] = m["y"] * 2
    return out


def spread_trainer(params):
    time.sleep(0.5)  # long enough that two trials overlap (one per node: each node has one CPU)
    return {"x": params["x"], "node": node_index()}


def spread_evaluator(model, params):
    return {"score": -((model["x"] - 2) ** 2), "node": model["node"]}


def plain_trainer(params):
    return {"x": params["x"], "node": 0.0}


def troublemaker(params):
    mode = params["mode"]
    if mode == "raise":
        raise ValueError(f"bad params {params}")
    if mode == "exit":
        os._exit(7)
    if mode == "kill":
        os.kill(os.getpid(), signal.SIGKILL)
    if mode == "slow":
        time.sleep(60)
    return {"x": 2, "node": 0.0}


def consume(handle, n_max=1000):
    """Pull every item from a hosted Source's handle (on whatever node this task runs) and say where."""
    from fireworks import HostedSource, Message

    items = list(HostedSource(handle))
    return Message.concat(items), node_index()
