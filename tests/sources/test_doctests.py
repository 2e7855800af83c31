"""The examples in the Source core's docstrings run (base, transforms, junctions, caching, prefetch, plan,
and fireworks.testing)."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = [
    "fireworks.sources.base",
    "fireworks.sources.transforms",
    "fireworks.sources.junctions",
    "fireworks.sources.caching",
    "fireworks.sources.prefetch",
    "fireworks.sources.io",
    "fireworks.sources.torch",
    "fireworks.sources.graph",
    "fireworks.testing.sources",
]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples_run(name: str, tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.failed == 0
