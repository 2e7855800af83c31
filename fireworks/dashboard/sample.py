"""Sample experiment folders to try the dashboard on (and to test and benchmark it with).

``make_sample_runs(root)`` writes, with the real Experiment, Factory and logging code:

- ``search_0``: a Factory random search (trials and per-epoch reports in ``factory.sqlite``), a training curve
  logged with ``exp.log``, a Mermaid picture of its pipeline and a dry-run report;
- ``big_0``: a table of ``big_rows`` rows (default 1,000,000) in ``big.sqlite``;
- ``broken_0``: a run whose ``corrupt.sqlite`` is not an SQLite file;
- ``nometa_0``: a folder without ``metadata.json`` (not listed; opening it shows an error panel).

>>> import tempfile
>>> runs = make_sample_runs(tempfile.mkdtemp(), big_rows=1000, trials=3)
>>> sorted(runs)
['big', 'broken', 'nometa', 'search']
"""

from __future__ import annotations

import json
import math
import os
import sqlite3
from pathlib import Path
from typing import Any


def sample_trainer(params: dict[str, Any]) -> dict[str, float]:
    """A "training" that reports a decaying loss per epoch; the model is the params themselves."""
    from fireworks.factory import report

    lr, width = float(params["lr"]), int(params["width"])
    for epoch in range(int(params.get("epochs", 5))):
        report(
            epoch, {"loss": 1.0 / (1 + epoch * lr * width), "accuracy": 1 - 0.5 / (1 + epoch * lr)}
        )
    return {"lr": lr, "width": width}


def sample_evaluator(model: dict[str, float], params: dict[str, Any]) -> dict[str, float]:
    """Accuracy peaks at lr = 0.1 and grows with the width."""
    acc = 0.9 - 0.1 * (math.log10(model["lr"]) + 1) ** 2 + 0.0005 * model["width"]
    return {"accuracy": acc, "loss": 1 - acc}


def write_big_table(path: str | os.PathLike[str], rows: int, table: str = "rows") -> None:
    """A table of ``rows`` rows (id, group, value, label) written by SQLite itself in one statement."""
    conn = sqlite3.connect(path)
    try:
        conn.execute(
            f'CREATE TABLE "{table}" (id INTEGER PRIMARY KEY, grp INTEGER, value REAL, label TEXT)'
        )
        conn.execute(
            f'INSERT INTO "{table}" (grp, value, label) '
            "WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < ?) "
            "SELECT abs(random() % 1000), (random() % 1000000) / 1000.0, 'label_' || (i % 7) FROM c",
            (rows,),
        )
        conn.commit()
    finally:
        conn.close()


def make_sample_runs(
    root: str | os.PathLike[str], big_rows: int = 1_000_000, trials: int = 8
) -> dict[str, Path]:
    """Write the sample runs under ``root``; returns their folders by kind."""
    from fireworks.experiment import Experiment, dry_run
    from fireworks.factory import Factory, LogUniform, RandomGenerator
    from fireworks.message import Message
    from fireworks.sources import Source

    out: dict[str, Path] = {}
    with Experiment("search", root=root, description="a random search over lr and width") as exp:
        exp.seed(0)
        space = {"lr": LogUniform(1e-3, 1.0), "width": [16, 32, 64, 128], "epochs": [5]}
        with Factory(
            sample_trainer,
            sample_evaluator,
            RandomGenerator(space, seed=0),
            executor="inline",
            experiment=exp,
            metric="accuracy",
            direction="maximize",
            progress=False,
        ) as factory:
            factory.run(max_trials=trials)
            best = factory.best_trial
        assert best is not None
        exp.metadata["best_trial"] = {"id": best.id, "params": best.params, "metrics": best.metrics}
        steps = list(range(200))
        exp.log(
            "train",
            Message(
                {
                    "step": steps,
                    "loss": [1 / (1 + s / 20) for s in steps],
                    "phase": ["warmup" if s < 50 else "main" for s in steps],
                }
            ),
        )
        pipeline = (
            Source(Message({"x": list(range(100))}), name="numbers").shuffle(seed=0).batch(10)
        )
        with open(exp.path / "pipeline.mmd", "w") as f:
            f.write(pipeline.to_mermaid())
        with open(exp.path / "dry_run.json", "w") as f:
            json.dump(dry_run(pipeline).to_dict(), f, default=str)
        with open(exp.path / "notes.txt", "w") as f:
            f.write("a text file shown in the dashboard\n")
        out["search"] = exp.path
    with Experiment("big", root=root, description=f"a table of {big_rows:,} rows") as exp:
        write_big_table(exp.path / "big.sqlite", big_rows)
        out["big"] = exp.path
    with Experiment("broken", root=root, description="its database is corrupt") as exp:
        (exp.path / "corrupt.sqlite").write_bytes(b"this is not an SQLite database" * 100)
        out["broken"] = exp.path
    nometa = Path(root) / "nometa_0"
    nometa.mkdir(parents=True, exist_ok=True)
    (nometa / "data.txt").write_text("a folder without metadata.json\n")
    out["nometa"] = nometa
    return out
