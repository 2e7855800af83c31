"""Every ```python block in the README and in docs/ runs, in order, one namespace per file.

A block whose info string is ``python skip`` is shown but not run (use it only for commands that need
something a test machine lacks, and say why next to it).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOC_FILES = sorted(
    p for p in [ROOT / "README.md", *(ROOT / "docs").rglob("*.md")] if "_build" not in p.parts
)
BLOCK = re.compile(r"^```python[ \t]*(?P<info>[^\n]*)\n(?P<code>.*?)^```[ \t]*$", re.M | re.S)


def python_blocks(path: Path) -> list[tuple[int, str]]:
    text = path.read_text(encoding="utf-8")
    blocks = []
    for match in BLOCK.finditer(text):
        if "skip" in match.group("info").split():
            continue
        line = text.count("\n", 0, match.start()) + 2
        blocks.append((line, match.group("code")))
    return blocks


@pytest.mark.parametrize("path", DOC_FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_doc_examples_run(path: Path, tmp_path, monkeypatch) -> None:
    blocks = python_blocks(path)
    if not blocks:
        return
    monkeypatch.chdir(tmp_path)
    namespace: dict = {"__name__": "__doc_example__"}
    for line, code in blocks:
        # pad with newlines so tracebacks point at the block's line in the markdown file
        compiled = compile("\n" * (line - 1) + code, str(path), "exec")
        exec(compiled, namespace)
