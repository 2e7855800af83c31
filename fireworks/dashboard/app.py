"""``create_app(root)``: the Dash app over the experiments under ROOT, its routes and callbacks.

Callbacks are thin: they turn the page's inputs into calls of the data functions (:mod:`.data`,
:mod:`.sqlbrowser`, :mod:`.plots`, :mod:`.hpo`) and their results into components; every failure becomes an
error panel in place.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import re
import sqlite3
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from fireworks._imports import optional_import

optional_import("dash", "dashboard", "the dashboard")

import dash
from dash import Input, Output, State, ctx, dcc, html, no_update
from dash.exceptions import PreventUpdate
from flask import abort, has_request_context, request, send_file

from fireworks.dashboard import data, firstpaint, hpo, layout, plots
from fireworks.dashboard.paths import UnsafePathError, safe_path
from fireworks.dashboard.services import Services, feed_visdom
from fireworks.dashboard.sqlbrowser import Filter, count_rows, read_columns, read_page, table_info

_READ_ERRORS = (sqlite3.Error, ValueError, KeyError, OSError, data.RunError)
# paths that are not pages (a page load is the one request that is followed by a layout request)
_NOT_PAGES = ("/_dash-", "/_favicon", "/_reload", "/assets/", "/files/")
_PREPARED_S = 10.0
_INLINE = {".png", ".jpg", ".jpeg", ".gif", ".webp", ".svg"}


def create_app(root: str | Path = "runs") -> dash.Dash:
    """The dashboard over the experiment folders under ``root`` (a Dash app; serve it with ``app.run()``).

    >>> import tempfile
    >>> app = create_app(tempfile.mkdtemp())
    >>> app.title
    'Fireworks dashboard'
    """
    base = Path(root).resolve()
    if not base.is_dir():
        raise FileNotFoundError(
            f"no folder {base} to show experiments from; pass the folder holding the runs"
        )
    root_s = str(base)
    app = _App(
        __name__,
        title="Fireworks dashboard",
        suppress_callback_exceptions=True,
        update_title=None,  # type: ignore[arg-type]
    )
    # summarising a run opens its files once (then it is cached until they change); start on all of them now
    threading.Thread(
        target=_warm, args=(root_s,), daemon=True, name="fireworks-dashboard-warm"
    ).start()
    services = Services()
    app.server.config["fireworks_services"] = services
    app.index_string = app.index_string.replace("{%css%}", "{%css%}" + _preload_links(app))

    pages = _Pages(root_s)
    app.server.before_request(pages.start)

    def serve_layout() -> Any:
        # The page asked for is in the Referer of the layout request (the renderer fetches the layout from
        # the page itself): that page is drawn into the layout, so it needs no callback round trip before
        # it shows. Without a Referer the content comes from the `route` callback below.
        shown = None
        if has_request_context() and request.referrer:
            ref = urlsplit(request.referrer)
            if ref.netloc == request.host:
                shown = ref.path or "/"
        return layout.shell(
            [
                dcc.Location(id="url"),
                dcc.Store(id="page-path", data=shown),
                dcc.Store(id="want-path"),
                html.Div(
                    pages.take(shown)["component"] if shown is not None else None, id="content"
                ),
            ]
        )

    def first_paint() -> str:
        if not has_request_context() or unquote(request.path) != "/":
            return ""
        table = pages.peek("/").get("table")
        if not table or not table["rows"]:
            return ""
        columns = [c["id"] for c in table["columns"]]
        return firstpaint.runs_html(table["rows"], columns, table["links"], table["count"])

    app.first_paint = first_paint  # type: ignore[attr-defined]
    app.layout = serve_layout

    @app.server.route("/files/<path:rel>")
    def serve_file(rel: str) -> Any:
        try:
            path = safe_path(root_s, unquote(rel))
        except UnsafePathError:
            abort(403)
        if not path.is_file():
            abort(404)
        inline = path.suffix.lower() in _INLINE or data.file_kind(path.name) in ("text", "json")
        resp = send_file(
            path,
            as_attachment=not inline,
            mimetype="text/plain" if data.file_kind(path.name) in ("text", "json") else None,
        )
        resp.headers["X-Content-Type-Options"] = "nosniff"
        resp.headers["Content-Security-Policy"] = (
            "default-src 'none'; img-src 'self'; style-src 'unsafe-inline'"
        )
        return resp

    # the server is asked for a page only when the one in the layout is not the one the address names
    app.clientside_callback(
        """(pathname, shown) => pathname === shown ? window.dash_clientside.no_update : pathname""",
        Output("want-path", "data"),
        Input("url", "pathname"),
        State("page-path", "data"),
    )

    @app.callback(
        Output("content", "children"),
        Output("page-path", "data"),
        Input("want-path", "data"),
        prevent_initial_call=True,
    )
    def route(pathname: str | None) -> Any:
        return pages.make(pathname or "/")["component"], pathname

    @app.callback(
        Output("file-view", "children"), Input("file-pick", "value"), prevent_initial_call=True
    )
    def show_file(rel: str | None) -> Any:
        return layout.file_view(root_s, rel) if rel else None

    _runs_callbacks(app, root_s)
    _sql_callbacks(app, root_s)
    _plot_callbacks(app, root_s)
    _hpo_callbacks(app, root_s)
    _tool_callbacks(app, root_s, services)
    return app


class _App(dash.Dash):
    """Dash, with the runs page's first paint (:mod:`.firstpaint`) put into the page's HTML."""

    def interpolate_index(
        self,
        metas: Any = "",
        title: Any = "",
        css: Any = "",
        config: Any = "",
        scripts: Any = "",
        app_entry: Any = "",
        favicon: Any = "",
        renderer: Any = "",
    ) -> Any:
        painter = getattr(self, "first_paint", None)
        if painter is not None:  # after Dash's entry point, which the first paint hides meanwhile
            app_entry = app_entry + painter()
        # the scripts are deferred, so the page (its first paint) shows while they load and compile; they
        # still run in order, and the renderer starts after them
        scripts = _without_polyfill(scripts).replace("<script src=", "<script defer src=")
        opening = renderer.find(">") + 1
        closing = renderer.rfind("</script>")
        if 0 < opening <= closing:
            renderer = (
                f"{renderer[:opening]}document.addEventListener('DOMContentLoaded', function () "
                f"{{ {renderer[opening:closing]} }});{renderer[closing:]}"
            )
        return super().interpolate_index(
            metas=metas,
            title=title,
            css=css,
            config=config,
            scripts=scripts,
            app_entry=app_entry,
            favicon=favicon,
            renderer=renderer,
        )


_POLYFILL_TAG = re.compile(r'<script src="[^"]*/deps/polyfill@[^"]*"></script>\n?')
_REGENERATOR_MODULE = re.compile(
    r"[,{]\d+:\[function\(t,n,r\)\{(var e=function\(u\)\{.*?)\},\{\}\]", re.S
)


@functools.cache
def _regenerator_script() -> str | None:
    """The one part of Dash's @babel/polyfill that Dash's bundles need in a current browser: the regenerator
    runtime (``regeneratorRuntime``, used by their lazy-loading helper), cut out of that same file as an
    inline script; None when the file does not have the shape expected (then the polyfill is kept)."""
    import dash as dash_pkg

    for path in (Path(dash_pkg.__file__).parent / "deps").glob("polyfill@*.min.js"):
        text = path.read_text(encoding="utf-8")
        for match in _REGENERATOR_MODULE.finditer(text):
            body = match.group(1)
            if "regeneratorRuntime=e" in body and "delegateYield" in body and "</" not in body:
                return (
                    f"<script>(function(t,n,r){{{body}}})(null,{{exports:{{}}}},{{}});</script>\n"
                )
    return None


def _without_polyfill(scripts: str) -> str:
    """Dash's script tags with its 99 kB @babel/polyfill (core-js 2, for browsers before 2017; the largest
    single cost of a first load after React) replaced by the regenerator runtime alone."""
    regenerator = _regenerator_script()
    if regenerator is None or len(_POLYFILL_TAG.findall(scripts)) != 1:
        return scripts
    return _POLYFILL_TAG.sub(lambda _: regenerator, scripts)


class _Pages:
    """Each page's content, made once per page load.

    A page load asks for the page's HTML, then the scripts, then the layout. The content is started when the
    HTML is asked for (:meth:`start`, before every request), so it is made while the browser fetches and
    compiles the scripts; the HTML may use it (:meth:`peek`: the runs page's first paint) and the layout
    request takes it (:meth:`take`). A result is used once and for at most ``_PREPARED_S`` seconds.
    """

    def __init__(self, root: str) -> None:
        self.root = root
        self.lock = threading.Lock()
        self.made: dict[str, tuple[float, Future[dict[str, Any]]]] = {}

    def make(self, path: str) -> dict[str, Any]:
        path = unquote(path or "/")
        if path.startswith("/run/"):
            return {"component": layout.run_page(self.root, path.removeprefix("/run/"))}
        table = _runs_table(self.root)
        return {"component": layout.runs_page(table), "table": table}

    def start(self) -> None:
        if request.method != "GET" or request.path.startswith(_NOT_PAGES):
            return
        path = unquote(request.path)
        future: Future[dict[str, Any]] = Future()
        with self.lock:
            now = time.monotonic()
            for key in [k for k, (t, _) in self.made.items() if now - t > _PREPARED_S]:
                del self.made[key]
            self.made[path] = (now, future)

        def run() -> None:
            try:
                future.set_result(self.make(path))
            except BaseException as err:
                future.set_exception(err)

        threading.Thread(target=run, daemon=True, name="fireworks-dashboard-page").start()

    def _get(self, path: str, pop: bool) -> dict[str, Any]:
        path = unquote(path or "/")
        with self.lock:
            t, future = (self.made.pop if pop else self.made.get)(path, (0.0, None))
        if future is not None and time.monotonic() - t < _PREPARED_S:
            with contextlib.suppress(Exception):
                return future.result()
        return self.make(path)

    def peek(self, path: str) -> dict[str, Any]:
        return self._get(path, pop=False)

    def take(self, path: str) -> dict[str, Any]:
        return self._get(path, pop=True)


def _warm(root: str) -> None:
    with contextlib.suppress(Exception):
        data.list_runs(root)


# -- runs page --------------------------------------------------------------------------------------------


def _preload_links(app: dash.Dash) -> str:
    """``<link rel=preload>`` tags for the lazily loaded scripts the runs page needs at once (the table and
    the dropdown): fetched beside the main bundles instead of after them. plotly.js is not among them."""
    import dash as dash_pkg

    package = Path(dash_pkg.__file__).parent
    prefix = app.config.requests_pathname_prefix
    links = []
    for rel in (
        "dash_table/async-table.js",
        "dash_table/async-highlight.js",
        "dcc/async-dropdown.js",
    ):
        if (package / rel).is_file():
            href = f"{prefix}_dash-component-suites/dash/{rel}"
            links.append(f'<link rel="preload" as="script" href="{href}">')
    return "\n" + "\n".join(links)


def _runs_table(root: str, search: str = "", status: str | None = None) -> dict[str, Any]:
    """The runs table as the page shows it: rows, columns, the count, an error panel and a stamp of it all."""
    try:
        everything = data.list_runs(root)
    except OSError as err:
        return {
            "rows": [],
            "columns": [],
            "count": "",
            "error": layout.error_panel("The runs cannot be listed", str(err)),
            "stamp": None,
            "links": [],
        }
    shown = data.filter_runs(everything, search or "", status)
    rows = []
    links = [(r.name, layout.run_href(r.id)) for r in shown]
    for r in shown:
        row = r.row()
        row["name"] = f"[{r.name}]({layout.run_href(r.id)})"
        rows.append(row)
    fixed = ["name", "iteration", "time", "description", "status", "commit"]
    metrics = sorted({k for r in shown for k in r.metrics})
    columns: list[dict[str, Any]] = [
        {"name": c, "id": c, "presentation": "markdown"} if c == "name" else {"name": c, "id": c}
        for c in fixed
    ]
    columns += [{"name": m, "id": m, "type": "numeric"} for m in metrics]
    if any(r.error for r in shown):
        columns.append({"name": "error", "id": "error"})
    count = f"{len(shown)} of {len(everything)} runs"
    stamp = hashlib.sha1(
        json.dumps([rows, columns, count], default=str).encode(), usedforsecurity=False
    ).hexdigest()
    return {
        "rows": rows,
        "columns": columns,
        "count": count,
        "error": None,
        "stamp": stamp,
        "links": links,
    }


def _runs_callbacks(app: dash.Dash, root: str) -> None:
    @app.callback(
        Output("runs-grid", "data"),
        Output("runs-grid", "columns"),
        Output("runs-count", "children"),
        Output("runs-error", "children"),
        Output("runs-stamp", "data"),
        Input("runs-search", "value"),
        Input("runs-status", "value"),
        Input("runs-live", "data"),
        State("runs-stamp", "data"),
        prevent_initial_call=True,  # the page's layout holds the table already
    )
    def runs(search: str | None, status: str | None, _live: Any, old_stamp: str | None) -> Any:
        table = _runs_table(root, search or "", status)
        if table["stamp"] is not None and table["stamp"] == old_stamp:
            raise PreventUpdate  # nothing changed: the table is not sent again
        return table["rows"], table["columns"], table["count"], table["error"], table["stamp"]

    _live_store(
        app,
        "runs-live",
        lambda search, status: _runs_table(root, search or "", status)["stamp"],
        State("runs-search", "value"),
        State("runs-status", "value"),
    )
    _live_store(
        app,
        "compare-live",
        lambda selected: _runs_stamp(root, selected or []),
        State("runs-grid", "selected_row_ids"),
    )

    @app.callback(
        Output("compare-plot", "children"),
        Input("compare-metric", "value"),
        State("compare-plot", "children"),
        prevent_initial_call=True,
    )
    def compare_plot(metric: str | None, present: Any) -> Any:
        if not metric or present:
            raise PreventUpdate
        return layout.compare_graph()

    @app.callback(
        Output("compare-grid", "data"),
        Output("compare-grid", "columns"),
        Output("compare-metric", "options"),
        Input("runs-grid", "selected_row_ids"),
        Input("compare-live", "data"),
        prevent_initial_call=True,
    )
    def compare(selected: list[str] | None, _live: Any) -> Any:
        chosen = []
        for run_id in selected or []:
            with contextlib.suppress(ValueError, OSError):  # a run deleted since it was ticked
                chosen.append(data.summarise_run(root, safe_path(root, run_id)))
        columns, rows = data.compare_metrics(chosen)
        options = sorted(
            {k for s in chosen for k in s.metrics if not k.startswith("best.") and "." in k}
        )
        return rows, [{"name": c, "id": c} for c in columns], options

    @app.callback(
        Output("compare-graph", "figure"),
        Input("compare-metric", "value"),
        Input("runs-grid", "selected_row_ids"),
        Input("compare-live", "data"),
    )
    def overlay(metric: str | None, selected: list[str] | None, _live: Any) -> Any:
        if not metric or not selected:
            return {"data": [], "layout": {"template": "plotly_white"}}
        table, _, column = metric.partition(".")
        curves = []
        for run_id in selected:
            db = safe_path(root, f"{run_id}/{data.LOGS_DB}")
            try:
                cols = read_columns(db, table, ["step", column])
            except _READ_ERRORS:
                continue
            curves.append((run_id, cols["step"], cols[column]))
        return _resolve(plots.overlay_figure(curves, "step", metric))


def _live_store(app: dash.Dash, store: str, stamp: Callable[..., Any], *states: State) -> None:
    """Let the live tick update the store ``store`` only when ``stamp(*states)`` changed.

    The views that refresh live take the store as their input, never the tick itself: were the tick an
    input of a slow callback, a tick landing during it (a sort over a million rows, a plot of a long log)
    would make Dash drop that callback's response, and the click or choice that asked for it."""

    @app.callback(
        Output(store, "data"),
        Input("live", "n_intervals"),
        *states,
        State(store, "data"),
        prevent_initial_call=True,
    )
    def tick(_n: Any, *values: Any) -> Any:
        *args, seen = values
        try:
            now = stamp(*args)
        except (*_READ_ERRORS, UnsafePathError):
            raise PreventUpdate from None
        if now is None or now == seen:
            raise PreventUpdate
        return now


def _db_stamp(root: str, db: str | None) -> str | None:
    """The stamp of the run database ``db`` (a path under ``root``), or None without one."""
    return data.db_stamp(safe_path(root, db)) if db else None


def _runs_stamp(root: str, run_ids: list[str]) -> str:
    """A stamp of what the compare views read from the runs ``run_ids``: their files and status."""
    parts: list[list[Any]] = []
    for run_id in run_ids:
        try:
            run = safe_path(root, run_id)
            summary = data.summarise_run(root, run)
            parts.append([run_id, data.db_stamp(run / data.LOGS_DB), summary.status])
        except (ValueError, OSError):  # a run deleted since it was ticked
            parts.append([run_id, None, None])
    return hashlib.sha1(json.dumps(parts, default=str).encode(), usedforsecurity=False).hexdigest()


def _resolve(figure: dict[str, Any]) -> dict[str, Any]:
    """Expand the theme name into Plotly's template (plotly.js needs the template itself)."""
    import plotly.io as pio

    figure.setdefault("layout", {}).setdefault(
        "uirevision", "keep"
    )  # live redraws keep zoom and pan
    name = figure.get("layout", {}).get("template")
    if isinstance(name, str):
        figure["layout"]["template"] = pio.templates[name].to_plotly_json()
    return figure


# -- SQL browser ------------------------------------------------------------------------------------------


def _sql_callbacks(app: dash.Dash, root: str) -> None:
    @app.callback(
        Output("sql-table", "options"),
        Output("sql-table", "value"),
        Output("sql-error", "children"),
        Input("sql-db", "value"),
    )
    def tables(db: str | None) -> Any:
        if not db:
            return [], None, html.P("This run has no SQLite file.", style={"color": "#6b7280"})
        found = data.database_tables(root, db)
        if "error" in found:
            return [], None, layout.error_panel("This database cannot be read", found["error"])
        names = [t.name for t in found["tables"]]
        return names, (names[0] if names else None), None

    # A live tick reaches the table only when its file was written (see _live_store).
    _live_store(app, "sql-live", lambda db: _db_stamp(root, db), State("sql-db", "value"))

    @app.callback(
        Output("sql-grid", "data"),
        Output("sql-grid", "columns"),
        Output("sql-state", "data"),
        Output("sql-status", "children"),
        Output("sql-filter-list", "children"),
        Output("sql-filter-col", "options"),
        Output("sql-error", "children", allow_duplicate=True),
        Output("sql-count-out", "children"),
        Input("sql-table", "value"),
        Input("sql-grid", "sort_by"),
        Input("sql-filter-add", "n_clicks"),
        Input("sql-filter-clear", "n_clicks"),
        Input("sql-first", "n_clicks"),
        Input("sql-prev", "n_clicks"),
        Input("sql-next", "n_clicks"),
        Input("sql-last", "n_clicks"),
        Input("sql-live", "data"),
        State("sql-db", "value"),
        State("sql-state", "data"),
        State("sql-filter-col", "value"),
        State("sql-filter-op", "value"),
        State("sql-filter-value", "value"),
        prevent_initial_call=True,
    )
    def page(table: str | None, sort_by: list[dict[str, Any]] | None, *args: Any) -> Any:
        db, state, f_col, f_op, f_value = args[-5:]
        trigger = _trigger()
        if not db or not table:
            return [], [], None, "", "", [], no_update, ""
        state = dict(state or {})
        if state.get("db") != db or state.get("table") != table:
            state = {"db": db, "table": table, "filters": [], "mode": "first", "key": None}
        filters = list(state.get("filters") or [])
        if trigger == "sql-filter-add" and f_col:
            filters.append([f_col, f_op or "=", f_value])
        elif trigger == "sql-filter-clear":
            filters = []
        sort = sort_by[0]["column_id"] if sort_by else None
        desc = bool(sort_by and sort_by[0]["direction"] == "desc")
        mode, key = state.get("mode", "first"), state.get("key")
        if trigger in ("sql-table", "sql-grid", "sql-filter-add", "sql-filter-clear", "sql-first"):
            mode, key = "first", None
        elif trigger == "sql-next" and state.get("has_next"):
            mode, key = "after", state.get("last")
        elif trigger == "sql-prev" and state.get("has_prev"):
            mode, key = "before", state.get("first")
        elif trigger == "sql-last":
            mode, key = "last", None
        if (state.get("sort"), state.get("desc")) != (sort, desc):
            mode, key = "first", None  # a key from another order means nothing in this one
        try:
            path = safe_path(root, db)
            stamp = data.db_stamp(path)
            if trigger in _TICKS and state.get("stamp") == stamp:
                raise PreventUpdate  # nothing was written since the page was read
            info = table_info(path, table)
            res = read_page(
                path,
                table,
                size=layout.PAGE_SIZE,
                sort=sort,
                descending=desc,
                filters=[Filter(*f) for f in filters],
                after=key if mode == "after" else None,
                before=key if mode == "before" else None,
                last=mode == "last",
            )
        except _READ_ERRORS as err:
            return (
                [],
                [],
                state,
                "",
                _filter_text(filters),
                [],
                layout.error_panel(f"Table {table!r} cannot be read", str(err)),
                "",
            )
        if not res.rows and mode in ("after", "before") and trigger not in _TICKS:
            return (
                no_update,
                no_update,
                no_update,
                no_update,
                no_update,
                no_update,
                no_update,
                no_update,
            )
        state.update(
            db=db,
            table=table,
            filters=filters,
            mode=mode,
            key=key,
            first=res.first,
            last=res.last,
            has_next=res.has_next,
            has_prev=res.has_prev,
            stamp=stamp,
            sort=sort,
            desc=desc,
        )
        columns = [{"name": c, "id": c} for c in res.columns]
        approx = f" of ≈{res.approx_rows:,}" if res.approx_rows is not None and not filters else ""
        status = (
            f"{len(res.rows)} rows{approx} · {'seek' if res.keyset else 'offset'} paging · "
            f"{res.seconds * 1e3:.1f} ms"
        )
        counted = "" if trigger not in _TICKS else no_update
        return (
            res.records(),
            columns,
            state,
            status,
            _filter_text(filters),
            info.column_names,
            None,
            counted,
        )

    @app.callback(
        Output("sql-count-out", "children", allow_duplicate=True),
        Input("sql-count", "n_clicks"),
        State("sql-state", "data"),
        prevent_initial_call=True,
    )
    def count(_n: Any, state: dict[str, Any] | None) -> Any:
        if not state:
            return ""
        try:
            n = count_rows(
                safe_path(root, state["db"]),
                state["table"],
                [Filter(*f) for f in state.get("filters") or []],
            )
        except _READ_ERRORS as err:
            return f"cannot count: {err}"
        return f"{n:,} rows match"


def _trigger() -> Any:
    """The id of what triggered the running callback, a user's action before the live tick.

    Dash merges the triggers of one callback requested again before it ran (a click landing with a live
    tick) and ``ctx.triggered_id`` is then the first of them: a click taken for a tick would be skipped as
    "nothing changed" and lost."""
    ids = list(ctx.triggered_prop_ids.values())
    return next((i for i in ids if i not in _TICKS), ids[0] if ids else None)


#: the inputs that only say "time passed": the interval, and the stores it updates when what a view reads
#: changed (see _live_store)
_TICKS = ("live", "sql-live", "runs-live", "compare-live", "plot-live", "hpo-live")


def _filter_text(filters: list[list[Any]]) -> str:
    shown = [
        f"{c} {op}" + ("" if op in ("is null", "not null") else f" {v!r}") for c, op, v in filters
    ]
    return ("filters: " + " AND ".join(shown)) if shown else ""


# -- plots ------------------------------------------------------------------------------------------------


def _plot_callbacks(app: dash.Dash, root: str) -> None:
    _live_store(app, "plot-live", lambda db: _db_stamp(root, db), State("plot-db", "value"))

    @app.callback(Output("plot-table", "options"), Input("plot-db", "value"))
    def plot_tables(db: str | None) -> Any:
        return _table_names(root, db)

    @app.callback(
        Output("plot-x", "options"),
        Output("plot-y", "options"),
        Output("plot-group", "options"),
        Output("plot-x", "value"),
        Input("plot-table", "value"),
        State("plot-db", "value"),
        State("plot-x", "value"),
    )
    def plot_columns(table: str | None, db: str | None, x: str | None) -> Any:
        names = _column_names(root, db, table)
        # a Dash dropdown drops a value missing from its options, so x is re-chosen with them
        return names, names, names, x if x in names else ("step" if "step" in names else None)

    controls = [
        Input(i, "value")
        for i in (
            "plot-db",
            "plot-table",
            "plot-x",
            "plot-y",
            "plot-group",
            "plot-kind",
            "plot-theme",
            "plot-palette",
            "plot-log",
            "plot-smooth",
            "plot-title",
            "plot-xtitle",
            "plot-ytitle",
        )
    ]

    @app.callback(
        Output("plot-graph", "figure"),
        Output("plot-error", "children"),
        Output("plot-stamp", "data"),
        *controls,
        Input("plot-live", "data"),
        State("plot-stamp", "data"),
    )
    def draw(*values: Any) -> Any:
        spec = _spec(*values[:-2])
        if not spec["database"] or not spec["table"] or not spec["y"]:
            return {"data": [], "layout": {"template": "plotly_white"}}, None, None
        try:
            stamp = data.db_stamp(safe_path(root, spec["database"]))
            if _trigger() in _TICKS and stamp == values[-1]:
                raise PreventUpdate
            spec = plots.check_spec(spec)
            cols = read_columns(
                safe_path(root, spec["database"]), spec["table"], plots.columns_needed(spec)
            )
            figure = plots.build_figure(spec, cols)
        except _READ_ERRORS as err:
            return no_update, layout.error_panel("This plot cannot be drawn", str(err)), None
        return _resolve(figure), None, stamp

    @app.callback(
        Output("plot-msg", "children"),
        Output("plot-saved", "options"),
        Input("plot-save", "n_clicks"),
        State("run-id", "data"),
        State("plot-name", "value"),
        *[State(c.component_id, "value") for c in controls],
        prevent_initial_call=True,
    )
    def save(_n: Any, run_id: str, name: str | None, *values: Any) -> Any:
        try:
            spec = plots.check_spec(_spec(*values))
            path = data.save_plot_spec(root, run_id, name or "", spec)
        except (ValueError, OSError) as err:
            return f"not saved: {err}", no_update
        return f"saved {path.name}", data.saved_plots(root, run_id)

    @app.callback(
        *[Output(c.component_id, "value", allow_duplicate=True) for c in controls],
        *[
            Output(i, "options", allow_duplicate=True)
            for i in ("plot-table", "plot-x", "plot-y", "plot-group")
        ],
        Output("plot-name", "value"),
        Output("plot-error", "children", allow_duplicate=True),
        Input("plot-saved", "value"),
        State("run-id", "data"),
        prevent_initial_call=True,
    )
    def reopen(name: str | None, run_id: str) -> Any:
        if not name:
            return (no_update,) * (len(controls) + 6)
        try:
            s = plots.check_spec(data.load_plot_spec(root, run_id, name))
        except (ValueError, KeyError, OSError) as err:
            return (
                *(no_update,) * (len(controls) + 5),
                layout.error_panel("This plot cannot be opened", str(err)),
            )
        logs = [a for a, on in (("x", s["log_x"]), ("y", s["log_y"])) if on]
        return (
            s["database"],
            s["table"],
            s["x"],
            s["y"],
            s["group"],
            s["kind"],
            s["theme"],
            s["palette"],
            logs,
            s["smoothing"],
            s["title"],
            s["x_title"],
            s["y_title"],
            _table_names(root, s["database"]),
            *[_column_names(root, s["database"], s["table"])] * 3,
            name,
            None,
        )


def _table_names(root: str, db: str | None) -> list[str]:
    found = data.database_tables(root, db) if db else {"tables": []}
    return [t.name for t in found.get("tables", [])]


def _column_names(root: str, db: str | None, table: str | None) -> list[str]:
    if not db or not table:
        return []
    try:
        return table_info(safe_path(root, db), table).column_names
    except _READ_ERRORS:
        return []


def _spec(
    db: Any,
    table: Any,
    x: Any,
    y: Any,
    group: Any,
    kind: Any,
    theme: Any,
    palette: Any,
    log: Any,
    smoothing: Any,
    title: Any,
    x_title: Any,
    y_title: Any,
) -> dict[str, Any]:
    return {
        "database": db or "",
        "table": table or "",
        "x": x or "step",
        "y": list(y or []),
        "group": group,
        "kind": kind or "line",
        "theme": theme or "plotly_white",
        "palette": palette or "Plotly",
        "log_x": "x" in (log or []),
        "log_y": "y" in (log or []),
        "smoothing": float(smoothing or 0.0),
        "title": title or "",
        "x_title": x_title or "",
        "y_title": y_title or "",
    }


# -- HPO --------------------------------------------------------------------------------------------------


def _hpo_callbacks(app: dash.Dash, root: str) -> None:
    _live_store(app, "hpo-live", lambda db: _db_stamp(root, db), State("hpo-db", "data"))

    @app.callback(
        Output("hpo-study", "options"),
        Output("hpo-study", "value"),
        Input("hpo-db", "data"),
    )
    def study_options(db: str) -> Any:
        try:
            names = hpo.studies(safe_path(root, db))
        except _READ_ERRORS:
            return [], None
        return names, (names[0] if names else None)

    @app.callback(
        Output("hpo-trials", "data"),
        Output("hpo-trials", "columns"),
        Output("hpo-metric", "options"),
        Output("hpo-metric", "value"),
        Output("hpo-direction", "value"),
        Output("hpo-best", "figure"),
        Output("hpo-parallel", "figure"),
        Output("hpo-slices", "figure"),
        Output("hpo-importance", "figure"),
        Output("hpo-reports", "figure"),
        Output("hpo-error", "children"),
        Output("hpo-stamp", "data"),
        Input("hpo-study", "value"),
        Input("hpo-metric", "value"),
        Input("hpo-direction", "value"),
        Input("hpo-live", "data"),
        State("hpo-db", "data"),
        State("hpo-stamp", "data"),
    )
    def views(
        study: str | None,
        metric: str | None,
        direction: str | None,
        _n: Any,
        db: str,
        old_stamp: Any,
    ) -> Any:
        stamp = data.db_stamp(safe_path(root, db))
        if _trigger() in _TICKS and stamp == old_stamp:
            raise PreventUpdate
        return (*_hpo_views(root, db, study, metric, direction), stamp)


def _hpo_views(
    root: str, db: str, study: str | None, metric: str | None, direction: str | None
) -> Any:
    empty = {"data": [], "layout": {"template": "plotly_white"}}
    if not study:
        return [], [], [], None, None, empty, empty, empty, empty, empty, None
    try:
        trials = hpo.load_trials(safe_path(root, db), study)
    except _READ_ERRORS as err:
        return (
            [],
            [],
            [],
            None,
            None,
            empty,
            empty,
            empty,
            empty,
            empty,
            layout.error_panel("The trials cannot be read", str(err)),
        )
    columns, rows = hpo.trials_table(trials)
    metrics = hpo.metric_names(trials)
    if metric not in metrics:
        metric = metrics[0] if metrics else None
        direction = None
    if metric is None:
        return (
            rows,
            [{"name": c, "id": c} for c in columns],
            [],
            None,
            None,
            empty,
            empty,
            empty,
            empty,
            empty,
            None,
        )
    direction = direction or hpo.guess_direction(metric)
    best = hpo.best_figure(hpo.best_so_far(trials, metric, direction), metric)
    reports = plots.overlay_figure(hpo.report_curves(trials, metric), "step", metric)
    views = hpo.analysis(trials, metric, direction)
    return (
        rows,
        [{"name": c, "id": c} for c in columns],
        metrics,
        metric,
        direction,
        _resolve(best),
        _resolve(views["parallel"]),
        _resolve(views["slices"]),
        _resolve(views["importance"]),
        _resolve(reports),
        None,
    )


# -- TensorBoard and Visdom -------------------------------------------------------------------------------


def _tool_callbacks(app: dash.Dash, root: str, services: Services) -> None:
    def frame(url: str) -> Any:
        return html.Iframe(
            src=url, style={"width": "100%", "height": "720px", "border": "1px solid #e5e7eb"}
        )

    @app.callback(
        Output("tb-out", "children"),
        Output("tb-frame", "children"),
        Input("tb-start", "n_clicks"),
        State("run-id", "data"),
        prevent_initial_call=True,
    )
    def tensorboard(_n: Any, run_id: str) -> Any:
        try:
            folder = safe_path(root, run_id)
            logdir = folder / "tensorboard"
            url = services.tensorboard(logdir if logdir.is_dir() else folder, key=run_id)
        except Exception as err:
            return layout.error_panel("TensorBoard did not start", str(err)), None
        return html.A(f"TensorBoard at {url}", href=url, target="_blank", id="tb-link"), frame(url)

    @app.callback(
        Output("visdom-out", "children"),
        Output("visdom-frame", "children"),
        Input("visdom-start", "n_clicks"),
        State("run-id", "data"),
        prevent_initial_call=True,
    )
    def visdom(_n: Any, run_id: str) -> Any:
        try:
            missing = (
                services.visdom_page_ready()
            )  # copies the page's scripts from installed packages
            url = services.visdom()
            env = run_id.replace("/", "_")
            windows = feed_visdom(url, env, safe_path(root, f"{run_id}/{data.LOGS_DB}"))
        except Exception as err:
            return layout.error_panel("Visdom did not start", str(err)), None
        link = f"{url}env/{env}"
        out: list[Any] = [
            html.A(f"Visdom at {link}", href=link, target="_blank", id="visdom-link"),
            f" ({len(windows)} plots)",
        ]
        if missing is not None:
            out.append(
                layout.error_panel(
                    "Visdom's page cannot show the plots offline",
                    "Visdom's page loads jQuery and Plotly.js from its own folder, where Visdom puts them by "
                    "downloading them from CDNs the first time its server runs; the dashboard downloads "
                    "nothing and copies them from installed Python packages instead (XStatic-jQuery, plotly). "
                    "The plots are stored in the server (its API works), but its page stays blank until "
                    f"then: {missing}",
                )
            )
        return html.Span(out), frame(link)
