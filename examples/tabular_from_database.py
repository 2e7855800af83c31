"""Tabular classification from a database: train from a table, write predictions back, score them in SQL.

1. ``TableSource`` writes the digits table (64 pixel columns + label) into a database.
2. ``DBSource`` streams it back; ``.cache()`` gives random access, ``train_test_split`` splits it, a vectorised
   ``map`` turns the pixel columns into one standardised feature tensor, then shuffle → batch → tensors.
3. A softmax regression trains on the batches.
4. A pass-through ``TableSource`` writes the test predictions into a ``predictions`` table as they flow, and
   a plain SQL query (``DBSource(text(...))``) computes the per-class accuracy inside the database.

Works on any SQLAlchemy database:

    python examples/tabular_from_database.py                                             # SQLite file
    python examples/tabular_from_database.py --database postgresql+psycopg://postgres@127.0.0.1/test
"""

from __future__ import annotations

import argparse
import json
import tempfile
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import sqlalchemy as sa
import torch

from fireworks import DBSource, Message, TableSource, train_test_split
from fireworks.datasets import load_digits

PIXELS = [f"pixel_{i}" for i in range(64)]


def pixel_matrix(rows: Message) -> np.ndarray:
    return np.stack([np.asarray(rows[c], dtype=np.float32) for c in PIXELS], axis=1)


class Standardise:
    """Batch ``map``: pixel columns → one ``(n, 64)`` float tensor ``x`` scaled with training statistics."""

    def __init__(self, train_rows: Message) -> None:
        pixels = pixel_matrix(train_rows)
        self.mean, self.std = pixels.mean(axis=0), pixels.std(axis=0) + 1.0

    def __call__(self, rows: Message) -> Message:
        x = (pixel_matrix(rows) - self.mean) / self.std
        return Message(
            {
                "id": rows["id"].to_numpy(),
                "x": torch.from_numpy(x),
                "label": rows["label"].to_numpy(),
            }
        )


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--database", default=None, help="SQLAlchemy URL (default: an SQLite file in a temp folder)"
    )
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--keep", action="store_true", help="keep the tables on a server database")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        url = args.database or f"sqlite:///{Path(tmp) / 'digits.sqlite'}"
        return run(url, args)


def run(url: str, args: argparse.Namespace) -> dict[str, Any]:
    torch.manual_seed(args.seed)
    engine = sa.create_engine(url)
    suffix = uuid.uuid4().hex[
        :8
    ]  # fresh table names, so a shared server database is never overwritten
    digits_table, predictions_table = f"digits_{suffix}", f"predictions_{suffix}"
    quote = engine.dialect.identifier_preparer.quote
    try:
        with TableSource(digits_table, engine) as sink:  # commits on leaving the block
            sink.insert(load_digits())

        rows = DBSource(digits_table, engine, batch_size=512).cache()
        train, test = train_test_split(rows, test=0.2, seed=args.seed)
        features = Standardise(train[:])
        train_batches = train.map(features).shuffle(seed=args.seed).batch(64).to_tensors()

        model = torch.nn.Linear(64, 10)
        optimiser = torch.optim.Adam(model.parameters(), lr=0.01)
        for epoch in range(args.epochs):
            for batch in train_batches:
                optimiser.zero_grad()
                loss = torch.nn.functional.cross_entropy(model(batch["x"]), batch["label"])
                loss.backward()
                optimiser.step()
            print(f"epoch {epoch}: loss {loss.item():.3f}")

        def predict(batch: Message) -> Message:
            with torch.no_grad():
                guess = model(batch["x"]).argmax(1).numpy()
            return Message({"digit_id": batch["id"], "label": batch["label"], "prediction": guess})

        predictions = TableSource(
            predictions_table,
            engine,
            inputs=test.map(features).batch(128).to_tensors().map(predict),
        )
        written = sum(
            len(m) for m in predictions
        )  # each batch is written (and committed) as it flows

        per_class = DBSource(
            sa.text(
                f"SELECT label, COUNT(*) AS n, AVG(CASE WHEN prediction = label THEN 1.0 ELSE 0.0 END) AS accuracy "
                f"FROM {quote(predictions_table)} GROUP BY label ORDER BY label"
            ),
            engine,
        ).all()
        for label, n, acc in zip(per_class["label"], per_class["n"], per_class["accuracy"]):
            print(f"digit {label}: {n:3d} test rows, accuracy {float(acc):.3f}")
        total = DBSource(predictions_table, engine).all()
        result = {
            "rows_in_database": len(DBSource(digits_table, engine)),
            "predictions_written": written,
            "accuracy": float(
                np.mean(np.asarray(total["prediction"]) == np.asarray(total["label"]))
            ),
            "classes": len(per_class),
        }
        print(json.dumps(result))
        return result
    finally:
        if not args.keep and not url.startswith("sqlite"):
            with engine.begin() as conn:
                for name in (digits_table, predictions_table):
                    conn.execute(sa.text(f"DROP TABLE IF EXISTS {quote(name)}"))
        engine.dispose()


if __name__ == "__main__":
    main()
