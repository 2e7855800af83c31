"""A trial (one training run with one set of parameters) and the functions trainers call from inside one."""

from __future__ import annotations

import contextvars
import math
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fireworks.exceptions import FireworksError
from fireworks.parallel import current_task

STATUSES = ("running", "complete", "failed", "pruned")


@dataclass
class Trial:
    """One run of ``trainer`` + ``evaluator`` with one set of ``params``, as kept in storage.

    ``status`` is ``"running"``, ``"complete"``, ``"failed"`` (``error`` says why: exception type, message and
    the worker's traceback) or ``"pruned"`` (stopped early by a pruner). ``reports`` holds the intermediate
    ``(step, metrics)`` sent with :func:`report`.

    >>> t = Trial(id=0, params={"lr": 0.1}, status="complete", metrics={"acc": 0.9})
    >>> t.metrics["acc"]
    0.9
    """

    id: int
    params: dict[str, Any]
    status: str = "running"
    metrics: dict[str, float] = field(default_factory=dict)
    error: str | None = None
    started_at: float | None = None
    finished_at: float | None = None
    worker: int | None = None
    reports: list[tuple[int, dict[str, float]]] = field(default_factory=list)

    @property
    def duration(self) -> float | None:
        """Seconds from start to finish (``None`` while running)."""
        if self.started_at is None or self.finished_at is None:
            return None
        return self.finished_at - self.started_at

    def to_dict(self) -> dict[str, Any]:
        """A JSON-compatible copy (used by ``state_dict`` and the dashboard)."""
        return {
            "id": self.id,
            "params": dict(self.params),
            "status": self.status,
            "metrics": dict(self.metrics),
            "error": self.error,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "worker": self.worker,
            "reports": [[step, dict(m)] for step, m in self.reports],
        }


class TrialPruned(FireworksError):
    """Raise inside a trial (after :func:`should_prune` said so) to stop it; it is recorded as ``"pruned"``."""


@dataclass
class TrialInfo:
    """What a running trial knows about itself: its id, parameters and folder (when the Factory has one)."""

    id: int
    params: dict[str, Any]
    path: Path | None = None
    _prune: bool = False


_INFO: contextvars.ContextVar[TrialInfo | None] = contextvars.ContextVar(
    "fireworks_trial", default=None
)


def current_trial() -> TrialInfo | None:
    """The :class:`TrialInfo` of the trial running here, or ``None`` outside a Factory trial."""
    return _INFO.get()


def check_metrics(metrics: Any, what: str = "evaluator") -> dict[str, float]:
    """Return ``metrics`` as ``dict[str, float]`` or raise a ``TypeError`` naming the bad entry."""
    if not isinstance(metrics, Mapping):
        raise TypeError(
            f"{what} must return a dict[str, float], but got {type(metrics).__name__}: {metrics!r}"
        )
    out: dict[str, float] = {}
    for key, value in metrics.items():
        if not isinstance(key, str):
            raise TypeError(f"{what} metric names must be str, but got {key!r}")
        try:
            out[key] = float(value)
        except (TypeError, ValueError) as err:
            raise TypeError(
                f"{what} metric {key!r} must be a number, but got {type(value).__name__}: {value!r}"
            ) from err
    return out


def report(step: int, metrics: Mapping[str, float]) -> None:
    """Send intermediate ``metrics`` at ``step`` to the Factory (stored, shown to pruners and generators).

    Call it from ``trainer``/``evaluator``; outside a Factory trial it does nothing, so the same training
    function runs standalone.
    """
    checked = check_metrics(metrics, "report()")
    task = current_task()
    if task is None or current_trial() is None:
        return
    task.send(("report", int(step), checked))


def should_prune() -> bool:
    """Whether the Factory's pruner asked this trial to stop; if so, ``raise TrialPruned()``.

    The answer to a :func:`report` arrives asynchronously, so it is seen at a later check.
    """
    info = current_trial()
    task = current_task()
    if info is None or task is None:
        return False
    if not info._prune and "prune" in task.receive():
        info._prune = True
    return info._prune


def run_trial(
    trainer: Callable[[dict[str, Any]], Any],
    evaluator: Callable[[Any, dict[str, Any]], Mapping[str, float]],
    params: dict[str, Any],
    trial_id: int,
    path: str | None,
) -> dict[str, Any]:
    """Train and evaluate one trial (runs in a worker); returns ``{"status", "metrics", "worker"}``."""
    info = TrialInfo(trial_id, dict(params), Path(path) if path else None)
    if info.path is not None:
        info.path.mkdir(parents=True, exist_ok=True)
    token = _INFO.set(info)
    try:
        model = trainer(dict(params))
        metrics = check_metrics(evaluator(model, dict(params)))
        status = "complete"
    except TrialPruned:
        metrics, status = {}, "pruned"
    finally:
        _INFO.reset(token)
    bad = [k for k, v in metrics.items() if math.isnan(v)]
    if bad:
        raise ValueError(
            f"evaluator returned NaN for {bad}; return a finite number or raise to fail the trial"
        )
    return {"status": status, "metrics": metrics, "worker": os.getpid(), "finished_at": time.time()}
