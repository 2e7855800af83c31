"""The Dash components of the dashboard's pages (thin: what to show comes from the data functions)."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote as urlquote

from fireworks._imports import optional_import

optional_import("dash", "dashboard", "the dashboard")

from dash import dash_table, dcc, html

from fireworks.dashboard import data, plots
from fireworks.dashboard.sqlbrowser import OPS

LIVE_MS = 2000
PAGE_SIZE = 50
_CELL = {
    "fontFamily": "monospace",
    "fontSize": "13px",
    "textAlign": "left",
    "padding": "4px 8px",
    "maxWidth": "360px",
    "overflow": "hidden",
    "textOverflow": "ellipsis",
}
_HEADER = {"fontWeight": "bold", "backgroundColor": "#f3f4f6"}


def run_href(run_id: str) -> str:
    return "/run/" + urlquote(run_id)


def file_href(rel: str) -> str:
    return "/files/" + urlquote(rel)


def error_panel(title: str, message: str, id_: str | None = None) -> html.Div:
    """A red box in place of a part of the page that cannot be shown."""
    kwargs: dict[str, Any] = {"id": id_} if id_ else {}
    return html.Div(
        [
            html.Strong(title),
            html.Pre(message, style={"whiteSpace": "pre-wrap", "margin": "4px 0 0"}),
        ],
        className="error-panel",
        style={
            "border": "1px solid #dc2626",
            "background": "#fef2f2",
            "color": "#991b1b",
            "padding": "8px 12px",
            "borderRadius": "6px",
            "margin": "8px 0",
        },
        **kwargs,
    )


def grid(id_: str, **kwargs: Any) -> Any:
    kwargs.setdefault(
        "style_data_conditional", [{"if": {"row_index": "odd"}, "backgroundColor": "#fafafa"}]
    )
    return dash_table.DataTable(  # type: ignore[attr-defined]
        id=id_, style_cell=_CELL, style_header=_HEADER, style_table={"overflowX": "auto"}, **kwargs
    )


def shell(content: Any) -> html.Div:
    return html.Div(
        [
            html.Div(
                [
                    dcc.Link(
                        "Fireworks dashboard",
                        href="/",
                        style={"fontWeight": "bold", "fontSize": "20px", "textDecoration": "none"},
                    )
                ],
                style={"padding": "10px 16px", "borderBottom": "1px solid #e5e7eb"},
            ),
            html.Div(content, id="page", style={"padding": "12px 16px"}),
        ],
        style={"fontFamily": "system-ui, sans-serif"},
    )


def runs_page(table: dict[str, Any]) -> html.Div:
    """The runs page with its table already filled (``table``: rows, columns, count, error), so the browser
    draws it from the page's layout without a callback round trip first."""
    return html.Div(
        [
            html.H2("Runs"),
            html.Div(
                [
                    dcc.Input(
                        id="runs-search",
                        type="search",
                        placeholder="search name, description, commit",
                        debounce=True,
                        style={"width": "320px"},
                    ),
                    dcc.Dropdown(
                        id="runs-status",
                        options=["running", "finished", "error"],
                        placeholder="any status",
                        style={"width": "180px"},
                    ),
                    html.Span(table["count"], id="runs-count", style={"color": "#6b7280"}),
                ],
                style={
                    "display": "flex",
                    "gap": "12px",
                    "alignItems": "center",
                    "marginBottom": "8px",
                },
            ),
            html.Div(table["error"], id="runs-error"),
            dcc.Store(id="runs-stamp", data=table["stamp"]),
            # stamps changed by a live tick only when what the runs table / the comparison reads changed
            dcc.Store(id="runs-live", data=table["stamp"]),
            dcc.Store(id="compare-live"),
            grid(
                "runs-grid",
                row_selectable="multi",
                selected_row_ids=[],
                sort_action="native",
                filter_action="native",
                page_action="native",
                page_size=25,
                data=table["rows"],
                columns=table["columns"],
                markdown_options={"link_target": "_self"},
            ),
            html.H3("Compare"),
            html.P(
                "Select runs above to compare their metrics and overlay their curves.",
                style={"color": "#6b7280"},
            ),
            grid("compare-grid", data=[], columns=[]),
            dcc.Dropdown(
                id="compare-metric",
                placeholder="curve to overlay (table.column)",
                style={"width": "360px", "marginTop": "8px"},
            ),
            # the graph (and so plotly.js, 4.8 MB) is added when a curve is chosen, not with the page
            html.Div(id="compare-plot"),
            dcc.Interval(id="live", interval=LIVE_MS),
        ]
    )


