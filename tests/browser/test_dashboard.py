"""The dashboard in headless Chromium: runs, a 1,000,000-row table, plots, HPO views, errors, live runs."""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

import pytest
from conftest import BIG_ROWS, choose, plot_state

pytestmark = pytest.mark.browser


def wait_rows(page: Any, grid: str, minimum: int = 1) -> Any:
    page.wait_for_function(
        "([id, n]) => document.querySelectorAll('#' + id + ' tbody tr td.dash-cell').length >= n",
        arg=[grid, minimum],
    )
    return page


def column(page: Any, grid: str, name: str) -> list[str]:
    """The texts of one column of a DataTable, in display order."""
    return page.evaluate(
        """([id, name]) => Array.from(document.querySelectorAll(
            '#' + id + ' tbody td[data-dash-column="' + name + '"]')).map(td => td.innerText.trim())""",
        [grid, name],
    )


FIRST_VALUE = (
    "parseFloat(document.querySelector('#sql-grid tbody td[data-dash-column=value]').innerText)"
)
SORTED = """() => { const v = Array.from(document.querySelectorAll('#sql-grid td[data-dash-column=value]'))
    .map(td => parseFloat(td.innerText)); return v.length == 50 && v.every((x, i) => i == 0 || v[i - 1] <= x); }"""


def open_tab(page: Any, label: str) -> None:
    page.get_by_text(label, exact=True).click()


def test_runs_page_lists_searches_compares_and_opens_runs(page: Any, server: Any) -> None:
    page.goto(server.url + "/")
    wait_rows(page, "runs-grid", 3)
    # the server-rendered first paint gave way to the interactive table, which needed no callback first
    page.wait_for_selector("#fw-first-paint", state="detached")
    page.shots("runs")
    assert sorted(column(page, "runs-grid", "name")) == ["big", "broken", "search"]
    page.fill("#runs-search", "random search")
    page.keyboard.press("Enter")
    page.wait_for_function("document.querySelector('#runs-count').innerText.startsWith('1 of 3')")
    assert column(page, "runs-grid", "name") == ["search"]
    page.fill("#runs-search", "")
    page.keyboard.press("Enter")
    page.wait_for_function("document.querySelector('#runs-count').innerText.startsWith('3 of 3')")
    boxes = page.locator("#runs-grid input[type=checkbox]")
    boxes.nth(0).check()
    boxes.nth(2).check()
    wait_rows(page, "compare-grid", 2)
    choose(page, "compare-metric", "train.loss")
    page.wait_for_function(
        "document.querySelector('#compare-graph .js-plotly-plot .scatterlayer .trace')"
    )
    state = plot_state(page, "compare-graph")
    assert state["names"] == ["search_0"] and state["points"] == [200]
    page.shots("compare")
    page.get_by_role("link", name="search", exact=True).click()
    page.wait_for_selector("#run-title")
    assert page.inner_text("#run-title") == "search #0"
    assert '"name": "search"' in page.inner_text("#run-metadata")
    choose(page, "file-pick", "notes.txt")
    page.wait_for_selector("#file-text")
    assert "a text file" in page.inner_text("#file-text")
    page.shots("run-overview")


def test_a_million_row_table_pages_sorts_and_filters(page: Any, server: Any) -> None:
    page.goto(server.url + "/run/big_0")
    page.wait_for_selector("#run-title")
    started = time.perf_counter()
    open_tab(page, "Tables")
    wait_rows(page, "sql-grid", 50)
    first_page = time.perf_counter() - started
    status = page.inner_text("#sql-status")
    assert f"of ≈{BIG_ROWS:,}" in status and "seek" in status
    assert column(page, "sql-grid", "id")[:3] == ["1", "2", "3"]
    page.shots("big-first-page")
    page.click("#sql-next")
    page.wait_for_function(
        "document.querySelector('#sql-grid tbody td[data-dash-column=id]').innerText == '51'"
    )
    page.click("#sql-last")
    page.wait_for_function(
        f"Array.from(document.querySelectorAll('#sql-grid td[data-dash-column=id]')).pop().innerText == '{BIG_ROWS}'"
    )
    page.click("#sql-prev")
    page.wait_for_function(
        f"Array.from(document.querySelectorAll('#sql-grid td[data-dash-column=id]')).pop().innerText == '{BIG_ROWS - 50}'"
    )
    page.shots("big-last-pages")
    # sort by value: the server sorts the million rows, then pages on (value, rowid)
    page.locator("#sql-grid th[data-dash-column=value] .column-header--sort").click()
    page.wait_for_function(SORTED)
    values = [float(v) for v in column(page, "sql-grid", "value")]
    assert values == sorted(values)
    page.click("#sql-next")
    page.wait_for_function(f"({SORTED})() && " + str(values[-1]) + " <= " + FIRST_VALUE)
    more = [float(v) for v in column(page, "sql-grid", "value")]
    assert more == sorted(more) and more[0] >= values[-1]
    page.shots("big-sorted")
    choose(page, "sql-filter-col", "grp")
    page.fill("#sql-filter-value", "7")
    page.click("#sql-filter-add")
    page.wait_for_function(
        "document.querySelector('#sql-filter-list').innerText.includes('grp = ')"
    )
    wait_rows(page, "sql-grid", 50)
    page.wait_for_function(
        "Array.from(document.querySelectorAll('#sql-grid td[data-dash-column=grp]')).every(td => td.innerText == '7')"
    )
    page.click("#sql-count")
    page.wait_for_function("/rows match/.test(document.querySelector('#sql-count-out').innerText)")
    page.shots("big-filtered")
    print(
        f"\nfirst page of the {BIG_ROWS:,}-row table rendered {first_page:.2f} s after opening the tab"
    )


