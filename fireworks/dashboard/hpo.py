"""Views of a Factory search: trials table, best-so-far curve, parallel coordinates, slices, importances.

Trials are read read-only from the Factory's SQL tables (``fireworks_trials``, ``fireworks_reports`` in
``factory.sqlite``); the plot data are computed by pure functions over plain trial dicts, and the figures are
Plotly dicts. Importance is the share of the metric's variance each parameter explains on its own (the
correlation ratio, eta squared, over up to :data:`IMPORTANCE_BINS` quantile bins of a numeric parameter),
normalised to sum to 1; it needs no Optuna study, so it works on any storage the Factory wrote.

:func:`analysis` picks the engine: with the ``optuna`` extra installed, the importances and the slices are
Optuna's own, computed on an in-memory study made from the trials (:mod:`.hpo_optuna`); without it, or when
Optuna fails on the data, they come from the pure functions here. Parallel coordinates are always drawn here,
as one Plotly ``parcoords`` trace whose axes can be brushed (Optuna 5 draws them as one line trace per trial).
"""

from __future__ import annotations

import json
import math
import os
from typing import Any

import numpy as np
import pandas as pd

from fireworks.dashboard.sqlbrowser import connect_readonly

IMPORTANCE_BINS = 5
_MAXIMISE_HINTS = ("acc", "score", "auc", "f1", "precision", "recall", "r2", "reward", "iou", "map")


def has_trials(path: str | os.PathLike[str]) -> bool:
    """Whether the SQLite file holds a Factory's trial table."""
    conn = connect_readonly(path)
    try:
        return (
            conn.execute(
                "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'fireworks_trials'"
            ).fetchone()
            is not None
        )
    finally:
        conn.close()


def studies(path: str | os.PathLike[str]) -> list[str]:
    conn = connect_readonly(path)
    try:
        return [
            r[0] for r in conn.execute("SELECT DISTINCT study FROM fireworks_trials ORDER BY study")
        ]
    finally:
        conn.close()


def load_trials(path: str | os.PathLike[str], study: str) -> list[dict[str, Any]]:
    """Every trial of ``study`` as a dict (id, status, params, metrics, error, times, reports), by id."""
    conn = connect_readonly(path)
    try:
        rows = conn.execute(
            "SELECT id, status, params, metrics, error, started_at, finished_at, worker "
            "FROM fireworks_trials WHERE study = ? ORDER BY id",
            (study,),
        ).fetchall()
        reports = conn.execute(
            "SELECT trial, step, metrics FROM fireworks_reports WHERE study = ? ORDER BY pk",
            (study,),
        ).fetchall()
    finally:
        conn.close()
    trials = {}
    for tid, status, params, metrics, error, started, finished, worker in rows:
        trials[tid] = {
            "id": tid,
            "status": status,
            "params": json.loads(params),
            "metrics": json.loads(metrics),
            "error": error,
            "started_at": started,
            "finished_at": finished,
            "duration": finished - started
            if started is not None and finished is not None
            else None,
            "worker": worker,
            "reports": [],
        }
    for tid, step, metrics in reports:
        if tid in trials:
            trials[tid]["reports"].append((step, json.loads(metrics)))
    return list(trials.values())


def metric_names(trials: list[dict[str, Any]]) -> list[str]:
    return sorted({k for t in trials for k, v in t["metrics"].items() if _is_number(v)})


def param_names(trials: list[dict[str, Any]]) -> list[str]:
    return list(dict.fromkeys(k for t in trials for k in t["params"]))


def guess_direction(metric: str) -> str:
    """``"maximize"`` for accuracy-like names, else ``"minimize"``: a default the page lets one change."""
    return "maximize" if any(h in metric.lower() for h in _MAXIMISE_HINTS) else "minimize"


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def trials_table(trials: list[dict[str, Any]]) -> tuple[list[str], list[dict[str, Any]]]:
    """(columns, rows) of the trials table: id, status, one column per param and metric, seconds, error."""
    params, metrics = param_names(trials), metric_names(trials)
    columns = ["id", "status", *params, *metrics, "seconds", "error"]
    rows = []
    for t in trials:
        row: dict[str, Any] = {"id": t["id"], "status": t["status"]}
        for p in params:
            v = t["params"].get(p)
            row[p] = v if isinstance(v, (int, float, str, bool)) or v is None else json.dumps(v)
        for m in metrics:
            row[m] = t["metrics"].get(m)
        row["seconds"] = round(t["duration"], 3) if t["duration"] is not None else None
        row["error"] = (t["error"] or "").splitlines()[0] if t["error"] else ""
        rows.append(row)
    return columns, rows


