"""Plots from stored data: a JSON *spec* (what to draw and how it looks) and the figure built from it.

A spec names a SQLite file and table of the run, the x and y columns, an optional grouping column and the
plot kind, plus the style (theme, palette, axis titles, log scales, smoothing). Specs are saved in the run's
``plots/`` folder and re-rendered from the current data each time, so a restyle never needs the data again
and a saved plot follows a run that is still writing. Figures are plain dicts in Plotly's JSON schema; only
the palettes come from ``plotly`` (imported when a figure is built).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

KINDS = ("line", "scatter", "bar", "histogram", "box")
THEMES = ("plotly_white", "plotly", "plotly_dark", "ggplot2", "seaborn", "simple_white")
PALETTES = ("Plotly", "D3", "G10", "T10", "Dark2", "Set1", "Pastel", "Safe")
MAX_GROUPS = 50

DEFAULT_SPEC: dict[str, Any] = {
    "database": "",
    "table": "",
    "x": "step",
    "y": [],
    "group": None,
    "kind": "line",
    "theme": "plotly_white",
    "palette": "Plotly",
    "title": "",
    "x_title": "",
    "y_title": "",
    "log_x": False,
    "log_y": False,
    "smoothing": 0.0,
}


def check_spec(spec: dict[str, Any]) -> dict[str, Any]:
    """``spec`` completed with defaults and checked; ``ValueError`` naming the bad field and its allowed values."""
    if not isinstance(spec, dict):
        raise TypeError(f"a plot spec must be a dict, but got {type(spec).__name__}")
    unknown = set(spec) - set(DEFAULT_SPEC)
    if unknown:
        raise ValueError(
            f"unknown plot spec fields {sorted(unknown)}; known: {sorted(DEFAULT_SPEC)}"
        )
    out = {**DEFAULT_SPEC, **spec}
    if isinstance(out["y"], str):
        out["y"] = [out["y"]]
    if not isinstance(out["y"], list) or not all(isinstance(y, str) for y in out["y"]):
        raise ValueError(f"y must be a column name or a list of them, but got {out['y']!r}")
    for key, allowed in (("kind", KINDS), ("theme", THEMES), ("palette", PALETTES)):
        if out[key] not in allowed:
            raise ValueError(f"plot {key} must be one of {list(allowed)}, but got {out[key]!r}")
    smoothing = out["smoothing"]
    if not isinstance(smoothing, (int, float)) or not 0 <= smoothing < 1:
        raise ValueError(f"smoothing must be a number in [0, 1), but got {smoothing!r}")
    for key in ("log_x", "log_y"):
        out[key] = bool(out[key])
    if out["group"] in ("", None):
        out["group"] = None
    return out


def columns_needed(spec: dict[str, Any]) -> list[str]:
    """The table columns a spec reads."""
    cols = [spec["x"]] if spec.get("x") and spec["kind"] not in ("histogram", "box") else []
    cols += spec["y"]
    if spec.get("group"):
        cols.append(spec["group"])
    return list(dict.fromkeys(cols))


def smooth(values: np.ndarray, weight: float) -> np.ndarray:
    """Exponential moving average with ``weight`` in [0, 1) (TensorBoard's smoothing slider); NaNs are skipped."""
    if weight <= 0:
        return values
    return (
        pd.Series(values, dtype=float)
        .ewm(alpha=1.0 - weight, adjust=False, ignore_na=True)
        .mean()
        .to_numpy()
    )


def _numbers(values: list[Any]) -> np.ndarray:
    return pd.to_numeric(pd.Series(values, dtype=object), errors="coerce").to_numpy(dtype=float)


def _json_list(arr: np.ndarray) -> list[Any]:
    return [None if isinstance(v, float) and not math.isfinite(v) else v for v in arr.tolist()]


def build_figure(spec: dict[str, Any], data: dict[str, list[Any]]) -> dict[str, Any]:
    """The Plotly figure (a dict) for ``spec`` over ``data`` (column → values, e.g. from ``read_columns``)."""
    from plotly import colors

    spec = check_spec(spec)
    palette = list(getattr(colors.qualitative, spec["palette"]))
    missing = [c for c in columns_needed(spec) if c not in data]
    if missing:
        raise ValueError(f"the data has no column(s) {missing}; it has {sorted(data)}")
    if not spec["y"]:
        raise ValueError("choose at least one y column to plot")
    n = len(next(iter(data.values()))) if data else 0
    groups: list[tuple[str | None, np.ndarray]]
    if spec["group"]:
        keys = pd.Series(data[spec["group"]], dtype=object).astype(str)
        names = list(dict.fromkeys(keys))[:MAX_GROUPS]
        groups = [(name, (keys == name).to_numpy()) for name in names]
    else:
        groups = [(None, np.ones(n, dtype=bool))]
    uses_x = spec["kind"] not in ("histogram", "box")
    x_all = np.asarray(data[spec["x"]], dtype=object) if uses_x else None
    traces: list[dict[str, Any]] = []
    for y in spec["y"]:
        y_all = _numbers(data[y])
        for name, mask in groups:
            label = (
                y
                if name is None
                else (f"{spec['group']}={name}" if len(spec["y"]) == 1 else f"{y} {name}")
            )
            color = palette[len(traces) % len(palette)]
            values = y_all[mask]
            if spec["kind"] == "line" and spec["smoothing"] > 0:
                values = smooth(values, float(spec["smoothing"]))
            trace: dict[str, Any] = {"name": label}
            if spec["kind"] == "histogram":
                trace.update(
                    type="histogram", x=_json_list(values), marker={"color": color}, opacity=0.75
                )
            elif spec["kind"] == "box":
                trace.update(type="box", y=_json_list(values), marker={"color": color})
            else:
                assert x_all is not None
                xs = x_all[mask].tolist()
                trace.update(x=xs, y=_json_list(values))
                if spec["kind"] == "bar":
                    trace.update(type="bar", marker={"color": color})
                else:
                    mode = "lines" if spec["kind"] == "line" else "markers"
                    trace.update(type="scattergl" if len(xs) > 5000 else "scatter", mode=mode)
                    trace["line" if mode == "lines" else "marker"] = {"color": color}
            traces.append(trace)
    x_title = spec["x_title"] or (spec["x"] if uses_x else ", ".join(spec["y"]))
    y_title = spec["y_title"] or (", ".join(spec["y"]) if uses_x else "count")
    layout: dict[str, Any] = {
        "template": spec["theme"],
        "title": {"text": spec["title"] or f"{spec['table']}: {', '.join(spec['y'])}"},
        "xaxis": {"title": {"text": x_title}, "type": "log" if spec["log_x"] else "-"},
        "yaxis": {"title": {"text": y_title}, "type": "log" if spec["log_y"] else "-"},
        "legend": {"orientation": "h"},
        "margin": {"t": 50, "l": 60, "r": 20, "b": 50},
    }
    if spec["kind"] == "histogram":
        layout["barmode"] = "overlay"
    return {"data": traces, "layout": layout}


def overlay_figure(
    curves: list[tuple[str, list[Any], list[Any]]], x_title: str, y_title: str
) -> dict[str, Any]:
    """One line per (name, x, y): the runs page's overlaid curves of a metric across runs."""
    traces = [
        {
            "type": "scatter",
            "mode": "lines",
            "name": name,
            "x": list(x),
            "y": _json_list(_numbers(list(y))),
        }
        for name, x, y in curves
    ]
    return {
        "data": traces,
        "layout": {
            "template": "plotly_white",
            "xaxis": {"title": {"text": x_title}},
            "yaxis": {"title": {"text": y_title}},
            "legend": {"orientation": "h"},
            "margin": {"t": 30, "l": 60, "r": 20, "b": 50},
        },
    }
