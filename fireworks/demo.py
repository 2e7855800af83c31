"""``fireworks demo``: the whole framework on a real dataset, end to end, in about a minute.

The UCI handwritten digits (shipped in the package) are written into a database through :class:`TableSource`,
read back by a pipeline ``DBSource → cache → train_test_split → normalise → shuffle → batch → tensors``, and a
:class:`Factory` search trains small PyTorch MLPs on it in worker processes. Everything lands in an
:class:`Experiment` folder: options and seed in its metadata, the trials and per-epoch metrics as tables, and the
best model as a checkpoint; ``fireworks show PATH`` looks at it again.

The trainer and evaluator are module-level functions so that worker processes (spawn) can import them.
"""

from __future__ import annotations

import argparse
import functools
import math
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

DIGITS_PIXELS = 64
DIGITS_ROWS = 1797
PIXELS = [f"pixel_{i}" for i in range(DIGITS_PIXELS)]
MIN_ROWS = 50
LOAD_CHUNK = 256

# per-process cache of the cached DB reader, so trials run by one worker read the table once
_SOURCES: dict[tuple[str, str], Any] = {}


# --------------------------------------------------------------------------------------------------
# the pipeline and the model (these run inside the Factory's worker processes)


def normalise(message: Any, mean: np.ndarray, std: np.ndarray) -> Any:
    """Stack the pixel columns into one standardised float32 ``x`` matrix; keep ``label`` (vectorised)."""
    from fireworks.message import Message

    pixels = np.stack([np.asarray(message[c], dtype=np.float32) for c in PIXELS], axis=1)
    x = (pixels - mean) / std
    return Message({"x": x, "label": np.asarray(message["label"], dtype=np.int64)})


def cached_rows(url: str, table: str) -> Any:
    """``DBSource(table) → cache``: the table read once per process, then served from memory."""
    key = (url, table)
    if key not in _SOURCES:
        from fireworks.database import DBSource

        _SOURCES[key] = DBSource(table, url, batch_size=512).cache()
    return _SOURCES[key]


def pipelines(config: dict[str, Any], batch_size: int, seed: int) -> tuple[Any, Any]:
    """(train batches, test batches) as tensors: split, normalise with train statistics, shuffle, batch."""
    from fireworks.sources import train_test_split

    rows = cached_rows(config["url"], config["table"])
    train, test = train_test_split(rows, test=config["test"], seed=config["seed"])
    sample = train[:]
    pixels = np.stack([np.asarray(sample[c], dtype=np.float32) for c in PIXELS], axis=1)
    mean = pixels.mean(axis=0)
    std = (
        pixels.std(axis=0) + 1.0
    )  # the +1 keeps always-blank border pixels at 0 instead of dividing by 0
    norm = functools.partial(normalise, mean=mean, std=std)
    train_batches = train.map(norm).shuffle(seed=seed).batch(batch_size).to_tensors()
    test_batches = test.map(norm).batch(1024).to_tensors()
    return train_batches, test_batches


def build_model(params: dict[str, Any]) -> Any:
    """A two-layer MLP: 64 pixels → ``hidden`` ReLU units → 10 classes."""
    import torch

    hidden = int(params["hidden"])
    return torch.nn.Sequential(
        torch.nn.Linear(DIGITS_PIXELS, hidden),
        torch.nn.ReLU(),
        torch.nn.Linear(hidden, 10),
    )


def _evaluate(model: Any, batches: Any) -> dict[str, float]:
    import torch

    model.eval()
    correct, loss, n = 0, 0.0, 0
    with torch.no_grad():
        for batch in batches:
            logits = model(batch["x"])
            loss += float(
                torch.nn.functional.cross_entropy(logits, batch["label"], reduction="sum")
            )
            correct += int((logits.argmax(dim=1) == batch["label"]).sum())
            n += len(batch)
    model.train()
    return {"accuracy": correct / n, "loss": loss / n}


def train_digits(params: dict[str, Any], config: dict[str, Any]) -> Any:
    """Factory trainer: train an MLP with Adam for ``params["epochs"]`` epochs, reporting each epoch.

    The model's weights are checkpointed in the trial's folder (``model.ckpt``) so the best one can be kept.
    """
    import torch

    from fireworks.experiment import save_checkpoint
    from fireworks.factory import current_trial, report

    torch.set_num_threads(1)  # trials already run in parallel processes
    seed = int(config["seed"])
    torch.manual_seed(seed)
    train_batches, test_batches = pipelines(config, int(params["batch_size"]), seed)
    model = build_model(params)
    optimiser = torch.optim.Adam(
        model.parameters(), lr=float(params["lr"]), weight_decay=float(params["weight_decay"])
    )
    for epoch in range(int(params["epochs"])):
        total, n = 0.0, 0
        for batch in train_batches:  # every pass is a new epoch with a new permutation
            optimiser.zero_grad()
            loss = torch.nn.functional.cross_entropy(model(batch["x"]), batch["label"])
            loss.backward()
            optimiser.step()
            total += loss.item() * len(batch)
            n += len(batch)
        held_out = _evaluate(model, test_batches)
        report(epoch, {"train_loss": total / n, "accuracy": held_out["accuracy"]})
    info = current_trial()
    if info is not None and info.path is not None:
        save_checkpoint(model, info.path / "model.ckpt")
    return model