def best_so_far(
    trials: list[dict[str, Any]], metric: str, direction: str = "maximize"
) -> dict[str, list[Any]]:
    """Per completed trial (by id): its value of ``metric`` and the best value up to it."""
    if direction not in ("maximize", "minimize"):
        raise ValueError(f"direction must be 'maximize' or 'minimize', but got {direction!r}")
    done = [t for t in trials if t["status"] == "complete" and _is_number(t["metrics"].get(metric))]
    ids = [t["id"] for t in done]
    values = np.array([t["metrics"][metric] for t in done], dtype=float)
    best = (
        (np.maximum if direction == "maximize" else np.minimum).accumulate(values)
        if len(values)
        else values
    )
    return {"id": ids, "value": values.tolist(), "best": best.tolist()}


def _complete(trials: list[dict[str, Any]], metric: str) -> list[dict[str, Any]]:
    return [t for t in trials if t["status"] == "complete" and _is_number(t["metrics"].get(metric))]


def _param_column(done: list[dict[str, Any]], name: str) -> tuple[np.ndarray, list[str] | None]:
    """Numeric values of a parameter, or category codes and their labels for a non-numeric one."""
    values = [t["params"].get(name) for t in done]
    if all(_is_number(v) for v in values):
        return np.asarray(values, dtype=float), None
    labels = sorted({json.dumps(v) if not isinstance(v, str) else v for v in values})
    index = {label: i for i, label in enumerate(labels)}
    codes = [index[json.dumps(v) if not isinstance(v, str) else v] for v in values]
    return np.asarray(codes, dtype=float), labels


def importances(trials: list[dict[str, Any]], metric: str) -> dict[str, float]:
    """Each parameter's share of the variance of ``metric`` it explains alone (eta squared), summing to 1."""
    done = _complete(trials, metric)
    y = np.array([t["metrics"][metric] for t in done], dtype=float)
    if len(y) < 2 or float(np.var(y)) == 0.0:
        return {p: 0.0 for p in param_names(trials)}
    raw = {}
    for name in param_names(done):
        values, labels = _param_column(done, name)
        if labels is None and len(np.unique(values)) > IMPORTANCE_BINS:
            edges = np.quantile(values, np.linspace(0, 1, IMPORTANCE_BINS + 1)[1:-1])
            groups = np.searchsorted(edges, values, side="right")
        else:
            groups = np.unique(values, return_inverse=True)[1]
        means = pd.Series(y).groupby(groups).transform("mean").to_numpy()
        raw[name] = float(np.sum((means - y.mean()) ** 2) / np.sum((y - y.mean()) ** 2))
    total = sum(raw.values())
    return {
        k: (v / total if total > 0 else 0.0) for k, v in sorted(raw.items(), key=lambda kv: -kv[1])
    }


def best_figure(data: dict[str, list[Any]], metric: str) -> dict[str, Any]:
    return {
        "data": [
            {
                "type": "scatter",
                "mode": "markers",
                "name": metric,
                "x": data["id"],
                "y": data["value"],
            },
            {
                "type": "scatter",
                "mode": "lines",
                "name": "best so far",
                "x": data["id"],
                "y": data["best"],
                "line": {"shape": "hv"},
            },
        ],
        "layout": {
            "template": "plotly_white",
            "title": {"text": f"best {metric} so far"},
            "xaxis": {"title": {"text": "trial"}},
            "yaxis": {"title": {"text": metric}},
            "margin": {"t": 40, "l": 60, "r": 20, "b": 40},
        },
    }


def parallel_figure(trials: list[dict[str, Any]], metric: str) -> dict[str, Any]:
    """Parallel coordinates: one axis per parameter and one for ``metric``, lines coloured by it."""
    done = _complete(trials, metric)
    y = [t["metrics"][metric] for t in done]
    dims = []
    for name in param_names(done):
        values, labels = _param_column(done, name)
        dim: dict[str, Any] = {"label": name, "values": values.tolist()}
        if labels is not None:
            dim.update(tickvals=list(range(len(labels))), ticktext=labels)
        dims.append(dim)
    dims.append({"label": metric, "values": y})
    return {
        "data": [
            {
                "type": "parcoords",
                "line": {"color": y, "colorscale": "Viridis", "showscale": True},
                "dimensions": dims,
            }
        ],
        "layout": {"template": "plotly_white", "margin": {"t": 60, "l": 60, "r": 60, "b": 30}},
    }


