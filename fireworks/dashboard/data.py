"""What the dashboard shows, as plain functions over the experiment folders under ROOT (no Dash here).

Runs are the folders holding a ``metadata.json`` (written by :class:`~fireworks.experiment.Experiment`),
directly under ROOT or one level deeper. Everything is read through :func:`~fireworks.dashboard.paths.safe_path`
and SQLite files are opened read-only. A run whose metadata or database cannot be read still gets a row, with
the error, so one broken folder never hides the others.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import os
import re
import sqlite3
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fireworks.dashboard.paths import UnsafePathError, relative_to_root, safe_path
from fireworks.dashboard.sqlbrowser import connect_readonly, list_tables, quote

METADATA_FILE = "metadata.json"
LOGS_DB = "logs.sqlite"
FACTORY_DB = "factory.sqlite"
PLOTS_DIR = "plots"
LIVE_SECONDS = 60.0
TEXT_SUFFIXES = frozenset(
    [
        ".txt",
        ".log",
        ".md",
        ".rst",
        ".csv",
        ".tsv",
        ".py",
        ".yaml",
        ".yml",
        ".toml",
        ".cfg",
        ".ini",
        ".mmd",
        ".dot",
        ".html",
        ".xml",
        ".out",
        ".err",
    ]
)
IMAGE_SUFFIXES = frozenset([".png", ".jpg", ".jpeg", ".gif", ".svg", ".webp"])
SQLITE_SUFFIXES = frozenset([".sqlite", ".sqlite3", ".db"])
MAX_PREVIEW_BYTES = 200_000
_PLOT_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
_SIDE_FILES = ("-wal", "-shm", "-journal")


class RunError(Exception):
    """A run folder cannot be shown (missing or unreadable metadata); the message says why."""


@dataclass
class RunSummary:
    """One row of the runs page."""

    id: str  # path relative to ROOT, the run's address in the dashboard
    name: str
    iteration: int
    timestamp: str
    description: str
    status: str
    commit: str
    metrics: dict[str, float] = field(default_factory=dict)
    error: str | None = None

    def row(self) -> dict[str, Any]:
        """A flat dict for a table: fixed fields, then one column per metric."""
        out: dict[str, Any] = {
            "id": self.id,
            "name": self.name,
            "iteration": self.iteration,
            "time": self.timestamp[:19].replace("T", " "),
            "description": self.description,
            "status": self.status,
            "commit": self.commit[:10],
        }
        out.update(self.metrics)
        if self.error:
            out["error"] = self.error
        return out


def find_runs(root: str | os.PathLike[str]) -> list[Path]:
    """Run folders under ``root`` (and one level below, for runs grouped in sub-folders), sorted."""
    base = Path(root).resolve()
    if not base.is_dir():
        raise FileNotFoundError(
            f"no folder {base} to show experiments from; create runs with Experiment"
        )
    found: list[Path] = []
    linked: set[Path] = (
        set()
    )  # reached through a symlink: may lie outside ROOT, so resolved and checked
    for child in sorted(os.scandir(base), key=lambda e: e.name):
        if child.name.startswith(".") or not child.is_dir():
            continue
        if os.path.exists(os.path.join(child.path, METADATA_FILE)):
            found.append(Path(child.path))
            if child.is_symlink():
                linked.add(found[-1])
            continue
        try:
            subs = sorted(os.scandir(child.path), key=lambda e: e.name)
        except OSError:
            continue
        for sub in subs:
            if sub.is_dir() and os.path.exists(os.path.join(sub.path, METADATA_FILE)):
                found.append(Path(sub.path))
                if child.is_symlink() or sub.is_symlink():
                    linked.add(found[-1])
    return [p for p in found if p not in linked or _inside(base, p)]


def _inside(base: Path, path: Path) -> bool:
    resolved = path.resolve()
    return resolved == base or base in resolved.parents


def read_metadata(run: Path) -> dict[str, Any]:
    """The run's ``metadata.json`` as a dict, or :class:`RunError` saying what is wrong with it."""
    meta_path = run / METADATA_FILE
    try:
        text = meta_path.read_text(encoding="utf-8")
    except FileNotFoundError as err:
        raise RunError(
            f"{run.name} has no {METADATA_FILE}: it is not an experiment folder"
        ) from err
    except OSError as err:
        raise RunError(f"cannot read {meta_path.name} of {run.name}: {err}") from err
    try:
        data = json.loads(text)
    except json.JSONDecodeError as err:
        raise RunError(f"{METADATA_FILE} of {run.name} is not valid JSON: {err}") from err
    if not isinstance(data, dict):
        raise RunError(
            f"{METADATA_FILE} of {run.name} must hold an object, not {type(data).__name__}"
        )
    return data