def test_plots_are_made_restyled_saved_and_reopened(
    page: Any, server: Any, runs_root: Path
) -> None:
    page.goto(server.url + "/run/search_0")
    page.wait_for_selector("#run-title")
    open_tab(page, "Plots")
    choose(page, "plot-table", "train")
    choose(page, "plot-y", "loss")
    page.wait_for_function(
        "document.querySelector('#plot-graph .js-plotly-plot .scatterlayer .trace')"
    )
    state = plot_state(page, "plot-graph")
    assert state["names"] == ["loss"] and state["points"] == [200] and state["ytype"] == "linear"
    page.shots("plot-made")
    choose(page, "plot-group", "phase")
    page.get_by_text("log y").click()
    choose(page, "plot-theme", "plotly_dark")
    page.wait_for_function(
        "() => { const el = document.querySelector('#plot-graph .js-plotly-plot');"
        " return el && el._fullLayout.yaxis.type == 'log' && el.data.length == 2; }"
    )
    state = plot_state(page, "plot-graph")
    assert state["names"] == ["phase=warmup", "phase=main"] and state["bg"] != "#fff"
    page.shots("plot-restyled")
    page.fill("#plot-name", "loss-by-phase")
    page.click("#plot-save")
    page.wait_for_function("document.querySelector('#plot-msg').innerText.includes('saved')")
    assert (runs_root / "search_0" / "plots" / "loss-by-phase.json").is_file()
    page.reload()
    page.wait_for_selector("#run-title")
    open_tab(page, "Plots")
    choose(page, "plot-saved", "loss-by-phase")
    page.wait_for_function(
        "() => { const el = document.querySelector('#plot-graph .js-plotly-plot');"
        " return el && el.data && el.data.length == 2 && el._fullLayout.yaxis.type == 'log'; }"
    )
    assert plot_state(page, "plot-graph")["names"] == ["phase=warmup", "phase=main"]
    page.shots("plot-reopened")


def test_hpo_views_show_the_trials(page: Any, server: Any) -> None:
    page.goto(server.url + "/run/search_0")
    page.wait_for_selector("#run-title")
    open_tab(page, "Search (HPO)")
    wait_rows(page, "hpo-trials", 6)
    assert column(page, "hpo-trials", "id") == [str(i) for i in range(6)]
    assert set(column(page, "hpo-trials", "status")) == {"complete"}
    page.wait_for_function("document.querySelector('#hpo-parallel .js-plotly-plot .parcoords')")
    assert plot_state(page, "hpo-best")["names"] == ["accuracy", "best so far"]
    assert plot_state(page, "hpo-importance")["types"] == ["bar"]
    assert plot_state(page, "hpo-slices")["n"] == 3
    assert plot_state(page, "hpo-reports")["n"] == 6
    page.shots("hpo")
    open_tab(page, "Pipeline")
    wait_rows(page, "dry-run-grid", 4)
    assert column(page, "dry-run-grid", "status") == ["ok"] * 4
    page.wait_for_function("document.querySelector('#page .js-plotly-plot .scatterlayer')")
    # a Source's number counts the Sources made before it in the process, so other tests shift it
    assert re.search(r"ShufflerSource_\d+", page.inner_text("#page"))
    page.shots("pipeline")


