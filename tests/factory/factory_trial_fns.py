"""Trainers and evaluators for the Factory tests, in a module of their own so worker processes import them."""

from __future__ import annotations

import os
import signal
import time

from fireworks.factory import TrialPruned, current_trial, report, should_prune


def identity(params):
    return params


def sleeper(params):
    time.sleep(params.get("sleep", 0.0))
    return params


def score_x(model, params):
    return {"score": -((model["x"] - 2) ** 2)}


def quadratic_loss(model, params):
    return {"loss": (model["x"] - 2) ** 2 + (model["y"] + 1) ** 2}


def empty_metrics(model, params):
    return {}


def troublemaker(params):
    mode = params["mode"]
    if mode == "raise":
        raise ValueError(f"bad params {params}")
    if mode == "exit":
        os._exit(7)
    if mode == "kill":
        os.kill(os.getpid(), signal.SIGKILL)
    if mode == "slow":
        time.sleep(30)
    return {"x": 2}


def bad_metrics(model, params):
    return {"score": "high"}


def reporter(params):
    """Report a loss per step for up to 40 steps (0.01 s each); stop when pruned."""
    for step in range(40):
        report(step, {"loss": params["level"] + 1.0 / (step + 1)})
        time.sleep(0.01)
        if should_prune():
            raise TrialPruned()
    return params


def last_level(model, params):
    return {"loss": params["level"]}


def write_file(params):
    info = current_trial()
    (info.path / "model.txt").write_text(f"trial {info.id} x={params['x']}")
    return params
