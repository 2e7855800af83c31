"""Experiments: a folder per run with files, SQLite tables, metadata, checkpoints, TensorBoard logs; dry runs.

The names below load on first use, so the ``fireworks`` command line (which registers
``fireworks.experiment.cli``) starts without importing torch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from fireworks._imports import lazy_exports

_EXPORTS = {
    "load_checkpoint": "fireworks.experiment.checkpoint",
    "read_checkpoint": "fireworks.experiment.checkpoint",
    "save_checkpoint": "fireworks.experiment.checkpoint",
    "DryRunReport": "fireworks.experiment.dryrun",
    "NodeReport": "fireworks.experiment.dryrun",
    "dry_run": "fireworks.experiment.dryrun",
    "Experiment": "fireworks.experiment.experiment",
    "list_experiments": "fireworks.experiment.experiment",
    "load_experiment": "fireworks.experiment.experiment",
    "MetricLogger": "fireworks.experiment.metrics",
}

__all__ = [
    "DryRunReport",
    "Experiment",
    "MetricLogger",
    "NodeReport",
    "dry_run",
    "list_experiments",
    "load_checkpoint",
    "load_experiment",
    "read_checkpoint",
    "save_checkpoint",
]


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals())


if TYPE_CHECKING:  # pragma: no cover
    from fireworks.experiment.checkpoint import load_checkpoint, read_checkpoint, save_checkpoint
    from fireworks.experiment.dryrun import DryRunReport, NodeReport, dry_run
    from fireworks.experiment.experiment import Experiment, list_experiments, load_experiment
    from fireworks.experiment.metrics import MetricLogger
