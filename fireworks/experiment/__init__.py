"""Experiments: a folder per run with files, SQLite tables, metadata, checkpoints, TensorBoard logs; dry runs."""

from __future__ import annotations

from fireworks.experiment.checkpoint import load_checkpoint, read_checkpoint, save_checkpoint
from fireworks.experiment.dryrun import DryRunReport, NodeReport, dry_run
from fireworks.experiment.experiment import Experiment, list_experiments, load_experiment
from fireworks.experiment.metrics import MetricLogger

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
