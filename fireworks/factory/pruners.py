"""Pruners: decide from intermediate reports whether a running trial should stop early."""

from __future__ import annotations

import numpy as np

from fireworks.factory.trial import Trial


class MedianPruner:
    """Stop a trial whose latest ``metric`` is worse than the median of other trials at the same step.

    Called by the Factory after every report as ``pruner(trial, history)``; a trial sees the verdict through
    :func:`~fireworks.factory.should_prune`. Nothing is pruned before ``warmup_steps`` or before
    ``min_trials`` other trials reported that step.

    >>> p = MedianPruner("loss", "minimize", min_trials=1)
    >>> p(Trial(1, {}, reports=[(0, {"loss": 9.0})]), [Trial(0, {}, reports=[(0, {"loss": 1.0})])])
    True
    """

    def __init__(
        self, metric: str, direction: str = "maximize", warmup_steps: int = 0, min_trials: int = 3
    ) -> None:
        if direction not in ("maximize", "minimize"):
            raise ValueError(f"direction must be 'maximize' or 'minimize', but got {direction!r}")
        self.metric, self.direction = metric, direction
        self.warmup_steps, self.min_trials = warmup_steps, min_trials

    def __call__(self, trial: Trial, history: list[Trial]) -> bool:
        mine = [(s, m[self.metric]) for s, m in trial.reports if self.metric in m]
        if not mine:
            return False
        step, value = mine[-1]
        if step < self.warmup_steps:
            return False
        others = [
            m[self.metric]
            for t in history
            if t.id != trial.id
            for s, m in t.reports
            if s == step and self.metric in m
        ]
        if len(others) < self.min_trials:
            return False
        median = float(np.median(others))
        return value < median if self.direction == "maximize" else value > median