def _stat_key(run: Path) -> tuple[Any, ...]:
    key: list[Any] = []
    folder = os.fspath(run)
    for name in (METADATA_FILE, LOGS_DB, LOGS_DB + "-wal", FACTORY_DB, FACTORY_DB + "-wal"):
        try:
            st = os.stat(os.path.join(folder, name))
        except OSError:
            key.append(None)
            continue
        # an empty WAL holds nothing (a reader may create one): the same as none
        key.append((st.st_mtime_ns, st.st_size) if st.st_size or name[-4:] != "-wal" else None)
    return tuple(key)


def db_stamp(path: str | os.PathLike[str]) -> str:
    """(mtime, size) of an SQLite file and its WAL: when it is unchanged, a live refresh can skip the read.

    A string, because the stamp makes a round trip through the browser: as JSON numbers, nanosecond mtimes
    (about 1.8e18, above 2**53) come back rounded, and the stamp would never equal a fresh one again.
    """
    out: list[str] = []
    for suffix in ("", "-wal"):
        try:
            st = os.stat(f"{os.fspath(path)}{suffix}")
            out.append(f"{st.st_mtime_ns}:{st.st_size}")
        except OSError:
            out.append("-")
    return " ".join(out)


def _newest_write(key: tuple[Any, ...]) -> float:
    times = [k[0] for k in key if k is not None]
    return max(times) / 1e9 if times else 0.0


_SUMMARIES: dict[Path, tuple[tuple[Any, ...], RunSummary]] = {}


def last_metrics(db: Path) -> dict[str, float]:
    """``table.column`` → value of the last logged row of every table in a metric log (numbers only)."""
    out: dict[str, float] = {}
    if not db.is_file():
        return out
    conn = connect_readonly(db)
    try:
        tables = [
            r[0]
            for r in conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name"
            )
            if not r[0].startswith(("sqlite_", "_fireworks"))
        ]
        for table in tables:
            cur = conn.execute(f"SELECT * FROM {quote(table)} ORDER BY rowid DESC LIMIT 1")
            row = cur.fetchone()
            if row is None:
                continue
            for (col, *_), value in zip(cur.description, row):
                if col in ("step", "time") or isinstance(value, bool):
                    continue
                if isinstance(value, (int, float)) and math.isfinite(value):
                    out[f"{table}.{col}"] = value
    finally:
        conn.close()
    return out


def summarise_run(
    root: str | os.PathLike[str],
    run: Path,
    now: float | None = None,
    key: tuple[Any, ...] | None = None,
) -> RunSummary:
    """The runs-page row of ``run``; cached until one of its metadata or database files changes."""
    key = _stat_key(run) if key is None else key
    cached = _SUMMARIES.get(run)
    now = time.time() if now is None else now
    if cached is not None and cached[0] == key:
        summary = cached[1]
    else:
        summary = _summarise(root, run)
        _SUMMARIES[run] = (key, summary)
    if summary.error is None and summary.status in ("running", "finished"):
        live = now - _newest_write(key) < LIVE_SECONDS
        summary.status = "running" if live else "finished"
    return summary


