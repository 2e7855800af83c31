"""The Dash app's HTTP surface (file route, command line) without a browser."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from fireworks import Experiment
from fireworks.cli import build_parser
from fireworks.dashboard import create_app


@pytest.fixture
def root(tmp_path: Path) -> Path:
    runs = tmp_path / "runs"
    with Experiment("r", root=runs) as exp:
        exp.log("train", {"loss": 1.0})
    (exp.path / "notes.txt").write_text("hello")
    (exp.path / "page.html").write_text("<script>alert(1)</script>")
    (tmp_path / "secret.txt").write_text("secret")
    os.symlink(tmp_path / "secret.txt", exp.path / "link.txt")
    return runs


def test_files_are_served_only_from_inside_root(root: Path) -> None:
    client = create_app(root).server.test_client()
    ok = client.get("/files/r_0/notes.txt")
    assert ok.status_code == 200 and ok.data == b"hello"
    assert ok.headers["X-Content-Type-Options"] == "nosniff"
    for attempt in (
        "/files/../secret.txt",
        "/files/r_0/../../secret.txt",
        "/files/%2E%2E/secret.txt",
        "/files/r_0/link.txt",
        "/files//etc/passwd",
        "/files/r_0/%2E%2E/%2E%2E/secret.txt",
    ):
        resp = client.get(attempt)
        # refused, or not a file route at all (Dash answers unknown paths with its page)
        assert resp.status_code in (403, 404) or b"_dash-config" in resp.data, attempt
        assert b"secret" not in resp.data and b"root:" not in resp.data
    assert client.get("/files/r_0/missing.txt").status_code == 404
    html = client.get("/files/r_0/page.html")
    assert html.headers["Content-Type"].startswith(
        "text/plain"
    ) or "attachment" in html.headers.get("Content-Disposition", "")


def test_create_app_needs_an_existing_root(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="no folder"):
        create_app(tmp_path / "absent")


def test_command_line_defaults_bind_localhost() -> None:
    args = build_parser().parse_args(["dashboard"])
    assert (args.root, args.host, args.port) == ("runs", "127.0.0.1", 8050)
    args = build_parser().parse_args(["dashboard", "elsewhere", "--port", "9000"])
    assert (args.root, args.port) == ("elsewhere", 9000)


def test_command_reports_a_missing_root(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "fireworks", "dashboard", str(tmp_path / "nothing")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 1 and "no folder" in done.stderr


def test_command_serves_on_localhost_until_stopped(root: Path) -> None:
    import time
    import urllib.request

    from fireworks.dashboard.services import free_port

    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "fireworks", "dashboard", str(root), "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline, body = time.monotonic() + 90, ""
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2) as resp:
                    body = resp.read().decode()
                break
            except OSError:
                time.sleep(0.3)
        assert "<title>Fireworks dashboard</title>" in body
        with urllib.request.urlopen(
            f"http://127.0.0.1:{port}/files/r_0/notes.txt", timeout=5
        ) as resp:
            assert resp.read() == b"hello"
    finally:
        proc.terminate()
        out, _ = proc.communicate(timeout=30)
    assert f"http://127.0.0.1:{port}/" in out


def test_the_runs_page_is_in_the_first_responses(root: Path) -> None:
    """The runs table comes with the page's HTML (first paint) and with its layout (no callback first)."""
    client = create_app(root).server.test_client()
    page = client.get("/").get_data(as_text=True)
    assert 'id="fw-first-paint"' in page and '<a href="/run/r_0">r</a>' in page
    assert "<script defer src=" in page  # the scripts do not hold up the first paint
    layout = client.get("/_dash-layout", headers={"Referer": "http://localhost/"}).get_json()
    text = json.dumps(layout)
    assert '"id": "runs-grid"' in text and "[r](/run/r_0)" in text and "1 of 1 runs" in text
    run = client.get("/_dash-layout", headers={"Referer": "http://localhost/run/r_0"}).get_json()
    assert '"id": "run-title"' in json.dumps(run)
    # without a Referer the content is left to the route callback
    bare = json.dumps(client.get("/_dash-layout").get_json())
    assert '"id": "runs-grid"' not in bare and '"id": "want-path"' in bare
    # names are escaped in the HTML
    assert "<script>alert" not in client.get("/run/r_0").get_data(as_text=True)


def test_the_page_loads_the_regenerator_runtime_instead_of_the_whole_polyfill(root: Path) -> None:
    page = create_app(root).server.test_client().get("/").get_data(as_text=True)
    assert "polyfill@" not in page and "regeneratorRuntime" in page
    assert page.count("<script defer src=") >= 8  # react, react-dom, the renderer, the components


def test_the_live_tick_feeds_only_stamp_stores(root: Path) -> None:
    # A tick landing while a slow callback runs makes Dash drop that callback's response, and the click or
    # choice behind it: so the tick updates only small stores, each changed when what its view reads changed.
    app = create_app(root)
    fed = {}
    for key, spec in app.callback_map.items():
        if any(i["id"] == "live" for i in spec["inputs"]):
            fed[key] = [o.strip(".") for o in key.split("..") if o.strip(".")]
    assert fed, "no callback takes the live tick"
    for outputs in fed.values():
        assert len(outputs) == 1 and outputs[0].endswith("-live.data"), outputs
    stores = {outputs[0].split(".")[0] for outputs in fed.values()}
    assert {"runs-live", "compare-live", "sql-live", "plot-live", "hpo-live"} <= stores


def test_a_live_stamp_survives_the_round_trip_through_the_browser(tmp_path: Path) -> None:
    # the browser holds JSON numbers as doubles: a stamp of nanosecond mtimes (above 2**53) came back rounded,
    # never equal to a fresh one, so every live tick re-read the page (a sort over a million rows) and
    # made Dash drop the clicks that landed meanwhile
    from fireworks.dashboard.data import db_stamp

    db = tmp_path / "logs.sqlite"
    db.write_bytes(b"")
    os.utime(db, ns=(1_795_674_773_653_929_164, 1_795_674_773_653_929_164))

    def as_the_browser_sends_it(value: object) -> object:
        if isinstance(value, bool) or not isinstance(value, (int, list, str, type(None))):
            return value
        if isinstance(value, int):
            return float(value)
        if isinstance(value, list):
            return [as_the_browser_sends_it(v) for v in value]
        return value

    stamp = db_stamp(db)
    assert as_the_browser_sends_it(json.loads(json.dumps(stamp))) == db_stamp(db)