def compare_graph() -> Any:
    return dcc.Graph(
        id="compare-graph", figure={"data": [], "layout": {"template": "plotly_white"}}
    )


def run_page(root: str, run_id: str) -> html.Div:
    """The page of one run, or an error panel when its folder or metadata cannot be read."""
    try:
        _folder, meta = data.open_run(root, run_id)
    except (data.RunError, ValueError, OSError) as err:
        return html.Div(
            [html.H2(run_id), error_panel("This run cannot be shown", str(err), "run-error")]
        )
    files = data.run_files(root, run_id)
    dbs = [f["path"] for f in files if f["kind"] == "sqlite"]
    factory_db = next((d for d in dbs if d.endswith("/" + data.FACTORY_DB)), None)
    title = f"{meta.get('name', run_id)} #{meta.get('iteration', '')}"
    tabs = [
        dcc.Tab(label="Overview", value="overview", children=overview_tab(run_id, meta, files)),
        dcc.Tab(label="Tables", value="tables", children=tables_tab(dbs)),
        dcc.Tab(label="Plots", value="plots", children=plots_tab(root, run_id, dbs)),
    ]
    if factory_db is not None:
        tabs.append(dcc.Tab(label="Search (HPO)", value="hpo", children=hpo_tab(factory_db)))
    tabs += [
        dcc.Tab(label="Pipeline", value="pipeline", children=pipeline_tab(root, run_id)),
        dcc.Tab(label="TensorBoard / Visdom", value="tools", children=tools_tab(root, run_id)),
    ]
    return html.Div(
        [
            html.H2(title, id="run-title"),
            html.P(str(meta.get("description", "")), style={"color": "#4b5563"}),
            dcc.Store(id="run-id", data=run_id),
            dcc.Tabs(id="run-tabs", value="overview", children=tabs),
            dcc.Interval(id="live", interval=LIVE_MS),
        ]
    )


def overview_tab(run_id: str, meta: dict[str, Any], files: list[dict[str, Any]]) -> html.Div:
    rows = [
        {"file": f"[{f['name']}]({file_href(f['path'])})", "kind": f["kind"], "bytes": f["size"]}
        for f in files
    ]
    return html.Div(
        [
            html.H3("Metadata"),
            html.Pre(
                json.dumps(meta, indent=2, default=str),
                id="run-metadata",
                style={
                    "maxHeight": "320px",
                    "overflow": "auto",
                    "background": "#f9fafb",
                    "padding": "8px",
                },
            ),
            html.H3("Files"),
            grid(
                "files-grid",
                data=rows,
                markdown_options={"link_target": "_blank"},
                columns=[
                    {"name": "file", "id": "file", "presentation": "markdown"},
                    {"name": "kind", "id": "kind"},
                    {"name": "bytes", "id": "bytes"},
                ],
                page_size=20,
            ),
            html.Div(
                [
                    html.Label("Show a file: "),
                    dcc.Dropdown(
                        id="file-pick",
                        options=[{"label": f["name"], "value": f["path"]} for f in files],
                        style={"width": "420px"},
                    ),
                ],
                style={"display": "flex", "gap": "8px", "alignItems": "center", "margin": "8px 0"},
            ),
            html.Div(id="file-view"),
        ]
    )


