"""Experiment: one folder per run holding its files, SQLite tables, metadata, checkpoints and TensorBoard logs.

``Experiment("mnist", root="runs")`` creates ``runs/mnist_N`` with N one more than the largest existing N for
exactly that name (``os.mkdir`` in a retry loop, so threads and processes creating runs at once never collide),
and records in ``metadata.json`` what makes the run reproducible. ``load_experiment(path)`` reopens it.
"""

from __future__ import annotations

import contextlib
import getpass
import importlib.metadata
import json
import os
import platform
import random
import re
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator, Mapping, MutableMapping
from datetime import datetime
from pathlib import Path
from typing import IO, Any

import numpy as np
import sqlalchemy as sa

from fireworks._imports import optional_import
from fireworks.exceptions import CorruptFileError
from fireworks.experiment._sqlite import sqlite_engine
from fireworks.experiment.checkpoint import atomic_write, load_checkpoint, save_checkpoint
from fireworks.experiment.metrics import MetricLogger

METADATA_FILE = "metadata.json"
LOGS_DB = "logs"
# distributions whose versions a run records (Fireworks' own comes from fireworks.__version__: its distribution
# is torch-fireworks, and the index's "fireworks" is another project)
PACKAGES = (
    "torch",
    "numpy",
    "pandas",
    "pyarrow",
    "sqlalchemy",
    "optuna",
    "pytorch-ignite",
)
_MAX_TRIES = 10_000

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]