def _summarise(root: str | os.PathLike[str], run: Path) -> RunSummary:
    base = Path(root).resolve()
    rel = run.relative_to(base).as_posix() if base in run.parents else relative_to_root(base, run)
    try:
        meta = read_metadata(run)
    except RunError as err:
        return RunSummary(rel, run.name, 0, "", "", "error", "", error=str(err))
    git = (meta.get("environment") or {}).get("git") or {}
    metrics: dict[str, float] = {}
    for k, v in (
        (meta.get("metrics") or {}).items() if isinstance(meta.get("metrics"), dict) else ()
    ):
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            metrics[str(k)] = v
    best = meta.get("best_trial")
    if isinstance(best, dict) and isinstance(best.get("metrics"), dict):
        for k, v in best["metrics"].items():
            if isinstance(v, (int, float)) and not isinstance(v, bool):
                metrics[f"best.{k}"] = v
    error = None
    try:
        metrics.update(last_metrics(run / LOGS_DB))
    except sqlite3.Error as err:
        error = f"{LOGS_DB} is unreadable: {err}"
    status = str(meta["status"]) if isinstance(meta.get("status"), str) else "finished"
    return RunSummary(
        id=rel,
        name=str(meta.get("name", run.name)),
        iteration=int(meta.get("iteration", 0)) if str(meta.get("iteration", 0)).isdigit() else 0,
        timestamp=str(meta.get("timestamp", "")),
        description=str(meta.get("description", "")),
        status=status,
        commit=str(git.get("commit") or ""),
        metrics=metrics,
        error=error,
    )


def list_runs(root: str | os.PathLike[str]) -> list[RunSummary]:
    """Every run under ``root``, newest first.

    A run's summary is made once and kept until one of its metadata or database files changes (size or
    modification time); the summaries also outlive the process in :func:`summary_cache_file`, so a dashboard
    restarted over the same runs lists 1,000 of them without opening 1,000 SQLite files.
    """
    now = time.time()
    folders = find_runs(root)
    base = Path(root).resolve()
    with (
        _LISTING
    ):  # one listing at a time: a request during the warm-up waits for it, not redoes it
        _load_cache(base)
        keys = {p: _stat_key(p) for p in folders}
        stale = [p for p in folders if (c := _SUMMARIES.get(p)) is None or c[0] != keys[p]]
        if (
            len(stale) > 1
        ):  # cold summaries open one SQLite file each; sqlite3 releases the GIL meanwhile
            with ThreadPoolExecutor(max_workers=min(4, len(stale))) as pool:
                list(pool.map(lambda p: summarise_run(root, p, now, keys[p]), stale))
        runs = [summarise_run(root, p, now, keys[p]) for p in folders]
        if stale:
            _save_cache(base, folders, force=len(stale) > 10)
    runs.sort(key=lambda r: (r.timestamp, r.id), reverse=True)
    return runs


_LISTING = threading.Lock()
_CACHE_LOADED: set[Path] = set()
_CACHE_SAVED: dict[Path, float] = {}
_CACHE_VERSION = 1
_CACHE_KEEP = 64  # cache files kept (one per ROOT); the least recently written go first


def summary_cache_file(root: str | os.PathLike[str]) -> Path | None:
    """Where the run summaries of ``root`` are kept between dashboard starts, or None when that is off.

    The folder is ``$FIREWORKS_DASHBOARD_CACHE`` when set (empty turns the cache off), else
    ``$XDG_CACHE_HOME/fireworks/dashboard`` (``~/.cache/...``); the file is named by a hash of ROOT. It holds
    JSON only (names, metadata fields, last metric values, file sizes and times), never anything executed.
    """
    folder = os.environ.get("FIREWORKS_DASHBOARD_CACHE")
    if folder is None:
        xdg = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
        folder = os.path.join(xdg, "fireworks", "dashboard")
    if not folder:
        return None
    digest = hashlib.sha256(os.fspath(Path(root).resolve()).encode()).hexdigest()[:24]
    return Path(folder) / f"runs-{digest}.json"


