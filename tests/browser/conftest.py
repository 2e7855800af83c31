"""A real dashboard over real experiment folders, driven by Debian's headless Chromium through Playwright.

The sample runs (a Factory search, a 1,000,000-row table, a corrupt database, a folder without metadata) are
made once per module; the app is served by a real HTTP server on 127.0.0.1 in a thread. Screenshots go to
each test's ``tmp_path`` (``screens/``).
"""

from __future__ import annotations

import os
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = os.environ.get("FIREWORKS_CHROMIUM", "/usr/bin/chromium")
BIG_ROWS = 1_000_000


@pytest.fixture(scope="session")
def runs_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from fireworks.dashboard.sample import make_sample_runs

    root = tmp_path_factory.mktemp("runs")
    make_sample_runs(root, big_rows=BIG_ROWS, trials=6)
    return root


class Server:
    def __init__(self, root: Path) -> None:
        import logging

        from werkzeug.serving import make_server

        from fireworks.dashboard import create_app

        logging.getLogger("werkzeug").setLevel(logging.WARNING)

        self.app = create_app(root)
        self.httpd = make_server("127.0.0.1", 0, self.app.server, threaded=True)
        self.url = f"http://127.0.0.1:{self.httpd.server_port}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.app.server.config["fireworks_services"].stop_all()


@pytest.fixture(scope="session")
def server(runs_root: Path) -> Iterator[Server]:
    srv = Server(runs_root)
    yield srv
    srv.close()


# per module, not per session: Playwright's sync API keeps an asyncio loop running in this thread while it is
# open, and later tests (the async ones) need to start loops of their own
@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not shutil.which(CHROMIUM) and not Path(CHROMIUM).exists():
        pytest.fail(
            f"the browser tests need Chromium at {CHROMIUM}: apt-get install chromium "
            "(or set FIREWORKS_CHROMIUM); deselect them with -m 'not browser'"
        )
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield b
        b.close()


class Shots:
    """Numbered screenshots of one test."""

    def __init__(self, page: Any, folder: Path) -> None:
        self.page, self.folder, self.n = page, folder, 0
        folder.mkdir(parents=True, exist_ok=True)

    def __call__(self, name: str) -> Path:
        self.n += 1
        path = self.folder / f"{self.n:02d}-{name}.png"
        self.page.screenshot(path=str(path), full_page=True)
        return path


@pytest.fixture
def page(browser: Any, tmp_path: Path) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    pg = context.new_page()
    pg.set_default_timeout(30_000)
    errors: list[str] = []
    pg.on("pageerror", lambda err: errors.append(str(err)))
    pg.shots = Shots(pg, tmp_path / "screens")  # type: ignore[attr-defined]
    pg.js_errors = errors  # type: ignore[attr-defined]
    yield pg
    context.close()
    assert not errors, f"JavaScript errors in the page: {errors}"


def choose(page: Any, dropdown: str, option: str) -> None:
    """Pick ``option`` in the Dash dropdown with id ``dropdown``."""
    for attempt in range(5):  # the page may re-render the list while it opens (live refresh)
        page.click(f"#{dropdown}")
        page.keyboard.type(option)
        try:
            page.get_by_role("option", name=option, exact=True).click(timeout=3000)
            break
        except Exception:
            if attempt == 4:
                raise
            page.keyboard.press("Escape")
    page.keyboard.press("Escape")


def plot_state(page: Any, graph: str) -> Any:
    """Traces and axis types of the Plotly graph inside the element ``graph``, as drawn."""
    return page.evaluate(
        """id => { const el = document.querySelector('#' + id + ' .js-plotly-plot');
            if (!el || !el._fullLayout) return null;
            return {n: el.data.length, names: el.data.map(t => t.name),
                    points: el.data.map(t => (t.y || t.x || []).length),
                    ytype: el._fullLayout.yaxis.type, bg: el._fullLayout.paper_bgcolor,
                    types: el.data.map(t => t.type)}; }""",
        graph,
    )