def file_view(root: str, rel: str) -> Any:
    try:
        preview = data.read_preview(root, rel)
    except (ValueError, OSError) as err:
        return error_panel("This file cannot be shown", str(err))
    link = html.A("download", href=file_href(rel), target="_blank")
    if preview["kind"] == "image":
        return html.Div([html.Img(src=file_href(rel), style={"maxWidth": "100%"}), html.Div(link)])
    if preview["kind"] in ("json", "text"):
        parts: list[Any] = []
        if preview.get("error"):
            parts.append(error_panel("Not valid JSON", preview["error"]))
        parts.append(
            html.Pre(
                preview["text"],
                id="file-text",
                style={
                    "maxHeight": "480px",
                    "overflow": "auto",
                    "background": "#f9fafb",
                    "padding": "8px",
                },
            )
        )
        if preview.get("truncated"):
            parts.append(html.P(["the first 200 kB are shown; ", link]))
        return html.Div(parts)
    return html.P([f"{preview['kind']} file, {preview['size']} bytes: ", link])


def tables_tab(dbs: list[str]) -> html.Div:
    row = {
        "display": "flex",
        "gap": "8px",
        "alignItems": "center",
        "margin": "6px 0",
        "flexWrap": "wrap",
    }
    return html.Div(
        [
            html.Div(
                [
                    dcc.Dropdown(
                        id="sql-db",
                        options=dbs,
                        value=dbs[0] if dbs else None,
                        placeholder="database",
                        clearable=False,
                        style={"width": "320px"},
                    ),
                    dcc.Dropdown(
                        id="sql-table",
                        placeholder="table",
                        clearable=False,
                        style={"width": "260px"},
                    ),
                ],
                style=row,
            ),
            html.Div(id="sql-error"),
            html.Div(
                [
                    dcc.Dropdown(
                        id="sql-filter-col", placeholder="column", style={"width": "180px"}
                    ),
                    dcc.Dropdown(
                        id="sql-filter-op",
                        options=list(OPS),
                        value="=",
                        clearable=False,
                        style={"width": "130px"},
                    ),
                    dcc.Input(id="sql-filter-value", placeholder="value", style={"width": "160px"}),
                    html.Button("add filter", id="sql-filter-add"),
                    html.Button("clear filters", id="sql-filter-clear"),
                    html.Span(id="sql-filter-list", style={"color": "#374151"}),
                ],
                style=row,
            ),
            html.Div(
                [
                    html.Button("« first", id="sql-first"),
                    html.Button("< prev", id="sql-prev"),
                    html.Button("next >", id="sql-next"),
                    html.Button("last »", id="sql-last"),
                    html.Span(id="sql-status", style={"color": "#374151"}),
                    html.Button("count rows", id="sql-count"),
                    html.Span(id="sql-count-out"),
                ],
                style=row,
            ),
            grid(
                "sql-grid",
                data=[],
                columns=[],
                sort_action="custom",
                sort_mode="single",
                sort_by=[],
                page_action="none",
            ),
            dcc.Store(id="sql-state"),
            dcc.Store(
                id="sql-live"
            ),  # the file's stamp, changed by a live tick only when it was written
        ]
    )