def _load_cache(base: Path) -> None:
    if base in _CACHE_LOADED:
        return
    _CACHE_LOADED.add(base)
    path = summary_cache_file(base)
    try:
        if path is None or not path.is_file():
            return
        saved = json.loads(path.read_text(encoding="utf-8"))
        if saved.get("version") != _CACHE_VERSION or saved.get("root") != os.fspath(base):
            return
        for rel, entry in saved["runs"].items():
            folder = base / rel
            key = tuple(tuple(k) if k is not None else None for k in entry["key"])
            if folder not in _SUMMARIES:
                _SUMMARIES[folder] = (key, RunSummary(**entry["summary"]))
    except (OSError, ValueError, TypeError, KeyError, AttributeError):
        return  # a damaged or foreign cache file is ignored (and replaced by the next save)


def _save_cache(base: Path, folders: list[Path], force: bool) -> None:
    path = summary_cache_file(base)
    last = _CACHE_SAVED.get(base, 0.0)
    if path is None or (not force and time.monotonic() - last < 10.0):
        return  # a live run changes every few seconds; its summary is saved at most every 10 s
    _CACHE_SAVED[base] = time.monotonic()
    runs: dict[str, Any] = {}
    for folder in folders:
        cached = _SUMMARIES.get(folder)
        if cached is not None and base in folder.parents:
            runs[folder.relative_to(base).as_posix()] = {
                "key": cached[0],
                "summary": dataclasses.asdict(cached[1]),
            }
    payload = {"version": _CACHE_VERSION, "root": os.fspath(base), "runs": runs}
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".runs-", suffix=".tmp")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                json.dump(payload, f)
            os.replace(tmp, path)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
        olds = sorted(path.parent.glob("runs-*.json"), key=lambda p: p.stat().st_mtime)
        for old in olds[:-_CACHE_KEEP]:
            old.unlink(missing_ok=True)
    except OSError:
        return  # a cache that cannot be written only makes the next start slower


def filter_runs(
    runs: list[RunSummary], search: str = "", status: str | None = None
) -> list[RunSummary]:
    """Runs whose name, description, id or commit contains every word of ``search`` (case-insensitive)."""
    words = search.lower().split()
    out = []
    for r in runs:
        text = f"{r.id} {r.name} {r.description} {r.commit}".lower()
        if all(w in text for w in words) and (not status or r.status == status):
            out.append(r)
    return out


def compare_metrics(summaries: list[RunSummary]) -> tuple[list[str], list[dict[str, Any]]]:
    """Metrics of several runs side by side: (columns, rows), one row per metric, one column per run."""
    names = sorted({k for s in summaries for k in s.metrics})
    columns = ["metric", *[s.id for s in summaries]]
    rows = [{"metric": n, **{s.id: s.metrics.get(n) for s in summaries}} for n in names]
    return columns, rows


# -- one run ------------------------------------------------------------------------------------------


def open_run(root: str | os.PathLike[str], run_id: str) -> tuple[Path, dict[str, Any]]:
    """The folder and metadata of run ``run_id`` (a path relative to ROOT); RunError/UnsafePathError if not."""
    folder = safe_path(root, run_id)
    if not folder.is_dir():
        raise RunError(f"no run folder {run_id!r} under the dashboard's root")
    return folder, read_metadata(folder)


def file_kind(name: str) -> str:
    """``"json"``, ``"text"``, ``"image"``, ``"sqlite"`` or ``"other"`` (shown as a download)."""
    suffix = Path(name).suffix.lower()
    if suffix == ".json":
        return "json"
    if suffix in TEXT_SUFFIXES:
        return "text"
    if suffix in IMAGE_SUFFIXES:
        return "image"
    if suffix in SQLITE_SUFFIXES:
        return "sqlite"
    return "other"


