"""Parallel hyperparameter search with Optuna's TPE sampler: a Factory with two worker processes.

``OptunaGenerator`` asks Optuna for the next parameters and tells it each finished trial; the Factory runs
``workers`` trials at once, each in its own process, and stores every trial in the experiment folder
(``factory.sqlite``), so running the script again with ``--resume PATH`` continues the same search.
Intermediate accuracies go to the Factory with ``report`` and Optuna's median pruner stops poor trials early.

The trainer and evaluator are top-level functions of this file: worker processes import them.

    python examples/optuna_hpo.py                       # 12 trials, ~40 s on 2 cores
    python examples/optuna_hpo.py --trials 4 --epochs 2
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from typing import Any

import torch

from fireworks import (
    Experiment,
    Factory,
    OptunaGenerator,
    Source,
    load_experiment,
    train_test_split,
)
from fireworks.datasets import load_digits
from fireworks.factory import IntUniform, LogUniform, TrialPruned, report, should_prune

_DATA: dict[str, Any] = {}


def data() -> tuple[Source, Source]:
    """The digits as flat 64-pixel images, split once per worker process."""
    if not _DATA:
        digits = load_digits(images=True)
        digits["image"] = digits["image"].reshape(len(digits), 64)
        _DATA["split"] = train_test_split(Source(digits), test=0.25, seed=0)
    return _DATA["split"]


def accuracy(model: torch.nn.Module, test: Source) -> float:
    batch = test[:]
    with torch.no_grad():
        return float((model(batch["image"]).argmax(1) == batch["label"]).float().mean())


def train(params: dict[str, Any]) -> torch.nn.Module:
    torch.set_num_threads(1)
    torch.manual_seed(0)
    train_rows, test_rows = data()
    layers: list[torch.nn.Module] = []
    width = 64
    for _ in range(params["layers"]):
        layers += [torch.nn.Linear(width, params["hidden"]), torch.nn.ReLU()]
        width = params["hidden"]
    model = torch.nn.Sequential(*layers, torch.nn.Linear(width, 10))
    optimiser = torch.optim.SGD(model.parameters(), lr=params["lr"], momentum=0.9)
    batches = train_rows.shuffle(seed=0).batch(64)
    for epoch in range(params["epochs"]):
        for batch in batches:
            optimiser.zero_grad()
            torch.nn.functional.cross_entropy(model(batch["image"]), batch["label"]).backward()
            optimiser.step()
        report(epoch, {"accuracy": accuracy(model, test_rows)})
        if should_prune():
            raise TrialPruned()
    return model


def evaluate(model: torch.nn.Module, params: dict[str, Any]) -> dict[str, float]:
    return {"accuracy": accuracy(model, data()[1])}


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    import optuna

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=12)
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--root", default="runs", help="experiments folder")
    parser.add_argument(
        "--resume", default=None, metavar="PATH", help="continue the search in this run"
    )
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    exp = (
        load_experiment(args.resume) if args.resume else Experiment("optuna_digits", root=args.root)
    )
    exp.metadata["options"] = vars(args)
    generator = OptunaGenerator(
        "accuracy",
        "maximize",
        optuna.samplers.TPESampler(seed=args.seed),
        space={
            "layers": IntUniform(1, 2),
            "hidden": [32, 64, 128],
            "lr": LogUniform(1e-3, 0.3),
            "epochs": [args.epochs],
        },
        pruner=optuna.pruners.MedianPruner(n_startup_trials=3, n_warmup_steps=1),
    )
    with Factory(train, evaluate, generator, workers=args.workers, experiment=exp) as factory:
        history = factory.run(max_trials=args.trials)
        best = factory.best_trial
    counts = {s: sum(t.status == s for t in history) for s in ("complete", "pruned", "failed")}
    print(f"{len(history)} trials in {exp.path}: {counts}")
    assert best is not None
    print(f"best: trial {best.id}, accuracy {best.metrics['accuracy']:.4f}, params {best.params}")
    exp.metadata["best"] = {"id": best.id, "params": best.params, "metrics": best.metrics}
    exp.close()
    result = {
        "path": str(exp.path),
        "trials": len(history),
        **counts,
        "best": best.metrics["accuracy"],
    }
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    main()