def plots_tab(root: str, run_id: str, dbs: list[str]) -> html.Div:
    spec = plots.DEFAULT_SPEC
    row = {
        "display": "flex",
        "gap": "8px",
        "alignItems": "center",
        "margin": "6px 0",
        "flexWrap": "wrap",
    }
    logs = next((d for d in dbs if d.endswith("/" + data.LOGS_DB)), dbs[0] if dbs else None)
    return html.Div(
        [
            html.Div(
                [
                    dcc.Dropdown(
                        id="plot-db",
                        options=dbs,
                        value=logs,
                        placeholder="database",
                        style={"width": "280px"},
                    ),
                    dcc.Dropdown(id="plot-table", placeholder="table", style={"width": "200px"}),
                    dcc.Dropdown(
                        id="plot-x", value=spec["x"], placeholder="x", style={"width": "160px"}
                    ),
                    dcc.Dropdown(
                        id="plot-y",
                        multi=True,
                        value=[],
                        placeholder="y columns",
                        style={"width": "280px"},
                    ),
                    dcc.Dropdown(id="plot-group", placeholder="group by", style={"width": "160px"}),
                    dcc.Dropdown(
                        id="plot-kind",
                        options=list(plots.KINDS),
                        value=spec["kind"],
                        clearable=False,
                        style={"width": "130px"},
                    ),
                ],
                style=row,
            ),
            html.Div(
                [
                    html.Label("theme"),
                    dcc.Dropdown(
                        id="plot-theme",
                        options=list(plots.THEMES),
                        value=spec["theme"],
                        clearable=False,
                        style={"width": "150px"},
                    ),
                    html.Label("colours"),
                    dcc.Dropdown(
                        id="plot-palette",
                        options=list(plots.PALETTES),
                        value=spec["palette"],
                        clearable=False,
                        style={"width": "120px"},
                    ),
                    dcc.Checklist(
                        id="plot-log",
                        options=[
                            {"label": " log x", "value": "x"},
                            {"label": " log y", "value": "y"},
                        ],
                        value=[],
                        inline=True,
                    ),
                    html.Label("smoothing"),
                    html.Div(
                        dcc.Slider(
                            id="plot-smooth",
                            min=0,
                            max=0.99,
                            step=0.01,
                            value=0.0,
                            marks={0: "0", 0.5: "0.5", 0.9: "0.9"},
                        ),
                        style={"width": "200px"},
                    ),
                    dcc.Input(
                        id="plot-title",
                        placeholder="title",
                        debounce=True,
                        style={"width": "160px"},
                    ),
                    dcc.Input(
                        id="plot-xtitle",
                        placeholder="x axis title",
                        debounce=True,
                        style={"width": "120px"},
                    ),
                    dcc.Input(
                        id="plot-ytitle",
                        placeholder="y axis title",
                        debounce=True,
                        style={"width": "120px"},
                    ),
                ],
                style=row,
            ),
            html.Div(
                [
                    dcc.Input(id="plot-name", placeholder="plot name", style={"width": "160px"}),
                    html.Button("save plot", id="plot-save"),
                    dcc.Dropdown(
                        id="plot-saved",
                        options=data.saved_plots(root, run_id),
                        placeholder="open a saved plot",
                        style={"width": "220px"},
                    ),
                    html.Span(id="plot-msg", style={"color": "#065f46"}),
                ],
                style=row,
            ),
            html.Div(id="plot-error"),
            dcc.Store(id="plot-stamp"),
            dcc.Store(
                id="plot-live"
            ),  # the file's stamp, changed by a live tick only when it was written
            dcc.Graph(
                id="plot-graph",
                figure={"data": [], "layout": {"template": "plotly_white"}},
                style={"height": "520px"},
            ),
        ]
    )


def hpo_tab(factory_db: str) -> html.Div:
    row = {"display": "flex", "gap": "8px", "alignItems": "center", "margin": "6px 0"}
    return html.Div(
        [
            dcc.Store(id="hpo-db", data=factory_db),
            dcc.Store(id="hpo-stamp"),
            dcc.Store(
                id="hpo-live"
            ),  # the file's stamp, changed by a live tick only when it was written
            html.Div(
                [
                    dcc.Dropdown(
                        id="hpo-study",
                        placeholder="study",
                        clearable=False,
                        style={"width": "200px"},
                    ),
                    dcc.Dropdown(
                        id="hpo-metric",
                        placeholder="metric",
                        clearable=False,
                        style={"width": "200px"},
                    ),
                    dcc.RadioItems(
                        id="hpo-direction", options=["maximize", "minimize"], inline=True
                    ),
                ],
                style=row,
            ),
            html.Div(id="hpo-error"),
            html.H4("Trials"),
            grid("hpo-trials", data=[], columns=[], sort_action="native", page_size=20),
            html.Div(
                [
                    dcc.Graph(id="hpo-best", style={"width": "50%"}),
                    dcc.Graph(id="hpo-importance", style={"width": "50%"}),
                ],
                style={"display": "flex"},
            ),
            dcc.Graph(id="hpo-parallel"),
            dcc.Graph(id="hpo-slices"),
            dcc.Graph(id="hpo-reports"),
        ]
    )