def evaluate_digits(model: Any, params: dict[str, Any], config: dict[str, Any]) -> dict[str, float]:
    """Factory evaluator: accuracy and mean cross-entropy on the held-out split."""
    _, test_batches = pipelines(config, int(params["batch_size"]), int(config["seed"]))
    return _evaluate(model, test_batches)


# --------------------------------------------------------------------------------------------------
# the command


def _check_options(args: argparse.Namespace) -> None:
    if not MIN_ROWS <= args.size <= DIGITS_ROWS:
        raise ValueError(
            f"--size must be between {MIN_ROWS} and {DIGITS_ROWS} rows, but got {args.size}"
        )
    for name in ("trials", "workers", "epochs"):
        if getattr(args, name) < 1:
            raise ValueError(f"--{name} must be at least 1, but got {getattr(args, name)}")
    if args.seed < 0:
        raise ValueError(f"--seed must be a non-negative int, but got {args.seed}")


def load_table(digits: Any, url: str, table: str, progress: bool) -> int:
    """Write ``digits`` into ``table`` through a TableSource in committed chunks; returns the row count."""
    import sqlalchemy as sa
    from tqdm.auto import tqdm

    from fireworks.database import TableSource

    engine = sa.create_engine(url)
    try:
        if sa.inspect(engine).has_table(table):
            raise FileExistsError(
                f"table {table!r} already exists in {engine.url.render_as_string(hide_password=True)}; "
                f"pass --table with a new name (the demo never overwrites data)"
            )
        sink = TableSource(table, engine)
        with tqdm(total=len(digits), desc="load digits", unit="row", disable=not progress) as bar:
            for start in range(0, len(digits), LOAD_CHUNK):
                chunk = digits[start : start + LOAD_CHUNK]
                sink.insert(chunk)
                bar.update(len(chunk))
            sink.commit()
    finally:
        engine.dispose()
    return len(digits)


def trial_rows(history: list[Any]) -> list[dict[str, Any]]:
    """One flat dict per trial: id, status, params, metrics, seconds."""
    rows = []
    for t in history:
        rows.append(
            {
                "trial": t.id,
                "status": t.status,
                "hidden": int(t.params["hidden"]),
                "lr": float(t.params["lr"]),
                "weight_decay": float(t.params["weight_decay"]),
                "batch_size": int(t.params["batch_size"]),
                "epochs": int(t.params["epochs"]),
                "accuracy": float(t.metrics.get("accuracy", math.nan)),
                "loss": float(t.metrics.get("loss", math.nan)),
                "seconds": float(t.duration) if t.duration is not None else math.nan,
            }
        )
    return rows


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return "-" if math.isnan(value) else f"{value:.4g}"
    return str(value)