def _check_json(value: Any, where: str) -> Any:
    """Return ``value`` as plain JSON types (numpy scalars unwrapped, tuples as lists) or raise TypeError."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, (list, tuple)):
        return [_check_json(v, f"{where}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, Mapping):
        out = {}
        for k, v in value.items():
            if not isinstance(k, str):
                raise TypeError(
                    f"metadata must be JSON-serialisable, but {where} has the non-str key {k!r}; "
                    f"use str keys"
                )
            out[k] = _check_json(v, f"{where}[{k!r}]")
        return out
    raise TypeError(
        f"metadata must be JSON-serialisable (str, int, float, bool, None, lists and dicts with str "
        f"keys), but {where} is a {type(value).__qualname__}; store str(value) or its plain fields instead"
    )


class Metadata(MutableMapping[str, Any]):
    """The persisted dict behind :attr:`Experiment.metadata`.

    Every assignment or deletion rewrites ``metadata.json`` atomically (re-reading it first under a file
    lock, so processes sharing a run do not lose each other's keys). Values must be JSON-serialisable; a
    bad value raises ``TypeError`` and leaves the file unchanged.
    """

    def __init__(self, path: Path, data: dict[str, Any] | None = None) -> None:
        self._path = path
        self._lock = threading.Lock()
        self._data: dict[str, Any] = data if data is not None else self._read()

    def _read(self) -> dict[str, Any]:
        try:
            with open(self._path, encoding="utf-8") as f:
                data = json.load(f)
        except FileNotFoundError:
            return {}
        except ValueError as err:  # JSONDecodeError, UnicodeDecodeError
            raise CorruptFileError(
                self._path,
                f"it is not valid JSON, it may be cut short or overwritten ({err})",
                "restore it from a copy (Fireworks writes it atomically, so a crash never leaves it so)",
            ) from err
        if not isinstance(data, dict):
            raise CorruptFileError(
                self._path,
                f"it must hold a JSON object, but holds {type(data).__name__}",
                "restore it from a copy",
            )
        return data

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        with self._lock:
            if fcntl is None:
                yield
                return
            with open(self._path.with_name(".metadata.lock"), "a") as lock:
                fcntl.flock(lock, fcntl.LOCK_EX)
                try:
                    yield
                finally:
                    fcntl.flock(lock, fcntl.LOCK_UN)

    def _commit(self, changes: Mapping[str, Any], deletions: tuple[str, ...] = ()) -> None:
        with self._locked():
            data = self._read() if self._path.exists() else dict(self._data)
            data.update(changes)
            for key in deletions:
                data.pop(key, None)
            text = json.dumps(data, indent=2)
            atomic_write(self._path, [text.encode("utf-8")])
            self._data = data

    def __getitem__(self, key: str) -> Any:
        return self._data[key]

    def __setitem__(self, key: str, value: Any) -> None:
        self.update({key: value})

    def update(self, other: Any = (), /, **kwargs: Any) -> None:  # type: ignore[override]
        """Set several keys with one atomic write."""
        changes = dict(other, **kwargs)
        for key in changes:
            if not isinstance(key, str):
                raise TypeError(f"metadata keys must be str, but got {key!r}")
        checked = {k: _check_json(v, f"metadata[{k!r}]") for k, v in changes.items()}
        self._commit(checked)

    def __delitem__(self, key: str) -> None:
        if key not in self._data:
            raise KeyError(key)
        self._commit({}, (key,))

    def __iter__(self) -> Iterator[str]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def reload(self) -> None:
        """Re-read the file (to see keys written by another process)."""
        self._data = self._read()

    def __repr__(self) -> str:
        return f"Metadata({self._data!r})"


def _git_info(cwd: str) -> dict[str, Any] | None:
    def git(*args: str) -> str:
        return subprocess.run(
            ["git", *args], cwd=cwd, capture_output=True, text=True, timeout=10, check=True
        ).stdout.strip()

    try:
        commit = git("rev-parse", "HEAD")
        dirty = bool(git("status", "--porcelain", "--untracked-files=no"))
        root = git("rev-parse", "--show-toplevel")
    except (OSError, subprocess.SubprocessError):
        return None
    return {"commit": commit, "dirty": dirty, "root": root}


def _packages() -> dict[str, str]:
    from fireworks import __version__

    versions = {"fireworks": __version__}
    for name in PACKAGES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return versions


def environment() -> dict[str, Any]:
    """What makes a run reproducible: interpreter, packages, git state, command line and host."""
    try:
        user = getpass.getuser()
    except Exception:  # pragma: no cover - no user database entry
        user = None
    return {
        "python": sys.version.split()[0],
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "hostname": socket.gethostname(),
        "user": user,
        "pid": os.getpid(),
        "cwd": os.getcwd(),
        "command": [sys.executable, *sys.argv],
        "packages": _packages(),
        "git": _git_info(os.getcwd()),
    }


def _validate_name(name: str) -> None:
    if not isinstance(name, str) or not name:
        raise ValueError(f"an experiment name must be a non-empty str, but got {name!r}")
    if name in (".", "..") or "/" in name or os.sep in name or (os.altsep and os.altsep in name):
        raise ValueError(
            f"an experiment name becomes a folder name, so it cannot contain path separators or be "
            f"'.'/'..', but got {name!r}; pass the parent folder as root="
        )


class Experiment:
    """A folder per run: files, SQLite tables, persisted metadata, checkpoints and TensorBoard logs.

    ``Experiment(name, root, description)`` creates ``root/name_N`` (N = one more than the largest existing
    N for exactly ``name``, from 0), atomically even when many threads or processes create runs at once.
    :func:`load_experiment` reopens a run with everything it recorded.

    >>> import tempfile
    >>> root = tempfile.mkdtemp()
    >>> with Experiment("demo", root=root, description="a first run") as exp:
    ...     exp.metadata["lr"] = 0.1
    ...     exp.log("train", {"loss": 0.5})
    >>> exp.path.name, load_experiment(exp.path).metadata["lr"]
    ('demo_0', 0.1)
    """

    def __init__(
        self, name: str, root: str | os.PathLike[str] = ".", description: str = ""
    ) -> None:
        _validate_name(name)
        if not isinstance(description, str):
            raise TypeError(f"description must be a str, but got {type(description).__qualname__}")
        root_path = Path(root).resolve()
        root_path.mkdir(parents=True, exist_ok=True)
        pattern = re.compile(re.escape(name) + r"_(\d+)")
        for _ in range(_MAX_TRIES):
            taken = [
                int(m.group(1))
                for entry in os.listdir(root_path)
                if (m := pattern.fullmatch(entry))
            ]
            iteration = max(taken) + 1 if taken else 0
            path = root_path / f"{name}_{iteration}"
            try:
                os.mkdir(path)
                break
            except FileExistsError:
                continue
        else:  # pragma: no cover - only under pathological contention
            raise RuntimeError(f"could not create a folder for experiment {name!r} in {root_path}")
        timestamp = datetime.now()
        meta = {
            "name": name,
            "iteration": iteration,
            "description": description,
            "timestamp": timestamp.isoformat(),
            "seeds": [],
            "environment": environment(),
        }
        self._setup(path, Metadata(path / METADATA_FILE, {}))
        self.metadata.update(meta)

    @classmethod
    def _open(cls, path: str | os.PathLike[str]) -> Experiment:
        folder = Path(path).resolve()
        if not folder.is_dir():
            raise FileNotFoundError(f"no experiment folder at {folder}")
        meta_path = folder / METADATA_FILE
        if not meta_path.is_file():
            raise FileNotFoundError(
                f"{folder} is not an experiment: it has no {METADATA_FILE} (create runs with "
                f"Experiment(name, root))"
            )
        self = cls.__new__(cls)
        self._setup(folder, Metadata(meta_path))
        return self

    def _setup(self, path: Path, metadata: Metadata) -> None:
        self._path = path
        self._metadata = metadata
        self._engines: dict[str, sa.Engine] = {}
        self._logger: MetricLogger | None = None
        self._writer: Any = None
        self._lock = threading.Lock()

    # identity -------------------------------------------------------------------------------------------
    @property
    def path(self) -> Path:
        """The run's folder."""
        return self._path

    @property
    def name(self) -> str:
        return str(self._metadata.get("name", self._path.name.rpartition("_")[0]))

    @property
    def iteration(self) -> int:
        return int(self._metadata.get("iteration", self._path.name.rpartition("_")[2] or 0))

    @property
    def description(self) -> str:
        return str(self._metadata.get("description", ""))

    @property
    def timestamp(self) -> datetime:
        """When the run was created (local time)."""
        return datetime.fromisoformat(self._metadata["timestamp"])

    @property
    def metadata(self) -> Metadata:
        """Persisted dict: item assignment rewrites ``metadata.json`` atomically."""
        return self._metadata

    def __repr__(self) -> str:
        return f"Experiment(name={self.name!r}, iteration={self.iteration}, path='{self._path}')"

    # files ----------------------------------------------------------------------------------------------
    def _resolve(self, filename: str | os.PathLike[str]) -> Path:
        target = (self._path / filename).resolve()
        if target != self._path and self._path not in target.parents:
            raise ValueError(
                f"files of an experiment must stay inside its folder, but {os.fspath(filename)!r} "
                f"resolves to {target}; use a path relative to {self._path}"
            )
        return target

    def open(
        self,
        filename: str | os.PathLike[str],
        mode: str = "r",
        string_only: bool = False,
        **kwargs: Any,
    ) -> IO[Any] | str:
        """Open ``filename`` inside the run's folder (creating sub-folders when writing).

        With ``string_only=True`` return the absolute path as a str instead of a handle, for libraries that
        want a path. Paths escaping the folder are refused with ``ValueError``.
        """
        target = self._resolve(filename)
        if any(c in mode for c in "wax+"):
            target.parent.mkdir(parents=True, exist_ok=True)
        if string_only:
            return str(target)
        return open(target, mode, **kwargs)

    def files(self) -> list[str]:
        """Every file in the run's folder, relative paths, sorted (hidden and SQLite side files skipped)."""
        out = []
        for p in self._path.rglob("*"):
            rel = p.relative_to(self._path)
            hidden = any(part.startswith(".") for part in rel.parts)
            if p.is_file() and not hidden and not p.name.endswith(("-wal", "-shm", "-journal")):
                out.append(rel.as_posix())
        return sorted(out)

    # databases ------------------------------------------------------------------------------------------
    def get_engine(self, name: str) -> sa.Engine:
        """A SQLAlchemy Engine on ``name.sqlite`` in the folder (WAL journal, busy timeout), cached."""
        if not isinstance(name, str) or not name:
            raise ValueError(f"an engine name must be a non-empty str, but got {name!r}")
        stem = name.removesuffix(".sqlite")
        with self._lock:
            engine = self._engines.get(stem)
            if engine is None:
                engine = sqlite_engine(self._resolve(f"{stem}.sqlite"))
                self._engines[stem] = engine
        return engine

    @property
    def logger(self) -> MetricLogger:
        """The batched logger behind :meth:`log` (tables live in ``logs.sqlite``)."""
        if self._logger is not None:
            return self._logger
        with self._lock:
            if self._logger is None:
                self._logger = MetricLogger(sqlite_engine(self._resolve(f"{LOGS_DB}.sqlite")))
            return self._logger

    def log(self, table: str, data: Mapping[str, Any] | Any, step: int | None = None) -> None:
        """Append a dict of scalar metrics (one row) or a Message (its rows) to ``table`` in ``logs.sqlite``.

        Rows are buffered and written in batches (see :class:`~fireworks.experiment.metrics.MetricLogger`);
        each gets ``step`` (given, or the table's next) and ``time``. New metric names add columns.
        """
        self.logger.log(table, data, step)

    def read(self, table: str) -> Any:
        """Every row logged to ``table`` as a Message (buffered rows are flushed first)."""
        return self.logger.read(table)

    def tables(self) -> list[str]:
        """Names of the tables logged with :meth:`log`."""
        if self._logger is None and not (self._path / f"{LOGS_DB}.sqlite").exists():
            return []
        return self.logger.tables()

    def flush(self) -> None:
        """Write buffered log rows and TensorBoard events now."""
        if self._logger is not None:
            self._logger.flush()
        if self._writer is not None:
            self._writer.flush()

    def tensorboard(self, subdir: str = "tensorboard", **kwargs: Any) -> Any:
        """A ``torch.utils.tensorboard.SummaryWriter`` whose event files live in ``subdir`` of the folder."""
        optional_import("tensorboard", "tensorboard", "Experiment.tensorboard()")
        tb = optional_import("torch.utils.tensorboard", "tensorboard", "Experiment.tensorboard()")
        with self._lock:
            if self._writer is None:
                self._writer = tb.SummaryWriter(log_dir=str(self._resolve(subdir)), **kwargs)
            return self._writer

    # reproducibility --------------------------------------------------------------------------------------
    def seed(self, seed: int | None = None) -> int:
        """Seed ``random``, numpy and torch with ``seed`` (a fresh one if None) and record it in metadata."""
        import torch

        if seed is None:
            seed = int.from_bytes(os.urandom(4), "little")
        if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool) or seed < 0:
            raise ValueError(f"a seed must be a non-negative int, but got {seed!r}")
        seed = int(seed)
        random.seed(seed)
        np.random.seed(seed % 2**32)
        torch.manual_seed(seed)
        self._metadata["seeds"] = [*self._metadata.get("seeds", []), seed]
        return seed

    # checkpoints ----------------------------------------------------------------------------------------
    def save_checkpoint(self, obj: Any, filename: str = "checkpoint.ckpt") -> Path:
        """Save ``obj.state_dict()`` atomically to ``filename`` inside the folder; returns the path."""
        return save_checkpoint(obj, self._resolve(filename))

    def load_checkpoint(self, obj: Any, filename: str = "checkpoint.ckpt") -> Any:
        """Load ``filename`` from the folder into ``obj`` and return it."""
        return load_checkpoint(obj, self._resolve(filename))

    # lifetime -------------------------------------------------------------------------------------------
    def close(self) -> None:
        """Flush logs, close the TensorBoard writer and dispose of the engines. Reopen with load_experiment."""
        if self._logger is not None:
            self._logger.close()
            self._logger.engine.dispose()
            self._logger = None
        if self._writer is not None:
            self._writer.close()
            self._writer = None
        for engine in self._engines.values():
            engine.dispose()
        self._engines.clear()

    def __enter__(self) -> Experiment:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def load_experiment(path: str | os.PathLike[str]) -> Experiment:
    """Reopen the run in folder ``path``: its name, iteration, description, timestamp, metadata and tables."""
    return Experiment._open(path)


