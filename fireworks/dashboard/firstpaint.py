"""The runs page as plain HTML, sent inside the page itself so the runs show before Dash's scripts have run.

A brand-new browser spends most of the first second fetching and compiling Dash's scripts (React, the
renderer, the components, the table). Meanwhile it shows this: the same header, title and first page of the
runs table, with working links. When the interactive table has drawn, the script below removes it. No Dash
here: it is a string made from the rows the runs page shows.
"""

from __future__ import annotations

from html import escape
from typing import Any

ELEMENT_ID = "fw-first-paint"
_CELL = (
    "font-family:monospace;font-size:13px;text-align:left;padding:4px 8px;border:1px solid #d1d5db"
)

# hides Dash's own (still empty) page while this one shows; gives way when the interactive table has cells,
# when Dash shows another page or an error, and after 20 s whatever happened
_SCRIPT = """<script>(function () {
  var mine = document.getElementById("%(id)s"), dash = document.getElementById("react-entry-point");
  if (!mine || !dash) return;
  dash.style.display = "none";
  var watch = new MutationObserver(check), timer = setTimeout(done, 20000);
  function done() {
    watch.disconnect(); clearTimeout(timer);
    if (mine.parentNode) mine.parentNode.removeChild(mine);
    dash.style.display = "";
  }
  function check() {
    if (document.querySelector("#runs-grid td.dash-cell, .dash-fe-error__title, .dash-error-card")
        || (document.querySelector("#content > *") && !document.querySelector("#runs-grid"))) done();
  }
  watch.observe(dash, {childList: true, subtree: true});
})();</script>"""


def runs_html(
    rows: list[dict[str, Any]],
    columns: list[str],
    links: list[tuple[str, str]],
    count: str,
    page_size: int = 25,
) -> str:
    """The first ``page_size`` runs as an HTML table (``links``: each row's name and address, in order).

    >>> html = runs_html([{"name": "x", "status": "finished"}], ["name", "status"], [("x", "/run/x_0")], "1 of 1 runs")
    >>> '<a href="/run/x_0">x</a>' in html and "finished" in html
    True
    """
    if not rows:
        return ""
    head = "".join(
        f'<th style="{_CELL};background:#f3f4f6;font-weight:bold">{escape(c)}</th>' for c in columns
    )
    body = []
    for i, (row, (name, href)) in enumerate(zip(rows[:page_size], links)):
        cells = []
        for c in columns:
            if c == "name":
                text = f'<a href="{escape(href)}">{escape(name)}</a>'
            else:
                value = row.get(c)
                text = "" if value is None else escape(str(value))
            cells.append(f'<td style="{_CELL}">{text}</td>')
        shade = ' style="background:#fafafa"' if i % 2 else ""
        body.append(f"<tr{shade}>{''.join(cells)}</tr>")
    return (
        f'<div id="{ELEMENT_ID}" style="font-family:system-ui,sans-serif">'
        '<div style="padding:10px 16px;border-bottom:1px solid #e5e7eb">'
        '<a href="/" style="font-weight:bold;font-size:20px;text-decoration:none">Fireworks dashboard</a>'
        '</div><div style="padding:12px 16px"><h2>Runs</h2>'
        f'<p style="color:#6b7280">{escape(count)} · loading the interactive table…</p>'
        '<div style="overflow-x:auto"><table style="border-collapse:collapse">'
        f"<thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table></div></div></div>"
        + _SCRIPT
        % {"id": ELEMENT_ID}
    )