def test_errors_show_in_place(page: Any, server: Any) -> None:
    page.goto(server.url + "/run/broken_0")
    page.wait_for_selector("#run-title")
    open_tab(page, "Tables")
    page.wait_for_selector("#sql-error .error-panel")
    assert "cannot be read as SQLite" in page.inner_text("#sql-error")
    page.shots("corrupt-database")
    page.goto(server.url + "/run/nometa_0")
    page.wait_for_selector("#run-error")
    assert "has no metadata.json" in page.inner_text("#run-error")
    page.shots("missing-metadata")
    page.goto(server.url + "/run/..%2F..%2Fetc")
    page.wait_for_selector("#run-error")
    assert re.search("only reads files under its root", page.inner_text("#run-error"))
    page.shots("path-traversal")
    resp = page.goto(server.url + "/files/..%2F..%2Fetc%2Fpasswd")
    assert resp.status in (403, 404)


def test_a_running_experiment_updates_without_reload(
    page: Any, server: Any, runs_root: Path
) -> None:
    from fireworks import Experiment

    exp = Experiment("live", root=runs_root, description="still writing")
    try:
        for step in range(10):
            exp.log("train", {"loss": 1.0 / (step + 1)})
        exp.flush()
        page.goto(server.url + f"/run/{exp.path.name}")
        page.wait_for_selector("#run-title")
        open_tab(page, "Plots")
        choose(page, "plot-table", "train")
        choose(page, "plot-y", "loss")
        page.wait_for_function(
            "document.querySelector('#plot-graph .js-plotly-plot .scatterlayer .trace')"
        )
        assert plot_state(page, "plot-graph")["points"] == [10]
        open_tab(page, "Tables")
        choose(page, "sql-table", "train")
        wait_rows(page, "sql-grid", 10)
        page.shots("live-before")
        for step in range(10, 25):
            exp.log("train", {"loss": 1.0 / (step + 1)})
        exp.flush()
        wait_rows(page, "sql-grid", 25)  # the interval refresh brings the new rows in
        open_tab(page, "Plots")
        page.wait_for_function(
            "() => { const el = document.querySelector('#plot-graph .js-plotly-plot');"
            " return el && el.data[0].y.length == 25; }"
        )
        page.shots("live-after")
    finally:
        exp.close()


def test_tensorboard_starts_for_the_run_and_stops_with_the_dashboard(
    page: Any, runs_root: Path
) -> None:
    from conftest import Server

    from fireworks import Experiment

    with Experiment("tb", root=runs_root) as exp:
        writer = exp.tensorboard()
        for step in range(5):
            writer.add_scalar("loss", 1.0 / (step + 1), step)
    srv = Server(runs_root)
    try:
        page.goto(srv.url + f"/run/{exp.path.name}")
        page.wait_for_selector("#run-title")
        open_tab(page, "TensorBoard / Visdom")
        page.click("#tb-start")
        page.wait_for_selector("#tb-link", timeout=90_000)
        url = page.get_attribute("#tb-link", "href")
        assert url.startswith("http://127.0.0.1:")
        page.wait_for_selector("#tb-frame iframe")
        page.wait_for_timeout(1500)
        page.shots("tensorboard")
        import urllib.request

        with urllib.request.urlopen(url + "data/runs", timeout=10) as resp:
            assert resp.status == 200
    finally:
        srv.close()
    with pytest.raises(OSError):
        urllib.request.urlopen(url, timeout=3)


def test_visdom_page_shows_the_runs_metrics_offline(page: Any, server: Any) -> None:
    """Visdom started from the run page; its own page draws the run's metrics with the scripts copied from
    Python packages (nothing downloaded: the machine running the tests has no internet)."""
    pytest.importorskip("visdom", reason="the visdom extra is not installed (see pyproject)")
    page.goto(server.url + "/run/search_0")
    page.wait_for_selector("#run-title")
    open_tab(page, "TensorBoard / Visdom")
    page.click("#visdom-start")
    page.wait_for_selector("#visdom-link", timeout=90_000)
    assert "cannot show the plots" not in page.inner_text("#visdom-out")
    url = page.get_attribute("#visdom-link", "href")
    assert url.startswith("http://127.0.0.1:") and url.endswith("/env/search_0")
    frame = page.frame_locator("#visdom-frame iframe")
    frame.locator(".js-plotly-plot").first.wait_for(timeout=60_000)
    traces = page.frames[-1].evaluate(
        """() => Array.from(document.querySelectorAll('.js-plotly-plot'))
            .map(el => [el.data.length, el.data[0].y.length])"""
    )
    assert traces == [[1, 200]]  # train.loss, 200 logged steps
    page.shots("visdom")