def list_experiments(
    root: str | os.PathLike[str] = ".", name: str | None = None
) -> list[dict[str, Any]]:
    """Every run under ``root`` (optionally only those of ``name``), sorted by name then iteration.

    Each entry is a dict with ``name``, ``iteration``, ``path``, ``timestamp`` (ISO str), ``description``,
    ``git_commit`` and ``seeds``. Folders without ``metadata.json`` are skipped.
    """
    root_path = Path(root)
    if not root_path.is_dir():
        raise FileNotFoundError(f"no folder {root_path} to list experiments in")
    runs = []
    for folder in root_path.iterdir():
        meta_path = folder / METADATA_FILE
        if not meta_path.is_file():
            continue
        try:
            meta = json.loads(meta_path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError):
            continue
        if not isinstance(meta, dict) or (name is not None and meta.get("name") != name):
            continue
        git = (meta.get("environment") or {}).get("git") or {}
        runs.append(
            {
                "name": meta.get("name", folder.name),
                "iteration": meta.get("iteration", 0),
                "path": str(folder.resolve()),
                "timestamp": meta.get("timestamp", ""),
                "description": meta.get("description", ""),
                "git_commit": git.get("commit"),
                "seeds": meta.get("seeds", []),
            }
        )
    runs.sort(key=lambda r: (str(r["name"]), int(r["iteration"])))
    return runs