def slice_figure(trials: list[dict[str, Any]], metric: str) -> dict[str, Any]:
    """One panel per parameter: the metric of every completed trial against that parameter's value."""
    done = _complete(trials, metric)
    names = param_names(done)
    y = [t["metrics"][metric] for t in done]
    ids = [t["id"] for t in done]
    traces, layout = (
        [],
        {
            "template": "plotly_white",
            "showlegend": False,
            "margin": {"t": 40, "l": 60, "r": 20, "b": 40},
        },
    )
    width = 1.0 / max(1, len(names))
    for i, name in enumerate(names):
        axis = "" if i == 0 else str(i + 1)
        values, labels = _param_column(done, name)
        xs = [labels[int(v)] for v in values] if labels is not None else values.tolist()
        traces.append(
            {
                "type": "scatter",
                "mode": "markers",
                "x": xs,
                "y": y,
                "text": [f"trial {t}" for t in ids],
                "xaxis": f"x{axis}",
                "yaxis": f"y{axis}",
                "name": name,
                "marker": {"color": ids, "colorscale": "Blues"},
            }
        )
        layout[f"xaxis{axis}"] = {
            "domain": [i * width + 0.02, (i + 1) * width - 0.02],
            "title": {"text": name},
            "type": "category" if labels is not None else _axis_type(values),
        }
        layout[f"yaxis{axis}"] = {"anchor": f"x{axis}", "title": {"text": metric if i == 0 else ""}}
    return {"data": traces, "layout": layout}


def _axis_type(values: np.ndarray) -> str:
    """``"log"`` for positive values spanning two decades or more (a log-uniform learning rate), else auto."""
    if len(values) and float(values.min()) > 0 and float(values.max()) / float(values.min()) >= 100:
        return "log"
    return "-"


def importance_figure(
    values: dict[str, float], metric: str, method: str = "eta squared share"
) -> dict[str, Any]:
    names = list(values)[::-1]
    return {
        "data": [{"type": "bar", "orientation": "h", "x": [values[n] for n in names], "y": names}],
        "layout": {
            "template": "plotly_white",
            "title": {"text": f"importance for {metric} ({method})"},
            "margin": {"t": 40, "l": 120, "r": 20, "b": 40},
        },
    }


def report_curves(
    trials: list[dict[str, Any]], metric: str
) -> list[tuple[str, list[Any], list[Any]]]:
    """(trial name, steps, values) of the intermediate reports that carry ``metric``."""
    out = []
    for t in trials:
        pts = [(s, m[metric]) for s, m in t["reports"] if metric in m]
        if pts:
            out.append((f"trial {t['id']}", [s for s, _ in pts], [v for _, v in pts]))
    return out


def analysis(
    trials: list[dict[str, Any]], metric: str, direction: str, use_optuna: bool | None = None
) -> dict[str, Any]:
    """Importances and the parallel-coordinate, slice and importance figures of ``metric``.

    ``engine`` says who computed the importances and slices: ``"optuna"`` (its PED-ANOVA evaluator and its
    ``plot_slice``, on an in-memory study of the trials) when Optuna is installed and ``use_optuna`` is not
    False, else ``"fireworks"`` (the pure functions above); ``fallback`` says why Optuna was not used when it
    was installed and failed on these trials.
    """
    from fireworks.dashboard import hpo_optuna

    out: dict[str, Any] = {
        "engine": "fireworks",
        "fallback": None,
        "parallel": parallel_figure(trials, metric),
    }
    if use_optuna is not False and hpo_optuna.available():
        try:
            study = hpo_optuna.build_study(trials, metric, direction)
            if len(study.trials) >= 2:
                values = hpo_optuna.importances(study)
                out.update(
                    engine="optuna",
                    importances=values,
                    importance=importance_figure(values, metric, "Optuna, PED-ANOVA"),
                    slices=hpo_optuna.figure("slice", study),
                )
                return out
        except (
            Exception
        ) as err:  # Optuna refusing these data: the pure functions still can show them
            out["fallback"] = f"{type(err).__name__}: {err}"
    values = importances(trials, metric)
    out.update(
        importances=values,
        importance=importance_figure(values, metric),
        slices=slice_figure(trials, metric),
    )
    return out
