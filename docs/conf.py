"""Sphinx configuration for the Fireworks documentation (``make docs``: warnings are errors)."""

from __future__ import annotations

from pathlib import Path

project = "Fireworks"
author = "The Fireworks developers"
extensions = ["myst_parser", "sphinx.ext.autodoc", "sphinx.ext.napoleon", "sphinx.ext.viewcode"]
source_suffix = {".md": "markdown", ".rst": "restructuredtext"}
exclude_patterns = ["_build"]
html_theme = "alabaster"
autodoc_member_order = "bysource"
autodoc_typehints = "description"
autodoc_default_options = {"members": True, "show-inheritance": True}
myst_heading_anchors = 3
nitpicky = False

HERE = Path(__file__).resolve().parent
# concept pages, in reading order; each is listed in the index only once its engineer has written it
CONCEPTS = ["message", "sources", "cache", "database", "experiment", "factory", "parallel", "dashboard"]
CONCEPTS_MARKER = "<!-- concept pages -->"


def _concept_toctree(app, docname, source) -> None:  # type: ignore[no-untyped-def]
    """Fill the index's concept toctree with the concept pages that exist."""
    if docname == "index":
        pages = "\n".join(name for name in CONCEPTS if (HERE / f"{name}.md").is_file())
        source[0] = source[0].replace(CONCEPTS_MARKER, pages)


def setup(app):  # type: ignore[no-untyped-def]
    app.connect("source-read", _concept_toctree)
