"""PyTorch Ignite helpers: train and evaluate a model on a Source of batches in a few lines.

A Source (e.g. ``BatchingSource``) yields Messages of batches; these Engines take ``batch[x]`` and
``batch[y]`` as tensors (vector columns are converted), so ``engine.run(source, max_epochs=...)`` works on a
Source directly. Needs the ``ignite`` extra (``pip install 'torch-fireworks[ignite]'``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import numpy as np
import torch

from fireworks._imports import optional_import
from fireworks.factory.trial import report


def _engine_module() -> Any:
    return optional_import("ignite.engine", "ignite", "fireworks.factory.ignite")


def to_tensor(column: Any, device: str | torch.device | None = None) -> torch.Tensor:
    """A batch column as a tensor (tensor columns as they are, vector columns through numpy)."""
    if not isinstance(column, torch.Tensor):
        values = column.to_numpy() if hasattr(column, "to_numpy") else np.asarray(column)
        column = torch.as_tensor(values)
    return column.to(device) if device is not None else column


def prepare_batch(
    batch: Any, x: str, y: str, device: Any = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """``(batch[x], batch[y])`` as tensors on ``device``, with a clear error when a column is missing."""
    missing = [c for c in (x, y) if c not in batch]
    if missing:
        have = list(getattr(batch, "columns", None) or list(batch))
        raise KeyError(
            f"batch has no column {missing[0]!r} (columns: {have}); pass x=/y= to name them"
        )
    return to_tensor(batch[x], device), to_tensor(batch[y], device)


def create_trainer(
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    *,
    x: str = "x",
    y: str = "y",
    device: str | torch.device | None = None,
) -> Any:
    """An Ignite ``Engine`` doing one optimiser step per batch Message; its output is the batch loss.

    >>> import torch
    >>> from fireworks import BatchingSource, Message
    >>> data = BatchingSource(Message({"x": torch.randn(64, 2), "y": torch.randn(64, 1)}), batch_size=16)
    >>> model = torch.nn.Linear(2, 1)
    >>> trainer = create_trainer(model, torch.optim.SGD(model.parameters(), lr=0.1), torch.nn.MSELoss())
    >>> trainer.run(data, max_epochs=2).iteration
    8
    """
    engine_mod = _engine_module()

    def step(engine: Any, batch: Any) -> float:
        model.train()
        optimizer.zero_grad()
        inputs, targets = prepare_batch(batch, x, y, device)
        loss = loss_fn(model(inputs), targets)
        loss.backward()
        optimizer.step()
        return float(loss.item())

    return engine_mod.Engine(step)


def create_evaluator(
    model: torch.nn.Module,
    metrics: dict[str, Any] | None = None,
    *,
    x: str = "x",
    y: str = "y",
    device: str | torch.device | None = None,
) -> Any:
    """An Ignite ``Engine`` computing ``metrics`` (name → ``ignite.metrics.Metric``) without gradients;
    after ``run(source)``, ``engine.state.metrics`` holds the values."""
    engine_mod = _engine_module()

    def step(engine: Any, batch: Any) -> tuple[torch.Tensor, torch.Tensor]:
        model.eval()
        with torch.no_grad():
            inputs, targets = prepare_batch(batch, x, y, device)
            return model(inputs), targets

    engine = engine_mod.Engine(step)
    for name, metric in (metrics or {}).items():
        metric.attach(engine, name)
    return engine


def fit(
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    source: Iterable[Any],
    *,
    epochs: int = 1,
    x: str = "x",
    y: str = "y",
    device: str | torch.device | None = None,
) -> list[float]:
    """Train for ``epochs`` over ``source``; return the mean loss per epoch, each also sent to the Factory
    with :func:`~fireworks.factory.report` (``{"loss": ...}`` at step = epoch), so a pruner can stop the
    trial early (the returned list then ends at that epoch)."""
    engine_mod = _engine_module()
    trainer = create_trainer(model, optimizer, loss_fn, x=x, y=y, device=device)
    losses: list[float] = []
    totals = {"sum": 0.0, "n": 0}

    @trainer.on(engine_mod.Events.EPOCH_STARTED)
    def _start(engine: Any) -> None:
        totals["sum"], totals["n"] = 0.0, 0

    @trainer.on(engine_mod.Events.ITERATION_COMPLETED)
    def _add(engine: Any) -> None:
        totals["sum"] += engine.state.output
        totals["n"] += 1

    @trainer.on(engine_mod.Events.EPOCH_COMPLETED)
    def _report(engine: Any) -> None:
        from fireworks.factory.trial import should_prune

        losses.append(totals["sum"] / max(totals["n"], 1))
        report(engine.state.epoch - 1, {"loss": losses[-1]})
        if should_prune():
            engine.terminate()

    trainer.run(source, max_epochs=epochs)
    return losses
