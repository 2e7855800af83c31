"""Hyperparameter search as independent processes: :class:`Factory`, trials, generators and storage.

Inside a trial, training code may call :func:`report` (intermediate metrics) and :func:`should_prune`.
Submodules load on first use, so a worker process that only runs trials imports little.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from fireworks._imports import lazy_exports

_EXPORTS: dict[str, str] = {
    "Factory": "fireworks.factory.factory",
    "Events": "fireworks.factory.events",
    "RemovableHandle": "fireworks.factory.events",
    "Trial": "fireworks.factory.trial",
    "TrialInfo": "fireworks.factory.trial",
    "TrialPruned": "fireworks.factory.trial",
    "current_trial": "fireworks.factory.trial",
    "report": "fireworks.factory.trial",
    "should_prune": "fireworks.factory.trial",
    "TrialStorage": "fireworks.factory.storage",
    "GridGenerator": "fireworks.factory.generators",
    "RandomGenerator": "fireworks.factory.generators",
    "OptunaGenerator": "fireworks.factory.generators",
    "Uniform": "fireworks.factory.space",
    "LogUniform": "fireworks.factory.space",
    "IntUniform": "fireworks.factory.space",
    "Choice": "fireworks.factory.space",
    "MedianPruner": "fireworks.factory.pruners",
}

__all__ = [
    "Choice",
    "Events",
    "Factory",
    "GridGenerator",
    "IntUniform",
    "LogUniform",
    "MedianPruner",
    "OptunaGenerator",
    "RandomGenerator",
    "RemovableHandle",
    "Trial",
    "TrialInfo",
    "TrialPruned",
    "TrialStorage",
    "Uniform",
    "current_trial",
    "report",
    "should_prune",
]


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals())


if TYPE_CHECKING:  # pragma: no cover
    from fireworks.factory.events import Events, RemovableHandle
    from fireworks.factory.factory import Factory
    from fireworks.factory.generators import GridGenerator, OptunaGenerator, RandomGenerator
    from fireworks.factory.pruners import MedianPruner
    from fireworks.factory.space import Choice, IntUniform, LogUniform, Uniform
    from fireworks.factory.storage import TrialStorage
    from fireworks.factory.trial import (
        Trial,
        TrialInfo,
        TrialPruned,
        current_trial,
        report,
        should_prune,
    )
