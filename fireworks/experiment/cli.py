"""``fireworks experiments ROOT``, ``fireworks show PATH`` and ``fireworks dry-run module:function``."""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sqlite3
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any


def format_table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """Plain-text table with left-aligned columns."""
    cells = [[str(c) for c in header], *[[str(c) for c in row] for row in rows]]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _experiments(args: argparse.Namespace) -> int:
    from fireworks.experiment.experiment import list_experiments

    try:
        runs = list_experiments(args.root, name=args.name)
    except FileNotFoundError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    if not runs:
        print(f"no experiments under {args.root}")
        return 0
    rows = [
        (
            r["name"],
            r["iteration"],
            str(r["timestamp"])[:19].replace("T", " "),
            (r["git_commit"] or "")[:10],
            os.path.relpath(r["path"]),
            r["description"],
        )
        for r in runs
    ]
    print(format_table(("name", "iter", "created", "commit", "path", "description"), rows))
    return 0


def sqlite_tables(path: Path) -> list[tuple[str, int, list[str]]]:
    """(table, row count, columns) of every user table in the SQLite file ``path``, opened read-only.

    A damaged file raises :class:`~fireworks.exceptions.CorruptFileError` naming it.
    """
    from fireworks._sqlite import check_file, damage_error

    check_file(str(path))
    try:
        return _sqlite_tables(path)
    except sqlite3.DatabaseError as err:
        damaged = damage_error(str(path), err)
        if damaged is None:
            raise
        raise damaged from err


def _sqlite_tables(path: Path) -> list[tuple[str, int, list[str]]]:
    conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    try:
        names = [
            r[0]
            for r in conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name"
            )
            if not r[0].startswith(("sqlite_", "_fireworks"))
        ]
        from fireworks.experiment._sqlite import quote

        out = []
        for name in names:
            count = conn.execute(f"SELECT COUNT(*) FROM {quote(name)}").fetchone()[0]
            cols = [r[1] for r in conn.execute(f"PRAGMA table_info({quote(name)})")]
            out.append((name, int(count), cols))
        return out
    finally:
        conn.close()


def _show(args: argparse.Namespace) -> int:
    from fireworks.exceptions import CorruptFileError
    from fireworks.experiment.experiment import load_experiment

    try:
        exp = load_experiment(args.path)
    except FileNotFoundError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    print(f"{exp.name} #{exp.iteration}  ({exp.path})")
    if exp.description:
        print(exp.description)
    print("\nmetadata:")
    print(json.dumps(dict(exp.metadata), indent=2, default=str))
    files = exp.files()
    rows: list[tuple[Any, ...]] = []
    for f in files:
        if f.endswith(".sqlite"):
            try:
                rows += [(f, t, n, ", ".join(c)) for t, n, c in sqlite_tables(exp.path / f)]
            except (sqlite3.Error, CorruptFileError) as err:
                rows.append((f, f"<unreadable: {err}>", "", ""))
    print("\ntables:")
    print(format_table(("database", "table", "rows", "columns"), rows) if rows else "(none)")
    print("\nfiles:")
    sizes = [(f, (exp.path / f).stat().st_size) for f in files]
    print(format_table(("file", "bytes"), sizes) if sizes else "(none)")
    return 0


def load_callable(spec: str) -> Callable[..., Any]:
    """Import ``module:function`` (the current folder is importable, like ``python -m``)."""
    module_name, sep, attr = spec.partition(":")
    if not sep or not module_name or not attr:
        raise ValueError(f"expected module:function, but got {spec!r} (e.g. mypipeline:build)")
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    module = importlib.import_module(module_name)
    obj: Any = module
    for part in attr.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError as err:
            raise ValueError(f"{module_name} has no attribute {attr!r}") from err
    if not callable(obj):
        raise ValueError(f"{spec} is a {type(obj).__name__}, not a function")
    return obj


def _dry_run(args: argparse.Namespace) -> int:
    from fireworks.experiment.dryrun import dry_run

    try:
        build = load_callable(args.pipeline)
        step = load_callable(args.train_step) if args.train_step else None
    except (ValueError, ImportError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    pipeline = build()
    report = dry_run(pipeline, rows=args.rows, batches=args.batches, train_step=step)
    print(json.dumps(report.to_dict(), indent=2, default=str) if args.json else report)
    return 0 if report.ok else 1


def register(subparsers: Any) -> None:
    p = subparsers.add_parser("experiments", help="list the experiment runs under a folder")
    p.add_argument("root", nargs="?", default=".", help="folder holding the runs (default: .)")
    p.add_argument("--name", default=None, help="only runs of this experiment name")
    p.set_defaults(func=_experiments)

    p = subparsers.add_parser("show", help="show one run's metadata, tables and files")
    p.add_argument("path", help="the run's folder (e.g. runs/mnist_3)")
    p.set_defaults(func=_show)

    p = subparsers.add_parser(
        "dry-run", help="pull a small slice through a pipeline; report timings, schemas and errors"
    )
    p.add_argument("pipeline", help="module:function returning the pipeline (its last Source)")
    p.add_argument("--rows", type=int, default=256, help="stop each node after this many rows")
    p.add_argument("--batches", type=int, default=2, help="stop each node after this many Messages")
    p.add_argument("--train-step", default=None, help="module:function called with the first batch")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.set_defaults(func=_dry_run)