def run_demo(args: argparse.Namespace) -> Path:
    """Run the demo with the parsed options; returns the experiment folder."""
    import sqlalchemy as sa

    from fireworks.datasets import load_digits
    from fireworks.experiment import Experiment
    from fireworks.experiment.cli import format_table
    from fireworks.factory import Factory, LogUniform, RandomGenerator
    from fireworks.message import Message

    _check_options(args)
    started = time.perf_counter()
    progress = not args.quiet
    say = print if progress else (lambda *a, **k: None)
    exp = Experiment(
        "demo",
        root=args.root,
        description="fireworks demo: MLPs on the UCI digits, random search",
    )
    try:
        seed = exp.seed(args.seed)
        url = args.database or f"sqlite:///{exp.path / 'data.sqlite'}"
        shown_url = sa.make_url(url).render_as_string(hide_password=True)
        exp.metadata["options"] = {
            "size": args.size,
            "trials": args.trials,
            "workers": args.workers,
            "epochs": args.epochs,
            "seed": seed,
            "database": shown_url,
            "table": args.table,
        }
        say(f"experiment {exp.path}")

        digits = load_digits()
        order = np.random.default_rng(seed).permutation(len(digits))[: args.size]
        load_table(digits[order], url, args.table, progress)

        config = {"url": url, "table": args.table, "seed": seed, "test": 0.2}
        space = {
            "hidden": [32, 64, 128],
            "lr": LogUniform(1e-3, 3e-2),
            "weight_decay": LogUniform(1e-6, 1e-3),
            "batch_size": [32, 64],
            "epochs": [args.epochs],
        }
        generator = RandomGenerator(space, seed=seed)
        say(f"search: {args.trials} trials, {args.workers} worker processes")
        with Factory(
            functools.partial(train_digits, config=config),
            functools.partial(evaluate_digits, config=config),
            generator,
            workers=args.workers,
            experiment=exp,
            metric="accuracy",
            direction="maximize",
            progress=progress,
        ) as factory:
            history = factory.run(max_trials=args.trials)
            best = factory.best_trial

        rows = trial_rows(history)
        exp.log("trials", Message({k: [r[k] for r in rows] for k in rows[0]}))
        for t in history:
            if t.reports:
                exp.log(
                    "epochs",
                    Message(
                        {
                            "trial": [t.id] * len(t.reports),
                            "epoch": [step for step, _ in t.reports],
                            "train_loss": [m.get("train_loss", math.nan) for _, m in t.reports],
                            "accuracy": [m.get("accuracy", math.nan) for _, m in t.reports],
                        }
                    ),
                )
        header = list(rows[0])
        print(format_table(header, [[_fmt(r[k]) for k in header] for r in rows]))
        failed = [t for t in history if t.status != "complete"]
        for t in failed:
            print(f"trial {t.id} {t.status}: {(t.error or '').splitlines()[0] if t.error else ''}")
        if best is None:
            print("no trial completed; see the errors above", file=sys.stderr)
            exp.metadata["best_trial"] = None
            return exp.path

        from fireworks.experiment import load_checkpoint

        model = load_checkpoint(
            build_model(best.params), exp.path / "trials" / f"trial_{best.id}" / "model.ckpt"
        )
        exp.save_checkpoint(model, "best_model.ckpt")
        exp.metadata["best_trial"] = {
            "id": best.id,
            "params": best.params,
            "metrics": best.metrics,
            "checkpoint": "best_model.ckpt",
        }
        elapsed = time.perf_counter() - started
        exp.metadata["seconds"] = round(elapsed, 2)
        params = ", ".join(f"{k}={_fmt(v)}" for k, v in best.params.items())
        print(
            f"\nbest: trial {best.id}  accuracy {best.metrics['accuracy']:.4f}  ({params})\n"
            f"{len(history)} trials in {elapsed:.1f} s; everything is in {exp.path}\n\n"
            f"look again:   fireworks show {exp.path}\n"
            f"all runs:     fireworks experiments {Path(args.root)}\n"
            f"dashboard:    fireworks dashboard {Path(args.root)}   "
            f"(then open http://127.0.0.1:8050/run/{exp.path.name})"
        )
        return exp.path
    finally:
        exp.close()


def _command(args: argparse.Namespace) -> int:
    try:
        path = run_demo(args)
    except (ValueError, FileExistsError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    from fireworks.experiment import load_experiment

    return 0 if load_experiment(path).metadata.get("best_trial") else 1


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "demo",
        help="run the whole framework end to end on the handwritten digits (about a minute)",
        description=(
            "Load the UCI handwritten digits (shipped with Fireworks) into a database through "
            "TableSource, read them back through a pipeline (DBSource -> cache -> train/test split -> "
            "normalise -> shuffle -> batch -> tensors), run a Factory random search that trains small "
            "PyTorch MLPs in worker processes, and store everything in an Experiment folder. Nothing is "
            "downloaded."
        ),
    )
    p.add_argument(
        "--size",
        type=int,
        default=DIGITS_ROWS,
        help=f"rows of the digits dataset to use, {MIN_ROWS}..{DIGITS_ROWS}; 20%% are held out for "
        f"evaluation (default: all {DIGITS_ROWS})",
    )
    p.add_argument("--trials", type=int, default=8, help="training runs in the search (default: 8)")
    p.add_argument(
        "--workers",
        type=int,
        default=2,
        help="trials run at once, each in its own worker process (default: 2)",
    )
    p.add_argument("--epochs", type=int, default=20, help="training epochs per trial (default: 20)")
    p.add_argument(
        "--database",
        default=None,
        metavar="URL",
        help="SQLAlchemy URL of the database the digits are loaded into, e.g. "
        "postgresql+psycopg://user@127.0.0.1/db or mysql+pymysql://user@127.0.0.1/db "
        "(default: an SQLite file data.sqlite inside the experiment folder)",
    )
    p.add_argument(
        "--table",
        default="digits",
        help="table the digits are written to; it must not exist yet, the demo never overwrites "
        "data (default: digits)",
    )
    p.add_argument(
        "--root",
        default="runs",
        metavar="FOLDER",
        help="output folder; the run is written to FOLDER/demo_N, N counting up (default: runs)",
    )
    p.add_argument(
        "--seed",
        type=int,
        default=0,
        help="seeds the subset, the split, the search and the training (default: 0)",
    )
    p.add_argument(
        "--quiet", action="store_true", help="no progress bars or chatter: print the results only"
    )
    p.set_defaults(func=_command)