def run_files(root: str | os.PathLike[str], run_id: str) -> list[dict[str, Any]]:
    """Files of a run (relative to ROOT) with size and kind; hidden files, SQLite side files and symlinks
    pointing outside ROOT are left out."""
    folder = safe_path(root, run_id)
    base = Path(root).resolve()
    out = []
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in sorted(filenames):
            if name.startswith(".") or name.endswith(_SIDE_FILES):
                continue
            path = Path(dirpath) / name
            if not _inside(base, path):
                continue
            try:
                size = path.stat().st_size
            except OSError:
                continue
            out.append(
                {
                    "path": path.relative_to(base).as_posix(),
                    "name": Path(dirpath, name).relative_to(folder).as_posix(),
                    "size": size,
                    "kind": file_kind(name),
                }
            )
    return out


def read_preview(root: str | os.PathLike[str], rel: str) -> dict[str, Any]:
    """What the run page shows for file ``rel``: ``{"kind", "text"}`` for text and JSON (pretty-printed,
    truncated at 200 kB), ``{"kind": "image"|"other"}`` otherwise (served by URL)."""
    path = safe_path(root, rel)
    if not path.is_file():
        raise FileNotFoundError(f"no file {rel!r} under the dashboard's root")
    kind = file_kind(path.name)
    if kind not in ("json", "text"):
        return {"kind": kind, "size": path.stat().st_size}
    with open(path, "rb") as f:
        raw = f.read(MAX_PREVIEW_BYTES + 1)
    truncated = len(raw) > MAX_PREVIEW_BYTES
    text = raw[:MAX_PREVIEW_BYTES].decode("utf-8", errors="replace")
    if kind == "json" and not truncated:
        try:
            text = json.dumps(json.loads(text), indent=2)
        except json.JSONDecodeError as err:
            return {"kind": "text", "text": text, "error": f"not valid JSON: {err}"}
    return {"kind": kind, "text": text, "truncated": truncated}


def sqlite_files(root: str | os.PathLike[str], run_id: str) -> list[str]:
    """The SQLite files of a run (paths relative to ROOT)."""
    return [f["path"] for f in run_files(root, run_id) if f["kind"] == "sqlite"]


def database_tables(root: str | os.PathLike[str], db: str) -> dict[str, Any]:
    """``{"tables": [TableInfo...]}`` of the SQLite file ``db``, or ``{"error": ...}`` if it cannot be read."""
    try:
        return {"tables": list_tables(safe_path(root, db))}
    except (sqlite3.Error, UnsafePathError, OSError) as err:
        return {"error": f"{db} cannot be read as SQLite: {err}"}


def dry_run_reports(root: str | os.PathLike[str], run_id: str) -> list[dict[str, Any]]:
    """Saved dry-run reports of a run: JSON files named ``dry_run*.json`` / ``dryrun*.json`` holding
    ``DryRunReport.to_dict()``; each entry has ``path`` and ``report`` or ``error``."""
    out: list[dict[str, Any]] = []
    for f in run_files(root, run_id):
        name = Path(f["path"]).name.lower()
        if f["kind"] == "json" and name.startswith(("dry_run", "dryrun", "dry-run")):
            try:
                report = json.loads(safe_path(root, f["path"]).read_text(encoding="utf-8"))
                if not isinstance(report, dict) or not isinstance(report.get("nodes"), list):
                    raise ValueError("it has no 'nodes' list (save DryRunReport.to_dict())")
                out.append({"path": f["path"], "report": report})
            except (OSError, ValueError) as err:
                out.append({"path": f["path"], "error": f"{f['path']}: {err}"})
    return out


def pipeline_pictures(root: str | os.PathLike[str], run_id: str) -> list[dict[str, Any]]:
    """Pictures of the run's pipeline: files named ``pipeline*`` / ``graph*`` that are images, Mermaid
    (``.mmd``) or Graphviz (``.dot``) text."""
    out = []
    for f in run_files(root, run_id):
        name = Path(f["path"]).name.lower()
        if name.startswith(("pipeline", "graph")) and (
            f["kind"] == "image" or name.endswith((".mmd", ".dot"))
        ):
            out.append(f)
    return out


