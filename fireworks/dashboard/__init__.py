"""The dashboard: a Plotly Dash app over the experiment folders under ROOT (``fireworks dashboard ROOT``).

Runs, each run's metadata and files, a read-only SQL browser over its SQLite tables, plots saved as specs and
re-rendered from the data, HPO views of Factory searches, and TensorBoard/Visdom launched on demand. The data
functions (:mod:`.data`, :mod:`.sqlbrowser`, :mod:`.plots`, :mod:`.hpo`, :mod:`.paths`) import no Dash;
:func:`create_app` (in :mod:`.app`) needs the ``dashboard`` extra and loads it on first use.
"""

from __future__ import annotations

from typing import Any

__all__ = ["create_app"]


def create_app(root: Any = "runs") -> Any:
    """The Dash app over the experiments under ``root`` (see :func:`fireworks.dashboard.app.create_app`)."""
    from fireworks._imports import optional_import

    optional_import("dash", "dashboard", "the dashboard")
    optional_import("plotly", "dashboard", "the dashboard")
    from fireworks.dashboard.app import create_app as build

    return build(root)