def pipeline_tab(root: str, run_id: str) -> html.Div:
    parts: list[Any] = []
    pictures = data.pipeline_pictures(root, run_id)
    for pic in pictures:
        parts.append(html.H4(pic["name"]))
        if pic["kind"] == "image":
            parts.append(html.Img(src=file_href(pic["path"]), style={"maxWidth": "100%"}))
        else:
            try:
                text = data.read_preview(root, pic["path"]).get("text", "")
                parts.append(dcc.Graph(figure=graph_figure(text), style={"height": "360px"}))
                parts.append(html.Details([html.Summary("text"), html.Pre(text)]))
            except (ValueError, OSError) as err:
                parts.append(error_panel("The picture cannot be read", str(err)))
    for k, entry in enumerate(data.dry_run_reports(root, run_id)):
        parts.append(html.H4(f"dry run: {entry['path']}"))
        if "error" in entry:
            parts.append(error_panel("The dry-run report cannot be read", entry["error"]))
            continue
        report = entry["report"]
        nodes = [*report["nodes"], *([report["train_step"]] if report.get("train_step") else [])]
        rows = [
            {
                "node": n.get("name"),
                "class": n.get("kind"),
                "status": n.get("status"),
                "ms": round(1e3 * float(n.get("seconds") or 0), 2),
                "self ms": round(1e3 * float(n.get("self_seconds") or 0), 2),
                "messages": n.get("messages"),
                "rows": n.get("rows"),
                "schema": ", ".join(f"{k}: {v}" for k, v in (n.get("schema") or {}).items()),
                "error": n.get("error") or "",
            }
            for n in nodes
        ]
        parts.append(
            html.P(f"{'OK' if report.get('ok') else 'FAILED'} in {report.get('seconds', 0):.3f} s")
        )
        parts.append(
            grid(
                "dry-run-grid" if k == 0 else f"dry-run-grid-{k}",
                data=rows,
                columns=[{"name": c, "id": c} for c in rows[0]] if rows else [],
                style_data_conditional=[
                    {"if": {"filter_query": '{status} = "error"'}, "backgroundColor": "#fee2e2"}
                ],
            )
        )
    if not parts:
        parts.append(
            html.P(
                "No pipeline picture (pipeline*.svg/png/mmd/dot) or dry-run report (dry_run*.json) "
                "was saved in this run.",
                style={"color": "#6b7280"},
            )
        )
    return html.Div(parts)


def graph_figure(text: str) -> dict[str, Any]:
    """A left-to-right drawing of a pipeline graph given as Mermaid or DOT text."""
    nodes, edges = data.parse_graph(text)
    pos = data.layer_layout(nodes, edges)
    ex: list[Any] = []
    ey: list[Any] = []
    for a, b in edges:
        ex += [pos[a][0], pos[b][0], None]
        ey += [-pos[a][1], -pos[b][1], None]
    ids = list(nodes)
    return {
        "data": [
            {
                "type": "scatter",
                "mode": "lines",
                "x": ex,
                "y": ey,
                "line": {"color": "#9ca3af"},
                "hoverinfo": "skip",
            },
            {
                "type": "scatter",
                "mode": "markers+text",
                "x": [pos[n][0] for n in ids],
                "y": [-pos[n][1] for n in ids],
                "text": [nodes[n] for n in ids],
                "textposition": "top center",
                "marker": {"size": 18, "symbol": "square", "color": "#60a5fa"},
            },
        ],
        "layout": {
            "template": "plotly_white",
            "showlegend": False,
            "xaxis": {"visible": False},
            "yaxis": {"visible": False},
            "margin": {"t": 20, "l": 20, "r": 20, "b": 20},
        },
    }


def tools_tab(root: str, run_id: str) -> html.Div:
    return html.Div(
        [
            html.P(
                "Each tool is started for this run on a free port of 127.0.0.1 and stopped with the dashboard."
            ),
            html.Div(
                [html.Button("open TensorBoard", id="tb-start"), html.Span(id="tb-out")],
                style={"display": "flex", "gap": "8px", "alignItems": "center"},
            ),
            html.Div(id="tb-frame"),
            html.Div(
                [html.Button("open Visdom", id="visdom-start"), html.Span(id="visdom-out")],
                style={
                    "display": "flex",
                    "gap": "8px",
                    "alignItems": "center",
                    "marginTop": "12px",
                },
            ),
            html.Div(id="visdom-frame"),
        ]
    )