_EDGE = re.compile(r"^\s*(\w+)\s*-(?:->|\->)\s*(?:\|([^|]*)\|\s*)?(\w+)")
_DOT_EDGE = re.compile(r"^\s*(\w+)\s*->\s*(\w+)")
_MMD_NODE = re.compile(r'^\s*(\w+)\["(.*)"\]\s*$')
_DOT_NODE = re.compile(r'^\s*(\w+)\s*\[label="((?:[^"\\]|\\.)*)"\]')


def parse_graph(text: str) -> tuple[dict[str, str], list[tuple[str, str]]]:
    """Nodes (id → label) and edges of a pipeline picture in Mermaid or DOT text (as Fireworks writes them)."""
    nodes: dict[str, str] = {}
    edges: list[tuple[str, str]] = []
    for line in text.splitlines():
        if m := _MMD_NODE.match(line):
            nodes[m.group(1)] = m.group(2).replace("#quot;", '"')
        elif m := _DOT_NODE.match(line):
            nodes[m.group(1)] = m.group(2).replace('\\"', '"').replace("\\\\", "\\")
        elif m := _EDGE.match(line):
            edges.append((m.group(1), m.group(3)))
        elif m := _DOT_EDGE.match(line):
            edges.append((m.group(1), m.group(2)))
    for a, b in edges:
        nodes.setdefault(a, a)
        nodes.setdefault(b, b)
    return nodes, edges


def layer_layout(nodes: dict[str, str], edges: list[tuple[str, str]]) -> dict[str, tuple[int, int]]:
    """Column (longest path from a source) and row of every node: a left-to-right picture of a DAG."""
    incoming: dict[str, list[str]] = {n: [] for n in nodes}
    for a, b in edges:
        incoming.setdefault(b, []).append(a)
    depth: dict[str, int] = {}

    def visit(n: str, seen: frozenset[str]) -> int:
        if n in depth:
            return depth[n]
        if n in seen:  # a cycle: draw it anyway
            return 0
        d = max((visit(p, seen | {n}) + 1 for p in incoming.get(n, [])), default=0)
        depth[n] = d
        return d

    for n in nodes:
        visit(n, frozenset())
    rows: dict[int, int] = {}
    out = {}
    for n in nodes:
        col = depth[n]
        out[n] = (col, rows.get(col, 0))
        rows[col] = rows.get(col, 0) + 1
    return out


# -- saved plot specs ---------------------------------------------------------------------------------


def check_plot_name(name: str) -> str:
    if not isinstance(name, str) or not _PLOT_NAME.fullmatch(name):
        raise ValueError(
            f"a plot name must be 1-64 letters, digits, '_', '.' or '-' starting with a letter or digit, "
            f"but got {name!r}"
        )
    return name


def save_plot_spec(
    root: str | os.PathLike[str], run_id: str, name: str, spec: dict[str, Any]
) -> Path:
    """Write ``spec`` to ``plots/NAME.json`` in the run's folder atomically (the dashboard's only write)."""
    check_plot_name(name)
    folder = safe_path(root, run_id)
    target = safe_path(root, f"{relative_to_root(root, folder)}/{PLOTS_DIR}/{name}.json")
    target.parent.mkdir(exist_ok=True)
    text = json.dumps(spec, indent=2, sort_keys=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target


def saved_plots(root: str | os.PathLike[str], run_id: str) -> list[str]:
    """Names of the plot specs saved in the run."""
    folder = safe_path(root, run_id) / PLOTS_DIR
    if not folder.is_dir():
        return []
    return sorted(p.stem for p in folder.glob("*.json") if _PLOT_NAME.fullmatch(p.stem))


def load_plot_spec(root: str | os.PathLike[str], run_id: str, name: str) -> dict[str, Any]:
    """The spec saved as ``name`` in the run."""
    check_plot_name(name)
    path = safe_path(root, f"{run_id}/{PLOTS_DIR}/{name}.json")
    try:
        spec = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as err:
        raise KeyError(
            f"no saved plot {name!r} in {run_id}; saved: {saved_plots(root, run_id)}"
        ) from err
    if not isinstance(spec, dict):
        raise ValueError(f"plot spec {name!r} must be a JSON object")
    return spec
