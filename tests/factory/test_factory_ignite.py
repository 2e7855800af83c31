"""The Ignite helpers really train a model on a Source of batches."""

from __future__ import annotations

import pytest
import torch

from fireworks import BatchingSource, Message

ignite = pytest.importorskip("ignite")

from fireworks.factory.ignite import create_evaluator, create_trainer, fit  # noqa: E402


def _data(seed: int = 0) -> Message:
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(256, 3, generator=g)
    y = x @ torch.tensor([[1.5], [-2.0], [0.5]]) + 0.3
    return Message({"x": x, "y": y})


def test_fit_makes_the_loss_go_down() -> None:
    torch.manual_seed(0)
    model = torch.nn.Linear(3, 1)
    source = BatchingSource(_data(), batch_size=32)
    losses = fit(
        model, torch.optim.SGD(model.parameters(), lr=0.1), torch.nn.MSELoss(), source, epochs=5
    )
    assert len(losses) == 5
    assert losses[-1] < losses[0] / 10
    evaluator = create_evaluator(model, {"mse": ignite.metrics.MeanSquaredError()})
    evaluator.run(BatchingSource(_data(1), batch_size=64))
    assert evaluator.state.metrics["mse"] < 0.05


def test_trainer_runs_on_a_source_and_names_missing_columns() -> None:
    model = torch.nn.Linear(3, 1)
    trainer = create_trainer(model, torch.optim.SGD(model.parameters(), lr=0.1), torch.nn.MSELoss())
    state = trainer.run(BatchingSource(_data(), batch_size=64), max_epochs=2)
    assert state.iteration == 8
    bad = create_trainer(
        model, torch.optim.SGD(model.parameters(), lr=0.1), torch.nn.MSELoss(), y="target"
    )
    with pytest.raises(KeyError, match=r"batch has no column 'target' \(columns: \['x', 'y'\]\)"):
        bad.run(BatchingSource(_data(), batch_size=64))


def test_a_factory_trains_ignite_models_in_worker_processes() -> None:
    from fireworks import Factory, GridGenerator
    from fireworks.factory.examples import regression_evaluator, regression_trainer

    factory = Factory(
        regression_trainer,
        regression_evaluator,
        GridGenerator({"lr": [0.0001, 0.1]}),
        workers=2,
        metric="mse",
        direction="minimize",
        progress=False,
    )
    slow, good = factory.run()
    assert slow.status == good.status == "complete"
    assert good.metrics["mse"] < slow.metrics["mse"] / 10
    assert [step for step, _ in good.reports] == [0, 1, 2]  # fit() reported the loss per epoch
    assert factory.best_trial.id == good.id
