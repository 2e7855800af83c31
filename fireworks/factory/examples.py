"""Small importable trainers and evaluators for examples and docs (worker processes must import them).

``quadratic_*`` scores a known function; ``regression_*`` trains a linear model with the Ignite helpers on a
synthetic Source of batches, reporting the loss per epoch.
"""

from __future__ import annotations

from typing import Any


def quadratic_trainer(params: dict[str, Any]) -> dict[str, float]:
    """The "model" is the point itself."""
    return {"x": float(params["x"]), "y": float(params.get("y", -1.0))}


def quadratic_evaluator(model: dict[str, float], params: dict[str, Any]) -> dict[str, float]:
    """``loss = (x - 2)^2 + (y + 1)^2``: minimal (0) at x=2, y=-1."""
    return {"loss": (model["x"] - 2.0) ** 2 + (model["y"] + 1.0) ** 2}


def regression_trainer(params: dict[str, Any]) -> Any:
    """Fit a linear model to y = x·w + b (256 rows, batch size ``params['batch_size']``)."""
    import torch

    from fireworks.factory.ignite import fit
    from fireworks.message import Message
    from fireworks.sources import BatchingSource

    g = torch.Generator().manual_seed(0)
    x = torch.randn(256, 3, generator=g)
    y = x @ torch.tensor([[1.5], [-2.0], [0.5]]) + 0.3
    torch.manual_seed(int(params.get("seed", 0)))
    model = torch.nn.Linear(3, 1)
    optimizer = torch.optim.SGD(model.parameters(), lr=float(params["lr"]))
    source = BatchingSource(Message({"x": x, "y": y}), batch_size=int(params.get("batch_size", 32)))
    fit(model, optimizer, torch.nn.MSELoss(), source, epochs=int(params.get("epochs", 3)))
    return model


def regression_evaluator(model: Any, params: dict[str, Any]) -> dict[str, float]:
    """Mean squared error on fresh data from the same line."""
    import torch

    g = torch.Generator().manual_seed(1)
    x = torch.randn(256, 3, generator=g)
    y = x @ torch.tensor([[1.5], [-2.0], [0.5]]) + 0.3
    with torch.no_grad():
        return {"mse": float(torch.nn.functional.mse_loss(model(x), y))}
