"""TensorBoard and Visdom servers launched on demand for a run, on a free port of 127.0.0.1.

Each server is a child process started by :class:`Services`; :meth:`Services.stop_all` ends them (the dashboard
calls it when it stops, and at interpreter exit). Both tools are optional extras: a missing one raises
:class:`~fireworks.exceptions.MissingDependencyError` with the ``pip install`` line.
"""

from __future__ import annotations

import atexit
import contextlib
import importlib.util
import math
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from fireworks._imports import install_hint
from fireworks.exceptions import FireworksError, MissingDependencyError

HOST = "127.0.0.1"
START_TIMEOUT_S = 60.0


class ServiceError(FireworksError):
    """A TensorBoard or Visdom server did not start; the message holds its last output."""


def free_port(host: str = HOST) -> int:
    """A TCP port nothing listens on right now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def _require(module: str, extra: str, feature: str) -> None:
    if importlib.util.find_spec(module) is None:
        raise MissingDependencyError(
            f"{feature} needs the optional package {module!r}, which is not installed; "
            f"install it with: {install_hint(extra)}"
        )


def _wait_http(url: str, proc: subprocess.Popen[bytes], log: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            break
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except urllib.error.HTTPError:  # it answers, if only with an error page: it is up
            return
        except OSError:
            time.sleep(0.2)
    tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
    with contextlib.suppress(OSError):
        proc.kill()
    raise ServiceError(
        f"the server at {url} did not answer within {timeout:.0f} s; its output:\n{tail}"
    )


class Services:
    """The tool servers of one dashboard, one per (tool, run), stopped together.

    >>> services = Services()
    >>> services.running()
    {}
    >>> services.stop_all()
    """

    def __init__(self) -> None:
        self._procs: dict[tuple[str, str], tuple[subprocess.Popen[bytes], str]] = {}
        self._lock = threading.Lock()
        self._logs = Path(tempfile.mkdtemp(prefix="fireworks-dashboard-"))
        atexit.register(self.stop_all)

    def running(self) -> dict[tuple[str, str], str]:
        """(tool, key) → URL of the servers still alive."""
        with self._lock:
            return {k: url for k, (p, url) in self._procs.items() if p.poll() is None}

    def _start(self, tool: str, key: str, args: list[str], probe: str, port: int) -> str:
        with self._lock:
            known = self._procs.get((tool, key))
            if known is not None and known[0].poll() is None:
                return known[1]
            log = self._logs / f"{tool}-{port}.log"
            with open(log, "wb") as out:
                proc = subprocess.Popen(
                    args, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
                )
            url = f"http://{HOST}:{port}/"
            self._procs[(tool, key)] = (proc, url)
        _wait_http(url + probe, proc, log, START_TIMEOUT_S)
        return url

    def tensorboard(self, logdir: str | Path, key: str | None = None) -> str:
        """Start (or reuse) TensorBoard on ``logdir``; returns its URL."""
        _require("tensorboard", "tensorboard", "TensorBoard in the dashboard")
        logdir = Path(logdir)
        if not logdir.is_dir():
            raise FileNotFoundError(
                f"no TensorBoard logs at {logdir}; write them with Experiment.tensorboard()"
            )
        port = free_port()
        args = [
            sys.executable,
            "-m",
            "tensorboard.main",
            "--logdir",
            str(logdir),
            "--host",
            HOST,
            "--port",
            str(port),
            "--reload_interval",
            "5",
        ]
        return self._start("tensorboard", key or str(logdir), args, "", port)

    def visdom(self, key: str = "visdom") -> str:
        """Start (or reuse) a Visdom server; returns its URL."""
        _require("visdom", "visdom", "Visdom in the dashboard")
        port = free_port()
        env_dir = self._logs / f"visdom-{port}"
        env_dir.mkdir()
        # run_server.main() skips the server's download of its JavaScript from CDNs (see visdom_page_ready)
        args = [
            sys.executable,
            "-c",
            "from visdom.server.run_server import main; main()",
            "-port",
            str(port),
            "--hostname",
            HOST,
            "-env_path",
            str(env_dir),
            "-logging_level",
            "WARNING",
        ]
        return self._start("visdom", key, args, "", port)

    def visdom_page_ready(self) -> str | None:
        """None when Visdom's web page has the scripts it needs, else why not and what to do.

        Visdom fetches jQuery, Bootstrap, React, Plotly.js and more from CDNs into its package folder the
        first time ``python -m visdom.server`` runs. The dashboard downloads nothing: it copies the ones that
        ship in Python packages (:func:`provide_visdom_scripts`) and starts the server without the download.
        """
        spec = importlib.util.find_spec("visdom")
        if spec is None or spec.origin is None:
            return install_hint("visdom")
        missing = provide_visdom_scripts(Path(spec.origin).parent / "static")
        if not missing:
            return None
        return (
            "these scripts are neither in Visdom's folder nor in an installed package: "
            + ", ".join(missing)
            + f"; {install_hint('visdom')} brings them, or run once with internet access: "
            'python -c "from visdom.server.build import download_scripts; download_scripts()"'
        )

    def stop_all(self) -> None:
        """Terminate every server this object started (then kill what does not stop within 5 s)."""
        with self._lock:
            procs = [p for p, _ in self._procs.values()]
            self._procs.clear()
        for p in procs:
            if p.poll() is None:
                p.terminate()
        for p in procs:
            try:
                p.wait(timeout=5)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()


def feed_visdom(url: str, env: str, logs_db: Path, max_points: int = 5000) -> list[str]:
    """Plot every numeric column of every table in a run's metric log (``logs.sqlite``) into Visdom
    environment ``env``, one window per column against ``step``; returns the window names."""
    import numpy as np
    import visdom

    from fireworks.dashboard.sqlbrowser import list_tables, read_columns

    host, _, port = url.rstrip("/").rpartition(":")
    vis = visdom.Visdom(
        server=host, port=int(port), env=env, raise_exceptions=True, use_incoming_socket=False
    )
    windows: list[str] = []
    try:
        tables = list_tables(logs_db)
    except sqlite3.Error:
        return windows
    for info in tables:
        if info.name.startswith("_fireworks") or "step" not in info.column_names:
            continue
        for col in info.column_names:
            if col in ("step", "time"):
                continue
            data: dict[str, Any] = read_columns(
                logs_db, info.name, ["step", col], max_points=max_points
            )
            pts = [
                (s, v)
                for s, v in zip(data["step"], data[col])
                if isinstance(v, (int, float))
                and not isinstance(v, bool)
                and math.isfinite(v)
                and isinstance(s, (int, float))
            ]
            if not pts:
                continue
            win = f"{info.name}.{col}"
            vis.line(
                X=np.array([p[0] for p in pts], dtype=float),
                Y=np.array([p[1] for p in pts], dtype=float),
                win=win,
                opts={"title": win, "xlabel": "step", "ylabel": col},
            )
            windows.append(win)
    return windows


# Visdom's page needs these in its static folder (its own download puts them there from CDNs); each comes from
# a Python package when that is installed: (file under static/, package, file in the package)
VISDOM_SCRIPTS = (
    ("js/jquery.min.js", "xstatic.pkg.jquery", "data/jquery.min.js"),
    ("js/plotly-plotly.min.js", "plotly", "package_data/plotly.min.js"),
    ("js/bootstrap.min.js", "xstatic.pkg.bootstrap", "data/js/bootstrap.min.js"),
    ("css/bootstrap.min.css", "xstatic.pkg.bootstrap", "data/css/bootstrap.min.css"),
    ("js/react-react.min.js", "dash", "deps/react@16.14.0.min.js"),
    ("js/react-dom.min.js", "dash", "deps/react-dom@16.14.0.min.js"),
)
# without these the page is blank (jQuery for its requests, Plotly.js for every plot, the bin packer that
# places the panes); the others only style it, and what no package ships (d3 for graph panes, MathJax, the SVG
# saver) leaves just those features out
VISDOM_ESSENTIAL = ("js/jquery.min.js", "js/plotly-plotly.min.js", "js/layout_bin_packer.js")

# Visdom's page uses one class of the `layout-bin-packer` npm package, which no Python package ships: the
# global `Bin.ShelfFirst(content, width)`, whose `position(i, width)` places pane i (content[k] = {width,
# height}) left to right on shelves as high as their highest pane. This is that placement, written here.
VISDOM_BIN_PACKER = """(function () {
  function ShelfFirst(content, width) { this.content = content || []; this.width = width; }
  ShelfFirst.prototype.position = function (index, width) {
    var cols = width || this.width, x = 0, y = 0, shelf = 0, at = {x: 0, y: 0};
    for (var i = 0; i <= index && i < this.content.length; i++) {
      var w = this.content[i].width, h = this.content[i].height;
      if (x > 0 && x + w > cols) { y += shelf; x = 0; shelf = 0; }
      at = {x: x, y: y};
      x += w; shelf = Math.max(shelf, h);
    }
    return at;
  };
  window.Bin = {ShelfFirst: ShelfFirst};
})();
"""


def provide_visdom_scripts(static: Path) -> list[str]:
    """Copy the scripts Visdom's page loads into its ``static`` folder from installed Python packages (where
    they are missing); returns the essential ones still missing (empty: the page works offline)."""
    import shutil

    for target, package, rel in VISDOM_SCRIPTS:
        dest = static / target
        if dest.exists():
            continue
        try:
            spec = importlib.util.find_spec(package)
        except (ImportError, ValueError):
            continue
        if spec is None or not spec.submodule_search_locations:
            continue
        source = Path(next(iter(spec.submodule_search_locations))) / rel
        if not source.is_file():
            continue
        with contextlib.suppress(
            OSError
        ):  # a read-only install: the page then says what is missing
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, dest)
        if (
            target == "css/bootstrap.min.css"
        ):  # its glyph fonts, which the stylesheet finds in ../fonts
            fonts = source.parent.parent / "fonts"
            with contextlib.suppress(OSError):
                shutil.copytree(fonts, static / "fonts", dirs_exist_ok=True)
    packer = static / "js" / "layout_bin_packer.js"
    if not packer.exists():
        with contextlib.suppress(OSError):
            packer.write_text(VISDOM_BIN_PACKER, encoding="utf-8")
    return [name for name in VISDOM_ESSENTIAL if not (static / name).exists()]
